// SPDX-License-Identifier: Apache-2.0
/*
 * The arm64 device tree (src/arch/arm64/fdt.c), on any host: built for a two-vCPU
 * machine, then read back with libfdt node by node, and by dtc when it is installed.
 */
#include <errno.h>
#include <libfdt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "arch/arm64/fdt.h"

#define DTB_SIZE 0x10000

static const uint64_t mpidr[2] = {0x80000000ULL, 0x80000001ULL};

static const struct dt_machine machine = {
    .ram = 0x40000000ULL,
    .ram_size = 0x10000000ULL,
    .nr_cpus = 2,
    .mpidr = mpidr,
    .gic_dist = 0x08000000ULL,
    .gic_dist_size = 0x10000,
    .gic_redist = 0x080a0000ULL,
    .gic_redist_size = 0x40000,
    .its = 0x08080000ULL,
    .its_size = 0x20000,
    .uart = 0x09000000ULL,
    .uart_size = 0x1000,
    .uart_spi = 1,
    .uart_clock = 1843200,
    .rtc = 0x09010000ULL,
    .rtc_size = 0x1000,
    .rtc_spi = 2,
    .pvpanic = 0x09020000ULL,
    .pvpanic_size = 2,
    .pci_ecam = 0x3f000000ULL,
    .pci_ecam_size = 0x100000,
    .pci_io = 0x3eff0000ULL,
    .pci_io_size = 0x10000,
    .pci_mmio32 = 0x10000000ULL,
    .pci_mmio32_size = 0x2eff0000ULL,
    .pci_mmio64 = 0x8000000000ULL,
    .pci_mmio64_size = 0x1000000000ULL,
    .bootargs = "console=ttyS0 quiet",
    .initrd = 0x4f000000ULL,
    .initrd_len = 0x123456,
};

static void *build(void)
{
	void *dtb = malloc(DTB_SIZE);

	assert_non_null(dtb);
	assert_int_equal(dt_build(dtb, DTB_SIZE, &machine), 0);
	assert_int_equal(fdt_check_header(dtb), 0);
	assert_true(fdt_totalsize(dtb) <= DTB_SIZE);
	return dtb;
}

static int node(const void *dtb, const char *path)
{
	int off = fdt_path_offset(dtb, path);

	if (off < 0)
		fail_msg("no node %s: %s", path, fdt_strerror(off));
	return off;
}

static const char *str(const void *dtb, int off, const char *name)
{
	const char *s = fdt_getprop(dtb, off, name, NULL);

	if (!s)
		fail_msg("no property %s", name);
	return s;
}

static uint64_t cell64(const void *dtb, int off, const char *name, int i)
{
	int len;
	const uint8_t *p = fdt_getprop(dtb, off, name, &len);
	fdt64_t v;

	assert_non_null(p);
	assert_true(len >= (i + 1) * 8);
	memcpy(&v, p + 8 * i, sizeof(v)); /* properties are 4-byte aligned only */
	return fdt64_to_cpu(v);
}

static uint32_t cell32(const void *dtb, int off, const char *name, int i)
{
	int len;
	const fdt32_t *p = fdt_getprop(dtb, off, name, &len);

	assert_non_null(p);
	assert_true(len >= (i + 1) * 4);
	return fdt32_to_cpu(p[i]);
}

static void test_memory_cpus_psci(void **state)
{
	void *dtb = build();
	int off;

	(void)state;
	off = node(dtb, "/memory@40000000");
	assert_string_equal(str(dtb, off, "device_type"), "memory");
	assert_int_equal(cell64(dtb, off, "reg", 0), 0x40000000ULL);
	assert_int_equal(cell64(dtb, off, "reg", 1), 0x10000000ULL);
	off = node(dtb, "/cpus/cpu@0");
	assert_string_equal(str(dtb, off, "enable-method"), "psci");
	assert_int_equal(cell64(dtb, off, "reg", 0), 0); /* affinity only: bit 31 dropped */
	off = node(dtb, "/cpus/cpu@1");
	assert_int_equal(cell64(dtb, off, "reg", 0), 1);
	off = node(dtb, "/psci");
	assert_int_equal(fdt_node_check_compatible(dtb, off, "arm,psci-0.2"), 0);
	assert_string_equal(str(dtb, off, "method"), "hvc");
	free(dtb);
}

