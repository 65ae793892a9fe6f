// SPDX-License-Identifier: Apache-2.0
/*
 * The node's HA side: the client path (monitor, or the administrator's
 * override, damped), the failover state machine (ha_fsm.h) with its timer,
 * and the machine's actions carried out on the ports, the address sets and
 * the link (docs/failover.md, "what the wiring does").
 *
 * Port states follow from the machine:
 *  - home port: OPEN while the machine holds our own portals (own_held);
 *    otherwise REFUSING, and its sessions are dropped when it stops
 *    serving (our path is down: the partner may serve our targets).
 *  - proxy port: opened by open-proxy-port, DRAINING on
 *    proxy-stop-accepting, closed (takeover form: listeners closed;
 *    portal form: REFUSING, still listening for discovery) on
 *    close-proxy-port. While the interconnect is down it refuses logins
 *    and its connections are dropped: nothing could reach the owner.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "duet/ha_tickle.h"
#include "duet/log.h"
#include "duet/util.h"
#include "node_int.h"

/* Takeover form: how long a node started alone refuses logins on its own
 * portals, because the partner may still hold its addresses (it proxied
 * for us before we restarted). A live partner reaches us within its
 * reconnect backoff (cap 5 s, +20% jitter: 6 s) plus the handshake (one
 * heartbeat deadline): waiting longer only delays a lone start. The
 * portal form has no address to conflict on and serves at once. */
#define START_BACKOFF_MS 6000
#define START_TIMEOUT_PORTAL_MS 1
#define TAKEOVER_TIMEOUT_MS 2000
#define RETRY_MS 1000
#define DRAIN_TIMEOUT_MS 5000
#define GIVEBACK_TIMEOUT_MS 2000
#define PROBE_FAIL_MAX 2

const char *node_force_name(enum node_force f)
{
	switch (f) {
	case NODE_PATH_FORCE_DOWN:
		return "forced down";
	case NODE_PATH_FORCE_UP:
		return "forced up";
	default:
		return "auto";
	}
}

/* ---- the machine's timer and the port reconciliation ---- */

static void arm_timer(struct duet_node *n)
{
	uint64_t dl = ha_fsm_deadline(&n->fsm), now = node_now_ms();
	struct timeval tv;

	if (!n->ev_fsm)
		return;
	if (!dl || n->stopping) {
		event_del(n->ev_fsm);
		return;
	}
	tv = ms_to_timeval(dl > now ? dl - now : 0);
	event_add(n->ev_fsm, &tv);
}

static void home_reconcile(struct duet_node *n)
{
	enum iscsi_port_state st = iscsi_port_state(n->home);

	if (n->fsm.own_held || st != ISCSI_PORT_OPEN)
		return;
	/* Our portals are given up: initiators must not keep a session
	 * here while the partner may serve the same LUNs. */
	iscsi_port_set_state(n->home, ISCSI_PORT_REFUSING);
	iscsi_port_drop_sessions(n->home);
}

/* Note transitions for `pair` and the counters. */
static void after_event(struct duet_node *n)
{
	enum ha_state s = ha_fsm_state(&n->fsm);

	if (s != n->last_state) {
		if (s == HA_ST_PROXYING && n->last_state == HA_ST_TAKING_OVER)
			n->cnt.failovers++;
		if (s == HA_ST_NORMAL && n->last_state == HA_ST_GIVEBACK_WAIT)
			n->cnt.givebacks++;
		if (s == HA_ST_PARTNER_PROXYING &&
		    n->last_state != HA_ST_TAKING_BACK)
			n->cnt.taken_over++;
		if (s == HA_ST_NORMAL &&
		    (n->last_state == HA_ST_TAKING_BACK ||
		     n->last_state == HA_ST_PARTNER_PROXYING))
			n->cnt.taken_back++;
		n->last_state = s;
		n->state_since_ms = node_now_ms();
	}
	home_reconcile(n);
	arm_timer(n);
	node_dad_reconcile(n);
}

