// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-console: hostile buffers, reset, and the bounds on output (log size,
 * work per pass, a full stdout).
 */
#include "virtio_console_fixture.h"

/* The log holds 1 MiB at most: for tests that print far more. */
static int setup_bounded_log(void **state)
{
	return setup_with(state, 1 * MiB, false);
}

static int setup_full_stdout(void **state)
{
	return setup_with(state, UINT64_MAX, true);
}

/* ---- hostile buffers ---- */

/* The guest kicks the transmitq: the device breaks it for why, prints and uses nothing. */
static void kick_tx_breaks(struct fx *f, const char *why)
{
	loop_call(f, do_notify, TXQ);
	assert_int_equal(f->ft.needs_reset, 1);
	assert_true(f->vqs[TXQ].broken);
	assert_string_equal(f->vqs[TXQ].broken_why, why);
	assert_log(f, "");
	assert_int_equal(used_idx(f, TXQ), 0);
}

/* Input s meets the receiveq: the device breaks it for why and uses no buffer. */
static void type_rx_breaks(struct fx *f, const char *s, const char *why)
{
	type(f, s);
	assert_int_equal(f->ft.needs_reset, 1);
	assert_true(f->vqs[RXQ].broken);
	assert_string_equal(f->vqs[RXQ].broken_why, why);
	assert_int_equal(used_idx(f, RXQ), 0);
}

/*
 * Posts on queue q a chain of a readable buffer of rlen bytes at DATA_GPA (descriptor
 * 0) and a writable one of wlen bytes at DATA_GPA + 0x100 (descriptor 1).
 */
static void post_read_write(struct fx *f, int q, uint32_t rlen, uint32_t wlen)
{
	desc(f, q, 0, DATA_GPA, rlen, NEXT, 1);
	desc(f, q, 1, DATA_GPA + 0x100, wlen, WRITE, 0);
	post(f, q, 0);
}

/*
 * The driver sets the device up again (after a reset) and posts a 16-byte receive
 * buffer at gpa: input from before is gone, only new input s fills it.
 */
static void restart_rx(struct fx *f, uint64_t gpa, const char *s)
{
	size_t n = strlen(s);

	start(f, FEATURES);
	post_rx(f, 0, gpa, 16);
	loop_call(f, do_notify, RXQ);
	loop_sync(f);
	assert_int_equal(used_idx(f, RXQ), 0);
	type(f, s);
	assert_int_equal(used_idx(f, RXQ), 1);
	assert_used(f, RXQ, 0, 0, (uint32_t)n);
	assert_memory_equal(hva(f, gpa), s, n);
	assert_memory_equal(hva(f, gpa + n), ".", 1);
}

static void test_tx_writable_buffer(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	/* A readable buffer then a writable one: forbidden on the transmitq (5.3.6.1). */
	memcpy(hva(f, DATA_GPA), "leak", 4);
	post_read_write(f, TXQ, 4, 16);
	kick_tx_breaks(f, "device-writable buffer in the transmitq");

	/* Broken: nothing more is served, on either queue, and no second report. */
	post_tx(f, 2, DATA_GPA + 0x200, "after");
	loop_call(f, do_notify, TXQ);
	post_rx(f, 3, DATA_GPA + 0x300, 8);
	type(f, "in");
	assert_log(f, "");
	assert_int_equal(used_idx(f, RXQ), 0);
	assert_int_equal(f->ft.needs_reset, 1);
}

static void test_tx_only_writable_buffer(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	desc(f, TXQ, 0, DATA_GPA, 16, WRITE, 0);
	post(f, TXQ, 0);
	kick_tx_breaks(f, "device-writable buffer in the transmitq");
}

static void test_rx_readable_buffer(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	memset(hva(f, DATA_GPA), '.', 16);
	desc(f, RXQ, 0, DATA_GPA, 16, 0, 0);
	post(f, RXQ, 0);
	type_rx_breaks(f, "secret", "device-readable buffer in the receiveq");
	assert_memory_equal(hva(f, DATA_GPA), "......", 6);

	/* The transmitq stops too. */
	post_tx(f, 0, DATA_GPA + 0x100, "x");
	loop_call(f, do_notify, TXQ);
	assert_log(f, "");

	/* Input to a broken device is dropped: the console keeps reading. */
	type(f, "more");
	assert_int_equal(unread(f), 0);

	/* After a reset only new input reaches a good buffer. */
	loop_call(f, do_reset, 0);
	restart_rx(f, DATA_GPA + 0x200, "next");
	assert_int_equal(f->ft.needs_reset, 1);
}

