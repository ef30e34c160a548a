// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-net: the header checks and offload translation on their own, then the
 * device against a fake transport and event loop and fake guest RAM, with a
 * SOCK_SEQPACKET socket pair in place of the tap (one frame per read and
 * write, as a tap; no privilege needed): frames both ways, every malformed
 * frame the guest can send, merged receive buffers, bad receive buffers,
 * receive stopping and resuming, and the backend failing. The tap ioctls
 * themselves are checked on descriptors that are not taps.
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

#define RAM_GPA 0x100000ULL
#define RAM_SIZE (1 * MiB)
#define QSZ 16
#define RXQ_GPA (RAM_GPA + 0x0000) /* desc, avail, used at +0, +0x1000, +0x2000 */
#define TXQ_GPA (RAM_GPA + 0x4000)
#define BUF_GPA (RAM_GPA + 0x10000) /* 64 KiB per buffer slot below */
#define W VQ_DESC_F_WRITE
#define ALL_OFFLOADS (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_UFO | TUN_F_USO4 | TUN_F_USO6)

/*
 * ---- fake event loop and policy: the device adds the tap (armed with ev_mod)
 * and then its hold timer; it reports its passes to the policy and asks it
 * how long to hold a transmit completion ----
 */

struct fake_watch {
	int fd;
	ev_fn fn;
	void *opaque;
	uint32_t events;
	unsigned int mods;
};

static struct fake_watch watch, timer_watch;
static long fake_hold_ns;	  /* what sp_hold_ns() answers */
static struct sp_pass reported, asked; /* the last pass reported, and asked about */
static unsigned int served_calls, asked_calls;

int ev_add(struct ev_loop *loop, int fd, uint32_t events, ev_fn fn, void *opaque)
{
	struct fake_watch *w = !watch.fn ? &watch : &timer_watch;

	if (w->fn)
		return -EEXIST;
	*w = (struct fake_watch){fd, fn, opaque, events, 0};
	return 0;
}

int ev_mod(struct ev_loop *loop, int fd, uint32_t events)
{
	if (!watch.fn || watch.fd != fd)
		return -ENOENT;
	watch.events = events;
	watch.mods++;
	return 0;
}

int ev_del(struct ev_loop *loop, int fd)
{
	struct fake_watch *w = watch.fn && watch.fd == fd ? &watch : &timer_watch;

	if (!w->fn || w->fd != fd)
		return -ENOENT;
	w->fn = NULL;
	return 0;
}

void sp_report(struct sp_policy *sp, const struct sp_pass *pass)
{
	reported = *pass;
	served_calls++;
}

long sp_hold_ns(const struct sp_policy *sp, const struct sp_pass *pass)
{
	asked = *pass;
	asked_calls++;
	return fake_hold_ns;
}

static void fake_loop_reset(void)
{
	memset(&watch, 0, sizeof(watch));
	memset(&timer_watch, 0, sizeof(timer_watch));
	fake_hold_ns = 0;
	memset(&reported, 0, sizeof(reported));
	memset(&asked, 0, sizeof(asked));
	served_calls = asked_calls = 0;
}

/* ---- fixture ---- */

struct gq {
	uint64_t base;
	uint16_t avail_idx, next_desc;
};

struct fx {
	struct guest_mem gm;
	uint8_t *ram;
	struct vq vqs[2];
	struct gq gq[2];
	struct virtio_dev *vdev;
	struct tap *tap;
	struct virtio_transport_ops tops;
	unsigned int notifies[2], resets;
	unsigned int yields_sent;   /* sp_before_notify() calls with a frame at the peer */
	bool yielded;		    /* since the last interrupt */
	unsigned int after_yield[2]; /* interrupts that came right after sp_before_notify() */
	int peer; /* the host side of the "tap" */
};

static struct fx *cur;

/* The policy may let other threads run: the frames must be out by then. */
void sp_before_notify(struct sp_policy *sp, const struct sp_pass *pass)
{
	char c;

	assert_int_equal(pass->kind, SP_TX_FRAMES);
	if (recv(cur->peer, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 1)
		cur->yields_sent++;
	cur->yielded = true;
}

static void fake_notify(struct virtio_dev *vdev, uint16_t q)
{
	cur->notifies[q]++;
	cur->after_yield[q] += cur->yielded;
	cur->yielded = false;
}

static void fake_config_changed(struct virtio_dev *vdev)
{
}

/* A pass that left chains: these tests post fewer than a queue's worth. */
static void fake_requeue(struct virtio_dev *vdev, uint16_t q)
{
	fail_msg("queue %u requeued", q);
}

static void fake_needs_reset(struct virtio_dev *vdev)
{
	cur->resets++;
}

static void *hva(struct fx *f, uint64_t gpa)
{
	assert_true(gpa >= RAM_GPA && gpa < RAM_GPA + RAM_SIZE);
	return f->ram + (gpa - RAM_GPA);
}

static const struct net_stats *stats(struct fx *f)
{
	return virtio_net_stats(f->vdev);
}

/* The device on a socket pair, activated with the offered features less `drop`. */
static void start(struct fx *f, uint64_t drop)
{
	int sv[2];

	fake_loop_reset();
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
	f->peer = sv[1];
	assert_int_equal(tap_open_fd(&f->tap, sv[0], "testtap", ALL_OFFLOADS), 0);
	assert_int_equal(virtio_net_create_tap(&f->vdev, f->tap, NULL, 1500, 0, NULL, &f->gm), 0);
	f->tops = (struct virtio_transport_ops){fake_notify, fake_config_changed, fake_needs_reset,
						fake_requeue};
	f->vdev->transport = &f->tops;
	f->vdev->features = (f->vdev->host_features | VIRTIO_BIT(VIRTIO_F_VERSION_1)) & ~drop;
	f->gq[0].base = RXQ_GPA;
	f->gq[1].base = TXQ_GPA;
	for (int q = 0; q < 2; q++)
		assert_int_equal(vq_setup(&f->vqs[q], &f->gm, QSZ, f->gq[q].base,
					  f->gq[q].base + 0x1000, f->gq[q].base + 0x2000,
					  f->vdev->features),
				 0);
	f->vdev->vqs = f->vqs;
	assert_int_equal(watch.events, 0); /* out of the epoll set until activation */
	f->vdev->active = true;
	assert_int_equal(f->vdev->ops->activate(f->vdev), 0);
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	cur = f;
	assert_int_equal(posix_memalign((void **)&f->ram, 4096, RAM_SIZE), 0);
	memset(f->ram, 0, RAM_SIZE);
	assert_int_equal(gm_add_region(&f->gm, RAM_GPA, RAM_SIZE, f->ram), 0);
	f->peer = -1;
	*state = f;
	return 0;
}

/* Plain: no EVENT_IDX (flags decide kicks and interrupts), no MRG_RXBUF. */
static int fx_setup_plain(void **state)
{
	fx_setup(state);
	start(*state, VIRTIO_BIT(VQ_F_EVENT_IDX) | VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF));
	return 0;
}

static int fx_setup_mrg(void **state)
{
	fx_setup(state);
	start(*state, VIRTIO_BIT(VQ_F_EVENT_IDX));
	return 0;
}

