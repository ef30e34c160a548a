// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kvmrun/bus.h"

struct dev {
	unsigned int calls;
	uint64_t offset;
	uint32_t len;
	bool is_write;
	uint8_t wdata[8];
	uint8_t fill;
	pthread_mutex_t *lock;
	int trylock_ret;
};

static void dev_fn(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct dev *d = opaque;

	d->calls++;
	d->offset = offset;
	d->len = len;
	d->is_write = is_write;
	if (d->lock)
		d->trylock_ret = pthread_mutex_trylock(d->lock);
	if (is_write)
		memcpy(d->wdata, data, len);
	else
		memset(data, d->fill, len);
}

static void test_add_refusals(void **state)
{
	struct bus bus;
	struct dev d = { 0 };

	(void)state;
	bus_init(&bus, "test");
	assert_string_equal(bus.name, "test");
	assert_int_equal(bus_add(&bus, 0x1000, 0x100, dev_fn, &d, NULL, "a"), 0);

	/* Exact, partial below, partial above, contained, containing. */
	assert_int_equal(bus_add(&bus, 0x1000, 0x100, dev_fn, &d, NULL, "x"), -EEXIST);
	assert_int_equal(bus_add(&bus, 0xf00, 0x101, dev_fn, &d, NULL, "x"), -EEXIST);
	assert_int_equal(bus_add(&bus, 0x10ff, 0x10, dev_fn, &d, NULL, "x"), -EEXIST);
	assert_int_equal(bus_add(&bus, 0x1010, 0x10, dev_fn, &d, NULL, "x"), -EEXIST);
	assert_int_equal(bus_add(&bus, 0x0, 0x10000, dev_fn, &d, NULL, "x"), -EEXIST);
	assert_int_equal(bus.nr, 1);

	/* Adjacent on both sides. */
	assert_int_equal(bus_add(&bus, 0xf00, 0x100, dev_fn, &d, NULL, "below"), 0);
	assert_int_equal(bus_add(&bus, 0x1100, 0x100, dev_fn, &d, NULL, "above"), 0);
	assert_int_equal(bus.nr, 3);

	/* Zero length, no handler, wrapping. */
	assert_int_equal(bus_add(&bus, 0x5000, 0, dev_fn, &d, NULL, "x"), -EINVAL);
	assert_int_equal(bus_add(&bus, 0x5000, 1, NULL, &d, NULL, "x"), -EINVAL);
	assert_int_equal(bus_add(&bus, UINT64_MAX, 2, dev_fn, &d, NULL, "x"), -EINVAL);
	assert_int_equal(bus_add(&bus, UINT64_MAX - 0xf, 0x20, dev_fn, &d, NULL, "x"), -EINVAL);
	assert_int_equal(bus.nr, 3);

	/* A range ending exactly at UINT64_MAX is fine, and overlaps are still seen. */
	assert_int_equal(bus_add(&bus, UINT64_MAX - 0xf, 0x10, dev_fn, &d, NULL, "top"), 0);
	assert_int_equal(bus_add(&bus, UINT64_MAX, 1, dev_fn, &d, NULL, "x"), -EEXIST);
	assert_int_equal(bus_add(&bus, UINT64_MAX - 0x1f, 0x11, dev_fn, &d, NULL, "x"), -EEXIST);
	assert_int_equal(bus.nr, 4);
}

static void test_dispatch(void **state)
{
	struct bus bus;
	struct dev a = { .fill = 0x11 }, b = { .fill = 0x22 };
	uint8_t data[8];

	(void)state;
	bus_init(&bus, "io");
	assert_int_equal(bus_add(&bus, 0x3f8, 8, dev_fn, &a, NULL, "a"), 0);
	assert_int_equal(bus_add(&bus, 0x60, 1, dev_fn, &b, NULL, "b"), 0);

	memset(data, 0, sizeof(data));
	assert_int_equal(bus_access(&bus, 0x3fd, data, 1, false), 0);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.offset, 5);
	assert_int_equal(a.len, 1);
	assert_false(a.is_write);
	assert_int_equal(data[0], 0x11);
	assert_int_equal(data[1], 0);

	data[0] = 0x5a;
	data[1] = 0xa5;
	assert_int_equal(bus_access(&bus, 0x3f8, data, 2, true), 0);
	assert_int_equal(a.calls, 2);
	assert_int_equal(a.offset, 0);
	assert_int_equal(a.len, 2);
	assert_true(a.is_write);
	assert_int_equal(a.wdata[0], 0x5a);
	assert_int_equal(a.wdata[1], 0xa5);

	assert_int_equal(bus_access(&bus, 0x3ff, data, 1, false), 0);
	assert_int_equal(a.offset, 7);
	assert_int_equal(bus_access(&bus, 0x60, data, 1, false), 0);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.offset, 0);
	assert_int_equal(data[0], 0x22);
	assert_int_equal(a.calls, 3);
}

