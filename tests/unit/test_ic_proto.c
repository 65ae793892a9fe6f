// SPDX-License-Identifier: Apache-2.0
/* Unit tests for the interconnect codec (src/ic/ic_proto.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <isa-l/crc.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "duet/ic_proto.h"
#include "duet/util.h"

static const unsigned all_types[] = {
	IC_HELLO,	 IC_HELLO_AUTH,	    IC_HEARTBEAT,    IC_ERROR,
	IC_SCSI_CMD,	 IC_SCSI_RSP,	    IC_TMF_REQ,	     IC_TMF_RSP,
	IC_NEXUS_END,	 IC_NEXUS_END_DONE, IC_PATH_STATE,   IC_TAKEOVER_REQ,
	IC_TAKEOVER_ACK, IC_GIVEBACK_REQ,   IC_GIVEBACK_ACK, IC_HA,
	IC_CONN_LIST,
};

static uint8_t data_buf[8192];

static void fill_nexus(struct ic_nexus *n)
{
	strcpy(n->initiator_name, "iqn.1994-05.com.redhat:client1");
	memcpy(n->isid, "\x80\x12\x34\x56\x78\x9a", 6);
	n->tpgt = 7;
	n->rel_tgt_port_id = 0x8001;
	strcpy(n->target_name, "iqn.2026-11.org.example:b.disk0");
}

/* A realistic sample of each type; returns its data length. */
static uint32_t sample(unsigned type, struct ic_msg *m)
{
	ic_msg_init(m, type, 0x0102030405060708ull, 0x0001000000000000ull);
	for (size_t i = 0; i < sizeof(data_buf); i++)
		data_buf[i] = (uint8_t)(i * 7 + 3);
	switch (type) {
	case IC_HELLO:
		m->u.hello.min_version = 1;
		m->u.hello.max_version = 1;
		m->u.hello.max_payload = IC_MAX_PAYLOAD_LIMIT;
		memset(m->u.hello.nonce, 0x5a, IC_NONCE_LEN);
		memset(m->u.hello.fingerprint, 0xc3, IC_FP_LEN);
		strcpy(m->u.hello.cluster, "pair0");
		strcpy(m->u.hello.node, "a");
		return 0;
	case IC_HELLO_AUTH:
		memset(m->u.auth.mac, 0x11, IC_MAC_LEN);
		return 0;
	case IC_HEARTBEAT:
		m->u.hb.seq = 42;
		m->u.hb.time_ms = 123456789;
		return 0;
	case IC_ERROR:
		m->u.error.code = IC_ERR_UNKNOWN_TYPE;
		m->u.error.bad_type = 99;
		strcpy(m->u.error.reason, "unknown message type 99");
		return 0;
	case IC_SCSI_CMD:
		m->u.cmd.attr = SCSI_ATTR_SIMPLE;
		m->u.cmd.dir = SCSI_DIR_WRITE;
		m->u.cmd.cdb_len = 10;
		m->u.cmd.exp_xfer_len = 4096;
		memcpy(m->u.cmd.cdb, "\x2a\x00\x00\x00\x10\x00\x00\x00\x08\x00",
		       10);
		fill_nexus(&m->u.cmd.nexus);
		return 4096;
	case IC_SCSI_RSP:
		m->u.rsp.status = SCSI_STATUS_CHECK_CONDITION;
		m->u.rsp.sense_len = 18;
		m->u.rsp.flags = 0;
		m->u.rsp.xfer_len = 8192;
		memcpy(m->u.rsp.sense, "\x70\x00\x06\x00\x00\x00\x00\x0a", 8);
		m->u.rsp.sense[12] = 0x29;
		return 512;
	case IC_TMF_REQ:
		m->u.tmf_req.fn = SCSI_TMF_ABORT_TASK;
		m->u.tmf_req.ref_tag = 77;
		fill_nexus(&m->u.tmf_req.nexus);
		return 0;
	case IC_TMF_RSP:
		m->u.tmf_rsp.result = SCSI_TMF_NO_TASK;
		return 0;
	case IC_NEXUS_END:
		m->u.nexus_end.reason = IC_NEXUS_REINSTATED;
		fill_nexus(&m->u.nexus_end.nexus);
		return 0;
	case IC_NEXUS_END_DONE:
		m->u.nexus_done.n_aborted = 3;
		m->u.nexus_done.n_completed = 5;
		return 0;
	case IC_PATH_STATE:
		m->u.path.state = IC_PATH_DOWN;
		m->u.path.generation = 9;
		m->u.path.for_ms = 1500;
		return 0;
	case IC_TAKEOVER_REQ:
	case IC_GIVEBACK_REQ:
		m->u.ha_req.epoch = 12;
		return 0;
	case IC_TAKEOVER_ACK:
	case IC_GIVEBACK_ACK:
		m->u.ha_ack.result = IC_HA_OK;
		m->u.ha_ack.epoch = 12;
		return 0;
	case IC_HA:
		m->u.ha.code = 2;
		m->u.ha.arg = 0x5;
		return 0;
	case IC_CONN_LIST:
		m->u.conns.flags = IC_CONN_LIST_FIRST | IC_CONN_LIST_LAST;
		m->u.conns.count = 2;
		m->u.conns.ent[0].family = 4;
		m->u.conns.ent[0].local_port = 3260;
		m->u.conns.ent[0].peer_port = 40000;
		memcpy(m->u.conns.ent[0].local, "\xc6\x33\x64\x20", 4);
		memcpy(m->u.conns.ent[0].peer, "\xc6\x33\x64\x01", 4);
		m->u.conns.ent[1].family = 6;
		m->u.conns.ent[1].local_port = 3260;
		m->u.conns.ent[1].peer_port = 51000;
		m->u.conns.ent[1].local[0] = 0x20;
		m->u.conns.ent[1].local[15] = 0x32;
		m->u.conns.ent[1].peer[0] = 0x20;
		m->u.conns.ent[1].peer[15] = 0x01;
		return 0;
	}
	fail_msg("no sample for type %u", type);
	return 0;
}

