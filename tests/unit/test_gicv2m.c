// SPDX-License-Identifier: Apache-2.0
/*
 * The GICv2m MSI frame (src/arch/arm64/gicv2m.c), arm64 only, on a private MMIO bus
 * without a VM: the ranges it refuses at creation, MSI_TYPER, and what a guest may
 * do to it: other widths, unaligned and unknown offsets, doorbell writes outside its
 * range (no VM behind the fd: nothing may be raised, nothing may fail).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arch/arm64/gicv2m.h"
#include "device.h"
#include "kvmrun/bus.h"

#define BASE 0x8020000ULL

static uint64_t rd(struct bus *b, uint64_t off, uint32_t len)
{
	uint8_t d[8];
	uint64_t v = 0;

	memset(d, 0xa5, sizeof(d));
	assert_int_equal(bus_access(b, BASE + off, d, len, false), 0);
	for (uint32_t i = 0; i < len; i++)
		v |= (uint64_t)d[i] << (8 * i);
	return v;
}

static void wr(struct bus *b, uint64_t off, uint32_t len, uint64_t v)
{
	uint8_t d[8];

	for (uint32_t i = 0; i < len; i++)
		d[i] = (uint8_t)(v >> (8 * i));
	assert_int_equal(bus_access(b, BASE + off, d, len, true), 0);
}

static void test_bad_ranges(void **state)
{
	static const uint32_t bad[][2] = {
	    {0, 8}, {31, 8}, {64, 0}, {1019, 2}, {1020, 1}, {64, 0xffffffffu},
	};
	struct device *devs = NULL;
	int fd = -1;
	struct bus b;

	(void)state;
	bus_init(&b, "mmio");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(a64_v2m_create(&devs, &b, BASE, &fd, bad[i][0], bad[i][1]),
				 -EINVAL);
	assert_null(devs);
	assert_int_equal(a64_v2m_create(&devs, &b, BASE, &fd, 1019, 1), 0);
	devices_destroy(&devs);
}

static void test_guest_accesses(void **state)
{
	struct device *devs = NULL;
	int fd = -1;
	struct bus b;

	(void)state;
	bus_init(&b, "mmio");
	assert_int_equal(a64_v2m_create(&devs, &b, BASE, &fd, 64, 192), 0);
	assert_int_equal(rd(&b, 0x008, 4), 64u << 16 | 192);
	/* Other widths and unaligned or unknown offsets read zeros. */
	assert_int_equal(rd(&b, 0x008, 1), 0);
	assert_int_equal(rd(&b, 0x008, 2), 0);
	assert_int_equal(rd(&b, 0x008, 8), 0);
	assert_int_equal(rd(&b, 0x009, 4), 0);
	assert_int_equal(rd(&b, 0x040, 4), 0);
	assert_int_equal(rd(&b, 0xffc, 4), 0);
	/* Doorbell writes in and out of the range, of every width, and writes elsewhere. */
	for (uint64_t v = 0; v < 1100; v += 7)
		wr(&b, A64_V2M_SETSPI, 4, v);
	wr(&b, A64_V2M_SETSPI, 4, 0xffffffffu);
	wr(&b, A64_V2M_SETSPI, 2, 100);
	wr(&b, A64_V2M_SETSPI, 8, 100);
	wr(&b, A64_V2M_SETSPI + 1, 4, 100);
	wr(&b, 0x008, 4, 0);
	/* None of it changed the frame. */
	assert_int_equal(rd(&b, 0x008, 4), 64u << 16 | 192);
	devices_destroy(&devs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_ranges),
	    cmocka_unit_test(test_guest_accesses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
