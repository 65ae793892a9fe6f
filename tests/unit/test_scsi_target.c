// SPDX-License-Identifier: Apache-2.0
/* The target as a dispatcher: LUN addressing, task ordering, task
 * management while backing I/O is pending, resets and their unit
 * attentions, per-nexus accounting, the bounded nexus table. */
#include "scsi_test_common.h"

#include "../../src/scsi/scsi_int.h"

static struct scsi_target *tgt;
static unsigned seq;
static unsigned tmf_seq, tmf_calls;

static int setup(void **state)
{
	tgt = test_target(false);
	clear_ua(tgt, &test_itn_a);
	clear_ua(tgt, &test_itn_b);
	seq = tmf_seq = tmf_calls = 0;
	fake_bs_queued = 0;
	return 0;
}

static int teardown(void **state)
{
	fake_bs_drain();
	assert_int_equal(scsi_target_inflight(tgt), 0);
	scsi_target_free(tgt);
	return 0;
}

static void seq_done(struct scsi_task *t)
{
	struct test_task *tt = container_of(t, struct test_task, t);

	tt->done_calls = ++seq;
}

static void tmf_done(struct scsi_tmf *tmf)
{
	tmf_calls++;
	tmf_seq = ++seq;
}

static struct test_task *read_task(const struct scsi_itn *itn, uint32_t lba,
				   enum scsi_task_attr attr)
{
	uint8_t cdb[10] = {SCSI_OP_READ_10};
	struct test_task *tt;

	put_be32(&cdb[2], lba);
	put_be16(&cdb[7], 1);
	tt = tt_new(itn, 0, cdb, 10, SCSI_DIR_READ, 512, 512);
	tt->t.attr = attr;
	tt->t.done = seq_done;
	return tt;
}

static void submit(struct test_task *tt)
{
	scsi_dispatch_submit(scsi_target_dispatcher(tgt), &tt->t);
}

static void test_lun_codec(void **state)
{
	uint32_t id;

	assert_true(scsi_lun_encode(0) == 0);
	assert_true(scsi_lun_encode(5) == 0x0005000000000000ull);
	assert_true(scsi_lun_encode(300) == 0x412c000000000000ull);
	for (uint32_t i = 0; i <= 16383; i += 97) {
		assert_int_equal(scsi_lun_decode(scsi_lun_encode(i), &id), 0);
		assert_int_equal(id, i);
	}
	/* flat addressing of a small LUN */
	assert_int_equal(scsi_lun_decode(0x4001000000000000ull, &id), 0);
	assert_int_equal(id, 1);
	/* second level, bus id, extended/logical addressing: refused */
	assert_int_equal(scsi_lun_decode(0x0001000100000000ull, &id), -EINVAL);
	assert_int_equal(scsi_lun_decode(0x0101000000000000ull, &id), -EINVAL);
	assert_int_equal(scsi_lun_decode(0xc001000000000000ull, &id), -EINVAL);
	assert_int_equal(scsi_lun_decode(0x8001000000000000ull, &id), -EINVAL);
}

static void test_abort_while_io_pending(void **state)
{
	struct test_task *a = read_task(&test_itn_a, 1, SCSI_ATTR_SIMPLE);
	struct test_task *b = read_task(&test_itn_a, 2, SCSI_ATTR_SIMPLE);
	struct scsi_task *list[1] = {&a->t};
	struct scsi_tmf tmf = {.fn = SCSI_TMF_ABORT_TASK,
			       .itn = &test_itn_a,
			       .lun = 0,
			       .tasks = list,
			       .n_tasks = 1,
			       .done = tmf_done};

	submit(a);
	submit(b);
	assert_int_equal(scsi_target_inflight(tgt), 2);
	scsi_dispatch_tmf(scsi_target_dispatcher(tgt), &tmf);
	/* the buffer is still with the worker: nothing completes yet */
	assert_int_equal(a->done_calls, 0);
	assert_int_equal(tmf_calls, 0);
	fake_bs_drain();
	assert_true(a->t.aborted);
	assert_false(b->t.aborted);
	assert_int_equal(b->t.status, SCSI_STATUS_GOOD);
	assert_int_equal(tmf_calls, 1);
	assert_true(tmf_seq > a->done_calls);
	assert_int_equal(tmf.result, SCSI_TMF_COMPLETE);
	assert_int_equal(scsi_target_inflight(tgt), 0);
	tt_free(a);
	tt_free(b);
}

