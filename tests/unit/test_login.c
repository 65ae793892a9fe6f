// SPDX-License-Identifier: Apache-2.0
/* Unit tests for src/iscsi/login.c: whole login exchanges as PDUs. */
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

#define TGT "iqn.2026-11.org.example:disk0"
#define INI "iqn.1994-05.com.redhat:client1"

static struct cfg_iscsi cfg;
static struct cfg_target tcfg;
static char *allow_ini[] = {INI};
static char *allow_addr[] = {"127.0.0.0/8"};
static int bind_calls;
static int bind_ret;
static struct iscsi_login_result bound;

static int bind_cb(void *arg, const struct iscsi_login_result *res)
{
	bind_calls++;
	bound = *res;
	return bind_ret;
}

static int setup(void **st)
{
	memset(&cfg, 0, sizeof(cfg));
	cfg.queue_depth = 128;
	cfg.max_recv_data_segment_length = 262144;
	/* the RFC defaults where the target would otherwise offer keys the
	 * initiator leaves out (test_target_offers covers the offers) */
	cfg.max_burst_length = 262144;
	cfg.first_burst_length = 65536;
	cfg.max_outstanding_r2t = 1;
	cfg.initial_r2t = true;
	cfg.immediate_data = true;
	cfg.header_digest = true;
	cfg.data_digest = true;
	cfg.default_time2wait = 2;
	memset(&tcfg, 0, sizeof(tcfg));
	tcfg.name = TGT;
	tcfg.alias = "disk0";
	tcfg.tpgt = 7;
	tcfg.allow_initiators = allow_ini;
	tcfg.n_allow_initiators = 1;
	tcfg.allow_addresses = allow_addr;
	tcfg.n_allow_addresses = 1;
	assert_int_equal(iscsi_target_register(&tcfg, NULL), 0);
	bind_calls = 0;
	bind_ret = 0x1234;
	memset(&bound, 0, sizeof(bound));
	return 0;
}

static int teardown(void **st)
{
	iscsi_target_registry_clear();
	return 0;
}

static struct iscsi_login *new_login(const char *peer)
{
	struct iscsi_login_ctx ctx = {
		.cfg = &cfg,
		.peer_addr = peer,
		.local_addr = "127.0.0.1",
		.local_port = 3260,
		.bind = bind_cb,
	};

	return iscsi_login_new(&ctx);
}

struct req {
	uint8_t bhs[48];
	uint8_t data[16384];
	uint32_t dlen;
};

static const uint8_t isid[6] = {0x80, 1, 2, 3, 4, 5};

/* flags: T/C bits | CSG << 2 | NSG; text: '|' separated key=value. */
static void mkreq(struct req *r, uint8_t flags, const char *text)
{
	size_t n = text ? strlen(text) : 0;

	memset(r->bhs, 0, 48);
	r->bhs[0] = ISCSI_OP_LOGIN_REQ | ISCSI_OP_IMMEDIATE;
	r->bhs[1] = flags;
	memcpy(r->bhs + 8, isid, 6);
	put_be32(r->bhs + 16, 0xabcd0001);
	put_be16(r->bhs + 20, 1);  /* CID */
	put_be32(r->bhs + 24, 10); /* CmdSN */
	r->dlen = 0;
	if (n) {
		memcpy(r->data, text, n + 1);
		for (size_t i = 0; i < n; i++)
			if (r->data[i] == '|')
				r->data[i] = 0;
		r->dlen = (uint32_t)n + 1;
	}
	iscsi_bhs_set_dlen(r->bhs, r->dlen);
}

static int send_req(struct iscsi_login *l, struct req *r,
		    struct iscsi_pdu_out *rsp)
{
	return iscsi_login_rx(l, r->bhs, r->data, r->dlen, rsp);
}

static const char *rsp_get(const struct iscsi_pdu_out *rsp, const char *key)
{
	size_t kl = strlen(key), off = 0;

	while (off < rsp->dlen) {
		const char *s = (const char *)rsp->data + off;

		if (!strncmp(s, key, kl) && s[kl] == '=')
			return s + kl + 1;
		off += strlen(s) + 1;
	}
	return NULL;
}

static uint16_t status(const struct iscsi_pdu_out *rsp)
{
	return (uint16_t)(rsp->bhs[36] << 8 | rsp->bhs[37]);
}

#define SEC_TO_OP (ISCSI_FLAG_LOGIN_TRANSIT | 0 << 2 | 1)
#define SEC_TO_FFP (ISCSI_FLAG_LOGIN_TRANSIT | 0 << 2 | 3)
#define OP_TO_FFP (ISCSI_FLAG_LOGIN_TRANSIT | 1 << 2 | 3)
#define SEC_STAY (0 << 2)
#define OP_STAY (1 << 2)

