// SPDX-License-Identifier: Apache-2.0
/* Hostile input over raw sockets against a real duetd. After every case
 * the daemon must still serve a normal libiscsi session. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common.h"

static struct duet_daemon D;

static int setup(void **state)
{
	return duet_fixture_quick(&D, TEST_IQN, 1, 32ull << 20);
}

static int teardown(void **state)
{
	return duet_fixture_stop(&D);
}

static void still_serving(void)
{
	if (duet_check_serving(&D, TEST_IQN))
		fail_msg("duetd no longer serves a normal session");
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static void login_ok(struct raw_conn *c, const char *const keys[])
{
	memset(c, 0, sizeof(*c)); /* fresh ISID state, TSIH 0 */
	c->fd = raw_connect(D.port);
	assert_true(c->fd >= 0);
	assert_int_equal(raw_login(c, TEST_IQN, keys), 0);
}

/* After a protocol violation the target answers with a Reject (opcode
 * 0x3f) and/or closes the connection; both are allowed. Returns the reject
 * reason, 0x100 if closed without one. Fails on silence. */
static int reject_or_close(struct raw_conn *c, int timeout_ms)
{
	struct raw_pdu p;
	int rc, reason;

	for (;;) {
		rc = raw_recv_pdu(c, &p, timeout_ms);
		if (rc == -ECONNRESET)
			return 0x100;
		if (rc == -ETIMEDOUT)
			fail_msg("no Reject and no close within %d ms",
				 timeout_ms);
		if (rc)
			return 0x100; /* garbage after close: treat as gone */
		if ((p.bhs[0] & 0x3f) == 0x3f) {
			reason = p.bhs[2];
			raw_pdu_free(&p);
			return reason;
		}
		raw_pdu_free(&p); /* e.g. a NOP-In; keep waiting */
	}
}

static void nop_out(struct raw_conn *c, uint8_t b[48], uint32_t itt,
		    uint32_t dlen)
{
	memset(b, 0, 48);
	b[0] = 0x40; /* immediate NOP-Out */
	b[1] = 0x80;
	b[5] = dlen >> 16;
	b[6] = dlen >> 8;
	b[7] = dlen;
	put32(b + 16, itt);
	put32(b + 20, 0xffffffffu);
	put32(b + 24, c->cmdsn);
	put32(b + 28, c->expstatsn);
}

/* A NOP-Out ping that must be answered by a NOP-In with the same ITT. */
static bool ping(struct raw_conn *c)
{
	uint8_t b[48];
	struct raw_pdu p;
	uint32_t itt = 0x7000 + c->itt++;

	nop_out(c, b, itt, 0);
	if (raw_send_pdu(c, b, NULL, 0))
		return false;
	for (int i = 0; i < 16; i++) {
		if (raw_recv_pdu(c, &p, 5000))
			return false;
		if ((p.bhs[0] & 0x3f) == 0x20 &&
		    ((uint32_t)p.bhs[16] << 24 | (uint32_t)p.bhs[17] << 16 |
		     (uint32_t)p.bhs[18] << 8 | p.bhs[19]) == itt) {
			raw_pdu_free(&p);
			return true;
		}
		raw_pdu_free(&p);
	}
	return false;
}

static void test_truncated_header(void **state)
{
	uint8_t b[48] = {0x43, 0x87};
	int fd = raw_connect(D.port);

	assert_true(fd >= 0);
	assert_int_equal(raw_send_all(fd, b, 20), 0);
	close(fd);

	/* a login header announcing 1000 data bytes, only 10 sent */
	fd = raw_connect(D.port);
	assert_true(fd >= 0);
	b[6] = 0x03;
	b[7] = 0xe8;
	assert_int_equal(raw_send_all(fd, b, 48), 0);
	assert_int_equal(raw_send_all(fd, "InitiatorN", 10), 0);
	close(fd);
	still_serving();
}

static void test_unknown_opcode(void **state)
{
	struct raw_conn c = {.fd = -1};
	uint8_t b[48] = {0};
	int r;

	login_ok(&c, NULL);
	b[0] = 0x0f; /* not an initiator opcode */
	b[1] = 0x80;
	put32(b + 16, 0x1234);
	put32(b + 24, c.cmdsn);
	assert_int_equal(raw_send_pdu(&c, b, NULL, 0), 0);
	r = reject_or_close(&c, 5000);
	if (r != 0x100) {
		/* 0x04 command not supported, 0x09 invalid PDU field,
		 * 0x0a... allow the protocol-error family */
		if (r != 0x04 && r != 0x09 && r != 0x05)
			fail_msg("Reject reason 0x%x for unknown opcode", r);
		/* after a Reject the connection is usable or closed */
		if (!ping(&c))
			assert_true(raw_wait_closed(c.fd, 2000));
	}
	raw_close(&c);
	still_serving();
}

