// SPDX-License-Identifier: Apache-2.0
/* Negotiation matrix against a real duetd: header digest on/off,
 * ImmediateData, InitialR2T, I/O sizes around FirstBurstLength and
 * MaxBurstLength (set small on the target side, since libiscsi 1.19 has no
 * setter for the burst keys), and data digests over raw PDUs (libiscsi
 * 1.19 cannot negotiate DataDigest). Every combination writes and reads
 * back patterns. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* small bursts: MRDSL 8K, FirstBurst 16K, MaxBurst 64K */
static struct duet_daemon S;
/* defaults from the config format (FirstBurst 64K, MaxBurst 1M) */
static struct duet_daemon L;

static int start(struct duet_daemon *d, const char *iscsi_block)
{
	char text[2048], lun[300];

	if (duet_prepare(d))
		return -1;
	snprintf(lun, sizeof(lun), "%s/lun0.img", d->dir);
	snprintf(text, sizeof(text),
		 "iscsi = { %s };\n"
		 "portals = ( \"127.0.0.1:%d\" );\n"
		 "targets = ( { name = \"%s\";\n"
		 "  luns = ( { path = \"%s\"; size = \"64M\"; } ); } );\n",
		 iscsi_block, d->port, TEST_IQN, lun);
	return duet_start_config(d, text);
}

