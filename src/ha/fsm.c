// SPDX-License-Identifier: Apache-2.0
/* The failover state machine: see include/duet/ha_fsm.h and
 * docs/failover.md. Pure: events and time in, actions and log lines out. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "duet/ha_fsm.h"
#include "duet/util.h"

static const char *const state_names[HA_ST__COUNT] = {
	[HA_ST_STARTING] = "STARTING",
	[HA_ST_SYNCING] = "SYNCING",
	[HA_ST_NORMAL] = "NORMAL",
	[HA_ST_TAKING_OVER] = "TAKING_OVER",
	[HA_ST_PROXYING] = "PROXYING_FOR_PARTNER",
	[HA_ST_GIVING_BACK] = "GIVING_BACK",
	[HA_ST_GIVEBACK_WAIT] = "GIVEBACK_WAIT",
	[HA_ST_LOCAL_DOWN] = "LOCAL_DOWN",
	[HA_ST_PARTNER_PROXYING] = "PARTNER_PROXYING_FOR_ME",
	[HA_ST_TAKING_BACK] = "TAKING_BACK",
	[HA_ST_IC_DOWN] = "IC_DOWN",
	[HA_ST_IC_DOWN_PROXYING] = "IC_DOWN_PROXYING",
	[HA_ST_IC_DOWN_RELEASED] = "IC_DOWN_RELEASED",
};

static const char *const event_names[HA_EV__COUNT] = {
	[HA_EV_LOCAL_UP] = "local-path-up",
	[HA_EV_LOCAL_DOWN] = "local-path-down",
	[HA_EV_PEER_UP] = "peer-path-up",
	[HA_EV_PEER_DOWN] = "peer-path-down",
	[HA_EV_PEER_REACHABLE] = "peer-reachable",
	[HA_EV_PEER_UNREACHABLE] = "peer-unreachable",
	[HA_EV_IC_UP] = "interconnect-up",
	[HA_EV_IC_DOWN] = "interconnect-down",
	[HA_EV_PEER_SYNC] = "peer-sync",
	[HA_EV_TAKEOVER_REQ] = "takeover-request",
	[HA_EV_RELEASED] = "released",
	[HA_EV_GIVEBACK] = "giveback",
	[HA_EV_TAKEN_BACK] = "taken-back",
	[HA_EV_DRAIN_DONE] = "drain-done",
	[HA_EV_OWN_ADDRS_FREE] = "own-addresses-free",
	[HA_EV_TIMEOUT] = "timeout",
	[HA_EV_EVAL] = "evaluate",
};

static const char *const action_names[HA_ACT__COUNT] = {
	[HA_ACT_PROXY_OPEN] = "open-proxy-port",
	[HA_ACT_PROXY_STOP_ACCEPT] = "proxy-stop-accepting",
	[HA_ACT_PROXY_DRAIN] = "proxy-drain",
	[HA_ACT_PROXY_DROP_SESSIONS] = "proxy-drop-sessions",
	[HA_ACT_PROXY_CLOSE] = "close-proxy-port",
	[HA_ACT_PARTNER_ADDRS_ADD] = "add-partner-addresses",
	[HA_ACT_PARTNER_ADDRS_DEL] = "remove-partner-addresses",
	[HA_ACT_OWN_SERVE] = "serve-own-portals",
	[HA_ACT_OWN_ADDRS_ADD] = "add-own-addresses",
	[HA_ACT_OWN_ADDRS_DEL] = "remove-own-addresses",
	[HA_ACT_SEND] = "send",
};

static const char *const msg_names[HA_MSG__COUNT] = {
	[HA_MSG_PATH_UP] = "PATH_UP",
	[HA_MSG_PATH_DOWN] = "PATH_DOWN",
	[HA_MSG_SYNC] = "SYNC",
	[HA_MSG_TAKEOVER_REQ] = "TAKEOVER_REQ",
	[HA_MSG_RELEASED] = "RELEASED",
	[HA_MSG_GIVEBACK] = "GIVEBACK",
	[HA_MSG_TAKEN_BACK] = "TAKEN_BACK",
};

static const char *const guard_names[HA_G__COUNT] = {
	[HA_G_ALWAYS] = "-",
	[HA_G_LOCAL_UP] = "local up",
	[HA_G_CAN_TAKE] = "local up, peer bad",
	[HA_G_PEER_OK] = "peer ok",
	[HA_G_PEER_BAD] = "peer bad",
	[HA_G_SYNC_YOURS_UP] = "sync: holds mine, local up",
	[HA_G_SYNC_YOURS] = "sync: holds mine",
	[HA_G_SYNC_OWN] = "sync: holds its own",
	[HA_G_NOT_MAY_HOLD] = "partner cannot hold mine, local up",
	[HA_G_PORTAL_UP] = "portal form, local up",
	[HA_G_RECLAIM] = "local up, ic down >= reclaim wait",
	[HA_G_BOOTING] = "never synced",
};

#define NAME(tab, i) ((unsigned)(i) < ARRAY_SIZE(tab) ? tab[i] : "?")

const char *ha_state_name(enum ha_state s)
{
	return NAME(state_names, s);
}

const char *ha_event_name(enum ha_event e)
{
	return NAME(event_names, e);
}

const char *ha_action_name(enum ha_action_type a)
{
	return NAME(action_names, a);
}

const char *ha_msg_name(enum ha_msg m)
{
	return NAME(msg_names, m);
}

enum ha_event ha_msg_event(enum ha_msg m)
{
	static const enum ha_event map[HA_MSG__COUNT] = {
		[HA_MSG_PATH_UP] = HA_EV_PEER_UP,
		[HA_MSG_PATH_DOWN] = HA_EV_PEER_DOWN,
		[HA_MSG_SYNC] = HA_EV_PEER_SYNC,
		[HA_MSG_TAKEOVER_REQ] = HA_EV_TAKEOVER_REQ,
		[HA_MSG_RELEASED] = HA_EV_RELEASED,
		[HA_MSG_GIVEBACK] = HA_EV_GIVEBACK,
		[HA_MSG_TAKEN_BACK] = HA_EV_TAKEN_BACK,
	};

	if ((unsigned)m >= HA_MSG__COUNT)
		return HA_EV__COUNT;
	return map[m];
}

const char *ha_guard_name(enum ha_guard g)
{
	return NAME(guard_names, g);
}

__attribute__((format(printf, 3, 4))) static void
fsm_log(struct ha_fsm *f, enum ha_log_level lvl, const char *fmt, ...)
{
	char line[256];
	int n;
	va_list ap;

	if (!f->ops || !f->ops->log)
		return;
	n = snprintf(line, sizeof(line),
		     "ha: node %s: ", f->cfg.node ? f->cfg.node : "?");
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	f->ops->log(f->ctx, lvl, line);
}

/* ---- actions ---------------------------------------------------------- */

