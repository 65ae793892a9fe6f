// SPDX-License-Identifier: Apache-2.0
/*
 * The libconfig file -> struct duet_config. Every key is type- and
 * range-checked; unknown keys are reported (with a suggestion when it
 * looks like a typo). Parsing continues after an error so that one run
 * reports every problem, each as "file:line: what is wrong".
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "duet/util.h"

static int sline(const config_setting_t *s)
{
	return s ? (int)config_setting_source_line(s) : 0;
}

static const char *type_name(const config_setting_t *s)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a float";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "a boolean";
	case CONFIG_TYPE_GROUP:
		return "a group { ... }";
	case CONFIG_TYPE_ARRAY:
		return "an array [ ... ]";
	case CONFIG_TYPE_LIST:
		return "a list ( ... )";
	default:
		return "something else";
	}
}

/* Edit distance for "did you mean" hints (short key names only). */
static unsigned edit_distance(const char *a, const char *b)
{
	unsigned row[64], n = (unsigned)strlen(b), m = (unsigned)strlen(a);

	if (n >= ARRAY_SIZE(row) || m >= 64)
		return 99;
	for (unsigned j = 0; j <= n; j++)
		row[j] = j;
	for (unsigned i = 1; i <= m; i++) {
		unsigned diag = row[0];

		row[0] = i;
		for (unsigned j = 1; j <= n; j++) {
			unsigned up = row[j];
			unsigned cost = a[i - 1] == b[j - 1] ? 0 : 1;

			row[j] = MIN(MIN(row[j] + 1, row[j - 1] + 1),
				     diag + cost);
			diag = up;
		}
	}
	return row[n];
}

static void check_unknown(struct cfg_errs *e, const config_setting_t *group,
			  const char *const *known, const char *where)
{
	for (int i = 0; i < config_setting_length(group); i++) {
		const config_setting_t *s = config_setting_get_elem(group, i);
		const char *name = config_setting_name(s);
		const char *best = NULL;
		unsigned bestd = 3;
		bool found = false;

		if (!name)
			continue;
		for (size_t k = 0; known[k]; k++) {
			unsigned d = edit_distance(name, known[k]);

			if (d == 0)
				found = true;
			if (d < bestd) {
				bestd = d;
				best = known[k];
			}
		}
		if (found)
			continue;
		if (best)
			cfg_error(e, sline(s),
				  "unknown key '%s'%s%s (did you mean '%s'?)",
				  name, where ? " in " : "", where ? where : "",
				  best);
		else
			cfg_error(e, sline(s), "unknown key '%s'%s%s", name,
				  where ? " in " : "", where ? where : "");
	}
}

static bool get_int(struct cfg_errs *e, const config_setting_t *grp,
		    const char *key, long long min, long long max,
		    long long *out)
{
	const config_setting_t *s = config_setting_get_member(grp, key);
	long long v;

	if (!s)
		return false;
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64) {
		cfg_error(e, sline(s), "'%s' must be an integer, not %s", key,
			  type_name(s));
		return false;
	}
	v = config_setting_get_int64(s);
	if (v < min || v > max) {
		cfg_error(e, sline(s),
			  "'%s' = %lld is out of range (%lld to %lld)", key, v,
			  min, max);
		return false;
	}
	*out = v;
	return true;
}

static void get_u32(struct cfg_errs *e, const config_setting_t *grp,
		    const char *key, uint32_t min, uint32_t max, uint32_t *out)
{
	long long v;

	if (get_int(e, grp, key, min, max, &v))
		*out = (uint32_t)v;
}

static void get_bool(struct cfg_errs *e, const config_setting_t *grp,
		     const char *key, bool *out)
{
	const config_setting_t *s = config_setting_get_member(grp, key);

	if (!s)
		return;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		cfg_error(e, sline(s),
			  "'%s' must be true or false (without quotes), not %s",
			  key, type_name(s));
		return;
	}
	*out = config_setting_get_bool(s) != 0;
}

