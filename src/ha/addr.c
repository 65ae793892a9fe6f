// SPDX-License-Identifier: Apache-2.0
/* Takeover addresses: rtnetlink add/remove, gratuitous ARP, unsolicited
 * neighbour advertisement. See include/duet/ha_addr.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/icmp6.h>
#include <netpacket/packet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "duet/ha_addr.h"
#include "duet/util.h"

/* NLMSG_OK without the signed/unsigned comparison. */
static bool nl_ok(const struct nlmsghdr *nh, int len)
{
	return len >= (int)sizeof(*nh) && nh->nlmsg_len >= sizeof(*nh) &&
	       nh->nlmsg_len <= (unsigned)len;
}

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t n,
							  const char *fmt, ...)
{
	va_list ap;

	if (!err || !n)
		return;
	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
}

static const char *hint(int e)
{
	switch (e) {
	case EPERM:
	case EACCES:
		return ": needs CAP_NET_ADMIN/CAP_NET_RAW (run duetd as root)";
	case ENODEV:
		return ": no such interface, check client_interface";
	case EADDRNOTAVAIL:
		return ": address not on the interface";
	case ETIMEDOUT:
	case EAGAIN:
		return ": the kernel did not answer within 1 s";
	default:
		return "";
	}
}

int ha_addr_parse(const char *s, struct ha_addr *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash;
	size_t hl;
	unsigned max;

	if (!s)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	slash = strchr(s, '/');
	hl = slash ? (size_t)(slash - s) : strlen(s);
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, &out->u.v4) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, &out->u.v6) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		return -EINVAL;
	}
	out->prefix = (uint8_t)max;
	if (slash) {
		char *end;
		unsigned long p;

		if (slash[1] < '0' || slash[1] > '9')
			return -EINVAL;
		errno = 0;
		p = strtoul(slash + 1, &end, 10);
		if (errno || *end || p > max || p == 0)
			return -EINVAL;
		out->prefix = (uint8_t)p;
	}
	return 0;
}

void ha_addr_format(const struct ha_addr *a, char *buf, size_t n)
{
	char h[INET6_ADDRSTRLEN] = "?";

	inet_ntop(a->family, &a->u, h, sizeof(h));
	snprintf(buf, n, "%s/%u", h, a->prefix);
}

/* ---- packet builders -------------------------------------------------- */

int ha_addr_build_arp(uint8_t *buf, size_t len, uint16_t op,
		      const uint8_t sha[6], struct in_addr sip,
		      const uint8_t tha[6], struct in_addr tip)
{
	if (len < HA_ARP_LEN)
		return -ENOSPC;
	put_be16(buf, ARPHRD_ETHER);
	put_be16(buf + 2, ETH_P_IP);
	buf[4] = 6;
	buf[5] = 4;
	put_be16(buf + 6, op);
	memcpy(buf + 8, sha, 6);
	memcpy(buf + 14, &sip, 4); /* network order already */
	memcpy(buf + 18, tha, 6);
	memcpy(buf + 24, &tip, 4);
	return HA_ARP_LEN;
}

int ha_addr_build_garp(uint8_t *buf, size_t len, const uint8_t mac[6],
		       struct in_addr ip, bool reply)
{
	static const uint8_t zero[6],
		bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

	/* target MAC: zero in a request, broadcast in a reply */
	return ha_addr_build_arp(buf, len, reply ? ARPOP_REPLY : ARPOP_REQUEST,
				 mac, ip, reply ? bcast : zero, ip);
}

int ha_addr_build_na(uint8_t *buf, size_t len, const uint8_t mac[6],
		     const struct in6_addr *ip)
{
	if (len < HA_NA_LEN)
		return -ENOSPC;
	memset(buf, 0, HA_NA_LEN);
	buf[0] = ND_NEIGHBOR_ADVERT; /* 136 */
	buf[1] = 0;		     /* code; checksum by the kernel */
	buf[4] = 0x20;		     /* O(verride); not R, not S */
	memcpy(buf + 8, ip, 16);
	buf[24] = ND_OPT_TARGET_LINKADDR; /* 2 */
	buf[25] = 1;			  /* 8 octets */
	memcpy(buf + 26, mac, 6);
	return HA_NA_LEN;
}

