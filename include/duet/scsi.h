/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The local SCSI layer: a SCSI target device server with direct-access
 * (SBC) logical units on backing stores. It is a struct scsi_dispatcher
 * (see task.h); one opcode table per device type drives dispatch.
 */
#ifndef DUET_SCSI_H
#define DUET_SCSI_H

#include <stddef.h>
#include <stdint.h>

#include "duet/config.h"
#include "duet/task.h"

struct scsi_target;

/* name: the target's name; used with the LUN id to derive stable
 * identifiers (NAA designator, serial) that survive restarts. */
struct scsi_target *scsi_target_new(const char *name);
/* Open the LUN's backing store and add it. On error returns -errno and
 * writes an actionable message into err. */
int scsi_target_add_lun(struct scsi_target *t, const struct cfg_lun *lun,
			char *err, size_t errlen);
struct scsi_dispatcher *scsi_target_dispatcher(struct scsi_target *t);
/* Tasks submitted and not yet completed (for a graceful shutdown). */
unsigned scsi_target_inflight(const struct scsi_target *t);
/* Tasks of one I_T nexus (matched by initiator name, ISID and relative
 * target port id) not yet completed: lets the owner drain a nexus. */
unsigned scsi_target_nexus_inflight(const struct scsi_target *t,
				    const struct scsi_itn *itn);
/* Close every LUN; no task may be in flight. */
void scsi_target_free(struct scsi_target *t);

/* 8-byte SAM LUN field <-> LUN number (peripheral and flat addressing). */
uint64_t scsi_lun_encode(uint32_t id);
/* Returns 0 and the LUN number, or -EINVAL for an addressing method we do
 * not serve. */
int scsi_lun_decode(uint64_t wire, uint32_t *id);

#endif
