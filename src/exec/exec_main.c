// SPDX-License-Identifier: Apache-2.0
/* kvmrun exec from the command line to the exit status: the setup, the VM, the report. */
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <time.h>

#include "exec/kimage.h"
#include "exec/exec.h"
#include "exec/initramfs.h"
#include "exec/relay.h"
#include "exec/report.h"
#include "backend/disk.h"
#include "virtio/blk.h"
#include "virtio/console_ports.h"
#include "virtio/net.h"
#include "kvmrun/event_loop.h"
#include "kvmrun/exit_status.h"
#include "kvmrun/log.h"
#include "kvmrun/vm.h"

/* PROGRAM's environment when --env does not say otherwise. */
static const char *const exec_default_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
};

/* Where the agent is looked for when $KVMRUN_AGENT does not say. */
static const char *const exec_agent_dirs[] = {"/usr/local/libexec/kvmrun", "/usr/libexec/kvmrun"};

struct exec_setup {
	char kernel[PATH_MAX];
	char release[BZIMAGE_RELEASE_MAX];
	char agent[PATH_MAX];
	char cmdline[4096];
	struct initramfs_result initramfs;
};

static int exec_fail(const char *fmt, ...) PRINTF_FMT(1, 2);

/* One line on stderr naming the cause; exec's own failures are status 125. */
static int exec_fail(const char *fmt, ...) PRINTF_FMT(1, 2);
static int exec_fail(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_err("%s", line);
	return KVMRUN_EXEC_FAILED;
}

/*
 * The agent binary: $KVMRUN_AGENT, else firmware/kvmrun-agent next to kvmrun
 * (the build tree), else the install directories.
 */
static int exec_find_agent(char *buf, size_t size)
{
	const char *env = getenv("KVMRUN_AGENT");
	char self[PATH_MAX];
	ssize_t n;

	if (env && *env) {
		snprintf(buf, size, "%s", env);
		return access(buf, R_OK) ? -errno : 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		char *slash;

		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			if ((size_t)snprintf(buf, size, "%s/firmware/kvmrun-agent", self) < size &&
			    !access(buf, R_OK))
				return 0;
		}
	}
	for (unsigned int i = 0; i < ARRAY_SIZE(exec_agent_dirs); i++) {
		snprintf(buf, size, "%s/kvmrun-agent", exec_agent_dirs[i]);
		if (!access(buf, R_OK))
			return 0;
	}
	return -ENOENT;
}

