/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An event loop for fuzz targets that host several devices (fuzz_loop.c): the
 * ev_* calls of kvmrun/event_loop.h backed by a real epoll instance (so that
 * edge-triggered doorbells behave as in the VMM), and a dispatch that serves
 * whatever is ready without ever waiting. A loop serves one thread at a time.
 */
#ifndef FUZZ_LOOP_H
#define FUZZ_LOOP_H

#include <stdbool.h>

#include "kvmrun/event_loop.h"

/* A loop for the devices of one machine; aborts if it cannot. */
struct ev_loop *fuzz_loop_create(void);
/* Frees the loop: nothing may be watched any more. */
void fuzz_loop_destroy(struct ev_loop *loop);

/*
 * Serve what is ready, for at most @rounds rounds of epoll_wait with no
 * timeout (a handler may make more ready: a requeued queue, a completion).
 * Returns the number of handlers called.
 */
unsigned int fuzz_loop_dispatch(struct ev_loop *loop, unsigned int rounds);

/* Descriptors still watched: 0 once every device is destroyed. */
unsigned int fuzz_loop_watched(const struct ev_loop *loop);


#endif
