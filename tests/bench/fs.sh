#!/usr/bin/env bash
# Usage: tests/bench/fs.sh [--files N] [--rounds N] [KVMRUN]
#
# Shared-directory benchmark (not a test: it measures and prints). In one run, a
# guest works on a host directory shared
#   - by kvmrun --share (virtio-fs; kvmrun starts virtiofsd),
#   - by QEMU (q35, vhost-user-fs-pci, memory-backend-memfd,share=on) with the same
#     virtiofsd, started by this script with the same options kvmrun gives it,
#   - by QEMU with 9p (-virtfs, security_model=none, msize 512 KiB). Debian's cloud
#     kernel has no 9p: this guest is Debian's standard kernel (the test machine's),
#     so its line compares a different guest kernel too.
# The guest unpacks a tar of --files files (default 3000, 512 B to 16 KiB each,
# in 100 directories) into the share, then, with its caches dropped before each,
# runs find over the tree and reads every file. Prints a Markdown table with the
# wall time of each operation and the VMM's own CPU time for it (its threads but the
# vCPUs', vmm_cpu_ns) and virtiofsd's, means of --rounds boots (default 2) per
# setup in alternating order (the emulated machine's speed drifts). A first boot
# of each, not counted, warms the emulator up.
# Without a usable /dev/kvm it re-runs itself inside scripts/testvm.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_options fs.sh files=3000 rounds=2 -- "$@"
bench_need fs.sh qemu-system-x86_64:qemu-system-x86 busybox:busybox-static \
  /usr/lib/qemu/virtiofsd:qemu-system-common
export KVMRUN=$bin TESTVM_TIMEOUT=${TESTVM_TIMEOUT:-3000}
. "$top/tests/system/lib.sh" "$bin"
cache_dir=${KVMRUN_CACHE:-${HOME:-/var/tmp}/.cache/kvmrun}
cloud=$("$top/scripts/fetch-guest-kernel" cloud)
std=$("$top/scripts/fetch-guest-kernel" host)

# The guest: mounts tag t (bench.fs=virtiofs or 9p) on /mnt and says OP NAME before
# each operation, so that the host samples time and CPU between the lines.
init=$(mktemp)
cat > "$init" <<'INIT'
#!/bin/sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
/lib/load-modules >/dev/null 2>&1
case " $(cat /proc/cmdline) " in
*" bench.fs=9p "*) mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 t /mnt ;;
*) mount -t virtiofs t /mnt ;;
esac || { echo "BENCH-FAILED mount"; poweroff -f; }
rm -rf /mnt/tree; mkdir /mnt/tree
sync; echo 3 > /proc/sys/vm/drop_caches
echo "OP unpack"
tar -x -f /mnt/tree.tar -C /mnt/tree && sync || echo "BENCH-FAILED unpack"
echo 3 > /proc/sys/vm/drop_caches
echo "OP find"
echo "FOUND=$(find /mnt/tree | wc -l)"
echo 3 > /proc/sys/vm/drop_caches
echo "OP read"
echo "READ_BYTES=$(find /mnt/tree -type f | xargs cat | wc -c)"
echo "OP end"
rm -rf /mnt/tree
umount /mnt
echo BENCH-DONE
poweroff -f
INIT
initrd_for() { # KERNEL_DIR MODULES: the initramfs, cached
  local out
  out=$cache_dir/bench/fs-initrd-$({ cat "$init" "$1/version"; echo "$2"; } | md5sum | cut -c1-12).gz
  if [[ ! -f $out ]]; then
    mkdir -p "$(dirname "$out")"
    "$top/scripts/mkinitramfs" --kernel-dir "$1" --modules "$2" --init "$init" -o "$out.tmp" \
      >&2 && mv "$out.tmp" "$out"
  fi
  echo "$out"
}
initrd_cloud=$(initrd_for "$cloud" "virtio_pci fuse virtiofs")
initrd_std=$(initrd_for "$std" "virtio_pci 9pnet_virtio 9p")
rm -f "$init"
need_kvm "${orig_args[@]}"

work=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
share=$work/share; mkdir "$share"
# The tree: --files files of 512 B to 16 KiB in 100 directories, the same every run.
src=$work/tree
awk -v n="$files" -v d="$src" 'BEGIN { srand(1); for (i = 0; i < n; i++)
  printf "%s/d%02d/f%05d %d\n", d, i % 100, i, 512 + int(rand() * 16384) }' |
  while read -r f size; do
    mkdir -p "${f%/*}"; head -c "$size" /dev/urandom > "$f"
  done
