// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the vhost-user frontend: everything the backend says. The
 * input's first byte chooses the protocol features asked for (bit 0: MQ); the rest is
 * the byte stream the backend sends, queued on the socket before the frontend runs
 * (then the backend's side shuts down for writing, so the frontend meets EOF where
 * the input ends). The frontend goes through a whole session: handshake, features,
 * memory table, a queue started, stopped and its interrupt moved, and does it again.
 * Whatever the replies, a call returns 0 or a negative errno with one line in
 * vu_error(); once a reply broke the connection every call fails with -EPIPE; and no
 * fd stays open. No call waits long: the input is all there, then EOF.
 * FUZZ_TRACE=1 prints each call's result, which is how to read an input.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kvmrun/guest_mem.h"
#include "vhost/vhost_user.h"

#define RAM_SIZE (64 * 1024)
#define MAX_INPUT (32 * 1024) /* well inside a socket's buffer */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* After a call: 0, or an errno with a reason; broken means -EPIPE from then on. */
static void check(struct vu_conn *c, const char *call, int ret, int *broken)
{
	const char *err = vu_error(c);

	if (getenv("FUZZ_TRACE"))
		fprintf(stderr, "%s: %d%s%s\n", call, ret, ret ? " " : "", ret ? err : "");
	if (ret > 0 || ret < -4095)
		abort();
	if (*broken && ret != -EPIPE)
		abort();
	if (ret && (!err[0] || strchr(err, '\n')))
		abort();
	if (ret == -EPIPE && !vu_broken(c))
		abort();
	*broken = vu_broken(c);
}

static int lowest_free_fd(void)
{
	int fd = dup(0);

	if (fd >= 0)
		close(fd);
	return fd;
}

static void session(struct vu_conn *c, const struct guest_mem *gm, uint64_t want, int efd)
{
	struct vu_vring r = { .index = 0, .size = 64, .desc = 0x1000, .avail = 0x2000,
			      .used = 0x3000, .base = 3, .kick_fd = efd, .call_fd = efd };
	uint64_t features = 0, queues = 0;
	int broken = vu_broken(c);
	uint16_t base = 0;

	check(c, "vu_handshake", vu_handshake(c, want, &features, &queues), &broken);
	check(c, "vu_set_features", vu_set_features(c, features), &broken);
	check(c, "vu_set_mem_table", vu_set_mem_table(c, gm), &broken);
	check(c, "vu_vring_start", vu_vring_start(c, gm, &r), &broken);
	check(c, "vu_vring_stop", vu_vring_stop(c, 0, &base), &broken);
	check(c, "vu_vring_set_call", vu_vring_set_call(c, 0, efd), &broken);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guest_mem gm = { 0 };
	struct vu_conn *c;
	int sv[2], memfd, efd, free_fd;
	uint8_t *ram;
	uint64_t want;

	if (size < 1 || size > MAX_INPUT)
		return -1;
	want = data[0] & 1 ? 1ull << VU_PROTOCOL_F_MQ : 0;
	free_fd = lowest_free_fd();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	if (size > 1 && write(sv[1], data + 1, size - 1) != (ssize_t)(size - 1))
		abort();
	shutdown(sv[1], SHUT_WR);
	memfd = memfd_create("ram", MFD_CLOEXEC);
	efd = eventfd(0, EFD_CLOEXEC);
	if (memfd < 0 || efd < 0 || ftruncate(memfd, RAM_SIZE))
		abort();
	ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (ram == MAP_FAILED || gm_add_region_fd(&gm, 0, RAM_SIZE, ram, memfd, 0))
		abort();
	if (vu_open(&c, sv[0], "fz0", 1000))
		abort();
	session(c, &gm, want, efd);
	session(c, &gm, want, efd);
	vu_close(c);
	close(sv[1]);
	close(efd);
	munmap(ram, RAM_SIZE);
	close(memfd);
	if (lowest_free_fd() != free_fd)
		abort();
	return 0;
}
