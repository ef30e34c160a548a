// SPDX-License-Identifier: Apache-2.0
/* kvmrun exec: the kernel, its command line, the initramfs, the outcome and its status. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "exec/bzimage.h"
#include "exec/exec.h"
#include "exec/initramfs.h"
#include "kvmrun/agent_proto.h"
#include "kvmrun/exit_status.h"
#include "kvmrun/log.h"

/* pvpanic_mmio when the kernel has it: Debian's arm64 cloud kernel has no pvpanic driver. */
static const char *const exec_modules_base[] = {"virtio_pci", "virtio_console", "fuse",
						"virtiofs",   "overlay",	"?pvpanic_mmio"};
static const char *const exec_modules_disk[] = {"virtio_blk", "ext4", "crc32c_generic"};
static const char *const exec_modules_net[] = {"virtio_net"};

size_t exec_modules_for(const struct vm_config *cfg, const char *out[EXEC_MODULES_MAX])
{
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(exec_modules_base); i++)
		out[n++] = exec_modules_base[i];
	for (size_t i = 0; cfg->nr_disks && i < ARRAY_SIZE(exec_modules_disk); i++)
		out[n++] = exec_modules_disk[i];
	for (size_t i = 0; cfg->nr_nets && i < ARRAY_SIZE(exec_modules_net); i++)
		out[n++] = exec_modules_net[i];
	return n;
}

_Static_assert(ARRAY_SIZE(exec_modules_base) + ARRAY_SIZE(exec_modules_disk) +
			   ARRAY_SIZE(exec_modules_net) <= EXEC_MODULES_MAX,
	       "EXEC_MODULES_MAX holds every module exec may carry");

bool exec_root_is_disk(const struct vm_config *cfg)
{
	for (unsigned int i = 0; i < cfg->nr_disks; i++)
		if (cfg->disks[i].has_serial && !strcmp(cfg->disks[i].serial, EXEC_ROOT_SERIAL))
			return true;
	return false;
}

int exec_root_disk_arg(char *buf, size_t size)
{
	size_t len = strlen(buf);
	int n = snprintf(buf + len, size - len, "%skvmrun.rootdisk=%s", len ? " " : "",
			 EXEC_ROOT_SERIAL);

	return n < 0 || (size_t)n >= size - len ? -E2BIG : 0;
}

const char *exec_outcome_name(enum exec_outcome o)
{
	static const char *const names[EXEC_OUTCOMES] = {
	    [EXEC_EXITED] = "exited",
	    [EXEC_SIGNALED] = "signaled",
	    [EXEC_TIMEOUT] = "timeout",
	    [EXEC_GUEST_PANIC] = "guest-panic",
	    [EXEC_TRIPLE_FAULT] = "triple-fault",
	    [EXEC_VMM_ERROR] = "vmm-error",
	    [EXEC_AGENT_LOST] = "agent-lost",
	};

	return (unsigned int)o < EXEC_OUTCOMES ? names[o] : "vmm-error";
}

int exec_exit_status(uint32_t kind, uint32_t value, enum exec_outcome *outcome)
{
	*outcome = EXEC_EXITED;
	switch (kind) {
	case AGENT_EXIT_EXITED:
		return value <= 255 ? (int)value : KVMRUN_EXEC_FAILED;
	case AGENT_EXIT_SIGNALED:
		*outcome = EXEC_SIGNALED;
		return value >= 1 && value <= AGENT_SIGNAL_MAX ? 128 + (int)value
							       : KVMRUN_EXEC_FAILED;
	case AGENT_EXIT_EXEC_FAILED:
		return value == ENOENT || value == ENOTDIR || value == ENAMETOOLONG
			   ? KVMRUN_EXEC_NOTFOUND
			   : KVMRUN_EXEC_NOEXEC;
	case AGENT_EXIT_SETUP_FAILED:
		return KVMRUN_EXEC_FAILED;
	}
	*outcome = EXEC_AGENT_LOST;
	return KVMRUN_EXEC_FAILED;
}

int exec_vm_status(int vm_status, enum exec_outcome *outcome, char *why, size_t size)
{
	*outcome = EXEC_VMM_ERROR;
	switch (vm_status) {
	case KVMRUN_OK:
		*outcome = EXEC_AGENT_LOST;
		snprintf(why, size, "the guest ended without the agent's report");
		return KVMRUN_EXEC_FAILED;
	case KVMRUN_GUEST_PANIC:
		*outcome = EXEC_GUEST_PANIC;
		snprintf(why, size, "guest kernel panicked");
		return KVMRUN_EXEC_FAILED;
	case KVMRUN_GUEST_CRASH:
		*outcome = EXEC_TRIPLE_FAULT;
		snprintf(why, size, "guest triple fault");
		return KVMRUN_EXEC_FAILED;
	case KVMRUN_ERR_SANDBOX:
		snprintf(why, size, "kvmrun made a system call its filter refuses");
		return KVMRUN_EXEC_FAILED;
	case KVMRUN_VCPU_ERROR:
		snprintf(why, size, "vCPU failure");
		return KVMRUN_EXEC_FAILED;
	}
	if (vm_status > 128 && vm_status < 128 + 65) {
		snprintf(why, size, "kvmrun stopped by signal %d", vm_status - 128);
		return vm_status;
	}
	snprintf(why, size, "the VM failed (status %d)", vm_status);
	return KVMRUN_EXEC_FAILED;
}

