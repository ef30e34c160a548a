// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-fs (virtio 1.x, section 5.11): a host directory the guest mounts by its tag.
 * kvmrun serves no request itself. A virtiofsd process gets the queues over
 * vhost-user (vhost/vhost_user.h), with guest RAM as file descriptors and each
 * queue's doorbell eventfd, and reads and writes the rings directly. kvmrun keeps
 * the config space, hands the queues over when the driver sets DRIVER_OK, takes them
 * back at reset. The backend's used-buffer signals go straight to the queue's
 * interrupt when the transport offers its eventfd (virtio_queue_irq_fd: MSI-X on and
 * the vector unmasked), so they cost kvmrun nothing. Otherwise, and whenever the
 * driver masks the vector later (irqs_changed: the queue's call fd is switched with
 * SET_VRING_CALL, and back on unmask), they go to a relay: one eventfd per queue,
 * watched by the loop, becomes virtio_notify(), so the transport's MSI-X masking and
 * ISR hold for these queues as for any other. The switch happens on the loop, a
 * little after the driver's mask write (the transport says what that window costs).
 *
 * The backend is another process: if it hangs up, writes without being asked, or
 * fails a request, only this device is marked NEEDS_RESET (rate-limited warning)
 * and the VM runs on.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kvmrun/config.h"
#include "kvmrun/event_loop.h"
#include "kvmrun/log.h"
#include "kvmrun/virtio.h"
#include "vhost/vhost_user.h"
#include "virtio/devices.h"

#define FS_NR_REQUEST_QUEUES 1
#define FS_NR_QUEUES (1 + FS_NR_REQUEST_QUEUES) /* hiprio first, then the request queues */
#define FS_QUEUE_SIZE 1024
/* Config space: tag[36], NUL-padded, then le32 num_request_queues. */
#define FS_CONFIG_NUM_QUEUES SHARE_TAG_MAX
#define FS_CONFIG_SIZE (SHARE_TAG_MAX + 4)
/* Each reply of the backend; virtiofsd starts slowly on a loaded host. */
#define FS_TIMEOUT_MS 30000
/* The standard ring features: the backend serves the rings, so it decides. */
#define FS_RING_FEATURES (VIRTIO_BIT(VQ_F_INDIRECT_DESC) | VIRTIO_BIT(VQ_F_EVENT_IDX))

struct virtio_fs;

/* A queue's used-buffer signal from the backend. */
struct fs_call {
	struct virtio_fs *fs;
	uint16_t q;
	int fd;	 /* the relay */
	int cur; /* what the backend signals: fd, or the interrupt's own eventfd */
};

struct virtio_fs {
	struct virtio_dev vdev;
	struct vu_conn *conn;
	char tag[SHARE_TAG_MAX + 1];
	uint8_t config[FS_CONFIG_SIZE];
	struct fs_call calls[FS_NR_QUEUES];
	bool started[FS_NR_QUEUES]; /* handed to the backend, not stopped since */
	bool watching;		    /* the loop watches the socket */
	bool gone;		    /* the backend hung up or talked unasked */
};

static void fs_config_read(struct virtio_dev *vdev, uint32_t off, void *data, uint32_t len)
{
	struct virtio_fs *fs = container_of(vdev, struct virtio_fs, vdev);

	if (off > FS_CONFIG_SIZE || len > FS_CONFIG_SIZE - off) {
		memset(data, 0, len);
		return;
	}
	memcpy(data, fs->config + off, len);
}

/* Every field is read-only: writes are ignored. */
static void fs_config_write(struct virtio_dev *vdev, uint32_t off, const void *data, uint32_t len)
{
	(void)vdev;
	(void)off;
	(void)data;
	(void)len;
}

/* The backend used buffers of queue q: the driver gets the queue's interrupt. */
static void fs_call(void *opaque, uint32_t events)
{
	struct fs_call *c = opaque;
	struct virtio_fs *fs = c->fs;

	(void)events; /* edge-triggered and never read, as the transport's doorbells */
	if (fs->vdev.active && fs->started[c->q])
		virtio_notify(&fs->vdev, c->q);
}

static void fs_unwatch(struct virtio_fs *fs)
{
	if (fs->watching)
		ev_del(fs->vdev.loop, vu_fd(fs->conn));
	fs->watching = false;
}

/*
 * The socket is readable or closed while no request is outstanding (every request
 * waits for its reply on this thread): the backend died or broke the protocol.
 */
