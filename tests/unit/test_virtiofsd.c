// SPDX-License-Identifier: Apache-2.0
/*
 * The virtiofsd launcher (devices/backend/virtiofsd.c) with a fake daemon: what it
 * is given (arguments, descriptors, signals), how its end is seen, that it is
 * reaped and dies with its parent, the errors before it runs, socket=, and ro.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/virtiofsd.h"
#include "kvmrun/exit_status.h"

#define DEADLINE_MS 20000

struct env {
	char dir[256];	    /* a fresh temporary directory */
	char share[300];    /* $dir/share: the directory to share */
	char runtime[300];  /* $dir/run: XDG_RUNTIME_DIR, where the socket is made */
	char fake[4096];    /* the fake daemon binary */
	char err[512];
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	const char *fake = getenv("FAKE_VIRTIOFSD");

	assert_non_null(e);
	assert_non_null(fake);
	snprintf(e->fake, sizeof(e->fake), "%s", fake);
	snprintf(e->dir, sizeof(e->dir), "%s/kvmrun-vfsd.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->share, sizeof(e->share), "%s/share", e->dir);
	snprintf(e->runtime, sizeof(e->runtime), "%s/run", e->dir);
	assert_int_equal(mkdir(e->share, 0755), 0);
	assert_int_equal(mkdir(e->runtime, 0700), 0);
	setenv("XDG_RUNTIME_DIR", e->runtime, 1);
	unsetenv("KVMRUN_VIRTIOFSD");
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	if (system(cmd))
		return -1;
	free(e);
	return 0;
}

/* $dir/name, a shell script with body, made executable; its path in path. */
static void script(struct env *e, const char *name, const char *body, char *path, size_t size)
{
	FILE *f;

	snprintf(path, size, "%s/%s", e->dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0755), 0);
}

/* A script that runs the fake daemon in mode, with the launcher's arguments. */
static void fake_script(struct env *e, const char *mode, char *path, size_t size)
{
	char body[4200];

	snprintf(body, sizeof(body), "FAKE_VFS_MODE=%s exec '%s' \"$@\"", mode, e->fake);
	script(e, mode, body, path, size);
}

/* Reads from fd until "END\n" or EOF, up to the deadline; the bytes read, NUL-ended. */
static size_t read_report(int fd, char *buf, size_t size, const char *until)
{
	size_t len = 0;

	buf[0] = '\0';
	while (len < size - 1 && !(until && strstr(buf, until))) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, DEADLINE_MS) != 1)
			fail_msg("nothing from the daemon after %d ms; so far '%s'", DEADLINE_MS,
				 buf);
		n = read(fd, buf + len, size - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
	}
	return len;
}

static void expect_line(const char *report, const char *line)
{
	char want[4200];

	snprintf(want, sizeof(want), "\n%s\n", line);
	if (strncmp(report, want + 1, strlen(want + 1)) && !strstr(report, want))
		fail_msg("no line '%s' in:\n%s", line, report);
}

/* The pid the fake daemon reports ("PID=n"). */
static pid_t read_pid(int fd)
{
	char buf[64];
	const char *p;

	read_report(fd, buf, sizeof(buf), "\n");
	p = strstr(buf, "PID=");
	assert_non_null(p);
	return (pid_t)atoi(p + 4);
}

/* Gone and reaped: no longer a child of ours, and no such process (no zombie). */
static void expect_gone(pid_t pid)
{
	assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(errno, ESRCH);
}

static long elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/*
 * The arguments, and the descriptors and signals the daemon starts with: started
 * as kvmrun runs (signals blocked, SIGPIPE ignored, a descriptor without CLOEXEC).
 */