static int setup(void **state)
{
	if (start(&S, "max_recv_data_segment_length = 8192; "
		      "first_burst_length = 16384; max_burst_length = 65536; "
		      "max_outstanding_r2t = 2;") ||
	    start(&L, "")) {
		duet_cleanup(&S);
		duet_cleanup(&L);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	int a = duet_stop(&S, 10000), b = duet_stop(&L, 10000);

	duet_cleanup(&S);
	duet_cleanup(&L);
	return a == 0 && b == 0 ? 0 : -1;
}

static const uint32_t sizes[] = {
	512,	   4096,	  8192,	       8192 + 512,	16384 - 512,
	16384,	   16384 + 512,	  65536 - 512, 65536,		65536 + 512,
	65536 * 2, 262144 + 4096, 1 << 20,     (1 << 20) + 512, 3u << 20,
};

static void matrix(struct duet_daemon *d, int hd, int imm, int r2t)
{
	struct duet_iscsi_opts o;
	struct iscsi_context *ctx;
	uint8_t *w = malloc(3u << 21), *r = malloc(3u << 21);
	uint64_t lba = 16;

	assert_non_null(w);
	assert_non_null(r);
	duet_iscsi_opts_init(&o);
	o.hdigest = hd ? ISCSI_HEADER_DIGEST_CRC32C : ISCSI_HEADER_DIGEST_NONE;
	o.immediate_data = imm;
	o.initial_r2t = r2t;
	ctx = duet_iscsi_login(d, TEST_IQN, 0, &o);
	if (!ctx)
		duet_dump_log(d);
	assert_non_null(ctx);
	for (size_t i = 0; i < NELEM(sizes); i++) {
		uint32_t len = sizes[i];
		uint32_t seed = (uint32_t)(hd << 16 | imm << 8 | r2t) + i;

		duet_fill(w, len, lba, seed);
		memset(r, 0, len);
		if (duet_write(ctx, 0, lba, w, len) ||
		    duet_read(ctx, 0, lba, r, len))
			fail_msg("I/O failed: hd=%d imm=%d r2t=%d len=%u", hd,
				 imm, r2t, len);
		if (memcmp(w, r, len))
			fail_msg("mismatch: hd=%d imm=%d r2t=%d len=%u", hd,
				 imm, r2t, len);
		lba += len / 512 + 3;
	}
	duet_iscsi_logout(ctx);
	free(w);
	free(r);
}

#define M(name, d, hd, imm, r2t)          \
	static void name(void **state)    \
	{                                 \
		matrix(&d, hd, imm, r2t); \
	}
M(small_hd0_imm0_r2t0, S, 0, 0, 0)
M(small_hd0_imm0_r2t1, S, 0, 0, 1)
M(small_hd0_imm1_r2t0, S, 0, 1, 0)
M(small_hd0_imm1_r2t1, S, 0, 1, 1)
M(small_hd1_imm0_r2t0, S, 1, 0, 0)
M(small_hd1_imm0_r2t1, S, 1, 0, 1)
M(small_hd1_imm1_r2t0, S, 1, 1, 0)
M(small_hd1_imm1_r2t1, S, 1, 1, 1)
M(large_hd0_imm1_r2t0, L, 0, 1, 0)
M(large_hd1_imm0_r2t1, L, 1, 0, 1)
M(large_hd1_imm1_r2t0, L, 1, 1, 0)

/* Raw session with HeaderDigest/DataDigest CRC32C: writes with immediate
 * data + R2T/Data-Out, and reads whose Data-In digests are verified. */
static void raw_digest(struct duet_daemon *d, bool hd, bool dd)
{
	const char *keys[12];
	struct raw_conn c = {.fd = -1};
	uint8_t *w = malloc(1 << 20), *r = malloc(1 << 20), cdb[16];
	static const uint32_t lens[] = {512, 8192, 20480, 65536 + 512, 1 << 20};
	int n = 0;

	keys[n++] = hd ? "HeaderDigest=CRC32C" : "HeaderDigest=None";
	keys[n++] = dd ? "DataDigest=CRC32C" : "DataDigest=None";
	keys[n++] = "ImmediateData=Yes";
	keys[n++] = "InitialR2T=No";
	keys[n++] = "MaxRecvDataSegmentLength=8192";
	keys[n++] = "FirstBurstLength=65536";
	keys[n++] = "MaxBurstLength=262144";
	keys[n++] = "ErrorRecoveryLevel=0";
	keys[n] = NULL;
	c.fd = raw_connect(d->port);
	assert_true(c.fd >= 0);
	assert_int_equal(raw_login(&c, TEST_IQN, keys), 0);
	assert_int_equal(c.hdigest, hd);
	assert_int_equal(c.ddigest, dd);
	/* consume the power-on unit attention of this new I_T nexus */
	memset(cdb, 0, 16);
	(void)raw_scsi(&c, cdb, NULL, 0, 0, NULL, 0);
	memset(cdb, 0, 16);
	assert_int_equal(raw_scsi(&c, cdb, NULL, 0, 0, NULL, 0), 0);
	for (size_t i = 0; i < NELEM(lens); i++) {
		uint32_t len = lens[i], lba = 70000 + (uint32_t)i * 4096;

		duet_fill(w, len, lba, 0xd1 + (uint32_t)i);
		memset(cdb, 0, 16);
		cdb[0] = 0x2a; /* WRITE(10) */
		cdb[2] = lba >> 24;
		cdb[3] = lba >> 16;
		cdb[4] = lba >> 8;
		cdb[5] = lba;
		cdb[7] = (len / 512) >> 8;
		cdb[8] = len / 512;
		assert_int_equal(raw_scsi(&c, cdb, w, len, 8192, NULL, 0), 0);
		cdb[0] = 0x28; /* READ(10) */
		memset(r, 0, len);
		assert_int_equal(raw_scsi(&c, cdb, NULL, 0, 0, r, len), 0);
		if (memcmp(w, r, len))
			fail_msg("raw digest hd=%d dd=%d len=%u mismatch", hd,
				 dd, len);
	}
	raw_close(&c);
	free(w);
	free(r);
	assert_int_equal(duet_check_serving(d, TEST_IQN), 0);
}

static void raw_hd1_dd1(void **state)
{
	raw_digest(&S, true, true);
	raw_digest(&L, true, true);
}

static void raw_hd0_dd1(void **state)
{
	raw_digest(&S, false, true);
}

static void raw_hd0_dd0(void **state)
{
	raw_digest(&S, false, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(small_hd0_imm0_r2t0),
		cmocka_unit_test(small_hd0_imm0_r2t1),
		cmocka_unit_test(small_hd0_imm1_r2t0),
		cmocka_unit_test(small_hd0_imm1_r2t1),
		cmocka_unit_test(small_hd1_imm0_r2t0),
		cmocka_unit_test(small_hd1_imm0_r2t1),
		cmocka_unit_test(small_hd1_imm1_r2t0),
		cmocka_unit_test(small_hd1_imm1_r2t1),
		cmocka_unit_test(large_hd0_imm1_r2t0),
		cmocka_unit_test(large_hd1_imm0_r2t1),
		cmocka_unit_test(large_hd1_imm1_r2t0),
		cmocka_unit_test(raw_hd0_dd0),
		cmocka_unit_test(raw_hd0_dd1),
		cmocka_unit_test(raw_hd1_dd1),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
