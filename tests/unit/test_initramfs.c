// SPDX-License-Identifier: Apache-2.0
/*
 * exec's initramfs: the archive holds the agent as /init, the modules
 * decompressed in load order and the list of them; the cache answers a second
 * build without writing, misses when an input changes, and never shows a
 * half-written file.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "exec_fixture.h"

#include "exec/initramfs.h"

#define REL "6.1.0-99-test-amd64"
#define MODS "lib/modules/" REL "/"

static const char tree_dep[] =
	"kernel/fs/fuse/virtiofs.ko.xz: kernel/drivers/virtio/virtio.ko "
	"kernel/drivers/virtio/virtio_ring.ko kernel/fs/fuse/fuse.ko.zst\n"
	"kernel/fs/fuse/fuse.ko.zst:\n"
	"kernel/drivers/virtio/virtio_ring.ko:\n"
	"kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko\n"
	"kernel/fs/overlayfs/overlay.ko:\n"
	"kernel/fs/bad/broken.ko.xz:\n"
	"kernel/fs/bad/gone.ko:\n";

/* A modules directory under a temporary root, with an agent beside it. */
struct tree {
	char root[4096], moddir[4200], agent[4200], cache[4200];
};

static void module_bytes(char *buf, size_t len, const char *name)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)(name[i % strlen(name)] + i / 97);
	memcpy(buf, "\177ELF", 4);
}

static void tree_make(struct tree *t)
{
	static const char *const plain[] = { "kernel/fs/fuse/virtiofs.ko", "kernel/fs/fuse/fuse.ko",
					     "kernel/drivers/virtio/virtio.ko",
					     "kernel/drivers/virtio/virtio_ring.ko",
					     "kernel/fs/overlayfs/overlay.ko" };
	char buf[20000], rel[256];

	test_need_program("xz");
	test_need_program("zstd");
	test_mkdtemp(t->root, sizeof(t->root), "initramfs");
	snprintf(t->moddir, sizeof(t->moddir), "%s/modules/" REL, t->root);
	snprintf(t->agent, sizeof(t->agent), "%s/agent", t->root);
	snprintf(t->cache, sizeof(t->cache), "%s/cache", t->root);
	test_write_str(t->root, "agent", "#!/bin/sh\necho agent v1\n");
	for (size_t i = 0; i < ARRAY_SIZE(plain); i++) {
		snprintf(rel, sizeof(rel), "modules/" REL "/%s", plain[i]);
		module_bytes(buf, sizeof(buf) - i * 1000, plain[i]);
		test_write_file(t->root, rel, buf, sizeof(buf) - i * 1000);
	}
	test_sh("cd '%s' && xz -q kernel/fs/fuse/virtiofs.ko && zstd -q --rm kernel/fs/fuse/fuse.ko"
		" && mkdir kernel/fs/bad && echo nonsense > kernel/fs/bad/broken.ko.xz",
		t->moddir);
	test_write_str(t->moddir, "modules.dep", tree_dep);
	test_write_str(t->moddir, "modules.builtin", "kernel/fs/ext4/ext4.ko\n");
}

static void spec_init(struct initramfs_spec *s, const struct tree *t, const char *const *mods,
		      size_t n)
{
	memset(s, 0, sizeof(*s));
	s->agent = t->agent;
	s->release = REL;
	s->modules_dir = t->moddir;
	s->modules = mods;
	s->nmodules = n;
	s->cache_dir = t->cache;
}

static const char *const want_mods[] = { "virtiofs", "ext4", "virtio-ring", "overlay" };