static void test_rx_readable_then_writable(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	memset(hva(f, DATA_GPA), '.', 0x200);
	post_read_write(f, RXQ, 8, 8);
	type_rx_breaks(f, "abc", "device-readable buffer in the receiveq");
	assert_memory_equal(hva(f, DATA_GPA + 0x100), "...", 3);
}

static void test_tx_zero_length_buffer(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	memcpy(hva(f, DATA_GPA), "zz", 2);
	desc(f, TXQ, 0, DATA_GPA, 2, NEXT, 1);
	desc(f, TXQ, 1, DATA_GPA + 0x100, 0, 0, 0);
	post(f, TXQ, 0);
	kick_tx_breaks(f, "zero-length buffer");
}

static void test_rx_zero_length_buffer(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	desc(f, RXQ, 0, DATA_GPA, 0, WRITE, 0);
	post(f, RXQ, 0);
	type_rx_breaks(f, "a", "zero-length buffer");
}

static void test_tx_chain_loop(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	/* 0 -> 1 -> 0 ...: longer than the queue. */
	memcpy(hva(f, DATA_GPA), "loop", 4);
	desc(f, TXQ, 0, DATA_GPA, 4, NEXT, 1);
	desc(f, TXQ, 1, DATA_GPA, 4, NEXT, 0);
	post(f, TXQ, 0);
	kick_tx_breaks(f, "chain longer than the queue");
}

static void test_tx_indirect_too_long(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES | F_INDIRECT);
	/* An indirect table of VQ_MAX_CHAIN + 1 entries. */
	desc(f, TXQ, 0, IND_GPA, 16 * (VQ_MAX_CHAIN + 1), INDIRECT, 0);
	post(f, TXQ, 0);
	kick_tx_breaks(f, "indirect table longer than VQ_MAX_CHAIN");
}

static void test_tx_buffer_outside_ram(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	desc(f, TXQ, 0, RAM_GPA + RAM_SIZE - 2, 4, 0, 0);
	post(f, TXQ, 0);
	kick_tx_breaks(f, "buffer outside guest RAM");
}

static void test_rx_avail_index_too_far(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	set_avail_idx(f, RXQ, QSZ + 1);
	type_rx_breaks(f, "a", "avail index more than a queue ahead");
}

static void test_rx_head_out_of_range(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	post(f, RXQ, QSZ);
	type_rx_breaks(f, "a", "head out of range");
}

/* ---- reset ---- */

static void test_reset_drops_state(void **state)
{
	struct fx *f = *state;
	uint8_t old_rx[0x4000];

	start(f, FEATURES);
	/* Input waiting for a buffer when the driver resets the device. */
	type(f, "held");
	assert_int_equal(used_flags(f, RXQ) & VQ_USED_F_NO_NOTIFY, 0);
	loop_call(f, do_reset, 0);
	loop_sync(f);

	/* The old rings are not the device's any more: nothing touches them. */
	post_rx(f, 0, DATA_GPA + 0x100, 16);
	memcpy(old_rx, hva(f, DESC_GPA(RXQ)), sizeof(old_rx));
	type(f, "x");
	assert_int_equal(unread(f), 0);
	assert_memory_equal(old_rx, hva(f, DESC_GPA(RXQ)), sizeof(old_rx));
	assert_memory_equal(hva(f, DATA_GPA + 0x100), "....", 4);

	/* Set up again: the held input and what came while down are gone, new input flows. */
	restart_rx(f, DATA_GPA + 0x200, "new");
	post_tx(f, 0, DATA_GPA, "back");
	loop_call(f, do_notify, TXQ);
	assert_log(f, "back");
	assert_int_equal(f->ft.needs_reset, 0);
}

