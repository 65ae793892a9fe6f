// SPDX-License-Identifier: Apache-2.0
/*
 * SCSI Command and Data-Out in full feature phase: task creation, the
 * data-out phase (immediate data, unsolicited Data-Out up to
 * FirstBurstLength, R2Ts with several in flight), submission to the
 * dispatcher, and the response: Data-In split by the initiator's
 * MaxRecvDataSegmentLength with the status collapsed into the last one when
 * it is GOOD without sense, otherwise a SCSI Response.
 *
 * Choices (ERL 0):
 *  - Bidirectional commands are not supported: CHECK CONDITION, ILLEGAL
 *    REQUEST / INVALID FIELD IN CDB, with any data-out discarded.
 *  - A write whose EDTL exceeds DUET_MAX_IO_BYTES gets the same answer
 *    without a buffer being allocated (VPD B0 advertises the limit).
 *  - Data-Out sequence errors (offset, DataSN, length beyond the R2T or
 *    the burst) end the task with CHECK CONDITION, ABORTED COMMAND /
 *    DATA PHASE ERROR (4B/00); the PDU's data and any later Data-Out for
 *    the task are discarded, and the connection keeps serving. A Data-Out
 *    with an unknown TTT is Rejected (invalid PDU field).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "duet/log.h"
#include "iscsi_int.h"

#define TASK_POOL_MAX 1024
#define BUF_CLASSES 12 /* 4 KiB .. 8 MiB */
#define BUF_POOL_BYTES (64u << 20)

static struct {
	void *head[BUF_CLASSES];
	size_t bytes;
} buf_pool;

static unsigned buf_class(uint32_t len, uint32_t *cap)
{
	unsigned k = 0;
	uint32_t c = 4096;

	while (c < len && k < BUF_CLASSES - 1) {
		c <<= 1;
		k++;
	}
	*cap = c;
	return k;
}

static uint8_t *buf_get(uint32_t len)
{
	uint32_t cap;
	unsigned k = buf_class(len, &cap);
	void *b = buf_pool.head[k];

	if (b) {
		memcpy(&buf_pool.head[k], b, sizeof(void *));
		buf_pool.bytes -= cap;
		return b;
	}
	if (posix_memalign(&b, DUET_BUF_ALIGN, cap))
		return NULL;
	return b;
}

static void buf_put(uint8_t *b, uint32_t len)
{
	uint32_t cap;
	unsigned k = buf_class(len, &cap);

	if (buf_pool.bytes + cap > BUF_POOL_BYTES) {
		free(b);
		return;
	}
	memcpy(b, &buf_pool.head[k], sizeof(void *));
	buf_pool.head[k] = b;
	buf_pool.bytes += cap;
}

static unsigned itt_hash(uint32_t itt)
{
	return (itt ^ (itt >> 8) ^ (itt >> 16)) & (ISCSI_ITT_HASH - 1);
}

struct iscsi_task *iscsi_task_find(struct iscsi_conn *c, uint32_t itt)
{
	struct iscsi_task *t = c->itt_hash[itt_hash(itt)];

	while (t && t->itt != itt)
		t = t->hnext;
	return t;
}

static struct iscsi_task *task_alloc(struct iscsi_conn *c, uint32_t itt)
{
	struct iscsi_task *t = iscsi_g.task_free;
	unsigned h = itt_hash(itt);

	if (t) {
		iscsi_g.task_free = t->next;
		iscsi_g.n_task_free--;
	} else {
		t = malloc(sizeof(*t));
		if (!t)
			return NULL;
	}
	memset(t, 0, sizeof(*t));
	t->conn = c;
	t->itt = itt;
	t->next = c->tasks;
	if (c->tasks)
		c->tasks->prev = t;
	c->tasks = t;
	t->hnext = c->itt_hash[h];
	c->itt_hash[h] = t;
	c->n_tasks++;
	return t;
}

