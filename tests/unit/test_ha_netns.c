// SPDX-License-Identifier: Apache-2.0
/* Path monitor and takeover addresses against the real kernel, inside
 * two network namespaces created (and removed) by this test:
 *
 *   ns A: veth VA 192.0.2.1/24  <---->  ns B: veth VB 192.0.2.2/24
 *
 * The test process moves itself into ns A; traffic stays in the pair.
 * Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_NET_RAW) and `ip`; each
 * test is skipped, with the reason, where that is not available. It lives
 * under tests/unit/ because it links libduet.a. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "duet/ha_addr.h"
#include "duet/ha_dad.h"
#include "duet/ha_path.h"
#include "duet/ha_takeover.h"
#include "duet/ha_tickle.h"

static char ns_a[32], ns_b[32], va[IFNAMSIZ], vb[IFNAMSIZ];
static bool env_ok, ns_created;
static char skip_reason[200];
static int orig_ns = -1, arp_fd = -1, ip6_fd = -1, listen_fd = -1;
static uint8_t va_mac[6];

#define SKIP_UNLESS_READY()                                          \
	do {                                                         \
		if (!env_ok) {                                       \
			print_message("SKIPPED: %s\n", skip_reason); \
			skip();                                      \
		}                                                    \
	} while (0)

__attribute__((format(printf, 1, 2))) static int run(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	strncat(cmd, " >/dev/null 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	rc = system(cmd);
	return rc == 0 ? 0 : -1;
}

/* Does the output of cmd contain needle? */
static bool output_has(const char *cmd, const char *needle)
{
	char line[512];
	bool found = false;
	FILE *p = popen(cmd, "r");

	if (!p)
		return false;
	while (fgets(line, sizeof(line), p))
		if (strstr(line, needle))
			found = true;
	pclose(p);
	return found;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int enter_ns(const char *name)
{
	char path[128];
	int fd, rc;

	snprintf(path, sizeof(path), "/var/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

static void cleanup_ns(void)
{
	if (orig_ns >= 0) {
		setns(orig_ns, CLONE_NEWNET);
		close(orig_ns);
		orig_ns = -1;
	}
	if (ns_created) {
		run("ip netns del %s", ns_a);
		run("ip netns del %s", ns_b);
		ns_created = false;
	}
}

static int bound_packet_socket(int proto, const char *ifname)
{
	struct sockaddr_ll ll = {.sll_family = AF_PACKET,
				 .sll_protocol = htons((uint16_t)proto),
				 .sll_ifindex = (int)if_nametoindex(ifname)};
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
			htons((uint16_t)proto));

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&ll, sizeof(ll)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* In ns B: capture sockets and a TCP listener used as a witness. */
static int setup_in_b(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(3260)};
	int one = 1;

	if (enter_ns(ns_b))
		return -1;
	arp_fd = bound_packet_socket(ETH_P_ARP, vb);
	ip6_fd = bound_packet_socket(ETH_P_IPV6, vb);
	inet_pton(AF_INET, "192.0.2.2", &sa.sin_addr);
	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (arp_fd < 0 || ip6_fd < 0 || listen_fd < 0)
		return -1;
	setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(listen_fd, 16) < 0)
		return -1;
	return 0;
}

static int read_va_mac(void)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", va);
	rc = fd >= 0 && ioctl(fd, SIOCGIFHWADDR, &ifr) == 0 ? 0 : -1;
	if (!rc)
		memcpy(va_mac, ifr.ifr_hwaddr.sa_data, 6);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int build_topology(void)
{
	if (run("ip netns add %s", ns_a) || run("ip netns add %s", ns_b))
		return -1;
	ns_created = true;
	if (run("ip link add %s netns %s type veth peer name %s netns %s", va,
		ns_a, vb, ns_b) ||
	    run("ip -n %s link set lo up", ns_a) ||
	    run("ip -n %s link set lo up", ns_b) ||
	    run("ip -n %s addr add 192.0.2.1/24 dev %s", ns_a, va) ||
	    run("ip -n %s addr add 192.0.2.2/24 dev %s", ns_b, vb) ||
	    run("ip -n %s link set %s up", ns_a, va) ||
	    run("ip -n %s link set %s up", ns_b, vb))
		return -1;
	return 0;
}

static int group_setup(void **state)
{
	unsigned pid = (unsigned)getpid() % 100000;

	(void)state;
	snprintf(ns_a, sizeof(ns_a), "duet-ha-%u-a", pid);
	snprintf(ns_b, sizeof(ns_b), "duet-ha-%u-b", pid);
	snprintf(va, sizeof(va), "dha%ua", pid);
	snprintf(vb, sizeof(vb), "dha%ub", pid);
	if (geteuid() != 0) {
		snprintf(skip_reason, sizeof(skip_reason),
			 "needs root to create network namespaces");
		return 0;
	}
	if (run("ip -V")) {
		snprintf(skip_reason, sizeof(skip_reason),
			 "the `ip` command (iproute2) is not installed");
		return 0;
	}
	atexit(cleanup_ns);
	orig_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (orig_ns < 0 || build_topology()) {
		snprintf(skip_reason, sizeof(skip_reason),
			 "cannot create network namespaces / veth pair here "
			 "(container without CAP_SYS_ADMIN?)");
		cleanup_ns();
		return 0;
	}
	if (setup_in_b() || enter_ns(ns_a) || read_va_mac()) {
		snprintf(skip_reason, sizeof(skip_reason),
			 "cannot open sockets inside the namespaces: %s",
			 strerror(errno));
		cleanup_ns();
		return 0;
	}
	env_ok = true;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (arp_fd >= 0)
		close(arp_fd);
	if (ip6_fd >= 0)
		close(ip6_fd);
	if (listen_fd >= 0)
		close(listen_fd);
	cleanup_ns();
	return 0;
}

/* ---- path monitor ----------------------------------------------------- */

struct watch {
	struct event_base *base;
	int n_up, n_down, last;
	uint64_t t_last;
};

static void on_path(void *ctx, bool up)
{
	struct watch *w = ctx;

	if (up)
		w->n_up++;
	else
		w->n_down++;
	w->last = up ? HA_PATH_UP : HA_PATH_DOWN;
	w->t_last = now_ms();
	event_base_loopbreak(w->base);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/* Run the loop until the reported state is `want` or ms pass. */
static bool wait_state(struct watch *w, int want, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;
	struct event *t = evtimer_new(w->base, on_timeout, w->base);

	while (w->last != want && now_ms() < end) {
		uint64_t left = end - now_ms();
		struct timeval tv = {.tv_sec = (time_t)(left / 1000),
				     .tv_usec =
					     (suseconds_t)(left % 1000) * 1000};

		evtimer_add(t, &tv);
		event_base_dispatch(w->base);
		evtimer_del(t);
	}
	event_free(t);
	return w->last == want;
}

/* Run the loop for ms regardless. */
static void spin(struct watch *w, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;

	while (now_ms() < end)
		wait_state(w, 99, (int)(end - now_ms()));
}

static struct ha_path_mon *start_mon(struct watch *w, const char *ifname,
				     uint32_t damp_ms)
{
	struct ha_path_cfg cfg = {.ifname = ifname, .damp_ms = damp_ms};
	struct ha_path_mon *m = NULL;

	memset(w, 0, sizeof(*w));
	w->last = HA_PATH_UNKNOWN;
	w->base = event_base_new();
	assert_non_null(w->base);
	assert_int_equal(ha_path_mon_create(w->base, &cfg, on_path, w, &m), 0);
	return m;
}

static void stop_mon(struct watch *w, struct ha_path_mon *m)
{
	ha_path_mon_destroy(m);
	event_base_free(w->base);
}

static void test_carrier_events(void **state)
{
	struct watch w;
	struct ha_path_mon *m;
	uint64_t t_up;

	(void)state;
	SKIP_UNLESS_READY();
	m = start_mon(&w, va, 300);
	assert_true(wait_state(&w, HA_PATH_UP, 2000)); /* initial dump */
	assert_int_equal(ha_path_mon_state(m), HA_PATH_UP);
	/* pull the cable: the peer end goes down, VA loses its carrier */
	assert_int_equal(run("ip -n %s link set %s down", ns_b, vb), 0);
	assert_true(wait_state(&w, HA_PATH_DOWN, 2000));
	assert_int_equal(ha_path_mon_carrier(m), HA_PATH_DOWN);
	assert_int_equal(run("ip -n %s link set %s up", ns_b, vb), 0);
	t_up = now_ms();
	assert_true(wait_state(&w, HA_PATH_UP, 3000));
	/* up is reported only after the damping time */
	assert_true(w.t_last - t_up >= 250);
	/* admin down of our own port counts too */
	assert_int_equal(run("ip link set %s down", va), 0);
	assert_true(wait_state(&w, HA_PATH_DOWN, 2000));
	assert_int_equal(run("ip link set %s up", va), 0);
	assert_true(wait_state(&w, HA_PATH_UP, 3000));
	assert_int_equal(w.n_up, 3);
	assert_int_equal(w.n_down, 2);
	stop_mon(&w, m);
}

static void test_flaps_are_damped(void **state)
{
	struct watch w;
	struct ha_path_mon *m;
	int i;

	(void)state;
	SKIP_UNLESS_READY();
	/* The kernel's linkwatch passes on carrier changes at most about
	 * once a second, so flap at that pace, each "up" shorter than the
	 * damping time. (The damper itself is tested with ten fast flaps
	 * in test_ha_path.) */
	m = start_mon(&w, va, 2000);
	assert_true(wait_state(&w, HA_PATH_UP, 2000));
	for (i = 0; i < 3; i++) {
		assert_int_equal(run("ip -n %s link set %s down", ns_b, vb), 0);
		spin(&w, 1100);
		assert_int_equal(ha_path_mon_carrier(m), HA_PATH_DOWN);
		assert_int_equal(run("ip -n %s link set %s up", ns_b, vb), 0);
		spin(&w, 1100);
		assert_int_equal(ha_path_mon_carrier(m), HA_PATH_UP);
	}
	/* one down, no up while flapping */
	assert_int_equal(w.n_down, 1);
	assert_int_equal(w.n_up, 1);
	assert_true(wait_state(&w, HA_PATH_UP, 3000));
	assert_int_equal(w.n_up, 2);
	stop_mon(&w, m);
}

static void test_missing_interface(void **state)
{
	struct watch w;
	struct ha_path_mon *m;

	(void)state;
	SKIP_UNLESS_READY();
	m = start_mon(&w, "duetnosuch0", 100);
	assert_true(wait_state(&w, HA_PATH_DOWN, 2000));
	stop_mon(&w, m);
}

static void test_witness_probes(void **state)
{
	struct ha_path_cfg cfg = {.ifname = va,
				  .damp_ms = 200,
				  .n_witnesses = 2,
				  .probe_interval_ms = 100,
				  .probe_timeout_ms = 150,
				  .probe_fail_max = 2};
	struct watch w;
	struct ha_path_mon *m = NULL;
	socklen_t l;

	(void)state;
	SKIP_UNLESS_READY();
	/* a listening witness and a closed port (refused = reachable) */
	assert_int_equal(
		ha_path_parse_hostport("192.0.2.2:3260", &cfg.witness[0], &l),
		0);
	assert_int_equal(
		ha_path_parse_hostport("192.0.2.2:3261", &cfg.witness[1], &l),
		0);
	memset(&w, 0, sizeof(w));
	w.last = HA_PATH_UNKNOWN;
	w.base = event_base_new();
	assert_int_equal(ha_path_mon_create(w.base, &cfg, on_path, &w, &m), 0);
	assert_true(wait_state(&w, HA_PATH_UP, 3000));
	/* witnesses vanish while the carrier stays up */
	assert_int_equal(run("ip -n %s addr del 192.0.2.2/24 dev %s", ns_b, vb),
			 0);
	assert_true(wait_state(&w, HA_PATH_DOWN, 3000));
	assert_int_equal(ha_path_mon_carrier(m), HA_PATH_UP);
	assert_int_equal(run("ip -n %s addr add 192.0.2.2/24 dev %s", ns_b, vb),
			 0);
	assert_true(wait_state(&w, HA_PATH_UP, 3000));
	stop_mon(&w, m);
}

/* ---- addresses -------------------------------------------------------- */

static void test_addr_add_del(void **state)
{
	struct ha_addr a4, a6;
	char err[HA_ADDR_ERRLEN], cmd[128];

	(void)state;
	SKIP_UNLESS_READY();
	ha_addr_parse("198.51.100.10/32", &a4);
	snprintf(cmd, sizeof(cmd), "ip -o addr show dev %s", va);
	assert_int_equal(ha_addr_present(va, &a4, err, sizeof(err)), 0);
	assert_int_equal(ha_addr_add(va, &a4, err, sizeof(err)), 0);
	assert_true(output_has(cmd, "inet 198.51.100.10/32"));
	assert_int_equal(ha_addr_present(va, &a4, err, sizeof(err)), 1);
	assert_int_equal(ha_addr_add(va, &a4, err, sizeof(err)), 0);
	assert_int_equal(ha_addr_del(va, &a4, err, sizeof(err)), 0);
	assert_false(output_has(cmd, "198.51.100.10"));
	assert_int_equal(ha_addr_del(va, &a4, err, sizeof(err)), 0);
	assert_int_equal(ha_addr_present(va, &a4, err, sizeof(err)), 0);

	ha_addr_parse("2001:db8::10/64", &a6);
	if (ha_addr_add(va, &a6, err, sizeof(err)) < 0) {
		print_message("IPv6 unavailable here (%s): v6 part skipped\n",
			      err);
		return;
	}
	assert_true(output_has(cmd, "inet6 2001:db8::10/64"));
	/* NODAD: usable at once, never tentative */
	assert_false(output_has(cmd, "tentative"));
	assert_int_equal(ha_addr_present(va, &a6, err, sizeof(err)), 1);
	assert_int_equal(ha_addr_del(va, &a6, err, sizeof(err)), 0);
	assert_false(output_has(cmd, "2001:db8::10"));
}

static void drain_fd(int fd)
{
	uint8_t buf[2048];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

/* Wait up to 1 s for a frame on fd that match() accepts. */
static bool capture(int fd, bool (*match)(const uint8_t *, size_t, void *),
		    void *arg)
{
	uint64_t end = now_ms() + 1000;
	uint8_t buf[2048];

	while (now_ms() < end) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, (int)(end - now_ms())) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0 && match(buf, (size_t)n, arg))
			return true;
	}
	return false;
}

