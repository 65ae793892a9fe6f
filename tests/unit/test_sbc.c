// SPDX-License-Identifier: Apache-2.0
/* SBC commands: every READ/WRITE form, boundaries, LBA + length overflow,
 * residual rules (xfer_len), read-only, FUA, VERIFY, SYNCHRONIZE CACHE,
 * READ CAPACITY, backing I/O errors. */
#include "scsi_test_common.h"

#include "../../src/scsi/scsi_int.h"

static struct scsi_target *tgt;

static int setup(void **state)
{
	tgt = test_target(false);
	clear_ua(tgt, &test_itn_a);
	fake_bs_fail = 0;
	fake_bs_submit_rc = 0;
	fake_bs_queued = 0;
	return 0;
}

static int teardown(void **state)
{
	assert_int_equal(scsi_target_inflight(tgt), 0);
	scsi_target_free(tgt);
	return 0;
}

enum rw_form { F6, F10, F12, F16 };

static unsigned build_rw(uint8_t *cdb, enum rw_form f, bool write, uint64_t lba,
			 uint32_t n)
{
	memset(cdb, 0, 16);
	switch (f) {
	case F6:
		cdb[0] = write ? SCSI_OP_WRITE_6 : SCSI_OP_READ_6;
		put_be24(&cdb[1], (uint32_t)lba & 0x1fffff);
		cdb[4] = (uint8_t)n;
		return 6;
	case F10:
		cdb[0] = write ? SCSI_OP_WRITE_10 : SCSI_OP_READ_10;
		put_be32(&cdb[2], (uint32_t)lba);
		put_be16(&cdb[7], (uint16_t)n);
		return 10;
	case F12:
		cdb[0] = write ? SCSI_OP_WRITE_12 : SCSI_OP_READ_12;
		put_be32(&cdb[2], (uint32_t)lba);
		put_be32(&cdb[6], n);
		return 12;
	default:
		cdb[0] = write ? SCSI_OP_WRITE_16 : SCSI_OP_READ_16;
		put_be64(&cdb[2], lba);
		put_be32(&cdb[10], n);
		return 16;
	}
}

static struct test_task *rw(enum rw_form f, bool write, uint64_t lba,
			    uint32_t n, uint32_t exp, uint8_t fill)
{
	uint8_t cdb[16];
	unsigned len = build_rw(cdb, f, write, lba, n);
	struct test_task *tt =
		tt_new(&test_itn_a, 0, cdb, len,
		       write ? SCSI_DIR_WRITE : SCSI_DIR_READ, exp, exp);

	if (write && exp)
		memset(tt->mem, fill, exp);
	run_task(tgt, tt);
	return tt;
}

static void test_rw_all_forms(void **state)
{
	enum rw_form forms[] = {F6, F10, F12, F16};

	for (unsigned i = 0; i < 4; i++) {
		uint8_t fill = (uint8_t)(0x11 * (i + 1));
		struct test_task *w =
			rw(forms[i], true, 10 + i * 8, 8, 4096, fill);
		struct test_task *r;

		assert_int_equal(w->t.status, SCSI_STATUS_GOOD);
		assert_int_equal(w->t.xfer_len, 4096);
		tt_free(w);
		r = rw(forms[i], false, 10 + i * 8, 8, 4096, 0);
		assert_int_equal(r->t.status, SCSI_STATUS_GOOD);
		assert_int_equal(r->t.data_len, 4096);
		for (unsigned k = 0; k < 4096; k++)
			assert_int_equal(r->mem[k], fill);
		tt_free(r);
	}
}

static void test_rw6_zero_means_256(void **state)
{
	struct test_task *r = rw(F6, false, 0, 0, 256 * 512, 0);

	assert_int_equal(r->t.status, SCSI_STATUS_GOOD);
	assert_int_equal(r->t.xfer_len, 256 * 512);
	tt_free(r);
}

