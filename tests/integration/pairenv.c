// SPDX-License-Identifier: Apache-2.0
/*
 * The namespace test harness for the pair: see pairenv.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stddef.h>

#include <cmocka.h>

#include "pairenv.h"

char pe_skip_reason[160];

/* ---- small helpers ---- */

double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void msleep(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

__attribute__((format(printf, 1, 2))) int run(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc != 0)
		fprintf(stderr, "# command failed (%d): %s\n", rc, cmd);
	return rc == 0 ? 0 : -1;
}

const char *build_dir(void)
{
	const char *b = getenv("DUET_BUILD");
	return b && *b ? b : "build";
}

int netns(struct env *e, const char *verb, const char *arg)
{
	return run("scripts/netns.sh %s %s %s >&2", verb, e->prefix,
		   arg ? arg : "");
}

/* Why this machine cannot run these tests, or NULL. */
static const char *cannot_run(void)
{
	if (geteuid() != 0)
		return "not root: network namespaces need root";
	if (access("scripts/netns.sh", X_OK) != 0)
		return "scripts/netns.sh not found (run from the repository "
		       "root)";
	if (system("ip netns list >/dev/null 2>&1") != 0)
		return "`ip netns` unavailable (iproute2 missing or no netns "
		       "support)";
	return NULL;
}

/* ---- fixture ---- */

static int enter_client(struct env *e)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "/var/run/netns/%s-client", e->prefix);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	e->orig_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (e->orig_ns < 0 || setns(fd, CLONE_NEWNET) != 0) {
		close(fd);
		return -errno;
	}
	close(fd);
	return 0;
}

static int setup(void **state)
{
	static int seq;
	struct env *e = calloc(1, sizeof(*e));
	const char *why = cannot_run();

	if (!e)
		return -1;
	e->orig_ns = -1;
	e->node[0] = e->node[1] = -1;
	*state = e;
	if (why) {
		snprintf(pe_skip_reason, sizeof(pe_skip_reason), "%s", why);
		free(e);
		*state = NULL;
		return 0;
	}
	snprintf(e->prefix, sizeof(e->prefix), "dp%d-%d",
		 (int)getpid() % 100000, seq++);
	snprintf(e->dir, sizeof(e->dir), "/tmp/duet-pair-%s-XXXXXX", e->prefix);
	if (!mkdtemp(e->dir) || netns(e, "up", NULL) != 0) {
		snprintf(pe_skip_reason, sizeof(pe_skip_reason),
			 "could not build the namespace topology");
		netns(e, "down", NULL);
		free(e);
		*state = NULL;
		return 0;
	}
	e->topo_up = true;
	if (enter_client(e) != 0) {
		fprintf(stderr, "# cannot enter %s-client\n", e->prefix);
		return -1;
	}
	return 0;
}

int setup_or_clean(void **state)
{
	if (setup(state) == 0)
		return 0;
	teardown(state);
	return -1;
}

void node_kill(struct env *e, int n)
{
	if (e->node[n] > 0) {
		kill(e->node[n], SIGKILL);
		waitpid(e->node[n], NULL, 0);
		e->node[n] = -1;
	}
}

void dump_logs(struct env *e)
{
	run("for f in %s/*.log; do echo \"# --- $f (tail)\"; tail -n 25 "
	    "\"$f\" | sed 's/^/# /'; done >&2",
	    e->dir);
}

int teardown(void **state)
{
	struct env *e = *state;

	if (!e)
		return 0;
	if (e->th_running) {
		pt_writer_abort(e->w);
		pthread_join(e->th, NULL); /* bounded by drain_timeout_s */
		e->th_running = false;
	}
	if (e->w)
		pt_writer_free(e->w);
	node_kill(e, 0);
	node_kill(e, 1);
	if (e->orig_ns >= 0) {
		if (setns(e->orig_ns, CLONE_NEWNET) != 0)
			perror("setns back");
		close(e->orig_ns);
	}
	if (e->topo_up)
		netns(e, "down", NULL);
	if (getenv("DUET_KEEP_LOGS"))
		fprintf(stderr, "# logs kept in %s\n", e->dir);
	else
		run("rm -rf '%s'", e->dir);
	free(e);
	*state = NULL;
	return 0;
}