static void test_reset_after_break(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	/* Input waits for a buffer, then the guest breaks the transmitq. */
	type(f, "held");
	desc(f, TXQ, 0, DATA_GPA, 0, 0, 0);
	post(f, TXQ, 0);
	loop_call(f, do_notify, TXQ);
	assert_int_equal(f->ft.needs_reset, 1);
	/* The held input is dropped: the console reads again (and drops) while broken. */
	loop_sync(f);
	type(f, "y");
	assert_int_equal(unread(f), 0);

	loop_call(f, do_reset, 0);
	start(f, FEATURES);
	post_tx(f, 0, DATA_GPA, "ok");
	loop_call(f, do_notify, TXQ);
	assert_log(f, "ok");
	post_rx(f, 0, DATA_GPA + 0x100, 16);
	type(f, "z");
	assert_int_equal(used_idx(f, RXQ), 1);
	assert_used(f, RXQ, 0, 0, 1);
	assert_memory_equal(hva(f, DATA_GPA + 0x100), "z.", 2);
	assert_int_equal(f->ft.needs_reset, 1);
}

/* ---- output bounds and back-pressure ---- */

#define BIG_QSZ 256
#define BIG_TABLE 1023
#define BIG_BUF_GPA (RAM_GPA + 0x100000)
#define BIG_BUF_LEN (4u << 20)
/* The device's bounds (console.c): bytes per pass and per chain. */
#define PASS_MAX (64u << 10)
#define CHAIN_MAX (1u << 20)

static struct console_stats pass_stats;
static uint16_t pass_used;

/* The kick and its one pass, and what they did, on the loop thread: nothing runs between. */
static void do_notify_and_count(struct fx *f, uintptr_t q)
{
	f->vdev->ops->queue_notify(f->vdev, (uint16_t)q);
	console_get_stats(f->con, &pass_stats);
	pass_used = used_idx(f, TXQ);
}

static void do_count(struct fx *f, uintptr_t arg)
{
	console_get_stats(f->con, &pass_stats);
}

static uint16_t big_used_idx(struct fx *f)
{
	return drv_used_idx(hva(f, USED_GPA(TXQ)));
}

/*
 * 256 heads that all name one indirect table of 1023 entries, each the same
 * 4 MiB buffer: 1 TiB asked for with 4 MiB of RAM. A pass writes at most
 * PASS_MAX bytes and hands the queue back to the loop, which serves other
 * events and its stop in between; a chain is written up to CHAIN_MAX bytes
 * and then used; the log stops at its bound and counts the rest.
 */
static void test_tx_amplification_bounded(void **state)
{
	struct fx *f = *state;
	uint16_t *ring;
	uint32_t id, len;

	f->requeue_ok = true;
	setup_queues(f, FEATURES | F_INDIRECT);
	vq_cleanup(&f->vqs[TXQ]);
	memset(hva(f, DESC_GPA(TXQ)), 0, 0x4000);
	assert_int_equal(vq_setup(&f->vqs[TXQ], &f->gm, BIG_QSZ, DESC_GPA(TXQ), AVAIL_GPA(TXQ),
				  USED_GPA(TXQ), FEATURES | F_INDIRECT),
			 0);
	loop_call(f, do_activate, 0);
	memset(hva(f, BIG_BUF_GPA), 'A', BIG_BUF_LEN);
	for (uint16_t j = 0; j < BIG_TABLE; j++)
		drv_desc_gpa(&f->ram, IND_GPA, j, BIG_BUF_GPA, BIG_BUF_LEN,
			     j + 1 < BIG_TABLE ? NEXT : 0, (uint16_t)(j + 1));
	ring = hva(f, AVAIL_GPA(TXQ) + 4);
	for (uint16_t i = 0; i < BIG_QSZ; i++) {
		drv_desc_gpa(&f->ram, DESC_GPA(TXQ), i, IND_GPA, 16 * BIG_TABLE, INDIRECT, 0);
		ring[i] = i;
	}
	__atomic_store_n((uint16_t *)hva(f, AVAIL_GPA(TXQ) + 2), BIG_QSZ, __ATOMIC_RELEASE);

	/* One pass, then back to the loop (before: one pass for all of it). */
	loop_call(f, do_notify_and_count, TXQ);
	assert_int_equal(pass_stats.log_bytes, PASS_MAX);
	assert_int_equal(pass_used, 0);

	/* The loop comes round between passes; the first chain is used after CHAIN_MAX. */
	for (unsigned int i = 0; i < 10000 && big_used_idx(f) < 2; i++)
		loop_call(f, NULL, 0);
	assert_true(big_used_idx(f) >= 2);
	used_elem(f, TXQ, 0, &id, &len);
	assert_int_equal(id, 0);
	assert_int_equal(len, 0);
	assert_int_equal(f->ft.needs_reset, 0);

	/* The log stopped at 1 MiB and counts what it cut. */
	loop_call(f, do_count, 0);
	assert_int_equal(pass_stats.log_bytes, 1 * MiB);
	assert_true(pass_stats.log_cut >= (uint64_t)CHAIN_MAX);
	{
		struct stat st;

		assert_int_equal(stat(f->log_path, &st), 0);
		assert_int_equal(st.st_size, 1 * MiB);
	}

	/* The loop's stop (what SIGTERM and Ctrl-A x do) is served in the middle of it. */
	loop_thread_stop(&f->lt);
	assert_true(big_used_idx(f) < BIG_QSZ);
}