static int run(struct ha_fsm *f, enum ha_action_type t, enum ha_msg m,
	       uint32_t arg)
{
	struct ha_action a = {.type = t, .msg = m, .arg = arg};
	int rc;

	if (!f->ops || !f->ops->act)
		return 0;
	rc = f->ops->act(f->ctx, &a);
	if (rc < 0) {
		if (t == HA_ACT_SEND)
			fsm_log(f, HA_LOG_ERR, "send %s to partner failed: %s",
				ha_msg_name(m), strerror(-rc));
		else
			fsm_log(f, HA_LOG_ERR, "action %s failed: %s",
				ha_action_name(t), strerror(-rc));
	}
	return rc;
}

static int act(struct ha_fsm *f, enum ha_action_type t)
{
	return run(f, t, 0, 0);
}

static void send_msg(struct ha_fsm *f, enum ha_msg m)
{
	run(f, HA_ACT_SEND, m, 0);
}

static void send_sync(struct ha_fsm *f)
{
	uint32_t bits = 0;

	if (f->local_up)
		bits |= HA_SYNC_PATH_UP;
	if (f->own_held)
		bits |= HA_SYNC_HOLDS_OWN;
	if (f->partner_held)
		bits |= HA_SYNC_HOLDS_YOURS;
	run(f, HA_ACT_SEND, HA_MSG_SYNC, bits);
}

/* Own addresses: removed/added only in the takeover form; in the portal
 * form "holding" is only bookkeeping (the portal stays on its link). */
static void drop_own(struct ha_fsm *f)
{
	if (f->cfg.takeover_form)
		act(f, HA_ACT_OWN_ADDRS_DEL);
	f->own_held = false;
}

/* Serve before announcing: portals listen before the address goes up. */
static void claim_own(struct ha_fsm *f)
{
	act(f, HA_ACT_OWN_SERVE);
	if (f->cfg.takeover_form)
		act(f, HA_ACT_OWN_ADDRS_ADD);
	f->own_held = true;
}

/* Stop proxying at once (no drain): sessions dropped, addresses released,
 * port closed, partner told it may take its addresses back. */
static void stop_proxy(struct ha_fsm *f)
{
	act(f, HA_ACT_PROXY_STOP_ACCEPT);
	act(f, HA_ACT_PROXY_DROP_SESSIONS);
	if (f->cfg.takeover_form && f->partner_held)
		act(f, HA_ACT_PARTNER_ADDRS_DEL);
	f->partner_held = false;
	act(f, HA_ACT_PROXY_CLOSE);
	f->proxy_open = false;
	send_msg(f, HA_MSG_GIVEBACK);
}

