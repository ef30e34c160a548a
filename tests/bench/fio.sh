#!/usr/bin/env bash
# Usage: tests/bench/fio.sh [--runtime SECONDS] [--rounds N] [KVMRUN]
#
# Block benchmark (not a test: it measures and prints). The same fio jobs run
#   - in a guest under kvmrun (virtio-blk, --disk IMG,cache=none),
#   - in the same guest under QEMU (q35, virtio-blk-pci, aio=native,cache=none),
#   - on the host, on the image file itself,
# against one raw image on an ext4 file system, in one run. Jobs: 4k random read
# and write at QD1 and QD32, 1 MiB sequential read and write; libaio, direct I/O.
# Prints a Markdown table of IOPS, the kvmrun/QEMU ratio, and for each VMM the
# exits to userspace per request (KVM's kvm_userspace_exit events on the VMM's
# threads, counted by a histogram trigger, divided by fio's completed requests;
# KVM's io_exits counter is no measure of that: it counts the port writes KVM
# serves itself through an ioeventfd too), and the VMM's own CPU time per request
# (its threads but the vCPUs', from /proc schedstat, vmm_cpu_ns: what the guest
# and the kernel's workers cost is the same for both and left out). Each VMM first
# boots once with 1 s jobs that are not counted (the first boot in a fresh test
# machine is slower), then --rounds times (default 2), in alternating order
# (kvmrun, QEMU, QEMU, kvmrun, ...): the emulated machine's speed drifts over
# minutes, and this spreads the drift over both. IOPS, exits and CPU time are the
# means over the rounds. The goal column judges kvmrun's CPU per request against
# QEMU's (and its exits at QD32); IOPS ratios are printed only.
# Without a usable /dev/kvm it re-runs itself inside scripts/testvm.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_options fio.sh runtime=5 rounds=2 -- "$@"
bench_need fio.sh fio:fio qemu-system-x86_64:qemu-system-x86
export KVMRUN=$bin TESTVM_TIMEOUT=${TESTVM_TIMEOUT:-3000}
. "$top/tests/system/lib.sh" "$bin"
kernel=$(guest_kernel)
kdir=$(dirname "$kernel")
jobs=(randread:4k:1 randread:4k:32 randwrite:4k:1 randwrite:4k:32 read:1m:8 write:1m:8)

# The guest's init runs every job on /dev/vda and prints one terse line per job;
# for 1 s each when the kernel command line says bench.warmup.
bench_initrd fio "virtio_pci virtio_blk" "$(command -v fio)" \
  "${jobs[*]} $runtime 5 $(fio --version)" <<INIT
#!/bin/sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
/lib/load-modules >/dev/null 2>&1
rt=$runtime; case " \$(cat /proc/cmdline) " in *" bench.warmup "*) rt=1 ;; esac
echo FIO-START # the host counts the jobs' exits and CPU time from here, not from boot
for j in ${jobs[*]}; do
  IFS=: read rw bs qd <<J
\$j
J
  echo "JOB \$j \$(fio --name=\$j --filename=/dev/vda --ioengine=libaio --direct=1 \
    --rw=\$rw --bs=\$bs --iodepth=\$qd --runtime=\$rt --time_based --size=200m \
    --minimal 2>&1 | tail -1)"
done
echo FIO-DONE
sleep 5 # the host reads the last job's exits and CPU time before the VMM is gone
poweroff -f
INIT
# One CPU for the test machine (testvm's default), on which the guest's two vCPUs
# and the VMM's threads take turns. With two, the emulated machine is not stable:
# guests of both VMMs died under load (triple faults, resets) in some boots.
need_kvm "${orig_args[@]}"

scratch_fs 1G; work=$scratch
img=$work/disk.img
# On the file system before any VM runs: a direct write by the first VM would
# otherwise wait for the image's dirty pages, and the first VM is always kvmrun's.
dd if=/dev/urandom of="$img" bs=1M count=256 status=none conv=fsync

# Exits to userspace, per thread, for as long as the script runs.
mount -t tracefs none /sys/kernel/tracing 2>/dev/null || true
uexit=/sys/kernel/tracing/events/kvm/kvm_userspace_exit hist_spec='hist:keys=common_pid:size=4096'
if echo "$hist_spec" > "$uexit/trigger" 2>/dev/null; then
  unhist() { { echo "!$hist_spec" > "$uexit/trigger"; } 2>/dev/null || true; }
  eval "$(trap -p EXIT | sed "s/^trap -- '/trap -- 'unhist; /")"
else
  echo "fio.sh: no histogram trigger on kvm:kvm_userspace_exit: exits are n/a" >&2; uexit=''
fi

# terse v3: field 6 read KiB, 8 read IOPS, 47 write KiB, 49 write IOPS
iops_of() { awk -F';' '{ print (($8 > 0) ? $8 : $49) }'; }
ios_of() { awk -F';' -v bs="$1" '{ print ($6 + $47) / bs }'; }
kib() { case $1 in 4k) echo 4 ;; 1m) echo 1024 ;; esac; }

