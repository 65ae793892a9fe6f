// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests for the interconnect link (src/ic/ic_link.c): two links in
 * one event loop over a socketpair or loopback TCP, or one link against a
 * hand-driven fake peer. The loop is driven with EVLOOP_ONCE for a bounded
 * number of iterations and a bounded time; timeouts are 50-300 ms.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <isa-l/crc.h>

#include "duet/ic_link.h"
#include "duet/log.h"
#include "duet/util.h"

#include "ic_test_pair.h"

#define LOG_CAPTURE_ENV "IC_TEST_LOG"
#include "log_capture.h"

/* ---- harness ---- */

static const uint8_t secret_ok[] = "0123456789abcdef-pair0-secret!!";
static const uint8_t secret_bad[] = "0123456789abcdef-pair0-secret!?";

struct side {
	struct ic_link *l;
	int ups, downs, recvs, writables;
	int down_err;
	char down_reason[256];
	struct ic_msg last;
	uint32_t last_dlen;
	uint8_t *last_data;
	bool give_buf;
	uint8_t *buf; /* what get_buf hands out */
	size_t buf_cap;
	uint64_t tags[64];
	int n_tags;
	bool echo; /* answer every SCSI_CMD with a SCSI_RSP */
	uint32_t echo_len;
};

static struct event_base *base;
static struct side A, B;

static void cb_up(struct ic_link *l, void *arg)
{
	((struct side *)arg)->ups++;
}

static void cb_down(struct ic_link *l, int err, const char *reason, void *arg)
{
	struct side *s = arg;

	s->downs++;
	s->down_err = err;
	snprintf(s->down_reason, sizeof(s->down_reason), "%s", reason);
}

static uint8_t *cb_get_buf(struct ic_link *l, const struct ic_msg *m, void *arg)
{
	struct side *s = arg;

	if (!s->give_buf)
		return NULL;
	assert_true(m->hdr.data_len <= s->buf_cap);
	return s->buf;
}

static uint8_t rsp_data[256 * 1024];

static void cb_recv(struct ic_link *l, const struct ic_msg *m, uint8_t *data,
		    uint32_t dlen, void *arg)
{
	struct side *s = arg;

	s->recvs++;
	s->last = *m;
	s->last_dlen = dlen;
	s->last_data = data;
	if (s->n_tags < (int)ARRAY_SIZE(s->tags))
		s->tags[s->n_tags++] = m->hdr.tag;
	if (s->echo && m->hdr.type == IC_SCSI_CMD) {
		struct ic_msg r;

		ic_msg_init(&r, IC_SCSI_RSP, m->hdr.tag, m->hdr.lun);
		r.u.rsp.status = SCSI_STATUS_GOOD;
		r.u.rsp.xfer_len = s->echo_len;
		assert_int_equal(
			ic_link_send(l, &r, rsp_data, s->echo_len, NULL, NULL),
			0);
	}
}

static void cb_writable(struct ic_link *l, void *arg)
{
	((struct side *)arg)->writables++;
}

static const struct ic_link_ops ops = {
	.up = cb_up,
	.down = cb_down,
	.get_buf = cb_get_buf,
	.recv = cb_recv,
	.writable = cb_writable,
};

static void base_cfg(struct ic_link_cfg *c, const char *local, const char *peer)
{
	ic_test_cfg(c, local, peer, secret_ok, sizeof(secret_ok) - 1);
	c->hb_interval_ms = 30;
	c->hb_deadline_ms = 200;
	c->connect_timeout_ms = 300;
	c->backoff_min_ms = 20;
	c->backoff_max_ms = 80;
}

/* Drive the loop until cond() or a bound (iterations, milliseconds). */
static bool run_until(bool (*cond)(void), int max_ms)
{
	uint64_t end = ic_test_mono_ms() + (uint64_t)max_ms;

	for (int i = 0; i < 20000; i++) {
		if (cond && cond())
			return true;
		if (ic_test_mono_ms() >= end)
			break;
		event_base_loop(base, EVLOOP_ONCE);
	}
	return cond ? cond() : true;
}

static bool both_up(void)
{
	return ic_link_is_up(A.l) && ic_link_is_up(B.l);
}

static void new_link(struct side *s, const struct ic_link_cfg *c)
{
	char err[256] = "";

	assert_int_equal(ic_link_new(base, c, &ops, s, &s->l, err, sizeof(err)),
			 0);
}

static int setup(void **state)
{
	memset(&A, 0, sizeof(A));
	memset(&B, 0, sizeof(B));
	log_capture_reset();
	base = event_base_new();
	return base ? 0 : -1;
}

static int teardown(void **state)
{
	ic_link_free(A.l);
	ic_link_free(B.l);
	free(A.buf);
	free(B.buf);
	event_base_free(base);
	return 0;
}

/* Two links a <-> b over a socketpair, with per-side config tweaks. */
static void pair(const struct ic_link_cfg *ca, const struct ic_link_cfg *cb)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	new_link(&A, ca);
	new_link(&B, cb);
	assert_int_equal(ic_link_attach_fd(A.l, sv[0], "sp-b"), 0);
	assert_int_equal(ic_link_attach_fd(B.l, sv[1], "sp-a"), 0);
}

