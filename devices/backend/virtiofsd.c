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
#include "virtiofsd.h"

/* The daemon's descriptors: its vhost-user socket, and the report of a failed start. */
#define FS_CHILD_SOCK_FD 3
#define FS_CHILD_REPORT_FD 4
/* How long fs_daemon_stop waits after SIGTERM, and fs_daemon_exited for an exit. */
#define FS_STOP_WAIT_MS 2000
#define FS_EXIT_WAIT_MS 1000
#define FS_LINE_MAX 256

#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

static const char fs_install_hint[] =
	"install qemu-system-common (Debian 12) or virtiofsd, or give virtiofsd=PATH";

struct fs_daemon {
	pid_t pid; /* -1: socket=, a daemon kvmrun does not manage */
	bool reaped;
	int wstatus;
	int err_fd;		   /* the read end of the daemon's stdout and stderr; -1 */
	char what[DISK_PATH_MAX + 16]; /* "--share DIR" for messages */
	char partial[FS_LINE_MAX];     /* the start of a line not ended yet */
	size_t partial_len;
	char last[FS_LINE_MAX]; /* the last whole line the daemon wrote */
};

/* What the child sends back before it execs, when a step fails. */
enum fs_stage { FS_STAGE_PARENT, FS_STAGE_FDS, FS_STAGE_UNSHARE, FS_STAGE_BIND, FS_STAGE_READONLY,
		FS_STAGE_EXEC };

struct fs_report {
	int stage;
	int err;
};

/* Everything the child needs, prepared before fork: it only makes system calls. */
struct fs_child {
	pid_t parent;
	int sock_fd, out_fd, null_fd, report_fd;
	bool readonly;
	const char *dir;
	const char *path;
	char *const *argv;
};

static int fs_fail(char *err, size_t errlen, int status, const char *fmt, ...) PRINTF_FMT(4, 5);
static int fs_fail(char *err, size_t errlen, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return status;
}

static bool fs_executable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
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
		if (!fs_executable(given))
			return fs_fail(err, errlen, KVMRUN_ERR_INPUT,
				       "%s: virtiofsd not found at %s (%s): %s", what, given,
				       cfg->virtiofsd[0] ? "virtiofsd=" : "KVMRUN_VIRTIOFSD",
				       fs_install_hint);
		snprintf(out, size, "%s", given);
		return 0;
	}
	for (unsigned int i = 0; i < ARRAY_SIZE(places); i++) {
		if (fs_executable(places[i])) {
			snprintf(out, size, "%s", places[i]);
			return 0;
		}
	}
	while (path && *path) {
		const char *end = strchrnul(path, ':');
		int n = snprintf(out, size, "%.*s/virtiofsd", (int)(end - path), path);

		if (end > path && n > 0 && (size_t)n < size && out[0] == '/' && fs_executable(out))
			return 0;
		path = *end ? end + 1 : end;
	}
	return fs_fail(err, errlen, KVMRUN_ERR_INPUT, "%s: virtiofsd not found: %s", what,
		       fs_install_hint);
}

/*
 * sandbox=namespace (virtiofsd's default) pivot_roots into the directory, which the
 * kernel refuses (EBUSY) to a process inside a chroot, and when the directory is the
 * process's own root (its bind mount onto itself is not what "." names); there the
 * daemon chroots into the directory instead, which confines it just as well.
 * kvmrun runs chrooted when its root is not init's; when that cannot be told (no
 * /proc, or init's root hidden from an unprivileged user), it is taken as not
 * chrooted.
 */
static bool fs_same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
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

static _Noreturn void fs_child_fail(int report_fd, enum fs_stage stage)
{
	struct fs_report r = { .stage = stage, .err = errno };

	if (write(report_fd, &r, sizeof(r)) < 0)
		_exit(126);
	_exit(126);
}

