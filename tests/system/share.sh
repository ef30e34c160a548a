#!/usr/bin/env bash
# --share: virtio-fs served by virtiofsd over vhost-user, with Debian's cloud kernel.
# What the guest writes reaches the host directory and back, ro refuses writes, the
# daemon's end does not take kvmrun with it, kvmrun's end takes the daemon, and the
# user's mistakes get one line and their exit status.
# Usage: share.sh KVMRUN CASE
. "$(dirname "$0")/lib.sh"

# Usage errors that the command line catches: no KVM needed.
case $2 in
bad-dup-tags | bad-long-tag)
  err=$(mktemp); on_exit "rm -f '$err'"
  set +e
  if [ "$2" = bad-dup-tags ]; then
    within "kvmrun --share twice" "$KVMRUN" run --kernel /nonexistent --share /tmp,tag=x \
      --share /,tag=x > /dev/null 2> "$err" < /dev/null
  else
    within "kvmrun --share long tag" "$KVMRUN" run --kernel /nonexistent \
      --share "/tmp,tag=$(printf 'a%.0s' {1..37})" > /dev/null 2> "$err" < /dev/null
  fi
  rc=$?
  set -e
  [ "$rc" = 2 ] || { cat "$err" >&2; fail "exit status $rc, expected 2"; }
  [ "$(wc -l < "$err")" = 1 ] || { cat "$err" >&2; fail "not one line on stderr"; }
  want="tag 'x' already used"
  [ "$2" = bad-long-tag ] && want="tag longer than 36 bytes"
  grep -q -- "--share.*$want" "$err" || { cat "$err" >&2; fail "stderr does not say '$want'"; }
  echo "ok: $2"; exit 0 ;;
esac

need_kvm "$@"
[ "$2" = no-virtiofsd-inner ] || [ -x /usr/lib/qemu/virtiofsd ] ||
  fail "no /usr/lib/qemu/virtiofsd (qemu-system-common)"
host=$(mktemp -d); on_exit "rm -rf '$host'"
# No virtiofsd of this test may outlive it.
on_exit "pkill -KILL -f -- '-o source=$host( |\$)' || true"
daemons() { pgrep -f -- "-o source=$host( |\$)" || true; }
no_daemons() { [ -z "$(daemons)" ]; }

# bad STATUS PATTERN kvmrun-args...: exit status, one line on stderr, no daemon left.
bad() {
  local want=$1 pattern=$2 err=$host/err; shift 2
  set +e
  within "kvmrun $*" "$KVMRUN" run --kernel "$(guest_kernel)" --console none "$@" \
    > /dev/null 2> "$err" < /dev/null
  rc=$?
  set -e
  [ "$rc" = "$want" ] || { cat "$err" >&2; fail "exit status $rc, expected $want"; }
  [ "$(wc -l < "$err")" = 1 ] || { cat "$err" >&2; fail "not one line on stderr"; }
  grep -q -- "$pattern" "$err" || { cat "$err" >&2; fail "stderr does not say '$pattern'"; }
  rm -f "$err"
  wait_until "virtiofsd gone after kvmrun failed" no_daemons
}

case $2 in
write-16m)
  echo "from the host" > "$host/hello"
  boot "share-write kvmrun.tags=t" --memory 512M --share "$host,tag=t"
  expect_rc 0; expect_line MOUNT_t=0; expect_line SHARE-DONE
  expect_line "HELLO=from the host"
  expect_line COPY_RC=0; expect_line UMOUNT_RC=0
  sum=$(value SUM)
  [ ${#sum} = 64 ] || { show; fail "no checksum from the guest"; }
  [ "$(value SUM_SHARE)" = "$sum" ] || { show; fail "the guest read back $(value SUM_SHARE)"; }
  [ "$(stat -c %s "$host/data")" = $((16 << 20)) ] || { show; fail "data is not 16 MiB on the host"; }
  [ "$(sha256sum < "$host/data" | cut -d' ' -f1)" = "$sum" ] ||
    { show; fail "the host's copy differs from what the guest wrote"; } ;;
host-change)
  echo first > "$host/file"
  boot_bg "share-watch kvmrun.tags=t" --share "$host,tag=t"
  wait_console '^SHARE-READY$'
  echo second > "$host/file"
  wait_bg
  expect_rc 0; expect_line FIRST=first
  expect_line SEEN=second ;;
ro)
  echo "read me" > "$host/hello"
  before=$(stat -c %Y:%s "$host/hello")
  boot "share-ro kvmrun.tags=t" --share "$host,tag=t,ro"
  expect_rc 0; expect_line MOUNT_t=0; expect_line SHARE-DONE
  expect_line "READ=read me"; expect_line "READ_AGAIN=read me"
  for w in NEW APPEND MKDIR; do
    [ "$(value ${w}_RC)" != 0 ] || { show; fail "$w: a write to a ro share succeeded"; }
    value ${w}_ERR | grep -q "Read-only file system" || { show; fail "$w: not EROFS"; }
  done
  [ "$(value RM_RC)" != 0 ] || { show; fail "rm on a ro share succeeded"; }
  [ "$(cat "$host/hello")" = "read me" ] || fail "the host file changed"
  [ ! -e "$host/new" ] && [ ! -e "$host/dir" ] || fail "the guest created files on a ro share"
  [ "$(stat -c %Y:%s "$host/hello")" = "$before" ] || fail "hello's mtime or size changed"
  # The host itself may still write there: the read-only mount was the daemon's alone.
  touch "$host/host-may-write" ;;
