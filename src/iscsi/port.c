// SPDX-License-Identifier: Apache-2.0
/*
 * Ports for the HA pair: a set of portals + a set of targets + a target
 * portal group tag + a relative target port id + a state (see
 * include/duet/iscsi.h). A connection belongs to the port whose listener
 * accepted it; the login, SendTargets and session code ask the port for
 * targets, portals, tag and id. The default home port of a single node is
 * the legacy registry (target.c, portal.c): connections with port NULL.
 *
 * Refusal: logins to a normal session on a port that is not OPEN get
 * 0x0301 Service Unavailable, the status RFC 7143 gives for "temporarily
 * unavailable, retry": open-iscsi treats class 3 (target error) as
 * retryable and tries again after a delay, libiscsi's reconnect loop
 * retries with its backoff. Discovery stays allowed (dm-multipath setups
 * discover the proxy portal before it is needed).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "duet/log.h"
#include "iscsi_int.h"

struct port_listener {
	int fd;
	struct event *ev;
	struct iscsi_port *port;
	char name[80];
};

struct iscsi_port {
	char name[64];
	uint16_t tpgt, rel_id;
	enum iscsi_port_state state;
	struct cfg_portal *portals;
	size_t n_portals;
	struct port_listener *ls;
	size_t n_ls;
	struct iscsi_target **targets;
	size_t n_targets;
	iscsi_port_drained_fn drained;
	void *drained_arg;
	bool drained_sent;
	bool dead; /* freed once no connection or session uses it */
	struct event *ev_drained;	/* drained() runs from the loop */
	iscsi_port_drained_fn activity; /* one-shot, see notify_activity */
	void *activity_arg;
	struct event *ev_activity;
	struct iscsi_port *next;
};

static struct iscsi_port *ports;

struct iscsi_port *iscsi_port_new(const char *name, uint16_t tpgt,
				  uint16_t rel_port_id)
{
	struct iscsi_port *p;

	if (!name || !rel_port_id)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->tpgt = tpgt;
	p->rel_id = rel_port_id;
	p->next = ports;
	ports = p;
	return p;
}

static void port_destroy(struct iscsi_port *port)
{
	for (struct iscsi_conn *c = iscsi_g.conns; c; c = c->next)
		if (c->port == port)
			return; /* still a connection (maybe a zombie) */
	for (size_t i = 0; i < port->n_targets; i++)
		if (port->targets[i]->n_sessions)
			return; /* a session still points at its target */
	for (size_t i = 0; i < port->n_portals; i++)
		free(port->portals[i].host);
	free(port->portals);
	for (size_t i = 0; i < port->n_targets; i++)
		free(port->targets[i]);
	free(port->targets);
	free(port->ls);
	if (port->ev_drained)
		event_free(port->ev_drained);
	if (port->ev_activity)
		event_free(port->ev_activity);
	free(port);
}

/* Connections and sessions of the port may outlive this call (tasks at
 * the dispatcher): the memory goes when the last of them does. */
