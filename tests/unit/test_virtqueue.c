// SPDX-License-Identifier: Apache-2.0
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
	uint8_t *ram;
	uint8_t *snap;
	struct vq vq;
	struct vq_chain c;
	uint16_t qsz;
	uint16_t avail_idx; /* the driver's own copy */
};

/* ---- the guest driver ---- */

static void *hva(struct fx *f, uint64_t gpa)
{
	assert_true(gpa >= RAM_GPA && gpa < RAM_GPA + RAM_SIZE);
	return f->ram + (gpa - RAM_GPA);
}

static void desc_at(struct fx *f, uint64_t table, uint16_t i, uint64_t addr, uint32_t len,
		    uint16_t flags, uint16_t next)
{
	uint8_t *p = hva(f, table + 16ULL * i);

	memcpy(p, &addr, 8);
	memcpy(p + 8, &len, 4);
	memcpy(p + 12, &flags, 2);
	memcpy(p + 14, &next, 2);
}

static void desc(struct fx *f, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		 uint16_t next)
{
	desc_at(f, DESC_GPA, i, addr, len, flags, next);
}

static uint16_t *avail_idx_p(struct fx *f)
{
	return hva(f, AVAIL_GPA + 2);
}

static void set_avail_idx(struct fx *f, uint16_t idx)
{
	f->avail_idx = idx;
	__atomic_store_n(avail_idx_p(f), idx, __ATOMIC_RELEASE);
}

static void post(struct fx *f, uint16_t head)
{
	uint16_t *ring = hva(f, AVAIL_GPA + 4);

	ring[f->avail_idx & (f->qsz - 1)] = head;
	set_avail_idx(f, f->avail_idx + 1);
}

static uint16_t used_idx(struct fx *f)
{
	return __atomic_load_n((uint16_t *)hva(f, USED_GPA + 2), __ATOMIC_ACQUIRE);
}

static uint16_t used_flags(struct fx *f)
{
	return *(uint16_t *)hva(f, USED_GPA);
}

static void used_elem(struct fx *f, uint16_t slot, uint32_t *id, uint32_t *len)
{
	uint32_t *e = hva(f, USED_GPA + 4 + 8ULL * (slot & (f->qsz - 1)));

	*id = e[0];
	*len = e[1];
}

static void set_avail_flags(struct fx *f, uint16_t flags)
{
	*(uint16_t *)hva(f, AVAIL_GPA) = flags;
}

static void set_used_event(struct fx *f, uint16_t v)
{
	*(uint16_t *)hva(f, AVAIL_GPA + 4 + 2ULL * f->qsz) = v;
}

static uint16_t avail_event(struct fx *f)
{
	return *(uint16_t *)hva(f, USED_GPA + 4 + 8ULL * f->qsz);
}

/* ---- fixture ---- */

