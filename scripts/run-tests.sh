#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Run duet's tests and print one summary line: "N passed, N failed, N skipped".
#   scripts/run-tests.sh unit|integration|conformance|vm|fuzz|all
# Env: BUILD (build or build-asan), FUZZ_SECONDS (per fuzzer),
#      UNIT_TIMEOUT, INTEG_TIMEOUT (seconds per binary), VMTEST=0 (skip the
#      kernel-initiator VM tests), VMPAIR=0 (skip only the pair one),
#      VM_TIMEOUT (their guest timeout, seconds).
set -uo pipefail

MODE=${1:-all}
BUILD=${BUILD:-build}
UNIT_TIMEOUT=${UNIT_TIMEOUT:-120}
INTEG_TIMEOUT=${INTEG_TIMEOUT:-600}
cd "$(dirname "$0")/.."

PASS=0
FAIL=0
SKIP=0
FAILED_NAMES=()
LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/duet-tests.XXXXXX")
trap 'rm -rf "$LOGDIR"' EXIT

note_fail() {
	FAIL=$((FAIL + 1))
	FAILED_NAMES+=("$1")
	echo "FAIL: $1"
}

# Run one cmocka binary with TAP output; add its ok/not ok/SKIP lines to
# the totals. A crash, timeout or non-zero exit without a TAP failure is
# counted as one failure of the binary itself.
run_cmocka() {
	local bin=$1 tmo=$2 name out rc p=0 f=0 s=0 line tname
	name=$(basename "$bin")
	out="$LOGDIR/$name.log"
	echo "== $bin"
	CMOCKA_MESSAGE_OUTPUT=TAP DUET_BUILD="$BUILD" \
		timeout -k 10 "$tmo" "$bin" >"$out" 2>&1
	rc=$?
	while IFS= read -r line; do
		case "$line" in
		"not ok "*"# SKIP"* | "ok "*"# SKIP"* | "ok "*"# skip"*)
			s=$((s + 1)) ;;
		"not ok "*)
			f=$((f + 1))
			tname=${line#not ok }
			tname=${tname#* - }
			note_fail "$name: $tname" ;;
		"ok "*)
			p=$((p + 1)) ;;
		esac
	done <"$out"
	PASS=$((PASS + p))
	SKIP=$((SKIP + s))
	if [ $rc -ne 0 ] && [ $f -eq 0 ]; then
		case $rc in
		124 | 137) note_fail "$name: timed out after ${tmo}s" ;;
		*) note_fail "$name: exited with status $rc" ;;
		esac
		f=1
	fi
	if [ $f -ne 0 ]; then
		echo "---- output of $name (last 60 lines) ----"
		tail -n 60 "$out"
		echo "----"
	fi
	echo "   $name: $p passed, $f failed, $s skipped"
}

run_dir() {
	local dir=$1 tmo=$2 found=0 bin
	for bin in "$dir"/test_*; do
		[ -x "$bin" ] && [ -f "$bin" ] || continue
		case "$bin" in *.d | *.o) continue ;; esac
		found=1
		run_cmocka "$bin" "$tmo"
	done
	[ $found -eq 1 ] || echo "(no test binaries in $dir)"
}

run_conformance() {
	local out="$LOGDIR/conformance.log" last p f s
	echo "== conformance (iscsi-test-cu)"
	BUILD="$BUILD" bash scripts/conformance.sh 2>&1 | tee "$out"
	last=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$out" | tail -n 1)
	if [ -z "$last" ]; then
		note_fail "conformance: no summary (script error)"
		return
	fi
	read -r p _ f _ s _ <<<"$last"
	PASS=$((PASS + p))
	SKIP=$((SKIP + s))
	if [ "$f" -gt 0 ]; then
		FAIL=$((FAIL + f))
		FAILED_NAMES+=($(sed -n 's/^UNEXPECTED FAILURE: \(.*\)$/conformance: \1/p' "$out" | tr ' ' '_'))
	fi
}

