// SPDX-License-Identifier: Apache-2.0
/*
 * The virtio-pci common configuration (virtio 1.x, section 4.1.4.3): feature
 * negotiation, the device status and the queue registers, served on vCPU threads
 * under vp->lock. What needs the event loop is handed over as virtio_pci.c says.
 */
#include <stdbool.h>
#include <stdint.h>

#include "kvmrun/log.h"
#include "virtio/virtio_pci_internal.h"

static bool vp_transition_ok(uint8_t from, uint8_t to)
{
	static const struct {
		uint8_t from, to;
	} allowed[] = {
	    {0, VIRTIO_STATUS_ACKNOWLEDGE},
	    {VIRTIO_STATUS_ACKNOWLEDGE, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER},
	    {VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER,
	     VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK},
	    {VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK,
	     VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
		 VIRTIO_STATUS_DRIVER_OK},
	};

	/* FAILED may be added to any state; nothing but a reset leaves it. */
	if (to == (from | VIRTIO_STATUS_FAILED))
		return true;
	for (unsigned int i = 0; i < ARRAY_SIZE(allowed); i++)
		if (allowed[i].from == from && allowed[i].to == to)
			return true;
	return false;
}

static void vp_write_status(struct virtio_pci *vp, uint8_t val)
{
	struct virtio_dev *vdev = vp->vdev;
	uint8_t cur = vp->status & ~VIRTIO_STATUS_NEEDS_RESET;
	uint64_t offered = vdev->host_features;

	val &= (uint8_t)~VIRTIO_STATUS_NEEDS_RESET; /* the device's bit, not the driver's */
	if (val == 0) {
		if (!vp->loop_owned) {
			vp_reset_regs(vp);
		} else {
			/* Status reads back non-zero until the loop has stopped everything. */
			vp->reset_req = true;
			vp_signal(vp->ctl_fd);
		}
		return;
	}
	if (val == cur)
		return;
	if (!vp_transition_ok(cur, val)) {
		log_ratelimited(&vp->rl, LOG_WARN, "%s: status 0x%x -> 0x%x refused",
				vdev->ops->name, cur, val);
		return;
	}
	if ((val & ~cur) == VIRTIO_STATUS_FEATURES_OK &&
	    ((vp->driver_features & ~offered) ||
	     !(vp->driver_features & VIRTIO_BIT(VIRTIO_F_VERSION_1))))
		return; /* FEATURES_OK stays clear: the driver sees the refusal */
	vp->status = (uint8_t)(val | (vp->status & VIRTIO_STATUS_NEEDS_RESET));
	if ((val & ~cur) == VIRTIO_STATUS_DRIVER_OK) {
		vp->activate_req = true;
		vp->loop_owned = true;
		vp_signal(vp->ctl_fd);
	}
}

/* The driver broke the rules of the common configuration: the device needs a reset. */
static void vp_guest_error(struct virtio_pci *vp, const char *why)
{
	log_ratelimited(&vp->rl, LOG_WARN, "%s: guest error, device needs reset: %s",
			vp->vdev->ops->name, why);
	vp_mark_needs_reset(vp, false);
}

/*
 * May the selected queue's registers change? Not once it is enabled or the
 * device is live (DRIVER_OK): such a write is refused and breaks the device.
 * A queue index out of range has no registers (writes ignored, reads zero).
 */
static bool vp_queue_writable(struct virtio_pci *vp)
{
	if (vp->queue_sel >= vp->vdev->nr_queues)
		return false;
	if (vp->queues[vp->queue_sel].enabled || (vp->status & VIRTIO_STATUS_DRIVER_OK)) {
		vp_guest_error(vp, "queue register written after the queue was enabled");
		return false;
	}
	return true;
}

static uint16_t vp_vector(const struct virtio_pci *vp, uint64_t v)
{
	return v < vp->msix.nr ? (uint16_t)v : VP_NO_VECTOR;
}

static void vp_put(uint8_t *buf, unsigned int off, uint64_t v, unsigned int len)
{
	for (unsigned int i = 0; i < len; i++)
		buf[off + i] = (uint8_t)(v >> (8 * i));
}

