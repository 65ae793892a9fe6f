/* SPDX-License-Identifier: Apache-2.0 */
/* The client path monitor.
 *
 * Pure part (unit-tested with fake time): the aggregator combines the
 * interface carrier with optional witness probe results into a raw path
 * state; the damper turns raw states into reported ones: down is reported
 * at once, up only after the raw state has stayed up for damp_ms.
 *
 * I/O part (path_mon.c): watches one named interface through rtnetlink
 * (RTMGRP_LINK notifications plus an initial RTM_GETLINK dump; carrier =
 * IFF_UP + IFF_LOWER_UP/IFF_RUNNING + operstate up or unknown) and probes
 * witnesses with TCP connects out of that interface, on a libevent base,
 * and calls back on every damped change. */
#ifndef DUET_HA_PATH_H
#define DUET_HA_PATH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define HA_PATH_MAX_WITNESSES 8

/* Tri-state used throughout: unknown, down, up. */
#define HA_PATH_UNKNOWN (-1)
#define HA_PATH_DOWN 0
#define HA_PATH_UP 1

enum ha_path_change {
	HA_PATH_NO_CHANGE = 0,
	HA_PATH_WENT_DOWN,
	HA_PATH_WENT_UP,
};

/* ---- pure: damping ---------------------------------------------------- */

struct ha_damper {
	uint32_t damp_ms;
	bool damp_initial; /* damp the very first "up" too */
	int reported;	   /* HA_PATH_* */
	int raw;	   /* HA_PATH_* */
	uint64_t up_since; /* when raw last went up */
	uint32_t flaps;	   /* raw up->down while reported down (stats) */
};

void ha_damper_init(struct ha_damper *d, uint32_t damp_ms, bool damp_initial);
/* Feed a raw state (HA_PATH_UP or HA_PATH_DOWN) observed at now_ms. */
enum ha_path_change ha_damper_input(struct ha_damper *d, int raw,
				    uint64_t now_ms);
/* Let time pass: reports "up" once the path has been stable long enough. */
enum ha_path_change ha_damper_tick(struct ha_damper *d, uint64_t now_ms);
/* Absolute time at which ha_damper_tick() may change something, 0 if none. */
uint64_t ha_damper_deadline(const struct ha_damper *d);

/* ---- pure: aggregation ------------------------------------------------ */

struct ha_path_agg {
	int carrier; /* HA_PATH_* */
	unsigned n_wit;
	unsigned fail_max; /* consecutive failures before a witness is down */
	struct {
		int state; /* HA_PATH_* */
		unsigned fails;
	} wit[HA_PATH_MAX_WITNESSES];
};

/* n_wit 0: path = carrier. -EINVAL if n_wit > HA_PATH_MAX_WITNESSES. */
int ha_path_agg_init(struct ha_path_agg *a, unsigned n_wit, unsigned fail_max);
void ha_path_agg_carrier(struct ha_path_agg *a, bool up);
void ha_path_agg_witness(struct ha_path_agg *a, unsigned idx, bool ok);
/* Raw path: carrier up and (no witness configured or any witness up).
 * Down as soon as the carrier is down; unknown while the carrier is
 * unknown, or while no witness is up and some are still unknown. */
int ha_path_agg_raw(const struct ha_path_agg *a);

/* "192.0.2.1:3260", "[2001:db8::1]:3260" -> address; 0 or -EINVAL. */
int ha_path_parse_hostport(const char *s, struct sockaddr_storage *ss,
			   socklen_t *len);

/* Carrier decision from RTM_NEWLINK fields (flags = ifi_flags, operstate
 * = IFLA_OPERSTATE or -1 when absent). */
bool ha_path_link_is_up(unsigned flags, int operstate);

/* ---- I/O: the monitor ------------------------------------------------- */

struct event_base;
struct ha_path_mon;

struct ha_path_cfg {
	const char *ifname; /* client interface */
	uint32_t damp_ms;   /* stable time before "up" counts (e.g. 3000) */
	bool damp_initial;
	unsigned n_witnesses;
	struct sockaddr_storage witness[HA_PATH_MAX_WITNESSES];
	uint32_t probe_interval_ms; /* e.g. 1000 */
	uint32_t probe_timeout_ms;  /* e.g. 800 */
	unsigned probe_fail_max;    /* e.g. 2 */
	/* What the reported state means, for log lines: NULL = "client
	 * path"; e.g. "partner b" for the partner reachability probe.
	 * Must outlive the monitor. */
	const char *label;
};

/* Called on every damped change (up = true/false). */
typedef void (*ha_path_cb)(void *ctx, bool up);

int ha_path_mon_create(struct event_base *base, const struct ha_path_cfg *cfg,
		       ha_path_cb cb, void *ctx, struct ha_path_mon **out);
void ha_path_mon_destroy(struct ha_path_mon *m);
/* Damped state: HA_PATH_UNKNOWN until the first report. */
int ha_path_mon_state(const struct ha_path_mon *m);
/* Raw carrier as last seen: HA_PATH_*. */
int ha_path_mon_carrier(const struct ha_path_mon *m);

#endif
