# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
# The pair in the namespace topology of scripts/netns.sh: its configuration
# and its two daemons. Shared by scripts/demo.sh and scripts/vm/run-pair.sh;
# sourced, not run. Needs BUILD; sets PIDS (the daemons' pids).
#
#   pair_conf DIR FORM LOG_LEVEL SIZE   writes DIR/pair.key and DIR/pair.conf
#                                       (FORM takeover|portal, one LUN of SIZE
#                                       per node: DIR/a-disk0.img, b-disk0.img)
#   pair_start PREFIX DIR               node a and b in PREFIX-a/-b, logs
#                                       DIR/a.log, b.log, control sockets
#                                       DIR/a.sock, b.sock
#   pair_wait PREFIX DIR                both home portals answer from the
#                                       client (15 s at most), then 2.5 s for
#                                       the interconnect handshake
#   pair_state DIR NODE                 the node's failover state (duetctl pair)
#   pair_stop                           SIGTERM, then SIGKILL after 0.5 s

# pair_portal FORM NODE: the node's own portal address.
pair_portal() {
	case $1-$2 in
	takeover-a) echo 198.51.100.31 ;;
	takeover-b) echo 198.51.100.32 ;;
	portal-a) echo 198.51.100.11 ;;
	portal-b) echo 198.51.100.12 ;;
	esac
}

_pair_node_conf() { # DIR FORM NAME N SIZE
	local dir=$1 form=$2 n=$3 i=$4 size=$5
	cat <<CONF
  { name = "$n";
    interconnect = "192.0.2.$i:3270";
    client_interface = "cl0";
    portals = ( "$(pair_portal "$form" "$n"):3260" );
$([ "$form" = portal ] && echo "    proxy_portals = ( \"198.51.100.2$i:3260\" );")
    witnesses = ( "198.51.100.1:3260" );
    targets = ( { name = "iqn.2026-11.org.example:$n.disk0";
                  luns = ( { path = "$dir/$n-disk0.img"; size = "$size"; } ); } );
  }
CONF
}

pair_conf() {
	local dir=$1 form=$2 level=$3 size=$4
	echo "duet-pair-secret-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$dir/pair.key"
	chmod 600 "$dir/pair.key"
	{
		cat <<CONF
# duet pair ($form form) in the scripts/netns.sh topology, written by $(basename "$0")
log_level = "$level";
cluster = {
  name = "duetpair";
  secret_file = "$dir/pair.key";
  proxy = "$form";
  heartbeat_interval_ms = 250;
  heartbeat_timeout_ms = 1500;
  damp_ms = ${DAMP_MS:-3000};
  probe_interval_ms = 500; probe_timeout_ms = 1000;
};
nodes = (
CONF
		_pair_node_conf "$dir" "$form" a 1 "$size"
		echo ","
		_pair_node_conf "$dir" "$form" b 2 "$size"
		echo ");"
	} >"$dir/pair.conf"
	"$BUILD/duetd" --check-config -c "$dir/pair.conf" -n a
}

pair_start() {
	local p=$1 dir=$2 n
	PIDS=()
	for n in a b; do
		ip netns exec "$p-$n" "$BUILD/duetd" -f -c "$dir/pair.conf" -n $n \
			--ctl-socket "$dir/$n.sock" >"$dir/$n.log" 2>&1 &
		PIDS+=($!)
	done
}

_pair_reach() { ip netns exec "$1-client" timeout 1 bash -c "exec 3<>/dev/tcp/$2/3260" 2>/dev/null; }

pair_wait() {
	local p=$1 form end
	form=$(sed -n 's/^  proxy = "\(.*\)";/\1/p' "$2/pair.conf")
	end=$((SECONDS + 15))
	while [ $SECONDS -lt $end ]; do
		_pair_reach "$p" "$(pair_portal "$form" a)" && _pair_reach "$p" "$(pair_portal "$form" b)" && break
		kill -0 "${PIDS[0]}" 2>/dev/null && kill -0 "${PIDS[1]}" 2>/dev/null ||
			break # a daemon exited: its log says why
		sleep 0.1
	done
	if ! _pair_reach "$p" "$(pair_portal "$form" b)"; then
		tail -n 20 "$2/a.log" "$2/b.log"
		echo "pair: node b does not serve $(pair_portal "$form" b):3260" >&2
		return 1
	fi
	sleep 2.5 # interconnect handshake + a heartbeat deadline
}

pair_state() { "$BUILD/duetctl" -s "$1/$2.sock" pair 2>/dev/null | sed -n 's/^state \([A-Z_]*\).*/\1/p'; }

pair_stop() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	sleep 0.5
	for pid in "${PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	PIDS=()
}
