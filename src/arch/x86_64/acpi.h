/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ACPI tables of the x86-64 machine, built once at VM start into guest RAM.
 *
 * The machine is ACPI hardware-reduced (FADT flag HW_REDUCED_ACPI): no PM1/GPE blocks,
 * no SCI, no FACS; power-off through the FADT sleep control/status registers and reset
 * through the FADT reset register, all in I/O space (PORT_ACPI_* in layout.h).
 *
 * Layout in the area (LAYOUT_ACPI_BASE, LAYOUT_ACPI_SIZE), each table 16-byte aligned:
 *   RSDP (rev 2, at offset 0 so the guest's 0xe0000-0xfffff scan finds it)
 *   DSDT, FADT, MADT, [MCFG,] XSDT (-> FADT, MADT[, MCFG])
 */
#ifndef KVMRUN_X86_ACPI_H
#define KVMRUN_X86_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmrun/compiler.h"

/* CPU devices in the DSDT are named C000..CFFF. */
#define ACPI_MAX_CPUS 4096

struct acpi_config {
	unsigned int nr_cpus; /* 1..ACPI_MAX_CPUS */
	const uint32_t *apic_ids; /* nr_cpus distinct APIC ids; cpu i gets ACPI UID i */
	/*
	 * The PCI root bridge: Device (PCI0) (PNP0A08, bus 0, the I/O and 32-bit memory
	 * windows of layout.h), a PNP0C02 device reserving the ECAM of bus 0, and an MCFG
	 * table for that ECAM at LAYOUT_PCI_ECAM.
	 */
	bool pci;
	/* The 64-bit memory window of PCI0 (a QWordMemory in its _CRS); size 0: none. */
	uint64_t pci_mmio64, pci_mmio64_size;
};

/*
 * Write all tables into @buf, the host view of guest RAM at @base_gpa, @size bytes.
 * The whole of @buf is cleared first. On success stores the RSDP's guest address
 * (always @base_gpa) in @rsdp_gpa and returns 0; -EINVAL for a bad config, -ENOSPC if
 * the tables do not fit, -ENOMEM.
 */
int acpi_build(uint8_t *buf, size_t size, uint64_t base_gpa, const struct acpi_config *cfg,
	       uint64_t *rsdp_gpa) WARN_UNUSED;

/* Table layouts (ACPI 6.5, little-endian host assumed: KVM on x86-64). */

#define ACPI_OEM_ID "KVMRUN"
#define ACPI_CREATOR_ID "KVMR"

struct acpi_rsdp {
	char signature[8]; /* "RSD PTR " */
	uint8_t checksum; /* over the first 20 bytes */
	char oem_id[6];
	uint8_t revision; /* 2 */
	uint32_t rsdt_address;
	uint32_t length; /* 36 */
	uint64_t xsdt_address;
	uint8_t ext_checksum; /* over all 36 bytes */
	uint8_t reserved[3];
} __attribute__((packed));

struct acpi_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));

/* Generic Address Structure */
struct acpi_gas {
	uint8_t space_id;
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;
	uint64_t address;
} __attribute__((packed));

#define ACPI_GAS_SYSTEM_IO 1
#define ACPI_GAS_ACCESS_BYTE 1

struct acpi_fadt {
	struct acpi_header header;
	uint32_t firmware_ctrl;
	uint32_t dsdt;
	uint8_t reserved0;
	uint8_t preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable;
	uint8_t acpi_disable;
	uint8_t s4bios_req;
	uint8_t pstate_cnt;
	uint32_t pm1a_evt_blk;
	uint32_t pm1b_evt_blk;
	uint32_t pm1a_cnt_blk;
	uint32_t pm1b_cnt_blk;
	uint32_t pm2_cnt_blk;
	uint32_t pm_tmr_blk;
	uint32_t gpe0_blk;
	uint32_t gpe1_blk;
	uint8_t pm1_evt_len;
	uint8_t pm1_cnt_len;
	uint8_t pm2_cnt_len;
	uint8_t pm_tmr_len;
	uint8_t gpe0_blk_len;
	uint8_t gpe1_blk_len;
	uint8_t gpe1_base;
	uint8_t cst_cnt;
	uint16_t p_lvl2_lat;
	uint16_t p_lvl3_lat;
	uint16_t flush_size;
	uint16_t flush_stride;
	uint8_t duty_offset;
	uint8_t duty_width;
	uint8_t day_alrm;
	uint8_t mon_alrm;
	uint8_t century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_revision;
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct acpi_gas x_pm1a_evt_blk;
	struct acpi_gas x_pm1b_evt_blk;
	struct acpi_gas x_pm1a_cnt_blk;
	struct acpi_gas x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk;
	struct acpi_gas x_pm_tmr_blk;
	struct acpi_gas x_gpe0_blk;
	struct acpi_gas x_gpe1_blk;
	struct acpi_gas sleep_control_reg;
	struct acpi_gas sleep_status_reg;
	uint64_t hypervisor_vendor_id;
} __attribute__((packed));

