// SPDX-License-Identifier: Apache-2.0
/*
 * Full feature phase PDUs other than SCSI Command / Data-Out: NOP-Out,
 * Task Management, Text, Logout; NOP-In pings; aborting a connection's
 * tasks when it goes away.
 *
 * Non-immediate PDUs of these kinds consume a CmdSN: outside the window
 * they are dropped; at ExpCmdSN they advance it; ahead of it (within the
 * window) they are processed at once without advancing ExpCmdSN (only SCSI
 * commands are held for their turn).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "duet/log.h"
#include "iscsi_int.h"

#define TMF_TASK_REASSIGN 8
#define TMF_RSP_REASSIGN_UNSUPPORTED 4

struct tmf_req {
	struct scsi_tmf tmf;
	struct iscsi_conn *conn;
	uint32_t itt;
	bool respond, cold;
	struct scsi_task *tasks[];
};

/* Returns false when the PDU must be ignored (CmdSN outside the window). */
static bool ffp_cmdsn(struct iscsi_conn *c)
{
	uint32_t cmdsn = get_be32(c->bhs + ISCSI_BHS_CMDSN);
	int r;

	c->exp_statsn = get_be32(c->bhs + ISCSI_BHS_EXPSTATSN);
	if (iscsi_bhs_immediate(c->bhs) || !c->sess)
		return true;
	r = iscsi_session_cmdsn_check(c->sess, cmdsn);
	if (r < 0) {
		log_debug("%s: opcode 0x%02x with CmdSN 0x%08x outside the "
			  "window: dropped",
			  iscsi_conn_name(c), iscsi_bhs_opcode(c->bhs), cmdsn);
		return false;
	}
	if (r == 0)
		iscsi_session_advance(c->sess);
	return true;
}

static void nop_out(struct iscsi_conn *c, const uint8_t *data)
{
	uint32_t itt = get_be32(c->bhs + ISCSI_BHS_ITT);
	uint32_t ttt = get_be32(c->bhs + ISCSI_BHS_TTT);
	struct tx_pdu *p;

	if (ttt != ISCSI_RESERVED_TAG) {
		c->ping_outstanding = false; /* answer to our NOP-In */
		return;
	}
	if (itt == ISCSI_RESERVED_TAG)
		return; /* no response wanted */
	p = iscsi_tx_alloc();
	if (!p) {
		iscsi_conn_close(c, "out of memory");
		return;
	}
	iscsi_build_nop_in(p->bhs, itt, ISCSI_RESERVED_TAG,
			   get_be64(c->bhs + ISCSI_BHS_LUN), 0, 0);
	if (c->dlen && data) {
		p->owned = malloc(c->dlen);
		if (!p->owned) {
			iscsi_tx_release(p);
			iscsi_conn_close(c, "out of memory");
			return;
		}
		memcpy(p->owned, data, c->dlen);
		p->data = p->owned;
		p->dlen = c->dlen;
		iscsi_bhs_set_dlen(p->bhs, c->dlen);
	}
	iscsi_tx_queue_status(c, p);
}

void iscsi_conn_nop_ping(struct iscsi_conn *c)
{
	struct tx_pdu *p = iscsi_tx_alloc();

	if (!p)
		return;
	if (++c->nop_ttt == ISCSI_RESERVED_TAG)
		c->nop_ttt = 1;
	/* ITT reserved: StatSN is not advanced by this PDU */
	iscsi_build_nop_in(p->bhs, ISCSI_RESERVED_TAG, c->nop_ttt, 0, c->statsn,
			   0);
	iscsi_tx_queue(c, p);
}

/* ---- task management ---- */

static void tmf_respond(struct iscsi_conn *c, uint32_t itt, uint8_t response,
			bool close_after)
{
	struct tx_pdu *p = iscsi_tx_alloc();

	if (!p) {
		iscsi_conn_close(c, "out of memory");
		return;
	}
	iscsi_build_tmf_rsp(p->bhs, itt, 0, response);
	p->close_after = close_after;
	iscsi_tx_queue_status(c, p);
}

