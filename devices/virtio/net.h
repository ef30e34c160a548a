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

/*
 * The NIC's egress policy (backend/egress.h), which must outlive the device;
 * NULL or one without deny: everything goes, unchecked. virtio_net_create sets
 * the one of its config.
 */
void virtio_net_set_egress(struct virtio_dev *vdev, const struct egress_policy *p);
struct rl_limiter;

/*
 * Rate limits on both directions, bw bytes and pps frames a second each (rate 0:
 * none), once, on the loop thread; 0 or -errno (-EBUSY: already set).
 */
int virtio_net_set_limits(struct virtio_dev *vdev, const struct limit_config *bw,
			  const struct limit_config *pps) WARN_UNUSED;

/* The limiters of receive and transmit and their counters; NULL without limits. */
void virtio_net_limiters(const struct virtio_dev *vdev, const struct rl_limiter **rx,
			 const struct rl_limiter **tx);

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