static void test_normal_login(void **st)
{
	struct iscsi_login *l;
	struct iscsi_pdu_out rsp;
	struct req r;
	uint32_t statsn;

	cfg.initial_r2t = false; /* the initiator sends InitialR2T=No */
	l = new_login("127.0.0.1");

	mkreq(&r, SEC_TO_OP,
	      "InitiatorName=" INI "|InitiatorAlias=client1|TargetName=" TGT
	      "|SessionType=Normal|AuthMethod=None");
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_CONTINUE);
	assert_int_equal(rsp.bhs[0], ISCSI_OP_LOGIN_RSP);
	assert_int_equal(rsp.bhs[1], SEC_TO_OP);
	assert_int_equal(status(&rsp), 0);
	assert_memory_equal(rsp.bhs + 8, isid, 6);
	assert_int_equal(get_be16(rsp.bhs + 14), 0);
	assert_int_equal(get_be32(rsp.bhs + 16), 0xabcd0001);
	assert_int_equal(get_be32(rsp.bhs + 28), 10);	    /* ExpCmdSN */
	assert_int_equal(get_be32(rsp.bhs + 32), 10 + 127); /* MaxCmdSN */
	assert_int_equal(iscsi_bhs_dlen(rsp.bhs), rsp.dlen);
	assert_string_equal(rsp_get(&rsp, "AuthMethod"), "None");
	assert_string_equal(rsp_get(&rsp, "TargetPortalGroupTag"), "7");
	assert_string_equal(rsp_get(&rsp, "TargetAlias"), "disk0");
	statsn = get_be32(rsp.bhs + 24);

	mkreq(&r, OP_TO_FFP,
	      "HeaderDigest=CRC32C,None|DataDigest=None|"
	      "MaxRecvDataSegmentLength=65536|ImmediateData=Yes|"
	      "InitialR2T=No|MaxBurstLength=262144|FirstBurstLength=65536|"
	      "ErrorRecoveryLevel=0|X-org.vendor=1");
	put_be32(r.bhs + 28, statsn + 1);
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_DONE);
	assert_int_equal(status(&rsp), 0);
	assert_int_equal(rsp.bhs[1], OP_TO_FFP);
	assert_int_equal(get_be32(rsp.bhs + 24), statsn + 1);
	assert_int_equal(get_be16(rsp.bhs + 14), 0x1234);
	assert_string_equal(rsp_get(&rsp, "HeaderDigest"), "CRC32C");
	assert_string_equal(rsp_get(&rsp, "DataDigest"), "None");
	assert_string_equal(rsp_get(&rsp, "MaxRecvDataSegmentLength"),
			    "262144");
	assert_string_equal(rsp_get(&rsp, "X-org.vendor"), "NotUnderstood");
	assert_null(rsp_get(&rsp, "TargetPortalGroupTag")); /* only once */
	assert_int_equal(bind_calls, 1);

	const struct iscsi_login_result *res = iscsi_login_result(l);
	assert_int_equal(res->type, ISCSI_SESSION_NORMAL);
	assert_string_equal(res->initiator_name, INI);
	assert_string_equal(res->initiator_alias, "client1");
	assert_string_equal(res->target_name, TGT);
	assert_non_null(res->target);
	assert_ptr_equal(res->target, iscsi_target_find(TGT));
	assert_memory_equal(res->isid, isid, 6);
	assert_int_equal(res->tsih, 0);
	assert_int_equal(res->cid, 1);
	assert_int_equal(res->cmdsn, 10);
	assert_int_equal(res->next_statsn, statsn + 2);
	assert_true(res->params.header_digest);
	assert_false(res->params.data_digest);
	assert_int_equal(res->params.max_xmit_dsl, 65536);
	assert_int_equal(res->params.max_recv_dsl, 262144);
	assert_int_equal(res->params.max_burst_length, 262144);
	assert_false(res->params.initial_r2t);
	assert_true(res->params.immediate_data);
	assert_string_equal(bound.initiator_name, INI);

	/* anything after the final response is refused */
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_FAILED);
	assert_int_equal(bind_calls, 1);
	iscsi_login_free(l);
}

