// SPDX-License-Identifier: Apache-2.0
/*
 * modules.dep resolution on crafted module trees: load order, each module once,
 * '-' and '_' as one, built-in modules, and every malformed file or name
 * refused with a message naming the module or line. And on a real Debian
 * modules directory where one is cached.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "exec_fixture.h"

#include "exec/moddep.h"

/* Shaped like Debian 6.1's: virtiofs needs fuse and virtio, virtio_pci its two helpers. */
static const char tree_dep[] =
	"kernel/fs/fuse/virtiofs.ko.xz: kernel/drivers/virtio/virtio.ko "
	"kernel/drivers/virtio/virtio_ring.ko kernel/fs/fuse/fuse.ko.zst\n"
	"kernel/fs/fuse/fuse.ko.zst:\n"
	"kernel/drivers/virtio/virtio_ring.ko:\n"
	"kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko\n"
	"kernel/drivers/virtio/virtio_pci-legacy-dev.ko:\n"
	"kernel/drivers/virtio/virtio_pci_modern_dev.ko:\n"
	"kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci-legacy-dev.ko "
	"kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko "
	"kernel/drivers/virtio/virtio_ring.ko\n"
	"kernel/drivers/char/virtio_console.ko: kernel/drivers/virtio/virtio.ko "
	"kernel/drivers/virtio/virtio_ring.ko\n"
	"\n"
	"kernel/fs/overlayfs/overlay.ko:\n";

static const char tree_builtin[] = "kernel/fs/ext4/ext4.ko\nkernel/drivers/char/virtio-rng.ko\n";

/* Resolves @names in @dep (+ @builtin) and compares the paths with @want (NULL-terminated). */
static void expect_order(const char *dep, const char *builtin, const char *const *names,
			 size_t n, const char *const *want)
{
	struct moddep_list list;
	struct moddep md;
	size_t k = 0;

	assert_int_equal(moddep_parse(&md, dep, strlen(dep), builtin,
				      builtin ? strlen(builtin) : 0),
			 0);
	assert_int_equal(moddep_resolve(&md, names, n, &list), 0);
	for (; want[k]; k++) {
		assert_true(k < list.n);
		assert_string_equal(list.paths[k], want[k]);
	}
	assert_int_equal(list.n, k);
	moddep_list_free(&list);
	moddep_free(&md);
}

/* Resolving @names fails with @err and a message containing @msg. */
static void expect_error(const char *dep, const char *builtin, const char *const *names,
			 size_t n, int err, const char *msg)
{
	struct moddep_list list = { (const char **)1, 99 };
	struct moddep md;

	assert_int_equal(moddep_parse(&md, dep, strlen(dep), builtin,
				      builtin ? strlen(builtin) : 0),
			 0);
	assert_int_equal(moddep_resolve(&md, names, n, &list), err);
	assert_null(list.paths);
	assert_int_equal(list.n, 0);
	if (!strstr(md.error, msg))
		fail_msg("error '%s' does not say '%s'", md.error, msg);
	moddep_free(&md);
}

/* Parsing fails with @err and a message containing @msg. */
static void expect_parse_error(const char *dep, size_t len, const char *builtin, int err,
			       const char *msg)
{
	struct moddep md;

	assert_int_equal(moddep_parse(&md, dep, len, builtin, builtin ? strlen(builtin) : 0),
			 err);
	if (!strstr(md.error, msg))
		fail_msg("error '%s' does not say '%s'", md.error, msg);
	moddep_free(&md);
}

static void test_order(void **state)
{
	static const char *const names[] = { "virtiofs" };
	static const char *const want[] = {
		"kernel/fs/fuse/fuse.ko.zst", "kernel/drivers/virtio/virtio_ring.ko",
		"kernel/drivers/virtio/virtio.ko", "kernel/fs/fuse/virtiofs.ko.xz", NULL
	};

	expect_order(tree_dep, tree_builtin, names, 1, want);
}

