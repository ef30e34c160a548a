// SPDX-License-Identifier: Apache-2.0
/*
 * Devices behind the PCI host: BAR placement, sizing, memory- and I/O-enable gating, BARs the
 * guest moves (routing follows, the device hears of it), accesses of every width at
 * every offset of config space and of the BARs, read-only fields, the capability list.
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
#define W32 LAYOUT_PCI_MMIO32
#define W32_SIZE LAYOUT_PCI_MMIO32_SIZE
#define W64 0x400000000ULL
#define W64_SIZE 0x400000000ULL
#define BAR0_SIZE 0x1000ULL
#define BAR2_SIZE 0x4000ULL
#define BAR5_SIZE 16 /* I/O */
#define IO LAYOUT_PCI_IO_MIN
#define IO_SIZE (LAYOUT_PCI_IO_MAX - LAYOUT_PCI_IO_MIN + 1)

struct fake_dev {
	struct pci_dev pci;
	unsigned int accesses;
	unsigned int last_bar;
	uint64_t last_off;
	uint32_t last_len;
	bool last_write;
	uint64_t last_data;
	unsigned int moves;
	unsigned int moved_bar;
	uint64_t moved_to;
	unsigned int cfg_writes;
};

struct fixture {
	struct bus pio, mmio;
	struct device *devs;
	struct pci_host *host;
	struct fake_dev fd;
};

static void fake_bar_access(struct pci_dev *pdev, unsigned int bar, uint64_t off, uint8_t *data,
			    uint32_t len, bool is_write)
{
	struct fake_dev *d = container_of(pdev, struct fake_dev, pci);

	assert_true(len == 1 || len == 2 || len == 4 || len == 8);
	assert_true(off + len <= pdev->bars[bar].size);
	d->accesses++;
	d->last_bar = bar;
	d->last_off = off;
	d->last_len = len;
	d->last_write = is_write;
	if (is_write) {
		d->last_data = 0;
		memcpy(&d->last_data, data, len);
		return;
	}
	for (uint32_t i = 0; i < len; i++)
		data[i] = (uint8_t)((off + i) ^ (bar << 4));
}

static void fake_bar_moved(struct pci_dev *pdev, unsigned int bar, uint64_t addr)
{
	struct fake_dev *d = container_of(pdev, struct fake_dev, pci);

	d->moves++;
	d->moved_bar = bar;
	d->moved_to = addr;
}

static void fake_config_write(struct pci_dev *pdev, uint32_t off, uint32_t len)
{
	struct fake_dev *d = container_of(pdev, struct fake_dev, pci);

	assert_true(off + len <= PCI_CFG_SPACE);
	d->cfg_writes++;
}

static const struct pci_dev_ops fake_ops = {
    .bar_access = fake_bar_access,
    .bar_moved = fake_bar_moved,
    .config_write = fake_config_write,
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct pci_host_windows win = {.ecam = ECAM,
				       .mmio32 = W32,
				       .mmio32_size = W32_SIZE,
				       .mmio64 = W64,
				       .mmio64_size = W64_SIZE,
				       .io = IO,
				       .io_size = IO_SIZE};

	if (!f)
		return -1;
	bus_init(&f->pio, "pio");
	bus_init(&f->mmio, "mmio");
	if (pci_host_create(&f->devs, &f->host, &f->pio, &f->mmio, PORT_PCI_CONFIG, &win))
		return -1;
	pci_dev_init(&f->fd.pci, &fake_ops, 0x1234, 0x5678, 3, 0xff0000, 0x1af4, 0x42);
	if (pci_dev_add_bar(&f->fd.pci, 0, PCI_BAR_MEM32, BAR0_SIZE) ||
	    pci_dev_add_bar(&f->fd.pci, 2, PCI_BAR_MEM64, BAR2_SIZE) ||
	    pci_dev_add_bar(&f->fd.pci, 5, PCI_BAR_IO, BAR5_SIZE) ||
	    pci_host_add_device(f->host, &f->fd.pci))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	devices_destroy(&f->devs);
	free(f);
	return 0;
}

