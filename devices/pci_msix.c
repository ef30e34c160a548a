// SPDX-License-Identifier: Apache-2.0
/*
 * MSI-X (PCI local bus 3.0, section 6.8.2): the capability's message control (enable,
 * function mask), a table of (address, data, vector control) per vector, and the
 * pending bit array. A vector raised while it or the function is masked sets its
 * pending bit; unmasking delivers it and clears the bit. A vector's route is updated
 * lazily, when it is next unmasked or raised with a new message.
 *
 * Routes change on the event loop only: a vCPU thread's seccomp filter has no
 * KVM_SET_GSI_ROUTING. When a register write on a vCPU thread makes a vector
 * deliverable (unmask, enable, function mask cleared) but its message has changed
 * since it was last routed, the message stays pending (its PBA bit set, as for a
 * device that has not sent it yet) and the owner hands the device to the loop
 * (pci_msix_deferred), which routes and sends it (pci_msix_run_deferred). The loop
 * also does that before it sends any other vector of the device (pci_msix_raise), so
 * a deferred message is never overtaken by a later one of the same device, and the
 * first message after a table change always goes out on the new route. A vCPU never
 * waits for the loop. Once anything is deferred, vCPU-side deliveries of routed
 * vectors go to the loop as well, in vector order (the order the PBA gives pending
 * vectors no order either).
 *
 * An owner may also hand a deliverable vector's eventfd to another process
 * (pci_msix_direct_fd); any change of a mask, an enable bit or a message is then
 * reported (pci_msix_take_changed) for its loop to take the eventfd back.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pci_msix.h"

#define PCI_CAP_ID_MSIX 0x11
#define PCI_MSIX_CTRL_HI 3 /* byte of message control holding enable and mask */
#define PCI_MSIX_ENABLE 0x80
#define PCI_MSIX_FMASK 0x40
#define PCI_MSIX_VEC_MASKED 1

int pci_msix_init(struct pci_msix *m, struct pci_dev *pdev, const struct irq_chip *irq, uint16_t nr,
		  unsigned int bar, uint32_t table_off, uint32_t pba_off)
{
	int cap, ret;
	uint16_t i;

	memset(m, 0, sizeof(*m));
	if (!nr || nr > PCI_MSIX_MAX_VECTORS || bar >= PCI_NR_BARS || (table_off & 7) ||
	    (pba_off & 7))
		return -EINVAL;
	m->irq = irq;
	m->pdev = pdev;
	m->nr = nr;
	m->table = calloc(nr, sizeof(*m->table));
	m->pba = calloc(pci_msix_pba_size(nr) / 8, sizeof(*m->pba));
	m->msi = calloc(nr, sizeof(*m->msi));
	m->stale = calloc(nr, sizeof(*m->stale));
	if (!m->table || !m->pba || !m->msi || !m->stale) {
		ret = -ENOMEM;
		goto err;
	}
	for (i = 0; i < nr; i++) {
		m->table[i].ctrl = PCI_MSIX_VEC_MASKED;
		m->stale[i] = true;
		ret = irq->ops->msi_create(irq->opaque, &m->msi[i]);
		if (ret)
			goto err;
	}
	cap = pci_dev_add_cap(pdev, PCI_CAP_ID_MSIX, PCI_MSIX_CAP_LEN);
	if (cap < 0) {
		ret = cap;
		goto err;
	}
	m->cap = (unsigned int)cap;
	pci_cfg_set16(pdev->cfg + cap + 2, (uint16_t)(nr - 1));
	pdev->wmask[cap + PCI_MSIX_CTRL_HI] = PCI_MSIX_ENABLE | PCI_MSIX_FMASK;
	pci_cfg_set32(pdev->cfg + cap + 4, table_off | bar);
	pci_cfg_set32(pdev->cfg + cap + 8, pba_off | bar);
	return 0;

err:
	pci_msix_cleanup(m);
	return ret;
}

