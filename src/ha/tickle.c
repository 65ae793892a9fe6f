// SPDX-License-Identifier: Apache-2.0
/* Tickle ACKs after a takeover; see include/duet/ha_tickle.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "duet/ha_addr.h"
#include "duet/ha_tickle.h"
#include "duet/log.h"
#include "duet/util.h"

#define TCP_HDR_LEN 20
#define IP4_HDR_LEN 20
#define TCP_FLAG_ACK 0x10

static const unsigned tickle_delays[] = HA_TICKLE_DELAYS_MS;

/* The TCP header at p with a zero checksum. */
static void put_tcp(uint8_t *p, const struct ha_tickle_conn *c, uint32_t seq,
		    uint32_t ack)
{
	memset(p, 0, TCP_HDR_LEN);
	put_be16(p, c->local_port);
	put_be16(p + 2, c->peer_port);
	put_be32(p + 4, seq);
	put_be32(p + 8, ack);
	p[12] = (TCP_HDR_LEN / 4) << 4;
	p[13] = TCP_FLAG_ACK;
	put_be16(p + 14, HA_TICKLE_WINDOW);
}

int ha_tickle_build_v4(uint8_t *buf, size_t len, const struct ha_tickle_conn *c,
		       uint32_t seq, uint32_t ack, uint16_t ip_id)
{
	uint8_t *ip = buf, *tcp = buf + IP4_HDR_LEN, pseudo[12];
	uint32_t sum;

	if (c->family != AF_INET)
		return -EINVAL;
	if (len < HA_TICKLE_V4_LEN)
		return -ENOSPC;
	memset(ip, 0, IP4_HDR_LEN);
	ip[0] = 0x45;
	put_be16(ip + 2, HA_TICKLE_V4_LEN);
	put_be16(ip + 4, ip_id);
	put_be16(ip + 6, 0x4000); /* DF */
	ip[8] = 64;
	ip[9] = IPPROTO_TCP;
	memcpy(ip + 12, &c->local.v4, 4);
	memcpy(ip + 16, &c->peer.v4, 4);
	put_be16(ip + 10, ha_csum_fold(ha_csum_add(0, ip, IP4_HDR_LEN)));
	put_tcp(tcp, c, seq, ack);
	memcpy(pseudo, &c->local.v4, 4);
	memcpy(pseudo + 4, &c->peer.v4, 4);
	pseudo[8] = 0;
	pseudo[9] = IPPROTO_TCP;
	put_be16(pseudo + 10, TCP_HDR_LEN);
	sum = ha_csum_add(0, pseudo, sizeof(pseudo));
	sum = ha_csum_add(sum, tcp, TCP_HDR_LEN);
	put_be16(tcp + 16, ha_csum_fold(sum));
	return HA_TICKLE_V4_LEN;
}

int ha_tickle_build_v6(uint8_t *buf, size_t len, const struct ha_tickle_conn *c,
		       uint32_t seq, uint32_t ack)
{
	uint32_t sum;

	if (c->family != AF_INET6)
		return -EINVAL;
	if (len < HA_TICKLE_V6_LEN)
		return -ENOSPC;
	put_tcp(buf, c, seq, ack);
	sum = ha_csum_pseudo6(c->local.v6.s6_addr, c->peer.v6.s6_addr,
			      TCP_HDR_LEN, IPPROTO_TCP);
	sum = ha_csum_add(sum, buf, TCP_HDR_LEN);
	put_be16(buf + 16, ha_csum_fold(sum));
	return HA_TICKLE_V6_LEN;
}

/* ---- the sender ---- */

struct ha_tickler {
	char name[32];
	struct event *timer;
	struct ha_tickle_conn *conn;
	unsigned n, round;
	int fd4, fd6;
	uint16_t ip_id;
	unsigned failed; /* sends that failed in this start */
	int first_err;
	uint64_t sent;
};

static void tickle_cb(evutil_socket_t fd, short what, void *arg);

int ha_tickler_new(struct event_base *base, const char *name,
		   struct ha_tickler **out)
{
	struct ha_tickler *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	snprintf(t->name, sizeof(t->name), "%s", name ? name : "?");
	t->fd4 = t->fd6 = -1;
	t->conn = calloc(HA_TICKLE_MAX, sizeof(*t->conn));
	t->timer = evtimer_new(base, tickle_cb, t);
	if (!t->conn || !t->timer) {
		ha_tickler_free(t);
		return -ENOMEM;
	}
	*out = t;
	return 0;
}

static void close_fds(struct ha_tickler *t)
{
	if (t->fd4 >= 0)
		close(t->fd4);
	if (t->fd6 >= 0)
		close(t->fd6);
	t->fd4 = t->fd6 = -1;
}

void ha_tickler_stop(struct ha_tickler *t)
{
	if (!t)
		return;
	if (t->timer)
		evtimer_del(t->timer);
	close_fds(t);
	t->n = 0;
}

void ha_tickler_free(struct ha_tickler *t)
{
	if (!t)
		return;
	ha_tickler_stop(t);
	if (t->timer)
		event_free(t->timer);
	free(t->conn);
	free(t);
}

uint64_t ha_tickler_sent(const struct ha_tickler *t)
{
	return t ? t->sent : 0;
}

/* IPv4: IPPROTO_RAW (header included, receives nothing). IPv6: an
 * IPPROTO_TCP raw socket would get a copy of every TCP segment the host
 * receives: a filter that accepts nothing keeps it send-only. */
