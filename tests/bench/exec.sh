#!/usr/bin/env bash
# Usage: tests/bench/exec.sh [--runs N] [--mib M] [KVMRUN]
#
# kvmrun exec against QEMU (not a test: it measures and prints). The same guest
# under both: Debian's cloud kernel (the system tests'), kvmrun's own exec
# initramfs (the agent as /init and its modules, taken from kvmrun's cache
# after a first run), the same kernel command line, 1 vCPU, 256 MiB, the
# host's / through virtiofsd as the root, the agent's channel a virtio-serial
# port named kvmrun.agent. QEMU is `-M microvm,pcie=on` with a memfd memory
# backend, vhost-user-fs-pci on a virtiofsd the bench starts, virtio-serial-pci
# with a virtserialport on a unix socket (server=on,wait=on); kvmrun's side of the
# agent protocol for it is tests/bench/exec-client.c, kvmrun's own relay and
# protocol code (src/exec/relay.c, proto.c) on that socket. PCI rather than
# virtio-mmio devices: the initramfs loads virtio_pci, and virtio_mmio is a
# module in the cloud kernel that it does not carry.
# Per VMM, alternating (ABBA), after one run of each that is not counted:
#   1. `true`, N runs (default 5): exec to the end of the VMM (QEMU: of QEMU and
#      the client; its virtiofsd's start included), and each phase of the reports
#      (kvmrun's --report, the client's; in ms since the VMM's launch);
#   2. M MiB (default 256) of stdout (`head -c M MiB /dev/zero`, to /dev/null),
#      2 runs: the host side's CPU time per MiB, i.e. the VMM's threads but its
#      vCPUs (sampled every 0.1 s until it ends: the last tenth of a second is
#      lost on both sides), and for QEMU the client's own CPU time (from its
#      report) on top, since kvmrun does the client's work in its own process.
#      virtiofsd is left out on both sides.
# Goals: `exec -- true` end to end <= 0.6x QEMU's; kvmrun's CPU per MiB of stdout
# <= 0.5x QEMU's. exec -> first KVM_RUN with a cached initramfs is measured
# natively by tests/bench/startup.sh (its kvmrun exec row).
#
# KVMRUN defaults to $KVMRUN, else build/kvmrun; the client is
# tests/bench/exec-client in KVMRUN's build directory. Needs qemu-system-x86_64
# (qemu-system-x86) and /usr/lib/qemu/virtiofsd (qemu-system-common). Without a
# usable /dev/kvm it re-runs itself inside scripts/testvm (need_kvm).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_options exec.sh runs=5 mib=256 -- "$@"
bench_need exec.sh qemu-system-x86_64:qemu-system-x86 python3:python3
client=$(dirname "$bin")/tests/bench/exec-client
[[ -x $client ]] || { echo "exec.sh: no $client (ninja -C $(dirname "$bin"))" >&2; exit 2; }
[[ -x /usr/lib/qemu/virtiofsd ]] || { echo "exec.sh: missing /usr/lib/qemu/virtiofsd (Debian package: qemu-system-common)" >&2; exit 1; }
export KVMRUN=$bin
export TESTVM_TIMEOUT=${TESTVM_TIMEOUT:-$((900 + runs * 240))}
. "$top/tests/system/lib.sh" "$bin"
need_kvm "${orig_args[@]}"

