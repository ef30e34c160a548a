/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_DEVICES_BACKEND_NETBE_H
#define KVMRUN_DEVICES_BACKEND_NETBE_H

/*
 * The host side of a virtio-net device: a tap (tap.c) or passt (passt.c).
 * virtio-net sees one frame per call, always behind a 12-byte virtio 1.x
 * header (with num_buffers); a backend without headers makes and strips
 * them, and offers no offloads, so that the guest computes its checksums
 * and sends no GSO frame. All calls but the opening ones are for the
 * event-loop thread.
 */
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "kvmrun/compiler.h"

#define NETBE_HDR_LEN 12

struct netbe;

struct netbe_ops {
	/* The descriptor the event loop watches for received frames. */
	int (*fd)(const struct netbe *be);
	/*
	 * One frame with its header: bytes read, or -errno (-EAGAIN: none yet). After
	 * -EAGAIN buf may hold part of the next frame: the caller passes the same buf
	 * and len, unchanged, to the next read.
	 */
	ssize_t (*read)(struct netbe *be, void *buf, size_t len);
	/* One frame with its header: bytes taken, or -errno. */
	ssize_t (*writev)(struct netbe *be, const struct iovec *iov, int iovcnt);
	/* For log lines: "tap0", "passt". */
	const char *(*name)(const struct netbe *be);
	/* TUN_F_* flags the backend can take (0: none), and which the guest takes now. */
	unsigned int (*offloads)(const struct netbe *be);
	int (*set_offload)(struct netbe *be, unsigned int flags);
	/* The link's MTU, or 0 when unknown. */
	unsigned int (*mtu)(const struct netbe *be);
	void (*close)(struct netbe *be);
};

/* Embedded first in each backend's own struct. */
struct netbe {
	const struct netbe_ops *ops;
};

static inline int netbe_fd(const struct netbe *be)
{
	return be->ops->fd(be);
}

static inline ssize_t netbe_read(struct netbe *be, void *buf, size_t len)
{
	return be->ops->read(be, buf, len);
}

static inline ssize_t netbe_writev(struct netbe *be, const struct iovec *iov, int iovcnt)
{
	return be->ops->writev(be, iov, iovcnt);
}

static inline const char *netbe_name(const struct netbe *be)
{
	return be->ops->name(be);
}

static inline unsigned int netbe_offloads(const struct netbe *be)
{
	return be->ops->offloads(be);
}

static inline int netbe_set_offload(struct netbe *be, unsigned int flags)
{
	return be->ops->set_offload(be, flags);
}

static inline unsigned int netbe_mtu(const struct netbe *be)
{
	return be->ops->mtu(be);
}

static inline void netbe_close(struct netbe *be)
{
	if (be)
		be->ops->close(be);
}

#endif
