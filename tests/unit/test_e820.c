// SPDX-License-Identifier: Apache-2.0
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86_64/boot.h"
#include "arch/x86_64/layout.h"

#define HOLE_START 0xc0000000ULL
#define FOUR_GIB 0x100000000ULL

/* Checks the invariants every map must hold; returns the number of entries. */
static unsigned int check_map(uint64_t mem, struct e820_entry *e)
{
	uint64_t ram = 0, low = MIN(mem, HOLE_START);
	unsigned int n;
	bool saw_high = false;

	memset(e, 0xa5, E820_MAX * sizeof(*e));
	n = boot_e820(mem, e);
	assert_true(n >= 3 && n <= E820_MAX);
	for (unsigned int i = 0; i < n; i++) {
		uint64_t end = e[i].addr + e[i].size;

		assert_true(e[i].size > 0);
		assert_true(end > e[i].addr);
		assert_true(e[i].type == E820_RAM || e[i].type == E820_RESERVED);
		/* Sorted and not overlapping. */
		if (i)
			assert_true(e[i - 1].addr + e[i - 1].size <= e[i].addr);
		if (e[i].type != E820_RAM)
			continue;
		ram += e[i].size;
		/* No RAM in the MMIO hole below 4 GiB. */
		assert_true(end <= HOLE_START || e[i].addr >= FOUR_GIB);
		if (e[i].addr >= FOUR_GIB) {
			assert_int_equal(e[i].addr, FOUR_GIB);
			saw_high = true;
		}
	}
	assert_int_equal(ram, mem - (LAYOUT_HIGH_RAM - LAYOUT_EBDA));
	assert_int_equal(saw_high, mem > HOLE_START);

	/* The fixed low part. */
	assert_int_equal(e[0].addr, 0);
	assert_int_equal(e[0].size, LAYOUT_EBDA);
	assert_int_equal(e[0].type, E820_RAM);
	assert_int_equal(e[1].addr, LAYOUT_EBDA);
	assert_int_equal(e[1].addr + e[1].size, LAYOUT_HIGH_RAM);
	assert_int_equal(e[1].type, E820_RESERVED);
	assert_int_equal(e[2].addr, LAYOUT_HIGH_RAM);
	assert_int_equal(e[2].size, low - LAYOUT_HIGH_RAM);
	assert_int_equal(e[2].type, E820_RAM);
	return n;
}

static void test_256m(void **state)
{
	struct e820_entry e[E820_MAX];

	(void)state;
	assert_int_equal(check_map(256 * MiB, e), 3);
	assert_int_equal(e[2].addr + e[2].size, 256 * MiB);
}

static void test_exactly_3g(void **state)
{
	struct e820_entry e[E820_MAX];

	(void)state;
	assert_int_equal(LAYOUT_MMIO_HOLE, 3 * GiB);
	assert_int_equal(check_map(3 * GiB, e), 3);
	assert_int_equal(e[2].addr + e[2].size, HOLE_START);
}

static void test_3g_plus_4k(void **state)
{
	struct e820_entry e[E820_MAX];

	(void)state;
	assert_int_equal(check_map(3 * GiB + 4 * KiB, e), 4);
	assert_int_equal(e[2].addr + e[2].size, HOLE_START);
	assert_int_equal(e[3].addr, FOUR_GIB);
	assert_int_equal(e[3].size, 4 * KiB);
	assert_int_equal(e[3].type, E820_RAM);
}

static void test_3_5g(void **state)
{
	struct e820_entry e[E820_MAX];

	(void)state;
	assert_int_equal(check_map(3 * GiB + 512 * MiB, e), 4);
	assert_int_equal(e[3].addr, FOUR_GIB);
	assert_int_equal(e[3].size, 512 * MiB);
}

static void test_8g(void **state)
{
	struct e820_entry e[E820_MAX];

	(void)state;
	assert_int_equal(check_map(8 * GiB, e), 4);
	assert_int_equal(e[3].addr, FOUR_GIB);
	assert_int_equal(e[3].size, 5 * GiB);
}

static void test_ram_split(void **state)
{
	uint64_t low, high;

	(void)state;
	boot_ram_split(256 * MiB, &low, &high);
	assert_int_equal(low, 256 * MiB);
	assert_int_equal(high, 0);
	boot_ram_split(3 * GiB, &low, &high);
	assert_int_equal(low, 3 * GiB);
	assert_int_equal(high, 0);
	boot_ram_split(8 * GiB, &low, &high);
	assert_int_equal(low, 3 * GiB);
	assert_int_equal(high, 5 * GiB);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_256m),
		cmocka_unit_test(test_exactly_3g),
		cmocka_unit_test(test_3g_plus_4k),
		cmocka_unit_test(test_3_5g),
		cmocka_unit_test(test_8g),
		cmocka_unit_test(test_ram_split),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
