#!/usr/bin/env bash
# Usage: tests/bench/net.sh [--runtime SECONDS] [--rounds N] [KVMRUN]
#
# Network benchmark (not a test: it measures and prints). One guest, booted in turn
#   - by kvmrun (virtio-net, --net tap=tap0),
#   - by QEMU (q35, -netdev tap,vhost=off + virtio-net-pci),
# on the same tap, whose host side (10.0.2.1) is in a network namespace of its own;
# and, in user mode (no tap, no privilege needed),
#   - by kvmrun (--net user: passt), and by QEMU (-netdev user: its slirp),
# the host reaching the guest through hostfwd on 127.0.0.1.
# The guest runs an iperf3 server; the host runs iperf3 against it: host->guest and
# guest->host (-R), TCP, 1 and 4 streams; then 200 pings for the round-trip time
# (tap: the host pings the guest; user: the guest pings an address of the host's,
# 192.0.2.1, which user mode turns into the host's own pings). In user mode passt's
# own CPU time is shown apart from kvmrun's (QEMU's slirp runs in QEMU's threads).
# NET_MODES="tap user" (the default) or just one of them.
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
bench_need net.sh iperf3:iperf3 qemu-system-x86_64:qemu-system-x86 busybox:busybox-static \
  socat:socat passt:passt
modes=${NET_MODES:-tap user}
export KVMRUN=$bin TESTVM_TIMEOUT=${TESTVM_TIMEOUT:-3000}
. "$top/tests/system/lib.sh" "$bin"
kernel=$(guest_kernel)
kdir=$(dirname "$kernel")

# The guest: eth0 up as 10.0.2.15 (the gateway 10.0.2.2 in user mode), an iperf3
# server; "ping N" on port 5003 makes it ping 192.0.2.1 N times, anything else
# powers it off.
bench_initrd net "virtio_pci virtio_net" "$(command -v iperf3)" \
  "2 $(md5sum < "$(command -v iperf3)")" <<'INIT'
#!/bin/sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
/lib/load-modules >/dev/null 2>&1
ip link set lo up; ip link set eth0 up; ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
iperf3 -s -D
echo BENCH-READY
while :; do
  cmd=$(nc -l -p 5003)
  case $cmd in
  ping*) ping -c "${cmd#ping }" -i 0.05 192.0.2.1 2>&1 | sed 's/^/BENCH-P /'; echo BENCH-PING-DONE ;;
  *) break ;;
  esac
done
poweroff -f
INIT
# One CPU for the test machine (testvm's default): with two, the emulated machine
# is not stable (see fio.sh); guests of both VMMs died sending TCP to the host.
need_kvm "${orig_args[@]}"

work=$(mktemp -d)
ns=kvmrun-bench-$$
# A VMM still running (the bench stopped early) goes with it. Each step may fail
# (no job left, say): under set -e the first that did would end the trap there.
trap 'kill -9 $(jobs -p) 2>/dev/null || true; ip netns del "$ns" 2>/dev/null || true; ip link del kvb-up0 2>/dev/null || true; rm -rf "$work"' EXIT
ip netns add "$ns"
in_ns() { ip netns exec "$ns" "$@"; }
in_ns ip link set lo up
in_ns ip tuntap add tap0 mode tap
in_ns ip addr add 10.0.2.1/24 dev tap0
in_ns ip link set tap0 up
# User mode: passt wants a default route to take its template from, and the guest
# pings 192.0.2.1, an address of the machine's own; passt (as nobody) and slirp
# send their pings through ICMP datagram sockets, which ping_group_range allows.
ip link add kvb-up0 type veth peer name kvb-up1
ip addr add 192.0.2.1/24 dev kvb-up0
ip link set kvb-up0 up; ip link set kvb-up1 up
[[ -n $(ip -4 route show default) ]] || ip route add default via 192.0.2.254 dev kvb-up0
sysctl -q -w net.ipv4.ping_group_range="0 2147483647"

