// SPDX-License-Identifier: Apache-2.0
/*
 * The HA pair's configuration: cross-checks over the cluster and both
 * nodes, the shared secret, which node this host is (-n, else the host
 * name), and the config fingerprint both nodes compare in their HELLO.
 * Every problem is one "file:line: what is wrong" line.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "config_int.h"
#include "duet/util.h"

static const char *node_label(const struct cfg_node *n)
{
	return n->name ? n->name : "?";
}

static bool name_ok(const char *s)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' &&
		    *s != '.')
			return false;
	return true;
}

static void check_names(struct duet_config *cfg, struct cfg_errs *e)
{
	struct cfg_node *n = cfg->nodes;

	if (cfg->cluster.name && !name_ok(cfg->cluster.name))
		cfg_error(e, cfg->cluster.line,
			  "cluster name '%s' may contain only letters, digits, "
			  "'-', '_' and '.'",
			  cfg->cluster.name);
	for (int i = 0; i < 2; i++) {
		if (!e->node_parsed[i])
			continue;
		if (!n[i].name)
			cfg_error(e, n[i].line,
				  "node has no 'name' (e.g. name = \"%s\";)",
				  i ? "b" : "a");
		else if (!name_ok(n[i].name))
			cfg_error(e, n[i].line,
				  "node name '%s' may contain only letters, "
				  "digits, '-', '_' and '.'",
				  n[i].name);
	}
	if (n[0].name && n[1].name && strcmp(n[0].name, n[1].name) == 0)
		cfg_error(e, n[1].line,
			  "duplicate node name '%s' (also at line %d); the two "
			  "nodes need distinct names",
			  n[1].name, n[0].line);
}

static void check_timings(const struct cfg_cluster *c, struct cfg_errs *e)
{
	if (c->heartbeat_timeout_ms <= 2 * c->heartbeat_interval_ms)
		cfg_error(e, c->line,
			  "cluster.heartbeat_timeout_ms (%" PRIu32
			  ") must be more than 2 x heartbeat_interval_ms "
			  "(%" PRIu32
			  "), or one late heartbeat takes the link down",
			  c->heartbeat_timeout_ms, c->heartbeat_interval_ms);
	if (c->probe_timeout_ms < c->probe_interval_ms / 10)
		cfg_error(e, c->line,
			  "cluster.probe_timeout_ms (%" PRIu32
			  ") is too short for probe_interval_ms (%" PRIu32
			  "): use at least a tenth of it",
			  c->probe_timeout_ms, c->probe_interval_ms);
}

/* Two portals listen on the same socket (equal, or a wildcard and an
 * address of the same family and port). */
static bool portal_clash(const struct cfg_portal *a, const struct cfg_portal *b)
{
	if (cfg_portal_equal(a, b))
		return true;
	return a->port == b->port &&
	       cfg_portal_family(a) == cfg_portal_family(b) &&
	       (cfg_portal_is_wildcard(a) || cfg_portal_is_wildcard(b));
}

struct plist {
	const struct cfg_portal *p;
	size_t n;
	const char *key;
};

