// SPDX-License-Identifier: Apache-2.0
/*
 * The partner virtual adapter (owner node): SCSI_CMD / TMF_REQ /
 * NEXUS_END from the interconnect become tasks and TMFs on the owner's
 * local dispatchers; SCSI_RSP / TMF_RSP / NEXUS_END_DONE go back.
 *
 * Choices worth knowing:
 *  - Each remote I_T nexus (initiator name, ISID, relative port id, target
 *    name) is interned in a bounded table and owns the struct scsi_itn its
 *    tasks point to; an entry lives until it ended (NEXUS_END or link
 *    down) and its last task completed (an idle live entry may be
 *    reclaimed when the table is full).
 *  - The data buffer is allocated (DUET_BUF_ALIGN) when get_buf announces
 *    the SCSI_CMD, so the data-out lands there directly; read data goes
 *    back straight from it. Budgets: max_tasks and max_bytes; beyond them
 *    a command is answered TASK SET FULL without running.
 *  - Ordering: every command gets a sequence number. A nexus entry
 *    records, when it is created, the sequence number reached (its
 *    barrier). Its commands are held (in order) while any OTHER entry of
 *    the same initiator name and target still has a command older than
 *    that barrier outstanding. An ended nexus is such an entry until it
 *    drained; so is the previous incarnation of the same ISID. Later
 *    commands of the old nexus never hold the new one (no deadlock between
 *    two live sessions of one initiator, as dm-multipath makes).
 *  - NEXUS_END: held commands of the nexus are aborted without running,
 *    the submitted ones through ABORT TASK SET with their list;
 *    NEXUS_END_DONE goes when all completed. Link down does the same for
 *    every nexus (no answers; a link epoch keeps answers of an old link
 *    off a new one).
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

#define RM_BUF_CLASSES 12	    /* 4 KiB .. 8 MiB (DUET_MAX_IO_BYTES) */
#define RM_POOL_BYTES (32ull << 20) /* idle buffers kept for reuse */

enum rt_state { RT_HELD, RT_RUNNING, RT_DONE };

struct rm_nexus {
	struct rm_nexus *next;
	struct proxy_remote *r;
	struct scsi_itn itn;
	struct scsi_dispatcher *disp;
	uint64_t barrier;
	struct rm_task *head, *tail; /* outstanding, arrival order */
	unsigned n_tasks, n_held, refs;
	bool ended, end_reply;
	bool released; /* passed its barrier once */
	uint64_t end_tag;
	uint32_t end_epoch;
	uint32_t n_aborted, n_completed;
};

struct rm_task {
	struct scsi_task task;
	struct rm_task *next, *prev; /* nexus outstanding list */
	struct rm_task *qnext;	     /* response queue */
	struct ic_msg *ctl;	     /* a queued control answer, not a task */
	struct proxy_remote *r;
	struct rm_nexus *nx;
	uint64_t tag, seq;
	uint32_t epoch, bytes;
	uint8_t state; /* enum rt_state */
};

struct rm_tmf {
	struct scsi_tmf tmf;
	struct proxy_remote *r;
	struct rm_nexus *nx; /* pinned, may be NULL */
	struct scsi_itn itn;
	uint64_t tag;
	uint32_t epoch;
	bool reply;
};

struct proxy_remote {
	struct ic_link *link;
	proxy_lookup_fn lookup;
	void *lookup_arg;
	proxy_local_busy_fn local_busy;
	void *local_busy_arg;
	unsigned max_nexus, max_tasks;
	uint64_t max_bytes, bytes;
	struct rm_nexus *nexuses;
	unsigned n_nexus, n_tasks, n_held, n_tmfs;
	uint64_t next_seq;
	uint32_t epoch;
	struct rm_task *rx; /* announced by get_buf, not yet received */
	struct rm_task *rq_head, **rq_tail; /* responses held (-ENOBUFS) */
	struct proxy_remote_waiter *waiters;
	/* Tasks finished while a TMF that may list them is being
	 * dispatched: freed once scsi_dispatch_tmf() returned. */
	unsigned in_tmf;
	struct rm_task *zombies;
	bool releasing, release_again, freeing;
	struct proxy_remote_stats st;
	/* Data buffers kept for reuse, by power-of-two size class: a fresh
	 * 128 KiB+ buffer is an mmap (page faults, zeroing, munmap and TLB
	 * shootdowns on every command). */
	void *pool[RM_BUF_CLASSES];
	uint64_t pool_bytes;
};

