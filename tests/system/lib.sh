# Shared by the system tests (sourced). Tests call: need_kvm "$@" first; it re-runs
# the test inside scripts/testvm when this host has no usable /dev/kvm.
# $KVMRUN is the binary under test (the tests' first argument).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KVMRUN=$(realpath "${KVMRUN:-$1}")
cache=${KVMRUN_CACHE:-${HOME:-/var/tmp}/.cache/kvmrun}

fail() { echo "FAIL: $*" >&2; exit 1; }

# Deadlines: every wait of a test (for a line, a file, a process) fails the test
# after $KVMRUN_TEST_DEADLINE seconds (default 600) with a message saying what it
# waited for, so that a hang ends instead of holding the run. Generous on purpose:
# inside the emulated test machine a Linux boot takes 10-30 s, a freestanding
# guest up to a few minutes. Never a measure of speed.
KVMRUN_TEST_DEADLINE=${KVMRUN_TEST_DEADLINE:-600}
[[ $KVMRUN_TEST_DEADLINE =~ ^[1-9][0-9]{0,6}$ ]] ||
  fail "KVMRUN_TEST_DEADLINE='$KVMRUN_TEST_DEADLINE': must be whole seconds"
# await PID WHAT: waits for the background job PID (a child of this shell) and
# returns its status; past the deadline kills it (SIGKILL) and fails, naming WHAT.
await() {
  local end=$((SECONDS + KVMRUN_TEST_DEADLINE))
  while kill -0 "$1" 2>/dev/null; do
    if ((SECONDS >= end)); then
      kill -KILL "$1" 2>/dev/null
      fail "$2: not ended after ${KVMRUN_TEST_DEADLINE}s (KVMRUN_TEST_DEADLINE)"
    fi
    sleep 0.1
  done
  wait "$1"
}
# within WHAT CMD [ARGS...]: runs CMD (with the caller's redirections) and returns
# its status; fails as await does if it has not ended by the deadline.
within() {
  local what=$1 p
  shift
  "$@" <&0 &
  p=$!
  await "$p" "$what"
}
# wait_until WHAT CMD [ARGS...]: until CMD succeeds, every 0.1 s; fails past the
# deadline, saying it was waiting for WHAT.
wait_until() {
  local what=$1 end=$((SECONDS + KVMRUN_TEST_DEADLINE))
  shift
  until "$@"; do
    ((SECONDS < end)) || fail "no $what after ${KVMRUN_TEST_DEADLINE}s (KVMRUN_TEST_DEADLINE)"
    sleep 0.1
  done
}

# on_exit CMD: run CMD (one shell word, evaluated then) when the test exits, after
# what was registered before it fails or not; later ones first.
exit_cmds=()
on_exit() {
  exit_cmds=("$1" "${exit_cmds[@]}")
  trap 'for c in "${exit_cmds[@]}"; do eval "$c" 2>/dev/null || true; done' EXIT
}

