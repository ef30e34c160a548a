// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-console (virtio 1.x, section 5.3). With no named port it has a
 * single port and no MULTIPORT: receiveq 0 carries console input into
 * buffers the driver posts, transmitq 1 carries the driver's output to the
 * console backend. With named ports (console_ports.h) it offers MULTIPORT:
 * port 0 is still the console (or absent), each named port has a queue pair
 * of its own served the same way, with callbacks in place of the console,
 * and the control queues (console_ports.c) tell the driver about the ports.
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
 * A named port's sender keeps its bytes instead: send returns 0.
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
 * NEEDS_RESET and serves no queue until the driver resets it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend/console.h"
#include "kvmrun/log.h"
#include "kvmrun/virtio.h"
#include "virtio/console_internal.h"
#include "virtio/devices.h"

#define VIRTIO_CONSOLE_QUEUE_MAX 256
/* Bytes written to the host side per pass at most, and per chain at most. */
#define VIRTIO_CONSOLE_PASS_MAX (64u << 10)
#define VIRTIO_CONSOLE_CHAIN_MAX (1u << 20)

/*
 * struct virtio_console_config: le16 cols, le16 rows (F_SIZE), le32
 * max_nr_ports (F_MULTIPORT), le32 emerg_wr (F_EMERG_WRITE). Only MULTIPORT
 * may be offered (console_ports.c); the rest reads as zero, writes are ignored.
 */
#define VIRTIO_CONSOLE_CONFIG_SIZE 12

/* Let the host side offer held input again (the console's is delivered or dropped). */
static void virtio_console_release_input(struct virtio_console_port_state *p)
{
	if (!p->rx_refused)
		return;
	p->rx_refused = false;
	if (p->ops)
		p->ops->writable(p->opaque);
	else
		console_input_ready(p->vc->con);
}

static void virtio_console_config_write(struct virtio_dev *vdev, uint32_t off, const void *data,
					uint32_t len)
{
	/* Read-only fields (and emerg_wr without its feature): ignored. */
}

/* Bytes of the guest's output to port p's host side; returns how many it took. */
static size_t virtio_console_out(struct virtio_console_port_state *p, const uint8_t *buf,
				 size_t len)
{
	if (p->ops)
		return p->ops->from_guest(p->opaque, buf, len);
	return console_write(p->vc->con, buf, len);
}

void virtio_console_break(struct virtio_console *vc, struct vq *vq, const char *why)
{
	bool was = vc->broken;

	vq->broken = true;
	vc->broken = true;
	if (was)
		return;
	virtio_needs_reset(&vc->vdev, vq->broken_why ? vq->broken_why : why);
	for (unsigned int i = 0; i < vc->nr_ports; i++) {
		vc->ports[i].tx_held = false;
		if (!vc->ports[i].ops)
			virtio_console_release_input(&vc->ports[i]);
	}
	/* The named ports are closed until the driver resets the device. */
	virtio_console_ports_closed(vc);
}

/*
 * Writes what is left of p's held chain, at most *budget bytes; pushes it
 * when done. Returns 0 when done, -EAGAIN when it stays held (the host side
 * is full, or the budget is spent), -EIO when the queue broke.
 */
static int virtio_console_tx_write(struct virtio_console_port_state *p, size_t *budget)
{
	struct vq *vq = &p->vc->vdev.vqs[p->txq];
	struct vq_chain *c = p->tx_chain;
	uint32_t end = MIN(c->out_len, VIRTIO_CONSOLE_CHAIN_MAX);
	uint32_t pos = 0;

	for (unsigned int i = 0; i < c->nr_out && p->tx_off < end; i++) {
		const struct vq_buf *b = &c->bufs[i];
		uint32_t skip, want;
		size_t took;

		if (pos + b->len <= p->tx_off) {
			pos += b->len;
			continue;
		}
		skip = p->tx_off - pos;
		want = (uint32_t)MIN((size_t)MIN(b->len, end - pos) - skip, *budget);
		if (!want)
			return -EAGAIN;
		took = virtio_console_out(p, (const uint8_t *)b->host + skip, want);
		if (took > want)
			took = want; /* a host side that claims more than offered */
		p->tx_off += (uint32_t)took;
		*budget -= took;
		if (took < want) {
			p->tx_waiting = true;
			return -EAGAIN;
		}
		if (p->tx_off < MIN(pos + b->len, end))
			return -EAGAIN; /* the budget is spent inside this buffer */
		pos += b->len;
	}
	if (p->tx_off < end)
		return -EAGAIN;
	p->tx_cut += c->out_len - end;
	p->tx_held = false;
	return vq_push(vq, c->head, 0) ? -EIO : 0;
}