static size_t put_attr(uint8_t *buf, size_t off, uint16_t type,
		       const void *data, size_t dlen)
{
	struct rtattr rta = {.rta_len = (unsigned short)RTA_LENGTH(dlen),
			     .rta_type = type};

	memcpy(buf + off, &rta, sizeof(rta));
	memcpy(buf + off + RTA_LENGTH(0), data, dlen);
	memset(buf + off + RTA_LENGTH(dlen), 0,
	       RTA_SPACE(dlen) - RTA_LENGTH(dlen));
	return off + RTA_SPACE(dlen);
}

int ha_addr_build_nlmsg(uint8_t *buf, size_t len, int type, int ifindex,
			const struct ha_addr *a, uint32_t seq)
{
	struct nlmsghdr nh = {0};
	struct ifaddrmsg ifa = {0};
	size_t alen = a->family == AF_INET6 ? 16 : 4, off;
	uint32_t flags = a->family == AF_INET6 ? IFA_F_NODAD : 0;
	size_t need = NLMSG_SPACE(sizeof(ifa)) + 2 * RTA_SPACE(16) +
		      RTA_SPACE(sizeof(flags));

	if (len < need)
		return -ENOSPC;
	if (a->family != AF_INET && a->family != AF_INET6)
		return -EAFNOSUPPORT;
	memset(buf, 0, need);
	ifa.ifa_family = (unsigned char)a->family;
	ifa.ifa_prefixlen = a->prefix;
	ifa.ifa_flags = (unsigned char)flags;
	ifa.ifa_scope = RT_SCOPE_UNIVERSE;
	ifa.ifa_index = (unsigned)ifindex;
	memcpy(buf + NLMSG_HDRLEN, &ifa, sizeof(ifa));
	off = NLMSG_SPACE(sizeof(ifa));
	off = put_attr(buf, off, IFA_LOCAL, &a->u, alen);
	off = put_attr(buf, off, IFA_ADDRESS, &a->u, alen);
	off = put_attr(buf, off, IFA_FLAGS, &flags, sizeof(flags));
	nh.nlmsg_len = (uint32_t)off;
	nh.nlmsg_type = (uint16_t)type;
	nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	if (type == RTM_NEWADDR)
		nh.nlmsg_flags |= NLM_F_CREATE | NLM_F_REPLACE;
	nh.nlmsg_seq = seq;
	memcpy(buf, &nh, sizeof(nh));
	return (int)off;
}

/* ---- rtnetlink round trip -------------------------------------------- */

static int nl_socket(void)
{
	struct timeval tv = {.tv_sec = 1};
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

/* Send one request and wait for its ACK; 0 or the kernel's -errno. */
static int nl_transact(const uint8_t *req, size_t len, uint32_t seq)
{
	static uint8_t buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	int fd = nl_socket(), rc = -ETIMEDOUT, rounds;

	if (fd < 0)
		return fd;
	if (sendto(fd, req, len, 0, (struct sockaddr *)&kernel,
		   sizeof(kernel)) < 0) {
		rc = -errno;
		goto out;
	}
	for (rounds = 0; rounds < 16; rounds++) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		const struct nlmsghdr *nh = (const void *)buf;
		int left = (int)n;

		if (n < 0) {
			rc = errno == EAGAIN ? -ETIMEDOUT : -errno;
			break;
		}
		for (; nl_ok(nh, left); nh = NLMSG_NEXT(nh, left)) {
			const struct nlmsgerr *e = NLMSG_DATA(nh);

			if (nh->nlmsg_seq != seq ||
			    nh->nlmsg_type != NLMSG_ERROR)
				continue;
			if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
				rc = -EPROTO;
			else
				rc = e->error;
			goto out;
		}
	}
out:
	close(fd);
	return rc;
}

static int addr_op(int type, const char *ifname, const struct ha_addr *a,
		   char *err, size_t errlen)
{
	static uint32_t seq;
	uint8_t req[256] __attribute__((aligned(NLMSG_ALIGNTO)));
	char as[HA_ADDR_STRLEN];
	unsigned idx = if_nametoindex(ifname);
	int len, rc;

	ha_addr_format(a, as, sizeof(as));
	if (!idx) {
		rc = -ENODEV;
		goto fail;
	}
	len = ha_addr_build_nlmsg(req, sizeof(req), type, (int)idx, a, ++seq);
	if (len < 0) {
		rc = len;
		goto fail;
	}
	rc = nl_transact(req, (size_t)len, seq);
	if (type == RTM_DELADDR && rc == -EADDRNOTAVAIL)
		rc = 0; /* already gone */
	if (rc == 0)
		return 0;
fail:
	set_err(err, errlen, "%s %s %s %s: %s%s",
		type == RTM_NEWADDR ? "add" : "remove", as,
		type == RTM_NEWADDR ? "to" : "from", ifname, strerror(-rc),
		hint(-rc));
	return rc;
}

