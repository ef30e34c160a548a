// SPDX-License-Identifier: Apache-2.0
/*
 * kvmrun exec's host side for another VMM, for tests/bench/exec.sh: connects to
 * the unix socket of the VMM's virtio-serial port (QEMU: -chardev
 * socket,server=on,path=SOCKET and a virtserialport named kvmrun.agent), runs kvmrun's
 * own relay (src/exec/relay.c, the agent protocol of src/exec/proto.c) on it
 * with this process's stdin, stdout and stderr, and exits with the status
 * kvmrun exec would (PROGRAM's; 124 and 125 for its own outcomes). REPORT gets
 * kvmrun's report (src/exec/report.c): phases since this tool started, its own
 * CPU time; no first KVM_RUN, vCPUs, memory, devices or console.
 *
 * Usage: exec-client [--timeout SECONDS] SOCKET REPORT -- PROGRAM [ARG...]
 * PROGRAM runs as root in / with PATH and HOME=/root, as under kvmrun exec.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "exec/relay.h"
#include "exec/report.h"
#include "kvmrun/event_loop.h"
#include "kvmrun/exit_status.h"

/* How long the VMM may take to listen on SOCKET. */
#define CLIENT_CONNECT_MS 60000

static const char *const client_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", NULL};

struct client {
	struct exec_relay relay;
	struct ev_loop *loop;
	struct exec_report rep;
};

static void client_done(void *opaque, int status)
{
	struct client *c = opaque;

	ev_stop(c->loop, status);
}

/*
 * Connects to the VMM's socket at @path (QEMU: server=on), trying again every
 * millisecond while it is not there yet; -errno after CLIENT_CONNECT_MS.
 */
static int client_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	for (unsigned int ms = 0;; ms++) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			return fd;
		err = errno;
		close(fd);
		if ((err != ENOENT && err != ECONNREFUSED) || ms >= CLIENT_CONNECT_MS)
			return -err;
		usleep(1000);
	}
}

int main(int argc, char **argv)
{
	struct proto_job job = {.envp = client_env};
	struct exec_relay_config rc;
	struct client c = {0};
	uint64_t timeout_ms = 0;
	int argi = 1, fd, status, ret;
	struct rusage ru;
	struct timespec ts;

	c.rep = (struct exec_report){.argc = argc, .argv = argv, .exit_code = -1};
	c.rep.started_ns = exec_now_ns();
	clock_gettime(CLOCK_REALTIME, &ts);
	c.rep.started_unix_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	if (argc > 2 && !strcmp(argv[1], "--timeout")) {
		timeout_ms = strtoull(argv[2], NULL, 10) * 1000;
		argi = 3;
	}
	if (argc < argi + 4 || strcmp(argv[argi + 2], "--")) {
		fprintf(stderr, "usage: exec-client [--timeout SECONDS] SOCKET REPORT -- PROGRAM "
				"[ARG...]\n");
		return KVMRUN_EXEC_FAILED;
	}
	job.argv = (const char *const *)&argv[argi + 3];
	exec_report_prepare();
	if (ev_loop_create(&c.loop))
		return KVMRUN_EXEC_FAILED;
	fd = client_connect(argv[argi]);
	if (fd < 0) {
		fprintf(stderr, "exec-client: %s: %s\n", argv[argi], strerror(-fd));
		return KVMRUN_EXEC_FAILED;
	}
	rc = (struct exec_relay_config){
	    .loop = c.loop,
	    .in_fd = STDIN_FILENO,
	    .out_fd = STDOUT_FILENO,
	    .err_fd = STDERR_FILENO,
	    .job = &job,
	    .hello_ms = EXEC_HELLO_TIMEOUT_MS,
	    .timeout_ms = timeout_ms,
	    .done = client_done,
	    .done_opaque = &c,
	    .winch_fd = -1,
	};
	ret = exec_relay_init(&c.relay, &rc);
	if (!ret)
		ret = exec_relay_attach_fd(&c.relay, fd);
	if (ret) {
		fprintf(stderr, "exec-client: the relay: %s\n", strerror(-ret));
		return KVMRUN_EXEC_FAILED;
	}
	status = ev_run(c.loop);
	exec_relay_fini(&c.relay);
	exec_relay_report(&c.relay, &c.rep);
	if (!c.relay.finished) {
		status = KVMRUN_EXEC_FAILED;
		c.rep.outcome = EXEC_AGENT_LOST;
	}
	if (c.relay.reason[0] && c.relay.outcome != EXEC_EXITED && c.relay.outcome != EXEC_SIGNALED)
		fprintf(stderr, "exec-client: %s\n", c.relay.reason);
	c.rep.status = status;
	c.rep.phase_ns[EXEC_PHASE_DONE] = exec_now_ns();
	if (!getrusage(RUSAGE_SELF, &ru)) {
		c.rep.cpu_user_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
		c.rep.cpu_sys_s = (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	}
	ret = exec_report_write(&c.rep, argv[argi + 1]);
	if (ret)
		fprintf(stderr, "exec-client: %s: %s\n", argv[argi + 1], strerror(-ret));
	close(fd);
	ev_loop_destroy(c.loop);
	return status;
}