run_fuzz() {
	local secs=${FUZZ_SECONDS:-20} fz name out rc found=0
	if ! ls "$BUILD"/fuzz/fuzz_* >/dev/null 2>&1; then
		if ls tests/fuzz/fuzz_*.c >/dev/null 2>&1; then
			make --no-print-directory BUILD="$BUILD" fuzz-short || {
				note_fail "fuzz: build failed"
				return
			}
		fi
	fi
	for fz in "$BUILD"/fuzz/fuzz_*; do
		[ -x "$fz" ] && [ -f "$fz" ] || continue
		case "$fz" in *.d | *.o) continue ;; esac
		found=1
		name=$(basename "$fz")
		out="$LOGDIR/$name.log"
		mkdir -p "$LOGDIR/corpus-$name"
		echo "== $fz (${secs}s)"
		timeout -k 10 $((secs + 60)) "$fz" -max_total_time="$secs" \
			-rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
			-artifact_prefix="$LOGDIR/" "$LOGDIR/corpus-$name" \
			$( [ -d "tests/fuzz/corpus/$name" ] && echo "tests/fuzz/corpus/$name" ) \
			>"$out" 2>&1
		rc=$?
		if [ $rc -eq 0 ]; then
			PASS=$((PASS + 1))
			grep -E 'stat::number_of_executed_units' "$out" | sed 's/^/   /'
		else
			note_fail "$name: fuzzer exited with status $rc"
			tail -n 40 "$out"
			mkdir -p "$BUILD/fuzz/artifacts"
			cp "$LOGDIR"/crash-* "$LOGDIR"/leak-* "$LOGDIR"/timeout-* \
				"$BUILD/fuzz/artifacts/" 2>/dev/null &&
				echo "   artifacts copied to $BUILD/fuzz/artifacts/"
		fi
	done
	[ $found -eq 1 ] || echo "(no fuzzers)"
}

# The kernel-initiator tests: a Linux guest under qemu logs in with
# open-iscsi + iscsi_tcp and checks O_DIRECT I/O, against one duetd
# (scripts/vm/run-guest.sh) and through a pair failover in namespaces
# (scripts/vm/run-pair.sh, ~1 min). Each counted as one test; skipped (with
# the reason) without qemu-system-x86_64, root or namespaces, or when the
# guest packages cannot be downloaded; VMTEST=0 skips both on purpose,
# VMPAIR=0 the pair one.
# run_vm NAME SCRIPT ENABLED
run_vm() {
	local name=$1 script=$2 out="$LOGDIR/$1.log" rc
	echo "== kernel initiator in a VM: $name ($script)"
	if [ "$3" = 0 ]; then
		echo "   SKIP: disabled (VMTEST=0 / VMPAIR=0)"
		SKIP=$((SKIP + 1))
		return
	fi
	BUILD="$BUILD" TIMEOUT="${VM_TIMEOUT:-600}" bash "$script" >"$out" 2>&1
	rc=$?
	case $rc in
	0)
		PASS=$((PASS + 1))
		grep -E '^vm(pair)?: VMTEST RESULT|^  (pull|restore|guest: PULL|guest: longest)' "$out" |
			sed 's/^ */   /' ;;
	77)
		SKIP=$((SKIP + 1))
		grep -E '^SKIP' "$out" | sed 's/^/   /' ;;
	*)
		note_fail "$name: kernel initiator test failed (exit $rc)"
		tail -n 120 "$out" ;;
	esac
}
run_vmtest() {
	run_vm vmtest scripts/vm/run-guest.sh "${VMTEST:-1}"
	run_vm vmtest-pair scripts/vm/run-pair.sh "$([ "${VMTEST:-1}" = 0 ] && echo 0 || echo "${VMPAIR:-1}")"
}

case "$MODE" in
unit) run_dir "$BUILD/tests/unit" "$UNIT_TIMEOUT" ;;
integration) run_dir "$BUILD/tests/integration" "$INTEG_TIMEOUT" ;;
conformance) run_conformance ;;
fuzz) run_fuzz ;;
vm) run_vmtest ;;
all)
	run_dir "$BUILD/tests/unit" "$UNIT_TIMEOUT"
	run_dir "$BUILD/tests/integration" "$INTEG_TIMEOUT"
	run_conformance
	run_vmtest
	run_fuzz
	;;
*)
	echo "usage: $0 unit|integration|conformance|vm|fuzz|all" >&2
	exit 2
	;;
esac

echo
if [ ${#FAILED_NAMES[@]} -gt 0 ]; then
	echo "Failed tests:"
	for n in "${FAILED_NAMES[@]}"; do echo "  $n"; done
fi
echo "$PASS passed, $FAIL failed, $SKIP skipped"
[ "$FAIL" -eq 0 ]
