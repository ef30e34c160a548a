// SPDX-License-Identifier: Apache-2.0
/*
 * The scheduling policy on a real event loop: a loop whose one always-readable
 * fd calls the handler once per wait; each call records the policy the loop
 * thread was woken from and what the policy answers, then reports a pass.
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "kvmrun/event_loop.h"
#include "kvmrun/sched_policy.h"

#define MAX_CALLS 96
#define HOLD_NS 4000000L

/* A transmit pass of one small frame: held while the loop preempts, only. */
static const struct sp_pass ping = {SP_TX_FRAMES, 1, 98};

struct ctx {
	struct ev_loop *loop;
	struct sp_policy *sp;
	unsigned int calls, n;
	struct sp_pass pass[MAX_CALLS]; /* reported at each call */
	int policy[MAX_CALLS];		/* the loop thread's, at each call */
	long hold[MAX_CALLS];		/* sp_hold_ns(ping) at each call */
	/* Called at each call after the report, when set. */
	void (*after)(struct ctx *c, unsigned int call);
	long hold_after_report[MAX_CALLS];
};

static void handler(void *opaque, uint32_t events)
{
	struct ctx *c = opaque;
	unsigned int i = c->calls;

	(void)events;
	c->policy[i] = sched_getscheduler(0);
	c->hold[i] = sp_hold_ns(c->sp, &ping);
	sp_report(c->sp, &c->pass[i]);
	c->hold_after_report[i] = sp_hold_ns(c->sp, &ping);
	if (c->after)
		c->after(c, i);
	if (++c->calls == c->n)
		ev_stop(c->loop, 0);
}

static void run(struct ctx *c)
{
	int efd = eventfd(1, EFD_CLOEXEC);

	assert_true(efd >= 0);
	assert_true(c->n <= MAX_CALLS);
	assert_int_equal(ev_loop_create(&c->loop), 0);
	assert_int_equal(sp_create(&c->sp, c->loop), 0);
	assert_int_equal(ev_add(c->loop, efd, EPOLLIN, handler, c), 0);
	assert_int_equal(ev_run(c->loop), 0);
	sp_destroy(c->sp);
	ev_loop_destroy(c->loop);
	close(efd);
	/* Leave the test thread as it was for the tests that follow. */
	assert_int_equal(sched_setscheduler(0, SCHED_OTHER, &(struct sched_param){0}), 0);
}

/* Calls [from, to) waited as SCHED_OTHER, the others as SCHED_BATCH. */
static void expect_preempting(const struct ctx *c, unsigned int from, unsigned int to)
{
	for (unsigned int i = 0; i < c->n; i++) {
		bool other = i >= from && i < to;

		if (c->policy[i] != (other ? SCHED_OTHER : SCHED_BATCH))
			fail_msg("call %u: policy %d, expected %s", i, c->policy[i],
				 other ? "SCHED_OTHER" : "SCHED_BATCH");
		/* A ping's completion is held exactly while the loop preempts. */
		if (c->hold[i] != (other ? HOLD_NS : 0))
			fail_msg("call %u: held %ld ns", i, c->hold[i]);
		/* The report changes the answer only from the next wait on. */
		if (c->hold_after_report[i] != c->hold[i])
			fail_msg("call %u: held %ld ns after the report", i,
				 c->hold_after_report[i]);
	}
}

static struct sp_pass requests(unsigned int n)
{
	return (struct sp_pass){.kind = SP_REQUESTS, .count = n};
}

/*
 * SCHED_BATCH at first; SCHED_OTHER after 8 passes in a row that served one
 * request each (a pass of several restarts the count); SCHED_BATCH again after
 * 64 passes as SCHED_OTHER; passes that served nothing do not count.
 */
static void test_singles_preempt_then_probe(void **state)
{
	struct ctx c = {.n = 3 + 1 + 8 + 64 + 4};

	(void)state;
	for (unsigned int i = 0; i < c.n; i++)
		c.pass[i] = requests(i < 3 + 1 + 8 + 64 ? 1 : i % 2);
	c.pass[3] = requests(5); /* a batch after 3 singles: the count starts over */
	run(&c);
	/* Calls 12 to 75 waited as SCHED_OTHER: after 3 + 1 + 8, for 64. */
	expect_preempting(&c, 12, 12 + 64);
}

