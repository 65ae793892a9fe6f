// SPDX-License-Identifier: Apache-2.0
/* Unit tests for src/iscsi/port.c: per-port target lookup, SendTargets
 * and login scoped to a port, tags and relative port ids, the state
 * machine (refusing, draining with its drained callback), listening with
 * IP_FREEBIND. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/iscsi/iscsi_int.h"
#include "log_stub.h"

void iscsi_params_defaults(struct iscsi_params *p);

#define INI "iqn.1994-05.com.redhat:client1"
#define TA "iqn.2026-11.org.example:a.disk0"
#define TB "iqn.2026-11.org.example:b.disk0"

static struct cfg_target ta = {.name = TA, .tpgt = 1};
static struct cfg_target tb = {.name = TB, .tpgt = 1};
static struct cfg_portal pa = {.host = "127.0.0.1", .port = 3260};
static struct cfg_portal pb = {.host = "127.0.0.2", .port = 3260};
static struct cfg_portal pdef = {.host = "0.0.0.0", .port = 3260};
static struct cfg_iscsi cfg;
static struct iscsi_params params;
/* Distinct dispatcher identities (never called here). */
static struct scsi_dispatcher *disp_local = (struct scsi_dispatcher *)&ta;
static struct scsi_dispatcher *disp_proxy = (struct scsi_dispatcher *)&tb;
static struct iscsi_port *home, *proxy;

static int setup(void **st)
{
	char err[128];

	memset(&cfg, 0, sizeof(cfg));
	cfg.queue_depth = 128;
	cfg.max_recv_data_segment_length = 262144;
	cfg.max_burst_length = 1048576;
	cfg.first_burst_length = 65536;
	cfg.max_outstanding_r2t = 4;
	cfg.immediate_data = true;
	iscsi_g.cfg = &cfg;
	iscsi_params_defaults(&params);
	params.max_xmit_dsl = 8192;
	/* Default (legacy) registry: only ta. */
	assert_int_equal(iscsi_target_register(&ta, disp_local), 0);
	iscsi_target_set_portals(&pdef, 1);
	/* home: ta at tpgt 1, rel id 1; proxy (portal form): tb, tpgt 2,
	 * rel id 2. */
	home = iscsi_port_new("home", 1, 1);
	proxy = iscsi_port_new("proxy for b", 2, 2);
	assert_non_null(home);
	assert_non_null(proxy);
	assert_int_equal(iscsi_port_add_portal(home, &pa, err, sizeof(err)), 0);
	assert_int_equal(iscsi_port_add_portal(proxy, &pb, err, sizeof(err)),
			 0);
	assert_int_equal(iscsi_port_add_target(home, &ta, disp_local), 0);
	assert_int_equal(iscsi_port_add_target(proxy, &tb, disp_proxy), 0);
	return 0;
}

static int teardown(void **st)
{
	iscsi_port_free(home);
	iscsi_port_free(proxy);
	iscsi_target_registry_clear();
	iscsi_conn_reap();
	return 0;
}

static void test_lookup(void **st)
{
	char err[128];
	struct iscsi_target *t;

	assert_non_null(iscsi_port_find_target(home, TA));
	assert_null(iscsi_port_find_target(home, TB));
	t = iscsi_port_find_target(proxy, "IQN.2026-11.ORG.EXAMPLE:B.DISK0");
	assert_non_null(t);
	assert_ptr_equal(t->disp, disp_proxy);
	assert_null(iscsi_port_find_target(proxy, TA));
	/* The owner-side lookup is the default registry, unchanged. */
	assert_ptr_equal(iscsi_target_find(TA)->disp, disp_local);
	assert_null(iscsi_target_find(TB));
	/* Duplicates on one port are refused; a target on two ports is
	 * fine, each with its own dispatcher. */
	assert_int_equal(iscsi_port_add_target(home, &ta, disp_local), -EEXIST);
	assert_int_equal(iscsi_port_add_target(proxy, &ta, disp_proxy), 0);
	assert_ptr_equal(iscsi_port_find_target(proxy, TA)->disp, disp_proxy);
	assert_ptr_equal(iscsi_port_find_target(home, TA)->disp, disp_local);
	assert_int_equal(iscsi_port_add_portal(home, &pa, err, sizeof(err)),
			 -EEXIST);
	assert_int_equal(iscsi_port_target_count(proxy), 2);
	assert_int_equal(iscsi_port_portal_count(home), 1);
	assert_string_equal(iscsi_port_portal_at(home, 0)->host, "127.0.0.1");
	assert_null(iscsi_port_portal_at(home, 1));
	/* NULL = the default port. */
	assert_int_equal(iscsi_port_target_count(NULL), 1);
	assert_ptr_equal(iscsi_port_portal_at(NULL, 0), &pdef);
	assert_int_equal(iscsi_port_rel_id(NULL), 1);
	assert_int_equal(iscsi_port_rel_id(proxy), 2);
	assert_null(iscsi_port_new("x", 1, 0));
}

