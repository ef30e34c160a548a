// SPDX-License-Identifier: Apache-2.0
/*
 * The 16550A UART through the PIO bus: registers, divisor latch, interrupt
 * identification and priorities, the IRQ line's exact transitions, the FIFO,
 * loopback, odd accesses, output to the console and input from it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"
#include "loop_thread.h"
#include "test_stdio.h"

#include "backend/console.h"
#include "kvmrun/bus.h"
#include "kvmrun/event_loop.h"
#include "kvmrun/irq.h"
#include "platform.h"

#define BASE 0x3f8
#define RBR 0
#define THR 0
#define DLL 0
#define IER 1
#define DLM 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

struct fixture {
	struct bus pio;
	struct device *devs;
	struct irq_line irq;
	bool level;
	unsigned int irq_calls;
	struct loop_thread lt;
	struct console *con;
	char log_path[64];
	struct test_stdio io;
};

static int fake_set_level(void *opaque, uint32_t gsi, bool level)
{
	struct fixture *f = opaque;

	assert_int_equal(gsi, 4);
	f->level = level;
	f->irq_calls++;
	return 0;
}

static uint8_t rd(struct fixture *f, unsigned int reg)
{
	uint8_t v = 0;

	assert_int_equal(bus_access(&f->pio, BASE + reg, &v, 1, false), 0);
	return v;
}

static void wr(struct fixture *f, unsigned int reg, uint8_t v)
{
	assert_int_equal(bus_access(&f->pio, BASE + reg, &v, 1, true), 0);
}

/* A UART whose console writes only to a log file (no stdio). */
static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	test_stdio_init(&f->io);
	bus_init(&f->pio, "pio");
	f->irq = (struct irq_line){ .set_level = fake_set_level, .opaque = f, .gsi = 4 };
	loop_thread_create(&f->lt);
	test_log_path(f->log_path, sizeof(f->log_path), "serial");
	if (console_create(&f->con, f->lt.loop, false, f->log_path, UINT64_MAX, NULL, NULL))
		return -1;
	if (serial_8250_create(&f->devs, &f->pio, BASE, &f->irq, f->con))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	loop_thread_stop(&f->lt);
	devices_destroy(&f->devs);
	console_destroy(f->con);
	ev_loop_destroy(f->lt.loop);
	test_stdio_restore(&f->io);
	unlink(f->log_path);
	free(f);
	return 0;
}

static size_t log_contents(struct fixture *f, char *buf, size_t size)
{
	return test_read_file(f->log_path, buf, size);
}

static void test_reset_state(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(rd(f, IER), 0);
	assert_int_equal(rd(f, IIR), 0x01);
	assert_int_equal(rd(f, LSR), 0x60);
	assert_int_equal(rd(f, MCR), 0);
	assert_int_equal(rd(f, MSR), 0xb0); /* DCD, DSR, CTS, no deltas */
	assert_int_equal(f->irq_calls, 0);
}

static void test_divisor_latch(void **state)
{
	struct fixture *f = *state;
	char buf[16];

	wr(f, LCR, 0x83);
	wr(f, DLL, 0x01);
	wr(f, DLM, 0x02);
	assert_int_equal(rd(f, DLL), 0x01);
	assert_int_equal(rd(f, DLM), 0x02);
	assert_int_equal(rd(f, LCR), 0x83);

	/* Back to the normal registers: the latch is not IER, nor output. */
	wr(f, LCR, 0x03);
	assert_int_equal(rd(f, IER), 0);
	wr(f, IER, 0x05);
	assert_int_equal(rd(f, IER), 0x05);
	wr(f, IER, 0xff);
	assert_int_equal(rd(f, IER), 0x0f); /* only four enable bits */
	wr(f, LCR, 0x80);
	assert_int_equal(rd(f, DLL), 0x01);
	assert_int_equal(rd(f, DLM), 0x02);
	assert_int_equal(log_contents(f, buf, sizeof(buf)), 0);
}

static void test_output_to_console(void **state)
{
	struct fixture *f = *state;
	char buf[16];

	wr(f, THR, 'h');
	wr(f, THR, 'i');
	assert_int_equal(rd(f, LSR) & 0x60, 0x60); /* THRE and TEMT at once */
	assert_int_equal(log_contents(f, buf, sizeof(buf)), 2);
	assert_memory_equal(buf, "hi", 2);

	/* In loopback the byte comes back in, and is not sent out. */
	wr(f, MCR, MCR_LOOP);
	wr(f, THR, 'z');
	assert_int_equal(rd(f, LSR), 0x61);
	assert_int_equal(rd(f, RBR), 'z');
	assert_int_equal(rd(f, LSR), 0x60);
	assert_int_equal(log_contents(f, buf, sizeof(buf)), 2);
}

