/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a fuzzed virtio device sees of the rest of kvmrun (fuzz_device.c): guest
 * RAM of FUZZ_RAM_SIZE bytes at FUZZ_RAM_GPA, the recording event loop of
 * fake_loop.h (watch 0 is the first descriptor the device watched: the harness
 * fires it), a scheduling policy that holds as the harness sets it, and the
 * recording transport of fake_transport.h (a requeued queue is left for the
 * input's next kick). One device per process.
 */
#ifndef FUZZ_DEVICE_H
#define FUZZ_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmrun/guest_mem.h"
#include "kvmrun/virtio.h"

#include "fake_loop.h"
#include "fake_ram.h"
#include "fake_transport.h"
#include "fuzz_target.h"

#define FUZZ_RAM_GPA 0x100000ULL
#define FUZZ_RAM_SIZE (64 * 1024)

struct fuzz_device {
	struct virtio_dev *vdev;
	struct guest_mem gm; /* the device's: create it on this */
	uint8_t *ram;
	struct fake_transport ft; /* needs_reset: the device called virtio_needs_reset */
	bool preempting;	  /* the policy holds completions of single frames */
};

extern struct fuzz_device fuzz_dev;

/* Map the RAM, give vdev the recording transport, and the policy its hold; aborts if it cannot. */
void fuzz_device_attach(struct virtio_dev *vdev);

/*
 * Start an input: data[0] chooses features (bit 0 EVENT_IDX, bit 1
 * INDIRECT_DESC; the caller reads the others), the rest is guest RAM (zero
 * past the input). Sets vdev->features from host_features; returns data[0].
 * size must be at least 1.
 */
uint8_t fuzz_device_load(const uint8_t *data, size_t size);

/* Activate the device on its queues (set up by the caller), as DRIVER_OK does. */
void fuzz_device_start(struct vq *vqs);

/* Abort unless the device asked for a reset exactly when one of these n queues broke. */
void fuzz_device_check(const struct vq *vqs, unsigned int n);

/* Reset the device, as its driver does, and clean up its n queues. */
void fuzz_device_stop(struct vq *vqs, unsigned int n);

#endif