static void pair_default(void)
{
	struct ic_link_cfg ca, cb;

	base_cfg(&ca, "a", "b");
	base_cfg(&cb, "b", "a");
	pair(&ca, &cb);
}

/* ---- tests: handshake ---- */

static void test_handshake_ok(void **state)
{
	struct ic_link_cfg ca, cb;
	struct ic_link_stats st;
	struct ic_msg m;

	base_cfg(&ca, "a", "b");
	base_cfg(&cb, "b", "a");
	ca.max_payload = 1u << 20;
	/* Not up: sending is refused. */
	new_link(&A, &ca);
	ic_msg_init(&m, IC_PATH_STATE, 1, 0);
	assert_int_equal(ic_link_send(A.l, &m, NULL, 0, NULL, NULL), -ENOTCONN);
	ic_link_free(A.l);
	A.l = NULL;

	pair(&ca, &cb);
	assert_true(run_until(both_up, 3000));
	assert_int_equal(A.ups, 1);
	assert_int_equal(B.ups, 1);
	assert_int_equal(ic_link_max_payload(A.l), 1u << 20);
	assert_int_equal(ic_link_max_payload(B.l), 1u << 20);
	ic_link_get_stats(A.l, &st);
	assert_int_equal(st.handshake_failures, 0);
	assert_true(logged("link to b (sp-b) up"));
	/* Heartbeats keep it up well past the deadline. */
	run_until(NULL, 400);
	assert_true(both_up());
	assert_int_equal(A.downs + B.downs, 0);
	ic_link_get_stats(B.l, &st);
	assert_true(st.rx_msgs >= 5); /* heartbeats */
}

static bool both_gone(void)
{
	struct ic_link_stats sa, sb;

	ic_link_get_stats(A.l, &sa);
	ic_link_get_stats(B.l, &sb);
	return sa.handshake_failures && sb.handshake_failures;
}

static void refused_both(const char *why_logged)
{
	struct ic_link_stats sa, sb;

	assert_true(run_until(both_gone, 3000));
	run_until(NULL, 50);
	assert_false(ic_link_is_up(A.l));
	assert_false(ic_link_is_up(B.l));
	assert_int_equal(A.ups + B.ups, 0);
	assert_int_equal(A.recvs + B.recvs, 0);
	ic_link_get_stats(A.l, &sa);
	ic_link_get_stats(B.l, &sb);
	assert_int_equal(sa.ups + sb.ups, 0);
	if (!logged(why_logged))
		fail_msg("expected '%s' in the log:\n%s", why_logged, logbuf);
	assert_true(logged("(sp-b)") || logged("(sp-a)"));
}

static void test_wrong_secret(void **state)
{
	struct ic_link_cfg ca, cb;
	struct ic_link_stats sa, sb;

	base_cfg(&ca, "a", "b");
	base_cfg(&cb, "b", "a");
	cb.secret = secret_bad;
	pair(&ca, &cb);
	refused_both("authentication failed");
	ic_link_get_stats(A.l, &sa);
	ic_link_get_stats(B.l, &sb);
	/* Each side checked the other's proof and refused it. */
	assert_int_equal(sa.auth_failures, 1);
	assert_int_equal(sb.auth_failures, 1);
}

static void test_wrong_cluster(void **state)
{
	struct ic_link_cfg ca, cb;

	base_cfg(&ca, "a", "b");
	base_cfg(&cb, "b", "a");
	cb.cluster = "pair1";
	pair(&ca, &cb);
	refused_both("cluster name mismatch (peer 'pair1', ours 'pair0')");
}

static void test_fingerprint_mismatch(void **state)
{
	struct ic_link_cfg ca, cb;

	base_cfg(&ca, "a", "b");
	base_cfg(&cb, "b", "a");
	cb.fingerprint[31] ^= 1;
	pair(&ca, &cb);
	refused_both("config fingerprint mismatch");
}

static void test_wrong_node_name(void **state)
{
	struct ic_link_cfg ca, cb;

	base_cfg(&ca, "a", "b");
	base_cfg(&cb, "c", "a");
	pair(&ca, &cb);
	refused_both("peer calls itself 'c', expected 'b'");
}

static void test_cfg_refused(void **state)
{
	struct ic_link_cfg c;
	struct ic_link *l = NULL;
	char err[256];

	base_cfg(&c, "a", "a");
	assert_int_equal(ic_link_new(base, &c, &ops, &A, &l, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "both nodes"));
	base_cfg(&c, "a", "b");
	c.secret_len = 8;
	assert_int_equal(ic_link_new(base, &c, &ops, &A, &l, err, sizeof(err)),
			 -EINVAL);
	base_cfg(&c, "a", "b");
	c.peer_addr = "192.0.2.1";
	assert_int_equal(ic_link_new(base, &c, &ops, &A, &l, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "bad peer address"));
	base_cfg(&c, "a", "b");
	c.hb_deadline_ms = c.hb_interval_ms;
	assert_int_equal(ic_link_new(base, &c, &ops, &A, &l, err, sizeof(err)),
			 -EINVAL);
	assert_null(l);
}

