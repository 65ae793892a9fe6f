// SPDX-License-Identifier: Apache-2.0
/* Unit tests for src/iscsi/discovery.c: Text Requests in FFP. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "duet/iscsi.h"
#include "duet/iscsi_login.h"
#include "duet/iscsi_param.h"
#include "log_stub.h"

#define INI "iqn.1994-05.com.redhat:client1"

static char *only_ini[] = {INI};
static char *only_net10[] = {"10.0.0.0/8"};
static struct cfg_target ta = {.name = "iqn.2026-11.org.example:a",
			       .tpgt = 1,
			       .allow_initiators = only_ini,
			       .n_allow_initiators = 1};
static struct cfg_target tb = {.name = "iqn.2026-11.org.example:b", .tpgt = 2};
static struct cfg_target tc = {.name = "iqn.2026-11.org.example:c",
			       .tpgt = 3,
			       .allow_addresses = only_net10,
			       .n_allow_addresses = 1};
static struct cfg_portal portals[] = {
	{.host = "127.0.0.1", .port = 3260},
	{.host = "::1", .port = 3261},
	{.host = "0.0.0.0", .port = 3262},
};
static struct iscsi_params params;

static int setup(void **st)
{
	assert_int_equal(iscsi_target_register(&ta, NULL), 0);
	assert_int_equal(iscsi_target_register(&tb, NULL), 0);
	assert_int_equal(iscsi_target_register(&tc, NULL), 0);
	iscsi_target_set_portals(portals, ARRAY_SIZE(portals));
	iscsi_params_defaults(&params);
	params.max_recv_dsl = 262144;
	params.max_xmit_dsl = 8192;
	return 0;
}

static int teardown(void **st)
{
	iscsi_target_registry_clear();
	return 0;
}

static struct iscsi_text *new_text(enum iscsi_session_type type,
				   const char *ini, const char *peer,
				   const char *local, struct iscsi_target *t)
{
	struct iscsi_text_ctx ctx = {
		.type = type,
		.initiator_name = ini,
		.peer_addr = peer,
		.local_addr = local,
		.local_port = 3262,
		.target = t,
		.params = &params,
	};

	return iscsi_text_new(&ctx);
}

struct req {
	uint8_t bhs[48];
	uint8_t data[70000];
	uint32_t dlen;
};

static void mkreq(struct req *r, uint8_t flags, uint32_t ttt, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	memset(r->bhs, 0, 48);
	r->bhs[0] = ISCSI_OP_TEXT_REQ | ISCSI_OP_IMMEDIATE;
	r->bhs[1] = flags;
	put_be32(r->bhs + ISCSI_BHS_ITT, 0x77);
	put_be32(r->bhs + ISCSI_BHS_TTT, ttt);
	r->dlen = 0;
	if (n) {
		memcpy(r->data, s, n + 1);
		for (size_t i = 0; i < n; i++)
			if (r->data[i] == '|')
				r->data[i] = 0;
		r->dlen = (uint32_t)n + 1;
	}
	iscsi_bhs_set_dlen(r->bhs, r->dlen);
}

static int rx(struct iscsi_text *t, struct req *r, struct iscsi_pdu_out *o)
{
	return iscsi_text_rx(t, r->bhs, r->data, r->dlen, o);
}

/* Response text as one '|'-joined string. */
static char *joined(const struct iscsi_pdu_out *o)
{
	static char buf[70000];

	memcpy(buf, o->data, o->dlen);
	buf[o->dlen] = 0;
	for (size_t i = 0; o->dlen && i < o->dlen - 1; i++)
		if (!buf[i])
			buf[i] = '|';
	if (o->dlen)
		buf[o->dlen - 1] = 0;
	return buf;
}

