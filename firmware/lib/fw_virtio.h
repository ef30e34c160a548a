/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A minimal virtio-pci (modern, virtio 1.x section 4.1) driver for test guests:
 * find a device by virtio id on bus 0, give its memory BARs addresses (64-bit
 * BARs above 4 GiB), read its capabilities, negotiate features, set up split
 * queues, submit chains and poll the used ring. No interrupts.
 */
#ifndef FW_VIRTIO_H
#define FW_VIRTIO_H

#include "fw.h"

#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED 128

#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_BIT(n) (1ULL << (n))

#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4

/* Common configuration registers (section 4.1.4.3), offsets in that region. */
#define VPCI_DFSELECT 0x00
#define VPCI_DF 0x04
#define VPCI_GFSELECT 0x08
#define VPCI_GF 0x0c
#define VPCI_MSIX_CONFIG 0x10
#define VPCI_NUM_QUEUES 0x12
#define VPCI_STATUS 0x14
#define VPCI_CFG_GENERATION 0x15
#define VPCI_Q_SELECT 0x16
#define VPCI_Q_SIZE 0x18
#define VPCI_Q_MSIX 0x1a
#define VPCI_Q_ENABLE 0x1c
#define VPCI_Q_NOTIFY_OFF 0x1e
#define VPCI_Q_DESC 0x20
#define VPCI_Q_DRIVER 0x28
#define VPCI_Q_DEVICE 0x30

/* The largest queue these rings hold (one page of descriptors). */
#define FW_VQ_MAX 256

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
} __attribute__((packed));

struct vring_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];
} __attribute__((packed));

struct vring_used_elem {
	uint32_t id;
	uint32_t len;
} __attribute__((packed));

struct vring_used {
	uint16_t flags;
	uint16_t idx;
	struct vring_used_elem ring[];
} __attribute__((packed));

/* The memory of one queue: the caller provides it (static, page aligned). */
struct fw_vring_mem {
	uint8_t desc[4096];
	uint8_t avail[4096];
	uint8_t used[4096];
} __attribute__((aligned(4096)));

struct fw_vdev {
	unsigned int dev, fn;         /* on bus 0 */
	uint16_t virtio_id;
	uint64_t bar[6];              /* assigned addresses, or ports (0: none) */
	uint64_t bar_size[6];
	bool bar_io[6];               /* an I/O BAR: bar[] is its first port */
	uint64_t common, isr, device, notify; /* absolute addresses of the regions */
	uint32_t common_len, isr_len, device_len, notify_len;
	uint32_t notify_mul;
	bool notify_io;               /* notify is a port (the first notify cap, as Linux takes) */
	uint64_t notify_mem;          /* the first notify region in memory (0: none) */
	uint32_t notify_mem_mul;
	uint64_t features;            /* offered by the device */
	uint64_t negotiated;
};

struct fw_vq {
	uint16_t index;
	uint16_t size;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t avail_idx;   /* next free slot (free-running) */
	uint16_t last_used;   /* used entries consumed */
	uint64_t notify_addr;
	bool notify_io;       /* notify_addr is a port */
};

/*
 * Finds the first function on bus 0 with vendor 1af4 and device 1040 + id,
 * gives its memory BARs addresses (64-bit ones above 4 GiB, past the RAM in
 * si's memory map; 32-bit ones in the window at 0xc0000000), keeps its I/O
 * BARs where kvmrun put them, enables memory and I/O decoding and bus
 * mastering and reads its virtio capabilities. 0 or -1.
 */
int fw_virtio_find(struct fw_vdev *d, const struct fw_start_info *si, uint16_t virtio_id);

uint8_t fw_virtio_status(const struct fw_vdev *d);
void fw_virtio_set_status(const struct fw_vdev *d, uint8_t status);
/* Writes 0 and waits until the status reads back 0. */
void fw_virtio_reset(const struct fw_vdev *d);
/*
 * ACKNOWLEDGE, DRIVER, driver features = wanted & offered (plus VERSION_1),
 * FEATURES_OK; -1 when the device does not keep FEATURES_OK.
 */
int fw_virtio_negotiate(struct fw_vdev *d, uint64_t wanted);
/* Selects queue index, sets its size (0: the device's) and ring addresses, enables it. */
int fw_virtio_queue_setup(struct fw_vdev *d, struct fw_vq *q, uint16_t index, uint16_t size,
			  struct fw_vring_mem *mem);
void fw_virtio_driver_ok(const struct fw_vdev *d);
/* reset + negotiate + queue 0 setup + DRIVER_OK. */
int fw_virtio_init(struct fw_vdev *d, struct fw_vq *q, uint64_t wanted, uint16_t size,
		   struct fw_vring_mem *mem);

/* Puts a chain head on the avail ring (barriers included) and notifies the queue. */
void fw_vq_submit(const struct fw_vdev *d, struct fw_vq *q, uint16_t head);
void fw_vq_notify(const struct fw_vdev *d, const struct fw_vq *q);
/* A 16-bit write to a notify register: port @reg when @io, else memory. */
void fw_notify_write(bool io, uint64_t reg, uint16_t v);
/*
 * Polls the used ring for the next entry. 0 with *id and *len filled; -1 when the
 * device sets NEEDS_RESET first, or after `spins` polls of memory (0: no limit).
 */
int fw_vq_wait_used(const struct fw_vdev *d, struct fw_vq *q, uint32_t *id, uint32_t *len,
		    uint64_t spins);
/*
 * Polls the status for NEEDS_RESET: true when it shows within `reads` reads of
 * the register (a thousand pauses apart: each read is a VM exit).
 */
bool fw_virtio_wait_needs_reset(const struct fw_vdev *d, uint64_t reads);

/* Common configuration register access (exact widths). */
uint8_t fw_vcommon_read8(const struct fw_vdev *d, unsigned int off);
uint16_t fw_vcommon_read16(const struct fw_vdev *d, unsigned int off);
uint32_t fw_vcommon_read32(const struct fw_vdev *d, unsigned int off);
void fw_vcommon_write8(const struct fw_vdev *d, unsigned int off, uint8_t v);
void fw_vcommon_write16(const struct fw_vdev *d, unsigned int off, uint16_t v);
void fw_vcommon_write32(const struct fw_vdev *d, unsigned int off, uint32_t v);
void fw_vcommon_write64(const struct fw_vdev *d, unsigned int off, uint64_t v);

#endif
