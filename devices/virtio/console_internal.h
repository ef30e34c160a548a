/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What console.c (the queues of the ports, the device) and console_ports.c
 * (the control queues of MULTIPORT, the named ports' interface) share.
 * Everything here is for the event-loop thread.
 */
#ifndef KVMRUN_DEVICES_VIRTIO_CONSOLE_INTERNAL_H
#define KVMRUN_DEVICES_VIRTIO_CONSOLE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "kvmrun/virtio.h"
#include "virtio/console_ports.h"

/* Feature bits (5.3.3). */
#define VIRTIO_CONSOLE_F_SIZE 0
#define VIRTIO_CONSOLE_F_MULTIPORT 1

/* Queues: port 0's pair, the control pair, then port N's pair at 2N + 2. */
#define VIRTIO_CONSOLE_RXQ 0
#define VIRTIO_CONSOLE_TXQ 1
#define VIRTIO_CONSOLE_CTRL_RXQ 2
#define VIRTIO_CONSOLE_CTRL_TXQ 3

/* Ports: port 0 and the named ones. */
#define VIRTIO_CONSOLE_PORTS_MAX (1 + VIRTIO_CONSOLE_MAX_PORTS)

/* Control messages the device still owes the driver for a port (bits, in this order). */
#define VIRTIO_CONSOLE_CTRL_ADD 1u
#define VIRTIO_CONSOLE_CTRL_CONSOLE 2u
#define VIRTIO_CONSOLE_CTRL_OPEN 4u
#define VIRTIO_CONSOLE_CTRL_NAME 8u

struct virtio_console;

struct virtio_console_port_state {
	struct virtio_console *vc;
	uint32_t id; /* as the guest knows it */
	uint16_t rxq, txq;
	bool present; /* port 0 without a console is not */
	/* The host side: NULL for port 0, whose host side is the console. */
	const struct virtio_console_port_ops *ops;
	void *opaque;
	char name[VIRTIO_CONSOLE_NAME_MAX + 1];

	/* Input was refused for want of buffers: tell the host side when the driver posts. */
	bool rx_refused;
	/* tx_chain is popped and written up to tx_off: it goes on in a later pass. */
	bool tx_held;
	/* The host side refused bytes: wait for its call back before the next pass. */
	bool tx_waiting;
	uint32_t tx_off;
	uint64_t tx_cut; /* bytes past VIRTIO_CONSOLE_CHAIN_MAX in a chain, skipped */
	struct vq_chain *tx_chain;

	/* MULTIPORT state, reset with the device. */
	bool ready;		   /* the driver answered PORT_READY(1) */
	bool guest_open;	   /* the driver's last PORT_OPEN */
	bool host_open;		   /* ours (kept across resets) */
	unsigned int ctrl_pending; /* VIRTIO_CONSOLE_CTRL_* */
};

struct virtio_console {
	struct virtio_dev vdev;
	struct console *con; /* port 0's host side, or NULL */
	/* A queue broke: serve nothing until the driver resets the device. */
	bool broken;
	/* MULTIPORT was negotiated (valid from activate on). */
	bool multiport;
	unsigned int nr_ports; /* port 0 included */
	struct virtio_console_port_state ports[VIRTIO_CONSOLE_PORTS_MAX];
	struct log_ratelimit ctrl_rl; /* ignored control messages */
	/* Scratch chains (large: not for the stack). */
	struct vq_chain rx_chain;
	struct vq_chain ctrl_rx_chain;
	struct vq_chain ctrl_tx_chain;
};

static inline struct virtio_console *virtio_console_of(struct virtio_dev *vdev)
{
	return container_of(vdev, struct virtio_console, vdev);
}

static inline bool virtio_console_serving(const struct virtio_console *vc)
{
	return vc->vdev.active && !vc->broken;
}

/*
 * console.c: the guest broke queue vq: ask for a reset (why, unless the queue
 * says), stop serving, close the named ports.
 */
void virtio_console_break(struct virtio_console *vc, struct vq *vq, const char *why);
/* console.c: fill port p's receive buffers with buf; returns the bytes taken. */
/*
 * The next chain of receive queue vq for the device to write into: 0, -EAGAIN when
 * none is there even after asking the driver for a kick (*armed: asked already in
 * this pass), -EINVAL (vq->broken_why set to @bad) for a device-readable buffer in
 * it, or what vq_pop refuses.
 */
int virtio_console_pop_in(struct vq *vq, struct vq_chain *c, bool *armed, const char *bad);
size_t virtio_console_rx_push(struct virtio_console_port_state *p, const uint8_t *buf, size_t len);
/* console.c: one pass over port p's transmitq. */
void virtio_console_tx(struct virtio_console_port_state *p);

/* console_ports.c: the config space (max_nr_ports). */
void virtio_console_config_read(struct virtio_dev *vdev, uint32_t off, void *data, uint32_t len);
/* console_ports.c: the driver kicked a control queue. */
void virtio_console_ctrl_notify(struct virtio_console *vc, uint16_t q);
/* console_ports.c: forget the control state (device reset); closes open ports. */
void virtio_console_ctrl_reset(struct virtio_console *vc);
/* console_ports.c: every named port the guest held open is closed (open_changed). */
void virtio_console_ports_closed(struct virtio_console *vc);

#endif
