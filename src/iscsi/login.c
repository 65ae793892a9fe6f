// SPDX-License-Identifier: Apache-2.0
/*
 * The iSCSI login state machine (RFC 7143 sections 6, 11.12, 11.13).
 * Transport-independent: one Login Request in, one Login Response out.
 * Reads top to bottom: header checks, text accumulation (C bit), the first
 * request (names, session type, target, access lists), the security stage
 * (an auth hook; AuthMethod=None for now), the operational stage, and the
 * final transition with the bind callback.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "duet/iscsi_login.h"
#include "duet/iscsi_param.h"
#include "duet/log.h"

struct iscsi_login;

/*
 * Authentication seam. step() handles the security keys of one request
 * (CHAP_A/I/C/N/R ...; the login layer never interprets them): returns 0
 * when the initiator is authenticated, 1 when another exchange is needed,
 * or a negative login status -(class << 8 | detail), e.g.
 * -ISCSI_LOGIN_STATUS_AUTH_FAILED. Per-login state lives in l->auth_priv
 * and is released by release(). CHAP will be one more entry in
 * auth_methods[], and auth_required() will read the target's secrets.
 */
struct iscsi_auth_ops {
	const char *name; /* AuthMethod value */
	int (*step)(struct iscsi_login *l, const struct iscsi_kvlist *in,
		    struct iscsi_textbuf *out);
	void (*release)(void *priv);
};

struct iscsi_login {
	struct iscsi_login_ctx ctx;
	struct iscsi_login_result res;
	struct iscsi_neg neg;
	const struct iscsi_auth_ops *auth; /* chosen method, NULL = none yet */
	bool authenticated;
	void *auth_priv; /* the method's per-login state */
	bool have_hdr;	 /* ISID/TSIH/CID recorded */
	bool first_done; /* first complete request processed */
	bool finished;	 /* final or failed response sent */
	bool target_keys_sent;
	int stage; /* CSG the next request must carry */
	uint32_t itt;
	uint32_t statsn; /* StatSN of the next response */
	uint8_t *acc;	 /* request text accumulated over C-bit PDUs */
	size_t acc_len;
	struct iscsi_textbuf out; /* response text */
	size_t out_off;	   /* next byte of out to send (split responses) */
	uint8_t out_flags; /* flags of the last part of a split response */
	int out_state;	   /* return value once the last part is sent */
	int out_stage;	   /* stage after the last part is sent */
	uint16_t out_tsih;
};

static int auth_none_step(struct iscsi_login *l, const struct iscsi_kvlist *in,
			  struct iscsi_textbuf *out)
{
	return 0;
}

static const struct iscsi_auth_ops auth_none = {"None", auth_none_step, NULL};
static const struct iscsi_auth_ops *const auth_methods[] = {&auth_none};

/* Whether the target demands authentication (CHAP secrets configured).
 * Nothing configures it yet. */
static bool auth_required(const struct iscsi_login *l)
{
	return false;
}

static uint32_t initial_statsn(void)
{
	uint32_t v;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
		v = (uint32_t)time(NULL) * 2654435761u;
	return v;
}

struct iscsi_login *iscsi_login_new(const struct iscsi_login_ctx *ctx)
{
	struct iscsi_login *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->ctx = *ctx;
	l->statsn = initial_statsn();
	iscsi_textbuf_init(&l->out, ISCSI_TEXT_MAX);
	iscsi_params_defaults(&l->res.params);
	return l;
}

void iscsi_login_free(struct iscsi_login *l)
{
	if (!l)
		return;
	if (l->auth && l->auth->release)
		l->auth->release(l->auth_priv);
	free(l->acc);
	iscsi_textbuf_free(&l->out);
	free(l);
}

const struct iscsi_login_result *iscsi_login_result(const struct iscsi_login *l)
{
	return &l->res;
}

static const char *who(const struct iscsi_login *l)
{
	return l->res.initiator_name[0] ? l->res.initiator_name : "(unnamed)";
}

static const char *peer(const struct iscsi_login *l)
{
	return l->ctx.peer_addr ? l->ctx.peer_addr : "?";
}

/* ---- responses ------------------------------------------------------- */

