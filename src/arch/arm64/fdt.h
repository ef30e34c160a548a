/* SPDX-License-Identifier: Apache-2.0 */
/* The arm64 machine's flattened device tree, built with libfdt. */
#ifndef KVMRUN_ARM64_FDT_H
#define KVMRUN_ARM64_FDT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kvmrun/compiler.h"

/* What the tree describes: addresses are guest-physical, interrupts SPI numbers. */
struct dt_machine {
	uint64_t ram, ram_size;
	unsigned int nr_cpus;
	const uint64_t *mpidr; /* nr_cpus of them (MPIDR_EL1, affinity fields) */
	uint64_t gic_dist, gic_dist_size;
	uint64_t gic_redist, gic_redist_size; /* one region, every vCPU's frames */
	uint64_t its, its_size;		      /* size 0: no ITS, so no MSI */
	/* gic_v2: a GICv2 (gic_dist, gic_cpu; no redistributors, no ITS), MSIs by GICv2m. */
	bool gic_v2;
	uint64_t gic_cpu, gic_cpu_size;
	uint64_t v2m, v2m_size;	       /* size 0: no frame */
	uint32_t v2m_first, v2m_count; /* its SPIs' interrupt IDs */
	uint64_t uart, uart_size;
	uint32_t uart_spi, uart_clock;
	uint64_t rtc, rtc_size;
	uint32_t rtc_spi;
	uint64_t pvpanic, pvpanic_size;	  /* size 0: none */
	uint64_t pci_ecam, pci_ecam_size; /* bus 0 only */
	uint64_t pci_io, pci_io_size;	  /* ports from 0 in memory space; size 0: none */
	uint64_t pci_mmio32, pci_mmio32_size;
	uint64_t pci_mmio64, pci_mmio64_size;
	const char *bootargs;	     /* may be NULL */
	uint64_t initrd, initrd_len; /* len 0: none */
};

/* Writes the tree into buf (size bytes); 0 or -errno (-ENOSPC: buf too small). */
int dt_build(void *buf, size_t size, const struct dt_machine *m) WARN_UNUSED;

#endif
