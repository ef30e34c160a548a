/* SPDX-License-Identifier: Apache-2.0 */
/* What the command line asks for: the VM, its disks, tap devices and console, and their limits. */
#ifndef KVMRUN_CONFIG_H
#define KVMRUN_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include "kvmrun/compiler.h"
#include "kvmrun/log.h"

/*
 * CONSOLE_SERIAL: the UART is the terminal. CONSOLE_VIRTIO: virtio-console is
 * the terminal (its input too), the UART prints to it as well for early boot.
 * CONSOLE_NONE: nothing on the terminal (--console-log still records).
 */
enum console_mode { CONSOLE_SERIAL, CONSOLE_VIRTIO, CONSOLE_NONE };

/* What --console-log appends per run at most, unless its max= says otherwise. */
#define VM_CONSOLE_LOG_MAX (64ULL * MiB)

/*
 * A rate limit (--disk iops=,bw=; --net pps=,bw=): rate a second, 0: none; burst:
 * what may go at once after an idle time, 0: one second's worth.
 */
struct limit_config {
	uint64_t rate;
	uint64_t burst;
};

/*
 * --disk PATH[,ro][,serial=ID][,cache=none|writeback][,snapshot[,overlay-max=SIZE]]
 * [,iops=N][,bw=SIZE][,iops-burst=N][,bw-burst=SIZE]
 */
#define VM_MAX_DISKS 16
#define DISK_PATH_MAX 4096
#define DISK_SERIAL_MAX 20 /* virtio-blk GET_ID: 20 bytes, NUL-padded */

enum disk_cache { DISK_CACHE_WRITEBACK, DISK_CACHE_NONE };

struct disk_config {
	char path[DISK_PATH_MAX];
	bool readonly;
	enum disk_cache cache;
	bool has_serial; /* else a serial derived from the file name */
	char serial[DISK_SERIAL_MAX + 1];
	struct limit_config iops, bw; /* requests, bytes a second */
	bool sandbox; /* not from --disk: the VM sets it; worker threads install their filter */
	bool snapshot;	      /* PATH is only read; the guest's writes go to an overlay */
	uint64_t overlay_max; /* snapshot: bytes of data the overlay holds at most; 0: the size */
};

/*
 * --net tap=NAME[,mac=MAC][,mtu=N] or --net fd=N[,mac=MAC][,mtu=N] (and the rate
 * limits bw=SIZE, pps=N, bw-burst=SIZE, pps-burst=N on either): a virtio-net
 * device on a tap interface, found by name (attached, or created when permitted)
 * or already open and passed in by a launcher.
 */
#define VM_MAX_NETS 8
#define NET_IFNAME_MAX 16 /* IFNAMSIZ: 15 characters and the NUL */
#define NET_MTU_MIN 68
#define NET_MTU_MAX 65535

/*
 * ...,egress=deny[,allow=CIDR[:PORT[-PORT]][/tcp|/udp|/icmp]]...[,dns=on]: what
 * the guest may send on the NIC (devices/backend/egress.h). egress=allow (the
 * default): everything, unchecked.
 */
#define NET_EGRESS_RULES_MAX 32

enum egress_proto { EGRESS_PROTO_ANY, EGRESS_PROTO_TCP, EGRESS_PROTO_UDP, EGRESS_PROTO_ICMP };

struct egress_rule {
	uint8_t addr[16]; /* network byte order; IPv4 in the first 4 bytes */
	uint8_t family;	  /* 4 or 6 */
	uint8_t prefix;	  /* 0..32 or 0..128; bits past it are zero */
	uint8_t proto;	  /* enum egress_proto; ANY with ports: TCP and UDP */
	bool has_ports;	  /* else any port, and any protocol with ANY */
	uint16_t port_lo, port_hi;
};

struct egress_policy {
	bool deny; /* egress=deny: only what the rules (and dns=on) allow */
	bool dns;  /* dns=on: TCP and UDP to port 53 of any address */
	unsigned int nr_rules;
	struct egress_rule rules[NET_EGRESS_RULES_MAX];
};

/*
 * --net user[,hostfwd=tcp|udp:[ADDR]:PORT-:GUESTPORT]...[,ip=CIDR][,gw=ADDR][,mac=][,mtu=]:
 * the same device on passt (user-mode networking, no privilege), which kvmrun starts
 * on one end of a socket pair and which hands the guest the address, gateway and DNS
 * below through DHCP; hostfwd forwards a host port to the guest.
 */
#define NET_HOSTFWD_MAX 16
#define NET_USER_MTU 65520 /* passt's own default: 802.3's largest, less the header */

struct net_hostfwd {
	bool udp;
	uint32_t host_addr; /* network order; 0: every address */
	uint16_t host_port, guest_port;
};

