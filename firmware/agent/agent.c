// SPDX-License-Identifier: Apache-2.0
/*
 * The exec agent's entry. As PID 1 of the guest (the initramfs's /init) it
 * mounts the kernel's file systems, loads the modules /modules.load lists,
 * sets the hostname, brings lo (and eth0.. with --net) up, opens the channel the kernel command line
 * names (kvmrun.agent=DEV), runs the session and powers the VM off.
 *
 * For tests it also runs as an ordinary process: `init --channel FD` talks
 * over the inherited descriptor FD (a socket) and touches nothing else; its
 * exit status is 0 after a whole session, 2 on a usage error, 3 when kvmrun
 * broke the protocol or went away.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>
#include <dirent.h>
#include <signal.h>

#include "agent.h"

#define AGENT_CMDLINE_MAX 4096
#define AGENT_MODLIST_MAX (256 * 1024)
#define AGENT_CHANNEL_WAIT_MS 10000
#define AGENT_DISK_WAIT_MS 10000

/* What the kernel command line tells the agent. */
struct agent_cmdline {
	char channel[256]; /* kvmrun.agent= */
	char hostname[65]; /* kvmrun.hostname= */
	char root[64];	   /* kvmrun.root=: the virtio-fs tag of the root to switch to */
	char rootdisk[32]; /* kvmrun.rootdisk=: the serial of a virtio-blk root, over root= */
};

static void log_msg(const char *what, const char *name, int err)
{
	fprintf(stderr, "kvmrun-agent: %s %s: %s\n", what, name, strerror(err));
}

/* Mounts the kernel's file systems; one that is there already (EBUSY) is fine. */
static void init_mounts(void)
{
	static const struct {
		const char *type, *dir, *opts;
		unsigned long flags;
	} m[] = {
	    {"proc", "/proc", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC},
	    {"sysfs", "/sys", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC},
	    {"devtmpfs", "/dev", "mode=0755", MS_NOSUID},
	    {"devpts", "/dev/pts", "mode=0620,ptmxmode=0666", MS_NOSUID | MS_NOEXEC},
	    {"tmpfs", "/dev/shm", "mode=1777", MS_NOSUID | MS_NODEV},
	    {"tmpfs", "/tmp", "mode=1777", MS_NOSUID | MS_NODEV},
	    {"tmpfs", "/run", "mode=0755", MS_NOSUID | MS_NODEV},
	};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		if (mkdir(m[i].dir, 0755) < 0 && errno != EEXIST)
			log_msg("mkdir", m[i].dir, errno);
		if (mount(m[i].type, m[i].dir, m[i].type, m[i].flags, m[i].opts) < 0 &&
		    errno != EBUSY)
			log_msg("mount", m[i].dir, errno);
	}
}

/*
 * Descriptors 0..2 are open, so that PROGRAM's pipes never land on them. PID 1
 * starts without them when the archive has no /dev/console: it gets the
 * console (@console); elsewhere /dev/null stands in.
 */
static void init_stdio(bool console)
{
	int fd = -1;

	for (int i = 0; i < 3; i++) {
		if (fcntl(i, F_GETFD) >= 0)
			continue;
		if (fd < 0 && console)
			fd = open("/dev/console", O_RDWR | O_NOCTTY);
		if (fd < 0)
			fd = open("/dev/null", O_RDWR);
		if (fd >= 0 && fd != i)
			dup2(fd, i);
	}
	if (fd > 2)
		close(fd);
}

/* Reads at most @size - 1 bytes of @path into @buf, NUL-terminated. Returns the length or -errno.
 */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (len < size - 1) {
		ssize_t n = read(fd, buf + len, size - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = 0;
	return (ssize_t)len;
}

/* Copies the value of @key= from the kernel command line @line into @out. */
static void cmdline_value(const char *line, const char *key, char *out, size_t size)
{
	size_t klen = strlen(key);

	for (const char *p = line; *p;) {
		size_t len = strcspn(p, " \t\n");

		if (len > klen && !strncmp(p, key, klen) && len - klen < size) {
			memcpy(out, p + klen, len - klen);
			out[len - klen] = 0;
		}
		p += len;
		p += strspn(p, " \t\n");
	}
}

static void init_cmdline(struct agent_cmdline *c)
{
	char *line = malloc(AGENT_CMDLINE_MAX);

	memset(c, 0, sizeof(*c));
	if (!line)
		return;
	if (read_small("/proc/cmdline", line, AGENT_CMDLINE_MAX) >= 0) {
		cmdline_value(line, "kvmrun.agent=", c->channel, sizeof(c->channel));
		cmdline_value(line, "kvmrun.hostname=", c->hostname, sizeof(c->hostname));
		cmdline_value(line, "kvmrun.root=", c->root, sizeof(c->root));
		cmdline_value(line, "kvmrun.rootdisk=", c->rootdisk, sizeof(c->rootdisk));
	}
	free(line);
}

/* Loads each module of /modules.load in order; one built in or loaded already is fine. */
static void init_modules(void)
{
	char *list = malloc(AGENT_MODLIST_MAX), *line, *save = NULL;

	if (!list)
		return;
	if (read_small("/"
		       "modules.load",
		       list, AGENT_MODLIST_MAX) < 0) {
		free(list);
		return;
	}
	for (line = strtok_r(list, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		int fd = open(line, O_RDONLY | O_CLOEXEC);

		if (fd < 0) {
			log_msg("open module", line, errno);
			continue;
		}
		if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
			log_msg("load module", line, errno);
		close(fd);
	}
	free(list);
}

static void init_hostname(const struct agent_cmdline *c)
{
	const char *name = c->hostname[0] ? c->hostname : "kvmrun";

	if (sethostname(name, strlen(name)) < 0)
		log_msg("sethostname", name, errno);
}

/* Brings the loopback interface up. */
static void init_loopback(void)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0) {
		log_msg("socket", "lo", errno);
		return;
	}
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
		log_msg("SIOCGIFFLAGS", "lo", errno);
	} else {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
			log_msg("SIOCSIFFLAGS", "lo", errno);
	}
	close(s);
}