/* Encode a sample into frame (header + fields + data); returns length and
 * the fields length. */
static size_t build(unsigned type, uint8_t *frame, size_t cap, struct ic_msg *m,
		    uint32_t *flen)
{
	uint32_t dlen = sample(type, m);
	int n = ic_msg_encode(m, dlen, frame, cap);

	assert_true(n >= (int)IC_HDR_LEN);
	assert_true((size_t)n + dlen <= cap);
	memcpy(frame + n, data_buf, dlen);
	*flen = (uint32_t)n - IC_HDR_LEN;
	return (size_t)n + dlen;
}

static uint32_t crc(const uint8_t *p, size_t n)
{
	return crc32_iscsi((unsigned char *)p, (int)n, 0xffffffffu);
}

/* Independent header writer (the spec in ic_proto.h, re-typed here). */
static void put_hdr(uint8_t *b, uint8_t version, uint8_t type, uint16_t flags,
		    uint32_t plen, uint32_t dlen, uint32_t fcrc)
{
	put_be32(b, 0x44554943);
	b[4] = version;
	b[5] = type;
	put_be16(b + 6, flags);
	put_be32(b + 8, plen);
	put_be32(b + 12, dlen);
	put_be64(b + 16, 5);
	put_be64(b + 24, 0);
	put_be32(b + 32, fcrc);
	put_be32(b + 36, crc(b, 36));
}

static uint8_t frame[IC_MAX_FRAME + 8192 + 64];
static uint8_t frame2[IC_MAX_FRAME + 8192 + 64];

static void test_roundtrip_all(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(all_types); i++) {
		struct ic_msg m, d;
		const uint8_t *data;
		uint32_t dlen, flen;
		size_t len =
			build(all_types[i], frame, sizeof(frame), &m, &flen);
		int n;

		assert_int_equal(ic_frame_decode(frame, len,
						 IC_MAX_PAYLOAD_LIMIT, &d,
						 &data, &dlen),
				 0);
		assert_int_equal(d.hdr.type, all_types[i]);
		assert_int_equal(d.hdr.tag, 0x0102030405060708ull);
		assert_int_equal(d.hdr.lun, 0x0001000000000000ull);
		assert_int_equal(d.hdr.data_len, m.hdr.data_len);
		assert_int_equal(dlen, m.hdr.data_len);
		assert_ptr_equal(data, frame + IC_HDR_LEN + flen);
		assert_memory_equal(data, data_buf, dlen);
		/* Re-encoding the decoded message gives the same bytes. */
		n = ic_msg_encode(&d, dlen, frame2, sizeof(frame2));
		assert_int_equal(n, (int)(IC_HDR_LEN + flen));
		assert_memory_equal(frame, frame2, (size_t)n);
	}
}

