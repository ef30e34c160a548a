/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_TEST_VRING_DRIVER_H
#define KVMRUN_TEST_VRING_DRIVER_H

/*
 * The part of an in-test guest driver that every device test repeats: it
 * writes split-ring descriptors and posts chains, on the host's view of the
 * fake guest RAM (include after cmocka.h).
 */
#include <stdint.h>
#include <string.h>

#include "kvmrun/virtio.h"
#include "kvmrun/virtqueue.h"

/* One buffer of a chain. */
struct seg {
	uint64_t gpa;
	uint32_t len;
	uint16_t flags;
};

/* The driver's side of one split ring: host addresses of its tables, its own indices. */
struct drv_ring {
	uint8_t *desc;	/* the descriptor table */
	uint8_t *avail; /* the avail ring */
	uint16_t size;
	uint16_t *next_desc; /* the next free descriptor (taken in turn, modulo size) */
	uint16_t *avail_idx; /* the driver's copy of avail->idx */
};

/* Descriptor @i of the table at @table (host address). */
static inline void drv_desc_at(uint8_t *table, uint16_t i, uint64_t addr, uint32_t len,
			       uint16_t flags, uint16_t next)
{
	uint8_t *p = table + 16ULL * i;

	memcpy(p, &addr, 8);
	memcpy(p + 8, &len, 4);
	memcpy(p + 12, &flags, 2);
	memcpy(p + 14, &next, 2);
}

/* Takes the next free descriptor for one buffer; returns its index. */
static inline uint16_t drv_desc(const struct drv_ring *r, uint64_t addr, uint32_t len,
				uint16_t flags)
{
	uint16_t i = (*r->next_desc)++ % r->size;

	drv_desc_at(r->desc, i, addr, len, flags, 0);
	return i;
}

/* Links @n buffers into a chain on fresh descriptors and posts it; returns the head. */
static inline uint16_t drv_post(const struct drv_ring *r, const struct seg *s, unsigned int n)
{
	uint16_t head = 0, prev = 0;

	for (unsigned int k = 0; k < n; k++) {
		uint16_t i = drv_desc(r, s[k].gpa, s[k].len, s[k].flags);

		if (k == 0)
			head = i;
		else
			drv_desc_at(r->desc, prev, s[k - 1].gpa, s[k - 1].len,
				    s[k - 1].flags | VQ_DESC_F_NEXT, i);
		prev = i;
	}
	memcpy(r->avail + 4 + 2ULL * (*r->avail_idx % r->size), &head, 2);
	(*r->avail_idx)++;
	__atomic_store_n((uint16_t *)(r->avail + 2), *r->avail_idx, __ATOMIC_RELEASE);
	return head;
}

/* The end of a test: a live device is reset as by its driver, then destroyed (NULL: none). */
static inline void drv_dev_destroy(struct virtio_dev *vdev)
{
	if (!vdev)
		return;
	if (vdev->active)
		vdev->ops->reset(vdev);
	vdev->ops->destroy(vdev);
}

#endif
