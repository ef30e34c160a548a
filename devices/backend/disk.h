/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_DEVICES_DISK_H
#define KVMRUN_DEVICES_DISK_H

/*
 * Raw disk image backend. With O_DIRECT (cache=none), reads, writes and
 * flushes go through Linux native AIO (libaio). Through the page cache
 * (cache=writeback), where the kernel would do the work inside io_submit,
 * they go to the disk's worker threads instead, and so do discard and
 * write-zeroes always (the host may write for minutes). Either way a request
 * completes from the event loop, on one eventfd. All calls are for the
 * event-loop thread.
 *
 * A snapshot disk (cfg->snapshot) opens PATH read-only, under a shared lock,
 * and always goes through the page cache and the workers: the guest's
 * writes, discards and write-zeroes go to an overlay the disk keeps
 * (disk_overlay.h), flushes sync the overlay, and PATH is never written.
 */

#include <libaio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "kvmrun/compiler.h"
#include "kvmrun/config.h"

struct disk;
struct disk_io;
struct disk_run;
struct ev_loop;

/*
 * A submitted request ended: res is 0 or -errno (a short transfer is -EIO).
 * -ECANCELED: the request was drained by disk_drain(); its buffers must not
 * be used any more (for a bounced read, nothing was copied out).
 */
typedef void (*disk_done_fn)(struct disk_io *io, int res);

/* After the done() calls of one batch of completions (never during a drain). */
typedef void (*disk_batch_fn)(void *opaque);

enum disk_op { DISK_OP_READ, DISK_OP_WRITE, DISK_OP_FLUSH, DISK_OP_DISCARD, DISK_OP_ZEROES };

/* A byte range of a discard or write-zeroes. */
struct disk_range {
	uint64_t offset;
	uint64_t len;
	bool unmap; /* write-zeroes: the range may be deallocated */
};

/* Embedded in the caller's request; the backend's fields are private. */
struct disk_io {
	disk_done_fn done;
	/* Backend-private: */
	struct iocb iocb;
	struct disk_io *next; /* the workers' queues */
	void *bounce;
	size_t bounce_len;
	const struct iovec *iov;
	unsigned int iovcnt;
	const struct disk_range *ranges;
	unsigned int nranges;
	struct disk_run *runs; /* snapshot read: where each piece comes from */
	unsigned int nruns;
	bool from_overlay;  /* snapshot read: all of it from the overlay */
	uint64_t reserved;  /* snapshot write: overlay room held */
	uint64_t offset;
	long res; /* a worker's result: bytes or -errno */
	enum disk_op op;
	bool pooled; /* went to the workers */
};

/*
 * Open and lock cfg->path. On error returns -errno and writes one line naming
 * the file into err (no trailing newline). The caller exits with status 3.
 */
int disk_open(struct disk **out, const struct disk_config *cfg, struct ev_loop *loop, char *err,
	      size_t errlen) WARN_UNUSED;
/* Set the batch-end callback (e.g. to raise one interrupt per batch). */
void disk_set_batch_end(struct disk *d, disk_batch_fn fn, void *opaque);

/* Drains what is in flight (as disk_drain), then closes everything. */
void disk_close(struct disk *d);

uint64_t disk_sectors(const struct disk *d);	/* whole 512-byte sectors */
uint32_t disk_block_size(const struct disk *d); /* 512 or the logical block size */
bool disk_readonly(const struct disk *d);
bool disk_direct(const struct disk *d); /* O_DIRECT in use */

/*
 * A snapshot disk's counters (all 0 for another disk): bytes of data in its
 * overlay, the bound on them, and the writes refused for want of room.
 */
struct disk_stats {
	bool snapshot;
	uint64_t overlay_bytes;
	uint64_t overlay_max;
	uint64_t overlay_refused;
};

void disk_get_stats(const struct disk *d, struct disk_stats *st);
/* The 20-byte GET_ID answer (NUL-padded, not NUL-terminated when 20 long). */
const char *disk_serial(const struct disk *d);

/*
 * Bounce buffers in flight, per disk, at most (a guest's unaligned requests
 * are its own choice, and the host's memory is not): beyond it, -ENOMEM.
 */
#define DISK_BOUNCE_MAX (64u << 20)

/*
 * Start a read into (or a write from) iov at byte offset. offset and the total
 * length must be multiples of disk_block_size(); iov may point anywhere (a
 * bounce buffer is used when O_DIRECT cannot take it as it is). iov must stay
 * valid until io->done is called. 0: io->done will be called, from the loop
 * once the request completes, or with the error if the kernel refuses it
 * (which, outside disk_plug(), happens before disk_submit() returns: the caller
 * must not touch io after a 0); -errno: the request was bad (-ENOMEM: no room
 * for its bounce buffer), nothing was started and io->done will not be called.
 */
int disk_submit(struct disk *d, struct disk_io *io, bool write, uint64_t offset,
		const struct iovec *iov, unsigned int iovcnt) WARN_UNUSED;

/* How many more requests the backend takes now (it refuses the rest). */
unsigned int disk_room(const struct disk *d);
/*
 * Between disk_plug() and disk_unplug(), disk_submit() holds requests back
 * and disk_unplug() submits them together: one system call for the requests
 * of a queue pass instead of one each (for the workers: one lock and the
 * wake-ups they need).
 */
void disk_plug(struct disk *d);
void disk_unplug(struct disk *d);

/*
 * Wait for every request in flight; each one's done() gets -ECANCELED. A
 * request the workers have not started is not started; a discard or
 * write-zeroes they run stops after its current piece (256 MiB at most).
 */
void disk_drain(struct disk *d);

/*
 * Start an fdatasync of the image (in the kernel's AIO workers with
 * O_DIRECT, else in the disk's own), so the loop goes on meanwhile; it ends as
 * a disk_submit() request does, through io->done, and takes a place among the
 * requests in flight. It covers every write that completed before it was
 * started. Once a flush failed, every later one fails with the same error for
 * as long as the disk is open (the page cache may have dropped the data):
 * disk_flush() returns it and starts nothing. -EINVAL: no room (see
 * disk_room()).
 */
int disk_flush(struct disk *d, struct disk_io *io) WARN_UNUSED;

/*
 * Deallocate (discard) or zero the n ranges r, in the disk's worker threads;
 * r must stay valid until io->done, which is called from the loop as for
 * disk_submit(), with 0 or -errno (a discard the file system cannot do is
 * ignored: 0). Each request takes a place among those in flight. -EROFS,
 * -EINVAL (no room, no range, or a range beyond the disk): nothing started,
 * io->done will not be called.
 */
int disk_discard(struct disk *d, struct disk_io *io, const struct disk_range *r,
		 unsigned int n) WARN_UNUSED;
int disk_write_zeroes(struct disk *d, struct disk_io *io, const struct disk_range *r,
		      unsigned int n) WARN_UNUSED;

#endif
