// SPDX-License-Identifier: Apache-2.0
/*
 * The virtio-pci transport, modern only (virtio 1.x, section 4.1). One 64-bit memory
 * BAR holds the common configuration, ISR, device configuration and notification
 * regions and the MSI-X table and PBA; vendor capabilities point at them, plus the
 * PCI configuration access capability.
 *
 * A second notification region sits in a 4-port I/O BAR, and its capability comes
 * first in the list, so a driver that takes the first one it can map (Linux does)
 * kicks with a port write. KVM learns the port and size of an OUT from the exit
 * itself; an MMIO write must be decoded from the guest's instruction, which costs far
 * more on hosts without a fast MMIO path (AMD). Drivers that cannot use ports take the
 * memory one.
 *
 * Registers are served on vCPU threads under vp->lock. Everything that touches the
 * rings or the device's backend runs on the event loop: DRIVER_OK and reset are
 * handed over through ctl_fd, and each queue's doorbell is an eventfd, written by
 * KVM (an ioeventfd matched on the queue index) or by the notify register here.
 * Doorbells are watched edge-triggered and never read: every write to an eventfd
 * wakes epoll again, and a counter that is never reset cannot reach its limit
 * (2^64 - 2 kicks), so a kick costs the loop no system call of its own. A device
 * whose queues are served by another process (external_queues) gets the doorbells
 * (kick_fd) for that process instead, and the loop does not watch them.
 *
 * KVM's doorbells and MSI routes are changed through ctl_fd too, so that a vCPU
 * thread's seccomp filter needs neither KVM_IOEVENTFD nor KVM_SET_GSI_ROUTING. A
 * BAR move records where the notify registers decode now; the loop moves the
 * ioeventfds there. Until it has, a kick at the new address exits to the notify
 * register here, which signals the same eventfd, so no kick is lost; for that short
 * while KVM also still takes 2-byte writes of a queue index at the old address as a
 * kick (nothing else decodes there unless the guest has just put another BAR on it,
 * and a spurious kick costs the device one look at its ring). MSI-X messages whose
 * route must change wait for the loop the same way (pci_msix.c). No vCPU ever waits
 * for the loop.
 *
 * A device whose queues another process serves may hand it a queue's MSI-X eventfd
 * (queue_irq_fd) while the vector is deliverable, so the backend's interrupts cost the
 * loop nothing. A mask, an enable bit or a message written on a vCPU thread then wakes
 * the loop (irqs_req), which has the device ask again (irqs_changed) and switch the
 * backend to its own eventfd, whose signals the loop turns into pending bits as for any
 * queue, or back. Between the guest's mask write and that switch the backend may still
 * raise the vector directly: the guest sees an interrupt it masked, a spurious one its
 * driver ignores after looking at the ring; the host is never at risk, and no signal is
 * lost either way (one sent before the switch back is delivered from the pending bit).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kvmrun/event_loop.h"
#include "kvmrun/log.h"
#include "virtio/virtio_pci_internal.h"

void vp_signal(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) < 0) {
		/* The counter is already non-zero: the reader wakes anyway. */
	}
}

static void vp_drain(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0) {
		/* Nothing pending: a spurious wakeup. */
	}
}

void vp_reset_regs(struct virtio_pci *vp)
{
	vp->dfselect = vp->gfselect = 0;
	vp->driver_features = 0;
	vp->config_vector = VP_NO_VECTOR;
	vp->status = vp->generation = vp->isr = 0;
	vp->queue_sel = 0;
	for (uint16_t q = 0; q < vp->vdev->nr_queues; q++)
		vp->queues[q] =
		    (struct vp_queue){.size = vp->vdev->queue_max, .vector = VP_NO_VECTOR};
	vp->activate_req = vp->reset_req = vp->loop_owned = false;
}

/* Interrupts (lock held); @loop: on the event loop, else on a vCPU thread. */
static void vp_raise(struct virtio_pci *vp, uint8_t isr, uint16_t vector, bool loop)
{
	vp->isr |= isr;
	if (!pci_msix_enabled(&vp->msix) || vector == VP_NO_VECTOR)
		return;
	if (loop)
		pci_msix_raise(&vp->msix, vector);
	else
		pci_msix_raise_vcpu(&vp->msix, vector);
}

