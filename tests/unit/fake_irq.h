/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A fake struct irq_chip for unit tests: records routes, deliveries and ioeventfds,
 * and counts route and doorbell changes made while the calling thread plays a vCPU
 * (fake_on_vcpu): a vCPU thread's seccomp filter refuses those ioctls.
 */
#ifndef KVMRUN_TEST_FAKE_IRQ_H
#define KVMRUN_TEST_FAKE_IRQ_H

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/irq.h"

#define FAKE_MAX_MSI 64
#define FAKE_MAX_IOEVENTFD 64
#define FAKE_MAX_SEQ 64

/* Set by a test around what a vCPU thread would do (register accesses). */
static _Thread_local bool fake_on_vcpu;

struct irq_msi {
	unsigned int index;
};

struct fake_ioeventfd {
	int fd;
	bool pio;
	uint64_t addr, datamatch;
	uint32_t len;
};

struct fake_irq {
	pthread_mutex_t lock;
	struct irq_msi msis[FAKE_MAX_MSI];
	bool used[FAKE_MAX_MSI];
	bool routed[FAKE_MAX_MSI];
	uint64_t addr[FAKE_MAX_MSI];
	uint32_t data[FAKE_MAX_MSI];
	unsigned int fired[FAKE_MAX_MSI];
	uint32_t fired_data[FAKE_MAX_MSI]; /* the route's data when it last fired */
	unsigned int seq[FAKE_MAX_SEQ];	   /* vectors in the order they fired */
	unsigned int nr_seq;
	unsigned int updates;
	unsigned int vcpu_calls;	/* msi_update or ioeventfd with fake_on_vcpu set */
	unsigned int create_fail_after; /* 0: never fail */
	struct fake_ioeventfd io[FAKE_MAX_IOEVENTFD];
	unsigned int nr_io;
	unsigned int io_assigns, io_deassigns;
	struct irq_chip chip;
};

static int fake_msi_create(void *opaque, struct irq_msi **out)
{
	struct fake_irq *f = opaque;

	for (unsigned int i = 0; i < FAKE_MAX_MSI; i++) {
		if (f->used[i])
			continue;
		if (f->create_fail_after && i + 1 >= f->create_fail_after)
			return -ENOSPC;
		f->used[i] = true;
		f->msis[i].index = i;
		*out = &f->msis[i];
		return 0;
	}
	return -ENOSPC;
}

static int fake_msi_update(void *opaque, struct irq_msi *m, uint64_t addr, uint32_t data)
{
	struct fake_irq *f = opaque;

	pthread_mutex_lock(&f->lock);
	f->routed[m->index] = true;
	f->addr[m->index] = addr;
	f->data[m->index] = data;
	f->updates++;
	f->vcpu_calls += fake_on_vcpu;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static void fake_msi_fire(void *opaque, struct irq_msi *m)
{
	struct fake_irq *f = opaque;

	pthread_mutex_lock(&f->lock);
	f->fired[m->index]++;
	f->fired_data[m->index] = f->data[m->index];
	if (f->nr_seq < FAKE_MAX_SEQ)
		f->seq[f->nr_seq++] = m->index;
	pthread_mutex_unlock(&f->lock);
}

static void fake_msi_destroy(void *opaque, struct irq_msi *m)
{
	struct fake_irq *f = opaque;

	f->used[m->index] = false;
	f->routed[m->index] = false;
}

static int fake_ioeventfd_locked(struct fake_irq *f, int fd, bool pio, uint64_t addr, uint32_t len,
				 uint64_t datamatch, bool assign)
{
	f->vcpu_calls += fake_on_vcpu;
	if (assign) {
		for (unsigned int i = 0; i < f->nr_io; i++)
			if (f->io[i].pio == pio && f->io[i].addr == addr &&
			    f->io[i].datamatch == datamatch)
				return -EEXIST;
		if (f->nr_io == FAKE_MAX_IOEVENTFD)
			return -ENOSPC;
		f->io[f->nr_io++] = (struct fake_ioeventfd){fd, pio, addr, datamatch, len};
		f->io_assigns++;
		return 0;
	}
	for (unsigned int i = 0; i < f->nr_io; i++) {
		if (f->io[i].fd == fd && f->io[i].pio == pio && f->io[i].addr == addr &&
		    f->io[i].datamatch == datamatch && f->io[i].len == len) {
			f->io[i] = f->io[--f->nr_io];
			f->io_deassigns++;
			return 0;
		}
	}
	return -ENOENT;
}

static int fake_ioeventfd(void *opaque, int fd, bool pio, uint64_t addr, uint32_t len,
			  uint64_t datamatch, bool assign)
{
	struct fake_irq *f = opaque;
	int ret;

	pthread_mutex_lock(&f->lock);
	ret = fake_ioeventfd_locked(f, fd, pio, addr, len, datamatch, assign);
	pthread_mutex_unlock(&f->lock);
	return ret;
}

static const struct irq_chip_ops fake_irq_ops = {
    .msi_create = fake_msi_create,
    .msi_update = fake_msi_update,
    .msi_fire = fake_msi_fire,
    .msi_destroy = fake_msi_destroy,
    .ioeventfd = fake_ioeventfd,
};

static inline void fake_irq_init(struct fake_irq *f)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	f->chip.ops = &fake_irq_ops;
	f->chip.opaque = f;
}

static inline unsigned int fake_vcpu_calls(struct fake_irq *f)
{
	unsigned int n;

	pthread_mutex_lock(&f->lock);
	n = f->vcpu_calls;
	pthread_mutex_unlock(&f->lock);
	return n;
}

static inline unsigned int fake_fired(struct fake_irq *f, unsigned int i)
{
	unsigned int n;

	pthread_mutex_lock(&f->lock);
	n = f->fired[i];
	pthread_mutex_unlock(&f->lock);
	return n;
}

#endif
