/* SPDX-License-Identifier: Apache-2.0 */
/* A set of portal addresses that moves as one (a node's own addresses, or
 * its partner's): claim = add every address to the client interface and
 * announce it, then announce again a few times on a libevent timer (a
 * single gratuitous ARP can be lost); release = stop announcing and
 * remove them. This is what the failover state machine's address actions
 * call (docs/failover.md). */
#ifndef DUET_HA_TAKEOVER_H
#define DUET_HA_TAKEOVER_H

#include <net/if.h>
#include <stdbool.h>

#include "duet/ha_addr.h"

#define HA_ADDRSET_MAX 16

struct event_base;
struct event;

struct ha_addrset {
	char name[32]; /* "own" / "partner b": for log lines */
	char ifname[IF_NAMESIZE];
	unsigned n;
	struct ha_addr addr[HA_ADDRSET_MAX];
	struct event *timer; /* re-announcements */
	unsigned round;
	bool claimed;
};

/* Delays after the claim at which every address is announced again. */
#define HA_ANNOUNCE_DELAYS_MS   \
	{                       \
		200, 1000, 3000 \
	}

/* s must stay where it is until ha_addrset_destroy() (its timer points
 * at it). -EINVAL for a bad interface name or more than HA_ADDRSET_MAX. */
int ha_addrset_init(struct ha_addrset *s, struct event_base *base,
		    const char *name, const char *ifname,
		    const struct ha_addr *addrs, unsigned n);
/* Add and announce every address. Tries them all; returns the first error
 * (each logged with its cause). Announcement failures are logged only. */
int ha_addrset_claim(struct ha_addrset *s);
/* Stop announcing, remove every address; the first error, all tried. */
int ha_addrset_release(struct ha_addrset *s);
void ha_addrset_destroy(struct ha_addrset *s);
/* At start, before anything is claimed: remove every address of the set
 * still on the interface (a previous process was killed and the kernel
 * kept what it had added), each logged. The number removed, or the first
 * error (all tried). */
int ha_addrset_remove_leftovers(struct ha_addrset *s);

#endif
