// SPDX-License-Identifier: Apache-2.0
/* PDU helpers: CRC32C (RFC 3720 B.4 vectors), builders, residuals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/iscsi/iscsi_int.h"

static void wire_digest(uint32_t crc, uint8_t out[4])
{
	put_le32_digest(out, crc);
}

static void test_crc32c_rfc_vectors(void **state)
{
	uint8_t buf[32], d[4];
	static const uint8_t zeros[4] = {0xaa, 0x36, 0x91, 0x8a};
	static const uint8_t ones[4] = {0x43, 0xab, 0xa8, 0x62};
	static const uint8_t inc[4] = {0x4e, 0x79, 0xdd, 0x46};
	static const uint8_t dec[4] = {0x5c, 0xdb, 0x3f, 0x11};

	memset(buf, 0, sizeof(buf));
	wire_digest(iscsi_crc32c(buf, 32), d);
	assert_memory_equal(d, zeros, 4);
	memset(buf, 0xff, sizeof(buf));
	wire_digest(iscsi_crc32c(buf, 32), d);
	assert_memory_equal(d, ones, 4);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	wire_digest(iscsi_crc32c(buf, 32), d);
	assert_memory_equal(d, inc, 4);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	wire_digest(iscsi_crc32c(buf, 32), d);
	assert_memory_equal(d, dec, 4);
	assert_int_equal(iscsi_crc32c(buf, 32), 0x113fdb5c);
}

static void test_crc32c_continue(void **state)
{
	uint8_t buf[1000];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	uint32_t whole = iscsi_crc32c(buf, sizeof(buf));

	for (size_t cut = 0; cut <= sizeof(buf); cut += 37) {
		uint32_t c = iscsi_crc32c(buf, cut);

		c = iscsi_crc32c_continue(c, buf + cut, sizeof(buf) - cut);
		assert_int_equal(c, whole);
	}
	assert_int_equal(iscsi_crc32c_continue(0, buf, 10),
			 iscsi_crc32c(buf, 10));
	assert_int_equal(iscsi_crc32c(buf, 0), 0);
}

static void test_bhs_accessors(void **state)
{
	uint8_t bhs[ISCSI_BHS_LEN];

	iscsi_bhs_init(bhs, ISCSI_OP_SCSI_CMD | ISCSI_OP_IMMEDIATE, 0x81);
	iscsi_bhs_set_dlen(bhs, 0x123456);
	bhs[4] = 3;
	assert_int_equal(iscsi_bhs_opcode(bhs), ISCSI_OP_SCSI_CMD);
	assert_true(iscsi_bhs_immediate(bhs));
	assert_int_equal(iscsi_bhs_dlen(bhs), 0x123456);
	assert_int_equal(iscsi_bhs_ahs_len(bhs), 12);
	assert_int_equal(bhs[5], 0x12);
	assert_int_equal(bhs[7], 0x56);
}

static void test_scsi_rsp(void **state)
{
	uint8_t b[ISCSI_BHS_LEN];

	iscsi_build_scsi_rsp(b, 0x11223344, 7, SCSI_STATUS_CHECK_CONDITION,
			     ISCSI_FLAG_RSP_UNDERFLOW, 512, 20);
	assert_int_equal(b[0], ISCSI_OP_SCSI_RSP);
	assert_int_equal(b[1], 0x80 | ISCSI_FLAG_RSP_UNDERFLOW);
	assert_int_equal(b[2], ISCSI_RSP_COMPLETED);
	assert_int_equal(b[3], SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(iscsi_bhs_dlen(b), 20);
	assert_int_equal(get_be32(b + 16), 0x11223344);
	assert_int_equal(get_be32(b + 24), 7);
	assert_int_equal(get_be32(b + 44), 512);
	iscsi_build_scsi_rsp(b, 1, 2, 0, 0, 99, 0);
	assert_int_equal(get_be32(b + 44), 0); /* no flag: no residual */
}

static void test_data_in_r2t(void **state)
{
	uint8_t b[ISCSI_BHS_LEN];

	iscsi_build_data_in(b, 5, 0x0001000000000000ull, 3, 8192, 4096, 0x80);
	assert_int_equal(b[0], ISCSI_OP_DATA_IN);
	assert_int_equal(b[1], 0x80);
	assert_int_equal(iscsi_bhs_dlen(b), 4096);
	assert_int_equal(get_be32(b + 16), 5);
	assert_int_equal(get_be32(b + 20), 0xffffffff);
	assert_int_equal(get_be32(b + 36), 3);
	assert_int_equal(get_be32(b + 40), 8192);
	iscsi_build_r2t(b, 9, 0, 0x77, 10, 2, 65536, 262144);
	assert_int_equal(b[0], ISCSI_OP_R2T);
	assert_int_equal(b[1], 0x80);
	assert_int_equal(iscsi_bhs_dlen(b), 0);
	assert_int_equal(get_be32(b + 16), 9);
	assert_int_equal(get_be32(b + 20), 0x77);
	assert_int_equal(get_be32(b + 24), 10);
	assert_int_equal(get_be32(b + 36), 2);
	assert_int_equal(get_be32(b + 40), 65536);
	assert_int_equal(get_be32(b + 44), 262144);
}

