#!/usr/bin/env bash
# Usage: run.sh KVMRUN CASE GUEST_ELF
#
# Boots one freestanding test guest (a PVH ELF from firmware/) with kvmrun and
# checks kvmrun's exit status and the lines the guest printed on its console.
# Without a usable /dev/kvm here, re-runs itself inside scripts/testvm; exits
# 77 (skip) only when no KVM can be had at all. Each kvmrun run has the deadline
# of lib.sh's within (KVMRUN_TEST_DEADLINE), never a time limit.
# fail, show, expect_rc, expect_line, kvm_usable and the Linux guest of the system tests.
. "$(dirname "${BASH_SOURCE[0]}")/../system/lib.sh"
case_=$2
GUEST=$(realpath "$3")
DISK_OPT=--disk

need_kvm() {
  if [ -z "${TESTVM_OUT:-}" ] && ! kvm_usable; then
    if [ ! -x "$top/scripts/testvm" ] || ! command -v qemu-system-x86_64 >/dev/null; then
      echo "SKIP: no usable /dev/kvm and no emulated test machine" >&2
      exit 77
    fi
    set +e
    TESTVM_ENV="ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS KVMRUN_TEST_DEADLINE ${TESTVM_ENV:-}" \
      "$top/scripts/testvm" -- bash "$0" "$KVMRUN" "$case_" "$GUEST"
    local rc=$?
    set -e
    # 125: the test machine came up without /dev/kvm (or not at all).
    [ "$rc" = 125 ] && { echo "SKIP: the test machine has no KVM" >&2; exit 77; }
    exit "$rc"
  fi
}

# run [kvmrun options...]: output (console + kvmrun's messages) in $out, status in $rc.
# The guests report their result through the exit port, which exists only with --exit-port.
run() { run_without_exit_port --exit-port "$@"; }
run_without_exit_port() {
  out=$(mktemp)
  set +e
  within "kvmrun ($case_)" "$KVMRUN" run --kernel "$GUEST" --console serial "$@" \
    > "$out" 2>&1 < /dev/null
  rc=$?
  set -e
  tr -d '\r' < "$out" > "$out.clean"; mv "$out.clean" "$out"
}
expect_grep() { grep -q -E -- "$1" "$out" || { show; fail "nothing matches '$1' in the output"; }; }
no_fail_line() { ! grep -q '^FAIL' "$out" || { show; fail "the guest reported a failure"; }; }