/* Within one node: portals, proxy portals, interconnect all distinct. */
static void check_node_sockets(const struct cfg_node *n, struct cfg_errs *e)
{
	const struct plist l[] = {
		{n->portals, n->n_portals, "portals"},
		{n->proxy_portals, n->n_proxy_portals, "proxy_portals"},
		{&n->interconnect, n->interconnect.host ? 1 : 0,
		 "interconnect"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(l); i++)
		for (size_t a = 0; a < l[i].n; a++)
			for (size_t j = 0; j <= i; j++)
				for (size_t b = 0; b < (j == i ? a : l[j].n);
				     b++)
					if (portal_clash(&l[i].p[a],
							 &l[j].p[b]))
						cfg_error(
							e, l[i].p[a].line,
							"node '%s': %s entry "
							"%s port %u clashes "
							"with its %s entry %s "
							"port %u (line %d); "
							"each must be a "
							"distinct socket",
							node_label(n), l[i].key,
							l[i].p[a].host,
							l[i].p[a].port,
							l[j].key,
							l[j].p[b].host,
							l[j].p[b].port,
							l[j].p[b].line);
}

/* Across nodes: a listening address on both hosts is ambiguous (and in
 * the takeover form would be on two hosts at once). Wildcards are host-
 * local, so only exact equality counts here. */
static void check_cross_sockets(const struct duet_config *cfg,
				struct cfg_errs *e)
{
	const struct cfg_node *a = &cfg->nodes[0], *b = &cfg->nodes[1];
	const struct plist la[] = {
		{a->portals, a->n_portals, "portal"},
		{a->proxy_portals, a->n_proxy_portals, "proxy portal"},
		{&a->interconnect, a->interconnect.host ? 1 : 0,
		 "interconnect"}};
	const struct plist lb[] = {
		{b->portals, b->n_portals, "portal"},
		{b->proxy_portals, b->n_proxy_portals, "proxy portal"},
		{&b->interconnect, b->interconnect.host ? 1 : 0,
		 "interconnect"}};

	for (size_t i = 0; i < ARRAY_SIZE(lb); i++)
		for (size_t x = 0; x < lb[i].n; x++)
			for (size_t j = 0; j < ARRAY_SIZE(la); j++)
				for (size_t y = 0; y < la[j].n; y++)
					if (!cfg_portal_is_wildcard(
						    &lb[i].p[x]) &&
					    cfg_portal_equal(&lb[i].p[x],
							     &la[j].p[y]))
						cfg_error(
							e, lb[i].p[x].line,
							"%s %s port %u of node "
							"'%s' is also the %s "
							"of node '%s' (line "
							"%d); the two nodes "
							"need distinct "
							"addresses",
							lb[i].key,
							lb[i].p[x].host,
							lb[i].p[x].port,
							node_label(b),
							la[j].key,
							node_label(a),
							la[j].p[y].line);
}

/* client_address is probed by the partner: it must be a fixed address of
 * this node, never one that can move (a takeover-form portal address:
 * after a takeover the partner would reach ITSELF there and give back at
 * once) and never a wildcard. */
static void check_client_address(const struct duet_config *cfg,
				 const struct cfg_node *n, struct cfg_errs *e)
{
	const struct cfg_portal *ca = &n->client_address;

	if (!ca->host)
		return;
	if (cfg_portal_is_wildcard(ca)) {
		cfg_error(e, ca->line,
			  "node '%s': client_address %s is a wildcard: give "
			  "an address of this node the partner can probe",
			  node_label(n), ca->host);
		return;
	}
	if (cfg->cluster.proxy != CFG_PROXY_TAKEOVER)
		return;
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < cfg->nodes[k].n_portals; i++)
			if (strcmp(cfg->nodes[k].portals[i].host, ca->host) ==
			    0)
				cfg_error(e, ca->line,
					  "node '%s': client_address %s is a "
					  "portal address, which moves in the "
					  "takeover form: use the node's fixed "
					  "address on the client network",
					  node_label(n), ca->host);
}

static void check_node_form(const struct duet_config *cfg,
			    const struct cfg_node *n, struct cfg_errs *e)
{
	check_client_address(cfg, n, e);
	if (n->n_portals == 0)
		cfg_error(e, n->line,
			  "node '%s' has no portals (add e.g. portals = ( "
			  "\"198.51.100.11:3260\" );)",
			  node_label(n));
	if (cfg->cluster.proxy == CFG_PROXY_PORTAL) {
		if (n->n_proxy_portals == 0)
			cfg_error(e, n->line,
				  "node '%s' has no proxy_portals: the portal "
				  "proxy form needs at least one (where this "
				  "node serves the partner's targets), or set "
				  "cluster.proxy = \"takeover\"",
				  node_label(n));
		return;
	}
	if (n->n_proxy_portals)
		cfg_error(e, n->proxy_portals[0].line,
			  "node '%s': proxy_portals are only used by the "
			  "portal proxy form (cluster.proxy = \"takeover\" "
			  "moves the portal addresses instead); remove them",
			  node_label(n));
	if (!n->client_interface)
		cfg_error(e, n->line,
			  "node '%s' has no client_interface: the takeover "
			  "form adds the partner's portal addresses there "
			  "(e.g. client_interface = \"eth0\";)",
			  node_label(n));
	for (size_t i = 0; i < n->n_portals; i++)
		if (cfg_portal_is_wildcard(&n->portals[i]))
			cfg_error(e, n->portals[i].line,
				  "node '%s': portal %s cannot move to the "
				  "partner in the takeover form; use the "
				  "node's own client address",
				  node_label(n), n->portals[i].host);
}