void vp_common_read(struct virtio_pci *vp, uint64_t off, uint8_t *data, uint32_t len)
{
	const struct virtio_dev *vdev = vp->vdev;
	uint8_t regs[VP_COMMON_LEN] = {0};
	uint64_t df = vdev->host_features;

	vp_put(regs, VP_DFSELECT, vp->dfselect, 4);
	vp_put(regs, VP_DF, vp->dfselect < 2 ? (uint32_t)(df >> (32 * vp->dfselect)) : 0, 4);
	vp_put(regs, VP_GFSELECT, vp->gfselect, 4);
	vp_put(regs, VP_GF,
	       vp->gfselect < 2 ? (uint32_t)(vp->driver_features >> (32 * vp->gfselect)) : 0, 4);
	vp_put(regs, VP_MSIX_CONFIG, vp->config_vector, 2);
	vp_put(regs, VP_NUM_QUEUES, vdev->nr_queues, 2);
	vp_put(regs, VP_STATUS, vp->status, 1);
	vp_put(regs, VP_CFG_GENERATION, vp->generation, 1);
	vp_put(regs, VP_Q_SELECT, vp->queue_sel, 2);
	if (vp->queue_sel < vdev->nr_queues) {
		const struct vp_queue *q = &vp->queues[vp->queue_sel];

		vp_put(regs, VP_Q_SIZE, q->size, 2);
		vp_put(regs, VP_Q_MSIX, q->vector, 2);
		vp_put(regs, VP_Q_ENABLE, q->enabled, 2);
		vp_put(regs, VP_Q_NOTIFY_OFF, 0, 2);
		vp_put(regs, VP_Q_DESC, q->desc, 8);
		vp_put(regs, VP_Q_DRIVER, q->driver, 8);
		vp_put(regs, VP_Q_DEVICE, q->device, 8);
	} else {
		vp_put(regs, VP_Q_MSIX, VP_NO_VECTOR, 2);
	}
	for (uint32_t i = 0; i < len; i++)
		data[i] = off + i < VP_COMMON_LEN ? regs[off + i] : 0;
}

/* A 64-bit queue address written whole or as one of its 32-bit halves. */
static void vp_write_addr(uint64_t *reg, uint64_t off, uint32_t len, uint64_t v)
{
	if (len == 8 && !(off & 7))
		*reg = v;
	else if (len == 4 && !(off & 3))
		*reg = off & 4 ? (*reg & 0xffffffffULL) | v << 32 : (*reg & ~0xffffffffULL) | v;
}

void vp_common_write(struct virtio_pci *vp, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct vp_queue *q =
	    vp->queue_sel < vp->vdev->nr_queues ? &vp->queues[vp->queue_sel] : NULL;
	uint64_t v = 0;

	if (vp->reset_req)
		return; /* the driver waits for status 0 first */
	for (uint32_t i = 0; i < len; i++)
		v |= (uint64_t)data[i] << (8 * i);
	if (off >= VP_Q_DESC && off + len <= VP_Q_DEVICE + 8) {
		if (!vp_queue_writable(vp))
			return;
		vp_write_addr(off < VP_Q_DRIVER	  ? &q->desc
			      : off < VP_Q_DEVICE ? &q->driver
						  : &q->device,
			      off, len, v);
		return;
	}
#define VP_FIELD(o, l) (off == (o) && len == (l))
	if (VP_FIELD(VP_DFSELECT, 4)) {
		vp->dfselect = (uint32_t)v;
	} else if (VP_FIELD(VP_GFSELECT, 4)) {
		vp->gfselect = (uint32_t)v;
	} else if (VP_FIELD(VP_GF, 4)) {
		/* Only between DRIVER and FEATURES_OK. */
		if (vp->gfselect < 2 && (vp->status & ~VIRTIO_STATUS_NEEDS_RESET) ==
					    (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER)) {
			unsigned int sh = 32 * vp->gfselect;

			vp->driver_features &= ~(0xffffffffULL << sh);
			vp->driver_features |= v << sh;
		}
	} else if (VP_FIELD(VP_MSIX_CONFIG, 2)) {
		vp->config_vector = vp_vector(vp, v);
	} else if (VP_FIELD(VP_STATUS, 1)) {
		vp_write_status(vp, (uint8_t)v);
	} else if (VP_FIELD(VP_Q_SELECT, 2)) {
		vp->queue_sel = (uint16_t)v;
	} else if (VP_FIELD(VP_Q_SIZE, 2)) {
		/* A power of two no larger than the device's maximum. */
		if (!vp_queue_writable(vp))
			return;
		if (v && !(v & (v - 1)) && v <= vp->vdev->queue_max)
			q->size = (uint16_t)v;
		else
			vp_guest_error(vp, "queue size 0, not a power of two, or above the maximum");
	} else if (VP_FIELD(VP_Q_MSIX, 2)) {
		if (vp_queue_writable(vp))
			q->vector = vp_vector(vp, v);
	} else if (VP_FIELD(VP_Q_ENABLE, 2)) {
		if (vp_queue_writable(vp) && v == 1)
			q->enabled = true;
		else if (q && v != 1 && !(vp->status & VIRTIO_STATUS_DRIVER_OK))
			vp_guest_error(vp, "queue_enable written with a value other than 1");
	}
#undef VP_FIELD
	/* Anything else is read-only or not a register: ignored. */
}