static int fx_setup_event_idx(void **state)
{
	fx_setup(state);
	start(*state, 0);
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	if (f->vdev) {
		if (f->vdev->active)
			f->vdev->ops->reset(f->vdev);
		f->vdev->ops->destroy(f->vdev);
	}
	assert_null(watch.fn); /* destroy took the tap and the timer out of the loop */
	assert_null(timer_watch.fn);
	vq_cleanup(&f->vqs[0]);
	vq_cleanup(&f->vqs[1]);
	if (f->peer >= 0)
		close(f->peer);
	free(f->ram);
	free(f);
	cur = NULL;
	return 0;
}

/* ---- the guest driver ---- */

struct seg {
	uint64_t gpa;
	uint32_t len;
	uint16_t flags;
};

static uint16_t post(struct fx *f, int q, const struct seg *s, unsigned int n)
{
	struct gq *g = &f->gq[q];
	uint16_t head = 0, prev = 0;

	for (unsigned int k = 0; k < n; k++) {
		uint16_t i = g->next_desc++ % QSZ, fl = s[k].flags;
		uint8_t *p = hva(f, g->base + 16ULL * i);

		memcpy(p, &s[k].gpa, 8);
		memcpy(p + 8, &s[k].len, 4);
		memcpy(p + 12, &fl, 2);
		memset(p + 14, 0, 2);
		if (k == 0) {
			head = i;
		} else {
			uint8_t *pp = hva(f, g->base + 16ULL * prev);

			fl = s[k - 1].flags | VQ_DESC_F_NEXT;
			memcpy(pp + 12, &fl, 2);
			memcpy(pp + 14, &i, 2);
		}
		prev = i;
	}
	memcpy(hva(f, g->base + 0x1000 + 4 + 2ULL * (g->avail_idx % QSZ)), &head, 2);
	g->avail_idx++;
	__atomic_store_n((uint16_t *)hva(f, g->base + 0x1000 + 2), g->avail_idx, __ATOMIC_RELEASE);
	return head;
}

static uint16_t used_idx(struct fx *f, int q)
{
	return __atomic_load_n((uint16_t *)hva(f, f->gq[q].base + 0x2000 + 2), __ATOMIC_ACQUIRE);
}

static uint16_t used_flags(struct fx *f, int q)
{
	return *(uint16_t *)hva(f, f->gq[q].base + 0x2000);
}

static void used_elem(struct fx *f, int q, uint16_t slot, uint32_t *id, uint32_t *len)
{
	uint8_t *p = hva(f, f->gq[q].base + 0x2000 + 4 + 8ULL * (slot % QSZ));

	memcpy(id, p, 4);
	memcpy(len, p + 4, 4);
}

static void kick(struct fx *f, int q)
{
	f->vdev->ops->queue_notify(f->vdev, (uint16_t)q);
}

/* The loop saw the tap readable: call the device's handler as ev_run would. */
static void tap_ready(struct fx *f, uint32_t events)
{
	assert_non_null(watch.fn);
	assert_int_equal(watch.events, EPOLLIN);
	watch.fn(watch.opaque, events);
}

static void fill(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

static void put_hdr(uint8_t *p, uint8_t flags, uint8_t gso, uint16_t hdr_len, uint16_t gso_size,
		    uint16_t cstart, uint16_t coff)
{
	struct net_hdr h = {flags, gso, hdr_len, gso_size, cstart, coff, 0x5555};

	net_hdr_encode(&h, p);
}

/* Host -> guest: one frame with its header, as the tap would hand it up. */
static void peer_send(struct fx *f, size_t frame_len, uint8_t seed)
{
	uint8_t *buf = malloc(NET_HDR_LEN + frame_len);

	assert_non_null(buf);
	put_hdr(buf, 0, 0, 0, 0, 0, 0);
	fill(buf + NET_HDR_LEN, frame_len, seed);
	assert_int_equal(write(f->peer, buf, NET_HDR_LEN + frame_len),
			 (ssize_t)(NET_HDR_LEN + frame_len));
	free(buf);
}

static ssize_t peer_recv(struct fx *f, uint8_t *buf, size_t len)
{
	ssize_t n = read(f->peer, buf, len);

	return n < 0 ? -errno : n;
}

/* ---- the header on its own ---- */

static enum net_drop check(uint8_t flags, uint8_t gso, uint16_t hdr_len, uint16_t gso_size,
			   uint16_t cstart, uint16_t coff, uint64_t features, uint64_t chain_len)
{
	struct net_hdr h = {flags, gso, hdr_len, gso_size, cstart, coff, 7};
	enum net_drop why = net_hdr_check_tx(&h, features, chain_len);

	if (why == NET_DROP_NONE)
		assert_int_equal(h.num_buffers, 0);
	return why;
}

static void test_hdr_check_tx(void **state)
{
	uint64_t all = VIRTIO_BIT(VIRTIO_NET_F_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) |
		       VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6) | VIRTIO_BIT(VIRTIO_NET_F_HOST_UFO) |
		       VIRTIO_BIT(VIRTIO_NET_F_HOST_USO);
	uint64_t none = 0, len = NET_HDR_LEN + 1514;

	/* Good frames. */
	assert_int_equal(check(0, 0, 0, 0, 0, 0, none, len), NET_DROP_NONE);
	assert_int_equal(check(0, 0, 0, 0, 0, 0, none, NET_HDR_LEN + NET_ETH_HLEN), NET_DROP_NONE);
	assert_int_equal(check(0, 0, 0, 0, 0, 0, none, NET_HDR_LEN + NET_MAX_FRAME), NET_DROP_NONE);
	assert_int_equal(check(1, 0, 0, 0, 34, 16, all, len), NET_DROP_NONE);
	assert_int_equal(check(1, 0, 0, 0, 1512, 0, all, len), NET_DROP_NONE); /* last 2 bytes */
	assert_int_equal(check(2, 0, 0, 0, 0, 0, none, len), NET_DROP_NONE);   /* DATA_VALID */
	assert_int_equal(check(1, 1, 54, 1448, 34, 16, all, len), NET_DROP_NONE);
	assert_int_equal(check(1, 4, 74, 1428, 54, 16, all, len), NET_DROP_NONE);
	assert_int_equal(check(1, 3, 42, 1472, 34, 6, all, len), NET_DROP_NONE);
	assert_int_equal(check(1, 5, 42, 1472, 34, 6, all, len), NET_DROP_NONE);
	/* The smallest MSS taken, for each GSO type. */
	assert_int_equal(check(1, 1, 54, NET_GSO_MIN_SIZE, 34, 16, all, len), NET_DROP_NONE);
	assert_int_equal(check(1, 4, 74, NET_GSO_MIN_SIZE, 54, 16, all, len), NET_DROP_NONE);
	assert_int_equal(check(1, 3, 42, NET_GSO_MIN_SIZE, 34, 6, all, len), NET_DROP_NONE);
	assert_int_equal(check(1, 5, 42, NET_GSO_MIN_SIZE, 34, 6, all, len), NET_DROP_NONE);
	/* gso_size means nothing without GSO: accepted (and cleared). */
	assert_int_equal(check(0, 0, 0, 999, 0, 0, none, len), NET_DROP_NONE);

	/* Too short, too long. */
	assert_int_equal(check(0, 0, 0, 0, 0, 0, all, 0), NET_DROP_TX_SHORT);
	assert_int_equal(check(0, 0, 0, 0, 0, 0, all, NET_HDR_LEN - 1), NET_DROP_TX_SHORT);
	assert_int_equal(check(0, 0, 0, 0, 0, 0, all, NET_HDR_LEN + NET_ETH_HLEN - 1),
			 NET_DROP_TX_SHORT);
	assert_int_equal(check(0, 0, 0, 0, 0, 0, all, NET_HDR_LEN + NET_MAX_FRAME + 1),
			 NET_DROP_TX_OVERSIZE);
	assert_int_equal(check(0, 0, 0, 0, 0, 0, all, UINT32_MAX), NET_DROP_TX_OVERSIZE);
	/* Flags: unknown bits, NEEDS_CSUM without CSUM. */
	assert_int_equal(check(4, 0, 0, 0, 0, 0, all, len), NET_DROP_TX_FLAGS);
	assert_int_equal(check(0x80, 0, 0, 0, 0, 0, all, len), NET_DROP_TX_FLAGS);
	assert_int_equal(check(1, 0, 0, 0, 34, 16, none, len), NET_DROP_TX_FLAGS);
	/* Checksum position beyond the frame, including 16-bit extremes. */
	assert_int_equal(check(1, 0, 0, 0, 1513, 0, all, len), NET_DROP_TX_CSUM);
	assert_int_equal(check(1, 0, 0, 0, 1500, 13, all, len), NET_DROP_TX_CSUM);
	assert_int_equal(check(1, 0, 0, 0, 0xffff, 0xffff, all, len), NET_DROP_TX_CSUM);
	/* GSO types: unknown, not negotiated, ECN without HOST_ECN. */
	assert_int_equal(check(1, 2, 54, 1448, 34, 16, all, len), NET_DROP_TX_GSO);
	assert_int_equal(check(1, 6, 54, 1448, 34, 16, all, len), NET_DROP_TX_GSO);
	assert_int_equal(check(1, 0x7f, 54, 1448, 34, 16, all, len), NET_DROP_TX_GSO);
	assert_int_equal(check(1, 1, 54, 1448, 34, 16, VIRTIO_BIT(VIRTIO_NET_F_CSUM), len),
			 NET_DROP_TX_GSO);
	assert_int_equal(
	    check(1, 3, 42, 1472, 34, 6, all & ~VIRTIO_BIT(VIRTIO_NET_F_HOST_UFO), len),
	    NET_DROP_TX_GSO);
	assert_int_equal(check(1, 0x81, 54, 1448, 34, 16, all, len), NET_DROP_TX_GSO);
	assert_int_equal(check(0, 0x80, 0, 0, 0, 0, all, len), NET_DROP_TX_GSO);
	/* hdr_len and gso_size: GSO without an MSS or NEEDS_CSUM, hdr_len past the end. */
	assert_int_equal(check(1, 1, 54, 0, 34, 16, all, len), NET_DROP_TX_GSO_SIZE);
	assert_int_equal(check(0, 1, 54, 1448, 0, 0, all, len), NET_DROP_TX_GSO_SIZE);
	/* An MSS below NET_GSO_MIN_SIZE would make thousands of segments of one frame. */
	for (uint8_t gso = 1; gso <= 5; gso++) {
		if (gso == 2)
			continue;
		assert_int_equal(check(1, gso, 54, 1, 34, 16, all, len), NET_DROP_TX_GSO_SIZE);
		assert_int_equal(check(1, gso, 54, NET_GSO_MIN_SIZE - 1, 34, 16, all, len),
				 NET_DROP_TX_GSO_SIZE);
	}
	assert_int_equal(check(1, 1, 1515, 1448, 34, 16, all, len), NET_DROP_TX_GSO_SIZE);
	assert_int_equal(check(0, 0, 1515, 0, 0, 0, all, len), NET_DROP_TX_GSO_SIZE);
}

