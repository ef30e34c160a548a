#!/usr/bin/env bash
# scripts/testvm itself (the emulated machine the other system tests run in).
# Usage: testvm.sh CASE
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
case $1 in
nudge)
  # The nudges reach the machine as lines on ttyS1 (a read there returns), and
  # none of them comes back out: ttyS1 is the command's stderr, with echo off.
  rc=0
  TESTVM_NUDGE=1 "$top/scripts/testvm" -- \
    bash -c 'read -r line < /dev/ttyS1; echo "woken:$line:"; sleep 5' > "$out" 2> "$err" || rc=$?
  [ "$rc" = 0 ] || { cat "$out" "$err" >&2; fail "testvm exited with $rc"; }
  [ "$(cat "$out")" = "woken::" ] || { cat "$out" >&2; fail "no nudge read on ttyS1"; }
  [ ! -s "$err" ] || { sed 's/^/  | /' "$err" >&2; fail "testvm's stderr is not empty (nudges echoed?)"; } ;;
*) fail "unknown case $1" ;;
esac
echo "ok: $1"
