// SPDX-License-Identifier: Apache-2.0
/*
 * Tickles after a takeover (takeover form, docs/failover.md). The node
 * whose client path goes down sends its partner the list of its client
 * connections on the home port (CONN_LIST, right before PATH_DOWN: it is
 * alive and the interconnect is up). The partner keeps the latest complete
 * list and, once it has claimed the addresses, tickles every listed
 * connection whose local address is one it just claimed (ha_tickle.h):
 * idle initiators are reset and reconnect at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "duet/ha_tickle.h"
#include "duet/log.h"
#include "node_int.h"

/* An endpoint in CONN_LIST form (IPv4-mapped IPv6 as IPv4); false if it
 * is neither. */
static bool ent_addr(const struct sockaddr_storage *ss, uint8_t *family,
		     uint8_t addr[16], uint16_t *port)
{
	const struct sockaddr_in *s4 = (const void *)ss;
	const struct sockaddr_in6 *s6 = (const void *)ss;

	memset(addr, 0, 16);
	if (ss->ss_family == AF_INET) {
		*family = 4;
		memcpy(addr, &s4->sin_addr, 4);
		*port = ntohs(s4->sin_port);
	} else if (ss->ss_family == AF_INET6 &&
		   IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		*family = 4;
		memcpy(addr, s6->sin6_addr.s6_addr + 12, 4);
		*port = ntohs(s6->sin6_port);
	} else if (ss->ss_family == AF_INET6) {
		*family = 6;
		memcpy(addr, &s6->sin6_addr, 16);
		*port = ntohs(s6->sin6_port);
	} else {
		return false;
	}
	return *port != 0;
}

static unsigned collect(struct duet_node *n, struct ic_conn_ent *ent)
{
	struct sockaddr_storage *loc, *peer;
	unsigned got, k = 0;
	uint8_t fam2;

	loc = calloc(IC_CONN_LIST_MAX, sizeof(*loc));
	peer = calloc(IC_CONN_LIST_MAX, sizeof(*peer));
	if (!loc || !peer) {
		free(loc);
		free(peer);
		return 0;
	}
	got = iscsi_port_conn_endpoints(n->home, loc, peer, IC_CONN_LIST_MAX);
	for (unsigned i = 0; i < got; i++) {
		struct ic_conn_ent *e = &ent[k];

		if (ent_addr(&loc[i], &e->family, e->local, &e->local_port) &&
		    ent_addr(&peer[i], &fam2, e->peer, &e->peer_port) &&
		    fam2 == e->family)
			k++;
	}
	free(loc);
	free(peer);
	return k;
}

int node_conns_send(struct duet_node *n, bool skip_empty)
{
	struct ic_conn_ent *ent;
	struct ic_msg m;
	unsigned total, off = 0;
	int rc = 0;

	if (!n->takeover || !n->home)
		return 0;
	ent = calloc(IC_CONN_LIST_MAX, sizeof(*ent));
	if (!ent)
		return -ENOMEM;
	total = collect(n, ent);
	if (!total && skip_empty) {
		free(ent);
		return 0;
	}
	do {
		unsigned c = total - off < IC_CONN_LIST_CHUNK
				     ? total - off
				     : IC_CONN_LIST_CHUNK;

		ic_msg_init(&m, IC_CONN_LIST, 0, 0);
		m.u.conns.flags = (off == 0 ? IC_CONN_LIST_FIRST : 0) |
				  (off + c == total ? IC_CONN_LIST_LAST : 0);
		m.u.conns.count = (uint16_t)c;
		memcpy(m.u.conns.ent, ent + off, c * sizeof(*ent));
		rc = ic_link_send(n->link, &m, NULL, 0, NULL, NULL);
		off += c;
	} while (rc == 0 && off < total);
	free(ent);
	if (rc < 0)
		log_warn("pair: client connection list not sent to %s (%s): "
			 "idle initiators will wait for their own timers after "
			 "the takeover",
			 n->partner->name, strerror(-rc));
	else
		log_info("pair: %u client connection(s) reported to %s for "
			 "the takeover",
			 total, n->partner->name);
	return rc;
}

