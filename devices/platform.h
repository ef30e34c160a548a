/* SPDX-License-Identifier: Apache-2.0 */
/* The platform devices (not on PCI): each file exports its constructor only. */
#ifndef KVMRUN_DEVICES_PLATFORM_H
#define KVMRUN_DEVICES_PLATFORM_H

#include <stdbool.h>
#include <stdint.h>
#include "device.h"
#include "kvmrun/bus.h"
#include "kvmrun/compiler.h"
#include "kvmrun/irq.h"

struct console;

/* What the machine does when a device asks for it (runs on the calling thread). */
enum platform_event { PLATFORM_POWEROFF, PLATFORM_RESET, PLATFORM_PANIC };
struct platform_sink {
	void (*event)(void *opaque, enum platform_event ev);
	/* The guest asked to end the VM with this exit status (0..255); may be NULL. */
	void (*exit)(void *opaque, int status);
	void *opaque;
};

/*
 * A 16550A-style UART: eight byte registers from @base on @bus (ports on a PC, MMIO on
 * arm64), its interrupt on @irq, its output to @con.
 */
int serial_8250_create(struct device **list, struct bus *bus, uint64_t base,
		       const struct irq_line *irq, struct console *con) WARN_UNUSED;
/*
 * Keyboard controller: enough for the CPU reset line (0xfe to the command port,
 * 0x64 on a PC).
 */
int i8042_create(struct device **list, struct bus *pio, uint16_t data_port, uint16_t cmd_port,
		 const struct platform_sink *sink) WARN_UNUSED;
/* CMOS RTC with the host's time (UTC): index at @port, data at @port + 1 (0x70/0x71 on a PC). */
int rtc_cmos_create(struct device **list, struct bus *pio, uint16_t port) WARN_UNUSED;
/*
 * PL031 RTC (arm,pl031): a seconds counter from the host's clock (UTC) that the guest may
 * load, its match interrupt on @irq, PL031_MMIO_SIZE bytes at @base.
 */
#define PL031_MMIO_SIZE 0x1000
int pl031_create(struct device **list, struct bus *mmio, uint64_t base,
		 const struct irq_line *irq) WARN_UNUSED;
/*
 * pvpanic-mmio (ACPI QEMU0001 on x86-64, the device tree's "qemu,pvpanic-mmio" on arm64):
 * a guest panic write calls sink PLATFORM_PANIC.
 */
#define PVPANIC_MMIO_SIZE 2
int pvpanic_create(struct device **list, struct bus *mmio, uint64_t base,
		   const struct platform_sink *sink) WARN_UNUSED;
/* ACPI hardware-reduced sleep control/status and reset registers (S5 -> POWEROFF). */
struct acpi_pm_regs {
	uint16_t sleep_ctl, sleep_sts, reset; /* ports, one byte each */
	uint8_t reset_value; /* written to reset: PLATFORM_RESET */
	uint8_t s5_slp_typ;  /* SLP_TYP of S5 (the _S5 package): PLATFORM_POWEROFF */
};
int acpi_pm_create(struct device **list, struct bus *pio, const struct acpi_pm_regs *regs,
		   const struct platform_sink *sink) WARN_UNUSED;
/*
 * Exit port: a byte N written to @port ends the VM with exit status N through
 * sink->exit (for test guests, with --exit-port only: see platform_create).
 * Other widths are ignored; reads see all ones.
 */
int exit_port_create(struct device **list, struct bus *pio, uint16_t port,
		     const struct platform_sink *sink) WARN_UNUSED;

/* Where the machine puts its platform devices (the arch code's memory map). */
struct platform_layout {
	uint16_t i8042_data, i8042_cmd;
	uint16_t rtc;
	uint64_t pvpanic;
	struct acpi_pm_regs acpi_pm;
	uint16_t exit_port;
};

/*
 * The i8042, the CMOS RTC, pvpanic and the ACPI sleep and reset
 * registers at their places in @at, and with exit_port the exit
 * port at at->exit_port (without it nothing answers there). Devices created
 * before a failure stay on the list.
 */
int platform_create(struct device **list, struct bus *pio, struct bus *mmio,
		    const struct platform_layout *at, const struct platform_sink *sink,
		    bool exit_port) WARN_UNUSED;

#endif
