// SPDX-License-Identifier: Apache-2.0
/* Client path monitor: interface carrier through rtnetlink and witness
 * probes (TCP connects out of the client interface) on a libevent base.
 * The decisions live in path.c; this file only gathers the inputs. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <linux/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "duet/ha_path.h"
#include "duet/log.h"
#include "duet/util.h"

/* NLMSG_OK without the signed/unsigned comparison. */
static bool nl_ok(const struct nlmsghdr *nh, int len)
{
	return len >= (int)sizeof(*nh) && nh->nlmsg_len >= sizeof(*nh) &&
	       nh->nlmsg_len <= (unsigned)len;
}

#define NL_BUF 32768

struct probe {
	struct ha_path_mon *m;
	unsigned idx;
	int fd;
	struct event *ev;
	char name[INET6_ADDRSTRLEN + 8];
};

struct ha_path_mon {
	struct event_base *base;
	struct ha_path_cfg cfg;
	char ifname[IFNAMSIZ];
	ha_path_cb cb;
	void *ctx;
	int nl_fd;
	struct event *nl_ev;
	uint32_t seq;
	uint32_t dump_seq;
	bool dump_pending;
	bool dump_found;
	int ifindex;
	struct ha_path_agg agg;
	struct ha_damper damp;
	struct event *damp_timer;
	struct event *probe_timer;
	struct probe probes[HA_PATH_MAX_WITNESSES];
	bool bind_warned;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- decisions -------------------------------------------------------- */

static void report(struct ha_path_mon *m, enum ha_path_change ch)
{
	if (ch == HA_PATH_WENT_UP) {
		log_info("path %s: %s up (stable for %u ms)", m->ifname,
			 m->cfg.label ? m->cfg.label : "client path",
			 m->cfg.damp_ms);
		m->cb(m->ctx, true);
	} else if (ch == HA_PATH_WENT_DOWN) {
		log_warn("path %s: %s down (carrier %s%s)", m->ifname,
			 m->cfg.label ? m->cfg.label : "client path",
			 m->agg.carrier == HA_PATH_UP ? "up" : "down",
			 m->agg.carrier == HA_PATH_UP ? ", no witness reachable"
						      : "");
		m->cb(m->ctx, false);
	}
}

static void rearm_damp(struct ha_path_mon *m)
{
	uint64_t dl = ha_damper_deadline(&m->damp), now = now_ms();
	struct timeval tv;

	if (!dl) {
		evtimer_del(m->damp_timer);
		return;
	}
	tv = ms_to_timeval(dl > now ? dl - now : 0);
	evtimer_add(m->damp_timer, &tv);
}

static void apply(struct ha_path_mon *m)
{
	int raw = ha_path_agg_raw(&m->agg);

	if (raw != HA_PATH_UNKNOWN)
		report(m, ha_damper_input(&m->damp, raw, now_ms()));
	rearm_damp(m);
}

static void damp_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ha_path_mon *m = arg;

	(void)fd;
	(void)what;
	report(m, ha_damper_tick(&m->damp, now_ms()));
	rearm_damp(m);
}

static void set_carrier(struct ha_path_mon *m, bool up, const char *why)
{
	int was = m->agg.carrier;

	ha_path_agg_carrier(&m->agg, up);
	if (was != m->agg.carrier)
		log_info("path %s: carrier %s (%s)", m->ifname,
			 up ? "up" : "down", why);
	apply(m);
}

/* ---- rtnetlink -------------------------------------------------------- */

