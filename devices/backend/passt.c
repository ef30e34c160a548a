// SPDX-License-Identifier: Apache-2.0
/* passt's stream of length-prefixed frames as a virtio-net backend. See passt.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "backend/passt.h"
#include "kvmrun/event_loop.h"
#include "kvmrun/log.h"

struct passt {
	struct netbe be; /* first: the backend virtio-net sees */
	int fd;
	int out_fd; /* a duplicate of fd, watched for EPOLLOUT while bytes wait; -1 */
	struct ev_loop *loop;
	bool out_watching;
	bool dead;
	unsigned int mtu;

	/* Receive: the length word, then the frame it announces. */
	uint8_t len_word[4];
	size_t len_have;
	size_t frame_len, frame_have; /* frame_len 0: reading the length word */
	bool split;		      /* the frame being read came in more than one piece */

	/* Transmit: tx_len bytes from tx_head wait for the socket. */
	uint8_t *tx_buf;
	size_t tx_head, tx_len;
	struct passt_stats stats;
};

static struct passt *to_passt(struct netbe *be)
{
	return container_of(be, struct passt, be);
}

static const struct passt *to_passt_const(const struct netbe *be)
{
	return container_of(be, const struct passt, be);
}

const struct passt_stats *passt_stats(const struct netbe *be)
{
	return &to_passt_const(be)->stats;
}

static void passt_watch_out(struct passt *p, bool on)
{
	if (!p->loop || p->out_fd < 0 || on == p->out_watching)
		return;
	if (ev_mod(p->loop, p->out_fd, on ? EPOLLOUT : 0) == 0)
		p->out_watching = on;
}

static void passt_kill(struct passt *p)
{
	p->dead = true;
	p->tx_len = 0;
	passt_watch_out(p, false);
}

/* Send what waits; 0 (all gone or the socket is full) or -errno (the peer is gone). */
static int passt_flush(struct passt *p)
{
	while (p->tx_len) {
		ssize_t n = write(p->fd, p->tx_buf + p->tx_head, p->tx_len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			int ret = n < 0 ? -errno : -EPIPE;

			passt_kill(p);
			return ret;
		}
		p->tx_head += (size_t)n;
		p->tx_len -= (size_t)n;
	}
	if (!p->tx_len)
		p->tx_head = 0;
	passt_watch_out(p, p->tx_len != 0);
	return 0;
}

static void passt_out_event(void *opaque, uint32_t events)
{
	struct passt *p = opaque;

	if (passt_flush(p))
		log_warn("passt: the socket failed; frames to passt are dropped from now on");
	else if (p->tx_len && (events & (EPOLLERR | EPOLLHUP)))
		passt_kill(p);
}

/* Append len bytes from iov, skipping the first skip bytes, to what waits. */
static void passt_queue(struct passt *p, const struct iovec *iov, int iovcnt, size_t skip,
			size_t len)
{
	uint8_t *dst;

	if (p->tx_head + p->tx_len + len > PASST_TX_BUF) {
		memmove(p->tx_buf, p->tx_buf + p->tx_head, p->tx_len);
		p->tx_head = 0;
	}
	dst = p->tx_buf + p->tx_head + p->tx_len;
	p->tx_len += len;
	for (int i = 0; i < iovcnt && len; i++) {
		size_t off = MIN(skip, iov[i].iov_len), n = MIN(iov[i].iov_len - off, len);

		skip -= off;
		memcpy(dst, (const uint8_t *)iov[i].iov_base + off, n);
		dst += n;
		len -= n;
	}
}

