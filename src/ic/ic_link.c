// SPDX-License-Identifier: Apache-2.0
/*
 * Cluster interconnect link: connection life cycle, the TX queue, the
 * receive path (framing, data placement), heartbeats and timeouts, and the
 * public API. The handshake is in ic_link_hs.c, sockets and the
 * connect/accept/reconnect logic in ic_link_net.c. See ic_link.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "duet/ic_link.h"
#include "duet/log.h"
#include "duet/util.h"
#include "ic_link_int.h"

/* ------------------------------------------------------------------ */
/* TX */

static void ic_link_note_error(struct ic_link *l, const char *reason)
{
	snprintf(l->last_error, sizeof(l->last_error), "%s", reason);
}

/* Queue an encoded message; control messages bypass the high water mark. */
int ic_conn_queue(struct ic_conn *c, struct ic_msg *m, const void *data,
		  uint32_t data_len, ic_send_done_fn done, void *arg)
{
	uint32_t max =
		c->state == CS_UP ? c->max_payload : IC_HANDSHAKE_MAX_PAYLOAD;
	uint8_t frame[IC_MAX_FRAME];
	struct txe *e;
	int n;

	n = ic_msg_encode(m, data_len, frame, sizeof(frame));
	if (n < 0)
		return n;
	if (m->hdr.payload_len > max)
		return -EMSGSIZE;
	e = malloc(sizeof(*e) + (size_t)n);
	if (!e)
		return -ENOMEM;
	memcpy(e->hbuf, frame, (size_t)n);
	e->hlen = (uint32_t)n;
	e->data = data;
	e->data_len = data_len;
	e->off = 0;
	e->done = done;
	e->arg = arg;
	e->next = NULL;
	*c->txq_tail = e;
	c->txq_tail = &e->next;
	c->tx_bytes += (size_t)n + data_len;
	c->link->st.tx_msgs++;
	event_active(c->flush_ev, EV_WRITE, 0);
	return 0;
}

void ic_conn_send_ctl(struct ic_conn *c, struct ic_msg *m)
{
	m->hdr.version = c->version;
	if (ic_conn_queue(c, m, NULL, 0, NULL, NULL))
		log_err("ic %s: cannot queue %s to %s", c->link->peer,
			ic_type_name(m->hdr.type), c->peer);
}

void ic_conn_send_error(struct ic_conn *c, uint16_t code,
			const struct ic_hdr *bad, const char *reason)
{
	struct ic_msg m;

	ic_msg_init(&m, IC_ERROR, bad ? bad->tag : 0, bad ? bad->lun : 0);
	m.u.error.code = code;
	m.u.error.bad_type = bad ? bad->type : 0;
	snprintf(m.u.error.reason, sizeof(m.u.error.reason), "%s", reason);
	ic_conn_send_ctl(c, &m);
}

static void txe_complete(struct ic_conn *c, struct txe *e, int err)
{
	c->tx_bytes -= e->hlen + e->data_len;
	if (e->done)
		e->done(e->arg, err);
	free(e);
}

static int tx_build_iov(struct ic_conn *c, struct iovec *iov)
{
	int n = 0;

	for (struct txe *e = c->txq; e && n + 2 <= TX_IOV_MAX; e = e->next) {
		size_t off = e->off;

		if (off < e->hlen) {
			iov[n].iov_base = e->hbuf + off;
			iov[n++].iov_len = e->hlen - off;
			off = 0;
		} else {
			off -= e->hlen;
		}
		if (e->data_len > off) {
			iov[n].iov_base = (uint8_t *)e->data + off;
			iov[n++].iov_len = e->data_len - off;
		}
	}
	return n;
}

/* Account n written bytes; completes fully written entries. */
static void tx_advance(struct ic_conn *c, size_t n)
{
	while (c->txq && c->state != CS_CLOSED) {
		struct txe *e = c->txq;
		size_t left = e->hlen + e->data_len - e->off;

		if (n < left) {
			e->off += n;
			return;
		}
		n -= left;
		c->txq = e->next;
		if (!c->txq)
			c->txq_tail = &c->txq;
		txe_complete(c, e, 0);
	}
}