void node_ha_event(struct duet_node *n, enum ha_event ev, uint32_t arg)
{
	if (!n->fsm_ready || n->stopping)
		return;
	ha_fsm_event(&n->fsm, ev, arg, node_now_ms());
	after_event(n);
}

static void fsm_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct duet_node *n = arg;

	ha_fsm_tick(&n->fsm, node_now_ms());
	after_event(n);
}

/* ---- actions ---- */

static int send_ha(struct duet_node *n, enum ha_msg msg, uint32_t arg)
{
	struct ic_msg m;
	int rc;

	/* The partner tickles our idle clients after it has taken our
	 * addresses: it needs their list before it hears we are down, or,
	 * when it asked for our addresses because it cannot reach us on the
	 * client network (our path looks up), before it hears they are
	 * released. */
	if (msg == HA_MSG_PATH_DOWN)
		node_conns_send(n, false);
	else if (msg == HA_MSG_RELEASED)
		node_conns_send(n, true);
	ic_msg_init(&m, IC_HA, 0, 0);
	m.u.ha.code = (uint8_t)msg;
	m.u.ha.arg = arg;
	rc = ic_link_send(n->link, &m, NULL, 0, NULL, NULL);
	if (rc == 0)
		n->cnt.ha_tx++;
	return rc;
}

static int proxy_open(struct duet_node *n)
{
	char err[512] = "";
	int rc = iscsi_port_listen(n->proxy, err, sizeof(err));

	n->want_drain = false; /* resumed: a giveback starts over */
	if (rc < 0) {
		log_err("port %s: %s", iscsi_port_name(n->proxy),
			err[0] ? err : strerror(-rc));
		return rc;
	}
	if (!ic_link_is_up(n->link)) {
		n->ic_suspended = true;
		iscsi_port_set_state(n->proxy, ISCSI_PORT_REFUSING);
		return 0;
	}
	n->ic_suspended = false;
	iscsi_port_set_state(n->proxy, ISCSI_PORT_OPEN);
	return 0;
}

static void proxy_close(struct duet_node *n)
{
	n->want_drain = false;
	n->ic_suspended = false;
	if (n->takeover)
		iscsi_port_unlisten(n->proxy);
	else
		iscsi_port_set_state(n->proxy, ISCSI_PORT_REFUSING);
}

/* Serving our own portals again (giveback, or after a start without the
 * partner): commands the partner proxied to us must all have finished
 * first, or a resent write could be overtaken by the stale one. After a
 * drained giveback there are none; after a drain timeout or an
 * interconnect cut some may still be in the backing store: the home port
 * refuses logins (retryable) until they are done. */
static bool remote_idle(const struct duet_node *n)
{
	struct proxy_remote_stats st;

	if (!n->rm)
		return true;
	proxy_remote_get_stats(n->rm, &st);
	return st.tasks == 0;
}

static void serve_check(evutil_socket_t fd, short what, void *arg)
{
	struct duet_node *n = arg;
	struct timeval tv = {0, 20000};

	if (!n->fsm.own_held)
		return; /* gave them up again meanwhile */
	if (!remote_idle(n)) {
		event_add(n->ev_serve, &tv);
		return;
	}
	log_info("pair: proxied commands finished after %" PRIu64
		 " ms: home port serves",
		 node_now_ms() - n->serve_wait_since);
	iscsi_port_set_state(n->home, ISCSI_PORT_OPEN);
}

static int own_serve(struct duet_node *n)
{
	if (remote_idle(n) || !n->ev_serve) {
		iscsi_port_set_state(n->home, ISCSI_PORT_OPEN);
		return 0;
	}
	log_warn("pair: commands proxied by %s still running here: home "
		 "port refuses logins until they finish",
		 n->partner->name);
	n->serve_wait_since = node_now_ms();
	event_active(n->ev_serve, EV_TIMEOUT, 0);
	return 0;
}

static int addrs(struct ha_addrset *s, bool have, bool add)
{
	if (!have)
		return add ? -EINVAL : 0;
	return add ? ha_addrset_claim(s) : ha_addrset_release(s);
}

