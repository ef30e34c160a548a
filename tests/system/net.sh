#!/usr/bin/env bash
# virtio-net on real tap devices, driven by Debian's cloud kernel. The host side of
# each tap lives in a network namespace of its own with 10.0.(2+N).1/24; the guest's
# ethN is 10.0.(2+N).15 (tests/system/guest-init, action "net").
# Usage: net.sh KVMRUN CASE
. "$(dirname "$0")/lib.sh"
need_kvm "$@"
command -v socat >/dev/null || fail "needs socat (scripts/install-deps)"
work=$(mktemp -d)
ns=kvmrun-net-$$
in_ns() { ip netns exec "$ns" "$@"; }
pids=() pid=
cleanup() {
  local p
  for p in "${pids[@]}" $pid; do kill "$p" 2>/dev/null || true; done
  # And whatever else runs in the namespace (a listener's children): one left
  # holding the test's stdout would keep meson waiting for its end.
  ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns" || fail "cannot create a network namespace (needs root)"
in_ns ip link set lo up

# tap N [MTU]: tapN in the namespace, up, with the host address of subnet 10.0.(2+N).
tap() {
  in_ns ip tuntap add "tap$1" mode tap || fail "cannot create tap$1"
  [ -z "${2:-}" ] || in_ns ip link set "tap$1" mtu "$2"
  in_ns ip addr add "10.0.$((2 + $1)).1/24" dev "tap$1"
  in_ns ip link set "tap$1" up
}

# Start kvmrun in the namespace in the background: start STEPS [kvmrun options...].
# The serial console's output goes to $out, its input comes from what the test
# writes to fd 3 (say LINE); $pid is kvmrun's pid.
start() {
  local steps=$1; shift
  out=$work/console.log; : > "$out"
  rm -f "$work/stdin"; mkfifo "$work/stdin"; exec 3<> "$work/stdin"
  in_ns "$KVMRUN" run --kernel "$(guest_kernel)" --initrd "$(guest_initrd)" --memory 512M \
    --append "quiet kvmrun.test=net kvmrun.net=$steps kvmrun.mb=${MB:-16}" \
    --log-level debug "$@" > "$out" 2> "$work/stderr" < "$work/stdin" &
  pid=$!
}
say() { echo "$1" >&3; }
# Wait for a line of the guest's, or for kvmrun to end (which fails the test).
wait_line() {
  local end=$((SECONDS + KVMRUN_TEST_DEADLINE))
  until tr -d '\r' < "$out" | grep -c -x -- "$1" > /dev/null; do
    kill -0 "$pid" 2>/dev/null || { show; sed 's/^/  ! /' "$work/stderr" >&2; fail "kvmrun ended before '$1'"; }
    ((SECONDS < end)) || { show; sed 's/^/  ! /' "$work/stderr" >&2
      fail "no line '$1' from the guest after ${KVMRUN_TEST_DEADLINE}s (KVMRUN_TEST_DEADLINE)"; }
    sleep 0.1
  done
}
# Wait for kvmrun's exit; $rc is its status.
finish() {
  set +e; await "$pid" "kvmrun (net steps)"; rc=$?; set -e
  tr -d '\r' < "$out" > "$out.clean"; mv "$out.clean" "$out"
}
stderr_show() { sed 's/^/  ! /' "$work/stderr" >&2; }
# kvmrun's CPU time (user + system) in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
expect_pings() { # every NIC of the guest reached its host address
  local n
  for n in $(seq 0 $(($1 - 1))); do
    [ "$(value "PING_eth$n")" = 0 ] || { show; fail "eth$n: the guest could not ping the host"; }
  done
  [ "$(value NICS)" = "$1" ] || { show; fail "the guest has $(value NICS) NICs, expected $1"; }
}

# Both directions of TCP, checksummed at both ends, and pings both ways; MTU $1.
transfer() {
  tap 0 "$1"
  head -c "$((${MB:-16} << 20))" /dev/urandom > "$work/tx.bin"
  in_ns socat -u TCP-LISTEN:5001,reuseaddr "CREATE:$work/rx.bin" & pids+=($!)
  in_ns socat -u "OPEN:$work/tx.bin" TCP-LISTEN:5002,reuseaddr & pids+=($!)
  start tx,rx,bigping,wait --net tap=tap0
  wait_line NET-WAIT
  in_ns busybox ping -c 3 -W 5 10.0.2.15 > "$work/ping.log" 2>&1 ||
    { cat "$work/ping.log" >&2; fail "the host could not ping the guest"; }
  end=$((SECONDS + KVMRUN_TEST_DEADLINE))
  until echo host-was-here | in_ns socat -u -T 60 STDIN TCP:10.0.2.15:5003,connect-timeout=60 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || break
    ((SECONDS < end)) || fail "the guest did not take the host's line on port 5003 in ${KVMRUN_TEST_DEADLINE}s"
    sleep 0.2
  done
  finish
  expect_rc 0; expect_line NET-DONE; expect_pings 1
  [ "$(value MTU_eth0)" = "$1" ] || { show; fail "guest MTU $(value MTU_eth0), the tap has $1"; }
  [ "$(value NET_MSIX)" -ge 1 ] || { show; fail "no MSI-X interrupt for virtio-net"; }
  [ "$(value TX_RC)" = 0 ] || { show; fail "guest->host transfer failed"; }
  [ "$(value TX_SUM)" = "$(sha256sum < "$work/rx.bin" | cut -d' ' -f1)" ] ||
    { show; fail "guest->host: the host received other bytes ($(stat -c %s "$work/rx.bin") bytes)"; }
  [ "$(value RX_BYTES)" = "$(stat -c %s "$work/tx.bin")" ] || { show; fail "host->guest: byte count"; }
  [ "$(value RX_SUM)" = "$(sha256sum < "$work/tx.bin" | cut -d' ' -f1)" ] ||
    { show; fail "host->guest: the guest received other bytes"; }
  expect_line HOST_SAID=host-was-here
  # The counters at exit (debug log) saw the transfers, and nothing was dropped.
  counters=$(grep -E 'virtio-net .*: rx [0-9]+ frames [0-9]+ bytes, tx [0-9]+ frames [0-9]+ bytes, .*drops: none' \
    "$work/stderr" | sed -E 's/.* rx [0-9]+ frames ([0-9]+) bytes, tx [0-9]+ frames ([0-9]+) bytes.*/\1 \2/')
  read -r rx_bytes tx_bytes <<< "${counters:-0 0}"
  [ "$rx_bytes" -ge $((${MB:-16} << 20)) ] && [ "$tx_bytes" -ge $((${MB:-16} << 20)) ] ||
    { stderr_show; fail "the debug counters do not show both transfers"; }
  [ "$(value BIGPING)" = 0 ] || { show; fail "9000-byte pings did not get through"; }
  if [ "$1" -ge 9000 ]; then
    [ "$(value FRAGS)" = 0 ] || { show; fail "9000-byte packets were fragmented at MTU $1"; }
  else
    [ "$(value FRAGS)" -gt 0 ] || { show; fail "9000-byte packets left unfragmented at MTU $1"; }
  fi
}

case $2 in
tcp-mtu1500) transfer 1500 ;;
tcp-mtu9000) transfer 9000 ;;
mac)
  # A MAC given on the command line, and the default one: locally administered,
  # unicast, and the same on every boot of the same configuration.
  tap 0
  start "" --net tap=tap0,mac=52:54:00:12:34:56; finish
  expect_rc 0; expect_pings 1; expect_line MAC_eth0=52:54:00:12:34:56
  start "" --net tap=tap0; finish
  expect_rc 0; expect_pings 1
  mac1=$(value MAC_eth0)
  start "" --net tap=tap0; finish
  [ "$(value MAC_eth0)" = "$mac1" ] || { show; fail "default MAC changed: $mac1, then $(value MAC_eth0)"; }
  [ $((0x${mac1%%:*} & 3)) = 2 ] || fail "default MAC $mac1 is not a locally administered unicast one" ;;
