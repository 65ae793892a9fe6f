// SPDX-License-Identifier: Apache-2.0
/* Config: good files, every class of error with its line number, the
 * quick-start arguments, and the size / host:port parsers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/config/config_int.h"

static char cfgpath[64];
static char errs[8192];

/* Write `text` to a temp file and load it; errors land in errs[]. */
static int load(const char *text, struct duet_config *cfg)
{
	FILE *ef = fmemopen(errs, sizeof(errs) - 1, "w");
	int fd, ret;

	memset(errs, 0, sizeof(errs));
	strcpy(cfgpath, "/tmp/duet-cfg-XXXXXX");
	fd = mkstemp(cfgpath);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_non_null(ef);
	ret = config_load_file_to(cfgpath, "a", cfg, ef);
	fclose(ef);
	unlink(cfgpath);
	return ret;
}

/* errs contains "<cfgpath>:<line>: <...needle...>" on one line. */
static void expect_err(int line, const char *needle)
{
	char prefix[96];
	const char *p = errs;

	snprintf(prefix, sizeof(prefix), "%s:%d: ", cfgpath, line);
	while ((p = strstr(p, prefix))) {
		const char *eol = strchr(p, '\n');
		const char *hit = strstr(p, needle);

		if (hit && (!eol || hit < eol))
			return;
		p += strlen(prefix);
	}
	fail_msg("no error '%s' at line %d in:\n%s", needle, line, errs);
}

static unsigned count_lines(void)
{
	unsigned n = 0;

	for (const char *p = errs; *p; p++)
		n += *p == '\n';
	return n;
}

#define GOOD_TAIL                                                           \
	"portals = ( \"127.0.0.1:3260\", \"[::1]:3261\" );\n"               \
	"targets = ( { name = \"iqn.2026-11.org.example:disk0\";\n"         \
	"  luns = ( { path = \"/tmp/duet-x0.img\"; size = \"64M\"; } ); } " \
	");\n"

static void test_full_good(void **state)
{
	struct duet_config cfg;
	const char *text =
		"log_level = \"debug\";\n"
		"io_workers = 8;\n"
		"iscsi = { queue_depth = 32; max_recv_data_segment_length = "
		"8192;\n"
		"  max_burst_length = 262144; first_burst_length = 262144;\n"
		"  max_outstanding_r2t = 8; immediate_data = false;\n"
		"  initial_r2t = true; header_digest = false;\n"
		"  data_digest = false; nop_interval = 0; nop_timeout = 30;\n"
		"  login_timeout = 5; default_time2wait = 0;\n"
		"  default_time2retain = 20; };\n"
		"portals = ( \"0.0.0.0:3270\", \"[::]:3260\", \"192.0.2.1\" "
		");\n"
		"targets = (\n"
		" { name = \"iqn.2026-11.org.example:disk0\"; alias = "
		"\"disk0\";\n"
		"   tpgt = 7;\n"
		"   allow_initiators = ( \"iqn.1994-05.com.redhat:client1\" "
		");\n"
		"   allow_addresses = ( \"127.0.0.0/8\", \"::1\" );\n"
		"   luns = ( { path = \"/tmp/a.img\"; size = \"1G\"; },\n"
		"            { id = 5; path = \"/dev/sdz\"; readonly = true;\n"
		"              write_back = true; serial = \"s-1\";\n"
		"              vendor = \"ACME\"; product = \"DISK\"; } ); },\n"
		" { name = \"eui.02004567A425678D\";\n"
		"   luns = ( { path = \"/tmp/b.img\"; size = 1048576; } ); },\n"
		" { name = \"naa.52004567BA64678D\";\n"
		"   luns = ( { path = \"/tmp/c.img\"; size = 5368709120L; } ); "
		"}\n"
		");\n";

	if (load(text, &cfg) != 0)
		fail_msg("unexpected errors:\n%s", errs);
	assert_int_equal(cfg.log_level, LOG_LVL_DEBUG);
	assert_int_equal(cfg.io_workers, 8);
	assert_int_equal(cfg.io_engine, CFG_IO_ENGINE_AUTO); /* default */
	assert_int_equal(cfg.iscsi.queue_depth, 32);
	assert_int_equal(cfg.iscsi.max_recv_data_segment_length, 8192);
	assert_int_equal(cfg.iscsi.first_burst_length, 262144);
	assert_false(cfg.iscsi.immediate_data);
	assert_true(cfg.iscsi.initial_r2t);
	assert_false(cfg.iscsi.header_digest);
	assert_int_equal(cfg.iscsi.nop_interval, 0);
	assert_int_equal(cfg.iscsi.default_time2retain, 20);
	assert_int_equal(cfg.n_portals, 3);
	assert_string_equal(cfg.portals[1].host, "::");
	assert_int_equal(cfg.portals[2].port, 3260);
	assert_int_equal(cfg.portals[2].line, 10);
	assert_int_equal(cfg.n_targets, 3);
	assert_string_equal(cfg.targets[0].alias, "disk0");
	assert_int_equal(cfg.targets[0].tpgt, 7);
	assert_int_equal(cfg.targets[0].n_allow_initiators, 1);
	assert_int_equal(cfg.targets[0].n_allow_addresses, 2);
	assert_int_equal(cfg.targets[0].n_luns, 2);
	assert_int_equal(cfg.targets[0].luns[0].id, 0);
	assert_int_equal(cfg.targets[0].luns[0].size, 1ull << 30);
	assert_int_equal(cfg.targets[0].luns[1].id, 5);
	assert_int_equal(cfg.targets[0].luns[1].size, 0);
	assert_true(cfg.targets[0].luns[1].readonly);
	assert_true(cfg.targets[0].luns[1].write_back);
	assert_string_equal(cfg.targets[0].luns[1].serial, "s-1");
	assert_string_equal(cfg.targets[0].luns[1].vendor, "ACME");
	assert_int_equal(cfg.targets[1].tpgt, 1);
	assert_null(cfg.targets[1].alias);
	assert_int_equal(cfg.targets[2].luns[0].size, 5368709120ull);
	assert_string_equal(cfg.node_name, "a");
	assert_non_null(cfg.file);
	config_free(&cfg);
	assert_null(cfg.targets);
	config_free(&cfg); /* idempotent */
}