/* ---- fake peer: the handshake done by hand with the codec ---- */

static void fd_timeout(int fd)
{
	struct timeval tv = {.tv_sec = 2};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

static void read_full(int fd, uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k;

		/* Let the link under test write what it has queued. */
		event_base_loop(base, EVLOOP_NONBLOCK);
		k = read(fd, p, n);
		assert_true(k > 0);
		p += k;
		n -= (size_t)k;
	}
}

/* Read one frame from fd; returns fields length, fields in f. */
static uint32_t fake_read(int fd, struct ic_msg *m, uint8_t *f)
{
	uint8_t h[IC_HDR_LEN];
	struct ic_hdr hdr;
	uint32_t flen;

	read_full(fd, h, sizeof(h));
	assert_int_equal(ic_hdr_decode(h, IC_MAX_PAYLOAD_LIMIT, &hdr), 0);
	assert_int_equal(hdr.data_len, 0);
	flen = ic_hdr_fields_len(&hdr);
	read_full(fd, f, flen);
	assert_int_equal(ic_msg_decode(&hdr, f, flen, m), 0);
	return flen;
}

static void fake_write(int fd, struct ic_msg *m, uint8_t *keep_fields,
		       uint32_t *keep_len)
{
	uint8_t buf[IC_MAX_FRAME];
	int n = ic_msg_encode(m, 0, buf, sizeof(buf));

	assert_true(n > 0);
	assert_int_equal(write(fd, buf, (size_t)n), n);
	if (keep_fields) {
		*keep_len = (uint32_t)n - IC_HDR_LEN;
		memcpy(keep_fields, buf + IC_HDR_LEN, *keep_len);
	}
}

static bool a_up(void)
{
	return ic_link_is_up(A.l);
}

static bool a_down(void)
{
	return A.downs > 0;
}

/* Link A ("a") against a fake "b" on fd; returns the fake's fd. */
static int fake_peer_up(void)
{
	struct ic_link_cfg ca;
	struct ic_msg m;
	uint8_t their[IC_MAX_FRAME], ours[IC_MAX_FRAME];
	uint32_t tlen, olen;
	int sv[2];

	base_cfg(&ca, "a", "b");
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fd_timeout(sv[1]);
	new_link(&A, &ca);
	assert_int_equal(ic_link_attach_fd(A.l, sv[0], "fake-b"), 0);
	tlen = fake_read(sv[1], &m, their);
	assert_int_equal(m.hdr.type, IC_HELLO);
	assert_string_equal(m.u.hello.node, "a");

	ic_msg_init(&m, IC_HELLO, 0, 0);
	m.u.hello.min_version = m.u.hello.max_version = 1;
	m.u.hello.max_payload = IC_MAX_PAYLOAD_LIMIT;
	memset(m.u.hello.nonce, 0x77, IC_NONCE_LEN);
	memset(m.u.hello.fingerprint, 0x42, IC_FP_LEN);
	strcpy(m.u.hello.cluster, "pair0");
	strcpy(m.u.hello.node, "b");
	fake_write(sv[1], &m, ours, &olen);
	ic_msg_init(&m, IC_HELLO_AUTH, 0, 0);
	assert_int_equal(ic_auth_mac(secret_ok, sizeof(secret_ok) - 1, ours,
				     olen, their, tlen, m.u.auth.mac),
			 0);
	fake_write(sv[1], &m, NULL, NULL);
	assert_true(run_until(a_up, 3000));
	/* A's proof checks out with an independent computation. */
	fake_read(sv[1], &m, their + 2048);
	assert_int_equal(m.hdr.type, IC_HELLO_AUTH);
	assert_int_equal(ic_auth_verify(secret_ok, sizeof(secret_ok) - 1, their,
					tlen, ours, olen, m.u.auth.mac),
			 0);
	return sv[1];
}

static void test_heartbeat_timeout(void **state)
{
	uint64_t t0;
	int fd = fake_peer_up();

	/* The fake peer now goes silent. */
	t0 = ic_test_mono_ms();
	assert_true(run_until(a_down, 3000));
	assert_true(ic_test_mono_ms() - t0 >= 200 - 60);
	assert_int_equal(A.down_err, -ETIMEDOUT);
	assert_non_null(strstr(A.down_reason, "heartbeat deadline missed"));
	assert_true(logged("link to b (fake-b) down: heartbeat deadline"));
	close(fd);
}