/* ---- handlers --------------------------------------------------------- */

static int h_none(struct ha_fsm *f)
{
	(void)f;
	return 0;
}

static int h_send_sync(struct ha_fsm *f)
{
	send_sync(f);
	return 0;
}

static int h_drop_own(struct ha_fsm *f)
{
	drop_own(f);
	return 0;
}

static int h_claim_own(struct ha_fsm *f)
{
	claim_own(f);
	return 0;
}

static int h_request(struct ha_fsm *f)
{
	send_msg(f, HA_MSG_TAKEOVER_REQ);
	return 0;
}

/* Owner side: drop first, then tell the partner it may add them. */
static int h_release(struct ha_fsm *f)
{
	if (f->own_held)
		drop_own(f);
	f->partner_may_hold = true;
	send_msg(f, HA_MSG_RELEASED);
	return 0;
}

/* RELEASED that we will not act on: say we do not hold them. */
static int h_refuse(struct ha_fsm *f)
{
	send_msg(f, HA_MSG_GIVEBACK);
	return 0;
}

static int h_ack_giveback(struct ha_fsm *f)
{
	send_msg(f, HA_MSG_TAKEN_BACK);
	return 0;
}

/* Proxy side: be listening with the partner's targets before the address
 * and the gratuitous ARP go out; undo everything if either step fails. */
static int h_take_over(struct ha_fsm *f)
{
	int rc = act(f, HA_ACT_PROXY_OPEN);

	if (rc == 0) {
		f->proxy_open = true;
		if (f->cfg.takeover_form)
			rc = act(f, HA_ACT_PARTNER_ADDRS_ADD);
		if (rc == 0) {
			f->partner_held = true;
			return 0;
		}
		if (f->cfg.takeover_form)
			act(f, HA_ACT_PARTNER_ADDRS_DEL);
		act(f, HA_ACT_PROXY_CLOSE);
		f->proxy_open = false;
	}
	fsm_log(f, HA_LOG_ERR,
		"takeover aborted: partner's targets are not served here; "
		"will retry in %u ms",
		f->cfg.retry_ms);
	send_msg(f, HA_MSG_GIVEBACK);
	return rc;
}

static int h_start_giveback(struct ha_fsm *f)
{
	act(f, HA_ACT_PROXY_STOP_ACCEPT);
	act(f, HA_ACT_PROXY_DRAIN);
	return 0;
}

static int h_resume(struct ha_fsm *f)
{
	if (act(f, HA_ACT_PROXY_OPEN) == 0)
		f->proxy_open = true;
	return 0;
}

/* Drained: let the partner's addresses go, then signal the partner. */
static int h_release_partner(struct ha_fsm *f)
{
	if (f->cfg.takeover_form && f->partner_held)
		act(f, HA_ACT_PARTNER_ADDRS_DEL);
	f->partner_held = false;
	send_msg(f, HA_MSG_GIVEBACK);
	return 0;
}

static int h_drain_timeout(struct ha_fsm *f)
{
	fsm_log(f, HA_LOG_WARN,
		"proxy port still busy after %u ms: giving back anyway, "
		"unfinished commands are dropped with their sessions",
		f->cfg.drain_timeout_ms);
	return h_release_partner(f);
}

/* After the owner announced: sessions go (initiators reconnect to the
 * owner), the port closes. */
static int h_finish(struct ha_fsm *f)
{
	act(f, HA_ACT_PROXY_DROP_SESSIONS);
	act(f, HA_ACT_PROXY_CLOSE);
	f->proxy_open = false;
	return 0;
}

static int h_finish_late(struct ha_fsm *f)
{
	fsm_log(f, HA_LOG_WARN, "partner did not confirm giveback within %u ms",
		f->cfg.giveback_timeout_ms);
	return h_finish(f);
}

static int h_finish_drop_own(struct ha_fsm *f)
{
	h_finish(f);
	drop_own(f);
	return 0;
}

/* Our own path failed while proxying: we can serve nobody. */
static int h_abandon(struct ha_fsm *f)
{
	stop_proxy(f);
	drop_own(f);
	return 0;
}

/* Partner says it holds its own addresses while we hold them too. */
static int h_yield(struct ha_fsm *f)
{
	fsm_log(f, HA_LOG_ERR,
		"partner holds its own portal addresses while we hold them "
		"too: releasing them at once");
	stop_proxy(f);
	return 0;
}

static int h_take_back(struct ha_fsm *f)
{
	f->partner_may_hold = false;
	claim_own(f);
	send_msg(f, HA_MSG_TAKEN_BACK);
	return 0;
}

