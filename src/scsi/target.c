// SPDX-License-Identifier: Apache-2.0
/*
 * The local SCSI target: a struct scsi_dispatcher. Task lifecycle (submit,
 * ordering, execution, completion), LUN addressing, unit attention checks
 * and the executor side of task management.
 *
 * Choices worth knowing:
 *  - Every task of an existing LU sits on the LU's list in arrival order
 *    from submit to done. SIMPLE tasks start at once; an ORDERED task
 *    starts when it is alone on the list and holds back every later
 *    non-HEAD OF QUEUE task; HEAD OF QUEUE starts at once.
 *  - An aborted task that still has backing I/O in flight is only marked;
 *    it completes (aborted=true) when the I/O returns, so the transport's
 *    buffer is never released while a worker uses it. A TMF completes
 *    after every task it aborted has completed.
 *  - CLEAR TASK SET aborts the tasks of every nexus on the LU (TST=000)
 *    and gives the other nexuses whose tasks went UA 2F/00; LOGICAL UNIT
 *    RESET gives 29/03 and TARGET WARM/COLD RESET 29/02 / 29/01 to every
 *    nexus except the requester's.
 *  - ABORT TASK reports FUNCTION COMPLETE even when the task is no longer
 *    here: the transport decides about "task does not exist" from its own
 *    RefCmdSN bookkeeping before calling.
 *  - nexus_end forgets the nexus's state (pending UAs): a new nexus with
 *    the same identity starts with 29/00, as a first access does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duet/log.h"
#include "duet/util.h"
#include "scsi_int.h"

uint64_t scsi_lun_encode(uint32_t id)
{
	if (id < 256)
		return (uint64_t)id << 48; /* peripheral device addressing */
	return (uint64_t)(0x4000u | (id & 0x3fff)) << 48; /* flat space */
}

int scsi_lun_decode(uint64_t wire, uint32_t *id)
{
	unsigned method = (unsigned)(wire >> 62);
	uint16_t first = (uint16_t)(wire >> 48);

	/* Only the first level: the other six bytes must be zero. */
	if (wire & 0x0000ffffffffffffull)
		return -EINVAL;
	if (method == 0) {
		if (first & 0x3f00) /* bus identifier must be 0 */
			return -EINVAL;
		*id = first & 0xff;
		return 0;
	}
	if (method == 1) {
		*id = first & 0x3fff;
		return 0;
	}
	return -EINVAL;
}

const struct scsi_lu *scsi_target_lu_at(const struct scsi_target *t, size_t i)
{
	return i < t->n_lus ? t->lus[i] : NULL;
}

static struct scsi_lu *find_lu(struct scsi_target *t, uint64_t wire)
{
	uint32_t id;

	if (scsi_lun_decode(wire, &id))
		return NULL;
	for (size_t i = 0; i < t->n_lus; i++)
		if (t->lus[i]->id == id)
			return t->lus[i];
	return NULL;
}

/* ---- sense helpers ---- */

bool scsi_cmd_desc_sense(const struct scsi_cmd *c)
{
	return c->lu && c->lu->d_sense;
}

void scsi_cmd_sense(struct scsi_cmd *c, uint8_t key, uint16_t asc)
{
	scsi_sense_set_simple(c->task, scsi_cmd_desc_sense(c), key, asc);
}

static void invalid_field(struct scsi_cmd *c, bool cdb, uint16_t byte, int bit)
{
	struct scsi_sense s = {
		.key = SCSI_SK_ILLEGAL_REQUEST,
		.asc = cdb ? SCSI_ASC_INVALID_FIELD_IN_CDB
			   : SCSI_ASC_INVALID_FIELD_IN_PARAM_LIST,
	};

	scsi_sense_field_pointer(&s, cdb, byte, bit);
	scsi_sense_set(c->task, scsi_cmd_desc_sense(c), &s);
}

