// SPDX-License-Identifier: Apache-2.0
/*
 * The device tree of the arm64 machine, written with libfdt's sequential writer:
 * memory, cpus (PSCI), the GICv3 and its ITS (or a GICv2 and a GICv2m frame), the
 * architected timer, the UART, the PL031 RTC, pvpanic, the generic ECAM PCI host and
 * /chosen.
 */
#include <errno.h>
#include <libfdt.h>
#include <stdio.h>

#include "arch/arm64/fdt.h"

/* Interrupt specifier cells of the GIC binding. */
#define DT_GIC_SPI 0
#define DT_GIC_PPI 1
#define DT_IRQ_EDGE_RISING 1
#define DT_IRQ_LEVEL_HIGH 4
/* Phandles. */
#define DT_PH_GIC 1
#define DT_PH_ITS 2
#define DT_PH_APB_CLK 3

/* Adds a property of 64-bit address/size pairs (#address-cells = #size-cells = 2). */
static int dt_reg(void *fdt, const char *name, const uint64_t *v, unsigned int n)
{
	fdt64_t cells[8];

	if (n > 8)
		return -FDT_ERR_INTERNAL;
	for (unsigned int i = 0; i < n; i++)
		cells[i] = cpu_to_fdt64(v[i]);
	return fdt_property(fdt, name, cells, n * sizeof(cells[0]));
}

static int dt_cells(void *fdt, const char *name, const uint32_t *v, unsigned int n)
{
	fdt32_t cells[32];

	if (n > 32)
		return -FDT_ERR_INTERNAL;
	for (unsigned int i = 0; i < n; i++)
		cells[i] = cpu_to_fdt32(v[i]);
	return fdt_property(fdt, name, cells, n * sizeof(cells[0]));
}

/* Nodes and properties below stop at the first error: each helper returns libfdt's. */
#define DT_TRY(x)                                                                                  \
	do {                                                                                       \
		int r_ = (x);                                                                      \
		if (r_)                                                                            \
			return r_;                                                                 \
	} while (0)

static int dt_begin(void *fdt, const char *name, uint64_t addr)
{
	char node[64];

	snprintf(node, sizeof(node), "%s@%llx", name, (unsigned long long)addr);
	return fdt_begin_node(fdt, node);
}

static int dt_cpus(void *fdt, const struct dt_machine *m)
{
	DT_TRY(fdt_begin_node(fdt, "cpus"));
	DT_TRY(fdt_property_u32(fdt, "#address-cells", 2));
	DT_TRY(fdt_property_u32(fdt, "#size-cells", 0));
	for (unsigned int i = 0; i < m->nr_cpus; i++) {
		uint64_t mpidr = m->mpidr[i] & 0xff00ffffffULL; /* the affinity fields */

		DT_TRY(dt_begin(fdt, "cpu", mpidr));
		DT_TRY(fdt_property_string(fdt, "device_type", "cpu"));
		DT_TRY(fdt_property_string(fdt, "compatible", "arm,armv8"));
		DT_TRY(fdt_property_string(fdt, "enable-method", "psci"));
		DT_TRY(fdt_property_u64(fdt, "reg", mpidr));
		DT_TRY(fdt_end_node(fdt));
	}
	return fdt_end_node(fdt);
}

static int dt_psci(void *fdt)
{
	static const char compat[] = "arm,psci-1.0\0arm,psci-0.2";

	DT_TRY(fdt_begin_node(fdt, "psci"));
	DT_TRY(fdt_property(fdt, "compatible", compat, sizeof(compat)));
	DT_TRY(fdt_property_string(fdt, "method", "hvc"));
	return fdt_end_node(fdt);
}

/*
 * The GIC's node, left open for its MSI frame: what GICv2 and GICv3 share, @reg the
 * distributor's and the CPU interface's (v2) or redistributors' (v3) ranges.
 */
static int dt_gic_begin(void *fdt, const struct dt_machine *m, const char *compatible,
			const uint64_t reg[4])
{
	DT_TRY(dt_begin(fdt, "interrupt-controller", m->gic_dist));
	DT_TRY(fdt_property_string(fdt, "compatible", compatible));
	DT_TRY(fdt_property(fdt, "interrupt-controller", NULL, 0));
	DT_TRY(fdt_property_u32(fdt, "#interrupt-cells", 3));
	DT_TRY(fdt_property_u32(fdt, "#address-cells", 2));
	DT_TRY(fdt_property_u32(fdt, "#size-cells", 2));
	DT_TRY(fdt_property(fdt, "ranges", NULL, 0));
	DT_TRY(dt_reg(fdt, "reg", reg, 4));
	return fdt_property_u32(fdt, "phandle", DT_PH_GIC);
}