/* Reads n bytes of stdout's pipe (blocking, with a deadline). */
static void read_out(struct fx *f, uint8_t *buf, size_t n)
{
	size_t got = 0;

	alarm(10);
	while (got < n) {
		ssize_t r = read(f->io.out_r, buf + got, n - got);

		assert_true(r > 0);
		got += (size_t)r;
	}
	alarm(0);
}

static void do_tx_flags(struct fx *f, uintptr_t arg)
{
	*(uint16_t *)arg = used_flags(f, TXQ);
}

/*
 * stdout is full: the console holds what it can and refuses the rest, the
 * chain stays in flight (not used, kicks off), and goes on once the reader
 * drains the pipe; all of it arrives, in order, and the driver is told.
 */
static void test_tx_waits_for_full_stdout(void **state)
{
	struct fx *f = *state;
	const size_t half = 40 << 10, total = 2 * half;
	uint8_t *out = malloc(f->io.out_fill + total + 4);
	uint16_t flags = 0;

	assert_non_null(out);
	f->requeue_ok = true; /* 64 KiB in a pass, then a second pass */
	start(f, FEATURES);
	for (size_t i = 0; i < total; i++)
		*(uint8_t *)hva(f, DATA_GPA + i) = (uint8_t)(i * 13 + i / 256);
	desc(f, TXQ, 0, DATA_GPA, (uint32_t)half, NEXT, 1);
	desc(f, TXQ, 1, DATA_GPA + half, (uint32_t)half, 0, 0);
	post(f, TXQ, 0);
	post_tx(f, 2, DATA_GPA + 0x40000, "next");
	loop_call(f, do_notify, TXQ);
	loop_sync(f);
	assert_int_equal(used_idx(f, TXQ), 0);
	assert_int_equal(f->ft.notified[TXQ], 0);
	loop_call(f, do_tx_flags, (uintptr_t)&flags);
	assert_int_equal(flags & VQ_USED_F_NO_NOTIFY, VQ_USED_F_NO_NOTIFY);
	/* A kick meanwhile changes nothing. */
	loop_call(f, do_notify, TXQ);
	assert_int_equal(used_idx(f, TXQ), 0);

	read_out(f, out, f->io.out_fill + total + 4);
	for (size_t i = 0; i < total; i++)
		if (out[f->io.out_fill + i] != (uint8_t)(i * 13 + i / 256))
			fail_msg("byte %zu of the output differs", i);
	assert_memory_equal(out + f->io.out_fill + total, "next", 4);
	loop_sync(f);
	assert_int_equal(used_idx(f, TXQ), 2);
	assert_used(f, TXQ, 0, 0, 0);
	assert_used(f, TXQ, 1, 2, 0);
	assert_true(f->ft.notified[TXQ] >= 1);
	assert_int_equal(f->ft.needs_reset, 0);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_tx_writable_buffer),
	    T(test_tx_only_writable_buffer),
	    T(test_rx_readable_buffer),
	    T(test_rx_readable_then_writable),
	    T(test_tx_zero_length_buffer),
	    T(test_rx_zero_length_buffer),
	    T(test_tx_chain_loop),
	    T(test_tx_indirect_too_long),
	    T(test_tx_buffer_outside_ram),
	    T(test_rx_avail_index_too_far),
	    T(test_rx_head_out_of_range),
	    T(test_reset_drops_state),
	    T(test_reset_after_break),
	    cmocka_unit_test_setup_teardown(test_tx_amplification_bounded, setup_bounded_log,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_tx_waits_for_full_stdout, setup_full_stdout,
					    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
