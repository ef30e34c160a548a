#!/usr/bin/env bash
# Disks that are never written, with Debian's cloud kernel through kvmrun exec:
# --disk PATH,snapshot (the guest writes all over it, PATH keeps its bytes),
# overlay-max (I/O errors past it, the VM runs on) and --root IMAGE.
# Usage: snapshot.sh KVMRUN CASE
. "$(dirname "$0")/lib.sh"

need_kvm "$@"
exec_setup
# The overlays go to a directory of this test's own, to be looked at after the run.
export TMPDIR=$work/tmp; mkdir -p "$TMPDIR"

# run [kvmrun exec options...] -- PROGRAM...: stdout in $work/out, stderr in $work/err, $rc.
run() {
  set +e
  within "kvmrun exec $*" "$KVMRUN" exec --kernel "$kernel" --modules "$modules" \
    "$@" > "$work/out" 2> "$work/err" < /dev/null
  rc=$?
  set -e
}
show() { for f in out err; do sed "s/^/  $f| /" "$work/$f" >&2; done; }
expect_rc() { [ "$rc" = "$1" ] || { show; fail "exit status $rc, expected $1"; }; }
expect_out() { grep -qx -- "$1" "$work/out" || { show; fail "no line '$1' on stdout"; }; }
# ext4 IMAGE SIZE DIR: a file system image holding DIR's files.
ext4() { truncate -s "$2" "$1"; mkfs.ext4 -q -F -d "$3" "$1"; }

case $2 in
disk-mkfs)
  # The guest changes files in the image's file system, checks it, then
  # overwrites the disk with a new file system and checks that: all in the
  # overlay, e2fsck happy each time; the image keeps every byte.
  mkdir "$work/tree"; echo original > "$work/tree/hello"
  ext4 "$work/a.ext4" 32M "$work/tree"
  before=$(sha256sum < "$work/a.ext4")
  run --disk "$work/a.ext4,snapshot" -- sh -c '
    set -e; mkdir -p /tmp/m; mount /dev/vda /tmp/m; cat /tmp/m/hello
    dd if=/dev/urandom of=/tmp/m/big bs=1M count=8 2>/dev/null
    rm /tmp/m/hello; echo changed > /tmp/m/new; sync; fstrim -v /tmp/m || true; umount /tmp/m
    e2fsck -fn /dev/vda > /dev/null && echo FSCK1-OK
    mount /dev/vda /tmp/m; cat /tmp/m/new; [ ! -e /tmp/m/hello ]; umount /tmp/m
    mkfs.ext4 -q -F /dev/vda && e2fsck -fn /dev/vda > /dev/null && echo FSCK2-OK
    dd if=/dev/urandom of=/dev/vda bs=1M count=4 seek=24 oflag=direct 2>/dev/null
    echo WRITES-DONE'
  expect_rc 0
  expect_out original; expect_out changed
  expect_out FSCK1-OK; expect_out FSCK2-OK; expect_out WRITES-DONE
  [ "$(sha256sum < "$work/a.ext4")" = "$before" ] || fail "the image changed on the host"
  e2fsck -fn "$work/a.ext4" > /dev/null || fail "e2fsck of the image on the host"
  # A second run sees the image as it was: the first one's writes are gone.
  run --disk "$work/a.ext4,snapshot" -- sh -c \
    'mkdir -p /tmp/m; mount -o ro /dev/vda /tmp/m; cat /tmp/m/hello; ls /tmp/m'
  expect_rc 0
  expect_out original
  ! grep -qx new "$work/out" || { show; fail "a file of the first run is in the image"; }
  # Nothing left behind in the overlay's directory.
  [ -z "$(ls -A "$TMPDIR")" ] || { ls -la "$TMPDIR" >&2; fail "files left in TMPDIR"; }
  ;;
overlay-max)
  # 1 MiB of overlay: writing 4 MiB fails in the guest with I/O errors; reads
  # go on, the program ends normally and so does the VM.
  head -c 16M /dev/urandom > "$work/b.img"
  before=$(sha256sum < "$work/b.img")
  run --disk "$work/b.img,snapshot,overlay-max=1M" -- sh -c '
    dd if=/dev/zero of=/dev/vda bs=64k count=64 oflag=direct 2>/dev/null; echo "BIG=$?"
    dd if=/dev/zero of=/dev/vda bs=64k count=4 oflag=direct 2>/dev/null; echo "SMALL=$?"
    dd if=/dev/vda of=/dev/null bs=64k count=64 iflag=direct 2>/dev/null; echo "READ=$?"
    head -c 4096 /dev/vda | od -An -tx1 | head -1 | tr -d " "; echo AFTER'
  expect_rc 0
  grep -q '^BIG=[1-9]' "$work/out" || { show; fail "4 MiB of writes past overlay-max=1M succeeded"; }
  expect_out SMALL=0; expect_out READ=0; expect_out AFTER
  # the first 256 KiB were written as zeroes
  expect_out 00000000000000000000000000000000
  grep -q 'writes refused: the overlay reached overlay-max' "$work/err" ||
    { show; fail "kvmrun did not count the refused writes"; }
  [ "$(sha256sum < "$work/b.img")" = "$before" ] || fail "the image changed on the host"
  ;;
root-image)
  # A root file system of its own: busybox and a file only the image has.
  mkdir -p "$work/root/bin"
  cp /bin/busybox "$work/root/bin/"
  for p in sh cat echo rm ls; do ln -s busybox "$work/root/bin/$p"; done
  echo "only in the image $$" > "$work/root/only-here"
  ext4 "$work/root.ext4" 32M "$work/root"
  before=$(sha256sum < "$work/root.ext4")
  run --root "$work/root.ext4" -- cat /only-here
  expect_rc 0
  [ "$(cat "$work/out")" = "only in the image $$" ] || { show; fail "stdout"; }
  # Writes anywhere in the guest's root; a --share on top gets its file.
  mkdir "$work/shared"
  run --root "$work/root.ext4" --share "$work/shared" -- sh -c \
    "echo new > /new-file && cat /new-file && rm /only-here && echo x > $work/shared/from-guest"
  expect_rc 0
  expect_out new
  [ "$(cat "$work/shared/from-guest")" = x ] || fail "the share did not get the guest's file"
  [ "$(sha256sum < "$work/root.ext4")" = "$before" ] || fail "the root image changed on the host"
  run --root "$work/root.ext4" -- cat /only-here
  expect_rc 0
  [ "$(cat "$work/out")" = "only in the image $$" ] || { show; fail "the image lost /only-here"; }
  ;;
root-not-image)
  run --root /dev/null -- true
  expect_rc 125
  grep -q -- '--root /dev/null: not a directory, a disk image or a block device' "$work/err" ||
    { show; fail "stderr"; }
  ;;
*) fail "unknown case $2" ;;
esac
echo "ok: $2"
