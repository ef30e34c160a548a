// SPDX-License-Identifier: Apache-2.0
/*
 * PCI host bridge: device 00.0 on bus 0 (1b36:0008, class 060000), reachable through
 * configuration mechanism #1 (address register at 0xcf8, data at 0xcfc-0xcff) and
 * through an ECAM window for bus 0. Both paths reach the same config space. Every
 * other slot is empty (all ones). Accesses of a width or at an offset the hardware
 * would not decode read all ones and are ignored on write.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/layout.h"
#include "devices.h"

#define PCI_CFG_SIZE 256 /* conventional space, the only one backed by storage */
#define PCI_ECAM_FN_SIZE 4096
#define PCI_ECAM_FN_SHIFT 12 /* bus[27:20] dev[19:15] fn[14:12] reg[11:0] */
#define PCI_ECAM_BUS_SHIFT 20

#define PCI_CONFIG_ENABLE (1U << 31)
#define PCI_CONFIG_ADDR_MASK 0x80fffffcU /* enable, bus, dev, fn, dword register */
#define PCI_CONFIG_DATA_OFF 4 /* 0xcfc in the 0xcf8 range */

#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_REVISION_ID 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_CLASS_DEVICE 0x0a
#define PCI_CACHE_LINE_SIZE 0x0c
#define PCI_LATENCY_TIMER 0x0d
#define PCI_HEADER_TYPE 0x0e
#define PCI_INTERRUPT_LINE 0x3c

#define PCI_HOST_VENDOR 0x1b36 /* Red Hat */
#define PCI_HOST_DEVICE 0x0008 /* QEMU PCIe host bridge */
#define PCI_CLASS_BRIDGE_HOST 0x0600
#define PCI_COMMAND_WMASK 0x0547 /* I/O, memory, master, parity, SERR, INTx disable */

struct pci_host {
	struct device dev;
	pthread_mutex_t lock;
	uint32_t config_addr;
	uint8_t cfg[PCI_CFG_SIZE]; /* device 00.0 */
	uint8_t wmask[PCI_CFG_SIZE]; /* bits the guest may write */
};

static void pci_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void pci_host_init_config(struct pci_host *h)
{
	pci_put16(h->cfg + PCI_VENDOR_ID, PCI_HOST_VENDOR);
	pci_put16(h->cfg + PCI_DEVICE_ID, PCI_HOST_DEVICE);
	h->cfg[PCI_REVISION_ID] = 0;
	h->cfg[PCI_CLASS_PROG] = 0;
	pci_put16(h->cfg + PCI_CLASS_DEVICE, PCI_CLASS_BRIDGE_HOST);
	h->cfg[PCI_HEADER_TYPE] = 0;
	pci_put16(h->wmask + PCI_COMMAND, PCI_COMMAND_WMASK);
	h->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
	h->wmask[PCI_LATENCY_TIMER] = 0xff;
	h->wmask[PCI_INTERRUPT_LINE] = 0xff;
}

static void pci_all_ones(uint8_t *data, uint32_t len, bool is_write)
{
	if (!is_write)
		memset(data, 0xff, len);
}

/*
 * One config access on bus 0 to @devfn, register @reg (0-4095), @len bytes, not
 * crossing a dword: the callers have checked that.
 */
static void pci_host_config(struct pci_host *h, unsigned int devfn, unsigned int reg,
			    uint8_t *data, uint32_t len, bool is_write)
{
	uint32_t i;

	if (devfn != 0) {
		pci_all_ones(data, len, is_write);
		return;
	}
	if (reg >= PCI_CFG_SIZE) {
		/* Extended space of 00.0: no capabilities, reads zero. */
		if (!is_write)
			memset(data, 0, len);
		return;
	}
	for (i = 0; i < len; i++) {
		uint8_t m = h->wmask[reg + i];

		if (is_write)
			h->cfg[reg + i] = (uint8_t)((h->cfg[reg + i] & ~m) | (data[i] & m));
		else
			data[i] = h->cfg[reg + i];
	}
}

/* A naturally sized access (1, 2 or 4 bytes) that stays inside one dword. */
static bool pci_access_ok(uint64_t off, uint32_t len)
{
	return (len == 1 || len == 2 || len == 4) && (off & 3) + len <= 4;
}

static void pci_host_pio(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			 bool is_write)
{
	struct pci_host *h = opaque;
	uint32_t addr = h->config_addr;
	uint64_t doff;

	if (offset < PCI_CONFIG_DATA_OFF) {
		/* The address register decodes 32-bit accesses at 0xcf8 only. */
		if (offset != 0 || len != 4) {
			pci_all_ones(data, len, is_write);
			return;
		}
		if (is_write) {
			memcpy(&addr, data, sizeof(addr));
			h->config_addr = addr & PCI_CONFIG_ADDR_MASK;
		} else {
			memcpy(data, &h->config_addr, sizeof(addr));
		}
		return;
	}
	doff = offset - PCI_CONFIG_DATA_OFF;
	if (!pci_access_ok(doff, len) || !(addr & PCI_CONFIG_ENABLE) || ((addr >> 16) & 0xff)) {
		pci_all_ones(data, len, is_write);
		return;
	}
	pci_host_config(h, (addr >> 8) & 0xff, (addr & 0xfc) + (unsigned int)doff, data, len,
			is_write);
}

static void pci_host_ecam(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			  bool is_write)
{
	struct pci_host *h = opaque;

	if (!pci_access_ok(offset, len) || offset >= LAYOUT_PCI_ECAM_BUS0_SIZE) {
		pci_all_ones(data, len, is_write);
		return;
	}
	pci_host_config(h, (unsigned int)(offset >> PCI_ECAM_FN_SHIFT),
			(unsigned int)(offset & (PCI_ECAM_FN_SIZE - 1)), data, len, is_write);
}

static void pci_host_destroy(struct device *dev)
{
	struct pci_host *h = container_of(dev, struct pci_host, dev);

	pthread_mutex_destroy(&h->lock);
	free(h);
}

int pci_host_create(struct device **list, struct bus *pio, struct bus *mmio, uint64_t ecam_base)
{
	struct pci_host *h;
	int ret;

	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->dev.name = "pci-host";
	h->dev.destroy = pci_host_destroy;
	pci_host_init_config(h);
	ret = -pthread_mutex_init(&h->lock, NULL);
	if (ret)
		goto err_free;
	ret = bus_add(pio, PORT_PCI_CONFIG, PORT_PCI_CONFIG_LEN, pci_host_pio, h, &h->lock,
		      "pci-config");
	if (ret)
		goto err_mutex;
	/*
	 * The bus keeps the port range from here on, so the device joins the list even if
	 * the ECAM range is refused: devices_destroy() frees it with the others.
	 */
	h->dev.next = *list;
	*list = &h->dev;
	return bus_add(mmio, ecam_base, LAYOUT_PCI_ECAM_BUS0_SIZE, pci_host_ecam, h, &h->lock,
		       "pci-ecam");

err_mutex:
	pthread_mutex_destroy(&h->lock);
err_free:
	free(h);
	return ret;
}
