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

#include "exec/bzimage.h"
#include "exec/exec.h"
#include "exec/initramfs.h"
#include "kvmrun/exit_status.h"
#include "kvmrun/log.h"

/* Where the agent is looked for when $KVMRUN_AGENT does not say. */
static const char *const exec_agent_dirs[] = { "/usr/local/libexec/kvmrun", "/usr/libexec/kvmrun" };

struct exec_setup {
	char kernel[PATH_MAX];
	char release[BZIMAGE_RELEASE_MAX];
	char agent[PATH_MAX];
	char cmdline[4096];
	struct initramfs_result initramfs;
};

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
	struct initramfs_spec spec = { 0 };
	struct utsname u;
	int ret;

	if (uname(&u) < 0)
		return exec_fail("uname: %s", strerror(errno));
	ret = exec_kernel_path(cfg->kernel, u.release, s->kernel, sizeof(s->kernel));
	if (ret)
		return exec_fail("no kernel: %s: %s; %s", s->kernel, strerror(-ret),
				 EXEC_NO_KERNEL_HINT);
	ret = bzimage_release(s->kernel, s->release, sizeof(s->release));
	if (ret)
		return exec_fail("--kernel %s: cannot read its release: %s", s->kernel,
				 strerror(-ret));
	ret = exec_find_agent(s->agent, sizeof(s->agent));
	if (ret)
		return exec_fail("the guest agent (kvmrun-agent) was not found: set KVMRUN_AGENT");
	spec.agent = s->agent;
	spec.release = s->release;
	spec.modules_dir = ec->modules;
	spec.modules = exec_modules;
	spec.nmodules = exec_nr_modules;
	ret = initramfs_build(&spec, &s->initramfs);
	if (ret)
		return exec_fail("the initramfs: %s", s->initramfs.error);
	if (exec_kernel_cmdline(cfg->append, s->cmdline, sizeof(s->cmdline)))
		return exec_fail("--append: kernel command line too long");
	cfg->kernel = s->kernel;
	cfg->initrd = s->initramfs.path;
	cfg->append = s->cmdline;
	return 0;
}

int exec_main(struct vm_config *cfg, const struct exec_config *ec, int argc, char **argv)
{
	struct exec_setup *s = calloc(1, sizeof(*s));
	int status;

	(void)argc;
	(void)argv;
	if (!s)
		return exec_fail("out of memory");
	status = exec_prepare(s, cfg, ec);
	if (status)
		goto out;
	status = exec_fail("exec: this build cannot run PROGRAM yet (no agent port on "
			   "virtio-console)");
out:
	free(s);
	return status;
}
