// SPDX-License-Identifier: Apache-2.0
/* Unit tests for src/iscsi/param.c: key=value parsing and negotiation. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "duet/iscsi_param.h"
#include "log_stub.h"

/* Build "k=v\0k=v\0" from a '|'-separated string. */
static size_t mk(uint8_t *buf, const char *s)
{
	size_t n = strlen(s);

	memcpy(buf, s, n + 1);
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '|')
			buf[i] = '\0';
	return n + 1;
}

static int parse(const char *s, struct iscsi_kvlist *kv)
{
	uint8_t buf[8192];

	return iscsi_kv_parse(buf, mk(buf, s), kv);
}

/* Look a key up in response text. */
static const char *rsp_get(const struct iscsi_textbuf *b, const char *key)
{
	size_t kl = strlen(key), off = 0;

	while (off < b->len) {
		const char *s = (const char *)b->buf + off;

		if (!strncmp(s, key, kl) && s[kl] == '=')
			return s + kl + 1;
		off += strlen(s) + 1;
	}
	return NULL;
}

static void test_parse_basic(void **st)
{
	struct iscsi_kvlist kv;

	assert_int_equal(parse("A=1|B=|C=x=y", &kv), 0);
	assert_int_equal(kv.n, 3);
	assert_string_equal(iscsi_kv_get(&kv, "A"), "1");
	assert_string_equal(iscsi_kv_get(&kv, "B"), "");
	assert_string_equal(iscsi_kv_get(&kv, "C"), "x=y");
	assert_null(iscsi_kv_get(&kv, "D"));
	iscsi_kv_free(&kv);
	assert_int_equal(iscsi_kv_parse(NULL, 0, &kv), 0);
	assert_int_equal(kv.n, 0);
}

static void test_parse_hostile(void **st)
{
	struct iscsi_kvlist kv;
	uint8_t buf[20000];
	char big[400];

	assert_int_equal(parse("A", &kv), -EINVAL);	/* missing '=' */
	assert_int_equal(parse("=v", &kv), -EINVAL);	/* empty key */
	assert_int_equal(parse("A B=v", &kv), -EINVAL); /* bad key char */
	assert_int_equal(parse("A=1|A=2", &kv), -EEXIST);
	/* no final NUL */
	memcpy(buf, "A=1", 3);
	assert_int_equal(iscsi_kv_parse(buf, 3, &kv), -EINVAL);
	/* 64-byte key */
	memset(big, 'K', 64);
	strcpy(big + 64, "=v");
	assert_int_equal(parse(big, &kv), -EINVAL);
	big[63] = '=';
	big[64] = 'v';
	big[65] = 0;
	assert_int_equal(parse(big, &kv), 0); /* 63 is fine */
	iscsi_kv_free(&kv);
	/* non-UTF-8 values */
	assert_int_equal(parse("A=\xff", &kv), -EINVAL);
	assert_int_equal(parse("A=\xc0\xaf", &kv), -EINVAL);	 /* overlong */
	assert_int_equal(parse("A=\xed\xa0\x80", &kv), -EINVAL); /* surrogate */
	assert_int_equal(parse("A=\xe2\x82", &kv), -EINVAL);	 /* truncated */
	assert_int_equal(parse("A=\xc3\xa9t\xc3\xa9", &kv), 0);
	iscsi_kv_free(&kv);
	/* value over 8192 bytes */
	buf[0] = 'A';
	buf[1] = '=';
	memset(buf + 2, 'v', 8193);
	buf[8195] = 0;
	assert_int_equal(iscsi_kv_parse(buf, 8196, &kv), -EINVAL);
	/* too much text */
	assert_int_equal(iscsi_kv_parse(buf, ISCSI_TEXT_MAX + 1, &kv), -EINVAL);
	/* too many keys */
	{
		size_t off = 0;

		for (int i = 0; i < ISCSI_KEYS_MAX + 1; i++)
			off += (size_t)sprintf((char *)buf + off, "K%d=1", i) +
			       1;
		assert_int_equal(iscsi_kv_parse(buf, off, &kv), -EINVAL);
	}
	/* NUL padding between pairs is tolerated */
	memcpy(buf, "A=1\0\0\0B=2\0", 10);
	assert_int_equal(iscsi_kv_parse(buf, 10, &kv), 0);
	assert_int_equal(kv.n, 2);
	iscsi_kv_free(&kv);
}

