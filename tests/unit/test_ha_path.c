// SPDX-License-Identifier: Apache-2.0
/* Client path: damping and aggregation with fake time; address parsing
 * and the carrier decision. No sockets, no sleeps. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "duet/ha_path.h"

static void test_damper_first_up_immediate(void **state)
{
	struct ha_damper d;

	(void)state;
	ha_damper_init(&d, 3000, false);
	assert_int_equal(d.reported, HA_PATH_UNKNOWN);
	assert_int_equal(ha_damper_deadline(&d), 0);
	assert_int_equal(ha_damper_input(&d, HA_PATH_UP, 100), HA_PATH_WENT_UP);
	assert_int_equal(ha_damper_input(&d, HA_PATH_UP, 200),
			 HA_PATH_NO_CHANGE);
	assert_int_equal(ha_damper_deadline(&d), 0);
}

static void test_damper_down_now_up_later(void **state)
{
	struct ha_damper d;

	(void)state;
	ha_damper_init(&d, 3000, false);
	ha_damper_input(&d, HA_PATH_UP, 0);
	/* down is reported at once */
	assert_int_equal(ha_damper_input(&d, HA_PATH_DOWN, 1000),
			 HA_PATH_WENT_DOWN);
	assert_int_equal(ha_damper_input(&d, HA_PATH_DOWN, 1001),
			 HA_PATH_NO_CHANGE);
	/* up only after 3000 ms of stability */
	assert_int_equal(ha_damper_input(&d, HA_PATH_UP, 2000),
			 HA_PATH_NO_CHANGE);
	assert_int_equal(ha_damper_deadline(&d), 5000);
	assert_int_equal(ha_damper_tick(&d, 4999), HA_PATH_NO_CHANGE);
	assert_int_equal(d.reported, HA_PATH_DOWN);
	/* repeated "up" inputs do not restart the clock */
	assert_int_equal(ha_damper_input(&d, HA_PATH_UP, 4000),
			 HA_PATH_NO_CHANGE);
	assert_int_equal(ha_damper_deadline(&d), 5000);
	assert_int_equal(ha_damper_tick(&d, 5000), HA_PATH_WENT_UP);
	assert_int_equal(ha_damper_deadline(&d), 0);
	assert_int_equal(ha_damper_tick(&d, 9000), HA_PATH_NO_CHANGE);
	/* an input arriving late enough reports up by itself */
	ha_damper_input(&d, HA_PATH_DOWN, 10000);
	ha_damper_input(&d, HA_PATH_UP, 10000);
	assert_int_equal(ha_damper_input(&d, HA_PATH_UP, 13000),
			 HA_PATH_WENT_UP);
}

static void test_damper_initial_damped(void **state)
{
	struct ha_damper d;

	(void)state;
	ha_damper_init(&d, 500, true);
	assert_int_equal(ha_damper_input(&d, HA_PATH_UP, 0), HA_PATH_NO_CHANGE);
	assert_int_equal(d.reported, HA_PATH_UNKNOWN);
	assert_int_equal(ha_damper_tick(&d, 499), HA_PATH_NO_CHANGE);
	assert_int_equal(ha_damper_tick(&d, 500), HA_PATH_WENT_UP);
	/* initial down is reported at once either way */
	ha_damper_init(&d, 500, true);
	assert_int_equal(ha_damper_input(&d, HA_PATH_DOWN, 0),
			 HA_PATH_WENT_DOWN);
}

static void test_damper_ten_flaps(void **state)
{
	struct ha_damper d;
	uint64_t t = 0;
	int i;

	(void)state;
	ha_damper_init(&d, 3000, false);
	ha_damper_input(&d, HA_PATH_UP, t);
	assert_int_equal(ha_damper_input(&d, HA_PATH_DOWN, t += 10),
			 HA_PATH_WENT_DOWN);
	for (i = 0; i < 10; i++) {
		assert_int_equal(ha_damper_input(&d, HA_PATH_UP, t += 1000),
				 HA_PATH_NO_CHANGE);
		assert_int_equal(ha_damper_tick(&d, t += 2999),
				 HA_PATH_NO_CHANGE);
		assert_int_equal(ha_damper_input(&d, HA_PATH_DOWN, t),
				 HA_PATH_NO_CHANGE);
		assert_int_equal(ha_damper_deadline(&d), 0);
	}
	assert_int_equal(d.flaps, 10);
	assert_int_equal(d.reported, HA_PATH_DOWN);
	ha_damper_input(&d, HA_PATH_UP, t += 1);
	assert_int_equal(ha_damper_tick(&d, t + 3000), HA_PATH_WENT_UP);
}

