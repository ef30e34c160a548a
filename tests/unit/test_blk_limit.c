// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-blk with rate limits (--disk iops=, bw=): requests beyond the burst
 * stay in the ring, the device's timer armed, until the timer fires; then they
 * go, none failed or lost, and the counters say how many waited and how long.
 */
#include <time.h>
#include <sys/timerfd.h>

#include "blk_fixture.h"
#include "kvmrun/ratelimit.h"

#define DEADLINE_MS 20000 /* how long a test waits for what must happen */
#define REQ 5		  /* reads posted at once (3 descriptors each, 16 in all) */
#define MS 1000000ULL

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * RL_NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* The limiter's timer: the watch after the disk backend's. */
static struct fake_watch *timer_watch(void)
{
	assert_non_null(fake_loop.w[1].fn);
	return &fake_loop.w[1];
}

/* Armed, or fired and not yet served. */
static bool timer_armed(void)
{
	struct pollfd pfd = {.fd = timer_watch()->fd, .events = POLLIN};
	struct itimerspec its;

	assert_int_equal(timerfd_gettime(timer_watch()->fd, &its), 0);
	return its.it_value.tv_sec || its.it_value.tv_nsec || poll(&pfd, 1, 0) == 1;
}

/* Post n reads of len bytes each (slot i: its own header, data and status). */
static void post_reads(struct fx *f, unsigned int n, uint32_t len)
{
	for (unsigned int i = 0; i < n; i++) {
		struct seg s[3] = {
		    {hdr(f, i, VIRTIO_BLK_T_IN, i), 16, 0},
		    {DATA_GPA + (uint64_t)i * len, len, W},
		    {st(i), 1, W},
		};

		*(uint8_t *)hva(f, st(i)) = 0xee;
		post(f, s, 3);
	}
}

/*
 * Serve completions and the limiter's timer, as the loop would, until want
 * chains are used; a queue the device requeues is served again (a kick).
 */
static void pump_until(struct fx *f, uint16_t want)
{
	uint64_t end = now_ns() + DEADLINE_MS * MS;

	while (used_idx(f) != want) {
		struct pollfd pfd[2] = {
		    {.fd = fake_loop.w[0].fd, .events = POLLIN},
		    {.fd = timer_watch()->fd, .events = POLLIN},
		};

		assert_true(now_ns() < end);
		assert_true(poll(pfd, 2, 100) >= 0);
		if (pfd[0].revents)
			fake_loop.w[0].fn(fake_loop.w[0].opaque, POLLIN);
		if (pfd[1].revents)
			timer_watch()->fn(timer_watch()->opaque, POLLIN);
		if (f->ft.requeued & 1) {
			f->ft.requeued = 0;
			kick(f);
		}
	}
}

/* Serve completions only (no timer) until at least want chains are used. */
static void pump_completions(struct fx *f, uint16_t want)
{
	uint64_t end = now_ns() + DEADLINE_MS * MS;
	struct pollfd pfd = {.fd = fake_loop.w[0].fd, .events = POLLIN};

	while (used_idx(f) < want) {
		assert_true(now_ns() < end);
		if (poll(&pfd, 1, 100) == 1)
			fake_loop.w[0].fn(fake_loop.w[0].opaque, POLLIN);
	}
}

static void start_limited(void **state, uint64_t iops, uint64_t iops_burst, uint64_t bw,
			  uint64_t bw_burst)
{
	struct fx *f = *state;

	f->cfg.iops = (struct limit_config){iops, iops_burst};
	f->cfg.bw = (struct limit_config){bw, bw_burst};
	start(f);
}