static uint64_t rd(struct bus *b, uint64_t addr, uint32_t len)
{
	uint64_t v = 0;

	bus_access(b, addr, (uint8_t *)&v, len, false);
	return v;
}

static void wr(struct bus *b, uint64_t addr, uint32_t len, uint64_t v)
{
	bus_access(b, addr, (uint8_t *)&v, len, true);
}

static uint64_t cfg_addr(unsigned int slot, unsigned int reg)
{
	return ECAM + ((uint64_t)slot << 15) + reg;
}

static uint32_t cfg_rd(struct fixture *f, unsigned int reg, uint32_t len)
{
	return (uint32_t)rd(&f->mmio, cfg_addr(1, reg), len);
}

static void cfg_wr(struct fixture *f, unsigned int reg, uint32_t len, uint32_t v)
{
	wr(&f->mmio, cfg_addr(1, reg), len, v);
}

static uint64_t bar2_addr(struct fixture *f)
{
	return (cfg_rd(f, 0x18, 4) & ~0xfULL) | (uint64_t)cfg_rd(f, 0x1c, 4) << 32;
}

static void test_placement(void **state)
{
	struct fixture *f = *state;
	uint32_t b0 = cfg_rd(f, 0x10, 4);
	uint64_t b2 = bar2_addr(f);

	assert_int_equal(cfg_rd(f, 0x00, 4), 0x56781234);
	assert_int_equal(cfg_rd(f, 0x08, 4), 0xff000003);
	assert_int_equal(cfg_rd(f, 0x2c, 4), 0x00421af4);
	assert_int_equal(cfg_rd(f, 0x0e, 1), 0);
	assert_int_equal(f->fd.pci.slot, 1);
	/* BAR0: 32-bit memory in the low window, aligned to its size. */
	assert_int_equal(b0 & 0xf, 0);
	assert_true(b0 >= W32 && b0 + BAR0_SIZE <= W32 + W32_SIZE);
	assert_int_equal(b0 % BAR0_SIZE, 0);
	/* BAR2: 64-bit, type bits 10b, in the high window. */
	assert_int_equal(cfg_rd(f, 0x18, 4) & 0xf, 0x4);
	assert_true(b2 >= W64 && b2 + BAR2_SIZE <= W64 + W64_SIZE);
	assert_int_equal(b2 % BAR2_SIZE, 0);
	/* Unused BARs read zero; slot 2 is empty. */
	assert_int_equal(cfg_rd(f, 0x14, 4), 0);
	assert_int_equal(cfg_rd(f, 0x20, 4), 0);
	assert_int_equal(rd(&f->mmio, cfg_addr(2, 0), 4), 0xffffffff);
	/* Mechanism #1 sees the same device. */
	wr(&f->pio, PORT_PCI_CONFIG, 4, 0x80000000U | 1U << 11);
	assert_int_equal(rd(&f->pio, PORT_PCI_CONFIG + 4, 4), 0x56781234);
}

static void test_second_device_and_full_bus(void **state)
{
	struct fixture *f = *state;
	struct pci_dev *more = calloc(31, sizeof(*more));
	uint32_t first;

	assert_non_null(more);
	first = cfg_rd(f, 0x10, 4);
	for (unsigned int i = 0; i < 30; i++) {
		pci_dev_init(&more[i], &fake_ops, 0x1234, (uint16_t)i, 0, 0, 0, 0);
		assert_int_equal(pci_dev_add_bar(&more[i], 0, PCI_BAR_MEM32, BAR0_SIZE), 0);
		assert_int_equal(pci_host_add_device(f->host, &more[i]), 0);
		assert_int_equal(more[i].slot, i + 2);
		/* No two BARs overlap. */
		assert_int_not_equal(rd(&f->mmio, cfg_addr(i + 2, 0x10), 4), first);
	}
	pci_dev_init(&more[30], &fake_ops, 0x1234, 99, 0, 0, 0, 0);
	assert_int_equal(pci_host_add_device(f->host, &more[30]), -ENOSPC);
	free(more);
	/* Slots point at freed devices now: the fixture is torn down without accesses. */
}

