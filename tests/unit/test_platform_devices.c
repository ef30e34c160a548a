// SPDX-License-Identifier: Apache-2.0
/*
 * The small platform devices through the buses: i8042 (probe commands and
 * reset), CMOS RTC (host time, BCD and binary, 12/24 hours, RAM), pvpanic,
 * the ACPI sleep and reset registers, and devices_destroy()'s order.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "arch/x86_64/layout.h"
#include "kvmrun/bus.h"
#include "arch/x86_64/platform_layout.h"
#include "platform.h"

struct fixture {
	struct bus pio;
	struct bus mmio;
	struct device *devs;
	struct platform_sink sink;
	unsigned int events[3];
	unsigned int nr_events;
};

static void record_event(void *opaque, enum platform_event ev)
{
	struct fixture *f = opaque;

	assert_true((unsigned int)ev < ARRAY_SIZE(f->events));
	f->events[ev]++;
	f->nr_events++;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	bus_init(&f->pio, "pio");
	bus_init(&f->mmio, "mmio");
	f->sink = (struct platform_sink){ .event = record_event, .opaque = f };
	if (i8042_create(&f->devs, &f->pio, PORT_I8042_DATA, PORT_I8042_CMD, &f->sink) ||
	    rtc_cmos_create(&f->devs, &f->pio, PORT_RTC) ||
	    pvpanic_create(&f->devs, &f->mmio, LAYOUT_PVPANIC_MMIO, &f->sink) ||
	    acpi_pm_create(&f->devs, &f->pio, &pc_layout.acpi_pm, &f->sink))
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

static uint8_t inb(struct fixture *f, uint16_t port)
{
	uint8_t v = 0;

	assert_int_equal(bus_access(&f->pio, port, &v, 1, false), 0);
	return v;
}

static void outb(struct fixture *f, uint16_t port, uint8_t v)
{
	assert_int_equal(bus_access(&f->pio, port, &v, 1, true), 0);
}

/* --- devices_destroy --- */

struct fake_dev {
	struct device dev;
	int id;
	int *order;
	int *n;
};

static void fake_destroy(struct device *dev)
{
	struct fake_dev *d = container_of(dev, struct fake_dev, dev);

	d->order[(*d->n)++] = d->id;
}

static void test_destroy_order(void **state)
{
	struct fake_dev devs[3];
	struct device *list = NULL;
	int order[3] = { 0 }, n = 0;

	for (int i = 0; i < 3; i++) {
		devs[i] = (struct fake_dev){
			.dev = { .name = "fake", .destroy = fake_destroy, .next = list },
			.id = i + 1, .order = order, .n = &n,
		};
		list = &devs[i].dev;
	}
	devices_destroy(&list);
	assert_null(list);
	assert_int_equal(n, 3);
	assert_int_equal(order[0], 3);
	assert_int_equal(order[1], 2);
	assert_int_equal(order[2], 1);

	/* An empty list is fine. */
	devices_destroy(&list);
	assert_int_equal(n, 3);
}

static void test_list_order(void **state)
{
	struct fixture *f = *state;
	static const char *const names[] = { "acpi-pm", "pvpanic", "rtc-cmos", "i8042" };
	struct device *d = f->devs;

	for (size_t i = 0; i < ARRAY_SIZE(names); i++, d = d->next) {
		assert_non_null(d);
		assert_string_equal(d->name, names[i]);
		assert_non_null(d->destroy);
	}
	assert_null(d);
}

/* --- i8042 --- */

#define I8042_OBF 0x01
#define I8042_IBF 0x02
#define I8042_CMD 0x08
#define I8042_KEYLOCK 0x10
#define I8042_AUXDATA 0x20

static void test_i8042_reset(void **state)
{
	struct fixture *f = *state;

	outb(f, PORT_I8042_CMD, 0xff); /* pulse nothing */
	assert_int_equal(f->nr_events, 0);
	outb(f, PORT_I8042_CMD, 0xfe);
	assert_int_equal(f->events[PLATFORM_RESET], 1);
	assert_int_equal(f->nr_events, 1);

	/* Writing the output port with the reset line low resets too. */
	outb(f, PORT_I8042_CMD, 0xd1);
	outb(f, PORT_I8042_DATA, 0x03);
	assert_int_equal(f->nr_events, 1);
	outb(f, PORT_I8042_CMD, 0xd0);
	assert_int_equal(inb(f, PORT_I8042_DATA), 0x03);
	outb(f, PORT_I8042_CMD, 0xd1);
	outb(f, PORT_I8042_DATA, 0x02);
	assert_int_equal(f->events[PLATFORM_RESET], 2);
	assert_int_equal(f->nr_events, 2);
}

