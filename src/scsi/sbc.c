// SPDX-License-Identifier: Apache-2.0
/*
 * SBC-3 block commands: READ/WRITE 6/10/12/16 (and WRITE AND VERIFY),
 * READ CAPACITY 10/16, VERIFY 10/12/16, SYNCHRONIZE CACHE 10/16.
 * Data moves straight between task->buf and the backing store; the bs_io
 * is embedded in the per-task executor state (no allocation per I/O).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "duet/log.h"
#include "duet/util.h"
#include "scsi_int.h"

/* LBA, transfer length and the byte offset of the length field. */
struct rw_params {
	uint64_t lba;
	uint32_t nblocks;
	uint16_t len_off;
	bool fua;
};

static void parse_rw(const uint8_t *cdb, struct rw_params *p)
{
	p->fua = false;
	switch (cdb[0]) {
	case SCSI_OP_READ_6:
	case SCSI_OP_WRITE_6:
		p->lba = get_be24(&cdb[1]) & 0x1fffff;
		p->nblocks = cdb[4] ? cdb[4] : 256;
		p->len_off = 4;
		return;
	case SCSI_OP_READ_16:
	case SCSI_OP_WRITE_16:
	case SCSI_OP_WRITE_VERIFY_16:
	case SCSI_OP_VERIFY_16:
	case SCSI_OP_SYNCHRONIZE_CACHE_16:
	case SCSI_OP_PREFETCH_16:
	case SCSI_OP_WRITE_SAME_16:
		p->lba = get_be64(&cdb[2]);
		p->nblocks = get_be32(&cdb[10]);
		p->len_off = 10;
		break;
	case SCSI_OP_READ_12:
	case SCSI_OP_WRITE_12:
	case SCSI_OP_WRITE_VERIFY_12:
	case SCSI_OP_VERIFY_12:
		p->lba = get_be32(&cdb[2]);
		p->nblocks = get_be32(&cdb[6]);
		p->len_off = 6;
		break;
	default: /* the 10-byte forms */
		p->lba = get_be32(&cdb[2]);
		p->nblocks = get_be16(&cdb[7]);
		p->len_off = 7;
		break;
	}
	p->fua = cdb[1] & 0x08;
}

static void lba_out_of_range(struct scsi_cmd *c, uint64_t lba)
{
	struct scsi_sense s = {
		.key = SCSI_SK_ILLEGAL_REQUEST,
		.asc = SCSI_ASC_LBA_OUT_OF_RANGE,
	};

	(void)lba; /* INFORMATION is not defined for 21/00 */
	scsi_sense_set(c->task, scsi_cmd_desc_sense(c), &s);
}

/* Range and size checks shared by every block command; 0 or -1 (sense
 * set). Never overflows: lba and count are compared separately. */
static int check_range(struct scsi_cmd *c, uint64_t lba, uint64_t n,
		       uint16_t len_off, bool check_max)
{
	const struct scsi_lu *lu = c->lu;

	if (lba > lu->nblocks || n > lu->nblocks - lba) {
		lba_out_of_range(c, lba);
		return -1;
	}
	if (check_max && n > (DUET_MAX_IO_BYTES >> lu->block_shift)) {
		scsi_cmd_invalid_cdb(c, len_off, -1);
		return -1;
	}
	return 0;
}

static void io_error(struct scsi_cmd *c, int err)
{
	const struct scsi_lu *lu = c->lu;
	bool write = c->io.op == BS_OP_WRITE || c->io.op == BS_OP_FLUSH;
	struct scsi_sense s = {
		.key = SCSI_SK_MEDIUM_ERROR,
		.asc = write ? SCSI_ASC_WRITE_ERROR
			     : SCSI_ASC_UNRECOVERED_READ_ERROR,
		.info_valid = c->io.op != BS_OP_FLUSH,
		.info = c->lba,
	};

	log_err("target %s lun %u: %s of %u blocks at LBA %llu failed: %s",
		lu->tgt->name, lu->id, write ? "write" : "read", c->nblocks,
		(unsigned long long)c->lba, strerror(-err));
	scsi_sense_set(c->task, scsi_cmd_desc_sense(c), &s);
}

