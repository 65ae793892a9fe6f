// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer entry point for the interconnect decoder. The input is read
 * as a stream of frames, the way the link reads its socket: header, then
 * fields, then data. Every frame that decodes must re-encode to the very
 * same bytes (the codec has one encoding per message).
 *
 * If the first input byte is odd, the rest of the input is taken as one
 * frame whose two CRCs are fixed up first, so that the fuzzer reaches the
 * typed field decoders instead of stopping at the checksums.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "duet/ic_proto.h"
#include <isa-l/crc.h>

#include "duet/log.h"
#include "duet/util.h"

/* The link (linked in with the rest of the library) logs; the real logger
 * replaces these when it is part of the build. */
#include "fuzz_log_stub.h"

static uint8_t reenc[IC_MAX_FRAME];

static void check_roundtrip(const struct ic_msg *m, const uint8_t *frame)
{
	struct ic_msg copy = *m;
	uint32_t flen = ic_hdr_fields_len(&m->hdr);
	int n = ic_msg_encode(&copy, m->hdr.data_len, reenc, sizeof(reenc));

	if (n != (int)(IC_HDR_LEN + flen) || memcmp(reenc, frame, (size_t)n))
		abort();
}

static uint32_t crc(const uint8_t *p, size_t n)
{
	return crc32_iscsi((unsigned char *)p, (int)n, 0xffffffffu);
}

static void fixed_crc_frame(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	struct ic_msg m;
	const uint8_t *d;
	uint32_t dlen;

	if (!buf)
		return;
	memcpy(buf, data, size);
	if (size >= IC_HDR_LEN) {
		uint32_t plen = get_be32(buf + 8), dl = get_be32(buf + 12);

		if (dl <= plen && plen <= size - IC_HDR_LEN)
			put_be32(buf + 32, crc(buf + IC_HDR_LEN, plen - dl));
		put_be32(buf + 36, crc(buf, 36));
	}
	if (!ic_frame_decode(buf, size, IC_MAX_PAYLOAD_LIMIT, &m, &d, &dlen))
		check_roundtrip(&m, buf);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ic_msg m;
	const uint8_t *d;
	uint32_t dlen;
	size_t off = 0;

	if (size && (data[0] & 1))
		fixed_crc_frame(data + 1, size - 1);
	/* Whole input as one frame, before and after authentication. */
	if (!ic_frame_decode(data, size, IC_HANDSHAKE_MAX_PAYLOAD, &m, &d,
			     &dlen))
		check_roundtrip(&m, data);
	if (!ic_frame_decode(data, size, IC_MAX_PAYLOAD_LIMIT, &m, &d, &dlen)) {
		if (d + dlen != data + size)
			abort();
		check_roundtrip(&m, data);
	}

	/* As a stream of frames. */
	while (size - off >= IC_HDR_LEN) {
		struct ic_hdr h;
		uint32_t flen;
		int rc;

		if (ic_hdr_decode(data + off, 1u << 20, &h))
			return 0;
		flen = ic_hdr_fields_len(&h);
		if (h.payload_len > size - off - IC_HDR_LEN)
			return 0;
		rc = ic_msg_decode(&h, data + off + IC_HDR_LEN, flen, &m);
		if (!rc)
			check_roundtrip(&m, data + off);
		else if (rc != -EBADMSG && rc != -EPROTO && rc != -EOPNOTSUPP)
			abort();
		off += IC_HDR_LEN + h.payload_len;
	}
	return 0;
}