/* ---- daemons ---- */

/* ip netns exec PREFIX-NODE build/duetd -f ARGS...; output in DIR/LOG. */
pid_t spawn_in(struct env *e, const char *node, const char *log,
	       char *const args[])
{
	char ns[64], bin[256], logp[256];
	char *argv[24];
	int n = 0, fd;
	pid_t pid;

	snprintf(ns, sizeof(ns), "%s-%s", e->prefix, node);
	snprintf(bin, sizeof(bin), "%s/duetd", build_dir());
	snprintf(logp, sizeof(logp), "%s/%s", e->dir, log);
	argv[n++] = "ip";
	argv[n++] = "netns";
	argv[n++] = "exec";
	argv[n++] = ns;
	argv[n++] = bin;
	argv[n++] = "-f";
	for (int i = 0; args[i] && n < 22; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	pid = fork();
	if (pid == 0) {
		fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp("ip", argv);
		_exit(127);
	}
	return pid;
}

/* TCP connect from the client namespace (where we are), bounded. */
bool reachable(const char *addr, int port, int timeout_ms)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd),
		 "timeout %d.%03d bash -c 'exec 3<>/dev/tcp/%s/%d' "
		 ">/dev/null 2>&1",
		 timeout_ms / 1000, timeout_ms % 1000, addr, port);
	return system(cmd) == 0;
}

bool wait_reachable(const char *addr, int port, int timeout_ms)
{
	double end = now_s() + timeout_ms / 1000.0;
	while (now_s() < end) {
		if (reachable(addr, port, 500))
			return true;
		msleep(100);
	}
	return false;
}

int start_single(struct env *e)
{
	char lun[256], ctl[192];
	char *args[] = {
		"--portal", "198.51.100.11:3260", "--target", IQN_A, "--lun",
		lun,	    "--ctl-socket",	  ctl,	      NULL};

	snprintf(lun, sizeof(lun), "%s/a-disk0.img:%s", e->dir, LUN_SIZE);
	snprintf(ctl, sizeof(ctl), "%s/a.sock", e->dir);
	e->node[0] = spawn_in(e, "a", "a.log", args);
	if (e->node[0] < 0 || !wait_reachable("198.51.100.11", 3260, 10000)) {
		dump_logs(e);
		return -1;
	}
	return 0;
}