/* Pops the next chain of p's transmitq into tx_chain; 0, -EAGAIN (none) or -EIO (broken). */
static int virtio_console_tx_pop(struct virtio_console_port_state *p)
{
	struct vq *vq = &p->vc->vdev.vqs[p->txq];
	int ret = vq_pop(vq, p->tx_chain);

	if (ret == -EAGAIN)
		return ret;
	if (ret == 0 && p->tx_chain->nr_in) {
		vq->broken_why = "device-writable buffer in the transmitq";
		ret = -EINVAL;
	}
	if (ret) {
		vq->broken = true;
		return -EIO;
	}
	p->tx_held = true;
	p->tx_off = 0;
	return 0;
}

/*
 * One pass over p's transmitq (see the top of the file): the race-free
 * pattern of virtqueue.h, with a byte budget, and a held chain first.
 */
void virtio_console_tx(struct virtio_console_port_state *p)
{
	struct virtio_console *vc = p->vc;
	struct vq *vq = &vc->vdev.vqs[p->txq];
	size_t budget = VIRTIO_CONSOLE_PASS_MAX;
	unsigned int chains = 0;
	bool more = false;
	int ret = 0;

	if (!virtio_console_serving(vc) || !p->present || !vq->size || vq->broken)
		return;
	p->tx_waiting = false;
	vq_set_notify(vq, false);
	for (;;) {
		while (ret == 0) {
			if (!p->tx_held) {
				if (chains == vq->size) {
					more = vq_avail_pending(vq);
					ret = -EAGAIN;
					break;
				}
				ret = virtio_console_tx_pop(p);
				if (ret)
					break;
				chains++;
			}
			ret = virtio_console_tx_write(p, &budget);
			if (ret == -EAGAIN)
				more = !p->tx_waiting; /* the budget is spent: a later pass */
			if (!virtio_console_serving(vc))
				return; /* the host side's callback reset or broke the device */
		}
		if (ret != -EAGAIN || more || p->tx_held)
			break;
		/* The queue is empty: kicks on, then look again. */
		vq_set_notify(vq, true);
		if (!vq_avail_pending(vq))
			break;
		vq_set_notify(vq, false);
		ret = 0;
	}
	if (vq_should_notify(vq))
		virtio_notify(&vc->vdev, p->txq);
	if (ret != -EAGAIN)
		virtio_console_break(vc, vq, "bad request");
	else if (more)
		virtio_requeue(&vc->vdev, p->txq);
}

/* The console has room again (loop thread): go on with the output it refused. */
static void virtio_console_writable(void *opaque)
{
	struct virtio_console *vc = opaque;

	if (vc->ports[0].tx_waiting)
		virtio_console_tx(&vc->ports[0]);
}

int virtio_console_pop_in(struct vq *vq, struct vq_chain *c, bool *armed, const char *bad)
{
	int ret;

	for (;;) {
		ret = vq_pop(vq, c);
		if (ret != -EAGAIN || *armed)
			break;
		/* Ask for a kick, then look again: catches a buffer posted meanwhile. */
		vq_set_notify(vq, true);
		*armed = true;
	}
	if (ret == 0 && c->nr_out) {
		vq->broken_why = bad;
		ret = -EINVAL;
	}
	return ret;
}

/*
 * Fill port p's receive buffers with buf, one chain after the other, and
 * return how many bytes found a buffer. The caller checked that the device
 * serves.
 */
size_t virtio_console_rx_push(struct virtio_console_port_state *p, const uint8_t *buf, size_t len)
{
	struct virtio_console *vc = p->vc;
	struct vq_chain *c = &vc->rx_chain;
	struct vq *vq = &vc->vdev.vqs[p->rxq];
	bool armed = false;
	size_t took = 0;
	int ret;

	while (took < len) {
		size_t n;

		ret = virtio_console_pop_in(vq, c, &armed, "device-readable buffer in the receiveq");
		if (ret == -EAGAIN)
			break;
		if (ret) {
			virtio_console_break(vc, vq, "bad receive buffer");
			return took;
		}
		n = vq_chain_write(c, 0, buf + took, len - took);
		if (vq_push(vq, c->head, (uint32_t)n)) {
			virtio_console_break(vc, vq, "bad receive buffer");
			return took;
		}
		took += n;
	}
	if (took < len) {
		/* The kick stays asked for; queue_notify passes the news on. */
		p->rx_refused = true;
	} else if (armed) {
		vq_set_notify(vq, false);
	}
	if (vq_should_notify(vq))
		virtio_notify(&vc->vdev, p->rxq);
	return took;
}