static void test_roundtrip_values(void **state)
{
	struct ic_msg m, d;
	const uint8_t *data;
	uint32_t dlen, flen;
	size_t len;

	len = build(IC_SCSI_CMD, frame, sizeof(frame), &m, &flen);
	assert_int_equal(ic_frame_decode(frame, len, IC_MAX_PAYLOAD_LIMIT, &d,
					 &data, &dlen),
			 0);
	assert_int_equal(d.u.cmd.cdb_len, 10);
	assert_memory_equal(d.u.cmd.cdb, m.u.cmd.cdb, SCSI_CDB_MAX);
	assert_int_equal(d.u.cmd.dir, SCSI_DIR_WRITE);
	assert_int_equal(d.u.cmd.attr, SCSI_ATTR_SIMPLE);
	assert_int_equal(d.u.cmd.exp_xfer_len, 4096);
	assert_string_equal(d.u.cmd.nexus.initiator_name,
			    "iqn.1994-05.com.redhat:client1");
	assert_string_equal(d.u.cmd.nexus.target_name,
			    "iqn.2026-11.org.example:b.disk0");
	assert_memory_equal(d.u.cmd.nexus.isid, "\x80\x12\x34\x56\x78\x9a", 6);
	assert_int_equal(d.u.cmd.nexus.tpgt, 7);
	assert_int_equal(d.u.cmd.nexus.rel_tgt_port_id, 0x8001);
	assert_int_equal(dlen, 4096);

	len = build(IC_SCSI_RSP, frame, sizeof(frame), &m, &flen);
	assert_int_equal(flen, 8 + 18);
	assert_int_equal(ic_frame_decode(frame, len, IC_MAX_PAYLOAD_LIMIT, &d,
					 &data, &dlen),
			 0);
	assert_int_equal(d.u.rsp.status, SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(d.u.rsp.sense_len, 18);
	assert_memory_equal(d.u.rsp.sense, m.u.rsp.sense, 18);
	assert_int_equal(d.u.rsp.xfer_len, 8192);
	assert_int_equal(dlen, 512);

	len = build(IC_HELLO, frame, sizeof(frame), &m, &flen);
	assert_int_equal(ic_frame_decode(frame, len, IC_HANDSHAKE_MAX_PAYLOAD,
					 &d, &data, &dlen),
			 0);
	assert_string_equal(d.u.hello.cluster, "pair0");
	assert_string_equal(d.u.hello.node, "a");
	assert_memory_equal(d.u.hello.nonce, m.u.hello.nonce, IC_NONCE_LEN);
	assert_memory_equal(d.u.hello.fingerprint, m.u.hello.fingerprint,
			    IC_FP_LEN);
	assert_int_equal(d.u.hello.max_payload, IC_MAX_PAYLOAD_LIMIT);

	len = build(IC_PATH_STATE, frame, sizeof(frame), &m, &flen);
	assert_int_equal(ic_frame_decode(frame, len, IC_MAX_PAYLOAD_MIN, &d,
					 &data, &dlen),
			 0);
	assert_int_equal(d.u.path.state, IC_PATH_DOWN);
	assert_int_equal(d.u.path.generation, 9);
	assert_int_equal(d.u.path.for_ms, 1500);
}

/* Every prefix of every message is refused, and the output untouched. */
static void test_truncation_raw(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(all_types); i++) {
		struct ic_msg m, d, pristine;
		const uint8_t *data;
		uint32_t dlen, flen;
		size_t len =
			build(all_types[i], frame, sizeof(frame), &m, &flen);

		memset(&d, 0xa5, sizeof(d));
		pristine = d;
		for (size_t cut = 0; cut < len; cut++) {
			assert_int_not_equal(
				ic_frame_decode(frame, cut,
						IC_MAX_PAYLOAD_LIMIT, &d, &data,
						&dlen),
				0);
			assert_memory_equal(&d, &pristine, sizeof(d));
		}
		/* One byte too many is refused too. */
		frame[len] = 0;
		assert_int_equal(ic_frame_decode(frame, len + 1,
						 IC_MAX_PAYLOAD_LIMIT, &d,
						 &data, &dlen),
				 -EBADMSG);
	}
}

/* Fields cut short (or extended) with a header that agrees with the cut:
 * the typed decoder must notice on its own. */
static void test_truncation_consistent(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(all_types); i++) {
		struct ic_msg m, d;
		const uint8_t *data;
		uint32_t dlen, flen, mdlen;
		uint8_t fields[IC_FIELDS_MAX + 1];
		unsigned type = all_types[i];

		build(type, frame, sizeof(frame), &m, &flen);
		mdlen = m.hdr.data_len;
		memcpy(fields, frame + IC_HDR_LEN, flen);
		fields[flen] = 0;
		for (uint32_t cut = 0; cut <= flen + 1; cut++) {
			int rc;

			if (cut == flen)
				continue;
			put_hdr(frame2, IC_VERSION_MIN, (uint8_t)type, 0,
				cut + mdlen, mdlen, crc(fields, cut));
			memcpy(frame2 + IC_HDR_LEN, fields, cut);
			memcpy(frame2 + IC_HDR_LEN + cut, data_buf, mdlen);
			rc = ic_frame_decode(frame2, IC_HDR_LEN + cut + mdlen,
					     IC_MAX_PAYLOAD_LIMIT, &d, &data,
					     &dlen);
			if (rc != -EBADMSG && rc != -EPROTO)
				fail_msg("type %s cut %u/%u: rc %d",
					 ic_type_name(type), cut, flen, rc);
		}
	}
}

