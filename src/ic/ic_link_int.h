/* SPDX-License-Identifier: Apache-2.0 */
/* Private to src/ic/: the link's state, shared by ic_link.c (queues,
 * receive path, timers, API), ic_link_hs.c (handshake) and ic_link_net.c
 * (addresses, connect, accept, reconnect). */
#ifndef DUET_IC_LINK_INT_H
#define DUET_IC_LINK_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <event2/event.h>

#include "duet/ic_link.h"

#define RBUF_SIZE (64u * 1024)
/* Once messages carry RX_BIG_DATA bytes of data or more, read ahead only
 * RX_SMALL_RA bytes past what is needed (the next header and fields), so
 * that the next message's data lands in place instead of being copied
 * out of rbuf; smaller messages keep the whole of rbuf (many per read). */
#define RX_BIG_DATA (16u * 1024)
#define RX_SMALL_RA 1024u
#define RX_BUDGET 16  /* reads per readable callback, for fairness */
#define TX_IOV_MAX 64 /* iovecs per writev */
#define HELLO_MAX 512 /* encoded HELLO fields never exceed this */
#define REASON_LEN 192

enum conn_state { CS_CONNECTING, CS_HELLO, CS_AUTH, CS_UP, CS_CLOSED };
enum rx_state { RX_HDR, RX_FIELDS, RX_DATA };

struct txe {
	struct txe *next;
	const uint8_t *data;
	uint32_t data_len;
	uint32_t hlen;
	size_t off; /* bytes of hbuf + data already written */
	ic_send_done_fn done;
	void *arg;
	uint8_t hbuf[];
};

struct ic_conn {
	struct ic_link *link;
	struct ic_conn *next;
	int fd;
	enum conn_state state;
	bool was_up;
	char peer[80];
	struct event *rev, *wev, *flush_ev;
	uint64_t t_start, last_rx, last_hb_tx;
	/* RX */
	uint8_t *rbuf;
	size_t rpos, rend;
	enum rx_state rx;
	struct ic_hdr hdr;
	struct ic_msg msg;
	bool discard; /* skip this message's data */
	bool big;     /* the last message with data had >= RX_BIG_DATA */
	uint8_t *dst; /* where the data goes */
	uint32_t dgot;
	uint8_t *scratch; /* link-owned data buffer when get_buf gives none */
	size_t scratch_cap;
	/* handshake */
	uint8_t version;
	uint32_t max_payload;
	uint8_t nonce[IC_NONCE_LEN];
	uint8_t my_hello[HELLO_MAX], peer_hello[HELLO_MAX];
	size_t my_hello_len, peer_hello_len;
	/* TX */
	struct txe *txq, **txq_tail;
	size_t tx_bytes;
};

struct ic_link {
	struct event_base *base;
	char cluster[IC_NAME_MAX], local[IC_NAME_MAX], peer[IC_NAME_MAX];
	uint8_t *secret;
	size_t secret_len;
	uint8_t fp[IC_FP_LEN];
	enum ic_link_role role;
	struct sockaddr_storage listen_sa, peer_sa;
	socklen_t listen_len, peer_len;
	char listen_str[80], peer_str[80];
	uint32_t max_payload, hb_interval, hb_deadline, connect_timeout,
		hs_timeout, backoff_min, backoff_max, tx_high;
	const struct ic_link_ops *ops;
	void *arg;
	int lfd;
	struct event *lev, *retry_ev, *tick_ev, *reap_ev;
	struct ic_conn *conns; /* live connections */
	struct ic_conn *up;    /* the authenticated one */
	struct ic_conn *dead;  /* closed, freed from reap_ev */
	uint32_t backoff;
	uint64_t hb_seq;
	bool want_writable, started;
	int last_connect_err;
	struct ic_link_stats st;
	char last_error[REASON_LEN];
};

static inline uint64_t ic_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ic_link.c */
struct ic_conn *ic_conn_new(struct ic_link *l, int fd, const char *peer,
			    enum conn_state st);
void ic_conn_close(struct ic_conn *c, int err, const char *reason);
int ic_conn_queue(struct ic_conn *c, struct ic_msg *m, const void *data,
		  uint32_t data_len, ic_send_done_fn done, void *arg);
void ic_conn_send_ctl(struct ic_conn *c, struct ic_msg *m);
void ic_conn_send_error(struct ic_conn *c, uint16_t code,
			const struct ic_hdr *bad, const char *reason);
void ic_conn_flush(struct ic_conn *c);

/* ic_link_hs.c */
void ic_conn_start_handshake(struct ic_conn *c);
void ic_conn_hs_msg(struct ic_conn *c, const struct ic_msg *m,
		    const uint8_t *fields, size_t flen);
void ic_conn_refuse(struct ic_conn *c, uint16_t code, const char *why);
int ic_link_crypto_warm_up(struct ic_link *l, char *err, size_t errlen);

/* ic_link_net.c */
int ic_parse_addr(const char *s, struct sockaddr_storage *sa, socklen_t *len);
int ic_link_adopt(struct ic_link *l, int fd, const char *peer);
void ic_link_connect(struct ic_link *l);
void ic_conn_connect_done(struct ic_conn *c);
void ic_link_on_retry(evutil_socket_t fd, short what, void *arg);
void ic_link_schedule_retry(struct ic_link *l);
int ic_link_listen(struct ic_link *l);

#endif
