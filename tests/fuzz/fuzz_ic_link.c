// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer entry point for the interconnect link's receive path: the
 * input is what a peer writes on the socket. First byte even: a stranger
 * (the handshake parser sees the bytes); odd: the partner, after a real
 * handshake done here by hand (the framing, the data placement into
 * upper-layer buffers, ERROR answers and skips see the bytes). Whatever
 * the input, the link must not crash, leak or hang, and every message it
 * delivers must have the length it announced. Bit 1 of the first byte:
 * fix up the CRCs of the frames in the input first, so that the fuzzer
 * gets past them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <isa-l/crc.h>

#include "duet/ic_link.h"
#include "duet/log.h"
#include "duet/util.h"

#include "fuzz_log_stub.h"

static const uint8_t secret[] = "fuzz-secret-0123456789abcdef";
static struct event_base *base;
static uint8_t *user_buf;
static uint32_t user_len;
static unsigned n_msgs;

static uint8_t *f_get_buf(struct ic_link *l, const struct ic_msg *m, void *arg)
{
	if (user_buf || (n_msgs++ & 1))
		return NULL; /* every other message: the link's buffer */
	user_len = m->hdr.data_len;
	user_buf = malloc(user_len);
	return user_buf;
}

static void f_recv(struct ic_link *l, const struct ic_msg *m, uint8_t *data,
		   uint32_t dlen, void *arg)
{
	if (dlen != m->hdr.data_len || (dlen && !data))
		abort();
	if (dlen)
		data[dlen - 1] ^= 1; /* touch the whole promised range */
	if (data && data == user_buf) {
		if (user_len != dlen)
			abort();
		free(user_buf);
		user_buf = NULL;
	}
}

static void f_down(struct ic_link *l, int err, const char *r, void *arg)
{
	free(user_buf);
	user_buf = NULL;
}

static const struct ic_link_ops f_ops = {
	.down = f_down,
	.get_buf = f_get_buf,
	.recv = f_recv,
};

static void pump(int n)
{
	for (int i = 0; i < n; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
}

/* Read one frame that the link wrote; returns its fields length. */
static int peer_read(int fd, uint8_t *buf, size_t cap, struct ic_msg *m)
{
	size_t got = 0, need = IC_HDR_LEN;
	struct ic_hdr h;

	for (int tries = 0; got < need && tries < 1000; tries++) {
		ssize_t k;

		pump(1);
		k = read(fd, buf + got, need - got);
		if (k > 0)
			got += (size_t)k;
		if (got == IC_HDR_LEN && need == IC_HDR_LEN) {
			if (ic_hdr_decode(buf, IC_HANDSHAKE_MAX_PAYLOAD, &h))
				abort();
			need += h.payload_len;
			if (need > cap)
				abort();
		}
	}
	if (got < need)
		abort();
	if (ic_hdr_decode(buf, IC_HANDSHAKE_MAX_PAYLOAD, &h) ||
	    ic_msg_decode(&h, buf + IC_HDR_LEN, h.payload_len, m))
		abort();
	return (int)h.payload_len;
}

static void peer_write(int fd, struct ic_msg *m, uint8_t *keep, int *klen)
{
	uint8_t buf[IC_MAX_FRAME];
	int n = ic_msg_encode(m, 0, buf, sizeof(buf));

	if (n < 0 || write(fd, buf, (size_t)n) != n)
		abort();
	if (keep) {
		*klen = n - (int)IC_HDR_LEN;
		memcpy(keep, buf + IC_HDR_LEN, (size_t)*klen);
	}
}

static void handshake(struct ic_link *l, int fd)
{
	uint8_t buf[IC_MAX_FRAME], theirs[IC_MAX_FRAME], ours[IC_MAX_FRAME];
	struct ic_msg m;
	int tlen, olen;

	tlen = peer_read(fd, buf, sizeof(buf), &m);
	memcpy(theirs, buf + IC_HDR_LEN, (size_t)tlen);
	ic_msg_init(&m, IC_HELLO, 0, 0);
	m.u.hello.min_version = m.u.hello.max_version = 1;
	m.u.hello.max_payload = IC_MAX_PAYLOAD_MIN;
	memset(m.u.hello.nonce, 0x77, IC_NONCE_LEN);
	memset(m.u.hello.fingerprint, 0x42, IC_FP_LEN);
	strcpy(m.u.hello.cluster, "pair0");
	strcpy(m.u.hello.node, "b");
	peer_write(fd, &m, ours, &olen);
	ic_msg_init(&m, IC_HELLO_AUTH, 0, 0);
	if (ic_auth_mac(secret, sizeof(secret) - 1, ours, (size_t)olen, theirs,
			(size_t)tlen, m.u.auth.mac))
		abort();
	peer_write(fd, &m, NULL, NULL);
	for (int i = 0; i < 1000 && !ic_link_is_up(l); i++)
		pump(1);
	if (!ic_link_is_up(l))
		abort();
}

static uint32_t crc(const uint8_t *p, size_t n)
{
	return crc32_iscsi((unsigned char *)p, (int)n, 0xffffffffu);
}

static void fix_crcs(uint8_t *p, size_t size)
{
	size_t off = 0;

	while (size - off >= IC_HDR_LEN) {
		uint8_t *h = p + off;
		uint32_t plen = get_be32(h + 8), dl = get_be32(h + 12);

		if (dl <= plen && plen <= size - off - IC_HDR_LEN)
			put_be32(h + 32, crc(h + IC_HDR_LEN, plen - dl));
		put_be32(h + 36, crc(h, 36));
		if (plen > size - off - IC_HDR_LEN)
			return;
		off += IC_HDR_LEN + plen;
	}
}

static bool closed(struct ic_link *l)
{
	struct ic_link_stats st;

	ic_link_get_stats(l, &st);
	return st.downs || st.handshake_failures;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ic_link_cfg cfg = {
		.cluster = "pair0",
		.local_node = "a",
		.peer_node = "b",
		.secret = secret,
		.secret_len = sizeof(secret) - 1,
		.hb_interval_ms = 10000,
		.hb_deadline_ms = 60000,
		.handshake_timeout_ms = 60000,
	};
	struct ic_link *l;
	char err[128];
	uint8_t *copy;
	size_t off = 1;
	int sv[2];

	if (!size)
		return 0;
	copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (data[0] & 2)
		fix_crcs(copy + 1, size - 1);
	data = copy;
	if (!base)
		base = event_base_new();
	memset(cfg.fingerprint, 0x42, IC_FP_LEN);
	if (ic_link_new(base, &cfg, &f_ops, NULL, &l, err, sizeof(err)) ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		abort();
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	if (ic_link_attach_fd(l, sv[0], "fuzz"))
		abort();
	if (data[0] & 1)
		handshake(l, sv[1]);
	/* Feed the input, letting the link read as the socket fills. */
	for (int i = 0; off < size && i < 100000 && !closed(l); i++) {
		ssize_t k = write(sv[1], data + off, size - off);

		if (k > 0)
			off += (size_t)k;
		pump(1);
		while (read(sv[1], (uint8_t[4096]){0}, 4096) > 0)
			; /* drain what the link answers */
	}
	shutdown(sv[1], SHUT_WR);
	for (int i = 0; i < 100000 && !closed(l); i++) {
		pump(1);
		while (read(sv[1], (uint8_t[4096]){0}, 4096) > 0)
			;
	}
	if (!closed(l))
		abort(); /* EOF must always end the connection */
	ic_link_free(l);
	pump(1);
	close(sv[1]);
	free(user_buf);
	user_buf = NULL;
	free(copy);
	return 0;
}