static void test_hdr_fix_rx(void **state)
{
	uint64_t csum = VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM);
	struct net_hdr h = {VIRTIO_NET_HDR_F_DATA_VALID, 0, 0, 0, 0, 0, 0};

	/* Without GUEST_CSUM the flags go (the tap sets DATA_VALID regardless). */
	assert_int_equal(net_hdr_fix_rx(&h, 0, 60), NET_DROP_NONE);
	assert_int_equal(h.flags, 0);
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	assert_int_equal(net_hdr_fix_rx(&h, csum, 60), NET_DROP_NONE);
	assert_int_equal(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(net_hdr_fix_rx(&h, csum, 13), NET_DROP_RX_SHORT);
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	assert_int_equal(net_hdr_fix_rx(&h, csum, 3000), NET_DROP_RX_BAD_HDR);
	assert_int_equal(net_hdr_fix_rx(&h, csum | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4), 3000),
			 NET_DROP_NONE);
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN;
	assert_int_equal(net_hdr_fix_rx(&h, csum | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4), 3000),
			 NET_DROP_RX_BAD_HDR);
	h.gso_type = VIRTIO_NET_HDR_GSO_UDP_L4;
	assert_int_equal(net_hdr_fix_rx(&h, csum, 3000), NET_DROP_RX_BAD_HDR);
	assert_int_equal(net_hdr_fix_rx(&h, csum | VIRTIO_BIT(VIRTIO_NET_F_GUEST_USO6), 3000),
			 NET_DROP_NONE);
	h.gso_type = 9;
	assert_int_equal(net_hdr_fix_rx(&h, ~0ULL, 3000), NET_DROP_RX_BAD_HDR);
}

static void test_hdr_encode_layout(void **state)
{
	struct net_hdr h = {0x01, 0x04, 0x1234, 0x5678, 0x9abc, 0xdef0, 0x0102}, back;
	const uint8_t want[NET_HDR_LEN] = {0x01, 0x04, 0x34, 0x12, 0x78, 0x56,
					   0xbc, 0x9a, 0xf0, 0xde, 0x02, 0x01};
	uint8_t raw[NET_HDR_LEN];

	net_hdr_encode(&h, raw);
	assert_memory_equal(raw, want, NET_HDR_LEN);
	net_hdr_decode(&back, raw);
	assert_memory_equal(&back, &h, sizeof(h));
}