tar -C "$src" -c -f "$share/tree.tar" .
tree_bytes=$(find "$src" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
rm -rf "$src"
# kvmrun gives virtiofsd sandbox=chroot when it runs chrooted (as in the test machine).
sandbox=namespace
[[ $(stat -c %d:%i /) == $(stat -c %d:%i /proc/1/root) ]] || sandbox=chroot

# CPU time (ns) of virtiofsd for this share: every process serving it.
vfsd_cpu_ns() {
  local p s=0
  for p in $(pgrep -f -- "-o source=$share( |\$)"); do s=$((s + $(vmm_cpu_ns "$p"))); done
  echo "$s"
}
now_ns() { date +%s%N; }

declare -A wall=() cpu=() dcpu=() n=()
ops=(unpack find read)
# run_setup SETUP [warm-up]
run_setup() {
  local setup=$1 key=${2:+$2 }$1 log=$work/$1.log vfsd= pid seen=0 t0 c0 d0 line op
  local -a cmd
  : > "$log"
  case $setup in
  kvmrun)
    cmd=("$bin" run --kernel "$cloud/vmlinuz" --initrd "$initrd_cloud" --memory 512M --cpus 2
         --append "quiet bench.fs=virtiofs" --share "$share,tag=t" --console none
         --console-log "$log") ;;
  qemu-virtiofs)
    rm -f "$work/vfs.sock"
    /usr/lib/qemu/virtiofsd --socket-path="$work/vfs.sock" -o source="$share" \
      -o sandbox=$sandbox -o cache=auto 2> "$work/virtiofsd.err" &
    vfsd=$!
    wait_until "virtiofsd's socket" test -S "$work/vfs.sock"
    cmd=(qemu-system-x86_64 -M q35,memory-backend=mem -accel kvm -cpu host -m 512M -smp 2
         -object memory-backend-memfd,id=mem,size=512M,share=on -nodefaults -no-user-config
         -display none -no-reboot -serial "file:$log" -name debug-threads=on
         -kernel "$cloud/vmlinuz" -initrd "$initrd_cloud"
         -append "console=ttyS0 quiet panic=-1 bench.fs=virtiofs"
         -chardev socket,id=vfs,path="$work/vfs.sock" -device vhost-user-fs-pci,chardev=vfs,tag=t) ;;
  qemu-9p)
    cmd=(qemu-system-x86_64 -M q35 -accel kvm -cpu host -m 512M -smp 2 -nodefaults
         -no-user-config -display none -no-reboot -serial "file:$log" -name debug-threads=on
         -kernel "$std/vmlinuz" -initrd "$initrd_std"
         -append "console=ttyS0 quiet panic=-1 bench.fs=9p"
         -virtfs local,path="$share",mount_tag=t,security_model=none,multidevs=remap) ;;
  esac
  "${cmd[@]}" > /dev/null 2> "$work/$setup.err" < /dev/null &
  pid=$!
  local end=$((SECONDS + KVMRUN_TEST_DEADLINE))
  while kill -0 "$pid" 2>/dev/null; do
    ((SECONDS < end)) || { sed 's/^/  | /' "$log" "$work/$setup.err" >&2
      echo "fs.sh: $setup: not done after ${KVMRUN_TEST_DEADLINE}s; stopping it" >&2; kill -9 "$pid"; exit 1; }
    while ((seen < ${#ops[@]} + 1)) && [[ $(tr -d '\r' < "$log" | grep -c '^OP ') -gt $seen ]]; do
      local t c d
      t=$(now_ns); c=$(vmm_cpu_ns "$pid"); d=$(vfsd_cpu_ns)
      if ((seen > 0)); then
        op=${ops[$((seen - 1))]}
        wall[$key:$op]=$((${wall[$key:$op]:-0} + t - t0))
        cpu[$key:$op]=$((${cpu[$key:$op]:-0} + c - c0))
        dcpu[$key:$op]=$((${dcpu[$key:$op]:-0} + d - d0))
        n[$key:$op]=$((${n[$key:$op]:-0} + 1))
      fi
      t0=$t c0=$c d0=$d seen=$((seen + 1))
    done
    sleep 0.1
  done
  wait "$pid" || true
  # virtiofsd ends by itself once QEMU has gone.
  if [[ -n $vfsd ]]; then kill "$vfsd" 2>/dev/null || true; wait "$vfsd" 2>/dev/null || true; fi
  line=$(tr -d '\r' < "$log")
  grep -q '^BENCH-DONE' <<< "$line" && ! grep -q BENCH-FAILED <<< "$line" &&
    grep -qx "FOUND=$((files + 101))" <<< "$line" && grep -qx "READ_BYTES=$tree_bytes" <<< "$line" ||
    { sed 's/^/  | /' "$log" "$work/$setup.err" >&2; echo "fs.sh: $setup run failed" >&2; exit 1; }
}

setups=(kvmrun qemu-virtiofs qemu-9p)
echo "fs.sh: $("$bin" --version | head -1) vs $(qemu-system-x86_64 --version | head -1)" >&2
for s in "${setups[@]}"; do run_setup "$s" warm-up; done
for ((r = 0; r < rounds; r++)); do
  if ((r % 2)); then order=(qemu-9p qemu-virtiofs kvmrun); else order=("${setups[@]}"); fi
  for s in "${order[@]}"; do run_setup "$s"; done
done
ms() { awk -v v="$1" -v k="${2:-0}" 'BEGIN { if (k > 0) printf "%.0f", v / k / 1e6; else print "n/a" }'; }
echo "| operation | setup | wall ms | VMM CPU ms | virtiofsd CPU ms |"
echo "|---|---|---:|---:|---:|"
for op in "${ops[@]}"; do
  for s in "${setups[@]}"; do
    k=$s:$op d=$(ms "${dcpu[$k]:-0}" "${n[$k]:-0}")
    [[ $s == qemu-9p ]] && d=-
    echo "| $op | $s | $(ms "${wall[$k]:-0}" "${n[$k]:-0}") | $(ms "${cpu[$k]:-0}" "${n[$k]:-0}") | $d |"
  done
done
echo
echo "Tree: $files files, $tree_bytes bytes, 100 directories; guest 2 vCPUs, 512 MiB; virtiofsd -o cache=auto -o sandbox=$sandbox; 9p: msize 512 KiB, default cache, Debian's standard kernel ($(cat "$std/version")), the others the cloud kernel ($(cat "$cloud/version")). Means of $rounds rounds. VMM CPU: the VMM's threads but the vCPUs'."
if [[ -n ${TESTVM_OUT:-} ]]; then echo "Ran on nested KVM inside scripts/testvm (QEMU TCG): absolute numbers are far below hardware; compare ratios."; fi
