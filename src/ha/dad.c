// SPDX-License-Identifier: Apache-2.0
/* Address conflict detection (ARP probes, IPv6 DAD) on the event loop;
 * see include/duet/ha_dad.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/icmp6.h>
#include <netpacket/packet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "duet/ha_dad.h"
#include "duet/util.h"

#define RX_BURST 64 /* packets read per wakeup, bounded */

struct ha_dad {
	char ifname[IF_NAMESIZE];
	unsigned ifindex;
	struct ha_addr addr[HA_DAD_MAX];
	unsigned n;
	struct ha_dad_cfg cfg;
	uint8_t mac[6];
	int fd4, fd6; /* -1 when the set has no address of that family */
	struct event *ev4, *ev6, *timer;
	unsigned sent; /* probe rounds sent */
	bool done;
	ha_dad_cb cb;
	void *ctx;
};

/* ---- packets ---------------------------------------------------------- */

int ha_dad_build_arp_probe(uint8_t *buf, size_t len, const uint8_t mac[6],
			   struct in_addr ip)
{
	static const uint8_t zero[6];
	struct in_addr any = {0};

	return ha_addr_build_arp(buf, len, ARPOP_REQUEST, mac, any, zero, ip);
}

static void solicited_node(const struct in6_addr *t, struct in6_addr *g)
{
	/* ff02::1:ff00:0/104 */
	static const uint8_t pfx[13] = {0xff, 0x02, 0, 0, 0, 0,	  0,
					0,    0,    0, 0, 1, 0xff};

	memcpy(g->s6_addr, pfx, 13);
	memcpy(g->s6_addr + 13, t->s6_addr + 13, 3);
}

void ha_dad_ns_dst_mac(const struct in6_addr *target, uint8_t mac[6])
{
	mac[0] = 0x33;
	mac[1] = 0x33;
	mac[2] = 0xff;
	memcpy(mac + 3, target->s6_addr + 13, 3);
}

/* ICMPv6 checksum of the message at icmp (len bytes) between src/dst. */
static uint16_t icmp6_csum(const uint8_t *src, const uint8_t *dst,
			   const uint8_t *icmp, size_t len)
{
	uint32_t sum = ha_csum_pseudo6(src, dst, (uint32_t)len, IPPROTO_ICMPV6);

	return ha_csum_fold(ha_csum_add(sum, icmp, len));
}

int ha_dad_build_ns(uint8_t *buf, size_t len, const struct in6_addr *target)
{
	struct in6_addr group;
	uint8_t *icmp = buf + 40;

	if (len < HA_NS_LEN)
		return -ENOSPC;
	memset(buf, 0, HA_NS_LEN);
	buf[0] = 0x60;			     /* version 6 */
	put_be16(buf + 4, HA_NS_LEN - 40);   /* payload length */
	buf[6] = IPPROTO_ICMPV6;	     /* next header */
	buf[7] = 255;			     /* hop limit */
	solicited_node(target, &group);	     /* source :: (bytes 8..23) */
	memcpy(buf + 24, group.s6_addr, 16); /* destination */
	icmp[0] = ND_NEIGHBOR_SOLICIT;	     /* 135, code 0 */
	memcpy(icmp + 8, target->s6_addr, 16);
	put_be16(icmp + 2, icmp6_csum(buf + 8, buf + 24, icmp, 24));
	return HA_NS_LEN;
}

int ha_dad_arp_conflict(const uint8_t *pkt, size_t len, struct in_addr ip,
			const uint8_t ours[6], uint8_t who[6])
{
	uint16_t op;
	bool sender_is, probe_for;

	if (len < HA_ARP_LEN || get_be16(pkt) != ARPHRD_ETHER ||
	    get_be16(pkt + 2) != ETH_P_IP || pkt[4] != 6 || pkt[5] != 4)
		return -EINVAL;
	op = get_be16(pkt + 6);
	if (op != ARPOP_REQUEST && op != ARPOP_REPLY)
		return 0;
	if (!memcmp(pkt + 8, ours, 6))
		return 0; /* our own probe */
	sender_is = !memcmp(pkt + 14, &ip, 4);
	/* someone else probing for it (RFC 5227 2.1.1) */
	probe_for = op == ARPOP_REQUEST && get_be32(pkt + 14) == 0 &&
		    !memcmp(pkt + 24, &ip, 4);
	if (!sender_is && !probe_for)
		return 0;
	memcpy(who, pkt + 8, 6);
	return 1;
}

