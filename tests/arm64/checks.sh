#!/bin/sh
# The arm64 checks, run where /dev/kvm is arm64 KVM (inside scripts/testvm-arm64, or
# on an arm64 host), in a directory holding: bin/kvmrun (the build under test),
# bin/kvm_probe (kvm_probe.c), hello.Image (firmware/arm64), Image and guest-initrd.gz
# (Debian's arm64 cloud kernel and the initramfs of guest-init), kernel-config (its
# config), bin/firmware/kvmrun-agent, modules/ and exec-root.img (for kvmrun exec),
# bin/virtiofsd (for --share),
# unit/test_* (the unit tests, run on an ext2 file system, which takes O_DIRECT).
# busybox sh is enough.
# Each check writes "ok NAME" or "not ok NAME" to $TESTVM_OUT/results and what it
# saw to $TESTVM_OUT/NAME.log; --dtb-out's tree is left in $TESTVM_OUT/machine.dtb.
# Every kvmrun run has a deadline of $KVMRUN_TEST_DEADLINE seconds (default 600).
out=${TESTVM_OUT:?}
deadline=${KVMRUN_TEST_DEADLINE:-600}
kvmrun=$PWD/bin/kvmrun
: > "$out/results"
name= log= rc=

# begin NAME: a new check; run ARGS...: kvmrun with the deadline, its output in $log.
begin() { name=$1; log=$out/$1.log; : > "$log"; ok=1; }
run() {
	echo "+ kvmrun $*" >> "$log"
	timeout -s KILL "$deadline" "$kvmrun" "$@" < /dev/null > "$log.raw" 2>&1
	rc=$?
	tr -d '\r' < "$log.raw" >> "$log"
	rm -f "$log.raw"
	[ $rc = 137 ] && echo "(killed at the deadline, ${deadline}s)" >> "$log"
	echo "+ status $rc" >> "$log"
}
no() { echo "FAIL: $*" >> "$log"; ok=0; }
want_rc() { [ "$rc" = "$1" ] || no "status $rc, expected $1"; }
want_line() { grep -q -x -F -- "$1" "$log" || no "no line '$1'"; }
want_grep() { grep -q -E -- "$1" "$log" || no "nothing matches '$1'"; }
no_fail_line() { ! grep -q '^FAIL' "$log" || no "the guest reported a failure"; }
end() {
	if [ $ok = 1 ]; then echo "ok $name" >> "$out/results"; else echo "not ok $name" >> "$out/results"; fi
}

# --- KVM itself, without kvmrun: when this fails, the rest says nothing of kvmrun --------
begin kvm-probe
echo "+ kvm_probe hello.Image" >> "$log"
timeout -s KILL "$deadline" bin/kvm_probe hello.Image "case=off" < /dev/null > "$log.raw" 2>&1
rc=$?
tr -d '\r' < "$log.raw" >> "$log"; rm -f "$log.raw"
want_rc 0
want_line "system off"
want_grep "^kvm_probe: system event 1 "
# ARM64_GIC=2 (run.sh): the machine's KVM must lack a GICv3, or kvmrun's GICv2 goes untried.
if [ "${ARM64_GIC:-3}" = 2 ]; then want_grep "vgic-v3 no"; else want_grep "vgic-v3 yes"; fi
end

# --- refused before /dev/kvm is opened: status 3, not 4 ---------------------------
# Inside the test machine /dev/kvm is moved away meanwhile: a kvmrun that opened it
# before checking its input would end with 4.
hidden=
if [ -n "${TESTVM_ARM64_MACHINE:-}" ] && [ -c /dev/kvm ]; then
	mv /dev/kvm /dev/kvm.hidden && hidden=1
fi
bad() { # NAME FILE [kvmrun options]: refused with 3 and a line naming the kernel
	begin "$1"
	f=$2
	shift 2
	run run --kernel "$f" "$@"
	want_rc 3
	want_grep "$f"
	end
}
printf 'not an arm64 Image, only text\n' > /tmp/text.Image
bad bad-image-text /tmp/text.Image
head -c 63 hello.Image > /tmp/short.Image
bad bad-image-truncated /tmp/short.Image
# The magic "ARM\x64" at 56 broken.
cp hello.Image /tmp/magic.Image
printf 'XRM' | dd of=/tmp/magic.Image bs=1 seek=56 conv=notrunc 2>/dev/null
bad bad-image-magic /tmp/magic.Image
# image_size (at 16) of 1 TiB: larger than any guest memory.
cp hello.Image /tmp/huge.Image
printf '\000\000\000\000\000\001\000\000' | dd of=/tmp/huge.Image bs=1 seek=16 conv=notrunc 2>/dev/null
bad bad-image-size /tmp/huge.Image --memory 256M
bad bad-image-missing /tmp/no-such.Image
begin bad-initrd-missing
run run --kernel hello.Image --initrd /tmp/no-such-initrd
want_rc 3
want_grep /tmp/no-such-initrd
end
[ -n "$hidden" ] && mv /dev/kvm.hidden /dev/kvm