static void check_interconnect(const struct cfg_node *n, struct cfg_errs *e)
{
	if (n->interconnect.host && cfg_portal_is_wildcard(&n->interconnect))
		cfg_error(e, n->interconnect.line,
			  "node '%s': interconnect %s is a wildcard; the "
			  "partner must be able to connect to it, so give "
			  "this node's own interconnect address",
			  node_label(n), n->interconnect.host);
}

/* Target names are unique across the pair (a proxy port serves the
 * partner's targets next to our own). */
static void check_cross_targets(const struct duet_config *cfg,
				struct cfg_errs *e)
{
	const struct cfg_node *a = &cfg->nodes[0], *b = &cfg->nodes[1];

	for (size_t i = 0; i < b->n_targets; i++)
		for (size_t j = 0; j < a->n_targets; j++)
			if (b->targets[i].name && a->targets[j].name &&
			    !strcasecmp(b->targets[i].name, a->targets[j].name))
				cfg_error(e, b->targets[i].line,
					  "target '%s' of node '%s' is also a "
					  "target of node '%s' (line %d); "
					  "target names must be unique across "
					  "the pair",
					  b->targets[i].name, node_label(b),
					  node_label(a), a->targets[j].line);
}

/* The single-node checks (duplicates, LUNs) on each node's lists. */
static void check_node_targets(struct duet_config *cfg, struct cfg_errs *e)
{
	for (int i = 0; i < 2; i++) {
		struct duet_config tmp = *cfg;
		bool pg = e->portals_given, tg = e->targets_given;

		tmp.portals = cfg->nodes[i].portals;
		tmp.n_portals = cfg->nodes[i].n_portals;
		tmp.targets = cfg->nodes[i].targets;
		tmp.n_targets = cfg->nodes[i].n_targets;
		/* "no portals/targets" is reported per node instead. */
		e->portals_given = e->targets_given = true;
		cfg_validate_all(&tmp, e);
		e->portals_given = pg;
		e->targets_given = tg;
	}
}

/* The secret: the whole file, leading/trailing whitespace trimmed. */
static void load_secret(struct cfg_cluster *c, struct cfg_errs *e)
{
	uint8_t buf[CFG_SECRET_MAX + 1];
	size_t len = 0, start = 0;
	struct stat st;
	ssize_t r;
	int fd;

	if (!c->secret_file)
		return;
	fd = open(c->secret_file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		cfg_error(e, e->secret_line,
			  "cluster.secret_file '%s' cannot be read: %s "
			  "(create it with: head -c 32 /dev/urandom | base64 "
			  "> %s; chmod 600 %s; and copy the same file to the "
			  "partner)",
			  c->secret_file, strerror(errno), c->secret_file,
			  c->secret_file);
		return;
	}
	while (len < sizeof(buf) &&
	       (r = read(fd, buf + len, sizeof(buf) - len)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			cfg_error(e, e->secret_line,
				  "cluster.secret_file '%s': read error: %s",
				  c->secret_file, strerror(errno));
			close(fd);
			return;
		}
		len += (size_t)r;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & 077))
		log_warn("%s: secret file %s is readable by group/others "
			 "(mode %03o); chmod 600 it",
			 e->file ? e->file : "config", c->secret_file,
			 (unsigned)(st.st_mode & 0777));
	close(fd);
	if (len > CFG_SECRET_MAX) {
		cfg_error(e, e->secret_line,
			  "cluster.secret_file '%s' is larger than %u bytes; "
			  "is it the right file?",
			  c->secret_file, CFG_SECRET_MAX);
		goto out;
	}
	while (start < len && isspace(buf[start]))
		start++;
	while (len > start && isspace(buf[len - 1]))
		len--;
	if (len - start < CFG_SECRET_MIN) {
		cfg_error(e, e->secret_line,
			  "cluster.secret_file '%s' holds %zu bytes of secret; "
			  "at least %u are needed (e.g. head -c 32 "
			  "/dev/urandom | base64 > %s)",
			  c->secret_file, len - start, CFG_SECRET_MIN,
			  c->secret_file);
		goto out;
	}
	c->secret = malloc(len - start);
	if (!c->secret) {
		cfg_error(e, e->secret_line,
			  "out of memory reading the secret");
		goto out;
	}
	memcpy(c->secret, buf + start, len - start);
	c->secret_len = len - start;