/* The partner's addresses are ours now: reset its idle clients. */
static int partner_addrs(struct duet_node *n, bool add)
{
	int rc = addrs(&n->partner_set, n->partner_sets, add);

	if (add && rc == 0)
		node_conns_tickle(n);
	else if (!add)
		ha_tickler_stop(n->tickler);
	return rc;
}

static int do_act(void *ctx, const struct ha_action *a)
{
	struct duet_node *n = ctx;

	switch (a->type) {
	case HA_ACT_PROXY_OPEN:
		return proxy_open(n);
	case HA_ACT_PROXY_STOP_ACCEPT:
		iscsi_port_set_state(n->proxy, ISCSI_PORT_DRAINING);
		return 0;
	case HA_ACT_PROXY_DRAIN:
		n->want_drain = true;
		return 0;
	case HA_ACT_PROXY_DROP_SESSIONS:
		n->cnt.proxy_drops += iscsi_port_drop_sessions(n->proxy);
		return 0;
	case HA_ACT_PROXY_CLOSE:
		proxy_close(n);
		return 0;
	case HA_ACT_PARTNER_ADDRS_ADD:
	case HA_ACT_PARTNER_ADDRS_DEL:
		return partner_addrs(n, a->type == HA_ACT_PARTNER_ADDRS_ADD);
	case HA_ACT_OWN_SERVE:
		return own_serve(n);
	case HA_ACT_OWN_ADDRS_ADD:
	case HA_ACT_OWN_ADDRS_DEL:
		return addrs(&n->own_set, n->own_sets,
			     a->type == HA_ACT_OWN_ADDRS_ADD);
	case HA_ACT_SEND:
		return send_ha(n, a->msg, a->arg);
	default:
		return -EINVAL;
	}
}

static void do_log(void *ctx, enum ha_log_level lvl, const char *line)
{
	switch (lvl) {
	case HA_LOG_ERR:
		log_err("%s", line);
		break;
	case HA_LOG_WARN:
		log_warn("%s", line);
		break;
	case HA_LOG_INFO:
		log_info("%s", line);
		break;
	default:
		log_debug("%s", line);
	}
}

static const struct ha_fsm_ops fsm_ops = {.act = do_act, .log = do_log};

/* The proxy port drained after proxy-drain. */
static void proxy_drained(struct iscsi_port *port, void *arg)
{
	struct duet_node *n = arg;

	if (!n->want_drain)
		return;
	n->want_drain = false;
	node_ha_event(n, HA_EV_DRAIN_DONE, 0);
}

/* ---- the link ---- */

#define SYNC_BITS (HA_SYNC_PATH_UP | HA_SYNC_HOLDS_OWN | HA_SYNC_HOLDS_YOURS)

void node_ha_recv(struct duet_node *n, const struct ic_msg *m)
{
	unsigned code = m->u.ha.code;
	uint32_t arg = m->u.ha.arg;

	if (code >= HA_MSG__COUNT ||
	    (code == HA_MSG_SYNC ? (arg & ~SYNC_BITS) != 0 : arg != 0)) {
		n->cnt.ha_bad++;
		log_warn("pair: HA message code %u arg 0x%x from %s not "
			 "understood: ignored",
			 code, arg, n->partner->name);
		return;
	}
	n->cnt.ha_rx++;
	log_debug("pair: %s: %s (0x%x)", n->partner->name,
		  ha_msg_name((enum ha_msg)code), arg);
	node_ha_event(n, ha_msg_event((enum ha_msg)code), arg);
}

void node_ha_link_up(struct duet_node *n)
{
	node_ha_event(n, HA_EV_IC_UP, 0);
	/* Back from IC_DOWN_PROXYING: serve again. */
	if (n->ic_suspended && n->fsm.proxy_open &&
	    ha_fsm_state(&n->fsm) == HA_ST_PROXYING) {
		n->ic_suspended = false;
		iscsi_port_set_state(n->proxy, ISCSI_PORT_OPEN);
	}
}

/* Nothing proxied can reach the owner: drop the proxy connections (the
 * initiators reconnect and resend) and refuse logins until it returns. */