static void fill_bhs(struct iscsi_login *l, const uint8_t *req, uint8_t flags,
		     uint16_t tsih, uint16_t status, struct iscsi_pdu_out *rsp)
{
	uint8_t *b = rsp->bhs;
	uint32_t cmdsn = get_be32(req + ISCSI_BHS_CMDSN);
	uint32_t qd = l->ctx.cfg && l->ctx.cfg->queue_depth
			      ? l->ctx.cfg->queue_depth
			      : 1;

	memset(b, 0, ISCSI_BHS_LEN);
	b[0] = ISCSI_OP_LOGIN_RSP;
	b[1] = flags;
	b[2] = 0; /* VersionMax */
	b[3] = 0; /* VersionActive */
	iscsi_bhs_set_dlen(b, rsp->dlen);
	memcpy(b + 8, req + 8, 6); /* ISID */
	put_be16(b + 14, tsih);
	memcpy(b + ISCSI_BHS_ITT, req + ISCSI_BHS_ITT, 4);
	put_be32(b + ISCSI_BHS_STATSN, l->statsn);
	put_be32(b + 28, cmdsn);	  /* ExpCmdSN */
	put_be32(b + 32, cmdsn + qd - 1); /* MaxCmdSN */
	b[36] = (uint8_t)(status >> 8);	  /* Status-Class */
	b[37] = (uint8_t)status;	  /* Status-Detail */
	if (status == 0)
		l->statsn++;
}

static int fail(struct iscsi_login *l, const uint8_t *req, uint16_t status,
		struct iscsi_pdu_out *rsp, const char *why)
{
	log_warn("iscsi: login from %s (%s) target %s refused, status "
		 "0x%04x: %s",
		 who(l), peer(l),
		 l->res.target_name[0] ? l->res.target_name : "-", status, why);
	rsp->data = NULL;
	rsp->dlen = 0;
	fill_bhs(l, req, req[1] & ISCSI_LOGIN_CSG_MASK, 0, status, rsp);
	l->finished = true;
	return ISCSI_LOGIN_FAILED;
}

/* Send the next part of l->out (at most ISCSI_LOGIN_DSL bytes). */
static int send_part(struct iscsi_login *l, const uint8_t *req,
		     struct iscsi_pdu_out *rsp)
{
	size_t left = l->out.len - l->out_off;
	uint8_t csg = (uint8_t)(l->out_flags & ISCSI_LOGIN_CSG_MASK);

	rsp->data = l->out.buf ? l->out.buf + l->out_off : NULL;
	if (left > ISCSI_LOGIN_DSL) {
		rsp->dlen = ISCSI_LOGIN_DSL;
		l->out_off += ISCSI_LOGIN_DSL;
		fill_bhs(l, req, ISCSI_FLAG_LOGIN_CONTINUE | csg, 0, 0, rsp);
		return ISCSI_LOGIN_CONTINUE;
	}
	rsp->dlen = (uint32_t)left;
	l->out_off = l->out.len;
	fill_bhs(l, req, l->out_flags, l->out_tsih, 0, rsp);
	l->stage = l->out_stage;
	if (l->out_state == ISCSI_LOGIN_DONE) {
		l->finished = true;
		l->res.next_statsn = l->statsn;
	}
	return l->out_state;
}

/* ---- header checks --------------------------------------------------- */

static uint16_t check_stages(const struct iscsi_login *l, uint8_t flags)
{
	bool t = flags & ISCSI_FLAG_LOGIN_TRANSIT;
	int csg = (flags & ISCSI_LOGIN_CSG_MASK) >> ISCSI_LOGIN_CSG_SHIFT;
	int nsg = flags & ISCSI_LOGIN_NSG_MASK;

	if (t && (flags & ISCSI_FLAG_LOGIN_CONTINUE))
		return ISCSI_LOGIN_STATUS_INIT_ERR;
	if (csg != ISCSI_STAGE_SECURITY && csg != ISCSI_STAGE_OPERATIONAL)
		return ISCSI_LOGIN_STATUS_INVALID_REQUEST;
	if (t && (nsg == 2 || nsg <= csg))
		return ISCSI_LOGIN_STATUS_INVALID_REQUEST;
	if (l->have_hdr && csg != l->stage)
		return ISCSI_LOGIN_STATUS_INVALID_REQUEST;
	if (!l->have_hdr && csg == ISCSI_STAGE_OPERATIONAL && auth_required(l))
		return ISCSI_LOGIN_STATUS_AUTH_FAILED;
	return 0;
}

