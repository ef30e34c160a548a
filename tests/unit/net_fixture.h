/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_TEST_NET_FIXTURE_H
#define KVMRUN_TEST_NET_FIXTURE_H

/*
 * virtio-net against a fake transport and event loop and fake guest RAM, with
 * a SOCK_SEQPACKET socket pair in place of the tap (one frame per read and
 * write, as a tap; no privilege needed). The event loop and policy calls
 * the device makes are fake_loop's (linked in place of the library's).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/tap.h"
#include "kvmrun/event_loop.h"
#include "kvmrun/guest_mem.h"
#include "kvmrun/sched_policy.h"
#include "virtio/net.h"

#include "fake_loop.h"
#include "fake_ram.h"
#include "fake_transport.h"

#include "vring_driver.h"

#define RAM_GPA 0x100000ULL
#define RAM_SIZE (1 * MiB)
#define QSZ 16
#define RXQ_GPA (RAM_GPA + 0x0000) /* desc, avail, used at +0, +0x1000, +0x2000 */
#define TXQ_GPA (RAM_GPA + 0x4000)
#define BUF_GPA (RAM_GPA + 0x10000) /* 64 KiB per buffer slot below */
#define W VQ_DESC_F_WRITE
#define ALL_OFFLOADS (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_UFO | TUN_F_USO4 | TUN_F_USO6)

/*
 * The event loop and policy are fake_loop's: the device adds the tap (armed
 * with ev_mod, watch 0) and then its hold timer (watch 1); it reports its
 * passes to the policy and asks it how long to hold a transmit completion.
 */
static inline struct fake_watch *tap_watch(void)
{
	return &fake_loop.w[0];
}

static inline struct fake_watch *timer_watch(void)
{
	return &fake_loop.w[1];
}

/* ---- fixture ---- */

struct gq {
	uint64_t base;
	uint16_t avail_idx, next_desc;
};

struct fx {
	struct guest_mem gm;
	struct drv_ram ram;
	struct vq vqs[2];
	struct gq gq[2];
	struct virtio_dev *vdev;
	struct tap *tap;
	struct fake_transport ft;
	unsigned int yields_sent;    /* sp_before_notify() calls with a frame at the peer */
	bool yielded;		     /* since the last interrupt */
	unsigned int after_yield[2]; /* interrupts that came right after sp_before_notify() */
	int peer;		     /* the host side of the "tap" */
};

static struct fx *cur;

/* The policy may let other threads run: the frames must be out by then. */
static inline void fake_before_notify(const struct sp_pass *pass, void *opaque)
{
	char c;

	assert_int_equal(pass->kind, SP_TX_FRAMES);
	if (recv(cur->peer, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 1)
		cur->yields_sent++;
	cur->yielded = true;
}

/* The transport is fake_transport's, with these two hooks. */
static inline void fake_notify(struct fake_transport *t, struct virtio_dev *vdev, uint16_t q)
{
	assert_true(q < 2);
	cur->after_yield[q] += cur->yielded;
	cur->yielded = false;
}

/* A pass that left chains: these tests post fewer than a queue's worth. */
static inline void fake_requeue(struct fake_transport *t, struct virtio_dev *vdev, uint16_t q)
{
	fail_msg("queue %u requeued", q);
}

static inline void *hva(struct fx *f, uint64_t gpa)
{
	return drv_hva(&f->ram, gpa);
}

static inline const struct net_stats *stats(struct fx *f)
{
	return virtio_net_stats(f->vdev);
}

/* The device on a socket pair, activated with the offered features less `drop`. */
static inline void start(struct fx *f, uint64_t drop)
{
	int sv[2];

	fake_loop_reset();
	fake_loop.on_before_notify = fake_before_notify;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
	f->peer = sv[1];
	assert_int_equal(tap_open_fd(&f->tap, sv[0], "testtap", ALL_OFFLOADS), 0);
	assert_int_equal(virtio_net_create_backend(&f->vdev, tap_backend(f->tap), NULL, 1500, 0, NULL, &f->gm), 0);
	fake_transport_attach(&f->ft, f->vdev);
	f->ft.on_notify = fake_notify;
	f->ft.on_requeue = fake_requeue;
	f->vdev->features = (f->vdev->host_features | VIRTIO_BIT(VIRTIO_F_VERSION_1)) & ~drop;
	f->gq[0].base = RXQ_GPA;
	f->gq[1].base = TXQ_GPA;
	for (int q = 0; q < 2; q++)
		assert_int_equal(vq_setup(&f->vqs[q], &f->gm, QSZ, f->gq[q].base,
					  f->gq[q].base + 0x1000, f->gq[q].base + 0x2000,
					  f->vdev->features),
				 0);
	f->vdev->vqs = f->vqs;
	assert_int_equal(tap_watch()->events, 0); /* out of the epoll set until activation */
	f->vdev->active = true;
	assert_int_equal(f->vdev->ops->activate(f->vdev), 0);
}

static inline int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	cur = f;
	f->ram = drv_ram_map(&f->gm, RAM_GPA, RAM_SIZE);
	f->peer = -1;
	*state = f;
	return 0;
}

