// SPDX-License-Identifier: Apache-2.0
/*
 * More pair scenarios in network namespaces (harness: pairenv.h, topology:
 * scripts/netns.sh), beyond test_pair.c's "pull b over IPv4":
 *
 * - test_ipv6_takeover: the takeover form's failover cycle with IPv6
 *   portals, witnesses and interconnect (2001:db8::/32). The moving
 *   address reaches the client through duetd's unsolicited neighbour
 *   advertisement: the client's neighbour entry must follow it to the
 *   proxy node's MAC within a second of the address moving (without the
 *   NA it would keep the old MAC until its own unreachability detection,
 *   tens of seconds).
 * - test_pull_a_portal / test_pull_a_takeover: the other direction, b
 *   proxies a's target (takeover form: the client's ARP entry must follow
 *   the gratuitous ARP the same way); test_ipv6_pull_a_portal: the same in the portal
 *   form with IPv6 portals and proxy portals.
 * - test_double_fault: both links lost one after the other (takeover
 *   form, writers on both targets): no address on two hosts at any time,
 *   nothing acknowledged lost; the first node back serves its own target
 *   and proxies its partner's; the second one back takes its own back.
 * - test_double_fault_at_once: both links lost at the same moment
 *   (nothing is taken over), restored in the other order (b first);
 *   test_double_fault_portal: the first sequence in the portal form.
 *
 * Every test verifies every acknowledged block with the verifying writer.
 * Run a subset: DUET_PAIR_TESTS='test_pull_a_*' build/tests/integration/
 * test_pair_more (repository root, as root).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

#include "pairtest.h"

#include "pairenv.h"

/* ---- a second verifying writer (the env holds one) ---- */

struct xw {
	struct pt_writer *w;
	pthread_t th;
	bool running;
	int rc;
	char urls[PT_MAX_PATHS][160];
};

static struct xw xw; /* one test at a time */

static void *xw_main(void *arg)
{
	struct xw *x = arg;
	x->rc = pt_writer_run(x->w);
	return NULL;
}

static uint64_t wait_acked(struct pt_writer *w, uint64_t n, double timeout_s)
{
	double t0 = now_s();
	uint64_t base = pt_writer_acked(w);

	while (now_s() - t0 < timeout_s) {
		if (pt_writer_acked(w) >= base + n)
			return 1;
		msleep(20);
	}
	return 0;
}

static void xw_start(struct env *e, int node)
{
	struct pt_config c = {.qd = 8,
			      .n_blocks = 2048,
			      .nop_interval_ms = 1000,
			      .nop_max = 3,
			      .connect_timeout_s = 2,
			      .drain_timeout_s = 60,
			      .initiator = "iqn.2026-11.org.example:pairio2",
			      .log = stderr};
	int k = writer_urls(e, node, xw.urls);

	for (int i = 0; i < k; i++)
		c.urls[c.n_urls++] = xw.urls[i];
	xw.w = pt_writer_new(&c);
	assert_non_null(xw.w);
	assert_int_equal(pt_writer_connect(xw.w), 0);
	assert_int_equal(pthread_create(&xw.th, NULL, xw_main, &xw), 0);
	xw.running = true;
	assert_true(wait_acked(xw.w, 1000, 10));
}

static void xw_finish_and_verify(void)
{
	const struct pt_result *r;
	int vrc;

	pt_writer_stop(xw.w);
	pthread_join(xw.th, NULL);
	xw.running = false;
	vrc = pt_verify(xw.w);
	pt_print_result(xw.w, stderr);
	r = pt_writer_result(xw.w);
	if (vrc != 0)
		fprintf(stderr, "# verification: %s\n", r->first_problem);
	assert_int_equal(r->v_bad, 0);
	assert_int_equal(r->v_stale, 0);
	assert_int_equal(r->v_read_errors > 0 ? -1 : vrc, 0);
	assert_true(r->acked > 0);
	assert_int_equal(r->abandoned, 0);
}

static int teardown_more(void **state)
{
	if (xw.running) {
		pt_writer_abort(xw.w);
		pthread_join(xw.th, NULL);
		xw.running = false;
	}
	if (xw.w)
		pt_writer_free(xw.w);
	memset(&xw, 0, sizeof(xw));
	return teardown(state);
}

/* ---- helpers ---- */

/* "a"/"b": the node's namespace; "pair" status from its control socket
 * (state line), for the log. */
static void log_states(struct env *e, const char *when)
{
	fprintf(stderr, "# states %s:\n", when);
	for (int n = 0; n < 2; n++)
		run("%s/duetctl -s %s/%c.sock pair 2>&1 | grep -m1 state | "
		    "sed 's/^/#   %c: /' >&2",
		    build_dir(), e->dir, 'a' + n, 'a' + n);
}

