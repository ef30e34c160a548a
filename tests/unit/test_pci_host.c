// SPDX-License-Identifier: Apache-2.0
/*
 * The PCI host bridge through the buses: configuration mechanism #1 (0xcf8/0xcfc)
 * and the ECAM window reach the same config space; 00.0 is the host bridge, every
 * other slot is empty; odd widths and offsets read all ones and write nothing.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86_64/layout.h"
#include "kvmrun/bus.h"
#include "pci.h"

#define ECAM LAYOUT_PCI_ECAM
#define CFG_ADDR PORT_PCI_CONFIG
#define CFG_DATA (PORT_PCI_CONFIG + 4)

struct fixture {
	struct bus pio;
	struct bus mmio;
	struct device *devs;
	struct pci_host *host;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct pci_host_windows win = { .ecam = ECAM };

	if (!f)
		return -1;
	bus_init(&f->pio, "pio");
	bus_init(&f->mmio, "mmio");
	if (pci_host_create(&f->devs, &f->host, &f->pio, &f->mmio, PORT_PCI_CONFIG, &win))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	devices_destroy(&f->devs);
	assert_null(f->devs);
	free(f);
	return 0;
}

static uint64_t rd(struct bus *b, uint64_t addr, uint32_t len)
{
	uint64_t v = 0;

	assert_int_equal(bus_access(b, addr, (uint8_t *)&v, len, false), 0);
	return v;
}

static void wr(struct bus *b, uint64_t addr, uint32_t len, uint64_t v)
{
	assert_int_equal(bus_access(b, addr, (uint8_t *)&v, len, true), 0);
}

static uint32_t cf8(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int reg)
{
	return 0x80000000U | bus << 16 | dev << 11 | fn << 8 | (reg & 0xfc);
}

/* Config read through 0xcf8/0xcfc. */
static uint32_t cfg_pio(struct fixture *f, unsigned int dev, unsigned int fn, unsigned int reg,
			uint32_t len)
{
	wr(&f->pio, CFG_ADDR, 4, cf8(0, dev, fn, reg));
	return (uint32_t)rd(&f->pio, CFG_DATA + (reg & 3), len);
}

static uint64_t ecam_addr(unsigned int dev, unsigned int fn, unsigned int reg)
{
	return ECAM + ((uint64_t)dev << 15 | fn << 12 | reg);
}

static uint32_t cfg_ecam(struct fixture *f, unsigned int dev, unsigned int fn,
			 unsigned int reg, uint32_t len)
{
	return (uint32_t)rd(&f->mmio, ecam_addr(dev, fn, reg), len);
}

static void test_host_bridge(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(cfg_pio(f, 0, 0, 0x00, 4), 0x00081b36);
	assert_int_equal(cfg_pio(f, 0, 0, 0x00, 2), 0x1b36);
	assert_int_equal(cfg_pio(f, 0, 0, 0x02, 2), 0x0008);
	assert_int_equal(cfg_pio(f, 0, 0, 0x08, 4) >> 8, 0x060000);
	assert_int_equal(cfg_pio(f, 0, 0, 0x0b, 1), 0x06);
	assert_int_equal(cfg_pio(f, 0, 0, 0x0a, 1), 0x00);
	assert_int_equal(cfg_pio(f, 0, 0, 0x0e, 1), 0x00); /* header type 0 */
	assert_int_equal(cfg_ecam(f, 0, 0, 0x00, 4), 0x00081b36);
	assert_int_equal(cfg_ecam(f, 0, 0, 0x08, 4) >> 8, 0x060000);
	assert_int_equal(cfg_ecam(f, 0, 0, 0x0e, 1), 0x00);
	/* The address register reads back what was written (enable, bus, dev, fn, reg). */
	wr(&f->pio, CFG_ADDR, 4, 0x80000000U);
	assert_int_equal(rd(&f->pio, CFG_ADDR, 4), 0x80000000U);
	wr(&f->pio, CFG_ADDR, 4, cf8(1, 2, 3, 0x40));
	assert_int_equal(rd(&f->pio, CFG_ADDR, 4), cf8(1, 2, 3, 0x40));
	/* Extended space of 00.0 (ECAM only): no capabilities. */
	assert_int_equal(cfg_ecam(f, 0, 0, 0x100, 4), 0);
	assert_int_equal(cfg_ecam(f, 0, 0, 0xffc, 4), 0);
}

