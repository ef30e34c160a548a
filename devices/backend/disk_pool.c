// SPDX-License-Identifier: Apache-2.0
/* A disk's worker threads: requests the event loop must not wait for. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "backend/disk_overlay.h"
#include "backend/disk_pool.h"
#include "kvmrun/event_loop.h"
#include "kvmrun/exit_status.h"
#include "kvmrun/log.h"
#include "kvmrun/sandbox.h"

#define DISK_POOL_ZEROES (256 * KiB) /* one write of the write-zeroes fallback */

struct disk_pool {
	pthread_mutex_t lock;
	pthread_cond_t work; /* a worker waits for a request, or for stop */
	pthread_cond_t idle; /* disk_pool_cancel() waits for running == 0 */
	/* Under lock: */
	struct disk_io *fast, **fast_tail; /* reads, writes, flushes */
	struct disk_io *slow, **slow_tail; /* discards, write-zeroes */
	struct disk_io *done, **done_tail;
	unsigned int running, slow_running, waiting;
	bool stop;
	/* Set at creation: */
	atomic_bool cancel; /* a running discard stops after its piece */
	unsigned int slow_max;
	int fd;	      /* reads */
	int wfd;      /* writes, flushes, discards, write-zeroes: fd, or a snapshot's overlay */
	bool overlay; /* wfd is an overlay: discards zero, zeroes are holes */
	int efd;
	bool sandbox;
	struct ev_loop *loop;
	const void *zeroes; /* DISK_POOL_ZEROES bytes, read-only */
	struct ev_thread_start start; /* the workers start with the VM (ev_hold_threads) */
	unsigned int nr_workers;
	unsigned int nr_threads; /* started */
	pthread_t threads[];
};

static bool disk_pool_slow(const struct disk_io *io)
{
	return io->op == DISK_OP_DISCARD || io->op == DISK_OP_ZEROES;
}

static int disk_pool_fallocate(struct disk_pool *p, int mode, uint64_t offset, uint64_t len)
{
	int ret;

	do
		ret = fallocate(p->wfd, mode, (off_t)offset, (off_t)len);
	while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : 0;
}

