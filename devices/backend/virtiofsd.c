// SPDX-License-Identifier: Apache-2.0
/*
 * The host side of --share: starting virtiofsd on a socket kvmrun is already
 * connected to, or connecting to a daemon someone else started. See virtiofsd.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kvmrun/exit_status.h"
#include "kvmrun/log.h"
#include "daemon.h"
#include "virtiofsd.h"


#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

static const char fs_install_hint[] =
	"install qemu-system-common (Debian 12) or virtiofsd, or give virtiofsd=PATH";

struct fs_daemon {
	struct daemon d; /* pid -1: socket=, a daemon kvmrun does not manage */
};

/* Where the child fails when making the read-only mount (after the common stages). */
enum fs_stage { FS_STAGE_UNSHARE = DAEMON_STAGE_HOOK, FS_STAGE_BIND, FS_STAGE_READONLY };

static int fs_fail(char *err, size_t errlen, int status, const char *fmt, ...) PRINTF_FMT(4, 5);
static int fs_fail(char *err, size_t errlen, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return status;
}

/* virtiofsd=PATH, $KVMRUN_VIRTIOFSD, the two packages' places, then $PATH (virtiofsd.h). */
static int fs_find_daemon(const struct share_config *cfg, const char *what, char *out,
			  size_t size, char *err, size_t errlen)
{
	static const char *const places[] = { "/usr/libexec/virtiofsd",
					      "/usr/lib/qemu/virtiofsd" };
	const char *env = getenv("KVMRUN_VIRTIOFSD");
	const char *given = cfg->virtiofsd[0] ? cfg->virtiofsd : env && *env ? env : NULL;
	const char *path = getenv("PATH");

	if (given) {
		if (!daemon_executable(given))
			return fs_fail(err, errlen, KVMRUN_ERR_INPUT,
				       "%s: virtiofsd not found at %s (%s): %s", what, given,
				       cfg->virtiofsd[0] ? "virtiofsd=" : "KVMRUN_VIRTIOFSD",
				       fs_install_hint);
		snprintf(out, size, "%s", given);
		return 0;
	}
	for (unsigned int i = 0; i < ARRAY_SIZE(places); i++) {
		if (daemon_executable(places[i])) {
			snprintf(out, size, "%s", places[i]);
			return 0;
		}
	}
	while (path && *path) {
		const char *end = strchrnul(path, ':');
		int n = snprintf(out, size, "%.*s/virtiofsd", (int)(end - path), path);

		if (end > path && n > 0 && (size_t)n < size && out[0] == '/' && daemon_executable(out))
			return 0;
		path = *end ? end + 1 : end;
	}
	return fs_fail(err, errlen, KVMRUN_ERR_INPUT, "%s: virtiofsd not found: %s", what,
		       fs_install_hint);
}

/*
 * sandbox=namespace (virtiofsd's default) pivot_roots into the directory, which the
 * kernel refuses (EBUSY) to a process inside a chroot, and when the directory is the
 * process's own root (its bind mount onto itself is not what "." names), and (EINVAL)
 * when the root is the initramfs itself (rootfs, never switched away from); there the
 * daemon chroots into the directory instead, which confines it just as well.
 * kvmrun runs chrooted when its root is not init's; when that cannot be told (no
 * /proc, or init's root hidden from an unprivileged user), it is taken as not
 * chrooted. The root is the initramfs when the topmost mount on "/" of this mount
 * namespace is of type rootfs.
 */
static bool fs_same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

bool fs_mountinfo_root_is_rootfs(FILE *f)
{
	char *line = NULL, mnt[8], type[16];
	bool rootfs = false;
	size_t cap = 0;

	/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPEROPTS */
	while (getline(&line, &cap, f) > 0) {
		const char *sep = strstr(line, " - ");

		if (!sep || sscanf(line, "%*s %*s %*s %*s %7s", mnt) != 1 || strcmp(mnt, "/") != 0)
			continue;
		if (sscanf(sep + 3, "%15s", type) == 1)
			rootfs = strcmp(type, "rootfs") == 0;
	}
	free(line);
	return rootfs;
}

static bool fs_root_is_rootfs(void)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	bool rootfs;

	if (!f)
		return false;
	rootfs = fs_mountinfo_root_is_rootfs(f);
	fclose(f);
	return rootfs;
}