/* A printable string of 1..maxlen bytes, or NULL (and an error). */
static const char *get_str(struct cfg_errs *e, const config_setting_t *grp,
			   const char *key, size_t maxlen)
{
	const config_setting_t *s = config_setting_get_member(grp, key);
	const char *v;

	if (!s)
		return NULL;
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		cfg_error(e, sline(s),
			  "'%s' must be a string in quotes, not %s", key,
			  type_name(s));
		return NULL;
	}
	v = config_setting_get_string(s);
	if (!v || !*v) {
		cfg_error(e, sline(s), "'%s' must not be empty", key);
		return NULL;
	}
	if (strlen(v) > maxlen) {
		cfg_error(e, sline(s), "'%s' is longer than %zu bytes", key,
			  maxlen);
		return NULL;
	}
	for (const char *p = v; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			cfg_error(e, sline(s),
				  "'%s' contains a control character", key);
			return NULL;
		}
	}
	return v;
}

static char *dup_or_die(const char *s)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d) {
		fprintf(stderr, "duet: out of memory while reading config\n");
		abort();
	}
	return d;
}

static void *calloc_or_die(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz);

	if (!p) {
		fprintf(stderr, "duet: out of memory while reading config\n");
		abort();
	}
	return p;
}

/* A list or array setting of strings; NULL if absent or wrong. */
static const config_setting_t *
get_list(struct cfg_errs *e, const config_setting_t *grp, const char *key)
{
	const config_setting_t *s = config_setting_get_member(grp, key);

	if (!s)
		return NULL;
	if (config_setting_type(s) != CONFIG_TYPE_LIST &&
	    config_setting_type(s) != CONFIG_TYPE_ARRAY) {
		cfg_error(e, sline(s), "'%s' must be a list ( ... ), not %s",
			  key, type_name(s));
		return NULL;
	}
	return s;
}

static void parse_iscsi(struct cfg_errs *e, const config_setting_t *g,
			struct cfg_iscsi *is)
{
	static const char *const keys[] = {"queue_depth",
					   "max_recv_data_segment_length",
					   "max_burst_length",
					   "first_burst_length",
					   "max_outstanding_r2t",
					   "immediate_data",
					   "initial_r2t",
					   "header_digest",
					   "data_digest",
					   "nop_interval",
					   "nop_timeout",
					   "login_timeout",
					   "default_time2wait",
					   "default_time2retain",
					   NULL};

	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		cfg_error(e, sline(g),
			  "'iscsi' must be a group { ... }, not %s",
			  type_name(g));
		return;
	}
	check_unknown(e, g, keys, "iscsi");
	get_u32(e, g, "queue_depth", 1, CFG_QUEUE_DEPTH_MAX, &is->queue_depth);
	get_u32(e, g, "max_recv_data_segment_length", CFG_MRDSL_MIN,
		CFG_MRDSL_MAX, &is->max_recv_data_segment_length);
	get_u32(e, g, "max_burst_length", CFG_MRDSL_MIN, CFG_MRDSL_MAX,
		&is->max_burst_length);
	get_u32(e, g, "first_burst_length", CFG_MRDSL_MIN, CFG_MRDSL_MAX,
		&is->first_burst_length);
	get_u32(e, g, "max_outstanding_r2t", 1, 65535,
		&is->max_outstanding_r2t);
	get_bool(e, g, "immediate_data", &is->immediate_data);
	get_bool(e, g, "initial_r2t", &is->initial_r2t);
	get_bool(e, g, "header_digest", &is->header_digest);
	get_bool(e, g, "data_digest", &is->data_digest);
	get_u32(e, g, "nop_interval", 0, CFG_TIME_MAX, &is->nop_interval);
	get_u32(e, g, "nop_timeout", 1, CFG_TIME_MAX, &is->nop_timeout);
	get_u32(e, g, "login_timeout", 1, CFG_TIME_MAX, &is->login_timeout);
	get_u32(e, g, "default_time2wait", 0, CFG_TIME_MAX,
		&is->default_time2wait);
	get_u32(e, g, "default_time2retain", 0, CFG_TIME_MAX,
		&is->default_time2retain);
	if (is->first_burst_length > is->max_burst_length)
		cfg_error(e, sline(g),
			  "iscsi.first_burst_length (%" PRIu32
			  ") must not exceed iscsi.max_burst_length (%" PRIu32
			  ") (RFC 7143 section 13.14)",
			  is->first_burst_length, is->max_burst_length);
}