/* Modules several ask for come once, at the first place needed. */
static void test_each_once(void **state)
{
	static const char *const names[] = { "virtio_pci", "virtiofs", "virtio_console",
					      "overlay", "virtio_pci", "virtiofs" };
	static const char *const want[] = { "kernel/drivers/virtio/virtio_ring.ko",
					    "kernel/drivers/virtio/virtio.ko",
					    "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
					    "kernel/drivers/virtio/virtio_pci-legacy-dev.ko",
					    "kernel/drivers/virtio/virtio_pci.ko",
					    "kernel/fs/fuse/fuse.ko.zst",
					    "kernel/fs/fuse/virtiofs.ko.xz",
					    "kernel/drivers/char/virtio_console.ko",
					    "kernel/fs/overlayfs/overlay.ko",
					    NULL };

	expect_order(tree_dep, tree_builtin, names, ARRAY_SIZE(names), want);
}

/* Each module after everything it needs, whatever order modules.dep lists them in. */
static void test_deep_chain(void **state)
{
	static const char dep[] = "d/a.ko: d/b.ko d/c.ko d/e.ko\n"
				  "d/e.ko:\n"
				  "d/b.ko: d/c.ko d/e.ko\n"
				  "d/c.ko: d/e.ko\n";
	static const char *const names[] = { "a" };
	static const char *const want[] = { "d/e.ko", "d/c.ko", "d/b.ko", "d/a.ko", NULL };

	expect_order(dep, NULL, names, 1, want);
}

static void test_dash_underscore(void **state)
{
	static const char *const names[] = { "virtio-pci-legacy_dev", "virtio_pci-modern-dev" };
	static const char *const want[] = { "kernel/drivers/virtio/virtio_pci-legacy-dev.ko",
					    "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
					    NULL };
	char name[MODDEP_NAME_MAX + 1];

	expect_order(tree_dep, NULL, names, 2, want);
	assert_int_equal(moddep_name_of("a/b/virtio_pci-legacy-dev.ko.zst", name, sizeof(name)),
			 21);
	assert_string_equal(name, "virtio_pci_legacy_dev");
	assert_int_equal(moddep_name_of("x.ko", name, sizeof(name)), 1);
	assert_int_equal(moddep_name_of("x.ko.gz", name, sizeof(name)), 1);
	assert_int_equal(moddep_name_of("x.ko", name, 1), -ENAMETOOLONG);
	assert_int_equal(moddep_name_of(".ko", name, sizeof(name)), -EINVAL);
	assert_int_equal(moddep_name_of("x.o", name, sizeof(name)), -EINVAL);
	assert_int_equal(moddep_name_of("x.ko.bz2", name, sizeof(name)), -EINVAL);
	assert_int_equal(moddep_name_of("a.b.ko", name, sizeof(name)), -EINVAL);
}

/* A built-in module needs nothing, and is not a file to load. */
static void test_builtin(void **state)
{
	static const char *const names[] = { "ext4", "virtio-rng", "overlay" };
	static const char *const want[] = { "kernel/fs/overlayfs/overlay.ko", NULL };
	static const char *const only[] = { "ext4" };
	static const char *const none[] = { NULL };

	expect_order(tree_dep, tree_builtin, names, 3, want);
	expect_order(tree_dep, tree_builtin, only, 1, none);
	/* Without modules.builtin the same name is missing. */
	expect_error(tree_dep, NULL, only, 1, -ENOENT, "ext4");
	/* Nothing asked, nothing to load. */
	expect_order(tree_dep, tree_builtin, only, 0, none);
}

static void test_missing(void **state)
{
	static const char *const names[] = { "overlay", "nosuch-mod" };
	static const char dep[] = "m/a.ko: m/b.ko\nm/c.ko:\n";
	static const char *const a[] = { "a" };

	expect_error(tree_dep, tree_builtin, names, 2, -ENOENT, "nosuch_mod");
	/* A dependency that has no line of its own. */
	expect_error(dep, NULL, a, 1, -ENOENT, "a needs m/b.ko, which has no entry");
}