/* Seven singles are not enough; a pass of nothing neither counts nor restarts. */
static void test_empty_pass_ignored(void **state)
{
	struct ctx c = {.n = 11};

	(void)state;
	for (unsigned int i = 0; i < c.n; i++)
		c.pass[i] = requests(i == 7 ? 0 : 1);
	run(&c);
	expect_preempting(&c, 9, c.n);
}

/*
 * Frames count by their size: a pass of frames of at most 256 bytes counts
 * as its frames, one with a longer frame as a batch, in either direction.
 */
static void test_frame_size_boundary(void **state)
{
	struct ctx c = {.n = 7 + 1 + 8 + 1 + 2};
	unsigned int i = 0;

	(void)state;
	for (; i < 7; i++)
		c.pass[i] = (struct sp_pass){SP_TX_FRAMES, 1, 256};
	c.pass[i++] = (struct sp_pass){SP_TX_FRAMES, 1, 257}; /* a batch: starts over */
	for (; i < 7 + 1 + 7; i++)
		c.pass[i] = (struct sp_pass){SP_RX_FRAMES, 1, i % 2 ? 60 : 256};
	c.pass[i++] = (struct sp_pass){SP_TX_FRAMES, 1, 0};
	/* Calls 16 on: preempting; then passes of several small frames count as several. */
	c.pass[i++] = (struct sp_pass){SP_RX_FRAMES, 3, 98};
	c.pass[i++] = (struct sp_pass){SP_TX_FRAMES, 1, 1514};
	run(&c);
	expect_preempting(&c, 16, c.n);
}

/* Several small frames in a pass are a batch too: they restart the count. */
static void test_small_frames_batch(void **state)
{
	struct ctx c = {.n = 7 + 1 + 7 + 1};

	(void)state;
	for (unsigned int i = 0; i < c.n; i++)
		c.pass[i] = (struct sp_pass){SP_TX_FRAMES, i == 7 ? 2 : 1, 60};
	run(&c);
	expect_preempting(&c, 0, 0);
}

/*
 * While the loop preempts, only a transmit pass of one frame of at most 256
 * bytes is held; a larger one, several, received frames and requests are not.
 */
static void check_holds(struct ctx *c, unsigned int call)
{
	static const struct sp_pass not_held[] = {
	    {SP_TX_FRAMES, 1, 257},
	    {SP_TX_FRAMES, 2, 60},
	    {SP_TX_FRAMES, 0, 0},
	    {SP_RX_FRAMES, 1, 60},
	    {SP_REQUESTS, 1, 0},
	};

	if (call != 9)
		return;
	assert_int_equal(c->policy[call], SCHED_OTHER);
	assert_int_equal(sp_hold_ns(c->sp, &(struct sp_pass){SP_TX_FRAMES, 1, 256}), HOLD_NS);
	assert_int_equal(sp_hold_ns(c->sp, &(struct sp_pass){SP_TX_FRAMES, 1, 1}), HOLD_NS);
	for (unsigned int i = 0; i < sizeof(not_held) / sizeof(not_held[0]); i++)
		if (sp_hold_ns(c->sp, &not_held[i]))
			fail_msg("pass %u held while preempting", i);
}

static void test_hold_while_preempting(void **state)
{
	struct ctx c = {.n = 10, .after = check_holds};

	(void)state;
	for (unsigned int i = 0; i < c.n; i++)
		c.pass[i] = requests(1);
	run(&c);
	expect_preempting(&c, 8, c.n);
}

/* Without a policy: nothing held, reports and notifications go through. */
static void test_no_policy(void **state)
{
	(void)state;
	sp_report(NULL, &ping);
	sp_before_notify(NULL, &ping);
	assert_int_equal(sp_hold_ns(NULL, &ping), 0);
	sp_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_singles_preempt_then_probe),
		cmocka_unit_test(test_empty_pass_ignored),
		cmocka_unit_test(test_frame_size_boundary),
		cmocka_unit_test(test_small_frames_batch),
		cmocka_unit_test(test_hold_while_preempting),
		cmocka_unit_test(test_no_policy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
