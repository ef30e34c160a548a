// SPDX-License-Identifier: Apache-2.0
/*
 * The vhost-user frontend against a real virtiofsd (no KVM needed): the handshake,
 * the memory table and a queue started through this module, then one FUSE_INIT
 * request placed in the ring by hand. The daemon answering it into the right buffer
 * shows that it mapped guest RAM from the memory table (at a non-zero file offset)
 * and found the rings at the addresses SET_VRING_ADDR gave. Exits 77 (skipped)
 * without virtiofsd ($KVMRUN_VIRTIOFSD, or Debian 12's path) or without root, which
 * its sandbox needs.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_vhost_backend.h"
#include "test_util.h"
#include "vhost/vhost_user.h"

#define RAM_SIZE (1024 * 1024)
#define RAM_GPA (1ull << 32)
#define RAM_OFFSET (64 * 1024)
#define QSIZE 16
#define REQUEST_QUEUE 1
#define VERSION_1 (1ull << 32)
#define FUSE_INIT 26

struct fuse_in_header {
	uint32_t len, opcode;
	uint64_t unique, nodeid;
	uint32_t uid, gid, pid;
	uint16_t total_extlen, padding;
};

struct fuse_init_in {
	uint32_t major, minor, max_readahead, flags;
};

struct fuse_out_header {
	uint32_t len;
	int32_t error;
	uint64_t unique;
};

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static const char *virtiofsd_path(void)
{
	const char *p = getenv("KVMRUN_VIRTIOFSD");

	if (p && *p)
		return access(p, X_OK) ? NULL : p;
	return access("/usr/lib/qemu/virtiofsd", X_OK) ? NULL : "/usr/lib/qemu/virtiofsd";
}

/*
 * virtiofsd serving dir; returns its pid. Its --fd takes a listening socket (it
 * accepts one connection): an unnamed one, bound to an address the kernel picks in
 * the abstract namespace, which this end connects to before the daemon starts, so
 * that the daemon's one accept gets this connection and no other.
 */
static pid_t spawn(const char *dir, int *sock, const char *log)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	socklen_t len = sizeof(sa_family_t);
	char source[300];
	int lfd;
	pid_t pid;

	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&addr, len), 0);
	len = sizeof(addr);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&addr, &len), 0);
	assert_int_equal(listen(lfd, 1), 0);
	*sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(*sock >= 0);
	assert_int_equal(connect(*sock, (struct sockaddr *)&addr, len), 0);
	snprintf(source, sizeof(source), "source=%s", dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int out = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		/* dup2 onto itself would keep close-on-exec: clear it either way. */
		if (out < 0 || dup2(out, 2) < 0 || dup2(lfd, 3) < 0 || fcntl(3, F_SETFD, 0))
			_exit(127);
		execl(virtiofsd_path(), "virtiofsd", "--fd=3", "-o", source, "-o",
		      "sandbox=chroot", "-o", "cache=none", (char *)NULL);
		_exit(127);
	}
	close(lfd);
	return pid;
}