void vp_mark_needs_reset(struct virtio_pci *vp, bool loop)
{
	if (!vp->status || (vp->status & VIRTIO_STATUS_NEEDS_RESET))
		return;
	vp->status |= VIRTIO_STATUS_NEEDS_RESET;
	vp_raise(vp, VP_ISR_CONFIG, vp->config_vector, loop);
}

static void vp_notify_queue(struct virtio_dev *vdev, uint16_t q)
{
	struct virtio_pci *vp = vdev->transport_data;

	if (q >= vdev->nr_queues)
		return;
	pthread_mutex_lock(&vp->lock);
	vp_raise(vp, VP_ISR_QUEUE, vp->queues[q].vector, true);
	pthread_mutex_unlock(&vp->lock);
}

static void vp_config_changed(struct virtio_dev *vdev)
{
	struct virtio_pci *vp = vdev->transport_data;

	pthread_mutex_lock(&vp->lock);
	vp->generation++;
	vp_raise(vp, VP_ISR_CONFIG, vp->config_vector, true);
	pthread_mutex_unlock(&vp->lock);
}

static void vp_needs_reset(struct virtio_dev *vdev)
{
	struct virtio_pci *vp = vdev->transport_data;

	pthread_mutex_lock(&vp->lock);
	vp_mark_needs_reset(vp, true);
	pthread_mutex_unlock(&vp->lock);
}

/* The loop sees queue q's doorbell again, as if the guest had kicked. */
static void vp_requeue(struct virtio_dev *vdev, uint16_t q)
{
	struct virtio_pci *vp = vdev->transport_data;

	if (vp->kicks[q].fd >= 0)
		vp_signal(vp->kicks[q].fd);
}

static int vp_kick_fd(struct virtio_dev *vdev, uint16_t q)
{
	struct virtio_pci *vp = vdev->transport_data;

	return q < vdev->nr_queues ? vp->kicks[q].fd : -1;
}

/* Queue q's vector's own eventfd while it is deliverable (see the top of this file). */
static int vp_queue_irq_fd(struct virtio_dev *vdev, uint16_t q)
{
	struct virtio_pci *vp = vdev->transport_data;
	int fd;

	if (q >= vdev->nr_queues)
		return -1;
	pthread_mutex_lock(&vp->lock);
	fd = pci_msix_direct_fd(&vp->msix, vp->queues[q].vector);
	pthread_mutex_unlock(&vp->lock);
	return fd;
}

static const struct virtio_transport_ops vp_transport_ops = {
    .notify_queue = vp_notify_queue,
    .config_changed = vp_config_changed,
    .needs_reset = vp_needs_reset,
    .requeue = vp_requeue,
    .kick_fd = vp_kick_fd,
    .queue_irq_fd = vp_queue_irq_fd,
};

/* --- the event-loop side --- */

static void vp_loop_stop_device(struct virtio_pci *vp)
{
	struct virtio_dev *vdev = vp->vdev;

	if (vdev->active && vdev->ops->reset)
		vdev->ops->reset(vdev);
	vdev->active = false;
	for (uint16_t q = 0; q < vdev->nr_queues; q++)
		vq_cleanup(&vdev->vqs[q]);
}

static void vp_loop_activate(struct virtio_pci *vp, const struct vp_queue *qs, uint64_t features)
{
	struct virtio_dev *vdev = vp->vdev;
	const char *why = NULL;

	vdev->features = features;
	for (uint16_t q = 0; q < vdev->nr_queues && !why; q++) {
		if (!qs[q].enabled)
			continue;
		if (vq_setup(&vdev->vqs[q], vdev->gm, qs[q].size, qs[q].desc, qs[q].driver,
			     qs[q].device, features))
			why = "queue rings outside guest RAM or misaligned";
	}
	if (!why && vdev->ops->activate && vdev->ops->activate(vdev) < 0)
		why = "device refused to start";
	if (why) {
		vp_loop_stop_device(vp);
		virtio_needs_reset(vdev, why);
		return;
	}
	vdev->active = true;
	/* Kicks that came before activation were dropped: look at every queue once. */
	for (uint16_t q = 0; q < vdev->nr_queues && !vdev->ops->external_queues; q++)
		if (qs[q].enabled && vdev->ops->queue_notify)
			vdev->ops->queue_notify(vdev, q);
}

