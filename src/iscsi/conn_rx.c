// SPDX-License-Identifier: Apache-2.0
/*
 * Connection receive side: the PDU state machine
 *   BHS -> AHS -> header digest -> data -> padding -> data digest
 * fed from a per-connection receive buffer. Data segments of SCSI Command
 * immediate data and Data-Out land directly in the task buffer: when the
 * receive buffer is empty the socket is read with readv() straight into
 * the destination (the rest into the receive buffer), otherwise the bytes
 * are copied once from the receive buffer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/event.h>

#include "duet/log.h"
#include "iscsi_int.h"

#define RX_DIRECT_MIN 1024u /* read straight into a task buffer from here */
#define RX_READS_PER_CB 16

void iscsi_conn_rx_reset(struct iscsi_conn *c)
{
	c->rx = RX_BHS;
	c->need = ISCSI_BHS_LEN;
	c->got = 0;
	c->dst = NULL;
	c->rx_task = NULL;
	c->rx_reject = 0;
}

static uint8_t *rx_ptr(struct iscsi_conn *c)
{
	switch (c->rx) {
	case RX_BHS:
		return c->bhs;
	case RX_AHS:
		return c->ahs;
	case RX_HDIG:
		return c->hdig;
	case RX_DATA:
		return c->dst;
	case RX_PAD:
		return c->pad;
	case RX_DDIG:
		return c->ddig;
	}
	return NULL;
}

static void rx_enter(struct iscsi_conn *c, enum rx_state st, uint32_t need)
{
	c->rx = st;
	c->need = need;
	c->got = 0;
}

static bool conn_ffp(const struct iscsi_conn *c)
{
	return c->state == CONN_FFP;
}

static void rx_pdu_done(struct iscsi_conn *c)
{
	uint8_t op = iscsi_bhs_opcode(c->bhs);
	uint8_t reject = c->rx_reject;
	const uint8_t *data = c->dst;

	/* Ready for the next header; bhs, dst and rx_task stay valid for
	 * the handlers below (they are only replaced by the next header). */
	rx_enter(c, RX_BHS, ISCSI_BHS_LEN);
	c->rx_reject = 0;
	if (c->state == CONN_LOGIN) {
		iscsi_conn_login_rx(c, data);
		return;
	}
	if (reject) {
		log_warn("%s: rejecting PDU with opcode 0x%02x (reason 0x%02x)",
			 iscsi_conn_name(c), op, reject);
		iscsi_send_reject(c, reject, c->bhs, false);
		return;
	}
	switch (op) {
	case ISCSI_OP_SCSI_CMD:
		iscsi_cmd_rx_done(c);
		break;
	case ISCSI_OP_DATA_OUT:
		iscsi_dataout_rx_done(c);
		break;
	default:
		iscsi_ffp_rx_pdu(c, data);
		break;
	}
}

static void rx_data_end(struct iscsi_conn *c)
{
	if (c->dlen && conn_ffp(c) && c->params.data_digest) {
		rx_enter(c, RX_DDIG, 4);
		return;
	}
	rx_pdu_done(c);
}

static int rx_scratch(struct iscsi_conn *c, uint32_t len)
{
	if (len <= c->scratch_cap)
		return 0;
	free(c->scratch);
	c->scratch_cap = 0;
	c->scratch = malloc(len);
	if (!c->scratch)
		return -ENOMEM;
	c->scratch_cap = len;
	return 0;
}

static uint32_t rx_max_dsl(const struct iscsi_conn *c)
{
	return conn_ffp(c) ? c->params.max_recv_dsl : ISCSI_LOGIN_DSL;
}

