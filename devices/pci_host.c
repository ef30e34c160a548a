// SPDX-License-Identifier: Apache-2.0
/*
 * PCI host bridge: device 00.0 on bus 0 (1b36:0008, class 060000), reachable through
 * configuration mechanism #1 (address register at 0xcf8, data at 0xcfc-0xcff) and
 * through an ECAM window for bus 0. Both paths reach the same config spaces. Devices
 * sit in slots 1-31 (function 0 only); empty slots read all ones. Accesses of a width
 * or at an offset the hardware would not decode read all ones and are ignored on write.
 *
 * The host claims its memory windows on the MMIO bus and its I/O window on the port bus
 * once, and routes every access inside them to the BAR of that kind that decodes it now
 * (memory or I/O space enabled, inside a window), so the guest may move BARs at will;
 * the device hears of each move.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pci.h"

#define PCI_ECAM_FN_SIZE 4096
#define PCI_ECAM_FN_SHIFT 12 /* bus[27:20] dev[19:15] fn[14:12] reg[11:0] */

#define PCI_CONFIG_ENABLE (1U << 31)
#define PCI_CONFIG_ADDR_MASK 0x80fffffcU /* enable, bus, dev, fn, dword register */
#define PCI_CONFIG_DATA_OFF 4		 /* 0xcfc in the 0xcf8 range */
#define PCI_NR_SLOTS 32

#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION_ID 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_CACHE_LINE_SIZE 0x0c
#define PCI_LATENCY_TIMER 0x0d
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0 0x10
#define PCI_SUBSYS_VENDOR 0x2c
#define PCI_SUBSYS_ID 0x2e
#define PCI_CAP_PTR 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_HEADER_END 0x40

#define PCI_COMMAND_IO 0x1
#define PCI_COMMAND_MEMORY 0x2
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_BAR_IO_SPACE 0x1
#define PCI_BAR_MEM_TYPE_64 0x4
#define PCI_BAR_MIN_SIZE 4096
#define PCI_BAR_IO_MIN_SIZE 4
#define PCI_BAR_IO_MAX_SIZE 256

#define PCI_HOST_VENDOR 0x1b36 /* Red Hat */
#define PCI_HOST_DEVICE 0x0008 /* QEMU PCIe host bridge */
#define PCI_CLASS_BRIDGE_HOST 0x060000
#define PCI_COMMAND_WMASK 0x0547 /* I/O, memory, master, parity, SERR, INTx disable */

struct pci_window {
	uint64_t base, size, next;
};

struct pci_host {
	struct device dev;
	pthread_mutex_t lock;
	uint32_t config_addr;
	struct pci_dev bridge; /* 00.0 */
	struct pci_dev *slots[PCI_NR_SLOTS];
	struct pci_window win32, win64, winio;
};

void pci_dev_init(struct pci_dev *pdev, const struct pci_dev_ops *ops, uint16_t vendor,
		  uint16_t device, uint8_t revision, uint32_t class, uint16_t subsys_vendor,
		  uint16_t subsys)
{
	memset(pdev, 0, sizeof(*pdev));
	pdev->ops = ops;
	pci_cfg_set16(pdev->cfg + PCI_VENDOR_ID, vendor);
	pci_cfg_set16(pdev->cfg + PCI_DEVICE_ID, device);
	pdev->cfg[PCI_REVISION_ID] = revision;
	pdev->cfg[PCI_CLASS_PROG] = (uint8_t) class;
	pci_cfg_set16(pdev->cfg + PCI_CLASS_PROG + 1, (uint16_t)(class >> 8));
	pdev->cfg[PCI_HEADER_TYPE] = 0;
	pci_cfg_set16(pdev->cfg + PCI_SUBSYS_VENDOR, subsys_vendor);
	pci_cfg_set16(pdev->cfg + PCI_SUBSYS_ID, subsys);
	pci_cfg_set16(pdev->wmask + PCI_COMMAND, PCI_COMMAND_WMASK);
	pdev->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
	pdev->wmask[PCI_LATENCY_TIMER] = 0xff;
	pdev->wmask[PCI_INTERRUPT_LINE] = 0xff;
	pdev->cap_end = PCI_HEADER_END;
	for (unsigned int i = 0; i < PCI_NR_BARS; i++)
		pdev->bars[i].live = PCI_BAR_UNMAPPED;
}

