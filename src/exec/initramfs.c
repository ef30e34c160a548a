// SPDX-License-Identifier: Apache-2.0
/* exec mode's initramfs: assembled from the agent and modules, cached by content. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <sha2.h> /* libmd */

#include "exec/cpio.h"
#include "exec/file.h"
#include "exec/initramfs.h"
#include "exec/moddep.h"
#include "exec/modfile.h"

/* Changes whenever the archive's layout does, so that old archives are not reused. */
#define INITRAMFS_KEY_VERSION "kvmrun-initramfs 1"
#define INITRAMFS_KEY_HEX 64 /* a SHA-256 in hex */

PRINTF_FMT(2, 3) static void initramfs_error(struct initramfs_result *res, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->error, sizeof(res->error), fmt, ap);
	va_end(ap);
}

int initramfs_cache_dir(char *buf, size_t size)
{
	const char *base = getenv("KVMRUN_CACHE"), *suffix = "/exec";

	if (!base || !*base) {
		base = getenv("XDG_CACHE_HOME");
		suffix = "/kvmrun/exec";
		if (!base || base[0] != '/') {
			base = getenv("HOME");
			suffix = "/.cache/kvmrun/exec";
		}
	}
	if (!base || !*base)
		return -ENOENT;
	if ((size_t)snprintf(buf, size, "%s%s", base, suffix) >= size)
		return -ENAMETOOLONG;
	return 0;
}

