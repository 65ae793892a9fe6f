// SPDX-License-Identifier: Apache-2.0
/*
 * One iSCSI connection: lifetime, login phase, timers (login timeout, NOP
 * pings, final-PDU linger) and close. A closed connection whose tasks are
 * still at the dispatcher stays as a zombie (socket closed, no events)
 * until they have all completed; it is freed in a later loop iteration,
 * never inside a callback that may still reference it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "duet/log.h"
#include "iscsi_int.h"

const char *iscsi_conn_name(const struct iscsi_conn *c)
{
	return c->name;
}

static void conn_timer_cb(int fd, short what, void *arg);

static void conn_free_events(struct iscsi_conn *c)
{
	struct event **evs[] = {&c->ev_read, &c->ev_write, &c->ev_timer};

	for (size_t i = 0; i < ARRAY_SIZE(evs); i++) {
		if (*evs[i]) {
			event_free(*evs[i]);
			*evs[i] = NULL;
		}
	}
}

struct iscsi_conn *iscsi_conn_new(int fd, const char *peer, uint16_t peer_port,
				  const char *local, uint16_t local_port)
{
	struct iscsi_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->fd = fd;
	c->id = ++iscsi_g.next_conn_id;
	snprintf(c->peer, sizeof(c->peer), "%s", peer); /* address only */
	snprintf(c->peer_name, sizeof(c->peer_name),
		 strchr(peer, ':') ? "[%s]:%u" : "%s:%u", peer, peer_port);
	snprintf(c->local, sizeof(c->local), "%s", local);
	c->local_port = local_port;
	snprintf(c->name, sizeof(c->name), "conn %u from %s", c->id,
		 c->peer_name);
	c->txq_tail = &c->txq;
	c->t_start = c->t_last_rx = time(NULL);
	c->rbuf = malloc(ISCSI_RX_BUF);
	c->login_ctx = (struct iscsi_login_ctx){
		.cfg = iscsi_g.cfg,
		.peer_addr = c->peer,
		.local_addr = c->local,
		.local_port = local_port,
		.bind = iscsi_session_bind,
		.arg = c,
	};
	c->login = iscsi_login_new(&c->login_ctx);
	if (iscsi_g.base) {
		c->ev_read = event_new(iscsi_g.base, fd, EV_READ | EV_PERSIST,
				       iscsi_conn_read_cb, c);
		c->ev_write = event_new(iscsi_g.base, fd, EV_WRITE | EV_PERSIST,
					iscsi_conn_write_cb, c);
		c->ev_timer = event_new(iscsi_g.base, -1, EV_PERSIST,
					conn_timer_cb, c);
	}
	if (!c->rbuf || !c->login ||
	    (iscsi_g.base && (!c->ev_read || !c->ev_write || !c->ev_timer))) {
		conn_free_events(c);
		if (c->login)
			iscsi_login_free(c->login);
		free(c->rbuf);
		free(c);
		return NULL; /* the caller closes fd */
	}
	iscsi_conn_rx_reset(c);
	c->next = iscsi_g.conns;
	if (iscsi_g.conns)
		iscsi_g.conns->prev = c;
	iscsi_g.conns = c;
	iscsi_g.n_conns++;
	if (c->ev_read) {
		struct timeval one = {1, 0};

		event_add(c->ev_read, NULL);
		event_add(c->ev_timer, &one);
	}
	return c;
}

static void conn_free_cb(int fd, short what, void *arg)
{
	struct iscsi_conn *c = arg;
	struct iscsi_port *port = c->port;

	if (c->prev)
		c->prev->next = c->next;
	else
		iscsi_g.conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	iscsi_g.n_conns--;
	if (c->waiter) {
		struct iscsi_conn *w = c->waiter;

		w->wait_for = NULL;
		iscsi_conn_login_resume(w);
	}
	if (c->sess)
		iscsi_session_put(c->sess);
	free(c->rbuf);
	free(c->scratch);
	free(c);
	iscsi_port_conn_gone(port);
	iscsi_shutdown_check();
}

void iscsi_conn_maybe_free(struct iscsi_conn *c)
{
	struct timeval now = {0, 0};

	if (c->state != CONN_CLOSED || c->n_tasks || c->tmf_pending ||
	    c->free_scheduled)
		return;
	c->free_scheduled = true;
	/* Without a loop (unit tests) iscsi_conn_reap() frees them. */
	if (iscsi_g.base)
		event_base_once(iscsi_g.base, -1, EV_TIMEOUT, conn_free_cb, c,
				&now);
}

void iscsi_conn_reap(void)
{
	struct iscsi_conn *c, *nx;

	for (c = iscsi_g.conns; c; c = nx) {
		nx = c->next;
		if (c->free_scheduled)
			conn_free_cb(-1, 0, c);
	}
}

/* Free the tasks we still own (collecting data or waiting their CmdSN
 * turn): the connection or session is going away. */
