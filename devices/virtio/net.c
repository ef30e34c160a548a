// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-net (virtio 1.x, section 5.1) on a backend (backend/netbe.h: a tap
 * or passt; "the tap" below is whichever it is): queue 0 receives, queue 1
 * transmits, no control queue. Everything runs on the event loop.
 *
 * Transmit: each kick drains the queue; a chain is the 12-byte header and the
 * frame. The header is copied and checked once (net_hdr_check_tx), the frame
 * goes to the tap with one writev straight from guest memory, behind the
 * checked copy of the header. A malformed frame is dropped and counted and
 * its chain returned; the device goes on.
 *
 * With an egress policy (--net ...,egress=deny), the first EGRESS_HDR_MAX
 * bytes of the frame are copied out of guest memory once, checked, and sent
 * from that copy (the guest cannot change them after the check); a frame the
 * policy refuses is counted and its chain returned as if sent.
 *
 * Receive: the tap is read (one frame with its header) into a buffer of the
 * device's, then copied into the guest's chains: one chain for the whole frame
 * without MRG_RXBUF (a frame larger than the chain is dropped, the chain kept
 * for the next one), or as many as it takes with it, all returned at once
 * with num_buffers in the first. When the guest has posted nothing, the frame
 * waits, the tap leaves the epoll set and the device asks for a kick; the
 * kick brings it back. A chain the device cannot write, or shorter than the
 * header, breaks the device (NEEDS_RESET).
 *
 * Each pass (a kick's transmit, a batch of received frames) is reported to
 * the scheduling policy (sp_report) with its frame count and its longest
 * frame; before a transmit pass notifies, the device asks the policy whether
 * to hold the completion back, and holds it on a timer (hold_timer) for as
 * long as the policy says (see sched_policy.c for why).
 *
 * Rate limits (--net bw=, pps=), each direction its own limiter: a frame the
 * guest sends over them goes back into the ring (VIRTIO_CHAIN_WAIT); a frame
 * read from the tap over them waits in the device's buffer, the tap out of the
 * epoll set. Either waits for the device's timer (lim_timer), armed for when
 * the limiter says; the device counts the frames that waited and how long.
 *
 * The tap failing (deleted: EBADFD, error or hang-up on poll) stops the tap
 * for good: received frames stop, sent ones are dropped and counted, the VM
 * goes on. A tap that is down (EIO on write) drops what is sent meanwhile.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "backend/egress.h"
#include "backend/netbe.h"
#include "backend/passt.h"
#include "backend/tap.h"
#include "kvmrun/event_loop.h"
#include "kvmrun/log.h"
#include "kvmrun/ratelimit.h"
#include "kvmrun/sched_policy.h"
#include "virtio/net.h"

/* The receive buffer: the largest frame and header, and one byte to see truncation. */
#define NET_RX_BUF (NET_HDR_LEN + NET_MAX_FRAME + 1)
/* Frames moved per call before going back to the loop (level-triggered: it comes back). */
#define NET_RX_BATCH 256

_Static_assert(NETBE_HDR_LEN == NET_HDR_LEN, "the backend carries the 1.x header");

struct virtio_net {
	struct virtio_dev vdev;
	struct netbe *be;
	struct net_stats stats;
	uint8_t config[VIRTIO_NET_CFG_SIZE];
	char id[16];
	bool watching;	 /* the tap is in the epoll set */
	bool tap_dead;	 /* the tap failed for good */
	bool broken;	 /* the guest broke the device: nothing until reset */
	bool rx_stalled; /* waiting for the guest to post receive buffers */

	/* The received frame being delivered: rx_done of rx_len bytes copied. */
	uint8_t *rx_buf;
	size_t rx_len, rx_done;
	unsigned int rx_nused; /* chains filled for it, not yet returned */
	struct vq_used rx_used[VIRTIO_NET_QUEUE_MAX];
	uint8_t *rx_nb[2]; /* num_buffers, in the first chain */
	bool rx_spare;	   /* rx_chain is popped and unused */
	struct vq_chain *rx_chain;

	struct vq_chain *tx_chain;
	uint8_t tx_hdr[NET_HDR_LEN];
	const struct egress_policy *egress; /* NULL: everything goes */
	uint8_t tx_head[EGRESS_HDR_MAX];    /* the frame's first bytes, as checked */
	size_t tx_head_len;
	struct iovec tx_iov[VQ_MAX_CHAIN + 2];
	uint8_t *tx_buf; /* for chains of more buffers than writev takes */

	struct sp_pass pass; /* frames moved in the current pass, the longest */
	int hold_timer;	     /* timerfd: sends a held transmit completion */
	bool tx_held;	     /* a transmit completion waits for hold_timer */

	/* Rate limits: lim_timer -1 when there are none. */
	struct rl_limiter rx_lim, tx_lim;
	struct rl_wait rx_wait, tx_wait; /* a frame waits: the pending one, the next to send */
	bool rx_admitted;		 /* the pending received frame passed the limits */
	uint64_t lim_due;		 /* CLOCK_MONOTONIC ns lim_timer is armed for; 0: not */
	int lim_timer;
};

static struct virtio_net *to_net(struct virtio_dev *vdev)
{
	return container_of(vdev, struct virtio_net, vdev);
}

const struct net_stats *virtio_net_stats(const struct virtio_dev *vdev)
{
	return &container_of(vdev, struct virtio_net, vdev)->stats;
}

void virtio_net_set_egress(struct virtio_dev *vdev, const struct egress_policy *p)
{
	to_net(vdev)->egress = p && p->deny ? p : NULL;
}

static void net_watch(struct virtio_net *n, bool on)
{
	if (n->tap_dead)
		on = false;
	if (on == n->watching)
		return;
	if (ev_mod(n->vdev.loop, netbe_fd(n->be), on ? EPOLLIN : 0) == 0)
		n->watching = on;
}

static void net_tap_dead(struct virtio_net *n, int err)
{
	log_warn("virtio-net %s: %s: %s; its frames are dropped from now on", n->id,
		 netbe_name(n->be), strerror(-err));
	net_watch(n, false);
	n->tap_dead = true;
}

/* Errors after which the tap never works again (deleted, peer gone). */
static bool net_tap_gone(int err)
{
	return err == -EBADFD || err == -EBADF || err == -ENXIO || err == -ENODEV ||
	       err == -EPIPE || err == -ECONNRESET || err == -ENOTCONN;
}

/* Count a frame of len bytes (without the header) into the current pass. */
static void net_pass_frame(struct virtio_net *n, size_t len)
{
	n->pass.count++;
	n->pass.largest = MAX(n->pass.largest, len);
}

/* The pass is over: tell the scheduling policy. */
static void net_pass_end(struct virtio_net *n)
{
	sp_report(n->vdev.sched, &n->pass);
	n->pass.count = 0;
	n->pass.largest = 0;
}

static void net_break(struct virtio_net *n, const char *why)
{
	n->broken = true;
	net_watch(n, false);
	virtio_needs_reset(&n->vdev, why);
}

/* ---- rate limits ---- */

static uint64_t net_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * RL_NS_PER_S + (uint64_t)ts.tv_nsec;
}

