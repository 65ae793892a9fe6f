#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The Linux kernel initiator through a pair failover (takeover form).
#
# Builds the namespace topology (scripts/netns.sh), starts node a and node b
# (scripts/pair-lib.sh), and boots the guest of scripts/vm/build-guest.sh
# under qemu INSIDE the client namespace: qemu's user networking (slirp)
# then opens its sockets from there, so the guest reaches node b's portal
# 198.51.100.32:3260 directly. The guest (open-iscsi, stock iscsid.conf)
# discovers and logs in to node b only and keeps writing 1 MiB and 4 KiB
# blocks with O_DIRECT; meanwhile this script
#   1. pulls b's client link (a takes over .32 and announces it),
#   2. restores it after PULL_S s and waits for the giveback (b NORMAL),
#   3. lets the guest write to b again for AFTER_S s, then tells it to stop.
# The guest reads everything back and logs out; then the pattern must be on
# NODE B's backing file and the guest's dmesg must show no I/O error.
# Timings: pull -> next write completed in the guest (guest clock, marks
# sent on its second serial port), restore -> giveback (duetctl pair).
#
#   scripts/vm/run-pair.sh        (make vmtest-pair)
# Env: BUILD, VMDIR, TIMEOUT (guest, default 900 s), LOG_LEVEL (duetd,
#      default debug), PULL_S (default 15), AFTER_S (default 10), KEEP=1,
#      QEMU.
# Exit: 0 pass, 1 fail, 77 skipped (not root, no netns, no qemu, no guest).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
VMDIR=${VMDIR:-build/vm}
TIMEOUT=${TIMEOUT:-900}
LOG_LEVEL=${LOG_LEVEL:-debug}
PULL_S=${PULL_S:-15}
AFTER_S=${AFTER_S:-10}
QEMU=${QEMU:-qemu-system-x86_64}
IQN_B=iqn.2026-11.org.example:b.disk0
SKIP_WHAT="kernel initiator pair test"

. scripts/vm/vm-lib.sh
. scripts/pair-lib.sh
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, address moves)"
command -v ip >/dev/null || skip "ip (iproute2) not found"
P=dvm$$
ip netns add "$P-probe" 2>/dev/null || skip "cannot create network namespaces"
ip netns del "$P-probe"
[ -x "$BUILD/duetctl" ] || { echo "FAIL: $BUILD/duetctl not built (run make)"; exit 1; }
vm_prepare

WORK=$(mktemp -d "${TMPDIR:-/tmp}/duet-vmpair.XXXXXX")
PIDS=()
QPID=
cleanup() {
	[ -n "$QPID" ] && kill "$QPID" 2>/dev/null
	pair_stop
	bash scripts/netns.sh down "$P" 2>/dev/null
	if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ms() { date +%s%3N; }
log() { echo "vmpair: $*"; }
fail() {
	echo "FAIL: $*"
	STATUS=1
}
# wait_state NODE STATE TIMEOUT_MS: prints the ms it took, or fails.
wait_state() {
	local t0
	t0=$(ms)
	while [ "$(pair_state "$WORK" "$1")" != "$2" ]; do
		[ $(($(ms) - t0)) -gt "$3" ] && { echo "timeout"; return 1; }
		sleep 0.05
	done
	echo $(($(ms) - t0))
}
# to_guest WORD: a line on the guest's /dev/ttyS1 (stamped there on arrival).
to_guest() { echo "$1" >"$WORK/host.in"; }

bash scripts/netns.sh up "$P" || { echo "FAIL: could not build the namespaces"; exit 1; }
DAMP_MS=3000 pair_conf "$WORK" takeover "$LOG_LEVEL" 64M >/dev/null ||
	{ echo "FAIL: duetd does not accept the pair configuration"; exit 1; }
pair_start "$P" "$WORK"
pair_wait "$P" "$WORK" || { echo "FAIL: the pair did not start"; exit 1; }
log "pair up: a $(pair_state "$WORK" a), b $(pair_state "$WORK" b)"

# The guest's second serial port: a pipe pair the host writes into.
mkfifo "$WORK/host.in" "$WORK/host.out"
log "booting the guest in $P-client, target $IQN_B at 198.51.100.32:3260, timeout ${TIMEOUT}s"
NETNS=$P-client vm_start "duet.mode=pair duet.portal=198.51.100.32:3260 duet.iqn=$IQN_B duet.luns=1" \
	-serial "pipe:$WORK/host"
log "accelerator $ACCEL"
cat "$WORK/host.out" >/dev/null &

STATUS=0
PHASE=waiting
while kill -0 "$QPID" 2>/dev/null; do
	if [ "$PHASE" = waiting ] && vm_guest_said "VMTEST PAIR READY"; then
		PHASE=started
		sleep 5
		log "pulling node b's client link for ${PULL_S}s"
		to_guest PULL
		bash scripts/netns.sh pull "$P" b
		T_TAKEOVER_MS=$(wait_state a PROXYING_FOR_PARTNER 10000) || fail "a did not take over within 10 s"
		log "pull -> a PROXYING_FOR_PARTNER: $T_TAKEOVER_MS ms"
		sleep "$PULL_S"
		log "restoring node b's link"
		to_guest RESTORE
		T_RESTORE=$(ms)
		bash scripts/netns.sh restore "$P" b
		wait_state a NORMAL 30000 >/dev/null || fail "a did not give back within 30 s"
		wait_state b NORMAL 30000 >/dev/null || fail "b not NORMAL within 30 s"
		GIVEBACK_MS=$(($(ms) - T_RESTORE))
		to_guest GIVEBACK
		log "restore -> giveback (a and b NORMAL): $GIVEBACK_MS ms"
		ip netns exec "$P-b" ip -br addr show cl0 | sed 's/^/vmpair: b: /'
		sleep "$AFTER_S"
		log "telling the guest to stop writing"
		to_guest STOP
	fi
	sleep 0.5
done
wait "$QPID"
QRC=$?
[ "$PHASE" = started ] || fail "the guest never started its writer"
vm_results "$WORK/b-disk0.img%.0s" 3260 "$WORK/a.log" "$WORK/b.log"
# No I/O error may have reached the guest's block layer.
if grep -E '^VMTEST DMESG ' "$WORK/console.txt" | grep -qiE 'I/O error|rejecting I/O|offline device'; then
	fail "the guest's kernel saw I/O errors:"
	grep -E '^VMTEST DMESG ' "$WORK/console.txt" | grep -iE 'I/O error|rejecting I/O|offline device' | head -n 10
fi
grep -q '^VMTEST CHECK ' "$WORK/console.txt" || fail "the guest reported nothing to check on b's backing store"
echo "Failover as the nodes saw it (state changes):"
grep -hiE 'state|takeover|giveback|given back|taken back' "$WORK/a.log" "$WORK/b.log" | grep -vi debug |
	head -n 40 | sed 's/^/  /'
echo "Timings:"
echo "  pull -> a PROXYING_FOR_PARTNER (duetctl pair): ${T_TAKEOVER_MS:-?} ms"
echo "  restore -> giveback done, a and b NORMAL (duetctl pair): ${GIVEBACK_MS:-?} ms"
grep '^VMTEST TIMING PAIR' "$WORK/console.txt" | sed 's/^VMTEST TIMING PAIR: /  guest: /'
[ $STATUS -ne 0 ] && vm_fail_dump "$WORK/a.log" "$WORK/b.log"
log "${RESULT:-no result}; guest ran $((END - START))s"
exit $STATUS
