// SPDX-License-Identifier: Apache-2.0
/*
 * Portals: listening sockets (IPv4 and IPv6; "::" is IPv6-only so that a
 * "0.0.0.0" portal on the same port can coexist) and accepting
 * connections, with a limit on the number of connections.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "duet/log.h"
#include "iscsi_int.h"

#define LISTEN_BACKLOG 128
#define MAX_PORTALS 64

struct portal {
	int fd;
	struct event *ev;
	char name[80];
};

static struct portal portals[MAX_PORTALS];
static unsigned n_portals;

static void addr_to_str(const struct sockaddr_storage *ss, char *host,
			size_t hl, uint16_t *port)
{
	if (getnameinfo((const struct sockaddr *)ss, sizeof(*ss), host,
			(socklen_t)hl, NULL, 0, NI_NUMERICHOST))
		snprintf(host, hl, "?");
	if (ss->ss_family == AF_INET6)
		*port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	else
		*port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

static void accept_one(struct portal *pt, int fd)
{
	struct sockaddr_storage peer, local;
	socklen_t pl = sizeof(peer), ll = sizeof(local);
	char ph[64], lh[64], pname[80];
	uint16_t pp = 0, lp = 0;
	int one = 1;

	memset(&peer, 0, sizeof(peer));
	memset(&local, 0, sizeof(local));
	getpeername(fd, (struct sockaddr *)&peer, &pl);
	getsockname(fd, (struct sockaddr *)&local, &ll);
	addr_to_str(&peer, ph, sizeof(ph), &pp);
	addr_to_str(&local, lh, sizeof(lh), &lp);
	snprintf(pname, sizeof(pname), strchr(ph, ':') ? "[%s]:%u" : "%s:%u",
		 ph, pp);
	if (iscsi_g.shutting_down) {
		close(fd);
		return;
	}
	if (iscsi_g.n_conns >= ISCSI_MAX_CONNS) {
		log_warn("%s: connection from %s refused: limit of %u "
			 "connections reached",
			 pt->name, pname, ISCSI_MAX_CONNS);
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (!iscsi_conn_new(fd, ph, pp, lh, lp)) {
		log_err("%s: out of memory accepting %s", pt->name, pname);
		close(fd);
		return;
	}
	log_debug("%s: connection from %s", pt->name, pname);
}

static void accept_cb(int lfd, short what, void *arg)
{
	struct portal *pt = arg;

	for (int i = 0; i < 64; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("%s: accept: %s", pt->name,
					 strerror(errno));
			return;
		}
		accept_one(pt, fd);
	}
}

static int listen_fd(const struct addrinfo *ai, const char *name, char *err,
		     size_t errlen)
{
	int one = 1, fd, rc;

	fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
	    listen(fd, LISTEN_BACKLOG) < 0)
		goto fail;
	return fd;
fail:
	rc = -errno;
	if (rc == -EADDRINUSE)
		snprintf(err, errlen,
			 "%s: Address already in use (is another iSCSI target "
			 "running?)",
			 name);
	else if (rc == -EADDRNOTAVAIL)
		snprintf(err, errlen,
			 "%s: Cannot assign requested address (is it "
			 "configured on an interface?)",
			 name);
	else
		snprintf(err, errlen, "%s: %s", name, strerror(-rc));
	if (fd >= 0)
		close(fd);
	return rc;
}

int iscsi_portal_listen(const struct cfg_portal *p, char *err, size_t errlen)
{
	struct addrinfo hints = {0}, *ai = NULL;
	char port[8];
	struct portal *pt;
	int rc, fd;

	if (n_portals >= MAX_PORTALS) {
		snprintf(err, errlen, "too many portals (max %d)", MAX_PORTALS);
		return -ENOSPC;
	}
	pt = &portals[n_portals];
	snprintf(pt->name, sizeof(pt->name),
		 strchr(p->host, ':') ? "[%s]:%u" : "%s:%u", p->host, p->port);
	snprintf(port, sizeof(port), "%u", p->port);
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(p->host, port, &hints, &ai);
	if (rc) {
		snprintf(err, errlen, "%s: not a numeric address: %s", pt->name,
			 gai_strerror(rc));
		return -EINVAL;
	}
	fd = listen_fd(ai, pt->name, err, errlen);
	freeaddrinfo(ai);
	if (fd < 0)
		return fd;
	pt->fd = fd;
	pt->ev = event_new(iscsi_g.base, fd, EV_READ | EV_PERSIST, accept_cb,
			   pt);
	if (!pt->ev || event_add(pt->ev, NULL) < 0) {
		close(fd);
		snprintf(err, errlen, "%s: cannot register the listener",
			 pt->name);
		return -ENOMEM;
	}
	n_portals++;
	log_debug("listening on %s", pt->name);
	return 0;
}

void iscsi_portal_close_all(void)
{
	for (unsigned i = 0; i < n_portals; i++) {
		event_free(portals[i].ev);
		close(portals[i].fd);
	}
	n_portals = 0;
}
