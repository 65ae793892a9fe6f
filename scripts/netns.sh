#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The pair's test topology (DESIGN.md section 6) in network namespaces:
#
#   PREFIX-client(eth0) --- PREFIX-sw(br0: p-client p-a p-b) --- PREFIX-a(cl0)
#                                              |                     | ic0
#                                              +------------ PREFIX-b(cl0) ic0
#
#   client  eth0 198.51.100.1/24
#   a       cl0  198.51.100.11/24 + 198.51.100.21/24 (portal form proxy portal)
#           ic0  192.0.2.1/24
#   b       cl0  198.51.100.12/24 + 198.51.100.22/24
#           ic0  192.0.2.2/24
#   Takeover form: the moving portal addresses 198.51.100.31 (a) and .32 (b)
#   are NOT configured here: the daemons add and announce them.
#
#   IPv6, next to the IPv4 addresses (when the kernel has IPv6), all added
#   with `nodad` so they are usable at once:
#   client  eth0 2001:db8:51::1/64
#   a       cl0  2001:db8:51::11/64 + 2001:db8:51::21/64, ic0 2001:db8:2::1/64
#   b       cl0  2001:db8:51::12/64 + 2001:db8:51::22/64, ic0 2001:db8:2::2/64
#   Takeover form: 2001:db8:51::31 (a) and ::32 (b) move like .31/.32.
#   The nodes' kernels do not announce address changes by themselves
#   (ndisc_notify stays 0): the daemons' neighbour advertisements must do it.
#
# Usage (root):
#   scripts/netns.sh up PREFIX          build it (idempotent: an existing,
#                                       complete topology of ours is kept)
#   scripts/netns.sh down PREFIX        remove it (only what we created)
#   scripts/netns.sh pull PREFIX a|b|client    take the node's bridge port down
#   scripts/netns.sh restore PREFIX a|b|client bring it back up
#   scripts/netns.sh isolate PREFIX a|b|client take the node's port out of the
#                                       bridge: it keeps carrier, but nothing
#                                       on the client network reaches it
#   scripts/netns.sh rejoin PREFIX a|b|client  put it back into the bridge
#   scripts/netns.sh cut-ic PREFIX      interconnect down (both ends)
#   scripts/netns.sh restore-ic PREFIX  interconnect up
#   scripts/netns.sh exec PREFIX NODE CMD...   = ip netns exec PREFIX-NODE CMD
#   scripts/netns.sh status PREFIX      links, carrier and addresses
#   scripts/netns.sh shape PREFIX RATE  limit the client's link to RATE
#                                       (tc rate, e.g. 10gbit) both ways, as
#                                       a physical client NIC would be;
#                                       RATE "off" removes the limit
#
# Pulling a link sets the node's port of the bridge down inside PREFIX-sw.
# A veth whose peer is down loses carrier (the kernel's veth_close turns the
# peer's carrier off), so the node sees NO-CARRIER / operstate DOWN on its
# own cl0, as with a pulled cable; its addresses and routes stay. `status`
# shows it. Interface names are fixed inside each namespace (no clashes
# between parallel runs); only namespace names carry PREFIX.
#
# Ownership: `up` writes /run/duet-netns/PREFIX listing the namespaces it
# made; `down` removes only those, and `up` refuses a PREFIX whose
# namespaces exist without that record (not ours).
set -euo pipefail

STATE_DIR=${DUET_NETNS_STATE:-/run/duet-netns}
NODES="client sw a b"

die() {
	echo "netns.sh: $*" >&2
	exit 1
}

check_prefix() {
	[[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,30}$ ]] ||
		die "bad PREFIX '$1' (letters, digits, _ . -; at most 31)"
}

ns_exists() { [ -e "/var/run/netns/$1" ]; }
nsx() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

owned() { [ -f "$STATE_DIR/$1" ]; }

require_owned() {
	owned "$1" || die "no topology '$1' made by this script (no $STATE_DIR/$1)"
}