static void test_i8042_probe(void **state)
{
	struct fixture *f = *state;
	uint8_t st, ctr;

	/* Linux's kb_wait() and i8042_wait_write(): the input buffer is never full. */
	st = inb(f, PORT_I8042_CMD);
	assert_int_equal(st & (I8042_IBF | I8042_OBF), 0);
	assert_true(st & I8042_KEYLOCK);

	outb(f, PORT_I8042_CMD, 0xaa);
	st = inb(f, PORT_I8042_CMD);
	assert_true(st & I8042_OBF);
	assert_true(st & I8042_CMD);
	assert_int_equal(inb(f, PORT_I8042_DATA), 0x55);
	assert_false(inb(f, PORT_I8042_CMD) & I8042_OBF);

	outb(f, PORT_I8042_CMD, 0x20);
	ctr = inb(f, PORT_I8042_DATA);
	assert_true(ctr & 0x04); /* system flag after the self test */

	outb(f, PORT_I8042_CMD, 0x60);
	outb(f, PORT_I8042_DATA, 0x65);
	assert_false(inb(f, PORT_I8042_CMD) & I8042_CMD);
	outb(f, PORT_I8042_CMD, 0x20);
	assert_int_equal(inb(f, PORT_I8042_DATA), 0x65);

	/* Port enable and disable commands move the CTR bits. */
	outb(f, PORT_I8042_CMD, 0xa8);
	outb(f, PORT_I8042_CMD, 0xae);
	outb(f, PORT_I8042_CMD, 0x20);
	assert_int_equal(inb(f, PORT_I8042_DATA), 0x45);
	outb(f, PORT_I8042_CMD, 0xa7);
	outb(f, PORT_I8042_CMD, 0xad);
	outb(f, PORT_I8042_CMD, 0x20);
	assert_int_equal(inb(f, PORT_I8042_DATA), 0x75);

	/* The keyboard interface test passes; the AUX loop answers without AUXDATA. */
	outb(f, PORT_I8042_CMD, 0xab);
	assert_int_equal(inb(f, PORT_I8042_DATA), 0x00);
	outb(f, PORT_I8042_CMD, 0xd3);
	outb(f, PORT_I8042_DATA, 0x5a);
	st = inb(f, PORT_I8042_CMD);
	assert_true(st & I8042_OBF);
	assert_false(st & I8042_AUXDATA);
	assert_int_equal(inb(f, PORT_I8042_DATA), 0x5a);
	outb(f, PORT_I8042_CMD, 0xa9);
	assert_int_not_equal(inb(f, PORT_I8042_DATA), 0x00);

	/* Data written with no command pending goes nowhere. */
	outb(f, PORT_I8042_DATA, 0xf2);
	assert_false(inb(f, PORT_I8042_CMD) & I8042_OBF);
	assert_int_equal(f->nr_events, 0);
}

static void test_i8042_odd_widths(void **state)
{
	struct fixture *f = *state;
	uint8_t data[2] = { 0xfe, 0 };

	assert_int_equal(bus_access(&f->pio, PORT_I8042_CMD, data, 2, true), 0);
	assert_int_equal(f->nr_events, 0);
	assert_int_equal(bus_access(&f->pio, PORT_I8042_CMD, data, 2, false), 0);
	assert_int_equal(data[0], 0xff);
	assert_int_equal(data[1], 0xff);
	/* Ports 0x61..0x63 are not the controller's. */
	assert_int_equal(bus_access(&f->pio, PORT_I8042_DATA + 1, data, 1, false), -ENOENT);
}

/* --- CMOS RTC --- */

#define RTC_INDEX PORT_RTC
#define RTC_DATA (PORT_RTC + 1)

static uint8_t cmos(struct fixture *f, uint8_t reg)
{
	outb(f, RTC_INDEX, reg);
	return inb(f, RTC_DATA);
}