struct net_config {
	char ifname[NET_IFNAME_MAX]; /* tap=NAME; empty for fd= */
	int fd;			     /* fd=N; user: the socket to passt the VM made; else -1 */
	bool has_mac;		     /* else derived from the tap's name and the index */
	uint8_t mac[6];
	unsigned int mtu; /* 0: the tap's own */
	struct egress_policy egress;
	struct limit_config bw, pps; /* bytes, frames a second, each direction */
	bool user;	  /* --net user: passt */
	unsigned int nr_hostfwds;
	struct net_hostfwd hostfwds[NET_HOSTFWD_MAX];
	/*
	 * The guest's IPv4 address, prefix, gateway and DNS server (network order; 0:
	 * none): for user, what passt hands out (defaults in cli_net.c); for a tap,
	 * ip=CIDR[,gw=ADDR], which only exec's agent sets on eth0.
	 */
	uint32_t addr, gateway, dns;
	unsigned int prefix;
};

/*
 * --share HOSTDIR[,tag=TAG][,ro][,virtiofsd=PATH][,path=GUESTDIR] or --share
 * socket=PATH,tag=TAG[,path=GUESTDIR]: a
 * virtio-fs device served over vhost-user, by a virtiofsd that kvmrun starts on one
 * end of a socketpair, or by a daemon someone else started on a unix socket.
 */
#define VM_MAX_SHARES 8
#define SHARE_TAG_MAX 36 /* virtio-fs config space: 36 bytes, NUL-padded */

struct share_config {
	char path[DISK_PATH_MAX];      /* HOSTDIR; empty with socket= */
	char socket[DISK_PATH_MAX];    /* socket=PATH; empty when kvmrun starts the daemon */
	char tag[SHARE_TAG_MAX + 1];   /* default: HOSTDIR's base name */
	bool readonly;		       /* ro: the daemon serves a read-only mount */
	char virtiofsd[DISK_PATH_MAX]; /* virtiofsd=PATH; empty: the default search */
	char guest_path[DISK_PATH_MAX]; /* path=GUESTDIR: where exec mounts it; empty: HOSTDIR */
};

/*
 * --jail on|off, --cgroup DIR, --limit memory=SIZE,cpus=N,pids=N (jail.h). A limit of
 * 0 is not set; --limit takes --cgroup.
 */
#define JAIL_CPUS_MAX 4096
#define JAIL_PIDS_MAX 4194304U
#define JAIL_MEMORY_MIN (16ULL * MiB)

struct jail_config {
	bool on;
	const char *cgroup;  /* a delegated cgroup v2 directory; NULL: none */
	uint64_t memory_max; /* bytes: memory.max */
	uint32_t cpu_milli;  /* thousandths of a CPU: cpu.max */
	uint32_t pids_max;   /* pids.max (threads count too) */
};

struct vm_config {
	const char *kernel;
	const char *initrd;
	const char *append;
	unsigned int cpus;
	uint64_t memory;
	enum console_mode console;
	const char *console_log;
	uint64_t console_log_max; /* --console-log FILE,max=SIZE: bytes appended per run */
	enum log_level log_level;
	unsigned int nr_disks;
	struct disk_config disks[VM_MAX_DISKS];
	bool rng; /* a virtio-rng device */
	bool no_sandbox; /* --sandbox off: no seccomp filters */
	bool exit_port;	 /* --exit-port: the guest may end kvmrun with any status */
	unsigned int nr_nets;
	struct net_config nets[VM_MAX_NETS];
	unsigned int nr_shares;
	struct share_config shares[VM_MAX_SHARES];
	const char *dtb_out; /* --dtb-out FILE (arm64): the device tree written there too */
	struct jail_config jail;
};

/*
 * kvmrun exec [options] -- PROGRAM [ARG...]: what runs in the guest and how. The
 * strings point into argv.
 */
#define EXEC_ENV_MAX 256			 /* --env options */
#define EXEC_TIMEOUT_MAX_MS (30ULL * 86400 * 1000) /* --timeout: 30 days at most */
#define EXEC_START_MAX (60u * 1024) /* argv, environment and workdir together, in bytes */

struct exec_config {
	bool enabled;		/* the command is exec (its failures are status 125) */
	int argc;		/* PROGRAM and its arguments */
	char *const *argv;	/* argc of them, then NULL */
	uint64_t timeout_ms;	/* --timeout; 0: none */
	const char *report;	/* --report FILE, or NULL */
	unsigned int nr_env;
	const char *env[EXEC_ENV_MAX]; /* --env NAME=VALUE, in order */
	const char *workdir;	/* --workdir DIR (absolute), NULL: / */
	bool has_user;		/* --user UID[:GID]; else root */
	uint32_t uid, gid;
	bool tty;		/* -t, --tty */
	const char *root;	/* --root DIR|IMAGE, NULL: / */
	const char *modules;	/* --modules DIR, NULL: /lib/modules/RELEASE */
};

#endif
