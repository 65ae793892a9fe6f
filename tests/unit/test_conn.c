// SPDX-License-Identifier: Apache-2.0
/*
 * The connection RX state machine driven with bytes (no sockets, no event
 * loop): the connection has no events, so response PDUs stay in its
 * transmit queue where the tests read them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/iscsi/iscsi_int.h"
#include "duet/log.h"

static struct cfg_iscsi cfg = {
	.queue_depth = 8,
	.max_recv_data_segment_length = 8192,
	.max_burst_length = 262144,
	.first_burst_length = 65536,
	.max_outstanding_r2t = 4,
	.login_timeout = 15,
};

/* A dispatcher that completes reads with a pattern and records writes. */
static uint8_t last_write[65536];
static uint32_t last_write_len;
static unsigned n_submit;

static void fake_submit(struct scsi_dispatcher *d, struct scsi_task *t)
{
	n_submit++;
	t->status = SCSI_STATUS_GOOD;
	t->xfer_len = t->exp_xfer_len;
	if (t->dir == SCSI_DIR_WRITE) {
		last_write_len = t->data_out_len;
		memcpy(last_write, t->buf, MIN(t->data_out_len, 65536u));
	} else if (t->dir == SCSI_DIR_READ) {
		for (uint32_t i = 0; i < t->buf_cap; i++)
			t->buf[i] = (uint8_t)i;
		t->data_len = t->buf_cap;
	}
	t->done(t);
}

static void fake_tmf(struct scsi_dispatcher *d, struct scsi_tmf *tmf)
{
	tmf->result = SCSI_TMF_COMPLETE;
	tmf->done(tmf);
}

static const struct scsi_dispatch_ops fake_ops = {
	.submit = fake_submit,
	.tmf = fake_tmf,
};
static struct scsi_dispatcher fake_disp = {.ops = &fake_ops};
static struct cfg_target tcfg = {.name = "iqn.2026-11.test:t", .tpgt = 1};
static struct iscsi_target target = {.cfg = &tcfg, .disp = &fake_disp};

static struct iscsi_conn *ffp_conn(bool hd, bool dd)
{
	struct iscsi_conn *c;
	struct iscsi_session *s = calloc(1, sizeof(*s));

	iscsi_g.cfg = &cfg;
	c = iscsi_conn_new(-1, "127.0.0.1", 1, "127.0.0.1", 3260);
	assert_non_null(c);
	s->type = ISCSI_SESSION_NORMAL;
	s->target = &target;
	s->tsih = 1;
	s->queue_depth = 8;
	s->exp_cmdsn = 1;
	s->max_cmdsn = 8;
	s->conn = c;
	s->refs = 1;
	c->sess = s;
	c->state = CONN_FFP;
	c->params = (struct iscsi_params){
		.max_recv_dsl = 8192,
		.max_xmit_dsl = 4096,
		.max_burst_length = 262144,
		.first_burst_length = 65536,
		.max_outstanding_r2t = 4,
		.header_digest = hd,
		.data_digest = dd,
		.immediate_data = true,
		.initial_r2t = true,
		.data_pdu_in_order = true,
		.data_sequence_in_order = true,
	};
	n_submit = 0;
	last_write_len = 0;
	return c;
}

static void conn_done(struct iscsi_conn *c)
{
	iscsi_conn_close(c, "test over");
	iscsi_conn_reap();
	assert_int_equal(iscsi_g.n_conns, 0);
}

/* Serialise a PDU as an initiator would. Returns its length. */
static size_t pdu_wire(uint8_t *out, const uint8_t *bhs, const uint8_t *data,
		       uint32_t dlen, bool hd, bool dd)
{
	size_t n = 0;
	uint8_t b[ISCSI_BHS_LEN];

	memcpy(b, bhs, ISCSI_BHS_LEN);
	iscsi_bhs_set_dlen(b, dlen);
	memcpy(out, b, ISCSI_BHS_LEN);
	n += ISCSI_BHS_LEN;
	if (hd) {
		put_le32_digest(out + n, iscsi_crc32c(b, ISCSI_BHS_LEN));
		n += 4;
	}
	if (dlen) {
		uint32_t pad = iscsi_pad4(dlen);

		memcpy(out + n, data, dlen);
		memset(out + n + dlen, 0, pad);
		if (dd) {
			put_le32_digest(out + n + dlen + pad,
					iscsi_crc32c(out + n, dlen + pad));
			n += 4;
		}
		n += dlen + pad;
	}
	return n;
}