void node_ha_link_down(struct duet_node *n)
{
	enum iscsi_port_state st = iscsi_port_state(n->proxy);

	if (st == ISCSI_PORT_OPEN || st == ISCSI_PORT_DRAINING) {
		n->ic_suspended = true;
		iscsi_port_set_state(n->proxy, ISCSI_PORT_REFUSING);
		n->cnt.proxy_drops += iscsi_port_drop_sessions(n->proxy);
	}
	node_ha_event(n, HA_EV_IC_DOWN, 0);
}

/* ---- the client path ---- */

int node_path_raw(const struct duet_node *n)
{
	if (n->force != NODE_PATH_AUTO)
		return n->force == NODE_PATH_FORCE_UP ? HA_PATH_UP
						      : HA_PATH_DOWN;
	if (n->pmon)
		return ha_path_mon_state(n->pmon);
	return HA_PATH_UP; /* no interface to watch: up unless forced */
}

static bool path_effective(const struct duet_node *n)
{
	if (n->force == NODE_PATH_AUTO && n->pmon)
		return ha_path_mon_state(n->pmon) == HA_PATH_UP;
	return n->damper.reported == HA_PATH_UP;
}

static void peer_probe_restart(struct duet_node *n);

static void path_update(struct duet_node *n)
{
	bool up = path_effective(n);
	uint64_t dl;

	if (n->ev_damp) {
		dl = ha_damper_deadline(&n->damper);
		event_del(n->ev_damp);
		if (dl) {
			uint64_t now = node_now_ms();
			struct timeval tv =
				ms_to_timeval(dl > now ? dl - now : 0);

			event_add(n->ev_damp, &tv);
		}
	}
	if (up == n->path_up)
		return;
	n->path_up = up;
	if (up)
		n->t_path_up_ms = node_now_ms();
	else
		n->t_path_down_ms = node_now_ms();
	log_info("pair: node %s client path %s (%s)", n->self->name,
		 up ? "up" : "DOWN", node_force_name(n->force));
	/* Fresh partner probes from now on (see peer_cb). */
	if (up)
		peer_probe_restart(n);
	node_ha_event(n, up ? HA_EV_LOCAL_UP : HA_EV_LOCAL_DOWN, 0);
}

/* ---- partner reachability (failover trigger #2) ----
 *
 * Rule (docs/failover.md, "Partner reachability"): "partner unreachable"
 * is fed to the machine only when
 *  - our own client path is up, and it is up through a reachable witness
 *    (evidence that OUR side of the client network works: a node cut off
 *    from the switch while keeping carrier must not take over its healthy
 *    partner; a dead switch makes both nodes' witnesses unreachable, so
 *    neither acts), and
 *  - the verdict still holds one probe round later (probe_interval_ms +
 *    probe_timeout_ms), so that a witness failing in the same round as
 *    the partner probe turns our path down first.
 * Probe results seen while our path is down are ignored, and the prober
 * starts afresh when it comes back. "Reachable again" is damped by the
 * prober (stable for damp_ms) and always fed: it only leads to giveback. */

static bool own_side_proven(const struct duet_node *n)
{
	return n->path_up && n->force == NODE_PATH_AUTO && n->pmon &&
	       n->self->n_witnesses > 0 &&
	       ha_path_mon_state(n->pmon) == HA_PATH_UP;
}

static void peer_feed(struct duet_node *n, int st)
{
	if (st == n->peer_reach)
		return;
	n->peer_reach = st;
	if (st == HA_PATH_UP)
		log_info("pair: partner %s reachable on the client network "
			 "(%s, stable for %u ms)",
			 n->partner->name, n->peer_probe_addr,
			 n->cfg->cluster.damp_ms);
	else
		log_warn("pair: partner %s UNREACHABLE on the client network "
			 "(%s does not answer from %s) while our path and "
			 "witness are up",
			 n->partner->name, n->peer_probe_addr,
			 n->self->client_interface);
	node_ha_event(n,
		      st == HA_PATH_UP ? HA_EV_PEER_REACHABLE
				       : HA_EV_PEER_UNREACHABLE,
		      0);
}

