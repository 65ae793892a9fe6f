// SPDX-License-Identifier: Apache-2.0
/* Failover state machine: every transition driven by fake events, fake
 * time; a simulated pair checks that no address is ever held twice. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "duet/ha_fsm.h"
#include "duet/util.h"

#define MAX_REC 64

struct rec {
	struct ha_action a[MAX_REC];
	int n;
	char log[MAX_REC][256];
	int nlog;
	int fail_type; /* action type to fail, -1 none */
	int fail_rc;
	struct ha_fsm *reenter; /* call back into this fsm from act() */
	int reenter_rc;
};

static uint32_t all_hits[HA_FSM_MAX_ROWS];

static int rec_act(void *ctx, const struct ha_action *a)
{
	struct rec *r = ctx;

	if (r->n < MAX_REC)
		r->a[r->n++] = *a;
	if (r->reenter)
		r->reenter_rc = ha_fsm_event(r->reenter, HA_EV_LOCAL_UP, 0, 0);
	if ((int)a->type == r->fail_type)
		return r->fail_rc;
	return 0;
}

static void rec_log(void *ctx, enum ha_log_level lvl, const char *line)
{
	struct rec *r = ctx;

	(void)lvl;
	if (r->nlog < MAX_REC)
		snprintf(r->log[r->nlog++], sizeof(r->log[0]), "%s", line);
}

static const struct ha_fsm_ops rec_ops = {.act = rec_act, .log = rec_log};

static const struct ha_fsm_cfg base_cfg = {
	.node = "a",
	.takeover_form = true,
	.start_timeout_ms = 10000,
	.takeover_timeout_ms = 2000,
	.retry_ms = 1000,
	.drain_timeout_ms = 5000,
	.giveback_timeout_ms = 3000,
	.ic_hold_ms = 10000,
	.reclaim_wait_ms = 11500,
};

struct t {
	struct ha_fsm f;
	struct rec r;
	uint64_t now;
};

static void t_init(struct t *t, bool takeover)
{
	struct ha_fsm_cfg cfg = base_cfg;

	memset(t, 0, sizeof(*t));
	t->r.fail_type = -1;
	cfg.takeover_form = takeover;
	t->now = 1000;
	ha_fsm_init(&t->f, &cfg, &rec_ops, &t->r, t->now);
}

static void t_done(struct t *t)
{
	size_t i, n;

	ha_fsm_table(&n);
	for (i = 0; i < n; i++)
		all_hits[i] += t->f.hits[i];
}

static void clear(struct t *t)
{
	t->r.n = 0;
	t->r.nlog = 0;
}

static int ev(struct t *t, enum ha_event e)
{
	clear(t);
	return ha_fsm_event(&t->f, e, 0, t->now);
}

static int sync_ev(struct t *t, uint32_t bits)
{
	clear(t);
	return ha_fsm_event(&t->f, HA_EV_PEER_SYNC, bits, t->now);
}

static void tick_at(struct t *t, uint64_t now)
{
	clear(t);
	t->now = now;
	ha_fsm_tick(&t->f, now);
}

/* Expect exactly this action list (type, msg for sends). */
#define A(t) (t)
#define SEND(m) (HA_ACT__COUNT + (m))
static void expect_acts(struct t *t, int n, ...)
{
	va_list ap;
	int i;

	va_start(ap, n);
	for (i = 0; i < n; i++) {
		int want = va_arg(ap, int);
		int got;

		assert_true(i < t->r.n);
		got = t->r.a[i].type == HA_ACT_SEND
			      ? HA_ACT__COUNT + (int)t->r.a[i].msg
			      : (int)t->r.a[i].type;
		if (got != want)
			fail_msg("action %d: got %d want %d", i, got, want);
	}
	va_end(ap);
	assert_int_equal(t->r.n, n);
}

static void expect_state(struct t *t, enum ha_state s)
{
	if (ha_fsm_state(&t->f) != s)
		fail_msg("state %s, want %s",
			 ha_state_name(ha_fsm_state(&t->f)), ha_state_name(s));
}

/* ---- paths to states --------------------------------------------------- */

static void to_normal(struct t *t)
{
	assert_int_equal(ev(t, HA_EV_LOCAL_UP), -ENOENT);
	assert_int_equal(ev(t, HA_EV_IC_UP), 0);
	expect_state(t, HA_ST_SYNCING);
	assert_int_equal(sync_ev(t, HA_SYNC_PATH_UP | HA_SYNC_HOLDS_OWN), 0);
	expect_state(t, HA_ST_NORMAL);
	clear(t);
}

static void to_proxying(struct t *t)
{
	to_normal(t);
	assert_int_equal(ev(t, HA_EV_PEER_DOWN), 0);
	expect_state(t, HA_ST_TAKING_OVER);
	assert_int_equal(ev(t, HA_EV_RELEASED), 0);
	expect_state(t, HA_ST_PROXYING);
	clear(t);
}

static void to_giving_back(struct t *t)
{
	to_proxying(t);
	assert_int_equal(ev(t, HA_EV_PEER_UP), 0);
	expect_state(t, HA_ST_GIVING_BACK);
	clear(t);
}

static void to_partner_proxying(struct t *t)
{
	to_normal(t);
	ev(t, HA_EV_LOCAL_DOWN);
	expect_state(t, HA_ST_LOCAL_DOWN);
	ev(t, HA_EV_TAKEOVER_REQ);
	expect_state(t, HA_ST_PARTNER_PROXYING);
	clear(t);
}

/* ---- boot and sync ----------------------------------------------------- */

static void test_boot_sync_normal(void **state)
{
	struct t t;

	(void)state;
	t_init(&t, true);
	expect_state(&t, HA_ST_STARTING);
	assert_int_equal(ha_fsm_deadline(&t.f), 1000 + 10000);
	assert_int_equal(ev(&t, HA_EV_LOCAL_UP), -ENOENT);
	assert_int_equal(ev(&t, HA_EV_IC_UP), 0);
	expect_state(&t, HA_ST_SYNCING);
	expect_acts(&t, 1, SEND(HA_MSG_SYNC));
	assert_int_equal(t.r.a[0].arg, HA_SYNC_PATH_UP);
	assert_int_equal(ha_fsm_deadline(&t.f), 0);
	sync_ev(&t, HA_SYNC_PATH_UP | HA_SYNC_HOLDS_OWN);
	expect_state(&t, HA_ST_NORMAL);
	expect_acts(&t, 2, HA_ACT_OWN_SERVE, HA_ACT_OWN_ADDRS_ADD);
	assert_true(t.f.own_held);
	assert_false(t.f.partner_may_hold);
	assert_string_equal(t.r.log[0],
			    "ha: node a: SYNCING -> NORMAL (peer-sync, "
			    "sync_reclaim)");
	t_done(&t);
}

static void test_boot_timeout_claims(void **state)
{
	struct t t;

	(void)state;
	/* portal form: no address can be on two hosts, claim at once */
	t_init(&t, false);
	ev(&t, HA_EV_LOCAL_UP);
	tick_at(&t, 10999);
	expect_state(&t, HA_ST_STARTING);
	assert_int_equal(t.r.n, 0);
	tick_at(&t, 11000);
	expect_state(&t, HA_ST_IC_DOWN);
	expect_acts(&t, 1, HA_ACT_OWN_SERVE);
	assert_non_null(strstr(t.r.log[0], "claiming own portal addresses"));
	/* no address moves while the interconnect is down */
	assert_int_equal(ev(&t, HA_EV_LOCAL_DOWN), -ENOENT);
	assert_int_equal(t.r.n, 0);
	assert_int_equal(ev(&t, HA_EV_PEER_DOWN), -ENOENT);
	assert_int_equal(t.r.n, 0);
	assert_int_equal(ha_fsm_own_probe_at(&t.f), 0);
	t_done(&t);
}