/* The GICv2 and its GICv2m MSI frame. */
static int dt_gic_v2(void *fdt, const struct dt_machine *m)
{
	const uint64_t reg[] = {m->gic_dist, m->gic_dist_size, m->gic_cpu, m->gic_cpu_size};

	DT_TRY(dt_gic_begin(fdt, m, "arm,cortex-a15-gic", reg));
	if (m->v2m_size) {
		const uint64_t v2m[] = {m->v2m, m->v2m_size};

		DT_TRY(dt_begin(fdt, "v2m", m->v2m));
		DT_TRY(fdt_property_string(fdt, "compatible", "arm,gic-v2m-frame"));
		DT_TRY(fdt_property(fdt, "msi-controller", NULL, 0));
		DT_TRY(dt_reg(fdt, "reg", v2m, 2));
		DT_TRY(fdt_property_u32(fdt, "arm,msi-base-spi", m->v2m_first));
		DT_TRY(fdt_property_u32(fdt, "arm,msi-num-spis", m->v2m_count));
		DT_TRY(fdt_property_u32(fdt, "phandle", DT_PH_ITS));
		DT_TRY(fdt_end_node(fdt));
	}
	return fdt_end_node(fdt);
}

static int dt_gic(void *fdt, const struct dt_machine *m)
{
	const uint64_t reg[] = {m->gic_dist, m->gic_dist_size, m->gic_redist, m->gic_redist_size};

	DT_TRY(dt_gic_begin(fdt, m, "arm,gic-v3", reg));
	if (m->its_size) {
		const uint64_t its[] = {m->its, m->its_size};

		DT_TRY(dt_begin(fdt, "msi-controller", m->its));
		DT_TRY(fdt_property_string(fdt, "compatible", "arm,gic-v3-its"));
		DT_TRY(fdt_property(fdt, "msi-controller", NULL, 0));
		DT_TRY(fdt_property_u32(fdt, "#msi-cells", 1));
		DT_TRY(dt_reg(fdt, "reg", its, 2));
		DT_TRY(fdt_property_u32(fdt, "phandle", DT_PH_ITS));
		DT_TRY(fdt_end_node(fdt));
	}
	return fdt_end_node(fdt);
}

static int dt_timer(void *fdt)
{
	const uint32_t irqs[] = {
	    DT_GIC_PPI, 13, DT_IRQ_LEVEL_HIGH, /* secure physical */
	    DT_GIC_PPI, 14, DT_IRQ_LEVEL_HIGH, /* non-secure physical */
	    DT_GIC_PPI, 11, DT_IRQ_LEVEL_HIGH, /* virtual */
	    DT_GIC_PPI, 10, DT_IRQ_LEVEL_HIGH, /* hypervisor */
	};
	static const char compat[] = "arm,armv8-timer\0arm,armv7-timer";

	DT_TRY(fdt_begin_node(fdt, "timer"));
	DT_TRY(fdt_property(fdt, "compatible", compat, sizeof(compat)));
	DT_TRY(dt_cells(fdt, "interrupts", irqs, ARRAY_SIZE(irqs)));
	DT_TRY(fdt_property(fdt, "always-on", NULL, 0));
	return fdt_end_node(fdt);
}

static int dt_uart(void *fdt, const struct dt_machine *m)
{
	const uint64_t reg[] = {m->uart, m->uart_size};
	const uint32_t irq[] = {DT_GIC_SPI, m->uart_spi, DT_IRQ_LEVEL_HIGH};

	DT_TRY(dt_begin(fdt, "uart", m->uart));
	DT_TRY(fdt_property_string(fdt, "compatible", "ns16550a"));
	DT_TRY(dt_reg(fdt, "reg", reg, 2));
	DT_TRY(dt_cells(fdt, "interrupts", irq, 3));
	DT_TRY(fdt_property_u32(fdt, "clock-frequency", m->uart_clock));
	return fdt_end_node(fdt);
}

