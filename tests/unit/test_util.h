/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers shared by the unit tests (include after cmocka.h). */
#ifndef KVMRUN_TEST_UTIL_H
#define KVMRUN_TEST_UTIL_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* buf = "$TMPDIR/name" (TMPDIR defaults to /tmp), for mkstemp() and friends. */
static inline void test_tmp_path(char *buf, size_t size, const char *name)
{
	const char *dir = getenv("TMPDIR");

	assert_true((size_t)snprintf(buf, size, "%s/%s", dir && *dir ? dir : "/tmp", name) <
		    size);
}

/* buf = "$TMPDIR/kvmrun-test-<what>-<pid>.log", with no file there yet. */
static inline void test_log_path(char *buf, size_t size, const char *what)
{
	char name[64];

	assert_true((size_t)snprintf(name, sizeof(name), "kvmrun-test-%s-%d.log", what, getpid()) <
		    sizeof(name));
	test_tmp_path(buf, size, name);
	unlink(buf);
}

/* Reads up to size bytes of the file at path; fails the test if it cannot. */
static inline size_t test_read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, size);
	close(fd);
	assert_true(n >= 0);
	return (size_t)n;
}

/* A pseudo-terminal pair; skips the test where none can be had. Returns the master. */
static inline int test_open_pty(int *slave)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY);

	if (master < 0)
		skip();
	assert_int_equal(grantpt(master), 0);
	assert_int_equal(unlockpt(master), 0);
	*slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	assert_true(*slave >= 0);
	return master;
}

/* Puts back @fd as saved by dup() (@saved < 0: it was not) and closes the copy. */
static inline void test_fd_restore(int saved, int fd)
{
	if (saved < 0)
		return;
	dup2(saved, fd);
	close(saved);
}

#endif