static int h_giveback_down(struct ha_fsm *f)
{
	f->partner_may_hold = false;
	send_msg(f, HA_MSG_TAKEN_BACK);
	return 0;
}

static int h_sync_held(struct ha_fsm *f)
{
	f->partner_may_hold = true;
	return 0;
}

static int h_sync_reclaim(struct ha_fsm *f)
{
	f->partner_may_hold = false;
	claim_own(f);
	return 0;
}

static int h_sync_idle(struct ha_fsm *f)
{
	f->partner_may_hold = false;
	return 0;
}

static int h_conflict(struct ha_fsm *f)
{
	fsm_log(f, HA_LOG_ERR,
		"partner claims to hold our portal addresses while we hold "
		"them: keeping them, the partner must yield");
	return 0;
}

static int h_ic_up_down(struct ha_fsm *f)
{
	drop_own(f);
	send_sync(f);
	return 0;
}

static int h_ic_up_abandon(struct ha_fsm *f)
{
	send_sync(f);
	return h_abandon(f);
}

static int h_boot_claim(struct ha_fsm *f)
{
	if (f->cfg.takeover_form)
		fsm_log(f, HA_LOG_WARN,
			"no interconnect to the partner %u ms after start: "
			"claiming own portal addresses (make sure the partner "
			"is not proxying for this node)",
			f->cfg.start_timeout_ms);
	else
		fsm_log(f, HA_LOG_INFO,
			"portal form: serving own portals without waiting for "
			"the partner (no address can be on two hosts); "
			"claiming own portal addresses, sync when the "
			"interconnect comes up");
	f->partner_may_hold = false;
	claim_own(f);
	return 0;
}

/* Takeover form: the partner may still hold our addresses (it proxied
 * for us before we restarted); only a probe of the client network that
 * finds them free lets us claim them (own-addresses-free). */
static int h_boot_probe(struct ha_fsm *f)
{
	fsm_log(f, HA_LOG_WARN,
		"no interconnect to the partner %u ms after start: probing "
		"the client network for our portal addresses before claiming "
		"them (the partner may still hold them)",
		f->cfg.start_timeout_ms);
	return 0;
}

/* Takeover form: whether the partner holds our addresses is unknown
 * until a SYNC or a probe says so. */
static int h_boot_idle(struct ha_fsm *f)
{
	f->partner_may_hold = f->cfg.takeover_form;
	return 0;
}

/* The interconnect has been down ic_hold_ms while we proxy: we forward
 * nothing anyway. Release the partner's addresses so that the partner,
 * if its path is back (or it restarted), finds them free and serves its
 * own targets directly. No GIVEBACK: there is no link to send it on. */
static int h_ic_release(struct ha_fsm *f)
{
	fsm_log(f, HA_LOG_WARN,
		"interconnect down for %u ms while proxying: releasing the "
		"partner's portal addresses (the partner may serve them "
		"itself)",
		f->cfg.ic_hold_ms);
	act(f, HA_ACT_PROXY_STOP_ACCEPT);
	act(f, HA_ACT_PROXY_DROP_SESSIONS);
	if (f->partner_held)
		act(f, HA_ACT_PARTNER_ADDRS_DEL);
	f->partner_held = false;
	act(f, HA_ACT_PROXY_CLOSE);
	f->proxy_open = false;
	return 0;
}

/* Nobody on the client network holds our addresses, and a partner that
 * held them has had ic_hold_ms to let them go: serve and claim. */
static int h_reclaim_free(struct ha_fsm *f)
{
	fsm_log(f, HA_LOG_WARN,
		"interconnect down for %" PRIu64
		" ms and no host answers for our portal addresses: "
		"claiming them",
		f->now_ms - f->ic_down_at);
	f->partner_may_hold = false;
	claim_own(f);
	return 0;
}

static int h_takeover_timeout(struct ha_fsm *f)
{
	fsm_log(f, HA_LOG_WARN,
		"partner did not release its addresses within %u ms; retrying "
		"in %u ms",
		f->cfg.takeover_timeout_ms, f->cfg.retry_ms);
	return 0;
}

/* ---- the transition table -------------------------------------------- */

#define S(x) HA_ST_##x
#define E(x) HA_EV_##x
#define G(x) HA_G_##x
#define ROW(from, ev, g, to, fail, h)                       \
	{                                                   \
		S(from), E(ev), G(g), S(to), S(fail), #h, h \
	}