/* Takeover form: a lone start claims its addresses only after a probe of
 * the client network found them free, and not before a partner that
 * proxied for us has had its ic_hold_ms to let them go. */
static void test_boot_timeout_probes(void **state)
{
	struct t t;

	(void)state;
	t_init(&t, true);
	ev(&t, HA_EV_LOCAL_UP);
	assert_int_equal(ha_fsm_own_probe_at(&t.f), 0); /* STARTING */
	tick_at(&t, 11000);
	expect_state(&t, HA_ST_IC_DOWN_RELEASED);
	assert_int_equal(t.r.n, 0);
	assert_non_null(strstr(t.r.log[0], "probing the client network"));
	assert_true(t.f.partner_may_hold);
	/* IC down since start (1000) + reclaim wait */
	assert_int_equal(ha_fsm_own_probe_at(&t.f), 1000 + 11500);
	t.now = 12499;
	assert_int_equal(ev(&t, HA_EV_OWN_ADDRS_FREE), -ENOENT);
	expect_state(&t, HA_ST_IC_DOWN_RELEASED);
	assert_int_equal(t.r.n, 0);
	t.now = 12500;
	assert_int_equal(ev(&t, HA_EV_OWN_ADDRS_FREE), 0);
	expect_state(&t, HA_ST_IC_DOWN);
	expect_acts(&t, 2, HA_ACT_OWN_SERVE, HA_ACT_OWN_ADDRS_ADD);
	assert_true(t.f.own_held);
	assert_false(t.f.partner_may_hold);
	assert_int_equal(ha_fsm_own_probe_at(&t.f), 0);
	/* IC back: sync says we hold ours */
	ev(&t, HA_EV_IC_UP);
	expect_state(&t, HA_ST_NORMAL);
	expect_acts(&t, 1, SEND(HA_MSG_SYNC));
	assert_int_equal(t.r.a[0].arg, HA_SYNC_PATH_UP | HA_SYNC_HOLDS_OWN);
	t_done(&t);

	/* a probe result with our path down is ignored */
	t_init(&t, true);
	ev(&t, HA_EV_LOCAL_UP);
	tick_at(&t, 20000);
	ev(&t, HA_EV_LOCAL_DOWN);
	assert_int_equal(ha_fsm_own_probe_at(&t.f), 0);
	assert_int_equal(ev(&t, HA_EV_OWN_ADDRS_FREE), -ENOENT);
	assert_int_equal(t.r.n, 0);
	t_done(&t);
}

static void test_boot_timeout_path_down(void **state)
{
	struct t t;

	(void)state;
	/* portal form: nobody can hold our addresses, reclaim on path up */
	t_init(&t, false);
	tick_at(&t, 20000);
	expect_state(&t, HA_ST_IC_DOWN_RELEASED);
	assert_int_equal(t.r.n, 0);
	ev(&t, HA_EV_LOCAL_UP);
	expect_state(&t, HA_ST_IC_DOWN);
	expect_acts(&t, 1, HA_ACT_OWN_SERVE);
	ev(&t, HA_EV_IC_UP);
	expect_state(&t, HA_ST_NORMAL);
	expect_acts(&t, 1, SEND(HA_MSG_SYNC));
	assert_int_equal(t.r.a[0].arg, HA_SYNC_PATH_UP | HA_SYNC_HOLDS_OWN);
	t_done(&t);

	/* takeover form: the partner may hold them, path up alone is not
	 * enough: the probe decides */
	t_init(&t, true);
	tick_at(&t, 20000);
	expect_state(&t, HA_ST_IC_DOWN_RELEASED);
	assert_true(t.f.partner_may_hold);
	assert_int_equal(ha_fsm_own_probe_at(&t.f), 0);
	assert_int_equal(ev(&t, HA_EV_LOCAL_UP), -ENOENT);
	assert_int_equal(t.r.n, 0);
	assert_int_equal(ha_fsm_own_probe_at(&t.f), 1000 + 11500);
	ev(&t, HA_EV_OWN_ADDRS_FREE);
	expect_state(&t, HA_ST_IC_DOWN);
	expect_acts(&t, 2, HA_ACT_OWN_SERVE, HA_ACT_OWN_ADDRS_ADD);
	t_done(&t);
}

static void test_sync_partner_holds(void **state)
{
	struct t t;

	(void)state;
	/* owner restarted while the partner proxies, path up */
	t_init(&t, true);
	ev(&t, HA_EV_LOCAL_UP);
	ev(&t, HA_EV_IC_UP);
	sync_ev(&t, HA_SYNC_PATH_UP | HA_SYNC_HOLDS_OWN | HA_SYNC_HOLDS_YOURS);
	expect_state(&t, HA_ST_TAKING_BACK);
	assert_int_equal(t.r.n, 0);
	assert_true(t.f.partner_may_hold);
	ev(&t, HA_EV_GIVEBACK);
	expect_state(&t, HA_ST_NORMAL);
	expect_acts(&t, 3, HA_ACT_OWN_SERVE, HA_ACT_OWN_ADDRS_ADD,
		    SEND(HA_MSG_TAKEN_BACK));
	t_done(&t);

	/* same, path down */
	t_init(&t, true);
	ev(&t, HA_EV_IC_UP);
	sync_ev(&t, HA_SYNC_PATH_UP | HA_SYNC_HOLDS_YOURS);
	expect_state(&t, HA_ST_PARTNER_PROXYING);
	assert_int_equal(t.r.n, 0);
	t_done(&t);
}

static void test_sync_idle_path_down(void **state)
{
	struct t t;

	(void)state;
	t_init(&t, true);
	ev(&t, HA_EV_IC_UP);
	sync_ev(&t, HA_SYNC_PATH_UP | HA_SYNC_HOLDS_OWN);
	expect_state(&t, HA_ST_LOCAL_DOWN);
	assert_int_equal(t.r.n, 0);
	assert_false(t.f.own_held);
	ev(&t, HA_EV_LOCAL_UP);
	expect_state(&t, HA_ST_NORMAL);
	expect_acts(&t, 3, HA_ACT_OWN_SERVE, HA_ACT_OWN_ADDRS_ADD,
		    SEND(HA_MSG_PATH_UP));
	t_done(&t);
}

static void test_syncing_takeover_req_and_ic_down(void **state)
{
	struct t t;

	(void)state;
	t_init(&t, true);
	ev(&t, HA_EV_IC_UP);
	ev(&t, HA_EV_TAKEOVER_REQ);
	expect_state(&t, HA_ST_PARTNER_PROXYING);
	expect_acts(&t, 1, SEND(HA_MSG_RELEASED));
	t_done(&t);

	/* IC lost before any sync: back to STARTING with its timer */
	t_init(&t, true);
	ev(&t, HA_EV_IC_UP);
	t.now = 5000;
	ev(&t, HA_EV_IC_DOWN);
	expect_state(&t, HA_ST_STARTING);
	assert_int_equal(ha_fsm_deadline(&t.f), 5000 + 10000);
	t_done(&t);

	/* IC lost in SYNCING after having synced once */
	t_init(&t, true);
	to_partner_proxying(&t);
	ev(&t, HA_EV_IC_DOWN);
	expect_state(&t, HA_ST_IC_DOWN_RELEASED);
	ev(&t, HA_EV_IC_UP);
	expect_state(&t, HA_ST_SYNCING);
	expect_acts(&t, 1, SEND(HA_MSG_SYNC));
	assert_int_equal(t.r.a[0].arg, 0);
	ev(&t, HA_EV_IC_DOWN);
	expect_state(&t, HA_ST_IC_DOWN_RELEASED);
	t_done(&t);
}

