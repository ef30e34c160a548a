/* SPDX-License-Identifier: Apache-2.0 */
/*
 * --report FILE: one JSON document (through jansson) on how a kvmrun exec went.
 *
 *   {
 *     "version": "0.1.0",
 *     "command": ["kvmrun", "exec", "--", "sh", "-c", "exit 7"],
 *     "outcome": "exited",      exited signaled timeout guest-panic triple-fault
 *                               vmm-error agent-lost
 *     "status": 7,              what kvmrun exited with
 *     "exit_code": 7,           PROGRAM's own (null unless outcome is exited)
 *     "signal": null,           the signal that killed PROGRAM (signaled only)
 *     "reason": "...",          one line (null when PROGRAM exited by itself)
 *     "started_unix_ns": ...,   wall clock when kvmrun started
 *     "phases_ms": {            since kvmrun started; null: never reached
 *       "first_kvm_run": 3.1, "agent_ready": 812.0, "program_started": 812.4,
 *       "program_ended": 815.2, "done": 830.9 },
 *     "cpu_s": { "user": 0.21, "system": 0.35 },   kvmrun's own
 *     "vcpus": 1, "memory_bytes": 268435456,
 *     "bytes": { "stdin": 0, "stdout": 12, "stderr": 0 },
 *     "devices": [              per --disk, then per --net, in command-line order
 *       { "type": "virtio-blk", "name": "vda", "backend": "/path/disk.img",
 *         "read_requests": 3, "read_bytes": 12288, "write_requests": 1,
 *         "write_bytes": 4096, "flushes": 1, "discards": 0, "errors": 0 },
 *       { "type": "virtio-net", "name": "net0", "backend": "tap0",
 *         "rx_frames": 2, "rx_bytes": 180, "tx_frames": 3, "tx_bytes": 250,
 *         "rx_drops": 0, "tx_drops": 0, "errors": 0, "egress_denied": 0,
 *         "egress_malformed": 0, "egress_fragment": 0, "egress_ethertype": 0,
 *         "rate_limited": 5, "rate_limit_waited_ms": 250 } ],   (the last two: with limits)
 *     "console_tail": "...",    the guest console's last 4 KiB (invalid UTF-8 as U+FFFD)
 *     "jail": {                 --jail (jail.h)
 *       "on": true,
 *       "entered": true,        false: --jail off, or the VM ended before it
 *       "user_namespace": true, one was needed (kvmrun had no CAP_SYS_ADMIN)
 *       "namespaces": ["mount", "ipc", "uts", "cgroup", "net", "user"],
 *       "rlimits": { "core": 0, "nofile": 80, "nproc": 4 },   null: not set
 *       "cgroup": { "path": "DIR/kvmrun.PID", "memory_max": 1073741824,
 *                   "cpus": 1.5, "pids_max": 64 } }   null: no --cgroup; a
 *                               limit not given is null
 *   }
 */
#ifndef KVMRUN_EXEC_REPORT_H
#define KVMRUN_EXEC_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "exec/exec.h"
#include "kvmrun/compiler.h"
#include "kvmrun/config.h"
#include "kvmrun/jail.h"
#include "kvmrun/vm.h"

#define EXEC_CONSOLE_TAIL (4 * 1024)
/* Devices with counters in a report at most, and counters per device. */
#define EXEC_REPORT_DEVICES (VM_MAX_DISKS + VM_MAX_NETS)
#define EXEC_REPORT_COUNTERS 24

struct blk_stats;
struct disk_stats;
struct net_stats;
struct rl_limiter;

struct exec_report_counter {
	const char *name;
	uint64_t value;
};

/* One device in "devices": its counters as name and value, in their order. */
struct exec_report_device {
	const char *type;    /* "virtio-blk", "virtio-net" */
	char name[16];	     /* "vda", "net0" */
	const char *backend; /* the image's path, the tap's name; NULL: none */
	unsigned int nr_counters;
	struct exec_report_counter counters[EXEC_REPORT_COUNTERS];
};

enum exec_phase {
	EXEC_PHASE_FIRST_RUN,
	EXEC_PHASE_AGENT_READY,
	EXEC_PHASE_PROGRAM_STARTED,
	EXEC_PHASE_PROGRAM_ENDED,
	EXEC_PHASE_DONE,
	EXEC_PHASES,
};

struct exec_report {
	int argc; /* kvmrun's command */
	char *const *argv;
	enum exec_outcome outcome;
	int status;
	int exit_code;	    /* -1: none */
	int signal;	    /* 0: none */
	const char *reason; /* NULL: none */
	uint64_t started_unix_ns;
	uint64_t started_ns;		/* CLOCK_MONOTONIC when kvmrun started */
	uint64_t phase_ns[EXEC_PHASES]; /* CLOCK_MONOTONIC; 0: never reached */
	double cpu_user_s, cpu_sys_s;
	unsigned int vcpus;
	uint64_t memory;
	uint64_t bytes[3];	     /* stdin, stdout, stderr */
	const uint8_t *console_tail; /* up to EXEC_CONSOLE_TAIL bytes */
	size_t console_tail_len;
	const struct exec_report_device *devices;
	unsigned int nr_devices;
	struct jail_report jail;
	/* "helpers": each daemon kvmrun started and reaped, its CPU time apart from kvmrun's */
	const struct vm_helper_cpu *helpers;
	unsigned int nr_helpers;
};

/* A virtio-blk's counters as a report device named @name on @backend. */
void exec_report_blk(struct exec_report_device *d, const char *name, const char *backend,
		     const struct blk_stats *st, const struct disk_stats *ds);
/* (A snapshot disk adds overlay_bytes, its data in the overlay, and overlay_refused, the
 * writes refused for want of room under overlay-max.) */
/* A virtio-net's: rx_drops and tx_drops sum the drop reasons of each direction;
 * egress_* count what its egress policy dropped, by reason (0 without one). */
void exec_report_net(struct exec_report_device *d, const char *name, const char *backend,
		     const struct net_stats *st);
/*
 * A device's rate limits (one limiter, or a NIC's two): rate_limited, the requests
 * or frames that waited, and rate_limit_waited_ms, how long, summed; a NIC's (a
 * receives, b transmits) also each direction's, as rx_ and tx_ of the same names.
 * Nothing without limits.
 */
void exec_report_limits(struct exec_report_device *d, const struct rl_limiter *a,
			const struct rl_limiter *b);

/*
 * Before the sandbox: jansson seeds its hash tables from /dev/urandom the first
 * time it makes an object, which the event loop's filter does not allow later.
 */
void exec_report_prepare(void);

/* The document as a string (free() it), or NULL when out of memory. */
char *exec_report_json(const struct exec_report *r);

/* Writes it to @fd (write() only: fit for the sandboxed loop thread). 0 or -errno. */
int exec_report_write_fd(const struct exec_report *r, int fd) WARN_UNUSED;

/* Writes it to @path (created or truncated). 0 or -errno. */
int exec_report_write(const struct exec_report *r, const char *path) WARN_UNUSED;

#endif