/* Reaps pid within 5 s of the socket closing, else kills it and fails. */
static void reap(pid_t pid)
{
	int status;

	for (int i = 0; i < 500; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	fail_msg("virtiofsd did not exit when its socket closed");
}

static void test_fuse_init(void **state)
{
	char dir[256], log[256];
	struct guest_mem gm = { 0 };
	struct vu_conn *c;
	uint64_t features, queues, n;
	int sock, memfd, kick, call;
	uint16_t base = 0;
	const volatile uint16_t *used_idx;
	struct pollfd pfd;
	uint8_t *ram;
	pid_t pid;

	test_tmp_path(dir, sizeof(dir), "kvmrun-test-vu-XXXXXX");
	assert_non_null(mkdtemp(dir));
	test_log_path(log, sizeof(log), "virtiofsd");
	pid = spawn(dir, &sock, log);
	assert_int_equal(vu_open(&c, sock, "fs0", 5000), 0);

	/* Guest RAM at 4 GiB, 64 KiB into its memfd: the rings and buffers live there. */
	memfd = memfd_create("ram", MFD_CLOEXEC);
	assert_true(memfd >= 0);
	assert_int_equal(ftruncate(memfd, RAM_OFFSET + RAM_SIZE), 0);
	ram = fvb_ram_map(&gm, memfd, RAM_GPA, RAM_SIZE, RAM_OFFSET);
	assert_non_null(ram);
	kick = eventfd(0, EFD_CLOEXEC);
	call = eventfd(0, EFD_CLOEXEC);
	assert_true(kick >= 0 && call >= 0);

	if (vu_handshake(c, 0, &features, &queues))
		fail_msg("%s", vu_error(c));
	assert_true(features & VERSION_1);
	assert_true(features & (1ull << VU_F_PROTOCOL_FEATURES));
	assert_true(vu_protocol_features(c) & (1ull << VU_PROTOCOL_F_REPLY_ACK));
	if (vu_set_features(c, VERSION_1) || vu_set_mem_table(c, &gm))
		fail_msg("%s", vu_error(c));

	/* Descriptors at +0, available at +0x1000, used at +0x2000, then the buffers. */
	struct vring_desc d[2] = {
		{ RAM_GPA + 0x4000, sizeof(struct fuse_in_header) + sizeof(struct fuse_init_in),
		  1 /* NEXT */, 1 },
		{ RAM_GPA + 0x5000, 4096, 2 /* WRITE */, 0 },
	};
	struct fuse_in_header in = { .len = d[0].len, .opcode = FUSE_INIT, .unique = 42 };
	struct fuse_init_in init = { .major = 7, .minor = 31, .max_readahead = 65536 };
	uint16_t avail[3] = { 0, 1, 0 };
	struct vu_vring r = { .index = REQUEST_QUEUE, .size = QSIZE, .desc = RAM_GPA,
			      .avail = RAM_GPA + 0x1000, .used = RAM_GPA + 0x2000,
			      .kick_fd = kick, .call_fd = call };

	memcpy(ram, d, sizeof(d));
	memcpy(ram + 0x4000, &in, sizeof(in));
	memcpy(ram + 0x4000 + sizeof(in), &init, sizeof(init));
	memcpy(ram + 0x1000, avail, sizeof(avail));
	if (vu_vring_start(c, &gm, &r))
		fail_msg("%s", vu_error(c));
	n = 1;
	assert_int_equal(write(kick, &n, sizeof(n)), sizeof(n));

	/*
	 * The daemon signals the call eventfd once it has used the chain (and once when
	 * it gets the eventfd, in case of a lost interrupt): wait for the used index.
	 */
	used_idx = (const volatile uint16_t *)(ram + 0x2002);
	for (int i = 0; i < 50 && *used_idx != 1; i++) {
		pfd = (struct pollfd){ .fd = call, .events = POLLIN };
		if (poll(&pfd, 1, 100) == 1)
			assert_int_equal(read(call, &n, sizeof(n)), sizeof(n));
	}
	assert_int_equal(*used_idx, 1);
	{
		uint32_t elem[2];
		struct fuse_out_header out;
		uint32_t major;

		memcpy(elem, ram + 0x2004, sizeof(elem));
		assert_int_equal(elem[0], 0);
		memcpy(&out, ram + 0x5000, sizeof(out));
		assert_int_equal(out.error, 0);
		assert_int_equal(out.unique, 42);
		assert_int_equal(elem[1], out.len);
		assert_true(out.len > sizeof(out));
		memcpy(&major, ram + 0x5000 + sizeof(out), sizeof(major));
		assert_int_equal(major, 7);
	}
	/* Stopped, the queue's base is past the one request. */
	if (vu_vring_stop(c, REQUEST_QUEUE, &base))
		fail_msg("%s", vu_error(c));
	assert_int_equal(base, 1);

	vu_close(c);
	reap(pid);
	fvb_ram_unmap(ram, RAM_SIZE);
	close(memfd);
	close(kick);
	close(call);
	unlink(log);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fuse_init),
	};

	if (!virtiofsd_path() || geteuid() != 0) {
		fprintf(stderr, "skipped: needs virtiofsd and root\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
