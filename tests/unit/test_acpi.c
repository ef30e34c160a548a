// SPDX-License-Identifier: Apache-2.0
/* Unit tests for the ACPI tables: checksums, pointers, MADT, FADT and DSDT contents. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/acpi.h"
#include "arch/x86_64/layout.h"
#include "kvmrun/compiler.h"

#define BASE LAYOUT_ACPI_BASE
#define SIZE ((size_t)LAYOUT_ACPI_SIZE)
#define GUARD 256
#define CANARY 0xa5

struct built {
	uint8_t *mem; /* SIZE bytes, then GUARD canary bytes */
	uint64_t rsdp_gpa;
	const struct acpi_rsdp *rsdp;
	const struct acpi_header *xsdt;
	const struct acpi_fadt *fadt;
	const struct acpi_madt *madt;
	const struct acpi_header *dsdt;
	const struct acpi_header *mcfg; /* built with cfg.pci only */
};

static uint8_t sum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *b++);
	return s;
}

/* The table at @gpa, checked to lie inside the area with a valid length and checksum. */
static const struct acpi_header *table_at(const struct built *b, uint64_t gpa, const char *sig)
{
	const struct acpi_header *h;
	uint32_t len;

	assert_true(gpa >= BASE);
	assert_true(gpa - BASE + sizeof(*h) <= SIZE);
	assert_int_equal(gpa % 16, 0);
	h = (const struct acpi_header *)(b->mem + (gpa - BASE));
	memcpy(&len, &h->length, sizeof(len));
	assert_true(len >= sizeof(*h));
	assert_true(gpa - BASE + len <= SIZE);
	assert_memory_equal(h->signature, sig, 4);
	assert_int_equal(sum(h, len), 0);
	assert_memory_equal(h->oem_id, "KVMRUN", 6);
	assert_memory_equal(h->oem_table_id, "KVMR", 4);
	assert_memory_equal(h->oem_table_id + 4, sig, 4);
	assert_memory_equal(h->creator_id, "KVMR", 4);
	return h;
}

static int build_into_pci(uint8_t *mem, size_t size, const uint32_t *ids, unsigned int n,
			  bool pci, uint64_t *rsdp)
{
	struct acpi_config cfg = { .nr_cpus = n, .apic_ids = ids, .pci = pci };

	return acpi_build(mem, size, BASE, &cfg, rsdp);
}

static int build_into(uint8_t *mem, size_t size, const uint32_t *ids, unsigned int n,
		      uint64_t *rsdp)
{
	return build_into_pci(mem, size, ids, n, false, rsdp);
}

static void build_pci(struct built *b, const uint32_t *ids, unsigned int n, bool pci)
{
	unsigned int i, nx;
	uint64_t ptrs[4];

	memset(b, 0, sizeof(*b));
	b->mem = malloc(SIZE + GUARD);
	assert_non_null(b->mem);
	memset(b->mem, CANARY, SIZE + GUARD);
	assert_int_equal(build_into_pci(b->mem, SIZE, ids, n, pci, &b->rsdp_gpa), 0);
	for (i = 0; i < GUARD; i++)
		assert_int_equal(b->mem[SIZE + i], CANARY);

	/* RSDP: at the start of the area (16-byte aligned for the BIOS-area scan). */
	assert_int_equal(b->rsdp_gpa, BASE);
	b->rsdp = (const struct acpi_rsdp *)b->mem;
	assert_memory_equal(b->rsdp->signature, "RSD PTR ", 8);
	assert_int_equal(b->rsdp->revision, 2);
	assert_int_equal(b->rsdp->length, 36);
	assert_int_equal(sum(b->rsdp, 20), 0);
	assert_int_equal(sum(b->rsdp, 36), 0);
	assert_memory_equal(b->rsdp->oem_id, "KVMRUN", 6);
	assert_int_equal(b->rsdp->rsdt_address, 0);

	b->xsdt = table_at(b, b->rsdp->xsdt_address, "XSDT");
	assert_int_equal(b->xsdt->revision, 1);
	assert_int_equal((b->xsdt->length - sizeof(struct acpi_header)) % 8, 0);
	nx = (b->xsdt->length - sizeof(struct acpi_header)) / 8;
	assert_int_equal(nx, pci ? 3 : 2);
	memcpy(ptrs, (const uint8_t *)b->xsdt + sizeof(struct acpi_header), nx * 8);
	b->fadt = (const struct acpi_fadt *)table_at(b, ptrs[0], "FACP");
	b->madt = (const struct acpi_madt *)table_at(b, ptrs[1], "APIC");
	if (pci)
		b->mcfg = table_at(b, ptrs[2], "MCFG");
	b->dsdt = table_at(b, b->fadt->x_dsdt, "DSDT");
	assert_int_equal(b->fadt->dsdt, b->fadt->x_dsdt);
}

