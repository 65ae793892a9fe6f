// SPDX-License-Identifier: Apache-2.0
/* Cluster interconnect codec: header and typed fields, see ic_proto.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <isa-l/crc.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "duet/ic_proto.h"
#include "duet/util.h"

#define CRC_INIT 0xffffffffu

static uint32_t crc32c(const uint8_t *p, size_t len)
{
	return crc32_iscsi((unsigned char *)p, (int)len, CRC_INIT);
}

static const char *const type_names[] = {
	[IC_HELLO] = "HELLO",
	[IC_HELLO_AUTH] = "HELLO_AUTH",
	[IC_HEARTBEAT] = "HEARTBEAT",
	[IC_ERROR] = "ERROR",
	[IC_SCSI_CMD] = "SCSI_CMD",
	[IC_SCSI_RSP] = "SCSI_RSP",
	[IC_TMF_REQ] = "TMF_REQ",
	[IC_TMF_RSP] = "TMF_RSP",
	[IC_NEXUS_END] = "NEXUS_END",
	[IC_NEXUS_END_DONE] = "NEXUS_END_DONE",
	[IC_PATH_STATE] = "PATH_STATE",
	[IC_TAKEOVER_REQ] = "TAKEOVER_REQ",
	[IC_TAKEOVER_ACK] = "TAKEOVER_ACK",
	[IC_GIVEBACK_REQ] = "GIVEBACK_REQ",
	[IC_GIVEBACK_ACK] = "GIVEBACK_ACK",
	[IC_HA] = "HA",
	[IC_CONN_LIST] = "CONN_LIST",
};

bool ic_type_known(unsigned type)
{
	return type < ARRAY_SIZE(type_names) && type_names[type];
}

const char *ic_type_name(unsigned type)
{
	return ic_type_known(type) ? type_names[type] : "UNKNOWN";
}

bool ic_type_has_data(unsigned type)
{
	return type == IC_SCSI_CMD || type == IC_SCSI_RSP;
}

void ic_msg_init(struct ic_msg *m, enum ic_type type, uint64_t tag,
		 uint64_t lun)
{
	memset(m, 0, sizeof(*m));
	m->hdr.version = IC_VERSION_MAX;
	m->hdr.type = (uint8_t)type;
	m->hdr.tag = tag;
	m->hdr.lun = lun;
}

/* ------------------------------------------------------------------ */
/* Writer / reader over a bounded buffer: the first overrun sets err and
 * every later call is a no-op. */

struct wr {
	uint8_t *p;
	size_t len, cap;
	int err;
};

static uint8_t *w_room(struct wr *w, size_t n)
{
	uint8_t *p;

	if (w->err || n > w->cap - w->len) {
		if (!w->err)
			w->err = -ENOSPC;
		return NULL;
	}
	p = w->p + w->len;
	w->len += n;
	return p;
}

static void w_u8(struct wr *w, uint8_t v)
{
	uint8_t *p = w_room(w, 1);

	if (p)
		*p = v;
}

static void w_u16(struct wr *w, uint16_t v)
{
	uint8_t *p = w_room(w, 2);

	if (p)
		put_be16(p, v);
}

static void w_u32(struct wr *w, uint32_t v)
{
	uint8_t *p = w_room(w, 4);

	if (p)
		put_be32(p, v);
}

static void w_u64(struct wr *w, uint64_t v)
{
	uint8_t *p = w_room(w, 8);

	if (p)
		put_be64(p, v);
}

static void w_bytes(struct wr *w, const void *src, size_t n)
{
	uint8_t *p = w_room(w, n);

	if (p && n)
		memcpy(p, src, n);
}

/* A NUL-terminated string held in a char[cap]; empty only if allowed. */
static void w_str(struct wr *w, const char *s, size_t cap, bool empty_ok)
{
	size_t n = strnlen(s, cap);

	if (n >= cap || (!n && !empty_ok)) {
		if (!w->err)
			w->err = -EINVAL;
		return;
	}
	w_u16(w, (uint16_t)n);
	w_bytes(w, s, n);
}

