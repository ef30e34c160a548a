// SPDX-License-Identifier: Apache-2.0
/* The virtio-pci modern driver of the test guests (see fw_virtio.h). */
#include "fw_virtio.h"

#define PCI_VENDOR_VIRTIO 0x1af4
#define PCI_DEVICE_MODERN 0x1040
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_BAR0 0x10
#define PCI_CAP_PTR 0x34
#define PCI_CAP_ID_VNDR 0x09
#define PCI_CMD_IO 0x1
#define PCI_CMD_MEM 0x2
#define PCI_CMD_MASTER 0x4

#define VCAP_COMMON 1
#define VCAP_NOTIFY 2
#define VCAP_ISR 3
#define VCAP_DEVICE 4

/* kvmrun's 32-bit PCI window; 64-bit BARs go above RAM and 4 GiB, 1 GiB aligned. */
#define FW_MMIO32_BASE 0xc0000000ULL
#define FW_MMIO_PER_DEV 0x1000000ULL

uint8_t fw_vcommon_read8(const struct fw_vdev *d, unsigned int off)
{
	return mmio_read8(d->common + off);
}

uint16_t fw_vcommon_read16(const struct fw_vdev *d, unsigned int off)
{
	return mmio_read16(d->common + off);
}

uint32_t fw_vcommon_read32(const struct fw_vdev *d, unsigned int off)
{
	return mmio_read32(d->common + off);
}

void fw_vcommon_write8(const struct fw_vdev *d, unsigned int off, uint8_t v)
{
	mmio_write8(d->common + off, v);
}

void fw_vcommon_write16(const struct fw_vdev *d, unsigned int off, uint16_t v)
{
	mmio_write16(d->common + off, v);
}

void fw_vcommon_write32(const struct fw_vdev *d, unsigned int off, uint32_t v)
{
	mmio_write32(d->common + off, v);
}

void fw_vcommon_write64(const struct fw_vdev *d, unsigned int off, uint64_t v)
{
	mmio_write32(d->common + off, (uint32_t)v);
	mmio_write32(d->common + off + 4, (uint32_t)(v >> 32));
}

static uint64_t fw_align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* End of the highest RAM range in the memory map. */
static uint64_t fw_ram_end(const struct fw_start_info *si)
{
	const struct fw_memmap_entry *map = (const void *)(uintptr_t)si->memmap_paddr;
	uint64_t end = 0;

	for (uint32_t i = 0; i < si->memmap_entries; i++)
		if (map[i].type == 1 && map[i].addr + map[i].size > end)
			end = map[i].addr + map[i].size;
	return end;
}

static void fw_assign_bars(struct fw_vdev *d, const struct fw_start_info *si)
{
	uint64_t base64 = fw_align_up(fw_ram_end(si) > 0x100000000ULL ? fw_ram_end(si) :
						0x100000000ULL, 1ULL << 30);
	uint64_t next64 = base64 + d->dev * FW_MMIO_PER_DEV;
	uint64_t next32 = FW_MMIO32_BASE + d->dev * FW_MMIO_PER_DEV;
	uint16_t cmd = pci_read16(0, d->dev, d->fn, PCI_COMMAND);

	pci_write16(0, d->dev, d->fn, PCI_COMMAND, cmd & (uint16_t)~(PCI_CMD_MEM | PCI_CMD_IO));
	for (unsigned int i = 0; i < 6; i++) {
		unsigned int off = PCI_BAR0 + 4 * i;
		uint32_t orig = pci_read32(0, d->dev, d->fn, off);
		bool is64 = (orig & 6) == 4;
		uint64_t mask, size, addr;

		pci_write32(0, d->dev, d->fn, off, 0xffffffff);
		if (orig & 1) {
			/* I/O BAR: stays at kvmrun's port; its size from the bits that stuck. */
			size = (uint16_t)(~(pci_read32(0, d->dev, d->fn, off) & ~3U) + 1);
			pci_write32(0, d->dev, d->fn, off, orig);
			if (size && orig & ~3U) {
				d->bar[i] = orig & ~3U;
				d->bar_size[i] = size;
				d->bar_io[i] = true;
			}
			continue;
		}
		mask = pci_read32(0, d->dev, d->fn, off) & ~0xfULL;
		if (is64 && i < 5) {
			pci_write32(0, d->dev, d->fn, off + 4, 0xffffffff);
			mask |= (uint64_t)pci_read32(0, d->dev, d->fn, off + 4) << 32;
		} else if (mask) {
			mask |= 0xffffffff00000000ULL;
		}
		/* A BAR that reads back 0 is not implemented. */
		size = ~mask + 1;
		if (!mask || !size) {
			if (is64)
				i++;
			continue;
		}
		if (is64) {
			addr = fw_align_up(next64, size);
			next64 = addr + size;
			pci_write32(0, d->dev, d->fn, off, (uint32_t)addr);
			pci_write32(0, d->dev, d->fn, off + 4, (uint32_t)(addr >> 32));
		} else {
			addr = fw_align_up(next32, size);
			next32 = addr + size;
			pci_write32(0, d->dev, d->fn, off, (uint32_t)addr);
		}
		d->bar[i] = addr;
		d->bar_size[i] = size;
		if (is64)
			i++;
	}
	pci_write16(0, d->dev, d->fn, PCI_COMMAND, cmd | PCI_CMD_MEM | PCI_CMD_IO | PCI_CMD_MASTER);
}

