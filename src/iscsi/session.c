// SPDX-License-Identifier: Apache-2.0
/*
 * Sessions: keyed by (InitiatorName, ISID, target), one connection each
 * (MaxConnections=1), ERL 0.
 *
 * Session reinstatement (TSIH 0, ISID of a live session of the same
 * initiator and target): the old session's connection is closed and its
 * tasks are aborted at the dispatcher; the new session's final Login
 * Response is parked until every task of the old session has completed and
 * the old session is freed (scsi_dispatch_nexus_end has run). Only then
 * does the initiator get its FFP, so no stale command of the old nexus can
 * run after a new one.
 *
 * Connection reinstatement (TSIH of a live session, same CID): the old
 * connection is closed the same way and the session continues on the new
 * one once the old connection is gone. Another CID: 0x0208 (MaxConnections
 * is 1).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duet/log.h"
#include "iscsi_int.h"

static struct iscsi_session *sessions;
static unsigned n_sessions;
static uint16_t next_tsih = 1;

unsigned iscsi_session_count(void)
{
	return n_sessions;
}

static struct iscsi_session *session_by_tsih(uint16_t tsih)
{
	for (struct iscsi_session *s = sessions; s; s = s->next)
		if (s->tsih == tsih && !s->ending)
			return s;
	return NULL;
}

static uint16_t tsih_alloc(void)
{
	for (unsigned i = 0; i < 65535; i++) {
		uint16_t t = next_tsih++;

		if (next_tsih == 0)
			next_tsih = 1;
		if (t == 0)
			continue;
		bool used = false;

		for (struct iscsi_session *s = sessions; s; s = s->next)
			used |= s->tsih == t;
		if (!used)
			return t;
	}
	return 0;
}

static bool same_nexus(const struct iscsi_session *s,
		       const struct iscsi_login_result *res)
{
	return s->type == res->type && s->target == res->target &&
	       memcmp(s->itn.isid, res->isid, 6) == 0 &&
	       strcmp(s->itn.initiator_name, res->initiator_name) == 0;
}

static struct iscsi_session *session_new(const struct iscsi_login_result *res,
					 const struct iscsi_port *port)
{
	struct iscsi_session *s = calloc(1, sizeof(*s));
	uint16_t tsih = tsih_alloc();

	if (!s || !tsih) {
		free(s);
		return NULL;
	}
	s->tsih = tsih;
	s->type = res->type;
	s->target = res->target;
	snprintf(s->itn.initiator_name, sizeof(s->itn.initiator_name), "%s",
		 res->initiator_name);
	memcpy(s->itn.isid, res->isid, 6);
	s->itn.rel_tgt_port_id = iscsi_port_rel_id(port);
	if (res->target) {
		s->itn.tpgt = iscsi_port_target_tpgt(port, res->target);
		snprintf(s->itn.target_name, sizeof(s->itn.target_name), "%s",
			 res->target->cfg->name);
		res->target->n_sessions++;
	}
	s->exp_cmdsn = res->cmdsn;
	s->queue_depth =
		iscsi_g.cfg->queue_depth ? iscsi_g.cfg->queue_depth : 32;
	s->max_cmdsn = s->exp_cmdsn + s->queue_depth - 1;
	s->next = sessions;
	if (sessions)
		sessions->prev = s;
	sessions = s;
	n_sessions++;
	return s;
}

static void session_attach(struct iscsi_session *s, struct iscsi_conn *c)
{
	c->sess = s;
	s->conn = c;
	s->refs++;
}

/* A live connection is being replaced: close it; the new one waits. */
static void conn_replace(struct iscsi_conn *old, struct iscsi_conn *c,
			 const char *why)
{
	iscsi_conn_close(old, why);
	if (old->state == CONN_CLOSED && (old->n_scsi || old->free_scheduled)) {
		old->waiter = c;
		c->wait_for = old;
	}
}

static int bind_existing(struct iscsi_conn *c,
			 const struct iscsi_login_result *res)
{
	struct iscsi_session *s = session_by_tsih(res->tsih);

	if (!s || s->ending || !same_nexus(s, res)) {
		log_warn("%s: login with TSIH %u: no such session",
			 iscsi_conn_name(c), res->tsih);
		return -ISCSI_LOGIN_STATUS_NO_SESSION;
	}
	if (s->conn && s->conn->cid != res->cid) {
		log_warn("%s: session TSIH %u already has a connection "
			 "(MaxConnections=1): refused",
			 iscsi_conn_name(c), s->tsih);
		return -ISCSI_LOGIN_STATUS_CONN_ADD_FAILED;
	}
	struct iscsi_conn *old = s->conn;

	session_attach(s, c);
	if (old) {
		log_info("%s: connection reinstatement of CID %u in session "
			 "TSIH %u",
			 iscsi_conn_name(c), res->cid, s->tsih);
		conn_replace(old, c, "connection reinstatement");
	}
	return s->tsih;
}