static void tmf_done_cb(struct scsi_tmf *tmf)
{
	struct tmf_req *r = tmf->priv;
	struct iscsi_conn *c = r->conn;

	c->tmf_pending--;
	iscsi_port_check_drained(c->port);
	if (r->respond && c->state == CONN_FFP) {
		log_info("%s: task management function %d done: response %d",
			 iscsi_conn_name(c), tmf->fn, tmf->result);
		tmf_respond(c, r->itt, (uint8_t)tmf->result, r->cold);
		if (r->cold) {
			/* no more input: like every close-after-response
			 * path (else the receive loop spins on a header it
			 * may no longer act on) */
			c->rx_stopped = true;
			if (c->ev_read)
				event_del(c->ev_read);
			c->closing_after_tx = true;
			c->t_close = time(NULL);
		}
	}
	/* cold reset: every other connection now, this one once the
	 * response is written (close_after) */
	if (r->cold)
		iscsi_session_end_all("TARGET COLD RESET", c);
	free(r);
	iscsi_conn_check_logout(c);
	iscsi_conn_maybe_free(c);
}

static struct tmf_req *tmf_new(struct iscsi_conn *c, enum scsi_tmf_fn fn,
			       uint64_t lun, unsigned max_tasks)
{
	struct tmf_req *r =
		calloc(1, sizeof(*r) + max_tasks * sizeof(struct scsi_task *));

	if (!r)
		return NULL;
	r->conn = c;
	r->tmf.fn = fn;
	r->tmf.itn = &c->sess->itn;
	r->tmf.lun = lun;
	r->tmf.tasks = r->tasks;
	r->tmf.done = tmf_done_cb;
	r->tmf.priv = r;
	return r;
}

/* Collect the tasks a TMF affects: ours still collecting data are
 * terminated here; those at the dispatcher go into r->tasks. */
static void tmf_collect(struct iscsi_conn *c, struct tmf_req *r, bool all_luns,
			uint64_t lun)
{
	struct iscsi_task *t, *nx;

	for (t = c->tasks; t; t = nx) {
		nx = t->next;
		if (!all_luns && t->st.lun != lun)
			continue;
		if (t->state == T_DATA)
			iscsi_task_terminate(t);
		else if (t->state == T_SCSI && r)
			r->tasks[r->tmf.n_tasks++] = &t->st;
	}
}

static uint8_t abort_task_missing(struct iscsi_conn *c, uint32_t refcmdsn,
				  uint32_t cmdsn)
{
	/* RFC 7143 11.5.1: a command not received yet but within the window
	 * and older than this TMF is considered received: "complete". */
	if (sn_le(c->sess->exp_cmdsn, refcmdsn) && sn_lt(refcmdsn, cmdsn))
		return SCSI_TMF_COMPLETE;
	return SCSI_TMF_NO_TASK;
}

static void tmf_abort_task(struct iscsi_conn *c, uint32_t itt)
{
	uint32_t rtt = get_be32(c->bhs + ISCSI_BHS_TTT);
	struct iscsi_task *t = iscsi_task_find(c, rtt);
	struct tmf_req *r;

	if (!t) {
		tmf_respond(c, itt,
			    abort_task_missing(c, get_be32(c->bhs + 32),
					       get_be32(c->bhs + 24)),
			    false);
		return;
	}
	if (t->state != T_SCSI) {
		if (t->state == T_DATA)
			iscsi_task_terminate(t);
		tmf_respond(c, itt, SCSI_TMF_COMPLETE, false);
		return;
	}
	r = tmf_new(c, SCSI_TMF_ABORT_TASK, t->st.lun, 1);
	if (!r) {
		iscsi_conn_close(c, "out of memory");
		return;
	}
	r->itt = itt;
	r->respond = true;
	r->tasks[0] = &t->st;
	r->tmf.n_tasks = 1;
	c->tmf_pending++;
	scsi_dispatch_tmf(c->sess->target->disp, &r->tmf);
}

static void tmf_dispatch(struct iscsi_conn *c, uint32_t itt,
			 enum scsi_tmf_fn fn, uint64_t lun)
{
	bool all = fn == SCSI_TMF_TARGET_WARM_RESET ||
		   fn == SCSI_TMF_TARGET_COLD_RESET;
	bool list =
		fn == SCSI_TMF_ABORT_TASK_SET || fn == SCSI_TMF_CLEAR_TASK_SET;
	struct tmf_req *r = tmf_new(c, fn, lun, list ? c->n_tasks : 0);
	unsigned others = 0;

