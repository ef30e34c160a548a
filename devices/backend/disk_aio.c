// SPDX-License-Identifier: Apache-2.0
/*
 * Raw disk images through Linux native AIO or the disk's worker threads,
 * completions on one eventfd.
 */
#include <errno.h>
#include <fcntl.h>
#include <libaio.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/disk.h"
#include "backend/disk_overlay.h"
#include "backend/disk_pool.h"
#include "kvmrun/event_loop.h"
#include "kvmrun/log.h"

/* Most requests in flight; the device never has more than its queue sizes. */
#define DISK_MAX_INFLIGHT 1024
#define DISK_EVENTS_BATCH 64
#define DISK_PLUG_MAX 64 /* requests held back between disk_plug and disk_unplug */
#define DISK_MEM_ALIGN 4096 /* bounce buffers: enough for any O_DIRECT */
/*
 * Worker threads: through the page cache they run every request, with
 * O_DIRECT only discards and write-zeroes (and flushes on a kernel without
 * fsync through AIO).
 */
#define DISK_WORKERS_BUFFERED 4
#define DISK_WORKERS_DIRECT 1

struct disk {
	int fd;
	int efd;
	io_context_t ctx;
	struct disk_pool *pool;
	struct disk_overlay *ovl; /* a snapshot's; NULL for another disk */
	struct ev_loop *loop;
	uint64_t size;
	uint32_t block_size;
	uint32_t mem_align;
	bool readonly;
	bool direct;
	bool draining;
	bool plugged;
	bool sync_flush; /* flushes go to the workers (no O_DIRECT, or no fsync through AIO) */
	int flush_err;
	unsigned int inflight;	   /* held back ones included */
	unsigned int aio_inflight; /* in the kernel's hands */
	size_t bounced;		   /* bytes of bounce buffers in flight */
	unsigned int nheld;
	struct iocb *held[DISK_PLUG_MAX];
	struct disk_io *pool_held, **pool_held_tail; /* for the workers, at disk_unplug() */
	disk_batch_fn batch_end;
	void *batch_opaque;
	char serial[DISK_SERIAL_MAX];
	char path[DISK_PATH_MAX];
};

uint64_t disk_sectors(const struct disk *d)
{
	return d->size / 512;
}

uint32_t disk_block_size(const struct disk *d)
{
	return d->block_size;
}

bool disk_readonly(const struct disk *d)
{
	return d->readonly;
}

bool disk_direct(const struct disk *d)
{
	return d->direct;
}

const char *disk_serial(const struct disk *d)
{
	return d->serial;
}

void disk_get_stats(const struct disk *d, struct disk_stats *st)
{
	struct disk_overlay_stats os;

	*st = (struct disk_stats){.snapshot = d->ovl != NULL};
	if (!d->ovl)
		return;
	disk_overlay_get_stats(d->ovl, &os);
	st->overlay_bytes = os.bytes;
	st->overlay_max = os.max;
	st->overlay_refused = os.refused;
}

static size_t disk_iov_len(const struct iovec *iov, unsigned int n)
{
	size_t total = 0;

	for (unsigned int i = 0; i < n; i++)
		total += iov[i].iov_len;
	return total;
}

/*
 * A snapshot's request ended with ret: the overlay's map learns what the
 * overlay now holds (a write's room reserved is given back). Returns ret, or
 * -EIO when the map could not take it: the guest then sees the request fail
 * and its sectors keep reading as they did.
 */
static int disk_overlay_done(struct disk *d, struct disk_io *io, int ret)
{
	int mret = 0;

	switch (io->op) {
	case DISK_OP_READ:
		free(io->runs);
		io->runs = NULL;
		break;
	case DISK_OP_WRITE:
		mret = disk_overlay_written(d->ovl, io->offset, disk_iov_len(io->iov, io->iovcnt),
					    io->reserved, ret == 0);
		break;
	case DISK_OP_DISCARD:
	case DISK_OP_ZEROES:
		for (unsigned int i = 0; i < io->nranges && !ret && !mret; i++)
			mret = disk_overlay_zeroed(d->ovl, io->ranges[i].offset, io->ranges[i].len);
		break;
	case DISK_OP_FLUSH:
		break;
	}
	if (mret && !ret) {
		log_warn("disk %s: overlay map: %s", d->path, strerror(-mret));
		ret = -EIO;
	}
	return ret;
}

