/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A logger stand-in for unit tests that assert on log lines: every message
 * is kept in logbuf (weak: the real logger wins if it is linked in). Set
 * LOG_CAPTURE_ENV to the name of an environment variable that also echoes
 * the lines to stderr, before including this header.
 */
#ifndef DUET_TEST_LOG_CAPTURE_H
#define DUET_TEST_LOG_CAPTURE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duet/log.h"

#ifndef LOG_CAPTURE_ENV
#define LOG_CAPTURE_ENV "TEST_LOG"
#endif

static char logbuf[64 * 1024];
static size_t loglen;

__attribute__((weak)) void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (getenv(LOG_CAPTURE_ENV))
		fprintf(stderr, "log[%d]: %s\n", level, line);
	if (n > 0 && loglen + (size_t)n + 2 < sizeof(logbuf)) {
		memcpy(logbuf + loglen, line, (size_t)n);
		loglen += (size_t)n;
		logbuf[loglen++] = '\n';
		logbuf[loglen] = '\0';
	}
}

__attribute__((weak)) enum log_level log_get_level(void)
{
	return LOG_LVL_DEBUG;
}

static inline bool logged(const char *s)
{
	return strstr(logbuf, s) != NULL;
}

static inline void log_capture_reset(void)
{
	loglen = 0;
	logbuf[0] = '\0';
}

#endif