void iscsi_task_unlink(struct iscsi_task *t)
{
	struct iscsi_conn *c = t->conn;
	struct iscsi_task **pp = &c->itt_hash[itt_hash(t->itt)];

	if (!c)
		return;
	while (*pp && *pp != t)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = t->hnext;
	if (t->prev)
		t->prev->next = t->next;
	else
		c->tasks = t->next;
	if (t->next)
		t->next->prev = t->prev;
	c->n_tasks--;
	if (t->counted && c->sess) {
		t->counted = false;
		iscsi_session_task_done(c->sess);
	}
	t->conn = NULL;
}

void iscsi_task_free(struct iscsi_task *t)
{
	struct iscsi_conn *c = t->conn;

	iscsi_task_unlink(t);
	if (t->st.buf)
		buf_put(t->st.buf, t->st.buf_cap);
	if (iscsi_g.n_task_free < TASK_POOL_MAX) {
		t->next = iscsi_g.task_free;
		iscsi_g.task_free = t;
		iscsi_g.n_task_free++;
	} else {
		free(t);
	}
	if (c) {
		iscsi_conn_check_logout(c);
		iscsi_conn_maybe_free(c);
	}
}

void iscsi_task_pool_free(void)
{
	while (iscsi_g.task_free) {
		struct iscsi_task *t = iscsi_g.task_free;

		iscsi_g.task_free = t->next;
		free(t);
	}
	iscsi_g.n_task_free = 0;
	for (unsigned k = 0; k < BUF_CLASSES; k++) {
		while (buf_pool.head[k]) {
			void *b = buf_pool.head[k];

			memcpy(&buf_pool.head[k], b, sizeof(void *));
			free(b);
		}
	}
	buf_pool.bytes = 0;
}

/* ---- responses ---- */

static void set_local_sense(struct scsi_task *st, uint8_t key, uint8_t asc)
{
	memset(st->sense, 0, 18);
	st->sense[0] = 0x70;
	st->sense[2] = key;
	st->sense[7] = 10;
	st->sense[12] = asc;
	st->sense_len = 18;
	st->status = SCSI_STATUS_CHECK_CONDITION;
	st->xfer_len = 0;
	st->data_len = 0;
}

static struct tx_pdu *rsp_pdu(struct iscsi_task *t)
{
	struct scsi_task *st = &t->st;
	struct tx_pdu *p = iscsi_tx_alloc();
	uint32_t res = 0;
	uint8_t fl;

	if (!p)
		return NULL;
	fl = iscsi_residual(st->xfer_len, t->edtl, &res);
	iscsi_build_scsi_rsp(p->bhs, t->itt, 0, st->status, fl, res, 0);
	if (st->sense_len) {
		uint32_t sl = MIN(st->sense_len, SCSI_SENSE_MAX);

		put_be16(p->inl, (uint16_t)sl);
		memcpy(p->inl + 2, st->sense, sl);
		p->data = p->inl;
		p->dlen = 2 + sl;
		iscsi_bhs_set_dlen(p->bhs, p->dlen);
	}
	return p;
}

/* Queue Data-In PDUs; returns the last one (not yet queued) or NULL. */
static int send_data_in(struct iscsi_task *t, uint32_t n, bool collapse)
{
	struct iscsi_conn *c = t->conn;
	uint32_t mdsl = c->params.max_xmit_dsl ? c->params.max_xmit_dsl : 8192;
	uint32_t mbl = c->params.max_burst_length ? c->params.max_burst_length
						  : 262144;

	for (uint32_t off = 0; off < n;) {
		struct tx_pdu *p = iscsi_tx_alloc();
		uint32_t seg = MIN(mdsl, n - off);
		bool last = off + seg == n;
		uint8_t fl = 0;

		if (!p)
			return -ENOMEM;
		/* a sequence ends at each MaxBurstLength boundary */
		if (last || (off + seg) % mbl == 0 || seg < mdsl)
			fl |= ISCSI_FLAG_FINAL;
		iscsi_build_data_in(p->bhs, t->itt, t->st.lun, t->datasn++, off,
				    seg, fl);
		p->data = t->st.buf + off;
		p->dlen = seg;
		off += seg;
		if (last && collapse) {
			uint32_t res = 0;

			p->bhs[1] |=
				ISCSI_FLAG_DATA_STATUS |
				iscsi_residual(t->st.xfer_len, t->edtl, &res);
			p->bhs[3] = t->st.status;
			put_be32(p->bhs + ISCSI_BHS_RESIDUAL, res);
			p->task_free = t;
			iscsi_tx_queue_status(c, p);
			return 0;
		}
		iscsi_tx_queue(c, p);
	}
	return 0;
}

