// SPDX-License-Identifier: Apache-2.0
/* ACPI tables for the hardware-reduced x86-64 machine (ACPI 6.5, chapter 5). */
#include "arch/x86_64/acpi.h"

#include <errno.h>
#include <string.h>

#include "arch/x86_64/aml.h"
#include "arch/x86_64/layout.h"

_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP size");
_Static_assert(sizeof(struct acpi_header) == 36, "table header size");
_Static_assert(sizeof(struct acpi_gas) == 12, "GAS size");
_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT size");
_Static_assert(sizeof(struct acpi_madt) == 44, "MADT size");
_Static_assert(sizeof(struct acpi_madt_lapic) == 8, "MADT LAPIC size");
_Static_assert(sizeof(struct acpi_madt_ioapic) == 12, "MADT IOAPIC size");
_Static_assert(sizeof(struct acpi_madt_iso) == 10, "MADT ISO size");
_Static_assert(sizeof(struct acpi_madt_lapic_nmi) == 6, "MADT LAPIC NMI size");
_Static_assert(sizeof(struct acpi_madt_x2apic) == 16, "MADT x2APIC size");
_Static_assert(sizeof(struct acpi_madt_x2apic_nmi) == 12, "MADT x2APIC NMI size");
_Static_assert(sizeof(struct acpi_mcfg) == 44, "MCFG size");
_Static_assert(sizeof(struct acpi_mcfg_alloc) == 16, "MCFG allocation size");

#define ACPI_TABLE_ALIGN 16
#define ACPI_RSDP_V1_LEN 20
#define ACPI_RSDP_REVISION 2
#define ACPI_XSDT_REVISION 1
#define ACPI_DSDT_REVISION 2 /* 64-bit AML integers */
#define ACPI_OEM_REVISION 1
#define ACPI_CREATOR_REVISION 1
#define ACPI_MAX_XSDT_ENTRIES 4
#define ACPI_CHECKSUM_OFFSET 9 /* in the table header */
#define ACPI_XAPIC_MAX 0xff /* IDs and UIDs from here on need x2APIC entries */

/* The output area: @buf is guest RAM at @base, tables are carved from @off on. */
struct acpi_area {
	uint8_t *buf;
	size_t size;
	size_t off;
	uint64_t base;
};

static uint8_t acpi_sum(const uint8_t *p, size_t n)
{
	uint8_t sum = 0;

	while (n--)
		sum = (uint8_t)(sum + *p++);
	return sum;
}

/* Reserve @len bytes, 16-byte aligned; returns their offset in *@off. */
static int acpi_alloc(struct acpi_area *ar, size_t len, size_t *off)
{
	size_t o = ALIGN_UP(ar->off, (size_t)ACPI_TABLE_ALIGN);

	if (o > ar->size || len > ar->size - o)
		return -ENOSPC;
	*off = o;
	ar->off = o + len;
	return 0;
}

static uint64_t acpi_gpa(const struct acpi_area *ar, size_t off)
{
	return ar->base + off;
}

static void acpi_header(struct acpi_header *h, const char sig[4], size_t len, uint8_t rev)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->signature, sig, 4);
	h->length = (uint32_t)len;
	h->revision = rev;
	memcpy(h->oem_id, ACPI_OEM_ID, 6);
	memcpy(h->oem_table_id, "KVMR", 4);
	memcpy(h->oem_table_id + 4, sig, 4);
	h->oem_revision = ACPI_OEM_REVISION;
	memcpy(h->creator_id, ACPI_CREATOR_ID, 4);
	h->creator_revision = ACPI_CREATOR_REVISION;
}

/* Set the checksum of the table at @off, whose header already holds its length. */
static void acpi_checksum_table(struct acpi_area *ar, size_t off)
{
	struct acpi_header h;

	memcpy(&h, ar->buf + off, sizeof(h));
	ar->buf[off + ACPI_CHECKSUM_OFFSET] = 0;
	ar->buf[off + ACPI_CHECKSUM_OFFSET] = (uint8_t)-acpi_sum(ar->buf + off, h.length);
}

static bool acpi_cpu_is_x2apic(const struct acpi_config *cfg, unsigned int i)
{
	return cfg->apic_ids[i] >= ACPI_XAPIC_MAX || i >= ACPI_XAPIC_MAX;
}