# Cases that need no KVM: kvmrun refuses a bad ELF before opening /dev/kvm.
case $case_ in
  bad-elf-no-note)
    # The guest with its note's type changed from 18 (PHYS32_ENTRY) to 17.
    elf=$(mktemp); cp "$GUEST" "$elf"
    off=$(grep -obUaP 'Xen\x00' "$elf" | head -1 | cut -d: -f1)
    [ -n "$off" ] || fail "no Xen note in $GUEST"
    printf '\x11' | dd of="$elf" bs=1 seek=$((off - 4)) conv=notrunc status=none
    out=$(mktemp); set +e
    within "kvmrun ($case_)" "$KVMRUN" run --kernel "$elf" > "$out" 2>&1 < /dev/null; rc=$?
    set -e
    rm -f "$elf"
    expect_rc 3
    expect_grep "kernel $elf: .*no PVH entry note"
    [ "$(wc -l < "$out")" = 1 ] || { show; fail "expected one line"; }
    exit 0 ;;
  bad-elf-shared-object)
    # An ELF that is not an executable: the shell running this script.
    elf=$(realpath "$(command -v bash)")
    out=$(mktemp); set +e
    within "kvmrun ($case_)" "$KVMRUN" run --kernel "$elf" > "$out" 2>&1 < /dev/null; rc=$?
    set -e
    expect_rc 3
    expect_grep "kernel $elf: "
    [ "$(wc -l < "$out")" = 1 ] || { show; fail "expected one line"; }
    exit 0 ;;
  bad-elf-truncated)
    tmp=$(mktemp); head -c 1000 "$GUEST" > "$tmp"
    out=$(mktemp); set +e
    within "kvmrun ($case_)" "$KVMRUN" run --kernel "$tmp" > "$out" 2>&1 < /dev/null; rc=$?
    set -e
    rm -f "$tmp"
    expect_rc 3
    expect_grep "kernel $tmp: .*truncated"
    exit 0 ;;
  bad-elf-outside-ram)
    # The first program header's physical address moved to 0x80000000, past 64 MiB of RAM.
    elf=$(mktemp); cp "$GUEST" "$elf"
    printf '\x00\x00\x00\x80' | dd of="$elf" bs=1 seek=$((64 + 24)) conv=notrunc status=none
    out=$(mktemp); set +e
    within "kvmrun ($case_)" "$KVMRUN" run --kernel "$elf" --memory 64M > "$out" 2>&1 < /dev/null
    rc=$?
    set -e
    rm -f "$elf"
    expect_rc 3
    expect_grep "kernel $elf: ELF segment outside guest RAM"
    exit 0 ;;
  pvh-linux)
    # Debian's cloud kernel (CONFIG_PVH=y) as the ELF vmlinux inside its bzImage, booted
    # through its PVH note with the system tests' initramfs. Prepared before need_kvm:
    # the cache is read-only inside the test machine.
    if [ -z "${PVH_VMLINUX:-}" ]; then
      command -v lz4 >/dev/null || fail "lz4 is needed to unpack the kernel (scripts/install-deps)"
      kdir=$("$top/scripts/fetch-guest-kernel" cloud)
      cache=${KVMRUN_CACHE:-${HOME:-/var/tmp}/.cache/kvmrun}
      vmlinux=$cache/guest/vmlinux-$(cat "$kdir/version")
      # Inside the test machine the cache is read-only: unpack into a temp file there.
      [ -f "$vmlinux" ] || { mkdir -p "$cache/guest" 2>/dev/null && [ -w "$cache/guest" ]; } ||
        vmlinux=$(mktemp)
      if [ ! -s "$vmlinux" ]; then
        # The payload is LZ4 (legacy frame, magic 02 21 4c 18).
        off=$(grep -obUaP '\x02\x21\x4c\x18' "$kdir/vmlinuz" | head -1 | cut -d: -f1)
        [ -n "$off" ] || fail "the kernel payload is not LZ4"
        tail -c +$((off + 1)) "$kdir/vmlinuz" | lz4 -dc > "$vmlinux.tmp" 2>/dev/null || true
        mv "$vmlinux.tmp" "$vmlinux"
      fi
      # The system tests' initramfs.
      PVH_INITRD=$(guest_initrd)
      export PVH_VMLINUX=$vmlinux PVH_INITRD
      export TESTVM_ENV="PVH_VMLINUX PVH_INITRD ${TESTVM_ENV:-}"
    fi ;;
esac

need_kvm

