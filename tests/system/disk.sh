#!/usr/bin/env bash
# virtio-blk with Debian's cloud kernel: what the guest writes reaches the image, and
# what the host's file system refuses reaches the guest as an I/O error.
# Usage: disk.sh KVMRUN CASE
. "$(dirname "$0")/lib.sh"
need_kvm "$@"
scratch_fs 512M
work=$scratch
image() { truncate -s "${2:-128M}" "$work/$1"; echo "$work/$1"; }
case $2 in
ext4-roundtrip)
  img=$(image a.img)
  boot mkfs-write --disk "$img"
  expect_rc 0; expect_line DISK-DONE
  sum=$(value SUM)
  [ ${#sum} = 64 ] || { show; fail "no checksum from the guest"; }
  e2fsck -fn "$img" > "$work/fsck.log" 2>&1 || { cat "$work/fsck.log" >&2; fail "e2fsck found errors"; }
  boot read-sum --disk "$img,ro"
  expect_rc 0
  [ "$(value SUM)" = "$sum" ] || { show; fail "second boot read $(value SUM), first wrote $sum"; } ;;
cache-none)
  # The same round trip with O_DIRECT.
  img=$(image a.img)
  boot mkfs-write --disk "$img,cache=none"
  expect_rc 0; expect_line DISK-DONE
  sum=$(value SUM)
  e2fsck -fn "$img" > "$work/fsck.log" 2>&1 || { cat "$work/fsck.log" >&2; fail "e2fsck found errors"; }
  boot read-sum --disk "$img,ro,cache=none"
  [ "$(value SUM)" = "$sum" ] || { show; fail "read back $(value SUM), wrote $sum"; } ;;
read-only)
  img=$(image a.img 1M)
  head -c 1M /dev/urandom > "$img"
  before=$(sha256sum < "$img")
  boot ro-write --disk "$img,ro"
  expect_rc 0; expect_line RO=1
  [ "$(value WRITE_RC)" != 0 ] || { show; fail "a write to a read-only disk succeeded in the guest"; }
  [ "$(value BEFORE)" = "$(value AFTER)" ] || { show; fail "the guest's view of a read-only disk changed"; }
  [ "$(sha256sum < "$img")" = "$before" ] || fail "the read-only image changed on the host" ;;
two-disks)
  a=$(image a.img 64M) b=$(image b.img 32M)
  printf 'disk-a-header!!!' | dd of="$a" conv=notrunc 2>/dev/null
  boot two-disks --disk "$a,serial=first" --disk "$b,serial=second"
  expect_rc 0
  [ "$(value SIZE_vda)" = $((64 * 2048)) ] || { show; fail "vda size"; }
  [ "$(value SIZE_vdb)" = $((32 * 2048)) ] || { show; fail "vdb size"; }
  [ "$(value SERIAL_vda)" = first ] || { show; fail "vda serial"; }
  [ "$(value SERIAL_vdb)" = second ] || { show; fail "vdb serial"; }
  # seg_max 1022 (queues of 1024): a 1 MiB request of 4 KiB pages is one chain.
  [ "$(value MAXSEG_vda)" = 1022 ] || { show; fail "vda max_segments $(value MAXSEG_vda), expected 1022"; }
  expect_line "VDA_HEAD=disk-a-header!!!"
  [ "$(head -c 12 "$b")" = vdb-was-here ] || fail "vdb's bytes did not reach b.img" ;;
