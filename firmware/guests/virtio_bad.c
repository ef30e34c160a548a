// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-bad: a hostile driver. case=NAME on the command line picks one
 * violation of the virtio 1.x rules against a virtio device (dev=ID, default
 * the entropy device, 4; the cases named *-blk run against a disk, 2).
 * Register writes the spec forbids must be refused (the register keeps its
 * value) and answered with NEEDS_RESET; ring and descriptor violations must
 * set NEEDS_RESET (status bit 64). Either way the VM keeps running: the guest
 * then resets the device, checks that it serves a good request again, prints
 * "virtio-bad CASE: PASS" and exits 0. A few cases are legal and must simply
 * work (avail-wrap), or check one outcome among those allowed (desc-rewrite).
 * With other=ID, a second device (of that virtio id) is set up and serves a
 * good request first; while the device under attack is broken (the case must
 * be one that breaks it), the other must keep its status (DRIVER_OK, no
 * NEEDS_RESET) and serve a second request with no reset of its own: a
 * violation breaks only the device it was made on.
 */
#include "fw_virtio.h"

/*
 * Reads of the status register (and polls of the used ring) before a missing
 * NEEDS_RESET (or a missing used entry) counts as a failure: a guard against a
 * hang, far longer than the device needs.
 */
#define BAD_READS 20000ULL
#define BAD_SPINS 200000000ULL
#define BAD_FAR_AWAY 0x7f00000000ULL /* far beyond any test machine's RAM */
#define BAD_IN_HOLE 0xd0000000ULL    /* between the end of low RAM and 4 GiB */

struct bad {
	const struct fw_start_info *si;
	struct fw_vdev d;
	struct fw_vq q;
	struct fw_vring_mem *mem;
	uint8_t *table; /* an indirect table, page aligned */
	uint8_t *buf;   /* data buffer, page aligned */
	char name[40];
};

static struct fw_vring_mem bad_mem, other_mem;
/* Room for an indirect table of BAD_LONG_CHAIN descriptors. */
#define BAD_LONG_CHAIN 1025
static uint8_t bad_table[(BAD_LONG_CHAIN * 16 + 4095) / 4096][4096] __attribute__((aligned(4096)));
static uint8_t bad_buf[4096] __attribute__((aligned(4096)));
static uint8_t other_buf[4096] __attribute__((aligned(4096)));

static void bad_setup(struct bad *b, uint64_t features)
{
	FW_CHECK(!fw_virtio_init(&b->d, &b->q, features, 0, b->mem), "device setup failed");
	FW_CHECK(!(fw_virtio_status(&b->d) & VIRTIO_STATUS_NEEDS_RESET), "NEEDS_RESET after setup");
}

/* Descriptor i of the queue. */
static void bad_desc(struct vring_desc *t, uint16_t i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	t[i] = (struct vring_desc){ .addr = addr, .len = len, .flags = flags, .next = next };
}

#define BAD_BLK_T_GET_ID 8

/*
 * A good request: one device-writable buffer of 64 bytes; the device must use
 * it. For a block device, a GET_ID request: a readable header first, then the
 * buffer, whose last byte gets the status (0: OK).
 */
static void bad_good_request(struct bad *b, const char *when)
{
	bool blk = b->d.virtio_id == VIRTIO_ID_BLOCK;
	uint32_t id = 0, len = 0, *hdr = (uint32_t *)(b->buf + 2048);

	memset(b->buf, 0xee, 64);
	bad_desc(b->q.desc, 0, (uint64_t)(uintptr_t)b->buf, 64, VRING_DESC_F_WRITE, 0);
	if (blk) {
		hdr[0] = BAD_BLK_T_GET_ID;
		hdr[1] = hdr[2] = hdr[3] = 0;
		bad_desc(b->q.desc, 1, (uint64_t)(uintptr_t)hdr, 16, VRING_DESC_F_NEXT, 0);
	}
	fw_vq_submit(&b->d, &b->q, blk ? 1 : 0);
	FW_CHECK(!fw_vq_wait_used(&b->d, &b->q, &id, &len, BAD_SPINS),
		 "%s: a good request was not served (status 0x%x)", when, fw_virtio_status(&b->d));
	FW_CHECK(id == (blk ? 1u : 0u) && len <= 64, "%s: used entry id %u len %u", when, id, len);
	FW_CHECK(!blk || b->buf[63] == 0, "%s: GET_ID status %u", when, b->buf[63]);
}

