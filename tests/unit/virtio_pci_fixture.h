/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_TEST_VIRTIO_PCI_FIXTURE_H
#define KVMRUN_TEST_VIRTIO_PCI_FIXTURE_H

/*
 * The virtio-pci transport through the PCI host and the buses, with a fake device, a
 * fake irq chip and fake guest RAM; the event loop runs on a thread of its own, as in
 * the VMM. Status machine, feature negotiation, queue registers, notifications,
 * interrupts (notify register in port and memory space), reset, the PCI configuration
 * access capability, hostile accesses. The test thread plays a vCPU during bus
 * accesses (fake_on_vcpu): no MSI route or doorbell may change there (a vCPU's
 * seccomp filter refuses those ioctls); the loop thread changes them.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "arch/x86_64/layout.h"
#include "fake_irq.h"
#include "fake_ram.h"
#include "kvmrun/event_loop.h"
#include "kvmrun/guest_mem.h"
#include "virtio/devices.h"
#include "virtio/virtio_pci.h"

#define ECAM LAYOUT_PCI_ECAM
#define W64 0x400000000ULL
#define RAM_SIZE (1 << 20)
#define NQ 2
#define QMAX 64
#define CFG_SIZE 8
#define NO_VEC 0xffff

#define ACK VIRTIO_STATUS_ACKNOWLEDGE
#define DRV VIRTIO_STATUS_DRIVER
#define FOK VIRTIO_STATUS_FEATURES_OK
#define DOK VIRTIO_STATUS_DRIVER_OK
#define FAILED VIRTIO_STATUS_FAILED
#define NEEDS_RESET VIRTIO_STATUS_NEEDS_RESET

/* Common configuration offsets (virtio 1.x 4.1.4.3). */
#define DFSEL 0x00
#define DF 0x04
#define GFSEL 0x08
#define GF 0x0c
#define MSIX_CONFIG 0x10
#define NUM_QUEUES 0x12
#define STATUS 0x14
#define GENERATION 0x15
#define QSEL 0x16
#define QSIZE 0x18
#define QMSIX 0x1a
#define QENABLE 0x1c
#define QNOTIFYOFF 0x1e
#define QDESC 0x20
#define QDRIVER 0x28
#define QDEVICE 0x30

