// SPDX-License-Identifier: Apache-2.0
/* I/O against a real duetd: patterns across sizes/alignments, queue depth
 * > 1 with the async API, READ CAPACITY, out-of-range LBAs, read-only LUN,
 * data surviving a restart. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define LUN0_SIZE (64ull << 20)
#define LUN1_SIZE (16ull << 20)

static struct duet_daemon D;
static char conf_text[2048];

static int setup(void **state)
{
	char p0[300], p1[300];

	if (duet_prepare(&D))
		return -1;
	snprintf(p0, sizeof(p0), "%s/lun0.img", D.dir);
	/* a read-only LUN must exist: create it (zeros) */
	if (duet_make_lun(&D, "lun1.img", LUN1_SIZE, p1, sizeof(p1)))
		return -1;
	snprintf(conf_text, sizeof(conf_text),
		 "log_level = \"info\";\n"
		 "portals = ( \"127.0.0.1:%d\" );\n"
		 "targets = ( { name = \"%s\";\n"
		 "  luns = ( { id = 0; path = \"%s\"; size = \"64M\"; },\n"
		 "           { id = 1; path = \"%s\"; size = \"16M\";"
		 " readonly = true; } ); } );\n",
		 D.port, TEST_IQN, p0, p1);
	return duet_fixture_config(&D, conf_text);
}

static int teardown(void **state)
{
	return duet_fixture_stop(&D);
}

static struct iscsi_context *login0(void)
{
	struct iscsi_context *ctx = duet_iscsi_login(&D, TEST_IQN, 0, NULL);

	if (!ctx)
		duet_dump_log(&D);
	assert_non_null(ctx);
	return ctx;
}

static void test_sizes_alignments(void **state)
{
	static const uint32_t sizes[] = {512,	   1024,    4096,
					 8192,	   65536,   65536 + 512,
					 262144,   1 << 20, (1 << 20) + 512,
					 4u << 20, 8u << 20};
	static const uint64_t lbas[] = {0, 1, 7, 4095, 33333};
	struct iscsi_context *ctx = login0();
	uint8_t *w = malloc(8u << 20), *r = malloc(8u << 20);
	uint32_t seed = 1;

	assert_non_null(w);
	assert_non_null(r);
	for (size_t i = 0; i < NELEM(sizes); i++) {
		for (size_t j = 0; j < NELEM(lbas); j++, seed++) {
			uint32_t len = sizes[i];

			duet_fill(w, len, lbas[j], seed);
			memset(r, 0xee, len);
			assert_int_equal(duet_write(ctx, 0, lbas[j], w, len),
					 0);
			assert_int_equal(duet_read(ctx, 0, lbas[j], r, len), 0);
			if (memcmp(w, r, len))
				fail_msg("mismatch: %u bytes at LBA %llu", len,
					 (unsigned long long)lbas[j]);
		}
	}
	/* last block of the LUN */
	duet_fill(w, 4096, 99, 77);
	assert_int_equal(duet_write(ctx, 0, LUN0_SIZE / 512 - 8, w, 4096), 0);
	assert_int_equal(duet_read(ctx, 0, LUN0_SIZE / 512 - 8, r, 4096), 0);
	assert_memory_equal(w, r, 4096);
	free(w);
	free(r);
	duet_iscsi_logout(ctx);
}

struct qd_state {
	int inflight, done, errors;
};

static void qd_cb(struct iscsi_context *ctx, int status, void *data, void *priv)
{
	struct scsi_task *t = data;
	struct qd_state *s = priv;

	s->inflight--;
	s->done++;
	if (status != SCSI_STATUS_GOOD) {
		s->errors++;
		fprintf(stderr, "async I/O failed: %s\n", iscsi_get_error(ctx));
	}
	(void)t;
}

/* Submit @n ops of @len bytes at queue depth @qd; writes if @wbuf. Read
 * tasks are kept in @tasks for the caller to check. */
