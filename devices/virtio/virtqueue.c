// SPDX-License-Identifier: Apache-2.0
/*
 * Split virtqueue, device side. Ring fields are little-endian guest memory the
 * guest may change at any moment: indices are read once with atomics, each
 * descriptor is copied into VMM memory once and only the copy is checked and
 * used. Any violation breaks the queue (-EIO) and nothing more is read.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/guest_mem.h"
#include "kvmrun/virtqueue.h"

struct vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

_Static_assert(sizeof(struct vq_desc) == 16, "virtq_desc is 16 bytes");

#define VQ_AVAIL_FLAGS 0
#define VQ_AVAIL_IDX 2
#define VQ_AVAIL_RING 4
#define VQ_USED_FLAGS 0
#define VQ_USED_IDX 2
#define VQ_USED_RING 4

/* Rings are checked aligned in vq_setup(), so these accesses are naturally aligned. */
static uint16_t vq_load16(const uint8_t *p, int order)
{
	return le16toh(__atomic_load_n((const uint16_t *)(const void *)p, order));
}

static void vq_store16(uint8_t *p, uint16_t v, int order)
{
	__atomic_store_n((uint16_t *)(void *)p, htole16(v), order);
}

static void vq_store32(uint8_t *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)(void *)p, htole32(v), __ATOMIC_RELAXED);
}

/* Copy one descriptor out of guest memory; the barrier forbids re-reading it. */
static void vq_copy_desc(struct vq_desc *d, const void *src)
{
	memcpy(d, src, sizeof(*d));
	__asm__ __volatile__("" ::: "memory");
	d->addr = le64toh(d->addr);
	d->len = le32toh(d->len);
	d->flags = le16toh(d->flags);
	d->next = le16toh(d->next);
}

static bool vq_ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

int vq_setup(struct vq *vq, const struct guest_mem *gm, uint16_t size, uint64_t desc,
	     uint64_t avail, uint64_t used, uint64_t features)
{
	uint64_t dlen = VQ_DESC_BYTES(size), alen = VQ_AVAIL_BYTES(size);
	uint64_t ulen = VQ_USED_BYTES(size);
	uint8_t *dp, *ap, *up;
	uint64_t *inflight;

	vq_cleanup(vq);
	if (!gm || size == 0 || size > VQ_MAX_SIZE || (size & (size - 1)))
		return -EINVAL;
	if (desc % VQ_DESC_ALIGN || avail % VQ_AVAIL_ALIGN || used % VQ_USED_ALIGN)
		return -EINVAL;
	/* gm_ptr() also refuses ranges that wrap, so the overlap sums below cannot. */
	dp = gm_ptr(gm, desc, dlen);
	ap = gm_ptr(gm, avail, alen);
	up = gm_ptr(gm, used, ulen);
	if (!dp || !ap || !up)
		return -EINVAL;
	if (vq_ranges_overlap(desc, dlen, avail, alen) ||
	    vq_ranges_overlap(desc, dlen, used, ulen) || vq_ranges_overlap(avail, alen, used, ulen))
		return -EINVAL;
	inflight = calloc((size + 63) / 64, sizeof(*inflight));
	if (!inflight)
		return -ENOMEM;

	vq->gm = gm;
	vq->size = size;
	vq->desc_gpa = desc;
	vq->avail_gpa = avail;
	vq->used_gpa = used;
	vq->desc = dp;
	vq->avail = ap;
	vq->used = up;
	vq->event_idx = features & (1ULL << VQ_F_EVENT_IDX);
	vq->indirect = features & (1ULL << VQ_F_INDIRECT_DESC);
	vq->inflight = inflight;
	vq_reset(vq);
	return 0;
}

void vq_reset(struct vq *vq)
{
	vq->last_avail = 0;
	vq->used_idx = 0;
	vq->signalled_used = 0;
	vq->signalled_valid = false;
	vq->notify = true;
	vq->broken = false;
	vq->broken_why = NULL;
	vq->nr_inflight = 0;
	if (vq->inflight)
		memset(vq->inflight, 0, (vq->size + 63) / 64 * sizeof(*vq->inflight));
}