static void test_unknown_type_answered(void **state)
{
	int fd = fake_peer_up();
	uint8_t h[IC_HDR_LEN + 16], f[IC_MAX_FRAME];
	struct ic_msg m;
	struct ic_link_stats st;

	/* Type 99 with 8 bytes of fields and 8 of data: skipped, answered. */
	memset(h, 0, sizeof(h));
	{
		struct ic_msg t;
		uint8_t tmp[IC_MAX_FRAME];

		/* Build a valid header by encoding a HEARTBEAT (16 bytes of
		 * fields) and patching type + lengths + CRCs by hand. */
		ic_msg_init(&t, IC_HEARTBEAT, 1234, 0);
		assert_int_equal(ic_msg_encode(&t, 0, tmp, sizeof(tmp)),
				 IC_HDR_LEN + 16);
		memcpy(h, tmp, IC_HDR_LEN + 16);
		h[5] = 99;
		put_be32(h + 8, 16);
		put_be32(h + 12, 8); /* 8 fields + 8 data */
		put_be32(h + 36, crc32_iscsi(h, 36, 0xffffffffu));
	}
	assert_int_equal(write(fd, h, sizeof(h)), (ssize_t)sizeof(h));
	/* Drain heartbeats until the ERROR shows up. */
	for (int i = 0; i < 50; i++) {
		fake_read(fd, &m, f);
		if (m.hdr.type == IC_ERROR)
			break;
	}
	assert_int_equal(m.hdr.type, IC_ERROR);
	assert_int_equal(m.u.error.code, IC_ERR_UNKNOWN_TYPE);
	assert_int_equal(m.u.error.bad_type, 99);
	assert_int_equal(m.hdr.tag, 1234);
	run_until(NULL, 20);
	assert_true(ic_link_is_up(A.l));
	assert_int_equal(A.recvs, 0);
	ic_link_get_stats(A.l, &st);
	assert_int_equal(st.unknown_types, 1);
	/* The stream is still in sync: a PATH_STATE after it is delivered. */
	ic_msg_init(&m, IC_PATH_STATE, 5, 0);
	m.u.path.state = IC_PATH_UP;
	fake_write(fd, &m, NULL, NULL);
	assert_true(run_until(NULL, 50));
	assert_int_equal(A.recvs, 1);
	assert_int_equal(A.last.hdr.type, IC_PATH_STATE);
	close(fd);
}

static bool a_got(void);
static void fill_cmd(struct ic_msg *m, uint64_t tag, uint8_t dir, uint32_t len);

static uint32_t tcrc(const uint8_t *p, size_t n)
{
	return crc32_iscsi((unsigned char *)p, (int)n, 0xffffffffu);
}

/* After the handshake: an invalid SCSI_CMD (a READ that carries data) is
 * answered with ERROR(BAD_MESSAGE, same tag) and its data skipped; then a
 * frame whose fields checksum is wrong takes the link down. */
static void test_bad_messages_up(void **state)
{
	int fd = fake_peer_up();
	uint8_t buf[IC_MAX_FRAME + 512], f[IC_MAX_FRAME];
	struct ic_link_stats st;
	struct ic_msg m;
	int n;

	fill_cmd(&m, 0xbad, SCSI_DIR_WRITE, 512);
	n = ic_msg_encode(&m, 512, buf, sizeof(buf));
	assert_true(n > 0);
	buf[IC_HDR_LEN + 1] = SCSI_DIR_READ; /* now contradicts the data */
	put_be32(buf + 32, tcrc(buf + IC_HDR_LEN, (size_t)n - IC_HDR_LEN));
	put_be32(buf + 36, tcrc(buf, 36));
	memset(buf + n, 0xdd, 512);
	assert_int_equal(write(fd, buf, (size_t)n + 512), n + 512);
	for (int i = 0; i < 50; i++) {
		fake_read(fd, &m, f);
		if (m.hdr.type == IC_ERROR)
			break;
	}
	assert_int_equal(m.hdr.type, IC_ERROR);
	assert_int_equal(m.u.error.code, IC_ERR_BAD_MESSAGE);
	assert_int_equal(m.u.error.bad_type, IC_SCSI_CMD);
	assert_int_equal(m.hdr.tag, 0xbad);
	run_until(NULL, 20);
	assert_true(ic_link_is_up(A.l));
	assert_int_equal(A.recvs, 0);
	ic_link_get_stats(A.l, &st);
	assert_int_equal(st.bad_msgs, 1);

	/* Still in sync after the skipped data: this one is delivered. */
	ic_msg_init(&m, IC_TAKEOVER_REQ, 9, 0);
	m.u.ha_req.epoch = 3;
	fake_write(fd, &m, NULL, NULL);
	run_until(a_got, 500);
	assert_int_equal(A.last.hdr.type, IC_TAKEOVER_REQ);
	assert_int_equal(A.last.u.ha_req.epoch, 3);

	/* Corrupted fields (header CRC intact): the stream is not trusted. */
	ic_msg_init(&m, IC_TAKEOVER_REQ, 10, 0);
	n = ic_msg_encode(&m, 0, buf, sizeof(buf));
	buf[IC_HDR_LEN] ^= 0x40;
	assert_int_equal(write(fd, buf, (size_t)n), n);
	assert_true(run_until(a_down, 3000));
	assert_non_null(strstr(A.down_reason, "checksum"));
	assert_int_equal(A.recvs, 1);
	close(fd);
}

static bool a_no_conn(void)
{
	struct ic_link_stats st;

	ic_link_get_stats(A.l, &st);
	return st.handshake_failures > 0;
}

/* A fake "b" whose HELLO is altered by tweak(): A must refuse it and say
 * why, both in its log and in an ERROR message to the peer. */
