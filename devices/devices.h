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
struct guest_mem;
struct serial;
struct virtio_dev;

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
/* console_write() takes bytes again after it took fewer than offered (loop thread). */
typedef void (*console_writer_fn)(void *opaque);

/* Output stdout has not taken yet, held for it at most; beyond it writers are refused. */
#define CONSOLE_OUT_BUF (64u << 10)

struct console_stats {
	uint64_t log_bytes;   /* appended to the log */
	uint64_t log_cut;     /* not appended: past log_max, or refused by the file */
	uint64_t out_dropped; /* never reached stdout: it was gone (a closed pipe, EIO) */
};

/*
 * use_stdio: read stdin (raw mode when it is a terminal, restored by
 * console_restore and on destroy) and write stdout, never blocking on it.
 * log_path: also append every output byte there (NULL: none), at most log_max
 * bytes (UINT64_MAX: no bound); what is cut is counted. The escape Ctrl-A x
 * calls quit.
 */
int console_create(struct console **out, struct ev_loop *loop, bool use_stdio,
		   const char *log_path, uint64_t log_max, console_quit_fn quit,
		   void *quit_opaque) WARN_UNUSED;
/*
 * Output from the guest; any thread, never blocks. Returns the bytes taken
 * (written, held for stdout, or dropped when stdout is gone): fewer than len
 * when stdout is full and the buffer too. The writer then keeps the rest and
 * tries again when its console_writer_fn is called.
 */
size_t console_write(struct console *con, const uint8_t *buf, size_t len);
/* Register (at setup, up to four) or remove a writer to call back; 0 or -ENOSPC. */
int console_add_writer(struct console *con, console_writer_fn fn, void *opaque) WARN_UNUSED;
void console_remove_writer(struct console *con, void *opaque);
void console_get_stats(struct console *con, struct console_stats *st);
/* Where input goes. */
void console_attach(struct console *con, console_push_fn push, void *opaque);
/* The device has room again after refusing input; any thread. */
void console_input_ready(struct console *con);
/*
 * Puts the terminal (and stdout's flags) back as they were; safe to call more
 * than once, from any exit path, and from a signal handler (tcsetattr and
 * fcntl only, each at most once).
 */
void console_restore(struct console *con);
void console_destroy(struct console *con);

/* --- the platform devices --- */

int serial_8250_create(struct device **list, struct bus *pio, uint16_t base,
		       const struct irq_line *irq, struct console *con) WARN_UNUSED;
/*
 * Keyboard controller: enough for the CPU reset line (0xfe to the command port,
 * 0x64 on a PC).
 */
int i8042_create(struct device **list, struct bus *pio, uint16_t data_port, uint16_t cmd_port,
		 const struct platform_sink *sink) WARN_UNUSED;
/* CMOS RTC with the host's time (UTC): index at @port, data at @port + 1 (0x70/0x71 on a PC). */
int rtc_cmos_create(struct device **list, struct bus *pio, uint16_t port) WARN_UNUSED;
/* pvpanic-mmio (ACPI QEMU0001): a guest panic write calls sink PLATFORM_PANIC. */
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
/* --- pci_host.c: the PCI host bridge and the devices behind it on bus 0. --- */

struct pci_host;
struct pci_dev;

/* Configuration mechanism #1: the address at the port, the data at port + 4 to port + 7. */
#define PCI_CONFIG_PORT_LEN 8
/* ECAM for one bus: 32 devices of 8 functions of 4 KiB. */
#define PCI_ECAM_BUS_SIZE 0x100000ULL

/*
 * Where the host bridge decodes: ECAM for bus 0 (PCI_ECAM_BUS_SIZE bytes), and
 * the memory and port windows it forwards to device BARs (the PCI0 _CRS windows). A
 * 64-bit window of size 0 puts 64-bit BARs in the 32-bit window; an I/O window of size
 * 0 leaves I/O BARs unplaced.
 */
struct pci_host_windows {
	uint64_t ecam;
	uint64_t mmio32, mmio32_size;
	uint64_t mmio64, mmio64_size;
	uint64_t io, io_size; /* ports, inside 0-0xffff */
};

/*
 * Host bridge 00.0 (1b36:0008) with configuration mechanism #1 at @config_port (0xcf8
 * on a PC) and the ECAM window; claims both memory windows on @mmio and the I/O window on @pio, and
 * routes each access inside them by the current value of the BARs (memory or I/O
 * decoding enabled), under its lock.
 */
