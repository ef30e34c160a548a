/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kvmrun exec: boots a VM on the host's root with kvmrun's own initramfs (the
 * agent as /init), runs PROGRAM through the agent and returns its status.
 * This header has what needs no VM: the kernel's default path, the kernel
 * command line, and the outcomes with their exit statuses.
 */
#ifndef KVMRUN_EXEC_EXEC_H
#define KVMRUN_EXEC_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmrun/compiler.h"
#include "kvmrun/config.h"

/* The virtio-console port the agent talks on (kvmrun.agent= names it). */
#define EXEC_AGENT_PORT "kvmrun.agent"
/* The virtio-fs tag of the guest's root. */
#define EXEC_ROOT_TAG "root"
/* The virtio-blk serial of the guest's root with --root IMAGE. */
#define EXEC_ROOT_SERIAL "kvmrun-root"
/* How long the agent may take to say HELLO after the VM starts (boot included). */
#define EXEC_HELLO_TIMEOUT_MS 60000
/* The guest's hostname. */
#define EXEC_HOSTNAME "kvmrun"
/* What kvmrun says when it finds no kernel. */
#define EXEC_NO_KERNEL_HINT "give --kernel FILE, or fetch one with scripts/fetch-guest-kernel"

/* How the run ended, as the report names it. */
enum exec_outcome {
	EXEC_EXITED,	   /* PROGRAM exited (status its own; 126/127 when it could not run) */
	EXEC_SIGNALED,	   /* a signal killed PROGRAM (128 + N) */
	EXEC_TIMEOUT,	   /* --timeout expired (124) */
	EXEC_GUEST_PANIC,  /* the guest kernel panicked (125) */
	EXEC_TRIPLE_FAULT, /* the guest triple-faulted (125) */
	EXEC_VMM_ERROR,	   /* kvmrun or the VM failed: setup, vCPU, signal to kvmrun (125) */
	EXEC_AGENT_LOST,   /* the agent was not ready in time, broke the protocol or went away */
	EXEC_OUTCOMES,
};

/* "exited", "signaled", "timeout", "guest-panic", "triple-fault", "vmm-error", "agent-lost". */
const char *exec_outcome_name(enum exec_outcome o);

/*
 * The agent's EXIT (kind, value; enum agent_exit_kind) as an outcome and the
 * status kvmrun exits with: EXITED value, SIGNALED 128 + value, EXEC_FAILED 127
 * or 126, SETUP_FAILED 125; an unknown kind is 125 as agent-lost.
 */
int exec_exit_status(uint32_t kind, uint32_t value, enum exec_outcome *outcome);

/*
 * What kvmrun's VM ending with @vm_status (enum kvmrun_status, as vm_run()
 * returns it) means when the agent never reported an EXIT: the outcome, the
 * status to exit with (125; 128 + N when a signal stopped kvmrun) and one line
 * saying why (@why, @size bytes).
 */
int exec_vm_status(int vm_status, enum exec_outcome *outcome, char *why, size_t size);

/*
 * Whether the run ended as the relay says (else as the VM's status says), with
 * @vm_status the status the loop stopped with first: the relay's own status
 * when it stopped it; a panic, a triple fault or a signal to kvmrun when the VM
 * did (a device reset on the way closes the agent's port, which the relay takes
 * for the agent's end, after the fact). A power-off after the relay's end is the
 * agent's own, after EXIT.
 */
bool exec_relay_decides(bool relay_finished, int relay_status, int vm_status);

/*
 * The kernel to boot: @kernel (--kernel) when given, else /boot/vmlinuz-@release
 * (@release: the host's uname -r). Fails with -ENOENT when that file is missing.
 */
int exec_kernel_path(const char *kernel, const char *release, char *buf, size_t size) WARN_UNUSED;

/*
 * The guest's kernel command line: the user's --append (may be NULL), then what
 * exec needs and the user did not set: console=ttyS0 (the kernel's messages go
 * to the console log, never to kvmrun's stdout), quiet, panic=-1, reboot=k,
 * kvmrun.agent=PORT, kvmrun.hostname=NAME and kvmrun.root=TAG (the virtio-fs
 * share the agent mounts, with a tmpfs overlay, as the root). -E2BIG when it
 * does not fit.
 */
int exec_kernel_cmdline(const char *append, char *buf, size_t size) WARN_UNUSED;

/*
 * Appends kvmrun.share=TAG:PATH to the command line in @buf for each --share
 * but the root's: the agent mounts it at its path= (GUESTDIR), else at HOSTDIR's
 * own path; a socket= share without path= is left to PROGRAM to mount.
 * -EINVAL for a relative path or a path or tag with white space, control
 * characters (or ':' in the tag); -E2BIG when it does not fit.
 */
int exec_share_args(const struct vm_config *cfg, char *buf, size_t size) WARN_UNUSED;

/*
 * The modules exec's initramfs carries for @cfg (their dependencies come from
 * modules.dep): virtio_pci, virtio_console, fuse, virtiofs, overlay, pvpanic_mmio (if
 * the kernel has it: optional, see MODDEP_OPTIONAL);
 * with a virtio-blk disk (--disk, --root IMAGE) also virtio_blk, ext4 and
 * crc32c_generic; with --net also virtio_net. Each set is an initramfs cached
 * of its own. Returns how many it wrote to out.
 */
#define EXEC_MODULES_MAX 16
size_t exec_modules_for(const struct vm_config *cfg, const char *out[EXEC_MODULES_MAX]);

/* Does cfg carry --root IMAGE's disk (serial EXEC_ROOT_SERIAL)? */
bool exec_root_is_disk(const struct vm_config *cfg);

/*
 * Appends kvmrun.rootdisk=EXEC_ROOT_SERIAL to the command line in @buf: the
 * agent mounts the virtio-blk disk with that serial (ext4, read-write: the disk
 * is a snapshot) as the root, in place of kvmrun.root's share. -E2BIG when it
 * does not fit.
 */
int exec_root_disk_arg(char *buf, size_t size) WARN_UNUSED;

/*
 * Appends kvmrun.ethN=ADDR/PREFIX[,GW[,DNS]] for each --net N with an address
 * (user: the ones passt hands out; a tap: ip=, gw=), kvmrun.ethN=up for a tap
 * without: what the agent sets on the guest's interfaces. -E2BIG when it does
 * not fit.
 */
int exec_net_args(const struct vm_config *cfg, char *buf, size_t size) WARN_UNUSED;

/*
 * Runs `kvmrun exec`: @cfg and @ec as cli_parse_cmd() filled them, @argc and
 * @argv kvmrun's own (for the report). Returns the status to exit with.
 */
int exec_main(struct vm_config *cfg, const struct exec_config *ec, int argc, char **argv);

#endif