static ssize_t passt_writev(struct netbe *be, const struct iovec *iov, int iovcnt)
{
	struct passt *p = to_passt(be);
	struct iovec out[IOV_MAX];
	size_t total = 0, skip = NETBE_HDR_LEN, sent = 0;
	uint8_t word[4];
	int cnt = 1, ret;

	if (p->dead)
		return -EPIPE;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (total < NETBE_HDR_LEN + PASST_ETH_HLEN || total - NETBE_HDR_LEN > PASST_FRAME_MAX)
		return -EMSGSIZE;
	total -= NETBE_HDR_LEN;
	word[0] = (uint8_t)(total >> 24);
	word[1] = (uint8_t)(total >> 16);
	word[2] = (uint8_t)(total >> 8);
	word[3] = (uint8_t)total;
	out[0] = (struct iovec){ word, sizeof(word) };
	for (int i = 0; i < iovcnt && cnt < IOV_MAX; i++) {
		size_t off = MIN(skip, iov[i].iov_len);

		skip -= off;
		if (off < iov[i].iov_len)
			out[cnt++] = (struct iovec){ (uint8_t *)iov[i].iov_base + off,
						     iov[i].iov_len - off };
	}
	ret = passt_flush(p);
	if (ret)
		return ret;
	if (!p->tx_len && cnt < IOV_MAX) {
		ssize_t n;

		do
			n = writev(p->fd, out, cnt);
		while (n < 0 && errno == EINTR);
		if (n < 0 && errno != EAGAIN) {
			ret = -errno;
			passt_kill(p);
			return ret;
		}
		sent = n < 0 ? 0 : (size_t)n;
		if (sent == total + sizeof(word))
			return (ssize_t)(total + NETBE_HDR_LEN);
	}
	if (PASST_TX_BUF - p->tx_len < total + sizeof(word) - sent) {
		/* As a tap's full queue does: dropped and counted, not an error. */
		p->stats.tx_refused++;
		return (ssize_t)(total + NETBE_HDR_LEN);
	}
	/* The socket is full: the rest waits, in order, and goes out on EPOLLOUT. */
	if (cnt >= IOV_MAX) {
		/* More pieces than one writev takes: the frame goes through the buffer. */
		passt_queue(p, out, 1, 0, sizeof(word));
		passt_queue(p, iov, iovcnt, NETBE_HDR_LEN, total);
	} else {
		passt_queue(p, out, cnt, sent, total + sizeof(word) - sent);
	}
	p->stats.tx_queued++;
	passt_flush(p);
	return (ssize_t)(total + NETBE_HDR_LEN);
}

/* The length word is complete: check it. */
static int passt_frame_start(struct passt *p, size_t room)
{
	uint32_t len = (uint32_t)p->len_word[0] << 24 | (uint32_t)p->len_word[1] << 16 |
		       (uint32_t)p->len_word[2] << 8 | p->len_word[3];

	p->len_have = 0;
	if (len < PASST_ETH_HLEN || len > PASST_FRAME_MAX || len > room) {
		log_debug("passt: frame length %u (expected %u to %u)", len, PASST_ETH_HLEN,
			  (unsigned int)MIN((size_t)PASST_FRAME_MAX, room));
		passt_kill(p);
		return -EBADMSG;
	}
	p->frame_len = len;
	p->frame_have = 0;
	return 0;
}

/*
 * The rest of the frame (into dst, which holds frame_have bytes of it) and the
 * next length word at most, in one call: 1 when the frame is whole, 0 when the
 * socket has no more for now (-EAGAIN in *err) or failed, -errno in *err.
 */
static int passt_read_rest(struct passt *p, uint8_t *dst, ssize_t *err)
{
	for (;;) {
		struct iovec iov[2] = {
			{ dst + p->frame_have, p->frame_len - p->frame_have },
			{ p->len_word, sizeof(p->len_word) },
		};
		ssize_t n = readv(p->fd, iov, 2);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*err = n < 0 ? -errno : 0;
			return 0;
		}
		if ((size_t)n < iov[0].iov_len) {
			p->frame_have += (size_t)n;
			continue;
		}
		p->len_have = (size_t)n - iov[0].iov_len;
		return 1;
	}
}

/*
 * A frame goes straight into the caller's buffer, also when the socket holds
 * only part of it (passt often fills it a piece at a time): the caller keeps
 * the buffer for the next call (netbe.h), so no piece is ever copied.
 */
