// SPDX-License-Identifier: Apache-2.0
/*
 * duetd: start-up, wiring, signals, shutdown.
 *
 *   config -> log -> event_base -> backing-store pool -> SCSI targets and
 *   LUNs -> iSCSI target registry -> iSCSI layer -> portals -> control
 *   socket -> (ready) -> event loop
 *
 * SIGTERM/SIGINT: stop accepting, let in-flight commands finish, close the
 * sessions (iscsi_shutdown), stop the backing-store workers, free, exit 0.
 * A second signal exits at once. Without -f duetd detaches; the parent
 * waits until the daemon is serving (or has failed) and exits 0 (or 1),
 * and start-up errors are printed on the terminal in both modes.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "duet/bs.h"
#include "duet/config.h"
#include "duet/ctl.h"
#include "duet/iscsi.h"
#include "duet/log.h"
#include "duet/node.h"
#include "duet/scsi.h"
#include "duet/version.h"

#define SHUTDOWN_GRACE_SECONDS 60
#define MAX_LUN_ARGS 256

struct opts {
	const char *config;
	const char *node;
	bool foreground;
	bool check_config;
	bool log_level_set;
	enum log_level log_level;
	const char *pidfile;
	const char *ctl_socket; /* NULL: default; "" or "none": disabled */
	const char *portal;
	const char *target;
	char *luns[MAX_LUN_ARGS];
	size_t n_luns;
};

struct app {
	struct opts o;
	struct duet_config cfg;
	struct event_base *base;
	struct scsi_target **targets; /* one per cfg.targets[i] */
	struct duet_node *node;	      /* the HA pair (cluster config) */
	struct event *sig_term, *sig_int, *sig_hup, *grace;
	bool bs_started;
	bool stopping;
	char *abs_pidfile, *abs_ctl; /* made absolute before chdir("/") */
	int ready_fd;		     /* pipe to the waiting parent, or -1 */
	int pid_fd;
};

enum {
	OPT_CHECK = 256,
	OPT_LOG_LEVEL,
	OPT_PIDFILE,
	OPT_CTL,
	OPT_PORTAL,
	OPT_TARGET,
	OPT_LUN,
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: duetd -c FILE [-n NODE] [-f] [options]\n"
		"       duetd [-f] --portal ADDR[:PORT] --target IQN "
		"--lun PATH[:SIZE] [--lun ...]\n"
		"\n"
		"  -c, --config FILE      libconfig file (conf/duet.conf; "
		"keys: "
		"README.md, Configuration)\n"
		"  -n, --node NODE        this node's name (for the HA pair)\n"
		"  -f, --foreground       stay in the foreground, log to "
		"stderr\n"
		"      --check-config     validate the configuration and exit\n"
		"      --log-level LEVEL  error|warn|info|debug (overrides the "
		"file)\n"
		"      --pidfile FILE     write the daemon's pid to FILE\n"
		"      --ctl-socket PATH  control socket (default %s; "
		"\"none\" disables)\n"
		"      --portal ADDR[:PORT]  quick start: listen here (default "
		"0.0.0.0:3260)\n"
		"      --target NAME      quick start: the target's iSCSI "
		"name\n"
		"      --lun PATH[:SIZE]  quick start: a LUN (numbered from 0 "
		"in "
		"order);\n"
		"                         SIZE like 64M or 1G, needed if PATH "
		"does not exist\n"
		"  -h, --help             this help\n"
		"  -V, --version          print the version\n",
		CTL_DEFAULT_SOCKET);
}

/* One option; returns 0 to go on, or an exit status + 1. */
static int handle_opt(int c, struct opts *o)
{
	switch (c) {
	case 'c':
		o->config = optarg;
		break;
	case 'n':
		o->node = optarg;
		break;
	case 'f':
		o->foreground = true;
		break;
	case OPT_CHECK:
		o->check_config = true;
		break;
	case OPT_LOG_LEVEL:
		if (log_level_parse(optarg, &o->log_level) < 0) {
			fprintf(stderr,
				"duetd: --log-level %s: use error, warn, info "
				"or debug\n",
				optarg);
			return 3;
		}
		o->log_level_set = true;
		break;
	case OPT_PIDFILE:
		o->pidfile = optarg;
		break;
	case OPT_CTL:
		o->ctl_socket = optarg;
		break;
	case OPT_PORTAL:
		o->portal = optarg;
		break;
	case OPT_TARGET:
		o->target = optarg;
		break;
	case OPT_LUN:
		if (o->n_luns == MAX_LUN_ARGS) {
			fprintf(stderr, "duetd: at most %d --lun\n",
				MAX_LUN_ARGS);
			return 3;
		}
		o->luns[o->n_luns++] = optarg;
		break;
	default:
		return c == 'h' ? (usage(stdout), 1)
		       : c == 'V'
			       ? (printf("duetd %s\n", DUET_VERSION), 1)
			       : (fprintf(stderr, "Try 'duetd --help'.\n"), 3);
	}
	return 0;
}

