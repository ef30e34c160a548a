// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-rng (virtio 1.x, section 5.4): one queue of device-writable buffers, each
 * filled from the host's getrandom().
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "kvmrun/virtio.h"
#include "virtio/devices.h"

#define VIRTIO_ID_RNG 4
#define RNG_QUEUE_SIZE 64
/* Bytes per chain at most (the device may fill less): larger buffers cost the loop no more. */
#define RNG_CHAIN_MAX (64u << 10)

struct virtio_rng {
	struct virtio_dev vdev;
	struct vq_chain chain;
};

static int rng_fill(struct virtio_dev *vdev, uint16_t q, struct vq_chain *c)
{
	uint32_t written = 0;

	for (unsigned int i = c->nr_out; i < c->nr_out + c->nr_in; i++) {
		const struct vq_buf *b = &c->bufs[i];
		size_t want = MIN(b->len, RNG_CHAIN_MAX - written);
		ssize_t n = want ? getrandom(b->host, want, GRND_NONBLOCK) : 0;

		if (n <= 0)
			break;
		written += (uint32_t)n;
		if ((uint32_t)n < b->len)
			break;
	}
	return vq_push(&vdev->vqs[q], c->head, written);
}

static void rng_queue_notify(struct virtio_dev *vdev, uint16_t q)
{
	struct virtio_rng *r = container_of(vdev, struct virtio_rng, vdev);

	virtio_process_queue(vdev, q, &r->chain, rng_fill);
}

static int rng_activate(struct virtio_dev *vdev)
{
	(void)vdev;
	return 0;
}

static void rng_reset(struct virtio_dev *vdev)
{
	(void)vdev; /* nothing in flight: every chain is pushed when popped */
}

static void rng_destroy(struct virtio_dev *vdev)
{
	free(container_of(vdev, struct virtio_rng, vdev));
}

static const struct virtio_dev_ops rng_ops = {
    .name = "virtio-rng",
    .device_id = VIRTIO_ID_RNG,
    .config_size = 0,
    .activate = rng_activate,
    .queue_notify = rng_queue_notify,
    .reset = rng_reset,
    .destroy = rng_destroy,
};

int virtio_rng_create(struct virtio_dev **out, struct ev_loop *loop, const struct guest_mem *gm)
{
	struct virtio_rng *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->vdev.ops = &rng_ops;
	r->vdev.host_features = VIRTIO_BIT(VQ_F_INDIRECT_DESC) | VIRTIO_BIT(VQ_F_EVENT_IDX);
	r->vdev.nr_queues = 1;
	r->vdev.queue_max = RNG_QUEUE_SIZE;
	r->vdev.loop = loop;
	r->vdev.gm = gm;
	*out = &r->vdev;
	return 0;
}
