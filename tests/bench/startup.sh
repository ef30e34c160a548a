#!/usr/bin/env bash
# Usage: tests/bench/startup.sh [--runs N] [KVMRUN]
#
# Startup benchmark (not a test: it measures and prints). Everything a VMM does
# before the guest's first instruction is host userspace, which runs natively even
# where /dev/kvm cannot run a Linux guest at full speed: so this runs on the host's
# own /dev/kvm, never inside scripts/testvm. Each VMM starts the system tests'
# guest (Debian's cloud kernel and the initramfs of tests/system/lib.sh, 1 vCPU,
# 256 MiB, no console) N times (default 7), alternating (ABBA), after one start of
# each that is not counted (it reads the files into the page cache); QEMU is
# `-M microvm,rtc=on -cpu qemu64 -nodefaults` (QEMU's default CPU model fails on
# some hosts' MSRs; the CPU model does not change what QEMU does before its first
# KVM_RUN). Printed: medians, ranges and the kvmrun/QEMU ratio of
#   1. exec -> first KVM_RUN: a launcher (startup-probe.c) reads CLOCK_MONOTONIC
#      and execs the VMM; a preload library in the VMM wraps ioctl() and reads the
#      clock again at the first KVM_RUN, before the ioctl is made;
#   2. the VMM's CPU time until then (CLOCK_PROCESS_CPUTIME_ID at the same point:
#      every thread, user and kernel, less the launcher's own, which the clock
#      carries across execve: 0.6-0.9 ms here);
#   3. RSS beyond the guest RAM touched: the preload library stops the process
#      (SIGSTOP) right there; total Rss in /proc/PID/smaps minus the Rss of the
#      guest-RAM mapping (the anonymous mapping of exactly the guest's size; a
#      memfd one for kvmrun exec, whose virtio-fs root needs shared memory), as
#      boot.sh counts it after boot; and the anonymous part of it alone (what the
#      VMM allocated, without the shared libraries' file pages).
# kvmrun run starts twice per round, with --jail off and --jail on (namespaces,
# pivot_root, capabilities, rlimits: jail.h), both with --log-level info; printed for
# the jail: the per-round differences of 1 and 2, and what kvmrun itself says the
# jail took (its "jail: entered in" line: wall and the thread's CPU time around
# jail_enter), the figure that a busy host disturbs least (goal: 2 ms at most).
# kvmrun exec runs with its default, the jail on.
# The VMM is then killed; a start that has not reached KVM_RUN in 30 s is killed
# and ends the bench with what it printed.
# Error of the method: no tracer runs, so the figures are the VMMs' own. The
# preload library is one more small library for the dynamic loader to map and
# relocate, in every start of both VMMs and included in 1 and 2: it took
# `kvmrun --version` from 0.61 to 0.63 ms of CPU (perf stat, 100 runs each). Its
# pages (about 20 KiB, 8 of them anonymous) are included in 3. The launcher reads the clock right
# before execve, so 1 includes the kernel's exec and the dynamic loader.
# What each VMM has done by then differs: kvmrun has copied the kernel and the
# initramfs into guest RAM; QEMU's microvm has read them into its own memory and
# lets its firmware copy them into guest RAM over fw_cfg, after its first KVM_RUN.
#
# A third row, kvmrun exec -- true with its initramfs already cached (the start
# not counted writes it): kvmrun's setup of exec mode (kernel release, agent,
# initramfs cache lookup) and the root's virtiofsd started before the first
# KVM_RUN, which is where the probe stops it.
# KVMRUN defaults to $KVMRUN, else build/kvmrun in the repository. Needs
# qemu-system-x86_64 (Debian package qemu-system-x86) and a C compiler.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_options startup.sh runs=7 -- "$@"
bench_need startup.sh qemu-system-x86_64:qemu-system-x86 cc:gcc
export KVMRUN=$bin
. "$top/tests/system/lib.sh" "$bin"
[[ -c /dev/kvm && -r /dev/kvm && -w /dev/kvm ]] ||
  { echo "startup.sh: /dev/kvm is missing or not readable and writable" >&2; exit 1; }

