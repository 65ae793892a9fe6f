// SPDX-License-Identifier: Apache-2.0
/* Pair config: a good file for both nodes, node selection, the
 * fingerprint, and every pair rule's error with its line number. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/config/config_int.h"

static char cfgpath[64];
static char keypath[64];
static char errs[16384];

static void write_file(char *path, const char *text)
{
	int fd;

	strcpy(path, "/tmp/duet-pcfg-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	fchmod(fd, 0600);
	close(fd);
}

static int setup(void **state)
{
	write_file(keypath, "  0123456789abcdef0123456789abcdef\n");
	return 0;
}

static int teardown(void **state)
{
	unlink(keypath);
	return 0;
}

/* `text` is a format with one %s: the secret file path. */
static int load_as(const char *text, const char *node, struct duet_config *cfg)
{
	FILE *ef = fmemopen(errs, sizeof(errs) - 1, "w");
	char *full = NULL;
	int ret;

	assert_true(asprintf(&full, text, keypath) > 0);
	memset(errs, 0, sizeof(errs));
	write_file(cfgpath, full);
	free(full);
	assert_non_null(ef);
	ret = config_load_file_to(cfgpath, node, cfg, ef);
	fclose(ef);
	unlink(cfgpath);
	return ret;
}

static void expect_err(int line, const char *needle)
{
	char prefix[96];
	const char *p = errs;

	if (line > 0)
		snprintf(prefix, sizeof(prefix), "%s:%d: ", cfgpath, line);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", cfgpath);
	while ((p = strstr(p, prefix))) {
		const char *eol = strchr(p, '\n');
		const char *hit = strstr(p, needle);

		if (hit && (!eol || hit < eol))
			return;
		p += strlen(prefix);
	}
	fail_msg("no error '%s' at line %d in:\n%s", needle, line, errs);
}

/* Line numbers are those of this text (1-based). */
#define CLUSTER(proxy)                                                  \
	"cluster = { name = \"pair0\"; secret_file = \"%s\";\n" /* 1 */ \
	"  proxy = \"" proxy "\"; };\n"				/* 2 */
#define NODE_A                                                                   \
	"nodes = ( { name = \"a\"; interconnect = \"192.0.2.1:3270\";\n" /* 3 */ \
	"  client_interface = \"eth0\";\n"		  /* 4 */                \
	"  portals = ( \"198.51.100.11:3260\" );\n"	  /* 5 */                \
	"  proxy_portals = ( \"198.51.100.21:3260\" );\n" /* 6 */                \
	"  witnesses = ( \"198.51.100.1\" );\n"		  /* 7 */                \
	"  targets = ( { name = \"iqn.2026-11.org.example:a.disk0\";\n" /* 8 */  \
	"    luns = ( { path = \"/tmp/a0.img\"; size = \"1G\"; } ); } ); },\n" /* 9 */
#define NODE_B                                                                   \
	"  { name = \"b\"; interconnect = \"192.0.2.2\";\n" /* 10 */             \
	"  client_interface = \"eth0\";\n"		    /* 11 */             \
	"  portals = ( \"198.51.100.12:3260\" );\n"	    /* 12 */             \
	"  proxy_portals = ( \"198.51.100.22:3260\" );\n"   /* 13 */             \
	"  targets = ( { name = \"iqn.2026-11.org.example:b.disk0\";\n" /* 14 */ \
	"    luns = ( { path = \"/tmp/b0.img\"; size = \"1G\"; } ); } ); } "     \
	");\n" /* 15 */

static const char good[] = CLUSTER("portal") NODE_A NODE_B;