/* The archive built from want_mods has exactly these entries and contents. */
static void check_archive(const struct tree *t, const char *path, const char *agent)
{
	static const char *const dirs[] = {
		"dev", "proc", "sys", "tmp", "run", "lib", "lib/modules", "lib/modules/" REL,
		MODS "kernel", MODS "kernel/drivers", MODS "kernel/drivers/virtio", MODS "kernel/fs",
		MODS "kernel/fs/fuse", MODS "kernel/fs/overlayfs",
	};
	static const struct {
		const char *name;
		size_t len;
	} mods[] = {
		{ "kernel/fs/fuse/virtiofs.ko", 20000 },
		{ "kernel/fs/fuse/fuse.ko", 19000 },
		{ "kernel/drivers/virtio/virtio.ko", 18000 },
		{ "kernel/drivers/virtio/virtio_ring.ko", 17000 },
		{ "kernel/fs/overlayfs/overlay.ko", 16000 },
	};
	const struct cpio_entry *e;
	struct cpio_archive a;
	char name[512], buf[20000];

	cpio_test_parse_file(path, &a);
	e = cpio_test_find(&a, "init");
	assert_non_null(e);
	assert_int_equal(e->mode, S_IFREG | 0755);
	assert_string_equal((char *)e->data, agent);
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		e = cpio_test_find(&a, dirs[i]);
		if (!e)
			fail_msg("no directory %s", dirs[i]);
		assert_int_equal(e->mode, S_IFDIR | 0755);
	}
	for (size_t i = 0; i < ARRAY_SIZE(mods); i++) {
		snprintf(name, sizeof(name), MODS "%s", mods[i].name);
		e = cpio_test_find(&a, name);
		if (!e)
			fail_msg("no module %s", name);
		assert_int_equal(e->mode, S_IFREG | 0644);
		module_bytes(buf, mods[i].len, mods[i].name);
		assert_int_equal(e->size, mods[i].len);
		assert_memory_equal(e->data, buf, mods[i].len);
	}
	/* Dependencies first, each once; builtin ext4 absent. */
	e = cpio_test_find(&a, INITRAMFS_LOAD_LIST);
	assert_non_null(e);
	assert_string_equal((char *)e->data, "/" MODS "kernel/fs/fuse/fuse.ko\n"
					     "/" MODS "kernel/drivers/virtio/virtio_ring.ko\n"
					     "/" MODS "kernel/drivers/virtio/virtio.ko\n"
					     "/" MODS "kernel/fs/fuse/virtiofs.ko\n"
					     "/" MODS "kernel/fs/overlayfs/overlay.ko\n");
	/* Nothing else: no compressed names, no stray files. */
	assert_int_equal(a.n, 1 + ARRAY_SIZE(dirs) + ARRAY_SIZE(mods) + 1);
	/* Every entry's parent comes before it. */
	for (size_t i = 0; i < a.n; i++) {
		char *slash = strrchr(a.e[i].name, '/');

		if (!slash)
			continue;
		*slash = '\0';
		for (size_t j = 0; j <= i; j++) {
			if (j == i)
				fail_msg("%s before its directory", a.e[i].name);
			if (!strcmp(a.e[j].name, a.e[i].name))
				break;
		}
		*slash = '/';
	}
	cpio_test_free(&a);
}

static void test_write(void **state)
{
	struct initramfs_spec s;
	struct initramfs_result r;
	struct tree t;
	char out[4300];
	int fd;

	tree_make(&t);
	spec_init(&s, &t, want_mods, ARRAY_SIZE(want_mods));
	snprintf(out, sizeof(out), "%s/out.cpio", t.root);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(initramfs_write(&s, fd, &r), 0);
	close(fd);
	check_archive(&t, out, "#!/bin/sh\necho agent v1\n");
	/* GNU cpio reads it too. */
	test_sh("cd '%s' && mkdir x && cd x && cpio -i --quiet < ../out.cpio && "
		"cmp init ../agent && test -s modules.load",
		t.root);
	test_rm_tree(t.root);
}

/* No modules: the agent alone, an empty list, and no modules.dep needed. */
static void test_no_modules(void **state)
{
	struct initramfs_spec s;
	struct initramfs_result r;
	struct cpio_archive a;
	struct tree t;

	tree_make(&t);
	spec_init(&s, &t, NULL, 0);
	s.modules_dir = "/nonexistent";
	assert_int_equal(initramfs_build(&s, &r), 0);
	cpio_test_parse_file(r.path, &a);
	assert_int_equal(cpio_test_find(&a, INITRAMFS_LOAD_LIST)->size, 0);
	assert_non_null(cpio_test_find(&a, "init"));
	cpio_test_free(&a);
	test_rm_tree(t.root);
}

static int count_entries(const char *dir, const char *prefix)
{
	struct dirent *d;
	DIR *dp = opendir(dir);
	int n = 0;

	assert_non_null(dp);
	while ((d = readdir(dp)))
		n += !strncmp(d->d_name, prefix, strlen(prefix));
	closedir(dp);
	return n;
}

