// SPDX-License-Identifier: Apache-2.0
/* The vhost-user frontend of vhost_user.h: messages, replies and their checks. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vhost/vhost_user.h"
#include "kvmrun/guest_mem.h"

/* The header's flags: version 1 in bits 0-1, then the reply and need-reply bits. */
#define VU_VERSION 0x1u
#define VU_VERSION_MASK 0x3u
#define VU_FLAG_REPLY (1u << 2)
#define VU_FLAG_NEED_REPLY (1u << 3)

/* Far above any reply kvmrun accepts (8 bytes at most): a larger size is not read. */
#define VU_MAX_PAYLOAD 4096u
#define VU_MAX_FDS 8
#define VU_MAX_REGIONS 8
/* SET_VRING_KICK/_CALL: the queue index in bits 0-7; bit 8 would say "no fd". */
#define VU_VRING_IDX_MASK 0xffu
#define VU_MAX_QUEUE_SIZE 32768u

enum vu_request {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_SET_MEM_TABLE = 5,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
};

struct vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
};

struct vu_vring_state {
	uint32_t index;
	uint32_t num;
};

/* The specification's order: descriptors, used, available, log. */
struct vu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;
	uint64_t used;
	uint64_t avail;
	uint64_t log;
};

struct vu_mem_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
};

struct vu_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vu_mem_region regions[VU_MAX_REGIONS];
};

_Static_assert(sizeof(struct vu_hdr) == 12, "vhost-user header");
_Static_assert(sizeof(struct vu_vring_addr) == 40, "vhost-user vring address");
_Static_assert(sizeof(struct vu_mem_region) == 32, "vhost-user memory region");
_Static_assert(GM_MAX_REGIONS <= VU_MAX_REGIONS, "guest RAM fits one memory table");
_Static_assert(sizeof(struct vu_mem_table) <= VU_MAX_PAYLOAD, "payload bound");

struct vu_conn {
	int fd;
	int timeout_ms;
	bool broken;
	bool has_protocol; /* VU_F_PROTOCOL_FEATURES offered (and so set with the features) */
	uint64_t protocol; /* the protocol features negotiated */
	struct timespec deadline; /* of the call under way */
	char name[32];
	char err[256];
};

