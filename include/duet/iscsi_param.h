/* SPDX-License-Identifier: Apache-2.0 */
/*
 * iSCSI text keys (RFC 7143 sections 6 and 13): parsing of key=value data
 * segments, building responses, and the negotiation rules of every key.
 * Used by login.c and discovery.c only (src/iscsi/param.c).
 */
#ifndef DUET_ISCSI_PARAM_H
#define DUET_ISCSI_PARAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "duet/config.h"
#include "duet/iscsi_login.h"

#define ISCSI_KEY_MAX 63	   /* bytes in a key name */
#define ISCSI_VALUE_MAX 255	   /* bytes in an ordinary value */
#define ISCSI_VALUE_LARGE_MAX 8192 /* bytes in a large (binary) value */
#define ISCSI_TEXT_MAX 65536 /* bytes of text in one login/text exchange */
#define ISCSI_KEYS_MAX 256   /* key=value pairs in one exchange */
#define ISCSI_LOGIN_DSL 8192 /* MaxRecvDataSegmentLength during login */

struct iscsi_kv {
	const char *key;
	const char *value;
};

struct iscsi_kvlist {
	char *buf; /* private copy of the text */
	struct iscsi_kv *kv;
	size_t n;
};

/*
 * Parse a data segment of NUL-terminated key=value strings. Returns 0,
 * -EINVAL for malformed text (missing '=', empty or over-long key, bad key
 * characters, missing final NUL, over-long value, non-UTF-8, too many
 * keys), -EEXIST for a key given twice, -ENOMEM. An empty segment is an
 * empty list. On error *out is left empty.
 */
int iscsi_kv_parse(const uint8_t *data, size_t len, struct iscsi_kvlist *out);
void iscsi_kv_free(struct iscsi_kvlist *l);
const char *iscsi_kv_get(const struct iscsi_kvlist *l, const char *key);

/* Growing output text, bounded by limit bytes. */
struct iscsi_textbuf {
	uint8_t *buf;
	size_t len;
	size_t cap;
	size_t limit;
};
void iscsi_textbuf_init(struct iscsi_textbuf *b, size_t limit);
void iscsi_textbuf_free(struct iscsi_textbuf *b);
/* Appends "key=value\0". -ENOSPC past the limit, -ENOMEM. */
int iscsi_textbuf_add(struct iscsi_textbuf *b, const char *key,
		      const char *value);
int iscsi_textbuf_addf(struct iscsi_textbuf *b, const char *key,
		       const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "123", "0x1f" (also 0X): 0 or -EINVAL (empty, junk, > UINT64_MAX). */
int iscsi_parse_number(const char *s, uint64_t *out);
/* "Yes" / "No": 0 or -EINVAL. */
int iscsi_parse_bool(const char *s, bool *out);

/* Negotiation phases a key can be used in. */
enum iscsi_neg_phase {
	ISCSI_NEG_LOGIN = 0, /* security or operational stage */
	ISCSI_NEG_FFP = 1,   /* Text Request in Full Feature Phase */
};

/* Negotiation state of one connection (login, then FFP text). */
struct iscsi_neg {
	const struct cfg_iscsi *cfg;
	enum iscsi_session_type type;
	bool leading;	     /* TSIH 0: keys marked LO are allowed */
	bool declared_mrdsl; /* we sent our MaxRecvDataSegmentLength */
	uint64_t seen;	     /* bit per key table entry: already negotiated */
	struct iscsi_params params;
	uint32_t protocol_level; /* iSCSIProtocolLevel result */
	uint64_t offered;	 /* bit per key: we offered it, no answer yet */
	bool offers_made;	 /* iscsi_neg_offer() ran */
};

/* RFC 7143 defaults (what holds for a key nobody negotiates). */
void iscsi_params_defaults(struct iscsi_params *p);
void iscsi_neg_init(struct iscsi_neg *n, const struct cfg_iscsi *cfg,
		    enum iscsi_session_type type, bool leading);
/*
 * Answer the operational keys of one request into out. Keys handled by
 * the caller (InitiatorName, TargetName, SessionType, AuthMethod, CHAP_*,
 * SendTargets) are skipped when skip_declared is true. Returns 0, or
 * -EPROTO if a key is negotiated a second time (a login initiator error),
 * -ENOSPC / -ENOMEM if the response does not fit.
 */
int iscsi_neg_process(struct iscsi_neg *n, enum iscsi_neg_phase phase,
		      const struct iscsi_kvlist *in, struct iscsi_textbuf *out);
/* Declare our MaxRecvDataSegmentLength if not done yet. */
int iscsi_neg_declare(struct iscsi_neg *n, struct iscsi_textbuf *out);
/*
 * Target-initiated offers (RFC 7143 6.2): for a normal session's leading
 * connection, offer the keys the initiator has not negotiated when our
 * configuration differs from the RFC default (InitialR2T, ImmediateData,
 * MaxBurstLength, FirstBurstLength, MaxOutstandingR2T). Runs once.
 * Returns how many keys were offered (the login then answers with T=0 and
 * waits for the initiator's response), or -ENOSPC / -ENOMEM. The answers
 * arrive through iscsi_neg_process(): a valid result is stored, a Reject /
 * NotUnderstood / Irrelevant keeps the RFC default, a value the result
 * function cannot produce is -EBADMSG.
 */
int iscsi_neg_offer(struct iscsi_neg *n, struct iscsi_textbuf *out);
/* Offers still unanswered: give them up (the RFC defaults stay). Returns
 * the bit set that was pending (0: none). */
uint64_t iscsi_neg_drop_offers(struct iscsi_neg *n);
/* Final consistency (FirstBurstLength <= MaxBurstLength, ...). */
void iscsi_neg_finish(struct iscsi_neg *n);
/* True for the keys the login layer handles itself. */
bool iscsi_key_is_login_declarative(const char *key);

#endif