static const struct ha_fsm_row table[] = {
	/* boot */
	ROW(STARTING, IC_UP, ALWAYS, SYNCING, SYNCING, h_send_sync),
	ROW(STARTING, TIMEOUT, PORTAL_UP, IC_DOWN, IC_DOWN, h_boot_claim),
	ROW(STARTING, TIMEOUT, LOCAL_UP, IC_DOWN_RELEASED, IC_DOWN_RELEASED,
	    h_boot_probe),
	ROW(STARTING, TIMEOUT, ALWAYS, IC_DOWN_RELEASED, IC_DOWN_RELEASED,
	    h_boot_idle),
	ROW(SYNCING, PEER_SYNC, SYNC_YOURS_UP, TAKING_BACK, TAKING_BACK,
	    h_sync_held),
	ROW(SYNCING, PEER_SYNC, SYNC_YOURS, PARTNER_PROXYING, PARTNER_PROXYING,
	    h_sync_held),
	ROW(SYNCING, PEER_SYNC, LOCAL_UP, NORMAL, NORMAL, h_sync_reclaim),
	ROW(SYNCING, PEER_SYNC, ALWAYS, LOCAL_DOWN, LOCAL_DOWN, h_sync_idle),
	ROW(SYNCING, TAKEOVER_REQ, ALWAYS, PARTNER_PROXYING, PARTNER_PROXYING,
	    h_release),
	ROW(SYNCING, IC_DOWN, BOOTING, STARTING, STARTING, h_none),
	ROW(SYNCING, IC_DOWN, ALWAYS, IC_DOWN_RELEASED, IC_DOWN_RELEASED,
	    h_none),
	/* normal operation, failover of the partner */
	ROW(NORMAL, LOCAL_DOWN, ALWAYS, LOCAL_DOWN, LOCAL_DOWN, h_drop_own),
	ROW(NORMAL, PEER_DOWN, CAN_TAKE, TAKING_OVER, TAKING_OVER, h_request),
	ROW(NORMAL, PEER_UNREACHABLE, CAN_TAKE, TAKING_OVER, TAKING_OVER,
	    h_request),
	ROW(NORMAL, PEER_SYNC, SYNC_YOURS, NORMAL, NORMAL, h_conflict),
	ROW(NORMAL, PEER_SYNC, CAN_TAKE, TAKING_OVER, TAKING_OVER, h_request),
	ROW(NORMAL, EVAL, CAN_TAKE, TAKING_OVER, TAKING_OVER, h_request),
	ROW(NORMAL, TIMEOUT, CAN_TAKE, TAKING_OVER, TAKING_OVER, h_request),
	ROW(NORMAL, TAKEOVER_REQ, ALWAYS, PARTNER_PROXYING, PARTNER_PROXYING,
	    h_release),
	ROW(NORMAL, RELEASED, CAN_TAKE, PROXYING, NORMAL, h_take_over),
	ROW(NORMAL, RELEASED, ALWAYS, NORMAL, NORMAL, h_refuse),
	ROW(NORMAL, GIVEBACK, ALWAYS, NORMAL, NORMAL, h_ack_giveback),
	ROW(NORMAL, IC_DOWN, ALWAYS, IC_DOWN, IC_DOWN, h_none),
	ROW(TAKING_OVER, RELEASED, CAN_TAKE, PROXYING, NORMAL, h_take_over),
	ROW(TAKING_OVER, RELEASED, ALWAYS, NORMAL, NORMAL, h_refuse),
	ROW(TAKING_OVER, PEER_UP, PEER_OK, NORMAL, NORMAL, h_none),
	ROW(TAKING_OVER, PEER_REACHABLE, PEER_OK, NORMAL, NORMAL, h_none),
	ROW(TAKING_OVER, PEER_SYNC, PEER_OK, NORMAL, NORMAL, h_none),
	ROW(TAKING_OVER, TIMEOUT, ALWAYS, NORMAL, NORMAL, h_takeover_timeout),
	ROW(TAKING_OVER, LOCAL_DOWN, ALWAYS, LOCAL_DOWN, LOCAL_DOWN,
	    h_drop_own),
	ROW(TAKING_OVER, GIVEBACK, ALWAYS, TAKING_OVER, TAKING_OVER,
	    h_ack_giveback),
	ROW(TAKING_OVER, IC_DOWN, ALWAYS, IC_DOWN, IC_DOWN, h_none),
	/* proxying and giveback */
	ROW(PROXYING, PEER_UP, PEER_OK, GIVING_BACK, GIVING_BACK,
	    h_start_giveback),
	ROW(PROXYING, PEER_REACHABLE, PEER_OK, GIVING_BACK, GIVING_BACK,
	    h_start_giveback),
	ROW(PROXYING, PEER_SYNC, SYNC_OWN, NORMAL, NORMAL, h_yield),
	ROW(PROXYING, PEER_SYNC, PEER_OK, GIVING_BACK, GIVING_BACK,
	    h_start_giveback),
	ROW(PROXYING, LOCAL_DOWN, ALWAYS, LOCAL_DOWN, LOCAL_DOWN, h_abandon),
	ROW(PROXYING, IC_DOWN, ALWAYS, IC_DOWN_PROXYING, IC_DOWN_PROXYING,
	    h_none),
	ROW(GIVING_BACK, DRAIN_DONE, ALWAYS, GIVEBACK_WAIT, GIVEBACK_WAIT,
	    h_release_partner),
	ROW(GIVING_BACK, TIMEOUT, ALWAYS, GIVEBACK_WAIT, GIVEBACK_WAIT,
	    h_drain_timeout),
	ROW(GIVING_BACK, PEER_DOWN, PEER_BAD, PROXYING, PROXYING, h_resume),
	ROW(GIVING_BACK, PEER_UNREACHABLE, PEER_BAD, PROXYING, PROXYING,
	    h_resume),
	ROW(GIVING_BACK, LOCAL_DOWN, ALWAYS, LOCAL_DOWN, LOCAL_DOWN, h_abandon),
	ROW(GIVING_BACK, IC_DOWN, ALWAYS, IC_DOWN_PROXYING, IC_DOWN_PROXYING,
	    h_resume),
	ROW(GIVEBACK_WAIT, TAKEN_BACK, ALWAYS, NORMAL, NORMAL, h_finish),
	ROW(GIVEBACK_WAIT, TIMEOUT, ALWAYS, NORMAL, NORMAL, h_finish_late),
	ROW(GIVEBACK_WAIT, LOCAL_DOWN, ALWAYS, LOCAL_DOWN, LOCAL_DOWN,
	    h_finish_drop_own),
	ROW(GIVEBACK_WAIT, IC_DOWN, ALWAYS, IC_DOWN, IC_DOWN, h_finish),
	/* owner side: own path down, partner proxies, take back */
	ROW(LOCAL_DOWN, LOCAL_UP, ALWAYS, NORMAL, NORMAL, h_claim_own),
	ROW(LOCAL_DOWN, TAKEOVER_REQ, ALWAYS, PARTNER_PROXYING,
	    PARTNER_PROXYING, h_release),
	ROW(LOCAL_DOWN, RELEASED, ALWAYS, LOCAL_DOWN, LOCAL_DOWN, h_refuse),
	ROW(LOCAL_DOWN, PEER_SYNC, SYNC_YOURS, PARTNER_PROXYING,
	    PARTNER_PROXYING, h_sync_held),
	ROW(LOCAL_DOWN, GIVEBACK, ALWAYS, LOCAL_DOWN, LOCAL_DOWN,
	    h_ack_giveback),
	ROW(LOCAL_DOWN, IC_DOWN, ALWAYS, IC_DOWN_RELEASED, IC_DOWN_RELEASED,
	    h_none),
	ROW(PARTNER_PROXYING, LOCAL_UP, ALWAYS, TAKING_BACK, TAKING_BACK,
	    h_none),
	ROW(PARTNER_PROXYING, GIVEBACK, LOCAL_UP, NORMAL, NORMAL, h_take_back),
	ROW(PARTNER_PROXYING, GIVEBACK, ALWAYS, LOCAL_DOWN, LOCAL_DOWN,
	    h_giveback_down),
	ROW(PARTNER_PROXYING, TAKEOVER_REQ, ALWAYS, PARTNER_PROXYING,
	    PARTNER_PROXYING, h_release),
	ROW(PARTNER_PROXYING, IC_DOWN, ALWAYS, IC_DOWN_RELEASED,
	    IC_DOWN_RELEASED, h_none),
	ROW(TAKING_BACK, GIVEBACK, ALWAYS, NORMAL, NORMAL, h_take_back),
	ROW(TAKING_BACK, LOCAL_DOWN, ALWAYS, PARTNER_PROXYING, PARTNER_PROXYING,
	    h_none),
	ROW(TAKING_BACK, TAKEOVER_REQ, ALWAYS, TAKING_BACK, TAKING_BACK,
	    h_release),
	ROW(TAKING_BACK, IC_DOWN, ALWAYS, IC_DOWN_RELEASED, IC_DOWN_RELEASED,
	    h_none),
	/* interconnect down: no address moves */
	ROW(IC_DOWN, IC_UP, LOCAL_UP, NORMAL, NORMAL, h_send_sync),
	ROW(IC_DOWN, IC_UP, ALWAYS, LOCAL_DOWN, LOCAL_DOWN, h_ic_up_down),
	ROW(IC_DOWN_PROXYING, IC_UP, LOCAL_UP, PROXYING, PROXYING, h_send_sync),
	ROW(IC_DOWN_PROXYING, IC_UP, ALWAYS, LOCAL_DOWN, LOCAL_DOWN,
	    h_ic_up_abandon),
	ROW(IC_DOWN_PROXYING, TIMEOUT, ALWAYS, IC_DOWN, IC_DOWN, h_ic_release),
	ROW(IC_DOWN_RELEASED, IC_UP, ALWAYS, SYNCING, SYNCING, h_send_sync),
	ROW(IC_DOWN_RELEASED, LOCAL_UP, NOT_MAY_HOLD, IC_DOWN, IC_DOWN,
	    h_claim_own),
	ROW(IC_DOWN_RELEASED, OWN_ADDRS_FREE, RECLAIM, IC_DOWN, IC_DOWN,
	    h_reclaim_free),
};