struct vring_desc_raw {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct fake_vdev {
	struct virtio_dev vdev;
	uint8_t config[CFG_SIZE];
	int event_fd; /* written by activate and queue_notify */
	unsigned int activations, resets, notifies[NQ];
	unsigned int requeue_left[NQ]; /* queue_notify asks for that many more passes */
	int activate_ret;
	bool destroyed;
};

struct fixture {
	struct fake_irq irq;
	struct bus pio, mmio;
	struct device *devs;
	struct pci_host *host;
	struct ev_loop *loop;
	pthread_t loop_thread;
	struct guest_mem gm;
	uint8_t *ram;
	struct fake_vdev *fd;
	uint64_t bar;
	uint16_t port;		     /* the I/O BAR */
	unsigned int caps[6];	     /* config offset of the first virtio cap of each cfg_type */
	unsigned int notify_mem_cap; /* the second notify cap */
	unsigned int msix_cap;
};

static inline void fake_config_read(struct virtio_dev *vdev, uint32_t off, void *data, uint32_t len)
{
	struct fake_vdev *d = container_of(vdev, struct fake_vdev, vdev);

	assert_true(off + len <= CFG_SIZE);
	memcpy(data, d->config + off, len);
}

static inline void fake_config_write(struct virtio_dev *vdev, uint32_t off, const void *data,
				     uint32_t len)
{
	struct fake_vdev *d = container_of(vdev, struct fake_vdev, vdev);

	assert_true(off + len <= CFG_SIZE);
	memcpy(d->config + off, data, len);
}

static inline void fake_signal(struct fake_vdev *d)
{
	uint64_t one = 1;

	assert_int_equal(write(d->event_fd, &one, sizeof(one)), sizeof(one));
}

static inline int fake_activate(struct virtio_dev *vdev)
{
	struct fake_vdev *d = container_of(vdev, struct fake_vdev, vdev);

	d->activations++;
	fake_signal(d);
	return d->activate_ret;
}

static inline void fake_queue_notify(struct virtio_dev *vdev, uint16_t q)
{
	struct fake_vdev *d = container_of(vdev, struct fake_vdev, vdev);

	assert_true(q < NQ);
	assert_true(vdev->active);
	d->notifies[q]++;
	if (d->requeue_left[q]) {
		d->requeue_left[q]--;
		virtio_requeue(vdev, q);
	}
	fake_signal(d);
}

static inline void fake_reset(struct virtio_dev *vdev)
{
	struct fake_vdev *d = container_of(vdev, struct fake_vdev, vdev);

	d->resets++;
}

static inline void fake_destroy(struct virtio_dev *vdev)
{
	struct fake_vdev *d = container_of(vdev, struct fake_vdev, vdev);

	d->destroyed = true; /* freed by the fixture, which checks this */
}

static const struct virtio_dev_ops fake_ops = {
    .name = "fake",
    .device_id = 9,
    .config_size = CFG_SIZE,
    .config_read = fake_config_read,
    .config_write = fake_config_write,
    .activate = fake_activate,
    .queue_notify = fake_queue_notify,
    .reset = fake_reset,
    .destroy = fake_destroy,
};

static inline void *loop_main(void *arg)
{
	ev_run(arg);
	return NULL;
}

static inline uint64_t bus_rd(struct bus *b, uint64_t addr, uint32_t len)
{
	uint64_t v = 0;

	fake_on_vcpu = true;
	bus_access(b, addr, (uint8_t *)&v, len, false);
	fake_on_vcpu = false;
	return v;
}

static inline void bus_wr(struct bus *b, uint64_t addr, uint32_t len, uint64_t v)
{
	fake_on_vcpu = true;
	bus_access(b, addr, (uint8_t *)&v, len, true);
	fake_on_vcpu = false;
}

/* Waits (10 s at most) for what the loop thread does. */
#define WAIT_FOR(cond)                                                                             \
	do {                                                                                       \
		for (int w_ = 0; !(cond); w_++) {                                                  \
			if (w_ == 10000)                                                           \
				fail_msg("timed out waiting for %s", #cond);                       \
			usleep(1000);                                                              \
		}                                                                                  \
	} while (0)

#define rd(f, addr, len) bus_rd(&(f)->mmio, addr, len)
#define wr(f, addr, len, v) bus_wr(&(f)->mmio, addr, len, v)
#define io_rd(f, port, len) bus_rd(&(f)->pio, port, len)
#define io_wr(f, port, len, v) bus_wr(&(f)->pio, port, len, v)

static inline uint32_t cfg_rd(struct fixture *f, unsigned int reg, uint32_t len)
{
	return (uint32_t)rd(f, ECAM + (1 << 15) + reg, len);
}

static inline void cfg_wr(struct fixture *f, unsigned int reg, uint32_t len, uint32_t v)
{
	wr(f, ECAM + (1 << 15) + reg, len, v);
}

static inline uint64_t common_rd(struct fixture *f, unsigned int off, uint32_t len)
{
	return rd(f, f->bar + off, len);
}

static inline void common_wr(struct fixture *f, unsigned int off, uint32_t len, uint64_t v)
{
	wr(f, f->bar + off, len, v);
}

static inline uint32_t cap_field(struct fixture *f, unsigned int type, unsigned int off)
{
	return cfg_rd(f, f->caps[type] + off, 4);
}

static inline void wait_event(struct fixture *f)
{
	uint64_t v;

	assert_int_equal(read(f->fd->event_fd, &v, sizeof(v)), sizeof(v));
}

/* Reset the way a driver does: write 0, then wait for 0 to read back. */
static inline void do_reset(struct fixture *f)
{
	common_wr(f, STATUS, 1, 0);
	while (common_rd(f, STATUS, 1) != 0)
		sched_yield();
}

static inline void set_features(struct fixture *f, uint64_t feat)
{
	common_wr(f, GFSEL, 4, 0);
	common_wr(f, GF, 4, (uint32_t)feat);
	common_wr(f, GFSEL, 4, 1);
	common_wr(f, GF, 4, (uint32_t)(feat >> 32));
}

static inline void to_features_ok(struct fixture *f)
{
	common_wr(f, STATUS, 1, ACK);
	common_wr(f, STATUS, 1, ACK | DRV);
	set_features(f, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	common_wr(f, STATUS, 1, ACK | DRV | FOK);
	assert_int_equal(common_rd(f, STATUS, 1), ACK | DRV | FOK);
}

/* Queue q with rings in fake RAM, enabled. */
static inline void setup_queue(struct fixture *f, uint16_t q, uint16_t size)
{
	uint64_t base = 0x10000 + q * 0x10000ULL;

	common_wr(f, QSEL, 2, q);
	common_wr(f, QSIZE, 2, size);
	common_wr(f, QDESC, 8, base);
	common_wr(f, QDRIVER, 4, (uint32_t)(base + 0x4000));
	common_wr(f, QDRIVER + 4, 4, 0);
	common_wr(f, QDEVICE, 8, base + 0x8000);
	common_wr(f, QMSIX, 2, q + 1);
	common_wr(f, QENABLE, 2, 1);
}

static inline void activate(struct fixture *f)
{
	to_features_ok(f);
	setup_queue(f, 0, QMAX);
	setup_queue(f, 1, 16);
	common_wr(f, MSIX_CONFIG, 2, 0);
	common_wr(f, STATUS, 1, ACK | DRV | FOK | DOK);
	wait_event(f); /* activate */
	wait_event(f); /* the kick of queue 0 after activation */
	wait_event(f); /* and of queue 1 */
}

/* The guest turns MSI-X on and unmasks every vector (message = vector number). */
static inline void enable_msix(struct fixture *f)
{
	uint64_t table = f->bar + (cfg_rd(f, f->msix_cap + 4, 4) & ~7U);

	for (unsigned int v = 0; v <= NQ; v++) {
		wr(f, table + v * 16, 4, 0xfee00000);
		wr(f, table + v * 16 + 4, 4, 0);
		wr(f, table + v * 16 + 8, 4, 0x40 + v);
		wr(f, table + v * 16 + 12, 4, 0);
	}
	cfg_wr(f, f->msix_cap + 2, 2, 0x8000);
}

/* Find the capabilities and BARs and turn memory and I/O decoding on, as a driver would. */
static inline void find_caps(struct fixture *f)
{
	for (unsigned int p = cfg_rd(f, 0x34, 1); p; p = cfg_rd(f, p + 1, 1)) {
		unsigned int t = cfg_rd(f, p + 3, 1);

		if (cfg_rd(f, p, 1) == 0x11)
			f->msix_cap = p;
		else if (cfg_rd(f, p, 1) == 0x09 && t < 6 && !f->caps[t])
			f->caps[t] = p;
		else if (cfg_rd(f, p, 1) == 0x09 && t == 2)
			f->notify_mem_cap = p;
	}
	f->bar = (cfg_rd(f, 0x10, 4) & ~0xfULL) | (uint64_t)cfg_rd(f, 0x14, 4) << 32;
	f->port = (uint16_t)(cfg_rd(f, 0x18, 4) & ~0x3U);
	cfg_wr(f, 0x04, 2, 0x7);
}

/* The host bridge's windows, and the interrupt controller and buses behind it. */
static const struct pci_host_windows fixture_win = {
	.ecam = ECAM, .mmio32 = LAYOUT_PCI_MMIO32, .mmio32_size = LAYOUT_PCI_MMIO32_SIZE,
	.mmio64 = W64, .mmio64_size = 1ULL << 32, .io = LAYOUT_PCI_IO_MIN,
	.io_size = LAYOUT_PCI_IO_MAX - LAYOUT_PCI_IO_MIN + 1,
};

static inline void fixture_buses(struct fixture *f)
{
	fake_irq_init(&f->irq);
	bus_init(&f->pio, "pio");
	bus_init(&f->mmio, "mmio");
}

static inline int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	fixture_buses(f);
	f->ram = fake_ram_map(&f->gm, 0, RAM_SIZE);
	f->fd = calloc(1, sizeof(*f->fd));
	if (!f->ram || !f->fd || ev_loop_create(&f->loop) ||
	    pci_host_create(&f->devs, &f->host, &f->pio, &f->mmio, PORT_PCI_CONFIG, &fixture_win))
		return -1;
	f->fd->event_fd = eventfd(0, EFD_CLOEXEC | EFD_SEMAPHORE); /* one read per event */
	f->fd->vdev.ops = &fake_ops;
	f->fd->vdev.host_features = VIRTIO_BIT(0) | VIRTIO_BIT(VQ_F_EVENT_IDX);
	f->fd->vdev.nr_queues = NQ;
	f->fd->vdev.queue_max = QMAX;
	f->fd->vdev.loop = f->loop;
	f->fd->vdev.gm = &f->gm;
	for (unsigned int i = 0; i < CFG_SIZE; i++)
		f->fd->config[i] = (uint8_t)(0xa0 + i);
	if (virtio_pci_create(&f->devs, f->host, &f->irq.chip, &f->fd->vdev))
		return -1;
	find_caps(f);
	if (f->irq.nr_io) /* the loop places the doorbells; it has not run yet */
		return -1;
	if (pthread_create(&f->loop_thread, NULL, loop_main, f->loop))
		return -1;
	*state = f;
	return 0;
}

static inline int teardown(void **state)
{
	struct fixture *f = *state;

	ev_stop(f->loop, 0);
	pthread_join(f->loop_thread, NULL);
	assert_int_equal(f->irq.vcpu_calls, 0);
	devices_destroy(&f->devs);
	assert_true(f->fd->destroyed);
	assert_int_equal(f->irq.nr_io, 0);
	for (unsigned int i = 0; i < FAKE_MAX_MSI; i++)
		assert_false(f->irq.used[i]);
	ev_loop_destroy(f->loop);
	close(f->fd->event_fd);
	free(f->fd);
	fake_ram_free(f->ram);
	free(f);
	return 0;
}

/* A notify register write: at the port (pio) or the memory address. */
static inline void kick(struct fixture *f, bool pio, uint64_t reg, uint32_t len, uint64_t v)
{
	if (pio)
		io_wr(f, reg, len, v);
	else
		wr(f, reg, len, v);
}

#endif
