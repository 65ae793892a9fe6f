// SPDX-License-Identifier: Apache-2.0
/*
 * Interconnect link networking: addresses, socket options, the
 * connector (non-blocking connect, backoff) and the acceptor (listener,
 * pending handshakes). See ic_link.h for the roles.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "duet/log.h"
#include "duet/util.h"
#include "ic_link_int.h"

/* ------------------------------------------------------------------ */
/* Addresses */

int ic_parse_addr(const char *s, struct sockaddr_storage *sa, socklen_t *len)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
	char host[64];
	const char *port, *h = s;
	struct addrinfo *res;
	size_t hl;

	if (*s == '[') {
		const char *e = strchr(s, ']');

		if (!e || e[1] != ':')
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(e - h);
		port = e + 2;
	} else {
		port = strrchr(s, ':');
		if (!port || strchr(s, ':') != port)
			return -EINVAL;
		hl = (size_t)(port - s);
		port++;
	}
	if (!hl || hl >= sizeof(host) || !*port)
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (getaddrinfo(host, port, &hints, &res))
		return -EINVAL;
	memcpy(sa, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void sa_str(const struct sockaddr *sa, socklen_t len, char *buf,
		   size_t cap)
{
	char h[64], p[16];

	if (sa->sa_family == AF_UNIX ||
	    getnameinfo(sa, len, h, sizeof(h), p, sizeof(p),
			NI_NUMERICHOST | NI_NUMERICSERV)) {
		snprintf(buf, cap, "local");
		return;
	}
	snprintf(buf, cap, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", h,
		 p);
}

static void fd_setup(int fd, uint32_t deadline_ms)
{
	int one = 1;
	unsigned int uto = deadline_ms;

	/* Both fail harmlessly on a socketpair. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &uto, sizeof(uto));
}

int ic_link_adopt(struct ic_link *l, int fd, const char *peer)
{
	struct ic_conn *c;

	fd_setup(fd, l->hb_deadline);
	c = ic_conn_new(l, fd, peer, CS_HELLO);
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	ic_conn_start_handshake(c);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Connect, accept, retry */

static void connect_failed(struct ic_conn *c, int err)
{
	struct ic_link *l = c->link;
	char why[REASON_LEN];

	snprintf(why, sizeof(why), "connect to %s failed: %s", c->peer,
		 strerror(err));
	if (err != l->last_connect_err)
		log_warn("ic %s: %s (retrying with backoff)", l->local, why);
	else
		log_debug("ic %s: %s", l->local, why);
	l->last_connect_err = err;
	ic_conn_close(c, -err, why);
}

void ic_conn_connect_done(struct ic_conn *c)
{
	struct ic_link *l = c->link;
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		connect_failed(c, err);
		return;
	}
	event_del(c->wev);
	log_info("ic %s: connected to %s (%s), handshaking", l->local, l->peer,
		 c->peer);
	ic_conn_start_handshake(c);
}

/* The connector leaves from its own interconnect address, if it has one,
 * so that the traffic takes the interconnect network. */
static void bind_source(struct ic_link *l, int fd)
{
	struct sockaddr_storage sa = l->listen_sa;

	if (!l->listen_len || sa.ss_family != l->peer_sa.ss_family)
		return;
	if (sa.ss_family == AF_INET)
		((struct sockaddr_in *)&sa)->sin_port = 0;
	else if (sa.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&sa)->sin6_port = 0;
	if (bind(fd, (struct sockaddr *)&sa, l->listen_len) < 0)
		log_warn("ic %s: cannot bind the source address %s: %s",
			 l->local, l->listen_str, strerror(errno));
}

void ic_link_connect(struct ic_link *l)
{
	struct ic_conn *c;
	int fd, rc;

	l->st.connect_attempts++;
	fd = socket(l->peer_sa.ss_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_err("ic %s: socket: %s", l->local, strerror(errno));
		ic_link_schedule_retry(l);
		return;
	}
	fd_setup(fd, l->hb_deadline);
	bind_source(l, fd);
	c = ic_conn_new(l, fd, l->peer_str, CS_CONNECTING);
	if (!c) {
		close(fd);
		ic_link_schedule_retry(l);
		return;
	}
	rc = connect(fd, (struct sockaddr *)&l->peer_sa, l->peer_len);
	if (rc == 0 || errno == EINPROGRESS)
		event_add(c->wev, NULL);
	else
		connect_failed(c, errno);
}

void ic_link_on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct ic_link *l = arg;

	if (!l->conns)
		ic_link_connect(l);
}

void ic_link_schedule_retry(struct ic_link *l)
{
	uint32_t ms = l->backoff;
	struct timeval tv;

	if (l->role != IC_ROLE_CONNECT || !l->started || !l->peer_len)
		return;
	/* +-20% jitter so that two restarting nodes spread out. */
	ms = ms - ms / 5 + (uint32_t)(random() % (ms / 5 * 2 + 1));
	tv = ms_to_timeval(ms);
	event_add(l->retry_ev, &tv);
	l->backoff = MIN(l->backoff * 2, l->backoff_max);
}

/* At the pending limit, the oldest unauthenticated connection makes room
 * for the new one: a peer that opens connections and stays mute cannot
 * lock the partner out for longer than it keeps up the churn. */
static void evict_oldest_pending(struct ic_link *l, const char *newcomer)
{
	struct ic_conn *oldest = NULL;
	unsigned n = 0;

	for (struct ic_conn *c = l->conns; c; c = c->next) {
		if (c->state == CS_UP)
			continue;
		n++;
		oldest = c; /* the list is newest first */
	}
	if (n < IC_LINK_MAX_PENDING || !oldest)
		return;
	log_warn("ic %s: %u handshakes pending; dropping the oldest (%s) for "
		 "the connection from %s",
		 l->local, n, oldest->peer, newcomer);
	ic_conn_close(oldest, -EBUSY, "evicted: too many pending handshakes");
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct ic_link *l = arg;
	struct sockaddr_storage sa;
	char peer[80];

	for (int i = 0; i < 8; i++) {
		socklen_t len = sizeof(sa);
		int fd = accept4(lfd, (struct sockaddr *)&sa, &len,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR)
				log_warn("ic %s: accept: %s", l->local,
					 strerror(errno));
			return;
		}
		sa_str((struct sockaddr *)&sa, len, peer, sizeof(peer));
		evict_oldest_pending(l, peer);
		log_info("ic %s: connection from %s, handshaking", l->local,
			 peer);
		ic_link_adopt(l, fd, peer);
	}
}

int ic_link_listen(struct ic_link *l)
{
	int one = 1, fd;

	fd = socket(l->listen_sa.ss_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&l->listen_sa, l->listen_len) < 0 ||
	    listen(fd, 16) < 0) {
		int err = -errno;

		log_err("ic %s: cannot listen on %s: %s", l->local,
			l->listen_str, strerror(-err));
		close(fd);
		return err;
	}
	l->lfd = fd;
	l->lev = event_new(l->base, fd, EV_READ | EV_PERSIST, on_accept, l);
	if (!l->lev || event_add(l->lev, NULL))
		return -ENOMEM;
	log_info("ic %s: listening for %s on %s", l->local, l->peer,
		 l->listen_str);
	return 0;
}