static void test_defaults(void **state)
{
	struct duet_config cfg;

	assert_int_equal(load(GOOD_TAIL, &cfg), 0);
	assert_int_equal(cfg.log_level, LOG_LVL_INFO);
	assert_int_equal(cfg.iscsi.queue_depth, 128);
	assert_int_equal(cfg.iscsi.max_recv_data_segment_length, 262144);
	assert_int_equal(cfg.iscsi.max_burst_length, 1048576);
	assert_int_equal(cfg.iscsi.first_burst_length, 65536);
	assert_true(cfg.iscsi.immediate_data);
	assert_false(cfg.iscsi.initial_r2t);
	assert_int_equal(cfg.iscsi.nop_timeout, 10);
	assert_string_equal(cfg.portals[1].host, "::1");
	assert_int_equal(cfg.portals[1].port, 3261);
	assert_int_equal(cfg.targets[0].luns[0].line, 3);
	config_free(&cfg);
}

static void test_relative_paths(void **state)
{
	struct duet_config cfg;
	char *luns[] = {"rel.img:1M"}, cwd[512], want[600];

	/* Relative to the config file's directory (here /tmp). */
	assert_int_equal(
		load("portals = ( \"127.0.0.1\" );\n"
		     "targets = ( { name = \"iqn.2026-11.org.e:d\";\n"
		     "  luns = ( { path = \"sub/r.img\"; size = \"1M\"; },\n"
		     "           { path = \"/abs/r.img\"; size = \"1M\"; } ); "
		     "} );\n",
		     &cfg),
		0);
	assert_string_equal(cfg.targets[0].luns[0].path, "/tmp/sub/r.img");
	assert_string_equal(cfg.targets[0].luns[1].path, "/abs/r.img");
	config_free(&cfg);
	/* Command line: relative to the current directory. */
	assert_int_equal(config_from_args("127.0.0.1", "iqn.2026-11.org.e:d",
					  luns, 1, &cfg),
			 0);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(want, sizeof(want), "%s%srel.img", cwd,
		 strcmp(cwd, "/") ? "/" : "");
	assert_string_equal(cfg.targets[0].luns[0].path, want);
	config_free(&cfg);
}