int iscsi_session_bind(void *arg, const struct iscsi_login_result *res)
{
	struct iscsi_conn *c = arg;
	struct iscsi_session *old = NULL, *s;

	if (iscsi_g.shutting_down)
		return -ISCSI_LOGIN_STATUS_SVC_UNAVAILABLE;
	if (res->type == ISCSI_SESSION_NORMAL && iscsi_port_refuses(c->port)) {
		log_info("%s: login of %s to %s refused: port %s is %s "
			 "(0x0301 service unavailable, retry later)",
			 iscsi_conn_name(c), res->initiator_name,
			 res->target_name, iscsi_port_name(c->port),
			 iscsi_port_state_name(iscsi_port_state(c->port)));
		return -ISCSI_LOGIN_STATUS_SVC_UNAVAILABLE;
	}
	c->cid = res->cid;
	if (res->tsih)
		return bind_existing(c, res);
	/* The newest session of this nexus, live or still draining (a
	 * dropped connection whose tasks are at the dispatcher). */
	for (s = sessions; s; s = s->next)
		if (!s->replaced_by && same_nexus(s, res))
			old = s;
	s = session_new(res, c->port);
	if (!s)
		return -ISCSI_LOGIN_STATUS_NO_RESOURCES;
	session_attach(s, c);
	if (old) {
		log_info("%s: session reinstatement: ISID %02x%02x%02x%02x%02x"
			 "%02x of %s replaces TSIH %u with TSIH %u",
			 iscsi_conn_name(c), res->isid[0], res->isid[1],
			 res->isid[2], res->isid[3], res->isid[4], res->isid[5],
			 res->initiator_name, old->tsih, s->tsih);
		old->ending = true;
		old->replaced_by = s;
		s->replaces = old;
		if (old->conn)
			iscsi_conn_close(old->conn, "session reinstatement");
		/* the old session may already be gone */
	}
	return s->tsih;
}

static void session_free(struct iscsi_session *s)
{
	struct iscsi_session *nw = s->replaced_by, *old = s->replaces;

	/* a chain old <- s <- nw: nw now waits for old */
	if (old)
		old->replaced_by = nw;
	if (s->target && s->target->disp && !s->nexus_ended) {
		s->nexus_ended = true;
		scsi_dispatch_nexus_end(s->target->disp, &s->itn);
	}
	if (s->target && s->target->n_sessions)
		s->target->n_sessions--;
	if (s->prev)
		s->prev->next = s->next;
	else
		sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	n_sessions--;
	log_info("session TSIH %u of %s ended", s->tsih, s->itn.initiator_name);
	free(s);
	if (nw) {
		nw->replaces = old;
		if (!old && nw->conn && nw->conn->state == CONN_LOGIN_WAIT)
			iscsi_conn_login_resume(nw->conn);
	}
}

/* The connection closed: at ERL 0 with one connection the session ends,
 * unless the connection is being replaced. */
void iscsi_session_conn_gone(struct iscsi_session *s, struct iscsi_conn *c)
{
	if (s->conn == c) {
		s->conn = NULL;
		s->ending = true;
	}
}

/* A connection (live or zombie) of the session is freed. */
void iscsi_session_put(struct iscsi_session *s)
{
	if (--s->refs == 0)
		session_free(s);
}

void iscsi_session_end_all(const char *why, struct iscsi_conn *except)
{
	struct iscsi_session *s, *nx;

	for (s = sessions; s; s = nx) {
		nx = s->next;
		if (s->conn && s->conn != except)
			iscsi_conn_close(s->conn, why);
	}
}

unsigned iscsi_session_terminate_data_tasks(struct iscsi_target *target,
					    bool all_luns, uint64_t lun,
					    struct iscsi_conn *except)
{
	unsigned n = 0;

	for (struct iscsi_session *s = sessions; s; s = s->next) {
		struct iscsi_task *t, *nx;

		if (s->target != target || !s->conn || s->conn == except)
			continue;
		for (t = s->conn->tasks; t; t = nx) {
			nx = t->next;
			if (t->state != T_DATA ||
			    (!all_luns && t->st.lun != lun))
				continue;
			iscsi_task_terminate(t);
			n++;
		}
		if (n)
			iscsi_conn_check_logout(s->conn);
	}
	return n;
}

uint32_t iscsi_session_max_cmdsn(struct iscsi_session *s)
{
	uint32_t room =
		s->queue_depth > s->inflight ? s->queue_depth - s->inflight : 0;
	uint32_t m = s->exp_cmdsn + room - 1;

	if (sn_lt(s->max_cmdsn, m))
		s->max_cmdsn = m;
	return s->max_cmdsn;
}

int iscsi_session_cmdsn_check(struct iscsi_session *s, uint32_t cmdsn)
{
	if (cmdsn == s->exp_cmdsn)
		return 0;
	if (sn_lt(s->exp_cmdsn, cmdsn) &&
	    sn_le(cmdsn, iscsi_session_max_cmdsn(s)))
		return 1;
	return -1;
}

void iscsi_session_hold(struct iscsi_session *s, struct iscsi_task *t)
{
	struct iscsi_task **pp = &s->held;

	while (*pp && sn_lt((*pp)->cmdsn, t->cmdsn))
		pp = &(*pp)->held_next;
	t->held_next = *pp;
	t->held = true;
	*pp = t;
}

void iscsi_session_unhold(struct iscsi_session *s, struct iscsi_task *t)
{
	struct iscsi_task **pp = &s->held;

	while (*pp && *pp != t)
		pp = &(*pp)->held_next;
	if (*pp)
		*pp = t->held_next;
	t->held = false;
}

/* The command at ExpCmdSN has been taken: release held ones in order. */
void iscsi_session_advance(struct iscsi_session *s)
{
	s->exp_cmdsn++;
	while (s->held && s->held->cmdsn == s->exp_cmdsn) {
		struct iscsi_task *t = s->held;

		s->held = t->held_next;
		t->held = false;
		s->exp_cmdsn++;
		if (t->dropped || !t->conn) {
			iscsi_task_free(t);
			continue;
		}
		t->ordered = true;
		t->counted = true;
		s->inflight++;
		iscsi_task_progress(t);
	}
}

void iscsi_session_task_done(struct iscsi_session *s)
{
	if (s->inflight)
		s->inflight--;
}