static void test_abort_task_set_completes_sync(void **state)
{
	struct scsi_tmf tmf = {.fn = SCSI_TMF_ABORT_TASK_SET,
			       .itn = &test_itn_a,
			       .lun = 0,
			       .done = tmf_done};

	/* nothing in flight: the TMF completes before dispatch returns */
	scsi_dispatch_tmf(scsi_target_dispatcher(tgt), &tmf);
	assert_int_equal(tmf_calls, 1);
	assert_int_equal(tmf.result, SCSI_TMF_COMPLETE);
	tmf.lun = scsi_lun_encode(9);
	tmf.fn = SCSI_TMF_LUN_RESET;
	scsi_dispatch_tmf(scsi_target_dispatcher(tgt), &tmf);
	assert_int_equal(tmf.result, SCSI_TMF_NO_LUN);
	tmf.fn = SCSI_TMF_CLEAR_ACA;
	scsi_dispatch_tmf(scsi_target_dispatcher(tgt), &tmf);
	assert_int_equal(tmf.result, SCSI_TMF_NOT_SUPPORTED);
	assert_int_equal(tmf_calls, 3);
}

static void test_lun_reset(void **state)
{
	struct test_task *a = read_task(&test_itn_a, 1, SCSI_ATTR_SIMPLE);
	struct test_task *b = read_task(&test_itn_b, 2, SCSI_ATTR_SIMPLE);
	struct test_task *o = read_task(&test_itn_b, 3, SCSI_ATTR_ORDERED);
	struct scsi_tmf tmf = {.fn = SCSI_TMF_LUN_RESET,
			       .itn = &test_itn_a,
			       .lun = 0,
			       .done = tmf_done};
	uint8_t tur[6] = {0};
	struct test_task *t;

	submit(a);
	submit(b);
	submit(o); /* waits behind a and b */
	assert_int_equal(o->done_calls, 0);
	scsi_dispatch_tmf(scsi_target_dispatcher(tgt), &tmf);
	/* the waiting task is completed at once, aborted */
	assert_true(o->done_calls > 0);
	assert_true(o->t.aborted);
	assert_int_equal(tmf_calls, 0);
	fake_bs_drain();
	assert_true(a->t.aborted && b->t.aborted);
	assert_int_equal(tmf_calls, 1);
	assert_true(tmf_seq > a->done_calls && tmf_seq > b->done_calls);
	/* UA 29/03 for every nexus, the issuer's included (SAM-5 6.3.3;
	 * libiscsi's MultipathIO.Reset checks it on every path) */
	t = tt_new(&test_itn_a, 0, tur, 6, SCSI_DIR_NONE, 0, 0);
	run_task(tgt, t);
	assert_sense(&t->t, SCSI_SK_UNIT_ATTENTION, SCSI_ASC_BUS_DEVICE_RESET);
	tt_free(t);
	assert_int_equal(simple_cmd(tgt, &test_itn_a, 0, tur, 6),
			 SCSI_STATUS_GOOD);
	t = tt_new(&test_itn_b, 0, tur, 6, SCSI_DIR_NONE, 0, 0);
	run_task(tgt, t);
	assert_sense(&t->t, SCSI_SK_UNIT_ATTENTION, SCSI_ASC_BUS_DEVICE_RESET);
	tt_free(t);
	tt_free(a);
	tt_free(b);
	tt_free(o);
}