	if (!r) {
		iscsi_conn_close(c, "out of memory");
		return;
	}
	r->itt = itt;
	r->respond = true;
	r->cold = fn == SCSI_TMF_TARGET_COLD_RESET;

	tmf_collect(c, list ? r : NULL, all, lun);
	/* Resets and CLEAR TASK SET end every nexus's tasks on the LU, also
	 * those another session is still sending Data-Out for: they must not
	 * reach the LU after the reset. */
	if (fn != SCSI_TMF_ABORT_TASK_SET)
		others = iscsi_session_terminate_data_tasks(c->sess->target,
							    all, lun, c);
	log_info("%s: task management function %d on LUN 0x%016llx%s",
		 iscsi_conn_name(c), fn, (unsigned long long)lun,
		 others ? " (also ended other sessions' tasks still "
			  "receiving Data-Out)"
			: "");
	c->tmf_pending++;
	scsi_dispatch_tmf(c->sess->target->disp, &r->tmf);
}

static void tmf_req(struct iscsi_conn *c)
{
	uint8_t fn = c->bhs[1] & 0x7f;
	uint32_t itt = get_be32(c->bhs + ISCSI_BHS_ITT);
	uint64_t lun = get_be64(c->bhs + ISCSI_BHS_LUN);

	if (!c->sess->target) {
		iscsi_send_reject(c, ISCSI_REJECT_PROTOCOL_ERROR, c->bhs,
				  false);
		return;
	}
	switch (fn) {
	case SCSI_TMF_ABORT_TASK:
		tmf_abort_task(c, itt);
		break;
	case SCSI_TMF_ABORT_TASK_SET:
	case SCSI_TMF_CLEAR_TASK_SET:
	case SCSI_TMF_LUN_RESET:
	case SCSI_TMF_TARGET_WARM_RESET:
	case SCSI_TMF_TARGET_COLD_RESET:
		tmf_dispatch(c, itt, (enum scsi_tmf_fn)fn, lun);
		break;
	case TMF_TASK_REASSIGN:
		tmf_respond(c, itt, TMF_RSP_REASSIGN_UNSUPPORTED, false);
		break;
	default: /* CLEAR ACA and unknown functions */
		tmf_respond(c, itt, SCSI_TMF_NOT_SUPPORTED, false);
		break;
	}
}

static void abort_done_cb(struct scsi_tmf *tmf)
{
	struct tmf_req *r = tmf->priv;
	struct iscsi_conn *c = r->conn;

	c->tmf_pending--;
	iscsi_port_check_drained(c->port);
	free(r);
	iscsi_conn_maybe_free(c);
}

/* The connection is gone: abort its tasks at the dispatcher, one ABORT
 * TASK SET per LUN listing them, with no response. All requests are built
 * before any is dispatched: a dispatch may complete (and free) tasks. */
void iscsi_conn_abort_all(struct iscsi_conn *c)
{
	struct tmf_req *reqs[64];
	unsigned n = 0;

	if (!c->sess || !c->sess->target)
		return;
	for (struct iscsi_task *t = c->tasks; t && n < ARRAY_SIZE(reqs);
	     t = t->next) {
		struct tmf_req *r;

		if (t->state != T_SCSI || t->abort_sent)
			continue;
		r = tmf_new(c, SCSI_TMF_ABORT_TASK_SET, t->st.lun, c->n_tasks);
		if (!r)
			break; /* the tasks still complete by themselves */
		r->tmf.done = abort_done_cb;
		for (struct iscsi_task *u = t; u; u = u->next) {
			if (u->state == T_SCSI && !u->abort_sent &&
			    u->st.lun == t->st.lun) {
				u->abort_sent = true;
				r->tasks[r->tmf.n_tasks++] = &u->st;
			}
		}
		reqs[n++] = r;
	}
	c->tmf_pending += n;
	for (unsigned i = 0; i < n; i++)
		scsi_dispatch_tmf(c->sess->target->disp, &reqs[i]->tmf);
}