kernel=$(guest_kernel)
initrd=$(guest_initrd)
modules=$(echo "$(dirname "$kernel")"/lib/modules/*)
kver=$(cat "$(dirname "$kernel")/version" 2>/dev/null || echo unknown)
mem_mib=256
append="console=ttyS0 quiet panic=-1"
qemu=$(command -v qemu-system-x86_64)

work=$(mktemp -d "${TMPDIR:-/tmp}/kvmrun-startup.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/root" # exec's root: the guest never runs, and virtiofsd cannot pivot_root to / everywhere
cc -O2 -Wall -Wextra -Werror -shared -fPIC -o "$work/probe.so" "$top/tests/bench/startup-probe.c"
cc -O2 -Wall -Wextra -Werror -DPROBE_EXEC -o "$work/probe-exec" "$top/tests/bench/startup-probe.c"

vmm_cmd() {
  case $1 in
    kvmrun | kvmrun-jail)
            cmd=("$bin" run --kernel "$kernel" --initrd "$initrd" --cpus 1 --memory "${mem_mib}M"
                 --console none --append "$append" --log-level info
                 --jail "$([[ $1 == kvmrun ]] && echo off || echo on)") ;;
    kvmrun-exec) cmd=("$bin" exec --kernel "$kernel" --modules "$modules" --cpus 1
                      --memory "${mem_mib}M" --root "$work/root" -- true) ;;
    qemu) cmd=("$qemu" -M microvm,rtc=on -enable-kvm -cpu qemu64 -m "${mem_mib}M" -smp 1
               -nodefaults -no-user-config -display none -serial null -no-reboot
               -kernel "$kernel" -initrd "$initrd" -append "$append") ;;
  esac
}

# One start of VMM: prints "MS CPU_MS RSS_BEYOND_KIB ANON_BEYOND_KIB GUEST_KIB". A
# subshell, whose end (also a failure) kills the VMM.
start_once() (
  local vmm=$1 fifo=$work/probe.fifo err=$work/err st= t0=$SECONDS line= pid= fd
  trap '[[ -z $pid ]] || kill -KILL "$pid" 2>/dev/null' EXIT
  vmm_cmd "$vmm"
  rm -f "$fifo"; mkfifo "$fifo"
  exec {fd}<> "$fifo" # read-write: the VMM's open for writing does not block
  LD_PRELOAD=$work/probe.so "$work/probe-exec" 9 "${cmd[@]}" 9> "$fifo" {fd}<&- > "$err" 2>&1 < /dev/null &
  pid=$!
  # Only to know when to read smaps and kill it: the figures come from the probe.
  # A blocking read, so that this script takes no CPU from the VMM meanwhile;
  # once a second it checks that the VMM still runs.
  until [[ -n $line && $st == T ]]; do
    [[ -n $line ]] || IFS= read -r -t 1 -u "$fd" line || true
    st=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) || st=gone
    if [[ $st == gone || $st == Z ]] || ((SECONDS - t0 > 30)); then
      kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=
      echo "startup.sh: $vmm did not reach KVM_RUN (state $st after $((SECONDS - t0)) s); it printed:" >&2
      sed 's/^/  | /' "$err" >&2
      exit 1
    fi
  done
  awk -v ram=$((mem_mib * 1024)) -v probe="$line" -v jail="$(sed -n 's/.*jail: entered in \([0-9.]*\) ms, CPU \([0-9.]*\) ms.*/\1 \2/p' "$err")" '
    /^[0-9a-f]+-[0-9a-f]+ / { anon = (NF == 5 || $6 ~ /^\/memfd:/); next }
    /^Size:/ { size = $2; next }
    /^Rss:/ { rss = $2; total += rss }
    /^Anonymous:/ { atotal += $2; if (anon && size == ram && (!seen || rss > guest)) { guest = rss; aguest = $2; seen = 1 } }
    END {
      split(probe, p, " ")
      if (p[1] != "first-kvm-run" || !seen) exit 1
      printf "%.3f %.3f %d %d %d %s\n", p[2] / 1e6, p[3] / 1e6, total - guest, atotal - aguest, guest, jail == "" ? "n/a n/a" : jail
    }' "/proc/$pid/smaps" ||
    { sed 's/^/  | /' "$err" >&2; echo "startup.sh: $vmm: no probe line or no ${mem_mib} MiB guest mapping" >&2; exit 1; }
  kill -KILL "$pid"; wait "$pid" 2>/dev/null || true; pid=
)

declare -A ms=() cpu=() rss=() anon=() guest=()
load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "startup.sh: $("$bin" --version 2>&1 | head -1) vs $("$qemu" --version | head -1), guest $kver, $runs runs each" >&2
# page cache, and kvmrun exec's initramfs written to its cache: not counted
for vmm in kvmrun kvmrun-jail kvmrun-exec qemu; do res=$(start_once "$vmm"); done
declare -A this=() thiscpu=()
jail_ms= jail_cpu= jail_enter= jail_enter_cpu=
for ((i = 1; i <= runs; i++)); do
  if ((i % 2)); then order=(kvmrun kvmrun-jail kvmrun-exec qemu); else order=(qemu kvmrun-exec kvmrun-jail kvmrun); fi
  for vmm in "${order[@]}"; do
    res=$(start_once "$vmm")
    read -r a b c d e f g <<< "$res"
    ms[$vmm]+=" $a" cpu[$vmm]+=" $b" rss[$vmm]+=" $c" anon[$vmm]+=" $d" guest[$vmm]+=" $e"
    this[$vmm]=$a thiscpu[$vmm]=$b
    [[ $vmm != kvmrun-jail ]] || jail_enter+=" $f" jail_enter_cpu+=" $g"
    printf 'startup.sh: run %d/%d %-11s first KVM_RUN %7s ms  CPU %7s ms  RSS beyond guest RAM %6s KiB (anonymous %6s)  guest RAM touched %6s KiB\n' \
      "$i" "$runs" "$vmm" "$a" "$b" "$c" "$d" "$e" >&2
  done
  # the jail's cost in this round: the two kvmrun run starts side by side
  jail_ms+=" $(awk -v a="${this[kvmrun-jail]}" -v b="${this[kvmrun]}" 'BEGIN { printf "%.3f", a - b }')"
  jail_cpu+=" $(awk -v a="${thiscpu[kvmrun-jail]}" -v b="${thiscpu[kvmrun]}" 'BEGIN { printf "%.3f", a - b }')"
