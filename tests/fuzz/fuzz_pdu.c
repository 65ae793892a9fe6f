// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the connection's PDU receive state machine (BHS/AHS
 * decoding, digests, SCSI Command / Data-Out / NOP / TMF / Text / Logout
 * handling) fed arbitrary bytes in arbitrary chunks, in login phase or in
 * full feature phase with every digest combination.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/iscsi/iscsi_int.h"
#include "duet/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cfg_iscsi cfg = {
	.queue_depth = 4,
	.max_recv_data_segment_length = 8192,
	.max_burst_length = 16384,
	.first_burst_length = 8192,
	.max_outstanding_r2t = 2,
	.login_timeout = 15,
};

static void fz_submit(struct scsi_dispatcher *d, struct scsi_task *t)
{
	t->status = (t->cdb[0] & 1) ? SCSI_STATUS_CHECK_CONDITION
				    : SCSI_STATUS_GOOD;
	t->sense_len = (t->cdb[0] & 1) ? 18 : 0;
	t->xfer_len = get_be16(t->cdb + 7) * 512u;
	if (t->dir == SCSI_DIR_READ && t->buf) {
		memset(t->buf, 0x5a, t->buf_cap);
		t->data_len = t->buf_cap;
	}
	t->done(t);
}

static void fz_tmf(struct scsi_dispatcher *d, struct scsi_tmf *tmf)
{
	for (unsigned i = 0; i < tmf->n_tasks; i++) {
		tmf->tasks[i]->aborted = true;
		tmf->tasks[i]->done(tmf->tasks[i]);
	}
	tmf->result = SCSI_TMF_COMPLETE;
	tmf->done(tmf);
}

static const struct scsi_dispatch_ops fz_ops = {.submit = fz_submit,
						.tmf = fz_tmf};
static struct scsi_dispatcher fz_disp = {.ops = &fz_ops};
static struct cfg_target tcfg = {.name = "iqn.2026-11.fuzz:t", .tpgt = 1};
static struct iscsi_target target = {.cfg = &tcfg, .disp = &fz_disp};

static struct iscsi_conn *fz_conn(uint8_t mode)
{
	struct iscsi_conn *c;
	struct iscsi_session *s;

	iscsi_g.cfg = &cfg;
	c = iscsi_conn_new(-1, "127.0.0.1", 1, "127.0.0.1", 3260);
	if (!c || !(mode & 1))
		return c; /* login phase */
	s = calloc(1, sizeof(*s));
	s->type = (mode & 8) ? ISCSI_SESSION_DISCOVERY : ISCSI_SESSION_NORMAL;
	s->target = (mode & 8) ? NULL : &target;
	s->tsih = 1;
	s->queue_depth = 4;
	s->exp_cmdsn = 0;
	s->max_cmdsn = 3;
	s->conn = c;
	s->refs = 1;
	c->sess = s;
	c->state = CONN_FFP;
	c->params = (struct iscsi_params){
		.max_recv_dsl = 8192,
		.max_xmit_dsl = 1024,
		.max_burst_length = 16384,
		.first_burst_length = 8192,
		.max_outstanding_r2t = 2,
		.header_digest = mode & 2,
		.data_digest = mode & 4,
		.immediate_data = true,
		.initial_r2t = mode & 16,
		.data_pdu_in_order = true,
		.data_sequence_in_order = true,
	};
	return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;
	struct iscsi_conn *c;
	size_t off = 2;

	if (!init) {
		log_init("fuzz_pdu", true, LOG_LVL_ERR);
		init = true;
	}
	if (size < 2)
		return 0;
	c = fz_conn(data[0]);
	if (!c)
		return 0;
	while (off < size && c->state != CONN_CLOSED) {
		size_t chunk = (size_t)data[1] + 1;

		if (chunk > size - off)
			chunk = size - off;
		iscsi_conn_rx_feed(c, data + off, chunk);
		off += chunk;
	}
	iscsi_conn_close(c, "fuzz input done");
	iscsi_conn_reap();
	return 0;
}
