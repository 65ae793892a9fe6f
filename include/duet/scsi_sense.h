/* SPDX-License-Identifier: Apache-2.0 */
/* Sense data: the one helper that puts a task into CHECK CONDITION. */
#ifndef DUET_SCSI_SENSE_H
#define DUET_SCSI_SENSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "duet/task.h"

struct scsi_sense {
	uint8_t key;
	uint16_t asc; /* ASC << 8 | ASCQ (SCSI_ASC_* in scsi_proto.h) */
	bool info_valid;
	uint64_t info;	/* INFORMATION field */
	bool sks_valid; /* sense-key specific bytes valid (SKSV) */
	uint8_t sks[3]; /* with SKSV already set in sks[0] */
};

/* Field pointer (SPC-4 4.5.2.4.2): cdb=true for INVALID FIELD IN CDB,
 * false for INVALID FIELD IN PARAMETER LIST; bit < 0 = no bit pointer. */
void scsi_sense_field_pointer(struct scsi_sense *s, bool cdb, uint16_t byte,
			      int bit);
/* Encode sense data into buf (cap bytes); fixed format (70h) or
 * descriptor format (72h). Returns the length written (<= cap). */
size_t scsi_sense_encode(uint8_t *buf, size_t cap, bool desc,
			 const struct scsi_sense *s);
/* THE helper: status CHECK CONDITION + sense data on the task. */
void scsi_sense_set(struct scsi_task *t, bool desc, const struct scsi_sense *s);
/* Shorthand for sense without INFORMATION / sense-key specific data. */
void scsi_sense_set_simple(struct scsi_task *t, bool desc, uint8_t key,
			   uint16_t asc);

#endif