static void task_respond(struct iscsi_task *t)
{
	struct iscsi_conn *c = t->conn;
	struct scsi_task *st = &t->st;
	uint32_t n = 0;
	bool collapse;
	struct tx_pdu *p;

	t->state = T_TX;
	if (t->counted) {
		t->counted = false;
		iscsi_session_task_done(c->sess);
	}
	if (st->dir == SCSI_DIR_READ && st->buf)
		n = MIN(MIN(st->data_len, t->edtl), st->buf_cap);
	collapse = n > 0 && st->status == SCSI_STATUS_GOOD && !st->sense_len;
	if (n && send_data_in(t, n, collapse) < 0)
		goto nomem;
	if (collapse)
		return;
	p = rsp_pdu(t);
	if (!p)
		goto nomem;
	p->task_free = t;
	iscsi_tx_queue_status(c, p);
	return;
nomem:
	log_err("%s: out of memory building a response", iscsi_conn_name(c));
	iscsi_conn_close(c, "out of memory");
	iscsi_task_free(t);
}

static void task_done_cb(struct scsi_task *st)
{
	struct iscsi_task *t = st->priv;
	struct iscsi_conn *c = t->conn;

	if (c)
		c->n_scsi--;
	if (st->aborted || !c || c->state == CONN_CLOSED) {
		iscsi_task_free(t);
		return;
	}
	task_respond(t);
}

static void task_submit(struct iscsi_task *t)
{
	struct iscsi_conn *c = t->conn;
	struct scsi_task *st = &t->st;

	st->itn = &c->sess->itn;
	st->data_out_len = t->got;
	st->tag = t->itt;
	st->done = task_done_cb;
	st->priv = t;
	t->state = T_SCSI;
	c->n_scsi++;
	scsi_dispatch_submit(c->sess->target->disp, st);
}

/* ---- data-out phase ---- */

static int r2t_issue(struct iscsi_task *t, struct r2t_slot *s)
{
	struct iscsi_conn *c = t->conn;
	struct tx_pdu *p = iscsi_tx_alloc();
	uint32_t mbl = c->params.max_burst_length;

	if (!p)
		return -ENOMEM;
	if (c->next_ttt == ISCSI_RESERVED_TAG)
		c->next_ttt = 0;
	s->active = true;
	s->ttt = c->next_ttt++;
	s->off = t->r2t_next_off;
	s->len = MIN(mbl ? mbl : 262144, t->want - s->off);
	s->got = 0;
	s->datasn = 0;
	t->r2t_next_off += s->len;
	t->n_r2t++;
	iscsi_build_r2t(p->bhs, t->itt, t->st.lun, s->ttt, c->statsn,
			t->r2tsn++, s->off, s->len);
	iscsi_tx_queue(c, p);
	return 0;
}

static int r2t_fill(struct iscsi_task *t)
{
	unsigned max = t->conn->params.max_outstanding_r2t;

	if (max == 0)
		max = 1;
	if (max > ISCSI_MAX_R2T)
		max = ISCSI_MAX_R2T;
	for (unsigned i = 0; i < max && t->r2t_next_off < t->want; i++) {
		if (t->r2t[i].active)
			continue;
		if (r2t_issue(t, &t->r2t[i]) < 0)
			return -ENOMEM;
	}
	return 0;
}

static void task_local_fail(struct iscsi_task *t)
{
	set_local_sense(&t->st, t->local_key ? t->local_key : 0x05,
			t->local_asc);
	task_respond(t);
}