static void test_sendtargets_all_discovery(void **st)
{
	struct iscsi_text *t = new_text(ISCSI_SESSION_DISCOVERY, INI,
					"127.0.0.1", "192.168.1.5", NULL);
	struct iscsi_pdu_out o;
	struct req r;

	mkreq(&r, ISCSI_FLAG_FINAL, ISCSI_RESERVED_TAG, "SendTargets=All");
	assert_int_equal(rx(t, &r, &o), 0);
	assert_int_equal(o.bhs[0], ISCSI_OP_TEXT_RSP);
	assert_int_equal(o.bhs[1], ISCSI_FLAG_FINAL);
	assert_int_equal(get_be32(o.bhs + ISCSI_BHS_ITT), 0x77);
	assert_int_equal(get_be32(o.bhs + ISCSI_BHS_TTT), ISCSI_RESERVED_TAG);
	assert_int_equal(iscsi_bhs_dlen(o.bhs), o.dlen);
	/* c is hidden: the peer is not in 10/8 */
	assert_string_equal(joined(&o), "TargetName=iqn.2026-11.org.example:a|"
					"TargetAddress=127.0.0.1:3260,1|"
					"TargetAddress=[::1]:3261,1|"
					"TargetAddress=192.168.1.5:3262,1|"
					"TargetName=iqn.2026-11.org.example:b|"
					"TargetAddress=127.0.0.1:3260,2|"
					"TargetAddress=[::1]:3261,2|"
					"TargetAddress=192.168.1.5:3262,2");
	iscsi_text_free(t);
}

static void test_sendtargets_acl(void **st)
{
	struct iscsi_text *t =
		new_text(ISCSI_SESSION_DISCOVERY, "iqn.x:other",
			 "::ffff:10.1.2.3", "::ffff:10.0.0.1", NULL);
	struct iscsi_pdu_out o;
	struct req r;

	mkreq(&r, ISCSI_FLAG_FINAL, ISCSI_RESERVED_TAG, "SendTargets=All");
	assert_int_equal(rx(t, &r, &o), 0);
	/* a is hidden (initiator), c is visible (mapped peer in 10/8);
	 * the wildcard portal shows the local IPv4 address */
	assert_string_equal(joined(&o), "TargetName=iqn.2026-11.org.example:b|"
					"TargetAddress=127.0.0.1:3260,2|"
					"TargetAddress=[::1]:3261,2|"
					"TargetAddress=10.0.0.1:3262,2|"
					"TargetName=iqn.2026-11.org.example:c|"
					"TargetAddress=127.0.0.1:3260,3|"
					"TargetAddress=[::1]:3261,3|"
					"TargetAddress=10.0.0.1:3262,3");
	/* one target by name; a hidden one gives nothing */
	mkreq(&r, ISCSI_FLAG_FINAL, ISCSI_RESERVED_TAG,
	      "SendTargets=iqn.2026-11.org.example:c");
	assert_int_equal(rx(t, &r, &o), 0);
	assert_non_null(strstr(joined(&o), "TargetName=iqn.2026-11.org."
					   "example:c|"));
	assert_null(strstr(joined(&o), ":b"));
	mkreq(&r, ISCSI_FLAG_FINAL, ISCSI_RESERVED_TAG,
	      "SendTargets=iqn.2026-11.org.example:a");
	assert_int_equal(rx(t, &r, &o), 0);
	assert_int_equal(o.dlen, 0);
	/* empty SendTargets in a discovery session */
	mkreq(&r, ISCSI_FLAG_FINAL, ISCSI_RESERVED_TAG, "SendTargets=");
	assert_int_equal(rx(t, &r, &o), 0);
	assert_string_equal(joined(&o), "SendTargets=Reject");
	iscsi_text_free(t);
}

static void test_sendtargets_normal(void **st)
{
	struct iscsi_text *t =
		new_text(ISCSI_SESSION_NORMAL, INI, "127.0.0.1", "::1",
			 iscsi_target_find("iqn.2026-11.org.example:b"));
	struct iscsi_pdu_out o;
	struct req r;
	const char *own = "TargetName=iqn.2026-11.org.example:b|"
			  "TargetAddress=127.0.0.1:3260,2|"
			  "TargetAddress=[::1]:3261,2|"
			  "TargetAddress=[::1]:3262,2";

	mkreq(&r, ISCSI_FLAG_FINAL, ISCSI_RESERVED_TAG, "SendTargets=");
	assert_int_equal(rx(t, &r, &o), 0);
	assert_string_equal(joined(&o), own);
	mkreq(&r, ISCSI_FLAG_FINAL, ISCSI_RESERVED_TAG, "SendTargets=All");
	assert_int_equal(rx(t, &r, &o), 0);
	assert_string_equal(joined(&o), own);
	iscsi_text_free(t);
}

