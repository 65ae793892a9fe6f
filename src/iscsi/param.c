// SPDX-License-Identifier: Apache-2.0
/*
 * iSCSI text keys: parsing key=value data segments and negotiating every
 * RFC 7143 section 13 key with its real result function.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duet/iscsi_param.h"
#include "duet/log.h"

/* ---- parsing --------------------------------------------------------- */

static bool key_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' ||
	       c == '@' || c == '_' || c == '#';
}

/* Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
static bool utf8_ok(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		i += n + 1;
	}
	return true;
}

static int parse_one(char *s, size_t slen, struct iscsi_kv *kv)
{
	char *eq = memchr(s, '=', slen);
	size_t klen, vlen;

	if (!eq)
		return -EINVAL;
	klen = (size_t)(eq - s);
	vlen = slen - klen - 1;
	if (klen == 0 || klen > ISCSI_KEY_MAX || vlen > ISCSI_VALUE_LARGE_MAX)
		return -EINVAL;
	for (size_t i = 0; i < klen; i++)
		if (!key_char_ok((unsigned char)s[i]))
			return -EINVAL;
	if (!utf8_ok((const unsigned char *)eq + 1, vlen))
		return -EINVAL;
	*eq = '\0';
	kv->key = s;
	kv->value = eq + 1;
	return 0;
}

static int kv_split(struct iscsi_kvlist *out, size_t len)
{
	size_t off = 0;

	while (off < len) {
		char *s = out->buf + off;
		size_t slen = strlen(s); /* bounded: buf[len - 1] == 0 */
		int rc;

		off += slen + 1;
		if (slen == 0)
			continue; /* tolerate NUL padding between pairs */
		if (out->n == ISCSI_KEYS_MAX)
			return -EINVAL;
		rc = parse_one(s, slen, &out->kv[out->n]);
		if (rc)
			return rc;
		for (size_t i = 0; i < out->n; i++)
			if (!strcmp(out->kv[i].key, out->kv[out->n].key))
				return -EEXIST;
		out->n++;
	}
	return 0;
}

int iscsi_kv_parse(const uint8_t *data, size_t len, struct iscsi_kvlist *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return 0;
	if (!data || len > ISCSI_TEXT_MAX || data[len - 1] != '\0')
		return -EINVAL;
	out->buf = malloc(len);
	out->kv = calloc(ISCSI_KEYS_MAX, sizeof(*out->kv));
	if (!out->buf || !out->kv) {
		iscsi_kv_free(out);
		return -ENOMEM;
	}
	memcpy(out->buf, data, len);
	rc = kv_split(out, len);
	if (rc)
		iscsi_kv_free(out);
	return rc;
}

void iscsi_kv_free(struct iscsi_kvlist *l)
{
	free(l->buf);
	free(l->kv);
	memset(l, 0, sizeof(*l));
}

const char *iscsi_kv_get(const struct iscsi_kvlist *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->kv[i].key, key))
			return l->kv[i].value;
	return NULL;
}

/* ---- output ---------------------------------------------------------- */

void iscsi_textbuf_init(struct iscsi_textbuf *b, size_t limit)
{
	memset(b, 0, sizeof(*b));
	b->limit = limit;
}

void iscsi_textbuf_free(struct iscsi_textbuf *b)
{
	free(b->buf);
	b->buf = NULL;
	b->len = b->cap = 0;
}

int iscsi_textbuf_add(struct iscsi_textbuf *b, const char *key,
		      const char *value)
{
	size_t kl = strlen(key), vl = strlen(value), need = kl + vl + 2;

	if (need > b->limit - b->len || b->len > b->limit)
		return -ENOSPC;
	if (b->len + need > b->cap) {
		size_t cap = MAX(b->cap * 2, b->len + need);
		uint8_t *nb;

		cap = MAX(cap, 256);
		nb = realloc(b->buf, cap);
		if (!nb)
			return -ENOMEM;
		b->buf = nb;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, key, kl);
	b->buf[b->len + kl] = '=';
	memcpy(b->buf + b->len + kl + 1, value, vl);
	b->buf[b->len + kl + 1 + vl] = '\0';
	b->len += need;
	return 0;
}