static void build(struct built *b, const uint32_t *ids, unsigned int n)
{
	build_pci(b, ids, n, false);
}

static void release(struct built *b)
{
	free(b->mem);
}

/* Walk the MADT entries, checking each length; count each type. */
static void madt_walk(const struct acpi_madt *m, unsigned int counts[256])
{
	const uint8_t *p = (const uint8_t *)m + sizeof(*m);
	const uint8_t *end = (const uint8_t *)m + m->header.length;

	memset(counts, 0, 256 * sizeof(counts[0]));
	while (p < end) {
		assert_true(end - p >= 2);
		assert_true(p[1] >= 2);
		assert_true(p[1] <= end - p);
		counts[p[0]]++;
		p += p[1];
	}
	assert_ptr_equal(p, end);
}

static const uint8_t *madt_find(const struct acpi_madt *m, uint8_t type, unsigned int nth)
{
	const uint8_t *p = (const uint8_t *)m + sizeof(*m);
	const uint8_t *end = (const uint8_t *)m + m->header.length;

	for (; p < end; p += p[1])
		if (p[0] == type && nth-- == 0)
			return p;
	return NULL;
}

static void check_madt(const struct built *b, const uint32_t *ids, unsigned int n)
{
	const struct acpi_madt *m = b->madt;
	struct acpi_madt_ioapic io;
	struct acpi_madt_iso iso;
	struct acpi_madt_lapic_nmi nmi;
	unsigned int counts[256], i;

	assert_int_equal(m->header.revision, ACPI_MADT_REVISION);
	assert_int_equal(m->lapic_address, LAYOUT_LAPIC);
	assert_int_equal(m->flags & 1, 0); /* no PCAT_COMPAT */
	madt_walk(m, counts);
	assert_int_equal(counts[ACPI_MADT_LAPIC], n);
	assert_int_equal(counts[ACPI_MADT_X2APIC], 0);
	assert_int_equal(counts[ACPI_MADT_IOAPIC], 1);
	assert_int_equal(counts[ACPI_MADT_ISO], 1);
	assert_int_equal(counts[ACPI_MADT_LAPIC_NMI], 1);
	assert_int_equal(m->header.length, sizeof(*m) + 8 * n + 12 + 10 + 6);

	for (i = 0; i < n; i++) {
		struct acpi_madt_lapic e;

		memcpy(&e, madt_find(m, ACPI_MADT_LAPIC, i), sizeof(e));
		assert_int_equal(e.length, 8);
		assert_int_equal(e.apic_id, ids[i]);
		assert_int_equal(e.uid, i);
		assert_int_equal(e.flags, ACPI_MADT_ENABLED);
	}

	memcpy(&io, madt_find(m, ACPI_MADT_IOAPIC, 0), sizeof(io));
	assert_int_equal(io.length, 12);
	assert_int_equal(io.address, LAYOUT_IOAPIC);
	assert_int_equal(io.gsi_base, 0);
	assert_int_equal(io.id, n);

	memcpy(&iso, madt_find(m, ACPI_MADT_ISO, 0), sizeof(iso));
	assert_int_equal(iso.length, 10);
	assert_int_equal(iso.bus, 0);
	assert_int_equal(iso.source, 0);
	assert_int_equal(iso.gsi, 2);
	assert_int_equal(iso.flags, ACPI_MPS_ACTIVE_HIGH | ACPI_MPS_EDGE);

	memcpy(&nmi, madt_find(m, ACPI_MADT_LAPIC_NMI, 0), sizeof(nmi));
	assert_int_equal(nmi.length, 6);
	assert_int_equal(nmi.uid, 0xff);
	assert_int_equal(nmi.lint, 1);
}

