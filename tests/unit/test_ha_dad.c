// SPDX-License-Identifier: Apache-2.0
/* Address conflict probes: the exact bytes of the ARP probe and of the
 * DAD neighbour solicitation, and which received packets mean "held". */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if_arp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "duet/ha_addr.h"
#include "duet/ha_dad.h"

static const uint8_t ours[6] = {0x02, 0x00, 0x5e, 0x10, 0x20, 0x30};
static const uint8_t other[6] = {0x02, 0x00, 0x5e, 0xaa, 0xbb, 0xcc};
static const uint8_t zero6[6];

static struct in_addr v4(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a;
}

static struct in6_addr v6(const char *s)
{
	struct in6_addr a;

	assert_int_equal(inet_pton(AF_INET6, s, &a), 1);
	return a;
}

static void test_arp_probe_bytes(void **state)
{
	uint8_t p[HA_ARP_LEN];
	static const uint8_t want[HA_ARP_LEN] = {
		0x00, 0x01, 0x08, 0x00, 6,    4,    0x00, 0x01, /* request */
		0x02, 0x00, 0x5e, 0x10, 0x20, 0x30, 0,	  0,	0,   0,
		0,    0,    0,	  0,	0,    0,    198,  51,	100, 32,
	};

	(void)state;
	assert_int_equal(
		ha_dad_build_arp_probe(p, sizeof(p), ours, v4("198.51.100.32")),
		HA_ARP_LEN);
	assert_memory_equal(p, want, HA_ARP_LEN);
	assert_int_equal(ha_dad_build_arp_probe(p, HA_ARP_LEN - 1, ours,
						v4("198.51.100.32")),
			 -ENOSPC);
}

static void test_arp_conflicts(void **state)
{
	struct in_addr ip = v4("198.51.100.32"), any = {0};
	uint8_t p[HA_ARP_LEN], who[6];

	(void)state;
	/* the holder's reply to our probe: sender IP = the address */
	ha_addr_build_arp(p, sizeof(p), ARPOP_REPLY, other, ip, ours, any);
	memset(who, 0, 6);
	assert_int_equal(ha_dad_arp_conflict(p, sizeof(p), ip, ours, who), 1);
	assert_memory_equal(who, other, 6);
	/* its gratuitous ARP, request form */
	ha_addr_build_garp(p, sizeof(p), other, ip, false);
	assert_int_equal(ha_dad_arp_conflict(p, sizeof(p), ip, ours, who), 1);
	/* another host probing for it at the same time */
	ha_dad_build_arp_probe(p, sizeof(p), other, ip);
	assert_int_equal(ha_dad_arp_conflict(p, sizeof(p), ip, ours, who), 1);
	/* our own probe, looped back */
	ha_dad_build_arp_probe(p, sizeof(p), ours, ip);
	assert_int_equal(ha_dad_arp_conflict(p, sizeof(p), ip, ours, who), 0);
	/* a normal request for the address from a client is no proof */
	ha_addr_build_arp(p, sizeof(p), ARPOP_REQUEST, other,
			  v4("198.51.100.1"), zero6, ip);
	assert_int_equal(ha_dad_arp_conflict(p, sizeof(p), ip, ours, who), 0);
	/* unrelated addresses */
	ha_addr_build_garp(p, sizeof(p), other, v4("198.51.100.31"), true);
	assert_int_equal(ha_dad_arp_conflict(p, sizeof(p), ip, ours, who), 0);
	ha_dad_build_arp_probe(p, sizeof(p), other, v4("198.51.100.31"));
	assert_int_equal(ha_dad_arp_conflict(p, sizeof(p), ip, ours, who), 0);
	/* other opcodes (RARP 3) are ignored */
	ha_addr_build_arp(p, sizeof(p), 3, other, ip, ours, ip);
	assert_int_equal(ha_dad_arp_conflict(p, sizeof(p), ip, ours, who), 0);
	/* malformed: short, not Ethernet/IPv4 */
	ha_addr_build_arp(p, sizeof(p), ARPOP_REPLY, other, ip, ours, any);
	assert_int_equal(ha_dad_arp_conflict(p, HA_ARP_LEN - 1, ip, ours, who),
			 -EINVAL);
	p[5] = 16;
	assert_int_equal(ha_dad_arp_conflict(p, sizeof(p), ip, ours, who),
			 -EINVAL);
	p[5] = 4;
	p[1] = 6; /* hardware type 6 (IEEE 802) */
	assert_int_equal(ha_dad_arp_conflict(p, sizeof(p), ip, ours, who),
			 -EINVAL);
}

