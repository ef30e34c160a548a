// SPDX-License-Identifier: Apache-2.0
/*
 * The vhost-user frontend against a scripted backend: the handshake with and without
 * protocol features, REPLY_ACK and MQ; the memory table's regions and fds; a queue's
 * start and stop; every malformed reply, each of which breaks the connection; and
 * arguments refused before anything is sent.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_ram.h"
#include "fake_vhost_backend.h"
#include "vhost/vhost_user.h"

/*
 * A call's bound: long enough that no answering backend misses it on a loaded
 * machine; the cases where the backend never answers in time use the short one.
 */
#define TIMEOUT_MS 10000
#define SHORT_TIMEOUT_MS 300
#define BIT(n) (1ull << (n))
#define VERSION_1 BIT(32)
#define PROTO_FEATURES BIT(VU_F_PROTOCOL_FEATURES)
#define RAM_SIZE (1024 * 1024)
#define HIGH_GPA (4ull << 30)

struct fx {
	struct fake_vhost_backend *b;
	struct vu_conn *c;
	struct guest_mem gm;
	int memfd[2];
	uint8_t *ram[2];
	int kick, call;
	int fds_at_start;
};

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A backend with cfg, a connection to it, and two regions of RAM from two memfds. */
static struct fx *fx_open_within(const struct fvb_config *cfg, int timeout_ms)
{
	struct fx *f = calloc(1, sizeof(*f));
	int fd;

	assert_non_null(f);
	f->fds_at_start = count_fds();
	f->b = fvb_start(cfg, &fd);
	assert_non_null(f->b);
	assert_int_equal(vu_open(&f->c, fd, "fs0", timeout_ms), 0);
	for (int i = 0; i < 2; i++) {
		f->memfd[i] = memfd_create("ram", MFD_CLOEXEC);
		assert_true(f->memfd[i] >= 0);
		assert_int_equal(ftruncate(f->memfd[i], 2 * RAM_SIZE), 0);
	}
	/* The second region starts 64 KiB into its file, as a split of one memfd would. */
	f->ram[0] = fvb_ram_map(&f->gm, f->memfd[0], 0, RAM_SIZE, 0);
	f->ram[1] = fvb_ram_map(&f->gm, f->memfd[1], HIGH_GPA, RAM_SIZE, 64 * 1024);
	assert_non_null(f->ram[0]);
	assert_non_null(f->ram[1]);
	f->kick = eventfd(0, EFD_CLOEXEC);
	f->call = eventfd(0, EFD_CLOEXEC);
	assert_true(f->kick >= 0 && f->call >= 0);
	return f;
}

static struct fx *fx_open(const struct fvb_config *cfg)
{
	return fx_open_within(cfg, TIMEOUT_MS);
}

/* Closes it all; no fd may be left open (a reply's fds included). */
static void fx_close(struct fx *f)
{
	vu_close(f->c);
	fvb_stop(f->b);
	for (int i = 0; i < 2; i++) {
		fvb_ram_unmap(f->ram[i], RAM_SIZE);
		close(f->memfd[i]);
	}
	close(f->kick);
	close(f->call);
	assert_int_equal(count_fds(), f->fds_at_start);
	free(f);
}

static uint64_t u64_of(const struct fvb_msg *m)
{
	uint64_t v;

	assert_int_equal(m->size, 8);
	memcpy(&v, m->payload, 8);
	return v;
}

static void assert_state(const struct fvb_msg *m, uint32_t req, uint32_t index, uint32_t num)
{
	uint32_t st[2];

	assert_int_equal(m->request, req);
	assert_int_equal(m->size, 8);
	memcpy(st, m->payload, sizeof(st));
	assert_int_equal(st[0], index);
	assert_int_equal(st[1], num);
}

