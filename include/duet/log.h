/* SPDX-License-Identifier: Apache-2.0 */
/* The single logger: one line per event, stderr in the foreground,
 * syslog otherwise. Messages name the session/target/LUN they concern. */
#ifndef DUET_LOG_H
#define DUET_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LVL_ERR = 0,
	LOG_LVL_WARN = 1,
	LOG_LVL_INFO = 2,
	LOG_LVL_DEBUG = 3,
};

/* ident: program name used as prefix / syslog ident. */
void log_init(const char *ident, bool foreground, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* "error", "warn", "info", "debug" -> level; returns 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);
/* LOG_LVL_ERR -> "error", ... (for status output). */
const char *log_level_name(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                       \
	do {                                                 \
		if (log_get_level() >= LOG_LVL_DEBUG)        \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__); \
	} while (0)

#endif