/* ---- proxy side ------------------------------------------------------- */

static void test_failover_and_giveback(void **state)
{
	struct t t;

	(void)state;
	t_init(&t, true);
	to_normal(&t);
	assert_int_equal(ev(&t, HA_EV_PEER_DOWN), 0);
	expect_state(&t, HA_ST_TAKING_OVER);
	expect_acts(&t, 1, SEND(HA_MSG_TAKEOVER_REQ));
	assert_int_equal(ha_fsm_deadline(&t.f), t.now + 2000);
	ev(&t, HA_EV_RELEASED);
	expect_state(&t, HA_ST_PROXYING);
	/* serving before the address and ARP go out */
	expect_acts(&t, 2, HA_ACT_PROXY_OPEN, HA_ACT_PARTNER_ADDRS_ADD);
	assert_true(t.f.partner_held && t.f.proxy_open);
	assert_int_equal(ev(&t, HA_EV_PEER_DOWN), -ENOENT);
	ev(&t, HA_EV_PEER_UP);
	expect_state(&t, HA_ST_GIVING_BACK);
	expect_acts(&t, 2, HA_ACT_PROXY_STOP_ACCEPT, HA_ACT_PROXY_DRAIN);
	ev(&t, HA_EV_DRAIN_DONE);
	expect_state(&t, HA_ST_GIVEBACK_WAIT);
	expect_acts(&t, 2, HA_ACT_PARTNER_ADDRS_DEL, SEND(HA_MSG_GIVEBACK));
	assert_false(t.f.partner_held);
	ev(&t, HA_EV_TAKEN_BACK);
	expect_state(&t, HA_ST_NORMAL);
	expect_acts(&t, 2, HA_ACT_PROXY_DROP_SESSIONS, HA_ACT_PROXY_CLOSE);
	assert_false(t.f.proxy_open);
	assert_int_equal(ha_fsm_deadline(&t.f), 0);
	t_done(&t);
}

static void test_failover_portal_form(void **state)
{
	struct t t;
	int i;

	(void)state;
	t_init(&t, false);
	to_normal(&t);
	ev(&t, HA_EV_PEER_DOWN);
	ev(&t, HA_EV_RELEASED);
	expect_state(&t, HA_ST_PROXYING);
	expect_acts(&t, 1, HA_ACT_PROXY_OPEN);
	ev(&t, HA_EV_PEER_UP);
	ev(&t, HA_EV_DRAIN_DONE);
	expect_acts(&t, 1, SEND(HA_MSG_GIVEBACK));
	ev(&t, HA_EV_TAKEN_BACK);
	expect_state(&t, HA_ST_NORMAL);
	ev(&t, HA_EV_LOCAL_DOWN);
	expect_acts(&t, 1, SEND(HA_MSG_PATH_DOWN));
	for (i = 0; i < t.r.n; i++)
		assert_true(t.r.a[i].type != HA_ACT_OWN_ADDRS_DEL);
	t_done(&t);
}

static void test_unreachable_peer(void **state)
{
	struct t t;

	(void)state;
	t_init(&t, true);
	to_normal(&t);
	ev(&t, HA_EV_PEER_UNREACHABLE);
	expect_state(&t, HA_ST_TAKING_OVER);
	expect_acts(&t, 1, SEND(HA_MSG_TAKEOVER_REQ));
	ev(&t, HA_EV_RELEASED);
	expect_state(&t, HA_ST_PROXYING);
	/* path report alone does not give back while unreachable */
	assert_int_equal(ev(&t, HA_EV_PEER_UP), -ENOENT);
	ev(&t, HA_EV_PEER_REACHABLE);
	expect_state(&t, HA_ST_GIVING_BACK);
	ev(&t, HA_EV_PEER_UNREACHABLE);
	expect_state(&t, HA_ST_PROXYING);
	expect_acts(&t, 1, HA_ACT_PROXY_OPEN);
	t_done(&t);

	/* TAKING_OVER cancelled when the peer becomes reachable */
	t_init(&t, true);
	to_normal(&t);
	ev(&t, HA_EV_PEER_UNREACHABLE);
	ev(&t, HA_EV_PEER_REACHABLE);
	expect_state(&t, HA_ST_NORMAL);
	assert_int_equal(t.r.n, 0);
	/* a late RELEASED is refused: we do not hold them */
	ev(&t, HA_EV_RELEASED);
	expect_state(&t, HA_ST_NORMAL);
	expect_acts(&t, 1, SEND(HA_MSG_GIVEBACK));
	t_done(&t);
}

static void test_takeover_cancel_and_refuse(void **state)
{
	struct t t;

	(void)state;
	t_init(&t, true);
	to_normal(&t);
	ev(&t, HA_EV_PEER_DOWN);
	ev(&t, HA_EV_PEER_UP);
	expect_state(&t, HA_ST_NORMAL);
	assert_int_equal(ha_fsm_deadline(&t.f), 0);
	/* RELEASED crossing our cancel in TAKING_OVER */
	ev(&t, HA_EV_PEER_DOWN);
	t.f.peer_path_up = true; /* report crossed */
	ev(&t, HA_EV_RELEASED);
	expect_state(&t, HA_ST_NORMAL);
	expect_acts(&t, 1, SEND(HA_MSG_GIVEBACK));
	/* partner gives back what we never took: just ack */
	ev(&t, HA_EV_GIVEBACK);
	expect_state(&t, HA_ST_NORMAL);
	expect_acts(&t, 1, SEND(HA_MSG_TAKEN_BACK));
	ev(&t, HA_EV_PEER_DOWN);
	ev(&t, HA_EV_GIVEBACK);
	expect_state(&t, HA_ST_TAKING_OVER);
	expect_acts(&t, 1, SEND(HA_MSG_TAKEN_BACK));
	t_done(&t);
}

static void test_takeover_timeout_retry(void **state)
{
	struct t t;

	(void)state;
	t_init(&t, true);
	to_normal(&t);
	t.now = 50000;
	ev(&t, HA_EV_PEER_DOWN);
	tick_at(&t, 51999);
	expect_state(&t, HA_ST_TAKING_OVER);
	tick_at(&t, 52000);
	expect_state(&t, HA_ST_NORMAL);
	assert_int_equal(t.r.n, 0);
	assert_int_equal(ha_fsm_deadline(&t.f), 53000);
	tick_at(&t, 53000);
	expect_state(&t, HA_ST_TAKING_OVER);
	expect_acts(&t, 1, SEND(HA_MSG_TAKEOVER_REQ));
	tick_at(&t, 55000);
	expect_state(&t, HA_ST_NORMAL);
	/* late RELEASED while the peer is still bad: take over */
	ev(&t, HA_EV_RELEASED);
	expect_state(&t, HA_ST_PROXYING);
	expect_acts(&t, 2, HA_ACT_PROXY_OPEN, HA_ACT_PARTNER_ADDRS_ADD);
	t_done(&t);

	/* retry timer that finds the peer healthy is dropped quietly */
	t_init(&t, true);
	to_normal(&t);
	ev(&t, HA_EV_PEER_DOWN);
	tick_at(&t, t.now + 2000);
	ev(&t, HA_EV_PEER_UP);
	tick_at(&t, t.now + 1000);
	expect_state(&t, HA_ST_NORMAL);
	assert_int_equal(t.r.n, 0);
	assert_int_equal(ha_fsm_deadline(&t.f), 0);
	t_done(&t);
}