static void test_discovery_login(void **st)
{
	struct iscsi_login *l = new_login("10.0.0.1"); /* ACL not checked */
	struct iscsi_pdu_out rsp;
	struct req r;

	mkreq(&r, SEC_TO_FFP,
	      "InitiatorName=iqn.x:other|SessionType=Discovery|"
	      "AuthMethod=CHAP,None|MaxBurstLength=4096");
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_DONE);
	assert_int_equal(status(&rsp), 0);
	assert_string_equal(rsp_get(&rsp, "AuthMethod"), "None");
	assert_string_equal(rsp_get(&rsp, "MaxBurstLength"), "Irrelevant");
	assert_null(rsp_get(&rsp, "TargetPortalGroupTag"));
	assert_non_null(rsp_get(&rsp, "MaxRecvDataSegmentLength"));
	assert_int_equal(iscsi_login_result(l)->type, ISCSI_SESSION_DISCOVERY);
	assert_null(iscsi_login_result(l)->target);
	assert_int_equal(bind_calls, 1);
	iscsi_login_free(l);
}

static void test_skip_security(void **st)
{
	struct iscsi_login *l = new_login("127.0.0.2");
	struct iscsi_pdu_out rsp;
	struct req r;

	mkreq(&r, OP_TO_FFP,
	      "InitiatorName=" INI "|TargetName=" TGT "|DataDigest=CRC32C");
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_DONE);
	assert_int_equal(status(&rsp), 0);
	assert_string_equal(rsp_get(&rsp, "TargetPortalGroupTag"), "7");
	assert_string_equal(rsp_get(&rsp, "DataDigest"), "CRC32C");
	assert_true(iscsi_login_result(l)->params.data_digest);
	iscsi_login_free(l);
}

static void test_stay_in_stage(void **st)
{
	struct iscsi_login *l = new_login("127.0.0.1");
	struct iscsi_pdu_out rsp;
	struct req r;

	/* Security without transit, then transit, then operational twice. */
	mkreq(&r, SEC_STAY, "InitiatorName=" INI "|TargetName=" TGT);
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_CONTINUE);
	assert_int_equal(rsp.bhs[1], SEC_STAY);
	mkreq(&r, SEC_TO_OP, "AuthMethod=None");
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_CONTINUE);
	assert_int_equal(rsp.bhs[1], SEC_TO_OP);
	mkreq(&r, OP_STAY, "MaxBurstLength=8192");
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_CONTINUE);
	assert_string_equal(rsp_get(&rsp, "MaxBurstLength"), "8192");
	mkreq(&r, OP_TO_FFP, NULL);
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_DONE);
	assert_int_equal(iscsi_login_result(l)->params.max_burst_length, 8192);
	assert_int_equal(iscsi_login_result(l)->params.first_burst_length,
			 8192);
	assert_int_equal(bind_calls, 1);
	iscsi_login_free(l);
}

static void test_continuation(void **st)
{
	struct iscsi_login *l = new_login("127.0.0.1");
	struct iscsi_pdu_out rsp;
	struct req r;
	const char *text =
		"InitiatorName=" INI "|TargetName=" TGT "|HeaderDigest=CRC32C";
	uint8_t full[512];
	size_t n = strlen(text) + 1, cut = 20;

	memcpy(full, text, n);
	for (size_t i = 0; i < n; i++)
		if (full[i] == '|')
			full[i] = 0;
	/* first part, split in the middle of a key */
	mkreq(&r, OP_STAY | ISCSI_FLAG_LOGIN_CONTINUE, NULL);
	memcpy(r.data, full, cut);
	r.dlen = (uint32_t)cut;
	iscsi_bhs_set_dlen(r.bhs, r.dlen);
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_CONTINUE);
	assert_int_equal(rsp.dlen, 0);
	assert_int_equal(status(&rsp), 0);
	assert_int_equal(rsp.bhs[1] & ISCSI_FLAG_LOGIN_TRANSIT, 0);
	/* second part */
	mkreq(&r, OP_TO_FFP, NULL);
	memcpy(r.data, full + cut, n - cut);
	r.dlen = (uint32_t)(n - cut);
	iscsi_bhs_set_dlen(r.bhs, r.dlen);
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_DONE);
	assert_string_equal(rsp_get(&rsp, "HeaderDigest"), "CRC32C");
	iscsi_login_free(l);
}