static unsigned int bcd(uint8_t v)
{
	assert_true((v & 0x0f) <= 9);
	assert_true((v >> 4) <= 9);
	return (v >> 4) * 10 + (v & 0x0f);
}

struct rtc_time {
	unsigned int sec, min, hour, wday, mday, mon, year, century;
};

static void read_rtc(struct fixture *f, struct rtc_time *t, bool binary)
{
	uint8_t r[8];
	static const uint8_t regs[8] = { 0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32 };

	for (int i = 0; i < 8; i++) {
		r[i] = cmos(f, regs[i]);
		if (!binary)
			bcd(r[i] & (i == 2 ? 0x7f : 0xff)); /* asserts valid BCD */
	}
	t->sec = binary ? r[0] : bcd(r[0]);
	t->min = binary ? r[1] : bcd(r[1]);
	t->hour = r[2];
	t->wday = binary ? r[3] : bcd(r[3]);
	t->mday = binary ? r[4] : bcd(r[4]);
	t->mon = binary ? r[5] : bcd(r[5]);
	t->year = binary ? r[6] : bcd(r[6]);
	t->century = binary ? r[7] : bcd(r[7]);
}

/* Reads the RTC between two host clock reads that agree to the second. */
static void read_rtc_stable(struct fixture *f, struct rtc_time *t, struct tm *tm, bool binary)
{
	/*
	 * CLOCK_REALTIME, as the RTC reads it: time() may be the coarse clock, a tick
	 * behind, which near a second's end still names the second before.
	 */
	for (int tries = 0; tries < 5; tries++) {
		struct timespec ts;
		time_t before, after;

		clock_gettime(CLOCK_REALTIME, &ts);
		before = ts.tv_sec;
		read_rtc(f, t, binary);
		clock_gettime(CLOCK_REALTIME, &ts);
		after = ts.tv_sec;
		if (before == after) {
			gmtime_r(&before, tm);
			return;
		}
	}
	fail_msg("the host clock kept changing second");
}

static void check_date(const struct rtc_time *t, const struct tm *tm)
{
	assert_int_equal(t->sec, tm->tm_sec);
	assert_int_equal(t->min, tm->tm_min);
	assert_int_equal(t->wday, tm->tm_wday + 1);
	assert_int_equal(t->mday, tm->tm_mday);
	assert_int_equal(t->mon, tm->tm_mon + 1);
	assert_int_equal(t->year, (tm->tm_year + 1900) % 100);
	assert_int_equal(t->century, (tm->tm_year + 1900) / 100);
}

static void test_rtc_bcd_default(void **state)
{
	struct fixture *f = *state;
	struct rtc_time t;
	struct tm tm;

	assert_int_equal(cmos(f, 0x0b), 0x02); /* 24 hours, BCD */
	read_rtc_stable(f, &t, &tm, false);
	check_date(&t, &tm);
	assert_int_equal(bcd((uint8_t)t.hour), tm.tm_hour);
}

static void test_rtc_binary(void **state)
{
	struct fixture *f = *state;
	struct rtc_time t;
	struct tm tm;

	outb(f, RTC_INDEX, 0x0b);
	outb(f, RTC_DATA, 0x06);
	assert_int_equal(cmos(f, 0x0b), 0x06);
	read_rtc_stable(f, &t, &tm, true);
	check_date(&t, &tm);
	assert_int_equal(t.hour, tm.tm_hour);
}

static void test_rtc_12_hours(void **state)
{
	struct fixture *f = *state;
	struct rtc_time t;
	struct tm tm;
	unsigned int want;

	outb(f, RTC_INDEX, 0x0b);
	outb(f, RTC_DATA, 0x04); /* binary, 12 hours */
	read_rtc_stable(f, &t, &tm, true);
	want = tm.tm_hour % 12 ? (unsigned int)tm.tm_hour % 12 : 12;
	assert_int_equal(t.hour & 0x7f, want);
	assert_int_equal(!!(t.hour & 0x80), tm.tm_hour >= 12);
}