rate-limits|rate-unlimited)
  # bw=1M on vda: 8 MiB of O_DIRECT writes of 256 KiB, a 256 KiB burst, take at least
  # 7.75 s (a request larger than the burst would go at once and leave a debt);
  # iops=50 on vdb: 200 reads of 4 KiB, a burst of 10, at least 3.8 s. The test asks
  # for 7 s and 3 s, lower bounds only (a slow machine cannot fail them), with room for
  # the guest's clock, which times them. rate-unlimited: the same without limits, to
  # show what the bounds catch; it fails when the guest is that slow by itself.
  a=$(image a.img 64M) b=$(image b.img 64M)
  lim_a=,cache=none lim_b=,cache=none
  [ "$2" = rate-unlimited ] || { lim_a=$lim_a,bw=1M,bw-burst=256K; lim_b=$lim_b,iops=50,iops-burst=10; }
  boot rate-limits --log-level debug --disk "$a$lim_a" --disk "$b$lim_b"
  expect_rc 0
  [ "$(value WRITE_RC)" = 0 ] && [ "$(value READ_RC)" = 0 ] || { show; fail "I/O failed in the guest"; }
  [ "$(head -c 8M "$a" | sha256sum | cut -d' ' -f1)" = "$(value SUM)" ] ||
    { show; fail "vda does not hold the 8 MiB the guest wrote"; }
  echo "8 MiB written in $(value WRITE_MS) ms, 200 reads in $(value READ_MS) ms"
  [ "$(value WRITE_MS)" -ge 7000 ] || { show; fail "8 MiB at bw=1M took $(value WRITE_MS) ms, below 7 s"; }
  [ "$(value READ_MS)" -ge 3000 ] || { show; fail "200 reads at iops=50 took $(value READ_MS) ms, below 3 s"; }
  # The counters at exit (debug log): both disks had requests wait.
  grep -q -E 'virtio-blk vda: rate limits: [1-9][0-9]* requests waited, [1-9][0-9]* ms' "$out" ||
    { show; fail "no waits counted for vda"; }
  grep -q -E 'virtio-blk vdb: rate limits: [1-9][0-9]* requests waited, [1-9][0-9]* ms' "$out" ||
    { show; fail "no waits counted for vdb"; } ;;
sigkill-after-flush)
  img=$(image a.img 64M)
  boot_bg flush-wait --console none --disk "$img"
  # The whole line: the kill must not cut it.
  wait_console '^FLUSHED SUM=[0-9a-f]{64}$'
  kill -KILL "$pid"; await "$pid" "kvmrun after SIGKILL" || true
  want=$(sed -n 's/^FLUSHED SUM=//p' "$log" | tr -d '\r')
  got=$(head -c 8M "$img" | sha256sum | cut -d' ' -f1)
  [ "$got" = "$want" ] || fail "image holds $got after SIGKILL, the guest flushed $want" ;;
full-fs)
  # A 16 MiB file system holds a 64 MiB sparse image: writes run out of space. Once
  # the file system has room again (and the guest is told on its console), the
  # guest's write reaches the image.
  mnt=$(mktemp -d); mount -t tmpfs -o size=16M tmpfs "$mnt"
  on_exit "umount '$mnt'"
  img=$mnt/full.img; truncate -s 64M "$img"
  fifo=$(mktemp -u); mkfifo "$fifo"; exec 3<>"$fifo"
  BOOT_STDIN=$fifo boot_bg fill --disk "$img"
  wait_console '^FULL-WAITING$'
  mount -o remount,size=128M "$mnt"
  echo room >&3
  wait_bg
  got=$(dd if="$img" bs=1M skip=56 count=8 2>/dev/null | sha256sum | cut -d' ' -f1)
  expect_rc 0
  [ "$(value FILL_RC)" != 0 ] || { show; fail "the guest's write to a full disk succeeded"; }
  [ "$(value READ_RC)" = 0 ] || { show; fail "reads failed after the disk filled"; }
  [ "$(value STILL_FULL_RC)" != 0 ] || { show; fail "a write to unwritten sectors of a full disk succeeded"; }
  [ "$(value REFILL_RC)" = 0 ] || { show; fail "writes still failed once the file system had room"; }
  [ "$(value REFILL_SUM)" = "$got" ] ||
    { show; fail "after room was made the image holds $got, the guest wrote $(value REFILL_SUM)"; }
  ;;
lock)
  img=$(image a.img 16M)
  boot_bg echo --console none --disk "$img"
  first=$pid
  wait_console KVMRUN-INIT-OK
  boot info --disk "$img"
  kill "$first"; await "$first" "the first kvmrun after SIGTERM" || true
  expect_rc 3
  grep -q "$img" "$out" || { show; fail "the lock error does not name the image"; } ;;
hvc0)
  boot tty --console virtio
  expect_rc 0; expect_line KVMRUN-INIT-OK
  expect_line TTY=/dev/hvc0
  expect_line ACTIVE=hvc0 ;;
*) fail "unknown case $2" ;;
esac
echo "ok: $2"