static void test_offload_translation(void **state)
{
	uint64_t csum = VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM);
	uint64_t f;

	assert_int_equal(net_tun_offloads(0), 0);
	/* Segmentation without checksum offload is nothing. */
	assert_int_equal(net_tun_offloads(VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) |
					  VIRTIO_BIT(VIRTIO_NET_F_GUEST_UFO)),
			 0);
	assert_int_equal(net_tun_offloads(csum), TUN_F_CSUM);
	assert_int_equal(net_tun_offloads(csum | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4)),
			 TUN_F_CSUM | TUN_F_TSO4);
	assert_int_equal(net_tun_offloads(csum | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6) |
					  VIRTIO_BIT(VIRTIO_NET_F_GUEST_ECN)),
			 TUN_F_CSUM | TUN_F_TSO6 | TUN_F_TSO_ECN);
	assert_int_equal(net_tun_offloads(csum | VIRTIO_BIT(VIRTIO_NET_F_GUEST_ECN)), TUN_F_CSUM);
	assert_int_equal(net_tun_offloads(csum | VIRTIO_BIT(VIRTIO_NET_F_GUEST_UFO)),
			 TUN_F_CSUM | TUN_F_UFO);
	assert_int_equal(net_tun_offloads(csum | VIRTIO_BIT(VIRTIO_NET_F_GUEST_USO4) |
					  VIRTIO_BIT(VIRTIO_NET_F_GUEST_USO6)),
			 TUN_F_CSUM | TUN_F_USO4 | TUN_F_USO6);
	/* Host-side features never ask the tap for anything. */
	assert_int_equal(
	    net_tun_offloads(VIRTIO_BIT(VIRTIO_NET_F_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4)),
	    0);

	/* What the device offers for what the tap takes. */
	assert_true(net_offload_features(0) == 0);
	assert_true(net_offload_features(TUN_F_CSUM) == 0);
	f = net_offload_features(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6);
	assert_true(f & VIRTIO_BIT(VIRTIO_NET_F_CSUM));
	assert_true(f & VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6));
	assert_false(f & VIRTIO_BIT(VIRTIO_NET_F_HOST_UFO));
	assert_false(f & VIRTIO_BIT(VIRTIO_NET_F_HOST_USO));
	f = net_offload_features(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_UFO | TUN_F_USO4 |
				 TUN_F_USO6);
	assert_true(f & VIRTIO_BIT(VIRTIO_NET_F_HOST_UFO));
	assert_true(f & VIRTIO_BIT(VIRTIO_NET_F_GUEST_UFO));
	assert_true(f & VIRTIO_BIT(VIRTIO_NET_F_HOST_USO));
	assert_true(f & VIRTIO_BIT(VIRTIO_NET_F_GUEST_USO4));
	/* Round trip: what a guest accepting everything offered asks of the tap. */
	assert_int_equal(net_tun_offloads(f), TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_UFO |
						  TUN_F_USO4 | TUN_F_USO6);
}

static void test_default_mac(void **state)
{
	uint8_t a[6], b[6], c[6], d[6];

	net_default_mac("tap0", 0, a);
	net_default_mac("tap0", 0, b);
	net_default_mac("tap0", 1, c);
	net_default_mac("tap1", 0, d);
	assert_memory_equal(a, b, 6);
	assert_memory_not_equal(a, c, 6);
	assert_memory_not_equal(a, d, 6);
	assert_int_equal(a[0], 0x02); /* locally administered, unicast */
	assert_int_equal(c[0] & 3, 2);
}

/* ---- the device ---- */

static void test_config_and_features(void **state)
{
	struct fx *f = *state;
	uint8_t cfg[VIRTIO_NET_CFG_SIZE], mac[6];
	uint64_t hf = f->vdev->host_features;

	f->vdev->ops->config_read(f->vdev, 0, cfg, sizeof(cfg));
	net_default_mac("testtap", 0, mac);
	assert_memory_equal(cfg + VIRTIO_NET_CFG_MAC, mac, 6);
	assert_int_equal(cfg[VIRTIO_NET_CFG_STATUS], VIRTIO_NET_S_LINK_UP);
	assert_int_equal(cfg[VIRTIO_NET_CFG_MTU] | cfg[VIRTIO_NET_CFG_MTU + 1] << 8, 1500);
	assert_true(hf & VIRTIO_BIT(VIRTIO_NET_F_MAC));
	assert_true(hf & VIRTIO_BIT(VIRTIO_NET_F_STATUS));
	assert_true(hf & VIRTIO_BIT(VIRTIO_NET_F_MTU));
	assert_true(hf & VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF));
	assert_true(hf & VIRTIO_BIT(VIRTIO_NET_F_HOST_UFO));
	assert_true(hf & VIRTIO_BIT(VIRTIO_NET_F_GUEST_USO6));
	assert_true(hf & VIRTIO_BIT(VQ_F_EVENT_IDX));
	assert_true(hf & VIRTIO_BIT(VQ_F_INDIRECT_DESC));
	/* Activation told the tap what the guest takes: everything offered here. */
	assert_int_equal(tap_offload_set(f->tap), ALL_OFFLOADS);
	/* A reset takes it back, and takes the tap out of the loop. */
	f->vdev->ops->reset(f->vdev);
	assert_int_equal(tap_offload_set(f->tap), 0);
	assert_int_equal(watch.events, 0);
	/* A guest that takes only checksums: only that. */
	f->vdev->features &=
	    ~(VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6) |
	      VIRTIO_BIT(VIRTIO_NET_F_GUEST_UFO) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_USO4) |
	      VIRTIO_BIT(VIRTIO_NET_F_GUEST_USO6));
	assert_int_equal(f->vdev->ops->activate(f->vdev), 0);
	assert_int_equal(tap_offload_set(f->tap), TUN_F_CSUM);
	assert_int_equal(watch.events, EPOLLIN);
}

/* A tap that takes no offloads and has no MTU: none of those features. */
static void test_features_plain_tap(void **state)
{
	struct fx *f = *state;
	struct tap *tap;
	struct virtio_dev *vdev;
	uint8_t mac[6] = {0x52, 0x54, 0, 1, 2, 3}, cfg[6];
	int sv[2];

	fake_loop_reset();
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	close(sv[1]);
	assert_int_equal(tap_open_fd(&tap, sv[0], "plain", 0), 0);
	assert_int_equal(virtio_net_create_tap(&vdev, tap, mac, 0, 3, NULL, &f->gm), 0);
	assert_false(vdev->host_features & VIRTIO_BIT(VIRTIO_NET_F_CSUM));
	assert_false(vdev->host_features & VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM));
	assert_false(vdev->host_features & VIRTIO_BIT(VIRTIO_NET_F_MTU));
	assert_true(vdev->host_features & VIRTIO_BIT(VIRTIO_NET_F_MAC));
	vdev->ops->config_read(vdev, 0, cfg, 6);
	assert_memory_equal(cfg, mac, 6);
	assert_string_equal(vdev->id, "net3");
	vdev->ops->destroy(vdev);
}

