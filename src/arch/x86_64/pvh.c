// SPDX-License-Identifier: Apache-2.0
/*
 * PVH boot (the Xen/Linux "PVH entry" convention): the kernel is an ELF file
 * whose note "Xen" of type 18 holds a 32-bit physical entry point. The
 * loader places the PT_LOAD segments at their physical addresses and enters
 * in 32-bit protected mode, paging off, with EBX pointing at hvm_start_info.
 */
#include <errno.h>
#include <string.h>

#include "arch/x86_64/layout.h"
#include "arch/x86_64/pvh.h"

#define ELF_CLASS32 1
#define ELF_CLASS64 2
#define ELF_DATA_LSB 1
#define ELF_ET_EXEC 2
#define ELF_EM_386 3
#define ELF_EM_X86_64 62
#define ELF_PT_LOAD 1
#define ELF_PT_NOTE 4

/* Field offsets and sizes that differ between the classes. */
struct pvh_elf_layout {
	size_t ehdr_size, phoff, phentsize, phnum;
	size_t phdr_size, p_offset, p_paddr, p_filesz, p_memsz, p_align;
	size_t word; /* 4 or 8 */
	uint16_t machine;
};

static const struct pvh_elf_layout pvh_elf32 = {
	.ehdr_size = 52, .phoff = 28, .phentsize = 42, .phnum = 44,
	.phdr_size = 32, .p_offset = 4, .p_paddr = 12, .p_filesz = 16, .p_memsz = 20,
	.p_align = 28, .word = 4, .machine = ELF_EM_386,
};

static const struct pvh_elf_layout pvh_elf64 = {
	.ehdr_size = 64, .phoff = 32, .phentsize = 54, .phnum = 56,
	.phdr_size = 56, .p_offset = 8, .p_paddr = 24, .p_filesz = 32, .p_memsz = 40,
	.p_align = 48, .word = 8, .machine = ELF_EM_X86_64,
};

static uint64_t pvh_rd(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = n; i > 0; i--)
		v = v << 8 | p[i - 1];
	return v;
}

bool pvh_is_elf(const uint8_t *img, size_t len)
{
	return len >= 4 && !memcmp(img, "\x7f" "ELF", 4);
}

/* [off, off + n) lies inside the file; no overflow. */
static bool pvh_in_file(size_t len, uint64_t off, uint64_t n)
{
	return off <= len && n <= len - off;
}

static uint64_t pvh_align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* Looks for the PVH entry note in one PT_NOTE segment; 1 found, 0 not, -errno bad. */
static int pvh_find_note(const uint8_t *img, uint64_t off, uint64_t size, uint64_t align,
			 uint32_t *entry, const char **why)
{
	uint64_t pos = 0;

	align = align == 8 ? 8 : 4;
	while (size - pos >= 12) {
		const uint8_t *n = img + off + pos;
		uint64_t namesz = pvh_rd(n, 4), descsz = pvh_rd(n + 4, 4);
		uint32_t type = (uint32_t)pvh_rd(n + 8, 4);
		uint64_t name_off = 12, desc_off, next;

		desc_off = name_off + pvh_align_up(namesz, align);
		next = desc_off + pvh_align_up(descsz, align);
		if (next > size - pos) {
			*why = "truncated ELF note";
			return -ENOEXEC;
		}
		if (type == PVH_NOTE_PHYS32_ENTRY && namesz == 4 && !memcmp(n + name_off, "Xen", 4)) {
			uint64_t v;

			if (descsz != 4 && descsz != 8) {
				*why = "PVH entry note has a bad size";
				return -ENOEXEC;
			}
			v = pvh_rd(n + desc_off, descsz);
			if (v > UINT32_MAX) {
				*why = "PVH entry point above 4 GiB";
				return -ENOEXEC;
			}
			*entry = (uint32_t)v;
			return 1;
		}
		pos += next;
	}
	return 0;
}

