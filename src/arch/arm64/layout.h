/* SPDX-License-Identifier: Apache-2.0 */
/* The guest-physical map of the arm64 machine: devices below 1 GiB, RAM from 1 GiB. */
#ifndef KVMRUN_ARM64_LAYOUT_H
#define KVMRUN_ARM64_LAYOUT_H

#include "kvmrun/compiler.h"

/* The GICv3: distributor, ITS, then one redistributor (two 64 KiB frames) per vCPU. */
#define A64_GIC_DIST 0x08000000ULL
#define A64_GIC_DIST_SIZE 0x10000ULL
#define A64_GIC_ITS 0x08080000ULL
#define A64_GIC_ITS_SIZE 0x20000ULL
#define A64_GIC_REDIST 0x080a0000ULL
#define A64_GIC_REDIST_SIZE_PER_CPU 0x20000ULL
#define A64_GIC_REDIST_END 0x09000000ULL
#define A64_MAX_CPUS ((A64_GIC_REDIST_END - A64_GIC_REDIST) / A64_GIC_REDIST_SIZE_PER_CPU)
/* Interrupt IDs the GIC has (32 private, then the SPIs). */
#define A64_GIC_NR_IRQS 128

/*
 * Where KVM offers no GICv3: a GICv2 (distributor at A64_GIC_DIST, CPU interface, at
 * most 8 vCPUs) with a GICv2m MSI frame whose SPIs are interrupt IDs 64 to 255.
 */
#define A64_GICV2_DIST_SIZE 0x1000ULL
#define A64_GICV2_CPU 0x08010000ULL
#define A64_GICV2_CPU_SIZE 0x2000ULL
#define A64_GICV2M 0x08020000ULL
#define A64_GICV2_NR_IRQS 256
#define A64_GICV2M_FIRST 64
#define A64_GICV2M_COUNT (A64_GICV2_NR_IRQS - A64_GICV2M_FIRST)
#define A64_GICV2_MAX_CPUS 8

/* The UART (16550A, byte registers) and the PL031 RTC, one 4 KiB page each. */
#define A64_UART 0x09000000ULL
#define A64_UART_SIZE 0x1000ULL
#define A64_UART_SPI 1
#define A64_UART_CLOCK 1843200
#define A64_RTC 0x09010000ULL
#define A64_RTC_SIZE 0x1000ULL
#define A64_RTC_SPI 2
/* pvpanic-mmio: one byte register (PVPANIC_MMIO_SIZE), in a page of its own. */
#define A64_PVPANIC 0x09020000ULL

/* PCI: the 32-bit BAR window, ECAM for bus 0 and the 64-bit window above RAM. */
#define A64_PCI_MMIO32 0x10000000ULL
#define A64_PCI_MMIO32_SIZE 0x2eff0000ULL
#define A64_PCI_IO 0x3eff0000ULL /* ports 0-0xffff in memory space */
#define A64_PCI_IO_SIZE 0x10000ULL
#define A64_PCI_IO_MIN 0x1000 /* the ports kvmrun places I/O BARs at */
#define A64_PCI_ECAM 0x3f000000ULL
#define A64_PCI_ECAM_SIZE 0x100000ULL	    /* bus 0: 32 devices x 8 functions x 4 KiB */
#define A64_PCI_MMIO64 0x8000000000ULL	    /* 512 GiB */
#define A64_PCI_MMIO64_SIZE 0x1000000000ULL /* 64 GiB: inside KVM's default 40-bit IPA */

/* RAM: from 1 GiB up to the 64-bit PCI window. */
#define A64_RAM 0x40000000ULL
#define A64_RAM_MAX (A64_PCI_MMIO64 - A64_RAM)

/* The architected timer's PPIs: secure, non-secure physical, virtual, hypervisor. */
#define A64_TIMER_PPI_SEC 13
#define A64_TIMER_PPI_PHYS 14
#define A64_TIMER_PPI_VIRT 11
#define A64_TIMER_PPI_HYP 10

#endif