int pci_dev_add_bar(struct pci_dev *pdev, unsigned int bar, enum pci_bar_type type, uint64_t size)
{
	uint64_t mask = ~(size - 1);
	unsigned int off = PCI_BAR0 + 4 * bar;
	bool io = type == PCI_BAR_IO;

	if (bar >= PCI_NR_BARS || size < (io ? PCI_BAR_IO_MIN_SIZE : PCI_BAR_MIN_SIZE) ||
	    (size & (size - 1)) || pdev->bars[bar].type != PCI_BAR_NONE ||
	    (bar > 0 && pdev->bars[bar - 1].type == PCI_BAR_MEM64))
		return -EINVAL;
	if (type == PCI_BAR_MEM64) {
		if (bar + 1 >= PCI_NR_BARS || pdev->bars[bar + 1].type != PCI_BAR_NONE)
			return -EINVAL;
		pdev->cfg[off] = PCI_BAR_MEM_TYPE_64;
		pci_cfg_set32(pdev->wmask + off + 4, (uint32_t)(mask >> 32));
	} else if (io) {
		if (size > PCI_BAR_IO_MAX_SIZE)
			return -EINVAL;
		pdev->cfg[off] = PCI_BAR_IO_SPACE;
	} else if (type != PCI_BAR_MEM32 || size > (1ULL << 31)) {
		return -EINVAL;
	}
	/* The size (>= 4, >= 16 for memory) keeps the flag bits read-only. */
	pci_cfg_set32(pdev->wmask + off, (uint32_t)mask);
	pdev->bars[bar].type = type;
	pdev->bars[bar].size = size;
	return 0;
}

int pci_dev_add_cap(struct pci_dev *pdev, uint8_t id, uint8_t len)
{
	unsigned int off = ALIGN_UP((unsigned int)pdev->cap_end, 4U);
	unsigned int prev;

	if (len < 2 || off + len > PCI_CFG_SPACE)
		return -ENOSPC;
	pdev->cfg[off] = id;
	pdev->cfg[off + 1] = 0;
	if (!pdev->cfg[PCI_CAP_PTR]) {
		pdev->cfg[PCI_CAP_PTR] = (uint8_t)off;
		pdev->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	} else {
		for (prev = pdev->cfg[PCI_CAP_PTR]; pdev->cfg[prev + 1]; prev = pdev->cfg[prev + 1])
			;
		pdev->cfg[prev + 1] = (uint8_t)off;
	}
	pdev->cap_end = (uint8_t)MIN(off + len, 0xffU);
	return (int)off;
}

/* The low bits of BAR @i that are flags, not address. */
static uint32_t pci_bar_flag_bits(const struct pci_dev *pdev, unsigned int i)
{
	return pdev->bars[i].type == PCI_BAR_IO ? 0x3U : 0xfU;
}

