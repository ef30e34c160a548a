#!/usr/bin/env bash
# scripts/testvm itself (the emulated machine the other system tests run in).
# Usage: testvm.sh CASE
# Every run of scripts/testvm here has a deadline: its own TESTVM_TIMEOUT (set to
# 900 s where a machine boots), or the loops' KVMRUN_TEST_DEADLINE.
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
  TESTVM_TIMEOUT=900 TESTVM_NUDGE=1 "$top/scripts/testvm" -- \
    bash -c 'read -r line < /dev/ttyS1; echo "woken:$line:"; sleep 5' > "$out" 2> "$err" || rc=$?
  [ "$rc" = 0 ] || { cat "$out" "$err" >&2; fail "testvm exited with $rc"; }
  [ "$(cat "$out")" = "woken::" ] || { cat "$out" >&2; fail "no nudge read on ttyS1"; }
  [ ! -s "$err" ] || { sed 's/^/  | /' "$err" >&2; fail "testvm's stderr is not empty (nudges echoed?)"; } ;;
bad-opt)
  # Each option refuses a bad or missing value the same way.
  while read -r opt bad; do
    rc=0
    "$top/scripts/testvm" $opt ${bad:+"$bad"} -- true > "$out" 2> "$err" || rc=$?
    [ "$rc" = 2 ] || { cat "$err" >&2; fail "$opt '$bad': exit status $rc, expected 2"; }
    [ "$(wc -l < "$err")" = 1 ] && grep -q -- "^testvm: $opt " "$err" ||
      { cat "$err" >&2; fail "$opt '$bad': not one line naming $opt"; }
    [ ! -s "$out" ] || fail "$opt '$bad': printed on stdout"
  done <<'CASES'
--smp 0
--smp 65
--smp two
--smp -1
--mem 100
--mem 3G
--mem 99999999
--share /nonexistent/dir
CASES
  # A missing value: the option is last.
  for opt in --smp --mem --share; do
    rc=0
    "$top/scripts/testvm" "$opt" > "$out" 2> "$err" || rc=$?
    [ "$rc" = 2 ] && grep -q -- "^testvm: $opt needs a value" "$err" ||
      { cat "$err" >&2; fail "$opt without a value: status $rc"; }
  done ;;
bad-env)
  # Each timing variable refuses what is not whole seconds, in one line naming it,
  # with status 2 and before any machine starts.
  for v in TESTVM_TIMEOUT TESTVM_BOOT_LIMIT TESTVM_NUDGE; do
    for bad in 0 -3 1.5 x 30s 99999999; do
      rc=0
      env "$v=$bad" "$top/scripts/testvm" -- true > "$out" 2> "$err" || rc=$?
      [ "$rc" = 2 ] || { cat "$err" >&2; fail "$v=$bad: exit status $rc, expected 2"; }
      [ "$(wc -l < "$err")" = 1 ] && grep -q "^testvm: $v='$bad': " "$err" ||
        { cat "$err" >&2; fail "$v=$bad: not one line naming $v"; }
      [ ! -s "$out" ] || fail "$v=$bad: printed on stdout"
    done
  done ;;
down)
  # A machine that goes down under the command (here: powered off by sysrq) ends
  # testvm with 125 and a line saying so, not that the command never ran.
  rc=0
  TESTVM_TIMEOUT=900 "$top/scripts/testvm" -- bash -c 'echo o > /proc/sysrq-trigger; sleep 600' \
    > "$out" 2> "$err" || rc=$?
  [ "$rc" = 125 ] || { cat "$out" "$err" >&2; fail "testvm exited with $rc, expected 125"; }
  grep -q '^testvm: the test machine went down while running the command' "$err" ||
    { sed 's/^/  | /' "$err" >&2; fail "no line saying the machine went down"; } ;;
sighup|sigterm|sigint)
  # A signal to testvm (a closed terminal, a CI runner stopping the job, Ctrl-C
  # from a shell) ends its emulated machine too, and testvm with 128 + the signal.
  sig=${1#sig} sig=${sig^^}
  tmp=$(mktemp -d)
  # Its own process group (job control), as from an interactive shell: an
  # asynchronous job of a script would start with SIGINT ignored.
  set -m
  TMPDIR=$tmp "$top/scripts/testvm" -- bash -c 'echo running; exec sleep 3600' > "$out" 2> "$err" &
  tv=$!
  set +m
  qemu_pid=
  # Whatever the outcome, nothing of this run stays behind.
  trap 'if [ -n "$qemu_pid" ]; then kill -9 "$qemu_pid" 2>/dev/null || true; fi
        kill -9 "$tv" 2>/dev/null || true; rm -rf "$out" "$err" "$tmp"' EXIT
  # The boot may take minutes on a loaded host, but not forever.
  deadline=$((SECONDS + ${KVMRUN_TEST_DEADLINE:-900}))
  until grep -q -x running "$out"; do
    kill -0 "$tv" 2>/dev/null || { cat "$out" "$err" >&2; fail "testvm ended before its command ran"; }
    ((SECONDS < deadline)) || { cat "$err" >&2; fail "testvm had not run its command after ${KVMRUN_TEST_DEADLINE:-900}s"; }
    sleep 0.5
  done
  # This run's machine: the one whose control directory is under $tmp.
  qemu_pid=$(pgrep -f -- "^qemu-system-x86_64 .*path=$tmp/testvm-ctl\." | head -1)
  [ -n "$qemu_pid" ] || fail "no qemu process found for this testvm"
  kill -s "$sig" "$tv"
  deadline=$((SECONDS + 60))
  while kill -0 "$qemu_pid" 2>/dev/null || kill -0 "$tv" 2>/dev/null; do
    ((SECONDS < deadline)) || {
      sed 's/^/  | /' "$err" >&2
      kill -0 "$qemu_pid" 2>/dev/null && fail "the machine (qemu $qemu_pid) still runs 60s after SIG$sig to testvm"
      fail "testvm still runs 60s after SIG$sig"
    }
    sleep 0.2
  done
  rc=0; wait "$tv" || rc=$?
  want=$((128 + $(kill -l "$sig")))
  [ "$rc" = "$want" ] || { cat "$err" >&2; fail "testvm exited with $rc after SIG$sig, expected $want"; }
  [ -z "$(ls -A "$tmp")" ] || { ls -l "$tmp" >&2; fail "testvm left its control directory behind"; } ;;
*) fail "unknown case $1" ;;
esac
echo "ok: $1"
