// SPDX-License-Identifier: Apache-2.0
/* --jail, --cgroup, --limit: kvmrun confines itself before the guest runs (jail.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <linux/securebits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kvmrun/jail.h"
#include "kvmrun/log.h"

#define JAIL_NS (CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP | CLONE_NEWNET)
#define JAIL_CPU_PERIOD_US 100000

#ifdef __SANITIZE_ADDRESS__
#include <stdatomic.h>
/*
 * Sanitizer builds only: LeakSanitizer's check at exit reads /proc, which a jailed
 * process no longer has, and would end it with an error; the runtime asks this hook
 * first. The one piece of file-scope state here, for the runtime's sake: leaks are
 * looked for in runs without the jail.
 */
static atomic_bool jail_lsan_off;
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
	return atomic_load(&jail_lsan_off);
}
#endif

const int jail_namespace_flags[6] = {
    CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWCGROUP, CLONE_NEWNET, CLONE_NEWUSER,
};

const char *jail_namespace_name(int flag)
{
	switch (flag) {
	case CLONE_NEWNS:
		return "mount";
	case CLONE_NEWIPC:
		return "ipc";
	case CLONE_NEWUTS:
		return "uts";
	case CLONE_NEWCGROUP:
		return "cgroup";
	case CLONE_NEWNET:
		return "net";
	case CLONE_NEWUSER:
		return "user";
	}
	return "?";
}

/* One line into err; returns ret (-errno). */
static int jail_fail(char *err, size_t errlen, int ret, const char *fmt, ...) PRINTF_FMT(4, 5);
static int jail_fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

/* Writes text to path (relative to dirfd), whole, in one write. 0 or -errno. */
static int jail_write_at(int dirfd, const char *path, const char *text)
{
	size_t len = strlen(text);
	ssize_t n;
	int fd, ret = 0;

	fd = openat(dirfd, path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, text, len);
	if (n < 0)
		ret = -errno;
	else if ((size_t)n != len)
		ret = -EIO;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	return ret;
}

/* word is one of the space-separated words of list. */
static bool jail_has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = strstr(list, word); p; p = strstr(p + 1, word))
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || !p[n]))
			return true;
	return false;
}

/* The controllers a leaf's limits need, enabled in DIR's cgroup.subtree_control. */
static int jail_cgroup_controllers(int dirfd, const struct jail_config *cfg, const char **which)
{
	const struct {
		const char *name;
		bool need;
	} ctl[] = {
	    {"memory", cfg->memory_max != 0},
	    {"cpu", cfg->cpu_milli != 0},
	    {"pids", cfg->pids_max != 0},
	};
	char have[512] = "", word[16];
	ssize_t n;
	int fd, ret;

	fd = openat(dirfd, "cgroup.subtree_control", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, have, sizeof(have) - 1);
		have[n > 0 ? n : 0] = '\0';
		close(fd);
	}
	for (size_t i = 0; i < ARRAY_SIZE(ctl); i++) {
		if (!ctl[i].need || jail_has_word(have, ctl[i].name))
			continue;
		snprintf(word, sizeof(word), "+%s", ctl[i].name);
		ret = jail_write_at(dirfd, "cgroup.subtree_control", word);
		if (ret) {
			*which = ctl[i].name;
			return ret;
		}
	}
	return 0;
}

