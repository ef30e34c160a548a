// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-blk (virtio 1.x, section 5.2) on a raw image. One request queue per
 * vCPU when the guest takes VIRTIO_BLK_F_MQ, all served by the event loop;
 * reads, writes, flushes, discards and write-zeroes go to the disk backend
 * and complete from the event loop (which never waits for the host's disk).
 *
 * A request is: a 16-byte header (type, reserved, sector) in the readable
 * part, which may be split across descriptors; data; and the status, which is
 * the last byte of the last non-empty writable descriptor. A chain without a
 * writable byte cannot be answered: the device needs a reset. Every other
 * malformed request is answered with IOERR (or UNSUPP for an unknown type or
 * flag) and the device goes on.
 *
 * With rate limits (--disk iops=, bw=), a request over them goes back into the
 * ring (VIRTIO_CHAIN_WAIT) and its queue is not served until the device's timer
 * fires at the time the limiter names; the device counts the requests that
 * waited and how long.
 */
#include <endian.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "backend/disk.h"
#include "kvmrun/event_loop.h"
#include "kvmrun/guest_mem.h"
#include "kvmrun/log.h"
#include "kvmrun/ratelimit.h"
#include "kvmrun/sched_policy.h"
#include "virtio/blk.h"

struct virtio_blk {
	struct virtio_dev vdev;
	struct disk *disk;
	struct vq_chain *chain; /* scratch for virtio_process_queue(), any queue */
	uint64_t stalled;	/* bit q: queue q has requests waiting for room in the backend */
	uint64_t capacity;	/* 512-byte sectors */
	uint32_t block_size;
	uint8_t config[VIRTIO_BLK_CFG_SIZE];

	/* Rate limits: lim_timer -1 when there are none. */
	struct rl_limiter lim;
	struct rl_wait lim_wait[VIRTIO_BLK_MAX_QUEUES]; /* the request each queue holds back */
	uint64_t lim_waiting; /* bit q: queue q waits for lim_timer */
	uint64_t lim_due;     /* CLOCK_MONOTONIC ns lim_timer is armed for; 0: disarmed */
	int lim_timer;
	struct blk_stats stats;
};

_Static_assert(VIRTIO_BLK_MAX_QUEUES <= 64, "virtio_blk.stalled has a bit per queue");

/* A request in flight. */
struct blk_req {
	struct disk_io io;
	struct virtio_blk *blk;
	uint16_t q, head;
	uint8_t *status; /* host address of the guest's status byte */
	uint32_t written;
	uint32_t type;	/* VIRTIO_BLK_T_*, for the counters */
	uint64_t bytes; /* data bytes of a read or write */
	unsigned int iovcnt;
	struct disk_range *ranges; /* discard, write-zeroes: after iov[] */
	struct iovec iov[];
};

struct blk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct blk_seg {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

static struct virtio_blk *to_blk(struct virtio_dev *vdev)
{
	return container_of(vdev, struct virtio_blk, vdev);
}

static void blk_push(struct virtio_blk *blk, uint16_t q, uint16_t head, uint32_t written)
{
	struct vq *vq = &blk->vdev.vqs[q];

	/* Fails only on a queue the guest broke: the device already needs a reset. */
	if (vq_push(vq, head, written))
		return;
}

/* [sector, sector + bytes / 512) inside the disk, without overflow. */
static bool blk_range_ok(const struct virtio_blk *blk, uint64_t sector, uint64_t bytes)
{
	uint64_t nsec = bytes / 512;

	return sector <= blk->capacity && nsec <= blk->capacity - sector;
}

const struct blk_stats *virtio_blk_stats(const struct virtio_dev *vdev)
{
	return &container_of(vdev, const struct virtio_blk, vdev)->stats;
}

void virtio_blk_disk_stats(const struct virtio_dev *vdev, struct disk_stats *st)
{
	disk_get_stats(container_of(vdev, const struct virtio_blk, vdev)->disk, st);
}

/* One request completed with status @st (VIRTIO_BLK_S_*). */
static void blk_account(struct virtio_blk *blk, uint32_t type, uint64_t bytes, int st)
{
	struct blk_stats *s = &blk->stats;

	if (st != VIRTIO_BLK_S_OK) {
		s->errors++;
		return;
	}
	switch (type) {
	case VIRTIO_BLK_T_IN:
		s->reads++;
		s->read_bytes += bytes;
		break;
	case VIRTIO_BLK_T_OUT:
		s->writes++;
		s->write_bytes += bytes;
		break;
	case VIRTIO_BLK_T_FLUSH:
		s->flushes++;
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		s->discards++;
		break;
	}
}

static void blk_io_done(struct disk_io *io, int res)
{
	struct blk_req *req = container_of(io, struct blk_req, io);
	struct virtio_blk *blk = req->blk;

	if (res == -ECANCELED) {
		/* Drained by a reset: the request and its guest buffers are gone. */
		free(req);
		return;
	}
	if (res)
		log_ratelimited(&blk->vdev.rl, LOG_WARN, "virtio-blk%s%s: I/O error: %s",
				blk->vdev.id ? " " : "", blk->vdev.id ? blk->vdev.id : "",
				strerror(-res));
	*req->status = res ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
	blk_account(blk, req->type, req->bytes, *req->status);
	blk_push(blk, req->q, req->head, res ? 1 : req->written);
	free(req);
}

/*
 * One interrupt per batch of completions, when the driver wants it; queues
 * that waited for room in the backend are served again once there is some.
 */
static void blk_batch_end(void *opaque)
{
	struct virtio_blk *blk = opaque;
	uint64_t stalled = blk->stalled;

	if (!blk->vdev.active || !blk->vdev.vqs)
		return;
	for (uint16_t q = 0; q < blk->vdev.nr_queues; q++)
		if (vq_should_notify(&blk->vdev.vqs[q]))
			virtio_notify(&blk->vdev, q);
	if (!stalled || !disk_room(blk->disk))
		return;
	blk->stalled = 0;
	for (uint16_t q = 0; q < blk->vdev.nr_queues; q++)
		if (stalled >> q & 1)
			virtio_requeue(&blk->vdev, q);
}

/*
 * Gather the guest buffers of a read (the writable part less the status byte)
 * or of a write (the readable part after the header) into req->iov.
 */
static size_t blk_gather(struct blk_req *req, const struct vq_chain *c, bool write)
{
	unsigned int first = write ? 0 : c->nr_out;
	unsigned int end = write ? c->nr_out : c->nr_out + c->nr_in;
	size_t skip = write ? sizeof(struct blk_hdr) : 0;
	size_t left = write ? c->out_len - sizeof(struct blk_hdr) : c->in_len - 1;
	size_t total = 0;

	req->iovcnt = 0;
	for (unsigned int i = first; i < end && left; i++) {
		const struct vq_buf *b = &c->bufs[i];
		size_t off = MIN(skip, b->len);
		size_t n = MIN(b->len - off, left);

		skip -= off;
		if (!n)
			continue;
		req->iov[req->iovcnt].iov_base = (uint8_t *)b->host + off;
		req->iov[req->iovcnt].iov_len = n;
		req->iovcnt++;
		left -= n;
		total += n;
	}
	return total;
}

/* A request for the backend, with room for niov buffers and nranges ranges; written is 1. */
static struct blk_req *blk_req_new(struct virtio_blk *blk, uint16_t q, const struct vq_chain *c,
				   uint8_t *status, uint32_t type, unsigned int niov,
				   unsigned int nranges)
{
	struct blk_req *req = malloc(sizeof(*req) + sizeof(struct iovec) * niov +
				     sizeof(struct disk_range) * nranges);

	if (!req)
		return NULL;
	req->ranges = (struct disk_range *)&req->iov[niov];
	req->io.done = blk_io_done;
	req->blk = blk;
	req->q = q;
	req->head = c->head;
	req->status = status;
	req->written = 1;
	req->type = type;
	req->bytes = 0;
	req->iovcnt = 0;
	return req;
}

/* Start a flush; returns a status to complete with now, or -1 when started. */
static int blk_flush(struct virtio_blk *blk, uint16_t q, const struct vq_chain *c, uint8_t *status)
{
	struct blk_req *req = blk_req_new(blk, q, c, status, VIRTIO_BLK_T_FLUSH, 0, 0);

	if (!req)
		return VIRTIO_BLK_S_IOERR;
	if (disk_flush(blk->disk, &req->io)) {
		free(req);
		return VIRTIO_BLK_S_IOERR;
	}
	return -1;
}

/* Start a read or write; returns a status to complete with now, or -1 when started. */
static int blk_rw(struct virtio_blk *blk, uint16_t q, const struct vq_chain *c,
		  const struct blk_hdr *hdr, uint8_t *status, bool write)
{
	uint64_t bytes = write ? c->out_len - sizeof(*hdr) : c->in_len - 1ULL;
	struct blk_req *req;
	int ret;

	if (write && blk->vdev.features & VIRTIO_BIT(VIRTIO_BLK_F_RO))
		return VIRTIO_BLK_S_IOERR;
	if (write && disk_readonly(blk->disk))
		return VIRTIO_BLK_S_IOERR;
	if (bytes % 512 || !blk_range_ok(blk, hdr->sector, bytes))
		return VIRTIO_BLK_S_IOERR;
	if (bytes % blk->block_size || (hdr->sector * 512) % blk->block_size)
		return VIRTIO_BLK_S_IOERR;
	if (!bytes)
		return VIRTIO_BLK_S_OK;
	req = blk_req_new(blk, q, c, status, write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN,
			  write ? c->nr_out : c->nr_in, 0);
	if (!req)
		return VIRTIO_BLK_S_IOERR;
	req->written = write ? 1 : c->in_len;
	req->bytes = bytes;
	blk_gather(req, c, write);
	ret = disk_submit(blk->disk, &req->io, write, hdr->sector * 512, req->iov, req->iovcnt);
	if (ret) {
		free(req);
		return VIRTIO_BLK_S_IOERR;
	}
	return -1;
}

static int blk_get_id(struct virtio_blk *blk, const struct vq_chain *c, uint32_t *written)
{
	if (c->in_len - 1 < DISK_SERIAL_MAX)
		return VIRTIO_BLK_S_IOERR;
	if (vq_chain_write(c, 0, disk_serial(blk->disk), DISK_SERIAL_MAX) != DISK_SERIAL_MAX)
		return VIRTIO_BLK_S_IOERR;
	*written = DISK_SERIAL_MAX + 1;
	return VIRTIO_BLK_S_OK;
}

/*
 * Start a discard or write-zeroes, once every segment checked out; returns a
 * status to complete with now, or -1 when started.
 */
static int blk_discard(struct virtio_blk *blk, uint16_t q, const struct vq_chain *c,
		       uint8_t *status, bool zeroes)
{
	struct blk_seg seg[VIRTIO_BLK_MAX_DISCARD_SEG];
	uint32_t len = c->out_len - sizeof(struct blk_hdr);
	unsigned int n = len / sizeof(struct blk_seg), nr = 0;
	struct blk_req *req;
	int ret;

	if (!virtio_has_feature(&blk->vdev,
				zeroes ? VIRTIO_BLK_F_WRITE_ZEROES : VIRTIO_BLK_F_DISCARD))
		return VIRTIO_BLK_S_UNSUPP;
	if (!len || len % sizeof(struct blk_seg) || n > VIRTIO_BLK_MAX_DISCARD_SEG ||
	    disk_readonly(blk->disk))
		return VIRTIO_BLK_S_IOERR;
	for (unsigned int i = 0; i < n; i++) {
		size_t off = sizeof(struct blk_hdr) + i * sizeof(struct blk_seg);

		if (vq_chain_read(c, off, &seg[i], sizeof(seg[i])) != sizeof(seg[i]))
			return VIRTIO_BLK_S_IOERR;
		seg[i].sector = le64toh(seg[i].sector);
		seg[i].num_sectors = le32toh(seg[i].num_sectors);
		seg[i].flags = le32toh(seg[i].flags);
		if (seg[i].flags & ~(uint32_t)VIRTIO_BLK_WZ_F_UNMAP || (!zeroes && seg[i].flags))
			return VIRTIO_BLK_S_UNSUPP;
		if (seg[i].num_sectors > VIRTIO_BLK_MAX_DISCARD_SECTORS ||
		    !blk_range_ok(blk, seg[i].sector, seg[i].num_sectors * 512ULL))
			return VIRTIO_BLK_S_IOERR;
	}
	req = blk_req_new(blk, q, c, status,
			  zeroes ? VIRTIO_BLK_T_WRITE_ZEROES : VIRTIO_BLK_T_DISCARD, 0, n);
	if (!req)
		return VIRTIO_BLK_S_IOERR;
	for (unsigned int i = 0; i < n; i++)
		if (seg[i].num_sectors)
			req->ranges[nr++] = (struct disk_range){
			    .offset = seg[i].sector * 512,
			    .len = seg[i].num_sectors * 512ULL,
			    .unmap = seg[i].flags & VIRTIO_BLK_WZ_F_UNMAP,
			};
	if (!nr) {
		free(req);
		return VIRTIO_BLK_S_OK;
	}
	if (zeroes)
		ret = disk_write_zeroes(blk->disk, &req->io, req->ranges, nr);
	else
		ret = disk_discard(blk->disk, &req->io, req->ranges, nr);
	if (ret) {
		free(req);
		return VIRTIO_BLK_S_IOERR;
	}
	return -1;
}

static uint64_t blk_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * RL_NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* Arm the limiter's timer for due, unless it fires before. */
static int blk_limit_arm(struct virtio_blk *blk, uint64_t due)
{
	struct itimerspec its = {0};

	if (blk->lim_due && blk->lim_due <= due)
		return 0;
	its.it_value.tv_sec = (time_t)(due / RL_NS_PER_S);
	its.it_value.tv_nsec = (long)(due % RL_NS_PER_S);
	if (timerfd_settime(blk->lim_timer, TFD_TIMER_ABSTIME, &its, NULL))
		return -errno;
	blk->lim_due = due;
	return 0;
}

/*
 * Must the request wait for the rate limits? Then queue q waits for the timer.
 * Its cost: one request, and the bytes a read or write moves.
 */
static bool blk_limit_wait(struct virtio_blk *blk, uint16_t q, const struct vq_chain *c,
			   const struct blk_hdr *hdr)
{
	uint64_t len = 0, now = blk_now_ns(), wait;

	if (hdr->type == VIRTIO_BLK_T_IN)
		len = c->in_len - 1; /* the caller found the status byte */
	else if (hdr->type == VIRTIO_BLK_T_OUT && c->out_len > sizeof(*hdr))
		len = c->out_len - sizeof(*hdr);
	wait = rl_admit(&blk->lim, &blk->lim_wait[q], len, now);
	if (!wait)
		return false;
	/* A timer that cannot be armed must not hold the request for good: it goes. */
	if (blk_limit_arm(blk, now + wait))
		return false;
	blk->lim_waiting |= 1ULL << q;
	return true;
}

/* The queues that waited for the limits are served again. */
static void blk_limit_timer_event(void *opaque, uint32_t events)
{
	struct virtio_blk *blk = opaque;
	uint64_t expired, waiting = blk->lim_waiting;

	/* Non-blocking: nothing to read after a reset disarmed it. */
	if (read(blk->lim_timer, &expired, sizeof(expired)) < 0)
		return;
	blk->lim_due = 0;
	blk->lim_waiting = 0;
	if (!blk->vdev.active || !blk->vdev.vqs)
		return;
	for (uint16_t q = 0; q < blk->vdev.nr_queues; q++)
		if (waiting >> q & 1)
			virtio_requeue(&blk->vdev, q);
}

const struct rl_limiter *virtio_blk_limiter(const struct virtio_dev *vdev)
{
	const struct virtio_blk *blk = container_of(vdev, struct virtio_blk, vdev);

	return blk->lim_timer >= 0 ? &blk->lim : NULL;
}

static int blk_handle(struct virtio_dev *vdev, uint16_t q, struct vq_chain *c)
{
	struct virtio_blk *blk = to_blk(vdev);
	const struct vq_buf *sb = NULL;
	uint32_t written = 1;
	struct blk_hdr hdr = {0};
	uint8_t *status;
	int st;

	for (unsigned int i = c->nr_out + c->nr_in; i > c->nr_out; i--) {
		if (c->bufs[i - 1].len) {
			sb = &c->bufs[i - 1];
			break;
		}
	}
	if (!sb) {
		vdev->vqs[q].broken_why = "virtio-blk request without a writable status byte";
		return -EINVAL;
	}
	status = (uint8_t *)sb->host + sb->len - 1;
	if (vq_chain_read(c, 0, &hdr, sizeof(hdr)) != sizeof(hdr)) {
		st = VIRTIO_BLK_S_IOERR;
		goto done;
	}
	hdr.type = le32toh(hdr.type);
	hdr.sector = le64toh(hdr.sector);
	if (blk->lim_timer >= 0 && blk_limit_wait(blk, q, c, &hdr))
		return VIRTIO_CHAIN_WAIT;
	switch (hdr.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		st = blk_rw(blk, q, c, &hdr, status, hdr.type == VIRTIO_BLK_T_OUT);
		if (st < 0)
			return 0; /* in flight */
		if (st == VIRTIO_BLK_S_OK && hdr.type == VIRTIO_BLK_T_IN)
			written = c->in_len;
		break;
	case VIRTIO_BLK_T_FLUSH:
		st = blk_flush(blk, q, c, status);
		if (st < 0)
			return 0; /* in flight */
		break;
	case VIRTIO_BLK_T_GET_ID:
		st = blk_get_id(blk, c, &written);
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		st = blk_discard(blk, q, c, status, hdr.type == VIRTIO_BLK_T_WRITE_ZEROES);
		if (st < 0)
			return 0; /* in flight */
		break;
	default:
		st = VIRTIO_BLK_S_UNSUPP;
		break;
	}
done:
	*status = (uint8_t)st;
	blk_account(blk, hdr.type, 0, st);
	blk_push(blk, q, c->head, written);
	return 0;
}

static void blk_config_read(struct virtio_dev *vdev, uint32_t off, void *data, uint32_t len)
{
	memcpy(data, to_blk(vdev)->config + off, len);
}

static void blk_config_write(struct virtio_dev *vdev, uint32_t off, const void *data, uint32_t len)
{
	/* Nothing is writable: the writeback field needs CONFIG_WCE, not offered. */
}

static int blk_activate(struct virtio_dev *vdev)
{
	return 0;
}

/*
 * The requests of one pass go to the backend together (disk_plug): one
 * io_submit, or one hand-over to the disk's workers.
 * A pass takes no more requests than the backend has room for: the guest's
 * queues together hold more (64 queues of 1024) than it takes in flight, and
 * the rest wait in the ring, each queue that has some in `stalled`, until
 * completions make room (blk_batch_end). Tell the scheduling policy how
 * many requests the kick brought (sp_report): a guest that waits on each of
 * its requests gets the next kick served at once.
 */
static void blk_queue_notify(struct virtio_dev *vdev, uint16_t q)
{
	struct virtio_blk *blk = to_blk(vdev);
	unsigned int room = disk_room(blk->disk), size = vdev->vqs[q].size, n;
	bool more;

	disk_plug(blk->disk);
	n = virtio_process_queue_max(vdev, q, blk->chain, blk_handle, room, &more);
	disk_unplug(blk->disk);
	if (more && room < size)
		blk->stalled |= 1ULL << q;
	else if (more)
		virtio_requeue(vdev, q);
	sp_report(vdev->sched, &(struct sp_pass){.kind = SP_REQUESTS, .count = n});
}

static void blk_reset(struct virtio_dev *vdev)
{
	struct virtio_blk *blk = to_blk(vdev);

	/* Wait for the kernel to finish with guest memory; complete nothing. */
	disk_drain(blk->disk);
	blk->stalled = 0;
	if (blk->lim_timer >= 0) {
		uint64_t now = blk_now_ns();

		timerfd_settime(blk->lim_timer, 0, &(struct itimerspec){0}, NULL);
		blk->lim_due = blk->lim_waiting = 0;
		for (uint16_t q = 0; q < VIRTIO_BLK_MAX_QUEUES; q++)
			rl_wait_drop(&blk->lim, &blk->lim_wait[q], now);
	}
	/* A failed flush stays failed: the data it lost does not come back. */
}

static void blk_destroy(struct virtio_dev *vdev)
{
	struct virtio_blk *blk = to_blk(vdev);

	if (blk->lim_timer >= 0) {
		log_debug("virtio-blk %s: rate limits: %llu requests waited, %llu ms in all",
			  vdev->id ? vdev->id : "?", (unsigned long long)blk->lim.throttled,
			  (unsigned long long)(blk->lim.waited_ns / 1000000));
		ev_del(vdev->loop, blk->lim_timer);
		close(blk->lim_timer);
	}
	disk_close(blk->disk);
	free(blk->chain);
	free(blk);
}

static const struct virtio_dev_ops blk_ops = {
    .name = "virtio-blk",
    .device_id = VIRTIO_ID_BLOCK,
    .config_size = VIRTIO_BLK_CFG_SIZE,
    .config_read = blk_config_read,
    .config_write = blk_config_write,
    .activate = blk_activate,
    .queue_notify = blk_queue_notify,
    .reset = blk_reset,
    .destroy = blk_destroy,
};

static void put_le16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, sizeof(v));
}

