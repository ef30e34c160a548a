#!/usr/bin/env bash
# --net user (passt) with Debian's cloud kernel, through kvmrun exec on the host's
# root: the guest fetches a file from a server on the host's loopback (the gateway
# is the host) and serves one that the host fetches through hostfwd, with kvmrun
# running as an unprivileged user; the agent's address, route and resolv.conf;
# the error lines of a missing passt and of a bad hostfwd.
# Usage: net_user.sh KVMRUN CASE
. "$(dirname "$0")/lib.sh"

case $2 in
bad-hostfwd) # the command line alone: no KVM needed
  set +e
  err=$("$KVMRUN" run --kernel /nonexistent --net user,hostfwd=tcp::80-:0 2>&1 >/dev/null)
  rc=$?
  set -e
  [ "$rc" = 2 ] || fail "exit status $rc, expected 2 ($err)"
  [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] || fail "not one line: $err"
  case $err in *--net*hostfwd=tcp::80-:0*) ;; *) fail "the line names no option: $err" ;; esac
  exit 0 ;;
esac

need_kvm "$@"
command -v /usr/lib/qemu/virtiofsd > /dev/null || fail "no /usr/lib/qemu/virtiofsd (qemu-system-common)"
command -v busybox > /dev/null || fail "needs busybox (httpd, wget)"
kernel=$(guest_kernel)
modules=$(echo "$(dirname "$kernel")"/lib/modules/*)
work=$(mktemp -d); on_exit "rm -rf '$work'"
chmod 755 "$work"
export KVMRUN_CACHE=$work/cache
mkdir -p "$work/cache" "$work/www"
head -c $((4 << 20)) /dev/urandom > "$work/www/blob"
want=$(sha256sum < "$work/www/blob" | cut -d' ' -f1)
# A free port on the loopback: bound by the kernel's choice, then let go.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# As an unprivileged user, as the issue asks: nobody, with /dev/kvm opened up (in the
# test machine only) and this test's files its own.
as_user=()
unprivileged() {
  chmod 666 /dev/kvm
  chown -R 65534:65534 "$work"
  as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$work")
}

# run [kvmrun exec options...] -- PROGRAM...: stdout in $work/out, stderr in $work/err, $rc.
run() {
  set +e
  within "kvmrun exec $*" "${as_user[@]}" "$KVMRUN" exec --kernel "$kernel" \
    --modules "$modules" "$@" > "$work/out" 2> "$work/err" < "${STDIN:-/dev/null}"
  rc=$?
  set -e
}
show() { for f in out err; do sed "s/^/  $f| /" "$work/$f" >&2; done; }
expect_rc() { [ "$rc" = "$1" ] || { show; fail "exit status $rc, expected $1"; }; }

case $2 in
outbound)
  # The host's server listens on its loopback only: the guest reaches it as the gateway.
  port=$(free_port)
  busybox httpd -f -p "127.0.0.1:$port" -h "$work/www" & srv=$!
  on_exit "kill $srv"
  unprivileged
  run --net user -- sh -c "wget -q -O - http://10.0.2.2:$port/blob | sha256sum"
  expect_rc 0
  [ "$(cut -d' ' -f1 < "$work/out")" = "$want" ] || { show; fail "the guest got other bytes"; }
  ;;
hostfwd)
  # The guest serves the file on its port 8080; the host fetches it from its own port.
  port=$(free_port)
  unprivileged
  mkfifo "$work/in"; exec 3<> "$work/in"
  set +e
  "${as_user[@]}" "$KVMRUN" exec --kernel "$kernel" --modules "$modules" --share "$work" \
    --net "user,hostfwd=tcp:127.0.0.1:$port-:8080" -- \
    sh -c "busybox httpd -p 8080 -h $work/www && echo READY && read line" \
    > "$work/out" 2> "$work/err" < "$work/in" & pid=$!
  set -e
  wait_until "the guest's server" grep -q -x READY "$work/out"
  got=$(within "wget through hostfwd" busybox wget -q -O - "http://127.0.0.1:$port/blob" |
        sha256sum | cut -d' ' -f1)
  echo done >&3
  set +e; await "$pid" "kvmrun exec (hostfwd)"; rc=$?; set -e
  expect_rc 0
  [ "$got" = "$want" ] || { show; fail "the host got other bytes through hostfwd"; }
  ;;
guest-config)
  # What the agent set: the address, the default route, resolv.conf, the MTU passt gives.
  run --net user -- sh -c 'cat /etc/resolv.conf; cat /sys/class/net/eth0/mtu;
    cat /sys/class/net/eth0/operstate; grep -c "^eth0	00000000	0202000A" /proc/net/route;
    grep -q "10.0.2.15" /proc/net/fib_trie && echo has-address'
  expect_rc 0
  printf 'nameserver 10.0.2.3\n65520\nup\n1\nhas-address\n' | cmp - "$work/out" ||
    { show; fail "the guest's network set-up"; }
  ;;
no-passt)
  KVMRUN_PASST=/nonexistent/passt run --net user -- true
  expect_rc 125
  grep -q -e '--net user.*passt' "$work/err" || { show; fail "no line naming --net user"; }
  set +e
  KVMRUN_PASST=/nonexistent/passt "$KVMRUN" run --kernel "$kernel" --net user \
    > /dev/null 2> "$work/err"
  rc=$?
  set -e
  expect_rc 3
  [ "$(wc -l < "$work/err")" = 1 ] || { show; fail "not one line on stderr"; }
  ;;
*) fail "unknown case $2" ;;
esac
