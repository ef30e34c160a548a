// SPDX-License-Identifier: Apache-2.0
/*
 * The virtio-pci transport's notifications and interrupts: the notify register
 * in port and memory space, requeued passes, interrupts, and the doorbells and
 * MSI routes the loop thread moves after a BAR move or a new MSI-X message.
 */
#include "virtio_pci_fixture.h"

static void notify_through(struct fixture *f, bool pio)
{
	uint64_t reg = pio ? f->port : f->bar + cfg_rd(f, f->notify_mem_cap + 8, 4);

	activate(f);
	assert_int_equal(f->fd->activations, 1);
	assert_true(f->fd->vdev.active);
	assert_int_equal(f->fd->vdev.vqs[0].size, QMAX);
	assert_int_equal(f->fd->vdev.vqs[1].size, 16);
	assert_int_equal(f->fd->vdev.vqs[1].desc_gpa, 0x20000);
	assert_true(f->fd->vdev.features & VIRTIO_BIT(VIRTIO_F_VERSION_1));
	/*
	 * Notifies that reach the register (any width) go to the loop, each once:
	 * a doorbell the loop saw is not seen again without a new kick.
	 */
	kick(f, pio, reg, 2, 1);
	wait_event(f);
	assert_int_equal(f->fd->notifies[1], 2);
	kick(f, pio, reg, 4, 0);
	wait_event(f);
	assert_int_equal(f->fd->notifies[0], 2);
	assert_int_equal(f->fd->notifies[1], 2);
	kick(f, pio, reg, 1, 1);
	wait_event(f);
	assert_int_equal(f->fd->notifies[1], 3);
	/* Writes to the rest of the region are no kicks; reads see zero. */
	for (uint32_t off = 1; off < 4; off++)
		kick(f, pio, reg + off, 1, 0);
	kick(f, pio, reg + 2, 2, 0);
	assert_int_equal(pio ? io_rd(f, reg, 2) : rd(f, reg, 2), 0);
	assert_int_equal(f->fd->notifies[0], 2);
	/*
	 * A queue index out of range: NEEDS_RESET and a config interrupt (sent by the
	 * loop: the config vector's message was never routed).
	 */
	enable_msix(f);
	kick(f, pio, reg, 2, NQ);
	assert_int_equal(common_rd(f, STATUS, 1), ACK | DRV | FOK | DOK | NEEDS_RESET);
	WAIT_FOR(fake_fired(&f->irq, 0) == 1);
	assert_int_equal(rd(f, f->bar + cap_field(f, 3, 8), 1), 2);
	kick(f, pio, reg, 2, 0xffff);
	assert_int_equal(fake_fired(&f->irq, 0), 1); /* once */
	do_reset(f);
	assert_int_equal(f->fd->resets, 1);
	assert_false(f->fd->vdev.active);
	assert_int_equal(f->fd->vdev.vqs[0].size, 0);
}

/* A pass that left chains requeues its queue: the loop serves it again, with no kick. */
static void test_requeue(void **state)
{
	struct fixture *f = *state;

	activate(f);
	f->fd->requeue_left[1] = 2;
	io_wr(f, f->port, 2, 1);
	for (int i = 0; i < 3; i++)
		wait_event(f);
	assert_int_equal(f->fd->notifies[1], 4); /* after activation, the kick, two requeues */
	assert_int_equal(f->fd->notifies[0], 1);
	assert_int_equal(f->fd->requeue_left[1], 0);
}

/*
 * virtio-rng through the transport: a chain gets at most 64 KiB, however
 * large its buffers, and the rest of them stays untouched; a small one is
 * filled whole.
 */