/* The header (and AHS) is complete and checked: decide where data goes. */
static void rx_header_done(struct iscsi_conn *c)
{
	uint8_t op = iscsi_bhs_opcode(c->bhs);
	int rc = 0;

	c->dst = NULL;
	if (c->dlen > rx_max_dsl(c) && c->state == CONN_LOGIN) {
		/* no Reject before FFP: the login fails by closing */
		log_warn("%s: Login Request with DataSegmentLength %u > %u; "
			 "closing",
			 iscsi_conn_name(c), c->dlen, ISCSI_LOGIN_DSL);
		iscsi_conn_close(c, "oversized Login Request");
		return;
	}
	if (c->dlen > rx_max_dsl(c)) {
		char what[96];

		snprintf(what, sizeof(what),
			 "DataSegmentLength %u > MaxRecvDataSegmentLength %u",
			 c->dlen, rx_max_dsl(c));
		iscsi_conn_proto_error(c, ISCSI_REJECT_PROTOCOL_ERROR, what);
		return;
	}
	if (c->state == CONN_LOGIN) {
		if (op != ISCSI_OP_LOGIN_REQ) {
			log_warn("%s: opcode 0x%02x before login completed; "
				 "closing",
				 iscsi_conn_name(c), op);
			iscsi_conn_close(c,
					 "PDU other than Login in login phase");
			return;
		}
	} else if (!c->rx_reject) {
		c->rx_reject = (uint8_t)iscsi_bhs_check(c->bhs);
		if (op == ISCSI_OP_LOGIN_REQ)
			c->rx_reject = ISCSI_REJECT_PROTOCOL_ERROR;
	}
	if (c->rx_reject) {
		c->dst = NULL; /* skip the data, then Reject */
	} else if (op == ISCSI_OP_SCSI_CMD) {
		rc = iscsi_cmd_rx_header(c);
	} else if (op == ISCSI_OP_DATA_OUT) {
		rc = iscsi_dataout_rx_header(c);
	} else if (c->dlen) {
		rc = rx_scratch(c, c->dlen);
		c->dst = c->scratch;
	}
	if (rc < 0 || c->state == CONN_CLOSED || c->closing_after_tx) {
		if (rc == -ENOMEM)
			iscsi_conn_close(c, "out of memory");
		return;
	}
	if (c->dlen) {
		rx_enter(c, RX_DATA, c->dlen);
		return;
	}
	rx_data_end(c);
}

static void rx_bhs_done(struct iscsi_conn *c)
{
	c->ahs_len = iscsi_bhs_ahs_len(c->bhs);
	c->dlen = iscsi_bhs_dlen(c->bhs);
	c->t_last_rx = time(NULL);
	c->ping_outstanding = false;
	if (c->ahs_len) {
		rx_enter(c, RX_AHS, c->ahs_len);
		return;
	}
	if (conn_ffp(c) && c->params.header_digest) {
		rx_enter(c, RX_HDIG, 4);
		return;
	}
	rx_header_done(c);
}

static void rx_hdig_done(struct iscsi_conn *c)
{
	uint32_t crc = iscsi_crc32c(c->bhs, ISCSI_BHS_LEN);

	crc = iscsi_crc32c_continue(crc, c->ahs, c->ahs_len);
	if (crc != get_le32_digest(c->hdig)) {
		log_warn("%s: header digest error (got 0x%08x, computed "
			 "0x%08x); closing the connection (ERL 0)",
			 iscsi_conn_name(c), get_le32_digest(c->hdig), crc);
		iscsi_conn_close(c, "header digest error");
		return;
	}
	rx_header_done(c);
}

static void rx_ddig_done(struct iscsi_conn *c)
{
	static const uint8_t zero[4];
	uint32_t crc;

	if (!c->dst) { /* discarded data: nothing to check it against */
		rx_pdu_done(c);
		return;
	}
	crc = iscsi_crc32c(c->dst, c->dlen);
	crc = iscsi_crc32c_continue(crc, zero, iscsi_pad4(c->dlen));
	if (crc != get_le32_digest(c->ddig)) {
		/* ERL 0: no recovery of the lost data; Reject then close. */
		iscsi_conn_proto_error(c, ISCSI_REJECT_DATA_DIGEST,
				       "data digest error");
		return;
	}
	rx_pdu_done(c);
}