static void conn_maybe_writable(struct ic_conn *c)
{
	struct ic_link *l = c->link;

	if (l->want_writable && c == l->up && c->tx_bytes < l->tx_high / 2) {
		l->want_writable = false;
		if (l->ops->writable)
			l->ops->writable(l, l->arg);
	}
}

void ic_conn_flush(struct ic_conn *c)
{
	struct iovec iov[TX_IOV_MAX];
	char why[REASON_LEN];
	ssize_t n;
	int cnt;

	while (c->txq && c->state != CS_CLOSED && c->state != CS_CONNECTING) {
		struct msghdr mh = {.msg_iov = iov};

		cnt = tx_build_iov(c, iov);
		mh.msg_iovlen = (size_t)cnt;
		/* sendmsg, not writev: no SIGPIPE when the peer is gone. */
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			event_add(c->wev, NULL);
			return;
		}
		if (n < 0) {
			int err = errno;

			snprintf(why, sizeof(why), "send failed: %s",
				 strerror(err));
			ic_conn_close(c, -err, why);
			return;
		}
		c->link->st.tx_bytes += (uint64_t)n;
		tx_advance(c, (size_t)n);
	}
	if (c->state == CS_CLOSED)
		return;
	event_del(c->wev);
	conn_maybe_writable(c);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	ic_conn_flush(arg);
}

/* ------------------------------------------------------------------ */
/* Connection life cycle */

static void link_reap(evutil_socket_t fd, short what, void *arg)
{
	struct ic_link *l = arg;
	struct ic_conn *c;

	while ((c = l->dead)) {
		l->dead = c->next;
		event_free(c->rev);
		event_free(c->wev);
		event_free(c->flush_ev);
		free(c->rbuf);
		free(c->scratch);
		free(c);
	}
}

static void link_unlist(struct ic_link *l, struct ic_conn *c)
{
	for (struct ic_conn **pp = &l->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			return;
		}
	}
}

static void conn_fail_tx(struct ic_conn *c, int err)
{
	struct txe *e;

	while ((e = c->txq)) {
		c->txq = e->next;
		txe_complete(c, e, err);
	}
	c->txq_tail = &c->txq;
}

/* Close c now; its memory is freed at the end of the loop iteration. */
void ic_conn_close(struct ic_conn *c, int err, const char *reason)
{
	struct ic_link *l = c->link;
	bool was_link = (c == l->up);

	if (c->state == CS_CLOSED)
		return;
	if (c->state != CS_UP && c->state != CS_CONNECTING)
		l->st.handshake_failures++;
	c->state = CS_CLOSED;
	event_del(c->rev);
	event_del(c->wev);
	event_del(c->flush_ev);
	close(c->fd);
	c->fd = -1;
	link_unlist(l, c);
	c->next = l->dead;
	l->dead = c;
	event_active(l->reap_ev, EV_TIMEOUT, 0);
	ic_link_note_error(l, reason);
	if (was_link) {
		l->up = NULL;
		l->st.downs++;
		log_warn("ic %s: link to %s (%s) down: %s", l->local, l->peer,
			 c->peer, reason);
	}
	conn_fail_tx(c, err ? err : -ECONNRESET);
	if (was_link && l->ops->down)
		l->ops->down(l, err ? err : -ECONNRESET, reason, l->arg);
	if (!l->conns)
		ic_link_schedule_retry(l);
}

static void on_read(evutil_socket_t fd, short what, void *arg);
static void on_write(evutil_socket_t fd, short what, void *arg);

