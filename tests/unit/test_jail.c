// SPDX-License-Identifier: Apache-2.0
/*
 * The jail (jail.h) in forked children on this host: as root, as an unprivileged
 * user (a user namespace), refused where the kernel refuses user namespaces (in a
 * chroot), the cgroup leaf, and its object in exec's report. The parent looks at
 * the child from outside through /proc as well. Where the host cannot give what a
 * case needs, the case says why and the program ends with 77 (skipped), never 0.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <linux/capability.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/disk_pool.h"
#include "exec/report.h"
#include "kvmrun/event_loop.h"
#include "kvmrun/jail.h"

#define NOBODY 65534
#define JAIL_NS_ALL (CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP | CLONE_NEWNET)

/* Set by a case that could not run here; main then ends with 77. */
struct skips {
	unsigned int n;
};

static void skip_case(void **state, const char *why)
{
	struct skips *s = *state;

	fprintf(stderr, "SKIPPED (not passed): %s\n", why);
	s->n++;
	skip();
}

/* A child's checks: one line to the parent on the first failure, then exit 1. */
static int child_out = -1;

#define CHILD_CHECK(cond, ...)                                                                     \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			dprintf(child_out, "line %d: %s: ", __LINE__, #cond);                      \
			dprintf(child_out, __VA_ARGS__);                                           \
			dprintf(child_out, " (errno %s)\n", strerror(errno));                      \
			_exit(1);                                                                  \
		}                                                                                  \
	} while (0)

struct child {
	pid_t pid;
	int from; /* the child's lines */
	int to;	  /* a byte lets it end */
};

