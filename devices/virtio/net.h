/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_DEVICES_VIRTIO_NET_H
#define KVMRUN_DEVICES_VIRTIO_NET_H

#include <stddef.h>
#include <stdint.h>

#include "kvmrun/compiler.h"
#include "kvmrun/virtio.h"
#include "kvmrun/config.h"
#include "kvmrun/exit_status.h"
#include "virtio/net_hdr.h"

struct tap;

/*
 * A virtio-net device (one receive and one transmit queue) on the tap that
 * cfg names or passes in; index is the --net position, for the default MAC
 * and the name in log lines ("net0"). On error returns -errno with one line
 * naming the option in err (exit status KVMRUN_ERR_INPUT for the caller,
 * KVMRUN_ERR_INTERNAL for -ENOMEM). Free with (*out)->ops->destroy(*out),
 * which logs the counters at debug level.
 */
int virtio_net_create(struct virtio_dev **out, const struct net_config *cfg, unsigned int index,
		      struct ev_loop *loop, const struct guest_mem *gm, char *err,
		      size_t errlen) WARN_UNUSED;

/*
 * The same on a backend the caller opened (tap_open_fd in tests and fuzzing),
 * which the device owns from this call on, even when it fails. mtu 0: the
 * tap's, and no MTU feature when that is unknown too.
 */
int virtio_net_create_tap(struct virtio_dev **out, struct tap *tap, const uint8_t mac[6],
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
