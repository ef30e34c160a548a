// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the virtio-blk request path. The input is one byte of
 * negotiated features and then guest RAM: a 16-entry queue whose descriptor
 * table, avail ring and request buffers all come from the input. The device
 * serves the queue against a 64 KiB image in a memfd (through the real AIO
 * backend), the completions are reaped, and the device is reset with
 * whatever is still in flight. A fake transport and event loop stand in for
 * the rest of the VMM.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvmrun/event_loop.h"
#include "kvmrun/guest_mem.h"
#include "fuzz_device.h"
#include "kvmrun/log.h"
#include "virtio/blk.h"

#define QSZ 16
#define DESC_GPA FUZZ_RAM_GPA
#define AVAIL_GPA (FUZZ_RAM_GPA + 0x100)
#define USED_GPA (FUZZ_RAM_GPA + 0x200)
#define IMG_SIZE (64 * 1024)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct disk_config cfg = {.cache = DISK_CACHE_WRITEBACK};
	struct virtio_dev *vdev;
	char err[256];
	int mfd;

	log_set_level(LOG_ERROR);
	mfd = memfd_create("fuzz-disk", MFD_CLOEXEC);
	if (mfd < 0 || ftruncate(mfd, IMG_SIZE) < 0)
		abort();
	snprintf(cfg.path, sizeof(cfg.path), "/proc/self/fd/%d", mfd);
	if (virtio_blk_create(&vdev, &cfg, 1, NULL, &fuzz_dev.gm, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	close(mfd); /* the device holds its own descriptor */
	fuzz_device_attach(vdev);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vq vq;
	struct virtio_dev *vdev = fuzz_dev.vdev;
	struct pollfd pfd;
	uint8_t feat;

	if (size < 1)
		return 0;
	feat = fuzz_device_load(data, size);
	if (!(feat & 4))
		vdev->features &=
		    ~(VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) | VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES));
	if (feat & 8)
		vdev->features |= VIRTIO_BIT(VIRTIO_BLK_F_RO);
	if (vq_setup(&vq, &fuzz_dev.gm, QSZ, DESC_GPA, AVAIL_GPA, USED_GPA, vdev->features))
		abort();
	fuzz_device_start(&vq);
	for (unsigned int round = 0; round < 2; round++) {
		vdev->ops->queue_notify(vdev, 0);
		/* Reap what completed; never wait: the rest is drained by the reset. */
		pfd = (struct pollfd){.fd = fake_loop.w[0].fd, .events = POLLIN};
		if (fake_loop.w[0].fn && poll(&pfd, 1, 0) == 1)
			fake_loop.w[0].fn(fake_loop.w[0].opaque, POLLIN);
		fuzz_device_check(&vq, 1);
	}
	fuzz_device_stop(&vq, 1);
	return 0;
}