/* fn runs in a child with child_out set; it writes "ready\n" and waits for the parent. */
static void child_start(struct child *c, void (*fn)(void *), void *arg)
{
	int up[2], down[2];

	assert_int_equal(pipe2(up, O_CLOEXEC), 0);
	assert_int_equal(pipe2(down, O_CLOEXEC), 0);
	c->pid = fork();
	assert_true(c->pid >= 0);
	if (!c->pid) {
		char b;

		close(up[0]);
		close(down[1]);
		child_out = up[1];
		fn(arg);
		dprintf(child_out, "ready\n");
		if (read(down[0], &b, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	c->from = up[0];
	c->to = down[1];
}

/* Reads the child's first line: "ready", or why it failed (then the case fails). */
static void child_ready(struct child *c)
{
	char line[1024];
	ssize_t n = read(c->from, line, sizeof(line) - 1);

	line[n > 0 ? n : 0] = '\0';
	if (strcmp(line, "ready\n"))
		fail_msg("child: %s", n > 0 ? line : "ended without a word");
}

static void child_end(struct child *c)
{
	int st;

	assert_int_equal(write(c->to, "x", 1), 1);
	assert_int_equal(waitpid(c->pid, &st, 0), c->pid);
	close(c->from);
	close(c->to);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void read_text(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		fail_msg("%s: %s", path, strerror(errno));
	n = read(fd, buf, size - 1);
	close(fd);
	assert_true(n >= 0);
	buf[n] = '\0';
}

/* The value of "Key:" in /proc/PID/status (or task/TID/status). */
static void status_field(const char *path, const char *key, char *out, size_t size)
{
	char buf[8192], *p;
	size_t n = strlen(key);

	read_text(path, buf, sizeof(buf));
	for (p = buf; p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, key, n) && p[n] == ':') {
			p += n + 1;
			p += strspn(p, " \t");
			snprintf(out, size, "%.*s", (int)strcspn(p, "\n"), p);
			return;
		}
	fail_msg("%s: no %s", path, key);
}

/* Looking from outside: another root, no capabilities, no_new_privs, other namespaces. */
static void check_from_outside(pid_t pid, bool userns)
{
	static const char *const ns[] = {"mnt", "net", "ipc", "uts", "cgroup", "user"};
	char path[64], mine[64], theirs[64], v[64];
	struct dirent *de;
	unsigned int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	assert_int_equal(n, 0);
	snprintf(path, sizeof(path), "/proc/%d/root/etc/passwd", (int)pid);
	assert_true(access(path, F_OK) < 0 && errno == ENOENT);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	for (const char *const *k =
		 (const char *const[]){"CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb", NULL};
	     *k; k++) {
		status_field(path, *k, v, sizeof(v));
		if (strcmp(v, "0000000000000000"))
			fail_msg("%s is %s", *k, v);
	}
	status_field(path, "NoNewPrivs", v, sizeof(v));
	assert_string_equal(v, "1");
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		ssize_t a, b;

		snprintf(path, sizeof(path), "/proc/self/ns/%s", ns[i]);
		a = readlink(path, mine, sizeof(mine) - 1);
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, ns[i]);
		b = readlink(path, theirs, sizeof(theirs) - 1);
		assert_true(a > 0 && b > 0);
		mine[a] = theirs[b] = '\0';
		if (!strcmp(ns[i], "user") && !userns)
			assert_string_equal(mine, theirs);
		else if (!strcmp(mine, theirs))
			fail_msg("namespace %s is still the host's: %s", ns[i], mine);
	}
}

static void *thread_nop(void *arg)
{
	return arg;
}

struct jail_case {
	bool unprivileged;
	int keep_fd; /* opened before the jail, must still work after */
};

/* In the child: the jail, then what it must and must not allow from inside. */
static void child_jail(void *opaque)
{
	struct jail_case *jc = opaque;
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct caps[2];
	struct jail_report rep = {0};
	struct rlimit rl;
	struct dirent *de;
	char err[512], host[64];
	pthread_t t;
	DIR *d;
	int ret, fd;

	/* dumpable again, as after an execve: else /proc/self/uid_map stays root's */
	if (jc->unprivileged && geteuid() == 0)
		CHILD_CHECK(!setgroups(0, NULL) && !setresgid(NOBODY, NOBODY, NOBODY) &&
				!setresuid(NOBODY, NOBODY, NOBODY) &&
				!prctl(PR_SET_DUMPABLE, 1, 0, 0, 0),
			    "becoming nobody");
	ret = jail_enter(&rep, err, sizeof(err));
	CHILD_CHECK(ret == 0, "jail_enter: %s", err);
	CHILD_CHECK(rep.entered && rep.user_namespace == jc->unprivileged, "report");
	CHILD_CHECK(rep.namespaces == (JAIL_NS_ALL | (jc->unprivileged ? CLONE_NEWUSER : 0)),
		    "namespaces %#x", rep.namespaces);
	/* no host path */
	CHILD_CHECK(open("/etc/passwd", O_RDONLY | O_CLOEXEC) < 0 && errno == ENOENT,
		    "/etc/passwd opened");
	CHILD_CHECK(open("/proc/self/status", O_RDONLY | O_CLOEXEC) < 0, "/proc is there");
	CHILD_CHECK(open("/dev/null", O_RDONLY | O_CLOEXEC) < 0, "/dev/null is there");
	d = opendir("/");
	CHILD_CHECK(d, "opendir /");
	while ((de = readdir(d)))
		CHILD_CHECK(!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."), "/%s",
			    de->d_name);
	closedir(d);
	CHILD_CHECK(mkdir("/x", 0700) < 0, "mkdir in the root");
	CHILD_CHECK(chdir("..") == 0 && open("etc", O_RDONLY) < 0, "out through ..");
	/* what was open still works */
	CHILD_CHECK(write(jc->keep_fd, "k", 1) == 1, "the descriptor opened before");
	/* no capability, in any set; no_new_privs */
	CHILD_CHECK(!syscall(SYS_capget, &hdr, caps), "capget");
	for (int i = 0; i < 2; i++)
		CHILD_CHECK(!caps[i].effective && !caps[i].permitted && !caps[i].inheritable,
			    "capabilities left %x %x %x", caps[i].effective, caps[i].permitted,
			    caps[i].inheritable);
	CHILD_CHECK(prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) == 0, "bounding set");
	CHILD_CHECK(prctl(PR_CAPBSET_READ, CAP_CHOWN, 0, 0, 0) == 0, "bounding set");
	CHILD_CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1, "no_new_privs");
	if (jc->unprivileged)
		CHILD_CHECK(setresuid(0, 0, 0) < 0, "became root again");
	CHILD_CHECK(sethostname("x", 1) < 0, "sethostname after the capabilities went");
	CHILD_CHECK(!gethostname(host, sizeof(host)) && !strcmp(host, "kvmrun"), "hostname %s",
		    host);
	/* rlimits */
	CHILD_CHECK(!getrlimit(RLIMIT_CORE, &rl) && rl.rlim_cur == 0 && rl.rlim_max == 0, "core");
	CHILD_CHECK(!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_max == rep.nofile &&
			rl.rlim_cur == rep.nofile &&
			rep.nofile >= (uint64_t)jc->keep_fd + 1 + JAIL_NOFILE_MARGIN &&
			rep.nofile < (uint64_t)jc->keep_fd + 64 + JAIL_NOFILE_MARGIN,
		    "nofile %llu, kept fd %d", (unsigned long long)rl.rlim_cur, jc->keep_fd);
	fd = (int)rep.nofile;
	CHILD_CHECK(dup2(jc->keep_fd, fd) < 0 && errno == EBADF, "a descriptor above the limit");
	CHILD_CHECK(setrlimit(RLIMIT_NOFILE, &(struct rlimit){4096, 4096}) < 0,
		    "raised the limit again");
	/* threads until sealed; then none for an unprivileged user (root is exempt) */
	CHILD_CHECK(!pthread_create(&t, NULL, thread_nop, NULL) && !pthread_join(t, NULL),
		    "a thread before jail_seal");
	ret = jail_seal(&rep, 1, err, sizeof(err));
	CHILD_CHECK(ret == 0 && rep.nproc == 1, "jail_seal: %s", err);
	CHILD_CHECK(!getrlimit(RLIMIT_NPROC, &rl) && rl.rlim_cur == 1, "nproc");
	if (jc->unprivileged) {
		ret = pthread_create(&t, NULL, thread_nop, NULL);
		CHILD_CHECK(ret == EAGAIN, "a thread after jail_seal: %s", strerror(ret));
		CHILD_CHECK(fork() < 0 && errno == EAGAIN, "a process after jail_seal");
	}
}