int ha_addr_add(const char *ifname, const struct ha_addr *a, char *err,
		size_t errlen)
{
	return addr_op(RTM_NEWADDR, ifname, a, err, errlen);
}

int ha_addr_del(const char *ifname, const struct ha_addr *a, char *err,
		size_t errlen)
{
	return addr_op(RTM_DELADDR, ifname, a, err, errlen);
}

/* ---- presence check (RTM_GETADDR dump) -------------------------------- */

static bool ifa_matches(const struct nlmsghdr *nh, unsigned idx,
			const struct ha_addr *a)
{
	const struct ifaddrmsg *ifa = NLMSG_DATA(nh);
	const struct rtattr *rta;
	size_t alen = a->family == AF_INET6 ? 16 : 4;
	int left;

	if (nh->nlmsg_type != RTM_NEWADDR ||
	    nh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifa)) ||
	    ifa->ifa_index != idx || ifa->ifa_family != a->family)
		return false;
	rta = IFA_RTA(ifa);
	left = (int)IFA_PAYLOAD(nh);
	for (; RTA_OK(rta, left); rta = RTA_NEXT(rta, left)) {
		if ((rta->rta_type == IFA_LOCAL ||
		     rta->rta_type == IFA_ADDRESS) &&
		    RTA_PAYLOAD(rta) == alen &&
		    memcmp(RTA_DATA(rta), &a->u, alen) == 0)
			return true;
	}
	return false;
}

static int dump_find(int fd, unsigned idx, const struct ha_addr *a,
		     uint32_t seq)
{
	static uint8_t buf[32768] __attribute__((aligned(NLMSG_ALIGNTO)));
	int rounds, found = 0;

	for (rounds = 0; rounds < 4096; rounds++) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		const struct nlmsghdr *nh = (const void *)buf;
		int left = (int)n;

		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		for (; nl_ok(nh, left); nh = NLMSG_NEXT(nh, left)) {
			if (nh->nlmsg_seq != seq)
				continue;
			if (nh->nlmsg_type == NLMSG_DONE)
				return found;
			if (nh->nlmsg_type == NLMSG_ERROR)
				return -EPROTO;
			if (ifa_matches(nh, idx, a))
				found = 1;
		}
	}
	return -EOVERFLOW;
}

int ha_addr_present(const char *ifname, const struct ha_addr *a, char *err,
		    size_t errlen)
{
	struct {
		struct nlmsghdr nh;
		struct ifaddrmsg ifa;
	} req;
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	unsigned idx = if_nametoindex(ifname);
	int fd, rc;

	if (!idx) {
		set_err(err, errlen, "check %s: %s%s", ifname, strerror(ENODEV),
			hint(ENODEV));
		return -ENODEV;
	}
	fd = nl_socket();
	if (fd < 0)
		return fd;
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.ifa));
	req.nh.nlmsg_type = RTM_GETADDR;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.nh.nlmsg_seq = 1;
	req.ifa.ifa_family = (unsigned char)a->family;
	if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&kernel,
		   sizeof(kernel)) < 0)
		rc = -errno;
	else
		rc = dump_find(fd, idx, a, 1);
	close(fd);
	if (rc < 0)
		set_err(err, errlen, "list addresses of %s: %s%s", ifname,
			strerror(-rc), hint(-rc));
	return rc;
}

/* ---- announcements ---------------------------------------------------- */

int ha_addr_hwaddr(int fd, const char *ifname, uint8_t mac[6])
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	if (ifr.ifr_flags & (IFF_NOARP | IFF_LOOPBACK))
		return 1;
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		return -errno;
	if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER)
		return 1;
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	return 0;
}

int ha_addr_packet_socket(unsigned ifindex, uint16_t proto)
{
	struct sockaddr_ll ll = {.sll_family = AF_PACKET,
				 .sll_protocol = htons(proto),
				 .sll_ifindex = (int)ifindex};
	int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			htons(proto));

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&ll, sizeof(ll)) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