out:
	memset(buf, 0, sizeof(buf));
}

static int find_node(const struct duet_config *cfg, const char *name)
{
	for (int i = 0; i < 2; i++)
		if (cfg->nodes[i].name && !strcmp(cfg->nodes[i].name, name))
			return i;
	return -1;
}

/* -n NODE, else the host name (or its first label). */
static void select_node(struct duet_config *cfg, const char *node,
			struct cfg_errs *e)
{
	const char *a = node_label(&cfg->nodes[0]);
	const char *b = node_label(&cfg->nodes[1]);
	char host[256] = "";
	int i;

	if (node) {
		i = find_node(cfg, node);
		if (i < 0)
			cfg_error(e, 0,
				  "-n %s names no node of this pair (the nodes "
				  "are '%s' and '%s')",
				  node, a, b);
		cfg->self = i < 0 ? 0 : (unsigned)i;
		return;
	}
	if (gethostname(host, sizeof(host) - 1) < 0)
		host[0] = '\0';
	i = find_node(cfg, host);
	if (i < 0) {
		host[strcspn(host, ".")] = '\0';
		i = find_node(cfg, host);
	}
	if (i < 0)
		cfg_error(e, 0,
			  "this is a pair configuration: say which node this "
			  "host is with -n %s or -n %s (the host name '%s' "
			  "matches neither)",
			  a, b, host);
	else
		cfg->node_name = strdup(cfg->nodes[i].name);
	cfg->self = i < 0 ? 0 : (unsigned)i;
}

static void fingerprint(struct duet_config *cfg, struct cfg_errs *e)
{
	char *text = NULL;
	size_t len = 0;

	if (cfg_pair_render(cfg, &text, &len) < 0 ||
	    !EVP_Digest(text, len, cfg->cluster.fingerprint, NULL, EVP_sha256(),
			NULL))
		cfg_error(e, 0, "cannot compute the config fingerprint");
	free(text);
}

void cfg_pair_finish(struct duet_config *cfg, const char *node,
		     struct cfg_errs *e)
{
	if (!e->node_parsed[0] || !e->node_parsed[1])
		return; /* reported: 'nodes' missing or malformed */
	check_names(cfg, e);
	check_timings(&cfg->cluster, e);
	for (int i = 0; i < 2; i++) {
		check_interconnect(&cfg->nodes[i], e);
		check_node_form(cfg, &cfg->nodes[i], e);
		check_node_sockets(&cfg->nodes[i], e);
	}
	check_cross_sockets(cfg, e);
	check_cross_targets(cfg, e);
	check_node_targets(cfg, e);
	load_secret(&cfg->cluster, e);
	if (cfg->nodes[0].name && cfg->nodes[1].name)
		select_node(cfg, node, e);
	cfg->portals = cfg->nodes[cfg->self].portals;
	cfg->n_portals = cfg->nodes[cfg->self].n_portals;
	cfg->targets = cfg->nodes[cfg->self].targets;
	cfg->n_targets = cfg->nodes[cfg->self].n_targets;
	fingerprint(cfg, e);
}

/* ---- canonical rendering ---- */

/* key=LEN:VALUE\n, so that no value can forge another line. */
static void put_s(FILE *f, const char *key, const char *v)
{
	v = v ? v : "";
	fprintf(f, "%s=%zu:%s\n", key, strlen(v), v);
}

