// SPDX-License-Identifier: Apache-2.0
/*
 * Target registry: the targets this daemon exports, their access lists
 * (initiator names and peer addresses) and the portals they are reachable
 * on. Owned by the event-loop thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "duet/iscsi.h"
#include "duet/log.h"

static struct iscsi_target **targets;
static size_t n_targets;
static const struct cfg_portal *portals;
static size_t n_portals;

int iscsi_target_register(const struct cfg_target *cfg,
			  struct scsi_dispatcher *disp)
{
	struct iscsi_target **nt, *t;

	if (!cfg || !cfg->name || !*cfg->name)
		return -EINVAL;
	if (iscsi_target_find(cfg->name))
		return -EEXIST;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	nt = realloc(targets, (n_targets + 1) * sizeof(*nt));
	if (!nt) {
		free(t);
		return -ENOMEM;
	}
	t->cfg = cfg;
	t->disp = disp;
	targets = nt;
	targets[n_targets++] = t;
	return 0;
}

/* iSCSI names compare case-insensitively (they are normalised to lower
 * case, RFC 7143 4.2.7.1 / RFC 3722). */
struct iscsi_target *iscsi_target_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < n_targets; i++)
		if (!strcasecmp(targets[i]->cfg->name, name))
			return targets[i];
	return NULL;
}

size_t iscsi_target_count(void)
{
	return n_targets;
}

struct iscsi_target *iscsi_target_at(size_t i)
{
	return i < n_targets ? targets[i] : NULL;
}

/* A numeric address as 16 bytes; IPv4 (and IPv4-mapped IPv6) become
 * ::ffff:a.b.c.d so that both forms compare equal. */
struct addr16 {
	uint8_t b[16];
	bool v4;
};

static int addr_parse(const char *s, struct addr16 *a)
{
	char buf[INET6_ADDRSTRLEN + 8];
	size_t len = strcspn(s, "%"); /* drop an IPv6 zone id */
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
					   0, 0, 0, 0, 0xff, 0xff};

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, buf, a->b + 12) == 1) {
		memcpy(a->b, mapped, 12);
		a->v4 = true;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, a->b) != 1)
		return -EINVAL;
	a->v4 = memcmp(a->b, mapped, 12) == 0;
	return 0;
}

static bool prefix_match(const uint8_t *x, const uint8_t *y, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (memcmp(x, y, full))
		return false;
	if (rest == 0)
		return true;
	return ((x[full] ^ y[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

/* Entry "addr" or "addr/prefix"; a malformed entry matches nothing. */
static bool addr_entry_matches(const char *entry, const struct addr16 *peer)
{
	char host[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(entry, '/');
	size_t hl = slash ? (size_t)(slash - entry) : strlen(entry);
	struct addr16 net;
	unsigned long bits;
	char *end;

	if (hl == 0 || hl >= sizeof(host))
		return false;
	memcpy(host, entry, hl);
	host[hl] = '\0';
	if (addr_parse(host, &net))
		return false;
	if (!slash) {
		bits = 128;
	} else {
		errno = 0;
		bits = strtoul(slash + 1, &end, 10);
		if (errno || end == slash + 1 || *end ||
		    bits > (net.v4 ? 32ul : 128ul))
			return false;
		if (net.v4)
			bits += 96;
	}
	return prefix_match(net.b, peer->b, (unsigned)bits);
}

bool iscsi_target_allows(const struct iscsi_target *t, const char *initiator,
			 const char *peer_addr)
{
	const struct cfg_target *c = t->cfg;
	bool ok;

	if (c->n_allow_initiators) {
		ok = false;
		for (size_t i = 0; initiator && i < c->n_allow_initiators; i++)
			if (!strcasecmp(c->allow_initiators[i], initiator))
				ok = true;
		if (!ok)
			return false;
	}
	if (c->n_allow_addresses) {
		struct addr16 peer;

		if (!peer_addr || addr_parse(peer_addr, &peer))
			return false;
		ok = false;
		for (size_t i = 0; i < c->n_allow_addresses; i++)
			if (addr_entry_matches(c->allow_addresses[i], &peer))
				ok = true;
		if (!ok)
			return false;
	}
	return true;
}

void iscsi_target_set_portals(const struct cfg_portal *p, size_t n)
{
	portals = p;
	n_portals = p ? n : 0;
}

size_t iscsi_portal_count(void)
{
	return n_portals;
}

const struct cfg_portal *iscsi_portal_at(size_t i)
{
	return i < n_portals ? &portals[i] : NULL;
}

void iscsi_target_registry_clear(void)
{
	for (size_t i = 0; i < n_targets; i++)
		free(targets[i]);
	free(targets);
	targets = NULL;
	n_targets = 0;
	portals = NULL;
	n_portals = 0;
}
