/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers shared by the unit tests (include after cmocka.h). */
#ifndef KVMRUN_TEST_UTIL_H
#define KVMRUN_TEST_UTIL_H

#include <fcntl.h>
#include <unistd.h>

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

#endif
