// SPDX-License-Identifier: Apache-2.0
/*
 * The virtio-pci transport's registers: identity and capabilities, the status
 * machine, feature negotiation, queue registers, reset, the PCI configuration
 * access capability and hostile accesses at every offset and width.
 */
#include "virtio_pci_fixture.h"

static void test_identity_and_caps(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(cfg_rd(f, 0x00, 4), (0x1040 + 9) << 16 | 0x1af4);
	assert_int_equal(cfg_rd(f, 0x08, 1), 1);
	assert_int_equal(cfg_rd(f, 0x2c, 2), 0x1af4);
	/* A 64-bit memory BAR in the 64-bit window. */
	assert_int_equal(cfg_rd(f, 0x10, 4) & 0x7, 0x4);
	assert_true(f->bar >= W64);
	assert_int_not_equal(f->msix_cap, 0);
	assert_int_equal(cfg_rd(f, f->msix_cap + 2, 2) & 0x7ff, NQ); /* NQ + 1 vectors */
	for (unsigned int t = 1; t <= 5; t++) {
		assert_int_not_equal(f->caps[t], 0);
		assert_int_equal(cfg_rd(f, f->caps[t] + 4, 1), t == 2 ? 2 : 0); /* BAR */
	}
	assert_int_equal(cap_field(f, 1, 12), 0x40);
	assert_int_equal(cap_field(f, 3, 12), 1);
	assert_int_equal(cap_field(f, 4, 12), CFG_SIZE);
	/*
	 * Two notify caps, the port one first (a driver takes the first it can map), both
	 * with notify_off_multiplier 0: one 2-byte register for every queue.
	 */
	assert_int_equal(cap_field(f, 2, 8), 0);
	assert_int_equal(cap_field(f, 2, 12), 2);
	assert_int_equal(cap_field(f, 2, 16), 0);
	assert_true(f->notify_mem_cap > f->caps[2]);
	assert_int_equal(cfg_rd(f, f->notify_mem_cap + 4, 1), 0);
	assert_int_equal(cfg_rd(f, f->notify_mem_cap + 8, 4), 0x3000);
	assert_int_equal(cfg_rd(f, f->notify_mem_cap + 12, 4), 2);
	assert_int_equal(cfg_rd(f, f->notify_mem_cap + 16, 4), 0);
	/* BAR 2: 4 ports in the I/O window; sizing reads back the size. */
	assert_int_equal(cfg_rd(f, 0x18, 4) & 0x3, 0x1);
	assert_true(f->port >= LAYOUT_PCI_IO_MIN && f->port + 4 <= LAYOUT_PCI_IO_MAX + 1);
	assert_int_equal(f->port % 4, 0);
	cfg_wr(f, 0x18, 4, 0xffffffff);
	assert_int_equal(cfg_rd(f, 0x18, 4), 0xfffffffd);
	cfg_wr(f, 0x18, 4, f->port);
	assert_int_equal(cfg_rd(f, 0x18, 4), f->port | 1U);
	assert_int_equal(common_rd(f, NUM_QUEUES, 2), NQ);
	/* Offered features include VERSION_1. */
	common_wr(f, DFSEL, 4, 1);
	assert_int_equal(common_rd(f, DF, 4), 1);
	common_wr(f, DFSEL, 4, 0);
	assert_int_equal(common_rd(f, DF, 4), 1 | 1U << VQ_F_EVENT_IDX);
	common_wr(f, DFSEL, 4, 2);
	assert_int_equal(common_rd(f, DF, 4), 0);
	/* Device config through the BAR. */
	assert_int_equal(rd(f, f->bar + cap_field(f, 4, 8) + 2, 2), 0xa3a2);
}