/* Console input (loop thread): into port 0's receive buffers. */
static size_t virtio_console_push(void *opaque, const uint8_t *buf, size_t len)
{
	struct virtio_console *vc = opaque;
	size_t took;

	if (!virtio_console_serving(vc) || !vc->vdev.vqs[VIRTIO_CONSOLE_RXQ].size)
		return len; /* no driver to take it: dropped (see the top of the file) */
	took = virtio_console_rx_push(&vc->ports[0], buf, len);
	return vc->broken ? len : took; /* the rest is dropped, as for any broken device */
}

/* The driver may have posted receive buffers: let the host side offer its input again. */
static void virtio_console_rx_kicked(struct virtio_console_port_state *p)
{
	struct vq *vq = &p->vc->vdev.vqs[p->rxq];

	if (!p->rx_refused)
		return;
	/* Buffers are taken when input comes: no kicks wanted until we refuse again. */
	vq_set_notify(vq, false);
	virtio_console_release_input(p);
}

/* The port whose queue q is (NULL: a control queue, or none). */
static struct virtio_console_port_state *virtio_console_port_of_queue(struct virtio_console *vc,
								      uint16_t q)
{
	unsigned int id;

	if (q < VIRTIO_CONSOLE_CTRL_RXQ)
		id = 0;
	else if (q < 2 * 2)
		return NULL;
	else
		id = q / 2u - 1;
	if (id >= vc->nr_ports || (id && !vc->multiport) || !vc->ports[id].present)
		return NULL;
	return &vc->ports[id];
}

static int virtio_console_activate(struct virtio_dev *vdev)
{
	struct virtio_console *vc = virtio_console_of(vdev);

	vc->broken = false;
	vc->multiport = vc->nr_ports > 1 && virtio_has_feature(vdev, VIRTIO_CONSOLE_F_MULTIPORT);
	for (unsigned int i = 0; i < vc->nr_ports; i++) {
		struct virtio_console_port_state *p = &vc->ports[i];

		p->tx_held = p->tx_waiting = false;
		/* Receive buffers are popped when input comes: kicks only while input waits. */
		if (p->rxq < vdev->nr_queues && vdev->vqs[p->rxq].size)
			vq_set_notify(&vdev->vqs[p->rxq], false);
	}
	if (vc->multiport && vdev->vqs[VIRTIO_CONSOLE_CTRL_RXQ].size)
		vq_set_notify(&vdev->vqs[VIRTIO_CONSOLE_CTRL_RXQ], false);
	/* Output the driver posted before DRIVER_OK. */
	for (unsigned int i = 0; i < (vc->multiport ? vc->nr_ports : 1u); i++)
		virtio_console_tx(&vc->ports[i]);
	return 0;
}

static void virtio_console_queue_notify(struct virtio_dev *vdev, uint16_t q)
{
	struct virtio_console *vc = virtio_console_of(vdev);
	struct virtio_console_port_state *p;

	if (!virtio_console_serving(vc))
		return;
	p = virtio_console_port_of_queue(vc, q);
	if (!p) {
		if (vc->multiport)
			virtio_console_ctrl_notify(vc, q);
		return;
	}
	if (q == p->txq)
		virtio_console_tx(p);
	else
		virtio_console_rx_kicked(p);
}

static void virtio_console_reset(struct virtio_dev *vdev)
{
	struct virtio_console *vc = virtio_console_of(vdev);

	/*
	 * A transmit chain held in flight is forgotten (the queues are reset
	 * next). Input the console holds for the old queues is dropped: it is
	 * offered again, and refused by no one. A named port's sender learns
	 * of the reset as the port closing.
	 */
	vc->broken = false;
	for (unsigned int i = 0; i < vc->nr_ports; i++) {
		struct virtio_console_port_state *p = &vc->ports[i];

		p->tx_held = p->tx_waiting = false;
		if (p->ops)
			p->rx_refused = false;
		else
			virtio_console_release_input(p);
	}
	virtio_console_ctrl_reset(vc);
	vc->multiport = false;
}