void iscsi_task_progress(struct iscsi_task *t)
{
	if (!t->ordered || t->state != T_DATA)
		return;
	if (t->local_asc) {
		task_local_fail(t);
		return;
	}
	if (t->got >= t->want) {
		task_submit(t);
		return;
	}
	/* solicit the rest once the unsolicited part is settled */
	if (t->unsol_got >= t->unsol_limit || t->unsol_final) {
		if (t->r2t_next_off < t->unsol_got)
			t->r2t_next_off = t->unsol_got;
		if (r2t_fill(t) < 0)
			iscsi_conn_close(t->conn, "out of memory");
	}
}

void iscsi_task_terminate(struct iscsi_task *t)
{
	if (t->held) {
		t->dropped = true; /* its CmdSN is consumed when reached */
		return;
	}
	iscsi_task_free(t);
}

/* ---- SCSI Command header ---- */

/* Extended CDB AHS (type 1) and bidi read length (type 2). */
static int cmd_parse_ahs(struct iscsi_conn *c, struct iscsi_task *t)
{
	uint32_t off = 0;

	while (off + 4 <= c->ahs_len) {
		uint32_t len = get_be16(c->ahs + off);
		uint8_t type = c->ahs[off + 2];

		if (off + 3 + len > c->ahs_len)
			return -EINVAL;
		if (type == 1) {
			uint32_t extra = len - 1;

			if (len < 1 || 16 + extra > SCSI_CDB_MAX)
				return -EINVAL;
			memcpy(t->st.cdb + 16, c->ahs + off + 4, extra);
			t->st.cdb_len = (uint8_t)(16 + extra);
		} else if (type == 2) {
			if (len != 5)
				return -EINVAL;
			t->local_asc = 0x24; /* bidi: not supported */
		} else {
			return -EINVAL;
		}
		off += ALIGN_UP(3 + len, 4u);
	}
	return off == c->ahs_len ? 0 : -EINVAL;
}

static const char *cmd_check(struct iscsi_conn *c, bool write, uint32_t edtl)
{
	uint32_t dlen = c->dlen;

	if (get_be32(c->bhs + ISCSI_BHS_ITT) == ISCSI_RESERVED_TAG)
		return "SCSI Command with the reserved ITT 0xffffffff";
	if (!c->sess || c->sess->type != ISCSI_SESSION_NORMAL ||
	    !c->sess->target)
		return "SCSI Command in a discovery session";
	if (dlen && !write)
		return "immediate data on a command without the W bit";
	if (dlen && !c->params.immediate_data)
		return "immediate data with ImmediateData=No";
	if (dlen > edtl)
		return "immediate data longer than the expected length";
	if (dlen > c->params.first_burst_length)
		return "immediate data longer than FirstBurstLength";
	return NULL;
}

static void cmd_setup(struct iscsi_conn *c, struct iscsi_task *t)
{
	const uint8_t *b = c->bhs;
	bool r = b[1] & ISCSI_FLAG_CMD_READ, w = b[1] & ISCSI_FLAG_CMD_WRITE;

	t->immediate = iscsi_bhs_immediate(b);
	t->cmdsn = get_be32(b + ISCSI_BHS_CMDSN);
	t->edtl = get_be32(b + ISCSI_BHS_EDTL);
	t->st.lun = get_be64(b + ISCSI_BHS_LUN);
	memcpy(t->st.cdb, b + ISCSI_BHS_CDB, 16);
	t->st.cdb_len = 16;
	t->st.attr = (enum scsi_task_attr)(b[1] & ISCSI_FLAG_CMD_ATTR_MASK);
	t->st.exp_xfer_len = t->edtl;
	t->st.dir = r && w ? SCSI_DIR_BIDI
		    : r	   ? SCSI_DIR_READ
		    : w	   ? SCSI_DIR_WRITE
			   : SCSI_DIR_NONE;
	if (t->st.dir == SCSI_DIR_BIDI)
		t->local_asc = 0x24;
	if (w && t->edtl > DUET_MAX_IO_BYTES)
		t->local_asc = 0x24;
	if (w && !(b[1] & ISCSI_FLAG_FINAL) && !c->params.initial_r2t)
		t->unsol_limit = MIN(c->params.first_burst_length, t->edtl);
	else
		t->unsol_limit = c->dlen;
	if (t->unsol_limit < c->dlen)
		t->unsol_limit = c->dlen;
	t->want = w ? t->edtl : 0;
}

