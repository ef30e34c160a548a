// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-bad-blk: hostile block requests (virtio 1.x section 5.2). case=NAME on
 * the command line picks one against the first virtio-blk disk; the host test
 * gives a 64 KiB image whose sector 8 starts with "host-pattern-sector-8" (and
 * for write-ro, a read-only disk). A malformed request must complete with the
 * right status and leave the device working; a chain the device cannot answer
 * (no writable status byte, a zero-length or out-of-RAM buffer, a head posted
 * while still in flight) must set NEEDS_RESET. Either way the guest then resets
 * the device, reads sector 8 through it, prints "virtio-bad-blk CASE: PASS" and
 * exits 0.
 */
#include "fw_virtio.h"

#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2
#define VIRTIO_BLK_ID_BYTES 20
#define SECTOR 512
#define BLK_PATTERN_SECTOR 8
#define BLK_READS 20000ULL /* status reads before a missing NEEDS_RESET fails */
#define BLK_SPINS 200000000ULL
#define BLK_UNTOUCHED 0xee

struct blk_req_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
} __attribute__((packed));

/* One buffer of a request chain. */
struct seg {
	void *p;
	uint32_t len;
	uint16_t flags; /* VRING_DESC_F_WRITE or 0 */
};

struct blk {
	struct fw_vdev d;
	struct fw_vq q;
	uint64_t capacity;
	struct blk_req_hdr *hdr;
	uint8_t *status; /* 64 bytes, for long status buffers */
	uint8_t *data;	 /* 4 sectors */
	char name[40];
};

static struct fw_vring_mem blk_mem;
static uint8_t blk_page[4096] __attribute__((aligned(4096)));
static uint8_t blk_data[4 * SECTOR] __attribute__((aligned(4096)));

static void blk_setup(struct blk *b)
{
	FW_CHECK(!fw_virtio_init(&b->d, &b->q, VIRTIO_BIT(VIRTIO_BLK_F_FLUSH), 16, &blk_mem),
		 "device setup failed");
	FW_CHECK(!(fw_virtio_status(&b->d) & VIRTIO_STATUS_NEEDS_RESET), "NEEDS_RESET after setup");
}

