#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# duetd CPU time per command for each io_engine: on a shared, noisy machine
# IOPS swing by 2x between runs, CPU per command much less. One duetd per
# engine on loopback, a 1 GiB sparse LUN preconditioned over the range,
# build/iobench for 4K random read/write at QD32 and 128K sequential
# read/write at QD8; CPU = utime + stime of the whole duetd process
# (io_uring's io-wq workers and the pool's threads included).
# Env: BUILD (build), SECS (8), RANGE_MIB (512), WB (true: write-back LUN;
#      false: write-through), ENGINES ("threads uring").
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
SECS=${SECS:-8}
RANGE=${RANGE_MIB:-512}
WB=${WB:-true}
IQN=iqn.2026-11.org.example:duet.cpu
[ -x "$BUILD/iobench" ] || make --no-print-directory "$BUILD/iobench"
TMP= DPID=
cleanup() {
	if [ -n "$DPID" ]; then kill "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null || true; fi
	[ -n "$TMP" ] && rm -rf "$TMP"
	DPID= TMP=
}
trap cleanup EXIT
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

for e in ${ENGINES:-threads uring}; do
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/duet-cpu.XXXXXX")
	PORT=$((30000 + RANDOM % 20000))
	cat >"$TMP/duet.conf" <<CONF
log_level = "warn";
io_engine = "$e";
portals = ( "127.0.0.1:$PORT" );
targets = ( { name = "$IQN";
  luns = ( { path = "$TMP/d.img"; size = "1G"; write_back = $WB; } ); } );
CONF
	"$BUILD/duetd" -f -c "$TMP/duet.conf" --ctl-socket "$TMP/ctl" >"$TMP/log" 2>&1 &
	DPID=$!
	for _ in $(seq 1 100); do
		timeout 5 iscsi-ls "iscsi://127.0.0.1:$PORT" 2>/dev/null | grep -q "$IQN" && break
		sleep 0.1
	done
	"$BUILD/iobench" -p "127.0.0.1:$PORT" -t "$IQN" -l 0 -m fill -b 1048576 -q 4 -s 0 -r "$RANGE" >/dev/null
	for spec in randread:4096:32 randwrite:4096:32 seqread:131072:8 seqwrite:131072:8; do
		IFS=: read -r mode bs qd <<<"$spec"
		c0=$(cpu_ticks "$DPID")
		r=$("$BUILD/iobench" -p "127.0.0.1:$PORT" -t "$IQN" -l 0 -m "$mode" -b "$bs" -q "$qd" -s "$SECS" -r "$RANGE" | grep '^RESULT' || echo "RESULT iops=0")
		c1=$(cpu_ticks "$DPID")
		iops=$(sed -n 's/.* iops=\([0-9.]*\).*/\1/p' <<<"$r")
		awk -v e="$e" -v m="$mode" -v b="$bs" -v i="$iops" -v c=$((c1 - c0)) \
			-v s="$SECS" -v wb="$WB" -v hz="$(getconf CLK_TCK)" 'BEGIN {
			ops = i * s; if (ops <= 0) ops = 1
			printf "%-8s write_back=%-5s %-9s %6d %9.0f IOPS   duetd CPU %6.1f us/cmd %6.0f ms/GB\n",
				e, wb, m, b, i, c * 1e6 / hz / ops, c * 1e3 / hz / (ops * b / 1e9) }'
	done
	cleanup
done