static size_t count_in(const struct acpi_header *t, const void *needle, size_t n)
{
	const uint8_t *p = (const uint8_t *)t, *end = p + t->length;
	size_t c = 0;

	for (; p + n <= end; p++)
		if (!memcmp(p, needle, n))
			c++;
	return c;
}

static void check_dsdt(const struct built *b, unsigned int ncpus)
{
	static const uint8_t s5[] = { 0x08, '\\', '_', 'S', '5', '_', 0x12, 0x08, 0x04,
				      0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00 };
	static const uint8_t com1_hid[] = { 0x08, '_', 'H', 'I', 'D',
					    0x0c, 0x41, 0xd0, 0x05, 0x01 };
	static const uint8_t com1_io[] = { 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x00, 0x08 };
	static const uint8_t irq4[] = { 0x22, 0x10, 0x00 };
	static const uint8_t rtc_hid[] = { 0x0c, 0x41, 0xd0, 0x0b, 0x00 };
	static const uint8_t pvpanic_hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0d, 'Q', 'E', 'M', 'U',
					       '0', '0', '0', '1', 0x00 };
	static const uint8_t pvpanic_mem[] = { 0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0xb0, 0xfe,
					       0x02, 0x00, 0x00, 0x00 };
	static const uint8_t sta[] = { 0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xa4, 0x0a, 0x0f };
	const struct acpi_header *d = b->dsdt;

	assert_int_equal(d->revision, 2);
	assert_int_equal(count_in(d, s5, sizeof(s5)), 1);
	assert_int_equal(ACPI_S5_SLP_TYP, 5);
	assert_int_equal(count_in(d, com1_hid, sizeof(com1_hid)), 1);
	assert_int_equal(count_in(d, com1_io, sizeof(com1_io)), 1);
	assert_int_equal(count_in(d, irq4, sizeof(irq4)), 1);
	assert_int_equal(count_in(d, rtc_hid, sizeof(rtc_hid)), 1);
	assert_int_equal(count_in(d, pvpanic_hid, sizeof(pvpanic_hid)), 1);
	assert_int_equal(count_in(d, pvpanic_mem, sizeof(pvpanic_mem)), 1);
	assert_int_equal(count_in(d, sta, sizeof(sta)), 1);
	assert_int_equal(count_in(d, "\x10", 1) >= 1, 1);
	assert_int_equal(count_in(d, "\\_SB_", 5), 1);
	assert_int_equal(count_in(d, "COM1", 4), 1);
	assert_int_equal(count_in(d, "ACPI0007", 8), ncpus);
	assert_int_equal(count_in(d, "C000", 4), 1);
	/* The body right after the header is Scope (\_SB_). */
	assert_int_equal(((const uint8_t *)d)[sizeof(*d)], 0x10);
}

