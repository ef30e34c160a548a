// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-console: what the device tells the transport, the transmitq (guest to
 * console) and the receiveq (console to guest) with a well-behaved guest.
 */
#include "virtio_console_fixture.h"

static void set_used_event(struct fx *f, int q, uint16_t v)
{
	*(uint16_t *)hva(f, AVAIL_GPA(q) + 4 + 2ULL * QSZ) = v;
}

static uint16_t avail_event(struct fx *f, int q)
{
	return *(uint16_t *)hva(f, USED_GPA(q) + 4 + 8ULL * QSZ);
}

/* ---- what the device tells the transport ---- */

static void test_identity(void **state)
{
	struct fx *f = *state;
	uint8_t cfg[12];

	assert_int_equal(f->vdev->ops->device_id, VIRTIO_ID_CONSOLE);
	assert_int_equal(f->vdev->nr_queues, 2);
	assert_true(f->vdev->queue_max >= QSZ);
	assert_int_equal(f->vdev->queue_max & (f->vdev->queue_max - 1), 0);
	/* No F_SIZE (0), F_MULTIPORT (1) or F_EMERG_WRITE (2): a plain single port. */
	assert_int_equal(f->vdev->host_features & 7, 0);
	assert_true(f->vdev->host_features & F_EVENT_IDX);
	assert_true(f->vdev->host_features & F_INDIRECT);
	assert_int_equal(f->vdev->ops->config_size, sizeof(cfg));
	memset(cfg, 0xaa, sizeof(cfg));
	f->vdev->ops->config_read(f->vdev, 0, cfg, sizeof(cfg));
	for (size_t i = 0; i < sizeof(cfg); i++)
		assert_int_equal(cfg[i], 0);
	/* A write to emerg_wr without its feature prints nothing. */
	f->vdev->ops->config_write(f->vdev, 8, "X", 1);
	assert_log(f, "");
}

/* ---- transmitq: guest -> console ---- */

static void test_tx_reaches_console(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	/* One chain of two buffers, then a chain of one. */
	memcpy(hva(f, DATA_GPA), "hello ", 6);
	memcpy(hva(f, DATA_GPA + 0x100), "world", 5);
	desc(f, TXQ, 3, DATA_GPA, 6, NEXT, 5);
	desc(f, TXQ, 5, DATA_GPA + 0x100, 5, 0, 0);
	post(f, TXQ, 3);
	post_tx(f, 0, DATA_GPA + 0x200, "!\n");
	loop_call(f, do_notify, TXQ);

	assert_log(f, "hello world!\n");
	assert_int_equal(used_idx(f, TXQ), 2);
	assert_used(f, TXQ, 0, 3, 0); /* nothing written into a transmit buffer */
	assert_used(f, TXQ, 1, 0, 0);
	assert_int_equal(f->ft.notified[TXQ], 1);
	assert_int_equal(f->ft.needs_reset, 0);

	/* And again: the queue goes on. */
	post_tx(f, 1, DATA_GPA + 0x300, "more");
	loop_call(f, do_notify, TXQ);
	assert_log(f, "hello world!\nmore");
	assert_int_equal(used_idx(f, TXQ), 3);
}

static void test_tx_indirect(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES | F_INDIRECT);
	memcpy(hva(f, DATA_GPA), "ab", 2);
	memcpy(hva(f, DATA_GPA + 0x100), "cd", 2);
	drv_desc_gpa(&f->ram, IND_GPA, 0, DATA_GPA, 2, NEXT, 1);
	drv_desc_gpa(&f->ram, IND_GPA, 1, DATA_GPA + 0x100, 2, 0, 0);
	desc(f, TXQ, 0, IND_GPA, 32, INDIRECT, 0);
	post(f, TXQ, 0);
	loop_call(f, do_notify, TXQ);
	assert_log(f, "abcd");
	assert_int_equal(used_idx(f, TXQ), 1);
}