struct ic_conn *ic_conn_new(struct ic_link *l, int fd, const char *peer,
			    enum conn_state st)
{
	struct ic_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->rbuf = malloc(RBUF_SIZE);
	c->rev = event_new(l->base, fd, EV_READ | EV_PERSIST, on_read, c);
	c->wev = event_new(l->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
	c->flush_ev = event_new(l->base, -1, 0, on_flush, c);
	if (!c->rbuf || !c->rev || !c->wev || !c->flush_ev) {
		if (c->rev)
			event_free(c->rev);
		if (c->wev)
			event_free(c->wev);
		if (c->flush_ev)
			event_free(c->flush_ev);
		free(c->rbuf);
		free(c);
		return NULL;
	}
	c->link = l;
	c->fd = fd;
	c->state = st;
	c->txq_tail = &c->txq;
	c->version = IC_VERSION_MIN;
	c->t_start = c->last_rx = ic_now_ms();
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->next = l->conns;
	l->conns = c;
	return c;
}

/* ------------------------------------------------------------------ */
/* RX */

static void rx_deliver(struct ic_conn *c)
{
	struct ic_link *l = c->link;
	uint8_t *data = c->hdr.data_len ? c->dst : NULL;

	c->rx = RX_HDR;
	c->dst = NULL;
	if (c->discard)
		return;
	l->st.rx_msgs++;
	switch (c->msg.hdr.type) {
	case IC_HEARTBEAT:
		return;
	case IC_HELLO:
	case IC_HELLO_AUTH:
		ic_conn_send_error(c, IC_ERR_UNEXPECTED, &c->msg.hdr,
				   "handshake message on an established link");
		return;
	case IC_ERROR:
		l->st.errors_rx++;
		log_warn("ic %s: %s answered ERROR %u to %s tag %llu: %s",
			 l->local, l->peer, c->msg.u.error.code,
			 ic_type_name(c->msg.u.error.bad_type),
			 (unsigned long long)c->msg.hdr.tag,
			 c->msg.u.error.reason);
		break;
	}
	if (l->ops->recv)
		l->ops->recv(l, &c->msg, data, c->hdr.data_len, l->arg);
}

/* The link's own buffer for data the upper layer did not place. */
static uint8_t *conn_scratch(struct ic_conn *c, size_t len)
{
	if (c->scratch_cap < len) {
		uint8_t *p = realloc(c->scratch, len);

		if (!p)
			return NULL;
		c->scratch = p;
		c->scratch_cap = len;
	}
	return c->scratch;
}

/* Fields decoded (or refused) on an established link: where does the
 * data go? Returns false if the connection was closed. */
static bool rx_fields_up(struct ic_conn *c, const uint8_t *f, size_t flen)
{
	struct ic_link *l = c->link;
	char why[REASON_LEN];
	int rc;

	if (c->hdr.version != c->version) {
		ic_conn_close(c, -EPROTO,
			      "message with a version not negotiated");
		return false;
	}
	rc = ic_msg_decode(&c->hdr, f, flen, &c->msg);
	if (rc == -EBADMSG) {
		ic_conn_close(c, -EBADMSG, "fields checksum or length error");
		return false;
	}
	if (rc) {
		bool unknown = (rc == -EOPNOTSUPP);

		snprintf(why, sizeof(why), "%s type %u tag %llu: %s",
			 unknown ? "unknown message" : "invalid message",
			 c->hdr.type, (unsigned long long)c->hdr.tag,
			 strerror(-rc));
		log_warn("ic %s: from %s (%s): %s", l->local, l->peer, c->peer,
			 why);
		if (unknown)
			l->st.unknown_types++;
		else
			l->st.bad_msgs++;
		ic_conn_send_error(
			c, unknown ? IC_ERR_UNKNOWN_TYPE : IC_ERR_BAD_MESSAGE,
			&c->hdr, why);
		c->discard = true;
		return true;
	}
	if (c->hdr.data_len) {
		c->big = c->hdr.data_len >= RX_BIG_DATA;
		if (l->ops->get_buf)
			c->dst = l->ops->get_buf(l, &c->msg, l->arg);
		if (c->state == CS_CLOSED)
			return false;
		if (!c->dst)
			c->dst = conn_scratch(c, c->hdr.data_len);
		if (!c->dst) {
			ic_conn_close(c, -ENOMEM, "no memory for message data");
			return false;
		}
	}
	return true;
}

/* The fields of the current message are in f. */
static void rx_fields(struct ic_conn *c, const uint8_t *f, size_t flen)
{
	struct ic_msg m;
	char why[REASON_LEN];
	int rc;

	c->discard = false;
	c->dgot = 0;
	if (c->state == CS_UP) {
		if (!rx_fields_up(c, f, flen))
			return;
		c->rx = c->hdr.data_len ? RX_DATA : RX_HDR;
		if (!c->hdr.data_len)
			rx_deliver(c);
		return;
	}
	/* Handshake: no data, nothing unknown, any error closes. */
	rc = ic_msg_decode(&c->hdr, f, flen, &m);
	if (rc) {
		snprintf(why, sizeof(why),
			 "undecodable %s during the handshake: %s",
			 ic_type_name(c->hdr.type), strerror(-rc));
		ic_conn_refuse(c, IC_ERR_BAD_MESSAGE, why);
		return;
	}
	c->rx = RX_HDR;
	ic_conn_hs_msg(c, &m, f, flen);
}

static bool rx_hdr(struct ic_conn *c)
{
	struct ic_link *l = c->link;
	uint32_t max =
		c->state == CS_UP ? c->max_payload : IC_HANDSHAKE_MAX_PAYLOAD;
	char why[REASON_LEN];
	int rc;

	rc = ic_hdr_decode(c->rbuf + c->rpos, max, &c->hdr);
	if (rc) {
		snprintf(why, sizeof(why), "bad frame header (%s)%s",
			 strerror(-rc),
			 c->state == CS_UP ? "" : " before authentication");
		log_err("ic %s: from %s (%s): %s; closing", l->local, l->peer,
			c->peer, why);
		ic_conn_close(c, rc, why);
		return false;
	}
	c->rpos += IC_HDR_LEN;
	c->rx = RX_FIELDS;
	return true;
}

/* Move staged bytes into the current message's data. */
static void rx_data_staged(struct ic_conn *c)
{
	size_t n = MIN(c->rend - c->rpos, (size_t)(c->hdr.data_len - c->dgot));

	if (!c->discard) {
		memcpy(c->dst + c->dgot, c->rbuf + c->rpos, n);
		c->link->st.rx_data_copied += n;
	}
	c->rpos += n;
	c->dgot += (uint32_t)n;
}

/* Parse everything staged in rbuf. */
static void rx_parse(struct ic_conn *c)
{
	size_t flen;

	while (c->state != CS_CLOSED) {
		size_t avail = c->rend - c->rpos;

		if (c->rx == RX_HDR) {
			if (avail < IC_HDR_LEN || !rx_hdr(c))
				return;
		} else if (c->rx == RX_FIELDS) {
			flen = ic_hdr_fields_len(&c->hdr);
			if (avail < flen)
				return;
			c->rpos += flen;
			rx_fields(c, c->rbuf + c->rpos - flen, flen);
		} else {
			rx_data_staged(c);
			if (c->dgot < c->hdr.data_len)
				return;
			rx_deliver(c);
		}
	}
}

/* How many bytes rbuf may take in one read: all its free space, or, in
 * big-data mode, what the message being parsed still misses (header or
 * fields) plus RX_SMALL_RA. */
static size_t rx_room(const struct ic_conn *c)
{
	size_t room = RBUF_SIZE - c->rend, need = 0, avail = c->rend - c->rpos;

	if (!c->big)
		return room;
	if (c->rx == RX_HDR && avail < IC_HDR_LEN)
		need = IC_HDR_LEN - avail;
	else if (c->rx == RX_FIELDS && avail < ic_hdr_fields_len(&c->hdr))
		need = ic_hdr_fields_len(&c->hdr) - avail;
	else if (c->rx == RX_DATA) /* data being discarded */
		need = c->hdr.data_len - c->dgot;
	return MIN(room, need + RX_SMALL_RA);
}

/* Read from the socket: data straight into its destination when nothing
 * is staged, else into the staging buffer. Returns bytes, 0 on EOF. */
static ssize_t rx_fill(struct ic_conn *c)
{
	struct iovec iov[2];
	ssize_t n;

	if (c->rpos == c->rend)
		c->rpos = c->rend = 0;
	if (c->rx == RX_DATA && !c->discard && c->rpos == c->rend) {
		size_t want = c->hdr.data_len - c->dgot;

		iov[0].iov_base = c->dst + c->dgot;
		iov[0].iov_len = want;
		iov[1].iov_base = c->rbuf;
		iov[1].iov_len = c->big ? RX_SMALL_RA : RBUF_SIZE;
		n = readv(c->fd, iov, 2);
		if (n > 0) {
			size_t k = MIN((size_t)n, want);

			c->dgot += (uint32_t)k;
			c->rend = (size_t)n - k;
			c->link->st.rx_data_direct += k;
		}
		return n;
	}
	if (RBUF_SIZE - c->rend < IC_MAX_FRAME) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rend - c->rpos);
		c->rend -= c->rpos;
		c->rpos = 0;
	}
	n = read(c->fd, c->rbuf + c->rend, rx_room(c));
	if (n > 0)
		c->rend += (size_t)n;
	return n;
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct ic_conn *c = arg;
	char why[REASON_LEN];
	ssize_t n;

	for (int i = 0; i < RX_BUDGET && c->state != CS_CLOSED; i++) {
		n = rx_fill(c);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			int err = n ? errno : ECONNRESET;

			if (n == 0)
				snprintf(why, sizeof(why),
					 "connection closed by the peer");
			else
				snprintf(why, sizeof(why), "receive failed: %s",
					 strerror(err));
			if (c->state != CS_UP)
				log_warn("ic %s: connection with %s (%s): %s "
					 "during the handshake",
					 c->link->local, c->link->peer, c->peer,
					 why);
			ic_conn_close(c, -err, why);
			return;
		}
		c->link->st.rx_bytes += (uint64_t)n;
		c->last_rx = ic_now_ms();
		rx_parse(c);
	}
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	struct ic_conn *c = arg;

	if (c->state == CS_CONNECTING)
		ic_conn_connect_done(c);
	else
		ic_conn_flush(c);
}