static int dt_rtc(void *fdt, const struct dt_machine *m)
{
	static const char compat[] = "arm,pl031\0arm,primecell";
	const uint64_t reg[] = {m->rtc, m->rtc_size};
	const uint32_t irq[] = {DT_GIC_SPI, m->rtc_spi, DT_IRQ_LEVEL_HIGH};

	DT_TRY(fdt_begin_node(fdt, "apb-pclk"));
	DT_TRY(fdt_property_string(fdt, "compatible", "fixed-clock"));
	DT_TRY(fdt_property_u32(fdt, "#clock-cells", 0));
	DT_TRY(fdt_property_u32(fdt, "clock-frequency", 24000000));
	DT_TRY(fdt_property_string(fdt, "clock-output-names", "clk24mhz"));
	DT_TRY(fdt_property_u32(fdt, "phandle", DT_PH_APB_CLK));
	DT_TRY(fdt_end_node(fdt));

	DT_TRY(dt_begin(fdt, "rtc", m->rtc));
	DT_TRY(fdt_property(fdt, "compatible", compat, sizeof(compat)));
	DT_TRY(dt_reg(fdt, "reg", reg, 2));
	DT_TRY(dt_cells(fdt, "interrupts", irq, 3));
	DT_TRY(fdt_property_u32(fdt, "clocks", DT_PH_APB_CLK));
	DT_TRY(fdt_property_string(fdt, "clock-names", "apb_pclk"));
	return fdt_end_node(fdt);
}

/* QEMU's pvpanic-mmio binding: Linux's pvpanic-mmio driver writes a guest panic there. */
static int dt_pvpanic(void *fdt, const struct dt_machine *m)
{
	const uint64_t reg[] = {m->pvpanic, m->pvpanic_size};

	DT_TRY(dt_begin(fdt, "pvpanic", m->pvpanic));
	DT_TRY(fdt_property_string(fdt, "compatible", "qemu,pvpanic-mmio"));
	DT_TRY(dt_reg(fdt, "reg", reg, 2));
	return fdt_end_node(fdt);
}

/* The ranges' first cell: space code 1 (I/O), 2 (32-bit memory) or 3 (64-bit memory). */
#define DT_PCI_IO 0x01000000U
#define DT_PCI_MEM32 0x02000000U
#define DT_PCI_MEM64 0x03000000U

static int dt_pci(void *fdt, const struct dt_machine *m)
{
	const uint64_t reg[] = {m->pci_ecam, m->pci_ecam_size};
	const uint32_t bus_range[] = {0, (uint32_t)(m->pci_ecam_size >> 20) - 1};
	uint32_t ranges[21];
	unsigned int n = 0;

	/*
	 * (space, pci address hi lo) (cpu address hi lo) (size hi lo): ports from 0 at
	 * pci_io, memory at the same addresses on both sides.
	 */
	if (m->pci_io_size) {
		const uint32_t r[] = {DT_PCI_IO,
				      0,
				      0,
				      (uint32_t)(m->pci_io >> 32),
				      (uint32_t)m->pci_io,
				      0,
				      (uint32_t)m->pci_io_size};

		for (unsigned int i = 0; i < 7; i++)
			ranges[n++] = r[i];
	}
	if (m->pci_mmio32_size) {
		const uint32_t r[] = {DT_PCI_MEM32,
				      0,
				      (uint32_t)m->pci_mmio32,
				      0,
				      (uint32_t)m->pci_mmio32,
				      0,
				      (uint32_t)m->pci_mmio32_size};

		for (unsigned int i = 0; i < 7; i++)
			ranges[n++] = r[i];
	}
	if (m->pci_mmio64_size) {
		const uint32_t r[] = {DT_PCI_MEM64,
				      (uint32_t)(m->pci_mmio64 >> 32),
				      (uint32_t)m->pci_mmio64,
				      (uint32_t)(m->pci_mmio64 >> 32),
				      (uint32_t)m->pci_mmio64,
				      (uint32_t)(m->pci_mmio64_size >> 32),
				      (uint32_t)m->pci_mmio64_size};

		for (unsigned int i = 0; i < 7; i++)
			ranges[n++] = r[i];
	}
	DT_TRY(dt_begin(fdt, "pcie", m->pci_ecam));
	DT_TRY(fdt_property_string(fdt, "compatible", "pci-host-ecam-generic"));
	DT_TRY(fdt_property_string(fdt, "device_type", "pci"));
	DT_TRY(fdt_property_u32(fdt, "#address-cells", 3));
	DT_TRY(fdt_property_u32(fdt, "#size-cells", 2));
	DT_TRY(fdt_property_u32(fdt, "#interrupt-cells", 1));
	DT_TRY(dt_cells(fdt, "bus-range", bus_range, 2));
	DT_TRY(dt_reg(fdt, "reg", reg, 2));
	DT_TRY(dt_cells(fdt, "ranges", ranges, n));
	DT_TRY(fdt_property(fdt, "dma-coherent", NULL, 0));
	if (m->gic_v2 && m->v2m_size) {
		DT_TRY(fdt_property_u32(fdt, "msi-parent", DT_PH_ITS));
	} else if (!m->gic_v2 && m->its_size) {
		/* requester ID (bus, device, function) = the ITS's device ID */
		const uint32_t map[] = {0, DT_PH_ITS, 0, 0x10000};

		DT_TRY(dt_cells(fdt, "msi-map", map, 4));
	}
	return fdt_end_node(fdt);
}

