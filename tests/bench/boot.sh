#!/usr/bin/env bash
# Usage: tests/bench/boot.sh [--runs N] [KVMRUN]
#
# Boot benchmark (not a test: it measures and prints, it never passes or fails
# on a number). Boots the system tests' guest (Debian's cloud kernel and the
# initramfs of tests/system/lib.sh) under kvmrun and under QEMU's microvm, N
# runs each (default 10), alternating the two VMMs (ABBA order), and prints a
# Markdown table of medians and the ratio kvmrun/QEMU for:
#   1. exec -> first KVM_RUN: strace -f -ttt -e trace=execve,ioctl, time of the
#      first ioctl(..., KVM_RUN, ...) minus the time of the execve (same method,
#      and the same strace overhead, for both VMMs; the VMM is killed after it)
#   2. RSS beyond guest RAM: once the guest's init has printed its marker,
#      total Rss in /proc/PID/smaps minus the Rss of the guest-RAM mapping
#      (the anonymous mapping whose size is the guest memory size)
#   3. exec -> init marker: wall time from launching the VMM (no strace) until
#      KVMRUN-INIT-OK appears on its stdout
# Metrics 2 and 3 come from the same boot: action `echo`, whose init prints the
# marker, then waits for a line on the console; the line is sent after smaps is
# read, and the guest powers off.
#
# KVMRUN defaults to $KVMRUN, else build/kvmrun in the repository. Needs strace
# (Debian package: strace) and qemu-system-x86_64 (qemu-system-x86). Without a
# usable /dev/kvm it re-runs itself inside scripts/testvm (need_kvm).
#
# arm64: with KVMRUN an arm64 program (e.g. build-arm64/kvmrun) on a machine that is
# not, the arm64 case (boot_arm64.sh): kvmrun beside QEMU -M virt on KVM inside
# scripts/testvm-arm64, metrics 2 and 3.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_options boot.sh runs=10 -- "$@"
# e_machine 183 (0xb7): AArch64.
if [[ $(od -An -tx1 -j18 -N2 "$bin" | tr -d ' \n') == b700 && $(uname -m) != aarch64 ]]; then
  . "$top/tests/bench/boot_arm64.sh"
  exit 0
fi
bench_need boot.sh strace:strace qemu-system-x86_64:qemu-system-x86

# The guest, exactly as the system tests build it; need_kvm re-runs this script
# inside the test machine when there is no /dev/kvm here. A long benchmark must
# not hit testvm's default time limit, so give it room (a safety net only).
export KVMRUN=$bin
export TESTVM_TIMEOUT=${TESTVM_TIMEOUT:-$((600 + runs * 120))}
. "$top/tests/system/lib.sh" "$bin"
need_kvm "${orig_args[@]}"

kernel=$(guest_kernel)
initrd=$(guest_initrd)
kver=$(cat "$(dirname "$kernel")/version" 2>/dev/null || echo unknown)
mem_mib=256
append_base="console=ttyS0 quiet panic=-1"

work=$(mktemp -d "${TMPDIR:-/tmp}/kvmrun-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The two VMMs on the same guest: VMM ACTION -> command line in the array cmd.
# Same kernel, initrd, RAM, one vCPU and the same kernel command line (kvmrun
# only adds reboot=k to it). QEMU: microvm with its default ACPI; rtc=on because
# microvm leaves the RTC out under KVM, and the guest's rtc_cmos driver then
# spends seconds probing the absent CMOS (kvmrun has an RTC, so this is the same
# machine and QEMU's fastest fair setting); -no-reboot so nothing restarts.
vmm_cmd() {
  local append="$append_base kvmrun.test=$2"
  case $1 in
    kvmrun) cmd=("$bin" run --kernel "$kernel" --initrd "$initrd" --cpus 1
                 --memory "${mem_mib}M" --append "$append") ;;
    qemu)   cmd=(qemu-system-x86_64 -M 'microvm,rtc=on' -enable-kvm -cpu host
                 -m "${mem_mib}M" -smp 1 -nodefaults -no-user-config -nographic
                 -serial stdio -no-reboot
                 -kernel "$kernel" -initrd "$initrd" -append "$append") ;;
  esac
}