static void test_args_and_fds(void **state)
{
	struct env *e = *state;
	struct share_config cfg = { 0 };
	char report[8192], line[4200], real[4096];
	struct stat st_root, st_init;
	sigset_t block, old;
	struct fs_daemon *d;
	int sock = -1, leak, fd;
	void (*old_pipe)(int);

	fake_script(e, "report", cfg.virtiofsd, sizeof(cfg.virtiofsd));
	snprintf(cfg.path, sizeof(cfg.path), "%s/./", e->share);
	snprintf(cfg.tag, sizeof(cfg.tag), "t");
	fd = open("/dev/null", O_RDONLY);
	leak = fcntl(fd, F_DUPFD, 20); /* above the daemon's 0 to 4, without CLOEXEC */
	close(fd);
	assert_true(leak >= 20);
	snprintf(line, sizeof(line), "%d", leak);
	setenv("FAKE_VFS_LEAK", line, 1);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &old);
	old_pipe = signal(SIGPIPE, SIG_IGN);

	assert_int_equal(fs_daemon_start(&d, &cfg, &sock, e->err, sizeof(e->err)), 0);
	sigprocmask(SIG_SETMASK, &old, NULL);
	signal(SIGPIPE, old_pipe);
	unsetenv("FAKE_VFS_LEAK");
	close(leak);
	assert_true(sock >= 0);
	assert_true(fcntl(sock, F_GETFD) & FD_CLOEXEC);
	/* What the daemon reports it came over *sock_fd: the two are connected. */
	read_report(sock, report, sizeof(report), "END\n");
	assert_non_null(realpath(e->share, real));
	expect_line(report, "ARGC=8");
	expect_line(report, "ARG1=--fd=3");
	expect_line(report, "ARG2=-o");
	snprintf(line, sizeof(line), "ARG3=source=%s", real);
	expect_line(report, line);
	expect_line(report, "ARG4=-o");
	/* chroot where kvmrun runs chrooted (its root is not init's), namespace otherwise. */
	if (stat("/", &st_root) == 0 && stat("/proc/1/root", &st_init) == 0 &&
	    (st_root.st_ino != st_init.st_ino || st_root.st_dev != st_init.st_dev))
		expect_line(report, "ARG5=sandbox=chroot");
	else
		expect_line(report, "ARG5=sandbox=namespace");
	expect_line(report, "ARG6=-o");
	expect_line(report, "ARG7=cache=auto");
	expect_line(report, "STDIN=/dev/null");
	expect_line(report, "STDERR=pipe:");
	expect_line(report, "SIGBLK=0000000000000000");
	expect_line(report, "SIGIGN=0000000000000000");
	expect_line(report, "SIGPIPE_DFL=1");
	expect_line(report, "LEAK_OPEN=0");
	expect_line(report, "WRITE_ERRNO=0");
	/* No socket file left behind: the directory it was made in is empty. */
	assert_int_equal(rmdir(e->runtime), 0);
	assert_int_equal(mkdir(e->runtime, 0700), 0);
	/* Still running: not exited. */
	assert_int_equal(fs_daemon_exited(d, e->err, sizeof(e->err)), 0);
	close(sock);
	fs_daemon_stop(d, NULL);
}

/* The root directory itself is served with sandbox=chroot: pivot_root cannot go there. */
static void test_root_dir_chroot(void **state)
{
	struct env *e = *state;
	struct share_config cfg = { 0 };
	char report[8192];
	struct fs_daemon *d;
	int sock = -1;

	fake_script(e, "report", cfg.virtiofsd, sizeof(cfg.virtiofsd));
	snprintf(cfg.path, sizeof(cfg.path), "/");
	snprintf(cfg.tag, sizeof(cfg.tag), "root");
	assert_int_equal(fs_daemon_start(&d, &cfg, &sock, e->err, sizeof(e->err)), 0);
	read_report(sock, report, sizeof(report), "END\n");
	expect_line(report, "ARG3=source=/");
	expect_line(report, "ARG5=sandbox=chroot");
	close(sock);
	fs_daemon_stop(d, NULL);
}

