// SPDX-License-Identifier: Apache-2.0
/*
 * Test-only helpers shared by the unit tests that run two interconnect
 * links in one event loop (test_ic_link.c, test_proxy.c). Static inline:
 * each test binary includes its own copy.
 */
#ifndef DUET_TESTS_IC_TEST_PAIR_H
#define DUET_TESTS_IC_TEST_PAIR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "duet/ic_link.h"

/* Monotonic clock in milliseconds, for bounding loop runs. */
static inline uint64_t ic_test_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The link settings both tests share: cluster "pair0", the given node
 * names and secret, a fixed fingerprint, 1 s handshake timeout. Timings
 * that differ per test are left 0 for the caller to set. */
static inline void ic_test_cfg(struct ic_link_cfg *c, const char *local,
			       const char *peer, const uint8_t *secret,
			       size_t secret_len)
{
	memset(c, 0, sizeof(*c));
	c->cluster = "pair0";
	c->local_node = local;
	c->peer_node = peer;
	c->secret = secret;
	c->secret_len = secret_len;
	memset(c->fingerprint, 0x42, IC_FP_LEN);
	c->handshake_timeout_ms = 1000;
}

#endif