void scsi_cmd_invalid_cdb(struct scsi_cmd *c, uint16_t byte, int bit)
{
	invalid_field(c, true, byte, bit);
}

void scsi_cmd_invalid_param(struct scsi_cmd *c, uint16_t byte, int bit)
{
	invalid_field(c, false, byte, bit);
}

void scsi_cmd_data_in(struct scsi_cmd *c, const uint8_t *d, uint32_t len,
		      uint32_t alloc_len)
{
	struct scsi_task *t = c->task;
	uint32_t n = MIN(len, alloc_len);

	t->xfer_len = n;
	n = MIN(n, t->buf_cap);
	if (n && t->buf)
		memcpy(t->buf, d, n);
	t->data_len = t->buf ? n : 0;
}

/* ---- executor state free list ---- */

static struct scsi_cmd *cmd_get(struct scsi_target *t)
{
	struct scsi_cmd *c = t->free_cmds;

	if (c) {
		t->free_cmds = c->free_next;
		t->n_free--;
	} else {
		c = malloc(sizeof(*c));
		if (!c)
			return NULL;
	}
	memset(c, 0, offsetof(struct scsi_cmd, io));
	c->cmp_buf = NULL;
	c->cmp_len = 0;
	c->bytchk = 0;
	c->tgt = t;
	return c;
}

int scsi_cmd_bounce_alloc(struct scsi_cmd *c, uint64_t len)
{
	struct scsi_target *t = c->tgt;
	void *p;

	if (len > SCSI_BOUNCE_MAX - t->bounce_bytes)
		return -ENOMEM;
	if (posix_memalign(&p, DUET_BUF_ALIGN, len ? len : 1))
		return -ENOMEM;
	c->cmp_buf = p;
	c->cmp_len = len;
	t->bounce_bytes += len;
	return 0;
}

static void cmd_put(struct scsi_target *t, struct scsi_cmd *c)
{
	if (c->cmp_buf) {
		free(c->cmp_buf);
		t->bounce_bytes -= c->cmp_len;
		c->cmp_buf = NULL;
		c->cmp_len = 0;
	}
	if (t->n_free >= 4096) {
		free(c);
		return;
	}
	c->free_next = t->free_cmds;
	t->free_cmds = c;
	t->n_free++;
}

/* ---- LU task list ---- */

static void lu_link(struct scsi_lu *lu, struct scsi_task *task)
{
	task->exec_next = NULL;
	task->exec_prev = lu->tail;
	if (lu->tail)
		lu->tail->exec_next = task;
	else
		lu->head = task;
	lu->tail = task;
	lu->n_tasks++;
}

static void lu_unlink(struct scsi_lu *lu, struct scsi_task *task)
{
	if (task->exec_prev)
		task->exec_prev->exec_next = task->exec_next;
	else
		lu->head = task->exec_next;
	if (task->exec_next)
		task->exec_next->exec_prev = task->exec_prev;
	else
		lu->tail = task->exec_prev;
	task->exec_next = task->exec_prev = NULL;
	lu->n_tasks--;
}

static void lu_kick(struct scsi_lu *lu);

static void tmf_release(struct scsi_tmf *tmf)
{
	if (--tmf->pending == 0)
		tmf->done(tmf);
}

void scsi_cmd_complete(struct scsi_cmd *c)
{
	struct scsi_task *task = c->task;
	struct scsi_lu *lu = c->lu;
	struct scsi_target *t = c->tgt;
	struct scsi_tmf_wait *w = c->waiters;

	if (c->aborted)
		task->aborted = true;
	if (lu) {
		lu_unlink(lu, task);
		if (c->ordered)
			lu->n_ordered--;
		if (c->state == SCSI_CMD_WAITING)
			lu->n_waiting--;
		scsi_lu_nexus_put(lu, c->nx);
	}
	t->inflight--;
	task->exec_priv = NULL;
	cmd_put(t, c);
	task->done(task);
	while (w) {
		struct scsi_tmf_wait *next = w->next;

		tmf_release(w->tmf);
		free(w);
		w = next;
	}
	if (lu && lu->n_waiting)
		lu_kick(lu);
}