static void test_cache(void **state)
{
	static const char *const other_mods[] = { "overlay" };
	struct initramfs_result r1, r2, r3;
	struct initramfs_spec s;
	struct stat st1, st2;
	struct tree t;

	tree_make(&t);
	spec_init(&s, &t, want_mods, ARRAY_SIZE(want_mods));
	/* Miss: written, the cache directory made on the way. */
	assert_int_equal(initramfs_build(&s, &r1), 0);
	assert_false(r1.cached);
	assert_int_equal(strncmp(r1.path, t.cache, strlen(t.cache)), 0);
	assert_non_null(strstr(r1.path, "/initramfs-"));
	assert_int_equal(strlen(strrchr(r1.path, '/')), strlen("/initramfs-.cpio") + 64);
	check_archive(&t, r1.path, "#!/bin/sh\necho agent v1\n");
	assert_int_equal(stat(r1.path, &st1), 0);
	assert_int_equal(st1.st_mode & 0777, 0644);
	/* Hit: the same file, untouched. */
	assert_int_equal(initramfs_build(&s, &r2), 0);
	assert_true(r2.cached);
	assert_string_equal(r2.path, r1.path);
	assert_int_equal(stat(r2.path, &st2), 0);
	assert_int_equal(st2.st_ino, st1.st_ino);
	assert_int_equal(st2.st_mtim.tv_sec, st1.st_mtim.tv_sec);
	assert_int_equal(st2.st_mtim.tv_nsec, st1.st_mtim.tv_nsec);
	assert_int_equal(count_entries(t.cache, "initramfs-"), 1);
	assert_int_equal(count_entries(t.cache, ".initramfs-"), 0);

	/* The agent changes: a miss, a new file, the old one left alone. */
	test_write_str(t.root, "agent", "#!/bin/sh\necho agent v2\n");
	assert_int_equal(initramfs_build(&s, &r3), 0);
	assert_false(r3.cached);
	assert_string_not_equal(r3.path, r1.path);
	check_archive(&t, r3.path, "#!/bin/sh\necho agent v2\n");
	check_archive(&t, r1.path, "#!/bin/sh\necho agent v1\n");
	assert_int_equal(initramfs_build(&s, &r3), 0);
	assert_true(r3.cached);

	/* Other modules, the same modules in another order, another release: misses. */
	spec_init(&s, &t, other_mods, 1);
	assert_int_equal(initramfs_build(&s, &r2), 0);
	assert_false(r2.cached);
	{
		static const char *const reordered[] = { "ext4", "virtiofs", "virtio-ring",
							 "overlay" };

		spec_init(&s, &t, reordered, 4);
		assert_int_equal(initramfs_build(&s, &r2), 0);
		assert_false(r2.cached);
	}
	spec_init(&s, &t, want_mods, ARRAY_SIZE(want_mods));
	s.release = "6.1.0-99-other";
	assert_int_equal(initramfs_build(&s, &r2), 0);
	assert_false(r2.cached);
	/* A rewritten modules.dep (a reinstalled kernel): a miss. */
	spec_init(&s, &t, want_mods, ARRAY_SIZE(want_mods));
	test_write_str(t.moddir, "modules.dep", tree_dep);
	assert_int_equal(initramfs_build(&s, &r2), 0);
	assert_false(r2.cached);
	assert_int_equal(count_entries(t.cache, "initramfs-"), 6);
	assert_int_equal(count_entries(t.cache, ".initramfs-"), 0);
	test_rm_tree(t.root);
}

/* A failed build leaves neither the archive nor its temporary file behind. */
static void test_failure_leaves_nothing(void **state)
{
	static const char *const broken[] = { "overlay", "broken" };
	static const char *const gone[] = { "gone" };
	struct initramfs_result r;
	struct initramfs_spec s;
	struct tree t;

	tree_make(&t);
	spec_init(&s, &t, broken, 2);
	assert_int_equal(initramfs_build(&s, &r), -EBADMSG);
	assert_non_null(strstr(r.error, "kernel/fs/bad/broken.ko.xz: corrupt compressed data"));
	assert_int_equal(count_entries(t.cache, ""), 2); /* "." and ".." */
	assert_int_equal(access(r.path, F_OK), -1);
	spec_init(&s, &t, gone, 1);
	assert_int_equal(initramfs_build(&s, &r), -ENOENT);
	assert_non_null(strstr(r.error, "kernel/fs/bad/gone.ko"));
	assert_int_equal(count_entries(t.cache, ""), 2);
	test_rm_tree(t.root);
}

