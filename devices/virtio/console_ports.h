/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-console with named ports (VIRTIO_CONSOLE_F_MULTIPORT, virtio 1.x
 * section 5.3): port 0 is the console as virtio_console_create() has it
 * (optional), and ports 1..nr are named byte streams whose host side is a
 * set of callbacks. In a Linux guest a named port is /dev/vportNpM with its
 * name in /sys/class/virtio-ports/vportNpM/name.
 *
 * Port numbers in this interface are indices into the array given to the
 * constructor (0 .. nr - 1); the guest sees port index i as port id i + 1.
 *
 * Threads: the constructor runs before the device is handed to a transport;
 * everything else (the calls below and the callbacks) on the event-loop
 * thread only.
 *
 * Flow control, both ways, and nothing dropped:
 * - Guest to host: from_guest() is offered what the guest wrote, in order.
 *   Taking fewer bytes than offered holds the rest in the guest's buffer (the
 *   chain stays in flight with its offset, the port's transmit kicks stay
 *   off) until virtio_console_port_resume() is called for that port.
 * - Host to guest: virtio_console_port_send() puts what fits into the
 *   receive buffers the guest has posted and returns how many bytes that was;
 *   the caller keeps the rest. When it took fewer than offered, writable()
 *   is called once the guest posts buffers again: send the rest then.
 *   Until the guest has opened the port (and after it closed it) send
 *   returns 0: a Linux guest discards data on a port nobody holds open.
 *   open_changed(true) is the time to send what waited.
 * - A device reset (or a driver that does not negotiate MULTIPORT) closes
 *   every open port (open_changed(false)); a chain held for from_guest is
 *   forgotten then, and the next resume does nothing.
 */
#ifndef KVMRUN_DEVICES_VIRTIO_CONSOLE_PORTS_H
#define KVMRUN_DEVICES_VIRTIO_CONSOLE_PORTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmrun/compiler.h"

struct console;
struct ev_loop;
struct guest_mem;
struct virtio_dev;

/* Named ports at most (besides port 0), and the longest name in bytes. */
#define VIRTIO_CONSOLE_MAX_PORTS 8
#define VIRTIO_CONSOLE_NAME_MAX 64

struct virtio_console_port_ops {
	/*
	 * The guest wrote len (> 0) bytes on the port: return how many were
	 * taken (0..len). Fewer holds the rest back until
	 * virtio_console_port_resume().
	 */
	size_t (*from_guest)(void *opaque, const uint8_t *buf, size_t len);
	/* The guest posted receive buffers after a send that took fewer: send again. */
	void (*writable)(void *opaque);
	/* The guest opened (true) or closed (false) the port; optional (NULL). */
	void (*open_changed)(void *opaque, bool open);
};

struct virtio_console_port {
	/* 1..VIRTIO_CONSOLE_NAME_MAX printable bytes, no '/' (the name is copied). */
	const char *name;
	const struct virtio_console_port_ops *ops; /* from_guest and writable required */
	void *opaque;
};

/*
 * virtio-console with port 0 on con (as virtio_console_create(); NULL: no
 * port 0 at all) and nr named ports (1..VIRTIO_CONSOLE_MAX_PORTS) as ports
 * describes them, offered to the driver with VIRTIO_CONSOLE_F_MULTIPORT. The
 * port names are distinct. With nr == 0 this is virtio_console_create() (con
 * required). Returns 0 or -errno (-EINVAL for a bad name or count, -ENOMEM).
 */
int virtio_console_create_ports(struct virtio_dev **out, struct console *con,
				const struct virtio_console_port *ports, unsigned int nr,
				struct ev_loop *loop, const struct guest_mem *gm) WARN_UNUSED;

/*
 * Put up to len bytes into the guest's receive buffers of the named port
 * port; returns how many went (0: none posted, the port is not open, the
 * device is not running, or port is out of range).
 */
size_t virtio_console_port_send(struct virtio_dev *vdev, unsigned int port, const uint8_t *buf,
				size_t len);

/* from_guest can take more again: go on with what the port held back. */
void virtio_console_port_resume(struct virtio_dev *vdev, unsigned int port);

/* Whether the guest holds the port open (its last PORT_OPEN). */
bool virtio_console_port_is_open(struct virtio_dev *vdev, unsigned int port);

/*
 * The host side of the port opens or closes (it starts open). A Linux guest
 * reads end of file on a port the host closed, once the data before has been
 * read, and its writes wait until the host opens it again.
 */
void virtio_console_port_set_host_open(struct virtio_dev *vdev, unsigned int port, bool open);

#endif
