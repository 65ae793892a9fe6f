// SPDX-License-Identifier: Apache-2.0
/* io_engine against a real duetd. Where io_uring is allowed, "uring" and
 * "threads" serve the same data (written by one, read back by the other).
 * Where it is refused (a seccomp filter, as a container profile would
 * install), "auto" falls back to the worker pool with one info line and
 * serves I/O, and "uring" refuses to start, naming the cause. The filter
 * is installed in this process and inherited by every duetd started after
 * it, so the io_uring cases run first. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define SPAN (256u * 1024) /* bytes written and checked */

static struct duet_daemon D;
static bool uring_refused;

static int start(const char *engine)
{
	char conf[1024];

	if (duet_prepare(&D))
		return -EIO;
	snprintf(conf, sizeof(conf),
		 "log_level = \"info\";\n"
		 "io_engine = \"%s\";\n"
		 "portals = ( \"127.0.0.1:%d\" );\n"
		 "targets = ( { name = \"%s\";\n"
		 "  luns = ( { path = \"%s/lun0.img\"; size = \"16M\"; } ); "
		 "} );\n",
		 engine, D.port, TEST_IQN, D.dir);
	return duet_start_config(&D, conf);
}

static bool log_has(const char *needle)
{
	static char text[65536];
	FILE *f = fopen(D.log, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = 0;
	return strstr(text, needle) != NULL;
}

/* Write (seed != 0) or check SPAN bytes in 4K..64K pieces, FUA mixed in. */
static void io_span(uint32_t seed, bool write)
{
	struct iscsi_context *ctx = duet_iscsi_login(&D, TEST_IQN, 0, NULL);
	static uint8_t w[65536], r[65536];
	uint64_t lba = 0;

	if (!ctx)
		duet_dump_log(&D);
	assert_non_null(ctx);
	for (uint32_t len = 4096; lba * TEST_BLOCK < SPAN;
	     lba += len / TEST_BLOCK, len = len >= 65536 ? 4096 : len * 2) {
		duet_fill(w, len, lba, seed);
		if (write) {
			assert_int_equal(duet_write(ctx, 0, lba, w, len), 0);
			continue;
		}
		assert_int_equal(duet_read(ctx, 0, lba, r, len), 0);
		assert_memory_equal(r, w, len);
	}
	duet_iscsi_logout(ctx);
}

static void test_engines_share_data(void **state)
{
	if (start("uring") != 0 && log_has("io_uring cannot be set up here")) {
		duet_cleanup(&D);
		skip(); /* this kernel refuses io_uring: not a pass */
	}
	assert_true(duet_alive(&D));
	assert_true(log_has("io_uring for reads, writes and flushes"));
	io_span(7, true);
	io_span(7, false);
	assert_int_equal(duet_stop(&D, 10000), 0);
	assert_int_equal(start("threads"), 0);
	assert_true(log_has("run all I/O (io_engine \"threads\")"));
	io_span(7, false); /* what io_uring wrote */
	io_span(8, true);
	assert_int_equal(duet_stop(&D, 10000), 0);
	assert_int_equal(start("auto"), 0);
	io_span(8, false); /* what the pool wrote, read by io_uring */
	assert_int_equal(duet_stop(&D, 10000), 0);
	duet_cleanup(&D);
}

/* io_uring_setup() fails with ENOSYS from now on, here and in children. */
static void refuse_io_uring(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = NELEM(f), .filter = f};

	if (uring_refused)
		return;
	assert_int_equal(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
	assert_int_equal(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0);
	uring_refused = true;
}

static void test_refused_auto_falls_back(void **state)
{
	refuse_io_uring();
	assert_int_equal(start("auto"), 0);
	assert_true(
		log_has("io_uring unavailable (Function not implemented);"));
	assert_true(log_has("worker threads run all I/O"));
	io_span(9, true);
	io_span(9, false);
	assert_int_equal(duet_stop(&D, 10000), 0);
	duet_cleanup(&D);
}

static void test_refused_uring_fails(void **state)
{
	refuse_io_uring();
	assert_int_not_equal(start("uring"), 0);
	assert_false(duet_alive(&D));
	assert_true(WIFEXITED(D.exit_status));
	assert_int_not_equal(WEXITSTATUS(D.exit_status), 0);
	assert_true(log_has("io_engine \"uring\" but io_uring cannot be set up "
			    "here: Function not implemented"));
	duet_cleanup(&D);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_engines_share_data),
		cmocka_unit_test(test_refused_auto_falls_back),
		cmocka_unit_test(test_refused_uring_fails),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