/* The kernel, its release, the agent, the initramfs and the command line. */
static int exec_prepare(struct exec_setup *s, struct vm_config *cfg, const struct exec_config *ec)
{
	const char *modules[EXEC_MODULES_MAX];
	struct initramfs_spec spec = {0};
	struct utsname u;
	int ret;

	if (uname(&u) < 0)
		return exec_fail("uname: %s", strerror(errno));
	ret = exec_kernel_path(cfg->kernel, u.release, s->kernel, sizeof(s->kernel));
	if (ret)
		return exec_fail("no kernel: %s: %s; %s", s->kernel, strerror(-ret),
				 EXEC_NO_KERNEL_HINT);
	ret = kimage_release(s->kernel, s->release, sizeof(s->release));
	if (ret == -EPROTONOSUPPORT)
		return exec_fail("--kernel %s: a gzip-compressed kernel; give the uncompressed "
				 "Image", s->kernel);
	if (ret == -ENOEXEC)
		return exec_fail("--kernel %s: neither a bzImage nor an arm64 Image", s->kernel);
	if (ret)
		return exec_fail("--kernel %s: cannot read its release: %s", s->kernel,
				 strerror(-ret));
	ret = exec_find_agent(s->agent, sizeof(s->agent));
	if (ret)
		return exec_fail("the guest agent (kvmrun-agent) was not found: set KVMRUN_AGENT");
	spec.agent = s->agent;
	spec.release = s->release;
	spec.modules_dir = ec->modules;
	spec.modules = modules;
	spec.nmodules = exec_modules_for(cfg, modules);
	ret = initramfs_build(&spec, &s->initramfs);
	if (ret)
		return exec_fail("the initramfs: %s", s->initramfs.error);
	for (unsigned int i = 0; i < cfg->nr_shares; i++) {
		struct share_config *sc = &cfg->shares[i];
		char abs[PATH_MAX];

		if (!sc->path[0])
			continue;
		if (!realpath(sc->path, abs))
			return exec_fail("--share %s: %s", sc->path, strerror(errno));
		if (strlen(abs) >= sizeof(sc->path))
			return exec_fail("--share %s: name too long", sc->path);
		strcpy(sc->path, abs);
	}
	if (exec_kernel_cmdline(cfg->append, s->cmdline, sizeof(s->cmdline)) ||
	    (exec_root_is_disk(cfg) && exec_root_disk_arg(s->cmdline, sizeof(s->cmdline))))
		return exec_fail("--append: kernel command line too long");
	ret = exec_share_args(cfg, s->cmdline, sizeof(s->cmdline));
	if (ret)
		return exec_fail("--share: %s",
				 ret == -E2BIG ? "kernel command line too long"
					       : "a directory or tag with white space cannot be "
						 "shared in exec");
	if (exec_net_args(cfg, s->cmdline, sizeof(s->cmdline)))
		return exec_fail("--net: kernel command line too long");
	cfg->kernel = s->kernel;
	cfg->initrd = s->initramfs.path;
	cfg->append = s->cmdline;
	return 0;
}

/* Everything one run holds, from the command line to the report. */
struct exec_ctx {
	struct exec_setup setup;
	struct exec_relay relay;
	struct virtio_console_port port;
	struct vm *vm;
	struct proto_job job;
	const char *envp[ARRAY_SIZE(exec_default_env) + EXEC_ENV_MAX + 2];
	char term[128]; /* TERM=, with -t */
	int winch_fd;	/* -t: SIGWINCH */
	bool raw;	/* -t: kvmrun's terminal is raw, saved_tio to put back */
	struct termios saved_tio;
	int report_fd;
	struct exec_report rep;
	struct exec_report_device devs[EXEC_REPORT_DEVICES];
	struct vm_helper_cpu helpers[VM_MAX_HELPERS];
	uint8_t tail[EXEC_CONSOLE_TAIL];
};

static size_t exec_port_from_guest(void *opaque, const uint8_t *buf, size_t len)
{
	struct exec_ctx *x = opaque;

	return exec_relay_from_port(&x->relay, buf, len);
}

static void exec_port_writable(void *opaque)
{
	struct exec_ctx *x = opaque;

	exec_relay_port_writable(&x->relay);
}

static void exec_port_open(void *opaque, bool open)
{
	struct exec_ctx *x = opaque;

	exec_relay_port_open(&x->relay, open);
}

/* SIGINT, SIGTERM, SIGHUP to kvmrun: to PROGRAM while it runs (exec_relay_signal). */
static bool exec_signal(void *opaque, int signo)
{
	struct exec_ctx *x = opaque;

	if (!exec_relay_signal(&x->relay, signo))
		return false;
	log_info("signal %d passed on to PROGRAM", signo);
	return true;
}

static const struct virtio_console_port_ops exec_port_ops = {
    .from_guest = exec_port_from_guest,
    .writable = exec_port_writable,
    .open_changed = exec_port_open,
};

static size_t exec_port_send(void *opaque, const uint8_t *buf, size_t len)
{
	struct exec_ctx *x = opaque;

	return virtio_console_port_send(vm_ports_dev(x->vm), 0, buf, len);
}

static void exec_done(void *opaque, int status)
{
	struct exec_ctx *x = opaque;

	ev_stop(vm_loop(x->vm), status);
}

