// SPDX-License-Identifier: Apache-2.0
/* modules.dep and modules.builtin: which files to load, in which order. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec/file.h"
#include "exec/moddep.h"

static const char *const moddep_suffixes[] = { ".ko", ".ko.xz", ".ko.zst", ".ko.gz" };

PRINTF_FMT(2, 3) static void moddep_error(struct moddep *md, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(md->error, sizeof(md->error), fmt, ap);
	va_end(ap);
}

static int moddep_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

int moddep_name_of(const char *path, char *name, size_t size)
{
	const char *base = strrchr(path, '/');
	size_t len, n = 0;

	base = base ? base + 1 : path;
	len = strlen(base);
	for (size_t i = 0; i < ARRAY_SIZE(moddep_suffixes); i++) {
		size_t sl = strlen(moddep_suffixes[i]);

		if (len > sl && !strcmp(base + len - sl, moddep_suffixes[i])) {
			n = len - sl;
			break;
		}
	}
	if (!n)
		return -EINVAL;
	if (n > MODDEP_NAME_MAX || n >= size)
		return -ENAMETOOLONG;
	for (size_t i = 0; i < n; i++) {
		if (!moddep_name_char(base[i]))
			return -EINVAL;
		name[i] = base[i] == '-' ? '_' : base[i];
	}
	name[n] = '\0';
	return (int)n;
}

/* A relative path without empty, "." or ".." components, naming a module file. */
static int moddep_check_path(const char *path)
{
	char name[MODDEP_NAME_MAX + 1];
	const char *c = path;

	if (strlen(path) > MODDEP_PATH_MAX)
		return -ENAMETOOLONG;
	if (*path == '/')
		return -EINVAL;
	while (*c) {
		size_t n = strcspn(c, "/");

		if (!n || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return -EINVAL;
		c += n;
		if (*c && !*++c)
			return -EINVAL;
	}
	return moddep_name_of(path, name, sizeof(name)) < 0 ? -EINVAL : 0;
}

static int moddep_cmp_path(const void *a, const void *b)
{
	return strcmp((*(struct moddep_entry *const *)a)->path,
		      (*(struct moddep_entry *const *)b)->path);
}

static int moddep_cmp_name(const void *a, const void *b)
{
	return strcmp((*(struct moddep_entry *const *)a)->name,
		      (*(struct moddep_entry *const *)b)->name);
}

static int moddep_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static struct moddep_entry *moddep_find(struct moddep_entry **view, size_t n, const char *key,
					int by_name)
{
	struct moddep_entry k = { .path = key, .name = key }, *kp = &k, **hit;

	hit = bsearch(&kp, view, n, sizeof(*view), by_name ? moddep_cmp_name : moddep_cmp_path);
	return hit ? *hit : NULL;
}

/* A NUL-terminated copy of @len bytes of text, refusing text with a NUL inside. */
static char *moddep_copy_text(const char *text, size_t len)
{
	char *copy;

	if (memchr(text, '\0', len))
		return NULL;
	copy = malloc(len + 1);
	if (copy) {
		memcpy(copy, text, len);
		copy[len] = '\0';
	}
	return copy;
}

static int moddep_grow(void *arrayp, size_t *cap, size_t need, size_t elem)
{
	void **array = arrayp;
	size_t ncap = *cap ? *cap : 64;
	void *p;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	p = realloc(*array, ncap * elem);
	if (!p)
		return -ENOMEM;
	*array = p;
	*cap = ncap;
	return 0;
}

/* Cuts the next whitespace-separated word out of *@cur, or returns NULL at the end. */
static char *moddep_word(char **cur)
{
	char *w = *cur + strspn(*cur, " \t\r"), *e;

	if (!*w)
		return NULL;
	e = w + strcspn(w, " \t\r");
	if (*e)
		*e++ = '\0';
	*cur = e;
	return w;
}

static int moddep_parse_line(struct moddep *md, char *line, unsigned int lineno, char *names,
			     size_t *names_used, size_t *mods_cap, size_t *deps_cap)
{
	struct moddep_entry *e;
	char *colon = strchr(line, ':'), *path, *rest, *dep;
	int n;

	if (!colon) {
		moddep_error(md, "modules.dep line %u: no ':'", lineno);
		return -EBADMSG;
	}
	*colon = '\0';
	rest = line;
	path = moddep_word(&rest);
	if (!path || moddep_word(&rest) || moddep_check_path(path)) {
		moddep_error(md, "modules.dep line %u: not a module path", lineno);
		return -EBADMSG;
	}
	if (md->nmods >= MODDEP_MODULES_MAX) {
		moddep_error(md, "modules.dep: more than %u modules", MODDEP_MODULES_MAX);
		return -E2BIG;
	}
	if (moddep_grow(&md->mods, mods_cap, md->nmods + 1, sizeof(*md->mods)))
		return -ENOMEM;
	e = &md->mods[md->nmods];
	e->path = path;
	e->name = names + *names_used;
	n = moddep_name_of(path, names + *names_used, MODDEP_NAME_MAX + 1);
	*names_used += (size_t)n + 1;
	e->first_dep = (unsigned int)md->ndeps;
	e->ndeps = 0;
	rest = colon + 1;
	while ((dep = moddep_word(&rest))) {
		if (moddep_check_path(dep)) {
			moddep_error(md, "modules.dep line %u: not a module path", lineno);
			return -EBADMSG;
		}
		if (e->ndeps >= MODDEP_DEPS_MAX) {
			moddep_error(md, "modules.dep line %u: more than %u dependencies", lineno,
				     MODDEP_DEPS_MAX);
			return -E2BIG;
		}
		if (moddep_grow(&md->deps, deps_cap, md->ndeps + 1, sizeof(*md->deps)))
			return -ENOMEM;
		md->deps[md->ndeps++] = dep;
		e->ndeps++;
	}
	md->nmods++;
	return 0;
}

static int moddep_parse_dep(struct moddep *md, const char *dep, size_t dep_len)
{
	size_t mods_cap = 0, deps_cap = 0, names_used = 0;
	unsigned int lineno = 0;
	char *names, *line, *next;
	int ret;

	if (dep_len > MODDEP_FILE_MAX) {
		moddep_error(md, "modules.dep: larger than %llu bytes", MODDEP_FILE_MAX);
		return -EFBIG;
	}
	md->text = moddep_copy_text(dep, dep_len);
	if (!md->text) {
		moddep_error(md, "modules.dep: a NUL byte, or out of memory");
		return -EBADMSG;
	}
	/* Each name is shorter than its path: the text's size bounds them all. */
	names = malloc(dep_len + 1);
	if (!names)
		return -ENOMEM;
	md->names = names;
	for (line = md->text; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		if (!line[strspn(line, " \t\r")] || line[0] == '#')
			continue;
		ret = moddep_parse_line(md, line, lineno, names, &names_used, &mods_cap, &deps_cap);
		if (ret)
			return ret;
	}
	md->by_path = malloc((md->nmods + 1) * sizeof(*md->by_path));
	md->by_name = malloc((md->nmods + 1) * sizeof(*md->by_name));
	if (!md->by_path || !md->by_name)
		return -ENOMEM;
	for (size_t i = 0; i < md->nmods; i++)
		md->by_path[i] = md->by_name[i] = &md->mods[i];
	qsort(md->by_path, md->nmods, sizeof(*md->by_path), moddep_cmp_path);
	qsort(md->by_name, md->nmods, sizeof(*md->by_name), moddep_cmp_name);
	for (size_t i = 1; i < md->nmods; i++) {
		if (!strcmp(md->by_name[i - 1]->name, md->by_name[i]->name)) {
			moddep_error(md, "modules.dep: module %s twice (%s, %s)",
				     md->by_name[i]->name, md->by_name[i - 1]->path,
				     md->by_name[i]->path);
			return -EBADMSG;
		}
	}
	return 0;
}

static int moddep_parse_builtin(struct moddep *md, const char *text, size_t len)
{
	unsigned int lineno = 0;
	size_t cap = 0;
	char *line, *next;

	if (len > MODDEP_FILE_MAX) {
		moddep_error(md, "modules.builtin: larger than %llu bytes", MODDEP_FILE_MAX);
		return -EFBIG;
	}
	md->builtin_text = moddep_copy_text(text, len);
	if (!md->builtin_text) {
		moddep_error(md, "modules.builtin: a NUL byte, or out of memory");
		return -EBADMSG;
	}
	for (line = md->builtin_text; line; line = next) {
		char *rest = line, *path;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		path = moddep_word(&rest);
		if (!path || path[0] == '#')
			continue;
		if (moddep_word(&rest) || moddep_check_path(path)) {
			moddep_error(md, "modules.builtin line %u: not a module path", lineno);
			return -EBADMSG;
		}
		if (md->nbuiltin >= MODDEP_MODULES_MAX) {
			moddep_error(md, "modules.builtin: more than %u modules",
				     MODDEP_MODULES_MAX);
			return -E2BIG;
		}
		if (moddep_grow(&md->builtin, &cap, md->nbuiltin + 1, sizeof(*md->builtin)))
			return -ENOMEM;
		/* The name is no longer than the path: write it over the path's start. */
		moddep_name_of(path, line, (size_t)(rest - line));
		md->builtin[md->nbuiltin++] = line;
	}
	if (md->nbuiltin)
		qsort(md->builtin, md->nbuiltin, sizeof(*md->builtin), moddep_cmp_str);
	return 0;
}

int moddep_parse(struct moddep *md, const char *dep, size_t dep_len, const char *builtin,
		 size_t builtin_len)
{
	int ret;

	memset(md, 0, sizeof(*md));
	ret = moddep_parse_dep(md, dep, dep_len);
	if (!ret && builtin)
		ret = moddep_parse_builtin(md, builtin, builtin_len);
	if (ret == -ENOMEM)
		moddep_error(md, "out of memory");
	return ret;
}

/* Reads all of @dir/@file (at most MODDEP_FILE_MAX bytes) into a new buffer. */
static int moddep_read(struct moddep *md, const char *dir, const char *file, char **out,
		       size_t *len)
{
	char path[4096];
	int ret;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path)) {
		moddep_error(md, "%s: path too long", dir);
		return -ENAMETOOLONG;
	}
	ret = exec_read_file(path, MODDEP_FILE_MAX, (void **)out, len);
	if (ret)
		moddep_error(md, "%s: %s", path, strerror(-ret));
	return ret;
}