static uint16_t check_header(struct iscsi_login *l, const uint8_t *bhs,
			     const uint8_t *data, uint32_t dlen)
{
	uint16_t st;

	if (iscsi_bhs_opcode(bhs) != ISCSI_OP_LOGIN_REQ)
		return ISCSI_LOGIN_STATUS_INVALID_REQUEST;
	if (bhs[3] != 0 || bhs[2] < bhs[3]) /* VersionMin, VersionMax */
		return ISCSI_LOGIN_STATUS_NO_VERSION;
	if (bhs[ISCSI_BHS_TOTAL_AHS_LEN] != 0 || iscsi_bhs_dlen(bhs) != dlen ||
	    dlen > ISCSI_LOGIN_DSL || (dlen && !data))
		return ISCSI_LOGIN_STATUS_INIT_ERR;
	st = check_stages(l, bhs[1]);
	if (st)
		return st;
	if (!l->have_hdr) {
		memcpy(l->res.isid, bhs + 8, 6);
		l->res.tsih = get_be16(bhs + 14);
		l->res.cid = get_be16(bhs + 20);
		l->stage = (bhs[1] & ISCSI_LOGIN_CSG_MASK) >>
			   ISCSI_LOGIN_CSG_SHIFT;
		l->have_hdr = true;
	} else if (memcmp(l->res.isid, bhs + 8, 6) ||
		   l->res.tsih != get_be16(bhs + 14) ||
		   l->res.cid != get_be16(bhs + 20)) {
		return ISCSI_LOGIN_STATUS_INVALID_REQUEST;
	}
	l->itt = get_be32(bhs + ISCSI_BHS_ITT);
	l->res.cmdsn = get_be32(bhs + ISCSI_BHS_CMDSN);
	return 0;
}

static int accumulate(struct iscsi_login *l, const uint8_t *data, uint32_t dlen)
{
	uint8_t *n;

	if (dlen == 0)
		return 0;
	if (dlen > ISCSI_TEXT_MAX - l->acc_len)
		return -E2BIG;
	n = realloc(l->acc, l->acc_len + dlen);
	if (!n)
		return -ENOMEM;
	memcpy(n + l->acc_len, data, dlen);
	l->acc = n;
	l->acc_len += dlen;
	return 0;
}

/* ---- the first request: who, to whom, what kind of session ----------- */

static uint16_t first_names(struct iscsi_login *l,
			    const struct iscsi_kvlist *kv, const char **why)
{
	const char *iname = iscsi_kv_get(kv, "InitiatorName");
	const char *alias = iscsi_kv_get(kv, "InitiatorAlias");
	const char *stype = iscsi_kv_get(kv, "SessionType");

	if (!iname || !*iname) {
		*why = "no InitiatorName";
		return ISCSI_LOGIN_STATUS_MISSING_FIELDS;
	}
	if (strlen(iname) >= ISCSI_NAME_MAX) {
		*why = "InitiatorName too long";
		return ISCSI_LOGIN_STATUS_INIT_ERR;
	}
	strcpy(l->res.initiator_name, iname);
	if (alias) {
		if (strlen(alias) >= sizeof(l->res.initiator_alias)) {
			*why = "InitiatorAlias too long";
			return ISCSI_LOGIN_STATUS_INIT_ERR;
		}
		strcpy(l->res.initiator_alias, alias);
	}
	if (!stype || !strcmp(stype, "Normal")) {
		l->res.type = ISCSI_SESSION_NORMAL;
	} else if (!strcmp(stype, "Discovery")) {
		l->res.type = ISCSI_SESSION_DISCOVERY;
	} else {
		*why = "unsupported SessionType";
		return ISCSI_LOGIN_STATUS_NO_SESSION_TYPE;
	}
	return 0;
}