static void bad_expect_needs_reset(struct bad *b)
{
	FW_CHECK(fw_virtio_wait_needs_reset(&b->d, BAD_READS),
		 "the device did not report NEEDS_RESET (status 0x%x)", fw_virtio_status(&b->d));
	fw_printf("%s: device reports NEEDS_RESET\n", b->name);
}

/* Submits chain head 0 and expects NEEDS_RESET. */
static void bad_submit_expect_reset(struct bad *b)
{
	fw_vq_submit(&b->d, &b->q, 0);
	bad_expect_needs_reset(b);
}

/* Writes a bad queue size before enabling; the register must keep a valid size. */
static void bad_queue_size(struct bad *b, uint16_t bad_size)
{
	uint16_t max, now;

	fw_virtio_reset(&b->d);
	FW_CHECK(!fw_virtio_negotiate(&b->d, 0), "negotiation failed");
	fw_vcommon_write16(&b->d, VPCI_Q_SELECT, 0);
	max = fw_vcommon_read16(&b->d, VPCI_Q_SIZE);
	fw_vcommon_write16(&b->d, VPCI_Q_SIZE, bad_size ? bad_size : 0);
	now = fw_vcommon_read16(&b->d, VPCI_Q_SIZE);
	FW_CHECK(now == max, "queue size %u accepted (was %u)", now, max);
	fw_printf("%s: size %u refused, still %u\n", b->name, bad_size, now);
	bad_expect_needs_reset(b);
	/* After a reset the device works again. */
	bad_setup(b, 0);
	bad_good_request(b, "after the reset");
}

/*
 * Writes v to the notify register of the selected queue: in the first notify region
 * (a port with kvmrun) or, with mem, in the first one in memory.
 */
static void bad_notify(struct bad *b, bool mem, uint16_t v)
{
	uint64_t off = fw_vcommon_read16(&b->d, VPCI_Q_NOTIFY_OFF);

	if (mem)
		fw_notify_write(false, b->d.notify_mem + off * b->d.notify_mem_mul, v);
	else
		fw_notify_write(b->d.notify_io, b->d.notify + off * b->d.notify_mul, v);
}

/* Rings at desc/avail/used; DRIVER_OK must then report NEEDS_RESET. */
static void bad_rings(struct bad *b, uint64_t desc, uint64_t avail, uint64_t used)
{
	fw_virtio_reset(&b->d);
	FW_CHECK(!fw_virtio_negotiate(&b->d, 0), "negotiation failed");
	fw_vcommon_write16(&b->d, VPCI_Q_SELECT, 0);
	fw_vcommon_write64(&b->d, VPCI_Q_DESC, desc);
	fw_vcommon_write64(&b->d, VPCI_Q_DRIVER, avail);
	fw_vcommon_write64(&b->d, VPCI_Q_DEVICE, used);
	fw_vcommon_write16(&b->d, VPCI_Q_ENABLE, 1);
	fw_virtio_driver_ok(&b->d);
	/* A kick too, for a device that checks the rings only when it looks at them. */
	fw_vcommon_write16(&b->d, VPCI_Q_SELECT, 0);
	bad_notify(b, false, 0);
	bad_expect_needs_reset(b);
}

