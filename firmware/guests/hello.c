// SPDX-License-Identifier: Apache-2.0
/*
 * hello: prints a line and exits with the status given as status=N on the
 * command line (default 0). Also checks the PVH start info it was given.
 */
#include "fw.h"

int fw_main(const struct fw_start_info *si)
{
	const struct fw_memmap_entry *map = (const void *)(uintptr_t)si->memmap_paddr;
	uint64_t ram = 0;
	int status = (int)fw_cmdline_num(si, "status", 0);

	FW_CHECK(si->version >= 1, "start info version %u", si->version);
	FW_CHECK(si->memmap_paddr && si->memmap_entries, "no memory map");
	FW_CHECK(si->rsdp_paddr, "no RSDP");
	FW_CHECK(!memcmp((const void *)(uintptr_t)si->rsdp_paddr, "RSD PTR ", 8), "bad RSDP");
	for (uint32_t i = 0; i < si->memmap_entries; i++)
		if (map[i].type == 1)
			ram += map[i].size;
	fw_printf("cmdline: %s\n", fw_cmdline(si));
	fw_printf("memmap: %u entries, %lu MiB of RAM, modules: %u\n", si->memmap_entries,
		  (unsigned long)(ram >> 20), si->nr_modules);
	if (si->nr_modules) {
		const uint64_t *mod = (const void *)(uintptr_t)si->modlist_paddr;
		const char *data = (const char *)(uintptr_t)mod[0];

		fw_printf("module 0: %lu bytes, starts with \"%c%c%c%c\"\n", (unsigned long)mod[1],
			  data[0], data[1], data[2], data[3]);
	}
	fw_printf("hello from the guest, exiting with %d\n", status);
	return status;
}