/* --env over the defaults: a default whose NAME --env sets is left out. */
static void exec_env(struct exec_ctx *x, const struct exec_config *ec)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < ARRAY_SIZE(exec_default_env); i++) {
		const char *d = exec_default_env[i];
		size_t len = (size_t)(strchr(d, '=') - d) + 1;
		bool set = false;

		for (unsigned int j = 0; j < ec->nr_env && !set; j++)
			set = !strncmp(ec->env[j], d, len);
		if (!set)
			x->envp[n++] = d;
	}
	if (ec->tty) {
		const char *term = getenv("TERM");
		bool set = false;

		for (unsigned int j = 0; j < ec->nr_env && !set; j++)
			set = !strncmp(ec->env[j], "TERM=", 5);
		snprintf(x->term, sizeof(x->term), "TERM=%s", term && *term ? term : "xterm");
		if (!set)
			x->envp[n++] = x->term;
	}
	for (unsigned int j = 0; j < ec->nr_env; j++)
		x->envp[n++] = ec->env[j];
	x->envp[n] = NULL;
}

/*
 * --root IMAGE: a snapshot virtio-blk disk with the serial EXEC_ROOT_SERIAL,
 * after the user's disks; nothing the guest writes reaches IMAGE.
 */
static int exec_root_disk(struct vm_config *cfg, const char *root)
{
	struct disk_config *dc;

	for (unsigned int i = 0; i < cfg->nr_disks; i++)
		if (cfg->disks[i].has_serial && !strcmp(cfg->disks[i].serial, EXEC_ROOT_SERIAL))
			return exec_fail("--disk %s: the serial '%s' is the root's in exec",
					 cfg->disks[i].path, EXEC_ROOT_SERIAL);
	if (cfg->nr_disks >= VM_MAX_DISKS)
		return exec_fail("--root %s: exec needs one of the %d disks for the root", root,
				 VM_MAX_DISKS);
	dc = &cfg->disks[cfg->nr_disks];
	*dc = (struct disk_config){.cache = DISK_CACHE_WRITEBACK, .snapshot = true,
				   .has_serial = true};
	if (strlen(root) >= sizeof(dc->path))
		return exec_fail("--root %s: name too long", root);
	snprintf(dc->path, sizeof(dc->path), "%s", root);
	snprintf(dc->serial, sizeof(dc->serial), "%s", EXEC_ROOT_SERIAL);
	cfg->nr_disks++;
	return 0;
}

/*
 * The root: --root DIR (default /) as a read-only share with the tag
 * EXEC_ROOT_TAG, or --root IMAGE (a regular file or a block device) as a
 * snapshot disk.
 */
static int exec_root(struct vm_config *cfg, const struct exec_config *ec)
{
	const char *root = ec->root ? ec->root : "/";
	struct share_config *sc;
	struct stat st;

	if (stat(root, &st) < 0)
		return exec_fail("--root %s: %s", root, strerror(errno));
	if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))
		return exec_root_disk(cfg, root);
	if (!S_ISDIR(st.st_mode))
		return exec_fail("--root %s: not a directory, a disk image or a block device",
				 root);
	for (unsigned int i = 0; i < cfg->nr_shares; i++)
		if (!strcmp(cfg->shares[i].tag, EXEC_ROOT_TAG))
			return exec_fail("--share %s: the tag '%s' is the root's in exec",
					 cfg->shares[i].path, EXEC_ROOT_TAG);
	if (cfg->nr_shares >= VM_MAX_SHARES)
		return exec_fail("--share: exec needs one of the %d shares for the root",
				 VM_MAX_SHARES);
	sc = &cfg->shares[cfg->nr_shares++];
	*sc = (struct share_config){.readonly = true};
	snprintf(sc->path, sizeof(sc->path), "%s", root);
	snprintf(sc->tag, sizeof(sc->tag), "%s", EXEC_ROOT_TAG);
	return 0;
}

