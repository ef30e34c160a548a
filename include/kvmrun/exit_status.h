/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_EXIT_STATUS_H
#define KVMRUN_EXIT_STATUS_H

/* Exit statuses of the kvmrun process; the README and --help carry this table. */
enum kvmrun_status {
	KVMRUN_OK = 0,           /* guest powered off, or rebooted */
	KVMRUN_ERR_INTERNAL = 1, /* unexpected host failure */
	KVMRUN_ERR_USAGE = 2,    /* bad command line */
	KVMRUN_ERR_INPUT = 3,    /* kernel/initrd/disk/tap missing, unreadable, malformed, locked */
	KVMRUN_ERR_KVM = 4,      /* /dev/kvm missing, not permitted, or lacking a capability */
	/* The host does not permit the jail (--jail, --cgroup, --limit): also 4. */
	KVMRUN_ERR_JAIL = KVMRUN_ERR_KVM,
	KVMRUN_GUEST_PANIC = 5,  /* guest kernel panicked (pvpanic) */
	KVMRUN_GUEST_CRASH = 6,  /* triple fault */
	KVMRUN_VCPU_ERROR = 7,   /* KVM internal error, emulation failure, unhandled exit */
	KVMRUN_ERR_SANDBOX = 8,  /* a system call the seccomp filter refuses (a kvmrun bug) */
	/*
	 * kvmrun exec: PROGRAM's own status (0..255; 128 + N when signal N killed
	 * it), or one of these, the values timeout(1) and env(1) use.
	 */
	KVMRUN_EXEC_TIMEOUT = 124,   /* --timeout expired; the VM was stopped */
	KVMRUN_EXEC_FAILED = 125,    /* kvmrun, the VM or the agent failed (any status above) */
	KVMRUN_EXEC_NOEXEC = 126,    /* PROGRAM found but not executable */
	KVMRUN_EXEC_NOTFOUND = 127,  /* PROGRAM not found */
	/* Stopped by SIGINT/SIGTERM: 128 + signal number (130, 143). */
	/*
	 * With --exit-port only: whatever byte the guest wrote to the exit port,
	 * which may be any of the values above too.
	 */
};

#endif