static void peer_confirm_cb(evutil_socket_t fd, short what, void *arg)
{
	struct duet_node *n = arg;

	if (n->peer_raw != HA_PATH_DOWN)
		return;
	if (!own_side_proven(n)) {
		log_info("pair: partner %s unreachable, but our own client "
			 "path is not proven by a witness: not acted upon",
			 n->partner->name);
		return;
	}
	peer_feed(n, HA_PATH_DOWN);
}

static void peer_cb(void *ctx, bool up)
{
	struct duet_node *n = ctx;
	const struct cfg_cluster *c = &n->cfg->cluster;
	uint32_t ms = c->probe_interval_ms + c->probe_timeout_ms;
	struct timeval tv = ms_to_timeval(ms);

	n->peer_raw = up ? HA_PATH_UP : HA_PATH_DOWN;
	if (n->ev_peer)
		event_del(n->ev_peer);
	if (!n->path_up) {
		log_debug("pair: partner %s probe %s ignored: our own client "
			  "path is down",
			  n->partner->name, up ? "reachable" : "unreachable");
		return;
	}
	if (up) {
		peer_feed(n, HA_PATH_UP);
		return;
	}
	if (!own_side_proven(n)) {
		if (!n->peer_warned)
			log_warn("pair: partner %s unreachable at %s, not "
				 "acted upon: this node has no reachable "
				 "witness to prove its own side of the client "
				 "network (configure witnesses)",
				 n->partner->name, n->peer_probe_addr);
		n->peer_warned = true;
		return;
	}
	if (n->ev_peer)
		event_add(n->ev_peer, &tv);
}

static void peer_probe_restart(struct duet_node *n)
{
	const struct cfg_cluster *c = &n->cfg->cluster;
	struct ha_path_cfg pc = {
		.ifname = n->self->client_interface,
		.damp_ms = c->damp_ms,
		.damp_initial = false,
		.n_witnesses = 1,
		.probe_interval_ms = c->probe_interval_ms,
		.probe_timeout_ms = c->probe_timeout_ms,
		.probe_fail_max = PROBE_FAIL_MAX,
		.label = n->peer_label,
	};

	if (!n->peer_probe || n->stopping)
		return;
	n->peer_raw = HA_PATH_UNKNOWN;
	if (n->ev_peer)
		event_del(n->ev_peer);
	if (n->peer_mon)
		ha_path_mon_destroy(n->peer_mon);
	n->peer_mon = NULL;
	pc.witness[0] = n->peer_ss;
	if (ha_path_mon_create(n->base, &pc, peer_cb, n, &n->peer_mon) < 0)
		log_err("pair: cannot probe partner %s at %s: failover on "
			"client-network unreachability disabled",
			n->partner->name, n->peer_probe_addr);
}

/* Where the partner is probed: its client_address, else (portal form)
 * its first portal; the takeover form's portals move, so none then. */
static void peer_probe_config(struct duet_node *n)
{
	const struct cfg_portal *p = n->partner->client_address.host
					     ? &n->partner->client_address
					     : NULL;
	socklen_t len;

	n->peer_reach = HA_PATH_UNKNOWN;
	if (!p && !n->takeover && n->partner->n_portals)
		p = &n->partner->portals[0];
	n->peer_why = "not probed (no client_address)";
	if (!p) {
		log_info("pair: partner %s has no client_address: its "
			 "reachability on the client network is not probed",
			 n->partner->name);
		return;
	}
	if (!n->self->client_interface) {
		n->peer_why = "not probed (no client_interface here)";
		log_info("pair: no client_interface: partner %s is not probed "
			 "on the client network",
			 n->partner->name);
		return;
	}
	node_hostport(n->peer_probe_addr, sizeof(n->peer_probe_addr), p);
	if (ha_path_parse_hostport(n->peer_probe_addr, &n->peer_ss, &len) < 0) {
		n->peer_why = "not probed (address not numeric)";
		log_warn("pair: partner address %s: not numeric, not probed",
			 n->peer_probe_addr);
		return;
	}
	n->peer_probe = true;
	snprintf(n->peer_label, sizeof(n->peer_label), "partner %s probe",
		 n->partner->name);
	log_info("pair: probing partner %s at %s out of %s", n->partner->name,
		 n->peer_probe_addr, n->self->client_interface);
}