static void test_tx_posted_before_driver_ok(void **state)
{
	struct fx *f = *state;

	setup_queues(f, FEATURES);
	post_tx(f, 0, DATA_GPA, "early");
	loop_call(f, do_activate, 0);
	assert_log(f, "early");
	assert_int_equal(used_idx(f, TXQ), 1);
}

/* ---- receiveq: console -> guest ---- */

static void test_rx_delivers_input(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	post_rx(f, 0, DATA_GPA, 16);
	type(f, "abc");
	assert_int_equal(used_idx(f, RXQ), 1);
	assert_used(f, RXQ, 0, 0, 3);
	assert_memory_equal(hva(f, DATA_GPA), "abc....", 7);
	assert_int_equal(f->ft.notified[RXQ], 1);
	assert_int_equal(f->ft.needs_reset, 0);
}

static void test_rx_input_spans_buffers(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	/* A chain of 2 + 3 bytes, then a 4-byte buffer, then one left over. */
	memset(hva(f, DATA_GPA), '.', 0x400);
	desc(f, RXQ, 0, DATA_GPA, 2, WRITE | NEXT, 1);
	desc(f, RXQ, 1, DATA_GPA + 0x100, 3, WRITE, 0);
	post(f, RXQ, 0);
	post_rx(f, 4, DATA_GPA + 0x200, 4);
	post_rx(f, 5, DATA_GPA + 0x300, 4);
	type(f, "abcdefgh");
	assert_int_equal(used_idx(f, RXQ), 2);
	assert_used(f, RXQ, 0, 0, 5);
	assert_used(f, RXQ, 1, 4, 3);
	assert_memory_equal(hva(f, DATA_GPA), "ab.", 3);
	assert_memory_equal(hva(f, DATA_GPA + 0x100), "cde.", 4);
	assert_memory_equal(hva(f, DATA_GPA + 0x200), "fgh.", 4);
	assert_memory_equal(hva(f, DATA_GPA + 0x300), "....", 4);
}

/*
 * Posts receive buffer i (len bytes at gpa, the i-th the queue uses) and kicks:
 * the console fills it with what it holds, want.
 */
static void post_rx_kick(struct fx *f, uint16_t i, uint64_t gpa, uint32_t len, const char *want)
{
	size_t n = strlen(want);

	post_rx(f, i, gpa, len);
	loop_call(f, do_notify, RXQ);
	loop_sync(f);
	assert_int_equal(used_idx(f, RXQ), i + 1);
	assert_used(f, RXQ, i, i, (uint32_t)n);
	assert_memory_equal(hva(f, gpa), want, n);
	if (n < len)
		assert_memory_equal(hva(f, gpa + n), ".", 1);
}

static void test_rx_held_until_buffer_posted(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	/* Kicks on the receiveq are not wanted while nothing waits for a buffer. */
	assert_int_equal(used_flags(f, RXQ) & VQ_USED_F_NO_NOTIFY, VQ_USED_F_NO_NOTIFY);
	type(f, "xyz");
	assert_int_equal(used_idx(f, RXQ), 0);
	assert_int_equal(f->ft.needs_reset, 0);
	/* Input waits: now the device wants to hear about new buffers. */
	assert_int_equal(used_flags(f, RXQ) & VQ_USED_F_NO_NOTIFY, 0);
	/* More typing is held by the console too, in order: it stopped reading. */
	type(f, "12");
	assert_int_equal(used_idx(f, RXQ), 0);
	assert_int_equal(unread(f), 2);

	/* Two bytes fit; the rest waits for the next buffer. */
	post_rx_kick(f, 0, DATA_GPA, 2, "xy");
	assert_int_equal(used_flags(f, RXQ) & VQ_USED_F_NO_NOTIFY, 0);

	post_rx_kick(f, 1, DATA_GPA + 0x100, 16, "z");

	/*
	 * The console then read "12" from stdin and found no buffer: held
	 * again, with a kick asked for.
	 */
	assert_int_equal(used_idx(f, RXQ), 2);
	assert_int_equal(used_flags(f, RXQ) & VQ_USED_F_NO_NOTIFY, 0);
	post_rx_kick(f, 2, DATA_GPA + 0x200, 16, "12");
	assert_int_equal(used_flags(f, RXQ) & VQ_USED_F_NO_NOTIFY, VQ_USED_F_NO_NOTIFY);
	assert_int_equal(f->ft.needs_reset, 0);
}