void node_conns_recv(struct duet_node *n, const struct ic_msg *m)
{
	const struct ic_conn_list *l = &m->u.conns;

	if (!n->peer_conns) {
		n->peer_conns =
			calloc(IC_CONN_LIST_MAX, sizeof(*n->peer_conns));
		n->peer_conns_rx =
			calloc(IC_CONN_LIST_MAX, sizeof(*n->peer_conns_rx));
		if (!n->peer_conns || !n->peer_conns_rx) {
			log_err("pair: no memory for %s's connection list",
				n->partner->name);
			return;
		}
	}
	if (l->flags & IC_CONN_LIST_FIRST) {
		n->n_peer_conns_rx = 0;
		n->peer_conns_building = true;
	}
	if (!n->peer_conns_building ||
	    n->n_peer_conns_rx + l->count > IC_CONN_LIST_MAX) {
		log_warn("pair: connection list chunk from %s out of order or "
			 "beyond %u entries: list dropped",
			 n->partner->name, IC_CONN_LIST_MAX);
		n->peer_conns_building = false;
		return;
	}
	memcpy(n->peer_conns_rx + n->n_peer_conns_rx, l->ent,
	       l->count * sizeof(*l->ent));
	n->n_peer_conns_rx += l->count;
	if (!(l->flags & IC_CONN_LIST_LAST))
		return;
	memcpy(n->peer_conns, n->peer_conns_rx,
	       n->n_peer_conns_rx * sizeof(*n->peer_conns));
	n->n_peer_conns = n->n_peer_conns_rx;
	n->peer_conns_building = false;
	log_info("pair: %s reported %u client connection(s)", n->partner->name,
		 n->n_peer_conns);
}

/* Is the entry's local address one of the set's? */
static bool in_set(const struct ha_addrset *s, const struct ic_conn_ent *e)
{
	for (unsigned i = 0; i < s->n; i++) {
		const struct ha_addr *a = &s->addr[i];

		if (a->family == AF_INET && e->family == 4 &&
		    !memcmp(&a->u.v4, e->local, 4))
			return true;
		if (a->family == AF_INET6 && e->family == 6 &&
		    !memcmp(&a->u.v6, e->local, 16))
			return true;
	}
	return false;
}

void node_conns_tickle(struct duet_node *n)
{
	struct ha_tickle_conn *tc;
	unsigned k = 0;
	int rc;

	if (!n->tickler || !n->n_peer_conns)
		return;
	tc = calloc(n->n_peer_conns, sizeof(*tc));
	if (!tc)
		return;
	for (unsigned i = 0; i < n->n_peer_conns; i++) {
		const struct ic_conn_ent *e = &n->peer_conns[i];
		struct ha_tickle_conn *t = &tc[k];

		if (!in_set(&n->partner_set, e))
			continue;
		t->family = e->family == 4 ? AF_INET : AF_INET6;
		memcpy(&t->local, e->local, e->family == 4 ? 4 : 16);
		memcpy(&t->peer, e->peer, e->family == 4 ? 4 : 16);
		t->local_port = e->local_port;
		t->peer_port = e->peer_port;
		k++;
	}
	/* Used once: a later takeover needs a fresh list. */
	n->n_peer_conns = 0;
	rc = ha_tickler_start(n->tickler, tc, k);
	if (rc < 0)
		log_warn("takeover %s: tickles not sent: %s",
			 n->partner_set.name, strerror(-rc));
	free(tc);
}

int node_conns_start(struct duet_node *n)
{
	if (!n->takeover || !n->partner_sets)
		return 0;
	return ha_tickler_new(n->base, n->partner_set.name, &n->tickler);
}

void node_conns_stop(struct duet_node *n)
{
	ha_tickler_free(n->tickler);
	n->tickler = NULL;
	free(n->peer_conns);
	free(n->peer_conns_rx);
	n->peer_conns = n->peer_conns_rx = NULL;
	n->n_peer_conns = n->n_peer_conns_rx = 0;
	n->peer_conns_building = false;
}