static void test_gic_timer(void **state)
{
	void *dtb = build();
	int off, its;

	(void)state;
	off = node(dtb, "/interrupt-controller@8000000");
	assert_int_equal(fdt_node_check_compatible(dtb, off, "arm,gic-v3"), 0);
	assert_int_equal(cell32(dtb, off, "#interrupt-cells", 0), 3);
	assert_non_null(fdt_getprop(dtb, off, "interrupt-controller", NULL));
	assert_int_equal(cell64(dtb, off, "reg", 2), 0x080a0000ULL);
	assert_int_equal(cell64(dtb, off, "reg", 3), 0x40000);
	assert_int_equal(fdt_get_phandle(dtb, off), cell32(dtb, 0, "interrupt-parent", 0));
	its = node(dtb, "/interrupt-controller@8000000/msi-controller@8080000");
	assert_int_equal(fdt_node_check_compatible(dtb, its, "arm,gic-v3-its"), 0);
	assert_non_null(fdt_getprop(dtb, its, "msi-controller", NULL));
	off = node(dtb, "/timer");
	assert_int_equal(fdt_node_check_compatible(dtb, off, "arm,armv8-timer"), 0);
	/* the four PPIs: secure, non-secure physical, virtual, hypervisor */
	assert_int_equal(cell32(dtb, off, "interrupts", 1), 13);
	assert_int_equal(cell32(dtb, off, "interrupts", 4), 14);
	assert_int_equal(cell32(dtb, off, "interrupts", 7), 11);
	assert_int_equal(cell32(dtb, off, "interrupts", 10), 10);
	free(dtb);
}

static void test_uart_rtc_pci(void **state)
{
	void *dtb = build();
	int off, clk, its;

	(void)state;
	off = node(dtb, "/uart@9000000");
	assert_int_equal(fdt_node_check_compatible(dtb, off, "ns16550a"), 0);
	assert_int_equal(cell32(dtb, off, "interrupts", 0), 0); /* SPI */
	assert_int_equal(cell32(dtb, off, "interrupts", 1), 1);
	assert_int_equal(cell32(dtb, off, "clock-frequency", 0), 1843200);
	off = node(dtb, "/rtc@9010000");
	assert_int_equal(fdt_node_check_compatible(dtb, off, "arm,pl031"), 0);
	assert_int_equal(fdt_node_check_compatible(dtb, off, "arm,primecell"), 0);
	assert_string_equal(str(dtb, off, "clock-names"), "apb_pclk");
	clk = fdt_node_offset_by_phandle(dtb, cell32(dtb, off, "clocks", 0));
	assert_true(clk >= 0);
	assert_int_equal(fdt_node_check_compatible(dtb, clk, "fixed-clock"), 0);
	off = node(dtb, "/pvpanic@9020000");
	assert_int_equal(fdt_node_check_compatible(dtb, off, "qemu,pvpanic-mmio"), 0);
	assert_int_equal(cell64(dtb, off, "reg", 0), 0x09020000ULL);
	assert_int_equal(cell64(dtb, off, "reg", 1), 2);
	off = node(dtb, "/pcie@3f000000");
	assert_int_equal(fdt_node_check_compatible(dtb, off, "pci-host-ecam-generic"), 0);
	assert_string_equal(str(dtb, off, "device_type"), "pci");
	assert_int_equal(cell32(dtb, off, "bus-range", 1), 0);
	assert_int_equal(cell64(dtb, off, "reg", 1), 0x100000);
	assert_non_null(fdt_getprop(dtb, off, "dma-coherent", NULL));
	/* ranges: ports from 0 at 0x3eff0000, then 32-bit and 64-bit memory, identity maps */
	assert_int_equal(cell32(dtb, off, "ranges", 0), 0x01000000);
	assert_int_equal(cell32(dtb, off, "ranges", 2), 0);
	assert_int_equal(cell32(dtb, off, "ranges", 4), 0x3eff0000);
	assert_int_equal(cell32(dtb, off, "ranges", 6), 0x10000);
	assert_int_equal(cell32(dtb, off, "ranges", 7), 0x02000000);
	assert_int_equal(cell32(dtb, off, "ranges", 9), 0x10000000);
	assert_int_equal(cell32(dtb, off, "ranges", 14), 0x03000000);
	assert_int_equal(cell32(dtb, off, "ranges", 15), 0x80);
	assert_int_equal(cell32(dtb, off, "ranges", 19), 0x10);
	/* msi-map: every requester ID to the ITS, ID for ID */
	its = node(dtb, "/interrupt-controller@8000000/msi-controller@8080000");
	assert_int_equal(cell32(dtb, off, "msi-map", 1), fdt_get_phandle(dtb, its));
	assert_int_equal(cell32(dtb, off, "msi-map", 3), 0x10000);
	free(dtb);
}

