#!/usr/bin/env bash
# Usage: tests/bench/net.sh [--runtime SECONDS] [--rounds N] [KVMRUN]
#
# Network benchmark (not a test: it measures and prints). One guest, booted in turn
#   - by kvmrun (virtio-net, --net tap=tap0),
#   - by QEMU (q35, -netdev tap,vhost=off + virtio-net-pci),
# on the same tap, whose host side (10.0.2.1) is in a network namespace of its own.
# The guest runs an iperf3 server; the host runs iperf3 against it: host->guest and
# guest->host (-R), TCP, 1 and 4 streams; then 200 pings for the round-trip time.
# Prints a Markdown table with the kvmrun/QEMU ratio of each line (for ping, QEMU's
# time over kvmrun's, so that above 1 means kvmrun is better everywhere), and the
# VMM's own CPU time (its threads but the vCPUs', vmm_cpu_ns) per MB moved or per
# round trip. Each VMM first boots once for a short run that is not counted (the
# first boot in a fresh test machine is slower), then --rounds times (default 2),
# in alternating order (kvmrun, QEMU, QEMU, kvmrun, ...): the emulated machine's
# speed drifts over minutes, and this spreads the drift over both. Each line is
# the mean over the rounds. The goal column judges kvmrun's CPU per MB against
# QEMU's; throughput and round-trip ratios are printed only.
# Without a usable /dev/kvm it re-runs itself inside scripts/testvm.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_options net.sh runtime=5 rounds=2 -- "$@"
bench_need net.sh iperf3:iperf3 qemu-system-x86_64:qemu-system-x86 busybox:busybox-static
export KVMRUN=$bin TESTVM_TIMEOUT=${TESTVM_TIMEOUT:-3000}
. "$top/tests/system/lib.sh" "$bin"
kernel=$(guest_kernel)
kdir=$(dirname "$kernel")

# The guest: eth0 up as 10.0.2.15, an iperf3 server, and off once the host
# connects to port 5003.
bench_initrd net "virtio_pci virtio_net" "$(command -v iperf3)" \
  "1 $(md5sum < "$(command -v iperf3)")" <<'INIT'
#!/bin/sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
/lib/load-modules >/dev/null 2>&1
ip link set lo up; ip link set eth0 up; ip addr add 10.0.2.15/24 dev eth0
iperf3 -s -D
echo BENCH-READY
nc -l -p 5003 >/dev/null
poweroff -f
INIT
# One CPU for the test machine (testvm's default): with two, the emulated machine
# is not stable (see fio.sh); guests of both VMMs died sending TCP to the host.
need_kvm "${orig_args[@]}"

work=$(mktemp -d)
ns=kvmrun-bench-$$
# A VMM still running (the bench stopped early) goes with it. Each step may fail
# (no job left, say): under set -e the first that did would end the trap there.
trap 'kill -9 $(jobs -p) 2>/dev/null || true; ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"' EXIT
ip netns add "$ns"
in_ns() { ip netns exec "$ns" "$@"; }
in_ns ip link set lo up
in_ns ip tuntap add tap0 mode tap
in_ns ip addr add 10.0.2.1/24 dev tap0
in_ns ip link set tap0 up

# Frames the tap dropped on their way to the guest (its queue was full: the VMM
# did not read it fast enough).
tap_drops() { in_ns cat /sys/class/net/tap0/statistics/tx_dropped; }

# iperf3's receiver rate in Mbit/s: iperf ARGS... A run that goes on far past its
# time means the VM stalled: say so instead of waiting for testvm's timeout.
iperf() {
  local out rc=0
  out=$(timeout $((20 * runtime + 120)) ip netns exec "$ns" \
        iperf3 -c 10.0.2.15 -t "$runtime" -f m "$@" 2>&1) || rc=$?
  if ((rc == 124)); then
    sed 's/^/  | /' "$work/$vmm.log" "$work/$vmm.err" >&2
    echo "net.sh: $vmm: iperf3 $* did not finish in $((20 * runtime + 120)) s: the VM or its network stalled" >&2
    exit 1
  fi
  awk '/receiver/ { r = $(NF - 2) } END { print r }' <<< "$out"
}

