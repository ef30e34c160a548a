/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_IRQ_H
#define KVMRUN_IRQ_H

#include <stdbool.h>
#include <stdint.h>
#include "kvmrun/compiler.h"

/*
 * An interrupt line as a device sees it: a GSI of the in-kernel IOAPIC and a
 * way to set its level. Unit tests plug in their own set_level.
 */
struct irq_line {
	int (*set_level)(void *opaque, uint32_t gsi, bool level);
	void *opaque;
	uint32_t gsi;
};

static inline int irq_line_set(const struct irq_line *line, bool level)
{
	return line->set_level(line->opaque, line->gsi, level);
}

/* A line routed through KVM_IRQ_LINE on vm_fd. */
void irq_line_init_kvm(struct irq_line *line, int *vm_fd, uint32_t gsi);

/*
 * Message-signalled interrupts and doorbells as devices see them. Devices never
 * call KVM: they get a struct irq_chip, whose ops the VM backs with GSI routing,
 * irqfds and ioeventfds (irq_kvm_create) and unit tests with a fake.
 *
 * An MSI vector is an opaque handle: its message (address, data) is set with
 * msi_update, and msi_fire delivers it. The KVM backend serialises routing
 * updates itself, but only msi_fire may be called on a vCPU thread: msi_update and
 * ioeventfd are ioctls that a vCPU thread's seccomp filter refuses, so devices
 * hand such changes to the event loop (virtio_pci.c and pci_msix.c show how).
 */
struct irq_msi;

struct irq_chip_ops {
	/* A new vector with no message yet (firing it does nothing until msi_update). */
	int (*msi_create)(void *opaque, struct irq_msi **out) WARN_UNUSED;
	/*
	 * Route the vector to (addr, data), sent by PCI requester @devid (bus << 8 |
	 * device << 3 | function: what an ITS tells devices apart by).
	 */
	int (*msi_update)(void *opaque, struct irq_msi *msi, uint64_t addr, uint32_t data,
			  uint32_t devid);
	/* Deliver the vector once; cheap (one eventfd write). */
	void (*msi_fire)(void *opaque, struct irq_msi *msi);
	void (*msi_destroy)(void *opaque, struct irq_msi *msi);
	/*
	 * Optional (NULL: none): an eventfd that delivers the vector's current route each
	 * time anything writes it, as msi_fire does, for handing to another process (a
	 * vhost-user backend). Owned by the chip, valid until msi_destroy; -1 when none.
	 */
	int (*msi_fd)(void *opaque, struct irq_msi *msi);
	/*
	 * Have guest writes of len bytes to MMIO address addr, or to port addr when
	 * pio, (with data equal to datamatch, little endian) signal eventfd fd
	 * instead of exiting (assign), or stop that (!assign). Other writes still
	 * reach the MMIO or port bus.
	 */
	int (*ioeventfd)(void *opaque, int fd, bool pio, uint64_t addr, uint32_t len,
			 uint64_t datamatch, bool assign);
};

struct irq_chip {
	const struct irq_chip_ops *ops;
	void *opaque;
};

struct irq_kvm;

/* The first GSI of MSI routes: 0-23 stay the IOAPIC (and PIC) pins. */
#define IRQ_KVM_FIRST_MSI_GSI 24
#define IRQ_KVM_MAX_ROUTES 1024

/*
 * The KVM backend on vm_fd (which must outlive it): owns KVM_SET_GSI_ROUTING
 * (the default IOAPIC/PIC pin routes plus one MSI route per vector), one
 * eventfd + KVM_IRQFD per vector, and KVM_IOEVENTFD. Fills *chip.
 */
int irq_kvm_create(struct irq_kvm **out, int vm_fd, struct irq_chip *chip) WARN_UNUSED;
/*
 * The same with the routing table's shape chosen by @flags: IRQ_KVM_PC_PINS keeps GSIs
 * 0-23 on the IOAPIC and PIC pins (what irq_kvm_create does); IRQ_KVM_MSI_DEVID gives
 * each MSI route its device ID (an arm64 GICv3 ITS).
 */
#define IRQ_KVM_PC_PINS 0x1U
#define IRQ_KVM_MSI_DEVID 0x2U
int irq_kvm_create_flags(struct irq_kvm **out, int vm_fd, unsigned int flags,
			 struct irq_chip *chip) WARN_UNUSED;
/*
 * Ports live in memory space from @base (arm64's PCI I/O window): doorbells asked for
 * at port P are set at address base + P. Before any ioeventfd.
 */
void irq_kvm_set_pio_mmio(struct irq_kvm *k, uint64_t base);

/*
 * Messages to @doorbell are SPIs of an in-kernel arm64 GIC (a GICv2m frame, which KVM
 * does not emulate): their data, an interrupt ID from @first to @first + @count - 1,
 * becomes a route to that pin (interrupt ID - IRQ_KVM_GIC_SPI_BASE); any other data no
 * route at all. Before any MSI route.
 */
#define IRQ_KVM_GIC_SPI_BASE 32
void irq_kvm_set_msi_spi(struct irq_kvm *k, uint64_t doorbell, uint32_t first, uint32_t count);
void irq_kvm_destroy(struct irq_kvm *k);

#endif
