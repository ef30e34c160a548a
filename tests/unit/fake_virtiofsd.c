// SPDX-License-Identifier: Apache-2.0
/*
 * A stand-in for virtiofsd in test_virtiofsd: it accepts one connection on the
 * listening socket --fd=N names, as virtiofsd does, and reports over it what it
 * was given, one KEY=VALUE line each, then "END". FAKE_VFS_MODE picks what it does:
 *   report      the report, then waits for EOF on the connection
 *   serve       "PID=n", then waits for ever (ends on SIGTERM)
 *   stubborn    as serve, but ignores SIGTERM
 * FAKE_VFS_LEAK=N: also report whether descriptor N is open (LEAK_OPEN=0|1).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static void say(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(int fd, const char *fmt, ...)
{
	char line[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(fd, line, (size_t)n) != n)
		exit(3);
}

static const char *status_field(const char *key, char *buf, size_t size)
{
	FILE *f = fopen("/proc/self/status", "r");
	size_t klen = strlen(key);

	buf[0] = '\0';
	while (f && fgets(buf, (int)size, f)) {
		if (!strncmp(buf, key, klen) && buf[klen] == ':') {
			char *v = buf + klen + 1;

			while (*v == '\t' || *v == ' ')
				v++;
			v[strcspn(v, "\n")] = '\0';
			fclose(f);
			return v;
		}
	}
	if (f)
		fclose(f);
	return "?";
}

int main(int argc, char **argv)
{
	const char *mode = getenv("FAKE_VFS_MODE"), *leak = getenv("FAKE_VFS_LEAK");
	const char *source = NULL;
	int lfd = -1, conn, accepting = 0;
	socklen_t len = sizeof(accepting);
	struct sigaction sa;
	char buf[512], link[256];
	ssize_t n;

	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "--fd=", 5))
			lfd = atoi(argv[i] + 5);
		if (!strcmp(argv[i], "-o") && i + 1 < argc && !strncmp(argv[i + 1], "source=", 7))
			source = argv[i + 1] + 7;
	}
	fprintf(stderr, "fake virtiofsd: starting\n");
	if (lfd < 0 || getsockopt(lfd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) < 0 ||
	    !accepting) {
		fprintf(stderr, "fake virtiofsd: --fd=%d is no listening socket\n", lfd);
		return 2;
	}
	conn = accept(lfd, NULL, NULL);
	if (conn < 0) {
		fprintf(stderr, "fake virtiofsd: accept: %s\n", strerror(errno));
		return 2;
	}
	if (mode && (!strcmp(mode, "serve") || !strcmp(mode, "stubborn"))) {
		if (!strcmp(mode, "stubborn"))
			signal(SIGTERM, SIG_IGN);
		say(conn, "PID=%d", (int)getpid());
		for (;;)
			pause();
	}
	say(conn, "ARGC=%d", argc);
	for (int i = 1; i < argc; i++)
		say(conn, "ARG%d=%s", i, argv[i]);
	n = readlink("/proc/self/fd/0", link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = '\0';
	say(conn, "STDIN=%s", link);
	n = readlink("/proc/self/fd/2", link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = '\0';
	say(conn, "STDERR=%.5s", link);
	say(conn, "SIGBLK=%s", status_field("SigBlk", buf, sizeof(buf)));
	say(conn, "SIGIGN=%s", status_field("SigIgn", buf, sizeof(buf)));
	if (leak)
		say(conn, "LEAK_OPEN=%d", fcntl(atoi(leak), F_GETFD) >= 0);
	if (source) {
		char probe[4096];
		int fd;

		snprintf(probe, sizeof(probe), "%s/fake-write-probe", source);
		fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		say(conn, "WRITE_ERRNO=%d", fd < 0 ? errno : 0);
		if (fd >= 0) {
			close(fd);
			unlink(probe);
		}
	}
	sigaction(SIGPIPE, NULL, &sa);
	say(conn, "SIGPIPE_DFL=%d", sa.sa_handler == SIG_DFL);
	say(conn, "END");
	fprintf(stderr, "fake virtiofsd: reported\n");
	while (read(conn, buf, sizeof(buf)) > 0)
		;
	return 0;
}