/* A list of "host:port" strings; returns true when present and
 * non-empty (even if some entries are invalid). */
static bool parse_portal_list(struct cfg_errs *e, const config_setting_t *grp,
			      const char *key, const char *what,
			      uint16_t defport, struct cfg_portal **out,
			      size_t *n_out)
{
	const config_setting_t *l = get_list(e, grp, key);
	int n = l ? config_setting_length(l) : 0;

	if (!l)
		return config_setting_get_member(grp, key) != NULL;
	*out = calloc_or_die((size_t)n, sizeof(**out));
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(l, i);
		struct cfg_portal p = {.line = sline(s)};
		const char *why;

		if (config_setting_type(s) != CONFIG_TYPE_STRING) {
			cfg_error(e, sline(s),
				  "a %s must be a string like "
				  "\"0.0.0.0:%u\", not %s",
				  what, defport, type_name(s));
			continue;
		}
		why = cfg_parse_hostport(config_setting_get_string(s), defport,
					 &p);
		if (why) {
			cfg_error(e, sline(s), "%s \"%s\": %s", what,
				  config_setting_get_string(s), why);
			continue;
		}
		(*out)[(*n_out)++] = p;
	}
	return n > 0;
}

static void parse_portals(struct cfg_errs *e, const config_setting_t *root,
			  struct duet_config *cfg)
{
	/* A present but mistyped list was reported already. */
	e->portals_given = parse_portal_list(e, root, "portals", "portal",
					     DUET_DEFAULT_PORT, &cfg->portals,
					     &cfg->n_portals);
}

/* allow_initiators / allow_addresses: validated string lists. */
static void parse_allow(struct cfg_errs *e, const config_setting_t *g,
			const char *key, bool names, char ***out, size_t *n_out)
{
	const config_setting_t *l = get_list(e, g, key);
	int n = l ? config_setting_length(l) : 0;
	char buf[160];

	if (!l)
		return;
	*out = calloc_or_die((size_t)n, sizeof(char *));
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(l, i);
		const char *v, *why;

		if (config_setting_type(s) != CONFIG_TYPE_STRING) {
			cfg_error(e, sline(s),
				  "entries of '%s' must be strings, not %s",
				  key, type_name(s));
			continue;
		}
		v = config_setting_get_string(s);
		why = names ? cfg_check_iscsi_name(v, buf, sizeof(buf))
			    : cfg_check_netmask(v, buf, sizeof(buf));
		if (why) {
			cfg_error(e, sline(s), "%s entry '%s': %s", key, v,
				  why);
			continue;
		}
		(*out)[(*n_out)++] = dup_or_die(v);
	}
}

static void parse_lun_size(struct cfg_errs *e, const config_setting_t *g,
			   struct cfg_lun *l)
{
	const config_setting_t *s = config_setting_get_member(g, "size");
	uint64_t v;

	if (!s)
		return;
	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		if (config_parse_size(config_setting_get_string(s), &v) < 0) {
			cfg_error(e, sline(s),
				  "size \"%s\" is not a size (use bytes or a "
				  "K/M/G/T suffix, e.g. \"64M\", \"1G\")",
				  config_setting_get_string(s));
			return;
		}
	} else if (config_setting_type(s) == CONFIG_TYPE_INT ||
		   config_setting_type(s) == CONFIG_TYPE_INT64) {
		long long iv = config_setting_get_int64(s);

		if (iv < 0) {
			cfg_error(e, sline(s), "size must not be negative");
			return;
		}
		v = (uint64_t)iv;
	} else {
		cfg_error(e, sline(s),
			  "size must be a string like \"1G\" or an integer "
			  "number of bytes, not %s",
			  type_name(s));
		return;
	}
	if (v == 0)
		cfg_error(
			e, sline(s),
			"size must be greater than 0 (leave it out to use the "
			"existing size of the file or device)");
	else if (v % 512)
		cfg_error(e, sline(s),
			  "size %" PRIu64 " is not a multiple of 512 bytes", v);
	else
		l->size = v;
}

