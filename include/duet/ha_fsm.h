/* SPDX-License-Identifier: Apache-2.0 */
/* The failover state machine of one node of the pair.
 *
 * A pure module: no I/O, no clock, no allocation. Events go in through
 * ha_fsm_event() together with the current time; the machine answers with
 * actions through ops->act(), in the order they must be carried out, and
 * with one log line per transition through ops->log(). Timers are a single
 * deadline per state: the caller asks ha_fsm_deadline() and calls
 * ha_fsm_tick() when it is reached. docs/failover.md describes every state
 * and the transition table (ha_fsm_table()).
 *
 * Vocabulary: "own addresses" are this node's portal addresses, "partner
 * addresses" the partner's (moved only in the takeover form). "Peer bad"
 * means the partner reported its client path down, or we found it
 * unreachable on the client network while it is alive on the interconnect.
 *
 * Rules it enforces: no address moves to a second host while the
 * interconnect is down (takeover form: a proxying node lets the
 * partner's addresses go after ic_hold_ms, and an owner that may have
 * been proxied for claims its own only after reclaim_wait_ms and a
 * conflict probe that found them free: HA_EV_OWN_ADDRS_FREE); an
 * owner drops its addresses before it answers RELEASED, and a proxy node
 * adds them only after RELEASED; at giveback the proxy node drains and
 * releases before it sends GIVEBACK, and the owner serves before it
 * announces. Action callbacks must not call back into the machine. */
#ifndef DUET_HA_FSM_H
#define DUET_HA_FSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ha_state {
	HA_ST_STARTING = 0,	/* boot: IC down, holding nothing yet */
	HA_ST_SYNCING,		/* IC up, waiting for the partner's SYNC */
	HA_ST_NORMAL,		/* IC up, own path up, own addresses held */
	HA_ST_TAKING_OVER,	/* asked partner to release, waiting */
	HA_ST_PROXYING,		/* serving partner's targets (proxy port) */
	HA_ST_GIVING_BACK,	/* proxy port not taking commands, draining */
	HA_ST_GIVEBACK_WAIT,	/* released partner addresses, waiting ack */
	HA_ST_LOCAL_DOWN,	/* own path down, nobody holds my addresses */
	HA_ST_PARTNER_PROXYING, /* partner proxies for me (or may) */
	HA_ST_TAKING_BACK, /* own path back and stable, awaiting GIVEBACK */
	HA_ST_IC_DOWN,	   /* IC down: holding own addresses, no moves */
	HA_ST_IC_DOWN_PROXYING, /* IC down while proxying: keep everything */
	HA_ST_IC_DOWN_RELEASED, /* IC down, own addresses released */
	HA_ST__COUNT
};

enum ha_event {
	HA_EV_LOCAL_UP = 0,	/* own client path up (already damped) */
	HA_EV_LOCAL_DOWN,	/* own client path down */
	HA_EV_PEER_UP,		/* partner reports its client path up */
	HA_EV_PEER_DOWN,	/* partner reports its client path down */
	HA_EV_PEER_REACHABLE,	/* our probes reach the partner's client side */
	HA_EV_PEER_UNREACHABLE, /* ... no longer (damped by the prober) */
	HA_EV_IC_UP,		/* interconnect authenticated and up */
	HA_EV_IC_DOWN,		/* interconnect lost (heartbeat deadline) */
	HA_EV_PEER_SYNC,	/* partner's SYNC; arg = HA_SYNC_* bits */
	HA_EV_TAKEOVER_REQ,	/* partner asks us to release our addresses */
	HA_EV_RELEASED,		/* partner released its addresses for us */
	HA_EV_GIVEBACK,		/* partner released our addresses back */
	HA_EV_TAKEN_BACK,	/* partner acknowledged our GIVEBACK */
	HA_EV_DRAIN_DONE,	/* proxy port has no command in flight */
	HA_EV_OWN_ADDRS_FREE,	/* takeover form: a probe of the client
				 * network found no host holding any of our
				 * portal addresses (ha_fsm_own_probe_at) */
	HA_EV_TIMEOUT,		/* internal: state deadline reached */
	HA_EV_EVAL, /* internal: re-evaluate after entering NORMAL */
	HA_EV__COUNT
};

