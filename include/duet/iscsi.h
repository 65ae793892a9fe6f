/* SPDX-License-Identifier: Apache-2.0 */
/* The iSCSI layer as main.c sees it: targets, portals, start and stop. */
#ifndef DUET_ISCSI_H
#define DUET_ISCSI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "duet/config.h"
#include "duet/task.h"

struct event_base;

/* An iSCSI target as the iSCSI layer sees it (src/iscsi/target.c). */
struct iscsi_target {
	const struct cfg_target *cfg; /* name, alias, tpgt, access lists */
	struct scsi_dispatcher *disp; /* where its tasks go */
	unsigned n_sessions;
};

/* Target registry (src/iscsi/target.c). */
int iscsi_target_register(const struct cfg_target *cfg,
			  struct scsi_dispatcher *disp);
struct iscsi_target *iscsi_target_find(const char *name);
size_t iscsi_target_count(void);
struct iscsi_target *iscsi_target_at(size_t i);
/* Access lists: initiator IQN and peer address (numeric string). */
bool iscsi_target_allows(const struct iscsi_target *t, const char *initiator,
			 const char *peer_addr);
/* The portals every target is reachable on, for SendTargets. */
void iscsi_target_set_portals(const struct cfg_portal *p, size_t n);
size_t iscsi_portal_count(void);
const struct cfg_portal *iscsi_portal_at(size_t i);
void iscsi_target_registry_clear(void);

/* Start the iSCSI layer on this loop with these session parameters. */
int iscsi_init(struct event_base *base, const struct cfg_iscsi *params);
/* Listen on one portal. On error returns -errno and an actionable
 * message in err. */
int iscsi_portal_listen(const struct cfg_portal *p, char *err, size_t errlen);
/* Graceful stop: close listeners, stop taking new commands, let in-flight
 * commands finish, close every connection, then call done(arg). */
void iscsi_shutdown(void (*done)(void *arg), void *arg);

/*
 * Ports (src/iscsi/port.c), for the HA pair. A port is a set of listening
 * portals + a set of targets + a target portal group tag + a relative
 * target port id + a state. A connection belongs to the port whose
 * portal accepted it: SendTargets there lists that port's targets with
 * that port's portals and tag, a login finds only that port's targets,
 * and its sessions carry the port's tpgt and rel_tgt_port_id in their
 * struct scsi_itn. A target may be on several ports (its home port, and
 * on the partner a proxy port with another dispatcher).
 * The functions above (iscsi_target_register, iscsi_portal_listen, ...)
 * are the default home port of a single node and keep working unchanged;
 * iscsi_target_find() looks only there (the owner-side lookup).
 */
struct iscsi_port;

enum iscsi_port_state {
	ISCSI_PORT_CLOSED = 0, /* not listening (the initial state) */
	/* Listening; discovery works, logins to its targets are refused
	 * with 0x0301 Service Unavailable (retryable); sessions kept. */
	ISCSI_PORT_REFUSING,
	ISCSI_PORT_OPEN, /* serving */
	/* Existing sessions: new commands are held back (not executed, not
	 * answered: the initiator resends them after reconnecting), those
	 * in flight finish; drained() runs once none is in flight. New
	 * logins are refused like REFUSING. */
	ISCSI_PORT_DRAINING,
};

typedef void (*iscsi_port_drained_fn)(struct iscsi_port *port, void *arg);

/* name: for logs ("home", "proxy for b"). rel_port_id >= 1. tpgt 0:
 * each target keeps its own configured tpgt on this port. */
struct iscsi_port *iscsi_port_new(const char *name, uint16_t tpgt,
				  uint16_t rel_port_id);
/* Close its listeners and drop its sessions, then free it. */
void iscsi_port_free(struct iscsi_port *port);
/* Add a portal (copied). Nothing is bound until iscsi_port_listen().
 * -EEXIST for a portal already on the port. */
int iscsi_port_add_portal(struct iscsi_port *port, const struct cfg_portal *p,
			  char *err, size_t errlen);
/* cfg must outlive the port. -EEXIST if already on this port. */
int iscsi_port_add_target(struct iscsi_port *port, const struct cfg_target *cfg,
			  struct scsi_dispatcher *disp);
/* Bind and listen on every portal, with IP_FREEBIND (IPV6_FREEBIND,
 * then IP_TRANSPARENT as fallbacks) so that an address that is not (yet)
 * on an interface can be bound. All or nothing. Sets the state to
 * REFUSING if it was CLOSED. */
int iscsi_port_listen(struct iscsi_port *port, char *err, size_t errlen);
/* Close the listening sockets (sessions stay); state becomes CLOSED. */
void iscsi_port_unlisten(struct iscsi_port *port);
void iscsi_port_set_state(struct iscsi_port *port, enum iscsi_port_state st);
enum iscsi_port_state iscsi_port_state(const struct iscsi_port *port);
const char *iscsi_port_state_name(enum iscsi_port_state st);
/* Close every connection of the port (initiators reconnect and resend
 * what was not answered). Returns the number closed. */
unsigned iscsi_port_drop_sessions(struct iscsi_port *port);
struct sockaddr_storage;
/* The TCP endpoints (getsockname / getpeername) of the port's open
 * connections, at most max; returns how many were written. Connections
 * whose socket no longer answers are skipped. */
unsigned iscsi_port_conn_endpoints(const struct iscsi_port *port,
				   struct sockaddr_storage *local,
				   struct sockaddr_storage *peer, unsigned max);
/* Commands of the port's sessions not yet answered (incl. TMFs). */
unsigned iscsi_port_inflight(const struct iscsi_port *port);
/* Called (once per DRAINING) when the port is DRAINING and nothing is in
 * flight; at once if that holds when the state is set. */
void iscsi_port_set_drained_cb(struct iscsi_port *port,
			       iscsi_port_drained_fn fn, void *arg);
/* Does the port still have a command of a session of (initiator,
 * target) at the dispatcher or still receiving its data (live, closing or
 * replaced sessions alike)? The owner's ordering rule asks this before a
 * proxied nexus of the same pair may run (proxy.h, local_busy). */
bool iscsi_port_nexus_busy(const struct iscsi_port *port, const char *initiator,
			   const char *target);
/* One-shot: fn(port, arg) runs from the event loop after the next command
 * of the port completed at its dispatcher or one of its connections was
 * freed (re-arm from fn if needed). fn NULL disarms. */
void iscsi_port_notify_activity(struct iscsi_port *port,
				iscsi_port_drained_fn fn, void *arg);
/* Lookups. */
struct iscsi_target *iscsi_port_find_target(const struct iscsi_port *port,
					    const char *name);
size_t iscsi_port_target_count(const struct iscsi_port *port);
struct iscsi_target *iscsi_port_target_at(const struct iscsi_port *port,
					  size_t i);
size_t iscsi_port_portal_count(const struct iscsi_port *port);
const struct cfg_portal *iscsi_port_portal_at(const struct iscsi_port *port,
					      size_t i);
uint16_t iscsi_port_tpgt(const struct iscsi_port *port);
uint16_t iscsi_port_rel_id(const struct iscsi_port *port);
const char *iscsi_port_name(const struct iscsi_port *port);

#endif