static void test_takeover_fails(void **state)
{
	struct t t;

	(void)state;
	t_init(&t, true);
	to_normal(&t);
	ev(&t, HA_EV_PEER_DOWN);
	t.r.fail_type = HA_ACT_PROXY_OPEN;
	t.r.fail_rc = -EADDRINUSE;
	ev(&t, HA_EV_RELEASED);
	expect_state(&t, HA_ST_NORMAL);
	expect_acts(&t, 2, HA_ACT_PROXY_OPEN, SEND(HA_MSG_GIVEBACK));
	assert_false(t.f.proxy_open || t.f.partner_held);
	assert_int_equal(ha_fsm_deadline(&t.f), t.now + 1000);
	t_done(&t);

	t_init(&t, true);
	to_normal(&t);
	ev(&t, HA_EV_PEER_DOWN);
	t.r.fail_type = HA_ACT_PARTNER_ADDRS_ADD;
	t.r.fail_rc = -EPERM;
	ev(&t, HA_EV_RELEASED);
	expect_state(&t, HA_ST_NORMAL);
	expect_acts(&t, 5, HA_ACT_PROXY_OPEN, HA_ACT_PARTNER_ADDRS_ADD,
		    HA_ACT_PARTNER_ADDRS_DEL, HA_ACT_PROXY_CLOSE,
		    SEND(HA_MSG_GIVEBACK));
	assert_false(t.f.proxy_open || t.f.partner_held);
	t_done(&t);
}

static void test_drain_and_giveback_timeouts(void **state)
{
	struct t t;

	(void)state;
	t_init(&t, true);
	to_giving_back(&t);
	tick_at(&t, t.now + 5000);
	expect_state(&t, HA_ST_GIVEBACK_WAIT);
	expect_acts(&t, 2, HA_ACT_PARTNER_ADDRS_DEL, SEND(HA_MSG_GIVEBACK));
	assert_non_null(strstr(t.r.log[0], "still busy"));
	tick_at(&t, t.now + 3000);
	expect_state(&t, HA_ST_NORMAL);
	expect_acts(&t, 2, HA_ACT_PROXY_DROP_SESSIONS, HA_ACT_PROXY_CLOSE);
	t_done(&t);
}

static void test_giveback_peer_fails_again(void **state)
{
	struct t t;

	(void)state;
	t_init(&t, true);
	to_giving_back(&t);
	ev(&t, HA_EV_PEER_DOWN);
	expect_state(&t, HA_ST_PROXYING);
	expect_acts(&t, 1, HA_ACT_PROXY_OPEN);
	t_done(&t);

	/* peer fails just after GIVEBACK: once acked, we take over again */
	t_init(&t, true);
	to_giving_back(&t);
	ev(&t, HA_EV_DRAIN_DONE);
	ev(&t, HA_EV_PEER_DOWN);
	expect_state(&t, HA_ST_GIVEBACK_WAIT);
	ev(&t, HA_EV_TAKEN_BACK);
	expect_state(&t, HA_ST_TAKING_OVER);
	expect_acts(&t, 3, HA_ACT_PROXY_DROP_SESSIONS, HA_ACT_PROXY_CLOSE,
		    SEND(HA_MSG_TAKEOVER_REQ));
	t_done(&t);
}

static void test_local_down_while_proxying(void **state)
{
	struct t t;

	(void)state;
	t_init(&t, true);
	to_proxying(&t);
	ev(&t, HA_EV_LOCAL_DOWN);
	expect_state(&t, HA_ST_LOCAL_DOWN);
	expect_acts(&t, 7, HA_ACT_PROXY_STOP_ACCEPT, HA_ACT_PROXY_DROP_SESSIONS,
		    HA_ACT_PARTNER_ADDRS_DEL, HA_ACT_PROXY_CLOSE,
		    SEND(HA_MSG_GIVEBACK), HA_ACT_OWN_ADDRS_DEL,
		    SEND(HA_MSG_PATH_DOWN));
	assert_false(t.f.own_held || t.f.partner_held || t.f.proxy_open);
	t_done(&t);

	t_init(&t, true);
	to_giving_back(&t);
	ev(&t, HA_EV_LOCAL_DOWN);
	expect_state(&t, HA_ST_LOCAL_DOWN);
	assert_false(t.f.own_held || t.f.partner_held || t.f.proxy_open);
	t_done(&t);

	t_init(&t, true);
	to_giving_back(&t);
	ev(&t, HA_EV_DRAIN_DONE);
	ev(&t, HA_EV_LOCAL_DOWN);
	expect_state(&t, HA_ST_LOCAL_DOWN);
	expect_acts(&t, 4, HA_ACT_PROXY_DROP_SESSIONS, HA_ACT_PROXY_CLOSE,
		    HA_ACT_OWN_ADDRS_DEL, SEND(HA_MSG_PATH_DOWN));
	t_done(&t);

	t_init(&t, true);
	to_normal(&t);
	ev(&t, HA_EV_PEER_DOWN);
	ev(&t, HA_EV_LOCAL_DOWN);
	expect_state(&t, HA_ST_LOCAL_DOWN);
	expect_acts(&t, 2, HA_ACT_OWN_ADDRS_DEL, SEND(HA_MSG_PATH_DOWN));
	t_done(&t);
}

/* ---- owner side ------------------------------------------------------- */

static void test_owner_failover_and_takeback(void **state)
{
	struct t t;

	(void)state;
	t_init(&t, true);
	to_normal(&t);
	ev(&t, HA_EV_LOCAL_DOWN);
	expect_state(&t, HA_ST_LOCAL_DOWN);
	/* drop before telling the partner */
	expect_acts(&t, 2, HA_ACT_OWN_ADDRS_DEL, SEND(HA_MSG_PATH_DOWN));
	ev(&t, HA_EV_TAKEOVER_REQ);
	expect_state(&t, HA_ST_PARTNER_PROXYING);
	expect_acts(&t, 1, SEND(HA_MSG_RELEASED));
	ev(&t, HA_EV_TAKEOVER_REQ); /* duplicate: answered again */
	expect_acts(&t, 1, SEND(HA_MSG_RELEASED));
	ev(&t, HA_EV_LOCAL_UP);
	expect_state(&t, HA_ST_TAKING_BACK);
	expect_acts(&t, 1, SEND(HA_MSG_PATH_UP));
	ev(&t, HA_EV_LOCAL_DOWN);
	expect_state(&t, HA_ST_PARTNER_PROXYING);
	expect_acts(&t, 1, SEND(HA_MSG_PATH_DOWN));
	ev(&t, HA_EV_LOCAL_UP);
	ev(&t, HA_EV_TAKEOVER_REQ);
	expect_state(&t, HA_ST_TAKING_BACK);
	expect_acts(&t, 1, SEND(HA_MSG_RELEASED));
	ev(&t, HA_EV_GIVEBACK);
	expect_state(&t, HA_ST_NORMAL);
	/* serve, then announce, then ack */
	expect_acts(&t, 3, HA_ACT_OWN_SERVE, HA_ACT_OWN_ADDRS_ADD,
		    SEND(HA_MSG_TAKEN_BACK));
	assert_false(t.f.partner_may_hold);
	t_done(&t);
}

