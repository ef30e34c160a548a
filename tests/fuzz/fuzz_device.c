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

void fuzz_device_attach(struct virtio_dev *vdev)
{
	/* The chains a pass left stay in the ring: the input's next kick takes them. */
	fake_transport_attach(&fuzz_dev.ft, vdev);
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
