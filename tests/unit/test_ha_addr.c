// SPDX-License-Identifier: Apache-2.0
/* Takeover addresses: parsing, formatting and the exact bytes of the
 * gratuitous ARP, the neighbour advertisement and the netlink request. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "duet/ha_addr.h"

static const uint8_t mac[6] = {0x02, 0x00, 0x5e, 0x10, 0x20, 0x30};

static void test_parse_format(void **state)
{
	struct ha_addr a;
	char buf[HA_ADDR_STRLEN];
	static const char *const bad[] = {
		"",
		"/24",
		"198.51.100.11/",
		"198.51.100.11/33",
		"198.51.100.11/0",
		"198.51.100.11/2x",
		"2001:db8::1/129",
		"example.org",
		"198.51.100.256",
		"198.51.100.11/-1",
		"198.51.100.11/ 24",
	};
	size_t i;

	(void)state;
	assert_int_equal(ha_addr_parse("198.51.100.11", &a), 0);
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(a.prefix, 32);
	ha_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "198.51.100.11/32");
	assert_int_equal(ha_addr_parse("203.0.113.9/24", &a), 0);
	assert_int_equal(a.prefix, 24);
	assert_int_equal(ha_addr_parse("2001:db8::11/64", &a), 0);
	assert_int_equal(a.family, AF_INET6);
	ha_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8::11/64");
	assert_int_equal(ha_addr_parse("2001:db8::11", &a), 0);
	assert_int_equal(a.prefix, 128);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ha_addr_parse(bad[i], &a) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	assert_int_equal(ha_addr_parse(NULL, &a), -EINVAL);
}

static void test_garp_bytes(void **state)
{
	uint8_t p[HA_ARP_LEN];
	struct in_addr ip;
	static const uint8_t want_req[HA_ARP_LEN] = {
		0x00, 0x01, 0x08, 0x00, 6,    4,    0x00, 0x01, /* request */
		0x02, 0x00, 0x5e, 0x10, 0x20, 0x30, 198,  51,	100, 11,
		0,    0,    0,	  0,	0,    0,    198,  51,	100, 11,
	};

	(void)state;
	inet_pton(AF_INET, "198.51.100.11", &ip);
	assert_int_equal(ha_addr_build_garp(p, sizeof(p), mac, ip, false),
			 HA_ARP_LEN);
	assert_memory_equal(p, want_req, HA_ARP_LEN);
	assert_int_equal(ha_addr_build_garp(p, sizeof(p), mac, ip, true),
			 HA_ARP_LEN);
	assert_int_equal(p[7], 2); /* reply */
	assert_memory_equal(p + 18, "\xff\xff\xff\xff\xff\xff", 6);
	assert_memory_equal(p + 14, p + 24, 4); /* sender = target */
	assert_int_equal(ha_addr_build_garp(p, HA_ARP_LEN - 1, mac, ip, true),
			 -ENOSPC);
}

static void test_na_bytes(void **state)
{
	uint8_t p[HA_NA_LEN];
	struct in6_addr ip;

	(void)state;
	inet_pton(AF_INET6, "2001:db8::11", &ip);
	assert_int_equal(ha_addr_build_na(p, sizeof(p), mac, &ip), HA_NA_LEN);
	assert_int_equal(p[0], 136);
	assert_int_equal(p[1], 0);
	assert_int_equal(p[4], 0x20); /* override only */
	assert_int_equal(p[5] | p[6] | p[7], 0);
	assert_memory_equal(p + 8, &ip, 16);
	assert_int_equal(p[24], 2); /* target link-layer address */
	assert_int_equal(p[25], 1);
	assert_memory_equal(p + 26, mac, 6);
	assert_int_equal(ha_addr_build_na(p, 31, mac, &ip), -ENOSPC);
}

static void check_nlmsg(const char *addr, int type, bool v6)
{
	uint8_t buf[256] __attribute__((aligned(4)));
	struct ha_addr a;
	const struct nlmsghdr *nh = (const void *)buf;
	const struct ifaddrmsg *ifa;
	const struct rtattr *rta;
	int len, left, seen = 0;

	assert_int_equal(ha_addr_parse(addr, &a), 0);
	len = ha_addr_build_nlmsg(buf, sizeof(buf), type, 7, &a, 42);
	assert_true(len > 0);
	assert_int_equal(nh->nlmsg_len, len);
	assert_int_equal(nh->nlmsg_type, type);
	assert_int_equal(nh->nlmsg_seq, 42);
	assert_true(nh->nlmsg_flags & NLM_F_ACK);
	assert_int_equal(!!(nh->nlmsg_flags & NLM_F_CREATE),
			 type == RTM_NEWADDR);
	ifa = NLMSG_DATA(nh);
	assert_int_equal(ifa->ifa_index, 7);
	assert_int_equal(ifa->ifa_family, a.family);
	assert_int_equal(ifa->ifa_prefixlen, a.prefix);
	assert_int_equal(!!(ifa->ifa_flags & IFA_F_NODAD), v6);
	rta = IFA_RTA(ifa);
	left = (int)IFA_PAYLOAD(nh);
	for (; RTA_OK(rta, left); rta = RTA_NEXT(rta, left)) {
		if (rta->rta_type == IFA_LOCAL ||
		    rta->rta_type == IFA_ADDRESS) {
			assert_int_equal(RTA_PAYLOAD(rta), v6 ? 16 : 4);
			assert_memory_equal(RTA_DATA(rta), &a.u, v6 ? 16 : 4);
			seen++;
		} else if (rta->rta_type == IFA_FLAGS) {
			uint32_t f;

			memcpy(&f, RTA_DATA(rta), 4);
			assert_int_equal(!!(f & IFA_F_NODAD), v6);
			seen++;
		}
	}
	assert_int_equal(left, 0);
	assert_int_equal(seen, 3);
}

static void test_nlmsg(void **state)
{
	uint8_t small[16];
	struct ha_addr a;

	(void)state;
	check_nlmsg("198.51.100.11/24", RTM_NEWADDR, false);
	check_nlmsg("198.51.100.11", RTM_DELADDR, false);
	check_nlmsg("2001:db8::11/64", RTM_NEWADDR, true);
	check_nlmsg("2001:db8::11/64", RTM_DELADDR, true);
	ha_addr_parse("198.51.100.11", &a);
	assert_int_equal(ha_addr_build_nlmsg(small, sizeof(small), RTM_NEWADDR,
					     1, &a, 1),
			 -ENOSPC);
}

static void test_missing_interface(void **state)
{
	struct ha_addr a;
	char err[HA_ADDR_ERRLEN] = "";

	(void)state;
	ha_addr_parse("192.0.2.99/32", &a);
	/* no such interface: caught before any netlink or packet I/O */
	assert_int_equal(ha_addr_add("duet-nonexist0", &a, err, sizeof(err)),
			 -ENODEV);
	assert_non_null(strstr(err, "check client_interface"));
	assert_non_null(strstr(err, "192.0.2.99/32"));
	assert_int_equal(ha_addr_announce("duet-nonexist0", &a, 1, NULL, 0),
			 -ENODEV);
	assert_int_equal(ha_addr_present("duet-nonexist0", &a, err, 4),
			 -ENODEV);
	assert_int_equal(strlen(err), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_format),
		cmocka_unit_test(test_garp_bytes),
		cmocka_unit_test(test_na_bytes),
		cmocka_unit_test(test_nlmsg),
		cmocka_unit_test(test_missing_interface),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