static void test_header_checks(void **state)
{
	struct ic_hdr h;
	uint8_t b[IC_HDR_LEN];

	put_hdr(b, 1, IC_HEARTBEAT, 0, 16, 0, 0);
	assert_int_equal(ic_hdr_decode(b, 1024, &h), 0);
	assert_int_equal(h.payload_len, 16);
	assert_int_equal(h.tag, 5);

	put_hdr(b, 1, IC_HEARTBEAT, 0, 16, 0, 0);
	b[0] ^= 1;
	assert_int_equal(ic_hdr_decode(b, 1024, &h), -EBADMSG); /* magic */
	put_hdr(b, 1, IC_HEARTBEAT, 0, 16, 0, 0);
	b[20] ^= 1;
	assert_int_equal(ic_hdr_decode(b, 1024, &h), -EBADMSG); /* crc */
	put_hdr(b, 0, IC_HEARTBEAT, 0, 16, 0, 0);
	assert_int_equal(ic_hdr_decode(b, 1024, &h), -EPROTO);
	put_hdr(b, IC_VERSION_MAX + 1, IC_HEARTBEAT, 0, 16, 0, 0);
	assert_int_equal(ic_hdr_decode(b, 1024, &h), -EPROTO);
	put_hdr(b, 1, IC_HEARTBEAT, 0x8000, 16, 0, 0);
	assert_int_equal(ic_hdr_decode(b, 1024, &h), -EPROTO);
	/* Length overflows. */
	put_hdr(b, 1, IC_SCSI_CMD, 0, 0xffffffffu, 0xffffff00u, 0);
	assert_int_equal(ic_hdr_decode(b, IC_MAX_PAYLOAD_LIMIT, &h), -EMSGSIZE);
	put_hdr(b, 1, IC_SCSI_CMD, 0, 0xffffffffu, 0, 0);
	assert_int_equal(ic_hdr_decode(b, IC_MAX_PAYLOAD_LIMIT, &h), -EBADMSG);
	put_hdr(b, 1, IC_SCSI_CMD, 0, 100, 101, 0);
	assert_int_equal(ic_hdr_decode(b, IC_MAX_PAYLOAD_LIMIT, &h), -EBADMSG);
	put_hdr(b, 1, IC_SCSI_CMD, 0, IC_FIELDS_MAX + 1, 0, 0);
	assert_int_equal(ic_hdr_decode(b, IC_MAX_PAYLOAD_LIMIT, &h), -EBADMSG);
	put_hdr(b, 1, IC_SCSI_CMD, 0, IC_HANDSHAKE_MAX_PAYLOAD + 1, 1, 0);
	assert_int_equal(ic_hdr_decode(b, IC_HANDSHAKE_MAX_PAYLOAD, &h),
			 -EMSGSIZE);
	put_hdr(b, 1, IC_SCSI_CMD, 0, IC_HANDSHAKE_MAX_PAYLOAD, 1, 0);
	assert_int_equal(ic_hdr_decode(b, IC_HANDSHAKE_MAX_PAYLOAD, &h), 0);
}

static void test_unknown_type(void **state)
{
	struct ic_hdr h;
	struct ic_msg d;
	uint8_t f[8] = {1, 2, 3, 4, 5, 6, 7, 8};

	assert_false(ic_type_known(99));
	assert_string_equal(ic_type_name(99), "UNKNOWN");
	/* The framing of an unknown type is intact: the header decodes. */
	put_hdr(frame, 1, 99, 0, 8 + 100, 100, crc(f, 8));
	assert_int_equal(ic_hdr_decode(frame, 1024, &h), 0);
	assert_int_equal(h.type, 99);
	assert_int_equal(ic_hdr_fields_len(&h), 8);
	assert_int_equal(ic_msg_decode(&h, f, 8, &d), -EOPNOTSUPP);
	/* Encoding one is refused. */
	ic_msg_init(&d, 99, 0, 0);
	assert_int_equal(ic_msg_encode(&d, 0, frame, sizeof(frame)), -EINVAL);
}

/* Re-encode a modified sample with a hand-made header (bypassing the
 * encoder's checks) and decode it. */
static int decode_fields(unsigned type, const uint8_t *f, uint32_t flen,
			 uint32_t dlen)
{
	struct ic_msg d;
	const uint8_t *data;
	uint32_t dl;

	put_hdr(frame2, 1, (uint8_t)type, 0, flen + dlen, dlen, crc(f, flen));
	memcpy(frame2 + IC_HDR_LEN, f, flen);
	memset(frame2 + IC_HDR_LEN + flen, 0, dlen);
	return ic_frame_decode(frame2, IC_HDR_LEN + flen + dlen,
			       IC_MAX_PAYLOAD_LIMIT, &d, &data, &dl);
}