void iscsi_conn_drop_data_tasks(struct iscsi_conn *c)
{
	struct iscsi_task *t, *nx;

	for (t = c->tasks; t; t = nx) {
		nx = t->next;
		if (t->state != T_DATA)
			continue;
		if (t->held && c->sess)
			iscsi_session_unhold(c->sess, t);
		iscsi_task_free(t);
	}
}

/* Terminate what we own; abort what the dispatcher has. */
static void conn_drop_tasks(struct iscsi_conn *c)
{
	iscsi_conn_drop_data_tasks(c);
	if (c->n_scsi)
		iscsi_conn_abort_all(c);
}

void iscsi_conn_close(struct iscsi_conn *c, const char *why)
{
	if (c->state == CONN_CLOSED)
		return;
	/* A connect without a byte (the partner's reachability probe, a
	 * port scan) is not worth a line at info level. */
	if (!c->rx_seen && c->state == CONN_LOGIN)
		log_debug("%s: connection closed without data: %s",
			  iscsi_conn_name(c), why);
	else
		log_info("%s: connection closed: %s", iscsi_conn_name(c), why);
	c->state = CONN_CLOSED;
	conn_free_events(c);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	iscsi_tx_drop_all(c);
	if (c->parked_rsp) {
		iscsi_tx_release(c->parked_rsp);
		c->parked_rsp = NULL;
	}
	if (c->wait_for) {
		c->wait_for->waiter = NULL;
		c->wait_for = NULL;
	}
	if (c->login)
		iscsi_login_free(c->login);
	c->login = NULL;
	if (c->text)
		iscsi_text_free(c->text);
	c->text = NULL;
	if (c->sess)
		iscsi_session_conn_gone(c->sess, c);
	conn_drop_tasks(c);
	iscsi_conn_maybe_free(c);
}

static void conn_log_login(struct iscsi_conn *c)
{
	const struct iscsi_session *s = c->sess;
	const struct iscsi_params *p = &c->params;
	const uint8_t *i = s->itn.isid;

	snprintf(c->name, sizeof(c->name), "conn %u %s TSIH %u (%s)", c->id,
		 s->itn.initiator_name, s->tsih, c->peer_name);
	log_info("%s: login accepted: %s session, ISID "
		 "%02x%02x%02x%02x%02x%02x, "
		 "target %s, portal %s:%u, HeaderDigest=%s DataDigest=%s "
		 "MaxRecvDSL=%u MaxXmitDSL=%u MaxBurst=%u FirstBurst=%u "
		 "ImmediateData=%s InitialR2T=%s MaxOutstandingR2T=%u",
		 c->name,
		 s->type == ISCSI_SESSION_DISCOVERY ? "discovery" : "normal",
		 i[0], i[1], i[2], i[3], i[4], i[5],
		 s->target ? s->target->cfg->name : "-", c->local,
		 c->local_port, p->header_digest ? "CRC32C" : "None",
		 p->data_digest ? "CRC32C" : "None", p->max_recv_dsl,
		 p->max_xmit_dsl, p->max_burst_length, p->first_burst_length,
		 p->immediate_data ? "Yes" : "No",
		 p->initial_r2t ? "Yes" : "No", p->max_outstanding_r2t);
}

void iscsi_conn_enter_ffp(struct iscsi_conn *c)
{
	const struct iscsi_login_result *res = iscsi_login_result(c->login);

	c->params = res->params;
	c->statsn = res->next_statsn; /* continues the login's StatSN */
	if (!c->params.max_recv_dsl)
		c->params.max_recv_dsl = ISCSI_LOGIN_DSL;
	if (!c->params.max_xmit_dsl)
		c->params.max_xmit_dsl = ISCSI_LOGIN_DSL;
	if (!c->params.max_burst_length)
		c->params.max_burst_length = 262144;
	c->state = CONN_FFP;
	c->t_last_rx = time(NULL);
	c->text_ctx = (struct iscsi_text_ctx){
		.type = c->sess->type,
		.initiator_name = c->sess->itn.initiator_name,
		.peer_addr = c->peer,
		.local_addr = c->local,
		.local_port = c->local_port,
		.target = c->sess->target,
		.port = c->port,
		.params = &c->params,
	};
	c->text = iscsi_text_new(&c->text_ctx);
	conn_log_login(c);
	iscsi_login_free(c->login);
	c->login = NULL;
	if (!c->text)
		iscsi_conn_close(c, "out of memory");
}

static struct tx_pdu *login_rsp_pdu(const struct iscsi_pdu_out *rsp)
{
	struct tx_pdu *p = iscsi_tx_alloc();

	if (!p)
		return NULL;
	memcpy(p->bhs, rsp->bhs, ISCSI_BHS_LEN);
	if (rsp->dlen) {
		p->owned = malloc(rsp->dlen);
		if (!p->owned) {
			iscsi_tx_release(p);
			return NULL;
		}
		memcpy(p->owned, rsp->data, rsp->dlen);
		p->data = p->owned;
		p->dlen = rsp->dlen;
	}
	iscsi_bhs_set_dlen(p->bhs, p->dlen);
	return p;
}