static void start(struct fx *f, uint16_t size, uint64_t features)
{
	f->qsz = size;
	f->avail_idx = 0;
	memset(f->ram, 0, RAM_SIZE);
	assert_int_equal(vq_setup(&f->vq, &f->gm, size, DESC_GPA, AVAIL_GPA, USED_GPA, features),
			 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->ram = aligned_alloc(4096, RAM_SIZE);
	f->snap = malloc(RAM_SIZE);
	assert_non_null(f->ram);
	assert_non_null(f->snap);
	assert_int_equal(gm_add_region(&f->gm, RAM_GPA, RAM_SIZE, f->ram), 0);
	start(f, QSZ, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	vq_cleanup(&f->vq);
	free(f->snap);
	free(f->ram);
	free(f);
	return 0;
}

static int try_setup(struct fx *f, uint16_t size, uint64_t desc_gpa, uint64_t avail, uint64_t used)
{
	int ret = vq_setup(&f->vq, &f->gm, size, desc_gpa, avail, used, 0);

	if (ret)
		assert_int_equal(f->vq.size, 0); /* left cleaned up */
	return ret;
}

/*
 * Pop must fail with -EIO, mark the queue broken, leave guest memory and the
 * device indices alone, and keep failing (pushes too) even once the guest
 * repairs the ring.
 */
static void assert_breaks(struct fx *f, const char *why)
{
	uint16_t last = f->vq.last_avail, used = f->vq.used_idx;

	memcpy(f->snap, f->ram, RAM_SIZE);
	assert_false(f->vq.broken);
	assert_int_equal(vq_pop(&f->vq, &f->c), -EIO);
	assert_true(f->vq.broken);
	assert_string_equal(f->vq.broken_why, why);
	assert_int_equal(f->vq.last_avail, last);
	assert_int_equal(f->vq.used_idx, used);
	assert_memory_equal(f->snap, f->ram, RAM_SIZE);

	/* A repaired ring with a fine chain does not revive it. */
	desc(f, 7, DATA_GPA, 16, 0, 0);
	set_avail_idx(f, last + 1);
	*(uint16_t *)hva(f, AVAIL_GPA + 4 + 2ULL * (last & (f->qsz - 1))) = 7;
	memcpy(f->snap, f->ram, RAM_SIZE);
	assert_int_equal(vq_pop(&f->vq, &f->c), -EIO);
	assert_int_equal(vq_push(&f->vq, 0, 0), -EIO);
	assert_false(vq_should_notify(&f->vq));
	vq_set_notify(&f->vq, false);
	assert_false(vq_avail_pending(&f->vq));
	assert_memory_equal(f->snap, f->ram, RAM_SIZE);
	assert_int_equal(f->vq.last_avail, last);

	/* Reset brings it back. */
	vq_reset(&f->vq);
	assert_false(f->vq.broken);
	assert_null(f->vq.broken_why);
}

static void pop_ok(struct fx *f)
{
	assert_int_equal(vq_pop(&f->vq, &f->c), 0);
}

/* ---- setup ---- */

static void test_setup_size_zero(void **state)
{
	assert_int_equal(try_setup(*state, 0, DESC_GPA, AVAIL_GPA, USED_GPA), -EINVAL);
}

static void test_setup_size_not_power_of_two(void **state)
{
	struct fx *f = *state;

	assert_int_equal(try_setup(f, 3, DESC_GPA, AVAIL_GPA, USED_GPA), -EINVAL);
	assert_int_equal(try_setup(f, 6, DESC_GPA, AVAIL_GPA, USED_GPA), -EINVAL);
	assert_int_equal(try_setup(f, 255, DESC_GPA, AVAIL_GPA, USED_GPA), -EINVAL);
	assert_int_equal(try_setup(f, 1, DESC_GPA, AVAIL_GPA, USED_GPA), 0);
	assert_int_equal(try_setup(f, 256, DESC_GPA, AVAIL_GPA, USED_GPA), 0);
}

static void test_setup_size_limits(void **state)
{
	struct fx *f = *state;
	uint64_t d = RAM_GPA, a = d + VQ_DESC_BYTES(32768),
		 u = ALIGN_UP(a + VQ_AVAIL_BYTES(32768), 4);

	/* 32768 is the largest; nothing above it fits a power of two in 16 bits. */
	assert_int_equal(try_setup(f, 32768, d, a, u), 0);
	assert_int_equal(try_setup(f, 49152, d, a, u), -EINVAL);
	assert_int_equal(try_setup(f, 65535, d, a, u), -EINVAL);
}

static void test_setup_unaligned(void **state)
{
	struct fx *f = *state;

	assert_int_equal(try_setup(f, QSZ, DESC_GPA + 8, AVAIL_GPA, USED_GPA), -EINVAL);
	assert_int_equal(try_setup(f, QSZ, DESC_GPA, AVAIL_GPA + 1, USED_GPA), -EINVAL);
	assert_int_equal(try_setup(f, QSZ, DESC_GPA, AVAIL_GPA, USED_GPA + 2), -EINVAL);
	/* The minimum alignments are enough. */
	assert_int_equal(try_setup(f, QSZ, DESC_GPA + 16, AVAIL_GPA + 2, USED_GPA + 4), 0);
}

static void test_setup_overlap(void **state)
{
	struct fx *f = *state;
	uint64_t d = DESC_GPA, a = d + VQ_DESC_BYTES(QSZ), u = a + VQ_AVAIL_BYTES(QSZ) + 2;

	/* Packed back to back is fine (u is 4-aligned: a + 22 + 2 = d + 152). */
	assert_int_equal(try_setup(f, QSZ, d, a, u), 0);
	assert_int_equal(try_setup(f, QSZ, d, a - 2, u), -EINVAL);	    /* desc/avail */
	assert_int_equal(try_setup(f, QSZ, d, a, u - 4), -EINVAL);	    /* avail/used */
	assert_int_equal(try_setup(f, QSZ, d, u, d + 16), -EINVAL);	    /* used inside desc */
	assert_int_equal(try_setup(f, QSZ, d + 64, AVAIL_GPA, d), -EINVAL); /* used/desc */
	assert_int_equal(try_setup(f, QSZ, d, d, u), -EINVAL);		    /* same address */
}

static void test_setup_outside_ram(void **state)
{
	struct fx *f = *state;

	assert_int_equal(try_setup(f, QSZ, 0, AVAIL_GPA, USED_GPA), -EINVAL);
	assert_int_equal(try_setup(f, QSZ, DESC_GPA, RAM_GPA + RAM_SIZE, USED_GPA), -EINVAL);
	assert_int_equal(try_setup(f, QSZ, DESC_GPA, AVAIL_GPA, 0x10000000), -EINVAL);
	assert_int_equal(try_setup(f, QSZ, 0xfffffffffffffff0ULL, AVAIL_GPA, USED_GPA), -EINVAL);
	assert_int_equal(try_setup(f, QSZ, DESC_GPA, AVAIL_GPA, 0xfffffffffffffffcULL), -EINVAL);
}

static void test_setup_straddling_end(void **state)
{
	struct fx *f = *state;
	uint64_t end = RAM_GPA + RAM_SIZE;

	/* The used ring just inside the end of RAM: fine; 4 bytes further: refused. */
	assert_int_equal(try_setup(f, QSZ, DESC_GPA, AVAIL_GPA, end - VQ_USED_BYTES(QSZ) - 2), 0);
	assert_int_equal(try_setup(f, QSZ, DESC_GPA, AVAIL_GPA, end - VQ_USED_BYTES(QSZ) + 2),
			 -EINVAL);
	assert_int_equal(try_setup(f, QSZ, end - 16 * (QSZ - 1), AVAIL_GPA, USED_GPA), -EINVAL);
	assert_int_equal(try_setup(f, QSZ, DESC_GPA, end - VQ_AVAIL_BYTES(QSZ) + 2, USED_GPA),
			 -EINVAL);
	/* The first byte of RAM is fine, the byte before it is not. */
	assert_int_equal(try_setup(f, QSZ, RAM_GPA, AVAIL_GPA, USED_GPA), 0);
	assert_int_equal(try_setup(f, QSZ, RAM_GPA - 16, AVAIL_GPA, USED_GPA), -EINVAL);
}

static void test_setup_again_and_cleanup(void **state)
{
	struct fx *f = *state;

	/* Replacing a set-up queue frees the old bitmap (ASan would see a leak). */
	start(f, QSZ, 0);
	start(f, 256, F_INDIRECT | F_EVENT_IDX);
	assert_true(f->vq.indirect);
	assert_true(f->vq.event_idx);
	vq_cleanup(&f->vq);
	assert_int_equal(f->vq.size, 0);
	assert_int_equal(vq_pop(&f->vq, &f->c), -ENODEV);
	assert_int_equal(vq_push(&f->vq, 0, 0), -ENODEV);
	vq_cleanup(&f->vq);
}

/* ---- valid chains ---- */

static void test_pop_empty(void **state)
{
	struct fx *f = *state;

	assert_int_equal(vq_pop(&f->vq, &f->c), -EAGAIN);
	assert_false(vq_avail_pending(&f->vq));
	assert_false(f->vq.broken);
}

static void test_pop_simple(void **state)
{
	struct fx *f = *state;

	desc(f, 3, DATA_GPA + 0x100, 0x40, 0, 0);
	post(f, 3);
	assert_true(vq_avail_pending(&f->vq));
	pop_ok(f);
	assert_int_equal(f->c.head, 3);
	assert_int_equal(f->c.nr_out, 1);
	assert_int_equal(f->c.nr_in, 0);
	assert_int_equal(f->c.out_len, 0x40);
	assert_int_equal(f->c.in_len, 0);
	assert_int_equal(f->c.bufs[0].gpa, DATA_GPA + 0x100);
	assert_int_equal(f->c.bufs[0].len, 0x40);
	assert_false(f->c.bufs[0].write);
	assert_ptr_equal(f->c.bufs[0].host, hva(f, DATA_GPA + 0x100));
	assert_int_equal(f->vq.last_avail, 1);
	assert_int_equal(vq_pop(&f->vq, &f->c), -EAGAIN);
}

/* Several chains returned with one used index store; bad batches push nothing. */
static void test_push_batch(void **state)
{
	struct fx *f = *state;
	struct vq_used u[3] = { { 5, 100 }, { 2, 200 }, { 7, 300 } };
	uint32_t id, len;

	for (uint16_t h = 0; h < QSZ; h++)
		desc(f, h, DATA_GPA + 0x100ULL * h, 0x40, WRITE, 0);
	/* Wrap the used ring: 6 single pushes first. */
	for (int i = 0; i < 6; i++) {
		post(f, 0);
		pop_ok(f);
		assert_int_equal(vq_push(&f->vq, 0, 1), 0);
	}
	post(f, 5);
	post(f, 2);
	post(f, 7);
	post(f, 1);
	for (int i = 0; i < 4; i++)
		pop_ok(f);
	/* Not in flight, twice the same, more than in flight: refused, nothing moves. */
	assert_int_equal(vq_push_batch(&f->vq, (struct vq_used[]){ { 5, 1 }, { 3, 1 } }, 2),
			 -EINVAL);
	assert_int_equal(vq_push_batch(&f->vq, (struct vq_used[]){ { 5, 1 }, { 5, 1 } }, 2),
			 -EINVAL);
	assert_int_equal(vq_push_batch(&f->vq, u, 5), -EINVAL);
	assert_int_equal(used_idx(f), 6);
	assert_int_equal(f->vq.nr_inflight, 4);
	assert_int_equal(vq_push_batch(&f->vq, u, 3), 0);
	assert_int_equal(used_idx(f), 9);
	assert_int_equal(f->vq.nr_inflight, 1);
	for (uint16_t i = 0; i < 3; i++) {
		used_elem(f, (uint16_t)(6 + i), &id, &len);
		assert_int_equal(id, u[i].head);
		assert_int_equal(len, u[i].written);
	}
	/* Those heads are free again; the one left is still in flight. */
	assert_int_equal(vq_push(&f->vq, 5, 0), -EINVAL);
	assert_int_equal(vq_push_batch(&f->vq, (struct vq_used[]){ { 1, 9 } }, 1), 0);
	assert_int_equal(used_idx(f), 10);
	assert_int_equal(vq_push_batch(&f->vq, u, 0), 0);
	assert_int_equal(used_idx(f), 10);
}

static void test_pop_multi(void **state)
{
	struct fx *f = *state;

	/* 5 -> 0 -> 7 -> 2: two readable, two writable, out of table order. */
	desc(f, 5, DATA_GPA, 16, NEXT, 0);
	desc(f, 0, DATA_GPA + 0x1000, 512, NEXT, 7);
	desc(f, 7, DATA_GPA + 0x2000, 1024, NEXT | WRITE, 2);
	desc(f, 2, DATA_GPA + 0x3000, 1, WRITE, 6 /* ignored without NEXT */);
	post(f, 5);
	pop_ok(f);
	assert_int_equal(f->c.head, 5);
	assert_int_equal(f->c.nr_out, 2);
	assert_int_equal(f->c.nr_in, 2);
	assert_int_equal(f->c.out_len, 528);
	assert_int_equal(f->c.in_len, 1025);
	assert_int_equal(f->c.bufs[1].gpa, DATA_GPA + 0x1000);
	assert_true(f->c.bufs[2].write);
	assert_int_equal(f->c.bufs[3].gpa, DATA_GPA + 0x3000);
	assert_int_equal(f->c.bufs[3].len, 1);
}

static void test_pop_chain_as_long_as_queue(void **state)
{
	struct fx *f = *state;

	for (uint16_t i = 0; i < QSZ; i++)
		desc(f, i, DATA_GPA + 0x100ULL * i, 8, i == QSZ - 1 ? 0 : NEXT, i + 1);
	post(f, 0);
	pop_ok(f);
	assert_int_equal(f->c.nr_out, QSZ);
}

static void test_pop_indirect(void **state)
{
	struct fx *f = *state;

	start(f, QSZ, F_INDIRECT);
	/* Table order 0 -> 2 -> 1; the WRITE flag on the pointer itself is ignored. */
	desc_at(f, IND_GPA, 0, DATA_GPA, 16, NEXT, 2);
	desc_at(f, IND_GPA, 2, DATA_GPA + 0x100, 64, NEXT | WRITE, 1);
	desc_at(f, IND_GPA, 1, DATA_GPA + 0x200, 1, WRITE, 0);
	desc(f, 4, IND_GPA, 3 * 16, INDIRECT | WRITE, 0);
	post(f, 4);
	pop_ok(f);
	assert_int_equal(f->c.head, 4);
	assert_int_equal(f->c.nr_out, 1);
	assert_int_equal(f->c.nr_in, 2);
	assert_int_equal(f->c.out_len, 16);
	assert_int_equal(f->c.in_len, 65);
	assert_int_equal(f->c.bufs[2].gpa, DATA_GPA + 0x200);
}

static void test_pop_direct_then_indirect(void **state)
{
	struct fx *f = *state;

	start(f, QSZ, F_INDIRECT);
	desc_at(f, IND_GPA, 0, DATA_GPA + 0x100, 32, WRITE, 0);
	desc(f, 1, DATA_GPA, 16, NEXT, 6);
	desc(f, 6, IND_GPA, 16, INDIRECT, 0);
	post(f, 1);
	pop_ok(f);
	assert_int_equal(f->c.nr_out, 1);
	assert_int_equal(f->c.nr_in, 1);
	assert_int_equal(f->c.bufs[1].len, 32);
}

static void test_pop_indirect_max_table(void **state)
{
	struct fx *f = *state;

	start(f, QSZ, F_INDIRECT);
	for (uint16_t i = 0; i < VQ_MAX_CHAIN; i++)
		desc_at(f, IND_GPA, i, DATA_GPA, 4, i == VQ_MAX_CHAIN - 1 ? 0 : NEXT, i + 1);
	desc(f, 0, IND_GPA, 16 * VQ_MAX_CHAIN, INDIRECT, 0);
	post(f, 0);
	pop_ok(f);
	assert_int_equal(f->c.nr_out, VQ_MAX_CHAIN);
	assert_int_equal(f->c.out_len, 4 * VQ_MAX_CHAIN);
}

/* ---- hostile chains ---- */

static void test_desc_loop(void **state)
{
	struct fx *f = *state;

	desc(f, 0, DATA_GPA, 8, NEXT, 1);
	desc(f, 1, DATA_GPA, 8, NEXT, 0);
	post(f, 0);
	assert_breaks(f, "chain longer than the queue");
}

static void test_desc_self_loop(void **state)
{
	struct fx *f = *state;

	desc(f, 2, DATA_GPA, 8, NEXT, 2);
	post(f, 2);
	assert_breaks(f, "chain longer than the queue");
}

static void test_chain_longer_than_queue(void **state)
{
	struct fx *f = *state;

	/* Every descriptor is used once, then the last one points back into the chain. */
	for (uint16_t i = 0; i < QSZ; i++)
		desc(f, i, DATA_GPA, 8, NEXT, (i + 1) % QSZ);
	post(f, 0);
	assert_breaks(f, "chain longer than the queue");
}

static void test_chain_longer_than_max_chain(void **state)
{
	struct fx *f = *state;

	/* One direct buffer plus a full indirect table: VQ_MAX_CHAIN + 1 buffers. */
	start(f, QSZ, F_INDIRECT);
	for (uint16_t i = 0; i < VQ_MAX_CHAIN; i++)
		desc_at(f, IND_GPA, i, DATA_GPA, 4, i == VQ_MAX_CHAIN - 1 ? 0 : NEXT, i + 1);
	desc(f, 0, DATA_GPA, 4, NEXT, 1);
	desc(f, 1, IND_GPA, 16 * VQ_MAX_CHAIN, INDIRECT, 0);
	post(f, 0);
	assert_breaks(f, "chain longer than VQ_MAX_CHAIN");
}

static void test_next_out_of_range(void **state)
{
	struct fx *f = *state;

	desc(f, 0, DATA_GPA, 8, NEXT, QSZ);
	post(f, 0);
	assert_breaks(f, "next out of range");
}

static void test_head_out_of_range(void **state)
{
	struct fx *f = *state;

	post(f, QSZ);
	assert_breaks(f, "head out of range");
}

static void test_addr_len_wrapping(void **state)
{
	struct fx *f = *state;

	desc(f, 0, 0xfffffffffffff000ULL, 0x2000, 0, 0);
	post(f, 0);
	assert_breaks(f, "buffer outside guest RAM");
}

static void test_buf_outside_ram(void **state)
{
	struct fx *f = *state;

	desc(f, 0, RAM_GPA + RAM_SIZE, 1, 0, 0);
	post(f, 0);
	assert_breaks(f, "buffer outside guest RAM");
}

static void test_buf_straddling_end(void **state)
{
	struct fx *f = *state;

	/* The last byte is fine, two bytes from there are not. */
	desc(f, 0, RAM_GPA + RAM_SIZE - 1, 1, WRITE, 0);
	post(f, 0);
	pop_ok(f);
	desc(f, 1, DATA_GPA, 8, NEXT, 2);
	desc(f, 2, RAM_GPA + RAM_SIZE - 1, 2, WRITE, 0);
	post(f, 1);
	assert_breaks(f, "buffer outside guest RAM");
}

static void test_len_zero(void **state)
{
	struct fx *f = *state;

	/* Zero-length buffers are refused (as QEMU does), even in the middle. */
	desc(f, 0, DATA_GPA, 8, NEXT, 1);
	desc(f, 1, DATA_GPA, 0, NEXT | WRITE, 2);
	desc(f, 2, DATA_GPA, 8, WRITE, 0);
	post(f, 0);
	assert_breaks(f, "zero-length buffer");
}

static void test_len_max(void **state)
{
	struct fx *f = *state;

	desc(f, 0, DATA_GPA, 0xffffffff, 0, 0);
	post(f, 0);
	assert_breaks(f, "buffer outside guest RAM");
}

static void test_total_len_overflow(void **state)
{
	struct fx *f = *state;
	/* 8 GiB of guest address space, never touched: only the sums matter. */
	void *big =
	    mmap(NULL, 8 * GiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	assert_true(big != MAP_FAILED);
	assert_int_equal(gm_add_region(&f->gm, 4 * GiB, 8 * GiB, big), 0);
	desc(f, 0, 4 * GiB, 0xffffffff, WRITE | NEXT, 1);
	desc(f, 1, 8 * GiB, 1, WRITE, 0);
	post(f, 0);
	assert_breaks(f, "writable part longer than 4 GiB");
	f->gm.nr_regions--;
	munmap(big, 8 * GiB);
}

static void test_write_then_read(void **state)
{
	struct fx *f = *state;

	desc(f, 0, DATA_GPA, 8, WRITE | NEXT, 1);
	desc(f, 1, DATA_GPA + 8, 8, 0, 0);
	post(f, 0);
	assert_breaks(f, "readable buffer after a writable one");
}

static void test_write_then_read_indirect(void **state)
{
	struct fx *f = *state;

	start(f, QSZ, F_INDIRECT);
	desc(f, 0, DATA_GPA, 8, WRITE | NEXT, 1);
	desc(f, 1, IND_GPA, 16, INDIRECT, 0);
	desc_at(f, IND_GPA, 0, DATA_GPA, 8, 0, 0);
	post(f, 0);
	assert_breaks(f, "readable buffer after a writable one");
}

static void test_indirect_not_negotiated(void **state)
{
	struct fx *f = *state;

	desc_at(f, IND_GPA, 0, DATA_GPA, 8, 0, 0);
	desc(f, 0, IND_GPA, 16, INDIRECT, 0);
	post(f, 0);
	assert_breaks(f, "indirect descriptor not negotiated");
}

static void test_indirect_nested(void **state)
{
	struct fx *f = *state;

	start(f, QSZ, F_INDIRECT);
	desc_at(f, IND_GPA, 0, DATA_GPA, 8, NEXT, 1);
	desc_at(f, IND_GPA, 1, IND_GPA + 0x1000, 16, INDIRECT, 0);
	desc_at(f, IND_GPA + 0x1000, 0, DATA_GPA, 8, 0, 0);
	desc(f, 0, IND_GPA, 32, INDIRECT, 0);
	post(f, 0);
	assert_breaks(f, "nested indirect table");
}

static void test_indirect_with_next(void **state)
{
	struct fx *f = *state;

	start(f, QSZ, F_INDIRECT);
	desc_at(f, IND_GPA, 0, DATA_GPA, 8, 0, 0);
	desc(f, 0, IND_GPA, 16, INDIRECT | NEXT, 1);
	desc(f, 1, DATA_GPA, 8, WRITE, 0);
	post(f, 0);
	assert_breaks(f, "indirect descriptor with NEXT");
}

static void test_indirect_len_zero(void **state)
{
	struct fx *f = *state;

	start(f, QSZ, F_INDIRECT);
	desc(f, 0, IND_GPA, 0, INDIRECT, 0);
	post(f, 0);
	assert_breaks(f, "indirect table length");
}

static void test_indirect_len_not_multiple(void **state)
{
	struct fx *f = *state;

	start(f, QSZ, F_INDIRECT);
	desc_at(f, IND_GPA, 0, DATA_GPA, 8, 0, 0);
	desc_at(f, IND_GPA, 1, DATA_GPA, 8, 0, 0);
	desc(f, 0, IND_GPA, 24, INDIRECT, 0);
	post(f, 0);
	assert_breaks(f, "indirect table length");
}

static void test_indirect_too_long(void **state)
{
	struct fx *f = *state;

	start(f, QSZ, F_INDIRECT);
	desc_at(f, IND_GPA, 0, DATA_GPA, 8, 0, 0);
	desc(f, 0, IND_GPA, 16 * (VQ_MAX_CHAIN + 1), INDIRECT, 0);
	post(f, 0);
	assert_breaks(f, "indirect table longer than VQ_MAX_CHAIN");
}

static void test_indirect_table_outside_ram(void **state)
{
	struct fx *f = *state;

	start(f, QSZ, F_INDIRECT);
	desc(f, 0, RAM_GPA + RAM_SIZE - 16, 32, INDIRECT, 0);
	post(f, 0);
	assert_breaks(f, "indirect table outside guest RAM");
}

static void test_indirect_loop(void **state)
{
	struct fx *f = *state;

	start(f, QSZ, F_INDIRECT);
	desc_at(f, IND_GPA, 0, DATA_GPA, 8, NEXT, 1);
	desc_at(f, IND_GPA, 1, DATA_GPA, 8, NEXT, 0);
	desc(f, 0, IND_GPA, 32, INDIRECT, 0);
	post(f, 0);
	assert_breaks(f, "loop in an indirect table");
}

static void test_indirect_next_out_of_range(void **state)
{
	struct fx *f = *state;

	start(f, QSZ, F_INDIRECT);
	desc_at(f, IND_GPA, 0, DATA_GPA, 8, NEXT, 2);
	desc_at(f, IND_GPA, 1, DATA_GPA, 8, 0, 0);
	desc_at(f, IND_GPA, 2, DATA_GPA, 8, 0, 0); /* exists in RAM, not in the table */
	desc(f, 0, IND_GPA, 32, INDIRECT, 0);
	post(f, 0);
	assert_breaks(f, "indirect next out of range");
}

/* ---- avail index ---- */

static void test_avail_more_than_queue_ahead(void **state)
{
	struct fx *f = *state;

	for (uint16_t i = 0; i < QSZ; i++)
		desc(f, i, DATA_GPA, 8, 0, 0);
	/* Exactly one queue ahead is fine. */
	for (uint16_t i = 0; i < QSZ; i++)
		post(f, i);
	for (uint16_t i = 0; i < QSZ; i++) {
		pop_ok(f);
		assert_int_equal(f->c.head, i);
	}
	for (uint16_t i = 0; i < QSZ; i++)
		assert_int_equal(vq_push(&f->vq, i, 0), 0);
	set_avail_idx(f, f->avail_idx + QSZ + 1);
	assert_breaks(f, "avail index more than a queue ahead");
}

static void test_avail_backwards(void **state)
{
	struct fx *f = *state;

	desc(f, 0, DATA_GPA, 8, 0, 0);
	desc(f, 1, DATA_GPA, 8, 0, 0);
	post(f, 0);
	post(f, 1);
	pop_ok(f);
	pop_ok(f);
	set_avail_idx(f, 1); /* 0xffff ahead modulo 2^16 */
	assert_breaks(f, "avail index more than a queue ahead");
}

static void test_avail_wraps(void **state)
{
	struct fx *f = *state;
	uint32_t id, len;

	for (uint16_t i = 0; i < QSZ; i++)
		desc(f, i, DATA_GPA, 8, WRITE, 0);
	/* Run the indices up to 0xfffe with real traffic. */
	for (unsigned int n = 0; n < 0xfffe; n++) {
		post(f, n % QSZ);
		pop_ok(f);
		assert_int_equal(vq_push(&f->vq, n % QSZ, 1), 0);
	}
	assert_int_equal(f->vq.last_avail, 0xfffe);
	assert_int_equal(used_idx(f), 0xfffe);
	/* Post four across 0xffff -> 0: all pop, in order. */
	for (uint16_t i = 0; i < 4; i++)
		post(f, 4 + i);
	assert_int_equal(f->avail_idx, 2);
	for (uint16_t i = 0; i < 4; i++) {
		pop_ok(f);
		assert_int_equal(f->c.head, 4 + i);
		assert_int_equal(vq_push(&f->vq, 4 + i, 100 + i), 0);
	}
	assert_int_equal(vq_pop(&f->vq, &f->c), -EAGAIN);
	assert_int_equal(used_idx(f), 2);
	used_elem(f, 0xffff, &id, &len);
	assert_int_equal(id, 5);
	assert_int_equal(len, 101);
	used_elem(f, 1, &id, &len);
	assert_int_equal(id, 7);
	assert_int_equal(len, 103);
	/* And one queue ahead across the wrap is still refused. */
	set_avail_idx(f, f->avail_idx + QSZ + 1);
	assert_breaks(f, "avail index more than a queue ahead");
}

static void test_head_posted_twice(void **state)
{
	struct fx *f = *state;

	desc(f, 2, DATA_GPA, 8, 0, 0);
	post(f, 2);
	pop_ok(f);
	/* Once returned, the same head may come again. */
	assert_int_equal(vq_push(&f->vq, 2, 0), 0);
	post(f, 2);
	pop_ok(f);
	post(f, 2);
	assert_breaks(f, "head posted again while in flight");
}

static void test_desc_rewritten_after_pop(void **state)
{
	struct fx *f = *state;
	uint8_t buf[8];

	memset(hva(f, DATA_GPA), 0x11, 8);
	memset(hva(f, DATA_GPA + 0x1000), 0x22, 8);
	desc(f, 0, DATA_GPA, 8, NEXT, 1);
	desc(f, 1, DATA_GPA + 0x100, 16, WRITE, 0);
	post(f, 0);
	pop_ok(f);
	/* The guest points everything elsewhere, and out of RAM. */
	desc(f, 0, DATA_GPA + 0x1000, 0xffffffff, WRITE | NEXT, 5);
	desc(f, 1, 0xfffffffffffff000ULL, 0x2000, 0, 0);
	assert_int_equal(f->c.nr_out, 1);
	assert_int_equal(f->c.nr_in, 1);
	assert_int_equal(f->c.bufs[0].gpa, DATA_GPA);
	assert_int_equal(f->c.bufs[0].len, 8);
	assert_int_equal(f->c.bufs[1].gpa, DATA_GPA + 0x100);
	assert_int_equal(f->c.bufs[1].len, 16);
	assert_int_equal(vq_chain_read(&f->c, 0, buf, sizeof(buf)), 8);
	assert_int_equal(buf[0], 0x11);
	assert_int_equal(vq_push(&f->vq, 0, 16), 0);
}

/* ---- used ring and notifications ---- */

static void test_push_used(void **state)
{
	struct fx *f = *state;
	uint32_t id, len;

	desc(f, 1, DATA_GPA, 8, WRITE, 0);
	desc(f, 6, DATA_GPA + 8, 8, WRITE, 0);
	post(f, 1);
	post(f, 6);
	pop_ok(f);
	pop_ok(f);
	assert_int_equal(f->vq.nr_inflight, 2);
	/* Out of order completion. */
	assert_int_equal(vq_push(&f->vq, 6, 8), 0);
	assert_int_equal(used_idx(f), 1);
	used_elem(f, 0, &id, &len);
	assert_int_equal(id, 6);
	assert_int_equal(len, 8);
	assert_int_equal(vq_push(&f->vq, 1, 3), 0);
	assert_int_equal(used_idx(f), 2);
	used_elem(f, 1, &id, &len);
	assert_int_equal(id, 1);
	assert_int_equal(len, 3);
	assert_int_equal(f->vq.nr_inflight, 0);
}

static void test_push_not_in_flight(void **state)
{
	struct fx *f = *state;

	desc(f, 1, DATA_GPA, 8, 0, 0);
	post(f, 1);
	assert_int_equal(vq_push(&f->vq, 1, 0), -EINVAL); /* not popped yet */
	pop_ok(f);
	assert_int_equal(vq_push(&f->vq, 2, 0), -EINVAL);
	assert_int_equal(vq_push(&f->vq, QSZ, 0), -EINVAL);
	assert_int_equal(vq_push(&f->vq, 0xffff, 0), -EINVAL);
	assert_int_equal(vq_push(&f->vq, 1, 0), 0);
	assert_int_equal(vq_push(&f->vq, 1, 0), -EINVAL); /* twice */
	assert_int_equal(used_idx(f), 1);
	assert_false(f->vq.broken);
}

static void push_one(struct fx *f, uint16_t head)
{
	desc(f, head, DATA_GPA, 8, WRITE, 0);
	post(f, head);
	pop_ok(f);
	assert_int_equal(vq_push(&f->vq, head, 8), 0);
}

static void test_notify_no_interrupt(void **state)
{
	struct fx *f = *state;

	assert_false(vq_should_notify(&f->vq)); /* nothing pushed */
	push_one(f, 0);
	assert_true(vq_should_notify(&f->vq));
	assert_false(vq_should_notify(&f->vq)); /* nothing new */
	set_avail_flags(f, VQ_AVAIL_F_NO_INTERRUPT);
	push_one(f, 1);
	assert_false(vq_should_notify(&f->vq));
	set_avail_flags(f, 0);
	push_one(f, 2);
	assert_true(vq_should_notify(&f->vq));
}

static void test_need_event_math(void **state)
{
	(void)state;
	/* Moved from old to new: notify when event is in [old, new). */
	assert_true(vq_need_event(0, 1, 0));
	assert_false(vq_need_event(1, 1, 0));
	assert_true(vq_need_event(5, 10, 5));
	assert_true(vq_need_event(9, 10, 5));
	assert_false(vq_need_event(10, 10, 5));
	assert_false(vq_need_event(4, 10, 5));
	assert_false(vq_need_event(0, 0, 0));
	/* Across 0xffff -> 0. */
	assert_true(vq_need_event(0xfffe, 1, 0xfffe));
	assert_true(vq_need_event(0xffff, 1, 0xfffe));
	assert_true(vq_need_event(0, 1, 0xfffe));
	assert_false(vq_need_event(1, 1, 0xfffe));
	assert_false(vq_need_event(0xfffd, 1, 0xfffe));
}

static void test_notify_event_idx(void **state)
{
	struct fx *f = *state;

	start(f, QSZ, F_EVENT_IDX);
	/* NO_INTERRUPT is ignored with EVENT_IDX; the first decision always notifies. */
	set_avail_flags(f, VQ_AVAIL_F_NO_INTERRUPT);
	set_used_event(f, 0x100);
	push_one(f, 0);
	assert_true(vq_should_notify(&f->vq));
	/* used_event 0x100 is far away: no interrupt for 1 -> 2 or 2 -> 4. */
	push_one(f, 1);
	assert_false(vq_should_notify(&f->vq));
	push_one(f, 2);
	push_one(f, 3);
	assert_false(vq_should_notify(&f->vq));
	/* Driver wants one once entry 4 is used: 4 -> 5 crosses it. */
	set_used_event(f, 4);
	push_one(f, 4);
	assert_true(vq_should_notify(&f->vq));
	/* Batch 5 -> 7 with used_event 5 inside it. */
	set_used_event(f, 5);
	push_one(f, 5);
	push_one(f, 6);
	assert_true(vq_should_notify(&f->vq));
	assert_false(vq_should_notify(&f->vq));
}

static void test_notify_event_idx_wrap(void **state)
{
	struct fx *f = *state;

	start(f, QSZ, F_EVENT_IDX);
	set_used_event(f, 0x8000);
	for (unsigned int n = 0; n < 0xfffe; n++)
		push_one(f, n % QSZ);
	assert_true(vq_should_notify(&f->vq)); /* first decision */
	/* 0xfffe -> 0x0001 with used_event 0xffff: notify. */
	set_used_event(f, 0xffff);
	push_one(f, 0);
	push_one(f, 1);
	push_one(f, 2);
	assert_int_equal(f->vq.used_idx, 1);
	assert_true(vq_should_notify(&f->vq));
	/* 0x0001 -> 0x0003 with used_event 0xffff (behind): no notify. */
	push_one(f, 3);
	push_one(f, 4);
	assert_false(vq_should_notify(&f->vq));
	/* 0x0003 -> 0x0004 with used_event 3: notify. */
	set_used_event(f, 3);
	push_one(f, 5);
	assert_true(vq_should_notify(&f->vq));
}

static void test_set_notify_flags(void **state)
{
	struct fx *f = *state;

	vq_set_notify(&f->vq, false);
	assert_int_equal(used_flags(f), VQ_USED_F_NO_NOTIFY);
	vq_set_notify(&f->vq, true);
	assert_int_equal(used_flags(f), 0);
}

static void test_set_notify_event_idx(void **state)
{
	struct fx *f = *state;

	start(f, QSZ, F_EVENT_IDX);
	*(uint16_t *)hva(f, USED_GPA + 4 + 8ULL * QSZ) = 0x1234;
	push_one(f, 0);
	push_one(f, 1);
	push_one(f, 2);
	vq_set_notify(&f->vq, false);
	assert_int_equal(used_flags(f), 0); /* flags unused with EVENT_IDX */
	vq_set_notify(&f->vq, true);
	assert_int_equal(avail_event(f), 3);
	/* Popping an empty ring with kicks wanted publishes where it stopped. */
	vq_set_notify(&f->vq, false);
	*(uint16_t *)hva(f, USED_GPA + 4 + 8ULL * QSZ) = 0x1234;
	assert_int_equal(vq_pop(&f->vq, &f->c), -EAGAIN);
	assert_int_equal(avail_event(f), 0x1234);
	vq_set_notify(&f->vq, true);
	*(uint16_t *)hva(f, USED_GPA + 4 + 8ULL * QSZ) = 0x1234;
	assert_int_equal(vq_pop(&f->vq, &f->c), -EAGAIN);
	assert_int_equal(avail_event(f), 3);
}

/* ---- chain copies ---- */

static void setup_copy_chain(struct fx *f)
{
	uint8_t *d = hva(f, DATA_GPA);

	for (unsigned int i = 0; i < 0x400; i++)
		d[i] = (uint8_t)i;
	/* Readable: 3 @0x000, 5 @0x100, 8 @0x200; writable: 4 @0x300, 6 @0x380. */
	desc(f, 0, DATA_GPA + 0x000, 3, NEXT, 1);
	desc(f, 1, DATA_GPA + 0x100, 5, NEXT, 2);
	desc(f, 2, DATA_GPA + 0x200, 8, NEXT, 3);
	desc(f, 3, DATA_GPA + 0x300, 4, NEXT | WRITE, 4);
	desc(f, 4, DATA_GPA + 0x380, 6, WRITE, 0);
	post(f, 0);
	pop_ok(f);
}

static void test_chain_read(void **state)
{
	struct fx *f = *state;
	uint8_t buf[32];
	const uint8_t want[] = {0x00, 0x01, 0x02, 0x00, 0x01, 0x02, 0x03, 0x04,
				0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07};

	setup_copy_chain(f);
	memset(buf, 0xee, sizeof(buf));
	/* The whole readable part, and not a byte of the writable one. */
	assert_int_equal(vq_chain_read(&f->c, 0, buf, sizeof(buf)), 16);
	assert_memory_equal(buf, want, 16);
	assert_int_equal(buf[16], 0xee);
	/* A header split across descriptors. */
	assert_int_equal(vq_chain_read(&f->c, 2, buf, 4), 4);
	assert_memory_equal(buf, want + 2, 4);
	assert_int_equal(vq_chain_read(&f->c, 7, buf, 3), 3);
	assert_memory_equal(buf, want + 7, 3);
	/* Past the end. */
	assert_int_equal(vq_chain_read(&f->c, 14, buf, 4), 2);
	assert_int_equal(vq_chain_read(&f->c, 16, buf, 4), 0);
	assert_int_equal(vq_chain_read(&f->c, SIZE_MAX, buf, 4), 0);
	assert_int_equal(vq_chain_read(&f->c, 0, buf, 0), 0);
}

static void test_chain_write(void **state)
{
	struct fx *f = *state;
	const uint8_t src[12] = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5,
				 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab};
	uint8_t *w0 = hva(f, DATA_GPA + 0x300), *w1 = hva(f, DATA_GPA + 0x380);

	setup_copy_chain(f);
	/* Offset 2: two bytes in the first writable buffer, then the second. */
	assert_int_equal(vq_chain_write(&f->c, 2, src, 5), 5);
	assert_int_equal(w0[1], 0x01);
	assert_int_equal(w0[2], 0xa0);
	assert_int_equal(w0[3], 0xa1);
	assert_int_equal(w0[4], 0x04); /* beyond the 4-byte buffer: untouched */
	assert_memory_equal(w1, src + 2, 3);
	assert_int_equal(w1[3], 0x83);
	/* Longer than the writable part: stops at its end. */
	assert_int_equal(vq_chain_write(&f->c, 0, src, sizeof(src)), 10);
	assert_memory_equal(w0, src, 4);
	assert_memory_equal(w1, src + 4, 6);
	assert_int_equal(w1[6], 0x86);
	assert_int_equal(vq_chain_write(&f->c, 10, src, 1), 0);
	/* The readable buffers were never written. */
	assert_int_equal(*(uint8_t *)hva(f, DATA_GPA), 0x00);
	assert_int_equal(*(uint8_t *)hva(f, DATA_GPA + 0x207), 0x07);
}

/* ---- a guest that posts as fast as the device serves (virtio_process_queue) ---- */

/* A device with this queue only, on a fake transport that counts what it is told. */
static struct {
	struct fx *f;
	unsigned int handled, notifies, requeues, resets;
	struct virtio_dev vdev;
	struct virtio_dev_ops ops;
	struct virtio_transport_ops tops;
	struct vq_chain chain;
} pass;

static void pass_notify(struct virtio_dev *vdev, uint16_t q)
{
	pass.notifies++;
}

static void pass_config_changed(struct virtio_dev *vdev)
{
}

static void pass_needs_reset(struct virtio_dev *vdev)
{
	pass.resets++;
}

static void pass_requeue(struct virtio_dev *vdev, uint16_t q)
{
	assert_int_equal(q, 0);
	pass.requeues++;
}

/* Returns each chain and posts it again at once, as a vCPU beside the loop could. */
static int pass_handle(struct virtio_dev *vdev, uint16_t q, struct vq_chain *c)
{
	if (++pass.handled > 100 * QSZ)
		fail_msg("one pass never ends while the guest keeps posting");
	assert_int_equal(vq_push(&vdev->vqs[q], c->head, 0), 0);
	if (pass.f) /* NULL: the guest has stopped posting */
		post(pass.f, c->head);
	return 0;
}

static struct virtio_dev *pass_dev(struct fx *f)
{
	memset(&pass, 0, sizeof(pass));
	pass.f = f;
	pass.ops = (struct virtio_dev_ops){.name = "test"};
	pass.tops = (struct virtio_transport_ops){.notify_queue = pass_notify,
						  .config_changed = pass_config_changed,
						  .needs_reset = pass_needs_reset,
						  .requeue = pass_requeue};
	pass.vdev.ops = &pass.ops;
	pass.vdev.transport = &pass.tops;
	pass.vdev.vqs = &f->vq;
	pass.vdev.nr_queues = 1;
	pass.vdev.active = true;
	return &pass.vdev;
}

/*
 * One pass takes one queue's worth and requeues the queue, with the guest's
 * kicks left off; the next pass goes on where it stopped.
 */
static void test_pass_bounded(void **state)
{
	struct fx *f = *state;
	struct virtio_dev *vdev = pass_dev(f);

	for (uint16_t i = 0; i < QSZ; i++)
		desc(f, i, DATA_GPA + 64ULL * i, 64, 0, 0);
	post(f, 0);
	post(f, 1);
	assert_int_equal(virtio_process_queue(vdev, 0, &pass.chain, pass_handle), QSZ);
	assert_int_equal(pass.handled, QSZ);
	assert_int_equal(pass.requeues, 1);
	assert_int_equal(pass.notifies, 1);
	assert_int_equal(used_idx(f), QSZ);
	assert_true(vq_avail_pending(&f->vq));
	assert_int_equal(used_flags(f) & VQ_USED_F_NO_NOTIFY, VQ_USED_F_NO_NOTIFY);
	assert_int_equal(virtio_process_queue(vdev, 0, &pass.chain, pass_handle), QSZ);
	assert_int_equal(pass.requeues, 2);
	assert_int_equal(used_idx(f), 2 * QSZ);
	assert_int_equal(pass.resets, 0);
	assert_false(f->vq.broken);
}

/* With a limit (the blk backend's room): at most max, 0 included, and no requeue. */
static void test_pass_max(void **state)
{
	struct fx *f = *state;
	struct virtio_dev *vdev = pass_dev(f);
	bool more;

	for (uint16_t i = 0; i < 3; i++) {
		desc(f, i, DATA_GPA + 64ULL * i, 64, 0, 0);
		post(f, i);
	}
	assert_int_equal(virtio_process_queue_max(vdev, 0, &pass.chain, pass_handle, 0, &more), 0);
	assert_true(more);
	assert_int_equal(used_flags(f) & VQ_USED_F_NO_NOTIFY, VQ_USED_F_NO_NOTIFY);
	assert_int_equal(virtio_process_queue_max(vdev, 0, &pass.chain, pass_handle, 2, &more), 2);
	assert_true(more);
	assert_int_equal(pass.requeues, 0);
	assert_int_equal(used_idx(f), 2);
	/* A guest that stops posting: the pass ends with the kicks back on. */
	pass.f = NULL;
	assert_int_equal(virtio_process_queue_max(vdev, 0, &pass.chain, pass_handle, QSZ, &more), 3);
	assert_false(more);
	assert_int_equal(used_flags(f) & VQ_USED_F_NO_NOTIFY, 0);
	assert_int_equal(pass.requeues, 0);
}

/* A guest that breaks its queue and resets it in a loop gets no fresh log lines. */
static void test_ratelimit_survives_reset(void **state)
{
	struct fx *f = *state;

	for (unsigned int i = 0; i < 20; i++) {
		start(f, QSZ, 0);
		post(f, QSZ); /* head out of range */
		assert_int_equal(vq_pop(&f->vq, &f->c), -EIO);
	}
	assert_true(f->vq.rl.suppressed > 0);
	assert_true(f->vq.rl.count + f->vq.rl.suppressed >= 20);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_pass_bounded),
	    T(test_pass_max),
	    T(test_ratelimit_survives_reset),
	    T(test_setup_size_zero),
	    T(test_setup_size_not_power_of_two),
	    T(test_setup_size_limits),
	    T(test_setup_unaligned),
	    T(test_setup_overlap),
	    T(test_setup_outside_ram),
	    T(test_setup_straddling_end),
	    T(test_setup_again_and_cleanup),
	    T(test_pop_empty),
	    T(test_pop_simple),
	    T(test_push_batch),
	    T(test_pop_multi),
	    T(test_pop_chain_as_long_as_queue),
	    T(test_pop_indirect),
	    T(test_pop_direct_then_indirect),
	    T(test_pop_indirect_max_table),
	    T(test_desc_loop),
	    T(test_desc_self_loop),
	    T(test_chain_longer_than_queue),
	    T(test_chain_longer_than_max_chain),
	    T(test_next_out_of_range),
	    T(test_head_out_of_range),
	    T(test_addr_len_wrapping),
	    T(test_buf_outside_ram),
	    T(test_buf_straddling_end),
	    T(test_len_zero),
	    T(test_len_max),
	    T(test_total_len_overflow),
	    T(test_write_then_read),
	    T(test_write_then_read_indirect),
	    T(test_indirect_not_negotiated),
	    T(test_indirect_nested),
	    T(test_indirect_with_next),
	    T(test_indirect_len_zero),
	    T(test_indirect_len_not_multiple),
	    T(test_indirect_too_long),
	    T(test_indirect_table_outside_ram),
	    T(test_indirect_loop),
	    T(test_indirect_next_out_of_range),
	    T(test_avail_more_than_queue_ahead),
	    T(test_avail_backwards),
	    T(test_avail_wraps),
	    T(test_head_posted_twice),
	    T(test_desc_rewritten_after_pop),
	    T(test_push_used),
	    T(test_push_not_in_flight),
	    T(test_notify_no_interrupt),
	    T(test_need_event_math),
	    T(test_notify_event_idx),
	    T(test_notify_event_idx_wrap),
	    T(test_set_notify_flags),
	    T(test_set_notify_event_idx),
	    T(test_chain_read),
	    T(test_chain_write),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
