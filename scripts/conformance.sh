#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# libiscsi's iscsi-test-cu (-d: destructive tests allowed) against a fresh
# duetd with a 1 GiB sparse LUN 0 and a 64 MiB LUN 1.
#
# Fails if a test not listed in tests/conformance/known-failures.txt fails
# (or the run times out, or duetd crashes / does not exit 0 on SIGTERM).
# Listed tests that now pass are reported so the list can shrink.
# Last line: "N passed, N failed, N skipped" (failed = unexpected failures).
#
# Env: BUILD (build), CONFORMANCE_TESTS (ALL; iscsi-test-cu -t pattern),
#      CONFORMANCE_TIMEOUT (seconds, 900), KEEP=1 keeps the temp dir.
set -uo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
TESTS=${CONFORMANCE_TESTS:-ALL}
TMO=${CONFORMANCE_TIMEOUT:-900}
IQN=iqn.2026-11.org.example:duet.conformance
KNOWN=tests/conformance/known-failures.txt
DUETD=$BUILD/duetd

summary() { echo "$1 passed, $2 failed, $3 skipped"; }

if ! command -v iscsi-test-cu >/dev/null; then
	echo "conformance: iscsi-test-cu not found (apt-get install libiscsi-bin)"
	summary 0 1 0
	exit 1
fi
if [ ! -x "$DUETD" ]; then
	echo "conformance: $DUETD not built"
	summary 0 1 0
	exit 1
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/duet-conf.XXXXXX")
PID=
cleanup() {
	if [ -n "$PID" ]; then { kill -9 "$PID"; wait "$PID"; } 2>/dev/null; fi
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

port_free() { ! ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }
PORT=
for _ in $(seq 1 100); do
	p=$((20000 + RANDOM % 20000))
	if port_free "$p"; then PORT=$p; break; fi
done
[ -n "$PORT" ] || { echo "conformance: no free port"; summary 0 1 0; exit 1; }

"$DUETD" -f --portal "127.0.0.1:$PORT" --target "$IQN" \
	--lun "$TMP/lun0.img:1G" --lun "$TMP/lun1.img:64M" \
	--ctl-socket "$TMP/ctl.sock" >"$TMP/duetd.log" 2>&1 &
PID=$!
ready=0
for _ in $(seq 1 200); do
	kill -0 "$PID" 2>/dev/null || break
	if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then ready=1; break; fi
	sleep 0.05
done
if [ $ready -ne 1 ]; then
	echo "conformance: duetd did not start; log:"
	tail -n 30 "$TMP/duetd.log"
	summary 0 1 0
	exit 1
fi

# the portal accepts; now wait until the target is visible via discovery
for _ in $(seq 1 100); do
	timeout 5 iscsi-ls "iscsi://127.0.0.1:$PORT" 2>/dev/null | grep -q "$IQN" && break
	sleep 0.1
done

URL="iscsi://127.0.0.1:$PORT/$IQN/${CONFORMANCE_LUN:-0}"
echo "conformance: iscsi-test-cu -d -v --test=$TESTS $URL (limit ${TMO}s)"
start=$(date +%s)
( cd "$TMP" && timeout -k 10 "$TMO" iscsi-test-cu -d -v --test="$TESTS" \
	"$URL" ) >"$TMP/cu.txt" 2>&1
cu_rc=$?
echo "conformance: iscsi-test-cu exited $cu_rc after $(( $(date +%s) - start ))s"
cp "$TMP/cu.txt" "$BUILD/conformance.log" 2>/dev/null || true

awk -f scripts/cu-parse.awk "$TMP/cu.txt" >"$TMP/results.txt"

# known failures: "Suite.Test  reason"; '#' comments; names may be globs
declare -A known=()
if [ -f "$KNOWN" ]; then
	while read -r name _; do
		case "$name" in "" | "#"*) continue ;; esac
		known[$name]=1
	done <"$KNOWN"
fi
is_known() {
	local k
	[ -n "${known[$1]+x}" ] && return 0
	for k in "${!known[@]}"; do
		# shellcheck disable=SC2053
		[[ $1 == $k ]] && return 0
	done
	return 1
}

pass=0 fail=0 skip=0 kfail=0
now_pass=()
while read -r res name; do
	case "$res" in
	pass)
		pass=$((pass + 1))
		is_known "$name" && now_pass+=("$name") ;;
	skip) skip=$((skip + 1)) ;;
	fail | incomplete)
		if is_known "$name"; then
			kfail=$((kfail + 1))
		else
			fail=$((fail + 1))
			echo "UNEXPECTED FAILURE: $name"
			# the failure messages of this test
			awk -v t="${name#*.}" '
				$0 ~ "^  Test: " t " " { on = 1; print; next }
				on && /^  Test: |^Suite: / { exit }
				on { print }' "$TMP/cu.txt" | head -n 12 | sed 's/^/    /'
		fi ;;
	esac
done <"$TMP/results.txt"

if [ $cu_rc -eq 124 ] || [ $cu_rc -eq 137 ]; then
	echo "UNEXPECTED FAILURE: iscsi-test-cu timed out after ${TMO}s"
	fail=$((fail + 1))
fi
if ! grep -q "^Run Summary:" "$TMP/cu.txt"; then
	echo "UNEXPECTED FAILURE: iscsi-test-cu did not finish (exit $cu_rc)"
	tail -n 20 "$TMP/cu.txt"
	fail=$((fail + 1))
fi
notrun=0
if [ "$TESTS" = ALL ]; then
	total=$(iscsi-test-cu -l 2>/dev/null | grep -c '^ALL\.[^.]*\.')
	notrun=$((total - pass - skip - fail - kfail))
	[ $notrun -lt 0 ] && notrun=0
fi

if ! kill -0 "$PID" 2>/dev/null; then
	echo "UNEXPECTED FAILURE: duetd died during the run; log:"
	tail -n 30 "$TMP/duetd.log"
	fail=$((fail + 1))
	PID=
else
	kill -TERM "$PID"
	for _ in $(seq 1 200); do
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$PID" 2>/dev/null; then
		echo "UNEXPECTED FAILURE: duetd did not exit within 10s of SIGTERM"
		fail=$((fail + 1))
	else
		wait "$PID"
		rc=$?
		PID=
		if [ $rc -ne 0 ]; then
			echo "UNEXPECTED FAILURE: duetd exited $rc on SIGTERM"
			fail=$((fail + 1))
		fi
	fi
fi
if grep -qE 'AddressSanitizer|runtime error:|LeakSanitizer' "$TMP/duetd.log"; then
	echo "UNEXPECTED FAILURE: sanitizer report in duetd log:"
	grep -m 20 -A 10 -E 'AddressSanitizer|runtime error:|LeakSanitizer' "$TMP/duetd.log"
	fail=$((fail + 1))
fi

for n in "${now_pass[@]}"; do
	echo "NOW PASSES (remove from $KNOWN): $n"
done
echo "conformance: $pass passed, $fail unexpected failures, $kfail known failures," \
	"$skip skipped, $notrun not run (full log: $BUILD/conformance.log)"
summary "$pass" "$fail" "$((skip + notrun + kfail))"
[ $fail -eq 0 ]