/* The MAC of @node's cl0. */
static int mac_of(struct env *e, const char *node, char *mac, size_t n)
{
	char path[160];
	FILE *f;

	snprintf(path, sizeof(path),
		 "ip netns exec %s-%s cat /sys/class/net/cl0/address",
		 e->prefix, node);
	f = popen(path, "r");
	if (!f)
		return -1;
	if (!fgets(mac, (int)n, f)) {
		pclose(f);
		return -1;
	}
	pclose(f);
	mac[strcspn(mac, "\n")] = '\0';
	return mac[0] ? 0 : -1;
}

/* Does the client's (our namespace's) neighbour entry for @addr carry
 * @mac? */
static bool client_neigh_is(const char *addr, const char *mac)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd),
		 "ip neigh show %s dev eth0 | grep -qi 'lladdr %s'", addr, mac);
	return system(cmd) == 0; /* quiet: polled */
}

/* Wait until @addr is on @node's cl0; seconds, or -1. */
static double wait_addr(struct env *e, const char *node, const char *addr,
			double timeout_s)
{
	double t0 = now_s();

	while (now_s() - t0 < timeout_s) {
		if (addr_on(e, node, addr))
			return now_s() - t0;
		msleep(50);
	}
	return -1;
}

/* Neither portal address is on both nodes at once. */
static void assert_no_address_twice(struct env *e)
{
	for (int n = 0; n < 2; n++) {
		const char *ad = env_home_addr(e, n);
		bool on_a = addr_on(e, "a", ad), on_b = addr_on(e, "b", ad);

		if (on_a && on_b) {
			run("for n in a b; do ip netns exec %s-$n ip -o addr "
			    "show dev cl0 | sed \"s/^/# $n: /\"; done >&2",
			    e->prefix);
			dump_logs(e);
			fail_msg("%s is on both a and b", ad);
		}
	}
}

static void print_marks(struct env *e, struct pt_writer *w, const char *who)
{
	struct pt_mark m;

	for (int i = 0; pt_writer_get_mark(w, i, &m) == 0; i++)
		fprintf(stderr,
			"# TIMING %s %s: %s -> first completion after the "
			"stall %.3f s (stall %.3f s)\n",
			e->prefix, who, m.label, m.resume, m.stall);
}

/* ---- 1. IPv6 takeover ---- */

/* Takeover form: pull node n's link. The client's neighbour entry for n's
 * address, n's MAC before, must follow the announcement (IPv6: neighbour
 * advertisement, IPv4: gratuitous ARP) to the proxy node's MAC within
 * 1.5 s of the address appearing on the partner. */
static void pull_check_announce(struct env *e, int n)
{
	const char *partner = n ? "a" : "b", *ad = env_home_addr(e, n);
	char mac[32], own[32];
	double t, t0;

	assert_int_equal(mac_of(e, partner, mac, sizeof(mac)), 0);
	assert_int_equal(mac_of(e, n ? "b" : "a", own, sizeof(own)), 0);
	if (!client_neigh_is(ad, own)) {
		run("ip neigh show dev eth0 | sed 's/^/# neigh: /' >&2");
		fail_msg("before the pull the client's neighbour entry for %s "
			 "is not the owner's MAC %s",
			 ad, own);
	}
	t0 = now_s();
	assert_int_equal(netns(e, "pull", n ? "b" : "a"), 0);
	if (wait_addr(e, partner, ad, 30) < 0) {
		dump_logs(e);
		fail_msg("%s not on %s 30 s after the pull", ad, partner);
	}
	t = now_s() - t0; /* pull (the script's start) -> address moved */
	t0 = now_s();
	while (!client_neigh_is(ad, mac) && now_s() - t0 < 1.5)
		msleep(50);
	if (!client_neigh_is(ad, mac)) {
		run("ip neigh show dev eth0 | sed 's/^/# neigh: /' >&2");
		dump_logs(e);
		fail_msg("the client's neighbour entry for %s did not follow "
			 "the %s to %s (%s) in 1.5 s",
			 ad,
			 e->ipv6 ? "neighbour advertisement" : "gratuitous ARP",
			 partner, mac);
	}
	fprintf(stderr,
		"# TIMING %s %s: address on %s %.3f s after the pull; "
		"client neighbour entry -> %s %.3f s later\n",
		e->prefix, e->ipv6 ? "ipv6" : "ipv4", partner, t, mac,
		now_s() - t0);
}