/* "HOST:PORT", or "[HOST]:PORT" for an IPv6 host. */
static const char *hostport(char *buf, size_t n, const char *host, int port)
{
	snprintf(buf, n, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
	return buf;
}

/* Node n's address on the interconnect, the client's (the witness). */
static const char *ic_addr(const struct env *e, int n)
{
	static const char *a[2][2] = {{"192.0.2.1", "192.0.2.2"},
				      {"2001:db8:2::1", "2001:db8:2::2"}};
	return a[e->ipv6][n];
}

static const char *client_addr(const struct env *e)
{
	return e->ipv6 ? "2001:db8:51::1" : "198.51.100.1";
}

static void write_node_conf(FILE *f, struct env *e, int n, bool portal,
			    bool last)
{
	char c = (char)('a' + n), hp[64];

	fprintf(f, "  { name = \"%c\";\n", c);
	fprintf(f, "    interconnect = \"%s\";\n",
		hostport(hp, sizeof(hp), ic_addr(e, n), 3270));
	fprintf(f, "    client_interface = \"cl0\";\n");
	fprintf(f, "    portals = ( \"%s\" );\n",
		hostport(hp, sizeof(hp), env_home_addr(e, n), 3260));
	if (portal)
		fprintf(f, "    proxy_portals = ( \"%s\" );\n",
			hostport(hp, sizeof(hp), env_proxy_addr(e, n), 3260));
	if (n == 0 || !e->b_no_witness)
		fprintf(f, "    witnesses = ( \"%s\" );\n",
			hostport(hp, sizeof(hp), client_addr(e), 3260));
	fprintf(f,
		"    targets = ( { name = "
		"\"iqn.2026-11.org.example:%c.disk0\";\n"
		"      luns = ( { path = \"%s/%c-disk0.img\"; size = "
		"\"%s\"; } ); } );\n"
		"  }%s\n",
		c, e->dir, c, LUN_SIZE, last ? "" : ",");
}

/* The pair configuration of PAIR.md for this topology (IPv6 addresses
 * when e->ipv6). */
int write_pair_conf(struct env *e, enum form form, const char *path,
		    const char *secret_name, const char *secret)
{
	char key[256];
	FILE *f;
	bool portal = form == FORM_PORTAL;
	enum form saved = e->form;

	snprintf(key, sizeof(key), "%s/%s", e->dir, secret_name);
	f = fopen(key, "w");
	if (!f)
		return -1;
	fprintf(f, "%s\n", secret);
	fclose(f);
	chmod(key, 0600);
	f = fopen(path, "w");
	if (!f)
		return -1;
	/* DUET_IO_ENGINE=uring|threads: both nodes' io_engine (benchmarks). */
	if (getenv("DUET_IO_ENGINE"))
		fprintf(f, "io_engine = \"%s\";\n", getenv("DUET_IO_ENGINE"));
	fprintf(f,
		"log_level = \"info\";\n"
		"iscsi = { nop_interval = 5; nop_timeout = 10; };\n"
		"cluster = {\n"
		"  name = \"%s\";\n"
		"  secret_file = \"%s\";\n"
		"  proxy = \"%s\";\n"
		"  heartbeat_interval_ms = 250;\n"
		"  heartbeat_timeout_ms = 1500;\n"
		"  damp_ms = %d;\n"
		"  probe_interval_ms = 500; probe_timeout_ms = 1000;\n"
		"  ic_hold_ms = %d;\n"
		"};\n",
		e->prefix, key, portal ? "portal" : "takeover", DAMP_MS,
		IC_HOLD_MS);
	fprintf(f, "nodes = (\n");
	e->form = form; /* env_home_addr() of this configuration */
	for (int n = 0; n < 2; n++)
		write_node_conf(f, e, n, portal, n == 1);
	e->form = saved;
	fprintf(f, ");\n");
	fclose(f);
	return 0;
}

const char *home_addr(enum form form, int n)
{
	static const char *a[2][2] = {{"198.51.100.11", "198.51.100.12"},
				      {"198.51.100.31", "198.51.100.32"}};
	return a[form][n];
}

/* Node n's own portal address (the moving one in the takeover form). */
const char *env_home_addr(const struct env *e, int n)
{
	static const char *v6[2][2] = {{"2001:db8:51::11", "2001:db8:51::12"},
				       {"2001:db8:51::31", "2001:db8:51::32"}};
	return e->ipv6 ? v6[e->form][n] : home_addr(e->form, n);
}

/* Node n's proxy portal (portal form): where it serves its partner's
 * targets. */
const char *env_proxy_addr(const struct env *e, int n)
{
	static const char *a[2][2] = {{"198.51.100.21", "198.51.100.22"},
				      {"2001:db8:51::21", "2001:db8:51::22"}};
	return a[e->ipv6][n];
}

/* Still running 0.3 s after start? (a bad config exits at once) */
bool node_alive(struct env *e, int n)
{
	int st;

	msleep(300);
	if (e->node[n] > 0 && waitpid(e->node[n], &st, WNOHANG) == e->node[n]) {
		e->node[n] = -1;
		return false;
	}
	return e->node[n] > 0;
}

pid_t start_node(struct env *e, int n, const char *conf)
{
	char ctl[192];
	char *args[] = {"-c",		(char *)conf, "-n", n ? "b" : "a",
			"--ctl-socket", ctl,	      NULL};

	/* one filesystem for both nodes: each its own control socket */
	snprintf(ctl, sizeof(ctl), "%s/%c.sock", e->dir, n ? 'b' : 'a');
	return spawn_in(e, n ? "b" : "a", n ? "b.log" : "a.log", args);
}

/* Both nodes of the pair up and serving their own portals. On failure the
 * test fails with duetd's own complaint (e.g. a duetd without pair
 * support rejecting `cluster`). */
void start_pair(struct env *e, enum form form)
{
	e->form = form;
	snprintf(e->conf, sizeof(e->conf), "%s/pair.conf", e->dir);
	assert_int_equal(write_pair_conf(e, form, e->conf, "pair.key",
					 "duet-test-secret-0123456789abcdef"),
			 0);
	if (run("ip netns exec %s-a %s/duetd --check-config -c %s -n a >&2",
		e->prefix, build_dir(), e->conf) != 0)
		fail_msg("duetd does not accept the pair configuration (%s): "
			 "the pair wiring is not in this build",
			 e->conf);
	e->node[0] = start_node(e, 0, e->conf);
	e->node[1] = start_node(e, 1, e->conf);
	for (int n = 0; n < 2; n++)
		if (!node_alive(e, n) ||
		    !wait_reachable(env_home_addr(e, n), 3260, 15000)) {
			dump_logs(e);
			fail_msg("node %c does not serve %s:3260", 'a' + n,
				 env_home_addr(e, n));
		}
	msleep(1000 + 1500); /* interconnect handshake + a heartbeat deadline */
}

/* ---- the writer in a thread ---- */

static void *writer_main(void *arg)
{
	struct env *e = arg;
	e->wrc = pt_writer_run(e->w);
	return NULL;
}

void writer_start(struct env *e, const char *const urls[], int n, int qd)
{
	struct pt_config c = {.qd = qd,
			      .n_blocks = 2048,
			      .nop_interval_ms = 1000,
			      .nop_max = 3,
			      .connect_timeout_s = 2,
			      .drain_timeout_s = 60,
			      .log = stderr};

	for (int i = 0; i < n; i++)
		c.urls[c.n_urls++] = urls[i];
	e->w = pt_writer_new(&c);
	assert_non_null(e->w);
	assert_int_equal(pt_writer_connect(e->w), 0);
	assert_int_equal(pthread_create(&e->th, NULL, writer_main, e), 0);
	e->th_running = true;
}

/* Wait (bounded) until @n more writes are acknowledged; seconds taken or
 * -1 on timeout. */
double wait_progress(struct env *e, uint64_t n, double timeout_s)
{
	double t0 = now_s();
	uint64_t base = pt_writer_acked(e->w);

	while (now_s() - t0 < timeout_s) {
		if (pt_writer_acked(e->w) >= base + n)
			return now_s() - t0;
		msleep(20);
	}
	return -1;
}

const struct pt_result *writer_finish_and_verify(struct env *e)
{
	const struct pt_result *r;
	int vrc;

	pt_writer_stop(e->w);
	pthread_join(e->th, NULL);
	e->th_running = false;
	vrc = pt_verify(e->w);
	pt_print_result(e->w, stderr);
	r = pt_writer_result(e->w);
	if (vrc != 0)
		fprintf(stderr, "# verification: %s\n", r->first_problem);
	assert_int_equal(r->v_bad, 0);
	assert_int_equal(r->v_stale, 0);
	assert_int_equal(r->v_read_errors > 0 ? -1 : vrc, 0);
	assert_true(r->acked > 0);
	return r;
}

void report_mark(struct env *e, int idx, const char *what)
{
	struct pt_mark m;
	if (pt_writer_get_mark(e->w, idx, &m) == 0)
		fprintf(stderr,
			"# TIMING %s: %s -> first completion after the stall "
			"%.3f s (stall %.3f s)\n",
			e->prefix, what, m.resume, m.stall);
}

bool carrier(struct env *e, const char *node, const char *ifname)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd),
		 "ip netns exec %s-%s cat /sys/class/net/%s/carrier "
		 "2>/dev/null | grep -qx 1",
		 e->prefix, node, ifname);
	return system(cmd) == 0;
}