static void test_scratch(void **state)
{
	struct fixture *f = *state;

	wr(f, SCR, 0xa5);
	assert_int_equal(rd(f, SCR), 0xa5);
	wr(f, SCR, 0x5a);
	assert_int_equal(rd(f, SCR), 0x5a);
}

static void test_iir_priorities(void **state)
{
	struct fixture *f = *state;

	wr(f, MCR, MCR_LOOP | MCR_OUT2);
	(void)rd(f, MSR); /* clear the deltas entering loopback made */
	wr(f, IER, 0x0f);

	/* THRE pending since IER.ETBEI went up; reading IIR clears it. */
	assert_int_equal(rd(f, IIR), 0x02);
	assert_int_equal(rd(f, IIR), 0x01);

	/* A modem status change is the lowest priority. */
	wr(f, MCR, MCR_LOOP | MCR_OUT2 | MCR_RTS);
	assert_int_equal(rd(f, IIR), 0x00);
	assert_int_equal(rd(f, MSR) & 0x1f, 0x11); /* CTS and delta CTS */
	assert_int_equal(rd(f, IIR), 0x01);

	/* Received data beats THRE; an overrun beats received data. */
	wr(f, THR, 'a');
	assert_int_equal(rd(f, IIR), 0x04);
	wr(f, THR, 'b'); /* no FIFO: a one byte receiver, overrun */
	assert_int_equal(rd(f, IIR), 0x06);
	assert_int_equal(rd(f, LSR), 0x63); /* OE, reported once */
	assert_int_equal(rd(f, LSR), 0x61);
	assert_int_equal(rd(f, IIR), 0x04);
	assert_int_equal(rd(f, RBR), 'a');
	assert_int_equal(rd(f, LSR), 0x60);
	/* THRE from the writes, once. */
	assert_int_equal(rd(f, IIR), 0x02);
	assert_int_equal(rd(f, IIR), 0x01);
	/* The RBR read again gives the last byte. */
	assert_int_equal(rd(f, RBR), 'a');

	/* Disabled interrupts are not reported. */
	wr(f, IER, 0);
	wr(f, THR, 'c');
	assert_int_equal(rd(f, IIR), 0x01);
	assert_int_equal(rd(f, LSR) & 0x01, 0x01);
}

static void test_linux_thre_test(void **state)
{
	struct fixture *f = *state;
	uint8_t iir, iir1, lsr;

	/* serial8250_do_startup(): the UART_BUG_THRE test. */
	wr(f, IER, 0x02);
	iir1 = rd(f, IIR);
	wr(f, IER, 0);
	wr(f, IER, 0x02);
	iir = rd(f, IIR);
	wr(f, IER, 0);
	assert_int_equal(iir1 & 0x01, 0);
	assert_int_equal(iir & 0x01, 0);
	assert_int_equal(iir, 0x02);

	/* The UART_BUG_TXEN test: THRE shows with TEMT. */
	wr(f, IER, 0x02);
	lsr = rd(f, LSR);
	iir = rd(f, IIR);
	wr(f, IER, 0);
	assert_true(lsr & 0x40);
	assert_int_equal(iir & 0x01, 0);

	/* Setting ETBEI when it is already set raises nothing new. */
	wr(f, IER, 0x02);
	assert_int_equal(rd(f, IIR), 0x02);
	wr(f, IER, 0x02);
	assert_int_equal(rd(f, IIR), 0x01);
}