/* An independent one's-complement sum over the IPv6 pseudo-header. */
static uint16_t csum(const uint8_t *pkt, size_t icmp_len)
{
	uint32_t s = 0;
	size_t i;
	uint8_t ph[40 + 1500];

	memcpy(ph, pkt + 8, 32);
	memset(ph + 32, 0, 8);
	ph[34] = (uint8_t)(icmp_len >> 8);
	ph[35] = (uint8_t)icmp_len;
	ph[39] = 58;
	memcpy(ph + 40, pkt + 40, icmp_len);
	for (i = 0; i < 40 + icmp_len; i += 2)
		s += (uint32_t)(ph[i] << 8 | ph[i + 1]);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void test_ns_bytes(void **state)
{
	struct in6_addr t = v6("2001:db8::12:3456");
	uint8_t p[HA_NS_LEN + 8], mac[6];
	static const uint8_t grp[16] = {0xff, 0x02, 0,	  0,   0, 0,
					0,    0,    0,	  0,   0, 1,
					0xff, 0x12, 0x34, 0x56};

	(void)state;
	assert_int_equal(ha_dad_build_ns(p, sizeof(p), &t), HA_NS_LEN);
	assert_int_equal(p[0], 0x60);
	assert_int_equal(p[4] << 8 | p[5], 24); /* payload length */
	assert_int_equal(p[6], 58);		/* ICMPv6 */
	assert_int_equal(p[7], 255);		/* hop limit */
	assert_memory_equal(p + 8, &in6addr_any, 16);
	assert_memory_equal(p + 24, grp, 16);
	assert_int_equal(p[40], 135); /* neighbour solicitation */
	assert_int_equal(p[41], 0);
	assert_memory_equal(p + 44, "\0\0\0\0", 4);
	assert_memory_equal(p + 48, &t, 16);
	assert_int_equal(csum(p, 24), 0); /* checksum field makes it 0 */
	ha_dad_ns_dst_mac(&t, mac);
	assert_memory_equal(mac, "\x33\x33\xff\x12\x34\x56", 6);
	assert_int_equal(ha_dad_build_ns(p, HA_NS_LEN - 1, &t), -ENOSPC);
}

/* A neighbour advertisement for t as a defending host sends it. */
static size_t build_na_pkt(uint8_t *p, const struct in6_addr *t)
{
	struct in6_addr src = v6("fe80::aa"), dst = v6("ff02::1");
	uint16_t c;

	memset(p, 0, 40 + HA_NA_LEN);
	p[0] = 0x60;
	p[5] = HA_NA_LEN;
	p[6] = 58;
	p[7] = 255;
	memcpy(p + 8, &src, 16);
	memcpy(p + 24, &dst, 16);
	assert_int_equal(ha_addr_build_na(p + 40, HA_NA_LEN, other, t),
			 HA_NA_LEN);
	c = csum(p, HA_NA_LEN);
	p[42] = (uint8_t)(c >> 8);
	p[43] = (uint8_t)c;
	return 40 + HA_NA_LEN;
}

static void test_nd_conflicts(void **state)
{
	struct in6_addr t = v6("2001:db8::32"), u = v6("2001:db8::31");
	uint8_t p[128];
	size_t n;

	(void)state;
	n = build_na_pkt(p, &t);
	assert_int_equal(ha_dad_nd_conflict(p, n, &t, other, ours), 1);
	assert_int_equal(ha_dad_nd_conflict(p, n, &u, other, ours), 0);
	/* from our own MAC (looped back) */
	assert_int_equal(ha_dad_nd_conflict(p, n, &t, ours, ours), 0);
	/* hop limit not 255: not a valid ND message */
	p[7] = 64;
	assert_int_equal(ha_dad_nd_conflict(p, n, &t, other, ours), -EINVAL);
	p[7] = 255;
	/* bad checksum */
	p[60] ^= 1;
	assert_int_equal(ha_dad_nd_conflict(p, n, &t, other, ours), -EINVAL);
	p[60] ^= 1;
	/* truncated: payload length beyond the packet */
	assert_int_equal(ha_dad_nd_conflict(p, n - 1, &t, other, ours),
			 -EINVAL);
	assert_int_equal(ha_dad_nd_conflict(p, 39, &t, other, ours), -EINVAL);
	/* another host's DAD solicitation for the same address */
	n = (size_t)ha_dad_build_ns(p, sizeof(p), &t);
	assert_int_equal(ha_dad_nd_conflict(p, n, &t, other, ours), 1);
	assert_int_equal(ha_dad_nd_conflict(p, n, &t, ours, ours), 0);
	assert_int_equal(ha_dad_nd_conflict(p, n, &u, other, ours), 0);
	/* an ordinary solicitation (source set: address resolution) */
	p[8] = 0xfe;
	p[9] = 0x80;
	p[23] = 1;
	{
		uint16_t c;

		p[42] = p[43] = 0;
		c = csum(p, 24);
		p[42] = (uint8_t)(c >> 8);
		p[43] = (uint8_t)c;
	}
	assert_int_equal(ha_dad_nd_conflict(p, n, &t, other, ours), 0);
	/* not ICMPv6 (TCP) */
	p[6] = 6;
	assert_int_equal(ha_dad_nd_conflict(p, n, &t, other, ours), 0);
	/* not IPv6 */
	p[0] = 0x45;
	assert_int_equal(ha_dad_nd_conflict(p, n, &t, other, ours), -EINVAL);
}

static void test_round_bound(void **state)
{
	const struct ha_dad_cfg d = HA_DAD_CFG_DEFAULT;
	struct ha_dad_cfg one = {
		.probes = 1, .interval_ms = 200, .wait_ms = 300};

	(void)state;
	assert_int_equal(ha_dad_round_ms(&d), 2 * 200 + 400);
	assert_int_equal(ha_dad_round_ms(&one), 300);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arp_probe_bytes),
		cmocka_unit_test(test_arp_conflicts),
		cmocka_unit_test(test_ns_bytes),
		cmocka_unit_test(test_nd_conflicts),
		cmocka_unit_test(test_round_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