static const char *vu_request_name(uint32_t req)
{
	static const char *const names[] = {
		[VU_GET_FEATURES] = "GET_FEATURES",
		[VU_SET_FEATURES] = "SET_FEATURES",
		[VU_SET_OWNER] = "SET_OWNER",
		[VU_SET_MEM_TABLE] = "SET_MEM_TABLE",
		[VU_SET_VRING_NUM] = "SET_VRING_NUM",
		[VU_SET_VRING_ADDR] = "SET_VRING_ADDR",
		[VU_SET_VRING_BASE] = "SET_VRING_BASE",
		[VU_GET_VRING_BASE] = "GET_VRING_BASE",
		[VU_SET_VRING_KICK] = "SET_VRING_KICK",
		[VU_SET_VRING_CALL] = "SET_VRING_CALL",
		[VU_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
		[VU_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
		[VU_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
		[VU_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
	};

	return req < ARRAY_SIZE(names) && names[req] ? names[req] : "?";
}

/* Records why request req failed; with brk the connection is broken for good. */
PRINTF_FMT(5, 6)
static int vu_fail(struct vu_conn *c, bool brk, uint32_t req, int err, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(c->err, sizeof(c->err), "%s: vhost-user %s: ", c->name, vu_request_name(req));
	if (n > 0 && (size_t)n < sizeof(c->err)) {
		va_start(ap, fmt);
		vsnprintf(c->err + n, sizeof(c->err) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	if (brk)
		c->broken = true;
	return err;
}

/* Starts a call: its deadline is timeout_ms from now, whatever it sends. */
static int vu_begin(struct vu_conn *c)
{
	if (c->broken)
		return -EPIPE;
	clock_gettime(CLOCK_MONOTONIC, &c->deadline);
	c->deadline.tv_sec += c->timeout_ms / 1000;
	c->deadline.tv_nsec += (long)(c->timeout_ms % 1000) * 1000000L;
	if (c->deadline.tv_nsec >= 1000000000L) {
		c->deadline.tv_sec++;
		c->deadline.tv_nsec -= 1000000000L;
	}
	return 0;
}

/* Waits for events on the socket until the call's deadline: 0, -ETIMEDOUT or -errno. */
static int vu_wait(struct vu_conn *c, short events)
{
	struct pollfd pfd = { .fd = c->fd, .events = events };
	struct timespec now;
	int64_t left_ns;
	int ret;

	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		left_ns = (int64_t)(c->deadline.tv_sec - now.tv_sec) * 1000000000 +
			  (c->deadline.tv_nsec - now.tv_nsec);
		if (left_ns <= 0)
			return -ETIMEDOUT;
		/* Whole milliseconds, rounded up: the last wait ends at the deadline. */
		ret = poll(&pfd, 1, (int)((left_ns + 999999) / 1000000));
		if (ret > 0)
			return 0;
		if (ret < 0 && errno != EINTR)
			return -errno;
	}
}

static int vu_wait_fail(struct vu_conn *c, uint32_t req, int ret, const char *what)
{
	if (ret == -ETIMEDOUT)
		return vu_fail(c, true, req, ret, "no %s within %d ms", what, c->timeout_ms);
	return vu_fail(c, true, req, ret, "poll: %s", strerror(-ret));
}

void vu_attach_fds(struct msghdr *mh, void *ctl, size_t ctl_size, const int *fds,
		   unsigned int nfds)
{
	struct cmsghdr *cm;

	memset(ctl, 0, ctl_size);
	mh->msg_control = ctl;
	mh->msg_controllen = CMSG_SPACE(nfds * sizeof(int));
	cm = CMSG_FIRSTHDR(mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
}

/* Sends one message with its payload and fds, all of it or nothing usable. */
static int vu_send(struct vu_conn *c, uint32_t req, uint32_t flags, const void *payload,
		   uint32_t size, const int *fds, unsigned int nfds)
{
	union {
		char buf[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	uint8_t msg[sizeof(struct vu_hdr) + sizeof(struct vu_mem_table)];
	struct vu_hdr hdr = { .request = req, .flags = VU_VERSION | flags, .size = size };
	size_t len = sizeof(hdr) + size, off = 0;
	struct msghdr mh;
	struct iovec iov;
	ssize_t n;
	int ret;

	if (size > sizeof(msg) - sizeof(hdr) || nfds > VU_MAX_FDS)
		return vu_fail(c, false, req, -EINVAL, "message too large");
	memcpy(msg, &hdr, sizeof(hdr));
	if (size)
		memcpy(msg + sizeof(hdr), payload, size);
	while (off < len) {
		memset(&mh, 0, sizeof(mh));
		iov = (struct iovec){ .iov_base = msg + off, .iov_len = len - off };
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		/* The fds go with the first byte sent, once. */
		if (nfds && off == 0)
			vu_attach_fds(&mh, ctl.buf, sizeof(ctl), fds, nfds);
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ret = vu_wait(c, POLLOUT);
			if (ret)
				return vu_wait_fail(c, req, ret, "room to send");
			continue;
		}
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
			return vu_fail(c, true, req, -ECONNRESET, "backend closed the connection");
		return vu_fail(c, true, req, n < 0 ? -errno : -EIO, "send: %s",
			       n < 0 ? strerror(errno) : "nothing sent");
	}
	return 0;
}

/* Closes every fd a control message brought; returns how many there were. */
static unsigned int vu_drop_fds(struct msghdr *mh)
{
	unsigned int count = 0;
	struct cmsghdr *cm;
	size_t nfd;
	int fd;

	for (cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
			close(fd);
			count++;
		}
	}
	return count;
}

/* Reads exactly len bytes of a reply; a reply brings no fds. */
static int vu_recv(struct vu_conn *c, uint32_t req, void *buf, size_t len, const char *what)
{
	union {
		char buf[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh;
	struct iovec iov;
	unsigned int nfds;
	size_t off = 0;
	ssize_t n;
	int ret;

	while (off < len) {
		memset(&mh, 0, sizeof(mh));
		iov = (struct iovec){ .iov_base = (uint8_t *)buf + off, .iov_len = len - off };
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ret = vu_wait(c, POLLIN);
			if (ret)
				return vu_wait_fail(c, req, ret, "reply");
			continue;
		}
		if (n < 0 && errno == ECONNRESET)
			n = 0;
		if (n < 0)
			return vu_fail(c, true, req, -errno, "recv: %s", strerror(errno));
		nfds = vu_drop_fds(&mh);
		if (nfds || (mh.msg_flags & MSG_CTRUNC))
			return vu_fail(c, true, req, -EPROTO, "reply with %u file descriptor%s%s",
				       nfds, nfds == 1 ? "" : "s",
				       (mh.msg_flags & MSG_CTRUNC) ? " (truncated)" : "");
		if (n == 0)
			return vu_fail(c, true, req, -ECONNRESET,
				       "backend closed the connection after %zu of %zu %s bytes",
				       off, len, what);
		off += (size_t)n;
	}
	return 0;
}

/* Reads the reply to req: its header checked, then exactly size bytes into payload. */
static int vu_recv_reply(struct vu_conn *c, uint32_t req, void *payload, uint32_t size)
{
	struct vu_hdr hdr;
	int ret;

	ret = vu_recv(c, req, &hdr, sizeof(hdr), "header");
	if (ret)
		return ret;
	if ((hdr.flags & VU_VERSION_MASK) != VU_VERSION)
		return vu_fail(c, true, req, -EPROTO, "reply of version %u, expected %u",
			       hdr.flags & VU_VERSION_MASK, VU_VERSION);
	if (!(hdr.flags & VU_FLAG_REPLY))
		return vu_fail(c, true, req, -EPROTO, "message without the reply flag (flags %#x)",
			       hdr.flags);
	if (hdr.request != req)
		return vu_fail(c, true, req, -EPROTO, "reply to request %u (%s)", hdr.request,
			       vu_request_name(hdr.request));
	if (hdr.size > VU_MAX_PAYLOAD)
		return vu_fail(c, true, req, -EMSGSIZE, "reply of %u bytes, over the bound of %u",
			       hdr.size, VU_MAX_PAYLOAD);
	if (hdr.size != size)
		return vu_fail(c, true, req, -EPROTO, "reply of %u bytes, expected %u", hdr.size,
			       size);
	return vu_recv(c, req, payload, size, "payload");
}

/*
 * One request: sends it, then reads its reply of reply_size bytes into reply when it
 * has one (reply != NULL), else reads the ack when REPLY_ACK was negotiated.
 */
static int vu_request(struct vu_conn *c, uint32_t req, const void *payload, uint32_t size,
		      const int *fds, unsigned int nfds, void *reply, uint32_t reply_size)
{
	bool ack = !reply && (c->protocol & (1ull << VU_PROTOCOL_F_REPLY_ACK));
	uint64_t val;
	int ret;

	ret = vu_send(c, req, ack ? VU_FLAG_NEED_REPLY : 0, payload, size, fds, nfds);
	if (ret)
		return ret;
	if (reply)
		return vu_recv_reply(c, req, reply, reply_size);
	if (!ack)
		return 0;
	ret = vu_recv_reply(c, req, &val, sizeof(val));
	if (ret)
		return ret;
	if (val)
		return vu_fail(c, true, req, -EIO, "backend refused it (status %#llx)",
			       (unsigned long long)val);
	return 0;
}

static int vu_get_u64(struct vu_conn *c, uint32_t req, uint64_t *val)
{
	return vu_request(c, req, NULL, 0, NULL, 0, val, sizeof(*val));
}

static int vu_set_u64(struct vu_conn *c, uint32_t req, uint64_t val, int fd)
{
	return vu_request(c, req, &val, sizeof(val), fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0, NULL,
			  0);
}

static int vu_set_state(struct vu_conn *c, uint32_t req, uint32_t index, uint32_t num)
{
	struct vu_vring_state s = { .index = index, .num = num };

	return vu_request(c, req, &s, sizeof(s), NULL, 0, NULL, 0);
}

int vu_open(struct vu_conn **out, int fd, const char *name, int timeout_ms)
{
	struct vu_conn *c;

	if (fd < 0)
		return -EBADF;
	if (timeout_ms <= 0 || !name) {
		close(fd);
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	c->timeout_ms = timeout_ms;
	snprintf(c->name, sizeof(c->name), "%s", name);
	*out = c;
	return 0;
}

void vu_close(struct vu_conn *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c);
}

int vu_fd(const struct vu_conn *c)
{
	return c->fd;
}

const char *vu_error(const struct vu_conn *c)
{
	return c->err;
}

bool vu_broken(const struct vu_conn *c)
{
	return c->broken;
}

uint64_t vu_protocol_features(const struct vu_conn *c)
{
	return c->protocol;
}

int vu_handshake(struct vu_conn *c, uint64_t want_protocol, uint64_t *features, uint64_t *queues)
{
	uint64_t feat, offered, proto;
	int ret;

	ret = vu_begin(c);
	if (ret)
		return ret;
	c->has_protocol = false;
	c->protocol = 0;
	*queues = 0;
	ret = vu_request(c, VU_SET_OWNER, NULL, 0, NULL, 0, NULL, 0);
	if (ret)
		return ret;
	ret = vu_get_u64(c, VU_GET_FEATURES, &feat);
	if (ret)
		return ret;
	*features = feat;
	if (!(feat & (1ull << VU_F_PROTOCOL_FEATURES)))
		return 0;
	c->has_protocol = true;
	ret = vu_get_u64(c, VU_GET_PROTOCOL_FEATURES, &offered);
	if (ret)
		return ret;
	proto = (want_protocol | (1ull << VU_PROTOCOL_F_REPLY_ACK)) & offered;
	/* Sent before REPLY_ACK is in force: no ack is asked for. */
	ret = vu_set_u64(c, VU_SET_PROTOCOL_FEATURES, proto, -1);
	if (ret)
		return ret;
	c->protocol = proto;
	if (proto & (1ull << VU_PROTOCOL_F_MQ))
		return vu_get_u64(c, VU_GET_QUEUE_NUM, queues);
	return 0;
}

int vu_set_features(struct vu_conn *c, uint64_t features)
{
	int ret = vu_begin(c);

	if (ret)
		return ret;
	if (c->has_protocol)
		features |= 1ull << VU_F_PROTOCOL_FEATURES;
	return vu_set_u64(c, VU_SET_FEATURES, features, -1);
}

int vu_set_mem_table(struct vu_conn *c, const struct guest_mem *gm)
{
	struct vu_mem_table t = { .nregions = gm->nr_regions };
	int fds[VU_MAX_REGIONS];
	int ret = vu_begin(c);

	if (ret)
		return ret;
	if (!gm->nr_regions || gm->nr_regions > VU_MAX_REGIONS)
		return vu_fail(c, false, VU_SET_MEM_TABLE, -EINVAL, "%u memory regions",
			       gm->nr_regions);
	for (unsigned int i = 0; i < gm->nr_regions; i++) {
		const struct gm_region *r = &gm->regions[i];

		if (r->fd < 0)
			return vu_fail(c, false, VU_SET_MEM_TABLE, -EINVAL,
				       "guest RAM at %#llx is not backed by a file descriptor",
				       (unsigned long long)r->gpa);
		t.regions[i] = (struct vu_mem_region){
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uint64_t)(uintptr_t)r->host,
			.mmap_offset = r->fd_offset,
		};
		fds[i] = r->fd;
	}
	return vu_request(c, VU_SET_MEM_TABLE, &t,
			  (uint32_t)(offsetof(struct vu_mem_table, regions) +
				     gm->nr_regions * sizeof(t.regions[0])),
			  fds, gm->nr_regions, NULL, 0);
}

/* kvmrun's address of the ring of len bytes at gpa, all of it inside one region. */
static int vu_ring_addr(struct vu_conn *c, const struct guest_mem *gm, const char *what,
			uint64_t gpa, uint64_t len, uint64_t *addr)
{
	void *p = gm_ptr(gm, gpa, len);

	if (!p)
		return vu_fail(c, false, VU_SET_VRING_ADDR, -EFAULT,
			       "%s ring at %#llx (%llu bytes) is outside guest RAM", what,
			       (unsigned long long)gpa, (unsigned long long)len);
	*addr = (uint64_t)(uintptr_t)p;
	return 0;
}

int vu_vring_start(struct vu_conn *c, const struct guest_mem *gm, const struct vu_vring *r)
{
	struct vu_vring_addr a = { .index = r->index };
	uint64_t n = r->size;
	int ret = vu_begin(c);

	if (ret)
		return ret;
	if (r->index > VU_VRING_IDX_MASK || !n || n > VU_MAX_QUEUE_SIZE || (n & (n - 1)))
		return vu_fail(c, false, VU_SET_VRING_NUM, -EINVAL, "queue %u of size %llu",
			       r->index, (unsigned long long)n);
	if (r->kick_fd < 0 || r->call_fd < 0)
		return vu_fail(c, false, VU_SET_VRING_KICK, -EBADF, "queue %u without an eventfd",
			       r->index);
	/* Each ring whole, with its event index fields. */
	ret = vu_ring_addr(c, gm, "descriptor", r->desc, 16 * n, &a.desc);
	if (!ret)
		ret = vu_ring_addr(c, gm, "available", r->avail, 6 + 2 * n, &a.avail);
	if (!ret)
		ret = vu_ring_addr(c, gm, "used", r->used, 6 + 8 * n, &a.used);
	if (ret)
		return ret;

	ret = vu_set_state(c, VU_SET_VRING_NUM, r->index, r->size);
	if (!ret)
		ret = vu_request(c, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0, NULL, 0);
	if (!ret)
		ret = vu_set_state(c, VU_SET_VRING_BASE, r->index, r->base);
	if (!ret)
		ret = vu_set_u64(c, VU_SET_VRING_KICK, r->index, r->kick_fd);
	if (!ret)
		ret = vu_set_u64(c, VU_SET_VRING_CALL, r->index, r->call_fd);
	if (!ret && c->has_protocol)
		ret = vu_set_state(c, VU_SET_VRING_ENABLE, r->index, 1);
	return ret;
}

int vu_vring_stop(struct vu_conn *c, uint16_t index, uint16_t *base)
{
	struct vu_vring_state s = { .index = index }, got;
	int ret = vu_begin(c);

	if (ret)
		return ret;
	ret = vu_request(c, VU_GET_VRING_BASE, &s, sizeof(s), NULL, 0, &got, sizeof(got));
	if (ret)
		return ret;
	if (got.index != index || got.num > UINT16_MAX)
		return vu_fail(c, true, VU_GET_VRING_BASE, -EPROTO,
			       "reply for queue %u at %u, asked for queue %u", got.index, got.num,
			       index);
	if (base)
		*base = (uint16_t)got.num;
	return 0;
}

int vu_vring_set_call(struct vu_conn *c, uint16_t index, int call_fd)
{
	int ret = vu_begin(c);

	if (ret)
		return ret;
	if (index > VU_VRING_IDX_MASK || call_fd < 0)
		return vu_fail(c, false, VU_SET_VRING_CALL, -EINVAL, "queue %u, fd %d", index,
			       call_fd);
	return vu_set_u64(c, VU_SET_VRING_CALL, index, call_fd);
}