void pci_msix_cleanup(struct pci_msix *m)
{
	for (uint16_t i = 0; m->msi && i < m->nr; i++)
		if (m->msi[i])
			m->irq->ops->msi_destroy(m->irq->opaque, m->msi[i]);
	free(m->msi);
	free(m->stale);
	free(m->table);
	free(m->pba);
	memset(m, 0, sizeof(*m));
}

static bool pci_msix_masked(const struct pci_msix *m, uint16_t vec)
{
	return !m->enabled || m->fmask || (m->table[vec].ctrl & PCI_MSIX_VEC_MASKED);
}

/* The device's requester ID on bus 0: device << 3, function 0. */
static uint32_t pci_msix_devid(const struct pci_msix *m)
{
	return m->pdev->slot << 3;
}

/* Send vec's message now; @loop: on the event loop, which may change routes. */
static void pci_msix_fire(struct pci_msix *m, uint16_t vec, bool loop)
{
	const struct pci_msix_entry *e = &m->table[vec];

	if (!loop && (m->stale[vec] || m->deferred)) {
		/* Held pending for the loop: see the top of this file. */
		m->pba[vec / 64] |= 1ULL << (vec % 64);
		m->deferred = true;
		return;
	}
	if (m->stale[vec]) {
		uint64_t addr = (uint64_t)e->addr_hi << 32 | e->addr_lo;

		if (m->irq->ops->msi_update(m->irq->opaque, m->msi[vec], addr, e->data,
					       pci_msix_devid(m)))
			return; /* no route: the interrupt is lost, as on a broken bus */
		m->stale[vec] = false;
	}
	m->irq->ops->msi_fire(m->irq->opaque, m->msi[vec]);
}

/* Deliver vec's pending interrupt if it is no longer masked. */
static void pci_msix_sync(struct pci_msix *m, uint16_t vec, bool loop)
{
	uint64_t bit = 1ULL << (vec % 64);

	if (pci_msix_masked(m, vec) || !(m->pba[vec / 64] & bit))
		return;
	m->pba[vec / 64] &= ~bit;
	pci_msix_fire(m, vec, loop);
}

int pci_msix_direct_fd(struct pci_msix *m, uint16_t vec)
{
	const struct pci_msix_entry *e;

	if (vec >= m->nr || !m->irq->ops->msi_fd || pci_msix_masked(m, vec))
		return -1;
	e = &m->table[vec];
	if (m->stale[vec]) {
		uint64_t addr = (uint64_t)e->addr_hi << 32 | e->addr_lo;

		if (m->irq->ops->msi_update(m->irq->opaque, m->msi[vec], addr, e->data,
					       pci_msix_devid(m)))
			return -1;
		m->stale[vec] = false;
	}
	return m->irq->ops->msi_fd(m->irq->opaque, m->msi[vec]);
}

void pci_msix_run_deferred(struct pci_msix *m)
{
	if (!m->deferred)
		return;
	m->deferred = false;
	/* A vector masked again meanwhile stays pending, as the PBA says. */
	for (uint16_t i = 0; i < m->nr; i++)
		pci_msix_sync(m, i, true);
}

static void pci_msix_raise_on(struct pci_msix *m, uint16_t vec, bool loop)
{
	uint64_t bit = 1ULL << (vec % 64);

	if (vec >= m->nr)
		return;
	if (loop)
		pci_msix_run_deferred(m);
	if (pci_msix_masked(m, vec)) {
		m->pba[vec / 64] |= bit;
		return;
	}
	m->pba[vec / 64] &= ~bit; /* one message for both */
	pci_msix_fire(m, vec, loop);
}

void pci_msix_raise(struct pci_msix *m, uint16_t vec)
{
	pci_msix_raise_on(m, vec, true);
}

void pci_msix_raise_vcpu(struct pci_msix *m, uint16_t vec)
{
	pci_msix_raise_on(m, vec, false);
}