static void fs_backend_event(void *opaque, uint32_t events)
{
	struct virtio_fs *fs = opaque;

	fs->gone = true;
	fs_unwatch(fs);
	virtio_needs_reset(&fs->vdev, events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)
					  ? "virtiofsd hung up"
					  : "virtiofsd sent a message unasked");
}

/* Stop the queues the backend serves; false when it failed to stop one. */
static bool fs_stop_queues(struct virtio_fs *fs)
{
	bool ok = true;

	for (uint16_t q = 0; q < FS_NR_QUEUES; q++) {
		if (!fs->started[q])
			continue;
		fs->started[q] = false;
		if (!fs->gone && vu_vring_stop(fs->conn, q, NULL))
			ok = false;
	}
	return ok;
}

/* The call fd queue q's backend should signal now. */
static int fs_call_fd(struct virtio_fs *fs, uint16_t q)
{
	int fd = virtio_queue_irq_fd(&fs->vdev, q);

	return fd >= 0 ? fd : fs->calls[q].fd;
}

/* The driver masked or unmasked interrupts: the backend signals where it should now. */
static void fs_irqs_changed(struct virtio_dev *vdev)
{
	struct virtio_fs *fs = container_of(vdev, struct virtio_fs, vdev);

	for (uint16_t q = 0; q < FS_NR_QUEUES && !fs->gone; q++) {
		int fd = fs_call_fd(fs, q);

		if (!fs->started[q] || fd == fs->calls[q].cur)
			continue;
		if (vu_vring_set_call(fs->conn, q, fd)) {
			log_ratelimited(&vdev->rl, LOG_WARN, "%s: %s", vdev->ops->name,
					vu_error(fs->conn));
			virtio_needs_reset(vdev, "virtiofsd refused a queue's new call fd");
			return;
		}
		fs->calls[q].cur = fd;
	}
}

static int fs_start_queues(struct virtio_fs *fs)
{
	struct virtio_dev *vdev = &fs->vdev;
	int ret;

	ret = vu_set_features(fs->conn, vdev->features);
	if (!ret)
		ret = vu_set_mem_table(fs->conn, vdev->gm);
	for (uint16_t q = 0; q < FS_NR_QUEUES && !ret; q++) {
		const struct vq *vq = &vdev->vqs[q];
		struct vu_vring r = {
		    .index = q,
		    .size = vq->size,
		    .desc = vq->desc_gpa,
		    .avail = vq->avail_gpa,
		    .used = vq->used_gpa,
		    .base = 0,
		    .kick_fd = virtio_kick_fd(vdev, q),
		    .call_fd = fs_call_fd(fs, q),
		};

		if (!vq->size)
			continue;
		if (r.kick_fd < 0)
			return -EINVAL;
		ret = vu_vring_start(fs->conn, vdev->gm, &r);
		if (!ret)
			fs->started[q] = true;
		fs->calls[q].cur = r.call_fd;
	}
	return ret;
}

static int fs_activate(struct virtio_dev *vdev)
{
	struct virtio_fs *fs = container_of(vdev, struct virtio_fs, vdev);
	int ret;

	if (fs->gone) {
		log_ratelimited(&vdev->rl, LOG_WARN, "%s %s: virtiofsd is gone", vdev->ops->name,
				fs->tag);
		return -EPIPE;
	}
	ret = fs_start_queues(fs);
	if (ret) {
		if (*vu_error(fs->conn)) /* names the device and the request */
			log_ratelimited(&vdev->rl, LOG_WARN, "%s: %s", vdev->ops->name,
					vu_error(fs->conn));
		else
			log_ratelimited(&vdev->rl, LOG_WARN, "%s %s: starting the queues: %s",
					vdev->ops->name, fs->tag, strerror(-ret));
		fs_stop_queues(fs);
	}
	return ret;
}

static void fs_reset(struct virtio_dev *vdev)
{
	struct virtio_fs *fs = container_of(vdev, struct virtio_fs, vdev);

	if (!fs_stop_queues(fs))
		virtio_needs_reset(vdev, "virtiofsd failed to stop a queue");
}

static void fs_destroy(struct virtio_dev *vdev)
{
	struct virtio_fs *fs = container_of(vdev, struct virtio_fs, vdev);

	if (fs->conn) {
		fs_unwatch(fs);
		vu_close(fs->conn);
	}
	for (uint16_t q = 0; q < FS_NR_QUEUES; q++) {
		if (fs->calls[q].fd < 0)
			continue;
		ev_del(vdev->loop, fs->calls[q].fd);
		close(fs->calls[q].fd);
	}
	free(fs);
}

