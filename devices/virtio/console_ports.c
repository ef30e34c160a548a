// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-console's MULTIPORT control queues (virtio 1.x, 5.3.6.2) and the
 * named ports' interface (console_ports.h). The queues of the ports
 * themselves are console.c's.
 *
 * A control message is {le32 id, le16 event, le16 value}; PORT_NAME is
 * followed by the name's bytes in the same buffer. The handshake, as a Linux
 * driver does it: the driver sends DEVICE_READY(1); the device answers with a
 * DEVICE_ADD for each port; the driver sets each port up and sends
 * PORT_READY(id, 1); the device answers with CONSOLE_PORT (port 0), then
 * PORT_OPEN(id, 1) when the host side is open, then PORT_NAME (a named
 * port). The name comes last: a program in the guest finds the port by its
 * name (in sysfs), and one that opens it before it learnt that the host side
 * is open would read end of file. The driver sends PORT_OPEN(id, 1 or 0)
 * when a program opens or closes the port.
 *
 * What the device owes the driver is kept as bits per port (added, named,
 * console, open) and written into the control receiveq in port order as the
 * driver posts buffers: however often the driver asks, the backlog is at
 * most four messages a port, and nothing is lost while it posts none.
 *
 * Hostile input: on the control transmitq a device-writable buffer or a
 * message shorter than 8 bytes (in one chain: a message may be spread over
 * the buffers of its chain, never over chains), and on the control receiveq
 * a device-readable buffer or one too short for the message, break the
 * device (NEEDS_RESET). A well-formed message the device has no use for (an
 * unknown event, one only a device sends, a port that does not exist, a
 * driver reporting failure) is ignored with a rate-limited line. A pass takes
 * at most a queue's worth of messages, then requeues.
 */
#include <errno.h>
#include <string.h>

#include "kvmrun/log.h"
#include "kvmrun/virtio.h"
#include "virtio/console_internal.h"

/* Control events (5.3.6.2). */
#define VIRTIO_CONSOLE_DEVICE_READY 0
#define VIRTIO_CONSOLE_DEVICE_ADD 1
#define VIRTIO_CONSOLE_DEVICE_REMOVE 2
#define VIRTIO_CONSOLE_PORT_READY 3
#define VIRTIO_CONSOLE_CONSOLE_PORT 4
#define VIRTIO_CONSOLE_RESIZE 5
#define VIRTIO_CONSOLE_PORT_OPEN 6
#define VIRTIO_CONSOLE_PORT_NAME 7

#define VIRTIO_CONSOLE_CTRL_MSG_SIZE 8

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, (uint16_t)v);
	put_le16(p + 2, (uint16_t)(v >> 16));
}

static uint32_t get_le32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void virtio_console_config_read(struct virtio_dev *vdev, uint32_t off, void *data, uint32_t len)
{
	struct virtio_console *vc = virtio_console_of(vdev);
	uint8_t cfg[12] = {0};

	/* cols, rows: 0 (no F_SIZE); max_nr_ports with MULTIPORT; emerg_wr: 0. */
	if (vdev->host_features & VIRTIO_BIT(VIRTIO_CONSOLE_F_MULTIPORT))
		put_le32(cfg + 4, vc->nr_ports);
	if (off > sizeof(cfg) || len > sizeof(cfg) - off) {
		memset(data, 0, len);
		return;
	}
	memcpy(data, cfg + off, len);
}

/* The next message owed: its port and VIRTIO_CONSOLE_CTRL_* bit, or NULL. */
static struct virtio_console_port_state *virtio_console_ctrl_next(struct virtio_console *vc,
								  unsigned int *bit)
{
	for (unsigned int i = 0; i < vc->nr_ports; i++) {
		struct virtio_console_port_state *p = &vc->ports[i];

		if (!p->ctrl_pending)
			continue;
		*bit =
		    p->ctrl_pending & -p->ctrl_pending; /* the lowest: in the order of the bits */
		return p;
	}
	return NULL;
}

/* Writes the message for p's bit into msg; returns its size. */
static size_t virtio_console_ctrl_build(const struct virtio_console_port_state *p, unsigned int bit,
					uint8_t *msg)
{
	uint16_t event = VIRTIO_CONSOLE_PORT_OPEN, value = 0;
	size_t size = VIRTIO_CONSOLE_CTRL_MSG_SIZE;

	switch (bit) {
	case VIRTIO_CONSOLE_CTRL_ADD:
		event = VIRTIO_CONSOLE_DEVICE_ADD;
		break;
	case VIRTIO_CONSOLE_CTRL_NAME:
		event = VIRTIO_CONSOLE_PORT_NAME;
		memcpy(msg + size, p->name, strlen(p->name));
		size += strlen(p->name);
		break;
	case VIRTIO_CONSOLE_CTRL_CONSOLE:
		event = VIRTIO_CONSOLE_CONSOLE_PORT;
		value = 1;
		break;
	default:
		value = p->host_open;
		break;
	}
	put_le32(msg, p->id);
	put_le16(msg + 4, event);
	put_le16(msg + 6, value);
	return size;
}