two-shares)
  mkdir "$host/a" "$host/b"
  echo "I am a" > "$host/a/hello"; echo "I am b" > "$host/b/hello"
  boot "share-two kvmrun.tags=first,b" --share "$host/a,tag=first" --share "$host/b"
  expect_rc 0; expect_line SHARE-DONE
  expect_line MOUNT_first=0; expect_line MOUNT_b=0
  expect_line "READ_first=I am a"; expect_line "READ_b=I am b"
  expect_line WROTE_first=0; expect_line WROTE_b=0
  [ "$(value BOGUS_RC)" != 0 ] || { show; fail "an unknown tag mounted"; }
  [ "$(cat "$host/a/back")" = from-guest-first ] || fail "a/back: $(cat "$host/a/back")"
  [ "$(cat "$host/b/back")" = from-guest-b ] || fail "b/back: $(cat "$host/b/back")" ;;
daemon-killed)
  # The daemon killed while the guest reads: the device breaks, the VM runs on and
  # powers off normally.
  head -c 32M /dev/urandom > "$host/big"
  fifo=$(mktemp -u); mkfifo "$fifo"; exec 3<>"$fifo"; on_exit "rm -f '$fifo'"
  BOOT_STDIN=$fifo boot_bg "share-read-kill kvmrun.tags=t" --share "$host,tag=t"
  wait_console '^SHARE-READING$'
  [ -n "$(daemons)" ] || fail "no virtiofsd for $host while the guest reads"
  pkill -KILL -f -- "-o source=$host( |\$)"
  wait_until "virtiofsd gone after pkill" no_daemons
  echo killed >&3
  wait_bg
  expect_rc 0
  expect_line SHARE-AFTER-KILL ;;
kvmrun-killed)
  boot_bg "share-idle kvmrun.tags=t" --console none --share "$host,tag=t"
  wait_console '^SHARE-MOUNTED$'
  [ -n "$(daemons)" ] || fail "no virtiofsd for $host"
  # Stopped, the daemon kvmrun started cannot end by itself on the socket's EOF:
  # only the signal kvmrun's death sends it (PR_SET_PDEATHSIG, SIGKILL) ends it.
  # With sandbox=namespace it serves from a child in a PID namespace of its own,
  # which virtiofsd itself ends (SIGTERM) when its parent goes: left running.
  direct=$(pgrep -P "$pid" -f -- "-o source=$host( |\$)" || true)
  [ -n "$direct" ] || fail "no virtiofsd child of kvmrun for $host"
  kill -STOP $direct
  kill -KILL "$pid"
  await "$pid" "kvmrun after SIGKILL" || true
  wait_until "virtiofsd gone after kvmrun's SIGKILL" no_daemons ;;
no-virtiofsd)
  # Neither package's place holds one (hidden in a private mount namespace), nor $PATH.
  KVMRUN=$KVMRUN unshare -m bash -c '
    mount --make-rprivate / && mount -t tmpfs none /usr/lib/qemu &&
    if [ -d /usr/libexec ]; then mount -t tmpfs none /usr/libexec; fi &&
    exec bash "$0" "$1" no-virtiofsd-inner' "$0" "$1" ;;
no-virtiofsd-inner)
  PATH=/usr/bin:/bin bad 3 "virtiofsd not found: install qemu-system-common (Debian 12)" \
    --share "$host" ;;
virtiofsd-path-missing)
  bad 3 "virtiofsd not found at /nonexistent/virtiofsd" --share "$host,virtiofsd=/nonexistent/virtiofsd" ;;
dir-missing)
  bad 3 "\-\-share $host/none: No such file or directory" --share "$host/none" ;;
not-a-dir)
  : > "$host/file"
  bad 3 "\-\-share $host/file: not a directory" --share "$host/file,tag=f" ;;
daemon-exits)
  # A daemon that ends at start: its last line on stderr is shown.
  printf '#!/bin/sh\necho "starting" >&2\necho "fake virtiofsd: cannot serve %s" >&2\nexit 1\n' \
    "source=$host" > "$host/vfsd"
  chmod +x "$host/vfsd"
  bad 3 "fake virtiofsd: cannot serve source=$host" --share "$host,virtiofsd=$host/vfsd" ;;
*) fail "unknown case $2" ;;
esac
echo "ok: $2"