static bool allowed(uint8_t from, uint8_t to)
{
	static const uint8_t chain[] = {0, ACK, ACK | DRV, ACK | DRV | FOK, ACK | DRV | FOK | DOK};

	if (to == (from | FAILED) && to != from)
		return true;
	for (unsigned int i = 0; i + 1 < ARRAY_SIZE(chain); i++)
		if (chain[i] == from && chain[i + 1] == to)
			return true;
	return false;
}

static void drive_to(struct fixture *f, uint8_t st)
{
	do_reset(f);
	if (st & ACK)
		common_wr(f, STATUS, 1, ACK);
	if (st & DRV) {
		common_wr(f, STATUS, 1, ACK | DRV);
		set_features(f, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	}
	if (st & FOK)
		common_wr(f, STATUS, 1, ACK | DRV | FOK);
	if (st & DOK) {
		common_wr(f, STATUS, 1, ACK | DRV | FOK | DOK);
		wait_event(f); /* activated; no queues enabled, so no kicks */
	}
	if (st & FAILED)
		common_wr(f, STATUS, 1, st);
	assert_int_equal(common_rd(f, STATUS, 1), st);
}

static void test_status_transitions(void **state)
{
	struct fixture *f = *state;
	static const uint8_t from[] = {0,
				       ACK,
				       ACK | DRV,
				       ACK | DRV | FOK,
				       ACK | DRV | FOK | DOK,
				       ACK | FAILED,
				       ACK | DRV | FOK | DOK | FAILED};

	unsigned int expect = 0;

	for (unsigned int i = 0; i < ARRAY_SIZE(from); i++) {
		for (unsigned int to = 1; to < 256; to++) {
			uint8_t want;

			if (to & NEEDS_RESET)
				continue; /* the driver cannot set the device's bit; below */
			drive_to(f, from[i]);
			expect += !!(from[i] & DOK);
			common_wr(f, STATUS, 1, to);
			want =
			    allowed(from[i], (uint8_t)to) || to == from[i] ? (uint8_t)to : from[i];
			if (common_rd(f, STATUS, 1) != want)
				fail_msg("status 0x%x -> 0x%x: reads 0x%x, want 0x%x", from[i], to,
					 (unsigned int)common_rd(f, STATUS, 1), want);
			if (want & DOK && !(from[i] & DOK)) {
				wait_event(f);
				expect++;
			}
		}
	}
	do_reset(f);
	/* NEEDS_RESET written by the driver is dropped. */
	common_wr(f, STATUS, 1, ACK | NEEDS_RESET);
	assert_int_equal(common_rd(f, STATUS, 1), ACK);
	assert_int_equal(f->fd->activations, expect);
	assert_true(expect > 2 * 127);
}

static void test_features_ok_refused(void **state)
{
	struct fixture *f = *state;
	static const uint64_t bad[] = {
	    0,						     /* no VERSION_1 */
	    VIRTIO_BIT(0),				     /* offered, but no VERSION_1 */
	    VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(1),  /* not offered */
	    VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(63), /* not offered, high word */
	    VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_ACCESS_PLATFORM),
	};

	for (unsigned int i = 0; i < ARRAY_SIZE(bad); i++) {
		drive_to(f, ACK | DRV);
		set_features(f, bad[i]);
		common_wr(f, STATUS, 1, ACK | DRV | FOK);
		assert_int_equal(common_rd(f, STATUS, 1), ACK | DRV);
	}
	drive_to(f, ACK | DRV);
	set_features(f,
		     VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(0) | VIRTIO_BIT(VQ_F_EVENT_IDX));
	common_wr(f, STATUS, 1, ACK | DRV | FOK);
	assert_int_equal(common_rd(f, STATUS, 1), ACK | DRV | FOK);
	/* Frozen from FEATURES_OK on. */
	common_wr(f, GFSEL, 4, 0);
	common_wr(f, GF, 4, 0);
	assert_int_equal(common_rd(f, GF, 4), 1 | 1U << VQ_F_EVENT_IDX);
	/* Writable before DRIVER only? No: only between DRIVER and FEATURES_OK. */
	drive_to(f, ACK);
	common_wr(f, GF, 4, 1);
	assert_int_equal(common_rd(f, GF, 4), 0);
	/* Select above 1: reads zero, writes nothing. */
	drive_to(f, ACK | DRV);
	common_wr(f, GFSEL, 4, 2);
	common_wr(f, GF, 4, 0xffffffff);
	assert_int_equal(common_rd(f, GF, 4), 0);
}