/* Writes the messages owed into the control receiveq, as far as the driver posted buffers. */
static void virtio_console_ctrl_flush(struct virtio_console *vc)
{
	struct vq *vq = &vc->vdev.vqs[VIRTIO_CONSOLE_CTRL_RXQ];
	struct vq_chain *c = &vc->ctrl_rx_chain;
	uint8_t msg[VIRTIO_CONSOLE_CTRL_MSG_SIZE + VIRTIO_CONSOLE_NAME_MAX];
	struct virtio_console_port_state *p;
	unsigned int bit;
	bool armed = false;
	int ret;

	if (!virtio_console_serving(vc) || !vc->multiport || !vq->size)
		return;
	while ((p = virtio_console_ctrl_next(vc, &bit))) {
		size_t size = virtio_console_ctrl_build(p, bit, msg);

		ret = virtio_console_pop_in(vq, c, &armed,
					    "device-readable buffer in the control receiveq");
		if (ret == -EAGAIN)
			break;
		if (ret == 0 && c->in_len < size) {
			vq->broken_why = "control receive buffer too short for the message";
			ret = -EINVAL;
		}
		if (ret == 0 && vq_push(vq, c->head, (uint32_t)vq_chain_write(c, 0, msg, size)))
			ret = -EIO;
		if (ret) {
			virtio_console_break(vc, vq, "bad control receive buffer");
			return;
		}
		p->ctrl_pending &= ~bit;
	}
	if (armed && !virtio_console_ctrl_next(vc, &bit))
		vq_set_notify(vq, false);
	if (vq_should_notify(vq))
		virtio_notify(&vc->vdev, VIRTIO_CONSOLE_CTRL_RXQ);
}

static void virtio_console_set_guest_open(struct virtio_console_port_state *p, bool open)
{
	if (p->guest_open == open)
		return;
	p->guest_open = open;
	if (p->ops && p->ops->open_changed)
		p->ops->open_changed(p->opaque, open);
}

void virtio_console_ports_closed(struct virtio_console *vc)
{
	for (unsigned int i = 0; i < vc->nr_ports; i++)
		virtio_console_set_guest_open(&vc->ports[i], false);
}

void virtio_console_ctrl_reset(struct virtio_console *vc)
{
	virtio_console_ports_closed(vc);
	for (unsigned int i = 0; i < vc->nr_ports; i++) {
		vc->ports[i].ready = false;
		vc->ports[i].ctrl_pending = 0;
	}
}

static void virtio_console_ctrl_ignored(struct virtio_console *vc, uint32_t id, uint16_t event,
					uint16_t value, const char *why)
{
	log_ratelimited(&vc->ctrl_rl, LOG_WARN,
			"virtio-console: control message (port %u, event %u, value %u) "
			"ignored: %s",
			id, event, value, why);
}

/* One message from the driver: act on it, or ignore it. */
static void virtio_console_ctrl_handle(struct virtio_console *vc, uint32_t id, uint16_t event,
				       uint16_t value)
{
	struct virtio_console_port_state *p = NULL;

	if (id < vc->nr_ports && vc->ports[id].present)
		p = &vc->ports[id];
	switch (event) {
	case VIRTIO_CONSOLE_DEVICE_READY:
		if (!value) {
			virtio_console_ctrl_ignored(vc, id, event, value,
						    "the driver failed to set up");
			return;
		}
		for (unsigned int i = 0; i < vc->nr_ports; i++)
			if (vc->ports[i].present)
				vc->ports[i].ctrl_pending |= VIRTIO_CONSOLE_CTRL_ADD;
		virtio_console_ctrl_flush(vc);
		return;
	case VIRTIO_CONSOLE_PORT_READY:
		if (!p) {
			virtio_console_ctrl_ignored(vc, id, event, value, "no such port");
		} else if (!value) {
			virtio_console_ctrl_ignored(vc, id, event, value,
						    "the driver failed to add the port");
		} else {
			p->ready = true;
			p->ctrl_pending |=
			    p->ops ? VIRTIO_CONSOLE_CTRL_NAME : VIRTIO_CONSOLE_CTRL_CONSOLE;
			if (p->host_open)
				p->ctrl_pending |= VIRTIO_CONSOLE_CTRL_OPEN;
			virtio_console_ctrl_flush(vc);
		}
		return;
	case VIRTIO_CONSOLE_PORT_OPEN:
		if (!p)
			virtio_console_ctrl_ignored(vc, id, event, value, "no such port");
		else
			virtio_console_set_guest_open(p, value != 0);
		return;
	case VIRTIO_CONSOLE_DEVICE_ADD:
	case VIRTIO_CONSOLE_DEVICE_REMOVE:
	case VIRTIO_CONSOLE_CONSOLE_PORT:
	case VIRTIO_CONSOLE_RESIZE:
	case VIRTIO_CONSOLE_PORT_NAME:
		virtio_console_ctrl_ignored(vc, id, event, value, "an event only the device sends");
		return;
	default:
		virtio_console_ctrl_ignored(vc, id, event, value, "unknown event");
		return;
	}
}