/* Whether two fds are the same file. */
static bool same_file(int a, int b)
{
	struct stat sa, sb;

	assert_int_equal(fstat(a, &sa), 0);
	assert_int_equal(fstat(b, &sb), 0);
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static void handshake(struct fx *f, uint64_t want, uint64_t *features, uint64_t *queues)
{
	assert_int_equal(vu_handshake(f->c, want, features, queues), 0);
	assert_string_equal(vu_error(f->c), "");
}

/* ---- handshake ---- */

static void test_handshake_plain(void **state)
{
	struct fvb_config cfg = { .features = VERSION_1 | BIT(0) };
	struct fx *f = fx_open(&cfg);
	uint64_t features, queues = 99;

	handshake(f, BIT(VU_PROTOCOL_F_MQ), &features, &queues);
	assert_int_equal(features, VERSION_1 | BIT(0));
	assert_int_equal(queues, 0);
	assert_int_equal(vu_protocol_features(f->c), 0);
	assert_int_equal(vu_set_features(f->c, VERSION_1), 0);
	assert_int_equal(fvb_wait(f->b, 3), 3);
	assert_int_equal(fvb_msg(f->b, 0)->request, FVB_SET_OWNER);
	assert_int_equal(fvb_msg(f->b, 0)->size, 0);
	assert_int_equal(fvb_msg(f->b, 1)->request, FVB_GET_FEATURES);
	/* Without protocol features nothing else is asked, and no ack. */
	assert_int_equal(fvb_msg(f->b, 2)->request, FVB_SET_FEATURES);
	assert_int_equal(u64_of(fvb_msg(f->b, 2)), VERSION_1);
	assert_int_equal(fvb_msg(f->b, 2)->flags, 1);
	assert_string_equal(fvb_violation(f->b), "");
	fx_close(f);
}

static void test_handshake_reply_ack(void **state)
{
	struct fvb_config cfg = { .features = VERSION_1 | PROTO_FEATURES,
				  .protocol_features = BIT(VU_PROTOCOL_F_REPLY_ACK) |
						       BIT(VU_PROTOCOL_F_CONFIG) | BIT(1) };
	struct fx *f = fx_open(&cfg);
	uint64_t features, queues = 99;

	/* MQ is wanted but not offered: neither it nor GET_QUEUE_NUM. */
	handshake(f, BIT(VU_PROTOCOL_F_MQ), &features, &queues);
	assert_int_equal(features, VERSION_1 | PROTO_FEATURES);
	assert_int_equal(queues, 0);
	assert_int_equal(vu_protocol_features(f->c), BIT(VU_PROTOCOL_F_REPLY_ACK));
	assert_int_equal(fvb_wait(f->b, 4), 4);
	assert_int_equal(fvb_msg(f->b, 2)->request, FVB_GET_PROTOCOL_FEATURES);
	assert_int_equal(fvb_msg(f->b, 3)->request, FVB_SET_PROTOCOL_FEATURES);
	assert_int_equal(u64_of(fvb_msg(f->b, 3)), BIT(VU_PROTOCOL_F_REPLY_ACK));
	/* SET_PROTOCOL_FEATURES itself goes out before REPLY_ACK holds. */
	assert_int_equal(fvb_msg(f->b, 3)->flags, 1);
	/* The features get the protocol bit back, and now an ack is asked for and read. */
	assert_int_equal(vu_set_features(f->c, VERSION_1), 0);
	assert_int_equal(fvb_count(f->b), 5);
	assert_int_equal(u64_of(fvb_msg(f->b, 4)), VERSION_1 | PROTO_FEATURES);
	assert_int_equal(fvb_msg(f->b, 4)->flags, 1 | FVB_FLAG_NEED_REPLY);
	assert_string_equal(fvb_violation(f->b), "");
	fx_close(f);
}

static void test_handshake_mq(void **state)
{
	struct fvb_config cfg = { .features = PROTO_FEATURES,
				  .protocol_features = BIT(VU_PROTOCOL_F_REPLY_ACK) |
						       BIT(VU_PROTOCOL_F_MQ),
				  .queue_num = 3 };
	struct fx *f = fx_open(&cfg);
	uint64_t features, queues;

	handshake(f, BIT(VU_PROTOCOL_F_MQ), &features, &queues);
	assert_int_equal(queues, 3);
	assert_int_equal(fvb_count(f->b), 5);
	assert_int_equal(u64_of(fvb_msg(f->b, 3)),
			 BIT(VU_PROTOCOL_F_REPLY_ACK) | BIT(VU_PROTOCOL_F_MQ));
	assert_int_equal(fvb_msg(f->b, 4)->request, FVB_GET_QUEUE_NUM);
	assert_string_equal(fvb_violation(f->b), "");
	fx_close(f);
}

static void test_handshake_mq_without_ack(void **state)
{
	struct fvb_config cfg = { .features = PROTO_FEATURES,
				  .protocol_features = BIT(VU_PROTOCOL_F_MQ),
				  .queue_num = 1 };
	struct fx *f = fx_open(&cfg);
	uint64_t features, queues;

	handshake(f, BIT(VU_PROTOCOL_F_MQ), &features, &queues);
	assert_int_equal(queues, 1);
	assert_int_equal(vu_protocol_features(f->c), BIT(VU_PROTOCOL_F_MQ));
	assert_int_equal(vu_set_features(f->c, 0), 0);
	assert_int_equal(fvb_wait(f->b, 6), 6);
	assert_int_equal(fvb_msg(f->b, 5)->flags, 1);
	assert_int_equal(u64_of(fvb_msg(f->b, 5)), PROTO_FEATURES);
	assert_string_equal(fvb_violation(f->b), "");
	fx_close(f);
}

/* ---- memory table ---- */

static struct fx *fx_acked(void)
{
	struct fvb_config cfg = { .features = PROTO_FEATURES,
				  .protocol_features = BIT(VU_PROTOCOL_F_REPLY_ACK),
				  .base_advance = 5 };
	struct fx *f = fx_open(&cfg);
	uint64_t features, queues;

	handshake(f, 0, &features, &queues);
	/* SET_PROTOCOL_FEATURES has no reply: wait for it to arrive. */
	assert_int_equal(fvb_wait(f->b, 4), 4);
	return f;
}

static void test_mem_table(void **state)
{
	struct fx *f = fx_acked();
	const struct fvb_msg *m;
	uint64_t r[2][4];
	uint32_t n[2];

	assert_int_equal(vu_set_mem_table(f->c, &f->gm), 0);
	m = fvb_msg(f->b, 4);
	assert_non_null(m);
	assert_int_equal(m->request, FVB_SET_MEM_TABLE);
	assert_int_equal(m->flags, 1 | FVB_FLAG_NEED_REPLY);
	assert_int_equal(m->size, 8 + 2 * 32);
	memcpy(n, m->payload, sizeof(n));
	assert_int_equal(n[0], 2);
	assert_int_equal(n[1], 0);
	memcpy(r, m->payload + 8, sizeof(r));
	/* guest_phys_addr, memory_size, userspace_addr, mmap_offset */
	assert_int_equal(r[0][0], 0);
	assert_int_equal(r[0][1], RAM_SIZE);
	assert_int_equal(r[0][2], (uintptr_t)f->ram[0]);
	assert_int_equal(r[0][3], 0);
	assert_int_equal(r[1][0], HIGH_GPA);
	assert_int_equal(r[1][1], RAM_SIZE);
	assert_int_equal(r[1][2], (uintptr_t)f->ram[1]);
	assert_int_equal(r[1][3], 64 * 1024);
	/* One fd per region, in the regions' order. */
	assert_int_equal(m->nfds, 2);
	assert_true(same_file(m->fds[0], f->memfd[0]));
	assert_true(same_file(m->fds[1], f->memfd[1]));
	assert_string_equal(fvb_violation(f->b), "");
	fx_close(f);
}

static void test_mem_table_needs_fds(void **state)
{
	struct fx *f = fx_acked();
	struct guest_mem gm = { 0 };
	uint8_t *anon = fake_ram_map(&gm, 0, 4096);

	assert_non_null(anon);
	assert_int_equal(vu_set_mem_table(f->c, &gm), -EINVAL);
	assert_string_equal(vu_error(f->c),
			    "fs0: vhost-user SET_MEM_TABLE: guest RAM at 0 is not backed by a "
			    "file descriptor");
	/* The connection still works, and what comes next is the first thing sent. */
	assert_false(vu_broken(f->c));
	assert_int_equal(vu_set_mem_table(f->c, &f->gm), 0);
	assert_int_equal(fvb_count(f->b), 5);
	assert_int_equal(fvb_msg(f->b, 4)->nfds, 2);
	fake_ram_free(anon);
	fx_close(f);
}

/* ---- queues ---- */

static struct vu_vring ring_at(struct fx *f, uint64_t gpa)
{
	return (struct vu_vring){ .index = 1, .size = 256, .desc = gpa, .avail = gpa + 0x1000,
				  .used = gpa + 0x2000, .base = 7, .kick_fd = f->kick,
				  .call_fd = f->call };
}

static void check_vring_start(struct fx *f, unsigned int first, uint8_t *host, uint32_t flags)
{
	const struct fvb_msg *m;
	uint64_t a[4];
	uint32_t ia[2];

	assert_state(fvb_msg(f->b, first), FVB_SET_VRING_NUM, 1, 256);
	m = fvb_msg(f->b, first + 1);
	assert_int_equal(m->request, FVB_SET_VRING_ADDR);
	assert_int_equal(m->size, 40);
	memcpy(ia, m->payload, sizeof(ia));
	memcpy(a, m->payload + 8, sizeof(a));
	assert_int_equal(ia[0], 1);
	assert_int_equal(ia[1], 0);
	/* kvmrun's own addresses, in the order descriptors, used, available, log. */
	assert_int_equal(a[0], (uintptr_t)host);
	assert_int_equal(a[1], (uintptr_t)host + 0x2000);
	assert_int_equal(a[2], (uintptr_t)host + 0x1000);
	assert_int_equal(a[3], 0);
	assert_state(fvb_msg(f->b, first + 2), FVB_SET_VRING_BASE, 1, 7);
	m = fvb_msg(f->b, first + 3);
	assert_int_equal(m->request, FVB_SET_VRING_KICK);
	assert_int_equal(u64_of(m), 1);
	assert_int_equal(m->nfds, 1);
	assert_true(same_file(m->fds[0], f->kick));
	m = fvb_msg(f->b, first + 4);
	assert_int_equal(m->request, FVB_SET_VRING_CALL);
	assert_int_equal(u64_of(m), 1);
	assert_int_equal(m->nfds, 1);
	assert_true(same_file(m->fds[0], f->call));
	for (unsigned int i = first; i < first + 5; i++)
		assert_int_equal(fvb_msg(f->b, i)->flags, flags);
}

static void test_vring_start_stop(void **state)
{
	struct fx *f = fx_acked();
	struct vu_vring r = ring_at(f, HIGH_GPA + 0x10000);
	uint16_t base = 0;

	assert_int_equal(vu_vring_start(f->c, &f->gm, &r), 0);
	assert_int_equal(fvb_count(f->b), 10);
	check_vring_start(f, 4, f->ram[1] + 0x10000, 1 | FVB_FLAG_NEED_REPLY);
	assert_state(fvb_msg(f->b, 9), FVB_SET_VRING_ENABLE, 1, 1);
	/* Stopping returns where the backend got to. */
	assert_int_equal(vu_vring_stop(f->c, 1, &base), 0);
	assert_state(fvb_msg(f->b, 10), FVB_GET_VRING_BASE, 1, 0);
	assert_int_equal(fvb_msg(f->b, 10)->flags, 1);
	assert_int_equal(base, 12);
	assert_int_equal(vu_vring_stop(f->c, 1, NULL), 0);
	/* Interrupts moved to another eventfd. */
	assert_int_equal(vu_vring_set_call(f->c, 1, f->kick), 0);
	assert_int_equal(fvb_msg(f->b, 12)->request, FVB_SET_VRING_CALL);
	assert_true(same_file(fvb_msg(f->b, 12)->fds[0], f->kick));
	assert_string_equal(fvb_violation(f->b), "");
	fx_close(f);
}

static void test_vring_start_without_protocol(void **state)
{
	struct fvb_config cfg = { .features = VERSION_1 };
	struct fx *f = fx_open(&cfg);
	struct vu_vring r = ring_at(f, 0x8000);
	uint64_t features, queues;

	handshake(f, 0, &features, &queues);
	assert_int_equal(vu_vring_start(f->c, &f->gm, &r), 0);
	/* No ENABLE: without protocol features a queue runs once it has its kick. */
	assert_int_equal(vu_vring_stop(f->c, 1, NULL), 0);
	assert_int_equal(fvb_count(f->b), 8);
	check_vring_start(f, 2, f->ram[0] + 0x8000, 1);
	assert_int_equal(fvb_msg(f->b, 7)->request, FVB_GET_VRING_BASE);
	assert_string_equal(fvb_violation(f->b), "");
	fx_close(f);
}

static void test_vring_refused_without_sending(void **state)
{
	struct fx *f = fx_acked();
	const uint64_t end = RAM_SIZE;
	struct vu_vring r;
	struct {
		uint64_t desc, avail, used;
		const char *what;
	} bad[] = {
		/* Each ring just one byte too long for its region. */
		{ end - 16 * 256 + 1, 0, 0x2000, "descriptor ring at 0xff001 (4096 bytes)" },
		{ 0, end - (6 + 2 * 256) + 1, 0x2000, "available ring at 0xffdfb (518 bytes)" },
		{ 0, 0x1000, end - (6 + 8 * 256) + 1, "used ring at 0xff7fb (2054 bytes)" },
		/* Between the regions, and past the top of the address space. */
		{ 2 * RAM_SIZE, 0x1000, 0x2000, "descriptor ring at 0x200000" },
		{ 0, 0x1000, UINT64_MAX - 8, "used ring at 0xfffffffffffffff7" },
	};
	char want[200];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		r = ring_at(f, 0);
		r.desc = bad[i].desc;
		r.avail = bad[i].avail;
		r.used = bad[i].used;
		assert_int_equal(vu_vring_start(f->c, &f->gm, &r), -EFAULT);
		snprintf(want, sizeof(want), "fs0: vhost-user SET_VRING_ADDR: %s", bad[i].what);
		assert_non_null(strstr(vu_error(f->c), want));
	}
	r = ring_at(f, 0);
	r.size = 0;
	assert_int_equal(vu_vring_start(f->c, &f->gm, &r), -EINVAL);
	r.size = 384;
	assert_int_equal(vu_vring_start(f->c, &f->gm, &r), -EINVAL);
	r.size = 256;
	r.index = 256;
	assert_int_equal(vu_vring_start(f->c, &f->gm, &r), -EINVAL);
	r.index = 1;
	r.call_fd = -1;
	assert_int_equal(vu_vring_start(f->c, &f->gm, &r), -EBADF);
	assert_int_equal(vu_vring_set_call(f->c, 1, -1), -EINVAL);
	/* The connection still works, and what comes next is the first thing sent. */
	assert_false(vu_broken(f->c));
	r = ring_at(f, end - 0x3000);
	assert_int_equal(vu_vring_start(f->c, &f->gm, &r), 0);
	assert_int_equal(fvb_count(f->b), 10);
	check_vring_start(f, 4, f->ram[0] + end - 0x3000, 1 | FVB_FLAG_NEED_REPLY);
	fx_close(f);
}

