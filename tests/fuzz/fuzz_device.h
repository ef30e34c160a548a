/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a fuzzed virtio device sees of the rest of kvmrun (fuzz_device.c): the
 * recording event loop of fake_loop.h (watch 0 is the first descriptor the
 * device watched: the harness fires it), a scheduling policy that holds as the
 * harness sets it, and the recording transport of fake_transport.h (a
 * requeued queue is left for the input's next kick). One device per process.
 */
#ifndef FUZZ_DEVICE_H
#define FUZZ_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmrun/virtio.h"

#include "fake_loop.h"
#include "fake_ram.h"
#include "fake_transport.h"

struct fuzz_device {
	struct fake_transport ft; /* needs_reset: the device called virtio_needs_reset */
	bool preempting;	  /* the policy holds completions of single frames */
};

extern struct fuzz_device fuzz_dev;

/* Give vdev the recording transport, and the policy its hold. */
void fuzz_device_attach(struct virtio_dev *vdev);

/*
 * Start an input: data[0] chooses features (bit 0 EVENT_IDX, bit 1
 * INDIRECT_DESC; the caller reads the others), the rest is guest RAM (zero
 * past the input). Sets vdev->features from host_features; returns data[0].
 * size must be at least 1.
 */
uint8_t fuzz_device_load(struct virtio_dev *vdev, uint8_t *ram, size_t ram_size,
			 const uint8_t *data, size_t size);

#endif