static void bad_after_driver_ok(struct bad *b)
{
	uint64_t desc;
	uint16_t size;

	bad_setup(b, 0);
	fw_vcommon_write16(&b->d, VPCI_Q_SELECT, 0);
	size = fw_vcommon_read16(&b->d, VPCI_Q_SIZE);
	fw_vcommon_write64(&b->d, VPCI_Q_DESC, BAD_FAR_AWAY);
	fw_vcommon_write64(&b->d, VPCI_Q_DRIVER, BAD_FAR_AWAY);
	fw_vcommon_write64(&b->d, VPCI_Q_DEVICE, BAD_FAR_AWAY);
	fw_vcommon_write16(&b->d, VPCI_Q_SIZE, (uint16_t)(size / 2));
	fw_vcommon_write16(&b->d, VPCI_Q_ENABLE, 0);
	desc = fw_vcommon_read32(&b->d, VPCI_Q_DESC) |
	       (uint64_t)fw_vcommon_read32(&b->d, VPCI_Q_DESC + 4) << 32;
	FW_CHECK(desc == (uint64_t)(uintptr_t)b->q.desc, "queue_desc changed after DRIVER_OK");
	FW_CHECK(fw_vcommon_read16(&b->d, VPCI_Q_SIZE) == size, "queue_size changed");
	FW_CHECK(fw_vcommon_read16(&b->d, VPCI_Q_ENABLE) == 1, "queue_enable changed");
	fw_printf("%s: queue registers unchanged\n", b->name);
	bad_expect_needs_reset(b);
	bad_setup(b, 0);
	bad_good_request(b, "after the reset");
}

/* An indirect descriptor at head 0 pointing at table 0 of n entries (n * 16 bytes). */
static void bad_indirect(struct bad *b, uint32_t len)
{
	bad_desc(b->q.desc, 0, (uint64_t)(uintptr_t)b->table, len, VRING_DESC_F_INDIRECT, 0);
}

/* Fills indirect table t with n writable buffers, chained. */
static void bad_fill_table(struct bad *b, uint8_t *t, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		bad_desc((struct vring_desc *)t, (uint16_t)i, (uint64_t)(uintptr_t)b->buf, 8,
			 VRING_DESC_F_WRITE | (i + 1 < n ? VRING_DESC_F_NEXT : 0),
			 (uint16_t)(i + 1));
}

/* One read and one write of zero, `width` bytes at port. */
static void bad_port_access(uint16_t port, unsigned int width)
{
	switch (width) {
	case 1:
		(void)inb(port);
		outb(port, 0);
		break;
	case 2:
		(void)inw(port);
		outw(port, 0);
		break;
	default:
		(void)inl(port);
		outl(port, 0);
	}
}

/* One read and one write of zero, `width` bytes at a. */
static void bad_access(uint64_t a, unsigned int width)
{
	switch (width) {
	case 1:
		(void)mmio_read8(a);
		mmio_write8(a, 0);
		break;
	case 2:
		(void)mmio_read16(a);
		mmio_write16(a, 0);
		break;
	case 4:
		(void)mmio_read32(a);
		mmio_write32(a, 0);
		break;
	default:
		(void)mmio_read64(a);
		mmio_write64(a, 0);
	}
}

/*
 * Widths 1, 2, 4 and 8 (a read and a write of zero each) at the offsets of a
 * memory BAR where registers are (the first 512 bytes of each 4 KiB page: the
 * regions start on pages) and at the last 16 of each page (running into the
 * next one, and past the BAR's end); 1, 2 and 4 at every port of every I/O
 * BAR. Each access is a VM exit, about 34,000 for a 32 KiB BAR; the unit test
 * test_pci_bars tries every offset of the BAR without a guest.
 */
static int bad_bar_offset_tried(uint64_t off)
{
	return (off & 0xfff) < 0x200 || (off & 0xfff) >= 0xff0;
}

static void bad_bar_widths(struct bad *b)
{
	static const unsigned int widths[] = { 1, 2, 4, 8 };
	unsigned int accesses = 0;

	for (unsigned int i = 0; i < 6; i++) {
		uint64_t base = b->d.bar[i];

		if (!base)
			continue;
		for (uint64_t off = 0; b->d.bar_io[i] && off < b->d.bar_size[i]; off++)
			for (unsigned int w = 0; w < 3; w++) {
				bad_port_access((uint16_t)(base + off), widths[w]);
				accesses += 2;
			}
		for (uint64_t off = 0; !b->d.bar_io[i] && off < b->d.bar_size[i]; off++)
			for (unsigned int w = 0; bad_bar_offset_tried(off) && w < FW_ARRAY_SIZE(widths);
			     w++) {
				bad_access(base + off, widths[w]);
				accesses += 2;
			}
		fw_printf("%s: BAR%u (%lu %s) done\n", b->name, i, (unsigned long)b->d.bar_size[i],
			  b->d.bar_io[i] ? "ports" : "bytes");
	}
	FW_CHECK(accesses, "no BAR");
	fw_printf("%s: %u accesses survived\n", b->name, accesses);
}