/* One frame out: header (checked copy) and frame in one write to the tap. */
static void test_tx_roundtrip(void **state)
{
	struct fx *f = *state;
	uint8_t *hdr = hva(f, BUF_GPA), *b = hva(f, BUF_GPA + 0x1000);
	struct seg s[2] = {{BUF_GPA, NET_HDR_LEN + 20, 0}, {BUF_GPA + 0x1000, 1000, 0}};
	uint8_t got[4096];
	uint32_t id, len;

	/* Header and the first 20 frame bytes in one buffer, the rest in another. */
	put_hdr(hdr, 1, 0, 0, 0, 34, 16);
	fill(hdr + NET_HDR_LEN, 20, 1);
	fill(b, 1000, 2);

	post(f, 1, s, 2);
	kick(f, 1);
	assert_int_equal(used_idx(f, 1), 1);
	used_elem(f, 1, 0, &id, &len);
	assert_int_equal(len, 0);
	assert_int_equal(f->notifies[1], 1);
	/* The loop yielded once, after the frame went out and before the interrupt. */
	assert_int_equal(f->after_yield[1], 1);
	assert_int_equal(f->yields_sent, 1);
	assert_int_equal(peer_recv(f, got, sizeof(got)), NET_HDR_LEN + 1020);
	/* num_buffers is zeroed on the way out; the rest of the header passes. */
	assert_int_equal(got[0], 1);
	assert_int_equal(got[6] | got[7] << 8, 34);
	assert_int_equal(got[8] | got[9] << 8, 16);
	assert_int_equal(got[10] | got[11] << 8, 0);
	assert_memory_equal(got + NET_HDR_LEN, hdr + NET_HDR_LEN, 20);
	assert_memory_equal(got + NET_HDR_LEN + 20, b, 1000);
	assert_int_equal(stats(f)->tx_frames, 1);
	assert_int_equal(stats(f)->tx_bytes, 1020);
	assert_int_equal(f->resets, 0);
}

/* The guest sends one frame of len bytes (header and frame in one buffer) and kicks. */
static void send_frame(struct fx *f, size_t len)
{
	uint8_t *p = hva(f, BUF_GPA + 0x8000);
	struct seg s = {BUF_GPA + 0x8000, (uint32_t)(NET_HDR_LEN + len), 0};

	put_hdr(p, 0, 0, 0, 0, 0, 0);
	fill(p + NET_HDR_LEN, len, 3);
	post(f, 1, &s, 1);
	kick(f, 1);
}

/* Nanoseconds left on the device's hold timer (0: disarmed). */
static long hold_left(void)
{
	struct itimerspec its;

	assert_non_null(timer_watch.fn);
	assert_int_equal(timerfd_gettime(timer_watch.fd, &its), 0);
	return its.it_value.tv_sec * 1000000000L + its.it_value.tv_nsec;
}

/* The hold timer expired: wait for it and call the handler as ev_run would. */
static void hold_expire(void)
{
	struct pollfd pfd = {timer_watch.fd, POLLIN, 0};

	assert_int_equal(poll(&pfd, 1, -1), 1);
	timer_watch.fn(timer_watch.opaque, EPOLLIN);
}

/* The last pass reported was of kind, count frames, the longest len bytes. */
static void assert_reported(enum sp_kind kind, unsigned int count, size_t len)
{
	assert_int_equal(reported.kind, kind);
	assert_int_equal(reported.count, count);
	assert_int_equal(reported.largest, len);
}

/*
 * Each pass is reported to the policy: its direction, its frames, the longest
 * one's length without the header (the policy tells requests from a stream by
 * it, test_sched_policy.c). A pass starts counting from nothing.
 */
static void test_passes_reported(void **state)
{
	struct fx *f = *state;
	uint8_t got[2048];
	struct seg rx[4];

	send_frame(f, 98);
	assert_int_equal(served_calls, 1);
	assert_reported(SP_TX_FRAMES, 1, 98);
	send_frame(f, 257);
	assert_reported(SP_TX_FRAMES, 1, 257);
	send_frame(f, 256);
	assert_int_equal(served_calls, 3);
	assert_reported(SP_TX_FRAMES, 1, 256);
	for (int i = 0; i < 3; i++)
		assert_true(peer_recv(f, got, sizeof(got)) > 0);

	for (int i = 0; i < 4; i++) {
		rx[i] = (struct seg){BUF_GPA + 0x1000 * (uint64_t)i, 2048, W};
		post(f, 0, &rx[i], 1);
	}
	kick(f, 0);
	peer_send(f, 98, 1);
	peer_send(f, 60, 2);
	peer_send(f, 98, 3);
	memset(&reported, 0, sizeof(reported));
	tap_ready(f, EPOLLIN);
	assert_int_equal(used_idx(f, 0), 3);
	assert_reported(SP_RX_FRAMES, 3, 98);
	peer_send(f, 1514, 4);
	tap_ready(f, EPOLLIN);
	assert_reported(SP_RX_FRAMES, 1, 1514);
	assert_int_equal(stats(f)->rx_frames, 4);
	/* Only transmit passes ask before they notify. */
	assert_int_equal(asked_calls, 3);
}

/*
 * When the policy says so, the completion of a transmit pass is held for as
 * long as it says: the frame is out at once, the interrupt comes when the
 * timer fires, once for all the completions held meanwhile. When it says 0,
 * the interrupt comes at once.
 */
static void test_tx_hold(void **state)
{
	struct fx *f = *state;
	uint8_t got[2048];
	long left;

	fake_hold_ns = 4000000;
	send_frame(f, 98);
	/* Asked about the pass before it was reported. */
	assert_int_equal(asked.kind, SP_TX_FRAMES);
	assert_int_equal(asked.count, 1);
	assert_int_equal(asked.largest, 98);
	assert_int_equal(used_idx(f, 1), 1);
	assert_int_equal(peer_recv(f, got, sizeof(got)), NET_HDR_LEN + 98);
	assert_int_equal(f->notifies[1], 0);
	assert_int_equal(f->yields_sent, 0); /* held: no yield */
	left = hold_left();
	assert_true(left > 0 && left <= 4000000);
	send_frame(f, 60);
	assert_int_equal(used_idx(f, 1), 2);
	assert_int_equal(f->notifies[1], 0);
	hold_expire();
	assert_int_equal(f->notifies[1], 1);
	assert_int_equal(hold_left(), 0);
	/* Nothing held: a stray wake-up of the timer sends nothing. */
	timer_watch.fn(timer_watch.opaque, EPOLLIN);
	assert_int_equal(f->notifies[1], 1);

	fake_hold_ns = 0;
	send_frame(f, 1000); /* at once, after the policy's turn */
	assert_int_equal(f->notifies[1], 2);
	assert_int_equal(f->after_yield[1], 1);
	assert_int_equal(asked.largest, 1000);
	assert_int_equal(hold_left(), 0);

	/* A hold of more than a second is armed as such. */
	fake_hold_ns = 1500000000L;
	send_frame(f, 98);
	assert_int_equal(f->notifies[1], 2);
	assert_true(hold_left() > 1000000000L);
	assert_int_equal(stats(f)->tx_frames, 4);
	assert_int_equal(f->resets, 0);
}

/* A reset drops a held completion: the timer is disarmed and sends nothing. */
static void test_tx_hold_reset(void **state)
{
	struct fx *f = *state;

	fake_hold_ns = 4000000;
	send_frame(f, 98);
	assert_int_equal(f->notifies[1], 0);
	assert_true(hold_left() > 0);
	f->vdev->ops->reset(f->vdev);
	f->vdev->active = false;
	assert_int_equal(hold_left(), 0);
	timer_watch.fn(timer_watch.opaque, EPOLLIN);
	assert_int_equal(f->notifies[1], 0);
}

