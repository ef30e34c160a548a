// SPDX-License-Identifier: Apache-2.0
/*
 * The token buckets of the rate limits, with the time handed in: refill, the
 * burst, requests larger than the burst (debt), rates and idle times at the
 * edge of 64 bits, and a clock that goes backwards or jumps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "kvmrun/ratelimit.h"

#define S RL_NS_PER_S
#define MS 1000000ULL
#define T0 (1000 * S) /* a clock that does not start at 0 */

static void test_unlimited(void **state)
{
	struct rl_bucket b;

	rl_bucket_init(&b, 0, 0, T0);
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(rl_bucket_wait(&b, UINT64_MAX, T0), 0);
		rl_bucket_take(&b, UINT64_MAX);
	}
}

/* Starts full with one second's worth; the next token comes 1/rate later. */
static void test_burst_then_rate(void **state)
{
	struct rl_bucket b;

	rl_bucket_init(&b, 10, 0, T0);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(rl_bucket_wait(&b, 1, T0), 0);
		rl_bucket_take(&b, 1);
	}
	assert_int_equal(rl_bucket_wait(&b, 1, T0), 100 * MS);
	assert_int_equal(rl_bucket_wait(&b, 1, T0 + 40 * MS), 60 * MS);
	assert_int_equal(rl_bucket_wait(&b, 1, T0 + 100 * MS - 1), 1);
	assert_int_equal(rl_bucket_wait(&b, 1, T0 + 100 * MS), 0);
}

/* No refill beyond the burst, however long idle. */
static void test_refill_caps_at_burst(void **state)
{
	struct rl_bucket b;

	rl_bucket_init(&b, 1000, 5, T0);
	rl_bucket_take(&b, 5);
	assert_int_not_equal(rl_bucket_wait(&b, 1, T0), 0);
	assert_int_equal(rl_bucket_wait(&b, 1, T0 + 3600 * S), 0);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(rl_bucket_wait(&b, 1, T0 + 3600 * S), 0);
		rl_bucket_take(&b, 1);
	}
	assert_int_equal(rl_bucket_wait(&b, 1, T0 + 3600 * S), MS);
}

/* Fractions of a token are kept: 3 tokens/s asked every 1/3 s never drift. */
static void test_fractions_kept(void **state)
{
	struct rl_bucket b;
	uint64_t t = T0;

	rl_bucket_init(&b, 3, 1, T0);
	rl_bucket_take(&b, 1);
	for (int i = 0; i < 3000; i++) {
		uint64_t w = rl_bucket_wait(&b, 1, t);

		t += w;
		assert_int_equal(rl_bucket_wait(&b, 1, t), 0);
		rl_bucket_take(&b, 1);
	}
	/* 3000 tokens at 3/s: 1000 s, to the rounding of one ns per token */
	assert_true(t - T0 >= 1000 * S - 3000 && t - T0 <= 1000 * S + 3000);
}

/* A request larger than the burst goes once the bucket is full, then is paid off. */
static void test_debt(void **state)
{
	struct rl_bucket b;

	rl_bucket_init(&b, 1000, 1000, T0);
	rl_bucket_take(&b, 1);
	assert_int_equal(rl_bucket_wait(&b, 5000, T0), MS);
	assert_int_equal(rl_bucket_wait(&b, 5000, T0 + MS), 0);
	rl_bucket_take(&b, 5000);
	assert_int_equal(b.tokens, -4000);
	/* the debt, then the next request's own token */
	assert_int_equal(rl_bucket_wait(&b, 1, T0 + MS), 4001 * MS);
	assert_int_equal(rl_bucket_wait(&b, 1, T0 + 4002 * MS), 0);
}