struct arp_want {
	struct in_addr ip;
	int op;
};

/* Ethernet + ARP: broadcast, sender = target = ip, sender MAC = VA. */
static bool match_garp(const uint8_t *f, size_t n, void *arg)
{
	const struct arp_want *w = arg;
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

	if (n < 14 + 28 || memcmp(f, bcast, 6) || memcmp(f + 6, va_mac, 6))
		return false;
	f += 14;
	return f[7] == w->op && !memcmp(f + 8, va_mac, 6) &&
	       !memcmp(f + 14, &w->ip, 4) && !memcmp(f + 24, &w->ip, 4);
}

static void test_gratuitous_arp(void **state)
{
	struct ha_addr a;
	struct arp_want want;
	char err[HA_ADDR_ERRLEN], cmd[160];

	(void)state;
	SKIP_UNLESS_READY();
	ha_addr_parse("192.0.2.10/32", &a);
	want.ip = a.u.v4;
	/* the client (ns B) still believes the address is elsewhere */
	assert_int_equal(run("ip -n %s neigh replace 192.0.2.10 lladdr "
			     "02:00:00:00:00:99 dev %s nud stale",
			     ns_b, vb),
			 0);
	assert_int_equal(ha_addr_add(va, &a, err, sizeof(err)), 0);
	drain_fd(arp_fd);
	assert_int_equal(ha_addr_announce(va, &a, 2, err, sizeof(err)), 0);
	want.op = 1;
	assert_true(capture(arp_fd, match_garp, &want));
	want.op = 2;
	assert_true(capture(arp_fd, match_garp, &want));
	/* ... and now sends to us */
	snprintf(cmd, sizeof(cmd), "ip -n %s neigh show 192.0.2.10 dev %s",
		 ns_b, vb);
	{
		char mac[20];

		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x",
			 va_mac[0], va_mac[1], va_mac[2], va_mac[3], va_mac[4],
			 va_mac[5]);
		assert_true(output_has(cmd, mac));
	}
	assert_int_equal(ha_addr_del(va, &a, err, sizeof(err)), 0);
}