static uint64_t exec_clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * -t: PROGRAM's pty gets the terminal's size now and as it changes (SIGWINCH,
 * blocked before the VM's threads start, through a signalfd on the loop).
 */
static void exec_tty_setup(struct exec_ctx *x)
{
	struct winsize ws;
	sigset_t set;

	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) < 0 || !ws.ws_row || !ws.ws_col)
		ws = (struct winsize){.ws_row = 24, .ws_col = 80};
	x->job.tty = true;
	x->job.rows = ws.ws_row;
	x->job.cols = ws.ws_col;
	sigemptyset(&set);
	sigaddset(&set, SIGWINCH);
	if (!pthread_sigmask(SIG_BLOCK, &set, NULL))
		x->winch_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* The disks' and the network devices' counters, once the VM stopped. */
static void exec_collect_devices(struct exec_ctx *x, const struct vm_config *cfg)
{
	struct exec_report_device *d = x->devs;
	struct virtio_dev *vdev;
	char name[16];

	for (unsigned int i = 0; (vdev = vm_disk_dev(x->vm, i)); i++) {
		struct disk_stats ds;

		virtio_blk_disk_stats(vdev, &ds);
		exec_report_blk(d, vdev->id ? vdev->id : "", cfg->disks[i].path,
				virtio_blk_stats(vdev), &ds);
		exec_report_limits(d++, virtio_blk_limiter(vdev), NULL);
	}
	for (unsigned int i = 0; (vdev = vm_net_dev(x->vm, i)); i++) {
		const struct rl_limiter *rx, *tx;

		snprintf(name, sizeof(name), "net%u", i);
		exec_report_net(d, name, cfg->nets[i].ifname[0] ? cfg->nets[i].ifname : NULL,
				virtio_net_stats(vdev));
		virtio_net_limiters(vdev, &rx, &tx);
		exec_report_limits(d++, rx, tx);
	}
	x->rep.devices = x->devs;
	x->rep.nr_devices = (unsigned int)(d - x->devs);
}

/* The VM with the agent's port, the relay on its loop, the run; returns the status. */
static int exec_run_vm(struct exec_ctx *x, struct vm_config *cfg, const struct exec_config *ec)
{
	struct vm_extras extras = {
	    .ports = &x->port, .nr_ports = 1, .signal = exec_signal, .signal_opaque = x};
	struct exec_relay_config rc;
	char why[256];
	int status;

	x->port = (struct virtio_console_port){
	    .name = EXEC_AGENT_PORT, .ops = &exec_port_ops, .opaque = x};
	if (ec->tty)
		exec_tty_setup(x);
	status = vm_create_extras(&x->vm, cfg, &extras);
	if (status) {
		x->rep.outcome = EXEC_VMM_ERROR;
		x->rep.reason = "the VM could not be set up";
		return KVMRUN_EXEC_FAILED;
	}
	rc = (struct exec_relay_config){
	    .loop = vm_loop(x->vm),
	    .in_fd = STDIN_FILENO,
	    .out_fd = STDOUT_FILENO,
	    .err_fd = STDERR_FILENO,
	    .job = &x->job,
	    .hello_ms = EXEC_HELLO_TIMEOUT_MS,
	    .timeout_ms = ec->timeout_ms,
	    .send = exec_port_send,
	    .send_opaque = x,
	    .done = exec_done,
	    .done_opaque = x,
	    .winch_fd = x->winch_fd,
	};
	if (fcntl(STDIN_FILENO, F_GETFD) < 0)
		rc.in_fd = -1;
	status = exec_relay_init(&x->relay, &rc);
	if (status) {
		vm_destroy(x->vm);
		x->vm = NULL;
		x->rep.outcome = EXEC_VMM_ERROR;
		x->rep.reason = "kvmrun's stdio could not be set up";
		return exec_fail("exec: kvmrun's stdin, stdout or stderr: %s", strerror(-status));
	}
	if (ec->tty && isatty(STDIN_FILENO) && !tcgetattr(STDIN_FILENO, &x->saved_tio)) {
		struct termios raw = x->saved_tio;

		cfmakeraw(&raw);
		x->raw = !tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	}
	status = vm_run(x->vm);
	x->rep.jail = *vm_jail_report(x->vm);
	if (x->raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &x->saved_tio);
	x->rep.phase_ns[EXEC_PHASE_FIRST_RUN] = vm_first_run_ns(x->vm);
	x->rep.console_tail_len = vm_console_tail(x->vm, x->tail, sizeof(x->tail));
	exec_collect_devices(x, cfg);
	exec_relay_fini(&x->relay);
	exec_relay_report(&x->relay, &x->rep);
	if (exec_relay_decides(x->relay.finished, x->relay.status, status)) {
		status = x->relay.status;
		if (x->relay.outcome != EXEC_EXITED && x->relay.outcome != EXEC_SIGNALED)
			log_err("%s", x->relay.reason);
		else if (x->relay.reason[0])
			log_err("%s", x->relay.reason);
	} else {
		status = exec_vm_status(status, &x->rep.outcome, why, sizeof(why));
		snprintf(x->relay.reason, sizeof(x->relay.reason), "%s", why);
		x->rep.reason = x->relay.reason;
		x->rep.status = status;
		x->rep.exit_code = -1;
		x->rep.signal = 0;
		log_err("%s", why);
	}
	x->rep.nr_helpers = vm_destroy_helpers(x->vm, x->helpers);
	x->rep.helpers = x->helpers;
	x->vm = NULL;
	return status;
}