/* block_size = 512 | 4096; the size must be a whole number of blocks. */
static void parse_lun_block_size(struct cfg_errs *e, const config_setting_t *g,
				 struct cfg_lun *l)
{
	const config_setting_t *s = config_setting_get_member(g, "block_size");
	long long v;

	l->block_size = 512;
	if (!s || !get_int(e, g, "block_size", 512, 4096, &v))
		return;
	if (v != 512 && v != 4096) {
		cfg_error(e, sline(s),
			  "block_size must be 512 or 4096, not %lld", v);
		return;
	}
	l->block_size = (uint32_t)v;
	if (l->size % l->block_size)
		cfg_error(e, sline(s),
			  "size %" PRIu64 " is not a multiple of block_size %u",
			  l->size, l->block_size);
}

/* Relative LUN paths are relative to the config file's directory. */
static char *lun_path(struct cfg_errs *e, const char *path)
{
	char *copy = dup_or_die(e->file), *dir, *abs;

	dir = strrchr(copy, '/');
	if (dir == copy)
		dir[1] = '\0';
	else if (dir)
		*dir = '\0';
	abs = cfg_abs_path(dir ? copy : NULL, path, strlen(path));
	free(copy);
	if (!abs) {
		fprintf(stderr, "duet: out of memory while reading config\n");
		abort();
	}
	return abs;
}

static void parse_lun(struct cfg_errs *e, const config_setting_t *g, int index,
		      struct cfg_lun *l)
{
	static const char *const keys[] = {
		"id",	  "path",   "size",    "readonly",   "write_back",
		"serial", "vendor", "product", "block_size", NULL};
	long long id;
	const char *path;

	l->id = (uint32_t)index;
	l->line = sline(g);
	check_unknown(e, g, keys, "lun");
	if (get_int(e, g, "id", 0, CFG_LUN_ID_MAX, &id))
		l->id = (uint32_t)id;
	path = get_str(e, g, "path", 4095);
	if (path)
		l->path = lun_path(e, path);
	else if (!config_setting_get_member(g, "path"))
		cfg_error(e, l->line,
			  "LUN %" PRIu32
			  " has no 'path' (a file or block device)",
			  l->id);
	parse_lun_size(e, g, l);
	get_bool(e, g, "readonly", &l->readonly);
	get_bool(e, g, "write_back", &l->write_back);
	parse_lun_block_size(e, g, l);
	l->serial = dup_or_die(get_str(e, g, "serial", CFG_SERIAL_MAX));
	l->vendor = dup_or_die(get_str(e, g, "vendor", 8));
	l->product = dup_or_die(get_str(e, g, "product", 16));
}

static void parse_luns(struct cfg_errs *e, const config_setting_t *g,
		       struct cfg_target *t)
{
	const config_setting_t *l = get_list(e, g, "luns");
	int n = l ? config_setting_length(l) : 0;

	if (!l)
		return;
	t->luns = calloc_or_die((size_t)n, sizeof(*t->luns));
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(l, i);

		if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
			cfg_error(e, sline(s),
				  "each LUN must be a group { path = ...; }, "
				  "not %s",
				  type_name(s));
			continue;
		}
		parse_lun(e, s, i, &t->luns[t->n_luns++]);
	}
}

static void parse_target(struct cfg_errs *e, const config_setting_t *g,
			 struct cfg_target *t)
{
	static const char *const keys[] = {
		"name", "alias", "tpgt", "allow_initiators", "allow_addresses",
		"luns", NULL};
	const char *name;
	char buf[160];
	long long v;