static void test_good_pair(void **state)
{
	struct duet_config a, b;
	char hex[65];

	assert_int_equal(load_as(good, "a", &a), 0);
	assert_string_equal(errs, "");
	assert_true(a.has_cluster);
	assert_string_equal(a.cluster.name, "pair0");
	assert_int_equal(a.cluster.proxy, CFG_PROXY_PORTAL);
	assert_int_equal(a.cluster.secret_len, 32);
	assert_memory_equal(a.cluster.secret, "0123456789abcdef", 16);
	assert_int_equal(a.cluster.heartbeat_interval_ms, 250);
	assert_int_equal(a.cluster.heartbeat_timeout_ms, 1500);
	assert_int_equal(a.cluster.ic_hold_ms, 10000);
	assert_int_equal(a.self, 0);
	assert_ptr_equal(config_self(&a), &a.nodes[0]);
	assert_ptr_equal(config_partner(&a), &a.nodes[1]);
	assert_ptr_equal(a.portals, a.nodes[0].portals);
	assert_int_equal(a.n_targets, 1);
	assert_string_equal(a.targets[0].name,
			    "iqn.2026-11.org.example:a.disk0");
	assert_string_equal(a.nodes[1].interconnect.host, "192.0.2.2");
	assert_int_equal(a.nodes[1].interconnect.port, DUET_DEFAULT_IC_PORT);
	assert_int_equal(a.nodes[0].n_witnesses, 1);
	assert_int_equal(a.nodes[0].witnesses[0].port, 3260);
	assert_string_equal(a.nodes[0].client_interface, "eth0");

	assert_int_equal(load_as(good, "b", &b), 0);
	assert_int_equal(b.self, 1);
	assert_string_equal(b.targets[0].name,
			    "iqn.2026-11.org.example:b.disk0");
	assert_string_equal(b.portals[0].host, "198.51.100.12");
	/* Both hosts compute the same fingerprint. */
	assert_memory_equal(a.cluster.fingerprint, b.cluster.fingerprint, 32);
	config_fingerprint_hex(&a, hex);
	assert_int_equal(strlen(hex), 64);
	config_free(&a);
	config_free(&b);
	assert_false(a.has_cluster);
}

static void test_fingerprint_content(void **state)
{
	struct duet_config x, y, z, w;
	char *t;

	assert_int_equal(load_as(good, "a", &x), 0);
	/* A different LUN size changes it. */
	t = strdup(good);
	memcpy(strstr(t, "\"1G\""), "\"2G\"", 4);
	assert_int_equal(load_as(t, "a", &y), 0);
	assert_memory_not_equal(x.cluster.fingerprint, y.cluster.fingerprint,
				32);
	free(t);
	/* A timing changes it. */
	assert_true(asprintf(&t, "%s", good) > 0);
	memcpy(strstr(t, "proxy = \"portal\"; };"), "damp_ms = 100;    };", 20);
	if (load_as(t, "a", &z))
		fail_msg("%s", errs);
	assert_int_equal(z.cluster.damp_ms, 100);
	assert_memory_not_equal(x.cluster.fingerprint, z.cluster.fingerprint,
				32);
	free(t);
	/* So does ic_hold_ms (both nodes rely on it). */
	assert_true(asprintf(&t, "%s", good) > 0);
	memcpy(strstr(t, "proxy = \"portal\"; };"), "ic_hold_ms = 3000;};", 20);
	if (load_as(t, "a", &w))
		fail_msg("%s", errs);
	assert_int_equal(w.cluster.ic_hold_ms, 3000);
	assert_memory_not_equal(x.cluster.fingerprint, w.cluster.fingerprint,
				32);
	free(t);
	config_free(&w);
	config_free(&x);
	config_free(&y);
	config_free(&z);
}

static void test_node_order_irrelevant(void **state)
{
	static const char ab[] = CLUSTER(
		"takeover") "nodes = ( { name = \"a\"; interconnect = "
			    "\"192.0.2.1\"; "
			    "client_interface = \"eth0\"; portals = ( "
			    "\"198.51.100.11\" ); "
			    "},\n"
			    "{ name = \"b\"; interconnect = \"192.0.2.2\"; "
			    "client_interface = \"eth1\"; portals = ( "
			    "\"198.51.100.12\" ); "
			    "} );\n";
	static const char ba[] = CLUSTER(
		"takeover") "nodes = ( { name = \"b\"; interconnect = "
			    "\"192.0.2.2\"; "
			    "client_interface = \"eth1\"; portals = ( "
			    "\"198.51.100.12\" ); "
			    "},\n"
			    "{ name = \"a\"; interconnect = \"192.0.2.1\"; "
			    "client_interface = \"eth0\"; portals = ( "
			    "\"198.51.100.11\" ); "
			    "} );\n";
	struct duet_config x, y;

	assert_int_equal(load_as(ab, "a", &x), 0);
	assert_int_equal(load_as(ba, "a", &y), 0);
	assert_int_equal(x.cluster.proxy, CFG_PROXY_TAKEOVER);
	assert_int_equal(y.self, 1);
	assert_int_equal(x.n_targets, 0); /* a node may own no target */
	assert_memory_equal(x.cluster.fingerprint, y.cluster.fingerprint, 32);
	config_free(&x);
	config_free(&y);
}

