// SPDX-License-Identifier: Apache-2.0
/*
 * Connection transmit side: a queue of PDUs written with writev, many per
 * system call. Data-In payload is never copied: the iovec points into the
 * task buffer, and the task is freed once its last PDU has been written.
 * Queueing only marks the connection; the write happens once per loop
 * iteration (event_active), so completions that arrive together leave in
 * one writev.
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

#define TX_IOV_MAX 256
#define TX_POOL_MAX 4096

struct tx_pdu *iscsi_tx_alloc(void)
{
	struct tx_pdu *p = iscsi_g.tx_free;

	if (p) {
		iscsi_g.tx_free = p->next;
		iscsi_g.n_tx_free--;
	} else {
		p = malloc(sizeof(*p));
		if (!p)
			return NULL;
	}
	memset(p, 0, offsetof(struct tx_pdu, inl));
	return p;
}

void iscsi_tx_release(struct tx_pdu *p)
{
	free(p->owned);
	if (p->task_free)
		iscsi_task_free(p->task_free);
	if (iscsi_g.n_tx_free >= TX_POOL_MAX) {
		free(p);
		return;
	}
	p->next = iscsi_g.tx_free;
	iscsi_g.tx_free = p;
	iscsi_g.n_tx_free++;
}

void iscsi_tx_pool_free(void)
{
	while (iscsi_g.tx_free) {
		struct tx_pdu *p = iscsi_g.tx_free;

		iscsi_g.tx_free = p->next;
		free(p);
	}
	iscsi_g.n_tx_free = 0;
}

static void tx_kick(struct iscsi_conn *c)
{
	if (c->write_pending || c->state == CONN_CLOSED || !c->ev_write)
		return;
	c->write_pending = true;
	event_active(c->ev_write, EV_WRITE, 1);
}

void iscsi_tx_queue(struct iscsi_conn *c, struct tx_pdu *p)
{
	if (c->state == CONN_CLOSED) {
		iscsi_tx_release(p);
		return;
	}
	p->hd = c->params.header_digest;
	p->dd = c->params.data_digest && p->dlen > 0;
	p->next = NULL;
	*c->txq_tail = p;
	c->txq_tail = &p->next;
	tx_kick(c);
}

void iscsi_tx_queue_status(struct iscsi_conn *c, struct tx_pdu *p)
{
	put_be32(p->bhs + ISCSI_BHS_STATSN, c->statsn++);
	iscsi_tx_queue(c, p);
}

static uint32_t tx_wire_len(const struct tx_pdu *p)
{
	return ISCSI_BHS_LEN + (p->hd ? 4 : 0) + p->dlen + iscsi_pad4(p->dlen) +
	       (p->dd ? 4 : 0);
}

static void tx_prepare(struct iscsi_conn *c, struct tx_pdu *p)
{
	static const uint8_t zero[4];
	uint8_t op = iscsi_bhs_opcode(p->bhs);

	if (iscsi_op_has_sn(op) && c->sess) {
		put_be32(p->bhs + ISCSI_BHS_EXPCMDSN, c->sess->exp_cmdsn);
		put_be32(p->bhs + ISCSI_BHS_MAXCMDSN,
			 iscsi_session_max_cmdsn(c->sess));
	}
	if (p->hd)
		put_le32_digest(p->hdig, iscsi_crc32c(p->bhs, ISCSI_BHS_LEN));
	if (p->dd) {
		uint32_t crc = iscsi_crc32c(p->data, p->dlen);

		crc = iscsi_crc32c_continue(crc, zero, iscsi_pad4(p->dlen));
		put_le32_digest(p->ddig, crc);
	}
	p->prepared = true;
}

static int iov_add(struct iovec *iov, int n, const void *b, size_t len,
		   uint32_t *skip)
{
	if (len == 0)
		return n;
	if (*skip >= len) {
		*skip -= (uint32_t)len;
		return n;
	}
	iov[n].iov_base = (uint8_t *)b + *skip;
	iov[n].iov_len = len - *skip;
	*skip = 0;
	return n + 1;
}

static int tx_build_iov(struct iscsi_conn *c, struct iovec *iov)
{
	static const uint8_t zero[4];
	uint32_t skip = c->tx_off;
	int n = 0;

	for (struct tx_pdu *p = c->txq; p && n <= TX_IOV_MAX - 5; p = p->next) {
		if (!p->prepared)
			tx_prepare(c, p);
		n = iov_add(iov, n, p->bhs, ISCSI_BHS_LEN, &skip);
		if (p->hd)
			n = iov_add(iov, n, p->hdig, 4, &skip);
		n = iov_add(iov, n, p->data, p->dlen, &skip);
		n = iov_add(iov, n, zero, iscsi_pad4(p->dlen), &skip);
		if (p->dd)
			n = iov_add(iov, n, p->ddig, 4, &skip);
	}
	return n;
}

/* Drop written PDUs from the head. Returns true to close afterwards. */
static bool tx_consume(struct iscsi_conn *c, size_t done)
{
	bool close = false;

	done += c->tx_off;
	while (c->txq) {
		struct tx_pdu *p = c->txq;
		uint32_t len = tx_wire_len(p);

		if (done < len)
			break;
		done -= len;
		c->txq = p->next;
		if (!c->txq)
			c->txq_tail = &c->txq;
		close |= p->close_after;
		iscsi_tx_release(p);
	}
	c->tx_off = (uint32_t)done;
	return close;
}

