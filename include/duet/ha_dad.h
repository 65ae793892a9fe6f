/* SPDX-License-Identifier: Apache-2.0 */
/* Address conflict detection before claiming a set of portal addresses
 * (takeover form): is any of them in use by another host on the client
 * network?
 *
 * IPv4: RFC 5227 ARP probes (request, sender IP 0.0.0.0, sender MAC ours,
 * target IP = the address). Held when, during the probe, another MAC
 * sends any ARP packet whose sender IP is the address (a reply to our
 * probe, a gratuitous ARP) or probes for the address itself.
 * IPv6: duplicate address detection (RFC 4862): a neighbour solicitation
 * from :: to the address's solicited-node multicast group. Held when a
 * neighbour advertisement for the address arrives, or another host's
 * DAD solicitation for it.
 *
 * One probe round runs on the event loop, non-blocking: every address of
 * the set is probed `probes` times, `interval_ms` apart, then the prober
 * listens `wait_ms` more; the round is over at the first conflict or
 * after (probes - 1) * interval_ms + wait_ms. The verdict comes back
 * through the callback, never from inside ha_dad_start(). */
#ifndef DUET_HA_DAD_H
#define DUET_HA_DAD_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "duet/ha_addr.h"

struct event_base;
struct ha_dad;

#define HA_DAD_MAX 16 /* addresses per round */

enum ha_dad_verdict {
	HA_DAD_FREE = 0, /* nobody answered for any address of the set */
	HA_DAD_HELD,	 /* another host holds (or probes) one of them */
	HA_DAD_ERROR,	 /* could not probe (err says why) */
};

struct ha_dad_cfg {
	unsigned probes;      /* per address, >= 1 */
	unsigned interval_ms; /* between two probes of an address */
	unsigned wait_ms;     /* listening after the last probe */
};

/* 3 probes 200 ms apart, then 400 ms: a round takes 0.8 s. */
#define HA_DAD_CFG_DEFAULT                                       \
	{                                                        \
		.probes = 3, .interval_ms = 200, .wait_ms = 400, \
	}

struct ha_dad_result {
	enum ha_dad_verdict verdict;
	bool probed;	/* false: interface without ARP, nothing to ask */
	unsigned idx;	/* HELD: which address of the set */
	uint8_t mac[6]; /* HELD: the other host's MAC */
	char err[HA_ADDR_ERRLEN]; /* ERROR: what failed, what to check */
};

/* Called once per round, from the event loop; the prober stays valid
 * until ha_dad_free() (which the callback may call). */
typedef void (*ha_dad_cb)(void *ctx, const struct ha_dad_result *r);

/* Start one probe round for addrs[0..n) on ifname. 0 (the verdict
 * follows through cb) or -errno (nothing started). */
int ha_dad_start(struct event_base *base, const char *ifname,
		 const struct ha_addr *addrs, unsigned n,
		 const struct ha_dad_cfg *cfg, ha_dad_cb cb, void *ctx,
		 struct ha_dad **out);
/* Stop the round if it still runs (no callback) and free it. NULL ok. */
void ha_dad_free(struct ha_dad *d);
/* Worst-case duration of a round with cfg, in ms. */
unsigned ha_dad_round_ms(const struct ha_dad_cfg *cfg);

/* ---- packets (pure, unit-tested) ---- */

#define HA_NS_LEN 64 /* IPv6 header (40) + neighbour solicitation (24) */

/* ARP probe: request, sender MAC = mac, sender IP 0, target MAC 0,
 * target IP = ip. HA_ARP_LEN or -ENOSPC. */
int ha_dad_build_arp_probe(uint8_t *buf, size_t len, const uint8_t mac[6],
			   struct in_addr ip);
/* DAD neighbour solicitation for target, IPv6 header included (source ::,
 * destination the solicited-node group, hop limit 255, ICMPv6 checksum
 * set). HA_NS_LEN or -ENOSPC. */
int ha_dad_build_ns(uint8_t *buf, size_t len, const struct in6_addr *target);
/* The Ethernet address of target's solicited-node group (33:33:ff:..). */
void ha_dad_ns_dst_mac(const struct in6_addr *target, uint8_t mac[6]);
/* An ARP packet (payload after the Ethernet header) received while
 * probing ip: 1 when it shows another host (sender MAC not ours; copied
 * to who) holding or probing ip, 0 when unrelated, -EINVAL malformed. */
int ha_dad_arp_conflict(const uint8_t *pkt, size_t len, struct in_addr ip,
			const uint8_t ours[6], uint8_t who[6]);
/* An IPv6 packet (from the IPv6 header on) received from link-layer
 * address src while probing target: 1 for a neighbour advertisement of
 * target, or another host's DAD solicitation for it; 0 unrelated;
 * -EINVAL malformed (bad lengths, hop limit not 255, bad checksum). */
int ha_dad_nd_conflict(const uint8_t *pkt, size_t len,
		       const struct in6_addr *target, const uint8_t src[6],
		       const uint8_t ours[6]);

#endif