static void hello_refused(void (*tweak)(struct ic_msg *, const struct ic_msg *),
			  const char *why)
{
	struct ic_link_cfg ca;
	struct ic_msg m, theirs;
	uint8_t f[IC_MAX_FRAME];
	int sv[2];

	log_capture_reset();
	base_cfg(&ca, "a", "b");
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fd_timeout(sv[1]);
	new_link(&A, &ca);
	assert_int_equal(ic_link_attach_fd(A.l, sv[0], "fake-b"), 0);
	fake_read(sv[1], &theirs, f);
	ic_msg_init(&m, IC_HELLO, 0, 0);
	m.u.hello.min_version = m.u.hello.max_version = 1;
	m.u.hello.max_payload = IC_MAX_PAYLOAD_LIMIT;
	memset(m.u.hello.nonce, 0x77, IC_NONCE_LEN);
	memset(m.u.hello.fingerprint, 0x42, IC_FP_LEN);
	strcpy(m.u.hello.cluster, "pair0");
	strcpy(m.u.hello.node, "b");
	tweak(&m, &theirs);
	fake_write(sv[1], &m, NULL, NULL);
	assert_true(run_until(a_no_conn, 3000));
	if (!logged(why))
		fail_msg("expected '%s' in the log:\n%s", why, logbuf);
	fake_read(sv[1], &m, f);
	assert_int_equal(m.hdr.type, IC_ERROR);
	assert_int_equal(m.u.error.code, IC_ERR_HANDSHAKE);
	assert_non_null(strstr(m.u.error.reason, why));
	assert_int_equal(A.ups, 0);
	close(sv[1]);
	ic_link_free(A.l);
	A.l = NULL;
}

static void tw_future_version(struct ic_msg *m, const struct ic_msg *t)
{
	m->u.hello.min_version = 2;
	m->u.hello.max_version = 3;
}

static void tw_own_nonce(struct ic_msg *m, const struct ic_msg *t)
{
	memcpy(m->u.hello.nonce, t->u.hello.nonce, IC_NONCE_LEN);
}

static void tw_own_name(struct ic_msg *m, const struct ic_msg *t)
{
	strcpy(m->u.hello.node, "a");
}

static void test_hello_checks(void **state)
{
	hello_refused(tw_future_version,
		      "no common protocol version (peer 2-3, ours 1-1)");
	/* Our own HELLO reflected back: same nonce, then same name. */
	hello_refused(tw_own_nonce, "peer replayed our own nonce");
	hello_refused(tw_own_name, "peer calls itself 'a', expected 'b'");
}

/* An unauthenticated peer sends a SCSI_CMD: refused, never delivered. */
static void test_unauthenticated_cmd(void **state)
{
	struct ic_link_cfg ca;
	struct ic_msg m;
	uint8_t f[IC_MAX_FRAME];
	uint8_t wr[512];
	int sv[2];

	base_cfg(&ca, "a", "b");
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fd_timeout(sv[1]);
	new_link(&A, &ca);
	assert_int_equal(ic_link_attach_fd(A.l, sv[0], "intruder"), 0);
	fake_read(sv[1], &m, f);
	ic_msg_init(&m, IC_SCSI_CMD, 1, 0);
	m.u.cmd.dir = SCSI_DIR_WRITE;
	m.u.cmd.cdb_len = 10;
	m.u.cmd.cdb[0] = 0x2a;
	m.u.cmd.exp_xfer_len = 512;
	strcpy(m.u.cmd.nexus.initiator_name, "iqn.x:evil");
	strcpy(m.u.cmd.nexus.target_name, "iqn.x:t");
	m.u.cmd.nexus.rel_tgt_port_id = 1;
	{
		uint8_t buf[IC_MAX_FRAME];
		int n = ic_msg_encode(&m, sizeof(wr), buf, sizeof(buf));

		assert_true(n > 0);
		memset(wr, 0xee, sizeof(wr));
		assert_int_equal(write(sv[1], buf, (size_t)n), n);
		assert_int_equal(write(sv[1], wr, sizeof(wr)), sizeof(wr));
	}
	assert_true(run_until(a_no_conn, 3000));
	assert_false(ic_link_is_up(A.l));
	assert_int_equal(A.recvs, 0);
	assert_true(logged("intruder"));
	assert_true(logged("unexpected SCSI_CMD during the handshake"));
	close(sv[1]);
}

/* A peer that never finishes the handshake is dropped at the deadline. */
static void test_handshake_timeout(void **state)
{
	struct ic_link_cfg ca;
	int sv[2];

	base_cfg(&ca, "a", "b");
	ca.handshake_timeout_ms = 300;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	new_link(&A, &ca);
	assert_int_equal(ic_link_attach_fd(A.l, sv[0], "mute"), 0);
	assert_true(run_until(a_no_conn, 3000));
	assert_true(logged("handshake not finished within 300 ms"));
	close(sv[1]);
}

/* Garbage instead of a header: logged and closed. */
static void test_garbage_header(void **state)
{
	struct ic_link_cfg ca;
	uint8_t junk[64];
	int sv[2];

	base_cfg(&ca, "a", "b");
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	new_link(&A, &ca);
	assert_int_equal(ic_link_attach_fd(A.l, sv[0], "junk"), 0);
	memset(junk, 'G', sizeof(junk));
	assert_int_equal(write(sv[1], junk, sizeof(junk)), sizeof(junk));
	assert_true(run_until(a_no_conn, 3000));
	assert_true(logged("bad frame header"));
	close(sv[1]);
}

