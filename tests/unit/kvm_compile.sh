#!/usr/bin/env bash
# The KVM ioctl wrappers' compile-time size checks: kvm_compile.sh CASE SRC INCDIR CC...
# compiles SRC with CASE_<CASE>; "ok" must compile, every other case must fail
# with the wrapper's own message (not some unrelated error).
set -uo pipefail
case_=$1 src=$2 inc=$3; shift 3
err=$(mktemp)
trap 'rm -f "$err"' EXIT
def=CASE_$(echo "$case_" | tr 'a-z-' 'A-Z_')
rc=0
"$@" -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -fsyntax-only -I "$inc" -D"$def" "$src" \
  2> "$err" || rc=$?
case $case_ in
ok)
  [ "$rc" = 0 ] || { cat "$err" >&2; echo "FAIL: the right uses do not compile" >&2; exit 1; } ;;
*)
  [ "$rc" != 0 ] || { echo "FAIL: $case_: compiled" >&2; exit 1; }
  grep -q -E 'static assertion failed: "KVM_[A-Z0-9_]+( carries a struct|: argument size|: header size)' "$err" ||
    { cat "$err" >&2; echo "FAIL: $case_: not refused by the wrapper's check" >&2; exit 1; } ;;
esac
echo "ok: $case_"