# --- the freestanding guest ---------------------------------------------------------
begin hello-off
run run --kernel hello.Image --append "case=off"
want_rc 0; no_fail_line
want_line "hello from the arm64 guest"
want_grep "^dtb: 1 cpus, uart 16550 at 0x[0-9a-f]+, psci hvc, gic, timer, rtc, pci$"
want_grep "^cmdline: .*case=off"
want_grep "^psci (0\.[2-9]|[1-9]\.[0-9]+)$"
want_line "system off"
end

# A guest panic reported through the tree's pvpanic-mmio: status 5, as on x86-64.
begin hello-panic
run run --kernel hello.Image --append "case=panic"
want_rc 5
want_grep "^pvpanic at 0x[0-9a-f]+$"
end

begin hello-reset
run run --kernel hello.Image --append "case=reset"
want_rc 0; no_fail_line
want_line "system reset"
end

for n in 2 4; do
	begin hello-smp$n
	run run --kernel hello.Image --cpus $n --append "case=smp"
	want_rc 0; no_fail_line
	want_grep "^dtb: $n cpus, "
	want_line "smp: $n of $n cpus ran"
	want_line "system off"
	end
done

begin dtb-out
rm -f "$out/machine.dtb"
run run --kernel hello.Image --initrd guest-initrd.gz --cpus 2 --memory 256M \
	--dtb-out "$out/machine.dtb" \
	--append "case=off dtb=check"
want_rc 0
[ -s "$out/machine.dtb" ] || no "no tree written to $out/machine.dtb"
end

# --- Debian's arm64 kernel ------------------------------------------------------------
begin linux-boot
run run --kernel Image --initrd guest-initrd.gz --cpus 2 --memory 512M \
	--append "quiet kvmrun.test=info"
want_rc 0
want_line "KVMRUN-ARM64-INIT-OK"
want_line "CPUS=2"
want_line "ONLINE=0-1"
end

begin linux-virtio-blk
img=/tmp/disk.img
dd if=/dev/zero of=$img bs=1M count=64 2>/dev/null
printf 'host-pattern-sector-8' | dd of=$img bs=512 seek=8 conv=notrunc 2>/dev/null
run run --kernel Image --initrd guest-initrd.gz --cpus 2 --memory 512M --disk $img \
	--append "quiet kvmrun.test=blk"