/* Every malformed frame: dropped, counted, chain returned, device still good. */
static void test_tx_malformed(void **state)
{
	struct fx *f = *state;
	struct {
		uint8_t flags, gso;
		uint16_t hdr_len, gso_size, cstart, coff;
		uint32_t len; /* the whole chain */
		enum net_drop why;
	} bad[] = {
	    {0, 0, 0, 0, 0, 0, 6, NET_DROP_TX_SHORT},
	    {0, 0, 0, 0, 0, 0, NET_HDR_LEN, NET_DROP_TX_SHORT},
	    {0, 0, 0, 0, 0, 0, NET_HDR_LEN + NET_MAX_FRAME + 1, NET_DROP_TX_OVERSIZE},
	    {0x10, 0, 0, 0, 0, 0, 200, NET_DROP_TX_FLAGS},
	    {1, 0, 0, 0, 180, 8, 200, NET_DROP_TX_CSUM},
	    {1, 7, 54, 1448, 34, 16, 200, NET_DROP_TX_GSO},
	    {1, 1, 54, 0, 34, 16, 200, NET_DROP_TX_GSO_SIZE},
	    {1, 1, 250, 1448, 34, 16, 200, NET_DROP_TX_GSO_SIZE},
	    /* 64 KiB of TCP payload with an MSS of 1 byte: some 64K segments. */
	    {1, 1, 54, 1, 34, 16, NET_HDR_LEN + 54 + 0xffff - 40, NET_DROP_TX_GSO_SIZE},
	    {1, 4, 74, NET_GSO_MIN_SIZE - 1, 54, 16, 200, NET_DROP_TX_GSO_SIZE},
	};
	uint64_t want[NET_DROP_MAX] = {0};
	uint8_t got[256];
	uint16_t used = 0;

	for (unsigned int i = 0; i < ARRAY_SIZE(bad); i++) {
		uint8_t *p = hva(f, BUF_GPA);

		memset(p, 0, 0x20000);
		if (bad[i].len >= NET_HDR_LEN)
			put_hdr(p, bad[i].flags, bad[i].gso, bad[i].hdr_len, bad[i].gso_size,
				bad[i].cstart, bad[i].coff);
		/* The oversize one is spread over two buffers. */
		if (bad[i].len > 0x10000) {
			struct seg s[2] = {{BUF_GPA, 0x10000, 0},
					   {BUF_GPA + 0x10000, bad[i].len - 0x10000, 0}};

			post(f, 1, s, 2);
		} else {
			struct seg s = {BUF_GPA, bad[i].len, 0};

			post(f, 1, &s, 1);
		}
		kick(f, 1);
		assert_int_equal(used_idx(f, 1), ++used);
		want[bad[i].why]++;
		assert_memory_equal(stats(f)->drops, want, sizeof(want));
		assert_int_equal(peer_recv(f, got, sizeof(got)), -EAGAIN);
	}
	assert_int_equal(stats(f)->tx_frames, 0);
	assert_int_equal(f->resets, 0);
	/* And a good frame still goes through. */
	put_hdr(hva(f, BUF_GPA), 0, 0, 0, 0, 0, 0);
	post(f, 1, &(struct seg){BUF_GPA, NET_HDR_LEN + 60, 0}, 1);
	kick(f, 1);
	assert_int_equal(peer_recv(f, got, sizeof(got)), NET_HDR_LEN + 60);
	assert_int_equal(stats(f)->tx_frames, 1);
}

/* Host -> guest without MRG_RXBUF: the whole frame in one chain, num_buffers 1. */
static void test_rx_roundtrip(void **state)
{
	struct fx *f = *state;
	uint8_t want[1514];
	uint8_t *buf = hva(f, BUF_GPA);
	uint32_t id, len;

	/* Header and frame across two descriptors of one chain. */
	struct seg s[2] = {{BUF_GPA, 100, W}, {BUF_GPA + 0x1000, 2000, W}};
	uint16_t head = post(f, 0, s, 2);

	kick(f, 0); /* nothing to read yet: the buffers wait */
	assert_int_equal(used_idx(f, 0), 0);
	peer_send(f, 1514, 9);
	tap_ready(f, EPOLLIN);
	assert_int_equal(used_idx(f, 0), 1);
	used_elem(f, 0, 0, &id, &len);
	assert_int_equal(id, head);
	assert_int_equal(len, NET_HDR_LEN + 1514);
	assert_int_equal(buf[10] | buf[11] << 8, 1); /* num_buffers */
	assert_int_equal(buf[0], 0);		     /* header from the tap */
	fill(want, sizeof(want), 9);
	assert_memory_equal(buf + NET_HDR_LEN, want, 100 - NET_HDR_LEN);
	assert_memory_equal(hva(f, BUF_GPA + 0x1000), want + 100 - NET_HDR_LEN,
			    1514 - (100 - NET_HDR_LEN));
	assert_int_equal(f->notifies[0], 1);
	assert_int_equal(f->after_yield[0], 0); /* the guest waits on received frames */
	assert_int_equal(stats(f)->rx_frames, 1);
	assert_int_equal(stats(f)->rx_bytes, 1514);
}

/* With MRG_RXBUF a frame spreads over chains, all returned at once. */
static void test_rx_mergeable(void **state)
{
	struct fx *f = *state;
	uint8_t want[3000];
	uint32_t id, len, total = 0;

	for (int i = 0; i < 4; i++)
		post(f, 0, &(struct seg){BUF_GPA + 0x1000ULL * i, 1024, W}, 1);
	kick(f, 0);
	peer_send(f, 3000, 3);
	tap_ready(f, EPOLLIN);
	assert_int_equal(used_idx(f, 0), 3);
	for (uint16_t i = 0; i < 3; i++) {
		used_elem(f, 0, i, &id, &len);
		assert_int_equal(id, i);
		total += len;
	}
	assert_int_equal(total, NET_HDR_LEN + 3000);
	assert_int_equal(*(uint8_t *)hva(f, BUF_GPA + 10), 3);
	assert_int_equal(*(uint8_t *)hva(f, BUF_GPA + 11), 0);
	fill(want, sizeof(want), 3);
	assert_memory_equal(hva(f, BUF_GPA + NET_HDR_LEN), want, 1024 - NET_HDR_LEN);
	assert_memory_equal(hva(f, BUF_GPA + 0x1000), want + 1024 - NET_HDR_LEN, 1024);
	assert_memory_equal(hva(f, BUF_GPA + 0x2000), want + 2048 - NET_HDR_LEN,
			    3000 - (2048 - NET_HDR_LEN));

	/* A frame larger than what is left: part now, the rest when buffers come. */
	peer_send(f, 2000, 4);
	tap_ready(f, EPOLLIN);
	assert_int_equal(used_idx(f, 0), 3);   /* one chain filled, held back */
	assert_int_equal(watch.events, 0);     /* the tap waits */
	assert_int_equal(used_flags(f, 0), 0); /* and the guest is asked for a kick */
	post(f, 0, &(struct seg){BUF_GPA + 0x5000, 1024, W}, 1);
	kick(f, 0);
	assert_int_equal(used_idx(f, 0), 5); /* both chains of the frame at once */
	assert_int_equal(*(uint8_t *)hva(f, BUF_GPA + 0x3000 + 10), 2);
	fill(want, 2000, 4);
	assert_memory_equal(hva(f, BUF_GPA + 0x5000), want + 1024 - NET_HDR_LEN,
			    2000 - (1024 - NET_HDR_LEN));
	assert_int_equal(watch.events, EPOLLIN);
	assert_int_equal(stats(f)->rx_frames, 2);
	assert_int_equal(f->resets, 0);
}

