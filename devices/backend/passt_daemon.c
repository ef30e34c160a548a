// SPDX-License-Identifier: Apache-2.0
/* Starting passt for --net user. See passt_daemon.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kvmrun/exit_status.h"
#include "kvmrun/log.h"
#include "daemon.h"
#include "passt_daemon.h"

#define PASST_DEFAULT "/usr/bin/passt"

static const char passt_install_hint[] =
	"install Debian's passt package (apt install passt) or set KVMRUN_PASST";

struct passt_daemon {
	struct daemon d;
};

static void passt_arg(struct passt_argv *a, unsigned int *n, const char *fmt, ...)
	PRINTF_FMT(3, 4);
static void passt_arg(struct passt_argv *a, unsigned int *n, const char *fmt, ...)
{
	va_list ap;

	if (*n >= PASST_ARGV_MAX - 1)
		return;
	va_start(ap, fmt);
	vsnprintf(a->str[*n], PASST_ARG_LEN, fmt, ap);
	va_end(ap);
	a->argv[*n] = a->str[*n];
	(*n)++;
	a->argv[*n] = NULL;
}

static const char *passt_ip(uint32_t addr, char *buf)
{
	return inet_ntop(AF_INET, &addr, buf, INET_ADDRSTRLEN);
}

void passt_build_argv(struct passt_argv *a, const char *path, const struct net_config *cfg)
{
	char ip[INET_ADDRSTRLEN];
	unsigned int n = 0;
	bool tcp = false, udp = false;

	passt_arg(a, &n, "%s", path);
	/* In the foreground (kvmrun reaps it), quiet, on the socket at descriptor 3. */
	passt_arg(a, &n, "-f");
	passt_arg(a, &n, "-q");
	passt_arg(a, &n, "--fd");
	passt_arg(a, &n, "%d", DAEMON_SOCK_FD);
	passt_arg(a, &n, "-a");
	passt_arg(a, &n, "%s", passt_ip(cfg->addr, ip));
	passt_arg(a, &n, "-n");
	passt_arg(a, &n, "%u", cfg->prefix);
	passt_arg(a, &n, "-g");
	passt_arg(a, &n, "%s", passt_ip(cfg->gateway, ip));
	/*
	 * DNS to cfg->dns goes to the host's first resolver. No -D: passt takes the
	 * resolver it forwards to only from /etc/resolv.conf, and with -D (2023-03)
	 * it sends the guest's queries to 0.0.0.0 and answers from another address.
	 * DHCP then offers the host's resolvers (the gateway for one on the host's
	 * loopback), which work through passt as well.
	 */
	if (cfg->dns) {
		passt_arg(a, &n, "--dns-forward");
		passt_arg(a, &n, "%s", passt_ip(cfg->dns, ip));
	}
	passt_arg(a, &n, "-m");
	passt_arg(a, &n, "%u", cfg->mtu ? cfg->mtu : NET_USER_MTU);
	for (unsigned int i = 0; i < cfg->nr_hostfwds; i++) {
		const struct net_hostfwd *f = &cfg->hostfwds[i];

		passt_arg(a, &n, f->udp ? "-u" : "-t");
		if (f->host_addr)
			passt_arg(a, &n, "%s/%u:%u", passt_ip(f->host_addr, ip), f->host_port,
				  f->guest_port);
		else
			passt_arg(a, &n, "%u:%u", f->host_port, f->guest_port);
		udp |= f->udp;
		tcp |= !f->udp;
	}
	/* passt forwards UDP for each TCP port unless told otherwise: only what is asked. */
	if (tcp && !udp) {
		passt_arg(a, &n, "-u");
		passt_arg(a, &n, "none");
	}
}

/* $KVMRUN_PASST, /usr/bin/passt, then passt on $PATH. */
static int passt_find(char *out, size_t size, const char *what, char *err, size_t errlen)
{
	const char *env = getenv("KVMRUN_PASST");
	const char *path = getenv("PATH");

	if (env && *env) {
		if (!daemon_executable(env)) {
			snprintf(err, errlen, "%s: passt not found at %s (KVMRUN_PASST): %s", what,
				 env, passt_install_hint);
			return KVMRUN_ERR_INPUT;
		}
		snprintf(out, size, "%s", env);
		return 0;
	}
	if (daemon_executable(PASST_DEFAULT)) {
		snprintf(out, size, "%s", PASST_DEFAULT);
		return 0;
	}
	while (path && *path) {
		const char *end = strchrnul(path, ':');
		int n = snprintf(out, size, "%.*s/passt", (int)(end - path), path);

		if (end > path && n > 0 && (size_t)n < size && out[0] == '/' &&
		    daemon_executable(out))
			return 0;
		path = *end ? end + 1 : end;
	}
	snprintf(err, errlen, "%s: passt not found: %s", what, passt_install_hint);
	return KVMRUN_ERR_INPUT;
}

int passt_daemon_start(struct passt_daemon **out, const struct net_config *cfg,
		       unsigned int index, int *sock_fd, char *err, size_t errlen)
{
	char path[PATH_MAX], what[32];
	struct passt_daemon *pd;
	struct passt_argv *a;
	int sv[2], ret, stage, e;

	snprintf(what, sizeof(what), "--net user (%u)", index + 1);
	pd = calloc(1, sizeof(*pd));
	a = calloc(1, sizeof(*a));
	if (!pd || !a) {
		snprintf(err, errlen, "%s: out of memory", what);
		ret = KVMRUN_ERR_INTERNAL;
		goto err_free;
	}
	daemon_init(&pd->d, "passt", what);
	ret = passt_find(path, sizeof(path), what, err, errlen);
	if (ret)
		goto err_free;
	passt_build_argv(a, path, cfg);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(err, errlen, "%s: socketpair: %s", what, strerror(errno));
		ret = KVMRUN_ERR_INTERNAL;
		goto err_free;
	}
	const struct daemon_child c = { .sock_fd = sv[1], .path = path, .argv = a->argv };

	ret = daemon_spawn(&pd->d, &c, &stage, &e);
	close(sv[1]);
	if (ret) {
		if (ret < 0)
			snprintf(err, errlen, "%s: starting passt: %s", what, strerror(-ret));
		else
			snprintf(err, errlen, "%s: cannot run %s: %s; %s", what, path,
				 strerror(e), passt_install_hint);
		ret = ret < 0 || stage != DAEMON_STAGE_EXEC ? KVMRUN_ERR_INTERNAL
							     : KVMRUN_ERR_INPUT;
		close(sv[0]);
		goto err_free;
	}
	log_debug("%s: %s started (pid %d)", what, path, (int)pd->d.pid);
	free(a);
	*sock_fd = sv[0];
	*out = pd;
	return 0;

err_free:
	free(a);
	free(pd);
	return ret;
}

int passt_daemon_exited(struct passt_daemon *d, char *err, size_t errlen)
{
	return d ? daemon_exited(&d->d, err, errlen) : 0;
}

pid_t passt_daemon_pid(const struct passt_daemon *d)
{
	return d ? daemon_pid(&d->d) : -1;
}

bool passt_daemon_stop(struct passt_daemon *d, struct daemon_cpu *cpu)
{
	bool known;

	if (!d)
		return false;
	daemon_stop(&d->d);
	known = daemon_cpu(&d->d, cpu);
	free(d);
	return known;
}