/* Bits of a SYNC message (sent by both sides right after IC up). */
#define HA_SYNC_PATH_UP 0x1u	 /* sender's client path is up */
#define HA_SYNC_HOLDS_OWN 0x2u	 /* sender holds its own addresses */
#define HA_SYNC_HOLDS_YOURS 0x4u /* sender holds the receiver's addresses */

/* Messages to the partner (carried by the interconnect). */
enum ha_msg {
	HA_MSG_PATH_UP = 0, /* my client path is up (damped) */
	HA_MSG_PATH_DOWN,
	HA_MSG_SYNC,	     /* arg = HA_SYNC_* bits */
	HA_MSG_TAKEOVER_REQ, /* please release your addresses */
	HA_MSG_RELEASED,     /* my addresses are released: serve them */
	HA_MSG_GIVEBACK,     /* I released your addresses: take them */
	HA_MSG_TAKEN_BACK,   /* ack of GIVEBACK */
	HA_MSG__COUNT
};

enum ha_action_type {
	HA_ACT_PROXY_OPEN = 0,	  /* open proxy port: export partner targets,
				  * accept logins and commands */
	HA_ACT_PROXY_STOP_ACCEPT, /* no new commands or logins on proxy port */
	HA_ACT_PROXY_DRAIN,	  /* report HA_EV_DRAIN_DONE when idle */
	HA_ACT_PROXY_DROP_SESSIONS, /* log out / drop proxy port sessions */
	HA_ACT_PROXY_CLOSE,	    /* close the proxy port */
	HA_ACT_PARTNER_ADDRS_ADD,   /* add partner addresses + GARP/NA */
	HA_ACT_PARTNER_ADDRS_DEL,   /* remove partner addresses */
	HA_ACT_OWN_SERVE,	    /* make sure own portals listen and serve */
	HA_ACT_OWN_ADDRS_ADD,	    /* add own addresses + GARP/NA */
	HA_ACT_OWN_ADDRS_DEL,	    /* remove own addresses */
	HA_ACT_SEND,		    /* send msg (with arg) to the partner */
	HA_ACT__COUNT
};

struct ha_action {
	enum ha_action_type type;
	enum ha_msg msg; /* HA_ACT_SEND only */
	uint32_t arg;	 /* HA_MSG_SYNC bits */
};

enum ha_log_level {
	HA_LOG_ERR = 0,
	HA_LOG_WARN,
	HA_LOG_INFO,
	HA_LOG_DEBUG,
};

struct ha_fsm_ops {
	/* Carry out one action; 0 or -errno. A failed PROXY_OPEN or
	 * PARTNER_ADDRS_ADD aborts the takeover (see docs/failover.md). */
	int (*act)(void *ctx, const struct ha_action *a);
	/* One complete line, no trailing newline. May be NULL. */
	void (*log)(void *ctx, enum ha_log_level lvl, const char *line);
};

struct ha_fsm_cfg {
	const char *node;	      /* for log lines */
	bool takeover_form;	      /* move addresses (else: portal form) */
	uint32_t start_timeout_ms;    /* STARTING: claim own addresses after */
	uint32_t takeover_timeout_ms; /* TAKING_OVER: wait for RELEASED */
	uint32_t retry_ms;	   /* NORMAL: retry a failed takeover after */
	uint32_t drain_timeout_ms; /* GIVING_BACK: give up draining after */
	uint32_t giveback_timeout_ms; /* GIVEBACK_WAIT: wait for TAKEN_BACK */
	/* Takeover form, interconnect down. IC_DOWN_PROXYING: release the
	 * partner's addresses after ic_hold_ms (0: never). IC_DOWN_RELEASED
	 * (the partner may hold ours): probe for our own addresses, and
	 * claim them when free, only once the interconnect has been down
	 * reclaim_wait_ms (the partner's ic_hold_ms plus how much later
	 * than us it may notice the loss), or since start. */
	uint32_t ic_hold_ms;
	uint32_t reclaim_wait_ms;
};