static void test_owner_release_on_request(void **state)
{
	struct t t;

	(void)state;
	/* partner finds us unreachable: we release though our path is up */
	t_init(&t, true);
	to_normal(&t);
	ev(&t, HA_EV_TAKEOVER_REQ);
	expect_state(&t, HA_ST_PARTNER_PROXYING);
	expect_acts(&t, 2, HA_ACT_OWN_ADDRS_DEL, SEND(HA_MSG_RELEASED));
	ev(&t, HA_EV_GIVEBACK);
	expect_state(&t, HA_ST_NORMAL);
	t_done(&t);

	/* partner gives back while our path is still down */
	t_init(&t, true);
	to_partner_proxying(&t);
	ev(&t, HA_EV_GIVEBACK);
	expect_state(&t, HA_ST_LOCAL_DOWN);
	expect_acts(&t, 1, SEND(HA_MSG_TAKEN_BACK));
	assert_false(t.f.partner_may_hold);
	/* a stray RELEASED or GIVEBACK in LOCAL_DOWN is answered */
	ev(&t, HA_EV_RELEASED);
	expect_acts(&t, 1, SEND(HA_MSG_GIVEBACK));
	ev(&t, HA_EV_GIVEBACK);
	expect_acts(&t, 1, SEND(HA_MSG_TAKEN_BACK));
	expect_state(&t, HA_ST_LOCAL_DOWN);
	t_done(&t);
}

/* ---- interconnect down ------------------------------------------------ */

static void test_ic_down_normal(void **state)
{
	struct t t;

	(void)state;
	t_init(&t, true);
	to_normal(&t);
	ev(&t, HA_EV_IC_DOWN);
	expect_state(&t, HA_ST_IC_DOWN);
	assert_int_equal(t.r.n, 0);
	assert_int_equal(ev(&t, HA_EV_LOCAL_DOWN), -ENOENT);
	assert_int_equal(t.r.n, 0); /* no report, no address move */
	assert_int_equal(ev(&t, HA_EV_PEER_UNREACHABLE), -ENOENT);
	assert_int_equal(ev(&t, HA_EV_IC_UP), 0);
	expect_state(&t, HA_ST_LOCAL_DOWN);
	expect_acts(&t, 2, HA_ACT_OWN_ADDRS_DEL, SEND(HA_MSG_SYNC));
	assert_int_equal(t.r.a[1].arg, 0);
	t_done(&t);

	/* IC back with the peer known bad: no decision on stale facts,
	 * takeover starts once the partner's SYNC confirms */
	t_init(&t, true);
	to_normal(&t);
	ev(&t, HA_EV_IC_DOWN);
	ev(&t, HA_EV_PEER_UNREACHABLE);
	ev(&t, HA_EV_PEER_DOWN);
	ev(&t, HA_EV_IC_UP);
	expect_state(&t, HA_ST_NORMAL);
	expect_acts(&t, 1, SEND(HA_MSG_SYNC));
	sync_ev(&t, HA_SYNC_PATH_UP | HA_SYNC_HOLDS_OWN);
	expect_state(&t, HA_ST_TAKING_OVER);
	expect_acts(&t, 1, SEND(HA_MSG_TAKEOVER_REQ));
	ev(&t, HA_EV_IC_DOWN);
	expect_state(&t, HA_ST_IC_DOWN);
	t_done(&t);

	/* a SYNC saying the partner is fine cancels a pending takeover */
	t_init(&t, true);
	to_normal(&t);
	ev(&t, HA_EV_PEER_DOWN);
	expect_state(&t, HA_ST_TAKING_OVER);
	sync_ev(&t, HA_SYNC_PATH_UP | HA_SYNC_HOLDS_OWN);
	expect_state(&t, HA_ST_NORMAL);
	assert_int_equal(t.r.n, 0);
	t_done(&t);

	/* we dropped ours on IC up; the partner says it holds them */
	t_init(&t, true);
	to_normal(&t);
	ev(&t, HA_EV_IC_DOWN);
	ev(&t, HA_EV_LOCAL_DOWN);
	ev(&t, HA_EV_IC_UP);
	expect_state(&t, HA_ST_LOCAL_DOWN);
	sync_ev(&t, HA_SYNC_PATH_UP | HA_SYNC_HOLDS_OWN | HA_SYNC_HOLDS_YOURS);
	expect_state(&t, HA_ST_PARTNER_PROXYING);
	assert_true(t.f.partner_may_hold);
	t_done(&t);
}

static void test_ic_down_proxying(void **state)
{
	struct t t;

	(void)state;
	t_init(&t, true);
	to_proxying(&t);
	ev(&t, HA_EV_IC_DOWN);
	expect_state(&t, HA_ST_IC_DOWN_PROXYING);
	assert_int_equal(t.r.n, 0);
	assert_int_equal(ev(&t, HA_EV_PEER_UP), -ENOENT);
	assert_int_equal(ev(&t, HA_EV_LOCAL_DOWN), -ENOENT);
	assert_int_equal(t.r.n, 0);
	ev(&t, HA_EV_LOCAL_UP);
	ev(&t, HA_EV_IC_UP);
	expect_state(&t, HA_ST_PROXYING);
	expect_acts(&t, 1, SEND(HA_MSG_SYNC));
	assert_int_equal(t.r.a[0].arg, HA_SYNC_PATH_UP | HA_SYNC_HOLDS_OWN |
					       HA_SYNC_HOLDS_YOURS);
	/* the partner's sync says its path is up: give back */
	sync_ev(&t, HA_SYNC_PATH_UP);
	expect_state(&t, HA_ST_GIVING_BACK);
	ev(&t, HA_EV_IC_DOWN);
	expect_state(&t, HA_ST_IC_DOWN_PROXYING);
	expect_acts(&t, 1, HA_ACT_PROXY_OPEN);
	t_done(&t);

	/* IC back while our own path is down: stop proxying */
	t_init(&t, true);
	to_proxying(&t);
	ev(&t, HA_EV_IC_DOWN);
	ev(&t, HA_EV_LOCAL_DOWN);
	ev(&t, HA_EV_IC_UP);
	expect_state(&t, HA_ST_LOCAL_DOWN);
	expect_acts(&t, 7, SEND(HA_MSG_SYNC), HA_ACT_PROXY_STOP_ACCEPT,
		    HA_ACT_PROXY_DROP_SESSIONS, HA_ACT_PARTNER_ADDRS_DEL,
		    HA_ACT_PROXY_CLOSE, SEND(HA_MSG_GIVEBACK),
		    HA_ACT_OWN_ADDRS_DEL);
	t_done(&t);

	/* IC lost while waiting for TAKEN_BACK */
	t_init(&t, true);
	to_giving_back(&t);
	ev(&t, HA_EV_DRAIN_DONE);
	ev(&t, HA_EV_IC_DOWN);
	expect_state(&t, HA_ST_IC_DOWN);
	expect_acts(&t, 2, HA_ACT_PROXY_DROP_SESSIONS, HA_ACT_PROXY_CLOSE);
	t_done(&t);
}

/* Interconnect down ic_hold_ms while proxying (takeover form): the
 * partner's addresses are released so that the partner, whose path may
 * be back, can serve them itself; the normal rows apply once it returns. */