static void test_rtc_status_and_ram(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(cmos(f, 0x0a) & 0x80, 0); /* never updating */
	assert_int_equal(cmos(f, 0x0a), 0x26);
	assert_int_equal(cmos(f, 0x0c), 0);
	assert_int_equal(cmos(f, 0x0d), 0x80); /* valid RAM and time */

	/* UIP, C and D are read only. */
	outb(f, RTC_INDEX, 0x0a);
	outb(f, RTC_DATA, 0xa6);
	assert_int_equal(cmos(f, 0x0a), 0x26);
	outb(f, RTC_INDEX, 0x0d);
	outb(f, RTC_DATA, 0x00);
	assert_int_equal(cmos(f, 0x0d), 0x80);

	/* The NMI bit of the index is masked off. */
	outb(f, RTC_INDEX, 0x80 | 0x0b);
	assert_int_equal(inb(f, RTC_DATA), 0x02);

	/* General RAM, up to the last byte, including the alarm registers. */
	outb(f, RTC_INDEX, 0x40);
	outb(f, RTC_DATA, 0x5a);
	outb(f, RTC_INDEX, 0x7f);
	outb(f, RTC_DATA, 0xa5);
	outb(f, RTC_INDEX, 0x01);
	outb(f, RTC_DATA, 0x33);
	assert_int_equal(cmos(f, 0x40), 0x5a);
	assert_int_equal(cmos(f, 0x7f), 0xa5);
	assert_int_equal(cmos(f, 0x01), 0x33);
	assert_int_equal(cmos(f, 0x41), 0x00);
	outb(f, RTC_INDEX, 0xff); /* index 0x7f, not beyond */
	assert_int_equal(inb(f, RTC_DATA), 0xa5);

	/* The guest cannot set the clock. */
	outb(f, RTC_INDEX, 0x09);
	outb(f, RTC_DATA, 0x99);
	assert_int_not_equal(cmos(f, 0x09), 0x99);
	outb(f, RTC_INDEX, 0x32);
	outb(f, RTC_DATA, 0x19);
	assert_int_equal(cmos(f, 0x32), 0x20);
}

static void test_rtc_odd_accesses(void **state)
{
	struct fixture *f = *state;
	uint8_t data[2] = { 0x40, 0 };

	assert_int_equal(inb(f, RTC_INDEX), 0xff);
	outb(f, RTC_INDEX, 0x40);
	outb(f, RTC_DATA, 0x11);
	/* A wide write to the index port does not move the index. */
	data[0] = 0x41;
	assert_int_equal(bus_access(&f->pio, RTC_INDEX, data, 2, true), 0);
	assert_int_equal(inb(f, RTC_DATA), 0x11);
	assert_int_equal(bus_access(&f->pio, RTC_DATA, data, 2, false), 0);
	assert_int_equal(data[0], 0xff);
	assert_int_equal(data[1], 0xff);
}

/* --- pvpanic --- */

static void test_pvpanic(void **state)
{
	struct fixture *f = *state;
	uint8_t v = 0;

	assert_int_equal(bus_access(&f->mmio, LAYOUT_PVPANIC_MMIO, &v, 1, false), 0);
	assert_int_equal(v, 0x03);
	assert_int_equal(bus_access(&f->mmio, LAYOUT_PVPANIC_MMIO + 1, &v, 1, false), 0);
	assert_int_equal(v, 0x00);

	v = 0x02; /* crash loaded: logged only */
	assert_int_equal(bus_access(&f->mmio, LAYOUT_PVPANIC_MMIO, &v, 1, true), 0);
	v = 0x00;
	assert_int_equal(bus_access(&f->mmio, LAYOUT_PVPANIC_MMIO, &v, 1, true), 0);
	v = 0x01;
	assert_int_equal(bus_access(&f->mmio, LAYOUT_PVPANIC_MMIO + 1, &v, 1, true), 0);
	assert_int_equal(f->nr_events, 0);

	v = 0x01;
	assert_int_equal(bus_access(&f->mmio, LAYOUT_PVPANIC_MMIO, &v, 1, true), 0);
	assert_int_equal(f->events[PLATFORM_PANIC], 1);
	v = 0x03;
	assert_int_equal(bus_access(&f->mmio, LAYOUT_PVPANIC_MMIO, &v, 1, true), 0);
	assert_int_equal(f->events[PLATFORM_PANIC], 2);
	assert_int_equal(f->nr_events, 2);

	/* Two bytes, no more. */
	assert_int_equal(bus_access(&f->mmio, LAYOUT_PVPANIC_MMIO + 2, &v, 1, false), -ENOENT);
}

