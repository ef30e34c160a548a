/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The initramfs of exec mode, written by kvmrun itself: /init (the agent), the
 * kernel modules it loads (decompressed), and the list of them in load order.
 * Archives are cached, one file per kernel release, module list and agent.
 *
 * Layout of the archive:
 *   init                               the agent, mode 0755
 *   dev proc sys tmp run               empty directories to mount on
 *   lib/modules/RELEASE/PATH.ko        each module, PATH as modules.dep has it,
 *                                      without its compression suffix
 *   modules.load                       the modules' absolute guest paths, one a
 *                                      line, in the order to load them
 */
#ifndef KVMRUN_EXEC_INITRAMFS_H
#define KVMRUN_EXEC_INITRAMFS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "kvmrun/compiler.h"

#define INITRAMFS_LOAD_LIST "modules.load"
#define INITRAMFS_MODULES_MAX 256 /* names requested */
#define INITRAMFS_AGENT_MAX (64 * MiB)

struct initramfs_spec {
	const char *agent; /* host path of the agent binary, becomes /init */
	const char *release; /* the kernel's release (kimage_release()) */
	const char *modules_dir; /* NULL: /lib/modules/RELEASE */
	const char *const *modules; /* module names to load, with what they need */
	size_t nmodules;
	const char *cache_dir; /* NULL: initramfs_cache_dir() */
};

struct initramfs_result {
	char path[PATH_MAX]; /* the archive */
	bool cached; /* found in the cache; nothing was written */
	char error[768]; /* what failed, naming the file or module */
};

/*
 * The directory the archives go to: $KVMRUN_CACHE/exec, else
 * $XDG_CACHE_HOME/kvmrun/exec (an absolute XDG_CACHE_HOME only), else
 * $HOME/.cache/kvmrun/exec. Returns 0, -ENOENT (none of the three set) or
 * -ENAMETOOLONG. The directory may not exist yet.
 */
int initramfs_cache_dir(char *buf, size_t size) WARN_UNUSED;

/*
 * Writes the archive for @spec to @fd. Returns 0 or -errno, with res->error
 * saying what failed (res->path is left alone).
 */
int initramfs_write(const struct initramfs_spec *spec, int fd, struct initramfs_result *res)
	WARN_UNUSED;

/*
 * The archive for @spec, from the cache or newly written into it (through a
 * temporary file renamed into place, so that a reader never sees half a file).
 * On success res->path names it and res->cached says which. The cache key is a
 * SHA-256 of the release, the modules directory (and its modules.dep's size and
 * time), the module names in order and the agent's contents.
 */
int initramfs_build(const struct initramfs_spec *spec, struct initramfs_result *res) WARN_UNUSED;

#endif