/* ---- hostile replies ---- */

enum op { OP_HANDSHAKE, OP_FEATURES, OP_MEM_TABLE, OP_STOP, OP_PLAIN_HANDSHAKE };

struct bad_reply {
	enum fvb_fault fault;
	uint32_t on;
	enum op op;
	int err;
	const char *line; /* the start of vu_error() */
};

static int run_op(struct fx *f, enum op op)
{
	uint64_t features, queues;
	uint16_t base;

	switch (op) {
	case OP_HANDSHAKE:
	case OP_PLAIN_HANDSHAKE:
		return vu_handshake(f->c, 0, &features, &queues);
	case OP_FEATURES:
		return vu_set_features(f->c, VERSION_1);
	case OP_MEM_TABLE:
		return vu_set_mem_table(f->c, &f->gm);
	case OP_STOP:
		return vu_vring_stop(f->c, 1, &base);
	}
	return 0;
}

static void check_bad_reply(const struct bad_reply *t)
{
	struct fvb_config cfg = { .features = PROTO_FEATURES,
				  .protocol_features = BIT(VU_PROTOCOL_F_REPLY_ACK) };
	struct fvb_config plain = { .features = VERSION_1 };
	int timeout_ms = t->err == -ETIMEDOUT ? SHORT_TIMEOUT_MS : TIMEOUT_MS;
	struct fx *f = fx_open_within(t->op == OP_PLAIN_HANDSHAKE ? &plain : &cfg, timeout_ms);
	unsigned int n, owners = 0;
	uint64_t features, queues;
	int64_t t0, took;

	if (t->op != OP_HANDSHAKE && t->op != OP_PLAIN_HANDSHAKE)
		assert_int_equal(run_op(f, OP_HANDSHAKE), 0);
	fvb_fault(f->b, t->on, t->fault);
	t0 = now_ms();
	assert_int_equal(run_op(f, t->op), t->err);
	took = now_ms() - t0;
	/*
	 * No call outlasts its timeout, whatever the backend does: a drip of a
	 * reply (a byte each 250 ms, 5 s in all) ends at the call's deadline.
	 */
	assert_true(took < timeout_ms + 2000);
	if (t->err == -ETIMEDOUT)
		assert_true(took >= timeout_ms - 1);
	if (strncmp(vu_error(f->c), t->line, strlen(t->line)))
		fail_msg("vu_error: \"%s\", expected \"%s...\"", vu_error(f->c), t->line);
	assert_null(strchr(vu_error(f->c), '\n'));
	assert_true(vu_broken(f->c));
	/* Broken for good: the next calls fail at once, and send nothing. */
	t0 = now_ms();
	assert_int_equal(vu_vring_set_call(f->c, 77, f->kick), -EPIPE);
	assert_int_equal(vu_handshake(f->c, 0, &features, &queues), -EPIPE);
	assert_true(now_ms() - t0 < 2000);
	assert_int_equal(strncmp(vu_error(f->c), t->line, strlen(t->line)), 0);
	vu_close(f->c);
	f->c = NULL;
	/* The backend reads to the end of the stream (then stops at EOF) */
	n = fvb_wait(f->b, FVB_MAX_MSGS);
	for (unsigned int i = 0; i < n; i++) {
		assert_int_not_equal(fvb_msg(f->b, i)->request, FVB_SET_VRING_CALL);
		owners += fvb_msg(f->b, i)->request == FVB_SET_OWNER;
	}
	assert_int_equal(owners, 1);
	assert_string_equal(fvb_violation(f->b), "");
	fx_close(f);
}

