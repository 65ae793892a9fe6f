#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Build a tiny Linux guest (kernel + initramfs) whose /init logs in to an
# iSCSI target with the real kernel initiator (open-iscsi + iscsi_tcp) and
# checks O_DIRECT I/O. Used by scripts/vm/run-guest.sh.
#
# Nothing is installed on the host: the Debian packages are fetched with
# `apt-get download` and unpacked with `dpkg-deb -x`. Everything is cached in
# $VMDIR (default build/vm); a second run reuses the downloads.
#
#   scripts/vm/build-guest.sh            -> $VMDIR/vmlinuz, $VMDIR/initrd.gz
# Env: VMDIR, KFLAVOUR (cloud-amd64 or amd64; default cloud-amd64: fewer
#      drivers, boots faster under TCG), KPKG (exact kernel package name).
# Exit 0 built, 77 the packages cannot be had (no apt / no archive), 1 error.
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=$PWD/scripts/vm
VMDIR=${VMDIR:-build/vm}
KFLAVOUR=${KFLAVOUR:-cloud-amd64}
mkdir -p "$VMDIR/debs"
VMDIR=$(cd "$VMDIR" && pwd)
DEBS=$VMDIR/debs
ROOT=$VMDIR/root
STAGE=$VMDIR/initramfs

skip() { echo "SKIP: $*" >&2; exit 77; }

command -v dpkg-deb >/dev/null || skip "dpkg-deb not found (needs a Debian host)"

# Packages: kernel image, busybox, open-iscsi and the libraries it needs
# that a Debian host may lack. The rest (libc, libcrypto, libmount, ...)
# are resolved below from the unpacked tree first, then from the host.
pick_kernel() {
	apt-cache search --names-only "^linux-image-6\.1\.0-[0-9]+-${KFLAVOUR}\$" 2>/dev/null |
		awk '{print $1}' | sort -V | tail -n 1
}
if [ -z "${KPKG:-}" ]; then
	if [ -f "$DEBS/.kernel" ]; then
		KPKG=$(cat "$DEBS/.kernel")
	else
		command -v apt-cache >/dev/null || skip "apt-cache not found"
		KPKG=$(pick_kernel)
		[ -n "$KPKG" ] || skip "no linux-image-6.1.0-*-$KFLAVOUR in the apt archive (apt-get update?)"
	fi
fi
PKGS="$KPKG busybox-static open-iscsi libisns0 libopeniscsiusr libkmod2"

need=()
for p in $PKGS; do
	ls "$DEBS/${p}"_*.deb >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	echo "vm: downloading ${need[*]}"
	(cd "$DEBS" && apt-get download -q "${need[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2) ||
		skip "apt-get download ${need[*]} failed"
	for p in "${need[@]}"; do
		ls "$DEBS/${p}"_*.deb >/dev/null 2>&1 || skip "apt-get download $p produced no .deb"
	done
fi
echo "$KPKG" >"$DEBS/.kernel"

if [ ! -f "$ROOT/.done" ] || [ "$ROOT/.done" -ot "$DEBS/.kernel" ]; then
	rm -rf "$ROOT"
	mkdir -p "$ROOT"
	for p in $PKGS; do
		dpkg-deb -x "$(ls "$DEBS/${p}"_*.deb | sort -V | tail -n 1)" "$ROOT"
	done
	touch "$ROOT/.done"
fi

KVER=$(ls "$ROOT/lib/modules" | head -n 1)
[ -n "$KVER" ] || { echo "vm: no kernel modules in $KPKG" >&2; exit 1; }
cp "$ROOT/boot/vmlinuz-$KVER" "$VMDIR/vmlinuz"

# --- initramfs -----------------------------------------------------------
rm -rf "$STAGE"
mkdir -p "$STAGE"/{bin,sbin,etc/iscsi,proc,sys,dev,run/lock/iscsi,tmp,var/lib/iscsi,lib/modules}
cp "$ROOT/bin/busybox" "$STAGE/bin/busybox"
ln -sf busybox "$STAGE/bin/sh" # the rest: busybox --install in /init
cp "$ROOT/sbin/iscsid" "$ROOT/sbin/iscsiadm" "$STAGE/sbin/"
# BLKZEROOUT helper (static; optional: the guest skips that step without it)
if ${CC:-cc} -static -O2 -o "$STAGE/bin/blkzeroout" "$HERE/blkzeroout.c" 2>"$VMDIR/blkzeroout.err"; then
	strip "$STAGE/bin/blkzeroout" 2>/dev/null || true
else
	echo "vm: note: cannot build a static blkzeroout (see $VMDIR/blkzeroout.err); the guest skips BLKZEROOUT" >&2
	rm -f "$STAGE/bin/blkzeroout"
fi

# Shared libraries of iscsid/iscsiadm: the unpacked packages first, then
# the host's own (a Debian 12 host matches the packages' ABI).
LIBPATH="$ROOT/lib/x86_64-linux-gnu:$ROOT/usr/lib/x86_64-linux-gnu"
mkdir -p "$STAGE/lib/x86_64-linux-gnu" "$STAGE/lib64"
for bin in "$STAGE/sbin/iscsid" "$STAGE/sbin/iscsiadm"; do
	LD_LIBRARY_PATH=$LIBPATH ldd "$bin" | awk '/=>/ {print $3} /ld-linux/ {print $1}'
done | sort -u | while read -r lib; do
	[ -n "$lib" ] || continue
	[ -f "$lib" ] || { echo "vm: missing library $lib" >&2; exit 1; }
	case "$lib" in
	*/ld-linux-x86-64.so.2) cp -L "$lib" "$STAGE/lib64/ld-linux-x86-64.so.2" ;;
	*) cp -L "$lib" "$STAGE/lib/x86_64-linux-gnu/$(basename "$lib")" ;;
	esac