static void test_zero_length(void **state)
{
	enum rw_form forms[] = {F10, F12, F16};

	for (unsigned i = 0; i < 3; i++) {
		struct test_task *t = rw(forms[i], false, 0, 0, 0, 0);

		assert_int_equal(t->t.status, SCSI_STATUS_GOOD);
		assert_int_equal(t->t.xfer_len, 0);
		tt_free(t);
		/* at the end of the LUN: fine; one past: out of range */
		t = rw(forms[i], false, TEST_NBLOCKS, 0, 0, 0);
		assert_int_equal(t->t.status, SCSI_STATUS_GOOD);
		tt_free(t);
		t = rw(forms[i], false, TEST_NBLOCKS + 1, 0, 0, 0);
		assert_sense(&t->t, SCSI_SK_ILLEGAL_REQUEST,
			     SCSI_ASC_LBA_OUT_OF_RANGE);
		tt_free(t);
	}
	assert_int_equal(fake_bs_queued, 0);
}

static void test_boundaries(void **state)
{
	struct test_task *t;

	/* last block: ok */
	t = rw(F10, false, TEST_NBLOCKS - 1, 1, 512, 0);
	assert_int_equal(t->t.status, SCSI_STATUS_GOOD);
	tt_free(t);
	/* straddling the end */
	t = rw(F10, false, TEST_NBLOCKS - 1, 2, 1024, 0);
	assert_sense(&t->t, SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	tt_free(t);
	t = rw(F16, true, TEST_NBLOCKS, 1, 512, 0);
	assert_sense(&t->t, SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	tt_free(t);
	/* lba + len overflows 64 bits */
	t = rw(F16, false, UINT64_MAX, 2, 1024, 0);
	assert_sense(&t->t, SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	tt_free(t);
	t = rw(F16, false, 1ull << 63, 1, 512, 0);
	assert_sense(&t->t, SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	tt_free(t);
	t = rw(F12, false, 1, UINT32_MAX, 512, 0);
	assert_sense(&t->t, SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	tt_free(t);
}

static void test_max_transfer(void **state)
{
	struct scsi_target *big = scsi_target_new("iqn.x:big");
	struct cfg_lun lun = {.id = 0, .path = "/m", .size = 64ull << 20};
	uint8_t cdb[16];
	char err[64];
	struct test_task *t;
	uint32_t n = DUET_MAX_IO_BYTES / 512 + 1;

	assert_int_equal(scsi_target_add_lun(big, &lun, err, sizeof(err)), 0);
	clear_ua(big, &test_itn_a);
	build_rw(cdb, F16, false, 0, n);
	t = tt_new(&test_itn_a, 0, cdb, 16, SCSI_DIR_READ, 4096, 4096);
	run_task(big, t);
	assert_sense(&t->t, SCSI_SK_ILLEGAL_REQUEST,
		     SCSI_ASC_INVALID_FIELD_IN_CDB);
	assert_int_equal(get_be16(&t->t.sense[16]), 10);
	tt_free(t);
	scsi_target_free(big);
}

static void test_read_residuals(void **state)
{
	/* EDTL 0: GOOD, overflow of one block, nothing read */
	struct test_task *t = rw(F10, false, 0, 1, 0, 0);

	assert_int_equal(t->t.status, SCSI_STATUS_GOOD);
	assert_int_equal(t->t.xfer_len, 512);
	assert_int_equal(t->t.data_len, 0);
	tt_free(t);
	/* EDTL 200: partial block */
	t = rw(F10, false, 0, 1, 200, 0);
	assert_int_equal(t->t.status, SCSI_STATUS_GOOD);
	assert_int_equal(t->t.xfer_len, 512);
	assert_int_equal(t->t.data_len, 200);
	tt_free(t);
	/* 2 blocks, EDTL one block */
	t = rw(F10, false, 0, 2, 512, 0);
	assert_int_equal(t->t.xfer_len, 1024);
	assert_int_equal(t->t.data_len, 512);
	tt_free(t);
	/* EDTL larger: underflow derived from xfer_len */
	t = rw(F10, false, 0, 1, 10000, 0);
	assert_int_equal(t->t.xfer_len, 512);
	assert_int_equal(t->t.data_len, 512);
	tt_free(t);
}

static void test_write_short_data(void **state)
{
	struct test_task *t;

	/* 2 blocks with EDTL one block: the received block is written,
	 * GOOD; xfer_len tells the transport about the overflow */
	t = rw(F10, true, 100, 2, 512, 0xaa);
	assert_int_equal(t->t.status, SCSI_STATUS_GOOD);
	assert_int_equal(t->t.xfer_len, 1024);
	tt_free(t);
	t = rw(F10, false, 100, 2, 1024, 0);
	assert_int_equal(t->mem[0], 0xaa);
	assert_int_equal(t->mem[511], 0xaa);
	assert_int_equal(t->mem[512], 0);
	tt_free(t);
	/* EDTL 0 or below one block: nothing written, GOOD */
	t = rw(F10, true, 101, 1, 0, 0);
	assert_int_equal(t->t.status, SCSI_STATUS_GOOD);
	assert_int_equal(t->t.xfer_len, 512);
	tt_free(t);
	t = rw(F10, true, 101, 1, 200, 0xcc);
	assert_int_equal(t->t.status, SCSI_STATUS_GOOD);
	tt_free(t);
	t = rw(F10, false, 101, 1, 512, 0);
	assert_int_equal(t->mem[0], 0);
	tt_free(t);
	/* more data than needed: write what the CDB says */
	t = rw(F10, true, 100, 1, 10000, 0xbb);
	assert_int_equal(t->t.status, SCSI_STATUS_GOOD);
	assert_int_equal(t->t.xfer_len, 512);
	tt_free(t);
	t = rw(F10, false, 100, 2, 1024, 0);
	assert_int_equal(t->mem[511], 0xbb);
	assert_int_equal(t->mem[512], 0);
	tt_free(t);
}

static void test_write_data_missing(void **state)
{
	uint8_t cdb[16];
	unsigned len = build_rw(cdb, F10, true, 300, 2);
	struct test_task *t =
		tt_new(&test_itn_a, 0, cdb, len, SCSI_DIR_WRITE, 1024, 1024);

	/* the transport promised 1024 bytes but has only 512: nothing is
	 * written */
	memset(t->mem, 0xdd, 1024);
	t->t.data_out_len = 512;
	run_task(tgt, t);
	assert_sense(&t->t, SCSI_SK_ILLEGAL_REQUEST,
		     SCSI_ASC_INVALID_FIELD_IN_CMD_IU);
	tt_free(t);
	t = rw(F10, false, 300, 1, 512, 0);
	assert_int_equal(t->mem[0], 0);
	tt_free(t);
}

static void test_direction_mismatch(void **state)
{
	uint8_t cdb[16];
	unsigned len = build_rw(cdb, F10, false, 0, 1);
	struct test_task *t =
		tt_new(&test_itn_a, 0, cdb, len, SCSI_DIR_WRITE, 512, 512);

	/* READ flagged as a write: GOOD, nothing read into the buffer */
	memset(t->mem, 0xee, 512);
	run_task(tgt, t);
	assert_int_equal(t->t.status, SCSI_STATUS_GOOD);
	assert_int_equal(t->t.data_len, 0);
	assert_int_equal(t->mem[0], 0xee);
	assert_int_equal(fake_bs_queued, 0);
	tt_free(t);
	/* WRITE flagged as a read: no data arrived */
	len = build_rw(cdb, F10, true, 0, 1);
	t = tt_new(&test_itn_a, 0, cdb, len, SCSI_DIR_READ, 512, 512);
	run_task(tgt, t);
	assert_sense(&t->t, SCSI_SK_ILLEGAL_REQUEST,
		     SCSI_ASC_INVALID_FIELD_IN_CMD_IU);
	tt_free(t);
}

static void test_protect_and_flags(void **state)
{
	uint8_t cdb[16];
	unsigned len = build_rw(cdb, F10, false, 0, 1);
	struct test_task *t;

	cdb[1] = 0x20; /* RDPROTECT 1 */
	t = tt_new(&test_itn_a, 0, cdb, len, SCSI_DIR_READ, 512, 512);
	run_task(tgt, t);
	assert_sense(&t->t, SCSI_SK_ILLEGAL_REQUEST,
		     SCSI_ASC_INVALID_FIELD_IN_CDB);
	assert_int_equal(t->t.sense[15], 0x80 | 0x40 | 0x08 | 5);
	tt_free(t);
	/* DPO + FUA + FUA_NV accepted; FUA on a write reaches the store */
	len = build_rw(cdb, F16, true, 0, 1);
	cdb[1] = 0x10 | 0x08 | 0x02;
	t = tt_new(&test_itn_a, 0, cdb, len, SCSI_DIR_WRITE, 512, 512);
	fake_bs_fua_writes = 0;
	run_task(tgt, t);
	assert_int_equal(t->t.status, SCSI_STATUS_GOOD);
	assert_int_equal(fake_bs_fua_writes, 1);
	tt_free(t);
}

static void test_readonly(void **state)
{
	struct scsi_target *ro = test_target(true);
	uint8_t cdb[16];
	unsigned len = build_rw(cdb, F10, true, 0, 1);
	struct test_task *t;

	clear_ua(ro, &test_itn_a);
	t = tt_new(&test_itn_a, 0, cdb, len, SCSI_DIR_WRITE, 512, 512);
	run_task(ro, t);
	assert_sense(&t->t, SCSI_SK_DATA_PROTECT, SCSI_ASC_WRITE_PROTECTED);
	tt_free(t);
	scsi_target_free(ro);
}

static void test_read_capacity(void **state)
{
	uint8_t rc10[10] = {SCSI_OP_READ_CAPACITY_10};
	uint8_t rc16[16] = {SCSI_OP_SERVICE_ACTION_IN_16, 0x10};
	struct test_task *t =
		tt_new(&test_itn_a, 0, rc10, 10, SCSI_DIR_READ, 8, 8);

	run_task(tgt, t);
	assert_int_equal(t->t.status, SCSI_STATUS_GOOD);
	assert_int_equal(get_be32(t->mem), TEST_NBLOCKS - 1);
	assert_int_equal(get_be32(t->mem + 4), 512);
	tt_free(t);
	put_be32(&rc16[10], 32);
	t = tt_new(&test_itn_a, 0, rc16, 16, SCSI_DIR_READ, 32, 32);
	run_task(tgt, t);
	assert_int_equal(t->t.status, SCSI_STATUS_GOOD);
	assert_true(get_be64(t->mem) == TEST_NBLOCKS - 1);
	assert_int_equal(get_be32(t->mem + 8), 512);
	assert_int_equal(t->t.xfer_len, 32);
	tt_free(t);
	/* LBA without PMI */
	rc10[5] = 1;
	t = tt_new(&test_itn_a, 0, rc10, 10, SCSI_DIR_READ, 8, 8);
	run_task(tgt, t);
	assert_sense(&t->t, SCSI_SK_ILLEGAL_REQUEST,
		     SCSI_ASC_INVALID_FIELD_IN_CDB);
	tt_free(t);
}

/* block_size = 4096: READ CAPACITY, LBA -> byte offset, end-of-medium
 * checks, residuals and the Block Limits page all in 4096-byte blocks. */
static void test_block_size_4096(void **state)
{
	struct scsi_target *t4 = scsi_target_new(TEST_TARGET);
	struct cfg_lun lun = {.id = 0,
			      .path = "/mem/lun4k",
			      .size = TEST_LUN_BYTES,
			      .block_size = 4096};
	uint8_t rc10[10] = {SCSI_OP_READ_CAPACITY_10};
	uint8_t rc16[16] = {SCSI_OP_SERVICE_ACTION_IN_16, 0x10};
	uint8_t b0[6] = {SCSI_OP_INQUIRY, 0x01, 0xb0, 0, 64, 0};
	uint8_t cdb[16];
	const uint32_t nb = TEST_LUN_BYTES / 4096;
	struct test_task *t;
	char err[256];
	uint8_t *mem;

	assert_non_null(t4);
	assert_int_equal(scsi_target_add_lun(t4, &lun, err, sizeof(err)), 0);
	assert_int_equal(t4->lus[0]->block_size, 4096);
	assert_int_equal(t4->lus[0]->nblocks, nb);
	clear_ua(t4, &test_itn_a);
	t = tt_new(&test_itn_a, 0, rc10, 10, SCSI_DIR_READ, 8, 8);
	run_task(t4, t);
	assert_int_equal(get_be32(t->mem), nb - 1);
	assert_int_equal(get_be32(t->mem + 4), 4096);
	tt_free(t);
	put_be32(&rc16[10], 32);
	t = tt_new(&test_itn_a, 0, rc16, 16, SCSI_DIR_READ, 32, 32);
	run_task(t4, t);
	assert_true(get_be64(t->mem) == nb - 1);
	assert_int_equal(get_be32(t->mem + 8), 4096);
	tt_free(t);
	/* WRITE 10 of 2 blocks at LBA 3 lands at byte 12288 */
	build_rw(cdb, F10, true, 3, 2);
	t = tt_new(&test_itn_a, 0, cdb, 10, SCSI_DIR_WRITE, 8192, 8192);
	memset(t->mem, 0x5a, 8192);
	run_task(t4, t);
	assert_int_equal(t->t.status, SCSI_STATUS_GOOD);
	tt_free(t);
	mem = fake_bs_mem(t4->lus[0]->bs);
	assert_int_equal(mem[12287], 0);
	assert_int_equal(mem[12288], 0x5a);
	assert_int_equal(mem[12288 + 8191], 0x5a);
	assert_int_equal(mem[12288 + 8192], 0);
	/* one block is 4096 bytes: an expected length of 512 underflows */
	build_rw(cdb, F16, false, 3, 1);
	t = tt_new(&test_itn_a, 0, cdb, 16, SCSI_DIR_READ, 512, 512);
	run_task(t4, t);
	assert_int_equal(t->t.xfer_len, 4096);
	tt_free(t);
	/* the last block reads; one past it is out of range */
	build_rw(cdb, F16, false, nb - 1, 1);
	t = tt_new(&test_itn_a, 0, cdb, 16, SCSI_DIR_READ, 4096, 4096);
	run_task(t4, t);
	assert_int_equal(t->t.status, SCSI_STATUS_GOOD);
	tt_free(t);
	build_rw(cdb, F16, false, nb - 1, 2);
	t = tt_new(&test_itn_a, 0, cdb, 16, SCSI_DIR_READ, 8192, 8192);
	run_task(t4, t);
	assert_sense(&t->t, SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	tt_free(t);
	/* Block Limits: MAXIMUM TRANSFER LENGTH in 4096-byte blocks */
	t = tt_new(&test_itn_a, 0, b0, 6, SCSI_DIR_READ, 64, 64);
	run_task(t4, t);
	assert_int_equal(t->t.status, SCSI_STATUS_GOOD);
	assert_int_equal(get_be32(t->mem + 8), DUET_MAX_IO_BYTES / 4096);
	tt_free(t);
	scsi_target_free(t4);
}

static struct test_task *verify(uint8_t bytchk, uint64_t lba, uint32_t n,
				const uint8_t *data, uint32_t len)
{
	uint8_t cdb[16] = {SCSI_OP_VERIFY_16, (uint8_t)(bytchk << 1)};
	struct test_task *t;

	put_be64(&cdb[2], lba);
	put_be32(&cdb[10], n);
	t = tt_new(&test_itn_a, 0, cdb, 16,
		   len ? SCSI_DIR_WRITE : SCSI_DIR_NONE, len, len);
	if (len)
		memcpy(t->mem, data, len);
	run_task(tgt, t);
	return t;
}

static void test_verify(void **state)
{
	uint8_t data[1024];
	struct test_task *t = rw(F10, true, 50, 2, 1024, 0x5a);

	tt_free(t);
	memset(data, 0x5a, sizeof(data));
	t = verify(0, 50, 2, NULL, 0);
	assert_int_equal(t->t.status, SCSI_STATUS_GOOD);
	tt_free(t);
	t = verify(0, TEST_NBLOCKS, 1, NULL, 0);
	assert_sense(&t->t, SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	tt_free(t);
	t = verify(1, 50, 2, data, 1024);
	assert_int_equal(t->t.status, SCSI_STATUS_GOOD);
	tt_free(t);
	data[700] = 0;
	t = verify(1, 50, 2, data, 1024);
	assert_sense(&t->t, SCSI_SK_MISCOMPARE,
		     SCSI_ASC_MISCOMPARE_DURING_VERIFY);
	assert_int_equal(t->t.sense[0], 0xf0);
	assert_int_equal(get_be32(&t->t.sense[3]), 700);
	tt_free(t);
	/* BYTCHK 11b: one block compared against every block */
	t = verify(3, 50, 2, data, 512);
	assert_int_equal(t->t.status, SCSI_STATUS_GOOD);
	tt_free(t);
}

static void test_sync_cache(void **state)
{
	uint8_t sc[10] = {SCSI_OP_SYNCHRONIZE_CACHE_10};
	uint8_t prm[4 + 20] = {0};
	uint8_t ms[6] = {SCSI_OP_MODE_SELECT_6, 0x10, 0, 0, sizeof(prm), 0};
	struct test_task *t;

	fake_bs_flushes = 0;
	assert_int_equal(simple_cmd(tgt, &test_itn_a, 0, sc, 10),
			 SCSI_STATUS_GOOD);
	assert_int_equal(fake_bs_flushes, 0); /* write-through: no-op */
	prm[4] = SCSI_MODE_PAGE_CACHING;
	prm[5] = 0x12;
	prm[6] = 0x04;
	t = tt_new(&test_itn_a, 0, ms, 6, SCSI_DIR_WRITE, sizeof(prm),
		   sizeof(prm));
	memcpy(t->mem, prm, sizeof(prm));
	run_task(tgt, t);
	assert_int_equal(t->t.status, SCSI_STATUS_GOOD);
	tt_free(t);
	assert_int_equal(simple_cmd(tgt, &test_itn_a, 0, sc, 10),
			 SCSI_STATUS_GOOD);
	assert_int_equal(fake_bs_flushes, 1);
	put_be32(&sc[2], TEST_NBLOCKS + 1);
	assert_int_equal(simple_cmd(tgt, &test_itn_a, 0, sc, 10),
			 SCSI_STATUS_CHECK_CONDITION);
}

static void test_io_error(void **state)
{
	struct test_task *t;
	unsigned before = test_log_lines;

	fake_bs_fail = -EIO;
	t = rw(F10, false, 7, 1, 512, 0);
	assert_sense(&t->t, SCSI_SK_MEDIUM_ERROR,
		     SCSI_ASC_UNRECOVERED_READ_ERROR);
	assert_int_equal(get_be32(&t->t.sense[3]), 7);
	tt_free(t);
	t = rw(F10, true, 7, 1, 512, 1);
	assert_sense(&t->t, SCSI_SK_MEDIUM_ERROR, SCSI_ASC_WRITE_ERROR);
	tt_free(t);
	assert_true(test_log_lines >= before + 2);
	fake_bs_fail = 0;
	fake_bs_submit_rc = -ENOMEM;
	t = rw(F10, true, 7, 1, 512, 1);
	assert_int_equal(t->t.status, SCSI_STATUS_TASK_SET_FULL);
	tt_free(t);
	fake_bs_submit_rc = 0;
}

static struct test_task *write_same(bool sixteen, uint8_t flags, uint64_t lba,
				    uint32_t n, uint8_t fill, uint32_t len)
{
	uint8_t cdb[16] = {0};
	struct test_task *t;

	if (sixteen) {
		cdb[0] = SCSI_OP_WRITE_SAME_16;
		put_be64(&cdb[2], lba);
		put_be32(&cdb[10], n);
	} else {
		cdb[0] = SCSI_OP_WRITE_SAME_10;
		put_be32(&cdb[2], (uint32_t)lba);
		put_be16(&cdb[7], (uint16_t)n);
	}
	cdb[1] = flags;
	t = tt_new(&test_itn_a, 0, cdb, sixteen ? 16 : 10,
		   len ? SCSI_DIR_WRITE : SCSI_DIR_NONE, len, len);
	if (len)
		memset(t->mem, fill, len);
	run_task(tgt, t);
	return t;
}

static void test_write_same(void **state)
{
	struct test_task *t = write_same(false, 0, 200, 16, 0x77, 512);

	assert_int_equal(t->t.status, SCSI_STATUS_GOOD);
	assert_int_equal(t->t.xfer_len, 512);
	tt_free(t);
	t = rw(F10, false, 200, 17, 17 * 512, 0);
	assert_int_equal(t->mem[0], 0x77);
	assert_int_equal(t->mem[16 * 512 - 1], 0x77);
	assert_int_equal(t->mem[16 * 512], 0);
	tt_free(t);
	/* NDOB: zeroes without a data-out buffer, through WRITE_ZEROES */
	fake_bs_zeroes = 0;
	t = write_same(true, 0x01, 200, 8, 0, 0);
	assert_int_equal(t->t.status, SCSI_STATUS_GOOD);
	assert_int_equal(fake_bs_zeroes, 1);
	tt_free(t);
	t = rw(F10, false, 200, 9, 9 * 512, 0);
	assert_int_equal(t->mem[0], 0);
	assert_int_equal(t->mem[8 * 512], 0x77);
	tt_free(t);
	/* WSNZ: zero blocks is invalid; beyond the end; WRPROTECT */
	t = write_same(true, 0, 0, 0, 1, 512);
	assert_sense(&t->t, SCSI_SK_ILLEGAL_REQUEST,
		     SCSI_ASC_INVALID_FIELD_IN_CDB);
	tt_free(t);
	t = write_same(true, 0, TEST_NBLOCKS - 1, 2, 1, 512);
	assert_sense(&t->t, SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	tt_free(t);
	t = write_same(false, 0x08, 0, 1, 1, 512); /* UNMAP: unsupported */
	assert_sense(&t->t, SCSI_SK_ILLEGAL_REQUEST,
		     SCSI_ASC_INVALID_FIELD_IN_CDB);
	assert_int_equal(t->t.sense[15], 0x80 | 0x40 | 0x08 | 3);
	tt_free(t);
	t = write_same(false, 0x20, 0, 1, 1, 512);
	assert_sense(&t->t, SCSI_SK_ILLEGAL_REQUEST,
		     SCSI_ASC_INVALID_FIELD_IN_CDB);
	tt_free(t);
}

/* Hostile initiator: many large WRITE SAMEs in flight cannot make the
 * target allocate more than SCSI_BOUNCE_MAX of bounce buffers. */
static void test_bounce_bounded(void **state)
{
	struct scsi_target *big = scsi_target_new("iqn.x:bounce");
	struct cfg_lun lun = {.id = 0, .path = "/m", .size = 128ull << 20};
	struct test_task *v[9];
	uint32_t n = DUET_MAX_IO_BYTES / 512;
	char err[64];

	assert_int_equal(scsi_target_add_lun(big, &lun, err, sizeof(err)), 0);
	clear_ua(big, &test_itn_a);
	for (unsigned i = 0; i < 9; i++) {
		uint8_t cdb[16] = {SCSI_OP_WRITE_SAME_16};

		put_be64(&cdb[2], (uint64_t)i * n);
		put_be32(&cdb[10], n);
		v[i] = tt_new(&test_itn_a, 0, cdb, 16, SCSI_DIR_WRITE, 512,
			      512);
		memset(v[i]->mem, 0x5a, 512); /* not zeroes: needs a bounce */
		scsi_dispatch_submit(scsi_target_dispatcher(big), &v[i]->t);
	}
	/* 8 x 8 MiB in flight: the ninth is refused at once */
	assert_int_equal(v[8]->done_calls, 1);
	assert_int_equal(v[8]->t.status, SCSI_STATUS_TASK_SET_FULL);
	assert_int_equal(v[7]->done_calls, 0);
	fake_bs_drain();
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(v[i]->t.status, SCSI_STATUS_GOOD);
	for (unsigned i = 0; i < 9; i++)
		tt_free(v[i]);
	assert_int_equal(scsi_target_inflight(big), 0);
	scsi_target_free(big);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_rw_all_forms),	    T(test_rw6_zero_means_256),
		T(test_zero_length),	    T(test_boundaries),
		T(test_max_transfer),	    T(test_read_residuals),
		T(test_write_short_data),   T(test_write_data_missing),
		T(test_direction_mismatch), T(test_protect_and_flags),
		T(test_readonly),	    T(test_read_capacity),
		T(test_block_size_4096),    T(test_verify),
		T(test_sync_cache),	    T(test_write_same),
		T(test_bounce_bounded),	    T(test_io_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
