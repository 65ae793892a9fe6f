// SPDX-License-Identifier: Apache-2.0
/*
 * The pair node's life cycle: the home and proxy iSCSI ports, the
 * interconnect link and the two virtual adapters, wired as proxy.h says.
 * The HA side (path, state machine, actions) is node_ha.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#include "duet/log.h"
#include "duet/scsi.h"
#include "duet/util.h"
#include "node_int.h"

uint64_t node_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void node_hostport(char *buf, size_t len, const struct cfg_portal *p)
{
	bool v6 = strchr(p->host, ':') != NULL;

	snprintf(buf, len, "%s%s%s:%u", v6 ? "[" : "", p->host, v6 ? "]" : "",
		 p->port);
}

/* ---- the link's callbacks, routed per proxy.h ---- */

static void link_up(struct ic_link *l, void *arg)
{
	struct duet_node *n = arg;

	n->cnt.ic_ups++;
	log_info("pair: interconnect to %s (%s) up", n->partner->name,
		 n->ic_peer);
	node_ha_link_up(n);
}

static void link_down(struct ic_link *l, int err, const char *reason, void *arg)
{
	struct duet_node *n = arg;

	n->cnt.ic_downs++;
	log_warn("pair: interconnect to %s down: %s", n->partner->name,
		 reason ? reason : strerror(-err));
	/* Proxy connections first: their unanswered commands then complete
	 * without a response and the initiators resend them after they
	 * reconnect (no UNIT ATTENTION reaches them). */
	node_ha_link_down(n);
	proxy_vadapter_link_down(n->va);
	proxy_remote_link_down(n->rm);
}

static uint8_t *link_get_buf(struct ic_link *l, const struct ic_msg *m,
			     void *arg)
{
	struct duet_node *n = arg;

	if (proxy_msg_for_vadapter(m))
		return proxy_vadapter_get_buf(n->va, m);
	if (proxy_msg_for_remote(m))
		return proxy_remote_get_buf(n->rm, m);
	return NULL;
}

static void link_recv(struct ic_link *l, const struct ic_msg *m, uint8_t *data,
		      uint32_t data_len, void *arg)
{
	struct duet_node *n = arg;

	if (proxy_msg_for_vadapter(m)) {
		proxy_vadapter_recv(n->va, m, data, data_len);
	} else if (proxy_msg_for_remote(m)) {
		proxy_remote_recv(n->rm, m, data, data_len);
	} else if (m->hdr.type == IC_HA) {
		node_ha_recv(n, m);
	} else if (m->hdr.type == IC_CONN_LIST) {
		node_conns_recv(n, m);
	} else if (m->hdr.type == IC_ERROR) {
		log_warn("pair: partner %s refused our %s message (tag %" PRIu64
			 "): code %u: %s",
			 n->partner->name, ic_type_name(m->u.error.bad_type),
			 m->hdr.tag, m->u.error.code, m->u.error.reason);
	} else {
		log_info("pair: %s message from %s ignored (not used by this "
			 "version)",
			 ic_type_name(m->hdr.type), n->partner->name);
	}
}

static void link_writable(struct ic_link *l, void *arg)
{
	struct duet_node *n = arg;

	proxy_vadapter_writable(n->va);
	proxy_remote_writable(n->rm);
}

static const struct ic_link_ops link_ops = {
	.up = link_up,
	.down = link_down,
	.get_buf = link_get_buf,
	.recv = link_recv,
	.writable = link_writable,
};

/* ---- the owner side's hooks ---- */

static struct scsi_dispatcher *lookup_target(void *arg, const char *name)
{
	struct duet_node *n = arg;

	for (size_t i = 0; i < n->n_targets; i++)
		if (!strcasecmp(n->cfg->targets[i].name, name))
			return scsi_target_dispatcher(n->targets[i]);
	return NULL;
}

static void home_activity(struct iscsi_port *port, void *arg)
{
	struct duet_node *n = arg;

	if (n->rm)
		proxy_remote_kick(n->rm);
}

/* An older home session of (initiator, target) still has commands at the
 * SCSI layer: the new proxied nexus waits; kick when the home port has
 * finished something. */
static bool local_busy(void *arg, const char *initiator, const char *target)
{
	struct duet_node *n = arg;

	if (!iscsi_port_nexus_busy(n->home, initiator, target))
		return false;
	iscsi_port_notify_activity(n->home, home_activity, n);
	return true;
}

