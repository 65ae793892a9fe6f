// SPDX-License-Identifier: Apache-2.0
/* Sense data building: fixed and descriptor formats, field pointers,
 * INFORMATION. */
#include "scsi_test_common.h"

static void test_fixed_simple(void **state)
{
	struct scsi_task t = {0};

	scsi_sense_set_simple(&t, false, SCSI_SK_ILLEGAL_REQUEST,
			      SCSI_ASC_INVALID_OPCODE);
	assert_int_equal(t.status, SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(t.sense_len, 18);
	assert_int_equal(t.sense[0], 0x70);
	assert_int_equal(t.sense[2], 0x05);
	assert_int_equal(t.sense[7], 10);
	assert_int_equal(t.sense[12], 0x20);
	assert_int_equal(t.sense[13], 0x00);
	assert_int_equal(t.sense[15], 0);
}

static void test_field_pointer_cdb_bit(void **state)
{
	struct scsi_sense s = {.key = SCSI_SK_ILLEGAL_REQUEST,
			       .asc = SCSI_ASC_INVALID_FIELD_IN_CDB};
	struct scsi_task t = {0};

	scsi_sense_field_pointer(&s, true, 1, 5);
	scsi_sense_set(&t, false, &s);
	/* SKSV | C/D | BPV | bit 5 */
	assert_int_equal(t.sense[15], 0x80 | 0x40 | 0x08 | 5);
	assert_int_equal(get_be16(&t.sense[16]), 1);
}

static void test_field_pointer_param_nobit(void **state)
{
	struct scsi_sense s = {.key = SCSI_SK_ILLEGAL_REQUEST,
			       .asc = SCSI_ASC_INVALID_FIELD_IN_PARAM_LIST};
	struct scsi_task t = {0};

	scsi_sense_field_pointer(&s, false, 300, -1);
	scsi_sense_set(&t, false, &s);
	assert_int_equal(t.sense[15], 0x80);
	assert_int_equal(get_be16(&t.sense[16]), 300);
	assert_int_equal(t.sense[12], 0x26);
}

static void test_fixed_information(void **state)
{
	struct scsi_sense s = {.key = SCSI_SK_MISCOMPARE,
			       .asc = SCSI_ASC_MISCOMPARE_DURING_VERIFY,
			       .info_valid = true,
			       .info = 0x1234};
	struct scsi_task t = {0};

	scsi_sense_set(&t, false, &s);
	assert_int_equal(t.sense[0], 0xf0); /* VALID */
	assert_int_equal(get_be32(&t.sense[3]), 0x1234);
	/* too large for the fixed format: VALID stays 0 */
	s.info = 0x100000000ull;
	scsi_sense_set(&t, false, &s);
	assert_int_equal(t.sense[0], 0x70);
}

static void test_descriptor(void **state)
{
	struct scsi_sense s = {.key = SCSI_SK_ILLEGAL_REQUEST,
			       .asc = SCSI_ASC_INVALID_FIELD_IN_CDB,
			       .info_valid = true,
			       .info = 0x100000001ull};
	struct scsi_task t = {0};

	scsi_sense_field_pointer(&s, true, 2, -1);
	scsi_sense_set(&t, true, &s);
	assert_int_equal(t.sense[0], 0x72);
	assert_int_equal(t.sense[1], 0x05);
	assert_int_equal(t.sense[2], 0x24);
	assert_int_equal(t.sense[7], 20);
	assert_int_equal(t.sense_len, 28);
	assert_int_equal(t.sense[8], 0x00); /* information descriptor */
	assert_int_equal(t.sense[9], 0x0a);
	assert_int_equal(t.sense[10], 0x80);
	assert_true(get_be64(&t.sense[12]) == 0x100000001ull);
	assert_int_equal(t.sense[20], 0x02); /* sense key specific */
	assert_int_equal(t.sense[24], 0xc0);
	assert_int_equal(get_be16(&t.sense[25]), 2);
}

static void test_encode_truncates(void **state)
{
	struct scsi_sense s = {.key = SCSI_SK_UNIT_ATTENTION,
			       .asc = SCSI_ASC_POWER_ON_OR_RESET};
	uint8_t b[8];

	assert_int_equal(scsi_sense_encode(b, sizeof(b), false, &s), 8);
	assert_int_equal(b[0], 0x70);
	assert_int_equal(b[2], 0x06);
	assert_int_equal(scsi_sense_encode(b, sizeof(b), true, &s), 8);
	assert_int_equal(b[0], 0x72);
	assert_int_equal(b[7], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixed_simple),
		cmocka_unit_test(test_field_pointer_cdb_bit),
		cmocka_unit_test(test_field_pointer_param_nobit),
		cmocka_unit_test(test_fixed_information),
		cmocka_unit_test(test_descriptor),
		cmocka_unit_test(test_encode_truncates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