/* Forced states and the interface-less path go through our own damper
 * (down at once, up after damp_ms); the monitor damps its own. */
static void damper_feed(struct duet_node *n)
{
	if (n->force == NODE_PATH_AUTO && n->pmon)
		return;
	ha_damper_input(&n->damper, node_path_raw(n), node_now_ms());
}

static void damp_cb(evutil_socket_t fd, short what, void *arg)
{
	struct duet_node *n = arg;

	ha_damper_tick(&n->damper, node_now_ms());
	path_update(n);
}

static void mon_cb(void *ctx, bool up)
{
	path_update(ctx);
}

void node_ha_set_force(struct duet_node *n, enum node_force f)
{
	log_warn("pair: node %s client path set to %s by the administrator",
		 n->self->name, node_force_name(f));
	n->force = f;
	damper_feed(n);
	path_update(n);
}

static int start_monitor(struct duet_node *n)
{
	const struct cfg_cluster *c = &n->cfg->cluster;
	struct ha_path_cfg pc = {
		.ifname = n->self->client_interface,
		.damp_ms = c->damp_ms,
		.probe_interval_ms = c->probe_interval_ms,
		.probe_timeout_ms = c->probe_timeout_ms,
		.probe_fail_max = PROBE_FAIL_MAX,
	};
	char hp[96];

	if (!n->self->client_interface) {
		if (n->self->n_witnesses)
			log_warn("pair: witnesses need client_interface; "
				 "they are not probed");
		log_info("pair: no client_interface: the client path counts "
			 "as up (duetctl path down|up|auto to override)");
		return 0;
	}
	for (size_t i = 0;
	     i < n->self->n_witnesses && pc.n_witnesses < HA_PATH_MAX_WITNESSES;
	     i++) {
		socklen_t len;

		snprintf(hp, sizeof(hp), "%s%s%s:%u",
			 strchr(n->self->witnesses[i].host, ':') ? "[" : "",
			 n->self->witnesses[i].host,
			 strchr(n->self->witnesses[i].host, ':') ? "]" : "",
			 n->self->witnesses[i].port);
		if (ha_path_parse_hostport(hp, &pc.witness[pc.n_witnesses],
					   &len) == 0)
			pc.n_witnesses++;
		else
			log_warn("pair: witness %s: not a numeric address", hp);
	}
	return ha_path_mon_create(n->base, &pc, mon_cb, n, &n->pmon);
}

/* ---- address sets (takeover form) ---- */

static int make_set(struct duet_node *n, struct ha_addrset *s, const char *name,
		    const struct cfg_node *owner)
{
	struct ha_addr a[HA_ADDRSET_MAX];
	unsigned k = 0;

	for (size_t i = 0; i < owner->n_portals && k < HA_ADDRSET_MAX; i++) {
		bool dup = false;

		if (ha_addr_parse(owner->portals[i].host, &a[k]) < 0) {
			log_err("pair: portal address %s of node %s cannot "
				"move (takeover form needs numeric addresses)",
				owner->portals[i].host, owner->name);
			return -EINVAL;
		}
		for (unsigned j = 0; j < k; j++)
			dup |= !memcmp(&a[j], &a[k], sizeof(a[k]));
		if (!dup)
			k++;
	}
	return ha_addrset_init(s, n->base, name, n->self->client_interface, a,
			       k);
}

static int make_sets(struct duet_node *n)
{
	char name[32];
	int rc;

	if (!n->takeover)
		return 0;
	if (!n->self->client_interface) {
		log_err("pair: the takeover form needs client_interface on "
			"node %s (where the portal addresses move)",
			n->self->name);
		return -EINVAL;
	}
	rc = make_set(n, &n->own_set, "own", n->self);
	if (rc < 0)
		return rc;
	n->own_sets = true;
	snprintf(name, sizeof(name), "partner %s", n->partner->name);
	rc = make_set(n, &n->partner_set, name, n->partner);
	if (rc < 0)
		return rc;
	n->partner_sets = true;
	return 0;
}