static void test_target_reset(void **state)
{
	struct scsi_tmf tmf = {.fn = SCSI_TMF_TARGET_COLD_RESET,
			       .itn = &test_itn_b,
			       .done = tmf_done};
	uint8_t tur[6] = {0};
	struct test_task *t;

	scsi_dispatch_tmf(scsi_target_dispatcher(tgt), &tmf);
	assert_int_equal(tmf_calls, 1);
	t = tt_new(&test_itn_a, 0, tur, 6, SCSI_DIR_NONE, 0, 0);
	run_task(tgt, t);
	assert_sense(&t->t, SCSI_SK_UNIT_ATTENTION, SCSI_ASC_POWER_ON_OCCURRED);
	tt_free(t);
	tmf.fn = SCSI_TMF_TARGET_WARM_RESET;
	scsi_dispatch_tmf(scsi_target_dispatcher(tgt), &tmf);
	t = tt_new(&test_itn_a, 0, tur, 6, SCSI_DIR_NONE, 0, 0);
	run_task(tgt, t);
	assert_sense(&t->t, SCSI_SK_UNIT_ATTENTION, SCSI_ASC_SCSI_BUS_RESET);
	tt_free(t);
}

/* A reset puts the current mode parameters back to their defaults
 * (SPC-4: no saved pages, so the defaults): D_SENSE, SWP, DEXCPT, MRIE
 * and WCE (the configured write_back). ABORT TASK SET does not. */
static void test_reset_restores_mode_pages(void **state)
{
	static const enum scsi_tmf_fn fns[] = {SCSI_TMF_LUN_RESET,
					       SCSI_TMF_TARGET_WARM_RESET,
					       SCSI_TMF_TARGET_COLD_RESET};
	struct scsi_lu *lu = tgt->lus[0];

	assert_false(lu->d_sense);
	assert_false(bs_write_back(lu->bs));
	for (unsigned i = 0; i < ARRAY_SIZE(fns); i++) {
		struct scsi_tmf tmf = {.fn = fns[i],
				       .itn = &test_itn_a,
				       .lun = 0,
				       .done = tmf_done};

		lu->d_sense = true;
		lu->dexcpt = false;
		lu->mrie = 6;
		bs_set_write_back(lu->bs, true);
		tmf.fn = SCSI_TMF_ABORT_TASK_SET;
		scsi_dispatch_tmf(scsi_target_dispatcher(tgt), &tmf);
		assert_true(lu->d_sense && bs_write_back(lu->bs));
		tmf.fn = fns[i];
		scsi_dispatch_tmf(scsi_target_dispatcher(tgt), &tmf);
		assert_int_equal(tmf.result, SCSI_TMF_COMPLETE);
		assert_false(lu->d_sense);
		assert_true(lu->dexcpt);
		assert_int_equal(lu->mrie, 0);
		assert_false(bs_write_back(lu->bs));
	}
}

/* WRITE SAME with the (unsupported) UNMAP bit to a read-only LU: DATA
 * PROTECT / WRITE PROTECTED, not INVALID FIELD IN CDB. */