static int disk_pool_write_zeroes(struct disk_pool *p, uint64_t offset, uint64_t len)
{
	while (len) {
		ssize_t n;

		if (atomic_load_explicit(&p->cancel, memory_order_relaxed))
			return -ECANCELED;
		n = pwrite(p->wfd, p->zeroes, MIN(len, DISK_POOL_ZEROES), (off_t)offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		offset += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

/*
 * One piece of a write-zeroes: a zeroed range where the file system has
 * them (not for unmap, which may deallocate), else a hole, else written
 * zeroes. *no_fallocate remembers, for the rest of the request, that neither
 * kind of fallocate is supported.
 */
static int disk_pool_zero_piece(struct disk_pool *p, uint64_t off, uint64_t len, bool unmap,
				bool *no_zero_range, bool *no_punch)
{
	int ret = -EOPNOTSUPP;

	if (!unmap && !*no_zero_range) {
		ret = disk_pool_fallocate(p, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, off, len);
		*no_zero_range = ret == -EOPNOTSUPP;
	}
	if (ret == -EOPNOTSUPP && !*no_punch) {
		ret = disk_pool_fallocate(p, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
		*no_punch = ret == -EOPNOTSUPP;
	}
	if (ret == -EOPNOTSUPP)
		ret = disk_pool_write_zeroes(p, off, len);
	return ret;
}

/* A discard or write-zeroes, piece by piece; a cancel stops it between two. */
static int disk_pool_ranges(struct disk_pool *p, const struct disk_io *io)
{
	bool zeroes = io->op == DISK_OP_ZEROES || p->overlay;
	bool no_zero_range = false, no_punch = false;

	for (unsigned int i = 0; i < io->nranges; i++) {
		uint64_t off = io->ranges[i].offset, left = io->ranges[i].len;

		while (left) {
			uint64_t len = MIN(left, DISK_POOL_PIECE);
			int ret;

			if (atomic_load_explicit(&p->cancel, memory_order_relaxed))
				return -ECANCELED;
			if (zeroes) {
				ret = disk_pool_zero_piece(p, off, len,
							   io->ranges[i].unmap || p->overlay,
							   &no_zero_range, &no_punch);
			} else {
				ret = disk_pool_fallocate(
				    p, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
				/* Discard is a hint: without holes, nothing to do. */
				if (ret == -EOPNOTSUPP)
					return 0;
			}
			if (ret)
				return ret;
			off += len;
			left -= len;
		}
	}
	return 0;
}

/*
 * A snapshot's read in runs, each from the overlay or the base: one preadv
 * per piece of a buffer inside a run. Returns the bytes read (short when the
 * base ended early) or -errno.
 */
static long disk_pool_read_runs(struct disk_pool *p, const struct disk_io *io)
{
	uint64_t off = io->offset;
	unsigned int b = 0;
	size_t boff = 0;
	long total = 0;

	for (unsigned int r = 0; r < io->nruns; r++) {
		int fd = io->runs[r].overlay ? p->wfd : p->fd;
		uint64_t left = io->runs[r].len;

		while (left && b < io->iovcnt) {
			struct iovec piece = {(char *)io->iov[b].iov_base + boff,
					      MIN(left, io->iov[b].iov_len - boff)};
			ssize_t n = preadv(fd, &piece, 1, (off_t)off);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return -errno;
			if (n == 0)
				return total;
			off += (uint64_t)n;
			left -= (uint64_t)n;
			total += n;
			boff += (size_t)n;
			if (boff == io->iov[b].iov_len) {
				b++;
				boff = 0;
			}
		}
	}
	return total;
}

static long disk_pool_run(struct disk_pool *p, const struct disk_io *io)
{
	ssize_t n;

	switch (io->op) {
	case DISK_OP_READ:
		if (io->runs)
			return disk_pool_read_runs(p, io);
		do
			n = preadv(io->from_overlay ? p->wfd : p->fd, io->iov, (int)io->iovcnt,
				   (off_t)io->offset);
		while (n < 0 && errno == EINTR);
		return n < 0 ? -errno : n;
	case DISK_OP_WRITE:
		do
			n = pwritev(p->wfd, io->iov, (int)io->iovcnt, (off_t)io->offset);
		while (n < 0 && errno == EINTR);
		return n < 0 ? -errno : n;
	case DISK_OP_FLUSH:
		return fdatasync(p->wfd) < 0 ? -errno : 0;
	default:
		return disk_pool_ranges(p, io);
	}
}

/*
 * The next request for a worker: a discard or write-zeroes first while they
 * leave a worker free for the rest, else a read, write or flush. Under lock.
 */
static struct disk_io *disk_pool_take(struct disk_pool *p)
{
	struct disk_io *io = NULL;

	if (p->slow && p->slow_running < p->slow_max) {
		io = p->slow;
		p->slow = io->next;
		if (!p->slow)
			p->slow_tail = &p->slow;
		p->slow_running++;
	} else if (p->fast) {
		io = p->fast;
		p->fast = io->next;
		if (!p->fast)
			p->fast_tail = &p->fast;
	}
	if (io)
		p->running++;
	return io;
}

/* Under lock; returns whether the loop needs to be told (nothing was waiting). */
static bool disk_pool_finish(struct disk_pool *p, struct disk_io *io)
{
	bool first = !p->done;

	io->next = NULL;
	*p->done_tail = io;
	p->done_tail = &io->next;
	return first;
}

static void disk_pool_kick(struct disk_pool *p)
{
	uint64_t one = 1;

	/* Fails only when the counter is full, and then the loop is woken anyway. */
	if (write(p->efd, &one, sizeof(one)) < 0)
		return;
}

static void *disk_pool_main(void *opaque)
{
	struct disk_pool *p = opaque;

	/* named by itself (a prctl): naming another thread takes /proc, gone in a jail */
	pthread_setname_np(pthread_self(), "disk-io");
	if (p->sandbox) {
		int ret = sandbox_apply(SANDBOX_DISK, NULL);

		if (ret) {
			log_err(
			    "seccomp filter of a disk worker: %s (--sandbox off runs without it)",
			    strerror(-ret));
			ev_stop(p->loop, KVMRUN_ERR_INTERNAL);
			return NULL;
		}
	}
	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct disk_io *io = disk_pool_take(p);
		bool slow, kick;

		if (!io) {
			if (p->stop)
				break;
			p->waiting++;
			pthread_cond_wait(&p->work, &p->lock);
			p->waiting--;
			continue;
		}
		pthread_mutex_unlock(&p->lock);
		io->res = disk_pool_run(p, io);
		pthread_mutex_lock(&p->lock);
		slow = disk_pool_slow(io);
		p->running--;
		p->slow_running -= slow;
		kick = disk_pool_finish(p, io);
		/* A discard that waited for this one's place goes to a waiting worker. */
		if (slow && p->slow && p->waiting)
			pthread_cond_signal(&p->work);
		if (!p->running)
			pthread_cond_broadcast(&p->idle);
		if (kick) {
			pthread_mutex_unlock(&p->lock);
			disk_pool_kick(p);
			pthread_mutex_lock(&p->lock);
		}
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

void disk_pool_submit(struct disk_pool *p, struct disk_io *list)
{
	unsigned int n = 0;

	pthread_mutex_lock(&p->lock);
	while (list) {
		struct disk_io *io = list;

		list = io->next;
		io->next = NULL;
		if (disk_pool_slow(io)) {
			*p->slow_tail = io;
			p->slow_tail = &io->next;
		} else {
			*p->fast_tail = io;
			p->fast_tail = &io->next;
		}
		n++;
	}
	if (n >= p->waiting)
		pthread_cond_broadcast(&p->work);
	else
		while (n--)
			pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
}

struct disk_io *disk_pool_reap(struct disk_pool *p)
{
	struct disk_io *list;

	pthread_mutex_lock(&p->lock);
	list = p->done;
	p->done = NULL;
	p->done_tail = &p->done;
	pthread_mutex_unlock(&p->lock);
	return list;
}

/* Under lock: the queued requests of one queue end, cancelled. */
static void disk_pool_cancel_queue(struct disk_pool *p, struct disk_io **head,
				   struct disk_io ***tail)
{
	while (*head) {
		struct disk_io *io = *head;

		*head = io->next;
		io->res = -ECANCELED;
		disk_pool_finish(p, io);
	}
	*tail = head;
}

struct disk_io *disk_pool_cancel(struct disk_pool *p)
{
	pthread_mutex_lock(&p->lock);
	disk_pool_cancel_queue(p, &p->slow, &p->slow_tail);
	disk_pool_cancel_queue(p, &p->fast, &p->fast_tail);
	atomic_store(&p->cancel, true);
	while (p->running)
		pthread_cond_wait(&p->idle, &p->lock);
	atomic_store(&p->cancel, false);
	pthread_mutex_unlock(&p->lock);
	return disk_pool_reap(p);
}

/* Join the first n workers, after telling them to stop. */
static void disk_pool_join(struct disk_pool *p, unsigned int n)
{
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (unsigned int i = 0; i < n; i++)
		pthread_join(p->threads[i], NULL);
}

/* The workers, at once or when the VM starts (event_loop.h): how many, or -errno. */
static int disk_pool_start(void *opaque)
{
	struct disk_pool *p = opaque;
	pthread_attr_t attr;
	sigset_t all;
	int ret;

	ret = -pthread_attr_init(&attr);
	if (ret)
		return ret;
	/* Signals are for the loop (signalfd) and the vCPUs (kicks): workers take none. */
	sigfillset(&all);
	ret = -pthread_attr_setsigmask_np(&attr, &all);
	while (!ret && p->nr_threads < p->nr_workers) {
		ret = -pthread_create(&p->threads[p->nr_threads], &attr, disk_pool_main, p);
		if (!ret)
			p->nr_threads++;
	}
	pthread_attr_destroy(&attr);
	if (ret) {
		disk_pool_join(p, p->nr_threads);
		p->nr_threads = 0;
		p->stop = false;
		return ret;
	}
	return (int)p->nr_threads;
}

int disk_pool_create(struct disk_pool **out, int fd, int wfd, bool overlay, int efd,
		     unsigned int nr_workers, bool sandbox, struct ev_loop *loop)
{
	struct disk_pool *p;
	void *zeroes;
	int ret;

	p = calloc(1, sizeof(*p) + sizeof(p->threads[0]) * nr_workers);
	if (!p)
		return -ENOMEM;
	/* Read-only zero pages: never written, so they take no memory of their own. */
	zeroes = mmap(NULL, DISK_POOL_ZEROES, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (zeroes == MAP_FAILED) {
		ret = -errno;
		goto err_free;
	}
	p->zeroes = zeroes;
	p->fd = fd;
	p->wfd = wfd;
	p->overlay = overlay;
	p->efd = efd;
	p->sandbox = sandbox;
	p->loop = loop;
	p->nr_workers = nr_workers;
	p->slow_max = nr_workers > 1 ? nr_workers - 1 : 1;
	p->fast_tail = &p->fast;
	p->slow_tail = &p->slow;
	p->done_tail = &p->done;
	atomic_init(&p->cancel, false);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->idle, NULL);
	p->start = (struct ev_thread_start){ .fn = disk_pool_start, .opaque = p };
	ret = ev_thread_start(loop, &p->start);
	if (ret < 0)
		goto err_sync;
	*out = p;
	return 0;

err_sync:
	pthread_cond_destroy(&p->idle);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	munmap(zeroes, DISK_POOL_ZEROES);
err_free:
	free(p);
	return ret;
}

void disk_pool_destroy(struct disk_pool *p)
{
	if (!p)
		return;
	ev_thread_cancel(p->loop, &p->start);
	disk_pool_join(p, p->nr_threads);
	pthread_cond_destroy(&p->idle);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	munmap((void *)p->zeroes, DISK_POOL_ZEROES);
	free(p);
}