static void exec_write_report(struct exec_ctx *x, const struct exec_config *ec, int status)
{
	struct rusage ru;
	int ret;

	if (x->report_fd < 0)
		return;
	x->rep.status = status;
	x->rep.phase_ns[EXEC_PHASE_DONE] = exec_clock_ns(CLOCK_MONOTONIC);
	if (!getrusage(RUSAGE_SELF, &ru)) {
		x->rep.cpu_user_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
		x->rep.cpu_sys_s = (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	}
	x->rep.console_tail = x->tail;
	ret = exec_report_write_fd(&x->rep, x->report_fd);
	if (ret)
		log_err("--report %s: %s", ec->report, strerror(-ret));
	close(x->report_fd);
	x->report_fd = -1;
}

int exec_main(struct vm_config *cfg, const struct exec_config *ec, int argc, char **argv)
{
	struct exec_ctx *x = calloc(1, sizeof(*x));
	int status;

	if (!x)
		return exec_fail("out of memory");
	x->report_fd = x->winch_fd = -1;
	x->rep = (struct exec_report){
	    .argc = argc,
	    .argv = argv,
	    .outcome = EXEC_VMM_ERROR,
	    .exit_code = -1,
	    .started_unix_ns = exec_clock_ns(CLOCK_REALTIME),
	    .started_ns = exec_clock_ns(CLOCK_MONOTONIC),
	    .vcpus = cfg->cpus,
	    .memory = cfg->memory,
	    .jail.on = cfg->jail.on,
	};
	/* opened first: after the VM has run, the sandbox lets no file be opened */
	if (ec->report) {
		exec_report_prepare();
		x->report_fd = open(ec->report, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (x->report_fd < 0) {
			status = exec_fail("--report %s: %s", ec->report, strerror(errno));
			goto out;
		}
	}
	status = exec_root(cfg, ec);
	if (!status)
		status = exec_prepare(&x->setup, cfg, ec);
	if (status) {
		x->rep.reason = "setup failed";
		goto out;
	}
	exec_env(x, ec);
	x->job = (struct proto_job){
	    .uid = ec->has_user ? ec->uid : 0,
	    .gid = ec->has_user ? ec->gid : 0,
	    .argv = (const char *const *)ec->argv,
	    .envp = x->envp,
	    .workdir = ec->workdir,
	};
	status = exec_run_vm(x, cfg, ec);
out:
	exec_write_report(x, ec, status);
	if (x->winch_fd >= 0)
		close(x->winch_fd);
	free(x);
	return status;
}