static void test_syntax_error(void **state)
{
	struct duet_config cfg;

	assert_int_equal(load("log_level = \"info\";\nportals = ( \"x\" \n"
			      "targets = 5;\n",
			      &cfg),
			 -EINVAL);
	expect_err(3, "syntax error");
	assert_int_equal(cfg.n_targets, 0);
	config_free(&cfg);
}

static void test_missing_file(void **state)
{
	struct duet_config cfg;
	FILE *ef = fmemopen(errs, sizeof(errs) - 1, "w");

	memset(errs, 0, sizeof(errs));
	assert_int_equal(
		config_load_file_to("/nonexistent/duet.conf", NULL, &cfg, ef),
		-EINVAL);
	fclose(ef);
	assert_non_null(strstr(errs, "/nonexistent/duet.conf: cannot read"));
}

static void test_unknown_keys(void **state)
{
	struct duet_config cfg;

	assert_int_equal(
		load("prtals = ( \"127.0.0.1\" );\n"
		     "iscsi = { queue_dept = 4; bogus = 1; };\n" GOOD_TAIL
		     "extra = 1;\n",
		     &cfg),
		-EINVAL);
	expect_err(1, "unknown key 'prtals' (did you mean 'portals'?)");
	expect_err(2, "unknown key 'queue_dept' in iscsi (did you mean "
		      "'queue_depth'?)");
	expect_err(2, "unknown key 'bogus' in iscsi");
	expect_err(6, "unknown key 'extra'");
	assert_int_equal(count_lines(), 4); /* all reported, nothing else */
	/* Printed in line order. */
	{
		char first[96];

		snprintf(first, sizeof(first), "%s:1: ", cfgpath);
		assert_memory_equal(errs, first, strlen(first));
		assert_non_null(strstr(strrchr(errs, '\n') - 40, ":6: "));
	}
	config_free(&cfg);
}

static void test_io_engine(void **state)
{
	static const char *const names[] = {"auto", "uring", "threads"};
	static const enum cfg_io_engine want[] = {
		CFG_IO_ENGINE_AUTO, CFG_IO_ENGINE_URING, CFG_IO_ENGINE_THREADS};
	struct duet_config cfg;
	char text[2048];

	for (size_t i = 0; i < 3; i++) {
		snprintf(text, sizeof(text), "io_engine = \"%s\";\n" GOOD_TAIL,
			 names[i]);
		if (load(text, &cfg) != 0)
			fail_msg("unexpected errors:\n%s", errs);
		assert_int_equal(cfg.io_engine, want[i]);
		config_free(&cfg);
	}
	assert_int_equal(load("log_level = \"info\";\n"
			      "io_engine = \"aio\";\n" GOOD_TAIL,
			      &cfg),
			 -EINVAL);
	expect_err(2, "io_engine \"aio\" is not one of auto, uring, threads");
	assert_int_equal(load("io_engine = 1;\n" GOOD_TAIL, &cfg), -EINVAL);
	expect_err(1, "'io_engine' must be a string in quotes");
}

static void test_types_and_ranges(void **state)
{
	struct duet_config cfg;

	assert_int_equal(load("log_level = \"loud\";\n"
			      "io_workers = \"4\";\n"
			      "iscsi = {\n"
			      " queue_depth = 0;\n"
			      " max_recv_data_segment_length = 511;\n"
			      " max_burst_length = 16777216;\n"
			      " immediate_data = \"yes\";\n"
			      " nop_timeout = 0;\n"
			      " login_timeout = 1.5;\n"
			      " first_burst_length = 1000000; };\n" GOOD_TAIL,
			      &cfg),
			 -EINVAL);
	expect_err(1, "log_level \"loud\" is not one of");
	expect_err(2, "'io_workers' must be an integer, not a string");
	expect_err(4, "'queue_depth' = 0 is out of range (1 to 4096)");
	expect_err(5, "= 511 is out of range (512 to 16777215)");
	expect_err(6, "= 16777216 is out of range");
	expect_err(7, "'immediate_data' must be true or false");
	expect_err(8, "'nop_timeout' = 0 is out of range");
	expect_err(9, "'login_timeout' must be an integer, not a float");
	/* first 1000000 > default max 1048576? no: valid. */
	assert_int_equal(count_lines(), 8);
	config_free(&cfg);

	assert_int_equal(load("iscsi = { max_burst_length = 65536;\n"
			      "  first_burst_length = 131072; };\n" GOOD_TAIL,
			      &cfg),
			 -EINVAL);
	expect_err(1, "first_burst_length (131072) must not exceed");
	config_free(&cfg);
}