static void put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static void blk_fill_config(struct virtio_blk *blk)
{
	uint64_t cap = htole64(blk->capacity);
	uint32_t align = blk->block_size / 512;

	memcpy(blk->config + VIRTIO_BLK_CFG_CAPACITY, &cap, sizeof(cap));
	put_le32(blk->config + VIRTIO_BLK_CFG_SEG_MAX, VIRTIO_BLK_SEG_MAX);
	put_le32(blk->config + VIRTIO_BLK_CFG_BLK_SIZE, blk->block_size);
	put_le16(blk->config + VIRTIO_BLK_CFG_NUM_QUEUES, blk->vdev.nr_queues);
	put_le32(blk->config + VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS, VIRTIO_BLK_MAX_DISCARD_SECTORS);
	put_le32(blk->config + VIRTIO_BLK_CFG_MAX_DISCARD_SEG, VIRTIO_BLK_MAX_DISCARD_SEG);
	put_le32(blk->config + VIRTIO_BLK_CFG_DISCARD_ALIGN, align);
	put_le32(blk->config + VIRTIO_BLK_CFG_MAX_WZ_SECTORS, VIRTIO_BLK_MAX_DISCARD_SECTORS);
	put_le32(blk->config + VIRTIO_BLK_CFG_MAX_WZ_SEG, VIRTIO_BLK_MAX_DISCARD_SEG);
	blk->config[VIRTIO_BLK_CFG_WZ_MAY_UNMAP] = 1;
}

