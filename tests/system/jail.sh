#!/usr/bin/env bash
# --jail, --cgroup and --limit, looked at from outside while the guest runs: kvmrun's
# root (empty, not the host's: /etc/passwd cannot be reached through it), its
# capabilities (none), no_new_privs, its namespaces (not the test's), its seccomp
# filters (still one per thread) and rlimits; as root and as nobody; refused with one
# line where the host forbids user namespaces; the cgroup leaf and its limits; and
# exec, jailed by default, still running PROGRAM with its shares.
# Usage: jail.sh KVMRUN CASE
. "$(dirname "$0")/lib.sh"

need_kvm "$@"
work=$(mktemp -d); on_exit "rm -rf '$work'"
chmod 0755 "$work"

# The guest waits on its console (boot.sh's start_waiting): kvmrun as $as (root or
# nobody) with the options given; $pid is kvmrun's.
start_waiting() {
  local as=$1; shift
  fifo=$work/fifo; mkfifo "$fifo"; chmod 0666 "$fifo"
  exec 3<>"$fifo"
  log=$work/console; : > "$log"; : > "$log.err"; chmod 0666 "$log" "$log.err"
  cp "$(guest_kernel)" "$work/vmlinuz"; cp "$(guest_initrd)" "$work/initrd"
  chmod 0644 "$work/vmlinuz" "$work/initrd"
  local cmd=("$KVMRUN" run --kernel "$work/vmlinuz" --initrd "$work/initrd"
             --append "quiet kvmrun.test=echo" --console-log "$log" "$@")
  if [ "$as" = nobody ]; then
    cmd=(setpriv --reuid=65534 --regid=65534 --clear-groups "${cmd[@]}")
  fi
  "${cmd[@]}" > "$log.err" 2>&1 < "$fifo" 3>&- &
  pid=$!
  on_exit "kill -9 $pid"
  wait_console KVMRUN-INIT-OK
  # setpriv execs kvmrun: the same process
  [ "$(cat "/proc/$pid/comm")" = kvmrun ] || fail "process $pid is $(cat "/proc/$pid/comm")"
}
stop_waiting() {
  kill -TERM "$pid"
  wait_bg
  exec 3>&-
  [ "$rc" = 143 ] || { show; fail "exit status $rc after SIGTERM, expected 143"; }
}
field() { sed -n "s/^$2:[[:space:]]*//p" "$1"; }

