/* SPDX-License-Identifier: Apache-2.0 */
/* The guest-physical and port map of the x86-64 machine. */
#ifndef KVMRUN_X86_LAYOUT_H
#define KVMRUN_X86_LAYOUT_H

#include <stdint.h>
#include "kvmrun/compiler.h"

/* Low memory used while booting. */
#define LAYOUT_GDT 0x500ULL
#define LAYOUT_BOOT_PARAMS 0x7000ULL
#define LAYOUT_PML4 0x9000ULL
#define LAYOUT_PDPT 0xa000ULL
#define LAYOUT_PD 0xb000ULL /* four pages: identity map of the first 4 GiB */
#define LAYOUT_CMDLINE 0x20000ULL
#define LAYOUT_CMDLINE_MAX 0x10000ULL
#define LAYOUT_PVH_START_INFO 0x6000ULL
#define LAYOUT_EBDA 0x9fc00ULL
#define LAYOUT_ACPI_BASE 0xe0000ULL /* RSDP first (BIOS search area), then tables */
#define LAYOUT_ACPI_SIZE 0x20000ULL
#define LAYOUT_HIGH_RAM 0x100000ULL
#define LAYOUT_KERNEL_DEFAULT 0x1000000ULL

/* RAM below 4 GiB ends here; what is left continues at 4 GiB. */
#define LAYOUT_MMIO_HOLE 0xc0000000ULL
#define LAYOUT_MMIO_HOLE_END 0x100000000ULL
#define LAYOUT_PCI_MMIO32 0xc0000000ULL
#define LAYOUT_PCI_MMIO32_SIZE 0x20000000ULL
#define LAYOUT_PCI_ECAM 0xe0000000ULL
#define LAYOUT_PCI_ECAM_SIZE 0x10000000ULL /* room for buses 0-255 */
/*
 * The 64-bit PCI window (for 64-bit BARs) starts above the end of RAM and 4 GiB,
 * aligned to 1 GiB, and ends below the guest's physical address limit.
 */
#define LAYOUT_PCI_MMIO64_ALIGN (1ULL << 30)
#define LAYOUT_PCI_MMIO64_MAX_SIZE (1ULL << 36)
/* The ECAM decodes bus 0 only (32 devices x 8 functions x 4 KiB). */
#define LAYOUT_PCI_ECAM_BUS0_SIZE 0x100000ULL
/* I/O port window of the PCI root bridge (above the legacy ports). */
#define LAYOUT_PCI_IO_MIN 0x1000
#define LAYOUT_PCI_IO_MAX 0xffff
#define LAYOUT_PVPANIC_MMIO 0xfeb00000ULL
#define LAYOUT_PVPANIC_SIZE 0x2ULL
#define LAYOUT_IOAPIC 0xfec00000ULL
#define LAYOUT_LAPIC 0xfee00000ULL

/* Ports. */
#define PORT_COM1 0x3f8
#define PORT_COM1_IRQ 4
#define PORT_I8042_DATA 0x60
#define PORT_I8042_CMD 0x64
#define PORT_RTC 0x70
#define PORT_RTC_IRQ 8
#define PORT_PCI_CONFIG 0xcf8 /* address at 0xcf8, data at 0xcfc-0xcff */
#define PORT_PCI_CONFIG_LEN 8
/* ACPI hardware-reduced sleep control/status and reset registers. */
#define PORT_ACPI_SLEEP_CTL 0x600
#define PORT_ACPI_SLEEP_STS 0x601
#define PORT_ACPI_RESET 0x602
#define ACPI_RESET_VALUE 0x1
/* Exit port (--exit-port only): a byte N written here ends kvmrun with status N. */
#define PORT_EXIT 0x604
#define ACPI_S5_SLP_TYP 5

#define LAYOUT_NR_IOAPIC_PINS 24

/*
 * Where the 64-bit PCI window goes for @ram_end (the end of guest RAM's highest byte
 * + 1) and @phys_bits of guest-physical address: *size 0 when there is no room.
 */
static inline void layout_pci_mmio64(uint64_t ram_end, unsigned int phys_bits, uint64_t *base,
				     uint64_t *size)
{
	uint64_t limit = phys_bits >= 64 ? ~0ULL : (1ULL << phys_bits);
	uint64_t b = ALIGN_UP(MAX(ram_end, LAYOUT_MMIO_HOLE_END), LAYOUT_PCI_MMIO64_ALIGN);

	*base = b;
	*size = b < limit ? MIN(limit - b, LAYOUT_PCI_MMIO64_MAX_SIZE) : 0;
}

#endif