case $case_ in
  hello-0)   run --append "status=0";   expect_rc 0;   expect_line "hello from the guest, exiting with 0" ;;
  hello-42)  run --append "status=42";  expect_rc 42;  expect_line "hello from the guest, exiting with 42" ;;
  hello-255) run --append "status=255"; expect_rc 255; expect_line "hello from the guest, exiting with 255" ;;
  exit-port-absent)
    # Without --exit-port there is no exit port: the guest's 8 (what kvmrun's own seccomp
    # failure exits with) is lost, and the guest powers off through ACPI instead (a guest
    # left halted would fail at the deadline).
    run_without_exit_port --append "status=8"
    expect_rc 0
    expect_line "hello from the guest, exiting with 8"
    expect_line "exit port: no effect, powering off" ;;
  hello-smp)
    # The APs wait for INIT/SIPI; the BSP's exit stops them all.
    run --cpus 4 --append "status=3"; expect_rc 3; expect_line "hello from the guest, exiting with 3" ;;
  hello-initrd)
    mod=$(mktemp); printf 'KVMRUN-MODULE' > "$mod"
    run --initrd "$mod" --append "status=9 x=y"; rm -f "$mod"
    expect_rc 9
    expect_line 'module 0: 13 bytes, starts with "KVMR"'
    expect_grep "^cmdline: status=9 x=y( |$)" ;;
  hello-high-mem)
    run --memory 4G --append "status=5"; expect_rc 5
    expect_grep "^memmap: [0-9]+ entries, 40[0-9][0-9] MiB of RAM" ;;
  pvh-linux)
    GUEST=$PVH_VMLINUX
    run --initrd "$PVH_INITRD" --cpus 2 --memory 512M --append "quiet kvmrun.test=info"
    expect_rc 0
    expect_line "KVMRUN-INIT-OK"
    expect_line "CPUS=2"
    expect_line "PVPANIC=1" ;;
  pci-scan)
    run; expect_rc 0; no_fail_line
    expect_line "pci 00:00.0 1b36:0008 class 060000"
    expect_grep "^pci-scan: [0-9]+ functions, host bridge ok$" ;;
  virtio-blk)
    img=$(mktemp)
    # Sector 8 holds a pattern the guest checks; sectors 0-3 it writes.
    head -c $((64 * 1024)) /dev/zero > "$img"
    printf 'host-pattern-sector-8' | dd of="$img" bs=512 seek=8 conv=notrunc status=none
    run "$DISK_OPT" "$img" --log-level debug
    expect_rc 0; no_fail_line
    expect_line "virtio-blk: PASS"
    # The guest kicks through the port notify region: KVM's ioeventfd takes each kick,
    # none reaches kvmrun's register.
    ! grep -q "kicked through the register" "$out" ||
      { show; fail "a queue kick reached kvmrun instead of its ioeventfd"; }
    for s in 0 1 2 3; do
      want="kvmrun guest sector $s"
      got=$(dd if="$img" bs=512 skip="$s" count=1 status=none | head -c ${#want})
      [ "$got" = "$want" ] || { rm -f "$img"; show; fail "sector $s holds '$got', expected '$want'"; }
    done
    rm -f "$img" ;;
  virtio-net-*)
    # The guest on tap0 in a network namespace; a perl packet socket on the host side
    # records the frames of ethertype 0x88b5 and echoes those that ask for it.
    ns=kvmrun-guest-$$ frames=$(mktemp) out=$(mktemp) echo_pid=
    trap 'kill $echo_pid 2>/dev/null; ip netns del "$ns" 2>/dev/null; rm -f "$frames" "$out"' EXIT
    ip netns add "$ns" || fail "cannot create a network namespace (needs root)"
    ip -n "$ns" tuntap add tap0 mode tap || fail "cannot create tap0"
    # No IPv6 on the host side: nothing but the test's frames on the wire.
    ip netns exec "$ns" sysctl -q -w net.ipv6.conf.tap0.disable_ipv6=1 2>/dev/null || true
    ip -n "$ns" link set tap0 up
    ip netns exec "$ns" perl -e '
      use Socket;
      $| = 1;
      my $type = 0x88b5;
      socket(my $s, 17, SOCK_RAW, unpack("v", pack("n", $type))) or die "packet socket: $!";
      open(my $i, "<", "/sys/class/net/tap0/ifindex") or die; my $ifindex = <$i> + 0;
      bind($s, pack("S n i S C C a8", 17, $type, $ifindex, 0, 0, 0, "")) or die "bind: $!";
      open(my $log, ">>", $ARGV[0]) or die; $log->autoflush(1);
      print $log "READY\n";
      while (defined(my $from = recv($s, my $f, 70000, 0))) {
        next if unpack("x10 C", $from) == 4;          # PACKET_OUTGOING: our own echo
        my ($text) = unpack("x14 Z*", $f);
        print $log "FRAME $text\n";
        next unless $text =~ /^echo-me/;
        my $reply = substr($f, 6, 6) . "\x02\x00\x00\x00\x00\x01" . pack("n", $type)
                  . "echo: $text\0";
        send($s, $reply, 0, $from) or die "send: $!";
      }' "$frames" &
    echo_pid=$!
    ready() { kill -0 "$echo_pid" 2>/dev/null || fail "the echo side did not start"
              grep -q READY "$frames"; }
    wait_until "READY from the echo side" ready
    set +e
    within "kvmrun ($case_)" ip netns exec "$ns" "$KVMRUN" run --kernel "$GUEST" \
      --console serial --exit-port --net tap=tap0 --append "case=${case_#virtio-net-}" \
      > "$out" 2>&1 < /dev/null
    rc=$?
    set -e
    tr -d '\r' < "$out" > "$out.clean"; mv "$out.clean" "$out"
    expect_rc 0; no_fail_line
    expect_line "virtio-net ${case_#virtio-net-}: PASS"
    got=$(grep '^FRAME' "$frames" | sort -u | tr '\n' '|')
    case $case_ in
      virtio-net-tx) want='FRAME echo-me 2|FRAME good 1|' ;;
      # The bad buffer breaks the device on the first frame it receives, which may
      # come before the guest's request for an echo is out.
      *) want='FRAME after-reset|FRAME echo-me bad|'
         [ "$got" = 'FRAME after-reset|' ] && got=$want ;;
    esac
    [ "$got" = "$want" ] || { show; fail "the host got '$got', expected '$want'"; } ;;
  virtio-bad-blk-*)
    # Hostile block requests on a 64 KiB image (sector 8 holds a pattern the guest
    # reads back); none of them may change a byte of it.
    c=${case_#virtio-bad-blk-}
    img=$(mktemp)
    head -c $((64 * 1024)) /dev/urandom > "$img"
    printf 'host-pattern-sector-8' | dd of="$img" bs=512 seek=8 conv=notrunc status=none
    sum=$(md5sum < "$img")
    ro=; [ "$c" = write-ro ] && ro=,ro
    run "$DISK_OPT" "$img$ro,serial=bad-blk-serial" --append "case=$c"
    [ "$(md5sum < "$img")" = "$sum" ] || { rm -f "$img"; show; fail "the image changed"; }
    rm -f "$img"
    expect_rc 0; no_fail_line
    expect_line "virtio-bad-blk $c: PASS" ;;
  virtio-bad-*-blk)
    # The same against a disk (its device configuration region too).
    img=$(mktemp); head -c $((64 * 1024)) /dev/zero > "$img"
    run "$DISK_OPT" "$img" --append "case=${case_#virtio-bad-} dev=2"; rm -f "$img"
    expect_rc 0; no_fail_line
    expect_line "virtio-bad ${case_#virtio-bad-}: PASS" ;;
  virtio-bad-isolated)
    # A descriptor loop breaks the entropy device; the disk beside it, set up before,
    # must go on serving without a reset of its own.
    img=$(mktemp); head -c $((64 * 1024)) /dev/zero > "$img"
    run --rng "$DISK_OPT" "$img" --append "case=desc-loop other=2"; rm -f "$img"
    expect_rc 0; no_fail_line
    expect_line "desc-loop: virtio id 2 still serves"
    expect_line "virtio-bad desc-loop: PASS" ;;
  virtio-bad-*)
    # Against the entropy device (--rng): the simplest user of the transport and queues.
    run --rng --append "case=${case_#virtio-bad-}"
    expect_rc 0; no_fail_line
    expect_line "virtio-bad ${case_#virtio-bad-}: PASS" ;;
  *) fail "unknown case $case_" ;;
esac
[ -n "${GUEST_SHOW:-}" ] && cat "$out"
rm -f "$out"
