// SPDX-License-Identifier: Apache-2.0
/*
 * Text Requests in Full Feature Phase (RFC 7143 11.10, 11.11, appendix C):
 * SendTargets for discovery and normal sessions, MaxRecvDataSegmentLength
 * renegotiation, and the C bit / Target Transfer Tag dance for long texts
 * in either direction.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>

#include "duet/iscsi_login.h"
#include "duet/iscsi_param.h"
#include "duet/log.h"

#define SENDTARGETS_MAX (1024 * 1024) /* bytes of SendTargets response */

struct iscsi_text {
	struct iscsi_text_ctx ctx;
	struct iscsi_neg neg;  /* FFP renegotiation */
	uint32_t max_xmit_dsl; /* may change by renegotiation */
	uint8_t *acc;	       /* request text over C-bit PDUs */
	size_t acc_len;
	uint32_t acc_ttt; /* TTT we gave for the next request part */
	bool acc_active;
	struct iscsi_textbuf out; /* response being sent */
	size_t out_off;
	uint32_t out_ttt;
	uint32_t itt;	   /* ITT of the exchange in progress */
	bool req_final;	   /* the request had F=1 */
	bool idle_active;  /* answered F=0 with idle_ttt: the */
	uint32_t idle_ttt; /* initiator may go on negotiating */
	uint32_t next_ttt;
};

/* Only MaxRecvDataSegmentLength is negotiable in FFP; it needs no cfg. */
static const struct cfg_iscsi ffp_cfg;

struct iscsi_text *iscsi_text_new(const struct iscsi_text_ctx *ctx)
{
	struct iscsi_text *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->ctx = *ctx;
	iscsi_neg_init(&t->neg, &ffp_cfg, ctx->type, false);
	t->max_xmit_dsl = ctx->params ? ctx->params->max_xmit_dsl : 8192;
	t->neg.params.max_xmit_dsl = t->max_xmit_dsl;
	t->next_ttt = 1;
	iscsi_textbuf_init(&t->out, SENDTARGETS_MAX);
	return t;
}

void iscsi_text_free(struct iscsi_text *t)
{
	if (!t)
		return;
	free(t->acc);
	iscsi_textbuf_free(&t->out);
	free(t);
}

uint32_t iscsi_text_max_xmit_dsl(const struct iscsi_text *t)
{
	return t->max_xmit_dsl;
}

static uint32_t new_ttt(struct iscsi_text *t)
{
	uint32_t v = t->next_ttt++;

	if (t->next_ttt == ISCSI_RESERVED_TAG)
		t->next_ttt = 1;
	return v;
}

static void reset(struct iscsi_text *t)
{
	free(t->acc);
	t->acc = NULL;
	t->acc_len = 0;
	t->acc_active = false;
	t->idle_active = false;
	t->out.len = 0;
	t->out_off = 0;
}

/* ---- SendTargets ----------------------------------------------------- */

static bool is_wildcard(const char *h)
{
	return !strcmp(h, "0.0.0.0") || !strcmp(h, "::");
}

static void format_host(const char *h, char *buf, size_t len)
{
	if (!strncmp(h, "::ffff:", 7) && strchr(h + 7, '.'))
		h += 7; /* IPv4-mapped: report the IPv4 address */
	if (strchr(h, ':'))
		snprintf(buf, len, "[%s]", h);
	else
		snprintf(buf, len, "%s", h);
}

static int add_target(struct iscsi_text *t, const struct iscsi_target *tg)
{
	int rc = iscsi_textbuf_add(&t->out, "TargetName", tg->cfg->name);

	for (size_t i = 0; rc == 0 && i < iscsi_portal_count(); i++) {
		const struct cfg_portal *p = iscsi_portal_at(i);
		const char *h = p->host;
		char host[INET6_ADDRSTRLEN + 2];

		if (is_wildcard(h)) {
			if (!t->ctx.local_addr)
				continue;
			h = t->ctx.local_addr;
		}
		format_host(h, host, sizeof(host));
		rc = iscsi_textbuf_addf(&t->out, "TargetAddress", "%s:%u,%u",
					host, p->port, tg->cfg->tpgt);
	}
	return rc;
}