int jail_cgroup_enter(const struct jail_config *cfg, struct jail_report *rep, char *err,
		      size_t errlen)
{
	const char *dir = cfg->cgroup, *ctl = NULL, *file = NULL;
	char leaf[32], text[64];
	struct statfs sf;
	int dirfd, leaffd = -1, ret;

	if (!dir)
		return 0;
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return jail_fail(err, errlen, -errno, "--cgroup %s: %s", dir, strerror(errno));
	if (fstatfs(dirfd, &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC) {
		ret =
		    jail_fail(err, errlen, -ENOTDIR, "--cgroup %s: not a cgroup v2 directory", dir);
		goto out;
	}
	ret = jail_cgroup_controllers(dirfd, cfg, &ctl);
	if (ret) {
		jail_fail(err, errlen, ret,
			  "--limit: cannot enable the %s controller in %s/cgroup.subtree_control: "
			  "%s (is DIR delegated, with no process of its own?)",
			  ctl, dir, strerror(-ret));
		goto out;
	}
	snprintf(leaf, sizeof(leaf), "kvmrun.%d", (int)getpid());
	if (mkdirat(dirfd, leaf, 0755) < 0 && errno != EEXIST) {
		ret = jail_fail(err, errlen, -errno, "--cgroup %s: cannot create %s: %s", dir, leaf,
				strerror(errno));
		goto out;
	}
	leaffd = openat(dirfd, leaf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (leaffd < 0) {
		ret = jail_fail(err, errlen, -errno, "--cgroup %s/%s: %s", dir, leaf,
				strerror(errno));
		goto out;
	}
	if (cfg->memory_max) {
		snprintf(text, sizeof(text), "%llu", (unsigned long long)cfg->memory_max);
		ret = jail_write_at(leaffd, file = "memory.max", text);
	}
	if (!ret && cfg->cpu_milli) {
		snprintf(text, sizeof(text), "%llu %u",
			 (unsigned long long)cfg->cpu_milli * (JAIL_CPU_PERIOD_US / 1000),
			 JAIL_CPU_PERIOD_US);
		ret = jail_write_at(leaffd, file = "cpu.max", text);
	}
	if (!ret && cfg->pids_max) {
		snprintf(text, sizeof(text), "%u", cfg->pids_max);
		ret = jail_write_at(leaffd, file = "pids.max", text);
	}
	if (ret) {
		jail_fail(err, errlen, ret, "--limit: %s/%s/%s: %s", dir, leaf, file,
			  strerror(-ret));
		goto out;
	}
	ret = jail_write_at(leaffd, "cgroup.procs", "0");
	if (ret) {
		jail_fail(err, errlen, ret, "--cgroup %s: cannot move kvmrun into %s: %s", dir,
			  leaf, strerror(-ret));
		goto out;
	}
	snprintf(rep->cgroup, sizeof(rep->cgroup), "%s/%s", dir, leaf);
	rep->memory_max = cfg->memory_max;
	rep->cpu_milli = cfg->cpu_milli;
	rep->pids_max = cfg->pids_max;
out:
	if (leaffd >= 0)
		close(leaffd);
	close(dirfd);
	return ret;
}

/* The highest open descriptor (-1: none), read while /proc is still there. */
static int jail_highest_fd(void)
{
	struct dirent *de;
	int high = -1, self;
	DIR *d;

	d = opendir("/proc/self/fd");
	if (!d) {
		/* no /proc: ask each number up to a bound */
		for (int fd = 0; fd < 65536; fd++)
			if (fcntl(fd, F_GETFD) >= 0)
				high = fd;
		return high;
	}
	self = dirfd(d);
	while ((de = readdir(d))) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);

		if (de->d_name[0] >= '0' && de->d_name[0] <= '9' && !*end && fd != self &&
		    fd > high)
			high = (int)fd;
	}
	closedir(d);
	return high;
}

static bool jail_has_sys_admin(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2] = {0};

	if (syscall(SYS_capget, &hdr, data))
		return false;
	return data[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective & CAP_TO_MASK(CAP_SYS_ADMIN);
}

/* A user namespace in which kvmrun keeps its own uid and gid (and no supplementary groups). */
static int jail_user_namespace(char *err, size_t errlen)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	char map[64];
	int ret;

	if (unshare(CLONE_NEWUSER))
		return jail_fail(err, errlen, -errno,
				 "--jail on: cannot create a user namespace: %s (the host forbids "
				 "unprivileged user namespaces; --jail off runs without the jail)",
				 strerror(errno));
	ret = jail_write_at(AT_FDCWD, "/proc/self/setgroups", "deny");
	snprintf(map, sizeof(map), "%u %u 1", (unsigned int)uid, (unsigned int)uid);
	if (!ret)
		ret = jail_write_at(AT_FDCWD, "/proc/self/uid_map", map);
	snprintf(map, sizeof(map), "%u %u 1", (unsigned int)gid, (unsigned int)gid);
	if (!ret)
		ret = jail_write_at(AT_FDCWD, "/proc/self/gid_map", map);
	if (ret)
		return jail_fail(err, errlen, ret, "--jail on: mapping uid %u and gid %u: %s",
				 (unsigned int)uid, (unsigned int)gid, strerror(-ret));
	return 0;
}

/*
 * An empty read-only tmpfs becomes the root: mounted over a directory that
 * exists (mounts here are private to the new namespace), then pivot_root(".", ".")
 * stacks the old root on it, and a lazy unmount takes the old one away. An
 * initramfs root cannot be pivoted away (EINVAL): there the tmpfs is moved onto
 * "/" and becomes the root by chroot, as switch_root does; the initramfs stays
 * below it, out of reach of a process without capabilities.
 */