/*
 * Must a frame of len bytes wait for the limits of l? Then the timer is armed
 * for it. A timer that cannot be armed must not hold the frame for good: it goes.
 */
static bool net_limit_wait(struct virtio_net *n, struct rl_limiter *l, struct rl_wait *w,
			   uint64_t len)
{
	uint64_t now = net_now_ns(), wait = rl_admit(l, w, len, now), due = now + wait;
	struct itimerspec its = {0};

	if (!wait)
		return false;
	if (n->lim_due && n->lim_due <= due)
		return true;
	its.it_value.tv_sec = (time_t)(due / RL_NS_PER_S);
	its.it_value.tv_nsec = (long)(due % RL_NS_PER_S);
	if (timerfd_settime(n->lim_timer, TFD_TIMER_ABSTIME, &its, NULL))
		return false;
	n->lim_due = due;
	return true;
}

void virtio_net_limiters(const struct virtio_dev *vdev, const struct rl_limiter **rx,
			 const struct rl_limiter **tx)
{
	const struct virtio_net *n = container_of(vdev, struct virtio_net, vdev);

	*rx = n->lim_timer >= 0 ? &n->rx_lim : NULL;
	*tx = n->lim_timer >= 0 ? &n->tx_lim : NULL;
}

/* ---- transmit ---- */