/* ---- text and logout ---- */

static void text_req(struct iscsi_conn *c, const uint8_t *data)
{
	struct iscsi_pdu_out rsp = {0};
	struct tx_pdu *p;

	if (!c->text ||
	    iscsi_text_rx(c->text, c->bhs, data, c->dlen, &rsp) < 0) {
		log_warn("%s: malformed Text Request: Reject",
			 iscsi_conn_name(c));
		iscsi_send_reject(c, ISCSI_REJECT_PROTOCOL_ERROR, c->bhs,
				  false);
		return;
	}
	p = iscsi_tx_alloc();
	if (!p || (rsp.dlen && !(p->owned = malloc(rsp.dlen)))) {
		if (p)
			iscsi_tx_release(p);
		iscsi_conn_close(c, "out of memory");
		return;
	}
	memcpy(p->bhs, rsp.bhs, ISCSI_BHS_LEN);
	p->bhs[0] = ISCSI_OP_TEXT_RSP;
	memcpy(p->bhs + ISCSI_BHS_ITT, c->bhs + ISCSI_BHS_ITT, 4);
	if (rsp.dlen) {
		memcpy(p->owned, rsp.data, rsp.dlen);
		p->data = p->owned;
	}
	p->dlen = rsp.dlen;
	iscsi_bhs_set_dlen(p->bhs, p->dlen);
	iscsi_tx_queue_status(c, p);
}

static void logout_req(struct iscsi_conn *c)
{
	uint8_t reason = c->bhs[1] & 0x7f;
	uint32_t itt = get_be32(c->bhs + ISCSI_BHS_ITT);
	uint16_t cid = get_be16(c->bhs + 20);
	struct tx_pdu *p;
	uint8_t rsp = ISCSI_LOGOUT_RSP_OK;

	if (reason == ISCSI_LOGOUT_REMOVE_FOR_RECOVERY)
		rsp = ISCSI_LOGOUT_RSP_RECOVERY_UNSUPPORTED; /* ERL 0 */
	else if (reason == ISCSI_LOGOUT_CLOSE_CONNECTION && cid != c->cid)
		rsp = ISCSI_LOGOUT_RSP_CID_NOT_FOUND;
	else if (reason > ISCSI_LOGOUT_REMOVE_FOR_RECOVERY) {
		iscsi_send_reject(c, ISCSI_REJECT_INVALID_PDU_FIELD, c->bhs,
				  false);
		return;
	}
	if (rsp != ISCSI_LOGOUT_RSP_OK) {
		p = iscsi_tx_alloc();
		if (!p) {
			iscsi_conn_close(c, "out of memory");
			return;
		}
		iscsi_build_logout_rsp(p->bhs, itt, 0, rsp, 0, 0);
		iscsi_tx_queue_status(c, p);
		return;
	}
	log_info("%s: logout (%s)", iscsi_conn_name(c),
		 reason == ISCSI_LOGOUT_CLOSE_SESSION ? "close session"
						      : "close connection");
	c->logout_pending = true;
	c->logout_itt = itt;
	c->rx_stopped = true;
	if (c->ev_read)
		event_del(c->ev_read);
	iscsi_conn_drop_data_tasks(c); /* incl. those held for their CmdSN */
	iscsi_conn_check_logout(c);
}

void iscsi_ffp_rx_pdu(struct iscsi_conn *c, const uint8_t *data)
{
	uint8_t op = iscsi_bhs_opcode(c->bhs);

	if (!ffp_cmdsn(c))
		return;
	switch (op) {
	case ISCSI_OP_NOP_OUT:
		nop_out(c, data);
		break;
	case ISCSI_OP_TMF_REQ:
		tmf_req(c);
		break;
	case ISCSI_OP_TEXT_REQ:
		text_req(c, data);
		break;
	case ISCSI_OP_LOGOUT_REQ:
		logout_req(c);
		break;
	default:
		iscsi_send_reject(c, ISCSI_REJECT_CMD_NOT_SUPPORTED, c->bhs,
				  false);
		break;
	}
}
