// SPDX-License-Identifier: Apache-2.0
/* The GICv2m MSI frame's registers: its SPI range (MSI_TYPER) and the SETSPI doorbell. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arm64/gicv2m.h"
#include "device.h"
#include "kvmrun/bus.h"
#include "kvmrun/irq.h"

#include <linux/kvm.h>

#define V2M_TYPER 0x008
#define V2M_IIDR 0xfcc

struct a64_v2m {
	struct device dev;
	pthread_mutex_t lock;
	int *vm_fd;
	uint32_t first, count;
};

static void a64_v2m_access(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct a64_v2m *f = opaque;
	uint32_t v = 0;

	/* 32-bit accesses only; any other width reads zeros and writes nothing. */
	if (len != 4 || (off & 3)) {
		if (!is_write)
			memset(data, 0, len);
		return;
	}
	if (!is_write) {
		if (off == V2M_TYPER)
			v = f->first << 16 | f->count;
		for (int i = 0; i < 4; i++)
			data[i] = (uint8_t)(v >> (8 * i));
		return;
	}
	v = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
	    (uint32_t)data[3] << 24;
	/* A vCPU's own write to the doorbell: an edge on that SPI, if it is the frame's. */
	if (off == A64_V2M_SETSPI && v >= f->first && v - f->first < f->count) {
		struct irq_line line;

		irq_line_init_kvm(&line, f->vm_fd,
				  (uint32_t)KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT | v);
		(void)irq_line_set(&line, true);
		(void)irq_line_set(&line, false);
	}
}

static void a64_v2m_destroy(struct device *dev)
{
	struct a64_v2m *f = container_of(dev, struct a64_v2m, dev);

	pthread_mutex_destroy(&f->lock);
	free(f);
}

int a64_v2m_create(struct device **list, struct bus *mmio, uint64_t base, int *vm_fd,
		   uint32_t first, uint32_t count)
{
	struct a64_v2m *f;
	int ret;

	if (first < 32 || first > 1019 || !count || count > 1020 - first || count > 0x3ff)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->dev.name = "gicv2m";
	f->dev.destroy = a64_v2m_destroy;
	f->vm_fd = vm_fd;
	f->first = first;
	f->count = count;
	ret = -pthread_mutex_init(&f->lock, NULL);
	if (ret)
		goto err_free;
	ret = bus_add(mmio, base, A64_V2M_SIZE, a64_v2m_access, f, &f->lock, f->dev.name);
	if (ret)
		goto err_mutex;
	f->dev.next = *list;
	*list = &f->dev;
	return 0;

err_mutex:
	pthread_mutex_destroy(&f->lock);
err_free:
	free(f);
	return ret;
}
