// SPDX-License-Identifier: Apache-2.0
/*
 * Control commands of a pair node (duetctl):
 *   pair              state, partner, interconnect, path, ports, adapters
 *   ha status         the same
 *   path down|up|auto force this node's client path (fault injection for
 *                     tests and demos; `auto` returns to the monitor)
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "duet/ctl.h"
#include "node_int.h"

static const char *path_name(int st)
{
	return st == HA_PATH_UP	    ? "up"
	       : st == HA_PATH_DOWN ? "down"
				    : "unknown";
}

static void show_port(struct ctl_reply *r, struct iscsi_port *p)
{
	char portals[256] = "";
	size_t off = 0;

	for (size_t i = 0; i < iscsi_port_portal_count(p); i++) {
		const struct cfg_portal *pp = iscsi_port_portal_at(p, i);
		bool v6 = strchr(pp->host, ':') != NULL;
		int k = snprintf(portals + off, sizeof(portals) - off,
				 "%s%s%s%s:%u", i ? "," : "", v6 ? "[" : "",
				 pp->host, v6 ? "]" : "", pp->port);

		if (k < 0 || (size_t)k >= sizeof(portals) - off)
			break;
		off += (size_t)k;
	}
	ctl_reply_printf(r,
			 "port %s: %s, relative port %u, tpgt %u%s, portals "
			 "%s, %zu target(s), %u command(s) in flight",
			 iscsi_port_name(p),
			 iscsi_port_state_name(iscsi_port_state(p)),
			 iscsi_port_rel_id(p), iscsi_port_tpgt(p),
			 iscsi_port_tpgt(p) ? "" : " (per target)", portals,
			 iscsi_port_target_count(p), iscsi_port_inflight(p));
	for (size_t i = 0; i < iscsi_port_target_count(p); i++) {
		struct iscsi_target *t = iscsi_port_target_at(p, i);

		ctl_reply_printf(r, "  target %s: %u session(s)", t->cfg->name,
				 t->n_sessions);
	}
}

static void show_link(struct ctl_reply *r, struct duet_node *n)
{
	struct ic_link_stats st;
	const char *err;

	if (!n->link) {
		ctl_reply_printf(r, "interconnect: stopped");
		return;
	}
	ic_link_get_stats(n->link, &st);
	/* the last failure matters while the link is down */
	err = ic_link_is_up(n->link) ? NULL : ic_link_last_error(n->link);
	ctl_reply_printf(r,
			 "interconnect: %s (%s <-> %s), ups %" PRIu64
			 " downs %" PRIu64 ", msgs tx %" PRIu64 " rx %" PRIu64
			 ", bytes tx %" PRIu64 " rx %" PRIu64
			 " (data read in place %" PRIu64 ", copied %" PRIu64
			 "), tx queued %zu, auth failures %" PRIu64 "%s%s",
			 ic_link_is_up(n->link) ? "up" : "DOWN", n->ic_listen,
			 n->ic_peer, st.ups, st.downs, st.tx_msgs, st.rx_msgs,
			 st.tx_bytes, st.rx_bytes, st.rx_data_direct,
			 st.rx_data_copied, st.tx_queued, st.auth_failures,
			 err && *err ? ", last error: " : "",
			 err && *err ? err : "");
}

static void show_adapters(struct ctl_reply *r, struct duet_node *n)
{
	struct proxy_vadapter_stats vs;
	struct proxy_remote_stats rs;

	if (n->va) {
		proxy_vadapter_get_stats(n->va, &vs);
		ctl_reply_printf(r,
				 "proxied for %s (local virtual adapter): "
				 "in flight %u, queued %u, sent %" PRIu64
				 ", completed %" PRIu64
				 ", failed (interconnect) %" PRIu64
				 ", task set full %" PRIu64,
				 n->partner->name, vs.inflight, vs.queued,
				 vs.sent, vs.completed, vs.failed_link,
				 vs.rejected_full);
	}
	if (n->rm) {
		proxy_remote_get_stats(n->rm, &rs);
		ctl_reply_printf(r,
				 "served for %s's proxy port (partner virtual "
				 "adapter): tasks %u, held %u, nexuses %u, "
				 "received %" PRIu64 ", answered %" PRIu64
				 ", aborted (interconnect) %" PRIu64,
				 n->partner->name, rs.tasks, rs.held,
				 rs.nexuses, rs.received, rs.answered,
				 rs.aborted_link);
	}
}