int ha_addr_packet_send(int fd, unsigned ifindex, uint16_t proto,
			const uint8_t dst[6], const void *pkt, size_t len)
{
	struct sockaddr_ll ll = {.sll_family = AF_PACKET,
				 .sll_protocol = htons(proto),
				 .sll_ifindex = (int)ifindex,
				 .sll_halen = 6};

	memcpy(ll.sll_addr, dst, 6);
	if (sendto(fd, pkt, len, 0, (struct sockaddr *)&ll, sizeof(ll)) < 0)
		return -errno;
	return 0;
}

const char *ha_addr_hint(int e)
{
	return hint(e);
}

static int announce_v4(const char *ifname, unsigned idx,
		       const struct ha_addr *a, unsigned count)
{
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	uint8_t mac[6], pkt[HA_ARP_LEN];
	unsigned i;
	int fd, rc, sent = 0;

	fd = ha_addr_packet_socket(idx, ETH_P_ARP);
	if (fd < 0)
		return fd;
	rc = ha_addr_hwaddr(fd, ifname, mac);
	for (i = 0; rc == 0 && i < count * 2; i++) {
		int e;

		ha_addr_build_garp(pkt, sizeof(pkt), mac, a->u.v4, i & 1);
		e = ha_addr_packet_send(fd, idx, ETH_P_ARP, bcast, pkt,
					sizeof(pkt));
		if (e < 0) {
			if (!sent)
				rc = e;
			break; /* queue full: what went out is enough */
		}
		sent++;
	}
	close(fd);
	return rc < 0 ? rc : 0;
}

static int announce_v6(const char *ifname, unsigned idx,
		       const struct ha_addr *a, unsigned count)
{
	struct sockaddr_in6 src = {.sin6_family = AF_INET6,
				   .sin6_addr = a->u.v6};
	struct sockaddr_in6 dst = {.sin6_family = AF_INET6,
				   .sin6_scope_id = idx};
	uint8_t mac[6], pkt[HA_NA_LEN];
	int fd, rc, hops = 255, ifx = (int)idx;
	unsigned i;

	fd = socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    IPPROTO_ICMPV6);
	if (fd < 0)
		return -errno;
	rc = ha_addr_hwaddr(fd, ifname, mac);
	if (rc != 0)
		goto out;
	inet_pton(AF_INET6, "ff02::1", &dst.sin6_addr);
	if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops,
		       sizeof(hops)) < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops,
		       sizeof(hops)) < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifx, sizeof(ifx)) <
		    0 ||
	    bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
		rc = -errno;
		goto out;
	}
	ha_addr_build_na(pkt, sizeof(pkt), mac, &a->u.v6);
	for (i = 0; i < count; i++) {
		if (sendto(fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&dst,
			   sizeof(dst)) < 0) {
			if (i == 0)
				rc = -errno;
			break;
		}
	}
out:
	close(fd);
	return rc < 0 ? rc : 0;
}

int ha_addr_announce(const char *ifname, const struct ha_addr *a,
		     unsigned count, char *err, size_t errlen)
{
	unsigned idx = if_nametoindex(ifname);
	char as[HA_ADDR_STRLEN];
	int rc;

	ha_addr_format(a, as, sizeof(as));
	if (!idx)
		rc = -ENODEV;
	else if (a->family == AF_INET)
		rc = announce_v4(ifname, idx, a, count ? count : 1);
	else if (a->family == AF_INET6)
		rc = announce_v6(ifname, idx, a, count ? count : 1);
	else
		rc = -EAFNOSUPPORT;
	if (rc < 0)
		set_err(err, errlen, "announce %s on %s (%s): %s%s", as, ifname,
			a->family == AF_INET6 ? "neighbour advertisement"
					      : "gratuitous ARP",
			strerror(-rc), hint(-rc));
	return rc;
}

/* ---- the Internet checksum (RFC 1071) ---- */

uint32_t ha_csum_add(uint32_t sum, const void *p, size_t len)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)b[i] << 8 | b[i + 1];
	if (len & 1)
		sum += (uint32_t)b[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

uint16_t ha_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint32_t ha_csum_pseudo6(const uint8_t src[16], const uint8_t dst[16],
			 uint32_t len, uint8_t proto)
{
	uint8_t pseudo[40] = {0};

	memcpy(pseudo, src, 16);
	memcpy(pseudo + 16, dst, 16);
	put_be32(pseudo + 32, len);
	pseudo[39] = proto;
	return ha_csum_add(0, pseudo, sizeof(pseudo));
}