/* ---- execution ---- */

static bool check_ua(struct scsi_cmd *c)
{
	uint16_t asc;

	if (!c->nx || (c->op->flags & SCSI_OPF_UA_OK))
		return false;
	asc = scsi_nexus_ua_pop(c->nx);
	if (!asc)
		return false;
	scsi_cmd_sense(c, SCSI_SK_UNIT_ATTENTION, asc);
	return true;
}

/* The transport's R/W flags against what the command does. Returns true
 * when the command is finished here. */
static bool check_direction(struct scsi_cmd *c)
{
	enum scsi_data_dir d = c->task->dir;

	/* Data-in command flagged as a write: no data-in can be carried;
	 * complete with GOOD and nothing transferred (what libiscsi's
	 * iscsi-test-cu expects), without touching the medium. */
	if ((c->op->flags & SCSI_OPF_DATA_IN) && d == SCSI_DIR_WRITE)
		return true;
	/* Data-out command flagged as a read: no data arrived. */
	if ((c->op->flags & SCSI_OPF_DATA_OUT) && d == SCSI_DIR_READ) {
		scsi_cmd_sense(c, SCSI_SK_ILLEGAL_REQUEST,
			       SCSI_ASC_INVALID_FIELD_IN_CMD_IU);
		return true;
	}
	return false;
}

/* Runs the command; returns SCSI_CMD_DONE or SCSI_CMD_ASYNC. */
static int cmd_exec(struct scsi_cmd *c)
{
	if (check_ua(c))
		return SCSI_CMD_DONE;
	if (check_direction(c))
		return SCSI_CMD_DONE;
	if ((c->op->flags & SCSI_OPF_WRITE) && c->lu && c->lu->readonly) {
		scsi_cmd_sense(c, SCSI_SK_DATA_PROTECT,
			       SCSI_ASC_WRITE_PROTECTED);
		return SCSI_CMD_DONE;
	}
	return c->op->handler(c);
}

static void cmd_start(struct scsi_cmd *c)
{
	c->state = SCSI_CMD_RUNNING;
	if (cmd_exec(c) == SCSI_CMD_DONE)
		scsi_cmd_complete(c);
}

/* Can a waiting task start? ORDERED: nothing earlier in the task set.
 * SIMPLE: no ORDERED task earlier. */
static struct scsi_cmd *lu_next_startable(struct scsi_lu *lu)
{
	bool earlier = false, ordered_earlier = false;

	for (struct scsi_task *t = lu->head; t; t = t->exec_next) {
		struct scsi_cmd *c = t->exec_priv;

		if (c->state == SCSI_CMD_WAITING && !c->aborted) {
			if (c->ordered ? !earlier : !ordered_earlier)
				return c;
		}
		earlier = true;
		if (c->ordered)
			ordered_earlier = true;
	}
	return NULL;
}

static void lu_kick(struct scsi_lu *lu)
{
	struct scsi_cmd *c;

	if (lu->kicking) {
		lu->kick_again = true;
		return;
	}
	lu->kicking = true;
	do {
		lu->kick_again = false;
		while (lu->n_waiting && (c = lu_next_startable(lu))) {
			lu->n_waiting--;
			cmd_start(c);
		}
	} while (lu->kick_again);
	lu->kicking = false;
}

