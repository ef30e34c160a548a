/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PVH boot: an ELF kernel with a Xen PHYS32_ENTRY note, entered in 32-bit
 * protected mode with paging off and EBX pointing at a struct hvm_start_info.
 */
#ifndef KVMRUN_X86_PVH_H
#define KVMRUN_X86_PVH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "arch/x86_64/boot.h"
#include "kvmrun/compiler.h"
#include "kvmrun/guest_mem.h"

#define PVH_NOTE_PHYS32_ENTRY 18 /* XEN_ELFNOTE_PHYS32_ENTRY, owner "Xen" */
#define PVH_START_MAGIC 0x336ec578
#define PVH_MAX_SEGMENTS 32

/* The guest-visible start info (version 1) and its tables, little endian. */
struct pvh_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
} __attribute__((packed));

struct pvh_module {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
} __attribute__((packed));

struct pvh_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
} __attribute__((packed));

/* Where the start info, module list and memory map go (one page). */
#define PVH_MODLIST_OFF 0x40
#define PVH_MEMMAP_OFF 0x80

struct pvh_segment {
	uint64_t offset; /* in the file */
	uint64_t filesz;
	uint64_t paddr;
	uint64_t memsz;
};

struct pvh_image {
	uint32_t entry;
	uint64_t end; /* highest byte + 1 of any segment */
	unsigned int nr_segments;
	struct pvh_segment seg[PVH_MAX_SEGMENTS];
};

/* True when the file starts with the ELF magic (then it is PVH or nothing). */
bool pvh_is_elf(const uint8_t *img, size_t len);

/*
 * Checks an ELF32/ELF64 x86 executable with a PVH entry note and whose
 * loadable segments fit in the RAM of a machine with mem bytes (above 1 MiB,
 * below the MMIO hole). On failure returns -errno and sets *why.
 */
int pvh_parse(const uint8_t *img, size_t len, uint64_t mem, struct pvh_image *out,
	      const char **why) WARN_UNUSED;

/*
 * Loads the segments, the initrd (as module 0), the command line and the
 * start info. *entry is the 32-bit entry point, *start_info the EBX value.
 */
int pvh_load(const struct guest_mem *gm, uint64_t mem, const struct boot_images *img,
	     uint64_t *entry, uint64_t *start_info, const char **why) WARN_UNUSED;

#endif
