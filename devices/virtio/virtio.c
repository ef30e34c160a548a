// SPDX-License-Identifier: Apache-2.0
/* What every virtio device shares, whatever its transport. */
#include <errno.h>
#include <limits.h>

#include "kvmrun/event_loop.h"
#include "kvmrun/log.h"
#include "kvmrun/virtio.h"

void virtio_needs_reset(struct virtio_dev *vdev, const char *why)
{
	log_ratelimited(&vdev->rl, LOG_WARN, "%s%s%s: guest error, device needs reset: %s",
			vdev->ops->name, vdev->id ? " " : "", vdev->id ? vdev->id : "", why);
	vdev->transport->needs_reset(vdev);
}

unsigned int virtio_process_queue_max(struct virtio_dev *vdev, uint16_t q,
				      struct vq_chain *chain, virtio_chain_fn handle,
				      unsigned int max, bool *more)
{
	struct vq *vq = &vdev->vqs[q];
	unsigned int served = 0;
	int ret = -EAGAIN;

	*more = false;
	if (!vdev->active || vq->size == 0 || vq->broken)
		return 0;
	max = MIN(max, vq->size);
	vq_set_notify(vq, false);
	for (;;) {
		while (served < max) {
			ret = vq_pop(vq, chain);
			if (ret)
				break;
			served++;
			ret = handle(vdev, q, chain);
			if (ret == VIRTIO_CHAIN_WAIT) {
				if (!vq_unpop(vq, chain->head)) {
					served--;
					break;
				}
				ret = -EINVAL;
			}
			if (ret) {
				vq->broken = true;
				break;
			}
			ret = -EAGAIN;
		}
		if (ret == VIRTIO_CHAIN_WAIT)
			break; /* the kicks stay off: the device comes back */
		if (ret != -EAGAIN)
			break;
		if (served == max && vq_avail_pending(vq)) {
			*more = true; /* the kicks stay off: the caller comes back */
			break;
		}
		vq_set_notify(vq, true);
		if (!vq_avail_pending(vq))
			break;
		vq_set_notify(vq, false);
	}
	if (vq_should_notify(vq) &&
	    !(served && vdev->ops->hold_notify && vdev->ops->hold_notify(vdev, q)))
		virtio_notify(vdev, q);
	if (ret != -EAGAIN && ret != VIRTIO_CHAIN_WAIT)
		virtio_needs_reset(vdev, vq->broken_why ? vq->broken_why : "bad request");
	return served;
}

unsigned int virtio_process_queue(struct virtio_dev *vdev, uint16_t q, struct vq_chain *chain,
				  virtio_chain_fn handle)
{
	bool more;
	unsigned int served = virtio_process_queue_max(vdev, q, chain, handle, UINT_MAX, &more);

	if (more)
		virtio_requeue(vdev, q);
	return served;
}
