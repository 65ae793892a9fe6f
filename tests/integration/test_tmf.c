// SPDX-License-Identifier: Apache-2.0
/* Task management and session reinstatement against a real duetd. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

#define CHUNK (1u << 20)
#define NCMD 24

static struct duet_daemon D;

static int setup(void **state)
{
	return duet_fixture_quick(&D, TEST_IQN, 1, 128ull << 20);
}

static int teardown(void **state)
{
	return duet_fixture_stop(&D);
}

struct io {
	struct scsi_task *task;
	int status; /* -1 pending */
};

static void io_cb(struct iscsi_context *ctx, int status, void *data, void *priv)
{
	struct io *io = priv;

	io->status = status;
}

struct tmf {
	int done, status, response;
};

static void tmf_cb(struct iscsi_context *ctx, int status, void *data,
		   void *priv)
{
	struct tmf *t = priv;

	t->done = 1;
	t->status = status;
	t->response = data ? (int)*(uint32_t *)data : -1;
}

static int pending(const struct io *ios, int n)
{
	int p = 0;

	for (int i = 0; i < n; i++)
		p += ios[i].status == -1;
	return p;
}

static void submit_writes(struct iscsi_context *ctx, struct io *ios,
			  uint8_t *buf, uint64_t base)
{
	for (int i = 0; i < NCMD; i++) {
		uint64_t lba = base + (uint64_t)i * (CHUNK / 512);

		duet_fill(buf + (size_t)i * CHUNK, CHUNK, lba, 0xab);
		ios[i].status = -1;
		ios[i].task = iscsi_write16_task(
			ctx, 0, lba, buf + (size_t)i * CHUNK, CHUNK, 512, 0, 0,
			0, 0, 0, io_cb, &ios[i]);
		assert_non_null(ios[i].task);
	}
}

static void test_abort_task(void **state)
{
	struct iscsi_context *ctx = duet_iscsi_login(&D, TEST_IQN, 0, NULL);
	uint8_t *buf = malloc((size_t)NCMD * CHUNK);
	struct io ios[NCMD];
	struct tmf t = {0};
	int loops = 0;

	assert_non_null(ctx);
	assert_non_null(buf);
	submit_writes(ctx, ios, buf, 2048);
	/* abort the last one, most likely still queued or in flight */
	assert_int_equal(iscsi_task_mgmt_abort_task_async(
				 ctx, ios[NCMD - 1].task, tmf_cb, &t),
			 0);
	while (!t.done) {
		assert_int_equal(duet_iscsi_poll(ctx, 1000), 0);
		assert_true(++loops < 20000);
	}
	assert_int_equal(t.status, SCSI_STATUS_GOOD);
	/* FUNCTION COMPLETE (0) or TASK DOES NOT EXIST (1: already done) */
	if (t.response != 0 && t.response != 1)
		fail_msg("ABORT TASK response %d", t.response);
	if (t.response == 0 && ios[NCMD - 1].status == -1)
		iscsi_scsi_cancel_task(ctx, ios[NCMD - 1].task);
	while (pending(ios, NCMD)) {
		assert_int_equal(duet_iscsi_poll(ctx, 1000), 0);
		assert_true(++loops < 40000);
	}
	for (int i = 0; i < NCMD - 1; i++)
		assert_int_equal(ios[i].status, SCSI_STATUS_GOOD);
	/* abort of an ITT the target never saw: TASK DOES NOT EXIST or
	 * FUNCTION COMPLETE, never a hang */
	memset(&t, 0, sizeof(t));
	{
		struct scsi_task *done = ios[0].task;

		assert_int_equal(
			iscsi_task_mgmt_abort_task_async(ctx, done, tmf_cb, &t),
			0);
		while (!t.done) {
			assert_int_equal(duet_iscsi_poll(ctx, 1000), 0);
			assert_true(++loops < 60000);
		}
		assert_true(t.response == 0 || t.response == 1);
	}
	for (int i = 0; i < NCMD; i++)
		scsi_free_scsi_task(ios[i].task);
	free(buf);
	/* the session still works */
	{
		uint8_t w[4096], r[4096];

		duet_fill(w, sizeof(w), 1, 1);
		assert_int_equal(duet_write(ctx, 0, 1, w, sizeof(w)), 0);
		assert_int_equal(duet_read(ctx, 0, 1, r, sizeof(r)), 0);
		assert_memory_equal(w, r, sizeof(w));
	}
	duet_iscsi_logout(ctx);
}