static void test_bad_bars(void **state)
{
	struct pci_dev d;

	(void)state;
	pci_dev_init(&d, &fake_ops, 1, 2, 0, 0, 0, 0);
	assert_int_equal(pci_dev_add_bar(&d, 6, PCI_BAR_MEM32, 4096), -EINVAL);
	assert_int_equal(pci_dev_add_bar(&d, 0, PCI_BAR_MEM32, 4095), -EINVAL);
	assert_int_equal(pci_dev_add_bar(&d, 0, PCI_BAR_MEM32, 6144), -EINVAL);
	assert_int_equal(pci_dev_add_bar(&d, 0, PCI_BAR_MEM32, 2048), -EINVAL);
	assert_int_equal(pci_dev_add_bar(&d, 5, PCI_BAR_MEM64, 4096), -EINVAL);
	assert_int_equal(pci_dev_add_bar(&d, 0, PCI_BAR_NONE, 4096), -EINVAL);
	assert_int_equal(pci_dev_add_bar(&d, 0, PCI_BAR_MEM64, 4096), 0);
	assert_int_equal(pci_dev_add_bar(&d, 1, PCI_BAR_MEM32, 4096), -EINVAL);
	assert_int_equal(pci_dev_add_bar(&d, 0, PCI_BAR_MEM32, 4096), -EINVAL);
	/* I/O BARs: 4 to 256 ports, a power of two. */
	assert_int_equal(pci_dev_add_bar(&d, 2, PCI_BAR_IO, 2), -EINVAL);
	assert_int_equal(pci_dev_add_bar(&d, 2, PCI_BAR_IO, 12), -EINVAL);
	assert_int_equal(pci_dev_add_bar(&d, 2, PCI_BAR_IO, 512), -EINVAL);
	assert_int_equal(pci_dev_add_bar(&d, 2, PCI_BAR_IO, 256), 0);
	assert_int_equal(pci_dev_add_bar(&d, 3, PCI_BAR_IO, 4), 0);
	assert_int_equal(pci_dev_add_bar(&d, 3, PCI_BAR_IO, 4), -EINVAL);
}

static void test_sizing(void **state)
{
	struct fixture *f = *state;
	uint32_t b0 = cfg_rd(f, 0x10, 4), lo = cfg_rd(f, 0x18, 4), hi = cfg_rd(f, 0x1c, 4);

	cfg_wr(f, 0x10, 4, 0xffffffff);
	assert_int_equal(cfg_rd(f, 0x10, 4), (uint32_t) ~(BAR0_SIZE - 1));
	cfg_wr(f, 0x18, 4, 0xffffffff);
	cfg_wr(f, 0x1c, 4, 0xffffffff);
	assert_int_equal(cfg_rd(f, 0x18, 4), (uint32_t) ~(BAR2_SIZE - 1) | 0x4);
	assert_int_equal(cfg_rd(f, 0x1c, 4), 0xffffffff);
	/* Unimplemented BARs stay zero. */
	cfg_wr(f, 0x14, 4, 0xffffffff);
	cfg_wr(f, 0x20, 4, 0xffffffff);
	assert_int_equal(cfg_rd(f, 0x14, 4), 0);
	assert_int_equal(cfg_rd(f, 0x20, 4), 0);
	/* Decoding was off the whole time: the device heard nothing. */
	assert_int_equal(f->fd.moves, 0);
	cfg_wr(f, 0x10, 4, b0);
	cfg_wr(f, 0x18, 4, lo);
	cfg_wr(f, 0x1c, 4, hi);
	assert_int_equal(cfg_rd(f, 0x10, 4), b0);
	assert_int_equal(cfg_rd(f, 0x18, 4), lo);
	assert_int_equal(cfg_rd(f, 0x1c, 4), hi);
}

