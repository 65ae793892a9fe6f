// SPDX-License-Identifier: Apache-2.0
/* Address sets that move together; see include/duet/ha_takeover.h. */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#include "duet/ha_takeover.h"
#include "duet/log.h"
#include "duet/util.h"

static const unsigned announce_delays[] = HA_ANNOUNCE_DELAYS_MS;

static void announce_all(struct ha_addrset *s)
{
	char err[HA_ADDR_ERRLEN];
	unsigned i;

	for (i = 0; i < s->n; i++)
		if (ha_addr_announce(s->ifname, &s->addr[i], 1, err,
				     sizeof(err)) < 0)
			log_warn("takeover %s: %s", s->name, err);
}

static void arm(struct ha_addrset *s)
{
	unsigned prev = s->round ? announce_delays[s->round - 1] : 0;
	unsigned ms;
	struct timeval tv;

	if (s->round >= ARRAY_SIZE(announce_delays))
		return;
	ms = announce_delays[s->round] - prev;
	tv = ms_to_timeval(ms);
	evtimer_add(s->timer, &tv);
}

static void reannounce_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ha_addrset *s = arg;

	(void)fd;
	(void)what;
	if (!s->claimed)
		return;
	announce_all(s);
	s->round++;
	arm(s);
}

int ha_addrset_init(struct ha_addrset *s, struct event_base *base,
		    const char *name, const char *ifname,
		    const struct ha_addr *addrs, unsigned n)
{
	memset(s, 0, sizeof(*s));
	if (!ifname || strlen(ifname) >= sizeof(s->ifname) ||
	    n > HA_ADDRSET_MAX)
		return -EINVAL;
	snprintf(s->name, sizeof(s->name), "%s", name ? name : "?");
	snprintf(s->ifname, sizeof(s->ifname), "%s", ifname);
	if (n)
		memcpy(s->addr, addrs, n * sizeof(*addrs));
	s->n = n;
	s->timer = evtimer_new(base, reannounce_cb, s);
	return s->timer ? 0 : -ENOMEM;
}

/* Add or remove (@op) every address of @s, logging each; carries on past
 * a failure and returns the first error, or 0. */
static int apply_all(struct ha_addrset *s,
		     int (*op)(const char *ifname, const struct ha_addr *a,
			       char *err, size_t errlen),
		     const char *done)
{
	char err[HA_ADDR_ERRLEN], as[HA_ADDR_STRLEN];
	unsigned i;
	int rc, first = 0;

	for (i = 0; i < s->n; i++) {
		rc = op(s->ifname, &s->addr[i], err, sizeof(err));
		if (rc < 0) {
			log_err("takeover %s: %s", s->name, err);
			if (!first)
				first = rc;
			continue;
		}
		ha_addr_format(&s->addr[i], as, sizeof(as));
		log_info("takeover %s: %s %s %s", s->name, as, done, s->ifname);
	}
	return first;
}

int ha_addrset_claim(struct ha_addrset *s)
{
	int first = apply_all(s, ha_addr_add, "added to");

	s->claimed = true;
	announce_all(s);
	s->round = 0;
	evtimer_del(s->timer);
	arm(s);
	return first;
}

int ha_addrset_release(struct ha_addrset *s)
{
	s->claimed = false;
	if (s->timer)
		evtimer_del(s->timer);
	return apply_all(s, ha_addr_del, "removed from");
}

static int remove_leftover(struct ha_addrset *s, const struct ha_addr *a)
{
	char err[HA_ADDR_ERRLEN], as[HA_ADDR_STRLEN];
	int rc = ha_addr_present(s->ifname, a, err, sizeof(err));

	ha_addr_format(a, as, sizeof(as));
	if (rc == 1)
		rc = ha_addr_del(s->ifname, a, err, sizeof(err));
	else if (rc == 0)
		return 0;
	if (rc == 0)
		rc = ha_addr_present(s->ifname, a, err, sizeof(err));
	if (rc == 0) {
		log_warn("takeover %s: removed leftover address %s from %s (a "
			 "previous duetd did not stop cleanly)",
			 s->name, as, s->ifname);
		return 1;
	}
	if (rc == 1) {
		rc = -EEXIST;
		snprintf(err, sizeof(err),
			 "%s is on %s with another prefix: it was not added by "
			 "duetd; remove it (portal addresses of the takeover "
			 "form move between the nodes)",
			 as, s->ifname);
	}
	log_err("takeover %s: leftover address: %s", s->name, err);
	return rc;
}

int ha_addrset_remove_leftovers(struct ha_addrset *s)
{
	unsigned i;
	int rc, removed = 0, first = 0;

	for (i = 0; i < s->n; i++) {
		rc = remove_leftover(s, &s->addr[i]);
		if (rc < 0 && !first)
			first = rc;
		else if (rc > 0)
			removed++;
	}
	return first ? first : removed;
}

void ha_addrset_destroy(struct ha_addrset *s)
{
	if (s->timer)
		event_free(s->timer);
	s->timer = NULL;
	s->claimed = false;
}