static void rw_done(struct bs_io *io)
{
	struct scsi_cmd *c = container_of(io, struct scsi_cmd, io);

	if (!c->aborted && io->result)
		io_error(c, io->result);
	scsi_cmd_complete(c);
}

/* Queue the embedded bs_io; returns SCSI_CMD_ASYNC or SCSI_CMD_DONE. */
static int submit_io(struct scsi_cmd *c, enum bs_op op, void *buf, uint64_t len,
		     bool fua, bs_done_fn done)
{
	struct bs_io *io = &c->io;
	int rc;

	memset(io, 0, sizeof(*io));
	io->op = op;
	io->offset = c->lba << c->lu->block_shift;
	io->len = len;
	io->buf = buf;
	io->fua = fua;
	io->done = done;
	io->priv = c;
	rc = bs_submit(c->lu->bs, io);
	if (rc == 0)
		return SCSI_CMD_ASYNC;
	if (rc == -EAGAIN || rc == -ENOMEM) {
		c->task->status = SCSI_STATUS_TASK_SET_FULL;
		return SCSI_CMD_DONE;
	}
	io_error(c, rc);
	return SCSI_CMD_DONE;
}

static int do_read(struct scsi_cmd *c, uint64_t bytes)
{
	struct scsi_task *t = c->task;
	uint32_t cap = t->buf ? t->buf_cap : 0;
	uint64_t len = bytes;

	if (len > cap) {
		/* The initiator asked for less (iSCSI overflow): read the
		 * whole blocks that fit, zero the tail of the buffer. */
		len = cap & ~((uint64_t)c->lu->block_size - 1);
		if (cap > len)
			memset(t->buf + len, 0, cap - len);
	}
	t->data_len = (uint32_t)MIN(bytes, (uint64_t)cap);
	if (!len)
		return SCSI_CMD_DONE;
	return submit_io(c, BS_OP_READ, t->buf, len, false, rw_done);
}

int scsi_sbc_rw(struct scsi_cmd *c)
{
	struct scsi_task *t = c->task;
	struct rw_params p;
	uint64_t bytes;
	bool write = c->op->flags & SCSI_OPF_DATA_OUT;

	parse_rw(t->cdb, &p);
	bytes = (uint64_t)p.nblocks << c->lu->block_shift;
	t->xfer_len = (uint32_t)MIN(bytes, (uint64_t)UINT32_MAX);
	if (check_range(c, p.lba, p.nblocks, p.len_off, true))
		return SCSI_CMD_DONE;
	c->lba = p.lba;
	c->nblocks = p.nblocks;
	if (!p.nblocks)
		return SCSI_CMD_DONE;
	if (!write)
		return do_read(c, bytes);
	/* The transport must have delivered everything the initiator
	 * promised (min of EDTL and what the CDB needs); if not, write
	 * nothing rather than garbage. */
	if (t->data_out_len < MIN(bytes, (uint64_t)t->exp_xfer_len) ||
	    (t->data_out_len && !t->buf)) {
		scsi_cmd_sense(c, SCSI_SK_ILLEGAL_REQUEST,
			       SCSI_ASC_INVALID_FIELD_IN_CMD_IU);
		return SCSI_CMD_DONE;
	}
	/* EDTL below the CDB's length (iSCSI overflow): write the whole
	 * blocks received, never beyond them (FCP-4 / SAM residual rule). */
	if (bytes > t->data_out_len) {
		c->nblocks = t->data_out_len >> c->lu->block_shift;
		bytes = (uint64_t)c->nblocks << c->lu->block_shift;
		if (!bytes)
			return SCSI_CMD_DONE;
	}
	/* WRITE AND VERIFY: the data is verified by being on stable
	 * storage when the command completes. */
	if (c->op->opcode == SCSI_OP_WRITE_VERIFY_10 ||
	    c->op->opcode == SCSI_OP_WRITE_VERIFY_12 ||
	    c->op->opcode == SCSI_OP_WRITE_VERIFY_16)
		p.fua = true;
	return submit_io(c, BS_OP_WRITE, t->buf, bytes, p.fua, rw_done);
}