static void test_memory_enable(void **state)
{
	struct fixture *f = *state;
	uint32_t b0 = cfg_rd(f, 0x10, 4);
	uint64_t b2 = bar2_addr(f);

	/* Off: nothing decodes. */
	assert_int_equal(rd(&f->mmio, b0, 4), 0xffffffff);
	assert_int_equal(f->fd.accesses, 0);
	cfg_wr(f, 0x04, 2, 0x2);
	assert_int_equal(f->fd.moves, 2);
	assert_int_equal(rd(&f->mmio, b0 + 0x10, 4), 0x13121110);
	assert_int_equal(f->fd.last_bar, 0);
	assert_int_equal(f->fd.last_off, 0x10);
	assert_int_equal(rd(&f->mmio, b2 + 0x3ff8, 8), 0xdfdedddcdbdad9d8ULL);
	assert_int_equal(f->fd.last_bar, 2);
	wr(&f->mmio, b2 + 8, 2, 0xbeef);
	assert_true(f->fd.last_write);
	assert_int_equal(f->fd.last_data, 0xbeef);
	/* Off again: the device hears of it, accesses stop. */
	cfg_wr(f, 0x04, 2, 0);
	assert_int_equal(f->fd.moves, 4);
	assert_int_equal(f->fd.moved_to, PCI_BAR_UNMAPPED);
	f->fd.accesses = 0;
	assert_int_equal(rd(&f->mmio, b0, 4), 0xffffffff);
	assert_int_equal(f->fd.accesses, 0);
}

static void test_move(void **state)
{
	struct fixture *f = *state;
	uint32_t b0 = cfg_rd(f, 0x10, 4);
	uint32_t to = W32 + 0x100000;
	uint64_t to64 = W64 + 0x200000000ULL;

	cfg_wr(f, 0x04, 2, 0x2);
	f->fd.moves = 0;
	cfg_wr(f, 0x10, 4, to);
	assert_int_equal(f->fd.moves, 1);
	assert_int_equal(f->fd.moved_bar, 0);
	assert_int_equal(f->fd.moved_to, to);
	assert_int_equal(rd(&f->mmio, b0, 4), 0xffffffff);
	assert_int_equal(rd(&f->mmio, to + 4, 1), 4);
	/* Outside every window: decodes nowhere. */
	cfg_wr(f, 0x10, 4, 0x10000000);
	assert_int_equal(f->fd.moved_to, PCI_BAR_UNMAPPED);
	/* A BAR straddling the window's end does not decode either. */
	cfg_wr(f, 0x10, 4, (uint32_t)(W32 + W32_SIZE - 0x1000));
	assert_int_equal(f->fd.moved_to, W32 + W32_SIZE - 0x1000);
	/* 64-bit BAR: the high half first, then the low half. */
	cfg_wr(f, 0x1c, 4, (uint32_t)(to64 >> 32));
	cfg_wr(f, 0x18, 4, (uint32_t)to64);
	assert_int_equal(f->fd.moved_bar, 2);
	assert_int_equal(f->fd.moved_to, to64);
	assert_int_equal(rd(&f->mmio, to64 + 1, 1), 1 ^ 0x20);
	/* A 64-bit BAR moved into the 32-bit window decodes too. */
	cfg_wr(f, 0x1c, 4, 0);
	cfg_wr(f, 0x18, 4, W32 + 0x10000);
	assert_int_equal(f->fd.moved_to, W32 + 0x10000);
	assert_int_equal(rd(&f->mmio, W32 + 0x10002, 1), 2 ^ 0x20);
}

/*
 * Widths 1, 2, 4 and 8 at every offset of BAR @bar, decoding at @base on @b, and
 * running past its end: inside, the device serves each access; past it, all ones.
 */
static void sweep_bar(struct fixture *f, struct bus *b, uint64_t base, unsigned int bar)
{
	static const uint32_t widths[] = {1, 2, 4, 8};
	uint64_t size = f->fd.pci.bars[bar].size;

	for (uint64_t off = 0; off < size + 8; off++) {
		for (unsigned int w = 0; w < 4; w++) {
			uint32_t len = widths[w];
			unsigned int before = f->fd.accesses;
			uint64_t v = rd(b, base + off, len);
			bool inside = off + len <= size;

			assert_int_equal(f->fd.accesses, before + inside);
			if (!inside)
				assert_true(v == (len == 8 ? ~0ULL : (1ULL << (8 * len)) - 1));
			else
				assert_int_equal(v & 0xff, (off ^ (bar << 4)) & 0xff);
			wr(b, base + off, len, ~0ULL);
			assert_int_equal(f->fd.accesses, before + 2 * inside);
		}
	}
}

