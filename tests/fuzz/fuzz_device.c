// SPDX-License-Identifier: Apache-2.0
/* The RAM, transport and policy of a fuzzed virtio device: see fuzz_device.h. */
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
	fuzz_dev.vdev = vdev;
	fuzz_dev.ram = fake_ram_map(&fuzz_dev.gm, FUZZ_RAM_GPA, FUZZ_RAM_SIZE);
	if (!fuzz_dev.ram)
		abort();
	/* The chains a pass left stay in the ring: the input's next kick takes them. */
	fake_transport_attach(&fuzz_dev.ft, vdev);
	fake_loop.hold = fuzz_hold;
}

uint8_t fuzz_device_load(const uint8_t *data, size_t size)
{
	struct virtio_dev *vdev = fuzz_dev.vdev;
	uint8_t feat = data[0];

	memset(fuzz_dev.ram, 0, FUZZ_RAM_SIZE);
	memcpy(fuzz_dev.ram, data + 1, size - 1 < FUZZ_RAM_SIZE ? size - 1 : FUZZ_RAM_SIZE);
	vdev->features = vdev->host_features;
	if (!(feat & 1))
		vdev->features &= ~VIRTIO_BIT(VQ_F_EVENT_IDX);
	if (!(feat & 2))
		vdev->features &= ~VIRTIO_BIT(VQ_F_INDIRECT_DESC);
	return feat;
}

void fuzz_device_start(struct vq *vqs)
{
	struct virtio_dev *vdev = fuzz_dev.vdev;

	vdev->vqs = vqs;
	vdev->active = true;
	fuzz_dev.ft.needs_reset = 0;
	if (vdev->ops->activate(vdev))
		abort();
}

void fuzz_device_check(const struct vq *vqs, unsigned int n)
{
	bool broken = false;

	for (unsigned int q = 0; q < n; q++)
		broken |= vqs[q].broken;
	if ((fuzz_dev.ft.needs_reset != 0) != broken)
		abort(); /* a broken queue always means needs-reset, and back */
}

void fuzz_device_stop(struct vq *vqs, unsigned int n)
{
	struct virtio_dev *vdev = fuzz_dev.vdev;

	vdev->ops->reset(vdev);
	vdev->active = false;
	for (unsigned int q = 0; q < n; q++)
		vq_cleanup(&vqs[q]);
}