static void test_readonly_write_same_unmap(void **state)
{
	struct scsi_target *ro = test_target(true);
	uint8_t ws10[10] = {
		SCSI_OP_WRITE_SAME_10, 0x08, 0, 0, 0, 0, 0, 0, 1, 0};
	uint8_t ws16[16] = {SCSI_OP_WRITE_SAME_16, 0x08};
	uint8_t bad[10] = {SCSI_OP_WRITE_SAME_10, 0x08, 0, 0, 0, 0, 0, 0, 1, 0};
	struct test_task *t;

	ws16[13] = 1;
	clear_ua(ro, &test_itn_a);
	t = tt_new(&test_itn_a, 0, ws10, 10, SCSI_DIR_NONE, 0, 0);
	run_task(ro, t);
	assert_sense(&t->t, SCSI_SK_DATA_PROTECT, SCSI_ASC_WRITE_PROTECTED);
	tt_free(t);
	t = tt_new(&test_itn_a, 0, ws16, 16, SCSI_DIR_NONE, 0, 0);
	run_task(ro, t);
	assert_sense(&t->t, SCSI_SK_DATA_PROTECT, SCSI_ASC_WRITE_PROTECTED);
	tt_free(t);
	/* other invalid fields stay invalid fields (WRPROTECT != 0) */
	ws10[1] = 0x20;
	t = tt_new(&test_itn_a, 0, ws10, 10, SCSI_DIR_NONE, 0, 0);
	run_task(ro, t);
	assert_sense(&t->t, SCSI_SK_ILLEGAL_REQUEST,
		     SCSI_ASC_INVALID_FIELD_IN_CDB);
	tt_free(t);
	scsi_target_free(ro);
	/* on a writable LU the UNMAP bit is still an invalid field */
	t = tt_new(&test_itn_a, 0, bad, 10, SCSI_DIR_NONE, 0, 0);
	run_task(tgt, t);
	assert_sense(&t->t, SCSI_SK_ILLEGAL_REQUEST,
		     SCSI_ASC_INVALID_FIELD_IN_CDB);
	tt_free(t);
}

static void test_ordered(void **state)
{
	struct test_task *s1 = read_task(&test_itn_a, 1, SCSI_ATTR_SIMPLE);
	struct test_task *o = read_task(&test_itn_a, 2, SCSI_ATTR_ORDERED);
	struct test_task *s2 = read_task(&test_itn_a, 3, SCSI_ATTR_SIMPLE);
	struct test_task *h =
		read_task(&test_itn_a, 4, SCSI_ATTR_HEAD_OF_QUEUE);

	submit(s1);
	submit(o);
	submit(s2);
	submit(h);
	/* s1 and the head-of-queue task run; o waits for s1, s2 for o */
	assert_int_equal(fake_bs_queued, 2);
	fake_bs_drain();
	assert_true(s1->done_calls && o->done_calls && s2->done_calls &&
		    h->done_calls);
	assert_true(s1->done_calls < o->done_calls);
	assert_true(o->done_calls < s2->done_calls);
	assert_int_equal(s2->t.status, SCSI_STATUS_GOOD);
	tt_free(s1);
	tt_free(o);
	tt_free(s2);
	tt_free(h);
}

static void test_nexus_inflight(void **state)
{
	struct test_task *a = read_task(&test_itn_a, 1, SCSI_ATTR_SIMPLE);
	struct test_task *b = read_task(&test_itn_a, 2, SCSI_ATTR_SIMPLE);
	struct test_task *c = read_task(&test_itn_b, 3, SCSI_ATTR_SIMPLE);

	submit(a);
	submit(b);
	submit(c);
	assert_int_equal(scsi_target_nexus_inflight(tgt, &test_itn_a), 2);
	assert_int_equal(scsi_target_nexus_inflight(tgt, &test_itn_b), 1);
	fake_bs_drain();
	assert_int_equal(scsi_target_nexus_inflight(tgt, &test_itn_a), 0);
	tt_free(a);
	tt_free(b);
	tt_free(c);
}

static void test_nexus_end(void **state)
{
	uint8_t tur[6] = {0};
	struct test_task *t;

	scsi_dispatch_nexus_end(scsi_target_dispatcher(tgt), &test_itn_a);
	/* a new nexus with the same identity starts fresh: 29/00 */
	t = tt_new(&test_itn_a, 0, tur, 6, SCSI_DIR_NONE, 0, 0);
	run_task(tgt, t);
	assert_sense(&t->t, SCSI_SK_UNIT_ATTENTION, SCSI_ASC_POWER_ON_OR_RESET);
	tt_free(t);
}

