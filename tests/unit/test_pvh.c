// SPDX-License-Identifier: Apache-2.0
/*
 * PVH ELF loading: crafted ELF32/ELF64 images in memory, loaded into fake
 * guest RAM; every malformed header, note and segment is refused with a reason.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86_64/layout.h"
#include "arch/x86_64/pvh.h"
#include "kvmrun/guest_mem.h"

#define RAM_SIZE (64 * MiB)
#define IMG_SIZE 0x2000u
#define SEG_OFF 0x1000u
#define SEG_FILESZ 0x800u
#define SEG_MEMSZ 0x3000u
#define SEG_PADDR 0x200000u
#define ENTRY (SEG_PADDR + 0x10)

/* Where the builder puts things. */
#define PH_OFF 0x40u
#define NOTE_OFF 0x400u

struct elf_opts {
	bool elf32;
	uint16_t machine;
	uint16_t type;
	uint16_t phentsize;
	uint16_t phnum;
	uint64_t phoff;
	uint64_t seg_off, seg_filesz, seg_paddr, seg_memsz;
	uint32_t note_type;
	const char *note_name;
	uint32_t note_descsz;
	uint64_t note_entry;
	uint64_t note_filesz; /* PT_NOTE p_filesz */
	bool no_note;
};

struct fixture {
	uint8_t *ram;
	struct guest_mem gm;
};

static void put(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = n; i > 0; i--)
		v = v << 8 | p[i - 1];
	return v;
}

static struct elf_opts opts64(void)
{
	return (struct elf_opts){
		.machine = 62, .type = 2, .phentsize = 56, .phnum = 2, .phoff = PH_OFF,
		.seg_off = SEG_OFF, .seg_filesz = SEG_FILESZ, .seg_paddr = SEG_PADDR,
		.seg_memsz = SEG_MEMSZ, .note_type = 18, .note_name = "Xen", .note_descsz = 8,
		.note_entry = ENTRY, .note_filesz = 24,
	};
}

static struct elf_opts opts32(void)
{
	struct elf_opts o = opts64();

	o.elf32 = true;
	o.machine = 3;
	o.phentsize = 32;
	o.note_descsz = 4;
	o.note_filesz = 20;
	return o;
}

/* Program header i (LOAD or NOTE) in the class's layout. */
static void put_phdr(uint8_t *ph, bool elf32, uint32_t type, uint64_t off, uint64_t paddr,
		     uint64_t filesz, uint64_t memsz)
{
	if (elf32) {
		put(ph, type, 4);
		put(ph + 4, off, 4);
		put(ph + 8, paddr, 4);
		put(ph + 12, paddr, 4);
		put(ph + 16, filesz, 4);
		put(ph + 20, memsz, 4);
		put(ph + 28, 4, 4);
	} else {
		put(ph, type, 4);
		put(ph + 8, off, 8);
		put(ph + 16, paddr | 0xffffffff80000000ULL, 8); /* vaddr: ignored */
		put(ph + 24, paddr, 8);
		put(ph + 32, filesz, 8);
		put(ph + 40, memsz, 8);
		put(ph + 48, 4, 8);
	}
}

static uint8_t *make_elf(const struct elf_opts *o)
{
	uint8_t *img = calloc(1, IMG_SIZE);
	size_t entsz = o->elf32 ? 32 : 56;
	uint8_t *note = img + NOTE_OFF;

	assert_non_null(img);
	memcpy(img, "\x7f" "ELF", 4);
	img[4] = o->elf32 ? 1 : 2;
	img[5] = 1;
	img[6] = 1;
	put(img + 16, o->type, 2);
	put(img + 18, o->machine, 2);
	put(img + 20, 1, 4);
	if (o->elf32) {
		put(img + 28, o->phoff, 4);
		put(img + 42, o->phentsize, 2);
		put(img + 44, o->phnum, 2);
	} else {
		put(img + 32, o->phoff, 8);
		put(img + 54, o->phentsize, 2);
		put(img + 56, o->phnum, 2);
	}
	if (o->phoff == PH_OFF) {
		put_phdr(img + PH_OFF, o->elf32, 1, o->seg_off, o->seg_paddr, o->seg_filesz,
			 o->seg_memsz);
		put_phdr(img + PH_OFF + entsz, o->elf32, o->no_note ? 6 : 4, NOTE_OFF, 0,
			 o->note_filesz, o->note_filesz);
	}
	put(note, strlen(o->note_name) + 1, 4);
	put(note + 4, o->note_descsz, 4);
	put(note + 8, o->note_type, 4);
	memcpy(note + 12, o->note_name, strlen(o->note_name) + 1);
	put(note + 16, o->note_entry, o->note_descsz <= 8 ? o->note_descsz : 8);
	for (size_t i = SEG_OFF; i < SEG_OFF + SEG_FILESZ; i++)
		img[i] = (uint8_t)(i * 7 + 3);
	return img;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->ram = malloc(RAM_SIZE);
	if (!f->ram || gm_add_region(&f->gm, 0, RAM_SIZE, f->ram))
		return -1;
	memset(f->ram, 0xaa, RAM_SIZE);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	free(f->ram);
	free(f);
	return 0;
}

