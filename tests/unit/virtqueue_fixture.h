/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_TEST_VIRTQUEUE_FIXTURE_H
#define KVMRUN_TEST_VIRTQUEUE_FIXTURE_H

/*
 * Split virtqueue core against a tiny in-test "guest driver" that lays out the
 * rings in fake guest RAM and posts chains, well-formed and hostile.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "kvmrun/guest_mem.h"
#include "kvmrun/virtio.h"
#include "kvmrun/virtqueue.h"

#include "vring_driver.h"

#define RAM_GPA 0x100000ULL
#define RAM_SIZE (2 * MiB)
#define QSZ 8
#define DESC_GPA (RAM_GPA + 0x0000)
#define AVAIL_GPA (RAM_GPA + 0x1000)
#define USED_GPA (RAM_GPA + 0x2000)
#define IND_GPA (RAM_GPA + 0x10000) /* indirect tables, up to 0x10000 bytes */
#define DATA_GPA (RAM_GPA + 0x20000)

#define F_INDIRECT (1ULL << VQ_F_INDIRECT_DESC)
#define F_EVENT_IDX (1ULL << VQ_F_EVENT_IDX)

#define NEXT VQ_DESC_F_NEXT
#define WRITE VQ_DESC_F_WRITE
#define INDIRECT VQ_DESC_F_INDIRECT

struct fx {
	struct guest_mem gm;
	struct drv_ram ram;
	uint8_t *snap;
	struct vq vq;
	struct vq_chain c;
	uint16_t qsz;
	uint16_t avail_idx; /* the driver's own copy */
	const void *param;  /* the test's initial state (cmocka's prestate), if any */
};

/* ---- the guest driver ---- */

static inline void *hva(struct fx *f, uint64_t gpa)
{
	return drv_hva(&f->ram, gpa);
}

static inline void desc(struct fx *f, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
			uint16_t next)
{
	drv_desc_gpa(&f->ram, DESC_GPA, i, addr, len, flags, next);
}

static inline uint16_t *avail_idx_p(struct fx *f)
{
	return hva(f, AVAIL_GPA + 2);
}

static inline void set_avail_idx(struct fx *f, uint16_t idx)
{
	f->avail_idx = idx;
	__atomic_store_n(avail_idx_p(f), idx, __ATOMIC_RELEASE);
}

static inline void post(struct fx *f, uint16_t head)
{
	uint16_t *ring = hva(f, AVAIL_GPA + 4);

	ring[f->avail_idx & (f->qsz - 1)] = head;
	set_avail_idx(f, f->avail_idx + 1);
}

static inline uint16_t used_idx(struct fx *f)
{
	return drv_used_idx(hva(f, USED_GPA));
}

static inline void used_elem(struct fx *f, uint16_t slot, uint32_t *id, uint32_t *len)
{
	drv_used_elem(hva(f, USED_GPA), f->qsz, slot, id, len);
}

/* ---- fixture ---- */

static inline void start(struct fx *f, uint16_t size, uint64_t features)
{
	f->qsz = size;
	f->avail_idx = 0;
	memset(f->ram.host, 0, RAM_SIZE);
	assert_int_equal(vq_setup(&f->vq, &f->gm, size, DESC_GPA, AVAIL_GPA, USED_GPA, features),
			 0);
}

static inline int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->param = *state;
	f->ram = drv_ram_map(&f->gm, RAM_GPA, RAM_SIZE);
	f->snap = malloc(RAM_SIZE);
	assert_non_null(f->snap);
	start(f, QSZ, 0);
	*state = f;
	return 0;
}

static inline int teardown(void **state)
{
	struct fx *f = *state;

	vq_cleanup(&f->vq);
	free(f->snap);
	fake_ram_free(f->ram.host);
	free(f);
	return 0;
}

/*
 * Pop must fail with -EIO, mark the queue broken, leave guest memory and the
 * device indices alone, and keep failing (pushes too) even once the guest
 * repairs the ring.
 */
static inline void assert_breaks(struct fx *f, const char *why)
{
	uint16_t last = f->vq.last_avail, used = f->vq.used_idx;

	memcpy(f->snap, f->ram.host, RAM_SIZE);
	assert_false(f->vq.broken);
	assert_int_equal(vq_pop(&f->vq, &f->c), -EIO);
	assert_true(f->vq.broken);
	assert_string_equal(f->vq.broken_why, why);
	assert_int_equal(f->vq.last_avail, last);
	assert_int_equal(f->vq.used_idx, used);
	assert_memory_equal(f->snap, f->ram.host, RAM_SIZE);

	/* A repaired ring with a fine chain does not revive it. */
	desc(f, 7, DATA_GPA, 16, 0, 0);
	set_avail_idx(f, last + 1);
	*(uint16_t *)hva(f, AVAIL_GPA + 4 + 2ULL * (last & (f->qsz - 1))) = 7;
	memcpy(f->snap, f->ram.host, RAM_SIZE);
	assert_int_equal(vq_pop(&f->vq, &f->c), -EIO);
	assert_int_equal(vq_push(&f->vq, 0, 0), -EIO);
	assert_false(vq_should_notify(&f->vq));
	vq_set_notify(&f->vq, false);
	assert_false(vq_avail_pending(&f->vq));
	assert_memory_equal(f->snap, f->ram.host, RAM_SIZE);
	assert_int_equal(f->vq.last_avail, last);

	/* Reset brings it back. */
	vq_reset(&f->vq);
	assert_false(f->vq.broken);
	assert_null(f->vq.broken_why);
}

static inline void pop_ok(struct fx *f)
{
	assert_int_equal(vq_pop(&f->vq, &f->c), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

#endif
