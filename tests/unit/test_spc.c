// SPDX-License-Identifier: Apache-2.0
/* SPC commands: INQUIRY/VPD, REPORT LUNS, REQUEST SENSE, unit attentions,
 * MODE SENSE/SELECT, REPORT SUPPORTED OPERATION CODES and the opcode
 * table. */
#include "scsi_test_common.h"

#include "../../src/scsi/scsi_int.h"

static struct scsi_target *tgt;

static int setup(void **state)
{
	tgt = test_target(false);
	clear_ua(tgt, &test_itn_a);
	return 0;
}

static int teardown(void **state)
{
	assert_int_equal(scsi_target_inflight(tgt), 0);
	scsi_target_free(tgt);
	return 0;
}

static struct test_task *data_in(const struct scsi_itn *itn, uint32_t lun,
				 const uint8_t *cdb, unsigned len, uint32_t cap)
{
	struct test_task *tt =
		tt_new(itn, lun, cdb, len, SCSI_DIR_READ, cap, cap);

	run_task(tgt, tt);
	return tt;
}

static void test_inquiry_standard(void **state)
{
	uint8_t cdb[6] = {SCSI_OP_INQUIRY, 0, 0, 0, 255, 0};
	struct test_task *tt = data_in(&test_itn_a, 0, cdb, 6, 255);

	assert_int_equal(tt->t.status, SCSI_STATUS_GOOD);
	assert_int_equal(tt->t.xfer_len, 96);
	assert_int_equal(tt->t.data_len, 96);
	assert_int_equal(tt->mem[0], 0x00);
	assert_int_equal(tt->mem[2], 0x06);
	assert_int_equal(tt->mem[3], 0x12);
	assert_int_equal(tt->mem[4], 91);
	assert_int_equal(tt->mem[7] & 0x02, 0x02);
	assert_memory_equal(&tt->mem[8], "DUET    ", 8);
	assert_memory_equal(&tt->mem[16], "VIRTUAL-DISK    ", 16);
	assert_int_equal(get_be16(&tt->mem[62]), SCSI_VD_SPC4);
	tt_free(tt);
}

static void test_inquiry_alloc_len(void **state)
{
	uint8_t cdb[6] = {SCSI_OP_INQUIRY, 0, 0, 0, 36, 0};
	struct test_task *tt = data_in(&test_itn_a, 0, cdb, 6, 36);

	assert_int_equal(tt->t.xfer_len, 36);
	assert_int_equal(tt->t.data_len, 36);
	tt_free(tt);
	/* the buffer (EDTL) smaller than the allocation length */
	cdb[4] = 96;
	tt = data_in(&test_itn_a, 0, cdb, 6, 5);
	assert_int_equal(tt->t.xfer_len, 96);
	assert_int_equal(tt->t.data_len, 5);
	tt_free(tt);
}

static void test_inquiry_invalid_page(void **state)
{
	uint8_t cdb[6] = {SCSI_OP_INQUIRY, 0, 0x80, 0, 255, 0};
	struct test_task *tt = data_in(&test_itn_a, 0, cdb, 6, 255);

	assert_sense(&tt->t, SCSI_SK_ILLEGAL_REQUEST,
		     SCSI_ASC_INVALID_FIELD_IN_CDB);
	assert_int_equal(tt->t.sense[15] & 0xc0, 0xc0);
	assert_int_equal(get_be16(&tt->t.sense[16]), 2);
	tt_free(tt);
	/* unknown VPD page */
	cdb[1] = 1;
	cdb[2] = 0x55;
	tt = data_in(&test_itn_a, 0, cdb, 6, 255);
	assert_sense(&tt->t, SCSI_SK_ILLEGAL_REQUEST,
		     SCSI_ASC_INVALID_FIELD_IN_CDB);
	tt_free(tt);
	/* CMDDT (obsolete) bit: reserved bit -> field pointer byte 1 bit 1 */
	cdb[1] = 2;
	cdb[2] = 0;
	tt = data_in(&test_itn_a, 0, cdb, 6, 255);
	assert_int_equal(tt->t.sense[15], 0x80 | 0x40 | 0x08 | 1);
	assert_int_equal(get_be16(&tt->t.sense[16]), 1);
	tt_free(tt);
}

