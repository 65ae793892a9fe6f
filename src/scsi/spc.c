// SPDX-License-Identifier: Apache-2.0
/*
 * SPC-4 primary commands: INQUIRY (standard data and VPD pages), TEST UNIT
 * READY, REQUEST SENSE, REPORT LUNS, START STOP UNIT.
 */
#include <string.h>

#include "duet/util.h"
#include "scsi_int.h"

#define DUET_REVISION "0001"
#define STD_INQ_LEN 96u

static void inquiry_standard(struct scsi_cmd *c, uint8_t *b)
{
	const struct scsi_lu *lu = c->lu;
	static const uint16_t vd[] = {SCSI_VD_SAM5, SCSI_VD_ISCSI, SCSI_VD_SPC4,
				      SCSI_VD_SBC3};

	memset(b, 0, STD_INQ_LEN);
	b[0] = lu ? SCSI_TYPE_DISK
		  : (SCSI_PQ_NOT_SUPPORTED | SCSI_TYPE_UNKNOWN);
	b[2] = 0x06;	    /* VERSION: SPC-4 */
	b[3] = 0x10 | 0x02; /* HISUP, RESPONSE DATA FORMAT 2 */
	b[4] = STD_INQ_LEN - 5;
	b[7] = 0x02; /* CMDQUE */
	memcpy(&b[8], lu ? lu->vendor : "DUET    ", 8);
	memcpy(&b[16], lu ? lu->product : "VIRTUAL-DISK    ", 16);
	memcpy(&b[32], DUET_REVISION, 4);
	for (unsigned i = 0; i < ARRAY_SIZE(vd); i++)
		put_be16(&b[58 + 2 * i], vd[i]);
}

static const uint8_t vpd_pages[] = {
	SCSI_VPD_SUPPORTED,	  SCSI_VPD_SERIAL,
	SCSI_VPD_DEVICE_ID,	  SCSI_VPD_EXTENDED_INQUIRY,
	SCSI_VPD_BLOCK_LIMITS,	  SCSI_VPD_BLOCK_CHARACTERISTICS,
	SCSI_VPD_LB_PROVISIONING,
};

static uint32_t vpd_supported(const struct scsi_lu *lu, uint8_t *b)
{
	memcpy(&b[4], vpd_pages, sizeof(vpd_pages));
	return 4 + sizeof(vpd_pages);
}

static uint32_t vpd_serial(const struct scsi_lu *lu, uint8_t *b)
{
	size_t n = strlen(lu->serial);

	memcpy(&b[4], lu->serial, n);
	return (uint32_t)(4 + n);
}

static uint32_t desig(uint8_t *p, uint8_t b0, uint8_t b1, const void *d,
		      size_t len)
{
	p[0] = b0;
	p[1] = b1;
	p[2] = 0;
	p[3] = (uint8_t)len;
	memcpy(&p[4], d, len);
	return (uint32_t)(4 + len);
}

static uint32_t vpd_device_id(const struct scsi_cmd *c, uint8_t *b)
{
	const struct scsi_lu *lu = c->lu;
	const struct scsi_itn *itn = c->task->itn;
	uint8_t tmp[256];
	uint32_t n = 4;
	size_t sl = strlen(lu->serial), nl;

	/* LU: NAA 6, binary */
	n += desig(&b[n], 0x01, 0x03, lu->naa, sizeof(lu->naa));
	/* LU: T10 vendor ID, ASCII: vendor + serial */
	memcpy(tmp, lu->vendor, 8);
	memcpy(tmp + 8, lu->serial, sl);
	n += desig(&b[n], 0x02, 0x01, tmp, 8 + sl);
	/* target port: relative target port id (PIV, iSCSI) */
	memset(tmp, 0, 4);
	put_be16(tmp + 2, itn ? itn->rel_tgt_port_id : 1);
	n += desig(&b[n], 0x51, 0x94, tmp, 4);
	/* target port: target port group */
	put_be16(tmp + 2, itn && itn->tpgt ? itn->tpgt : 1);
	n += desig(&b[n], 0x51, 0x95, tmp, 4);
	/* target device: SCSI name string (the iSCSI target name) */
	nl = strnlen(lu->tgt->name, 223);
	memset(tmp, 0, sizeof(tmp));
	memcpy(tmp, lu->tgt->name, nl);
	n += desig(&b[n], 0x53, 0xa8, tmp, ALIGN_UP(nl + 1, (size_t)4));
	return n;
}