static void test_portal_errors(void **state)
{
	struct duet_config cfg;

	assert_int_equal(
		load("portals = (\n"
		     " \"localhost:3260\",\n"
		     " \"127.0.0.1:0\",\n"
		     " \"127.0.0.1:70000\",\n"
		     " \"[::1\",\n"
		     " \"10.0.0.1:3260\",\n"
		     " \"10.0.0.1:3260\",\n"
		     " \"0.0.0.0:3260\",\n"
		     " 42 );\n"
		     "targets = ( { name = \"iqn.2026-11.org.example:d\";\n"
		     "  luns = ( { path = \"/tmp/p.img\"; } ); } );\n",
		     &cfg),
		-EINVAL);
	expect_err(2, "not a numeric IP address");
	expect_err(3, "port must be a number from 1 to 65535");
	expect_err(4, "port must be a number from 1 to 65535");
	expect_err(5, "missing ']'");
	expect_err(7, "duplicate portal 10.0.0.1 port 3260");
	expect_err(8, "overlaps portal 10.0.0.1");
	expect_err(9, "a portal must be a string");
	config_free(&cfg);

	assert_int_equal(load("targets = ( { name = \"iqn.2026-11.org.e:d\";\n"
			      "  luns = ( { path = \"/tmp/p.img\"; } ); } );\n",
			      &cfg),
			 -EINVAL);
	assert_non_null(strstr(errs, ": no portals configured"));
	config_free(&cfg);

	/* A mistyped list is one error, not also "no portals". */
	assert_int_equal(load("portals = \"127.0.0.1\";\n"
			      "targets = ( { name = \"iqn.2026-11.org.e:d\";\n"
			      "  luns = ( { path = \"/tmp/p.img\"; } ); } );\n",
			      &cfg),
			 -EINVAL);
	expect_err(1, "'portals' must be a list");
	assert_int_equal(count_lines(), 1);
	config_free(&cfg);
}

static void test_target_errors(void **state)
{
	struct duet_config cfg;

	assert_int_equal(
		load("portals = ( \"127.0.0.1\" );\n"
		     "targets = (\n"
		     " { name = \"iqn.2026-11.org.example:disk0\";\n"
		     "   allow_initiators = ( \"client1\", 3 );\n"
		     "   allow_addresses = ( \"10.0.0.0/33\", \"host\" );\n"
		     "   tpgt = 0;\n"
		     "   luns = ( { path = \"/tmp/t0.img\"; } ); },\n"
		     " { name = \"iqn.2026-11.org.example:DISK0\"; luns = ( ); "
		     "},\n"
		     " { name = \"iqn.2026-13.org.example:x\"; },\n"
		     " { name = \"eui.1234\"; },\n"
		     " { alias = \"noname\"; },\n"
		     " { name = \"iqn.2026-11.org.example:disk0\";\n"
		     "   luns = ( { path = \"/tmp/t1.img\"; } ); },\n"
		     " \"junk\" );\n",
		     &cfg),
		-EINVAL);
	expect_err(4, "allow_initiators entry 'client1': an iSCSI name must "
		      "start with iqn., eui. or naa.");
	expect_err(4, "entries of 'allow_initiators' must be strings");
	expect_err(5, "prefix length must be a number from 0 to 32");
	expect_err(5, "allow_addresses entry 'host': not a numeric address");
	expect_err(6, "'tpgt' = 0 is out of range (1 to 65535)");
	expect_err(8, "iSCSI names are lower case: found 'D'");
	expect_err(9, "month in iqn.YYYY-MM. must be 01 to 12");
	expect_err(10, "16 hex digits");
	expect_err(11, "target has no 'name'");
	expect_err(12, "duplicate target name 'iqn.2026-11.org.example:disk0' "
		       "(also at line 3)");
	expect_err(14, "each target must be a group");
	config_free(&cfg);
}