/* Errors found before the task reaches the LU queue. */
static bool precheck(struct scsi_cmd *c)
{
	struct scsi_task *task = c->task;
	bool sa_unknown = false;

	c->op = scsi_op_lookup(task->cdb[0], task->cdb[1] & 0x1f, &sa_unknown);
	if (!c->op) {
		if (!c->lu && task->cdb[0] != SCSI_OP_REQUEST_SENSE)
			scsi_cmd_sense(c, SCSI_SK_ILLEGAL_REQUEST,
				       SCSI_ASC_LUN_NOT_SUPPORTED);
		else if (sa_unknown)
			scsi_cmd_invalid_cdb(c, 1, 4);
		else
			scsi_cmd_sense(c, SCSI_SK_ILLEGAL_REQUEST,
				       SCSI_ASC_INVALID_OPCODE);
		return true;
	}
	if (!c->lu && !(c->op->flags & SCSI_OPF_NO_LUN_OK)) {
		scsi_cmd_sense(c, SCSI_SK_ILLEGAL_REQUEST,
			       SCSI_ASC_LUN_NOT_SUPPORTED);
		return true;
	}
	if (task->cdb_len < c->op->cdb_len) {
		scsi_cmd_sense(c, SCSI_SK_ILLEGAL_REQUEST,
			       SCSI_ASC_INVALID_FIELD_IN_CDB);
		return true;
	}
	return scsi_op_check_cdb(c) != 0;
}

static void task_reset_out(struct scsi_task *task)
{
	task->status = SCSI_STATUS_GOOD;
	task->sense_len = 0;
	task->xfer_len = 0;
	task->data_len = 0;
	task->aborted = false;
	task->exec_next = task->exec_prev = NULL;
}

static bool lu_may_start(struct scsi_lu *lu, struct scsi_cmd *c)
{
	enum scsi_task_attr a = c->task->attr;

	if (a == SCSI_ATTR_HEAD_OF_QUEUE)
		return true;
	if (a == SCSI_ATTR_ORDERED)
		return lu->n_tasks == 1;
	return lu->n_ordered == 0;
}

static void target_submit(struct scsi_dispatcher *d, struct scsi_task *task)
{
	struct scsi_target *t = container_of(d, struct scsi_target, disp);
	struct scsi_cmd *c;

	task_reset_out(task);
	c = cmd_get(t);
	if (!c) {
		task->status = SCSI_STATUS_BUSY;
		task->done(task);
		return;
	}
	c->task = task;
	c->lu = find_lu(t, task->lun);
	task->exec_priv = c;
	t->inflight++;
	if (c->lu) {
		c->nx = scsi_lu_nexus_get(c->lu, task->itn);
		lu_link(c->lu, task);
		c->ordered = task->attr == SCSI_ATTR_ORDERED;
		if (c->ordered)
			c->lu->n_ordered++;
	}
	if (precheck(c)) {
		c->state = SCSI_CMD_RUNNING;
		scsi_cmd_complete(c);
		return;
	}
	if (!c->lu || lu_may_start(c->lu, c)) {
		cmd_start(c);
		return;
	}
	c->state = SCSI_CMD_WAITING;
	c->lu->n_waiting++;
}

/* ---- task management ---- */

/* Abort one task: complete it now if it has not started, else mark it;
 * its backing I/O completion finishes it and releases the TMF. */
static void abort_cmd(struct scsi_cmd *c, struct scsi_tmf *tmf)
{
	struct scsi_tmf_wait *w;

	if (c->aborted && c->state == SCSI_CMD_WAITING)
		return;
	c->aborted = true;
	if (c->state == SCSI_CMD_WAITING) {
		scsi_cmd_complete(c);
		return;
	}
	w = malloc(sizeof(*w));
	if (!w)
		return; /* still aborted; TMF just does not wait for it */
	w->tmf = tmf;
	w->next = c->waiters;
	c->waiters = w;
	tmf->pending++;
}

/* Abort every task on the LU (all nexuses). Returns how many tasks of
 * nexuses other than `itn` were aborted via *others. */