static int acpi_check_config(const struct acpi_config *cfg)
{
	unsigned int i, j;

	if (!cfg || cfg->nr_cpus == 0 || cfg->nr_cpus > ACPI_MAX_CPUS || !cfg->apic_ids)
		return -EINVAL;
	for (i = 0; i < cfg->nr_cpus; i++) {
		if (cfg->apic_ids[i] == UINT32_MAX)
			return -EINVAL;
		for (j = 0; j < i; j++)
			if (cfg->apic_ids[j] == cfg->apic_ids[i])
				return -EINVAL;
	}
	return 0;
}

/* DSDT contents */

static void acpi_dsdt_cpus(struct aml *a, const struct acpi_config *cfg)
{
	static const char hex[] = "0123456789ABCDEF";
	char name[5] = "C000";
	unsigned int i;
	size_t dev;

	/* Processor devices; _UID matches the ACPI processor UID of the MADT entry. */
	for (i = 0; i < cfg->nr_cpus; i++) {
		name[1] = hex[(i >> 8) & 0xf];
		name[2] = hex[(i >> 4) & 0xf];
		name[3] = hex[i & 0xf];
		dev = aml_device(a, name);
		aml_name_string(a, "_HID", "ACPI0007");
		aml_name_integer(a, "_UID", i);
		aml_end(a, dev);
	}
}

static void acpi_dsdt_com1(struct aml *a)
{
	size_t dev, res;

	dev = aml_device(a, "COM1");
	aml_name_eisaid(a, "_HID", "PNP0501");
	aml_name_integer(a, "_UID", 1);
	aml_name(a, "_CRS");
	res = aml_restemplate(a);
	aml_res_io(a, PORT_COM1, PORT_COM1, 0, 8);
	aml_res_irq_noflags(a, PORT_COM1_IRQ);
	aml_restemplate_end(a, res);
	aml_end(a, dev);
}

static void acpi_dsdt_rtc(struct aml *a)
{
	size_t dev, res;

	dev = aml_device(a, "RTC");
	aml_name_eisaid(a, "_HID", "PNP0B00");
	aml_name(a, "_CRS");
	res = aml_restemplate(a);
	aml_res_io(a, PORT_RTC, PORT_RTC, 0, 2);
	aml_res_irq_noflags(a, PORT_RTC_IRQ);
	aml_restemplate_end(a, res);
	aml_end(a, dev);
}

static void acpi_dsdt_i8042(struct aml *a)
{
	size_t dev, res;

	dev = aml_device(a, "PS2K");
	aml_name_eisaid(a, "_HID", "PNP0303");
	aml_name(a, "_CRS");
	res = aml_restemplate(a);
	aml_res_io(a, PORT_I8042_DATA, PORT_I8042_DATA, 0, 1);
	aml_res_io(a, PORT_I8042_CMD, PORT_I8042_CMD, 0, 1);
	aml_res_irq_noflags(a, 1);
	aml_restemplate_end(a, res);
	aml_end(a, dev);
}

/* Linux's pvpanic-mmio driver binds to ACPI id QEMU0001 and maps its Memory32Fixed. */
static void acpi_dsdt_pvpanic(struct aml *a)
{
	size_t dev, res, method;

	dev = aml_device(a, "PEVT");
	aml_name_string(a, "_HID", "QEMU0001");
	aml_name(a, "_CRS");
	res = aml_restemplate(a);
	aml_res_memory32_fixed(a, true, (uint32_t)LAYOUT_PVPANIC_MMIO,
			       (uint32_t)LAYOUT_PVPANIC_SIZE);
	aml_restemplate_end(a, res);
	method = aml_method(a, "_STA", 0, false);
	aml_return(a);
	aml_integer(a, 0x0f); /* present, enabled, shown, functioning */
	aml_end(a, method);
	aml_end(a, dev);
}