	t->line = sline(g);
	t->tpgt = 1;
	check_unknown(e, g, keys, "target");
	name = get_str(e, g, "name", 1024);
	if (name) {
		const char *why = cfg_check_iscsi_name(name, buf, sizeof(buf));

		if (why)
			cfg_error(e,
				  sline(config_setting_get_member(g, "name")),
				  "target name '%s': %s", name, why);
		else
			t->name = dup_or_die(name);
	} else if (!config_setting_get_member(g, "name")) {
		cfg_error(e, t->line,
			  "target has no 'name' (e.g. name = "
			  "\"iqn.2026-11.org.example:disk0\";)");
	}
	t->alias = dup_or_die(get_str(e, g, "alias", CFG_ALIAS_MAX));
	if (get_int(e, g, "tpgt", 1, 65535, &v))
		t->tpgt = (uint16_t)v;
	parse_allow(e, g, "allow_initiators", true, &t->allow_initiators,
		    &t->n_allow_initiators);
	parse_allow(e, g, "allow_addresses", false, &t->allow_addresses,
		    &t->n_allow_addresses);
	parse_luns(e, g, t);
}

static bool parse_target_list(struct cfg_errs *e, const config_setting_t *grp,
			      struct cfg_target **out, size_t *n_out)
{
	const config_setting_t *l = get_list(e, grp, "targets");
	int n = l ? config_setting_length(l) : 0;

	if (!l)
		return config_setting_get_member(grp, "targets") != NULL;
	*out = calloc_or_die((size_t)n, sizeof(**out));
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(l, i);

		if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
			cfg_error(e, sline(s),
				  "each target must be a group { name = ...; "
				  "luns = ...; }, not %s",
				  type_name(s));
			continue;
		}
		parse_target(e, s, &(*out)[(*n_out)++]);
	}
	return n > 0;
}

static void parse_targets(struct cfg_errs *e, const config_setting_t *root,
			  struct duet_config *cfg)
{
	/* A present but mistyped list was reported already. */
	e->targets_given =
		parse_target_list(e, root, &cfg->targets, &cfg->n_targets);
}

/* secret_file: relative to the config file's directory, like LUNs. */
static void parse_secret_file(struct cfg_errs *e, const config_setting_t *g,
			      struct cfg_cluster *c)
{
	const char *v = get_str(e, g, "secret_file", 4095);

	e->secret_line = sline(config_setting_get_member(g, "secret_file"));
	if (v)
		c->secret_file = lun_path(e, v);
	else if (!config_setting_get_member(g, "secret_file"))
		cfg_error(e, c->line,
			  "cluster has no 'secret_file' (the shared "
			  "interconnect secret, the same file on both hosts; "
			  "create one with: head -c 32 /dev/urandom | "
			  "base64 > /etc/duet/%s.key; chmod 600 "
			  "/etc/duet/%s.key)",
			  c->name ? c->name : "pair0",
			  c->name ? c->name : "pair0");
}

static void parse_cluster(struct cfg_errs *e, const config_setting_t *g,
			  struct cfg_cluster *c)
{
	static const char *const keys[] = {"name",
					   "secret_file",
					   "proxy",
					   "heartbeat_interval_ms",
					   "heartbeat_timeout_ms",
					   "damp_ms",
					   "probe_interval_ms",
					   "probe_timeout_ms",
					   "ic_hold_ms",
					   NULL};
	const char *v;

