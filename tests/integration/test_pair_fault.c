// SPDX-License-Identifier: Apache-2.0
/*
 * The takeover form when a node dies or the interconnect stays cut while
 * proxying (docs/failover.md, "Interconnect down"): the owner gets its
 * portal addresses back without its partner (address conflict probes,
 * cluster.ic_hold_ms), and one address is never on two hosts; a duetd
 * killed with SIGKILL leaves its addresses in the kernel, and the next
 * start removes them.
 *
 * Namespace harness: pairenv.h (topology per test, the pair, the
 * verifying writer). Run from the repository root, as root:
 *   DUET_PAIR_TESTS='test_proxy_dies*' build/tests/integration/test_pair_fault
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <cmocka.h>

#include "pairenv.h"

#define ADDR_A "198.51.100.31"
#define ADDR_B "198.51.100.32"

/* Worst case for an owner to get its addresses back with its partner
 * gone: its own IC loss is seen after a heartbeat deadline, it probes
 * once the partner has had ic_hold_ms (+ one heartbeat deadline) and the
 * probe rounds (0.8 s + 1 s pause) find nobody; generous margin for a
 * loaded 2-core machine. */
#define RECLAIM_BOUND_S \
	((HB_TIMEOUT_MS + IC_HOLD_MS + HB_TIMEOUT_MS + DAMP_MS) / 1000.0 + 20)

/* A shell command that is expected to fail while polling: not logged. */
__attribute__((format(printf, 1, 2))) static bool quiet(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd) == 0;
}

static bool state_is(struct env *e, int n, const char *state)
{
	return quiet("%s/duetctl -s %s/%c.sock pair 2>/dev/null | "
		     "grep -q '^state %s '",
		     build_dir(), e->dir, 'a' + n, state);
}

static bool has_addr(struct env *e, const char *node, const char *addr)
{
	return quiet("ip netns exec %s-%s ip -o addr show dev cl0 | grep -q "
		     "' %s/'",
		     e->prefix, node, addr);
}

static bool wait_normal_both(struct env *e, double timeout_s)
{
	double t0 = now_s();

	while (now_s() - t0 < timeout_s) {
		if (state_is(e, 0, "NORMAL") && state_is(e, 1, "NORMAL"))
			return true;
		msleep(250);
	}
	return false;
}

/* How many of the nodes have addr on cl0 (the kernel's view). */
static int holders(struct env *e, const char *addr)
{
	return (int)has_addr(e, "a", addr) + (int)has_addr(e, "b", addr);
}

static bool log_has(struct env *e, char node, const char *needle)
{
	return quiet("grep -qF '%s' %s/%c.log", needle, e->dir, node);
}

static bool wait_log(struct env *e, char node, const char *needle,
		     double timeout_s)
{
	double t0 = now_s();

	while (now_s() - t0 < timeout_s) {
		if (log_has(e, node, needle))
			return true;
		msleep(100);
	}
	return false;
}

/* b holds its address, a (alive or not) cannot answer for it; the kernel
 * of a dead a may still have it while its link is down. */
static double wait_b_home(struct env *e, bool a_link_up, double timeout_s)
{
	double t0 = now_s();

	while (now_s() - t0 < timeout_s) {
		bool on_a = has_addr(e, "a", ADDR_B),
		     on_b = has_addr(e, "b", ADDR_B);

		if (a_link_up && on_a && on_b) {
			dump_logs(e);
			fail_msg("%s on both a and b", ADDR_B);
		}
		if (on_b && (!on_a || !a_link_up))
			return now_s() - t0;
		msleep(100);
	}
	return -1;
}

/* a proxies for b; a's host then disappears (duetd SIGKILLed, its link
 * pulled: nothing answers ARP for b's address any more) and b's link
 * comes back. b must serve its own targets again without a, and a, when
 * it returns, must first remove the address its killed duetd left. */
static void test_proxy_dies_while_proxying(void **state)
{
	struct env *e = *state;
	const struct pt_result *r;
	double t;

	SKIP_IF_CANNOT(e);
	start_pair(e, FORM_TAKEOVER);
	writer_on_b(e);
	pull_b_and_proxy(e, "pull");
	assert_true(has_addr(e, "a", ADDR_B));
	pt_writer_mark(e->w, "a-dies");
	node_kill(e, 0);
	assert_int_equal(netns(e, "pull", "a"), 0);
	/* the kernel of the dead a keeps b's address (on a dead link) */
	assert_true(has_addr(e, "a", ADDR_B));
	assert_int_equal(netns(e, "restore", "b"), 0);
	t = wait_b_home(e, false, RECLAIM_BOUND_S);
	if (t < 0) {
		dump_logs(e);
		fail_msg("b did not get %s back within %.0f s with a dead",
			 ADDR_B, RECLAIM_BOUND_S);
	}
	fprintf(stderr,
		"# TIMING %s: restore b, partner dead -> b holds %s %.3f s "
		"(damp_ms %d, ic_hold_ms %d, heartbeat_timeout_ms %d)\n",
		e->prefix, ADDR_B, t, DAMP_MS, IC_HOLD_MS, HB_TIMEOUT_MS);
	assert_true(log_has(e, 'b', "no host answered the probes"));
	t = wait_progress(e, 500, 30);
	if (t < 0) {
		dump_logs(e);
		fail_msg("no I/O on b after it reclaimed %s", ADDR_B);
	}
	/* a comes back: its duetd removes the leftover before anything
	 * else (its link stays pulled until then: with the link up, the
	 * kernel of the killed duetd would answer ARP for b's address) */
	e->node[0] = start_node(e, 0, e->conf);
	assert_true(node_alive(e, 0));
	if (!wait_log(e, 'a', "removed leftover address " ADDR_B "/32", 10)) {
		dump_logs(e);
		fail_msg("a did not remove the leftover %s at start", ADDR_B);
	}
	assert_false(has_addr(e, "a", ADDR_B));
	assert_int_equal(netns(e, "restore", "a"), 0);
	if (!wait_normal_both(e, DAMP_MS / 1000.0 + 40)) {
		dump_logs(e);
		fail_msg("the pair did not return to NORMAL/NORMAL");
	}
	assert_int_equal(holders(e, ADDR_B), 1);
	assert_true(has_addr(e, "b", ADDR_B));
	assert_int_equal(holders(e, ADDR_A), 1);
	assert_true(has_addr(e, "a", ADDR_A));
	assert_true(wait_progress(e, 500, 20) >= 0);
	r = writer_finish_and_verify(e);
	report_mark(e, 1, "a dies, b restored");
	assert_int_equal(r->hard_errors, 0);
}