static void test_oversized_segment(void **state)
{
	struct raw_conn c = {.fd = -1};
	uint8_t b[48];
	uint32_t len;
	uint8_t *junk;

	login_ok(&c, NULL);
	len = c.mrdsl + 4096;
	junk = calloc(1, len);
	assert_non_null(junk);
	nop_out(&c, b, 0x55, len);
	/* the target may close while we are still sending: ignore errors */
	(void)raw_send_pdu(&c, b, junk, len);
	(void)reject_or_close(&c, 5000);
	free(junk);
	raw_close(&c);

	/* a 16 MiB declared length (the max of the 24-bit field) */
	login_ok(&c, NULL);
	nop_out(&c, b, 0x56, 0xffffff);
	assert_int_equal(raw_send_pdu(&c, b, NULL, 0), 0);
	(void)reject_or_close(&c, 5000);
	raw_close(&c);
	still_serving();
}

static void test_bad_header_digest(void **state)
{
	const char *keys[] = {"HeaderDigest=CRC32C", NULL};
	struct raw_conn c = {.fd = -1};
	uint8_t b[52];

	login_ok(&c, keys);
	assert_true(c.hdigest);
	assert_true(ping(&c));
	nop_out(&c, b, 0x99, 0);
	memset(b + 48, 0xa5, 4); /* wrong CRC */
	assert_int_equal(raw_send_all(c.fd, b, 52), 0);
	/* ERL 0: header digest error -> the connection is dropped (a reply
	 * to the corrupted PDU would be wrong) */
	if (!raw_wait_closed(c.fd, 10000))
		fail_msg("connection not dropped after a bad header digest");
	raw_close(&c);
	still_serving();
}

static void test_bad_data_digest(void **state)
{
	const char *keys[] = {"DataDigest=CRC32C", "ImmediateData=Yes", NULL};
	struct raw_conn c = {.fd = -1};
	uint8_t b[48], cdb[16] = {0x2a}, data[512 + 4];
	struct raw_pdu p;
	int rc;

	login_ok(&c, keys);
	assert_true(c.ddigest);
	memset(b, 0, 48);
	b[0] = 0x01;
	b[1] = 0x80 | 0x20 | 1;
	b[6] = 0x02; /* 512 bytes of immediate data */
	put32(b + 16, 0x4321);
	put32(b + 20, 512);
	put32(b + 24, c.cmdsn++);
	put32(b + 28, c.expstatsn);
	cdb[8] = 1;
	memcpy(b + 32, cdb, 16);
	memset(data, 0x3c, sizeof(data)); /* last 4 bytes: bogus digest */
	assert_int_equal(raw_send_all(c.fd, b, 48), 0);
	assert_int_equal(raw_send_all(c.fd, data, sizeof(data)), 0);
	/* Reject with reason 0x02 (data digest error), a failed SCSI
	 * Response, or a dropped connection are all acceptable; GOOD is not */
	for (;;) {
		rc = raw_recv_pdu(&c, &p, 10000);
		if (rc == -ECONNRESET)
			break;
		assert_int_equal(rc, 0);
		if ((p.bhs[0] & 0x3f) == 0x3f) {
			assert_int_equal(p.bhs[2], 0x02);
			raw_pdu_free(&p);
			break;
		}
		if ((p.bhs[0] & 0x3f) == 0x21) {
			if (p.bhs[2] == 0 && p.bhs[3] == 0)
				fail_msg("write with bad data digest got GOOD");
			raw_pdu_free(&p);
			break;
		}
		raw_pdu_free(&p);
	}
	raw_close(&c);
	still_serving();
}

static int login_with(const void *keys, uint32_t klen, int timeout_ms)
{
	struct raw_conn c = {.fd = raw_connect(D.port)};
	uint8_t b[48];
	struct raw_pdu p;
	int rc;

	assert_true(c.fd >= 0);
	c.isid[0] = 0x80;
	c.isid[5] = 7;
	raw_login_bhs(&c, b, 1, 3, true, klen);
	(void)raw_send_pdu(&c, b, keys, klen);
	rc = raw_recv_pdu(&c, &p, timeout_ms);
	if (rc == 0 && (p.bhs[0] & 0x3f) == 0x3f) {
		/* a Reject (e.g. segment over the login MRDSL): the login
		 * cannot go on; treat as refused */
		raw_pdu_free(&p);
		rc = 0x10001;
	} else if (rc == 0) {
		if ((p.bhs[0] & 0x3f) != 0x23)
			fail_msg("login answered with opcode 0x%x",
				 p.bhs[0] & 0x3f);
		rc = p.bhs[36] << 8 | p.bhs[37];
		raw_pdu_free(&p);
	} else if (rc == -ECONNRESET) {
		rc = 0x10000; /* closed */
	} else {
		fail_msg("no answer to a bad login within %d ms (%d)",
			 timeout_ms, rc);
	}
	raw_close(&c);
	return rc;
}