static void test_queue_registers(void **state)
{
	struct fixture *f = *state;
	static const uint16_t bad_sizes[] = {0, 3, 48, QMAX + 1, QMAX * 2, 0x8000, 0xffff};

	to_features_ok(f);
	common_wr(f, QSEL, 2, 1);
	assert_int_equal(common_rd(f, QSIZE, 2), QMAX);
	assert_int_equal(common_rd(f, QMSIX, 2), NO_VEC);
	assert_int_equal(common_rd(f, QNOTIFYOFF, 2), 0);
	for (unsigned int i = 0; i < ARRAY_SIZE(bad_sizes); i++) {
		common_wr(f, QSIZE, 2, bad_sizes[i]);
		assert_int_equal(common_rd(f, QSIZE, 2), QMAX);
	}
	common_wr(f, QSIZE, 2, 1);
	assert_int_equal(common_rd(f, QSIZE, 2), 1);
	common_wr(f, QSIZE, 2, 32);
	assert_int_equal(common_rd(f, QSIZE, 2), 32);
	/* Vectors: in range kept, out of range read back NO_VECTOR. */
	common_wr(f, QMSIX, 2, NQ);
	assert_int_equal(common_rd(f, QMSIX, 2), NQ);
	common_wr(f, QMSIX, 2, NQ + 1);
	assert_int_equal(common_rd(f, QMSIX, 2), NO_VEC);
	common_wr(f, MSIX_CONFIG, 2, 0x1234);
	assert_int_equal(common_rd(f, MSIX_CONFIG, 2), NO_VEC);
	/* Addresses: 64-bit whole or as halves; other widths ignored. */
	common_wr(f, QDESC, 8, 0x1122334455667788ULL);
	assert_int_equal(common_rd(f, QDESC, 8), 0x1122334455667788ULL);
	common_wr(f, QDESC + 4, 4, 0);
	assert_int_equal(common_rd(f, QDESC, 8), 0x55667788ULL);
	common_wr(f, QDESC, 2, 0);
	common_wr(f, QDESC + 1, 4, 0);
	assert_int_equal(common_rd(f, QDESC, 8), 0x55667788ULL);
	/* queue_enable takes 1 only. */
	common_wr(f, QENABLE, 2, 2);
	assert_int_equal(common_rd(f, QENABLE, 2), 0);
	/* Out-of-range select: reads zero size, writes go nowhere. */
	common_wr(f, QSEL, 2, NQ);
	assert_int_equal(common_rd(f, QSIZE, 2), 0);
	common_wr(f, QSIZE, 2, 16);
	common_wr(f, QENABLE, 2, 1);
	common_wr(f, QDESC, 8, 0x1000);
	assert_int_equal(common_rd(f, QSIZE, 2), 0);
	assert_int_equal(common_rd(f, QENABLE, 2), 0);
	assert_int_equal(common_rd(f, QDESC, 8), 0);
	/* Enabled: frozen. */
	common_wr(f, QSEL, 2, 1);
	common_wr(f, QENABLE, 2, 1);
	common_wr(f, QSIZE, 2, 16);
	common_wr(f, QDESC, 8, 0x9000);
	common_wr(f, QMSIX, 2, 0);
	common_wr(f, QENABLE, 2, 0);
	assert_int_equal(common_rd(f, QSIZE, 2), 32);
	assert_int_equal(common_rd(f, QDESC, 8), 0x55667788ULL);
	assert_int_equal(common_rd(f, QMSIX, 2), NO_VEC);
	assert_int_equal(common_rd(f, QENABLE, 2), 1);
	/* After DRIVER_OK: queue 0 (not enabled) is frozen too. */
	common_wr(f, STATUS, 1, ACK | DRV | FOK | DOK);
	/* Queue 1's rings are outside RAM: activation fails, NEEDS_RESET. */
	while (!(common_rd(f, STATUS, 1) & NEEDS_RESET))
		sched_yield();
	common_wr(f, QSEL, 2, 0);
	common_wr(f, QSIZE, 2, 16);
	common_wr(f, QDESC, 8, 0x2000);
	common_wr(f, QENABLE, 2, 1);
	assert_int_equal(common_rd(f, QSIZE, 2), QMAX);
	assert_int_equal(common_rd(f, QDESC, 8), 0);
	assert_int_equal(common_rd(f, QENABLE, 2), 0);
	assert_int_equal(f->fd->activations, 0);
	assert_false(f->fd->vdev.active);
}

