// SPDX-License-Identifier: Apache-2.0
/*
 * MODE SENSE (6/10) and MODE SELECT (6/10): caching (WCE), control
 * (D_SENSE) and informational exceptions pages; current, changeable and
 * default values; no saved pages.
 */
#include <string.h>

#include "duet/util.h"
#include "scsi_int.h"

enum { PC_CURRENT = 0, PC_CHANGEABLE = 1, PC_DEFAULT = 2, PC_SAVED = 3 };

static const uint8_t mode_pages[] = {SCSI_MODE_PAGE_CACHING,
				     SCSI_MODE_PAGE_CONTROL,
				     SCSI_MODE_PAGE_INFO_EXCEPTIONS};

static uint32_t page_caching(const struct scsi_lu *lu, int pc, uint8_t *p)
{
	memset(p, 0, 20);
	p[0] = SCSI_MODE_PAGE_CACHING;
	p[1] = 0x12;
	if (pc == PC_CHANGEABLE)
		p[2] = 0x04; /* WCE */
	else if (pc == PC_CURRENT && bs_write_back(lu->bs))
		p[2] = 0x04;
	return 20;
}

static uint32_t page_control(const struct scsi_lu *lu, int pc, uint8_t *p)
{
	memset(p, 0, 12);
	p[0] = SCSI_MODE_PAGE_CONTROL;
	p[1] = 0x0a;
	if (pc == PC_CHANGEABLE) {
		p[2] = 0x04; /* D_SENSE */
		return 12;
	}
	p[2] = 0x02; /* GLTSD: no log parameters saved */
	if (pc == PC_CURRENT && lu->d_sense)
		p[2] |= 0x04;
	p[3] = 0x10; /* QUEUE ALGORITHM MODIFIER 1: unrestricted; QERR 0 */
	/* TAS 0: tasks aborted by another nexus are not reported */
	put_be16(&p[8], 0xffff); /* BUSY TIMEOUT PERIOD: unlimited */
	return 12;
}

static uint32_t page_iec(const struct scsi_lu *lu, int pc, uint8_t *p)
{
	memset(p, 0, 12);
	p[0] = SCSI_MODE_PAGE_INFO_EXCEPTIONS;
	p[1] = 0x0a;
	if (pc == PC_CHANGEABLE)
		p[2] = 0x08; /* DEXCPT */
	else if (pc == PC_DEFAULT || lu->dexcpt)
		p[2] = 0x08;
	return 12;
}

static uint32_t build_page(const struct scsi_lu *lu, uint8_t page, int pc,
			   uint8_t *p)
{
	switch (page) {
	case SCSI_MODE_PAGE_CACHING:
		return page_caching(lu, pc, p);
	case SCSI_MODE_PAGE_CONTROL:
		return page_control(lu, pc, p);
	case SCSI_MODE_PAGE_INFO_EXCEPTIONS:
		return page_iec(lu, pc, p);
	default:
		return 0;
	}
}

static uint32_t block_descriptor(const struct scsi_lu *lu, bool longlba,
				 uint8_t *p)
{
	if (longlba) {
		memset(p, 0, 16);
		put_be64(p, lu->nblocks);
		put_be32(p + 12, lu->block_size);
		return 16;
	}
	memset(p, 0, 8);
	put_be32(p, lu->nblocks > 0xffffffffull ? 0xffffffffu
						: (uint32_t)lu->nblocks);
	put_be24(p + 5, lu->block_size);
	return 8;
}

