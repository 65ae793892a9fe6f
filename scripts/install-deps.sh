#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Install what duet needs to build and test (Debian 12). Idempotent and quiet
# when everything is already installed.
set -euo pipefail

PKGS=(build-essential pkg-config clang libclang-rt-14-dev libevent-dev
      libconfig-dev libcmocka-dev liburing-dev libisal-dev libssl-dev
      libiscsi-dev libiscsi-bin iproute2 qemu-utils qemu-block-extra tgt
      procps psmisc qemu-system-x86)

missing=()
for p in "${PKGS[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: run as root: apt-get install -y --no-install-recommends ${missing[*]}" >&2
	exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
