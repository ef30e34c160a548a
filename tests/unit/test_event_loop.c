// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kvmrun/event_loop.h"

struct pipe_ctx {
	struct ev_loop *loop;
	int fds[2];
	unsigned int calls;
	uint32_t events;
	char buf[16];
	ssize_t got;
	int stop_after; /* ev_stop(loop, stop_status) on this call; 0 = never */
	int stop_status;
	bool drain;
};

static void pipe_handler(void *opaque, uint32_t events)
{
	struct pipe_ctx *c = opaque;

	c->calls++;
	c->events = events;
	if (c->drain)
		c->got = read(c->fds[0], c->buf, sizeof(c->buf));
	if (c->stop_after && (int)c->calls == c->stop_after)
		ev_stop(c->loop, c->stop_status);
}

static void make_pipe(struct pipe_ctx *c, struct ev_loop *loop)
{
	memset(c, 0, sizeof(*c));
	c->loop = loop;
	assert_int_equal(pipe(c->fds), 0);
}

static void close_pipe(struct pipe_ctx *c)
{
	close(c->fds[0]);
	close(c->fds[1]);
}

/* Watches c's read end on loop: the handler's call number stop_after stops it with status. */
static void watch_pipe(struct pipe_ctx *c, struct ev_loop *loop, int stop_after, int status)
{
	c->loop = loop;
	c->stop_after = stop_after;
	c->stop_status = status;
	assert_int_equal(ev_add(loop, c->fds[0], EPOLLIN, pipe_handler, c), 0);
}

static void test_add_pipe_epollin(void **state)
{
	struct ev_loop *loop;
	struct pipe_ctx c;

	(void)state;
	assert_int_equal(ev_loop_create(&loop), 0);
	make_pipe(&c, loop);
	c.drain = true;
	watch_pipe(&c, loop, 1, 17);
	/* A second add of the same fd is refused by epoll. */
	assert_int_equal(ev_add(loop, c.fds[0], EPOLLIN, pipe_handler, &c), -EEXIST);
	assert_int_equal(write(c.fds[1], "hello", 5), 5);
	assert_int_equal(ev_run(loop), 17);
	assert_int_equal(c.calls, 1);
	assert_true(c.events & EPOLLIN);
	assert_int_equal(c.got, 5);
	assert_memory_equal(c.buf, "hello", 5);

	assert_int_equal(ev_del(loop, c.fds[0]), 0);
	assert_int_equal(ev_del(loop, c.fds[0]), -ENOENT);
	assert_int_equal(ev_mod(loop, c.fds[0], EPOLLIN), -ENOENT);
	assert_int_equal(ev_add(loop, -1, EPOLLIN, pipe_handler, &c), -EBADF);
	ev_loop_destroy(loop);
	close_pipe(&c);
}

struct stopper {
	struct ev_loop *loop;
	int status;
	unsigned int delay_us;
};

static void *stopper_thread(void *arg)
{
	struct stopper *s = arg;

	if (s->delay_us)
		usleep(s->delay_us);
	ev_stop(s->loop, s->status);
	return NULL;
}

static void test_stop_from_thread(void **state)
{
	struct ev_loop *loop;
	struct stopper s;
	pthread_t t;

	(void)state;
	assert_int_equal(ev_loop_create(&loop), 0);
	s = (struct stopper){ .loop = loop, .status = 143, .delay_us = 20000 };
	assert_int_equal(pthread_create(&t, NULL, stopper_thread, &s), 0);
	/* Blocks in epoll_wait with nothing else registered until the thread stops it. */
	assert_int_equal(ev_run(loop), 143);
	pthread_join(t, NULL);
	ev_loop_destroy(loop);
}

/* The loop is busy dispatching when another thread stops it: the status must not be lost. */
static void busy_handler(void *opaque, uint32_t events)
{
	unsigned int *calls = opaque;

	(void)events;
	(*calls)++;
}

static void test_stop_from_thread_while_busy(void **state)
{
	(void)state;
	for (int i = 0; i < 2000; i++) {
		struct ev_loop *loop;
		struct stopper s;
		unsigned int calls = 0;
		pthread_t t;
		int efd = eventfd(1, EFD_CLOEXEC); /* always readable: never drained */

		assert_true(efd >= 0);
		assert_int_equal(ev_loop_create(&loop), 0);
		assert_int_equal(ev_add(loop, efd, EPOLLIN, busy_handler, &calls), 0);
		s = (struct stopper){ .loop = loop, .status = 100 + i % 50 };
		assert_int_equal(pthread_create(&t, NULL, stopper_thread, &s), 0);
		assert_int_equal(ev_run(loop), 100 + i % 50);
		pthread_join(t, NULL);
		ev_loop_destroy(loop);
		close(efd);
	}
}

