#!/usr/bin/env bash
# Runs go test with the given arguments and then checks that the run left no loop device, mount
# or /dev link behind.
set -euo pipefail
cd "$(dirname "$0")/.."

state() {
  losetup --list --noheadings --output NAME,BACK-FILE 2>/dev/null | sort
  sort /proc/self/mounts
}
before=$(mktemp); after=$(mktemp)
trap 'rm -f "$before" "$after"' EXIT
state >"$before"

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
exit $rc
