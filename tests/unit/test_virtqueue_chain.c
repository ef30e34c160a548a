// SPDX-License-Identifier: Apache-2.0
/*
 * Split virtqueue core: ring setup checks and chain walking, well-formed
 * chains and every malformed (direct or indirect) one a hostile guest can post.
 */
#include "virtqueue_fixture.h"

static int try_setup(struct fx *f, uint16_t size, uint64_t desc_gpa, uint64_t avail, uint64_t used)
{
	int ret = vq_setup(&f->vq, &f->gm, size, desc_gpa, avail, used, 0);

	if (ret)
		assert_int_equal(f->vq.size, 0); /* left cleaned up */
	return ret;
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

/* Pops a chain: head, its readable and writable buffers, and their lengths. */
static void pop_chain(struct fx *f, uint16_t head, uint16_t nr_out, uint16_t nr_in,
		      uint32_t out_len, uint32_t in_len)
{
	pop_ok(f);
	assert_int_equal(f->c.head, head);
	assert_int_equal(f->c.nr_out, nr_out);
	assert_int_equal(f->c.nr_in, nr_in);
	assert_int_equal(f->c.out_len, out_len);
	assert_int_equal(f->c.in_len, in_len);
}

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
	pop_chain(f, 3, 1, 0, 0x40, 0);
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
	struct vq_used u[3] = {{5, 100}, {2, 200}, {7, 300}};
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
	assert_int_equal(vq_push_batch(&f->vq, (struct vq_used[]){{5, 1}, {3, 1}}, 2), -EINVAL);
	assert_int_equal(vq_push_batch(&f->vq, (struct vq_used[]){{5, 1}, {5, 1}}, 2), -EINVAL);
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
	assert_int_equal(vq_push_batch(&f->vq, (struct vq_used[]){{1, 9}}, 1), 0);
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
	pop_chain(f, 5, 2, 2, 528, 1025);
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
	drv_desc_gpa(&f->ram, IND_GPA, 0, DATA_GPA, 16, NEXT, 2);
	drv_desc_gpa(&f->ram, IND_GPA, 2, DATA_GPA + 0x100, 64, NEXT | WRITE, 1);
	drv_desc_gpa(&f->ram, IND_GPA, 1, DATA_GPA + 0x200, 1, WRITE, 0);
	desc(f, 4, IND_GPA, 3 * 16, INDIRECT | WRITE, 0);
	post(f, 4);
	pop_chain(f, 4, 1, 2, 16, 65);
	assert_int_equal(f->c.bufs[2].gpa, DATA_GPA + 0x200);
}

static void test_pop_direct_then_indirect(void **state)
{
	struct fx *f = *state;

	start(f, QSZ, F_INDIRECT);
	drv_desc_gpa(&f->ram, IND_GPA, 0, DATA_GPA + 0x100, 32, WRITE, 0);
	desc(f, 1, DATA_GPA, 16, NEXT, 6);
	desc(f, 6, IND_GPA, 16, INDIRECT, 0);
	post(f, 1);
	pop_ok(f);
	assert_int_equal(f->c.nr_out, 1);
	assert_int_equal(f->c.nr_in, 1);
	assert_int_equal(f->c.bufs[1].len, 32);
}

/* A full indirect table at IND_GPA: VQ_MAX_CHAIN readable 4-byte buffers, in table order. */
static void write_full_ind_table(struct fx *f)
{
	for (uint16_t i = 0; i < VQ_MAX_CHAIN; i++)
		drv_desc_gpa(&f->ram, IND_GPA, i, DATA_GPA, 4, i == VQ_MAX_CHAIN - 1 ? 0 : NEXT,
			     i + 1);
}

static void test_pop_indirect_max_table(void **state)
{
	struct fx *f = *state;

	start(f, QSZ, F_INDIRECT);
	write_full_ind_table(f);
	desc(f, 0, IND_GPA, 16 * VQ_MAX_CHAIN, INDIRECT, 0);
	post(f, 0);
	pop_ok(f);
	assert_int_equal(f->c.nr_out, VQ_MAX_CHAIN);
	assert_int_equal(f->c.out_len, 4 * VQ_MAX_CHAIN);
}

/* ---- hostile chains ---- */

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
	write_full_ind_table(f);
	desc(f, 0, DATA_GPA, 4, NEXT, 1);
	desc(f, 1, IND_GPA, 16 * VQ_MAX_CHAIN, INDIRECT, 0);
	post(f, 0);
	assert_breaks(f, "chain longer than VQ_MAX_CHAIN");
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

/*
 * Chains a hostile guest posts that must break the queue, one test each: the
 * descriptors are written (entry i of the table at guest address table), then
 * head is posted.
 */