static bool match_na(const uint8_t *f, size_t n, void *arg)
{
	const struct in6_addr *ip = arg;
	const uint8_t *ip6 = f + 14, *icmp = f + 14 + 40;

	if (n < 14 + 40 + 32 || f[12] != 0x86 || f[13] != 0xdd)
		return false;
	if (ip6[6] != 58 || ip6[7] != 255)
		return false; /* next header ICMPv6, hop limit 255 */
	if (ip6[24] != 0xff || ip6[25] != 0x02 || ip6[39] != 1)
		return false; /* to ff02::1 */
	return icmp[0] == 136 && icmp[4] == 0x20 && !memcmp(icmp + 8, ip, 16) &&
	       icmp[24] == 2 && !memcmp(icmp + 26, va_mac, 6);
}

static void test_neighbour_advert(void **state)
{
	struct ha_addr a;
	char err[HA_ADDR_ERRLEN];

	(void)state;
	SKIP_UNLESS_READY();
	ha_addr_parse("2001:db8::20/64", &a);
	if (ha_addr_add(va, &a, err, sizeof(err)) < 0) {
		print_message("SKIPPED: IPv6 unavailable: %s\n", err);
		skip();
	}
	drain_fd(ip6_fd);
	assert_int_equal(ha_addr_announce(va, &a, 2, err, sizeof(err)), 0);
	assert_true(capture(ip6_fd, match_na, &a.u.v6));
	assert_int_equal(ha_addr_del(va, &a, err, sizeof(err)), 0);
	/* announcing an address we do not hold fails with a clear reason */
	assert_true(ha_addr_announce(va, &a, 1, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "neighbour advertisement"));
}