static int request_dump(struct ha_path_mon *m)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req;
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};

	if (m->dump_pending)
		return 0;
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.ifi));
	req.nh.nlmsg_type = RTM_GETLINK;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.nh.nlmsg_seq = m->dump_seq = ++m->seq;
	req.ifi.ifi_family = AF_UNSPEC;
	if (sendto(m->nl_fd, &req, req.nh.nlmsg_len, 0,
		   (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		int err = errno;

		log_err("path %s: cannot ask the kernel for link state: %s",
			m->ifname, strerror(err));
		return -err;
	}
	m->dump_pending = true;
	m->dump_found = false;
	return 0;
}

static void parse_link(const struct nlmsghdr *nh, const char **name,
		       int *operstate)
{
	const struct ifinfomsg *ifi = NLMSG_DATA(nh);
	const struct rtattr *rta = IFLA_RTA(ifi);
	int len = (int)IFLA_PAYLOAD(nh);

	*name = NULL;
	*operstate = -1;
	for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		size_t pl = RTA_PAYLOAD(rta);
		const char *p = RTA_DATA(rta);

		if (rta->rta_type == IFLA_IFNAME && pl > 0 && pl <= IFNAMSIZ &&
		    memchr(p, '\0', pl))
			*name = p;
		else if (rta->rta_type == IFLA_OPERSTATE && pl >= 1)
			*operstate = *(const unsigned char *)p;
	}
}

static void handle_link(struct ha_path_mon *m, const struct nlmsghdr *nh)
{
	const struct ifinfomsg *ifi;
	const char *name;
	int operstate;
	bool ours;
	char why[64];

	if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return;
	ifi = NLMSG_DATA(nh);
	parse_link(nh, &name, &operstate);
	ours = name ? strcmp(name, m->ifname) == 0
		    : (m->ifindex && ifi->ifi_index == m->ifindex);
	if (!ours) {
		if (m->ifindex && ifi->ifi_index == m->ifindex) {
			m->ifindex = 0; /* renamed away */
			set_carrier(m, false, "interface renamed");
		}
		return;
	}
	if (nh->nlmsg_seq && nh->nlmsg_seq == m->dump_seq)
		m->dump_found = true;
	if (nh->nlmsg_type == RTM_DELLINK) {
		m->ifindex = 0;
		set_carrier(m, false, "interface removed");
		return;
	}
	m->ifindex = ifi->ifi_index;
	snprintf(why, sizeof(why), "flags 0x%x, operstate %d", ifi->ifi_flags,
		 operstate);
	set_carrier(m, ha_path_link_is_up(ifi->ifi_flags, operstate), why);
}

static void handle_nlmsg(struct ha_path_mon *m, const struct nlmsghdr *nh)
{
	switch (nh->nlmsg_type) {
	case NLMSG_DONE:
		if (nh->nlmsg_seq != m->dump_seq)
			break;
		m->dump_pending = false;
		if (!m->dump_found) {
			log_warn("path %s: no such interface: check "
				 "client_interface; treating the path as down",
				 m->ifname);
			set_carrier(m, false, "interface not found");
		}
		break;
	case NLMSG_ERROR:
		if (nh->nlmsg_seq == m->dump_seq) {
			m->dump_pending = false;
			log_err("path %s: link dump refused by the kernel",
				m->ifname);
		}
		break;
	case RTM_NEWLINK:
	case RTM_DELLINK:
		handle_link(m, nh);
		break;
	default:
		break;
	}
}

static void nl_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ha_path_mon *m = arg;
	static char buf[NL_BUF] __attribute__((aligned(NLMSG_ALIGNTO)));
	int rounds;

	(void)what;
	for (rounds = 0; rounds < 64; rounds++) {
		struct sockaddr_nl from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0,
				     (struct sockaddr *)&from, &fl);
		const struct nlmsghdr *nh;
		int len;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				log_warn("path %s: netlink overrun, re-reading "
					 "link state",
					 m->ifname);
				m->dump_pending = false;
				request_dump(m);
				continue;
			}
			if (errno != EAGAIN)
				log_err("path %s: netlink read: %s", m->ifname,
					strerror(errno));
			return;
		}
		if (fl < sizeof(from) || from.nl_pid != 0)
			continue; /* only the kernel speaks here */
		len = (int)n;
		for (nh = (const struct nlmsghdr *)buf; nl_ok(nh, len);
		     nh = NLMSG_NEXT(nh, len))
			handle_nlmsg(m, nh);
	}
}