static void test_first_status_wins(void **state)
{
	struct ev_loop *loop;
	struct pipe_ctx c;

	(void)state;
	assert_int_equal(ev_loop_create(&loop), 0);
	/* Stopped before running: returns at once with the first status. */
	ev_stop(loop, 5);
	ev_stop(loop, 6);
	ev_stop(loop, 0);
	assert_int_equal(ev_run(loop), 5);
	ev_loop_destroy(loop);

	/* From inside a handler, then again. */
	assert_int_equal(ev_loop_create(&loop), 0);
	make_pipe(&c, loop);
	watch_pipe(&c, loop, 1, 7);
	assert_int_equal(write(c.fds[1], "x", 1), 1);
	ev_stop(loop, 9); /* before the loop runs: this one wins, no handler runs */
	assert_int_equal(ev_run(loop), 9);
	assert_int_equal(c.calls, 0);
	ev_loop_destroy(loop);
	close_pipe(&c);

	assert_int_equal(ev_loop_create(&loop), 0);
	make_pipe(&c, loop);
	watch_pipe(&c, loop, 1, 7);
	assert_int_equal(write(c.fds[1], "x", 1), 1);
	assert_int_equal(ev_run(loop), 7);
	ev_stop(loop, 8);
	assert_int_equal(ev_run(loop), 7);
	ev_loop_destroy(loop);
	close_pipe(&c);
}

/*
 * Two handlers, both ready in the same epoll_wait batch: whichever runs first
 * deletes the other and itself, and arms a third fd so the loop stops on the
 * next batch. The deleted handler's event is still in the batch (ASan checks
 * it is not used after being freed).
 */
struct killer {
	struct ev_loop *loop;
	int fd;
	struct killer *victim;
	int stop_fd;
	unsigned int *total;
	bool *ran_after_del;
	bool deleted;
};

static void killer_handler(void *opaque, uint32_t events)
{
	struct killer *k = opaque;
	uint64_t one = 1;

	(void)events;
	if (k->deleted)
		*k->ran_after_del = true;
	(*k->total)++;
	if (!k->victim->deleted) {
		assert_int_equal(ev_del(k->loop, k->victim->fd), 0);
		k->victim->deleted = true;
		assert_int_equal(ev_del(k->loop, k->fd), 0);
		k->deleted = true;
		assert_int_equal(write(k->stop_fd, &one, sizeof(one)), sizeof(one));
	}
}

static void stop_handler(void *opaque, uint32_t events)
{
	struct ev_loop *loop = opaque;

	(void)events;
	ev_stop(loop, 3);
}

static void test_del_other_in_same_batch(void **state)
{
	for (int i = 0; i < 20; i++) {
		struct ev_loop *loop;
		unsigned int total = 0;
		bool ran_after_del = false;
		int ea = eventfd(1, EFD_CLOEXEC), eb = eventfd(1, EFD_CLOEXEC);
		int es = eventfd(0, EFD_CLOEXEC);
		struct killer a = { .fd = ea, .stop_fd = es, .total = &total,
				    .ran_after_del = &ran_after_del };
		struct killer b = a;

		(void)state;
		assert_true(ea >= 0 && eb >= 0 && es >= 0);
		assert_int_equal(ev_loop_create(&loop), 0);
		a.loop = b.loop = loop;
		b.fd = eb;
		a.victim = &b;
		b.victim = &a;
		/* Alternate the registration order so each side goes first sometimes. */
		if (i & 1) {
			assert_int_equal(ev_add(loop, ea, EPOLLIN, killer_handler, &a), 0);
			assert_int_equal(ev_add(loop, eb, EPOLLIN, killer_handler, &b), 0);
		} else {
			assert_int_equal(ev_add(loop, eb, EPOLLIN, killer_handler, &b), 0);
			assert_int_equal(ev_add(loop, ea, EPOLLIN, killer_handler, &a), 0);
		}
		assert_int_equal(ev_add(loop, es, EPOLLIN, stop_handler, loop), 0);
		assert_int_equal(ev_run(loop), 3);
		assert_int_equal(total, 1);
		assert_false(ran_after_del);
		assert_true(a.deleted && b.deleted);
		assert_int_equal(ev_del(loop, ea), -ENOENT);
		assert_int_equal(ev_del(loop, eb), -ENOENT);
		assert_int_equal(ev_del(loop, es), 0);
		ev_loop_destroy(loop);
		close(ea);
		close(eb);
		close(es);
	}
}

/*
 * Runs loop for five waits, through a pipe of its own (stop) that is never drained:
 * level-triggered, it fires on every wait, and its fifth call stops the loop.
 */
static void run_five_waits(struct ev_loop *loop, struct pipe_ctx *stop)
{
	make_pipe(stop, loop);
	watch_pipe(stop, loop, 5, 4);
	assert_int_equal(write(stop->fds[1], "s", 1), 1);
	assert_int_equal(ev_run(loop), 4);
	assert_int_equal(stop->calls, 5);
}

/* A new loop that watches pipe c, written pending (NULL: nothing), then disables it. */
static struct ev_loop *disabled_pipe(struct pipe_ctx *c, const char *pending)
{
	struct ev_loop *loop;