	c->line = sline(g);
	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		cfg_error(e, c->line,
			  "'cluster' must be a group { ... }, not %s",
			  type_name(g));
		return;
	}
	check_unknown(e, g, keys, "cluster");
	c->name = dup_or_die(get_str(e, g, "name", CFG_NAME_MAX));
	if (!config_setting_get_member(g, "name"))
		cfg_error(e, c->line,
			  "cluster has no 'name' (e.g. name = \"pair0\";)");
	parse_secret_file(e, g, c);
	v = get_str(e, g, "proxy", 16);
	if (v && strcmp(v, "portal") == 0)
		c->proxy = CFG_PROXY_PORTAL;
	else if (v && strcmp(v, "takeover") == 0)
		c->proxy = CFG_PROXY_TAKEOVER;
	else if (v)
		cfg_error(e, sline(config_setting_get_member(g, "proxy")),
			  "proxy \"%s\" is not a proxy form: use \"portal\" "
			  "(the partner serves our targets on its own proxy "
			  "portals) or \"takeover\" (our portal addresses "
			  "move to the partner)",
			  v);
	get_u32(e, g, "heartbeat_interval_ms", CFG_HB_INTERVAL_MIN,
		CFG_HB_INTERVAL_MAX, &c->heartbeat_interval_ms);
	get_u32(e, g, "heartbeat_timeout_ms", CFG_HB_TIMEOUT_MIN,
		CFG_HB_TIMEOUT_MAX, &c->heartbeat_timeout_ms);
	get_u32(e, g, "damp_ms", 0, CFG_DAMP_MAX, &c->damp_ms);
	get_u32(e, g, "probe_interval_ms", CFG_PROBE_MIN, CFG_PROBE_MAX,
		&c->probe_interval_ms);
	get_u32(e, g, "probe_timeout_ms", CFG_PROBE_MIN, CFG_PROBE_MAX,
		&c->probe_timeout_ms);
	get_u32(e, g, "ic_hold_ms", CFG_IC_HOLD_MIN, CFG_IC_HOLD_MAX,
		&c->ic_hold_ms);
}

static void parse_node_ic(struct cfg_errs *e, const config_setting_t *g,
			  struct cfg_node *n)
{
	const char *v = get_str(e, g, "interconnect", 64);
	const char *why;

	if (!v) {
		if (!config_setting_get_member(g, "interconnect"))
			cfg_error(e, n->line,
				  "node '%s' has no 'interconnect' (its "
				  "interconnect address, e.g. interconnect = "
				  "\"192.0.2.1:%u\";)",
				  n->name ? n->name : "?",
				  DUET_DEFAULT_IC_PORT);
		return;
	}
	n->interconnect.line =
		sline(config_setting_get_member(g, "interconnect"));
	why = cfg_parse_hostport(v, DUET_DEFAULT_IC_PORT, &n->interconnect);
	if (why)
		cfg_error(e, n->interconnect.line, "interconnect \"%s\": %s", v,
			  why);
}

/* client_address = "ADDR[:PORT]": where the partner probes this node. */
static void parse_client_address(struct cfg_errs *e, const config_setting_t *g,
				 struct cfg_node *n)
{
	const char *v = get_str(e, g, "client_address", 300);
	const char *why;

	if (!v)
		return;
	n->client_address.line =
		sline(config_setting_get_member(g, "client_address"));
	why = cfg_parse_hostport(v, DUET_DEFAULT_PORT, &n->client_address);
	if (why)
		cfg_error(e, n->client_address.line,
			  "client_address \"%s\": %s", v, why);
}

static void parse_node(struct cfg_errs *e, const config_setting_t *g,
		       struct cfg_node *n, bool *targets_given)
{
	static const char *const keys[] = {
		"name",	   "interconnect",   "client_interface",
		"portals", "proxy_portals",  "witnesses",
		"targets", "client_address", NULL};

	n->line = sline(g);
	check_unknown(e, g, keys, "node");
	n->name = dup_or_die(get_str(e, g, "name", CFG_NAME_MAX));
	parse_node_ic(e, g, n);
	n->client_interface = dup_or_die(get_str(e, g, "client_interface", 15));
	parse_portal_list(e, g, "portals", "portal", DUET_DEFAULT_PORT,
			  &n->portals, &n->n_portals);
	parse_portal_list(e, g, "proxy_portals", "proxy portal",
			  DUET_DEFAULT_PORT, &n->proxy_portals,
			  &n->n_proxy_portals);
	parse_portal_list(e, g, "witnesses", "witness", DUET_DEFAULT_PORT,
			  &n->witnesses, &n->n_witnesses);
	parse_client_address(e, g, n);
	*targets_given = parse_target_list(e, g, &n->targets, &n->n_targets);
}