static uint16_t first_request(struct iscsi_login *l,
			      const struct iscsi_kvlist *kv, const char **why)
{
	const char *tname = iscsi_kv_get(kv, "TargetName");
	uint16_t st = first_names(l, kv, why);

	if (st)
		return st;
	iscsi_neg_init(&l->neg, l->ctx.cfg, l->res.type, l->res.tsih == 0);
	if (l->res.type == ISCSI_SESSION_DISCOVERY)
		return 0;
	if (!tname || !*tname) {
		*why = "no TargetName in a normal session";
		return ISCSI_LOGIN_STATUS_MISSING_FIELDS;
	}
	if (strlen(tname) >= ISCSI_NAME_MAX) {
		*why = "TargetName too long";
		return ISCSI_LOGIN_STATUS_TGT_NOT_FOUND;
	}
	strcpy(l->res.target_name, tname);
	l->res.target = l->ctx.port ? iscsi_port_find_target(l->ctx.port, tname)
				    : iscsi_target_find(tname);
	if (!l->res.target) {
		*why = "no such target";
		return ISCSI_LOGIN_STATUS_TGT_NOT_FOUND;
	}
	if (!iscsi_target_allows(l->res.target, l->res.initiator_name,
				 l->ctx.peer_addr)) {
		*why = "initiator not in the target's access lists";
		return ISCSI_LOGIN_STATUS_TGT_FORBIDDEN;
	}
	return 0;
}

/* Keys that may only appear in the first request of a login. */
static bool redeclared(const struct iscsi_kvlist *kv)
{
	static const char *const once[] = {"InitiatorName", "TargetName",
					   "SessionType", "InitiatorAlias"};

	for (size_t i = 0; i < ARRAY_SIZE(once); i++)
		if (iscsi_kv_get(kv, once[i]))
			return true;
	return false;
}

/* TargetPortalGroupTag and TargetAlias go in the first response of a
 * normal session. */
static int target_keys(struct iscsi_login *l)
{
	const struct cfg_target *t;
	int rc;

	if (l->target_keys_sent || !l->res.target)
		return 0;
	l->target_keys_sent = true;
	t = l->res.target->cfg;
	rc = iscsi_textbuf_addf(&l->out, "TargetPortalGroupTag", "%u",
				l->ctx.port && iscsi_port_tpgt(l->ctx.port)
					? iscsi_port_tpgt(l->ctx.port)
					: t->tpgt);
	if (rc == 0 && t->alias && *t->alias)
		rc = iscsi_textbuf_add(&l->out, "TargetAlias", t->alias);
	return rc;
}

/* ---- security stage -------------------------------------------------- */

static const struct iscsi_auth_ops *pick_auth(const struct iscsi_login *l,
					      const char *list)
{
	const char *p = list;

	while (p && *p) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		for (size_t i = 0; i < ARRAY_SIZE(auth_methods); i++) {
			const struct iscsi_auth_ops *a = auth_methods[i];

			if (strlen(a->name) != len || strncmp(a->name, p, len))
				continue;
			if (a == &auth_none && auth_required(l))
				continue;
			return a;
		}
		p = e ? e + 1 : NULL;
	}
	return NULL;
}

/* Returns 0 or a login status; *why says what went wrong. */
static uint16_t security_stage(struct iscsi_login *l,
			       const struct iscsi_kvlist *kv, bool transit,
			       const char **why)
{
	const char *methods = iscsi_kv_get(kv, "AuthMethod");
	int rc;

	if (methods) {
		if (l->auth) {
			*why = "AuthMethod negotiated twice";
			return ISCSI_LOGIN_STATUS_INIT_ERR;
		}
		if (strlen(methods) > ISCSI_VALUE_MAX) {
			*why = "AuthMethod list too long";
			return ISCSI_LOGIN_STATUS_INIT_ERR;
		}
		l->auth = pick_auth(l, methods);
		if (!l->auth) {
			*why = "no acceptable AuthMethod offered";
			return ISCSI_LOGIN_STATUS_AUTH_FAILED;
		}
		if (iscsi_textbuf_add(&l->out, "AuthMethod", l->auth->name))
			return ISCSI_LOGIN_STATUS_TARGET_ERROR;
	}
	if (l->auth && !l->authenticated) {
		rc = l->auth->step(l, kv, &l->out);
		if (rc < 0) {
			*why = "authentication failed";
			return (uint16_t)-rc;
		}
		l->authenticated = rc == 0;
	}
	if (transit && !l->authenticated && auth_required(l)) {
		*why = "leaving the security stage unauthenticated";
		return ISCSI_LOGIN_STATUS_AUTH_FAILED;
	}
	return 0;
}

