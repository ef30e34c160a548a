# The arm64 case of tests/bench/boot.sh (sourced by it when KVMRUN is an arm64
# program and this machine is not arm64): kvmrun beside QEMU's -M virt, both on KVM
# inside scripts/testvm-arm64, same kernel (Debian's arm64 cloud Image) and initramfs
# (tests/arm64/guest-init), 1 vCPU, 256 MiB; boot_arm64_inner.sh boots them there.
# QEMU for arm64 (qemu-system-arm:arm64 and the libraries it depends on) is unpacked,
# never installed, into the cache; the test machine gets only what the binary needs.
# No strace inside: the exec -> first KVM_RUN figure is left out.
bench_need boot.sh qemu-system-aarch64:qemu-system-arm
cache=${KVMRUN_CACHE:-${HOME:-/var/tmp}/.cache/kvmrun}
qroot=$cache/qemu-arm64/root
if [[ ! -x $qroot/usr/bin/qemu-system-aarch64 ]]; then
  echo "boot.sh: fetching QEMU for arm64 (apt-get download qemu-system-arm:arm64 and its libraries)" >&2
  qwork=$(mktemp -d "$cache/.qemu-arm64.XXXXXX")
  pkgs=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
           --no-replaces --no-enhances qemu-system-arm:arm64 2>/dev/null |
         grep -E '^(lib[a-z0-9.+-]*|zlib1g|qemu-system-arm):arm64$' | sort -u)
  # shellcheck disable=SC2086
  (cd "$qwork" && apt-get download -qq $pkgs >&2) || { rm -rf "$qwork"; exit 1; }
  mkdir -p "$qwork/root"
  for d in "$qwork"/*.deb; do dpkg -x "$d" "$qwork/root"; done
  rm -rf "$cache/qemu-arm64"; mkdir -p "$cache/qemu-arm64"
  dpkg-deb -f "$(ls "$qwork"/qemu-system-arm_*.deb)" Version | sed 's/^/Version: /' \
    > "$cache/qemu-arm64/version"
  mv "$qwork/root" "$qroot"; rm -rf "$qwork"
fi

kdir=$("$top/scripts/fetch-guest-kernel" cloud-arm64)
initrd=$("$top/tests/arm64/guest-initrd")
work=$(mktemp -d "${TMPDIR:-/tmp}/kvmrun-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/payload/bin" "$work/out"
cp "$bin" "$work/payload/bin/kvmrun"
cp "$qroot/usr/bin/qemu-system-aarch64" "$work/payload/bin/"
cp "$kdir/vmlinuz" "$work/payload/Image"
cp "$initrd" "$work/payload/guest-initrd.gz"
cp "$top/tests/bench/boot_arm64_inner.sh" "$work/payload/"
qver=$(sed -n 's/^Version: //p' "$cache/qemu-arm64/version" 2>/dev/null || true)
echo "boot.sh: kvmrun $bin vs QEMU ${qver:-(arm64)} -M virt, guest $(cat "$kdir/version"), $runs runs each, inside scripts/testvm-arm64" >&2

TESTVM_ARM64_LIBDIRS=$qroot/usr/lib/aarch64-linux-gnu:$qroot/lib/aarch64-linux-gnu \
  TESTVM_TIMEOUT=${TESTVM_TIMEOUT:-$((900 + runs * 300))} TESTVM_ENV="KVMRUN_TEST_DEADLINE" \
  "$top/scripts/testvm-arm64" --smp 2 --mem 2048 --payload "$work/payload" --out "$work/out" \
  -- sh ./boot_arm64_inner.sh "$runs" >&2 || { echo "boot.sh: the arm64 runs failed" >&2; exit 1; }

declare -A ms=() kib=() m_ms=() m_kib=()
while read -r vmm a b; do ms[$vmm]+=" $a" kib[$vmm]+=" $b"; done < "$work/out/boot-arm64.txt"
for vmm in kvmrun qemu; do
  [[ -n ${ms[$vmm]:-} ]] || { echo "boot.sh: no figures for $vmm" >&2; exit 1; }
  # shellcheck disable=SC2086
  { m_ms[$vmm]=$(median ${ms[$vmm]}); m_kib[$vmm]=$(median ${kib[$vmm]}); }
done
cat <<EOT
| arm64 boot benchmark (median of $runs runs) | kvmrun | QEMU -M virt | kvmrun/QEMU | Goal |
|---|---:|---:|---:|---|
| RSS beyond guest RAM at init, KiB | $(fmt "${m_kib[kvmrun]}" 0) | $(fmt "${m_kib[qemu]}" 0) | $(ratio "${m_kib[kvmrun]}" "${m_kib[qemu]}") | <= 2048 KiB (2 MiB) |
| exec to guest init marker, ms | $(fmt "${m_ms[kvmrun]}" 0) | $(fmt "${m_ms[qemu]}" 0) | $(ratio "${m_ms[kvmrun]}" "${m_ms[qemu]}") | <= 0.7x QEMU's |

Ran on nested KVM/arm64 inside scripts/testvm-arm64 (QEMU TCG -M virt,virtualization=on,gic-version=3 -cpu max on $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)): absolute times are inflated; the ratios are what matters. Times from /proc/uptime (10 ms steps).
Guest: Debian $(cat "$kdir/version"), tests/arm64 initramfs, 1 vCPU, 256 MiB, console ttyS0 (kvmrun's 16550) and ttyAMA0 (QEMU's PL011); QEMU: \`-M virt,gic-version=3 -accel kvm -cpu host -nodefaults -no-user-config -no-reboot\`.
EOT