/* Each queue's doorbell at notify register @addr (a port when @pio), matched on its index. */
static void vp_ioeventfds(struct virtio_pci *vp, bool pio, uint64_t addr, bool assign)
{
	const struct irq_chip *irq = vp->irq;

	for (uint16_t q = 0; q < vp->vdev->nr_queues; q++)
		if (irq->ops->ioeventfd(irq->opaque, vp->kicks[q].fd, pio, addr, VP_NOTIFY_LEN, q,
					assign))
			log_ratelimited(&vp->loop_rl, LOG_WARN,
					"%s: queue %u kicks go through the notify register",
					vp->vdev->ops->name, q);
}

/* Moves KVM's doorbells of one notify register to where it decodes now (@want). */
static void vp_loop_doorbells(struct virtio_pci *vp, bool pio, uint64_t want)
{
	uint64_t *cur = pio ? &vp->kvm_notify_port : &vp->kvm_notify_addr;

	if (*cur == want)
		return;
	if (*cur != PCI_BAR_UNMAPPED)
		vp_ioeventfds(vp, pio, *cur, false);
	*cur = want;
	if (want != PCI_BAR_UNMAPPED)
		vp_ioeventfds(vp, pio, want, true);
}

static void vp_ctl(void *opaque, uint32_t events)
{
	struct virtio_pci *vp = opaque;
	struct virtio_dev *vdev = vp->vdev;
	uint64_t features, notify_addr, notify_port;
	struct vp_queue *qs = NULL;
	bool activate, reset, irqs;

	(void)events;
	vp_drain(vp->ctl_fd);
	pthread_mutex_lock(&vp->lock);
	vp->msix_req = false;
	pci_msix_run_deferred(&vp->msix);
	irqs = vp->irqs_req;
	vp->irqs_req = false;
	notify_addr = vp->notify_addr;
	notify_port = vp->notify_port;
	reset = vp->reset_req;
	activate = vp->activate_req && !reset;
	vp->activate_req = false;
	features = vp->driver_features;
	if (activate) {
		qs = malloc(vdev->nr_queues * sizeof(*qs));
		if (qs)
			memcpy(qs, vp->queues, vdev->nr_queues * sizeof(*qs));
	}
	pthread_mutex_unlock(&vp->lock);

	/* Outside the lock: the ioctls wait for KVM, vCPUs need not (a move meanwhile wakes us). */
	vp_loop_doorbells(vp, false, notify_addr);
	vp_loop_doorbells(vp, true, notify_port);
	if (reset) {
		vp_loop_stop_device(vp);
		pthread_mutex_lock(&vp->lock);
		vp_reset_regs(vp);
		pthread_mutex_unlock(&vp->lock);
		return;
	}
	if (activate && !qs) {
		virtio_needs_reset(vdev, "out of memory");
		return;
	}
	if (activate)
		vp_loop_activate(vp, qs, features);
	else if (irqs && vdev->active && vdev->ops->irqs_changed)
		vdev->ops->irqs_changed(vdev); /* outside the lock: it talks to the backend */
	free(qs);
}

static void vp_kick(void *opaque, uint32_t events)
{
	struct vp_kick *k = opaque;
	struct virtio_dev *vdev = k->vp->vdev;

	(void)events; /* edge-triggered: nothing to drain (see the top of this file) */
	if (vdev->active && vdev->vqs[k->q].size && vdev->ops->queue_notify)
		vdev->ops->queue_notify(vdev, k->q);
}

/* --- registers (vCPU threads, lock held; the common configuration: virtio_pci_common.c) --- */