/* ---- one complete request -------------------------------------------- */

static uint16_t stage_keys(struct iscsi_login *l, const struct iscsi_kvlist *kv,
			   bool transit, const char **why)
{
	uint16_t st;
	int rc;

	if (l->stage == ISCSI_STAGE_SECURITY) {
		st = security_stage(l, kv, transit, why);
		if (st)
			return st;
	} else if (iscsi_kv_get(kv, "AuthMethod")) {
		if (iscsi_textbuf_add(&l->out, "AuthMethod", "Irrelevant"))
			return ISCSI_LOGIN_STATUS_TARGET_ERROR;
	}
	if (iscsi_kv_get(kv, "SendTargets") &&
	    iscsi_textbuf_add(&l->out, "SendTargets", "Irrelevant"))
		return ISCSI_LOGIN_STATUS_TARGET_ERROR;
	rc = iscsi_neg_process(&l->neg, ISCSI_NEG_LOGIN, kv, &l->out);
	if (rc == -EPROTO) {
		*why = "key negotiated twice";
		return ISCSI_LOGIN_STATUS_INIT_ERR;
	}
	if (rc == -EBADMSG) {
		*why = "answer to a key the target offered is not a valid "
		       "result";
		return ISCSI_LOGIN_STATUS_INIT_ERR;
	}
	if (rc == 0 && l->stage == ISCSI_STAGE_OPERATIONAL)
		rc = iscsi_neg_declare(&l->neg, &l->out);
	if (rc) {
		*why = "response text too large";
		return ISCSI_LOGIN_STATUS_INIT_ERR;
	}
	return 0;
}

static uint16_t parse_request(struct iscsi_login *l, struct iscsi_kvlist *kv,
			      const char **why)
{
	int rc = iscsi_kv_parse(l->acc, l->acc_len, kv);

	free(l->acc);
	l->acc = NULL;
	l->acc_len = 0;
	if (rc == -EEXIST) {
		*why = "key repeated in a request";
		return ISCSI_LOGIN_STATUS_INIT_ERR;
	}
	if (rc == -ENOMEM) {
		*why = "out of memory";
		return ISCSI_LOGIN_STATUS_NO_RESOURCES;
	}
	if (rc) {
		*why = "malformed key=value text";
		return ISCSI_LOGIN_STATUS_INIT_ERR;
	}
	return 0;
}

static uint16_t handle_text(struct iscsi_login *l, bool transit,
			    const char **why)
{
	struct iscsi_kvlist kv;
	uint16_t st = parse_request(l, &kv, why);

	if (st)
		return st;
	if (!l->first_done) {
		st = first_request(l, &kv, why);
		l->first_done = true;
	} else if (redeclared(&kv)) {
		*why = "name or session type declared again";
		st = ISCSI_LOGIN_STATUS_INIT_ERR;
	}
	if (!st && l->res.type == ISCSI_SESSION_NORMAL && target_keys(l)) {
		*why = "response text too large";
		st = ISCSI_LOGIN_STATUS_TARGET_ERROR;
	}
	if (!st)
		st = stage_keys(l, &kv, transit, why);
	iscsi_kv_free(&kv);
	return st;
}

/* Before the operational stage ends: offer the keys the initiator left
 * out where our configuration differs from the RFC default (RFC 7143
 * 6.2), answering with T=0 until it has responded. An initiator that asks
 * to transit again without answering keeps the RFC defaults. */
static uint16_t offer_keys(struct iscsi_login *l, bool *transit,
			   const char **why)
{
	int n;

	if (l->stage != ISCSI_STAGE_OPERATIONAL)
		return 0;
	n = iscsi_neg_offer(&l->neg, &l->out);
	if (n < 0) {
		*why = "response text too large";
		return ISCSI_LOGIN_STATUS_TARGET_ERROR;
	}
	if (n > 0) {
		*transit = false;
		return 0;
	}
	if (iscsi_neg_drop_offers(&l->neg))
		log_warn("iscsi: login from %s (%s): keys offered by the "
			 "target were not answered; RFC 7143 defaults kept",
			 who(l), peer(l));
	return 0;
}

