// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the register side of the PCI devices: the host bridge
 * (ports 0xcf8-0xcff, ECAM, the windows it forwards to BARs), and behind it a
 * virtio-rng and, when the input asks for it, a virtio-blk (two queues, a
 * 64 KiB memfd image) on the virtio-pci transport: common configuration, ISR,
 * device configuration, notification registers (memory and port), MSI-X table
 * and PBA, and the PCI configuration access capability.
 *
 * The input is a sequence of operations; after each one the event loop serves
 * whatever became ready (activation, doorbells, disk completions), so that
 * rings the input set up in guest RAM are walked as in the VMM. A write that
 * matches an ioeventfd the transport registered signals that eventfd instead,
 * as KVM would. The whole machine is built for each input and destroyed after
 * it; every descriptor watched, doorbell and MSI vector must be gone by then
 * (the virtio-blk's own descriptor is checked by the thread that closes its
 * disk: see fz_blk_destroy). Run it with -detect_leaks=0: that thread frees
 * the device after the input, which libFuzzer would take for a leak and check
 * for one after each such input, at a high cost; LeakSanitizer's check at exit
 * still finds what was never freed.
 *
 * First byte: bit 0 adds the virtio-blk (its AIO context takes some 20 ms to
 * tear down, so inputs without it run far faster). Then operations: one byte,
 * bits 0-1 log2 of the width (PIO: 8 is done as 4), bit 2 write, bits 3-7 the
 * selector; a 16-bit little-endian offset; for a write the value (width bytes).
 * Selector FZ_SEL_RAM instead copies a length byte's worth of the following
 * bytes into guest RAM at the offset. The selectors:
 *   0 ports 0xcf8 + off    1 ECAM + off          2 32-bit window + off
 *   3 64-bit window + off  4 I/O window + off    5 port off
 *   6 guest RAM            7 ECAM + 64 KiB + off
 *   8-17 virtio-blk, 18-27 virtio-rng, each (see enum fz_region): its config
 *   space, there at the MSI-X and at the PCI configuration access capability,
 *   then the common, ISR, device and the two notification regions, the MSI-X
 *   table and the PBA, where the BAR holding each is programmed now;
 *   28-31 as 8-11.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/x86_64/layout.h"
#include "devices.h"
#include "fake_irq.h"
#include "fake_loop.h"
#include "fake_ram.h"
#include "kvmrun/bus.h"
#include "kvmrun/guest_mem.h"
#include "kvmrun/irq.h"
#include "kvmrun/log.h"
#include "virtio/blk.h"
#include "virtio/devices.h"
#include "virtio/virtio_pci.h"
#include "fuzz_target.h"

#define RAM_GPA 0x0ULL
#define RAM_SIZE 0x10000
#define IMG_SIZE (64 * 1024)
#define WIN32_BASE LAYOUT_PCI_MMIO32
#define WIN32_SIZE 0x100000ULL
#define WIN64_BASE 0x1000000000ULL
#define WIN64_SIZE 0x100000ULL
#define WINIO_BASE 0x1000
#define WINIO_SIZE 0x1000
#define LOOP_ROUNDS 8
#define MAX_REAPING 8 /* virtio-blk devices being destroyed at once (AIO contexts) */
#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_MSIX 0x11

enum fz_region {
	FZ_CFG,
	FZ_CFG_MSIX,
	FZ_CFG_WINDOW,
	FZ_COMMON,
	FZ_ISR,
	FZ_DEVICE,
	FZ_NOTIFY_MEM,
	FZ_NOTIFY_IO,
	FZ_MSIX_TABLE,
	FZ_MSIX_PBA,
	FZ_NR_REGIONS,
};

#define FZ_SEL_RAM 6
#define FZ_SEL_DEV 8
#define FZ_NR_DEVS 2

/* Where a region of a device is: config offset, or BAR and offset into it. */
struct fz_place {
	bool found;
	uint8_t bar;
	uint32_t off;
};

struct fz_pcidev {
	uint16_t device_id;
	unsigned int slot;
	struct fz_place place[FZ_NR_REGIONS];
};

/* The harness's state; a fuzz target is one process. */
static struct {
	struct ev_loop *loop; /* this input's */
	struct guest_mem gm;
	uint8_t *ram;
	struct fake_irq irq; /* its doorbells are matched on each guest write */
	struct bus pio, mmio;
	struct device *list;
	struct pci_host *host;
	struct fz_pcidev devs[FZ_NR_DEVS];
	bool trace; /* FUZZ_TRACE set: each access and loop pass on stderr */