/* The result of a read or write: 0, -errno, or -EIO for a short transfer. */
static int disk_rw_result(const struct disk_io *io, long res)
{
	size_t want = 0;

	for (unsigned int i = 0; i < io->iovcnt; i++)
		want += io->iov[i].iov_len;
	if (res < 0)
		return (int)res;
	if ((size_t)res != (io->bounce ? io->bounce_len : want))
		return -EIO; /* short: the image shrank, or the file system is full */
	return 0;
}

/*
 * The result of a flush. Once one that ran failed, every flush fails the
 * same way for as long as the disk is open: the kernel may have dropped the
 * data it could not write, and no reset of the device brings it back. A flush
 * that io_submit refused for want of resources (ran false) never started: it
 * fails alone.
 */
static int disk_flush_result(struct disk *d, long res, bool ran)
{
	if (res == -EINVAL || res == -EROFS)
		res = 0; /* a file that cannot be synced, nothing to lose */
	if (!ran)
		return (int)res;
	if (res < 0 && !d->flush_err)
		d->flush_err = (int)res;
	return d->flush_err;
}

/* The workers' requests that disk_submit() held back, in one go. */
static void disk_submit_pool_held(struct disk *d)
{
	struct disk_io *list = d->pool_held;

	if (!list)
		return;
	d->pool_held = NULL;
	d->pool_held_tail = &d->pool_held;
	disk_pool_submit(d->pool, list);
}

/* Hand a request to the workers, now or at disk_unplug(). */
static void disk_to_pool(struct disk *d, struct disk_io *io)
{
	io->pooled = true;
	io->next = NULL;
	*d->pool_held_tail = io;
	d->pool_held_tail = &io->next;
	if (!d->plugged)
		disk_submit_pool_held(d);
}

/*
 * A request ends: res is the kernel's or a worker's result, or io_submit's
 * refusal (ran false). A kernel without fsync through AIO (before 4.18)
 * refuses a flush with -EINVAL: that flush, and every later one, goes to the
 * workers as an fdatasync instead.
 */
static void disk_finish(struct disk *d, struct disk_io *io, long res, bool ran)
{
	int ret;

	if (io->op == DISK_OP_FLUSH && res == -EINVAL && !io->pooled && !d->draining) {
		d->sync_flush = true;
		disk_to_pool(d, io);
		return;
	}
	if (io->op == DISK_OP_FLUSH && res == -ECANCELED)
		ret = (int)res; /* never started: no error to keep */
	else if (io->op == DISK_OP_FLUSH)
		ret = disk_flush_result(d, res, ran);
	else if (io->op == DISK_OP_READ || io->op == DISK_OP_WRITE)
		ret = disk_rw_result(io, res);
	else
		ret = (int)res;
	if (d->ovl)
		ret = disk_overlay_done(d, io, ret);
	if (d->draining) {
		ret = -ECANCELED;
	} else if (ret == 0 && io->op == DISK_OP_READ && io->bounce) {
		size_t off = 0;

		for (unsigned int i = 0; i < io->iovcnt; i++) {
			memcpy(io->iov[i].iov_base, (char *)io->bounce + off, io->iov[i].iov_len);
			off += io->iov[i].iov_len;
		}
	}
	free(io->bounce);
	io->bounce = NULL;
	d->bounced -= io->bounce_len;
	d->inflight--;
	io->done(io, ret);
}

static void disk_finish_list(struct disk *d, struct disk_io *list)
{
	while (list) {
		struct disk_io *next = list->next;

		disk_finish(d, list, list->res, true);
		list = next;
	}
}