/* The limiter and its timer, in the loop from the start. */
static int blk_limit_create(struct virtio_blk *blk, const struct disk_config *cfg,
			    struct ev_loop *loop, char *err, size_t errlen)
{
	int ret;

	rl_limiter_init(&blk->lim, cfg->iops.rate, cfg->iops.burst, cfg->bw.rate, cfg->bw.burst,
			blk_now_ns());
	blk->lim_timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (blk->lim_timer < 0) {
		ret = -errno;
		goto err;
	}
	ret = ev_add(loop, blk->lim_timer, EPOLLIN, blk_limit_timer_event, blk);
	if (ret) {
		close(blk->lim_timer);
		blk->lim_timer = -1;
		goto err;
	}
	return 0;
err:
	snprintf(err, errlen, "disk %s: rate limit timer: %s", cfg->path, strerror(-ret));
	return ret;
}

int virtio_blk_create(struct virtio_dev **out, const struct disk_config *cfg, uint16_t nr_queues,
		      struct ev_loop *loop, const struct guest_mem *gm, char *err, size_t errlen)
{
	struct virtio_blk *blk;
	int ret;

	if (nr_queues < 1 || nr_queues > VIRTIO_BLK_MAX_QUEUES) {
		snprintf(err, errlen, "disk %s: %u queues (1 to %u)", cfg->path, nr_queues,
			 VIRTIO_BLK_MAX_QUEUES);
		return -EINVAL;
	}
	blk = calloc(1, sizeof(*blk));
	if (!blk)
		goto err_nomem;
	blk->lim_timer = -1;
	blk->chain = malloc(sizeof(*blk->chain));
	if (!blk->chain)
		goto err_free;
	ret = disk_open(&blk->disk, cfg, loop, err, errlen);
	if (ret)
		goto err_chain;
	if (cfg->iops.rate || cfg->bw.rate) {
		ret = blk_limit_create(blk, cfg, loop, err, errlen);
		if (ret)
			goto err_disk;
	}
	disk_set_batch_end(blk->disk, blk_batch_end, blk);
	blk->capacity = disk_sectors(blk->disk);
	blk->block_size = disk_block_size(blk->disk);
	blk->vdev.nr_queues = nr_queues;
	blk_fill_config(blk);
	blk->vdev.ops = &blk_ops;
	blk->vdev.host_features = VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) |
				  VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) |
				  VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) | VIRTIO_BIT(VQ_F_INDIRECT_DESC) |
				  VIRTIO_BIT(VQ_F_EVENT_IDX);
	if (disk_readonly(blk->disk))
		blk->vdev.host_features |= VIRTIO_BIT(VIRTIO_BLK_F_RO);
	else
		blk->vdev.host_features |=
		    VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) | VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	if (nr_queues > 1)
		blk->vdev.host_features |= VIRTIO_BIT(VIRTIO_BLK_F_MQ);
	blk->vdev.queue_max = VIRTIO_BLK_QUEUE_MAX;
	blk->vdev.loop = loop;
	blk->vdev.gm = gm;
	*out = &blk->vdev;
	return 0;

err_disk:
	disk_close(blk->disk);
err_chain:
	free(blk->chain);
	free(blk);
	return ret;
err_free:
	free(blk);
err_nomem:
	snprintf(err, errlen, "disk %s: out of memory", cfg->path);
	return -ENOMEM;
}
