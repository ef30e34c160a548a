// SPDX-License-Identifier: Apache-2.0
/* A snapshot disk's overlay: the file its writes go to and the map of what it owns. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend/disk_overlay.h"

#define OVL_CHUNK_SECTORS 2048u /* 1 MiB */
#define OVL_WORDS (OVL_CHUNK_SECTORS / 64)
#define OVL_DEFAULT_DIR "/var/tmp"

/* What a chunk's sectors read from. */
enum ovl_state {
	OVL_BASE,  /* all from the base */
	OVL_ZERO,  /* all overlay-owned, zeroes */
	OVL_DATA,  /* all overlay-owned, written */
	OVL_MIXED, /* per sector: the chunk's bits */
};

struct ovl_bits {
	uint64_t owned[OVL_WORDS]; /* the overlay answers for the sector */
	uint64_t data[OVL_WORDS];  /* ... and holds written data there (a subset of owned) */
	uint32_t ndata;
};

struct disk_overlay {
	int fd;
	uint64_t sectors;
	uint64_t nchunks;
	uint8_t *state;		/* enum ovl_state per chunk */
	struct ovl_bits **bits; /* per chunk; set for OVL_MIXED only */
	void *map;		/* both arrays, one anonymous mapping */
	size_t map_len;
	uint64_t used;	   /* sectors holding data */
	uint64_t reserved; /* sectors reserved by writes in flight */
	uint64_t max;	   /* sectors of data at most */
	uint64_t refused;
};

static bool ovl_bit(const uint64_t *w, uint64_t i)
{
	return w[i / 64] >> (i % 64) & 1;
}

static bool ovl_owned(const struct disk_overlay *o, uint64_t s)
{
	uint64_t c = s / OVL_CHUNK_SECTORS;

	if (o->state[c] == OVL_MIXED)
		return ovl_bit(o->bits[c]->owned, s % OVL_CHUNK_SECTORS);
	return o->state[c] != OVL_BASE;
}

/* The first sector in [s, e) whose owner is not the one of s (e if none). */
static uint64_t ovl_run_end(const struct disk_overlay *o, uint64_t s, uint64_t e)
{
	bool owned = ovl_owned(o, s);

	while (s < e) {
		uint64_t c = s / OVL_CHUNK_SECTORS;
		uint64_t end = MIN((c + 1) * OVL_CHUNK_SECTORS, e);

		if (o->state[c] != OVL_MIXED) {
			if ((o->state[c] != OVL_BASE) != owned)
				return s;
			s = end;
			continue;
		}
		for (; s < end; s++)
			if (ovl_bit(o->bits[c]->owned, s % OVL_CHUNK_SECTORS) != owned)
				return s;
	}
	return e;
}

unsigned int disk_overlay_runs(const struct disk_overlay *o, uint64_t offset, uint64_t len,
			       struct disk_run *runs, unsigned int n)
{
	uint64_t s = offset / 512, e = s + len / 512;
	unsigned int count = 0;

	while (s < e) {
		uint64_t end = ovl_run_end(o, s, e);

		if (runs && count < n)
			runs[count] = (struct disk_run){(end - s) * 512, ovl_owned(o, s)};
		count++;
		s = end;
	}
	return count;
}

/* Sectors of [s, e), inside chunk c, that hold no data yet. */
static uint64_t ovl_chunk_unwritten(const struct disk_overlay *o, uint64_t c, uint64_t s,
				    uint64_t e)
{
	uint64_t n = 0;

	if (o->state[c] == OVL_DATA)
		return 0;
	if (o->state[c] != OVL_MIXED)
		return e - s;
	for (; s < e; s++)
		n += !ovl_bit(o->bits[c]->data, s % OVL_CHUNK_SECTORS);
	return n;
}

int disk_overlay_reserve(struct disk_overlay *o, uint64_t offset, uint64_t len, uint64_t *reserved)
{
	uint64_t s = offset / 512, e = s + len / 512, need = 0;

	while (s < e) {
		uint64_t c = s / OVL_CHUNK_SECTORS;
		uint64_t end = MIN((c + 1) * OVL_CHUNK_SECTORS, e);

		need += ovl_chunk_unwritten(o, c, s, end);
		s = end;
	}
	/* Overlapping writes in flight each reserve the same sectors: the bound errs safe. */
	if (need > o->max - o->used || o->reserved > o->max - o->used - need) {
		o->refused++;
		return -ENOSPC;
	}
	o->reserved += need;
	*reserved = need;
	return 0;
}

static uint32_t ovl_chunk_data(const struct disk_overlay *o, uint64_t c)
{
	switch (o->state[c]) {
	case OVL_DATA:
		return OVL_CHUNK_SECTORS;
	case OVL_MIXED:
		return o->bits[c]->ndata;
	default:
		return 0;
	}
}

/* Chunk c as a whole in state st (OVL_ZERO or OVL_DATA). */
static void ovl_chunk_set(struct disk_overlay *o, uint64_t c, enum ovl_state st)
{
	o->used -= ovl_chunk_data(o, c);
	free(o->bits[c]);
	o->bits[c] = NULL;
	o->state[c] = (uint8_t)st;
	o->used += st == OVL_DATA ? OVL_CHUNK_SECTORS : 0;
}

