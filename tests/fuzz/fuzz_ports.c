// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the platform devices a guest reaches with IN and OUT
 * (and one MMIO register): the 16550A UART (THR/RBR, IER, IIR/FCR, LCR, MCR,
 * LSR, MSR, SCR, the divisor latch), the CMOS RTC (index and data), the i8042
 * (data and command), the ACPI sleep and reset registers and pvpanic, on the
 * real port and memory buses. A console stand-in takes the UART's output and
 * feeds it input from the fuzz input. The devices are built for each input.
 *
 * Operation: one byte, bits 0-1 log2 of the width, bit 2 write, bits 3-7 the
 * selector; one offset byte; for a write the value (width bytes). Selector
 * FZ_SEL_INPUT instead pushes the offset byte's worth of the following bytes
 * to the UART as console input, or, with the write bit, lets the console take
 * only the offset byte's worth of output from then on (a full stdout: the UART
 * holds its transmitter busy) and calls the UART back as when stdout drains.
 * The selectors:
 *   0 UART + off % 8   1 RTC + off % 2   2 i8042 (off odd: command port)
 *   3 ACPI 0x600 + off % 4   4 pvpanic + off % 2   5 port off   6 port 0x300 + off
 *   7 console input; 8-31 as 0-7.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/layout.h"
#include "arch/x86_64/platform_layout.h"
#include "backend/console.h"
#include "platform.h"
#include "kvmrun/bus.h"
#include "kvmrun/log.h"
#include "fuzz_target.h"

#define FZ_SEL_INPUT 7
#define FZ_UART_GSI PORT_COM1_IRQ

/* The console as the UART sees it: where input goes, and whether it asked for more. */
struct console {
	console_push_fn push;
	void *opaque;
	bool ready;
	uint64_t out_bytes;
	size_t room;	     /* bytes console_write takes from now on */
	bool refused;	     /* it took fewer than offered at least once */
	console_writer_fn writer; /* called when room returns */
	void *writer_opaque;
};

/* The harness's state; a fuzz target is one process. */
static struct {
	struct bus pio, mmio;
	struct device *list;
	struct console con;
	struct irq_line uart_irq;
	bool uart_level;
	unsigned int events[3];
} fz;

size_t console_write(struct console *con, const uint8_t *buf, size_t len)
{
	size_t n = MIN(len, con->room);

	(void)buf;
	con->room -= n;
	con->out_bytes += n;
	if (n < len)
		con->refused = true;
	return n;
}

int console_add_writer(struct console *con, console_writer_fn fn, void *opaque)
{
	if (con->writer)
		abort(); /* one writer per console here: the UART */
	con->writer = fn;
	con->writer_opaque = opaque;
	return 0;
}

void console_remove_writer(struct console *con, void *opaque)
{
	if (con->writer_opaque == opaque)
		con->writer = NULL;
}

void console_attach(struct console *con, console_push_fn push, void *opaque)
{
	con->push = push;
	con->opaque = opaque;
}

void console_input_ready(struct console *con)
{
	con->ready = true;
}

static int fz_set_level(void *opaque, uint32_t gsi, bool level)
{
	(void)opaque;
	if (gsi != FZ_UART_GSI)
		abort();
	fz.uart_level = level;
	return 0;
}

static void fz_event(void *opaque, enum platform_event ev)
{
	(void)opaque;
	if ((unsigned int)ev >= 3)
		abort();
	fz.events[ev]++;
}

static void fz_exit(void *opaque, int status)
{
	(void)opaque;
	if (status < 0 || status > 255)
		abort();
}

static const struct platform_sink fz_sink = {.event = fz_event, .exit = fz_exit};

static void fz_machine_up(void)
{
	bus_init(&fz.pio, "pio");
	bus_init(&fz.mmio, "mmio");
	fz.list = NULL;
	fz.con = (struct console){.room = SIZE_MAX};
	fz.uart_irq = (struct irq_line){.set_level = fz_set_level, .gsi = FZ_UART_GSI};
	if (serial_8250_create(&fz.list, &fz.pio, PORT_COM1, &fz.uart_irq, &fz.con) ||
	    platform_create(&fz.list, &fz.pio, &fz.mmio, &pc_layout, &fz_sink, true))
		abort();
	if (!fz.con.push)
		abort(); /* the UART takes the console's input */
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_level(LOG_ERROR);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_op op;
	size_t pos = 0;

	fz_machine_up();
	while (fuzz_op_next(data, size, &pos, 1, &op)) {
		unsigned int sel = op.sel % 8;
		uint32_t len = op.len;
		bool is_write = op.is_write;
		uint8_t off = (uint8_t)op.off;
		uint8_t buf[8] = {0};
		uint64_t addr;
		bool pio = true;

		if (sel == FZ_SEL_INPUT && is_write) {
			fz.con.room = off;
			if (fz.con.writer)
				fz.con.writer(fz.con.writer_opaque);
			continue;
		}
		if (sel == FZ_SEL_INPUT) {
			size_t n = MIN((size_t)off, size - pos);

			/* What the UART refuses stays unread here, as in the console. */
			fz.con.push(fz.con.opaque, data + pos, n);
			pos += n;
			continue;
		}
		if (is_write)
			fuzz_take(data, size, &pos, buf, len);
		switch (sel) {
		case 0:
			addr = PORT_COM1 + off % 8;
			break;
		case 1:
			addr = PORT_RTC + off % 2;
			break;
		case 2:
			addr = off & 1 ? PORT_I8042_CMD : PORT_I8042_DATA;
			break;
		case 3:
			addr = PORT_ACPI_SLEEP_CTL + off % 4;
			break;
		case 4:
			addr = LAYOUT_PVPANIC_MMIO + off % 2;
			pio = false;
			break;
		case 5:
			addr = off;
			break;
		default:
			addr = 0x300 + off;
			break;
		}
		if (pio && len > 4)
			len = 4; /* IN and OUT move at most 4 bytes */
		bus_access(pio ? &fz.pio : &fz.mmio, addr, buf, len, is_write);
		if (pio && !is_write && len == 1 && addr == PORT_COM1 + 5 &&
		    (buf[0] & 0x60) != 0x60 && !fz.con.refused)
			abort(); /* a console that takes all: THR and TEMT are always empty */
	}
	devices_destroy(&fz.list);
	if (fz.con.push || fz.con.writer)
		abort(); /* the UART detached itself */
	return 0;
}