/*
 * With ro: a mount namespace of the daemon's own, where the directory is a bind
 * mount of itself made read-only with everything mounted below it, so the host
 * kernel refuses every write (EROFS) whatever the daemon is asked. Private first,
 * so that nothing of this reaches the host's mounts.
 */
static int fs_child_readonly(const char *dir, enum fs_stage *stage)
{
	struct {
		unsigned long long set, clr, propagation, userns_fd;
	} attr = { .set = MOUNT_ATTR_RDONLY };

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

/* Between fork and exec: system calls only (the parent may have other threads). */
static _Noreturn void fs_child_run(const struct fs_child *c)
{
	int sock, out, null, report;
	enum fs_stage stage;
	struct rlimit rl;
	sigset_t all;

	/* The daemon dies with kvmrun, also when kvmrun died before this call. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != c->parent)
		_exit(125);
	/* kvmrun blocks signals for its signalfd and ignores SIGPIPE: not the daemon. */
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	/* Out of the way of 0 to 4 first, then into place. */
	sock = fcntl(c->sock_fd, F_DUPFD_CLOEXEC, 10);
	out = fcntl(c->out_fd, F_DUPFD_CLOEXEC, 10);
	null = fcntl(c->null_fd, F_DUPFD_CLOEXEC, 10);
	report = fcntl(c->report_fd, F_DUPFD_CLOEXEC, 10);
	if (report < 0)
		_exit(126);
	if (sock < 0 || out < 0 || null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 ||
	    dup2(out, 2) < 0 || dup2(sock, FS_CHILD_SOCK_FD) < 0 ||
	    dup3(report, FS_CHILD_REPORT_FD, O_CLOEXEC) < 0)
		fs_child_fail(report, FS_STAGE_FDS);
	if (syscall(SYS_close_range, FS_CHILD_REPORT_FD + 1, ~0U, 0) < 0) {
		unsigned int max = 65536;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < max)
			max = (unsigned int)rl.rlim_cur;
		for (unsigned int fd = FS_CHILD_REPORT_FD + 1; fd < max; fd++)
			close((int)fd);
	}
	if (c->readonly && fs_child_readonly(c->dir, &stage) < 0)
		fs_child_fail(FS_CHILD_REPORT_FD, stage);
	execv(c->path, c->argv);
	fs_child_fail(FS_CHILD_REPORT_FD, FS_STAGE_EXEC);
}