void iscsi_port_free(struct iscsi_port *port)
{
	struct iscsi_port **pp;

	if (!port)
		return;
	iscsi_port_unlisten(port);
	iscsi_port_drop_sessions(port);
	port->drained = NULL;
	port->activity = NULL;
	port->dead = true;
	for (pp = &ports; *pp && *pp != port; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = port->next;
	port_destroy(port);
}

void iscsi_port_conn_gone(struct iscsi_port *port)
{
	if (port && port->dead)
		port_destroy(port);
	else
		iscsi_port_task_done(port);
}

static void activity_fire(int fd, short what, void *arg)
{
	struct iscsi_port *port = arg;
	iscsi_port_drained_fn fn = port->activity;

	port->activity = NULL;
	if (fn)
		fn(port, port->activity_arg);
}

void iscsi_port_notify_activity(struct iscsi_port *port,
				iscsi_port_drained_fn fn, void *arg)
{
	if (!port)
		return;
	port->activity = fn;
	port->activity_arg = arg;
}

void iscsi_port_task_done(struct iscsi_port *port)
{
	static const struct timeval now = {0, 0};

	if (!port || !port->activity)
		return;
	if (!iscsi_g.base) {
		activity_fire(-1, 0, port);
		return;
	}
	if (!port->ev_activity)
		port->ev_activity =
			event_new(iscsi_g.base, -1, 0, activity_fire, port);
	if (!port->ev_activity || event_add(port->ev_activity, &now) < 0)
		activity_fire(-1, 0, port);
}

static bool conn_busy(const struct iscsi_conn *c)
{
	if (c->n_scsi)
		return true;
	for (const struct iscsi_task *t = c->tasks; t; t = t->next)
		if (t->state == T_DATA && !t->dropped)
			return true;
	return false;
}

bool iscsi_port_nexus_busy(const struct iscsi_port *port, const char *initiator,
			   const char *target)
{
	for (const struct iscsi_conn *c = iscsi_g.conns; c; c = c->next) {
		const struct scsi_itn *itn;

		if (c->port != port || !c->sess)
			continue;
		itn = &c->sess->itn;
		if (!strcmp(itn->initiator_name, initiator) &&
		    !strcasecmp(itn->target_name, target) && conn_busy(c))
			return true;
	}
	return false;
}

int iscsi_port_add_portal(struct iscsi_port *port, const struct cfg_portal *p,
			  char *err, size_t errlen)
{
	struct cfg_portal *np;
	char *host;

	if (!port || !p || !p->host) {
		snprintf(err, errlen, "no portal");
		return -EINVAL;
	}
	for (size_t i = 0; i < port->n_portals; i++)
		if (port->portals[i].port == p->port &&
		    !strcmp(port->portals[i].host, p->host)) {
			snprintf(err, errlen,
				 "port %s: portal %s:%u is "
				 "already on it",
				 port->name, p->host, p->port);
			return -EEXIST;
		}
	host = strdup(p->host);
	np = realloc(port->portals, (port->n_portals + 1) * sizeof(*np));
	if (!host || !np) {
		free(host);
		if (np)
			port->portals = np;
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	port->portals = np;
	np[port->n_portals++] = (struct cfg_portal){
		.host = host, .port = p->port, .line = p->line};
	return 0;
}

int iscsi_port_add_target(struct iscsi_port *port, const struct cfg_target *cfg,
			  struct scsi_dispatcher *disp)
{
	struct iscsi_target **nt, *t;

	if (!port || !cfg || !cfg->name || !*cfg->name)
		return -EINVAL;
	if (iscsi_port_find_target(port, cfg->name))
		return -EEXIST;
	t = calloc(1, sizeof(*t));
	nt = realloc(port->targets, (port->n_targets + 1) * sizeof(*nt));
	if (!t || !nt) {
		free(t);
		if (nt)
			port->targets = nt;
		return -ENOMEM;
	}
	t->cfg = cfg;
	t->disp = disp;
	port->targets = nt;
	nt[port->n_targets++] = t;
	return 0;
}

static void listener_cb(int fd, short what, void *arg)
{
	struct port_listener *l = arg;

	iscsi_portal_accept(fd, l->name, l->port);
}

int iscsi_port_listen(struct iscsi_port *port, char *err, size_t errlen)
{
	int rc = 0;

	if (!port)
		return -EINVAL;
	if (port->n_ls)
		return 0; /* already listening */
	port->ls = calloc(port->n_portals ? port->n_portals : 1,
			  sizeof(*port->ls));
	if (!port->ls) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < port->n_portals; i++) {
		struct port_listener *l = &port->ls[i];

		l->port = port;
		l->fd = iscsi_portal_bind(&port->portals[i], true, l->name,
					  sizeof(l->name), err, errlen);
		if (l->fd < 0) {
			rc = l->fd;
			break;
		}
		port->n_ls++;
		l->ev = iscsi_g.base ? event_new(iscsi_g.base, l->fd,
						 EV_READ | EV_PERSIST,
						 listener_cb, l)
				     : NULL;
		if (iscsi_g.base && (!l->ev || event_add(l->ev, NULL) < 0)) {
			snprintf(err, errlen,
				 "%s: cannot register the "
				 "listener",
				 l->name);
			rc = -ENOMEM;
			break;
		}
	}
	if (rc) {
		iscsi_port_unlisten(port);
		return rc;
	}
	if (port->state == ISCSI_PORT_CLOSED)
		iscsi_port_set_state(port, ISCSI_PORT_REFUSING);
	if (port->tpgt)
		log_info("port %s (tpgt %u, relative port %u): listening on "
			 "%zu portal(s)",
			 port->name, port->tpgt, port->rel_id, port->n_portals);
	else
		log_info("port %s (each target's own tpgt, relative port %u): "
			 "listening on %zu portal(s)",
			 port->name, port->rel_id, port->n_portals);
	return 0;
}

void iscsi_port_unlisten(struct iscsi_port *port)
{
	if (!port)
		return;
	for (size_t i = 0; i < port->n_ls; i++) {
		if (port->ls[i].ev)
			event_free(port->ls[i].ev);
		close(port->ls[i].fd);
	}
	free(port->ls);
	port->ls = NULL;
	if (port->n_ls)
		log_info("port %s: listeners closed", port->name);
	port->n_ls = 0;
	port->state = ISCSI_PORT_CLOSED;
}

void iscsi_port_unlisten_all(void)
{
	for (struct iscsi_port *p = ports; p; p = p->next)
		iscsi_port_unlisten(p);
}

const char *iscsi_port_state_name(enum iscsi_port_state st)
{
	switch (st) {
	case ISCSI_PORT_CLOSED:
		return "closed";
	case ISCSI_PORT_REFUSING:
		return "refusing";
	case ISCSI_PORT_OPEN:
		return "open";
	case ISCSI_PORT_DRAINING:
		return "draining";
	}
	return "?";
}

void iscsi_port_set_state(struct iscsi_port *port, enum iscsi_port_state st)
{
	if (!port || port->state == st)
		return;
	log_info("port %s: %s -> %s (%u command(s) in flight)", port->name,
		 iscsi_port_state_name(port->state), iscsi_port_state_name(st),
		 iscsi_port_inflight(port));
	port->state = st;
	port->drained_sent = false;
	if (st == ISCSI_PORT_DRAINING)
		iscsi_port_check_drained(port);
}

enum iscsi_port_state iscsi_port_state(const struct iscsi_port *port)
{
	return port ? port->state : ISCSI_PORT_OPEN;
}

unsigned iscsi_port_drop_sessions(struct iscsi_port *port)
{
	struct iscsi_conn *c, *nx;
	unsigned n = 0;

	for (c = iscsi_g.conns; c; c = nx) {
		nx = c->next;
		if (c->port != port || c->state == CONN_CLOSED)
			continue;
		iscsi_conn_close(c, "port closed: reconnect");
		n++;
	}
	if (n)
		log_info("port %s: %u connection(s) dropped", port->name, n);
	return n;
}

unsigned iscsi_port_conn_endpoints(const struct iscsi_port *port,
				   struct sockaddr_storage *local,
				   struct sockaddr_storage *peer, unsigned max)
{
	const struct iscsi_conn *c;
	unsigned n = 0;

	for (c = iscsi_g.conns; c && n < max; c = c->next) {
		socklen_t ll = sizeof(*local), pl = sizeof(*peer);

		if (c->port != port || c->state == CONN_CLOSED || c->fd < 0)
			continue;
		if (getsockname(c->fd, (struct sockaddr *)&local[n], &ll) < 0 ||
		    getpeername(c->fd, (struct sockaddr *)&peer[n], &pl) < 0)
			continue;
		n++;
	}
	return n;
}

unsigned iscsi_port_inflight(const struct iscsi_port *port)
{
	unsigned n = 0;

	for (const struct iscsi_conn *c = iscsi_g.conns; c; c = c->next)
		if (c->port == port)
			n += c->n_tasks + c->tmf_pending;
	return n;
}

void iscsi_port_set_drained_cb(struct iscsi_port *port,
			       iscsi_port_drained_fn fn, void *arg)
{
	port->drained = fn;
	port->drained_arg = arg;
	iscsi_port_check_drained(port);
}

static bool drained_now(const struct iscsi_port *port)
{
	return port->state == ISCSI_PORT_DRAINING && !port->drained_sent &&
	       port->drained && !iscsi_port_inflight(port);
}

static void drained_fire(int fd, short what, void *arg)
{
	struct iscsi_port *port = arg;

	if (!drained_now(port))
		return;
	port->drained_sent = true;
	log_info("port %s: drained", port->name);
	port->drained(port, port->drained_arg);
}

/* Called from deep inside task completion: the callback (which may drop
 * the port's sessions) runs from the event loop, not from here. Without
 * a loop (unit tests) it runs at once. */
void iscsi_port_check_drained(struct iscsi_port *port)
{
	static const struct timeval now = {0, 0};

	if (!port || !drained_now(port))
		return;
	if (!iscsi_g.base) {
		drained_fire(-1, 0, port);
		return;
	}
	if (!port->ev_drained)
		port->ev_drained =
			event_new(iscsi_g.base, -1, 0, drained_fire, port);
	if (!port->ev_drained || event_add(port->ev_drained, &now) < 0)
		drained_fire(-1, 0, port); /* no memory: at once */
}

bool iscsi_port_holds(const struct iscsi_port *port)
{
	return port && port->state == ISCSI_PORT_DRAINING;
}

bool iscsi_port_refuses(const struct iscsi_port *port)
{
	return port && port->state != ISCSI_PORT_OPEN;
}

/* Right after accept, before anything was received: the login engine
 * (which copied its context) is recreated with the port in it. */
int iscsi_conn_set_port(struct iscsi_conn *c, struct iscsi_port *port)
{
	struct iscsi_login *l;

	c->port = port;
	c->login_ctx.port = port;
	if (!c->login)
		return 0;
	l = iscsi_login_new(&c->login_ctx);
	if (!l)
		return -ENOMEM;
	iscsi_login_free(c->login);
	c->login = l;
	return 0;
}

struct iscsi_target *iscsi_port_find_target(const struct iscsi_port *port,
					    const char *name)
{
	if (!port || !name)
		return NULL;
	for (size_t i = 0; i < port->n_targets; i++)
		if (!strcasecmp(port->targets[i]->cfg->name, name))
			return port->targets[i];
	return NULL;
}

size_t iscsi_port_target_count(const struct iscsi_port *port)
{
	return port ? port->n_targets : iscsi_target_count();
}

struct iscsi_target *iscsi_port_target_at(const struct iscsi_port *port,
					  size_t i)
{
	if (!port)
		return iscsi_target_at(i);
	return i < port->n_targets ? port->targets[i] : NULL;
}

size_t iscsi_port_portal_count(const struct iscsi_port *port)
{
	return port ? port->n_portals : iscsi_portal_count();
}

const struct cfg_portal *iscsi_port_portal_at(const struct iscsi_port *port,
					      size_t i)
{
	if (!port)
		return iscsi_portal_at(i);
	return i < port->n_portals ? &port->portals[i] : NULL;
}

uint16_t iscsi_port_tpgt(const struct iscsi_port *port)
{
	return port ? port->tpgt : 0;
}

uint16_t iscsi_port_target_tpgt(const struct iscsi_port *port,
				const struct iscsi_target *t)
{
	return port && port->tpgt ? port->tpgt : t->cfg->tpgt;
}

uint16_t iscsi_port_rel_id(const struct iscsi_port *port)
{
	return port ? port->rel_id : 1;
}

const char *iscsi_port_name(const struct iscsi_port *port)
{
	return port ? port->name : "default";
}