# For kvmrun exec's tests: virtiofsd there, $kernel and its $modules, a $work
# directory removed at exit, and exec's initramfs cache in it (the user's may be
# read-only here).
exec_setup() {
  command -v /usr/lib/qemu/virtiofsd > /dev/null || fail "no /usr/lib/qemu/virtiofsd (qemu-system-common)"
  kernel=$(guest_kernel)
  modules=$(echo "$(dirname "$kernel")"/lib/modules/*)
  work=$(mktemp -d); on_exit "rm -rf '$work'"
  export KVMRUN_CACHE=$work/cache
}

# The guest: Debian's cloud kernel and a busybox initramfs with tests/system/guest-init.
guest_kernel() { echo "$("$top/scripts/fetch-guest-kernel" cloud)/vmlinuz"; }
# The modules the tests' init loads, and the programs the disk tests run in the guest.
guest_modules="pvpanic_mmio virtio_pci virtio_rng virtio_blk virtio_console virtio_net ext4 crc32c_generic fuse virtiofs"
guest_programs="/sbin/mkfs.ext4 /usr/bin/socat"
guest_initrd() {
  local kdir key out p bins=()
  kdir=$("$top/scripts/fetch-guest-kernel" cloud)
  key=$({ cat "$top/tests/system/guest-init" "$kdir/version" "$top/scripts/mkinitramfs"
          echo "$guest_modules $guest_programs"; } | md5sum | cut -c1-12)
  out=$cache/guest/initrd-$key.gz
  if [ ! -f "$out" ]; then
    mkdir -p "$cache/guest"
    for p in $guest_programs; do bins+=(--binary "$p"); done
    "$top/scripts/mkinitramfs" --kernel-dir "$kdir" --modules "$guest_modules" "${bins[@]}" \
      --init "$top/tests/system/guest-init" -o "$out.tmp" && mv "$out.tmp" "$out"
  fi
  echo "$out"
}

# Re-run the calling test inside the emulated machine unless /dev/kvm works here.
need_kvm() {
  if [ -z "${TESTVM_OUT:-}" ] && ! kvm_usable; then
    guest_kernel >/dev/null
    guest_initrd >/dev/null
    TESTVM_ENV="ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS KVMRUN_TEST_DEADLINE ${TESTVM_ENV:-}" \
      exec "$top/scripts/testvm" -- env KVMRUN="$KVMRUN" bash "$0" "$@"
  fi
}
kvm_usable() { [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] && grep -q -E 'vmx|svm' /proc/cpuinfo; }

# Boot the test guest: boot ACTION [kvmrun options...]; output in $out, status in $rc.
boot() {
  local action=$1; shift
  out=$(mktemp)
  local kernel initrd
  kernel=$(guest_kernel) initrd=$(guest_initrd)
  set +e
  within "kvmrun (guest action $action)" "$KVMRUN" run --kernel "$kernel" --initrd "$initrd" \
    --append "quiet kvmrun.test=$action" "$@" > "$out" 2>&1 < "${BOOT_STDIN:-/dev/null}"
  rc=$?
  set -e
  tr -d '\r' < "$out" > "$out.clean"; mv "$out.clean" "$out"
}
# Start it in the background: boot_bg ACTION [kvmrun options...]; the console is
# logged to $log, kvmrun's stdout and stderr go to $log.err, its pid is $pid. Then
# wait_console ERE until a whole console line matches (the UART sends a byte at a
# time), and wait_bg for its end: status in $rc, console log and stderr in $out.
boot_bg() {
  local action=$1; shift
  log=$(mktemp); : > "$log.err"
  # Not fd 3, the test's end of a fifo: a kvmrun left behind would never see EOF.
  "$KVMRUN" run --kernel "$(guest_kernel)" --initrd "$(guest_initrd)" \
    --append "quiet kvmrun.test=$action" --console-log "$log" "$@" \
    > "$log.err" 2>&1 < "${BOOT_STDIN:-/dev/null}" 3>&- &
  pid=$!
  on_exit "kill -9 $pid"
}
wait_console() {
  local end=$((SECONDS + KVMRUN_TEST_DEADLINE))
  # grep -c reads to the end: a grep -q that stopped early could leave tr to die of
  # SIGPIPE and fail the pipe (pipefail). No <(...): the test machine has no /dev/fd.
  until tr -d '\r' < "$log" | grep -c -E -- "$1" > /dev/null; do
    kill -0 "$pid" 2>/dev/null || { cat "$log" "$log.err" >&2; fail "kvmrun ended before a line matched '$1'"; }
    ((SECONDS < end)) || { cat "$log" "$log.err" >&2
      fail "no console line matched '$1' after ${KVMRUN_TEST_DEADLINE}s (KVMRUN_TEST_DEADLINE)"; }
    sleep 0.1
  done
}
wait_bg() {
  set +e; await "$pid" "kvmrun (in the background)"; rc=$?; set -e
  out=$(mktemp); tr -d '\r' < "$log" > "$out"; cat "$log.err" >> "$out"
}
show() { sed 's/^/  | /' "$out" >&2; }
expect_rc() { [ "$rc" = "$1" ] || { show; fail "exit status $rc, expected $1"; }; }
expect_line() { grep -q -x -- "$1" "$out" || { show; fail "no line '$1' in the output"; }; }
value() { sed -n "s/^$1=//p" "$out" | head -1; }

# A fresh ext4 file system of SIZE on a loop device, mounted on the new directory
# $scratch, so that images get a real block file system (O_DIRECT, fallocate) wherever
# this runs; unmounted and removed when the test exits. Its inode tables and journal
# are written now, not by the kernel in the background while the first VM runs.
scratch_fs() {
  scratch_img=$(mktemp "${TMPDIR:-/tmp}/scratch.XXXXXX.img") scratch=$(mktemp -d)
  on_exit "umount '$scratch'; rm -rf '$scratch' '$scratch_img'"
  truncate -s "$1" "$scratch_img"
  mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$scratch_img"
  mount -o loop "$scratch_img" "$scratch" || fail "cannot mount a loop device (needs root)"
}