_Static_assert(ARRAY_SIZE(table) <= HA_FSM_MAX_ROWS, "raise HA_FSM_MAX_ROWS");

const struct ha_fsm_row *ha_fsm_table(size_t *n_rows)
{
	if (n_rows)
		*n_rows = ARRAY_SIZE(table);
	return table;
}

/* ---- engine ----------------------------------------------------------- */

static bool peer_ok(const struct ha_fsm *f)
{
	return f->peer_path_up && f->peer_reach;
}

static bool guard(const struct ha_fsm *f, enum ha_guard g)
{
	switch (g) {
	case HA_G_ALWAYS:
		return true;
	case HA_G_LOCAL_UP:
		return f->local_up;
	case HA_G_CAN_TAKE:
		return f->local_up && f->ic_up && f->peer_fresh && !peer_ok(f);
	case HA_G_PEER_OK:
		return peer_ok(f);
	case HA_G_PEER_BAD:
		return !peer_ok(f);
	case HA_G_SYNC_YOURS_UP:
		return (f->sync_arg & HA_SYNC_HOLDS_YOURS) && f->local_up;
	case HA_G_SYNC_YOURS:
		return f->sync_arg & HA_SYNC_HOLDS_YOURS;
	case HA_G_SYNC_OWN:
		return f->sync_arg & HA_SYNC_HOLDS_OWN;
	case HA_G_NOT_MAY_HOLD:
		return !f->partner_may_hold && f->local_up;
	case HA_G_PORTAL_UP:
		return !f->cfg.takeover_form && f->local_up;
	case HA_G_RECLAIM:
		return f->cfg.takeover_form && f->local_up && !f->ic_up &&
		       f->now_ms >= f->ic_down_at + f->cfg.reclaim_wait_ms;
	case HA_G_BOOTING:
		return !f->synced;
	case HA_G__COUNT:
		break;
	}
	return false;
}