static void test_irq_line(void **state)
{
	struct fixture *f = *state;

	/* Pending but OUT2 low: the line stays low and untouched. */
	wr(f, IER, 0x02);
	assert_int_equal(f->irq_calls, 0);

	wr(f, MCR, MCR_OUT2);
	assert_int_equal(f->irq_calls, 1);
	assert_true(f->level);

	/* Accesses that change nothing do not touch the line. */
	wr(f, SCR, 1);
	wr(f, IER, 0x02);
	(void)rd(f, LSR);
	assert_int_equal(f->irq_calls, 1);

	assert_int_equal(rd(f, IIR), 0x02);
	assert_int_equal(f->irq_calls, 2);
	assert_false(f->level);

	/* Each transmitted byte raises it again. */
	wr(f, THR, 'x');
	assert_int_equal(f->irq_calls, 3);
	assert_true(f->level);
	wr(f, THR, 'y');
	assert_int_equal(f->irq_calls, 3);

	/* OUT2 gates it; disabling the interrupt lowers it. */
	wr(f, MCR, 0);
	assert_int_equal(f->irq_calls, 4);
	assert_false(f->level);
	wr(f, MCR, MCR_OUT2);
	assert_int_equal(f->irq_calls, 5);
	assert_true(f->level);
	wr(f, IER, 0);
	assert_int_equal(f->irq_calls, 6);
	assert_false(f->level);

	/* Received data: up while unread, down once read. */
	wr(f, MCR, MCR_OUT2 | MCR_LOOP);
	(void)rd(f, MSR);
	wr(f, IER, 0x01);
	assert_int_equal(f->irq_calls, 6);
	wr(f, THR, 'q');
	assert_int_equal(f->irq_calls, 7);
	assert_true(f->level);
	assert_int_equal(rd(f, RBR), 'q');
	assert_int_equal(f->irq_calls, 8);
	assert_false(f->level);
}

static void test_fifo(void **state)
{
	struct fixture *f = *state;
	char want[16];

	wr(f, MCR, MCR_LOOP);
	wr(f, IER, 0x01);
	wr(f, FCR, 0xc1); /* enable, trigger level 14 */
	assert_int_equal(rd(f, IIR), 0xc1);

	for (int i = 0; i < 5; i++)
		wr(f, THR, (uint8_t)('A' + i));
	assert_int_equal(rd(f, IIR), 0xcc); /* below the trigger level: timeout */
	for (int i = 5; i < 14; i++)
		wr(f, THR, (uint8_t)('A' + i));
	assert_int_equal(rd(f, IIR), 0xc4);
	wr(f, THR, 'O');
	wr(f, THR, 'P');
	assert_int_equal(rd(f, LSR), 0x61); /* 16 bytes: full, no overrun */
	wr(f, THR, '!');
	assert_int_equal(rd(f, LSR), 0x63);

	for (int i = 0; i < 16; i++)
		want[i] = (char)('A' + i);
	for (int i = 0; i < 16; i++)
		assert_int_equal(rd(f, RBR), (uint8_t)want[i]);
	assert_int_equal(rd(f, LSR), 0x60);
	assert_int_equal(rd(f, IIR), 0xc1);

	/* Clear the receiver. */
	wr(f, THR, '1');
	wr(f, THR, '2');
	wr(f, FCR, 0xc3);
	assert_int_equal(rd(f, LSR), 0x60);
	assert_int_equal(rd(f, IIR), 0xc1);

	/* Trigger level 4. */
	wr(f, FCR, 0x41);
	for (int i = 0; i < 3; i++)
		wr(f, THR, 'x');
	assert_int_equal(rd(f, IIR), 0xcc);
	wr(f, THR, 'x');
	assert_int_equal(rd(f, IIR), 0xc4);

	/* Disabling the FIFO clears it and the IIR FIFO bits. */
	wr(f, FCR, 0x00);
	assert_int_equal(rd(f, IIR), 0x01);
	assert_int_equal(rd(f, LSR), 0x60);
	wr(f, THR, 'y');
	wr(f, THR, 'z');
	assert_int_equal(rd(f, LSR), 0x63); /* back to one byte */

	/* Re-enabling starts from an empty FIFO. */
	wr(f, FCR, 0x01);
	assert_int_equal(rd(f, LSR), 0x60);
	assert_int_equal(rd(f, IIR), 0xc1);
}

static void test_loopback_modem_lines(void **state)
{
	struct fixture *f = *state;

	/* Linux's autoconfig loopback check: LOOP | OUT2 | RTS gives 0x90. */
	wr(f, MCR, MCR_LOOP | 0x0a);
	assert_int_equal(rd(f, MSR) & 0xf0, 0x90);
	wr(f, MCR, MCR_LOOP | MCR_DTR | MCR_OUT1);
	assert_int_equal(rd(f, MSR), 0x6b); /* DSR RI; delta CTS, DSR, DCD */
	wr(f, MCR, MCR_LOOP | MCR_DTR);
	assert_int_equal(rd(f, MSR), 0x24); /* RI fell: trailing edge */
	assert_int_equal(rd(f, MSR), 0x20);
	wr(f, MCR, 0);
	assert_int_equal(rd(f, MSR) & 0xf0, 0xb0);
	assert_int_equal(rd(f, MCR), 0);
	wr(f, MCR, 0xff);
	assert_int_equal(rd(f, MCR), 0x1f);
}