want_rc 0
want_line "SECTOR8=host-pattern-sector-8"
want_line "BLK-DONE"
for s in 0 1 2 3; do
	w="kvmrun arm64 guest sector $s"
	got=$(dd if=$img bs=512 skip=$s count=1 2>/dev/null | head -c ${#w})
	[ "$got" = "$w" ] || no "sector $s of the image holds '$got', expected '$w'"
done
rm -f $img
end
begin linux-virtio-rng
run run --kernel Image --initrd guest-initrd.gz --memory 512M --rng \
	--append "quiet kvmrun.test=rng"
want_rc 0
want_line "RNG_CURRENT=virtio_rng.0"
want_line "RNG_BYTES=4096"
s1=$(sed -n 's/^RNG_SUM1=//p' "$log") s2=$(sed -n 's/^RNG_SUM2=//p' "$log")
[ -n "$s1" ] && [ "$s1" != "$s2" ] || no "two reads of /dev/hwrng gave the same bytes ($s1)"
grep -q '^RNG_MSI=[1-9]' "$log" || no "virtio-rng without an MSI"
end

begin linux-virtio-console
run run --kernel Image --initrd guest-initrd.gz --memory 512M --console virtio \
	--append "quiet kvmrun.test=hvc"
want_rc 0
want_line "HVC-TTY=/dev/hvc0"
want_line "HVC-ACTIVE=hvc0"
end

# virtio-net on a tap of the test machine (busybox tunctl; the machine loads tun).
begin linux-virtio-net
if tunctl -t kvmtap0 > /dev/null 2>&1 && ip addr add 10.0.9.1/24 dev kvmtap0 &&
	ip link set kvmtap0 up; then
	run run --kernel Image --initrd guest-initrd.gz --memory 512M \
		--net tap=kvmtap0,mac=52:54:00:12:34:56 --append "quiet kvmrun.test=net"
	want_rc 0
	want_line "NET-MAC=52:54:00:12:34:56"
	want_line "PING-OK"
	tunctl -d kvmtap0 > /dev/null 2>&1
else
	no "cannot set up the tap kvmtap0 in the test machine"
fi
end

# --share: virtio-fs, served by the arm64 virtiofsd of bin/ (Debian's qemu-system-common).
# The guest reads the file put here and writes one back, found here afterwards. The
# machine's root is an initramfs, which virtiofsd's namespace sandbox cannot pivot_root
# away from: kvmrun picks its chroot sandbox there.
begin linux-virtio-fs
share=/tmp/share
rm -rf $share; mkdir -p $share
echo "written by the machine" > $share/from-host
if [ -x bin/virtiofsd ]; then
	KVMRUN_VIRTIOFSD=$PWD/bin/virtiofsd run run --kernel Image --initrd guest-initrd.gz \
		--memory 512M --share $share,tag=t --append "quiet kvmrun.test=share"
	want_rc 0
	want_line "SHARE-READ=written by the machine"
	want_line "SHARE-DONE"
	got=$(cat $share/from-guest 2>/dev/null)
	[ "$got" = "written by the arm64 guest" ] || no "$share/from-guest holds '$got'"
else
	no "no bin/virtiofsd in the payload"
fi
rm -rf $share
end

# A Linux panic (sysrq c). Debian's arm64 cloud kernel has no pvpanic driver
# (CONFIG_PVPANIC is not set): its panic=-1 reboot, a PSCI SYSTEM_RESET, ends kvmrun
# with 0. A kernel with CONFIG_PVPANIC_MMIO reports it through the tree's pvpanic: 5.
begin linux-panic
run run --kernel Image --initrd guest-initrd.gz --memory 512M --append "quiet kvmrun.test=panic"
want_line PANICKING
want_grep "Kernel panic - not syncing"
if grep -q '^CONFIG_PVPANIC_MMIO=y' kernel-config 2>/dev/null; then want_rc 5; else want_rc 0; fi
end

# --- kvmrun exec: the agent (bin/firmware/kvmrun-agent), modules/ (the modules exec
# loads) and exec-root.img (ext4 with busybox) as the root, since no host root is shared.
# The root's snapshot overlay goes to $TMPDIR: the test machine has no /var/tmp.
export TMPDIR=${TMPDIR:-/tmp}
begin exec-exit7
run exec --kernel Image --modules modules --root exec-root.img --memory 512M \
	-- sh -c 'echo hi; exit 7'
want_rc 7
want_line hi
end

begin exec-arch
run exec --kernel Image --modules modules --root exec-root.img --memory 512M --cpus 2 \
	-- sh -c 'echo "machine $(busybox uname -m) cpus $(busybox nproc)"'
want_rc 0
want_line "machine aarch64 cpus 2"
end

begin exec-not-found
run exec --kernel Image --modules modules --root exec-root.img --memory 512M -- /no/such
want_rc 127
end

# Neither a bzImage nor an arm64 Image: exec's own failure, 125, naming --kernel.
begin exec-bad-kernel
run exec --kernel /tmp/text.Image --modules modules --root exec-root.img -- sh -c 'exit 0'
want_rc 125
want_grep "--kernel /tmp/text.Image"
end

# --- the unit tests, on an arm64 kernel ---------------------------------------------
scratch=
if ls unit/test_* > /dev/null 2>&1; then
	# Inside the test machine /tmp is tmpfs, which refuses O_DIRECT: an ext2 image on a
	# loop device instead.
	if [ -n "${TESTVM_ARM64_MACHINE:-}" ]; then
		dd if=/dev/zero of=/tmp/scratch.img bs=1M count=256 2>/dev/null &&
			loop=$(losetup -f) && losetup "$loop" /tmp/scratch.img &&
			mke2fs -q -b 4096 "$loop" > /dev/null 2>&1 && mkdir -p /scratch &&
			mount -t ext2 "$loop" /scratch && scratch=/scratch
		[ -n "$scratch" ] || echo "checks.sh: no ext2 scratch file system, /tmp instead"
	fi
fi
for t in unit/test_*; do
	[ -x "$t" ] || continue
	begin "unit-${t#unit/test_}"
	echo "+ $t" >> "$log"
	bin=$PWD/$t
	(cd "${scratch:-/tmp}" && TMPDIR=${scratch:-/tmp} timeout -s KILL "$deadline" \
		"$bin" < /dev/null > "$log.raw" 2>&1)
	rc=$?
	tr -d '\r' < "$log.raw" >> "$log"; rm -f "$log.raw"
	echo "+ status $rc" >> "$log"
	if [ $rc = 77 ]; then
		echo "ok $name # SKIP $(grep -m1 -i skip "$log" | cut -c1-60)" >> "$out/results"
		continue
	fi
	want_rc 0
	end
done
exit 0
