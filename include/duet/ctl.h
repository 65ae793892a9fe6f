/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The control socket: a unix stream socket served on the event loop,
 * used by duetctl. Protocol: the client sends one request line
 * ("COMMAND [ARG...]\n", at most CTL_LINE_MAX bytes, words separated by
 * blanks); the daemon answers with zero or more data lines and then one
 * final line, either "OK" or "ERR <message>". A connection may carry
 * several requests in turn.
 *
 * Modules add commands with ctl_register(); handlers run on the loop
 * thread and must not block.
 */
#ifndef DUET_CTL_H
#define DUET_CTL_H

#include <stddef.h>

struct event_base;
struct evbuffer;
struct ctl_reply;

#define CTL_DEFAULT_SOCKET "/run/duet/duetd.sock"
#define CTL_LINE_MAX 4096
#define CTL_ARGS_MAX 32

/* Return 0 for OK, or the value of ctl_reply_error() for ERR. */
typedef int (*ctl_handler_fn)(struct ctl_reply *r, int argc, char **argv,
			      void *arg);

/* name: one word; help: "ARGS - what it does" shown by `help`.
 * Returns 0, -EEXIST if the name is taken, -EINVAL, -ENOMEM. */
int ctl_register(const char *name, const char *help, ctl_handler_fn fn,
		 void *arg);
/* Append one data line (no newline needed; embedded newlines split it). */
void ctl_reply_printf(struct ctl_reply *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Set the ERR message; returns -1 so a handler can `return ctl_reply_error()`. */
int ctl_reply_error(struct ctl_reply *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Run one request line (without its newline) and append the whole
 * response, final OK/ERR line included, to out. Returns 0 for OK, -1 for
 * ERR. Socket-free: the server and the unit tests both use it. */
int ctl_execute(const char *line, struct evbuffer *out);

/* What `status` reports (the config file may be NULL). */
void ctl_set_status_info(const char *config_file);

/* Listen on path (directory created 0755 if missing, socket mode 0600).
 * A stale socket file is replaced; a live one (another duetd) is an
 * error. On error returns -errno and an actionable message in err. */
int ctl_server_start(struct event_base *base, const char *path, char *err,
		     size_t errlen);
/* Close the listener and every client; remove the socket file. */
void ctl_server_stop(void);
/* Forget every registered command (tests, shutdown). */
void ctl_unregister_all(void);

#endif
