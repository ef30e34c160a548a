#!/usr/bin/env bash
# Boots Debian's cloud kernel under kvmrun and checks what the guest reports.
# Usage: boot.sh KVMRUN CASE
. "$(dirname "$0")/lib.sh"
need_kvm "$@"

# A guest whose init waits for a line on stdin that never comes, started in the
# background with kvmrun options "$@"; returns once the init runs ($pid, $log).
start_waiting() {
  fifo=$(mktemp -u); mkfifo "$fifo"
  exec 3<>"$fifo"
  BOOT_STDIN=$fifo boot_bg echo "$@"
  wait_console KVMRUN-INIT-OK
}
# Stops it with signal $1 (TERM, INT); its exit status must be $2.
stop_waiting() {
  kill -s "$1" "$pid"
  wait_bg
  exec 3>&-
  [ "$rc" = "$2" ] || { show; fail "exit status $rc after SIG$1, expected $2"; }
}

case $2 in
one-cpu)
  boot info --cpus 1 --memory 256M
  expect_rc 0; expect_line KVMRUN-INIT-OK
  [ "$(value CPUS)" = 1 ] || { show; fail "guest sees $(value CPUS) CPUs, expected 1"; }
  mem=$(value MEMTOTAL_KB)
  [ "$mem" -gt $((200 * 1024)) ] && [ "$mem" -le $((256 * 1024)) ] ||
    { show; fail "MemTotal $mem kB for 256 MiB"; } ;;
two-cpus-big)
  boot info --cpus 2 --memory 3584M
  expect_rc 0; expect_line KVMRUN-INIT-OK
  [ "$(value CPUS)" = 2 ] || { show; fail "guest sees $(value CPUS) CPUs, expected 2"; }
  # KVM's TSC-deadline timer is offered (CPUID), and the guest's timer uses it.
  [ "$(value CLOCKEVENT)" = lapic-deadline ] ||
    { show; fail "guest timer is '$(value CLOCKEVENT)', expected lapic-deadline"; }
  mem=$(value MEMTOTAL_KB)
  [ "$mem" -gt $((3300 * 1024)) ] && [ "$mem" -le $((3584 * 1024)) ] ||
    { show; fail "MemTotal $mem kB for 3.5 GiB"; } ;;
above-4g)
  # 4.5 GiB: 3 GiB below the device hole, the rest from 4 GiB up.
  boot info --memory 4608M
  expect_rc 0
  mem=$(value MEMTOTAL_KB)
  [ "$mem" -gt $((4300 * 1024)) ] && [ "$mem" -le $((4608 * 1024)) ] ||
    { show; fail "MemTotal $mem kB for 4.5 GiB"; } ;;
poweroff)
  boot poweroff; expect_rc 0; expect_line KVMRUN-INIT-OK ;;
reboot)
  boot reboot; expect_rc 0; expect_line KVMRUN-INIT-OK ;;
panic)
  boot panic; expect_rc 5; expect_line KVMRUN-INIT-OK
  grep -q "guest kernel panicked" "$out" || { show; fail "no panic line"; } ;;
stdin|stdin-hvc0)
  # The line is written once the guest's init reads its console, through a pipe;
  # with --console virtio that console is hvc0.
  con=serial tty=/dev/console; [ "$2" = stdin-hvc0 ] && con=virtio tty=/dev/hvc0
  fifo=$(mktemp -u); mkfifo "$fifo"; exec 3<>"$fifo"
  BOOT_STDIN=$fifo boot_bg echo --console "$con"
  wait_console '^STDIN='
  echo "hello-from-host-$$" >&3
  wait_bg
  expect_rc 0; expect_line "STDIN=$tty"; expect_line "GOT:hello-from-host-$$" ;;
huge-pages)
  # Guest RAM is one 2 MiB-aligned mapping offered transparent huge pages: once
  # the guest runs, part of it is backed by them.
  if grep -q '\[never\]' /sys/kernel/mm/transparent_hugepage/enabled; then
    echo "SKIP: transparent huge pages are off on this host" >&2; exit 77
  fi
  fifo=$(mktemp -u); mkfifo "$fifo"
  log=$(mktemp) ram=$(mktemp)
  # The writer gives up at the deadline (the boot below fails then too).
  ( wait_until "KVMRUN-INIT-OK in $log" grep -qs KVMRUN-INIT-OK "$log"
    pid=$(pgrep -f -- "--console-log $log" | head -1)
    # Of the 256 MiB mappings (a sanitizer has its own), the one with the most
    # resident memory: its start address, THP eligibility, huge pages in kB.
    awk '/^[0-9a-f]+-[0-9a-f]+ / { split($1, r, "-"); start = r[1]; next }
         $1 == "Size:" { mine = ($2 == 262144) }
         mine && $1 == "Rss:" { rss = $2 }
         mine && $1 == "AnonHugePages:" { huge = $2 }
         mine && $1 == "THPeligible:" && (best == "" || rss > best_rss) {
           best = start " " $2 " " huge; best_rss = rss }
         END { if (best != "") print best }' \
      "/proc/$pid/smaps" > "$ram"
    echo "thp-$$" ) > "$fifo" &
  writer=$!
  on_exit "kill $writer"
  BOOT_STDIN=$fifo boot echo --memory 256M --console-log "$log"
  expect_rc 0; expect_line "GOT:thp-$$"
  await "$writer" "the writer of the guest's line" || fail "the writer of the guest's line failed"
  read -r start eligible huge < "$ram" || { show; fail "no 256 MiB mapping in kvmrun's smaps"; }
  (( 16#$start % (2 * 1024 * 1024) == 0 )) || fail "guest RAM starts at $start, not 2 MiB-aligned"
  [ "$eligible" = 1 ] || fail "guest RAM is not eligible for huge pages (THPeligible $eligible)"
  [ "${huge:-0}" -gt 0 ] || fail "no huge pages behind guest RAM (AnonHugePages ${huge:-0} kB)" ;;
date)
  boot info; expect_rc 0
  host=$(date +%s) guest=$(value DATE)
  d=$((host - guest)); d=${d#-}
  [ "$d" -le 120 ] || { show; fail "guest date $guest, host $host"; } ;;
console-log)
  log=$(mktemp)
  boot poweroff --console none --console-log "$log"; expect_rc 0
  grep -q KVMRUN-INIT-OK "$out" && fail "--console none still printed the guest's output"
  grep -q KVMRUN-INIT-OK "$log" || fail "--console-log $log lacks the guest's output" ;;
triple-fault)
  # ud2 with no IDT: #UD, #GP, #DF, then shutdown.
  k=$(mktemp); bash "$(dirname "$0")/tiny-kernel.sh" "$k" 0f0b
  out=$(mktemp); set +e
  within "kvmrun (triple fault)" "$KVMRUN" run --kernel "$k" --console none --log-level debug \
    > "$out" 2>&1 < /dev/null
  rc=$?
  set -e
  expect_rc 6
  grep -q "vCPU 0: triple fault" "$out" || { show; fail "no triple-fault line"; }
  grep -q "vCPU 0: rip=[0-9a-f]\{16\}" "$out" || { show; fail "no register dump"; } ;;