# run_vmm VMM [warm-up]: one boot of VMM, every test; adds each figure to
# val[VMM:test] and cpu[VMM:test]. A warm-up boot runs iperf3 for 1 s and 20 pings,
# and adds to the "warm-up VMM" keys, which are not shown.
declare -A val=() cpu=()
tests=(host-guest:1 host-guest:4 guest-host:1 guest-host:4 ping)
run_vmm() {
  local vmm=$1 log=$work/$1.log pid t dir p v c0 c1 c boot= spread=
  local key=${2:+$2 }$1 runtime=$runtime pings=200
  [[ -z ${2:-} ]] || runtime=1 pings=20
  case $vmm in
    kvmrun) cmd=("$bin" run --kernel "$kernel" --initrd "$initrd" --memory 512M --cpus 2
                 --append "quiet" --net tap=tap0 --console none --console-log "$log"
                 --log-level debug) ;; # for the device's counters at exit
    qemu) cmd=(qemu-system-x86_64 -M q35 -accel kvm -cpu host -m 512M -smp 2 -nodefaults
               -no-user-config -display none -no-reboot -serial "file:$log"
               -kernel "$kernel" -initrd "$initrd" -append "console=ttyS0 quiet panic=-1"
               -netdev tap,id=n0,ifname=tap0,script=no,downscript=no,vhost=off
               -device virtio-net-pci,netdev=n0 -name debug-threads=on) ;;
  esac
  : > "$log"
  local drops; drops=$(tap_drops)
  in_ns "${cmd[@]}" > "$work/$vmm.err" 2>&1 < /dev/null &
  pid=$!
  local start=$SECONDS
  until grep -q BENCH-READY "$log"; do
    kill -0 "$pid" 2>/dev/null || { cat "$log" "$work/$vmm.err" >&2; echo "net.sh: $vmm ended" >&2; exit 1; }
    stalled "$vmm" "$pid" "$start" 600 "the guest did not come up"
    sleep 0.2
  done
  # The VMM itself, for its CPU time: $pid is the shell of in_ns, or already the VMM.
  local vpid=$pid kids
  while kids=$(cat "/proc/$vpid/task/$vpid/children" 2>/dev/null) && [[ -n $kids ]]; do
    vpid=${kids%% *}
  done
  local try=0
  until in_ns iperf3 -c 10.0.2.15 -t 1 --connect-timeout 5000 > "$work/warmup.log" 2>&1; do
    try=$((try + 1)); sleep 0.5
    if ((try == 30)); then
      cat "$work/warmup.log" >&2; in_ns busybox ping -c 3 10.0.2.15 >&2 || true
      echo "net.sh: $vmm: no iperf3 connection to the guest" >&2; exit 1
    fi
  done
  for t in "${tests[@]}"; do
    IFS=: read -r dir p <<< "$t"
    c0=$(vmm_cpu_ns "$vpid")
    case $dir in
      host-guest) v=$(iperf -P "$p") ;;
      guest-host) v=$(iperf -P "$p" -R) ;;
      ping) in_ns busybox ping -c "$pings" -i 0.05 10.0.2.15 > "$work/ping.out" || true
            v=$(sed -n 's|.*min/avg/max = [0-9.]*/\([0-9.]*\)/.*|\1|p' "$work/ping.out")
            # Where the mean comes from: min, median, 90th percentile and max.
            spread=$(sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' "$work/ping.out" | sort -n |
              awk '{ t[NR] = $1 } END { if (NR) printf "%s/%s/%s/%s", t[1], t[int((NR + 1) / 2)], t[int(NR * 0.9 + 0.5)], t[NR] }') ;;
    esac
    c1=$(vmm_cpu_ns "$vpid")
    [[ -n $v ]] || continue
    val[$key:$t]+=" $v"
    # The VMM's own CPU time per MB moved (iperf3's receiver rate over the run) or
    # per round trip.
    c=$(awk -v c=$((c1 - c0)) -v v="$v" -v t="$runtime" -v ping=$([[ $dir == ping ]] && echo 1 || echo 0) \
      -v pings="$pings" 'BEGIN { n = ping ? pings : v * t / 8; if (n > 0) printf "%.1f", c / 1000 / n }')
    cpu[$key:$t]+=" $c" boot+=" $v ($c)"
  done
  # Each boot's figures too: a mean over boots hides the one that went wrong.
  echo "net.sh: $key:$boot; ping ms min/median/p90/max $spread; tap0 dropped $(($(tap_drops) - drops)) frames for the guest" >&2
  echo bye | timeout 60 ip netns exec "$ns" busybox nc 10.0.2.15 5003 || true
  start=$SECONDS
  while kill -0 "$pid" 2>/dev/null; do
    stalled "$vmm" "$pid" "$start" 120 "the guest did not power off"
    sleep 0.2
  done
  wait "$pid" || true
  sed -n 's/.*\(virtio-net .*\)/net.sh:   \1/p' "$work/$vmm.err" >&2
}

