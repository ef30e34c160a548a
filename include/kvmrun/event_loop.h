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

/* Safe from any thread; the first status given wins. */
void ev_stop(struct ev_loop *loop, int status);

#endif
