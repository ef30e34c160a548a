// SPDX-License-Identifier: Apache-2.0
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "backend/egress.h"
#include "cli.h"
#include "kvmrun/ratelimit.h"
#include "cli_net.h"

static const char usage[] =
	"usage: kvmrun run --kernel FILE [options]\n"
	"       kvmrun exec [options] -- PROGRAM [ARG...]   (kvmrun exec --help)\n"
	"       kvmrun --help | --version\n"
	"\n"
#ifdef __aarch64__
	"Boots a Linux arm64 Image in a KVM virtual machine; ends when the guest ends.\n"
#else
	"Boots a Linux bzImage in a KVM virtual machine; ends when the guest ends.\n"
#endif
	"\n"
#ifdef __aarch64__
	"  --kernel FILE        Linux arm64 Image (required)\n"
#else
	"  --kernel FILE        Linux bzImage, or ELF with a PVH entry note (required)\n"
#endif
	"  --initrd FILE        initramfs\n"
	"  --append ARGS        kernel command line; kvmrun adds console=, reboot=k\n"
	"                       and panic=-1 unless ARGS sets them (and, for\n"
	"                       --console virtio, earlycon= on the UART)\n"
	"  --cpus N             vCPUs (default 1)\n"
	"  --memory SIZE        guest RAM, with K, M or G suffix (default 256M)\n"
	"  --console serial|virtio|none\n"
	"                       guest console on the terminal: the UART (default),\n"
	"                       virtio-console (hvc0; early messages on the UART),\n"
	"                       or nowhere\n"
	"  --console-log FILE[,max=SIZE]\n"
	"                       also append everything the guest prints to FILE, up\n"
	"                       to SIZE bytes per run (default 64M; the rest is cut\n"
	"                       and counted)\n"
	"  --rng                a virtio-rng device (PCI) fed from the host's getrandom()\n"
	"  --log-level LVL      error, warn (default), info or debug\n"
	"  --sandbox on|off     seccomp filters on kvmrun's own threads once the VM\n"
	"                       is set up (default on); off only to debug kvmrun\n"
	"  --jail on|off        confine kvmrun before the guest runs (default off;\n"
	"                       on for exec): new user (unless root), mount, IPC,\n"
	"                       UTS, cgroup and network namespaces, an empty\n"
	"                       read-only root, no capabilities, no_new_privs,\n"
	"                       no core files, no new processes\n"
	"  --cgroup DIR         a delegated cgroup v2 directory: kvmrun makes the\n"
	"                       leaf DIR/kvmrun.PID and moves into it\n"
	"  --limit memory=SIZE,cpus=N,pids=N\n"
	"                       limits of that leaf (memory.max, cpu.max with N\n"
	"                       CPUs, e.g. 1.5, pids.max: threads count); any of\n"
	"                       them, needs --cgroup\n"
#ifdef __aarch64__
	"  --dtb-out FILE       also write the guest's device tree (the DTB) to FILE\n"
#else
	"  --exit-port          for test guests: I/O port 0x604, where a byte N the\n"
	"                       guest writes ends kvmrun with exit status N (any N,\n"
	"                       also those below); without it there is no such port\n"
