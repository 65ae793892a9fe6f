/* SPDX-License-Identifier: Apache-2.0 */
/* Tickles after a takeover (as CTDB does): for every TCP connection the
 * old holder of a portal address had with a client, send the client a bare
 * ACK from (portal address:port) with sequence numbers out of its window.
 * The client's TCP answers with an ACK carrying its real numbers; that
 * reaches this node (the address is here now), which has no such socket
 * and answers RST: the initiator reconnects at once instead of waiting
 * for its own timers (NOP-Out interval, retransmission of nothing).
 *
 * Each tickle goes out HA_TICKLE_ROUNDS times (the client answers an
 * out-of-window segment at most once per tcp_invalid_ratelimit, 500 ms by
 * default). Sending is non-blocking and bounded (HA_TICKLE_MAX
 * connections); failures are logged, never fatal. */
#ifndef DUET_HA_TICKLE_H
#define DUET_HA_TICKLE_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#define HA_TICKLE_MAX 1024
/* Delays after the start at which every tickle is sent. */
#define HA_TICKLE_DELAYS_MS \
	{                   \
		0, 300, 800 \
	}
#define HA_TICKLE_WINDOW 1234

/* One client connection: local = the portal address (the source of the
 * tickle), peer = the client. Ports in host order. */
struct ha_tickle_conn {
	int family; /* AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} local, peer;
	uint16_t local_port, peer_port;
};

/* Packet builders (pure, unit-tested). Return the length written, or
 * -ENOSPC / -EINVAL. IPv4: the 20-byte IP header (DF, TTL 64, protocol
 * TCP, header checksum) and the 20-byte TCP header; IPv6: the 20-byte TCP
 * header only (the kernel adds the IPv6 header), its checksum over the
 * IPv6 pseudo-header. Flags ACK, window HA_TICKLE_WINDOW. */
#define HA_TICKLE_V4_LEN 40
#define HA_TICKLE_V6_LEN 20
int ha_tickle_build_v4(uint8_t *buf, size_t len, const struct ha_tickle_conn *c,
		       uint32_t seq, uint32_t ack, uint16_t ip_id);
int ha_tickle_build_v6(uint8_t *buf, size_t len, const struct ha_tickle_conn *c,
		       uint32_t seq, uint32_t ack);

struct event_base;
struct ha_tickler;

/* name: the address set's name, for the log lines ("partner b"). */
int ha_tickler_new(struct event_base *base, const char *name,
		   struct ha_tickler **out);
void ha_tickler_free(struct ha_tickler *t);
/* Tickle the n connections (copied; at most HA_TICKLE_MAX, the rest are
 * dropped with a warning) in HA_TICKLE_ROUNDS rounds, the first from the
 * event loop at once. A start while rounds are running replaces them.
 * 0 or -errno (no raw socket: logged once per start). */
int ha_tickler_start(struct ha_tickler *t, const struct ha_tickle_conn *c,
		     unsigned n);
/* Stop the remaining rounds (the addresses were released). */
void ha_tickler_stop(struct ha_tickler *t);
/* Packets sent so far, for tests and `pair`. */
uint64_t ha_tickler_sent(const struct ha_tickler *t);

#endif