/* The PCI root bridge of segment 0, bus 0, with the windows it forwards. */
static void acpi_dsdt_pci(struct aml *a, const struct acpi_config *cfg)
{
	size_t dev, res;

	dev = aml_device(a, "PCI0");
	aml_name_eisaid(a, "_HID", "PNP0A08");
	aml_name_eisaid(a, "_CID", "PNP0A03");
	aml_name_integer(a, "_SEG", 0);
	aml_name_integer(a, "_BBN", 0);
	aml_name_integer(a, "_UID", 0);
	aml_name(a, "_CRS");
	res = aml_restemplate(a);
	aml_res_word_bus(a, 0, 0);
	aml_res_io(a, PORT_PCI_CONFIG, PORT_PCI_CONFIG, 1, PORT_PCI_CONFIG_LEN);
	aml_res_word_io(a, LAYOUT_PCI_IO_MIN, LAYOUT_PCI_IO_MAX);
	aml_res_dword_memory(a, AML_MEM_NONCACHEABLE, true, (uint32_t)LAYOUT_PCI_MMIO32,
			     (uint32_t)(LAYOUT_PCI_MMIO32 + LAYOUT_PCI_MMIO32_SIZE - 1));
	if (cfg->pci_mmio64_size)
		aml_res_qword_memory(a, AML_MEM_NONCACHEABLE, true, cfg->pci_mmio64,
				     cfg->pci_mmio64 + cfg->pci_mmio64_size - 1);
	aml_restemplate_end(a, res);
	aml_end(a, dev);

	/* Motherboard resources: Linux takes the MCFG's ECAM only if it is reserved. */
	dev = aml_device(a, "PRES");
	aml_name_eisaid(a, "_HID", "PNP0C02");
	aml_name_integer(a, "_UID", 1);
	aml_name(a, "_CRS");
	res = aml_restemplate(a);
	aml_res_memory32_fixed(a, true, (uint32_t)LAYOUT_PCI_ECAM,
			       (uint32_t)LAYOUT_PCI_ECAM_BUS0_SIZE);
	aml_restemplate_end(a, res);
	aml_end(a, dev);
}

static int acpi_dsdt_aml(struct aml *a, const struct acpi_config *cfg)
{
	size_t sb, pkg;

	sb = aml_scope(a, "\\_SB_");
	acpi_dsdt_cpus(a, cfg);
	acpi_dsdt_com1(a);
	acpi_dsdt_rtc(a);
	acpi_dsdt_i8042(a);
	acpi_dsdt_pvpanic(a);
	if (cfg->pci)
		acpi_dsdt_pci(a, cfg);
	aml_end(a, sb);

	/* \_S5_: SLP_TYP for the sleep control register; the other fields are reserved. */
	aml_name(a, "\\_S5_");
	pkg = aml_package(a, 4);
	aml_integer(a, ACPI_S5_SLP_TYP);
	aml_integer(a, ACPI_S5_SLP_TYP);
	aml_integer(a, 0);
	aml_integer(a, 0);
	aml_end(a, pkg);
	return aml_error(a);
}

static int acpi_build_dsdt(struct acpi_area *ar, const struct acpi_config *cfg, size_t *off)
{
	struct acpi_header h;
	struct aml a;
	size_t len;
	int ret;

	aml_init(&a);
	ret = acpi_dsdt_aml(&a, cfg);
	if (ret)
		goto err_free;
	len = sizeof(h) + a.len;
	ret = acpi_alloc(ar, len, off);
	if (ret)
		goto err_free;
	acpi_header(&h, "DSDT", len, ACPI_DSDT_REVISION);
	memcpy(ar->buf + *off, &h, sizeof(h));
	memcpy(ar->buf + *off + sizeof(h), a.buf, a.len);
	acpi_checksum_table(ar, *off);
	aml_free(&a);
	return 0;

err_free:
	aml_free(&a);
	return ret;
}

static struct acpi_gas acpi_io_reg(uint16_t port)
{
	struct acpi_gas g = {
		.space_id = ACPI_GAS_SYSTEM_IO,
		.bit_width = 8,
		.bit_offset = 0,
		.access_size = ACPI_GAS_ACCESS_BYTE,
		.address = port,
	};

	return g;
}

static int acpi_build_fadt(struct acpi_area *ar, size_t dsdt_off, size_t *off)
{
	struct acpi_fadt f;
	uint64_t dsdt = acpi_gpa(ar, dsdt_off);
	int ret;

	ret = acpi_alloc(ar, sizeof(f), off);
	if (ret)
		return ret;
	memset(&f, 0, sizeof(f));
	acpi_header(&f.header, "FACP", sizeof(f), ACPI_FADT_REVISION);
	f.minor_revision = ACPI_FADT_MINOR_REVISION;
	/* No FACS: allowed when HW_REDUCED_ACPI is set and both pointers are zero. */
	f.dsdt = dsdt <= UINT32_MAX ? (uint32_t)dsdt : 0;
	f.x_dsdt = dsdt;
	/* Hardware-reduced: no SCI, SMI, PM1/PM2/PM timer/GPE blocks; all stay zero. */
	f.flags = ACPI_FADT_HW_REDUCED_ACPI | ACPI_FADT_RESET_REG_SUP | ACPI_FADT_PWR_BUTTON |
		  ACPI_FADT_SLP_BUTTON;
	f.iapc_boot_arch = ACPI_IAPC_8042 | ACPI_IAPC_VGA_NOT_PRESENT;
	f.reset_reg = acpi_io_reg(PORT_ACPI_RESET);
	f.reset_value = ACPI_RESET_VALUE;
	f.sleep_control_reg = acpi_io_reg(PORT_ACPI_SLEEP_CTL);
	f.sleep_status_reg = acpi_io_reg(PORT_ACPI_SLEEP_STS);
	memcpy(ar->buf + *off, &f, sizeof(f));
	acpi_checksum_table(ar, *off);
	return 0;
}