static void test_other_keys(void **st)
{
	struct iscsi_text *t = new_text(ISCSI_SESSION_NORMAL, INI, "127.0.0.1",
					"127.0.0.1", NULL);
	struct iscsi_pdu_out o;
	struct req r;

	assert_int_equal(iscsi_text_max_xmit_dsl(t), 8192);
	mkreq(&r, ISCSI_FLAG_FINAL, ISCSI_RESERVED_TAG,
	      "MaxRecvDataSegmentLength=65536|InitiatorAlias=x|"
	      "MaxBurstLength=512|X-foo=bar|TargetName=iqn.x:y");
	assert_int_equal(rx(t, &r, &o), 0);
	assert_int_equal(iscsi_text_max_xmit_dsl(t), 65536);
	assert_string_equal(joined(&o), "TargetName=Reject|"
					"MaxBurstLength=Reject|"
					"X-foo=NotUnderstood");
	mkreq(&r, ISCSI_FLAG_FINAL, ISCSI_RESERVED_TAG,
	      "MaxRecvDataSegmentLength=100");
	assert_int_equal(rx(t, &r, &o), 0);
	assert_string_equal(joined(&o), "MaxRecvDataSegmentLength=Reject");
	assert_int_equal(iscsi_text_max_xmit_dsl(t), 65536);
	/* empty request, empty answer */
	mkreq(&r, ISCSI_FLAG_FINAL, ISCSI_RESERVED_TAG, NULL);
	assert_int_equal(rx(t, &r, &o), 0);
	assert_int_equal(o.dlen, 0);
	assert_int_equal(o.bhs[1], ISCSI_FLAG_FINAL);
	iscsi_text_free(t);
}

static void test_split_response(void **st)
{
	static struct cfg_target many[40];
	static char names[40][64];
	struct iscsi_text *t;
	struct iscsi_pdu_out o;
	struct req r;
	char *all = calloc(1, 100000);
	size_t total = 0;
	uint32_t ttt;
	int parts = 0;

	for (int i = 0; i < 40; i++) {
		snprintf(names[i], sizeof(names[i]),
			 "iqn.2026-11.org.example:long-target-name-%02d", i);
		many[i].name = names[i];
		many[i].tpgt = 1;
		assert_int_equal(iscsi_target_register(&many[i], NULL), 0);
	}
	params.max_xmit_dsl = 512;
	t = new_text(ISCSI_SESSION_DISCOVERY, INI, "127.0.0.1", "127.0.0.1",
		     NULL);
	mkreq(&r, ISCSI_FLAG_FINAL, ISCSI_RESERVED_TAG, "SendTargets=All");
	assert_int_equal(rx(t, &r, &o), 0);
	for (;;) {
		parts++;
		assert_true(o.dlen <= 512);
		memcpy(all + total, o.data, o.dlen);
		total += o.dlen;
		if (o.bhs[1] & ISCSI_FLAG_FINAL) {
			assert_int_equal(get_be32(o.bhs + ISCSI_BHS_TTT),
					 ISCSI_RESERVED_TAG);
			break;
		}
		assert_int_equal(o.bhs[1], ISCSI_FLAG_TEXT_CONTINUE);
		ttt = get_be32(o.bhs + ISCSI_BHS_TTT);
		assert_int_not_equal(ttt, ISCSI_RESERVED_TAG);
		/* a wrong TTT is a protocol error */
		mkreq(&r, ISCSI_FLAG_FINAL, ttt + 1000, NULL);
		assert_int_equal(rx(t, &r, &o), -EINVAL);
		/* data in a continuation request is a protocol error too */
		mkreq(&r, ISCSI_FLAG_FINAL, ttt, "A=1");
		assert_int_equal(rx(t, &r, &o), -EINVAL);
		mkreq(&r, ISCSI_FLAG_FINAL, ttt, NULL);
		assert_int_equal(rx(t, &r, &o), 0);
	}
	assert_true(parts > 10);
	assert_int_equal(all[total - 1], 0);
	assert_non_null(memmem(all, total,
			       "TargetName=iqn.2026-11.org.example:"
			       "long-target-name-39",
			       52));
	/* restart in the middle: a new request with TTT 0xffffffff */
	mkreq(&r, ISCSI_FLAG_FINAL, ISCSI_RESERVED_TAG, "SendTargets=All");
	assert_int_equal(rx(t, &r, &o), 0);
	ttt = get_be32(o.bhs + ISCSI_BHS_TTT);
	assert_int_equal(o.bhs[1], ISCSI_FLAG_TEXT_CONTINUE);
	mkreq(&r, ISCSI_FLAG_FINAL, ISCSI_RESERVED_TAG,
	      "SendTargets=iqn.2026-11.org.example:b");
	assert_int_equal(rx(t, &r, &o), 0);
	assert_int_equal(o.bhs[1], ISCSI_FLAG_FINAL);
	/* the old TTT is gone */
	mkreq(&r, ISCSI_FLAG_FINAL, ttt, NULL);
	assert_int_equal(rx(t, &r, &o), -EINVAL);
	free(all);
	iscsi_text_free(t);
}