static void test_long_response_split(void **st)
{
	struct iscsi_login *l = new_login("127.0.0.1");
	struct iscsi_pdu_out rsp;
	struct req r;
	char *text = malloc(16384);
	size_t off =
		(size_t)sprintf(text, "InitiatorName=" INI "|TargetName=" TGT);
	size_t total = 0;
	int rc;

	/* 200 unknown keys of ~60 bytes: > 8192 bytes of NotUnderstood */
	for (int i = 0; i < 200; i++)
		off += (size_t)sprintf(
			text + off, "|X-com.example.long.key.number.%03d=1", i);
	mkreq(&r, OP_TO_FFP, NULL);
	memcpy(r.data, text, off + 1);
	for (size_t i = 0; i < off; i++)
		if (r.data[i] == '|')
			r.data[i] = 0;
	r.dlen = (uint32_t)off + 1;
	assert_true(r.dlen <= 8192);
	iscsi_bhs_set_dlen(r.bhs, r.dlen);
	rc = send_req(l, &r, &rsp);
	assert_int_equal(rc, ISCSI_LOGIN_CONTINUE);
	assert_int_equal(rsp.dlen, 8192);
	assert_int_equal(rsp.bhs[1], OP_STAY | ISCSI_FLAG_LOGIN_CONTINUE);
	assert_int_equal(bind_calls, 1);
	total += rsp.dlen;
	/* the initiator sends empty requests to get the rest */
	mkreq(&r, OP_STAY, NULL);
	rc = send_req(l, &r, &rsp);
	assert_int_equal(rc, ISCSI_LOGIN_DONE);
	assert_int_equal(rsp.bhs[1], OP_TO_FFP);
	assert_int_equal(get_be16(rsp.bhs + 14), 0x1234);
	total += rsp.dlen;
	assert_true(total > 8192);
	assert_int_equal(bind_calls, 1);
	free(text);
	iscsi_login_free(l);
}

/* One request, expected failure status. */
static void expect_fail(uint8_t flags, const char *text, const char *peer,
			uint16_t st_expected)
{
	struct iscsi_login *l = new_login(peer);
	struct iscsi_pdu_out rsp;
	struct req r;

	mkreq(&r, flags, text);
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_FAILED);
	assert_int_equal(status(&rsp), st_expected);
	assert_int_equal(rsp.bhs[0], ISCSI_OP_LOGIN_RSP);
	assert_int_equal(rsp.dlen, 0);
	assert_int_equal(get_be32(rsp.bhs + 16), 0xabcd0001);
	assert_int_equal(rsp.bhs[1] & ISCSI_FLAG_LOGIN_TRANSIT, 0);
	iscsi_login_free(l);
}

static void test_failures(void **st)
{
	expect_fail(SEC_TO_OP, "TargetName=" TGT, "127.0.0.1",
		    ISCSI_LOGIN_STATUS_MISSING_FIELDS);
	expect_fail(SEC_TO_OP, "InitiatorName=" INI, "127.0.0.1",
		    ISCSI_LOGIN_STATUS_MISSING_FIELDS);
	expect_fail(SEC_TO_OP, "InitiatorName=" INI "|TargetName=iqn.x:nope",
		    "127.0.0.1", ISCSI_LOGIN_STATUS_TGT_NOT_FOUND);
	expect_fail(SEC_TO_OP, "InitiatorName=iqn.x:stranger|TargetName=" TGT,
		    "127.0.0.1", ISCSI_LOGIN_STATUS_TGT_FORBIDDEN);
	expect_fail(SEC_TO_OP, "InitiatorName=" INI "|TargetName=" TGT,
		    "192.168.1.1", ISCSI_LOGIN_STATUS_TGT_FORBIDDEN);
	expect_fail(SEC_TO_OP,
		    "InitiatorName=" INI "|TargetName=" TGT
		    "|SessionType=Weird",
		    "127.0.0.1", ISCSI_LOGIN_STATUS_NO_SESSION_TYPE);
	expect_fail(SEC_TO_OP,
		    "InitiatorName=" INI "|TargetName=" TGT "|AuthMethod=CHAP",
		    "127.0.0.1", ISCSI_LOGIN_STATUS_AUTH_FAILED);
	{
		char big[400];
		int n = snprintf(big, sizeof(big),
				 "InitiatorName=" INI "|TargetName=" TGT
				 "|AuthMethod=");

		for (; n < 390; n += 5)
			memcpy(big + n, "KRB5,", 5);
		strcpy(big + n, "None");
		expect_fail(SEC_TO_OP, big, "127.0.0.1",
			    ISCSI_LOGIN_STATUS_INIT_ERR);
	}
	/* garbage keys */
	expect_fail(SEC_TO_OP, "InitiatorName=" INI "|garbage", "127.0.0.1",
		    ISCSI_LOGIN_STATUS_INIT_ERR);
	expect_fail(SEC_TO_OP, "InitiatorName=" INI "|InitiatorName=x",
		    "127.0.0.1", ISCSI_LOGIN_STATUS_INIT_ERR);
	/* reserved stages */
	expect_fail(ISCSI_FLAG_LOGIN_TRANSIT | 0 << 2 | 2,
		    "InitiatorName=" INI "|TargetName=" TGT, "127.0.0.1",
		    ISCSI_LOGIN_STATUS_INVALID_REQUEST);
	expect_fail(2 << 2, "InitiatorName=" INI "|TargetName=" TGT,
		    "127.0.0.1", ISCSI_LOGIN_STATUS_INVALID_REQUEST);
	expect_fail(3 << 2, "InitiatorName=" INI "|TargetName=" TGT,
		    "127.0.0.1", ISCSI_LOGIN_STATUS_INVALID_REQUEST);
	/* backwards transition */
	expect_fail(ISCSI_FLAG_LOGIN_TRANSIT | 1 << 2 | 0,
		    "InitiatorName=" INI "|TargetName=" TGT, "127.0.0.1",
		    ISCSI_LOGIN_STATUS_INVALID_REQUEST);
	/* T and C together */
	expect_fail(SEC_TO_OP | ISCSI_FLAG_LOGIN_CONTINUE,
		    "InitiatorName=" INI "|TargetName=" TGT, "127.0.0.1",
		    ISCSI_LOGIN_STATUS_INIT_ERR);
}

