// SPDX-License-Identifier: Apache-2.0
/*
 * Interconnect link handshake: HELLO both ways, checks, HMAC proofs both
 * ways. See ic_link.h for the protocol.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "duet/log.h"
#include "duet/util.h"
#include "ic_link_int.h"

/* Send our HELLO and start reading. */
void ic_conn_start_handshake(struct ic_conn *c)
{
	struct ic_link *l = c->link;
	struct ic_msg m;
	struct ic_hello *h = &m.u.hello;
	uint8_t frame[IC_HDR_LEN + HELLO_MAX];
	int n;

	c->state = CS_HELLO;
	c->t_start = c->last_rx = ic_now_ms();
	ic_msg_init(&m, IC_HELLO, 0, 0);
	m.hdr.version = IC_VERSION_MIN;
	h->min_version = IC_VERSION_MIN;
	h->max_version = IC_VERSION_MAX;
	h->max_payload = l->max_payload;
	if (RAND_bytes(c->nonce, sizeof(c->nonce)) != 1) {
		ic_conn_close(c, -EIO,
			      "no random bytes for the handshake nonce");
		return;
	}
	memcpy(h->nonce, c->nonce, sizeof(h->nonce));
	memcpy(h->fingerprint, l->fp, sizeof(h->fingerprint));
	memcpy(h->cluster, l->cluster, sizeof(h->cluster));
	memcpy(h->node, l->local, sizeof(h->node));
	n = ic_msg_encode(&m, 0, frame, sizeof(frame));
	if (n < 0) {
		ic_conn_close(c, n, "cannot encode HELLO");
		return;
	}
	c->my_hello_len = (size_t)n - IC_HDR_LEN;
	memcpy(c->my_hello, frame + IC_HDR_LEN, c->my_hello_len);
	ic_conn_queue(c, &m, NULL, 0, NULL, NULL);
	event_add(c->rev, NULL);
}

/* ------------------------------------------------------------------ */
/* Handshake */

void ic_conn_refuse(struct ic_conn *c, uint16_t code, const char *why)
{
	struct ic_link *l = c->link;
	char reason[REASON_LEN];

	snprintf(reason, sizeof(reason), "handshake refused: %s", why);
	log_err("ic %s: connection with %s (%s): %s", l->local, l->peer,
		c->peer, reason);
	ic_conn_send_error(c, code, NULL, why);
	ic_conn_flush(c);
	ic_conn_close(c, code == IC_ERR_AUTH ? -EACCES : -EPROTO, reason);
}

static bool hello_check(struct ic_conn *c, const struct ic_hello *h, char *why,
			size_t cap)
{
	struct ic_link *l = c->link;
	unsigned lo = MAX(IC_VERSION_MIN, h->min_version);
	unsigned hi = MIN(IC_VERSION_MAX, h->max_version);

	if (lo > hi)
		snprintf(why, cap,
			 "no common protocol version (peer %u-%u, ours %u-%u)",
			 h->min_version, h->max_version, IC_VERSION_MIN,
			 IC_VERSION_MAX);
	else if (strcmp(h->cluster, l->cluster))
		snprintf(why, cap,
			 "cluster name mismatch (peer '%s', ours '%s')",
			 h->cluster, l->cluster);
	else if (strcmp(h->node, l->peer))
		snprintf(why, cap, "peer calls itself '%s', expected '%s'",
			 h->node, l->peer);
	else if (memcmp(h->fingerprint, l->fp, IC_FP_LEN))
		snprintf(why, cap,
			 "config fingerprint mismatch (peer "
			 "%02x%02x%02x%02x..., "
			 "ours %02x%02x%02x%02x...): the two nodes loaded "
			 "different pair configurations",
			 h->fingerprint[0], h->fingerprint[1],
			 h->fingerprint[2], h->fingerprint[3], l->fp[0],
			 l->fp[1], l->fp[2], l->fp[3]);
	else if (!memcmp(h->nonce, c->nonce, IC_NONCE_LEN))
		snprintf(why, cap, "peer replayed our own nonce");
	else
		return true;
	return false;
}