/* An optional name: loaded when the kernel has it, as a module or built in; else left out. */
static void test_optional(void **state)
{
	static const char *const absent[] = { "overlay", "?pvpanic-mmio", "?nosuch" };
	static const char *const present[] = { "?overlay", "?virtio_console", "?ext4" };
	static const char *const only_absent[] = { "?pvpanic_mmio" };
	static const char *const required[] = { "pvpanic-mmio" };
	static const char *const bad[] = { "?" };
	static const char *const bad2[] = { "??overlay" };
	static const char *const want_absent[] = { "kernel/fs/overlayfs/overlay.ko", NULL };
	static const char *const want_present[] = {
		"kernel/fs/overlayfs/overlay.ko", "kernel/drivers/virtio/virtio_ring.ko",
		"kernel/drivers/virtio/virtio.ko", "kernel/drivers/char/virtio_console.ko", NULL
	};
	static const char *const none[] = { NULL };

	expect_order(tree_dep, tree_builtin, absent, 3, want_absent);
	expect_order(tree_dep, tree_builtin, present, 3, want_present);
	expect_order(tree_dep, NULL, only_absent, 1, none);
	/* Without the marker the same name is an error. */
	expect_error(tree_dep, tree_builtin, required, 1, -ENOENT, "pvpanic_mmio");
	/* The marker is not part of a name, and comes once. */
	expect_error(tree_dep, tree_builtin, bad, 1, -EINVAL, "not a module name");
	expect_error(tree_dep, tree_builtin, bad2, 1, -EINVAL, "not a module name");
}

static void test_cycle(void **state)
{
	static const char two[] = "m/a.ko: m/b.ko\nm/b.ko: m/a.ko\n";
	static const char self[] = "m/a.ko: m/a.ko\n";
	static const char three[] = "m/x.ko: m/a.ko\nm/a.ko: m/b.ko\nm/b.ko: m/c.ko\n"
				    "m/c.ko: m/a.ko\n";
	static const char *const a[] = { "a" };
	static const char *const x[] = { "x" };

	expect_error(two, NULL, a, 1, -ELOOP, "a -> b -> a");
	expect_error(self, NULL, a, 1, -ELOOP, "a -> a");
	expect_error(three, NULL, x, 1, -ELOOP, "a -> b -> c -> a");
}

static void test_bad_names(void **state)
{
	static const char *const bad[] = { "", "a/b", "virtio pci", "../fuse", "fuse.ko", "é" };
	char long_name[MODDEP_NAME_MAX + 2];
	const char *one[1];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		one[0] = bad[i];
		expect_error(tree_dep, tree_builtin, one, 1, -EINVAL, "not a module name");
	}
	one[0] = NULL;
	expect_error(tree_dep, tree_builtin, one, 1, -EINVAL, "not a module name");
	memset(long_name, 'a', sizeof(long_name));
	long_name[MODDEP_NAME_MAX + 1] = '\0';
	one[0] = long_name;
	expect_error(tree_dep, tree_builtin, one, 1, -EINVAL, "not a module name");
	long_name[MODDEP_NAME_MAX] = '\0';
	expect_error(tree_dep, tree_builtin, one, 1, -ENOENT, "neither");
}