static void test_semantic_checks(void **state)
{
	struct ic_msg m;
	uint32_t flen;
	uint8_t f[IC_FIELDS_MAX];

	/* Fields CRC mismatch. */
	build(IC_TMF_RSP, frame, sizeof(frame), &m, &flen);
	frame[IC_HDR_LEN] ^= 1;
	assert_int_equal(decode_fields(IC_TMF_RSP, frame + IC_HDR_LEN, flen, 0),
			 0); /* decode_fields recomputes the CRC */
	{
		struct ic_msg d;
		const uint8_t *data;
		uint32_t dl;

		build(IC_TMF_RSP, frame, sizeof(frame), &m, &flen);
		frame[IC_HDR_LEN + 1] ^= 1;
		assert_int_equal(ic_frame_decode(frame, IC_HDR_LEN + flen,
						 IC_MAX_PAYLOAD_LIMIT, &d,
						 &data, &dl),
				 -EBADMSG);
	}
	/* Data on a type that carries none. */
	build(IC_HEARTBEAT, frame, sizeof(frame), &m, &flen);
	assert_int_equal(
		decode_fields(IC_HEARTBEAT, frame + IC_HDR_LEN, flen, 4),
		-EPROTO);
	/* SCSI_CMD: a READ with data-out; data above the expected length. */
	build(IC_SCSI_CMD, frame, sizeof(frame), &m, &flen);
	memcpy(f, frame + IC_HDR_LEN, flen);
	assert_int_equal(decode_fields(IC_SCSI_CMD, f, flen, 4096), 0);
	assert_int_equal(decode_fields(IC_SCSI_CMD, f, flen, 4097), -EPROTO);
	f[1] = SCSI_DIR_READ;
	assert_int_equal(decode_fields(IC_SCSI_CMD, f, flen, 1), -EPROTO);
	assert_int_equal(decode_fields(IC_SCSI_CMD, f, flen, 0), 0);
	f[1] = 4; /* direction out of range */
	assert_int_equal(decode_fields(IC_SCSI_CMD, f, flen, 0), -EPROTO);
	f[1] = SCSI_DIR_WRITE;
	f[2] = 0; /* cdb_len 0 */
	assert_int_equal(decode_fields(IC_SCSI_CMD, f, flen, 0), -EPROTO);
	f[2] = SCSI_CDB_MAX + 1;
	assert_int_equal(decode_fields(IC_SCSI_CMD, f, flen, 0), -EPROTO);
	f[2] = 10;
	f[3] = 1; /* reserved byte */
	assert_int_equal(decode_fields(IC_SCSI_CMD, f, flen, 0), -EPROTO);
	f[3] = 0;
	/* nexus: isid at 40, rel port id at 48..49 */
	put_be16(f + 48, 0);
	assert_int_equal(decode_fields(IC_SCSI_CMD, f, flen, 0), -EPROTO);
	put_be16(f + 48, 1);
	/* initiator name length: beyond the fields, then above the cap. */
	put_be16(f + 52, 0xffff);
	assert_int_equal(decode_fields(IC_SCSI_CMD, f, flen, 0), -EPROTO);
	put_be16(f + 52, (uint16_t)(flen - 54));
	assert_int_not_equal(decode_fields(IC_SCSI_CMD, f, flen, 0), 0);
	put_be16(f + 52, 30);
	f[54 + 3] = 0; /* embedded NUL */
	assert_int_equal(decode_fields(IC_SCSI_CMD, f, flen, 0), -EPROTO);

	/* HA: code above the bound, non-zero reserved bytes, wrong size. */
	build(IC_HA, frame, sizeof(frame), &m, &flen);
	assert_int_equal(flen, 8);
	memcpy(f, frame + IC_HDR_LEN, flen);
	assert_int_equal(decode_fields(IC_HA, f, flen, 0), 0);
	f[0] = IC_HA_CODE_LIMIT;
	assert_int_equal(decode_fields(IC_HA, f, flen, 0), -EPROTO);
	f[0] = 2;
	f[2] = 1;
	assert_int_equal(decode_fields(IC_HA, f, flen, 0), -EPROTO);
	f[2] = 0;
	assert_int_not_equal(decode_fields(IC_HA, f, 7, 0), 0);
	assert_int_not_equal(decode_fields(IC_HA, f, 9, 0), 0);
	ic_msg_init(&m, IC_HA, 1, 0);
	m.u.ha.code = IC_HA_CODE_LIMIT;
	assert_int_equal(ic_msg_encode(&m, 0, frame, sizeof(frame)), -EINVAL);

	/* CONN_LIST: the layout of ic_proto.h, byte by byte. */
	build(IC_CONN_LIST, frame, sizeof(frame), &m, &flen);
	assert_int_equal(flen, 4 + 2 * IC_CONN_ENT_LEN);
	memcpy(f, frame + IC_HDR_LEN, flen);
	assert_memory_equal(f, "\x03\x00\x00\x02", 4);
	assert_memory_equal(f + 4, "\x04\x00\x0c\xbc\x9c\x40\x00\x00", 8);
	assert_memory_equal(f + 12, "\xc6\x33\x64\x20", 4);
	assert_memory_equal(f + 28, "\xc6\x33\x64\x01", 4);
	assert_int_equal(f[44], 6);
	assert_int_equal(get_be16(f + 48), 51000);
	assert_int_equal(decode_fields(IC_CONN_LIST, f, flen, 0), 0);
	/* unknown flag, reserved byte, count above the chunk */
	f[0] = 0x04;
	assert_int_equal(decode_fields(IC_CONN_LIST, f, flen, 0), -EPROTO);
	f[0] = 0x03;
	f[1] = 1;
	assert_int_equal(decode_fields(IC_CONN_LIST, f, flen, 0), -EPROTO);
	f[1] = 0;
	put_be16(f + 2, IC_CONN_LIST_CHUNK + 1);
	assert_int_equal(decode_fields(IC_CONN_LIST, f, flen, 0), -EPROTO);
	/* count and length disagree, either way */
	put_be16(f + 2, 1);
	assert_int_equal(decode_fields(IC_CONN_LIST, f, flen, 0), -EBADMSG);
	put_be16(f + 2, 3);
	assert_int_equal(decode_fields(IC_CONN_LIST, f, flen, 0), -EBADMSG);
	put_be16(f + 2, 2);
	assert_int_equal(decode_fields(IC_CONN_LIST, f, flen - 1, 0), -EBADMSG);
	/* family, zero port, reserved bytes, IPv4 address tail */
	f[4] = 5;
	assert_int_equal(decode_fields(IC_CONN_LIST, f, flen, 0), -EPROTO);
	f[4] = 4;
	put_be16(f + 6, 0);
	assert_int_equal(decode_fields(IC_CONN_LIST, f, flen, 0), -EPROTO);
	put_be16(f + 6, 3260);
	f[11] = 1;
	assert_int_equal(decode_fields(IC_CONN_LIST, f, flen, 0), -EPROTO);
	f[11] = 0;
	f[12 + 4] = 1;
	assert_int_equal(decode_fields(IC_CONN_LIST, f, flen, 0), -EPROTO);
	f[12 + 4] = 0;
	assert_int_equal(decode_fields(IC_CONN_LIST, f, flen, 0), 0);
	/* empty list: 4 bytes */
	put_be16(f + 2, 0);
	assert_int_equal(decode_fields(IC_CONN_LIST, f, 4, 0), 0);
	/* the encoder refuses what the decoder would */
	sample(IC_CONN_LIST, &m);
	m.u.conns.count = IC_CONN_LIST_CHUNK + 1;
	assert_int_equal(ic_msg_encode(&m, 0, frame, sizeof(frame)), -EINVAL);
	sample(IC_CONN_LIST, &m);
	m.u.conns.ent[1].peer_port = 0;
	assert_int_equal(ic_msg_encode(&m, 0, frame, sizeof(frame)), -EINVAL);
	sample(IC_CONN_LIST, &m);
	m.u.conns.flags = 0x80;
	assert_int_equal(ic_msg_encode(&m, 0, frame, sizeof(frame)), -EINVAL);
	/* a full chunk fits in the fields */
	sample(IC_CONN_LIST, &m);
	m.u.conns.count = IC_CONN_LIST_CHUNK;
	for (unsigned i = 2; i < IC_CONN_LIST_CHUNK; i++)
		m.u.conns.ent[i] = m.u.conns.ent[i % 2];
	assert_int_equal(ic_msg_encode(&m, 0, frame, sizeof(frame)),
			 IC_HDR_LEN + 4 + IC_CONN_LIST_CHUNK * IC_CONN_ENT_LEN);

	/* SCSI_RSP: data above xfer_len, sense too long, unknown flag. */
	build(IC_SCSI_RSP, frame, sizeof(frame), &m, &flen);
	memcpy(f, frame + IC_HDR_LEN, flen);
	assert_int_equal(decode_fields(IC_SCSI_RSP, f, flen, 8192), 0);
	assert_int_equal(decode_fields(IC_SCSI_RSP, f, flen, 8193), -EPROTO);
	f[2] = 0x80;
	assert_int_equal(decode_fields(IC_SCSI_RSP, f, flen, 0), -EPROTO);
	f[2] = 0;
	f[1] = SCSI_SENSE_MAX + 1;
	assert_int_equal(decode_fields(IC_SCSI_RSP, f, flen, 0), -EPROTO);

	/* HELLO: empty names, inverted versions, payload bound. */
	build(IC_HELLO, frame, sizeof(frame), &m, &flen);
	memcpy(f, frame + IC_HDR_LEN, flen);
	f[0] = 2;
	assert_int_equal(decode_fields(IC_HELLO, f, flen, 0), -EPROTO);
	f[0] = 1;
	put_be32(f + 4, IC_MAX_PAYLOAD_MIN - 1);
	assert_int_equal(decode_fields(IC_HELLO, f, flen, 0), -EPROTO);
	put_be32(f + 4, IC_MAX_PAYLOAD_LIMIT + 1);
	assert_int_equal(decode_fields(IC_HELLO, f, flen, 0), -EPROTO);

	/* TMF function and enum ranges. */
	build(IC_TMF_REQ, frame, sizeof(frame), &m, &flen);
	memcpy(f, frame + IC_HDR_LEN, flen);
	f[0] = 0;
	assert_int_equal(decode_fields(IC_TMF_REQ, f, flen, 0), -EPROTO);
	f[0] = 8;
	assert_int_equal(decode_fields(IC_TMF_REQ, f, flen, 0), -EPROTO);
	build(IC_PATH_STATE, frame, sizeof(frame), &m, &flen);
	memcpy(f, frame + IC_HDR_LEN, flen);
	f[0] = 3;
	assert_int_equal(decode_fields(IC_PATH_STATE, f, flen, 0), -EPROTO);
}