cmd_down() {
	local p=$1 n
	if ! owned "$p"; then
		for n in $NODES; do
			if ns_exists "$p-$n"; then
				die "namespace $p-$n exists but was not made by this script; not touching it"
			fi
		done
		return 0
	fi
	# Kill what still runs inside (daemons of a failed test), then delete.
	while read -r n; do
		[ -n "$n" ] || continue
		if ns_exists "$n"; then
			local pids
			pids=$(ip netns pids "$n" 2>/dev/null || true)
			if [ -n "$pids" ]; then
				# shellcheck disable=SC2086
				kill -KILL $pids 2>/dev/null || true
			fi
			ip netns del "$n" 2>/dev/null || true
		fi
	done <"$STATE_DIR/$p"
	rm -f "$STATE_DIR/$p"
}

# veth NAME1 NS1 NAME2 NS2: a veth pair created directly in its namespaces.
veth() {
	ip link add "$1" netns "$2" type veth peer name "$3" netns "$4"
}

# The IPv6 addresses of the header, without duplicate address detection.
add_ipv6() {
	local p=$1 n
	for n in client a b; do
		nsx "$p-$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=0
		nsx "$p-$n" sysctl -qw net.ipv6.conf.default.disable_ipv6=0
	done
	nsx "$p-client" ip -6 addr add 2001:db8:51::1/64 dev eth0 nodad
	nsx "$p-a" ip -6 addr add 2001:db8:51::11/64 dev cl0 nodad
	nsx "$p-a" ip -6 addr add 2001:db8:51::21/64 dev cl0 nodad
	nsx "$p-b" ip -6 addr add 2001:db8:51::12/64 dev cl0 nodad
	nsx "$p-b" ip -6 addr add 2001:db8:51::22/64 dev cl0 nodad
	nsx "$p-a" ip -6 addr add 2001:db8:2::1/64 dev ic0 nodad
	nsx "$p-b" ip -6 addr add 2001:db8:2::2/64 dev ic0 nodad
}

complete_topology() {
	local p=$1 n
	for n in $NODES; do ns_exists "$p-$n" || return 1; done
	nsx "$p-sw" ip link show br0 >/dev/null 2>&1 &&
		nsx "$p-a" ip link show ic0 >/dev/null 2>&1 &&
		nsx "$p-b" ip link show cl0 >/dev/null 2>&1 &&
		nsx "$p-client" ip link show eth0 >/dev/null 2>&1
}

cmd_up() {
	local p=$1 n
	if owned "$p"; then
		if complete_topology "$p"; then
			return 0
		fi
		cmd_down "$p" # partial leftovers of ours: rebuild
	fi
	for n in $NODES; do
		ns_exists "$p-$n" &&
			die "namespace $p-$n exists but was not made by this script; not touching it"
	done
	mkdir -p "$STATE_DIR"
	: >"$STATE_DIR/$p"
	trap 'echo "netns.sh: up failed, cleaning up" >&2; cmd_down "$p"' ERR
	for n in $NODES; do
		ip netns add "$p-$n"
		echo "$p-$n" >>"$STATE_DIR/$p"
		nsx "$p-$n" ip link set lo up
	done
	nsx "$p-sw" ip link add br0 type bridge stp_state 0 forward_delay 0
	veth eth0 "$p-client" p-client "$p-sw"
	veth cl0 "$p-a" p-a "$p-sw"
	veth cl0 "$p-b" p-b "$p-sw"
	veth ic0 "$p-a" ic0 "$p-b"
	for n in p-client p-a p-b; do
		nsx "$p-sw" ip link set "$n" master br0
		nsx "$p-sw" ip link set "$n" up
	done
	nsx "$p-sw" ip link set br0 up
	nsx "$p-client" ip addr add 198.51.100.1/24 dev eth0
	nsx "$p-a" ip addr add 198.51.100.11/24 dev cl0
	nsx "$p-a" ip addr add 198.51.100.21/24 dev cl0
	nsx "$p-b" ip addr add 198.51.100.12/24 dev cl0
	nsx "$p-b" ip addr add 198.51.100.22/24 dev cl0
	nsx "$p-a" ip addr add 192.0.2.1/24 dev ic0
	nsx "$p-b" ip addr add 192.0.2.2/24 dev ic0
	if [ -d /proc/sys/net/ipv6 ]; then
		add_ipv6 "$p"
	fi
	# The client accepts gratuitous ARP into its neighbour table (takeover
	# form); the nodes announce address changes themselves too.
	for n in all default eth0; do
		nsx "$p-client" sysctl -qw "net.ipv4.conf.$n.arp_accept=1"
	done
	for n in a b; do
		nsx "$p-$n" sysctl -qw net.ipv4.conf.all.arp_notify=1
		nsx "$p-$n" sysctl -qw net.ipv4.conf.cl0.arp_notify=1
		# Answer ARP only for addresses on the asking interface.
		nsx "$p-$n" sysctl -qw net.ipv4.conf.all.arp_ignore=1
	done
	nsx "$p-client" ip link set eth0 up
	for n in a b; do
		nsx "$p-$n" ip link set cl0 up
		nsx "$p-$n" ip link set ic0 up
	done
	trap - ERR
}