static void test_ipv6_takeover(void **state)
{
	struct env *e = *state;
	const struct pt_result *r;
	double t;

	SKIP_IF_CANNOT(e);
	if (access("/proc/sys/net/ipv6", F_OK) != 0) {
		fprintf(stderr, "# SKIP: the kernel has no IPv6\n");
		skip();
	}
	e->ipv6 = true;
	start_pair(e, FORM_TAKEOVER);
	writer_on(e, 1);
	for (int round = 0; round < 2; round++) {
		char pl[16], rl[16];
		double t0 = now_s();

		snprintf(pl, sizeof(pl), "pull%d", round + 1);
		snprintf(rl, sizeof(rl), "restore%d", round + 1);
		pt_writer_mark(e->w, pl);
		pull_check_announce(e, 1);
		if (wait_progress(e, 500, 30) < 0) {
			dump_logs(e);
			fail_msg(
				"no I/O through a 30 s after pulling b (IPv6)");
		}
		t = now_s() - t0;
		fprintf(stderr,
			"# TIMING %s ipv6 takeover: pull -> 500 proxied "
			"writes %.3f s\n",
			e->prefix, t);
		assert_false(addr_on(e, "b", "2001:db8:51::32"));
		assert_true(wait_progress(e, 2000, 10) >= 0);
		restore_b_and_giveback(e, rl);
		assert_false(addr_on(e, "a", "2001:db8:51::32"));
		assert_true(wait_progress(e, 1000, 10) >= 0);
	}
	r = writer_finish_and_verify(e);
	print_marks(e, e->w, "ipv6");
	assert_int_equal(r->hard_errors, 0);
	assert_int_equal(r->abandoned, 0);
}

/* ---- 2. the other direction: pull a ---- */

static void pull_a(void **state, enum form form, bool ipv6)
{
	struct env *e = *state;
	const struct pt_result *r;
	const char *fname = form == FORM_PORTAL ? "portal" : "takeover";
	double t;

	SKIP_IF_CANNOT(e);
	if (ipv6 && access("/proc/sys/net/ipv6", F_OK) != 0) {
		fprintf(stderr, "# SKIP: the kernel has no IPv6\n");
		skip();
	}
	e->ipv6 = ipv6;
	start_pair(e, form);
	writer_on(e, 0);
	if (form == FORM_TAKEOVER) {
		double t0 = now_s();

		pt_writer_mark(e->w, "pull a");
		pull_check_announce(e, 0);
		if (wait_progress(e, 500, 30) < 0) {
			dump_logs(e);
			fail_msg("no I/O through b 30 s after pulling a");
		}
		t = now_s() - t0;
	} else {
		t = pull_and_proxy(e, 0, "pull a");
	}
	fprintf(stderr, "# TIMING %s %s: pull a -> 500 proxied writes %.3f s\n",
		e->prefix, fname, t);
	if (form == FORM_PORTAL)
		assert_int_equal(pt_writer_active_path(e->w), 1);
	else
		assert_true(addr_on(e, "b", env_home_addr(e, 0)) &&
			    !addr_on(e, "a", env_home_addr(e, 0)));
	assert_true(wait_progress(e, 2000, 10) >= 0);
	restore_and_giveback(e, 0, "restore a");
	assert_true(wait_progress(e, 1000, 10) >= 0);
	r = writer_finish_and_verify(e);
	print_marks(e, e->w, fname);
	assert_int_equal(r->hard_errors, 0);
	assert_int_equal(r->abandoned, 0);
}

static void test_pull_a_portal(void **state)
{
	pull_a(state, FORM_PORTAL, false);
}

/* IPv6 proxy portals (listeners on [2001:db8:51::22]) in the portal form */
static void test_ipv6_pull_a_portal(void **state)
{
	pull_a(state, FORM_PORTAL, true);
}

static void test_pull_a_takeover(void **state)
{
	pull_a(state, FORM_TAKEOVER, false);
}

/* ---- 3. double fault ---- */

/* Watch for @secs: no address on two hosts, sampled every 100 ms. */
static void watch_no_address_twice(struct env *e, double secs)
{
	double t0 = now_s();

	while (now_s() - t0 < secs) {
		assert_no_address_twice(e);
		msleep(100);
	}
}

/* Wait (bounded) until @node holds exactly @want of the two portal
 * addresses (own first), checking the no-two-hosts rule all along. */
static double wait_holds(struct env *e, const char *node, bool want_a,
			 bool want_b, double timeout_s)
{
	double t0 = now_s();

	while (now_s() - t0 < timeout_s) {
		assert_no_address_twice(e);
		if (addr_on(e, node, env_home_addr(e, 0)) == want_a &&
		    addr_on(e, node, env_home_addr(e, 1)) == want_b)
			return now_s() - t0;
		msleep(100);
	}
	return -1;
}

