/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_DEVICES_DISK_POOL_H
#define KVMRUN_DEVICES_DISK_POOL_H

/*
 * The worker threads of one disk (private to the disk backend): they run the
 * requests whose duration the guest controls, or that the kernel would run
 * in the submitting call, so that the event loop never waits for them. The
 * loop queues requests and reaps the finished ones; a worker that finishes
 * one when none was waiting to be reaped signals the disk's eventfd.
 *
 * Reads, writes and flushes run as one call each. Discard and write-zeroes
 * run in pieces of at most DISK_POOL_PIECE bytes (the write fallback in
 * smaller ones), so that disk_pool_cancel() waits for one piece at most; at
 * most all workers but one run them at a time, so that a guest's long
 * discards leave a worker for its reads and writes.
 */

#include <stdbool.h>

#include "backend/disk.h"
#include "kvmrun/compiler.h"

#define DISK_POOL_PIECE (256ULL << 20)

struct disk_pool;
struct ev_loop;

/*
 * nr_workers threads for the image: reads from fd, everything else on wfd
 * (the same fd, or a snapshot's overlay: then, with overlay, a discard zeroes
 * as write-zeroes does, by a hole where it can), finishing on efd. They start
 * at once, or with the VM when the loop holds threads (ev_thread_start). With
 * sandbox, each worker installs the SANDBOX_DISK filter before it takes a request; if that
 * fails it stops loop (status KVMRUN_ERR_INTERNAL) and takes none. 0 or -errno.
 */
int disk_pool_create(struct disk_pool **out, int fd, int wfd, bool overlay, int efd,
		     unsigned int nr_workers, bool sandbox, struct ev_loop *loop) WARN_UNUSED;
/* Stops and joins the workers; the caller cancelled or reaped every request first. */
void disk_pool_destroy(struct disk_pool *p);

/*
 * Queue requests (a list linked by io->next, NULL-terminated; op, offset and
 * the buffers or ranges set) and wake as many idle workers as they need.
 */
void disk_pool_submit(struct disk_pool *p, struct disk_io *list);

/* The finished requests (io->res set), in the order they finished; NULL: none. */
struct disk_io *disk_pool_reap(struct disk_pool *p);

/*
 * Requests not started end with res -ECANCELED; a discard or write-zeroes that
 * runs stops after its current piece (res -ECANCELED); waits until no worker
 * runs a request. Returns every finished request, as disk_pool_reap().
 */
struct disk_io *disk_pool_cancel(struct disk_pool *p);

#endif
