// SPDX-License-Identifier: Apache-2.0
/* The tickle packets of ha_tickle.h against packets computed
 * independently (a Python script of RFC 791/793/8200 checksums; the bytes
 * are copied below), plus checksum properties. No sockets. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "duet/ha_addr.h"
#include "duet/ha_tickle.h"

static struct ha_tickle_conn conn4(void)
{
	struct ha_tickle_conn c = {
		.family = AF_INET, .local_port = 3260, .peer_port = 40000};

	inet_pton(AF_INET, "198.51.100.32", &c.local.v4);
	inet_pton(AF_INET, "198.51.100.1", &c.peer.v4);
	return c;
}

static struct ha_tickle_conn conn6(void)
{
	struct ha_tickle_conn c = {
		.family = AF_INET6, .local_port = 3260, .peer_port = 40000};

	inet_pton(AF_INET6, "2001:db8::32", &c.local.v6);
	inet_pton(AF_INET6, "2001:db8::1", &c.peer.v6);
	return c;
}

/* 198.51.100.32:3260 -> 198.51.100.1:40000, id 0x1234, DF, TTL 64,
 * seq 0x01020304, ack 0xa0b0c0d0, ACK, window 1234. */
static const uint8_t want4[HA_TICKLE_V4_LEN] = {
	0x45, 0x00, 0x00, 0x28, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06,
	0xd4, 0x13, 0xc6, 0x33, 0x64, 0x20, 0xc6, 0x33, 0x64, 0x01,
	0x0c, 0xbc, 0x9c, 0x40, 0x01, 0x02, 0x03, 0x04, 0xa0, 0xb0,
	0xc0, 0xd0, 0x50, 0x10, 0x04, 0xd2, 0x47, 0xf6, 0x00, 0x00};

/* [2001:db8::32]:3260 -> [2001:db8::1]:40000, seq 0, ack 0, ACK,
 * window 1234: the TCP header only. */
static const uint8_t want6[HA_TICKLE_V6_LEN] = {
	0x0c, 0xbc, 0x9c, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x50, 0x10, 0x04, 0xd2, 0xa6, 0x61, 0x00, 0x00};

static void test_v4_packet(void **state)
{
	struct ha_tickle_conn c = conn4();
	uint8_t buf[64];

	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(ha_tickle_build_v4(buf, sizeof(buf), &c, 0x01020304,
					    0xa0b0c0d0, 0x1234),
			 HA_TICKLE_V4_LEN);
	assert_memory_equal(buf, want4, sizeof(want4));
	assert_int_equal(buf[HA_TICKLE_V4_LEN], 0xee); /* nothing beyond */
	/* A correct header sums to 0xffff (checksum 0 after folding). */
	assert_int_equal(ha_csum_fold(ha_csum_add(0, buf, 20)), 0);
}

static void test_v6_packet(void **state)
{
	struct ha_tickle_conn c = conn6();
	uint8_t buf[HA_TICKLE_V6_LEN];

	assert_int_equal(ha_tickle_build_v6(buf, sizeof(buf), &c, 0, 0),
			 HA_TICKLE_V6_LEN);
	assert_memory_equal(buf, want6, sizeof(want6));
}

static void test_bounds(void **state)
{
	struct ha_tickle_conn c4 = conn4(), c6 = conn6();
	uint8_t buf[64];

	assert_int_equal(
		ha_tickle_build_v4(buf, HA_TICKLE_V4_LEN - 1, &c4, 0, 0, 0),
		-ENOSPC);
	assert_int_equal(
		ha_tickle_build_v6(buf, HA_TICKLE_V6_LEN - 1, &c6, 0, 0),
		-ENOSPC);
	assert_int_equal(ha_tickle_build_v4(buf, sizeof(buf), &c6, 0, 0, 0),
			 -EINVAL);
	assert_int_equal(ha_tickle_build_v6(buf, sizeof(buf), &c4, 0, 0),
			 -EINVAL);
}

/* RFC 1071 example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2; an odd
 * length pads with a zero byte. */
static void test_checksum(void **state)
{
	static const uint8_t ex[] = {0x00, 0x01, 0xf2, 0x03,
				     0xf4, 0xf5, 0xf6, 0xf7};
	static const uint8_t odd[] = {0x12, 0x34, 0x56};

	assert_int_equal(ha_csum_add(0, ex, sizeof(ex)), 0xddf2);
	assert_int_equal(ha_csum_fold(ha_csum_add(0, ex, sizeof(ex))),
			 (uint16_t)~0xddf2);
	assert_int_equal(ha_csum_add(0, odd, sizeof(odd)), 0x1234 + 0x5600);
	/* split sums add up (the pseudo-header then the segment) */
	assert_int_equal(ha_csum_add(ha_csum_add(0, ex, 4), ex + 4, 4),
			 ha_csum_add(0, ex, 8));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v4_packet),
		cmocka_unit_test(test_v6_packet),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_checksum),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
