/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_EVENT_LOOP_H
#define KVMRUN_EVENT_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include "kvmrun/compiler.h"

struct ev_loop;

/* Called on the loop thread with the epoll events that fired. */
typedef void (*ev_fn)(void *opaque, uint32_t events);

int ev_loop_create(struct ev_loop **out) WARN_UNUSED;
void ev_loop_destroy(struct ev_loop *loop);

int ev_add(struct ev_loop *loop, int fd, uint32_t events, ev_fn fn, void *opaque) WARN_UNUSED;
int ev_mod(struct ev_loop *loop, int fd, uint32_t events);
int ev_del(struct ev_loop *loop, int fd);

/* Runs until ev_stop(); returns the status given to the first ev_stop(). */
int ev_run(struct ev_loop *loop);

/*
 * fn(opaque) runs on the loop thread before each wait in epoll (ev_run), e.g.
 * to set how the thread waits; one at a time, NULL removes it.
 */
typedef void (*ev_wait_fn)(void *opaque);
void ev_before_wait(struct ev_loop *loop, ev_wait_fn fn, void *opaque);

/*
 * Threads that run beside the loop (a disk's workers) start late: kvmrun jails
 * itself (jail.h) while it is still its only thread, after every device is set
 * up. After ev_hold_threads(), ev_thread_start() only queues s, and
 * ev_start_threads() runs the queued starts in order; without it, s->fn runs
 * at once. s->fn returns how many threads it started, or -errno (having
 * started none).
 */
struct ev_thread_start {
	int (*fn)(void *opaque);
	void *opaque;
	struct ev_thread_start *next;
};
void ev_hold_threads(struct ev_loop *loop);
/* What s->fn returned when run at once; 0 when queued. */
int ev_thread_start(struct ev_loop *loop, struct ev_thread_start *s) WARN_UNUSED;
/* Takes s off the queue if it is still there (its owner goes before the start). */
void ev_thread_cancel(struct ev_loop *loop, struct ev_thread_start *s);
/* The threads started in all, or the first -errno; from then on no more holding. */
int ev_start_threads(struct ev_loop *loop) WARN_UNUSED;

/* Safe from any thread; the first status given wins. */
void ev_stop(struct ev_loop *loop, int status);

#endif
