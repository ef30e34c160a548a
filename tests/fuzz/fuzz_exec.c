// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for what exec reads from files the user points it at: the
 * first byte picks the reader. Odd: the input after it is the start of a
 * bzImage, and also bytes of an arm64 Image read for its banner; a release read
 * from either must be short, terminated and made only of the characters a release
 * has. Even: the input is modules.dep, a 0xff byte,
 * then modules.builtin; a parsed file is resolved for a few names, and every
 * resolved list must hold each module once and after everything it needs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exec/bzimage.h"
#include "exec/kimage.h"
#include "exec/moddep.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_release(const char *out, size_t size)
{
	size_t n = strnlen(out, size);

	if (n == 0 || n >= size ||
	    strspn(out, "abcdefghijklmnopqrstuvwxyz"
			"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			"0123456789.-_+~") != n ||
	    !strcmp(out, ".") || !strcmp(out, ".."))
		abort();
}

static void fuzz_bzimage(const uint8_t *data, size_t size)
{
	char out[BZIMAGE_RELEASE_MAX];

	memset(out, 0x55, sizeof(out));
	if (!bzimage_release_from_buf(data, size, out, sizeof(out)))
		fuzz_check_release(out, sizeof(out));
	memset(out, 0x55, sizeof(out));
	if (!kimage_release_from_banner(data, size, out, sizeof(out)))
		fuzz_check_release(out, sizeof(out));
}

/* The index of @path in @list, or @n. */
static size_t fuzz_find(const struct moddep_list *list, size_t n, const char *path)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!strcmp(list->paths[i], path))
			break;
	}
	return i;
}

/* Each path once, and each after the dependencies modules.dep lists for it. */
static void fuzz_check_order(const struct moddep *md, const struct moddep_list *list)
{
	for (size_t i = 0; i < list->n; i++) {
		const struct moddep_entry *e = NULL;

		if (fuzz_find(list, i, list->paths[i]) != i)
			abort();
		for (size_t k = 0; k < md->nmods; k++) {
			if (md->mods[k].path == list->paths[i])
				e = &md->mods[k];
		}
		if (!e)
			abort();
		for (unsigned int d = 0; d < e->ndeps; d++) {
			if (fuzz_find(list, i, md->deps[e->first_dep + d]) >= i)
				abort();
		}
	}
}

static void fuzz_moddep(const uint8_t *data, size_t size)
{
	const uint8_t *sep = memchr(data, 0xff, size);
	size_t dep_len = sep ? (size_t)(sep - data) : size;
	const char *names[5] = {"virtiofs", "virtio-pci", "?pvpanic-mmio", "a", "b_c"};
	struct moddep_list list;
	struct moddep md;
	size_t n = 3;

	if (moddep_parse(&md, (const char *)data, dep_len, sep ? (const char *)sep + 1 : NULL,
			 sep ? size - dep_len - 1 : 0))
		goto out;
	/* The names in the file itself, first and last. */
	if (md.nmods) {
		names[n++] = md.mods[0].name;
		names[n++] = md.mods[md.nmods - 1].name;
	}
	if (!moddep_resolve(&md, names, n, &list)) {
		fuzz_check_order(&md, &list);
		moddep_list_free(&list);
	} else if (!md.error[0]) {
		abort();
	}
out:
	moddep_free(&md);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	if (data[0] & 1)
		fuzz_bzimage(data + 1, size - 1);
	else
		fuzz_moddep(data + 1, size - 1);
	return 0;
}
