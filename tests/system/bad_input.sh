#!/usr/bin/env bash
# A user's mistakes: each gets one line naming the file or option and the documented
# exit status (kvmrun --help), and leaves nothing behind.
# Usage: bad_input.sh KVMRUN CASE
. "$(dirname "$0")/lib.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# run STATUS PATTERN kvmrun-args...: exit status and the single line on stderr.
run() {
  local want=$1 pattern=$2; shift 2
  set +e
  (cd "$work" && within "kvmrun $*" "$KVMRUN" "$@" > "$work/out" 2> "$work/err" < /dev/null)
  rc=$?
  set -e
  lines=$(wc -l < "$work/err")
  [ "$rc" = "$want" ] || { cat "$work/err" >&2; fail "exit status $rc, expected $want"; }
  [ "$lines" = 1 ] || { cat "$work/err" >&2; fail "$lines lines on stderr, expected 1"; }
  grep -q -- "$pattern" "$work/err" || { cat "$work/err" >&2; fail "stderr does not name '$pattern'"; }
  [ -z "$(ls "$work" | grep -v -x -e out -e err -e img)" ] || fail "left files behind: $(ls "$work")"
}
kernel() { guest_kernel; }

case $2 in
missing-kernel)  run 3 "kernel /nonexistent/vmlinuz: No such file" run --kernel /nonexistent/vmlinuz ;;
kernel-is-dir)   run 3 "not a regular file" run --kernel / ;;
not-bzimage)     head -c 8192 /dev/urandom > "$work/img"; run 3 "kernel $work/img: not a bzImage" run --kernel "$work/img" ;;
empty-kernel)    : > "$work/img"; run 3 "kernel $work/img: too short" run --kernel "$work/img" ;;
truncated)       head -c 200000 "$(kernel)" > "$work/img"; run 3 "kernel $work/img: truncated" run --kernel "$work/img" ;;
old-protocol)
  cp "$(kernel)" "$work/img"
  printf '\x09\x02' | dd of="$work/img" bs=1 seek=$((0x206)) conv=notrunc status=none
  run 3 "older than 2.12" run --kernel "$work/img" ;;
missing-initrd)  run 3 "initrd /nonexistent/initrd: No such file" run --kernel "$(kernel)" --initrd /nonexistent/initrd ;;
no-command)      run 2 "no command" ;;
unknown-option)  run 2 "unknown option '--bogus'" run --bogus ;;
no-kernel)       run 2 "\-\-kernel FILE is required" run --cpus 1 ;;
cpus-zero)       run 2 "\-\-cpus '0'" run --kernel "$(kernel)" --cpus 0 ;;
cpus-junk)       run 2 "\-\-cpus 'two'" run --kernel "$(kernel)" --cpus two ;;
memory-junk)     run 2 "\-\-memory 'lots'" run --kernel "$(kernel)" --memory lots ;;
memory-small)    run 2 "\-\-memory '1M'" run --kernel "$(kernel)" --memory 1M ;;
memory-overflow) run 2 "\-\-memory '99999999999999999999G'" run --kernel "$(kernel)" --memory 99999999999999999999G ;;
console-junk)    run 2 "\-\-console 'tty'" run --kernel "$(kernel)" --console tty ;;
sandbox-junk)    run 2 "\-\-sandbox 'yes'" run --kernel "$(kernel)" --sandbox yes ;;
console-log-dir) run 2 "\-\-console-log /nonexistent/dir/log" run --kernel "$(kernel)" --console none --console-log /nonexistent/dir/log ;;
no-kvm)
  # /dev/kvm hidden in a private mount namespace.
  KVMRUN=$KVMRUN unshare -m bash -c 'mount -t tmpfs none /dev && mknod -m 666 /dev/null c 1 3 && exec bash "$0" "$1" no-kvm-inner' "$0" "$1" ;;
no-kvm-inner)    run 4 "/dev/kvm: No such file" run --kernel "$(kernel)" --console none ;;
kvm-not-permitted)
  need_kvm "$@"
  chmod 0600 /dev/kvm
  chmod 0755 "$work"
  KERNEL=$work/vmlinuz; cp "$(kernel)" "$KERNEL"; chmod 0644 "$KERNEL"
  set +e
  within "kvmrun run as nobody" setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$KVMRUN" run --kernel "$KERNEL" --console none > "$work/out" 2> "$work/err" < /dev/null
  rc=$?
  set -e
  [ "$rc" = 4 ] || { cat "$work/err" >&2; fail "exit status $rc, expected 4"; }
  grep -q "/dev/kvm: Permission denied" "$work/err" || { cat "$work/err" >&2; fail "no permission line"; } ;;
initrd-too-big)
  need_kvm "$@"
  truncate -s 300M "$work/img"
  run 3 "initrd $work/img: initrd does not fit" run --kernel "$(kernel)" --initrd "$work/img" --memory 256M --console none ;;
cpus-above-limit)
  need_kvm "$@"
  run 2 "above KVM's limit" run --kernel "$(kernel)" --cpus 4096 --console none ;;
*) fail "unknown case $2" ;;
esac
echo "ok: $2"