static void test_bar_widths_every_offset(void **state)
{
	struct fixture *f = *state;

	cfg_wr(f, 0x04, 2, 0x2);
	sweep_bar(f, &f->mmio, cfg_rd(f, 0x10, 4), 0);
	/* The gap between BARs in the window: all ones, nobody called. */
	f->fd.accesses = 0;
	assert_int_equal(rd(&f->mmio, W32 + W32_SIZE - 8, 8), ~0ULL);
	assert_int_equal(f->fd.accesses, 0);
}

static void test_config_every_offset(void **state)
{
	struct fixture *f = *state;
	static const uint32_t widths[] = {1, 2, 4, 8};
	uint8_t before[PCI_CFG_SPACE];

	memcpy(before, f->fd.pci.cfg, sizeof(before));
	for (unsigned int reg = 0; reg < 4096 + 8; reg++) {
		for (unsigned int w = 0; w < 4; w++) {
			uint32_t len = widths[w];
			uint64_t v = rd(&f->mmio, cfg_addr(1, reg), len);
			bool ok = len != 8 && (reg & 3) + len <= 4 && reg < 4096;
			uint64_t ones = len == 8 ? ~0ULL : (1ULL << (8 * len)) - 1;

			if (!ok)
				assert_true(v == ones);
			else if (reg >= PCI_CFG_SPACE)
				assert_true(v == 0);
			else
				assert_true(memcmp(&v, f->fd.pci.cfg + reg, len) == 0);
		}
	}
	/* All ones everywhere, every width: only writable bits change. */
	for (unsigned int reg = 0; reg < 4096; reg++)
		for (unsigned int w = 0; w < 3; w++)
			if (reg < 0x10 || reg >= 0x28) /* BARs are sized elsewhere */
				wr(&f->mmio, cfg_addr(1, reg), widths[w], ~0ULL);
	for (unsigned int i = 0; i < PCI_CFG_SPACE; i++) {
		uint8_t m = f->fd.pci.wmask[i];

		if (i >= 0x10 && i < 0x28)
			continue;
		assert_int_equal(f->fd.pci.cfg[i], (before[i] & ~m) | m);
	}
	assert_int_equal(cfg_rd(f, 0x00, 4), 0x56781234);
	assert_int_equal(cfg_rd(f, 0x08, 4), 0xff000003);
	assert_int_equal(cfg_rd(f, 0x0e, 1), 0);
	assert_int_equal(cfg_rd(f, 0x04, 2), 0x0547);
	assert_true(f->fd.cfg_writes > 0);
}

