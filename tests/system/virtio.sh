#!/usr/bin/env bash
# Virtio devices on virtio-pci, driven by Debian's cloud kernel.
# Usage: virtio.sh KVMRUN CASE
. "$(dirname "$0")/lib.sh"
need_kvm "$@"
case $2 in
rng)
  boot rng --rng
  expect_rc 0; expect_line KVMRUN-INIT-OK
  [ "$(value RNG_CURRENT)" = virtio_rng.0 ] ||
    { show; fail "hw_random uses '$(value RNG_CURRENT)', not virtio_rng.0"; }
  [ "$(value RNG_BYTES)" = 4096 ] || { show; fail "read $(value RNG_BYTES) of 4096 bytes"; }
  s1=$(value RNG_SUM1) s2=$(value RNG_SUM2)
  [ -n "$s1" ] && [ "$s1" != "$s2" ] || { show; fail "two reads gave the same bytes"; }
  [ "$(value RNG_MSIX)" -ge 1 ] || { show; fail "virtio0 has no PCI-MSI interrupt"; }
  [ "$(value RNG_PORTS)" = 1 ] ||
    { show; fail "$(value RNG_PORTS) port ranges of virtio-pci-modern, expected 1 (notify)"; } ;;
rng-above-4g)
  # RAM past 4 GiB moves the 64-bit PCI window up; two vCPUs.
  boot rng --rng --memory 4608M --cpus 2
  expect_rc 0
  [ "$(value RNG_BYTES)" = 4096 ] || { show; fail "read $(value RNG_BYTES) of 4096 bytes"; }
  [ "$(value RNG_MSIX)" -ge 1 ] || { show; fail "virtio0 has no PCI-MSI interrupt"; } ;;
*) fail "unknown case $2" ;;
esac
echo "ok: $2"