int ha_dad_nd_conflict(const uint8_t *pkt, size_t len,
		       const struct in6_addr *target, const uint8_t src[6],
		       const uint8_t ours[6])
{
	const uint8_t *icmp = pkt + 40;
	size_t plen;
	bool from_any;

	if (len < 40 || (pkt[0] >> 4) != 6)
		return -EINVAL;
	if (pkt[6] != IPPROTO_ICMPV6)
		return 0; /* not ICMPv6 (ND never has extension headers) */
	plen = get_be16(pkt + 4);
	if (plen > len - 40)
		return -EINVAL;
	if (plen < 1 ||
	    (icmp[0] != ND_NEIGHBOR_SOLICIT && icmp[0] != ND_NEIGHBOR_ADVERT))
		return 0;
	if (plen < 24 || pkt[7] != 255 || icmp[1] != 0 ||
	    icmp6_csum(pkt + 8, pkt + 24, icmp, plen) != 0)
		return -EINVAL;
	if (memcmp(icmp + 8, target->s6_addr, 16) != 0 || !memcmp(src, ours, 6))
		return 0;
	if (icmp[0] == ND_NEIGHBOR_ADVERT)
		return 1;
	from_any = !memcmp(pkt + 8, &in6addr_any, 16);
	return from_any ? 1 : 0; /* another host's DAD for it */
}

/* ---- the round -------------------------------------------------------- */

unsigned ha_dad_round_ms(const struct ha_dad_cfg *cfg)
{
	unsigned p = cfg->probes ? cfg->probes : 1;

	return (p - 1) * cfg->interval_ms + cfg->wait_ms;
}

static void finish(struct ha_dad *d, struct ha_dad_result *r)
{
	if (d->done)
		return;
	d->done = true;
	if (d->ev4)
		event_del(d->ev4);
	if (d->ev6)
		event_del(d->ev6);
	evtimer_del(d->timer);
	d->cb(d->ctx, r); /* may free d */
}

static void finish_held(struct ha_dad *d, unsigned i, const uint8_t who[6])
{
	struct ha_dad_result r = {.verdict = HA_DAD_HELD, .probed = true};

	r.idx = i;
	memcpy(r.mac, who, 6);
	finish(d, &r);
}

static void finish_err(struct ha_dad *d, int rc, const char *what)
{
	struct ha_dad_result r = {.verdict = HA_DAD_ERROR, .probed = true};

	snprintf(r.err, sizeof(r.err), "%s on %s: %s%s", what, d->ifname,
		 strerror(-rc), ha_addr_hint(-rc));
	finish(d, &r);
}

static int send_probes(struct ha_dad *d)
{
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	uint8_t pkt[HA_NS_LEN], dst[6];
	unsigned i;
	int rc = 0;

	for (i = 0; i < d->n && rc == 0; i++) {
		const struct ha_addr *a = &d->addr[i];

		if (a->family == AF_INET) {
			ha_dad_build_arp_probe(pkt, sizeof(pkt), d->mac,
					       a->u.v4);
			rc = ha_addr_packet_send(d->fd4, d->ifindex, ETH_P_ARP,
						 bcast, pkt, HA_ARP_LEN);
		} else {
			ha_dad_build_ns(pkt, sizeof(pkt), &a->u.v6);
			ha_dad_ns_dst_mac(&a->u.v6, dst);
			rc = ha_addr_packet_send(d->fd6, d->ifindex, ETH_P_IPV6,
						 dst, pkt, HA_NS_LEN);
		}
	}
	return rc == -EAGAIN || rc == -ENOBUFS ? 0 : rc; /* next round */
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ha_dad *d = arg;
	unsigned ms;
	struct timeval tv;
	int rc;

	if (d->sent >= d->cfg.probes) {
		struct ha_dad_result r = {.verdict = HA_DAD_FREE,
					  .probed = true};

		finish(d, &r);
		return;
	}
	rc = send_probes(d);
	if (rc < 0) {
		finish_err(d, rc, "send address probes");
		return;
	}
	d->sent++;
	ms = d->sent < d->cfg.probes ? d->cfg.interval_ms : d->cfg.wait_ms;
	tv = ms_to_timeval(ms);
	evtimer_add(d->timer, &tv);
}