/*
 * Send the checked header in n->tx_hdr, the frame's first bytes checked in
 * n->tx_head, and the rest of the frame after them.
 */
static enum net_drop net_tx_send(struct virtio_net *n, const struct vq_chain *c)
{
	size_t skip = NET_HDR_LEN + n->tx_head_len, frame_len = c->out_len - NET_HDR_LEN;
	struct iovec *iov = n->tx_iov;
	unsigned int cnt = 1;
	ssize_t r;

	if (n->tap_dead)
		return NET_DROP_TX_TAP_ERROR;
	iov[0] = (struct iovec){n->tx_hdr, NET_HDR_LEN};
	if (n->tx_head_len)
		iov[cnt++] = (struct iovec){n->tx_head, n->tx_head_len};
	for (unsigned int i = 0; i < c->nr_out; i++) {
		const struct vq_buf *b = &c->bufs[i];
		size_t off = MIN(skip, b->len);

		skip -= off;
		if (off == b->len)
			continue;
		iov[cnt++] = (struct iovec){(uint8_t *)b->host + off, b->len - off};
	}
	if (cnt > IOV_MAX) {
		memcpy(n->tx_buf, n->tx_hdr, NET_HDR_LEN);
		memcpy(n->tx_buf + NET_HDR_LEN, n->tx_head, n->tx_head_len);
		skip = NET_HDR_LEN + n->tx_head_len;
		vq_chain_read(c, skip, n->tx_buf + skip, frame_len - n->tx_head_len);
		iov[0] = (struct iovec){n->tx_buf, NET_HDR_LEN + frame_len};
		cnt = 1;
	}
	r = netbe_writev(n->be, iov, (int)cnt);
	if (r >= 0)
		return NET_DROP_NONE;
	n->stats.tx_tap_errors++;
	if (r == -EIO)
		return NET_DROP_TX_TAP_DOWN;
	if (net_tap_gone((int)r))
		net_tap_dead(n, (int)r);
	else
		log_ratelimited(&n->vdev.rl, LOG_WARN, "virtio-net %s: %s: write: %s", n->id,
				netbe_name(n->be), strerror((int)-r));
	return NET_DROP_TX_TAP_ERROR;
}

/* The egress policy's verdict on the frame after the chain's header; keeps the copy it checked. */
static enum net_drop net_tx_egress(struct virtio_net *n, const struct vq_chain *c)
{
	static const enum net_drop drop[] = {
	    [EGRESS_PASS] = NET_DROP_NONE,
	    [EGRESS_DENIED] = NET_DROP_TX_EGRESS_DENIED,
	    [EGRESS_MALFORMED] = NET_DROP_TX_EGRESS_MALFORMED,
	    [EGRESS_FRAGMENT] = NET_DROP_TX_EGRESS_FRAGMENT,
	    [EGRESS_ETHERTYPE] = NET_DROP_TX_EGRESS_ETHERTYPE,
	};
	size_t frame_len = c->out_len - NET_HDR_LEN;
	enum egress_verdict v;

	n->tx_head_len = vq_chain_read(c, NET_HDR_LEN, n->tx_head, MIN(frame_len, EGRESS_HDR_MAX));
	v = egress_check(n->egress, n->tx_head, n->tx_head_len, frame_len);
	if (v != EGRESS_PASS)
		log_ratelimited(&n->vdev.rl, LOG_INFO,
				"virtio-net %s: egress policy: frame dropped (%s)", n->id,
				egress_verdict_name(v));
	return drop[v];
}