/*
 * The device of a virtio-console port named @name (no udev makes the
 * /dev/virtio-ports links): /sys/class/virtio-ports/vportNpM/name.
 */
static int find_port(const char *name, char *path, size_t size)
{
	DIR *d = opendir("/sys/class/virtio-ports");
	struct dirent *e;
	int ret = -ENOENT;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		char p[PATH_MAX], got[256];

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/sys/class/virtio-ports/%s/name", e->d_name);
		if (read_small(p, got, sizeof(got)) <= 0)
			continue;
		got[strcspn(got, "\n")] = 0;
		if (!strcmp(got, name)) {
			snprintf(path, size, "/dev/%s", e->d_name);
			ret = 0;
			break;
		}
	}
	closedir(d);
	return ret;
}

/*
 * Opens the channel: kvmrun.agent= is a path (with a slash), or else the name
 * of a virtio-console port, or else a name under /dev. The device may appear
 * only once its driver probed: it is waited for, within a bound.
 */
static int open_channel(const char *spec)
{
	char path[PATH_MAX];

	for (int waited = 0; waited <= AGENT_CHANNEL_WAIT_MS; waited += 10) {
		int fd;

		if (strchr(spec, '/'))
			snprintf(path, sizeof(path), "%s", spec);
		else if (find_port(spec, path, sizeof(path)))
			snprintf(path, sizeof(path), "/dev/%s", spec);
		fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (fd >= 0) {
			struct termios t;

			if (isatty(fd) && tcgetattr(fd, &t) == 0) {
				cfmakeraw(&t);
				tcsetattr(fd, TCSANOW, &t);
			}
			return fd;
		}
		if (errno != ENOENT && errno != ENXIO && errno != ENODEV)
			break;
		usleep(10000);
	}
	log_msg("open channel", spec, errno);
	return -1;
}

static int mount_dir(const char *src, const char *dir, const char *type, unsigned long flags,
		     const char *opts)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		log_msg("mkdir", dir, errno);
		return -1;
	}
	if (mount(src, dir, type, flags, opts) < 0) {
		log_msg("mount", dir, errno);
		return -1;
	}
	return 0;
}

/* /newroot becomes / (moved there and chrooted into: the initramfs cannot be pivoted away). */
static int switch_root(void)
{
	if (chdir("/newroot") < 0 || mount("/newroot", "/", NULL, MS_MOVE, NULL) < 0 ||
	    chroot(".") < 0 || chdir("/") < 0) {
		log_msg("switch root to", "/newroot", errno);
		return -1;
	}
	init_mounts();
	return 0;
}

/*
 * The virtio-blk disk whose serial is @serial, as /dev/NAME in @dev; its
 * driver may still be probing it, so this waits for it a while. 0 or -1.
 */
static int find_disk(const char *serial, char *dev, size_t size)
{
	for (int tries = 0; tries < AGENT_DISK_WAIT_MS / 10; tries++) {
		DIR *dir = opendir("/sys/block");
		struct dirent *e;

		while (dir && (e = readdir(dir))) {
			char path[PATH_MAX], val[64];

			if (strncmp(e->d_name, "vd", 2))
				continue;
			snprintf(path, sizeof(path), "/sys/block/%s/serial", e->d_name);
			if (read_small(path, val, sizeof(val)) < 0)
				continue;
			val[strcspn(val, "\n")] = 0;
			if (strcmp(val, serial))
				continue;
			snprintf(dev, size, "/dev/%s", e->d_name);
			if (access(dev, F_OK) < 0)
				continue;
			closedir(dir);
			return 0;
		}
		if (dir)
			closedir(dir);
		usleep(10000);
	}
	fprintf(stderr, "kvmrun-agent: no virtio-blk disk with the serial %s\n", serial);
	return -1;
}

/*
 * The root on the disk with the serial @serial: ext4, read-write (the disk is
 * a snapshot on the host: what the guest writes stays in kvmrun's overlay),
 * with no overlay of its own.
 */
