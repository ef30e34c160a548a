#!/usr/bin/env bash
# The tests' deadlines (lib.sh): a wait that never ends fails the test, once
# KVMRUN_TEST_DEADLINE seconds have passed, with a line saying what it waited for,
# and what it waited on is killed. Needs no KVM.
# Usage: deadline.sh CASE
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
err=$(mktemp) pidf=$(mktemp)
trap 'rm -f "$err" "$pidf"' EXIT
# What a test does in each case, with the waited-on process's pid written to $1.
case $1 in
within)       body='within "a sleeper" bash -c "echo \$\$ > \"\$0\"; exec sleep 3600" "$1"'
              want='FAIL: a sleeper: not ended after 2s (KVMRUN_TEST_DEADLINE)' ;;
await)        body='sleep 3600 & echo $! > "$1"; await $! "the sleeper"'
              want='FAIL: the sleeper: not ended after 2s (KVMRUN_TEST_DEADLINE)' ;;
wait-bg)      body='log=$(mktemp); : > "$log.err"; sleep 3600 & pid=$!; echo $pid > "$1"; wait_bg'
              want='FAIL: kvmrun (in the background): not ended after 2s (KVMRUN_TEST_DEADLINE)' ;;
wait-console) body='log=$(mktemp); : > "$log.err"; sleep 3600 & pid=$!; echo $pid > "$1"
                    on_exit "kill $pid"; wait_console "^NEVER$"'
              want="FAIL: no console line matched '^NEVER\$' after 2s (KVMRUN_TEST_DEADLINE)" ;;
wait-until)   body='echo > "$1"; wait_until "file /nonexistent" test -e /nonexistent'
              want='FAIL: no file /nonexistent after 2s (KVMRUN_TEST_DEADLINE)' ;;
*) fail "unknown case $1" ;;
esac
# The test's own wait, for lib.sh's: 120 s, far above the 2 s asked for.
rc=0
KVMRUN_TEST_DEADLINE=2 timeout -k 5 120 bash -c ". '$here/lib.sh' /bin/true; $body" _ "$pidf" \
  > /dev/null 2> "$err" || rc=$?
[ "$rc" != 124 ] || fail "$1: still waiting after 120s (asked for 2s)"
[ "$rc" = 1 ] || { cat "$err" >&2; fail "$1: exit status $rc, expected 1"; }
grep -q -x -F -- "$want" "$err" || { cat "$err" >&2; fail "$1: no line '$want'"; }
p=$(cat "$pidf")
if [ -n "$p" ]; then
  for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  ! kill -0 "$p" 2>/dev/null || { kill -9 "$p"; fail "$1: the process waited on still runs"; }
fi
echo "ok: $1"