static int net_tx_handle(struct virtio_dev *vdev, uint16_t q, struct vq_chain *c)
{
	struct virtio_net *n = to_net(vdev);
	uint8_t raw[NET_HDR_LEN];
	enum net_drop why;
	struct net_hdr h;

	if (n->lim_timer >= 0 &&
	    net_limit_wait(n, &n->tx_lim, &n->tx_wait,
			   c->out_len > NET_HDR_LEN ? c->out_len - NET_HDR_LEN : 0))
		return VIRTIO_CHAIN_WAIT;
	if (c->out_len < NET_HDR_LEN) {
		why = NET_DROP_TX_SHORT;
	} else {
		vq_chain_read(c, 0, raw, NET_HDR_LEN);
		net_hdr_decode(&h, raw);
		why = net_hdr_check_tx(&h, vdev->features, c->out_len);
	}
	n->tx_head_len = 0;
	if (why == NET_DROP_NONE && n->egress)
		why = net_tx_egress(n, c);
	if (why == NET_DROP_NONE) {
		net_hdr_encode(&h, n->tx_hdr);
		why = net_tx_send(n, c);
	}
	if (why == NET_DROP_NONE) {
		net_pass_frame(n, c->out_len - NET_HDR_LEN);
		n->stats.tx_frames++;
		n->stats.tx_bytes += c->out_len - NET_HDR_LEN;
	} else {
		n->stats.drops[why]++;
	}
	/* Fails only on a queue the guest broke: the device already needs a reset. */
	if (vq_push(&vdev->vqs[q], c->head, 0))
		return 0;
	return 0;
}

/* ---- receive ---- */

/* The host address of byte off of the chain's writable part (off < in_len). */
static uint8_t *net_chain_byte(const struct vq_chain *c, size_t off)
{
	for (unsigned int i = c->nr_out; i < c->nr_out + c->nr_in; i++) {
		if (off < c->bufs[i].len)
			return (uint8_t *)c->bufs[i].host + off;
		off -= c->bufs[i].len;
	}
	return NULL;
}

static int net_rx_bad(struct virtio_net *n, const char *why)
{
	struct vq *vq = &n->vdev.vqs[VIRTIO_NET_RXQ];

	vq->broken = true;
	vq->broken_why = why;
	return -EIO;
}

/* A frame of len bytes (with its header) was read: check it and start delivering it. */
static void net_rx_accept(struct virtio_net *n, size_t len)
{
	enum net_drop why = NET_DROP_NONE;
	struct net_hdr h;

	if (len >= NET_RX_BUF) {
		why = NET_DROP_RX_TRUNCATED;
	} else if (len < NET_HDR_LEN + NET_ETH_HLEN) {
		why = NET_DROP_RX_SHORT;
	} else {
		net_hdr_decode(&h, n->rx_buf);
		why = net_hdr_fix_rx(&h, n->vdev.features, len - NET_HDR_LEN);
	}
	if (why != NET_DROP_NONE) {
		n->stats.drops[why]++;
		return;
	}
	h.num_buffers = 1; /* the real count is written when the frame is complete */
	net_hdr_encode(&h, n->rx_buf);
	n->rx_len = len;
	n->rx_done = 0;
	n->rx_nused = 0;
}

/*
 * Copy the pending frame into the guest's chains. 0: delivered (or dropped),
 * -EAGAIN: the guest has no more buffers (what was filled is kept), -EIO: the
 * guest broke the queue.
 */