/* The last step: negotiate the leftovers, bind the connection. */
static int finish(struct iscsi_login *l, const char **why)
{
	int tsih;

	if (iscsi_neg_declare(&l->neg, &l->out)) {
		*why = "response text too large";
		return -ISCSI_LOGIN_STATUS_TARGET_ERROR;
	}
	iscsi_neg_finish(&l->neg);
	l->res.params = l->neg.params;
	if (!l->ctx.bind)
		return 1;
	tsih = l->ctx.bind(l->ctx.arg, &l->res);
	if (tsih < 0) {
		*why = "the session layer refused the connection";
		if ((-tsih >> 8) >= 1 && (-tsih >> 8) <= 3 && -tsih <= 0xffff)
			return tsih;
		return -ISCSI_LOGIN_STATUS_TARGET_ERROR;
	}
	if (tsih == 0 || tsih > 0xffff) {
		*why = "the session layer returned an invalid TSIH";
		return -ISCSI_LOGIN_STATUS_TARGET_ERROR;
	}
	return tsih;
}

int iscsi_login_rx(struct iscsi_login *l, const uint8_t *bhs,
		   const uint8_t *data, uint32_t dlen,
		   struct iscsi_pdu_out *rsp)
{
	const char *why = "malformed Login Request header";
	uint8_t flags = bhs[1];
	bool transit = flags & ISCSI_FLAG_LOGIN_TRANSIT;
	int nsg = flags & ISCSI_LOGIN_NSG_MASK;
	uint16_t st;
	int tsih;

	memset(rsp, 0, sizeof(*rsp));
	if (l->finished)
		return fail(l, bhs, ISCSI_LOGIN_STATUS_INVALID_REQUEST, rsp,
			    "Login Request after the login ended");
	st = check_header(l, bhs, data, dlen);
	if (st)
		return fail(l, bhs, st, rsp, why);
	if (l->out_off < l->out.len) {
		/* We are sending a split response: expect empty requests. */
		if (dlen || (flags & ISCSI_FLAG_LOGIN_CONTINUE))
			return fail(l, bhs, ISCSI_LOGIN_STATUS_INIT_ERR, rsp,
				    "text sent while the target continues");
		return send_part(l, bhs, rsp);
	}
	if (accumulate(l, data, dlen))
		return fail(l, bhs, ISCSI_LOGIN_STATUS_INIT_ERR, rsp,
			    "login text too long");
	if (flags & ISCSI_FLAG_LOGIN_CONTINUE) {
		rsp->dlen = 0;
		fill_bhs(l, bhs, (uint8_t)(flags & ISCSI_LOGIN_CSG_MASK), 0, 0,
			 rsp);
		return ISCSI_LOGIN_CONTINUE;
	}
	l->out.len = 0;
	l->out_off = 0;
	st = handle_text(l, transit, &why);
	if (st)
		return fail(l, bhs, st, rsp, why);
	if (transit && nsg == ISCSI_STAGE_FULL_FEATURE) {
		st = offer_keys(l, &transit, &why);
		if (st)
			return fail(l, bhs, st, rsp, why);
	}
	l->out_flags = (uint8_t)(flags & ISCSI_LOGIN_CSG_MASK);
	l->out_state = ISCSI_LOGIN_CONTINUE;
	l->out_tsih = 0;
	l->out_stage = l->stage;
	if (transit) {
		l->out_flags |= (uint8_t)(ISCSI_FLAG_LOGIN_TRANSIT | nsg);
		l->out_stage = nsg;
	}
	if (transit && nsg == ISCSI_STAGE_FULL_FEATURE) {
		tsih = finish(l, &why);
		if (tsih < 0)
			return fail(l, bhs, (uint16_t)-tsih, rsp, why);
		l->out_tsih = (uint16_t)tsih;
		l->out_state = ISCSI_LOGIN_DONE;
		/* the connection logs the one info line of this login,
		 * with the negotiated parameters */
		log_debug("iscsi: %s login from %s (%s)%s%s accepted, tsih %d",
			  l->res.type == ISCSI_SESSION_DISCOVERY ? "discovery"
								 : "normal",
			  who(l), peer(l), l->res.target ? " to " : "",
			  l->res.target_name, tsih);
	}
	return send_part(l, bhs, rsp);
}
