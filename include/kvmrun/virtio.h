/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_VIRTIO_H
#define KVMRUN_VIRTIO_H

/*
 * A virtio device as its transport sees it. A device file (blk.c, console.c,
 * net.c) fills a const struct virtio_dev_ops and embeds struct virtio_dev in
 * its own state (reach it with container_of). The transport (virtio_pci.c)
 * owns feature negotiation, the device status, the queue registers and the
 * struct vq array; the device owns what travels on the queues.
 *
 * Threads: config_read/config_write run on a vCPU thread with the transport's
 * mutex held. activate, queue_notify and reset run on the event-loop thread,
 * as does everything a device does with its queues and backend. A device
 * reports back through virtio_notify(), virtio_config_changed() and
 * virtio_needs_reset(), all of which are for the event-loop thread and take the
 * transport's mutex: never call them from config_read/config_write.
 *
 * Right after activate, the transport calls queue_notify once for every enabled
 * queue (kicks may have come before activation): devices must take extra calls.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmrun/compiler.h"
#include "kvmrun/virtqueue.h"

struct ev_loop;
struct guest_mem;
struct sp_policy;
struct virtio_dev;

/* Device types (virtio 1.x, section 5). */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_FS 26

/* Device status bits (section 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED 128

/* Transport-independent feature bits the transport offers or requires. */
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_ACCESS_PLATFORM 33

#define VIRTIO_BIT(n) (1ULL << (n))

struct virtio_dev_ops {
	const char *name; /* for log lines: "virtio-blk" */
	uint16_t device_id;
	/* Guest-visible config space size in bytes (0: none). */
	uint32_t config_size;
	/*
	 * The queues are served outside kvmrun (a vhost-user backend): the
	 * transport leaves each queue's doorbell eventfd unwatched, for the device
	 * to hand on (virtio_kick_fd), and never calls queue_notify. The device
	 * raises the queues' interrupts itself (virtio_notify).
	 */
	bool external_queues;
	/*
	 * Config space accesses, already bounds-checked by the transport
	 * (off + len <= config_size). vCPU thread, transport mutex held.
	 */
	void (*config_read)(struct virtio_dev *vdev, uint32_t off, void *data, uint32_t len);
	void (*config_write)(struct virtio_dev *vdev, uint32_t off, const void *data,
			     uint32_t len);
	/*
	 * DRIVER_OK was set: vdev->features is final and the queues the driver
	 * enabled are set up in vdev->vqs (size 0: not enabled). Start serving.
	 * A negative return marks the device NEEDS_RESET.
	 */
	int (*activate)(struct virtio_dev *vdev);
	/* The driver kicked queue q (q < nr_queues, and activated). */
	void (*queue_notify)(struct virtio_dev *vdev, uint16_t q);
	/*
	 * Optional: a pass of virtio_process_queue() served chains of queue q and
	 * is about to notify the driver. Return true to hold the notification
	 * back (the device then sends it itself later, virtio_notify). The
	 * device asks the scheduling policy (sched_policy.h). Loop thread.
	 */
	bool (*hold_notify)(struct virtio_dev *vdev, uint16_t q);
	/*
	 * Optional, for external_queues: while active, what virtio_queue_irq_fd() answers
	 * may have changed (the driver masked or unmasked an interrupt); the device asks
	 * again for its queues and hands the backend the new answer. Loop thread.
	 */
	void (*irqs_changed)(struct virtio_dev *vdev);
	/*
	 * Back to the state before activate: stop and forget all I/O in flight
	 * (completions that arrive later must not touch guest memory). The
	 * transport resets the queues afterwards.
	 */
	void (*reset)(struct virtio_dev *vdev);
	/* Free the device; the transport has reset it first when active. */
	void (*destroy)(struct virtio_dev *vdev);
};

/* Filled by the transport; devices use the helpers below. */
struct virtio_transport_ops {
	void (*notify_queue)(struct virtio_dev *vdev, uint16_t q);
	void (*config_changed)(struct virtio_dev *vdev);
	void (*needs_reset)(struct virtio_dev *vdev);
	/*
	 * Queue q has chains left that a pass did not take: have the loop call
	 * queue_notify(q) again, after the events already waiting. Loop thread.
	 */
	void (*requeue)(struct virtio_dev *vdev, uint16_t q);
	/*
	 * Queue q's doorbell: an eventfd signalled on every kick of the driver
	 * (by KVM, or by the transport), or -1. Owned by the transport; valid
	 * until the device is destroyed. For devices with external_queues.
	 */
	int (*kick_fd)(struct virtio_dev *vdev, uint16_t q);
	/*
	 * Optional: an eventfd that raises queue q's interrupt itself when written
	 * (no work for the loop), valid while the driver leaves that interrupt
	 * unmasked; -1 when the queue's interrupts must go through virtio_notify().
	 * The transport calls irqs_changed when the answer may have changed. Loop
	 * thread; for devices with external_queues.
	 */
	int (*queue_irq_fd)(struct virtio_dev *vdev, uint16_t q);
};