/* A write to the notification region that KVM did not take as an ioeventfd. */
static void vp_notify_write(struct virtio_pci *vp, uint64_t off, const uint8_t *data, uint32_t len)
{
	uint16_t q = data[0];

	if (off != 0)
		return;
	if (len >= 2)
		q = (uint16_t)(data[0] | data[1] << 8);
	if (q >= vp->vdev->nr_queues) {
		log_ratelimited(&vp->rl, LOG_WARN, "%s: notify of queue %u of %u",
				vp->vdev->ops->name, q, vp->vdev->nr_queues);
		vp_mark_needs_reset(vp, false);
		return;
	}
	log_ratelimited(&vp->rl, LOG_DEBUG, "%s: queue %u kicked through the register",
			vp->vdev->ops->name, q);
	vp_signal(vp->kicks[q].fd);
}

static void vp_bar_locked(struct virtio_pci *vp, uint64_t off, uint8_t *data, uint32_t len,
			  bool is_write)
{
	const struct virtio_dev_ops *ops = vp->vdev->ops;

	if (off < VP_COMMON_OFF + VP_COMMON_LEN) {
		if (is_write)
			vp_common_write(vp, off, data, len);
		else
			vp_common_read(vp, off, data, len);
	} else if (off >= VP_ISR_OFF && off < VP_ISR_OFF + 0x1000) {
		if (!is_write) {
			memset(data, 0, len);
			if (off == VP_ISR_OFF) {
				data[0] = vp->isr; /* read to clear */
				vp->isr = 0;
			}
		}
	} else if (off >= VP_DEVICE_OFF && off < VP_DEVICE_OFF + VP_DEVICE_MAX) {
		uint64_t o = off - VP_DEVICE_OFF;
		bool in = o + len <= ops->config_size;

		if (is_write && in && ops->config_write)
			ops->config_write(vp->vdev, (uint32_t)o, data, len);
		else if (!is_write && in && ops->config_read)
			ops->config_read(vp->vdev, (uint32_t)o, data, len);
		else if (!is_write)
			memset(data, 0, len);
	} else if (off >= VP_NOTIFY_OFF && off < VP_NOTIFY_OFF + 0x1000) {
		if (is_write)
			vp_notify_write(vp, off - VP_NOTIFY_OFF, data, len);
		else
			memset(data, 0, len);
	} else if (off >= VP_MSIX_OFF && off < VP_PBA_OFF) {
		pci_msix_table_access(&vp->msix, off - VP_MSIX_OFF, data, len, is_write);
	} else if (off >= VP_PBA_OFF && off < VP_PBA_OFF + 0x1000) {
		pci_msix_pba_access(&vp->msix, off - VP_PBA_OFF, data, len, is_write);
	} else if (!is_write) {
		memset(data, 0, len);
	}
}

/* --- the PCI side --- */

/* Any access to a BAR, under vp->lock: off + len is inside it. */
static void vp_bar_dispatch(struct virtio_pci *vp, unsigned int bar, uint64_t off, uint8_t *data,
			    uint32_t len, bool is_write)
{
	if (bar == VP_BAR) {
		vp_bar_locked(vp, off, data, len, is_write);
	} else if (bar == VP_IO_BAR) {
		if (is_write)
			vp_notify_write(vp, off, data, len);
		else
			memset(data, 0, len);
	} else if (!is_write) {
		memset(data, 0xff, len);
	}
}

/* At the end of each vCPU-side access (lock held): MSI-X messages for the loop. */
static void vp_hand_over_msix(struct virtio_pci *vp)
{
	if (pci_msix_take_changed(&vp->msix) && vp->vdev->ops->irqs_changed)
		vp->irqs_req = true;
	if ((pci_msix_deferred(&vp->msix) || vp->irqs_req) && !vp->msix_req) {
		vp->msix_req = true;
		vp_signal(vp->ctl_fd);
	}
}

static void vp_bar_access(struct pci_dev *pdev, unsigned int bar, uint64_t off, uint8_t *data,
			  uint32_t len, bool is_write)
{
	struct virtio_pci *vp = container_of(pdev, struct virtio_pci, pci);

	pthread_mutex_lock(&vp->lock);
	vp_bar_dispatch(vp, bar, off, data, len, is_write);
	vp_hand_over_msix(vp);
	pthread_mutex_unlock(&vp->lock);
}

