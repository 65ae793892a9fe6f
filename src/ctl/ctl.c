// SPDX-License-Identifier: Apache-2.0
/*
 * Control commands: the registry, the request-line parser and the
 * built-in commands. No sockets here (see ctl_server.c).
 */
#include <errno.h>
#include <event2/buffer.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "duet/ctl.h"
#include "duet/log.h"
#include "duet/util.h"
#include "duet/version.h"

struct ctl_cmd {
	char *name;
	char *help;
	ctl_handler_fn fn;
	void *arg;
	struct ctl_cmd *next;
};

struct ctl_reply {
	struct evbuffer *out;
	char err[256];
	bool failed;
};

static struct ctl_cmd *cmds;
static bool builtins_done;
static char *status_config;
static struct timespec start_time;

static void register_builtins(void);

int ctl_register(const char *name, const char *help, ctl_handler_fn fn,
		 void *arg)
{
	struct ctl_cmd *c, **pp;

	if (!builtins_done)
		register_builtins();
	if (!name || !*name || !fn || strlen(name) > 64 ||
	    strpbrk(name, " \t\r\n"))
		return -EINVAL;
	for (pp = &cmds; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->name, name) == 0)
			return -EEXIST;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->name = strdup(name);
	c->help = strdup(help ? help : "");
	if (!c->name || !c->help) {
		free(c->name);
		free(c->help);
		free(c);
		return -ENOMEM;
	}
	c->fn = fn;
	c->arg = arg;
	*pp = c; /* keep registration order for `help` */
	return 0;
}

void ctl_unregister_all(void)
{
	while (cmds) {
		struct ctl_cmd *c = cmds;

		cmds = c->next;
		free(c->name);
		free(c->help);
		free(c);
	}
	builtins_done = false;
	free(status_config);
	status_config = NULL;
}

/* A data line must never look like the final line: prefix those. */
static void add_data_line(struct evbuffer *out, const char *s, size_t n)
{
	if ((n == 2 && memcmp(s, "OK", 2) == 0) ||
	    (n >= 3 && memcmp(s, "ERR", 3) == 0))
		evbuffer_add(out, " ", 1);
	evbuffer_add(out, s, n);
	evbuffer_add(out, "\n", 1);
}

void ctl_reply_printf(struct ctl_reply *r, const char *fmt, ...)
{
	char buf[1024], *p, *nl;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (p = buf; (nl = strchr(p, '\n')); p = nl + 1)
		add_data_line(r->out, p, (size_t)(nl - p));
	if (*p || p == buf)
		add_data_line(r->out, p, strlen(p));
}

int ctl_reply_error(struct ctl_reply *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	for (char *p = r->err; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	r->failed = true;
	return -1;
}

/* Split on blanks in place; returns argc or -1 if too many words. */
static int split_words(char *line, char **argv, int max)
{
	int argc = 0;
	char *save = NULL;

	for (char *w = strtok_r(line, " \t", &save); w;
	     w = strtok_r(NULL, " \t", &save)) {
		if (argc == max)
			return -1;
		argv[argc++] = w;
	}
	return argc;
}

static int finish(struct ctl_reply *r, int ret)
{
	if (ret == 0 && !r->failed) {
		evbuffer_add(r->out, "OK\n", 3);
		return 0;
	}
	evbuffer_add_printf(r->out, "ERR %s\n",
			    r->err[0] ? r->err : "command failed");
	return -1;
}

int ctl_execute(const char *line, struct evbuffer *out)
{
	struct ctl_reply r = {.out = out};
	char buf[CTL_LINE_MAX + 1], *argv[CTL_ARGS_MAX];
	size_t n = strlen(line);
	int argc;

	if (!builtins_done)
		register_builtins();
	if (n && line[n - 1] == '\r')
		n--; /* tolerate CRLF clients */
	if (n > CTL_LINE_MAX)
		return finish(&r, ctl_reply_error(&r, "request too long"));
	memcpy(buf, line, n);
	buf[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] < 0x20 && buf[i] != '\t')
			return finish(
				&r, ctl_reply_error(&r, "control character in "
							"request"));
	argc = split_words(buf, argv, CTL_ARGS_MAX);
	if (argc < 0)
		return finish(&r, ctl_reply_error(&r, "too many arguments"));
	if (argc == 0)
		return finish(&r, ctl_reply_error(&r, "empty request; try "
						      "'help'"));
	for (struct ctl_cmd *c = cmds; c; c = c->next)
		if (strcmp(c->name, argv[0]) == 0)
			return finish(&r, c->fn(&r, argc, argv, c->arg));
	return finish(&r,
		      ctl_reply_error(&r, "unknown command '%.64s'; try 'help'",
				      argv[0]));
}

void ctl_set_status_info(const char *config_file)
{
	free(status_config);
	status_config = config_file ? strdup(config_file) : NULL;
}

/* ---- built-in commands ---- */

static int cmd_help(struct ctl_reply *r, int argc, char **argv, void *arg)
{
	for (struct ctl_cmd *c = cmds; c; c = c->next)
		ctl_reply_printf(r, "%-12s %s", c->name, c->help);
	return 0;
}

static int cmd_version(struct ctl_reply *r, int argc, char **argv, void *arg)
{
	ctl_reply_printf(r, "duetd %s", DUET_VERSION);
	return 0;
}

static int cmd_status(struct ctl_reply *r, int argc, char **argv, void *arg)
{
	struct timespec now;
	long up;

	clock_gettime(CLOCK_MONOTONIC, &now);
	up = (long)(now.tv_sec - start_time.tv_sec);
	ctl_reply_printf(r, "version: %s", DUET_VERSION);
	ctl_reply_printf(r, "pid: %d", (int)getpid());
	ctl_reply_printf(r, "uptime: %ldd %02ld:%02ld:%02ld (%ld s)",
			 up / 86400, up / 3600 % 24, up / 60 % 60, up % 60, up);
	ctl_reply_printf(r, "config: %s",
			 status_config ? status_config : "(command line)");
	ctl_reply_printf(r, "log-level: %s", log_level_name(log_get_level()));
	return 0;
}

static int cmd_log_level(struct ctl_reply *r, int argc, char **argv, void *arg)
{
	enum log_level lvl;

	if (argc > 2)
		return ctl_reply_error(r, "usage: log-level [error|warn|info|"
					  "debug]");
	if (argc == 2) {
		if (log_level_parse(argv[1], &lvl) < 0)
			return ctl_reply_error(r,
					       "unknown level '%.32s' (use "
					       "error, warn, info or debug)",
					       argv[1]);
		if (lvl != log_get_level())
			log_info("log level set to %s by duetctl",
				 log_level_name(lvl));
		log_set_level(lvl);
	}
	ctl_reply_printf(r, "%s", log_level_name(log_get_level()));
	return 0;
}

static void register_builtins(void)
{
	builtins_done = true;
	if (start_time.tv_sec == 0)
		clock_gettime(CLOCK_MONOTONIC, &start_time);
	ctl_register("help", "- list the commands", cmd_help, NULL);
	ctl_register("version", "- the daemon's version", cmd_version, NULL);
	ctl_register("status", "- pid, uptime, config file, log level",
		     cmd_status, NULL);
	ctl_register("log-level", "[LEVEL] - show or set error|warn|info|debug",
		     cmd_log_level, NULL);
}