static size_t acpi_madt_len(const struct acpi_config *cfg, bool *x2apic)
{
	size_t len = sizeof(struct acpi_madt);
	unsigned int i;

	*x2apic = false;
	for (i = 0; i < cfg->nr_cpus; i++) {
		if (acpi_cpu_is_x2apic(cfg, i)) {
			len += sizeof(struct acpi_madt_x2apic);
			*x2apic = true;
		} else {
			len += sizeof(struct acpi_madt_lapic);
		}
	}
	len += sizeof(struct acpi_madt_ioapic) + sizeof(struct acpi_madt_iso) +
	       sizeof(struct acpi_madt_lapic_nmi);
	if (*x2apic)
		len += sizeof(struct acpi_madt_x2apic_nmi);
	return len;
}

static int acpi_build_madt(struct acpi_area *ar, const struct acpi_config *cfg, size_t *off)
{
	struct acpi_madt m;
	bool x2apic;
	size_t len = acpi_madt_len(cfg, &x2apic);
	uint8_t *p;
	unsigned int i;
	int ret;

	ret = acpi_alloc(ar, len, off);
	if (ret)
		return ret;
	p = ar->buf + *off;

	memset(&m, 0, sizeof(m));
	acpi_header(&m.header, "APIC", len, ACPI_MADT_REVISION);
	m.lapic_address = (uint32_t)LAYOUT_LAPIC;
	m.flags = 0; /* no PCAT_COMPAT: no dual 8259 */
	memcpy(p, &m, sizeof(m));
	p += sizeof(m);

	for (i = 0; i < cfg->nr_cpus; i++) {
		if (acpi_cpu_is_x2apic(cfg, i)) {
			struct acpi_madt_x2apic e = {
				.type = ACPI_MADT_X2APIC,
				.length = sizeof(e),
				.x2apic_id = cfg->apic_ids[i],
				.flags = ACPI_MADT_ENABLED,
				.uid = i,
			};

			memcpy(p, &e, sizeof(e));
			p += sizeof(e);
		} else {
			struct acpi_madt_lapic e = {
				.type = ACPI_MADT_LAPIC,
				.length = sizeof(e),
				.uid = (uint8_t)i,
				.apic_id = (uint8_t)cfg->apic_ids[i],
				.flags = ACPI_MADT_ENABLED,
			};

			memcpy(p, &e, sizeof(e));
			p += sizeof(e);
		}
	}

	{
		/* The IOAPIC id is bookkeeping for the guest: above the first CPUs' ids. */
		struct acpi_madt_ioapic io = {
			.type = ACPI_MADT_IOAPIC,
			.length = sizeof(io),
			.id = cfg->nr_cpus < 0xff ? (uint8_t)cfg->nr_cpus : 0,
			.address = (uint32_t)LAYOUT_IOAPIC,
			.gsi_base = 0,
		};
		/* The PIT's IRQ 0 is wired to IOAPIC pin 2, as on every PC. */
		struct acpi_madt_iso iso = {
			.type = ACPI_MADT_ISO,
			.length = sizeof(iso),
			.bus = 0,
			.source = 0,
			.gsi = 2,
			.flags = ACPI_MPS_ACTIVE_HIGH | ACPI_MPS_EDGE,
		};
		/* NMI arrives on LINT1 of every processor. */
		struct acpi_madt_lapic_nmi nmi = {
			.type = ACPI_MADT_LAPIC_NMI,
			.length = sizeof(nmi),
			.uid = 0xff,
			.flags = 0,
			.lint = 1,
		};

		memcpy(p, &io, sizeof(io));
		p += sizeof(io);
		memcpy(p, &iso, sizeof(iso));
		p += sizeof(iso);
		memcpy(p, &nmi, sizeof(nmi));
		p += sizeof(nmi);
	}
	if (x2apic) {
		struct acpi_madt_x2apic_nmi nmi = {
			.type = ACPI_MADT_X2APIC_NMI,
			.length = sizeof(nmi),
			.flags = 0,
			.uid = UINT32_MAX,
			.lint = 1,
		};

		memcpy(p, &nmi, sizeof(nmi));
	}
	acpi_checksum_table(ar, *off);
	return 0;
}

