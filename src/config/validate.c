// SPDX-License-Identifier: Apache-2.0
/*
 * Config value syntax (sizes, portals, iSCSI names, address masks),
 * defaults, cross-checks over a whole config, and freeing. Shared by the
 * libconfig parser (config.c) and the command-line quick start (args.c).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config_int.h"
#include "duet/task.h"
#include "duet/util.h"

void cfg_error(struct cfg_errs *e, int line, const char *fmt, ...)
{
	char msg[1024], *text = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (e->file && line > 0)
		n = asprintf(&text, "%s:%d: %s", e->file, line, msg);
	else
		n = asprintf(&text, "%s: %s",
			     e->file ? e->file : "command line", msg);
	e->count++;
	if (n < 0)
		text = NULL;
	if (e->n_msgs == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 16;
		struct cfg_err_msg *m = realloc(e->msgs, cap * sizeof(*m));

		if (!m) {
			/* Cannot keep it: print it now rather than lose it. */
			fprintf(e->out ? e->out : stderr, "%s\n",
				text ? text : msg);
			free(text);
			return;
		}
		e->msgs = m;
		e->cap = cap;
	}
	e->msgs[e->n_msgs++] = (struct cfg_err_msg){
		.line = line > 0 ? line : INT_MAX,
		.seq = e->count,
		.text = text,
	};
}