/* A daemon that ends at start: the caller sees EOF, then the reason with its last line. */
static void test_exit_at_start(void **state)
{
	struct env *e = *state;
	struct share_config cfg = { 0 };
	struct fs_daemon *d;
	char buf[64];
	int sock = -1;

	script(e, "dies", "echo 'fake: first line' >&2\n"
		  "printf 'fake: cannot start: no luck\\n\\n' >&2\nexit 3",
	       cfg.virtiofsd, sizeof(cfg.virtiofsd));
	snprintf(cfg.path, sizeof(cfg.path), "%s", e->share);
	assert_int_equal(fs_daemon_start(&d, &cfg, &sock, e->err, sizeof(e->err)), 0);
	assert_int_equal(read_report(sock, buf, sizeof(buf), NULL), 0);
	assert_int_equal(fs_daemon_exited(d, e->err, sizeof(e->err)), 1);
	assert_non_null(
		strstr(e->err, "virtiofsd exited with status 3: fake: cannot start: no luck"));
	assert_non_null(strstr(e->err, e->share));
	assert_null(strchr(e->err, '\n'));
	close(sock);
	fs_daemon_stop(d, NULL);

	/* Killed by a signal, with a last line that has no newline. */
	script(e, "killed", "printf 'fake: about to go' >&2\nkill -KILL $$", cfg.virtiofsd,
	       sizeof(cfg.virtiofsd));
	assert_int_equal(fs_daemon_start(&d, &cfg, &sock, e->err, sizeof(e->err)), 0);
	assert_int_equal(read_report(sock, buf, sizeof(buf), NULL), 0);
	assert_int_equal(fs_daemon_exited(d, e->err, sizeof(e->err)), 1);
	assert_non_null(strstr(e->err, "virtiofsd killed by signal 9: fake: about to go"));
	close(sock);
	fs_daemon_stop(d, NULL);
}

/* No daemon to run: status 3 and one line that names the package. */
static void test_missing_binary(void **state)
{
	struct env *e = *state;
	struct share_config cfg = { 0 };
	struct fs_daemon *d = NULL;
	int sock = -1;

	snprintf(cfg.path, sizeof(cfg.path), "%s", e->share);
	snprintf(cfg.virtiofsd, sizeof(cfg.virtiofsd), "%s/nowhere/virtiofsd", e->dir);
	assert_int_equal(fs_daemon_start(&d, &cfg, &sock, e->err, sizeof(e->err)),
			 KVMRUN_ERR_INPUT);
	assert_non_null(strstr(e->err, "qemu-system-common"));
	assert_non_null(strstr(e->err, "nowhere/virtiofsd"));
	assert_non_null(strstr(e->err, "--share"));
	assert_null(strchr(e->err, '\n'));
	assert_null(d);
	assert_int_equal(sock, -1);

	/* Not executable is the same as missing. */
	script(e, "noexec", "exit 0", cfg.virtiofsd, sizeof(cfg.virtiofsd));
	assert_int_equal(chmod(cfg.virtiofsd, 0644), 0);
	if (access(cfg.virtiofsd, X_OK) < 0) { /* root may run anything with an x bit only */
		assert_int_equal(fs_daemon_start(&d, &cfg, &sock, e->err, sizeof(e->err)),
				 KVMRUN_ERR_INPUT);
		assert_non_null(strstr(e->err, "qemu-system-common"));
	}

	/* $KVMRUN_VIRTIOFSD when virtiofsd= is not given. */
	cfg.virtiofsd[0] = '\0';
	setenv("KVMRUN_VIRTIOFSD", "/nonexistent/virtiofsd", 1);
	assert_int_equal(fs_daemon_start(&d, &cfg, &sock, e->err, sizeof(e->err)),
			 KVMRUN_ERR_INPUT);
	unsetenv("KVMRUN_VIRTIOFSD");
	assert_non_null(strstr(e->err, "/nonexistent/virtiofsd (KVMRUN_VIRTIOFSD)"));
	assert_non_null(strstr(e->err, "qemu-system-common"));
}

/*
 * The default search finding nothing: in a mount namespace of a child where both
 * packages' places are empty and $PATH has no virtiofsd. Needs CAP_SYS_ADMIN.
 */