static void maybe_free_remote(struct proxy_remote *r);
static void send_ctl(struct proxy_remote *r, struct ic_msg *m);

/* ------------------------------------------------------------------ */
/* Nexus table */

static bool itn_same(const struct scsi_itn *a, const struct ic_nexus *b)
{
	return a->rel_tgt_port_id == b->rel_tgt_port_id &&
	       !memcmp(a->isid, b->isid, sizeof(a->isid)) &&
	       !strcmp(a->initiator_name, b->initiator_name) &&
	       !strcmp(a->target_name, b->target_name);
}

static struct rm_nexus *nexus_find(struct proxy_remote *r,
				   const struct ic_nexus *n)
{
	for (struct rm_nexus *x = r->nexuses; x; x = x->next)
		if (!x->ended && itn_same(&x->itn, n))
			return x;
	return NULL;
}

static void nexus_unlink_free(struct proxy_remote *r, struct rm_nexus *x)
{
	for (struct rm_nexus **pp = &r->nexuses; *pp; pp = &(*pp)->next) {
		if (*pp == x) {
			*pp = x->next;
			r->n_nexus--;
			free(x);
			return;
		}
	}
}

/* An idle live entry to give up when the table is full. */
static bool nexus_reclaim(struct proxy_remote *r)
{
	for (struct rm_nexus *x = r->nexuses; x; x = x->next) {
		if (!x->ended && !x->refs) {
			nexus_unlink_free(r, x);
			return true;
		}
	}
	return false;
}

static struct rm_nexus *nexus_get(struct proxy_remote *r,
				  const struct ic_nexus *n)
{
	struct rm_nexus *x = nexus_find(r, n);

	if (x)
		return x;
	if (r->n_nexus >= r->max_nexus && !nexus_reclaim(r))
		return NULL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->r = r;
	ic_nexus_to_itn(&x->itn, n);
	x->disp = r->lookup(r->lookup_arg, x->itn.target_name);
	x->barrier = r->next_seq;
	x->next = r->nexuses;
	r->nexuses = x;
	r->n_nexus++;
	log_debug("proxy remote: new nexus %s -> %s (port %u)",
		  x->itn.initiator_name, x->itn.target_name,
		  x->itn.rel_tgt_port_id);
	return x;
}

/* Is x held back by an older command of another nexus of its group? */
static bool nexus_blocked(const struct proxy_remote *r, struct rm_nexus *x)
{
	if (x->released)
		return false;
	for (const struct rm_nexus *o = r->nexuses; o; o = o->next) {
		if (o == x || !o->head || o->head->seq >= x->barrier)
			continue;
		if (!strcmp(o->itn.initiator_name, x->itn.initiator_name) &&
		    !strcmp(o->itn.target_name, x->itn.target_name))
			return true;
	}
	if (r->local_busy &&
	    r->local_busy(r->local_busy_arg, x->itn.initiator_name,
			  x->itn.target_name))
		return true;
	/* from now on nothing older can appear: never check again */
	x->released = true;
	return false;
}

static void nexus_send_end_done(struct proxy_remote *r, struct rm_nexus *x)
{
	struct ic_msg m;

	if (x->end_epoch != r->epoch)
		return;
	ic_msg_init(&m, IC_NEXUS_END_DONE, x->end_tag, 0);
	m.u.nexus_done.n_aborted = x->n_aborted;
	m.u.nexus_done.n_completed = x->n_completed;
	send_ctl(r, &m);
	log_info("proxy remote: nexus %s -> %s ended: %u aborted, %u "
		 "completed",
		 x->itn.initiator_name, x->itn.target_name, x->n_aborted,
		 x->n_completed);
}

/* Drop a reference; an ended entry goes once nothing refers to it. */
static void nexus_put(struct proxy_remote *r, struct rm_nexus *x)
{
	if (--x->refs || !x->ended)
		return;
	if (x->end_reply)
		nexus_send_end_done(r, x);
	if (x->disp)
		scsi_dispatch_nexus_end(x->disp, &x->itn);
	nexus_unlink_free(r, x);
}

/* ------------------------------------------------------------------ */
/* Tasks */

static unsigned buf_class(uint32_t len, uint32_t *cap)
{
	unsigned k = 0;
	uint32_t c = DUET_BUF_ALIGN;

	while (c < len && k < RM_BUF_CLASSES - 1) {
		c <<= 1;
		k++;
	}
	*cap = c;
	return k;
}

