// SPDX-License-Identifier: Apache-2.0
/*
 * pvpanic-mmio (ACPI QEMU0001, or a "qemu,pvpanic-mmio" device tree node): one byte
 * register. Reads give the events this VMM handles; a guest writes the event that
 * happened.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "platform.h"
#include "kvmrun/log.h"

#define PVPANIC_PANICKED 0x01
#define PVPANIC_CRASH_LOADED 0x02
#define PVPANIC_EVENTS (PVPANIC_PANICKED | PVPANIC_CRASH_LOADED)

struct pvpanic {
	struct device dev;
	pthread_mutex_t lock;
	struct platform_sink sink;
	struct log_ratelimit rl;
};

static void pvpanic_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		       bool is_write)
{
	struct pvpanic *p = opaque;

	if (!is_write) {
		memset(data, 0, len);
		if (offset == 0)
			data[0] = PVPANIC_EVENTS;
		return;
	}
	if (offset != 0)
		return;
	if (data[0] & PVPANIC_PANICKED) {
		if (p->sink.event)
			p->sink.event(p->sink.opaque, PLATFORM_PANIC);
	} else if (data[0] & PVPANIC_CRASH_LOADED) {
		log_ratelimited(&p->rl, LOG_INFO, "guest crash loaded");
	}
}

static void pvpanic_destroy(struct device *dev)
{
	struct pvpanic *p = container_of(dev, struct pvpanic, dev);

	pthread_mutex_destroy(&p->lock);
	free(p);
}

int pvpanic_create(struct device **list, struct bus *mmio, uint64_t base,
		   const struct platform_sink *sink)
{
	struct pvpanic *p;
	int ret;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->dev.name = "pvpanic";
	p->dev.destroy = pvpanic_destroy;
	p->sink = *sink;
	ret = -pthread_mutex_init(&p->lock, NULL);
	if (ret)
		goto err_free;
	ret = bus_add(mmio, base, PVPANIC_MMIO_SIZE, pvpanic_io, p, &p->lock, p->dev.name);
	if (ret)
		goto err_mutex;
	p->dev.next = *list;
	*list = &p->dev;
	return 0;

err_mutex:
	pthread_mutex_destroy(&p->lock);
err_free:
	free(p);
	return ret;
}
