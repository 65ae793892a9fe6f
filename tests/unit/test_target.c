// SPDX-License-Identifier: Apache-2.0
/* Unit tests for src/iscsi/target.c: registry, access lists, portals. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "duet/iscsi.h"
#include "duet/util.h"
#include "log_stub.h"

static int teardown(void **st)
{
	iscsi_target_registry_clear();
	return 0;
}

static void test_registry(void **st)
{
	struct cfg_target a = {.name = "iqn.2026-11.org.example:a"};
	struct cfg_target b = {.name = "iqn.2026-11.org.example:b"};
	struct cfg_target dup = {.name = "IQN.2026-11.org.example:A"};
	struct cfg_target bad = {.name = ""};

	assert_int_equal(iscsi_target_count(), 0);
	assert_int_equal(iscsi_target_register(&a, NULL), 0);
	assert_int_equal(iscsi_target_register(&b, NULL), 0);
	assert_int_equal(iscsi_target_register(&dup, NULL), -EEXIST);
	assert_int_equal(iscsi_target_register(&bad, NULL), -EINVAL);
	assert_int_equal(iscsi_target_count(), 2);
	assert_ptr_equal(iscsi_target_at(0)->cfg, &a);
	assert_ptr_equal(iscsi_target_at(1)->cfg, &b);
	assert_null(iscsi_target_at(2));
	assert_ptr_equal(iscsi_target_find("iqn.2026-11.org.example:b"),
			 iscsi_target_at(1));
	/* names compare case-insensitively */
	assert_ptr_equal(iscsi_target_find("IQN.2026-11.ORG.EXAMPLE:A"),
			 iscsi_target_at(0));
	assert_null(iscsi_target_find("iqn.2026-11.org.example:c"));
	assert_null(iscsi_target_find(NULL));
	iscsi_target_registry_clear();
	assert_int_equal(iscsi_target_count(), 0);
	assert_null(iscsi_target_find("iqn.2026-11.org.example:a"));
}

static void test_acl_open(void **st)
{
	struct cfg_target c = {.name = "iqn.x:t"};
	struct iscsi_target t = {.cfg = &c};

	assert_true(iscsi_target_allows(&t, "iqn.any:one", "10.1.2.3"));
	assert_true(iscsi_target_allows(&t, "iqn.any:one", "fe80::1"));
}

static void test_acl_initiators(void **st)
{
	char *ini[] = {"iqn.1994-05.com.redhat:client1", "iqn.x:two"};
	struct cfg_target c = {.name = "iqn.x:t",
			       .allow_initiators = ini,
			       .n_allow_initiators = 2};
	struct iscsi_target t = {.cfg = &c};

	assert_true(iscsi_target_allows(&t, "iqn.1994-05.com.redhat:client1",
					"1.2.3.4"));
	assert_true(iscsi_target_allows(&t, "IQN.X:TWO", "1.2.3.4"));
	assert_false(iscsi_target_allows(&t, "iqn.x:three", "1.2.3.4"));
	assert_false(iscsi_target_allows(&t, NULL, "1.2.3.4"));
}

static void test_acl_addresses(void **st)
{
	char *addr[] = {
		"192.168.10.0/24", "10.0.0.5", "2001:db8::/32", "::1",
		"172.16.0.0/12",   "bogus",    "1.2.3.4/33",	"fd00::/200"};
	struct cfg_target c = {.name = "iqn.x:t",
			       .allow_addresses = addr,
			       .n_allow_addresses = ARRAY_SIZE(addr)};
	struct iscsi_target t = {.cfg = &c};

	assert_true(iscsi_target_allows(&t, "i", "192.168.10.1"));
	assert_true(iscsi_target_allows(&t, "i", "192.168.10.255"));
	assert_false(iscsi_target_allows(&t, "i", "192.168.11.1"));
	assert_true(iscsi_target_allows(&t, "i", "10.0.0.5"));
	assert_false(iscsi_target_allows(&t, "i", "10.0.0.6"));
	assert_true(iscsi_target_allows(&t, "i", "172.31.255.255"));
	assert_false(iscsi_target_allows(&t, "i", "172.32.0.1"));
	assert_true(iscsi_target_allows(&t, "i", "2001:db8:1::7"));
	assert_false(iscsi_target_allows(&t, "i", "2001:db9::7"));
	assert_true(iscsi_target_allows(&t, "i", "::1"));
	assert_false(iscsi_target_allows(&t, "i", "::2"));
	/* IPv4-mapped IPv6 peers match IPv4 entries */
	assert_true(iscsi_target_allows(&t, "i", "::ffff:192.168.10.9"));
	assert_true(iscsi_target_allows(&t, "i", "::ffff:10.0.0.5"));
	assert_false(iscsi_target_allows(&t, "i", "::ffff:10.0.0.6"));
	/* zone ids are ignored; junk peers are refused */
	assert_true(iscsi_target_allows(&t, "i", "2001:db8::1%eth0"));
	assert_false(iscsi_target_allows(&t, "i", "not-an-address"));
	assert_false(iscsi_target_allows(&t, "i", ""));
	assert_false(iscsi_target_allows(&t, "i", NULL));
	/* malformed entries match nothing (1.2.3.4/33, fd00::/200) */
	assert_false(iscsi_target_allows(&t, "i", "1.2.3.4"));
	assert_false(iscsi_target_allows(&t, "i", "fd00::1"));
}

static void test_acl_both(void **st)
{
	char *ini[] = {"iqn.x:ok"};
	char *addr[] = {"0.0.0.0/0"};
	struct cfg_target c = {.name = "iqn.x:t",
			       .allow_initiators = ini,
			       .n_allow_initiators = 1,
			       .allow_addresses = addr,
			       .n_allow_addresses = 1};
	struct iscsi_target t = {.cfg = &c};

	assert_true(iscsi_target_allows(&t, "iqn.x:ok", "8.8.8.8"));
	assert_true(iscsi_target_allows(&t, "iqn.x:ok", "::ffff:8.8.8.8"));
	assert_false(iscsi_target_allows(&t, "iqn.x:ok", "2001:db8::1"));
	assert_false(iscsi_target_allows(&t, "iqn.x:no", "8.8.8.8"));
}

static void test_portals(void **st)
{
	struct cfg_portal p[2] = {{.host = "127.0.0.1", .port = 3260},
				  {.host = "::1", .port = 3261}};

	assert_int_equal(iscsi_portal_count(), 0);
	assert_null(iscsi_portal_at(0));
	iscsi_target_set_portals(p, 2);
	assert_int_equal(iscsi_portal_count(), 2);
	assert_string_equal(iscsi_portal_at(1)->host, "::1");
	assert_int_equal(iscsi_portal_at(1)->port, 3261);
	assert_null(iscsi_portal_at(2));
	iscsi_target_set_portals(NULL, 5);
	assert_int_equal(iscsi_portal_count(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_registry, teardown),
		cmocka_unit_test(test_acl_open),
		cmocka_unit_test(test_acl_initiators),
		cmocka_unit_test(test_acl_addresses),
		cmocka_unit_test(test_acl_both),
		cmocka_unit_test_teardown(test_portals, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
