// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the login key parser and negotiation: arbitrary
 * bytes as a key=value data segment, parsed and negotiated in both a
 * normal and a discovery session, in login and in FFP.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "duet/iscsi_param.h"
#include "duet/log.h"

#include "fuzz_log_stub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_output(const struct iscsi_textbuf *b)
{
	struct iscsi_kvlist kv = {0};

	/* what we send must itself parse, each key once */
	if (b->len && iscsi_kv_parse(b->buf, b->len, &kv) != 0 &&
	    b->len <= ISCSI_TEXT_MAX)
		__builtin_trap();
	iscsi_kv_free(&kv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct cfg_iscsi cfg = {
		.queue_depth = 128,
		.max_recv_data_segment_length = 262144,
		.max_burst_length = 1048576,
		.first_burst_length = 65536,
		.max_outstanding_r2t = 4,
		.immediate_data = true,
		.header_digest = true,
		.default_time2wait = 2,
	};
	struct iscsi_kvlist kv;
	struct iscsi_textbuf out;
	struct iscsi_neg n;

	if (iscsi_kv_parse(data, size, &kv))
		return 0;
	for (int type = 0; type < 2; type++) {
		for (int ph = 0; ph < 2; ph++) {
			iscsi_neg_init(&n, &cfg, (enum iscsi_session_type)type,
				       ph == 0);
			iscsi_textbuf_init(&out, ISCSI_TEXT_MAX);
			iscsi_neg_process(&n, (enum iscsi_neg_phase)ph, &kv,
					  &out);
			if (ph == 0)
				iscsi_neg_declare(&n, &out);
			iscsi_neg_finish(&n);
			if (n.params.first_burst_length >
				    n.params.max_burst_length ||
			    n.params.error_recovery_level != 0 ||
			    n.params.max_xmit_dsl < 512)
				__builtin_trap();
			check_output(&out);
			iscsi_textbuf_free(&out);
		}
	}
	iscsi_kv_free(&kv);
	return 0;
}