static bool userns_allowed(void)
{
	pid_t pid = fork();
	int st;

	if (!pid) {
		if (geteuid() == 0 && (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
				       setresuid(NOBODY, NOBODY, NOBODY)))
			_exit(1);
		_exit(unshare(CLONE_NEWUSER) ? 1 : 0);
	}
	return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && !WEXITSTATUS(st);
}

static void run_jail_case(bool unprivileged)
{
	struct jail_case jc = {.unprivileged = unprivileged};
	int p[2];
	struct child c;
	char b;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	/* a high number: RLIMIT_NOFILE must stay above the highest descriptor held */
	jc.keep_fd = fcntl(p[1], F_DUPFD_CLOEXEC, 200);
	assert_true(jc.keep_fd >= 200);
	child_start(&c, child_jail, &jc);
	close(jc.keep_fd);
	close(p[1]);
	child_ready(&c);
	check_from_outside(c.pid, unprivileged);
	assert_int_equal(read(p[0], &b, 1), 1);
	assert_int_equal(b, 'k');
	close(p[0]);
	child_end(&c);
}

static void test_jail_root(void **state)
{
	if (geteuid() != 0)
		return skip_case(state, "the jail as root: not running as root");
	run_jail_case(false);
}

static void test_jail_unprivileged(void **state)
{
	if (!userns_allowed())
		return skip_case(state, "the jail as an unprivileged user: this host refuses "
					"unprivileged user namespaces");
	run_jail_case(true);
}