static void *buf_get(struct proxy_remote *r, uint32_t len)
{
	uint32_t cap;
	unsigned k = buf_class(len, &cap);
	void *b = r->pool[k];

	if (b) {
		memcpy(&r->pool[k], b, sizeof(void *));
		r->pool_bytes -= cap;
		return b;
	}
	return posix_memalign(&b, DUET_BUF_ALIGN, cap) ? NULL : b;
}

static void buf_put(struct proxy_remote *r, void *b, uint32_t len)
{
	uint32_t cap;
	unsigned k;

	if (!b)
		return;
	k = buf_class(len, &cap);
	if (r->freeing || r->pool_bytes + cap > RM_POOL_BYTES) {
		free(b);
		return;
	}
	memcpy(b, &r->pool[k], sizeof(void *));
	r->pool[k] = b;
	r->pool_bytes += cap;
}

static void pool_drain(struct proxy_remote *r)
{
	for (unsigned k = 0; k < RM_BUF_CLASSES; k++) {
		while (r->pool[k]) {
			void *b = r->pool[k];

			memcpy(&r->pool[k], b, sizeof(void *));
			free(b);
		}
	}
	r->pool_bytes = 0;
}

static void rt_free(struct rm_task *rt)
{
	struct proxy_remote *r = rt->r;

	if (r->in_tmf) {
		rt->qnext = r->zombies;
		r->zombies = rt;
		return;
	}
	r->bytes -= rt->bytes;
	r->n_tasks--;
	free(rt->ctl);
	buf_put(r, rt->task.buf, (uint32_t)rt->bytes);
	free(rt);
	maybe_free_remote(r);
}

static struct rm_task *rt_new(struct proxy_remote *r, const struct ic_msg *m)
{
	uint32_t cap = MIN(m->u.cmd.exp_xfer_len, DUET_MAX_IO_BYTES);
	struct rm_task *rt;
	void *buf = NULL;

	if (r->n_tasks >= r->max_tasks || cap > r->max_bytes - r->bytes)
		return NULL;
	rt = calloc(1, sizeof(*rt));
	if (!rt)
		return NULL;
	if (cap && !(buf = buf_get(r, cap))) {
		free(rt);
		return NULL;
	}
	rt->r = r;
	rt->tag = m->hdr.tag;
	rt->epoch = r->epoch;
	rt->bytes = cap;
	rt->task.buf = buf;
	rt->task.buf_cap = cap;
	rt->task.priv = rt;
	r->bytes += cap;
	r->n_tasks++;
	return rt;
}

/* scsi_dispatch_tmf() with the zombie rule above. */
static void dispatch_tmf(struct proxy_remote *r, struct scsi_dispatcher *d,
			 struct scsi_tmf *tmf)
{
	struct rm_task *z;

	r->in_tmf++;
	scsi_dispatch_tmf(d, tmf);
	if (--r->in_tmf)
		return;
	r->n_tmfs++; /* r must survive the frees below */
	while ((z = r->zombies)) {
		r->zombies = z->qnext;
		rt_free(z);
	}
	r->n_tmfs--;
	maybe_free_remote(r);
}

static void rsp_sent(void *arg, int err)
{
	rt_free(arg);
}

/* Returns -ENOBUFS when the caller must hold it. */
static int send_rsp(struct proxy_remote *r, struct rm_task *rt)
{
	struct ic_msg m;
	uint32_t dlen;
	int rc;

	if (rt->epoch != r->epoch) {
		rt_free(rt);
		return 0;
	}
	if (rt->ctl) {
		rc = ic_link_send(r->link, rt->ctl, NULL, 0, NULL, NULL);
		if (rc == -ENOBUFS)
			return rc;
		if (rc)
			log_warn("proxy remote: %s tag 0x%016" PRIx64
				 " not sent: %s",
				 ic_type_name(rt->ctl->hdr.type),
				 rt->ctl->hdr.tag, strerror(-rc));
		rt_free(rt);
		return 0;
	}
	ic_rsp_from_task(&m, &rt->task, rt->tag, &dlen);
	rc = ic_link_send(r->link, &m, rt->task.buf, dlen, rsp_sent, rt);
	if (rc == -ENOBUFS)
		return rc;
	if (rc) {
		if (rc != -ENOTCONN)
			log_err("proxy remote: SCSI_RSP tag 0x%016" PRIx64
				" not sent: %s",
				rt->tag, strerror(-rc));
		rt_free(rt);
	} else {
		r->st.answered++;
	}
	return 0;
}