static void test_nexus_table_bounded(void **state)
{
	uint8_t tur[6] = {0};
	struct scsi_itn itn = test_itn_b;
	struct scsi_lu *lu = tgt->lus[0];

	for (unsigned i = 0; i < SCSI_NEXUS_MAX + 100; i++) {
		snprintf(itn.initiator_name, sizeof(itn.initiator_name),
			 "iqn.2026-11.org.example:hostile-%u", i);
		simple_cmd(tgt, &itn, 0, tur, 6);
	}
	assert_int_equal(lu->n_nexus, SCSI_NEXUS_MAX);
}

static void test_unknown_lun_via_bad_address(void **state)
{
	uint8_t tur[6] = {0};
	struct test_task *t =
		tt_new(&test_itn_a, 0, tur, 6, SCSI_DIR_NONE, 0, 0);

	t->t.lun = 0xc000000000000000ull; /* extended addressing */
	run_task(tgt, t);
	assert_sense(&t->t, SCSI_SK_ILLEGAL_REQUEST,
		     SCSI_ASC_LUN_NOT_SUPPORTED);
	tt_free(t);
}

static void test_add_lun_errors(void **state)
{
	struct cfg_lun lun = {.id = 0, .path = "/m", .size = 65536};
	char err[128] = "";

	assert_int_equal(scsi_target_add_lun(tgt, &lun, err, sizeof(err)),
			 -EEXIST);
	assert_non_null(strstr(err, "twice"));
	lun.id = 20000;
	assert_int_equal(scsi_target_add_lun(tgt, &lun, err, sizeof(err)),
			 -EINVAL);
	lun.id = 3;
	lun.size = 100; /* below one block */
	assert_int_equal(scsi_target_add_lun(tgt, &lun, err, sizeof(err)),
			 -EINVAL);
}

/* The transport may submit the next task from inside done() (e.g. when
 * a CmdSN gap closes); the executor must cope. */
static struct test_task *chained;

static void chain_done(struct scsi_task *t)
{
	struct test_task *tt = container_of(t, struct test_task, t);

	tt->done_calls++;
	if (chained) {
		struct test_task *next = chained;

		chained = NULL;
		submit(next);
	}
}

static void test_submit_from_done(void **state)
{
	uint8_t inq[6] = {SCSI_OP_INQUIRY, 0, 0, 0, 36, 0};
	struct test_task *a =
		tt_new(&test_itn_a, 0, inq, 6, SCSI_DIR_READ, 36, 36);
	struct test_task *b = read_task(&test_itn_a, 5, SCSI_ATTR_ORDERED);

	a->t.done = chain_done;
	chained = b;
	submit(a); /* completes synchronously and submits b from done() */
	assert_int_equal(a->done_calls, 1);
	fake_bs_drain();
	assert_true(b->done_calls > 0);
	assert_int_equal(b->t.status, SCSI_STATUS_GOOD);
	tt_free(a);
	tt_free(b);
}

/* Random CDBs, directions and buffer sizes: every task completes exactly
 * once, nothing crashes (run under ASan in `make asan`). */
static void test_random_cdbs(void **state)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	static const uint8_t ops[] = {0x00, 0x03, 0x08, 0x0a, 0x12, 0x15, 0x1a,
				      0x1b, 0x1e, 0x25, 0x28, 0x2a, 0x2e, 0x2f,
				      0x34, 0x35, 0x55, 0x5a, 0x88, 0x8a, 0x8e,
				      0x8f, 0x90, 0x91, 0x9e, 0xa0, 0xa3, 0xa8,
				      0xaa, 0xae, 0xaf, 0x41, 0x93, 0x7f, 0xff};

	for (unsigned i = 0; i < 20000; i++) {
		uint8_t cdb[16];
		uint32_t cap;
		struct test_task *tt;

		for (unsigned k = 0; k < 16; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			cdb[k] = (uint8_t)x;
		}
		cdb[0] = ops[x % sizeof(ops)];
		if (x & 0x100) /* keep lengths small half of the time */
			memset(&cdb[2], 0, 7);
		cap = (uint32_t)((x >> 20) % 70000);
		tt = tt_new((x & 0x200) ? &test_itn_a : &test_itn_b,
			    (x >> 40) % 3, cdb, 16,
			    (enum scsi_data_dir)((x >> 50) % 3), cap, cap);
		tt->t.attr = (enum scsi_task_attr)((x >> 56) % 4);
		run_task(tgt, tt);
		assert_true(tt->t.data_len <= tt->t.buf_cap);
		assert_true(tt->t.sense_len <= SCSI_SENSE_MAX);
		tt_free(tt);
	}
	assert_int_equal(scsi_target_inflight(tgt), 0);
}