#endif
	"  --disk PATH[,ro][,serial=ID][,cache=none|writeback][,snapshot]\n"
	"         [,overlay-max=SIZE][,iops=N][,bw=SIZE]\n"
	"                       raw disk image as a virtio-blk device (up to 16);\n"
	"                       ro: read-only; serial: GET_ID answer, up to 20 bytes\n"
	"                       (default: the file name); cache=none: O_DIRECT,\n"
	"                       writeback (default): the host page cache;\n"
	"                       snapshot: PATH is only read, the guest's writes go\n"
	"                       to an overlay in $TMPDIR (else /var/tmp) and are\n"
	"                       gone at exit; overlay-max: bytes it may hold (default\n"
	"                       the disk's size), a write beyond is an I/O error;\n"
	"                       iops=N, bw=SIZE: at most N requests, SIZE bytes a\n"
	"                       second, a request over it waits (bursts: iops-burst=N,\n"
	"                       bw-burst=SIZE, default one second's worth)\n"
	"  --net tap=NAME[,mac=MAC][,mtu=N] | fd=N[,mac=MAC][,mtu=N]\n"
	"                       virtio-net on a tap interface (up to 8): tap=NAME\n"
	"                       attaches to the tap NAME or creates it (needs\n"
	"                       CAP_NET_ADMIN; a created tap is gone at exit);\n"
	"                       fd=N takes an open tap (IFF_TAP, IFF_NO_PI,\n"
	"                       IFF_VNET_HDR) from a launcher, no privilege needed;\n"
	"                       mac: unicast xx:xx:xx:xx:xx:xx (default 02: and 5\n"
	"                       bytes of a hash of the tap name and the --net\n"
	"                       position); mtu: 68 to 65535 (default the tap's);\n"
	"                       bw=SIZE, pps=N: at most SIZE bytes, N frames a second\n"
	"                       each way, a frame over it waits (bursts: bw-burst=SIZE,\n"
	"                       pps-burst=N, default one second's worth)\n"
	"      ...,egress=deny[,allow=CIDR[:PORT[-PORT]][/tcp|/udp|/icmp]]...[,dns=on]\n"
	"                       the guest may send only what an allow= rule (up to\n"
	"                       32; IPv6 in brackets before a port) allows, DNS with\n"
	"                       dns=on, and ARP, DHCP and IPv6 neighbour discovery;\n"
	"                       the rest is dropped and counted (default egress=allow)\n"
	"  --net user[,hostfwd=tcp|udp:[ADDR]:PORT-:GUESTPORT]...[,ip=CIDR][,gw=ADDR]\n"
	"                       [,mac=MAC][,mtu=N]\n"
	"                       virtio-net through passt (user-mode networking, no\n"
	"                       privilege): kvmrun starts /usr/bin/passt (or\n"
	"                       $KVMRUN_PASST), which hands the guest ip (default\n"
	"                       10.0.2.15/24), gw (10.0.2.2; also the host's\n"
	"                       loopback) and DNS 10.0.2.3 through DHCP; hostfwd\n"
	"                       (up to 16) forwards host port PORT to GUESTPORT;\n"
	"                       mtu default 65520. ip=/gw= on a tap: only exec's\n"
	"                       agent sets them on eth0\n"
	"  --share HOSTDIR[,tag=TAG][,ro][,virtiofsd=PATH][,path=GUESTDIR]\n"
	"          | socket=PATH,tag=TAG[,path=GUESTDIR]\n"
	"                       HOSTDIR as a virtio-fs file system (up to 8), served\n"
	"                       by a virtiofsd that kvmrun starts and ends; the guest\n"
	"                       mounts it with mount -t virtiofs TAG DIR. tag: 1 to\n"
	"                       36 bytes (default HOSTDIR's last name; '/' gives\n"
	"                       root); ro: the host refuses every write (EROFS);\n"
	"                       virtiofsd: the daemon to run (default\n"
	"                       $KVMRUN_VIRTIOFSD, /usr/libexec/virtiofsd,\n"
	"                       /usr/lib/qemu/virtiofsd, then $PATH). socket=PATH:\n"
	"                       a vhost-user-fs daemon already listening on PATH;\n"
	"                       path: where kvmrun exec mounts it in the guest\n"
	"                       (default HOSTDIR; a socket= share without it is not\n"
	"                       mounted; run leaves mounting to the guest)\n"
	"  --help, --version\n"
	"\n"
	"On a terminal, Ctrl-A x quits.\n"
	"\n"
	"Exit status:\n"
	"  0    guest powered off or rebooted (or Ctrl-A x)\n"
	"  1    internal error\n"
	"  2    bad command line\n"
	"  3    kernel, initrd or disk missing, unreadable, malformed, too large\n"
	"       or locked by another process; a --net tap that cannot be opened,\n"
	"       created or attached, or an fd= that is not such a tap; a --share\n"
	"       HOSTDIR that is not a directory, a virtiofsd missing or ending at\n"
	"       start, a socket= nobody listens on; passt missing or ending at\n"
	"       start for --net user\n"
	"  4    /dev/kvm missing, not permitted, or lacking a capability; the\n"
	"       host refuses the jail (e.g. no user namespaces), --cgroup or --limit\n"
	"  5    guest kernel panicked (reported through pvpanic)\n"
	"  6    guest triple fault\n"
	"  7    vCPU failure: KVM internal or emulation error, failed entry\n"
	"  8    kvmrun made a system call its seccomp filter refuses (a bug;\n"
	"       stderr names the call)\n"
	"  130, 143  stopped by SIGINT, SIGTERM\n"
#ifndef __aarch64__
	"  N    only with --exit-port: the guest wrote N to the exit port; then\n"
	"       any status, these above included, may come from the guest\n"
#endif
	"";

int cli_leading_number(const char *s, unsigned long long *v, char **end)
{
	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, end, 10);
	return errno ? -EINVAL : 0;
}

int cli_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	uint64_t mult = 1;
	char *end;

	if (cli_leading_number(s, &v, &end))
		return -EINVAL;
	switch (toupper((unsigned char)*end)) {
	case '\0':
		break;
	case 'K':
		mult = KiB;
		end++;
		break;
	case 'M':
		mult = MiB;
		end++;
		break;
	case 'G':
		mult = GiB;
		end++;
		break;
	default:
		return -EINVAL;
	}
	if ((*end == 'i' || *end == 'I') && mult > 1 && (end[1] == 'B' || end[1] == 'b'))
		end += 2;
	else if ((*end == 'B' || *end == 'b') && mult > 1)
		end++;
	if (*end || __builtin_mul_overflow((uint64_t)v, mult, out))
		return -EINVAL;
	return 0;
}

/* Does the command line already carry `key` (e.g. "console=") as an argument? */
static bool cmdline_has(const char *cmdline, const char *key)
{
	size_t n = strlen(key);

	for (const char *p = cmdline; (p = strstr(p, key)); p += n)
		if (p == cmdline || isspace((unsigned char)p[-1]))
			return true;
	return false;
}

/*
 * --console virtio: the guest's console is hvc0, which appears only once the
 * virtio_console driver binds (often a module that the initramfs loads). Until
 * then the kernel prints on the UART through earlycon; when hvc0 registers as
 * the last console= it becomes /dev/console and the kernel retires the boot
 * console without replaying the log to hvc0, so no line is printed twice
 * (console=ttyS0 console=hvc0 would print every line on both from then on).
 */