/* kvmrun's ECAM (configuration space of bus 0 in memory). */
#define BAD_ECAM 0xe0000000ULL
#define CFG_SIZE 4096
#define CFG_PORTS_SIZE 256

static uint64_t bad_cfg_read(uint64_t a, unsigned int width)
{
	switch (width) {
	case 1:
		return mmio_read8(a);
	case 2:
		return mmio_read16(a);
	case 4:
		return mmio_read32(a);
	default:
		return mmio_read64(a);
	}
}

static void bad_cfg_write(uint64_t a, unsigned int width, uint64_t v)
{
	switch (width) {
	case 1:
		mmio_write8(a, (uint8_t)v);
		break;
	case 2:
		mmio_write16(a, (uint16_t)v);
		break;
	case 4:
		mmio_write32(a, (uint32_t)v);
		break;
	default:
		mmio_write64(a, v);
	}
}

/*
 * Configuration space through the ECAM: widths 1, 2, 4 and 8 (the ECAM has no
 * 8-byte registers) at every offset, the last ones running past its end. Each
 * access reads, then writes back what it read: BARs, the command register and
 * MSI-X keep their values, so the device stays reachable, but every register
 * still sees writes of every width. Then the same through the data ports
 * 0xcfc-0xcff for each register of the first 256 bytes (the part those ports
 * reach), at each port, so that wider accesses run past 0xcff.
 */
static void bad_cfg_widths(struct bad *b)
{
	static const unsigned int widths[] = { 1, 2, 4, 8 };
	uint64_t cfg = BAD_ECAM + ((uint64_t)b->d.dev << 15) + ((uint64_t)b->d.fn << 12);
	uint32_t id = mmio_read32(cfg);
	unsigned int accesses = 0;

	FW_CHECK(id == pci_read32(0, b->d.dev, b->d.fn, 0),
		 "the ECAM shows id 0x%x, ports 0xcf8/0xcfc 0x%x", id,
		 pci_read32(0, b->d.dev, b->d.fn, 0));
	for (unsigned int off = 0; off < CFG_SIZE; off++) {
		for (unsigned int w = 0; w < FW_ARRAY_SIZE(widths); w++) {
			uint64_t v = bad_cfg_read(cfg + off, widths[w]);

			bad_cfg_write(cfg + off, widths[w], v);
			accesses += 2;
		}
	}
	for (unsigned int reg = 0; reg < CFG_PORTS_SIZE; reg += 4) {
		for (uint16_t port = FW_PORT_PCI_DATA; port < FW_PORT_PCI_DATA + 4; port++) {
			uint32_t v;

			outl(FW_PORT_PCI_ADDR, 0x80000000u | b->d.dev << 11 | b->d.fn << 8 | reg);
			v = inb(port);
			outb(port, (uint8_t)v);
			v = inw(port);
			outw(port, (uint16_t)v);
			v = inl(port);
			outl(port, v);
			accesses += 7;
		}
	}
	FW_CHECK(mmio_read32(cfg) == id, "the device's id changed");
	fw_printf("%s: %u configuration space accesses survived\n", b->name, accesses);
}

/* Makes chain head `head` of the queue available without a kick. */
static void bad_post(struct bad *b, uint16_t head)
{
	b->q.avail->ring[b->q.avail_idx % b->q.size] = head;
	b->q.avail_idx++;
}

static void bad_publish_and_kick(struct bad *b)
{
	fw_barrier();
	*(volatile uint16_t *)&b->q.avail->idx = b->q.avail_idx;
	fw_vq_notify(&b->d, &b->q);
}

/*
 * More than 65536 requests, so that the avail and used indices (and with
 * EVENT_IDX, avail_event) wrap from 0xffff to 0 inside a batch: in batches of
 * WRAP_BATCH chains (which does not divide 65536), one kick each. Every used
 * entry must name the expected head with the full length.
 */
#define WRAP_TOTAL (65536u + 300u)
#define WRAP_BATCH 48u
#define WRAP_LEN 8u