static void test_vpd_pages(void **state)
{
	uint8_t cdb[6] = {SCSI_OP_INQUIRY, 1, 0, 0, 255, 0};
	struct test_task *tt = data_in(&test_itn_a, 0, cdb, 6, 255);
	unsigned n = get_be16(&tt->mem[2]);

	assert_int_equal(tt->t.status, SCSI_STATUS_GOOD);
	assert_int_equal(n, 7);
	for (unsigned i = 0; i < n; i++) {
		uint8_t page = tt->mem[4 + i];
		struct test_task *p;

		cdb[2] = page;
		p = data_in(&test_itn_a, 0, cdb, 6, 255);
		assert_int_equal(p->t.status, SCSI_STATUS_GOOD);
		assert_int_equal(p->mem[1], page);
		assert_int_equal(get_be16(&p->mem[2]) + 4, p->t.xfer_len);
		if (page == SCSI_VPD_BLOCK_LIMITS)
			assert_int_equal(get_be32(&p->mem[8]),
					 DUET_MAX_IO_BYTES / 512);
		if (page == SCSI_VPD_BLOCK_CHARACTERISTICS)
			assert_int_equal(get_be16(&p->mem[4]), 1);
		if (page == SCSI_VPD_SERIAL)
			assert_true(p->t.xfer_len > 4);
		tt_free(p);
	}
	tt_free(tt);
}

static void get_naa(struct scsi_target *t, uint32_t lun, uint8_t *naa)
{
	uint8_t cdb[6] = {SCSI_OP_INQUIRY, 1, SCSI_VPD_DEVICE_ID, 0, 255, 0};
	struct test_task *tt =
		tt_new(&test_itn_a, lun, cdb, 6, SCSI_DIR_READ, 255, 255);

	run_task(t, tt);
	assert_int_equal(tt->t.status, SCSI_STATUS_GOOD);
	/* first designator: NAA, binary, LU association, 16 bytes */
	assert_int_equal(tt->mem[4], 0x01);
	assert_int_equal(tt->mem[5], 0x03);
	assert_int_equal(tt->mem[7], 16);
	assert_int_equal(tt->mem[8] >> 4, 6);
	memcpy(naa, &tt->mem[8], 16);
	tt_free(tt);
}

static struct scsi_target *target_named(const char *name, uint32_t id)
{
	struct scsi_target *t = scsi_target_new(name);
	struct cfg_lun lun = {.id = id, .path = "/mem", .size = 65536};
	char err[128];

	assert_int_equal(scsi_target_add_lun(t, &lun, err, sizeof(err)), 0);
	return t;
}

static void test_naa_stable(void **state)
{
	uint8_t a[16], b[16], c[16], d[16];
	struct scsi_target *t1 = target_named("iqn.x:a", 0);
	struct scsi_target *t2 = target_named("iqn.x:a", 0);
	struct scsi_target *t3 = target_named("iqn.x:b", 0);
	struct scsi_target *t4 = target_named("iqn.x:a", 1);

	get_naa(t1, 0, a);
	get_naa(t2, 0, b);
	get_naa(t3, 0, c);
	get_naa(t4, 1, d);
	assert_memory_equal(a, b, 16);
	assert_memory_not_equal(a, c, 16);
	assert_memory_not_equal(a, d, 16);
	scsi_target_free(t1);
	scsi_target_free(t2);
	scsi_target_free(t3);
	scsi_target_free(t4);
}

