/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The virtio devices' constructors, all of one shape: each fills *out with a
 * device ready for a transport (virtio_pci_create), which owns it from then on.
 * Until then the caller frees it with (*out)->ops->destroy(*out).
 */
#ifndef KVMRUN_DEVICES_VIRTIO_DEVICES_H
#define KVMRUN_DEVICES_VIRTIO_DEVICES_H

#include <stddef.h>
#include <stdint.h>
#include "kvmrun/compiler.h"

struct console;
struct disk_config;
struct ev_loop;
struct guest_mem;
struct net_config;
struct share_config;
struct virtio_dev;

/*
 * virtio-console with one port (hvc0 in a Linux guest): the driver's output
 * goes to console_write(), the console's input into the receive buffers the
 * driver posts. Attaches itself as con's input (replacing any earlier device
 * there, such as the UART); detaches on destroy.
 */
int virtio_console_create(struct virtio_dev **out, struct console *con, struct ev_loop *loop,
			  const struct guest_mem *gm) WARN_UNUSED;

/* virtio-rng: one queue filled from getrandom(). */
int virtio_rng_create(struct virtio_dev **out, struct ev_loop *loop,
		      const struct guest_mem *gm) WARN_UNUSED;

#define VIRTIO_BLK_MAX_QUEUES 64 /* request queues: one per vCPU, up to this */
/*
 * A virtio-blk device on the raw image cfg->path, with nr_queues request
 * queues (1..VIRTIO_BLK_MAX_QUEUES; more than one is offered as
 * VIRTIO_BLK_F_MQ, so that a guest can give each vCPU its own queue and
 * interrupt). Opens and locks the image and registers its completion eventfd
 * with loop. On error returns -errno with one line naming the file in err
 * (exit status KVMRUN_ERR_INPUT for the caller). Free with
 * (*out)->ops->destroy(*out).
 */
int virtio_blk_create(struct virtio_dev **out, const struct disk_config *cfg, uint16_t nr_queues,
		      struct ev_loop *loop, const struct guest_mem *gm, char *err,
		      size_t errlen) WARN_UNUSED;

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
 * A virtio-fs device (one high-priority and one request queue) for cfg, served by
 * the vhost-user backend on the connected socket sock_fd (taken over: closed on
 * error too). The tag in the config space is cfg->tag. Talks to the backend
 * before returning (its features; each reply waited for up to 30 s). On error
 * returns -errno with one line naming the option in err (-ENOMEM: out of memory;
 * anything else: the backend did not answer as it should). Free with
 * (*out)->ops->destroy(*out).
 */
int virtio_fs_create(struct virtio_dev **out, const struct share_config *cfg, int sock_fd,
		     struct ev_loop *loop, const struct guest_mem *gm, char *err,
		     size_t errlen) WARN_UNUSED;

#endif