# Frames the tap dropped on their way to the guest (its queue was full: the VMM
# did not read it fast enough).
tap_drops() { in_ns cat /sys/class/net/tap0/statistics/tx_dropped; }

# iperf3's receiver rate in Mbit/s: iperf ARGS... A run that goes on far past its
# time means the VM stalled: say so instead of waiting for testvm's timeout.
iperf() {
  local out rc=0
  out=$(timeout $((20 * runtime + 120)) "${net_run[@]}" \
        iperf3 -c "$target" -t "$runtime" -f m "$@" 2>&1) || rc=$?
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
declare -A val=() cpu=() pcpu=()
tests=(host-guest:1 host-guest:4 guest-host:1 guest-host:4 ping)
run_vmm() {
  local vmm=$1 log=$work/$1.log pid t dir p v c0 c1 c boot= spread=
  local key=${2:+$2 }$1 runtime=$runtime pings=200 net_run=(ip netns exec "$ns") target=10.0.2.15
  local fwd=hostfwd=tcp:127.0.0.1:5201-:5201,hostfwd=tcp:127.0.0.1:5003-:5003 passt=
  [[ -z ${2:-} ]] || runtime=1 pings=20
  [[ $vmm != *-user ]] || net_run=(env) target=127.0.0.1
  case $vmm in
    kvmrun) cmd=("$bin" run --kernel "$kernel" --initrd "$initrd" --memory 512M --cpus 2
                 --append "quiet" --net tap=tap0 --console none --console-log "$log"
                 --log-level debug) ;; # for the device's counters at exit
    qemu) cmd=(qemu-system-x86_64 -M q35 -accel kvm -cpu host -m 512M -smp 2 -nodefaults
               -no-user-config -display none -no-reboot -serial "file:$log"
               -kernel "$kernel" -initrd "$initrd" -append "console=ttyS0 quiet panic=-1"
               -netdev tap,id=n0,ifname=tap0,script=no,downscript=no,vhost=off
               -device virtio-net-pci,netdev=n0 -name debug-threads=on) ;;
    kvmrun-user) cmd=("$bin" run --kernel "$kernel" --initrd "$initrd" --memory 512M --cpus 2
                 --append "quiet" --net "user,$fwd" --console none --console-log "$log"
                 --log-level debug) ;;
    qemu-user) cmd=(qemu-system-x86_64 -M q35 -accel kvm -cpu host -m 512M -smp 2 -nodefaults
               -no-user-config -display none -no-reboot -serial "file:$log"
               -kernel "$kernel" -initrd "$initrd" -append "console=ttyS0 quiet panic=-1"
               -netdev "user,id=n0,$fwd" -device virtio-net-pci,netdev=n0
               -name debug-threads=on) ;;
  esac
  : > "$log"
  local drops; drops=$(tap_drops)
  "${net_run[@]}" "${cmd[@]}" > "$work/$vmm.err" 2>&1 < /dev/null &
  pid=$!
  local start=$SECONDS
  until grep -q BENCH-READY "$log"; do
    kill -0 "$pid" 2>/dev/null || { cat "$log" "$work/$vmm.err" >&2; echo "net.sh: $vmm ended" >&2; exit 1; }
    stalled "$vmm" "$pid" "$start" 600 "the guest did not come up"
    sleep 0.2
  done
  # The VMM itself, for its CPU time: $pid is the shell of in_ns, or already the VMM.
  # Down to the VMM, not below it: kvmrun's child is passt.
  local vpid=$pid kids
  while [[ $(cat "/proc/$vpid/comm" 2>/dev/null) != @(kvmrun|qemu-system-x86*) ]] &&
        kids=$(cat "/proc/$vpid/task/$vpid/children" 2>/dev/null) && [[ -n $kids ]]; do
    vpid=${kids%% *}
  done
  # passt: kvmrun's child, its CPU time counted apart.
  [[ $vmm != kvmrun-user ]] || { passt=$(cat "/proc/$vpid/task/$vpid/children"); passt=${passt%% *}; }
  local try=0
  until "${net_run[@]}" iperf3 -c "$target" -t 1 --connect-timeout 5000 > "$work/warmup.log" 2>&1; do
    try=$((try + 1)); sleep 0.5
    if ((try == 30)); then
      cat "$work/warmup.log" >&2; in_ns busybox ping -c 3 10.0.2.15 >&2 || true
      echo "net.sh: $vmm: no iperf3 connection to the guest" >&2; exit 1
    fi
  done
  for t in "${tests[@]}"; do
    IFS=: read -r dir p <<< "$t"
    c0=$(vmm_cpu_ns "$vpid") p0=0 p1=0
    [[ -z $passt ]] || p0=$(proc_cpu_ns "$passt")
    case $dir in
      host-guest) v=$(iperf -P "$p") ;;
      guest-host) v=$(iperf -P "$p" -R) ;;
      ping) if [[ $vmm == *-user ]]; then guest_ping; else
              in_ns busybox ping -c "$pings" -i 0.05 10.0.2.15 > "$work/ping.out" || true; fi
            v=$(sed -n 's|.*min/avg/max = [0-9.]*/\([0-9.]*\)/.*|\1|p' "$work/ping.out")
            # Where the mean comes from: min, median, 90th percentile and max.
            spread=$(sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' "$work/ping.out" | sort -n |
              awk '{ t[NR] = $1 } END { if (NR) printf "%s/%s/%s/%s", t[1], t[int((NR + 1) / 2)], t[int(NR * 0.9 + 0.5)], t[NR] }') ;;
    esac
    c1=$(vmm_cpu_ns "$vpid")
    [[ -z $passt ]] || p1=$(proc_cpu_ns "$passt")
    [[ -n $v ]] || continue
    val[$key:$t]+=" $v"
    # The VMM's own CPU time per MB moved (iperf3's receiver rate over the run) or
    # per round trip.
    c=$(awk -v c=$((c1 - c0)) -v v="$v" -v t="$runtime" -v ping=$([[ $dir == ping ]] && echo 1 || echo 0) \
      -v pings="$pings" 'BEGIN { n = ping ? pings : v * t / 8; if (n > 0) printf "%.1f", c / 1000 / n }')
    cpu[$key:$t]+=" $c" boot+=" $v ($c)"
    [[ -z $passt ]] || pcpu[$key:$t]+=" $(awk -v c=$((p1 - p0)) -v v="$v" -v t="$runtime" \
      -v ping=$([[ $dir == ping ]] && echo 1 || echo 0) -v pings="$pings" \
      'BEGIN { n = ping ? pings : v * t / 8; if (n > 0) printf "%.1f", c / 1000 / n }')"
  done
  # Each boot's figures too: a mean over boots hides the one that went wrong.
  echo "net.sh: $key:$boot${passt:+ (passt pid $passt)}; ping ms min/median/p90/max $spread; tap0 dropped $(($(tap_drops) - drops)) frames for the guest" >&2
  if [[ $vmm == *-user ]]; then echo bye | timeout 60 socat -u STDIN TCP:127.0.0.1:5003 || true
  else echo bye | timeout 60 ip netns exec "$ns" busybox nc 10.0.2.15 5003 || true; fi
  start=$SECONDS
  while kill -0 "$pid" 2>/dev/null; do
    stalled "$vmm" "$pid" "$start" 120 "the guest did not power off"
    sleep 0.2
  done
  wait "$pid" || true
  sed -n 's/.*\(virtio-net .*\)/net.sh:   \1/p' "$work/$vmm.err" >&2
}

