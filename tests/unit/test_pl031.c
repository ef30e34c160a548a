// SPDX-License-Identifier: Apache-2.0
/*
 * The PL031 RTC (devices/pl031.c) on a private MMIO bus: the counter against the
 * host's clock, load, the match interrupt and its mask and clear, the PrimeCell IDs,
 * and accesses of the wrong width.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "platform.h"
#include "kvmrun/bus.h"
#include "kvmrun/irq.h"

#define BASE 0x9010000ULL

struct fixture {
	struct bus mmio;
	struct device *devs;
	struct irq_line irq;
	bool level;
	unsigned int irq_calls;
};

static int fake_set_level(void *opaque, uint32_t gsi, bool level)
{
	struct fixture *f = opaque;

	(void)gsi;
	f->level = level;
	f->irq_calls++;
	return 0;
}

static uint32_t rd(struct fixture *f, uint64_t off)
{
	uint8_t d[4];

	assert_int_equal(bus_access(&f->mmio, BASE + off, d, 4, false), 0);
	return (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
}

static void wr(struct fixture *f, uint64_t off, uint32_t v)
{
	uint8_t d[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};

	assert_int_equal(bus_access(&f->mmio, BASE + off, d, 4, true), 0);
}

static int setup(void **state)
{
	static struct fixture fx;
	struct fixture *f = &fx;

	memset(f, 0, sizeof(*f));
	bus_init(&f->mmio, "mmio");
	f->irq = (struct irq_line){.set_level = fake_set_level, .opaque = f, .gsi = 34};
	if (pl031_create(&f->devs, &f->mmio, BASE, &f->irq))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	devices_destroy(&f->devs);
	return 0;
}

static void test_counter_and_ids(void **state)
{
	struct fixture *f = *state;
	static const uint8_t id[8] = {0x31, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1};
	uint32_t now = (uint32_t)time(NULL), dr = rd(f, 0x00);

	assert_true(dr - now <= 2);	  /* the host's time */
	assert_int_equal(rd(f, 0x0c), 1); /* running */
	for (unsigned int i = 0; i < 8; i++)
		assert_int_equal(rd(f, 0xfe0 + 4 * i), id[i]);
	wr(f, 0x08, 1000); /* load */
	assert_true(rd(f, 0x00) - 1000 <= 2);
}

static void test_match_interrupt(void **state)
{
	struct fixture *f = *state;

	wr(f, 0x08, 5000);
	wr(f, 0x10, 1);	   /* unmask */
	wr(f, 0x04, 4000); /* a match in the past: nothing */
	assert_int_equal(rd(f, 0x14), 0);
	assert_false(f->level);
	wr(f, 0x08, 6000);
	wr(f, 0x04, 6001); /* the next second: the counter reaches it */
	sleep(2);
	assert_int_equal(rd(f, 0x14), 1);
	assert_int_equal(rd(f, 0x18), 1);
	assert_true(f->level);
	wr(f, 0x10, 0); /* masked: raw stays, the line drops */
	assert_int_equal(rd(f, 0x14), 1);
	assert_int_equal(rd(f, 0x18), 0);
	assert_false(f->level);
	wr(f, 0x10, 1);
	assert_true(f->level);
	wr(f, 0x1c, 1); /* clear */
	assert_int_equal(rd(f, 0x14), 0);
	assert_false(f->level);
}

static void test_wrong_width(void **state)
{
	struct fixture *f = *state;
	uint8_t d[2] = {0, 0};
	uint32_t before = rd(f, 0x04);

	assert_int_equal(bus_access(&f->mmio, BASE + 0x04, d, 2, false), 0);
	assert_int_equal(d[0], 0xff);
	assert_int_equal(d[1], 0xff);
	d[0] = 0x12;
	assert_int_equal(bus_access(&f->mmio, BASE + 0x04, d, 1, true), 0);
	assert_int_equal(rd(f, 0x04), before);
	assert_int_equal(bus_access(&f->mmio, BASE + 0x06, d, 1, false), 0);
	assert_int_equal(d[0], 0xff);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_counter_and_ids, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_match_interrupt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_width, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