static int open_raw(int family)
{
	static struct sock_filter none[] = {BPF_STMT(BPF_RET | BPF_K, 0)};
	struct sock_fprog prog = {.len = 1, .filter = none};
	int fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
			family == AF_INET ? IPPROTO_RAW : IPPROTO_TCP);
	int one = 1, rc = 0, e;

	if (fd < 0)
		return -errno;
	if (family == AF_INET)
		rc = setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof(one));
	else
		rc = setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog,
				sizeof(prog));
	if (rc == 0)
		return fd;
	e = errno;
	close(fd);
	return -e;
}

static int send_v4(struct ha_tickler *t, const struct ha_tickle_conn *c)
{
	uint8_t pkt[HA_TICKLE_V4_LEN];
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr = c->peer.v4};

	ha_tickle_build_v4(pkt, sizeof(pkt), c, 0, 0, t->ip_id++);
	if (sendto(t->fd4, pkt, sizeof(pkt), 0, (struct sockaddr *)&to,
		   sizeof(to)) < 0)
		return -errno;
	return 0;
}

/* The source address goes in IPV6_PKTINFO: it is the claimed address. */
static int send_v6(struct ha_tickler *t, const struct ha_tickle_conn *c)
{
	uint8_t pkt[HA_TICKLE_V6_LEN];
	struct sockaddr_in6 to = {.sin6_family = AF_INET6,
				  .sin6_addr = c->peer.v6};
	union {
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
		struct cmsghdr align;
	} cb;
	struct iovec iov = {.iov_base = pkt, .iov_len = sizeof(pkt)};
	struct msghdr mh = {.msg_name = &to,
			    .msg_namelen = sizeof(to),
			    .msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = cb.buf,
			    .msg_controllen = sizeof(cb.buf)};
	struct cmsghdr *cm;
	struct in6_pktinfo pi = {.ipi6_addr = c->local.v6};

	ha_tickle_build_v6(pkt, sizeof(pkt), c, 0, 0);
	memset(&cb, 0, sizeof(cb));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = IPPROTO_IPV6;
	cm->cmsg_type = IPV6_PKTINFO;
	cm->cmsg_len = CMSG_LEN(sizeof(pi));
	memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
	if (sendmsg(t->fd6, &mh, 0) < 0)
		return -errno;
	return 0;
}

static int send_one(struct ha_tickler *t, const struct ha_tickle_conn *c)
{
	int *fd = c->family == AF_INET ? &t->fd4 : &t->fd6;

	if (*fd < 0)
		*fd = open_raw(c->family);
	if (*fd < 0)
		return *fd;
	return c->family == AF_INET ? send_v4(t, c) : send_v6(t, c);
}

static void conn_local(const struct ha_tickle_conn *c, char *buf, size_t n)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(c->family, &c->local, a, sizeof(a));
	snprintf(buf, n, c->family == AF_INET6 ? "[%s]:%u" : "%s:%u", a,
		 c->local_port);
}

static bool same_local(const struct ha_tickle_conn *a,
		       const struct ha_tickle_conn *b)
{
	return a->family == b->family && a->local_port == b->local_port &&
	       !memcmp(&a->local, &b->local,
		       a->family == AF_INET ? sizeof(a->local.v4)
					    : sizeof(a->local.v6));
}

/* One line per portal address:port, after the first round. */
static void log_first_round(const struct ha_tickler *t)
{
	char where[INET6_ADDRSTRLEN + 10];
	unsigned i, j, k;

	for (i = 0; i < t->n; i++) {
		for (j = 0; j < i && !same_local(&t->conn[j], &t->conn[i]); j++)
			;
		if (j < i)
			continue;
		for (k = 0, j = i; j < t->n; j++)
			k += same_local(&t->conn[j], &t->conn[i]);
		conn_local(&t->conn[i], where, sizeof(where));
		log_info("takeover %s: tickled %u client connection(s) on %s "
			 "(%zu rounds)",
			 t->name, k, where, ARRAY_SIZE(tickle_delays));
	}
}

static void arm(struct ha_tickler *t)
{
	unsigned prev = t->round ? tickle_delays[t->round - 1] : 0, ms;
	struct timeval tv;

	if (t->round >= ARRAY_SIZE(tickle_delays)) {
		if (t->failed)
			log_warn("takeover %s: %u tickle(s) not sent: %s",
				 t->name, t->failed, strerror(-t->first_err));
		close_fds(t);
		t->n = 0;
		return;
	}
	ms = tickle_delays[t->round] - prev;
	tv = ms_to_timeval(ms);
	evtimer_add(t->timer, &tv);
}

static void tickle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ha_tickler *t = arg;
	unsigned i;
	int rc;

	(void)fd;
	(void)what;
	for (i = 0; i < t->n; i++) {
		rc = send_one(t, &t->conn[i]);
		if (rc == 0) {
			t->sent++;
		} else if (!t->failed++) {
			t->first_err = rc;
		}
	}
	if (t->round == 0)
		log_first_round(t);
	t->round++;
	arm(t);
}

int ha_tickler_start(struct ha_tickler *t, const struct ha_tickle_conn *c,
		     unsigned n)
{
	ha_tickler_stop(t);
	if (n > HA_TICKLE_MAX) {
		log_warn("takeover %s: %u client connections reported, only "
			 "the first %u tickled",
			 t->name, n, HA_TICKLE_MAX);
		n = HA_TICKLE_MAX;
	}
	for (unsigned i = 0; i < n; i++)
		if (c[i].family != AF_INET && c[i].family != AF_INET6)
			return -EINVAL;
	if (!n)
		return 0;
	memcpy(t->conn, c, n * sizeof(*c));
	t->n = n;
	t->round = 0;
	t->failed = 0;
	t->first_err = 0;
	arm(t);
	return 0;
}
