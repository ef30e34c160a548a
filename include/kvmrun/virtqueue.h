/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_VIRTQUEUE_H
#define KVMRUN_VIRTQUEUE_H

/*
 * Split virtqueue (virtio 1.x, section 2.7), device side. Transport- and
 * device-independent; every function runs on the event-loop thread only.
 *
 * The guest owns the rings and may rewrite them at any time: a popped request
 * is the VMM's own copy of the chain, checked once when it is popped. When the
 * guest breaks the queue, vq_pop() returns -EIO, vq->broken is set, and every
 * later call fails fast until vq_reset() or vq_setup(); the caller then marks
 * the device NEEDS_RESET.
 *
 * Processing pattern (race-free for both notification schemes):
 *
 *	vq_set_notify(vq, false);
 *	for (;;) {
 *		while ((ret = vq_pop(vq, chain)) == 0)
 *			handle(chain);		// eventually vq_push(vq, head, n)
 *		if (ret != -EAGAIN)
 *			break;			// -EIO: device needs reset
 *		vq_set_notify(vq, true);
 *		if (!vq_avail_pending(vq))
 *			break;
 *		vq_set_notify(vq, false);
 *	}
 *	if (vq_should_notify(vq))
 *		raise the queue interrupt;
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmrun/compiler.h"
#include "kvmrun/log.h"

struct guest_mem;

/* Descriptor flags. */
#define VQ_DESC_F_NEXT 1
#define VQ_DESC_F_WRITE 2
#define VQ_DESC_F_INDIRECT 4

/* avail->flags (driver -> device) and used->flags (device -> driver). */
#define VQ_AVAIL_F_NO_INTERRUPT 1
#define VQ_USED_F_NO_NOTIFY 1

/* Feature bits the virtqueue core looks at. */
#define VQ_F_INDIRECT_DESC 28
#define VQ_F_EVENT_IDX 29

/* Largest queue size the spec allows for a split ring. */
#define VQ_MAX_SIZE 32768
/*
 * Most buffers in one chain, and most entries in one indirect table (the same
 * bound as QEMU's and Linux's UIO_MAXIOV). A device must advertise a seg_max
 * that keeps the guest below it; longer chains break the queue.
 */
#define VQ_MAX_CHAIN 1024

/* Ring alignment and sizes in bytes for a queue of n entries. */
#define VQ_DESC_ALIGN 16
#define VQ_AVAIL_ALIGN 2
#define VQ_USED_ALIGN 4
#define VQ_DESC_BYTES(n) (16ULL * (n))
#define VQ_AVAIL_BYTES(n) (6ULL + 2ULL * (n))
#define VQ_USED_BYTES(n) (6ULL + 8ULL * (n))

struct vq {
	const struct guest_mem *gm;
	uint16_t size; /* 0: not set up */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	bool event_idx, indirect;

	/* Device-side state; guest memory is never trusted for any of it. */
	uint16_t last_avail;	 /* next avail ring entry to pop */
	uint16_t used_idx;	 /* next used ring entry to fill */
	uint16_t signalled_used; /* used_idx at the last notification decision */
	bool signalled_valid;
	bool notify; /* the device wants kicks (vq_set_notify) */
	bool broken;
	const char *broken_why; /* what the guest did, for logs and tests */
	unsigned int nr_inflight;
	uint64_t *inflight; /* bitmap of heads popped and not yet pushed */

	/* Host views of the rings, checked in vq_setup(). */
	uint8_t *desc, *avail, *used;

	struct log_ratelimit rl;
};

/* One guest buffer of a popped chain; host is valid for len bytes. */
struct vq_buf {
	uint64_t gpa;
	void *host;
	uint32_t len;
	bool write;
};

/*
 * A popped chain: bufs[0, nr_out) are device-readable, bufs[nr_out, nr_out +
 * nr_in) device-writable; out_len and in_len are their byte totals. Large
 * (VQ_MAX_CHAIN buffers): keep one per queue, not one per call frame in a loop.
 */
struct vq_chain {
	uint16_t head;
	unsigned int nr_out, nr_in;
	uint32_t out_len, in_len;
	struct vq_buf bufs[VQ_MAX_CHAIN];
};

/*
 * Check the guest's ring addresses and start the queue with all indices at 0.
 * size: power of two, 1..VQ_MAX_SIZE; each ring aligned, entirely inside one
 * RAM region, and not overlapping the others. features: the negotiated ones.
 * vq must be zeroed or set up before (it is replaced). Returns 0, -EINVAL or
 * -ENOMEM; on error vq is left cleaned up.
 */
int vq_setup(struct vq *vq, const struct guest_mem *gm, uint16_t size, uint64_t desc,
	     uint64_t avail, uint64_t used, uint64_t features) WARN_UNUSED;

/* Back to the state right after vq_setup(): indices 0, nothing in flight, not broken. */
void vq_reset(struct vq *vq);

/* Free everything and zero vq; safe on a zeroed or cleaned-up vq. */
void vq_cleanup(struct vq *vq);

/*
 * Take the next available chain. 0 with *c filled, -EAGAIN when none is
 * available, -EIO when the guest broke the queue (or it was already broken),
 * -ENODEV when the queue is not set up. *c is garbage unless 0 is returned.
 */
int vq_pop(struct vq *vq, struct vq_chain *c) WARN_UNUSED;

/*
 * Put the chain just popped (head, no pop since) back into the ring: the next
 * vq_pop takes it again, read and checked anew. For a device that must wait
 * before it can take a request (a rate limit). 0, or -EINVAL when head is not
 * in flight (the caller makes sure it is the last one popped).
 */
int vq_unpop(struct vq *vq, uint16_t head) WARN_UNUSED;

/* True when the guest has posted chains not yet popped (or broke the index). */
bool vq_avail_pending(const struct vq *vq);

/*
 * Return a popped chain: written bytes were written into its writable part.
 * 0, -EINVAL when head is not in flight, -EIO when the queue is broken.
 */
int vq_push(struct vq *vq, uint16_t head, uint32_t written) WARN_UNUSED;

/* One used-ring entry for vq_push_batch(). */
struct vq_used {
	uint16_t head;
	uint32_t written;
};

/*
 * Return n popped chains at once: the driver sees all of them or none (one
 * used index store). For devices whose one answer spans several chains
 * (virtio-net's merged receive buffers). 0, -EINVAL when a head is not in
 * flight or appears twice (nothing is pushed), -EIO when the queue is broken.
 */
int vq_push_batch(struct vq *vq, const struct vq_used *used, unsigned int n) WARN_UNUSED;

/* After a batch of vq_push(): does the driver want an interrupt now? */
bool vq_should_notify(struct vq *vq);

/* Ask the driver for kicks (true) or to stop them (false); advisory only. */
void vq_set_notify(struct vq *vq, bool enable);

/* The EVENT_IDX rule: has the index moved from old to new_idx past event? */
static inline bool vq_need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

/*
 * Copy from the readable part of c starting at byte offset, or into its
 * writable part. Return the bytes copied: less than len when the part ends.
 */
size_t vq_chain_read(const struct vq_chain *c, size_t offset, void *dst, size_t len);
size_t vq_chain_write(const struct vq_chain *c, size_t offset, const void *src, size_t len);

#endif