/* Reap what is ready (min_nr 0) or wait for at least min_nr completions. */
static void disk_reap(struct disk *d, long min_nr)
{
	struct io_event ev[DISK_EVENTS_BATCH];
	struct timespec zero = {0, 0};
	int n;

	do {
		n = io_getevents(d->ctx, min_nr, DISK_EVENTS_BATCH, ev, min_nr ? NULL : &zero);
		if (n == -EINTR)
			continue;
		if (n < 0) {
			log_err("disk %s: io_getevents: %s", d->path, strerror(-n));
			return;
		}
		d->aio_inflight -= (unsigned int)n;
		for (int i = 0; i < n; i++)
			disk_finish(d, ev[i].data, (long)ev[i].res, true);
		min_nr = 0;
	} while (n == DISK_EVENTS_BATCH || n == -EINTR);
}

static void disk_event(void *opaque, uint32_t events)
{
	struct disk *d = opaque;
	uint64_t cnt;

	if (read(d->efd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		log_err("disk %s: eventfd read: %s", d->path, strerror(errno));
	if (d->aio_inflight)
		disk_reap(d, 0);
	disk_finish_list(d, disk_pool_reap(d->pool));
	if (d->batch_end)
		d->batch_end(d->batch_opaque);
}

void disk_set_batch_end(struct disk *d, disk_batch_fn fn, void *opaque)
{
	d->batch_end = fn;
	d->batch_opaque = opaque;
}

/*
 * Submit what disk_submit() held back: the workers' requests in one go, the
 * kernel's in as few io_submit calls as it takes. io_submit starts the
 * requests in order and stops at the first it refuses: that one ends now,
 * with the error, and the rest go in again.
 */
static void disk_submit_held(struct disk *d)
{
	unsigned int i = 0;
	bool failed = false;

	disk_submit_pool_held(d);
	while (i < d->nheld) {
		int ret = io_submit(d->ctx, d->nheld - i, d->held + i);

		if (ret == -EINTR)
			continue;
		if (ret > 0) {
			i += (unsigned int)ret;
			d->aio_inflight += (unsigned int)ret;
			continue;
		}
		disk_finish(d, d->held[i++]->data, ret < 0 ? ret : -EIO, false);
		failed = true;
	}
	d->nheld = 0;
	if (failed && d->batch_end && !d->draining)
		d->batch_end(d->batch_opaque);
}

void disk_drain(struct disk *d)
{
	d->draining = true;
	disk_submit_held(d);
	disk_finish_list(d, disk_pool_cancel(d->pool));
	while (d->aio_inflight)
		disk_reap(d, 1);
	d->draining = false;
}

static bool disk_iov_aligned(const struct disk *d, const struct iovec *iov, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		if ((uintptr_t)iov[i].iov_base % d->mem_align || iov[i].iov_len % d->block_size)
			return false;
	return true;
}

unsigned int disk_room(const struct disk *d)
{
	return DISK_MAX_INFLIGHT - d->inflight;
}

/* Hand a prepared iocb to the kernel, now or at disk_unplug(). */
static void disk_queue(struct disk *d, struct disk_io *io)
{
	struct iocb *cb = &io->iocb;

	io_set_eventfd(cb, d->efd);
	cb->data = io;
	d->inflight++;
	d->held[d->nheld++] = cb;
	if (!d->plugged || d->nheld == DISK_PLUG_MAX)
		disk_submit_held(d);
}

/*
 * A snapshot's read or write of total bytes, before it goes to the workers: a
 * write reserves its room in the overlay (-ENOSPC: none), a read learns where
 * its pieces come from (one place: no table).
 */
static int disk_snapshot_prepare(struct disk *d, struct disk_io *io, bool write, size_t total)
{
	struct disk_run one;
	unsigned int n;

	if (io->offset > d->size || total > d->size - io->offset)
		return -EINVAL;
	if (write)
		return disk_overlay_reserve(d->ovl, io->offset, total, &io->reserved);
	n = disk_overlay_runs(d->ovl, io->offset, total, &one, 1);
	if (n <= 1) {
		io->from_overlay = n == 1 && one.overlay;
		return 0;
	}
	io->runs = calloc(n, sizeof(*io->runs));
	if (!io->runs)
		return -ENOMEM;
	io->nruns = disk_overlay_runs(d->ovl, io->offset, total, io->runs, n);
	return 0;
}

int disk_submit(struct disk *d, struct disk_io *io, bool write, uint64_t offset,
		const struct iovec *iov, unsigned int iovcnt)
{
	struct iocb *cb = &io->iocb;
	size_t total = 0;

	if (write && d->readonly)
		return -EROFS;
	for (unsigned int i = 0; i < iovcnt; i++)
		if (__builtin_add_overflow(total, iov[i].iov_len, &total))
			return -EINVAL;
	if (offset % d->block_size || total % d->block_size || iovcnt == 0 ||
	    d->inflight >= DISK_MAX_INFLIGHT)
		return -EINVAL;
	*io = (struct disk_io){.done = io->done, .iov = iov, .iovcnt = iovcnt, .offset = offset,
			       .op = write ? DISK_OP_WRITE : DISK_OP_READ};
	if (!d->direct) {
		if (iovcnt > IOV_MAX)
			return -EINVAL;
		if (d->ovl) {
			int ret = disk_snapshot_prepare(d, io, write, total);

			if (ret)
				return ret;
		}
		d->inflight++;
		disk_to_pool(d, io);
		return 0;
	}
	/* O_DIRECT: through the kernel's AIO, bounced where it cannot take the buffers. */
	if (iovcnt > IOV_MAX || !disk_iov_aligned(d, iov, iovcnt)) {
		if (total > DISK_BOUNCE_MAX - d->bounced ||
		    posix_memalign(&io->bounce, DISK_MEM_ALIGN, total))
			return -ENOMEM;
		io->bounce_len = total;
		d->bounced += total;
		if (write) {
			size_t off = 0;

			for (unsigned int i = 0; i < iovcnt; i++) {
				memcpy((char *)io->bounce + off, iov[i].iov_base, iov[i].iov_len);
				off += iov[i].iov_len;
			}
			io_prep_pwrite(cb, d->fd, io->bounce, total, (long long)offset);
		} else {
			io_prep_pread(cb, d->fd, io->bounce, total, (long long)offset);
		}
	} else if (write) {
		io_prep_pwritev(cb, d->fd, iov, (int)iovcnt, (long long)offset);
	} else {
		io_prep_preadv(cb, d->fd, iov, (int)iovcnt, (long long)offset);
	}
	disk_queue(d, io);
	return 0;
}

void disk_plug(struct disk *d)
{
	d->plugged = true;
}

void disk_unplug(struct disk *d)
{
	d->plugged = false;
	disk_submit_held(d);
}

int disk_flush(struct disk *d, struct disk_io *io)
{
	if (d->flush_err)
		return d->flush_err;
	if (d->inflight >= DISK_MAX_INFLIGHT)
		return -EINVAL;
	*io = (struct disk_io){.done = io->done, .op = DISK_OP_FLUSH};
	if (d->sync_flush) {
		d->inflight++;
		disk_to_pool(d, io);
		return 0;
	}
	io_prep_fdsync(&io->iocb, d->fd);
	disk_queue(d, io);
	return 0;
}

static int disk_ranges(struct disk *d, struct disk_io *io, enum disk_op op,
		       const struct disk_range *r, unsigned int n)
{
	if (d->readonly)
		return -EROFS;
	if (!n || d->inflight >= DISK_MAX_INFLIGHT)
		return -EINVAL;
	for (unsigned int i = 0; i < n; i++)
		if (r[i].offset > d->size || r[i].len > d->size - r[i].offset)
			return -EINVAL;
	*io = (struct disk_io){.done = io->done, .ranges = r, .nranges = n, .op = op};
	d->inflight++;
	disk_to_pool(d, io);
	return 0;
}

int disk_discard(struct disk *d, struct disk_io *io, const struct disk_range *r, unsigned int n)
{
	return disk_ranges(d, io, DISK_OP_DISCARD, r, n);
}

int disk_write_zeroes(struct disk *d, struct disk_io *io, const struct disk_range *r,
		      unsigned int n)
{
	return disk_ranges(d, io, DISK_OP_ZEROES, r, n);
}

/* Logical block size for O_DIRECT: the device's, or what the file system says. */
static void disk_probe_block_size(struct disk *d, const struct stat *st)
{
	struct statx stx;
	int lbs = 0;

	d->block_size = 512;
	d->mem_align = 512;
	if (S_ISBLK(st->st_mode)) {
		if (ioctl(d->fd, BLKSSZGET, &lbs) == 0 && lbs >= 512 && lbs <= 65536 &&
		    !(lbs & (lbs - 1)))
			d->block_size = (uint32_t)lbs;
		d->mem_align = d->block_size;
		return;
	}
	if (!d->direct)
		return;
	if (statx(d->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN)) {
		uint32_t off = stx.stx_dio_offset_align, mem = stx.stx_dio_mem_align;

		if (off > 512 && off <= 65536 && !(off & (off - 1)))
			d->block_size = off;
		if (mem > 512 && mem <= DISK_MEM_ALIGN && !(mem & (mem - 1)))
			d->mem_align = mem;
	}
}

static void disk_default_serial(struct disk *d)
{
	const char *base = strrchr(d->path, '/');

	base = base ? base + 1 : d->path;
	memset(d->serial, 0, sizeof(d->serial));
	memcpy(d->serial, base, MIN(strlen(base), sizeof(d->serial)));
}

/* A snapshot's image is only read, through the page cache (the workers read it). */
static bool disk_cfg_snapshot(const struct disk_config *cfg)
{
	return cfg->snapshot && !cfg->readonly;
}

static int disk_open_fd(struct disk *d, const struct disk_config *cfg, char *err, size_t errlen)
{
	bool snap = disk_cfg_snapshot(cfg);
	int flags = O_CLOEXEC | (d->readonly || snap ? O_RDONLY : O_RDWR);

	if (cfg->cache == DISK_CACHE_NONE && !snap) {
		d->fd = open(cfg->path, flags | O_DIRECT);
		if (d->fd >= 0) {
			d->direct = true;
			return 0;
		}
		if (errno != EINVAL)
			goto err;
		log_warn("disk %s: the file system refuses O_DIRECT; using the page cache "
			 "(cache=writeback)",
			 cfg->path);
	}
	d->fd = open(cfg->path, flags);
	if (d->fd >= 0)
		return 0;
err:
	snprintf(err, errlen, "disk %s: %s", cfg->path, strerror(errno));
	return -errno;
}

int disk_open(struct disk **out, const struct disk_config *cfg, struct ev_loop *loop, char *err,
	      size_t errlen)
{
	struct flock lk = {.l_whence = SEEK_SET};
	struct disk *d;
	struct stat st;
	int ret;

	d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "disk %s: out of memory", cfg->path);
		return -ENOMEM;
	}
	d->fd = d->efd = -1;
	d->loop = loop;
	d->pool_held_tail = &d->pool_held;
	snprintf(d->path, sizeof(d->path), "%s", cfg->path);
	d->readonly = cfg->readonly;
	ret = disk_open_fd(d, cfg, err, errlen);
	if (ret == -EACCES || ret == -EROFS || ret == -EPERM) {
		if (d->readonly || disk_cfg_snapshot(cfg))
			goto err_free;
		/* A file we may only read is served as a read-only disk. */
		d->readonly = true;
		ret = disk_open_fd(d, cfg, err, errlen);
		if (ret)
			goto err_free;
		log_warn("disk %s: not writable; the guest gets it read-only", cfg->path);
	} else if (ret) {
		goto err_free;
	}
	if (fstat(d->fd, &st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "disk %s: %s", cfg->path, strerror(errno));
		goto err_close;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(d->fd, BLKGETSIZE64, &d->size) < 0) {
			ret = -errno;
			snprintf(err, errlen, "disk %s: %s", cfg->path, strerror(errno));
			goto err_close;
		}
	} else if (S_ISREG(st.st_mode)) {
		d->size = (uint64_t)st.st_size;
	} else {
		ret = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		snprintf(err, errlen, "disk %s: not a regular file or block device", cfg->path);
		goto err_close;
	}
	/* A snapshot's image is shared with any other reader, as a read-only disk's. */
	lk.l_type = d->readonly || disk_cfg_snapshot(cfg) ? F_RDLCK : F_WRLCK;
	if (fcntl(d->fd, F_OFD_SETLK, &lk) < 0) {
		ret = -errno;
		if (errno == EAGAIN || errno == EACCES) {
			ret = -EBUSY;
			snprintf(err, errlen,
				 "disk %s: locked by another user of the image "
				 "(another VM?)",
				 cfg->path);
		} else {
			snprintf(err, errlen, "disk %s: lock: %s", cfg->path, strerror(errno));
		}
		goto err_close;
	}
	disk_probe_block_size(d, &st);
	if (cfg->has_serial) {
		memset(d->serial, 0, sizeof(d->serial));
		memcpy(d->serial, cfg->serial, strnlen(cfg->serial, sizeof(d->serial)));
	} else {
		disk_default_serial(d);
	}
	d->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->efd < 0) {
		ret = -errno;
		snprintf(err, errlen, "disk %s: eventfd: %s", cfg->path, strerror(errno));
		goto err_close;
	}
	ret = io_setup(DISK_MAX_INFLIGHT, &d->ctx);
	if (ret < 0) {
		snprintf(err, errlen, "disk %s: io_setup: %s", cfg->path, strerror(-ret));
		goto err_efd;
	}
	d->sync_flush = !d->direct;
	if (disk_cfg_snapshot(cfg)) {
		ret = disk_overlay_create(&d->ovl, cfg->path, d->size, cfg->overlay_max, err,
					  errlen);
		if (ret)
			goto err_ctx;
	}
	ret = disk_pool_create(&d->pool, d->fd, d->ovl ? disk_overlay_fd(d->ovl) : d->fd,
			       d->ovl != NULL, d->efd,
			       d->direct ? DISK_WORKERS_DIRECT : DISK_WORKERS_BUFFERED,
			       cfg->sandbox, loop);
	if (ret < 0) {
		snprintf(err, errlen, "disk %s: worker threads: %s", cfg->path, strerror(-ret));
		goto err_ovl;
	}
	ret = ev_add(loop, d->efd, EPOLLIN, disk_event, d);
	if (ret < 0) {
		snprintf(err, errlen, "disk %s: event loop: %s", cfg->path, strerror(-ret));
		goto err_pool;
	}
	*out = d;
	return 0;

err_pool:
	disk_pool_destroy(d->pool);
err_ovl:
	disk_overlay_destroy(d->ovl);
err_ctx:
	io_destroy(d->ctx);
err_efd:
	close(d->efd);
err_close:
	close(d->fd);
err_free:
	free(d);
	return ret;
}

void disk_close(struct disk *d)
{
	if (!d)
		return;
	disk_drain(d);
	disk_pool_destroy(d->pool);
	if (d->ovl) {
		struct disk_overlay_stats st;

		disk_overlay_get_stats(d->ovl, &st);
		if (st.refused)
			log_warn("disk %s: %llu writes refused: the overlay reached overlay-max "
				 "(%llu bytes)",
				 d->path, (unsigned long long)st.refused,
				 (unsigned long long)st.max);
		disk_overlay_destroy(d->ovl);
	}
	ev_del(d->loop, d->efd);
	io_destroy(d->ctx);
	close(d->efd);
	close(d->fd);
	free(d);
}