static void test_unknown_lun(void **state)
{
	uint8_t inq[6] = {SCSI_OP_INQUIRY, 0, 0, 0, 96, 0};
	uint8_t tur[6] = {0};
	uint8_t rs[6] = {SCSI_OP_REQUEST_SENSE, 0, 0, 0, 18, 0};
	struct test_task *tt = data_in(&test_itn_a, 5, inq, 6, 96);

	assert_int_equal(tt->t.status, SCSI_STATUS_GOOD);
	assert_int_equal(tt->mem[0], 0x7f);
	tt_free(tt);
	tt = tt_new(&test_itn_a, 5, tur, 6, SCSI_DIR_NONE, 0, 0);
	run_task(tgt, tt);
	assert_sense(&tt->t, SCSI_SK_ILLEGAL_REQUEST,
		     SCSI_ASC_LUN_NOT_SUPPORTED);
	tt_free(tt);
	tt = data_in(&test_itn_a, 5, rs, 6, 18);
	assert_int_equal(tt->t.status, SCSI_STATUS_GOOD);
	assert_int_equal(tt->mem[2], SCSI_SK_ILLEGAL_REQUEST);
	assert_int_equal(tt->mem[12], 0x25);
	tt_free(tt);
}

static void test_report_luns(void **state)
{
	uint8_t cdb[12] = {SCSI_OP_REPORT_LUNS, 0, 0, 0, 0, 0, 0, 0, 1, 0};
	struct cfg_lun lun = {.id = 300, .path = "/mem", .size = 65536};
	char err[64];
	struct test_task *tt;

	assert_int_equal(scsi_target_add_lun(tgt, &lun, err, sizeof(err)), 0);
	tt = data_in(&test_itn_a, 7, cdb, 12, 256);
	assert_int_equal(tt->t.status, SCSI_STATUS_GOOD);
	assert_int_equal(get_be32(&tt->mem[0]), 16);
	assert_int_equal(tt->t.xfer_len, 24);
	assert_true(get_be64(&tt->mem[8]) == 0);
	assert_true(get_be64(&tt->mem[16]) == scsi_lun_encode(300));
	assert_int_equal(tt->mem[16], 0x41); /* flat addressing, 300 */
	tt_free(tt);
	/* allocation length < 16 */
	cdb[8] = 0;
	cdb[9] = 15;
	tt = data_in(&test_itn_a, 0, cdb, 12, 15);
	assert_sense(&tt->t, SCSI_SK_ILLEGAL_REQUEST,
		     SCSI_ASC_INVALID_FIELD_IN_CDB);
	tt_free(tt);
	/* bad SELECT REPORT */
	cdb[9] = 16;
	cdb[2] = 0x05;
	tt = data_in(&test_itn_a, 0, cdb, 12, 16);
	assert_sense(&tt->t, SCSI_SK_ILLEGAL_REQUEST,
		     SCSI_ASC_INVALID_FIELD_IN_CDB);
	tt_free(tt);
	/* well-known LUNs only: none */
	cdb[2] = 0x01;
	tt = data_in(&test_itn_a, 0, cdb, 12, 16);
	assert_int_equal(get_be32(&tt->mem[0]), 0);
	tt_free(tt);
}