static int nl_open(struct ha_path_mon *m)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK,
				 .nl_groups = RTMGRP_LINK};
	int rcvbuf = 1 << 20;

	m->nl_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
			  NETLINK_ROUTE);
	if (m->nl_fd < 0)
		return -errno;
	setsockopt(m->nl_fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(m->nl_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	m->nl_ev = event_new(m->base, m->nl_fd, EV_READ | EV_PERSIST, nl_cb, m);
	if (!m->nl_ev || event_add(m->nl_ev, NULL))
		return -ENOMEM;
	return request_dump(m);
}

/* ---- witness probes --------------------------------------------------- */

static void fmt_addr(const struct sockaddr_storage *ss, char *buf, size_t n)
{
	char a[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		port = ntohs(s4->sin_port);
		snprintf(buf, n, "%s:%u", a, port);
	} else {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		port = ntohs(s6->sin6_port);
		snprintf(buf, n, "[%s]:%u", a, port);
	}
}

static void probe_result(struct probe *p, bool ok)
{
	struct ha_path_mon *m = p->m;
	int was = m->agg.wit[p->idx].state;

	if (p->ev) {
		event_free(p->ev);
		p->ev = NULL;
	}
	if (p->fd >= 0) {
		close(p->fd);
		p->fd = -1;
	}
	ha_path_agg_witness(&m->agg, p->idx, ok);
	if (was != m->agg.wit[p->idx].state)
		log_info("path %s: witness %s %s", m->ifname, p->name,
			 ok ? "reachable" : "unreachable");
	apply(m);
}

/* A refused connection still proves the network path works. */
static bool probe_ok(int err)
{
	return err == 0 || err == ECONNREFUSED;
}

static void probe_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	int err = ETIMEDOUT;
	socklen_t l = sizeof(err);

	if (!(what & EV_TIMEOUT) &&
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
		err = errno;
	probe_result(p, probe_ok(err));
}

static void probe_start(struct ha_path_mon *m, struct probe *p)
{
	const struct sockaddr_storage *ss = &m->cfg.witness[p->idx];
	socklen_t sl = ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						 : sizeof(struct sockaddr_in);
	struct timeval tv;
	int err;

	if (p->fd >= 0)
		return; /* previous probe still running */
	p->fd = socket(ss->ss_family,
		       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0) {
		log_err("path %s: witness probe socket: %s", m->ifname,
			strerror(errno));
		return;
	}
	if (setsockopt(p->fd, SOL_SOCKET, SO_BINDTODEVICE, m->ifname,
		       (socklen_t)strlen(m->ifname) + 1) < 0 &&
	    !m->bind_warned) {
		m->bind_warned = true;
		log_warn("path %s: cannot bind witness probes to the client "
			 "interface (%s): they follow the routing table",
			 m->ifname, strerror(errno));
	}
	err = connect(p->fd, (const struct sockaddr *)ss, sl) == 0 ? 0 : errno;
	if (err != EINPROGRESS) {
		probe_result(p, probe_ok(err));
		return;
	}
	p->ev = event_new(m->base, p->fd, EV_WRITE, probe_cb, p);
	tv = ms_to_timeval(m->cfg.probe_timeout_ms);
	if (!p->ev || event_add(p->ev, &tv))
		probe_result(p, false);
}

static void probe_tick(evutil_socket_t fd, short what, void *arg)
{
	struct ha_path_mon *m = arg;
	unsigned i;

	(void)fd;
	(void)what;
	for (i = 0; i < m->cfg.n_witnesses; i++)
		probe_start(m, &m->probes[i]);
}

static int probes_open(struct ha_path_mon *m)
{
	struct timeval tv;
	unsigned i;

	for (i = 0; i < m->cfg.n_witnesses; i++) {
		m->probes[i].m = m;
		m->probes[i].idx = i;
		fmt_addr(&m->cfg.witness[i], m->probes[i].name,
			 sizeof(m->probes[i].name));
	}
	if (!m->cfg.n_witnesses)
		return 0;
	m->probe_timer = event_new(m->base, -1, EV_PERSIST, probe_tick, m);
	tv = ms_to_timeval(m->cfg.probe_interval_ms);
	if (!m->probe_timer || event_add(m->probe_timer, &tv))
		return -ENOMEM;
	probe_tick(-1, 0, m);
	return 0;
}

/* ---- lifecycle -------------------------------------------------------- */

static int check_cfg(const struct ha_path_cfg *cfg)
{
	unsigned i;

	if (!cfg->ifname || !*cfg->ifname || strlen(cfg->ifname) >= IFNAMSIZ) {
		log_err("path: client interface name missing or longer than "
			"%d characters",
			IFNAMSIZ - 1);
		return -EINVAL;
	}
	if (cfg->n_witnesses > HA_PATH_MAX_WITNESSES) {
		log_err("path %s: at most %d witnesses", cfg->ifname,
			HA_PATH_MAX_WITNESSES);
		return -EINVAL;
	}
	for (i = 0; i < cfg->n_witnesses; i++) {
		sa_family_t f = cfg->witness[i].ss_family;

		if (f != AF_INET && f != AF_INET6)
			return -EINVAL;
	}
	if (cfg->n_witnesses &&
	    (!cfg->probe_interval_ms || !cfg->probe_timeout_ms)) {
		log_err("path %s: witness probes need an interval and a "
			"timeout",
			cfg->ifname);
		return -EINVAL;
	}
	return 0;
}

int ha_path_mon_create(struct event_base *base, const struct ha_path_cfg *cfg,
		       ha_path_cb cb, void *ctx, struct ha_path_mon **out)
{
	struct ha_path_mon *m;
	unsigned i;
	int rc = check_cfg(cfg);

	if (rc)
		return rc;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->base = base;
	m->cfg = *cfg;
	snprintf(m->ifname, sizeof(m->ifname), "%s", cfg->ifname);
	m->cfg.ifname = m->ifname;
	m->cb = cb;
	m->ctx = ctx;
	m->nl_fd = -1;
	for (i = 0; i < HA_PATH_MAX_WITNESSES; i++)
		m->probes[i].fd = -1;
	ha_path_agg_init(&m->agg, cfg->n_witnesses, cfg->probe_fail_max);
	ha_damper_init(&m->damp, cfg->damp_ms, cfg->damp_initial);
	m->damp_timer = evtimer_new(base, damp_cb, m);
	rc = m->damp_timer ? nl_open(m) : -ENOMEM;
	if (!rc)
		rc = probes_open(m);
	if (rc) {
		log_err("path %s: cannot start the path monitor: %s", m->ifname,
			strerror(-rc));
		ha_path_mon_destroy(m);
		return rc;
	}
	*out = m;
	return 0;
}

void ha_path_mon_destroy(struct ha_path_mon *m)
{
	unsigned i;

	if (!m)
		return;
	for (i = 0; i < HA_PATH_MAX_WITNESSES; i++) {
		if (m->probes[i].ev)
			event_free(m->probes[i].ev);
		if (m->probes[i].fd >= 0)
			close(m->probes[i].fd);
	}
	if (m->probe_timer)
		event_free(m->probe_timer);
	if (m->damp_timer)
		event_free(m->damp_timer);
	if (m->nl_ev)
		event_free(m->nl_ev);
	if (m->nl_fd >= 0)
		close(m->nl_fd);
	free(m);
}

int ha_path_mon_state(const struct ha_path_mon *m)
{
	return m->damp.reported;
}

int ha_path_mon_carrier(const struct ha_path_mon *m)
{
	return m->agg.carrier;
}
