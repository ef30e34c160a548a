// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-net with rate limits (--net bw=, pps=): frames the guest sends beyond
 * the burst stay in the ring, frames from the tap beyond it wait with the tap
 * out of the epoll set, until the device's timer fires; none is lost, and the
 * counters say how many waited and how long.
 */
#include <time.h>

#include "kvmrun/ratelimit.h"
#include "net_fixture.h"

#define DEADLINE_MS 20000 /* how long a test waits for what must happen */
#define MS 1000000ULL
#define FRAMES 4

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * RL_NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* The limits' timer: after the tap (0) and the hold timer (1). */
static struct fake_watch *lim_watch(void)
{
	assert_non_null(fake_loop.w[2].fn);
	return &fake_loop.w[2];
}

/* Armed, or fired and not yet served. */
static bool lim_armed(void)
{
	struct pollfd pfd = {.fd = lim_watch()->fd, .events = POLLIN};
	struct itimerspec its;

	assert_int_equal(timerfd_gettime(lim_watch()->fd, &its), 0);
	return its.it_value.tv_sec || its.it_value.tv_nsec || poll(&pfd, 1, 0) == 1;
}

static void start_limited(struct fx *f, uint64_t bw, uint64_t bw_burst, uint64_t pps,
			  uint64_t pps_burst)
{
	struct limit_config b = {bw, bw_burst}, p = {pps, pps_burst};

	start(f, VIRTIO_BIT(VQ_F_EVENT_IDX) | VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF));
	f->ft.on_requeue = NULL; /* the limits' timer requeues the transmit queue */
	assert_int_equal(virtio_net_set_limits(f->vdev, &b, &p), 0);
}

/* Guest -> tap: frame i of len bytes from its own 64 KiB slot. */
static void post_tx(struct fx *f, unsigned int i, size_t len)
{
	uint64_t gpa = BUF_GPA + 0x10000ULL * i;
	struct seg s = {gpa, (uint32_t)(NET_HDR_LEN + len), 0};

	put_hdr(hva(f, gpa), 0, 0, 0, 0, 0, 0);
	fill((uint8_t *)hva(f, gpa) + NET_HDR_LEN, len, (uint8_t)i);
	post(f, 1, &s, 1);
}

/* Frames the peer has received so far (each read is one frame). */
static unsigned int peer_drain(struct fx *f)
{
	static uint8_t buf[NET_HDR_LEN + 65536];
	unsigned int n = 0;

	while (read(f->peer, buf, sizeof(buf)) > 0)
		n++;
	return n;
}

/* Wait for the limits' timer (deadline) and serve it as the loop would. */
static void fire_timer(struct fx *f)
{
	struct pollfd pfd = {.fd = lim_watch()->fd, .events = POLLIN};

	assert_int_equal(poll(&pfd, 1, DEADLINE_MS), 1);
	lim_watch()->fn(lim_watch()->opaque, POLLIN);
	if (f->ft.requeued & 2) {
		f->ft.requeued = 0;
		kick(f, 1);
	}
}

/* pps=10, burst 2: two frames go at once, two wait in the ring for the timer. */
static void test_tx_pps(void **state)
{
	struct fx *f = *state;
	const struct rl_limiter *rx, *tx;
	uint64_t t0 = now_ns();
	unsigned int got;

	start_limited(f, 0, 0, 10, 2);
	virtio_net_limiters(f->vdev, &rx, &tx);
	assert_non_null(tx);
	for (unsigned int i = 0; i < FRAMES; i++)
		post_tx(f, i, 60);
	kick(f, 1);
	assert_int_equal(peer_drain(f), 2);
	assert_int_equal(used_idx(f, 1), 2);
	assert_int_equal(f->vqs[1].last_avail, 2); /* the others are still in the ring */
	assert_int_equal(f->vqs[1].nr_inflight, 0);
	assert_true(lim_armed());
	assert_int_equal(tx->throttled, 1);
	got = 2;
	while (got < FRAMES) {
		assert_true(now_ns() - t0 < DEADLINE_MS * MS);
		fire_timer(f);
		got += peer_drain(f);
	}
	assert_int_equal(used_idx(f, 1), FRAMES);
	assert_true(now_ns() - t0 >= 200 * MS); /* two more at 10 a second */
	assert_int_equal(stats(f)->tx_frames, FRAMES);
	/* the fourth waits too, unless the timer came so late that its token was there */
	assert_true(tx->throttled >= 1 && tx->throttled <= 2);
	assert_true(tx->waited_ns > 0 && tx->waited_ns <= 2 * (now_ns() - t0));
	assert_int_equal(rx->throttled, 0);
	assert_int_equal(f->ft.needs_reset, 0);
}