static void test_tags(void **st)
{
	struct iscsi_port *same = iscsi_port_new("takeover proxy", 0, 2);
	struct cfg_target t7 = {.name = "iqn.2026-11.org.example:t7",
				.tpgt = 7};

	assert_int_equal(iscsi_port_add_target(same, &t7, NULL), 0);
	/* tpgt 0: each target keeps its own. */
	assert_int_equal(iscsi_port_target_tpgt(
				 same, iscsi_port_find_target(same, t7.name)),
			 7);
	assert_int_equal(iscsi_port_target_tpgt(
				 proxy, iscsi_port_find_target(proxy, TB)),
			 2);
	assert_int_equal(iscsi_port_target_tpgt(NULL, iscsi_target_find(TA)),
			 1);
	iscsi_port_free(same);
}

/* ---- SendTargets scoped to the port ---- */

static char *sendtargets(const struct iscsi_port *port)
{
	static char buf[8192];
	struct iscsi_text_ctx ctx = {
		.type = ISCSI_SESSION_DISCOVERY,
		.initiator_name = INI,
		.peer_addr = "127.0.0.9",
		.local_addr = "127.0.0.2",
		.local_port = 3260,
		.port = port,
		.params = &params,
	};
	struct iscsi_text *t = iscsi_text_new(&ctx);
	uint8_t bhs[48] = {ISCSI_OP_TEXT_REQ | ISCSI_OP_IMMEDIATE,
			   ISCSI_FLAG_FINAL};
	static const char req[] = "SendTargets=All";
	struct iscsi_pdu_out o;

	assert_non_null(t);
	put_be32(bhs + ISCSI_BHS_ITT, 1);
	put_be32(bhs + ISCSI_BHS_TTT, 0xffffffff);
	iscsi_bhs_set_dlen(bhs, sizeof(req));
	assert_int_equal(
		iscsi_text_rx(t, bhs, (const uint8_t *)req, sizeof(req), &o),
		0);
	memcpy(buf, o.data, o.dlen);
	for (uint32_t i = 0; o.dlen && i < o.dlen - 1; i++)
		if (!buf[i])
			buf[i] = '|';
	buf[o.dlen ? o.dlen - 1 : 0] = 0;
	iscsi_text_free(t);
	return buf;
}

static void test_sendtargets(void **st)
{
	assert_string_equal(sendtargets(proxy),
			    "TargetName=" TB "|TargetAddress=127.0.0.2:3260,2");
	assert_string_equal(sendtargets(home),
			    "TargetName=" TA "|TargetAddress=127.0.0.1:3260,1");
	/* Default port: legacy registry and portals (wildcard -> local). */
	assert_string_equal(sendtargets(NULL),
			    "TargetName=" TA "|TargetAddress=127.0.0.2:3260,1");
}

/* ---- login scoped to the port ---- */

static int bind_cb(void *arg, const struct iscsi_login_result *res)
{
	return 0x55;
}

static uint16_t login(const struct iscsi_port *port, const char *target,
		      char *tpgt_out)
{
	struct iscsi_login_ctx ctx = {
		.cfg = &cfg,
		.peer_addr = "127.0.0.9",
		.local_addr = "127.0.0.2",
		.local_port = 3260,
		.port = port,
		.bind = bind_cb,
	};
	struct iscsi_login *l = iscsi_login_new(&ctx);
	uint8_t bhs[48] = {ISCSI_OP_LOGIN_REQ | ISCSI_OP_IMMEDIATE,
			   ISCSI_FLAG_FINAL | (1 << 2) | 3};
	char data[512];
	int n = snprintf(data, sizeof(data),
			 "InitiatorName=" INI "|SessionType=Normal|"
			 "TargetName=%s",
			 target);
	struct iscsi_pdu_out o;
	uint16_t stat;

	assert_non_null(l);
	for (int i = 0; i < n; i++)
		if (data[i] == '|')
			data[i] = 0;
	bhs[8] = 0x80;
	put_be32(bhs + 16, 1);
	iscsi_bhs_set_dlen(bhs, (uint32_t)n + 1);
	iscsi_login_rx(l, bhs, (const uint8_t *)data, (uint32_t)n + 1, &o);
	stat = get_be16(o.bhs + 36);
	if (tpgt_out) {
		const char *p =
			memmem(o.data, o.dlen, "TargetPortalGroupTag=", 21);

		snprintf(tpgt_out, 8, "%s", p ? p + 21 : "-");
	}
	iscsi_login_free(l);
	return stat;
}