struct rd {
	const uint8_t *p;
	size_t len, off;
	int err;
};

static const uint8_t *r_take(struct rd *r, size_t n)
{
	const uint8_t *p;

	if (r->err || n > r->len - r->off) {
		if (!r->err)
			r->err = -EBADMSG;
		return NULL;
	}
	p = r->p + r->off;
	r->off += n;
	return p;
}

static uint8_t r_u8(struct rd *r)
{
	const uint8_t *p = r_take(r, 1);

	return p ? *p : 0;
}

static uint16_t r_u16(struct rd *r)
{
	const uint8_t *p = r_take(r, 2);

	return p ? get_be16(p) : 0;
}

static uint32_t r_u32(struct rd *r)
{
	const uint8_t *p = r_take(r, 4);

	return p ? get_be32(p) : 0;
}

static uint64_t r_u64(struct rd *r)
{
	const uint8_t *p = r_take(r, 8);

	return p ? get_be64(p) : 0;
}

static void r_bytes(struct rd *r, void *dst, size_t n)
{
	const uint8_t *p = r_take(r, n);

	if (p && n)
		memcpy(dst, p, n);
}

static void r_zero(struct rd *r, size_t n)
{
	const uint8_t *p = r_take(r, n);

	for (size_t i = 0; p && i < n; i++)
		if (p[i] && !r->err)
			r->err = -EPROTO;
}

/* Length-prefixed string into dst[cap]: a length that does not fit is a
 * protocol error, one beyond the fields a framing error. */
static void r_str(struct rd *r, char *dst, size_t cap, bool empty_ok)
{
	uint16_t n = r_u16(r);
	const uint8_t *p;

	if (r->err)
		return;
	if (n >= cap || (!n && !empty_ok)) {
		r->err = -EPROTO;
		return;
	}
	p = r_take(r, n);
	if (!p)
		return;
	if (memchr(p, 0, n)) {
		r->err = -EPROTO;
		return;
	}
	memcpy(dst, p, n);
	dst[n] = '\0';
}

static void r_proto_if(struct rd *r, bool bad)
{
	if (bad && !r->err)
		r->err = -EPROTO;
}

/* ------------------------------------------------------------------ */
/* Field layouts, one encoder and one decoder per type. */

static void enc_nexus(struct wr *w, const struct ic_nexus *n)
{
	if (!n->rel_tgt_port_id && !w->err)
		w->err = -EINVAL;
	w_bytes(w, n->isid, sizeof(n->isid));
	w_u16(w, n->tpgt);
	w_u16(w, n->rel_tgt_port_id);
	w_u16(w, 0);
	w_str(w, n->initiator_name, sizeof(n->initiator_name), false);
	w_str(w, n->target_name, sizeof(n->target_name), false);
}

static void dec_nexus(struct rd *r, struct ic_nexus *n)
{
	r_bytes(r, n->isid, sizeof(n->isid));
	n->tpgt = r_u16(r);
	n->rel_tgt_port_id = r_u16(r);
	r_zero(r, 2);
	r_proto_if(r, !n->rel_tgt_port_id);
	r_str(r, n->initiator_name, sizeof(n->initiator_name), false);
	r_str(r, n->target_name, sizeof(n->target_name), false);
}

static void enc_hello(struct wr *w, const struct ic_hello *h)
{
	w_u8(w, h->min_version);
	w_u8(w, h->max_version);
	w_u16(w, 0);
	w_u32(w, h->max_payload);
	w_u32(w, h->features);
	w_bytes(w, h->nonce, sizeof(h->nonce));
	w_bytes(w, h->fingerprint, sizeof(h->fingerprint));
	w_str(w, h->cluster, sizeof(h->cluster), false);
	w_str(w, h->node, sizeof(h->node), false);
}