static const char *fs_sandbox_mode(const struct stat *dir)
{
	struct stat self, init;

	if (stat("/", &self) != 0)
		return "namespace";
	if (fs_same_file(&self, dir))
		return "chroot";
	if (stat("/proc/1/root", &init) == 0 && !fs_same_file(&self, &init))
		return "chroot";
	if (fs_root_is_rootfs())
		return "chroot";
	return "namespace";
}

/*
 * virtiofsd's --fd takes a listening socket and accepts one connection on it.
 * kvmrun connects before the daemon exists, then the name is gone: it lives for
 * these few calls in a new directory only this user can enter, so no other user
 * can connect in between, and no socket file outlives the start.
 */
static int fs_listen_connect(int *listen_fd, int *conn_fd)
{
	const char *base = getenv("XDG_RUNTIME_DIR");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[sizeof(sa.sun_path) - 2];
	int lfd = -1, cfd = -1, ret;

	if (!base || base[0] != '/' || strlen(base) > sizeof(dir) - 32)
		base = "/tmp";
	snprintf(dir, sizeof(dir), "%s/kvmrun-fs.XXXXXX", base);
	if (!mkdtemp(dir))
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/s", dir);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || cfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 1) < 0 || connect(cfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		goto err_close;
	}
	unlink(sa.sun_path);
	rmdir(dir);
	*listen_fd = lfd;
	*conn_fd = cfd;
	return 0;

err_close:
	if (lfd >= 0)
		close(lfd);
	if (cfd >= 0)
		close(cfd);
	unlink(sa.sun_path);
	rmdir(dir);
	return ret;
}

/*
 * With ro: a mount namespace of the daemon's own, where the directory is a bind
 * mount of itself made read-only with everything mounted below it, so the host
 * kernel refuses every write (EROFS) whatever the daemon is asked. Private first,
 * so that nothing of this reaches the host's mounts.
 */
static int fs_child_readonly(const void *arg, int *stage)
{
	struct {
		unsigned long long set, clr, propagation, userns_fd;
	} attr = { .set = MOUNT_ATTR_RDONLY };
	const char *dir = arg;

	*stage = FS_STAGE_UNSHARE;
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -1;
	*stage = FS_STAGE_BIND;
	if (mount(dir, dir, NULL, MS_BIND | MS_REC, NULL) < 0)
		return -1;
	*stage = FS_STAGE_READONLY;
	if (syscall(SYS_mount_setattr, AT_FDCWD, dir, AT_RECURSIVE, &attr, sizeof(attr)) == 0)
		return 0;
	if (errno != ENOSYS)
		return -1;
	/* Before Linux 5.12: only the directory's own mount, without those below it. */
	if (umount2(dir, MNT_DETACH) < 0 || mount(dir, dir, NULL, MS_BIND, NULL) < 0)
		return -1;
	return mount(NULL, dir, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL);
}

/* Fork the daemon and wait until it has exec'd (or failed on the way). */
static int fs_spawn(struct fs_daemon *fsd, const struct daemon_child *c, char *err, size_t errlen)
{
	struct daemon *d = &fsd->d;
	int stage, e, ret;

	ret = daemon_spawn(d, c, &stage, &e);
	if (ret < 0)
		return fs_fail(err, errlen, KVMRUN_ERR_INTERNAL, "%s: starting virtiofsd: %s",
			       d->what, strerror(-ret));
	if (ret == 0)
		return 0;
	switch (stage) {
	case FS_STAGE_UNSHARE:
	case FS_STAGE_BIND:
	case FS_STAGE_READONLY:
		return fs_fail(err, errlen, KVMRUN_ERR_INPUT,
			       "%s: ro: cannot make a read-only mount for virtiofsd (%s: %s)%s",
			       d->what,
			       stage == FS_STAGE_UNSHARE ? "mount namespace"
			       : stage == FS_STAGE_BIND  ? "bind mount"
							 : "read-only remount",
			       strerror(e), e == EPERM ? "; ro needs CAP_SYS_ADMIN" : "");
	case DAEMON_STAGE_EXEC:
		return fs_fail(err, errlen, KVMRUN_ERR_INPUT, "%s: cannot run %s: %s", d->what,
			       c->path, strerror(e));
	default:
		return fs_fail(err, errlen, KVMRUN_ERR_INTERNAL, "%s: starting virtiofsd: %s",
			       d->what, strerror(e));
	}
}

