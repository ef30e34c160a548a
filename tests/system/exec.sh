#!/usr/bin/env bash
# kvmrun exec with Debian's cloud kernel on the host's root (read-only, under a
# tmpfs overlay): PROGRAM's exit status, kvmrun's own statuses, byte-exact stdout
# and stderr, and the report.
# Usage: exec.sh KVMRUN CASE
. "$(dirname "$0")/lib.sh"

need_kvm "$@"
command -v /usr/lib/qemu/virtiofsd > /dev/null || fail "no /usr/lib/qemu/virtiofsd (qemu-system-common)"
kernel=$(guest_kernel)
modules=$(echo "$(dirname "$kernel")"/lib/modules/*)
work=$(mktemp -d); on_exit "rm -rf '$work'"
# The initramfs cache in a directory of this test's own (the user's may be read-only here).
export KVMRUN_CACHE=$work/cache

# run [kvmrun exec options...] -- PROGRAM...: stdout in $work/out, stderr in $work/err, $rc.
run() {
  set +e
  within "kvmrun exec $*" "$KVMRUN" exec --kernel "$kernel" --modules "$modules" \
    --report "$work/report.json" "$@" > "$work/out" 2> "$work/err" < "${STDIN:-/dev/null}"
  rc=$?
  set -e
}
show() { for f in out err; do sed "s/^/  $f| /" "$work/$f" >&2; done; }
expect_rc() { [ "$rc" = "$1" ] || { show; fail "exit status $rc, expected $1"; }; }
# report KEY: the report's value of KEY (python's repr of it).
report() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
  "$work/report.json" "$1"; }

case $2 in
true)
  run -- true
  expect_rc 0
  [ ! -s "$work/out" ] && [ ! -s "$work/err" ] || { show; fail "output from true"; }
  [ "$(report outcome)" = exited ] || fail "outcome $(report outcome)"
  ;;
exit7)
  run -- sh -c 'echo to-stdout; echo to-stderr >&2; exit 7'
  expect_rc 7
  [ "$(cat "$work/out")" = to-stdout ] || { show; fail "stdout"; }
  [ "$(cat "$work/err")" = to-stderr ] || { show; fail "stderr"; }
  [ "$(report exit_code)" = 7 ] || fail "report exit_code $(report exit_code)"
  ;;
sigkill)
  run -- sh -c 'kill -KILL $$'
  expect_rc 137
  [ "$(report outcome)" = signaled ] && [ "$(report signal)" = 9 ] || fail "report"
  ;;
missing)
  run -- /no/such/program
  expect_rc 127
  [ "$(wc -l < "$work/err")" = 1 ] || { show; fail "not one line on stderr"; }
  ;;
all-bytes)
  fmt=$(for i in $(seq 0 255); do printf '\\%03o' "$i"; done)
  for i in $(seq 0 255); do printf "\\$(printf %03o "$i")"; done > "$work/want"
  [ "$(stat -c %s "$work/want")" = 256 ] || fail "the expected file is not 256 bytes"
  run -- /usr/bin/printf "$fmt"
  expect_rc 0
  cmp "$work/want" "$work/out" || fail "stdout differs from the 256 byte values"
  run -- sh -c '/usr/bin/printf "$1" >&2' sh "$fmt"
  expect_rc 0
  cmp "$work/want" "$work/err" || fail "stderr differs from the 256 byte values"
  ;;
stdin)
  head -c 64M /dev/urandom > "$work/in"
  STDIN=$work/in run -- sh -c 'cat; echo END >&2'
  expect_rc 0
  cmp "$work/in" "$work/out" || fail "stdout differs from stdin"
  [ "$(cat "$work/err")" = END ] || { show; fail "no END after stdin's end"; }
  ;;
timeout)
  run --timeout 5s -- sleep 1000
  expect_rc 124
  [ "$(report outcome)" = timeout ] || fail "outcome $(report outcome)"
  [ "$(wc -l < "$work/err")" = 1 ] && grep -q -- --timeout "$work/err" || { show; fail "stderr"; }
  ;;
panic)
  run -- sh -c 'echo c > /proc/sysrq-trigger; sleep 100'
  expect_rc 125
  [ "$(report outcome)" = guest-panic ] || fail "outcome $(report outcome)"
  grep -q "guest kernel panicked" "$work/err" || { show; fail "stderr"; }
  ;;
env-user)
  run --env FOO=bar --workdir /tmp --user 1000:1001 -- sh -c 'echo "$FOO $(pwd) $(id -u) $(id -g)"'
  expect_rc 0
  [ "$(cat "$work/out")" = "bar /tmp 1000 1001" ] || { show; fail "environment, workdir, user"; }
  ;;
overlay-share)
  mkdir "$work/shared"
  name=kvmrun-exec-overlay-$$
  run --share "$work/shared" -- sh -c "echo in-overlay > /$name && cat /$name &&
    echo to-host > $work/shared/f"
  expect_rc 0
  [ "$(cat "$work/out")" = in-overlay ] || { show; fail "write to / in the guest"; }
  [ ! -e "/$name" ] || fail "a write to the guest's / reached the host"
  [ "$(cat "$work/shared/f")" = to-host ] || fail "the writable share did not get the file"
  ;;
tty)
  # kvmrun on a pty (script(1)); PROGRAM gets one of its own, sized as kvmrun's
  command -v script > /dev/null || fail "no script (util-linux)"
  set +e
  within "kvmrun exec -t" script -qec "stty rows 33 cols 101; '$KVMRUN' exec -t --kernel '$kernel' \
    --modules '$modules' -- sh -c 'test -t 0 && test -t 1 && echo is-a-tty; stty size; exit 3'" \
    /dev/null > "$work/out" 2> "$work/err" < /dev/null
  rc=$?
  set -e
  expect_rc 3
  grep -q is-a-tty "$work/out" || { show; fail "PROGRAM's stdin and stdout are no terminal"; }
  grep -q "33 101" "$work/out" || { show; fail "PROGRAM's terminal is not 33x101"; }
  ;;
four-at-once)
  pids=()
  for i in 1 2 3 4; do
    "$KVMRUN" exec --kernel "$kernel" --modules "$modules" --memory 192M -- \
      sh -c 'echo "vm $1 $(cat /proc/sys/kernel/random/boot_id)"; exit $((40 + $1))' sh "$i" \
      > "$work/out$i" 2> "$work/err$i" < /dev/null &
    pids+=($!)
  done
  for i in 1 2 3 4; do
    set +e
    await "${pids[$((i - 1))]}" "kvmrun exec number $i"
    rc=$?
    set -e
    [ "$rc" = $((40 + i)) ] || { cat "$work/err$i" >&2; fail "exec $i: exit status $rc"; }
    grep -q "^vm $i " "$work/out$i" || { cat "$work/out$i" >&2; fail "exec $i: output"; }
  done
  # four VMs: four boots
  [ "$(cut -d' ' -f3 "$work"/out[1-4] | sort -u | wc -l)" = 4 ] || fail "not four boots"
  ;;
*) fail "unknown case '$2'" ;;
esac
echo "ok: $2"