/* Where KVM has no GICv3: a GICv2 and its GICv2m frame, which the PCI root's MSIs use. */
static void test_gic_v2(void **state)
{
	struct dt_machine m = machine;
	void *dtb = malloc(DTB_SIZE);
	int off, v2m, pci;

	(void)state;
	assert_non_null(dtb);
	m.gic_v2 = true;
	m.gic_dist_size = 0x1000;
	m.gic_redist = m.gic_redist_size = m.its = m.its_size = 0;
	m.gic_cpu = 0x08010000ULL;
	m.gic_cpu_size = 0x2000;
	m.v2m = 0x08020000ULL;
	m.v2m_size = 0x1000;
	m.v2m_first = 64;
	m.v2m_count = 192;
	assert_int_equal(dt_build(dtb, DTB_SIZE, &m), 0);
	off = node(dtb, "/interrupt-controller@8000000");
	assert_int_equal(fdt_node_check_compatible(dtb, off, "arm,cortex-a15-gic"), 0);
	assert_int_not_equal(fdt_node_check_compatible(dtb, off, "arm,gic-v3"), 0);
	assert_int_equal(cell32(dtb, off, "#interrupt-cells", 0), 3);
	assert_non_null(fdt_getprop(dtb, off, "interrupt-controller", NULL));
	assert_int_equal(cell64(dtb, off, "reg", 0), 0x08000000ULL);
	assert_int_equal(cell64(dtb, off, "reg", 1), 0x1000);
	assert_int_equal(cell64(dtb, off, "reg", 2), 0x08010000ULL);
	assert_int_equal(cell64(dtb, off, "reg", 3), 0x2000);
	assert_int_equal(fdt_get_phandle(dtb, off), cell32(dtb, 0, "interrupt-parent", 0));
	assert_true(fdt_path_offset(dtb, "/interrupt-controller@8000000/msi-controller@8080000") <
		    0);
	v2m = node(dtb, "/interrupt-controller@8000000/v2m@8020000");
	assert_int_equal(fdt_node_check_compatible(dtb, v2m, "arm,gic-v2m-frame"), 0);
	assert_non_null(fdt_getprop(dtb, v2m, "msi-controller", NULL));
	assert_int_equal(cell64(dtb, v2m, "reg", 0), 0x08020000ULL);
	assert_int_equal(cell64(dtb, v2m, "reg", 1), 0x1000);
	assert_int_equal(cell32(dtb, v2m, "arm,msi-base-spi", 0), 64);
	assert_int_equal(cell32(dtb, v2m, "arm,msi-num-spis", 0), 192);
	pci = node(dtb, "/pcie@3f000000");
	assert_int_equal(cell32(dtb, pci, "msi-parent", 0), fdt_get_phandle(dtb, v2m));
	assert_null(fdt_getprop(dtb, pci, "msi-map", NULL));
	free(dtb);
}

static void test_chosen(void **state)
{
	void *dtb = build();
	int off;

	(void)state;
	off = node(dtb, "/chosen");
	assert_string_equal(str(dtb, off, "bootargs"), "console=ttyS0 quiet");
	assert_string_equal(str(dtb, off, "stdout-path"), "/uart@9000000");
	assert_int_equal(cell64(dtb, off, "linux,initrd-start", 0), 0x4f000000ULL);
	assert_int_equal(cell64(dtb, off, "linux,initrd-end", 0), 0x4f000000ULL + 0x123456);
	free(dtb);
}

static void test_too_small(void **state)
{
	uint8_t buf[256];

	(void)state;
	assert_int_equal(dt_build(buf, sizeof(buf), &machine), -ENOSPC);
}

/* dtc reads the blob back (skipped where dtc is not installed). */
static void test_dtc(void **state)
{
	char path[] = "/tmp/kvmrun-dtb-XXXXXX", cmd[256];
	void *dtb;
	FILE *f;
	int fd;

	(void)state;
	if (system("command -v dtc >/dev/null 2>&1")) {
		skip();
		return;
	}
	dtb = build();
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, dtb, fdt_totalsize(dtb)), (ssize_t)fdt_totalsize(dtb));
	close(fd);
	snprintf(cmd, sizeof(cmd), "dtc -q -I dtb -O dts %s 2>&1", path);
	f = popen(cmd, "r");
	assert_non_null(f);
	{
		char line[512];
		bool seen = false;

		while (fgets(line, sizeof(line), f))
			seen |= strstr(line, "pci-host-ecam-generic") != NULL;
		assert_int_equal(pclose(f), 0);
		assert_true(seen);
	}
	unlink(path);
	free(dtb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_memory_cpus_psci),
	    cmocka_unit_test(test_gic_timer),
	    cmocka_unit_test(test_uart_rtc_pci),
	    cmocka_unit_test(test_gic_v2),
	    cmocka_unit_test(test_chosen),
	    cmocka_unit_test(test_too_small),
	    cmocka_unit_test(test_dtc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