/* Guards used by the transition table (see ha_fsm_table()). */
enum ha_guard {
	HA_G_ALWAYS = 0,
	HA_G_LOCAL_UP,	    /* own path up */
	HA_G_CAN_TAKE,	    /* own path up, IC up + synced, peer bad */
	HA_G_PEER_OK,	    /* peer path up and reachable */
	HA_G_PEER_BAD,	    /* not HA_G_PEER_OK */
	HA_G_SYNC_YOURS_UP, /* SYNC: partner holds mine, own path up */
	HA_G_SYNC_YOURS,    /* SYNC: partner holds my addresses */
	HA_G_SYNC_OWN,	    /* SYNC: partner holds its own addresses */
	HA_G_NOT_MAY_HOLD,  /* partner cannot hold my addresses, local up */
	HA_G_PORTAL_UP,	    /* portal form, own path up */
	HA_G_RECLAIM,	    /* own path up, IC down >= reclaim_wait_ms */
	HA_G_BOOTING,	    /* never synced with the partner since boot */
	HA_G__COUNT
};

struct ha_fsm;
typedef int (*ha_fsm_handler)(struct ha_fsm *f);

/* One row: in state `from`, on `ev`, if `guard` holds, run `handler` and
 * go to `to` (or to `fail_to` when the handler returns an error). The
 * first matching row wins; an event without a row is ignored and logged. */
struct ha_fsm_row {
	enum ha_state from;
	enum ha_event ev;
	enum ha_guard guard;
	enum ha_state to;
	enum ha_state fail_to;
	const char *what; /* the handler, named for docs and logs */
	ha_fsm_handler handler;
};

#define HA_FSM_MAX_ROWS 96

struct ha_fsm {
	struct ha_fsm_cfg cfg;
	const struct ha_fsm_ops *ops;
	void *ctx;
	enum ha_state state;
	uint64_t now_ms;
	uint64_t deadline_ms; /* 0: no timer */
	/* Facts, updated from events before the table is consulted. */
	bool local_up;
	bool peer_path_up;
	bool peer_reach;
	bool ic_up;
	uint64_t ic_down_at; /* when the IC went down (or init) */
	bool synced;	     /* a SYNC was received since boot */
	bool peer_fresh;     /* a SYNC was received since IC up */
	uint32_t sync_arg;   /* arg of the event being handled */
	/* What we hold, updated by the handlers as actions succeed. */
	bool own_held;
	bool partner_held;
	bool proxy_open;
	bool partner_may_hold; /* we sent RELEASED, no GIVEBACK since */
	bool in_event;	       /* re-entrancy guard */
	uint32_t hits[HA_FSM_MAX_ROWS]; /* per table row, for tests/stats */
};

/* Start in STARTING at now_ms (logged). Own path assumed down, peer path
 * assumed up and reachable until reported otherwise. */
void ha_fsm_init(struct ha_fsm *f, const struct ha_fsm_cfg *cfg,
		 const struct ha_fsm_ops *ops, void *ctx, uint64_t now_ms);
/* Feed one event. 0 when a transition ran, -ENOENT when the event was
 * ignored in this state (logged), -EINVAL for a bad event, -EBUSY when
 * called from inside an action callback. */
int ha_fsm_event(struct ha_fsm *f, enum ha_event ev, uint32_t arg,
		 uint64_t now_ms);
/* Fire the state's timer if now_ms has reached it. */
void ha_fsm_tick(struct ha_fsm *f, uint64_t now_ms);
/* Takeover form, IC_DOWN_RELEASED with our own path up: the time from
 * which the caller should probe the client network for our own portal
 * addresses (and feed HA_EV_OWN_ADDRS_FREE when nobody holds them);
 * 0 when no probe is wanted now. */
uint64_t ha_fsm_own_probe_at(const struct ha_fsm *f);
/* Absolute deadline in ms for the next ha_fsm_tick(), 0 if none. */
uint64_t ha_fsm_deadline(const struct ha_fsm *f);
enum ha_state ha_fsm_state(const struct ha_fsm *f);

const char *ha_state_name(enum ha_state s);
const char *ha_event_name(enum ha_event e);
const char *ha_action_name(enum ha_action_type a);
const char *ha_msg_name(enum ha_msg m);
/* The event a message from the partner raises on the receiver's FSM;
 * HA_EV__COUNT for a code outside enum ha_msg. */
enum ha_event ha_msg_event(enum ha_msg m);
const char *ha_guard_name(enum ha_guard g);
const struct ha_fsm_row *ha_fsm_table(size_t *n_rows);

#endif