static void test_request_continuation(void **st)
{
	struct iscsi_text *t = new_text(ISCSI_SESSION_DISCOVERY, INI,
					"127.0.0.1", "127.0.0.1", NULL);
	struct iscsi_pdu_out o;
	struct req r;
	uint32_t ttt;

	mkreq(&r, ISCSI_FLAG_TEXT_CONTINUE, ISCSI_RESERVED_TAG, NULL);
	memcpy(r.data, "SendTar", 7);
	r.dlen = 7;
	iscsi_bhs_set_dlen(r.bhs, 7);
	assert_int_equal(rx(t, &r, &o), 0);
	assert_int_equal(o.dlen, 0);
	assert_int_equal(o.bhs[1] & ISCSI_FLAG_FINAL, 0);
	ttt = get_be32(o.bhs + ISCSI_BHS_TTT);
	assert_int_not_equal(ttt, ISCSI_RESERVED_TAG);
	mkreq(&r, ISCSI_FLAG_FINAL, ttt, "gets=iqn.2026-11.org.example:b");
	assert_int_equal(rx(t, &r, &o), 0);
	assert_non_null(strstr(joined(&o), "TargetName=iqn.2026-11.org."
					   "example:b"));
	iscsi_text_free(t);
}

static void test_hostile(void **st)
{
	struct iscsi_text *t = new_text(ISCSI_SESSION_DISCOVERY, INI,
					"127.0.0.1", "127.0.0.1", NULL);
	struct iscsi_pdu_out o;
	struct req r;

	mkreq(&r, ISCSI_FLAG_FINAL, ISCSI_RESERVED_TAG, "SendTargets=All");
	assert_int_equal(iscsi_text_rx(t, r.bhs, r.data, r.dlen - 1, &o),
			 -EINVAL); /* dlen mismatch */
	mkreq(&r, ISCSI_FLAG_FINAL, ISCSI_RESERVED_TAG, "garbage");
	assert_int_equal(rx(t, &r, &o), -EINVAL);
	mkreq(&r, ISCSI_FLAG_FINAL, ISCSI_RESERVED_TAG, "A=1|A=2");
	assert_int_equal(rx(t, &r, &o), -EINVAL);
	mkreq(&r, ISCSI_FLAG_FINAL | ISCSI_FLAG_TEXT_CONTINUE,
	      ISCSI_RESERVED_TAG, "A=1");
	assert_int_equal(rx(t, &r, &o), -EINVAL);
	mkreq(&r, ISCSI_FLAG_FINAL, 5, "A=1"); /* TTT nobody gave */
	assert_int_equal(rx(t, &r, &o), -EINVAL);
	mkreq(&r, ISCSI_FLAG_FINAL, ISCSI_RESERVED_TAG, "A=1");
	r.bhs[0] = ISCSI_OP_LOGIN_REQ;
	assert_int_equal(rx(t, &r, &o), -EINVAL);
	/* bounded accumulation over C-bit requests */
	{
		uint32_t ttt = ISCSI_RESERVED_TAG;
		int rc = 0, i;

		for (i = 0; i < 100 && rc == 0; i++) {
			mkreq(&r, ISCSI_FLAG_TEXT_CONTINUE, ttt, NULL);
			memset(r.data, 'a', 8192);
			r.dlen = 8192;
			iscsi_bhs_set_dlen(r.bhs, 8192);
			rc = rx(t, &r, &o);
			ttt = get_be32(o.bhs + ISCSI_BHS_TTT);
		}
		assert_int_equal(rc, -EINVAL);
		assert_true(i <= ISCSI_TEXT_MAX / 8192 + 1);
	}
	/* still usable afterwards */
	mkreq(&r, ISCSI_FLAG_FINAL, ISCSI_RESERVED_TAG, "SendTargets=All");
	assert_int_equal(rx(t, &r, &o), 0);
	assert_true(o.dlen > 0);
	iscsi_text_free(t);
}