static void parse_nodes(struct cfg_errs *e, const config_setting_t *root,
			struct duet_config *cfg)
{
	const config_setting_t *l = get_list(e, root, "nodes");
	int n = l ? config_setting_length(l) : 0;

	if (!l) {
		if (!config_setting_get_member(root, "nodes"))
			cfg_error(e,
				  sline(config_setting_get_member(root,
								  "cluster")),
				  "a file with 'cluster' needs 'nodes = ( { "
				  "name = \"a\"; ... }, { name = \"b\"; "
				  "... } );' describing both nodes");
		return;
	}
	if (n != 2) {
		cfg_error(e, sline(l),
			  "'nodes' lists %d node%s; a pair has exactly 2", n,
			  n == 1 ? "" : "s");
		return;
	}
	for (int i = 0; i < 2; i++) {
		const config_setting_t *s = config_setting_get_elem(l, i);

		if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
			cfg_error(e, sline(s),
				  "each node must be a group { name = ...; "
				  "... }, not %s",
				  type_name(s));
			continue;
		}
		parse_node(e, s, &cfg->nodes[i], &e->node_targets_given[i]);
		e->node_parsed[i] = true;
	}
}

/* A pair file: the top-level portals/targets belong in the nodes. */
static void parse_pair(struct cfg_errs *e, const config_setting_t *root,
		       const config_setting_t *cl, struct duet_config *cfg)
{
	static const char *const top[] = {"portals", "targets"};

	cfg->has_cluster = true;
	for (size_t i = 0; i < ARRAY_SIZE(top); i++) {
		const config_setting_t *s =
			config_setting_get_member(root, top[i]);

		if (s)
			cfg_error(e, sline(s),
				  "top-level '%s' is the single-node format; "
				  "in a file with 'cluster', list %s inside "
				  "each node of 'nodes'",
				  top[i], top[i]);
	}
	parse_cluster(e, cl, &cfg->cluster);
	parse_nodes(e, root, cfg);
}

static void parse_io_engine(struct cfg_errs *e, const config_setting_t *root,
			    struct duet_config *cfg)
{
	static const char *const names[] = {"auto", "uring", "threads"};
	const char *v = get_str(e, root, "io_engine", 16);

	if (!v)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (strcmp(v, names[i]) == 0) {
			cfg->io_engine = (enum cfg_io_engine)i;
			return;
		}
	}
	cfg_error(e, sline(config_setting_get_member(root, "io_engine")),
		  "io_engine \"%s\" is not one of auto, uring, threads", v);
}

static void parse_root(struct cfg_errs *e, const config_setting_t *root,
		       struct duet_config *cfg)
{
	static const char *const keys[] = {
		"log_level", "io_workers", "io_engine", "iscsi", "portals",
		"targets",   "cluster",	   "nodes",	NULL};
	const config_setting_t *s;
	const char *lvl;
	long long v;

	check_unknown(e, root, keys, NULL);
	lvl = get_str(e, root, "log_level", 16);
	if (lvl && log_level_parse(lvl, &cfg->log_level) < 0)
		cfg_error(e,
			  sline(config_setting_get_member(root, "log_level")),
			  "log_level \"%s\" is not one of error, warn, info, "
			  "debug",
			  lvl);
	if (get_int(e, root, "io_workers", 0, CFG_IO_WORKERS_MAX, &v))
		cfg->io_workers = (unsigned)v;
	parse_io_engine(e, root, cfg);
	s = config_setting_get_member(root, "iscsi");
	if (s)
		parse_iscsi(e, s, &cfg->iscsi);
	s = config_setting_get_member(root, "cluster");
	if (s) {
		parse_pair(e, root, s, cfg);
		return;
	}
	if (config_setting_get_member(root, "nodes"))
		cfg_error(e, sline(config_setting_get_member(root, "nodes")),
			  "'nodes' needs a 'cluster = { name = ...; "
			  "secret_file = ...; proxy = ...; };' section");
	parse_portals(e, root, cfg);
	parse_targets(e, root, cfg);
}