/* ------------------------------------------------------------------ */
/* Timers: heartbeat, deadline, handshake and connect timeouts. */

static void conn_tick(struct ic_conn *c, uint64_t now)
{
	struct ic_link *l = c->link;
	char why[REASON_LEN];
	struct ic_msg m;

	if (c->state == CS_CONNECTING) {
		if (now - c->t_start >= l->connect_timeout) {
			snprintf(why, sizeof(why),
				 "connect to %s timed out after %u ms", c->peer,
				 l->connect_timeout);
			log_warn("ic %s: %s", l->local, why);
			ic_conn_close(c, -ETIMEDOUT, why);
		}
	} else if (c->state != CS_UP) {
		if (now - c->t_start >= l->hs_timeout) {
			snprintf(why, sizeof(why),
				 "handshake not finished within %u ms",
				 l->hs_timeout);
			log_err("ic %s: connection with %s (%s): %s", l->local,
				l->peer, c->peer, why);
			ic_conn_close(c, -ETIMEDOUT, why);
		}
	} else if (now - c->last_rx >= l->hb_deadline) {
		snprintf(why, sizeof(why),
			 "heartbeat deadline missed: nothing received for "
			 "%llu ms (deadline %u ms)",
			 (unsigned long long)(now - c->last_rx),
			 l->hb_deadline);
		ic_conn_close(c, -ETIMEDOUT, why);
	} else if (now - c->last_hb_tx >= l->hb_interval) {
		ic_msg_init(&m, IC_HEARTBEAT, 0, 0);
		m.u.hb.seq = ++l->hb_seq;
		m.u.hb.time_ms = now;
		c->last_hb_tx = now;
		ic_conn_send_ctl(c, &m);
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct ic_link *l = arg;
	uint64_t now = ic_now_ms();
	struct ic_conn *c, *next;

	for (c = l->conns; c && c->state != CS_CLOSED; c = next) {
		next = c->next;
		conn_tick(c, now);
	}
}

/* ------------------------------------------------------------------ */
/* Public API */

static int cfg_copy(struct ic_link *l, const struct ic_link_cfg *cfg, char *err,
		    size_t errlen)
{
	if (!cfg->cluster || !cfg->local_node || !cfg->peer_node ||
	    !*cfg->cluster || !*cfg->local_node || !*cfg->peer_node ||
	    strlen(cfg->cluster) >= IC_NAME_MAX ||
	    strlen(cfg->local_node) >= IC_NAME_MAX ||
	    strlen(cfg->peer_node) >= IC_NAME_MAX) {
		snprintf(err, errlen,
			 "interconnect: cluster and node names "
			 "must be 1..%d characters",
			 IC_NAME_MAX - 1);
		return -EINVAL;
	}
	if (!strcmp(cfg->local_node, cfg->peer_node)) {
		snprintf(err, errlen, "interconnect: both nodes are named '%s'",
			 cfg->local_node);
		return -EINVAL;
	}
	if (!cfg->secret || cfg->secret_len < IC_SECRET_MIN) {
		snprintf(err, errlen,
			 "interconnect: the shared secret must be "
			 "at least %d bytes",
			 IC_SECRET_MIN);
		return -EINVAL;
	}
	snprintf(l->cluster, sizeof(l->cluster), "%s", cfg->cluster);
	snprintf(l->local, sizeof(l->local), "%s", cfg->local_node);
	snprintf(l->peer, sizeof(l->peer), "%s", cfg->peer_node);
	l->secret = malloc(cfg->secret_len);
	if (!l->secret)
		return -ENOMEM;
	memcpy(l->secret, cfg->secret, cfg->secret_len);
	l->secret_len = cfg->secret_len;
	memcpy(l->fp, cfg->fingerprint, IC_FP_LEN);
	return 0;
}

static int cfg_addrs(struct ic_link *l, const struct ic_link_cfg *cfg,
		     char *err, size_t errlen)
{
	l->role = cfg->role;
	if (l->role == IC_ROLE_AUTO)
		l->role = strcmp(l->local, l->peer) < 0 ? IC_ROLE_CONNECT
							: IC_ROLE_ACCEPT;
	if (cfg->listen_addr &&
	    ic_parse_addr(cfg->listen_addr, &l->listen_sa, &l->listen_len)) {
		snprintf(err, errlen,
			 "interconnect: bad listen address '%s' "
			 "(want host:port or [v6]:port)",
			 cfg->listen_addr);
		return -EINVAL;
	}
	if (cfg->peer_addr &&
	    ic_parse_addr(cfg->peer_addr, &l->peer_sa, &l->peer_len)) {
		snprintf(err, errlen,
			 "interconnect: bad peer address '%s' "
			 "(want host:port or [v6]:port)",
			 cfg->peer_addr);
		return -EINVAL;
	}
	snprintf(l->listen_str, sizeof(l->listen_str), "%s",
		 cfg->listen_addr ? cfg->listen_addr : "-");
	snprintf(l->peer_str, sizeof(l->peer_str), "%s",
		 cfg->peer_addr ? cfg->peer_addr : "-");
	return 0;
}

static uint32_t dflt(uint32_t v, uint32_t d)
{
	return v ? v : d;
}

static int cfg_numbers(struct ic_link *l, const struct ic_link_cfg *cfg,
		       char *err, size_t errlen)
{
	l->max_payload = dflt(cfg->max_payload, IC_MAX_PAYLOAD_LIMIT);
	l->hb_interval = dflt(cfg->hb_interval_ms, 250);
	l->hb_deadline = dflt(cfg->hb_deadline_ms, 1500);
	l->connect_timeout = dflt(cfg->connect_timeout_ms, 2000);
	l->hs_timeout = dflt(cfg->handshake_timeout_ms, 2000);
	l->backoff_min = dflt(cfg->backoff_min_ms, 100);
	l->backoff_max = MAX(dflt(cfg->backoff_max_ms, 5000), l->backoff_min);
	l->tx_high = dflt(cfg->tx_high_water, 32u << 20);
	l->backoff = l->backoff_min;
	if (l->max_payload < IC_MAX_PAYLOAD_MIN ||
	    l->max_payload > IC_MAX_PAYLOAD_LIMIT) {
		snprintf(err, errlen,
			 "interconnect: max payload must be "
			 "%u..%u bytes",
			 IC_MAX_PAYLOAD_MIN, IC_MAX_PAYLOAD_LIMIT);
		return -EINVAL;
	}
	if (l->hb_deadline <= l->hb_interval) {
		snprintf(err, errlen,
			 "interconnect: heartbeat deadline (%u ms) "
			 "must exceed the interval (%u ms)",
			 l->hb_deadline, l->hb_interval);
		return -EINVAL;
	}
	return 0;
}

static int link_events(struct ic_link *l)
{
	uint32_t tick = MAX(MIN(l->hb_interval, l->hb_deadline / 4), 5u);
	struct timeval tv = ms_to_timeval(tick);

	l->retry_ev = event_new(l->base, -1, 0, ic_link_on_retry, l);
	l->tick_ev = event_new(l->base, -1, EV_PERSIST, on_tick, l);
	l->reap_ev = event_new(l->base, -1, 0, link_reap, l);
	if (!l->retry_ev || !l->tick_ev || !l->reap_ev)
		return -ENOMEM;
	return event_add(l->tick_ev, &tv) ? -ENOMEM : 0;
}

int ic_link_new(struct event_base *base, const struct ic_link_cfg *cfg,
		const struct ic_link_ops *ops, void *arg, struct ic_link **out,
		char *err, size_t errlen)
{
	struct ic_link *l = calloc(1, sizeof(*l));
	int rc;

	if (!l)
		return -ENOMEM;
	l->base = base;
	l->ops = ops;
	l->arg = arg;
	l->lfd = -1;
	rc = cfg_copy(l, cfg, err, errlen);
	if (!rc)
		rc = cfg_addrs(l, cfg, err, errlen);
	if (!rc)
		rc = cfg_numbers(l, cfg, err, errlen);
	if (!rc)
		rc = link_events(l);
	if (!rc)
		rc = ic_link_crypto_warm_up(l, err, errlen);
	if (rc) {
		if (rc == -ENOMEM)
			snprintf(err, errlen, "interconnect: out of memory");
		ic_link_free(l);
		return rc;
	}
	*out = l;
	return 0;
}

int ic_link_start(struct ic_link *l)
{
	if (l->started)
		return -EALREADY;
	l->started = true;
	if (l->role == IC_ROLE_ACCEPT)
		return l->listen_len ? ic_link_listen(l) : 0;
	if (l->peer_len && !l->conns)
		ic_link_connect(l);
	return 0;
}

int ic_link_attach_fd(struct ic_link *l, int fd, const char *peer)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		close(fd);
		return -errno;
	}
	return ic_link_adopt(l, fd, peer ? peer : "attached");
}