# A whole process's CPU time in ns from /proc/PID/stat (passt: it makes itself
# undumpable, which hides its threads' schedstat from us).
proc_cpu_ns() { awk -v hz="$hz" '{ printf "%d", ($14 + $15) * 1000000000 / hz }' "/proc/$1/stat" 2>/dev/null || echo 0; }
hz=$(getconf CLK_TCK)

# User mode: the guest pings 192.0.2.1 $pings times (asked on port 5003 through
# hostfwd); its lines land in the console log, in $work/ping.out as ping printed them.
guest_ping() {
  local n0 end=$((SECONDS + 120 + pings))
  n0=$(grep -c BENCH-PING-DONE "$log" || true)
  echo "ping $pings" | timeout 60 socat -u STDIN TCP:127.0.0.1:5003 || true
  until (($(grep -c BENCH-PING-DONE "$log" || true) > n0)); do
    ((SECONDS < end)) || { echo "net.sh: $vmm: the guest's pings did not end" >&2; break; }
    sleep 0.2
  done
  tr -d '\r' < "$log" | awk -v n="$n0" '/BENCH-PING-DONE/ { d++ } d == n && /^BENCH-P / { sub(/^BENCH-P /, ""); print }' > "$work/ping.out"
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
pairs=()
[[ " $modes " != *" tap "* ]] || pairs+=("kvmrun qemu")
[[ " $modes " != *" user "* ]] || pairs+=("kvmrun-user qemu-user")
for pair in "${pairs[@]}"; do
  read -r k q <<< "$pair"
  run_vmm "$k" warm-up; run_vmm "$q" warm-up
  for ((r = 0; r < rounds; r++)); do
    if ((r % 2)); then run_vmm "$q"; run_vmm "$k"; else run_vmm "$k"; run_vmm "$q"; fi
  done
done
mean_of() { awk '{ for (i = 1; i <= NF; i++) s += $i; if (NF) printf (s / NF >= 100 ? "%.0f" : "%.3f"), s / NF }' <<< "$1"; }
for k in "${!val[@]}"; do
  val[$k]=$(mean_of "${val[$k]}"); cpu[$k]=$(mean_of "${cpu[$k]:-}"); pcpu[$k]=$(mean_of "${pcpu[$k]:-}")
done
# The goal is on what kvmrun itself spends, which holds still from run to run: its
# threads' CPU per MB moved at most 0.25x QEMU's. Throughput and round-trip ratios
# are printed, not judged: on nested KVM in the emulated machine they drift by tens
# of per cent and mostly measure the guest's and the host kernel's work.
if [[ " $modes " == *" tap "* ]]; then
echo "Tap (--net tap=tap0 vs -netdev tap,vhost=off):"
echo
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
fi
if [[ " $modes " == *" user "* ]]; then
echo
echo "User mode (--net user, passt, vs -netdev user, slirp; through hostfwd):"
echo
echo "| test | kvmrun | QEMU | kvmrun/QEMU | VMM CPU kvmrun | VMM CPU QEMU | CPU kvmrun/QEMU | goal | met | passt CPU |"
echo "|---|---:|---:|---:|---:|---:|---:|---|---|---:|"
for t in "${tests[@]}"; do
  k=${val[kvmrun-user:$t]:-} q=${val[qemu-user:$t]:-} ck=${cpu[kvmrun-user:$t]:-} cq=${cpu[qemu-user:$t]:-}
  pc=${pcpu[kvmrun-user:$t]:-}
  cr=$(ratio "$ck" "$cq")
  case $t in
    ping) echo "| ping RTT guest->host, ms (ratio: QEMU/kvmrun; CPU: us per ping) | $k | $q | $(ratio "$q" "$k") | $ck | $cq | $cr | | | $pc |" ;;
    *) echo "| TCP ${t%%:*}, ${t##*:} stream(s), Mbit/s (CPU: us per MB) | $k | $q | $(ratio "$k" "$q") | $ck | $cq | $cr | CPU <= 0.5x | $(goal_met "$cr" 0.5) | $pc |" ;;
  esac
done
fi
echo
echo "Guest: Debian $(cat "$kdir/version"), 2 vCPUs, 512 MiB; iperf3 ${runtime}s per line; 200 pings 0.05 s apart; means of $rounds rounds per VMM, in alternating order. Goals on the VMM's CPU time per MB (its threads but the vCPUs'); throughput and ping ratios are printed only."
if [[ -n ${TESTVM_OUT:-} ]]; then echo "Ran on nested KVM inside scripts/testvm (QEMU TCG): absolute numbers are far below hardware; compare ratios."; fi
