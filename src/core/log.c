// SPDX-License-Identifier: Apache-2.0
/*
 * The single logger. Foreground: one line per event on stderr,
 *   2026-11-25T12:20:20.123Z duetd[1234]: warn: message
 * written with one write(2) so lines from a worker thread and the loop
 * thread never interleave. Background: syslog(3), which is thread-safe.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "duet/log.h"

static _Atomic int cur_level = LOG_LVL_INFO;
static atomic_bool log_foreground = true;
static bool syslog_open;
static char log_ident[32] = "duetd";

static const char *const level_names[] = {
	[LOG_LVL_ERR] = "error",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

void log_init(const char *ident, bool foreground, enum log_level level)
{
	if (ident && *ident) {
		const char *slash = strrchr(ident, '/');

		snprintf(log_ident, sizeof(log_ident), "%s",
			 slash ? slash + 1 : ident);
	}
	log_set_level(level);
	if (!foreground && !syslog_open) {
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
		syslog_open = true;
	}
	/* May switch from stderr to syslog once a daemon is ready. */
	atomic_store(&log_foreground, foreground);
}

void log_set_level(enum log_level level)
{
	if ((int)level < LOG_LVL_ERR)
		level = LOG_LVL_ERR;
	if (level > LOG_LVL_DEBUG)
		level = LOG_LVL_DEBUG;
	atomic_store_explicit(&cur_level, (int)level, memory_order_relaxed);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load_explicit(&cur_level,
						    memory_order_relaxed);
}

const char *log_level_name(enum log_level level)
{
	if ((int)level < LOG_LVL_ERR || level > LOG_LVL_DEBUG)
		return "?";
	return level_names[level];
}

int log_level_parse(const char *s, enum log_level *out)
{
	static const struct {
		const char *name;
		enum log_level lvl;
	} names[] = {
		{"error", LOG_LVL_ERR}, {"err", LOG_LVL_ERR},
		{"warn", LOG_LVL_WARN}, {"warning", LOG_LVL_WARN},
		{"info", LOG_LVL_INFO}, {"debug", LOG_LVL_DEBUG},
	};

	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(s, names[i].name) == 0) {
			*out = names[i].lvl;
			return 0;
		}
	}
	return -EINVAL;
}

static void log_stderr(enum log_level level, const char *msg)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	size_t n;
	int len;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	len = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s[%d]: %s: %s\n",
		       ts.tv_nsec / 1000000, log_ident, (int)getpid(),
		       level_names[level], msg);
	if (len < 0)
		return;
	n += (size_t)len;
	if (n >= sizeof(line)) { /* truncated: keep the newline */
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	/* One write per line: atomic with respect to other threads. */
	for (size_t off = 0; off < n;) {
		ssize_t w = write(STDERR_FILENO, line + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	char msg[1900];
	va_list ap;
	int saved = errno;

	if ((int)level < LOG_LVL_ERR || level > LOG_LVL_DEBUG)
		level = LOG_LVL_ERR;
	if ((int)level > (int)log_get_level())
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Never let a newline from a peer-controlled string split a line. */
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	if (log_foreground)
		log_stderr(level, msg);
	else
		syslog(prio[level], "%s", msg);
	errno = saved;
}