struct virtio_dev {
	const struct virtio_dev_ops *ops;
	/* Set by the device before handing it to a transport: */
	uint64_t host_features; /* what the device offers; VERSION_1 is added */
	uint16_t nr_queues;
	uint16_t queue_max; /* largest queue size the device accepts, power of two */
	const char *id;	    /* instance name for log lines ("vda"), may be NULL */
	struct ev_loop *loop;
	const struct guest_mem *gm;
	/* The policy a device reports its passes to (set by the VM, may be NULL: none). */
	struct sp_policy *sched;
	/* Owned by the transport: */
	uint64_t features; /* negotiated; valid from activate on */
	struct vq *vqs;	   /* nr_queues entries */
	bool active;
	const struct virtio_transport_ops *transport;
	void *transport_data;
	struct log_ratelimit rl; /* for guest-caused log lines */
};

static inline bool virtio_has_feature(const struct virtio_dev *vdev, unsigned int bit)
{
	return vdev->features & VIRTIO_BIT(bit);
}

/* Raise queue q's used-buffer interrupt (the caller checked vq_should_notify). */
static inline void virtio_notify(struct virtio_dev *vdev, uint16_t q)
{
	vdev->transport->notify_queue(vdev, q);
}

static inline int virtio_kick_fd(struct virtio_dev *vdev, uint16_t q)
{
	return vdev->transport->kick_fd ? vdev->transport->kick_fd(vdev, q) : -1;
}

static inline int virtio_queue_irq_fd(struct virtio_dev *vdev, uint16_t q)
{
	return vdev->transport->queue_irq_fd ? vdev->transport->queue_irq_fd(vdev, q) : -1;
}

static inline void virtio_config_changed(struct virtio_dev *vdev)
{
	vdev->transport->config_changed(vdev);
}

/*
 * The guest broke the device (a bad ring, a malformed request): log why,
 * rate-limited, and set NEEDS_RESET with a config interrupt. The device stops
 * processing until the driver resets it; the VM keeps running.
 */
void virtio_needs_reset(struct virtio_dev *vdev, const char *why);

/*
 * Serve the available chains of queue q with handle(), the race-free way (see
 * virtqueue.h), and notify the driver when it asks for it (unless the device's
 * hold_notify holds the notification back). handle() returns 0 when the chain was
 * pushed or kept for later completion, a negative errno to break the
 * device (needs reset), or VIRTIO_CHAIN_WAIT: the device cannot take the chain
 * yet (a rate limit); it goes back into the ring (vq_unpop), the pass ends with
 * the guest's kicks off and nothing requeued, and the device comes back to the
 * queue itself (virtio_requeue) when it can. chain is scratch space of the
 * caller's (one per queue). Returns the number of chains served.
 *
 * One pass takes at most one queue's worth (the queue size) and, when chains
 * are left, requeues the queue (transport requeue) with the guest's kicks
 * still off: a guest that posts as fast as the loop serves cannot hold the
 * loop, and its signals, other devices and ev_stop() get their turn.
 */
#define VIRTIO_CHAIN_WAIT 1
typedef int (*virtio_chain_fn)(struct virtio_dev *vdev, uint16_t q, struct vq_chain *chain);
unsigned int virtio_process_queue(struct virtio_dev *vdev, uint16_t q, struct vq_chain *chain,
				  virtio_chain_fn handle);
/*
 * The same with at most max chains in the pass (0 is allowed; never more than the
 * queue size) and no requeue:
 * *more says whether chains are left, the guest's kicks still off; the caller
 * must come back to the queue (virtio_requeue()), e.g. once it can take more.
 */
unsigned int virtio_process_queue_max(struct virtio_dev *vdev, uint16_t q,
				      struct vq_chain *chain, virtio_chain_fn handle,
				      unsigned int max, bool *more);

static inline void virtio_requeue(struct virtio_dev *vdev, uint16_t q)
{
	vdev->transport->requeue(vdev, q);
}

#endif
