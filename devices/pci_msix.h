/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MSI-X for a PCI device of pci_host.c: the capability, the vector table and the
 * pending bit array (both in one of the device's BARs), delivered through struct
 * irq_chip. Every function is called with the device's own lock held: the table
 * is written from vCPU threads, vectors are raised from the event loop. Routes
 * change on the loop only (pci_msix.c says how vCPU-side writes hand over).
 */
#ifndef KVMRUN_PCI_MSIX_H
#define KVMRUN_PCI_MSIX_H

#include <stdbool.h>
#include <stdint.h>

#include "pci.h"
#include "kvmrun/irq.h"

#define PCI_MSIX_ENTRY_SIZE 16
#define PCI_MSIX_MAX_VECTORS 2048
#define PCI_MSIX_CAP_LEN 12

struct pci_msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl; /* ctrl bit 0: masked */
};

struct pci_msix {
	const struct irq_chip *irq;
	struct pci_dev *pdev;
	unsigned int cap; /* offset of the capability in config space */
	uint16_t nr;
	bool enabled, fmask; /* copies of the message control bits */
	struct pci_msix_entry *table;
	uint64_t *pba;
	struct irq_msi **msi;
	bool *stale;   /* the entry's message differs from its route */
	bool deferred; /* pending messages wait for the loop (pci_msix_run_deferred) */
	bool changed;  /* a mask, an enable bit or a message changed (pci_msix_take_changed) */
};

/*
 * Add the capability to @pdev (before pci_host_add_device) with @nr vectors, the table
 * at @table_off and the PBA at @pba_off of BAR @bar (both 8-byte aligned; the device
 * routes those ranges to the access functions below). All vectors start masked.
 */
int pci_msix_init(struct pci_msix *m, struct pci_dev *pdev, const struct irq_chip *irq, uint16_t nr,
		  unsigned int bar, uint32_t table_off, uint32_t pba_off) WARN_UNUSED;
void pci_msix_cleanup(struct pci_msix *m);

/* Bytes of the table and of the PBA in the BAR. */
static inline uint32_t pci_msix_table_size(uint16_t nr)
{
	return (uint32_t)nr * PCI_MSIX_ENTRY_SIZE;
}

static inline uint32_t pci_msix_pba_size(uint16_t nr)
{
	return ((nr + 63U) / 64U) * 8U;
}

/* Accesses at @off into the table / the PBA (any width; out-of-range bytes read 0). */
void pci_msix_table_access(struct pci_msix *m, uint64_t off, uint8_t *data, uint32_t len,
			   bool is_write);
void pci_msix_pba_access(struct pci_msix *m, uint64_t off, uint8_t *data, uint32_t len,
			 bool is_write);
/* The guest wrote config bytes [off, off + len) of the device. */
void pci_msix_config_write(struct pci_msix *m, uint32_t off, uint32_t len);

static inline bool pci_msix_enabled(const struct pci_msix *m)
{
	return m->enabled;
}

/*
 * Event loop: deliver vector @vec, or set its pending bit while it (or the function) is
 * masked. Sends what pci_msix_run_deferred would first.
 */
void pci_msix_raise(struct pci_msix *m, uint16_t vec);
/*
 * The same from a vCPU thread (a register write that breaks the device): a vector whose
 * message changed since its last route is left pending for the loop instead.
 */
void pci_msix_raise_vcpu(struct pci_msix *m, uint16_t vec);

/*
 * After any of the vCPU-side calls above (table, config, raise_vcpu): true when messages
 * wait for the loop; the owner then wakes its loop handler, which calls
 * pci_msix_run_deferred (lock held) to route and send them.
 */
static inline bool pci_msix_deferred(const struct pci_msix *m)
{
	return m->deferred;
}

void pci_msix_run_deferred(struct pci_msix *m);

/*
 * After the vCPU-side calls above: true once since a vector's mask or message, or
 * the function's enable or mask bit, changed (clears it). An owner that handed a
 * vector's eventfd on (pci_msix_direct_fd) has its loop look again.
 */
static inline bool pci_msix_take_changed(struct pci_msix *m)
{
	bool c = m->changed;

	m->changed = false;
	return c;
}

/*
 * Event loop (lock held): an eventfd that raises @vec itself when written, for another
 * process, while the vector is deliverable (MSI-X on, neither the function nor the
 * vector masked), its route updated first; -1 otherwise or when the irq_chip has none.
 * A masked vector must not be signalled that way: its owner switches back to raising it
 * here (pci_msix_raise) when pci_msix_take_changed says so.
 */
int pci_msix_direct_fd(struct pci_msix *m, uint16_t vec);

#endif
