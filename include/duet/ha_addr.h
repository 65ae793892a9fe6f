/* SPDX-License-Identifier: Apache-2.0 */
/* Takeover address actions: add/remove an IPv4/IPv6 address on an
 * interface through rtnetlink, and announce it (gratuitous ARP for IPv4,
 * unsolicited neighbour advertisement for IPv6) so that clients send
 * their next packet to this host.
 *
 * Every call is quick and bounded (a netlink round trip with a 1 s
 * receive timeout, a few datagrams); none waits on the network. Errors
 * are -errno, with a line an administrator can act on written to err
 * (which may be NULL). Add and remove are idempotent. */
#ifndef DUET_HA_ADDR_H
#define DUET_HA_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ha_addr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t prefix;
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} u;
};

#define HA_ADDR_STRLEN (INET6_ADDRSTRLEN + 4)
#define HA_ADDR_ERRLEN 256

/* "198.51.100.11", "198.51.100.11/24", "2001:db8::11/64"; without a
 * prefix: /32 or /128. 0 or -EINVAL. */
int ha_addr_parse(const char *s, struct ha_addr *out);
/* "198.51.100.11/32" into buf (HA_ADDR_STRLEN is enough). */
void ha_addr_format(const struct ha_addr *a, char *buf, size_t n);

/* Add (IPv6: IFA_F_NODAD, usable at once) or remove the address. */
int ha_addr_add(const char *ifname, const struct ha_addr *a, char *err,
		size_t errlen);
int ha_addr_del(const char *ifname, const struct ha_addr *a, char *err,
		size_t errlen);
/* 1 if the address is on the interface, 0 if not, -errno on error. */
int ha_addr_present(const char *ifname, const struct ha_addr *a, char *err,
		    size_t errlen);
/* Announce the address from ifname, `count` rounds back to back (IPv4:
 * ARP request and reply, sender = target = the address, broadcast; IPv6:
 * NA with the override flag to ff02::1, hop limit 255). The address must
 * already be on the interface. Interfaces without ARP (loopback) are
 * skipped and return 0. The caller repeats after a delay if it wants. */
int ha_addr_announce(const char *ifname, const struct ha_addr *a,
		     unsigned count, char *err, size_t errlen);

/* Packet builders (pure, unit-tested). Return the length written, or
 * -ENOSPC when len is too small. */
#define HA_ARP_LEN 28
#define HA_NA_LEN 32
/* Any Ethernet/IPv4 ARP packet (op ARPOP_REQUEST or ARPOP_REPLY). */
int ha_addr_build_arp(uint8_t *buf, size_t len, uint16_t op,
		      const uint8_t sha[6], struct in_addr sip,
		      const uint8_t tha[6], struct in_addr tip);
int ha_addr_build_garp(uint8_t *buf, size_t len, const uint8_t mac[6],
		       struct in_addr ip, bool reply);
int ha_addr_build_na(uint8_t *buf, size_t len, const uint8_t mac[6],
		     const struct in6_addr *ip);
/* Netlink RTM_NEWADDR/RTM_DELADDR request for ifindex. */
int ha_addr_build_nlmsg(uint8_t *buf, size_t len, int type, int ifindex,
			const struct ha_addr *a, uint32_t seq);

/* Link-layer helpers shared with the address probes (ha_dad.h).
 * The MAC of ifname, queried through any socket fd: 0, 1 when the
 * interface has no ARP (loopback, NOARP, not Ethernet), or -errno. */
int ha_addr_hwaddr(int fd, const char *ifname, uint8_t mac[6]);
/* A non-blocking AF_PACKET/SOCK_DGRAM socket for ethertype proto
 * (host order), bound to ifindex; fd or -errno. */
int ha_addr_packet_socket(unsigned ifindex, uint16_t proto);
/* Send one frame payload to the link-layer address dst; 0 or -errno. */
int ha_addr_packet_send(int fd, unsigned ifindex, uint16_t proto,
			const uint8_t dst[6], const void *pkt, size_t len);
/* What to check for an errno of these calls ("" if nothing to say). */
const char *ha_addr_hint(int e);

/* The Internet checksum (RFC 1071): ha_csum_add() adds the one's
 * complement sum of len bytes to sum (folded to 16 bits, before the final
 * complement); ha_csum_fold() folds and complements. ha_csum_pseudo6() is
 * the sum of the IPv6 pseudo-header (RFC 8200 8.1) for an upper-layer
 * packet of len bytes and next header proto. */
uint32_t ha_csum_add(uint32_t sum, const void *p, size_t len);
uint16_t ha_csum_fold(uint32_t sum);
uint32_t ha_csum_pseudo6(const uint8_t src[16], const uint8_t dst[16],
			 uint32_t len, uint8_t proto);

#endif