static uint32_t vpd_extended(const struct scsi_lu *lu, uint8_t *b)
{
	memset(&b[4], 0, 60);
	b[5] = 0x07; /* HEADSUP, ORDSUP, SIMPSUP */
	b[6] = 0x01; /* V_SUP: volatile cache (write-back mode) */
	return 64;
}

static uint32_t vpd_block_limits(const struct scsi_lu *lu, uint8_t *b)
{
	uint32_t phys = bs_phys_block_size(lu->bs);
	uint32_t gran = phys > lu->block_size ? phys / lu->block_size : 1;

	memset(&b[4], 0, 60);
	b[4] = 0x01; /* WSNZ: WRITE SAME with 0 blocks is invalid */
	put_be16(&b[6], (uint16_t)gran);
	put_be32(&b[8], DUET_MAX_IO_BYTES >> lu->block_shift);
	put_be32(&b[12], (1024u * 1024) >> lu->block_shift);
	/* MAXIMUM WRITE SAME LENGTH */
	put_be64(&b[36], DUET_MAX_IO_BYTES >> lu->block_shift);
	return 64;
}

static uint32_t vpd_block_chars(const struct scsi_lu *lu, uint8_t *b)
{
	memset(&b[4], 0, 60);
	put_be16(&b[4], 1); /* MEDIUM ROTATION RATE: non-rotating */
	return 64;
}

static uint32_t vpd_provisioning(const struct scsi_lu *lu, uint8_t *b)
{
	memset(&b[4], 0,
	       4); /* no UNMAP / WRITE SAME unmap; full provisioning */
	return 8;
}

static uint32_t inquiry_vpd(struct scsi_cmd *c, uint8_t page, uint8_t *b)
{
	const struct scsi_lu *lu = c->lu;
	uint32_t n;

	switch (page) {
	case SCSI_VPD_SUPPORTED:
		n = vpd_supported(lu, b);
		break;
	case SCSI_VPD_SERIAL:
		n = vpd_serial(lu, b);
		break;
	case SCSI_VPD_DEVICE_ID:
		n = vpd_device_id(c, b);
		break;
	case SCSI_VPD_EXTENDED_INQUIRY:
		n = vpd_extended(lu, b);
		break;
	case SCSI_VPD_BLOCK_LIMITS:
		n = vpd_block_limits(lu, b);
		break;
	case SCSI_VPD_BLOCK_CHARACTERISTICS:
		n = vpd_block_chars(lu, b);
		break;
	case SCSI_VPD_LB_PROVISIONING:
		n = vpd_provisioning(lu, b);
		break;
	default:
		return 0;
	}
	b[0] = SCSI_TYPE_DISK;
	b[1] = page;
	put_be16(&b[2], (uint16_t)(n - 4));
	return n;
}

int scsi_spc_inquiry(struct scsi_cmd *c)
{
	const uint8_t *cdb = c->task->cdb;
	uint16_t alloc = get_be16(&cdb[3]);
	uint8_t b[1024];
	uint32_t n;

	if (!(cdb[1] & 0x01)) {
		if (cdb[2]) {
			scsi_cmd_invalid_cdb(c, 2, 7);
			return SCSI_CMD_DONE;
		}
		inquiry_standard(c, b);
		scsi_cmd_data_in(c, b, STD_INQ_LEN, alloc);
		return SCSI_CMD_DONE;
	}
	if (!c->lu) {
		/* No logical unit: only the supported pages page, empty. */
		if (cdb[2] != SCSI_VPD_SUPPORTED) {
			scsi_cmd_invalid_cdb(c, 2, 7);
			return SCSI_CMD_DONE;
		}
		memset(b, 0, 5);
		b[0] = SCSI_PQ_NOT_SUPPORTED | SCSI_TYPE_UNKNOWN;
		b[3] = 1;
		scsi_cmd_data_in(c, b, 5, alloc);
		return SCSI_CMD_DONE;
	}
	n = inquiry_vpd(c, cdb[2], b);
	if (!n)
		scsi_cmd_invalid_cdb(c, 2, 7);
	else
		scsi_cmd_data_in(c, b, n, alloc);
	return SCSI_CMD_DONE;
}