# Every thread: no capability in any set, no_new_privs, its own seccomp filter.
check_threads() {
  local s name n=0
  for s in /proc/$pid/task/*/status; do
    name=$(field "$s" Name)
    case $name in kvm-*) continue ;; esac # KVM's worker in the process: the kernel's
    for k in CapInh CapPrm CapEff CapBnd CapAmb; do
      [ "$(field "$s" $k)" = 0000000000000000 ] || fail "thread $name: $k $(field "$s" $k)"
    done
    [ "$(field "$s" NoNewPrivs)" = 1 ] || fail "thread $name: NoNewPrivs $(field "$s" NoNewPrivs)"
    [ "$(field "$s" Seccomp)" = 2 ] || fail "thread $name: Seccomp $(field "$s" Seccomp)"
    n=$((n + 1))
  done
  # the loop, 2 vCPUs, the disk's 4 workers
  [ "$n" = 7 ] || fail "$n threads, expected 7"
}

# The jail as seen from outside; $1: whether kvmrun is in a user namespace of its own.
check_jail() {
  local userns=$1 ns mine theirs
  [ -z "$(ls -A "/proc/$pid/root/")" ] || fail "kvmrun's root is not empty: $(ls -A "/proc/$pid/root/")"
  [ ! -e "/proc/$pid/root/etc/passwd" ] || fail "/etc/passwd reachable from kvmrun's root"
  [ ! -e "/proc/$pid/root/proc" ] || fail "kvmrun's root has /proc"
  # read-only, and nothing of the host's mounts
  grep -q -E '^[^ ]+ / tmpfs ro[, ]' "/proc/$pid/mounts" || { cat "/proc/$pid/mounts" >&2; fail "root not a read-only tmpfs"; }
  [ "$(wc -l < "/proc/$pid/mounts")" = 1 ] || { cat "/proc/$pid/mounts" >&2; fail "more mounts than the root"; }
  for ns in mnt net ipc uts cgroup user; do
    mine=$(readlink "/proc/self/ns/$ns") theirs=$(readlink "/proc/$pid/ns/$ns")
    if [ "$ns" = user ] && [ "$userns" = no ]; then
      [ "$mine" = "$theirs" ] || fail "user namespace $theirs as root"
    else
      [ "$mine" != "$theirs" ] || fail "namespace $ns is the test's ($mine)"
    fi
  done
  check_threads
  grep -q -E '^Max core file size +0 +0 ' "/proc/$pid/limits" || fail "core: $(grep core "/proc/$pid/limits")"
  # the threads above and KVM's worker: no more
  grep -q -E '^Max processes +8 +8 ' "/proc/$pid/limits" || fail "nproc: $(grep processes "/proc/$pid/limits")"
  n=$(grep -E '^Max open files' "/proc/$pid/limits" | awk '{ print $4 }')
  high=$(ls "/proc/$pid/fd" | sort -n | tail -1)
  [ "$n" -gt "$high" ] && [ "$n" -le $((high + 1 + 64)) ] || fail "nofile $n, highest descriptor $high"
  # the net namespace has nothing but a loopback, down
  [ "$(nsenter -t "$pid" -n ip -o link | wc -l)" = 1 ] || fail "links in kvmrun's net namespace"
}

img=$work/disk.img; truncate -s 8M "$img"; chmod 0666 "$img"

case $2 in
root)
  start_waiting root --cpus 2 --disk "$img" --jail on
  check_jail no
  stop_waiting ;;
nobody)
  # /dev/kvm for everybody, in this test machine only
  mode=$(stat -c %a /dev/kvm); on_exit "chmod $mode /dev/kvm"; chmod 0666 /dev/kvm
  start_waiting nobody --cpus 2 --disk "$img" --jail on
  [ "$(field "/proc/$pid/status" Uid | awk '{ print $1 }')" = 65534 ] || fail "not nobody"
  check_jail yes
  [ "$(awk '{ print $1, $2, $3 }' "/proc/$pid/uid_map")" = "65534 65534 1" ] ||
    fail "uid_map: $(cat "/proc/$pid/uid_map")"
  [ "$(cat "/proc/$pid/setgroups")" = deny ] || fail "setgroups $(cat "/proc/$pid/setgroups")"
  stop_waiting ;;
off)
  # run's default: no jail, the filters still there
  start_waiting root --cpus 2 --disk "$img"
  [ "$(readlink "/proc/$pid/root")" = / ] || fail "root $(readlink "/proc/$pid/root") without --jail"
  for ns in mnt net user; do
    [ "$(readlink "/proc/self/ns/$ns")" = "$(readlink "/proc/$pid/ns/$ns")" ] || fail "namespace $ns without --jail"
  done
  for s in /proc/$pid/task/*/status; do
    case $(field "$s" Name) in kvm-*) continue ;; esac
    [ "$(field "$s" Seccomp)" = 2 ] || fail "Seccomp $(field "$s" Seccomp) without --jail"
  done
  stop_waiting ;;
refused)
  # No user namespaces on this host any more: nobody's --jail on stops with one line
  # and status 4 before the guest runs; root needs none and still runs.
  max=$(cat /proc/sys/user/max_user_namespaces)
  on_exit "echo $max > /proc/sys/user/max_user_namespaces"
  echo 0 > /proc/sys/user/max_user_namespaces
  mode=$(stat -c %a /dev/kvm); on_exit "chmod $mode /dev/kvm"; chmod 0666 /dev/kvm
  cp "$(guest_kernel)" "$work/vmlinuz"; chmod 0644 "$work/vmlinuz"
  : > "$work/console"; chmod 0666 "$work/console"
  set +e
  within "kvmrun --jail on as nobody" setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$KVMRUN" run --kernel "$work/vmlinuz" --console-log "$work/console" --jail on \
    > "$work/out" 2> "$work/err" < /dev/null
  rc=$?
  set -e
  [ "$rc" = 4 ] || { cat "$work/err" >&2; fail "exit status $rc, expected 4"; }
  [ "$(wc -l < "$work/err")" = 1 ] || { cat "$work/err" >&2; fail "not one line"; }
  grep -q -- "--jail on: cannot create a user namespace" "$work/err" || { cat "$work/err" >&2; fail "the line"; }
  [ ! -s "$work/console" ] || fail "the guest ran: $(head -3 "$work/console")"
  start_waiting root --cpus 2 --disk "$img" --jail on
  check_jail no
  stop_waiting ;;