static void check_fadt(const struct built *b)
{
	const struct acpi_fadt *f = b->fadt;

	assert_int_equal(f->header.length, 276);
	assert_int_equal(f->header.revision, 6);
	assert_int_equal(f->minor_revision, ACPI_FADT_MINOR_REVISION);
	assert_true(f->flags & ACPI_FADT_HW_REDUCED_ACPI);
	assert_true(f->flags & ACPI_FADT_RESET_REG_SUP);
	assert_int_equal(f->iapc_boot_arch, ACPI_IAPC_8042 | ACPI_IAPC_VGA_NOT_PRESENT);
	/* No FACS, no SCI, no fixed hardware blocks. */
	assert_int_equal(f->firmware_ctrl, 0);
	assert_int_equal(f->x_firmware_ctrl, 0);
	assert_int_equal(f->sci_int, 0);
	assert_int_equal(f->smi_cmd, 0);
	assert_int_equal(f->pm1a_evt_blk, 0);
	assert_int_equal(f->pm1a_cnt_blk, 0);
	assert_int_equal(f->pm_tmr_blk, 0);
	assert_int_equal(f->x_pm1a_cnt_blk.address, 0);

	/* Linux: acpi_reboot() wants an 8-bit register at bit offset 0. */
	assert_int_equal(f->reset_reg.space_id, ACPI_GAS_SYSTEM_IO);
	assert_int_equal(f->reset_reg.bit_width, 8);
	assert_int_equal(f->reset_reg.bit_offset, 0);
	assert_int_equal(f->reset_reg.access_size, ACPI_GAS_ACCESS_BYTE);
	assert_int_equal(f->reset_reg.address, PORT_ACPI_RESET);
	assert_int_equal(f->reset_value, ACPI_RESET_VALUE);

	/* Linux only offers S5 in reduced mode if both sleep registers are present. */
	assert_int_equal(f->sleep_control_reg.space_id, ACPI_GAS_SYSTEM_IO);
	assert_int_equal(f->sleep_control_reg.bit_width, 8);
	assert_int_equal(f->sleep_control_reg.address, PORT_ACPI_SLEEP_CTL);
	assert_int_equal(f->sleep_status_reg.space_id, ACPI_GAS_SYSTEM_IO);
	assert_int_equal(f->sleep_status_reg.bit_width, 8);
	assert_int_equal(f->sleep_status_reg.address, PORT_ACPI_SLEEP_STS);

	/* Field offsets from the ACPI 6.5 FADT table. */
	assert_int_equal(offsetof(struct acpi_fadt, iapc_boot_arch), 109);
	assert_int_equal(offsetof(struct acpi_fadt, flags), 112);
	assert_int_equal(offsetof(struct acpi_fadt, reset_reg), 116);
	assert_int_equal(offsetof(struct acpi_fadt, minor_revision), 131);
	assert_int_equal(offsetof(struct acpi_fadt, x_dsdt), 140);
	assert_int_equal(offsetof(struct acpi_fadt, sleep_control_reg), 244);
	assert_int_equal(offsetof(struct acpi_fadt, sleep_status_reg), 256);
}

/* The first occurrence of @needle in table @t, or NULL. */
static const uint8_t *find_in(const struct acpi_header *t, const void *needle, size_t n)
{
	const uint8_t *p = (const uint8_t *)t, *end = p + t->length;

	for (; p + n <= end; p++)
		if (!memcmp(p, needle, n))
			return p;
	return NULL;
}

static uint64_t le(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | p[n];
	return v;
}

static void check_mcfg(const struct built *b)
{
	const struct acpi_header *m = b->mcfg;
	struct acpi_mcfg_alloc e;
	const uint8_t *p = (const uint8_t *)m;
	unsigned int i;

	assert_non_null(m);
	assert_int_equal(m->revision, 1);
	assert_int_equal(m->length, 36 + 8 + 16);
	for (i = 0; i < 8; i++)
		assert_int_equal(p[36 + i], 0);
	memcpy(&e, p + 44, sizeof(e));
	assert_int_equal(e.base, LAYOUT_PCI_ECAM);
	assert_int_equal(e.segment, 0);
	assert_int_equal(e.start_bus, 0);
	assert_int_equal(e.end_bus, 0);
	assert_int_equal(e.reserved, 0);
	assert_int_equal(offsetof(struct acpi_mcfg_alloc, start_bus), 10);
}