static void abort_lu(struct scsi_lu *lu, struct scsi_tmf *tmf,
		     const struct scsi_itn *itn, uint16_t ua_others)
{
	unsigned n = lu->n_tasks, i = 0;
	struct scsi_cmd **v;

	lu->kicking = true; /* no new starts while we walk */
	v = n ? calloc(n, sizeof(*v)) : NULL;
	for (struct scsi_task *t = lu->head; t && v; t = t->exec_next)
		v[i++] = t->exec_priv;
	for (unsigned k = 0; k < i; k++) {
		if (ua_others == SCSI_ASC_COMMANDS_CLEARED_BY_ANOTHER &&
		    v[k]->nx && itn && !scsi_nexus_match(v[k]->nx, itn))
			scsi_nexus_ua_add(v[k]->nx, ua_others);
		abort_cmd(v[k], tmf);
	}
	free(v);
	/* A reset (SAM-5 6.3: logical unit reset, hard reset) sets its unit
	 * attention for every I_T nexus, the issuer's included, and puts
	 * the mode parameters back to their defaults (SPC-4). */
	if (ua_others && ua_others != SCSI_ASC_COMMANDS_CLEARED_BY_ANOTHER) {
		scsi_lu_ua_others(lu, NULL, ua_others);
		scsi_lu_mode_defaults(lu);
	}
	lu->kicking = false;
	if (lu->n_waiting)
		lu_kick(lu);
}

static void tmf_abort_listed(struct scsi_target *t, struct scsi_tmf *tmf)
{
	for (unsigned i = 0; i < tmf->n_tasks; i++) {
		struct scsi_task *task = tmf->tasks[i];
		struct scsi_cmd *c = task ? task->exec_priv : NULL;

		if (c && c->tgt == t && c->task == task)
			abort_cmd(c, tmf);
	}
}

static void target_tmf(struct scsi_dispatcher *d, struct scsi_tmf *tmf)
{
	struct scsi_target *t = container_of(d, struct scsi_target, disp);
	struct scsi_lu *lu = find_lu(t, tmf->lun);
	uint16_t ua = tmf->fn == SCSI_TMF_TARGET_COLD_RESET
			      ? SCSI_ASC_POWER_ON_OCCURRED
			      : SCSI_ASC_SCSI_BUS_RESET;

	tmf->result = SCSI_TMF_COMPLETE;
	tmf->pending = 1;
	switch (tmf->fn) {
	case SCSI_TMF_ABORT_TASK:
	case SCSI_TMF_ABORT_TASK_SET:
		tmf_abort_listed(t, tmf);
		if (!lu && tmf->fn == SCSI_TMF_ABORT_TASK_SET)
			tmf->result = SCSI_TMF_NO_LUN;
		break;
	case SCSI_TMF_CLEAR_TASK_SET:
		tmf_abort_listed(t, tmf);
		if (lu)
			abort_lu(lu, tmf, tmf->itn,
				 SCSI_ASC_COMMANDS_CLEARED_BY_ANOTHER);
		else
			tmf->result = SCSI_TMF_NO_LUN;
		break;
	case SCSI_TMF_LUN_RESET:
		if (lu) {
			log_info("target %s lun %u: LOGICAL UNIT RESET",
				 t->name, lu->id);
			abort_lu(lu, tmf, tmf->itn, SCSI_ASC_BUS_DEVICE_RESET);
		} else {
			tmf->result = SCSI_TMF_NO_LUN;
		}
		break;
	case SCSI_TMF_TARGET_WARM_RESET:
	case SCSI_TMF_TARGET_COLD_RESET:
		log_info("target %s: TARGET %s RESET", t->name,
			 tmf->fn == SCSI_TMF_TARGET_COLD_RESET ? "COLD"
							       : "WARM");
		for (size_t i = 0; i < t->n_lus; i++)
			abort_lu(t->lus[i], tmf, tmf->itn, ua);
		break;
	default:
		tmf->result = SCSI_TMF_NOT_SUPPORTED;
		break;
	}
	tmf_release(tmf);
}

static void target_nexus_end(struct scsi_dispatcher *d,
			     const struct scsi_itn *itn)
{
	struct scsi_target *t = container_of(d, struct scsi_target, disp);

	for (size_t i = 0; i < t->n_lus; i++)
		scsi_lu_nexus_forget(t->lus[i], itn);
}

