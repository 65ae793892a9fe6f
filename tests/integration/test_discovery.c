// SPDX-License-Identifier: Apache-2.0
/* Discovery and login access control against a real duetd. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

#define IQN_A "iqn.2026-11.org.example:duet.a"
#define IQN_B "iqn.2026-11.org.example:duet.b"
#define IQN_DENY_NAME "iqn.2026-11.org.example:duet.hidden-by-name"
#define IQN_DENY_ADDR "iqn.2026-11.org.example:duet.hidden-by-addr"
#define OTHER_INITIATOR "iqn.2026-11.org.example:someone-else"

static struct duet_daemon D;
static bool have_v6;

static bool v6_loopback(void)
{
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
	bool ok;

	if (fd < 0)
		return false;
	s6.sin6_addr = in6addr_loopback;
	ok = bind(fd, (struct sockaddr *)&s6, sizeof(s6)) == 0;
	close(fd);
	return ok;
}

static int setup(void **state)
{
	char text[4096], v6[64] = "";

	if (duet_prepare(&D))
		return -1;
	have_v6 = v6_loopback();
	if (have_v6)
		snprintf(v6, sizeof(v6), ", \"[::1]:%d\"", D.port);
	snprintf(text, sizeof(text),
		 "portals = ( \"127.0.0.1:%d\"%s );\n"
		 "targets = (\n"
		 " { name = \"" IQN_A "\"; alias = \"disk-a\";\n"
		 "   luns = ( { path = \"%s/a.img\"; size = \"8M\"; } ); },\n"
		 " { name = \"" IQN_B "\"; tpgt = 1;\n"
		 "   allow_initiators = ( \"" TEST_INITIATOR "\" );\n"
		 "   allow_addresses = ( \"127.0.0.0/8\", \"::1\" );\n"
		 "   luns = ( { path = \"%s/b.img\"; size = \"8M\"; } ); },\n"
		 " { name = \"" IQN_DENY_NAME "\";\n"
		 "   allow_initiators = ( \"" OTHER_INITIATOR "\" );\n"
		 "   luns = ( { path = \"%s/c.img\"; size = \"8M\"; } ); },\n"
		 " { name = \"" IQN_DENY_ADDR "\";\n"
		 "   allow_addresses = ( \"10.99.0.0/16\" );\n"
		 "   luns = ( { path = \"%s/d.img\"; size = \"8M\"; } ); }\n"
		 ");\n",
		 D.port, v6, D.dir, D.dir, D.dir, D.dir);
	return duet_fixture_config(&D, text);
}

static int teardown(void **state)
{
	return duet_fixture_stop(&D);
}

static struct iscsi_discovery_address *discover(struct iscsi_context **pctx,
						const char *initiator)
{
	struct iscsi_context *ctx = iscsi_create_context(initiator);
	struct iscsi_discovery_address *da;

	assert_non_null(ctx);
	iscsi_set_session_type(ctx, ISCSI_SESSION_DISCOVERY);
	iscsi_set_noautoreconnect(ctx, 1);
	iscsi_set_timeout(ctx, 10);
	if (iscsi_connect_sync(ctx, D.portal) || iscsi_login_sync(ctx))
		fail_msg("discovery login: %s", iscsi_get_error(ctx));
	da = iscsi_discovery_sync(ctx);
	if (!da)
		fail_msg("SendTargets: %s", iscsi_get_error(ctx));
	*pctx = ctx;
	return da;
}

static const struct iscsi_discovery_address *
find(const struct iscsi_discovery_address *da, const char *name)
{
	for (; da; da = da->next)
		if (!strcmp(da->target_name, name))
			return da;
	return NULL;
}

static bool has_portal(const struct iscsi_discovery_address *a,
		       const char *prefix)
{
	for (const struct iscsi_target_portal *p = a->portals; p; p = p->next)
		if (!strncmp(p->portal, prefix, strlen(prefix)))
			return true;
	return false;
}

static void test_sendtargets_all(void **state)
{
	struct iscsi_context *ctx;
	struct iscsi_discovery_address *da = discover(&ctx, TEST_INITIATOR);
	const char *names[] = {IQN_A, IQN_B};
	char v4[64], v6[64];

	snprintf(v4, sizeof(v4), "127.0.0.1:%d,1", D.port);
	snprintf(v6, sizeof(v6), "[::1]:%d,1", D.port);
	for (size_t i = 0; i < NELEM(names); i++) {
		const struct iscsi_discovery_address *a = find(da, names[i]);

		if (!a)
			fail_msg("%s missing from SendTargets=All", names[i]);
		if (!has_portal(a, v4))
			fail_msg("%s: portal %s not listed", names[i], v4);
		if (have_v6 && !has_portal(a, v6))
			fail_msg("%s: portal %s not listed", names[i], v6);
	}
	assert_null(find(da, IQN_DENY_NAME));
	assert_null(find(da, IQN_DENY_ADDR));
	iscsi_free_discovery_data(ctx, da);
	iscsi_logout_sync(ctx);
	iscsi_destroy_context(ctx);
}

static void test_sendtargets_other_initiator(void **state)
{
	struct iscsi_context *ctx;
	struct iscsi_discovery_address *da = discover(&ctx, OTHER_INITIATOR);

	assert_non_null(find(da, IQN_A));
	assert_non_null(find(da, IQN_DENY_NAME));
	assert_null(find(da, IQN_B));
	assert_null(find(da, IQN_DENY_ADDR));
	iscsi_free_discovery_data(ctx, da);
	iscsi_logout_sync(ctx);
	iscsi_destroy_context(ctx);
}

static int raw_login_status(const char *iqn)
{
	struct raw_conn c = {.fd = raw_connect(D.port)};
	int rc;

	assert_true(c.fd >= 0);
	rc = raw_login(&c, iqn, NULL);
	raw_close(&c);
	return rc;
}

static void test_login_wrong_target(void **state)
{
	struct duet_iscsi_opts o;

	duet_iscsi_opts_init(&o);
	assert_null(
		duet_iscsi_login(&D, "iqn.2026-11.org.example:nope", 0, &o));
	/* 0x0203: initiator error, target not found */
	assert_int_equal(raw_login_status("iqn.2026-11.org.example:nope"),
			 0x0203);
	assert_int_equal(duet_check_serving(&D, IQN_A), 0);
}

