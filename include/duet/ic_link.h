/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cluster interconnect link: one authenticated TCP connection to the
 * partner node, on the libevent loop that owns all protocol state.
 *
 * Who connects. With IC_ROLE_AUTO the node whose name sorts lower
 * (strcmp) connects to the partner's interconnect address and the other
 * listens on its own: exactly one side dials, so the two sides never race
 * to build duplicate connections. The connector retries with exponential
 * backoff (backoff_min_ms doubling up to backoff_max_ms, +-20% jitter,
 * reset once a connection authenticates), leaving from its listen_addr
 * when it has one. The acceptor keeps at most IC_LINK_MAX_PENDING
 * unauthenticated connections in handshake at once (a new one evicts the
 * oldest);
 * when a new connection authenticates while an older one is still up (the
 * partner restarted, or the old one is half-open), the new one replaces
 * the old one (down for the old, then up).
 *
 * Handshake (symmetric, both sides run it at once):
 *   1. each side sends HELLO: version range, max payload, a fresh 32-byte
 *      random nonce, the config fingerprint, cluster name, node name;
 *   2. on the peer's HELLO each side checks: a common version exists, the
 *      cluster name is ours, the node name is the configured partner (and
 *      not ours), the fingerprint equals ours, the nonce is not ours; then
 *      sends HELLO_AUTH = HMAC-SHA256(secret, own HELLO || peer HELLO);
 *   3. on the peer's HELLO_AUTH it checks the HMAC (constant time) over
 *      (peer HELLO || own HELLO). Then the link is up.
 * Any failure is logged with the peer address and reason, answered with an
 * ERROR message when useful, and the connection is closed. Before step 3
 * only HELLO, HELLO_AUTH and ERROR are accepted, and payloads are limited
 * to IC_HANDSHAKE_MAX_PAYLOAD, so an unauthenticated peer can make us
 * allocate nothing and reach nothing. The whole handshake must finish
 * within handshake_timeout_ms.
 *
 * Liveness: each side sends HEARTBEAT every hb_interval_ms; a link that
 * received no byte for hb_deadline_ms is declared down (checked on a tick
 * of min(interval, deadline / 4)).
 *
 * Receiving: header first, then the fields, then the bulk data of a
 * SCSI_CMD / SCSI_RSP is read straight into the buffer that ops->get_buf
 * returns (bytes already read ahead are copied once; the rest lands there
 * through readv). Unknown types are answered with ERROR(UNKNOWN_TYPE) and
 * skipped; a message whose fields are invalid with ERROR(BAD_MESSAGE,
 * same tag) and skipped; framing or checksum errors close the connection.
 *
 * Sending: ic_link_send() encodes the header and fields into the queue
 * entry and keeps a reference to the caller's data (never copied) until
 * the send-done callback. Messages queued in one loop iteration go out in
 * writev batches. Past tx_high_water queued bytes, ic_link_send() returns
 * -ENOBUFS and ops->writable fires once the queue has drained below half.
 *
 * Callbacks run on the loop thread. From inside any callback the upper
 * layer may call ic_link_send() and ic_link_drop(), but not ic_link_free().
 */
#ifndef DUET_IC_LINK_H
#define DUET_IC_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "duet/ic_proto.h"

struct event_base;
struct ic_link;

#define IC_LINK_MAX_PENDING 4

enum ic_link_role {
	IC_ROLE_AUTO = 0, /* lower node name connects, the other accepts */
	IC_ROLE_CONNECT,
	IC_ROLE_ACCEPT,
};

struct ic_link_cfg {
	const char *cluster;	/* cluster name */
	const char *local_node; /* our node name */
	const char *peer_node;	/* the partner's node name */
	const uint8_t *secret;	/* shared secret, >= IC_SECRET_MIN bytes */
	size_t secret_len;
	uint8_t fingerprint[IC_FP_LEN]; /* SHA-256 of the pair config */
	/* "host:port" or "[v6]:port". listen_addr is used by the acceptor,
	 * peer_addr by the connector; either may be NULL when connections
	 * are handed in with ic_link_attach_fd(). */
	const char *listen_addr;
	const char *peer_addr;
	enum ic_link_role role;
	uint32_t max_payload;	       /* 0: IC_MAX_PAYLOAD_LIMIT */
	uint32_t hb_interval_ms;       /* 0: 250 */
	uint32_t hb_deadline_ms;       /* 0: 1500 */
	uint32_t connect_timeout_ms;   /* 0: 2000 */
	uint32_t handshake_timeout_ms; /* 0: 2000 */
	uint32_t backoff_min_ms;       /* 0: 100 */
	uint32_t backoff_max_ms;       /* 0: 5000 */
	uint32_t tx_high_water;	       /* 0: 32 MiB */
};

