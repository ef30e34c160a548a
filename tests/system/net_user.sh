#!/usr/bin/env bash
# --net user (passt) with Debian's cloud kernel. As an unprivileged user, kvmrun run
# with the tests' init: the guest fetches from and sends to servers on the host's
# loopback (the gateway is the host), and a host connection through hostfwd reaches
# the guest's listener. As root, kvmrun exec on the host's root: the same fetch and
# hostfwd, and the agent's address, route and resolv.conf; outbound UDP, ping and DNS
# (through passt's forwarder); bw= bounds both directions. The error lines of a missing passt and of a bad hostfwd.
# passt needs a host interface with a default route: where the machine has none
# (the test machine), a veth pair with one is made for the test.
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
[ "$2" != unprivileged ] || initrd=$(guest_initrd) # from the shared cache, before ours
work=$(mktemp -d); on_exit "rm -rf '$work'"
chmod 755 "$work"
export KVMRUN_CACHE=$work/cache
mkdir -p "$work/cache" "$work/www"
# A free port on the loopback: bound by the kernel's choice, then let go.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# passt takes its template from the interface with the default route: give the
# test machine one if it has none (a veth pair, gone with the machine).
if [ -z "$(ip -4 route show default)" ]; then
  ip link add kvr-up0 type veth peer name kvr-up1 2>/dev/null || true
  ip addr add 192.0.2.2/24 dev kvr-up0 2>/dev/null || true
  ip link set kvr-up0 up; ip link set kvr-up1 up
  ip route add default via 192.0.2.1 dev kvr-up0 || fail "cannot give the machine a default route"
  on_exit "ip link del kvr-up0"
fi

# run [kvmrun exec options...] -- PROGRAM...: stdout in $work/out, stderr in $work/err, $rc.
run() {
  set +e
  within "kvmrun exec $*" "$KVMRUN" exec --kernel "$kernel" --modules "$modules" "$@" \
    > "$work/out" 2> "$work/err" < "${STDIN:-/dev/null}"
  rc=$?
  set -e
}
show() { for f in out err; do sed "s/^/  $f| /" "$work/$f" >&2; done; }
expect_rc() { [ "$rc" = "$1" ] || { show; fail "exit status $rc, expected $1"; }; }
value() { tr -d '\r' < "$work/out" | sed -n "s/^$1=//p" | head -1; }

case $2 in
unprivileged)
  # kvmrun as nobody, with /dev/kvm opened up (in the test machine only). The guest's
  # host is 10.0.2.1 (the tests' init): passt's gateway here, i.e. the host's loopback.
  chmod 666 /dev/kvm
  mkdir "$work/k" "$work/i"
  # The cached kernel and initramfs live under root's home: bind mounts let nobody read them.
  mount --bind "$(dirname "$kernel")" "$work/k"; on_exit "umount '$work/k'"
  mount --bind "$(dirname "$initrd")" "$work/i"; on_exit "umount '$work/i'"
  head -c $((4 << 20)) /dev/urandom > "$work/rx.bin"
  socat -u "OPEN:$work/rx.bin" TCP-LISTEN:5002,bind=127.0.0.1,reuseaddr & p1=$!
  socat -u TCP-LISTEN:5001,bind=127.0.0.1,reuseaddr "CREATE:$work/tx.bin" & p2=$!
  on_exit "kill $p1 $p2"
  port=$(free_port)
  mkfifo "$work/in"; exec 3<> "$work/in"
  set +e
  setpriv --reuid=65534 --regid=65534 --clear-groups "$KVMRUN" run --kernel "$work/k/vmlinuz" \
    --initrd "$work/i/$(basename "$initrd")" --memory 512M \
    --append "quiet kvmrun.test=net kvmrun.net=rx,tx,wait kvmrun.mb=4" \
    --net "user,ip=10.0.2.15/24,gw=10.0.2.1,hostfwd=tcp:127.0.0.1:$port-:5003" \
    > "$work/out" 2> "$work/err" < "$work/in" & pid=$!
  set -e
  waiting() { grep -q NET-WAIT "$work/out" || { kill -0 "$pid" 2>/dev/null || { show; fail "kvmrun ended early"; }; false; }; }
  wait_until "the guest's listener" waiting
  within "the host's connection through hostfwd" sh -c "echo through-hostfwd | socat -u STDIN TCP:127.0.0.1:$port"
  set +e; await "$pid" "kvmrun run (--net user, unprivileged)"; rc=$?; set -e
  expect_rc 0
  [ "$(value RX_RC)" = 0 ] && [ "$(value RX_SUM)" = "$(sha256sum < "$work/rx.bin" | cut -d' ' -f1)" ] ||
    { show; fail "the guest's fetch from the host's loopback"; }
  [ "$(value TX_RC)" = 0 ] && [ "$(value TX_SUM)" = "$(sha256sum < "$work/tx.bin" | cut -d' ' -f1)" ] ||
    { show; fail "the guest's upload to the host's loopback"; }
  [ "$(value HOST_SAID)" = through-hostfwd ] || { show; fail "the host's connection through hostfwd"; }
  ! grep -q -i 'passt exited' "$work/err" || { show; fail "passt ended early"; }
  ;;
