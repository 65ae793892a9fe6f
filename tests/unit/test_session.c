// SPDX-License-Identifier: Apache-2.0
/* Sessions: TSIH allocation, reinstatement ordering, MaxConnections=1,
 * the CmdSN window. No event loop: connections are reaped explicitly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/iscsi/iscsi_int.h"
#include "duet/log.h"

static struct cfg_iscsi cfg = {.queue_depth = 4, .login_timeout = 15};
static unsigned n_nexus_end;

static void nop_submit(struct scsi_dispatcher *d, struct scsi_task *t)
{
	t->done(t);
}

static void count_nexus_end(struct scsi_dispatcher *d,
			    const struct scsi_itn *itn)
{
	n_nexus_end++;
}

static const struct scsi_dispatch_ops ops = {.submit = nop_submit,
					     .nexus_end = count_nexus_end};
static struct scsi_dispatcher disp = {.ops = &ops};
static struct cfg_target tcfg = {.name = "iqn.2026-11.test:t", .tpgt = 3};
static struct iscsi_target target = {.cfg = &tcfg, .disp = &disp};

static struct iscsi_conn *new_conn(void)
{
	iscsi_g.cfg = &cfg;
	return iscsi_conn_new(-1, "127.0.0.1", 1, "127.0.0.1", 3260);
}

static void fill_res(struct iscsi_login_result *r, uint8_t isid0, uint16_t tsih,
		     uint16_t cid)
{
	memset(r, 0, sizeof(*r));
	r->type = ISCSI_SESSION_NORMAL;
	snprintf(r->initiator_name, sizeof(r->initiator_name),
		 "iqn.2026-11.test:i");
	r->target = &target;
	r->isid[0] = isid0;
	r->tsih = tsih;
	r->cid = cid;
	r->cmdsn = 10;
}

static void test_new_sessions_get_unique_tsih(void **state)
{
	struct iscsi_login_result r;
	struct iscsi_conn *a = new_conn(), *b = new_conn();
	int ta, tb;

	fill_res(&r, 1, 0, 0);
	ta = iscsi_session_bind(a, &r);
	fill_res(&r, 2, 0, 0);
	tb = iscsi_session_bind(b, &r);
	assert_true(ta > 0 && tb > 0 && ta != tb);
	assert_int_equal(a->sess->itn.tpgt, 3);
	assert_int_equal(a->sess->itn.rel_tgt_port_id, 1);
	assert_string_equal(a->sess->itn.target_name, "iqn.2026-11.test:t");
	assert_int_equal(a->sess->exp_cmdsn, 10);
	assert_int_equal(iscsi_session_max_cmdsn(a->sess), 13);
	assert_int_equal(target.n_sessions, 2);
	iscsi_conn_close(a, "t");
	iscsi_conn_close(b, "t");
	iscsi_conn_reap();
	assert_int_equal(iscsi_session_count(), 0);
	assert_int_equal(target.n_sessions, 0);
}

static void test_reinstatement_waits_for_old(void **state)
{
	struct iscsi_login_result r;
	struct iscsi_conn *a = new_conn(), *b = new_conn();
	struct iscsi_session *old;

	n_nexus_end = 0;
	fill_res(&r, 7, 0, 0);
	assert_true(iscsi_session_bind(a, &r) > 0);
	old = a->sess;
	assert_true(iscsi_session_bind(b, &r) > 0);
	assert_ptr_not_equal(b->sess, old);
	assert_int_equal(a->state, CONN_CLOSED);  /* old connection closed */
	assert_ptr_equal(b->sess->replaces, old); /* new one must wait */
	assert_int_equal(n_nexus_end, 0);
	iscsi_conn_reap(); /* old connection and session go */
	assert_int_equal(n_nexus_end, 1);
	assert_null(b->sess->replaces);
	iscsi_conn_close(b, "t");
	iscsi_conn_reap();
	assert_int_equal(iscsi_session_count(), 0);
}

static void test_tsih_login_rules(void **state)
{
	struct iscsi_login_result r;
	struct iscsi_conn *a = new_conn(), *b = new_conn(), *c = new_conn();
	int t;

	fill_res(&r, 9, 0, 1);
	t = iscsi_session_bind(a, &r);
	assert_true(t > 0);
	fill_res(&r, 9, (uint16_t)t, 2); /* second connection: refused */
	assert_int_equal(iscsi_session_bind(b, &r),
			 -ISCSI_LOGIN_STATUS_CONN_ADD_FAILED);
	fill_res(&r, 9, (uint16_t)(t + 100), 1); /* unknown TSIH */
	assert_int_equal(iscsi_session_bind(b, &r),
			 -ISCSI_LOGIN_STATUS_NO_SESSION);
	fill_res(&r, 9, (uint16_t)t, 1); /* same CID: reinstatement */
	assert_int_equal(iscsi_session_bind(c, &r), t);
	assert_int_equal(a->state, CONN_CLOSED);
	assert_ptr_equal(c->sess, a->sess);
	assert_ptr_equal(c->wait_for, a);
	iscsi_conn_reap();
	assert_null(c->wait_for);
	assert_int_equal(iscsi_session_count(), 1);
	iscsi_conn_close(b, "t");
	iscsi_conn_close(c, "t");
	iscsi_conn_reap();
	assert_int_equal(iscsi_session_count(), 0);
}

static void test_cmdsn_window(void **state)
{
	struct iscsi_session s = {.exp_cmdsn = 0xfffffffe, .queue_depth = 4};

	s.max_cmdsn = s.exp_cmdsn + 3;
	assert_int_equal(iscsi_session_cmdsn_check(&s, 0xfffffffe), 0);
	assert_int_equal(iscsi_session_cmdsn_check(&s, 0xffffffff), 1);
	assert_int_equal(iscsi_session_cmdsn_check(&s, 1), 1); /* wraps */
	assert_int_equal(iscsi_session_cmdsn_check(&s, 2), -1);
	assert_int_equal(iscsi_session_cmdsn_check(&s, 0xfffffffd), -1);
	/* tasks in flight shrink the window; MaxCmdSN never goes back */
	s.inflight = 4;
	assert_int_equal(iscsi_session_max_cmdsn(&s), 1);
	s.exp_cmdsn += 4;
	assert_int_equal(iscsi_session_max_cmdsn(&s), 1);
	s.inflight = 0;
	assert_int_equal(iscsi_session_max_cmdsn(&s), 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_sessions_get_unique_tsih),
		cmocka_unit_test(test_reinstatement_waits_for_old),
		cmocka_unit_test(test_tsih_login_rules),
		cmocka_unit_test(test_cmdsn_window),
	};

	log_init("test_session", true, LOG_LVL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