static int init_root_disk(const char *serial)
{
	char dev[PATH_MAX];

	if (find_disk(serial, dev, sizeof(dev)) || mount_dir(dev, "/newroot", "ext4", 0, NULL))
		return -1;
	return switch_root();
}

/*
 * The root: the virtio-fs share @tag read-only, a tmpfs for the writes on top
 * of it (an overlay: PROGRAM may write anywhere, nothing reaches the host),
 * switched to, with the kernel's file systems mounted again inside it.
 */
static int init_root(const char *tag)
{
	if (mount_dir(tag, "/newroot-lower", "virtiofs", MS_RDONLY, NULL) ||
	    mount_dir("tmpfs", "/newroot-rw", "tmpfs", 0, "mode=0755"))
		return -1;
	if ((mkdir("/newroot-rw/upper", 0755) < 0 && errno != EEXIST) ||
	    (mkdir("/newroot-rw/work", 0755) < 0 && errno != EEXIST)) {
		log_msg("mkdir", "/newroot-rw/upper, work", errno);
		return -1;
	}
	if (mount_dir(
		"overlay", "/newroot", "overlay", 0,
		"lowerdir=/newroot-lower,upperdir=/newroot-rw/upper,workdir=/newroot-rw/work"))
		return -1;
	return switch_root();
}

/* mkdir -p: each missing directory of the absolute @path, mode 0755. */
static int mkdir_p(const char *path)
{
	char p[PATH_MAX];

	if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p))
		return -1;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return mkdir(p, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

/*
 * Each kvmrun.share=TAG:PATH of the kernel command line: the virtio-fs share
 * TAG mounted at PATH (made in the overlay when missing), as kvmrun's --share
 * has it on the host.
 */
static void init_shares(void)
{
	static const char key[] = "kvmrun.share=";
	char *line = malloc(AGENT_CMDLINE_MAX);

	if (!line || read_small("/proc/cmdline", line, AGENT_CMDLINE_MAX) < 0) {
		free(line);
		return;
	}
	for (char *p = line; *p;) {
		size_t len = strcspn(p, " \t\n");
		char *tag = p + sizeof(key) - 1, *colon, *end = p + len;
		bool last = !*end;

		*end = 0;
		colon = strchr(tag, ':');
		if (!strncmp(p, key, sizeof(key) - 1) && colon && colon > tag && colon[1] == '/') {
			*colon = 0;
			if (mkdir_p(colon + 1) < 0 ||
			    mount(tag, colon + 1, "virtiofs", MS_NOSUID | MS_NODEV, NULL) < 0)
				log_msg("mount share", colon + 1, errno);
		}
		if (last)
			break;
		p = end + 1;
		p += strspn(p, " \t\n");
	}
	free(line);
}

static void power_off(void)
{
	sync();
	reboot(RB_POWER_OFF);
	/* PID 1 must not end: that panics the kernel. */
	for (;;)
		pause();
}

static int run_pid1(struct agent *a)
{
	struct agent_cmdline c;

	init_mounts();
	init_stdio(true);
	init_cmdline(&c);
	init_modules();
	if (c.rootdisk[0] ? init_root_disk(c.rootdisk) : c.root[0] && init_root(c.root)) {
		fprintf(stderr, "kvmrun-agent: cannot mount the root file system\n");
		power_off();
	}
	init_shares();
	init_hostname(&c);
	init_loopback();
	agent_net_init();
	if (!c.channel[0]) {
		fprintf(stderr, "kvmrun-agent: no kvmrun.agent= on the kernel command line\n");
		power_off();
	}
	a->chan = open_channel(c.channel);
	if (a->chan >= 0 && agent_session(a))
		fprintf(stderr, "kvmrun-agent: the session with kvmrun failed\n");
	power_off();
	return 0;
}

/* `init --channel FD`: the session on an inherited descriptor, for tests on the host. */
static int run_hosted(struct agent *a, const char *arg)
{
	char *end;
	long fd = strtol(arg, &end, 10);

	if (*end || fd < 0 || fd > INT_MAX || fcntl((int)fd, F_GETFD) < 0) {
		fprintf(stderr, "kvmrun-agent: --channel %s: not an open descriptor\n", arg);
		return 2;
	}
	a->chan = (int)fd;
	fcntl(a->chan, F_SETFD, FD_CLOEXEC);
	return agent_session(a) ? 3 : 0;
}

int main(int argc, char **argv)
{
	struct agent *a = calloc(1, sizeof(*a));

	signal(SIGPIPE, SIG_IGN);
	if (getpid() == 1) {
		if (!a)
			power_off();
		a->chan = -1;
		return run_pid1(a);
	}
	init_stdio(false);
	if (!a)
		return 3;
	a->chan = -1;
	if (argc == 3 && !strcmp(argv[1], "--channel"))
		return run_hosted(a, argv[2]);
	fprintf(stderr, "usage: %s --channel FD   (as PID 1 it runs the guest)\n", argv[0]);
	return 2;
}