static void bad_avail_wrap(struct bad *b, uint64_t features)
{
	volatile uint16_t *avail_event;
	unsigned int done = 0;

	bad_setup(b, features);
	FW_CHECK(b->q.size > WRAP_BATCH, "queue of %u too small", b->q.size);
	avail_event = (volatile uint16_t *)&b->q.used->ring[b->q.size];
	for (uint16_t i = 0; i < b->q.size; i++)
		bad_desc(b->q.desc, i, (uint64_t)(uintptr_t)(b->buf + (i % 64) * WRAP_LEN), WRAP_LEN,
			 VRING_DESC_F_WRITE, 0);
	while (done < WRAP_TOTAL) {
		unsigned int n = WRAP_TOTAL - done < WRAP_BATCH ? WRAP_TOTAL - done : WRAP_BATCH;

		for (unsigned int k = 0; k < n; k++)
			bad_post(b, (uint16_t)((done + k) % b->q.size));
		bad_publish_and_kick(b);
		for (unsigned int k = 0; k < n; k++) {
			uint32_t id = 0, len = 0;

			FW_CHECK(!fw_vq_wait_used(&b->d, &b->q, &id, &len, BAD_SPINS),
				 "request %u (avail idx 0x%x) not served (status 0x%x)", done + k,
				 (done + k) & 0xffff, fw_virtio_status(&b->d));
			FW_CHECK(id == (done + k) % b->q.size && len == WRAP_LEN,
				 "request %u: used id %u len %u", done + k, id, len);
		}
		done += n;
		FW_CHECK(*(volatile uint16_t *)&b->q.used->idx == (uint16_t)done,
			 "used idx 0x%x after %u requests", b->q.used->idx, done);
	}
	FW_CHECK(!(fw_virtio_status(&b->d) & VIRTIO_STATUS_NEEDS_RESET), "NEEDS_RESET");
	if (b->d.negotiated & VIRTIO_BIT(VIRTIO_F_EVENT_IDX)) {
		/* The device asks for kicks again (avail_event) after its last used entry. */
		for (uint64_t n = 0; n < BAD_SPINS && *avail_event != b->q.avail_idx; n++)
			fw_pause();
		FW_CHECK(*avail_event == b->q.avail_idx, "avail_event 0x%x, avail idx 0x%x",
			 *avail_event, b->q.avail_idx);
	}
	fw_printf("%s: %u requests, avail and used idx wrapped to 0x%x\n", b->name, done,
		  b->q.avail_idx);
}

/* Every byte of p[0, n) is c. */
static bool bad_all(const uint8_t *p, unsigned int n, uint8_t c)
{
	for (unsigned int i = 0; i < n; i++)
		if (p[i] != c)
			return false;
	return true;
}

/*
 * A descriptor rewritten right after the kick, at varied delays: the device
 * takes one copy of it. Buffer A (64 bytes) becomes buffer B (8 bytes): the
 * device must fill exactly one of them whole (the entropy device fills every
 * byte it is given), never a mix of one's address and the other's length.
 * Then A becomes an address outside RAM: A is filled, or NEEDS_RESET.
 */
#define REWRITE_ROUNDS 400u
#define REWRITE_A 64u
#define REWRITE_B 8u
#define REWRITE_FILL 0x5a