void vq_cleanup(struct vq *vq)
{
	/* The rate limit outlives the queue: a guest resetting in a loop floods no log. */
	struct log_ratelimit rl = vq->rl;

	free(vq->inflight);
	memset(vq, 0, sizeof(*vq));
	vq->rl = rl;
}

static bool vq_inflight_test(const struct vq *vq, uint16_t head)
{
	return vq->inflight[head / 64] & (1ULL << (head % 64));
}

static int vq_break(struct vq *vq, const char *why, uint64_t val)
{
	vq->broken = true;
	vq->broken_why = why;
	log_ratelimited(&vq->rl, LOG_WARN, "virtqueue broken by the guest: %s (0x%llx)", why,
			(unsigned long long)val);
	return -EIO;
}

/* Append one buffer to c, checking it and the readable-before-writable order. */
static int vq_add_buf(struct vq *vq, struct vq_chain *c, const struct vq_desc *d)
{
	bool write = d->flags & VQ_DESC_F_WRITE;
	struct vq_buf *b;
	void *host;

	if (c->nr_out + c->nr_in >= VQ_MAX_CHAIN)
		return vq_break(vq, "chain longer than VQ_MAX_CHAIN", c->head);
	if (d->len == 0)
		return vq_break(vq, "zero-length buffer", d->addr);
	host = gm_ptr(vq->gm, d->addr, d->len);
	if (!host)
		return vq_break(vq, "buffer outside guest RAM", d->addr);
	if (write) {
		if (__builtin_add_overflow(c->in_len, d->len, &c->in_len))
			return vq_break(vq, "writable part longer than 4 GiB", c->head);
		c->nr_in++;
	} else {
		if (c->nr_in)
			return vq_break(vq, "readable buffer after a writable one", d->addr);
		if (__builtin_add_overflow(c->out_len, d->len, &c->out_len))
			return vq_break(vq, "readable part longer than 4 GiB", c->head);
		c->nr_out++;
	}
	b = &c->bufs[c->nr_out + c->nr_in - 1];
	*b = (struct vq_buf){.gpa = d->addr, .host = host, .len = d->len, .write = write};
	return 0;
}

/* Walk the indirect table that d points at; d has INDIRECT set and NEXT clear. */
static int vq_walk_indirect(struct vq *vq, struct vq_chain *c, const struct vq_desc *d)
{
	const uint8_t *table;
	unsigned int n, count = 0;
	uint16_t i = 0;
	struct vq_desc e;
	int ret;

	if (!vq->indirect)
		return vq_break(vq, "indirect descriptor not negotiated", c->head);
	if (d->len == 0 || d->len % sizeof(struct vq_desc))
		return vq_break(vq, "indirect table length", d->len);
	n = d->len / sizeof(struct vq_desc);
	if (n > VQ_MAX_CHAIN)
		return vq_break(vq, "indirect table longer than VQ_MAX_CHAIN", n);
	table = gm_ptr(vq->gm, d->addr, d->len);
	if (!table)
		return vq_break(vq, "indirect table outside guest RAM", d->addr);
	for (;;) {
		if (++count > n)
			return vq_break(vq, "loop in an indirect table", c->head);
		vq_copy_desc(&e, table + (size_t)i * sizeof(e));
		if (e.flags & VQ_DESC_F_INDIRECT)
			return vq_break(vq, "nested indirect table", c->head);
		ret = vq_add_buf(vq, c, &e);
		if (ret)
			return ret;
		if (!(e.flags & VQ_DESC_F_NEXT))
			return 0;
		if (e.next >= n)
			return vq_break(vq, "indirect next out of range", e.next);
		i = e.next;
	}
}