static void scsi_cmd_bhs(uint8_t *b, uint8_t flags, uint32_t itt, uint32_t edtl,
			 uint32_t cmdsn, uint8_t op, uint32_t lba,
			 uint16_t nblk)
{
	memset(b, 0, ISCSI_BHS_LEN);
	b[0] = ISCSI_OP_SCSI_CMD;
	b[1] = flags | ISCSI_FLAG_CMD_ATTR_MASK % 2; /* SIMPLE */
	put_be32(b + 16, itt);
	put_be32(b + 20, edtl);
	put_be32(b + 24, cmdsn);
	b[32] = op;
	put_be32(b + 34, lba);
	put_be16(b + 39, nblk);
}

static unsigned txq_len(struct iscsi_conn *c)
{
	unsigned n = 0;

	for (struct tx_pdu *p = c->txq; p; p = p->next)
		n++;
	return n;
}

static struct tx_pdu *txq_at(struct iscsi_conn *c, unsigned i)
{
	struct tx_pdu *p = c->txq;

	while (p && i--)
		p = p->next;
	return p;
}

static void feed_all(struct iscsi_conn *c, const uint8_t *w, size_t n)
{
	assert_int_equal(iscsi_conn_rx_feed(c, w, n), (int)n);
}

/* WRITE(10) of 1000 bytes of immediate data (padding), split everywhere */
static void run_write_imm(bool hd, bool dd)
{
	uint8_t bhs[ISCSI_BHS_LEN], data[1000], wire[2048];
	size_t n;

	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13);
	scsi_cmd_bhs(bhs, ISCSI_FLAG_FINAL | ISCSI_FLAG_CMD_WRITE, 7, 1000, 1,
		     0x2a, 0, 2);
	n = pdu_wire(wire, bhs, data, sizeof(data), hd, dd);
	for (size_t cut = 1; cut < n; cut++) {
		struct iscsi_conn *c = ffp_conn(hd, dd);

		feed_all(c, wire, cut);
		assert_int_equal(n_submit, 0);
		feed_all(c, wire + cut, n - cut);
		assert_int_equal(n_submit, 1);
		assert_int_equal(last_write_len, 1000);
		assert_memory_equal(last_write, data, 1000);
		assert_int_equal(txq_len(c), 1); /* SCSI Response */
		assert_int_equal(txq_at(c, 0)->bhs[0], ISCSI_OP_SCSI_RSP);
		assert_int_equal(c->sess->exp_cmdsn, 2);
		conn_done(c);
	}
}

static void test_write_immediate_split(void **state)
{
	run_write_imm(false, false);
	run_write_imm(true, true);
}

static void test_read_data_in(void **state)
{
	struct iscsi_conn *c = ffp_conn(false, false);
	uint8_t bhs[ISCSI_BHS_LEN], wire[64];
	struct tx_pdu *p;

	scsi_cmd_bhs(bhs, ISCSI_FLAG_FINAL | ISCSI_FLAG_CMD_READ, 9, 10000, 1,
		     0x28, 0, 20);
	feed_all(c, wire, pdu_wire(wire, bhs, NULL, 0, false, false));
	assert_int_equal(n_submit, 1);
	/* 10000 bytes in 4096-byte segments: 3 Data-In, status in the last */
	assert_int_equal(txq_len(c), 3);
	for (unsigned i = 0; i < 3; i++) {
		p = txq_at(c, i);
		assert_int_equal(p->bhs[0], ISCSI_OP_DATA_IN);
		assert_int_equal(get_be32(p->bhs + 36), i);
		assert_int_equal(get_be32(p->bhs + 40), i * 4096);
		assert_int_equal(p->dlen, i < 2 ? 4096 : 10000 - 8192);
	}
	p = txq_at(c, 2);
	assert_int_equal(p->bhs[1], ISCSI_FLAG_FINAL | ISCSI_FLAG_DATA_STATUS);
	assert_non_null(p->task_free);
	assert_int_equal(p->data[5], 5);
	conn_done(c);
}

