// SPDX-License-Identifier: Apache-2.0
/*
 * The direct-access block device opcode table. Dispatch, CDB length and
 * reserved-bit checks, and REPORT SUPPORTED OPERATION CODES all come from
 * it, so they can never disagree.
 */
#include <string.h>

#include "duet/util.h"
#include "scsi_int.h"

#define UA SCSI_OPF_UA_OK
#define NOLUN SCSI_OPF_NO_LUN_OK
#define DIN SCSI_OPF_DATA_IN
#define DOUT SCSI_OPF_DATA_OUT
#define WR SCSI_OPF_WRITE
#define SA SCSI_OPF_SA

/* usage[]: byte 0 is the opcode; every other byte has a 1 for each bit
 * the device server looks at. The CONTROL byte is 0: NACA and LINK are
 * not supported, so setting them is an INVALID FIELD IN CDB. */
const struct scsi_opdesc scsi_sbc_ops[] = {
	{SCSI_OP_TEST_UNIT_READY,
	 0,
	 6,
	 0,
	 "TEST UNIT READY",
	 scsi_spc_tur,
	 {0x00, 0, 0, 0, 0, 0},
	 1},
	{SCSI_OP_REQUEST_SENSE,
	 0,
	 6,
	 UA | NOLUN | DIN,
	 "REQUEST SENSE",
	 scsi_spc_request_sense,
	 {0x03, 0x01, 0, 0, 0xff, 0},
	 1},
	{SCSI_OP_READ_6,
	 0,
	 6,
	 DIN,
	 "READ(6)",
	 scsi_sbc_rw,
	 {0x08, 0x1f, 0xff, 0xff, 0xff, 0},
	 30},
	{SCSI_OP_WRITE_6,
	 0,
	 6,
	 DOUT | WR,
	 "WRITE(6)",
	 scsi_sbc_rw,
	 {0x0a, 0x1f, 0xff, 0xff, 0xff, 0},
	 30},
	{SCSI_OP_INQUIRY,
	 0,
	 6,
	 UA | NOLUN | DIN,
	 "INQUIRY",
	 scsi_spc_inquiry,
	 {0x12, 0x01, 0xff, 0xff, 0xff, 0},
	 1},
	{SCSI_OP_MODE_SELECT_6,
	 0,
	 6,
	 DOUT,
	 "MODE SELECT(6)",
	 scsi_spc_mode_select,
	 {0x15, 0x11, 0, 0, 0xff, 0},
	 1},
	{SCSI_OP_MODE_SENSE_6,
	 0,
	 6,
	 DIN,
	 "MODE SENSE(6)",
	 scsi_spc_mode_sense,
	 {0x1a, 0x08, 0xff, 0xff, 0xff, 0},
	 1},
	{SCSI_OP_START_STOP_UNIT,
	 0,
	 6,
	 0,
	 "START STOP UNIT",
	 scsi_spc_start_stop,
	 {0x1b, 0x01, 0, 0x0f, 0xf7, 0},
	 30},
	{SCSI_OP_PREVENT_ALLOW_REMOVAL,
	 0,
	 6,
	 0,
	 "PREVENT ALLOW MEDIUM REMOVAL",
	 scsi_spc_tur,
	 {0x1e, 0, 0, 0, 0x03, 0},
	 1},
	{SCSI_OP_READ_CAPACITY_10,
	 0,
	 10,
	 DIN,
	 "READ CAPACITY(10)",
	 scsi_sbc_read_capacity10,
	 {0x25, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x01, 0},
	 1},
	{SCSI_OP_READ_10,
	 0,
	 10,
	 DIN,
	 "READ(10)",
	 scsi_sbc_rw,
	 {0x28, 0x1e, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0},
	 30},
	{SCSI_OP_WRITE_10,
	 0,
	 10,
	 DOUT | WR,
	 "WRITE(10)",
	 scsi_sbc_rw,
	 {0x2a, 0x1a, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0},
	 30},
	{SCSI_OP_WRITE_VERIFY_10,
	 0,
	 10,
	 DOUT | WR,
	 "WRITE AND VERIFY(10)",
	 scsi_sbc_rw,
	 {0x2e, 0x12, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0},
	 30},
	{SCSI_OP_VERIFY_10,
	 0,
	 10,
	 DOUT,
	 "VERIFY(10)",
	 scsi_sbc_verify,
	 {0x2f, 0x16, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0},
	 30},
	{SCSI_OP_PREFETCH_10,
	 0,
	 10,
	 0,
	 "PRE-FETCH(10)",
	 scsi_sbc_prefetch,
	 {0x34, 0x02, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0},
	 30},
	{SCSI_OP_SYNCHRONIZE_CACHE_10,
	 0,
	 10,
	 0,
	 "SYNCHRONIZE CACHE(10)",
	 scsi_sbc_sync_cache,
	 {0x35, 0x06, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0},
	 60},
	{SCSI_OP_WRITE_SAME_10,
	 0,
	 10,
	 DOUT | WR,
	 "WRITE SAME(10)",
	 scsi_sbc_write_same,
	 {0x41, 0x00, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0},
	 30},
	{SCSI_OP_MODE_SELECT_10,
	 0,
	 10,
	 DOUT,
	 "MODE SELECT(10)",
	 scsi_spc_mode_select,
	 {0x55, 0x11, 0, 0, 0, 0, 0, 0xff, 0xff, 0},
	 1},
	{SCSI_OP_MODE_SENSE_10,
	 0,
	 10,
	 DIN,
	 "MODE SENSE(10)",
	 scsi_spc_mode_sense,
	 {0x5a, 0x18, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, 0},
	 1},
	{SCSI_OP_READ_16,
	 0,
	 16,
	 DIN,
	 "READ(16)",
	 scsi_sbc_rw,
	 {0x88, 0x1e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0x1f, 0},
	 30},
	{SCSI_OP_WRITE_16,
	 0,
	 16,
	 DOUT | WR,
	 "WRITE(16)",
	 scsi_sbc_rw,
	 {0x8a, 0x1a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0x1f, 0},
	 30},
	{SCSI_OP_WRITE_VERIFY_16,
	 0,
	 16,
	 DOUT | WR,
	 "WRITE AND VERIFY(16)",
	 scsi_sbc_rw,
	 {0x8e, 0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0x1f, 0},
	 30},
	{SCSI_OP_VERIFY_16,
	 0,
	 16,
	 DOUT,
	 "VERIFY(16)",
	 scsi_sbc_verify,
	 {0x8f, 0x16, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0x1f, 0},
	 30},
	{SCSI_OP_PREFETCH_16,
	 0,
	 16,
	 0,
	 "PRE-FETCH(16)",
	 scsi_sbc_prefetch,
	 {0x90, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0x1f, 0},
	 30},
	{SCSI_OP_SYNCHRONIZE_CACHE_16,
	 0,
	 16,
	 0,
	 "SYNCHRONIZE CACHE(16)",
	 scsi_sbc_sync_cache,
	 {0x91, 0x06, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0x1f, 0},
	 60},
	{SCSI_OP_WRITE_SAME_16,
	 0,
	 16,
	 DOUT | WR,
	 "WRITE SAME(16)",
	 scsi_sbc_write_same,
	 {0x93, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0x1f, 0},
	 30},
	{SCSI_OP_SERVICE_ACTION_IN_16,
	 SCSI_SA_READ_CAPACITY_16,
	 16,
	 SA | DIN,
	 "READ CAPACITY(16)",
	 scsi_sbc_read_capacity16,
	 {0x9e, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0x01, 0},
	 1},
	{SCSI_OP_REPORT_LUNS,
	 0,
	 12,
	 UA | NOLUN | DIN,
	 "REPORT LUNS",
	 scsi_spc_report_luns,
	 {0xa0, 0, 0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0},
	 1},
	{SCSI_OP_MAINTENANCE_IN,
	 SCSI_SA_REPORT_SUPPORTED_OPCODES,
	 12,
	 SA | DIN,
	 "REPORT SUPPORTED OPERATION CODES",
	 scsi_spc_rsoc,
	 {0xa3, 0x0c, 0x87, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0},
	 1},
	{SCSI_OP_READ_12,
	 0,
	 12,
	 DIN,
	 "READ(12)",
	 scsi_sbc_rw,
	 {0xa8, 0x1e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0},
	 30},
	{SCSI_OP_WRITE_12,
	 0,
	 12,
	 DOUT | WR,
	 "WRITE(12)",
	 scsi_sbc_rw,
	 {0xaa, 0x1a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0},
	 30},
	{SCSI_OP_WRITE_VERIFY_12,
	 0,
	 12,
	 DOUT | WR,
	 "WRITE AND VERIFY(12)",
	 scsi_sbc_rw,
	 {0xae, 0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0},
	 30},
	{SCSI_OP_VERIFY_12,
	 0,
	 12,
	 DOUT,
	 "VERIFY(12)",
	 scsi_sbc_verify,
	 {0xaf, 0x16, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0},
	 30},
};