static int cmd_alloc_buf(struct iscsi_task *t)
{
	uint32_t cap = MIN(t->edtl, DUET_MAX_IO_BYTES);

	if (t->local_asc || cap == 0)
		return 0;
	t->st.buf = buf_get(cap);
	if (!t->st.buf)
		return -ENOMEM;
	t->st.buf_cap = cap;
	return 0;
}

int iscsi_cmd_rx_header(struct iscsi_conn *c)
{
	uint32_t itt = get_be32(c->bhs + ISCSI_BHS_ITT);
	uint32_t edtl = get_be32(c->bhs + ISCSI_BHS_EDTL);
	const char *err = cmd_check(c, c->bhs[1] & ISCSI_FLAG_CMD_WRITE, edtl);
	struct iscsi_task *t;

	c->rx_task = NULL;
	if (err) {
		iscsi_conn_proto_error(c, ISCSI_REJECT_PROTOCOL_ERROR, err);
		return 0;
	}
	c->exp_statsn = get_be32(c->bhs + ISCSI_BHS_EXPSTATSN);
	if (iscsi_g.shutting_down) {
		log_debug("%s: shutting down: command ITT 0x%08x ignored",
			  iscsi_conn_name(c), itt);
		return 0;
	}
	if (!iscsi_bhs_immediate(c->bhs) &&
	    iscsi_session_cmdsn_check(c->sess,
				      get_be32(c->bhs + ISCSI_BHS_CMDSN)) < 0) {
		log_debug("%s: CmdSN 0x%08x outside the window [0x%08x, "
			  "0x%08x]: dropped",
			  iscsi_conn_name(c),
			  get_be32(c->bhs + ISCSI_BHS_CMDSN),
			  c->sess->exp_cmdsn, iscsi_session_max_cmdsn(c->sess));
		return 0; /* data skipped, command ignored */
	}
	if (iscsi_task_find(c, itt)) {
		c->rx_reject = ISCSI_REJECT_TASK_IN_PROGRESS;
		return 0;
	}
	t = task_alloc(c, itt);
	if (!t)
		return -ENOMEM;
	cmd_setup(c, t);
	if (cmd_parse_ahs(c, t) < 0) {
		iscsi_task_free(t);
		iscsi_conn_proto_error(c, ISCSI_REJECT_PROTOCOL_ERROR,
				       "malformed AHS");
		return 0;
	}
	if (cmd_alloc_buf(t) < 0) {
		iscsi_task_free(t);
		return -ENOMEM;
	}
	c->rx_task = t;
	c->dst = t->st.buf; /* NULL (discard) when answered locally */
	return 0;
}

void iscsi_cmd_rx_done(struct iscsi_conn *c)
{
	struct iscsi_task *t = c->rx_task;
	struct iscsi_session *s = c->sess;
	int r;

	c->rx_task = NULL;
	if (!t)
		return;
	if (c->dst) {
		t->got = c->dlen;
		t->unsol_got = c->dlen;
	}
	if (t->immediate) {
		t->ordered = true;
		iscsi_task_progress(t);
		return;
	}
	r = iscsi_session_cmdsn_check(s, t->cmdsn);
	if (r < 0) { /* the window moved under it? should not happen */
		iscsi_task_free(t);
		return;
	}
	if (r > 0) {
		iscsi_session_hold(s, t);
		return;
	}
	t->ordered = true;
	t->counted = true;
	s->inflight++;
	iscsi_task_progress(t);
	iscsi_session_advance(s);
}

/* ---- Data-Out ---- */

static const char *dataout_unsol(struct iscsi_conn *c, struct iscsi_task *t,
				 uint32_t off, uint32_t datasn)
{
	if (t->unsol_final || t->unsol_got >= t->unsol_limit)
		return "unsolicited Data-Out beyond the unsolicited burst";
	if (off + c->dlen > t->unsol_limit)
		return "unsolicited Data-Out beyond FirstBurstLength";
	if (c->params.data_pdu_in_order && off != t->unsol_got)
		return "unsolicited Data-Out with an unexpected offset";
	if (datasn != t->unsol_datasn)
		return "unsolicited Data-Out with an unexpected DataSN";
	c->rx_slot = -1;
	return NULL;
}