static void test_damper_ignores_bad_input(void **state)
{
	struct ha_damper d;

	(void)state;
	ha_damper_init(&d, 100, false);
	assert_int_equal(ha_damper_input(&d, HA_PATH_UNKNOWN, 0),
			 HA_PATH_NO_CHANGE);
	assert_int_equal(ha_damper_input(&d, 7, 0), HA_PATH_NO_CHANGE);
	assert_int_equal(d.reported, HA_PATH_UNKNOWN);
	/* zero damping: up reported on the input itself */
	ha_damper_init(&d, 0, true);
	assert_int_equal(ha_damper_input(&d, HA_PATH_UP, 5), HA_PATH_WENT_UP);
}

static void test_agg_carrier_only(void **state)
{
	struct ha_path_agg a;

	(void)state;
	assert_int_equal(ha_path_agg_init(&a, 0, 0), 0);
	assert_int_equal(ha_path_agg_raw(&a), HA_PATH_UNKNOWN);
	ha_path_agg_carrier(&a, true);
	assert_int_equal(ha_path_agg_raw(&a), HA_PATH_UP);
	ha_path_agg_carrier(&a, false);
	assert_int_equal(ha_path_agg_raw(&a), HA_PATH_DOWN);
	ha_path_agg_witness(&a, 0, true); /* no such witness: ignored */
	assert_int_equal(ha_path_agg_raw(&a), HA_PATH_DOWN);
	assert_int_equal(ha_path_agg_init(&a, HA_PATH_MAX_WITNESSES + 1, 1),
			 -EINVAL);
}

static void test_agg_witnesses(void **state)
{
	struct ha_path_agg a;

	(void)state;
	ha_path_agg_init(&a, 2, 2);
	/* carrier down wins even while witnesses are unknown */
	ha_path_agg_carrier(&a, false);
	assert_int_equal(ha_path_agg_raw(&a), HA_PATH_DOWN);
	ha_path_agg_carrier(&a, true);
	assert_int_equal(ha_path_agg_raw(&a), HA_PATH_UNKNOWN);
	ha_path_agg_witness(&a, 1, true);
	assert_int_equal(ha_path_agg_raw(&a), HA_PATH_UP);
	/* one failure is tolerated (fail_max 2) */
	ha_path_agg_witness(&a, 1, false);
	assert_int_equal(ha_path_agg_raw(&a), HA_PATH_UP);
	ha_path_agg_witness(&a, 1, false);
	/* witness 0 still unknown: unknown, not down */
	assert_int_equal(ha_path_agg_raw(&a), HA_PATH_UNKNOWN);
	ha_path_agg_witness(&a, 0, false);
	ha_path_agg_witness(&a, 0, false);
	assert_int_equal(ha_path_agg_raw(&a), HA_PATH_DOWN);
	/* any witness back is enough */
	ha_path_agg_witness(&a, 0, true);
	assert_int_equal(ha_path_agg_raw(&a), HA_PATH_UP);
	assert_int_equal(a.wit[0].fails, 0);
	ha_path_agg_carrier(&a, false);
	assert_int_equal(ha_path_agg_raw(&a), HA_PATH_DOWN);
}