static void test_lun_errors(void **state)
{
	struct duet_config cfg;

	assert_int_equal(
		load("portals = ( \"127.0.0.1\" );\n"
		     "targets = ( { name = \"iqn.2026-11.org.example:disk0\";\n"
		     " luns = (\n"
		     "  { path = \"/tmp/l0.img\"; size = \"1Q\"; },\n"
		     "  { id = 0; path = \"/tmp/l1.img\"; size = 1000; },\n"
		     "  { id = 20000; path = \"/tmp/l2.img\"; size = 0; },\n"
		     "  { id = 3; size = \"1G\"; readonly = 1; },\n"
		     "  { id = 4; path = \"/tmp/l1.img\"; serial = \"\";\n"
		     "    vendor = \"VERYLONGVENDOR\"; pth = 1; },\n"
		     "  { id = 5; path = \"\"; size = true; },\n"
		     "  7 ); },\n"
		     " { name = \"iqn.2026-11.org.example:disk1\";\n"
		     "   luns = ( { path = \"/tmp/l0.img\"; } ); } );\n",
		     &cfg),
		-EINVAL);
	expect_err(4, "size \"1Q\" is not a size");
	expect_err(5, "duplicate LUN id 0 in target");
	expect_err(5, "size 1000 is not a multiple of 512");
	expect_err(6, "'id' = 20000 is out of range (0 to 16383)");
	expect_err(6, "size must be greater than 0");
	expect_err(7, "LUN 3 has no 'path'");
	expect_err(7, "'readonly' must be true or false");
	expect_err(8, "path '/tmp/l1.img' is already used by LUN 0");
	expect_err(8, "'serial' must not be empty");
	expect_err(9, "'vendor' is longer than 8 bytes");
	expect_err(9, "unknown key 'pth' in lun (did you mean 'path'?)");
	expect_err(10, "'path' must not be empty");
	expect_err(10, "size must be a string like \"1G\"");
	expect_err(11, "each LUN must be a group");
	expect_err(13, "path '/tmp/l0.img' is already used by LUN 0 of target "
		       "'iqn.2026-11.org.example:disk0' (line 4)");
	config_free(&cfg);
}

/* block_size: 512 (default) or 4096; the size a whole number of blocks. */
static void test_lun_block_size(void **state)
{
	struct duet_config cfg;

	assert_int_equal(
		load("portals = ( \"127.0.0.1\" );\n"
		     "targets = ( { name = \"iqn.2026-11.org.example:disk0\";\n"
		     " luns = (\n"
		     "  { path = \"/tmp/b0.img\"; size = \"1M\"; },\n"
		     "  { path = \"/tmp/b1.img\"; size = \"1M\"; "
		     "block_size = 4096; },\n"
		     "  { path = \"/tmp/b2.img\"; block_size = 512; } ); } "
		     ");\n",
		     &cfg),
		0);
	assert_int_equal(cfg.targets[0].luns[0].block_size, 512);
	assert_int_equal(cfg.targets[0].luns[1].block_size, 4096);
	assert_int_equal(cfg.targets[0].luns[2].block_size, 512);
	config_free(&cfg);
	assert_int_equal(
		load("portals = ( \"127.0.0.1\" );\n"
		     "targets = ( { name = \"iqn.2026-11.org.example:disk0\";\n"
		     " luns = (\n"
		     "  { path = \"/tmp/b0.img\"; block_size = 1024; },\n"
		     "  { path = \"/tmp/b1.img\"; size = 5120; "
		     "block_size = 4096; },\n"
		     "  { path = \"/tmp/b2.img\"; block_size = \"4K\"; },\n"
		     "  { path = \"/tmp/b3.img\"; block_size = 8192; } ); } "
		     ");\n",
		     &cfg),
		-EINVAL);
	expect_err(4, "block_size must be 512 or 4096, not 1024");
	expect_err(5, "size 5120 is not a multiple of block_size 4096");
	expect_err(6, "'block_size' must be an integer");
	expect_err(7, "'block_size' = 8192 is out of range (512 to 4096)");
	config_free(&cfg);
}