/* 100 GB/s, a 1 GiB request, an hour idle, the largest rates: no overflow. */
static void test_big_numbers(void **state)
{
	struct rl_bucket b;

	rl_bucket_init(&b, 100000000000ULL, 0, T0);
	assert_int_equal(b.burst, 100000000000LL);
	rl_bucket_take(&b, 100000000000ULL);
	/* 2^30 / 1e11 s, rounded up to the ns */
	assert_int_equal(rl_bucket_wait(&b, 1ULL << 30, T0), 10737419);
	assert_int_equal(rl_bucket_wait(&b, 1ULL << 30, T0 + 3600 * S), 0);
	assert_int_equal(b.tokens, 100000000000LL);

	rl_bucket_init(&b, UINT64_MAX, UINT64_MAX, 0);
	assert_int_equal(b.rate, RL_MAX);
	assert_int_equal(b.burst, (int64_t)RL_MAX);
	rl_bucket_take(&b, UINT64_MAX);
	rl_bucket_take(&b, UINT64_MAX);
	rl_bucket_take(&b, UINT64_MAX);
	assert_int_equal(b.tokens, -(int64_t)RL_MAX);
	assert_int_equal(rl_bucket_wait(&b, UINT64_MAX, 0), 2 * S);
	assert_int_equal(rl_bucket_wait(&b, UINT64_MAX, UINT64_MAX), 0);
	assert_int_equal(b.tokens, (int64_t)RL_MAX);

	/* the slowest bucket in the deepest debt: ask again in an hour, and again */
	rl_bucket_init(&b, 1, 1, 0);
	rl_bucket_take(&b, UINT64_MAX);
	assert_int_equal(b.tokens, 1 - (int64_t)RL_MAX);
	assert_int_equal(rl_bucket_wait(&b, 1, 0), RL_WAIT_MAX_NS);
	assert_int_equal(rl_bucket_wait(&b, 1, RL_WAIT_MAX_NS), RL_WAIT_MAX_NS);
	assert_int_equal(b.tokens, 1 - (int64_t)RL_MAX + 3600);
}

/* A clock that goes backwards gains nothing, then counts on from there. */
static void test_time_backwards_and_jumps(void **state)
{
	struct rl_bucket b;

	rl_bucket_init(&b, 10, 1, T0);
	rl_bucket_take(&b, 1);
	assert_int_equal(rl_bucket_wait(&b, 1, T0 - 50 * S), 100 * MS);
	assert_int_equal(rl_bucket_wait(&b, 1, T0 - 50 * S + 60 * MS), 40 * MS);
	assert_int_equal(rl_bucket_wait(&b, 1, T0 - 50 * S + 100 * MS), 0);
	rl_bucket_take(&b, 1);
	/* back to 0 and then to the end of time */
	assert_int_equal(rl_bucket_wait(&b, 1, 0), 100 * MS);
	assert_int_equal(rl_bucket_wait(&b, 1, UINT64_MAX), 0);
	assert_int_equal(b.tokens, 1);
}

/* The limiter: both buckets, the longer wait, the counters. */
static void test_limiter(void **state)
{
	struct rl_limiter l;
	struct rl_wait w = {0};

	rl_limiter_init(&l, 100, 0, 1000, 0, T0);
	assert_true(rl_limited(&l));
	assert_int_equal(rl_admit(&l, &w, 1000, T0), 0);
	/* the bytes bucket is empty: 600 bytes take 600 ms */
	assert_int_equal(rl_admit(&l, &w, 600, T0), 600 * MS);
	assert_int_equal(rl_admit(&l, &w, 600, T0 + 100 * MS), 500 * MS);
	assert_int_equal(l.throttled, 1);
	assert_int_equal(rl_admit(&l, &w, 600, T0 + 600 * MS), 0);
	assert_int_equal(l.waited_ns, 600 * MS);
	assert_false(w.on);
	/* 0 bytes: only the ops bucket counts (99 left, one every 10 ms) */
	for (int i = 0; i < 99; i++)
		assert_int_equal(rl_admit(&l, &w, 0, T0 + 600 * MS), 0);
	assert_int_equal(rl_admit(&l, &w, 0, T0 + 600 * MS), 10 * MS);
	assert_int_equal(l.throttled, 2);
	rl_wait_drop(&l, &w, T0 + 605 * MS);
	assert_int_equal(l.waited_ns, 605 * MS);
	assert_false(w.on);

	rl_limiter_init(&l, 0, 0, 0, 0, T0);
	assert_false(rl_limited(&l));
	assert_int_equal(rl_admit(&l, &w, UINT64_MAX, T0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unlimited),
	    cmocka_unit_test(test_burst_then_rate),
	    cmocka_unit_test(test_refill_caps_at_burst),
	    cmocka_unit_test(test_fractions_kept),
	    cmocka_unit_test(test_debt),
	    cmocka_unit_test(test_big_numbers),
	    cmocka_unit_test(test_time_backwards_and_jumps),
	    cmocka_unit_test(test_limiter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