static uint8_t pci_msix_table_byte(const struct pci_msix *m, uint64_t off)
{
	const struct pci_msix_entry *e;
	uint32_t word;

	if (off >= pci_msix_table_size(m->nr))
		return 0;
	e = &m->table[off / PCI_MSIX_ENTRY_SIZE];
	switch (off % PCI_MSIX_ENTRY_SIZE / 4) {
	case 0:
		word = e->addr_lo;
		break;
	case 1:
		word = e->addr_hi;
		break;
	case 2:
		word = e->data;
		break;
	default:
		word = e->ctrl;
		break;
	}
	return (uint8_t)(word >> (8 * (off % 4)));
}

/* One aligned dword write into the table. */
static void pci_msix_table_write32(struct pci_msix *m, uint64_t off, uint32_t v)
{
	uint16_t vec = (uint16_t)(off / PCI_MSIX_ENTRY_SIZE);
	struct pci_msix_entry *e;
	bool stale;

	if (off >= pci_msix_table_size(m->nr))
		return;
	e = &m->table[vec];
	stale = m->stale[vec];
	switch (off % PCI_MSIX_ENTRY_SIZE / 4) {
	case 0:
		m->stale[vec] |= e->addr_lo != (v & ~3U);
		e->addr_lo = v & ~3U; /* dword aligned */
		break;
	case 1:
		m->stale[vec] |= e->addr_hi != v;
		e->addr_hi = v;
		break;
	case 2:
		m->stale[vec] |= e->data != v;
		e->data = v;
		break;
	default:
		m->changed |= e->ctrl != (v & PCI_MSIX_VEC_MASKED);
		e->ctrl = v & PCI_MSIX_VEC_MASKED;
		break;
	}
	m->changed |= m->stale[vec] != stale;
	pci_msix_sync(m, vec, false);
}

void pci_msix_table_access(struct pci_msix *m, uint64_t off, uint8_t *data, uint32_t len,
			   bool is_write)
{
	if (!is_write) {
		for (uint32_t i = 0; i < len; i++)
			data[i] = off + i < off ? 0 : pci_msix_table_byte(m, off + i);
		return;
	}
	/* The table takes aligned dword and qword writes only. */
	if ((len != 4 && len != 8) || off % len)
		return;
	for (uint32_t i = 0; i < len; i += 4) {
		uint32_t v = (uint32_t)data[i] | (uint32_t)data[i + 1] << 8 |
			     (uint32_t)data[i + 2] << 16 | (uint32_t)data[i + 3] << 24;

		pci_msix_table_write32(m, off + i, v);
	}
}

void pci_msix_pba_access(struct pci_msix *m, uint64_t off, uint8_t *data, uint32_t len,
			 bool is_write)
{
	if (is_write)
		return; /* read-only */
	for (uint32_t i = 0; i < len; i++) {
		uint64_t o = off + i;

		data[i] = o < off || o >= pci_msix_pba_size(m->nr)
			      ? 0
			      : (uint8_t)(m->pba[o / 8] >> (8 * (o % 8)));
	}
}

void pci_msix_config_write(struct pci_msix *m, uint32_t off, uint32_t len)
{
	uint8_t ctrl;

	if (!m->nr || off > m->cap + PCI_MSIX_CTRL_HI || off + len <= m->cap + PCI_MSIX_CTRL_HI)
		return;
	ctrl = m->pdev->cfg[m->cap + PCI_MSIX_CTRL_HI];
	m->changed |=
	    m->enabled != !!(ctrl & PCI_MSIX_ENABLE) || m->fmask != !!(ctrl & PCI_MSIX_FMASK);
	m->enabled = ctrl & PCI_MSIX_ENABLE;
	m->fmask = ctrl & PCI_MSIX_FMASK;
	for (uint16_t i = 0; i < m->nr; i++)
		pci_msix_sync(m, i, false);
}