static int fw_read_caps(struct fw_vdev *d)
{
	unsigned int ptr, guard = 0;

	if (!(pci_read16(0, d->dev, d->fn, PCI_STATUS) & PCI_STATUS_CAP_LIST))
		return -1;
	for (ptr = pci_read8(0, d->dev, d->fn, PCI_CAP_PTR) & 0xfc; ptr && guard < 48;
	     ptr = pci_read8(0, d->dev, d->fn, ptr + 1) & 0xfc, guard++) {
		uint8_t type, bar;
		uint32_t off, len;
		uint64_t addr;

		if (pci_read8(0, d->dev, d->fn, ptr) != PCI_CAP_ID_VNDR)
			continue;
		type = pci_read8(0, d->dev, d->fn, ptr + 3);
		bar = pci_read8(0, d->dev, d->fn, ptr + 4);
		off = pci_read32(0, d->dev, d->fn, ptr + 8);
		len = pci_read32(0, d->dev, d->fn, ptr + 12);
		if (bar >= 6 || !d->bar[bar] || (uint64_t)off + len > d->bar_size[bar])
			continue;
		addr = d->bar[bar] + off;
		if (type == VCAP_NOTIFY && !d->bar_io[bar] && !d->notify_mem) {
			d->notify_mem = addr;
			d->notify_mem_mul = pci_read32(0, d->dev, d->fn, ptr + 16);
		}
		if (d->bar_io[bar] && type != VCAP_NOTIFY)
			continue; /* only notification is served by port here */
		if (type == VCAP_COMMON && !d->common) {
			d->common = addr;
			d->common_len = len;
		} else if (type == VCAP_NOTIFY && !d->notify) {
			d->notify = addr;
			d->notify_len = len;
			d->notify_mul = pci_read32(0, d->dev, d->fn, ptr + 16);
			d->notify_io = d->bar_io[bar];
		} else if (type == VCAP_ISR && !d->isr) {
			d->isr = addr;
			d->isr_len = len;
		} else if (type == VCAP_DEVICE && !d->device) {
			d->device = addr;
			d->device_len = len;
		}
	}
	return d->common && d->notify && d->isr ? 0 : -1;
}

int fw_virtio_find(struct fw_vdev *d, const struct fw_start_info *si, uint16_t virtio_id)
{
	memset(d, 0, sizeof(*d));
	for (unsigned int dev = 0; dev < 32; dev++) {
		unsigned int nfn = (pci_read8(0, dev, 0, 0x0e) & 0x80) ? 8 : 1;

		for (unsigned int fn = 0; fn < nfn; fn++) {
			uint32_t id = pci_read32(0, dev, fn, 0);

			if ((id & 0xffff) != PCI_VENDOR_VIRTIO ||
			    (id >> 16) != (uint32_t)PCI_DEVICE_MODERN + virtio_id)
				continue;
			d->dev = dev;
			d->fn = fn;
			d->virtio_id = virtio_id;
			fw_assign_bars(d, si);
			return fw_read_caps(d);
		}
	}
	return -1;
}

uint8_t fw_virtio_status(const struct fw_vdev *d)
{
	return fw_vcommon_read8(d, VPCI_STATUS);
}

void fw_virtio_set_status(const struct fw_vdev *d, uint8_t status)
{
	fw_vcommon_write8(d, VPCI_STATUS, status);
}

void fw_virtio_reset(const struct fw_vdev *d)
{
	fw_virtio_set_status(d, 0);
	while (fw_virtio_status(d))
		fw_pause();
}

int fw_virtio_negotiate(struct fw_vdev *d, uint64_t wanted)
{
	uint64_t f;

	fw_virtio_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
	fw_virtio_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	fw_vcommon_write32(d, VPCI_DFSELECT, 0);
	f = fw_vcommon_read32(d, VPCI_DF);
	fw_vcommon_write32(d, VPCI_DFSELECT, 1);
	f |= (uint64_t)fw_vcommon_read32(d, VPCI_DF) << 32;
	d->features = f;
	d->negotiated = (wanted | VIRTIO_BIT(VIRTIO_F_VERSION_1)) & f;
	fw_vcommon_write32(d, VPCI_GFSELECT, 0);
	fw_vcommon_write32(d, VPCI_GF, (uint32_t)d->negotiated);
	fw_vcommon_write32(d, VPCI_GFSELECT, 1);
	fw_vcommon_write32(d, VPCI_GF, (uint32_t)(d->negotiated >> 32));
	fw_virtio_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				       VIRTIO_STATUS_FEATURES_OK);
	return fw_virtio_status(d) & VIRTIO_STATUS_FEATURES_OK ? 0 : -1;
}