/* The notify registers moved: the loop moves KVM's doorbells (see the top of this file). */
static void vp_bar_moved(struct pci_dev *pdev, unsigned int bar, uint64_t addr)
{
	struct virtio_pci *vp = container_of(pdev, struct virtio_pci, pci);
	bool pio = bar == VP_IO_BAR;
	uint64_t *cur = pio ? &vp->notify_port : &vp->notify_addr;

	if (bar != VP_BAR && bar != VP_IO_BAR)
		return;
	pthread_mutex_lock(&vp->lock);
	*cur = addr == PCI_BAR_UNMAPPED ? PCI_BAR_UNMAPPED : pio ? addr : addr + VP_NOTIFY_OFF;
	vp_signal(vp->ctl_fd);
	pthread_mutex_unlock(&vp->lock);
}

/* The PCI configuration access capability: a window onto the BAR through config space. */
static bool vp_cfg_window(struct virtio_pci *vp, uint32_t *off, uint32_t *len)
{
	const uint8_t *c = vp->pci.cfg + vp->cfg_cap;

	*off = (uint32_t)c[VP_CAP_OFFSET] | (uint32_t)c[VP_CAP_OFFSET + 1] << 8 |
	       (uint32_t)c[VP_CAP_OFFSET + 2] << 16 | (uint32_t)c[VP_CAP_OFFSET + 3] << 24;
	*len = (uint32_t)c[VP_CAP_LENGTH] | (uint32_t)c[VP_CAP_LENGTH + 1] << 8 |
	       (uint32_t)c[VP_CAP_LENGTH + 2] << 16 | (uint32_t)c[VP_CAP_LENGTH + 3] << 24;
	return (*len == 1 || *len == 2 || *len == 4) && !(*off % *len) &&
	       c[VP_CAP_BAR] < PCI_NR_BARS && *off < vp->pci.bars[c[VP_CAP_BAR]].size;
}

static bool vp_touches_data(const struct virtio_pci *vp, uint32_t off, uint32_t len)
{
	uint32_t d = vp->cfg_cap + VP_CAP_DATA;

	return off < d + 4 && d < off + len;
}

static void vp_config_write(struct pci_dev *pdev, uint32_t off, uint32_t len)
{
	struct virtio_pci *vp = container_of(pdev, struct virtio_pci, pci);
	uint32_t woff, wlen;

	pthread_mutex_lock(&vp->lock);
	pci_msix_config_write(&vp->msix, off, len);
	if (vp_touches_data(vp, off, len) && vp_cfg_window(vp, &woff, &wlen))
		vp_bar_dispatch(vp, pdev->cfg[vp->cfg_cap + VP_CAP_BAR], woff,
				pdev->cfg + vp->cfg_cap + VP_CAP_DATA, wlen, true);
	vp_hand_over_msix(vp);
	pthread_mutex_unlock(&vp->lock);
}

static void vp_config_read(struct pci_dev *pdev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_pci *vp = container_of(pdev, struct virtio_pci, pci);
	uint8_t *window = pdev->cfg + vp->cfg_cap + VP_CAP_DATA;
	uint32_t woff, wlen;

	if (!vp_touches_data(vp, off, len) || !vp_cfg_window(vp, &woff, &wlen))
		return;
	pthread_mutex_lock(&vp->lock);
	vp_bar_dispatch(vp, pdev->cfg[vp->cfg_cap + VP_CAP_BAR], woff, window, wlen, false);
	pthread_mutex_unlock(&vp->lock);
	for (uint32_t i = 0; i < len; i++)
		if (off + i >= vp->cfg_cap + VP_CAP_DATA && off + i < vp->cfg_cap + VP_CAP_DATA + 4)
			data[i] = pdev->cfg[off + i];
}

static const struct pci_dev_ops vp_pci_ops = {
    .bar_access = vp_bar_access,
    .bar_moved = vp_bar_moved,
    .config_write = vp_config_write,
    .config_read = vp_config_read,
};