/* Is node n's state machine in @st? (duetctl pair: "state ST for ...") */
static bool state_is(struct env *e, int n, const char *st)
{
	char cmd[384];

	snprintf(cmd, sizeof(cmd),
		 "%s/duetctl -s %s/%c.sock pair 2>/dev/null | grep -q "
		 "'state %s for'",
		 build_dir(), e->dir, 'a' + n, st);
	return system(cmd) == 0;
}

static double wait_state(struct env *e, int n, const char *st, double timeout_s)
{
	double t0 = now_s();

	while (now_s() - t0 < timeout_s) {
		if (state_is(e, n, st))
			return now_s() - t0;
		msleep(100);
	}
	return -1;
}

/* Both links down: both machines LOCAL_DOWN; in the takeover form neither
 * node may hold any portal address (checked for a few seconds). */
static void both_down(struct env *e)
{
	if (wait_state(e, 0, "LOCAL_DOWN", 10) < 0 ||
	    wait_state(e, 1, "LOCAL_DOWN", 10) < 0) {
		log_states(e, "both pulled");
		dump_logs(e);
		fail_msg("a and b not both LOCAL_DOWN 10 s after both links "
			 "were lost");
	}
	if (e->form == FORM_TAKEOVER) {
		if (wait_holds(e, "a", false, false, 10) < 0 ||
		    wait_holds(e, "b", false, false, 10) < 0) {
			log_states(e, "both pulled");
			dump_logs(e);
			fail_msg("a portal address is still held 10 s after "
				 "both links were lost");
		}
		watch_no_address_twice(e, 4);
		assert_true(wait_holds(e, "a", false, false, 0.5) >= 0);
		assert_true(wait_holds(e, "b", false, false, 0.5) >= 0);
	} else {
		msleep(4000);
	}
	assert_true(state_is(e, 0, "LOCAL_DOWN") &&
		    state_is(e, 1, "LOCAL_DOWN"));
	log_states(e, "both pulled");
}

/* The writer on node n's target (e->w: b's, xw: a's). */
static struct pt_writer *writer_of(struct env *e, int n)
{
	return n ? e->w : xw.w;
}

/* Node @n's link back first, its partner's still pulled: n serves its own
 * target and proxies the partner's (docs/failover.md rule 6). */
static void first_back(struct env *e, int n)
{
	const char *me = n ? "b" : "a", *other = n ? "a" : "b";
	bool takeover = e->form == FORM_TAKEOVER;
	double t, t0 = now_s();
	char label[16];

	snprintf(label, sizeof(label), "restore %s", me);
	pt_writer_mark(e->w, label);
	pt_writer_mark(xw.w, label);
	assert_int_equal(netns(e, "restore", me), 0);
	t = takeover ? wait_holds(e, me, true, true, DAMP_MS / 1000.0 + 20)
		     : wait_state(e, n, "PROXYING_FOR_PARTNER",
				  DAMP_MS / 1000.0 + 20);
	log_states(e, label);
	if (t < 0) {
		dump_logs(e);
		fail_msg("%s restored, %s still pulled: %s does not %s "
			 "%.0f s later",
			 me, other, me,
			 takeover ? "hold both portal addresses"
				  : "proxy for its partner",
			 DAMP_MS / 1000.0 + 20);
	}
	/* After seconds of failed reconnects the client itself is slow to
	 * come back (libiscsi's automatic reconnect: its connect's SYNs back
	 * off, at least 5 s between reconnects, a growing pause after each
	 * failed one): up to ~30 s was seen on a busy machine. */
	if (!wait_acked(xw.w, 500, 60) || wait_progress(e, 500, 60) < 0) {
		dump_logs(e);
		fail_msg("no I/O on a's and b's targets 60 s after %s's link "
			 "returned",
			 me);
	}
	fprintf(stderr,
		"# TIMING %s double: restore %s -> %s proxies for %s %.3f s, "
		"both writers progressing %.3f s\n",
		e->prefix, me, me, other, t, now_s() - t0);
	assert_true(wait_state(e, n, "PROXYING_FOR_PARTNER", 5) >= 0);
	assert_true(state_is(e, !n, "PARTNER_PROXYING_FOR_ME"));
	if (takeover)
		assert_false(addr_on(e, other, env_home_addr(e, 0)) ||
			     addr_on(e, other, env_home_addr(e, 1)));
	else /* partner's target through n's proxy portal */
		assert_int_equal(pt_writer_active_path(writer_of(e, !n)), 1);
}