static void dec_hello(struct rd *r, struct ic_hello *h)
{
	h->min_version = r_u8(r);
	h->max_version = r_u8(r);
	r_zero(r, 2);
	h->max_payload = r_u32(r);
	h->features = r_u32(r);
	r_bytes(r, h->nonce, sizeof(h->nonce));
	r_bytes(r, h->fingerprint, sizeof(h->fingerprint));
	r_str(r, h->cluster, sizeof(h->cluster), false);
	r_str(r, h->node, sizeof(h->node), false);
	r_proto_if(r, !h->min_version || h->min_version > h->max_version);
	r_proto_if(r, h->max_payload < IC_MAX_PAYLOAD_MIN ||
			      h->max_payload > IC_MAX_PAYLOAD_LIMIT);
}

static void enc_error(struct wr *w, const struct ic_error *e)
{
	w_u16(w, e->code);
	w_u8(w, e->bad_type);
	w_u8(w, 0);
	w_str(w, e->reason, sizeof(e->reason), true);
}

static void dec_error(struct rd *r, struct ic_error *e)
{
	e->code = r_u16(r);
	e->bad_type = r_u8(r);
	r_zero(r, 1);
	r_str(r, e->reason, sizeof(e->reason), true);
}

static bool cmd_invalid(const struct ic_scsi_cmd *c, uint32_t data_len)
{
	if (c->attr > SCSI_ATTR_ACA || c->dir > SCSI_DIR_BIDI)
		return true;
	if (!c->cdb_len || c->cdb_len > SCSI_CDB_MAX)
		return true;
	if (data_len && c->dir != SCSI_DIR_WRITE && c->dir != SCSI_DIR_BIDI)
		return true;
	return data_len > c->exp_xfer_len || data_len > DUET_MAX_IO_BYTES;
}

static void enc_cmd(struct wr *w, const struct ic_scsi_cmd *c,
		    uint32_t data_len)
{
	if (cmd_invalid(c, data_len) && !w->err)
		w->err = -EINVAL;
	w_u8(w, c->attr);
	w_u8(w, c->dir);
	w_u8(w, c->cdb_len);
	w_u8(w, 0);
	w_u32(w, c->exp_xfer_len);
	w_bytes(w, c->cdb, sizeof(c->cdb));
	enc_nexus(w, &c->nexus);
}

static void dec_cmd(struct rd *r, struct ic_scsi_cmd *c, uint32_t data_len)
{
	c->attr = r_u8(r);
	c->dir = r_u8(r);
	c->cdb_len = r_u8(r);
	r_zero(r, 1);
	c->exp_xfer_len = r_u32(r);
	r_bytes(r, c->cdb, sizeof(c->cdb));
	dec_nexus(r, &c->nexus);
	r_proto_if(r, cmd_invalid(c, data_len));
}

static bool rsp_invalid(const struct ic_scsi_rsp *s, uint32_t data_len)
{
	return s->sense_len > SCSI_SENSE_MAX ||
	       (s->flags & ~IC_RSP_FLAGS_ALL) || data_len > s->xfer_len ||
	       data_len > DUET_MAX_IO_BYTES;
}

static void enc_rsp(struct wr *w, const struct ic_scsi_rsp *s,
		    uint32_t data_len)
{
	if (rsp_invalid(s, data_len)) {
		if (!w->err)
			w->err = -EINVAL;
		return;
	}
	w_u8(w, s->status);
	w_u8(w, s->sense_len);
	w_u8(w, s->flags);
	w_u8(w, 0);
	w_u32(w, s->xfer_len);
	w_bytes(w, s->sense, s->sense_len);
}

static void dec_rsp(struct rd *r, struct ic_scsi_rsp *s, uint32_t data_len)
{
	s->status = r_u8(r);
	s->sense_len = r_u8(r);
	s->flags = r_u8(r);
	r_zero(r, 1);
	s->xfer_len = r_u32(r);
	r_proto_if(r, rsp_invalid(s, data_len));
	if (!r->err)
		r_bytes(r, s->sense, s->sense_len);
}

static bool tmf_fn_invalid(uint8_t fn)
{
	return fn < SCSI_TMF_ABORT_TASK || fn > SCSI_TMF_TARGET_COLD_RESET;
}