static int cmp_msg(const void *a, const void *b)
{
	const struct cfg_err_msg *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void cfg_errs_flush(struct cfg_errs *e)
{
	FILE *out = e->out ? e->out : stderr;

	if (e->n_msgs)
		qsort(e->msgs, e->n_msgs, sizeof(*e->msgs), cmp_msg);
	for (size_t i = 0; i < e->n_msgs; i++) {
		fprintf(out, "%s\n",
			e->msgs[i].text ? e->msgs[i].text : "(out of memory)");
		free(e->msgs[i].text);
	}
	free(e->msgs);
	e->msgs = NULL;
	e->n_msgs = e->cap = 0;
	fflush(out);
}

void config_defaults(struct duet_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->log_level = LOG_LVL_INFO;
	cfg->io_workers = 0;
	cfg->io_engine = CFG_IO_ENGINE_AUTO;
	cfg->iscsi = (struct cfg_iscsi){
		.queue_depth = 128,
		.max_recv_data_segment_length = 262144,
		.max_burst_length = 1048576,
		.first_burst_length = 65536,
		.max_outstanding_r2t = 4,
		.immediate_data = true,
		.initial_r2t = false,
		.header_digest = true,
		.data_digest = true,
		.nop_interval = 5,
		.nop_timeout = 10,
		.login_timeout = 15,
		.default_time2wait = 2,
		.default_time2retain = 0,
	};
	cfg->cluster = (struct cfg_cluster){
		.proxy = CFG_PROXY_PORTAL,
		.heartbeat_interval_ms = 250,
		.heartbeat_timeout_ms = 1500,
		.damp_ms = 3000,
		.probe_interval_ms = 500,
		.probe_timeout_ms = 1000,
		.ic_hold_ms = 10000,
	};
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void cfg_free_targets(struct cfg_target *targets, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct cfg_target *t = &targets[i];

		for (size_t j = 0; j < t->n_luns; j++) {
			free(t->luns[j].path);
			free(t->luns[j].serial);
			free(t->luns[j].vendor);
			free(t->luns[j].product);
		}
		free(t->luns);
		free(t->name);
		free(t->alias);
		free_strv(t->allow_initiators, t->n_allow_initiators);
		free_strv(t->allow_addresses, t->n_allow_addresses);
	}
	free(targets);
}

void cfg_free_portals(struct cfg_portal *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(p[i].host);
	free(p);
}

void cfg_node_free(struct cfg_node *n)
{
	free(n->name);
	free(n->interconnect.host);
	free(n->client_interface);
	cfg_free_portals(n->portals, n->n_portals);
	cfg_free_portals(n->proxy_portals, n->n_proxy_portals);
	cfg_free_portals(n->witnesses, n->n_witnesses);
	free(n->client_address.host);
	cfg_free_targets(n->targets, n->n_targets);
}

void config_free(struct duet_config *cfg)
{
	if (!cfg)
		return;
	if (cfg->has_cluster) {
		/* portals/targets alias nodes[self]'s. */
		for (int i = 0; i < 2; i++)
			cfg_node_free(&cfg->nodes[i]);
		free(cfg->cluster.name);
		free(cfg->cluster.secret_file);
		if (cfg->cluster.secret)
			memset(cfg->cluster.secret, 0, cfg->cluster.secret_len);
		free(cfg->cluster.secret);
	} else {
		cfg_free_targets(cfg->targets, cfg->n_targets);
		cfg_free_portals(cfg->portals, cfg->n_portals);
	}
	free(cfg->file);
	free(cfg->node_name);
	config_defaults(cfg);
}

int config_parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0, mult = 1;
	const char *p = s;

	if (!s || !isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		uint64_t d = (uint64_t)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	switch (tolower((unsigned char)*p)) {
	case '\0':
		break;
	case 'k':
		mult = 1ull << 10;
		break;
	case 'm':
		mult = 1ull << 20;
		break;
	case 'g':
		mult = 1ull << 30;
		break;
	case 't':
		mult = 1ull << 40;
		break;
	case 'p':
		mult = 1ull << 50;
		break;
	case 'b':
		p--; /* plain "512B" */
		break;
	default:
		return -EINVAL;
	}
	if (*p) {
		p++;
		/* Accept "1G", "1GB", "1GiB" (all binary units). */
		if (mult > 1 && *p == 'i')
			p++;
		if (*p == 'B' || *p == 'b')
			p++;
		if (*p)
			return -EINVAL;
	}
	if (v > UINT64_MAX / mult)
		return -EINVAL;
	*out = v * mult;
	return 0;
}

/* Numeric address -> canonical text; returns the family or 0. */
static int canon_addr(const char *in, int only_family, char *out, size_t len)
{
	unsigned char bin[sizeof(struct in6_addr)];

	if ((only_family == 0 || only_family == AF_INET) &&
	    inet_pton(AF_INET, in, bin) == 1) {
		inet_ntop(AF_INET, bin, out, (socklen_t)len);
		return AF_INET;
	}
	if ((only_family == 0 || only_family == AF_INET6) &&
	    inet_pton(AF_INET6, in, bin) == 1) {
		inet_ntop(AF_INET6, bin, out, (socklen_t)len);
		return AF_INET6;
	}
	return 0;
}

static int parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;

	if (!*s || strlen(s) > 5)
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

/* The worker of config_parse_hostport, with a reason for errors. */
static const char *hostport_parse(const char *s, uint16_t defport, char **host,
				  uint16_t *port)
{
	char addr[INET6_ADDRSTRLEN + 8], canon[INET6_ADDRSTRLEN];
	const char *portstr = NULL;
	int family = 0;
	size_t n;

	if (!s || !*s)
		return "empty portal (use \"ADDRESS:PORT\", e.g. "
		       "\"0.0.0.0:3260\")";
	n = strlen(s);
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb)
			return "missing ']' after an IPv6 address";
		if ((size_t)(rb - s - 1) >= sizeof(addr))
			return "address too long";
		memcpy(addr, s + 1, (size_t)(rb - s - 1));
		addr[rb - s - 1] = '\0';
		if (rb[1] == ':')
			portstr = rb + 2;
		else if (rb[1])
			return "unexpected text after ']' (use "
			       "\"[ADDRESS]:PORT\")";
		family = AF_INET6;
	} else {
		const char *colon = strchr(s, ':');

		if (n >= sizeof(addr))
			return "address too long";
		if (colon && !strchr(colon + 1, ':')) {
			memcpy(addr, s, (size_t)(colon - s));
			addr[colon - s] = '\0';
			portstr = colon + 1;
			family = AF_INET;
		} else {
			/* No colon, or a bare IPv6 address without a port. */
			memcpy(addr, s, n + 1);
		}
	}
	if (!canon_addr(addr, family, canon, sizeof(canon)))
		return family == AF_INET6 ? "not a numeric IPv6 address"
					  : "not a numeric IP address (host "
					    "names are not resolved; "
					    "use e.g. 0.0.0.0, 192.0.2.10, "
					    "[::] or [2001:db8::1])";
	*port = defport;
	if (portstr && parse_port(portstr, port) < 0)
		return "port must be a number from 1 to 65535";
	*host = strdup(canon);
	if (!*host)
		return "out of memory";
	return NULL;
}

int config_parse_hostport(const char *s, uint16_t default_port, char **host,
			  uint16_t *port)
{
	return hostport_parse(s, default_port, host, port) ? -EINVAL : 0;
}

const char *cfg_parse_hostport(const char *s, uint16_t defport,
			       struct cfg_portal *p)
{
	return hostport_parse(s, defport, &p->host, &p->port);
}