const unsigned scsi_sbc_n_ops = ARRAY_SIZE(scsi_sbc_ops);

/* First table index + 1 for each opcode (0 = unsupported), built once. */
static uint8_t op_index[256];
static bool op_index_ready;

static void build_op_index(void)
{
	for (unsigned i = scsi_sbc_n_ops; i-- > 0;)
		op_index[scsi_sbc_ops[i].opcode] = (uint8_t)(i + 1);
	op_index_ready = true;
}

const struct scsi_opdesc *scsi_op_lookup(uint8_t opcode, uint8_t sa,
					 bool *sa_unknown)
{
	*sa_unknown = false;
	if (!op_index_ready)
		build_op_index();
	if (!op_index[opcode])
		return NULL;
	for (unsigned i = op_index[opcode] - 1u; i < scsi_sbc_n_ops; i++) {
		const struct scsi_opdesc *op = &scsi_sbc_ops[i];

		if (op->opcode != opcode)
			continue;
		if (!(op->flags & SCSI_OPF_SA) || op->sa == sa)
			return op;
		*sa_unknown = true;
	}
	return NULL;
}

static int highest_bit(uint8_t v)
{
	int b = 7;

	while (b > 0 && !(v & (1u << b)))
		b--;
	return b;
}

int scsi_op_check_cdb(struct scsi_cmd *c)
{
	const struct scsi_opdesc *op = c->op;
	const uint8_t *cdb = c->task->cdb;

	for (unsigned i = 1; i < op->cdb_len; i++) {
		uint8_t allowed = op->usage[i];
		uint8_t bad;

		if (i == 1 && (op->flags & SCSI_OPF_SA))
			allowed |= 0x1f;
		/* WRITE SAME's UNMAP/ANCHOR (unsupported: invalid fields) to a
		 * read-only LU: DATA PROTECT / WRITE PROTECTED instead, from
		 * cmd_exec, as SBC-4 readers (libiscsi ReadOnlySBC) expect. */
		if (i == 1 && c->lu && c->lu->readonly &&
		    (op->opcode == SCSI_OP_WRITE_SAME_10 ||
		     op->opcode == SCSI_OP_WRITE_SAME_16))
			allowed |= 0x18;
		bad = cdb[i] & (uint8_t)~allowed;
		if (bad) {
			scsi_cmd_invalid_cdb(c, (uint16_t)i, highest_bit(bad));
			return -1;
		}
	}
	return 0;
}