int fw_virtio_queue_setup(struct fw_vdev *d, struct fw_vq *q, uint16_t index, uint16_t size,
			  struct fw_vring_mem *mem)
{
	uint16_t max;

	memset(mem, 0, sizeof(*mem));
	memset(q, 0, sizeof(*q));
	fw_vcommon_write16(d, VPCI_Q_SELECT, index);
	max = fw_vcommon_read16(d, VPCI_Q_SIZE);
	if (!max)
		return -1;
	if (!size || size > max)
		size = max;
	if (size > FW_VQ_MAX)
		size = FW_VQ_MAX;
	fw_vcommon_write16(d, VPCI_Q_SIZE, size);
	if (fw_vcommon_read16(d, VPCI_Q_SIZE) != size)
		return -1;
	q->index = index;
	q->size = size;
	q->desc = (struct vring_desc *)mem->desc;
	q->avail = (struct vring_avail *)mem->avail;
	q->used = (struct vring_used *)mem->used;
	q->notify_addr = d->notify + (uint64_t)fw_vcommon_read16(d, VPCI_Q_NOTIFY_OFF) * d->notify_mul;
	q->notify_io = d->notify_io;
	fw_vcommon_write64(d, VPCI_Q_DESC, (uint64_t)(uintptr_t)q->desc);
	fw_vcommon_write64(d, VPCI_Q_DRIVER, (uint64_t)(uintptr_t)q->avail);
	fw_vcommon_write64(d, VPCI_Q_DEVICE, (uint64_t)(uintptr_t)q->used);
	fw_vcommon_write16(d, VPCI_Q_ENABLE, 1);
	return fw_vcommon_read16(d, VPCI_Q_ENABLE) == 1 ? 0 : -1;
}

void fw_virtio_driver_ok(const struct fw_vdev *d)
{
	fw_virtio_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				       VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

int fw_virtio_init(struct fw_vdev *d, struct fw_vq *q, uint64_t wanted, uint16_t size,
		   struct fw_vring_mem *mem)
{
	fw_virtio_reset(d);
	if (fw_virtio_negotiate(d, wanted) || fw_virtio_queue_setup(d, q, 0, size, mem))
		return -1;
	fw_virtio_driver_ok(d);
	return 0;
}

void fw_notify_write(bool io, uint64_t reg, uint16_t v)
{
	if (io)
		outw((uint16_t)reg, v);
	else
		mmio_write16(reg, v);
}

void fw_vq_notify(const struct fw_vdev *d, const struct fw_vq *q)
{
	(void)d;
	fw_barrier();
	fw_notify_write(q->notify_io, q->notify_addr, q->index);
}

void fw_vq_submit(const struct fw_vdev *d, struct fw_vq *q, uint16_t head)
{
	q->avail->ring[q->avail_idx % q->size] = head;
	fw_barrier();
	q->avail_idx++;
	*(volatile uint16_t *)&q->avail->idx = q->avail_idx;
	fw_vq_notify(d, q);
}

/* Status reads are VM exits: look at the status once every this many polls of memory. */
#define FW_STATUS_EVERY 1024
/* Pauses between two reads of the status register. */
#define FW_STATUS_GAP 1000

int fw_vq_wait_used(const struct fw_vdev *d, struct fw_vq *q, uint32_t *id, uint32_t *len,
		    uint64_t spins)
{
	for (uint64_t n = 0; !spins || n < spins; n++) {
		if (*(volatile uint16_t *)&q->used->idx != q->last_used) {
			struct vring_used_elem *e;

			fw_barrier();
			e = &q->used->ring[q->last_used % q->size];
			*id = e->id;
			*len = e->len;
			q->last_used++;
			return 0;
		}
		if (n % FW_STATUS_EVERY == 0 && (fw_virtio_status(d) & VIRTIO_STATUS_NEEDS_RESET))
			return -1;
		fw_pause();
	}
	return -1;
}

bool fw_virtio_wait_needs_reset(const struct fw_vdev *d, uint64_t reads)
{
	for (uint64_t n = 0; n < reads; n++) {
		if (fw_virtio_status(d) & VIRTIO_STATUS_NEEDS_RESET)
			return true;
		for (unsigned int i = 0; i < FW_STATUS_GAP; i++)
			fw_pause();
	}
	return false;
}