static void test_rx_held_event_idx(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES | F_EVENT_IDX);
	post_rx(f, 0, DATA_GPA, 8);
	type(f, "p");
	assert_int_equal(used_idx(f, RXQ), 1);
	/* The first used buffer always interrupts with EVENT_IDX. */
	assert_int_equal(f->ft.notified[RXQ], 1);
	assert_int_equal(avail_event(f, RXQ), 0);

	type(f, "q");
	assert_int_equal(used_idx(f, RXQ), 1);
	/* The driver is asked to kick once it posts past what was taken. */
	assert_int_equal(avail_event(f, RXQ), 1);
	post_rx(f, 1, DATA_GPA + 0x100, 8);
	set_used_event(f, RXQ, 1);
	loop_call(f, do_notify, RXQ);
	loop_sync(f);
	assert_int_equal(used_idx(f, RXQ), 2);
	assert_used(f, RXQ, 1, 1, 1);
	assert_memory_equal(hva(f, DATA_GPA + 0x100), "q.", 2);
	/* used_event 1: the driver wants to hear when used idx passes 1. */
	assert_int_equal(f->ft.notified[RXQ], 2);
}

static void test_rx_spurious_kick(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	type(f, "k");
	/* A kick with no buffer behind it: the input is offered, refused, still held. */
	loop_call(f, do_notify, RXQ);
	loop_sync(f);
	assert_int_equal(used_idx(f, RXQ), 0);
	assert_int_equal(used_flags(f, RXQ) & VQ_USED_F_NO_NOTIFY, 0);
	post_rx(f, 0, DATA_GPA, 8);
	loop_call(f, do_notify, RXQ);
	loop_sync(f);
	assert_int_equal(used_idx(f, RXQ), 1);
	assert_memory_equal(hva(f, DATA_GPA), "k.", 2);
}

static void test_rx_dropped_before_driver_ok(void **state)
{
	struct fx *f = *state;

	/*
	 * Typed before the driver is up: dropped, so that the console goes on
	 * reading (and sees Ctrl-A x) however long the guest takes.
	 */
	type(f, "early");
	assert_int_equal(unread(f), 0);
	setup_queues(f, FEATURES);
	post_rx(f, 0, DATA_GPA, 16);
	loop_call(f, do_activate, 0);
	loop_sync(f);
	assert_int_equal(used_idx(f, RXQ), 0);
	type(f, "late");
	assert_int_equal(used_idx(f, RXQ), 1);
	assert_used(f, RXQ, 0, 0, 4);
	assert_memory_equal(hva(f, DATA_GPA), "late.", 5);
}

static void test_rx_queue_not_enabled(void **state)
{
	struct fx *f = *state;

	/* The driver enabled the transmitq only. */
	setup_queues(f, FEATURES);
	vq_cleanup(&f->vqs[RXQ]);
	loop_call(f, do_activate, 0);
	type(f, "lost?");
	type(f, "more");
	assert_int_equal(unread(f), 0);
	loop_call(f, do_notify, TXQ);
	post_tx(f, 0, DATA_GPA, "out");
	loop_call(f, do_notify, TXQ);
	assert_log(f, "out");
	assert_int_equal(f->ft.needs_reset, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_identity),
	    T(test_tx_reaches_console),
	    T(test_tx_indirect),
	    T(test_tx_posted_before_driver_ok),
	    T(test_rx_delivers_input),
	    T(test_rx_input_spans_buffers),
	    T(test_rx_held_until_buffer_posted),
	    T(test_rx_held_event_idx),
	    T(test_rx_spurious_kick),
	    T(test_rx_dropped_before_driver_ok),
	    T(test_rx_queue_not_enabled),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