static void test_login_scope(void **st)
{
	char tag[8];

	assert_int_equal(login(proxy, TB, tag), 0);
	assert_string_equal(tag, "2");
	assert_int_equal(login(proxy, TA, NULL),
			 ISCSI_LOGIN_STATUS_TGT_NOT_FOUND);
	assert_int_equal(login(home, TA, tag), 0);
	assert_string_equal(tag, "1");
	assert_int_equal(login(home, TB, NULL),
			 ISCSI_LOGIN_STATUS_TGT_NOT_FOUND);
	assert_int_equal(login(NULL, TA, NULL), 0);
	assert_int_equal(login(NULL, TB, NULL),
			 ISCSI_LOGIN_STATUS_TGT_NOT_FOUND);
}

/* ---- states ---- */

static int drained_calls;

static void on_drained(struct iscsi_port *p, void *arg)
{
	assert_ptr_equal(arg, &drained_calls);
	drained_calls++;
}

static void test_states(void **st)
{
	struct iscsi_conn *c;

	assert_int_equal(iscsi_port_state(proxy), ISCSI_PORT_CLOSED);
	assert_true(iscsi_port_refuses(proxy));
	assert_false(iscsi_port_refuses(NULL)); /* default port: open */
	iscsi_port_set_state(proxy, ISCSI_PORT_REFUSING);
	assert_true(iscsi_port_refuses(proxy));
	assert_false(iscsi_port_holds(proxy));
	iscsi_port_set_state(proxy, ISCSI_PORT_OPEN);
	assert_false(iscsi_port_refuses(proxy));
	assert_false(iscsi_port_holds(proxy));

	/* A connection of the port with two commands in flight. */
	c = iscsi_conn_new(-1, "127.0.0.9", 40000, "127.0.0.2", 3260);
	assert_non_null(c);
	assert_int_equal(iscsi_conn_set_port(c, proxy), 0);
	assert_ptr_equal(c->login_ctx.port, proxy);
	c->n_tasks = 2;
	assert_int_equal(iscsi_port_inflight(proxy), 2);
	assert_int_equal(iscsi_port_inflight(home), 0);

	drained_calls = 0;
	iscsi_port_set_drained_cb(proxy, on_drained, &drained_calls);
	iscsi_port_set_state(proxy, ISCSI_PORT_DRAINING);
	assert_true(iscsi_port_holds(proxy));
	assert_true(iscsi_port_refuses(proxy));
	assert_int_equal(drained_calls, 0);
	c->n_tasks = 1;
	iscsi_port_check_drained(proxy);
	assert_int_equal(drained_calls, 0);
	c->tmf_pending = 1;
	c->n_tasks = 0;
	iscsi_port_check_drained(proxy);
	assert_int_equal(drained_calls, 0);
	c->tmf_pending = 0;
	iscsi_port_check_drained(proxy);
	assert_int_equal(drained_calls, 1);
	iscsi_port_check_drained(proxy); /* once per DRAINING */
	assert_int_equal(drained_calls, 1);

	/* Drop: the connection is closed (initiator reconnects). */
	assert_int_equal(iscsi_port_drop_sessions(home), 0);
	assert_int_equal(iscsi_port_drop_sessions(proxy), 1);
	assert_int_equal(c->state, CONN_CLOSED);
	assert_int_equal(iscsi_port_drop_sessions(proxy), 0);
	iscsi_conn_reap();

	/* Draining with nothing in flight: drained at once. */
	iscsi_port_set_state(proxy, ISCSI_PORT_OPEN);
	iscsi_port_set_state(proxy, ISCSI_PORT_DRAINING);
	assert_int_equal(drained_calls, 2);
	assert_string_equal(iscsi_port_state_name(ISCSI_PORT_DRAINING),
			    "draining");
}

/* A port freed while one of its connections still has a command at the
 * dispatcher stays allocated until that connection is gone (ASan checks
 * the use). */