/* ---- the proxy port's dispatcher ---- */

static void shim_submit(struct scsi_dispatcher *d, struct scsi_task *t)
{
	struct duet_node *n = container_of(d, struct duet_node, shim);

	if (n->va) {
		scsi_dispatch_submit(proxy_vadapter_dispatcher(n->va), t);
		return;
	}
	proxy_fail_task(t); /* stopping: retryable, never GOOD */
	t->done(t);
}

static void shim_tmf(struct scsi_dispatcher *d, struct scsi_tmf *tmf)
{
	struct duet_node *n = container_of(d, struct duet_node, shim);

	if (n->va) {
		scsi_dispatch_tmf(proxy_vadapter_dispatcher(n->va), tmf);
		return;
	}
	tmf->result = SCSI_TMF_FAILED;
	tmf->done(tmf);
}

static void shim_nexus_end(struct scsi_dispatcher *d,
			   const struct scsi_itn *itn)
{
	struct duet_node *n = container_of(d, struct duet_node, shim);

	if (n->va)
		scsi_dispatch_nexus_end(proxy_vadapter_dispatcher(n->va), itn);
}

static const struct scsi_dispatch_ops shim_ops = {
	.submit = shim_submit,
	.tmf = shim_tmf,
	.nexus_end = shim_nexus_end,
};

/* ---- ports ---- */

static int add_portals(struct iscsi_port *port, const struct cfg_portal *p,
		       size_t np)
{
	char err[256];
	int rc;

	for (size_t i = 0; i < np; i++) {
		err[0] = '\0';
		rc = iscsi_port_add_portal(port, &p[i], err, sizeof(err));
		if (rc < 0) {
			log_err("port %s: %s", iscsi_port_name(port), err);
			return rc;
		}
	}
	return 0;
}

static int port_listen(struct iscsi_port *port)
{
	char err[512] = "";
	int rc = iscsi_port_listen(port, err, sizeof(err));

	if (rc < 0)
		log_err("port %s: %s", iscsi_port_name(port),
			err[0] ? err : strerror(-rc));
	return rc;
}

static int make_home(struct duet_node *n)
{
	int rc;

	n->home = iscsi_port_new("home", 0, 1);
	if (!n->home)
		return -ENOMEM;
	rc = add_portals(n->home, n->self->portals, n->self->n_portals);
	for (size_t i = 0; rc == 0 && i < n->n_targets; i++)
		rc = iscsi_port_add_target(
			n->home, &n->cfg->targets[i],
			scsi_target_dispatcher(n->targets[i]));
	if (rc == 0)
		rc = port_listen(n->home); /* REFUSING until the machine
					    * says we hold our portals */
	return rc;
}

/* Portal form: one tag for the proxy port, the partner's targets' + 1. */
static uint16_t proxy_tpgt(const struct duet_node *n)
{
	const struct cfg_node *p = n->partner;
	uint16_t t = p->n_targets ? p->targets[0].tpgt : 1;

	if (n->takeover)
		return 0; /* each target keeps its own tag */
	for (size_t i = 1; i < p->n_targets; i++)
		if (p->targets[i].tpgt != t)
			log_warn("pair: partner target %s has tpgt %u, not %u: "
				 "the proxy port uses %u for all",
				 p->targets[i].name, p->targets[i].tpgt, t,
				 t + 1);
	return (uint16_t)(t + 1);
}

static int make_proxy(struct duet_node *n)
{
	struct scsi_dispatcher *d = &n->shim;
	char name[96];
	int rc;

	snprintf(name, sizeof(name), "proxy for %s", n->partner->name);
	n->proxy = iscsi_port_new(name, proxy_tpgt(n), 2);
	if (!n->proxy)
		return -ENOMEM;
	if (n->takeover)
		rc = add_portals(n->proxy, n->partner->portals,
				 n->partner->n_portals);
	else
		rc = add_portals(n->proxy, n->self->proxy_portals,
				 n->self->n_proxy_portals);
	for (size_t i = 0; rc == 0 && i < n->partner->n_targets; i++)
		rc = iscsi_port_add_target(n->proxy, &n->partner->targets[i],
					   d);
	if (rc == 0 && !n->takeover)
		rc = port_listen(n->proxy); /* REFUSING until failover */
	return rc;
}

/* ---- link and adapters ---- */