static ssize_t passt_read(struct netbe *be, void *buf, size_t len)
{
	struct passt *p = to_passt(be);
	uint8_t *frame = (uint8_t *)buf + NETBE_HDR_LEN;
	size_t room = len > NETBE_HDR_LEN ? len - NETBE_HDR_LEN : 0;
	ssize_t n, err = 0;
	int ret;

	if (p->dead)
		return -EPIPE;
	if (p->tx_len && passt_flush(p))
		return -EPIPE;
	if (p->frame_len && p->frame_len > room)
		return -EMSGSIZE;
	for (;;) {
		if (!p->frame_len && p->len_have < sizeof(p->len_word)) {
			n = read(p->fd, p->len_word + p->len_have, sizeof(p->len_word) - p->len_have);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return n < 0 ? -errno : 0;
			p->len_have += (size_t)n;
			continue;
		}
		if (!p->frame_len) {
			ret = passt_frame_start(p, room);
			if (ret)
				return ret;
		}
		if (passt_read_rest(p, frame, &err))
			break;
		if (p->frame_have && !p->split) {
			p->split = true;
			p->stats.rx_split++;
		}
		return err;
	}
	n = (ssize_t)p->frame_len;
	p->split = false;
	p->frame_len = p->frame_have = 0;
	p->stats.rx_frames++;
	memset(buf, 0, NETBE_HDR_LEN);
	return n + NETBE_HDR_LEN;
}

static int passt_fd(const struct netbe *be)
{
	return to_passt_const(be)->fd;
}

static const char *passt_name(const struct netbe *be)
{
	return "passt";
}

static unsigned int passt_offloads(const struct netbe *be)
{
	return 0;
}

static int passt_set_offload(struct netbe *be, unsigned int flags)
{
	return flags ? -EINVAL : 0;
}

static unsigned int passt_mtu(const struct netbe *be)
{
	return to_passt_const(be)->mtu;
}

static void passt_close(struct netbe *be)
{
	struct passt *p = to_passt(be);

	log_debug("passt: %llu frames waited for the socket, %llu refused; %llu frames read, "
		  "%llu of them in pieces",
		  (unsigned long long)p->stats.tx_queued, (unsigned long long)p->stats.tx_refused,
		  (unsigned long long)p->stats.rx_frames, (unsigned long long)p->stats.rx_split);
	if (p->out_fd >= 0) {
		if (p->loop)
			ev_del(p->loop, p->out_fd);
		close(p->out_fd);
	}
	close(p->fd);
	free(p->tx_buf);
	free(p);
}

static const struct netbe_ops passt_ops = {
	.fd = passt_fd,
	.read = passt_read,
	.writev = passt_writev,
	.name = passt_name,
	.offloads = passt_offloads,
	.set_offload = passt_set_offload,
	.mtu = passt_mtu,
	.close = passt_close,
};

int passt_open_fd(struct netbe **out, int fd, unsigned int mtu, struct ev_loop *loop)
{
	struct passt *p = calloc(1, sizeof(*p));
	int fl, ret = -ENOMEM;

	if (!p)
		goto err_fd;
	p->be.ops = &passt_ops;
	p->fd = fd;
	p->out_fd = -1;
	p->mtu = mtu;
	p->tx_buf = malloc(PASST_TX_BUF);
	if (!p->tx_buf)
		goto err_free;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		ret = -errno;
		goto err_free;
	}
	if (loop) {
		p->out_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (p->out_fd < 0) {
			ret = -errno;
			goto err_free;
		}
		ret = ev_add(loop, p->out_fd, EPOLLOUT, passt_out_event, p);
		if (ret) {
			close(p->out_fd);
			goto err_free;
		}
		p->loop = loop;
		p->out_watching = true;
		passt_watch_out(p, false);
	}
	*out = &p->be;
	return 0;

err_free:
	free(p->tx_buf);
	free(p);
err_fd:
	close(fd);
	return ret;
}
