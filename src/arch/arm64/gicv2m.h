/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A GICv2m MSI frame beside an in-kernel GICv2, which KVM does not emulate: a PCI
 * device's MSI is a write of an SPI's interrupt ID to the frame's SETSPI register.
 * kvmrun routes such messages to the SPI itself (irq_kvm_set_msi_spi); this device is
 * the frame's registers, for the guest's driver to read its SPI range from and for
 * writes that reach it from a vCPU.
 */
#ifndef KVMRUN_ARM64_GICV2M_H
#define KVMRUN_ARM64_GICV2M_H

#include <stdint.h>

#include "kvmrun/compiler.h"

struct bus;
struct device;

#define A64_V2M_SIZE 0x1000ULL
#define A64_V2M_SETSPI 0x040 /* MSI_SETSPI_NS: the doorbell */

/* Interrupt IDs @first to @first + @count - 1 are the frame's; KVM_IRQ_LINE on *vm_fd. */
int a64_v2m_create(struct device **list, struct bus *mmio, uint64_t base, int *vm_fd,
		   uint32_t first, uint32_t count) WARN_UNUSED;

#endif
