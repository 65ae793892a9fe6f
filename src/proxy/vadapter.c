// SPDX-License-Identifier: Apache-2.0
/*
 * The local virtual adapter (proxy node): a struct scsi_dispatcher that
 * forwards every task over the interconnect as one SCSI_CMD and completes
 * it from the SCSI_RSP.
 *
 * Choices worth knowing:
 *  - Tags: a fixed slot table; tag = generation << 32 | index, the
 *    generation (31 bits, never 0) bumps on every use of a slot. A SCSI_RSP
 *    whose tag names a free slot, another generation or an index out of
 *    range is logged and dropped, never dereferenced. TMF and NEXUS_END
 *    requests use tags with bit 63 set, from a counter.
 *  - No copy: write data is sent straight from task->buf (the link keeps a
 *    reference until its send-done); read data lands straight in task->buf
 *    through get_buf, only if it fits buf_cap and the task reads. A task
 *    is never completed while the link still references its buffer: a
 *    response that overtakes its own send-done is parked until then.
 *  - Backpressure: -ENOBUFS from the link starts a FIFO of held requests
 *    (commands, TMFs, NEXUS_ENDs, in submission order); everything goes
 *    through it until it drains on ops->writable. More than max_queued
 *    held commands: TASK SET FULL.
 *  - TMF: held commands it covers are aborted here at once; the TMF is
 *    then forwarded, and completes when TMF_RSP arrived and every task it
 *    covers (submitted before it, still in flight) has completed.
 *  - Link down / not up: every task completes through proxy_fail_task()
 *    and every TMF with SCSI_TMF_FAILED (after its tasks).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duet/log.h"
#include "duet/proxy.h"
#include "duet/scsi_proto.h"
#include "duet/scsi_sense.h"
#include "duet/util.h"

#define VA_CTL_TAG_BIT (1ull << 63)
#define VA_GEN_MASK 0x7fffffffu

enum va_kind { VQ_CMD, VQ_TMF, VQ_NEND };
enum va_state { VS_FREE, VS_QUEUED, VS_SENT };

struct va_qent {
	struct va_qent *next;
	uint8_t kind; /* enum va_kind */
};

struct va_slot {
	struct va_qent q;
	struct proxy_vadapter *va;
	struct scsi_task *task;
	uint64_t seq; /* submission order, for TMF coverage */
	uint32_t gen;
	uint32_t next_free;
	uint8_t state;	/* enum va_state */
	bool sending;	/* the link still references task->buf */
	bool rsp_ready; /* response arrived before send-done */
};

struct va_tmf {
	struct va_qent q;
	struct va_tmf *next; /* active list */
	struct proxy_vadapter *va;
	struct scsi_tmf *tmf;
	uint64_t tag;
	uint64_t seq_at; /* covers tasks with seq below */
	unsigned n_wait; /* covered tasks still in flight */
	bool rsp;	 /* TMF_RSP (or failure) arrived */
	bool finishing;
};

struct va_nend {
	struct va_qent q;
	uint64_t tag;
	struct ic_nexus nexus;
};

struct proxy_vadapter {
	struct scsi_dispatcher disp;
	struct ic_link *link;
	struct va_slot *slots;
	unsigned cap, n_used, n_sent;
	uint32_t free_head; /* index, or cap when empty */
	unsigned max_queued, n_queued_cmds;
	struct va_qent *qhead, **qtail;
	struct va_tmf *tmfs; /* active (queued or sent) */
	unsigned n_tmfs;
	uint64_t next_seq, ctl_seq;
	struct proxy_vadapter_stats st;
};

/* ------------------------------------------------------------------ */
/* Policy */

void proxy_fail_task(struct scsi_task *t)
{
	t->xfer_len = 0;
	t->data_len = 0;
	t->aborted = false;
	scsi_sense_set_simple(t, false, SCSI_SK_UNIT_ATTENTION,
			      SCSI_ASC_I_T_NEXUS_LOSS);
}

/* The owner answered nonsense (or refused the request): not retryable. */
static void fail_internal(struct scsi_task *t)
{
	t->xfer_len = 0;
	t->data_len = 0;
	t->aborted = false;
	scsi_sense_set_simple(t, false, SCSI_SK_HARDWARE_ERROR,
			      SCSI_ASC_INTERNAL_TARGET_FAILURE);
}