static void test_paths_agree(void **state)
{
	struct fixture *f = *state;
	unsigned int reg;

	for (reg = 0; reg < 256; reg += 4)
		assert_int_equal(cfg_pio(f, 0, 0, reg, 4), cfg_ecam(f, 0, 0, reg, 4));
	for (reg = 0; reg < 256; reg++)
		assert_int_equal(cfg_pio(f, 0, 0, reg, 1), cfg_ecam(f, 0, 0, reg, 1));
	for (reg = 0; reg < 256; reg += 2)
		assert_int_equal(cfg_pio(f, 0, 0, reg, 2), cfg_ecam(f, 0, 0, reg, 2));

	/* A write through one path shows through the other. */
	wr(&f->pio, CFG_ADDR, 4, cf8(0, 0, 0, 0x04));
	wr(&f->pio, CFG_DATA, 2, 0x0006); /* memory + bus master */
	assert_int_equal(cfg_ecam(f, 0, 0, 0x04, 2), 0x0006);
	wr(&f->mmio, ecam_addr(0, 0, 0x0c), 1, 0x10);
	assert_int_equal(cfg_pio(f, 0, 0, 0x0c, 1), 0x10);
	wr(&f->mmio, ecam_addr(0, 0, 0x3c), 1, 0x0b);
	assert_int_equal(cfg_pio(f, 0, 0, 0x3c, 1), 0x0b);
	/* Byte writes at 0xcfd..0xcff hit the right register byte. */
	wr(&f->pio, CFG_ADDR, 4, cf8(0, 0, 0, 0x0c));
	wr(&f->pio, CFG_DATA + 1, 1, 0x40); /* latency timer, 0x0d */
	assert_int_equal(cfg_ecam(f, 0, 0, 0x0d, 1), 0x40);
	assert_int_equal(cfg_ecam(f, 0, 0, 0x0c, 2), 0x4010);
}

static void test_read_only(void **state)
{
	struct fixture *f = *state;

	wr(&f->pio, CFG_ADDR, 4, cf8(0, 0, 0, 0x00));
	wr(&f->pio, CFG_DATA, 4, 0x12345678);
	wr(&f->mmio, ecam_addr(0, 0, 0x08), 4, 0xffffffff);
	wr(&f->mmio, ecam_addr(0, 0, 0x0e), 1, 0x80);
	wr(&f->mmio, ecam_addr(0, 0, 0x100), 4, 0xffffffff);
	assert_int_equal(cfg_ecam(f, 0, 0, 0x00, 4), 0x00081b36);
	assert_int_equal(cfg_pio(f, 0, 0, 0x08, 4), 0x06000000);
	assert_int_equal(cfg_pio(f, 0, 0, 0x0e, 1), 0x00);
	assert_int_equal(cfg_ecam(f, 0, 0, 0x100, 4), 0);
	/* Only the command bits that exist stick. */
	wr(&f->mmio, ecam_addr(0, 0, 0x04), 4, 0xffffffff);
	assert_int_equal(cfg_pio(f, 0, 0, 0x04, 4), 0x0547);
}

static void test_empty_slots(void **state)
{
	struct fixture *f = *state;
	unsigned int dev, fn;

	for (dev = 0; dev < 32; dev++) {
		for (fn = 0; fn < 8; fn++) {
			if (!dev && !fn)
				continue;
			assert_int_equal(cfg_pio(f, dev, fn, 0x00, 4), 0xffffffffU);
			assert_int_equal(cfg_pio(f, dev, fn, 0x0e, 1), 0xff);
			assert_int_equal(cfg_ecam(f, dev, fn, 0x00, 2), 0xffff);
			assert_int_equal(cfg_ecam(f, dev, fn, 0xffc, 4), 0xffffffffU);
			wr(&f->mmio, ecam_addr(dev, fn, 0x04), 4, 0);
		}
	}
	/* Other buses through 0xcf8 are empty too; 00.0 is unchanged by all that. */
	wr(&f->pio, CFG_ADDR, 4, cf8(1, 0, 0, 0));
	assert_int_equal(rd(&f->pio, CFG_DATA, 4), 0xffffffffU);
	wr(&f->pio, CFG_DATA, 4, 0);
	assert_int_equal(cfg_ecam(f, 0, 0, 0x00, 4), 0x00081b36);
	/* The ECAM decodes bus 0 only: bus 1 is not claimed. */
	assert_int_equal(bus_access(&f->mmio, ECAM + LAYOUT_PCI_ECAM_BUS0_SIZE,
				    (uint8_t[4]){ 0 }, 4, false), -ENOENT);
}