static void test_numbers(void **st)
{
	uint64_t v;
	bool b;

	assert_int_equal(iscsi_parse_number("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(iscsi_parse_number("8192", &v), 0);
	assert_int_equal(v, 8192);
	assert_int_equal(iscsi_parse_number("0x2000", &v), 0);
	assert_int_equal(v, 8192);
	assert_int_equal(iscsi_parse_number("0XfF", &v), 0);
	assert_int_equal(v, 255);
	assert_int_equal(iscsi_parse_number("18446744073709551615", &v), 0);
	assert_int_equal(iscsi_parse_number("18446744073709551616", &v),
			 -EINVAL);
	assert_int_equal(iscsi_parse_number("0x10000000000000000", &v),
			 -EINVAL);
	assert_int_equal(iscsi_parse_number("", &v), -EINVAL);
	assert_int_equal(iscsi_parse_number("0x", &v), -EINVAL);
	assert_int_equal(iscsi_parse_number("-1", &v), -EINVAL);
	assert_int_equal(iscsi_parse_number("12a", &v), -EINVAL);
	assert_int_equal(iscsi_parse_number(" 1", &v), -EINVAL);
	assert_int_equal(iscsi_parse_bool("Yes", &b), 0);
	assert_true(b);
	assert_int_equal(iscsi_parse_bool("No", &b), 0);
	assert_false(b);
	assert_int_equal(iscsi_parse_bool("yes", &b), -EINVAL);
	assert_int_equal(iscsi_parse_bool("", &b), -EINVAL);
}

static struct cfg_iscsi cfg;

static int setup(void **st)
{
	memset(&cfg, 0, sizeof(cfg));
	cfg.queue_depth = 128;
	cfg.max_recv_data_segment_length = 262144;
	cfg.max_burst_length = 1048576;
	cfg.first_burst_length = 65536;
	cfg.max_outstanding_r2t = 4;
	cfg.immediate_data = true;
	cfg.initial_r2t = false;
	cfg.header_digest = true;
	cfg.data_digest = true;
	cfg.default_time2wait = 2;
	cfg.default_time2retain = 0;
	return 0;
}

/* Negotiate one request text; returns the rc, response in *out. */
static int neg(struct iscsi_neg *n, enum iscsi_neg_phase ph, const char *s,
	       struct iscsi_textbuf *out)
{
	struct iscsi_kvlist kv;
	int rc;

	assert_int_equal(parse(s, &kv), 0);
	iscsi_textbuf_init(out, ISCSI_TEXT_MAX);
	rc = iscsi_neg_process(n, ph, &kv, out);
	iscsi_kv_free(&kv);
	return rc;
}

static void test_neg_numbers(void **st)
{
	struct iscsi_neg n;
	struct iscsi_textbuf o;

	iscsi_neg_init(&n, &cfg, ISCSI_SESSION_NORMAL, true);
	assert_int_equal(neg(&n, ISCSI_NEG_LOGIN,
			     "MaxBurstLength=16776192|FirstBurstLength=262144|"
			     "MaxOutstandingR2T=16|DefaultTime2Wait=0|"
			     "DefaultTime2Retain=20|ErrorRecoveryLevel=2|"
			     "MaxConnections=8|iSCSIProtocolLevel=2",
			     &o),
			 0);
	assert_string_equal(rsp_get(&o, "MaxBurstLength"), "1048576");
	assert_string_equal(rsp_get(&o, "FirstBurstLength"), "65536");
	assert_string_equal(rsp_get(&o, "MaxOutstandingR2T"), "4");
	assert_string_equal(rsp_get(&o, "DefaultTime2Wait"), "2"); /* max */
	assert_string_equal(rsp_get(&o, "DefaultTime2Retain"), "0");
	assert_string_equal(rsp_get(&o, "ErrorRecoveryLevel"), "0");
	assert_string_equal(rsp_get(&o, "MaxConnections"), "1");
	assert_string_equal(rsp_get(&o, "iSCSIProtocolLevel"), "1");
	assert_int_equal(n.params.max_burst_length, 1048576);
	assert_int_equal(n.params.first_burst_length, 65536);
	assert_int_equal(n.params.max_outstanding_r2t, 4);
	assert_int_equal(n.params.default_time2wait, 2);
	assert_int_equal(n.params.default_time2retain, 0);
	assert_int_equal(n.params.error_recovery_level, 0);
	iscsi_textbuf_free(&o);
}

static void test_neg_first_burst_le_max_burst(void **st)
{
	struct iscsi_neg n;
	struct iscsi_textbuf o;

	iscsi_neg_init(&n, &cfg, ISCSI_SESSION_NORMAL, true);
	/* FirstBurstLength listed first still respects MaxBurstLength. */
	assert_int_equal(neg(&n, ISCSI_NEG_LOGIN,
			     "FirstBurstLength=65536|MaxBurstLength=4096", &o),
			 0);
	assert_string_equal(rsp_get(&o, "MaxBurstLength"), "4096");
	assert_string_equal(rsp_get(&o, "FirstBurstLength"), "4096");
	iscsi_textbuf_free(&o);
	/* Unnegotiated FirstBurstLength default is clamped at the end. */
	iscsi_neg_init(&n, &cfg, ISCSI_SESSION_NORMAL, true);
	assert_int_equal(neg(&n, ISCSI_NEG_LOGIN, "MaxBurstLength=1024", &o),
			 0);
	iscsi_neg_finish(&n);
	assert_int_equal(n.params.first_burst_length, 1024);
	iscsi_textbuf_free(&o);
}

static void test_neg_out_of_range(void **st)
{
	struct iscsi_neg n;
	struct iscsi_textbuf o;

	iscsi_neg_init(&n, &cfg, ISCSI_SESSION_NORMAL, true);
	assert_int_equal(
		neg(&n, ISCSI_NEG_LOGIN,
		    "MaxBurstLength=511|MaxOutstandingR2T=0|"
		    "DefaultTime2Wait=3601|MaxRecvDataSegmentLength=16777216|"
		    "ErrorRecoveryLevel=99999999999999999999999|"
		    "MaxConnections=abc|ImmediateData=maybe",
		    &o),
		0);
	assert_string_equal(rsp_get(&o, "MaxBurstLength"), "Reject");
	assert_string_equal(rsp_get(&o, "MaxOutstandingR2T"), "Reject");
	assert_string_equal(rsp_get(&o, "DefaultTime2Wait"), "Reject");
	assert_string_equal(rsp_get(&o, "MaxRecvDataSegmentLength"), "Reject");
	assert_string_equal(rsp_get(&o, "ErrorRecoveryLevel"), "Reject");
	assert_string_equal(rsp_get(&o, "MaxConnections"), "Reject");
	assert_string_equal(rsp_get(&o, "ImmediateData"), "Reject");
	/* no declaration of ours next to the Reject */
	assert_false(n.declared_mrdsl);
	assert_int_equal(iscsi_neg_declare(&n, &o), 0);
	assert_false(n.declared_mrdsl);
	/* defaults still hold */
	assert_int_equal(n.params.max_burst_length, 262144);
	assert_int_equal(n.params.max_xmit_dsl, 8192);
	iscsi_textbuf_free(&o);
}

static void test_neg_booleans(void **st)
{
	struct iscsi_neg n;
	struct iscsi_textbuf o;

	iscsi_neg_init(&n, &cfg, ISCSI_SESSION_NORMAL, true);
	assert_int_equal(neg(&n, ISCSI_NEG_LOGIN,
			     "InitialR2T=No|ImmediateData=Yes|"
			     "DataPDUInOrder=No|DataSequenceInOrder=No",
			     &o),
			 0);
	assert_string_equal(rsp_get(&o, "InitialR2T"), "No");	   /* OR */
	assert_string_equal(rsp_get(&o, "ImmediateData"), "Yes");  /* AND */
	assert_string_equal(rsp_get(&o, "DataPDUInOrder"), "Yes"); /* OR */
	assert_string_equal(rsp_get(&o, "DataSequenceInOrder"), "Yes");
	assert_false(n.params.initial_r2t);
	assert_true(n.params.immediate_data);
	iscsi_textbuf_free(&o);

	cfg.initial_r2t = true;
	cfg.immediate_data = false;
	iscsi_neg_init(&n, &cfg, ISCSI_SESSION_NORMAL, true);
	assert_int_equal(neg(&n, ISCSI_NEG_LOGIN,
			     "InitialR2T=No|ImmediateData=Yes|"
			     "FirstBurstLength=4096",
			     &o),
			 0);
	assert_string_equal(rsp_get(&o, "InitialR2T"), "Yes");
	assert_string_equal(rsp_get(&o, "ImmediateData"), "No");
	/* InitialR2T=Yes and ImmediateData=No: FirstBurstLength irrelevant */
	assert_string_equal(rsp_get(&o, "FirstBurstLength"), "Irrelevant");
	assert_true(n.params.initial_r2t);
	assert_false(n.params.immediate_data);
	iscsi_textbuf_free(&o);
}

static void test_neg_digests(void **st)
{
	struct iscsi_neg n;
	struct iscsi_textbuf o;

	iscsi_neg_init(&n, &cfg, ISCSI_SESSION_NORMAL, true);
	assert_int_equal(neg(&n, ISCSI_NEG_LOGIN,
			     "HeaderDigest=CRC32C,None|DataDigest=None,CRC32C",
			     &o),
			 0);
	assert_string_equal(rsp_get(&o, "HeaderDigest"), "CRC32C");
	assert_string_equal(rsp_get(&o, "DataDigest"), "None");
	assert_true(n.params.header_digest);
	assert_false(n.params.data_digest);
	iscsi_textbuf_free(&o);

	cfg.header_digest = false;
	iscsi_neg_init(&n, &cfg, ISCSI_SESSION_NORMAL, true);
	assert_int_equal(neg(&n, ISCSI_NEG_LOGIN,
			     "HeaderDigest=CRC32C,None|DataDigest=CRC32C", &o),
			 0);
	assert_string_equal(rsp_get(&o, "HeaderDigest"), "None");
	assert_string_equal(rsp_get(&o, "DataDigest"), "CRC32C");
	iscsi_textbuf_free(&o);

	iscsi_neg_init(&n, &cfg, ISCSI_SESSION_NORMAL, true);
	assert_int_equal(neg(&n, ISCSI_NEG_LOGIN,
			     "HeaderDigest=CRC32C|DataDigest=MD5,,None", &o),
			 0);
	assert_string_equal(rsp_get(&o, "HeaderDigest"), "Reject");
	assert_string_equal(rsp_get(&o, "DataDigest"), "Reject");
	iscsi_textbuf_free(&o);
}

static void test_neg_long_list(void **st)
{
	struct iscsi_neg n;
	struct iscsi_textbuf o;
	char *s = malloc(20000);
	size_t off = (size_t)sprintf(s, "HeaderDigest=");

	for (int i = 0; i < 1000; i++)
		off += (size_t)sprintf(s + off, "%sX%d", i ? "," : "", i);
	strcpy(s + off, ",None");
	iscsi_neg_init(&n, &cfg, ISCSI_SESSION_NORMAL, true);
	assert_int_equal(neg(&n, ISCSI_NEG_LOGIN, s, &o), 0);
	/* over 255 bytes: Reject, never a walk of 1000 entries */
	assert_string_equal(rsp_get(&o, "HeaderDigest"), "Reject");
	iscsi_textbuf_free(&o);
	free(s);
}

static void test_neg_unknown_and_irrelevant(void **st)
{
	struct iscsi_neg n;
	struct iscsi_textbuf o;

	iscsi_neg_init(&n, &cfg, ISCSI_SESSION_DISCOVERY, true);
	assert_int_equal(
		neg(&n, ISCSI_NEG_LOGIN,
		    "X-com.example.foo=1|X#bar=2|Frobnicate=Yes|"
		    "MaxBurstLength=4096|ImmediateData=Yes|"
		    "DefaultTime2Wait=5|IFMarker=Yes|OFMarkInt=2048~2048|"
		    "TargetPortalGroupTag=3|TaskReporting=FastAbort,RFC3720",
		    &o),
		0);
	assert_string_equal(rsp_get(&o, "X-com.example.foo"), "NotUnderstood");
	assert_string_equal(rsp_get(&o, "X#bar"), "NotUnderstood");
	assert_string_equal(rsp_get(&o, "Frobnicate"), "NotUnderstood");
	assert_string_equal(rsp_get(&o, "MaxBurstLength"), "Irrelevant");
	assert_string_equal(rsp_get(&o, "ImmediateData"), "Irrelevant");
	assert_string_equal(rsp_get(&o, "DefaultTime2Wait"), "5");
	assert_string_equal(rsp_get(&o, "IFMarker"), "No");
	assert_string_equal(rsp_get(&o, "OFMarkInt"), "Reject");
	assert_null(rsp_get(&o, "TargetPortalGroupTag")); /* ignored */
	assert_string_equal(rsp_get(&o, "TaskReporting"), "Irrelevant");
	iscsi_textbuf_free(&o);
	/* LO keys on a non-leading connection */
	iscsi_neg_init(&n, &cfg, ISCSI_SESSION_NORMAL, false);
	assert_int_equal(neg(&n, ISCSI_NEG_LOGIN,
			     "MaxBurstLength=4096|HeaderDigest=None|"
			     "TaskReporting=FastAbort,RFC3720",
			     &o),
			 0);
	assert_string_equal(rsp_get(&o, "MaxBurstLength"), "Irrelevant");
	assert_string_equal(rsp_get(&o, "HeaderDigest"), "None");
	iscsi_textbuf_free(&o);
	iscsi_neg_init(&n, &cfg, ISCSI_SESSION_NORMAL, true);
	assert_int_equal(
		neg(&n, ISCSI_NEG_LOGIN, "TaskReporting=FastAbort,RFC3720", &o),
		0);
	assert_string_equal(rsp_get(&o, "TaskReporting"), "RFC3720");
	iscsi_textbuf_free(&o);
}

static void test_neg_mrdsl_declarative(void **st)
{
	struct iscsi_neg n;
	struct iscsi_textbuf o;

	iscsi_neg_init(&n, &cfg, ISCSI_SESSION_NORMAL, true);
	assert_int_equal(neg(&n, ISCSI_NEG_LOGIN,
			     "MaxRecvDataSegmentLength=0x10000", &o),
			 0);
	/* we do not echo theirs, we declare ours */
	assert_string_equal(rsp_get(&o, "MaxRecvDataSegmentLength"), "262144");
	assert_int_equal(n.params.max_xmit_dsl, 65536);
	assert_int_equal(n.params.max_recv_dsl, 262144);
	iscsi_textbuf_free(&o);
	/* declared once only */
	iscsi_textbuf_init(&o, 1000);
	assert_int_equal(iscsi_neg_declare(&n, &o), 0);
	assert_int_equal(o.len, 0);
	iscsi_textbuf_free(&o);
}

static void test_neg_twice_is_error(void **st)
{
	struct iscsi_neg n;
	struct iscsi_textbuf o;

	iscsi_neg_init(&n, &cfg, ISCSI_SESSION_NORMAL, true);
	assert_int_equal(neg(&n, ISCSI_NEG_LOGIN, "MaxBurstLength=4096", &o),
			 0);
	iscsi_textbuf_free(&o);
	assert_int_equal(neg(&n, ISCSI_NEG_LOGIN, "MaxBurstLength=4096", &o),
			 -EPROTO);
	iscsi_textbuf_free(&o);
}

static void test_neg_ffp(void **st)
{
	struct iscsi_neg n;
	struct iscsi_textbuf o;

	iscsi_neg_init(&n, &cfg, ISCSI_SESSION_NORMAL, false);
	assert_int_equal(neg(&n, ISCSI_NEG_FFP,
			     "MaxRecvDataSegmentLength=4096|MaxBurstLength=512|"
			     "HeaderDigest=None|X-foo=1",
			     &o),
			 0);
	assert_null(rsp_get(&o, "MaxRecvDataSegmentLength"));
	assert_int_equal(n.params.max_xmit_dsl, 4096);
	assert_string_equal(rsp_get(&o, "MaxBurstLength"), "Reject");
	assert_string_equal(rsp_get(&o, "HeaderDigest"), "Reject");
	assert_string_equal(rsp_get(&o, "X-foo"), "NotUnderstood");
	iscsi_textbuf_free(&o);
	/* renegotiating again in FFP is allowed */
	assert_int_equal(
		neg(&n, ISCSI_NEG_FFP, "MaxRecvDataSegmentLength=8192", &o), 0);
	assert_int_equal(n.params.max_xmit_dsl, 8192);
	iscsi_textbuf_free(&o);
}

static void test_textbuf_limit(void **st)
{
	struct iscsi_textbuf b;

	iscsi_textbuf_init(&b, 10);
	assert_int_equal(iscsi_textbuf_add(&b, "A", "1234"), 0); /* 7 bytes */
	assert_int_equal(iscsi_textbuf_add(&b, "B", "1"), -ENOSPC);
	assert_int_equal(iscsi_textbuf_add(&b, "B", ""), 0); /* 3 bytes */
	assert_int_equal(b.len, 10);
	assert_memory_equal(b.buf, "A=1234\0B=\0", 10);
	iscsi_textbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_basic),
		cmocka_unit_test(test_parse_hostile),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test_setup(test_neg_numbers, setup),
		cmocka_unit_test_setup(test_neg_first_burst_le_max_burst,
				       setup),
		cmocka_unit_test_setup(test_neg_out_of_range, setup),
		cmocka_unit_test_setup(test_neg_booleans, setup),
		cmocka_unit_test_setup(test_neg_digests, setup),
		cmocka_unit_test_setup(test_neg_long_list, setup),
		cmocka_unit_test_setup(test_neg_unknown_and_irrelevant, setup),
		cmocka_unit_test_setup(test_neg_mrdsl_declarative, setup),
		cmocka_unit_test_setup(test_neg_twice_is_error, setup),
		cmocka_unit_test_setup(test_neg_ffp, setup),
		cmocka_unit_test(test_textbuf_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