node_port() {
	case $1 in
	a | b | client) echo "p-$1" ;;
	*) die "node must be a, b or client (got '$1')" ;;
	esac
}

cmd_link() {
	local p=$1 node=$2 state=$3
	require_owned "$p"
	nsx "$p-sw" ip link set "$(node_port "$node")" "$state"
}

cmd_isolate() {
	local p=$1 node=$2 how=$3
	require_owned "$p"
	if [ "$how" = on ]; then
		nsx "$p-sw" ip link set "$(node_port "$node")" nomaster
	else
		nsx "$p-sw" ip link set "$(node_port "$node")" master br0
	fi
	nsx "$p-sw" ip link set "$(node_port "$node")" up
}

cmd_ic() {
	local p=$1 state=$2
	require_owned "$p"
	nsx "$p-a" ip link set ic0 "$state"
	nsx "$p-b" ip link set ic0 "$state"
}

cmd_shape() {
	local p=$1 rate=$2
	require_owned "$p"
	nsx "$p-sw" tc qdisc del dev p-client root 2>/dev/null || true
	nsx "$p-client" tc qdisc del dev eth0 root 2>/dev/null || true
	[ "$rate" = off ] && return 0
	nsx "$p-sw" tc qdisc add dev p-client root tbf rate "$rate" \
		burst 4mb latency 20ms
	nsx "$p-client" tc qdisc add dev eth0 root tbf rate "$rate" \
		burst 4mb latency 20ms
}

cmd_status() {
	local p=$1 n
	require_owned "$p"
	for n in client a b; do
		echo "== $p-$n"
		nsx "$p-$n" ip -br addr show | grep -v '^lo '
	done
	echo "== $p-sw"
	nsx "$p-sw" ip -br link show
}

[ $# -ge 2 ] || {
	sed -n '3,40p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
}
[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"
CMD=$1
P=$2
check_prefix "$P"
case $CMD in
up) cmd_up "$P" ;;
down) cmd_down "$P" ;;
pull) [ $# -eq 3 ] || die "pull PREFIX NODE"; cmd_link "$P" "$3" down ;;
restore) [ $# -eq 3 ] || die "restore PREFIX NODE"; cmd_link "$P" "$3" up ;;
isolate) [ $# -eq 3 ] || die "isolate PREFIX NODE"; cmd_isolate "$P" "$3" on ;;
rejoin) [ $# -eq 3 ] || die "rejoin PREFIX NODE"; cmd_isolate "$P" "$3" off ;;
cut-ic) cmd_ic "$P" down ;;
restore-ic) cmd_ic "$P" up ;;
exec)
	[ $# -ge 4 ] || die "exec PREFIX NODE CMD..."
	require_owned "$P"
	NS="$P-$3"
	shift 3
	exec ip netns exec "$NS" "$@"
	;;
status) cmd_status "$P" ;;
shape) [ $# -eq 3 ] || die "shape PREFIX RATE|off"; cmd_shape "$P" "$3" ;;
*) die "unknown command '$CMD' (up, down, pull, restore, isolate, rejoin, cut-ic, restore-ic, exec, status, shape)" ;;
esac