/* Descriptors first..first+n-1 hold segs, chained; returns the head (first). */
static uint16_t blk_chain(struct blk *b, uint16_t first, const struct seg *s, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		uint16_t k = (uint16_t)(first + i);

		b->q.desc[k] = (struct vring_desc){
		    (uint64_t)(uintptr_t)s[i].p, s[i].len,
		    (uint16_t)(s[i].flags | (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
		    (uint16_t)(k + 1)};
	}
	return first;
}

static void blk_hdr(struct blk *b, uint32_t type, uint64_t sector)
{
	*b->hdr = (struct blk_req_hdr){.type = type, .sector = sector};
}

/*
 * Posts the chain, waits for its used entry and returns status byte *st (the
 * last byte of the last writable buffer). *used_len gets the used length.
 */
static uint8_t blk_do(struct blk *b, const struct seg *s, unsigned int n, const uint8_t *st,
		      uint32_t *used_len)
{
	uint32_t id = 0, len = 0;

	fw_vq_submit(&b->d, &b->q, blk_chain(b, 0, s, n));
	FW_CHECK(!fw_vq_wait_used(&b->d, &b->q, &id, &len, BLK_SPINS),
		 "no used entry (status 0x%x)", fw_virtio_status(&b->d));
	FW_CHECK(id == 0, "used id %u", id);
	FW_CHECK(!(fw_virtio_status(&b->d) & VIRTIO_STATUS_NEEDS_RESET),
		 "a bad request broke the device");
	if (used_len)
		*used_len = len;
	return *(volatile const uint8_t *)st;
}

/* A read or write of len bytes of b->data at sector, with a one-byte status. */
static uint8_t blk_rw(struct blk *b, uint32_t type, uint64_t sector, uint32_t len)
{
	struct seg s[3] = {{b->hdr, sizeof(*b->hdr), 0},
			   {b->data, len, type == VIRTIO_BLK_T_IN ? VRING_DESC_F_WRITE : 0},
			   {b->status, 1, VRING_DESC_F_WRITE}};

	blk_hdr(b, type, sector);
	*b->status = BLK_UNTOUCHED;
	return blk_do(b, s, 3, b->status, NULL);
}

static void blk_expect(struct blk *b, uint8_t got, uint8_t want, const char *what)
{
	FW_CHECK(got == want, "%s: status %u, expected %u", what, got, want);
	fw_printf("%s: %s: status %u\n", b->name, what, got);
}

/* Posts the chain and expects NEEDS_RESET without a used entry. */
static void blk_expect_reset(struct blk *b, const struct seg *s, unsigned int n)
{
	fw_vq_submit(&b->d, &b->q, blk_chain(b, 0, s, n));
	FW_CHECK(fw_virtio_wait_needs_reset(&b->d, BLK_READS),
		 "the device did not report NEEDS_RESET (status 0x%x)", fw_virtio_status(&b->d));
	FW_CHECK(*(volatile uint16_t *)&b->q.used->idx == 0, "a used entry for a broken chain");
	fw_printf("%s: device reports NEEDS_RESET\n", b->name);
}

/* Reads sector `sector` into out (one sector) and checks the status. */
static void blk_read_sector(struct blk *b, uint64_t sector, uint8_t *out)
{
	memset(b->data, 0, SECTOR);
	FW_CHECK(blk_rw(b, VIRTIO_BLK_T_IN, sector, SECTOR) == VIRTIO_BLK_S_OK,
		 "read of sector %lu failed", (unsigned long)sector);
	memcpy(out, b->data, SECTOR);
}

static void blk_check_pattern(struct blk *b, const char *when)
{
	static const char pattern[] = "host-pattern-sector-8";
	uint8_t s[SECTOR];

	blk_read_sector(b, BLK_PATTERN_SECTOR, s);
	FW_CHECK(!memcmp(s, pattern, sizeof(pattern) - 1), "%s: sector 8 does not hold the pattern",
		 when);
}

static void blk_case(struct blk *b)
{
	const char *c = b->name;
	uint8_t before[SECTOR], after[SECTOR];
	uint8_t *st = b->status;
	uint32_t used_len = 0;

	blk_setup(b);
	if (!strncmp(c, "sector-beyond", 40)) {
		blk_read_sector(b, b->capacity - 1, before);
		blk_expect(b, blk_rw(b, VIRTIO_BLK_T_IN, b->capacity, SECTOR), VIRTIO_BLK_S_IOERR,
			   "read at the capacity");
		blk_expect(b, blk_rw(b, VIRTIO_BLK_T_IN, b->capacity + 100, SECTOR),
			   VIRTIO_BLK_S_IOERR, "read past the capacity");
		memset(b->data, 0x77, 2 * SECTOR);
		blk_expect(b, blk_rw(b, VIRTIO_BLK_T_OUT, b->capacity - 1, 2 * SECTOR),
			   VIRTIO_BLK_S_IOERR, "write across the end");
		blk_read_sector(b, b->capacity - 1, after);
		FW_CHECK(!memcmp(before, after, SECTOR), "the last sector changed");
	} else if (!strncmp(c, "sector-overflow", 40)) {
		blk_expect(b, blk_rw(b, VIRTIO_BLK_T_IN, ~0ULL, SECTOR), VIRTIO_BLK_S_IOERR,
			   "read at sector 2^64-1");
		blk_expect(b, blk_rw(b, VIRTIO_BLK_T_OUT, ~0ULL - 1, 2 * SECTOR),
			   VIRTIO_BLK_S_IOERR, "write at sector 2^64-2, 2 sectors");
		blk_expect(b, blk_rw(b, VIRTIO_BLK_T_IN, ~0ULL / SECTOR + 1, SECTOR),
			   VIRTIO_BLK_S_IOERR, "read where sector * 512 wraps");
	} else if (!strncmp(c, "len-not-512", 40)) {
		blk_read_sector(b, 0, before);
		memset(b->data, 0x77, 2 * SECTOR);
		blk_expect(b, blk_rw(b, VIRTIO_BLK_T_OUT, 0, SECTOR + 1), VIRTIO_BLK_S_IOERR,
			   "write of 513 bytes");
		memset(b->data, BLK_UNTOUCHED, SECTOR);
		blk_expect(b, blk_rw(b, VIRTIO_BLK_T_IN, 0, 100), VIRTIO_BLK_S_IOERR,
			   "read of 100 bytes");
		blk_read_sector(b, 0, after);
		FW_CHECK(!memcmp(before, after, SECTOR), "sector 0 changed");
	} else if (!strncmp(c, "status-missing", 40)) {
		/* A write whose chain has no writable byte at all. */
		struct seg s[2] = {{b->hdr, sizeof(*b->hdr), 0}, {b->data, SECTOR, 0}};

		blk_hdr(b, VIRTIO_BLK_T_OUT, 0);
		blk_expect_reset(b, s, 2);
	} else if (!strncmp(c, "status-read-only", 40)) {
		/* A flush whose status buffer is device-readable. */
		struct seg s[2] = {{b->hdr, sizeof(*b->hdr), 0}, {st, 1, 0}};

		blk_hdr(b, VIRTIO_BLK_T_FLUSH, 0);
		blk_expect_reset(b, s, 2);
	} else if (!strncmp(c, "status-after-data-read-only", 40)) {
		/* A read: writable data, then a readable status (readable after writable). */
		struct seg s[3] = {{b->hdr, sizeof(*b->hdr), 0},
				   {b->data, SECTOR, VRING_DESC_F_WRITE},
				   {st, 1, 0}};

		blk_hdr(b, VIRTIO_BLK_T_IN, 0);
		blk_expect_reset(b, s, 3);
	} else if (!strncmp(c, "status-long", 40)) {
		/*
		 * The status is the last byte of the last writable buffer (the device
		 * ignores framing, section 2.6.4): a 4-byte status buffer of a flush
		 * gets it in its byte 3, and the rest stays untouched. A read with
		 * 512 bytes of data and an 8-byte status buffer has 519 bytes of data:
		 * not a multiple of 512, IOERR.
		 */
		struct seg f[2] = {{b->hdr, sizeof(*b->hdr), 0}, {st, 4, VRING_DESC_F_WRITE}};
		struct seg r[3] = {{b->hdr, sizeof(*b->hdr), 0},
				   {b->data, SECTOR, VRING_DESC_F_WRITE},
				   {st, 8, VRING_DESC_F_WRITE}};

		memset(st, BLK_UNTOUCHED, 16);
		blk_hdr(b, VIRTIO_BLK_T_FLUSH, 0);
		blk_expect(b, blk_do(b, f, 2, st + 3, &used_len), VIRTIO_BLK_S_OK,
			   "flush with a 4-byte status buffer");
		FW_CHECK(st[0] == BLK_UNTOUCHED && st[1] == BLK_UNTOUCHED &&
			     st[2] == BLK_UNTOUCHED && st[4] == BLK_UNTOUCHED,
			 "bytes around the status written: %x %x %x %x", st[0], st[1], st[2],
			 st[4]);
		FW_CHECK(used_len == 1, "flush: used len %u", used_len);
		memset(st, BLK_UNTOUCHED, 16);
		blk_hdr(b, VIRTIO_BLK_T_IN, BLK_PATTERN_SECTOR);
		blk_expect(b, blk_do(b, r, 3, st + 7, NULL), VIRTIO_BLK_S_IOERR,
			   "read with an 8-byte status buffer");
		FW_CHECK(st[8] == BLK_UNTOUCHED, "byte past the status buffer written");
	} else if (!strncmp(c, "header-split", 40)) {
		/* Legal: the header in three descriptors (4 + 5 + 7 bytes). */
		uint8_t *h = (uint8_t *)b->hdr;
		struct seg s[5] = {{h, 4, 0},
				   {h + 4, 5, 0},
				   {h + 9, 7, 0},
				   {b->data, SECTOR, VRING_DESC_F_WRITE},
				   {st, 1, VRING_DESC_F_WRITE}};
		static const char pattern[] = "host-pattern-sector-8";

		blk_hdr(b, VIRTIO_BLK_T_IN, BLK_PATTERN_SECTOR);
		memset(b->data, 0, SECTOR);
		*st = BLK_UNTOUCHED;
		blk_expect(b, blk_do(b, s, 5, st, &used_len), VIRTIO_BLK_S_OK,
			   "read with the header in three descriptors");
		FW_CHECK(!memcmp(b->data, pattern, sizeof(pattern) - 1), "wrong data read");
		FW_CHECK(used_len == SECTOR + 1, "used len %u", used_len);
	} else if (!strncmp(c, "unknown-type", 40)) {
		struct seg s[2] = {{b->hdr, sizeof(*b->hdr), 0}, {st, 1, VRING_DESC_F_WRITE}};

		blk_hdr(b, 2, 0);
		*st = BLK_UNTOUCHED;
		blk_expect(b, blk_do(b, s, 2, st, NULL), VIRTIO_BLK_S_UNSUPP, "type 2");
		blk_hdr(b, 0xffffffff, 0);
		*st = BLK_UNTOUCHED;
		blk_expect(b, blk_do(b, s, 2, st, NULL), VIRTIO_BLK_S_UNSUPP, "type 0xffffffff");
	} else if (!strncmp(c, "get-id-short", 40)) {
		/* 19 bytes for the 20-byte serial: IOERR, nothing written; 20 bytes: the serial. */
		struct seg s[3] = {{b->hdr, sizeof(*b->hdr), 0},
				   {b->data, VIRTIO_BLK_ID_BYTES - 1, VRING_DESC_F_WRITE},
				   {st, 1, VRING_DESC_F_WRITE}};
		char serial[24] = "";

		blk_hdr(b, VIRTIO_BLK_T_GET_ID, 0);
		memset(b->data, BLK_UNTOUCHED, 64);
		*st = BLK_UNTOUCHED;
		blk_expect(b, blk_do(b, s, 3, st, NULL), VIRTIO_BLK_S_IOERR,
			   "GET_ID into 19 bytes");
		for (unsigned int i = 0; i < 64; i++)
			FW_CHECK(b->data[i] == BLK_UNTOUCHED, "byte %u of the short buffer written",
				 i);
		s[1].len = VIRTIO_BLK_ID_BYTES;
		*st = BLK_UNTOUCHED;
		blk_expect(b, blk_do(b, s, 3, st, NULL), VIRTIO_BLK_S_OK, "GET_ID into 20 bytes");
		FW_CHECK(b->data[VIRTIO_BLK_ID_BYTES] == BLK_UNTOUCHED, "byte 20 written");
		memcpy(serial, b->data, VIRTIO_BLK_ID_BYTES);
		FW_CHECK(!memcmp(serial, "bad-blk-serial", 15), "serial '%s'", serial);
	} else if (!strncmp(c, "write-ro", 40)) {
		FW_CHECK(b->d.features & VIRTIO_BIT(VIRTIO_BLK_F_RO), "the disk is not read-only");
		blk_read_sector(b, 0, before);
		memset(b->data, 0x77, 2 * SECTOR);
		blk_expect(b, blk_rw(b, VIRTIO_BLK_T_OUT, 0, 2 * SECTOR), VIRTIO_BLK_S_IOERR,
			   "write to a read-only disk");
		blk_rw(b, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16);
		FW_CHECK(*st != VIRTIO_BLK_S_OK, "write-zeroes on a read-only disk: OK");
		blk_read_sector(b, 0, after);
		FW_CHECK(!memcmp(before, after, SECTOR), "sector 0 changed");
	} else if (!strncmp(c, "len-zero", 40)) {
		struct seg s[3] = {{b->hdr, sizeof(*b->hdr), 0},
				   {b->data, 0, VRING_DESC_F_WRITE},
				   {st, 1, VRING_DESC_F_WRITE}};

		blk_hdr(b, VIRTIO_BLK_T_IN, 0);
		blk_expect_reset(b, s, 3);
	} else if (!strncmp(c, "len-max", 40)) {
		struct seg s[3] = {{b->hdr, sizeof(*b->hdr), 0},
				   {b->data, 0xffffffff, VRING_DESC_F_WRITE},
				   {st, 1, VRING_DESC_F_WRITE}};

		blk_hdr(b, VIRTIO_BLK_T_IN, 0);
		blk_expect_reset(b, s, 3);
	} else if (!strncmp(c, "head-twice", 40)) {
		/*
		 * The same head twice in one batch: a read goes to the disk backend and
		 * is still in flight when the device meets the head again.
		 */
		struct seg s[3] = {{b->hdr, sizeof(*b->hdr), 0},
				   {b->data, 4 * SECTOR, VRING_DESC_F_WRITE},
				   {st, 1, VRING_DESC_F_WRITE}};
		uint16_t head = blk_chain(b, 0, s, 3);

		blk_hdr(b, VIRTIO_BLK_T_IN, 0);
		b->q.avail->ring[0] = head;
		b->q.avail->ring[1] = head;
		b->q.avail_idx = 2;
		fw_barrier();
		*(volatile uint16_t *)&b->q.avail->idx = b->q.avail_idx;
		fw_vq_notify(&b->d, &b->q);
		FW_CHECK(fw_virtio_wait_needs_reset(&b->d, BLK_READS),
			 "the device did not report NEEDS_RESET (status 0x%x, used idx %u)",
			 fw_virtio_status(&b->d), b->q.used->idx);
		fw_printf("%s: device reports NEEDS_RESET\n", b->name);
	} else {
		FW_CHECK(0, "unknown case '%s'", c);
	}
}

int fw_main(const struct fw_start_info *si)
{
	struct blk b = {.hdr = (void *)blk_page, .status = blk_page + 64, .data = blk_data};

	FW_CHECK(fw_cmdline_str(si, "case", b.name, sizeof(b.name)),
		 "no case= on the command line");
	FW_CHECK(!fw_virtio_find(&b.d, si, VIRTIO_ID_BLOCK), "no virtio-blk device");
	FW_CHECK(b.d.device && b.d.device_len >= 8, "no device configuration region");
	b.capacity = mmio_read32(b.d.device) | (uint64_t)mmio_read32(b.d.device + 4) << 32;
	FW_CHECK(b.capacity > BLK_PATTERN_SECTOR, "capacity %lu", (unsigned long)b.capacity);
	fw_printf("%s: virtio-blk at 00:%02x.%u, %lu sectors\n", b.name, b.d.dev, b.d.fn,
		  (unsigned long)b.capacity);
	blk_case(&b);
	/* The VM still runs and the device serves requests after a reset. */
	fw_virtio_reset(&b.d);
	blk_setup(&b);
	blk_check_pattern(&b, "after the reset");
	fw_printf("virtio-bad-blk %s: PASS\n", b.name);
	return 0;
}