static void test_io_bar(void **state)
{
	struct fixture *f = *state;
	uint32_t port = cfg_rd(f, 0x24, 4) & ~0x3U;
	uint32_t b0 = cfg_rd(f, 0x10, 4);

	/* Placed in the I/O window, aligned to its size, bit 0 set. */
	assert_int_equal(cfg_rd(f, 0x24, 4) & 0x3, 0x1);
	assert_true(port >= IO && port + BAR5_SIZE <= IO + IO_SIZE);
	assert_int_equal(port % BAR5_SIZE, 0);
	/* Sizing: the flag bit stays. */
	cfg_wr(f, 0x24, 4, 0xffffffff);
	assert_int_equal(cfg_rd(f, 0x24, 4), (uint32_t) ~(BAR5_SIZE - 1) | 1);
	cfg_wr(f, 0x24, 4, port);
	assert_int_equal(cfg_rd(f, 0x24, 4), port | 1);
	/* Memory space on: the I/O BAR still decodes nowhere. */
	cfg_wr(f, 0x04, 2, 0x2);
	assert_int_equal(f->fd.moves, 2);
	assert_int_equal(rd(&f->pio, port, 1), 0xff);
	assert_int_equal(f->fd.accesses, 0);
	/* I/O space on alone: only the I/O BAR decodes, and only on the port bus. */
	cfg_wr(f, 0x04, 2, 0x1);
	assert_int_equal(f->fd.moved_bar, 5);
	assert_int_equal(f->fd.moved_to, port);
	assert_int_equal(rd(&f->mmio, b0, 4), 0xffffffff);
	assert_int_equal(f->fd.accesses, 0);
	assert_int_equal(rd(&f->pio, port + 2, 2), (3 ^ 0x50) << 8 | (2 ^ 0x50));
	assert_int_equal(f->fd.last_bar, 5);
	assert_int_equal(f->fd.last_off, 2);
	wr(&f->pio, port + 4, 4, 0x12345678);
	assert_true(f->fd.last_write);
	assert_int_equal(f->fd.last_data, 0x12345678);
	sweep_bar(f, &f->pio, port, 5);
	/* Moved by the guest; below the window or above 0xffff: nowhere. */
	cfg_wr(f, 0x24, 4, 0x8000);
	assert_int_equal(f->fd.moved_to, 0x8000);
	assert_int_equal(rd(&f->pio, 0x8001, 1), 1 ^ 0x50);
	assert_int_equal(rd(&f->pio, port, 1), 0xff);
	cfg_wr(f, 0x24, 4, 0x800);
	assert_int_equal(f->fd.moved_to, PCI_BAR_UNMAPPED);
	cfg_wr(f, 0x24, 4, 0x10000);
	assert_int_equal(f->fd.moved_to, PCI_BAR_UNMAPPED);
	cfg_wr(f, 0x24, 4, 0xfff0);
	assert_int_equal(f->fd.moved_to, 0xfff0);
	cfg_wr(f, 0x04, 2, 0);
	assert_int_equal(f->fd.moved_to, PCI_BAR_UNMAPPED);
	f->fd.accesses = 0;
	assert_int_equal(rd(&f->pio, 0xfff0, 4), 0xffffffff);
	assert_int_equal(f->fd.accesses, 0);
}

/* A host without an I/O window leaves I/O BARs at 0, decoding nowhere. */
static void test_no_io_window(void **state)
{
	struct pci_host_windows win = {.ecam = ECAM, .mmio32 = W32, .mmio32_size = W32_SIZE};
	struct bus pio, mmio;
	struct device *devs = NULL;
	struct pci_host *host;
	struct fake_dev *d = calloc(1, sizeof(*d));

	(void)state;
	assert_non_null(d);
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	assert_int_equal(pci_host_create(&devs, &host, &pio, &mmio, PORT_PCI_CONFIG, &win), 0);
	pci_dev_init(&d->pci, &fake_ops, 1, 2, 0, 0, 0, 0);
	assert_int_equal(pci_dev_add_bar(&d->pci, 0, PCI_BAR_IO, 4), 0);
	assert_int_equal(pci_host_add_device(host, &d->pci), 0);
	assert_int_equal(rd(&mmio, cfg_addr(1, 0x10), 4), 1);
	wr(&mmio, cfg_addr(1, 0x04), 2, 1);
	assert_int_equal(d->moves, 0);
	assert_int_equal(rd(&pio, 0, 1), 0xff);
	devices_destroy(&devs);
	free(d);
	/* An I/O window outside the 64 KiB of ports is refused. */
	win.io = 0xf000;
	win.io_size = 0x2000;
	assert_int_equal(pci_host_create(&devs, &host, &pio, &mmio, PORT_PCI_CONFIG, &win),
			 -EINVAL);
	win.io = 0x10000;
	win.io_size = 1;
	assert_int_equal(pci_host_create(&devs, &host, &pio, &mmio, PORT_PCI_CONFIG, &win),
			 -EINVAL);
}