static void test_clear_task_set(void **state)
{
	struct test_task *a = read_task(&test_itn_a, 1, SCSI_ATTR_SIMPLE);
	struct test_task *b = read_task(&test_itn_b, 2, SCSI_ATTR_SIMPLE);
	struct scsi_task *list[1] = {&a->t};
	struct scsi_tmf tmf = {.fn = SCSI_TMF_CLEAR_TASK_SET,
			       .itn = &test_itn_a,
			       .lun = 0,
			       .tasks = list,
			       .n_tasks = 1,
			       .done = tmf_done};
	uint8_t tur[6] = {0};
	struct test_task *t;

	submit(a);
	submit(b);
	scsi_dispatch_tmf(scsi_target_dispatcher(tgt), &tmf);
	fake_bs_drain();
	assert_true(a->t.aborted && b->t.aborted);
	assert_int_equal(tmf_calls, 1);
	/* the other nexus lost a task: COMMANDS CLEARED BY ANOTHER INITIATOR */
	t = tt_new(&test_itn_b, 0, tur, 6, SCSI_DIR_NONE, 0, 0);
	run_task(tgt, t);
	assert_sense(&t->t, SCSI_SK_UNIT_ATTENTION,
		     SCSI_ASC_COMMANDS_CLEARED_BY_ANOTHER);
	tt_free(t);
	assert_int_equal(simple_cmd(tgt, &test_itn_a, 0, tur, 6),
			 SCSI_STATUS_GOOD);
	tt_free(a);
	tt_free(b);
}

static void test_abort_waiting_task(void **state)
{
	struct test_task *a = read_task(&test_itn_a, 1, SCSI_ATTR_SIMPLE);
	struct test_task *o = read_task(&test_itn_a, 2, SCSI_ATTR_ORDERED);
	struct scsi_task *list[1] = {&o->t};
	struct scsi_tmf tmf = {.fn = SCSI_TMF_ABORT_TASK,
			       .itn = &test_itn_a,
			       .lun = 0,
			       .tasks = list,
			       .n_tasks = 1,
			       .done = tmf_done};

	submit(a);
	submit(o); /* waits for a */
	scsi_dispatch_tmf(scsi_target_dispatcher(tgt), &tmf);
	/* never started: completed (aborted) and the TMF done at once */
	assert_true(o->done_calls > 0 && o->t.aborted);
	assert_int_equal(tmf_calls, 1);
	assert_true(tmf_seq > o->done_calls);
	assert_int_equal(a->done_calls, 0);
	fake_bs_drain();
	assert_false(a->t.aborted);
	assert_int_equal(fake_bs_queued, 1); /* o never reached the store */
	tt_free(a);
	tt_free(o);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lun_codec),
		T(test_abort_while_io_pending),
		T(test_abort_task_set_completes_sync),
		T(test_lun_reset),
		T(test_target_reset),
		T(test_ordered),
		T(test_reset_restores_mode_pages),
		T(test_readonly_write_same_unmap),
		T(test_nexus_inflight),
		T(test_nexus_end),
		T(test_nexus_table_bounded),
		T(test_unknown_lun_via_bad_address),
		T(test_add_lun_errors),
		T(test_submit_from_done),
		T(test_clear_task_set),
		T(test_abort_waiting_task),
		T(test_random_cdbs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