static void test_malformed(void **state)
{
	static const struct {
		const char *text, *msg;
		int err;
	} bad[] = {
		{ "m/a.ko m/b.ko\n", "line 1: no ':'", -EBADMSG },
		{ "m/a.ko:\nm/b.ko\n", "line 2: no ':'", -EBADMSG },
		{ ": m/b.ko\n", "line 1: not a module path", -EBADMSG },
		{ "m/a.ko m/c.ko: m/b.ko\n", "line 1: not a module path", -EBADMSG },
		{ "/lib/modules/6.1/m/a.ko:\n", "line 1: not a module path", -EBADMSG },
		{ "../a.ko:\n", "line 1: not a module path", -EBADMSG },
		{ "m/../../a.ko:\n", "line 1: not a module path", -EBADMSG },
		{ "m//a.ko:\n", "line 1: not a module path", -EBADMSG },
		{ "m/a.o:\n", "line 1: not a module path", -EBADMSG },
		{ "m/a.ko: m/b.o\n", "line 1: not a module path", -EBADMSG },
		{ "m/a.ko: /m/b.ko\n", "line 1: not a module path", -EBADMSG },
		{ "m/a.ko: ./b.ko\n", "line 1: not a module path", -EBADMSG },
		{ "m/a.ko:\nm/a.ko:\n", "module a twice", -EBADMSG },
		{ "m/a-b.ko:\nn/a_b.ko.xz:\n", "module a_b twice", -EBADMSG },
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		expect_parse_error(bad[i].text, strlen(bad[i].text), NULL, bad[i].err, bad[i].msg);
	/* A NUL inside the text. */
	expect_parse_error("m/a.ko:\0\n", 9, NULL, -EBADMSG, "NUL");
	/* modules.builtin: paths only. */
	expect_parse_error("m/a.ko:\n", 8, "kernel/a.ko: x\n", -EBADMSG,
			   "modules.builtin line 1");
	expect_parse_error("m/a.ko:\n", 8, "kernel/a.ko\n../b.ko\n", -EBADMSG,
			   "modules.builtin line 2");
	/* Empty files are fine; comments and blank lines too. */
	{
		struct moddep md;

		assert_int_equal(moddep_parse(&md, "m/a.ko:\n", 8, "kernel/a.ko\0", 12), -EBADMSG);
		assert_non_null(strstr(md.error, "modules.builtin: a NUL"));
		moddep_free(&md);

		assert_int_equal(moddep_parse(&md, "", 0, "", 0), 0);
		assert_int_equal(md.nmods, 0);
		moddep_free(&md);
		assert_int_equal(moddep_parse(&md, "# c\n\n  \nm/a.ko:\r\n", 17, "# x\n\n", 5), 0);
		assert_int_equal(md.nmods, 1);
		moddep_free(&md);
	}
}

static void test_limits(void **state)
{
	size_t size = 16 + (MODDEP_DEPS_MAX + 1) * 16;
	char *text = malloc(size), *p = text;
	struct moddep md;

	assert_non_null(text);
	p += sprintf(p, "m/a.ko:");
	for (int i = 0; i < MODDEP_DEPS_MAX; i++)
		p += sprintf(p, " m/d%d.ko", i);
	assert_int_equal(moddep_parse(&md, text, (size_t)(p - text), NULL, 0), 0);
	moddep_free(&md);
	p += sprintf(p, " m/x.ko");
	expect_parse_error(text, (size_t)(p - text), NULL, -E2BIG, "more than 1024 dependencies");
	free(text);

	/* Too many modules. */
	size = (MODDEP_MODULES_MAX + 1) * 16;
	text = malloc(size);
	assert_non_null(text);
	p = text;
	for (int i = 0; i <= MODDEP_MODULES_MAX; i++)
		p += sprintf(p, "m/%d.ko:\n", i);
	expect_parse_error(text, (size_t)(p - text), NULL, -E2BIG, "more than 65536 modules");
	p = text;
	for (int i = 0; i <= MODDEP_MODULES_MAX; i++)
		p += sprintf(p, "m/%d.ko\n", i);
	expect_parse_error("", 0, text, -E2BIG, "modules.builtin: more than 65536 modules");
	free(text);

	/* A file too large, refused before it is looked at. */
	expect_parse_error("m/a.ko:\n", MODDEP_FILE_MAX + 1, NULL, -EFBIG, "larger than");
	/* A path of MODDEP_PATH_MAX bytes, and one byte more. */
	text = malloc(MODDEP_PATH_MAX + 16);
	assert_non_null(text);
	for (size_t i = 0; i < MODDEP_PATH_MAX; i++)
		text[i] = i % 3 == 2 ? '/' : 'd';
	memcpy(text + MODDEP_PATH_MAX - 4, "a.ko:", 6);
	assert_int_equal(moddep_parse(&md, text, MODDEP_PATH_MAX + 1, NULL, 0), 0);
	assert_int_equal(strlen(md.mods[0].path), MODDEP_PATH_MAX);
	assert_string_equal(md.mods[0].name, "a");
	moddep_free(&md);
	memcpy(text + MODDEP_PATH_MAX - 3, "a.ko:", 6);
	expect_parse_error(text, MODDEP_PATH_MAX + 2, NULL, -EBADMSG, "not a module path");
	free(text);
}

static void test_load_dir(void **state)
{
	static const char *const names[] = { "virtio_console", "ext4" };
	struct moddep_list list;
	char dir[4096], sub[4200];
	struct moddep md;

	test_mkdtemp(dir, sizeof(dir), "moddep");
	/* No modules.dep. */
	assert_int_equal(moddep_load(&md, dir), -ENOENT);
	assert_non_null(strstr(md.error, "/modules.dep"));
	moddep_free(&md);
	test_write_str(dir, "modules.dep", tree_dep);
	/* No modules.builtin: fine, nothing is built in. */
	assert_int_equal(moddep_load(&md, dir), 0);
	assert_int_equal(md.nbuiltin, 0);
	moddep_free(&md);
	test_write_str(dir, "modules.builtin", tree_builtin);
	assert_int_equal(moddep_load(&md, dir), 0);
	assert_int_equal(md.nmods, 9);
	assert_int_equal(md.nbuiltin, 2);
	assert_int_equal(moddep_resolve(&md, names, 2, &list), 0);
	assert_int_equal(list.n, 3);
	assert_string_equal(list.paths[2], "kernel/drivers/char/virtio_console.ko");
	moddep_list_free(&list);
	moddep_free(&md);
	/* A malformed file: the message names the directory and line. */
	test_write_str(dir, "modules.dep", "kernel/a.ko:\nbad\n");
	assert_int_equal(moddep_load(&md, dir), -EBADMSG);
	snprintf(sub, sizeof(sub), "%s/modules.dep line 2: no ':'", dir);
	assert_string_equal(md.error, sub);
	moddep_free(&md);
	/* modules.dep a directory; the modules dir missing. */
	test_sh("rm '%s/modules.dep' && mkdir '%s/modules.dep'", dir, dir);
	assert_int_equal(moddep_load(&md, dir), -EISDIR);
	moddep_free(&md);
	snprintf(sub, sizeof(sub), "%s/nosuch", dir);
	assert_int_equal(moddep_load(&md, sub), -ENOENT);
	assert_non_null(strstr(md.error, "nosuch/modules.dep"));
	moddep_free(&md);
	test_rm_tree(dir);
}

/* Debian's modules directory, fetched by scripts/fetch-guest-kernel, where cached. */
static void test_real_modules(void **state)
{
	static const char *const names[] = { "virtiofs", "virtio_pci", "virtio_console", "overlay",
					      "vmw_vsock_virtio_transport" };
	char base[4096], path[4200], *release;
	struct moddep_list list;
	struct moddep md;
	size_t len, fuse = 0, virtiofs = 0;

	assert_true(test_cached_kernel("cloud", base, sizeof(base)));
	snprintf(path, sizeof(path), "%s/version", base);
	release = (char *)test_slurp(path, &len);
	release[strcspn(release, "\n")] = '\0';
	snprintf(path, sizeof(path), "%s/lib/modules/%s", base, release);
	free(release);
	assert_int_equal(moddep_load(&md, path), 0);
	assert_true(md.nmods > 100);
	assert_int_equal(moddep_resolve(&md, names, ARRAY_SIZE(names), &list), 0);
	for (size_t i = 0; i < list.n; i++) {
		if (strstr(list.paths[i], "/fuse.ko"))
			fuse = i + 1;
		if (strstr(list.paths[i], "/virtiofs.ko"))
			virtiofs = i + 1;
		/* Each once. */
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(list.paths[i], list.paths[j]);
	}
	assert_true(fuse && virtiofs && fuse < virtiofs);
	assert_true(strstr(list.paths[list.n - 1], "vmw_vsock_virtio_transport.ko"));
	moddep_list_free(&list);
	moddep_free(&md);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),	     cmocka_unit_test(test_each_once),
		cmocka_unit_test(test_deep_chain),  cmocka_unit_test(test_dash_underscore),
		cmocka_unit_test(test_builtin),     cmocka_unit_test(test_missing),
		cmocka_unit_test(test_optional),
		cmocka_unit_test(test_cycle),	     cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_malformed),   cmocka_unit_test(test_limits),
		cmocka_unit_test(test_load_dir),
	};
	const struct CMUnitTest cached[] = {
		cmocka_unit_test(test_real_modules),
	};

	return test_main_cached(argc, argv, tests, ARRAY_SIZE(tests), cached, ARRAY_SIZE(cached),
				"cloud");
}