static void test_render_canonical(void **state)
{
	struct duet_config x;
	char *text = NULL;
	size_t len = 0;

	assert_int_equal(load_as(good, "a", &x), 0);
	assert_int_equal(cfg_pair_render(&x, &text, &len), 0);
	assert_non_null(strstr(text, "cluster=5:pair0\n"));
	assert_non_null(strstr(text, "proxy_portal=198.51.100.22/3260\n"));
	assert_non_null(strstr(text, "path=11:/tmp/a0.img\n"));
	/* The secret itself is never part of it. */
	assert_null(strstr(text, "0123456789abcdef"));
	assert_null(strstr(text, keypath));
	free(text);
	config_free(&x);
}

static void test_node_selection(void **state)
{
	struct duet_config c;
	char host[256] = "";

	assert_int_equal(load_as(good, "c", &c), -EINVAL);
	expect_err(0, "-n c names no node of this pair (the nodes are 'a' "
		      "and 'b')");
	/* No -n: the host name must match a node. */
	gethostname(host, sizeof(host) - 1);
	if (strcmp(host, "a") && strcmp(host, "b")) {
		assert_int_equal(load_as(good, NULL, &c), -EINVAL);
		expect_err(0, "say which node this host is with -n a or -n b");
	}
}

static void test_hostname_selection(void **state)
{
	struct duet_config c;
	char host[256] = "", *t = NULL;

	gethostname(host, sizeof(host) - 1);
	host[strcspn(host, ".")] = '\0';
	assert_true(
		asprintf(&t,
			 CLUSTER("takeover") "nodes = ( { name = \"x-other\"; "
					     "interconnect = "
					     "\"192.0.2.1\"; client_interface "
					     "= \"eth0\"; "
					     "portals = ( \"198.51.100.11\" ); "
					     "},\n"
					     "{ name = \"%s\"; interconnect = "
					     "\"192.0.2.2\"; "
					     "client_interface = \"eth1\"; "
					     "portals = ( "
					     "\"198.51.100.12\" ); } );\n",
			 "%s", host) > 0);
	assert_int_equal(load_as(t, NULL, &c), 0);
	assert_int_equal(c.self, 1);
	assert_string_equal(c.node_name, host);
	config_free(&c);
	free(t);
}

static void test_names(void **state)
{
	struct duet_config c;
	char *t = strdup(good);

	/* Rename b to a: duplicate, reported at b's line. */
	memcpy(strstr(t, "{ name = \"b\""), "{ name = \"a\"", 12);
	assert_int_equal(load_as(t, "a", &c), -EINVAL);
	expect_err(10, "duplicate node name 'a' (also at line 3)");
	free(t);

	t = strdup(good);
	memcpy(strstr(t, "{ name = \"b\""), "{ nome = \"b\"", 12);
	assert_int_equal(load_as(t, "a", &c), -EINVAL);
	expect_err(10, "unknown key 'nome' in node (did you mean 'name'?)");
	expect_err(10, "node has no 'name'");
	free(t);

	t = strdup(good);
	memcpy(strstr(t, "{ name = \"b\""), "{ name = \"/\"", 12);
	assert_int_equal(load_as(t, "a", &c), -EINVAL);
	expect_err(10, "node name '/' may contain only");
	free(t);
}

static void test_node_count(void **state)
{
	struct duet_config c;

	assert_int_equal(load_as(CLUSTER("portal") "nodes = ( { name = "
						   "\"a\"; } );\n",
				 "a", &c),
			 -EINVAL);
	expect_err(3, "'nodes' lists 1 node; a pair has exactly 2");
	assert_int_equal(load_as(CLUSTER("portal"), "a", &c), -EINVAL);
	expect_err(1, "a file with 'cluster' needs 'nodes");
	assert_int_equal(
		load_as("# %s\nnodes = ( );\nportals = ( \"0.0.0.0\" );\n", "a",
			&c),
		-EINVAL);
	expect_err(2, "'nodes' needs a 'cluster");
}

