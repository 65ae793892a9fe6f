// SPDX-License-Identifier: Apache-2.0
/* Control commands: registry, request parsing, built-ins, response
 * framing. Socket-free: everything goes through ctl_execute(). */
#include <errno.h>
#include <event2/buffer.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "duet/ctl.h"
#include "duet/log.h"
#include "duet/version.h"

static char resp[16384];

/* Run a request; the whole response lands in resp[]. */
static int run(const char *line)
{
	struct evbuffer *out = evbuffer_new();
	size_t n;
	int ret;

	assert_non_null(out);
	ret = ctl_execute(line, out);
	n = evbuffer_get_length(out);
	assert_true(n < sizeof(resp));
	evbuffer_remove(out, resp, n);
	resp[n] = '\0';
	evbuffer_free(out);
	return ret;
}

static int teardown(void **state)
{
	ctl_unregister_all();
	return 0;
}

static void test_help_lists_builtins(void **state)
{
	assert_int_equal(run("help"), 0);
	assert_non_null(strstr(resp, "help "));
	assert_non_null(strstr(resp, "\nversion "));
	assert_non_null(strstr(resp, "\nstatus "));
	assert_non_null(strstr(resp, "\nlog-level "));
	assert_non_null(strstr(resp, "[LEVEL]"));
	assert_string_equal(resp + strlen(resp) - 4, "\nOK\n");
}

static void test_version_status(void **state)
{
	char pid[32];

	assert_int_equal(run("version"), 0);
	assert_string_equal(resp, "duetd " DUET_VERSION "\nOK\n");
	ctl_set_status_info("/etc/duet/duet.conf");
	assert_int_equal(run("  status  "), 0);
	snprintf(pid, sizeof(pid), "pid: %d\n", (int)getpid());
	assert_non_null(strstr(resp, pid));
	assert_non_null(strstr(resp, "uptime: 0d 00:00:0"));
	assert_non_null(strstr(resp, "config: /etc/duet/duet.conf\n"));
	ctl_set_status_info(NULL);
	assert_int_equal(run("status"), 0);
	assert_non_null(strstr(resp, "config: (command line)\n"));
}

static void test_log_level(void **state)
{
	log_init("test_ctl", true, LOG_LVL_WARN);
	assert_int_equal(run("log-level"), 0);
	assert_string_equal(resp, "warn\nOK\n");
	assert_int_equal(run("log-level debug"), 0);
	assert_string_equal(resp, "debug\nOK\n");
	assert_int_equal(log_get_level(), LOG_LVL_DEBUG);
	assert_int_equal(run("log-level ERROR"), 0);
	assert_int_equal(log_get_level(), LOG_LVL_ERR);
	assert_int_equal(run("log-level loud"), -1);
	assert_non_null(strstr(resp, "ERR unknown level 'loud'"));
	assert_int_equal(log_get_level(), LOG_LVL_ERR);
	assert_int_equal(run("log-level info extra"), -1);
	assert_non_null(strstr(resp, "ERR usage: log-level"));
}

static void test_bad_requests(void **state)
{
	char *big = malloc(CTL_LINE_MAX + 10);
	char many[512] = "help";

	assert_int_equal(run(""), -1);
	assert_string_equal(resp, "ERR empty request; try 'help'\n");
	assert_int_equal(run(" \t "), -1);
	assert_int_equal(run("frobnicate now"), -1);
	assert_string_equal(resp,
			    "ERR unknown command 'frobnicate'; try 'help'\n");
	assert_int_equal(run("help\x01"), -1);
	assert_string_equal(resp, "ERR control character in request\n");
	memset(big, 'a', CTL_LINE_MAX + 9);
	big[CTL_LINE_MAX + 9] = '\0';
	assert_int_equal(run(big), -1);
	assert_string_equal(resp, "ERR request too long\n");
	free(big);
	for (int i = 0; i < CTL_ARGS_MAX; i++)
		strcat(many, " x");
	assert_int_equal(run(many), -1);
	assert_string_equal(resp, "ERR too many arguments\n");
	/* CRLF from a telnet-style client. */
	assert_int_equal(run("version\r"), 0);
}

struct echo_state {
	int calls;
	int last_argc;
};

static int cmd_echo(struct ctl_reply *r, int argc, char **argv, void *arg)
{
	struct echo_state *st = arg;

	st->calls++;
	st->last_argc = argc;
	if (argc < 2)
		return ctl_reply_error(r, "usage: echo WORD...");
	for (int i = 1; i < argc; i++)
		ctl_reply_printf(r, "%s", argv[i]);
	ctl_reply_printf(r, "two\nlines");
	return 0;
}

static void test_register_custom(void **state)
{
	struct echo_state st = {0};

	assert_int_equal(
		ctl_register("echo", "WORD... - say it", cmd_echo, &st), 0);
	assert_int_equal(ctl_register("echo", "again", cmd_echo, &st), -EEXIST);
	assert_int_equal(ctl_register("help", "mine", cmd_echo, &st), -EEXIST);
	assert_int_equal(ctl_register("two words", "x", cmd_echo, &st),
			 -EINVAL);
	assert_int_equal(ctl_register("", "x", cmd_echo, &st), -EINVAL);
	assert_int_equal(ctl_register("x", "x", NULL, &st), -EINVAL);

	assert_int_equal(run("echo a  b\tc"), 0);
	assert_string_equal(resp, "a\nb\nc\ntwo\nlines\nOK\n");
	assert_int_equal(st.calls, 1);
	assert_int_equal(st.last_argc, 4);
	assert_int_equal(run("echo"), -1);
	assert_string_equal(resp, "ERR usage: echo WORD...\n");
	/* A data line never looks like the final line. */
	assert_int_equal(run("echo OK ERR ERRx OKAY"), 0);
	assert_string_equal(resp, " OK\n ERR\n ERRx\nOKAY\ntwo\nlines\nOK\n");
	assert_int_equal(run("help"), 0);
	assert_non_null(strstr(resp, "echo         WORD... - say it\n"));
	/* Commands are case-sensitive. */
	assert_int_equal(run("ECHO x"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_help_lists_builtins, teardown),
		cmocka_unit_test_teardown(test_version_status, teardown),
		cmocka_unit_test_teardown(test_log_level, teardown),
		cmocka_unit_test_teardown(test_bad_requests, teardown),
		cmocka_unit_test_teardown(test_register_custom, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