static int net_rx_deliver(struct virtio_net *n)
{
	struct vq *vq = &n->vdev.vqs[VIRTIO_NET_RXQ];
	bool mrg = virtio_has_feature(&n->vdev, VIRTIO_NET_F_MRG_RXBUF);
	struct vq_chain *c = n->rx_chain;
	int ret;

	while (n->rx_done < n->rx_len) {
		size_t len;

		if (!n->rx_spare) {
			ret = vq_pop(vq, c);
			if (ret == -EAGAIN)
				return -EAGAIN;
			if (ret)
				return -EIO;
			if (c->nr_out)
				return net_rx_bad(n, "receive buffer the device cannot write");
			if (c->in_len < NET_HDR_LEN)
				return net_rx_bad(n, "receive buffer shorter than the header");
		}
		n->rx_spare = false;
		if (!mrg && c->in_len < n->rx_len) {
			/* Section 5.1.6.3.2: the whole frame in one chain, or not at all. */
			n->rx_spare = true;
			n->stats.drops[NET_DROP_RX_NO_ROOM]++;
			n->rx_len = 0;
			return 0;
		}
		len = MIN((size_t)c->in_len, n->rx_len - n->rx_done);
		if (n->rx_nused == 0) {
			n->rx_nb[0] = net_chain_byte(c, 10);
			n->rx_nb[1] = net_chain_byte(c, 11);
		}
		vq_chain_write(c, 0, n->rx_buf + n->rx_done, len);
		n->rx_used[n->rx_nused++] = (struct vq_used){c->head, (uint32_t)len};
		n->rx_done += len;
	}
	*n->rx_nb[0] = (uint8_t)n->rx_nused;
	*n->rx_nb[1] = (uint8_t)(n->rx_nused >> 8);
	ret = vq_push_batch(vq, n->rx_used, n->rx_nused);
	n->rx_nused = 0;
	if (ret)
		return -EIO;
	n->stats.rx_frames++;
	n->stats.rx_bytes += n->rx_len - NET_HDR_LEN;
	net_pass_frame(n, n->rx_len - NET_HDR_LEN);
	n->rx_len = 0;
	return 0;
}

/* Move frames from the tap to the guest; events: what epoll saw (0 from a kick). */
static void net_rx(struct virtio_net *n, uint32_t events)
{
	struct vq *vq = &n->vdev.vqs[VIRTIO_NET_RXQ];
	int ret = 0;

	if (!n->vdev.active || n->broken || n->tap_dead || n->rx_stalled)
		return;
	if (!vq->size) {
		net_watch(n, false); /* no receive queue: nothing to deliver to, ever */
		return;
	}
	n->pass.kind = SP_RX_FRAMES;
	for (unsigned int i = 0; i < NET_RX_BATCH; i++) {
		if (!n->rx_len) {
			ssize_t r = netbe_read(n->be, n->rx_buf, NET_RX_BUF);

			if (r == -EAGAIN) {
				/* An error or hang-up with nothing to read: do not spin on it. */
				if (events & (EPOLLERR | EPOLLHUP))
					net_tap_dead(n, -EIO);
				break;
			}
			if (r <= 0) {
				/* A tap never reads 0: only a closed stream peer does. */
				n->stats.rx_tap_errors++;
				net_tap_dead(n, r ? (int)r : -EPIPE);
				break;
			}
			net_rx_accept(n, (size_t)r);
			if (!n->rx_len)
				continue;
			n->rx_admitted = false;
		}
		if (!n->rx_admitted && n->lim_timer >= 0) {
			if (net_limit_wait(n, &n->rx_lim, &n->rx_wait, n->rx_len - NET_HDR_LEN)) {
				net_watch(n, false); /* the tap waits for the timer */
				break;
			}
			net_watch(n, true);
		}
		n->rx_admitted = true;
		ret = net_rx_deliver(n);
		if (ret == -EAGAIN) {
			vq_set_notify(vq, true);
			if (vq_avail_pending(vq)) {
				vq_set_notify(vq, false);
				continue;
			}
			n->rx_stalled = true;
			n->stats.rx_waits++;
			net_watch(n, false);
			break;
		}
		if (ret)
			break;
	}
	net_pass_end(n);
	if (vq_should_notify(vq))
		virtio_notify(&n->vdev, VIRTIO_NET_RXQ);
	if (ret == -EIO)
		net_break(n, vq->broken_why ? vq->broken_why : "bad receive queue");
}

static void net_tap_event(void *opaque, uint32_t events)
{
	net_rx(opaque, events);
}

/* ---- virtio_dev_ops ---- */