static void test_bad_headers(void **st)
{
	struct iscsi_login *l;
	struct iscsi_pdu_out rsp;
	struct req r;

	/* wrong version */
	l = new_login("127.0.0.1");
	mkreq(&r, SEC_TO_OP, "InitiatorName=" INI "|TargetName=" TGT);
	r.bhs[2] = 2;
	r.bhs[3] = 1;
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_FAILED);
	assert_int_equal(status(&rsp), ISCSI_LOGIN_STATUS_NO_VERSION);
	assert_int_equal(rsp.bhs[2], 0);
	assert_int_equal(rsp.bhs[3], 0);
	iscsi_login_free(l);
	/* dlen mismatch */
	l = new_login("127.0.0.1");
	mkreq(&r, SEC_TO_OP, "InitiatorName=" INI "|TargetName=" TGT);
	assert_int_equal(iscsi_login_rx(l, r.bhs, r.data, r.dlen - 1, &rsp),
			 ISCSI_LOGIN_FAILED);
	assert_int_equal(status(&rsp), ISCSI_LOGIN_STATUS_INIT_ERR);
	iscsi_login_free(l);
	/* data segment over 8192 */
	l = new_login("127.0.0.1");
	mkreq(&r, SEC_TO_OP, NULL);
	memset(r.data, 'a', 9000);
	r.dlen = 9000;
	iscsi_bhs_set_dlen(r.bhs, r.dlen);
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_FAILED);
	assert_int_equal(status(&rsp), ISCSI_LOGIN_STATUS_INIT_ERR);
	iscsi_login_free(l);
	/* AHS */
	l = new_login("127.0.0.1");
	mkreq(&r, SEC_TO_OP, "InitiatorName=" INI "|TargetName=" TGT);
	r.bhs[4] = 1;
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_FAILED);
	iscsi_login_free(l);
	/* wrong opcode */
	l = new_login("127.0.0.1");
	mkreq(&r, SEC_TO_OP, "InitiatorName=" INI "|TargetName=" TGT);
	r.bhs[0] = ISCSI_OP_TEXT_REQ;
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_FAILED);
	assert_int_equal(status(&rsp), ISCSI_LOGIN_STATUS_INVALID_REQUEST);
	assert_int_equal(rsp.bhs[0], ISCSI_OP_LOGIN_RSP);
	iscsi_login_free(l);
	/* no final NUL */
	l = new_login("127.0.0.1");
	mkreq(&r, SEC_TO_OP, "InitiatorName=" INI);
	r.dlen--;
	iscsi_bhs_set_dlen(r.bhs, r.dlen);
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_FAILED);
	assert_int_equal(status(&rsp), ISCSI_LOGIN_STATUS_INIT_ERR);
	iscsi_login_free(l);
	assert_int_equal(bind_calls, 0);
}