int cli_kernel_cmdline(enum console_mode console, const char *append, char *buf, size_t size)
{
	bool virtio = console == CONSOLE_VIRTIO;
	bool user_console;
	size_t len;
	int n;

	n = snprintf(buf, size, "%s", append ? append : "");
	if (n < 0 || (size_t)n >= size)
		return -E2BIG;
	len = (size_t)n;
	user_console = cmdline_has(buf, "console=");
	const struct {
		const char *key, *arg;
	} defaults[] = {
		/* Left out when the user picked the console: theirs to set up. */
		{ "earlycon", virtio && !user_console ? CLI_EARLYCON_UART : NULL },
		{ "console=", virtio ? "console=hvc0" : "console=ttyS0" },
		{ "reboot=", "reboot=k" },
		{ "panic=", "panic=-1" },
	};
	for (unsigned int i = 0; i < ARRAY_SIZE(defaults); i++) {
		if (!defaults[i].arg || cmdline_has(buf, defaults[i].key))
			continue;
		n = snprintf(buf + len, size - len, "%s%s", len ? " " : "", defaults[i].arg);
		if (n < 0 || (size_t)n >= size - len)
			return -E2BIG;
		len += (size_t)n;
	}
	return 0;
}

/* A copy of s with control characters shown as '?': an error stays one line. */
static char *cli_printable(const char *s)
{
	char *c = strdup(s);

	for (char *p = c; p && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return c;
}

static int cli_fail(FILE *err, const char *fmt, const char *a, const char *b)
{
	char *pa = cli_printable(a), *pb = cli_printable(b);

	fprintf(err, "kvmrun: error: ");
	fprintf(err, fmt, pa ? pa : "?", pb ? pb : "?");
	fprintf(err, "\n");
	free(pa);
	free(pb);
	return CLI_EXIT_USAGE;
}

/*
 * The next item of a comma-separated option list: *p points at the comma before
 * it (NULL: the list has ended). Copies the item into item (cut to fit), moves
 * *p to the next comma, and returns the item's full length; false at the end.
 */
static bool cli_next_item(const char **p, char *item, size_t size, size_t *len)
{
	const char *opt, *next;
	size_t n;

	if (!*p)
		return false;
	opt = *p + 1;
	next = strchr(opt, ',');
	*len = n = next ? (size_t)(next - opt) : strlen(opt);
	if (n >= size)
		n = size - 1;
	memcpy(item, opt, n);
	item[n] = '\0';
	*p = next;
	return true;
}

/*
 * A rate limit's item: name=VALUE sets lc->rate, name-burst=VALUE lc->burst; a
 * size (K, M, G suffixes) when size, else a count; 1 to RL_MAX. 1: the item is
 * neither; 0: parsed; CLI_EXIT_USAGE after one error line.
 */
static int cli_parse_limit(const char *opt, const char *arg, const char *item, const char *name,
			   bool size, struct limit_config *lc, FILE *err)
{
	size_t len = strlen(name);
	const char *val = item + len;
	unsigned long long v = 0;
	uint64_t *dst = &lc->rate, sz;
	char fmt[160];
	char *end;
	int ret;

	if (strncmp(item, name, len))
		return 1;
	if (!strncmp(val, "-burst=", 7)) {
		dst = &lc->burst;
		val += 7;
	} else if (*val == '=') {
		val++;
	} else {
		return 1;
	}
	if (size) {
		ret = cli_parse_size(val, &sz);
		v = sz;
	} else {
		ret = cli_leading_number(val, &v, &end);
		if (!ret && *end)
			ret = -EINVAL;
	}
	if (!ret && v >= 1 && v <= RL_MAX) {
		*dst = v;
		return 0;
	}
	snprintf(fmt, sizeof(fmt), "%s '%%s': %s%s '%%s': expected %s from 1 to 2^50", opt, name,
		 dst == &lc->burst ? "-burst" : "", size ? "a size (K, M, G)" : "a number");
	return cli_fail(err, fmt, arg, val);
}

/* What snapshot does not go with; one error line. */
static int cli_check_disk_snapshot(const struct disk_config *dc, const char *arg, FILE *err)
{
	if (dc->overlay_max && !dc->snapshot)
		return cli_fail(err, "--disk '%s': overlay-max= is for a snapshot disk%s", arg,
				" (add snapshot)");
	if (dc->snapshot && dc->readonly)
		return cli_fail(err, "--disk '%s': snapshot and ro together: ro already keeps "
				"the image unwritten%s", arg, "; give one of them");
	if (dc->snapshot && dc->cache == DISK_CACHE_NONE)
		return cli_fail(err, "--disk '%s': snapshot reads the image through the page "
				"cache%s", arg, "; cache=none does not go with it");
	return 0;
}

/*
 * PATH[,ro][,serial=ID][,cache=none|writeback][,snapshot[,overlay-max=SIZE]]
 * [,iops=N][,bw=SIZE] (and their -burst); one error line on failure.
 */
static int cli_parse_disk(const char *arg, struct disk_config *dc, FILE *err)
{
	const char *p = strchr(arg, ',');
	size_t len = p ? (size_t)(p - arg) : strlen(arg);

	*dc = (struct disk_config){ .cache = DISK_CACHE_WRITEBACK };
	if (len == 0)
		return cli_fail(err, "--disk '%s': no file name%s", arg, "");
	if (len >= sizeof(dc->path))
		return cli_fail(err, "--disk '%s': file name too long%s", arg, "");
	memcpy(dc->path, arg, len);
	char item[64];
	size_t n;

	while (cli_next_item(&p, item, sizeof(item), &n)) {
		int lim = cli_parse_limit("--disk", arg, item, "iops", false, &dc->iops, err);

		if (lim == 1)
			lim = cli_parse_limit("--disk", arg, item, "bw", true, &dc->bw, err);
		if (lim != 1) {
			if (lim)
				return lim;
		} else if (!strcmp(item, "ro")) {
			dc->readonly = true;
		} else if (!strcmp(item, "cache=none")) {
			dc->cache = DISK_CACHE_NONE;
		} else if (!strcmp(item, "cache=writeback")) {
			dc->cache = DISK_CACHE_WRITEBACK;
		} else if (!strncmp(item, "cache=", 6)) {
			return cli_fail(err, "--disk '%s': cache '%s': expected none or writeback",
					arg, item + 6);
		} else if (!strncmp(item, "serial=", 7)) {
			if (n == 7 || n - 7 > DISK_SERIAL_MAX)
				return cli_fail(err, "--disk '%s': serial must be 1 to 20 bytes%s",
						arg, "");
			memset(dc->serial, 0, sizeof(dc->serial));
			memcpy(dc->serial, item + 7, n - 7);
			dc->has_serial = true;
		} else if (!strcmp(item, "snapshot")) {
			dc->snapshot = true;
		} else if (!strncmp(item, "overlay-max=", 12)) {
			if (cli_parse_size(item + 12, &dc->overlay_max) || dc->overlay_max < 512)
				return cli_fail(err, "--disk '%s': overlay-max '%s': expected a size "
						"of at least 512 bytes (e.g. 512M, 2G)", arg, item + 12);
		} else {
			return cli_fail(err, "--disk '%s': unknown option '%s' (expected ro, "
					"serial=ID, cache=none|writeback, snapshot, overlay-max=SIZE, "
					"iops=N or bw=SIZE)", arg, item);
		}
	}
	return cli_check_disk_snapshot(dc, arg, err);
}

int cli_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int bytes = 0;

	for (const char *p = s; bytes < 6; p += 3) {
		if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]))
			return -EINVAL;
		if (p[2] != (bytes == 5 ? '\0' : ':'))
			return -EINVAL;
		mac[bytes++] = (uint8_t)strtoul((char[3]){ p[0], p[1], '\0' }, NULL, 16);
	}
	if (mac[0] & 1)
		return -EINVAL; /* multicast: not an address a NIC can have */
	if (!(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
		return -EINVAL;
	return 0;
}

/* Linux's rule for interface names (dev_valid_name), and IFNAMSIZ. */
static const char *cli_ifname_error(const char *name, size_t len)
{
	if (len == 0)
		return "no interface name";
	if (len >= NET_IFNAME_MAX)
		return "interface name longer than 15 characters";
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return "'.' and '..' are not interface names";
	for (size_t i = 0; i < len; i++)
		if (name[i] == '/' || name[i] == ':' || isspace((unsigned char)name[i]) ||
		    (unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return "interface names cannot hold '/', ':', spaces or control characters";
	return NULL;
}

/*
 * The egress items of --net (item: n bytes, cut to fit): egress=allow|deny,
 * allow=RULE (repeatable), dns=on|off; other items are left alone. 0, or
 * CLI_EXIT_USAGE after one line on err.
 */
static int cli_parse_egress(const char *arg, const char *item, size_t n,
			    struct egress_policy *eg, FILE *err)
{
	const char *why;

	if (!strcmp(item, "egress=allow") || !strcmp(item, "egress=deny")) {
		eg->deny = !strcmp(item, "egress=deny");
	} else if (!strncmp(item, "egress=", 7)) {
		return cli_fail(err, "--net '%s': egress '%s': expected allow or deny", arg,
				item + 7);
	} else if (!strcmp(item, "dns=on") || !strcmp(item, "dns=off")) {
		eg->dns = !strcmp(item, "dns=on");
	} else if (!strncmp(item, "dns=", 4)) {
		return cli_fail(err, "--net '%s': dns '%s': expected on or off", arg, item + 4);
	} else if (!strncmp(item, "allow=", 6)) {
		char msg[160];

		if (eg->nr_rules >= NET_EGRESS_RULES_MAX)
			return cli_fail(err, "--net '%s': more than 32 allow= rules%s", arg, "");
		if (n >= 128)
			return cli_fail(err, "--net '%s': allow= value too long%s", arg, "");
		if (egress_parse_rule(item + 6, &eg->rules[eg->nr_rules], &why)) {
			snprintf(msg, sizeof(msg), "--net '%%s': allow '%%s': %s", why);
			return cli_fail(err, msg, arg, item + 6);
		}
		eg->nr_rules++;
	}
	return 0;
}

/* tap=NAME[,mac=MAC][,mtu=N] or fd=N[,...] or user[,...]; one error line on failure. */
static int cli_parse_net(const char *arg, struct net_config *nc, FILE *err)
{
	const char *p = strchr(arg, ',');
	size_t len = p ? (size_t)(p - arg) : strlen(arg);
	const char *why;

	*nc = (struct net_config){ .fd = -1 };
	if (!strncmp(arg, "tap=", 4)) {
		why = cli_ifname_error(arg + 4, len - 4);
		if (why)
			return cli_fail(err, "--net '%s': %s", arg, why);
		memcpy(nc->ifname, arg + 4, len - 4);
	} else if (!strncmp(arg, "fd=", 3)) {
		char num[16];
		unsigned long v;
		char *end;

		if (len - 3 == 0 || len - 3 >= sizeof(num))
			return cli_fail(err, "--net '%s': fd= needs a descriptor number%s", arg, "");
		memcpy(num, arg + 3, len - 3);
		num[len - 3] = '\0';
		errno = 0;
		v = strtoul(num, &end, 10);
		if (!isdigit((unsigned char)num[0]) || *end || errno || v > INT_MAX)
			return cli_fail(err, "--net '%s': fd= needs a descriptor number%s", arg, "");
		if (v <= 2)
			return cli_fail(err, "--net '%s': descriptors 0, 1 and 2 are the terminal%s",
					arg, "");
		nc->fd = (int)v;
	} else if (len == 4 && !strncmp(arg, "user", 4)) {
		cli_net_user_defaults(nc);
	} else {
		return cli_fail(err, "--net '%s': expected tap=NAME or fd=N (or user) first%s", arg, "");
	}
	char item[128];
	size_t n;
	int r;

	while (cli_next_item(&p, item, sizeof(item), &n)) {
		int lim;

		if (cli_parse_egress(arg, item, n, &nc->egress, err))
			return CLI_EXIT_USAGE;
		if (!strncmp(item, "egress=", 7) || !strncmp(item, "allow=", 6) ||
		    !strncmp(item, "dns=", 4))
			continue;
		lim = cli_parse_limit("--net", arg, item, "bw", true, &nc->bw, err);
		if (lim == 1)
			lim = cli_parse_limit("--net", arg, item, "pps", false, &nc->pps, err);
		if (lim != 1) {
			if (lim)
				return lim;
		} else if (!strncmp(item, "mac=", 4)) {
			if (cli_parse_mac(item + 4, nc->mac))
				return cli_fail(err, "--net '%s': mac '%s': expected a unicast "
						"address xx:xx:xx:xx:xx:xx, not all zeros",
						arg, item + 4);
			nc->has_mac = true;
		} else if (!strncmp(item, "mtu=", 4)) {
			unsigned long v;
			char *end;

			errno = 0;
			v = strtoul(item + 4, &end, 10);
			if (!isdigit((unsigned char)item[4]) || *end || errno || v < NET_MTU_MIN ||
			    v > NET_MTU_MAX)
				return cli_fail(err, "--net '%s': mtu '%s': expected 68 to 65535",
						arg, item + 4);
			nc->mtu = (unsigned int)v;
		} else if ((r = cli_net_item(item, nc, &why)) != 0) {
			char msg[160];

			if (r > 0)
				continue;
			snprintf(msg, sizeof(msg), "%s: %s", item, why);
			return cli_fail(err, "--net '%s': %s", arg, msg);
		} else {
			return cli_fail(err, "--net '%s': unknown option '%s' (expected mac=MAC, "
					"mtu=N, bw=SIZE, pps=N, egress=, allow=, dns=, ip=CIDR, gw=ADDR or, "
					"for user, hostfwd=)", arg, item);
		}
	}
	if (!nc->egress.deny && (nc->egress.nr_rules || nc->egress.dns))
		return cli_fail(err, "--net '%s': allow= and dns= need egress=deny%s", arg, "");
	if (cli_net_check(nc, &why))
		return cli_fail(err, "--net '%s': %s", arg, why);
	return 0;
}

/*
 * The default tag: HOSTDIR's last name, trailing slashes dropped ("/" gives
 * "root"). NULL when that is no tag: "." or "..", or longer than 36 bytes.
 */
static const char *cli_share_default_tag(const char *path, size_t len, char *tag)
{
	size_t start;

	while (len > 1 && path[len - 1] == '/')
		len--;
	if (len == 1 && path[0] == '/') {
		strcpy(tag, "root");
		return tag;
	}
	start = len;
	while (start > 0 && path[start - 1] != '/')
		start--;
	len -= start;
	if (len > SHARE_TAG_MAX || (len == 1 && path[start] == '.') ||
	    (len == 2 && path[start] == '.' && path[start + 1] == '.'))
		return NULL;
	memcpy(tag, path + start, len);
	tag[len] = '\0';
	return tag;
}

/* Copies a sub-option's value of n bytes into dst of size bytes; false if it does not fit. */
static bool cli_copy_value(char *dst, size_t size, const char *value, size_t n)
{
	if (n >= size)
		return false;
	memcpy(dst, value, n);
	dst[n] = '\0';
	return true;
}

/*
 * HOSTDIR[,tag=TAG][,ro][,virtiofsd=PATH][,path=GUESTDIR] or
 * socket=PATH,tag=TAG[,path=GUESTDIR]; one error line on
 * failure. Whether HOSTDIR is a directory is the launcher's to find out (status 3).
 */
static int cli_parse_share(const char *arg, struct share_config *sc, FILE *err)
{
	const char *p = strchr(arg, ',');
	size_t len = p ? (size_t)(p - arg) : strlen(arg);
	bool has_tag = false, has_daemon_opt = false;
	char item[DISK_PATH_MAX + 16];
	size_t n;

	*sc = (struct share_config){ 0 };
	if (!strncmp(arg, "socket=", 7)) {
		if (len == 7)
			return cli_fail(err, "--share '%s': socket= needs a path%s", arg, "");
		if (!cli_copy_value(sc->socket, sizeof(sc->socket), arg + 7, len - 7))
			return cli_fail(err, "--share '%s': socket path too long%s", arg, "");
	} else {
		if (len == 0)
			return cli_fail(err, "--share '%s': no directory name%s", arg, "");
		if (!cli_copy_value(sc->path, sizeof(sc->path), arg, len))
			return cli_fail(err, "--share '%s': directory name too long%s", arg, "");
	}
	while (cli_next_item(&p, item, sizeof(item), &n)) {
		if (n >= sizeof(item))
			return cli_fail(err, "--share '%s': option too long%s", arg, "");
		if (!strcmp(item, "ro")) {
			sc->readonly = true;
			has_daemon_opt = true;
		} else if (!strncmp(item, "tag=", 4)) {
			if (n == 4)
				return cli_fail(err, "--share '%s': empty tag%s", arg, "");
			if (!cli_copy_value(sc->tag, sizeof(sc->tag), item + 4, n - 4))
				return cli_fail(err, "--share '%s': tag longer than 36 bytes%s",
						arg, "");
			has_tag = true;
		} else if (!strncmp(item, "virtiofsd=", 10)) {
			if (n == 10)
				return cli_fail(err, "--share '%s': virtiofsd= needs a path%s", arg,
						"");
			if (!cli_copy_value(sc->virtiofsd, sizeof(sc->virtiofsd), item + 10,
					    n - 10))
				return cli_fail(err, "--share '%s': virtiofsd path too long%s", arg,
						"");
			has_daemon_opt = true;
		} else if (!strncmp(item, "path=", 5)) {
			if (n == 5 || item[5] != '/')
				return cli_fail(err, "--share '%s': path= needs an absolute "
						"directory%s", arg, "");
			if (!cli_copy_value(sc->guest_path, sizeof(sc->guest_path), item + 5,
					    n - 5))
				return cli_fail(err, "--share '%s': path too long%s", arg, "");
		} else if (!strncmp(item, "socket=", 7)) {
			return cli_fail(err, "--share '%s': socket=PATH comes first, in place of "
					"HOSTDIR%s", arg, "");
		} else {
			return cli_fail(err, "--share '%s': unknown option '%s' (expected "
					"tag=TAG, ro, virtiofsd=PATH or path=GUESTDIR)", arg, item);
		}
	}
	if (sc->socket[0]) {
		if (!has_tag)
			return cli_fail(err, "--share '%s': socket= needs tag=TAG%s", arg, "");
		if (has_daemon_opt)
			return cli_fail(err, "--share '%s': ro and virtiofsd= are for a daemon "
					"kvmrun starts, not for socket=%s", arg, "");
	} else if (!has_tag && !cli_share_default_tag(sc->path, len, sc->tag)) {
		return cli_fail(err, "--share '%s': its last name is no tag (1 to 36 bytes, not . "
				"or ..): give tag=TAG%s", arg, "");
	}
	return 0;
}

/* Two shares with one tag: the guest could mount only one of them. */
static int cli_share_duplicate(const struct vm_config *cfg, const char *arg, FILE *err)
{
	const struct share_config *sc = &cfg->shares[cfg->nr_shares];

	for (unsigned int i = 0; i < cfg->nr_shares; i++)
		if (!strcmp(sc->tag, cfg->shares[i].tag))
			return cli_fail(err, "--share '%s': tag '%s' already used by an earlier "
					"--share", arg, sc->tag);
	return 0;
}

/*
 * --console-log FILE[,max=SIZE]: only a last ",max=" part is an option, so a
 * FILE may hold commas. The option is cut off argv's string in place.
 */
static int cli_parse_console_log(char *arg, struct vm_config *cfg, FILE *err)
{
	char *opt = strrchr(arg, ',');

	if (opt && !strncmp(opt + 1, "max=", 4)) {
		if (cli_parse_size(opt + 5, &cfg->console_log_max) || !cfg->console_log_max)
			return cli_fail(err, "--console-log '%s': max= wants a size above 0 "
				       "(e.g. 64M)%s", arg, "");
		*opt = '\0';
	}
	if (!*arg)
		return cli_fail(err, "--console-log '%s': no file name%s", arg, "");
	cfg->console_log = arg;
	return 0;
}

/* Two --net on one tap would steal each other's frames. */
static int cli_net_duplicate(const struct vm_config *cfg, const char *arg, FILE *err)
{
	const struct net_config *nc = &cfg->nets[cfg->nr_nets];

	for (unsigned int i = 0; i < cfg->nr_nets; i++) {
		const struct net_config *o = &cfg->nets[i];

		if ((nc->ifname[0] && !strcmp(nc->ifname, o->ifname)) ||
		    (nc->fd >= 0 && nc->fd == o->fd))
			return cli_fail(err, "--net '%s': the same tap as an earlier --net%s", arg,
					"");
		if (nc->has_mac && o->has_mac && !memcmp(nc->mac, o->mac, 6))
			return cli_fail(err, "--net '%s': the same MAC as an earlier --net%s", arg,
					"");
	}
	return 0;
}

static const char *cli_opt_name(const struct option *opts, int val)
{
	for (; opts->name; opts++)
		if (opts->val == val)
			return opts->name;
	return "?";
}

enum cli_action cli_parse(int argc, char **argv, struct vm_config *cfg, char *cmdline_buf,
			  size_t cmdline_size, FILE *out, FILE *err)
{
	struct exec_config *ec = malloc(sizeof(*ec));
	enum cli_action a;

	if (!ec) {
		fprintf(err, "kvmrun: error: out of memory\n");
		return CLI_EXIT_USAGE;
	}
	a = cli_parse_cmd(argc, argv, cfg, ec, cmdline_buf, cmdline_size, out, err);
	free(ec);
	return a;
}

enum cli_action cli_parse_cmd(int argc, char **argv, struct vm_config *cfg,
			      struct exec_config *ec, char *cmdline_buf, size_t cmdline_size,
			      FILE *out, FILE *err)
{
	enum { OPT_KERNEL = 256, OPT_INITRD, OPT_APPEND, OPT_CPUS, OPT_MEMORY, OPT_CONSOLE,
	       OPT_CONSOLE_LOG, OPT_LOG_LEVEL, OPT_RNG, OPT_HELP, OPT_VERSION, OPT_DISK, OPT_NET,
	       OPT_SANDBOX, OPT_EXIT_PORT, OPT_SHARE, OPT_DTB_OUT };
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, OPT_KERNEL },
		{ "initrd", required_argument, NULL, OPT_INITRD },
		{ "append", required_argument, NULL, OPT_APPEND },
		{ "cpus", required_argument, NULL, OPT_CPUS },
		{ "memory", required_argument, NULL, OPT_MEMORY },
		{ "console", required_argument, NULL, OPT_CONSOLE },
		{ "console-log", required_argument, NULL, OPT_CONSOLE_LOG },
		{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
		{ "disk", required_argument, NULL, OPT_DISK },
		{ "net", required_argument, NULL, OPT_NET },
		{ "share", required_argument, NULL, OPT_SHARE },
		{ "rng", no_argument, NULL, OPT_RNG },
		{ "sandbox", required_argument, NULL, OPT_SANDBOX },
		{ "exit-port", no_argument, NULL, OPT_EXIT_PORT },
		{ "jail", required_argument, NULL, CLI_OPT_JAIL },
		{ "cgroup", required_argument, NULL, CLI_OPT_CGROUP },
		{ "limit", required_argument, NULL, CLI_OPT_LIMIT },
		{ "dtb-out", required_argument, NULL, OPT_DTB_OUT },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "version", no_argument, NULL, OPT_VERSION },
		/* exec only */
		{ "timeout", required_argument, NULL, CLI_OPT_TIMEOUT },
		{ "report", required_argument, NULL, CLI_OPT_REPORT },
		{ "env", required_argument, NULL, CLI_OPT_ENV },
		{ "workdir", required_argument, NULL, CLI_OPT_WORKDIR },
		{ "user", required_argument, NULL, CLI_OPT_USER },
		{ "tty", no_argument, NULL, CLI_OPT_TTY },
		{ "root", required_argument, NULL, CLI_OPT_ROOT },
		{ "modules", required_argument, NULL, CLI_OPT_MODULES },
		{ NULL, 0, NULL, 0 },
	};
	bool exec;
	unsigned long cpus;
	char *end;
	int c;

	*cfg = (struct vm_config){ .cpus = 1, .memory = 256 * MiB, .console = CONSOLE_SERIAL,
				   .console_log_max = VM_CONSOLE_LOG_MAX, .log_level = LOG_WARN };
	*ec = (struct exec_config){ 0 };
	if (argc < 2)
		return cli_fail(err, "no command given (try 'kvmrun --help')%s%s", "", "");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage, out);
		return CLI_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		fprintf(out, "kvmrun %s\n", KVMRUN_VERSION);
		return CLI_EXIT_OK;
	}
	exec = !strcmp(argv[1], "exec");
	if (strcmp(argv[1], "run") && !exec)
		return cli_fail(err, "unknown command '%s' (try 'kvmrun --help')%s", argv[1], "");
	if (exec) {
		ec->enabled = true;
		cfg->console = CONSOLE_NONE; /* the terminal is PROGRAM's */
	}
	cfg->jail.on = exec; /* exec runs code nobody has to trust */

	optind = 0; /* 0, not 1: also resets getopt's state from an earlier call */
	opterr = 0;
	/*
	 * ":" makes a missing value return ':' rather than '?'. For exec, "+" stops
	 * at PROGRAM (or after "--"): its own options are not kvmrun's.
	 */
	while ((c = getopt_long(argc - 1, argv + 1, exec ? "+:t" : ":", opts, NULL)) != -1) {
		if (c >= CLI_OPT_JAIL) {
			if (cli_jail_option(cfg, c, optarg, err))
				return CLI_EXIT_USAGE;
			continue;
		}
		if (c >= CLI_OPT_TIMEOUT || c == CLI_OPT_TTY) {
			if (!exec)
				return cli_fail(err, "option --%s is for kvmrun exec only%s",
						cli_opt_name(opts, c), "");
			if (cli_exec_option(ec, c, optarg ? optarg : "", err))
				return CLI_EXIT_USAGE;
			continue;
		}
		switch (c) {
		case OPT_KERNEL:
			cfg->kernel = optarg;
			break;
		case OPT_INITRD:
			cfg->initrd = optarg;
			break;
		case OPT_APPEND:
			cfg->append = optarg;
			break;
		case OPT_CPUS:
			errno = 0;
			cpus = strtoul(optarg, &end, 10);
			if (!isdigit((unsigned char)*optarg) || *end || errno || cpus == 0 ||
			    cpus > 4096)
				return cli_fail(err, "--cpus '%s': not a number from 1 to 4096%s",
						optarg, "");
			cfg->cpus = (unsigned int)cpus;
			break;
		case OPT_MEMORY:
			if (cli_parse_size(optarg, &cfg->memory))
				return cli_fail(err, "--memory '%s': not a size (e.g. 512M, 2G)%s",
						optarg, "");
			if (cfg->memory < CLI_MIN_MEMORY || cfg->memory > CLI_MAX_MEMORY)
				return cli_fail(err, "--memory '%s': must be from 32M to 64T%s",
						optarg, "");
			break;
		case OPT_CONSOLE:
			if (exec)
				return cli_fail(err, "--console is not for exec: the terminal is "
						"PROGRAM's (--console-log records the guest's)%s%s",
						"", "");
			if (!strcmp(optarg, "serial"))
				cfg->console = CONSOLE_SERIAL;
			else if (!strcmp(optarg, "virtio"))
				cfg->console = CONSOLE_VIRTIO;
			else if (!strcmp(optarg, "none"))
				cfg->console = CONSOLE_NONE;
			else
				return cli_fail(err,
						"--console '%s': expected serial, virtio or none%s",
						optarg, "");
			break;
		case OPT_CONSOLE_LOG:
			if (cli_parse_console_log(optarg, cfg, err))
				return CLI_EXIT_USAGE;
			break;
		case OPT_LOG_LEVEL:
			if (log_parse_level(optarg, &cfg->log_level))
				return cli_fail(err,
						"--log-level '%s': expected error, warn, info or debug%s",
						optarg, "");
			break;
		case OPT_DISK:
			if (cfg->nr_disks >= VM_MAX_DISKS)
				return cli_fail(err, "--disk '%s': more than 16 disks%s", optarg, "");
			if (cli_parse_disk(optarg, &cfg->disks[cfg->nr_disks], err))
				return CLI_EXIT_USAGE;
			cfg->nr_disks++;
			break;
		case OPT_NET:
			if (cfg->nr_nets >= VM_MAX_NETS)
				return cli_fail(err, "--net '%s': more than 8 network devices%s",
						optarg, "");
			if (cli_parse_net(optarg, &cfg->nets[cfg->nr_nets], err) ||
			    cli_net_duplicate(cfg, optarg, err))
				return CLI_EXIT_USAGE;
			cfg->nr_nets++;
			break;
		case OPT_SHARE:
			if (cfg->nr_shares >= VM_MAX_SHARES)
				return cli_fail(err, "--share '%s': more than 8 shares%s", optarg,
						"");
			if (cli_parse_share(optarg, &cfg->shares[cfg->nr_shares], err) ||
			    cli_share_duplicate(cfg, optarg, err))
				return CLI_EXIT_USAGE;
			cfg->nr_shares++;
			break;
		case OPT_RNG:
			cfg->rng = true;
			break;
		case OPT_SANDBOX:
			if (strcmp(optarg, "on") && strcmp(optarg, "off"))
				return cli_fail(err, "--sandbox '%s': expected on or off%s", optarg,
						"");
			cfg->no_sandbox = !strcmp(optarg, "off");
			break;
		case OPT_EXIT_PORT:
#ifdef __aarch64__
			return cli_fail(err, "--exit-port: an x86-64 machine's option (arm64 has no "
					"I/O ports)%s%s", "", "");
#else
			cfg->exit_port = true;
			break;
#endif
		case OPT_DTB_OUT:
#ifdef __aarch64__
			cfg->dtb_out = optarg;
			break;
#else
			return cli_fail(err, "--dtb-out: an arm64 machine's option (this one boots "
					"with ACPI)%s%s", "", "");
#endif
		case OPT_HELP:
			fputs(exec ? cli_exec_usage : usage, out);
			return CLI_EXIT_OK;
		case OPT_VERSION:
			fprintf(out, "kvmrun %s\n", KVMRUN_VERSION);
			return CLI_EXIT_OK;
		case ':':
			return cli_fail(err, "option '%s' needs a value%s", argv[optind], "");
		default: {
			/* Inside "-xy" optind has not moved on: name the character. */
			char opt[3] = { '-', (char)optopt, '\0' };

			return cli_fail(err, "unknown option '%s' (try 'kvmrun --help')%s",
					optopt > 0 && optopt < 256 ? opt : argv[optind], "");
		}
		}
	}
	if (cli_jail_finish(cfg, err))
		return CLI_EXIT_USAGE;
	if (exec) {
		if (cli_exec_finish(ec, cfg, argc - 1 - optind, argv + 1 + optind, err))
			return CLI_EXIT_USAGE;
		return CLI_EXEC;
	}
	if (optind < argc - 1)
		return cli_fail(err, "unexpected argument '%s'%s", argv[optind + 1], "");
	if (!cfg->kernel)
		return cli_fail(err, "--kernel FILE is required%s%s", "", "");
	if (cli_kernel_cmdline(cfg->console, cfg->append, cmdline_buf, cmdline_size))
		return cli_fail(err, "--append: kernel command line too long%s%s", "", "");
	cfg->append = cmdline_buf;
	return CLI_RUN;
}