kernel=$(guest_kernel)
modules=$(echo "$(dirname "$kernel")"/lib/modules/*)
kver=$(cat "$(dirname "$kernel")/version" 2>/dev/null || echo unknown)
work=$(mktemp -d "${TMPDIR:-/tmp}/kvmrun-exec-bench.XXXXXX")
vpid= qpid= cpid=
trap 'for p in $vpid $qpid $cpid; do kill -9 $p 2>/dev/null; done; rm -rf "$work"' EXIT
export KVMRUN_CACHE=$work/cache
mkfifo "$work/tick"; exec {tick}<> "$work/tick"
nap() { read -r -t "$1" -u "$tick" _ || true; } # a sleep without a process
now_ns() { date +%s%N; }
# kvmrun exec's kernel command line (exec_kernel_cmdline): QEMU gets the same.
append="console=ttyS0 quiet panic=-1 reboot=k kvmrun.agent=kvmrun.agent kvmrun.hostname=kvmrun kvmrun.root=root"
sandbox=namespace
[[ $(stat -c %d:%i /) == $(stat -c %d:%i /proc/1/root) ]] || sandbox=chroot

# Starts one VMM on PROGRAM in the background: $pid (the VMM), $cpid (QEMU's client), report in $rep.
launch() { # VMM OUT PROGRAM...
  local vmm=$1 out=$2; shift 2
  rep=$work/$vmm.json cpid=
  rm -f "$rep"
  case $vmm in
  kvmrun)
    "$bin" exec --kernel "$kernel" --modules "$modules" --cpus 1 --memory 256M \
      --report "$rep" -- "$@" > "$out" 2> "$work/kvmrun.err" < /dev/null &
    pid=$! ;;
  qemu)
    rm -f "$work/vfs.sock" "$work/agent.sock"
    /usr/lib/qemu/virtiofsd --socket-path="$work/vfs.sock" -o source=/ -o sandbox=$sandbox \
      -o cache=auto 2> "$work/virtiofsd.err" < /dev/null &
    vpid=$!
    until [[ -S $work/vfs.sock ]]; do kill -0 $vpid 2>/dev/null || { cat "$work/virtiofsd.err" >&2; exit 1; }; nap 0.002; done
    qemu-system-x86_64 -M microvm,rtc=on,pcie=on,memory-backend=mem -enable-kvm -cpu host \
      -m 256M -smp 1 -object memory-backend-memfd,id=mem,size=256M,share=on \
      -nodefaults -no-user-config -display none -no-reboot -name debug-threads=on \
      -serial "file:$work/qemu.console" -kernel "$kernel" -initrd "$initrd" -append "$append" \
      -chardev socket,id=vfs,path="$work/vfs.sock" -device vhost-user-fs-pci,chardev=vfs,tag=root \
      -device virtio-serial-pci,max_ports=2 \
      -chardev socket,id=agent,path="$work/agent.sock",server=on,wait=on \
      -device virtserialport,chardev=agent,name=kvmrun.agent \
      > /dev/null 2> "$work/qemu.err" < /dev/null &
    pid=$!
    "$client" "$work/agent.sock" "$rep" -- "$@" > "$out" 2> "$work/client.err" < /dev/null &
    cpid=$! ;;
  esac
}

# Waits for the launched VMM (and client); sets $e2e_ms, $host_cpu_ns (VMM but vCPUs, last sample).
finish() { # VMM T0
  local end=$((SECONDS + KVMRUN_TEST_DEADLINE)) c rc=0
  host_cpu_ns=0
  while running "$pid"; do
    c=$(vmm_cpu_ns "$pid"); ((c > host_cpu_ns)) && host_cpu_ns=$c
    ((SECONDS < end)) || { echo "exec.sh: $1 not done after ${KVMRUN_TEST_DEADLINE}s" >&2; exit 1; }
    nap 0.1
  done
  wait "$pid" || rc=$?
  [[ -z $cpid ]] || { wait "$cpid" || rc=$?; cpid=; }
  e2e_ms=$(( ($(now_ns) - $2) / 1000 ))
  e2e_ms=$(awk -v u="$e2e_ms" 'BEGIN { printf "%.1f", u / 1000 }')
  if [[ $1 == qemu ]]; then # it may have ended with QEMU already
    kill "$vpid" 2>/dev/null || true; wait "$vpid" 2>/dev/null || true; vpid=
  fi
  ((rc == 0)) || { echo "exec.sh: $1 exited with $rc" >&2
    sed 's/^/  | /' "$work"/*.err "$work/qemu.console" 2>/dev/null | tail -40 >&2; exit 1; }
}

# The report's phases, ms since T0: "first_kvm_run agent_ready program_started program_ended done cpu_s".
phases() { # T0
  python3 - "$rep" "$1" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
off = (r["started_unix_ns"] - int(sys.argv[2])) / 1e6 if r["started_unix_ns"] else 0
p = r["phases_ms"]
print(" ".join("n/a" if p[k] is None else "%.1f" % (p[k] + off) for k in
               ("first_kvm_run", "agent_ready", "program_started", "program_ended", "done")),
      "%.6f" % (r["cpu_s"]["user"] + r["cpu_s"]["system"]))
EOF
}

# A first kvmrun run writes the initramfs into the cache; QEMU boots that same file.
launch kvmrun /dev/null true; finish kvmrun "$(now_ns)"
initrd=$(ls "$KVMRUN_CACHE"/exec/* | head -1)
[[ -f $initrd ]] || { echo "exec.sh: kvmrun left no initramfs in $KVMRUN_CACHE/exec" >&2; exit 1; }
launch qemu /dev/null true; finish qemu "$(now_ns)"
echo "exec.sh: $("$bin" --version 2>&1 | head -1) vs $(qemu-system-x86_64 --version | head -1), guest $kver, initramfs $(($(stat -c %s "$initrd") / 1024)) KiB" >&2

declare -A e2e=() ph=()
for ((i = 1; i <= runs; i++)); do
  if ((i % 2)); then order=(kvmrun qemu); else order=(qemu kvmrun); fi
  for vmm in "${order[@]}"; do
    t0=$(now_ns); launch "$vmm" "$work/out" true; finish "$vmm" "$t0"
    p=$(phases "$t0")
    e2e[$vmm]+=" $e2e_ms"
    read -r a b c d e _ <<< "$p"
    ph[$vmm:first]+=" $a" ph[$vmm:ready]+=" $b" ph[$vmm:started]+=" $c" ph[$vmm:ended]+=" $d" ph[$vmm:done]+=" $e"
    printf 'exec.sh: true run %d/%d %-6s end to end %8s ms; phases (first KVM_RUN, agent ready, started, ended, done) %s\n' \
      "$i" "$runs" "$vmm" "$e2e_ms" "$(cut -d' ' -f1-5 <<< "$p")" >&2
  done
done

declare -A cpu_mb=() wall_mb=()
bytes=$((mib * 1024 * 1024))
for order in "kvmrun qemu" "qemu kvmrun"; do
  for vmm in $order; do
    t0=$(now_ns); launch "$vmm" /dev/null head -c "$bytes" /dev/zero; finish "$vmm" "$t0"
    got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bytes"]["stdout"])' "$rep")
    [[ $got == "$bytes" ]] || { echo "exec.sh: $vmm relayed $got bytes of stdout, not $bytes" >&2; exit 1; }
    p=$(phases "$t0"); client_s=0
    [[ $vmm == qemu ]] && client_s=$(awk '{ print $6 }' <<< "$p")
    c=$(awk -v n="$host_cpu_ns" -v c="$client_s" -v m="$mib" 'BEGIN { printf "%.3f", (n / 1e6 + c * 1e3) / m }')
    w=$(awk -v s="$(awk '{ print $4 - $3 }' <<< "$p")" -v m="$mib" 'BEGIN { printf "%.3f", s / m }')
    cpu_mb[$vmm]+=" $c" wall_mb[$vmm]+=" $w"
    printf 'exec.sh: %d MiB of stdout %-6s host CPU %s ms/MiB (client %s s), PROGRAM start to end %s ms/MiB\n' \
      "$mib" "$vmm" "$c" "$client_s" "$w" >&2
  done
done

m() { median $1; } # shellcheck disable=SC2086
row() { # label key
  echo "| $1 | $(fmt "$(m "${ph[kvmrun:$2]}")" 1) | $(fmt "$(m "${ph[qemu:$2]}")" 1) | $(ratio "$(m "${ph[kvmrun:$2]}")" "$(m "${ph[qemu:$2]}")") | |"
}
ek=$(m "${e2e[kvmrun]}") eq=$(m "${e2e[qemu]}") ck=$(m "${cpu_mb[kvmrun]}") cq=$(m "${cpu_mb[qemu]}")
cat <<EOF
| exec (median; ms since the VMM's launch) | kvmrun | QEMU microvm | kvmrun/QEMU | goal |
|---|---:|---:|---:|---|
| \`exec -- true\` end to end, ms ($runs runs) | $(fmt "$ek" 1) | $(fmt "$eq" 1) | $(ratio "$ek" "$eq") | <= 0.6: $(goal_met "$(ratio "$ek" "$eq")" 0.6) |
$(row "first KVM_RUN" first)
$(row "agent ready (HELLO)" ready)
$(row "PROGRAM started (START sent)" started)
$(row "PROGRAM ended (EXIT)" ended)
$(row "done (report written)" done)
| host CPU per MiB of stdout ($mib MiB, 2 runs), ms | $(fmt "$ck" 3) | $(fmt "$cq" 3) | $(ratio "$ck" "$cq") | <= 0.5: $(goal_met "$(ratio "$ck" "$cq")" 0.5) |
| PROGRAM start to end per MiB of stdout, ms | $(fmt "$(m "${wall_mb[kvmrun]}")" 3) | $(fmt "$(m "${wall_mb[qemu]}")" 3) | $(ratio "$(m "${wall_mb[kvmrun]}")" "$(m "${wall_mb[qemu]}")") | |

Ran on $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1) ($(nproc) CPUs), Linux $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg).
Guest: Debian $kver, kvmrun's exec initramfs, 1 vCPU, 256 MiB, root / through virtiofsd (cache=auto). QEMU: $(qemu-system-x86_64 --version | head -1 | sed 's/^QEMU emulator version //'), \`-M microvm,rtc=on,pcie=on\`, memfd backend, vhost-user-fs-pci, virtio-serial-pci; its host side is tests/bench/exec-client (kvmrun's relay). QEMU has no first KVM_RUN in a report (n/a).
EOF