static void test_rng_fill_capped(void **state)
{
	struct fixture *f = *state;
	const uint64_t cfg2 = ECAM + (2 << 15); /* the next slot after the fake device */
	const uint64_t desc = 0x10000, avail = 0x14000, used = 0x18000;
	const uint8_t *big = f->ram + 0x80000;
	struct virtio_dev *rng;
	uint16_t port;

	assert_int_equal(virtio_rng_create(&rng, f->loop, &f->gm), 0);
	assert_int_equal(virtio_pci_create(&f->devs, f->host, &f->irq.chip, rng), 0);
	assert_int_equal(rd(f, cfg2 + 2, 2), 0x1040 + 4);
	f->bar = (rd(f, cfg2 + 0x10, 4) & ~0xfULL) | rd(f, cfg2 + 0x14, 4) << 32;
	port = (uint16_t)(rd(f, cfg2 + 0x18, 4) & ~0x3U);
	wr(f, cfg2 + 0x04, 2, 0x7);
	to_features_ok(f); /* the common config helpers now drive the rng */
	setup_queue(f, 0, 8);
	common_wr(f, STATUS, 1, ACK | DRV | FOK | DOK);
	/* 512 KiB and 64 bytes, device-writable, one chain each. */
	memcpy(f->ram + desc, &(struct vring_desc_raw){0x80000, 0x80000, 2, 0}, 16);
	memcpy(f->ram + desc + 16, &(struct vring_desc_raw){0x30000, 64, 2, 0}, 16);
	memcpy(f->ram + avail + 4, &(uint16_t[2]){0, 1}, 4);
	__atomic_store_n((uint16_t *)(f->ram + avail + 2), 2, __ATOMIC_RELEASE);
	io_wr(f, port, 2, 0);
	while (__atomic_load_n((uint16_t *)(f->ram + used + 2), __ATOMIC_ACQUIRE) != 2)
		sched_yield();
	assert_int_equal(*(uint32_t *)(f->ram + used + 4), 0);
	assert_int_equal(*(uint32_t *)(f->ram + used + 8), 64 << 10);
	assert_int_equal(*(uint32_t *)(f->ram + used + 12), 1);
	assert_int_equal(*(uint32_t *)(f->ram + used + 16), 64);
	for (size_t i = 64 << 10; i < 0x80000; i++)
		if (big[i])
			fail_msg("byte %zu past the 64 KiB written", i);
	assert_int_equal(common_rd(f, STATUS, 1), ACK | DRV | FOK | DOK);
}

static void test_notify_port(void **state)
{
	notify_through(*state, true);
}

static void test_notify_memory(void **state)
{
	notify_through(*state, false);
}

static void test_interrupts(void **state)
{
	struct fixture *f = *state;
	struct virtio_dev *vdev = &f->fd->vdev;
	uint64_t isr = f->bar + cap_field(f, 3, 8);

	activate(f);
	/* Without MSI-X: only the ISR. */
	virtio_notify(vdev, 1);
	assert_int_equal(fake_fired(&f->irq, 2), 0);
	assert_int_equal(rd(f, isr, 1), 1);
	assert_int_equal(rd(f, isr, 1), 0); /* read to clear */
	enable_msix(f);
	virtio_notify(vdev, 1);
	virtio_notify(vdev, 0);
	assert_int_equal(fake_fired(&f->irq, 2), 1);
	assert_int_equal(fake_fired(&f->irq, 1), 1);
	assert_int_equal(f->irq.data[2], 0x42);
	virtio_notify(vdev, NQ); /* out of range: nothing */
	assert_int_equal(fake_fired(&f->irq, 0), 0);
	/* Config change: generation moves, config vector fires, ISR bit 1. */
	rd(f, isr, 1);
	assert_int_equal(common_rd(f, GENERATION, 1), 0);
	virtio_config_changed(vdev);
	assert_int_equal(common_rd(f, GENERATION, 1), 1);
	assert_int_equal(fake_fired(&f->irq, 0), 1);
	assert_int_equal(rd(f, isr, 4), 2);
	/* ISR writes are ignored. */
	wr(f, isr, 1, 3);
	assert_int_equal(rd(f, isr, 1), 0);
	/* The device breaks: NEEDS_RESET and a config interrupt. */
	virtio_needs_reset(vdev, "test");
	assert_true(common_rd(f, STATUS, 1) & NEEDS_RESET);
	assert_int_equal(fake_fired(&f->irq, 0), 2);
	/* A masked vector is held pending. */
	wr(f, f->bar + 0x4000 + 16 + 12, 4, 1);
	virtio_notify(vdev, 0);
	assert_int_equal(fake_fired(&f->irq, 1), 1);
	assert_int_equal(rd(f, f->bar + 0x5000, 1), 2);
	wr(f, f->bar + 0x4000 + 16 + 12, 4, 0);
	assert_int_equal(fake_fired(&f->irq, 1), 2);
}

/* Each refused queue-register write marks NEEDS_RESET; a reset clears it. */
static unsigned int ioeventfds_at(struct fixture *f, bool pio, uint64_t addr)
{
	unsigned int n = 0;

	pthread_mutex_lock(&f->irq.lock);
	for (unsigned int i = 0; i < f->irq.nr_io; i++) {
		if (f->irq.io[i].pio != pio || f->irq.io[i].addr != addr)
			continue;
		assert_int_equal(f->irq.io[i].len, 2);
		assert_true(f->irq.io[i].datamatch < NQ);
		n++;
	}
	pthread_mutex_unlock(&f->irq.lock);
	return n;
}

static unsigned int nr_io(struct fixture *f)
{
	unsigned int n;

	pthread_mutex_lock(&f->irq.lock);
	n = f->irq.nr_io;
	pthread_mutex_unlock(&f->irq.lock);
	return n;
}