static void test_unclaimed(void **state)
{
	struct bus bus;
	struct dev a = { .fill = 0x11 };
	uint8_t data[8];

	(void)state;
	bus_init(&bus, "io");
	memset(data, 0, sizeof(data));
	assert_int_equal(bus_access(&bus, 0x3f8, data, 4, false), -ENOENT);
	assert_memory_equal(data, "\xff\xff\xff\xff\0\0\0\0", 8);

	assert_int_equal(bus_add(&bus, 0x3f8, 8, dev_fn, &a, NULL, "a"), 0);
	memset(data, 0, sizeof(data));
	assert_int_equal(bus_access(&bus, 0x400, data, 8, false), -ENOENT);
	assert_memory_equal(data, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
	assert_int_equal(bus_access(&bus, 0x3f7, data, 1, false), -ENOENT);

	/* An unclaimed write leaves the data alone. */
	memset(data, 0x42, sizeof(data));
	assert_int_equal(bus_access(&bus, 0x3f0, data, 2, true), -ENOENT);
	assert_int_equal(data[0], 0x42);
	assert_int_equal(a.calls, 0);
}

static void test_lock_held(void **state)
{
	struct bus bus;
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct dev d = { .lock = &lock, .trylock_ret = -1 };
	uint8_t data[4] = { 0 };

	(void)state;
	bus_init(&bus, "mmio");
	assert_int_equal(bus_add(&bus, 0xfeb00000, 2, dev_fn, &d, &lock, "locked"), 0);
	assert_int_equal(bus_access(&bus, 0xfeb00001, data, 1, true), 0);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.trylock_ret, EBUSY);
	/* And released afterwards. */
	assert_int_equal(pthread_mutex_trylock(&lock), 0);
	pthread_mutex_unlock(&lock);

	/* Without a lock the handler sees it free. */
	{
		struct bus bus2;
		struct dev d2 = { .lock = &lock, .trylock_ret = -1 };

		bus_init(&bus2, "mmio");
		assert_int_equal(bus_add(&bus2, 0x0, 2, dev_fn, &d2, NULL, "unlocked"), 0);
		assert_int_equal(bus_access(&bus2, 0x0, data, 1, true), 0);
		assert_int_equal(d2.trylock_ret, 0);
		pthread_mutex_unlock(&lock);
	}
	pthread_mutex_destroy(&lock);
}

static void test_many_ranges_out_of_order(void **state)
{
	struct bus bus;
	static struct dev devs[BUS_MAX_RANGES];
	unsigned int i;
	uint8_t data[1];

	(void)state;
	memset(devs, 0, sizeof(devs));
	bus_init(&bus, "io");
	/* Insert in a scrambled order: 37 is coprime to 64. */
	for (i = 0; i < BUS_MAX_RANGES; i++) {
		unsigned int k = (i * 37) % BUS_MAX_RANGES;

		devs[k].fill = (uint8_t)k;
		assert_int_equal(bus_add(&bus, 0x100 + k * 0x20, 0x10, dev_fn, &devs[k], NULL, "d"),
				 0);
	}
	assert_int_equal(bus.nr, BUS_MAX_RANGES);
	for (i = 1; i < bus.nr; i++)
		assert_true(bus.ranges[i - 1].base < bus.ranges[i].base);
	assert_int_equal(bus_add(&bus, 0x10000, 1, dev_fn, &devs[0], NULL, "x"), -ENOSPC);

	for (unsigned int k = 0; k < BUS_MAX_RANGES; k++) {
		uint64_t base = 0x100 + k * 0x20;

		data[0] = 0;
		assert_int_equal(bus_access(&bus, base, data, 1, false), 0);
		assert_int_equal(data[0], k);
		assert_int_equal(devs[k].offset, 0);
		assert_int_equal(bus_access(&bus, base + 0xf, data, 1, false), 0);
		assert_int_equal(devs[k].offset, 0xf);
		assert_int_equal(devs[k].calls, 2);
		/* The gaps between ranges are unclaimed. */
		assert_int_equal(bus_access(&bus, base + 0x10, data, 1, false), -ENOENT);
		assert_int_equal(bus_access(&bus, base + 0x1f, data, 1, false), -ENOENT);
	}
	assert_int_equal(bus_access(&bus, 0xff, data, 1, false), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_refusals),
		cmocka_unit_test(test_dispatch),
		cmocka_unit_test(test_unclaimed),
		cmocka_unit_test(test_lock_held),
		cmocka_unit_test(test_many_ranges_out_of_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
