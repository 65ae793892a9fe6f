// SPDX-License-Identifier: Apache-2.0
/* Sense data building (SPC-4 4.5): fixed and descriptor formats. */
#include <string.h>

#include "duet/scsi_sense.h"
#include "duet/util.h"

void scsi_sense_field_pointer(struct scsi_sense *s, bool cdb, uint16_t byte,
			      int bit)
{
	s->sks_valid = true;
	s->sks[0] = 0x80; /* SKSV */
	if (cdb)
		s->sks[0] |= 0x40; /* C/D: the error is in the CDB */
	if (bit >= 0 && bit <= 7)
		s->sks[0] |= 0x08 | (uint8_t)bit; /* BPV + bit pointer */
	put_be16(&s->sks[1], byte);
}

static size_t encode_fixed(uint8_t *b, const struct scsi_sense *s)
{
	memset(b, 0, 18);
	b[0] = 0x70;
	if (s->info_valid && s->info <= UINT32_MAX) {
		b[0] |= 0x80; /* VALID: INFORMATION holds a value */
		put_be32(&b[3], (uint32_t)s->info);
	}
	b[2] = s->key & 0x0f;
	b[7] = 10; /* additional sense length */
	b[12] = (uint8_t)(s->asc >> 8);
	b[13] = (uint8_t)s->asc;
	if (s->sks_valid)
		memcpy(&b[15], s->sks, 3);
	return 18;
}

static size_t encode_desc(uint8_t *b, const struct scsi_sense *s)
{
	size_t n = 8;

	memset(b, 0, 8 + 12 + 8);
	b[0] = 0x72;
	b[1] = s->key & 0x0f;
	b[2] = (uint8_t)(s->asc >> 8);
	b[3] = (uint8_t)s->asc;
	if (s->info_valid) {
		b[n] = 0x00;	 /* information descriptor */
		b[n + 1] = 0x0a; /* additional length */
		b[n + 2] = 0x80; /* VALID */
		put_be64(&b[n + 4], s->info);
		n += 12;
	}
	if (s->sks_valid) {
		b[n] = 0x02; /* sense key specific descriptor */
		b[n + 1] = 0x06;
		memcpy(&b[n + 4], s->sks, 3);
		n += 8;
	}
	b[7] = (uint8_t)(n - 8);
	return n;
}

size_t scsi_sense_encode(uint8_t *buf, size_t cap, bool desc,
			 const struct scsi_sense *s)
{
	uint8_t tmp[32];
	size_t n = desc ? encode_desc(tmp, s) : encode_fixed(tmp, s);

	n = MIN(n, cap);
	memcpy(buf, tmp, n);
	return n;
}

void scsi_sense_set(struct scsi_task *t, bool desc, const struct scsi_sense *s)
{
	t->status = SCSI_STATUS_CHECK_CONDITION;
	t->sense_len =
		(uint8_t)scsi_sense_encode(t->sense, sizeof(t->sense), desc, s);
}

void scsi_sense_set_simple(struct scsi_task *t, bool desc, uint8_t key,
			   uint16_t asc)
{
	struct scsi_sense s = {.key = key, .asc = asc};

	scsi_sense_set(t, desc, &s);
}