const char *cfg_parse_portal(const char *s, struct cfg_portal *p)
{
	return hostport_parse(s, DUET_DEFAULT_PORT, &p->host, &p->port);
}

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return s[n] == '\0';
}

static const char *check_iqn(const char *name, char *buf, size_t len)
{
	const char *p = name + 4;
	int month;

	/* iqn.YYYY-MM.reversed.domain[:anything] */
	if (!(isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1]) &&
	      isdigit((unsigned char)p[2]) && isdigit((unsigned char)p[3]) &&
	      p[4] == '-' && isdigit((unsigned char)p[5]) &&
	      isdigit((unsigned char)p[6]) && p[7] == '.'))
		return "an iqn name must look like "
		       "iqn.YYYY-MM.reversed.domain[:id] "
		       "(e.g. iqn.2026-11.org.example:disk0)";
	month = (p[5] - '0') * 10 + (p[6] - '0');
	if (month < 1 || month > 12)
		return "the month in iqn.YYYY-MM. must be 01 to 12";
	p += 8;
	if (!*p || *p == ':' || *p == '.')
		return "missing naming authority (the reversed domain) after "
		       "iqn.YYYY-MM.";
	for (; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (isupper(c)) {
			snprintf(buf, len,
				 "iSCSI names are lower case: found '%c'", c);
			return buf;
		}
		if (!(islower(c) || isdigit(c) || c == '-' || c == '.' ||
		      c == ':')) {
			if (isprint(c))
				snprintf(buf, len,
					 "character '%c' is not allowed in an "
					 "iSCSI name (allowed: a-z 0-9 - . :)",
					 c);
			else
				snprintf(buf, len,
					 "byte 0x%02x is not allowed in an "
					 "iSCSI name (allowed: a-z 0-9 - . :)",
					 c);
			return buf;
		}
	}
	return NULL;
}

const char *cfg_check_iscsi_name(const char *name, char *buf, size_t len)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0)
		return "empty iSCSI name";
	if (n > ISCSI_NAME_MAX - 1) {
		snprintf(buf, len,
			 "iSCSI name is %zu bytes long; at most %u allowed", n,
			 ISCSI_NAME_MAX - 1);
		return buf;
	}
	if (strncmp(name, "iqn.", 4) == 0)
		return check_iqn(name, buf, len);
	if (strncmp(name, "eui.", 4) == 0)
		return all_hex(name + 4, 16) ? NULL
					     : "an eui name is 'eui.' followed "
					       "by 16 hex digits";
	if (strncmp(name, "naa.", 4) == 0)
		return all_hex(name + 4, 16) || all_hex(name + 4, 32)
			       ? NULL
			       : "a naa name is 'naa.' followed by 16 or 32 "
				 "hex digits";
	if (strncasecmp(name, "iqn.", 4) == 0 ||
	    strncasecmp(name, "eui.", 4) == 0 ||
	    strncasecmp(name, "naa.", 4) == 0)
		return "the iqn./eui./naa. prefix must be lower case";
	return "an iSCSI name must start with iqn., eui. or naa. "
	       "(e.g. iqn.2026-11.org.example:disk0)";
}

const char *cfg_check_netmask(const char *s, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN + 8], canon[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	int family, maxbits;
	unsigned long bits = 0;

	if (alen == 0 || alen >= sizeof(addr))
		return "not an address or ADDRESS/PREFIX (e.g. 192.0.2.0/24)";
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	family = canon_addr(addr, 0, canon, sizeof(canon));
	if (!family)
		return "not a numeric address (e.g. 192.0.2.0/24 or "
		       "2001:db8::/32)";
	if (!slash)
		return NULL;
	maxbits = family == AF_INET ? 32 : 128;
	if (!slash[1] || strlen(slash + 1) > 3)
		goto bad_prefix;
	for (const char *p = slash + 1; *p; p++) {
		if (!isdigit((unsigned char)*p))
			goto bad_prefix;
		bits = bits * 10 + (unsigned long)(*p - '0');
	}
	if (bits <= (unsigned long)maxbits)
		return NULL;
bad_prefix:
	snprintf(buf, len, "prefix length must be a number from 0 to %d",
		 maxbits);
	return buf;
}