/* In a chroot the kernel refuses user namespaces: one line naming --jail, and nothing done. */
static void child_refused(void *opaque)
{
	const char *dir = opaque;
	struct jail_report rep = {0};
	char err[512];
	int ret;

	CHILD_CHECK(!chroot(dir) && !chdir("/"), "chroot");
	CHILD_CHECK(!setgroups(0, NULL) && !setresgid(NOBODY, NOBODY, NOBODY) &&
			!setresuid(NOBODY, NOBODY, NOBODY),
		    "becoming nobody");
	ret = jail_enter(&rep, err, sizeof(err));
	CHILD_CHECK(ret == -EPERM, "jail_enter gave %d: %s", ret, err);
	CHILD_CHECK(!strncmp(err, "--jail on: cannot create a user namespace", 41) &&
			strstr(err, "--jail off") && !strchr(err, '\n'),
		    "the line: %s", err);
	CHILD_CHECK(!rep.entered && !rep.namespaces && !rep.user_namespace, "report");
}

static void test_jail_refused(void **state)
{
	char dir[] = "/tmp/test_jail.XXXXXX";
	struct child c;

	if (geteuid() != 0)
		return skip_case(state, "a refused user namespace: chroot needs root");
	assert_non_null(mkdtemp(dir));
	child_start(&c, child_refused, dir);
	child_ready(&c);
	child_end(&c);
	rmdir(dir);
}

/* A writable cgroup v2 mount point, or NULL. */
static const char *cgroup2_root(char *buf, size_t size)
{
	char line[1024], dev[256], dir[512], type[64];
	FILE *f = fopen("/proc/self/mounts", "re");
	const char *found = NULL;

	while (f && !found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%255s %511s %63s", dev, dir, type) == 3 &&
		    !strcmp(type, "cgroup2") && !access(dir, W_OK)) {
			snprintf(buf, size, "%s", dir);
			found = buf;
		}
	if (f)
		fclose(f);
	return found;
}

struct cg_case {
	struct jail_config cfg;
	int want;	  /* jail_cgroup_enter's return */
	const char *line; /* the error line starts with it */
};

static void child_cgroup(void *opaque)
{
	struct cg_case *cc = opaque;
	struct jail_report rep = {0};
	char err[512] = "";
	int ret;

	ret = jail_cgroup_enter(&cc->cfg, &rep, err, sizeof(err));
	CHILD_CHECK(ret == cc->want, "jail_cgroup_enter gave %d: %s", ret, err);
	if (ret)
		CHILD_CHECK(!strncmp(err, cc->line, strlen(cc->line)) && !strchr(err, '\n'),
			    "the line: %s", err);
	else
		CHILD_CHECK(!strncmp(rep.cgroup, cc->cfg.cgroup, strlen(cc->cfg.cgroup)) &&
				rep.memory_max == cc->cfg.memory_max &&
				rep.pids_max == cc->cfg.pids_max,
			    "report %s", rep.cgroup);
}

static bool cgroup_has(const char *dir, const char *file, const char *word)
{
	char path[1024], buf[512];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	read_text(path, buf, sizeof(buf));
	for (char *save = NULL, *w = strtok_r(buf, " \n", &save); w;
	     w = strtok_r(NULL, " \n", &save))
		if (!strcmp(w, word))
			return true;
	return false;
}