/* Returns 0 to go on, or an exit status + 1 (1 = exit 0). */
static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"node", required_argument, NULL, 'n'},
		{"foreground", no_argument, NULL, 'f'},
		{"check-config", no_argument, NULL, OPT_CHECK},
		{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
		{"pidfile", required_argument, NULL, OPT_PIDFILE},
		{"ctl-socket", required_argument, NULL, OPT_CTL},
		{"portal", required_argument, NULL, OPT_PORTAL},
		{"target", required_argument, NULL, OPT_TARGET},
		{"lun", required_argument, NULL, OPT_LUN},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int c, ret;

	while ((c = getopt_long(argc, argv, "c:n:fhV", lopts, NULL)) != -1)
		if ((ret = handle_opt(c, o)))
			return ret;
	if (optind < argc) {
		fprintf(stderr, "duetd: unexpected argument '%s'\n",
			argv[optind]);
		return 3;
	}
	if (o->config && (o->portal || o->target || o->n_luns)) {
		fprintf(stderr,
			"duetd: use either -c FILE or --portal/--target/"
			"--lun, not both\n");
		return 3;
	}
	if (!o->config && !o->portal && !o->target && !o->n_luns) {
		fprintf(stderr, "duetd: no configuration: give -c FILE, or "
				"--target NAME --lun PATH:SIZE\n"
				"Try 'duetd --help'.\n");
		return 3;
	}
	return 0;
}

static int load_config(struct app *a)
{
	const struct opts *o = &a->o;
	int ret;

	if (o->config)
		ret = config_load_file(o->config, o->node, &a->cfg);
	else
		ret = config_from_args(o->portal, o->target, o->luns, o->n_luns,
				       &a->cfg);
	if (ret == 0 && !o->config && o->node)
		a->cfg.node_name = strdup(o->node);
	if (ret == 0 && o->log_level_set)
		a->cfg.log_level = o->log_level;
	return ret;
}

/* ---- daemon plumbing ---- */

/* The daemon runs in "/": make a relative path absolute now. */
static const char *absolute(const char *path, char **store)
{
	char cwd[4096];

	if (!path || !*path || path[0] == '/' || strcmp(path, "none") == 0 ||
	    !getcwd(cwd, sizeof(cwd)))
		return path;
	if (asprintf(store, "%s/%s", strcmp(cwd, "/") ? cwd : "", path) < 0) {
		*store = NULL;
		return path;
	}
	return *store;
}

/* Detach; the original process waits for "ready" and exits with the
 * daemon's start-up status. Returns in the daemon only. */
static void daemonize(struct app *a)
{
	int p[2];
	char st = 1;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
		perror("duetd: cannot detach");
		exit(1);
	}
	if (pid > 0) {
		close(p[1]);
		while (read(p[0], &st, 1) < 0 && errno == EINTR)
			;
		if (st)
			fprintf(stderr, "duetd: start-up failed\n");
		_exit(st ? 1 : 0);
	}
	close(p[0]);
	setsid();
	pid = fork();
	if (pid < 0)
		_exit(1);
	if (pid > 0)
		_exit(0);
	if (chdir("/") < 0) {
		/* not fatal */
	}
	a->ready_fd = p[1];
}

