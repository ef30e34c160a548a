#!/usr/bin/env bash
# kvmrun exec with Debian's cloud kernel on the host's root (read-only, under a
# tmpfs overlay): PROGRAM's exit status, kvmrun's own statuses, byte-exact stdout
# and stderr, and the report.
# Usage: exec.sh KVMRUN CASE
. "$(dirname "$0")/lib.sh"

need_kvm "$@"
exec_setup

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
noexec)
  # a file without x, in a share: found, not runnable
  mkdir "$work/d"; printf '#!/bin/sh\necho ran\n' > "$work/d/script"; chmod 644 "$work/d/script"
  run --share "$work/d" -- "$work/d/script"
  expect_rc 126
  [ ! -s "$work/out" ] || { show; fail "output from a file that cannot run"; }
  [ "$(wc -l < "$work/err")" = 1 ] && grep -q "cannot run" "$work/err" || { show; fail "stderr"; }
  [ "$(report outcome)" = exited ] || fail "outcome $(report outcome)"
  ;;
sigterm | sigint)
  # kvmrun in the background (env: SIGINT not ignored there), the signal once PROGRAM
  # said it runs; kvmrun's status and the report are PROGRAM's: a trap's, or 128+N
  if [ "$2" = sigterm ]; then
    sig=TERM want=42 prog='trap "exit 42" TERM; echo ready; sleep 1000 & wait'
  else
    sig=INT want=130 prog='echo ready; exec sleep 1000'
  fi
  env --default-signal=INT "$KVMRUN" exec --kernel "$kernel" --modules "$modules" \
    --report "$work/report.json" -- sh -c "$prog" > "$work/out" 2> "$work/err" < /dev/null &
  pid=$!
  on_exit "kill -9 $pid"
  ready_or_gone() { grep -q ready "$work/out" || ! kill -0 "$pid" 2>/dev/null; }
  wait_until "PROGRAM's ready line" ready_or_gone
  grep -q ready "$work/out" || { show; fail "kvmrun ended before PROGRAM was ready"; }
  kill -"$sig" "$pid"
  set +e; await "$pid" "kvmrun exec after SIG$sig"; rc=$?; set -e
  expect_rc "$want"
  if [ "$2" = sigterm ]; then
    [ "$(report outcome)" = exited ] && [ "$(report exit_code)" = 42 ] ||
      { show; fail "report: outcome $(report outcome), exit_code $(report exit_code)"; }
  else
    [ "$(report outcome)" = signaled ] && [ "$(report signal)" = 2 ] ||
      { show; fail "report: outcome $(report outcome), signal $(report signal)"; }
  fi
  ;;
stream)
  # 64 MiB of stdout through a pipe on the host: every byte, in order (checksum).
  # EXEC_STREAM_BYTES=1073741824 for 1 GiB: 4.5 minutes in a loaded test machine,
  # where this suite's cases should stay well under one.
  size=${EXEC_STREAM_BYTES:-67108864}
  if [ "$size" = 1073741824 ]; then # sha256sum of 1 GiB of zeros, not computed again here
    want=49bc20df15e412a64472421e13fe86ff1c5165e18b2afccf160d4dc19fe68a14
  else
    want=$(head -c "$size" /dev/zero | sha256sum | cut -d' ' -f1)
  fi
  : > "$work/out"
  t0=$SECONDS
  set +e
  within "kvmrun exec head -c $size" bash -c 'set -o pipefail; "${@:2}" | sha256sum > "$1"' \
    bash "$work/sum" "$KVMRUN" exec --kernel "$kernel" --modules "$modules" --report "$work/report.json" \
    -- head -c "$size" /dev/zero 2> "$work/err" < /dev/null
  rc=$?
  set -e
  expect_rc 0
  echo "stream: $size bytes in $((SECONDS - t0)) s" >&2
  [ "$(cut -d' ' -f1 "$work/sum")" = "$want" ] || fail "stdout's checksum differs"
  python3 -c 'import json,sys; b=json.load(open(sys.argv[1]))["bytes"]["stdout"]; sys.exit(b != int(sys.argv[2]))' \
    "$work/report.json" "$size" || fail "the report's stdout bytes are not $size"
  ;;
share-socket)
  # --share socket=PATH,tag=TAG,path=GUESTDIR: a virtiofsd the test started, mounted there
  mkdir "$work/d"; echo from-daemon > "$work/d/f"
  sandbox=namespace
  [[ $(stat -c %d:%i /) == $(stat -c %d:%i /proc/1/root) ]] || sandbox=chroot
  /usr/lib/qemu/virtiofsd --socket-path="$work/vfs.sock" -o source="$work/d" \
    -o sandbox=$sandbox -o cache=auto 2> "$work/vfsd.err" < /dev/null &
  vpid=$!
  on_exit "kill -9 $vpid"
  wait_until "virtiofsd's socket" test -S "$work/vfs.sock"
  run --share "socket=$work/vfs.sock,tag=ext,path=/mnt/ext" -- \
    sh -c 'cat /mnt/ext/f && echo from-guest > /mnt/ext/g'
  expect_rc 0
  [ "$(cat "$work/out")" = from-daemon ] || { show; fail "the share's file in the guest"; }
  [ "$(cat "$work/d/g")" = from-guest ] || fail "the guest's write did not reach the daemon's directory"
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