static void virtio_console_destroy(struct virtio_dev *vdev)
{
	struct virtio_console *vc = virtio_console_of(vdev);

	if (vc->con) {
		console_attach(vc->con, NULL, NULL);
		console_remove_writer(vc->con, vc);
	}
	for (unsigned int i = 0; i < vc->nr_ports; i++) {
		struct virtio_console_port_state *p = &vc->ports[i];

		if (p->tx_cut)
			log_info("virtio-console: %llu output bytes skipped on port %u (past %u "
				 "bytes in one buffer chain)",
				 (unsigned long long)p->tx_cut, p->id, VIRTIO_CONSOLE_CHAIN_MAX);
		free(p->tx_chain);
	}
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

/* A port name the guest can use as a file name: printable, no '/', not too long. */
static bool virtio_console_name_ok(const char *name)
{
	size_t n = name ? strnlen(name, VIRTIO_CONSOLE_NAME_MAX + 1) : 0;

	if (n == 0 || n > VIRTIO_CONSOLE_NAME_MAX || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (name[i] <= ' ' || name[i] >= 0x7f || name[i] == '/')
			return false;
	return true;
}

static int virtio_console_check_ports(const struct virtio_console_port *ports, unsigned int nr)
{
	if (nr > VIRTIO_CONSOLE_MAX_PORTS || (nr && !ports))
		return -EINVAL;
	for (unsigned int i = 0; i < nr; i++) {
		if (!virtio_console_name_ok(ports[i].name) || !ports[i].ops ||
		    !ports[i].ops->from_guest || !ports[i].ops->writable)
			return -EINVAL;
		for (unsigned int j = 0; j < i; j++)
			if (!strcmp(ports[i].name, ports[j].name))
				return -EINVAL;
	}
	return 0;
}

int virtio_console_create_ports(struct virtio_dev **out, struct console *con,
				const struct virtio_console_port *ports, unsigned int nr,
				struct ev_loop *loop, const struct guest_mem *gm)
{
	struct virtio_console *vc;
	int ret;

	if ((!con && !nr) || virtio_console_check_ports(ports, nr))
		return -EINVAL;
	vc = calloc(1, sizeof(*vc));
	if (!vc)
		return -ENOMEM;
	vc->con = con;
	vc->nr_ports = 1 + nr;
	for (unsigned int i = 0; i < vc->nr_ports; i++) {
		struct virtio_console_port_state *p = &vc->ports[i];

		p->vc = vc;
		p->id = i;
		p->rxq = (uint16_t)(i ? 2 * i + 2 : VIRTIO_CONSOLE_RXQ);
		p->txq = (uint16_t)(p->rxq + 1);
		p->present = i || con;
		p->host_open = true;
		if (i) {
			p->ops = ports[i - 1].ops;
			p->opaque = ports[i - 1].opaque;
			strcpy(p->name, ports[i - 1].name); /* checked: fits */
		}
		p->tx_chain = malloc(sizeof(*p->tx_chain));
		if (!p->tx_chain) {
			ret = -ENOMEM;
			goto err_free;
		}
	}
	vc->vdev.ops = &virtio_console_ops;
	vc->vdev.host_features = VIRTIO_BIT(VQ_F_INDIRECT_DESC) | VIRTIO_BIT(VQ_F_EVENT_IDX);
	if (nr)
		vc->vdev.host_features |= VIRTIO_BIT(VIRTIO_CONSOLE_F_MULTIPORT);
	/* Port 0's pair, then (MULTIPORT) the control pair and a pair per named port. */
	vc->vdev.nr_queues = (uint16_t)(nr ? 2 * (nr + 2) : 2);
	vc->vdev.queue_max = VIRTIO_CONSOLE_QUEUE_MAX;
	vc->vdev.loop = loop;
	vc->vdev.gm = gm;
	if (con) {
		if (console_add_writer(con, virtio_console_writable, vc)) {
			ret = -ENOSPC;
			goto err_free;
		}
		console_attach(con, virtio_console_push, vc);
	}
	*out = &vc->vdev;
	return 0;

err_free:
	for (unsigned int i = 0; i < vc->nr_ports; i++)
		free(vc->ports[i].tx_chain);
	free(vc);
	return ret;
}

int virtio_console_create(struct virtio_dev **out, struct console *con, struct ev_loop *loop,
			  const struct guest_mem *gm)
{
	if (!con)
		return -EINVAL;
	return virtio_console_create_ports(out, con, NULL, 0, loop, gm);
}