static void test_top_level_lists(void **state)
{
	struct duet_config c;
	char *t = NULL;

	assert_true(asprintf(&t, "%s%s", good, "portals = ( \"0.0.0.0\" );\n") >
		    0);
	assert_int_equal(load_as(t, "a", &c), -EINVAL);
	expect_err(16, "top-level 'portals' is the single-node format");
	free(t);
}

static void test_interconnect(void **state)
{
	struct duet_config c;
	char *t = strdup(good);

	memcpy(strstr(t, "interconnect = \"192.0.2.1:3270\""),
	       "intercommect = \"192.0.2.1:3270\"", 31);
	assert_int_equal(load_as(t, "a", &c), -EINVAL);
	expect_err(3, "node 'a' has no 'interconnect'");
	free(t);

	t = strdup(good);
	memcpy(strstr(t, "\"192.0.2.1:3270\""), "\"192.0.2.x:3270\"", 16);
	assert_int_equal(load_as(t, "a", &c), -EINVAL);
	expect_err(3, "interconnect \"192.0.2.x:3270\": not a numeric IP");
	free(t);

	t = strdup(good);
	memcpy(strstr(t, "\"192.0.2.1:3270\""), "\"0.0.0.0:3270\"  ", 16);
	assert_int_equal(load_as(t, "a", &c), -EINVAL);
	expect_err(3, "interconnect 0.0.0.0 is a wildcard");
	free(t);

	/* Same interconnect on both nodes. */
	t = strdup(good);
	memcpy(strstr(t, "\"192.0.2.2\""), "\"192.0.2.1\"", 11);
	assert_int_equal(load_as(t, "a", &c), -EINVAL);
	expect_err(10, "interconnect 192.0.2.1 port 3270 of node 'b' is also "
		       "the interconnect of node 'a' (line 3)");
	free(t);
}

static void test_secret(void **state)
{
	struct duet_config c;
	char saved[64];

	strcpy(saved, keypath);
	strcpy(keypath, "/nonexistent/duet.key");
	assert_int_equal(load_as(good, "a", &c), -EINVAL);
	expect_err(1, "cluster.secret_file '/nonexistent/duet.key' cannot be "
		      "read: No such file or directory (create it with");
	write_file(keypath, "short secret\n\n");
	assert_int_equal(load_as(good, "a", &c), -EINVAL);
	expect_err(1, "holds 12 bytes of secret; at least 16 are needed");
	unlink(keypath);
	strcpy(keypath, saved);

	assert_int_equal(load_as("cluster = { name = \"p\"; # %s\n"
				 "};\n" NODE_A NODE_B,
				 "a", &c),
			 -EINVAL);
	expect_err(1, "cluster has no 'secret_file'");
}

static void test_proxy_form(void **state)
{
	struct duet_config c;
	static const char takeover_with_proxy[] =
		CLUSTER("takeover") NODE_A NODE_B;
	char *t;

	assert_int_equal(load_as(CLUSTER("relay") NODE_A NODE_B, "a", &c),
			 -EINVAL);
	expect_err(2, "proxy \"relay\" is not a proxy form");

	assert_int_equal(load_as(takeover_with_proxy, "a", &c), -EINVAL);
	expect_err(6, "node 'a': proxy_portals are only used by the portal "
		      "proxy form");
	expect_err(13, "node 'b': proxy_portals are only used");

	/* Portal form without proxy_portals on b. */
	t = strdup(good);
	memcpy(strstr(t, "proxy_portals = ( \"198.51.100.22"),
	       "#roxy_portals = ( \"198.51.100.22", 32);
	assert_int_equal(load_as(t, "a", &c), -EINVAL);
	expect_err(10, "node 'b' has no proxy_portals");
	free(t);

	/* Takeover form needs client_interface, no wildcard portal. */
	assert_int_equal(
		load_as(CLUSTER("takeover") "nodes = ( { name = \"a\"; "
					    "interconnect = "
					    "\"192.0.2.1\";\n"
					    "  portals = ( \"0.0.0.0\" ); },\n"
					    "{ name = \"b\"; interconnect = "
					    "\"192.0.2.2\"; "
					    "client_interface = \"eth1\";\n "
					    "portals = ( "
					    "\"198.51.100.12\" ); } );\n",
			"a", &c),
		-EINVAL);
	expect_err(3, "node 'a' has no client_interface");
	expect_err(4, "node 'a': portal 0.0.0.0 cannot move to the partner");
}

