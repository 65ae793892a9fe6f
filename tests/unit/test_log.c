// SPDX-License-Identifier: Apache-2.0
/* Logger: level names and parsing, filtering, the stderr line format. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "duet/log.h"

static void test_parse_and_names(void **state)
{
	enum log_level l;

	assert_int_equal(log_level_parse("error", &l), 0);
	assert_int_equal(l, LOG_LVL_ERR);
	assert_int_equal(log_level_parse("ERR", &l), 0);
	assert_int_equal(l, LOG_LVL_ERR);
	assert_int_equal(log_level_parse("warning", &l), 0);
	assert_int_equal(l, LOG_LVL_WARN);
	assert_int_equal(log_level_parse("Info", &l), 0);
	assert_int_equal(l, LOG_LVL_INFO);
	assert_int_equal(log_level_parse("debug", &l), 0);
	assert_int_equal(l, LOG_LVL_DEBUG);
	assert_int_equal(log_level_parse("loud", &l), -EINVAL);
	assert_int_equal(log_level_parse("", &l), -EINVAL);
	assert_int_equal(log_level_parse(NULL, &l), -EINVAL);
	assert_string_equal(log_level_name(LOG_LVL_ERR), "error");
	assert_string_equal(log_level_name(LOG_LVL_WARN), "warn");
	assert_string_equal(log_level_name(LOG_LVL_INFO), "info");
	assert_string_equal(log_level_name(LOG_LVL_DEBUG), "debug");
	assert_string_equal(log_level_name((enum log_level)9), "?");
}

static void test_set_get_clamp(void **state)
{
	log_set_level(LOG_LVL_WARN);
	assert_int_equal(log_get_level(), LOG_LVL_WARN);
	log_set_level((enum log_level)42);
	assert_int_equal(log_get_level(), LOG_LVL_DEBUG);
	log_set_level((enum log_level) - 3);
	assert_int_equal(log_get_level(), LOG_LVL_ERR);
}

/* Capture what the logger writes to stderr. */
static char *capture(void (*fn)(void))
{
	static char out[4096];
	char path[] = "/tmp/duet-log-XXXXXX";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	ssize_t n;

	assert_true(fd >= 0 && saved >= 0);
	unlink(path);
	dup2(fd, STDERR_FILENO);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, out, sizeof(out) - 1, 0);
	close(fd);
	out[n > 0 ? n : 0] = '\0';
	return out;
}

static void emit(void)
{
	log_init("/usr/sbin/duetd", true, LOG_LVL_INFO);
	log_err("target %s: broken", "iqn.x");
	log_warn("line1\nline2");
	log_info("info %d", 3);
	log_debug("hidden %d", 4);
}

static void test_format_and_filter(void **state)
{
	char *out = capture(emit), *nl;
	char pid[32];

	snprintf(pid, sizeof(pid), "Z duetd[%d]: ", (int)getpid());
	/* 2026-11-25T12:20:20.123Z duetd[pid]: error: ... */
	assert_true(strlen(out) > 24);
	assert_int_equal(out[4], '-');
	assert_int_equal(out[10], 'T');
	assert_int_equal(out[19], '.');
	assert_non_null(strstr(out, pid));
	assert_non_null(strstr(out, "error: target iqn.x: broken\n"));
	/* A newline inside a message never splits the line. */
	assert_non_null(strstr(out, "warn: line1 line2\n"));
	assert_non_null(strstr(out, "info: info 3\n"));
	assert_null(strstr(out, "hidden"));
	nl = out;
	for (int lines = 0; (nl = strchr(nl, '\n')); nl++)
		assert_true(++lines <= 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_names),
		cmocka_unit_test(test_set_get_clamp),
		cmocka_unit_test(test_format_and_filter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