bool proxy_msg_for_vadapter(const struct ic_msg *m)
{
	switch (m->hdr.type) {
	case IC_SCSI_RSP:
	case IC_TMF_RSP:
	case IC_NEXUS_END_DONE:
		return true;
	case IC_ERROR:
		return m->u.error.bad_type == IC_SCSI_CMD ||
		       m->u.error.bad_type == IC_TMF_REQ ||
		       m->u.error.bad_type == IC_NEXUS_END;
	}
	return false;
}

bool proxy_msg_for_remote(const struct ic_msg *m)
{
	switch (m->hdr.type) {
	case IC_SCSI_CMD:
	case IC_TMF_REQ:
	case IC_NEXUS_END:
		return true;
	case IC_ERROR:
		return m->u.error.bad_type == IC_SCSI_RSP ||
		       m->u.error.bad_type == IC_TMF_RSP ||
		       m->u.error.bad_type == IC_NEXUS_END_DONE;
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* Slots and tags */

static uint64_t slot_tag(const struct proxy_vadapter *va,
			 const struct va_slot *s)
{
	return (uint64_t)s->gen << 32 | (uint64_t)(s - va->slots);
}

static struct va_slot *slot_lookup(struct proxy_vadapter *va, uint64_t tag)
{
	uint64_t idx = tag & 0xffffffffu;
	struct va_slot *s;

	if (tag & VA_CTL_TAG_BIT || idx >= va->cap)
		return NULL;
	s = &va->slots[idx];
	if (s->state == VS_FREE || s->gen != (uint32_t)(tag >> 32))
		return NULL;
	return s;
}

static struct va_slot *slot_alloc(struct proxy_vadapter *va,
				  struct scsi_task *t)
{
	struct va_slot *s;

	if (va->free_head >= va->cap)
		return NULL;
	s = &va->slots[va->free_head];
	va->free_head = s->next_free;
	s->gen = (s->gen + 1) & VA_GEN_MASK;
	if (!s->gen)
		s->gen = 1;
	s->task = t;
	s->seq = va->next_seq++;
	s->sending = s->rsp_ready = false;
	s->q.next = NULL;
	s->q.kind = VQ_CMD;
	va->n_used++;
	t->exec_priv = s;
	return s;
}

static void slot_release(struct proxy_vadapter *va, struct va_slot *s)
{
	if (s->state == VS_SENT)
		va->n_sent--;
	s->state = VS_FREE;
	s->task = NULL;
	s->next_free = va->free_head;
	va->free_head = (uint32_t)(s - va->slots);
	va->n_used--;
}

/* ------------------------------------------------------------------ */
/* TMF coverage */

static bool tmf_covers(const struct va_tmf *vt, const struct va_slot *s)
{
	const struct scsi_tmf *tmf = vt->tmf;
	const struct scsi_task *t = s->task;
	bool same_tgt;

	if (s->seq >= vt->seq_at)
		return false;
	switch (tmf->fn) {
	case SCSI_TMF_ABORT_TASK:
	case SCSI_TMF_ABORT_TASK_SET:
		for (unsigned i = 0; i < tmf->n_tasks; i++)
			if (tmf->tasks && tmf->tasks[i] == t)
				return true;
		return false;
	default:
		break;
	}
	same_tgt = tmf->itn && t->itn &&
		   !strcmp(tmf->itn->target_name, t->itn->target_name);
	switch (tmf->fn) {
	case SCSI_TMF_CLEAR_TASK_SET:
	case SCSI_TMF_LUN_RESET:
		return same_tgt && t->lun == tmf->lun;
	case SCSI_TMF_TARGET_WARM_RESET:
	case SCSI_TMF_TARGET_COLD_RESET:
		return same_tgt;
	default:
		return false;
	}
}

static void tmf_unlist(struct proxy_vadapter *va, struct va_tmf *vt)
{
	for (struct va_tmf **pp = &va->tmfs; *pp; pp = &(*pp)->next) {
		if (*pp == vt) {
			*pp = vt->next;
			va->n_tmfs--;
			return;
		}
	}
}

/* Complete every TMF whose answer arrived and whose tasks are gone. */
static void tmfs_check(struct proxy_vadapter *va)
{
	struct va_tmf *vt;
again:
	for (vt = va->tmfs; vt; vt = vt->next) {
		if (vt->rsp && !vt->n_wait && !vt->finishing) {
			struct scsi_tmf *tmf = vt->tmf;

			vt->finishing = true;
			tmf_unlist(va, vt);
			free(vt);
			tmf->done(tmf);
			goto again; /* done() may have changed the list */
		}
	}
}

/* Complete the task of slot s (its out fields are set). */
static void slot_complete(struct proxy_vadapter *va, struct va_slot *s)
{
	struct scsi_task *t = s->task;

	for (struct va_tmf *vt = va->tmfs; vt; vt = vt->next)
		if (vt->n_wait && s->state == VS_SENT && tmf_covers(vt, s))
			vt->n_wait--;
	slot_release(va, s);
	t->exec_priv = NULL;
	va->st.completed++;
	t->done(t);
	if (va->tmfs)
		tmfs_check(va);
}

/* ------------------------------------------------------------------ */
/* Sending and the backpressure queue */

static void cmd_sent(void *arg, int err)
{
	struct va_slot *s = arg;

	s->sending = false;
	if (s->rsp_ready && s->state == VS_SENT)
		slot_complete(s->va, s);
	/* on err the link goes down next: link_down fails the task */
}

/* Returns 0 (sent or completed) or -ENOBUFS (caller holds it). */
static int send_cmd(struct proxy_vadapter *va, struct va_slot *s)
{
	struct scsi_task *t = s->task;
	struct ic_msg m;
	uint32_t dlen;
	int rc;

	rc = ic_cmd_from_task(&m, t, slot_tag(va, s), &dlen);
	if (!rc) {
		s->sending = true;
		rc = ic_link_send(va->link, &m, t->buf, dlen, cmd_sent, s);
		if (rc)
			s->sending = false;
	}
	if (rc == -ENOBUFS)
		return rc;
	if (!rc) {
		s->state = VS_SENT;
		va->n_sent++;
		va->st.sent++;
		return 0;
	}
	if (rc == -ENOTCONN) {
		va->st.failed_link++;
		proxy_fail_task(t);
	} else {
		log_err("proxy: target %s lun %" PRIu64 ": cannot forward "
			"CDB 0x%02x: %s",
			t->itn ? t->itn->target_name : "?", t->lun >> 48,
			t->cdb[0], strerror(-rc));
		fail_internal(t);
	}
	s->state = VS_SENT; /* counted so that release balances */
	va->n_sent++;
	slot_complete(va, s);
	return 0;
}

static int send_tmf(struct proxy_vadapter *va, struct va_tmf *vt)
{
	struct scsi_tmf *tmf = vt->tmf;
	struct ic_msg m;
	int rc;

	ic_msg_init(&m, IC_TMF_REQ, vt->tag, tmf->lun);
	m.u.tmf_req.fn = (uint8_t)tmf->fn;
	if (tmf->itn)
		ic_nexus_from_itn(&m.u.tmf_req.nexus, tmf->itn);
	if (tmf->fn == SCSI_TMF_ABORT_TASK && tmf->n_tasks && tmf->tasks &&
	    tmf->tasks[0]) {
		struct va_slot *s = tmf->tasks[0]->exec_priv;

		if (s >= va->slots && s < va->slots + va->cap &&
		    s->task == tmf->tasks[0])
			m.u.tmf_req.ref_tag = slot_tag(va, s);
	}
	rc = ic_link_send(va->link, &m, NULL, 0, NULL, NULL);
	if (rc == -ENOBUFS)
		return rc;
	if (rc) {
		log_warn("proxy: TMF %d for %s not forwarded: %s", tmf->fn,
			 tmf->itn ? tmf->itn->target_name : "?", strerror(-rc));
		tmf->result = SCSI_TMF_FAILED;
		vt->rsp = true;
		tmfs_check(va);
	}
	return 0;
}

static int send_nend(struct proxy_vadapter *va, struct va_nend *ne)
{
	struct ic_msg m;
	int rc;

	ic_msg_init(&m, IC_NEXUS_END, ne->tag, 0);
	m.u.nexus_end.reason = IC_NEXUS_CLOSED;
	m.u.nexus_end.nexus = ne->nexus;
	rc = ic_link_send(va->link, &m, NULL, 0, NULL, NULL);
	if (rc == -ENOBUFS)
		return rc;
	if (rc)
		log_info("proxy: NEXUS_END for %s -> %s not sent (%s); the "
			 "owner ends it with the link",
			 ne->nexus.initiator_name, ne->nexus.target_name,
			 strerror(-rc));
	free(ne);
	return 0;
}

static void q_push(struct proxy_vadapter *va, struct va_qent *e)
{
	e->next = NULL;
	*va->qtail = e;
	va->qtail = &e->next;
}

static struct va_qent *q_pop(struct proxy_vadapter *va)
{
	struct va_qent *e = va->qhead;

	if (e) {
		va->qhead = e->next;
		if (!va->qhead)
			va->qtail = &va->qhead;
		e->next = NULL;
	}
	return e;
}

static int send_qent(struct proxy_vadapter *va, struct va_qent *e)
{
	switch (e->kind) {
	case VQ_CMD:
		return send_cmd(va, container_of(e, struct va_slot, q));
	case VQ_TMF:
		return send_tmf(va, container_of(e, struct va_tmf, q));
	default:
		return send_nend(va, container_of(e, struct va_nend, q));
	}
}

/* Send e now, or hold it behind what is already held. */
static void submit_qent(struct proxy_vadapter *va, struct va_qent *e)
{
	if (!va->qhead && send_qent(va, e) == 0)
		return;
	if (e->kind == VQ_CMD) {
		container_of(e, struct va_slot, q)->state = VS_QUEUED;
		va->n_queued_cmds++;
	}
	q_push(va, e);
}

void proxy_vadapter_writable(struct proxy_vadapter *va)
{
	struct va_qent *e;

	while ((e = q_pop(va))) {
		if (e->kind == VQ_CMD)
			va->n_queued_cmds--;
		if (send_qent(va, e) == -ENOBUFS) {
			/* back to the head */
			if (e->kind == VQ_CMD)
				va->n_queued_cmds++;
			e->next = va->qhead;
			va->qhead = e;
			if (!e->next)
				va->qtail = &e->next;
			return;
		}
	}
}

/* ------------------------------------------------------------------ */
/* Dispatcher ops */

static void va_submit(struct scsi_dispatcher *d, struct scsi_task *t)
{
	struct proxy_vadapter *va =
		container_of(d, struct proxy_vadapter, disp);
	struct va_slot *s;

	t->status = SCSI_STATUS_GOOD;
	t->sense_len = 0;
	t->xfer_len = t->data_len = 0;
	t->aborted = false;
	if (!ic_link_is_up(va->link)) {
		va->st.failed_link++;
		proxy_fail_task(t);
		t->done(t);
		return;
	}
	if ((va->qhead && va->n_queued_cmds >= va->max_queued) ||
	    !(s = slot_alloc(va, t))) {
		va->st.rejected_full++;
		t->status = SCSI_STATUS_TASK_SET_FULL;
		t->done(t);
		return;
	}
	s->state = VS_QUEUED; /* until send_cmd says otherwise */
	submit_qent(va, &s->q);
}

/* Abort the held (never sent) commands a new TMF covers. */
static void abort_held(struct proxy_vadapter *va, struct va_tmf *vt)
{
	struct va_qent **pp = &va->qhead, *e;

	while ((e = *pp)) {
		struct va_slot *s = container_of(e, struct va_slot, q);

		if (e->kind != VQ_CMD || !tmf_covers(vt, s)) {
			pp = &e->next;
			continue;
		}
		*pp = e->next;
		if (!*pp)
			va->qtail = pp;
		va->n_queued_cmds--;
		s->task->aborted = true;
		slot_complete(va, s);
	}
}

static void va_tmf(struct scsi_dispatcher *d, struct scsi_tmf *tmf)
{
	struct proxy_vadapter *va =
		container_of(d, struct proxy_vadapter, disp);
	struct va_tmf *vt = calloc(1, sizeof(*vt));

	tmf->result = SCSI_TMF_COMPLETE;
	if (!vt || !ic_link_is_up(va->link)) {
		free(vt);
		tmf->result = SCSI_TMF_FAILED;
		tmf->done(tmf);
		return;
	}
	vt->q.kind = VQ_TMF;
	vt->va = va;
	vt->tmf = tmf;
	vt->tag = VA_CTL_TAG_BIT | ++va->ctl_seq;
	vt->seq_at = va->next_seq;
	vt->next = va->tmfs;
	va->tmfs = vt;
	va->n_tmfs++;
	abort_held(va, vt);
	for (unsigned i = 0; i < va->cap; i++)
		if (va->slots[i].state == VS_SENT &&
		    tmf_covers(vt, &va->slots[i]))
			vt->n_wait++;
	submit_qent(va, &vt->q);
}

static void va_nexus_end(struct scsi_dispatcher *d, const struct scsi_itn *itn)
{
	struct proxy_vadapter *va =
		container_of(d, struct proxy_vadapter, disp);
	struct va_nend *ne;

	if (!ic_link_is_up(va->link))
		return; /* the owner ends every nexus of a dropped link */
	ne = calloc(1, sizeof(*ne));
	if (!ne) {
		log_err("proxy: no memory for NEXUS_END of %s -> %s",
			itn->initiator_name, itn->target_name);
		return;
	}
	ne->q.kind = VQ_NEND;
	ne->tag = VA_CTL_TAG_BIT | ++va->ctl_seq;
	ic_nexus_from_itn(&ne->nexus, itn);
	submit_qent(va, &ne->q);
}

static const struct scsi_dispatch_ops va_ops = {
	.submit = va_submit,
	.tmf = va_tmf,
	.nexus_end = va_nexus_end,
};

/* ------------------------------------------------------------------ */
/* Receiving */

uint8_t *proxy_vadapter_get_buf(struct proxy_vadapter *va,
				const struct ic_msg *m)
{
	struct va_slot *s;
	struct scsi_task *t;

	if (m->hdr.type != IC_SCSI_RSP)
		return NULL;
	s = slot_lookup(va, m->hdr.tag);
	if (!s || s->state != VS_SENT || s->sending || s->rsp_ready)
		return NULL;
	t = s->task;
	if (t->dir != SCSI_DIR_READ && t->dir != SCSI_DIR_BIDI)
		return NULL;
	if (!t->buf || m->hdr.data_len > t->buf_cap)
		return NULL;
	return t->buf;
}

static void recv_rsp(struct proxy_vadapter *va, const struct ic_msg *m,
		     const uint8_t *data, uint32_t dlen)
{
	struct va_slot *s = slot_lookup(va, m->hdr.tag);
	struct scsi_task *t;

	if (!s || s->state != VS_SENT || s->rsp_ready) {
		va->st.bad_rsp++;
		log_warn("proxy: SCSI_RSP with unknown or stale tag "
			 "0x%016" PRIx64 " ignored",
			 m->hdr.tag);
		return;
	}
	t = s->task;
	if (dlen && (data != t->buf || dlen > t->buf_cap)) {
		va->st.bad_rsp++;
		log_err("proxy: target %s: SCSI_RSP tag 0x%016" PRIx64
			" carries %u data bytes, task takes %u (dir %d): "
			"rejected",
			t->itn ? t->itn->target_name : "?", m->hdr.tag, dlen,
			t->buf_cap, t->dir);
		fail_internal(t);
	} else {
		ic_rsp_to_task(t, m);
	}
	if (s->sending) {
		s->rsp_ready = true;
		return;
	}
	slot_complete(va, s);
}

static struct va_tmf *tmf_lookup(struct proxy_vadapter *va, uint64_t tag)
{
	for (struct va_tmf *vt = va->tmfs; vt; vt = vt->next)
		if (vt->tag == tag && !vt->rsp)
			return vt;
	return NULL;
}

static void recv_tmf_rsp(struct proxy_vadapter *va, uint64_t tag,
			 enum scsi_tmf_result res)
{
	struct va_tmf *vt = tmf_lookup(va, tag);

	if (!vt) {
		va->st.bad_rsp++;
		log_warn("proxy: TMF answer with unknown tag 0x%016" PRIx64
			 " ignored",
			 tag);
		return;
	}
	vt->tmf->result = res;
	vt->rsp = true;
	tmfs_check(va);
}

static void recv_error(struct proxy_vadapter *va, const struct ic_msg *m)
{
	struct va_slot *s;

	switch (m->u.error.bad_type) {
	case IC_SCSI_CMD:
		s = slot_lookup(va, m->hdr.tag);
		if (!s || s->state != VS_SENT || s->rsp_ready)
			return;
		fail_internal(s->task);
		if (s->sending)
			s->rsp_ready = true;
		else
			slot_complete(va, s);
		return;
	case IC_TMF_REQ:
		recv_tmf_rsp(va, m->hdr.tag, SCSI_TMF_FAILED);
		return;
	}
}

void proxy_vadapter_recv(struct proxy_vadapter *va, const struct ic_msg *m,
			 uint8_t *data, uint32_t data_len)
{
	switch (m->hdr.type) {
	case IC_SCSI_RSP:
		recv_rsp(va, m, data, data_len);
		break;
	case IC_TMF_RSP:
		recv_tmf_rsp(va, m->hdr.tag,
			     (enum scsi_tmf_result)m->u.tmf_rsp.result);
		break;
	case IC_NEXUS_END_DONE:
		log_debug("proxy: owner ended nexus (tag 0x%016" PRIx64
			  "): %u aborted, %u completed",
			  m->hdr.tag, m->u.nexus_done.n_aborted,
			  m->u.nexus_done.n_completed);
		break;
	case IC_ERROR:
		recv_error(va, m);
		break;
	default:
		break;
	}
}

/* ------------------------------------------------------------------ */
/* Link down, life cycle */

static void fail_everything(struct proxy_vadapter *va, const char *why)
{
	struct va_qent *e;
	unsigned n = 0;

	while ((e = q_pop(va))) {
		if (e->kind == VQ_CMD) {
			struct va_slot *s = container_of(e, struct va_slot, q);

			va->n_queued_cmds--;
			proxy_fail_task(s->task);
			va->st.failed_link++;
			n++;
			slot_complete(va, s);
		} else if (e->kind == VQ_TMF) {
			struct va_tmf *vt = container_of(e, struct va_tmf, q);

			vt->tmf->result = SCSI_TMF_FAILED;
			vt->rsp = true;
		} else {
			free(container_of(e, struct va_nend, q));
		}
	}
	for (unsigned i = 0; i < va->cap; i++) {
		struct va_slot *s = &va->slots[i];

		if (s->state != VS_SENT || s->sending)
			continue;
		proxy_fail_task(s->task);
		va->st.failed_link++;
		n++;
		slot_complete(va, s);
	}
	for (struct va_tmf *vt = va->tmfs; vt; vt = vt->next) {
		if (!vt->rsp)
			vt->tmf->result = SCSI_TMF_FAILED;
		vt->rsp = true;
	}
	tmfs_check(va);
	if (n)
		log_warn("proxy: %s: %u proxied commands completed with UNIT "
			 "ATTENTION 29/07 for the initiator to retry",
			 why, n);
}

void proxy_vadapter_link_down(struct proxy_vadapter *va)
{
	fail_everything(va, "interconnect down");
}

int proxy_vadapter_new(const struct proxy_vadapter_cfg *cfg,
		       struct proxy_vadapter **out)
{
	struct proxy_vadapter *va;
	unsigned cap = cfg->max_inflight ? cfg->max_inflight : 4096;

	if (!cfg->link || cap > (1u << 24))
		return -EINVAL;
	va = calloc(1, sizeof(*va));
	if (!va)
		return -ENOMEM;
	va->slots = calloc(cap, sizeof(*va->slots));
	if (!va->slots) {
		free(va);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < cap; i++) {
		va->slots[i].va = va;
		va->slots[i].next_free = i + 1;
	}
	va->cap = cap;
	va->free_head = 0;
	va->disp.ops = &va_ops;
	va->link = cfg->link;
	va->max_queued = cfg->max_queued ? cfg->max_queued : 1024;
	va->qtail = &va->qhead;
	*out = va;
	return 0;
}

void proxy_vadapter_free(struct proxy_vadapter *va)
{
	if (!va)
		return;
	for (unsigned i = 0; i < va->cap; i++)
		va->slots[i].sending = false; /* the link is gone first */
	fail_everything(va, "virtual adapter freed");
	free(va->slots);
	free(va);
}

struct scsi_dispatcher *proxy_vadapter_dispatcher(struct proxy_vadapter *va)
{
	return &va->disp;
}

void proxy_vadapter_get_stats(const struct proxy_vadapter *va,
			      struct proxy_vadapter_stats *st)
{
	*st = va->st;
	st->inflight = va->n_sent;
	st->queued = va->n_queued_cmds;
	st->tmfs = va->n_tmfs;
}
