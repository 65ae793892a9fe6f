/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One node of the HA pair: the orchestrator that wires the iSCSI ports,
 * the interconnect link, the two virtual adapters, the path monitor and
 * the failover state machine (src/node/).
 *
 *  - home port (relative port id 1): this node's own targets on its own
 *    portals, each target with its configured tpgt. It serves (OPEN) only
 *    while the state machine holds the node's own portals; otherwise it
 *    refuses logins and its sessions are dropped.
 *  - proxy port (relative port id 2): the partner's targets, dispatched to
 *    the local virtual adapter. Portal form: on this node's proxy_portals,
 *    tpgt + 1, listening and refusing logins until a failover opens it.
 *    Takeover form: on the partner's portal addresses (IP_FREEBIND), the
 *    same tpgt, closed until a failover; the home port also binds with
 *    IP_FREEBIND since its addresses move.
 *  - the link's messages go to the adapters (proxy.h) or, for IC_HA, to
 *    the state machine; the path monitor (client_interface + witnesses, or
 *    "always up" without an interface) feeds local-path events; the
 *    machine's actions change port states, move addresses and send IC_HA.
 *
 * Control commands (duetctl): `pair` (= `ha status`), `path down|up|auto`
 * (fault injection: force this node's client path state).
 */
#ifndef DUET_NODE_H
#define DUET_NODE_H

#include <stddef.h>

#include "duet/config.h"

struct event_base;
struct scsi_target;
struct duet_node;

/* cfg must be a pair config (has_cluster); targets[i] is the local SCSI
 * target of cfg->targets[i] (this node's own). iscsi_init() must have
 * run. Creates the ports and listens, starts the link, the path monitor
 * and the state machine, registers the control commands. On error
 * returns -errno (already logged) and *out is NULL. */
int node_start(struct event_base *base, const struct duet_config *cfg,
	       struct scsi_target *const *targets, struct duet_node **out);
/* Shutdown, before iscsi_shutdown(): the link is closed, the proxy
 * adapters fail what is in flight, the moved addresses are released, the
 * ports stop listening. The loop must keep running until iscsi_shutdown()
 * reports done. */
void node_stop(struct duet_node *n);
/* After the loop ended: free everything. */
void node_free(struct duet_node *n);

#endif