/* The modules directory of @spec into @buf. */
static int initramfs_modules_dir(const struct initramfs_spec *spec, char *buf, size_t size)
{
	int n;

	if (spec->modules_dir)
		n = snprintf(buf, size, "%s", spec->modules_dir);
	else
		n = snprintf(buf, size, "/lib/modules/%s", spec->release);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int initramfs_check_spec(const struct initramfs_spec *spec, struct initramfs_result *res)
{
	if (!spec->agent || !*spec->agent) {
		initramfs_error(res, "no agent binary given");
		return -EINVAL;
	}
	/* What kimage_release() passes: a path component, and a line of modules.load. */
	if (!spec->release || !*spec->release || strlen(spec->release) > 255 ||
	    spec->release[strspn(spec->release, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
						"0123456789.-_+~")] ||
	    cpio_check_name(spec->release)) {
		initramfs_error(res, "'%.64s' is not a kernel release",
				spec->release ? spec->release : "");
		return -EINVAL;
	}
	if (spec->nmodules > INITRAMFS_MODULES_MAX) {
		initramfs_error(res, "more than %d modules to load", INITRAMFS_MODULES_MAX);
		return -E2BIG;
	}
	if (spec->nmodules && !spec->modules) {
		initramfs_error(res, "no module names");
		return -EINVAL;
	}
	return 0;
}

/* The length of @path without its compression suffix (".ko.xz" -> ".ko"). */
static size_t initramfs_plain_len(const char *path)
{
	size_t n = strlen(path);

	for (const char *s = path + n; s > path; s--) {
		if (s[-1] == '/')
			break;
		if (!strncmp(s - 1, ".ko.", 4))
			return (size_t)(s - path) + 2;
	}
	return n;
}

static int initramfs_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The directories the modules go in, parents first, each once (relative to the modules dir). */
static int initramfs_module_dirs(const struct moddep_list *list, char ***out, size_t *n)
{
	size_t cap = 0, count = 0;
	char **dirs = NULL;
	int ret = 0;

	for (size_t i = 0; i < list->n; i++) {
		for (const char *s = strchr(list->paths[i], '/'); s; s = strchr(s + 1, '/')) {
			if (count == cap) {
				char **p = realloc(dirs, (cap ? cap * 2 : 32) * sizeof(*dirs));

				if (!p) {
					ret = -ENOMEM;
					goto out;
				}
				dirs = p;
				cap = cap ? cap * 2 : 32;
			}
			dirs[count] = strndup(list->paths[i], (size_t)(s - list->paths[i]));
			if (!dirs[count]) {
				ret = -ENOMEM;
				goto out;
			}
			count++;
		}
	}
	/* "a" sorts before "a/b": a parent comes first. */
	if (count)
		qsort(dirs, count, sizeof(*dirs), initramfs_cmp_str);
out:
	*out = dirs;
	*n = count;
	return ret;
}

static void initramfs_free_dirs(char **dirs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(dirs[i]);
	free(dirs);
}

/* Adds each module, decompressed, and the list of them. */
static int initramfs_add_modules(struct cpio_writer *w, const struct initramfs_spec *spec,
				 const char *moddir, const struct moddep_list *list,
				 struct initramfs_result *res)
{
	char src[PATH_MAX], dst[PATH_MAX];
	size_t ndirs = 0, order_len = 0, order_size = 1;
	char **dirs = NULL, *order;
	int ret;

	for (size_t i = 0; i < list->n; i++)
		order_size += sizeof("/lib/modules//\n") + strlen(spec->release) +
			      strlen(list->paths[i]);
	order = malloc(order_size);
	if (!order)
		return -ENOMEM;
	order[0] = '\0';
	ret = initramfs_module_dirs(list, &dirs, &ndirs);
	if (ret)
		goto out;
	for (size_t i = 0; i < ndirs; i++) {
		if (i && !strcmp(dirs[i], dirs[i - 1]))
			continue;
		if ((size_t)snprintf(dst, sizeof(dst), "lib/modules/%s/%s", spec->release,
				     dirs[i]) >= sizeof(dst))
			ret = -ENAMETOOLONG;
		else
			ret = cpio_add_dir(w, dst, 0755);
		if (ret) {
			initramfs_error(res, "initramfs: %s: %s", dst, strerror(-ret));
			goto out;
		}
	}
	for (size_t i = 0; i < list->n; i++) {
		const char *path = list->paths[i];
		int plain = (int)initramfs_plain_len(path);
		size_t len;
		void *data;

		if ((size_t)snprintf(src, sizeof(src), "%s/%s", moddir, path) >= sizeof(src) ||
		    (size_t)snprintf(dst, sizeof(dst), "lib/modules/%s/%.*s", spec->release,
				     plain, path) >= sizeof(dst)) {
			ret = -ENAMETOOLONG;
			initramfs_error(res, "%s: name too long", path);
			goto out;
		}
		ret = modfile_read(src, MODFILE_MAX, &data, &len);
		if (ret) {
			initramfs_error(res, "%s: %s", src,
					ret == -EFBIG ? "more than 64 MiB decompressed" :
					ret == -EBADMSG ? "corrupt compressed data" :
							  strerror(-ret));
			goto out;
		}
		ret = cpio_add_file(w, dst, 0644, data, len);
		free(data);
		if (ret) {
			initramfs_error(res, "initramfs: %s: %s", dst, strerror(-ret));
			goto out;
		}
		order_len += (size_t)sprintf(order + order_len, "/%s\n", dst);
	}
	ret = cpio_add_file(w, INITRAMFS_LOAD_LIST, 0644, order, order_len);
	if (ret)
		initramfs_error(res, "initramfs: %s: %s", INITRAMFS_LOAD_LIST, strerror(-ret));
out:
	initramfs_free_dirs(dirs, ndirs);
	free(order);
	return ret;
}

int initramfs_write(const struct initramfs_spec *spec, int fd, struct initramfs_result *res)
{
	static const char *const mount_points[] = { "dev", "proc", "sys", "tmp", "run", "lib",
						     "lib/modules" };
	struct moddep_list list = { NULL, 0 };
	char moddir[PATH_MAX], dir[PATH_MAX];
	struct cpio_writer w;
	struct moddep md;
	struct stat st;
	int ret;

	res->error[0] = '\0';
	ret = initramfs_check_spec(spec, res);
	if (ret)
		return ret;
	ret = initramfs_modules_dir(spec, moddir, sizeof(moddir));
	if (ret) {
		initramfs_error(res, "modules directory: name too long");
		return ret;
	}
	memset(&md, 0, sizeof(md));
	if (spec->nmodules) {
		ret = moddep_load(&md, moddir);
		if (!ret)
			ret = moddep_resolve(&md, spec->modules, spec->nmodules, &list);
		if (ret) {
			initramfs_error(res, "%s", md.error);
			goto out;
		}
	}
	if (!stat(spec->agent, &st) && st.st_size > (off_t)INITRAMFS_AGENT_MAX) {
		ret = -EFBIG;
		initramfs_error(res, "agent %s: larger than %llu MiB", spec->agent,
				INITRAMFS_AGENT_MAX / MiB);
		goto out;
	}
	cpio_init(&w, fd);
	ret = cpio_add_host_file(&w, "init", 0755, spec->agent);
	if (ret) {
		initramfs_error(res, "agent %s: %s", spec->agent, strerror(-ret));
		goto out;
	}
	for (size_t i = 0; i < ARRAY_SIZE(mount_points) && !ret; i++)
		ret = cpio_add_dir(&w, mount_points[i], 0755);
	snprintf(dir, sizeof(dir), "lib/modules/%s", spec->release);
	if (!ret)
		ret = cpio_add_dir(&w, dir, 0755);
	if (ret) {
		initramfs_error(res, "initramfs: %s", strerror(-ret));
		goto out;
	}
	ret = initramfs_add_modules(&w, spec, moddir, &list, res);
	if (ret)
		goto out;
	ret = cpio_finish(&w);
	if (ret)
		initramfs_error(res, "initramfs: %s", strerror(-ret));
out:
	moddep_list_free(&list);
	moddep_free(&md);
	return ret;
}

/* Feeds the agent's contents to the hash, at most INITRAMFS_AGENT_MAX bytes of it. */
static int initramfs_hash_file(SHA2_CTX *ctx, const char *path)
{
	unsigned char buf[64 * 1024];
	uint64_t total = 0;
	struct stat st;
	int fd, ret = 0;

	fd = exec_open_regular(path, &st);
	if (fd < 0)
		return fd;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		if (total > INITRAMFS_AGENT_MAX) {
			ret = -EFBIG;
			break;
		}
		SHA256Update(ctx, buf, (size_t)n);
	}
	close(fd);
	return ret;
}