outbound)
  # The host's server listens on its loopback only: the guest reaches it as the gateway.
  head -c $((4 << 20)) /dev/urandom > "$work/www/blob"
  want=$(sha256sum < "$work/www/blob" | cut -d' ' -f1)
  port=$(free_port)
  busybox httpd -f -p "127.0.0.1:$port" -h "$work/www" & srv=$!
  on_exit "kill $srv"
  run --net user -- sh -c "wget -q -O - http://10.0.2.2:$port/blob | sha256sum"
  expect_rc 0
  [ "$(cut -d' ' -f1 < "$work/out")" = "$want" ] || { show; fail "the guest got other bytes"; }
  ;;
hostfwd)
  # The guest serves a file of its own on its port 8080 (its checksum on stdout); the
  # host fetches it from its own port.
  port=$(free_port)
  mkfifo "$work/in"; exec 3<> "$work/in"
  set +e
  "$KVMRUN" exec --kernel "$kernel" --modules "$modules" \
    --net "user,hostfwd=tcp:127.0.0.1:$port-:8080" -- \
    sh -c 'mkdir /tmp/www && head -c 4194304 /dev/urandom > /tmp/www/blob &&
           sha256sum < /tmp/www/blob && busybox httpd -p 8080 -h /tmp/www && echo READY &&
           read line' > "$work/out" 2> "$work/err" < "$work/in" & pid=$!
  set -e
  ready() { grep -q -x READY "$work/out" || { kill -0 "$pid" 2>/dev/null || { show; fail "kvmrun ended early"; }; false; }; }
  wait_until "the guest's server" ready
  got=$(within "wget through hostfwd" busybox wget -q -O - "http://127.0.0.1:$port/blob" |
        sha256sum | cut -d' ' -f1)
  echo done >&3
  set +e; await "$pid" "kvmrun exec (hostfwd)"; rc=$?; set -e
  expect_rc 0
  [ "$got" = "$(head -1 "$work/out" | cut -d' ' -f1)" ] || { show; fail "the host got other bytes through hostfwd"; }
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
udp-ping-dns)
  # Outbound UDP, ping and DNS from the guest, one boot. On the host's loopback: a UDP
  # echo (reached as the gateway) and a DNS server, the first nameserver passt finds in
  # /etc/resolv.conf (replaced for kvmrun alone, in a mount namespace of its own). The
  # guest pings an address of the host's (passt sends it from a ping socket as nobody:
  # ping_group_range must allow that).
  uport=$(python3 -c 'import socket; s=socket.socket(type=socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  python3 - "$uport" "$work" <<'PY' & srv=$!
import select, socket, struct, sys
port, work = int(sys.argv[1]), sys.argv[2]
echo = socket.socket(type=socket.SOCK_DGRAM); echo.bind(("127.0.0.1", port))
dns = socket.socket(type=socket.SOCK_DGRAM); dns.bind(("127.0.0.1", 53))
open(work + "/ready", "w").close()
while True:
    for s in select.select([echo, dns], [], [])[0]:
        data, peer = s.recvfrom(2048)
        if s is echo:
            s.sendto(b"echo:" + data, peer)
            continue
        if len(data) < 17:
            continue
        i, labels = 12, []
        while i < len(data) and data[i]:
            labels.append(data[i + 1:i + 1 + data[i]].decode(errors="replace")); i += 1 + data[i]
        name, qtype = ".".join(labels), struct.unpack("!H", data[i + 1:i + 3])[0]
        with open(work + "/queries", "a") as f:
            f.write("%s %d\n" % (name, qtype))
        ans = name == "kvmrun-test.example" and qtype == 1
        reply = data[:2] + b"\x81\x80" + data[4:6] + struct.pack("!HHH", ans, 0, 0) + data[12:i + 5]
        if ans:
            reply += b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton("198.51.100.7")
        s.sendto(reply, peer)
PY
  on_exit "kill $srv"
  wait_until "the UDP and DNS servers" test -e "$work/ready"
  ip addr add 198.51.100.1/32 dev lo; on_exit "ip addr del 198.51.100.1/32 dev lo"
  range=$(cat /proc/sys/net/ipv4/ping_group_range)
  on_exit "echo '$range' > /proc/sys/net/ipv4/ping_group_range"
  echo "0 2147483647" > /proc/sys/net/ipv4/ping_group_range
  echo "nameserver 127.0.0.1" > "$work/resolv.conf"
  set +e
  within "kvmrun exec (udp, ping, dns)" unshare -m --propagation private \
    sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$work/resolv.conf" \
    "$KVMRUN" exec --kernel "$kernel" --modules "$modules" --net user \
    --report "$work/report.json" -- sh -c "
      echo UDP=\$(echo probe | socat -t 10 - UDP:10.0.2.2:$uport)
      busybox ping -c 2 -W 10 198.51.100.1 > /dev/null && echo PING=ok
      echo DNS=\$(busybox nslookup -type=a kvmrun-test.example | sed -n 's/^Address:[[:space:]]*//p' | tail -1)" \
    > "$work/out" 2> "$work/err" < /dev/null
  rc=$?
  set -e
  expect_rc 0
  [ "$(value UDP)" = echo:probe ] || { show; fail "no UDP round trip to the host's loopback"; }
  [ "$(value PING)" = ok ] || { show; fail "no answer to the guest's ping"; }
  [ "$(value DNS)" = 198.51.100.7 ] || { show; cat "$work/queries" >&2 || true; fail "no name resolved through passt"; }
  grep -q -x "kvmrun-test.example 1" "$work/queries" || fail "the host's DNS server saw no query"
  ;;
rate-limit)
  # bw=1M (a burst of 256 KiB) in each direction: 8 MiB from a host server to the guest,
  # then 8 MiB from the guest to one, each take at least 7 s (a lower bound only, 7.75 s
  # and the frames' headers beyond it: the guest's clock, from before it connects to
  # after the last byte). Nothing is lost (the
  # checksums), and exec's report counts the waits in each direction, and passt's CPU.
  head -c $((8 << 20)) /dev/urandom > "$work/rx.bin"
  p1=$(free_port); p2=$(free_port)
  socat -u "OPEN:$work/rx.bin" "TCP-LISTEN:$p1,bind=127.0.0.1,reuseaddr" & s1=$!
  socat -u "TCP-LISTEN:$p2,bind=127.0.0.1,reuseaddr" "CREATE:$work/tx.bin" & s2=$!
  on_exit "kill $s1 $s2"
  run --net user,bw=1M,bw-burst=256K --report "$work/report.json" -- sh -c "
    t0=\$(date +%s%N); sum=\$(socat -u TCP:10.0.2.2:$p1 - | sha256sum); t1=\$(date +%s%N)
    echo RX_MS=\$(((t1 - t0) / 1000000)); echo RX_SUM=\${sum%% *}
    head -c 8388608 /dev/urandom > /tmp/tx.bin; sha256sum < /tmp/tx.bin | sed 's/ .*//;s/^/TX_SUM=/'
    t0=\$(date +%s%N); socat -u - TCP:10.0.2.2:$p2 < /tmp/tx.bin; t1=\$(date +%s%N)
    echo TX_MS=\$(((t1 - t0) / 1000000))"
  expect_rc 0
  await "$s2" "the host's receiver"
  [ "$(value RX_SUM)" = "$(sha256sum < "$work/rx.bin" | cut -d' ' -f1)" ] || { show; fail "the guest got other bytes"; }
  [ "$(value TX_SUM)" = "$(sha256sum < "$work/tx.bin" | cut -d' ' -f1)" ] || { show; fail "the host got other bytes"; }
  echo "8 MiB at bw=1M: host to guest $(value RX_MS) ms, guest to host $(value TX_MS) ms"
  [ "$(value RX_MS)" -ge 7000 ] || { show; fail "host to guest under 7 s at bw=1M"; }
  [ "$(value TX_MS)" -ge 7000 ] || { show; fail "guest to host under 7 s at bw=1M"; }
  waits=$(python3 -c 'import json,sys
d = [d for d in json.load(open(sys.argv[1]))["devices"] if d["type"] == "virtio-net"][0]
print(*(d.get(k, 0) for k in ("rx_rate_limited", "rx_rate_limit_waited_ms", "tx_rate_limited", "tx_rate_limit_waited_ms")))' \
    "$work/report.json")
  echo "waits (rx frames, ms, tx frames, ms): $waits"
  read -r rxn rxms txn txms <<< "$waits"
  [ "$rxn" -gt 0 ] && [ "$rxms" -gt 0 ] || fail "the report counts no receive waits: $waits"
  [ "$txn" -gt 0 ] && [ "$txms" -gt 0 ] || fail "the report counts no transmit waits: $waits"
  # passt's CPU time apart from kvmrun's: reaped by kvmrun, in the report.
  passt_cpu=$(python3 -c 'import json,sys
h = [h for h in json.load(open(sys.argv[1]))["helpers"] if h["program"] == "passt"]
print(*(("%s %.6f" % (x["device"], x["cpu_s"]["user"] + x["cpu_s"]["system"])) for x in h))' \
    "$work/report.json") || { cat "$work/report.json" >&2; fail "no helpers in the report"; }
  echo "passt's CPU: $passt_cpu s"
  case $passt_cpu in
  "net0 0.000000" | "") fail "passt's CPU time not in the report, or 0: '$passt_cpu'" ;;
  "net0 "*) ;;
  *) fail "not one passt for net0 in the report: '$passt_cpu'" ;;
  esac
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