static int dt_chosen(void *fdt, const struct dt_machine *m, const char *stdout_path)
{
	DT_TRY(fdt_begin_node(fdt, "chosen"));
	DT_TRY(fdt_property_string(fdt, "bootargs", m->bootargs ? m->bootargs : ""));
	DT_TRY(fdt_property_string(fdt, "stdout-path", stdout_path));
	/* kvmrun places the PCI BARs; the guest keeps them where they are. */
	DT_TRY(fdt_property_u32(fdt, "linux,pci-probe-only", 1));
	if (m->initrd_len) {
		DT_TRY(fdt_property_u64(fdt, "linux,initrd-start", m->initrd));
		DT_TRY(fdt_property_u64(fdt, "linux,initrd-end", m->initrd + m->initrd_len));
	}
	return fdt_end_node(fdt);
}

static int dt_tree(void *fdt, const struct dt_machine *m)
{
	const uint64_t mem[] = {m->ram, m->ram_size};
	char stdout_path[64];

	snprintf(stdout_path, sizeof(stdout_path), "/uart@%llx", (unsigned long long)m->uart);
	DT_TRY(fdt_finish_reservemap(fdt));
	DT_TRY(fdt_begin_node(fdt, ""));
	DT_TRY(fdt_property_string(fdt, "compatible", "linux,dummy-virt"));
	DT_TRY(fdt_property_u32(fdt, "#address-cells", 2));
	DT_TRY(fdt_property_u32(fdt, "#size-cells", 2));
	DT_TRY(fdt_property_u32(fdt, "interrupt-parent", DT_PH_GIC));
	DT_TRY(dt_chosen(fdt, m, stdout_path));
	DT_TRY(dt_begin(fdt, "memory", m->ram));
	DT_TRY(fdt_property_string(fdt, "device_type", "memory"));
	DT_TRY(dt_reg(fdt, "reg", mem, 2));
	DT_TRY(fdt_end_node(fdt));
	DT_TRY(dt_cpus(fdt, m));
	DT_TRY(dt_psci(fdt));
	DT_TRY(m->gic_v2 ? dt_gic_v2(fdt, m) : dt_gic(fdt, m));
	DT_TRY(dt_timer(fdt));
	DT_TRY(dt_uart(fdt, m));
	DT_TRY(dt_rtc(fdt, m));
	if (m->pvpanic_size)
		DT_TRY(dt_pvpanic(fdt, m));
	DT_TRY(dt_pci(fdt, m));
	DT_TRY(fdt_end_node(fdt));
	return fdt_finish(fdt);
}

int dt_build(void *buf, size_t size, const struct dt_machine *m)
{
	int ret;

	if (!m->nr_cpus || !m->mpidr || size > INT32_MAX)
		return -EINVAL;
	ret = fdt_create(buf, (int)size);
	if (!ret)
		ret = dt_tree(buf, m);
	if (ret == -FDT_ERR_NOSPACE)
		return -ENOSPC;
	if (!ret)
		ret = fdt_pack(buf);
	return ret ? -EINVAL : 0;
}
