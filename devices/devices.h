/* SPDX-License-Identifier: Apache-2.0 */
/* Constructors of the platform devices: each file exports its constructor only. */
#ifndef KVMRUN_DEVICES_H
#define KVMRUN_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kvmrun/bus.h"
#include "kvmrun/event_loop.h"
#include "kvmrun/irq.h"

struct console;
struct serial;

/* What the machine does when a device asks for it (runs on the calling thread). */
enum platform_event { PLATFORM_POWEROFF, PLATFORM_RESET, PLATFORM_PANIC };
struct platform_sink {
	void (*event)(void *opaque, enum platform_event ev);
	/* The guest asked to end the VM with this exit status (0..255); may be NULL. */
	void (*exit)(void *opaque, int status);
	void *opaque;
};

/*
 * Every device links itself into the VM's list; the VM destroys the list in
 * reverse order of creation.
 */
struct device {
	const char *name;
	void (*destroy)(struct device *dev);
	struct device *next;
};

/* --- backend/console.c: the host side of a console (terminal, log file). --- */

/* Input from the host, pushed to the device; returns how many bytes it took. */
typedef size_t (*console_push_fn)(void *opaque, const uint8_t *buf, size_t len);
typedef void (*console_quit_fn)(void *opaque);

/*
 * use_stdio: read stdin (raw mode when it is a terminal, restored by
 * console_restore and on destroy) and write stdout. log_path: also append
 * every output byte there (NULL: none). The escape Ctrl-A x calls quit.
 */
int console_create(struct console **out, struct ev_loop *loop, bool use_stdio,
		   const char *log_path, console_quit_fn quit, void *quit_opaque) WARN_UNUSED;
/* Output from the guest; any thread. */
void console_write(struct console *con, const uint8_t *buf, size_t len);
/* Where input goes. */
void console_attach(struct console *con, console_push_fn push, void *opaque);
/* The device has room again after refusing input; any thread. */
void console_input_ready(struct console *con);
/* Puts the terminal back as it was; safe to call more than once, from any exit path. */
void console_restore(struct console *con);
void console_destroy(struct console *con);

/* --- the platform devices --- */

int serial_8250_create(struct device **list, struct bus *pio, uint16_t base,
		       const struct irq_line *irq, struct console *con) WARN_UNUSED;
/* Keyboard controller: enough for the CPU reset line (0xfe to port 0x64). */
int i8042_create(struct device **list, struct bus *pio,
		 const struct platform_sink *sink) WARN_UNUSED;
/* CMOS RTC at 0x70/0x71 with the host's time (UTC). */
int rtc_cmos_create(struct device **list, struct bus *pio) WARN_UNUSED;
/* pvpanic-mmio (ACPI QEMU0001): a guest panic write calls sink PLATFORM_PANIC. */
int pvpanic_create(struct device **list, struct bus *mmio, uint64_t base,
		   const struct platform_sink *sink) WARN_UNUSED;
/* ACPI hardware-reduced sleep control/status and reset registers (S5 -> POWEROFF). */
int acpi_pm_create(struct device **list, struct bus *pio,
		   const struct platform_sink *sink) WARN_UNUSED;
/*
 * PCI host bridge (device 00.0, 1b36:0008) with configuration mechanism #1 at
 * PORT_PCI_CONFIG and an ECAM window for bus 0 at @ecam_base
 * (LAYOUT_PCI_ECAM_BUS0_SIZE bytes). No other devices behind it yet.
 */
int pci_host_create(struct device **list, struct bus *pio, struct bus *mmio,
		    uint64_t ecam_base) WARN_UNUSED;

/*
 * Exit port: a byte N written to @port ends the VM with exit status N through
 * sink->exit (for test guests). Other widths are ignored; reads see all ones.
 */
int exit_port_create(struct device **list, struct bus *pio, uint16_t port,
		     const struct platform_sink *sink) WARN_UNUSED;

void devices_destroy(struct device **list);

#endif