static void test_disabled(void **state)
{
	struct fixture *f = *state;

	wr(&f->pio, CFG_ADDR, 4, cf8(0, 0, 0, 0) & ~0x80000000U);
	assert_int_equal(rd(&f->pio, CFG_ADDR, 4), 0);
	assert_int_equal(rd(&f->pio, CFG_DATA, 4), 0xffffffffU);
	assert_int_equal(rd(&f->pio, CFG_DATA, 2), 0xffff);
	assert_int_equal(rd(&f->pio, CFG_DATA + 3, 1), 0xff);
	wr(&f->pio, CFG_ADDR, 4, cf8(0, 0, 0, 0x0c) & ~0x80000000U);
	wr(&f->pio, CFG_DATA, 1, 0x55);
	assert_int_equal(cfg_ecam(f, 0, 0, 0x0c, 1), 0);
}

static void test_odd_accesses(void **state)
{
	struct fixture *f = *state;
	uint64_t off;

	/* The address register: 32-bit accesses at 0xcf8 only. */
	wr(&f->pio, CFG_ADDR, 4, cf8(0, 0, 0, 0));
	wr(&f->pio, CFG_ADDR, 1, 0);
	wr(&f->pio, CFG_ADDR + 1, 2, 0);
	wr(&f->pio, CFG_ADDR + 3, 1, 0);
	wr(&f->pio, CFG_ADDR, 8, 0);
	assert_int_equal(rd(&f->pio, CFG_ADDR, 4), cf8(0, 0, 0, 0));
	assert_int_equal(rd(&f->pio, CFG_ADDR, 2), 0xffff);
	assert_int_equal(rd(&f->pio, CFG_ADDR + 2, 2), 0xffff);
	assert_int_equal(rd(&f->pio, CFG_ADDR, 8), UINT64_MAX);

	/* Data port: accesses inside the dword are fine; 4 at 0xcfd, 2 at 0xcff, 8 not. */
	assert_int_equal(rd(&f->pio, CFG_DATA + 2, 2), 0x0008);
	assert_int_equal(rd(&f->pio, CFG_DATA + 1, 1), 0x1b);
	assert_int_equal(rd(&f->pio, CFG_DATA + 1, 4), 0xffffffffU);
	assert_int_equal(rd(&f->pio, CFG_DATA + 3, 2), 0xffff);
	assert_int_equal(rd(&f->pio, CFG_DATA + 1, 2), 0x081b); /* inside the dword: fine */
	assert_int_equal(rd(&f->pio, CFG_DATA, 8), UINT64_MAX);
	assert_int_equal(rd(&f->pio, CFG_DATA, 3), 0xffffff);
	wr(&f->pio, CFG_ADDR, 4, cf8(0, 0, 0, 0x0c));
	wr(&f->pio, CFG_DATA + 3, 2, 0xaaaa);
	wr(&f->pio, CFG_DATA, 8, UINT64_MAX);
	wr(&f->pio, CFG_DATA + 1, 4, 0xffffffffU);
	assert_int_equal(cfg_ecam(f, 0, 0, 0x0c, 4), 0);

	/* ECAM: 8-byte, unaligned and dword-crossing accesses; the last bytes of the window. */
	assert_int_equal(rd(&f->mmio, ECAM, 8), UINT64_MAX);
	assert_int_equal(rd(&f->mmio, ECAM + 1, 2), 0x081b);
	assert_int_equal(rd(&f->mmio, ECAM + 3, 2), 0xffff);
	assert_int_equal(rd(&f->mmio, ECAM + 2, 4), 0xffffffffU);
	assert_int_equal(rd(&f->mmio, ECAM, 3), 0xffffff);
	wr(&f->mmio, ECAM + 0x0c, 8, UINT64_MAX);
	wr(&f->mmio, ECAM + 0x0b, 2, 0xffff);
	assert_int_equal(cfg_ecam(f, 0, 0, 0x0c, 4), 0);
	off = ECAM + LAYOUT_PCI_ECAM_BUS0_SIZE - 1;
	assert_int_equal(rd(&f->mmio, off, 1), 0xff);
	assert_int_equal(rd(&f->mmio, off, 4), 0xffffffffU);
	assert_int_equal(rd(&f->mmio, off - 3, 8), UINT64_MAX);
	wr(&f->mmio, off, 8, 0);
	wr(&f->mmio, off - 3, 4, 0);
	assert_int_equal(cfg_ecam(f, 0, 0, 0x00, 4), 0x00081b36);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_host_bridge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paths_agree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_slots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disabled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_accesses, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
