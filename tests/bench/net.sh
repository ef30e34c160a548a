#!/usr/bin/env bash
# Usage: tests/bench/net.sh [--runtime SECONDS] [KVMRUN]
#
# Network benchmark (not a test: it measures and prints). The same guest runs
#   - under kvmrun (virtio-net, --net tap=tap0),
#   - under QEMU (q35, -netdev tap,vhost=off + virtio-net-pci),
# both at once, each on a tap0 whose host side (10.0.2.1) is in a network namespace
# of its own. The guests run an iperf3 server; the host runs iperf3 against each:
# host->guest and guest->host (-R), TCP, 1 and 4 streams; then 100 pings each, in
# rounds of 25 that alternate between the two. Every line measures kvmrun and QEMU
# one right after the other, so that the machine's drift falls on both alike.
# Prints a Markdown table with the kvmrun/QEMU ratio of each line (for ping, QEMU's
# time over kvmrun's, so that above 1 means kvmrun is better everywhere).
# Without a usable /dev/kvm it re-runs itself inside scripts/testvm.
set -euo pipefail
export LC_ALL=C
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
orig_args=("$@")
runtime=5 bin=
while (($#)); do
  case $1 in
    --runtime) runtime=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "net.sh: unknown option $1" >&2; exit 2 ;;
    *) bin=$1; shift ;;
  esac
