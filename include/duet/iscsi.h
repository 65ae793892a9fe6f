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

#endif
