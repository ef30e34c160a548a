// SPDX-License-Identifier: Apache-2.0
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

static void fake_config_read(struct virtio_dev *vdev, uint32_t off, void *data, uint32_t len)
{
	struct fake_vdev *d = container_of(vdev, struct fake_vdev, vdev);

	assert_true(off + len <= CFG_SIZE);
	memcpy(data, d->config + off, len);
}

static void fake_config_write(struct virtio_dev *vdev, uint32_t off, const void *data, uint32_t len)
{
	struct fake_vdev *d = container_of(vdev, struct fake_vdev, vdev);

	assert_true(off + len <= CFG_SIZE);
	memcpy(d->config + off, data, len);
}

static void fake_signal(struct fake_vdev *d)
{
	uint64_t one = 1;

	assert_int_equal(write(d->event_fd, &one, sizeof(one)), sizeof(one));
}

static int fake_activate(struct virtio_dev *vdev)
{
	struct fake_vdev *d = container_of(vdev, struct fake_vdev, vdev);

	d->activations++;
	fake_signal(d);
	return d->activate_ret;
}

static void fake_queue_notify(struct virtio_dev *vdev, uint16_t q)
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

static void fake_reset(struct virtio_dev *vdev)
{
	struct fake_vdev *d = container_of(vdev, struct fake_vdev, vdev);

	d->resets++;
}

static void fake_destroy(struct virtio_dev *vdev)
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

static void *loop_main(void *arg)
{
	ev_run(arg);
	return NULL;
}

static uint64_t bus_rd(struct bus *b, uint64_t addr, uint32_t len)
{
	uint64_t v = 0;

	fake_on_vcpu = true;
	bus_access(b, addr, (uint8_t *)&v, len, false);
	fake_on_vcpu = false;
	return v;
}

static void bus_wr(struct bus *b, uint64_t addr, uint32_t len, uint64_t v)
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

static uint32_t cfg_rd(struct fixture *f, unsigned int reg, uint32_t len)
{
	return (uint32_t)rd(f, ECAM + (1 << 15) + reg, len);
}

static void cfg_wr(struct fixture *f, unsigned int reg, uint32_t len, uint32_t v)
{
	wr(f, ECAM + (1 << 15) + reg, len, v);
}

static uint64_t common_rd(struct fixture *f, unsigned int off, uint32_t len)
{
	return rd(f, f->bar + off, len);
}

static void common_wr(struct fixture *f, unsigned int off, uint32_t len, uint64_t v)
{
	wr(f, f->bar + off, len, v);
}

static uint32_t cap_field(struct fixture *f, unsigned int type, unsigned int off)
{
	return cfg_rd(f, f->caps[type] + off, 4);
}

static void wait_event(struct fixture *f)
{
	uint64_t v;

	assert_int_equal(read(f->fd->event_fd, &v, sizeof(v)), sizeof(v));
}

/* Reset the way a driver does: write 0, then wait for 0 to read back. */
static void do_reset(struct fixture *f)
{
	common_wr(f, STATUS, 1, 0);
	while (common_rd(f, STATUS, 1) != 0)
		sched_yield();
}

static void set_features(struct fixture *f, uint64_t feat)
{
	common_wr(f, GFSEL, 4, 0);
	common_wr(f, GF, 4, (uint32_t)feat);
	common_wr(f, GFSEL, 4, 1);
	common_wr(f, GF, 4, (uint32_t)(feat >> 32));
}