/* ---- REPORT SUPPORTED OPERATION CODES (SPC-4 6.35) ---- */

static size_t put_timeouts(uint8_t *p, const struct scsi_opdesc *op)
{
	memset(p, 0, 12);
	put_be16(p, 0x0a);
	put_be32(p + 4, op->timeout);	  /* nominal */
	put_be32(p + 8, op->timeout * 2); /* recommended */
	return 12;
}

static uint32_t rsoc_all(const struct scsi_cmd *c, uint8_t *buf, bool rctd)
{
	uint32_t n = 4;

	for (unsigned i = 0; i < scsi_sbc_n_ops; i++) {
		const struct scsi_opdesc *op = &scsi_sbc_ops[i];
		uint8_t *p = buf + n;

		memset(p, 0, 8);
		p[0] = op->opcode;
		put_be16(p + 2, (op->flags & SCSI_OPF_SA) ? op->sa : 0);
		p[5] = (uint8_t)((op->flags & SCSI_OPF_SA) ? 0x01 : 0x00);
		if (rctd)
			p[5] |= 0x02; /* CTDP */
		put_be16(p + 6, op->cdb_len);
		n += 8;
		if (rctd)
			n += (uint32_t)put_timeouts(buf + n, op);
	}
	put_be32(buf, n - 4);
	return n;
}

/* One command: returns the length, or 0 after setting sense. */
static uint32_t rsoc_one(struct scsi_cmd *c, uint8_t *buf, uint8_t opts,
			 bool rctd)
{
	const uint8_t *cdb = c->task->cdb;
	uint8_t opcode = cdb[3];
	uint16_t sa = get_be16(&cdb[4]);
	const struct scsi_opdesc *op = NULL;
	bool has_sa = false, known = false;
	uint32_t n;

	for (unsigned i = 0; i < scsi_sbc_n_ops; i++) {
		const struct scsi_opdesc *o = &scsi_sbc_ops[i];

		if (o->opcode != opcode)
			continue;
		known = true;
		has_sa = o->flags & SCSI_OPF_SA;
		if (!has_sa || o->sa == sa)
			op = o;
	}
	/* opts 1: no service action allowed; 2: service action required */
	if ((opts == 1 && has_sa) || (opts == 2 && known && !has_sa)) {
		scsi_cmd_invalid_cdb(c, 2, 2);
		return 0;
	}
	memset(buf, 0, 4);
	if (!op) {
		buf[1] = 0x01; /* SUPPORT: not supported */
		return 4;
	}
	buf[1] = (uint8_t)(0x03 | (rctd ? 0x80 : 0)); /* CTDP, SUPPORT 011b */
	put_be16(buf + 2, op->cdb_len);
	memcpy(buf + 4, op->usage, op->cdb_len);
	buf[4] = op->opcode;
	n = 4u + op->cdb_len;
	if (rctd)
		n += (uint32_t)put_timeouts(buf + n, op);
	return n;
}

int scsi_spc_rsoc(struct scsi_cmd *c)
{
	const uint8_t *cdb = c->task->cdb;
	uint8_t opts = cdb[2] & 0x07;
	bool rctd = cdb[2] & 0x80;
	uint32_t alloc = get_be32(&cdb[6]);
	uint8_t buf[4 + ARRAY_SIZE(scsi_sbc_ops) * 20 + 64];
	uint32_t n;

	if (opts == 0) {
		n = rsoc_all(c, buf, rctd);
	} else if (opts <= 3) {
		n = rsoc_one(c, buf, opts, rctd);
		if (!n)
			return SCSI_CMD_DONE;
	} else {
		scsi_cmd_invalid_cdb(c, 2, 2);
		return SCSI_CMD_DONE;
	}
	scsi_cmd_data_in(c, buf, n, alloc);
	return SCSI_CMD_DONE;
}