/* ---- data flow ---- */

static uint8_t wdata[256 * 1024];

static bool b_got(void)
{
	return B.recvs >= 1;
}

static bool a_got(void)
{
	return A.recvs >= 1;
}

static void fill_cmd(struct ic_msg *m, uint64_t tag, uint8_t dir, uint32_t len)
{
	ic_msg_init(m, IC_SCSI_CMD, tag, 0x0001000000000000ull);
	m->u.cmd.attr = SCSI_ATTR_SIMPLE;
	m->u.cmd.dir = dir;
	m->u.cmd.cdb_len = 10;
	m->u.cmd.cdb[0] = dir == SCSI_DIR_WRITE ? 0x2a : 0x28;
	m->u.cmd.exp_xfer_len = len;
	strcpy(m->u.cmd.nexus.initiator_name, "iqn.1994-05.com.redhat:c1");
	strcpy(m->u.cmd.nexus.target_name, "iqn.2026-11.org.example:b.d0");
	m->u.cmd.nexus.rel_tgt_port_id = 2;
}

static int done_calls, done_err;

static void on_sent(void *arg, int err)
{
	done_calls++;
	if (err)
		done_err = err;
}

static void test_data_both_ways(void **state)
{
	struct ic_link_stats st;
	struct ic_msg m;

	pair_default();
	B.give_buf = true;
	B.buf_cap = sizeof(wdata);
	B.buf = malloc(B.buf_cap);
	assert_true(run_until(both_up, 3000));
	for (size_t i = 0; i < sizeof(wdata); i++)
		wdata[i] = (uint8_t)(i * 131 + (i >> 9));
	for (size_t i = 0; i < sizeof(rsp_data); i++)
		rsp_data[i] = (uint8_t)(i * 17 + 5);

	/* A -> B: a 256 KiB write lands in B's own buffer. */
	fill_cmd(&m, 0xa1, SCSI_DIR_WRITE, sizeof(wdata));
	done_calls = 0;
	assert_int_equal(
		ic_link_send(A.l, &m, wdata, sizeof(wdata), on_sent, NULL), 0);
	assert_true(run_until(b_got, 3000));
	assert_int_equal(done_calls, 1);
	assert_int_equal(B.last.hdr.type, IC_SCSI_CMD);
	assert_int_equal(B.last.hdr.tag, 0xa1);
	assert_int_equal(B.last.hdr.lun, 0x0001000000000000ull);
	assert_string_equal(B.last.u.cmd.nexus.initiator_name,
			    "iqn.1994-05.com.redhat:c1");
	assert_int_equal(B.last_dlen, sizeof(wdata));
	assert_ptr_equal(B.last_data, B.buf);
	assert_memory_equal(B.buf, wdata, sizeof(wdata));
	/* Most of it was read straight into place, the rest copied once. */
	ic_link_get_stats(B.l, &st);
	assert_int_equal(st.rx_data_direct + st.rx_data_copied, sizeof(wdata));
	assert_true(st.rx_data_direct >= sizeof(wdata) / 2);

	/* B -> A: a 200 KiB read response, into the link's own buffer. */
	ic_msg_init(&m, IC_SCSI_RSP, 0xa1, 0x0001000000000000ull);
	m.u.rsp.status = SCSI_STATUS_GOOD;
	m.u.rsp.xfer_len = 200 * 1024;
	assert_int_equal(
		ic_link_send(B.l, &m, rsp_data, 200 * 1024, NULL, NULL), 0);
	assert_true(run_until(a_got, 3000));
	assert_int_equal(A.last.hdr.type, IC_SCSI_RSP);
	assert_int_equal(A.last.hdr.tag, 0xa1);
	assert_int_equal(A.last_dlen, 200 * 1024);
	assert_memory_equal(A.last_data, rsp_data, 200 * 1024);
}

static bool b_got_8(void)
{
	return B.recvs >= 8;
}

/* Back-to-back big writes: after the first, each message's data lands in
 * place; only the small read-ahead past a header is ever copied. */
static void test_big_data_in_place(void **state)
{
	struct ic_link_stats st;
	struct ic_msg m;

	pair_default();
	B.give_buf = true;
	B.buf_cap = 128 * 1024;
	B.buf = malloc(B.buf_cap);
	assert_true(run_until(both_up, 3000));
	for (size_t i = 0; i < sizeof(wdata); i++)
		wdata[i] = (uint8_t)(i * 7 + (i >> 11));
	for (int i = 0; i < 8; i++) {
		fill_cmd(&m, 0xb0 + (uint64_t)i, SCSI_DIR_WRITE, 128 * 1024);
		assert_int_equal(
			ic_link_send(A.l, &m, wdata, 128 * 1024, NULL, NULL),
			0);
	}
	assert_true(run_until(b_got_8, 3000));
	assert_int_equal(B.last.hdr.tag, 0xb7);
	assert_memory_equal(B.buf, wdata, 128 * 1024);
	ic_link_get_stats(B.l, &st);
	assert_int_equal(st.rx_data_direct + st.rx_data_copied, 8 * 128 * 1024);
	/* The first message may be read ahead with the whole 64K buffer. */
	assert_true(st.rx_data_copied <= 64 * 1024 + 7 * 1024);
}

