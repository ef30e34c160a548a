// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kvmrun/event_loop.h"

struct ev_handler {
	int fd;
	ev_fn fn;
	void *opaque;
	bool armed; /* in the epoll set; ev_mod(fd, 0) takes it out */
	struct ev_handler *next;
};

static void ev_reap(struct ev_loop *loop);

struct ev_loop {
	int epfd;
	int stop_fd;
	atomic_int status;
	atomic_bool stop_claimed; /* the first ev_stop() owns status */
	atomic_bool stopping;     /* set once status holds its final value */
	struct ev_handler *handlers;
	struct ev_handler *dead;
	ev_wait_fn before_wait; /* called before each epoll_wait, when set */
	void *before_wait_opaque;
	bool hold_threads;		 /* ev_hold_threads() until ev_start_threads() */
	struct ev_thread_start *starts; /* queued meanwhile, the first queued first */
};

int ev_loop_create(struct ev_loop **out)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	struct ev_loop *loop;
	int ret;

	loop = calloc(1, sizeof(*loop));
	if (!loop)
		return -ENOMEM;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		ret = -errno;
		goto err_free;
	}
	loop->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->stop_fd < 0) {
		ret = -errno;
		goto err_epoll;
	}
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->stop_fd, &ev) < 0) {
		ret = -errno;
		goto err_stop;
	}
	*out = loop;
	return 0;

err_stop:
	close(loop->stop_fd);
err_epoll:
	close(loop->epfd);
err_free:
	free(loop);
	return ret;
}

void ev_loop_destroy(struct ev_loop *loop)
{
	if (!loop)
		return;
	while (loop->handlers) {
		struct ev_handler *h = loop->handlers;

		loop->handlers = h->next;
		free(h);
	}
	ev_reap(loop);
	close(loop->stop_fd);
	close(loop->epfd);
	free(loop);
}

int ev_add(struct ev_loop *loop, int fd, uint32_t events, ev_fn fn, void *opaque)
{
	struct ev_handler *h = calloc(1, sizeof(*h));
	struct epoll_event ev = { .events = events };

	if (!h)
		return -ENOMEM;
	h->fd = fd;
	h->fn = fn;
	h->opaque = opaque;
	h->armed = true;
	ev.data.ptr = h;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int ret = -errno;

		free(h);
		return ret;
	}
	h->next = loop->handlers;
	loop->handlers = h;
	return 0;
}

static struct ev_handler *ev_find(struct ev_loop *loop, int fd, struct ev_handler ***prevp)
{
	struct ev_handler **pp;

	for (pp = &loop->handlers; *pp; pp = &(*pp)->next) {
		if ((*pp)->fd == fd) {
			if (prevp)
				*prevp = pp;
			return *pp;
		}
	}
	return NULL;
}

int ev_mod(struct ev_loop *loop, int fd, uint32_t events)
{
	struct ev_handler *h = ev_find(loop, fd, NULL);
	struct epoll_event ev = { .events = events };

	if (!h)
		return -ENOENT;
	ev.data.ptr = h;
	if (!events) {
		/* epoll reports EPOLLERR and EPOLLHUP whatever the mask: leave the set. */
		if (h->armed && epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL) < 0)
			return -errno;
		h->armed = false;
		return 0;
	}
	if (epoll_ctl(loop->epfd, h->armed ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	h->armed = true;
	return 0;
}

/*
 * ev_run() dispatches a batch of events one at a time, and a handler may
 * delete another whose event is still in the batch: deleted handlers are
 * therefore parked on a list, with fn cleared, and freed after the batch.
 */
int ev_del(struct ev_loop *loop, int fd)
{
	struct ev_handler **pp;
	struct ev_handler *h = ev_find(loop, fd, &pp);

	if (!h)
		return -ENOENT;
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	*pp = h->next;
	h->fn = NULL;
	h->next = loop->dead;
	loop->dead = h;
	return 0;
}

static void ev_reap(struct ev_loop *loop)
{
	while (loop->dead) {
		struct ev_handler *h = loop->dead;

		loop->dead = h->next;
		free(h);
	}
}

void ev_before_wait(struct ev_loop *loop, ev_wait_fn fn, void *opaque)
{
	loop->before_wait = fn;
	loop->before_wait_opaque = opaque;
}

int ev_run(struct ev_loop *loop)
{
	struct epoll_event events[32];

	while (!atomic_load(&loop->stopping)) {
		int n;

		if (loop->before_wait)
			loop->before_wait(loop->before_wait_opaque);
		n = epoll_wait(loop->epfd, events, ARRAY_SIZE(events), -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n && !atomic_load(&loop->stopping); i++) {
			struct ev_handler *h = events[i].data.ptr;

			if (h && h->fn)
				h->fn(h->opaque, events[i].events);
		}
		ev_reap(loop);
	}
	return atomic_load(&loop->status);
}

void ev_stop(struct ev_loop *loop, int status)
{
	bool expected = false;
	uint64_t one = 1;

	if (atomic_compare_exchange_strong(&loop->stop_claimed, &expected, true)) {
		atomic_store(&loop->status, status);
		atomic_store(&loop->stopping, true);
	}
	if (write(loop->stop_fd, &one, sizeof(one)) < 0) {
		/* The counter is already non-zero: the loop wakes anyway. */
	}
}

void ev_hold_threads(struct ev_loop *loop)
{
	loop->hold_threads = true;
}

int ev_thread_start(struct ev_loop *loop, struct ev_thread_start *s)
{
	struct ev_thread_start **p;

	if (!loop || !loop->hold_threads)
		return s->fn(s->opaque);
	for (p = &loop->starts; *p; p = &(*p)->next)
		;
	s->next = NULL;
	*p = s;
	return 0;
}

void ev_thread_cancel(struct ev_loop *loop, struct ev_thread_start *s)
{
	for (struct ev_thread_start **p = loop ? &loop->starts : NULL; p && *p; p = &(*p)->next) {
		if (*p == s) {
			*p = s->next;
			return;
		}
	}
}

int ev_start_threads(struct ev_loop *loop)
{
	int total = 0;

	loop->hold_threads = false;
	while (loop->starts) {
		struct ev_thread_start *s = loop->starts;
		int n;

		loop->starts = s->next;
		n = s->fn(s->opaque);
		if (n < 0)
			return n;
		total += n;
	}
	return total;
}