static const struct scsi_dispatch_ops target_ops = {
	.submit = target_submit,
	.tmf = target_tmf,
	.nexus_end = target_nexus_end,
};

/* ---- public API ---- */

struct scsi_target *scsi_target_new(const char *name)
{
	struct scsi_target *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->name = strdup(name ? name : "");
	if (!t->name) {
		free(t);
		return NULL;
	}
	t->disp.ops = &target_ops;
	return t;
}

static int check_new_lun(struct scsi_target *t, const struct cfg_lun *cfg,
			 char *err, size_t errlen)
{
	if (cfg->id > SCSI_LUN_ID_MAX) {
		snprintf(err, errlen, "LUN %u: id above %u", cfg->id,
			 SCSI_LUN_ID_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < t->n_lus; i++) {
		if (t->lus[i]->id == cfg->id) {
			snprintf(err, errlen, "LUN %u defined twice", cfg->id);
			return -EEXIST;
		}
	}
	if (t->n_lus == t->cap_lus) {
		size_t cap = t->cap_lus ? t->cap_lus * 2 : 4;
		struct scsi_lu **v = realloc(t->lus, cap * sizeof(*v));

		if (!v) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		t->lus = v;
		t->cap_lus = cap;
	}
	return 0;
}

int scsi_target_add_lun(struct scsi_target *t, const struct cfg_lun *cfg,
			char *err, size_t errlen)
{
	struct bs_open_params p = {
		.path = cfg->path,
		.size = cfg->size,
		.create = true,
		.readonly = cfg->readonly,
		.write_back = cfg->write_back,
	};
	struct bs_dev *bs;
	struct scsi_lu *lu;
	int rc = check_new_lun(t, cfg, err, errlen);

	if (rc)
		return rc;
	rc = bs_open(&p, &bs, err, errlen);
	if (rc)
		return rc;
	lu = scsi_lu_new(t, cfg, bs);
	if (!lu) {
		bs_close(bs);
		snprintf(err, errlen, "LUN %u (%s): out of memory", cfg->id,
			 cfg->path);
		return -ENOMEM;
	}
	if (lu->nblocks == 0) {
		snprintf(err, errlen, "LUN %u (%s): size below one block",
			 cfg->id, cfg->path);
		scsi_lu_free(lu);
		return -EINVAL;
	}
	t->lus[t->n_lus++] = lu;
	log_info("target %s lun %u: %s, %llu blocks of %u bytes%s", t->name,
		 lu->id, cfg->path, (unsigned long long)lu->nblocks,
		 lu->block_size, lu->readonly ? ", read-only" : "");
	return 0;
}

struct scsi_dispatcher *scsi_target_dispatcher(struct scsi_target *t)
{
	return &t->disp;
}

unsigned scsi_target_inflight(const struct scsi_target *t)
{
	return t->inflight;
}

unsigned scsi_target_nexus_inflight(const struct scsi_target *t,
				    const struct scsi_itn *itn)
{
	unsigned n = 0;

	for (size_t i = 0; i < t->n_lus; i++) {
		struct scsi_lu *lu = t->lus[i];

		for (struct scsi_task *k = lu->head; k; k = k->exec_next) {
			struct scsi_cmd *c = k->exec_priv;

			if (c->nx && scsi_nexus_match(c->nx, itn))
				n++;
		}
	}
	return n;
}

void scsi_target_free(struct scsi_target *t)
{
	if (!t)
		return;
	if (t->inflight)
		log_err("target %s: freed with %u tasks in flight", t->name,
			t->inflight);
	for (size_t i = 0; i < t->n_lus; i++)
		scsi_lu_free(t->lus[i]);
	while (t->free_cmds) {
		struct scsi_cmd *c = t->free_cmds;

		t->free_cmds = c->free_next;
		free(c);
	}
	free(t->lus);
	free(t->name);
	free(t);
}
