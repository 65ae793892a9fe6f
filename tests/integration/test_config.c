// SPDX-License-Identifier: Apache-2.0
/* duetd command line and config file: --check-config diagnostics,
 * quick-start flags, SIGTERM behaviour. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "common.h"

static struct duet_daemon D;

static int setup(void **state)
{
	return duet_prepare(&D);
}

static int teardown(void **state)
{
	duet_cleanup(&D);
	return 0;
}

/* Run duetd with @args through the shell; output in @out. Exit code. */
static int run_duetd(const char *args, char *out, size_t outlen)
{
	char cmd[2048];
	FILE *p;
	size_t n;
	int st;

	snprintf(cmd, sizeof(cmd), "timeout 20 %s %s 2>&1", duet_bin(), args);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, outlen - 1, p);
	out[n] = 0;
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_conf(const char *name, const char *text, char *path,
		       size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/%s", D.dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void check_bad(const char *name, const char *text, int line)
{
	char path[400], out[8192], args[600], want[450];
	int rc;

	write_conf(name, text, path, sizeof(path));
	snprintf(args, sizeof(args), "--check-config -c %s", path);
	rc = run_duetd(args, out, sizeof(out));
	if (rc != 1)
		fail_msg("%s: --check-config exited %d (want 1): %s", name, rc,
			 out);
	if (line > 0)
		snprintf(want, sizeof(want), "%s:%d:", path, line);
	else
		snprintf(want, sizeof(want), "%s:", path);
	if (!strstr(out, want))
		fail_msg("%s: output lacks \"%s\":\n%s", name, want, out);
}

#define TGT "iqn.2026-11.org.example:cfg"

static void test_check_config_good(void **state)
{
	char path[400], out[8192], args[600], text[1024];

	snprintf(text, sizeof(text),
		 "log_level = \"debug\";\n"
		 "io_workers = 2;\n"
		 "iscsi = { queue_depth = 64; header_digest = true;\n"
		 "  nop_interval = 5; nop_timeout = 10; };\n"
		 "portals = ( \"127.0.0.1:3260\", \"[::1]:3260\" );\n"
		 "targets = ( { name = \"" TGT "\"; alias = \"a\";\n"
		 "  allow_initiators = ( \"iqn.1994-05.com.redhat:c\" );\n"
		 "  allow_addresses = ( \"127.0.0.0/8\", \"::1\" );\n"
		 "  luns = ( { id = 0; path = \"%s/x.img\"; size = \"1G\";\n"
		 "             serial = \"x0\"; write_back = true; } ); } );\n",
		 D.dir);
	write_conf("good.conf", text, path, sizeof(path));
	snprintf(args, sizeof(args), "--check-config -c %s", path);
	if (run_duetd(args, out, sizeof(out)) != 0)
		fail_msg("good config rejected:\n%s", out);
}

static void test_check_config_bad(void **state)
{
	check_bad("syntax.conf",
		  "log_level = \"info\";\n"
		  "portals = ( \"127.0.0.1:3260\" );\n"
		  "targets = ( { name = \"" TGT "\" luns = ( ); } );\n",
		  3);
	check_bad("loglevel.conf",
		  "portals = ( \"127.0.0.1:3260\" );\n"
		  "log_level = \"loud\";\n",
		  2);
	check_bad("portal.conf",
		  "log_level = \"info\";\n"
		  "portals = ( \"127.0.0.1:99999\" );\n"
		  "targets = ( { name = \"" TGT "\";\n"
		  "  luns = ( { path = \"/tmp/duet-nonexist.img\";"
		  " size = \"1M\"; } ); } );\n",
		  2);
	check_bad("size.conf",
		  "portals = ( \"127.0.0.1:3260\" );\n"
		  "targets = ( { name = \"" TGT "\";\n"
		  "  luns = (\n"
		  "   { path = \"/tmp/duet-nonexist.img\";\n"
		  "     size = \"12Q\"; } ); } );\n",
		  5);
	check_bad("noname.conf",
		  "portals = ( \"127.0.0.1:3260\" );\n"
		  "targets = ( { alias = \"x\";\n"
		  "  luns = ( { path = \"/tmp/duet-nonexist.img\";"
		  " size = \"1M\"; } ); } );\n",
		  0);
	check_bad("dupid.conf",
		  "portals = ( \"127.0.0.1:3260\" );\n"
		  "targets = ( { name = \"" TGT "\";\n"
		  "  luns = ( { id = 3; path = \"/tmp/a.img\"; size = \"1M\"; "
		  "},\n"
		  "           { id = 3; path = \"/tmp/b.img\"; size = \"1M\"; }"
		  " ); } );\n",
		  0);
	check_bad("qd.conf",
		  "iscsi = { queue_depth = -4; };\n"
		  "portals = ( \"127.0.0.1:3260\" );\n",
		  1);
}

static void test_missing_file_and_flags(void **state)
{
	char out[8192], args[600];

	snprintf(args, sizeof(args), "--check-config -c %s/nope.conf", D.dir);
	assert_int_equal(run_duetd(args, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "nope.conf"));
	assert_int_equal(run_duetd("--help", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "--lun"));
	assert_int_equal(run_duetd("-V", out, sizeof(out)), 0);
	assert_true(strlen(out) > 0);
	assert_int_not_equal(run_duetd("--no-such-flag", out, sizeof(out)), 0);
	/* --lun without a size separator */
	assert_int_not_equal(run_duetd("-f --portal 127.0.0.1:1 --target " TGT
				       " --lun /nonexistent/x.img",
				       out, sizeof(out)),
			     0);
}

static void test_quick_start_and_sigterm(void **state)
{
	struct duet_daemon q = {.pid = -1};

	assert_int_equal(duet_start_quick(&q, TGT, 2, 8ull << 20), 0);
	assert_int_equal(duet_check_serving(&q, TGT), 0);
	{
		/* LUN 1 exists, numbered in the order given */
		struct iscsi_context *ctx = duet_iscsi_login(&q, TGT, 1, NULL);
		struct scsi_task *t;

		assert_non_null(ctx);
		t = iscsi_readcapacity16_sync(ctx, 1);
		assert_non_null(t);
		assert_int_equal(t->status, SCSI_STATUS_GOOD);
		scsi_free_scsi_task(t);
		duet_iscsi_logout(ctx);
	}
	assert_int_equal(duet_stop(&q, 10000), 0);
	duet_cleanup(&q);
}

struct io {
	int status;
};

static void io_cb(struct iscsi_context *ctx, int status, void *data, void *priv)
{
	((struct io *)priv)->status = status;
}

static void test_sigterm_with_io_in_flight(void **state)
{
	enum { N = 32, LEN = 1 << 20 };
	struct duet_daemon q = {.pid = -1};
	struct iscsi_context *ctx;
	struct scsi_task *tasks[N];
	struct io ios[N];
	uint8_t *buf = malloc((size_t)N * LEN), *r = malloc(LEN);
	int loops = 0;
	char lunarg[400], portal[64];

	assert_non_null(buf);
	assert_non_null(r);
	assert_int_equal(duet_start_quick(&q, TGT, 1, 64ull << 20), 0);
	ctx = duet_iscsi_login(&q, TGT, 0, NULL);
	assert_non_null(ctx);
	for (int i = 0; i < N; i++) {
		duet_fill(buf + (size_t)i * LEN, LEN, (uint64_t)i * 2048, 3);
		ios[i].status = -1;
		tasks[i] = iscsi_write16_task(ctx, 0, (uint64_t)i * 2048,
					      buf + (size_t)i * LEN, LEN, 512,
					      0, 0, 0, 0, 0, io_cb, &ios[i]);
		assert_non_null(tasks[i]);
	}
	for (int i = 0; i < 5; i++)
		(void)duet_iscsi_poll(ctx, 5);
	kill(q.pid, SIGTERM);
	/* drive the initiator until the target closes the connection */
	while (loops++ < 2000 && duet_iscsi_poll(ctx, 10) == 0) {
		int pend = 0;

		for (int i = 0; i < N; i++)
			pend += ios[i].status == -1;
		if (!pend && iscsi_which_events(ctx) == 0)
			break;
	}
	iscsi_destroy_context(ctx);
	assert_int_equal(duet_stop(&q, 15000), 0);

	/* every write acknowledged GOOD before the exit is on disk */
	snprintf(lunarg, sizeof(lunarg), "%s/lun0.img:%llu", q.dir,
		 64ull << 20);
	snprintf(portal, sizeof(portal), "127.0.0.1:%d", q.port);
	{
		char *argv[] = {
			"-f",		"--portal", portal,  "--target", TGT,
			"--ctl-socket", q.ctl,	    "--lun", lunarg,	 NULL};

		assert_int_equal(duet_start_argv(&q, argv), 0);
	}
	ctx = duet_iscsi_login(&q, TGT, 0, NULL);
	assert_non_null(ctx);
	for (int i = 0; i < N; i++) {
		if (ios[i].status != SCSI_STATUS_GOOD)
			continue;
		assert_int_equal(duet_read(ctx, 0, (uint64_t)i * 2048, r, LEN),
				 0);
		if (memcmp(r, buf + (size_t)i * LEN, LEN))
			fail_msg("acknowledged write %d lost over SIGTERM", i);
	}
	for (int i = 0; i < N; i++)
		scsi_free_scsi_task(tasks[i]);
	duet_iscsi_logout(ctx);
	assert_int_equal(duet_stop(&q, 10000), 0);
	duet_cleanup(&q);
	free(buf);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_config_good),
		cmocka_unit_test(test_check_config_bad),
		cmocka_unit_test(test_missing_file_and_flags),
		cmocka_unit_test(test_quick_start_and_sigterm),
		cmocka_unit_test(test_sigterm_with_io_in_flight),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