/* Plain: no EVENT_IDX (flags decide kicks and interrupts), no MRG_RXBUF. */
static inline int fx_setup_plain(void **state)
{
	fx_setup(state);
	start(*state, VIRTIO_BIT(VQ_F_EVENT_IDX) | VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF));
	return 0;
}

static inline int fx_setup_mrg(void **state)
{
	fx_setup(state);
	start(*state, VIRTIO_BIT(VQ_F_EVENT_IDX));
	return 0;
}

static inline int fx_setup_event_idx(void **state)
{
	fx_setup(state);
	start(*state, 0);
	return 0;
}

static inline int fx_teardown(void **state)
{
	struct fx *f = *state;

	drv_dev_destroy(f->vdev);
	assert_null(tap_watch()->fn); /* destroy took the tap and the timer out of the loop */
	assert_null(timer_watch()->fn);
	vq_cleanup(&f->vqs[0]);
	vq_cleanup(&f->vqs[1]);
	if (f->peer >= 0)
		close(f->peer);
	fake_ram_free(f->ram.host);
	free(f);
	cur = NULL;
	return 0;
}

/* ---- the guest driver ---- */

static inline uint16_t post(struct fx *f, int q, const struct seg *s, unsigned int n)
{
	struct gq *g = &f->gq[q];
	struct drv_ring r = {hva(f, g->base), hva(f, g->base + 0x1000), QSZ, &g->next_desc,
			     &g->avail_idx};

	return drv_post(&r, s, n);
}

static inline uint16_t used_idx(struct fx *f, int q)
{
	return drv_used_idx(hva(f, f->gq[q].base + 0x2000));
}

static inline void used_elem(struct fx *f, int q, uint16_t slot, uint32_t *id, uint32_t *len)
{
	drv_used_elem(hva(f, f->gq[q].base + 0x2000), QSZ, slot, id, len);
}

static inline void kick(struct fx *f, int q)
{
	f->vdev->ops->queue_notify(f->vdev, (uint16_t)q);
}

/* The loop saw the tap readable: call the device's handler as ev_run would. */
static inline void tap_ready(struct fx *f, uint32_t events)
{
	assert_non_null(tap_watch()->fn);
	assert_int_equal(tap_watch()->events, EPOLLIN);
	tap_watch()->fn(tap_watch()->opaque, events);
}

static inline void fill(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

static inline void put_hdr(uint8_t *p, uint8_t flags, uint8_t gso, uint16_t hdr_len,
			   uint16_t gso_size, uint16_t cstart, uint16_t coff)
{
	struct net_hdr h = {flags, gso, hdr_len, gso_size, cstart, coff, 0x5555};

	net_hdr_encode(&h, p);
}

/* Host -> guest: one frame with its header, as the tap would hand it up. */
static inline void peer_send(struct fx *f, size_t frame_len, uint8_t seed)
{
	uint8_t *buf = malloc(NET_HDR_LEN + frame_len);

	assert_non_null(buf);
	put_hdr(buf, 0, 0, 0, 0, 0, 0);
	fill(buf + NET_HDR_LEN, frame_len, seed);
	assert_int_equal(write(f->peer, buf, NET_HDR_LEN + frame_len),
			 (ssize_t)(NET_HDR_LEN + frame_len));
	free(buf);
}

#endif