static int pvh_parse_header(const uint8_t *img, size_t len, const struct pvh_elf_layout **lay,
			    uint64_t *phoff, unsigned int *phnum, const char **why)
{
	const struct pvh_elf_layout *l;
	uint64_t phentsize;

	if (len < 20) {
		*why = "truncated ELF header";
		return -ENOEXEC;
	}
	if (img[4] == ELF_CLASS32)
		l = &pvh_elf32;
	else if (img[4] == ELF_CLASS64)
		l = &pvh_elf64;
	else {
		*why = "ELF class is neither 32 nor 64 bits";
		return -ENOEXEC;
	}
	if (len < l->ehdr_size) {
		*why = "truncated ELF header";
		return -ENOEXEC;
	}
	if (img[5] != ELF_DATA_LSB) {
		*why = "ELF file is not little endian";
		return -ENOEXEC;
	}
	if (pvh_rd(img + 18, 2) != l->machine) {
		*why = l == &pvh_elf64 ? "ELF64 file is not for x86-64" : "ELF32 file is not for i386";
		return -ENOEXEC;
	}
	if (pvh_rd(img + 16, 2) != ELF_ET_EXEC) {
		*why = "ELF file is not an executable (ET_EXEC)";
		return -ENOEXEC;
	}
	*phoff = pvh_rd(img + l->phoff, l->word);
	phentsize = pvh_rd(img + l->phentsize, 2);
	*phnum = (unsigned int)pvh_rd(img + l->phnum, 2);
	if (!*phnum) {
		*why = "ELF file has no program headers";
		return -ENOEXEC;
	}
	if (phentsize != l->phdr_size) {
		*why = "ELF program header size is wrong for its class";
		return -ENOEXEC;
	}
	if (!pvh_in_file(len, *phoff, (uint64_t)*phnum * phentsize)) {
		*why = "truncated ELF: program headers beyond the end of the file";
		return -ENOEXEC;
	}
	*lay = l;
	return 0;
}

static int pvh_add_segment(struct pvh_image *out, const struct pvh_segment *s, uint64_t low,
			   const char **why)
{
	if (!s->memsz)
		return 0;
	if (s->filesz > s->memsz) {
		*why = "ELF segment's file size exceeds its memory size";
		return -ENOEXEC;
	}
	if (s->paddr + s->memsz < s->paddr) {
		*why = "ELF segment's address range wraps";
		return -ENOEXEC;
	}
	if (s->paddr < LAYOUT_HIGH_RAM) {
		*why = "ELF segment below 1 MiB would overlap the boot structures";
		return -ENOEXEC;
	}
	if (s->paddr + s->memsz > low) {
		*why = "ELF segment outside guest RAM below the MMIO hole (raise --memory?)";
		return -E2BIG;
	}
	if (out->nr_segments == PVH_MAX_SEGMENTS) {
		*why = "too many loadable ELF segments";
		return -ENOEXEC;
	}
	out->seg[out->nr_segments++] = *s;
	out->end = MAX(out->end, s->paddr + s->memsz);
	return 0;
}

int pvh_parse(const uint8_t *img, size_t len, uint64_t mem, struct pvh_image *out,
	      const char **why)
{
	const struct pvh_elf_layout *l;
	uint64_t phoff, low, high;
	unsigned int phnum;
	bool have_entry = false, entry_loaded = false;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!pvh_is_elf(img, len)) {
		*why = "not an ELF file";
		return -ENOEXEC;
	}
	ret = pvh_parse_header(img, len, &l, &phoff, &phnum, why);
	if (ret)
		return ret;
	boot_ram_split(mem, &low, &high);
	for (unsigned int i = 0; i < phnum; i++) {
		const uint8_t *ph = img + phoff + (uint64_t)i * l->phdr_size;
		uint32_t type = (uint32_t)pvh_rd(ph, 4);
		struct pvh_segment s = {
			.offset = pvh_rd(ph + l->p_offset, l->word),
			.filesz = pvh_rd(ph + l->p_filesz, l->word),
			.paddr = pvh_rd(ph + l->p_paddr, l->word),
			.memsz = pvh_rd(ph + l->p_memsz, l->word),
		};

		if (type != ELF_PT_LOAD && type != ELF_PT_NOTE)
			continue;
		if (!pvh_in_file(len, s.offset, s.filesz)) {
			*why = "truncated ELF: a segment extends beyond the end of the file";
			return -ENOEXEC;
		}
		if (type == ELF_PT_LOAD) {
			ret = pvh_add_segment(out, &s, low, why);
			if (ret)
				return ret;
			continue;
		}
		if (have_entry)
			continue;
		ret = pvh_find_note(img, s.offset, s.filesz, pvh_rd(ph + l->p_align, l->word),
				    &out->entry, why);
		if (ret < 0)
			return ret;
		have_entry = ret;
	}
	if (!have_entry) {
		*why = "ELF file has no PVH entry note (Xen, type 18; Linux needs CONFIG_PVH)";
		return -ENOEXEC;
	}
	for (unsigned int i = 0; i < out->nr_segments; i++)
		if (out->entry >= out->seg[i].paddr &&
		    out->entry - out->seg[i].paddr < out->seg[i].filesz)
			entry_loaded = true;
	if (!entry_loaded) {
		*why = "PVH entry point is not inside a loaded segment";
		return -ENOEXEC;
	}
	return 0;
}