/* MCFG: the ECAM of bus 0 of segment 0. */
static int acpi_build_mcfg(struct acpi_area *ar, size_t *off)
{
	struct acpi_mcfg m;
	struct acpi_mcfg_alloc e = {
		.base = LAYOUT_PCI_ECAM,
		.segment = 0,
		.start_bus = 0,
		.end_bus = 0,
	};
	size_t len = sizeof(m) + sizeof(e);
	int ret;

	ret = acpi_alloc(ar, len, off);
	if (ret)
		return ret;
	memset(&m, 0, sizeof(m));
	acpi_header(&m.header, "MCFG", len, ACPI_MCFG_REVISION);
	memcpy(ar->buf + *off, &m, sizeof(m));
	memcpy(ar->buf + *off + sizeof(m), &e, sizeof(e));
	acpi_checksum_table(ar, *off);
	return 0;
}

static int acpi_build_xsdt(struct acpi_area *ar, const size_t *tables, unsigned int n,
			   size_t *off)
{
	struct acpi_header h;
	size_t len = sizeof(h) + (size_t)n * sizeof(uint64_t);
	unsigned int i;
	int ret;

	ret = acpi_alloc(ar, len, off);
	if (ret)
		return ret;
	acpi_header(&h, "XSDT", len, ACPI_XSDT_REVISION);
	memcpy(ar->buf + *off, &h, sizeof(h));
	for (i = 0; i < n; i++) {
		uint64_t gpa = acpi_gpa(ar, tables[i]);

		memcpy(ar->buf + *off + sizeof(h) + i * sizeof(gpa), &gpa, sizeof(gpa));
	}
	acpi_checksum_table(ar, *off);
	return 0;
}

static void acpi_build_rsdp(struct acpi_area *ar, size_t off, size_t xsdt_off)
{
	struct acpi_rsdp r;

	memset(&r, 0, sizeof(r));
	memcpy(r.signature, "RSD PTR ", 8);
	memcpy(r.oem_id, ACPI_OEM_ID, 6);
	r.revision = ACPI_RSDP_REVISION;
	r.rsdt_address = 0; /* XSDT only */
	r.length = sizeof(r);
	r.xsdt_address = acpi_gpa(ar, xsdt_off);
	r.checksum = (uint8_t)-acpi_sum((const uint8_t *)&r, ACPI_RSDP_V1_LEN);
	r.ext_checksum = (uint8_t)-acpi_sum((const uint8_t *)&r, sizeof(r));
	memcpy(ar->buf + off, &r, sizeof(r));
}

int acpi_build(uint8_t *buf, size_t size, uint64_t base_gpa, const struct acpi_config *cfg,
	       uint64_t *rsdp_gpa)
{
	struct acpi_area ar = { .buf = buf, .size = size, .off = 0, .base = base_gpa };
	size_t tables[ACPI_MAX_XSDT_ENTRIES];
	unsigned int n = 0;
	size_t rsdp, dsdt, xsdt;
	int ret;

	if (!buf || !rsdp_gpa || base_gpa > UINT64_MAX - size)
		return -EINVAL;
	ret = acpi_check_config(cfg);
	if (ret)
		return ret;
	memset(buf, 0, size);

	/* The RSDP first: the guest scans 0xe0000-0xfffff on 16-byte boundaries. */
	ret = acpi_alloc(&ar, sizeof(struct acpi_rsdp), &rsdp);
	if (ret)
		return ret;
	ret = acpi_build_dsdt(&ar, cfg, &dsdt);
	if (ret)
		return ret;
	ret = acpi_build_fadt(&ar, dsdt, &tables[n++]);
	if (ret)
		return ret;
	ret = acpi_build_madt(&ar, cfg, &tables[n++]);
	if (ret)
		return ret;
	if (cfg->pci) {
		ret = acpi_build_mcfg(&ar, &tables[n++]);
		if (ret)
			return ret;
	}
	ret = acpi_build_xsdt(&ar, tables, n, &xsdt);
	if (ret)
		return ret;
	acpi_build_rsdp(&ar, rsdp, xsdt);
	*rsdp_gpa = acpi_gpa(&ar, rsdp);
	return 0;
}