/* client_address: parsed (default port 3260), in the fingerprint, never a
 * moving (takeover-form portal) address nor a wildcard. */
static void test_client_address(void **state)
{
	struct duet_config x, y;
	char *t;

	assert_int_equal(load_as(good, "a", &x), 0);
	assert_null(x.nodes[1].client_address.host);
	{
		const char *at = strstr(good, "  targets = ( { name = "
					      "\"iqn.2026-11.org.example:b");

		assert_non_null(at);
		assert_true(asprintf(&t,
				     "%.*sclient_address = "
				     "\"198.51.100.42\"; %s",
				     (int)(at - good), good, at) > 0);
	}
	if (load_as(t, "a", &y))
		fail_msg("%s", errs);
	assert_string_equal(y.nodes[1].client_address.host, "198.51.100.42");
	assert_int_equal(y.nodes[1].client_address.port, 3260);
	assert_memory_not_equal(x.cluster.fingerprint, y.cluster.fingerprint,
				32);
	config_free(&y);
	free(t);
	config_free(&x);

	assert_int_equal(
		load_as(CLUSTER("takeover") "nodes = ( { name = \"a\"; "
					    "interconnect = \"192.0.2.1\";\n"
					    "  client_interface = \"eth0\"; "
					    "portals = ( \"198.51.100.31\" );\n"
					    "  client_address = "
					    "\"198.51.100.32\"; "
					    "},\n"
					    "{ name = \"b\"; interconnect = "
					    "\"192.0.2.2\"; "
					    "client_interface = \"eth1\";\n "
					    "portals = ( \"198.51.100.32\" ); "
					    "client_address = \"0.0.0.0\"; } "
					    ");\n",
			"a", &y),
		-EINVAL);
	expect_err(5, "node 'a': client_address 198.51.100.32 is a portal "
		      "address, which moves");
	expect_err(7, "node 'b': client_address 0.0.0.0 is a wildcard");
}

static void test_portals(void **state)
{
	struct duet_config c;
	char *t = strdup(good);

	/* b's portal equal to a's portal. */
	memcpy(strstr(t, "\"198.51.100.12:3260\""), "\"198.51.100.11:3260\"",
	       20);
	assert_int_equal(load_as(t, "a", &c), -EINVAL);
	expect_err(12, "portal 198.51.100.11 port 3260 of node 'b' is also the "
		       "portal of node 'a' (line 5)");
	free(t);

	/* b's proxy portal equal to a's portal. */
	t = strdup(good);
	memcpy(strstr(t, "\"198.51.100.22:3260\""), "\"198.51.100.11:3260\"",
	       20);
	assert_int_equal(load_as(t, "a", &c), -EINVAL);
	expect_err(13, "proxy portal 198.51.100.11 port 3260 of node 'b'");
	free(t);

	/* Within a node: proxy portal equal to its own portal. */
	t = strdup(good);
	memcpy(strstr(t, "\"198.51.100.21:3260\""), "\"198.51.100.11:3260\"",
	       20);
	assert_int_equal(load_as(t, "a", &c), -EINVAL);
	expect_err(6, "node 'a': proxy_portals entry 198.51.100.11 port 3260 "
		      "clashes with its portals entry");
	free(t);

	/* No portals. */
	t = strdup(good);
	memcpy(strstr(t, "portals = ( \"198.51.100.12"),
	       "#ortals = ( \"198.51.100.12", 26);
	assert_int_equal(load_as(t, "a", &c), -EINVAL);
	expect_err(10, "node 'b' has no portals");
	free(t);

	/* A bad witness. */
	t = strdup(good);
	memcpy(strstr(t, "\"198.51.100.1\""), "\"198.51.100.x\"", 14);
	assert_int_equal(load_as(t, "a", &c), -EINVAL);
	expect_err(7, "witness \"198.51.100.x\": not a numeric");
	free(t);
}