/* No receive buffers: the tap leaves the loop (no busy loop) until the guest kicks. */
static void test_rx_stop_resume(void **state)
{
	struct fx *f = *state;
	uint32_t id, len;

	assert_int_equal(watch.events, EPOLLIN);
	assert_int_equal(used_flags(f, 0), VQ_USED_F_NO_NOTIFY); /* no kicks while it has room */
	peer_send(f, 100, 1);
	peer_send(f, 200, 2);
	tap_ready(f, EPOLLIN);
	assert_int_equal(watch.events, 0);
	assert_int_equal(used_flags(f, 0), 0);
	assert_int_equal(stats(f)->rx_frames, 0);
	assert_int_equal(stats(f)->rx_waits, 1);
	/* A kick with still nothing posted changes nothing (but for one more wait). */
	kick(f, 0);
	assert_int_equal(watch.events, 0);
	assert_int_equal(stats(f)->rx_waits, 2);
	/* One buffer: the first frame; out again for the second. */
	post(f, 0, &(struct seg){BUF_GPA, 2048, W}, 1);
	kick(f, 0);
	assert_int_equal(used_idx(f, 0), 1);
	used_elem(f, 0, 0, &id, &len);
	assert_int_equal(len, NET_HDR_LEN + 100);
	assert_int_equal(watch.events, 0);
	post(f, 0, &(struct seg){BUF_GPA + 0x1000, 2048, W}, 1);
	kick(f, 0);
	assert_int_equal(used_idx(f, 0), 2);
	used_elem(f, 0, 1, &id, &len);
	assert_int_equal(len, NET_HDR_LEN + 200);
	assert_int_equal(stats(f)->rx_frames, 2);
	assert_int_equal(stats(f)->rx_waits, 3); /* the second frame waited once more */
	/* Still a buffer: back in the loop, kicks off again. */
	post(f, 0, &(struct seg){BUF_GPA + 0x2000, 2048, W}, 1);
	kick(f, 0);
	assert_int_equal(watch.events, EPOLLIN);
	assert_int_equal(used_flags(f, 0), VQ_USED_F_NO_NOTIFY);
	assert_int_equal(f->resets, 0);
}

/* The same with EVENT_IDX: avail_event is where the device stopped. */
static void test_rx_stop_resume_event_idx(void **state)
{
	struct fx *f = *state;
	uint16_t avail_event;

	post(f, 0, &(struct seg){BUF_GPA, 2048, W}, 1);
	kick(f, 0);
	peer_send(f, 100, 1);
	peer_send(f, 100, 2);
	tap_ready(f, EPOLLIN);
	assert_int_equal(used_idx(f, 0), 1);
	assert_int_equal(watch.events, 0);
	memcpy(&avail_event, hva(f, RXQ_GPA + 0x2000 + 4 + 8 * QSZ), 2);
	assert_int_equal(avail_event, 1);
	post(f, 0, &(struct seg){BUF_GPA + 0x1000, 2048, W}, 1);
	kick(f, 0);
	assert_int_equal(used_idx(f, 0), 2);
	assert_int_equal(stats(f)->rx_frames, 2);
}

/* Without MRG_RXBUF a frame larger than the chain is dropped; the chain takes the next. */
static void test_rx_no_room(void **state)
{
	struct fx *f = *state;
	uint32_t id, len;
	uint16_t head = post(f, 0, &(struct seg){BUF_GPA, 1000, W}, 1);

	kick(f, 0);
	peer_send(f, 1500, 1);
	peer_send(f, 500, 2);
	tap_ready(f, EPOLLIN);
	assert_int_equal(stats(f)->drops[NET_DROP_RX_NO_ROOM], 1);
	assert_int_equal(used_idx(f, 0), 1);
	used_elem(f, 0, 0, &id, &len);
	assert_int_equal(id, head);
	assert_int_equal(len, NET_HDR_LEN + 500);
	assert_int_equal(f->resets, 0);
}

static void check_bad_rx(struct fx *f, const struct seg *s, unsigned int n)
{
	post(f, 0, s, n);
	kick(f, 0);
	peer_send(f, 100, 1);
	tap_ready(f, EPOLLIN);
	assert_int_equal(f->resets, 1);
	assert_int_equal(used_idx(f, 0), 0);
	assert_int_equal(watch.events, 0); /* a broken device does not read the tap */
	/* Nothing more until the reset: kicks and TX are ignored. */
	kick(f, 0);
	post(f, 1, &(struct seg){BUF_GPA + 0x8000, 100, 0}, 1);
	kick(f, 1);
	assert_int_equal(used_idx(f, 1), 0);
	assert_int_equal(f->resets, 1);
	/* The driver resets the device: it serves again. */
	f->vdev->ops->reset(f->vdev);
	vq_reset(&f->vqs[0]);
	vq_reset(&f->vqs[1]);
	f->gq[0].avail_idx = f->gq[1].avail_idx = 0;
	f->gq[0].next_desc = f->gq[1].next_desc = 0;
	*(uint16_t *)hva(f, RXQ_GPA + 0x1000 + 2) = 0;
	*(uint16_t *)hva(f, TXQ_GPA + 0x1000 + 2) = 0;
	assert_int_equal(f->vdev->ops->activate(f->vdev), 0);
	assert_int_equal(stats(f)->drops[NET_DROP_RX_RESET], 1); /* the frame that waited */
	post(f, 0, &(struct seg){BUF_GPA, 2048, W}, 1);
	kick(f, 0);
	peer_send(f, 100, 2);
	tap_ready(f, EPOLLIN);
	assert_int_equal(used_idx(f, 0), 1);
	assert_int_equal(stats(f)->rx_frames, 1);
}

static void test_rx_buffer_read_only(void **state)
{
	check_bad_rx(*state, &(struct seg){BUF_GPA, 2048, 0}, 1);
}

static void test_rx_buffer_partly_read_only(void **state)
{
	struct seg s[2] = {{BUF_GPA, 12, 0}, {BUF_GPA + 0x1000, 2048, W}};

	check_bad_rx(*state, s, 2);
}

static void test_rx_buffer_too_short(void **state)
{
	check_bad_rx(*state, &(struct seg){BUF_GPA, NET_HDR_LEN - 1, W}, 1);
}

static void test_rx_buffer_empty(void **state)
{
	check_bad_rx(*state, &(struct seg){BUF_GPA, 0, W}, 1);
}

/* Merged: every chain, not just the first, must be writable and hold a header. */
static void test_rx_mergeable_bad_second(void **state)
{
	struct fx *f = *state;

	post(f, 0, &(struct seg){BUF_GPA, 1024, W}, 1);
	post(f, 0, &(struct seg){BUF_GPA + 0x1000, 8, W}, 1);
	kick(f, 0);
	peer_send(f, 1500, 1);
	tap_ready(f, EPOLLIN);
	assert_int_equal(f->resets, 1);
	assert_int_equal(used_idx(f, 0), 0);
}

