#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# /init of the test guest built by scripts/vm/build-guest.sh.
# Logs in to the target named on the kernel command line with the kernel
# initiator (open-iscsi iscsid/iscsiadm + iscsi_tcp, stock iscsid.conf),
# writes known patterns with O_DIRECT in 1 MiB and 4 KiB blocks, reads them
# back, logs out, prints one line "RESULT PASS|FAIL ..." and powers off.
# Command line: duet.portal=HOST:PORT duet.iqn=IQN duet.luns=N [duet.flap=S] [duet.restart=S]
#               [duet.mode=pair]
# duet.mode=pair (scripts/vm/run-pair.sh): no disk checks; only the PAIR
# writer, driven by the host's messages on /dev/ttyS1 (PULL, RESTORE,
# GIVEBACK: marks for the timing; STOP: end the writer).
# Lines for the host start with "VMTEST " (INFO/CHECK/STEP/FAIL/RESULT).

/bin/busybox --install -s /bin
export PATH=/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /run/lock/iscsi /tmp
mount -t tmpfs tmp /tmp

PORTAL=
IQN=
NLUNS=1
FLAP=0
RESTART=0
MODE=single
for w in $(cat /proc/cmdline); do
	case "$w" in
	duet.portal=*) PORTAL=${w#duet.portal=} ;;
	duet.iqn=*) IQN=${w#duet.iqn=} ;;
	duet.luns=*) NLUNS=${w#duet.luns=} ;;
	duet.flap=*) FLAP=${w#duet.flap=} ;;
	duet.restart=*) RESTART=${w#duet.restart=} ;;
	duet.mode=*) MODE=${w#duet.mode=} ;;
	esac
done

T0=$(cut -d' ' -f1 /proc/uptime)
say() { echo "VMTEST $*"; }
step() { say "STEP $(cut -d' ' -f1 /proc/uptime) $*"; }
FAILS=0
fail() {
	say "FAIL $*"
	FAILS=$((FAILS + 1))
}
finish() {
	step "dmesg (scsi/iscsi/sd lines)"
	dmesg | grep -iE 'scsi|iscsi|sd[a-z]|connection|blk_update|I/O error|offline|sense|conn error' |
		sed 's/^/VMTEST DMESG /'
	if [ "$FAILS" -eq 0 ] && [ -z "$1" ]; then
		say "RESULT PASS uptime=$(cut -d' ' -f1 /proc/uptime)"
	else
		say "RESULT FAIL failures=$FAILS $1"
	fi
	sync
	poweroff -f
	sleep 5
	echo o >/proc/sysrq-trigger
}
die() {
	fail "$*"
	finish "fatal: $*"
}

step "boot done (uptime $T0), kernel $(uname -r), portal $PORTAL, target $IQN"
[ -n "$PORTAL" ] && [ -n "$IQN" ] || die "duet.portal= and duet.iqn= are needed on the kernel command line"

for m in $(cat /etc/modules.order); do
	insmod "/lib/modules/$m.ko" && continue
	# the CPU may lack SSE4.2; the generic crc32c is built in
	[ "$m" = crc32c_intel ] && { say "INFO insmod $m failed (ignored)"; continue; }
	die "insmod $m failed"
done
step "modules loaded: $(cat /etc/modules.order | tr '\n' ' ')"

ip link set lo up
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
ip addr add 10.0.2.15/24 dev eth0 || die "no eth0"
ip link set eth0 up
ip route add default via 10.0.2.2

iscsid -f >/tmp/iscsid.log 2>&1 &
i=0
while ! iscsiadm -m session >/dev/null 2>&1 && [ $i -lt 20 ]; do
	# "No active sessions" exits 21 once iscsid answers
	iscsiadm -m session >/dev/null 2>&1
	[ $? -eq 21 ] && break
	sleep 0.5
	i=$((i + 1))
done
step "iscsid up"

# Messages from the host (second serial port), each stamped on arrival
# with the guest's uptime: "UPTIME WORD" lines in /tmp/host.msg.
: >/tmp/host.msg
if [ "$MODE" = pair ] && [ -e /dev/ttyS1 ]; then
	stty -F /dev/ttyS1 raw -echo 2>/dev/null
	(while read -r m; do
		echo "$(cut -d' ' -f1 /proc/uptime) $m" >>/tmp/host.msg
	done </dev/ttyS1) &
fi
host_said() { grep -q " $1\$" /tmp/host.msg; }

# Discovery. The target lists its own portal addresses; seen from the guest
# the host's 127.0.0.1 is 10.0.2.2 (qemu user networking), so the record
# used for login is made for the address we reached it on.
DISC=$(iscsiadm -m discovery -t sendtargets -p "$PORTAL" 2>&1)
rc=$?
echo "$DISC" | sed 's/^/VMTEST INFO discovery: /'
[ $rc -eq 0 ] || die "discovery failed (iscsiadm exit $rc)"
echo "$DISC" | grep -q " $IQN\$" || die "discovery did not list $IQN"
if [ "$MODE" = pair ]; then
	# The pair's node b lists the address we reached: log in with the
	# discovered record as a user would (it has the TPGT, which open-iscsi
	# checks at every re-login, through the proxy port too).
	echo "$DISC" | grep -q "^$PORTAL,[0-9]* $IQN\$" || die "discovery did not list $IQN at $PORTAL"
else
	iscsiadm -m node -o delete >/dev/null 2>&1
	iscsiadm -m node -o new -T "$IQN" -p "$PORTAL" >/dev/null || die "iscsiadm -o new failed"
fi

step "login"
OUT=$(iscsiadm -m node -T "$IQN" -p "$PORTAL" --login 2>&1)
rc=$?
echo "$OUT" | sed 's/^/VMTEST INFO login: /'
[ $rc -eq 0 ] || die "login failed (iscsiadm exit $rc)"
iscsiadm -m session -P 2 2>&1 | grep -E 'Iface|State|Param|Len|Burst|R2T|Data|Digest|timeout|Timeout|Tag|Outstand' |
	sed 's/^[[:space:]]*/VMTEST INFO session: /'

# Wait for the LUNs (the host exports NLUNS of them).
i=0
while [ $i -lt 150 ]; do
	n=0
	for d in /sys/block/sd*; do
		[ -e "$d" ] && [ -e "/dev/$(basename "$d")" ] && [ "$(cat "$d/size")" -gt 0 ] && n=$((n + 1))
	done
	[ $n -ge "$NLUNS" ] && break
	sleep 0.2
	i=$((i + 1))
done
[ $n -ge "$NLUNS" ] || die "$n disk(s) with a size after login, $NLUNS expected"

MB=1048576
# Patterns in RAM (tmpfs).
dd if=/dev/urandom of=/tmp/big0 bs=1M count=16 2>/dev/null
dd if=/dev/urandom of=/tmp/small bs=4k count=256 2>/dev/null
dd if=/dev/urandom of=/tmp/buf bs=64k count=32 2>/dev/null
dd if=/dev/urandom of=/tmp/tail bs=4k count=256 2>/dev/null
MD5_SMALL=$(md5sum </tmp/small | cut -d' ' -f1)
MD5_BUF=$(md5sum </tmp/buf | cut -d' ' -f1)
MD5_TAIL=$(md5sum </tmp/tail | cut -d' ' -f1)

elapsed() { awk "BEGIN{print $(cut -d' ' -f1 /proc/uptime)-$1}"; }
# wr NAME FILE BS OFFSET_BYTES [extra dd flags]
wr() {
	t=$(cut -d' ' -f1 /proc/uptime)
	dd if="$2" of="/dev/$DEV" bs="$3" seek=$(($4 / $3)) $5 2>/tmp/dd.err ||
		{ fail "lun $LUN: write $1 (bs=$3 off=$4 $5): $(tail -n 1 /tmp/dd.err)"; return 1; }
	say "INFO lun $LUN: write $1 bs=$3 off=$4 $5 ok ($(elapsed $t)s)"
}
# rd NAME LEN BS OFFSET_BYTES MD5
rd() {
	t=$(cut -d' ' -f1 /proc/uptime)
	got=$(dd if="/dev/$DEV" bs="$3" skip=$(($4 / $3)) count=$(($2 / $3)) iflag=direct 2>/tmp/dd.err |
		md5sum | cut -d' ' -f1)
	grep -q "^$(($2 / $3))+0 records in" /tmp/dd.err ||
		{ fail "lun $LUN: read $1 (bs=$3 off=$4): $(tail -n 1 /tmp/dd.err)"; return 1; }
	[ "$got" = "$5" ] || { fail "lun $LUN: read $1 (bs=$3 off=$4 len=$2): md5 $got, wrote $5"; return 1; }
	say "INFO lun $LUN: read $1 bs=$3 off=$4 len=$2 ok ($(elapsed $t)s)"
}

show_sysfs() {
	Q=/sys/block/$DEV/queue
	SD=$(ls -d /sys/block/$DEV/device/scsi_disk/* 2>/dev/null | head -n 1)
	for f in $Q/logical_block_size $Q/physical_block_size $Q/max_sectors_kb $Q/max_hw_sectors_kb \
		$Q/optimal_io_size $Q/minimum_io_size $Q/discard_max_bytes $Q/discard_granularity \
		$Q/write_same_max_bytes $Q/write_zeroes_max_bytes $Q/rotational $Q/write_cache $Q/fua \
		/sys/block/$DEV/size /sys/block/$DEV/device/vendor /sys/block/$DEV/device/model \
		/sys/block/$DEV/device/rev /sys/block/$DEV/device/scsi_level \
		/sys/block/$DEV/device/queue_depth \
		$SD/cache_type $SD/FUA $SD/provisioning_mode $SD/protection_type \
		$SD/thin_provisioning $SD/max_write_same_blocks $SD/zeroing_mode; do
		[ -r "$f" ] && say "INFO lun $LUN: sysfs $(basename "$f")=$(head -c 120 "$f" | tr '\n\000' '  ')"
	done
}

# test_disk: the whole I/O check on /dev/$DEV (LUN $LUN).
test_disk() {
	show_sysfs
	SIZE=$(blockdev --getsize64 "/dev/$DEV")
	[ "$SIZE" -ge $((64 * MB)) ] || { fail "lun $LUN: disk is $SIZE bytes, the test needs 64 MiB"; return; }
	END_OFF=$((SIZE - MB))
	cp /tmp/big0 /tmp/big

	step "lun $LUN: O_DIRECT writes"
	wr big /tmp/big 1048576 0 oflag=direct
	wr small /tmp/small 4096 $((32 * MB)) oflag=direct
	wr tail /tmp/tail 4096 $END_OFF oflag=direct
	step "lun $LUN: buffered write + fsync"
	wr buffered /tmp/buf 65536 $((40 * MB)) conv=fsync
	sync
	echo 3 >/proc/sys/vm/drop_caches

	step "lun $LUN: O_DIRECT reads"
	rd big $((16 * MB)) 1048576 0 "$(md5sum </tmp/big | cut -d' ' -f1)"
	rd big-4k $((16 * MB)) 4096 0 "$(md5sum </tmp/big | cut -d' ' -f1)"
	rd small $MB 4096 $((32 * MB)) "$MD5_SMALL"
	rd small-1M $MB 1048576 $((32 * MB)) "$MD5_SMALL"
	rd buffered $((2 * MB)) 1048576 $((40 * MB)) "$MD5_BUF"
	rd tail $MB 4096 $END_OFF "$MD5_TAIL"
	# Overwrite part of the 16 MiB region with 4 KiB blocks; read it all.
	dd if=/tmp/small of=/tmp/big bs=4k seek=100 count=64 conv=notrunc 2>/dev/null
	dd if=/tmp/small of="/dev/$DEV" bs=4k seek=100 count=64 oflag=direct 2>/tmp/dd.err ||
		fail "lun $LUN: overwrite: $(tail -n 1 /tmp/dd.err)"
	# Zero 1 MiB in the middle of it with BLKZEROOUT (WRITE SAME when the
	# disk says it has it, else plain writes of zeroes).
	if [ -x /bin/blkzeroout ]; then
		dd if=/dev/zero of=/tmp/big bs=1M seek=4 count=1 conv=notrunc 2>/dev/null
		blkzeroout "/dev/$DEV" $((4 * MB)) $MB 2>/tmp/dd.err &&
			say "INFO lun $LUN: BLKZEROOUT 1 MiB ok" ||
			fail "lun $LUN: BLKZEROOUT: $(cat /tmp/dd.err)"
	fi
	MD5_BIG=$(md5sum </tmp/big | cut -d' ' -f1)
	rd big-after-overwrite $((16 * MB)) 1048576 0 "$MD5_BIG"

	blockdev --flushbufs "/dev/$DEV" || fail "lun $LUN: blockdev --flushbufs"
	if [ "$(cat $Q/discard_max_bytes)" != 0 ]; then
		blkdiscard -o $((48 * MB)) -l $MB "/dev/$DEV" 2>/tmp/dd.err &&
			say "INFO lun $LUN: discard ok" || fail "lun $LUN: blkdiscard: $(cat /tmp/dd.err)"
	fi

	# What the host checks on the backing store after the run.
	say "CHECK lun=$LUN off=0 len=$((16 * MB)) md5=$MD5_BIG"
	say "CHECK lun=$LUN off=$((32 * MB)) len=$MB md5=$MD5_SMALL"
	say "CHECK lun=$LUN off=$((40 * MB)) len=$((2 * MB)) md5=$MD5_BUF"
	say "CHECK lun=$LUN off=$END_OFF len=$MB md5=$MD5_TAIL"
}

[ "$MODE" = pair ] || for d in /sys/block/sd*; do
	DEV=$(basename "$d")
	hctl=$(basename "$(readlink "$d/device")")
	LUN=${hctl##*:}
	step "disk /dev/$DEV = $hctl (LUN $LUN)"
	test_disk
done

# Disruptions while a writer keeps writing 1 MiB and 4 KiB blocks with
# O_DIRECT (region 48-56 MiB and 56-56.5 MiB of LUN 0). The guest prints
# "VMTEST <NAME> READY"; the host then, for SECONDS:
#  - FLAP (duet.flap=SECONDS): pulls the guest's link (qemu set_link off);
#  - RESTART (duet.restart=SECONDS): stops duetd (SIGTERM) and starts it again;
#  - PAIR (duet.mode=pair): pulls node b's link, restores it, lets the
#    giveback happen, and says STOP on /dev/ttyS1 (SECONDS: 0, until STOP).
# Every completed write is timed (/tmp/NAME.times); `timing` prints the
# longest stall and, for each host message, how long until the next write
# completed.
# With the stock iscsid.conf (NOP-Out 5+5 s, replacement_timeout 120 s) the
# kernel must recover the session and finish every write without an error.
cp /tmp/big0 /tmp/flap
now() { cut -d' ' -f1 /proc/uptime; }
# writer_done NAME SECONDS START ROUND
writer_done() {
	if [ "$1" = PAIR ]; then
		host_said STOP || [ "$(now | cut -d. -f1)" -gt $(($3 + 900)) ]
		return
	fi
	[ "$(now | cut -d. -f1)" -ge "$(awk "BEGIN{print int($3 + $2 + 20)}")" ] && [ "$4" -ge 8 ]
}
timing() {
	awk -v name="$1" 'FILENAME == ARGV[1] { nm++; mt[nm] = $1; mark[nm] = $2; next }
	{
		if (prev != "" && $1 - prev > gap) { gap = $1 - prev; gapat = prev }
		prev = $1
		for (m = 1; m <= nm; m++)
			if (!(m in first) && $1 > mt[m]) first[m] = $1 - mt[m]
	}
	END {
		for (m = 1; m <= nm; m++)
			if (mark[m] != "STOP") printf "VMTEST TIMING %s: %s at %.2f: next write completed %.2fs later\n", name, mark[m], mt[m], (m in first) ? first[m] : -1
		printf "VMTEST TIMING %s: longest stall %.2fs (no write completed after %.2f)\n", name, gap, gapat
	}' /tmp/host.msg "/tmp/$1.times"
}
disrupt() {
	name=$1
	secs=$2
	DEV=$(basename "$(ls -d /sys/block/sd* | head -n 1)")
	LUN=0
	step "$name: writer starts on /dev/$DEV"
	say "$name READY"
	t=$(now | cut -d. -f1)
	pause=0.5
	[ "$name" = PAIR ] && pause=0.1
	: >"/tmp/$name.times"
	i=0
	until writer_done "$name" "$secs" "$t" "$i"; do
		k=$((i % 8))
		s=$(now)
		dd if=/tmp/big0 of=/tmp/chunk bs=4k skip=$(((i * 7 + secs) % 4096)) count=256 2>/dev/null
		dd if=/tmp/chunk of=/tmp/flap bs=1M seek=$k count=1 conv=notrunc 2>/dev/null
		dd if=/tmp/chunk of="/dev/$DEV" bs=1M seek=$((48 + k)) count=1 oflag=direct 2>/tmp/dd.err ||
			fail "$name: 1 MiB write $i: $(tail -n 1 /tmp/dd.err)"
		echo "$(now) 1M $i" >>"/tmp/$name.times"
		dd if=/tmp/chunk of="/dev/$DEV" bs=4k seek=$((56 * 256 + k * 16)) count=16 oflag=direct 2>/tmp/dd.err ||
			fail "$name: 4 KiB writes $i: $(tail -n 1 /tmp/dd.err)"
		echo "$(now) 4K $i" >>"/tmp/$name.times"
		dt=$(elapsed "$s")
		awk "BEGIN{exit !($dt > 2)}" && say "INFO $name: write round $i took ${dt}s (ended at $(now))"
		i=$((i + 1))
		sleep $pause
	done
	timing "$name"
	step "$name: $i rounds written; reading back"
	MD5_FLAP=$(head -c $((8 * MB)) /tmp/flap | md5sum | cut -d' ' -f1)
	rd $name-1M $((8 * MB)) 1048576 $((48 * MB)) "$MD5_FLAP"
	for k in 0 1 2 3 4 5 6 7; do
		dd if=/tmp/flap bs=4k skip=$((k * 256)) count=16 2>/dev/null
	done >/tmp/flap4k
	got=$(for k in 0 1 2 3 4 5 6 7; do
		dd if="/dev/$DEV" bs=4k skip=$((56 * 256 + k * 16)) count=16 iflag=direct 2>/dev/null
	done | md5sum | cut -d' ' -f1)
	[ "$got" = "$(md5sum </tmp/flap4k | cut -d' ' -f1)" ] && say "INFO $name: 4 KiB blocks read back ok" ||
		fail "$name: 4 KiB blocks read back differ"
	dmesg | grep -iE 'conn.*error|session recovery|timed out|reset|ping timeout' |
		sed "s/^/VMTEST INFO $name dmesg: /" | tail -n 6
}
[ "$MODE" = pair ] && disrupt PAIR 0
[ "$FLAP" -gt 0 ] && disrupt FLAP "$FLAP"
[ "$RESTART" -gt 0 ] && disrupt RESTART "$RESTART"
if [ "$MODE" = pair ] || [ "$FLAP" -gt 0 ] || [ "$RESTART" -gt 0 ]; then
	say "CHECK lun=0 off=$((48 * MB)) len=$((8 * MB)) md5=$MD5_FLAP"
fi

step "logout"
OUT=$(iscsiadm -m node -T "$IQN" -p "$PORTAL" --logout 2>&1)
rc=$?
echo "$OUT" | sed 's/^/VMTEST INFO logout: /'
[ $rc -eq 0 ] || fail "logout failed (iscsiadm exit $rc)"
sed 's/^/VMTEST ISCSID /' /tmp/iscsid.log | tail -n 20
finish ""
