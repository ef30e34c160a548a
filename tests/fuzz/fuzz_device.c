// SPDX-License-Identifier: Apache-2.0
/* The transport and policy of a fuzzed virtio device: see fuzz_device.h. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_device.h"

struct fuzz_device fuzz_dev;

/* The policy holds the completion of a single frame while the harness preempts. */
static long fuzz_hold(const struct sp_pass *pass, void *opaque)
{
	(void)opaque;
	return fuzz_dev.preempting && pass->count == 1 ? 4000000L : 0;
}

static void fuzz_notify(struct virtio_dev *vdev, uint16_t q)
{
	(void)vdev;
	(void)q;
}

static void fuzz_config_changed(struct virtio_dev *vdev)
{
	(void)vdev;
}

static void fuzz_needs_reset(struct virtio_dev *vdev)
{
	(void)vdev;
	fuzz_dev.broken = true;
}

/* The chains a pass left stay in the ring: the input's next kick takes them. */
static void fuzz_requeue(struct virtio_dev *vdev, uint16_t q)
{
	(void)vdev;
	(void)q;
}

static const struct virtio_transport_ops fuzz_transport = {
    .notify_queue = fuzz_notify,
    .config_changed = fuzz_config_changed,
    .needs_reset = fuzz_needs_reset,
    .requeue = fuzz_requeue,
};

void fuzz_device_attach(struct virtio_dev *vdev)
{
	vdev->transport = &fuzz_transport;
	fake_loop.hold = fuzz_hold;
}

uint8_t fuzz_device_load(struct virtio_dev *vdev, uint8_t *ram, size_t ram_size,
			 const uint8_t *data, size_t size)
{
	uint8_t feat = data[0];

	memset(ram, 0, ram_size);
	memcpy(ram, data + 1, size - 1 < ram_size ? size - 1 : ram_size);
	vdev->features = vdev->host_features;
	if (!(feat & 1))
		vdev->features &= ~VIRTIO_BIT(VQ_F_EVENT_IDX);
	if (!(feat & 2))
		vdev->features &= ~VIRTIO_BIT(VQ_F_INDIRECT_DESC);
	return feat;
}