static void test_odd_accesses(void **state)
{
	struct fixture *f = *state;
	uint8_t data[4];
	char buf[16];

	memset(data, 0, sizeof(data));
	assert_int_equal(bus_access(&f->pio, BASE, data, 2, false), 0);
	assert_int_equal(data[0], 0xff);
	assert_int_equal(data[1], 0xff);
	assert_int_equal(bus_access(&f->pio, BASE + 4, data, 4, false), 0);
	assert_memory_equal(data, "\xff\xff\xff\xff", 4);

	/* Wide writes change nothing and send nothing. */
	data[0] = 0x80;
	data[1] = 0;
	assert_int_equal(bus_access(&f->pio, BASE + LCR, data, 2, true), 0);
	assert_int_equal(rd(f, LCR), 0x03);
	data[0] = 'w';
	assert_int_equal(bus_access(&f->pio, BASE, data, 4, true), 0);
	assert_int_equal(log_contents(f, buf, sizeof(buf)), 0);

	/* Writes to LSR and MSR are ignored. */
	wr(f, LSR, 0x01);
	wr(f, MSR, 0x0f);
	assert_int_equal(rd(f, LSR), 0x60);
	assert_int_equal(rd(f, MSR), 0xb0);

	/* The range is eight ports. */
	assert_int_equal(bus_access(&f->pio, BASE + 8, data, 1, false), -ENOENT);
	assert_int_equal(f->irq_calls, 0);
}

static void test_bus_refuses_overlap(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(serial_8250_create(&f->devs, &f->pio, BASE + 4, &f->irq, NULL), -EEXIST);
	assert_string_equal(f->devs->name, "serial-8250");
	assert_null(f->devs->next);
}

/* --- input from the console, through the event loop --- */

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)ms * 1000000L };

	nanosleep(&ts, NULL);
}

static bool wait_lsr_dr(struct fixture *f)
{
	for (int i = 0; i < 3000; i++) {
		if (rd(f, LSR) & 0x01)
			return true;
		sleep_ms(1);
	}
	return false;
}

static int setup_stdio(void **state, bool full_stdout)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	test_stdio_init(&f->io);
	test_stdin_pipe(&f->io);
	f->log_path[0] = '\0';
	if (full_stdout)
		test_stdout_full_pipe(&f->io);
	bus_init(&f->pio, "pio");
	f->irq = (struct irq_line){ .set_level = fake_set_level, .opaque = f, .gsi = 4 };
	loop_thread_create(&f->lt);
	if (console_create(&f->con, f->lt.loop, true, NULL, UINT64_MAX, NULL, NULL))
		return -1;
	if (serial_8250_create(&f->devs, &f->pio, BASE, &f->irq, f->con))
		return -1;
	loop_thread_start(&f->lt);
	*state = f;
	return 0;
}

static int setup_stdin(void **state)
{
	return setup_stdio(state, false);
}

static void test_console_input_flow(void **state)
{
	struct fixture *f = *state;
	static const char msg[] = "ABCDEFGHIJKLMNOPQRST";
	char got[32];
	size_t n = 0;

	wr(f, FCR, 0xc1);
	wr(f, IER, 0x01);
	wr(f, MCR, MCR_OUT2);
	assert_int_equal(write(f->io.in_w, msg, 20), 20);

	assert_true(wait_lsr_dr(f));
	/* The FIFO takes 16; the console keeps the other 4 until it drains. */
	sleep_ms(30);
	assert_true(f->level);
	assert_int_equal(rd(f, IIR), 0xc4);
	/* Draining the FIFO lets the console push the rest at any moment. */
	while (n < 16) {
		assert_int_equal(rd(f, LSR) & 0x01, 0x01);
		got[n++] = (char)rd(f, RBR);
	}
	assert_memory_equal(got, msg, 16);

	assert_true(wait_lsr_dr(f));
	sleep_ms(30);
	assert_int_equal(rd(f, IIR), 0xcc); /* 4 bytes: below the trigger level */
	while ((rd(f, LSR) & 0x01) && n < sizeof(got))
		got[n++] = (char)rd(f, RBR);
	assert_int_equal(n, 20);
	assert_memory_equal(got, msg, 20);
	assert_false(f->level);
}