static void respond(struct proxy_remote *r, struct rm_task *rt)
{
	rt->state = RT_DONE;
	if (!r->rq_head && send_rsp(r, rt) == 0)
		return;
	rt->qnext = NULL;
	r->st.rsp_held++;
	*r->rq_tail = rt;
	r->rq_tail = &rt->qnext;
}

/* A field-only answer (SCSI_RSP without data, TMF_RSP, NEXUS_END_DONE),
 * in order behind the held responses. */
static void send_ctl(struct proxy_remote *r, struct ic_msg *m)
{
	struct rm_task *rt;
	int rc;

	if (!r->rq_head) {
		rc = ic_link_send(r->link, m, NULL, 0, NULL, NULL);
		if (rc != -ENOBUFS) {
			if (rc)
				log_warn("proxy remote: %s tag 0x%016" PRIx64
					 " not sent: %s",
					 ic_type_name(m->hdr.type), m->hdr.tag,
					 strerror(-rc));
			return;
		}
	}
	rt = calloc(1, sizeof(*rt));
	if (rt)
		rt->ctl = malloc(sizeof(*m));
	if (!rt || !rt->ctl) {
		free(rt);
		log_err("proxy remote: no memory to hold %s tag 0x%016" PRIx64
			"; the proxy node fails it when the link drops",
			ic_type_name(m->hdr.type), m->hdr.tag);
		return;
	}
	*rt->ctl = *m;
	rt->r = r;
	rt->epoch = r->epoch;
	r->n_tasks++;
	respond(r, rt);
}

void proxy_remote_writable(struct proxy_remote *r)
{
	struct rm_task *rt;

	while ((rt = r->rq_head)) {
		r->rq_head = rt->qnext;
		if (!r->rq_head)
			r->rq_tail = &r->rq_head;
		if (send_rsp(r, rt) == -ENOBUFS) {
			rt->qnext = r->rq_head;
			r->rq_head = rt;
			if (!rt->qnext)
				r->rq_tail = &rt->qnext;
			return;
		}
	}
}

static void waiters_check(struct proxy_remote *r);
static void release_held(struct proxy_remote *r);

static void nexus_list_del(struct rm_nexus *x, struct rm_task *rt)
{
	if (rt->prev)
		rt->prev->next = rt->next;
	else
		x->head = rt->next;
	if (rt->next)
		rt->next->prev = rt->prev;
	else
		x->tail = rt->prev;
	rt->next = rt->prev = NULL;
	x->n_tasks--;
}

/* The task finished executing (or was aborted / refused). */
static void rt_finished(struct rm_task *rt)
{
	struct proxy_remote *r = rt->r;
	struct rm_nexus *x = rt->nx;

	if (x) {
		if (rt->state == RT_HELD) {
			x->n_held--;
			r->n_held--;
		}
		nexus_list_del(x, rt);
		if (x->ended) {
			if (rt->task.aborted)
				x->n_aborted++;
			else
				x->n_completed++;
		}
		rt->nx = NULL;
	}
	respond(r, rt); /* before a NEXUS_END_DONE that nexus_put may send */
	if (x)
		nexus_put(r, x);
	if (r->n_held)
		release_held(r);
	if (r->waiters)
		waiters_check(r);
}

static void rt_done(struct scsi_task *t)
{
	rt_finished(t->priv);
}

static void rt_submit(struct rm_task *rt)
{
	struct rm_nexus *x = rt->nx;

	rt->state = RT_RUNNING;
	if (!x->disp) {
		scsi_sense_set_simple(&rt->task, false, SCSI_SK_ILLEGAL_REQUEST,
				      SCSI_ASC_LUN_NOT_SUPPORTED);
		rt_finished(rt);
		return;
	}
	scsi_dispatch_submit(x->disp, &rt->task);
}

/* Complete a task that never ran, as aborted. */
static void rt_abort_held(struct rm_task *rt)
{
	rt->task.aborted = true;
	rt->task.status = SCSI_STATUS_TASK_ABORTED;
	rt_finished(rt);
}