static void test_ic_hold_release(void **state)
{
	struct t t;
	int i;

	(void)state;
	t_init(&t, true);
	to_proxying(&t);
	t.now = 40000;
	ev(&t, HA_EV_IC_DOWN);
	expect_state(&t, HA_ST_IC_DOWN_PROXYING);
	assert_int_equal(ha_fsm_deadline(&t.f), 40000 + 10000);
	tick_at(&t, 49999);
	expect_state(&t, HA_ST_IC_DOWN_PROXYING);
	assert_int_equal(t.r.n, 0);
	tick_at(&t, 50000);
	expect_state(&t, HA_ST_IC_DOWN);
	/* no GIVEBACK: there is no link to carry it */
	expect_acts(&t, 4, HA_ACT_PROXY_STOP_ACCEPT, HA_ACT_PROXY_DROP_SESSIONS,
		    HA_ACT_PARTNER_ADDRS_DEL, HA_ACT_PROXY_CLOSE);
	assert_non_null(strstr(t.r.log[0], "releasing the partner's"));
	assert_false(t.f.partner_held || t.f.proxy_open);
	assert_true(t.f.own_held);
	assert_int_equal(ha_fsm_deadline(&t.f), 0);
	/* the interconnect returns, the partner's path still down:
	 * take over again through the ordinary rows */
	ev(&t, HA_EV_IC_UP);
	expect_state(&t, HA_ST_NORMAL);
	expect_acts(&t, 1, SEND(HA_MSG_SYNC));
	assert_int_equal(t.r.a[0].arg, HA_SYNC_PATH_UP | HA_SYNC_HOLDS_OWN);
	sync_ev(&t, 0);
	expect_state(&t, HA_ST_TAKING_OVER);
	expect_acts(&t, 1, SEND(HA_MSG_TAKEOVER_REQ));
	t_done(&t);

	/* giving back when the IC went: same hold timer */
	t_init(&t, true);
	to_giving_back(&t);
	ev(&t, HA_EV_IC_DOWN);
	expect_state(&t, HA_ST_IC_DOWN_PROXYING);
	assert_int_equal(ha_fsm_deadline(&t.f), t.now + 10000);
	t_done(&t);

	/* portal form: nothing to release, no timer */
	t_init(&t, false);
	to_proxying(&t);
	ev(&t, HA_EV_IC_DOWN);
	expect_state(&t, HA_ST_IC_DOWN_PROXYING);
	assert_int_equal(ha_fsm_deadline(&t.f), 0);
	for (i = 0; i < t.r.n; i++)
		assert_true(t.r.a[i].type != HA_ACT_PARTNER_ADDRS_DEL);
	t_done(&t);
}

/* The owner whose partner proxied for it, interconnect down (partner
 * dead, or cut): once the partner has had its ic_hold_ms, a probe that
 * finds our addresses free lets us claim them. */
static void test_ic_down_owner_reclaims(void **state)
{
	struct t t;

	(void)state;
	t_init(&t, true);
	to_partner_proxying(&t);
	t.now = 30000;
	ev(&t, HA_EV_IC_DOWN);
	expect_state(&t, HA_ST_IC_DOWN_RELEASED);
	assert_true(t.f.partner_may_hold);
	/* own path still down: no probe */
	assert_int_equal(ha_fsm_own_probe_at(&t.f), 0);
	t.now = 31000;
	assert_int_equal(ev(&t, HA_EV_LOCAL_UP), -ENOENT);
	assert_int_equal(t.r.n, 0);
	assert_int_equal(ha_fsm_own_probe_at(&t.f), 30000 + 11500);
	/* too early: a live partner may not have released them yet */
	t.now = 41499;
	assert_int_equal(ev(&t, HA_EV_OWN_ADDRS_FREE), -ENOENT);
	assert_int_equal(t.r.n, 0);
	t.now = 41500;
	assert_int_equal(ev(&t, HA_EV_OWN_ADDRS_FREE), 0);
	expect_state(&t, HA_ST_IC_DOWN);
	expect_acts(&t, 2, HA_ACT_OWN_SERVE, HA_ACT_OWN_ADDRS_ADD);
	assert_non_null(strstr(t.r.log[0], "claiming them"));
	assert_false(t.f.partner_may_hold);
	/* partner back (restarted): it holds nothing, we keep ours */
	ev(&t, HA_EV_IC_UP);
	expect_state(&t, HA_ST_NORMAL);
	expect_acts(&t, 1, SEND(HA_MSG_SYNC));
	sync_ev(&t, HA_SYNC_PATH_UP | HA_SYNC_HOLDS_OWN);
	expect_state(&t, HA_ST_NORMAL);
	assert_int_equal(t.r.n, 0);
	t_done(&t);

	/* portal form: never probes */
	t_init(&t, false);
	to_partner_proxying(&t);
	ev(&t, HA_EV_IC_DOWN);
	ev(&t, HA_EV_LOCAL_UP);
	assert_int_equal(ha_fsm_own_probe_at(&t.f), 0);
	t.now += 60000;
	assert_int_equal(ev(&t, HA_EV_OWN_ADDRS_FREE), -ENOENT);
	t_done(&t);
}

static void test_ic_down_owner(void **state)
{
	struct t t;

	(void)state;
	t_init(&t, true);
	to_partner_proxying(&t);
	ev(&t, HA_EV_LOCAL_UP);
	expect_state(&t, HA_ST_TAKING_BACK);
	ev(&t, HA_EV_IC_DOWN);
	expect_state(&t, HA_ST_IC_DOWN_RELEASED);
	/* partner may hold our addresses: wait for the interconnect */
	ev(&t, HA_EV_LOCAL_DOWN);
	assert_int_equal(ev(&t, HA_EV_LOCAL_UP), -ENOENT);
	assert_int_equal(t.r.n, 0);
	ev(&t, HA_EV_IC_UP);
	expect_state(&t, HA_ST_SYNCING);
	sync_ev(&t, HA_SYNC_PATH_UP | HA_SYNC_HOLDS_OWN);
	/* partner dropped them meanwhile: reclaim */
	expect_state(&t, HA_ST_NORMAL);
	expect_acts(&t, 2, HA_ACT_OWN_SERVE, HA_ACT_OWN_ADDRS_ADD);
	t_done(&t);

	t_init(&t, true);
	to_partner_proxying(&t);
	ev(&t, HA_EV_IC_DOWN);
	expect_state(&t, HA_ST_IC_DOWN_RELEASED);
	t_done(&t);

	/* LOCAL_DOWN (never released): reclaim even with IC down */
	t_init(&t, true);
	to_normal(&t);
	ev(&t, HA_EV_LOCAL_DOWN);
	ev(&t, HA_EV_IC_DOWN);
	expect_state(&t, HA_ST_IC_DOWN_RELEASED);
	ev(&t, HA_EV_LOCAL_UP);
	expect_state(&t, HA_ST_IC_DOWN);
	expect_acts(&t, 2, HA_ACT_OWN_SERVE, HA_ACT_OWN_ADDRS_ADD);
	t_done(&t);
}

static void test_sync_conflicts(void **state)
{
	struct t t;

	(void)state;
	/* we proxy, partner claims its own addresses: yield at once */
	t_init(&t, true);
	to_proxying(&t);
	ev(&t, HA_EV_IC_DOWN);
	ev(&t, HA_EV_IC_UP);
	sync_ev(&t, HA_SYNC_PATH_UP | HA_SYNC_HOLDS_OWN);
	expect_state(&t, HA_ST_NORMAL);
	expect_acts(&t, 5, HA_ACT_PROXY_STOP_ACCEPT, HA_ACT_PROXY_DROP_SESSIONS,
		    HA_ACT_PARTNER_ADDRS_DEL, HA_ACT_PROXY_CLOSE,
		    SEND(HA_MSG_GIVEBACK));
	assert_false(t.f.partner_held);
	t_done(&t);

	/* partner claims ours: we keep them and log */
	t_init(&t, true);
	to_normal(&t);
	sync_ev(&t, HA_SYNC_PATH_UP | HA_SYNC_HOLDS_YOURS);
	expect_state(&t, HA_ST_NORMAL);
	assert_int_equal(t.r.n, 0);
	assert_non_null(strstr(t.r.log[0], "keeping them"));
	/* partner's sync reports its path down: take over */
	sync_ev(&t, HA_SYNC_HOLDS_OWN);
	expect_state(&t, HA_ST_TAKING_OVER);
	t_done(&t);
}

