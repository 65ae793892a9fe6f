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

static void accept_one(const char *lname, struct iscsi_port *port, int fd)
{
	struct sockaddr_storage peer, local;
	socklen_t pl = sizeof(peer), ll = sizeof(local);
	char ph[64], lh[64], pname[80];
	uint16_t pp = 0, lp = 0;
	struct iscsi_conn *c;
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
			 lname, pname, ISCSI_MAX_CONNS);
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = iscsi_conn_new(fd, ph, pp, lh, lp);
	if (!c) {
		log_err("%s: out of memory accepting %s", lname, pname);
		close(fd);
		return;
	}
	if (port && iscsi_conn_set_port(c, port) < 0) {
		log_err("%s: out of memory accepting %s", lname, pname);
		iscsi_conn_close(c, "out of memory");
		return;
	}
	log_debug("%s: connection from %s", lname, pname);
}

void iscsi_portal_accept(int lfd, const char *lname, struct iscsi_port *port)
{
	for (int i = 0; i < 64; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("%s: accept: %s", lname,
					 strerror(errno));
			return;
		}
		accept_one(lname, port, fd);
	}
}

static void accept_cb(int lfd, short what, void *arg)
{
	struct portal *pt = arg;

	iscsi_portal_accept(lfd, pt->name, NULL);
}

/* Bind even if the address is not (yet) on an interface: a takeover
 * port listens before its address is added. */
static int set_freebind(int fd, int family)
{
	int one = 1;

	if (!setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one)))
		return 0;
#ifdef IPV6_FREEBIND
	if (family == AF_INET6 &&
	    !setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof(one)))
		return 0;
#endif
	if (family == AF_INET6 &&
	    !setsockopt(fd, IPPROTO_IPV6, IPV6_TRANSPARENT, &one, sizeof(one)))
		return 0;
	if (!setsockopt(fd, IPPROTO_IP, IP_TRANSPARENT, &one, sizeof(one)))
		return 0;
	return -errno;
}

static int listen_fd(const struct addrinfo *ai, const char *name, bool freebind,
		     char *err, size_t errlen)
{
	int one = 1, fd, rc;

	fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (freebind && set_freebind(fd, ai->ai_family) < 0)
		log_warn("%s: cannot set IP_FREEBIND/IP_TRANSPARENT: %s; "
			 "binding needs the address on an interface",
			 name, strerror(errno));
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

int iscsi_portal_bind(const struct cfg_portal *p, bool freebind, char *name,
		      size_t namelen, char *err, size_t errlen)
{
	struct addrinfo hints = {0}, *ai = NULL;
	char port[8];
	int rc, fd;

	snprintf(name, namelen, strchr(p->host, ':') ? "[%s]:%u" : "%s:%u",
		 p->host, p->port);
	snprintf(port, sizeof(port), "%u", p->port);
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(p->host, port, &hints, &ai);
	if (rc) {
		snprintf(err, errlen, "%s: not a numeric address: %s", name,
			 gai_strerror(rc));
		return -EINVAL;
	}
	fd = listen_fd(ai, name, freebind, err, errlen);
	freeaddrinfo(ai);
	return fd;
}

int iscsi_portal_listen(const struct cfg_portal *p, char *err, size_t errlen)
{
	struct portal *pt;
	int fd;

	if (n_portals >= MAX_PORTALS) {
		snprintf(err, errlen, "too many portals (max %d)", MAX_PORTALS);
		return -ENOSPC;
	}
	pt = &portals[n_portals];
	fd = iscsi_portal_bind(p, false, pt->name, sizeof(pt->name), err,
			       errlen);
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