link-flap)
  # The tap goes down and comes back: frames are dropped meanwhile (without
  # kvmrun spinning), then the guest's pings work again.
  tap 0
  start flap --net tap=tap0
  wait_line NET-FLAP
  in_ns ip link set tap0 down
  t0=$(cpu_ticks); sleep 3; t1=$(cpu_ticks)
  in_ns ip link set tap0 up
  finish
  expect_rc 0; expect_pings 1
  expect_line LINK_WENT_DOWN=1; expect_line LINK_CAME_BACK=1
  grep -q -E 'virtio-net .*drops:.* tx_tap_down=[1-9]' "$work/stderr" ||
    { stderr_show; fail "no frames counted as dropped while the tap was down"; }
  # A busy loop would take about 3 s of CPU here; the guest's pings take a little.
  [ $((t1 - t0)) -lt $((hz * 3 / 2)) ] || fail "kvmrun used $((t1 - t0)) ticks of 3 s * $hz while the tap was down" ;;
tap-deleted)
  # The tap disappears while the guest sends: kvmrun drops and counts the frames,
  # does not spin, and still ends with the guest's poweroff (status 0).
  tap 0
  start flood,idle --net tap=tap0
  wait_line NET-FLOOD
  in_ns ip link del tap0
  say tap-deleted
  wait_line NET-IDLE
  t0=$(cpu_ticks); sleep 2; t1=$(cpu_ticks)
  say idle-over
  finish
  expect_rc 0; expect_line NET-IDLE-DONE
  [ $((t1 - t0)) -lt "$hz" ] || fail "kvmrun used $((t1 - t0)) ticks of 2 s * $hz with the tap gone"
  grep -q -E 'virtio-net .*drops:.* tx_tap_error=[1-9]' "$work/stderr" ||
    { stderr_show; fail "no dropped frames counted in the debug log"; } ;;