done

# "median (min-max)" of a list, with D decimals; and the median alone.
cell() { # shellcheck disable=SC2086
  local m; m=$(median $1)
  echo "$(fmt "$m" "$2") ($(fmt "$(printf '%s\n' $1 | sort -g | head -1)" "$2")-$(fmt "$(printf '%s\n' $1 | sort -g | tail -1)" "$2"))"
}
med() { median $1; } # shellcheck disable=SC2086

cat <<EOF
| Startup (median of $runs runs, min-max) | kvmrun | QEMU microvm | kvmrun/QEMU | goal |
|---|---:|---:|---:|---|
| exec to first KVM_RUN, ms | $(cell "${ms[kvmrun]}" 2) | $(cell "${ms[qemu]}" 2) | $(ratio "$(med "${ms[kvmrun]}")" "$(med "${ms[qemu]}")") | <= 5 ms: $(goal_met "$(med "${ms[kvmrun]}")" 5) |
| CPU time before first KVM_RUN, ms | $(cell "${cpu[kvmrun]}" 2) | $(cell "${cpu[qemu]}" 2) | $(ratio "$(med "${cpu[kvmrun]}")" "$(med "${cpu[qemu]}")") | |
| RSS beyond guest RAM touched, KiB | $(cell "${rss[kvmrun]}" 0) | $(cell "${rss[qemu]}" 0) | $(ratio "$(med "${rss[kvmrun]}")" "$(med "${rss[qemu]}")") | <= 2048 KiB: $(goal_met "$(med "${rss[kvmrun]}")" 2048) |
| of which anonymous (not file pages such as the C library's), KiB | $(cell "${anon[kvmrun]}" 0) | $(cell "${anon[qemu]}" 0) | $(ratio "$(med "${anon[kvmrun]}")" "$(med "${anon[qemu]}")") | |
| guest RAM touched by then, KiB | $(cell "${guest[kvmrun]}" 0) | $(cell "${guest[qemu]}" 0) | | |
| kvmrun exec -- true (cached initramfs, the root's virtiofsd started): exec to first KVM_RUN, ms | $(cell "${ms[kvmrun-exec]}" 2) | | $(ratio "$(med "${ms[kvmrun-exec]}")" "$(med "${ms[qemu]}")") | <= 10 ms: $(goal_met "$(med "${ms[kvmrun-exec]}")" 10) |
| kvmrun exec: CPU time before first KVM_RUN, ms | $(cell "${cpu[kvmrun-exec]}" 2) | | | |
| kvmrun exec: RSS beyond guest RAM touched, KiB | $(cell "${rss[kvmrun-exec]}" 0) | | | |

| The jail (median of $runs rounds, min-max) | --jail off | --jail on | on minus off (per round) | goal |
|---|---:|---:|---:|---|
| exec to first KVM_RUN, ms | $(cell "${ms[kvmrun]}" 2) | $(cell "${ms[kvmrun-jail]}" 2) | $(cell "$jail_ms" 2) | |
| CPU time before first KVM_RUN, ms | $(cell "${cpu[kvmrun]}" 2) | $(cell "${cpu[kvmrun-jail]}" 2) | $(cell "$jail_cpu" 2) | |
| RSS beyond guest RAM touched, KiB | $(cell "${rss[kvmrun]}" 0) | $(cell "${rss[kvmrun-jail]}" 0) | | |
| the jail itself (kvmrun's own figure), ms | | $(cell "$jail_enter" 3) | | <= 2 ms: $(goal_met "$(med "$jail_enter")" 2) |
| its CPU time, ms | | $(cell "$jail_enter_cpu" 3) | | |

Ran on $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1) ($(nproc) CPUs), Linux $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC'); load average $load0 before, $(cut -d' ' -f1-3 /proc/loadavg) after (other work on the host inflates wall times most).
Guest: Debian $kver, tests/system initramfs ($(($(stat -c %s "$initrd") / 1024)) KiB), kernel $(($(stat -c %s "$kernel") / 1024)) KiB, 1 vCPU, ${mem_mib} MiB. QEMU: $("$qemu" --version | head -1 | sed 's/^QEMU emulator version //'), \`-M microvm,rtc=on -enable-kvm -cpu qemu64 -nodefaults -no-user-config\`. No tracer; a preload library reads the clock at the first KVM_RUN (see the script's header).
EOF