static void signal_ready(struct app *a)
{
	const char *ns = getenv("NOTIFY_SOCKET");
	char ok = 0;
	int fd;

	if (a->ready_fd >= 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		/* From now on log to syslog; detach from the terminal. */
		log_init("duetd", false, a->cfg.log_level);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
			close(null);
		}
		if (write(a->ready_fd, &ok, 1) < 0) {
			/* parent gone: nothing to tell */
		}
		close(a->ready_fd);
		a->ready_fd = -1;
	}
	/* sd_notify(READY=1) for Type=notify units; harmless otherwise. */
	if (ns && (ns[0] == '/' || ns[0] == '@') &&
	    strlen(ns) < sizeof(((struct sockaddr_un *)0)->sun_path)) {
		struct sockaddr_un sun = {.sun_family = AF_UNIX};
		socklen_t len =
			(socklen_t)(offsetof(struct sockaddr_un, sun_path) +
				    strlen(ns));

		memcpy(sun.sun_path, ns, strlen(ns));
		if (sun.sun_path[0] == '@')
			sun.sun_path[0] = '\0';
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd >= 0) {
			sendto(fd, "READY=1", 7, MSG_NOSIGNAL,
			       (struct sockaddr *)&sun, len);
			close(fd);
		}
	}
}

static int write_pidfile(struct app *a)
{
	char buf[32];
	int n;

	if (!a->o.pidfile)
		return 0;
	a->pid_fd = open(a->o.pidfile, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (a->pid_fd < 0) {
		log_err("pidfile %s: %s", a->o.pidfile, strerror(errno));
		return -1;
	}
	if (flock(a->pid_fd, LOCK_EX | LOCK_NB) < 0) {
		n = (int)read(a->pid_fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		log_err("pidfile %s is locked: duetd is already running "
			"(pid %s)",
			a->o.pidfile, buf[0] ? buf : "?");
		close(a->pid_fd);
		a->pid_fd = -1;
		return -1;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(a->pid_fd, 0) < 0 ||
	    pwrite(a->pid_fd, buf, (size_t)n, 0) != n) {
		log_err("pidfile %s: %s", a->o.pidfile, strerror(errno));
		return -1;
	}
	return 0;
}

static void remove_pidfile(struct app *a)
{
	if (a->pid_fd >= 0) {
		unlink(a->o.pidfile);
		close(a->pid_fd);
		a->pid_fd = -1;
	}
}

/* ---- start-up ---- */

static int add_targets(struct app *a)
{
	char err[512];
	int failed = 0;

	a->targets = calloc(a->cfg.n_targets ? a->cfg.n_targets : 1,
			    sizeof(*a->targets));
	if (!a->targets)
		return -ENOMEM;
	for (size_t i = 0; i < a->cfg.n_targets; i++) {
		const struct cfg_target *ct = &a->cfg.targets[i];
		struct scsi_target *t = scsi_target_new(ct->name);

		if (!t) {
			log_err("target %s: cannot create (out of memory)",
				ct->name);
			return -ENOMEM;
		}
		a->targets[i] = t;
		for (size_t j = 0; j < ct->n_luns; j++) {
			const struct cfg_lun *l = &ct->luns[j];
			int ret;

			err[0] = '\0';
			ret = scsi_target_add_lun(t, l, err, sizeof(err));
			if (ret < 0) {
				log_err("target %s LUN %" PRIu32
					" (%s%s%d): %s",
					ct->name, l->id, l->path,
					a->cfg.file ? ", line " : ", --lun #",
					a->cfg.file ? l->line : (int)j + 1,
					err[0] ? err : strerror(-ret));
				failed++;
			}
		}
		if (failed || a->cfg.has_cluster)
			continue; /* bad LUN: report all; pair: node ports */
		if (iscsi_target_register(ct, scsi_target_dispatcher(t)) < 0) {
			log_err("target %s: cannot register", ct->name);
			return -EINVAL;
		}
	}
	return failed ? -EINVAL : 0;
}

static const char *listen_hint(int err)
{
	switch (err) {
	case EADDRINUSE:
		return " (another iSCSI target running?)";
	case EADDRNOTAVAIL:
		return " (no interface has this address)";
	case EACCES:
		return " (ports below 1024 need root or CAP_NET_BIND_SERVICE)";
	default:
		return "";
	}
}

static int listen_portals(struct app *a)
{
	char err[512];

	for (size_t i = 0; i < a->cfg.n_portals; i++) {
		const struct cfg_portal *p = &a->cfg.portals[i];
		bool v6 = strchr(p->host, ':') != NULL;
		int ret;

		err[0] = '\0';
		ret = iscsi_portal_listen(p, err, sizeof(err));
		if (ret < 0) {
			if (err[0])
				log_err("%s", err);
			else
				log_err("%s%s%s:%u: %s%s", v6 ? "[" : "",
					p->host, v6 ? "]" : "", p->port,
					strerror(-ret), listen_hint(-ret));
			return ret;
		}
		log_info("listening on %s%s%s:%u", v6 ? "[" : "", p->host,
			 v6 ? "]" : "", p->port);
	}
	return 0;
}

/* duetctl targets: what this daemon serves, from its configuration. */
static int cmd_targets(struct ctl_reply *r, int argc, char **argv, void *arg)
{
	const struct duet_config *cfg = &((const struct app *)arg)->cfg;

	for (size_t i = 0; i < cfg->n_portals; i++) {
		const struct cfg_portal *p = &cfg->portals[i];
		bool v6 = strchr(p->host, ':') != NULL;

		ctl_reply_printf(r, "portal %s%s%s:%u", v6 ? "[" : "", p->host,
				 v6 ? "]" : "", p->port);
	}
	for (size_t i = 0; i < cfg->n_targets; i++) {
		const struct cfg_target *t = &cfg->targets[i];

		ctl_reply_printf(r, "target %s tpgt %u%s%s", t->name, t->tpgt,
				 t->alias ? " alias " : "",
				 t->alias ? t->alias : "");
		for (size_t j = 0; j < t->n_luns; j++) {
			const struct cfg_lun *l = &t->luns[j];

			ctl_reply_printf(r, "  lun %" PRIu32 " %s%s%s", l->id,
					 l->path,
					 l->readonly ? " readonly" : "",
					 l->write_back ? " write-back"
						       : " write-through");
		}
	}
	return 0;
}

static int start_ctl(struct app *a)
{
	const char *path =
		a->o.ctl_socket ? a->o.ctl_socket : CTL_DEFAULT_SOCKET;
	char err[512];
	int ret;

	if (!*path || strcmp(path, "none") == 0)
		return 0;
	ctl_set_status_info(a->cfg.file);
	ctl_register("targets", "- portals, targets and LUNs being served",
		     cmd_targets, a);
	ret = ctl_server_start(a->base, path, err, sizeof(err));
	if (ret == 0)
		return 0;
	if (a->o.ctl_socket) { /* asked for explicitly: fatal */
		log_err("%s", err);
		return ret;
	}
	log_warn("%s; running without a control socket (use --ctl-socket "
		 "PATH to choose another path)",
		 err);
	return 0;
}

static void on_grace_timeout(evutil_socket_t fd, short what, void *arg)
{
	log_err("shutdown did not finish within %d s; exiting anyway",
		SHUTDOWN_GRACE_SECONDS);
	_exit(1);
}

static void on_iscsi_stopped(void *arg)
{
	struct app *a = arg;

	log_info("all sessions closed");
	event_base_loopexit(a->base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct app *a = arg;
	struct timeval tv = {SHUTDOWN_GRACE_SECONDS, 0};

	if (sig == SIGHUP) {
		log_info("SIGHUP: configuration reload is not supported; "
			 "restart duetd to apply changes");
		return;
	}
	if (a->stopping) {
		log_warn("%s again: exiting now without waiting for in-flight "
			 "I/O",
			 strsignal((int)sig));
		_exit(1);
	}
	a->stopping = true;
	log_info("%s: finishing in-flight I/O and closing sessions",
		 strsignal((int)sig));
	a->grace = evtimer_new(a->base, on_grace_timeout, a);
	if (a->grace)
		evtimer_add(a->grace, &tv);
	node_stop(a->node); /* the pair: link, adapters, moved addresses */
	iscsi_shutdown(on_iscsi_stopped, a);
}

static int setup_signals(struct app *a)
{
	a->sig_term = evsignal_new(a->base, SIGTERM, on_signal, a);
	a->sig_int = evsignal_new(a->base, SIGINT, on_signal, a);
	a->sig_hup = evsignal_new(a->base, SIGHUP, on_signal, a);
	if (!a->sig_term || !a->sig_int || !a->sig_hup ||
	    evsignal_add(a->sig_term, NULL) < 0 ||
	    evsignal_add(a->sig_int, NULL) < 0 ||
	    evsignal_add(a->sig_hup, NULL) < 0) {
		log_err("cannot install signal handlers");
		return -1;
	}
	return 0;
}

static enum bs_engine bs_engine_of(enum cfg_io_engine e)
{
	switch (e) {
	case CFG_IO_ENGINE_URING:
		return BS_ENGINE_URING;
	case CFG_IO_ENGINE_THREADS:
		return BS_ENGINE_THREADS;
	default:
		return BS_ENGINE_AUTO;
	}
}

static int start(struct app *a)
{
	size_t n_luns = 0;
	int ret;

	a->base = event_base_new();
	if (!a->base) {
		log_err("cannot create the event loop");
		return -1;
	}
	if (write_pidfile(a) < 0 || setup_signals(a) < 0)
		return -1;
	ret = bs_init_engine(a->base, a->cfg.io_workers,
			     bs_engine_of(a->cfg.io_engine));
	if (ret < 0) {
		log_err("cannot start the backing-store engine: %s",
			strerror(-ret));
		return -1;
	}
	a->bs_started = true;
	if (add_targets(a) < 0)
		return -1;
	iscsi_target_set_portals(a->cfg.portals, a->cfg.n_portals);
	ret = iscsi_init(a->base, &a->cfg.iscsi);
	if (ret < 0) {
		log_err("cannot start the iSCSI layer: %s", strerror(-ret));
		return -1;
	}
	if (a->cfg.has_cluster) {
		if (start_ctl(a) < 0 ||
		    node_start(a->base, &a->cfg, a->targets, &a->node) < 0)
			return -1;
	} else if (listen_portals(a) < 0 || start_ctl(a) < 0) {
		return -1;
	}
	for (size_t i = 0; i < a->cfg.n_targets; i++)
		n_luns += a->cfg.targets[i].n_luns;
	log_info("duetd %s ready: %zu target%s, %zu LUN%s, %zu portal%s%s%s",
		 DUET_VERSION, a->cfg.n_targets,
		 a->cfg.n_targets == 1 ? "" : "s", n_luns,
		 n_luns == 1 ? "" : "s", a->cfg.n_portals,
		 a->cfg.n_portals == 1 ? "" : "s",
		 a->cfg.node_name ? ", node " : "",
		 a->cfg.node_name ? a->cfg.node_name : "");
	return 0;
}

static void cleanup(struct app *a)
{
	ctl_server_stop();
	node_free(a->node);
	a->node = NULL;
	if (a->bs_started)
		bs_shutdown();
	iscsi_target_registry_clear();
	for (size_t i = 0; a->targets && i < a->cfg.n_targets; i++)
		if (a->targets[i])
			scsi_target_free(a->targets[i]);
	free(a->targets);
	a->targets = NULL;
	if (a->grace)
		event_free(a->grace);
	if (a->sig_term)
		event_free(a->sig_term);
	if (a->sig_int)
		event_free(a->sig_int);
	if (a->sig_hup)
		event_free(a->sig_hup);
	if (a->base)
		event_base_free(a->base);
	remove_pidfile(a);
	free(a->abs_pidfile);
	free(a->abs_ctl);
	ctl_unregister_all();
	config_free(&a->cfg);
}

int main(int argc, char **argv)
{
	struct app a = {.ready_fd = -1, .pid_fd = -1};
	int ret;

	ret = parse_args(argc, argv, &a.o);
	if (ret)
		return ret - 1;
	/* Messages before the loop (config errors) go to stderr. */
	log_init("duetd", true,
		 a.o.log_level_set ? a.o.log_level : LOG_LVL_INFO);
	if (load_config(&a) < 0) {
		if (a.o.check_config)
			fprintf(stderr, "%s: configuration has errors\n",
				a.o.config ? a.o.config : "command line");
		return 1;
	}
	if (a.o.check_config && a.cfg.has_cluster) {
		char fp[65];

		config_fingerprint_hex(&a.cfg, fp);
		printf("%s: OK (node %s of cluster %s, partner %s; config "
		       "fingerprint %.16s)\n",
		       a.o.config, config_self(&a.cfg)->name,
		       a.cfg.cluster.name, config_partner(&a.cfg)->name, fp);
		config_free(&a.cfg);
		return 0;
	}
	if (a.o.check_config) {
		printf("%s: OK\n", a.o.config ? a.o.config : "command line");
		config_free(&a.cfg);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	log_set_level(a.cfg.log_level);
	a.o.pidfile = absolute(a.o.pidfile, &a.abs_pidfile);
	a.o.ctl_socket = absolute(a.o.ctl_socket, &a.abs_ctl);
	if (!a.o.foreground)
		daemonize(&a);
	if (start(&a) < 0) {
		log_err("duetd not started");
		cleanup(&a);
		return 1; /* the waiting parent sees EOF: failure */
	}
	signal_ready(&a);
	event_base_dispatch(a.base);
	cleanup(&a);
	log_info("duetd stopped");
	return 0;
}