static int vp_add_cap(struct pci_dev *pdev, uint8_t type, uint8_t len, uint8_t bar, uint32_t off,
		      uint32_t length)
{
	int cap = pci_dev_add_cap(pdev, PCI_CAP_ID_VNDR, len);

	if (cap < 0)
		return cap;
	pdev->cfg[cap + 2] = len;
	pdev->cfg[cap + 3] = type;
	pdev->cfg[cap + VP_CAP_BAR] = bar;
	pci_cfg_set32(pdev->cfg + cap + VP_CAP_OFFSET, off);
	pci_cfg_set32(pdev->cfg + cap + VP_CAP_LENGTH, length);
	return cap;
}

static uint32_t vp_class(uint16_t device_id)
{
	switch (device_id) {
	case VIRTIO_ID_NET:
		return 0x020000; /* Ethernet */
	case VIRTIO_ID_BLOCK:
		return 0x018000; /* other mass storage */
	case VIRTIO_ID_CONSOLE:
		return 0x078000; /* other communication */
	default:
		return 0xff0000; /* unassigned */
	}
}

static int vp_setup_pci(struct virtio_pci *vp, const struct irq_chip *irq)
{
	struct virtio_dev *vdev = vp->vdev;
	struct pci_dev *pdev = &vp->pci;
	uint16_t id = (uint16_t)(VP_DEVICE_BASE + vdev->ops->device_id);
	int ret, cap;

	pci_dev_init(pdev, &vp_pci_ops, VP_VENDOR, id, VP_REVISION, vp_class(vdev->ops->device_id),
		     VP_VENDOR, id);
	ret = pci_dev_add_bar(pdev, VP_BAR, PCI_BAR_MEM64, VP_BAR_SIZE);
	if (ret)
		return ret;
	ret = pci_msix_init(&vp->msix, pdev, irq, (uint16_t)(vdev->nr_queues + 1), VP_BAR,
			    VP_MSIX_OFF, VP_PBA_OFF);
	if (ret)
		return ret;
	ret = pci_dev_add_bar(pdev, VP_IO_BAR, PCI_BAR_IO, VP_IO_BAR_SIZE);
	if (ret)
		return ret;
	if (vp_add_cap(pdev, VP_CAP_COMMON, VP_CAP_LEN, VP_BAR, VP_COMMON_OFF, VP_COMMON_LEN) < 0 ||
	    vp_add_cap(pdev, VP_CAP_ISR, VP_CAP_LEN, VP_BAR, VP_ISR_OFF, 1) < 0 ||
	    (vdev->ops->config_size && vp_add_cap(pdev, VP_CAP_DEVICE, VP_CAP_LEN, VP_BAR,
						  VP_DEVICE_OFF, vdev->ops->config_size) < 0))
		return -ENOSPC;
	/* The port one first: see the top of this file. notify_off_multiplier stays 0. */
	if (vp_add_cap(pdev, VP_CAP_NOTIFY, VP_CAP_NOTIFY_LEN, VP_IO_BAR, 0, VP_NOTIFY_LEN) < 0 ||
	    vp_add_cap(pdev, VP_CAP_NOTIFY, VP_CAP_NOTIFY_LEN, VP_BAR, VP_NOTIFY_OFF,
		       VP_NOTIFY_LEN) < 0)
		return -ENOSPC;
	cap = vp_add_cap(pdev, VP_CAP_PCI_CFG, VP_CAP_PCI_CFG_LEN, 0, 0, 0);
	if (cap < 0)
		return cap;
	vp->cfg_cap = (unsigned int)cap;
	pdev->wmask[cap + VP_CAP_BAR] = 0xff;
	memset(pdev->wmask + cap + VP_CAP_OFFSET, 0xff, 12); /* offset, length, data */
	return 0;
}