static void test_bad_queue_writes_need_reset(void **state)
{
	struct fixture *f = *state;
	static const uint16_t bad_sizes[] = {0, 3, 48, QMAX + 1, 0x8000, 0xffff};

	for (unsigned int i = 0; i < ARRAY_SIZE(bad_sizes); i++) {
		to_features_ok(f);
		common_wr(f, QSEL, 2, 1);
		common_wr(f, QSIZE, 2, bad_sizes[i]);
		assert_int_equal(common_rd(f, STATUS, 1), ACK | DRV | FOK | NEEDS_RESET);
		assert_int_equal(common_rd(f, QSIZE, 2), QMAX);
		do_reset(f);
		assert_int_equal(common_rd(f, STATUS, 1), 0);
	}
	/* A good size leaves the status alone. */
	to_features_ok(f);
	common_wr(f, QSEL, 2, 1);
	common_wr(f, QSIZE, 2, 16);
	assert_int_equal(common_rd(f, STATUS, 1), ACK | DRV | FOK);
	/* The same register once the queue is enabled. */
	common_wr(f, QENABLE, 2, 1);
	common_wr(f, QSIZE, 2, 16);
	assert_int_equal(common_rd(f, STATUS, 1), ACK | DRV | FOK | NEEDS_RESET);
	do_reset(f);
	/* And a ring address after DRIVER_OK. */
	activate(f);
	common_wr(f, QSEL, 2, 0);
	common_wr(f, QDESC, 8, 0x2000);
	assert_true(common_rd(f, STATUS, 1) & NEEDS_RESET);
}

static void test_reset_restores_everything(void **state)
{
	struct fixture *f = *state;
	uint8_t first[0x40], after[0x40];

	for (unsigned int i = 0; i < sizeof(first); i++)
		first[i] = (uint8_t)common_rd(f, i, 1);
	activate(f);
	enable_msix(f);
	virtio_config_changed(&f->fd->vdev);
	virtio_notify(&f->fd->vdev, 0);
	common_wr(f, DFSEL, 4, 1);
	common_wr(f, GFSEL, 4, 1);
	common_wr(f, QSEL, 2, 1);
	do_reset(f);
	for (unsigned int i = 0; i < sizeof(after); i++)
		after[i] = (uint8_t)common_rd(f, i, 1);
	assert_memory_equal(first, after, sizeof(first));
	for (uint16_t q = 0; q < NQ; q++) {
		common_wr(f, QSEL, 2, q);
		assert_int_equal(common_rd(f, QSIZE, 2), QMAX);
		assert_int_equal(common_rd(f, QENABLE, 2), 0);
		assert_int_equal(common_rd(f, QMSIX, 2), NO_VEC);
		assert_int_equal(common_rd(f, QDESC, 8), 0);
		assert_int_equal(common_rd(f, QDRIVER, 8), 0);
		assert_int_equal(common_rd(f, QDEVICE, 8), 0);
	}
	assert_int_equal(rd(f, f->bar + cap_field(f, 3, 8), 1), 0);
	assert_int_equal(f->fd->resets, 1);
	/* And the device starts again. */
	activate(f);
	assert_int_equal(f->fd->activations, 2);
}