/* Fork the daemon and wait until it has exec'd (or failed on the way). */
static int fs_spawn(struct fs_daemon *d, const struct fs_child *tmpl, char *err, size_t errlen)
{
	struct fs_child c = *tmpl;
	int out[2], rep[2], ret;
	struct fs_report r;
	ssize_t n;

	if (pipe2(out, O_CLOEXEC) < 0)
		return fs_fail(err, errlen, KVMRUN_ERR_INTERNAL, "%s: pipe: %s", d->what,
			       strerror(errno));
	if (pipe2(rep, O_CLOEXEC) < 0) {
		ret = fs_fail(err, errlen, KVMRUN_ERR_INTERNAL, "%s: pipe: %s", d->what,
			      strerror(errno));
		goto err_out;
	}
	/*
	 * The daemon never blocks on its stderr: when kvmrun has not read it yet and
	 * the pipe is full, its lines are dropped instead.
	 */
	fcntl(out[1], F_SETPIPE_SZ, 1 << 20);
	if (fcntl(out[1], F_SETFL, O_NONBLOCK) < 0 || fcntl(out[0], F_SETFL, O_NONBLOCK) < 0) {
		ret = fs_fail(err, errlen, KVMRUN_ERR_INTERNAL, "%s: fcntl: %s", d->what,
			      strerror(errno));
		goto err_rep;
	}
	c.out_fd = out[1];
	c.report_fd = rep[1];
	c.parent = getpid();
	d->pid = fork();
	if (d->pid < 0) {
		ret = fs_fail(err, errlen, KVMRUN_ERR_INTERNAL, "%s: fork: %s", d->what,
			      strerror(errno));
		goto err_rep;
	}
	if (d->pid == 0)
		fs_child_run(&c);
	close(out[1]);
	close(rep[1]);
	d->err_fd = out[0];
	do
		n = read(rep[0], &r, sizeof(r));
	while (n < 0 && errno == EINTR);
	close(rep[0]);
	if (n == 0)
		return 0; /* exec'd: the report pipe closed on exec */
	if (n != (ssize_t)sizeof(r))
		r = (struct fs_report){ .stage = FS_STAGE_PARENT, .err = n < 0 ? errno : EPROTO };
	waitpid(d->pid, &d->wstatus, 0);
	d->reaped = true;
	switch (r.stage) {
	case FS_STAGE_UNSHARE:
	case FS_STAGE_BIND:
	case FS_STAGE_READONLY:
		return fs_fail(err, errlen, KVMRUN_ERR_INPUT,
			       "%s: ro: cannot make a read-only mount for virtiofsd (%s: %s)%s",
			       d->what,
			       r.stage == FS_STAGE_UNSHARE ? "mount namespace"
			       : r.stage == FS_STAGE_BIND  ? "bind mount"
							   : "read-only remount",
			       strerror(r.err), r.err == EPERM ? "; ro needs CAP_SYS_ADMIN" : "");
	case FS_STAGE_EXEC:
		return fs_fail(err, errlen, KVMRUN_ERR_INPUT, "%s: cannot run %s: %s", d->what,
			       c.path, strerror(r.err));
	default:
		return fs_fail(err, errlen, KVMRUN_ERR_INTERNAL, "%s: starting virtiofsd: %s",
			       d->what, strerror(r.err));
	}

err_rep:
	close(rep[0]);
	close(rep[1]);
err_out:
	close(out[0]);
	close(out[1]);
	return ret;
}

static int fs_connect(struct fs_daemon *d, const char *path, int *sock_fd, char *err,
		      size_t errlen)
{
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
	char dir[PATH_MAX], sandbox[32];
	int lfd = -1, cfd = -1, null_fd, ret;
	struct fs_daemon *d;
	struct stat st;

	d = calloc(1, sizeof(*d));
	if (!d)
		return fs_fail(err, errlen, KVMRUN_ERR_INTERNAL, "--share: out of memory");
	d->pid = -1;
	d->err_fd = -1;
	if (cfg->socket[0]) {
		snprintf(d->what, sizeof(d->what), "--share socket=%s", cfg->socket);
		ret = fs_connect(d, cfg->socket, sock_fd, err, errlen);
		if (ret)
			goto err_free;
		*out = d;
		return 0;
	}
	snprintf(d->what, sizeof(d->what), "--share %s", cfg->path);
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
	snprintf(fd_arg, sizeof(fd_arg), "--fd=%d", FS_CHILD_SOCK_FD);
	snprintf(source, sizeof(source), "source=%s", dir);
	snprintf(sandbox, sizeof(sandbox), "sandbox=%s", fs_sandbox_mode(&st));
	char *const argv[] = { daemon, fd_arg, "-o", source, "-o", sandbox, "-o", "cache=auto",
			       NULL };

	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd < 0) {
		ret = fs_fail(err, errlen, KVMRUN_ERR_INTERNAL, "%s: /dev/null: %s", d->what,
			      strerror(errno));
		goto err_free;
	}
	ret = fs_listen_connect(&lfd, &cfd);
	if (ret) {
		ret = fs_fail(err, errlen, KVMRUN_ERR_INTERNAL, "%s: socket for virtiofsd: %s",
			      d->what, strerror(-ret));
		goto err_null;
	}
	const struct fs_child c = { .sock_fd = lfd, .null_fd = null_fd, .readonly = cfg->readonly,
				    .dir = dir, .path = daemon, .argv = argv };

	ret = fs_spawn(d, &c, err, errlen);
	close(lfd);
	close(null_fd);
	if (ret) {
		close(cfd);
		goto err_free;
	}
	log_debug("%s: %s %s %s %s", d->what, daemon, fd_arg, source, sandbox);
	*sock_fd = cfd;
	*out = d;
	return 0;