static void check_dsdt_pci(const struct built *b)
{
	static const uint8_t hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x08 };
	static const uint8_t cid[] = { 0x08, '_', 'C', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x03 };
	static const uint8_t seg[] = { 0x08, '_', 'S', 'E', 'G', 0x00 };
	static const uint8_t bbn[] = { 0x08, '_', 'B', 'B', 'N', 0x00 };
	static const uint8_t bbn_uid0[] = { 0x08, '_', 'B', 'B', 'N', 0x00,
					    0x08, '_', 'U', 'I', 'D', 0x00 };
	static const uint8_t cf8_io[] = { 0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08 };
	static const uint8_t word_bus[] = { 0x88, 0x0d, 0x00, 0x02 };
	static const uint8_t word_io[] = { 0x88, 0x0d, 0x00, 0x01 };
	static const uint8_t dword_mem[] = { 0x87, 0x17, 0x00, 0x00 };
	static const uint8_t res_hid[] = { 0x0c, 0x41, 0xd0, 0x0c, 0x02 };
	static const uint8_t ecam_mem[] = { 0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xe0,
					    0x00, 0x00, 0x10, 0x00 };
	const struct acpi_header *d = b->dsdt;
	const uint8_t *p;

	assert_int_equal(count_in(d, "PCI0", 4), 1);
	assert_int_equal(count_in(d, hid, sizeof(hid)), 1);
	assert_int_equal(count_in(d, cid, sizeof(cid)), 1);
	assert_int_equal(count_in(d, seg, sizeof(seg)), 1);
	assert_int_equal(count_in(d, bbn, sizeof(bbn)), 1);
	assert_int_equal(count_in(d, bbn_uid0, sizeof(bbn_uid0)), 1);
	assert_int_equal(count_in(d, cf8_io, sizeof(cf8_io)), 1);
	/* Address descriptors: granularity, min, max, translation, length from byte 6. */
	p = find_in(d, word_bus, sizeof(word_bus));
	assert_non_null(p);
	assert_int_equal(le(p + 8, 2), 0);
	assert_int_equal(le(p + 10, 2), 0);
	assert_int_equal(le(p + 14, 2), 1);
	p = find_in(d, word_io, sizeof(word_io));
	assert_non_null(p);
	assert_int_equal(le(p + 8, 2), LAYOUT_PCI_IO_MIN);
	assert_int_equal(le(p + 10, 2), LAYOUT_PCI_IO_MAX);
	assert_int_equal(le(p + 14, 2), LAYOUT_PCI_IO_MAX - LAYOUT_PCI_IO_MIN + 1);
	p = find_in(d, dword_mem, sizeof(dword_mem));
	assert_non_null(p);
	assert_int_equal(le(p + 10, 4), LAYOUT_PCI_MMIO32);
	assert_int_equal(le(p + 14, 4), LAYOUT_PCI_MMIO32 + LAYOUT_PCI_MMIO32_SIZE - 1);
	assert_int_equal(le(p + 22, 4), LAYOUT_PCI_MMIO32_SIZE);
	/* The ECAM of bus 0, reserved as a motherboard resource. */
	assert_int_equal(count_in(d, "PRES", 4), 1);
	assert_int_equal(count_in(d, res_hid, sizeof(res_hid)), 1);
	assert_int_equal(count_in(d, ecam_mem, sizeof(ecam_mem)), 1);
	assert_int_equal(LAYOUT_PCI_ECAM_BUS0_SIZE, 0x100000);
}

static void test_pci(void **state)
{
	static const uint32_t ids[] = { 0, 1 };
	struct built b;

	(void)state;
	build_pci(&b, ids, 2, true);
	check_madt(&b, ids, 2);
	check_fadt(&b);
	check_dsdt(&b, 2);
	check_dsdt_pci(&b);
	check_mcfg(&b);
	release(&b);

	/* Without cfg.pci: no PCI0, no MCFG. */
	build(&b, ids, 2);
	assert_int_equal(count_in(b.dsdt, "PCI0", 4), 0);
	assert_null(b.mcfg);
	release(&b);
}