static void enc_tmf_req(struct wr *w, const struct ic_tmf_req *t)
{
	if (tmf_fn_invalid(t->fn) && !w->err)
		w->err = -EINVAL;
	w_u8(w, t->fn);
	w_bytes(w, "\0\0\0", 3);
	w_u64(w, t->ref_tag);
	enc_nexus(w, &t->nexus);
}

static void dec_tmf_req(struct rd *r, struct ic_tmf_req *t)
{
	t->fn = r_u8(r);
	r_zero(r, 3);
	t->ref_tag = r_u64(r);
	dec_nexus(r, &t->nexus);
	r_proto_if(r, tmf_fn_invalid(t->fn));
}

static void enc_nexus_end(struct wr *w, const struct ic_nexus_end *e)
{
	if (e->reason > IC_NEXUS_GIVEBACK && !w->err)
		w->err = -EINVAL;
	w_u8(w, e->reason);
	w_bytes(w, "\0\0\0", 3);
	enc_nexus(w, &e->nexus);
}

static void dec_nexus_end(struct rd *r, struct ic_nexus_end *e)
{
	e->reason = r_u8(r);
	r_zero(r, 3);
	dec_nexus(r, &e->nexus);
	r_proto_if(r, e->reason > IC_NEXUS_GIVEBACK);
}

static void enc_path(struct wr *w, const struct ic_path_state *p)
{
	if (p->state > IC_PATH_UP && !w->err)
		w->err = -EINVAL;
	w_u8(w, p->state);
	w_bytes(w, "\0\0\0", 3);
	w_u32(w, p->generation);
	w_u64(w, p->for_ms);
}

static void dec_path(struct rd *r, struct ic_path_state *p)
{
	p->state = r_u8(r);
	r_zero(r, 3);
	p->generation = r_u32(r);
	p->for_ms = r_u64(r);
	r_proto_if(r, p->state > IC_PATH_UP);
}

static void enc_ha_ack(struct wr *w, const struct ic_ha_ack *a)
{
	if (a->result > IC_HA_BUSY && !w->err)
		w->err = -EINVAL;
	w_u8(w, a->result);
	w_bytes(w, "\0\0\0", 3);
	w_u32(w, a->epoch);
}

static void dec_ha_ack(struct rd *r, struct ic_ha_ack *a)
{
	a->result = r_u8(r);
	r_zero(r, 3);
	a->epoch = r_u32(r);
	r_proto_if(r, a->result > IC_HA_BUSY);
}

static bool conn_ent_invalid(const struct ic_conn_ent *e)
{
	static const uint8_t zero[12];

	if (e->family != 4 && e->family != 6)
		return true;
	if (!e->local_port || !e->peer_port)
		return true;
	return e->family == 4 && (memcmp(e->local + 4, zero, 12) ||
				  memcmp(e->peer + 4, zero, 12));
}

static void enc_conn_list(struct wr *w, const struct ic_conn_list *l)
{
	unsigned i;

	if ((l->flags & ~(IC_CONN_LIST_FIRST | IC_CONN_LIST_LAST)) ||
	    l->count > IC_CONN_LIST_CHUNK) {
		if (!w->err)
			w->err = -EINVAL;
		return;
	}
	w_u8(w, l->flags);
	w_u8(w, 0);
	w_u16(w, l->count);
	for (i = 0; i < l->count; i++) {
		const struct ic_conn_ent *e = &l->ent[i];

		if (conn_ent_invalid(e) && !w->err)
			w->err = -EINVAL;
		w_u8(w, e->family);
		w_u8(w, 0);
		w_u16(w, e->local_port);
		w_u16(w, e->peer_port);
		w_u16(w, 0);
		w_bytes(w, e->local, 16);
		w_bytes(w, e->peer, 16);
	}
}

