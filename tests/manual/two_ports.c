// SPDX-License-Identifier: Apache-2.0
/*
 * By-hand check of iSCSI ports: one process, two ports on two loopback
 * addresses, as a node of the pair would have them.
 *   home  127.0.0.1:PORT  target ...:a.disk0  tpgt 1, relative port 1, open
 *   proxy 127.0.0.2:PORT  target ...:b.disk0  tpgt 2, relative port 2,
 *         state from argv[2] ("refusing" or "open")
 * SIGUSR1: proxy -> draining; once drained its sessions are dropped and
 * it goes back to refusing. SIGINT/SIGTERM: stop.
 *
 *   make build/libduet.a
 *   cc -std=c11 -D_GNU_SOURCE -Iinclude -o build/two_ports \
 *      tests/manual/two_ports.c build/libduet.a \
 *      -levent -lconfig -luring -lisal -lcrypto -lpthread
 *   build/two_ports 3270 refusing &
 *   iscsi-ls -s iscsi://127.0.0.2:3270     # lists b.disk0 at ...:3270,2
 *   iscsi-inq iscsi://127.0.0.2:3270/iqn.2026-11.org.example:b.disk0/0
 *                                           # refused: 0x0301
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "duet/bs.h"
#include "duet/iscsi.h"
#include "duet/log.h"
#include "duet/scsi.h"

static struct iscsi_port *proxy;
static struct event_base *base;

static void on_drained(struct iscsi_port *p, void *arg)
{
	iscsi_port_drop_sessions(p);
	iscsi_port_set_state(p, ISCSI_PORT_REFUSING);
}

static void on_usr1(int sig, short what, void *arg)
{
	iscsi_port_set_drained_cb(proxy, on_drained, NULL);
	iscsi_port_set_state(proxy, ISCSI_PORT_DRAINING);
}

static void on_stopped(void *arg)
{
	event_base_loopexit(base, NULL);
}

static void on_term(int sig, short what, void *arg)
{
	iscsi_shutdown(on_stopped, NULL);
}

static struct iscsi_port *mkport(const char *name, const char *host,
				 uint16_t portno, uint16_t tpgt, uint16_t rel,
				 struct cfg_target *ct, struct cfg_portal *pp)
{
	struct iscsi_port *p = iscsi_port_new(name, tpgt, rel);
	struct scsi_target *t = scsi_target_new(ct->name);
	char err[256] = "";

	pp->host = (char *)host;
	pp->port = portno;
	if (!p || !t ||
	    scsi_target_add_lun(t, &ct->luns[0], err, sizeof(err)) ||
	    iscsi_port_add_portal(p, pp, err, sizeof(err)) ||
	    iscsi_port_add_target(p, ct, scsi_target_dispatcher(t)) ||
	    iscsi_port_listen(p, err, sizeof(err))) {
		fprintf(stderr, "%s: %s\n", name, err);
		exit(1);
	}
	return p;
}

int main(int argc, char **argv)
{
	static struct cfg_lun la = {.path = "/tmp/duet-two-ports-a.img",
				    .size = 64 << 20};
	static struct cfg_lun lb = {.path = "/tmp/duet-two-ports-b.img",
				    .size = 64 << 20};
	static struct cfg_target ta = {
		.name = "iqn.2026-11.org.example:a.disk0",
		.tpgt = 1,
		.luns = &la,
		.n_luns = 1};
	static struct cfg_target tb = {
		.name = "iqn.2026-11.org.example:b.disk0",
		.tpgt = 1,
		.luns = &lb,
		.n_luns = 1};
	static struct cfg_portal pa, pb;
	struct cfg_iscsi params;
	struct duet_config defaults;
	uint16_t portno = argc > 1 ? (uint16_t)atoi(argv[1]) : 3270;
	bool open = argc > 2 && !strcmp(argv[2], "open");
	struct iscsi_port *home;

	log_init("two_ports", true, LOG_LVL_DEBUG);
	config_defaults(&defaults);
	params = defaults.iscsi;
	base = event_base_new();
	if (!base || bs_init(base, 4) < 0 || iscsi_init(base, &params) < 0)
		return 1;
	home = mkport("home", "127.0.0.1", portno, 1, 1, &ta, &pa);
	proxy = mkport("proxy for b", "127.0.0.2", portno, 2, 2, &tb, &pb);
	iscsi_port_set_state(home, ISCSI_PORT_OPEN);
	iscsi_port_set_state(proxy,
			     open ? ISCSI_PORT_OPEN : ISCSI_PORT_REFUSING);
	event_add(evsignal_new(base, SIGUSR1, on_usr1, NULL), NULL);
	event_add(evsignal_new(base, SIGINT, on_term, NULL), NULL);
	event_add(evsignal_new(base, SIGTERM, on_term, NULL), NULL);
	signal(SIGPIPE, SIG_IGN);
	event_base_dispatch(base);
	bs_shutdown();
	return 0;
}