/* The interconnect is cut while a proxies for b, then b's link returns
 * while the interconnect stays cut: a can forward nothing, releases b's
 * address after ic_hold_ms; b's probe finds it free and b serves. */
static void test_ic_cut_owner_back(void **state)
{
	struct env *e = *state;
	const struct pt_result *r;
	double t;

	SKIP_IF_CANNOT(e);
	start_pair(e, FORM_TAKEOVER);
	writer_on_b(e);
	pull_b_and_proxy(e, "pull");
	pt_writer_mark(e->w, "cut-ic");
	assert_int_equal(netns(e, "cut-ic", NULL), 0);
	msleep(500);
	assert_int_equal(netns(e, "restore", "b"), 0);
	t = wait_b_home(e, true, RECLAIM_BOUND_S);
	if (t < 0) {
		dump_logs(e);
		fail_msg("b did not get %s back within %.0f s (interconnect "
			 "cut)",
			 ADDR_B, RECLAIM_BOUND_S);
	}
	fprintf(stderr,
		"# TIMING %s: interconnect cut (b restored 0.5 s later) -> "
		"b holds %s %.3f s (damp_ms %d, ic_hold_ms %d, "
		"heartbeat_timeout_ms %d)\n",
		e->prefix, ADDR_B, t + 0.5, DAMP_MS, IC_HOLD_MS, HB_TIMEOUT_MS);
	assert_true(log_has(e, 'a', "while proxying: releasing the partner"));
	assert_false(has_addr(e, "a", ADDR_B));
	if (wait_progress(e, 500, 30) < 0) {
		dump_logs(e);
		fail_msg("no I/O on b with the interconnect cut");
	}
	/* a never took b's address again while the interconnect is cut */
	for (int i = 0; i < 10; i++) {
		assert_int_equal(holders(e, ADDR_B), 1);
		msleep(200);
	}
	pt_writer_mark(e->w, "restore-ic");
	assert_int_equal(netns(e, "restore-ic", NULL), 0);
	if (!wait_normal_both(e, 30)) {
		dump_logs(e);
		fail_msg("the pair did not return to NORMAL/NORMAL");
	}
	assert_int_equal(holders(e, ADDR_B), 1);
	assert_true(has_addr(e, "b", ADDR_B));
	assert_true(wait_progress(e, 500, 20) >= 0);
	r = writer_finish_and_verify(e);
	report_mark(e, 1, "interconnect cut, b restored");
	assert_int_equal(r->hard_errors, 0);
}

/* duetd killed with SIGKILL: its address stays in the kernel; the next
 * start removes it, then adds it again once it serves, and it is on
 * exactly one host. */
static void test_leftover_address(void **state)
{
	struct env *e = *state;

	SKIP_IF_CANNOT(e);
	start_pair(e, FORM_TAKEOVER);
	assert_true(has_addr(e, "a", ADDR_A));
	node_kill(e, 0);
	msleep(200);
	assert_true(has_addr(e, "a", ADDR_A)); /* kernel state survives */
	e->node[0] = start_node(e, 0, e->conf);
	assert_true(node_alive(e, 0));
	if (!wait_log(e, 'a', "removed leftover address " ADDR_A "/32", 10)) {
		dump_logs(e);
		fail_msg("a did not remove the leftover %s at start", ADDR_A);
	}
	if (!wait_reachable(ADDR_A, 3260, 20000) || !wait_normal_both(e, 20)) {
		dump_logs(e);
		fail_msg("a does not serve %s again", ADDR_A);
	}
	assert_true(has_addr(e, "a", ADDR_A));
	assert_int_equal(run("{ ip netns exec %s-a ip -o addr; ip netns exec "
			     "%s-b ip -o addr; } | grep -c ' %s/' | grep -qx "
			     "1",
			     e->prefix, e->prefix, ADDR_A),
			 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_proxy_dies_while_proxying,
						setup_or_clean, teardown),
		cmocka_unit_test_setup_teardown(test_ic_cut_owner_back,
						setup_or_clean, teardown),
		cmocka_unit_test_setup_teardown(test_leftover_address,
						setup_or_clean, teardown),
	};

	if (getenv("DUET_PAIR_TESTS"))
		cmocka_set_test_filter(getenv("DUET_PAIR_TESTS"));
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