static void test_cgroup(void **state)
{
	char root[512], dir[600], leaf[700], path[800], buf[256], want[256];
	struct cg_case cc = {.want = 0};
	struct child c;

	if (!cgroup2_root(root, sizeof(root)))
		return skip_case(state, "--cgroup: no writable cgroup v2 mount here");
	snprintf(dir, sizeof(dir), "%s/kvmrun-test.%d", root, (int)getpid());
	assert_int_equal(mkdir(dir, 0755), 0);

	/* no limits: the leaf, and the process inside it */
	cc.cfg.cgroup = dir;
	child_start(&c, child_cgroup, &cc);
	child_ready(&c);
	snprintf(leaf, sizeof(leaf), "%s/kvmrun.%d", dir, (int)c.pid);
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)c.pid);
	read_text(path, buf, sizeof(buf));
	snprintf(want, sizeof(want), "/kvmrun-test.%d/kvmrun.%d\n", (int)getpid(), (int)c.pid);
	if (!strstr(buf, want))
		fail_msg("the child's cgroup: %s, expected ...%s", buf, want);
	child_end(&c);
	assert_int_equal(rmdir(leaf), 0);

	/* limits: written where the controllers exist, else one line naming --limit */
	cc.cfg.memory_max = 64ULL << 20;
	cc.cfg.pids_max = 17;
	if (!cgroup_has(root, "cgroup.controllers", "memory") ||
	    !cgroup_has(root, "cgroup.controllers", "pids")) {
		cc.want = -ENOENT;
		cc.line = "--limit: cannot enable the memory controller";
		if (cgroup_has(root, "cgroup.controllers", "memory"))
			cc.line = "--limit: cannot enable the pids controller";
	} else if (!cgroup_has(root, "cgroup.subtree_control", "memory")) {
		fprintf(stderr, "note: memory not delegated at %s; limits checked as refused\n",
			root);
		cc.want = -ENOENT;
		cc.line = "--limit: cannot enable the memory controller";
	}
	child_start(&c, child_cgroup, &cc);
	child_ready(&c);
	snprintf(leaf, sizeof(leaf), "%s/kvmrun.%d", dir, (int)c.pid);
	if (!cc.want) {
		snprintf(path, sizeof(path), "%s/memory.max", leaf);
		read_text(path, buf, sizeof(buf));
		assert_string_equal(buf, "67108864\n");
		snprintf(path, sizeof(path), "%s/pids.max", leaf);
		read_text(path, buf, sizeof(buf));
		assert_string_equal(buf, "17\n");
	}
	child_end(&c);
	rmdir(leaf);

	/* not a cgroup v2 directory; missing */
	cc = (struct cg_case){
	    .cfg.cgroup = "/", .want = -ENOTDIR, .line = "--cgroup /: not a cgroup v2 directory"};
	child_start(&c, child_cgroup, &cc);
	child_ready(&c);
	child_end(&c);
	cc = (struct cg_case){.cfg.cgroup = "/nonexistent-cg",
			      .want = -ENOENT,
			      .line = "--cgroup /nonexistent-cg: No such file"};
	child_start(&c, child_cgroup, &cc);
	child_ready(&c);
	child_end(&c);
	assert_int_equal(rmdir(dir), 0);
}