static void net_config_read(struct virtio_dev *vdev, uint32_t off, void *data, uint32_t len)
{
	memcpy(data, to_net(vdev)->config + off, len);
}

static void net_config_write(struct virtio_dev *vdev, uint32_t off, const void *data, uint32_t len)
{
	/* Read-only in 1.x: the MAC is writable only through a control queue. */
}

static int net_activate(struct virtio_dev *vdev)
{
	struct virtio_net *n = to_net(vdev);
	struct vq *rxq = &vdev->vqs[VIRTIO_NET_RXQ];
	unsigned int offl = net_tun_offloads(vdev->features) & netbe_offloads(n->be);
	int ret;

	ret = netbe_set_offload(n->be, offl);
	if (ret)
		log_warn("virtio-net %s: %s: TUNSETOFFLOAD 0x%x: %s", n->id, netbe_name(n->be),
			 offl, strerror(-ret));
	n->broken = n->rx_stalled = false;
	if (rxq->size) {
		/* Kicks for new receive buffers only once the device runs out. */
		vq_set_notify(rxq, false);
		net_watch(n, true);
	}
	return 0;
}

static void net_queue_notify(struct virtio_dev *vdev, uint16_t q)
{
	struct virtio_net *n = to_net(vdev);

	if (!vdev->active || n->broken)
		return;
	if (q == VIRTIO_NET_TXQ) {
		n->pass.kind = SP_TX_FRAMES;
		virtio_process_queue(vdev, q, n->tx_chain, net_tx_handle);
		net_pass_end(n);
		if (vdev->vqs[q].broken) {
			n->broken = true; /* virtio_process_queue() said so to the driver */
			net_watch(n, false);
		}
		return;
	}
	if (n->rx_stalled) {
		n->rx_stalled = false;
		vq_set_notify(&vdev->vqs[VIRTIO_NET_RXQ], false);
		net_watch(n, true);
	}
	net_rx(n, 0);
}

/*
 * A transmit pass is about to notify: hold the completion for as long as the
 * policy says (one timer for all completions held meanwhile), or notify now,
 * after what the policy does first.
 */
static bool net_hold_notify(struct virtio_dev *vdev, uint16_t q)
{
	struct virtio_net *n = to_net(vdev);
	struct itimerspec its = {0};
	long ns;

	if (q != VIRTIO_NET_TXQ)
		return false;
	ns = sp_hold_ns(vdev->sched, &n->pass);
	if (ns > 0) {
		its.it_value.tv_sec = ns / 1000000000L;
		its.it_value.tv_nsec = ns % 1000000000L;
		if (n->tx_held)
			return true; /* the timer already runs for an earlier one */
		if (timerfd_settime(n->hold_timer, 0, &its, NULL) == 0) {
			n->tx_held = true;
			return true;
		}
	}
	sp_before_notify(vdev->sched, &n->pass);
	return false;
}

static void net_hold_timer_event(void *opaque, uint32_t events)
{
	struct virtio_net *n = opaque;
	uint64_t expired;

	/* Non-blocking: nothing to read after a reset disarmed it. */
	if (read(n->hold_timer, &expired, sizeof(expired)) < 0 || !n->tx_held)
		return;
	n->tx_held = false;
	if (n->vdev.active && !n->broken)
		virtio_notify(&n->vdev, VIRTIO_NET_TXQ);
}

/* The limits' timer: what waited goes on (or waits again, for longer). */
static void net_limit_timer_event(void *opaque, uint32_t events)
{
	struct virtio_net *n = opaque;
	uint64_t expired;

	if (read(n->lim_timer, &expired, sizeof(expired)) < 0)
		return;
	n->lim_due = 0;
	if (!n->vdev.active || n->broken)
		return;
	if (n->tx_wait.on)
		virtio_requeue(&n->vdev, VIRTIO_NET_TXQ);
	if (n->rx_wait.on)
		net_rx(n, 0);
}