static void put_portals(FILE *f, const char *key, const struct cfg_portal *p,
			size_t n)
{
	fprintf(f, "%s.count=%zu\n", key, n);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s=%s/%u\n", key, p[i].host, p[i].port);
}

static void put_strv(FILE *f, const char *key, char **v, size_t n)
{
	fprintf(f, "%s.count=%zu\n", key, n);
	for (size_t i = 0; i < n; i++)
		put_s(f, key, v[i]);
}

static void put_target(FILE *f, const struct cfg_target *t)
{
	put_s(f, "target", t->name);
	put_s(f, "alias", t->alias);
	fprintf(f, "tpgt=%u\n", t->tpgt);
	put_strv(f, "allow_initiator", t->allow_initiators,
		 t->n_allow_initiators);
	put_strv(f, "allow_address", t->allow_addresses, t->n_allow_addresses);
	fprintf(f, "luns=%zu\n", t->n_luns);
	for (size_t i = 0; i < t->n_luns; i++) {
		const struct cfg_lun *l = &t->luns[i];

		fprintf(f,
			"lun=%" PRIu32 " size=%" PRIu64 " bs=%" PRIu32
			" ro=%d wb=%d\n",
			l->id, l->size, l->block_size, l->readonly,
			l->write_back);
		put_s(f, "path", l->path);
		put_s(f, "serial", l->serial);
		put_s(f, "vendor", l->vendor);
		put_s(f, "product", l->product);
	}
}

static void put_node(FILE *f, const struct cfg_node *n)
{
	put_s(f, "node", n->name);
	fprintf(f, "interconnect=%s/%u\n",
		n->interconnect.host ? n->interconnect.host : "",
		n->interconnect.port);
	put_s(f, "client_interface", n->client_interface);
	put_portals(f, "portal", n->portals, n->n_portals);
	put_portals(f, "proxy_portal", n->proxy_portals, n->n_proxy_portals);
	put_portals(f, "witness", n->witnesses, n->n_witnesses);
	if (n->client_address.host)
		put_portals(f, "client_address", &n->client_address, 1);
	fprintf(f, "targets=%zu\n", n->n_targets);
	for (size_t i = 0; i < n->n_targets; i++)
		put_target(f, &n->targets[i]);
}

int cfg_pair_render(const struct duet_config *cfg, char **out, size_t *len)
{
	const struct cfg_cluster *c = &cfg->cluster;
	const struct cfg_node *n = cfg->nodes;
	/* Node order: by name, so that it does not depend on the file. */
	int first = n[0].name && n[1].name && strcmp(n[0].name, n[1].name) > 0;
	FILE *f = open_memstream(out, len);

	if (!f)
		return -ENOMEM;
	fprintf(f, "duet-pair-config 1\n");
	put_s(f, "cluster", c->name);
	fprintf(f, "proxy=%s\n",
		c->proxy == CFG_PROXY_TAKEOVER ? "takeover" : "portal");
	fprintf(f,
		"heartbeat_interval_ms=%" PRIu32
		"\nheartbeat_timeout_ms=%" PRIu32 "\ndamp_ms=%" PRIu32
		"\nprobe_interval_ms=%" PRIu32 "\nprobe_timeout_ms=%" PRIu32
		"\nic_hold_ms=%" PRIu32 "\n",
		c->heartbeat_interval_ms, c->heartbeat_timeout_ms, c->damp_ms,
		c->probe_interval_ms, c->probe_timeout_ms, c->ic_hold_ms);
	put_node(f, &n[first]);
	put_node(f, &n[1 - first]);
	if (fclose(f) != 0) {
		free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

const struct cfg_node *config_self(const struct duet_config *cfg)
{
	return cfg->has_cluster ? &cfg->nodes[cfg->self] : NULL;
}

const struct cfg_node *config_partner(const struct duet_config *cfg)
{
	return cfg->has_cluster ? &cfg->nodes[1 - cfg->self] : NULL;
}

void config_fingerprint_hex(const struct duet_config *cfg, char out[65])
{
	for (int i = 0; i < CFG_FINGERPRINT_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", cfg->cluster.fingerprint[i]);
}