static void check_loaded(struct fixture *f, const uint8_t *img, uint64_t entry, uint64_t si)
{
	const uint8_t *s = f->ram + LAYOUT_PVH_START_INFO;
	const uint8_t *map;

	assert_int_equal(entry, ENTRY);
	assert_int_equal(si, LAYOUT_PVH_START_INFO);
	assert_memory_equal(f->ram + SEG_PADDR, img + SEG_OFF, SEG_FILESZ);
	for (size_t i = SEG_FILESZ; i < SEG_MEMSZ; i++)
		assert_int_equal(f->ram[SEG_PADDR + i], 0);
	/* Nothing past memsz is touched. */
	assert_int_equal(f->ram[SEG_PADDR + SEG_MEMSZ], 0xaa);
	assert_int_equal(get(s, 4), PVH_START_MAGIC);
	assert_int_equal(get(s + 4, 4), 1);
	assert_int_equal(get(s + 16, 8) != 0, get(s + 12, 4) != 0); /* modlist iff modules */
	assert_int_equal(get(s + 24, 8), LAYOUT_CMDLINE);
	assert_string_equal((const char *)f->ram + LAYOUT_CMDLINE, "console=ttyS0 x=1");
	assert_int_equal(get(s + 32, 8), 0xe0000);
	assert_int_equal(get(s + 48, 4), 3);
	map = f->ram + get(s + 40, 8);
	assert_true(get(s + 40, 8) >= LAYOUT_PVH_START_INFO &&
		    get(s + 40, 8) < LAYOUT_PVH_START_INFO + 4096);
	assert_int_equal(get(map, 8), 0);
	assert_int_equal(get(map + 16, 4), 1);
	assert_int_equal(get(map + 48, 8), LAYOUT_HIGH_RAM);
	assert_int_equal(get(map + 56, 8), RAM_SIZE - LAYOUT_HIGH_RAM);
	assert_int_equal(get(map + 64, 4), 1);
}

static void load_ok(struct fixture *f, const struct elf_opts *o, const uint8_t *initrd,
		    size_t initrd_len)
{
	uint8_t *img = make_elf(o);
	struct boot_images bi = {
		.kernel = img, .kernel_len = IMG_SIZE, .initrd = initrd, .initrd_len = initrd_len,
		.cmdline = "console=ttyS0 x=1", .rsdp = 0xe0000,
	};
	uint64_t entry = 0, si = 0;
	const char *why = NULL;

	assert_true(pvh_is_elf(img, IMG_SIZE));
	assert_int_equal(pvh_load(&f->gm, RAM_SIZE, &bi, &entry, &si, &why), 0);
	assert_null(why);
	check_loaded(f, img, entry, si);
	free(img);
}

static void test_load_elf64(void **state)
{
	struct elf_opts o = opts64();

	load_ok(*state, &o, NULL, 0);
	assert_int_equal(get(((struct fixture *)*state)->ram + LAYOUT_PVH_START_INFO + 12, 4), 0);
}

static void test_load_elf32(void **state)
{
	struct elf_opts o = opts32();

	load_ok(*state, &o, NULL, 0);
}

static void test_load_initrd_module(void **state)
{
	struct fixture *f = *state;
	struct elf_opts o = opts64();
	static const uint8_t initrd[5000] = { 1, 2, 3, [4999] = 9 };
	const uint8_t *s = f->ram + LAYOUT_PVH_START_INFO;
	const uint8_t *mod;
	uint64_t addr;

	load_ok(f, &o, initrd, sizeof(initrd));
	assert_int_equal(get(s + 12, 4), 1);
	mod = f->ram + get(s + 16, 8);
	addr = get(mod, 8);
	assert_int_equal(get(mod + 8, 8), sizeof(initrd));
	assert_int_equal(addr & 0xfff, 0);
	assert_true(addr >= SEG_PADDR + SEG_MEMSZ && addr + sizeof(initrd) <= RAM_SIZE);
	assert_memory_equal(f->ram + addr, initrd, sizeof(initrd));
}