/*
 * libconfig 1.5 silently truncates an integer literal that does not fit
 * in 32 bits unless it has an L suffix ("size = 5368709120;" would read
 * as 1 GiB). Scan the text for such literals and report them.
 */
static void scan_int_number(struct cfg_errs *e, const char **pp, int line)
{
	const char *p = *pp, *start = p;
	bool hex = p[0] == '0' && (p[1] == 'x' || p[1] == 'X');
	unsigned long long v = 0;
	bool big = false;

	if (hex)
		p += 2;
	for (; hex ? isxdigit((unsigned char)*p) : isdigit((unsigned char)*p);
	     p++) {
		unsigned d = isdigit((unsigned char)*p)
				     ? (unsigned)(*p - '0')
				     : (unsigned)(tolower((unsigned char)*p) -
						  'a' + 10);

		if (v > 0xffffffffull)
			big = true;
		else
			v = v * (hex ? 16 : 10) + d;
	}
	*pp = p;
	if (*p == '.' || *p == 'e' || *p == 'E' || *p == 'L')
		return; /* float, or an explicit 64-bit integer */
	if (big || v > (hex ? 0xffffffffull : 0x7fffffffull))
		cfg_error(e, line,
			  "integer %.*s is too large for libconfig's 32-bit "
			  "integers: write it as a string (e.g. size = "
			  "\"5G\") or with an L suffix (%.*sL)",
			  (int)(p - start), start, (int)(p - start), start);
}

static void scan_big_ints(struct cfg_errs *e, const char *text)
{
	int line = 1;
	char prev = ' ';

	for (const char *p = text; *p;) {
		if (*p == '\n') {
			line++;
			prev = *p++;
		} else if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
			while (*p && *p != '\n')
				p++;
		} else if (p[0] == '/' && p[1] == '*') {
			for (p += 2; *p && !(p[0] == '*' && p[1] == '/'); p++)
				line += *p == '\n';
			p += *p ? 2 : 0;
		} else if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1])
					p++;
				line += *p == '\n';
			}
			p += *p ? 1 : 0;
		} else if (isdigit((unsigned char)*p) &&
			   !isalnum((unsigned char)prev) && prev != '_' &&
			   prev != '.') {
			scan_int_number(e, &p, line);
			prev = '0';
		} else {
			prev = *p++;
		}
	}
}

static void check_big_ints(struct cfg_errs *e, const char *path)
{
	FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f)
		return;
	n = getdelim(&text, &cap, '\0', f);
	if (n > 0)
		scan_big_ints(e, text);
	free(text);
	fclose(f);
}

int config_load_file_to(const char *path, const char *node,
			struct duet_config *cfg, FILE *errs)
{
	struct cfg_errs e = {.file = path, .out = errs};
	config_t lc;

	config_defaults(cfg);
	if (!path)
		return -EINVAL;
	config_init(&lc);
	if (!config_read_file(&lc, path)) {
		if (config_error_type(&lc) == CONFIG_ERR_FILE_IO) {
			int err = errno ? errno : ENOENT;

			cfg_error(&e, 0, "cannot read the config file: %s",
				  strerror(err));
		} else {
			const char *f = config_error_file(&lc);

			e.file = f ? f : path;
			cfg_error(&e, config_error_line(&lc),
				  "syntax error: %s", config_error_text(&lc));
		}
		config_destroy(&lc);
		cfg_errs_flush(&e);
		return -EINVAL;
	}
	cfg->file = dup_or_die(path);
	cfg->node_name = dup_or_die(node);
	check_big_ints(&e, path);
	parse_root(&e, config_root_setting(&lc), cfg);
	if (cfg->has_cluster)
		cfg_pair_finish(cfg, node, &e);
	else
		cfg_validate_all(cfg, &e);
	config_destroy(&lc);
	cfg_errs_flush(&e);
	if (e.count) {
		config_free(cfg);
		return -EINVAL;
	}
	return 0;
}

int config_load_file(const char *path, const char *node,
		     struct duet_config *cfg)
{
	return config_load_file_to(path, node, cfg, stderr);
}
