// SPDX-License-Identifier: Apache-2.0
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

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

int cli_fail(FILE *err, const char *fmt, const char *a, const char *b)
{
	char *pa = cli_printable(a), *pb = cli_printable(b);

	fprintf(err, "kvmrun: error: ");
	fprintf(err, fmt, pa ? pa : "?", pb ? pb : "?");
	fprintf(err, "\n");
	free(pa);
	free(pb);
	return CLI_EXIT_USAGE;
}

int cli_opt_fail(FILE *err, const char *opt, const char *val, const char *why)
{
	fprintf(err, "kvmrun: error: %s '", opt);
	for (const char *p = val; *p; p++)
		fputc((unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p, err);
	fprintf(err, "': %s\n", why);
	return CLI_EXIT_USAGE;
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