struct ic_link_ops {
	/* The link authenticated; messages may be sent. */
	void (*up)(struct ic_link *l, void *arg);
	/* The authenticated link went down; err is a negative errno and
	 * reason a human-readable cause. Every queued message's send-done
	 * callback has run (with an error) before this. */
	void (*down)(struct ic_link *l, int err, const char *reason, void *arg);
	/* Optional. A SCSI_CMD / SCSI_RSP with m->hdr.data_len bytes of data
	 * is arriving (m is fully decoded and checked): return where the data
	 * must land, at least data_len bytes, left alone by the upper layer
	 * until recv() or down(); or NULL (e.g. unknown tag, or a buffer too
	 * small: the upper layer checks data_len itself) to let the link use
	 * its own buffer, valid only during recv(). */
	uint8_t *(*get_buf)(struct ic_link *l, const struct ic_msg *m,
			    void *arg);
	/* A message (not HELLO / HELLO_AUTH / HEARTBEAT). ERROR messages
	 * from the peer are delivered too: hdr.tag names the request it
	 * refused. */
	void (*recv)(struct ic_link *l, const struct ic_msg *m, uint8_t *data,
		     uint32_t data_len, void *arg);
	/* Optional: the TX queue drained after ic_link_send said -ENOBUFS. */
	void (*writable)(struct ic_link *l, void *arg);
};

/* err: 0 once the message (and its data) is handed to the kernel, or a
 * negative errno if the link dropped first. The data may be reused then. */
typedef void (*ic_send_done_fn)(void *arg, int err);

struct ic_link_stats {
	uint64_t tx_msgs, rx_msgs;
	uint64_t tx_bytes, rx_bytes;
	uint64_t ups, downs;
	uint64_t connect_attempts;
	uint64_t handshake_failures; /* any refusal, including auth */
	uint64_t auth_failures;	     /* HMAC proof refused */
	uint64_t bad_msgs;	     /* answered with ERROR(BAD_MESSAGE) */
	uint64_t unknown_types;	     /* answered with ERROR(UNKNOWN_TYPE) */
	uint64_t errors_rx;	     /* ERROR messages received */
	uint64_t rx_data_direct;     /* data bytes read straight into place */
	uint64_t rx_data_copied; /* data bytes copied once from read-ahead */
	size_t tx_queued;	 /* bytes in the TX queue now */
};

/* Create a link. Nothing happens until ic_link_start() or
 * ic_link_attach_fd(). On error returns -errno and a message in err. */
int ic_link_new(struct event_base *base, const struct ic_link_cfg *cfg,
		const struct ic_link_ops *ops, void *arg, struct ic_link **out,
		char *err, size_t errlen);
/* Listen (acceptor) or start connecting (connector). */
int ic_link_start(struct ic_link *l);
/* Adopt a connected stream socket (socketpair in tests, or a connection
 * accepted elsewhere) and run the handshake on it. peer: for the logs. */
int ic_link_attach_fd(struct ic_link *l, int fd, const char *peer);
/* Queue a message. m->hdr type/tag/lun and the fields are the caller's;
 * version and lengths are set here. data (data_len bytes, SCSI_CMD /
 * SCSI_RSP only) stays referenced until done(arg, err) runs; done may be
 * NULL. Returns 0, -ENOTCONN (link not up), -ENOBUFS (queue above the high
 * water mark), -EINVAL (message failed to encode, e.g. data_len above the
 * negotiated maximum). done never runs when this returns an error. */
int ic_link_send(struct ic_link *l, struct ic_msg *m, const void *data,
		 uint32_t data_len, ic_send_done_fn done, void *arg);
bool ic_link_is_up(const struct ic_link *l);
/* Negotiated largest payload (0 when down). */
uint32_t ic_link_max_payload(const struct ic_link *l);
/* The listening port (after ic_link_start of an acceptor), else 0. */
uint16_t ic_link_local_port(const struct ic_link *l);
/* Close the current connection(s) with reason (the connector reconnects). */
void ic_link_drop(struct ic_link *l, const char *reason);
void ic_link_get_stats(const struct ic_link *l, struct ic_link_stats *st);
/* The last failure seen (handshake refusal, connect error, down reason). */
const char *ic_link_last_error(const struct ic_link *l);
/* Close everything and free. No callback runs (send-done excepted, with
 * -ECANCELED). Not from inside a callback of this link. */
void ic_link_free(struct ic_link *l);

#endif