	assert_int_equal(ev_loop_create(&loop), 0);
	make_pipe(c, loop);
	assert_int_equal(ev_add(loop, c->fds[0], EPOLLIN, pipe_handler, c), 0);
	if (pending)
		assert_int_equal(write(c->fds[1], pending, strlen(pending)), strlen(pending));
	assert_int_equal(ev_mod(loop, c->fds[0], 0), 0);
	return loop;
}

/* On a new loop, c is watched, disabled and enabled again: it fires once (status). */
static struct ev_loop *reenabled_fires_once(struct pipe_ctx *c, int status)
{
	struct ev_loop *loop;

	assert_int_equal(ev_loop_create(&loop), 0);
	c->calls = 0;
	watch_pipe(c, loop, 1, status);
	assert_int_equal(ev_mod(loop, c->fds[0], 0), 0);
	assert_int_equal(ev_mod(loop, c->fds[0], EPOLLIN), 0);
	assert_int_equal(ev_run(loop), status);
	assert_int_equal(c->calls, 1);
	return loop;
}

static void test_mod_zero_stops_callbacks(void **state)
{
	struct ev_loop *loop;
	struct pipe_ctx c;
	struct pipe_ctx stop;

	(void)state;
	/* Not drained: level-triggered, it would fire on every wait. */
	loop = disabled_pipe(&c, "x");
	run_five_waits(loop, &stop);
	assert_int_equal(c.calls, 0);
	ev_loop_destroy(loop);

	/* Re-enabling delivers the pending data. */
	loop = reenabled_fires_once(&c, 12);
	assert_true(c.events & EPOLLIN);
	ev_loop_destroy(loop);
	close_pipe(&c);
	close_pipe(&stop);
}

/* epoll reports a hang-up whatever the mask: events 0 must still mean no callbacks. */
static void test_mod_zero_stops_hangup(void **state)
{
	struct ev_loop *loop;
	struct pipe_ctx c;
	struct pipe_ctx stop;

	(void)state;
	loop = disabled_pipe(&c, NULL);
	assert_int_equal(ev_mod(loop, c.fds[0], 0), 0);
	close(c.fds[1]);
	c.fds[1] = -1;
	run_five_waits(loop, &stop);
	assert_int_equal(c.calls, 0);
	ev_loop_destroy(loop);

	/* Re-enabled, the hang-up is reported; and a disabled handler can be deleted. */
	loop = reenabled_fires_once(&c, 8);
	assert_true(c.events & EPOLLHUP);
	assert_int_equal(ev_mod(loop, c.fds[0], 0), 0);
	assert_int_equal(ev_del(loop, c.fds[0]), 0);
	assert_int_equal(ev_mod(loop, c.fds[0], EPOLLIN), -ENOENT);
	ev_loop_destroy(loop);
	close(c.fds[0]);
	close_pipe(&stop);
}

/*
 * The before-wait hook: a loop whose one always-readable fd calls the handler
 * n times runs the hook once before each wait, so once before each call and
 * once more before the wait that sees the stop; from the call that removes it
 * on, not at all.
 */
struct wait_ctx {
	struct ev_loop *loop;
	unsigned int calls, hooks;
	unsigned int hooks_at[6]; /* hooks run before each call */
};

static void wait_hook(void *opaque)
{
	struct wait_ctx *c = opaque;

	c->hooks++;
}

static void wait_handler(void *opaque, uint32_t events)
{
	struct wait_ctx *c = opaque;

	(void)events;
	c->hooks_at[c->calls] = c->hooks;
	if (c->calls == 3)
		ev_before_wait(c->loop, NULL, NULL);
	if (++c->calls == ARRAY_SIZE(c->hooks_at))
		ev_stop(c->loop, 0);
}

static void test_before_wait_hook(void **state)
{
	struct wait_ctx c = {0};
	int efd = eventfd(1, EFD_CLOEXEC); /* always readable */

	(void)state;
	assert_true(efd >= 0);
	assert_int_equal(ev_loop_create(&c.loop), 0);
	ev_before_wait(c.loop, wait_hook, &c);
	assert_int_equal(ev_add(c.loop, efd, EPOLLIN, wait_handler, &c), 0);
	assert_int_equal(ev_run(c.loop), 0);
	for (unsigned int i = 0; i < ARRAY_SIZE(c.hooks_at); i++)
		assert_int_equal(c.hooks_at[i], MIN(i + 1, 4U));
	assert_int_equal(c.hooks, 4);
	ev_loop_destroy(c.loop);
	close(efd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_pipe_epollin),
		cmocka_unit_test(test_stop_from_thread),
		cmocka_unit_test(test_stop_from_thread_while_busy),
		cmocka_unit_test(test_first_status_wins),
		cmocka_unit_test(test_before_wait_hook),
		cmocka_unit_test(test_del_other_in_same_batch),
		cmocka_unit_test(test_mod_zero_stops_callbacks),
		cmocka_unit_test(test_mod_zero_stops_hangup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