/* Facts first: every event updates what we know, matched or not. */
static void note(struct ha_fsm *f, enum ha_event ev, uint32_t arg)
{
	switch (ev) {
	case HA_EV_LOCAL_UP:
	case HA_EV_LOCAL_DOWN:
		f->local_up = ev == HA_EV_LOCAL_UP;
		break;
	case HA_EV_PEER_UP:
	case HA_EV_PEER_DOWN:
		f->peer_path_up = ev == HA_EV_PEER_UP;
		break;
	case HA_EV_PEER_REACHABLE:
	case HA_EV_PEER_UNREACHABLE:
		f->peer_reach = ev == HA_EV_PEER_REACHABLE;
		break;
	case HA_EV_IC_UP:
	case HA_EV_IC_DOWN:
		if (f->ic_up && ev == HA_EV_IC_DOWN)
			f->ic_down_at = f->now_ms;
		f->ic_up = ev == HA_EV_IC_UP;
		f->peer_fresh = false; /* until the partner's SYNC */
		break;
	case HA_EV_PEER_SYNC:
		f->sync_arg = arg;
		f->peer_path_up = arg & HA_SYNC_PATH_UP;
		f->synced = true;
		f->peer_fresh = true;
		break;
	default:
		break;
	}
}

static uint64_t deadline_for(const struct ha_fsm *f, enum ha_state s,
			     enum ha_state from)
{
	uint32_t ms = 0;

	switch (s) {
	case HA_ST_STARTING:
		ms = f->cfg.start_timeout_ms;
		break;
	case HA_ST_TAKING_OVER:
		ms = f->cfg.takeover_timeout_ms;
		break;
	case HA_ST_GIVING_BACK:
		ms = f->cfg.drain_timeout_ms;
		break;
	case HA_ST_GIVEBACK_WAIT:
		ms = f->cfg.giveback_timeout_ms;
		break;
	case HA_ST_IC_DOWN_PROXYING:
		if (f->cfg.takeover_form)
			ms = f->cfg.ic_hold_ms;
		break;
	case HA_ST_NORMAL:
		if (from == HA_ST_TAKING_OVER && !peer_ok(f))
			ms = f->cfg.retry_ms ? f->cfg.retry_ms : 1;
		break;
	default:
		break;
	}
	return ms ? f->now_ms + ms : 0;
}