int node_ha_start(struct duet_node *n)
{
	struct ha_fsm_cfg fc = {
		.node = n->self->name,
		.takeover_form = n->takeover,
		.start_timeout_ms =
			n->takeover
				? START_BACKOFF_MS +
					  n->cfg->cluster.heartbeat_timeout_ms
				: START_TIMEOUT_PORTAL_MS,
		.takeover_timeout_ms = TAKEOVER_TIMEOUT_MS,
		.retry_ms = RETRY_MS,
		.drain_timeout_ms = DRAIN_TIMEOUT_MS,
		.giveback_timeout_ms = GIVEBACK_TIMEOUT_MS,
		.ic_hold_ms = n->cfg->cluster.ic_hold_ms,
		.reclaim_wait_ms = n->cfg->cluster.ic_hold_ms +
				   n->cfg->cluster.heartbeat_timeout_ms,
	};
	int rc = make_sets(n);

	if (rc == 0)
		rc = node_dad_start(n);
	if (rc < 0)
		return rc;
	n->ev_fsm = evtimer_new(n->base, fsm_timer_cb, n);
	n->ev_damp = evtimer_new(n->base, damp_cb, n);
	n->ev_serve = evtimer_new(n->base, serve_check, n);
	n->ev_peer = evtimer_new(n->base, peer_confirm_cb, n);
	if (!n->ev_fsm || !n->ev_damp || !n->ev_serve || !n->ev_peer)
		return -ENOMEM;
	rc = node_conns_start(n);
	if (rc < 0)
		return rc;
	iscsi_port_set_drained_cb(n->proxy, proxy_drained, n);
	ha_damper_init(&n->damper, n->cfg->cluster.damp_ms, false);
	ha_fsm_init(&n->fsm, &fc, &fsm_ops, n, node_now_ms());
	n->fsm_ready = true;
	if (n->takeover)
		log_warn("pair: takeover form: the home port refuses logins "
			 "(status 0x0301, retried by initiators) until partner "
			 "%s tells whether it holds our portal addresses, or, "
			 "without an interconnect after %u ms, until a probe "
			 "of the client network finds them free (not before "
			 "%u ms)",
			 n->partner->name, fc.start_timeout_ms,
			 fc.reclaim_wait_ms);
	n->last_state = ha_fsm_state(&n->fsm);
	n->state_since_ms = node_now_ms();
	peer_probe_config(n);
	rc = start_monitor(n);
	if (rc < 0)
		return rc;
	damper_feed(n);
	path_update(n);
	arm_timer(n);
	return 0;
}

void node_ha_stop(struct duet_node *n)
{
	node_dad_stop(n);
	if (n->peer_mon) {
		ha_path_mon_destroy(n->peer_mon);
		n->peer_mon = NULL;
	}
	n->peer_probe = false;
	if (n->ev_peer) {
		event_free(n->ev_peer);
		n->ev_peer = NULL;
	}
	if (n->pmon) {
		ha_path_mon_destroy(n->pmon);
		n->pmon = NULL;
	}
	if (n->ev_fsm) {
		event_free(n->ev_fsm);
		n->ev_fsm = NULL;
	}
	if (n->ev_damp) {
		event_free(n->ev_damp);
		n->ev_damp = NULL;
	}
	if (n->ev_serve) {
		event_free(n->ev_serve);
		n->ev_serve = NULL;
	}
	if (n->proxy)
		iscsi_port_set_drained_cb(n->proxy, NULL, NULL);
	node_conns_stop(n);
	/* Addresses we added go: no address outlives the daemon. */
	if (n->partner_sets && n->partner_set.claimed)
		ha_addrset_release(&n->partner_set);
	if (n->own_sets && n->own_set.claimed)
		ha_addrset_release(&n->own_set);
	if (n->partner_sets)
		ha_addrset_destroy(&n->partner_set);
	if (n->own_sets)
		ha_addrset_destroy(&n->own_set);
	n->partner_sets = n->own_sets = false;
	n->fsm_ready = false;
}