static void test_regs_need_no_kvm_for_parse(void **state)
{
	struct elf_opts o = opts64();
	uint8_t *img = make_elf(&o);
	struct pvh_image pi;
	const char *why = NULL;

	(void)state;
	assert_int_equal(pvh_parse(img, IMG_SIZE, RAM_SIZE, &pi, &why), 0);
	assert_int_equal(pi.entry, ENTRY);
	assert_int_equal(pi.nr_segments, 1);
	assert_int_equal(pi.end, SEG_PADDR + SEG_MEMSZ);
	free(img);
}

/* Parses (and loads) a bad image; both must fail with a reason. */
static void expect_bad_len(struct fixture *f, const struct elf_opts *o, size_t len,
			   uint64_t mem)
{
	uint8_t *img = make_elf(o);
	struct boot_images bi = { .kernel = img, .kernel_len = len, .cmdline = "" };
	struct pvh_image pi;
	uint64_t entry = 0, si = 0;
	const char *why = NULL;

	assert_true(pvh_parse(img, len, mem, &pi, &why) < 0);
	assert_non_null(why);
	why = NULL;
	memset(f->ram, 0xaa, 4 * MiB);
	assert_true(pvh_load(&f->gm, mem, &bi, &entry, &si, &why) < 0);
	assert_non_null(why);
	/* Nothing was loaded. */
	assert_int_equal(f->ram[SEG_PADDR], 0xaa);
	assert_int_equal(f->ram[LAYOUT_PVH_START_INFO], 0xaa);
	free(img);
}

static void expect_bad(struct fixture *f, const struct elf_opts *o)
{
	expect_bad_len(f, o, IMG_SIZE, RAM_SIZE);
}

static void test_truncated(void **state)
{
	struct elf_opts o = opts64();

	expect_bad_len(*state, &o, 3, RAM_SIZE);   /* not even the magic */
	expect_bad_len(*state, &o, 19, RAM_SIZE);  /* no machine field */
	expect_bad_len(*state, &o, 63, RAM_SIZE);  /* partial ELF64 header */
	expect_bad_len(*state, &o, PH_OFF + 100, RAM_SIZE); /* partial program headers */
	expect_bad_len(*state, &o, NOTE_OFF + 8, RAM_SIZE); /* note segment cut short */
	expect_bad_len(*state, &o, SEG_OFF + 16, RAM_SIZE); /* load segment cut short */
	o = opts32();
	expect_bad_len(*state, &o, 51, RAM_SIZE);
}

static void test_wrong_class_machine_type(void **state)
{
	struct elf_opts o = opts64();
	uint8_t *img;
	const char *why = NULL;
	struct pvh_image pi;

	o.machine = 3; /* i386 in an ELF64 */
	expect_bad(*state, &o);
	o = opts32();
	o.machine = 62; /* x86-64 in an ELF32 */
	expect_bad(*state, &o);
	o = opts64();
	o.machine = 183; /* aarch64 */
	expect_bad(*state, &o);
	o = opts64();
	o.type = 3; /* ET_DYN */
	expect_bad(*state, &o);
	o = opts64();
	o.phentsize = 32; /* the ELF32 size in an ELF64 */
	expect_bad(*state, &o);
	o = opts64();
	o.phnum = 0;
	expect_bad(*state, &o);

	o = opts64();
	img = make_elf(&o);
	img[4] = 3; /* unknown class */
	assert_int_equal(pvh_parse(img, IMG_SIZE, RAM_SIZE, &pi, &why), -ENOEXEC);
	assert_non_null(why);
	img[4] = 2;
	img[5] = 2; /* big endian */
	why = NULL;
	assert_int_equal(pvh_parse(img, IMG_SIZE, RAM_SIZE, &pi, &why), -ENOEXEC);
	assert_non_null(why);
	memcpy(img, "MZ\0\0", 4);
	assert_false(pvh_is_elf(img, IMG_SIZE));
	free(img);
}