/* The backend fails: drops counted, the tap out of the loop, the queues still served. */
static void test_tap_gone(void **state)
{
	struct fx *f = *state;
	uint8_t *hdr = hva(f, BUF_GPA);

	put_hdr(hdr, 0, 0, 0, 0, 0, 0);
	close(f->peer);
	f->peer = -1;
	post(f, 1, &(struct seg){BUF_GPA, NET_HDR_LEN + 60, 0}, 1);
	kick(f, 1);
	assert_int_equal(used_idx(f, 1), 1);
	assert_int_equal(stats(f)->drops[NET_DROP_TX_TAP_ERROR], 1);
	assert_int_equal(stats(f)->tx_tap_errors, 1);
	assert_int_equal(watch.events, 0);
	/* Later frames are dropped without trying the tap. */
	post(f, 1, &(struct seg){BUF_GPA, NET_HDR_LEN + 60, 0}, 1);
	kick(f, 1);
	assert_int_equal(used_idx(f, 1), 2);
	assert_int_equal(stats(f)->drops[NET_DROP_TX_TAP_ERROR], 2);
	assert_int_equal(stats(f)->tx_tap_errors, 1);
	/* Receive kicks do nothing and do not bring the tap back. */
	post(f, 0, &(struct seg){BUF_GPA + 0x1000, 2048, W}, 1);
	kick(f, 0);
	assert_int_equal(watch.events, 0);
	assert_int_equal(f->resets, 0);
}

/* A hang-up seen by poll with nothing to read stops the tap (no busy loop). */
static void test_tap_hangup_rx(void **state)
{
	struct fx *f = *state;

	post(f, 0, &(struct seg){BUF_GPA, 2048, W}, 1);
	kick(f, 0);
	peer_send(f, 100, 1);
	shutdown(f->peer, SHUT_WR);
	tap_ready(f, EPOLLIN | EPOLLHUP);
	assert_int_equal(used_idx(f, 0), 1); /* what was there still arrives */
	assert_int_equal(watch.events, 0);
	assert_int_equal(stats(f)->rx_tap_errors, 1);
	assert_int_equal(f->resets, 0);
}

/* The tap ioctls on descriptors that are not taps: clear errors, no privilege needed. */
static void test_tap_open_errors(void **state)
{
	struct net_config cfg = {.fd = -1};
	struct tap *tap = NULL;
	char err[256];
	int p[2];

	assert_int_equal(pipe(p), 0);
	cfg.fd = p[0];
	assert_true(tap_open(&tap, &cfg, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "is not a tap"));
	assert_non_null(strstr(err, "--net fd="));
	close(p[0]);
	close(p[1]);
	cfg.fd = p[0]; /* closed now */
	assert_true(tap_open(&tap, &cfg, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "is not open"));
	assert_null(tap);
}

/*
 * Open a tap the way a launcher would, with these flags; -errno when taps
 * cannot be created here (no /dev/net/tun, no CAP_NET_ADMIN).
 */
static int launcher_tap(short flags, char name[IFNAMSIZ])
{
	struct ifreq ifr = {0};
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "kvmrunut%%d");
	ifr.ifr_flags = flags;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	memcpy(name, ifr.ifr_name, IFNAMSIZ);
	return fd;
}

/*
 * Real taps, where this process may create them (root in CI). Everything the
 * device does with a tap's data is covered on the socket pair above; this is
 * the ioctl side: TUNGETIFF checks of fd=, header size, offload probing, MTU.
 */
static void test_real_tap(void **state)
{
	struct net_config cfg = {.fd = -1};
	char name[IFNAMSIZ], err[256] = "";
	struct tap *tap;
	int fd;

	fd = launcher_tap(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, name);
	if (fd == -EPERM || fd == -EACCES || fd == -ENOENT || fd == -ENODEV)
		skip(); /* the socket-pair tests above do not depend on this one */
	assert_true(fd >= 0);
	cfg.fd = fd;
	assert_int_equal(tap_open(&tap, &cfg, err, sizeof(err)), 0);
	assert_string_equal(tap_name(tap), name);
	assert_int_equal(tap_fd(tap), fd);
	assert_int_equal(tap_offloads(tap) & (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6),
			 TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6);
	assert_int_equal(tap_mtu(tap), 1500);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_int_equal(tap_set_offload(tap, TUN_F_CSUM | TUN_F_TSO4), 0);
	assert_int_equal(tap_offload_set(tap), TUN_F_CSUM | TUN_F_TSO4);
	assert_int_equal(tap_read(tap, err, sizeof(err)), -EAGAIN); /* down: nothing to read */
	tap_close(tap);

	/* Wrong flags on a launcher's descriptor: refused, named. */
	fd = launcher_tap(IFF_TAP | IFF_NO_PI, name);
	assert_true(fd >= 0);
	cfg.fd = fd;
	assert_int_equal(tap_open(&tap, &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "IFF_VNET_HDR"));
	close(fd);
	fd = launcher_tap(IFF_TUN | IFF_NO_PI | IFF_VNET_HDR, name);
	assert_true(fd >= 0);
	cfg.fd = fd;
	assert_int_equal(tap_open(&tap, &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "is a tun"));
	close(fd);

	/* By name: created here (and gone again when closed). */
	cfg = (struct net_config){.fd = -1};
	snprintf(cfg.ifname, sizeof(cfg.ifname), "kvmrunut%%d");
	assert_int_equal(tap_open(&tap, &cfg, err, sizeof(err)), 0);
	assert_int_equal(strncmp(tap_name(tap), "kvmrunut", 8), 0);
	assert_true(tap_offloads(tap) & TUN_F_CSUM);
	tap_close(tap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hdr_check_tx),
	    cmocka_unit_test(test_hdr_fix_rx),
	    cmocka_unit_test(test_hdr_encode_layout),
	    cmocka_unit_test(test_offload_translation),
	    cmocka_unit_test(test_default_mac),
	    cmocka_unit_test(test_tap_open_errors),
	    cmocka_unit_test(test_real_tap),
	    cmocka_unit_test_setup_teardown(test_config_and_features, fx_setup_event_idx,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_features_plain_tap, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_tx_roundtrip, fx_setup_plain, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_tx_malformed, fx_setup_plain, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_passes_reported, fx_setup_plain, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_tx_hold, fx_setup_plain,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_tx_hold_reset, fx_setup_plain, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_rx_roundtrip, fx_setup_plain, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_rx_mergeable, fx_setup_mrg, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_rx_stop_resume, fx_setup_plain, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_rx_stop_resume_event_idx, fx_setup_event_idx,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_rx_no_room, fx_setup_plain, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_rx_buffer_read_only, fx_setup_plain, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_rx_buffer_partly_read_only, fx_setup_mrg,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_rx_buffer_too_short, fx_setup_plain, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_rx_buffer_empty, fx_setup_plain, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_rx_mergeable_bad_second, fx_setup_mrg,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_tap_gone, fx_setup_plain, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_tap_hangup_rx, fx_setup_plain, fx_teardown),
	};

	log_set_level(LOG_ERROR);
	signal(SIGPIPE, SIG_IGN); /* a closed peer is EPIPE, as for a program with a tap */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