err_null:
	close(null_fd);
err_free:
	free(d);
	return ret;
}

/* What the daemon wrote so far: each line to kvmrun's log (debug), the last one kept. */
static void fs_drain(struct fs_daemon *d)
{
	char buf[4096];
	ssize_t n;

	if (d->err_fd < 0)
		return;
	while ((n = read(d->err_fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			char ch = buf[i];

			if (ch != '\n') {
				if (d->partial_len < sizeof(d->partial) - 1)
					d->partial[d->partial_len++] =
						(unsigned char)ch < 0x20 || ch == 0x7f ? '?' : ch;
				continue;
			}
			d->partial[d->partial_len] = '\0';
			if (d->partial_len) {
				log_debug("%s: virtiofsd: %s", d->what, d->partial);
				memcpy(d->last, d->partial, d->partial_len + 1);
			}
			d->partial_len = 0;
		}
	}
	if (n == 0) { /* every writer gone: a line without its newline counts too */
		if (d->partial_len) {
			d->partial[d->partial_len] = '\0';
			log_debug("%s: virtiofsd: %s", d->what, d->partial);
			memcpy(d->last, d->partial, d->partial_len + 1);
			d->partial_len = 0;
		}
		close(d->err_fd);
		d->err_fd = -1;
	}
}

/* Reap the daemon if it has ended, waiting up to ms for it; whether it has. */
static bool fs_reap(struct fs_daemon *d, unsigned int ms)
{
	const struct timespec step = { .tv_nsec = 10 * 1000 * 1000 };

	for (unsigned int waited = 0; !d->reaped; waited += 10) {
		pid_t p = waitpid(d->pid, &d->wstatus, WNOHANG);

		if (p == d->pid || (p < 0 && errno == ECHILD)) {
			d->reaped = true;
			break;
		}
		if (waited >= ms)
			break;
		nanosleep(&step, NULL);
	}
	return d->reaped;
}

int fs_daemon_exited(struct fs_daemon *d, char *err, size_t errlen)
{
	char how[48];

	if (!d || d->pid < 0)
		return 0;
	if (!fs_reap(d, FS_EXIT_WAIT_MS)) {
		fs_drain(d);
		return 0;
	}
	/* Its stderr ends with it (unless a child of its own holds it): read what is left. */
	for (unsigned int i = 0; i < 50 && d->err_fd >= 0; i++) {
		const struct timespec step = { .tv_nsec = 10 * 1000 * 1000 };

		fs_drain(d);
		if (d->err_fd >= 0)
			nanosleep(&step, NULL);
	}
	if (WIFEXITED(d->wstatus))
		snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(d->wstatus));
	else if (WIFSIGNALED(d->wstatus))
		snprintf(how, sizeof(how), "killed by signal %d", WTERMSIG(d->wstatus));
	else
		snprintf(how, sizeof(how), "ended");
	snprintf(err, errlen, "%s: virtiofsd %s%s%s", d->what, how, d->last[0] ? ": " : "",
		 d->last);
	return 1;
}

void fs_daemon_stop(struct fs_daemon *d)
{
	if (!d)
		return;
	if (d->pid > 0 && !d->reaped) {
		kill(d->pid, SIGTERM);
		if (!fs_reap(d, FS_STOP_WAIT_MS)) {
			log_warn("%s: virtiofsd did not end on SIGTERM: SIGKILL", d->what);
			kill(d->pid, SIGKILL);
			while (waitpid(d->pid, &d->wstatus, 0) < 0 && errno == EINTR)
				;
			d->reaped = true;
		}
	}
	fs_drain(d);
	if (d->err_fd >= 0)
		close(d->err_fd);
	free(d);
}

pid_t fs_daemon_pid(const struct fs_daemon *d)
{
	return d && !d->reaped ? d->pid : -1;
}