static void test_missing_default(void **state)
{
	struct env *e = *state;
	int pfd[2], status;
	char msg[512] = "";
	pid_t pid;
	ssize_t n;

	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct share_config cfg = { 0 };
		struct fs_daemon *d = NULL;
		int sock = -1, ret;

		close(pfd[0]);
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
			_exit(77);
		if ((access("/usr/libexec", F_OK) == 0 &&
		     mount("none", "/usr/libexec", "tmpfs", 0, NULL) < 0) ||
		    (access("/usr/lib/qemu", F_OK) == 0 &&
		     mount("none", "/usr/lib/qemu", "tmpfs", 0, NULL) < 0))
			_exit(77);
		setenv("PATH", e->dir, 1);
		snprintf(cfg.path, sizeof(cfg.path), "%s", e->share);
		ret = fs_daemon_start(&d, &cfg, &sock, msg, sizeof(msg));
		if (write(pfd[1], msg, strlen(msg)) < 0)
			_exit(1);
		_exit(ret);
	}
	close(pfd[1]);
	n = read(pfd[0], msg, sizeof(msg) - 1);
	msg[n > 0 ? n : 0] = '\0';
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_not_equal(WEXITSTATUS(status), 77); /* main() checked for a namespace */
	assert_int_equal(WEXITSTATUS(status), KVMRUN_ERR_INPUT);
	assert_non_null(strstr(msg, "virtiofsd not found: install qemu-system-common (Debian 12) "
				    "or virtiofsd, or give virtiofsd=PATH"));
}

/* HOSTDIR missing or no directory: status 3, before any daemon runs. */
static void test_bad_dir(void **state)
{
	struct env *e = *state;
	struct share_config cfg = { 0 };
	struct fs_daemon *d = NULL;
	int sock = -1;

	fake_script(e, "report", cfg.virtiofsd, sizeof(cfg.virtiofsd));
	snprintf(cfg.path, sizeof(cfg.path), "%s/missing", e->dir);
	assert_int_equal(fs_daemon_start(&d, &cfg, &sock, e->err, sizeof(e->err)),
			 KVMRUN_ERR_INPUT);
	assert_non_null(strstr(e->err, "missing: No such file or directory"));
	assert_non_null(strstr(e->err, "--share"));
	snprintf(cfg.path, sizeof(cfg.path), "%s", cfg.virtiofsd);
	assert_int_equal(fs_daemon_start(&d, &cfg, &sock, e->err, sizeof(e->err)),
			 KVMRUN_ERR_INPUT);
	assert_non_null(strstr(e->err, "report: not a directory"));
	assert_null(d);
	assert_int_equal(sock, -1);
}