# stalled VMM PID START LIMIT WHAT: past LIMIT seconds since START, print what the
# guest and the VMM printed, stop the VMM and the bench (a stall, not a figure).
stalled() {
  ((SECONDS - $3 > $4)) || return 0
  sed 's/^/  | /' "$work/$1.log" "$work/$1.err" >&2
  echo "net.sh: $1: $5 in $4 s; stopping it" >&2
  kill -9 "$2" 2>/dev/null; exit 1
}

echo "net.sh: $("$bin" --version | head -1) vs $(qemu-system-x86_64 --version | head -1)" >&2
# The first boot after the test machine starts runs slower (see fio.sh), and it
# would always be kvmrun's: a short boot of each first, not counted.
run_vmm kvmrun warm-up; run_vmm qemu warm-up
for ((r = 0; r < rounds; r++)); do
  if ((r % 2)); then run_vmm qemu; run_vmm kvmrun; else run_vmm kvmrun; run_vmm qemu; fi
done
mean_of() { awk '{ for (i = 1; i <= NF; i++) s += $i; if (NF) printf (s / NF >= 100 ? "%.0f" : "%.3f"), s / NF }' <<< "$1"; }
for k in "${!val[@]}"; do val[$k]=$(mean_of "${val[$k]}"); cpu[$k]=$(mean_of "${cpu[$k]:-}"); done
# The goal is on what kvmrun itself spends, which holds still from run to run: its
# threads' CPU per MB moved at most 0.25x QEMU's. Throughput and round-trip ratios
# are printed, not judged: on nested KVM in the emulated machine they drift by tens
# of per cent and mostly measure the guest's and the host kernel's work.
echo "| test | kvmrun | QEMU | kvmrun/QEMU | VMM CPU kvmrun | VMM CPU QEMU | CPU kvmrun/QEMU | goal | met |"
echo "|---|---:|---:|---:|---:|---:|---:|---|---|"
for t in "${tests[@]}"; do
  k=${val[kvmrun:$t]:-} q=${val[qemu:$t]:-} ck=${cpu[kvmrun:$t]:-} cq=${cpu[qemu:$t]:-}
  cr=$(ratio "$ck" "$cq")
  case $t in
    ping) echo "| ping RTT, ms (ratio: QEMU/kvmrun; CPU: us per ping) | $k | $q | $(ratio "$q" "$k") | $ck | $cq | $cr | | |" ;;
    *) echo "| TCP ${t%%:*}, ${t##*:} stream(s), Mbit/s (CPU: us per MB) | $k | $q | $(ratio "$k" "$q") | $ck | $cq | $cr | CPU <= 0.25x | $(goal_met "$cr" 0.25) |" ;;
  esac
done
echo
echo "Guest: Debian $(cat "$kdir/version"), 2 vCPUs, 512 MiB; iperf3 ${runtime}s per line; 200 pings 0.05 s apart; means of $rounds rounds per VMM, in alternating order. Goals on the VMM's CPU time per MB (its threads but the vCPUs'); throughput and ping ratios are printed only."
if [[ -n ${TESTVM_OUT:-} ]]; then echo "Ran on nested KVM inside scripts/testvm (QEMU TCG): absolute numbers are far below hardware; compare ratios."; fi
