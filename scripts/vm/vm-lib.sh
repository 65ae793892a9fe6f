# shellcheck shell=bash disable=SC2034
# SPDX-License-Identifier: Apache-2.0
# Shared by the kernel-initiator tests (scripts/vm/run-guest.sh, one duetd;
# scripts/vm/run-pair.sh, the pair): guest build, qemu start, and the
# checks of what the guest reported. Sourced, not run. Needs: BUILD, VMDIR,
# QEMU, TIMEOUT, WORK (the work directory, console.log / guest.pcap there).

skip() { echo "SKIP: ${SKIP_WHAT:-kernel initiator test}: $*"; exit 77; }

# vm_prepare: qemu, duetd and the guest (kernel + initramfs) are there.
vm_prepare() {
	local rc
	command -v "$QEMU" >/dev/null || skip "$QEMU not found (apt-get install qemu-system-x86)"
	[ -x "$BUILD/duetd" ] || { echo "FAIL: $BUILD/duetd not built (run make)"; exit 1; }
	VMDIR=$VMDIR scripts/vm/build-guest.sh
	rc=$?
	[ $rc -eq 77 ] && skip "guest packages cannot be had (see above)"
	[ $rc -eq 0 ] || { echo "FAIL: building the guest failed"; exit 1; }
}

# vm_accel: ACCEL and CPU. KVM when it works (a quick probe: some sandboxes
# have a /dev/kvm that aborts at the first CPU reset), else TCG.
vm_accel() {
	ACCEL=tcg,thread=multi
	CPU=max
	if [ -w /dev/kvm ] && [ "${VM_ACCEL:-}" != tcg ]; then
		(timeout 3 "$QEMU" -machine q35 -accel kvm -cpu host -m 64 -S -nodefaults \
			-display none </dev/null >/dev/null 2>&1) 2>/dev/null
		[ $? -eq 124 ] && ACCEL=kvm CPU=host
	fi
}

# vm_start APPEND [qemu args...]: boot the guest in the background (QPID),
# console on $WORK/console.log, user networking, capture in $WORK/guest.pcap.
# Prefix with NETNS=name to run qemu inside that network namespace.
vm_start() {
	local append=$1
	shift
	vm_accel
	START=$(date +%s)
	${NETNS:+ip netns exec "$NETNS"} timeout -k 5 "$TIMEOUT" "$QEMU" -machine q35 \
		-accel "$ACCEL" -cpu "$CPU" -smp 2 -m 512 \
		-nodefaults -display none -serial stdio -no-reboot "$@" \
		-kernel "$VMDIR/vmlinuz" -initrd "$VMDIR/initrd.gz" \
		-append "console=ttyS0 panic=-1 loglevel=4 $append" \
		-netdev user,id=n0 -device virtio-net-pci,netdev=n0 \
		-object filter-dump,id=f0,netdev=n0,file="$WORK/guest.pcap" \
		</dev/null >"$WORK/console.log" 2>&1 &
	QPID=$!
}

# vm_guest_said LINE: the guest printed a line starting with LINE.
vm_guest_said() { grep -q "^$1" "$WORK/console.log"; }

# vm_results LUNPATH PORT [LOG...]: after qemu ended (QRC its exit status):
# the guest's RESULT, every CHECK line against the backing file
# (printf LUNPATH LUN gives the file of a LUN), the iSCSI summary of the
# capture (target PORT), warnings of the duetd logs LOG.... Sets STATUS
# (0 or 1) and RESULT.
vm_results() {
	local lunpath=$1 port=$2 lun off len md5 got f
	shift 2
	END=$(date +%s)
	tr -d '\r' <"$WORK/console.log" >"$WORK/console.txt"
	grep '^VMTEST ' "$WORK/console.txt" | grep -v '^VMTEST DMESG'
	RESULT=$(grep '^VMTEST RESULT ' "$WORK/console.txt" | tail -n 1)
	if [ -z "$RESULT" ]; then
		[ "$QRC" -eq 124 ] && echo "FAIL: the guest timed out after ${TIMEOUT}s" ||
			echo "FAIL: the guest ended without a RESULT line (qemu exit $QRC)"
		STATUS=1
	elif [[ "$RESULT" != "VMTEST RESULT PASS"* ]]; then
		STATUS=1
	fi
	# The guest's writes must be on the backing file.
	while read -r _ _ lun off len md5; do
		lun=${lun#lun=}
		off=${off#off=}
		len=${len#len=}
		md5=${md5#md5=}
		# shellcheck disable=SC2059
		f=$(printf "$lunpath" "$lun")
		got=$(dd if="$f" bs=1M iflag=skip_bytes,count_bytes skip="$off" count="$len" 2>/dev/null |
			md5sum | cut -d' ' -f1)
		if [ "$got" = "$md5" ]; then
			echo "backing store: $f off=$off len=$len ok"
		else
			echo "FAIL: backing store $f off=$off len=$len: md5 $got, the guest wrote $md5"
			STATUS=1
		fi
	done < <(grep '^VMTEST CHECK ' "$WORK/console.txt")
	# What the kernel initiator sent and what duetd answered, from the
	# guest's network capture (qemu filter-dump; deleted with the work dir).
	if command -v python3 >/dev/null && [ -s "$WORK/guest.pcap" ]; then
		echo "SCSI commands of the kernel initiator (count, command, answer, example CDB):"
		python3 scripts/vm/iscsi-pcap.py "$WORK/guest.pcap" "$port" | sed 's/^/  /'
	fi
	for f in "$@"; do
		if grep -qiE 'warn|error' "$f"; then
			echo "$(basename "$f"): warnings/errors:"
			grep -iE 'warn|error' "$f" | head -n 40 | sed 's/^/  /'
		fi
	done
}

# vm_fail_dump LOG...: the end of the console and of each log, and keep WORK.
vm_fail_dump() {
	local f
	echo "---- guest console (last 80 lines) ----"
	tail -n 80 "$WORK/console.txt"
	for f in "$@"; do
		echo "---- $(basename "$f") (last 80 lines) ----"
		tail -n 80 "$f"
	done
	KEEP=1
}