/* Read what arrived (bounded); a conflict ends the round. */
static void rx_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ha_dad *d = arg;
	bool v6 = fd == d->fd6;
	uint8_t buf[1536], who[6];
	int k;

	for (k = 0; k < RX_BURST && !d->done; k++) {
		struct sockaddr_ll ll;
		socklen_t sl = sizeof(ll);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0,
				     (struct sockaddr *)&ll, &sl);
		unsigned i;

		if (n < 0)
			return; /* EAGAIN, or an error the timer outlives */
		if (ll.sll_pkttype == PACKET_OUTGOING || ll.sll_halen != 6)
			continue;
		for (i = 0; i < d->n; i++) {
			const struct ha_addr *a = &d->addr[i];
			int c;

			if ((a->family == AF_INET6) != v6)
				continue;
			if (v6) {
				c = ha_dad_nd_conflict(buf, (size_t)n, &a->u.v6,
						       ll.sll_addr, d->mac);
				memcpy(who, ll.sll_addr, 6);
			} else {
				c = ha_dad_arp_conflict(buf, (size_t)n, a->u.v4,
							d->mac, who);
			}
			if (c == 1) {
				finish_held(d, i, who);
				return;
			}
		}
	}
}

static int open_family(struct ha_dad *d, struct event_base *base, int family)
{
	uint16_t proto = family == AF_INET ? ETH_P_ARP : ETH_P_IPV6;
	int *fd = family == AF_INET ? &d->fd4 : &d->fd6;
	struct event **ev = family == AF_INET ? &d->ev4 : &d->ev6;
	unsigned i;

	for (i = 0; i < d->n; i++)
		if (d->addr[i].family == family)
			break;
	if (i == d->n)
		return 0;
	*fd = ha_addr_packet_socket(d->ifindex, proto);
	if (*fd < 0)
		return *fd;
	*ev = event_new(base, *fd, EV_READ | EV_PERSIST, rx_cb, d);
	if (!*ev)
		return -ENOMEM;
	return event_add(*ev, NULL) == 0 ? 0 : -ENOMEM;
}

/* Interfaces without ARP (loopback): nobody else can answer. */
static void not_probed_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ha_dad *d = arg;
	struct ha_dad_result r = {.verdict = HA_DAD_FREE, .probed = false};

	finish(d, &r);
}

static int setup(struct ha_dad *d, struct event_base *base)
{
	struct timeval now = {0, 0};
	int rc;

	rc = open_family(d, base, AF_INET);
	if (rc == 0)
		rc = open_family(d, base, AF_INET6);
	if (rc < 0)
		return rc;
	rc = ha_addr_hwaddr(d->fd4 >= 0 ? d->fd4 : d->fd6, d->ifname, d->mac);
	if (rc < 0)
		return rc;
	d->timer = evtimer_new(base, rc == 1 ? not_probed_cb : timer_cb, d);
	if (!d->timer)
		return -ENOMEM;
	evtimer_add(d->timer, &now);
	return 0;
}

int ha_dad_start(struct event_base *base, const char *ifname,
		 const struct ha_addr *addrs, unsigned n,
		 const struct ha_dad_cfg *cfg, ha_dad_cb cb, void *ctx,
		 struct ha_dad **out)
{
	struct ha_dad *d;
	unsigned i;
	int rc;

	*out = NULL;
	if (!ifname || strlen(ifname) >= IF_NAMESIZE || !n || n > HA_DAD_MAX ||
	    !cfg || !cb)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (addrs[i].family != AF_INET && addrs[i].family != AF_INET6)
			return -EAFNOSUPPORT;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	snprintf(d->ifname, sizeof(d->ifname), "%s", ifname);
	memcpy(d->addr, addrs, n * sizeof(*addrs));
	d->n = n;
	d->cfg = *cfg;
	if (!d->cfg.probes)
		d->cfg.probes = 1;
	d->cb = cb;
	d->ctx = ctx;
	d->fd4 = d->fd6 = -1;
	d->ifindex = if_nametoindex(ifname);
	rc = d->ifindex ? setup(d, base) : -ENODEV;
	if (rc < 0) {
		ha_dad_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

void ha_dad_free(struct ha_dad *d)
{
	if (!d)
		return;
	if (d->ev4)
		event_free(d->ev4);
	if (d->ev6)
		event_free(d->ev6);
	if (d->timer)
		event_free(d->timer);
	if (d->fd4 >= 0)
		close(d->fd4);
	if (d->fd6 >= 0)
		close(d->fd6);
	free(d);
}