int iscsi_textbuf_addf(struct iscsi_textbuf *b, const char *key,
		       const char *fmt, ...)
{
	char v[ISCSI_VALUE_MAX + 1];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(v))
		return -EINVAL;
	return iscsi_textbuf_add(b, key, v);
}

/* ---- values ---------------------------------------------------------- */

int iscsi_parse_number(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	unsigned base = 10;

	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		if (!*s)
			return -EINVAL;
	}
	for (; *s; s++) {
		unsigned d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			return -EINVAL;
		if (v > (UINT64_MAX - d) / base)
			return -EINVAL;
		v = v * base + d;
	}
	*out = v;
	return 0;
}

int iscsi_parse_bool(const char *s, bool *out)
{
	if (!strcmp(s, "Yes"))
		*out = true;
	else if (!strcmp(s, "No"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

/* ---- the key table (RFC 7143 section 13) ------------------------------ */

enum key_kind {
	K_DIGEST,  /* list: None / CRC32C */
	K_NUM_MIN, /* numerical, result = min */
	K_NUM_MAX, /* numerical, result = max */
	K_BOOL_AND,
	K_BOOL_OR,
	K_MRDSL,       /* MaxRecvDataSegmentLength: declarative per direction */
	K_DECL_TARGET, /* only the target sends it */
	K_MARKER,      /* obsolete IFMarker/OFMarker: answer No */
	K_MARKINT,     /* obsolete IFMarkInt/OFMarkInt: answer Reject */
	K_TASKREP,     /* TaskReporting: we do RFC3720 */
};

#define F_LO 0x01	/* leading connection only */
#define F_FFP 0x02	/* may be renegotiated in Full Feature Phase */
#define F_DISC_IRR 0x04 /* irrelevant in a discovery session */
#define F_LATE 0x08	/* processed after the others (depends on them) */

enum key_id {
	KEY_HEADER_DIGEST,
	KEY_DATA_DIGEST,
	KEY_MAX_CONNECTIONS,
	KEY_INITIAL_R2T,
	KEY_IMMEDIATE_DATA,
	KEY_MRDSL,
	KEY_MAX_BURST,
	KEY_FIRST_BURST,
	KEY_T2W,
	KEY_T2R,
	KEY_MAX_R2T,
	KEY_PDU_ORDER,
	KEY_SEQ_ORDER,
	KEY_ERL,
	KEY_PROTO_LEVEL,
	KEY_TASK_REPORTING,
	KEY_TARGET_ALIAS,
	KEY_TARGET_ADDRESS,
	KEY_TPGT,
	KEY_IFMARKER,
	KEY_OFMARKER,
	KEY_IFMARKINT,
	KEY_OFMARKINT,
	KEY_COUNT,
};

struct keydef {
	const char *name;
	enum key_kind kind;
	unsigned flags;
	uint64_t min, max;
};

static const struct keydef keys[KEY_COUNT] = {
	[KEY_HEADER_DIGEST] = {"HeaderDigest", K_DIGEST, 0, 0, 0},
	[KEY_DATA_DIGEST] = {"DataDigest", K_DIGEST, 0, 0, 0},
	[KEY_MAX_CONNECTIONS] = {"MaxConnections", K_NUM_MIN, F_LO | F_DISC_IRR,
				 1, 65535},
	[KEY_INITIAL_R2T] = {"InitialR2T", K_BOOL_OR, F_LO | F_DISC_IRR, 0, 0},
	[KEY_IMMEDIATE_DATA] = {"ImmediateData", K_BOOL_AND, F_LO | F_DISC_IRR,
				0, 0},
	[KEY_MRDSL] = {"MaxRecvDataSegmentLength", K_MRDSL, F_FFP, 512,
		       16777215},
	[KEY_MAX_BURST] = {"MaxBurstLength", K_NUM_MIN, F_LO | F_DISC_IRR, 512,
			   16777215},
	[KEY_FIRST_BURST] = {"FirstBurstLength", K_NUM_MIN,
			     F_LO | F_DISC_IRR | F_LATE, 512, 16777215},
	[KEY_T2W] = {"DefaultTime2Wait", K_NUM_MAX, F_LO, 0, 3600},
	[KEY_T2R] = {"DefaultTime2Retain", K_NUM_MIN, F_LO, 0, 3600},
	[KEY_MAX_R2T] = {"MaxOutstandingR2T", K_NUM_MIN, F_LO | F_DISC_IRR, 1,
			 65535},
	[KEY_PDU_ORDER] = {"DataPDUInOrder", K_BOOL_OR, F_LO | F_DISC_IRR, 0,
			   0},
	[KEY_SEQ_ORDER] = {"DataSequenceInOrder", K_BOOL_OR, F_LO | F_DISC_IRR,
			   0, 0},
	[KEY_ERL] = {"ErrorRecoveryLevel", K_NUM_MIN, F_LO, 0, 2},
	[KEY_PROTO_LEVEL] = {"iSCSIProtocolLevel", K_NUM_MIN, F_LO, 0, 31},
	[KEY_TASK_REPORTING] = {"TaskReporting", K_TASKREP, F_LO | F_DISC_IRR,
				0, 0},
	[KEY_TARGET_ALIAS] = {"TargetAlias", K_DECL_TARGET, 0, 0, 0},
	[KEY_TARGET_ADDRESS] = {"TargetAddress", K_DECL_TARGET, 0, 0, 0},
	[KEY_TPGT] = {"TargetPortalGroupTag", K_DECL_TARGET, 0, 0, 0},
	[KEY_IFMARKER] = {"IFMarker", K_MARKER, 0, 0, 0},
	[KEY_OFMARKER] = {"OFMarker", K_MARKER, 0, 0, 0},
	[KEY_IFMARKINT] = {"IFMarkInt", K_MARKINT, 0, 0, 0},
	[KEY_OFMARKINT] = {"OFMarkInt", K_MARKINT, 0, 0, 0},
};

static const char *const login_keys[] = {
	"InitiatorName", "InitiatorAlias", "TargetName", "SessionType",
	"AuthMethod",	 "SendTargets",	   "CHAP_A",	 "CHAP_I",
	"CHAP_C",	 "CHAP_N",	   "CHAP_R",
};

bool iscsi_key_is_login_declarative(const char *key)
{
	for (size_t i = 0; i < ARRAY_SIZE(login_keys); i++)
		if (!strcmp(key, login_keys[i]))
			return true;
	return false;
}

void iscsi_params_defaults(struct iscsi_params *p)
{
	memset(p, 0, sizeof(*p));
	p->max_recv_dsl = 8192;
	p->max_xmit_dsl = 8192;
	p->max_burst_length = 262144;
	p->first_burst_length = 65536;
	p->max_outstanding_r2t = 1;
	p->max_connections = 1;
	p->default_time2wait = 2;
	p->default_time2retain = 20;
	p->error_recovery_level = 0;
	p->immediate_data = true;
	p->initial_r2t = true;
	p->data_pdu_in_order = true;
	p->data_sequence_in_order = true;
}

void iscsi_neg_init(struct iscsi_neg *n, const struct cfg_iscsi *cfg,
		    enum iscsi_session_type type, bool leading)
{
	memset(n, 0, sizeof(*n));
	n->cfg = cfg;
	n->type = type;
	n->leading = leading;
	iscsi_params_defaults(&n->params);
}

static int find_key(const char *name)
{
	for (int i = 0; i < KEY_COUNT; i++)
		if (!strcmp(keys[i].name, name))
			return i;
	return -1;
}

/* Pick the first entry of the offered list that we support. */
static const char *pick_digest(const char *list, bool crc_ok)
{
	const char *p = list;

	if (!*list)
		return NULL;
	while (*p) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		if (len == 0)
			return NULL; /* empty list element: syntax error */
		if (len == 4 && !strncmp(p, "None", 4))
			return "None";
		if (crc_ok && len == 6 && !strncmp(p, "CRC32C", 6))
			return "CRC32C";
		if (!e)
			break;
		p = e + 1;
		if (!*p)
			return NULL; /* trailing comma */
	}
	return NULL;
}

static bool list_has(const char *list, const char *item)
{
	size_t il = strlen(item);
	const char *p = list;

	while (p && *p) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		if (len == il && !strncmp(p, item, il))
			return true;
		p = e ? e + 1 : NULL;
	}
	return false;
}

/* Our side of each numerical key. */
static uint64_t our_number(const struct iscsi_neg *n, int id)
{
	const struct cfg_iscsi *c = n->cfg;

	switch (id) {
	case KEY_MAX_CONNECTIONS:
		return 1;
	case KEY_MAX_BURST:
		return c->max_burst_length;
	case KEY_FIRST_BURST:
		return MIN(c->first_burst_length, n->params.max_burst_length);
	case KEY_T2W:
		return c->default_time2wait;
	case KEY_T2R:
		return c->default_time2retain;
	case KEY_MAX_R2T:
		return MAX(c->max_outstanding_r2t, 1u);
	case KEY_ERL:
		return 0; /* ERL 0 only */
	case KEY_PROTO_LEVEL:
		return 1; /* RFC 7143 */
	}
	return 0;
}

static void store_number(struct iscsi_neg *n, int id, uint32_t v)
{
	struct iscsi_params *p = &n->params;

	switch (id) {
	case KEY_MAX_CONNECTIONS:
		p->max_connections = v;
		break;
	case KEY_MAX_BURST:
		p->max_burst_length = v;
		break;
	case KEY_FIRST_BURST:
		p->first_burst_length = v;
		break;
	case KEY_T2W:
		p->default_time2wait = v;
		break;
	case KEY_T2R:
		p->default_time2retain = v;
		break;
	case KEY_MAX_R2T:
		p->max_outstanding_r2t = v;
		break;
	case KEY_ERL:
		p->error_recovery_level = v;
		break;
	case KEY_PROTO_LEVEL:
		n->protocol_level = v;
		break;
	}
}

static bool *bool_slot(struct iscsi_neg *n, int id)
{
	switch (id) {
	case KEY_INITIAL_R2T:
		return &n->params.initial_r2t;
	case KEY_IMMEDIATE_DATA:
		return &n->params.immediate_data;
	case KEY_PDU_ORDER:
		return &n->params.data_pdu_in_order;
	case KEY_SEQ_ORDER:
		return &n->params.data_sequence_in_order;
	}
	return NULL;
}

static bool our_bool(const struct iscsi_neg *n, int id)
{
	switch (id) {
	case KEY_INITIAL_R2T:
		return n->cfg->initial_r2t;
	case KEY_IMMEDIATE_DATA:
		return n->cfg->immediate_data;
	}
	return true; /* we always deliver data in order */
}

static int neg_number(struct iscsi_neg *n, int id, const char *val,
		      struct iscsi_textbuf *out)
{
	const struct keydef *k = &keys[id];
	uint64_t v, ours = our_number(n, id), res;

	if (iscsi_parse_number(val, &v) || v < k->min || v > k->max)
		return iscsi_textbuf_add(out, k->name, "Reject");
	res = k->kind == K_NUM_MIN ? MIN(v, ours) : MAX(v, ours);
	if (res < k->min)
		res = k->min;
	if (res > k->max)
		res = k->max;
	store_number(n, id, (uint32_t)res);
	return iscsi_textbuf_addf(out, k->name, "%llu",
				  (unsigned long long)res);
}

static int neg_bool(struct iscsi_neg *n, int id, const char *val,
		    struct iscsi_textbuf *out)
{
	const struct keydef *k = &keys[id];
	bool v, res;

	if (iscsi_parse_bool(val, &v))
		return iscsi_textbuf_add(out, k->name, "Reject");
	res = k->kind == K_BOOL_AND ? (v && our_bool(n, id))
				    : (v || our_bool(n, id));
	*bool_slot(n, id) = res;
	return iscsi_textbuf_add(out, k->name, res ? "Yes" : "No");
}

static int neg_mrdsl(struct iscsi_neg *n, enum iscsi_neg_phase phase,
		     const char *val, struct iscsi_textbuf *out)
{
	uint64_t v;

	if (iscsi_parse_number(val, &v) || v < 512 || v > 16777215)
		return iscsi_textbuf_add(out, "MaxRecvDataSegmentLength",
					 "Reject");
	n->params.max_xmit_dsl = (uint32_t)v;
	if (phase == ISCSI_NEG_LOGIN)
		return iscsi_neg_declare(n, out);
	return 0;
}

static bool textbuf_has(const struct iscsi_textbuf *b, const char *key)
{
	size_t kl = strlen(key), off = 0;

	while (off < b->len) {
		const char *s = (const char *)b->buf + off;

		if (!strncmp(s, key, kl) && s[kl] == '=')
			return true;
		off += strlen(s) + 1;
	}
	return false;
}

int iscsi_neg_declare(struct iscsi_neg *n, struct iscsi_textbuf *out)
{
	uint32_t ours = n->cfg->max_recv_data_segment_length;
	int rc;

	/* Not twice, and not next to a Reject of theirs in the same
	 * response: then it waits for the next response (or never, and
	 * both sides keep the default 8192). */
	if (n->declared_mrdsl || textbuf_has(out, "MaxRecvDataSegmentLength"))
		return 0;
	ours = MIN(MAX(ours, 512u), 16777215u);
	rc = iscsi_textbuf_addf(out, "MaxRecvDataSegmentLength", "%u", ours);
	if (rc == 0) {
		n->declared_mrdsl = true;
		n->params.max_recv_dsl = ours;
	}
	return rc;
}

static int neg_digest(struct iscsi_neg *n, int id, const char *val,
		      struct iscsi_textbuf *out)
{
	bool hdr = id == KEY_HEADER_DIGEST;
	const char *res = pick_digest(val, hdr ? n->cfg->header_digest
					       : n->cfg->data_digest);

	if (!res)
		return iscsi_textbuf_add(out, keys[id].name, "Reject");
	if (hdr)
		n->params.header_digest = !strcmp(res, "CRC32C");
	else
		n->params.data_digest = !strcmp(res, "CRC32C");
	return iscsi_textbuf_add(out, keys[id].name, res);
}

/* Answer a key that passed the phase / session type checks. */
static int neg_key(struct iscsi_neg *n, enum iscsi_neg_phase phase, int id,
		   const char *val, struct iscsi_textbuf *out)
{
	const char *name = keys[id].name;

	switch (keys[id].kind) {
	case K_DIGEST:
		return neg_digest(n, id, val, out);
	case K_NUM_MIN:
	case K_NUM_MAX:
		return neg_number(n, id, val, out);
	case K_BOOL_AND:
	case K_BOOL_OR:
		return neg_bool(n, id, val, out);
	case K_MRDSL:
		return neg_mrdsl(n, phase, val, out);
	case K_DECL_TARGET:
		/* Declarations only a target makes: no answer is due, and
		 * ours (TargetPortalGroupTag, TargetAlias) must not appear
		 * twice in a response. Ignored. */
		return 0;
	case K_MARKER:
		return iscsi_textbuf_add(out, name, "No");
	case K_MARKINT:
		return iscsi_textbuf_add(out, name, "Reject");
	case K_TASKREP:
		return iscsi_textbuf_add(out, name,
					 list_has(val, "RFC3720") ? "RFC3720"
								  : "Reject");
	}
	return iscsi_textbuf_add(out, name, "Reject");
}

/* Check where the key may be used; answer Irrelevant/Reject if not.
 * Returns 1 when the key still needs negotiating. */
static int key_applies(struct iscsi_neg *n, enum iscsi_neg_phase phase, int id,
		       const char *val, struct iscsi_textbuf *out)
{
	const struct keydef *k = &keys[id];
	int rc;

	if (phase == ISCSI_NEG_FFP && !(k->flags & F_FFP))
		rc = iscsi_textbuf_add(out, k->name, "Reject");
	else if (strlen(val) > ISCSI_VALUE_MAX)
		rc = iscsi_textbuf_add(out, k->name, "Reject");
	else if ((k->flags & F_LO) && !n->leading)
		rc = iscsi_textbuf_add(out, k->name, "Irrelevant");
	else if ((k->flags & F_DISC_IRR) && n->type == ISCSI_SESSION_DISCOVERY)
		rc = iscsi_textbuf_add(out, k->name, "Irrelevant");
	else if (id == KEY_FIRST_BURST && n->params.initial_r2t &&
		 !n->params.immediate_data)
		rc = iscsi_textbuf_add(out, k->name, "Irrelevant");
	else
		return 1;
	return rc;
}

/* ---- target offers (RFC 7143 6.2) ------------------------------------ */

static const int offer_keys[] = {KEY_INITIAL_R2T, KEY_IMMEDIATE_DATA,
				 KEY_MAX_BURST, KEY_FIRST_BURST, KEY_MAX_R2T};

/* The value a key has when nobody negotiates it (iscsi_params_defaults). */
static uint64_t rfc_default(int id)
{
	struct iscsi_params d;

	iscsi_params_defaults(&d);
	switch (id) {
	case KEY_INITIAL_R2T:
		return d.initial_r2t;
	case KEY_IMMEDIATE_DATA:
		return d.immediate_data;
	case KEY_MAX_BURST:
		return d.max_burst_length;
	case KEY_FIRST_BURST:
		return d.first_burst_length;
	case KEY_MAX_R2T:
		return d.max_outstanding_r2t;
	}
	return 0;
}

/* Our value for an offer; FirstBurstLength never above the MaxBurstLength
 * in force or offered. */
static uint64_t offer_value(const struct iscsi_neg *n, int id)
{
	if (keys[id].kind == K_BOOL_AND || keys[id].kind == K_BOOL_OR)
		return our_bool(n, id);
	if (id == KEY_FIRST_BURST) {
		uint64_t mb = (n->offered & (1ull << KEY_MAX_BURST))
				      ? our_number(n, KEY_MAX_BURST)
				      : n->params.max_burst_length;

		return MIN(n->cfg->first_burst_length, mb);
	}
	return our_number(n, id);
}

/* What the key ends up as if nobody offers it: the RFC default, for
 * FirstBurstLength clamped to MaxBurstLength by iscsi_neg_finish(). */
static uint64_t effective_default(const struct iscsi_neg *n, int id)
{
	uint64_t mb;

	if (id != KEY_FIRST_BURST)
		return rfc_default(id);
	mb = (n->offered & (1ull << KEY_MAX_BURST))
		     ? our_number(n, KEY_MAX_BURST)
		     : n->params.max_burst_length;
	return MIN(rfc_default(id), mb);
}

int iscsi_neg_offer(struct iscsi_neg *n, struct iscsi_textbuf *out)
{
	int count = 0;

	if (n->offers_made || n->type != ISCSI_SESSION_NORMAL || !n->leading)
		return 0;
	n->offers_made = true;
	for (size_t i = 0; i < ARRAY_SIZE(offer_keys); i++) {
		int id = offer_keys[i], rc;
		uint64_t v = offer_value(n, id);
		bool ir2t, imm;

		if ((n->seen & (1ull << id)) || v == effective_default(n, id))
			continue;
		if (id == KEY_FIRST_BURST) {
			/* Irrelevant with InitialR2T=Yes and no immediate
			 * data (as results or as our offers) */
			ir2t = (n->offered & (1ull << KEY_INITIAL_R2T))
				       ? our_bool(n, KEY_INITIAL_R2T)
				       : n->params.initial_r2t;
			imm = (n->offered & (1ull << KEY_IMMEDIATE_DATA))
				      ? our_bool(n, KEY_IMMEDIATE_DATA)
				      : n->params.immediate_data;
			if (ir2t && !imm)
				continue;
		}
		if (keys[id].kind == K_BOOL_AND || keys[id].kind == K_BOOL_OR)
			rc = iscsi_textbuf_add(out, keys[id].name,
					       v ? "Yes" : "No");
		else
			rc = iscsi_textbuf_addf(out, keys[id].name, "%llu",
						(unsigned long long)v);
		if (rc)
			return rc;
		n->offered |= 1ull << id;
		count++;
	}
	return count;
}

uint64_t iscsi_neg_drop_offers(struct iscsi_neg *n)
{
	uint64_t pending = n->offered;

	n->offered = 0;
	return pending;
}

/* The initiator's answer to a key we offered: no reply is due. The value
 * must be one the result function can give from our offer. */
static int take_answer(struct iscsi_neg *n, int id, const char *val)
{
	const struct keydef *k = &keys[id];
	uint64_t ours = offer_value(n, id), v;
	bool b;

	/* FirstBurstLength: bounded by what we could have offered (the
	 * MaxBurstLength answer may already have lowered the one in force;
	 * iscsi_neg_finish() clamps the result) */
	if (id == KEY_FIRST_BURST)
		ours = MIN(n->cfg->first_burst_length,
			   our_number(n, KEY_MAX_BURST));

	n->offered &= ~(1ull << id);
	n->seen |= 1ull << id;
	if (!strcmp(val, "Reject") || !strcmp(val, "NotUnderstood") ||
	    !strcmp(val, "Irrelevant"))
		return 0; /* the RFC default stays */
	if (k->kind == K_BOOL_AND || k->kind == K_BOOL_OR) {
		if (iscsi_parse_bool(val, &b))
			return -EBADMSG;
		/* AND with our No must be No; OR with our Yes must be Yes */
		if (k->kind == K_BOOL_AND ? (b && !ours) : (!b && ours))
			return -EBADMSG;
		*bool_slot(n, id) = b;
		return 0;
	}
	/* numerical, result = min: at most what we offered */
	if (iscsi_parse_number(val, &v) || v < k->min || v > ours)
		return -EBADMSG;
	store_number(n, id, (uint32_t)v);
	return 0;
}

int iscsi_neg_process(struct iscsi_neg *n, enum iscsi_neg_phase phase,
		      const struct iscsi_kvlist *in, struct iscsi_textbuf *out)
{
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < in->n; i++) {
			const char *key = in->kv[i].key;
			const char *val = in->kv[i].value;
			int id, rc;

			if (iscsi_key_is_login_declarative(key))
				continue;
			id = find_key(key);
			if (id < 0) {
				if (pass == 1)
					continue;
				rc = iscsi_textbuf_add(out, key,
						       "NotUnderstood");
				if (rc)
					return rc;
				continue;
			}
			if (!!(keys[id].flags & F_LATE) != (pass == 1))
				continue;
			if (phase == ISCSI_NEG_LOGIN &&
			    (n->offered & (1ull << id))) {
				rc = take_answer(n, id, val);
				if (rc)
					return rc;
				continue;
			}
			if (phase == ISCSI_NEG_LOGIN) {
				if (n->seen & (1ull << id))
					return -EPROTO;
				n->seen |= 1ull << id;
			}
			rc = key_applies(n, phase, id, val, out);
			if (rc == 1)
				rc = neg_key(n, phase, id, val, out);
			if (rc)
				return rc;
		}
	}
	return 0;
}

void iscsi_neg_finish(struct iscsi_neg *n)
{
	struct iscsi_params *p = &n->params;

	if (p->first_burst_length > p->max_burst_length)
		p->first_burst_length = p->max_burst_length;
	p->error_recovery_level = 0;
}
