// SPDX-License-Identifier: Apache-2.0
/*
 * The probe of tests/bench/startup.sh, built twice from this file:
 *
 * - with -DPROBE_EXEC, a launcher: `probe-exec FD CMD ARGS...` reads
 *   CLOCK_MONOTONIC and its own CPU time, puts them in the environment as
 *   STARTUP_PROBE_T0 and STARTUP_PROBE_CPU0 (ns) with STARTUP_PROBE_FD=FD, and
 *   execs CMD at once (the process's CPU clock goes on across execve, so the
 *   launcher's own start is taken off);
 * - without, a preload library (LD_PRELOAD) that wraps ioctl(). At the first
 *   KVM_RUN of the process it reads CLOCK_MONOTONIC and the process's CPU
 *   time (CLOCK_PROCESS_CPUTIME_ID: every thread, also those already gone),
 *   writes "first-kvm-run ELAPSED_NS CPU_NS" (both since the launcher's
 *   readings) to FD, and stops the whole
 *   process with SIGSTOP before the ioctl is made: the script then reads
 *   /proc/PID/smaps of a process frozen exactly there, and kills it.
 *
 * It uses only calls that kvmrun's vCPU seccomp filter allows (clock_gettime,
 * write, getpid, gettid, tgkill on its own process), so it measures kvmrun
 * with its sandbox on. Both VMMs call ioctl() through the C library.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static unsigned long long probe_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

#ifdef PROBE_EXEC
int main(int argc, char **argv)
{
	char t0[32], cpu0[32];

	if (argc < 3) {
		fprintf(stderr, "usage: probe-exec FD CMD [ARGS...]\n");
		return 2;
	}
	if (setenv("STARTUP_PROBE_FD", argv[1], 1))
		return 1;
	snprintf(cpu0, sizeof(cpu0), "%llu", probe_ns(CLOCK_PROCESS_CPUTIME_ID));
	snprintf(t0, sizeof(t0), "%llu", probe_ns(CLOCK_MONOTONIC));
	if (setenv("STARTUP_PROBE_T0", t0, 1) || setenv("STARTUP_PROBE_CPU0", cpu0, 1))
		return 1;
	execv(argv[2], argv + 2);
	fprintf(stderr, "probe-exec: %s: %s\n", argv[2], strerror(errno));
	return 127;
}
#else
#include <stdarg.h>
#include <stdatomic.h>
#include <linux/kvm.h>

/* Read once at load, before any seccomp filter: getenv makes no system call anyway. */
static int probe_fd = -1;
static unsigned long long probe_t0, probe_cpu0;
static atomic_int probe_done;

__attribute__((constructor)) static void probe_init(void)
{
	const char *fd = getenv("STARTUP_PROBE_FD"), *t0 = getenv("STARTUP_PROBE_T0");
	const char *cpu0 = getenv("STARTUP_PROBE_CPU0");

	if (fd && t0 && cpu0) {
		probe_fd = atoi(fd);
		probe_t0 = strtoull(t0, NULL, 10);
		probe_cpu0 = strtoull(cpu0, NULL, 10);
	}
}

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (req == KVM_RUN && probe_fd >= 0 && !atomic_exchange(&probe_done, 1)) {
		unsigned long long t1 = probe_ns(CLOCK_MONOTONIC);
		unsigned long long cpu = probe_ns(CLOCK_PROCESS_CPUTIME_ID);
		char line[96];
		int n;

		n = snprintf(line, sizeof(line), "first-kvm-run %llu %llu\n", t1 - probe_t0,
			     cpu - probe_cpu0);
		if (write(probe_fd, line, (size_t)n) != n)
			_exit(125);
		syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), SIGSTOP);
	}
	return (int)syscall(SYS_ioctl, fd, req, arg);
}
#endif