static void test_mid_login_changes(void **st)
{
	struct iscsi_login *l;
	struct iscsi_pdu_out rsp;
	struct req r;

	/* ISID changes */
	l = new_login("127.0.0.1");
	mkreq(&r, SEC_TO_OP, "InitiatorName=" INI "|TargetName=" TGT);
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_CONTINUE);
	mkreq(&r, OP_TO_FFP, NULL);
	r.bhs[13] ^= 1;
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_FAILED);
	assert_int_equal(status(&rsp), ISCSI_LOGIN_STATUS_INVALID_REQUEST);
	iscsi_login_free(l);
	/* wrong CSG after a transition */
	l = new_login("127.0.0.1");
	mkreq(&r, SEC_TO_OP, "InitiatorName=" INI "|TargetName=" TGT);
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_CONTINUE);
	mkreq(&r, SEC_TO_FFP, NULL);
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_FAILED);
	assert_int_equal(status(&rsp), ISCSI_LOGIN_STATUS_INVALID_REQUEST);
	iscsi_login_free(l);
	/* names declared again, key renegotiated */
	l = new_login("127.0.0.1");
	mkreq(&r, SEC_TO_OP,
	      "InitiatorName=" INI "|TargetName=" TGT "|MaxBurstLength=4096");
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_CONTINUE);
	mkreq(&r, OP_TO_FFP, "MaxBurstLength=8192");
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_FAILED);
	assert_int_equal(status(&rsp), ISCSI_LOGIN_STATUS_INIT_ERR);
	iscsi_login_free(l);
	l = new_login("127.0.0.1");
	mkreq(&r, SEC_TO_OP, "InitiatorName=" INI "|TargetName=" TGT);
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_CONTINUE);
	mkreq(&r, OP_TO_FFP, "TargetName=" TGT);
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_FAILED);
	iscsi_login_free(l);
	assert_int_equal(bind_calls, 0);
}

static void test_bind_refuses(void **st)
{
	struct iscsi_login *l = new_login("127.0.0.1");
	struct iscsi_pdu_out rsp;
	struct req r;

	bind_ret = -ISCSI_LOGIN_STATUS_NO_SESSION;
	mkreq(&r, SEC_TO_FFP, "InitiatorName=" INI "|TargetName=" TGT);
	put_be16(r.bhs + 14, 5); /* TSIH: add a connection */
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_FAILED);
	assert_int_equal(status(&rsp), ISCSI_LOGIN_STATUS_NO_SESSION);
	assert_int_equal(bind_calls, 1);
	assert_int_equal(bound.tsih, 5);
	iscsi_login_free(l);
	/* a non-status errno becomes a target error */
	l = new_login("127.0.0.1");
	bind_ret = -ENOMEM;
	mkreq(&r, SEC_TO_FFP, "InitiatorName=" INI "|TargetName=" TGT);
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_FAILED);
	assert_int_equal(status(&rsp), ISCSI_LOGIN_STATUS_TARGET_ERROR);
	iscsi_login_free(l);
}

static void test_non_leading_lo_keys(void **st)
{
	struct iscsi_login *l = new_login("127.0.0.1");
	struct iscsi_pdu_out rsp;
	struct req r;

	mkreq(&r, OP_TO_FFP,
	      "InitiatorName=" INI "|TargetName=" TGT "|MaxBurstLength=4096");
	put_be16(r.bhs + 14, 5);
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_DONE);
	assert_string_equal(rsp_get(&rsp, "MaxBurstLength"), "Irrelevant");
	iscsi_login_free(l);
}

static void test_misplaced_keys(void **st)
{
	struct iscsi_login *l = new_login("127.0.0.1");
	struct iscsi_pdu_out rsp;
	struct req r;
	uint32_t statsn;

	mkreq(&r, SEC_TO_OP,
	      "InitiatorName=" INI "|TargetName=" TGT "|SendTargets=All|"
	      "TargetAlias=me|TargetPortalGroupTag=9");
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_CONTINUE);
	assert_string_equal(rsp_get(&rsp, "SendTargets"), "Irrelevant");
	/* our own TargetAlias/TPGT, not an echo of theirs */
	assert_string_equal(rsp_get(&rsp, "TargetPortalGroupTag"), "7");
	assert_string_equal(rsp_get(&rsp, "TargetAlias"), "disk0");
	{
		/* and each key once only */
		struct iscsi_kvlist kv;

		assert_int_equal(iscsi_kv_parse(rsp.data, rsp.dlen, &kv), 0);
		iscsi_kv_free(&kv);
	}
	statsn = get_be32(rsp.bhs + 24);
	mkreq(&r, OP_TO_FFP, "AuthMethod=None");
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_DONE);
	assert_string_equal(rsp_get(&rsp, "AuthMethod"), "Irrelevant");
	assert_int_equal(get_be32(rsp.bhs + 24), statsn + 1);
	iscsi_login_free(l);
}

