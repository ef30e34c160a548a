/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kernel module dependencies, from a modules directory (/lib/modules/RELEASE):
 * modules.dep says which file each module is and which modules it needs;
 * modules.builtin names the modules built into the kernel. Module names compare
 * with '-' and '_' as one character, as the kernel's do.
 */
#ifndef KVMRUN_EXEC_MODDEP_H
#define KVMRUN_EXEC_MODDEP_H

#include <stddef.h>

#include "kvmrun/compiler.h"

#define MODDEP_FILE_MAX (16 * MiB) /* bytes of modules.dep or modules.builtin */
#define MODDEP_MODULES_MAX 65536 /* entries of either file */
#define MODDEP_DEPS_MAX 1024 /* dependencies of one module */
#define MODDEP_NAME_MAX 255 /* bytes of a module name */
#define MODDEP_PATH_MAX 1024 /* bytes of a module's path */

struct moddep_entry {
	const char *path; /* relative to the modules directory, as modules.dep has it */
	const char *name; /* its module name, '-' written as '_' */
	unsigned int first_dep, ndeps; /* into moddep.deps */
};

struct moddep {
	char *text, *builtin_text; /* the files' contents, cut into strings in place */
	struct moddep_entry *mods;
	size_t nmods;
	struct moddep_entry **by_path, **by_name; /* sorted views of mods */
	char *names; /* the normalised names of mods */
	const char **deps; /* each entry's dependency paths, in the file's order */
	size_t ndeps;
	const char **builtin; /* normalised names, sorted */
	size_t nbuiltin;
	char error[512]; /* what the last failure was, for the user */
};

/*
 * Reads @dir/modules.dep and, if present, @dir/modules.builtin. Returns 0 or
 * -errno (-EBADMSG for a malformed file, -EFBIG, -E2BIG past the limits above),
 * with md->error saying which file and line. moddep_free() in every case.
 */
int moddep_load(struct moddep *md, const char *dir) WARN_UNUSED;

/* The same for text in memory (modules.dep, modules.builtin; @builtin may be NULL). */
int moddep_parse(struct moddep *md, const char *dep, size_t dep_len, const char *builtin,
		 size_t builtin_len) WARN_UNUSED;

void moddep_free(struct moddep *md);

/* One module to load: its path relative to the modules directory. */
struct moddep_list {
	const char **paths; /* point into the moddep */
	size_t n;
};

/* Before a module name: load it if the kernel has it, else leave it out ("?pvpanic_mmio"). */
#define MODDEP_OPTIONAL '?'

/*
 * The modules to load for @names, in load order: each after all it needs, each
 * once. A name built into the kernel needs nothing; an optional one (MODDEP_OPTIONAL)
 * that is neither a module nor built in is left out. Returns 0 or -ENOENT (a name
 * that is neither a module nor built in, or a dependency with no entry of its
 * own), -ELOOP (a dependency cycle), -EINVAL (a malformed name), -ENOMEM; the
 * message in md->error names the module. moddep_list_free() in every case.
 */
int moddep_resolve(struct moddep *md, const char *const *names, size_t nnames,
		   struct moddep_list *out) WARN_UNUSED;

void moddep_list_free(struct moddep_list *list);

/*
 * The module name of @path ("kernel/fs/fuse/virtiofs.ko.xz" -> "virtiofs"), '-'
 * written as '_'. Returns its length, or -EINVAL if @path does not end in .ko,
 * .ko.xz, .ko.zst or .ko.gz, or -ENAMETOOLONG if the name does not fit @size.
 */
int moddep_name_of(const char *path, char *name, size_t size);

#endif