sigterm|sigint)
  # The guest waits for a line that never comes; the signal stops the VM in order.
  start_waiting
  if [ "$2" = sigterm ]; then stop_waiting TERM 143; else stop_waiting INT 130; fi ;;
sandbox|sandbox-off)
  # A running VM's threads, as the kernel reports them: with the sandbox each has
  # one seccomp filter of its own (mode 2), the vCPU threads' and the disk's
  # workers' not the loop's; with --sandbox off none. Then SIGTERM still ends it
  # in order.
  opt=on want_mode=2 want_filters=1; [ "$2" = sandbox-off ] && opt=off want_mode=0 want_filters=0
  img=$(mktemp); truncate -s 1M "$img"; on_exit "rm -f '$img'"
  start_waiting --cpus 2 --sandbox "$opt" --disk "$img"
  threads=0 vcpus=0 disk=0
  for s in /proc/$pid/task/*/status; do
    name=$(sed -n 's/^Name:\t//p' "$s") mode=$(sed -n 's/^Seccomp:\t//p' "$s")
    filters=$(sed -n 's/^Seccomp_filters:\t//p' "$s")
    [ "$mode" = "$want_mode" ] && [ "$filters" = "$want_filters" ] ||
      fail "thread $name: Seccomp $mode, Seccomp_filters $filters (--sandbox $opt)"
    threads=$((threads + 1))
    case $name in vcpu*) vcpus=$((vcpus + 1)) ;; disk-io) disk=$((disk + 1)) ;; esac
  done
  [ "$vcpus" = 2 ] && [ "$disk" = 4 ] && [ "$threads" = 7 ] ||
    fail "$threads threads, $vcpus vCPU threads, $disk disk workers (expected 7, 2 and 4)"
  stop_waiting TERM 143 ;;
full-stdout|full-stdout-hvc0)
  # kvmrun's stdout is a full, non-blocking pipe (a launcher's) whose reader first
  # sleeps: the guest's flood waits (UART: THRE; hvc0: its buffer in the ring), the
  # sandbox refuses nothing (exit 8 before), and once the reader drains, every
  # line arrives in order.
  con=serial; [ "$2" = full-stdout-hvc0 ] && con=virtio
  out=$(mktemp); err=$(mktemp)
  set +e
  python3 - "$out" "$KVMRUN" run --kernel "$(guest_kernel)" --initrd "$(guest_initrd)" \
    --append "quiet kvmrun.test=flood" --console "$con" 2> "$err" < /dev/null <<'PY'
import fcntl, os, subprocess, sys, time
r, w = os.pipe()
fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) | os.O_NONBLOCK)
try:
    while True:
        os.write(w, b"#" * 4096)
except BlockingIOError:
    pass
p = subprocess.Popen(sys.argv[2:], stdout=w)
os.close(w)
time.sleep(20)
with open(sys.argv[1], "wb") as f:
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        f.write(b)
sys.exit(p.wait())
PY
  rc=$?
  set -e
  tr -d '\r#' < "$out" > "$out.clean"; cat "$err" >> "$out.clean"; mv "$out.clean" "$out"
  expect_rc 0; expect_line FLOOD-DONE
  n=$(grep -c '^FLOOD [0-9]\{4\} abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwx$' "$out")
  [ "$n" = 1000 ] || {
    grep -n -v '^FLOOD [0-9]\{4\} abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwx$' \
      "$out" | head -20 >&2
    fail "$n whole flood lines of 1000 (the others above)"; }
  grep '^FLOOD [0-9]' "$out" | cut -c7-10 | awk '$1 != NR - 1 { bad = 1 } END { exit bad }' ||
    { show; fail "flood lines out of order"; } ;;
*) fail "unknown case $2" ;;
esac
echo "ok: $2"