static void test_free_with_zombie(void **st)
{
	struct iscsi_port *p = iscsi_port_new("short-lived", 2, 2);
	struct iscsi_conn *c;

	assert_int_equal(iscsi_port_add_target(p, &tb, NULL), 0);
	c = iscsi_conn_new(-1, "127.0.0.9", 40001, "127.0.0.2", 3260);
	assert_non_null(c);
	assert_int_equal(iscsi_conn_set_port(c, p), 0);
	iscsi_port_set_state(p, ISCSI_PORT_OPEN);
	c->n_tasks = 1;
	iscsi_port_free(p); /* drops the connection; it stays a zombie */
	assert_int_equal(c->state, CONN_CLOSED);
	assert_ptr_equal(c->port, p);
	assert_int_equal(iscsi_port_inflight(p), 1);
	c->n_tasks = 0;
	iscsi_conn_maybe_free(c);
	iscsi_conn_reap(); /* frees c, then the port */
}

/* The owner's ordering query: commands of (initiator, target) still at
 * the dispatcher or receiving data on a port; and the one-shot activity
 * notification that re-checks held proxied commands. */
static int activity_calls;

static void on_activity(struct iscsi_port *p, void *arg)
{
	assert_ptr_equal(p, home);
	assert_ptr_equal(arg, &activity_calls);
	activity_calls++;
}

static void test_nexus_busy(void **st)
{
	struct iscsi_session sess = {.refs = 1};
	struct iscsi_task t = {.state = T_DATA};
	struct iscsi_conn *c;

	snprintf(sess.itn.initiator_name, sizeof(sess.itn.initiator_name), "%s",
		 INI);
	snprintf(sess.itn.target_name, sizeof(sess.itn.target_name), "%s", TA);
	c = iscsi_conn_new(-1, "127.0.0.9", 40002, "127.0.0.1", 3260);
	assert_non_null(c);
	assert_int_equal(iscsi_conn_set_port(c, home), 0);
	assert_false(iscsi_port_nexus_busy(home, INI, TA));
	c->sess = &sess;
	assert_false(iscsi_port_nexus_busy(home, INI, TA)); /* idle */
	c->n_scsi = 1;
	assert_true(iscsi_port_nexus_busy(home, INI, TA));
	assert_true(iscsi_port_nexus_busy(home, INI,
					  "IQN.2026-11.ORG.EXAMPLE:A.DISK0"));
	assert_false(iscsi_port_nexus_busy(home, "iqn.other:x", TA));
	assert_false(iscsi_port_nexus_busy(home, INI, TB));
	assert_false(iscsi_port_nexus_busy(proxy, INI, TA));
	/* closed connection, command still at the dispatcher: busy */
	iscsi_conn_close(c, "test");
	assert_true(iscsi_port_nexus_busy(home, INI, TA));
	c->n_scsi = 0;
	c->tasks = &t; /* collecting data-out */
	assert_true(iscsi_port_nexus_busy(home, INI, TA));
	t.dropped = true;
	assert_false(iscsi_port_nexus_busy(home, INI, TA));
	c->tasks = NULL;

	/* one-shot activity callback (no loop: runs at once) */
	activity_calls = 0;
	iscsi_port_task_done(home);
	assert_int_equal(activity_calls, 0);
	iscsi_port_notify_activity(home, on_activity, &activity_calls);
	iscsi_port_task_done(proxy);
	assert_int_equal(activity_calls, 0);
	iscsi_port_task_done(home);
	assert_int_equal(activity_calls, 1);
	iscsi_port_task_done(home);
	assert_int_equal(activity_calls, 1);
	iscsi_port_notify_activity(home, on_activity, &activity_calls);
	iscsi_port_notify_activity(home, NULL, NULL); /* disarmed */
	iscsi_port_task_done(home);
	assert_int_equal(activity_calls, 1);
	c->sess = NULL;
	iscsi_conn_reap();
}

/* A takeover port binds an address that is not on any interface. */
static void test_listen_freebind(void **st)
{
	struct cfg_portal doc = {.host = "192.0.2.123", .port = 0};
	struct iscsi_port *p = iscsi_port_new("takeover", 1, 2);
	char err[160] = "";
	int rc;

	assert_int_equal(iscsi_port_add_portal(p, &doc, err, sizeof(err)), 0);
	rc = iscsi_port_listen(p, err, sizeof(err));
	if (rc == -EPERM || rc == -EACCES)
		skip(); /* no IP_FREEBIND and no CAP_NET_ADMIN */
	assert_int_equal(rc, 0);
	assert_int_equal(iscsi_port_state(p), ISCSI_PORT_REFUSING);
	assert_int_equal(iscsi_port_listen(p, err, sizeof(err)), 0);
	iscsi_port_unlisten(p);
	assert_int_equal(iscsi_port_state(p), ISCSI_PORT_CLOSED);
	iscsi_port_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sendtargets, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_login_scope, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_states, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_with_zombie, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_nexus_busy, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_listen_freebind, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