static void release_nexus(struct proxy_remote *r, struct rm_nexus *x)
{
	struct rm_task *rt;

	x->refs++; /* x must survive the submits */
	while (x->n_held && !nexus_blocked(r, x)) {
		for (rt = x->head; rt && rt->state != RT_HELD; rt = rt->next)
			;
		if (!rt)
			break;
		x->n_held--;
		r->n_held--;
		rt_submit(rt);
	}
	nexus_put(r, x);
}

static void release_held(struct proxy_remote *r)
{
	struct rm_nexus *x;

	if (r->releasing) {
		r->release_again = true;
		return;
	}
	r->releasing = true;
	do {
		r->release_again = false;
		for (x = r->nexuses; x; x = x->next)
			if (x->n_held && !x->ended && !nexus_blocked(r, x))
				break;
		if (x) {
			release_nexus(r, x); /* submits at least one */
			r->release_again = true;
		}
	} while (r->release_again);
	r->releasing = false;
}

/* ------------------------------------------------------------------ */
/* SCSI_CMD */

static void refuse(struct proxy_remote *r, const struct ic_msg *m,
		   uint8_t status)
{
	struct ic_msg rsp;

	ic_msg_init(&rsp, IC_SCSI_RSP, m->hdr.tag, m->hdr.lun);
	rsp.u.rsp.status = status;
	r->st.refused++;
	send_ctl(r, &rsp);
}

uint8_t *proxy_remote_get_buf(struct proxy_remote *r, const struct ic_msg *m)
{
	struct rm_task *rt;

	if (m->hdr.type != IC_SCSI_CMD || r->freeing)
		return NULL;
	if (r->rx) { /* never received: the link reused nothing */
		rt_free(r->rx);
		r->rx = NULL;
	}
	rt = rt_new(r, m);
	if (!rt || m->hdr.data_len > rt->task.buf_cap) {
		if (rt)
			rt_free(rt);
		return NULL;
	}
	r->rx = rt;
	return rt->task.buf;
}

static struct rm_task *cmd_task(struct proxy_remote *r, const struct ic_msg *m,
				const uint8_t *data, uint32_t dlen)
{
	struct rm_task *rt = r->rx;

	r->rx = NULL;
	if (rt && rt->tag == m->hdr.tag && data == rt->task.buf)
		return rt;
	if (rt)
		rt_free(rt);
	rt = rt_new(r, m);
	if (!rt)
		return NULL;
	if (dlen > rt->task.buf_cap) {
		rt_free(rt);
		return NULL;
	}
	if (dlen)
		memcpy(rt->task.buf, data, dlen); /* the one copy */
	return rt;
}

static void recv_cmd(struct proxy_remote *r, const struct ic_msg *m,
		     const uint8_t *data, uint32_t dlen)
{
	struct rm_task *rt;
	struct rm_nexus *x;

	r->st.received++;
	rt = cmd_task(r, m, data, dlen);
	x = rt ? nexus_get(r, &m->u.cmd.nexus) : NULL;
	if (!x) {
		log_warn("proxy remote: %s -> %s: command refused (%u tasks, "
			 "%u nexuses, %" PRIu64 " bytes in use)",
			 m->u.cmd.nexus.initiator_name,
			 m->u.cmd.nexus.target_name, r->n_tasks, r->n_nexus,
			 r->bytes);
		if (rt)
			rt_free(rt);
		refuse(r, m, SCSI_STATUS_TASK_SET_FULL);
		return;
	}
	ic_cmd_to_task(&rt->task, m);
	rt->task.itn = &x->itn;
	rt->task.done = rt_done;
	rt->task.tag = m->hdr.tag;
	rt->seq = r->next_seq++;
	rt->nx = x;
	x->refs++;
	x->n_tasks++;
	rt->prev = x->tail;
	if (x->tail)
		x->tail->next = rt;
	else
		x->head = rt;
	x->tail = rt;
	if (x->n_held || nexus_blocked(r, x)) {
		rt->state = RT_HELD;
		x->n_held++;
		r->n_held++;
		return;
	}
	rt_submit(rt);
}

/* ------------------------------------------------------------------ */
/* TMF and NEXUS_END */

static void tmf_finish(struct scsi_tmf *tmf)
{
	struct rm_tmf *rf = container_of(tmf, struct rm_tmf, tmf);
	struct proxy_remote *r = rf->r;
	struct ic_msg m;

	if (rf->reply && rf->epoch == r->epoch) {
		ic_msg_init(&m, IC_TMF_RSP, rf->tag, tmf->lun);
		m.u.tmf_rsp.result = (uint8_t)tmf->result;
		send_ctl(r, &m);
	}
	if (rf->nx)
		nexus_put(r, rf->nx);
	free(tmf->tasks);
	free(rf);
	r->n_tmfs--;
	maybe_free_remote(r);
}