static void test_final_bit_and_itt(void **st)
{
	struct iscsi_text *t = new_text(ISCSI_SESSION_DISCOVERY, INI,
					"127.0.0.1", "127.0.0.1", NULL);
	struct iscsi_pdu_out o;
	struct req r;
	uint32_t ttt;

	/* F=0 request: F=0 answer with a TTT, then the initiator ends it */
	mkreq(&r, 0, ISCSI_RESERVED_TAG,
	      "SendTargets=iqn.2026-11.org.example:b");
	assert_int_equal(rx(t, &r, &o), 0);
	assert_int_equal(o.bhs[1] & ISCSI_FLAG_FINAL, 0);
	ttt = get_be32(o.bhs + ISCSI_BHS_TTT);
	assert_int_not_equal(ttt, ISCSI_RESERVED_TAG);
	assert_non_null(strstr(joined(&o), "example:b"));
	mkreq(&r, ISCSI_FLAG_FINAL, ttt, NULL);
	assert_int_equal(rx(t, &r, &o), 0);
	assert_int_equal(o.bhs[1], ISCSI_FLAG_FINAL);
	assert_int_equal(get_be32(o.bhs + ISCSI_BHS_TTT), ISCSI_RESERVED_TAG);
	assert_int_equal(o.dlen, 0);
	/* that TTT is used up */
	mkreq(&r, ISCSI_FLAG_FINAL, ttt, NULL);
	assert_int_equal(rx(t, &r, &o), -EINVAL);

	/* split response: the follow-up must keep the ITT */
	params.max_xmit_dsl = 512;
	iscsi_text_free(t);
	t = new_text(ISCSI_SESSION_DISCOVERY, "iqn.x:other", "10.0.0.1", "::1",
		     NULL);
	mkreq(&r, ISCSI_FLAG_FINAL, ISCSI_RESERVED_TAG,
	      "SendTargets=All|X-a-very-long-key-name-to-pad-it-out-aaaa=1|"
	      "X-another-long-key-name-to-pad-it-out-bbbbbbbbbb=2|"
	      "X-third-long-key-name-to-pad-it-out-cccccccccccc=3|"
	      "X-fourth-long-key-name-to-pad-it-out-ddddddddddd=4|"
	      "X-fifth-long-key-name-to-pad-it-out-eeeeeeeeeeee=5|"
	      "X-sixth-long-key-name-to-pad-it-out-ffffffffffff=6");
	assert_int_equal(rx(t, &r, &o), 0);
	assert_int_equal(o.bhs[1], ISCSI_FLAG_TEXT_CONTINUE);
	ttt = get_be32(o.bhs + ISCSI_BHS_TTT);
	mkreq(&r, ISCSI_FLAG_FINAL, ttt, NULL);
	put_be32(r.bhs + ISCSI_BHS_ITT, 0x78);
	assert_int_equal(rx(t, &r, &o), -EINVAL);
	put_be32(r.bhs + ISCSI_BHS_ITT, 0x77);
	assert_int_equal(rx(t, &r, &o), 0);
	iscsi_text_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sendtargets_all_discovery,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_sendtargets_acl, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sendtargets_normal, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_other_keys, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_split_response, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_request_continuation,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_final_bit_and_itt, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