static int jail_pivot(char *err, size_t errlen)
{
	static const char *const dirs[] = {"/tmp", "/mnt", "/proc", "/dev"};
	const unsigned long flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
	const char *dir = NULL;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return jail_fail(err, errlen, -errno, "--jail on: making mounts private: %s",
				 strerror(errno));
	for (size_t i = 0; i < ARRAY_SIZE(dirs) && !dir; i++)
		if (!mount("kvmrun", dirs[i], "tmpfs", flags, "size=4k,nr_inodes=1,mode=0555"))
			dir = dirs[i];
	if (!dir)
		return jail_fail(err, errlen, -errno, "--jail on: mounting an empty root: %s",
				 strerror(errno));
	if (chdir(dir))
		goto err;
	if (syscall(SYS_pivot_root, ".", ".") == 0) {
		if (umount2(".", MNT_DETACH) || chdir("/"))
			goto err;
		return 0;
	}
	if (errno != EINVAL || mount(".", "/", NULL, MS_MOVE, NULL) || chroot(".") || chdir("/"))
		goto err;
	return 0;
err:
	return jail_fail(err, errlen, -errno, "--jail on: pivot_root into an empty root: %s",
			 strerror(errno));
}

/* Every capability, in every set, for good: the securebits keep them from coming back. */
static int jail_drop_caps(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2] = {0};
	const unsigned long bits = SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_SETUID_FIXUP |
				   SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_NOROOT |
				   SECBIT_NOROOT_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
				   SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;

	if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0))
		return -errno;
	for (unsigned long c = 0; prctl(PR_CAPBSET_READ, c, 0, 0, 0) >= 0; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0))
			return -errno;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0))
		return -errno;
	if (syscall(SYS_capset, &hdr, data))
		return -errno;
	return 0;
}

int jail_enter(struct jail_report *rep, char *err, size_t errlen)
{
	const struct rlimit core = {0, 0};
	struct rlimit nofile;
	struct timespec t0, t1, c0, c1;
	rlim_t want;
	int high, ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
	rep->on = true;
#ifdef __SANITIZE_ADDRESS__
	atomic_store(&jail_lsan_off, true);
#endif
	high = jail_highest_fd();
	if (getrlimit(RLIMIT_NOFILE, &nofile))
		return jail_fail(err, errlen, -errno, "--jail on: getrlimit: %s", strerror(errno));
	if (!jail_has_sys_admin()) {
		ret = jail_user_namespace(err, errlen);
		if (ret)
			return ret;
		rep->user_namespace = true;
		rep->namespaces |= CLONE_NEWUSER;
	}
	if (unshare(JAIL_NS))
		return jail_fail(err, errlen, -errno,
				 "--jail on: cannot enter new mount, IPC, UTS, cgroup and network "
				 "namespaces: %s",
				 strerror(errno));
	rep->namespaces |= JAIL_NS;
	if (sethostname("kvmrun", 6))
		return jail_fail(err, errlen, -errno, "--jail on: sethostname: %s",
				 strerror(errno));
	ret = jail_pivot(err, errlen);
	if (ret)
		return ret;
	ret = jail_drop_caps();
	if (ret)
		return jail_fail(err, errlen, ret, "--jail on: dropping capabilities: %s",
				 strerror(-ret));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return jail_fail(err, errlen, -errno, "--jail on: no_new_privs: %s",
				 strerror(errno));
	/* never above what it was: raising a hard limit needs a capability */
	want = (rlim_t)(high + 1 + JAIL_NOFILE_MARGIN);
	nofile.rlim_cur = MIN(want, nofile.rlim_cur);
	nofile.rlim_max = MIN(want, nofile.rlim_max);
	if (setrlimit(RLIMIT_CORE, &core) || setrlimit(RLIMIT_NOFILE, &nofile))
		return jail_fail(err, errlen, -errno, "--jail on: setrlimit: %s", strerror(errno));
	rep->nofile = nofile.rlim_cur;
	rep->entered = true;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	rep->enter_ns = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000ULL + (uint64_t)t1.tv_nsec -
			(uint64_t)t0.tv_nsec;
	rep->enter_cpu_ns = (uint64_t)(c1.tv_sec - c0.tv_sec) * 1000000000ULL +
			    (uint64_t)c1.tv_nsec - (uint64_t)c0.tv_nsec;
	log_info("jail: entered in %.3f ms, CPU %.3f ms (%s user namespace)", rep->enter_ns / 1e6,
		 rep->enter_cpu_ns / 1e6, rep->user_namespace ? "with a" : "no");
	return 0;
}

int jail_seal(struct jail_report *rep, unsigned int nr_tasks, char *err, size_t errlen)
{
	const struct rlimit nproc = {nr_tasks, nr_tasks};

	if (setrlimit(RLIMIT_NPROC, &nproc))
		return jail_fail(err, errlen, -errno, "--jail on: setrlimit(RLIMIT_NPROC): %s",
				 strerror(errno));
	rep->nproc = nr_tasks;
	return 0;
}