/* fs_daemon_stop ends and reaps the daemon: SIGTERM, or SIGKILL after a bounded wait. */
static void test_stop_reaps(void **state)
{
	struct env *e = *state;
	struct share_config cfg = { 0 };
	struct timespec t0;
	struct fs_daemon *d;
	int sock = -1;
	pid_t pid;

	snprintf(cfg.path, sizeof(cfg.path), "%s", e->share);
	fake_script(e, "serve", cfg.virtiofsd, sizeof(cfg.virtiofsd));
	assert_int_equal(fs_daemon_start(&d, &cfg, &sock, e->err, sizeof(e->err)), 0);
	pid = read_pid(sock);
	assert_int_equal(kill(pid, 0), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	fs_daemon_stop(d, NULL);
	assert_true(elapsed_ms(&t0) < 1500);
	expect_gone(pid);
	close(sock);

	fake_script(e, "stubborn", cfg.virtiofsd, sizeof(cfg.virtiofsd));
	assert_int_equal(fs_daemon_start(&d, &cfg, &sock, e->err, sizeof(e->err)), 0);
	pid = read_pid(sock);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	fs_daemon_stop(d, NULL);
	assert_true(elapsed_ms(&t0) >= 1900);
	assert_true(elapsed_ms(&t0) < 10000);
	expect_gone(pid);
	close(sock);
	fs_daemon_stop(NULL, NULL);
}

/* The daemon dies with the process that started it (PR_SET_PDEATHSIG, SIGKILL). */
static void test_dies_with_parent(void **state)
{
	struct env *e = *state;
	struct share_config cfg = { 0 };
	struct timespec t0;
	int pfd[2], status;
	pid_t child, daemon = 0;

	snprintf(cfg.path, sizeof(cfg.path), "%s", e->share);
	fake_script(e, "serve", cfg.virtiofsd, sizeof(cfg.virtiofsd));
	/* Orphans come to this process, so that it can see how the daemon ended. */
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	assert_int_equal(pipe(pfd), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct fs_daemon *d;
		int sock;
		pid_t p;

		if (fs_daemon_start(&d, &cfg, &sock, e->err, sizeof(e->err)))
			_exit(1);
		p = read_pid(sock);
		_exit(write(pfd[1], &p, sizeof(p)) == sizeof(p) ? 0 : 1);
	}
	close(pfd[1]);
	assert_int_equal(read(pfd[0], &daemon, sizeof(daemon)), sizeof(daemon));
	close(pfd[0]);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (waitpid(daemon, &status, WNOHANG) != daemon) {
		if (elapsed_ms(&t0) > DEADLINE_MS)
			fail_msg("daemon %d still there %d ms after its parent died", daemon,
				 DEADLINE_MS);
		usleep(10000);
	}
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
}

/* socket=PATH: a connection to whoever listens there, no process to manage. */
static void test_socket(void **state)
{
	struct env *e = *state;
	struct share_config cfg = { 0 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct fs_daemon *d;
	int lfd, conn, sock = -1;
	char buf[8] = "";

	assert_true((size_t)snprintf(cfg.socket, sizeof(cfg.socket), "%s/fs.sock", e->dir) <
		    sizeof(sa.sun_path));
	memcpy(sa.sun_path, cfg.socket, strlen(cfg.socket));
	snprintf(cfg.tag, sizeof(cfg.tag), "ext");
	/* Nobody listening yet. */
	assert_int_equal(fs_daemon_start(&d, &cfg, &sock, e->err, sizeof(e->err)),
			 KVMRUN_ERR_INPUT);
	assert_non_null(strstr(e->err, "socket="));
	assert_non_null(strstr(e->err, "cannot connect"));

	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(fs_daemon_start(&d, &cfg, &sock, e->err, sizeof(e->err)), 0);
	conn = accept(lfd, NULL, NULL);
	assert_true(conn >= 0);
	assert_int_equal(write(sock, "ping", 4), 4);
	assert_int_equal(read(conn, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(fs_daemon_exited(d, e->err, sizeof(e->err)), 0);
	fs_daemon_stop(d, NULL);
	/* The daemon is not kvmrun's to end: the connection stays with the caller. */
	assert_int_equal(write(conn, "pong", 4), 4);
	assert_int_equal(read(sock, buf, sizeof(buf)), 4);
	close(conn);
	close(sock);
	close(lfd);

	/* Longer than a unix socket address holds: a usage error. */
	memset(cfg.socket, 'a', 200);
	cfg.socket[0] = '/';
	cfg.socket[200] = '\0';
	assert_int_equal(fs_daemon_start(&d, &cfg, &sock, e->err, sizeof(e->err)),
			 KVMRUN_ERR_USAGE);
	assert_non_null(strstr(e->err, "socket path longer than"));
}

/* Whether this process may make a mount namespace and mount in it. */
static bool mount_ns_permitted(void)
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(unshare(CLONE_NEWNS) == 0 &&
			      mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0
		      ? 0
		      : 1);
	return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 0;
}

/* ro: the daemon's writes fail with EROFS; the host's view of the directory is not changed. */
static void test_readonly(void **state)
{
	struct env *e = *state;
	struct share_config cfg = { 0 };
	char report[8192], probe[512];
	struct fs_daemon *d;
	int sock = -1, fd;

	snprintf(cfg.path, sizeof(cfg.path), "%s", e->share);
	cfg.readonly = true;
	fake_script(e, "report", cfg.virtiofsd, sizeof(cfg.virtiofsd));
	assert_int_equal(fs_daemon_start(&d, &cfg, &sock, e->err, sizeof(e->err)), 0);
	read_report(sock, report, sizeof(report), "END\n");
	snprintf(probe, sizeof(probe), "WRITE_ERRNO=%d", EROFS);
	expect_line(report, probe);
	/* The read-only mount is the daemon's alone. */
	snprintf(probe, sizeof(probe), "%s/host-writes", e->share);
	fd = open(probe, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	close(sock);
	fs_daemon_stop(d, NULL);
}

/* ro without the privilege for it: status 3 and the reason, no daemon left. */
static void test_readonly_not_permitted(void **state)
{
	struct env *e = *state;
	int pfd[2], status;
	char msg[512] = "";
	pid_t pid;
	ssize_t n;

	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
		struct __user_cap_data_struct caps[2];
		struct share_config cfg = { 0 };
		struct fs_daemon *d = NULL;
		int sock = -1, ret;

		close(pfd[0]);
		if (syscall(SYS_capget, &hdr, caps) < 0)
			_exit(77);
		caps[0].effective &= ~(1U << CAP_SYS_ADMIN);
		caps[0].permitted &= ~(1U << CAP_SYS_ADMIN);
		if (syscall(SYS_capset, &hdr, caps) < 0)
			_exit(77);
		snprintf(cfg.path, sizeof(cfg.path), "%s", e->share);
		cfg.readonly = true;
		fake_script(e, "report", cfg.virtiofsd, sizeof(cfg.virtiofsd));
		ret = fs_daemon_start(&d, &cfg, &sock, msg, sizeof(msg));
		if (write(pfd[1], msg, strlen(msg)) < 0)
			_exit(1);
		_exit(ret);
	}
	close(pfd[1]);
	n = read(pfd[0], msg, sizeof(msg) - 1);
	msg[n > 0 ? n : 0] = '\0';
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(status), KVMRUN_ERR_INPUT);
	assert_non_null(strstr(msg, "ro: cannot make a read-only mount"));
	assert_non_null(strstr(msg, "CAP_SYS_ADMIN"));
}

/* The initramfs as root, told from /proc/self/mountinfo: only the topmost mount on "/". */
static bool rootfs_in(const char *text)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	bool r;

	assert_non_null(f);
	r = fs_mountinfo_root_is_rootfs(f);
	fclose(f);
	return r;
}

static void test_mountinfo_rootfs(void **state)
{
	(void)state;
	/* An initramfs never left, with proc on top of a directory in it. */
	assert_true(rootfs_in("1 1 0:2 / / rw - rootfs rootfs rw,size=1000k\n"
			      "20 1 0:5 / /proc rw,nosuid shared:1 - proc proc rw\n"));
	/* switch_root: a 9p root on top of it. */
	assert_false(rootfs_in("1 1 0:2 / / rw - rootfs rootfs rw\n"
			       "24 1 0:22 / / ro,relatime - 9p host ro,trans=virtio\n"));
	/* An ordinary host. */
	assert_false(rootfs_in("22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"));
	/* Long mount points that start with "/", lines without " - ", junk, nothing. */
	assert_false(rootfs_in("30 1 0:9 / /rootfs-like-directory rw - rootfs rootfs rw\n"));
	assert_false(rootfs_in("1 1 0:2 / / rw rootfs rootfs rw\n"));
	assert_false(rootfs_in("garbage\n\n - \n1 2\n"));
	assert_false(rootfs_in(""));
	/* A type longer than the parser reads is not rootfs. */
	assert_false(rootfs_in("1 1 0:2 / / rw - rootfsrootfsrootfsrootfs x rw\n"));
}

/*
 * Without arguments, the tests that need no privilege; with "privileged", those
 * that need a mount namespace (CAP_SYS_ADMIN): exit status 77 (skipped) where
 * there is none, so that they are never counted as passed.
 */
int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_args_and_fds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_dir_chroot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exit_at_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_binary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_reaps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dies_with_parent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_not_permitted, setup, teardown),
		cmocka_unit_test(test_mountinfo_rootfs),
	};
	const struct CMUnitTest privileged[] = {
		cmocka_unit_test_setup_teardown(test_readonly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_default, setup, teardown),
	};

	if (argc > 1 && !strcmp(argv[1], "privileged")) {
		if (!mount_ns_permitted()) {
			fprintf(stderr, "no mount namespace here (needs CAP_SYS_ADMIN): skipped\n");
			return 77;
		}
		return cmocka_run_group_tests(privileged, NULL, NULL);
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