static const struct virtio_dev_ops fs_ops = {
    .name = "virtio-fs",
    .device_id = VIRTIO_ID_FS,
    .config_size = FS_CONFIG_SIZE,
    .external_queues = true,
    .config_read = fs_config_read,
    .config_write = fs_config_write,
    .activate = fs_activate,
    .reset = fs_reset,
    .destroy = fs_destroy,
    .irqs_changed = fs_irqs_changed,
};

/* The session's start: the backend's features, the loop's watches. */
static int fs_connect(struct virtio_fs *fs, const char *what, char *err, size_t errlen)
{
	uint64_t features = 0, queues = 0;
	int ret;

	ret = vu_handshake(fs->conn, VIRTIO_BIT(VU_PROTOCOL_F_MQ), &features, &queues);
	if (ret) {
		snprintf(err, errlen, "--share %s: virtiofsd did not answer: %s", what,
			 vu_error(fs->conn));
		return ret;
	}
	if (!(features & VIRTIO_BIT(VIRTIO_F_VERSION_1))) {
		snprintf(err, errlen, "--share %s: virtiofsd does not offer virtio 1.0", what);
		return -EPROTO;
	}
	if (queues && queues < FS_NR_QUEUES) {
		snprintf(err, errlen, "--share %s: virtiofsd serves %llu queues, need %u", what,
			 (unsigned long long)queues, FS_NR_QUEUES);
		return -EPROTO;
	}
	fs->vdev.host_features = features & FS_RING_FEATURES;
	for (uint16_t q = 0; q < FS_NR_QUEUES; q++) {
		int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

		if (fd < 0)
			goto err_errno;
		ret = ev_add(fs->vdev.loop, fd, EPOLLIN | EPOLLET, fs_call, &fs->calls[q]);
		if (ret) {
			close(fd);
			goto err_ret;
		}
		fs->calls[q].fd = fd;
	}
	ret = ev_add(fs->vdev.loop, vu_fd(fs->conn), EPOLLIN | EPOLLRDHUP, fs_backend_event, fs);
	if (ret)
		goto err_ret;
	fs->watching = true;
	return 0;

err_errno:
	ret = -errno;
err_ret:
	snprintf(err, errlen, "--share %s: %s", what, strerror(-ret));
	return ret;
}

int virtio_fs_create(struct virtio_dev **out, const struct share_config *cfg, int sock_fd,
		     struct ev_loop *loop, const struct guest_mem *gm, char *err, size_t errlen)
{
	const char *what = cfg->path[0] ? cfg->path : cfg->socket;
	uint32_t nrq = htole32(FS_NR_REQUEST_QUEUES);
	struct virtio_fs *fs;
	int ret;

	fs = calloc(1, sizeof(*fs));
	if (!fs) {
		close(sock_fd);
		snprintf(err, errlen, "--share %s: out of memory", what);
		return -ENOMEM;
	}
	fs->vdev.ops = &fs_ops;
	fs->vdev.nr_queues = FS_NR_QUEUES;
	fs->vdev.queue_max = FS_QUEUE_SIZE;
	fs->vdev.loop = loop;
	fs->vdev.gm = gm;
	for (uint16_t q = 0; q < FS_NR_QUEUES; q++)
		fs->calls[q] = (struct fs_call){.fs = fs, .q = q, .fd = -1, .cur = -1};
	snprintf(fs->tag, sizeof(fs->tag), "%s", cfg->tag);
	fs->vdev.id = fs->tag;
	/* calloc's zeroes pad the tag; a 36-byte tag has no NUL. */
	memcpy(fs->config, fs->tag, strlen(fs->tag));
	memcpy(fs->config + FS_CONFIG_NUM_QUEUES, &nrq, sizeof(nrq));

	ret = vu_open(&fs->conn, sock_fd, fs->tag, FS_TIMEOUT_MS);
	if (ret) {
		fs->conn = NULL;
		snprintf(err, errlen, "--share %s: %s", what, strerror(-ret));
		goto err_free;
	}
	ret = fs_connect(fs, what, err, errlen);
	if (ret)
		goto err_free;
	*out = &fs->vdev;
	return 0;

err_free:
	fs_destroy(&fs->vdev);
	return ret;
}