static void test_r2t_flow(void **state)
{
	struct iscsi_conn *c = ffp_conn(false, false);
	uint8_t bhs[ISCSI_BHS_LEN], wire[8192 + 64], data[8192];
	struct tx_pdu *p;
	uint32_t ttt;

	c->params.max_burst_length = 8192;
	memset(data, 0xab, sizeof(data));
	scsi_cmd_bhs(bhs, ISCSI_FLAG_FINAL | ISCSI_FLAG_CMD_WRITE, 3, 16384, 1,
		     0x2a, 0, 32);
	feed_all(c, wire, pdu_wire(wire, bhs, NULL, 0, false, false));
	assert_int_equal(txq_len(c), 2); /* two R2Ts of 8 KiB */
	p = txq_at(c, 1);
	assert_int_equal(p->bhs[0], ISCSI_OP_R2T);
	assert_int_equal(get_be32(p->bhs + 36), 1);    /* R2TSN */
	assert_int_equal(get_be32(p->bhs + 40), 8192); /* offset */
	assert_int_equal(get_be32(p->bhs + 44), 8192); /* length */
	for (unsigned i = 0; i < 2; i++) {
		ttt = get_be32(txq_at(c, i)->bhs + 20);
		memset(bhs, 0, sizeof(bhs));
		bhs[0] = ISCSI_OP_DATA_OUT;
		bhs[1] = ISCSI_FLAG_FINAL;
		put_be32(bhs + 16, 3);
		put_be32(bhs + 20, ttt);
		put_be32(bhs + 40, i * 8192);
		feed_all(c, wire, pdu_wire(wire, bhs, data, 8192, 0, 0));
	}
	assert_int_equal(n_submit, 1);
	assert_int_equal(last_write_len, 16384);
	assert_int_equal(txq_at(c, 2)->bhs[0], ISCSI_OP_SCSI_RSP);
	conn_done(c);
}

static void test_oversized_segment(void **state)
{
	struct iscsi_conn *c = ffp_conn(false, false);
	uint8_t bhs[ISCSI_BHS_LEN] = {ISCSI_OP_NOP_OUT, 0x80};

	iscsi_bhs_set_dlen(bhs, 8193);
	put_be32(bhs + 16, 1);
	iscsi_conn_rx_feed(c, bhs, sizeof(bhs));
	assert_true(c->closing_after_tx);
	assert_int_equal(txq_len(c), 1);
	assert_int_equal(txq_at(c, 0)->bhs[0], ISCSI_OP_REJECT);
	assert_int_equal(txq_at(c, 0)->bhs[2], ISCSI_REJECT_PROTOCOL_ERROR);
	assert_true(txq_at(c, 0)->close_after);
	conn_done(c);
}

static void test_header_digest_error(void **state)
{
	struct iscsi_conn *c = ffp_conn(true, false);
	uint8_t bhs[ISCSI_BHS_LEN] = {ISCSI_OP_NOP_OUT | 0x40, 0x80};
	uint8_t wire[64];
	size_t n = pdu_wire(wire, bhs, NULL, 0, true, false);

	wire[n - 1] ^= 1;
	iscsi_conn_rx_feed(c, wire, n);
	assert_int_equal(c->state, CONN_CLOSED);
	iscsi_conn_reap();
	assert_int_equal(iscsi_g.n_conns, 0);
}

static void test_data_digest_error(void **state)
{
	struct iscsi_conn *c = ffp_conn(false, true);
	uint8_t bhs[ISCSI_BHS_LEN], data[512] = {1}, wire[1024];
	size_t n;

	scsi_cmd_bhs(bhs, ISCSI_FLAG_FINAL | ISCSI_FLAG_CMD_WRITE, 7, 512, 1,
		     0x2a, 0, 1);
	n = pdu_wire(wire, bhs, data, 512, false, true);
	wire[n - 2] ^= 0x40;
	iscsi_conn_rx_feed(c, wire, n);
	assert_int_equal(n_submit, 0);
	assert_int_equal(txq_at(c, 0)->bhs[0], ISCSI_OP_REJECT);
	assert_int_equal(txq_at(c, 0)->bhs[2], ISCSI_REJECT_DATA_DIGEST);
	conn_done(c);
}

