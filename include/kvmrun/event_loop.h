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

/*
 * Runs until ev_stop(); returns the status given to the first ev_stop().
 * The calling thread waits as SCHED_BATCH, or as SCHED_OTHER while the
 * requests devices report with ev_served() come one per pass (see
 * event_loop.c): whether an event (a kick) should preempt the guest on the
 * loop's CPU and be served at once, or let it run on and post more.
 */
int ev_run(struct ev_loop *loop);

/* A handler served n requests of the guest's in one pass. Loop thread only. */
void ev_served(struct ev_loop *loop, unsigned int n);

/*
 * Whether the loop thread waits as SCHED_OTHER now, so that its wake-up (a
 * kick) preempts the vCPU that caused it: true from the wait that follows the
 * ev_served() reports that called for it. Loop thread only.
 */
bool ev_preempting(const struct ev_loop *loop);

/*
 * Lets the threads that are ready to run on this CPU run before the loop goes
 * on (sched_yield): for a handler that has woken a host thread (the receiver
 * of a frame) and is about to wake a vCPU for something the guest does not
 * wait on. On a CPU with nothing else to run it returns at once. Loop thread
 * only.
 */
void ev_yield(struct ev_loop *loop);

/* Safe from any thread; the first status given wins. */
void ev_stop(struct ev_loop *loop, int status);

#endif