static void test_activate_refused(void **state)
{
	struct fixture *f = *state;

	f->fd->activate_ret = -EIO;
	to_features_ok(f);
	setup_queue(f, 0, 8);
	common_wr(f, STATUS, 1, ACK | DRV | FOK | DOK);
	wait_event(f);
	while (!(common_rd(f, STATUS, 1) & NEEDS_RESET))
		sched_yield();
	assert_false(f->fd->vdev.active);
	assert_int_equal(f->fd->vdev.vqs[0].size, 0);
	do_reset(f);
	assert_int_equal(f->fd->resets, 0); /* never active: nothing to reset */
}

/* How many doorbells KVM has at @addr (a port when @pio), one per queue index. */
static void test_pci_cfg_window(void **state)
{
	struct fixture *f = *state;
	unsigned int c = f->caps[5];

	cfg_wr(f, c + 4, 1, 0);
	cfg_wr(f, c + 8, 4, NUM_QUEUES);
	cfg_wr(f, c + 12, 4, 2);
	assert_int_equal(cfg_rd(f, c + 16, 2), NQ);
	/* Write status through the window. */
	cfg_wr(f, c + 8, 4, STATUS);
	cfg_wr(f, c + 12, 4, 1);
	cfg_wr(f, c + 16, 1, ACK);
	assert_int_equal(common_rd(f, STATUS, 1), ACK);
	assert_int_equal(cfg_rd(f, c + 16, 1), ACK);
	/* Bad windows: another BAR, odd lengths, misaligned, beyond the BAR: nothing. */
	cfg_wr(f, c + 4, 1, 1);
	cfg_wr(f, c + 16, 1, 0);
	assert_int_equal(common_rd(f, STATUS, 1), ACK);
	cfg_wr(f, c + 4, 1, 0);
	cfg_wr(f, c + 12, 4, 3);
	cfg_wr(f, c + 16, 1, 0);
	cfg_wr(f, c + 12, 4, 0);
	cfg_wr(f, c + 16, 1, 0);
	cfg_wr(f, c + 12, 4, 2);
	cfg_wr(f, c + 8, 4, STATUS + 1);
	cfg_wr(f, c + 16, 1, 0);
	cfg_wr(f, c + 8, 4, 0xfffffffe);
	cfg_wr(f, c + 16, 2, 0);
	assert_int_equal(common_rd(f, STATUS, 1), ACK);
	/* A window on the I/O BAR reaches the port notify register: a kick. */
	common_wr(f, STATUS, 1, 0);
	while (common_rd(f, STATUS, 1) != 0)
		sched_yield();
	activate(f);
	cfg_wr(f, c + 4, 1, 2);
	cfg_wr(f, c + 8, 4, 0);
	cfg_wr(f, c + 12, 4, 2);
	cfg_wr(f, c + 16, 2, 1);
	wait_event(f);
	assert_int_equal(f->fd->notifies[1], 2);
	assert_int_equal(cfg_rd(f, c + 16, 2), 0);
	cfg_wr(f, c + 8, 4, 4); /* past the I/O BAR: nothing */
	cfg_wr(f, c + 16, 2, 0);
	cfg_wr(f, c + 8, 4, 0);
	cfg_wr(f, c + 4, 1, 6); /* no such BAR: nothing */
	cfg_wr(f, c + 16, 2, 0);
	cfg_wr(f, c + 4, 1, 0xff);
	cfg_wr(f, c + 16, 2, 0);
	assert_int_equal(cfg_rd(f, c + 16, 2), 0);
	assert_int_equal(f->fd->notifies[0], 1);
	assert_int_equal(common_rd(f, STATUS, 1), ACK | DRV | FOK | DOK);
	/* The cap's type and length stay read-only. */
	cfg_wr(f, c + 2, 2, 0xffff);
	assert_int_equal(cfg_rd(f, c + 2, 2), 5 << 8 | 20);
}