	/* The virtio-blk's ops with a destroy that hands the device to a reaper thread. */
	struct virtio_dev_ops blk_ops;
	void (*blk_destroy)(struct virtio_dev *vdev);
	struct virtio_dev *dying_blk;
	pthread_mutex_t reap_lock;
	pthread_cond_t reap_cond;
	unsigned int reaping;
} fz;

/* --- the interrupt controller, as KVM would route it --- */

/* An MSI route that is no interrupt message is refused: the device must not fire it. */
static int fz_check_route(uint64_t addr, uint32_t data)
{
	(void)data;
	return addr >> 20 == LAYOUT_LAPIC >> 20 ? 0 : -EINVAL;
}

/* --- guest accesses --- */

static uint64_t fz_value(const uint8_t *data, uint32_t len)
{
	uint64_t v = 0;

	for (uint32_t i = 0; i < len; i++)
		v |= (uint64_t)data[i] << (8 * i);
	return v;
}

static void fz_access(bool pio, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	if (pio && len > 4)
		len = 4; /* IN and OUT move at most 4 bytes */
	if (is_write) {
		int fd = fake_doorbell(&fz.irq, pio, addr, len, fz_value(data, len));
		uint64_t one = 1;

		if (fd >= 0) {
			if (write(fd, &one, sizeof(one)) != sizeof(one))
				abort();
			return;
		}
	}
	bus_access(pio ? &fz.pio : &fz.mmio, addr, data, len, is_write);
}

static uint64_t fz_ecam(unsigned int slot, unsigned int reg)
{
	return LAYOUT_PCI_ECAM + ((uint64_t)slot << 15) + reg;
}

static uint32_t fz_cfg_read(unsigned int slot, unsigned int reg, uint32_t len)
{
	uint8_t buf[4] = {0};

	bus_access(&fz.mmio, fz_ecam(slot, reg), buf, len, false);
	return (uint32_t)fz_value(buf, len);
}

/* Where BAR @bar of the device in @slot is programmed now (I/O or memory). */
static uint64_t fz_bar(unsigned int slot, unsigned int bar, bool *pio)
{
	uint32_t lo = fz_cfg_read(slot, 0x10 + 4 * bar, 4);

	*pio = lo & 1;
	if (*pio)
		return lo & ~3U;
	if ((lo & 6) == 4 && bar < 5)
		return (lo & ~0xfULL) | (uint64_t)fz_cfg_read(slot, 0x14 + 4 * bar, 4) << 32;
	return lo & ~0xfULL;
}

/*
 * Finds the devices by their IDs and their regions by walking their capability
 * lists: the layout stays the transport's business.
 */
static void fz_discover(void)
{
	memset(fz.devs, 0, sizeof(fz.devs));
	for (unsigned int slot = 1; slot < 32; slot++) {
		uint16_t id = (uint16_t)fz_cfg_read(slot, 2, 2);
		unsigned int cap = fz_cfg_read(slot, 0x34, 1);
		struct fz_pcidev *d;

		if (fz_cfg_read(slot, 0, 2) != 0x1af4)
			continue;
		if (id == 0x1040 + VIRTIO_ID_BLOCK)
			d = &fz.devs[0];
		else if (id == 0x1040 + 4) /* entropy */
			d = &fz.devs[1];
		else
			continue;
		d->slot = slot;
		d->device_id = id;
		d->place[FZ_CFG] = (struct fz_place){true, 0, 0};
		for (unsigned int hops = 0; cap && hops < 48; hops++) {
			unsigned int cap_id = fz_cfg_read(slot, cap, 1);
			unsigned int type = fz_cfg_read(slot, cap + 3, 1);
			uint8_t bar = (uint8_t)fz_cfg_read(slot, cap + 4, 1);
			uint32_t off = fz_cfg_read(slot, cap + 8, 4);
			struct fz_place p = {true, bar, off};
			bool pio;

			if (cap_id == PCI_CAP_ID_MSIX) {
				uint32_t t = fz_cfg_read(slot, cap + 4, 4);
				uint32_t b = fz_cfg_read(slot, cap + 8, 4);

				d->place[FZ_CFG_MSIX] = (struct fz_place){true, 0, cap};
				d->place[FZ_MSIX_TABLE] = (struct fz_place){true, t & 7, t & ~7U};
				d->place[FZ_MSIX_PBA] = (struct fz_place){true, b & 7, b & ~7U};
			} else if (cap_id == PCI_CAP_ID_VNDR && type == 1) {
				d->place[FZ_COMMON] = p;
			} else if (cap_id == PCI_CAP_ID_VNDR && type == 2) {
				fz_bar(slot, bar, &pio);
				d->place[pio ? FZ_NOTIFY_IO : FZ_NOTIFY_MEM] = p;
			} else if (cap_id == PCI_CAP_ID_VNDR && type == 3) {
				d->place[FZ_ISR] = p;
			} else if (cap_id == PCI_CAP_ID_VNDR && type == 4) {
				d->place[FZ_DEVICE] = p;
			} else if (cap_id == PCI_CAP_ID_VNDR && type == 5) {
				d->place[FZ_CFG_WINDOW] = (struct fz_place){true, 0, cap};
			}
			cap = fz_cfg_read(slot, cap + 1, 1);
		}
	}
}

