#!/usr/bin/env bash
# Usage: run.sh KVMRUN HELLO_IMAGE KVM_PROBE AGENT [UNIT_TEST...]   (all built for arm64)
#
# The arm64 suite, as TAP: checks.sh's checks (the freestanding guest, Debian's arm64
# kernel with 2 vCPUs, virtio-blk, virtio-fs, Images refused, --dtb-out, kvmrun exec with AGENT,
# its guest agent; virtio-rng, -console and -net, a Linux panic; each UNIT_TEST, a
# cmocka program of tests/unit, run without arguments) in one boot of
# scripts/testvm-arm64 (or here, on an arm64 host with /dev/kvm), then, here, the
# device tree that --dtb-out wrote read back with dtc. One emulated machine for the
# whole suite: its deadline is $TESTVM_TIMEOUT (default 1800 s), each kvmrun run's
# $KVMRUN_TEST_DEADLINE (default 600 s).
# ARM64_GIC=2 runs the checks in a test machine with a GICv2 (testvm-arm64 --gic 2),
# where KVM has no GICv3 and kvmrun falls back to a GICv2 with a GICv2m frame; that
# needs the emulated machine (skipped on an arm64 host).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
kvmrun=$(realpath "$1")
hello=$(realpath "$2")
probe=$(realpath "$3")
agent=$(realpath "$4")
shift 4
cache=${KVMRUN_CACHE:-${HOME:-/var/tmp}/.cache/kvmrun}
gic=${ARM64_GIC:-3}
[ "$gic" = 2 ] || [ "$gic" = 3 ] || { echo "Bail out! ARM64_GIC=$gic: 2 or 3"; exit 1; }
native=
if [ "$(uname -m)" = aarch64 ] && [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
  native=1
  if [ "$gic" = 2 ]; then echo "1..0 # SKIP the GICv2 checks need the emulated machine"; exit 0; fi
fi

n=0 failed=0
tap() { # ok|not-ok NAME [LOG]
  n=$((n + 1))
  if [ "$1" = ok ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi
  if [ "$1" != ok ] && [ -n "${3:-}" ] && [ -f "$3" ]; then sed 's/^/# /' "$3"; fi
}
bail() { echo "Bail out! $*"; exit 1; }

kdir=$("$top/scripts/fetch-guest-kernel" cloud-arm64) || bail "cannot fetch the arm64 kernel"
initrd=$("$here/guest-initrd") || bail "cannot build the guest's initramfs"
virtiofsd=$("$top/scripts/fetch-virtiofsd-arm64") || bail "cannot fetch the arm64 virtiofsd"

work=$(mktemp -d "${TMPDIR:-/tmp}/arm64-suite.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/payload/bin" "$work/out"
cp "$kvmrun" "$work/payload/bin/kvmrun"
cp "$hello" "$work/payload/hello.Image"
cp "$probe" "$work/payload/bin/kvm_probe"
# --share: virtiofsd (its arm64 libraries come from this host's multiarch ones, as
# kvmrun's do; scripts/install-deps installs them).
cp "$virtiofsd" "$work/payload/bin/virtiofsd"
cp "$kdir/vmlinuz" "$work/payload/Image"
cp "$kdir/config" "$work/payload/kernel-config" 2>/dev/null || true
cp "$initrd" "$work/payload/guest-initrd.gz"
cp "$here/checks.sh" "$work/payload/checks.sh"
# kvmrun exec: the agent where kvmrun looks for it (firmware/ beside the binary), the
# modules exec loads (with what they need, as modules.dep lists it) and a root file
# system image with busybox for PROGRAM, since the machine has no host root to share.
mkdir -p "$work/payload/bin/firmware"
cp "$agent" "$work/payload/bin/firmware/kvmrun-agent"
mods_subset() { # SRC DST NAME...: DST holds modules.dep, modules.builtin and NAMEs' files
  local src=$1 dst=$2 name path
  shift 2
  mkdir -p "$dst"
  cp "$src/modules.dep" "$src/modules.builtin" "$dst/"
  for name in "$@"; do
    name=${name//-/_}
    # The line of NAME: its file's name, '-' as '_', without .ko and a compression suffix.
    for path in $(awk -F: -v n="$name" '{ b = $1; sub(/.*\//, "", b); sub(/\.ko(\..*)?$/, "", b)
        gsub(/-/, "_", b); if (b == n) { print $1; print $2; exit } }' "$src/modules.dep"); do
      mkdir -p "$dst/$(dirname "$path")"
      cp "$src/$path" "$dst/$path"
    done
  done
}
mods_subset "$kdir/lib/modules/$(cat "$kdir/version")" "$work/payload/modules" \
  virtio_pci virtio_console fuse virtiofs overlay virtio_blk crc32c_generic virtio_net
mkdir -p "$work/root/bin" "$work/root/etc"
cp "$kdir/busybox" "$work/root/bin/busybox"
ln -s busybox "$work/root/bin/sh"
echo 'root:x:0:0:root:/root:/bin/sh' > "$work/root/etc/passwd"
truncate -s 32M "$work/payload/exec-root.img"
mkfs.ext4 -q -F -d "$work/root" "$work/payload/exec-root.img" ||
  bail "cannot build exec's root image"
mkdir -p "$work/payload/unit"
for t in "$@"; do cp "$t" "$work/payload/unit/"; done

set +e
if [ -n "$native" ]; then
  (cd "$work/payload" && TESTVM_OUT=$work/out sh ./checks.sh) > "$work/machine.log" 2>&1
  rc=$?
else
  ARM64_GIC=$gic TESTVM_ENV="KVMRUN_TEST_DEADLINE ARM64_GIC ${TESTVM_ENV:-}" \
    "$top/scripts/testvm-arm64" --gic "$gic" --payload "$work/payload" --out "$work/out" \
    -- sh ./checks.sh > "$work/machine.log" 2>&1
  rc=$?
fi
set -e
if [ "$rc" != 0 ] || [ ! -s "$work/out/results" ]; then
  sed 's/^/# /' "$work/machine.log"
  bail "the checks did not run to their end (status $rc)"
fi
while read -r result name; do
  case $result in
    ok) case $name in
          *' # SKIP'*) n=$((n + 1)); echo "ok $n - $name" ;;
          *) tap ok "$name" ;;
        esac ;;
    not) name=${name#ok }; tap not-ok "$name" "$work/out/$name.log" ;;
  esac
done < "$work/out/results"

# --dtb-out's tree, read back with dtc: the nodes issue's machine needs.
dtb=$work/out/machine.dtb dts=$work/machine.dts log=$work/dtc.log
: > "$log"
if [ ! -s "$dtb" ]; then
  echo "no tree came back" > "$log"; tap not-ok dtb-dtc "$log"
elif ! dtc -I dtb -O dts -o "$dts" "$dtb" 2> "$log"; then
  tap not-ok dtb-dtc "$log"
else
  ok=ok
  want() { # WHAT ERE [COUNT]
    local c
    c=$(grep -c -E -- "$2" "$dts" || true)
    if [ "$c" -lt "${3:-1}" ]; then echo "FAIL: $1: $c line(s) match '$2'" >> "$log"; ok=not-ok; fi
  }
  # A compatible string anywhere in the list: dtc shows "first\0second".
  compat() { echo "compatible = \"([^\"]*\\\\0)?$1(\\\\0[^\"]*)?\";"; }
  want "two cpus" 'device_type = "cpu";' 2
  want "the second cpu's MPIDR" '^[[:space:]]*reg = <(0x0+ )?0x0*1>;'
  want "psci" "$(compat 'arm,psci-(0\.2|1\.0)')"
  want "psci through hvc" 'method = "hvc";'
  want "memory" 'device_type = "memory";'
  if [ "$gic" = 3 ]; then
    want "a GICv3" "$(compat 'arm,gic-v3')"
    want "its ITS" "$(compat 'arm,gic-v3-its')"
    want "MSIs through the ITS" 'msi-map = '
  else
    want "a GICv2" "$(compat 'arm,cortex-a15-gic')"
    want "a GICv2m frame" "$(compat 'arm,gic-v2m-frame')"
    want "MSIs through the frame" 'msi-parent = '
  fi
  want "the timer" "$(compat 'arm,armv8-timer')"
  want "a 16550 UART" "$(compat 'ns16550a?')"
  want "a PL031" "$(compat 'arm,pl031')"
  want "pvpanic" "$(compat 'qemu,pvpanic-mmio')"
  want "a PCI ECAM root" "$(compat 'pci-host-ecam-generic')"
  want "the command line" 'bootargs = ".*dtb=check.*";'
  want "stdout-path" 'stdout-path = '
  want "the initramfs" 'linux,initrd-start = '
  if [ -s "$log" ] && [ "$ok" = ok ]; then sed 's/^/# dtc: /' "$log"; fi
  [ "$ok" = ok ] || { echo "the tree:" >> "$log"; cat "$dts" >> "$log"; }
  tap "$ok" dtb-dtc "$log"
fi
echo "1..$n"
exit "$failed"