/* The 64-bit window: a QWordMemory in PCI0's _CRS when there is one, none otherwise. */
static void test_pci_mmio64(void **state)
{
	static const uint8_t qword_mem[] = { 0x8a, 0x2b, 0x00, 0x00 };
	static const uint32_t ids[] = { 0 };
	struct acpi_config cfg = { .nr_cpus = 1, .apic_ids = ids, .pci = true,
				   .pci_mmio64 = 0x180000000ULL, .pci_mmio64_size = 1ULL << 36 };
	uint8_t *mem = calloc(1, SIZE);
	const uint8_t *p = NULL;
	uint64_t rsdp;

	(void)state;
	assert_non_null(mem);
	assert_int_equal(acpi_build(mem, SIZE, BASE, &cfg, &rsdp), 0);
	for (size_t i = 0; i + 46 <= SIZE && !p; i++)
		if (!memcmp(mem + i, qword_mem, sizeof(qword_mem)))
			p = mem + i;
	assert_non_null(p);
	assert_int_equal(le(p + 14, 8), 0x180000000ULL);
	assert_int_equal(le(p + 22, 8), 0x180000000ULL + (1ULL << 36) - 1);
	assert_int_equal(le(p + 30, 8), 0);
	assert_int_equal(le(p + 38, 8), 1ULL << 36);
	cfg.pci_mmio64_size = 0;
	assert_int_equal(acpi_build(mem, SIZE, BASE, &cfg, &rsdp), 0);
	for (size_t i = 0; i + 4 <= SIZE; i++)
		assert_true(memcmp(mem + i, qword_mem, sizeof(qword_mem)) != 0);
	free(mem);
}

static void test_vcpus(unsigned int n)
{
	uint32_t *ids = calloc(n, sizeof(*ids));
	struct built b;
	unsigned int i;

	assert_non_null(ids);
	for (i = 0; i < n; i++)
		ids[i] = i;
	build(&b, ids, n);
	check_madt(&b, ids, n);
	check_fadt(&b);
	check_dsdt(&b, n);
	release(&b);
	free(ids);
}

static void test_one_vcpu(void **state)
{
	(void)state;
	test_vcpus(1);
}

static void test_two_vcpus(void **state)
{
	(void)state;
	test_vcpus(2);
}

static void test_64_vcpus(void **state)
{
	(void)state;
	test_vcpus(64);
}

static void test_sparse_apic_ids(void **state)
{
	static const uint32_t ids[] = { 0, 2, 4, 6, 8, 10 };
	struct built b;

	(void)state;
	build(&b, ids, 6);
	check_madt(&b, ids, 6);
	release(&b);
}

/* APIC ids and UIDs from 255 on get x2APIC entries, and an x2APIC NMI entry. */
static void test_x2apic(void **state)
{
	const unsigned int n = 300;
	uint32_t ids[300];
	unsigned int counts[256], i;
	struct acpi_madt_x2apic e;
	struct acpi_madt_x2apic_nmi nmi;
	struct built b;

	(void)state;
	for (i = 0; i < n; i++)
		ids[i] = i;
	build(&b, ids, n);
	madt_walk(b.madt, counts);
	assert_int_equal(counts[ACPI_MADT_LAPIC], 255);
	assert_int_equal(counts[ACPI_MADT_X2APIC], n - 255);
	assert_int_equal(counts[ACPI_MADT_X2APIC_NMI], 1);
	for (i = 0; i < n - 255; i++) {
		memcpy(&e, madt_find(b.madt, ACPI_MADT_X2APIC, i), sizeof(e));
		assert_int_equal(e.length, 16);
		assert_int_equal(e.x2apic_id, 255 + i);
		assert_int_equal(e.uid, 255 + i);
		assert_int_equal(e.flags, ACPI_MADT_ENABLED);
	}
	memcpy(&nmi, madt_find(b.madt, ACPI_MADT_X2APIC_NMI, 0), sizeof(nmi));
	assert_int_equal(nmi.uid, UINT32_MAX);
	assert_int_equal(nmi.lint, 1);
	assert_int_equal(count_in(b.dsdt, "ACPI0007", 8), n);
	assert_int_equal(count_in(b.dsdt, "C12B", 4), 1); /* CPU 299 */
	release(&b);
}

