#!/usr/bin/env bash
# Runs go test with the given arguments and then checks that the run left no loop device, mount
# or /dev link behind, and did not write into the host's default state directory.
set -euo pipefail
cd "$(dirname "$0")/.."

state() {
  losetup --list --noheadings --output NAME,BACK-FILE 2>/dev/null | sort
  sort /proc/self/mounts
}
before=$(mktemp); after=$(mktemp)
trap 'rm -f "$before" "$after"' EXIT
state >"$before"
# Tests give every driver its own directories; the defaults belong to a real deployment.
host_default=/var/lib/tsm-csi
host_default_was_there=0
[ ! -e "$host_default" ] || host_default_was_there=1

set +e
go test -count=1 -timeout 30m "$@"
rc=$?
set -e

state >"$after"
if ! diff -u "$before" "$after" >/dev/null; then
  echo "The tests left loop devices or mounts behind:" >&2
  diff -u "$before" "$after" | grep '^[+-][^+-]' >&2 || true
  [ $rc -ne 0 ] || rc=1
fi
if [ $host_default_was_there -eq 0 ] && [ -e "$host_default" ]; then
  echo "The tests created $host_default (a driver started with the default --state-dir or --tsm-meta-dir):" >&2
  find "$host_default" -maxdepth 2 >&2
  [ $rc -ne 0 ] || rc=1
fi
exit $rc