done
bin=${bin:-${KVMRUN:-$top/build/kvmrun}}
[[ $bin == /* ]] || bin=$PWD/$bin
for p in iperf3 qemu-system-x86_64 busybox; do
  command -v $p >/dev/null || { echo "net.sh: needs $p (apt-get install iperf3 qemu-system-x86 busybox-static)" >&2; exit 1; }
done
export KVMRUN=$bin TESTVM_TIMEOUT=${TESTVM_TIMEOUT:-3000}
. "$top/tests/system/lib.sh" "$bin"
kernel=$(guest_kernel)
kdir=$(dirname "$kernel")
cache_dir=${KVMRUN_CACHE:-${HOME:-/var/tmp}/.cache/kvmrun}
initrd=$cache_dir/bench/net-initrd-$({ echo 1; cat "$(command -v iperf3)" "$kdir/version"; } |
  md5sum | cut -c1-12).gz

# The guest: eth0 up as 10.0.2.15, an iperf3 server, and off once the host
# connects to port 5003.
if [[ ! -f $initrd ]]; then
  mkdir -p "$(dirname "$initrd")"
  init=$(mktemp)
  cat > "$init" <<'INIT'
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
  "$top/scripts/mkinitramfs" --kernel-dir "$kdir" --modules "virtio_pci virtio_net" \
    --init "$init" --binary "$(command -v iperf3)" -o "$initrd"
  rm -f "$init"
fi
need_kvm "${orig_args[@]}"

work=$(mktemp -d)
# Each VMM gets its own namespace with a tap0 whose host side is 10.0.2.1, so the
# same guest serves both. Both guests run at once and every measurement alternates
# between them: the emulated machine's speed drifts by tens of per cent over
# minutes, and a VMM measured minutes after the other would carry that drift.
declare -A ns=([kvmrun]=kvmrun-bench-k$$ [qemu]=kvmrun-bench-q$$) pid=()
vmms=(kvmrun qemu)
# A VMM still running (the bench stopped early) goes with it.
trap 'kill -9 $(jobs -p) 2>/dev/null; for v in "${vmms[@]}"; do ip netns del "${ns[$v]}" 2>/dev/null; done
      rm -rf "$work"' EXIT
in_ns() { local v=$1; shift; ip netns exec "${ns[$v]}" "$@"; }
for v in "${vmms[@]}"; do
  ip netns add "${ns[$v]}"
  in_ns "$v" ip link set lo up
  in_ns "$v" ip tuntap add tap0 mode tap
  in_ns "$v" ip addr add 10.0.2.1/24 dev tap0
  in_ns "$v" ip link set tap0 up
done

# iperf3's receiver rate in Mbit/s: iperf VMM ARGS... A run that goes on far past
# its time means the VM stalled: say so instead of waiting for testvm's timeout.
iperf() {
  local v=$1 out rc=0; shift
  out=$(timeout $((20 * runtime + 120)) ip netns exec "${ns[$v]}" \
        iperf3 -c 10.0.2.15 -t "$runtime" -f m "$@" 2>&1) || rc=$?
  if ((rc == 124)); then
    echo "net.sh: $v: iperf3 $* did not finish in $((20 * runtime + 120)) s: the VM or its network stalled" >&2
    exit 1
  fi
  awk '/receiver/ { r = $(NF - 2) } END { print r }' <<< "$out"
}

start_vmm() {
  local vmm=$1 log=$work/$1.log
  case $vmm in
    kvmrun) cmd=("$bin" run --kernel "$kernel" --initrd "$initrd" --memory 512M --cpus 2
                 --append "quiet" --net tap=tap0 --console none --console-log "$log") ;;
    qemu) cmd=(qemu-system-x86_64 -M q35 -accel kvm -cpu host -m 512M -smp 2 -nodefaults
               -no-user-config -display none -no-reboot -serial "file:$log"
               -kernel "$kernel" -initrd "$initrd" -append "console=ttyS0 quiet panic=-1"
               -netdev tap,id=n0,ifname=tap0,script=no,downscript=no,vhost=off
               -device virtio-net-pci,netdev=n0) ;;
  esac
  : > "$log"
  in_ns "$vmm" "${cmd[@]}" > "$work/$vmm.err" 2>&1 < /dev/null &
  pid[$vmm]=$!
}

ready_vmm() {
  local vmm=$1 log=$work/$1.log try=0
  until grep -q BENCH-READY "$log"; do
    kill -0 "${pid[$vmm]}" 2>/dev/null ||
      { cat "$log" "$work/$vmm.err" >&2; echo "net.sh: $vmm ended" >&2; exit 1; }
    sleep 0.2
  done
  until in_ns "$vmm" iperf3 -c 10.0.2.15 -t 1 --connect-timeout 5000 > "$work/warmup.log" 2>&1; do
    try=$((try + 1)); sleep 0.5
    if ((try == 30)); then
      cat "$work/warmup.log" >&2; in_ns "$vmm" busybox ping -c 3 10.0.2.15 >&2 || true
      echo "net.sh: $vmm: no iperf3 connection to the guest" >&2; exit 1
    fi
  done
}

echo "net.sh: $("$bin" --version | head -1) vs $(qemu-system-x86_64 --version | head -1)" >&2
for v in "${vmms[@]}"; do start_vmm "$v"; done
for v in "${vmms[@]}"; do ready_vmm "$v"; done

declare -A val=()
tests=(host-guest:1 host-guest:4 guest-host:1 guest-host:4 ping)
for t in "${tests[@]}"; do
  IFS=: read -r dir p <<< "$t"
  case $dir in
    host-guest) for v in "${vmms[@]}"; do val[$v:$t]=$(iperf "$v" -P "$p"); done ;;
    guest-host) for v in "${vmms[@]}"; do val[$v:$t]=$(iperf "$v" -P "$p" -R); done ;;
    ping) # 4 rounds of 25, alternating; the mean of each VMM's 100 round trips.
      for round in 1 2 3 4; do
        for v in "${vmms[@]}"; do
          in_ns "$v" busybox ping -c 25 -i 0.1 10.0.2.15 |
            sed -n 's/.*time=\([0-9.]*\) ms/\1/p' >> "$work/$v.ping"
        done
      done
      for v in "${vmms[@]}"; do
        val[$v:$t]=$(awk '{ s += $1 } END { if (NR) printf "%.3f", s / NR }' "$work/$v.ping")
      done ;;
  esac
done
for v in "${vmms[@]}"; do
  echo bye | in_ns "$v" busybox nc 10.0.2.15 5003 || true
  wait "${pid[$v]}" || true
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo "| test | kvmrun | QEMU | kvmrun/QEMU |"
echo "|---|---:|---:|---:|"
for t in "${tests[@]}"; do
  k=${val[kvmrun:$t]:-} q=${val[qemu:$t]:-}
  case $t in
    ping) echo "| ping RTT, ms (ratio: QEMU/kvmrun) | $k | $q | $(ratio "$q" "$k") |" ;;
    *) echo "| TCP ${t%%:*}, ${t##*:} stream(s), Mbit/s | $k | $q | $(ratio "$k" "$q") |" ;;
  esac
done
echo
echo "Guest: Debian $(cat "$kdir/version"), 2 vCPUs, 512 MiB; both VMs up at once, each line alternating between them; iperf3 ${runtime}s per line; 100 pings 0.1 s apart, in 4 rounds of 25."
[[ -n ${TESTVM_OUT:-} ]] && echo "Ran on nested KVM inside scripts/testvm (QEMU TCG): absolute numbers are far below hardware; compare ratios."