/* Does a TMF reach this (held or running) task? */
static bool tmf_hits(const struct scsi_tmf *tmf, uint64_t ref_tag,
		     const struct rm_nexus *tx, const struct rm_task *rt)
{
	const struct rm_nexus *x = rt->nx;
	bool same_tgt = !strcmp(x->itn.target_name, tmf->itn->target_name);

	switch (tmf->fn) {
	case SCSI_TMF_ABORT_TASK:
		return x == tx && rt->tag == ref_tag;
	case SCSI_TMF_ABORT_TASK_SET:
		return x == tx && rt->task.lun == tmf->lun;
	case SCSI_TMF_CLEAR_TASK_SET:
	case SCSI_TMF_LUN_RESET:
		return same_tgt && rt->task.lun == tmf->lun;
	case SCSI_TMF_TARGET_WARM_RESET:
	case SCSI_TMF_TARGET_COLD_RESET:
		return same_tgt;
	default:
		return false;
	}
}

/* Abort the held tasks a TMF reaches; list the running ones of the
 * requesting nexus for the abort family. */
static int tmf_collect(struct proxy_remote *r, struct rm_tmf *rf,
		       uint64_t ref_tag)
{
	struct scsi_tmf *tmf = &rf->tmf;
	bool listed = tmf->fn == SCSI_TMF_ABORT_TASK ||
		      tmf->fn == SCSI_TMF_ABORT_TASK_SET ||
		      tmf->fn == SCSI_TMF_CLEAR_TASK_SET;
	struct rm_nexus *x;
	struct rm_task *rt, *next;
	unsigned n = 0;

	/* No held task may start while we walk the lists (the release pass
	 * runs after): a synchronous completion could free `next`. */
	for (x = r->nexuses; x; x = x->next) {
		x->refs++;
		for (rt = x->head; rt; rt = next) {
			next = rt->next;
			if (!tmf_hits(tmf, ref_tag, rf->nx, rt))
				continue;
			if (rt->state == RT_HELD) {
				rt_abort_held(rt);
			} else if (listed && x == rf->nx) {
				void *v =
					realloc(tmf->tasks,
						(n + 1) * sizeof(*tmf->tasks));

				if (!v) {
					x->refs--;
					return -ENOMEM;
				}
				tmf->tasks = v;
				tmf->tasks[n++] = &rt->task;
			}
		}
		x->refs--; /* not nexus_put: the walk goes on */
	}
	tmf->n_tasks = n;
	return 0;
}

static void run_tmf(struct proxy_remote *r, struct rm_tmf *rf,
		    struct scsi_dispatcher *d, uint64_t ref_tag)
{
	struct scsi_tmf *tmf = &rf->tmf;

	tmf->itn = &rf->itn;
	tmf->done = tmf_finish;
	tmf->priv = rf;
	r->n_tmfs++;
	if (rf->nx)
		rf->nx->refs++;
	if (tmf_collect(r, rf, ref_tag)) {
		tmf->result = SCSI_TMF_FAILED;
		tmf_finish(tmf);
		return;
	}
	if (!d) {
		tmf->result = SCSI_TMF_NO_LUN;
		tmf_finish(tmf);
		return;
	}
	if (tmf->fn == SCSI_TMF_ABORT_TASK && !tmf->n_tasks) {
		tmf->result = SCSI_TMF_COMPLETE; /* finished already */
		tmf_finish(tmf);
		return;
	}
	dispatch_tmf(r, d, tmf);
}

static void recv_tmf(struct proxy_remote *r, const struct ic_msg *m)
{
	const struct ic_tmf_req *q = &m->u.tmf_req;
	struct rm_tmf *rf = calloc(1, sizeof(*rf));
	struct ic_msg rsp;

	if (!rf) {
		ic_msg_init(&rsp, IC_TMF_RSP, m->hdr.tag, m->hdr.lun);
		rsp.u.tmf_rsp.result = SCSI_TMF_FAILED;
		send_ctl(r, &rsp);
		return;
	}
	rf->r = r;
	rf->tag = m->hdr.tag;
	rf->epoch = r->epoch;
	rf->reply = true;
	rf->tmf.fn = (enum scsi_tmf_fn)q->fn;
	rf->tmf.lun = m->hdr.lun;
	ic_nexus_to_itn(&rf->itn, &q->nexus);
	rf->nx = nexus_find(r, &q->nexus);
	log_info("proxy remote: TMF %u from %s for %s lun %" PRIu64, q->fn,
		 rf->itn.initiator_name, rf->itn.target_name, m->hdr.lun >> 48);
	run_tmf(r, rf, r->lookup(r->lookup_arg, rf->itn.target_name),
		q->ref_tag);
}

