// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: arbitrary bytes as a sequence of Login Requests
 * (48-byte BHS, then the data segment of the length the BHS claims, cut
 * at the end of the input), through iscsi_login_new/rx/free; after a
 * successful login the rest goes through iscsi_text_rx as Text Requests.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "duet/iscsi.h"
#include "duet/iscsi_login.h"
#include "duet/iscsi_param.h"
#include "duet/log.h"

#include "fuzz_log_stub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int bind_calls;

static int stub_bind(void *arg, const struct iscsi_login_result *res)
{
	bind_calls++;
	if (bind_calls != 1)
		__builtin_trap(); /* bind must be called exactly once */
	return res->isid[5] == 0xee ? -0x020a : 1;
}

static struct cfg_target tcfg = {
	.name = "iqn.2026-11.org.example:disk0", .alias = "disk0", .tpgt = 1};
static struct cfg_portal portals[] = {{.host = "0.0.0.0", .port = 3260},
				      {.host = "::1", .port = 3260}};

static void check_rsp(const struct iscsi_pdu_out *rsp, uint32_t limit)
{
	volatile uint8_t sink = 0;

	if (rsp->dlen > limit || iscsi_bhs_dlen(rsp->bhs) != rsp->dlen)
		__builtin_trap();
	for (uint32_t i = 0; i < rsp->dlen; i++) /* ASan checks the data */
		sink ^= rsp->data[i];
	(void)sink;
}

/* A whole login response: well-formed text, every key once. */
static void check_keys(const struct iscsi_pdu_out *rsp)
{
	struct iscsi_kvlist kv;

	if (rsp->dlen && iscsi_kv_parse(rsp->data, rsp->dlen, &kv))
		__builtin_trap();
	if (rsp->dlen)
		iscsi_kv_free(&kv);
}

static size_t next_pdu(const uint8_t *data, size_t size, size_t off,
		       uint8_t *bhs, const uint8_t **seg, uint32_t *dlen)
{
	memcpy(bhs, data + off, ISCSI_BHS_LEN);
	off += ISCSI_BHS_LEN;
	*dlen = iscsi_bhs_dlen(bhs);
	if (*dlen > size - off) {
		*dlen = (uint32_t)(size - off); /* and the BHS disagrees */
	}
	*seg = data + off;
	return off + *dlen;
}

static void text_phase(const struct iscsi_login_result *res,
		       const uint8_t *data, size_t size, size_t off)
{
	struct iscsi_text_ctx tctx = {
		.type = res->type,
		.initiator_name = res->initiator_name,
		.peer_addr = "127.0.0.1",
		.local_addr = "127.0.0.1",
		.local_port = 3260,
		.target = res->target,
		.params = &res->params,
	};
	struct iscsi_text *t = iscsi_text_new(&tctx);
	uint8_t bhs[ISCSI_BHS_LEN];
	struct iscsi_pdu_out rsp;

	while (t && size - off >= ISCSI_BHS_LEN) {
		const uint8_t *seg;
		uint32_t dlen;

		off = next_pdu(data, size, off, bhs, &seg, &dlen);
		if (iscsi_text_rx(t, bhs, seg, dlen, &rsp) == 0)
			check_rsp(&rsp, res->params.max_xmit_dsl < 512
						? 512
						: res->params.max_xmit_dsl);
	}
	iscsi_text_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cfg_iscsi cfg = {
		.queue_depth = 128,
		.max_recv_data_segment_length = 262144,
		.max_burst_length = 1048576,
		.first_burst_length = 65536,
		.max_outstanding_r2t = 4,
		.immediate_data = true,
		.header_digest = true,
		.data_digest = true,
		.default_time2wait = 2,
	};
	struct iscsi_login_ctx ctx = {
		.cfg = &cfg,
		.peer_addr = "127.0.0.1",
		.local_addr = "127.0.0.1",
		.local_port = 3260,
		.bind = stub_bind,
	};
	struct iscsi_login *l;
	uint8_t bhs[ISCSI_BHS_LEN];
	struct iscsi_pdu_out rsp;
	size_t off = 0;
	int st = ISCSI_LOGIN_CONTINUE;
	bool split = false;

	if (iscsi_target_count() == 0) {
		iscsi_target_register(&tcfg, NULL);
		iscsi_target_set_portals(portals, 2);
	}
	bind_calls = 0;
	l = iscsi_login_new(&ctx);
	if (!l)
		return 0;
	while (st == ISCSI_LOGIN_CONTINUE && size - off >= ISCSI_BHS_LEN) {
		const uint8_t *seg;
		uint32_t dlen;

		off = next_pdu(data, size, off, bhs, &seg, &dlen);
		st = iscsi_login_rx(l, bhs, seg, dlen, &rsp);
		check_rsp(&rsp, 8192);
		if (!split && !(rsp.bhs[1] & ISCSI_FLAG_LOGIN_CONTINUE))
			check_keys(&rsp);
		split = rsp.bhs[1] & ISCSI_FLAG_LOGIN_CONTINUE;
		if (st != ISCSI_LOGIN_DONE && bind_calls &&
		    st != ISCSI_LOGIN_FAILED && st != ISCSI_LOGIN_CONTINUE)
			__builtin_trap();
	}
	if (st == ISCSI_LOGIN_DONE)
		text_phase(iscsi_login_result(l), data, size, off);
	iscsi_login_free(l);
	return 0;
}