static void net_reset(struct virtio_dev *vdev)
{
	struct virtio_net *n = to_net(vdev);

	net_watch(n, false);
	if (n->rx_len)
		n->stats.drops[NET_DROP_RX_RESET]++;
	n->rx_len = n->rx_done = 0;
	n->rx_nused = 0;
	timerfd_settime(n->hold_timer, 0, &(struct itimerspec){0}, NULL);
	n->rx_spare = n->rx_stalled = n->broken = n->tx_held = false;
	if (n->lim_timer >= 0) {
		uint64_t now = net_now_ns();

		timerfd_settime(n->lim_timer, 0, &(struct itimerspec){0}, NULL);
		n->lim_due = 0;
		rl_wait_drop(&n->rx_lim, &n->rx_wait, now);
		rl_wait_drop(&n->tx_lim, &n->tx_wait, now);
	}
	if (netbe_set_offload(n->be, 0))
		return; /* only a tap that is gone refuses: nothing to undo */
}

/* Free n and its buffers (not the tap). */
static void net_free(struct virtio_net *n)
{
	if (n->hold_timer >= 0)
		close(n->hold_timer);
	if (n->lim_timer >= 0)
		close(n->lim_timer);
	free(n->rx_buf);
	free(n->tx_buf);
	free(n->rx_chain);
	free(n->tx_chain);
	free(n);
}

static void net_destroy(struct virtio_dev *vdev)
{
	struct virtio_net *n = to_net(vdev);

	net_stats_log(&n->stats, n->id);
	if (n->lim_timer >= 0) {
		log_debug("virtio-net %s: rate limits: rx %llu frames waited %llu ms, tx %llu "
			  "frames waited %llu ms", n->id, (unsigned long long)n->rx_lim.throttled,
			  (unsigned long long)(n->rx_lim.waited_ns / 1000000),
			  (unsigned long long)n->tx_lim.throttled,
			  (unsigned long long)(n->tx_lim.waited_ns / 1000000));
		ev_del(vdev->loop, n->lim_timer);
	}
	ev_del(vdev->loop, netbe_fd(n->be));
	ev_del(vdev->loop, n->hold_timer);
	netbe_close(n->be);
	net_free(n);
}

static const struct virtio_dev_ops net_ops = {
    .name = "virtio-net",
    .device_id = VIRTIO_ID_NET,
    .config_size = VIRTIO_NET_CFG_SIZE,
    .config_read = net_config_read,
    .config_write = net_config_write,
    .activate = net_activate,
    .queue_notify = net_queue_notify,
    .hold_notify = net_hold_notify,
    .reset = net_reset,
    .destroy = net_destroy,
};

static void net_fill_config(struct virtio_net *n, const uint8_t mac[6], unsigned int mtu)
{
	memcpy(n->config + VIRTIO_NET_CFG_MAC, mac, 6);
	n->config[VIRTIO_NET_CFG_STATUS] = VIRTIO_NET_S_LINK_UP;
	n->config[VIRTIO_NET_CFG_MAX_PAIRS] = 1;
	n->config[VIRTIO_NET_CFG_MTU] = (uint8_t)mtu;
	n->config[VIRTIO_NET_CFG_MTU + 1] = (uint8_t)(mtu >> 8);
}