#define GF "fs0: vhost-user GET_FEATURES: "

static const struct bad_reply bad_replies[] = {
	{ FVB_SHORT_HEADER, FVB_GET_FEATURES, OP_HANDSHAKE, -ECONNRESET,
	  GF "backend closed the connection after 6 of 12 header bytes" },
	{ FVB_SHORT_PAYLOAD, FVB_GET_FEATURES, OP_HANDSHAKE, -EPROTO,
	  GF "reply of 4 bytes, expected 8" },
	{ FVB_LONG_PAYLOAD, FVB_GET_FEATURES, OP_HANDSHAKE, -EPROTO,
	  GF "reply of 9 bytes, expected 8" },
	{ FVB_OVERSIZE, FVB_GET_FEATURES, OP_HANDSHAKE, -EMSGSIZE,
	  GF "reply of 1048576 bytes, over the bound of 4096" },
	{ FVB_WRONG_CODE, FVB_GET_FEATURES, OP_HANDSHAKE, -EPROTO,
	  GF "reply to request 15 (GET_PROTOCOL_FEATURES)" },
	{ FVB_NO_REPLY_FLAG, FVB_GET_FEATURES, OP_HANDSHAKE, -EPROTO,
	  GF "message without the reply flag (flags 0x1)" },
	{ FVB_BAD_VERSION, FVB_GET_FEATURES, OP_HANDSHAKE, -EPROTO,
	  GF "reply of version 2, expected 1" },
	{ FVB_WITH_FD, FVB_GET_FEATURES, OP_HANDSHAKE, -EPROTO,
	  GF "reply with 1 file descriptor" },
	{ FVB_MANY_FDS, FVB_GET_FEATURES, OP_HANDSHAKE, -EPROTO,
	  GF "reply with 8 file descriptors (truncated)" },
	{ FVB_CLOSE, FVB_GET_FEATURES, OP_HANDSHAKE, -ECONNRESET,
	  GF "backend closed the connection after 0 of 12 header bytes" },
	{ FVB_SILENT, FVB_GET_FEATURES, OP_HANDSHAKE, -ETIMEDOUT,
	  GF "no reply within 300 ms" },
	/* Every byte on time, the whole far too late. */
	{ FVB_DRIP, FVB_GET_FEATURES, OP_HANDSHAKE, -ETIMEDOUT, GF "no reply within 300 ms" },
	/* A reply nobody asked for is taken for the next one's. */
	{ FVB_NACK, FVB_SET_OWNER, OP_PLAIN_HANDSHAKE, -EPROTO,
	  GF "reply to request 3 (SET_OWNER)" },
	{ FVB_NACK, FVB_SET_FEATURES, OP_FEATURES, -EIO,
	  "fs0: vhost-user SET_FEATURES: backend refused it (status 0x1)" },
	{ FVB_SHORT_PAYLOAD, FVB_SET_FEATURES, OP_FEATURES, -EPROTO,
	  "fs0: vhost-user SET_FEATURES: reply of 4 bytes, expected 8" },
	{ FVB_NACK, FVB_SET_MEM_TABLE, OP_MEM_TABLE, -EIO,
	  "fs0: vhost-user SET_MEM_TABLE: backend refused it" },
	{ FVB_SILENT, FVB_SET_MEM_TABLE, OP_MEM_TABLE, -ETIMEDOUT,
	  "fs0: vhost-user SET_MEM_TABLE: no reply within 300 ms" },
	{ FVB_WRONG_QUEUE, FVB_GET_VRING_BASE, OP_STOP, -EPROTO,
	  "fs0: vhost-user GET_VRING_BASE: reply for queue 2 at 0, asked for queue 1" },
	{ FVB_CLOSE, FVB_GET_VRING_BASE, OP_STOP, -ECONNRESET,
	  "fs0: vhost-user GET_VRING_BASE: backend closed the connection" },
};