/* stdin a pipe, stdout a full non-blocking pipe (read end in out_r, what fills it in out_fill). */
static int setup_full_stdout(void **state)
{
	return setup_stdio(state, true);
}

static uint8_t tx_pattern(size_t i)
{
	return (uint8_t)(i * 5 + i / 253);
}

/*
 * Drains the full stdout: what filled it, then the @sent bytes the UART took, the
 * pattern's and a last 'Z', in order; then waits for THRE.
 */
static void drain_and_check(struct fixture *f, size_t sent)
{
	size_t total = f->io.out_fill + sent;
	uint8_t *got = malloc(total);

	assert_non_null(got);
	alarm(10);
	for (size_t n = 0; n < total;) {
		ssize_t r = read(f->io.out_r, got + n, total - n);

		assert_true(r > 0);
		n += (size_t)r;
	}
	alarm(0);
	for (size_t i = 0; i + 1 < sent; i++)
		if (got[f->io.out_fill + i] != tx_pattern(i))
			fail_msg("byte %zu of the output differs", i);
	assert_int_equal(got[total - 1], 'Z');
	free(got);
	for (int i = 0; i < 3000 && !(rd(f, LSR) & 0x20); i++)
		sleep_ms(1);
}

/*
 * stdout full: the console holds CONSOLE_OUT_BUF bytes, then the UART keeps
 * the next byte in THR with THRE and TEMT clear (a vCPU never waits on the
 * host). Once the reader drains the pipe, the held byte goes out, THRE comes
 * back with its interrupt, and nothing taken is lost or reordered.
 */
static void test_output_back_pressure(void **state)
{
	struct fixture *f = *state;
	size_t sent = 0;

	wr(f, IER, 0x02);
	wr(f, MCR, MCR_OUT2);
	assert_int_equal(rd(f, IIR), 0x02); /* THRE from enabling ETBEI; read clears it */
	/* A hang here (the old wait in poll() on stdout) ends the test by SIGALRM. */
	alarm(10);
	while ((rd(f, LSR) & 0x60) == 0x60 && sent <= CONSOLE_OUT_BUF + 1) {
		wr(f, THR, tx_pattern(sent));
		sent++;
	}
	alarm(0);
	assert_int_equal(sent, CONSOLE_OUT_BUF + 1);
	assert_int_equal(rd(f, LSR), 0x00);
	assert_int_equal(rd(f, IIR), 0x01);
	assert_false(f->level);
	/* A driver that does not wait overwrites the held byte, as on the chip. */
	wr(f, THR, 'Z');
	assert_int_equal(rd(f, LSR) & 0x60, 0);

	drain_and_check(f, sent);
	assert_int_equal(rd(f, LSR), 0x60);
	assert_true(f->level);
	assert_int_equal(rd(f, IIR), 0x02);
	assert_false(f->level);
}

/*
 * With the FIFOs on, Linux writes up to 16 bytes at each THRE without looking at
 * LSR in between: while the console is full, the transmitter holds all 16, in
 * order, and only a 17th replaces the last one held (and is counted lost).
 */
static void test_output_back_pressure_fifo(void **state)
{
	struct fixture *f = *state;
	size_t sent = 0;

	wr(f, FCR, 0x07); /* FIFOs on, both cleared */
	alarm(10);
	while ((rd(f, LSR) & 0x60) == 0x60 && sent <= CONSOLE_OUT_BUF + 1) {
		wr(f, THR, tx_pattern(sent));
		sent++;
	}
	alarm(0);
	assert_int_equal(sent, CONSOLE_OUT_BUF + 1); /* the last one is held */
	for (int i = 1; i < 16; i++) /* a driver's burst: fifteen more fit */
		wr(f, THR, tx_pattern(sent++));
	assert_int_equal(rd(f, LSR) & 0x60, 0);
	wr(f, THR, 'Z'); /* the seventeenth replaces the last held */

	drain_and_check(f, sent);
	assert_int_equal(rd(f, LSR) & 0x60, 0x60);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reset_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_divisor_latch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_to_console, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scratch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iir_priorities, setup, teardown),
		cmocka_unit_test_setup_teardown(test_linux_thre_test, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irq_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loopback_modem_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_accesses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bus_refuses_overlap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_console_input_flow, setup_stdin, teardown),
		cmocka_unit_test_setup_teardown(test_output_back_pressure, setup_full_stdout,
						teardown),
		cmocka_unit_test_setup_teardown(test_output_back_pressure_fifo, setup_full_stdout,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