die_run() {  # what, log file
  echo "boot.sh: $1; output:" >&2
  sed 's/\r$//; s/^/  | /' "$2" >&2 || true
  exit 1
}

alive() { kill -0 "$1" 2>/dev/null && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
usec() { local t=${1/./}; echo $((10#$t)); }   # EPOCHREALTIME / strace -ttt -> microseconds

# 1. exec -> first KVM_RUN under strace; prints milliseconds.
first_kvm_run() {  # VMM
  local vmm=$1 log=$work/strace.log out=$work/strace.out spid pid=
  vmm_cmd "$vmm" poweroff
  rm -f "$log"
  strace -f -ttt -e trace=execve,ioctl -o "$log" -- "${cmd[@]}" < /dev/null > "$out" 2>&1 &
  spid=$!
  # Only to stop the boot once KVM_RUN was entered; the times come from strace.
  until grep -q -E 'ioctl\([0-9]+, KVM_RUN' "$log" 2>/dev/null; do
    alive "$spid" || break
    sleep 0.05
  done
  pid=$(awk '$3 ~ /^execve\(/ && / = 0$/ { print $1; exit }' "$log")
  if [[ -n $pid ]]; then kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$spid" 2>/dev/null || true
  awk '$3 ~ /^execve\(/ && / = 0$/ && !t0 { t0 = $2 }
       t0 && $3 ~ /^ioctl\([0-9]+,$/ && $4 ~ /^KVM_RUN/ { printf "%.3f\n", ($2 - t0) * 1000; found = 1; exit }
       END { if (!found) exit 1 }' "$log" ||
    { cat "$log" >> "$out"; die_run "$vmm never reached KVM_RUN under strace" "$out"; }
}

# 2 + 3. One boot (action echo): prints "MS_TO_MARKER RSS_BEYOND_RAM_KIB".
boot_marker_rss() {  # VMM
  local vmm=$1 in=$work/in.fifo outf=$work/out.fifo log=$work/boot.log
  local w r pid t0 t1='' line partial='' rc smaps
  vmm_cmd "$vmm" echo
  rm -f "$in" "$outf"; mkfifo "$in" "$outf"; : > "$log"
  exec {w}<>"$in" {r}<>"$outf"   # opened read-write: neither side blocks in open()
  t0=$EPOCHREALTIME
  "${cmd[@]}" < "$in" > "$outf" 2>&1 &
  pid=$!
  while :; do
    if IFS= read -r -t 1 -u "$r" line; then
      line=$partial$line partial=
      printf '%s\n' "$line" >> "$log"
      if [[ ${line%$'\r'} == KVMRUN-INIT-OK ]]; then t1=$EPOCHREALTIME; break; fi
    else
      partial+=$line
      alive "$pid" || break
    fi
  done
  if [[ -z $t1 ]]; then
    exec {w}>&- {r}<&-
    wait "$pid" || true
    printf '%s' "$partial" >> "$log"
    die_run "$vmm: the guest never printed KVMRUN-INIT-OK" "$log"
  fi
  smaps=$(awk -v ram=$((mem_mib * 1024)) '
    /^[0-9a-f]+-[0-9a-f]+ / { anon = (NF == 5); next }
    /^Size:/ { size = $2; next }
    /^Rss:/ { total += $2; if (anon && size == ram && (!seen || $2 > guest)) { guest = $2; seen = 1 } }
    END { if (seen) print total - guest; else print "none" }' "/proc/$pid/smaps")
  # Let the guest answer and power off; keep draining its output meanwhile.
  echo "bench-$$" >&"$w"
  while alive "$pid"; do
    if IFS= read -r -t 1 -u "$r" line; then printf '%s\n' "$line" >> "$log"; fi
  done
  while IFS= read -r -t 0.2 -u "$r" line; do printf '%s\n' "$line" >> "$log"; done
  rc=0; wait "$pid" || rc=$?
  exec {w}>&- {r}<&-
  [[ $smaps != none ]] ||
    die_run "$vmm: no anonymous ${mem_mib} MiB mapping (guest RAM) in /proc/$pid/smaps" "$log"
  grep -q "^GOT:bench-$$" "$log" && [[ $rc == 0 ]] ||
    die_run "$vmm: the guest did not answer on its console and power off (exit $rc)" "$log"
  echo "$(( ($(usec "$t1") - $(usec "$t0")) / 1000 )).$(( ($(usec "$t1") - $(usec "$t0")) % 1000 / 100 )) $smaps"
}

declare -A kvm_run=() to_marker=() rss=() m1=() m2=() m3=()
echo "boot.sh: kvmrun $bin ($("$bin" --version 2>&1 | head -1)) vs $(qemu-system-x86_64 --version | head -1)" >&2
echo "boot.sh: guest $kver, $runs runs each; warming up (not counted)" >&2
for vmm in kvmrun qemu; do first_kvm_run "$vmm" > /dev/null; boot_marker_rss "$vmm" > /dev/null; done

for ((i = 1; i <= runs; i++)); do
  if ((i % 2)); then order=(kvmrun qemu); else order=(qemu kvmrun); fi
  for vmm in "${order[@]}"; do
    kvm_run[$vmm]+=" $(first_kvm_run "$vmm")"
  done
  for vmm in "${order[@]}"; do
    res=$(boot_marker_rss "$vmm")
    read -r ms kib <<< "$res"
    to_marker[$vmm]+=" $ms" rss[$vmm]+=" $kib"
  done
  for vmm in kvmrun qemu; do
    printf 'boot.sh: run %d/%d %-6s first KVM_RUN %8s ms  RSS beyond RAM %7s KiB  to marker %8s ms\n' \
      "$i" "$runs" "$vmm" "${kvm_run[$vmm]##* }" "${rss[$vmm]##* }" "${to_marker[$vmm]##* }" >&2
  done
done

for vmm in kvmrun qemu; do
  # shellcheck disable=SC2086
  { m1[$vmm]=$(median ${kvm_run[$vmm]}); m2[$vmm]=$(median ${rss[$vmm]}); m3[$vmm]=$(median ${to_marker[$vmm]}); }
done

if [[ -n ${TESTVM_OUT:-} ]]; then
  where="nested KVM inside scripts/testvm (an emulated x86-64 machine, QEMU TCG -cpu max)"
  where+=": absolute times are inflated; the ratios are what matters."
else
  where="KVM on $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), Linux $(uname -r)."
fi

cat <<EOF
| Boot benchmark (median of $runs runs) | kvmrun | QEMU microvm | kvmrun/QEMU | Goal |
|---|---:|---:|---:|---|
| exec to first KVM_RUN, ms (under strace) | $(fmt "${m1[kvmrun]}" 2) | $(fmt "${m1[qemu]}" 2) | $(ratio "${m1[kvmrun]}" "${m1[qemu]}") | <= 5 ms, without strace: tests/bench/startup.sh |
| RSS beyond guest RAM after boot, KiB | $(fmt "${m2[kvmrun]}" 0) | $(fmt "${m2[qemu]}" 0) | $(ratio "${m2[kvmrun]}" "${m2[qemu]}") | <= 2048 KiB (2 MiB) |
| exec to guest init marker, ms | $(fmt "${m3[kvmrun]}" 1) | $(fmt "${m3[qemu]}" 1) | $(ratio "${m3[kvmrun]}" "${m3[qemu]}") | <= 0.7x QEMU's |

Ran on $where
Guest: Debian $kver, tests/system initramfs, 1 vCPU, ${mem_mib} MiB, same command line; QEMU: $(qemu-system-x86_64 --version | head -1 | sed 's/^QEMU emulator version //'), \`-M microvm,rtc=on -enable-kvm -cpu host -nodefaults -no-user-config -no-reboot\`. First KVM_RUN is timed under \`strace -f -ttt -e trace=execve,ioctl\` for both VMMs (strace overhead included in both).
EOF