static unsigned int nr_threads(void)
{
	struct dirent *de;
	unsigned int n = 0;
	DIR *d = opendir("/proc/self/task");

	assert_non_null(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

struct starts {
	int ret;
	unsigned int calls;
};

static int start_fn(void *opaque)
{
	struct starts *s = opaque;

	s->calls++;
	return s->ret;
}

/*
 * The jail needs a process with one thread: a disk's workers wait for
 * ev_start_threads() while the loop holds threads, and start at once otherwise.
 */
static void test_thread_starts(void **state)
{
	struct starts a = {.ret = 2}, b = {.ret = 3}, c = {.ret = -EAGAIN};
	struct ev_thread_start sa = {.fn = start_fn, .opaque = &a};
	struct ev_thread_start sb = {.fn = start_fn, .opaque = &b};
	struct ev_thread_start sc = {.fn = start_fn, .opaque = &c};
	struct disk_pool *pool;
	struct ev_loop *loop;
	unsigned int before;
	char path[] = "/tmp/test_jail_disk.XXXXXX";
	int fd, efd;

	(void)state;
	assert_int_equal(ev_loop_create(&loop), 0);
	assert_int_equal(ev_thread_start(loop, &sa), 2); /* not held: at once */
	assert_int_equal(a.calls, 1);
	ev_hold_threads(loop);
	assert_int_equal(ev_thread_start(loop, &sa), 0);
	assert_int_equal(ev_thread_start(loop, &sc), 0);
	assert_int_equal(ev_thread_start(loop, &sb), 0);
	assert_int_equal(a.calls + b.calls + c.calls, 1);
	ev_thread_cancel(loop, &sc);
	assert_int_equal(ev_start_threads(loop), 5);
	assert_int_equal(a.calls, 2);
	assert_int_equal(b.calls, 1);
	assert_int_equal(c.calls, 0);
	assert_int_equal(ev_start_threads(loop), 0);
	ev_hold_threads(loop);
	assert_int_equal(ev_thread_start(loop, &sc), 0);
	assert_int_equal(ev_start_threads(loop), -EAGAIN);

	/* a disk's worker threads */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(efd >= 0);
	ev_hold_threads(loop);
	before = nr_threads();
	assert_int_equal(disk_pool_create(&pool, fd, fd, false, efd, 3, false, loop), 0);
	assert_int_equal(nr_threads(), before);
	assert_int_equal(ev_start_threads(loop), 3);
	assert_int_equal(nr_threads(), before + 3);
	disk_pool_destroy(pool);
	assert_int_equal(nr_threads(), before);
	/* destroyed before its start: taken off the queue, nothing started */
	ev_hold_threads(loop);
	assert_int_equal(disk_pool_create(&pool, fd, fd, false, efd, 2, false, loop), 0);
	disk_pool_destroy(pool);
	assert_int_equal(ev_start_threads(loop), 0);
	assert_int_equal(nr_threads(), before);
	close(efd);
	close(fd);
	ev_loop_destroy(loop);
}

/* exec's report: the "jail" object. */
static void test_report_jail(void **state)
{
	char *argv[] = {"kvmrun", NULL};
	struct exec_report r = {.argc = 1, .argv = argv, .exit_code = -1};
	json_t *j, *jail, *ns, *cg;
	json_error_t e;
	char *text;

	(void)state;
	r.jail = (struct jail_report){.on = true,
				      .entered = true,
				      .user_namespace = true,
				      .namespaces = JAIL_NS_ALL | CLONE_NEWUSER,
				      .memory_max = 1ULL << 30,
				      .cpu_milli = 1500,
				      .nofile = 80,
				      .nproc = 4};
	snprintf(r.jail.cgroup, sizeof(r.jail.cgroup), "/sys/fs/cgroup/u/kvmrun.7");
	text = exec_report_json(&r);
	assert_non_null(text);
	j = json_loads(text, 0, &e);
	free(text);
	assert_non_null(j);
	jail = json_object_get(j, "jail");
	assert_true(json_is_true(json_object_get(jail, "on")));
	assert_true(json_is_true(json_object_get(jail, "entered")));
	assert_true(json_is_true(json_object_get(jail, "user_namespace")));
	ns = json_object_get(jail, "namespaces");
	assert_int_equal(json_array_size(ns), 6);
	assert_string_equal(json_string_value(json_array_get(ns, 0)), "mount");
	assert_string_equal(json_string_value(json_array_get(ns, 5)), "user");
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(jail, "rlimits"), "nofile")), 80);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(jail, "rlimits"), "core")), 0);
	cg = json_object_get(jail, "cgroup");
	assert_string_equal(json_string_value(json_object_get(cg, "path")),
			    "/sys/fs/cgroup/u/kvmrun.7");
	assert_int_equal(json_integer_value(json_object_get(cg, "memory_max")), 1LL << 30);
	assert_true(json_real_value(json_object_get(cg, "cpus")) == 1.5);
	assert_true(json_is_null(json_object_get(cg, "pids_max")));
	json_decref(j);

	/* --jail off: nothing entered, no cgroup */
	r.jail = (struct jail_report){0};
	text = exec_report_json(&r);
	j = json_loads(text, 0, &e);
	free(text);
	assert_non_null(j);
	jail = json_object_get(j, "jail");
	assert_true(json_is_false(json_object_get(jail, "on")));
	assert_true(json_is_false(json_object_get(jail, "entered")));
	assert_int_equal(json_array_size(json_object_get(jail, "namespaces")), 0);
	assert_true(json_is_null(json_object_get(jail, "cgroup")));
	assert_true(json_is_null(json_object_get(json_object_get(jail, "rlimits"), "nproc")));
	json_decref(j);
}

int main(void)
{
	struct skips s = {0};
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_prestate(test_jail_root, &s),
	    cmocka_unit_test_prestate(test_jail_unprivileged, &s),
	    cmocka_unit_test_prestate(test_jail_refused, &s),
	    cmocka_unit_test_prestate(test_cgroup, &s),
	    cmocka_unit_test(test_report_jail),
	    cmocka_unit_test(test_thread_starts),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);

	if (failed)
		return failed;
	return s.n ? 77 : 0;
}
