/* SPDX-License-Identifier: Apache-2.0 */
/* Linux x86 boot protocol: bzImage parsing, e820, boot_params. */
#ifndef KVMRUN_X86_BOOT_H
#define KVMRUN_X86_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kvmrun/compiler.h"
#include "kvmrun/guest_mem.h"

#define BZ_MIN_VERSION 0x020c /* 2.12: 64-bit entry and xloadflags */

struct bzimage {
	uint16_t version;
	uint8_t setup_sects;
	bool relocatable;
	uint8_t xloadflags;
	uint64_t pref_address;
	uint32_t init_size;
	uint32_t initrd_addr_max;
	uint32_t cmdline_size;
	size_t setup_len;  /* bytes of the real-mode part, boot sector included */
	size_t kernel_len; /* bytes of the protected-mode kernel that follow */
};

/* Parses a bzImage header; on failure returns -errno and sets *why. */
int boot_parse_bzimage(const uint8_t *img, size_t len, struct bzimage *bz, const char **why);

#define E820_RAM 1
#define E820_RESERVED 2
#define E820_MAX 8

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

/* The guest's memory map for mem bytes of RAM; returns the number of entries. */
unsigned int boot_e820(uint64_t mem, struct e820_entry *out);

/* How mem bytes of RAM split around the hole below 4 GiB. */
void boot_ram_split(uint64_t mem, uint64_t *low, uint64_t *high);

struct boot_images {
	const uint8_t *kernel;
	size_t kernel_len;
	const uint8_t *initrd; /* may be NULL */
	size_t initrd_len;
	const char *cmdline;
	uint64_t rsdp;
};

/*
 * Loads a bzImage, initrd and command line into guest memory and writes
 * boot_params and identity page tables. On success *entry is the 64-bit entry
 * point and *boot_params its argument (rsi). On failure -errno and *why.
 */
int boot_load_linux(const struct guest_mem *gm, uint64_t mem, const struct boot_images *img,
		    uint64_t *entry, uint64_t *boot_params, const char **why) WARN_UNUSED;

#endif
