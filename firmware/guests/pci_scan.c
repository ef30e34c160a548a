// SPDX-License-Identifier: Apache-2.0
/* pci-scan: lists bus 0 and checks the host bridge 1b36:0008 is at 00.0. */
#include "fw.h"

int fw_main(const struct fw_start_info *si)
{
	unsigned int found = 0;
	uint32_t id;

	(void)si;
	for (unsigned int dev = 0; dev < 32; dev++) {
		unsigned int nfn = 1;

		for (unsigned int fn = 0; fn < nfn; fn++) {
			id = pci_read32(0, dev, fn, 0);
			if ((id & 0xffff) == 0xffff)
				continue;
			if (fn == 0 && (pci_read8(0, dev, 0, 0x0e) & 0x80))
				nfn = 8;
			fw_printf("pci 00:%02x.%u %04x:%04x class %06x\n", dev, fn, id & 0xffff,
				  id >> 16, pci_read32(0, dev, fn, 8) >> 8);
			found++;
		}
	}
	/* An address with the enable bit clear reads nothing. */
	outl(FW_PORT_PCI_ADDR, 0);
	id = pci_read32(0, 0, 0, 0);
	FW_CHECK(id == 0x00081b36, "00.0 is %08x, not the host bridge 1b36:0008", id);
	FW_CHECK((pci_read32(0, 0, 0, 8) >> 8) == 0x060000, "00.0 is not a host bridge (class)");
	FW_CHECK(pci_read16(0, 0, 0, 0) == 0x1b36 && pci_read16(0, 0, 0, 2) == 0x0008,
		 "16-bit reads disagree with the 32-bit one");
	FW_CHECK(pci_read8(0, 0, 0, 1) == 0x1b, "8-bit read at offset 1");
	/* Nothing answers on bus 1 or past the last device. */
	FW_CHECK(pci_read32(1, 0, 0, 0) == 0xffffffff, "bus 1 answers");
	fw_printf("pci-scan: %u functions, host bridge ok\n", found);
	return 0;
}