static void test_encode_checks(void **state)
{
	struct ic_msg m;

	sample(IC_HELLO, &m);
	memset(m.u.hello.node, 'x', sizeof(m.u.hello.node)); /* no NUL */
	assert_int_equal(ic_msg_encode(&m, 0, frame, sizeof(frame)), -EINVAL);
	sample(IC_HELLO, &m);
	m.u.hello.cluster[0] = '\0';
	assert_int_equal(ic_msg_encode(&m, 0, frame, sizeof(frame)), -EINVAL);
	sample(IC_HELLO, &m);
	assert_int_equal(ic_msg_encode(&m, 0, frame, 60), -ENOSPC);
	assert_int_equal(ic_msg_encode(&m, 0, frame, 10), -ENOSPC);
	assert_int_equal(ic_msg_encode(&m, 1, frame, sizeof(frame)), -EINVAL);
	sample(IC_SCSI_CMD, &m);
	m.u.cmd.cdb_len = 0;
	assert_int_equal(ic_msg_encode(&m, 0, frame, sizeof(frame)), -EINVAL);
	sample(IC_SCSI_CMD, &m);
	assert_int_equal(ic_msg_encode(&m, 4097, frame, sizeof(frame)),
			 -EINVAL);
	m.u.cmd.dir = SCSI_DIR_READ;
	assert_int_equal(ic_msg_encode(&m, 1, frame, sizeof(frame)), -EINVAL);
	m.u.cmd.nexus.rel_tgt_port_id = 0;
	assert_int_equal(ic_msg_encode(&m, 0, frame, sizeof(frame)), -EINVAL);
	sample(IC_SCSI_RSP, &m);
	m.u.rsp.sense_len = SCSI_SENSE_MAX + 1;
	assert_int_equal(ic_msg_encode(&m, 0, frame, sizeof(frame)), -EINVAL);
	sample(IC_TMF_REQ, &m);
	m.hdr.flags = 1;
	assert_int_equal(ic_msg_encode(&m, 0, frame, sizeof(frame)), -EINVAL);
}

