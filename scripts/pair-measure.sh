#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Figures for the pair started by `make run` (loopback, portal form):
#  1. failover: `path down` on b -> first write completed through a's
#     proxy port (multipath writer, build/tests/tools/pairio), 3 rounds;
#  2. giveback: `path auto` on b -> a back in NORMAL and the writer home;
#  3. proxied / direct throughput, 4K QD32 random and 128K QD32 (reads:
#     iscsi-perf; writes: pairio --bench), same run.
# Usage: scripts/pair-measure.sh   (with `make run` going in another shell)
set -euo pipefail
BUILD=${BUILD:-build}
RUN_DIR=${RUN_DIR:-run}
PORT=${PORT:-3260}
PROXY_PORT=${PROXY_PORT:-3261}
SECS=${SECS:-5}
IQN_B=iqn.2026-11.org.example:b.disk0
DIRECT=iscsi://127.0.0.2:$PORT/$IQN_B/0
PROXY=iscsi://127.0.0.1:$PROXY_PORT/$IQN_B/0
CTL="$BUILD/duetctl"
PAIRIO="$BUILD/tests/tools/pairio"
ms() { date +%s%3N; }
state() { "$CTL" -s "$RUN_DIR/$1.sock" pair | sed -n 's/^state \([A-Z_]*\).*/\1/p'; }
wait_state() { # node state timeout_ms
	local t0; t0=$(ms)
	while [ "$(state "$1")" != "$2" ]; do
		[ $(( $(ms) - t0 )) -gt "$3" ] && { echo "timeout waiting for $1 $2" >&2; return 1; }
		sleep 0.01
	done
}

echo "== failover / giveback (pairio multipath writer, QD 8)"
"$PAIRIO" --url "$DIRECT" --url "$PROXY" --seconds 40 --qd 8 --verify \
	>"$RUN_DIR/measure-pairio.json" 2>&1 &
W=$!
sleep 2
for r in 1 2 3; do
	kill -USR1 $W
	"$CTL" -s "$RUN_DIR/b.sock" path down >/dev/null
	t0=$(ms); wait_state a PROXYING_FOR_PARTNER 5000
	echo "round $r: path down -> a PROXYING_FOR_PARTNER $(( $(ms) - t0 )) ms"
	sleep 3
	kill -USR2 $W
	"$CTL" -s "$RUN_DIR/b.sock" path auto >/dev/null
	t0=$(ms); wait_state b NORMAL 15000
	echo "round $r: path auto -> giveback done (b NORMAL) $(( $(ms) - t0 )) ms"
	sleep 3
done
kill -INT $W; wait $W || true
grep '"result"' "$RUN_DIR/measure-pairio.json" | python3 -c '
import json,sys
r=json.loads(sys.stdin.read())
print("writer: issued %d acked %d hard_errors %d verify ok %d bad %d stale %d unwritten %d max stall %.3f s" % (r["issued"],r["acked"],r["hard_errors"],r["v_ok"],r["v_bad"],r["v_stale"],r["v_unwritten"],r["max_gap"]))
for m in r["marks"]:
    what = "after path down" if m["label"]=="usr1" else "after path auto"
    print("  %s: first write completed %.3f s later, longest stall from then on %.3f s" % (what, m["first_done"], m["stall"]))'

perf() { timeout 60 iscsi-perf "$@" 2>&1 | tr '\r' '\n' | sed -n 's/^iops average \([0-9]*\) (\([0-9]*\) MB\/s).*/\1 \2/p' | tail -1; }
bench() { "$PAIRIO" --url "$1" --bench "$2" --qd 32 --seconds "$SECS" 2>/dev/null | python3 -c '
import json,sys
for l in sys.stdin:
    d=json.loads(l)
    if d.get("event")=="bench": print(int(d.get("iops",0)), int(d.get("mbps", d.get("MBps",0))))'; }
echo "== throughput, direct (b) vs proxied (a's proxy port, b path down), ${SECS}s each"
declare -A R
for mode in direct proxied; do
	if [ $mode = proxied ]; then
		"$CTL" -s "$RUN_DIR/b.sock" path down >/dev/null; wait_state a PROXYING_FOR_PARTNER 5000; url=$PROXY
	else url=$DIRECT; fi
	R[$mode,r4]=$(perf -m 32 -b 8 -r -t "$SECS" "$url")
	R[$mode,r128]=$(perf -m 32 -b 256 -t "$SECS" "$url")
	R[$mode,w4]=$(bench "$url" 4)
	R[$mode,w128]=$(bench "$url" 128)
done
"$CTL" -s "$RUN_DIR/b.sock" path auto >/dev/null
for k in r4 r128 w4 w128; do
	read -r di dm <<<"${R[direct,$k]:-0 0}"; read -r pi pm <<<"${R[proxied,$k]:-0 0}"
	python3 -c "import sys; di,dm,pi,pm=map(float,sys.argv[2:]); print('%-5s direct %7d IOPS %6d MB/s | proxied %7d IOPS %6d MB/s | ratio IOPS %.2f MB/s %.2f' % (sys.argv[1],di,dm,pi,pm,pi/di if di else 0,pm/dm if dm else 0))" "$k" "$di" "$dm" "$pi" "$pm"
done