static int vq_walk(struct vq *vq, struct vq_chain *c)
{
	unsigned int count = 0;
	uint16_t i = c->head;
	struct vq_desc d;
	int ret;

	for (;;) {
		if (++count > vq->size)
			return vq_break(vq, "chain longer than the queue", c->head);
		vq_copy_desc(&d, vq->desc + (size_t)i * sizeof(d));
		if (d.flags & VQ_DESC_F_INDIRECT) {
			if (d.flags & VQ_DESC_F_NEXT)
				return vq_break(vq, "indirect descriptor with NEXT", i);
			return vq_walk_indirect(vq, c, &d);
		}
		ret = vq_add_buf(vq, c, &d);
		if (ret)
			return ret;
		if (!(d.flags & VQ_DESC_F_NEXT))
			return 0;
		if (d.next >= vq->size)
			return vq_break(vq, "next out of range", d.next);
		i = d.next;
	}
}

bool vq_avail_pending(const struct vq *vq)
{
	if (!vq->size || vq->broken)
		return false;
	return vq_load16(vq->avail + VQ_AVAIL_IDX, __ATOMIC_ACQUIRE) != vq->last_avail;
}

int vq_pop(struct vq *vq, struct vq_chain *c)
{
	uint16_t avail_idx, pending, head;
	int ret;

	if (!vq->size)
		return -ENODEV;
	if (vq->broken)
		return -EIO;
	/* Acquire: the ring entry and descriptors are read after the index. */
	avail_idx = vq_load16(vq->avail + VQ_AVAIL_IDX, __ATOMIC_ACQUIRE);
	if (avail_idx == vq->last_avail && vq->event_idx && vq->notify) {
		/*
		 * Publish where we stopped, then look again: a buffer posted
		 * before the guest can see avail_event is caught here, one
		 * posted after it gets a kick.
		 */
		vq_store16(vq->used + VQ_USED_RING + 8 * (size_t)vq->size, vq->last_avail,
			   __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		avail_idx = vq_load16(vq->avail + VQ_AVAIL_IDX, __ATOMIC_ACQUIRE);
	}
	pending = avail_idx - vq->last_avail;
	if (pending == 0)
		return -EAGAIN;
	if (pending > vq->size)
		return vq_break(vq, "avail index more than a queue ahead", avail_idx);

	head = vq_load16(vq->avail + VQ_AVAIL_RING + 2 * (size_t)(vq->last_avail & (vq->size - 1)),
			 __ATOMIC_RELAXED);
	if (head >= vq->size)
		return vq_break(vq, "head out of range", head);
	if (vq_inflight_test(vq, head))
		return vq_break(vq, "head posted again while in flight", head);

	c->head = head;
	c->nr_out = c->nr_in = 0;
	c->out_len = c->in_len = 0;
	ret = vq_walk(vq, c);
	if (ret)
		return ret;

	vq->inflight[head / 64] |= 1ULL << (head % 64);
	vq->nr_inflight++;
	vq->last_avail++;
	return 0;
}

int vq_unpop(struct vq *vq, uint16_t head)
{
	if (!vq->size || vq->broken || head >= vq->size || !vq_inflight_test(vq, head))
		return -EINVAL;
	/* The entry is read again, whatever the guest wrote there since. */
	vq->inflight[head / 64] &= ~(1ULL << (head % 64));
	vq->nr_inflight--;
	vq->last_avail--;
	return 0;
}

int vq_push(struct vq *vq, uint16_t head, uint32_t written)
{
	uint8_t *elem;

	if (!vq->size)
		return -ENODEV;
	if (vq->broken)
		return -EIO;
	if (head >= vq->size || !vq_inflight_test(vq, head))
		return -EINVAL;

	elem = vq->used + VQ_USED_RING + 8 * (size_t)(vq->used_idx & (vq->size - 1));
	vq_store32(elem, head);
	vq_store32(elem + 4, written);
	vq->used_idx++;
	/* Release: the element is visible before the index that publishes it. */
	vq_store16(vq->used + VQ_USED_IDX, vq->used_idx, __ATOMIC_RELEASE);

	vq->inflight[head / 64] &= ~(1ULL << (head % 64));
	vq->nr_inflight--;
	return 0;
}

int vq_push_batch(struct vq *vq, const struct vq_used *used, unsigned int n)
{
	if (!vq->size)
		return -ENODEV;
	if (vq->broken)
		return -EIO;
	if (n > vq->nr_inflight)
		return -EINVAL;
	for (unsigned int i = 0; i < n; i++) {
		if (used[i].head >= vq->size || !vq_inflight_test(vq, used[i].head))
			return -EINVAL;
		for (unsigned int j = 0; j < i; j++)
			if (used[j].head == used[i].head)
				return -EINVAL;
	}
	for (unsigned int i = 0; i < n; i++) {
		uint8_t *elem = vq->used + VQ_USED_RING +
				8 * (size_t)((uint16_t)(vq->used_idx + i) & (vq->size - 1));

		vq_store32(elem, used[i].head);
		vq_store32(elem + 4, used[i].written);
		vq->inflight[used[i].head / 64] &= ~(1ULL << (used[i].head % 64));
	}
	vq->used_idx = (uint16_t)(vq->used_idx + n);
	vq->nr_inflight -= n;
	/* Release: every element is visible before the index that publishes them. */
	vq_store16(vq->used + VQ_USED_IDX, vq->used_idx, __ATOMIC_RELEASE);
	return 0;
}

bool vq_should_notify(struct vq *vq)
{
	uint16_t old = vq->signalled_used, new_idx = vq->used_idx;
	bool valid = vq->signalled_valid;

	if (!vq->size || vq->broken)
		return false;
	if (old == new_idx) /* nothing pushed since the last decision (or ever) */
		return false;
	/* The used idx store must be visible before the driver's flag is read. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	vq->signalled_used = new_idx;
	vq->signalled_valid = true;
	if (!vq->event_idx)
		return !(vq_load16(vq->avail + VQ_AVAIL_FLAGS, __ATOMIC_RELAXED) &
			 VQ_AVAIL_F_NO_INTERRUPT);
	if (!valid)
		return true;
	return vq_need_event(
	    vq_load16(vq->avail + VQ_AVAIL_RING + 2 * (size_t)vq->size, __ATOMIC_RELAXED), new_idx,
	    old);
}

void vq_set_notify(struct vq *vq, bool enable)
{
	if (!vq->size || vq->broken)
		return;
	vq->notify = enable;
	if (vq->event_idx) {
		/* Disabling leaves avail_event behind last_avail: the guest stops kicking. */
		if (enable)
			vq_store16(vq->used + VQ_USED_RING + 8 * (size_t)vq->size, vq->last_avail,
				   __ATOMIC_RELAXED);
	} else {
		vq_store16(vq->used + VQ_USED_FLAGS, enable ? 0 : VQ_USED_F_NO_NOTIFY,
			   __ATOMIC_RELAXED);
	}
	/* The caller looks at avail idx next; order it after this store. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Copy between mem and the bytes of bufs[0, nr) from offset on; to_guest picks the direction. */
static size_t vq_chain_copy(const struct vq_buf *bufs, unsigned int nr, size_t offset, uint8_t *mem,
			    size_t len, bool to_guest)
{
	size_t done = 0;

	for (unsigned int i = 0; i < nr && done < len; i++) {
		uint8_t *host = bufs[i].host;
		size_t n;

		if (offset >= bufs[i].len) {
			offset -= bufs[i].len;
			continue;
		}
		n = MIN(bufs[i].len - offset, len - done);
		if (to_guest)
			memcpy(host + offset, mem + done, n);
		else
			memcpy(mem + done, host + offset, n);
		done += n;
		offset = 0;
	}
	return done;
}

size_t vq_chain_read(const struct vq_chain *c, size_t offset, void *dst, size_t len)
{
	return vq_chain_copy(c->bufs, c->nr_out, offset, dst, len, false);
}

size_t vq_chain_write(const struct vq_chain *c, size_t offset, const void *src, size_t len)
{
	return vq_chain_copy(c->bufs + c->nr_out, c->nr_in, offset, (uint8_t *)src, len, true);
}