static void test_every_offset_every_width(void **state)
{
	struct fixture *f = *state;
	static const uint32_t widths[] = {1, 2, 4, 8};

	activate(f);
	/* Reads anywhere in the BAR: no crash, no state change but ISR. */
	for (uint64_t off = 0; off < 0x8000 + 8; off++)
		for (unsigned int w = 0; w < 4; w++)
			rd(f, f->bar + off, widths[w]);
	assert_int_equal(common_rd(f, STATUS, 1), ACK | DRV | FOK | DOK);
	/* Writes of all ones to read-only fields and unused space: ignored. */
	for (uint64_t off = 0; off < 0x8000 + 8; off++) {
		bool rw_common = off < 0x40 && (off < NUM_QUEUES || (off >= STATUS && off < 0x16) ||
						(off >= QSEL && off < QNOTIFYOFF) || off >= QDESC);
		bool notify = off >= 0x3000 && off < 0x4000;

		if (rw_common || notify || (off >= 0x2000 && off < 0x2000 + CFG_SIZE + 8) ||
		    (off >= 0x4000 - 8 && off < 0x5000))
			continue;
		for (unsigned int w = 0; w < 4; w++)
			wr(f, f->bar + off, widths[w], ~0ULL);
	}
	assert_int_equal(common_rd(f, NUM_QUEUES, 2), NQ);
	assert_int_equal(common_rd(f, GENERATION, 1), 0);
	assert_int_equal(common_rd(f, QNOTIFYOFF, 2), 0);
	assert_int_equal(common_rd(f, STATUS, 1), ACK | DRV | FOK | DOK);
	common_wr(f, DFSEL, 4, 0);
	assert_int_equal(common_rd(f, DF, 4), 1 | 1U << VQ_F_EVENT_IDX);
	/* Device config: accesses past its end read zero and are not passed on. */
	for (uint64_t off = 0; off < CFG_SIZE + 8; off++) {
		for (unsigned int w = 0; w < 4; w++) {
			uint64_t v = rd(f, f->bar + 0x2000 + off, widths[w]);

			if (off + widths[w] > CFG_SIZE)
				assert_true(v == 0);
			wr(f, f->bar + 0x2000 + off, widths[w], 0x5555555555555555ULL);
		}
	}
	assert_int_equal(f->fd->config[0], 0x55);
	/* Past the BAR: all ones from the host. */
	assert_int_equal(rd(f, f->bar + 0x7ffc, 8), ~0ULL);
	/*
	 * The I/O BAR, widths 1, 2 and 4 (ports have no 8-byte access): reads inside see
	 * zero, past its end all ones; writes of all ones anywhere but the register at 0
	 * are ignored, and that register was tested above.
	 */
	for (uint64_t off = 0; off < 8; off++) {
		for (unsigned int w = 0; w < 3; w++) {
			uint64_t v = io_rd(f, f->port + off, widths[w]);

			assert_true(v ==
				    (off + widths[w] <= 4 ? 0 : (1ULL << (8 * widths[w])) - 1));
			if (off)
				io_wr(f, f->port + off, widths[w], ~0ULL);
		}
	}
	assert_int_equal(common_rd(f, STATUS, 1), ACK | DRV | FOK | DOK);
	assert_int_equal(f->fd->notifies[0], 1);
	assert_int_equal(f->fd->notifies[1], 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_identity_and_caps, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status_transitions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_features_ok_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_registers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_queue_writes_need_reset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset_restores_everything, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_activate_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pci_cfg_window, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_every_offset_every_width, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