static int pvh_write_start_info(const struct guest_mem *gm, uint64_t mem,
				const struct boot_images *img, uint64_t initrd_addr)
{
	struct pvh_memmap_entry map[E820_MAX];
	struct e820_entry e820[E820_MAX];
	struct pvh_start_info si = {
		.magic = PVH_START_MAGIC, .version = 1,
		.cmdline_paddr = LAYOUT_CMDLINE, .rsdp_paddr = img->rsdp,
		.memmap_paddr = LAYOUT_PVH_START_INFO + PVH_MEMMAP_OFF,
	};
	unsigned int n = boot_e820(mem, e820);
	uint8_t *page = gm_ptr(gm, LAYOUT_PVH_START_INFO, 4096);

	if (!page)
		return -EFAULT;
	memset(page, 0, 4096);
	for (unsigned int i = 0; i < n; i++)
		map[i] = (struct pvh_memmap_entry){ e820[i].addr, e820[i].size, e820[i].type, 0 };
	si.memmap_entries = n;
	if (img->initrd) {
		struct pvh_module mod = { .paddr = initrd_addr, .size = img->initrd_len };

		si.nr_modules = 1;
		si.modlist_paddr = LAYOUT_PVH_START_INFO + PVH_MODLIST_OFF;
		memcpy(page + PVH_MODLIST_OFF, &mod, sizeof(mod));
	}
	memcpy(page, &si, sizeof(si));
	memcpy(page + PVH_MEMMAP_OFF, map, n * sizeof(map[0]));
	return 0;
}

int pvh_load(const struct guest_mem *gm, uint64_t mem, const struct boot_images *img,
	     uint64_t *entry, uint64_t *start_info, const char **why)
{
	size_t cmdline_len = strlen(img->cmdline) + 1;
	uint64_t low, high, initrd_addr = 0;
	struct pvh_image pi;
	int ret;

	ret = pvh_parse(img->kernel, img->kernel_len, mem, &pi, why);
	if (ret)
		return ret;
	boot_ram_split(mem, &low, &high);
	if (cmdline_len > LAYOUT_CMDLINE_MAX) {
		*why = "kernel command line is too long";
		return -E2BIG;
	}
	if (img->initrd) {
		if (img->initrd_len > low || ((low - img->initrd_len) & ~0xfffULL) < pi.end) {
			*why = "initrd does not fit in guest RAM above the kernel (raise --memory)";
			return -E2BIG;
		}
		initrd_addr = (low - img->initrd_len) & ~0xfffULL;
		if (gm_write(gm, initrd_addr, img->initrd, img->initrd_len)) {
			*why = "initrd outside guest RAM";
			return -E2BIG;
		}
	}
	for (unsigned int i = 0; i < pi.nr_segments; i++) {
		const struct pvh_segment *s = &pi.seg[i];
		uint8_t *dst = gm_ptr(gm, s->paddr, s->memsz);

		if (!dst) {
			*why = "ELF segment outside guest RAM";
			return -E2BIG;
		}
		memcpy(dst, img->kernel + s->offset, s->filesz);
		memset(dst + s->filesz, 0, s->memsz - s->filesz);
	}
	if (gm_write(gm, LAYOUT_CMDLINE, img->cmdline, cmdline_len) ||
	    pvh_write_start_info(gm, mem, img, initrd_addr)) {
		*why = "guest RAM too small for the boot structures";
		return -E2BIG;
	}
	*entry = pi.entry;
	*start_info = LAYOUT_PVH_START_INFO;
	return 0;
}