static void dec_conn_list(struct rd *r, struct ic_conn_list *l)
{
	unsigned i;

	l->flags = r_u8(r);
	r_zero(r, 1);
	l->count = r_u16(r);
	r_proto_if(r, (l->flags & ~(IC_CONN_LIST_FIRST | IC_CONN_LIST_LAST)) ||
			      l->count > IC_CONN_LIST_CHUNK);
	if (r->err)
		return;
	/* Exact length before reading the entries. */
	if (r->len - r->off != (size_t)l->count * IC_CONN_ENT_LEN) {
		r->err = -EBADMSG;
		return;
	}
	for (i = 0; i < l->count && !r->err; i++) {
		struct ic_conn_ent *e = &l->ent[i];

		e->family = r_u8(r);
		r_zero(r, 1);
		e->local_port = r_u16(r);
		e->peer_port = r_u16(r);
		r_zero(r, 2);
		r_bytes(r, e->local, 16);
		r_bytes(r, e->peer, 16);
		r_proto_if(r, conn_ent_invalid(e));
	}
}

static void enc_fields(struct wr *w, const struct ic_msg *m, uint32_t dlen)
{
	switch (m->hdr.type) {
	case IC_HELLO:
		enc_hello(w, &m->u.hello);
		break;
	case IC_HELLO_AUTH:
		w_bytes(w, m->u.auth.mac, IC_MAC_LEN);
		break;
	case IC_HEARTBEAT:
		w_u64(w, m->u.hb.seq);
		w_u64(w, m->u.hb.time_ms);
		break;
	case IC_ERROR:
		enc_error(w, &m->u.error);
		break;
	case IC_SCSI_CMD:
		enc_cmd(w, &m->u.cmd, dlen);
		break;
	case IC_SCSI_RSP:
		enc_rsp(w, &m->u.rsp, dlen);
		break;
	case IC_TMF_REQ:
		enc_tmf_req(w, &m->u.tmf_req);
		break;
	case IC_TMF_RSP:
		w_u8(w, m->u.tmf_rsp.result);
		w_bytes(w, "\0\0\0", 3);
		break;
	case IC_NEXUS_END:
		enc_nexus_end(w, &m->u.nexus_end);
		break;
	case IC_NEXUS_END_DONE:
		w_u32(w, m->u.nexus_done.n_aborted);
		w_u32(w, m->u.nexus_done.n_completed);
		break;
	case IC_PATH_STATE:
		enc_path(w, &m->u.path);
		break;
	case IC_TAKEOVER_REQ:
	case IC_GIVEBACK_REQ:
		w_u32(w, m->u.ha_req.epoch);
		w_u32(w, 0);
		break;
	case IC_TAKEOVER_ACK:
	case IC_GIVEBACK_ACK:
		enc_ha_ack(w, &m->u.ha_ack);
		break;
	case IC_HA:
		if (m->u.ha.code >= IC_HA_CODE_LIMIT && !w->err)
			w->err = -EINVAL;
		w_u8(w, m->u.ha.code);
		w_bytes(w, "\0\0\0", 3);
		w_u32(w, m->u.ha.arg);
		break;
	case IC_CONN_LIST:
		enc_conn_list(w, &m->u.conns);
		break;
	default:
		w->err = -EINVAL;
	}
}

