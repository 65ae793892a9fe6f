// SPDX-License-Identifier: Apache-2.0
/* Client path: damping and aggregation (pure; no I/O, time passed in). */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "duet/ha_path.h"

void ha_damper_init(struct ha_damper *d, uint32_t damp_ms, bool damp_initial)
{
	memset(d, 0, sizeof(*d));
	d->damp_ms = damp_ms;
	d->damp_initial = damp_initial;
	d->reported = HA_PATH_UNKNOWN;
	d->raw = HA_PATH_UNKNOWN;
}

enum ha_path_change ha_damper_input(struct ha_damper *d, int raw,
				    uint64_t now_ms)
{
	if (raw != HA_PATH_UP && raw != HA_PATH_DOWN)
		return HA_PATH_NO_CHANGE;
	if (raw == HA_PATH_DOWN) {
		if (d->raw == HA_PATH_UP && d->reported != HA_PATH_UP)
			d->flaps++;
		d->raw = HA_PATH_DOWN;
		if (d->reported == HA_PATH_DOWN)
			return HA_PATH_NO_CHANGE;
		d->reported = HA_PATH_DOWN;
		return HA_PATH_WENT_DOWN;
	}
	if (d->raw != HA_PATH_UP) {
		d->raw = HA_PATH_UP;
		d->up_since = now_ms;
		if (d->reported == HA_PATH_UNKNOWN && !d->damp_initial) {
			d->reported = HA_PATH_UP;
			return HA_PATH_WENT_UP;
		}
	}
	return ha_damper_tick(d, now_ms);
}

enum ha_path_change ha_damper_tick(struct ha_damper *d, uint64_t now_ms)
{
	if (d->raw != HA_PATH_UP || d->reported == HA_PATH_UP)
		return HA_PATH_NO_CHANGE;
	if (now_ms < d->up_since + d->damp_ms)
		return HA_PATH_NO_CHANGE;
	d->reported = HA_PATH_UP;
	return HA_PATH_WENT_UP;
}

uint64_t ha_damper_deadline(const struct ha_damper *d)
{
	if (d->raw != HA_PATH_UP || d->reported == HA_PATH_UP)
		return 0;
	return d->up_since + d->damp_ms;
}

int ha_path_agg_init(struct ha_path_agg *a, unsigned n_wit, unsigned fail_max)
{
	unsigned i;

	if (n_wit > HA_PATH_MAX_WITNESSES)
		return -EINVAL;
	memset(a, 0, sizeof(*a));
	a->carrier = HA_PATH_UNKNOWN;
	a->n_wit = n_wit;
	a->fail_max = fail_max ? fail_max : 1;
	for (i = 0; i < n_wit; i++)
		a->wit[i].state = HA_PATH_UNKNOWN;
	return 0;
}

void ha_path_agg_carrier(struct ha_path_agg *a, bool up)
{
	a->carrier = up ? HA_PATH_UP : HA_PATH_DOWN;
}

void ha_path_agg_witness(struct ha_path_agg *a, unsigned idx, bool ok)
{
	if (idx >= a->n_wit)
		return;
	if (ok) {
		a->wit[idx].state = HA_PATH_UP;
		a->wit[idx].fails = 0;
		return;
	}
	if (a->wit[idx].fails < UINT_MAX)
		a->wit[idx].fails++;
	if (a->wit[idx].fails >= a->fail_max)
		a->wit[idx].state = HA_PATH_DOWN;
}

int ha_path_agg_raw(const struct ha_path_agg *a)
{
	unsigned i;
	bool unknown = false;

	if (a->carrier != HA_PATH_UP)
		return a->carrier;
	if (!a->n_wit)
		return HA_PATH_UP;
	for (i = 0; i < a->n_wit; i++) {
		if (a->wit[i].state == HA_PATH_UP)
			return HA_PATH_UP;
		if (a->wit[i].state == HA_PATH_UNKNOWN)
			unknown = true;
	}
	return unknown ? HA_PATH_UNKNOWN : HA_PATH_DOWN;
}

static int parse_port(const char *p, uint16_t *port)
{
	char *end;
	unsigned long v;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(p, &end, 10);
	if (errno || *end || v == 0 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int ha_path_parse_hostport(const char *s, struct sockaddr_storage *ss,
			   socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *h = s;
	size_t hl;
	uint16_t port;

	if (!s || !*s)
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	if (*s == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -EINVAL;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(host) || parse_port(colon + 1, &port))
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (*s == '[') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			return -EINVAL;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		*len = sizeof(*a6);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			return -EINVAL;
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		*len = sizeof(*a4);
	}
	return 0;
}

bool ha_path_link_is_up(unsigned flags, int operstate)
{
	if (!(flags & IFF_UP))
		return false;
	if (!(flags & (IFF_LOWER_UP | IFF_RUNNING)))
		return false;
	/* absent, UNKNOWN (drivers without operstate) or UP */
	return operstate < 0 || operstate == IF_OPER_UNKNOWN ||
	       operstate == IF_OPER_UP;
}