/* Returns 0 when the queue is empty, -EAGAIN when the socket is full,
 * -EPIPE (or another -errno) when the connection must go. */
int iscsi_conn_flush(struct iscsi_conn *c)
{
	struct iovec iov[TX_IOV_MAX];

	while (c->txq) {
		int n = tx_build_iov(c, iov);
		ssize_t w = writev(c->fd, iov, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -EAGAIN;
			return -errno;
		}
		if (tx_consume(c, (size_t)w))
			return -ESHUTDOWN;
	}
	return 0;
}

void iscsi_conn_write_cb(int fd, short what, void *arg)
{
	struct iscsi_conn *c = arg;
	int rc;

	c->write_pending = false;
	if (c->state == CONN_CLOSED)
		return;
	rc = iscsi_conn_flush(c);
	if (rc == -EAGAIN) {
		/* wait for room; the persistent write event fires */
		c->write_pending = true;
		event_add(c->ev_write, NULL);
		return;
	}
	event_del(c->ev_write);
	if (rc == -ESHUTDOWN) {
		iscsi_conn_close(c, c->logout_pending
					    ? "logout"
					    : "closed after final PDU");
		return;
	}
	if (rc < 0) {
		char why[96];

		snprintf(why, sizeof(why), "write failed: %s", strerror(-rc));
		iscsi_conn_close(c, why);
		return;
	}
	if (c->closing_after_tx && !c->txq)
		iscsi_conn_close(c, "closed after protocol error");
}

void iscsi_tx_drop_all(struct iscsi_conn *c)
{
	while (c->txq) {
		struct tx_pdu *p = c->txq;

		c->txq = p->next;
		iscsi_tx_release(p);
	}
	c->txq_tail = &c->txq;
	c->tx_off = 0;
}

void iscsi_send_reject(struct iscsi_conn *c, uint8_t reason, const uint8_t *bhs,
		       bool close_after)
{
	struct tx_pdu *p = iscsi_tx_alloc();

	if (!p) {
		iscsi_conn_close(c, "out of memory");
		return;
	}
	iscsi_build_reject(p->bhs, reason, 0);
	memcpy(p->inl, bhs, ISCSI_BHS_LEN);
	p->data = p->inl;
	p->dlen = ISCSI_BHS_LEN;
	p->close_after = close_after;
	iscsi_tx_queue_status(c, p);
}

void iscsi_conn_proto_error(struct iscsi_conn *c, uint8_t reason,
			    const char *what)
{
	log_warn("%s: protocol error: %s (opcode 0x%02x, ITT 0x%08x); "
		 "sending Reject 0x%02x and closing the connection",
		 iscsi_conn_name(c), what, iscsi_bhs_opcode(c->bhs),
		 get_be32(c->bhs + ISCSI_BHS_ITT), reason);
	c->rx_stopped = true;
	if (c->ev_read)
		event_del(c->ev_read);
	c->closing_after_tx = true;
	c->t_close = time(NULL);
	iscsi_send_reject(c, reason, c->bhs, true);
}
