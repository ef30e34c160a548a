// SPDX-License-Identifier: Apache-2.0
/* The event loop and transport of a fuzzed virtio device: see fuzz_device.h. */
#include "fuzz_device.h"

struct fuzz_device fuzz_dev;

int ev_add(struct ev_loop *loop, int fd, uint32_t events, ev_fn fn, void *opaque)
{
	(void)loop;
	fuzz_dev.fd = fd;
	fuzz_dev.fn = fn;
	fuzz_dev.opaque = opaque;
	fuzz_dev.events = events;
	return 0;
}

int ev_mod(struct ev_loop *loop, int fd, uint32_t events)
{
	(void)loop;
	(void)fd;
	fuzz_dev.events = events;
	return 0;
}

int ev_del(struct ev_loop *loop, int fd)
{
	(void)loop;
	(void)fd;
	fuzz_dev.fn = NULL;
	return 0;
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

static const struct virtio_transport_ops fuzz_transport = {
    .notify_queue = fuzz_notify,
    .config_changed = fuzz_config_changed,
    .needs_reset = fuzz_needs_reset,
};

void fuzz_device_attach(struct virtio_dev *vdev)
{
	vdev->transport = &fuzz_transport;
}