static bool a_got_32(void)
{
	return A.recvs >= 32;
}

/* 32 reads in flight, answered in order, tags echoed. */
static void test_many_in_flight(void **state)
{
	struct ic_msg m;

	pair_default();
	B.echo = true;
	B.echo_len = 4096;
	assert_true(run_until(both_up, 3000));
	for (int i = 0; i < 32; i++) {
		fill_cmd(&m, 1000 + (uint64_t)i, SCSI_DIR_READ, 4096);
		assert_int_equal(ic_link_send(A.l, &m, NULL, 0, NULL, NULL), 0);
	}
	assert_true(run_until(a_got_32, 3000));
	for (int i = 0; i < 32; i++) {
		assert_int_equal(B.tags[i], 1000 + (uint64_t)i);
		assert_int_equal(A.tags[i], 1000 + (uint64_t)i);
	}
	assert_int_equal(A.last_dlen, 4096);
	assert_memory_equal(A.last_data, rsp_data, 4096);
}

/* A message the negotiated maximum does not allow is refused locally. */
static void test_send_limits(void **state)
{
	struct ic_link_cfg ca, cb;
	struct ic_msg m;

	base_cfg(&ca, "a", "b");
	base_cfg(&cb, "b", "a");
	cb.max_payload = IC_MAX_PAYLOAD_MIN;
	pair(&ca, &cb);
	assert_true(run_until(both_up, 3000));
	assert_int_equal(ic_link_max_payload(A.l), IC_MAX_PAYLOAD_MIN);
	fill_cmd(&m, 1, SCSI_DIR_WRITE, IC_MAX_PAYLOAD_MIN);
	assert_int_equal(
		ic_link_send(A.l, &m, wdata, IC_MAX_PAYLOAD_MIN, NULL, NULL),
		-EINVAL);
	ic_msg_init(&m, IC_HEARTBEAT, 1, 0);
	assert_int_equal(ic_link_send(A.l, &m, NULL, 0, NULL, NULL), -EINVAL);
}

/* Past the high water mark send says -ENOBUFS, then writable fires. */
static void test_backpressure(void **state)
{
	struct ic_link_cfg ca, cb;
	struct ic_msg m;
	int queued = 0, rc = 0;

	base_cfg(&ca, "a", "b");
	base_cfg(&cb, "b", "a");
	ca.tx_high_water = 64 * 1024;
	pair(&ca, &cb);
	assert_true(run_until(both_up, 3000));
	done_calls = 0;
	for (int i = 0; i < 100; i++) {
		fill_cmd(&m, (uint64_t)i, SCSI_DIR_WRITE, 16 * 1024);
		rc = ic_link_send(A.l, &m, wdata, 16 * 1024, on_sent, NULL);
		if (rc)
			break;
		queued++;
	}
	assert_int_equal(rc, -ENOBUFS);
	assert_true(queued >= 4 && queued <= 6);
	assert_true(run_until(NULL, 100));
	assert_int_equal(done_calls, queued);
	assert_int_equal(A.writables, 1);
	assert_int_equal(B.recvs, queued);
}

static bool a_down_b_down(void)
{
	return A.downs && B.downs;
}

/* Dropping the link fails queued sends before down() runs. */
static int done_before_down;

static void on_sent_check(void *arg, int err)
{
	on_sent(arg, err);
	if (!A.downs)
		done_before_down++;
}

static void test_drop_fails_queued(void **state)
{
	struct ic_msg m;

	pair_default();
	assert_true(run_until(both_up, 3000));
	done_calls = done_err = done_before_down = 0;
	for (int i = 0; i < 3; i++) {
		fill_cmd(&m, (uint64_t)i, SCSI_DIR_WRITE, 4096);
		assert_int_equal(
			ic_link_send(A.l, &m, wdata, 4096, on_sent_check, NULL),
			0);
	}
	ic_link_drop(A.l, "test drop");
	assert_int_equal(done_calls, 3);
	assert_int_equal(done_before_down, 3);
	assert_true(done_err < 0);
	assert_int_equal(A.downs, 1);
	assert_string_equal(A.down_reason, "test drop");
	assert_true(run_until(a_down_b_down, 3000));
	assert_non_null(strstr(B.down_reason, "closed by the peer"));
}

/* ---- loopback TCP: listen, connect, reconnect ---- */

static bool a_ups_2(void)
{
	return A.ups >= 2 && both_up();
}