int pci_host_create(struct device **list, struct pci_host **out, struct bus *pio,
		    struct bus *mmio, uint16_t config_port,
		    const struct pci_host_windows *win) WARN_UNUSED;

#define PCI_CFG_SPACE 256
#define PCI_NR_BARS 6
#define PCI_BAR_UNMAPPED UINT64_MAX
enum pci_bar_type { PCI_BAR_NONE, PCI_BAR_MEM32, PCI_BAR_MEM64, PCI_BAR_IO };

/*
 * A device's side of the bus. All four run on a vCPU thread with the host's lock held
 * (take the device's own lock inside; never the other way round).
 */
struct pci_dev_ops {
	/* An access inside BAR @bar: off + len <= its size, len 1, 2, 4 or 8. */
	void (*bar_access)(struct pci_dev *pdev, unsigned int bar, uint64_t off, uint8_t *data,
			   uint32_t len, bool is_write);
	/* BAR @bar now decodes at @addr, or nowhere (PCI_BAR_UNMAPPED). May be NULL. */
	void (*bar_moved)(struct pci_dev *pdev, unsigned int bar, uint64_t addr);
	/* The guest wrote config bytes [off, off + len) (already stored). May be NULL. */
	void (*config_write)(struct pci_dev *pdev, uint32_t off, uint32_t len);
	/* May rewrite the bytes of a config read [off, off + len). May be NULL. */
	void (*config_read)(struct pci_dev *pdev, uint32_t off, uint8_t *data, uint32_t len);
};

struct pci_bar {
	enum pci_bar_type type;
	uint64_t size; /* power of two: >= 4 KiB for memory, 4-256 for I/O */
	uint64_t live; /* where it decodes now (address or port), or PCI_BAR_UNMAPPED */
};

/* Embedded in a PCI device's state; set up with pci_dev_init/_add_bar/_add_cap. */
struct pci_dev {
	const struct pci_dev_ops *ops;
	uint8_t cfg[PCI_CFG_SPACE];
	uint8_t wmask[PCI_CFG_SPACE]; /* bits the guest may write */
	struct pci_bar bars[PCI_NR_BARS];
	uint8_t cap_end; /* next free byte for a capability */
	struct pci_host *host;
	unsigned int slot;
};

/* A type-0 header: class is base << 16 | sub << 8 | prog-if. */
void pci_dev_init(struct pci_dev *pdev, const struct pci_dev_ops *ops, uint16_t vendor,
		  uint16_t device, uint8_t revision, uint32_t class, uint16_t subsys_vendor,
		  uint16_t subsys);
/* A memory BAR (a 64-bit one takes @bar and @bar + 1) or an I/O BAR; kvmrun places it. */
int pci_dev_add_bar(struct pci_dev *pdev, unsigned int bar, enum pci_bar_type type,
		    uint64_t size) WARN_UNUSED;
/* Link a capability of @len bytes (>= 2) into the list; returns its offset or -ENOSPC. */
int pci_dev_add_cap(struct pci_dev *pdev, uint8_t id, uint8_t len) WARN_UNUSED;
/* Place the BARs in the windows and plug the device into the first free slot (1-31). */
int pci_host_add_device(struct pci_host *h, struct pci_dev *pdev) WARN_UNUSED;

static inline uint16_t pci_cfg_get16(const struct pci_dev *pdev, unsigned int off)
{
	return (uint16_t)(pdev->cfg[off] | pdev->cfg[off + 1] << 8);
}

static inline void pci_cfg_set16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void pci_cfg_set32(uint8_t *p, uint32_t v)
{
	pci_cfg_set16(p, (uint16_t)v);
	pci_cfg_set16(p + 2, (uint16_t)(v >> 16));
}

/* --- virtio devices: hand the result to a virtio transport, which owns it from then on. --- */

/*
 * virtio-console with one port (hvc0 in a Linux guest): the driver's output
 * goes to console_write(), the console's input into the receive buffers the
 * driver posts. Attaches itself as con's input (replacing any earlier device
 * there, such as the UART); detaches on destroy.
 */
int virtio_console_create(struct virtio_dev **out, struct console *con, struct ev_loop *loop,
			  const struct guest_mem *gm) WARN_UNUSED;
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

void devices_destroy(struct device **list);

#endif