int moddep_load(struct moddep *md, const char *dir)
{
	char *dep = NULL, *builtin = NULL, error[sizeof(md->error)];
	size_t dep_len = 0, builtin_len = 0;
	int ret;

	memset(md, 0, sizeof(*md));
	ret = moddep_read(md, dir, "modules.dep", &dep, &dep_len);
	if (ret)
		return ret;
	ret = moddep_read(md, dir, "modules.builtin", &builtin, &builtin_len);
	if (ret && ret != -ENOENT) {
		free(dep);
		return ret;
	}
	ret = moddep_parse(md, dep, dep_len, builtin, builtin_len);
	if (ret) {
		/* Name the directory too. */
		snprintf(error, sizeof(error), "%s", md->error);
		moddep_error(md, "%s/%s", dir, error);
	}
	free(dep);
	free(builtin);
	return ret;
}

void moddep_free(struct moddep *md)
{
	free(md->text);
	free(md->builtin_text);
	free(md->names);
	free(md->mods);
	free(md->by_path);
	free(md->by_name);
	free(md->deps);
	free(md->builtin);
	md->text = md->builtin_text = md->names = NULL;
	md->mods = NULL;
	md->by_path = md->by_name = NULL;
	md->deps = md->builtin = NULL;
	md->nmods = md->ndeps = md->nbuiltin = 0;
}