#define BAD_REPLY_TEST(i)                                                                          \
	static void test_bad_reply_##i(void **state)                                               \
	{                                                                                          \
		check_bad_reply(&bad_replies[i]);                                                  \
	}
BAD_REPLY_TEST(0)
BAD_REPLY_TEST(1)
BAD_REPLY_TEST(2)
BAD_REPLY_TEST(3)
BAD_REPLY_TEST(4)
BAD_REPLY_TEST(5)
BAD_REPLY_TEST(6)
BAD_REPLY_TEST(7)
BAD_REPLY_TEST(8)
BAD_REPLY_TEST(9)
BAD_REPLY_TEST(10)
BAD_REPLY_TEST(11)
BAD_REPLY_TEST(12)
BAD_REPLY_TEST(13)
BAD_REPLY_TEST(14)
BAD_REPLY_TEST(15)
BAD_REPLY_TEST(16)
BAD_REPLY_TEST(17)
BAD_REPLY_TEST(18)

/*
 * With every fd number taken, the kernel can hand over none of a reply's fds: no
 * fd arrives, only MSG_CTRUNC says that some came.
 */
static void test_reply_fds_over_limit(void **state)
{
	struct fvb_config cfg = { .features = VERSION_1 };
	struct fx *f = fx_open(&cfg);
	struct rlimit old, low;
	uint64_t features, queues;
	int fill[64], n = 0, ret, err;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)count_fds() + 8;
	fvb_fault(f->b, FVB_GET_FEATURES, FVB_WITH_FD);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	while (n < 64 && (fill[n] = dup(f->kick)) >= 0)
		n++;
	err = errno;
	ret = vu_handshake(f->c, 0, &features, &queues);
	while (n)
		close(fill[--n]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(err, EMFILE);
	assert_int_equal(ret, -EPROTO);
	assert_string_equal(vu_error(f->c), GF "reply with 0 file descriptors (truncated)");
	fx_close(f);
}