static bool visible(const struct iscsi_text *t, const struct iscsi_target *tg)
{
	if (t->ctx.type == ISCSI_SESSION_NORMAL)
		return tg == t->ctx.target;
	return iscsi_target_allows(tg, t->ctx.initiator_name, t->ctx.peer_addr);
}

static int send_targets(struct iscsi_text *t, const char *what)
{
	size_t mark;
	int rc = 0;

	if (!*what && t->ctx.type == ISCSI_SESSION_DISCOVERY)
		return iscsi_textbuf_add(&t->out, "SendTargets", "Reject");
	for (size_t i = 0; i < iscsi_target_count(); i++) {
		const struct iscsi_target *tg = iscsi_target_at(i);

		if (!visible(t, tg))
			continue;
		if (*what && strcmp(what, "All") &&
		    strcasecmp(what, tg->cfg->name))
			continue;
		mark = t->out.len;
		rc = add_target(t, tg);
		if (rc == -ENOSPC) {
			t->out.len = mark; /* whole targets only */
			log_warn("iscsi: SendTargets for %s (%s) truncated at "
				 "%zu bytes",
				 t->ctx.initiator_name, t->ctx.peer_addr,
				 t->out.len);
			return 0;
		}
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- one complete request -------------------------------------------- */

static int answer_keys(struct iscsi_text *t, const struct iscsi_kvlist *kv)
{
	const char *st = iscsi_kv_get(kv, "SendTargets");
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < kv->n; i++) {
		const char *k = kv->kv[i].key;

		if (!iscsi_key_is_login_declarative(k) ||
		    !strcmp(k, "SendTargets") || !strcmp(k, "InitiatorAlias"))
			continue;
		rc = iscsi_textbuf_add(&t->out, k, "Reject");
	}
	if (rc == 0)
		rc = iscsi_neg_process(&t->neg, ISCSI_NEG_FFP, kv, &t->out);
	if (rc == 0)
		t->max_xmit_dsl = t->neg.params.max_xmit_dsl;
	if (rc == 0 && st)
		rc = send_targets(t, st);
	return rc;
}

static void fill_rsp(struct iscsi_text *t, const uint8_t *req,
		     struct iscsi_pdu_out *rsp)
{
	size_t left = t->out.len - t->out_off;
	size_t chunk = MAX(t->max_xmit_dsl, 512u);
	uint8_t *b = rsp->bhs;

	memset(b, 0, ISCSI_BHS_LEN);
	b[0] = ISCSI_OP_TEXT_RSP;
	memcpy(b + ISCSI_BHS_ITT, req + ISCSI_BHS_ITT, 4);
	rsp->data = left ? t->out.buf + t->out_off : NULL;
	if (left > chunk) {
		b[1] = ISCSI_FLAG_TEXT_CONTINUE;
		t->out_ttt = new_ttt(t);
		put_be32(b + ISCSI_BHS_TTT, t->out_ttt);
		rsp->dlen = (uint32_t)chunk;
		t->out_off += chunk;
	} else {
		if (t->req_final) {
			b[1] = ISCSI_FLAG_FINAL;
			put_be32(b + ISCSI_BHS_TTT, ISCSI_RESERVED_TAG);
		} else {
			/* F=0 request: F=0 answer with a TTT (RFC 7143
			 * 11.11.1); the initiator continues with it. */
			t->idle_ttt = new_ttt(t);
			t->idle_active = true;
			put_be32(b + ISCSI_BHS_TTT, t->idle_ttt);
		}
		rsp->dlen = (uint32_t)left;
		t->out_off = t->out.len = 0;
	}
	iscsi_bhs_set_dlen(b, rsp->dlen);
}

static int complete_request(struct iscsi_text *t, const uint8_t *bhs,
			    struct iscsi_pdu_out *rsp)
{
	struct iscsi_kvlist kv;
	int rc = iscsi_kv_parse(t->acc, t->acc_len, &kv);

	free(t->acc);
	t->acc = NULL;
	t->acc_len = 0;
	t->acc_active = false;
	if (rc) {
		log_warn("iscsi: malformed Text Request from %s (%s): %s",
			 t->ctx.initiator_name, t->ctx.peer_addr,
			 rc == -EEXIST ? "key repeated" : "bad key=value text");
		return -EINVAL;
	}
	t->out.len = t->out_off = 0;
	t->req_final = bhs[1] & ISCSI_FLAG_FINAL;
	rc = answer_keys(t, &kv);
	iscsi_kv_free(&kv);
	if (rc) {
		reset(t);
		return rc;
	}
	fill_rsp(t, bhs, rsp);
	return 0;
}

static int check_header(const struct iscsi_text *t, const uint8_t *bhs,
			const uint8_t *data, uint32_t dlen)
{
	uint8_t f = bhs[1];

	if (iscsi_bhs_opcode(bhs) != ISCSI_OP_TEXT_REQ ||
	    bhs[ISCSI_BHS_TOTAL_AHS_LEN] != 0 || iscsi_bhs_dlen(bhs) != dlen ||
	    (dlen && !data))
		return -EINVAL;
	if ((f & ISCSI_FLAG_FINAL) && (f & ISCSI_FLAG_TEXT_CONTINUE))
		return -EINVAL;
	if (t->ctx.params && t->ctx.params->max_recv_dsl &&
	    dlen > t->ctx.params->max_recv_dsl)
		return -EINVAL;
	return 0;
}

int iscsi_text_rx(struct iscsi_text *t, const uint8_t *bhs, const uint8_t *data,
		  uint32_t dlen, struct iscsi_pdu_out *rsp)
{
	uint32_t ttt = get_be32(bhs + ISCSI_BHS_TTT);
	uint32_t itt = get_be32(bhs + ISCSI_BHS_ITT);

	memset(rsp, 0, sizeof(*rsp));
	if (check_header(t, bhs, data, dlen))
		return -EINVAL;
	if (ttt == ISCSI_RESERVED_TAG) {
		reset(t); /* a new request restarts any exchange */
	} else if (itt != t->itt) {
		return -EINVAL; /* one ITT for the whole exchange */
	} else if (t->out.len && ttt == t->out_ttt) {
		if (dlen)
			return -EINVAL;
		fill_rsp(t, bhs, rsp);
		return 0;
	} else if (t->idle_active && ttt == t->idle_ttt) {
		t->idle_active = false; /* negotiation goes on */
	} else if (!t->acc_active || ttt != t->acc_ttt) {
		return -EINVAL;
	}
	t->itt = itt;
	if (dlen > ISCSI_TEXT_MAX - t->acc_len)
		return -EINVAL;
	if (dlen) {
		uint8_t *n = realloc(t->acc, t->acc_len + dlen);

		if (!n)
			return -ENOMEM;
		memcpy(n + t->acc_len, data, dlen);
		t->acc = n;
		t->acc_len += dlen;
	}
	if (!(bhs[1] & ISCSI_FLAG_TEXT_CONTINUE))
		return complete_request(t, bhs, rsp);
	t->acc_active = true;
	t->acc_ttt = new_ttt(t);
	rsp->bhs[0] = ISCSI_OP_TEXT_RSP;
	memcpy(rsp->bhs + ISCSI_BHS_ITT, bhs + ISCSI_BHS_ITT, 4);
	put_be32(rsp->bhs + ISCSI_BHS_TTT, t->acc_ttt);
	return 0;
}