static void test_cid_tsih_change(void **st)
{
	struct iscsi_login *l = new_login("127.0.0.1");
	struct iscsi_pdu_out rsp;
	struct req r;

	mkreq(&r, SEC_TO_OP, "InitiatorName=" INI "|TargetName=" TGT);
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_CONTINUE);
	mkreq(&r, OP_TO_FFP, NULL);
	put_be16(r.bhs + 20, 2);
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_FAILED);
	assert_int_equal(status(&rsp), ISCSI_LOGIN_STATUS_INVALID_REQUEST);
	iscsi_login_free(l);
	l = new_login("127.0.0.1");
	mkreq(&r, SEC_TO_OP, "InitiatorName=" INI "|TargetName=" TGT);
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_CONTINUE);
	mkreq(&r, OP_TO_FFP, NULL);
	put_be16(r.bhs + 14, 9);
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_FAILED);
	iscsi_login_free(l);
	assert_int_equal(bind_calls, 0);
}

/* Drive a login to the end of the operational stage with @op_keys; the
 * target's answer (offers, T=0) is left in *rsp. */
static int offer_login(struct iscsi_login *l, const char *op_keys,
		       struct iscsi_pdu_out *rsp)
{
	struct req r;

	mkreq(&r, SEC_TO_OP,
	      "InitiatorName=" INI "|TargetName=" TGT "|AuthMethod=None");
	assert_int_equal(send_req(l, &r, rsp), ISCSI_LOGIN_CONTINUE);
	mkreq(&r, OP_TO_FFP, op_keys);
	return send_req(l, &r, rsp);
}

/* RFC 7143 6.2: keys the initiator leaves out are offered by the target
 * when its configuration differs from the RFC default; the login waits
 * (T=0) for the answers and takes them as the results. */
static void test_target_offers(void **st)
{
	struct iscsi_login *l;
	struct iscsi_pdu_out rsp;
	const struct iscsi_params *p;
	struct req r;

	cfg.immediate_data = false;
	cfg.initial_r2t = true;
	cfg.max_burst_length = 65536;
	cfg.first_burst_length = 16384;
	cfg.max_outstanding_r2t = 4;
	l = new_login("127.0.0.1");
	assert_int_equal(offer_login(l, "HeaderDigest=None", &rsp),
			 ISCSI_LOGIN_CONTINUE);
	assert_int_equal(status(&rsp), 0);
	assert_int_equal(rsp.bhs[1], OP_STAY); /* T=0: answers due */
	assert_string_equal(rsp_get(&rsp, "ImmediateData"), "No");
	assert_null(rsp_get(&rsp, "InitialR2T")); /* Yes is the default */
	assert_string_equal(rsp_get(&rsp, "MaxBurstLength"), "65536");
	/* InitialR2T=Yes and ImmediateData=No: FirstBurstLength irrelevant */
	assert_null(rsp_get(&rsp, "FirstBurstLength"));
	assert_string_equal(rsp_get(&rsp, "MaxOutstandingR2T"), "4");
	assert_int_equal(bind_calls, 0);
	/* the answers: results of the key's function; nothing is echoed */
	mkreq(&r, OP_TO_FFP,
	      "ImmediateData=No|MaxBurstLength=32768|MaxOutstandingR2T=2");
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_DONE);
	assert_int_equal(status(&rsp), 0);
	assert_null(rsp_get(&rsp, "ImmediateData"));
	assert_null(rsp_get(&rsp, "MaxBurstLength"));
	assert_null(rsp_get(&rsp, "MaxOutstandingR2T"));
	p = &iscsi_login_result(l)->params;
	assert_false(p->immediate_data);
	assert_true(p->initial_r2t);
	assert_int_equal(p->max_burst_length, 32768);
	assert_int_equal(p->max_outstanding_r2t, 2);
	assert_int_equal(bind_calls, 1);
	iscsi_login_free(l);

	/* InitialR2T=No offered when the initiator is silent; with
	 * immediate data on, FirstBurstLength is offered too */
	cfg.immediate_data = true;
	cfg.initial_r2t = false;
	cfg.max_outstanding_r2t = 1;
	l = new_login("127.0.0.1");
	assert_int_equal(offer_login(l, "MaxBurstLength=65536", &rsp),
			 ISCSI_LOGIN_CONTINUE);
	assert_string_equal(rsp_get(&rsp, "InitialR2T"), "No");
	assert_null(rsp_get(&rsp, "ImmediateData"));
	assert_string_equal(rsp_get(&rsp, "MaxBurstLength"), "65536");
	assert_string_equal(rsp_get(&rsp, "FirstBurstLength"), "16384");
	assert_null(rsp_get(&rsp, "MaxOutstandingR2T"));
	mkreq(&r, OP_TO_FFP, "InitialR2T=Yes|FirstBurstLength=Reject");
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_DONE);
	p = &iscsi_login_result(l)->params;
	assert_true(p->initial_r2t);			/* Yes OR No */
	assert_int_equal(p->first_burst_length, 65536); /* RFC default */
	iscsi_login_free(l);
}