static void dec_fields(struct rd *r, struct ic_msg *m, uint32_t dlen)
{
	switch (m->hdr.type) {
	case IC_HELLO:
		dec_hello(r, &m->u.hello);
		break;
	case IC_HELLO_AUTH:
		r_bytes(r, m->u.auth.mac, IC_MAC_LEN);
		break;
	case IC_HEARTBEAT:
		m->u.hb.seq = r_u64(r);
		m->u.hb.time_ms = r_u64(r);
		break;
	case IC_ERROR:
		dec_error(r, &m->u.error);
		break;
	case IC_SCSI_CMD:
		dec_cmd(r, &m->u.cmd, dlen);
		break;
	case IC_SCSI_RSP:
		dec_rsp(r, &m->u.rsp, dlen);
		break;
	case IC_TMF_REQ:
		dec_tmf_req(r, &m->u.tmf_req);
		break;
	case IC_TMF_RSP:
		m->u.tmf_rsp.result = r_u8(r);
		r_zero(r, 3);
		break;
	case IC_NEXUS_END:
		dec_nexus_end(r, &m->u.nexus_end);
		break;
	case IC_NEXUS_END_DONE:
		m->u.nexus_done.n_aborted = r_u32(r);
		m->u.nexus_done.n_completed = r_u32(r);
		break;
	case IC_PATH_STATE:
		dec_path(r, &m->u.path);
		break;
	case IC_TAKEOVER_REQ:
	case IC_GIVEBACK_REQ:
		m->u.ha_req.epoch = r_u32(r);
		r_zero(r, 4);
		break;
	case IC_TAKEOVER_ACK:
	case IC_GIVEBACK_ACK:
		dec_ha_ack(r, &m->u.ha_ack);
		break;
	case IC_HA:
		m->u.ha.code = r_u8(r);
		r_zero(r, 3);
		m->u.ha.arg = r_u32(r);
		r_proto_if(r, m->u.ha.code >= IC_HA_CODE_LIMIT);
		break;
	case IC_CONN_LIST:
		dec_conn_list(r, &m->u.conns);
		break;
	default:
		r->err = -EOPNOTSUPP;
	}
}

/* ------------------------------------------------------------------ */

static void hdr_put(uint8_t *b, const struct ic_hdr *h)
{
	put_be32(b, IC_MAGIC);
	b[4] = h->version;
	b[5] = h->type;
	put_be16(b + 6, h->flags);
	put_be32(b + 8, h->payload_len);
	put_be32(b + 12, h->data_len);
	put_be64(b + 16, h->tag);
	put_be64(b + 24, h->lun);
	put_be32(b + 32, h->fields_crc);
	put_be32(b + 36, crc32c(b, 36));
}

int ic_msg_encode(struct ic_msg *m, uint32_t data_len, uint8_t *buf, size_t cap)
{
	struct wr w = {.p = buf, .cap = cap};
	size_t flen;

	if (cap < IC_HDR_LEN)
		return -ENOSPC;
	if (data_len && !ic_type_has_data(m->hdr.type))
		return -EINVAL;
	if (m->hdr.flags || m->hdr.version < IC_VERSION_MIN ||
	    m->hdr.version > IC_VERSION_MAX)
		return -EINVAL;
	w.len = IC_HDR_LEN;
	enc_fields(&w, m, data_len);
	if (w.err)
		return w.err;
	flen = w.len - IC_HDR_LEN;
	if (flen > IC_FIELDS_MAX || data_len > IC_MAX_PAYLOAD_LIMIT - flen)
		return -EINVAL;
	m->hdr.payload_len = (uint32_t)flen + data_len;
	m->hdr.data_len = data_len;
	m->hdr.fields_crc = crc32c(buf + IC_HDR_LEN, flen);
	hdr_put(buf, &m->hdr);
	return (int)w.len;
}

int ic_hdr_decode(const uint8_t *b, uint32_t max_payload, struct ic_hdr *h)
{
	struct ic_hdr t;

	if (get_be32(b) != IC_MAGIC || get_be32(b + 36) != crc32c(b, 36))
		return -EBADMSG;
	t.version = b[4];
	t.type = b[5];
	t.flags = get_be16(b + 6);
	t.payload_len = get_be32(b + 8);
	t.data_len = get_be32(b + 12);
	t.tag = get_be64(b + 16);
	t.lun = get_be64(b + 24);
	t.fields_crc = get_be32(b + 32);
	if (t.version < IC_VERSION_MIN || t.version > IC_VERSION_MAX || t.flags)
		return -EPROTO;
	if (t.data_len > t.payload_len ||
	    t.payload_len - t.data_len > IC_FIELDS_MAX)
		return -EBADMSG;
	if (t.payload_len > max_payload)
		return -EMSGSIZE;
	*h = t;
	return 0;
}