static void test_garbage_login_keys(void **state)
{
	static const char g1[] = "\xff\xfe\x01garbage\0=novalue\0Key\0"
				 "InitiatorName=\0TargetName=x=y=z\0";
	static const char g2[] =
		"InitiatorName=" TEST_INITIATOR "\0TargetName=" TEST_IQN
		"\0SessionType=Bogus\0";
	static const char g3[] =
		"InitiatorName=" TEST_INITIATOR "\0TargetName=" TEST_IQN
		"\0MaxRecvDataSegmentLength=-5"
		"\0MaxBurstLength=99999999999999999999"
		"\0HeaderDigest=MD5\0";
	uint8_t nonul[300];
	int rc;

	rc = login_with(g1, sizeof(g1) - 1, 5000);
	/* class 2 (initiator error) or a closed connection */
	assert_true(rc == 0x10000 || (rc >> 8) == 2);
	rc = login_with(g2, sizeof(g2) - 1, 5000);
	assert_true(rc == 0x10000 || (rc >> 8) == 2);
	rc = login_with(g3, sizeof(g3) - 1, 5000);
	/* out-of-range numbers are a negotiation failure; an unsupported
	 * digest gets Reject/None, so login may succeed: never a crash */
	assert_true(rc == 0x10000 || (rc >> 8) == 2 || rc == 0);
	memset(nonul, 'A', sizeof(nonul)); /* no NUL terminator at all */
	rc = login_with(nonul, sizeof(nonul), 5000);
	assert_true(rc == 0x10000 || (rc >> 8) == 2);
	still_serving();
}