/* The loop moves the doorbells after each BAR move (none moves on the vCPU: teardown). */
static void test_ioeventfds_follow_bar(void **state)
{
	struct fixture *f = *state;
	uint64_t moved = W64 + 0x10000000ULL;
	uint16_t port = (uint16_t)(f->port + 0x100);

	WAIT_FOR(nr_io(f) == 2 * NQ);
	assert_int_equal(ioeventfds_at(f, false, f->bar + 0x3000), NQ);
	assert_int_equal(ioeventfds_at(f, true, f->port), NQ);
	cfg_wr(f, 0x10, 4, (uint32_t)moved | 4);
	cfg_wr(f, 0x14, 4, (uint32_t)(moved >> 32));
	WAIT_FOR(ioeventfds_at(f, false, moved + 0x3000) == NQ);
	assert_int_equal(nr_io(f), 2 * NQ);
	f->bar = moved;
	assert_int_equal(common_rd(f, NUM_QUEUES, 2), NQ);
	/* The I/O BAR moves on its own. */
	cfg_wr(f, 0x18, 4, port);
	WAIT_FOR(ioeventfds_at(f, true, port) == NQ);
	assert_int_equal(ioeventfds_at(f, true, f->port), 0);
	f->port = port;
	/* Memory decoding off: only the port doorbells stay; I/O off: none. */
	cfg_wr(f, 0x04, 2, 1);
	WAIT_FOR(nr_io(f) == NQ);
	assert_int_equal(ioeventfds_at(f, true, port), NQ);
	assert_int_equal(common_rd(f, NUM_QUEUES, 2), 0xffff);
	cfg_wr(f, 0x04, 2, 0);
	WAIT_FOR(nr_io(f) == 0);
	assert_int_equal(io_rd(f, port, 2), 0xffff);
	/* A port outside the window decodes nowhere. */
	cfg_wr(f, 0x18, 4, 0x800);
	cfg_wr(f, 0x04, 2, 1);
	cfg_wr(f, 0x18, 4, port);
	cfg_wr(f, 0x04, 2, 3);
	WAIT_FOR(nr_io(f) == 2 * NQ);
	assert_int_equal(ioeventfds_at(f, true, port), NQ);
	assert_int_equal(ioeventfds_at(f, false, moved + 0x3000), NQ);
}

/*
 * A kick at a BAR's new address right after the move, before the loop has moved the
 * doorbells there, reaches the notify register and is served.
 */
static void test_kick_after_bar_move(void **state)
{
	struct fixture *f = *state;
	uint64_t moved = W64 + 0x20000000ULL;
	uint16_t port = (uint16_t)(f->port + 0x200);

	activate(f);
	cfg_wr(f, 0x10, 4, (uint32_t)moved | 4);
	cfg_wr(f, 0x14, 4, (uint32_t)(moved >> 32));
	wr(f, moved + 0x3000, 2, 1);
	wait_event(f);
	assert_int_equal(f->fd->notifies[1], 2); /* after activation, and this kick */
	cfg_wr(f, 0x18, 4, port);
	io_wr(f, port, 2, 0);
	wait_event(f);
	assert_int_equal(f->fd->notifies[0], 2);
	WAIT_FOR(ioeventfds_at(f, true, port) == NQ &&
		 ioeventfds_at(f, false, moved + 0x3000) == NQ);
	assert_int_equal(nr_io(f), 2 * NQ);
}

/*
 * The guest gives a vector a new message while it is masked and a message is pending;
 * the unmask (a vCPU) leaves it to the loop, which sends it on the new route. The
 * config vector of a guest error raised on the vCPU goes out at once: its route is set.
 */
static void test_new_msix_message(void **state)
{
	struct fixture *f = *state;
	struct virtio_dev *vdev = &f->fd->vdev;
	uint64_t table = f->bar + 0x4000;

	activate(f);
	enable_msix(f);
	virtio_notify(vdev, 0);
	virtio_config_changed(vdev);
	assert_int_equal(fake_fired(&f->irq, 1), 1);
	assert_int_equal(f->irq.fired_data[1], 0x41);
	wr(f, table + 16 + 12, 4, 1);
	virtio_notify(vdev, 0);
	wr(f, table + 16 + 8, 4, 0x51);
	wr(f, table + 16 + 12, 4, 0);
	WAIT_FOR(fake_fired(&f->irq, 1) == 2);
	assert_int_equal(f->irq.fired_data[1], 0x51);
	assert_int_equal(rd(f, f->bar + 0x5000, 1), 0);
	/* A notify of a queue out of range breaks the device: config interrupt, at once. */
	io_wr(f, f->port, 2, NQ);
	assert_int_equal(fake_fired(&f->irq, 0), 2);
	assert_true(common_rd(f, STATUS, 1) & NEEDS_RESET);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_requeue, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rng_fill_capped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_notify_port, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_notify_memory, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_interrupts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ioeventfds_follow_bar, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kick_after_bar_move, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_new_msix_message, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