static void test_login_denied(void **state)
{
	assert_null(duet_iscsi_login(&D, IQN_DENY_NAME, 0, NULL));
	/* 0x0202: initiator error, authorization failure */
	assert_int_equal(raw_login_status(IQN_DENY_NAME), 0x0202);
	assert_int_equal(raw_login_status(IQN_DENY_ADDR), 0x0202);
	assert_int_equal(duet_check_serving(&D, IQN_B), 0);
}

static void test_login_ipv6(void **state)
{
	struct iscsi_context *ctx;
	char portal[64];

	if (!have_v6)
		skip(); /* no IPv6 loopback in this environment */
	snprintf(portal, sizeof(portal), "[::1]:%d", D.port);
	ctx = iscsi_create_context(TEST_INITIATOR);
	assert_non_null(ctx);
	iscsi_set_targetname(ctx, IQN_B);
	iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
	iscsi_set_noautoreconnect(ctx, 1);
	iscsi_set_timeout(ctx, 10);
	if (iscsi_full_connect_sync(ctx, portal, 0))
		fail_msg("IPv6 login: %s", iscsi_get_error(ctx));
	iscsi_logout_sync(ctx);
	iscsi_destroy_context(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sendtargets_all),
		cmocka_unit_test(test_sendtargets_other_initiator),
		cmocka_unit_test(test_login_wrong_target),
		cmocka_unit_test(test_login_denied),
		cmocka_unit_test(test_login_ipv6),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