static void test_huge_key_list(void **state)
{
	size_t cap = 4u << 20, off = 0;
	char *k = malloc(cap);
	struct raw_conn c = {.fd = -1};
	uint8_t b[48];
	int rc, sent = 0;

	assert_non_null(k);
	off += (size_t)sprintf(k, "InitiatorName=%s", TEST_INITIATOR) + 1;
	off += (size_t)sprintf(k + off, "TargetName=%s", TEST_IQN) + 1;
	while (off + 64 < 65536)
		off += (size_t)sprintf(k + off, "X-com.example.junk%zu=%0*d",
				       off, 20, 7) +
		       1;
	/* one 64 KiB login PDU (beyond the 8 KiB login MRDSL) */
	rc = login_with(k, (uint32_t)off, 5000);
	assert_true(rc == 0x10000 || rc == 0x10001 || (rc >> 8) == 2);

	/* 4 MiB of keys in 8 KiB login PDUs with the C bit: the target must
	 * bound what it buffers and fail or drop the login */
	memset(k, 'a', cap);
	for (size_t i = 0; i + 100 <= cap; i += 100)
		k[i] = 0, k[i + 1] = 'K', k[i + 50] = '=';
	c.fd = raw_connect(D.port);
	assert_true(c.fd >= 0);
	{
		struct timeval tv = {.tv_sec = 5};

		setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	c.isid[0] = 0x80;
	for (size_t o = 0; o < cap; o += 8192) {
		raw_login_bhs(&c, b, 1, 3, false, 8192);
		b[1] |= 0x40; /* C: continue */
		if (raw_send_pdu(&c, b, k + o, 8192))
			goto send_failed;
		sent++;
		/* the target answers each C PDU with an empty response, or
		 * an error: drain without blocking */
		struct pollfd pfd = {.fd = c.fd, .events = POLLIN};
		while (poll(&pfd, 1, 0) > 0) {
			struct raw_pdu p;

			if (raw_recv_pdu(&c, &p, 1000))
				goto out;
			if ((p.bhs[0] & 0x3f) == 0x23 && p.bhs[36]) {
				raw_pdu_free(&p);
				goto out;
			}
			raw_pdu_free(&p);
		}
	}
	fail_msg("target accepted %d continued login PDUs (4 MiB of keys)",
		 sent);
send_failed:
	/* the target stopped reading: it must drop the connection by the
	 * login timeout (15 s default) */
	if (!raw_wait_closed(c.fd, 20000))
		fail_msg("target neither read nor dropped a login after %d "
			 "continued PDUs",
			 sent);
out:
	raw_close(&c);
	free(k);
	still_serving();
}

static void test_pdus_before_login(void **state)
{
	struct raw_conn c = {.fd = raw_connect(D.port)};
	uint8_t b[48] = {0};
	struct raw_pdu p;
	int rc;

	assert_true(c.fd >= 0);
	b[0] = 0x01; /* SCSI READ(10) as the first PDU */
	b[1] = 0xc1;
	put32(b + 20, 512);
	b[32] = 0x28;
	b[40] = 1;
	assert_int_equal(raw_send_pdu(&c, b, NULL, 0), 0);
	rc = raw_recv_pdu(&c, &p, 5000);
	if (rc == 0) {
		/* only a Login Response with an error or a Reject */
		int op = p.bhs[0] & 0x3f;

		assert_true(op == 0x23 || op == 0x3f);
		if (op == 0x23)
			assert_int_not_equal(p.bhs[36], 0);
		raw_pdu_free(&p);
	} else {
		assert_int_equal(rc, -ECONNRESET);
	}
	raw_close(&c);

	/* a Logout and a Text request before login */
	for (int op = 0x04; op <= 0x06; op += 2) {
		c.fd = raw_connect(D.port);
		assert_true(c.fd >= 0);
		memset(b, 0, 48);
		b[0] = (uint8_t)op;
		b[1] = 0x80;
		assert_int_equal(raw_send_pdu(&c, b, NULL, 0), 0);
		rc = raw_recv_pdu(&c, &p, 5000);
		if (rc == 0) {
			int rop = p.bhs[0] & 0x3f;

			assert_true(rop == 0x23 || rop == 0x3f);
			raw_pdu_free(&p);
		} else {
			assert_int_equal(rc, -ECONNRESET);
		}
		raw_close(&c);
	}
	still_serving();
}

static void test_dataout_unknown_ttt(void **state)
{
	struct raw_conn c = {.fd = -1};
	uint8_t b[48] = {0}, data[512] = {1};

	login_ok(&c, NULL);
	b[0] = 0x05;
	b[1] = 0x80;
	b[6] = 0x02; /* 512 bytes */
	put32(b + 16, 0xabcd);
	put32(b + 20, 0x5678);
	put32(b + 28, c.expstatsn);
	assert_int_equal(raw_send_pdu(&c, b, data, sizeof(data)), 0);
	/* RFC 7143 allows a Reject, silently discarding it, or dropping the
	 * connection; if the connection stays, it must still answer pings
	 * (ping() skips a Reject that arrives first). */
	if (!ping(&c))
		assert_true(raw_wait_closed(c.fd, 2000));
	raw_close(&c);
	still_serving();
}

static void test_connection_storm(void **state)
{
	enum { BATCH = 200, ROUNDS = 15 };
	int fds[BATCH];

	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < BATCH; i++) {
			fds[i] = raw_connect(D.port);
			if (fds[i] < 0)
				fail_msg("connect %d of round %d failed", i, r);
			if (i % 3 == 0) /* some send half a header */
				(void)raw_send_all(fds[i], "\x43\x87\0\0", 4);
		}
		for (int i = 0; i < BATCH; i++)
			close(fds[i]);
	}
	still_serving();
}

static void test_nop_flood(void **state)
{
	struct raw_conn c = {.fd = -1};
	uint8_t b[48];
	struct timeval tv = {.tv_sec = 5};
	int sent = 0;

	login_ok(&c, NULL);
	setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* 50000 pings without reading a single answer */
	for (int i = 0; i < 50000; i++) {
		nop_out(&c, b, 0x10000 + (uint32_t)i, 0);
		if (raw_send_pdu(&c, b, NULL, 0))
			break;
		sent++;
	}
	raw_close(&c);
	assert_true(sent > 0);
	still_serving();

	/* and a flood whose answers are read: all must come back */
	login_ok(&c, NULL);
	for (int i = 0; i < 2000; i++)
		if (!ping(&c))
			fail_msg("ping %d unanswered", i);
	raw_close(&c);
	still_serving();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_truncated_header),
		cmocka_unit_test(test_unknown_opcode),
		cmocka_unit_test(test_oversized_segment),
		cmocka_unit_test(test_bad_header_digest),
		cmocka_unit_test(test_bad_data_digest),
		cmocka_unit_test(test_garbage_login_keys),
		cmocka_unit_test(test_huge_key_list),
		cmocka_unit_test(test_pdus_before_login),
		cmocka_unit_test(test_dataout_unknown_ttt),
		cmocka_unit_test(test_connection_storm),
		cmocka_unit_test(test_nop_flood),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