int scsi_spc_tur(struct scsi_cmd *c)
{
	return SCSI_CMD_DONE;
}

/* Returns a pending UA (and clears it) or NO SENSE, as sense data in the
 * data-in buffer with GOOD status. */
int scsi_spc_request_sense(struct scsi_cmd *c)
{
	const uint8_t *cdb = c->task->cdb;
	struct scsi_sense s = {.key = SCSI_SK_NO_SENSE};
	uint8_t b[64];
	size_t n;

	if (!c->lu) {
		s.key = SCSI_SK_ILLEGAL_REQUEST;
		s.asc = SCSI_ASC_LUN_NOT_SUPPORTED;
	} else if (c->nx && c->nx->n_ua) {
		s.key = SCSI_SK_UNIT_ATTENTION;
		s.asc = scsi_nexus_ua_pop(c->nx);
	}
	n = scsi_sense_encode(b, sizeof(b), cdb[1] & 0x01, &s);
	scsi_cmd_data_in(c, b, (uint32_t)n, cdb[4]);
	return SCSI_CMD_DONE;
}

int scsi_spc_report_luns(struct scsi_cmd *c)
{
	const uint8_t *cdb = c->task->cdb;
	struct scsi_task *t = c->task;
	uint32_t alloc = get_be32(&cdb[6]);
	uint8_t sel = cdb[2];
	uint32_t count = 0, len, off = 8;
	uint32_t cap = t->buf ? t->buf_cap : 0;
	const struct scsi_lu *lu;

	if (sel != 0x00 && sel != 0x01 && sel != 0x02) {
		scsi_cmd_invalid_cdb(c, 2, 7);
		return SCSI_CMD_DONE;
	}
	if (alloc < 16) {
		scsi_cmd_invalid_cdb(c, 6, 7);
		return SCSI_CMD_DONE;
	}
	if (sel != 0x01)
		while (scsi_target_lu_at(c->tgt, count))
			count++;
	len = 8 + count * 8;
	for (uint32_t i = 0; i < count && off + 8 <= cap; i++) {
		lu = scsi_target_lu_at(c->tgt, i);
		put_be64(&t->buf[off], scsi_lun_encode(lu->id));
		off += 8;
	}
	if (cap >= 8) {
		put_be32(&t->buf[0], count * 8);
		put_be32(&t->buf[4], 0);
	}
	t->xfer_len = MIN(len, alloc);
	t->data_len = cap >= 8 ? MIN(off, t->xfer_len) : 0;
	return SCSI_CMD_DONE;
}

int scsi_spc_start_stop(struct scsi_cmd *c)
{
	const uint8_t *cdb = c->task->cdb;
	uint8_t pc = cdb[4] >> 4;

	switch (pc) {
	case 0x0: /* START_VALID */
		c->lu->stopped = !(cdb[4] & 0x01);
		break;
	case 0x1: /* ACTIVE */
	case 0x2: /* IDLE */
	case 0x3: /* STANDBY */
	case 0x7: /* LU_CONTROL */
	case 0xa: /* FORCE_IDLE_0 */
	case 0xb: /* FORCE_STANDBY_0 */
		break;
	default:
		scsi_cmd_invalid_cdb(c, 4, 7);
		break;
	}
	/* No medium to spin: IMMED or not, the answer is immediate. */
	return SCSI_CMD_DONE;
}