static void test_task_helpers(void **state)
{
	static uint8_t buf[8192] __attribute__((aligned(4096)));
	struct scsi_itn itn = {.isid = {0x80, 1, 2, 3, 4, 5},
			       .tpgt = 2,
			       .rel_tgt_port_id = 0x8002},
			itn2;
	struct scsi_task t = {0}, o = {0};
	struct ic_msg m, d;
	const uint8_t *data;
	uint32_t dlen, dl2;
	int n;

	strcpy(itn.initiator_name, "iqn.1994-05.com.redhat:c1");
	strcpy(itn.target_name, "iqn.2026-11.org.example:b.d0");
	t.itn = &itn;
	t.lun = 0x0002000000000000ull;
	memcpy(t.cdb, "\x2a\x00\x00\x00\x00\x10\x00\x00\x10\x00", 10);
	t.cdb_len = 10;
	t.dir = SCSI_DIR_WRITE;
	t.attr = SCSI_ATTR_ORDERED;
	t.exp_xfer_len = 8192;
	t.buf = buf;
	t.buf_cap = sizeof(buf);
	t.data_out_len = 8192;
	memset(buf, 0x3c, sizeof(buf));
	assert_int_equal(ic_cmd_from_task(&m, &t, 99, &dlen), 0);
	assert_int_equal(dlen, 8192);
	n = ic_msg_encode(&m, dlen, frame, sizeof(frame));
	assert_true(n > 0);
	memcpy(frame + n, buf, dlen);
	assert_int_equal(ic_frame_decode(frame, (size_t)n + dlen,
					 IC_MAX_PAYLOAD_LIMIT, &d, &data, &dl2),
			 0);
	/* The owner rebuilds the task and the real initiator identity. */
	ic_nexus_to_itn(&itn2, &d.u.cmd.nexus);
	assert_memory_equal(&itn2, &itn, sizeof(itn));
	ic_cmd_to_task(&o, &d);
	assert_int_equal(o.lun, t.lun);
	assert_memory_equal(o.cdb, t.cdb, SCSI_CDB_MAX);
	assert_int_equal(o.cdb_len, 10);
	assert_int_equal(o.dir, SCSI_DIR_WRITE);
	assert_int_equal(o.attr, SCSI_ATTR_ORDERED);
	assert_int_equal(o.exp_xfer_len, 8192);
	assert_int_equal(o.data_out_len, 8192);
	assert_int_equal(d.hdr.tag, 99);

	/* Invalid tasks are refused. */
	t.data_out_len = 8193;
	assert_int_equal(ic_cmd_from_task(&m, &t, 1, &dlen), -EINVAL);
	t.data_out_len = 0;
	t.cdb_len = 0;
	assert_int_equal(ic_cmd_from_task(&m, &t, 1, &dlen), -EINVAL);
	t.cdb_len = 10;
	t.dir = SCSI_DIR_READ;
	t.data_out_len = 512; /* ignored for a read */
	assert_int_equal(ic_cmd_from_task(&m, &t, 1, &dlen), 0);
	assert_int_equal(dlen, 0);

	/* Response: a short read (4 KiB of 8 KiB) with sense. */
	o.dir = SCSI_DIR_READ;
	o.buf = buf;
	o.buf_cap = sizeof(buf);
	o.status = SCSI_STATUS_GOOD;
	o.xfer_len = 4096;
	o.data_len = 4096;
	o.sense_len = 2;
	o.sense[0] = 0x70;
	ic_rsp_from_task(&m, &o, 99, &dlen);
	assert_int_equal(dlen, 4096);
	assert_int_equal(m.hdr.tag, 99);
	n = ic_msg_encode(&m, dlen, frame, sizeof(frame));
	assert_true(n > 0);
	memcpy(frame + n, buf, dlen);
	assert_int_equal(ic_frame_decode(frame, (size_t)n + dlen,
					 IC_MAX_PAYLOAD_LIMIT, &d, &data, &dl2),
			 0);
	memset(&t, 0, sizeof(t));
	t.aborted = true;
	ic_rsp_to_task(&t, &d);
	assert_int_equal(t.status, SCSI_STATUS_GOOD);
	assert_int_equal(t.xfer_len, 4096);
	assert_int_equal(t.data_len, 4096);
	assert_int_equal(t.sense_len, 2);
	assert_int_equal(t.sense[0], 0x70);
	assert_false(t.aborted);

	/* An aborted task: flag set, no data. */
	o.aborted = true;
	ic_rsp_from_task(&m, &o, 99, &dlen);
	assert_int_equal(dlen, 0);
	assert_int_equal(m.u.rsp.flags, IC_RSP_ABORTED);
	n = ic_msg_encode(&m, dlen, frame, sizeof(frame));
	assert_int_equal(ic_frame_decode(frame, (size_t)n, IC_MAX_PAYLOAD_LIMIT,
					 &d, &data, &dl2),
			 0);
	ic_rsp_to_task(&t, &d);
	assert_true(t.aborted);
	/* data_len above xfer_len is clipped to what the command moves. */
	o.aborted = false;
	o.xfer_len = 100;
	ic_rsp_from_task(&m, &o, 99, &dlen);
	assert_int_equal(dlen, 100);
}