void moddep_list_free(struct moddep_list *list)
{
	free(list->paths);
	list->paths = NULL;
	list->n = 0;
}

/* Normalises a requested name into @out: letters, digits, '-' and '_', nothing else. */
static int moddep_norm_name(const char *name, char *out)
{
	size_t n = strnlen(name, MODDEP_NAME_MAX + 1);

	if (!n || n > MODDEP_NAME_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!moddep_name_char(name[i]))
			return -EINVAL;
		out[i] = name[i] == '-' ? '_' : name[i];
	}
	out[n] = '\0';
	return 0;
}

/* One module on the walk's stack, and how many of its dependencies are left. */
struct moddep_frame {
	struct moddep_entry *e;
	unsigned int left;
};

enum { MODDEP_NEW, MODDEP_ON_STACK, MODDEP_DONE };

/* Names the cycle: the modules on the stack from @e's frame up, then @e again. */
static void moddep_cycle_error(struct moddep *md, const struct moddep_frame *stack, size_t top,
			       const struct moddep_entry *e)
{
	size_t i = 0, used;

	while (i < top && stack[i].e != e)
		i++;
	used = (size_t)snprintf(md->error, sizeof(md->error), "modules.dep: a dependency cycle:");
	for (; i < top && used < sizeof(md->error); i++)
		used += (size_t)snprintf(md->error + used, sizeof(md->error) - used, " %s ->",
					 stack[i].e->name);
	if (used < sizeof(md->error))
		snprintf(md->error + used, sizeof(md->error) - used, " %s", e->name);
}