static void bad_desc_rewrite(struct bad *b)
{
	uint8_t *a = b->buf, *bb = b->buf + 2048;
	unsigned int got_a = 0, got_b = 0, resets = 0;

	bad_setup(b, 0);
	for (unsigned int round = 0; round < 2 * REWRITE_ROUNDS; round++) {
		bool outside = round >= REWRITE_ROUNDS;
		uint32_t id = 0, len = 0;

		memset(b->buf, REWRITE_FILL, 4096);
		fw_barrier();
		bad_desc(b->q.desc, 0, (uint64_t)(uintptr_t)a, REWRITE_A, VRING_DESC_F_WRITE, 0);
		fw_vq_submit(&b->d, &b->q, 0);
		for (unsigned int k = 0; k < (round % 32) * 50; k++)
			fw_pause();
		if (outside)
			bad_desc(b->q.desc, 0, BAD_FAR_AWAY, REWRITE_A, VRING_DESC_F_WRITE, 0);
		else
			bad_desc(b->q.desc, 0, (uint64_t)(uintptr_t)bb, REWRITE_B,
				 VRING_DESC_F_WRITE, 0);
		fw_barrier();
		if (fw_vq_wait_used(&b->d, &b->q, &id, &len, BAD_SPINS)) {
			FW_CHECK(outside && (fw_virtio_status(&b->d) & VIRTIO_STATUS_NEEDS_RESET),
				 "round %u: no used entry (status 0x%x)", round,
				 fw_virtio_status(&b->d));
			FW_CHECK(bad_all(b->buf, 4096, REWRITE_FILL),
				 "round %u: NEEDS_RESET, but a buffer was written", round);
			resets++;
			bad_setup(b, 0);
			continue;
		}
		FW_CHECK(id == 0, "round %u: used id %u", round, id);
		if (len == REWRITE_A && bad_all(a + REWRITE_A, 4096 - REWRITE_A, REWRITE_FILL)) {
			got_a++;
		} else {
			FW_CHECK(!outside && len == REWRITE_B && bad_all(a, 2048, REWRITE_FILL) &&
					 bad_all(bb + REWRITE_B, 2048 - REWRITE_B, REWRITE_FILL),
				 "round %u: used len %u, buffers not consistent with either descriptor",
				 round, len);
			got_b++;
		}
	}
	fw_printf("%s: %u rounds: the first descriptor used %u times, the rewritten one %u, "
		  "NEEDS_RESET %u\n", b->name, 2 * REWRITE_ROUNDS, got_a, got_b, resets);
}