/* The two pieces together, as the monitor uses them. */
static void test_agg_damped(void **state)
{
	struct ha_path_agg a;
	struct ha_damper d;

	(void)state;
	ha_path_agg_init(&a, 1, 1);
	ha_damper_init(&d, 2000, false);
	ha_path_agg_carrier(&a, true);
	ha_path_agg_witness(&a, 0, true);
	assert_int_equal(ha_damper_input(&d, ha_path_agg_raw(&a), 0),
			 HA_PATH_WENT_UP);
	ha_path_agg_witness(&a, 0, false);
	assert_int_equal(ha_damper_input(&d, ha_path_agg_raw(&a), 100),
			 HA_PATH_WENT_DOWN);
	ha_path_agg_witness(&a, 0, true);
	assert_int_equal(ha_damper_input(&d, ha_path_agg_raw(&a), 200),
			 HA_PATH_NO_CHANGE);
	ha_path_agg_carrier(&a, false);
	assert_int_equal(ha_damper_input(&d, ha_path_agg_raw(&a), 1000),
			 HA_PATH_NO_CHANGE);
	ha_path_agg_carrier(&a, true);
	assert_int_equal(ha_damper_input(&d, ha_path_agg_raw(&a), 1500),
			 HA_PATH_NO_CHANGE);
	assert_int_equal(ha_damper_tick(&d, 3499), HA_PATH_NO_CHANGE);
	assert_int_equal(ha_damper_tick(&d, 3500), HA_PATH_WENT_UP);
}

static void test_parse_hostport(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;
	const struct sockaddr_in *s4 = (const void *)&ss;
	const struct sockaddr_in6 *s6 = (const void *)&ss;
	char buf[INET6_ADDRSTRLEN];
	static const char *const bad[] = {
		"",
		"192.0.2.1",
		"192.0.2.1:",
		"192.0.2.1:0",
		"192.0.2.1:65536",
		"192.0.2.1:80x",
		":80",
		"host:80",
		"2001:db8::1:80",
		"[2001:db8::1]",
		"[2001:db8::1]80",
		"[192.0.2.1]:80",
		"[2001:db8::1:80",
		"192.0.2.1:-1",
		"192.0.2.1: 80",
	};
	size_t i;

	(void)state;
	assert_int_equal(ha_path_parse_hostport("192.0.2.7:3260", &ss, &len),
			 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_int_equal(ntohs(s4->sin_port), 3260);
	inet_ntop(AF_INET, &s4->sin_addr, buf, sizeof(buf));
	assert_string_equal(buf, "192.0.2.7");
	assert_int_equal(
		ha_path_parse_hostport("[2001:db8::9]:65535", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_int_equal(ntohs(s6->sin6_port), 65535);
	inet_ntop(AF_INET6, &s6->sin6_addr, buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8::9");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ha_path_parse_hostport(bad[i], &ss, &len) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	assert_int_equal(ha_path_parse_hostport(NULL, &ss, &len), -EINVAL);
}

static void test_link_is_up(void **state)
{
	(void)state;
	assert_true(ha_path_link_is_up(IFF_UP | IFF_LOWER_UP | IFF_RUNNING,
				       IF_OPER_UP));
	assert_true(ha_path_link_is_up(IFF_UP | IFF_RUNNING, -1));
	assert_true(ha_path_link_is_up(IFF_UP | IFF_LOWER_UP, IF_OPER_UNKNOWN));
	assert_false(ha_path_link_is_up(IFF_UP, IF_OPER_UP));
	assert_false(
		ha_path_link_is_up(IFF_LOWER_UP | IFF_RUNNING, IF_OPER_UP));
	assert_false(ha_path_link_is_up(IFF_UP | IFF_LOWER_UP,
					IF_OPER_LOWERLAYERDOWN));
	assert_false(ha_path_link_is_up(IFF_UP | IFF_LOWER_UP, IF_OPER_DOWN));
	assert_false(
		ha_path_link_is_up(IFF_UP | IFF_LOWER_UP, IF_OPER_DORMANT));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_damper_first_up_immediate),
		cmocka_unit_test(test_damper_down_now_up_later),
		cmocka_unit_test(test_damper_initial_damped),
		cmocka_unit_test(test_damper_ten_flaps),
		cmocka_unit_test(test_damper_ignores_bad_input),
		cmocka_unit_test(test_agg_carrier_only),
		cmocka_unit_test(test_agg_witnesses),
		cmocka_unit_test(test_agg_damped),
		cmocka_unit_test(test_parse_hostport),
		cmocka_unit_test(test_link_is_up),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