static void test_no_pvh_note(void **state)
{
	struct elf_opts o = opts64();

	o.no_note = true; /* the segment is not a PT_NOTE */
	expect_bad(*state, &o);
	o = opts64();
	o.note_type = 17; /* another Xen note */
	expect_bad(*state, &o);
	o = opts64();
	o.note_name = "Xem";
	expect_bad(*state, &o);
	o = opts64();
	o.note_name = "GNU";
	expect_bad(*state, &o);
	o = opts64();
	o.note_descsz = 2; /* neither 4 nor 8 bytes */
	o.note_filesz = 20;
	expect_bad(*state, &o);
	o = opts64();
	o.note_descsz = 0x7ffffff0; /* desc runs past the note segment */
	expect_bad(*state, &o);
	o = opts64();
	o.note_descsz = 0xfffffffc; /* align-up would wrap a 32-bit size */
	expect_bad(*state, &o);
	o = opts64();
	o.note_entry = 0x100000000ULL; /* above 4 GiB */
	expect_bad(*state, &o);
	o = opts64();
	o.note_entry = SEG_PADDR + SEG_FILESZ; /* in the zero-filled part, not loaded code */
	expect_bad(*state, &o);
	o = opts64();
	o.note_entry = 0x1000; /* outside every segment */
	expect_bad(*state, &o);
}

static void test_segment_outside_ram(void **state)
{
	struct elf_opts o = opts64();

	o.seg_paddr = RAM_SIZE - 0x1000; /* memsz runs past the end of RAM */
	o.note_entry = o.seg_paddr;
	expect_bad(*state, &o);
	o = opts64();
	o.seg_paddr = LAYOUT_MMIO_HOLE - 0x1000; /* into the hole of a big machine */
	o.note_entry = o.seg_paddr;
	expect_bad_len(*state, &o, IMG_SIZE, 8 * GiB);
	o = opts64();
	o.seg_paddr = LAYOUT_MMIO_HOLE_END; /* high RAM: not below the hole */
	o.note_entry = 0x10;
	expect_bad_len(*state, &o, IMG_SIZE, 8 * GiB);
	o = opts64();
	o.seg_memsz = 0xffffffffffffff00ULL; /* paddr + memsz wraps */
	expect_bad(*state, &o);
	o = opts64();
	o.seg_filesz = SEG_MEMSZ + 1; /* filesz > memsz */
	expect_bad(*state, &o);
}

static void test_segment_over_boot_structures(void **state)
{
	static const uint64_t addrs[] = {
		0, LAYOUT_GDT, LAYOUT_PVH_START_INFO, LAYOUT_PML4, LAYOUT_CMDLINE,
		LAYOUT_ACPI_BASE, LAYOUT_HIGH_RAM - 0x100,
	};

	for (size_t i = 0; i < ARRAY_SIZE(addrs); i++) {
		struct elf_opts o = opts64();

		o.seg_paddr = addrs[i];
		o.note_entry = addrs[i] + 4;
		expect_bad(*state, &o);
	}
}

static void test_overflowing_offsets(void **state)
{
	struct elf_opts o = opts64();

	o.seg_off = 0xfffffffffffff000ULL; /* offset + filesz wraps */
	expect_bad(*state, &o);
	o = opts64();
	o.seg_off = IMG_SIZE - 0x10; /* past the end */
	expect_bad(*state, &o);
	o = opts64();
	o.phoff = 0xffffffffffffffc0ULL; /* program headers at a wrapping offset */
	expect_bad(*state, &o);
	o = opts64();
	o.phoff = IMG_SIZE; /* program headers past the end */
	expect_bad(*state, &o);
	o = opts64();
	o.phnum = 0xffff; /* more headers than the file holds */
	expect_bad(*state, &o);
	o = opts32();
	o.seg_off = 0xfffff000u;
	expect_bad(*state, &o);
}

static void test_initrd_does_not_fit(void **state)
{
	struct fixture *f = *state;
	struct elf_opts o = opts64();
	uint8_t *img = make_elf(&o);
	uint8_t *initrd = calloc(1, RAM_SIZE);
	struct boot_images bi = {
		.kernel = img, .kernel_len = IMG_SIZE, .initrd = initrd,
		.initrd_len = RAM_SIZE - SEG_PADDR, .cmdline = "",
	};
	uint64_t entry, si;
	const char *why = NULL;

	assert_non_null(initrd);
	assert_int_equal(pvh_load(&f->gm, RAM_SIZE, &bi, &entry, &si, &why), -E2BIG);
	assert_non_null(strstr(why, "initrd"));
	bi.initrd_len = RAM_SIZE + 1;
	why = NULL;
	assert_int_equal(pvh_load(&f->gm, RAM_SIZE, &bi, &entry, &si, &why), -E2BIG);
	assert_non_null(why);
	free(initrd);
	free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_load_elf64, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_elf32, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_initrd_module, setup, teardown),
		cmocka_unit_test(test_regs_need_no_kvm_for_parse),
		cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_class_machine_type, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_pvh_note, setup, teardown),
		cmocka_unit_test_setup_teardown(test_segment_outside_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_segment_over_boot_structures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overflowing_offsets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_initrd_does_not_fit, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