tap-created)
  # No tap yet: kvmrun (root here) creates it; the host side gets its address as
  # soon as it appears, before the guest's kernel is up. It is gone after exit.
  start "" --net tap=kvmtap0
  end=$((SECONDS + KVMRUN_TEST_DEADLINE))
  until in_ns ip link show kvmtap0 > /dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { stderr_show; fail "kvmrun ended before creating kvmtap0"; }
    ((SECONDS < end)) || fail "no kvmtap0 after ${KVMRUN_TEST_DEADLINE}s"
    sleep 0.1
  done
  in_ns ip addr add 10.0.2.1/24 dev kvmtap0; in_ns ip link set kvmtap0 up
  finish
  expect_rc 0; expect_pings 1
  ! in_ns ip link show kvmtap0 > /dev/null 2>&1 || fail "kvmtap0, created by kvmrun, is still there after it ended" ;;
two-nics)
  # Two NICs on two taps; the second tap is handed over as a file descriptor by a
  # launcher (perl here), so kvmrun itself opens nothing for it.
  tap 0; tap 1
  out=$work/console.log; : > "$out"
  set +e
  within "kvmrun (two NICs)" in_ns perl -e '
    $^F = 255;  # keep the tap open across exec
    open(my $t, "+<", "/dev/net/tun") or die "tun: $!";
    # TUNSETIFF, IFF_TAP | IFF_NO_PI | IFF_VNET_HDR
    my $ifr = pack("a16 s x22", "tap1", 0x0002 | 0x1000 | 0x4000);
    ioctl($t, 0x400454ca, $ifr) or die "TUNSETIFF: $!";
    my $fd = fileno($t);
    exec(@ARGV, "--net", "fd=$fd") or die "exec: $!";' \
    "$KVMRUN" run --kernel "$(guest_kernel)" --initrd "$(guest_initrd)" --memory 512M \
    --append "quiet kvmrun.test=net" --console none --console-log "$out" \
    --net tap=tap0 > "$work/stderr" 2>&1 < /dev/null
  rc=$?
  set -e
  tr -d '\r' < "$out" > "$out.clean"; mv "$out.clean" "$out"
  [ "$rc" = 0 ] || stderr_show
  expect_rc 0; expect_line NET-DONE; expect_pings 2
  [ "$(value MAC_eth0)" != "$(value MAC_eth1)" ] || { show; fail "both NICs have MAC $(value MAC_eth0)"; } ;;
