// SPDX-License-Identifier: Apache-2.0
/*
 * Takeover form: the node's own portal addresses on the client network.
 *
 *  - At start, addresses of either node still on our client interface
 *    (a previous duetd was killed: the kernel kept what it had added) are
 *    removed, so that STARTING really holds nothing.
 *  - While the machine wants it (ha_fsm_own_probe_at(): IC_DOWN_RELEASED
 *    with our path up, the partner has had its ic_hold_ms), a probe round
 *    (ha_dad.h: ARP probes / IPv6 DAD) asks the client network whether
 *    another host holds any of our addresses, every OWN_PROBE_EVERY_MS;
 *    a round that finds them free feeds own-addresses-free. A verdict
 *    that keeps them held is logged once per change, not every round.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "duet/ctl.h"
#include "duet/ha_dad.h"
#include "duet/log.h"
#include "duet/util.h"
#include "node_int.h"

#define OWN_PROBE_EVERY_MS 1000 /* pause between two probe rounds */

static void arm(struct duet_node *n, uint64_t ms)
{
	struct timeval tv = ms_to_timeval(ms);

	event_add(n->ev_dad, &tv);
}

static void set_names(const struct duet_node *n, char *buf, size_t len)
{
	const struct ha_addrset *s = &n->own_set;
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < s->n && off + HA_ADDR_STRLEN + 2 < len; i++) {
		if (i)
			off += (size_t)snprintf(buf + off, len - off, ", ");
		ha_addr_format(&s->addr[i], buf + off, len - off);
		off = strlen(buf);
	}
}

/* HELD and ERROR are logged only when the verdict (or who) changes. */
static bool changed(struct duet_node *n, const struct ha_dad_result *r)
{
	bool same = n->dad_last == (int)r->verdict;

	if (same && r->verdict == HA_DAD_HELD)
		same = n->dad_last_idx == r->idx &&
		       !memcmp(n->dad_last_mac, r->mac, 6);
	n->dad_last = (int)r->verdict;
	n->dad_last_idx = r->idx;
	memcpy(n->dad_last_mac, r->mac, 6);
	return !same;
}

static void probe_done(void *ctx, const struct ha_dad_result *r)
{
	struct duet_node *n = ctx;
	const struct ha_dad_cfg dc = HA_DAD_CFG_DEFAULT;
	char as[HA_ADDR_STRLEN], names[256];
	const uint8_t *m = r->mac;

	ha_dad_free(n->dad);
	n->dad = NULL;
	if (!ha_fsm_own_probe_at(&n->fsm) || n->stopping)
		return;		    /* the machine moved on meanwhile */
	arm(n, OWN_PROBE_EVERY_MS); /* cancelled if the machine moves on */
	if (r->verdict == HA_DAD_HELD) {
		ha_addr_format(&n->own_set.addr[r->idx], as, sizeof(as));
		if (changed(n, r))
			log_warn("pair: own portal address %s is held by "
				 "%02x:%02x:%02x:%02x:%02x:%02x on %s: not "
				 "claiming it (the partner, or another host, "
				 "still answers for it); probing again every "
				 "%u ms",
				 as, m[0], m[1], m[2], m[3], m[4], m[5],
				 n->own_set.ifname,
				 OWN_PROBE_EVERY_MS + ha_dad_round_ms(&dc));
		return;
	}
	if (r->verdict == HA_DAD_ERROR) {
		if (changed(n, r))
			log_err("pair: cannot probe for our own portal "
				"addresses: %s; not claiming them, retrying "
				"every %u ms",
				r->err, OWN_PROBE_EVERY_MS);
		return;
	}
	set_names(n, names, sizeof(names));
	log_info("pair: own portal addresses %s free on %s (%s): claiming "
		 "them",
		 names, n->own_set.ifname,
		 r->probed ? "no host answered the probes"
			   : "interface without ARP, not probed");
	n->dad_last = -1;
	node_ha_event(n, HA_EV_OWN_ADDRS_FREE, 0);
}

static void probe_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct duet_node *n = arg;
	const struct ha_dad_cfg dc = HA_DAD_CFG_DEFAULT;
	struct ha_dad_result r = {.verdict = HA_DAD_ERROR};
	int rc;

	if (n->dad || !ha_fsm_own_probe_at(&n->fsm) || n->stopping)
		return;
	rc = ha_dad_start(n->base, n->own_set.ifname, n->own_set.addr,
			  n->own_set.n, &dc, probe_done, n, &n->dad);
	if (rc == 0)
		return;
	snprintf(r.err, sizeof(r.err), "%s: %s%s", n->own_set.ifname,
		 strerror(-rc), ha_addr_hint(-rc));
	if (changed(n, &r))
		log_err("pair: cannot probe for our own portal addresses: %s; "
			"not claiming them, retrying every %u ms",
			r.err, OWN_PROBE_EVERY_MS);
	arm(n, OWN_PROBE_EVERY_MS);
}

void node_dad_show(struct ctl_reply *r, const struct duet_node *n)
{
	uint64_t at = n->ev_dad ? ha_fsm_own_probe_at(&n->fsm) : 0;
	uint64_t now = node_now_ms();
	const uint8_t *m = n->dad_last_mac;

	if (!at)
		return;
	if (at > now)
		ctl_reply_printf(r,
				 "own portal addresses: the partner may hold "
				 "them; probing in %.1f s",
				 (double)(at - now) / 1000.0);
	else if (n->dad_last == HA_DAD_HELD)
		ctl_reply_printf(r,
				 "own portal addresses: probing, held by "
				 "%02x:%02x:%02x:%02x:%02x:%02x",
				 m[0], m[1], m[2], m[3], m[4], m[5]);
	else
		ctl_reply_printf(r, "own portal addresses: probing%s",
				 n->dad_last == HA_DAD_ERROR ? " (failing)"
							     : "");
}

void node_dad_reconcile(struct duet_node *n)
{
	uint64_t at, now;

	if (!n->ev_dad)
		return;
	at = n->stopping ? 0 : ha_fsm_own_probe_at(&n->fsm);
	if (!at) {
		ha_dad_free(n->dad);
		n->dad = NULL;
		event_del(n->ev_dad);
		n->dad_last = -1;
		n->dad_waiting = false;
		return;
	}
	if (n->dad || event_pending(n->ev_dad, EV_TIMEOUT, NULL))
		return;
	now = node_now_ms();
	if (at > now && !n->dad_waiting)
		log_info("pair: own portal addresses: the partner may still "
			 "hold them; probing the client network for them in "
			 "%" PRIu64 " ms (once the partner has had ic_hold_ms "
			 "to release them)",
			 at - now);
	n->dad_waiting = true;
	arm(n, at > now ? at - now : 0);
}

int node_dad_start(struct duet_node *n)
{
	int rc, rc2;

	n->dad_last = -1;
	if (!n->takeover || !n->own_sets || !n->partner_sets)
		return 0;
	n->ev_dad = evtimer_new(n->base, probe_timer_cb, n);
	if (!n->ev_dad)
		return -ENOMEM;
	/* STARTING holds nothing: neither ours nor the partner's. */
	rc = ha_addrset_remove_leftovers(&n->own_set);
	rc2 = ha_addrset_remove_leftovers(&n->partner_set);
	return rc < 0 ? rc : rc2 < 0 ? rc2 : 0;
}

void node_dad_stop(struct duet_node *n)
{
	ha_dad_free(n->dad);
	n->dad = NULL;
	if (n->ev_dad)
		event_free(n->ev_dad);
	n->ev_dad = NULL;
}