static void test_tcp_connect_reconnect(void **state)
{
	struct ic_link_cfg ca, cb;
	char addr[64];

	base_cfg(&cb, "b", "a");
	cb.listen_addr = "127.0.0.1:0";
	new_link(&B, &cb); /* AUTO: "b" > "a", so b accepts */
	assert_int_equal(ic_link_start(B.l), 0);
	assert_true(ic_link_local_port(B.l) > 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", ic_link_local_port(B.l));
	base_cfg(&ca, "a", "b");
	ca.peer_addr = addr;
	new_link(&A, &ca); /* AUTO: "a" connects */
	assert_int_equal(ic_link_start(A.l), 0);
	assert_true(run_until(both_up, 3000));
	assert_true(logged("connection from 127.0.0.1:"));
	/* The acceptor drops the link: the connector reconnects. */
	ic_link_drop(B.l, "test: acceptor drops");
	assert_true(run_until(a_ups_2, 3000));
	assert_int_equal(A.downs, 1);
	assert_int_equal(B.downs, 1);
	assert_int_equal(B.ups, 2);
}

/* Mute connections fill the pending slots; the partner still gets in. */
static void test_tcp_pending_eviction(void **state)
{
	struct ic_link_cfg ca, cb;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	char addr[64];
	int mute[IC_LINK_MAX_PENDING + 2];

	base_cfg(&cb, "b", "a");
	cb.listen_addr = "127.0.0.1:0";
	cb.handshake_timeout_ms = 2000; /* mute peers would linger */
	new_link(&B, &cb);
	assert_int_equal(ic_link_start(B.l), 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(ic_link_local_port(B.l));
	for (size_t i = 0; i < ARRAY_SIZE(mute); i++) {
		mute[i] = socket(AF_INET, SOCK_STREAM, 0);
		assert_int_equal(
			connect(mute[i], (struct sockaddr *)&sa, sizeof(sa)),
			0);
		run_until(NULL, 10);
	}
	assert_true(logged("handshakes pending; dropping the oldest"));
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", ic_link_local_port(B.l));
	base_cfg(&ca, "a", "b");
	ca.peer_addr = addr;
	ca.listen_addr = "127.0.0.1:0"; /* exercised as the source address */
	new_link(&A, &ca);
	assert_int_equal(ic_link_start(A.l), 0);
	assert_true(run_until(both_up, 3000));
	for (size_t i = 0; i < ARRAY_SIZE(mute); i++)
		close(mute[i]);
}

static struct side C;

static bool replaced(void)
{
	return ic_link_is_up(C.l) && ic_link_is_up(B.l) && A.downs == 1;
}

/* The partner restarts: its new connection authenticates and replaces the
 * old one, which the acceptor may still believe up (half-open). */
static void test_tcp_replace(void **state)
{
	struct ic_link_cfg ca, cb;
	char addr[64];

	memset(&C, 0, sizeof(C));
	base_cfg(&cb, "b", "a");
	cb.listen_addr = "127.0.0.1:0";
	cb.hb_deadline_ms = 5000; /* the old connection is not timed out */
	cb.hb_interval_ms = 1000;
	new_link(&B, &cb);
	assert_int_equal(ic_link_start(B.l), 0);
	assert_int_equal(ic_link_start(B.l), -EALREADY);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", ic_link_local_port(B.l));
	base_cfg(&ca, "a", "b");
	ca.peer_addr = addr;
	ca.hb_deadline_ms = 5000;
	ca.hb_interval_ms = 1000;
	new_link(&A, &ca);
	assert_int_equal(ic_link_start(A.l), 0);
	assert_true(run_until(both_up, 3000));
	new_link(&C, &ca); /* "a" again, as after a restart */
	assert_int_equal(ic_link_start(C.l), 0);
	assert_true(run_until(replaced, 3000));
	assert_int_equal(B.ups, 2);
	assert_int_equal(B.downs, 1);
	assert_non_null(strstr(B.down_reason, "replaced"));
	ic_link_free(C.l);
	C.l = NULL;
}

static bool a_attempts_3(void)
{
	struct ic_link_stats st;

	ic_link_get_stats(A.l, &st);
	return st.connect_attempts >= 3;
}

/* Nobody listening: retries back off, one warning, then it connects. */
static void test_tcp_backoff(void **state)
{
	struct ic_link_cfg ca, cb;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	char addr[64];
	uint64_t t0;
	int fd;

	/* Find a free port. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(sa.sin_port));

	base_cfg(&ca, "a", "b");
	ca.peer_addr = addr;
	ca.backoff_min_ms = 20;
	ca.backoff_max_ms = 60;
	new_link(&A, &ca);
	t0 = ic_test_mono_ms();
	assert_int_equal(ic_link_start(A.l), 0);
	assert_true(run_until(a_attempts_3, 3000));
	/* 20 (+-20%) then 40 (+-20%) between the three attempts. */
	assert_true(ic_test_mono_ms() - t0 >= 45);
	assert_true(logged("Connection refused"));

	base_cfg(&cb, "b", "a");
	cb.listen_addr = addr;
	new_link(&B, &cb);
	assert_int_equal(ic_link_start(B.l), 0);
	assert_true(run_until(both_up, 3000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_handshake_ok, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wrong_secret, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wrong_cluster, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fingerprint_mismatch,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_node_name, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cfg_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_heartbeat_timeout, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unknown_type_answered,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_messages_up, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hello_checks, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unauthenticated_cmd, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_handshake_timeout, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_garbage_header, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_data_both_ways, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_big_data_in_place, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_many_in_flight, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_send_limits, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_backpressure, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_drop_fails_queued, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tcp_connect_reconnect,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_backoff, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tcp_replace, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tcp_pending_eviction,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
