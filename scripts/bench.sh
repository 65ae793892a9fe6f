#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# `make bench`: duetd vs tgtd on loopback, same kind of LUN (a 1 GiB sparse
# file preconditioned with a sequential fill of the benchmarked range),
# driven by build/iobench (libiscsi async, one session):
#   4K random read / write at QD 32, 128K sequential read / write at QD 8.
# Caching: both targets run write-back (duetd write_back = true; tgtd's
# rdwr backing store writes through the page cache with its default
# write-cache on), so the comparison is protocol + I/O path, not fsync cost.
# BENCH_WRITE_THROUGH=1 makes duetd write-through instead (tgtd unchanged:
# that run shows the cost of durability, not a fair ratio).
# Env: BUILD (build), SECONDS_PER (10), RANGE_MIB (512), TGTD=0 skips tgtd,
# IO_ENGINE (auto; uring or threads: duetd's io_engine).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
SECS=${SECONDS_PER:-10}
RANGE=${RANGE_MIB:-512}
IQN=iqn.2026-11.org.example:duet.bench
TIQN=iqn.2026-11.org.example:tgt.bench
WB=true
[ "${BENCH_WRITE_THROUGH:-0}" = 1 ] && WB=false
IOB=$BUILD/iobench
[ -x "$IOB" ] || make --no-print-directory "$IOB"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/duet-bench.XXXXXX")
DPID= TPID= CPORT=$((1000 + RANDOM % 20000))
cleanup() {
	if [ -n "$DPID" ]; then kill -TERM "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null || true; fi
	if [ -n "$TPID" ]; then
		tgtadm -C "$CPORT" --op delete --mode system >/dev/null 2>&1 || true
		sleep 0.2
		kill -9 "$TPID" 2>/dev/null || true
		wait "$TPID" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

port_free() { ! ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }
pick_port() {
	local p
	for _ in $(seq 1 100); do
		p=$((20000 + RANDOM % 20000))
		port_free "$p" && { echo "$p"; return; }
	done
	return 1
}
wait_target() { # portal iqn
	for _ in $(seq 1 100); do
		timeout 5 iscsi-ls "iscsi://$1" 2>/dev/null | grep -q "$2" && return 0
		sleep 0.1
	done
	echo "bench: target $2 on $1 did not come up" >&2
	return 1
}

DPORT=$(pick_port)
cat >"$TMP/duet.conf" <<CONF
log_level = "warn";
io_engine = "${IO_ENGINE:-auto}";
portals = ( "127.0.0.1:$DPORT" );
targets = ( { name = "$IQN";
  luns = ( { path = "$TMP/duet.img"; size = "1G"; write_back = $WB; } ); } );
CONF
"$BUILD/duetd" -f -c "$TMP/duet.conf" --ctl-socket "$TMP/ctl.sock" >"$TMP/duetd.log" 2>&1 &
DPID=$!
wait_target "127.0.0.1:$DPORT" "$IQN" || { tail "$TMP/duetd.log"; exit 1; }

HAVE_TGT=0
if [ "${TGTD:-1}" = 1 ] && command -v tgtd >/dev/null; then
	TPORT=$(pick_port)
	truncate -s 1G "$TMP/tgt.img"
	tgtd -f -C "$CPORT" --iscsi "portal=127.0.0.1:$TPORT" >"$TMP/tgtd.log" 2>&1 &
	TPID=$!
	for _ in $(seq 1 100); do
		tgtadm -C "$CPORT" --op show --mode target >/dev/null 2>&1 && break
		sleep 0.05
	done
	tgtadm -C "$CPORT" --lld iscsi --op new --mode target --tid 1 -T "$TIQN"
	tgtadm -C "$CPORT" --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 \
		-b "$TMP/tgt.img" --bstype rdwr
	tgtadm -C "$CPORT" --lld iscsi --op bind --mode target --tid 1 -I ALL
	wait_target "127.0.0.1:$TPORT" "$TIQN" && HAVE_TGT=1
else
	echo "bench: tgtd not available; duetd numbers only"
fi

run() { # name portal iqn lun mode bs qd secs
	"$IOB" -p "$2" -t "$3" -l "$4" -m "$5" -b "$6" -q "$7" -s "$8" -r "$RANGE" |
		grep '^RESULT' || echo "RESULT iops=0 mbps=0"
}
field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p"; }

echo "bench: preconditioning ${RANGE} MiB on each LUN"
run duet "127.0.0.1:$DPORT" "$IQN" 0 fill 1048576 4 0 >/dev/null
[ $HAVE_TGT = 1 ] && run tgt "127.0.0.1:$TPORT" "$TIQN" 1 fill 1048576 4 0 >/dev/null

printf '\n%-26s %12s %10s   %12s %10s   %8s\n' test "duet IOPS" "duet MB/s" \
	"tgtd IOPS" "tgtd MB/s" "duet/tgtd"
for spec in "4K randread QD32:randread:4096:32" "4K randwrite QD32:randwrite:4096:32" \
	"128K seqread QD8:seqread:131072:8" "128K seqwrite QD8:seqwrite:131072:8"; do
	IFS=: read -r label mode bs qd <<<"$spec"
	d=$(run duet "127.0.0.1:$DPORT" "$IQN" 0 "$mode" "$bs" "$qd" "$SECS")
	di=$(field iops <<<"$d")
	dm=$(field mbps <<<"$d")
	if [ $HAVE_TGT = 1 ]; then
		t=$(run tgt "127.0.0.1:$TPORT" "$TIQN" 1 "$mode" "$bs" "$qd" "$SECS")
		ti=$(field iops <<<"$t")
		tm=$(field mbps <<<"$t")
		ratio=$(awk -v a="$di" -v b="$ti" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
	else
		ti=- tm=- ratio=n/a
	fi
	printf '%-26s %12s %10s   %12s %10s   %8s\n' "$label" "$di" "$dm" "$ti" "$tm" "$ratio"
done
echo
echo "duetd LUN: write_back=$WB, io_engine=${IO_ENGINE:-auto}; tgtd: bstype rdwr, default write cache;" \
	"${SECS}s per test over a ${RANGE} MiB range; one session each."