/* Builds of one key at once: each succeeds, and one whole archive remains. */
static void test_concurrent(void **state)
{
	struct initramfs_result r;
	struct initramfs_spec s;
	pid_t pids[6];
	struct tree t;
	int st;

	tree_make(&t);
	spec_init(&s, &t, want_mods, ARRAY_SIZE(want_mods));
	for (size_t i = 0; i < ARRAY_SIZE(pids); i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct initramfs_result cr;

			_exit(initramfs_build(&s, &cr) == 0 ? 0 : 1);
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(pids); i++) {
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	assert_int_equal(initramfs_build(&s, &r), 0);
	assert_true(r.cached);
	check_archive(&t, r.path, "#!/bin/sh\necho agent v1\n");
	assert_int_equal(count_entries(t.cache, "initramfs-"), 1);
	assert_int_equal(count_entries(t.cache, ".initramfs-"), 0);
	test_rm_tree(t.root);
}

static void set_env(const char *name, const char *value)
{
	if (value)
		assert_int_equal(setenv(name, value, 1), 0);
	else
		assert_int_equal(unsetenv(name), 0);
}

static void test_cache_dir(void **state)
{
	char *saved[3], buf[64];
	static const char *const vars[] = { "KVMRUN_CACHE", "XDG_CACHE_HOME", "HOME" };

	for (int i = 0; i < 3; i++)
		saved[i] = getenv(vars[i]) ? strdup(getenv(vars[i])) : NULL;
	set_env("KVMRUN_CACHE", "/k");
	set_env("XDG_CACHE_HOME", "/x");
	set_env("HOME", "/h");
	assert_int_equal(initramfs_cache_dir(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/k/exec");
	set_env("KVMRUN_CACHE", "");
	assert_int_equal(initramfs_cache_dir(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/x/kvmrun/exec");
	/* A relative XDG_CACHE_HOME is ignored, as the XDG spec says. */
	set_env("XDG_CACHE_HOME", "rel");
	assert_int_equal(initramfs_cache_dir(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/h/.cache/kvmrun/exec");
	set_env("XDG_CACHE_HOME", NULL);
	assert_int_equal(initramfs_cache_dir(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/h/.cache/kvmrun/exec");
	assert_int_equal(initramfs_cache_dir(buf, 10), -ENAMETOOLONG);
	set_env("HOME", NULL);
	assert_int_equal(initramfs_cache_dir(buf, sizeof(buf)), -ENOENT);
	for (int i = 0; i < 3; i++) {
		set_env(vars[i], saved[i]);
		free(saved[i]);
	}
}

static void test_bad_spec(void **state)
{
	static const char *const bad_release[] = { "",     "..",   ".",     "a/b",
						   "../x", "/abs", "6.1 x", "6.1\nx" };
	static const char *const bad_names[] = { "a/b" };
	static const char *const missing[] = { "overlay", "nosuch" };
	const char *many[INITRAMFS_MODULES_MAX + 1];
	struct initramfs_result r;
	struct initramfs_spec s;
	struct tree t;

	tree_make(&t);
	spec_init(&s, &t, want_mods, ARRAY_SIZE(want_mods));
	s.agent = NULL;
	assert_int_equal(initramfs_build(&s, &r), -EINVAL);
	assert_non_null(strstr(r.error, "agent"));
	s.agent = "";
	assert_int_equal(initramfs_build(&s, &r), -EINVAL);
	s.agent = "/nonexistent/agent";
	assert_int_equal(initramfs_build(&s, &r), -ENOENT);
	assert_non_null(strstr(r.error, "/nonexistent/agent"));
	s.agent = t.root;
	assert_int_equal(initramfs_build(&s, &r), -EISDIR);
	/* An agent larger than INITRAMFS_AGENT_MAX (sparse), through either call. */
	{
		char big[4300], out[4300];
		int fd;

		test_sh("truncate -s %llu '%s/big-agent'", INITRAMFS_AGENT_MAX + 1, t.root);
		snprintf(big, sizeof(big), "%s/big-agent", t.root);
		s.agent = big;
		assert_int_equal(initramfs_build(&s, &r), -EFBIG);
		assert_non_null(strstr(r.error, "big-agent"));
		snprintf(out, sizeof(out), "%s/out.cpio", t.root);
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		assert_true(fd >= 0);
		assert_int_equal(initramfs_write(&s, fd, &r), -EFBIG);
		assert_non_null(strstr(r.error, "larger than 64 MiB"));
		close(fd);
	}
	spec_init(&s, &t, want_mods, ARRAY_SIZE(want_mods));
	s.release = NULL;
	assert_int_equal(initramfs_build(&s, &r), -EINVAL);
	for (size_t i = 0; i < ARRAY_SIZE(bad_release); i++) {
		s.release = bad_release[i];
		assert_int_equal(initramfs_build(&s, &r), -EINVAL);
		assert_non_null(strstr(r.error, "not a kernel release"));
	}
	spec_init(&s, &t, NULL, 1);
	assert_int_equal(initramfs_build(&s, &r), -EINVAL);
	for (size_t i = 0; i < ARRAY_SIZE(many); i++)
		many[i] = "overlay";
	spec_init(&s, &t, many, ARRAY_SIZE(many));
	assert_int_equal(initramfs_build(&s, &r), -E2BIG);
	spec_init(&s, &t, many, ARRAY_SIZE(many) - 1);
	assert_int_equal(initramfs_build(&s, &r), 0);
	spec_init(&s, &t, bad_names, 1);
	assert_int_equal(initramfs_build(&s, &r), -EINVAL);
	assert_non_null(strstr(r.error, "not a module name"));
	spec_init(&s, &t, missing, 2);
	assert_int_equal(initramfs_build(&s, &r), -ENOENT);
	assert_non_null(strstr(r.error, "nosuch"));
	spec_init(&s, &t, want_mods, 1);
	s.modules_dir = "/nonexistent/modules";
	assert_int_equal(initramfs_build(&s, &r), -ENOENT);
	assert_non_null(strstr(r.error, "/nonexistent/modules/modules.dep"));
	/* The cache directory cannot be made. */
	spec_init(&s, &t, want_mods, 1);
	s.cache_dir = "/dev/null/cache";
	assert_int_equal(initramfs_build(&s, &r), -ENOTDIR);
	assert_non_null(strstr(r.error, "/dev/null/cache"));
	test_rm_tree(t.root);
}

/* The default modules directory is /lib/modules/RELEASE. */
static void test_default_modules_dir(void **state)
{
	static const char *const one[] = { "overlay" };
	struct initramfs_result r;
	struct initramfs_spec s;
	struct tree t;

	tree_make(&t);
	spec_init(&s, &t, one, 1);
	s.modules_dir = NULL;
	s.release = "0.0.0-no-such-kernel";
	assert_int_equal(initramfs_build(&s, &r), -ENOENT);
	assert_non_null(strstr(r.error, "/lib/modules/0.0.0-no-such-kernel/modules.dep"));
	test_rm_tree(t.root);
}

/* Debian's modules, where scripts/fetch-guest-kernel cached them. */
static void test_real_modules(void **state)
{
	static const char *const names[] = { "virtiofs", "virtio_pci", "virtio_console", "overlay",
					      "vmw_vsock_virtio_transport" };
	char base[4096], path[4200], moddir[4300], *release;
	struct initramfs_result r;
	struct initramfs_spec s;
	struct cpio_archive a;
	const struct cpio_entry *e;
	struct tree t;
	size_t len;

	assert_true(test_cached_kernel("cloud", base, sizeof(base)));
	snprintf(path, sizeof(path), "%s/version", base);
	release = (char *)test_slurp(path, &len);
	release[strcspn(release, "\n")] = '\0';
	snprintf(moddir, sizeof(moddir), "%s/lib/modules/%s", base, release);
	tree_make(&t);
	spec_init(&s, &t, names, ARRAY_SIZE(names));
	s.release = release;
	s.modules_dir = moddir;
	assert_int_equal(initramfs_build(&s, &r), 0);
	cpio_test_parse_file(r.path, &a);
	e = cpio_test_find(&a, INITRAMFS_LOAD_LIST);
	assert_non_null(e);
	assert_non_null(strstr((char *)e->data, "/kernel/fs/fuse/virtiofs.ko\n"));
	assert_true(strstr((char *)e->data, "/fuse.ko\n") <
		    strstr((char *)e->data, "/virtiofs.ko\n"));
	/* Every listed module is in the archive, an ELF file. */
	for (char *line = (char *)e->data; *line;) {
		char *nl = strchr(line, '\n');
		const struct cpio_entry *m;

		*nl = '\0';
		m = cpio_test_find(&a, line + 1);
		if (!m)
			fail_msg("%s listed, not in the archive", line);
		assert_memory_equal(m->data, "\177ELF", 4);
		line = nl + 1;
	}
	cpio_test_free(&a);
	free(release);
	test_rm_tree(t.root);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write),
		cmocka_unit_test(test_no_modules),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_failure_leaves_nothing),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_cache_dir),
		cmocka_unit_test(test_bad_spec),
		cmocka_unit_test(test_default_modules_dir),
	};
	const struct CMUnitTest cached[] = {
		cmocka_unit_test(test_real_modules),
	};

	return test_main_cached(argc, argv, tests, ARRAY_SIZE(tests), cached, ARRAY_SIZE(cached),
				"cloud");
}