static void run_qd(struct iscsi_context *ctx, int n, int qd, uint32_t len,
		   uint8_t *wbuf, struct scsi_task **tasks)
{
	struct qd_state s = {0};
	int next = 0, loops = 0;

	while (s.done < n) {
		while (next < n && s.inflight < qd) {
			uint64_t lba = (uint64_t)next * (len / 512) + 1;
			struct scsi_task *t;

			if (wbuf)
				t = iscsi_write16_task(
					ctx, 0, lba, wbuf + (size_t)next * len,
					len, 512, 0, 0, 0, 0, 0, qd_cb, &s);
			else
				t = iscsi_read16_task(ctx, 0, lba, len, 512, 0,
						      0, 0, 0, 0, qd_cb, &s);
			assert_non_null(t);
			tasks[next++] = t;
			s.inflight++;
		}
		assert_int_equal(duet_iscsi_poll(ctx, 1000), 0);
		assert_true(++loops < 200000);
	}
	assert_int_equal(s.errors, 0);
}

static void test_queue_depth(void **state)
{
	enum { N = 256, QD = 32 };
	static const uint32_t lens[] = {4096, 65536, 131072};
	struct iscsi_context *ctx = login0();
	struct scsi_task *tasks[N];

	for (size_t k = 0; k < NELEM(lens); k++) {
		uint32_t len = lens[k];
		uint8_t *w = malloc((size_t)N * len);

		assert_non_null(w);
		for (int i = 0; i < N; i++)
			duet_fill(w + (size_t)i * len, len,
				  (uint64_t)i * (len / 512) + 1, 900 + k);
		run_qd(ctx, N, QD, len, w, tasks);
		for (int i = 0; i < N; i++)
			scsi_free_scsi_task(tasks[i]);
		run_qd(ctx, N, QD, len, NULL, tasks);
		for (int i = 0; i < N; i++) {
			assert_true(tasks[i]->datain.size >= (int)len);
			if (memcmp(tasks[i]->datain.data, w + (size_t)i * len,
				   len))
				fail_msg("QD%d: mismatch op %d len %u", QD, i,
					 len);
			scsi_free_scsi_task(tasks[i]);
		}
		free(w);
	}
	duet_iscsi_logout(ctx);
}

static void test_read_capacity(void **state)
{
	struct iscsi_context *ctx = login0();
	struct scsi_task *t = iscsi_readcapacity16_sync(ctx, 0);
	struct scsi_readcapacity16 *rc16;
	struct scsi_readcapacity10 *rc10;

	assert_non_null(t);
	assert_int_equal(t->status, SCSI_STATUS_GOOD);
	rc16 = scsi_datain_unmarshall(t);
	assert_non_null(rc16);
	assert_int_equal(rc16->block_length, 512);
	assert_int_equal(rc16->returned_lba, LUN0_SIZE / 512 - 1);
	scsi_free_scsi_task(t);

	t = iscsi_readcapacity10_sync(ctx, 0, 0, 0);
	assert_non_null(t);
	assert_int_equal(t->status, SCSI_STATUS_GOOD);
	rc10 = scsi_datain_unmarshall(t);
	assert_non_null(rc10);
	assert_int_equal(rc10->block_size, 512);
	assert_int_equal(rc10->lba, LUN0_SIZE / 512 - 1);
	scsi_free_scsi_task(t);
	duet_iscsi_logout(ctx);

	ctx = duet_iscsi_login(&D, TEST_IQN, 1, NULL);
	assert_non_null(ctx);
	t = iscsi_readcapacity16_sync(ctx, 1);
	assert_non_null(t);
	assert_int_equal(t->status, SCSI_STATUS_GOOD);
	rc16 = scsi_datain_unmarshall(t);
	assert_non_null(rc16);
	assert_int_equal(rc16->returned_lba, LUN1_SIZE / 512 - 1);
	scsi_free_scsi_task(t);
	duet_iscsi_logout(ctx);
}