static int make_link(struct duet_node *n)
{
	const struct cfg_cluster *c = &n->cfg->cluster;
	struct ic_link_cfg lc = {
		.cluster = c->name,
		.local_node = n->self->name,
		.peer_node = n->partner->name,
		.secret = c->secret,
		.secret_len = c->secret_len,
		.listen_addr = n->ic_listen,
		.peer_addr = n->ic_peer,
		.role = IC_ROLE_AUTO,
		.hb_interval_ms = c->heartbeat_interval_ms,
		.hb_deadline_ms = c->heartbeat_timeout_ms,
	};
	char err[256] = "";
	int rc;

	_Static_assert(IC_FP_LEN == CFG_FINGERPRINT_LEN, "fingerprint size");
	memcpy(lc.fingerprint, c->fingerprint, IC_FP_LEN);
	node_hostport(n->ic_listen, sizeof(n->ic_listen),
		      &n->self->interconnect);
	node_hostport(n->ic_peer, sizeof(n->ic_peer),
		      &n->partner->interconnect);
	rc = ic_link_new(n->base, &lc, &link_ops, n, &n->link, err,
			 sizeof(err));
	if (rc < 0) {
		log_err("pair: interconnect: %s", err[0] ? err : strerror(-rc));
		return rc;
	}
	struct proxy_vadapter_cfg vc = {.link = n->link};
	struct proxy_remote_cfg rcfg = {
		.link = n->link,
		.lookup = lookup_target,
		.lookup_arg = n,
		.local_busy = local_busy,
		.local_busy_arg = n,
	};

	rc = proxy_vadapter_new(&vc, &n->va);
	if (rc == 0)
		rc = proxy_remote_new(&rcfg, &n->rm);
	if (rc < 0)
		log_err("pair: cannot create the virtual adapters: %s",
			strerror(-rc));
	return rc;
}

int node_start(struct event_base *base, const struct duet_config *cfg,
	       struct scsi_target *const *targets, struct duet_node **out)
{
	struct duet_node *n;
	int rc;

	*out = NULL;
	if (!cfg->has_cluster)
		return -EINVAL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->base = base;
	n->cfg = cfg;
	n->self = config_self(cfg);
	n->partner = config_partner(cfg);
	n->takeover = cfg->cluster.proxy == CFG_PROXY_TAKEOVER;
	n->targets = targets;
	n->n_targets = cfg->n_targets;
	n->force = NODE_PATH_AUTO;
	n->shim.ops = &shim_ops;
	rc = make_link(n);
	if (rc == 0)
		rc = make_home(n);
	if (rc == 0)
		rc = make_proxy(n);
	if (rc == 0)
		rc = node_ha_start(n);
	if (rc == 0) {
		rc = ic_link_start(n->link);
		if (rc < 0)
			log_err("pair: interconnect %s: cannot start: %s",
				n->ic_listen, strerror(-rc));
	}
	if (rc < 0) {
		node_stop(n);
		node_free(n);
		return rc;
	}
	node_ctl_register(n);
	log_info("pair: node %s of cluster %s (%s form), partner %s; "
		 "interconnect %s <-> %s",
		 n->self->name, cfg->cluster.name,
		 n->takeover ? "takeover" : "portal", n->partner->name,
		 n->ic_listen, n->ic_peer);
	*out = n;
	return 0;
}

void node_stop(struct duet_node *n)
{
	if (!n || n->stopping)
		return;
	n->stopping = true;
	log_info("pair: node %s stopping: interconnect closed, proxy port "
		 "closed",
		 n->self->name);
	node_ha_stop(n);
	if (n->proxy) {
		iscsi_port_unlisten(n->proxy);
		iscsi_port_drop_sessions(n->proxy);
	}
	if (n->link) {
		ic_link_free(n->link);
		n->link = NULL;
	}
	/* Every proxied command still here completes (retryable status);
	 * the owner side aborts what runs and frees itself once idle. */
	if (n->va) {
		proxy_vadapter_free(n->va);
		n->va = NULL;
	}
	if (n->rm) {
		proxy_remote_free(n->rm);
		n->rm = NULL;
	}
	if (n->home)
		iscsi_port_notify_activity(n->home, NULL, NULL);
}

void node_free(struct duet_node *n)
{
	if (!n)
		return;
	node_stop(n);
	if (n->proxy)
		iscsi_port_free(n->proxy);
	if (n->home)
		iscsi_port_free(n->home);
	free(n);
}
