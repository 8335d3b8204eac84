#!/usr/bin/env bash
# Makes sure the tools the driver and its tests use are installed. As root on Debian it installs
# what is missing; elsewhere it stops and names the packages. It never skips silently.
set -euo pipefail

need=()
check() { command -v "$1" >/dev/null 2>&1 || need+=("$2"); }
check losetup util-linux
check fsfreeze util-linux
check blkid util-linux
check mkfs.ext4 e2fsprogs
check resize2fs e2fsprogs
check mkfs.xfs xfsprogs
check xfs_growfs xfsprogs
check xfs_io xfsprogs
check shellcheck shellcheck   # hack/lint.sh

if ! command -v go >/dev/null 2>&1; then
  echo "Go is not installed (need Go 1.26 or newer on PATH)." >&2
  exit 1
fi

if [ ${#need[@]} -gt 0 ]; then
  pkgs=$(printf '%s\n' "${need[@]}" | sort -u | tr '\n' ' ')
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing: $pkgs"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq $pkgs >/dev/null
  else
    echo "Missing tools. Install these packages (as root): $pkgs" >&2
    exit 1
  fi
fi

if [ "$(id -u)" != 0 ]; then
  echo "The tests use loop devices, mounts and /dev links: run as root." >&2
  exit 1
fi
# Loop devices are created on demand through /dev/loop-control.
if [ ! -e /dev/loop-control ]; then
  modprobe loop 2>/dev/null || { echo "No loop device support (/dev/loop-control missing; load the loop module)." >&2; exit 1; }
fi