static void test_ua_lifecycle(void **state)
{
	uint8_t tur[6] = {0};
	uint8_t inq[6] = {SCSI_OP_INQUIRY, 0, 0, 0, 36, 0};
	uint8_t rs[6] = {SCSI_OP_REQUEST_SENSE, 0, 0, 0, 252, 0};
	struct test_task *tt;

	/* nexus b: INQUIRY neither blocked nor clears the UA */
	tt = data_in(&test_itn_b, 0, inq, 6, 36);
	assert_int_equal(tt->t.status, SCSI_STATUS_GOOD);
	tt_free(tt);
	/* REQUEST SENSE returns it and clears it */
	tt = data_in(&test_itn_b, 0, rs, 6, 252);
	assert_int_equal(tt->t.status, SCSI_STATUS_GOOD);
	assert_int_equal(tt->mem[2], SCSI_SK_UNIT_ATTENTION);
	assert_int_equal(tt->mem[12], 0x29);
	assert_int_equal(tt->t.xfer_len, 18);
	tt_free(tt);
	assert_int_equal(simple_cmd(tgt, &test_itn_b, 0, tur, 6),
			 SCSI_STATUS_GOOD);
	/* another ISID is another nexus: gets its own 29/00 */
	struct scsi_itn c = test_itn_b;

	c.isid[5] = 9;
	tt = tt_new(&c, 0, tur, 6, SCSI_DIR_NONE, 0, 0);
	run_task(tgt, tt);
	assert_sense(&tt->t, SCSI_SK_UNIT_ATTENTION,
		     SCSI_ASC_POWER_ON_OR_RESET);
	tt_free(tt);
	assert_int_equal(simple_cmd(tgt, &c, 0, tur, 6), SCSI_STATUS_GOOD);
	/* REQUEST SENSE with nothing pending: NO SENSE, descriptor format */
	rs[1] = 1;
	tt = data_in(&test_itn_b, 0, rs, 6, 252);
	assert_int_equal(tt->mem[0], 0x72);
	assert_int_equal(tt->mem[1], 0);
	tt_free(tt);
}

static struct test_task *mode_sense(uint8_t page, uint8_t pc, bool dbd)
{
	uint8_t cdb[10] = {SCSI_OP_MODE_SENSE_10,
			   dbd ? 0x08 : 0,
			   (uint8_t)(pc << 6 | page),
			   0,
			   0,
			   0,
			   0,
			   1,
			   0,
			   0};

	return data_in(&test_itn_a, 0, cdb, 10, 256);
}

static uint8_t *find_page(struct test_task *tt, uint8_t page)
{
	uint32_t len = get_be16(tt->mem) + 2;
	uint32_t off = 8 + get_be16(&tt->mem[6]);

	while (off + 2 <= len) {
		if ((tt->mem[off] & 0x3f) == page)
			return &tt->mem[off];
		off += 2u + tt->mem[off + 1];
	}
	return NULL;
}

static void test_mode_sense(void **state)
{
	struct test_task *tt = mode_sense(SCSI_MODE_PAGE_ALL, 0, false);
	uint8_t *p;

	assert_int_equal(tt->t.status, SCSI_STATUS_GOOD);
	assert_int_equal(get_be16(&tt->mem[6]), 8); /* block descriptor */
	assert_int_equal(get_be32(&tt->mem[8]), TEST_NBLOCKS);
	assert_int_equal(get_be24(&tt->mem[13]), 512);
	p = find_page(tt, SCSI_MODE_PAGE_CACHING);
	assert_non_null(p);
	assert_int_equal(p[2] & 0x04, 0); /* write-through */
	assert_non_null(find_page(tt, SCSI_MODE_PAGE_CONTROL));
	assert_non_null(find_page(tt, SCSI_MODE_PAGE_INFO_EXCEPTIONS));
	tt_free(tt);
	/* changeable mask */
	tt = mode_sense(SCSI_MODE_PAGE_CACHING, 1, true);
	assert_int_equal(get_be16(&tt->mem[6]), 0);
	assert_int_equal(tt->mem[10] & 0x04, 0x04);
	tt_free(tt);
	/* saved values are not supported */
	tt = mode_sense(SCSI_MODE_PAGE_CACHING, 3, true);
	assert_sense(&tt->t, SCSI_SK_ILLEGAL_REQUEST,
		     SCSI_ASC_SAVING_PARAMS_NOT_SUPPORTED);
	tt_free(tt);
	/* unknown page */
	tt = mode_sense(0x19, 0, true);
	assert_sense(&tt->t, SCSI_SK_ILLEGAL_REQUEST,
		     SCSI_ASC_INVALID_FIELD_IN_CDB);
	tt_free(tt);
}

static struct test_task *mode_select6(const struct scsi_itn *itn,
				      const uint8_t *param, unsigned len)
{
	uint8_t cdb[6] = {SCSI_OP_MODE_SELECT_6, 0x10, 0, 0, (uint8_t)len, 0};
	struct test_task *tt = tt_new(itn, 0, cdb, 6, SCSI_DIR_WRITE, len, len);

	memcpy(tt->mem, param, len);
	run_task(tgt, tt);
	return tt;
}

