// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <string.h>

#include "arch/x86_64/boot.h"
#include "arch/x86_64/layout.h"

/* Offsets in the bzImage / boot_params (Documentation/arch/x86/boot.rst). */
#define BP_E820_ENTRIES 0x1e8
#define BP_SETUP_HDR 0x1f1
#define BP_ACPI_RSDP 0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_TABLE 0x2d0
#define BP_SIZE 0x1000

#define HDR_SETUP_SECTS 0x1f1
#define HDR_BOOT_FLAG 0x1fe
#define HDR_JUMP 0x200
#define HDR_MAGIC 0x202
#define HDR_VERSION 0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_RELOCATABLE 0x234
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_PREF_ADDRESS 0x258
#define HDR_INIT_SIZE 0x260
#define HDR_END 0x268

#define LOADFLAG_LOADED_HIGH 0x01
#define XLF_KERNEL_64 0x01
#define XLF_CAN_BE_LOADED_ABOVE_4G 0x02

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16;
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

int boot_parse_bzimage(const uint8_t *img, size_t len, struct bzimage *bz, const char **why)
{
	memset(bz, 0, sizeof(*bz));
	if (len < HDR_END) {
		*why = "too short to be a bzImage";
		return -ENOEXEC;
	}
	if (rd16(img + HDR_BOOT_FLAG) != 0xaa55 || memcmp(img + HDR_MAGIC, "HdrS", 4)) {
		*why = "not a bzImage (no HdrS header)";
		return -ENOEXEC;
	}
	bz->version = rd16(img + HDR_VERSION);
	if (bz->version < BZ_MIN_VERSION) {
		*why = "boot protocol older than 2.12 (no 64-bit entry)";
		return -ENOEXEC;
	}
	bz->setup_sects = img[HDR_SETUP_SECTS] ? img[HDR_SETUP_SECTS] : 4;
	bz->setup_len = ((size_t)bz->setup_sects + 1) * 512;
	bz->relocatable = img[HDR_RELOCATABLE] != 0;
	bz->xloadflags = img[HDR_XLOADFLAGS];
	bz->pref_address = rd64(img + HDR_PREF_ADDRESS);
	bz->init_size = rd32(img + HDR_INIT_SIZE);
	bz->initrd_addr_max = rd32(img + HDR_INITRD_ADDR_MAX);
	bz->cmdline_size = rd32(img + HDR_CMDLINE_SIZE);
	if (!(bz->xloadflags & XLF_KERNEL_64)) {
		*why = "not a 64-bit kernel (XLF_KERNEL_64 unset)";
		return -ENOEXEC;
	}
	if (!(img[HDR_LOADFLAGS] & LOADFLAG_LOADED_HIGH)) {
		*why = "kernel is not loaded high (zImage)";
		return -ENOEXEC;
	}
	if (len <= bz->setup_len) {
		*why = "truncated: no protected-mode kernel after the setup sectors";
		return -ENOEXEC;
	}
	bz->kernel_len = len - bz->setup_len;
	/* syssize (0x1f4) counts 16-byte paragraphs of the protected-mode part. */
	if ((uint64_t)rd32(img + 0x1f4) * 16 > bz->kernel_len) {
		*why = "truncated: shorter than its header's syssize";
		return -ENOEXEC;
	}
	if (!bz->pref_address)
		bz->pref_address = LAYOUT_KERNEL_DEFAULT;
	if (bz->init_size < bz->kernel_len) {
		*why = "header's init_size is smaller than the kernel";
		return -ENOEXEC;
	}
	return 0;
}

void boot_ram_split(uint64_t mem, uint64_t *low, uint64_t *high)
{
	*low = MIN(mem, LAYOUT_MMIO_HOLE);
	*high = mem - *low;
}

unsigned int boot_e820(uint64_t mem, struct e820_entry *out)
{
	uint64_t low, high;
	unsigned int n = 0;

	boot_ram_split(mem, &low, &high);
	out[n++] = (struct e820_entry){ 0, LAYOUT_EBDA, E820_RAM };
	out[n++] = (struct e820_entry){ LAYOUT_EBDA, LAYOUT_HIGH_RAM - LAYOUT_EBDA, E820_RESERVED };
	if (low > LAYOUT_HIGH_RAM)
		out[n++] = (struct e820_entry){ LAYOUT_HIGH_RAM, low - LAYOUT_HIGH_RAM, E820_RAM };
	if (high)
		out[n++] = (struct e820_entry){ LAYOUT_MMIO_HOLE_END, high, E820_RAM };
	return n;
}