/* Chunk c with bits of its own, as its state says. */
static int ovl_chunk_bits(struct disk_overlay *o, uint64_t c)
{
	struct ovl_bits *b;

	if (o->state[c] == OVL_MIXED)
		return 0;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	if (o->state[c] != OVL_BASE)
		memset(b->owned, 0xff, sizeof(b->owned));
	if (o->state[c] == OVL_DATA) {
		memset(b->data, 0xff, sizeof(b->data));
		b->ndata = OVL_CHUNK_SECTORS;
	}
	o->bits[c] = b;
	o->state[c] = OVL_MIXED;
	return 0;
}

/* A mixed chunk that became whole again gives its bits back. */
static void ovl_chunk_tidy(struct disk_overlay *o, uint64_t c)
{
	const struct ovl_bits *b = o->bits[c];

	for (unsigned int i = 0; i < OVL_WORDS; i++)
		if (~b->owned[i])
			return;
	if (b->ndata == OVL_CHUNK_SECTORS)
		ovl_chunk_set(o, c, OVL_DATA);
	else if (!b->ndata)
		ovl_chunk_set(o, c, OVL_ZERO);
}

/* [s, e) now reads from the overlay: its data (data) or zeroes. */
static int ovl_mark(struct disk_overlay *o, uint64_t s, uint64_t e, bool data)
{
	enum ovl_state whole = data ? OVL_DATA : OVL_ZERO;

	while (s < e) {
		uint64_t c = s / OVL_CHUNK_SECTORS;
		uint64_t end = MIN((c + 1) * OVL_CHUNK_SECTORS, e);
		struct ovl_bits *b;

		if (end - s == OVL_CHUNK_SECTORS) {
			ovl_chunk_set(o, c, whole);
		} else if (o->state[c] != whole) {
			if (ovl_chunk_bits(o, c))
				return -ENOMEM;
			b = o->bits[c];
			for (uint64_t i = s % OVL_CHUNK_SECTORS; i < end - c * OVL_CHUNK_SECTORS;
			     i++) {
				uint64_t m = 1ULL << (i % 64);
				bool had = b->data[i / 64] & m;

				b->owned[i / 64] |= m;
				if (data && !had) {
					b->data[i / 64] |= m;
					b->ndata++;
					o->used++;
				} else if (!data && had) {
					b->data[i / 64] &= ~m;
					b->ndata--;
					o->used--;
				}
			}
			ovl_chunk_tidy(o, c);
		}
		s = end;
	}
	return 0;
}

int disk_overlay_written(struct disk_overlay *o, uint64_t offset, uint64_t len, uint64_t reserved,
			 bool ok)
{
	o->reserved -= reserved;
	return ok ? ovl_mark(o, offset / 512, (offset + len) / 512, true) : 0;
}

int disk_overlay_zeroed(struct disk_overlay *o, uint64_t offset, uint64_t len)
{
	return ovl_mark(o, offset / 512, (offset + len) / 512, false);
}

void disk_overlay_get_stats(const struct disk_overlay *o, struct disk_overlay_stats *st)
{
	*st = (struct disk_overlay_stats){
	    .bytes = o->used * 512, .max = o->max * 512, .refused = o->refused};
}

int disk_overlay_fd(const struct disk_overlay *o)
{
	return o->fd;
}

/* An unlinked file in dir: O_TMPFILE, else a named one removed at once. */
static int ovl_open_file(const char *dir)
{
	char path[4096];
	int fd;

	fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd < 0 ? -errno : fd;
	if ((size_t)snprintf(path, sizeof(path), "%s/kvmrun-overlay-XXXXXX", dir) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(path);
	return fd;
}

int disk_overlay_create(struct disk_overlay **out, const char *name, uint64_t size, uint64_t max,
			char *err, size_t errlen)
{
	const char *dir = getenv("TMPDIR");
	struct disk_overlay *o;
	int ret;

	if (!dir || !*dir)
		dir = OVL_DEFAULT_DIR;
	o = calloc(1, sizeof(*o));
	if (!o)
		goto err_nomem;
	o->sectors = size / 512;
	o->nchunks = (o->sectors + OVL_CHUNK_SECTORS - 1) / OVL_CHUNK_SECTORS;
	o->max = max ? MIN(max / 512, o->sectors) : o->sectors;
	/* Zero pages the kernel provides only once written: untouched, they cost nothing. */
	o->map_len = o->nchunks * (sizeof(*o->bits) + sizeof(*o->state)) + 1;
	o->map = mmap(NULL, o->map_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (o->map == MAP_FAILED)
		goto err_free;
	o->bits = o->map;
	o->state = (uint8_t *)(o->bits + o->nchunks);
	ret = ovl_open_file(dir);
	if (ret < 0) {
		snprintf(err, errlen, "disk %s: overlay file in %s: %s", name, dir, strerror(-ret));
		goto err_ret;
	}
	o->fd = ret;
	if (ftruncate(o->fd, (off_t)size) < 0) {
		ret = -errno;
		snprintf(err, errlen, "disk %s: overlay file in %s: %s", name, dir,
			 strerror(errno));
		close(o->fd);
		goto err_ret;
	}
	*out = o;
	return 0;

err_free:
	free(o);
err_nomem:
	snprintf(err, errlen, "disk %s: out of memory", name);
	return -ENOMEM;
err_ret:
	munmap(o->map, o->map_len);
	free(o);
	return ret;
}

void disk_overlay_destroy(struct disk_overlay *o)
{
	if (!o)
		return;
	for (uint64_t c = 0; c < o->nchunks; c++)
		if (o->state[c] == OVL_MIXED)
			free(o->bits[c]);
	munmap(o->map, o->map_len);
	close(o->fd);
	free(o);
}
