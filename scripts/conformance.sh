#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# libiscsi's iscsi-test-cu (-d: destructive tests allowed) against one
# fresh duetd serving one target with four LUNs (-S, SANITIZE, is left
# out: duetd does not implement it and Sanitize.Readonly wants SWP):
#   LUN 0  1 GiB sparse, 512-byte blocks   pass "main": ALL, with a second
#          URL to the same LUN so the MultipathIO tests run (two sessions,
#          two I_T nexuses)
#   LUN 1  64 MiB                           (spare, for manual runs)
#   LUN 2  64 MiB, readonly = true          pass "ro": ALL.ReadOnly (the
#          write-protect tests that skip on a writable LUN)
#   LUN 3  1 GiB, block_size = 4096         pass "4k": ALL
#
# Fails if a test not listed in tests/conformance/known-failures.txt fails
# (or a run times out, or duetd crashes / does not exit 0 on SIGTERM).
# Known-failure names are "Suite.Test" for the main pass and
# "PASS:Suite.Test" (ro:, 4k:) for the others. Listed tests that now pass
# are reported so the list can shrink.
# Last line: "N passed, N failed, N skipped" (failed = unexpected failures).
#
# Env: BUILD (build), CONFORMANCE_TESTS (ALL; iscsi-test-cu -t pattern of
#      the main pass), CONFORMANCE_PASSES ("main ro 4k"),
#      CONFORMANCE_TIMEOUT (seconds per pass, 900), KEEP=1 keeps the temp dir.
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

truncate -s 64M "$TMP/lun2.img"
cat >"$TMP/duet.conf" <<EOF
portals = ( "127.0.0.1:$PORT" );
targets = ( { name = "$IQN";
  luns = ( { id = 0; path = "lun0.img"; size = "1G"; },
           { id = 1; path = "lun1.img"; size = "64M"; },
           { id = 2; path = "lun2.img"; readonly = true; },
           { id = 3; path = "lun3.img"; size = "1G"; block_size = 4096; } );
} );
EOF
"$DUETD" -f -c "$TMP/duet.conf" --ctl-socket "$TMP/ctl.sock" \
	>"$TMP/duetd.log" 2>&1 &
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

# run_pass NAME TESTS LUN [multipath]: one iscsi-test-cu run; its results
# go to $TMP/results.txt as "RESULT [NAME:]Suite.Test".
BASE="iscsi://127.0.0.1:$PORT/$IQN"
: >"$TMP/results.txt"
: >"$BUILD/conformance.log" 2>/dev/null
cu_bad=()
run_pass() {
	local name=$1 tests=$2 lun=$3 mp=${4:-} prefix='' start rc
	local urls=("$BASE/$lun")
	[ "$name" = main ] || prefix="$name:"
	[ -n "$mp" ] && urls+=("$BASE/$lun")
	echo "conformance: [$name] iscsi-test-cu -d -v --test=$tests ${urls[*]}" \
		"(limit ${TMO}s)"
	start=$(date +%s)
	( cd "$TMP" && timeout -k 10 "$TMO" iscsi-test-cu -d -v \
		--test="$tests" "${urls[@]}" ) >"$TMP/cu-$name.txt" 2>&1
	rc=$?
	echo "conformance: [$name] exited $rc after $(( $(date +%s) - start ))s"
	{ echo "==== pass $name: --test=$tests ${urls[*]}"
	  cat "$TMP/cu-$name.txt"; } >>"$BUILD/conformance.log" 2>/dev/null
	awk -f scripts/cu-parse.awk "$TMP/cu-$name.txt" |
		awk -v p="$prefix" '{ print $1, p $2 }' >>"$TMP/results.txt"
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		cu_bad+=("[$name] iscsi-test-cu timed out after ${TMO}s")
	elif ! grep -q "^Run Summary:" "$TMP/cu-$name.txt"; then
		cu_bad+=("[$name] iscsi-test-cu did not finish (exit $rc)")
		tail -n 20 "$TMP/cu-$name.txt"
	fi
}

for pass in ${CONFORMANCE_PASSES:-main ro 4k}; do
	case $pass in
	main) run_pass main "$TESTS" "${CONFORMANCE_LUN:-0}" multipath ;;
	ro) run_pass ro ALL.ReadOnly 2 ;;
	4k) run_pass 4k ALL 3 ;;
	*) cu_bad+=("unknown pass '$pass' in CONFORMANCE_PASSES") ;;
	esac
done

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
			pfile=$TMP/cu-main.txt
			case $name in *:*) pfile=$TMP/cu-${name%%:*}.txt ;; esac
			awk -v t="${name#*.}" '
				$0 ~ "^  Test: " t " " { on = 1; print; next }
				on && /^  Test: |^Suite: / { exit }
				on { print }' "$pfile" | head -n 12 | sed 's/^/    /'
		fi ;;
	esac
done <"$TMP/results.txt"

for m in "${cu_bad[@]}"; do
	echo "UNEXPECTED FAILURE: $m"
	fail=$((fail + 1))
done
notrun=0
if [ "$TESTS" = ALL ]; then
	total=$(iscsi-test-cu -l 2>/dev/null | grep -c '^ALL\.[^.]*\.')
	ran=$(grep -c '^[a-z]* [^:]*$' "$TMP/results.txt")
	notrun=$((total - ran))
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