static const struct ha_fsm_row *lookup(const struct ha_fsm *f, enum ha_event ev)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(table); i++)
		if (table[i].from == f->state && table[i].ev == ev &&
		    guard(f, table[i].guard))
			return &table[i];
	return NULL;
}

static int dispatch(struct ha_fsm *f, enum ha_event ev)
{
	const struct ha_fsm_row *r = lookup(f, ev);
	enum ha_state old = f->state, to;

	if (!r) {
		fsm_log(f, ev == HA_EV_TIMEOUT ? HA_LOG_DEBUG : HA_LOG_INFO,
			"%s: event %s ignored (no transition)",
			ha_state_name(old), ha_event_name(ev));
		return -ENOENT;
	}
	f->hits[r - table]++;
	to = r->handler(f) < 0 ? r->fail_to : r->to;
	fsm_log(f, HA_LOG_INFO, "%s -> %s (%s, %s)", ha_state_name(old),
		ha_state_name(to), ha_event_name(ev), r->what + 2);
	f->state = to;
	if (to != old)
		f->deadline_ms = deadline_for(f, to, old);
	if (to == HA_ST_NORMAL && old != HA_ST_NORMAL &&
	    old != HA_ST_TAKING_OVER && guard(f, HA_G_CAN_TAKE))
		dispatch(f, HA_EV_EVAL);
	return 0;
}

void ha_fsm_init(struct ha_fsm *f, const struct ha_fsm_cfg *cfg,
		 const struct ha_fsm_ops *ops, void *ctx, uint64_t now_ms)
{
	memset(f, 0, sizeof(*f));
	f->cfg = *cfg;
	f->ops = ops;
	f->ctx = ctx;
	f->now_ms = now_ms;
	f->state = HA_ST_STARTING;
	f->peer_path_up = true;
	f->peer_reach = true;
	f->partner_may_hold = true; /* unknown until the partner says */
	f->ic_down_at = now_ms;
	f->deadline_ms = deadline_for(f, HA_ST_STARTING, HA_ST_STARTING);
	fsm_log(f, HA_LOG_INFO, "-> STARTING (%s form)",
		cfg->takeover_form ? "takeover" : "portal");
}

int ha_fsm_event(struct ha_fsm *f, enum ha_event ev, uint32_t arg,
		 uint64_t now_ms)
{
	bool was_up = f->local_up;
	int rc;

	if ((unsigned)ev >= HA_EV__COUNT || ev == HA_EV_EVAL ||
	    ev == HA_EV_TIMEOUT)
		return -EINVAL;
	if (f->in_event)
		return -EBUSY;
	f->in_event = true;
	if (now_ms > f->now_ms)
		f->now_ms = now_ms;
	note(f, ev, arg);
	rc = dispatch(f, ev);
	/* Path reports go after the handler: addresses are dropped before
	 * the partner hears our path is down. */
	if ((ev == HA_EV_LOCAL_UP || ev == HA_EV_LOCAL_DOWN) &&
	    was_up != f->local_up && f->ic_up)
		send_msg(f, f->local_up ? HA_MSG_PATH_UP : HA_MSG_PATH_DOWN);
	f->sync_arg = 0;
	f->in_event = false;
	return rc;
}

void ha_fsm_tick(struct ha_fsm *f, uint64_t now_ms)
{
	if (f->in_event)
		return;
	if (now_ms > f->now_ms)
		f->now_ms = now_ms;
	if (!f->deadline_ms || f->now_ms < f->deadline_ms)
		return;
	f->deadline_ms = 0;
	f->in_event = true;
	dispatch(f, HA_EV_TIMEOUT);
	f->in_event = false;
}

uint64_t ha_fsm_own_probe_at(const struct ha_fsm *f)
{
	uint64_t at = f->ic_down_at + f->cfg.reclaim_wait_ms;

	if (!f->cfg.takeover_form || f->state != HA_ST_IC_DOWN_RELEASED ||
	    !f->local_up || f->ic_up)
		return 0;
	return at ? at : 1;
}

uint64_t ha_fsm_deadline(const struct ha_fsm *f)
{
	return f->deadline_ms;
}

enum ha_state ha_fsm_state(const struct ha_fsm *f)
{
	return f->state;
}