egress)
  # --net ...,egress=deny,allow=10.0.2.1:8080/tcp: the guest's connection to
  # 8080 gets through; the one to 8081 never reaches the host's listener there
  # (which records every connection it accepts), nor do the guest's pings; the
  # four malformed frames the guest sends raw are dropped and counted as such.
  tap 0
  in_ns socat -u TCP-LISTEN:8080,reuseaddr "CREATE:$work/8080.log" & pids+=($!)
  in_ns socat -u TCP-LISTEN:8081,reuseaddr,fork \
    SYSTEM:"echo accepted >> '$work/8081.log'; cat >> '$work/8081.log'" & pids+=($!)
  start egress --net tap=tap0,egress=deny,allow=10.0.2.1:8080/tcp
  finish
  [ "$rc" = 0 ] || stderr_show
  expect_rc 0; expect_line NET-DONE
  [ "$(value E8080_RC)" = 0 ] || { show; fail "the guest's connection to the allowed port 8080 failed"; }
  [ "$(cat "$work/8080.log" 2>/dev/null)" = egress-8080 ] || fail "the host's listener on 8080 got nothing"
  [ "$(value E8081_RC)" != 0 ] || { show; fail "the guest's connection to port 8081 succeeded"; }
  [ ! -e "$work/8081.log" ] ||
    { sed 's/^/  8081: /' "$work/8081.log" >&2; fail "the host's listener on 8081 accepted a connection"; }
  [ "$(value PING_eth0)" != 0 ] || { show; fail "the guest's pings got through egress=deny"; }
  [ "$(value MALFORMED_SENT)" = 4 ] || { show; fail "the guest could not send its malformed frames"; }
  # The counters at exit (debug log): refused frames, and exactly the four malformed ones.
  counters=$(grep -E 'virtio-net net0: rx .* drops:' "$work/stderr" || true)
  [[ $counters =~ tx_egress_denied=[1-9] ]] || { stderr_show; fail "no frames counted as denied"; }
  [[ $counters =~ tx_egress_malformed=4( |$) ]] ||
    { stderr_show; fail "not exactly the guest's four malformed frames counted as malformed"; } ;;
pps|pps-unlimited)
  # pps=20 (a burst of 20): the guest's 100 UDP datagrams reach the host over at
  # least (100 - 20) / 20 = 4 s, first to last (a lower bound only; 3.8 s for the
  # host's own timing). pps-unlimited: the same without the limit, to show what the
  # bound catches.
  tap 0
  lim=; [ "$2" = pps-unlimited ] || lim=,pps=20
  in_ns perl -MIO::Socket::INET -MTime::HiRes=time -e '
    my $s = IO::Socket::INET->new(LocalAddr => "10.0.2.1:9", Proto => "udp") or die "udp: $!";
    $SIG{ALRM} = sub { print "GOT $n\n"; exit 1 }; alarm $ARGV[0];
    our ($n, $first, $last) = (0);
    while ($n < 100) { $s->recv(my $buf, 2048); $first //= time; $last = time; $n++; }
    printf "GOT %d MS %d\n", $n, ($last - $first) * 1000;' "$KVMRUN_TEST_DEADLINE" \
    > "$work/udp.log" 2>&1 & pids+=($!)
  start udp100 --net "tap=tap0$lim"
  set +e; wait "${pids[-1]}"; got=$?; set -e
  say received; finish
  [ "$got" = 0 ] || { cat "$work/udp.log" >&2; fail "the host did not get the 100 datagrams"; }
  expect_rc 0; expect_pings 1
  [ "$(value UDP_RC)" = 0 ] || { show; fail "the guest could not send"; }
  ms=$(sed -n 's/^GOT 100 MS //p' "$work/udp.log")
  echo "100 datagrams in $ms ms"
  [ "$ms" -ge 3800 ] || fail "100 datagrams at pps=20 arrived within $ms ms, below 3.8 s"
  grep -q -E 'virtio-net net0: rate limits: rx [0-9]+ frames waited [0-9]+ ms, tx [1-9][0-9]* frames waited [1-9][0-9]* ms' \
    "$work/stderr" || { stderr_show; fail "no transmit waits counted"; } ;;
*) fail "unknown case $2" ;;
esac
echo "ok: $2"