static void initramfs_hash_str(SHA2_CTX *ctx, const char *s)
{
	/* With its NUL, so that ("ab", "c") and ("a", "bc") differ. */
	SHA256Update(ctx, (const uint8_t *)s, strlen(s) + 1);
}

/* The cache key of @spec, as INITRAMFS_KEY_HEX hex digits and a NUL. */
static int initramfs_key(const struct initramfs_spec *spec, const char *moddir, char *hex,
			 struct initramfs_result *res)
{
	uint8_t digest[SHA256_DIGEST_LENGTH];
	char stamp[96] = "";
	struct stat st;
	SHA2_CTX ctx;
	int ret;

	/* A reinstalled kernel of the same release has a new modules.dep. */
	if (spec->nmodules) {
		char dep[PATH_MAX];

		if ((size_t)snprintf(dep, sizeof(dep), "%s/modules.dep", moddir) < sizeof(dep) &&
		    !stat(dep, &st))
			snprintf(stamp, sizeof(stamp), "%lld %lld.%09ld", (long long)st.st_size,
				 (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	}
	SHA256Init(&ctx);
	initramfs_hash_str(&ctx, INITRAMFS_KEY_VERSION);
	initramfs_hash_str(&ctx, spec->release);
	initramfs_hash_str(&ctx, moddir);
	initramfs_hash_str(&ctx, stamp);
	for (size_t i = 0; i < spec->nmodules; i++)
		initramfs_hash_str(&ctx, spec->modules[i] ? spec->modules[i] : "");
	initramfs_hash_str(&ctx, "");
	ret = initramfs_hash_file(&ctx, spec->agent);
	if (ret) {
		initramfs_error(res, "agent %s: %s", spec->agent, strerror(-ret));
		return ret;
	}
	SHA256Final(digest, &ctx);
	_Static_assert(SHA256_DIGEST_LENGTH * 2 == INITRAMFS_KEY_HEX, "the key is a SHA-256");
	for (unsigned int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		sprintf(hex + 2 * i, "%02x", digest[i]);
	return 0;
}

/* mkdir -p, new directories private to the user. */
static int initramfs_mkdirs(const char *path)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; ; p++) {
		if (*p != '/' && *p)
			continue;
		char c = *p;

		*p = '\0';
		if (mkdir(buf, 0700) && errno != EEXIST)
			return -errno;
		*p = c;
		if (!c)
			break;
	}
	return 0;
}

int initramfs_build(const struct initramfs_spec *spec, struct initramfs_result *res)
{
	char cache[PATH_MAX], moddir[PATH_MAX], tmp[PATH_MAX], key[INITRAMFS_KEY_HEX + 1];
	struct stat st;
	int fd, ret;

	res->error[0] = '\0';
	res->cached = false;
	ret = initramfs_check_spec(spec, res);
	if (ret)
		return ret;
	if (spec->cache_dir) {
		if ((size_t)snprintf(cache, sizeof(cache), "%s", spec->cache_dir) >= sizeof(cache))
			ret = -ENAMETOOLONG;
	} else {
		ret = initramfs_cache_dir(cache, sizeof(cache));
	}
	if (ret) {
		initramfs_error(res, "no cache directory: set KVMRUN_CACHE or HOME");
		return ret;
	}
	ret = initramfs_modules_dir(spec, moddir, sizeof(moddir));
	if (ret) {
		initramfs_error(res, "modules directory: name too long");
		return ret;
	}
	ret = initramfs_key(spec, moddir, key, res);
	if (ret)
		return ret;
	if ((size_t)snprintf(res->path, sizeof(res->path), "%s/initramfs-%s.cpio", cache, key) >=
		    sizeof(res->path) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/.initramfs-%s.XXXXXX", cache, key) >=
		    sizeof(tmp)) {
		initramfs_error(res, "%s: name too long", cache);
		return -ENAMETOOLONG;
	}
	if (!stat(res->path, &st) && S_ISREG(st.st_mode) && st.st_size > 0) {
		res->cached = true;
		return 0;
	}
	ret = initramfs_mkdirs(cache);
	if (ret) {
		initramfs_error(res, "%s: %s", cache, strerror(-ret));
		return ret;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		initramfs_error(res, "%s: %s", tmp, strerror(-ret));
		return ret;
	}
	ret = initramfs_write(spec, fd, res);
	if (ret)
		goto err_unlink;
	if (fchmod(fd, 0644) || fsync(fd)) {
		ret = -errno;
		initramfs_error(res, "%s: %s", tmp, strerror(-ret));
		goto err_unlink;
	}
	if (close(fd)) {
		fd = -1;
		ret = -errno;
		initramfs_error(res, "%s: %s", tmp, strerror(-ret));
		goto err_unlink;
	}
	fd = -1;
	/* Atomic: a concurrent build of the same key leaves one whole file either way. */
	if (rename(tmp, res->path)) {
		ret = -errno;
		initramfs_error(res, "%s: %s", res->path, strerror(-ret));
		goto err_unlink;
	}
	return 0;
err_unlink:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return ret;
}