struct bad_desc {
	uint64_t table; /* 0: the end of the chain's list */
	uint16_t i;
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct bad_chain {
	const char *name;
	const char *why; /* the queue's broken_why */
	uint64_t features;
	uint16_t head;
	struct bad_desc d[5];
};

/* An entry of the ring's descriptor table, or of the indirect table at IND_GPA. */
// clang-format off
#define RING(...) {DESC_GPA, __VA_ARGS__}
#define IND(...) {IND_GPA, __VA_ARGS__}
// clang-format on

static const struct bad_chain bad_chains[] = {
    {"desc_loop", "chain longer than the queue",
     .d = {RING(0, DATA_GPA, 8, NEXT, 1), RING(1, DATA_GPA, 8, NEXT, 0)}},
    {"desc_self_loop", "chain longer than the queue", .head = 2,
     .d = {RING(2, DATA_GPA, 8, NEXT, 2)}},
    {"next_out_of_range", "next out of range", .d = {RING(0, DATA_GPA, 8, NEXT, QSZ)}},
    {"head_out_of_range", "head out of range", .head = QSZ},
    {"addr_len_wrapping", "buffer outside guest RAM",
     .d = {RING(0, 0xfffffffffffff000ULL, 0x2000, 0, 0)}},
    {"buf_outside_ram", "buffer outside guest RAM", .d = {RING(0, RAM_GPA + RAM_SIZE, 1, 0, 0)}},
    /* Zero-length buffers are refused (as QEMU does), even in the middle. */
    {"len_zero", "zero-length buffer",
     .d = {RING(0, DATA_GPA, 8, NEXT, 1), RING(1, DATA_GPA, 0, NEXT | WRITE, 2),
	   RING(2, DATA_GPA, 8, WRITE, 0)}},
    {"len_max", "buffer outside guest RAM", .d = {RING(0, DATA_GPA, 0xffffffff, 0, 0)}},
    {"write_then_read", "readable buffer after a writable one",
     .d = {RING(0, DATA_GPA, 8, WRITE | NEXT, 1), RING(1, DATA_GPA + 8, 8, 0, 0)}},
    {"write_then_read_indirect", "readable buffer after a writable one", F_INDIRECT,
     .d = {RING(0, DATA_GPA, 8, WRITE | NEXT, 1), RING(1, IND_GPA, 16, INDIRECT, 0),
	   IND(0, DATA_GPA, 8, 0, 0)}},
    {"indirect_not_negotiated", "indirect descriptor not negotiated",
     .d = {IND(0, DATA_GPA, 8, 0, 0), RING(0, IND_GPA, 16, INDIRECT, 0)}},
    {"indirect_nested", "nested indirect table", F_INDIRECT,
     .d = {IND(0, DATA_GPA, 8, NEXT, 1),
	   IND(1, IND_GPA + 0x1000, 16, INDIRECT, 0),
	   {IND_GPA + 0x1000, 0, DATA_GPA, 8, 0, 0},
	   RING(0, IND_GPA, 32, INDIRECT, 0)}},
    {"indirect_with_next", "indirect descriptor with NEXT", F_INDIRECT,
     .d = {IND(0, DATA_GPA, 8, 0, 0), RING(0, IND_GPA, 16, INDIRECT | NEXT, 1),
	   RING(1, DATA_GPA, 8, WRITE, 0)}},
    {"indirect_len_zero", "indirect table length", F_INDIRECT,
     .d = {RING(0, IND_GPA, 0, INDIRECT, 0)}},
    {"indirect_len_not_multiple", "indirect table length", F_INDIRECT,
     .d = {IND(0, DATA_GPA, 8, 0, 0), IND(1, DATA_GPA, 8, 0, 0),
	   RING(0, IND_GPA, 24, INDIRECT, 0)}},
    {"indirect_too_long", "indirect table longer than VQ_MAX_CHAIN", F_INDIRECT,
     .d = {IND(0, DATA_GPA, 8, 0, 0), RING(0, IND_GPA, 16 * (VQ_MAX_CHAIN + 1), INDIRECT, 0)}},
    {"indirect_table_outside_ram", "indirect table outside guest RAM", F_INDIRECT,
     .d = {RING(0, RAM_GPA + RAM_SIZE - 16, 32, INDIRECT, 0)}},
    {"indirect_loop", "loop in an indirect table", F_INDIRECT,
     .d = {IND(0, DATA_GPA, 8, NEXT, 1), IND(1, DATA_GPA, 8, NEXT, 0),
	   RING(0, IND_GPA, 32, INDIRECT, 0)}},
    /* Entry 2 exists in RAM, not in the table. */
    {"indirect_next_out_of_range", "indirect next out of range", F_INDIRECT,
     .d = {IND(0, DATA_GPA, 8, NEXT, 2), IND(1, DATA_GPA, 8, 0, 0), IND(2, DATA_GPA, 8, 0, 0),
	   RING(0, IND_GPA, 32, INDIRECT, 0)}},
};

/* The test of one of bad_chains (its parameter). */
static void test_bad_chain(void **state)
{
	struct fx *f = *state;
	const struct bad_chain *c = f->param;

	start(f, QSZ, c->features);
	for (const struct bad_desc *d = c->d; d->table; d++)
		drv_desc_gpa(&f->ram, d->table, d->i, d->addr, d->len, d->flags, d->next);
	post(f, c->head);
	assert_breaks(f, c->why);
}

int main(void)
{
	const struct CMUnitTest fixed[] = {
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
	    T(test_chain_longer_than_queue),
	    T(test_chain_longer_than_max_chain),
	    T(test_buf_straddling_end),
	    T(test_total_len_overflow),
	};
	struct CMUnitTest tests[ARRAY_SIZE(fixed) + ARRAY_SIZE(bad_chains)];

	memcpy(tests, fixed, sizeof(fixed));
	for (size_t i = 0; i < ARRAY_SIZE(bad_chains); i++)
		tests[ARRAY_SIZE(fixed) + i] = (struct CMUnitTest){
		    bad_chains[i].name, test_bad_chain, setup, teardown, (void *)&bad_chains[i]};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
