// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-console (virtio 1.x, section 5.3) with a single port and no
 * MULTIPORT: receiveq 0 carries console input into buffers the driver posts,
 * transmitq 1 carries the driver's output to the console backend.
 *
 * Input is not queued here: when the driver has posted no receive buffer, the
 * push callback takes fewer bytes than offered and the console keeps the rest
 * (and stops reading its input). The device then asks the driver for a kick
 * on the receiveq and, once it comes, calls console_input_ready(), so the
 * console offers the held bytes again. Nothing is lost and nothing spins.
 *
 * Input is dropped, though, while no driver can take it: before DRIVER_OK,
 * after a reset, while the device is broken, or with no receiveq. Holding it
 * then would stop the console reading its input for as long as the guest
 * likes (forever, with no driver at all), and with it the Ctrl-A x escape.
 *
 * Output is bounded per pass and waits for the console. A pass writes at
 * most VIRTIO_CONSOLE_PASS_MAX bytes (and at most a queue's worth of chains),
 * then requeues the transmitq, so that signals, the console's escape and the
 * other devices get their turn whatever the guest posts. Of one chain at most
 * VIRTIO_CONSOLE_CHAIN_MAX bytes are written; the rest of it is skipped and
 * counted (a driver writes far less per buffer; 256 heads naming one indirect
 * table of 1023 entries of 4 MiB each would otherwise ask for 1 TiB). When
 * the console takes fewer bytes than offered (stdout full), the chain stays
 * in flight with its offset, the guest's kicks stay off, and the device goes
 * on from there when the console calls back (console_writer_fn); the driver
 * sees the buffer used only once it is written out.
 *
 * Threads: everything here runs on the event-loop thread (activate,
 * queue_notify, reset, and the console's push and writer callbacks, which the
 * backend calls from its handlers on the loop), except config_read and
 * config_write, which only touch constant data.
 *
 * Guest errors: a device-writable buffer in the transmitq or a device-readable
 * one in the receiveq (both forbidden to the driver by 5.3.6.1), and whatever
 * the virtqueue core refuses (zero-length buffers, chains longer than the
 * queue or VQ_MAX_CHAIN, bad indices), break the queue: the device is marked
 * NEEDS_RESET and serves neither queue until the driver resets it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend/console.h"
#include "kvmrun/log.h"
#include "kvmrun/virtio.h"
#include "virtio/devices.h"

#define VIRTIO_CONSOLE_RXQ 0
#define VIRTIO_CONSOLE_TXQ 1
#define VIRTIO_CONSOLE_NR_QUEUES 2
#define VIRTIO_CONSOLE_QUEUE_MAX 256
/* Bytes written to the console per pass at most, and per chain at most. */
#define VIRTIO_CONSOLE_PASS_MAX (64u << 10)
#define VIRTIO_CONSOLE_CHAIN_MAX (1u << 20)

/*
 * struct virtio_console_config: le16 cols, le16 rows (F_SIZE), le32
 * max_nr_ports (F_MULTIPORT), le32 emerg_wr (F_EMERG_WRITE). None of those
 * features is offered, so the fields read as zero and writes are ignored.
 */
#define VIRTIO_CONSOLE_CONFIG_SIZE 12

struct virtio_console {
	struct virtio_dev vdev;
	struct console *con;
	/* A queue broke: serve nothing until the driver resets the device. */
	bool broken;
	/* The console holds input we had no buffer for and waits for console_input_ready(). */
	bool input_refused;
	/* tx_chain is popped and written up to tx_off: it goes on in a later pass. */
	bool tx_held;
	/* The console refused bytes: wait for its call back before the next pass. */
	bool tx_waiting;
	uint32_t tx_off;
	uint64_t tx_cut; /* bytes past VIRTIO_CONSOLE_CHAIN_MAX in a chain, skipped */
	/* Scratch chains, one per queue (large: not for the stack). */
	struct vq_chain rx_chain;
	struct vq_chain tx_chain;
};

static struct virtio_console *virtio_console_of(struct virtio_dev *vdev)
{
	return container_of(vdev, struct virtio_console, vdev);
}

static bool virtio_console_serving(const struct virtio_console *vc)
{
	return vc->vdev.active && !vc->broken;
}

/* Let the console offer held input again (which is then delivered or dropped). */
static void virtio_console_release_input(struct virtio_console *vc)
{
	if (!vc->input_refused)
		return;
	vc->input_refused = false;
	console_input_ready(vc->con);
}

static void virtio_console_config_read(struct virtio_dev *vdev, uint32_t off, void *data,
				       uint32_t len)
{
	memset(data, 0, len);
}

static void virtio_console_config_write(struct virtio_dev *vdev, uint32_t off, const void *data,
					uint32_t len)
{
	/* Read-only fields (and emerg_wr without its feature): ignored. */
}

/*
 * Writes what is left of the held chain, at most *budget bytes; pushes it
 * when done. Returns 0 when done, -EAGAIN when it stays held (the console is
 * full, or the budget is spent), -EIO when the queue broke.
 */
static int virtio_console_tx_write(struct virtio_console *vc, size_t *budget)
{
	struct vq *vq = &vc->vdev.vqs[VIRTIO_CONSOLE_TXQ];
	struct vq_chain *c = &vc->tx_chain;
	uint32_t end = MIN(c->out_len, VIRTIO_CONSOLE_CHAIN_MAX);
	uint32_t pos = 0;

	for (unsigned int i = 0; i < c->nr_out && vc->tx_off < end; i++) {
		const struct vq_buf *b = &c->bufs[i];
		uint32_t skip, want;
		size_t took;

		if (pos + b->len <= vc->tx_off) {
			pos += b->len;
			continue;
		}
		skip = vc->tx_off - pos;
		want = (uint32_t)MIN((size_t)MIN(b->len, end - pos) - skip, *budget);
		if (!want)
			return -EAGAIN;
		took = console_write(vc->con, (const uint8_t *)b->host + skip, want);
		vc->tx_off += (uint32_t)took;
		*budget -= took;
		if (took < want) {
			vc->tx_waiting = true;
			return -EAGAIN;
		}
		if (vc->tx_off < MIN(pos + b->len, end))
			return -EAGAIN; /* the budget is spent inside this buffer */
		pos += b->len;
	}
	if (vc->tx_off < end)
		return -EAGAIN;
	vc->tx_cut += c->out_len - end;
	vc->tx_held = false;
	return vq_push(vq, c->head, 0) ? -EIO : 0;
}

/* Pops the next transmitq chain into tx_chain; 0, -EAGAIN (none) or -EIO (broken). */
static int virtio_console_tx_pop(struct virtio_console *vc)
{
	struct vq *vq = &vc->vdev.vqs[VIRTIO_CONSOLE_TXQ];
	int ret = vq_pop(vq, &vc->tx_chain);

	if (ret == -EAGAIN)
		return ret;
	if (ret == 0 && vc->tx_chain.nr_in) {
		vq->broken_why = "device-writable buffer in the transmitq";
		ret = -EINVAL;
	}
	if (ret) {
		vq->broken = true;
		return -EIO;
	}
	vc->tx_held = true;
	vc->tx_off = 0;
	return 0;
}

/*
 * One pass over the transmitq (see the top of the file): the race-free
 * pattern of virtqueue.h, with a byte budget, and a held chain first.
 */
static void virtio_console_tx(struct virtio_console *vc)
{
	struct vq *vq = &vc->vdev.vqs[VIRTIO_CONSOLE_TXQ];
	size_t budget = VIRTIO_CONSOLE_PASS_MAX;
	unsigned int chains = 0;
	bool more = false;
	int ret = 0;

	if (!virtio_console_serving(vc) || !vq->size || vq->broken)
		return;
	vc->tx_waiting = false;
	vq_set_notify(vq, false);
	for (;;) {
		while (ret == 0) {
			if (!vc->tx_held) {
				if (chains == vq->size) {
					more = vq_avail_pending(vq);
					ret = -EAGAIN;
					break;
				}
				ret = virtio_console_tx_pop(vc);
				if (ret)
					break;
				chains++;
			}
			ret = virtio_console_tx_write(vc, &budget);
			if (ret == -EAGAIN)
				more = !vc->tx_waiting; /* the budget is spent: a later pass */
		}
		if (ret != -EAGAIN || more || vc->tx_held)
			break;
		/* The queue is empty: kicks on, then look again. */
		vq_set_notify(vq, true);
		if (!vq_avail_pending(vq))
			break;
		vq_set_notify(vq, false);
		ret = 0;
	}
	if (vq_should_notify(vq))
		virtio_notify(&vc->vdev, VIRTIO_CONSOLE_TXQ);
	if (ret != -EAGAIN) {
		vc->broken = true;
		vc->tx_held = false;
		virtio_needs_reset(&vc->vdev, vq->broken_why ? vq->broken_why : "bad request");
		virtio_console_release_input(vc);
	} else if (more) {
		virtio_requeue(&vc->vdev, VIRTIO_CONSOLE_TXQ);
	}
}

/* The console has room again (loop thread): go on with the output it refused. */
static void virtio_console_writable(void *opaque)
{
	struct virtio_console *vc = opaque;

	if (vc->tx_waiting)
		virtio_console_tx(vc);
}

/* The guest broke the receiveq: stop serving and ask the driver for a reset. */
static void virtio_console_rx_broken(struct virtio_console *vc, struct vq *vq)
{
	vq->broken = true;
	vc->broken = true;
	virtio_needs_reset(&vc->vdev, vq->broken_why ? vq->broken_why : "bad receive buffer");
}

/*
 * Console input (loop thread): fill the driver's receive buffers, one chain
 * after the other, and return how many bytes found a buffer.
 */
static size_t virtio_console_push(void *opaque, const uint8_t *buf, size_t len)
{
	struct virtio_console *vc = opaque;
	struct vq_chain *c = &vc->rx_chain;
	struct vq *vq = &vc->vdev.vqs[VIRTIO_CONSOLE_RXQ];
	bool armed = false;
	size_t took = 0;
	int ret;

	if (!virtio_console_serving(vc) || !vq->size)
		return len; /* no driver to take it: dropped (see the top of the file) */
	while (took < len) {
		size_t n;

		ret = vq_pop(vq, c);
		if (ret == -EAGAIN) {
			if (armed)
				break;
			/* Ask for a kick, then look again: catches a buffer posted meanwhile. */
			vq_set_notify(vq, true);
			armed = true;
			continue;
		}
		if (ret == 0 && c->nr_out) {
			vq->broken_why = "device-readable buffer in the receiveq";
			ret = -EINVAL;
		}
		if (ret) {
			virtio_console_rx_broken(vc, vq);
			break;
		}
		n = vq_chain_write(c, 0, buf + took, len - took);
		if (vq_push(vq, c->head, (uint32_t)n)) {
			virtio_console_rx_broken(vc, vq);
			break;
		}
		took += n;
	}
	if (vc->broken)
		return len; /* the rest is dropped, as for any broken device */
	if (took < len) {
		/* The kick stays asked for; queue_notify passes the news on. */
		vc->input_refused = true;
	} else if (armed) {
		vq_set_notify(vq, false);
	}
	if (vq_should_notify(vq))
		virtio_notify(&vc->vdev, VIRTIO_CONSOLE_RXQ);
	return took;
}

/* The driver may have posted receive buffers: let the console offer its input again. */
static void virtio_console_rx_kicked(struct virtio_console *vc)
{
	struct vq *vq = &vc->vdev.vqs[VIRTIO_CONSOLE_RXQ];

	if (!vc->input_refused)
		return;
	/* Buffers are taken when input comes: no kicks wanted until we refuse again. */
	vq_set_notify(vq, false);
	virtio_console_release_input(vc);
}

static int virtio_console_activate(struct virtio_dev *vdev)
{
	struct virtio_console *vc = virtio_console_of(vdev);
	struct vq *rx = &vdev->vqs[VIRTIO_CONSOLE_RXQ];

	vc->broken = false;
	vc->tx_held = vc->tx_waiting = false;
	/* Receive buffers are popped when input comes: kicks only while input waits. */
	if (rx->size)
		vq_set_notify(rx, false);
	/* Output the driver posted before DRIVER_OK. */
	virtio_console_tx(vc);
	return 0;
}

static void virtio_console_queue_notify(struct virtio_dev *vdev, uint16_t q)
{
	struct virtio_console *vc = virtio_console_of(vdev);

	if (!virtio_console_serving(vc))
		return;
	if (q == VIRTIO_CONSOLE_TXQ)
		virtio_console_tx(vc);
	else if (q == VIRTIO_CONSOLE_RXQ)
		virtio_console_rx_kicked(vc);
}

static void virtio_console_reset(struct virtio_dev *vdev)
{
	struct virtio_console *vc = virtio_console_of(vdev);

	/*
	 * A transmit chain held in flight is forgotten (the queues are reset
	 * next). Input the console holds for the old queues is dropped: it is
	 * offered again, and refused by no one.
	 */
	vc->broken = false;
	vc->tx_held = vc->tx_waiting = false;
	virtio_console_release_input(vc);
}

static void virtio_console_destroy(struct virtio_dev *vdev)
{
	struct virtio_console *vc = virtio_console_of(vdev);

	console_attach(vc->con, NULL, NULL);
	console_remove_writer(vc->con, vc);
	if (vc->tx_cut)
		log_info("virtio-console: %llu output bytes skipped (past %u bytes in one buffer "
			 "chain)",
			 (unsigned long long)vc->tx_cut, VIRTIO_CONSOLE_CHAIN_MAX);
	free(vc);
}

static const struct virtio_dev_ops virtio_console_ops = {
	.name = "virtio-console",
	.device_id = VIRTIO_ID_CONSOLE,
	.config_size = VIRTIO_CONSOLE_CONFIG_SIZE,
	.config_read = virtio_console_config_read,
	.config_write = virtio_console_config_write,
	.activate = virtio_console_activate,
	.queue_notify = virtio_console_queue_notify,
	.reset = virtio_console_reset,
	.destroy = virtio_console_destroy,
};

int virtio_console_create(struct virtio_dev **out, struct console *con, struct ev_loop *loop,
			  const struct guest_mem *gm)
{
	struct virtio_console *vc;

	if (!con)
		return -EINVAL;
	vc = calloc(1, sizeof(*vc));
	if (!vc)
		return -ENOMEM;
	vc->con = con;
	vc->vdev.ops = &virtio_console_ops;
	vc->vdev.host_features = VIRTIO_BIT(VQ_F_INDIRECT_DESC) | VIRTIO_BIT(VQ_F_EVENT_IDX);
	vc->vdev.nr_queues = VIRTIO_CONSOLE_NR_QUEUES;
	vc->vdev.queue_max = VIRTIO_CONSOLE_QUEUE_MAX;
	vc->vdev.loop = loop;
	vc->vdev.gm = gm;
	if (console_add_writer(con, virtio_console_writable, vc)) {
		free(vc);
		return -ENOSPC;
	}
	console_attach(con, virtio_console_push, vc);
	*out = &vc->vdev;
	return 0;
}
