// SPDX-License-Identifier: Apache-2.0
/*
 * Split virtqueue core: the avail and used rings over time, notification
 * suppression, chain copies, and one processing pass of a device.
 */
#include "virtqueue_fixture.h"

#include "fake_transport.h"

static uint16_t used_flags(struct fx *f)
{
	return *(uint16_t *)hva(f, USED_GPA);
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
	unsigned int handled;
	struct virtio_dev vdev;
	struct virtio_dev_ops ops;
	struct fake_transport ft;
	struct vq_chain chain;
} pass;

/* The device has queue 0 only. */
static void pass_requeue(struct fake_transport *t, struct virtio_dev *vdev, uint16_t q)
{
	assert_int_equal(q, 0);
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
	pass.vdev.ops = &pass.ops;
	fake_transport_attach(&pass.ft, &pass.vdev);
	pass.ft.on_requeue = pass_requeue;
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
	assert_int_equal(pass.ft.requeues, 1);
	assert_int_equal(pass.ft.notifies, 1);
	assert_int_equal(used_idx(f), QSZ);
	assert_true(vq_avail_pending(&f->vq));
	assert_int_equal(used_flags(f) & VQ_USED_F_NO_NOTIFY, VQ_USED_F_NO_NOTIFY);
	assert_int_equal(virtio_process_queue(vdev, 0, &pass.chain, pass_handle), QSZ);
	assert_int_equal(pass.ft.requeues, 2);
	assert_int_equal(used_idx(f), 2 * QSZ);
	assert_int_equal(pass.ft.needs_reset, 0);
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
	assert_int_equal(pass.ft.requeues, 0);
	assert_int_equal(used_idx(f), 2);
	/* A guest that stops posting: the pass ends with the kicks back on. */
	pass.f = NULL;
	assert_int_equal(virtio_process_queue_max(vdev, 0, &pass.chain, pass_handle, QSZ, &more),
			 3);
	assert_false(more);
	assert_int_equal(used_flags(f) & VQ_USED_F_NO_NOTIFY, 0);
	assert_int_equal(pass.ft.requeues, 0);
}

/* vq_unpop: the chain just popped goes back, popped again (read anew) next time. */
static void test_unpop(void **state)
{
	struct fx *f = *state;

	desc(f, 3, DATA_GPA, 8, 0, 0);
	desc(f, 4, DATA_GPA + 64, 8, 0, 0);
	post(f, 3);
	post(f, 4);
	assert_int_equal(vq_unpop(&f->vq, 3), -EINVAL); /* not popped */
	pop_ok(f);
	assert_int_equal(f->c.head, 3);
	assert_int_equal(vq_unpop(&f->vq, 3), 0);
	assert_int_equal(f->vq.nr_inflight, 0);
	assert_int_equal(vq_unpop(&f->vq, 3), -EINVAL); /* twice */
	assert_int_equal(vq_push(&f->vq, 3, 0), -EINVAL);
	desc(f, 3, DATA_GPA + 128, 16, 0, 0); /* rewritten while back in the ring */
	pop_ok(f);
	assert_int_equal(f->c.head, 3);
	assert_int_equal(f->c.bufs[0].gpa, DATA_GPA + 128);
	assert_int_equal(f->c.out_len, 16);
	pop_ok(f);
	assert_int_equal(f->c.head, 4);
	assert_int_equal(vq_push(&f->vq, 3, 0), 0);
	assert_int_equal(vq_push(&f->vq, 4, 0), 0);
	assert_int_equal(used_idx(f), 2);
	assert_false(f->vq.broken);
}

/* A handler that waits (VIRTIO_CHAIN_WAIT): the chain stays in the ring, kicks off, no requeue. */
static int wait_handle(struct virtio_dev *vdev, uint16_t q, struct vq_chain *c)
{
	if (++pass.handled > 1)
		return VIRTIO_CHAIN_WAIT;
	return vq_push(&vdev->vqs[q], c->head, 0);
}

static void test_pass_wait(void **state)
{
	struct fx *f = *state;
	struct virtio_dev *vdev = pass_dev(f);

	for (uint16_t i = 0; i < 3; i++) {
		desc(f, i, DATA_GPA + 64ULL * i, 64, 0, 0);
		post(f, i);
	}
	assert_int_equal(virtio_process_queue(vdev, 0, &pass.chain, wait_handle), 1);
	assert_int_equal(pass.handled, 2);
	assert_int_equal(f->vq.last_avail, 1);
	assert_int_equal(f->vq.nr_inflight, 0);
	assert_int_equal(used_idx(f), 1);
	assert_int_equal(pass.ft.requeues, 0);
	assert_int_equal(pass.ft.needs_reset, 0);
	assert_int_equal(used_flags(f) & VQ_USED_F_NO_NOTIFY, VQ_USED_F_NO_NOTIFY);
	/* the device comes back when it can take them */
	pass.handled = 0;
	assert_int_equal(virtio_process_queue(vdev, 0, &pass.chain, wait_handle), 1);
	assert_int_equal(f->vq.last_avail, 2);
	assert_false(f->vq.broken);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_pass_bounded),
	    T(test_pass_max),
	    T(test_unpop),
	    T(test_pass_wait),
	    T(test_ratelimit_survives_reset),
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