static void test_targets(void **state)
{
	struct duet_config c;
	char *t = strdup(good);

	memcpy(strstr(t, ":b.disk0"), ":a.disk0", 8);
	assert_int_equal(load_as(t, "a", &c), -EINVAL);
	expect_err(14, "target 'iqn.2026-11.org.example:a.disk0' of node 'b' "
		       "is also a target of node 'a' (line 8); target names "
		       "must be unique across the pair");
	free(t);

	/* Single-node rules still apply inside a node (at its lines). */
	t = strdup(good);
	memcpy(strstr(t, "size = \"1G\"; } ); } ); } );"),
	       "size = \"1X\"; } ); } ); } );", 26);
	assert_int_equal(load_as(t, "a", &c), -EINVAL);
	expect_err(15, "size \"1X\" is not a size");
	free(t);

	t = strdup(good);
	{
		char *l = strstr(t, "luns = ( { path = \"/tmp/b0.img\"");
		const char *r = "luns = ( ); } ); } );\n";

		strcpy(l, r);
	}
	assert_int_equal(load_as(t, "a", &c), -EINVAL);
	expect_err(14, "target 'iqn.2026-11.org.example:b.disk0' has no LUNs");
	free(t);
}

static void test_timings(void **state)
{
	struct duet_config c;

	assert_int_equal(
		load_as("cluster = { name = \"pair0\"; secret_file = \"%s\";\n"
			"  heartbeat_interval_ms = 1000;\n"
			"  heartbeat_timeout_ms = 2000;\n"
			"  damp_ms = -1;\n"
			"  probe_interval_ms = 5;\n"
			"  probe_timeout_ms = 9999999;\n"
			"  ic_hold_ms = 999; };\n"
			"nodes = ( { name = \"a\"; interconnect = "
			"\"192.0.2.1\"; proxy_portals = ( \"198.51.100.21\" ); "
			"portals = ( \"198.51.100.11\" ); },\n"
			"{ name = \"b\"; interconnect = \"192.0.2.2\"; "
			"proxy_portals = ( \"198.51.100.22\" ); "
			"portals = ( \"198.51.100.12\" ); } );\n",
			"a", &c),
		-EINVAL);
	expect_err(1, "cluster.heartbeat_timeout_ms (2000) must be more than "
		      "2 x heartbeat_interval_ms (1000)");
	expect_err(4, "'damp_ms' = -1 is out of range");
	expect_err(5, "'probe_interval_ms' = 5 is out of range");
	expect_err(6, "'probe_timeout_ms' = 9999999 is out of range");
	expect_err(7, "'ic_hold_ms' = 999 is out of range");

	assert_int_equal(
		load_as("cluster = { name = \"pair0\"; secret_file = \"%s\";\n"
			"  heartbeat_interval_ms = \"fast\"; "
			"hearbeat_timeout_ms "
			"= 1; };\n" NODE_A NODE_B,
			"a", &c),
		-EINVAL);
	expect_err(2, "'heartbeat_interval_ms' must be an integer");
	expect_err(2, "unknown key 'hearbeat_timeout_ms' in cluster (did you "
		      "mean 'heartbeat_timeout_ms'?)");
}

static void test_single_node_unchanged(void **state)
{
	struct duet_config c;

	assert_int_equal(
		load_as("# %s\nportals = ( \"127.0.0.1\" );\n"
			"targets = ( { name = \"iqn.2026-11.org.example:d\";\n"
			"  luns = ( { path = \"/tmp/d.img\"; size = \"1M\"; } "
			"); } );\n",
			NULL, &c),
		0);
	assert_false(c.has_cluster);
	assert_null(config_self(&c));
	assert_int_equal(c.n_portals, 1);
	config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_pair),
		cmocka_unit_test(test_fingerprint_content),
		cmocka_unit_test(test_node_order_irrelevant),
		cmocka_unit_test(test_render_canonical),
		cmocka_unit_test(test_node_selection),
		cmocka_unit_test(test_hostname_selection),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_node_count),
		cmocka_unit_test(test_top_level_lists),
		cmocka_unit_test(test_interconnect),
		cmocka_unit_test(test_secret),
		cmocka_unit_test(test_proxy_form),
		cmocka_unit_test(test_client_address),
		cmocka_unit_test(test_portals),
		cmocka_unit_test(test_targets),
		cmocka_unit_test(test_timings),
		cmocka_unit_test(test_single_node_unchanged),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