/* The address BAR @i holds now (64 bits for a 64-bit BAR). */
static uint64_t pci_bar_value(const struct pci_dev *pdev, unsigned int i)
{
	const uint8_t *p = pdev->cfg + PCI_BAR0 + 4 * i;
	uint64_t v =
	    (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;

	if (pdev->bars[i].type == PCI_BAR_MEM64)
		v |= (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
		     (uint64_t)p[7] << 56;
	return v & ~(uint64_t)pci_bar_flag_bits(pdev, i);
}

static void pci_bar_store(struct pci_dev *pdev, unsigned int i, uint64_t addr)
{
	uint8_t *p = pdev->cfg + PCI_BAR0 + 4 * i;

	pci_cfg_set32(p, (uint32_t)addr | (p[0] & pci_bar_flag_bits(pdev, i)));
	if (pdev->bars[i].type == PCI_BAR_MEM64)
		pci_cfg_set32(p + 4, (uint32_t)(addr >> 32));
}

static bool pci_in_window(const struct pci_window *w, uint64_t addr, uint64_t size)
{
	return w->size && addr >= w->base && addr - w->base < w->size &&
	       size <= w->size - (addr - w->base);
}

/* Whether BAR @b, at @addr, decodes: its space enabled, inside a window of its kind. */
static bool pci_bar_decodes(const struct pci_host *h, const struct pci_dev *pdev,
			    const struct pci_bar *b, uint64_t addr)
{
	if (b->type == PCI_BAR_IO)
		return (pdev->cfg[PCI_COMMAND] & PCI_COMMAND_IO) &&
		       pci_in_window(&h->winio, addr, b->size);
	return (pdev->cfg[PCI_COMMAND] & PCI_COMMAND_MEMORY) &&
	       (pci_in_window(&h->win32, addr, b->size) || pci_in_window(&h->win64, addr, b->size));
}

/* Recompute where each BAR decodes and tell the device of every change. */
static void pci_dev_update_bars(struct pci_host *h, struct pci_dev *pdev)
{
	for (unsigned int i = 0; i < PCI_NR_BARS; i++) {
		struct pci_bar *b = &pdev->bars[i];
		uint64_t addr = pci_bar_value(pdev, i);
		uint64_t live;

		if (b->type == PCI_BAR_NONE)
			continue;
		live = pci_bar_decodes(h, pdev, b, addr) ? addr : PCI_BAR_UNMAPPED;
		if (live == b->live)
			continue;
		b->live = live;
		if (pdev->ops && pdev->ops->bar_moved)
			pdev->ops->bar_moved(pdev, i, live);
	}
}

static int pci_place_bar(struct pci_window *w, uint64_t size, uint64_t *addr)
{
	uint64_t a = ALIGN_UP(w->next, size);

	if (!w->size || a < w->next || !pci_in_window(w, a, size))
		return -ENOSPC;
	*addr = a;
	w->next = a + size;
	return 0;
}

int pci_host_add_device(struct pci_host *h, struct pci_dev *pdev)
{
	struct pci_window w32, w64, wio;
	unsigned int slot;
	int ret = 0;

	pthread_mutex_lock(&h->lock);
	for (slot = 1; slot < PCI_NR_SLOTS && h->slots[slot]; slot++)
		;
	if (slot == PCI_NR_SLOTS) {
		ret = -ENOSPC;
		goto out;
	}
	w32 = h->win32;
	w64 = h->win64;
	wio = h->winio;
	for (unsigned int i = 0; i < PCI_NR_BARS && !ret; i++) {
		struct pci_bar *b = &pdev->bars[i];
		uint64_t addr = 0;

		if (b->type == PCI_BAR_MEM64)
			ret = pci_place_bar(&w64, b->size, &addr);
		if (b->type == PCI_BAR_MEM32 || (b->type == PCI_BAR_MEM64 && ret))
			ret = pci_place_bar(&w32, b->size, &addr);
		if (b->type == PCI_BAR_IO && wio.size)
			ret = pci_place_bar(&wio, b->size, &addr);
		if (b->type != PCI_BAR_NONE && !ret)
			pci_bar_store(pdev, i, addr);
	}
	if (ret)
		goto out;
	h->win32 = w32;
	h->win64 = w64;
	h->winio = wio;
	pdev->host = h;
	pdev->slot = slot;
	h->slots[slot] = pdev;
out:
	pthread_mutex_unlock(&h->lock);
	return ret;
}

static void pci_all_ones(uint8_t *data, uint32_t len, bool is_write)
{
	if (!is_write)
		memset(data, 0xff, len);
}

static bool pci_touches(uint32_t off, uint32_t len, uint32_t start, uint32_t end)
{
	return off < end && start < off + len;
}

/*
 * One config access on bus 0 to @devfn, register @reg (0-4095), @len bytes, not
 * crossing a dword: the callers have checked that.
 */
static void pci_host_config(struct pci_host *h, unsigned int devfn, unsigned int reg, uint8_t *data,
			    uint32_t len, bool is_write)
{
	struct pci_dev *pdev = devfn & 7 ? NULL : h->slots[devfn >> 3];
	uint32_t i;

	if (!pdev) {
		pci_all_ones(data, len, is_write);
		return;
	}
	if (reg >= PCI_CFG_SPACE) {
		/* Extended space: no capabilities there, reads zero. */
		if (!is_write)
			memset(data, 0, len);
		return;
	}
	if (!is_write) {
		memcpy(data, pdev->cfg + reg, len);
		if (pdev->ops && pdev->ops->config_read)
			pdev->ops->config_read(pdev, reg, data, len);
		return;
	}
	for (i = 0; i < len; i++) {
		uint8_t m = pdev->wmask[reg + i];

		pdev->cfg[reg + i] = (uint8_t)((pdev->cfg[reg + i] & ~m) | (data[i] & m));
	}
	if (pci_touches(reg, len, PCI_COMMAND, PCI_COMMAND + 2) ||
	    pci_touches(reg, len, PCI_BAR0, PCI_BAR0 + 4 * PCI_NR_BARS))
		pci_dev_update_bars(h, pdev);
	if (pdev->ops && pdev->ops->config_write)
		pdev->ops->config_write(pdev, reg, len);
}

/* A naturally sized access (1, 2 or 4 bytes) that stays inside one dword. */
static bool pci_access_ok(uint64_t off, uint32_t len)
{
	return (len == 1 || len == 2 || len == 4) && (off & 3) + len <= 4;
}

static void pci_host_pio(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
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

static void pci_host_ecam(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct pci_host *h = opaque;

	if (!pci_access_ok(offset, len) || offset >= PCI_ECAM_BUS_SIZE) {
		pci_all_ones(data, len, is_write);
		return;
	}
	pci_host_config(h, (unsigned int)(offset >> PCI_ECAM_FN_SHIFT),
			(unsigned int)(offset & (PCI_ECAM_FN_SIZE - 1)), data, len, is_write);
}

/*
 * An access to guest address @addr in a window (port @addr in the I/O window when @io):
 * to the BAR of that kind decoding it, if any.
 */
static void pci_host_window(struct pci_host *h, bool io, uint64_t addr, uint8_t *data, uint32_t len,
			    bool is_write)
{
	for (unsigned int s = 1; s < PCI_NR_SLOTS; s++) {
		struct pci_dev *pdev = h->slots[s];

		for (unsigned int i = 0; pdev && i < PCI_NR_BARS; i++) {
			const struct pci_bar *b = &pdev->bars[i];
			uint64_t off = addr - b->live;

			if (b->live == PCI_BAR_UNMAPPED || (b->type == PCI_BAR_IO) != io ||
			    addr < b->live || off >= b->size)
				continue;
			if (len > b->size - off) /* runs past the end of the BAR */
				break;
			pdev->ops->bar_access(pdev, i, off, data, len, is_write);
			return;
		}
	}
	pci_all_ones(data, len, is_write);
}

static void pci_host_win32(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			   bool is_write)
{
	struct pci_host *h = opaque;

	pci_host_window(h, false, h->win32.base + offset, data, len, is_write);
}

static void pci_host_win64(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			   bool is_write)
{
	struct pci_host *h = opaque;

	pci_host_window(h, false, h->win64.base + offset, data, len, is_write);
}

static void pci_host_winio(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			   bool is_write)
{
	struct pci_host *h = opaque;

	pci_host_window(h, true, h->winio.base + offset, data, len, is_write);
}

static void pci_host_destroy(struct device *dev)
{
	struct pci_host *h = container_of(dev, struct pci_host, dev);

	pthread_mutex_destroy(&h->lock);
	free(h);
}

int pci_host_create(struct device **list, struct pci_host **out, struct bus *pio, struct bus *mmio,
		    uint16_t config_port, const struct pci_host_windows *win)
{
	struct pci_host *h;
	int ret;

	if (win->mmio32_size &&
	    (win->mmio32 >> 32 || win->mmio32_size > (1ULL << 32) - win->mmio32))
		return -EINVAL;
	if (win->io_size && (win->io > 0xffff || win->io_size > 0x10000 - win->io))
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->dev.name = "pci-host";
	h->dev.destroy = pci_host_destroy;
	pci_dev_init(&h->bridge, NULL, PCI_HOST_VENDOR, PCI_HOST_DEVICE, 0, PCI_CLASS_BRIDGE_HOST,
		     0, 0);
	h->slots[0] = &h->bridge;
	h->win32 = (struct pci_window){win->mmio32, win->mmio32_size, win->mmio32};
	h->win64 = (struct pci_window){win->mmio64, win->mmio64_size, win->mmio64};
	h->winio = (struct pci_window){win->io, win->io_size, win->io};
	ret = -pthread_mutex_init(&h->lock, NULL);
	if (ret)
		goto err_free;
	ret = bus_add(pio, config_port, PCI_CONFIG_PORT_LEN, pci_host_pio, h, &h->lock,
		      "pci-config");
	if (ret)
		goto err_mutex;
	/*
	 * The bus keeps the port range from here on, so the device joins the list even if
	 * a memory range is refused: devices_destroy() frees it with the others.
	 */
	h->dev.next = *list;
	*list = &h->dev;
	*out = h;
	ret = bus_add(mmio, win->ecam, PCI_ECAM_BUS_SIZE, pci_host_ecam, h, &h->lock,
		      "pci-ecam");
	if (!ret && win->mmio32_size)
		ret = bus_add(mmio, win->mmio32, win->mmio32_size, pci_host_win32, h, &h->lock,
			      "pci-mmio32");
	if (!ret && win->mmio64_size)
		ret = bus_add(mmio, win->mmio64, win->mmio64_size, pci_host_win64, h, &h->lock,
			      "pci-mmio64");
	if (!ret && win->io_size && win->io_mmio)
		ret = bus_add(mmio, win->io_mmio + win->io, win->io_size, pci_host_winio, h,
			      &h->lock, "pci-io");
	else if (!ret && win->io_size)
		ret = bus_add(pio, win->io, win->io_size, pci_host_winio, h, &h->lock, "pci-io");
	return ret;

err_mutex:
	pthread_mutex_destroy(&h->lock);
err_free:
	free(h);
	return ret;
}