/* arm64: the I/O window in memory space, port P at io_mmio + P; nothing on the port bus. */
static void test_io_window_on_mmio(void **state)
{
	struct pci_host_windows win = {.ecam = ECAM, .mmio32 = W32, .mmio32_size = W32_SIZE,
				       .io = 0x1000, .io_size = 0xf000, .io_mmio = 0x3eff0000ULL};
	struct bus pio, mmio;
	struct device *devs = NULL;
	struct pci_host *host;
	struct fake_dev *d = calloc(1, sizeof(*d));
	uint32_t port;

	(void)state;
	assert_non_null(d);
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	assert_int_equal(pci_host_create(&devs, &host, &pio, &mmio, PORT_PCI_CONFIG, &win), 0);
	pci_dev_init(&d->pci, &fake_ops, 1, 2, 0, 0, 0, 0);
	assert_int_equal(pci_dev_add_bar(&d->pci, 0, PCI_BAR_IO, 4), 0);
	assert_int_equal(pci_host_add_device(host, &d->pci), 0);
	port = (uint32_t)rd(&mmio, cfg_addr(1, 0x10), 4) & ~0x3U;
	assert_true(port >= 0x1000 && port < 0x10000);
	wr(&mmio, cfg_addr(1, 0x04), 2, 1);
	assert_int_equal(d->moved_to, port);
	assert_int_equal(rd(&mmio, 0x3eff0000ULL + port + 1, 1), 1);
	assert_int_equal(d->accesses, 1);
	assert_int_equal(d->last_off, 1);
	assert_int_equal(rd(&pio, port + 1, 1), 0xff);
	assert_int_equal(d->accesses, 1);
	devices_destroy(&devs);
	free(d);
}

static void test_cap_list(void **state)
{
	struct pci_dev d;
	int a, b;

	(void)state;
	pci_dev_init(&d, &fake_ops, 1, 2, 0, 0, 0, 0);
	assert_int_equal(d.cfg[0x34], 0);
	assert_int_equal(d.cfg[0x06] & 0x10, 0);
	a = pci_dev_add_cap(&d, 0x11, 12);
	b = pci_dev_add_cap(&d, 0x09, 17);
	assert_int_equal(a, 0x40);
	assert_int_equal(b, 0x4c);
	assert_int_equal(d.cfg[0x34], 0x40);
	assert_int_equal(d.cfg[0x06] & 0x10, 0x10);
	assert_int_equal(d.cfg[0x40], 0x11);
	assert_int_equal(d.cfg[0x41], 0x4c);
	assert_int_equal(d.cfg[0x4c], 0x09);
	assert_int_equal(d.cfg[0x4d], 0);
	/* Aligned to 4 after a 17-byte capability; refused when it does not fit. */
	assert_int_equal(pci_dev_add_cap(&d, 0x09, 4), 0x60);
	assert_int_equal(pci_dev_add_cap(&d, 0x09, 1), -ENOSPC);
	assert_int_equal(pci_dev_add_cap(&d, 0x09, 200), -ENOSPC);
}

static void test_mmio64_layout(void **state)
{
	uint64_t base, size;

	(void)state;
	/* Small RAM: right at 4 GiB. */
	layout_pci_mmio64(256ULL << 20, 40, &base, &size);
	assert_int_equal(base, 4ULL << 30);
	assert_int_equal(size, LAYOUT_PCI_MMIO64_MAX_SIZE);
	/* RAM ending at 5.5 GiB: the next GiB; a narrow address space caps the size. */
	layout_pci_mmio64(0x160000000ULL, 36, &base, &size);
	assert_int_equal(base, 6ULL << 30);
	assert_int_equal(size, (1ULL << 36) - (6ULL << 30));
	/* Exactly on a GiB boundary stays there. */
	layout_pci_mmio64(8ULL << 30, 48, &base, &size);
	assert_int_equal(base, 8ULL << 30);
	/* No room below the limit: no window. */
	layout_pci_mmio64(1ULL << 36, 36, &base, &size);
	assert_int_equal(size, 0);
	layout_pci_mmio64((1ULL << 36) - 1, 36, &base, &size);
	assert_int_equal(size, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_placement, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_second_device_and_full_bus, setup, teardown),
	    cmocka_unit_test(test_bad_bars),
	    cmocka_unit_test_setup_teardown(test_sizing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_memory_enable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_move, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bar_widths_every_offset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_every_offset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_io_bar, setup, teardown),
	    cmocka_unit_test(test_no_io_window),
	    cmocka_unit_test(test_io_window_on_mmio),
	    cmocka_unit_test(test_cap_list),
	    cmocka_unit_test(test_mmio64_layout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