/* bw=10000, burst 1000: a 1500-byte frame goes at once, the next waits out its debt. */
static void test_tx_bw_frame_above_burst(void **state)
{
	struct fx *f = *state;
	const struct rl_limiter *rx, *tx;
	uint64_t t0 = now_ns();

	start_limited(f, 10000, 1000, 0, 0);
	virtio_net_limiters(f->vdev, &rx, &tx);
	post_tx(f, 0, 1500);
	post_tx(f, 1, 60);
	kick(f, 1);
	assert_int_equal(peer_drain(f), 1);
	assert_true(lim_armed());
	while (used_idx(f, 1) < 2) {
		assert_true(now_ns() - t0 < DEADLINE_MS * MS);
		fire_timer(f);
	}
	assert_int_equal(peer_drain(f), 1);
	assert_true(now_ns() - t0 >= 56 * MS); /* (500 + 60) / 10000 s */
	assert_int_equal(tx->throttled, 1);
}

/* Tap -> guest, pps=10, burst 2: the third frame waits in the device, the tap unwatched. */
static void test_rx_pps(void **state)
{
	struct fx *f = *state;
	const struct rl_limiter *rx, *tx;
	uint64_t t0 = now_ns();

	start_limited(f, 0, 0, 10, 2);
	virtio_net_limiters(f->vdev, &rx, &tx);
	for (unsigned int i = 0; i < FRAMES; i++) {
		struct seg s = {BUF_GPA + 0x1000ULL * i, 2048, W};

		post(f, 0, &s, 1);
	}
	kick(f, 0);
	for (unsigned int i = 0; i < FRAMES; i++)
		peer_send(f, 100, (uint8_t)i);
	tap_ready(f, EPOLLIN);
	assert_int_equal(used_idx(f, 0), 2);
	assert_int_equal(tap_watch()->events, 0); /* not read until the timer */
	assert_true(lim_armed());
	assert_int_equal(rx->throttled, 1);
	while (used_idx(f, 0) < FRAMES) {
		assert_true(now_ns() - t0 < DEADLINE_MS * MS);
		fire_timer(f);
		if (tap_watch()->events == EPOLLIN)
			tap_ready(f, EPOLLIN);
	}
	assert_true(now_ns() - t0 >= 200 * MS);
	assert_int_equal(stats(f)->rx_frames, FRAMES);
	for (unsigned int i = 0; i < FRAMES; i++) {
		uint8_t want[100];

		fill(want, sizeof(want), (uint8_t)i);
		assert_memory_equal(hva(f, BUF_GPA + 0x1000ULL * i + NET_HDR_LEN), want, 100);
	}
	assert_true(rx->throttled >= 1 && rx->throttled <= 2);
	assert_true(rx->waited_ns > 0);
	assert_int_equal(tx->throttled, 0);
	assert_int_equal(tap_watch()->events, EPOLLIN); /* back in the epoll set */
}

/* A reset while a received frame waits: timer disarmed, the frame dropped and counted. */
static void test_rx_reset_while_waiting(void **state)
{
	struct fx *f = *state;
	struct seg s[2] = {{BUF_GPA, 2048, W}, {BUF_GPA + 0x1000, 2048, W}};

	start_limited(f, 0, 0, 10, 1);
	post(f, 0, &s[0], 1);
	post(f, 0, &s[1], 1);
	kick(f, 0);
	peer_send(f, 100, 1);
	peer_send(f, 100, 2);
	tap_ready(f, EPOLLIN);
	assert_int_equal(used_idx(f, 0), 1);
	assert_true(lim_armed());
	f->vdev->ops->reset(f->vdev);
	f->vdev->active = false;
	assert_false(lim_armed());
	assert_int_equal(stats(f)->drops[NET_DROP_RX_RESET], 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_tx_pps, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_tx_bw_frame_above_burst, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_rx_pps, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_rx_reset_while_waiting, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