/* Walk the lists with the release pass deferred; run it after. */
static bool release_pause(struct proxy_remote *r)
{
	bool was = r->releasing;

	r->releasing = true;
	return was;
}

static void release_resume(struct proxy_remote *r, bool was)
{
	if (was)
		return;
	r->releasing = false;
	if (r->release_again || r->n_held) {
		r->release_again = false;
		release_held(r);
	}
}

static void recv_tmf_guarded(struct proxy_remote *r, const struct ic_msg *m)
{
	bool was = release_pause(r);

	recv_tmf(r, m);
	release_resume(r, was);
}

/* End x: held tasks are aborted at once, running ones through one ABORT
 * TASK SET that lists them all (whatever their LUN). */
static void nexus_abort_all(struct proxy_remote *r, struct rm_nexus *x)
{
	struct rm_task *rt, *next;
	struct rm_tmf *rf;
	bool was = release_pause(r);
	unsigned n = 0;

	x->ended = true;
	x->refs++;
	for (rt = x->head; rt; rt = next) {
		next = rt->next;
		if (rt->state == RT_HELD)
			rt_abort_held(rt);
	}
	rf = x->n_tasks ? calloc(1, sizeof(*rf)) : NULL;
	if (rf)
		rf->tmf.tasks = calloc(x->n_tasks, sizeof(*rf->tmf.tasks));
	if (rf && rf->tmf.tasks && x->disp) {
		rf->r = r;
		rf->nx = x;
		rf->itn = x->itn;
		rf->tmf.fn = SCSI_TMF_ABORT_TASK_SET;
		rf->tmf.lun = x->head->task.lun;
		rf->tmf.itn = &rf->itn;
		rf->tmf.done = tmf_finish;
		rf->tmf.priv = rf;
		for (rt = x->head; rt; rt = rt->next)
			rf->tmf.tasks[n++] = &rt->task;
		rf->tmf.n_tasks = n;
		r->n_tmfs++;
		x->refs++;
		dispatch_tmf(r, x->disp, &rf->tmf);
	} else if (rf) {
		free(rf->tmf.tasks);
		free(rf);
	}
	nexus_put(r, x);
	release_resume(r, was);
}

static void recv_nexus_end(struct proxy_remote *r, const struct ic_msg *m)
{
	const struct ic_nexus_end *e = &m->u.nexus_end;
	struct rm_nexus *x = nexus_find(r, &e->nexus);
	struct ic_msg rsp;

	log_info("proxy remote: NEXUS_END (reason %u) for %s -> %s: %u "
		 "commands outstanding",
		 e->reason, e->nexus.initiator_name, e->nexus.target_name,
		 x ? x->n_tasks : 0);
	if (!x) {
		ic_msg_init(&rsp, IC_NEXUS_END_DONE, m->hdr.tag, 0);
		send_ctl(r, &rsp);
		return;
	}
	x->end_reply = true;
	x->end_tag = m->hdr.tag;
	x->end_epoch = r->epoch;
	nexus_abort_all(r, x);
}

void proxy_remote_recv(struct proxy_remote *r, const struct ic_msg *m,
		       uint8_t *data, uint32_t data_len)
{
	if (r->freeing)
		return;
	switch (m->hdr.type) {
	case IC_SCSI_CMD:
		recv_cmd(r, m, data, data_len);
		break;
	case IC_TMF_REQ:
		recv_tmf_guarded(r, m);
		break;
	case IC_NEXUS_END:
		recv_nexus_end(r, m);
		break;
	case IC_ERROR:
		log_warn("proxy remote: the proxy node refused our %s tag "
			 "0x%016" PRIx64 ": %s",
			 ic_type_name(m->u.error.bad_type), m->hdr.tag,
			 m->u.error.reason);
		break;
	default:
		break;
	}
}