static void login_done(struct iscsi_conn *c, struct tx_pdu *p)
{
	struct iscsi_session *s = c->sess;

	if (!s) {
		iscsi_tx_release(p);
		iscsi_conn_close(c, "login completed without a session");
		return;
	}
	put_be32(p->bhs + ISCSI_BHS_EXPCMDSN, s->exp_cmdsn);
	put_be32(p->bhs + ISCSI_BHS_MAXCMDSN, iscsi_session_max_cmdsn(s));
	if (s->replaces || c->wait_for) {
		log_info("%s: login parked until the replaced session's tasks "
			 "have completed",
			 iscsi_conn_name(c));
		c->parked_rsp = p;
		c->state = CONN_LOGIN_WAIT;
		event_del(c->ev_read);
		return;
	}
	iscsi_tx_queue(c, p);
	iscsi_conn_enter_ffp(c);
}

void iscsi_conn_login_rx(struct iscsi_conn *c, const uint8_t *data)
{
	struct iscsi_pdu_out rsp = {0};
	int st = iscsi_login_rx(c->login, c->bhs, data, c->dlen, &rsp);
	struct tx_pdu *p = login_rsp_pdu(&rsp);

	if (!p) {
		iscsi_conn_close(c, "out of memory");
		return;
	}
	switch (st) {
	case ISCSI_LOGIN_CONTINUE:
		iscsi_tx_queue(c, p);
		break;
	case ISCSI_LOGIN_DONE:
		login_done(c, p);
		break;
	default:
		log_info("%s: login refused (status 0x%02x%02x)",
			 iscsi_conn_name(c), rsp.bhs[36], rsp.bhs[37]);
		p->close_after = true;
		c->rx_stopped = true;
		c->closing_after_tx = true;
		c->t_close = time(NULL);
		if (c->ev_read)
			event_del(c->ev_read);
		iscsi_tx_queue(c, p);
		break;
	}
}

void iscsi_conn_login_resume(struct iscsi_conn *c)
{
	struct tx_pdu *p = c->parked_rsp;

	if (c->state != CONN_LOGIN_WAIT || c->wait_for ||
	    (c->sess && c->sess->replaces))
		return;
	c->parked_rsp = NULL;
	if (c->sess) {
		put_be32(p->bhs + ISCSI_BHS_EXPCMDSN, c->sess->exp_cmdsn);
		put_be32(p->bhs + ISCSI_BHS_MAXCMDSN,
			 iscsi_session_max_cmdsn(c->sess));
	}
	c->state = CONN_LOGIN;
	log_info("%s: replaced session gone; login completes",
		 iscsi_conn_name(c));
	iscsi_tx_queue(c, p);
	iscsi_conn_enter_ffp(c);
	if (c->state != CONN_FFP)
		return;
	event_add(c->ev_read, NULL);
	iscsi_conn_rx_drain(c);
}

void iscsi_conn_check_logout(struct iscsi_conn *c)
{
	struct tx_pdu *p;

	if (!c->logout_pending || c->state != CONN_FFP || c->n_tasks)
		return;
	c->logout_pending = false;
	p = iscsi_tx_alloc();
	if (!p) {
		iscsi_conn_close(c, "out of memory");
		return;
	}
	iscsi_build_logout_rsp(p->bhs, c->logout_itt, 0, ISCSI_LOGOUT_RSP_OK, 0,
			       0);
	p->close_after = true;
	c->closing_after_tx = true;
	c->t_close = time(NULL);
	iscsi_tx_queue_status(c, p);
}

static void conn_timer_cb(int fd, short what, void *arg)
{
	struct iscsi_conn *c = arg;
	const struct cfg_iscsi *cfg = iscsi_g.cfg;
	time_t now = time(NULL);

	if (c->closing_after_tx && now - c->t_close >= ISCSI_CLOSE_LINGER) {
		iscsi_conn_close(c, "final PDU not taken by the initiator");
	} else if (c->state == CONN_LOGIN && cfg->login_timeout &&
		   now - c->t_start >= (time_t)cfg->login_timeout) {
		log_warn("%s: login not completed within %u s", c->name,
			 cfg->login_timeout);
		iscsi_conn_close(c, "login timeout");
	} else if (c->state == CONN_FFP && cfg->nop_interval &&
		   !c->closing_after_tx) {
		if (c->ping_outstanding &&
		    now - c->t_ping >= (time_t)cfg->nop_timeout) {
			log_warn("%s: no answer to NOP-In within %u s: "
				 "initiator presumed dead",
				 c->name, cfg->nop_timeout);
			iscsi_conn_close(c, "NOP-In timeout");
		} else if (!c->ping_outstanding &&
			   now - c->t_last_rx >= (time_t)cfg->nop_interval) {
			c->ping_outstanding = true;
			c->t_ping = now;
			iscsi_conn_nop_ping(c);
		}
	}
	iscsi_conn_maybe_free(c);
}