/* A TCP connect to port 1 is refused (RST) iff the address answers. */
bool path_up(const char *addr)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd),
		 "timeout 1 bash -c 'exec 3<>/dev/tcp/%s/1' 2>&1 | "
		 "grep -q refused",
		 addr);
	return system(cmd) == 0;
}

/* The writer's URLs for node n's target: takeover form: n's portal
 * address; portal form: n's portal (preferred) and the partner's proxy
 * portal, as dm-multipath would have them. Returns how many. */
int writer_urls(const struct env *e, int n, char urls[][160])
{
	const char *iqn = n ? IQN_B : IQN_A;
	const char *h[2] = {env_home_addr(e, n), env_proxy_addr(e, !n)};
	int k = e->form == FORM_PORTAL ? 2 : 1;

	for (int i = 0; i < k; i++)
		snprintf(urls[i], 160,
			 strchr(h[i], ':') ? "iscsi://[%s]/%s/0"
					   : "iscsi://%s/%s/0",
			 h[i], iqn);
	return k;
}

/* The verifying writer on node n's target, making progress. */
void writer_on(struct env *e, int n)
{
	const char *u[PT_MAX_PATHS];
	int k = writer_urls(e, n, e->urls);

	for (int i = 0; i < k; i++)
		u[i] = e->urls[i];
	writer_start(e, u, k, 8);
	assert_true(wait_progress(e, 1000, 10) >= 0);
}

