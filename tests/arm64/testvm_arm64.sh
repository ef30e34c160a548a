#!/usr/bin/env bash
# scripts/testvm-arm64 itself, on this host. Usage: testvm_arm64.sh CASE
# Every machine here has a deadline of its own (TESTVM_TIMEOUT=900).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
tv=$top/scripts/testvm-arm64
fail() { echo "FAIL: $*" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=$work/stdout err=$work/stderr
export TESTVM_TIMEOUT=900
case $1 in
status)
  # COMMAND's status and output come back; the machine has KVM and 2 CPUs by default;
  # the arguments keep their spaces and quotes; TESTVM_ENV's variables are there.
  rc=0
  FOO="a 'b' c" TESTVM_ENV=FOO "$tv" -- sh -c \
    'echo "cpus=$(cat /sys/devices/system/cpu/online) kvm=$(test -c /dev/kvm && echo yes)"
     echo "arg=$1 foo=$FOO"; exit 7' _ "x  'y' z" > "$out" 2> "$err" || rc=$?
  [ "$rc" = 7 ] || { cat "$out" "$err" >&2; fail "status $rc, expected 7"; }
  [ "$(cat "$out")" = "cpus=0-1 kvm=yes
arg=x  'y' z foo=a 'b' c" ] || { cat "$out" >&2; fail "unexpected output"; } ;;
out)
  # --payload goes in, $TESTVM_OUT comes back into --out.
  mkdir -p "$work/payload/sub" "$work/back"
  head -c 100000 /dev/urandom > "$work/payload/sub/data"
  rc=0
  "$tv" --payload "$work/payload" --out "$work/back" -- sh -c \
    'cp sub/data "$TESTVM_OUT/copy" && mkdir "$TESTVM_OUT/d" && echo hi > "$TESTVM_OUT/d/f"' \
    > "$out" 2> "$err" || rc=$?
  [ "$rc" = 0 ] || { cat "$out" "$err" >&2; fail "status $rc"; }
  cmp "$work/payload/sub/data" "$work/back/copy" || fail "the payload's file did not come back intact"
  [ "$(cat "$work/back/d/f")" = hi ] || fail "no d/f in --out"
  [ ! -e "$work/back/.testvm-status" ] || fail "the status file was left in --out" ;;
bad-opt)
  # Refused with 2 and one line naming the option, before any machine starts.
  while read -r opt bad; do
    rc=0
    "$tv" $opt ${bad:+"$bad"} -- true > "$out" 2> "$err" || rc=$?
    [ "$rc" = 2 ] || { cat "$err" >&2; fail "$opt '$bad': exit status $rc, expected 2"; }
    [ "$(wc -l < "$err")" = 1 ] && grep -q -- "^testvm-arm64: $opt " "$err" ||
      { cat "$err" >&2; fail "$opt '$bad': not one line naming $opt"; }
    [ ! -s "$out" ] || fail "$opt '$bad': printed on stdout"
  done <<'CASES'
--smp 0
--smp 9
--mem 100
--mem 2G
--payload /nonexistent/dir
--gic 4
--gic v3
--gic
--smp
CASES
  rc=0
  TESTVM_TIMEOUT=1.5 "$tv" -- true 2> "$err" || rc=$?
  [ "$rc" = 2 ] && grep -q "^testvm-arm64: TESTVM_TIMEOUT='1.5'" "$err" ||
    { cat "$err" >&2; fail "TESTVM_TIMEOUT=1.5: status $rc"; } ;;
sigterm)
  # SIGTERM ends the machine (no qemu left behind) and testvm-arm64 with 143.
  "$tv" -- sh -c 'echo running; sleep 600' > "$out" 2> "$err" &
  pid=$!
  for ((i = 0; i < 900; i++)); do grep -q running "$out" && break; sleep 1; done
  grep -q running "$out" || { kill "$pid"; cat "$err" >&2; fail "the command never ran"; }
  desc() { local c; for c in $(pgrep -P "$1"); do echo "$c"; desc "$c"; done; }
  q=
  for p in $(desc "$pid"); do
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = qemu-system-aar ] && q=$p
  done
  [ -n "$q" ] || { kill "$pid"; fail "no qemu found under testvm-arm64"; }
  kill -TERM "$pid"
  # testvm-arm64 kills qemu 10 s after a SIGTERM at the latest: two minutes, then a failure.
  for ((i = 0; i < 120; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  ! kill -0 "$pid" 2>/dev/null || { kill -KILL "$pid" "$q"; fail "testvm-arm64 still runs 120 s after SIGTERM"; }
  rc=0; wait "$pid" || rc=$?
  [ "$rc" = 143 ] || { cat "$err" >&2; fail "status $rc, expected 143"; }
  ! kill -0 "$q" 2>/dev/null || { kill -KILL "$q"; fail "qemu $q still runs"; } ;;
*) fail "unknown case $1" ;;
esac