static void expect_sense(struct scsi_task *t, int key, int ascq)
{
	assert_non_null(t);
	assert_int_equal(t->status, SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(t->sense.key, key);
	assert_int_equal(t->sense.ascq, ascq);
	scsi_free_scsi_task(t);
}

static void test_out_of_range(void **state)
{
	struct iscsi_context *ctx = login0();
	uint64_t nblk = LUN0_SIZE / 512;
	uint8_t buf[4096] = {0};

	expect_sense(iscsi_read16_sync(ctx, 0, nblk, 512, 512, 0, 0, 0, 0, 0),
		     SCSI_SENSE_ILLEGAL_REQUEST,
		     SCSI_SENSE_ASCQ_LBA_OUT_OF_RANGE);
	expect_sense(
		iscsi_read16_sync(ctx, 0, nblk - 1, 1024, 512, 0, 0, 0, 0, 0),
		SCSI_SENSE_ILLEGAL_REQUEST, SCSI_SENSE_ASCQ_LBA_OUT_OF_RANGE);
	expect_sense(iscsi_write16_sync(ctx, 0, nblk - 2, buf, 4096, 512, 0, 0,
					0, 0, 0),
		     SCSI_SENSE_ILLEGAL_REQUEST,
		     SCSI_SENSE_ASCQ_LBA_OUT_OF_RANGE);
	expect_sense(iscsi_read16_sync(ctx, 0, UINT64_MAX - 1, 1024, 512, 0, 0,
				       0, 0, 0),
		     SCSI_SENSE_ILLEGAL_REQUEST,
		     SCSI_SENSE_ASCQ_LBA_OUT_OF_RANGE);
	expect_sense(iscsi_read10_sync(ctx, 0, (uint32_t)nblk, 512, 512, 0, 0,
				       0, 0, 0),
		     SCSI_SENSE_ILLEGAL_REQUEST,
		     SCSI_SENSE_ASCQ_LBA_OUT_OF_RANGE);
	/* the session keeps working */
	assert_int_equal(duet_read(ctx, 0, nblk - 1, buf, 512), 0);
	duet_iscsi_logout(ctx);
}

static void test_readonly_lun(void **state)
{
	struct iscsi_context *ctx = duet_iscsi_login(&D, TEST_IQN, 1, NULL);
	uint8_t buf[4096];

	assert_non_null(ctx);
	memset(buf, 0x5a, sizeof(buf));
	expect_sense(iscsi_write16_sync(ctx, 1, 0, buf, sizeof(buf), 512, 0, 0,
					0, 0, 0),
		     SCSI_SENSE_DATA_PROTECTION,
		     SCSI_SENSE_ASCQ_WRITE_PROTECTED);
	expect_sense(
		iscsi_write10_sync(ctx, 1, 8, buf, 512, 512, 0, 0, 0, 0, 0),
		SCSI_SENSE_DATA_PROTECTION, SCSI_SENSE_ASCQ_WRITE_PROTECTED);
	assert_int_equal(duet_read(ctx, 1, 0, buf, sizeof(buf)), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);
	duet_iscsi_logout(ctx);
}

static void test_survives_restart(void **state)
{
	struct iscsi_context *ctx = login0();
	uint32_t len = 1 << 20;
	uint8_t *w = malloc(len), *r = malloc(len);

	assert_non_null(w);
	assert_non_null(r);
	duet_fill(w, len, 50000, 4242);
	assert_int_equal(duet_write(ctx, 0, 50000, w, len), 0);
	/* no logout, no SYNCHRONIZE CACHE: write-through must hold it */
	iscsi_destroy_context(ctx);
	assert_int_equal(duet_stop(&D, 10000), 0);
	assert_int_equal(duet_start_config(&D, conf_text), 0);
	ctx = login0();
	assert_int_equal(duet_read(ctx, 0, 50000, r, len), 0);
	assert_memory_equal(w, r, len);
	free(w);
	free(r);
	duet_iscsi_logout(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_capacity),
		cmocka_unit_test(test_sizes_alignments),
		cmocka_unit_test(test_queue_depth),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_readonly_lun),
		cmocka_unit_test(test_survives_restart),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