int exec_kernel_path(const char *kernel, const char *release, char *buf, size_t size)
{
	struct stat st;
	int n;

	if (kernel)
		n = snprintf(buf, size, "%s", kernel);
	else
		n = snprintf(buf, size, "/boot/vmlinuz-%s", release);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	if (!kernel && stat(buf, &st) < 0)
		return -errno;
	return 0;
}

/* Does the command line already carry `key` (e.g. "console=") as an argument? */
static bool exec_cmdline_has(const char *cmdline, const char *key)
{
	size_t n = strlen(key);

	for (const char *p = cmdline; (p = strstr(p, key)); p += n)
		if ((p == cmdline || isspace((unsigned char)p[-1])) &&
		    (key[n - 1] == '=' || !p[n] || isspace((unsigned char)p[n])))
			return true;
	return false;
}

int exec_kernel_cmdline(const char *append, char *buf, size_t size)
{
	static const struct {
		const char *key, *arg;
	} defaults[] = {
	    {"console=", "console=ttyS0"},
	    {"quiet", "quiet"},
	    {"panic=", "panic=-1"},
	    {"reboot=", "reboot=k"},
	    {"kvmrun.agent=", "kvmrun.agent=" EXEC_AGENT_PORT},
	    {"kvmrun.hostname=", "kvmrun.hostname=" EXEC_HOSTNAME},
	    {"kvmrun.root=", "kvmrun.root=" EXEC_ROOT_TAG},
	};
	size_t len;
	int n;

	n = snprintf(buf, size, "%s", append ? append : "");
	if (n < 0 || (size_t)n >= size)
		return -E2BIG;
	len = (size_t)n;
	for (unsigned int i = 0; i < ARRAY_SIZE(defaults); i++) {
		if (exec_cmdline_has(buf, defaults[i].key))
			continue;
		n = snprintf(buf + len, size - len, "%s%s", len ? " " : "", defaults[i].arg);
		if (n < 0 || (size_t)n >= size - len)
			return -E2BIG;
		len += (size_t)n;
	}
	return 0;
}

int exec_share_args(const struct vm_config *cfg, char *buf, size_t size)
{
	size_t len = strlen(buf);

	for (unsigned int i = 0; i < cfg->nr_shares; i++) {
		const struct share_config *sc = &cfg->shares[i];
		const char *at = sc->guest_path[0] ? sc->guest_path : sc->path;
		int n;

		if (!at[0] || !strcmp(sc->tag, EXEC_ROOT_TAG))
			continue;
		if (at[0] != '/')
			return -EINVAL;
		for (const char *p = at; *p; p++)
			if (isspace((unsigned char)*p) || (unsigned char)*p < 0x20)
				return -EINVAL;
		for (const char *p = sc->tag; *p; p++)
			if (isspace((unsigned char)*p) || *p == ':' || (unsigned char)*p < 0x20)
				return -EINVAL;
		n = snprintf(buf + len, size - len, "%skvmrun.share=%s:%s", len ? " " : "", sc->tag,
			     at);
		if (n < 0 || (size_t)n >= size - len)
			return -E2BIG;
		len += (size_t)n;
	}
	return 0;
}

int exec_net_args(const struct vm_config *cfg, char *buf, size_t size)
{
	size_t len = strlen(buf);

	for (unsigned int i = 0; i < cfg->nr_nets; i++) {
		const struct net_config *nc = &cfg->nets[i];
		char addr[INET_ADDRSTRLEN], gw[INET_ADDRSTRLEN], dns[INET_ADDRSTRLEN];
		int n;

		if (!nc->addr) {
			n = snprintf(buf + len, size - len, "%skvmrun.eth%u=up", len ? " " : "", i);
		} else {
			inet_ntop(AF_INET, &nc->addr, addr, sizeof(addr));
			inet_ntop(AF_INET, &nc->gateway, gw, sizeof(gw));
			inet_ntop(AF_INET, &nc->dns, dns, sizeof(dns));
			n = snprintf(buf + len, size - len, "%skvmrun.eth%u=%s/%u%s%s%s%s",
				     len ? " " : "", i, addr, nc->prefix, nc->gateway ? "," : "",
				     nc->gateway ? gw : "", nc->gateway && nc->dns ? "," : "",
				     nc->gateway && nc->dns ? dns : "");
		}
		if (n < 0 || (size_t)n >= size - len)
			return -E2BIG;
		len += (size_t)n;
	}
	return 0;
}

bool exec_relay_decides(bool relay_finished, int relay_status, int vm_status)
{
	return relay_finished && (vm_status == relay_status || vm_status == KVMRUN_OK);
}