static void test_unknown_opcode_keeps_serving(void **state)
{
	struct iscsi_conn *c = ffp_conn(false, false);
	uint8_t bhs[ISCSI_BHS_LEN] = {0x1e, 0x80}, wire[128], data[5] = "abcd";
	size_t n = pdu_wire(wire, bhs, data, 5, false, false);

	/* then a NOP-Out ping with 5 bytes of data: echoed */
	memset(bhs, 0, sizeof(bhs));
	bhs[0] = ISCSI_OP_NOP_OUT | 0x40;
	bhs[1] = 0x80;
	put_be32(bhs + 16, 0x1234);
	put_be32(bhs + 20, 0xffffffff);
	n += pdu_wire(wire + n, bhs, data, 5, false, false);
	for (size_t i = 0; i < n; i++)
		feed_all(c, wire + i, 1);
	assert_int_equal(c->state, CONN_FFP);
	assert_int_equal(txq_len(c), 2);
	assert_int_equal(txq_at(c, 0)->bhs[0], ISCSI_OP_REJECT);
	assert_int_equal(txq_at(c, 0)->bhs[2], ISCSI_REJECT_CMD_NOT_SUPPORTED);
	assert_int_equal(txq_at(c, 1)->bhs[0], ISCSI_OP_NOP_IN);
	assert_int_equal(get_be32(txq_at(c, 1)->bhs + 16), 0x1234);
	assert_int_equal(txq_at(c, 1)->dlen, 5);
	assert_memory_equal(txq_at(c, 1)->data, "abcd", 5);
	conn_done(c);
}

static void test_cmdsn_window(void **state)
{
	struct iscsi_conn *c = ffp_conn(false, false);
	uint8_t bhs[ISCSI_BHS_LEN], wire[64];

	/* CmdSN 2 arrives first: held; CmdSN 1 releases both, in order */
	scsi_cmd_bhs(bhs, ISCSI_FLAG_FINAL, 11, 0, 2, 0x00, 0, 0);
	feed_all(c, wire, pdu_wire(wire, bhs, NULL, 0, false, false));
	assert_int_equal(n_submit, 0);
	scsi_cmd_bhs(bhs, ISCSI_FLAG_FINAL, 10, 0, 1, 0x00, 0, 0);
	feed_all(c, wire, pdu_wire(wire, bhs, NULL, 0, false, false));
	assert_int_equal(n_submit, 2);
	assert_int_equal(get_be32(txq_at(c, 0)->bhs + 16), 10);
	assert_int_equal(get_be32(txq_at(c, 1)->bhs + 16), 11);
	assert_int_equal(c->sess->exp_cmdsn, 3);
	/* outside the window: silently dropped */
	scsi_cmd_bhs(bhs, ISCSI_FLAG_FINAL, 12, 0, 100, 0x00, 0, 0);
	feed_all(c, wire, pdu_wire(wire, bhs, NULL, 0, false, false));
	assert_int_equal(n_submit, 2);
	assert_int_equal(txq_len(c), 2);
	conn_done(c);
}

static void test_immediate_data_limits(void **state)
{
	struct iscsi_conn *c = ffp_conn(false, false);
	uint8_t bhs[ISCSI_BHS_LEN], data[1024] = {0}, wire[2048];

	/* more immediate data than EDTL: protocol error */
	scsi_cmd_bhs(bhs, ISCSI_FLAG_FINAL | ISCSI_FLAG_CMD_WRITE, 7, 512, 1,
		     0x2a, 0, 1);
	iscsi_conn_rx_feed(c, wire,
			   pdu_wire(wire, bhs, data, 1024, false, false));
	assert_int_equal(n_submit, 0);
	assert_true(c->closing_after_tx);
	assert_int_equal(txq_at(c, 0)->bhs[0], ISCSI_OP_REJECT);
	conn_done(c);
}

static void dataout_bhs(uint8_t *b, uint32_t itt, uint32_t ttt, uint32_t datasn,
			uint32_t off, bool final)
{
	memset(b, 0, ISCSI_BHS_LEN);
	b[0] = ISCSI_OP_DATA_OUT;
	b[1] = final ? ISCSI_FLAG_FINAL : 0;
	put_be32(b + 16, itt);
	put_be32(b + 20, ttt);
	put_be32(b + 36, datasn);
	put_be32(b + 40, off);
}