/* Builds the pages; returns 0 after setting sense for a bad page code. */
static uint32_t build_pages(struct scsi_cmd *c, uint8_t *p)
{
	const uint8_t *cdb = c->task->cdb;
	uint8_t page = cdb[2] & 0x3f, sub = cdb[3];
	int pc = cdb[2] >> 6;
	uint32_t n = 0;

	if (page == SCSI_MODE_PAGE_ALL) {
		if (sub != 0x00 && sub != 0xff) {
			scsi_cmd_invalid_cdb(c, 3, 7);
			return 0;
		}
		for (unsigned i = 0; i < ARRAY_SIZE(mode_pages); i++)
			n += build_page(c->lu, mode_pages[i], pc, p + n);
		return n;
	}
	if (sub != 0x00 && sub != 0xff) {
		scsi_cmd_invalid_cdb(c, 3, 7);
		return 0;
	}
	n = build_page(c->lu, page, pc, p);
	if (!n)
		scsi_cmd_invalid_cdb(c, 2, 5);
	return n;
}

int scsi_spc_mode_sense(struct scsi_cmd *c)
{
	const uint8_t *cdb = c->task->cdb;
	bool ten = cdb[0] == SCSI_OP_MODE_SENSE_10;
	bool dbd = cdb[1] & 0x08, llbaa = ten && (cdb[1] & 0x10);
	uint32_t alloc = ten ? get_be16(&cdb[7]) : cdb[4];
	uint32_t hdr = ten ? 8 : 4, bd = 0, n;
	uint8_t b[256];

	if ((cdb[2] >> 6) == PC_SAVED) {
		scsi_cmd_sense(c, SCSI_SK_ILLEGAL_REQUEST,
			       SCSI_ASC_SAVING_PARAMS_NOT_SUPPORTED);
		return SCSI_CMD_DONE;
	}
	memset(b, 0, hdr);
	if (!dbd)
		bd = block_descriptor(c->lu, llbaa, b + hdr);
	n = build_pages(c, b + hdr + bd);
	if (!n)
		return SCSI_CMD_DONE;
	n += hdr + bd;
	if (ten) {
		put_be16(b, (uint16_t)(n - 2));
		b[3] = (uint8_t)((c->lu->readonly ? 0x80 : 0) | 0x10);
		b[4] = (uint8_t)(bd == 16 ? 0x01 : 0);
		put_be16(b + 6, (uint16_t)bd);
	} else {
		b[0] = (uint8_t)(n - 1);
		b[2] = (uint8_t)((c->lu->readonly ? 0x80 : 0) | 0x10);
		b[3] = (uint8_t)bd;
	}
	scsi_cmd_data_in(c, b, n, alloc);
	return SCSI_CMD_DONE;
}

/* ---- MODE SELECT ---- */

/* Check one page against the current values and the changeable mask;
 * apply it. Returns 0 or -1 after setting sense. `off` is the page's
 * offset in the parameter list (for the field pointer). */
