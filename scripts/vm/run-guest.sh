#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Kernel-initiator test: start a duetd on 127.0.0.1 with two sparse 64 MiB LUNs
# (write-through and write-back),
# boot the guest of scripts/vm/build-guest.sh under qemu (TCG is fine) with
# user networking (the guest reaches the host's loopback as 10.0.2.2), let
# its /init log in with open-iscsi + iscsi_tcp and check O_DIRECT I/O, then
# check on the backing file that what the guest wrote is there.
#
#   scripts/vm/run-guest.sh        (make vmtest)
# Env: BUILD (default build), VMDIR (default build/vm), TIMEOUT (seconds
#      for the guest, default 600), LOG_LEVEL (duetd, default debug),
#      KEEP=1 keeps the work directory, QEMU (qemu-system-x86_64 binary),
#      FLAP (seconds the guest's link is pulled during writes; 0: no flap),
#      RESTART (seconds duetd stays stopped during writes; 0: no restart).
# Exit: 0 pass, 1 fail, 77 skipped (no qemu, packages not available).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
VMDIR=${VMDIR:-build/vm} # shared by build and build-asan
TIMEOUT=${TIMEOUT:-600}
FLAP=${FLAP:-15}
RESTART=${RESTART:-5}
LOG_LEVEL=${LOG_LEVEL:-debug}
QEMU=${QEMU:-qemu-system-x86_64}
IQN=iqn.2026-11.org.example:vmtest.disk0

. scripts/vm/vm-lib.sh
vm_prepare

WORK=$(mktemp -d "${TMPDIR:-/tmp}/duet-vmtest.XXXXXX")
DUETD_PID=
cleanup() {
	[ -n "$DUETD_PID" ] && kill "$DUETD_PID" 2>/dev/null && wait "$DUETD_PID" 2>/dev/null
	if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

port_free() { ! ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }
PORT=$((3300 + RANDOM % 600))
while ! port_free "$PORT"; do PORT=$((PORT + 1)); done

# LUN 0 write-through (the default), LUN 1 write-back (so the kernel sees
# WCE=1 and sends SYNCHRONIZE CACHE and FUA writes).
cat >"$WORK/duet.conf" <<CONF
log_level = "$LOG_LEVEL";
portals = ( "127.0.0.1:$PORT" );
targets = (
  { name = "$IQN";
    luns = (
      { id = 0; path = "$WORK/lun0.img"; size = "64M"; write_back = false; serial = "vmtest-lun0"; },
      { id = 1; path = "$WORK/lun1.img"; size = "64M"; write_back = true; serial = "vmtest-lun1"; }
    );
  } );
CONF
start_duetd() {
	"$BUILD/duetd" -f -c "$WORK/duet.conf" --ctl-socket none >>"$WORK/duetd.log" 2>&1 &
	DUETD_PID=$!
}
start_duetd
for _ in $(seq 50); do
	port_free "$PORT" || break
	sleep 0.1
done
port_free "$PORT" && { cat "$WORK/duetd.log"; echo "FAIL: duetd did not listen on $PORT"; exit 1; }

echo "vm: booting the guest, target 127.0.0.1:$PORT (10.0.2.2:$PORT in the guest), timeout ${TIMEOUT}s"
MPORT=$((PORT + 1))
while ! port_free "$MPORT"; do MPORT=$((MPORT + 1)); done
vm_start "duet.portal=10.0.2.2:$PORT duet.iqn=$IQN duet.luns=2 duet.flap=$FLAP duet.restart=$RESTART" \
	-monitor "tcp:127.0.0.1:$MPORT,server=on,wait=off"
echo "vm: accelerator $ACCEL"
# Link flap: when the guest says it is writing, pull its link for FLAP s.
monitor() {
	exec 3<>"/dev/tcp/127.0.0.1/$MPORT" || return 1
	echo "$1" >&3
	sleep 0.5
	exec 3<&-
}
FLAPPED=0
RESTARTED=0
while kill -0 "$QPID" 2>/dev/null; do
	if [ "$FLAP" -gt 0 ] && [ $FLAPPED -eq 0 ] && vm_guest_said "VMTEST FLAP READY"; then
		FLAPPED=1
		sleep 3
		echo "vm: pulling the guest's link for ${FLAP}s (qemu set_link n0 off) during its writes"
		monitor "set_link n0 off"
		sleep "$FLAP"
		monitor "set_link n0 on"
		echo "vm: link restored"
	fi
	if [ "$RESTART" -gt 0 ] && [ $RESTARTED -eq 0 ] && vm_guest_said "VMTEST RESTART READY"; then
		RESTARTED=1
		sleep 3
		echo "vm: stopping duetd (SIGTERM) for ${RESTART}s during the guest's writes"
		kill -TERM "$DUETD_PID"
		wait "$DUETD_PID"
		rc=$?
		[ $rc -eq 0 ] || { echo "FAIL: duetd exited with status $rc on SIGTERM"; DUETD_RC=$rc; }
		sleep "$RESTART"
		start_duetd
		echo "vm: duetd started again"
	fi
	sleep 1
done
wait "$QPID"
QRC=$?
STATUS=0
[ "${DUETD_RC:-0}" -eq 0 ] || STATUS=1
vm_results "$WORK/lun%s.img" "$PORT" "$WORK/duetd.log"
[ $STATUS -ne 0 ] && vm_fail_dump "$WORK/duetd.log"
echo "vm: ${RESULT:-no result}; guest ran $((END - START))s"
exit $STATUS