static void test_dataout_bad_datasn(void **state)
{
	struct iscsi_conn *c = ffp_conn(false, false);
	uint8_t bhs[ISCSI_BHS_LEN], wire[4096 + 64], data[4096] = {0};
	struct tx_pdu *p;

	scsi_cmd_bhs(bhs, ISCSI_FLAG_FINAL | ISCSI_FLAG_CMD_WRITE, 4, 8192, 1,
		     0x2a, 0, 16);
	feed_all(c, wire, pdu_wire(wire, bhs, NULL, 0, false, false));
	assert_int_equal(txq_len(c), 1); /* R2T */
	dataout_bhs(bhs, 4, get_be32(txq_at(c, 0)->bhs + 20), 5, 0, false);
	feed_all(c, wire, pdu_wire(wire, bhs, data, 4096, false, false));
	assert_int_equal(n_submit, 0);
	assert_int_equal(c->state, CONN_FFP);
	p = txq_at(c, 1);
	assert_non_null(p);
	assert_int_equal(p->bhs[0], ISCSI_OP_SCSI_RSP);
	assert_int_equal(p->bhs[3], SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(p->data[2 + 2] & 0x0f, 0x0b); /* ABORTED COMMAND */
	assert_int_equal(p->data[2 + 12], 0x4b);       /* DATA PHASE ERROR */
	/* the rest of the sequence is discarded quietly */
	dataout_bhs(bhs, 4, get_be32(txq_at(c, 0)->bhs + 20), 1, 4096, true);
	feed_all(c, wire, pdu_wire(wire, bhs, data, 4096, false, false));
	assert_int_equal(txq_len(c), 2);
	conn_done(c);
}

static void test_abort_task_collecting_data(void **state)
{
	struct iscsi_conn *c = ffp_conn(false, false);
	uint8_t bhs[ISCSI_BHS_LEN], wire[4096 + 64], data[4096] = {0};
	uint32_t ttt;

	scsi_cmd_bhs(bhs, ISCSI_FLAG_FINAL | ISCSI_FLAG_CMD_WRITE, 4, 8192, 1,
		     0x2a, 0, 16);
	feed_all(c, wire, pdu_wire(wire, bhs, NULL, 0, false, false));
	ttt = get_be32(txq_at(c, 0)->bhs + 20);
	memset(bhs, 0, sizeof(bhs));
	bhs[0] = ISCSI_OP_TMF_REQ | ISCSI_OP_IMMEDIATE;
	bhs[1] = 0x80 | SCSI_TMF_ABORT_TASK;
	put_be32(bhs + 16, 50);
	put_be32(bhs + 20, 4); /* RefTaskTag */
	put_be32(bhs + 24, 2);
	put_be32(bhs + 32, 1); /* RefCmdSN */
	feed_all(c, wire, pdu_wire(wire, bhs, NULL, 0, false, false));
	assert_int_equal(txq_len(c), 2);
	assert_int_equal(txq_at(c, 1)->bhs[0], ISCSI_OP_TMF_RSP);
	assert_int_equal(txq_at(c, 1)->bhs[2], SCSI_TMF_COMPLETE);
	assert_null(iscsi_task_find(c, 4));
	dataout_bhs(bhs, 4, ttt, 0, 0, true);
	feed_all(c, wire, pdu_wire(wire, bhs, data, 4096, false, false));
	assert_int_equal(txq_len(c), 2); /* no response for the aborted task */
	assert_int_equal(n_submit, 0);
	conn_done(c);
}

int main(void)
{
	log_init("test_conn", true, LOG_LVL_ERR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_immediate_split),
		cmocka_unit_test(test_read_data_in),
		cmocka_unit_test(test_r2t_flow),
		cmocka_unit_test(test_oversized_segment),
		cmocka_unit_test(test_header_digest_error),
		cmocka_unit_test(test_data_digest_error),
		cmocka_unit_test(test_unknown_opcode_keeps_serving),
		cmocka_unit_test(test_cmdsn_window),
		cmocka_unit_test(test_immediate_data_limits),
		cmocka_unit_test(test_dataout_bad_datasn),
		cmocka_unit_test(test_abort_task_collecting_data),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