static int fs_connect(struct fs_daemon *fsd, const char *path, int *sock_fd, char *err,
		      size_t errlen)
{
	const struct daemon *d = &fsd->d;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return fs_fail(err, errlen, KVMRUN_ERR_USAGE,
			       "%s: socket path longer than %zu bytes", d->what,
			       sizeof(sa.sun_path) - 1);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fs_fail(err, errlen, KVMRUN_ERR_INTERNAL, "%s: socket: %s", d->what,
			       strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		return fs_fail(err, errlen, KVMRUN_ERR_INPUT, "%s: cannot connect: %s", d->what,
			       strerror(e));
	}
	*sock_fd = fd;
	return 0;
}

int fs_daemon_start(struct fs_daemon **out, const struct share_config *cfg, int *sock_fd,
		    char *err, size_t errlen)
{
	char daemon[PATH_MAX], source[PATH_MAX + 16], fd_arg[16];
	char dir[PATH_MAX], sandbox[32], what[DAEMON_WHAT_MAX];
	int lfd = -1, cfd = -1, ret;
	struct fs_daemon *fsd;
	struct daemon *d;
	struct stat st;

	fsd = calloc(1, sizeof(*fsd));
	if (!fsd)
		return fs_fail(err, errlen, KVMRUN_ERR_INTERNAL, "--share: out of memory");
	d = &fsd->d;
	if (cfg->socket[0]) {
		snprintf(what, sizeof(what), "--share socket=%s", cfg->socket);
		daemon_init(d, "virtiofsd", what);
		ret = fs_connect(fsd, cfg->socket, sock_fd, err, errlen);
		if (ret)
			goto err_free;
		*out = fsd;
		return 0;
	}
	snprintf(what, sizeof(what), "--share %s", cfg->path);
	daemon_init(d, "virtiofsd", what);
	if (stat(cfg->path, &st) < 0) {
		ret = fs_fail(err, errlen, KVMRUN_ERR_INPUT, "%s: %s", d->what, strerror(errno));
		goto err_free;
	}
	if (!S_ISDIR(st.st_mode)) {
		ret = fs_fail(err, errlen, KVMRUN_ERR_INPUT, "%s: not a directory", d->what);
		goto err_free;
	}
	if (!realpath(cfg->path, dir)) {
		ret = fs_fail(err, errlen, KVMRUN_ERR_INPUT, "%s: %s", d->what, strerror(errno));
		goto err_free;
	}
	ret = fs_find_daemon(cfg, d->what, daemon, sizeof(daemon), err, errlen);
	if (ret)
		goto err_free;
	snprintf(fd_arg, sizeof(fd_arg), "--fd=%d", DAEMON_SOCK_FD);
	snprintf(source, sizeof(source), "source=%s", dir);
	snprintf(sandbox, sizeof(sandbox), "sandbox=%s", fs_sandbox_mode(&st));
	char *const argv[] = { daemon, fd_arg, "-o", source, "-o", sandbox, "-o", "cache=auto",
			       NULL };

	ret = fs_listen_connect(&lfd, &cfd);
	if (ret) {
		ret = fs_fail(err, errlen, KVMRUN_ERR_INTERNAL, "%s: socket for virtiofsd: %s",
			      d->what, strerror(-ret));
		goto err_free;
	}
	const struct daemon_child c = { .sock_fd = lfd, .path = daemon, .argv = argv,
					.pre_exec = cfg->readonly ? fs_child_readonly : NULL,
					.arg = dir };

	ret = fs_spawn(fsd, &c, err, errlen);
	close(lfd);
	if (ret) {
		close(cfd);
		goto err_free;
	}
	log_debug("%s: %s %s %s %s", d->what, daemon, fd_arg, source, sandbox);
	*sock_fd = cfd;
	*out = fsd;
	return 0;

err_free:
	free(fsd);
	return ret;
}

int fs_daemon_exited(struct fs_daemon *d, char *err, size_t errlen)
{
	return d ? daemon_exited(&d->d, err, errlen) : 0;
}

bool fs_daemon_stop(struct fs_daemon *d, struct daemon_cpu *cpu)
{
	bool known;

	if (!d)
		return false;
	daemon_stop(&d->d);
	known = daemon_cpu(&d->d, cpu);
	free(d);
	return known;
}

pid_t fs_daemon_pid(const struct fs_daemon *d)
{
	return d ? daemon_pid(&d->d) : -1;
}