static void test_big_integers(void **state)
{
	struct duet_config cfg;

	/* libconfig 1.5 would truncate these to 32 bits without a word. */
	assert_int_equal(
		load("# size = 99999999999 in a comment is fine\n"
		     "portals = ( \"127.0.0.1\" );\n"
		     "targets = ( { name = \"iqn.2026-11.org.example:d\";\n"
		     " luns = ( { path = \"/tmp/bi.img\"; size = 5368709120; "
		     "},\n"
		     "  { path = \"/tmp/bj.img\"; size = 5368709120L; serial = "
		     "\"99999999999\"; },\n"
		     "  { id = 0x100000000; path = \"/tmp/bk.img\"; } ); } "
		     ");\n",
		     &cfg),
		-EINVAL);
	expect_err(4, "integer 5368709120 is too large");
	expect_err(6, "integer 0x100000000 is too large");
	/* + the truncated id reads as 0: a duplicate of LUN 0. */
	assert_int_equal(count_lines(), 3);
	config_free(&cfg);
}

static void test_parse_size(void **state)
{
	static const struct {
		const char *s;
		uint64_t v;
	} good[] = {
		{"0", 0},
		{"4096", 4096},
		{"512k", 512ull << 10},
		{"64M", 64ull << 20},
		{"1G", 1ull << 30},
		{"1g", 1ull << 30},
		{"2T", 2ull << 40},
		{"1GiB", 1ull << 30},
		{"1GB", 1ull << 30},
		{"512B", 512},
		{"16383P", 16383ull << 50},
		{"18446744073709551615", UINT64_MAX},
	};
	static const char *const bad[] = {
		"",	  "G",
		"-1",	  "1.5G",
		"1X",	  "1 G",
		" 1",	  "1Gx",
		"1iB",	  "18446744073709551616",
		"16384P", "99999999999999999999",
		"0x10",
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(config_parse_size(good[i].s, &v), 0);
		assert_true(v == good[i].v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(config_parse_size(bad[i], &v), -EINVAL);
	assert_int_equal(config_parse_size(NULL, &v), -EINVAL);
}

static void test_parse_hostport(void **state)
{
	static const struct {
		const char *s;
		const char *host;
		uint16_t port;
	} good[] = {
		{"127.0.0.1:3260", "127.0.0.1", 3260},
		{"127.0.0.1", "127.0.0.1", 3260},
		{"0.0.0.0:1", "0.0.0.0", 1},
		{"[::1]:3261", "::1", 3261},
		{"[::]", "::", 3260},
		{"::1", "::1", 3260},
		{"[2001:DB8:0:0::1]:65535", "2001:db8::1", 65535},
	};
	static const char *const bad[] = {
		"",	     "localhost",     "host:3260",	"1.2.3.4:",
		"1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4:x",	"[::1]:",
		"[::1",	     "[::1]x",	      "[1.2.3.4]:1",	"1.2.3:3260",
		"::1:3260:", "1.2.3.4:-1",    "1.2.3.4:003260",
	};
	char *host;
	uint16_t port;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(
			config_parse_hostport(good[i].s, 3260, &host, &port),
			0);
		assert_string_equal(host, good[i].host);
		assert_int_equal(port, good[i].port);
		free(host);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		host = NULL;
		if (config_parse_hostport(bad[i], 3260, &host, &port) == 0)
			fail_msg("accepted bad portal '%s'", bad[i]);
		assert_null(host);
	}
}

static void test_iscsi_names(void **state)
{
	static const char *const good[] = {
		"iqn.2026-11.org.example:disk0",
		"iqn.1994-05.com.redhat:5f3a-x.y",
		"iqn.2001-04.com.example",
		"eui.02004567A425678D",
		"naa.52004567BA64678D",
		"naa.52004567BA64678D52004567BA64678D",
	};
	static const char *const bad[] = {
		"",
		"disk0",
		"iqn.26-11.org.example:x",
		"iqn.2026-00.org.example:x",
		"iqn.2026-11.",
		"iqn.2026-11.org.example:a b",
		"iqn.2026-11.org.example:a_b",
		"IQN.2026-11.org.example:x",
		"eui.0200",
		"eui.02004567A425678G",
		"naa.52004567BA64678D5",
	};
	char buf[160], longname[300];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_null(cfg_check_iscsi_name(good[i], buf, sizeof(buf)));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (!cfg_check_iscsi_name(bad[i], buf, sizeof(buf)))
			fail_msg("accepted bad name '%s'", bad[i]);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	memcpy(longname, "iqn.2026-11.org.x:", 18);
	assert_non_null(cfg_check_iscsi_name(longname, buf, sizeof(buf)));
	longname[223] = '\0';
	assert_null(cfg_check_iscsi_name(longname, buf, sizeof(buf)));
}

static void test_from_args(void **state)
{
	char *luns[] = {"/tmp/duet-args-0.img:64M", "/tmp/duet-args-1.img:1G",
			"/dev/null"};
	char *bad_luns[] = {"/tmp/duet-args-missing.img", ":1G",
			    "/tmp/duet-args-2.img:1000"};
	struct duet_config cfg;
	FILE *ef;

	assert_int_equal(config_from_args("127.0.0.1:3260",
					  "iqn.2026-11.org.example:disk0", luns,
					  3, &cfg),
			 0);
	assert_int_equal(cfg.n_portals, 1);
	assert_string_equal(cfg.portals[0].host, "127.0.0.1");
	assert_int_equal(cfg.n_targets, 1);
	assert_int_equal(cfg.targets[0].tpgt, 1);
	assert_int_equal(cfg.targets[0].n_luns, 3);
	assert_int_equal(cfg.targets[0].luns[0].id, 0);
	assert_string_equal(cfg.targets[0].luns[0].path,
			    "/tmp/duet-args-0.img");
	assert_int_equal(cfg.targets[0].luns[0].size, 64ull << 20);
	assert_int_equal(cfg.targets[0].luns[1].id, 1);
	assert_int_equal(cfg.targets[0].luns[1].size, 1ull << 30);
	/* Existing path, no size: use what is there. */
	assert_string_equal(cfg.targets[0].luns[2].path, "/dev/null");
	assert_int_equal(cfg.targets[0].luns[2].size, 0);
	assert_null(cfg.file);
	config_free(&cfg);

	memset(errs, 0, sizeof(errs));
	ef = fmemopen(errs, sizeof(errs) - 1, "w");
	assert_int_equal(
		config_from_args_to("host:1", "disk0", bad_luns, 3, &cfg, ef),
		-EINVAL);
	fclose(ef);
	assert_non_null(strstr(errs, "command line: --portal host:1: not a "
				     "numeric IP address"));
	assert_non_null(strstr(errs, "--target disk0: an iSCSI name must"));
	assert_non_null(strstr(errs, "does not exist and no size was given"));
	assert_non_null(strstr(errs, "--lun :1G: missing path"));
	assert_non_null(strstr(errs, "multiple of 512"));
	assert_null(cfg.targets);

	memset(errs, 0, sizeof(errs));
	ef = fmemopen(errs, sizeof(errs) - 1, "w");
	assert_int_equal(config_from_args_to(NULL, NULL, NULL, 0, &cfg, ef),
			 -EINVAL);
	fclose(ef);
	assert_non_null(strstr(errs, "--target NAME is required"));
	assert_non_null(strstr(errs, "at least one --lun"));
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_good),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_lun_block_size),
		cmocka_unit_test(test_relative_paths),
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_types_and_ranges),
		cmocka_unit_test(test_io_engine),
		cmocka_unit_test(test_portal_errors),
		cmocka_unit_test(test_target_errors),
		cmocka_unit_test(test_lun_errors),
		cmocka_unit_test(test_big_integers),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_hostport),
		cmocka_unit_test(test_iscsi_names),
		cmocka_unit_test(test_from_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