int scsi_sbc_read_capacity10(struct scsi_cmd *c)
{
	const uint8_t *cdb = c->task->cdb;
	uint64_t last = c->lu->nblocks - 1;
	uint8_t b[8];

	if (!(cdb[8] & 0x01) && get_be32(&cdb[2])) {
		scsi_cmd_invalid_cdb(c, 2, -1);
		return SCSI_CMD_DONE;
	}
	put_be32(b, last > 0xfffffffeull ? 0xffffffffu : (uint32_t)last);
	put_be32(b + 4, c->lu->block_size);
	scsi_cmd_data_in(c, b, sizeof(b), sizeof(b));
	return SCSI_CMD_DONE;
}

int scsi_sbc_read_capacity16(struct scsi_cmd *c)
{
	const uint8_t *cdb = c->task->cdb;
	const struct scsi_lu *lu = c->lu;
	uint32_t phys = bs_phys_block_size(lu->bs);
	uint8_t b[32], exp = 0;

	if (!(cdb[14] & 0x01) && get_be64(&cdb[2])) {
		scsi_cmd_invalid_cdb(c, 2, -1);
		return SCSI_CMD_DONE;
	}
	while (phys > lu->block_size && (lu->block_size << (exp + 1)) <= phys &&
	       exp < 15)
		exp++;
	memset(b, 0, sizeof(b));
	put_be64(b, lu->nblocks - 1);
	put_be32(b + 8, lu->block_size);
	b[13] = exp; /* LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT */
	scsi_cmd_data_in(c, b, sizeof(b), get_be32(&cdb[10]));
	return SCSI_CMD_DONE;
}

/* ---- VERIFY ---- */

static uint64_t first_miscompare(const struct scsi_cmd *c)
{
	const uint8_t *out = c->task->buf;
	uint64_t bytes = (uint64_t)c->nblocks << c->lu->block_shift;
	uint32_t bs = c->lu->block_size;

	for (uint64_t i = 0; i < bytes; i++) {
		uint8_t want = c->bytchk == 3 ? out[i % bs] : out[i];

		if (c->cmp_buf[i] != want)
			return i;
	}
	return UINT64_MAX;
}

static void verify_done(struct bs_io *io)
{
	struct scsi_cmd *c = container_of(io, struct scsi_cmd, io);
	uint64_t off;

	if (c->aborted) {
		scsi_cmd_complete(c);
		return;
	}
	if (io->result) {
		io_error(c, io->result);
	} else if ((off = first_miscompare(c)) != UINT64_MAX) {
		struct scsi_sense s = {
			.key = SCSI_SK_MISCOMPARE,
			.asc = SCSI_ASC_MISCOMPARE_DURING_VERIFY,
			.info_valid = true,
			.info = off,
		};

		scsi_sense_set(c->task, scsi_cmd_desc_sense(c), &s);
	}
	scsi_cmd_complete(c);
}

int scsi_sbc_verify(struct scsi_cmd *c)
{
	struct scsi_task *t = c->task;
	struct rw_params p;
	uint64_t bytes, need;
	uint8_t bytchk = (t->cdb[1] >> 1) & 0x03;

	parse_rw(t->cdb, &p);
	bytes = (uint64_t)p.nblocks << c->lu->block_shift;
	need = bytchk == 0 ? 0 : bytchk == 3 ? c->lu->block_size : bytes;
	t->xfer_len = (uint32_t)MIN(need, (uint64_t)UINT32_MAX);
	if (bytchk == 2) {
		scsi_cmd_invalid_cdb(c, 1, 2);
		return SCSI_CMD_DONE;
	}
	if (check_range(c, p.lba, p.nblocks, p.len_off, bytchk != 0))
		return SCSI_CMD_DONE;
	if (!bytchk || !p.nblocks)
		return SCSI_CMD_DONE; /* medium verify: nothing can fail */
	if (t->data_out_len < need || !t->buf) {
		scsi_cmd_sense(c, SCSI_SK_ILLEGAL_REQUEST,
			       SCSI_ASC_INVALID_FIELD_IN_CMD_IU);
		return SCSI_CMD_DONE;
	}
	c->lba = p.lba;
	c->nblocks = p.nblocks;
	c->bytchk = bytchk;
	if (scsi_cmd_bounce_alloc(c, bytes)) {
		t->status = SCSI_STATUS_TASK_SET_FULL;
		return SCSI_CMD_DONE;
	}
	return submit_io(c, BS_OP_READ, c->cmp_buf, bytes, false, verify_done);
}