/* ---- robustness ------------------------------------------------------- */

static bool has_row(enum ha_state s, enum ha_event e)
{
	size_t i, n;
	const struct ha_fsm_row *tab = ha_fsm_table(&n);

	for (i = 0; i < n; i++)
		if (tab[i].from == s && tab[i].ev == e)
			return true;
	return false;
}

static void test_illegal_events_ignored(void **state)
{
	struct t t;
	int s, e;

	(void)state;
	for (s = 0; s < HA_ST__COUNT; s++) {
		for (e = 0; e < HA_EV__COUNT; e++) {
			if (e == HA_EV_TIMEOUT || e == HA_EV_EVAL ||
			    has_row(s, e))
				continue;
			t_init(&t, true);
			t.f.state = s;
			t.f.ic_up = true;
			t.f.local_up = e != HA_EV_LOCAL_UP;
			clear(&t);
			assert_int_equal(ev(&t, e), -ENOENT);
			expect_state(&t, s);
			/* at most a path report, never an address action */
			assert_true(
				t.r.n == 0 ||
				(t.r.n == 1 && t.r.a[0].type == HA_ACT_SEND));
			assert_int_equal(t.r.nlog, 1);
			assert_non_null(strstr(t.r.log[0], "ignored"));
		}
	}
	t_init(&t, true);
	assert_int_equal(ev(&t, HA_EV__COUNT), -EINVAL);
	assert_int_equal(ev(&t, HA_EV_TIMEOUT), -EINVAL);
	assert_int_equal(ev(&t, HA_EV_EVAL), -EINVAL);
	assert_int_equal(ev(&t, (enum ha_event) - 1), -EINVAL);
}

static void test_reentry_refused(void **state)
{
	struct t t;

	(void)state;
	t_init(&t, true);
	ev(&t, HA_EV_LOCAL_UP);
	t.r.reenter = &t.f;
	ev(&t, HA_EV_IC_UP);
	assert_int_equal(t.r.reenter_rc, -EBUSY);
	expect_state(&t, HA_ST_SYNCING);
}

static void test_names(void **state)
{
	size_t i, n;
	const struct ha_fsm_row *tab = ha_fsm_table(&n);

	(void)state;
	for (i = 0; i < HA_ST__COUNT; i++)
		assert_string_not_equal(ha_state_name(i), "?");
	for (i = 0; i < HA_EV__COUNT; i++)
		assert_string_not_equal(ha_event_name(i), "?");
	for (i = 0; i < HA_ACT__COUNT; i++)
		assert_string_not_equal(ha_action_name(i), "?");
	for (i = 0; i < HA_MSG__COUNT; i++)
		assert_string_not_equal(ha_msg_name(i), "?");
	for (i = 0; i < HA_G__COUNT; i++)
		assert_string_not_equal(ha_guard_name(i), "?");
	assert_string_equal(ha_state_name(HA_ST__COUNT), "?");
	assert_true(n <= HA_FSM_MAX_ROWS);
	/* every state is left by some row, every state is reachable */
	for (i = 0; i < HA_ST__COUNT; i++) {
		size_t j;
		bool out = false, in = i == HA_ST_STARTING;

		for (j = 0; j < n; j++) {
			out |= tab[j].from == i && tab[j].to != i;
			in |= tab[j].to == i && tab[j].from != i;
		}
		assert_true(out && in);
	}
}

/* ---- a simulated pair ------------------------------------------------- */

struct node {
	struct ha_fsm f;
	struct pair *p;
	int id;
};

struct msgq {
	int to;
	enum ha_event ev;
	uint32_t arg;
};

struct pair {
	struct node n[2];
	struct msgq q[256];
	int qh, qt;
	bool ic;
	bool ic_down_pending[2];
	bool held_by[2][2]; /* held_by[owner][host] */
	uint64_t now;
};

static void hold(struct pair *p, int owner, int host, bool on)
{
	p->held_by[owner][host] = on;
	/* the invariant: an address is never on two hosts */
	assert_false(p->held_by[owner][0] && p->held_by[owner][1]);
}

static void push(struct pair *p, int to, enum ha_event e, uint32_t arg)
{
	assert_true(p->qt - p->qh < 256);
	p->q[p->qt % 256] = (struct msgq){to, e, arg};
	p->qt++;
}

static int pair_act(void *ctx, const struct ha_action *a)
{
	struct node *nd = ctx;
	struct pair *p = nd->p;
	int me = nd->id, other = 1 - nd->id;

	switch (a->type) {
	case HA_ACT_SEND:
		if (p->ic)
			push(p, other, ha_msg_event(a->msg), a->arg);
		break;
	case HA_ACT_OWN_ADDRS_ADD:
		hold(p, me, me, true);
		break;
	case HA_ACT_OWN_ADDRS_DEL:
		hold(p, me, me, false);
		break;
	case HA_ACT_PARTNER_ADDRS_ADD:
		hold(p, other, me, true);
		break;
	case HA_ACT_PARTNER_ADDRS_DEL:
		hold(p, other, me, false);
		break;
	case HA_ACT_PROXY_DRAIN:
		push(p, me, HA_EV_DRAIN_DONE, 0);
		break;
	default:
		break;
	}
	return 0;
}

static const struct ha_fsm_ops pair_ops = {.act = pair_act};

static void pump(struct pair *p)
{
	int guard = 0;

	while (p->qh != p->qt) {
		struct msgq m = p->q[p->qh % 256];

		p->qh++;
		assert_true(++guard < 1000);
		ha_fsm_event(&p->n[m.to].f, m.ev, m.arg, p->now);
	}
}

/* Node i's probe of its own addresses, when its machine wants one: the
 * other host answers iff it holds them. */
static void probe(struct pair *p, int i)
{
	uint64_t at = ha_fsm_own_probe_at(&p->n[i].f);

	if (!at || at > p->now || p->held_by[i][1 - i])
		return;
	ha_fsm_event(&p->n[i].f, HA_EV_OWN_ADDRS_FREE, 0, p->now);
	pump(p);
}

static void both(struct pair *p, enum ha_event e)
{
	ha_fsm_event(&p->n[0].f, e, 0, p->now);
	ha_fsm_event(&p->n[1].f, e, 0, p->now);
}

static void pair_init(struct pair *p)
{
	int i;
	struct ha_fsm_cfg cfg = base_cfg;

	memset(p, 0, sizeof(*p));
	for (i = 0; i < 2; i++) {
		p->n[i].p = p;
		p->n[i].id = i;
		cfg.node = i ? "b" : "a";
		ha_fsm_init(&p->n[i].f, &cfg, &pair_ops, &p->n[i], 0);
		ha_fsm_event(&p->n[i].f, HA_EV_LOCAL_UP, 0, 0);
	}
	p->ic = true;
	both(p, HA_EV_IC_UP);
	pump(p);
}

static void pair_done(struct pair *p)
{
	size_t i, n;

	ha_fsm_table(&n);
	for (i = 0; i < n; i++)
		all_hits[i] += p->n[0].f.hits[i] + p->n[1].f.hits[i];
}

static void link(struct pair *p, int i, bool up)
{
	ha_fsm_event(&p->n[i].f, up ? HA_EV_LOCAL_UP : HA_EV_LOCAL_DOWN, 0,
		     p->now);
	pump(p);
}