static void test_mode_select_roundtrip(void **state)
{
	uint8_t prm[4 + 20] = {0};
	struct test_task *tt;
	uint8_t tur[6] = {0};

	clear_ua(tgt, &test_itn_b);
	prm[4] = SCSI_MODE_PAGE_CACHING;
	prm[5] = 0x12;
	prm[6] = 0x04; /* WCE */
	tt = mode_select6(&test_itn_a, prm, sizeof(prm));
	assert_int_equal(tt->t.status, SCSI_STATUS_GOOD);
	tt_free(tt);
	tt = mode_sense(SCSI_MODE_PAGE_CACHING, 0, true);
	assert_int_equal(tt->mem[10] & 0x04, 0x04);
	tt_free(tt);
	/* the other nexus is told: MODE PARAMETERS CHANGED */
	tt = tt_new(&test_itn_b, 0, tur, 6, SCSI_DIR_NONE, 0, 0);
	run_task(tgt, tt);
	assert_sense(&tt->t, SCSI_SK_UNIT_ATTENTION,
		     SCSI_ASC_MODE_PARAMETERS_CHANGED);
	tt_free(tt);
	/* the requester is not */
	assert_int_equal(simple_cmd(tgt, &test_itn_a, 0, tur, 6),
			 SCSI_STATUS_GOOD);
	/* changing a non-changeable bit: field pointer into the list */
	prm[6] = 0x04 | 0x01; /* RCD */
	tt = mode_select6(&test_itn_a, prm, sizeof(prm));
	assert_sense(&tt->t, SCSI_SK_ILLEGAL_REQUEST,
		     SCSI_ASC_INVALID_FIELD_IN_PARAM_LIST);
	assert_int_equal(tt->t.sense[15], 0x80 | 0x08 | 0);
	assert_int_equal(get_be16(&tt->t.sense[16]), 6);
	tt_free(tt);
}

static void test_mode_select_dsense(void **state)
{
	uint8_t prm[4 + 12] = {0};
	uint8_t bad[6] = {0x00, 0x40, 0, 0, 0, 0}; /* reserved bit */
	struct test_task *tt;

	prm[4] = SCSI_MODE_PAGE_CONTROL;
	prm[5] = 0x0a;
	prm[6] = 0x02 | 0x04; /* GLTSD (unchanged) + D_SENSE */
	prm[7] = 0x10;
	prm[12] = 0xff;
	prm[13] = 0xff;
	tt = mode_select6(&test_itn_a, prm, sizeof(prm));
	assert_int_equal(tt->t.status, SCSI_STATUS_GOOD);
	tt_free(tt);
	tt = tt_new(&test_itn_a, 0, bad, 6, SCSI_DIR_NONE, 0, 0);
	run_task(tgt, tt);
	assert_int_equal(tt->t.sense[0], 0x72); /* descriptor sense now */
	assert_int_equal(tt->t.sense[2], 0x24);
	tt_free(tt);
}