int virtio_net_create_backend(struct virtio_dev **out, struct netbe *be, const uint8_t mac[6],
			      unsigned int mtu, unsigned int index, struct ev_loop *loop,
			      const struct guest_mem *gm)
{
	uint8_t def_mac[6];
	struct virtio_net *n;
	int ret = -ENOMEM;

	n = calloc(1, sizeof(*n));
	if (!n)
		goto err_tap;
	n->be = be;
	n->lim_timer = -1;
	n->hold_timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (n->hold_timer < 0) {
		ret = -errno;
		n->hold_timer = -1;
		goto err_free;
	}
	n->rx_buf = malloc(NET_RX_BUF);
	n->tx_buf = malloc(NET_HDR_LEN + NET_MAX_FRAME);
	n->rx_chain = malloc(sizeof(*n->rx_chain));
	n->tx_chain = malloc(sizeof(*n->tx_chain));
	if (!n->rx_buf || !n->tx_buf || !n->rx_chain || !n->tx_chain)
		goto err_free;
	snprintf(n->id, sizeof(n->id), "net%u", index);
	if (!mac) {
		net_default_mac(netbe_name(be), index, def_mac);
		mac = def_mac;
	}
	if (!mtu)
		mtu = netbe_mtu(be);
	net_fill_config(n, mac, mtu);
	n->vdev.ops = &net_ops;
	n->vdev.host_features = VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |
				VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) |
				VIRTIO_BIT(VQ_F_INDIRECT_DESC) | VIRTIO_BIT(VQ_F_EVENT_IDX) |
				net_offload_features(netbe_offloads(be));
	if (mtu >= NET_MTU_MIN && mtu <= NET_MTU_MAX)
		n->vdev.host_features |= VIRTIO_BIT(VIRTIO_NET_F_MTU);
	n->vdev.nr_queues = 2;
	n->vdev.queue_max = VIRTIO_NET_QUEUE_MAX;
	n->vdev.id = n->id;
	n->vdev.loop = loop;
	n->vdev.gm = gm;
	/* In the loop from the start, out of the epoll set until activation. */
	ret = ev_add(loop, netbe_fd(be), EPOLLIN, net_tap_event, n);
	if (ret)
		goto err_free;
	n->watching = true;
	net_watch(n, false);
	ret = ev_add(loop, n->hold_timer, EPOLLIN, net_hold_timer_event, n);
	if (ret) {
		ev_del(loop, netbe_fd(be));
		goto err_free;
	}
	*out = &n->vdev;
	return 0;

err_free:
	net_free(n);
err_tap:
	netbe_close(be);
	return ret;
}

int virtio_net_set_limits(struct virtio_dev *vdev, const struct limit_config *bw,
			  const struct limit_config *pps)
{
	struct virtio_net *n = to_net(vdev);
	uint64_t now = net_now_ns();
	int ret;

	if (n->lim_timer >= 0 || (!bw->rate && !pps->rate))
		return n->lim_timer >= 0 ? -EBUSY : 0;
	n->lim_timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (n->lim_timer < 0)
		return -errno;
	ret = ev_add(vdev->loop, n->lim_timer, EPOLLIN, net_limit_timer_event, n);
	if (ret) {
		close(n->lim_timer);
		n->lim_timer = -1;
		return ret;
	}
	rl_limiter_init(&n->rx_lim, pps->rate, pps->burst, bw->rate, bw->burst, now);
	rl_limiter_init(&n->tx_lim, pps->rate, pps->burst, bw->rate, bw->burst, now);
	return 0;
}

int virtio_net_create(struct virtio_dev **out, const struct net_config *cfg, unsigned int index,
		      struct ev_loop *loop, const struct guest_mem *gm, char *err, size_t errlen)
{
	struct netbe *be;
	struct tap *tap;
	int ret;

	if (cfg->user) {
		ret = passt_open_fd(&be, cfg->fd, cfg->mtu ? cfg->mtu : NET_USER_MTU, loop);
		if (ret) {
			snprintf(err, errlen, "--net user: %s", strerror(-ret));
			return ret;
		}
	} else {
		ret = tap_open(&tap, cfg, err, errlen);
		if (ret)
			return ret;
		be = tap_backend(tap);
	}
	ret = virtio_net_create_backend(out, be, cfg->has_mac ? cfg->mac : NULL, cfg->mtu, index,
					loop, gm);
	if (!ret) {
		virtio_net_set_egress(*out, &cfg->egress);
		ret = virtio_net_set_limits(*out, &cfg->bw, &cfg->pps);
		if (ret)
			(*out)->ops->destroy(*out);
	}
	if (ret && cfg->user)
		snprintf(err, errlen, "--net user: %s", strerror(-ret));
	else if (ret && cfg->ifname[0])
		snprintf(err, errlen, "--net tap=%s: %s", cfg->ifname, strerror(-ret));
	else if (ret)
		snprintf(err, errlen, "--net fd=%d: %s", cfg->fd, strerror(-ret));
	return ret;
}
