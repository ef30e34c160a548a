/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_DEVICES_DISK_OVERLAY_H
#define KVMRUN_DEVICES_DISK_OVERLAY_H

/*
 * The overlay of a snapshot disk (--disk PATH,snapshot; private to the disk
 * backend). PATH is only ever read; what the guest writes, discards or zeroes
 * goes to an unlinked sparse file of the disk's size (in $TMPDIR, else
 * /var/tmp), at the same offset as on the disk, and is gone when the file is
 * closed. No copy of the base is ever made: a sector the guest wrote is read
 * from the overlay, every other sector from PATH.
 *
 * The allocation map says, per 512-byte sector, whether the overlay owns it
 * and, if so, whether it holds data (written) or zeroes (discarded or
 * write-zeroed: a hole punched in the overlay). It has two levels: a state
 * byte per 1 MiB chunk (all from the base, all overlay zeroes, all overlay
 * data, or mixed), and for mixed chunks only a 512-byte bitmap pair allocated
 * on first use. A disk costs a state byte and a pointer per MiB, allocated
 * untouched (pages the kernel maps only once written), and 512 bytes per MiB
 * the guest wrote part of.
 *
 * Ownership: the map belongs to the event loop thread, like every other piece
 * of a disk's state; the worker threads never see it. A read is split at
 * submit time into runs (bytes from the overlay or from PATH), which the
 * worker follows. Writes, discards and write-zeroes go to the overlay file
 * and mark the map when they complete successfully, on the loop: until then
 * their sectors still read from where they did, and a read concurrent with
 * them (in flight at the same time, which the guest may not rely on either
 * way) sees the old bytes or the new, never anything else. A write that fails
 * marks nothing: its sectors keep their old contents in the guest's view.
 *
 * Overlay bytes (512 per sector holding written data) are bounded by max: a
 * write reserves, at submit time, its sectors that do not hold data yet; one
 * that would take used + reserved past max is refused (-ENOSPC; the guest
 * gets an I/O error) and counted. Discard and write-zeroes take no room: they
 * give room back.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmrun/compiler.h"

struct disk_overlay;

/* A piece of a read: len bytes from the overlay or from the base. */
struct disk_run {
	uint64_t len;
	bool overlay;
};

/*
 * An overlay for a disk of size bytes (a multiple of 512 is used; a last
 * partial sector reads from the base), bounded to max bytes of data (0: the
 * disk's size). On error -errno and one line in err.
 */
int disk_overlay_create(struct disk_overlay **out, const char *name, uint64_t size, uint64_t max,
			char *err, size_t errlen) WARN_UNUSED;
void disk_overlay_destroy(struct disk_overlay *o);
int disk_overlay_fd(const struct disk_overlay *o);

/*
 * The runs of a read of len bytes at offset (both multiples of 512, inside
 * the disk): their number, and when runs is not NULL, up to n of them.
 */
unsigned int disk_overlay_runs(const struct disk_overlay *o, uint64_t offset, uint64_t len,
			       struct disk_run *runs, unsigned int n);

/*
 * A write of len bytes at offset is about to start: reserves room for it.
 * 0 and *reserved (what disk_overlay_written() gives back), or -ENOSPC
 * (counted; nothing reserved).
 */
int disk_overlay_reserve(struct disk_overlay *o, uint64_t offset, uint64_t len,
			 uint64_t *reserved) WARN_UNUSED;

/*
 * The write reserved with reserved ended; ok: it succeeded, its sectors now
 * read from the overlay. 0, or -ENOMEM when the map could not take it (the
 * write then fails to the guest).
 */
int disk_overlay_written(struct disk_overlay *o, uint64_t offset, uint64_t len, uint64_t reserved,
			 bool ok) WARN_UNUSED;

/* A discard or write-zeroes of the range succeeded: it reads back as zeroes. 0 or -ENOMEM. */
int disk_overlay_zeroed(struct disk_overlay *o, uint64_t offset, uint64_t len) WARN_UNUSED;

struct disk_overlay_stats {
	uint64_t bytes;	  /* data in the overlay: 512 per sector written and not since zeroed */
	uint64_t max;	  /* the bound on bytes */
	uint64_t refused; /* writes refused for want of room */
};

void disk_overlay_get_stats(const struct disk_overlay *o, struct disk_overlay_stats *st);

#endif
