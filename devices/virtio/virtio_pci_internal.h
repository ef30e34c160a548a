/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the virtio-pci transport: its state, the layout of its BAR, and the
 * functions that virtio_pci.c (PCI side, event loop) and virtio_pci_common.c (the
 * common configuration registers) share.
 */
#ifndef KVMRUN_DEVICES_VIRTIO_PCI_INTERNAL_H
#define KVMRUN_DEVICES_VIRTIO_PCI_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "kvmrun/log.h"
#include "kvmrun/virtio.h"
#include "pci_msix.h"
#include "virtio/virtio_pci.h"

#define VP_VENDOR 0x1af4
#define VP_DEVICE_BASE 0x1040
#define VP_REVISION 1
#define VP_BAR 0
#define VP_BAR_SIZE 0x8000ULL
#define VP_COMMON_OFF 0x0000
#define VP_COMMON_LEN 0x40
#define VP_ISR_OFF 0x1000
#define VP_DEVICE_OFF 0x2000
#define VP_DEVICE_MAX 0x1000
#define VP_NOTIFY_OFF 0x3000
#define VP_NOTIFY_LEN 2
#define VP_IO_BAR 2 /* the notification region in port space, at offset 0 */
#define VP_IO_BAR_SIZE 4
#define VP_MSIX_OFF 0x4000
#define VP_PBA_OFF 0x5000
#define VP_MAX_QUEUES 255
#define VP_NO_VECTOR 0xffff

/* Capability layout (section 4.1.4). */
#define PCI_CAP_ID_VNDR 0x09
#define VP_CAP_COMMON 1
#define VP_CAP_NOTIFY 2
#define VP_CAP_ISR 3
#define VP_CAP_DEVICE 4
#define VP_CAP_PCI_CFG 5
#define VP_CAP_LEN 16
#define VP_CAP_NOTIFY_LEN 20
#define VP_CAP_PCI_CFG_LEN 20
#define VP_CAP_BAR 4
#define VP_CAP_OFFSET 8
#define VP_CAP_LENGTH 12
#define VP_CAP_DATA 16

/* Common configuration (section 4.1.4.3). */
#define VP_DFSELECT 0x00
#define VP_DF 0x04
#define VP_GFSELECT 0x08
#define VP_GF 0x0c
#define VP_MSIX_CONFIG 0x10
#define VP_NUM_QUEUES 0x12
#define VP_STATUS 0x14
#define VP_CFG_GENERATION 0x15
#define VP_Q_SELECT 0x16
#define VP_Q_SIZE 0x18
#define VP_Q_MSIX 0x1a
#define VP_Q_ENABLE 0x1c
#define VP_Q_NOTIFY_OFF 0x1e
#define VP_Q_DESC 0x20
#define VP_Q_DRIVER 0x28
#define VP_Q_DEVICE 0x30

#define VP_ISR_QUEUE 1
#define VP_ISR_CONFIG 2

struct vp_queue {
	uint16_t size, vector;
	bool enabled;
	uint64_t desc, driver, device;
};

struct vp_kick {
	struct virtio_pci *vp;
	uint16_t q;
	int fd;
};

struct virtio_pci {
	struct device dev;
	struct pci_dev pci;
	struct virtio_dev *vdev;
	const struct irq_chip *irq;
	pthread_mutex_t lock;
	struct pci_msix msix;
	unsigned int cfg_cap; /* the PCI configuration access capability */

	/* Registers (under lock). */
	uint32_t dfselect, gfselect;
	uint64_t driver_features;
	uint16_t config_vector;
	uint8_t status, generation, isr;
	uint16_t queue_sel;
	struct vp_queue *queues;

	/* Handover to the loop (under lock). */
	int ctl_fd;
	bool activate_req, reset_req;
	bool loop_owned;      /* the loop may hold queue or device state: reset goes there */
	bool msix_req;	      /* MSI-X messages wait for the loop (pci_msix_deferred) */
	bool irqs_req;	      /* masks changed: the device's irqs_changed runs on the loop */
	uint64_t notify_addr; /* where the memory notify register decodes, or PCI_BAR_UNMAPPED */
	uint64_t notify_port; /* the port one, or PCI_BAR_UNMAPPED */

	struct vp_kick *kicks;
	/* Where KVM has the doorbells (the loop's, and teardown's). */
	uint64_t kvm_notify_addr, kvm_notify_port;
	struct log_ratelimit rl;      /* register-side guest errors (vCPU threads, under lock) */
	struct log_ratelimit loop_rl; /* the loop's doorbell updates */
};

/* Wakes the reader of an eventfd (a doorbell, or ctl_fd for the loop). */
void vp_signal(int fd);
/* Registers back to their first state (lock held). */
void vp_reset_regs(struct virtio_pci *vp);
/* Sets NEEDS_RESET and raises a config interrupt; @loop: on the event loop. */
void vp_mark_needs_reset(struct virtio_pci *vp, bool loop);

/* The common configuration region (lock held, vCPU threads). */
void vp_common_read(struct virtio_pci *vp, uint64_t off, uint8_t *data, uint32_t len);
void vp_common_write(struct virtio_pci *vp, uint64_t off, const uint8_t *data, uint32_t len);

#endif
