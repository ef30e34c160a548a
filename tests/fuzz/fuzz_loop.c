// SPDX-License-Identifier: Apache-2.0
/* The epoll-backed event loop of the multi-device fuzz targets: see fuzz_loop.h. */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "fuzz_loop.h"

#define FUZZ_LOOP_SLOTS 64
#define FUZZ_LOOP_BATCH 16

/*
 * A watched descriptor. An event carries its slot and the slot's generation, so
 * that an event of a batch whose descriptor a handler removed meanwhile is dropped.
 */
struct fuzz_watch {
	int fd; /* -1: free */
	uint32_t gen;
	ev_fn fn;
	void *opaque;
};

struct ev_loop {
	int epfd;
	struct fuzz_watch w[FUZZ_LOOP_SLOTS];
};

struct ev_loop *fuzz_loop_create(void)
{
	struct ev_loop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		abort();
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		abort();
	for (unsigned int i = 0; i < FUZZ_LOOP_SLOTS; i++)
		loop->w[i].fd = -1;
	return loop;
}

void fuzz_loop_destroy(struct ev_loop *loop)
{
	if (fuzz_loop_watched(loop))
		abort(); /* a device left a descriptor watched */
	close(loop->epfd);
	free(loop);
}

static struct fuzz_watch *fuzz_loop_find(struct ev_loop *loop, int fd)
{
	for (unsigned int i = 0; i < FUZZ_LOOP_SLOTS; i++)
		if (loop->w[i].fd == fd)
			return &loop->w[i];
	return NULL;
}

static uint64_t fuzz_loop_tag(const struct ev_loop *loop, const struct fuzz_watch *w)
{
	return (uint64_t)w->gen << 32 | (uint64_t)(w - loop->w);
}

int ev_add(struct ev_loop *loop, int fd, uint32_t events, ev_fn fn, void *opaque)
{
	struct fuzz_watch *w = fuzz_loop_find(loop, -1);
	struct epoll_event ev = {.events = events};

	if (fd < 0 || fuzz_loop_find(loop, fd))
		return -EEXIST;
	if (!w)
		return -ENOSPC;
	w->gen++;
	ev.data.u64 = fuzz_loop_tag(loop, w);
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	w->fd = fd;
	w->fn = fn;
	w->opaque = opaque;
	return 0;
}

int ev_mod(struct ev_loop *loop, int fd, uint32_t events)
{
	struct fuzz_watch *w = fuzz_loop_find(loop, fd);
	struct epoll_event ev = {.events = events};

	if (!w)
		return -ENOENT;
	ev.data.u64 = fuzz_loop_tag(loop, w);
	return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

int ev_del(struct ev_loop *loop, int fd)
{
	struct fuzz_watch *w = fuzz_loop_find(loop, fd);

	if (!w)
		return -ENOENT;
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	w->fd = -1;
	w->gen++;
	return 0;
}

unsigned int fuzz_loop_dispatch(struct ev_loop *loop, unsigned int rounds)
{
	struct epoll_event evs[FUZZ_LOOP_BATCH];
	unsigned int calls = 0;

	while (rounds--) {
		int n = epoll_wait(loop->epfd, evs, FUZZ_LOOP_BATCH, 0);

		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			struct fuzz_watch *w = &loop->w[(uint32_t)evs[i].data.u64];

			if (w->fd < 0 || w->gen != (uint32_t)(evs[i].data.u64 >> 32))
				continue; /* removed by an earlier handler of this batch */
			w->fn(w->opaque, evs[i].events);
			calls++;
		}
	}
	return calls;
}

unsigned int fuzz_loop_watched(const struct ev_loop *loop)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < FUZZ_LOOP_SLOTS; i++)
		n += loop->w[i].fd >= 0;
	return n;
}