void writer_on_b(struct env *e)
{
	writer_on(e, 1);
}

/* Is @addr on @node's cl0? (quiet: "no" is an answer, not a failure) */
bool addr_on(struct env *e, const char *node, const char *addr)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd),
		 "ip netns exec %s-%s ip -o addr show dev cl0 | grep -q "
		 "' %s/'",
		 e->prefix, node, addr);
	return system(cmd) == 0;
}

/* Giveback done: the client is home on node n again. */
bool given_back_to(struct env *e, int n)
{
	const char *me = n ? "b" : "a", *other = n ? "a" : "b";

	if (e->form == FORM_PORTAL)
		return pt_writer_active_path(e->w) == 0;
	return addr_on(e, me, env_home_addr(e, n)) &&
	       !addr_on(e, other, env_home_addr(e, n));
}

bool given_back(struct env *e)
{
	return given_back_to(e, 1);
}

double wait_giveback_to(struct env *e, int n, double timeout_s)
{
	double t0 = now_s();
	while (now_s() - t0 < timeout_s) {
		if (given_back_to(e, n) && wait_progress(e, 200, 2) >= 0)
			return now_s() - t0;
		msleep(100);
	}
	return -1;
}

double wait_giveback(struct env *e, double timeout_s)
{
	return wait_giveback_to(e, 1, timeout_s);
}

/* Pull node n's link, see I/O continue through its partner; returns
 * seconds to the first proxied progress. */
double pull_and_proxy(struct env *e, int n, const char *label)
{
	double t;

	pt_writer_mark(e->w, label);
	assert_int_equal(netns(e, "pull", n ? "b" : "a"), 0);
	msleep(100);
	t = wait_progress(e, 500, 30);
	if (t < 0) {
		dump_logs(e);
		fail_msg("no I/O through the proxy port 30 s after pulling %c",
			 'a' + n);
	}
	return t + 0.1;
}

double pull_b_and_proxy(struct env *e, const char *label)
{
	return pull_and_proxy(e, 1, label);
}

void restore_and_giveback(struct env *e, int n, const char *label)
{
	double t;

	pt_writer_mark(e->w, label);
	assert_int_equal(netns(e, "restore", n ? "b" : "a"), 0);
	t = wait_giveback_to(e, n, DAMP_MS / 1000.0 + 30);
	if (t < 0) {
		dump_logs(e);
		fail_msg("no giveback %.0f s after restoring %c's link",
			 DAMP_MS / 1000.0 + 30, 'a' + n);
	}
	fprintf(stderr,
		"# TIMING %s: restore %c -> giveback (client home) %.3f s"
		" (damp_ms %d)\n",
		e->prefix, 'a' + n, t, DAMP_MS);
}

void restore_b_and_giveback(struct env *e, const char *label)
{
	restore_and_giveback(e, 1, label);
}