/* ------------------------------------------------------------------ */
/* Link down, ordering hook, life cycle */

void proxy_remote_link_down(struct proxy_remote *r)
{
	struct rm_nexus *x, *next;
	struct rm_task *rt;
	unsigned n = r->n_tasks;

	r->st.aborted_link += n;
	r->epoch++;
	if (r->rx) {
		rt_free(r->rx);
		r->rx = NULL;
	}
	while ((rt = r->rq_head)) {
		r->rq_head = rt->qnext;
		rt_free(rt);
	}
	r->rq_tail = &r->rq_head;
	for (x = r->nexuses; x; x = next) {
		next = x->next;
		x->end_reply = false;
		if (!x->ended)
			nexus_abort_all(r, x); /* may free x */
	}
	if (n)
		log_warn("proxy remote: interconnect down: %u proxied commands "
			 "aborted or finishing without an answer",
			 n);
}

static bool group_busy(const struct proxy_remote *r, const char *initiator,
		       const char *target, uint64_t barrier)
{
	for (const struct rm_nexus *x = r->nexuses; x; x = x->next) {
		if (x->head && x->head->seq < barrier &&
		    !strcmp(x->itn.initiator_name, initiator) &&
		    !strcmp(x->itn.target_name, target))
			return true;
	}
	return false;
}

bool proxy_remote_busy(const struct proxy_remote *r, const char *initiator,
		       const char *target)
{
	return group_busy(r, initiator, target, UINT64_MAX);
}

int proxy_remote_wait(struct proxy_remote *r, const char *initiator,
		      const char *target, struct proxy_remote_waiter *w,
		      void (*cb)(void *arg), void *arg)
{
	if (!group_busy(r, initiator, target, UINT64_MAX))
		return 0;
	snprintf(w->initiator, sizeof(w->initiator), "%s", initiator);
	snprintf(w->target, sizeof(w->target), "%s", target);
	w->barrier = r->next_seq;
	w->cb = cb;
	w->arg = arg;
	w->next = r->waiters;
	r->waiters = w;
	return 1;
}

void proxy_remote_wait_cancel(struct proxy_remote *r,
			      struct proxy_remote_waiter *w)
{
	for (struct proxy_remote_waiter **pp = &r->waiters; *pp;
	     pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			return;
		}
	}
}

static void waiters_check(struct proxy_remote *r)
{
	struct proxy_remote_waiter **pp = &r->waiters, *w;

	while ((w = *pp)) {
		if (group_busy(r, w->initiator, w->target, w->barrier)) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		w->cb(w->arg);
		pp = &r->waiters; /* cb may have changed the list */
	}
}

int proxy_remote_new(const struct proxy_remote_cfg *cfg,
		     struct proxy_remote **out)
{
	struct proxy_remote *r;

	if (!cfg->link || !cfg->lookup)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->link = cfg->link;
	r->lookup = cfg->lookup;
	r->lookup_arg = cfg->lookup_arg;
	r->local_busy = cfg->local_busy;
	r->local_busy_arg = cfg->local_busy_arg;
	r->max_nexus = cfg->max_nexus ? cfg->max_nexus : 256;
	r->max_tasks = cfg->max_tasks ? cfg->max_tasks : 4096;
	r->max_bytes = cfg->max_bytes ? cfg->max_bytes : 512ull << 20;
	r->rq_tail = &r->rq_head;
	*out = r;
	return 0;
}

void proxy_remote_kick(struct proxy_remote *r)
{
	if (r->n_held)
		release_held(r);
}

bool proxy_remote_idle(const struct proxy_remote *r)
{
	return !r->n_tasks && !r->n_tmfs;
}

static void maybe_free_remote(struct proxy_remote *r)
{
	struct rm_nexus *x;

	if (!r->freeing || r->n_tasks || r->n_tmfs)
		return;
	while ((x = r->nexuses)) {
		r->nexuses = x->next;
		free(x);
	}
	pool_drain(r);
	free(r);
}

void proxy_remote_free(struct proxy_remote *r)
{
	if (!r)
		return;
	proxy_remote_link_down(r);
	r->waiters = NULL;
	r->freeing = true;
	maybe_free_remote(r);
}

void proxy_remote_get_stats(const struct proxy_remote *r,
			    struct proxy_remote_stats *st)
{
	*st = r->st;
	st->tasks = r->n_tasks;
	st->held = r->n_held;
	st->nexuses = r->n_nexus;
}