/* One access through selector @sel at @off; false if the selector names nothing. */
static bool fz_resolve(unsigned int sel, uint16_t off, bool *pio, uint64_t *addr)
{
	const struct fz_pcidev *d;
	enum fz_region r;
	uint64_t base;

	if (sel >= FZ_SEL_DEV + FZ_NR_DEVS * FZ_NR_REGIONS)
		sel -= FZ_SEL_DEV + FZ_NR_DEVS * FZ_NR_REGIONS - FZ_SEL_DEV;
	*pio = sel == 0 || sel == 4 || sel == 5;
	switch (sel) {
	case 0:
		*addr = PORT_PCI_CONFIG + (off & 7);
		return true;
	case 1:
		*addr = LAYOUT_PCI_ECAM + off;
		return true;
	case 2:
		*addr = WIN32_BASE + off;
		return true;
	case 3:
		*addr = WIN64_BASE + off;
		return true;
	case 4:
		*addr = WINIO_BASE + off % WINIO_SIZE;
		return true;
	case 5:
		*addr = off;
		return true;
	case 7:
		*addr = LAYOUT_PCI_ECAM + 0x10000 + off;
		return true;
	default:
		break;
	}
	if (sel < FZ_SEL_DEV)
		return false;
	d = &fz.devs[(sel - FZ_SEL_DEV) / FZ_NR_REGIONS];
	r = (sel - FZ_SEL_DEV) % FZ_NR_REGIONS;
	if (!d->slot || !d->place[r].found)
		return false;
	if (r <= FZ_CFG_WINDOW) {
		*addr = fz_ecam(d->slot, d->place[r].off) + off;
		return true;
	}
	if (d->place[r].bar >= 6)
		return false;
	base = fz_bar(d->slot, d->place[r].bar, pio);
	*addr = base + d->place[r].off + off;
	if (*pio)
		*addr &= 0xffff;
	return true;
}

/* --- the machine --- */

/*
 * Closing the virtio-blk's disk waits a grace period or two for its AIO context
 * (io_destroy), some 20 ms on a busy host, with nothing left to cover: a thread
 * of its own does that, together with the loop the device watched its
 * completions on, while the next input runs on a new machine.
 */
/* A machine's loop, once its devices are gone: each must have left it. */
static void fz_loop_destroy(struct ev_loop *loop)
{
	if (fake_loop_watched(loop))
		abort();
	fake_loop_destroy(loop);
}

static void fz_blk_destroy(struct virtio_dev *vdev)
{
	fz.dying_blk = vdev;
}

static void *fz_reaper(void *arg)
{
	struct virtio_dev *vdev = arg;
	struct ev_loop *loop = vdev->loop;

	fz.blk_destroy(vdev);
	fz_loop_destroy(loop);
	pthread_mutex_lock(&fz.reap_lock);
	fz.reaping--;
	pthread_cond_signal(&fz.reap_cond);
	pthread_mutex_unlock(&fz.reap_lock);
	return NULL;
}

static void fz_reap(struct virtio_dev *vdev)
{
	pthread_attr_t attr;
	pthread_t t;

	pthread_mutex_lock(&fz.reap_lock);
	while (fz.reaping >= MAX_REAPING)
		pthread_cond_wait(&fz.reap_cond, &fz.reap_lock);
	fz.reaping++;
	pthread_mutex_unlock(&fz.reap_lock);
	if (pthread_attr_init(&attr) ||
	    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) ||
	    pthread_create(&t, &attr, fz_reaper, vdev))
		abort();
	pthread_attr_destroy(&attr);
}