/* Both nodes home: addresses (takeover form) or paths (portal form). */
static void both_home(struct env *e)
{
	double t0 = now_s();

	if (e->form == FORM_TAKEOVER) {
		for (int n = 0; n < 2; n++) {
			const char *ad = env_home_addr(e, n);
			assert_true(addr_on(e, n ? "b" : "a", ad));
			assert_false(addr_on(e, n ? "a" : "b", ad));
		}
	} else {
		while (now_s() - t0 < 30 && (pt_writer_active_path(xw.w) != 0 ||
					     pt_writer_active_path(e->w) != 0))
			msleep(100);
		assert_int_equal(pt_writer_active_path(xw.w), 0);
		assert_int_equal(pt_writer_active_path(e->w), 0);
	}
	assert_true(wait_state(e, 0, "NORMAL", 10) >= 0);
	assert_true(wait_state(e, 1, "NORMAL", 10) >= 0);
}

/* Writers on both targets (e->w: b's, xw: a's).
 * @at_once false: pull b (a proxies b), then a; restore a first, then b.
 * @at_once true: pull both at once (nobody takes anything over); restore
 * b first, then a. */
static void double_fault(void **state, enum form form, bool at_once)
{
	struct env *e = *state;
	const struct pt_result *r;
	int back = at_once ? 1 : 0;
	double t;

	SKIP_IF_CANNOT(e);
	start_pair(e, form);
	writer_on(e, 1);
	xw_start(e, 0);

	if (!at_once) {
		t = pull_and_proxy(e, 1, "pull b");
		fprintf(stderr,
			"# TIMING %s double: pull b -> 500 proxied writes "
			"%.3f s\n",
			e->prefix, t);
		assert_true(wait_acked(xw.w, 500, 10));
		if (form == FORM_TAKEOVER)
			assert_true(addr_on(e, "a", env_home_addr(e, 1)));
		assert_true(state_is(e, 0, "PROXYING_FOR_PARTNER"));
		log_states(e, "b pulled");
		pt_writer_mark(e->w, "pull a");
		pt_writer_mark(xw.w, "pull a");
		assert_int_equal(netns(e, "pull", "a"), 0);
	} else {
		pt_writer_mark(e->w, "pull both");
		pt_writer_mark(xw.w, "pull both");
		assert_int_equal(run("scripts/netns.sh pull %s a >&2 && "
				     "scripts/netns.sh pull %s b >&2",
				     e->prefix, e->prefix),
				 0);
	}
	/* nobody can reach the client: I/O stalls, nothing moves */
	both_down(e);

	first_back(e, back);

	/* the other one back: giveback, both home */
	pt_writer_mark(xw.w,
		       back ? "restore a" : "restore b"); /* e->w: below */
	restore_and_giveback(e, !back, back ? "restore a" : "restore b");
	both_home(e);
	assert_true(wait_acked(xw.w, 500, 20));
	assert_true(wait_progress(e, 500, 20) >= 0);
	log_states(e, "both restored");

	r = writer_finish_and_verify(e);
	print_marks(e, e->w, "double b's target");
	assert_int_equal(r->abandoned, 0);
	xw_finish_and_verify();
	print_marks(e, xw.w, "double a's target");
}

static void test_double_fault(void **state)
{
	double_fault(state, FORM_TAKEOVER, false);
}

static void test_double_fault_at_once(void **state)
{
	double_fault(state, FORM_TAKEOVER, true);
}

static void test_double_fault_portal(void **state)
{
	double_fault(state, FORM_PORTAL, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ipv6_takeover,
						setup_or_clean, teardown_more),
		cmocka_unit_test_setup_teardown(test_pull_a_portal,
						setup_or_clean, teardown_more),
		cmocka_unit_test_setup_teardown(test_ipv6_pull_a_portal,
						setup_or_clean, teardown_more),
		cmocka_unit_test_setup_teardown(test_pull_a_takeover,
						setup_or_clean, teardown_more),
		cmocka_unit_test_setup_teardown(test_double_fault,
						setup_or_clean, teardown_more),
		cmocka_unit_test_setup_teardown(test_double_fault_at_once,
						setup_or_clean, teardown_more),
		cmocka_unit_test_setup_teardown(test_double_fault_portal,
						setup_or_clean, teardown_more),
	};

	/* DUET_PAIR_TESTS="test_pull_a_*" runs a subset (cmocka pattern). */
	if (getenv("DUET_PAIR_TESTS"))
		cmocka_set_test_filter(getenv("DUET_PAIR_TESTS"));
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
