/* SPDX-License-Identifier: Apache-2.0 */
/* The virtio-pci transport (modern, virtio 1.x section 4.1). */
#ifndef KVMRUN_VIRTIO_PCI_H
#define KVMRUN_VIRTIO_PCI_H

#include "device.h"
#include "kvmrun/compiler.h"
#include "kvmrun/irq.h"
#include "kvmrun/virtio.h"
#include "pci.h"

/*
 * Put @vdev (filled by its device: ops, host_features, nr_queues <= 255, queue_max,
 * loop, gm) on the PCI bus behind @host as device 1af4:(1040 + device_id), with its
 * registers and MSI-X in one 64-bit memory BAR. Interrupts and doorbells go through
 * @irq. The transport owns @vdev from this call on, even when it fails: it is
 * destroyed (ops->destroy) with the list, or before an error return. 0 or -errno.
 */
int virtio_pci_create(struct device **list, struct pci_host *host, const struct irq_chip *irq,
		      struct virtio_dev *vdev) WARN_UNUSED;

#endif
