/* SPDX-License-Identifier: Apache-2.0 */
/* Private to src/node/: node.c (ports, link, adapters, life cycle),
 * node_ha.c (path, state machine, actions), node_ctl.c (control). */
#ifndef DUET_NODE_INT_H
#define DUET_NODE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "duet/config.h"
#include "duet/ha_fsm.h"
#include "duet/ha_path.h"
#include "duet/ha_takeover.h"
#include "duet/ic_link.h"
#include "duet/iscsi.h"
#include "duet/node.h"
#include "duet/proxy.h"

struct event;
struct ha_dad;
struct ha_tickler;

/* Administrator override of the client path (`duetctl path`). */
enum node_force {
	NODE_PATH_AUTO = -1,
	NODE_PATH_FORCE_DOWN = 0,
	NODE_PATH_FORCE_UP = 1,
};

struct node_counters {
	uint64_t failovers;  /* entered PROXYING_FOR_PARTNER */
	uint64_t givebacks;  /* PROXYING -> NORMAL through giveback */
	uint64_t taken_over; /* partner started proxying for us */
	uint64_t taken_back; /* we took our portals back */
	uint64_t ic_ups, ic_downs;
	uint64_t
		proxy_drops; /* proxy connections dropped (IC down / giveback) */
	uint64_t ha_rx, ha_tx, ha_bad;
};

struct duet_node {
	struct event_base *base;
	const struct duet_config *cfg;
	const struct cfg_node *self, *partner;
	bool takeover; /* proxy form */
	struct scsi_target *const *targets;
	size_t n_targets;
	struct iscsi_port *home, *proxy;
	/* The proxy port's dispatcher: forwards to the virtual adapter
	 * while it exists; after node_stop() freed it, closing sessions
	 * may still end their nexus here (and any late task fails). */
	struct scsi_dispatcher shim;
	struct ic_link *link;
	struct proxy_vadapter *va;
	struct proxy_remote *rm;
	char ic_listen[96], ic_peer[96];
	/* HA */
	struct ha_fsm fsm;
	bool fsm_ready;
	struct event *ev_fsm;	  /* the machine's deadline */
	struct ha_path_mon *pmon; /* NULL without client_interface */
	struct ha_damper damper;  /* forced / interface-less path */
	/* Partner reachability on the client network (trigger #2): TCP
	 * probes of the partner's fixed client address, out of our client
	 * interface, damped like the path monitor. Fed to the machine only
	 * while our own path is up; restarted each time it comes back. */
	struct ha_path_mon *peer_mon; /* NULL: not probed */
	bool peer_probe;	      /* configured (address + interface) */
	char peer_probe_addr[96];
	struct sockaddr_storage peer_ss;
	char peer_label[48];
	const char *peer_why;  /* why not probed (for `pair`) */
	int peer_reach;	       /* HA_PATH_*, as last fed to the machine */
	int peer_raw;	       /* HA_PATH_*, as last reported by the prober */
	struct event *ev_peer; /* confirms an "unreachable" verdict */
	bool peer_warned;      /* "no witness: not acted upon" logged */
	struct event *ev_damp;
	enum node_force force;
	bool path_up;	   /* what the machine was told last */
	bool want_drain;   /* proxy-drain asked, drain-done not yet fed */
	bool ic_suspended; /* proxy port refused because the link is down */
	bool own_sets, partner_sets;
	struct event *ev_serve; /* home port waits for proxied commands */
	uint64_t serve_wait_since;
	struct ha_addrset own_set, partner_set;
	/* Probes of our own addresses (takeover form, node_dad.c). */
	struct ha_dad *dad;   /* the round running, or NULL */
	struct event *ev_dad; /* next round */
	int dad_last;	      /* verdict last logged, -1 none */
	unsigned dad_last_idx;
	uint8_t dad_last_mac[6];
	bool dad_waiting; /* "probing in N ms" logged */
	enum ha_state last_state;
	uint64_t state_since_ms;
	uint64_t t_path_down_ms, t_path_up_ms; /* for `pair` */
	/* Tickles (node_tickle.c): the partner's last complete connection
	 * list, the one being received, and the sender. */
	struct ic_conn_ent *peer_conns, *peer_conns_rx;
	unsigned n_peer_conns, n_peer_conns_rx;
	bool peer_conns_building;
	struct ha_tickler *tickler;
	struct node_counters cnt;
	bool stopping;
};

uint64_t node_now_ms(void);
/* "host:port", "[v6]:port" */
void node_hostport(char *buf, size_t len, const struct cfg_portal *p);

/* node_ha.c */
int node_ha_start(struct duet_node *n);
void node_ha_stop(struct duet_node *n);
/* Feed an event to the machine, then carry out what follows from it. */
void node_ha_event(struct duet_node *n, enum ha_event ev, uint32_t arg);
/* The link's IC_HA message. */
void node_ha_recv(struct duet_node *n, const struct ic_msg *m);
void node_ha_link_up(struct duet_node *n);
void node_ha_link_down(struct duet_node *n);
void node_ha_set_force(struct duet_node *n, enum node_force f);
int node_path_raw(const struct duet_node *n);
const char *node_force_name(enum node_force f);

/* node_dad.c (takeover form): leftovers removed at start, probes of our
 * own addresses while the machine wants them. */
int node_dad_start(struct duet_node *n);
void node_dad_reconcile(struct duet_node *n);
void node_dad_stop(struct duet_node *n);
struct ctl_reply;
/* `pair`: the probe line (takeover form, while probing). */
void node_dad_show(struct ctl_reply *r, const struct duet_node *n);

/* node_tickle.c (takeover form): our connection list before PATH_DOWN,
 * the partner's list, the tickles after claiming its addresses. */
int node_conns_start(struct duet_node *n);
void node_conns_stop(struct duet_node *n);
/* Send our home port's client connections to the partner (takeover form),
 * for its tickles. skip_empty: send nothing when there are none, so that
 * a list sent earlier (with PATH_DOWN) is not replaced by an empty one. */
int node_conns_send(struct duet_node *n, bool skip_empty);
void node_conns_recv(struct duet_node *n, const struct ic_msg *m);
void node_conns_tickle(struct duet_node *n);

/* node_ctl.c */
void node_ctl_register(struct duet_node *n);

#endif