/* Answers a result function cannot give are an initiator error; an
 * initiator that asks to transit again without answering keeps the RFC
 * defaults; no offers in discovery sessions or when all keys were sent. */
static void test_target_offers_bad_answers(void **st)
{
	static const char *const bad[] = {
		"ImmediateData=Yes",	  /* AND with our No */
		"MaxBurstLength=131072",  /* above our offer (min) */
		"MaxBurstLength=100",	  /* below the key's range */
		"MaxOutstandingR2T=junk", /* not a number */
	};
	struct iscsi_login *l;
	struct iscsi_pdu_out rsp;
	struct req r;

	cfg.immediate_data = false;
	cfg.initial_r2t = true;
	cfg.max_burst_length = 65536;
	cfg.max_outstanding_r2t = 4;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		l = new_login("127.0.0.1");
		assert_int_equal(offer_login(l, NULL, &rsp),
				 ISCSI_LOGIN_CONTINUE);
		mkreq(&r, OP_TO_FFP, bad[i]);
		assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_FAILED);
		assert_int_equal(status(&rsp), ISCSI_LOGIN_STATUS_INIT_ERR);
		iscsi_login_free(l);
	}
	/* no answer at all: defaults stay, the login completes */
	l = new_login("127.0.0.1");
	assert_int_equal(offer_login(l, NULL, &rsp), ISCSI_LOGIN_CONTINUE);
	mkreq(&r, OP_TO_FFP, NULL);
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_DONE);
	assert_true(iscsi_login_result(l)->params.immediate_data);
	assert_int_equal(iscsi_login_result(l)->params.max_outstanding_r2t, 1);
	iscsi_login_free(l);
	/* every key sent: nothing to offer, one round trip */
	l = new_login("127.0.0.1");
	assert_int_equal(offer_login(l,
				     "ImmediateData=Yes|InitialR2T=No|"
				     "MaxBurstLength=262144|"
				     "FirstBurstLength=65536|"
				     "MaxOutstandingR2T=8",
				     &rsp),
			 ISCSI_LOGIN_DONE);
	assert_false(iscsi_login_result(l)->params.immediate_data);
	assert_int_equal(iscsi_login_result(l)->params.max_outstanding_r2t, 4);
	iscsi_login_free(l);
	/* discovery: nothing is offered */
	l = new_login("127.0.0.1");
	mkreq(&r, SEC_TO_FFP,
	      "InitiatorName=" INI "|SessionType=Discovery|AuthMethod=None");
	assert_int_equal(send_req(l, &r, &rsp), ISCSI_LOGIN_DONE);
	assert_null(rsp_get(&rsp, "ImmediateData"));
	iscsi_login_free(l);
}

static void test_continuation_bounded(void **st)
{
	struct iscsi_login *l = new_login("127.0.0.1");
	struct iscsi_pdu_out rsp;
	struct req r;
	uint32_t statsn = 0;
	int rc = ISCSI_LOGIN_CONTINUE, i;

	for (i = 0; i < 100 && rc == ISCSI_LOGIN_CONTINUE; i++) {
		mkreq(&r, SEC_STAY | ISCSI_FLAG_LOGIN_CONTINUE, NULL);
		memset(r.data, 'a', 8192);
		r.dlen = 8192;
		iscsi_bhs_set_dlen(r.bhs, r.dlen);
		rc = send_req(l, &r, &rsp);
		if (rc == ISCSI_LOGIN_CONTINUE) {
			if (i)
				assert_int_equal(get_be32(rsp.bhs + 24),
						 statsn + 1);
			statsn = get_be32(rsp.bhs + 24);
			assert_int_equal(rsp.dlen, 0);
		}
	}
	assert_int_equal(rc, ISCSI_LOGIN_FAILED);
	assert_int_equal(status(&rsp), ISCSI_LOGIN_STATUS_INIT_ERR);
	assert_true(i <= ISCSI_TEXT_MAX / 8192 + 1);
	iscsi_login_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_normal_login, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_discovery_login, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_skip_security, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stay_in_stage, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_continuation, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_long_response_split, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_headers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mid_login_changes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bind_refuses, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_non_leading_lo_keys, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_misplaced_keys, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cid_tsih_change, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_target_offers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_target_offers_bad_answers,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_continuation_bounded,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