static void fz_machine_up(bool with_blk)
{
	const struct pci_host_windows win = {
	    .ecam = LAYOUT_PCI_ECAM,
	    .mmio32 = WIN32_BASE,
	    .mmio32_size = WIN32_SIZE,
	    .mmio64 = WIN64_BASE,
	    .mmio64_size = WIN64_SIZE,
	    .io = WINIO_BASE,
	    .io_size = WINIO_SIZE,
	};
	struct disk_config cfg = {.cache = DISK_CACHE_WRITEBACK};
	struct virtio_dev *vdev = NULL;
	char err[256];
	int mfd;

	bus_init(&fz.pio, "pio");
	bus_init(&fz.mmio, "mmio");
	fz.list = NULL;
	if (fake_loop_create(&fz.loop))
		abort();
	if (pci_host_create(&fz.list, &fz.host, &fz.pio, &fz.mmio, PORT_PCI_CONFIG, &win))
		abort();
	if (with_blk) {
		/* A zeroed image of its own: the one before may still be open. */
		mfd = memfd_create("fuzz-disk", MFD_CLOEXEC);
		if (mfd < 0 || ftruncate(mfd, IMG_SIZE) < 0)
			abort();
		snprintf(cfg.path, sizeof(cfg.path), "/proc/self/fd/%d", mfd);
		if (virtio_blk_create(&vdev, &cfg, 2, fz.loop, &fz.gm, err, sizeof(err))) {
			fprintf(stderr, "%s\n", err);
			abort();
		}
		close(mfd); /* the device holds its own descriptor */
		if (!fz.blk_destroy) {
			fz.blk_ops = *vdev->ops;
			fz.blk_destroy = vdev->ops->destroy;
			fz.blk_ops.destroy = fz_blk_destroy;
		}
		vdev->ops = &fz.blk_ops;
	}
	if (with_blk && virtio_pci_create(&fz.list, fz.host, &fz.irq.chip, vdev))
		abort();
	vdev = NULL;
	if (virtio_rng_create(&vdev, fz.loop, &fz.gm) ||
	    virtio_pci_create(&fz.list, fz.host, &fz.irq.chip, vdev))
		abort();
	fz_discover();
	if ((with_blk && !fz.devs[0].slot) || !fz.devs[1].slot)
		abort();
}

static void fz_machine_down(void)
{
	fz.dying_blk = NULL;
	devices_destroy(&fz.list);
	/*
	 * Everything the devices took from the interrupt controller is back, and from
	 * the loop (checked when the loop goes).
	 */
	if (fake_msis(&fz.irq) || fz.irq.nr_io)
		abort();
	if (fz.dying_blk)
		fz_reap(fz.dying_blk);
	else
		fz_loop_destroy(fz.loop);
	fz.loop = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz.trace = getenv("FUZZ_TRACE");
	log_set_level(fz.trace ? LOG_DEBUG : LOG_ERROR);
	if (pthread_mutex_init(&fz.reap_lock, NULL) || pthread_cond_init(&fz.reap_cond, NULL))
		abort();
	fake_irq_init(&fz.irq);
	fz.irq.check_route = fz_check_route;
	fz.ram = fake_ram_map(&fz.gm, RAM_GPA, RAM_SIZE);
	if (!fz.ram)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_op op;
	size_t pos = 1;

	if (size < 1)
		return 0;
	memset(fz.ram, 0, RAM_SIZE);
	fz_machine_up(data[0] & 1);
	while (fuzz_op_next(data, size, &pos, 2, &op)) {
		uint8_t buf[8] = {0};
		uint64_t addr;
		unsigned int n;
		bool pio;

		if (op.sel == FZ_SEL_RAM) {
			size_t ram_len = pos < size ? data[pos++] : 0;

			fuzz_take(data, size, &pos, fz.ram + op.off,
				  MIN(ram_len, (size_t)(RAM_SIZE - op.off)));
			continue;
		}
		if (op.is_write)
			fuzz_take(data, size, &pos, buf, op.len);
		if (fz_resolve(op.sel, op.off, &pio, &addr)) {
			fz_access(pio, addr, buf, op.len, op.is_write);
			if (fz.trace)
				fprintf(stderr, "%s %s 0x%llx/%u: 0x%llx\n", pio ? "port" : "mmio",
					op.is_write ? "write" : "read", (unsigned long long)addr,
					op.len, (unsigned long long)fz_value(buf, op.len));
		}
		n = fake_loop_dispatch(fz.loop, LOOP_ROUNDS);
		if (fz.trace && n)
			fprintf(stderr, "loop: %u handlers\n", n);
		if (fz.irq.unrouted_fires)
			abort(); /* a vector fired with no route the controller took */
	}
	fz_machine_down();
	return 0;
}