static int count_garps(struct in_addr ip)
{
	uint8_t buf[2048];
	struct arp_want w = {.ip = ip, .op = 1};
	int n = 0;
	ssize_t len;

	while ((len = recv(arp_fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		if (match_garp(buf, (size_t)len, &w))
			n++;
	return n;
}

static void test_addrset_claim_release(void **state)
{
	struct ha_addrset set;
	struct ha_addr a[2];
	struct watch w;
	char err[HA_ADDR_ERRLEN];

	(void)state;
	SKIP_UNLESS_READY();
	memset(&w, 0, sizeof(w));
	w.base = event_base_new();
	ha_addr_parse("192.0.2.21/32", &a[0]);
	ha_addr_parse("192.0.2.22/32", &a[1]);
	assert_int_equal(ha_addrset_init(&set, w.base, "partner b", va, a, 2),
			 0);
	drain_fd(arp_fd);
	assert_int_equal(ha_addrset_claim(&set), 0);
	assert_int_equal(ha_addr_present(va, &a[0], err, sizeof(err)), 1);
	assert_int_equal(ha_addr_present(va, &a[1], err, sizeof(err)), 1);
	spin(&w, 50);
	assert_int_equal(count_garps(a[0].u.v4), 1); /* at once */
	spin(&w, 300);
	assert_int_equal(count_garps(a[0].u.v4), 1); /* again at 200 ms */
	assert_int_equal(ha_addrset_release(&set), 0);
	assert_int_equal(ha_addr_present(va, &a[0], err, sizeof(err)), 0);
	assert_int_equal(ha_addr_present(va, &a[1], err, sizeof(err)), 0);
	/* no announcement after release (the 1 s one is cancelled) */
	spin(&w, 900);
	assert_int_equal(count_garps(a[0].u.v4), 0);
	/* releasing twice is harmless */
	assert_int_equal(ha_addrset_release(&set), 0);
	ha_addrset_destroy(&set);
	event_base_free(w.base);
	/* too many addresses / bad interface name */
	assert_int_equal(ha_addrset_init(&set, NULL, "x",
					 "an-interface-name-too-long", a, 1),
			 -EINVAL);
}

/* ---- address conflict probes against the kernel of ns B ---- */

struct dad_wait {
	struct event_base *base;
	struct ha_dad_result r;
	bool done;
};

static void on_dad(void *ctx, const struct ha_dad_result *r)
{
	struct dad_wait *w = ctx;

	w->r = *r;
	w->done = true;
	event_base_loopbreak(w->base);
}

/* One probe round for addrs on va; the verdict (bounded: 3 s). */
static enum ha_dad_verdict dad_round(const char *const *addrs, unsigned n,
				     struct ha_dad_result *out)
{
	const struct ha_dad_cfg cfg = HA_DAD_CFG_DEFAULT;
	struct ha_addr a[4];
	struct dad_wait w = {0};
	struct ha_dad *d;
	struct timeval tv = {3, 0};
	uint64_t t0 = now_ms();

	for (unsigned i = 0; i < n; i++)
		assert_int_equal(ha_addr_parse(addrs[i], &a[i]), 0);
	w.base = event_base_new();
	assert_int_equal(ha_dad_start(w.base, va, a, n, &cfg, on_dad, &w, &d),
			 0);
	assert_false(w.done); /* never from inside start */
	event_base_loopexit(w.base, &tv);
	event_base_dispatch(w.base);
	assert_true(w.done);
	/* bounded by the round (+ scheduling slack) */
	assert_true(now_ms() - t0 <= ha_dad_round_ms(&cfg) + 1000);
	ha_dad_free(d);
	event_base_free(w.base);
	*out = w.r;
	return w.r.verdict;
}

static void test_dad_probes(void **state)
{
	static const char *const v4[] = {"192.0.2.31/32", "192.0.2.32/32"};
	static const char *const v6[] = {"2001:db8::32/128"};
	struct ha_dad_result r;
	bool have6;

	(void)state;
	SKIP_UNLESS_READY();
	assert_int_equal(dad_round(v4, 2, &r), HA_DAD_FREE);
	assert_true(r.probed);
	/* ns B holds .32: its kernel answers our ARP probe */
	assert_int_equal(
		run("ip -n %s addr add 192.0.2.32/32 dev %s", ns_b, vb), 0);
	assert_int_equal(dad_round(v4, 2, &r), HA_DAD_HELD);
	assert_int_equal(r.idx, 1);
	assert_memory_not_equal(r.mac, va_mac, 6);
	assert_int_equal(
		run("ip -n %s addr del 192.0.2.32/32 dev %s", ns_b, vb), 0);
	assert_int_equal(dad_round(v4, 2, &r), HA_DAD_FREE);

	have6 = run("ip -n %s addr add 2001:db8::32/128 dev %s nodad", ns_b,
		    vb) == 0;
	if (!have6) {
		print_message("IPv6 unavailable here: DAD part skipped\n");
		return;
	}
	assert_int_equal(dad_round(v6, 1, &r), HA_DAD_HELD);
	assert_int_equal(r.idx, 0);
	assert_memory_not_equal(r.mac, va_mac, 6);
	assert_int_equal(
		run("ip -n %s addr del 2001:db8::32/128 dev %s", ns_b, vb), 0);
	assert_int_equal(dad_round(v6, 1, &r), HA_DAD_FREE);
}

static void test_dad_bad_args(void **state)
{
	const struct ha_dad_cfg cfg = HA_DAD_CFG_DEFAULT;
	struct ha_addr a;
	struct ha_dad *d;
	struct event_base *base;

	(void)state;
	SKIP_UNLESS_READY();
	base = event_base_new();
	ha_addr_parse("192.0.2.32/32", &a);
	assert_int_equal(ha_dad_start(base, "no-such-if0", &a, 1, &cfg, on_dad,
				      NULL, &d),
			 -ENODEV);
	assert_null(d);
	assert_int_equal(ha_dad_start(base, va, &a, 0, &cfg, on_dad, NULL, &d),
			 -EINVAL);
	ha_dad_free(NULL);
	event_base_free(base);
}

/* A duetd killed with SIGKILL leaves its addresses; the next start
 * removes them. One with another prefix is not ours: an error. */
static void test_addrset_leftovers(void **state)
{
	struct ha_addrset set;
	struct ha_addr a[2], other;
	struct event_base *base;
	char err[HA_ADDR_ERRLEN];

	(void)state;
	SKIP_UNLESS_READY();
	base = event_base_new();
	ha_addr_parse("192.0.2.41/32", &a[0]);
	ha_addr_parse("192.0.2.42/32", &a[1]);
	assert_int_equal(ha_addrset_init(&set, base, "own", va, a, 2), 0);
	assert_int_equal(ha_addrset_remove_leftovers(&set), 0);
	assert_int_equal(ha_addr_add(va, &a[1], err, sizeof(err)), 0);
	assert_int_equal(ha_addrset_remove_leftovers(&set), 1);
	assert_int_equal(ha_addr_present(va, &a[1], err, sizeof(err)), 0);
	ha_addr_parse("192.0.2.41/28", &other);
	assert_int_equal(ha_addr_add(va, &other, err, sizeof(err)), 0);
	assert_int_equal(ha_addrset_remove_leftovers(&set), -EEXIST);
	assert_int_equal(ha_addr_del(va, &other, err, sizeof(err)), 0);
	ha_addrset_destroy(&set);
	event_base_free(base);
}

/* ---- tickles --------------------------------------------------------- */

/* A TCP connection from a client socket in ns B to a listener in ns A
 * (we are in A), whose A side is then dropped without a word (TCP_REPAIR
 * close sends nothing): the client is ESTABLISHED towards an address
 * whose host has no socket for it, as after a takeover. */
static int orphan_client(int family, const char *a_addr, uint16_t port,
			 struct ha_tickle_conn *tc)
{
	struct sockaddr_storage ss = {0}, cl;
	struct sockaddr_in *s4 = (void *)&ss;
	struct sockaddr_in6 *s6 = (void *)&ss;
	socklen_t sl = family == AF_INET ? sizeof(*s4) : sizeof(*s6), cll;
	int lfd, cfd = -1, afd, one = 1;

	ss.ss_family = (sa_family_t)family;
	if (family == AF_INET) {
		s4->sin_port = htons(port);
		inet_pton(AF_INET, a_addr, &s4->sin_addr);
	} else {
		s6->sin6_port = htons(port);
		inet_pton(AF_INET6, a_addr, &s6->sin6_addr);
	}
	lfd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(lfd, (struct sockaddr *)&ss, sl), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(enter_ns(ns_b), 0);
	cfd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(enter_ns(ns_a), 0);
	assert_true(cfd >= 0);
	assert_int_equal(connect(cfd, (struct sockaddr *)&ss, sl), 0);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	close(lfd);
	assert_int_equal(
		setsockopt(afd, IPPROTO_TCP, TCP_REPAIR, &one, sizeof(one)), 0);
	close(afd);
	cll = sizeof(cl);
	assert_int_equal(getsockname(cfd, (struct sockaddr *)&cl, &cll), 0);
	memset(tc, 0, sizeof(*tc));
	tc->family = family;
	tc->local_port = port;
	if (family == AF_INET) {
		tc->local.v4 = s4->sin_addr;
		tc->peer.v4 = ((struct sockaddr_in *)&cl)->sin_addr;
		tc->peer_port = ntohs(((struct sockaddr_in *)&cl)->sin_port);
	} else {
		tc->local.v6 = s6->sin6_addr;
		tc->peer.v6 = ((struct sockaddr_in6 *)&cl)->sin6_addr;
		tc->peer_port = ntohs(((struct sockaddr_in6 *)&cl)->sin6_port);
	}
	return cfd;
}

static int tcp_state_of(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);

	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) ? -1
							      : ti.tcpi_state;
}

/* The client stays ESTABLISHED on its own (it has nothing to send); the
 * tickles make it answer, A resets it: TCP_CLOSE, ECONNRESET. */
static void test_tickles_reset_orphans(void **state)
{
	struct event_base *base;
	struct ha_tickler *t;
	struct ha_tickle_conn tc[2];
	struct ha_addr a6;
	char err[HA_ADDR_ERRLEN];
	int fd[2], n = 1, e = 0;
	socklen_t l = sizeof(e);
	uint64_t end;

	(void)state;
	SKIP_UNLESS_READY();
	fd[0] = orphan_client(AF_INET, "192.0.2.1", 3261, &tc[0]);
	ha_addr_parse("2001:db8::20/64", &a6);
	if (ha_addr_add(va, &a6, err, sizeof(err)) == 0 &&
	    run("ip -n %s addr add 2001:db8::2/64 dev %s nodad", ns_b, vb) ==
		    0) {
		fd[1] = orphan_client(AF_INET6, "2001:db8::20", 3261, &tc[1]);
		n = 2;
	} else {
		print_message("IPv6 unavailable: only IPv4 tickled\n");
	}
	usleep(300 * 1000);
	for (int i = 0; i < n; i++)
		assert_int_equal(tcp_state_of(fd[i]), TCP_ESTABLISHED);
	base = event_base_new();
	assert_non_null(base);
	assert_int_equal(ha_tickler_new(base, "test", &t), 0);
	assert_int_equal(ha_tickler_start(t, tc, (unsigned)n), 0);
	end = now_ms() + 1500;
	while (now_ms() < end) {
		struct timeval tv = {0, 20000};

		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
		if (tcp_state_of(fd[0]) == TCP_CLOSE &&
		    (n < 2 || tcp_state_of(fd[1]) == TCP_CLOSE))
			break;
	}
	assert_true(ha_tickler_sent(t) >= (uint64_t)n);
	for (int i = 0; i < n; i++) {
		assert_int_equal(tcp_state_of(fd[i]), TCP_CLOSE);
		getsockopt(fd[i], SOL_SOCKET, SO_ERROR, &e, &l);
		assert_int_equal(e, ECONNRESET);
		close(fd[i]);
	}
	ha_tickler_free(t);
	event_base_free(base);
	if (n == 2) {
		ha_addr_del(va, &a6, err, sizeof(err));
		run("ip -n %s addr del 2001:db8::2/64 dev %s", ns_b, vb);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_carrier_events),
		cmocka_unit_test(test_flaps_are_damped),
		cmocka_unit_test(test_missing_interface),
		cmocka_unit_test(test_witness_probes),
		cmocka_unit_test(test_addr_add_del),
		cmocka_unit_test(test_gratuitous_arp),
		cmocka_unit_test(test_neighbour_advert),
		cmocka_unit_test(test_addrset_claim_release),
		cmocka_unit_test(test_dad_probes),
		cmocka_unit_test(test_dad_bad_args),
		cmocka_unit_test(test_addrset_leftovers),
		cmocka_unit_test(test_tickles_reset_orphans),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
