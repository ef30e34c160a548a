/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_DEVICES_VIRTIO_NET_H
#define KVMRUN_DEVICES_VIRTIO_NET_H

#include <stddef.h>
#include <stdint.h>

#include "kvmrun/compiler.h"
#include "kvmrun/virtio.h"
#include "kvmrun/config.h"
#include "kvmrun/exit_status.h"
#include "virtio/devices.h"
#include "virtio/net_hdr.h"

struct netbe;

/*
 * The same on a backend the caller opened (tap_open_fd in tests and fuzzing),
 * which the device owns from this call on, even when it fails. mtu 0: the
 * backend's, and no MTU feature when that is unknown too.
 */
int virtio_net_create_backend(struct virtio_dev **out, struct netbe *be, const uint8_t mac[6],
			      unsigned int mtu, unsigned int index, struct ev_loop *loop,
			      const struct guest_mem *gm) WARN_UNUSED;

/* The device's counters (for tests; the device logs them when destroyed). */
const struct net_stats *virtio_net_stats(const struct virtio_dev *vdev);

/* Config space (struct virtio_net_config, little-endian). */
#define VIRTIO_NET_CFG_MAC 0
#define VIRTIO_NET_CFG_STATUS 6
#define VIRTIO_NET_CFG_MAX_PAIRS 8
#define VIRTIO_NET_CFG_MTU 10
#define VIRTIO_NET_CFG_SIZE 12

#define VIRTIO_NET_QUEUE_MAX 256
#define VIRTIO_NET_RXQ 0
#define VIRTIO_NET_TXQ 1

#endif