/* A reply in pieces, one byte per send, is read whole. */
static void test_split_reply(void **state)
{
	struct fvb_config cfg = { .features = VERSION_1 | BIT(5) };
	struct fx *f = fx_open(&cfg);
	uint64_t features, queues;

	fvb_fault(f->b, FVB_GET_FEATURES, FVB_SPLIT);
	handshake(f, 0, &features, &queues);
	assert_int_equal(features, VERSION_1 | BIT(5));
	fx_close(f);
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* Signals while a call waits (no SA_RESTART) only make it wait on. */
static void test_wait_interrupted(void **state)
{
	struct fvb_config cfg = { .features = VERSION_1 | BIT(5) };
	struct sigaction sa = { .sa_handler = on_alarm }, old;
	struct itimerval every_ms = { .it_interval = { 0, 1000 }, .it_value = { 0, 1000 } };
	struct itimerval off = { 0 };
	sigset_t alrm, prev;
	struct fx *f;
	uint64_t features, queues;

	/* The backend's thread starts with SIGALRM blocked: the signals come here. */
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	assert_int_equal(pthread_sigmask(SIG_BLOCK, &alrm, &prev), 0);
	f = fx_open(&cfg);
	assert_int_equal(pthread_sigmask(SIG_SETMASK, &prev, NULL), 0);
	assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
	assert_int_equal(setitimer(ITIMER_REAL, &every_ms, NULL), 0);
	/* Twenty bytes 2 ms apart, a signal every millisecond. */
	fvb_fault(f->b, FVB_GET_FEATURES, FVB_SPLIT);
	handshake(f, 0, &features, &queues);
	assert_int_equal(setitimer(ITIMER_REAL, &off, NULL), 0);
	assert_int_equal(sigaction(SIGALRM, &old, NULL), 0);
	assert_int_equal(features, VERSION_1 | BIT(5));
	fx_close(f);
}

/* A backend gone before a send: an error, not SIGPIPE. */
static void test_peer_gone(void **state)
{
	struct vu_conn *c;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(vu_open(&c, sv[0], "fs2", 100), 0);
	close(sv[1]);
	assert_int_equal(vu_set_features(c, 0), -ECONNRESET);
	assert_string_equal(vu_error(c),
			    "fs2: vhost-user SET_FEATURES: backend closed the connection");
	assert_int_equal(vu_set_features(c, 0), -EPIPE);
	vu_close(c);
}

/* A backend that reads nothing: sending stops at the deadline, not forever. */
static void test_send_blocked(void **state)
{
	struct vu_conn *c;
	int sv[2], size = 4096, ret = 0;
	unsigned int calls = 0;
	int64_t t0 = 0;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)), 0);
	assert_int_equal(vu_open(&c, sv[0], "fs1", 100), 0);
	/* Without a handshake nothing is acked: each call only sends. */
	while (calls++ < 100000) {
		t0 = now_ms();
		ret = vu_set_features(c, 0);
		if (ret)
			break;
	}
	assert_int_equal(ret, -ETIMEDOUT);
	assert_true(now_ms() - t0 < 2100);
	assert_string_equal(vu_error(c),
			    "fs1: vhost-user SET_FEATURES: no room to send within 100 ms");
	assert_int_equal(vu_set_features(c, 0), -EPIPE);
	vu_close(c);
	close(sv[1]);
}

