// SPDX-License-Identifier: Apache-2.0
/*
 * The iSCSI layer's start and graceful stop. Shutdown: listeners close,
 * connections in login are dropped, connections in full feature phase
 * stop reading (no new commands) and are closed once their in-flight
 * commands have completed and the responses are written; after
 * ISCSI_SHUTDOWN_TIMEOUT seconds the rest are closed (their tasks are
 * aborted); done() runs once every connection is gone.
 * Connections keep reading while they drain (commands already received
 * may still need their Data-Out), but new SCSI commands are ignored: the
 * initiator resends them after reconnecting to the restarted target.
 */
#include <errno.h>
#include <string.h>

#include <event2/event.h>

#include "duet/log.h"
#include "iscsi_int.h"

#define ISCSI_SHUTDOWN_TIMEOUT 30

struct iscsi_global iscsi_g;

int iscsi_init(struct event_base *base, const struct cfg_iscsi *params)
{
	if (!base || !params)
		return -EINVAL;
	iscsi_g.base = base;
	iscsi_g.cfg = params;
	iscsi_g.shutting_down = false;
	return 0;
}

static void shutdown_finish(void)
{
	void (*done)(void *) = iscsi_g.shutdown_done;

	if (!done)
		return;
	iscsi_g.shutdown_done = NULL;
	if (iscsi_g.ev_shutdown) {
		event_free(iscsi_g.ev_shutdown);
		iscsi_g.ev_shutdown = NULL;
	}
	iscsi_tx_pool_free();
	iscsi_task_pool_free();
	log_info("iSCSI layer stopped");
	done(iscsi_g.shutdown_arg);
}

void iscsi_shutdown_check(void)
{
	if (iscsi_g.shutting_down && iscsi_g.n_conns == 0)
		shutdown_finish();
}

static void shutdown_tick(int fd, short what, void *arg)
{
	bool force = time(NULL) >= iscsi_g.shutdown_deadline;
	struct iscsi_conn *c, *nx;

	for (c = iscsi_g.conns; c; c = nx) {
		nx = c->next;
		if (c->state == CONN_CLOSED)
			continue;
		if (force)
			iscsi_conn_close(c, "shutdown timeout");
		else if (c->state != CONN_FFP)
			iscsi_conn_close(c, "shutdown");
		else if (!c->n_tasks && !c->txq && !c->tmf_pending)
			iscsi_conn_close(c, "shutdown");
	}
	if (force && iscsi_g.n_conns)
		log_warn("shutdown: %u connection(s) still waiting for "
			 "their tasks",
			 iscsi_g.n_conns);
	iscsi_shutdown_check();
}

void iscsi_shutdown(void (*done)(void *arg), void *arg)
{
	struct timeval tick = {0, 100000};

	iscsi_g.shutting_down = true;
	iscsi_g.shutdown_done = done;
	iscsi_g.shutdown_arg = arg;
	iscsi_g.shutdown_deadline = time(NULL) + ISCSI_SHUTDOWN_TIMEOUT;
	iscsi_portal_close_all();
	if (iscsi_g.base) {
		iscsi_g.ev_shutdown = event_new(iscsi_g.base, -1, EV_PERSIST,
						shutdown_tick, NULL);
		if (iscsi_g.ev_shutdown)
			event_add(iscsi_g.ev_shutdown, &tick);
	}
	shutdown_tick(-1, 0, NULL);
}