cgroup|cgroup-nobody)
  # a cgroup v2 directory with the memory, cpu and pids controllers for its children
  cg=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
  if [ -z "$cg" ]; then
    cg=$work/cgroup2; mkdir "$cg"; mount -t cgroup2 none "$cg"; on_exit "umount '$cg'"
  fi
  for c in memory cpu pids; do
    grep -qw "$c" "$cg/cgroup.controllers" || fail "no $c controller in $cg"
    grep -qw "$c" "$cg/cgroup.subtree_control" || echo "+$c" > "$cg/cgroup.subtree_control"
  done
  dir=$cg/kvmrun-jail-test.$$; mkdir "$dir"; on_exit "rmdir '$dir'"
  as=root userns=no
  if [ "$2" = cgroup-nobody ]; then
    # delegated to nobody, who starts in DIR/launch (moved there by root): kvmrun
    # makes its leaf beside it and moves itself (DIR's cgroup.procs is nobody's)
    as=nobody userns=yes
    mode=$(stat -c %a /dev/kvm); on_exit "chmod $mode /dev/kvm"; chmod 0666 /dev/kvm
    for c in memory cpu pids; do echo "+$c" > "$dir/cgroup.subtree_control"; done
    mkdir "$dir/launch"; on_exit "rmdir '$dir/launch'"
    chown 65534:65534 "$dir" "$dir/cgroup.procs" "$dir/cgroup.threads" "$dir/launch" \
      "$dir/launch/cgroup.procs"
    echo $$ > "$dir/launch/cgroup.procs"
    on_exit "echo $$ > '$cg/cgroup.procs'"
  fi
  start_waiting $as --cpus 2 --disk "$img" --jail on --cgroup "$dir" \
    --limit memory=512M,cpus=1.5,pids=64
  leaf=$dir/kvmrun.$pid; on_exit "rmdir '$leaf'"
  [ "$(cat "$leaf/memory.max")" = 536870912 ] || fail "memory.max $(cat "$leaf/memory.max")"
  [ "$(cat "$leaf/cpu.max")" = "150000 100000" ] || fail "cpu.max $(cat "$leaf/cpu.max")"
  [ "$(cat "$leaf/pids.max")" = 64 ] || fail "pids.max $(cat "$leaf/pids.max")"
  grep -qx "$pid" "$leaf/cgroup.procs" || fail "kvmrun not in $leaf"
  [ "$(cat "$leaf/pids.current")" -ge 7 ] || fail "pids.current $(cat "$leaf/pids.current")"
  [ "$(cat "$leaf/memory.current")" -gt $((16 << 20)) ] || fail "memory.current $(cat "$leaf/memory.current")"
  check_jail $userns
  stop_waiting ;;
exec)
  # exec jails itself by default: PROGRAM still runs, the root and a share still serve
  command -v /usr/lib/qemu/virtiofsd > /dev/null || fail "no /usr/lib/qemu/virtiofsd (qemu-system-common)"
  kernel=$(guest_kernel)
  modules=$(echo "$(dirname "$kernel")"/lib/modules/*)
  export KVMRUN_CACHE=$work/cache
  mkdir "$work/shared"; echo from-host > "$work/shared/in"
  set +e
  within "kvmrun exec" "$KVMRUN" exec --kernel "$kernel" --modules "$modules" \
    --report "$work/report.json" --share "$work/shared" -- \
    sh -c "cat $work/shared/in && echo from-guest > $work/shared/out && true" \
    > "$work/out" 2> "$work/err" < /dev/null
  rc=$?
  set -e
  [ "$rc" = 0 ] || { cat "$work/out" "$work/err" >&2; fail "exit status $rc, expected 0"; }
  [ "$(cat "$work/out")" = from-host ] || { cat "$work/out" "$work/err" >&2; fail "stdout"; }
  [ "$(cat "$work/shared/out")" = from-guest ] || fail "the share did not get the file"
  python3 - "$work/report.json" <<'PY' || fail "the report's jail: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["jail"])' "$work/report.json")"
import json, sys
j = json.load(open(sys.argv[1]))["jail"]
assert j["on"] is True and j["entered"] is True and j["user_namespace"] is False
assert sorted(j["namespaces"]) == ["cgroup", "ipc", "mount", "net", "uts"], j["namespaces"]
assert j["rlimits"]["core"] == 0 and j["rlimits"]["nofile"] > 64 and j["rlimits"]["nproc"] >= 3
assert j["cgroup"] is None
PY
  ;;
*) fail "unknown case $2" ;;
esac
