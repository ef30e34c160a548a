// SPDX-License-Identifier: Apache-2.0
/*
 * The exit port: a byte write reports its value to the sink; nothing else does.
 * It exists only when the command line asks for it (--exit-port).
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
#include "cli.h"
#include "kvmrun/bus.h"
#include "arch/x86_64/platform_layout.h"
#include "platform.h"

struct fixture {
	struct bus pio;
	struct device *devs;
	struct platform_sink sink;
	int statuses[8];
	unsigned int nr;
	unsigned int events;
};

static void record_exit(void *opaque, int status)
{
	struct fixture *f = opaque;

	assert_true(f->nr < ARRAY_SIZE(f->statuses));
	f->statuses[f->nr++] = status;
}

static void record_event(void *opaque, enum platform_event ev)
{
	struct fixture *f = opaque;

	(void)ev;
	f->events++;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	bus_init(&f->pio, "pio");
	f->sink = (struct platform_sink){ .event = record_event, .exit = record_exit, .opaque = f };
	if (exit_port_create(&f->devs, &f->pio, PORT_EXIT, &f->sink))
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

static void test_byte_write_exits_with_value(void **state)
{
	struct fixture *f = *state;
	static const uint8_t values[] = { 0, 1, 42, 127, 128, 255 };

	for (size_t i = 0; i < ARRAY_SIZE(values); i++) {
		uint8_t v = values[i];

		assert_int_equal(bus_access(&f->pio, PORT_EXIT, &v, 1, true), 0);
		assert_int_equal(f->nr, i + 1);
		assert_int_equal(f->statuses[i], values[i]);
	}
	assert_int_equal(f->events, 0);
}

static void test_other_widths_and_reads_ignored(void **state)
{
	struct fixture *f = *state;
	uint8_t data[8];

	for (uint32_t len = 2; len <= 8; len *= 2) {
		memset(data, 7, sizeof(data));
		assert_int_equal(bus_access(&f->pio, PORT_EXIT, data, len, true), 0);
		memset(data, 0, sizeof(data));
		assert_int_equal(bus_access(&f->pio, PORT_EXIT, data, len, false), 0);
		for (uint32_t i = 0; i < len; i++)
			assert_int_equal(data[i], 0xff);
	}
	data[0] = 0;
	assert_int_equal(bus_access(&f->pio, PORT_EXIT, data, 1, false), 0);
	assert_int_equal(data[0], 0xff);
	assert_int_equal(f->nr, 0);
	/* Only the one port: its neighbours are not claimed. */
	data[0] = 3;
	assert_int_equal(bus_access(&f->pio, PORT_EXIT + 1, data, 1, true), -ENOENT);
	assert_int_equal(bus_access(&f->pio, PORT_EXIT - 1, data, 1, true), -ENOENT);
	assert_int_equal(f->nr, 0);
}

static void test_no_exit_callback(void **state)
{
	struct bus pio;
	struct device *devs = NULL;
	struct platform_sink sink = { 0 };
	uint8_t v = 9;

	(void)state;
	bus_init(&pio, "pio");
	assert_int_equal(exit_port_create(&devs, &pio, PORT_EXIT, &sink), 0);
	assert_int_equal(bus_access(&pio, PORT_EXIT, &v, 1, true), 0);
	/* A second device on the same port is refused. */
	assert_int_not_equal(exit_port_create(&devs, &pio, PORT_EXIT, &sink), 0);
	assert_non_null(devs);
	assert_null(devs->next);
	devices_destroy(&devs);
}

/*
 * From the command line to the bus: the platform devices built from what
 * cli_parse() made of argv, then a guest's byte write of 42 to the port.
 */
static void check_wiring(bool with_option)
{
	char *argv[] = { "kvmrun", "run", "--kernel", "k", with_option ? "--exit-port" : NULL,
			 NULL };
	int argc = with_option ? 5 : 4;
	char cmdline[CLI_CMDLINE_MAX];
	struct vm_config cfg;
	struct fixture f = { 0 };
	struct bus mmio;
	uint8_t v = 42;
	FILE *out = fopen("/dev/null", "w"), *err = fopen("/dev/null", "w");

	assert_non_null(out);
	assert_non_null(err);
	assert_int_equal(cli_parse(argc, argv, &cfg, cmdline, sizeof(cmdline), out, err), CLI_RUN);
	fclose(out);
	fclose(err);
	bus_init(&f.pio, "pio");
	bus_init(&mmio, "mmio");
	f.sink = (struct platform_sink){ .event = record_event, .exit = record_exit, .opaque = &f };
	assert_int_equal(
		platform_create(&f.devs, &f.pio, &mmio, &pc_layout, &f.sink, cfg.exit_port), 0);

	if (with_option) {
		assert_int_equal(bus_access(&f.pio, PORT_EXIT, &v, 1, true), 0);
		assert_int_equal(f.nr, 1);
		assert_int_equal(f.statuses[0], 42);
	} else {
		/* An unclaimed port, like any other: the write goes nowhere, a read sees 0xff. */
		assert_int_equal(bus_access(&f.pio, PORT_EXIT, &v, 1, true), -ENOENT);
		assert_int_equal(f.nr, 0);
		v = 0;
		assert_int_equal(bus_access(&f.pio, PORT_EXIT, &v, 1, false), -ENOENT);
		assert_int_equal(v, 0xff);
	}
	assert_int_equal(f.events, 0);
	/* The other platform devices are there either way: the ACPI reset register. */
	v = ACPI_RESET_VALUE;
	assert_int_equal(bus_access(&f.pio, PORT_ACPI_RESET, &v, 1, true), 0);
	assert_int_equal(f.events, 1);
	devices_destroy(&f.devs);
}

static void test_port_only_with_option(void **state)
{
	(void)state;
	check_wiring(false);
	check_wiring(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_byte_write_exits_with_value, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_widths_and_reads_ignored, setup,
						teardown),
		cmocka_unit_test(test_no_exit_callback),
		cmocka_unit_test(test_port_only_with_option),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