int ic_link_send(struct ic_link *l, struct ic_msg *m, const void *data,
		 uint32_t data_len, ic_send_done_fn done, void *arg)
{
	struct ic_conn *c = l->up;
	int rc;

	if (!c)
		return -ENOTCONN;
	if (c->tx_bytes >= l->tx_high) {
		l->want_writable = true;
		return -ENOBUFS;
	}
	switch (m->hdr.type) {
	case IC_HELLO:
	case IC_HELLO_AUTH:
	case IC_HEARTBEAT:
		return -EINVAL;
	}
	m->hdr.version = c->version;
	m->hdr.flags = 0;
	rc = ic_conn_queue(c, m, data, data_len, done, arg);
	return rc == -EMSGSIZE ? -EINVAL : rc;
}

bool ic_link_is_up(const struct ic_link *l)
{
	return l->up != NULL;
}

uint32_t ic_link_max_payload(const struct ic_link *l)
{
	return l->up ? l->up->max_payload : 0;
}

uint16_t ic_link_local_port(const struct ic_link *l)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);

	if (l->lfd < 0 || getsockname(l->lfd, (struct sockaddr *)&sa, &len))
		return 0;
	if (sa.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&sa)->sin_port);
	if (sa.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
	return 0;
}

void ic_link_drop(struct ic_link *l, const char *reason)
{
	while (l->conns)
		ic_conn_close(l->conns, -ECONNABORTED, reason);
}

void ic_link_get_stats(const struct ic_link *l, struct ic_link_stats *st)
{
	*st = l->st;
	st->tx_queued = l->up ? l->up->tx_bytes : 0;
}

const char *ic_link_last_error(const struct ic_link *l)
{
	return l->last_error;
}

static const struct ic_link_ops no_ops;

void ic_link_free(struct ic_link *l)
{
	if (!l)
		return;
	l->started = false; /* no reconnect */
	l->ops = &no_ops;
	while (l->conns) {
		struct ic_conn *c = l->conns;

		l->up = (c == l->up) ? NULL : l->up;
		ic_conn_close(c, -ECANCELED, "link freed");
	}
	if (l->reap_ev)
		link_reap(-1, 0, l);
	if (l->lev)
		event_free(l->lev);
	if (l->lfd >= 0)
		close(l->lfd);
	if (l->retry_ev)
		event_free(l->retry_ev);
	if (l->tick_ev)
		event_free(l->tick_ev);
	if (l->reap_ev)
		event_free(l->reap_ev);
	if (l->secret) {
		OPENSSL_cleanse(l->secret, l->secret_len);
		free(l->secret);
	}
	free(l);
}