/* TEST UNIT READY until GOOD (unit attentions consumed). */
static void t_clear_ua(struct iscsi_context *ctx)
{
	for (int i = 0; i < 8; i++) {
		struct scsi_task *t = iscsi_testunitready_sync(ctx, 0);
		bool good = t && t->status == SCSI_STATUS_GOOD;

		if (t)
			scsi_free_scsi_task(t);
		if (good)
			return;
	}
	fail_msg("unit attention does not clear");
}

static void test_lun_reset_ua(void **state)
{
	struct iscsi_context *a = duet_iscsi_login(&D, TEST_IQN, 0, NULL);
	struct iscsi_context *b = duet_iscsi_login(&D, TEST_IQN, 0, NULL);
	struct scsi_task *t;

	assert_non_null(a);
	assert_non_null(b);
	/* b has consumed its power-on UA during login (libiscsi TURs) */
	t = iscsi_testunitready_sync(b, 0);
	assert_non_null(t);
	assert_int_equal(t->status, SCSI_STATUS_GOOD);
	scsi_free_scsi_task(t);

	assert_int_equal(iscsi_task_mgmt_lun_reset_sync(a, 0), 0);

	t = iscsi_testunitready_sync(b, 0);
	assert_non_null(t);
	assert_int_equal(t->status, SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(t->sense.key, SCSI_SENSE_UNIT_ATTENTION);
	assert_int_equal(t->sense.ascq & 0xff00, 0x2900);
	scsi_free_scsi_task(t);
	/* reported once per I_T nexus */
	t = iscsi_testunitready_sync(b, 0);
	assert_non_null(t);
	assert_int_equal(t->status, SCSI_STATUS_GOOD);
	scsi_free_scsi_task(t);
	duet_iscsi_logout(a);
	duet_iscsi_logout(b);
}

/* A LOGICAL UNIT RESET from session B also ends session A's WRITE that
 * is still waiting for its Data-Out (InitialR2T=Yes, no immediate data):
 * the data A sends afterwards must not reach the medium, and A's
 * connection keeps working. */
static void test_lun_reset_ends_data_out_of_others(void **state)
{
	static const char *const keys[] = {"InitialR2T=Yes", "ImmediateData=No",
					   NULL};
	struct raw_conn a = {.fd = -1};
	struct iscsi_context *b;
	uint8_t cdb[16] = {0x2a}, bhs[48], *w = malloc(4096), *r = malloc(4096);
	struct raw_pdu p;
	uint32_t itt;
	int rc;

	assert_non_null(w);
	assert_non_null(r);
	a.fd = raw_connect(D.port);
	assert_true(a.fd >= 0);
	assert_int_equal(raw_login(&a, TEST_IQN, keys), 0);
	b = duet_iscsi_login(&D, TEST_IQN, 0, NULL);
	assert_non_null(b);
	/* A: WRITE(10) of 8 blocks at LBA 7000; wait for the R2T */
	cdb[4] = 7000 >> 8; /* LBA 7000 */
	cdb[5] = 7000 & 0xff;
	cdb[8] = 8; /* blocks */
	itt = a.itt++;
	raw_scsi_bhs(&a, bhs, cdb, itt, 4096, false, true, 0);
	a.cmdsn++;
	assert_int_equal(raw_send_pdu(&a, bhs, NULL, 0), 0);
	do {
		assert_int_equal(raw_recv_pdu(&a, &p, 5000), 0);
		rc = p.bhs[0] & 0x3f;
		if (rc != 0x31)
			raw_pdu_free(&p);
	} while (rc != 0x31); /* skip NOP-Ins / UA-free traffic */
	/* B resets the LU; then A sends its data */
	assert_int_equal(iscsi_task_mgmt_lun_reset_sync(b, 0), 0);
	memset(w, 0xe7, 4096);
	assert_int_equal(raw_data_out(&a, w, &p, itt), 0);
	raw_pdu_free(&p);
	/* no SCSI Response for the ended task within a second ... */
	while ((rc = raw_recv_pdu(&a, &p, 1000)) == 0) {
		assert_int_not_equal(p.bhs[0] & 0x3f, 0x21);
		raw_pdu_free(&p);
	}
	assert_int_equal(rc, -ETIMEDOUT);
	/* ... nothing written, and both sessions still serve */
	t_clear_ua(b);
	assert_int_equal(duet_read(b, 0, 7000, r, 4096), 0);
	assert_int_not_equal(r[0], 0xe7);
	assert_int_not_equal(r[4095], 0xe7);
	memset(cdb, 0, sizeof(cdb)); /* TEST UNIT READY: the UA, then GOOD */
	rc = raw_scsi(&a, cdb, NULL, 0, 0, NULL, 0);
	assert_true(rc == 0 || rc == 2);
	assert_int_equal(raw_scsi(&a, cdb, NULL, 0, 0, NULL, 0), 0);
	raw_close(&a);
	duet_iscsi_logout(b);
	free(w);
	free(r);
}

static void test_session_reinstatement(void **state)
{
	struct duet_iscsi_opts o;
	struct iscsi_context *old, *neu;
	uint8_t *buf = malloc((size_t)NCMD * CHUNK);
	uint8_t *r = malloc(CHUNK), zero[512] = {0};
	struct io ios[NCMD];
	uint64_t base = 100000;
	int loops = 0, dead = 0;

	assert_non_null(buf);
	assert_non_null(r);
	duet_iscsi_opts_init(&o);
	o.fixed_isid = true;
	o.isid_qual = 0x4242;
	old = duet_iscsi_login(&D, TEST_IQN, 0, &o);
	assert_non_null(old);
	submit_writes(old, ios, buf, base);
	/* push a few PDUs out so commands are really in flight */
	for (int i = 0; i < 3; i++)
		assert_int_equal(duet_iscsi_poll(old, 10), 0);

	neu = duet_iscsi_login(&D, TEST_IQN, 0, &o); /* same ISID, TSIH 0 */
	if (!neu)
		duet_dump_log(&D);
	assert_non_null(neu);

	/* the old connection must be closed by the target */
	while (!dead && loops++ < 1000) {
		if (duet_iscsi_poll(old, 10) < 0)
			dead = 1;
		else if (!pending(ios, NCMD) && iscsi_which_events(old) == 0)
			dead = 1;
	}
	assert_true(dead);
	iscsi_destroy_context(old); /* completes leftovers as cancelled */
	for (int i = 0; i < NCMD; i++)
		scsi_free_scsi_task(ios[i].task);

	/* each block is either untouched or fully the old session's data */
	for (int i = 0; i < NCMD; i++) {
		uint64_t lba = base + (uint64_t)i * (CHUNK / 512);

		assert_int_equal(duet_read(neu, 0, lba, r, CHUNK), 0);
		for (uint32_t off = 0; off < CHUNK; off += 512)
			if (memcmp(r + off, zero, 512) &&
			    memcmp(r + off, buf + (size_t)i * CHUNK + off, 512))
				fail_msg("block %llu is neither old data nor "
					 "zero",
					 (unsigned long long)(lba + off / 512));
	}
	/* the new session works */
	duet_fill(buf, CHUNK, base, 0x77);
	assert_int_equal(duet_write(neu, 0, base, buf, CHUNK), 0);
	assert_int_equal(duet_read(neu, 0, base, r, CHUNK), 0);
	assert_memory_equal(buf, r, CHUNK);
	duet_iscsi_logout(neu);
	free(buf);
	free(r);
	assert_int_equal(duet_check_serving(&D, TEST_IQN), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_abort_task),
		cmocka_unit_test(test_lun_reset_ua),
		cmocka_unit_test(test_lun_reset_ends_data_out_of_others),
		cmocka_unit_test(test_session_reinstatement),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