static void test_mode_select_truncated(void **state)
{
	uint8_t prm[4 + 10] = {0};
	struct test_task *tt;

	prm[4] = SCSI_MODE_PAGE_CACHING;
	prm[5] = 0x12;
	tt = mode_select6(&test_itn_a, prm, sizeof(prm));
	assert_sense(&tt->t, SCSI_SK_ILLEGAL_REQUEST,
		     SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
	tt_free(tt);
}

static void test_mode_select_all_or_nothing(void **state)
{
	uint8_t prm[4 + 20 + 12] = {0};
	struct test_task *tt;

	prm[4] = SCSI_MODE_PAGE_CACHING;
	prm[5] = 0x12;
	prm[6] = 0x04;			  /* valid: WCE on */
	prm[24] = SCSI_MODE_PAGE_CONTROL; /* invalid: QERR changed */
	prm[25] = 0x0a;
	prm[26] = 0x02;
	prm[27] = 0x10 | 0x02;
	tt = mode_select6(&test_itn_a, prm, sizeof(prm));
	assert_sense(&tt->t, SCSI_SK_ILLEGAL_REQUEST,
		     SCSI_ASC_INVALID_FIELD_IN_PARAM_LIST);
	assert_int_equal(get_be16(&tt->t.sense[16]), 27);
	tt_free(tt);
	tt = mode_sense(SCSI_MODE_PAGE_CACHING, 0, true);
	assert_int_equal(tt->mem[10] & 0x04, 0); /* first page not applied */
	tt_free(tt);
}

static void test_prefetch_and_prevent(void **state)
{
	uint8_t pf[10] = {SCSI_OP_PREFETCH_10};
	uint8_t pa[6] = {SCSI_OP_PREVENT_ALLOW_REMOVAL, 0, 0, 0, 1, 0};

	put_be16(&pf[7], 8);
	assert_int_equal(simple_cmd(tgt, &test_itn_a, 0, pf, 10),
			 SCSI_STATUS_GOOD);
	put_be32(&pf[2], TEST_NBLOCKS - 4);
	assert_int_equal(simple_cmd(tgt, &test_itn_a, 0, pf, 10),
			 SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(simple_cmd(tgt, &test_itn_a, 0, pa, 6),
			 SCSI_STATUS_GOOD);
}

static void test_opcode_table_unique(void **state)
{
	for (unsigned i = 0; i < scsi_sbc_n_ops; i++) {
		const struct scsi_opdesc *a = &scsi_sbc_ops[i];
		bool unknown;

		assert_int_equal(a->usage[0], a->opcode);
		assert_true(a->cdb_len <= 16 && a->cdb_len >= 6);
		assert_ptr_equal(scsi_op_lookup(a->opcode, a->sa, &unknown), a);
		for (unsigned j = i + 1; j < scsi_sbc_n_ops; j++) {
			const struct scsi_opdesc *b = &scsi_sbc_ops[j];

			assert_false(
				a->opcode == b->opcode &&
				(!(a->flags & SCSI_OPF_SA) || a->sa == b->sa));
		}
	}
}

static void test_rsoc_matches_table(void **state)
{
	uint8_t cdb[12] = {SCSI_OP_MAINTENANCE_IN,
			   0x0c,
			   0x80,
			   0,
			   0,
			   0,
			   0,
			   0,
			   0x10,
			   0,
			   0,
			   0};
	struct test_task *tt = data_in(&test_itn_a, 0, cdb, 12, 4096);
	uint32_t len = get_be32(tt->mem), off = 4;

	assert_int_equal(tt->t.status, SCSI_STATUS_GOOD);
	assert_int_equal(len, scsi_sbc_n_ops * 20);
	for (unsigned i = 0; i < scsi_sbc_n_ops; i++, off += 20) {
		const struct scsi_opdesc *op = &scsi_sbc_ops[i];

		assert_int_equal(tt->mem[off], op->opcode);
		assert_int_equal(get_be16(&tt->mem[off + 6]), op->cdb_len);
		assert_int_equal(!!(tt->mem[off + 5] & 1),
				 !!(op->flags & SCSI_OPF_SA));
		assert_int_equal(tt->mem[off + 5] & 2, 2); /* CTDP */
		assert_int_equal(get_be16(&tt->mem[off + 8]), 0x0a);
	}
	tt_free(tt);
	/* one command: CDB usage data equals the table's mask */
	for (unsigned i = 0; i < scsi_sbc_n_ops; i++) {
		const struct scsi_opdesc *op = &scsi_sbc_ops[i];

		cdb[2] = (op->flags & SCSI_OPF_SA) ? 2 : 1;
		cdb[3] = op->opcode;
		put_be16(&cdb[4], op->sa);
		tt = data_in(&test_itn_a, 0, cdb, 12, 4096);
		assert_int_equal(tt->t.status, SCSI_STATUS_GOOD);
		assert_int_equal(tt->mem[1] & 0x07, 3);
		assert_int_equal(get_be16(&tt->mem[2]), op->cdb_len);
		assert_memory_equal(&tt->mem[4], op->usage, op->cdb_len);
		tt_free(tt);
	}
	/* unsupported opcode: SUPPORT 001b */
	cdb[2] = 1;
	cdb[3] = 0xe7;
	tt = data_in(&test_itn_a, 0, cdb, 12, 4096);
	assert_int_equal(tt->mem[1] & 0x07, 1);
	tt_free(tt);
	/* reporting option 1 for a service-action opcode: invalid */
	cdb[3] = SCSI_OP_SERVICE_ACTION_IN_16;
	tt = data_in(&test_itn_a, 0, cdb, 12, 4096);
	assert_sense(&tt->t, SCSI_SK_ILLEGAL_REQUEST,
		     SCSI_ASC_INVALID_FIELD_IN_CDB);
	tt_free(tt);
}

static void test_unsupported_opcodes(void **state)
{
	uint8_t pr[10] = {SCSI_OP_PERSISTENT_RESERVE_IN};
	uint8_t sai[16] = {SCSI_OP_SERVICE_ACTION_IN_16, 0x12};
	struct test_task *tt =
		tt_new(&test_itn_a, 0, pr, 10, SCSI_DIR_NONE, 0, 0);

	run_task(tgt, tt);
	assert_sense(&tt->t, SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_INVALID_OPCODE);
	tt_free(tt);
	tt = tt_new(&test_itn_a, 0, sai, 16, SCSI_DIR_NONE, 0, 0);
	run_task(tgt, tt);
	assert_sense(&tt->t, SCSI_SK_ILLEGAL_REQUEST,
		     SCSI_ASC_INVALID_FIELD_IN_CDB);
	assert_int_equal(get_be16(&tt->t.sense[16]), 1);
	tt_free(tt);
}

static void test_naca_rejected(void **state)
{
	uint8_t tur[6] = {0, 0, 0, 0, 0, 0x04};
	struct test_task *tt =
		tt_new(&test_itn_a, 0, tur, 6, SCSI_DIR_NONE, 0, 0);

	run_task(tgt, tt);
	assert_sense(&tt->t, SCSI_SK_ILLEGAL_REQUEST,
		     SCSI_ASC_INVALID_FIELD_IN_CDB);
	assert_int_equal(tt->t.sense[15], 0x80 | 0x40 | 0x08 | 2);
	assert_int_equal(get_be16(&tt->t.sense[16]), 5);
	tt_free(tt);
}

static void test_start_stop(void **state)
{
	uint8_t ssu[6] = {SCSI_OP_START_STOP_UNIT, 1, 0, 0, 0x01, 0};

	assert_int_equal(simple_cmd(tgt, &test_itn_a, 0, ssu, 6),
			 SCSI_STATUS_GOOD);
	ssu[4] = 0x50; /* reserved power condition 5 */
	assert_int_equal(simple_cmd(tgt, &test_itn_a, 0, ssu, 6),
			 SCSI_STATUS_CHECK_CONDITION);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_inquiry_standard),
		T(test_inquiry_alloc_len),
		T(test_inquiry_invalid_page),
		T(test_vpd_pages),
		cmocka_unit_test(test_naa_stable),
		T(test_unknown_lun),
		T(test_report_luns),
		T(test_ua_lifecycle),
		T(test_mode_sense),
		T(test_mode_select_roundtrip),
		T(test_mode_select_dsense),
		T(test_mode_select_truncated),
		T(test_mode_select_all_or_nothing),
		T(test_prefetch_and_prevent),
		cmocka_unit_test(test_opcode_table_unique),
		T(test_rsoc_matches_table),
		T(test_unsupported_opcodes),
		T(test_naca_rejected),
		T(test_start_stop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