char *cfg_abs_path(const char *base_dir, const char *path, size_t len)
{
	char cwd[4096], *out = NULL;

	if (path[0] == '/')
		return strndup(path, len);
	if (!base_dir) {
		if (!getcwd(cwd, sizeof(cwd)))
			return strndup(path, len);
		base_dir = cwd;
	}
	if (asprintf(&out, "%s%s%.*s", base_dir,
		     base_dir[strlen(base_dir) - 1] == '/' ? "" : "/", (int)len,
		     path) < 0)
		return NULL;
	return out;
}

int cfg_portal_family(const struct cfg_portal *p)
{
	return strchr(p->host, ':') ? AF_INET6 : AF_INET;
}

bool cfg_portal_equal(const struct cfg_portal *a, const struct cfg_portal *b)
{
	/* Hosts are canonical (inet_ntop) so text comparison is exact. */
	return a->port == b->port && strcmp(a->host, b->host) == 0;
}

bool cfg_portal_is_wildcard(const struct cfg_portal *p)
{
	return strcmp(p->host, "0.0.0.0") == 0 || strcmp(p->host, "::") == 0;
}

static void validate_portals(struct duet_config *cfg, struct cfg_errs *e)
{
	if (cfg->n_portals == 0 && !e->portals_given)
		cfg_error(e, 0,
			  "no portals configured (add e.g. "
			  "portals = ( \"0.0.0.0:3260\" );)");
	for (size_t i = 0; i < cfg->n_portals; i++) {
		const struct cfg_portal *a = &cfg->portals[i];

		for (size_t j = 0; j < i; j++) {
			const struct cfg_portal *b = &cfg->portals[j];

			if (cfg_portal_equal(a, b)) {
				cfg_error(
					e, a->line,
					"duplicate portal %s port %u (already "
					"listed at line %d)",
					a->host, a->port, b->line);
			} else if (a->port == b->port &&
				   cfg_portal_family(a) ==
					   cfg_portal_family(b) &&
				   (cfg_portal_is_wildcard(a) ||
				    cfg_portal_is_wildcard(b))) {
				cfg_error(
					e, a->line,
					"portal %s port %u overlaps portal %s "
					"port %u (line %d): a wildcard address "
					"already listens on every address; "
					"keep only one of them",
					a->host, a->port, b->host, b->port,
					b->line);
			}
		}
	}
}

static void validate_luns(struct duet_config *cfg, size_t ti,
			  struct cfg_errs *e)
{
	struct cfg_target *t = &cfg->targets[ti];

	for (size_t j = 0; j < t->n_luns; j++) {
		struct cfg_lun *l = &t->luns[j];

		for (size_t k = 0; k < j; k++)
			if (t->luns[k].id == l->id)
				cfg_error(e, l->line,
					  "duplicate LUN id %" PRIu32
					  " in target '%s' (also at line %d)",
					  l->id, t->name, t->luns[k].line);
		if (!l->path)
			continue;
		/* The same backing file exported twice would corrupt it. */
		for (size_t ot = 0; ot <= ti; ot++) {
			struct cfg_target *o = &cfg->targets[ot];
			size_t lim = ot == ti ? j : o->n_luns;

			for (size_t k = 0; k < lim; k++)
				if (o->luns[k].path &&
				    strcmp(o->luns[k].path, l->path) == 0)
					cfg_error(
						e, l->line,
						"path '%s' is already used by "
						"LUN %" PRIu32
						" of target '%s' (line %d); "
						"each LUN needs its own "
						"file or device",
						l->path, o->luns[k].id,
						o->name ? o->name : "?",
						o->luns[k].line);
		}
	}
}

void cfg_validate_all(struct duet_config *cfg, struct cfg_errs *e)
{
	validate_portals(cfg, e);
	if (cfg->n_targets == 0 && !e->targets_given)
		cfg_error(e, 0,
			  "no targets configured (add a targets = ( { name = "
			  "...; luns = ( ... ); } ); list)");
	for (size_t i = 0; i < cfg->n_targets; i++) {
		struct cfg_target *t = &cfg->targets[i];

		for (size_t j = 0; j < i; j++)
			if (t->name && cfg->targets[j].name &&
			    strcasecmp(t->name, cfg->targets[j].name) == 0)
				cfg_error(e, t->line,
					  "duplicate target name '%s' (also at "
					  "line %d)",
					  t->name, cfg->targets[j].line);
		if (t->n_luns == 0 && t->name)
			cfg_error(e, t->line,
				  "target '%s' has no LUNs (add luns = ( { "
				  "path = \"...\"; size = \"1G\"; } );)",
				  t->name);
		validate_luns(cfg, i, e);
	}
}