static void hs_on_hello(struct ic_conn *c, const struct ic_msg *m,
			const uint8_t *fields, size_t flen)
{
	struct ic_link *l = c->link;
	struct ic_msg a;
	char why[REASON_LEN];

	if (m->hdr.version != IC_VERSION_MIN || flen > sizeof(c->peer_hello)) {
		ic_conn_refuse(c, IC_ERR_HANDSHAKE,
			       "HELLO with a wrong version");
		return;
	}
	if (!hello_check(c, &m->u.hello, why, sizeof(why))) {
		ic_conn_refuse(c, IC_ERR_HANDSHAKE, why);
		return;
	}
	c->version = (uint8_t)MIN(IC_VERSION_MAX, m->u.hello.max_version);
	c->max_payload = MIN(l->max_payload, m->u.hello.max_payload);
	memcpy(c->peer_hello, fields, flen);
	c->peer_hello_len = flen;
	ic_msg_init(&a, IC_HELLO_AUTH, 0, 0);
	if (ic_auth_mac(l->secret, l->secret_len, c->my_hello, c->my_hello_len,
			c->peer_hello, c->peer_hello_len, a.u.auth.mac)) {
		ic_conn_close(c, -EIO, "HMAC computation failed");
		return;
	}
	ic_conn_send_ctl(c, &a);
	c->state = CS_AUTH;
}

static void conn_went_up(struct ic_conn *c)
{
	struct ic_link *l = c->link;
	struct ic_conn *old = l->up;

	if (old)
		ic_conn_close(old, -ECONNRESET,
			      "replaced by a new authenticated connection");
	if (c->state == CS_CLOSED)
		return; /* the down callback dropped everything */
	c->state = CS_UP;
	c->was_up = true;
	c->last_hb_tx = ic_now_ms();
	l->up = c;
	l->backoff = l->backoff_min;
	l->last_connect_err = 0;
	l->st.ups++;
	log_info("ic %s: link to %s (%s) up: protocol v%u, max payload %u",
		 l->local, l->peer, c->peer, c->version, c->max_payload);
	if (l->ops->up)
		l->ops->up(l, l->arg);
}

static void hs_on_auth(struct ic_conn *c, const struct ic_msg *m)
{
	struct ic_link *l = c->link;

	if (ic_auth_verify(l->secret, l->secret_len, c->peer_hello,
			   c->peer_hello_len, c->my_hello, c->my_hello_len,
			   m->u.auth.mac)) {
		l->st.auth_failures++;
		ic_conn_refuse(
			c, IC_ERR_AUTH,
			"authentication failed: HMAC proof does not match "
			"(different interconnect secret?)");
		return;
	}
	conn_went_up(c);
}

/* A message while the handshake runs: HELLO, then HELLO_AUTH. */
void ic_conn_hs_msg(struct ic_conn *c, const struct ic_msg *m,
		    const uint8_t *fields, size_t flen)
{
	struct ic_link *l = c->link;
	char why[REASON_LEN];

	if (m->hdr.type == IC_ERROR) {
		l->st.errors_rx++;
		snprintf(why, sizeof(why), "peer refused the handshake: %s",
			 m->u.error.reason);
		log_err("ic %s: connection with %s (%s): %s", l->local, l->peer,
			c->peer, why);
		ic_conn_close(c, -EPROTO, why);
	} else if (c->state == CS_HELLO && m->hdr.type == IC_HELLO) {
		hs_on_hello(c, m, fields, flen);
	} else if (c->state == CS_AUTH && m->hdr.type == IC_HELLO_AUTH) {
		hs_on_auth(c, m);
	} else {
		snprintf(why, sizeof(why), "unexpected %s during the handshake",
			 ic_type_name(m->hdr.type));
		ic_conn_refuse(c, IC_ERR_UNEXPECTED, why);
	}
}

/* OpenSSL loads its providers and seeds its DRBG on first use, which can
 * take a while on a loaded host: do it now rather than inside the first
 * handshake's deadline, and fail early if the crypto is unusable. */
int ic_link_crypto_warm_up(struct ic_link *l, char *err, size_t errlen)
{
	uint8_t nonce[IC_NONCE_LEN], mac[IC_MAC_LEN];

	if (RAND_bytes(nonce, sizeof(nonce)) != 1 ||
	    ic_auth_mac(l->secret, l->secret_len, nonce, sizeof(nonce), nonce,
			sizeof(nonce), mac)) {
		snprintf(err, errlen,
			 "interconnect: OpenSSL HMAC-SHA256 or "
			 "random numbers unavailable");
		return -EIO;
	}
	return 0;
}