int scsi_sbc_sync_cache(struct scsi_cmd *c)
{
	struct rw_params p;
	uint64_t n;

	parse_rw(c->task->cdb, &p);
	n = p.nblocks;
	if (check_range(c, p.lba, n, p.len_off, false))
		return SCSI_CMD_DONE;
	/* Write-through: every completed write is already stable. */
	if (!bs_write_back(c->lu->bs))
		return SCSI_CMD_DONE;
	c->lba = p.lba;
	c->nblocks = p.nblocks;
	return submit_io(c, BS_OP_FLUSH, NULL, 0, false, rw_done);
}

/* PRE-FETCH: nothing to stage in a cache we do not own; range checked. */
int scsi_sbc_prefetch(struct scsi_cmd *c)
{
	struct rw_params p;

	parse_rw(c->task->cdb, &p);
	check_range(c, p.lba, p.nblocks, p.len_off, false);
	return SCSI_CMD_DONE;
}

static bool block_is_zero(const uint8_t *b, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		if (b[i])
			return false;
	return true;
}

/* WRITE SAME (no UNMAP support: the UNMAP and ANCHOR bits are invalid
 * fields, as LBPWS/LBPWS10 say in the provisioning VPD page). The block is
 * replicated into a bounce buffer (rare command, bounded by the MAXIMUM
 * WRITE SAME LENGTH in the Block Limits page); WSNZ is set, so a zero
 * length is invalid. */
int scsi_sbc_write_same(struct scsi_cmd *c)
{
	struct scsi_task *t = c->task;
	bool ndob = t->cdb[0] == SCSI_OP_WRITE_SAME_16 && (t->cdb[1] & 0x01);
	uint32_t bs = c->lu->block_size;
	struct rw_params p;
	uint64_t bytes;

	parse_rw(t->cdb, &p);
	t->xfer_len = ndob ? 0 : bs;
	if (!p.nblocks) {
		scsi_cmd_invalid_cdb(c, p.len_off, -1);
		return SCSI_CMD_DONE;
	}
	if (check_range(c, p.lba, p.nblocks, p.len_off, true))
		return SCSI_CMD_DONE;
	if (!ndob && (t->data_out_len < bs || !t->buf)) {
		scsi_cmd_sense(c, SCSI_SK_ILLEGAL_REQUEST,
			       SCSI_ASC_INVALID_FIELD_IN_CMD_IU);
		return SCSI_CMD_DONE;
	}
	bytes = (uint64_t)p.nblocks << c->lu->block_shift;
	c->lba = p.lba;
	c->nblocks = p.nblocks;
	/* Zeroes (the common case: mkfs, zero-out) need no bounce buffer. */
	if (ndob || block_is_zero(t->buf, bs))
		return submit_io(c, BS_OP_WRITE_ZEROES, NULL, bytes, false,
				 rw_done);
	if (scsi_cmd_bounce_alloc(c, bytes)) {
		t->status = SCSI_STATUS_TASK_SET_FULL;
		return SCSI_CMD_DONE;
	}
	for (uint64_t off = 0; off < bytes; off += bs)
		memcpy(c->cmp_buf + off, t->buf, bs);
	return submit_io(c, BS_OP_WRITE, c->cmp_buf, bytes, false, rw_done);
}