static size_t table_end(const struct built *b, const void *t)
{
	const struct acpi_header *h = t;

	return (size_t)((const uint8_t *)t - b->mem) + h->length;
}

/* The tables need some exact number of bytes; one less must fail cleanly at any point. */
static void test_too_small(void **state)
{
	static const uint32_t ids[] = { 0, 1, 2, 3 };
	uint8_t *mem = malloc(SIZE + GUARD);
	size_t need, size, i;
	uint64_t rsdp = 0;
	struct built b;

	(void)state;
	assert_non_null(mem);
	build(&b, ids, 4);
	need = MAX(MAX(table_end(&b, b.xsdt), table_end(&b, b.fadt)),
		   MAX(table_end(&b, b.madt), table_end(&b, b.dsdt)));
	release(&b);
	assert_true(need > 36 + 276);
	for (size = 0; size < need; size++) {
		memset(mem, CANARY, SIZE + GUARD);
		assert_int_equal(build_into(mem, size, ids, 4, &rsdp), -ENOSPC);
		for (i = size; i < SIZE + GUARD; i++)
			assert_int_equal(mem[i], CANARY);
	}
	assert_int_equal(build_into(mem, need, ids, 4, &rsdp), 0);
	free(mem);
}

/* 4096 vCPUs need more than the 128 KiB area: a clean -ENOSPC. */
static void test_too_many_for_area(void **state)
{
	uint32_t *ids = calloc(ACPI_MAX_CPUS, sizeof(*ids));
	uint8_t *mem = malloc(SIZE);
	uint64_t rsdp;
	unsigned int i;

	(void)state;
	assert_non_null(ids);
	assert_non_null(mem);
	for (i = 0; i < ACPI_MAX_CPUS; i++)
		ids[i] = i;
	assert_int_equal(build_into(mem, SIZE, ids, ACPI_MAX_CPUS, &rsdp), -ENOSPC);
	free(mem);
	free(ids);
}

static void test_bad_config(void **state)
{
	static const uint32_t ids[] = { 0, 1, 1 };
	struct acpi_config cfg = { .nr_cpus = 2, .apic_ids = ids };
	uint8_t *mem = malloc(SIZE);
	uint64_t rsdp;

	(void)state;
	assert_non_null(mem);
	assert_int_equal(acpi_build(mem, SIZE, BASE, &cfg, &rsdp), 0);
	assert_int_equal(acpi_build(mem, SIZE, BASE, NULL, &rsdp), -EINVAL);
	assert_int_equal(acpi_build(NULL, SIZE, BASE, &cfg, &rsdp), -EINVAL);
	assert_int_equal(acpi_build(mem, SIZE, BASE, &cfg, NULL), -EINVAL);
	cfg.nr_cpus = 3; /* duplicate APIC id */
	assert_int_equal(acpi_build(mem, SIZE, BASE, &cfg, &rsdp), -EINVAL);
	cfg.nr_cpus = 0;
	assert_int_equal(acpi_build(mem, SIZE, BASE, &cfg, &rsdp), -EINVAL);
	cfg.nr_cpus = ACPI_MAX_CPUS + 1;
	assert_int_equal(acpi_build(mem, SIZE, BASE, &cfg, &rsdp), -EINVAL);
	cfg.nr_cpus = 2;
	cfg.apic_ids = NULL;
	assert_int_equal(acpi_build(mem, SIZE, BASE, &cfg, &rsdp), -EINVAL);
	cfg.apic_ids = ids;
	cfg.pci = true;
	assert_int_equal(acpi_build(mem, SIZE, BASE, &cfg, &rsdp), 0);
	free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_vcpu),
		cmocka_unit_test(test_two_vcpus),
		cmocka_unit_test(test_64_vcpus),
		cmocka_unit_test(test_sparse_apic_ids),
		cmocka_unit_test(test_x2apic),
		cmocka_unit_test(test_too_small),
		cmocka_unit_test(test_too_many_for_area),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_pci),
		cmocka_unit_test(test_pci_mmio64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