static int select_page(struct scsi_cmd *c, const uint8_t *p, uint32_t avail,
		       uint32_t off, bool apply, bool *changed)
{
	struct scsi_lu *lu = c->lu;
	uint8_t cur[32], mask[32];
	uint32_t len;

	if (p[0] & 0x40) { /* SPF: no subpages */
		scsi_cmd_invalid_param(c, (uint16_t)off, 6);
		return -1;
	}
	len = build_page(lu, p[0] & 0x3f, PC_CURRENT, cur);
	if (!len) {
		scsi_cmd_invalid_param(c, (uint16_t)off, 5);
		return -1;
	}
	build_page(lu, p[0] & 0x3f, PC_CHANGEABLE, mask);
	if (p[1] != cur[1]) {
		scsi_cmd_invalid_param(c, (uint16_t)(off + 1), -1);
		return -1;
	}
	if (avail < len) {
		scsi_cmd_sense(c, SCSI_SK_ILLEGAL_REQUEST,
			       SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
		return -1;
	}
	for (uint32_t i = 2; i < len; i++) {
		uint8_t diff = (uint8_t)((p[i] ^ cur[i]) & ~mask[i]);

		if (diff) {
			int bit = 7;

			while (!(diff & (1u << bit)))
				bit--;
			scsi_cmd_invalid_param(c, (uint16_t)(off + i), bit);
			return -1;
		}
	}
	if (!apply)
		return 0;
	if (memcmp(p + 2, cur + 2, len - 2))
		*changed = true;
	switch (p[0] & 0x3f) {
	case SCSI_MODE_PAGE_CACHING:
		if (!!(p[2] & 0x04) != bs_write_back(lu->bs))
			bs_set_write_back(lu->bs, p[2] & 0x04);
		break;
	case SCSI_MODE_PAGE_CONTROL:
		lu->d_sense = p[2] & 0x04;
		break;
	case SCSI_MODE_PAGE_INFO_EXCEPTIONS:
		lu->dexcpt = p[2] & 0x08;
		break;
	}
	return 0;
}

static int select_header(struct scsi_cmd *c, const uint8_t *p, uint32_t len,
			 bool ten, uint32_t *skip)
{
	uint32_t hdr = ten ? 8 : 4, bd;

	if (len < hdr) {
		scsi_cmd_sense(c, SCSI_SK_ILLEGAL_REQUEST,
			       SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
		return -1;
	}
	bd = ten ? get_be16(p + 6) : p[3];
	if (bd != 0 && bd != (ten && (p[4] & 0x01) ? 16u : 8u)) {
		scsi_cmd_invalid_param(c, ten ? 6 : 3, -1);
		return -1;
	}
	if (hdr + bd > len) {
		scsi_cmd_sense(c, SCSI_SK_ILLEGAL_REQUEST,
			       SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
		return -1;
	}
	if (bd) { /* block length must stay ours */
		uint32_t bl = bd == 16 ? get_be32(p + hdr + 12)
				       : get_be24(p + hdr + 5);

		if (bl != c->lu->block_size) {
			scsi_cmd_invalid_param(c, (uint16_t)(hdr + bd - 1), -1);
			return -1;
		}
	}
	*skip = hdr + bd;
	return 0;
}

static int select_pages(struct scsi_cmd *c, uint32_t off, uint32_t len,
			bool apply, bool *changed)
{
	const uint8_t *b = c->task->buf;

	while (off < len) {
		if (len - off < 2) {
			scsi_cmd_sense(c, SCSI_SK_ILLEGAL_REQUEST,
				       SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
			return -1;
		}
		if (select_page(c, b + off, len - off, off, apply, changed))
			return -1;
		off += 2u + b[off + 1];
	}
	return 0;
}

int scsi_spc_mode_select(struct scsi_cmd *c)
{
	struct scsi_task *t = c->task;
	const uint8_t *cdb = t->cdb;
	bool ten = cdb[0] == SCSI_OP_MODE_SELECT_10, changed = false;
	uint32_t len = ten ? get_be16(&cdb[7]) : cdb[4], off;

	t->xfer_len = len;
	if (cdb[1] & 0x01) { /* SP: we cannot save pages */
		scsi_cmd_invalid_cdb(c, 1, 0);
		return SCSI_CMD_DONE;
	}
	if (!len)
		return SCSI_CMD_DONE;
	if (!(cdb[1] & 0x10)) { /* PF=0: vendor-specific pages: none */
		scsi_cmd_invalid_cdb(c, 1, 4);
		return SCSI_CMD_DONE;
	}
	if (t->data_out_len < len || !t->buf) {
		scsi_cmd_sense(c, SCSI_SK_ILLEGAL_REQUEST,
			       SCSI_ASC_INVALID_FIELD_IN_CMD_IU);
		return SCSI_CMD_DONE;
	}
	if (select_header(c, t->buf, len, ten, &off))
		return SCSI_CMD_DONE;
	/* Validate every page first, then apply: all or nothing. */
	if (select_pages(c, off, len, false, &changed) ||
	    select_pages(c, off, len, true, &changed))
		return SCSI_CMD_DONE;
	if (changed)
		scsi_lu_ua_others(c->lu, t->itn,
				  SCSI_ASC_MODE_PARAMETERS_CHANGED);
	return SCSI_CMD_DONE;
}