static void rx_state_done(struct iscsi_conn *c)
{
	switch (c->rx) {
	case RX_BHS:
		rx_bhs_done(c);
		break;
	case RX_AHS:
		if (conn_ffp(c) && c->params.header_digest)
			rx_enter(c, RX_HDIG, 4);
		else
			rx_header_done(c);
		break;
	case RX_HDIG:
		rx_hdig_done(c);
		break;
	case RX_DATA:
		if (iscsi_pad4(c->dlen))
			rx_enter(c, RX_PAD, iscsi_pad4(c->dlen));
		else
			rx_data_end(c);
		break;
	case RX_PAD:
		rx_data_end(c);
		break;
	case RX_DDIG:
		rx_ddig_done(c);
		break;
	}
}

static bool rx_active(const struct iscsi_conn *c)
{
	return c->state != CONN_CLOSED && c->state != CONN_LOGIN_WAIT &&
	       !c->rx_stopped && !c->closing_after_tx;
}

/* Push bytes through the state machine. Returns the number consumed
 * (less than n when the connection stopped reading). */
int iscsi_conn_rx_feed(struct iscsi_conn *c, const uint8_t *p, size_t n)
{
	size_t used = 0;

	if (n)
		c->rx_seen = true;
	while (used < n && rx_active(c)) {
		uint32_t take = c->need - c->got;
		uint8_t *d = rx_ptr(c);

		if (take > n - used)
			take = (uint32_t)(n - used);
		if (d)
			memcpy(d + c->got, p + used, take);
		c->got += take;
		used += take;
		if (c->got == c->need)
			rx_state_done(c);
	}
	return (int)used;
}

static void rx_read_error(struct iscsi_conn *c, ssize_t r)
{
	char why[96];

	if (r == 0)
		snprintf(why, sizeof(why), "closed by the initiator");
	else
		snprintf(why, sizeof(why), "read failed: %s", strerror(errno));
	iscsi_conn_close(c, why);
}

/* One read: straight into the data destination when it is large. */
static ssize_t rx_read(struct iscsi_conn *c)
{
	struct iovec iov[2];
	int n = 0;
	uint32_t direct = 0;
	ssize_t r;

	if (c->rx == RX_DATA && c->dst && c->need - c->got >= RX_DIRECT_MIN) {
		direct = c->need - c->got;
		iov[n].iov_base = c->dst + c->got;
		iov[n++].iov_len = direct;
	}
	iov[n].iov_base = c->rbuf;
	iov[n++].iov_len = ISCSI_RX_BUF;
	do
		r = readv(c->fd, iov, n);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return r;
	c->rb_off = 0;
	c->rb_len = 0;
	if (direct) {
		uint32_t d = (size_t)r < direct ? (uint32_t)r : direct;

		c->got += d;
		c->rb_len = (uint32_t)((size_t)r - d);
		if (c->got == c->need)
			rx_state_done(c);
	} else {
		c->rb_len = (uint32_t)r;
	}
	return r;
}

void iscsi_conn_rx_drain(struct iscsi_conn *c)
{
	if (c->rb_off < c->rb_len && rx_active(c))
		c->rb_off += (uint32_t)iscsi_conn_rx_feed(
			c, c->rbuf + c->rb_off, c->rb_len - c->rb_off);
}

void iscsi_conn_read_cb(int fd, short what, void *arg)
{
	struct iscsi_conn *c = arg;

	for (int i = 0; i < RX_READS_PER_CB && rx_active(c); i++) {
		ssize_t r;

		iscsi_conn_rx_drain(c);
		if (!rx_active(c) || c->rb_off < c->rb_len)
			break;
		r = rx_read(c);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (r <= 0) {
			rx_read_error(c, r);
			break;
		}
		iscsi_conn_rx_drain(c);
	}
	iscsi_conn_maybe_free(c);
}
