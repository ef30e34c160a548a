// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for virtio-console with named ports (MULTIPORT): the
 * control queues, and the data queues of two named ports with back-pressure
 * both ways. Port 0 has no console. The input is one byte of features (bit 0
 * EVENT_IDX, bit 1 INDIRECT_DESC, bit 2 the driver does not take MULTIPORT),
 * then guest RAM: eight 16-entry queues (port 0's pair, the control pair, a
 * pair per named port), queue q's descriptor table, avail and used rings at
 * q * 0x400 + 0, 0x100, 0x200, their buffers anywhere in RAM. What follows
 * the RAM image is a script of one byte a step, bits 0-2 the action, bits 3-7
 * its argument a:
 *   0 kick queue a % 8        1 send a + 1 bytes on port a % 2 (bytes from RAM)
 *   2 resume port a % 2       3 from_guest of port a % 2 takes at most a bytes from now on
 *   4 the host side of port a % 2 opens (a & 2 clear) or closes   5 reset, start again
 *   6, 7 kick every queue
 * Without a script every queue is kicked in order, twice. A fake transport
 * and event loop stand in for the rest.
 *
 * Checked: the device asks for a reset exactly when a queue broke; the host
 * side sees open and close alternate, and never more bytes than offered; a
 * send never claims more than it was given.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_device.h"
#include "kvmrun/log.h"
#include "virtio/console_ports.h"

#define QSZ 16
#define NQ 8
#define QGPA(q) (FUZZ_RAM_GPA + (q)*0x400ULL)

struct fz_port {
	size_t budget;
	bool open;
	uint64_t got;
};

/* The harness's own state, beside fuzz_dev. */
static struct {
	struct fz_port port[2];
	struct vq vqs[NQ];
} fz;

static size_t fz_from_guest(void *opaque, const uint8_t *buf, size_t len)
{
	struct fz_port *p = opaque;
	size_t n = len < p->budget ? len : p->budget;

	if (!len || !buf)
		abort(); /* the device offers bytes, always */
	p->budget -= n;
	p->got += n;
	return n;
}

static void fz_writable(void *opaque)
{
	(void)opaque;
}

static void fz_open_changed(void *opaque, bool open)
{
	struct fz_port *p = opaque;

	if (p->open == open)
		abort();
	p->open = open;
}

static const struct virtio_console_port_ops fz_ops = {
    .from_guest = fz_from_guest,
    .writable = fz_writable,
    .open_changed = fz_open_changed,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct virtio_console_port ports[2] = {
	    {"kvmrun.agent", &fz_ops, &fz.port[0]},
	    {"second", &fz_ops, &fz.port[1]},
	};
	struct virtio_dev *vdev;

	(void)argc;
	(void)argv;
	log_set_level(LOG_ERROR);
	if (virtio_console_create_ports(&vdev, NULL, ports, 2, NULL, &fuzz_dev.gm))
		abort();
	if (vdev->nr_queues != NQ || NQ > FAKE_TRANSPORT_QUEUES)
		abort();
	fuzz_device_attach(vdev);
	return 0;
}

static void fz_start(struct virtio_dev *vdev)
{
	for (int q = 0; q < NQ; q++)
		if (vq_setup(&fz.vqs[q], &fuzz_dev.gm, QSZ, QGPA(q), QGPA(q) + 0x100,
			     QGPA(q) + 0x200, vdev->features))
			abort();
	fuzz_device_start(fz.vqs);
	for (uint16_t q = 0; q < NQ; q++)
		vdev->ops->queue_notify(vdev, q);
	fuzz_device_check(fz.vqs, NQ);
}

static void fz_step(struct virtio_dev *vdev, uint8_t op)
{
	unsigned int a = op >> 3, port = a % 2;
	bool was_open;
	size_t n;

	switch (op & 7) {
	case 0:
		vdev->ops->queue_notify(vdev, (uint16_t)(a % NQ));
		break;
	case 1:
		was_open = fz.port[port].open; /* a send that breaks the device closes it */
		n = virtio_console_port_send(vdev, port, fuzz_dev.ram + 0x8000, a + 1);
		if (n > a + 1)
			abort();
		if (n && !was_open)
			abort(); /* only to a port the guest holds open */
		break;
	case 2:
		virtio_console_port_resume(vdev, port);
		break;
	case 3:
		fz.port[port].budget = a;
		break;
	case 4:
		virtio_console_port_set_host_open(vdev, port, !(a & 2)); /* bit 1: closed */
		break;
	case 5:
		fuzz_device_stop(fz.vqs, NQ);
		if (fz.port[0].open || fz.port[1].open)
			abort(); /* a reset closes the ports */
		fz_start(vdev);
		break;
	default:
		for (uint16_t q = 0; q < NQ; q++)
			vdev->ops->queue_notify(vdev, q);
		break;
	}
	fuzz_device_check(fz.vqs, NQ);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct virtio_dev *vdev = fuzz_dev.vdev;
	uint8_t feat;

	if (size < 1)
		return 0;
	feat = fuzz_device_load(data, size);
	if (feat & 4)
		vdev->features &= ~VIRTIO_BIT(1); /* VIRTIO_CONSOLE_F_MULTIPORT */
	for (int i = 0; i < 2; i++) {
		fz.port[i].budget = SIZE_MAX;
		fz.port[i].got = 0;
		virtio_console_port_set_host_open(vdev, (unsigned int)i, true);
	}
	fz_start(vdev);
	if (size > 1 + FUZZ_RAM_SIZE) {
		for (size_t i = 1 + FUZZ_RAM_SIZE; i < size; i++)
			fz_step(vdev, data[i]);
	} else {
		fz_step(vdev, 6);
		fz_step(vdev, 6);
	}
	fuzz_device_stop(fz.vqs, NQ);
	if (fz.port[0].open || fz.port[1].open)
		abort();
	return 0;
}