static void bad_run(struct bad *b)
{
	const char *c = b->name;
	struct vring_desc *t0 = (struct vring_desc *)b->table;
	uint16_t size;

	if (!strncmp(c, "qsize-zero", 40)) {
		bad_queue_size(b, 0);
	} else if (!strncmp(c, "qsize-npot", 40)) {
		bad_queue_size(b, 3);
	} else if (!strncmp(c, "qsize-big", 40)) {
		fw_vcommon_write16(&b->d, VPCI_Q_SELECT, 0);
		bad_queue_size(b, (uint16_t)(fw_vcommon_read16(&b->d, VPCI_Q_SIZE) * 2));
	} else if (!strncmp(c, "ring-outside-ram", 40)) {
		bad_rings(b, BAD_FAR_AWAY, BAD_FAR_AWAY + 0x1000, BAD_FAR_AWAY + 0x2000);
	} else if (!strncmp(c, "ring-in-hole", 40)) {
		bad_rings(b, BAD_IN_HOLE, (uint64_t)(uintptr_t)b->mem->avail,
			  (uint64_t)(uintptr_t)b->mem->used);
	} else if (!strncmp(c, "ring-unaligned", 40)) {
		bad_rings(b, (uint64_t)(uintptr_t)b->mem->desc + 8,
			  (uint64_t)(uintptr_t)b->mem->avail + 1,
			  (uint64_t)(uintptr_t)b->mem->used + 2);
	} else if (!strncmp(c, "queue-after-driver-ok", 40)) {
		bad_after_driver_ok(b);
	} else if (!strncmp(c, "notify-out-of-range", 40)) {
		/* Through the first notify cap: kvmrun's is a port. */
		bad_setup(b, 0);
		FW_CHECK(b->d.notify_io, "the first notify region is not a port");
		bad_notify(b, false, (uint16_t)(fw_vcommon_read16(&b->d, VPCI_NUM_QUEUES) + 3));
		bad_expect_needs_reset(b);
	} else if (!strncmp(c, "notify-out-of-range-mmio", 40)) {
		bad_setup(b, 0);
		FW_CHECK(b->d.notify_mem, "no notify region in memory");
		bad_notify(b, true, (uint16_t)(fw_vcommon_read16(&b->d, VPCI_NUM_QUEUES) + 3));
		bad_expect_needs_reset(b);
	} else if (!strncmp(c, "desc-loop", 40)) {
		bad_setup(b, 0);
		bad_desc(b->q.desc, 0, (uint64_t)(uintptr_t)b->buf, 8,
			 VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
		bad_desc(b->q.desc, 1, (uint64_t)(uintptr_t)b->buf, 8,
			 VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0);
		bad_submit_expect_reset(b);
	} else if (!strncmp(c, "chain-too-long", 40)) {
		/*
		 * Direct chains longer than the queue need a loop (desc-loop). Through
		 * an indirect table Linux itself goes past the queue size, so kvmrun's
		 * bound there is 1024 descriptors (as in QEMU): one more must break.
		 */
		bad_setup(b, VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
		FW_CHECK(b->d.negotiated & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC), "no indirect feature");
		size = BAD_LONG_CHAIN;
		bad_fill_table(b, b->table, size);
		bad_indirect(b, size * 16u);
		bad_submit_expect_reset(b);
	} else if (!strncmp(c, "next-out-of-range", 40)) {
		bad_setup(b, 0);
		bad_desc(b->q.desc, 0, (uint64_t)(uintptr_t)b->buf, 8,
			 VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, (uint16_t)(b->q.size + 3));
		bad_submit_expect_reset(b);
	} else if (!strncmp(c, "indirect-no-feature", 40)) {
		bad_setup(b, 0);
		FW_CHECK(!(b->d.negotiated & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC)), "indirect negotiated");
		bad_fill_table(b, b->table, 1);
		bad_indirect(b, 16);
		bad_submit_expect_reset(b);
	} else if (!strncmp(c, "indirect-nested", 40)) {
		bad_setup(b, VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
		bad_fill_table(b, b->table + 4096, 1);
		bad_desc(t0, 0, (uint64_t)(uintptr_t)(b->table + 4096), 16, VRING_DESC_F_INDIRECT, 0);
		bad_indirect(b, 16);
		bad_submit_expect_reset(b);
	} else if (!strncmp(c, "indirect-len-zero", 40)) {
		bad_setup(b, VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
		bad_fill_table(b, b->table, 1);
		bad_indirect(b, 0);
		bad_submit_expect_reset(b);
	} else if (!strncmp(c, "indirect-len-odd", 40)) {
		bad_setup(b, VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
		bad_fill_table(b, b->table, 2);
		bad_indirect(b, 24);
		bad_submit_expect_reset(b);
	} else if (!strncmp(c, "avail-jump", 40)) {
		bad_setup(b, 0);
		bad_desc(b->q.desc, 0, (uint64_t)(uintptr_t)b->buf, 8, VRING_DESC_F_WRITE, 0);
		b->q.avail->ring[0] = 0;
		b->q.avail_idx = (uint16_t)(b->q.size + 5);
		fw_barrier();
		*(volatile uint16_t *)&b->q.avail->idx = b->q.avail_idx;
		fw_vq_notify(&b->d, &b->q);
		bad_expect_needs_reset(b);
	} else if (!strncmp(c, "addr-wrap", 40)) {
		bad_setup(b, 0);
		bad_desc(b->q.desc, 0, 0xfffffffffffff000ULL, 0x2000, VRING_DESC_F_WRITE, 0);
		bad_submit_expect_reset(b);
	} else if (!strncmp(c, "avail-backwards", 40)) {
		/* One request served, then the index steps back by one. */
		bad_setup(b, 0);
		bad_good_request(b, "before");
		b->q.avail_idx--;
		bad_publish_and_kick(b);
		bad_expect_needs_reset(b);
	} else if (!strncmp(c, "avail-wrap", 40)) {
		bad_avail_wrap(b, 0);
	} else if (!strncmp(c, "avail-wrap-event-idx", 40)) {
		bad_avail_wrap(b, VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
		FW_CHECK(b->d.negotiated & VIRTIO_BIT(VIRTIO_F_EVENT_IDX), "no EVENT_IDX");
	} else if (!strncmp(c, "head-out-of-range", 40)) {
		/*
		 * Head size + 1, where the page of the table holds a good descriptor
		 * past the queue: a device that does not check the head would serve it.
		 */
		bad_setup(b, 0);
		FW_CHECK(b->q.size + 2u <= 4096 / 16, "queue of %u too large", b->q.size);
		bad_desc(b->q.desc, (uint16_t)(b->q.size + 1), (uint64_t)(uintptr_t)b->buf, 8,
			 VRING_DESC_F_WRITE, 0);
		fw_vq_submit(&b->d, &b->q, (uint16_t)(b->q.size + 1));
		bad_expect_needs_reset(b);
	} else if (!strncmp(c, "desc-rewrite", 40)) {
		bad_desc_rewrite(b);
	} else if (!strncmp(c, "indirect-next", 40)) {
		/* An indirect descriptor that also chains on (section 2.7.5.3.1). */
		bad_setup(b, VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
		FW_CHECK(b->d.negotiated & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC), "no indirect feature");
		bad_fill_table(b, b->table, 1);
		bad_desc(b->q.desc, 0, (uint64_t)(uintptr_t)b->table, 16,
			 VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
		bad_desc(b->q.desc, 1, (uint64_t)(uintptr_t)b->buf, 8, VRING_DESC_F_WRITE, 0);
		bad_submit_expect_reset(b);
	} else if (!strncmp(c, "ring-overlap", 40)) {
		/* The avail ring inside the descriptor table. */
		bad_rings(b, (uint64_t)(uintptr_t)b->mem->desc,
			  (uint64_t)(uintptr_t)b->mem->desc + 64,
			  (uint64_t)(uintptr_t)b->mem->used);
	} else if (!strncmp(c, "ring-overlap-used", 40)) {
		/* The used ring on top of the avail ring. */
		bad_rings(b, (uint64_t)(uintptr_t)b->mem->desc,
			  (uint64_t)(uintptr_t)b->mem->avail,
			  (uint64_t)(uintptr_t)b->mem->avail + 4);
	} else if (!strncmp(c, "bar-widths", 40) || !strncmp(c, "bar-widths-blk", 40)) {
		bad_setup(b, 0);
		bad_bar_widths(b);
	} else if (!strncmp(c, "cfg-widths", 40)) {
		bad_setup(b, 0);
		bad_cfg_widths(b);
		bad_good_request(b, "after the sweep");
	} else {
		FW_CHECK(0, "unknown case '%s'", c);
	}
}

int fw_main(const struct fw_start_info *si)
{
	struct bad b = { .si = si, .mem = &bad_mem, .table = bad_table[0], .buf = bad_buf };
	struct bad o = { .si = si, .mem = &other_mem, .buf = other_buf };
	uint16_t id = (uint16_t)fw_cmdline_num(si, "dev", VIRTIO_ID_RNG);
	uint16_t other_id = (uint16_t)fw_cmdline_num(si, "other", 0);
	uint8_t other_status = 0;

	FW_CHECK(fw_cmdline_str(si, "case", b.name, sizeof(b.name)), "no case= on the command line");
	FW_CHECK(!fw_virtio_find(&b.d, si, id), "no virtio device with id %u", id);
	fw_printf("%s: virtio id %u at 00:%02x.%u, common cfg at 0x%lx\n", b.name, id, b.d.dev,
		  b.d.fn, (unsigned long)b.d.common);
	if (other_id) {
		FW_CHECK(other_id != id, "other=%u is the device under attack", other_id);
		FW_CHECK(!fw_virtio_find(&o.d, si, other_id), "no virtio device with id %u",
			 other_id);
		bad_setup(&o, 0);
		bad_good_request(&o, "the other device, before the attack");
		other_status = fw_virtio_status(&o.d);
	}
	bad_run(&b);
	if (other_id) {
		FW_CHECK(fw_virtio_status(&b.d) & VIRTIO_STATUS_NEEDS_RESET,
			 "the attacked device is not broken (status 0x%x)", fw_virtio_status(&b.d));
		FW_CHECK(fw_virtio_status(&o.d) == other_status,
			 "the other device (id %u) went from status 0x%x to 0x%x", other_id,
			 other_status, fw_virtio_status(&o.d));
		bad_good_request(&o, "the other device, beside the broken one");
		fw_printf("%s: virtio id %u still serves\n", b.name, other_id);
	}
	/* The VM still runs and the device recovers after a reset. */
	bad_setup(&b, 0);
	bad_good_request(&b, "after the reset");
	fw_printf("virtio-bad %s: PASS\n", b.name);
	return 0;
}