/* Identity map of the first 4 GiB with 2 MiB pages, for the 64-bit entry. */
static int boot_page_tables(const struct guest_mem *gm)
{
	uint64_t *pml4 = gm_ptr(gm, LAYOUT_PML4, 4096);
	uint64_t *pdpt = gm_ptr(gm, LAYOUT_PDPT, 4096);
	uint64_t *pd = gm_ptr(gm, LAYOUT_PD, 4 * 4096);

	if (!pml4 || !pdpt || !pd)
		return -EFAULT;
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = LAYOUT_PDPT | 0x3;
	for (uint64_t i = 0; i < 4; i++)
		pdpt[i] = (LAYOUT_PD + i * 4096) | 0x3;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | 0x83;
	return 0;
}

int boot_load_linux(const struct guest_mem *gm, uint64_t mem, const struct boot_images *img,
		    uint64_t *entry, uint64_t *boot_params, const char **why)
{
	struct e820_entry e820[E820_MAX];
	uint64_t low, high, kernel_end, initrd_addr = 0, initrd_top;
	size_t cmdline_len = strlen(img->cmdline) + 1;
	size_t hdr_len;
	struct bzimage bz;
	unsigned int n;
	uint8_t *bp;
	int ret;

	ret = boot_parse_bzimage(img->kernel, img->kernel_len, &bz, why);
	if (ret)
		return ret;
	boot_ram_split(mem, &low, &high);
	kernel_end = bz.pref_address + bz.init_size;
	if (bz.pref_address < LAYOUT_HIGH_RAM) {
		*why = "kernel's preferred address is below 1 MiB";
		return -ENOEXEC;
	}
	if (kernel_end > low || !gm_ptr(gm, bz.pref_address, bz.init_size)) {
		*why = "kernel does not fit in guest RAM (raise --memory)";
		return -E2BIG;
	}
	if (cmdline_len > MIN((uint64_t)bz.cmdline_size + 1, LAYOUT_CMDLINE_MAX)) {
		*why = "kernel command line is longer than the kernel accepts";
		return -E2BIG;
	}
	if (img->initrd) {
		initrd_top = MIN(low, (uint64_t)bz.initrd_addr_max + 1);
		if (img->initrd_len > initrd_top || initrd_top - img->initrd_len < kernel_end) {
			*why = "initrd does not fit in guest RAM below its limit (raise --memory)";
			return -E2BIG;
		}
		initrd_addr = (initrd_top - img->initrd_len) & ~0xfffULL;
		if (initrd_addr < kernel_end) {
			*why = "initrd does not fit in guest RAM below its limit (raise --memory)";
			return -E2BIG;
		}
		ret = gm_write(gm, initrd_addr, img->initrd, img->initrd_len);
		if (ret) {
			*why = "initrd outside guest RAM";
			return ret;
		}
	}
	if (gm_write(gm, bz.pref_address, img->kernel + bz.setup_len, bz.kernel_len) ||
	    gm_write(gm, LAYOUT_CMDLINE, img->cmdline, cmdline_len) || boot_page_tables(gm)) {
		*why = "guest RAM too small for the boot structures";
		return -E2BIG;
	}

	bp = gm_ptr(gm, LAYOUT_BOOT_PARAMS, BP_SIZE);
	if (!bp) {
		*why = "guest RAM too small for boot_params";
		return -E2BIG;
	}
	memset(bp, 0, BP_SIZE);
	/* The setup header runs from 0x1f1 to 0x202 + the byte at 0x201. */
	hdr_len = MIN((size_t)(0x202 + img->kernel[0x201]), (size_t)HDR_END) - BP_SETUP_HDR;
	memcpy(bp + BP_SETUP_HDR, img->kernel + BP_SETUP_HDR, hdr_len);
	bp[HDR_TYPE_OF_LOADER] = 0xff;
	wr32(bp + HDR_CMD_LINE_PTR, (uint32_t)LAYOUT_CMDLINE);
	wr32(bp + HDR_RAMDISK_IMAGE, (uint32_t)initrd_addr);
	wr32(bp + HDR_RAMDISK_SIZE, (uint32_t)(img->initrd ? img->initrd_len : 0));
	memcpy(bp + BP_ACPI_RSDP, &img->rsdp, sizeof(img->rsdp));
	n = boot_e820(mem, e820);
	bp[BP_E820_ENTRIES] = (uint8_t)n;
	memcpy(bp + BP_E820_TABLE, e820, n * sizeof(e820[0]));

	*entry = bz.pref_address + 0x200;
	*boot_params = LAYOUT_BOOT_PARAMS;
	return 0;
}
