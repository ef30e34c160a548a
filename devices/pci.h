/* SPDX-License-Identifier: Apache-2.0 */
/* The PCI host bridge (pci_host.c) and the API of the devices behind it on bus 0. */
#ifndef KVMRUN_DEVICES_PCI_H
#define KVMRUN_DEVICES_PCI_H

#include <stdbool.h>
#include <stdint.h>
#include "device.h"
#include "kvmrun/bus.h"
#include "kvmrun/compiler.h"

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
	uint64_t io_mmio; /* where port 0 appears in memory space (arm64); 0: on the port bus */
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

#endif