/* --- ACPI sleep and reset registers --- */

static void test_acpi_s5(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(inb(f, PORT_ACPI_SLEEP_CTL), 0);
	assert_int_equal(inb(f, PORT_ACPI_SLEEP_STS), 0);
	assert_int_equal(inb(f, PORT_ACPI_RESET), 0);

	/* S5 type without SLP_EN, other types with it: nothing. */
	outb(f, PORT_ACPI_SLEEP_CTL, ACPI_S5_SLP_TYP << 2);
	outb(f, PORT_ACPI_SLEEP_CTL, 0x20 | (3 << 2));
	outb(f, PORT_ACPI_SLEEP_CTL, 0x20);
	outb(f, PORT_ACPI_SLEEP_STS, 0x20 | (ACPI_S5_SLP_TYP << 2));
	assert_int_equal(f->nr_events, 0);

	outb(f, PORT_ACPI_SLEEP_CTL, 0x20 | (ACPI_S5_SLP_TYP << 2));
	assert_int_equal(f->events[PLATFORM_POWEROFF], 1);
	/* Bits outside SLP_TYP and SLP_EN do not matter. */
	outb(f, PORT_ACPI_SLEEP_CTL, 0x80 | 0x20 | (ACPI_S5_SLP_TYP << 2) | 0x01);
	assert_int_equal(f->events[PLATFORM_POWEROFF], 2);
	assert_int_equal(f->nr_events, 2);
}

static void test_acpi_reset(void **state)
{
	struct fixture *f = *state;
	uint8_t data[2] = { 0x20 | (ACPI_S5_SLP_TYP << 2), 0 };

	outb(f, PORT_ACPI_RESET, 0x00);
	outb(f, PORT_ACPI_RESET, ACPI_RESET_VALUE + 1);
	assert_int_equal(f->nr_events, 0);
	outb(f, PORT_ACPI_RESET, ACPI_RESET_VALUE);
	assert_int_equal(f->events[PLATFORM_RESET], 1);
	assert_int_equal(f->nr_events, 1);

	/* Wide accesses: writes ignored, reads all ones. */
	assert_int_equal(bus_access(&f->pio, PORT_ACPI_SLEEP_CTL, data, 2, true), 0);
	data[0] = ACPI_RESET_VALUE;
	assert_int_equal(bus_access(&f->pio, PORT_ACPI_RESET, data, 2, true), 0);
	assert_int_equal(f->nr_events, 1);
	assert_int_equal(bus_access(&f->pio, PORT_ACPI_SLEEP_STS, data, 2, false), 0);
	assert_int_equal(data[0], 0xff);
	assert_int_equal(data[1], 0xff);
}

static void test_no_sink(void **state)
{
	struct bus pio;
	struct device *list = NULL;
	struct platform_sink none = { 0 };
	uint8_t v = 0xfe;

	bus_init(&pio, "pio");
	assert_int_equal(i8042_create(&list, &pio, PORT_I8042_DATA, PORT_I8042_CMD, &none), 0);
	assert_int_equal(acpi_pm_create(&list, &pio, &pc_layout.acpi_pm, &none), 0);
	/* A second i8042 on the same ports is refused and not listed. */
	assert_int_equal(i8042_create(&list, &pio, PORT_I8042_DATA, PORT_I8042_CMD, &none),
			 -EEXIST);
	assert_string_equal(list->name, "acpi-pm");
	assert_int_equal(bus_access(&pio, PORT_I8042_CMD, &v, 1, true), 0);
	v = ACPI_RESET_VALUE;
	assert_int_equal(bus_access(&pio, PORT_ACPI_RESET, &v, 1, true), 0);
	devices_destroy(&list);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_destroy_order),
		cmocka_unit_test_setup_teardown(test_list_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_i8042_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_i8042_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_i8042_odd_widths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rtc_bcd_default, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rtc_binary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rtc_12_hours, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rtc_status_and_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rtc_odd_accesses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pvpanic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_acpi_s5, setup, teardown),
		cmocka_unit_test_setup_teardown(test_acpi_reset, setup, teardown),
		cmocka_unit_test(test_no_sink),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