static const char *dataout_r2t(struct iscsi_conn *c, struct iscsi_task *t,
			       uint32_t ttt, uint32_t off, uint32_t datasn)
{
	for (unsigned i = 0; i < ISCSI_MAX_R2T; i++) {
		struct r2t_slot *s = &t->r2t[i];

		if (!s->active || s->ttt != ttt)
			continue;
		if (off < s->off || off + c->dlen > s->off + s->len)
			return "Data-Out outside the R2T's range";
		if (c->params.data_pdu_in_order && off != s->off + s->got)
			return "Data-Out with an unexpected offset";
		if (datasn != s->datasn)
			return "Data-Out with an unexpected DataSN";
		c->rx_slot = (int)i;
		return NULL;
	}
	return "";
}

int iscsi_dataout_rx_header(struct iscsi_conn *c)
{
	const uint8_t *b = c->bhs;
	uint32_t itt = get_be32(b + ISCSI_BHS_ITT);
	uint32_t ttt = get_be32(b + ISCSI_BHS_TTT);
	uint32_t off = get_be32(b + ISCSI_BHS_BUFFER_OFFSET);
	uint32_t datasn = get_be32(b + ISCSI_BHS_DATASN);
	struct iscsi_task *t = iscsi_task_find(c, itt);
	const char *err;

	c->rx_task = NULL;
	c->exp_statsn = get_be32(b + ISCSI_BHS_EXPSTATSN);
	if (!t || t->state != T_DATA || t->local_asc || t->dropped) {
		log_debug("%s: Data-Out for ITT 0x%08x with no task collecting "
			  "data: discarded",
			  iscsi_conn_name(c), itt);
		return 0;
	}
	if (off > t->want || c->dlen > t->want - off)
		err = "Data-Out beyond the expected data transfer length";
	else if (ttt == ISCSI_RESERVED_TAG)
		err = dataout_unsol(c, t, off, datasn);
	else
		err = dataout_r2t(c, t, ttt, off, datasn);
	if (err && !*err) {
		/* unknown TTT: skip the data and Reject the PDU */
		c->rx_reject = ISCSI_REJECT_INVALID_PDU_FIELD;
		return 0;
	}
	if (err) {
		log_warn("%s: ITT 0x%08x: %s (offset %u, DataSN %u, length "
			 "%u): command ends with DATA PHASE ERROR",
			 iscsi_conn_name(c), itt, err, off, datasn, c->dlen);
		t->local_key = 0x0b; /* ABORTED COMMAND */
		t->local_asc = 0x4b; /* DATA PHASE ERROR */
		iscsi_task_progress(t);
		return 0;
	}
	c->rx_task = t;
	c->dst = t->st.buf + off;
	return 0;
}

void iscsi_dataout_rx_done(struct iscsi_conn *c)
{
	struct iscsi_task *t = c->rx_task;
	bool final = c->bhs[1] & ISCSI_FLAG_FINAL;

	c->rx_task = NULL;
	if (!t)
		return;
	t->got += c->dlen;
	if (c->rx_slot < 0) {
		t->unsol_got += c->dlen;
		t->unsol_datasn++;
		t->unsol_final |= final;
	} else {
		struct r2t_slot *s = &t->r2t[c->rx_slot];

		s->got += c->dlen;
		s->datasn++;
		if (final && s->got != s->len) {
			log_warn("%s: ITT 0x%08x: Data-Out sequence ended "
				 "short of the R2T's length: DATA PHASE ERROR",
				 iscsi_conn_name(c), t->itt);
			t->local_key = 0x0b;
			t->local_asc = 0x4b;
			iscsi_task_progress(t);
			return;
		}
		if (s->got == s->len) {
			s->active = false;
			t->n_r2t--;
		}
	}
	iscsi_task_progress(t);
}
