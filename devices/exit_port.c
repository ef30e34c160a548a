// SPDX-License-Identifier: Apache-2.0
/*
 * The exit port: one byte-wide I/O register. Writing a byte N asks the
 * machine to stop with exit status N, so that a test guest can report its
 * result without an operating system's power-off path.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "platform.h"

struct exit_port {
	struct device dev;
	pthread_mutex_t lock;
	struct platform_sink sink;
};

static void exit_port_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			 bool is_write)
{
	struct exit_port *ep = opaque;

	if (!bus_byte_access(data, len, is_write))
		return;
	if (!is_write) {
		data[0] = 0xff;
		return;
	}
	if (ep->sink.exit)
		ep->sink.exit(ep->sink.opaque, data[0]);
}

static void exit_port_destroy(struct device *dev)
{
	struct exit_port *ep = container_of(dev, struct exit_port, dev);

	pthread_mutex_destroy(&ep->lock);
	free(ep);
}

int exit_port_create(struct device **list, struct bus *pio, uint16_t port,
		     const struct platform_sink *sink)
{
	struct exit_port *ep;
	int ret;

	ep = calloc(1, sizeof(*ep));
	if (!ep)
		return -ENOMEM;
	ep->dev.name = "exit-port";
	ep->dev.destroy = exit_port_destroy;
	ep->sink = *sink;
	ret = -pthread_mutex_init(&ep->lock, NULL);
	if (ret)
		goto err_free;
	ret = bus_add(pio, port, 1, exit_port_io, ep, &ep->lock, "exit-port");
	if (ret)
		goto err_mutex;
	ep->dev.next = *list;
	*list = &ep->dev;
	return 0;

err_mutex:
	pthread_mutex_destroy(&ep->lock);
err_free:
	free(ep);
	return ret;
}