static void test_other_builders(void **state)
{
	uint8_t b[ISCSI_BHS_LEN];

	iscsi_build_nop_in(b, 0xffffffff, 0x10, 0, 4, 0);
	assert_int_equal(b[0], ISCSI_OP_NOP_IN);
	assert_int_equal(get_be32(b + 16), 0xffffffff);
	assert_int_equal(get_be32(b + 20), 0x10);
	assert_int_equal(get_be32(b + 24), 4);
	iscsi_build_tmf_rsp(b, 3, 8, SCSI_TMF_NO_TASK);
	assert_int_equal(b[0], ISCSI_OP_TMF_RSP);
	assert_int_equal(b[2], 1);
	assert_int_equal(get_be32(b + 16), 3);
	iscsi_build_logout_rsp(b, 4, 9, 2, 2, 20);
	assert_int_equal(b[0], ISCSI_OP_LOGOUT_RSP);
	assert_int_equal(b[2], 2);
	assert_int_equal(get_be16(b + 40), 2);
	assert_int_equal(get_be16(b + 42), 20);
	iscsi_build_reject(b, ISCSI_REJECT_PROTOCOL_ERROR, 11);
	assert_int_equal(b[0], ISCSI_OP_REJECT);
	assert_int_equal(b[1], 0x80);
	assert_int_equal(b[2], 4);
	assert_int_equal(iscsi_bhs_dlen(b), 48);
	assert_int_equal(get_be32(b + 16), 0xffffffff);
	assert_int_equal(get_be32(b + 24), 11);
	iscsi_build_async(b, ISCSI_ASYNC_LOGOUT_REQUEST, 1, 0, 2, 20);
	assert_int_equal(b[0], ISCSI_OP_ASYNC_MSG);
	assert_int_equal(b[36], 1);
	assert_int_equal(get_be16(b + 40), 2);
}

static void test_segmentation(void **state)
{
	assert_int_equal(iscsi_data_in_count(0, 8192), 0);
	assert_int_equal(iscsi_data_in_count(1, 8192), 1);
	assert_int_equal(iscsi_data_in_count(8192, 8192), 1);
	assert_int_equal(iscsi_data_in_count(8193, 8192), 2);
	assert_int_equal(iscsi_data_in_count(131072, 8192), 16);
	assert_int_equal(iscsi_pad4(0), 0);
	assert_int_equal(iscsi_pad4(1), 3);
	assert_int_equal(iscsi_pad4(2), 2);
	assert_int_equal(iscsi_pad4(3), 1);
	assert_int_equal(iscsi_pad4(4), 0);
}

static void test_residual(void **state)
{
	uint32_t r = 1;

	assert_int_equal(iscsi_residual(512, 512, &r), 0);
	assert_int_equal(r, 0);
	assert_int_equal(iscsi_residual(1024, 512, &r),
			 ISCSI_FLAG_RSP_OVERFLOW);
	assert_int_equal(r, 512);
	assert_int_equal(iscsi_residual(36, 255, &r), ISCSI_FLAG_RSP_UNDERFLOW);
	assert_int_equal(r, 219);
	assert_int_equal(iscsi_residual(512, 0, &r), ISCSI_FLAG_RSP_OVERFLOW);
	assert_int_equal(r, 512);
	/* Data-In uses the same bit values */
	assert_int_equal(ISCSI_FLAG_RSP_OVERFLOW, ISCSI_FLAG_DATA_OVERFLOW);
	assert_int_equal(ISCSI_FLAG_RSP_UNDERFLOW, ISCSI_FLAG_DATA_UNDERFLOW);
}

static void test_bhs_check(void **state)
{
	uint8_t b[ISCSI_BHS_LEN] = {0};

	b[0] = ISCSI_OP_SCSI_CMD;
	assert_int_equal(iscsi_bhs_check(b), 0);
	b[0] = ISCSI_OP_SNACK_REQ;
	assert_int_equal(iscsi_bhs_check(b), ISCSI_REJECT_SNACK);
	b[0] = 0x1c;
	assert_int_equal(iscsi_bhs_check(b), ISCSI_REJECT_CMD_NOT_SUPPORTED);
	b[0] = ISCSI_OP_NOP_IN; /* a target opcode from the initiator */
	assert_int_equal(iscsi_bhs_check(b), ISCSI_REJECT_CMD_NOT_SUPPORTED);
	b[0] = 0x80 | ISCSI_OP_NOP_OUT;
	assert_int_equal(iscsi_bhs_check(b), ISCSI_REJECT_PROTOCOL_ERROR);
	assert_true(iscsi_op_has_sn(ISCSI_OP_R2T));
	assert_false(iscsi_op_has_sn(ISCSI_OP_LOGIN_RSP));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_rfc_vectors),
		cmocka_unit_test(test_crc32c_continue),
		cmocka_unit_test(test_bhs_accessors),
		cmocka_unit_test(test_scsi_rsp),
		cmocka_unit_test(test_data_in_r2t),
		cmocka_unit_test(test_other_builders),
		cmocka_unit_test(test_segmentation),
		cmocka_unit_test(test_residual),
		cmocka_unit_test(test_bhs_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
