// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-blk: drives the first block device (virtio 1.x section 5.2). Reads
 * sector 8 (the host test wrote "host-pattern-sector-8" there), writes
 * sectors 0-3 in one request ("kvmrun guest sector N" at the start of each,
 * then a pattern), flushes when offered, reads them back and compares, and
 * checks that a read past the end fails with IOERR while the device keeps
 * working. The host test then checks the image file's bytes.
 */
#include "fw_virtio.h"

#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define SECTOR 512

struct blk_req_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
} __attribute__((packed));

struct blk {
	struct fw_vdev d;
	struct fw_vq q;
	struct blk_req_hdr *hdr;
	uint8_t *status;
	uint8_t *data;
};

static struct fw_vring_mem blk_mem;
static uint8_t blk_page[4096] __attribute__((aligned(4096)));
static uint8_t blk_data[4 * SECTOR] __attribute__((aligned(4096)));

/* One request: header, optional data (len bytes), status. Returns the status byte. */
static uint8_t blk_request(struct blk *b, uint32_t type, uint64_t sector, uint32_t len)
{
	uint16_t flags = type == VIRTIO_BLK_T_IN ? VRING_DESC_F_WRITE : 0;
	uint32_t id = 0, used_len = 0;
	uint16_t n = 0;

	b->hdr->type = type;
	b->hdr->reserved = 0;
	b->hdr->sector = sector;
	*b->status = 0xee;
	b->q.desc[n] = (struct vring_desc){ (uint64_t)(uintptr_t)b->hdr, sizeof(*b->hdr),
					     VRING_DESC_F_NEXT, (uint16_t)(n + 1) };
	n++;
	if (len) {
		b->q.desc[n] = (struct vring_desc){ (uint64_t)(uintptr_t)b->data, len,
						     (uint16_t)(flags | VRING_DESC_F_NEXT),
						     (uint16_t)(n + 1) };
		n++;
	}
	b->q.desc[n] = (struct vring_desc){ (uint64_t)(uintptr_t)b->status, 1, VRING_DESC_F_WRITE,
					     0 };
	fw_vq_submit(&b->d, &b->q, 0);
	FW_CHECK(!fw_vq_wait_used(&b->d, &b->q, &id, &used_len, 0),
		 "request type %u sector %lu: device needs reset (status 0x%x)", type,
		 (unsigned long)sector, fw_virtio_status(&b->d));
	FW_CHECK(id == 0, "used id %u", id);
	return *b->status;
}

static void blk_fill(uint8_t *buf, unsigned int s)
{
	for (unsigned int i = 0; i < SECTOR; i++)
		buf[i] = (uint8_t)(s * 31 + i);
	fw_snprintf((char *)buf, 32, "kvmrun guest sector %u", s);
}

int fw_main(const struct fw_start_info *si)
{
	static const char host_pattern[] = "host-pattern-sector-8";
	struct blk b = { .hdr = (void *)blk_page, .status = blk_page + 64, .data = blk_data };
	uint8_t expect[SECTOR];
	uint64_t capacity;
	uint8_t st;

	FW_CHECK(!fw_virtio_find(&b.d, si, VIRTIO_ID_BLOCK), "no virtio-blk device");
	FW_CHECK(b.d.device && b.d.device_len >= 8, "no device configuration region");
	FW_CHECK(!fw_virtio_init(&b.d, &b.q, VIRTIO_BIT(VIRTIO_BLK_F_FLUSH), 16, &blk_mem),
		 "device setup failed");
	capacity = mmio_read32(b.d.device) | (uint64_t)mmio_read32(b.d.device + 4) << 32;
	fw_printf("virtio-blk: capacity %lu sectors, features 0x%lx\n", (unsigned long)capacity,
		  (unsigned long)b.d.negotiated);
	FW_CHECK(capacity >= 16, "capacity %lu too small", (unsigned long)capacity);

	memset(b.data, 0, SECTOR);
	st = blk_request(&b, VIRTIO_BLK_T_IN, 8, SECTOR);
	FW_CHECK(st == VIRTIO_BLK_S_OK, "read of sector 8: status %u", st);
	FW_CHECK(!memcmp(b.data, host_pattern, sizeof(host_pattern) - 1),
		 "sector 8 does not hold the host's pattern");

	for (unsigned int s = 0; s < 4; s++)
		blk_fill(b.data + s * SECTOR, s);
	st = blk_request(&b, VIRTIO_BLK_T_OUT, 0, 4 * SECTOR);
	FW_CHECK(st == VIRTIO_BLK_S_OK, "write of sectors 0-3: status %u", st);
	if (b.d.negotiated & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH)) {
		st = blk_request(&b, VIRTIO_BLK_T_FLUSH, 0, 0);
		FW_CHECK(st == VIRTIO_BLK_S_OK, "flush: status %u", st);
	}
	memset(b.data, 0, 4 * SECTOR);
	st = blk_request(&b, VIRTIO_BLK_T_IN, 0, 4 * SECTOR);
	FW_CHECK(st == VIRTIO_BLK_S_OK, "read of sectors 0-3: status %u", st);
	for (unsigned int s = 0; s < 4; s++) {
		blk_fill(expect, s);
		FW_CHECK(!memcmp(b.data + s * SECTOR, expect, SECTOR), "sector %u read back wrong", s);
	}

	/* Past the end: an I/O error for this request, not a broken device. */
	st = blk_request(&b, VIRTIO_BLK_T_IN, capacity, SECTOR);
	FW_CHECK(st == VIRTIO_BLK_S_IOERR, "read past the end: status %u, expected IOERR", st);
	FW_CHECK(!(fw_virtio_status(&b.d) & VIRTIO_STATUS_NEEDS_RESET),
		 "a read past the end broke the device");
	st = blk_request(&b, VIRTIO_BLK_T_IN, 1, SECTOR);
	FW_CHECK(st == VIRTIO_BLK_S_OK, "read after the error: status %u", st);
	fw_printf("virtio-blk: PASS\n");
	return 0;
}