static int cmd_status(struct ctl_reply *r, struct duet_node *n)
{
	uint64_t now = node_now_ms();
	const struct ha_fsm *f = &n->fsm;

	ctl_reply_printf(r, "node %s, cluster %s, %s form, partner %s",
			 n->self->name, n->cfg->cluster.name,
			 n->takeover ? "takeover" : "portal", n->partner->name);
	ctl_reply_printf(r, "state %s for %.1f s", ha_state_name(f->state),
			 (double)(now - n->state_since_ms) / 1000.0);
	ctl_reply_printf(
		r,
		"client path %s (%s%s%s), partner's path %s, holds "
		"own portals %s, holds partner's %s, proxy open %s",
		n->path_up ? "up" : "DOWN", node_force_name(n->force),
		n->pmon ? ", monitor " : "",
		n->pmon ? path_name(ha_path_mon_state(n->pmon)) : "",
		f->peer_path_up ? "up" : "DOWN", f->own_held ? "yes" : "no",
		f->partner_held ? "yes" : "no", f->proxy_open ? "yes" : "no");
	if (n->peer_probe)
		ctl_reply_printf(
			r,
			"partner on the client network: %s (probe "
			"%s, now %s)",
			f->peer_reach ? "reachable" : "UNREACHABLE",
			n->peer_probe_addr,
			n->peer_mon ? path_name(ha_path_mon_state(n->peer_mon))
				    : "stopped");
	else
		ctl_reply_printf(r, "partner on the client network: %s",
				 n->peer_why ? n->peer_why : "not probed");
	node_dad_show(r, n);
	show_link(r, n);
	show_port(r, n->home);
	show_port(r, n->proxy);
	show_adapters(r, n);
	ctl_reply_printf(r,
			 "counters: failovers %" PRIu64 ", givebacks %" PRIu64
			 ", taken over by partner %" PRIu64
			 ", taken back %" PRIu64
			 ", proxy connections dropped %" PRIu64
			 ", HA msgs tx %" PRIu64 " rx %" PRIu64 " bad %" PRIu64,
			 n->cnt.failovers, n->cnt.givebacks, n->cnt.taken_over,
			 n->cnt.taken_back, n->cnt.proxy_drops, n->cnt.ha_tx,
			 n->cnt.ha_rx, n->cnt.ha_bad);
	return 0;
}

static int cmd_pair(struct ctl_reply *r, int argc, char **argv, void *arg)
{
	if (argc > 1)
		return ctl_reply_error(r, "usage: pair");
	return cmd_status(r, arg);
}

static int cmd_ha(struct ctl_reply *r, int argc, char **argv, void *arg)
{
	if (argc != 2 || strcmp(argv[1], "status"))
		return ctl_reply_error(r, "usage: ha status");
	return cmd_status(r, arg);
}

static int cmd_path(struct ctl_reply *r, int argc, char **argv, void *arg)
{
	struct duet_node *n = arg;
	enum node_force f;

	if (argc == 1) {
		ctl_reply_printf(r, "client path %s (%s)",
				 n->path_up ? "up" : "down",
				 node_force_name(n->force));
		return 0;
	}
	if (argc != 2)
		return ctl_reply_error(r, "usage: path [down|up|auto]");
	if (!strcmp(argv[1], "down"))
		f = NODE_PATH_FORCE_DOWN;
	else if (!strcmp(argv[1], "up"))
		f = NODE_PATH_FORCE_UP;
	else if (!strcmp(argv[1], "auto"))
		f = NODE_PATH_AUTO;
	else
		return ctl_reply_error(r, "usage: path [down|up|auto]");
	node_ha_set_force(n, f);
	ctl_reply_printf(r, "client path %s (%s)%s", n->path_up ? "up" : "down",
			 node_force_name(n->force),
			 f != NODE_PATH_FORCE_DOWN && !n->path_up
				 ? "; counts as up once stable for damp_ms"
				 : "");
	return 0;
}

void node_ctl_register(struct duet_node *n)
{
	ctl_register("pair",
		     "- HA pair status: state, partner, interconnect, path, "
		     "ports, proxied I/O",
		     cmd_pair, n);
	ctl_register("ha", "status - same as pair", cmd_ha, n);
	ctl_register("path",
		     "[down|up|auto] - show or force this node's client path "
		     "(fault injection; auto = the monitor decides)",
		     cmd_path, n);
}