int ic_msg_decode(const struct ic_hdr *h, const uint8_t *fields,
		  size_t fields_len, struct ic_msg *out)
{
	struct rd r = {.p = fields, .len = fields_len};
	struct ic_msg m;

	if (fields_len != ic_hdr_fields_len(h))
		return -EBADMSG;
	if (!ic_type_known(h->type))
		return -EOPNOTSUPP;
	if (crc32c(fields, fields_len) != h->fields_crc)
		return -EBADMSG;
	if (h->data_len && !ic_type_has_data(h->type))
		return -EPROTO;
	memset(&m, 0, sizeof(m));
	m.hdr = *h;
	dec_fields(&r, &m, h->data_len);
	if (r.err)
		return r.err;
	if (r.off != r.len)
		return -EBADMSG;
	*out = m;
	return 0;
}

int ic_frame_decode(const uint8_t *buf, size_t len, uint32_t max_payload,
		    struct ic_msg *out, const uint8_t **data,
		    uint32_t *data_len)
{
	struct ic_hdr h;
	uint32_t flen;
	int rc;

	if (len < IC_HDR_LEN)
		return -EBADMSG;
	rc = ic_hdr_decode(buf, max_payload, &h);
	if (rc)
		return rc;
	if (len - IC_HDR_LEN != h.payload_len)
		return -EBADMSG;
	flen = ic_hdr_fields_len(&h);
	rc = ic_msg_decode(&h, buf + IC_HDR_LEN, flen, out);
	if (rc)
		return rc;
	*data = buf + IC_HDR_LEN + flen;
	*data_len = h.data_len;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Task contract <-> messages */

void ic_nexus_from_itn(struct ic_nexus *n, const struct scsi_itn *itn)
{
	memset(n, 0, sizeof(*n));
	snprintf(n->initiator_name, sizeof(n->initiator_name), "%s",
		 itn->initiator_name);
	memcpy(n->isid, itn->isid, sizeof(n->isid));
	n->tpgt = itn->tpgt;
	n->rel_tgt_port_id = itn->rel_tgt_port_id;
	snprintf(n->target_name, sizeof(n->target_name), "%s",
		 itn->target_name);
}

void ic_nexus_to_itn(struct scsi_itn *itn, const struct ic_nexus *n)
{
	memset(itn, 0, sizeof(*itn));
	snprintf(itn->initiator_name, sizeof(itn->initiator_name), "%s",
		 n->initiator_name);
	memcpy(itn->isid, n->isid, sizeof(itn->isid));
	itn->tpgt = n->tpgt;
	itn->rel_tgt_port_id = n->rel_tgt_port_id;
	snprintf(itn->target_name, sizeof(itn->target_name), "%s",
		 n->target_name);
}

int ic_cmd_from_task(struct ic_msg *m, const struct scsi_task *t, uint64_t tag,
		     uint32_t *data_len)
{
	struct ic_scsi_cmd *c = &m->u.cmd;
	uint32_t dlen = 0;

	if (t->dir == SCSI_DIR_WRITE || t->dir == SCSI_DIR_BIDI)
		dlen = t->data_out_len;
	ic_msg_init(m, IC_SCSI_CMD, tag, t->lun);
	c->attr = (uint8_t)t->attr;
	c->dir = (uint8_t)t->dir;
	c->cdb_len = t->cdb_len;
	c->exp_xfer_len = t->exp_xfer_len;
	if (t->cdb_len > SCSI_CDB_MAX || !t->itn)
		return -EINVAL;
	memcpy(c->cdb, t->cdb, t->cdb_len);
	ic_nexus_from_itn(&c->nexus, t->itn);
	if (cmd_invalid(c, dlen) || dlen > t->buf_cap)
		return -EINVAL;
	*data_len = dlen;
	return 0;
}

void ic_cmd_to_task(struct scsi_task *t, const struct ic_msg *m)
{
	const struct ic_scsi_cmd *c = &m->u.cmd;

	t->lun = m->hdr.lun;
	memset(t->cdb, 0, sizeof(t->cdb));
	memcpy(t->cdb, c->cdb, c->cdb_len);
	t->cdb_len = c->cdb_len;
	t->dir = (enum scsi_data_dir)c->dir;
	t->attr = (enum scsi_task_attr)c->attr;
	t->exp_xfer_len = c->exp_xfer_len;
	t->data_out_len = m->hdr.data_len;
}

void ic_rsp_from_task(struct ic_msg *m, const struct scsi_task *t, uint64_t tag,
		      uint32_t *data_len)
{
	struct ic_scsi_rsp *r = &m->u.rsp;
	uint32_t dlen = 0;

	ic_msg_init(m, IC_SCSI_RSP, tag, t->lun);
	r->status = t->status;
	r->sense_len = MIN(t->sense_len, SCSI_SENSE_MAX);
	memcpy(r->sense, t->sense, r->sense_len);
	r->flags = t->aborted ? IC_RSP_ABORTED : 0;
	r->xfer_len = t->xfer_len;
	if (!t->aborted && (t->dir == SCSI_DIR_READ || t->dir == SCSI_DIR_BIDI))
		dlen = MIN(MIN(t->data_len, t->buf_cap), t->xfer_len);
	*data_len = dlen;
}

void ic_rsp_to_task(struct scsi_task *t, const struct ic_msg *m)
{
	const struct ic_scsi_rsp *r = &m->u.rsp;

	t->status = r->status;
	t->sense_len = r->sense_len;
	memcpy(t->sense, r->sense, r->sense_len);
	t->xfer_len = r->xfer_len;
	t->data_len = m->hdr.data_len;
	t->aborted = (r->flags & IC_RSP_ABORTED) != 0;
}

/* ------------------------------------------------------------------ */

static const char auth_label[] = "duet-ic-hello-auth-v1";

static int mac_update_part(EVP_MAC_CTX *ctx, const uint8_t *p, size_t len)
{
	uint8_t l[4];

	put_be32(l, (uint32_t)len);
	if (!EVP_MAC_update(ctx, l, sizeof(l)) || !EVP_MAC_update(ctx, p, len))
		return -EIO;
	return 0;
}

int ic_auth_mac(const uint8_t *secret, size_t secret_len,
		const uint8_t *sender_hello, size_t sender_len,
		const uint8_t *receiver_hello, size_t receiver_len,
		uint8_t mac[IC_MAC_LEN])
{
	OSSL_PARAM params[2];
	EVP_MAC_CTX *ctx = NULL;
	EVP_MAC *hmac;
	size_t outl = 0;
	int rc = -EIO;

	if (secret_len < IC_SECRET_MIN || sender_len > UINT32_MAX ||
	    receiver_len > UINT32_MAX)
		return -EINVAL;
	hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!hmac)
		return -EIO;
	ctx = EVP_MAC_CTX_new(hmac);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!ctx || !EVP_MAC_init(ctx, secret, secret_len, params))
		goto out;
	if (mac_update_part(ctx, (const uint8_t *)auth_label,
			    sizeof(auth_label) - 1) ||
	    mac_update_part(ctx, sender_hello, sender_len) ||
	    mac_update_part(ctx, receiver_hello, receiver_len))
		goto out;
	if (EVP_MAC_final(ctx, mac, &outl, IC_MAC_LEN) && outl == IC_MAC_LEN)
		rc = 0;
out:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(hmac);
	return rc;
}

int ic_auth_verify(const uint8_t *secret, size_t secret_len,
		   const uint8_t *sender_hello, size_t sender_len,
		   const uint8_t *receiver_hello, size_t receiver_len,
		   const uint8_t mac[IC_MAC_LEN])
{
	uint8_t want[IC_MAC_LEN];
	int rc;

	rc = ic_auth_mac(secret, secret_len, sender_hello, sender_len,
			 receiver_hello, receiver_len, want);
	if (rc)
		return rc;
	rc = CRYPTO_memcmp(want, mac, IC_MAC_LEN) ? -EACCES : 0;
	OPENSSL_cleanse(want, sizeof(want));
	return rc;
}