/* One chain of the control transmitq: pushed, then handled. 0 or -errno (broken). */
static int virtio_console_ctrl_msg(struct virtio_console *vc, struct vq *vq,
				   const struct vq_chain *c)
{
	uint8_t m[VIRTIO_CONSOLE_CTRL_MSG_SIZE];

	if (c->nr_in) {
		vq->broken_why = "device-writable buffer in the control transmitq";
		return -EINVAL;
	}
	if (c->out_len < sizeof(m)) {
		vq->broken_why = "control message shorter than 8 bytes";
		return -EINVAL;
	}
	vq_chain_read(c, 0, m, sizeof(m));
	if (vq_push(vq, c->head, 0))
		return -EIO;
	virtio_console_ctrl_handle(vc, get_le32(m), (uint16_t)(m[4] | m[5] << 8),
				   (uint16_t)(m[6] | m[7] << 8));
	return 0;
}

/* One pass over the control transmitq: the pattern of virtqueue.h, a queue's worth at most. */
static void virtio_console_ctrl_tx(struct virtio_console *vc)
{
	struct vq *vq = &vc->vdev.vqs[VIRTIO_CONSOLE_CTRL_TXQ];
	struct vq_chain *c = &vc->ctrl_tx_chain;
	unsigned int n = 0;
	bool more = false;
	int ret = -EAGAIN;

	if (!vq->size || vq->broken)
		return;
	vq_set_notify(vq, false);
	for (;;) {
		while (n < vq->size && (ret = vq_pop(vq, c)) == 0) {
			n++;
			ret = virtio_console_ctrl_msg(vc, vq, c);
			if (ret || !virtio_console_serving(vc))
				break;
		}
		if (!virtio_console_serving(vc))
			return; /* a reply or a callback broke the device */
		if (ret && ret != -EAGAIN)
			break;
		if (n == vq->size && vq_avail_pending(vq)) {
			more = true; /* the kicks stay off: requeued */
			break;
		}
		vq_set_notify(vq, true);
		if (!vq_avail_pending(vq))
			break;
		vq_set_notify(vq, false);
	}
	if (vq_should_notify(vq))
		virtio_notify(&vc->vdev, VIRTIO_CONSOLE_CTRL_TXQ);
	if (ret && ret != -EAGAIN)
		virtio_console_break(vc, vq, "bad control message");
	else if (more)
		virtio_requeue(&vc->vdev, VIRTIO_CONSOLE_CTRL_TXQ);
}

void virtio_console_ctrl_notify(struct virtio_console *vc, uint16_t q)
{
	if (q == VIRTIO_CONSOLE_CTRL_TXQ)
		virtio_console_ctrl_tx(vc);
	else if (q == VIRTIO_CONSOLE_CTRL_RXQ)
		virtio_console_ctrl_flush(vc);
}

/* The named port of index port, or NULL. */
static struct virtio_console_port_state *virtio_console_named(struct virtio_dev *vdev,
							      unsigned int port)
{
	struct virtio_console *vc = virtio_console_of(vdev);

	if (port >= vc->nr_ports - 1)
		return NULL;
	return &vc->ports[port + 1];
}

size_t virtio_console_port_send(struct virtio_dev *vdev, unsigned int port, const uint8_t *buf,
				size_t len)
{
	struct virtio_console_port_state *p = virtio_console_named(vdev, port);

	if (!p || !len || !virtio_console_serving(p->vc) || !p->vc->multiport || !p->guest_open ||
	    !vdev->vqs[p->rxq].size)
		return 0;
	return virtio_console_rx_push(p, buf, len);
}

void virtio_console_port_resume(struct virtio_dev *vdev, unsigned int port)
{
	struct virtio_console_port_state *p = virtio_console_named(vdev, port);

	if (p && p->tx_waiting && p->vc->multiport)
		virtio_console_tx(p);
}

bool virtio_console_port_is_open(struct virtio_dev *vdev, unsigned int port)
{
	struct virtio_console_port_state *p = virtio_console_named(vdev, port);

	return p && p->guest_open;
}

void virtio_console_port_set_host_open(struct virtio_dev *vdev, unsigned int port, bool open)
{
	struct virtio_console_port_state *p = virtio_console_named(vdev, port);

	if (!p || p->host_open == open)
		return;
	p->host_open = open;
	if (p->ready) {
		p->ctrl_pending |= VIRTIO_CONSOLE_CTRL_OPEN;
		virtio_console_ctrl_flush(p->vc);
	}
}
