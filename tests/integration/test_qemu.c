// SPDX-License-Identifier: Apache-2.0
/* A second real initiator: QEMU's block layer (block/iscsi.c on libiscsi,
 * from qemu-utils + qemu-block-extra) against a real duetd. qemu-img
 * info, qemu-io pattern writes/reads (aligned, unaligned, larger than
 * MaxBurstLength, on 512- and 4096-byte-block LUNs), qemu-img convert of
 * a random file onto a LUN and qemu-img compare back; every command with
 * header digests (header-digest=crc32c). Exit statuses and output are
 * both checked (a failed -P check must say so). Every test is
 * skipped when qemu-img / qemu-io are not installed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

#define LUN_SIZE (64ull << 20)
#define QEMU_INITIATOR "iqn.2026-11.org.example:duet.qemu"

static struct duet_daemon D;
static bool have_qemu;
static char out[65536];
static int expect_status; /* run() prints diagnostics on any other */

static int setup(void **state)
{
	char conf[2048];

	have_qemu = system("command -v qemu-img >/dev/null 2>&1 && "
			   "command -v qemu-io >/dev/null 2>&1") == 0;
	if (!have_qemu)
		return 0;
	if (duet_prepare(&D))
		return -1;
	snprintf(conf, sizeof(conf),
		 "log_level = \"info\";\n"
		 "portals = ( \"127.0.0.1:%d\" );\n"
		 "targets = ( { name = \"%s\";\n"
		 "  luns = ( { id = 0; path = \"%s/lun0.img\"; size = \"64M\"; "
		 "},\n"
		 "           { id = 1; path = \"%s/lun1.img\"; size = \"64M\"; "
		 "},\n"
		 "           { id = 2; path = \"%s/lun2.img\"; size = \"64M\";"
		 " block_size = 4096; } ); } );\n",
		 D.port, TEST_IQN, D.dir, D.dir, D.dir);
	if (duet_start_config(&D, conf)) {
		duet_cleanup(&D);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	int rc;

	if (!have_qemu)
		return 0;
	rc = duet_stop(&D, 10000);
	duet_cleanup(&D);
	return rc == 0 ? 0 : -1;
}

/* --image-opts for LUN @lun, header digests on. */
static const char *opts(int lun)
{
	static char buf[4][512];
	static int i;
	char *b = buf[i++ % 4];

	snprintf(b, sizeof(buf[0]),
		 "driver=iscsi,transport=tcp,portal=%s,target=%s,lun=%d,"
		 "header-digest=crc32c,initiator-name=%s",
		 D.portal, TEST_IQN, lun, QEMU_INITIATOR);
	return b;
}

/* Runs a shell command (stderr folded into stdout) with a time limit;
 * its output in `out`; returns the exit status, or -1. */
static int run(const char *fmt, ...)
{
	char cmd[4096];
	size_t n = 0;
	va_list ap;
	FILE *p;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd) - 64, fmt, ap);
	va_end(ap);
	strcat(cmd, " 2>&1");
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (n < sizeof(out) - 1) {
		size_t k = fread(out + n, 1, sizeof(out) - 1 - n, p);

		if (k == 0)
			break;
		n += k;
	}
	out[n] = '\0';
	st = pclose(p);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != expect_status) {
		fprintf(stderr, "command failed (status %d): %s\n%s\n", st, cmd,
			out);
		duet_dump_log(&D);
	}
	expect_status = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static unsigned count(const char *needle)
{
	unsigned n = 0;

	for (const char *p = out; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

#define NEED_QEMU()                                                          \
	do {                                                                 \
		if (!have_qemu) {                                            \
			fprintf(stderr, "qemu-img/qemu-io not installed\n"); \
			skip();                                              \
		}                                                            \
	} while (0)

static void test_info(void **state)
{
	NEED_QEMU();
	assert_int_equal(run("timeout 60 qemu-img info --output=json "
			     "--image-opts '%s'",
			     opts(0)),
			 0);
	assert_non_null(strstr(out, "\"virtual-size\": 67108864"));
	assert_non_null(strstr(out, "\"format\": \"iscsi\""));
	/* the 4096-byte-block LUN: same size in bytes */
	assert_int_equal(run("timeout 60 qemu-img info --output=json "
			     "--image-opts '%s'",
			     opts(2)),
			 0);
	assert_non_null(strstr(out, "\"virtual-size\": 67108864"));
}

/* One qemu-io session of writes then reads with -P checks. */
static void io_patterns(int lun)
{
	static const char *const cmds[] = {
		"write -P 0xab 0 1M",
		"read -P 0xab 0 1M",
		"write -P 0x3c 4097 12345",
		"read -P 0x3c 4097 12345",
		"read -P 0xab 0 4097",
		"read -P 0xab 16442 1032134",
		"write -P 0x5a 8M 4M",
		"read -P 0x5a 8M 4M",
		"write -P 0x11 20971519 3",
		"read -P 0x11 20971519 3",
		"read -P 0x00 20971522 4094",
		"write -z 8M 512k",
		"read -P 0x00 8M 512k",
		"read -P 0x5a 8704k 3584k",
		"aio_write -P 0x77 32M 64k",
		"aio_write -P 0x78 33M 64k",
		"aio_flush",
		"read -P 0x77 32M 64k",
		"read -P 0x78 33M 64k",
		"flush",
	};
	char args[4096] = "";
	unsigned reads = 0;

	for (size_t i = 0; i < NELEM(cmds); i++) {
		strcat(args, " -c '");
		strcat(args, cmds[i]);
		strcat(args, "'");
		reads += strncmp(cmds[i], "read", 4) == 0;
	}
	assert_int_equal(
		run("timeout 120 qemu-io --image-opts '%s'%s", opts(lun), args),
		0);
	assert_null(strstr(out, "Pattern verification failed"));
	assert_null(strstr(out, "error"));
	assert_null(strstr(out, "failed"));
	assert_int_equal(count("\nread "), reads);
	assert_non_null(strstr(out, "wrote 4194304/4194304 bytes at offset "
				    "8388608"));
	/* the check can fail: a wrong pattern is reported (exit 1) */
	expect_status = 1;
	assert_int_equal(run("timeout 60 qemu-io --image-opts '%s' "
			     "-c 'read -P 0xcd 0 4k'",
			     opts(lun)),
			 1);
	assert_non_null(strstr(out, "Pattern verification failed"));
}

static void test_io_512(void **state)
{
	NEED_QEMU();
	io_patterns(0);
}

static void test_io_4096(void **state)
{
	NEED_QEMU();
	io_patterns(2);
}

/* qemu-img convert a random file (not a multiple of 4 KiB: qemu pads the
 * last sector) onto LUN 1, compare it back, change one byte, compare
 * must see the difference. */
static void test_convert_compare(void **state)
{
	char src[320];
	const size_t len = (12u << 20) + 512;
	uint8_t *buf = malloc(len);
	FILE *f;

	NEED_QEMU();
	assert_non_null(buf);
	snprintf(src, sizeof(src), "%s/random.raw", D.dir);
	f = fopen("/dev/urandom", "r");
	assert_non_null(f);
	assert_int_equal(fread(buf, 1, len, f), len);
	fclose(f);
	f = fopen(src, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
	assert_int_equal(run("timeout 120 qemu-img convert -n -f raw "
			     "'%s' --target-image-opts '%s'",
			     src, opts(1)),
			 0);
	/* both images as --image-opts (the LUN is larger; its tail is
	 * zeros, which compare accepts) */
	assert_int_equal(run("timeout 120 qemu-img compare --image-opts "
			     "'driver=raw,file.driver=file,file.filename=%s' "
			     "'%s'",
			     src, opts(1)),
			 0);
	assert_non_null(strstr(out, "Images are identical"));
	buf[5u << 20] ^= 0xff;
	f = fopen(src, "r+");
	assert_non_null(f);
	assert_int_equal(fseek(f, 5l << 20, SEEK_SET), 0);
	assert_int_equal(fwrite(&buf[5u << 20], 1, 1, f), 1);
	fclose(f);
	expect_status = 1;
	assert_int_equal(run("timeout 120 qemu-img compare --image-opts "
			     "'driver=raw,file.driver=file,file.filename=%s' "
			     "'%s'",
			     src, opts(1)),
			 1);
	assert_non_null(strstr(out, "Content mismatch at offset 5242880"));
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_info),
		cmocka_unit_test(test_io_512),
		cmocka_unit_test(test_io_4096),
		cmocka_unit_test(test_convert_compare),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