static const uint8_t secret[] = "0123456789abcdef-the-pair-secret";
static const uint8_t secret2[] = "0123456789abcdef-the-pair-secreT";

static void test_hmac(void **state)
{
	uint8_t ha[] = "hello from a, nonce 1";
	uint8_t hb[] = "hello from b, nonce 2";
	uint8_t mac[IC_MAC_LEN], ref[IC_MAC_LEN], msg[256];
	unsigned rlen = 0;
	size_t n = 0;
	const char *label = "duet-ic-hello-auth-v1";

	assert_int_equal(
		ic_auth_mac(secret, 32, ha, sizeof(ha), hb, sizeof(hb), mac),
		0);
	/* Known answer from a one-shot HMAC over the documented input. */
	put_be32(msg, (uint32_t)strlen(label));
	memcpy(msg + 4, label, strlen(label));
	n = 4 + strlen(label);
	put_be32(msg + n, sizeof(ha));
	memcpy(msg + n + 4, ha, sizeof(ha));
	n += 4 + sizeof(ha);
	put_be32(msg + n, sizeof(hb));
	memcpy(msg + n + 4, hb, sizeof(hb));
	n += 4 + sizeof(hb);
	assert_non_null(HMAC(EVP_sha256(), secret, 32, msg, n, ref, &rlen));
	assert_int_equal(rlen, IC_MAC_LEN);
	assert_memory_equal(mac, ref, IC_MAC_LEN);

	assert_int_equal(
		ic_auth_verify(secret, 32, ha, sizeof(ha), hb, sizeof(hb), mac),
		0);
	/* Wrong secret, reflected order, tampered HELLO, tampered MAC. */
	assert_int_equal(ic_auth_verify(secret2, 32, ha, sizeof(ha), hb,
					sizeof(hb), mac),
			 -EACCES);
	assert_int_equal(
		ic_auth_verify(secret, 32, hb, sizeof(hb), ha, sizeof(ha), mac),
		-EACCES);
	ha[3] ^= 1;
	assert_int_equal(
		ic_auth_verify(secret, 32, ha, sizeof(ha), hb, sizeof(hb), mac),
		-EACCES);
	ha[3] ^= 1;
	mac[31] ^= 0x80;
	assert_int_equal(
		ic_auth_verify(secret, 32, ha, sizeof(ha), hb, sizeof(hb), mac),
		-EACCES);
	/* Secret too short to be a secret. */
	assert_int_equal(ic_auth_mac(secret, IC_SECRET_MIN - 1, ha, sizeof(ha),
				     hb, sizeof(hb), mac),
			 -EINVAL);
	/* Boundary shift between the two HELLOs changes the MAC. */
	assert_int_equal(ic_auth_mac(secret, 32, ha, sizeof(ha) - 1,
				     (const uint8_t *)"", 0, ref),
			 0);
	assert_int_equal(ic_auth_mac(secret, 32, ha, sizeof(ha) - 2,
				     ha + sizeof(ha) - 2, 1, mac),
			 0);
	assert_memory_not_equal(mac, ref, IC_MAC_LEN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_all),
		cmocka_unit_test(test_roundtrip_values),
		cmocka_unit_test(test_truncation_raw),
		cmocka_unit_test(test_truncation_consistent),
		cmocka_unit_test(test_header_checks),
		cmocka_unit_test(test_unknown_type),
		cmocka_unit_test(test_semantic_checks),
		cmocka_unit_test(test_encode_checks),
		cmocka_unit_test(test_hmac),
		cmocka_unit_test(test_task_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