static void test_pair_failover_giveback(void **state)
{
	struct pair p;
	int round;

	(void)state;
	pair_init(&p);
	assert_int_equal(ha_fsm_state(&p.n[0].f), HA_ST_NORMAL);
	assert_int_equal(ha_fsm_state(&p.n[1].f), HA_ST_NORMAL);
	assert_true(p.held_by[0][0] && p.held_by[1][1]);
	for (round = 0; round < 10; round++) {
		link(&p, 1, false);
		assert_int_equal(ha_fsm_state(&p.n[0].f), HA_ST_PROXYING);
		assert_int_equal(ha_fsm_state(&p.n[1].f),
				 HA_ST_PARTNER_PROXYING);
		assert_true(p.held_by[1][0] && !p.held_by[1][1]);
		link(&p, 1, true);
		assert_int_equal(ha_fsm_state(&p.n[0].f), HA_ST_NORMAL);
		assert_int_equal(ha_fsm_state(&p.n[1].f), HA_ST_NORMAL);
		assert_true(p.held_by[1][1] && !p.held_by[1][0]);
	}
	/* both paths down, then a comes back and proxies for b */
	link(&p, 1, false);
	link(&p, 0, false);
	assert_int_equal(ha_fsm_state(&p.n[0].f), HA_ST_LOCAL_DOWN);
	assert_int_equal(ha_fsm_state(&p.n[1].f), HA_ST_LOCAL_DOWN);
	assert_false(p.held_by[0][0] || p.held_by[0][1] || p.held_by[1][0] ||
		     p.held_by[1][1]);
	link(&p, 0, true);
	assert_int_equal(ha_fsm_state(&p.n[0].f), HA_ST_PROXYING);
	assert_int_equal(ha_fsm_state(&p.n[1].f), HA_ST_PARTNER_PROXYING);
	assert_true(p.held_by[0][0] && p.held_by[1][0]);
	/* interconnect cut while proxying: nothing moves */
	p.ic = false;
	both(&p, HA_EV_IC_DOWN);
	link(&p, 1, true);
	assert_true(p.held_by[1][0] && !p.held_by[1][1]);
	p.ic = true;
	both(&p, HA_EV_IC_UP);
	pump(&p);
	assert_int_equal(ha_fsm_state(&p.n[0].f), HA_ST_NORMAL);
	assert_int_equal(ha_fsm_state(&p.n[1].f), HA_ST_NORMAL);
	assert_true(p.held_by[1][1] && !p.held_by[1][0]);
	pair_done(&p);
}

/* The interconnect fails as TCP does: one side notices first (its
 * messages and the other's are lost from then on), the other later. */
static void ic_flip(struct pair *p, int first)
{
	if (p->ic) {
		p->ic = false;
		p->qh = p->qt; /* in-flight messages lost */
		ha_fsm_event(&p->n[first].f, HA_EV_IC_DOWN, 0, p->now);
		p->ic_down_pending[1 - first] = true;
		return;
	}
	if (p->ic_down_pending[first]) {
		p->ic_down_pending[first] = false;
		ha_fsm_event(&p->n[first].f, HA_EV_IC_DOWN, 0, p->now);
		return;
	}
	if (p->ic_down_pending[1 - first]) {
		p->ic_down_pending[1 - first] = false;
		ha_fsm_event(&p->n[1 - first].f, HA_EV_IC_DOWN, 0, p->now);
	}
	p->ic = true;
	both(p, HA_EV_IC_UP);
	pump(p);
}

/* Whatever happened, once both paths and the interconnect are healthy
 * the pair must end in NORMAL/NORMAL, each holding only its own. */
static void converge(struct pair *p)
{
	int i, step;

	if (!p->ic) {
		ic_flip(p, 0);
		if (!p->ic)
			ic_flip(p, 0);
	}
	assert_true(p->ic);
	for (i = 0; i < 2; i++) {
		ha_fsm_event(&p->n[i].f, HA_EV_PEER_REACHABLE, 0, p->now);
		link(p, i, true);
	}
	for (step = 0; step < 100; step++) {
		p->now += 500;
		ha_fsm_tick(&p->n[0].f, p->now);
		ha_fsm_tick(&p->n[1].f, p->now);
		pump(p);
	}
	for (i = 0; i < 2; i++) {
		if (ha_fsm_state(&p->n[i].f) != HA_ST_NORMAL)
			fail_msg("node %d stuck in %s", i,
				 ha_state_name(ha_fsm_state(&p->n[i].f)));
		assert_true(p->held_by[i][i]);
		assert_false(p->held_by[i][1 - i]);
	}
}

/* Random events against the pair; the hold() invariant must never
 * break and every state must stay valid. */
static void test_pair_random(void **state)
{
	struct pair p;
	unsigned seed, step;

	(void)state;
	for (seed = 1; seed <= 200; seed++) {
		pair_init(&p);
		srand(seed);
		for (step = 0; step < 200; step++) {
			int r = rand() % 9, i = rand() % 2;

			p.now += (uint64_t)(rand() % 3000);
			if (r < 4) {
				link(&p, i, rand() % 2);
			} else if (r == 4) {
				ic_flip(&p, i);
			} else if (r == 5) {
				ha_fsm_event(&p.n[i].f,
					     rand() % 2
						     ? HA_EV_PEER_REACHABLE
						     : HA_EV_PEER_UNREACHABLE,
					     0, p.now);
				pump(&p);
			} else if (r == 6) {
				probe(&p, i);
			} else {
				ha_fsm_tick(&p.n[i].f, p.now);
				pump(&p);
			}
			assert_true(ha_fsm_state(&p.n[0].f) < HA_ST__COUNT);
			assert_true(ha_fsm_state(&p.n[1].f) < HA_ST__COUNT);
		}
		converge(&p);
		pair_done(&p);
	}
}

static void test_every_row_exercised(void **state)
{
	size_t i, n;
	const struct ha_fsm_row *tab = ha_fsm_table(&n);
	int missed = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		if (all_hits[i])
			continue;
		print_message(
			"row not exercised: %s + %s [%s] -> %s\n",
			ha_state_name(tab[i].from), ha_event_name(tab[i].ev),
			ha_guard_name(tab[i].guard), ha_state_name(tab[i].to));
		missed++;
	}
	assert_int_equal(missed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_boot_sync_normal),
		cmocka_unit_test(test_boot_timeout_claims),
		cmocka_unit_test(test_boot_timeout_probes),
		cmocka_unit_test(test_boot_timeout_path_down),
		cmocka_unit_test(test_sync_partner_holds),
		cmocka_unit_test(test_sync_idle_path_down),
		cmocka_unit_test(test_syncing_takeover_req_and_ic_down),
		cmocka_unit_test(test_failover_and_giveback),
		cmocka_unit_test(test_failover_portal_form),
		cmocka_unit_test(test_unreachable_peer),
		cmocka_unit_test(test_takeover_cancel_and_refuse),
		cmocka_unit_test(test_takeover_timeout_retry),
		cmocka_unit_test(test_takeover_fails),
		cmocka_unit_test(test_drain_and_giveback_timeouts),
		cmocka_unit_test(test_giveback_peer_fails_again),
		cmocka_unit_test(test_local_down_while_proxying),
		cmocka_unit_test(test_owner_failover_and_takeback),
		cmocka_unit_test(test_owner_release_on_request),
		cmocka_unit_test(test_ic_down_normal),
		cmocka_unit_test(test_ic_down_proxying),
		cmocka_unit_test(test_ic_down_owner),
		cmocka_unit_test(test_ic_hold_release),
		cmocka_unit_test(test_ic_down_owner_reclaims),
		cmocka_unit_test(test_sync_conflicts),
		cmocka_unit_test(test_illegal_events_ignored),
		cmocka_unit_test(test_reentry_refused),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_pair_failover_giveback),
		cmocka_unit_test(test_pair_random),
		cmocka_unit_test(test_every_row_exercised),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