# run_vmm VMM [warm-up]: runs one VMM on the guest; adds to iops[VMM:job],
# exits[VMM:job] and cpu[VMM:job] (per request) and counts the rounds that had
# them in niops[...] and nexits[...]. A warm-up boot runs 1 s jobs and adds to
# the "warm-up VMM" keys, which are not shown.
declare -A iops=() exits=() cpu=() niops=() nexits=() ncpu=()
run_vmm() {
  local vmm=$1 log=$work/$1.log pid before after cbefore cafter j line boot=
  local key=${2:+$2 }$1 append=${2:+ bench.warmup}
  local -A tids=()
  case $vmm in
    kvmrun) cmd=("$bin" run --kernel "$kernel" --initrd "$initrd" --memory 512M --cpus 2
                 --append "quiet$append" --disk "$img,cache=none" --console none --console-log "$log") ;;
    qemu) cmd=(qemu-system-x86_64 -M q35 -accel kvm -cpu host -m 512M -smp 2 -nodefaults
               -no-user-config -display none -no-reboot -serial "file:$log"
               -kernel "$kernel" -initrd "$initrd" -append "console=ttyS0 quiet panic=-1$append"
               -drive "file=$img,if=none,id=d0,format=raw,aio=native,cache=none"
               -device virtio-blk-pci,drive=d0 -name debug-threads=on) ;;
  esac
  : > "$log"
  "${cmd[@]}" > /dev/null 2> "$work/$vmm.err" < /dev/null &
  pid=$!
  # Per-job exits: sample the counts of every thread the VMM has had whenever a JOB
  # line appears.
  note_tids() { local t; for t in $(ls "/proc/$pid/task" 2>/dev/null); do tids[$t]=1; done; }
  exits_now() { # exits to userspace so far; nothing once the VMM is gone (a VMM that
                # had gone made the last job's figure negative, in 2 of 4 runs)
    [[ -n $uexit ]] && ((${#tids[@]})) && kill -0 "$pid" 2>/dev/null || return 0
    # Lines '{ common_pid:  TID } hitcount:  N'.
    sed -n 's/.*[^0-9]\([0-9][0-9]*\) *} *hitcount: *\([0-9][0-9]*\).*/\1 \2/p' "$uexit/hist" |
      awk -v tids="${!tids[*]}" 'BEGIN { split(tids, t); for (i in t) want[t[i]] = 1 }
        $1 in want { n += $2 } END { print n + 0 }'
  }
  local seen=0 last=$SECONDS started=0
  while kill -0 "$pid" 2>/dev/null; do
    local n; n=$(grep -c '^JOB' "$log" || true)
    # A job takes $runtime seconds plus its start: far longer means the VM stalled.
    # Say so, with what the guest printed, instead of waiting for testvm's timeout.
    if ((SECONDS - last > 20 * runtime + 300)); then
      sed 's/^/  | /' "$log" "$work/$vmm.err" >&2
      echo "fio.sh: $vmm: no job finished in $((SECONDS - last)) s (after $seen of ${#jobs[@]}); stopping it" >&2
      kill -9 "$pid"; exit 1
    fi
    note_tids
    if ((!started)) && grep -q '^FIO-START' "$log"; then
      before=$(exits_now); cbefore=$(vmm_cpu_ns "$pid"); started=1
    fi
    if ((started && n > seen)); then after=$(exits_now); cafter=$(vmm_cpu_ns "$pid"); j=${jobs[$seen]}; last=$SECONDS
      # A VMM gone (or going) during the read: its threads were not all counted, and
      # the job would get a CPU time too small, or below zero (seen on the last job).
      # A thread that ended during the job takes its time with it: below zero too.
      running "$pid" && [[ -n $cbefore ]] && ((cafter >= cbefore)) || cafter=
      line=$(grep '^JOB' "$log" | sed -n "$((seen + 1))p" | tr -d '\r')
      local b; b=$(cut -d' ' -f3- <<< "$line" | iops_of)
      iops[$key:$j]=$(awk -v a="${iops[$key:$j]:-0}" -v b="$b" 'BEGIN { print a + b }')
      niops[$key:$j]=$((${niops[$key:$j]:-0} + 1))
      local n_io; n_io=$(cut -d' ' -f3- <<< "$line" | ios_of "$(kib "$(cut -d: -f2 <<< "$j")")")
      # Without both counters the VM exited before they were read: no figure.
      if [[ -n $before && -n $after ]]; then
        exits[$key:$j]=$(awk -v a="${exits[$key:$j]:-0}" -v e=$((after - before)) -v n="$n_io" \
          'BEGIN { print a + (n > 0 ? e / n : 0) }')
        nexits[$key:$j]=$((${nexits[$key:$j]:-0} + 1))
      fi
      local c=n/a
      if [[ -n $cbefore && -n $cafter ]]; then
        c=$(awk -v c=$((cafter - cbefore)) -v n="$n_io" 'BEGIN { printf "%.0f", (n > 0 ? c / 1000 / n : 0) }')
        cpu[$key:$j]=$(awk -v a="${cpu[$key:$j]:-0}" -v c="$c" 'BEGIN { print a + c }')
        ncpu[$key:$j]=$((${ncpu[$key:$j]:-0} + 1))
      fi
      boot+=" $b ($c)"
      before=$after cbefore=$cafter; seen=$((seen + 1))
    fi
    sleep 0.2
  done
  wait "$pid" || true
  grep -q FIO-DONE "$log" || { sed 's/^/  | /' "$log" "$work/$vmm.err" >&2; echo "fio.sh: $vmm run failed" >&2; exit 1; }
  # Each boot's too, IOPS (VMM CPU us/req): a mean hides the boot that went wrong.
  echo "fio.sh: $key:$boot" >&2
}

run_host() {
  local j rw bs qd
  for j in "${jobs[@]}"; do
    IFS=: read -r rw bs qd <<< "$j"
    iops[host:$j]=$(fio --name="$j" --filename="$img" --ioengine=libaio --direct=1 --rw="$rw" \
      --bs="$bs" --iodepth="$qd" --runtime="$runtime" --time_based --size=200m --minimal | tail -1 | iops_of)
  done
}

echo "fio.sh: $("$bin" --version | head -1) vs $(qemu-system-x86_64 --version | head -1)" >&2
# The first boot after the test machine starts runs slower: the emulator translates,
# once, the code it runs for the first time (the host kernel's KVM, AIO and file
# system paths, each VMM's own), and kvmrun's boot, always the first, took up to
# three times the CPU per request of its later ones. A short boot of each, not counted,
# takes that.
run_vmm kvmrun warm-up; run_vmm qemu warm-up
for ((r = 0; r < rounds; r++)); do
  if ((r % 2)); then run_vmm qemu; run_vmm kvmrun; else run_vmm kvmrun; run_vmm qemu; fi
done
run_host
mean_of_sum() { awk -v s="$1" -v n="${2:-0}" -v f="$3" 'BEGIN { if (n > 0) printf f, s / n; else print "n/a" }'; }
for k in "${!niops[@]}"; do
  exits[$k]=$(mean_of_sum "${exits[$k]:-0}" "${nexits[$k]:-0}" %.2f)
  cpu[$k]=$(mean_of_sum "${cpu[$k]:-0}" "${ncpu[$k]:-0}" %.0f)
  iops[$k]=$(mean_of_sum "${iops[$k]}" "${niops[$k]}" %.0f)
done
# The goals are on what kvmrun itself spends, which holds still from run to run:
# VMM CPU per request at most 0.5x QEMU's at QD1 and on 1 MiB requests, at most
# 0.1x at QD32 with at most one exit to userspace per request. IOPS ratios are
# printed, not judged: on nested KVM in the emulated machine they drift by tens of
# per cent and mostly measure the guest's and the host kernel's work, the same
# under both VMMs.
echo "| fio job (rw:bs:QD) | kvmrun IOPS | QEMU IOPS | IOPS kvmrun/QEMU | host IOPS | exits/req kvmrun | exits/req QEMU | VMM CPU us/req kvmrun | VMM CPU us/req QEMU | CPU kvmrun/QEMU | goal | met |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
for j in "${jobs[@]}"; do
  cr=$(ratio "${cpu[kvmrun:$j]:-}" "${cpu[qemu:$j]:-}")
  if [[ ${j##*:} == 32 ]]; then
    goal="CPU <= 0.1x, <= 1 exit/req" met=$(goal_met "$cr" 0.1)
    [[ $met != yes ]] || met=$(goal_met "${exits[kvmrun:$j]:-n/a}" 1)
  else
    goal="CPU <= 0.5x" met=$(goal_met "$cr" 0.5)
  fi
  echo "| $j | ${iops[kvmrun:$j]} | ${iops[qemu:$j]} | $(ratio "${iops[kvmrun:$j]}" "${iops[qemu:$j]}") | ${iops[host:$j]} | ${exits[kvmrun:$j]} | ${exits[qemu:$j]} | ${cpu[kvmrun:$j]} | ${cpu[qemu:$j]} | $cr | $goal | $met |"
done
echo
echo "Guest: Debian $(cat "$kdir/version"), 2 vCPUs, 512 MiB; image: 256 MiB raw on ext4 (loop); fio ${runtime}s per job, libaio, direct=1; means of $rounds rounds per VMM, in alternating order. Goals on the VMM's CPU time per request (its threads but the vCPUs') and exits; IOPS ratios are printed only."
if [[ -n ${TESTVM_OUT:-} ]]; then echo "Ran on nested KVM inside scripts/testvm (QEMU TCG): absolute numbers are far below hardware; compare ratios."; fi
