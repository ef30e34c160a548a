#!/bin/sh
# The arm64 case of tests/bench/boot.sh, run inside the emulated arm64 machine
# (scripts/testvm-arm64) by busybox sh, in a directory holding bin/kvmrun,
# bin/qemu-system-aarch64, Image and guest-initrd.gz (tests/arm64/guest-init).
# Usage: boot_arm64_inner.sh RUNS
# For each VMM, RUNS boots in ABBA order of the same guest (1 vCPU, 256 MiB, action
# bench): the time from launch to the init's marker (/proc/uptime, 10 ms steps) and,
# at the marker, the VMM's Rss beyond the guest-RAM mapping (smaps). One line per
# boot: "VMM MS KIB", in $TESTVM_OUT/boot-arm64.txt.
runs=$1
mem_mib=256
deadline=${KVMRUN_TEST_DEADLINE:-600}
res=$TESTVM_OUT/boot-arm64.txt
: > "$res"
append="quiet panic=-1 kvmrun.test=bench"
now_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }

boot() { # VMM
	out=/tmp/boot.out
	: > $out
	t0=$(now_ms)
	case $1 in
	kvmrun) bin/kvmrun run --kernel Image --initrd guest-initrd.gz --cpus 1 \
		--memory ${mem_mib}M --append "$append" < /dev/null > $out 2>&1 & ;;
	qemu) bin/qemu-system-aarch64 -M virt,gic-version=3 -accel kvm -cpu host -smp 1 \
		-m ${mem_mib}M -nodefaults -no-user-config -display none -serial stdio \
		-no-reboot -kernel Image -initrd guest-initrd.gz \
		-append "console=ttyAMA0 $append" < /dev/null > $out 2>&1 & ;;
	esac
	pid=$!
	t1=
	while kill -0 $pid 2>/dev/null; do
		if grep -q KVMRUN-BENCH-INIT-OK $out; then t1=$(now_ms); break; fi
		[ $(( $(now_ms) - t0 )) -lt $((deadline * 1000)) ] || break
		usleep 20000
	done
	kib=none
	[ -n "$t1" ] && kib=$(awk -v ram=$((mem_mib * 1024)) '
		/^[0-9a-f]+-[0-9a-f]+ / { anon = (NF == 5); next }
		/^Size:/ { size = $2; next }
		/^Rss:/ { total += $2; if (anon && size == ram && (!seen || $2 > guest)) { guest = $2; seen = 1 } }
		END { if (seen) print total - guest; else print "none" }' /proc/$pid/smaps)
	w=0
	while kill -0 $pid 2>/dev/null && [ $w -lt 600 ]; do usleep 100000; w=$((w + 1)); done
	kill -9 $pid 2>/dev/null
	wait $pid
	rc=$?
	if [ -z "$t1" ] || [ "$kib" = none ] || [ $rc != 0 ]; then
		echo "boot.sh: $1: no marker, no guest-RAM mapping or exit $rc; output:"
		sed 's/^/  | /' $out
		return 1
	fi
	echo "$1 $((t1 - t0)) $kib" >> "$res"
	echo "boot.sh: $1 $((t1 - t0)) ms to marker, $kib KiB beyond RAM"
}

echo "boot.sh: $(bin/qemu-system-aarch64 --version | head -n 1); warming up"
for v in kvmrun qemu; do boot $v > /tmp/warm.log 2>&1 || { cat /tmp/warm.log; exit 1; }; done
: > "$res"
i=1
while [ $i -le "$runs" ]; do
	if [ $((i % 2)) = 1 ]; then order="kvmrun qemu"; else order="qemu kvmrun"; fi
	for v in $order; do boot $v || exit 1; done
	i=$((i + 1))
done