done

# Kernel modules, in load order (dependencies first), from each .ko's
# own "depends=" modinfo field (no depmod/modinfo needed on the host).
MODDIR=$ROOT/lib/modules/$KVER
declare -A MODPATH=()
while read -r f; do
	b=$(basename "$f" .ko)
	MODPATH[${b//-/_}]=$f
done < <(cd "$MODDIR" && find kernel -name '*.ko')
ORDER=()
declare -A SEEN=()
add_mod() {
	local m=${1//-/_} deps d
	[ -n "${SEEN[$m]:-}" ] && return 0
	SEEN[$m]=1
	[ -n "${MODPATH[$m]:-}" ] || return 0 # built in
	deps=$(tr '\0' '\n' <"$MODDIR/${MODPATH[$m]}" | sed -n 's/^depends=//p' | head -n 1)
	for d in ${deps//,/ }; do add_mod "$d"; done
	ORDER+=("$m")
}
for m in virtio_pci virtio_net crc32c_intel scsi_mod sd_mod iscsi_tcp; do
	add_mod "$m"
done
: >"$STAGE/etc/modules.order"
for m in "${ORDER[@]}"; do
	cp "$MODDIR/${MODPATH[$m]}" "$STAGE/lib/modules/$m.ko"
	echo "$m" >>"$STAGE/etc/modules.order"
done

# open-iscsi configuration: the package's stock iscsid.conf, unchanged.
cp "$ROOT/etc/iscsi/iscsid.conf" "$STAGE/etc/iscsi/iscsid.conf"
echo "InitiatorName=iqn.2026-11.org.example:vmtest" >"$STAGE/etc/iscsi/initiatorname.iscsi"
echo "root:x:0:0:root:/:/bin/sh" >"$STAGE/etc/passwd"
echo "root:x:0:" >"$STAGE/etc/group"
: >"$STAGE/etc/fstab"
cp "$HERE/guest-init.sh" "$STAGE/init"
chmod 755 "$STAGE/init"

(cd "$STAGE" && find . | LC_ALL=C sort | "$STAGE/bin/busybox" cpio -o -H newc 2>/dev/null) |
	gzip -1 >"$VMDIR/initrd.gz.tmp"
mv "$VMDIR/initrd.gz.tmp" "$VMDIR/initrd.gz"
echo "vm: kernel $KVER, modules: ${ORDER[*]}"
echo "vm: built $VMDIR/vmlinuz and $VMDIR/initrd.gz ($(du -k "$VMDIR/initrd.gz" | cut -f1) KiB)"