/* iops=20, burst 3: three go at once, the other two 50 and 100 ms later, after the timer. */
static void test_iops_waits_in_ring(void **state)
{
	struct fx *f = *state;
	const struct rl_limiter *l;
	uint64_t t0 = now_ns(); /* before the bucket starts: a lower bound holds */

	start_limited(state, 20, 3, 0, 0);
	l = virtio_blk_limiter(f->vdev);
	assert_non_null(l);
	post_reads(f, REQ, 4096);
	kick(f);
	pump_completions(f, 3);
	assert_int_equal(used_idx(f), 3);
	/* the rest wait in the ring, not popped: the device holds none of them */
	assert_int_equal(f->vq.last_avail, 3);
	assert_int_equal(f->vq.nr_inflight, 0);
	assert_true(timer_armed());
	assert_int_equal(l->throttled, 1);
	/* a kick meanwhile serves nothing either, before the first 50 ms are over */
	kick(f);
	if (now_ns() - t0 < 45 * MS)
		assert_int_equal(f->vq.last_avail, 3);

	pump_until(f, REQ);
	/* two more at 20 a second: 100 ms at least */
	assert_true(now_ns() - t0 >= 100 * MS);
	for (unsigned int i = 0; i < REQ; i++)
		assert_int_equal(*(uint8_t *)hva(f, st(i)), VIRTIO_BLK_S_OK);
	assert_int_equal(f->ft.needs_reset, 0);
	/* the fifth waits too, unless the timer came so late that its token was there */
	assert_true(l->throttled >= 1 && l->throttled <= REQ - 3);
	assert_true(l->waited_ns > 0 && l->waited_ns <= 2 * (now_ns() - t0));
	assert_int_equal(f->vq.nr_inflight, 0);
}

/*
 * bw=1M with a 64 KiB burst: a 128 KiB read (above the burst) goes at once and
 * leaves a debt; the 4 KiB read after it waits (64 + 4) KiB / 1 MiB/s, 66 ms.
 */
static void test_bw_request_above_burst(void **state)
{
	struct fx *f = *state;
	const struct rl_limiter *l;
	uint64_t t0 = now_ns();

	start_limited(state, 0, 0, 1 * MiB, 64 * KiB);
	l = virtio_blk_limiter(f->vdev);
	{
		struct seg s[3] = {
		    {hdr(f, 0, VIRTIO_BLK_T_IN, 0), 16, 0},
		    {DATA_GPA, 128 * KiB, W},
		    {st(0), 1, W},
		};
		struct seg s2[3] = {
		    {hdr(f, 1, VIRTIO_BLK_T_IN, 0), 16, 0},
		    {DATA_GPA + 128 * KiB, 4096, W},
		    {st(1), 1, W},
		};

		post(f, s, 3);
		post(f, s2, 3);
	}
	kick(f);
	pump_completions(f, 1);
	if (now_ns() - t0 < 60 * MS)
		assert_int_equal(f->vq.last_avail, 1);
	assert_true(timer_armed());
	pump_until(f, 2);
	assert_true(now_ns() - t0 >= 66 * MS);
	assert_int_equal(*(uint8_t *)hva(f, st(0)), VIRTIO_BLK_S_OK);
	assert_int_equal(*(uint8_t *)hva(f, st(1)), VIRTIO_BLK_S_OK);
	assert_int_equal(used_len(f, 0), 128 * KiB + 1);
	assert_int_equal(l->throttled, 1);
}

/* A reset while requests wait: the timer is disarmed, nothing is pushed after it. */
static void test_reset_while_waiting(void **state)
{
	struct fx *f = *state;

	start_limited(state, 10, 1, 0, 0);
	post_reads(f, 3, 512);
	kick(f);
	pump_completions(f, 1);
	assert_true(timer_armed());
	f->vdev->ops->reset(f->vdev);
	assert_false(timer_armed());
	assert_true(virtio_blk_limiter(f->vdev)->waited_ns > 0);
	f->vdev->active = false;
}

/* No limits: no limiter, no timer watched. */
static void test_unlimited_has_no_timer(void **state)
{
	struct fx *f = *state;

	start(f);
	assert_null(virtio_blk_limiter(f->vdev));
	assert_null(fake_loop.w[1].fn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_iops_waits_in_ring, fx_setup_nodev, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_bw_request_above_burst, fx_setup_nodev,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_reset_while_waiting, fx_setup_nodev, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_unlimited_has_no_timer, fx_setup_nodev,
					    fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