/* Appends @root and what it needs, depth first, each after its dependencies. */
static int moddep_walk(struct moddep *md, struct moddep_entry *root, unsigned char *state,
		       struct moddep_frame *stack, struct moddep_list *out)
{
	size_t top = 0;

	if (state[root - md->mods] == MODDEP_DONE)
		return 0;
	state[root - md->mods] = MODDEP_ON_STACK;
	stack[top++] = (struct moddep_frame){ root, root->ndeps };
	while (top) {
		struct moddep_frame *f = &stack[top - 1];
		struct moddep_entry *dep;
		const char *path;

		if (!f->left) {
			state[f->e - md->mods] = MODDEP_DONE;
			out->paths[out->n++] = f->e->path;
			top--;
			continue;
		}
		/* The last listed first, as modprobe loads them. */
		path = md->deps[f->e->first_dep + --f->left];
		dep = moddep_find(md->by_path, md->nmods, path, 0);
		if (!dep) {
			moddep_error(md, "modules.dep: %s needs %s, which has no entry", f->e->name,
				     path);
			return -ENOENT;
		}
		if (state[dep - md->mods] == MODDEP_DONE)
			continue;
		if (state[dep - md->mods] == MODDEP_ON_STACK) {
			moddep_cycle_error(md, stack, top, dep);
			return -ELOOP;
		}
		state[dep - md->mods] = MODDEP_ON_STACK;
		stack[top++] = (struct moddep_frame){ dep, dep->ndeps };
	}
	return 0;
}

int moddep_resolve(struct moddep *md, const char *const *names, size_t nnames,
		   struct moddep_list *out)
{
	char name[MODDEP_NAME_MAX + 1];
	struct moddep_frame *stack;
	unsigned char *state;
	int ret = 0;

	out->n = 0;
	out->paths = malloc((md->nmods + 1) * sizeof(*out->paths));
	state = calloc(md->nmods + 1, 1);
	stack = malloc((md->nmods + 1) * sizeof(*stack));
	if (!out->paths || !state || !stack) {
		moddep_error(md, "out of memory");
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nnames; i++) {
		bool optional = names[i] && names[i][0] == MODDEP_OPTIONAL;
		const char *key = name;
		struct moddep_entry *e;

		if (!names[i] || moddep_norm_name(names[i] + optional, name)) {
			moddep_error(md, "'%.64s' is not a module name", names[i] ? names[i] : "");
			ret = -EINVAL;
			goto out;
		}
		if (md->nbuiltin &&
		    bsearch(&key, md->builtin, md->nbuiltin, sizeof(*md->builtin), moddep_cmp_str))
			continue;
		e = moddep_find(md->by_name, md->nmods, name, 1);
		if (!e && optional)
			continue;
		if (!e) {
			moddep_error(md, "module %s is neither in modules.dep nor built in", name);
			ret = -ENOENT;
			goto out;
		}
		ret = moddep_walk(md, e, state, stack, out);
		if (ret)
			goto out;
	}
out:
	free(stack);
	free(state);
	if (ret)
		moddep_list_free(out);
	return ret;
}