static void test_open_refusals(void **state)
{
	struct vu_conn *c;
	int sv[2];

	assert_int_equal(vu_open(&c, -1, "x", 100), -EBADF);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	/* Refused, and the fd closed all the same. */
	assert_int_equal(vu_open(&c, sv[0], "x", 0), -EINVAL);
	assert_int_equal(fcntl(sv[0], F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(vu_open(&c, sv[1], "a-very-long-name-for-a-device-that-goes-on", 100), 0);
	assert_int_equal(vu_fd(c), sv[1]);
	assert_string_equal(vu_error(c), "");
	vu_close(c);
	vu_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_plain),
		cmocka_unit_test(test_handshake_reply_ack),
		cmocka_unit_test(test_handshake_mq),
		cmocka_unit_test(test_handshake_mq_without_ack),
		cmocka_unit_test(test_mem_table),
		cmocka_unit_test(test_mem_table_needs_fds),
		cmocka_unit_test(test_vring_start_stop),
		cmocka_unit_test(test_vring_start_without_protocol),
		cmocka_unit_test(test_vring_refused_without_sending),
		cmocka_unit_test(test_bad_reply_0),
		cmocka_unit_test(test_bad_reply_1),
		cmocka_unit_test(test_bad_reply_2),
		cmocka_unit_test(test_bad_reply_3),
		cmocka_unit_test(test_bad_reply_4),
		cmocka_unit_test(test_bad_reply_5),
		cmocka_unit_test(test_bad_reply_6),
		cmocka_unit_test(test_bad_reply_7),
		cmocka_unit_test(test_bad_reply_8),
		cmocka_unit_test(test_bad_reply_9),
		cmocka_unit_test(test_bad_reply_10),
		cmocka_unit_test(test_bad_reply_11),
		cmocka_unit_test(test_bad_reply_12),
		cmocka_unit_test(test_bad_reply_13),
		cmocka_unit_test(test_bad_reply_14),
		cmocka_unit_test(test_bad_reply_15),
		cmocka_unit_test(test_bad_reply_16),
		cmocka_unit_test(test_bad_reply_17),
		cmocka_unit_test(test_bad_reply_18),
		cmocka_unit_test(test_reply_fds_over_limit),
		cmocka_unit_test(test_split_reply),
		cmocka_unit_test(test_wait_interrupted),
		cmocka_unit_test(test_peer_gone),
		cmocka_unit_test(test_send_blocked),
		cmocka_unit_test(test_open_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
