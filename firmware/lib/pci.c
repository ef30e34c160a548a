// SPDX-License-Identifier: Apache-2.0
/* PCI configuration mechanism #1: address at 0xcf8, data at 0xcfc-0xcff. */
#include "fw.h"

static void pci_select(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off)
{
	outl(FW_PORT_PCI_ADDR, 0x80000000u | (bus & 0xff) << 16 | (dev & 0x1f) << 11 |
				       (fn & 7) << 8 | (off & 0xfc));
}

uint32_t pci_read32(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off)
{
	pci_select(bus, dev, fn, off);
	return inl(FW_PORT_PCI_DATA);
}

uint16_t pci_read16(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off)
{
	pci_select(bus, dev, fn, off);
	return inw((uint16_t)(FW_PORT_PCI_DATA + (off & 2)));
}

uint8_t pci_read8(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off)
{
	pci_select(bus, dev, fn, off);
	return inb((uint16_t)(FW_PORT_PCI_DATA + (off & 3)));
}

void pci_write32(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off,
		 uint32_t v)
{
	pci_select(bus, dev, fn, off);
	outl(FW_PORT_PCI_DATA, v);
}

void pci_write16(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off,
		 uint16_t v)
{
	pci_select(bus, dev, fn, off);
	outw((uint16_t)(FW_PORT_PCI_DATA + (off & 2)), v);
}

void pci_write8(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off,
		uint8_t v)
{
	pci_select(bus, dev, fn, off);
	outb((uint16_t)(FW_PORT_PCI_DATA + (off & 3)), v);
}