#define ACPI_FADT_REVISION 6
#define ACPI_FADT_MINOR_REVISION 5
#define ACPI_FADT_PWR_BUTTON (1U << 4) /* no fixed-feature power button */
#define ACPI_FADT_SLP_BUTTON (1U << 5) /* no fixed-feature sleep button */
#define ACPI_FADT_RESET_REG_SUP (1U << 10)
#define ACPI_FADT_HW_REDUCED_ACPI (1U << 20)
#define ACPI_IAPC_8042 (1U << 1)
#define ACPI_IAPC_VGA_NOT_PRESENT (1U << 2)

struct acpi_madt {
	struct acpi_header header;
	uint32_t lapic_address;
	uint32_t flags; /* bit 0 PCAT_COMPAT: clear, there is no 8259 */
} __attribute__((packed));

#define ACPI_MADT_REVISION 5

enum {
	ACPI_MADT_LAPIC = 0,
	ACPI_MADT_IOAPIC = 1,
	ACPI_MADT_ISO = 2,
	ACPI_MADT_LAPIC_NMI = 4,
	ACPI_MADT_X2APIC = 9,
	ACPI_MADT_X2APIC_NMI = 10,
};

#define ACPI_MADT_ENABLED 1U
#define ACPI_MPS_ACTIVE_HIGH 0x1
#define ACPI_MPS_EDGE 0x4

struct acpi_madt_lapic {
	uint8_t type;
	uint8_t length; /* 8 */
	uint8_t uid;
	uint8_t apic_id;
	uint32_t flags;
} __attribute__((packed));

struct acpi_madt_ioapic {
	uint8_t type;
	uint8_t length; /* 12 */
	uint8_t id;
	uint8_t reserved;
	uint32_t address;
	uint32_t gsi_base;
} __attribute__((packed));

struct acpi_madt_iso {
	uint8_t type;
	uint8_t length; /* 10 */
	uint8_t bus; /* 0: ISA */
	uint8_t source;
	uint32_t gsi;
	uint16_t flags;
} __attribute__((packed));

struct acpi_madt_lapic_nmi {
	uint8_t type;
	uint8_t length; /* 6 */
	uint8_t uid; /* 0xff: all processors */
	uint16_t flags;
	uint8_t lint;
} __attribute__((packed));

struct acpi_madt_x2apic {
	uint8_t type;
	uint8_t length; /* 16 */
	uint16_t reserved;
	uint32_t x2apic_id;
	uint32_t flags;
	uint32_t uid;
} __attribute__((packed));

struct acpi_madt_x2apic_nmi {
	uint8_t type;
	uint8_t length; /* 12 */
	uint16_t flags;
	uint32_t uid; /* 0xffffffff: all processors */
	uint8_t lint;
	uint8_t reserved[3];
} __attribute__((packed));

struct acpi_mcfg {
	struct acpi_header header;
	uint8_t reserved[8];
} __attribute__((packed));

#define ACPI_MCFG_REVISION 1

/* One ECAM allocation, after the MCFG header. */
struct acpi_mcfg_alloc {
	uint64_t base;
	uint16_t segment;
	uint8_t start_bus;
	uint8_t end_bus;
	uint32_t reserved;
} __attribute__((packed));

#endif