static void vp_destroy(struct device *dev)
{
	struct virtio_pci *vp = container_of(dev, struct virtio_pci, dev);
	struct virtio_dev *vdev = vp->vdev;

	vp_loop_doorbells(vp, false, PCI_BAR_UNMAPPED);
	vp_loop_doorbells(vp, true, PCI_BAR_UNMAPPED);
	for (uint16_t q = 0; vp->kicks && q < vdev->nr_queues; q++) {
		if (vp->kicks[q].fd < 0)
			continue;
		if (!vdev->ops->external_queues)
			ev_del(vdev->loop, vp->kicks[q].fd);
		close(vp->kicks[q].fd);
	}
	if (vp->ctl_fd >= 0) {
		ev_del(vdev->loop, vp->ctl_fd);
		close(vp->ctl_fd);
	}
	if (vdev->vqs)
		vp_loop_stop_device(vp);
	pci_msix_cleanup(&vp->msix);
	free(vdev->vqs);
	vdev->vqs = NULL;
	if (vdev->ops->destroy)
		vdev->ops->destroy(vdev);
	free(vp->kicks);
	free(vp->queues);
	pthread_mutex_destroy(&vp->lock);
	free(vp);
}

int virtio_pci_create(struct device **list, struct pci_host *host, const struct irq_chip *irq,
		      struct virtio_dev *vdev)
{
	uint16_t n = vdev->nr_queues, qmax = vdev->queue_max;
	struct virtio_pci *vp;
	int ret;

	if (!n || n > VP_MAX_QUEUES || !qmax || qmax > VQ_MAX_SIZE || (qmax & (qmax - 1)) ||
	    vdev->ops->config_size > VP_DEVICE_MAX) {
		ret = -EINVAL;
		goto err_vdev;
	}
	vp = calloc(1, sizeof(*vp));
	if (!vp) {
		ret = -ENOMEM;
		goto err_vdev;
	}
	vp->dev.name = vdev->ops->name;
	vp->dev.destroy = vp_destroy;
	vp->vdev = vdev;
	vp->irq = irq;
	vp->ctl_fd = -1;
	vp->notify_addr = vp->kvm_notify_addr = PCI_BAR_UNMAPPED;
	vp->notify_port = vp->kvm_notify_port = PCI_BAR_UNMAPPED;
	ret = -pthread_mutex_init(&vp->lock, NULL);
	if (ret) {
		free(vp);
		goto err_vdev;
	}
	vdev->host_features |= VIRTIO_BIT(VIRTIO_F_VERSION_1);
	vdev->transport = &vp_transport_ops;
	vdev->transport_data = vp;
	vdev->active = false;
	/* From here on vp_destroy() undoes whatever was done. */
	vp->dev.next = *list;
	*list = &vp->dev;
	vdev->vqs = calloc(n, sizeof(*vdev->vqs));
	vp->queues = calloc(n, sizeof(*vp->queues));
	vp->kicks = calloc(n, sizeof(*vp->kicks));
	if (!vdev->vqs || !vp->queues || !vp->kicks)
		return -ENOMEM;
	for (uint16_t q = 0; q < n; q++)
		vp->kicks[q] = (struct vp_kick){.vp = vp, .q = q, .fd = -1};
	vp_reset_regs(vp);
	vp->ctl_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vp->ctl_fd < 0)
		return -errno;
	ret = ev_add(vdev->loop, vp->ctl_fd, EPOLLIN, vp_ctl, vp);
	if (ret) {
		close(vp->ctl_fd);
		vp->ctl_fd = -1;
		return ret;
	}
	for (uint16_t q = 0; q < n; q++) {
		int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

		if (fd < 0)
			return -errno;
		/* With external_queues the device's backend waits on the doorbell, not the loop. */
		ret = vdev->ops->external_queues
			  ? 0
			  : ev_add(vdev->loop, fd, EPOLLIN | EPOLLET, vp_kick, &vp->kicks[q]);
		if (ret) {
			close(fd);
			return ret;
		}
		vp->kicks[q].fd = fd;
	}
	ret = vp_setup_pci(vp, irq);
	if (ret)
		return ret;
	return pci_host_add_device(host, &vp->pci);

err_vdev:
	if (vdev->ops->destroy)
		vdev->ops->destroy(vdev);
	return ret;
}
