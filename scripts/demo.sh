#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# `make demo` (root): the pair riding a pulled link, in network namespaces.
#
#   1. builds the topology of DESIGN.md section 6 (scripts/netns.sh)
#   2. writes a pair config (takeover form by default; DEMO_FORM=portal for
#      the proxy-portal form) and starts node a and node b in their
#      namespaces
#   3. runs the verifying writer (pairio) from the client namespace against
#      node b's target, at a visible pace, printing progress every second
#   4. pulls node b's client link: I/O carries on through node a
#   5. restores it: node a gives the port back, I/O returns to node b
#   6. reads every block back and checks it, then removes everything
#
# Env: BUILD (default build), DEMO_FORM (takeover|portal), DEMO_RATE
# (writes/s, default 200), DEMO_QD (default 8), DEMO_PULL_S (how long the
# link stays pulled, default 10), DEMO_KEEP=1 keeps the logs directory.
set -uo pipefail

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
FORM=${DEMO_FORM:-takeover}
RATE=${DEMO_RATE:-200}
QD=${DEMO_QD:-8}
PULL_S=${DEMO_PULL_S:-10}
DAMP_MS=3000
. scripts/pair-lib.sh
P=duetdemo$$
DIR=$(mktemp -d "${TMPDIR:-/tmp}/duet-demo.XXXXXX")
PIDS=()
WRITER=

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() {
	echo "demo: $*" >&2
	exit 1
}

cleanup() {
	[ -n "$WRITER" ] && kill "$WRITER" 2>/dev/null
	pair_stop
	bash scripts/netns.sh down "$P" 2>/dev/null
	if [ "${DEMO_KEEP:-0}" = 1 ]; then
		echo "logs kept in $DIR"
	else
		rm -rf "$DIR"
	fi
}

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, address moves): sudo make demo"
[ -x "$BUILD/duetd" ] && [ -x "$BUILD/tests/tools/pairio" ] ||
	die "build first: make all $BUILD/tests/tools/pairio"
case $FORM in
takeover | portal) B_PORTAL=$(pair_portal "$FORM" b) ;;
*) die "DEMO_FORM must be takeover or portal" ;;
esac
trap cleanup EXIT
trap 'exit 130' INT TERM

say "Topology: client --- switch --- node a, node b; a <-> b interconnect ($P-*)"
bash scripts/netns.sh up "$P" || die "could not build the namespaces"
bash scripts/netns.sh status "$P"

pair_conf "$DIR" "$FORM" info 256M >/dev/null ||
	die "this duetd does not accept the pair configuration"
say "Pair configuration ($FORM form): $DIR/pair.conf"
sed 's/^/    /' "$DIR/pair.conf"

say "Starting node a and node b"
pair_start "$P" "$DIR"
pair_wait "$P" "$DIR" || die "the pair did not start"
tail -n 4 "$DIR/a.log" "$DIR/b.log"

URLS=(--url "iscsi://$B_PORTAL/iqn.2026-11.org.example:b.disk0/0")
[ "$FORM" = portal ] &&
	URLS+=(--url "iscsi://198.51.100.21/iqn.2026-11.org.example:b.disk0/0")
TOTAL=$((8 + PULL_S + 20))
say "Client: verified writes to node b's LUN (QD $QD, ~$RATE writes/s, ${TOTAL}s), progress every second"
ip netns exec "$P-client" "$BUILD/tests/tools/pairio" "${URLS[@]}" \
	--seconds "$TOTAL" --qd "$QD" --rate "$RATE" --progress 1 --verify \
	>"$DIR/pairio.log" 2>&1 &
WRITER=$!
tail -n +1 -f "$DIR/pairio.log" --pid=$WRITER &
TAILER=$!
sleep 6

say "PULLING node b's client link (bridge port down: b sees carrier loss)"
kill -USR1 "$WRITER"
bash scripts/netns.sh pull "$P" b
for i in $(seq 1 "$PULL_S"); do
	sleep 1
	if [ "$i" = 3 ]; then
		echo "-- node a's client interface now:"
		ip netns exec "$P-a" ip -br addr show cl0
		grep -h -i -E 'takeover|proxy|partner|path' "$DIR/a.log" | tail -n 3
	fi
done

say "RESTORING node b's link (giveback after ${DAMP_MS} ms of stable path)"
kill -USR2 "$WRITER"
bash scripts/netns.sh restore "$P" b
for i in $(seq 1 15); do
	sleep 1
	if [ "$FORM" = takeover ] &&
		ip netns exec "$P-b" ip -br addr show cl0 | grep -q "$B_PORTAL"; then
		echo "-- $B_PORTAL is back on node b after ${i}s:"
		ip netns exec "$P-b" ip -br addr show cl0
		break
	fi
done
grep -h -i -E 'giveback|given back|taken back' "$DIR/a.log" "$DIR/b.log" | tail -n 3

say "Waiting for the writer to finish and verify every block"
wait "$WRITER"
RC=$?
WRITER=
sleep 0.3
kill "$TAILER" 2>/dev/null
wait "$TAILER" 2>/dev/null
RESULT=$(grep '"event":"result"' "$DIR/pairio.log")
say "Result"
echo "$RESULT" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
print("  writes acknowledged: %d, re-issued (unit attention/busy/path): %d, errors: %d"
      % (r["acked"], r["retry_ua"] + r["retry_busy"] + r["requeued"], r["hard_errors"]))
print("  read back: %d blocks right, %d never written, %d wrong, %d stale"
      % (r["v_ok"], r["v_unwritten"], r["v_bad"], r["v_stale"]))
for m in r["marks"]:
    what = {"usr1": "link pulled", "usr2": "link restored"}.get(m["label"], m["label"])
    print("  %s at %.1fs: I/O flowing again %.2fs later (stall %.2fs)"
          % (what, m["t"], m["resume"], m["stall"]))
' 2>/dev/null || echo "$RESULT"
if [ $RC -eq 0 ]; then
	say "OK: no error to handle by hand, no wrong or missing block"
else
	say "FAILED (pairio exit $RC); logs: $DIR"
	DEMO_KEEP=1
fi
exit $RC