static void to_features_ok(struct fixture *f)
{
	common_wr(f, STATUS, 1, ACK);
	common_wr(f, STATUS, 1, ACK | DRV);
	set_features(f, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	common_wr(f, STATUS, 1, ACK | DRV | FOK);
	assert_int_equal(common_rd(f, STATUS, 1), ACK | DRV | FOK);
}

/* Queue q with rings in fake RAM, enabled. */
static void setup_queue(struct fixture *f, uint16_t q, uint16_t size)
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

static void activate(struct fixture *f)
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
static void enable_msix(struct fixture *f)
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

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct pci_host_windows win = {.ecam = ECAM,
				       .mmio32 = LAYOUT_PCI_MMIO32,
				       .mmio32_size = LAYOUT_PCI_MMIO32_SIZE,
				       .mmio64 = W64,
				       .mmio64_size = 1ULL << 32,
				       .io = LAYOUT_PCI_IO_MIN,
				       .io_size = LAYOUT_PCI_IO_MAX - LAYOUT_PCI_IO_MIN + 1};
	unsigned int p;

	if (!f)
		return -1;
	fake_irq_init(&f->irq);
	bus_init(&f->pio, "pio");
	bus_init(&f->mmio, "mmio");
	f->ram = calloc(1, RAM_SIZE);
	f->fd = calloc(1, sizeof(*f->fd));
	if (!f->ram || !f->fd || gm_add_region(&f->gm, 0, RAM_SIZE, f->ram) ||
	    ev_loop_create(&f->loop) ||
	    pci_host_create(&f->devs, &f->host, &f->pio, &f->mmio, PORT_PCI_CONFIG, &win))
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
	/* Find the capabilities and turn memory and I/O decoding on, as a driver would. */
	for (p = cfg_rd(f, 0x34, 1); p; p = cfg_rd(f, p + 1, 1)) {
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
	if (f->irq.nr_io) /* the loop places the doorbells; it has not run yet */
		return -1;
	if (pthread_create(&f->loop_thread, NULL, loop_main, f->loop))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
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
	free(f->ram);
	free(f);
	return 0;
}

static void test_identity_and_caps(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(cfg_rd(f, 0x00, 4), (0x1040 + 9) << 16 | 0x1af4);
	assert_int_equal(cfg_rd(f, 0x08, 1), 1);
	assert_int_equal(cfg_rd(f, 0x2c, 2), 0x1af4);
	/* A 64-bit memory BAR in the 64-bit window. */
	assert_int_equal(cfg_rd(f, 0x10, 4) & 0x7, 0x4);
	assert_true(f->bar >= W64);
	assert_int_not_equal(f->msix_cap, 0);
	assert_int_equal(cfg_rd(f, f->msix_cap + 2, 2) & 0x7ff, NQ); /* NQ + 1 vectors */
	for (unsigned int t = 1; t <= 5; t++) {
		assert_int_not_equal(f->caps[t], 0);
		assert_int_equal(cfg_rd(f, f->caps[t] + 4, 1), t == 2 ? 2 : 0); /* BAR */
	}
	assert_int_equal(cap_field(f, 1, 12), 0x40);
	assert_int_equal(cap_field(f, 3, 12), 1);
	assert_int_equal(cap_field(f, 4, 12), CFG_SIZE);
	/*
	 * Two notify caps, the port one first (a driver takes the first it can map), both
	 * with notify_off_multiplier 0: one 2-byte register for every queue.
	 */
	assert_int_equal(cap_field(f, 2, 8), 0);
	assert_int_equal(cap_field(f, 2, 12), 2);
	assert_int_equal(cap_field(f, 2, 16), 0);
	assert_true(f->notify_mem_cap > f->caps[2]);
	assert_int_equal(cfg_rd(f, f->notify_mem_cap + 4, 1), 0);
	assert_int_equal(cfg_rd(f, f->notify_mem_cap + 8, 4), 0x3000);
	assert_int_equal(cfg_rd(f, f->notify_mem_cap + 12, 4), 2);
	assert_int_equal(cfg_rd(f, f->notify_mem_cap + 16, 4), 0);
	/* BAR 2: 4 ports in the I/O window; sizing reads back the size. */
	assert_int_equal(cfg_rd(f, 0x18, 4) & 0x3, 0x1);
	assert_true(f->port >= LAYOUT_PCI_IO_MIN && f->port + 4 <= LAYOUT_PCI_IO_MAX + 1);
	assert_int_equal(f->port % 4, 0);
	cfg_wr(f, 0x18, 4, 0xffffffff);
	assert_int_equal(cfg_rd(f, 0x18, 4), 0xfffffffd);
	cfg_wr(f, 0x18, 4, f->port);
	assert_int_equal(cfg_rd(f, 0x18, 4), f->port | 1U);
	assert_int_equal(common_rd(f, NUM_QUEUES, 2), NQ);
	/* Offered features include VERSION_1. */
	common_wr(f, DFSEL, 4, 1);
	assert_int_equal(common_rd(f, DF, 4), 1);
	common_wr(f, DFSEL, 4, 0);
	assert_int_equal(common_rd(f, DF, 4), 1 | 1U << VQ_F_EVENT_IDX);
	common_wr(f, DFSEL, 4, 2);
	assert_int_equal(common_rd(f, DF, 4), 0);
	/* Device config through the BAR. */
	assert_int_equal(rd(f, f->bar + cap_field(f, 4, 8) + 2, 2), 0xa3a2);
}

static bool allowed(uint8_t from, uint8_t to)
{
	static const uint8_t chain[] = {0, ACK, ACK | DRV, ACK | DRV | FOK, ACK | DRV | FOK | DOK};

	if (to == (from | FAILED) && to != from)
		return true;
	for (unsigned int i = 0; i + 1 < ARRAY_SIZE(chain); i++)
		if (chain[i] == from && chain[i + 1] == to)
			return true;
	return false;
}

static void drive_to(struct fixture *f, uint8_t st)
{
	do_reset(f);
	if (st & ACK)
		common_wr(f, STATUS, 1, ACK);
	if (st & DRV) {
		common_wr(f, STATUS, 1, ACK | DRV);
		set_features(f, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	}
	if (st & FOK)
		common_wr(f, STATUS, 1, ACK | DRV | FOK);
	if (st & DOK) {
		common_wr(f, STATUS, 1, ACK | DRV | FOK | DOK);
		wait_event(f); /* activated; no queues enabled, so no kicks */
	}
	if (st & FAILED)
		common_wr(f, STATUS, 1, st);
	assert_int_equal(common_rd(f, STATUS, 1), st);
}

static void test_status_transitions(void **state)
{
	struct fixture *f = *state;
	static const uint8_t from[] = {0,
				       ACK,
				       ACK | DRV,
				       ACK | DRV | FOK,
				       ACK | DRV | FOK | DOK,
				       ACK | FAILED,
				       ACK | DRV | FOK | DOK | FAILED};

	unsigned int expect = 0;

	for (unsigned int i = 0; i < ARRAY_SIZE(from); i++) {
		for (unsigned int to = 1; to < 256; to++) {
			uint8_t want;

			if (to & NEEDS_RESET)
				continue; /* the driver cannot set the device's bit; below */
			drive_to(f, from[i]);
			expect += !!(from[i] & DOK);
			common_wr(f, STATUS, 1, to);
			want =
			    allowed(from[i], (uint8_t)to) || to == from[i] ? (uint8_t)to : from[i];
			if (common_rd(f, STATUS, 1) != want)
				fail_msg("status 0x%x -> 0x%x: reads 0x%x, want 0x%x", from[i], to,
					 (unsigned int)common_rd(f, STATUS, 1), want);
			if (want & DOK && !(from[i] & DOK)) {
				wait_event(f);
				expect++;
			}
		}
	}
	do_reset(f);
	/* NEEDS_RESET written by the driver is dropped. */
	common_wr(f, STATUS, 1, ACK | NEEDS_RESET);
	assert_int_equal(common_rd(f, STATUS, 1), ACK);
	assert_int_equal(f->fd->activations, expect);
	assert_true(expect > 2 * 127);
}

static void test_features_ok_refused(void **state)
{
	struct fixture *f = *state;
	static const uint64_t bad[] = {
	    0,						     /* no VERSION_1 */
	    VIRTIO_BIT(0),				     /* offered, but no VERSION_1 */
	    VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(1),  /* not offered */
	    VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(63), /* not offered, high word */
	    VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_ACCESS_PLATFORM),
	};

	for (unsigned int i = 0; i < ARRAY_SIZE(bad); i++) {
		drive_to(f, ACK | DRV);
		set_features(f, bad[i]);
		common_wr(f, STATUS, 1, ACK | DRV | FOK);
		assert_int_equal(common_rd(f, STATUS, 1), ACK | DRV);
	}
	drive_to(f, ACK | DRV);
	set_features(f,
		     VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(0) | VIRTIO_BIT(VQ_F_EVENT_IDX));
	common_wr(f, STATUS, 1, ACK | DRV | FOK);
	assert_int_equal(common_rd(f, STATUS, 1), ACK | DRV | FOK);
	/* Frozen from FEATURES_OK on. */
	common_wr(f, GFSEL, 4, 0);
	common_wr(f, GF, 4, 0);
	assert_int_equal(common_rd(f, GF, 4), 1 | 1U << VQ_F_EVENT_IDX);
	/* Writable before DRIVER only? No: only between DRIVER and FEATURES_OK. */
	drive_to(f, ACK);
	common_wr(f, GF, 4, 1);
	assert_int_equal(common_rd(f, GF, 4), 0);
	/* Select above 1: reads zero, writes nothing. */
	drive_to(f, ACK | DRV);
	common_wr(f, GFSEL, 4, 2);
	common_wr(f, GF, 4, 0xffffffff);
	assert_int_equal(common_rd(f, GF, 4), 0);
}

static void test_queue_registers(void **state)
{
	struct fixture *f = *state;
	static const uint16_t bad_sizes[] = {0, 3, 48, QMAX + 1, QMAX * 2, 0x8000, 0xffff};

	to_features_ok(f);
	common_wr(f, QSEL, 2, 1);
	assert_int_equal(common_rd(f, QSIZE, 2), QMAX);
	assert_int_equal(common_rd(f, QMSIX, 2), NO_VEC);
	assert_int_equal(common_rd(f, QNOTIFYOFF, 2), 0);
	for (unsigned int i = 0; i < ARRAY_SIZE(bad_sizes); i++) {
		common_wr(f, QSIZE, 2, bad_sizes[i]);
		assert_int_equal(common_rd(f, QSIZE, 2), QMAX);
	}
	common_wr(f, QSIZE, 2, 1);
	assert_int_equal(common_rd(f, QSIZE, 2), 1);
	common_wr(f, QSIZE, 2, 32);
	assert_int_equal(common_rd(f, QSIZE, 2), 32);
	/* Vectors: in range kept, out of range read back NO_VECTOR. */
	common_wr(f, QMSIX, 2, NQ);
	assert_int_equal(common_rd(f, QMSIX, 2), NQ);
	common_wr(f, QMSIX, 2, NQ + 1);
	assert_int_equal(common_rd(f, QMSIX, 2), NO_VEC);
	common_wr(f, MSIX_CONFIG, 2, 0x1234);
	assert_int_equal(common_rd(f, MSIX_CONFIG, 2), NO_VEC);
	/* Addresses: 64-bit whole or as halves; other widths ignored. */
	common_wr(f, QDESC, 8, 0x1122334455667788ULL);
	assert_int_equal(common_rd(f, QDESC, 8), 0x1122334455667788ULL);
	common_wr(f, QDESC + 4, 4, 0);
	assert_int_equal(common_rd(f, QDESC, 8), 0x55667788ULL);
	common_wr(f, QDESC, 2, 0);
	common_wr(f, QDESC + 1, 4, 0);
	assert_int_equal(common_rd(f, QDESC, 8), 0x55667788ULL);
	/* queue_enable takes 1 only. */
	common_wr(f, QENABLE, 2, 2);
	assert_int_equal(common_rd(f, QENABLE, 2), 0);
	/* Out-of-range select: reads zero size, writes go nowhere. */
	common_wr(f, QSEL, 2, NQ);
	assert_int_equal(common_rd(f, QSIZE, 2), 0);
	common_wr(f, QSIZE, 2, 16);
	common_wr(f, QENABLE, 2, 1);
	common_wr(f, QDESC, 8, 0x1000);
	assert_int_equal(common_rd(f, QSIZE, 2), 0);
	assert_int_equal(common_rd(f, QENABLE, 2), 0);
	assert_int_equal(common_rd(f, QDESC, 8), 0);
	/* Enabled: frozen. */
	common_wr(f, QSEL, 2, 1);
	common_wr(f, QENABLE, 2, 1);
	common_wr(f, QSIZE, 2, 16);
	common_wr(f, QDESC, 8, 0x9000);
	common_wr(f, QMSIX, 2, 0);
	common_wr(f, QENABLE, 2, 0);
	assert_int_equal(common_rd(f, QSIZE, 2), 32);
	assert_int_equal(common_rd(f, QDESC, 8), 0x55667788ULL);
	assert_int_equal(common_rd(f, QMSIX, 2), NO_VEC);
	assert_int_equal(common_rd(f, QENABLE, 2), 1);
	/* After DRIVER_OK: queue 0 (not enabled) is frozen too. */
	common_wr(f, STATUS, 1, ACK | DRV | FOK | DOK);
	/* Queue 1's rings are outside RAM: activation fails, NEEDS_RESET. */
	while (!(common_rd(f, STATUS, 1) & NEEDS_RESET))
		sched_yield();
	common_wr(f, QSEL, 2, 0);
	common_wr(f, QSIZE, 2, 16);
	common_wr(f, QDESC, 8, 0x2000);
	common_wr(f, QENABLE, 2, 1);
	assert_int_equal(common_rd(f, QSIZE, 2), QMAX);
	assert_int_equal(common_rd(f, QDESC, 8), 0);
	assert_int_equal(common_rd(f, QENABLE, 2), 0);
	assert_int_equal(f->fd->activations, 0);
	assert_false(f->fd->vdev.active);
}

/* A notify register write: at the port (pio) or the memory address. */
static void kick(struct fixture *f, bool pio, uint64_t reg, uint32_t len, uint64_t v)
{
	if (pio)
		io_wr(f, reg, len, v);
	else
		wr(f, reg, len, v);
}

static void notify_through(struct fixture *f, bool pio)
{
	uint64_t reg = pio ? f->port : f->bar + cfg_rd(f, f->notify_mem_cap + 8, 4);

	activate(f);
	assert_int_equal(f->fd->activations, 1);
	assert_true(f->fd->vdev.active);
	assert_int_equal(f->fd->vdev.vqs[0].size, QMAX);
	assert_int_equal(f->fd->vdev.vqs[1].size, 16);
	assert_int_equal(f->fd->vdev.vqs[1].desc_gpa, 0x20000);
	assert_true(f->fd->vdev.features & VIRTIO_BIT(VIRTIO_F_VERSION_1));
	/*
	 * Notifies that reach the register (any width) go to the loop, each once:
	 * a doorbell the loop saw is not seen again without a new kick.
	 */
	kick(f, pio, reg, 2, 1);
	wait_event(f);
	assert_int_equal(f->fd->notifies[1], 2);
	kick(f, pio, reg, 4, 0);
	wait_event(f);
	assert_int_equal(f->fd->notifies[0], 2);
	assert_int_equal(f->fd->notifies[1], 2);
	kick(f, pio, reg, 1, 1);
	wait_event(f);
	assert_int_equal(f->fd->notifies[1], 3);
	/* Writes to the rest of the region are no kicks; reads see zero. */
	for (uint32_t off = 1; off < 4; off++)
		kick(f, pio, reg + off, 1, 0);
	kick(f, pio, reg + 2, 2, 0);
	assert_int_equal(pio ? io_rd(f, reg, 2) : rd(f, reg, 2), 0);
	assert_int_equal(f->fd->notifies[0], 2);
	/*
	 * A queue index out of range: NEEDS_RESET and a config interrupt (sent by the
	 * loop: the config vector's message was never routed).
	 */
	enable_msix(f);
	kick(f, pio, reg, 2, NQ);
	assert_int_equal(common_rd(f, STATUS, 1), ACK | DRV | FOK | DOK | NEEDS_RESET);
	WAIT_FOR(fake_fired(&f->irq, 0) == 1);
	assert_int_equal(rd(f, f->bar + cap_field(f, 3, 8), 1), 2);
	kick(f, pio, reg, 2, 0xffff);
	assert_int_equal(fake_fired(&f->irq, 0), 1); /* once */
	do_reset(f);
	assert_int_equal(f->fd->resets, 1);
	assert_false(f->fd->vdev.active);
	assert_int_equal(f->fd->vdev.vqs[0].size, 0);
}

/* A pass that left chains requeues its queue: the loop serves it again, with no kick. */
static void test_requeue(void **state)
{
	struct fixture *f = *state;

	activate(f);
	f->fd->requeue_left[1] = 2;
	io_wr(f, f->port, 2, 1);
	for (int i = 0; i < 3; i++)
		wait_event(f);
	assert_int_equal(f->fd->notifies[1], 4); /* after activation, the kick, two requeues */
	assert_int_equal(f->fd->notifies[0], 1);
	assert_int_equal(f->fd->requeue_left[1], 0);
}

/*
 * virtio-rng through the transport: a chain gets at most 64 KiB, however
 * large its buffers, and the rest of them stays untouched; a small one is
 * filled whole.
 */
static void test_rng_fill_capped(void **state)
{
	struct fixture *f = *state;
	const uint64_t cfg2 = ECAM + (2 << 15); /* the next slot after the fake device */
	const uint64_t desc = 0x10000, avail = 0x14000, used = 0x18000;
	const uint8_t *big = f->ram + 0x80000;
	struct virtio_dev *rng;
	uint16_t port;

	assert_int_equal(virtio_rng_create(&rng, f->loop, &f->gm), 0);
	assert_int_equal(virtio_pci_create(&f->devs, f->host, &f->irq.chip, rng), 0);
	assert_int_equal(rd(f, cfg2 + 2, 2), 0x1040 + 4);
	f->bar = (rd(f, cfg2 + 0x10, 4) & ~0xfULL) | rd(f, cfg2 + 0x14, 4) << 32;
	port = (uint16_t)(rd(f, cfg2 + 0x18, 4) & ~0x3U);
	wr(f, cfg2 + 0x04, 2, 0x7);
	to_features_ok(f); /* the common config helpers now drive the rng */
	setup_queue(f, 0, 8);
	common_wr(f, STATUS, 1, ACK | DRV | FOK | DOK);
	/* 512 KiB and 64 bytes, device-writable, one chain each. */
	memcpy(f->ram + desc, &(struct vring_desc_raw){0x80000, 0x80000, 2, 0}, 16);
	memcpy(f->ram + desc + 16, &(struct vring_desc_raw){0x30000, 64, 2, 0}, 16);
	memcpy(f->ram + avail + 4, &(uint16_t[2]){0, 1}, 4);
	__atomic_store_n((uint16_t *)(f->ram + avail + 2), 2, __ATOMIC_RELEASE);
	io_wr(f, port, 2, 0);
	while (__atomic_load_n((uint16_t *)(f->ram + used + 2), __ATOMIC_ACQUIRE) != 2)
		sched_yield();
	assert_int_equal(*(uint32_t *)(f->ram + used + 4), 0);
	assert_int_equal(*(uint32_t *)(f->ram + used + 8), 64 << 10);
	assert_int_equal(*(uint32_t *)(f->ram + used + 12), 1);
	assert_int_equal(*(uint32_t *)(f->ram + used + 16), 64);
	for (size_t i = 64 << 10; i < 0x80000; i++)
		if (big[i])
			fail_msg("byte %zu past the 64 KiB written", i);
	assert_int_equal(common_rd(f, STATUS, 1), ACK | DRV | FOK | DOK);
}

static void test_notify_port(void **state)
{
	notify_through(*state, true);
}

static void test_notify_memory(void **state)
{
	notify_through(*state, false);
}

static void test_interrupts(void **state)
{
	struct fixture *f = *state;
	struct virtio_dev *vdev = &f->fd->vdev;
	uint64_t isr = f->bar + cap_field(f, 3, 8);

	activate(f);
	/* Without MSI-X: only the ISR. */
	virtio_notify(vdev, 1);
	assert_int_equal(fake_fired(&f->irq, 2), 0);
	assert_int_equal(rd(f, isr, 1), 1);
	assert_int_equal(rd(f, isr, 1), 0); /* read to clear */
	enable_msix(f);
	virtio_notify(vdev, 1);
	virtio_notify(vdev, 0);
	assert_int_equal(fake_fired(&f->irq, 2), 1);
	assert_int_equal(fake_fired(&f->irq, 1), 1);
	assert_int_equal(f->irq.data[2], 0x42);
	virtio_notify(vdev, NQ); /* out of range: nothing */
	assert_int_equal(fake_fired(&f->irq, 0), 0);
	/* Config change: generation moves, config vector fires, ISR bit 1. */
	rd(f, isr, 1);
	assert_int_equal(common_rd(f, GENERATION, 1), 0);
	virtio_config_changed(vdev);
	assert_int_equal(common_rd(f, GENERATION, 1), 1);
	assert_int_equal(fake_fired(&f->irq, 0), 1);
	assert_int_equal(rd(f, isr, 4), 2);
	/* ISR writes are ignored. */
	wr(f, isr, 1, 3);
	assert_int_equal(rd(f, isr, 1), 0);
	/* The device breaks: NEEDS_RESET and a config interrupt. */
	virtio_needs_reset(vdev, "test");
	assert_true(common_rd(f, STATUS, 1) & NEEDS_RESET);
	assert_int_equal(fake_fired(&f->irq, 0), 2);
	/* A masked vector is held pending. */
	wr(f, f->bar + 0x4000 + 16 + 12, 4, 1);
	virtio_notify(vdev, 0);
	assert_int_equal(fake_fired(&f->irq, 1), 1);
	assert_int_equal(rd(f, f->bar + 0x5000, 1), 2);
	wr(f, f->bar + 0x4000 + 16 + 12, 4, 0);
	assert_int_equal(fake_fired(&f->irq, 1), 2);
}

/* Each refused queue-register write marks NEEDS_RESET; a reset clears it. */
static void test_bad_queue_writes_need_reset(void **state)
{
	struct fixture *f = *state;
	static const uint16_t bad_sizes[] = {0, 3, 48, QMAX + 1, 0x8000, 0xffff};

	for (unsigned int i = 0; i < ARRAY_SIZE(bad_sizes); i++) {
		to_features_ok(f);
		common_wr(f, QSEL, 2, 1);
		common_wr(f, QSIZE, 2, bad_sizes[i]);
		assert_int_equal(common_rd(f, STATUS, 1), ACK | DRV | FOK | NEEDS_RESET);
		assert_int_equal(common_rd(f, QSIZE, 2), QMAX);
		do_reset(f);
		assert_int_equal(common_rd(f, STATUS, 1), 0);
	}
	/* A good size leaves the status alone. */
	to_features_ok(f);
	common_wr(f, QSEL, 2, 1);
	common_wr(f, QSIZE, 2, 16);
	assert_int_equal(common_rd(f, STATUS, 1), ACK | DRV | FOK);
	/* The same register once the queue is enabled. */
	common_wr(f, QENABLE, 2, 1);
	common_wr(f, QSIZE, 2, 16);
	assert_int_equal(common_rd(f, STATUS, 1), ACK | DRV | FOK | NEEDS_RESET);
	do_reset(f);
	/* And a ring address after DRIVER_OK. */
	activate(f);
	common_wr(f, QSEL, 2, 0);
	common_wr(f, QDESC, 8, 0x2000);
	assert_true(common_rd(f, STATUS, 1) & NEEDS_RESET);
}

static void test_reset_restores_everything(void **state)
{
	struct fixture *f = *state;
	uint8_t first[0x40], after[0x40];

	for (unsigned int i = 0; i < sizeof(first); i++)
		first[i] = (uint8_t)common_rd(f, i, 1);
	activate(f);
	enable_msix(f);
	virtio_config_changed(&f->fd->vdev);
	virtio_notify(&f->fd->vdev, 0);
	common_wr(f, DFSEL, 4, 1);
	common_wr(f, GFSEL, 4, 1);
	common_wr(f, QSEL, 2, 1);
	do_reset(f);
	for (unsigned int i = 0; i < sizeof(after); i++)
		after[i] = (uint8_t)common_rd(f, i, 1);
	assert_memory_equal(first, after, sizeof(first));
	for (uint16_t q = 0; q < NQ; q++) {
		common_wr(f, QSEL, 2, q);
		assert_int_equal(common_rd(f, QSIZE, 2), QMAX);
		assert_int_equal(common_rd(f, QENABLE, 2), 0);
		assert_int_equal(common_rd(f, QMSIX, 2), NO_VEC);
		assert_int_equal(common_rd(f, QDESC, 8), 0);
		assert_int_equal(common_rd(f, QDRIVER, 8), 0);
		assert_int_equal(common_rd(f, QDEVICE, 8), 0);
	}
	assert_int_equal(rd(f, f->bar + cap_field(f, 3, 8), 1), 0);
	assert_int_equal(f->fd->resets, 1);
	/* And the device starts again. */
	activate(f);
	assert_int_equal(f->fd->activations, 2);
}

static void test_activate_refused(void **state)
{
	struct fixture *f = *state;

	f->fd->activate_ret = -EIO;
	to_features_ok(f);
	setup_queue(f, 0, 8);
	common_wr(f, STATUS, 1, ACK | DRV | FOK | DOK);
	wait_event(f);
	while (!(common_rd(f, STATUS, 1) & NEEDS_RESET))
		sched_yield();
	assert_false(f->fd->vdev.active);
	assert_int_equal(f->fd->vdev.vqs[0].size, 0);
	do_reset(f);
	assert_int_equal(f->fd->resets, 0); /* never active: nothing to reset */
}

/* How many doorbells KVM has at @addr (a port when @pio), one per queue index. */
static unsigned int ioeventfds_at(struct fixture *f, bool pio, uint64_t addr)
{
	unsigned int n = 0;

	pthread_mutex_lock(&f->irq.lock);
	for (unsigned int i = 0; i < f->irq.nr_io; i++) {
		if (f->irq.io[i].pio != pio || f->irq.io[i].addr != addr)
			continue;
		assert_int_equal(f->irq.io[i].len, 2);
		assert_true(f->irq.io[i].datamatch < NQ);
		n++;
	}
	pthread_mutex_unlock(&f->irq.lock);
	return n;
}

static unsigned int nr_io(struct fixture *f)
{
	unsigned int n;

	pthread_mutex_lock(&f->irq.lock);
	n = f->irq.nr_io;
	pthread_mutex_unlock(&f->irq.lock);
	return n;
}

/* The loop moves the doorbells after each BAR move (none moves on the vCPU: teardown). */
static void test_ioeventfds_follow_bar(void **state)
{
	struct fixture *f = *state;
	uint64_t moved = W64 + 0x10000000ULL;
	uint16_t port = (uint16_t)(f->port + 0x100);

	WAIT_FOR(nr_io(f) == 2 * NQ);
	assert_int_equal(ioeventfds_at(f, false, f->bar + 0x3000), NQ);
	assert_int_equal(ioeventfds_at(f, true, f->port), NQ);
	cfg_wr(f, 0x10, 4, (uint32_t)moved | 4);
	cfg_wr(f, 0x14, 4, (uint32_t)(moved >> 32));
	WAIT_FOR(ioeventfds_at(f, false, moved + 0x3000) == NQ);
	assert_int_equal(nr_io(f), 2 * NQ);
	f->bar = moved;
	assert_int_equal(common_rd(f, NUM_QUEUES, 2), NQ);
	/* The I/O BAR moves on its own. */
	cfg_wr(f, 0x18, 4, port);
	WAIT_FOR(ioeventfds_at(f, true, port) == NQ);
	assert_int_equal(ioeventfds_at(f, true, f->port), 0);
	f->port = port;
	/* Memory decoding off: only the port doorbells stay; I/O off: none. */
	cfg_wr(f, 0x04, 2, 1);
	WAIT_FOR(nr_io(f) == NQ);
	assert_int_equal(ioeventfds_at(f, true, port), NQ);
	assert_int_equal(common_rd(f, NUM_QUEUES, 2), 0xffff);
	cfg_wr(f, 0x04, 2, 0);
	WAIT_FOR(nr_io(f) == 0);
	assert_int_equal(io_rd(f, port, 2), 0xffff);
	/* A port outside the window decodes nowhere. */
	cfg_wr(f, 0x18, 4, 0x800);
	cfg_wr(f, 0x04, 2, 1);
	cfg_wr(f, 0x18, 4, port);
	cfg_wr(f, 0x04, 2, 3);
	WAIT_FOR(nr_io(f) == 2 * NQ);
	assert_int_equal(ioeventfds_at(f, true, port), NQ);
	assert_int_equal(ioeventfds_at(f, false, moved + 0x3000), NQ);
}

/*
 * A kick at a BAR's new address right after the move, before the loop has moved the
 * doorbells there, reaches the notify register and is served.
 */
static void test_kick_after_bar_move(void **state)
{
	struct fixture *f = *state;
	uint64_t moved = W64 + 0x20000000ULL;
	uint16_t port = (uint16_t)(f->port + 0x200);

	activate(f);
	cfg_wr(f, 0x10, 4, (uint32_t)moved | 4);
	cfg_wr(f, 0x14, 4, (uint32_t)(moved >> 32));
	wr(f, moved + 0x3000, 2, 1);
	wait_event(f);
	assert_int_equal(f->fd->notifies[1], 2); /* after activation, and this kick */
	cfg_wr(f, 0x18, 4, port);
	io_wr(f, port, 2, 0);
	wait_event(f);
	assert_int_equal(f->fd->notifies[0], 2);
	WAIT_FOR(ioeventfds_at(f, true, port) == NQ && ioeventfds_at(f, false, moved + 0x3000) == NQ);
	assert_int_equal(nr_io(f), 2 * NQ);
}

/*
 * The guest gives a vector a new message while it is masked and a message is pending;
 * the unmask (a vCPU) leaves it to the loop, which sends it on the new route. The
 * config vector of a guest error raised on the vCPU goes out at once: its route is set.
 */
static void test_new_msix_message(void **state)
{
	struct fixture *f = *state;
	struct virtio_dev *vdev = &f->fd->vdev;
	uint64_t table = f->bar + 0x4000;

	activate(f);
	enable_msix(f);
	virtio_notify(vdev, 0);
	virtio_config_changed(vdev);
	assert_int_equal(fake_fired(&f->irq, 1), 1);
	assert_int_equal(f->irq.fired_data[1], 0x41);
	wr(f, table + 16 + 12, 4, 1);
	virtio_notify(vdev, 0);
	wr(f, table + 16 + 8, 4, 0x51);
	wr(f, table + 16 + 12, 4, 0);
	WAIT_FOR(fake_fired(&f->irq, 1) == 2);
	assert_int_equal(f->irq.fired_data[1], 0x51);
	assert_int_equal(rd(f, f->bar + 0x5000, 1), 0);
	/* A notify of a queue out of range breaks the device: config interrupt, at once. */
	io_wr(f, f->port, 2, NQ);
	assert_int_equal(fake_fired(&f->irq, 0), 2);
	assert_true(common_rd(f, STATUS, 1) & NEEDS_RESET);
}

static void test_pci_cfg_window(void **state)
{
	struct fixture *f = *state;
	unsigned int c = f->caps[5];

	cfg_wr(f, c + 4, 1, 0);
	cfg_wr(f, c + 8, 4, NUM_QUEUES);
	cfg_wr(f, c + 12, 4, 2);
	assert_int_equal(cfg_rd(f, c + 16, 2), NQ);
	/* Write status through the window. */
	cfg_wr(f, c + 8, 4, STATUS);
	cfg_wr(f, c + 12, 4, 1);
	cfg_wr(f, c + 16, 1, ACK);
	assert_int_equal(common_rd(f, STATUS, 1), ACK);
	assert_int_equal(cfg_rd(f, c + 16, 1), ACK);
	/* Bad windows: another BAR, odd lengths, misaligned, beyond the BAR: nothing. */
	cfg_wr(f, c + 4, 1, 1);
	cfg_wr(f, c + 16, 1, 0);
	assert_int_equal(common_rd(f, STATUS, 1), ACK);
	cfg_wr(f, c + 4, 1, 0);
	cfg_wr(f, c + 12, 4, 3);
	cfg_wr(f, c + 16, 1, 0);
	cfg_wr(f, c + 12, 4, 0);
	cfg_wr(f, c + 16, 1, 0);
	cfg_wr(f, c + 12, 4, 2);
	cfg_wr(f, c + 8, 4, STATUS + 1);
	cfg_wr(f, c + 16, 1, 0);
	cfg_wr(f, c + 8, 4, 0xfffffffe);
	cfg_wr(f, c + 16, 2, 0);
	assert_int_equal(common_rd(f, STATUS, 1), ACK);
	/* A window on the I/O BAR reaches the port notify register: a kick. */
	common_wr(f, STATUS, 1, 0);
	while (common_rd(f, STATUS, 1) != 0)
		sched_yield();
	activate(f);
	cfg_wr(f, c + 4, 1, 2);
	cfg_wr(f, c + 8, 4, 0);
	cfg_wr(f, c + 12, 4, 2);
	cfg_wr(f, c + 16, 2, 1);
	wait_event(f);
	assert_int_equal(f->fd->notifies[1], 2);
	assert_int_equal(cfg_rd(f, c + 16, 2), 0);
	cfg_wr(f, c + 8, 4, 4); /* past the I/O BAR: nothing */
	cfg_wr(f, c + 16, 2, 0);
	cfg_wr(f, c + 8, 4, 0);
	cfg_wr(f, c + 4, 1, 6); /* no such BAR: nothing */
	cfg_wr(f, c + 16, 2, 0);
	cfg_wr(f, c + 4, 1, 0xff);
	cfg_wr(f, c + 16, 2, 0);
	assert_int_equal(cfg_rd(f, c + 16, 2), 0);
	assert_int_equal(f->fd->notifies[0], 1);
	assert_int_equal(common_rd(f, STATUS, 1), ACK | DRV | FOK | DOK);
	/* The cap's type and length stay read-only. */
	cfg_wr(f, c + 2, 2, 0xffff);
	assert_int_equal(cfg_rd(f, c + 2, 2), 5 << 8 | 20);
}

static void test_every_offset_every_width(void **state)
{
	struct fixture *f = *state;
	static const uint32_t widths[] = {1, 2, 4, 8};

	activate(f);
	/* Reads anywhere in the BAR: no crash, no state change but ISR. */
	for (uint64_t off = 0; off < 0x8000 + 8; off++)
		for (unsigned int w = 0; w < 4; w++)
			rd(f, f->bar + off, widths[w]);
	assert_int_equal(common_rd(f, STATUS, 1), ACK | DRV | FOK | DOK);
	/* Writes of all ones to read-only fields and unused space: ignored. */
	for (uint64_t off = 0; off < 0x8000 + 8; off++) {
		bool rw_common = off < 0x40 && (off < NUM_QUEUES || (off >= STATUS && off < 0x16) ||
						(off >= QSEL && off < QNOTIFYOFF) || off >= QDESC);
		bool notify = off >= 0x3000 && off < 0x4000;

		if (rw_common || notify || (off >= 0x2000 && off < 0x2000 + CFG_SIZE + 8) ||
		    (off >= 0x4000 - 8 && off < 0x5000))
			continue;
		for (unsigned int w = 0; w < 4; w++)
			wr(f, f->bar + off, widths[w], ~0ULL);
	}
	assert_int_equal(common_rd(f, NUM_QUEUES, 2), NQ);
	assert_int_equal(common_rd(f, GENERATION, 1), 0);
	assert_int_equal(common_rd(f, QNOTIFYOFF, 2), 0);
	assert_int_equal(common_rd(f, STATUS, 1), ACK | DRV | FOK | DOK);
	common_wr(f, DFSEL, 4, 0);
	assert_int_equal(common_rd(f, DF, 4), 1 | 1U << VQ_F_EVENT_IDX);
	/* Device config: accesses past its end read zero and are not passed on. */
	for (uint64_t off = 0; off < CFG_SIZE + 8; off++) {
		for (unsigned int w = 0; w < 4; w++) {
			uint64_t v = rd(f, f->bar + 0x2000 + off, widths[w]);

			if (off + widths[w] > CFG_SIZE)
				assert_true(v == 0);
			wr(f, f->bar + 0x2000 + off, widths[w], 0x5555555555555555ULL);
		}
	}
	assert_int_equal(f->fd->config[0], 0x55);
	/* Past the BAR: all ones from the host. */
	assert_int_equal(rd(f, f->bar + 0x7ffc, 8), ~0ULL);
	/*
	 * The I/O BAR, widths 1, 2 and 4 (ports have no 8-byte access): reads inside see
	 * zero, past its end all ones; writes of all ones anywhere but the register at 0
	 * are ignored, and that register was tested above.
	 */
	for (uint64_t off = 0; off < 8; off++) {
		for (unsigned int w = 0; w < 3; w++) {
			uint64_t v = io_rd(f, f->port + off, widths[w]);

			assert_true(v ==
				    (off + widths[w] <= 4 ? 0 : (1ULL << (8 * widths[w])) - 1));
			if (off)
				io_wr(f, f->port + off, widths[w], ~0ULL);
		}
	}
	assert_int_equal(common_rd(f, STATUS, 1), ACK | DRV | FOK | DOK);
	assert_int_equal(f->fd->notifies[0], 1);
	assert_int_equal(f->fd->notifies[1], 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_identity_and_caps, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status_transitions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_features_ok_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_registers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_queue_writes_need_reset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_requeue, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rng_fill_capped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_notify_port, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_notify_memory, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_interrupts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset_restores_everything, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_activate_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ioeventfds_follow_bar, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kick_after_bar_move, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_new_msix_message, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pci_cfg_window, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_every_offset_every_width, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
