// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-bad: a hostile driver. case=NAME on the command line picks one
 * violation of the virtio 1.x rules against a virtio device (dev=ID, default
 * the entropy device, 4). Register writes the spec forbids must be refused
 * (the register keeps its value) and answered with NEEDS_RESET; ring and
 * descriptor violations must set NEEDS_RESET (status bit 64). Either way the
 * VM keeps running: the guest then resets the device, checks that it serves
 * a good request again, prints "virtio-bad CASE: PASS" and exits 0.
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

static struct fw_vring_mem bad_mem;
/* Room for an indirect table of BAD_LONG_CHAIN descriptors. */
#define BAD_LONG_CHAIN 1025
static uint8_t bad_table[(BAD_LONG_CHAIN * 16 + 4095) / 4096][4096] __attribute__((aligned(4096)));
static uint8_t bad_buf[4096] __attribute__((aligned(4096)));

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

/* A good request: one device-writable buffer; the device must use it. */
static void bad_good_request(struct bad *b, const char *when)
{
	uint32_t id = 0, len = 0;

	bad_desc(b->q.desc, 0, (uint64_t)(uintptr_t)b->buf, 64, VRING_DESC_F_WRITE, 0);
	fw_vq_submit(&b->d, &b->q, 0);
	FW_CHECK(!fw_vq_wait_used(&b->d, &b->q, &id, &len, BAD_SPINS),
		 "%s: a good request was not served (status 0x%x)", when, fw_virtio_status(&b->d));
	FW_CHECK(id == 0 && len <= 64, "%s: used entry id %u len %u", when, id, len);
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
	mmio_write16(b->d.notify + (uint64_t)fw_vcommon_read16(&b->d, VPCI_Q_NOTIFY_OFF) *
					  b->d.notify_mul, 0);
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
 * Widths 1, 2, 4 and 8 at every offset of the first BAR_DENSE bytes of each
 * 4 KiB page of every memory BAR (where the virtio regions, the MSI-X table and
 * the PBA start), and every 64th offset of the rest: each access is a VM exit,
 * and every offset of a 32 KiB BAR takes too long under nested emulation.
 */
#define BAR_DENSE 0x100
#define BAR_SPARSE_STEP 61

static void bad_bar_widths(struct bad *b)
{
	static const unsigned int widths[] = { 1, 2, 4, 8 };
	unsigned int accesses = 0;

	for (unsigned int i = 0; i < 6; i++) {
		uint64_t base = b->d.bar[i];

		if (!base)
			continue;
		for (uint64_t off = 0; off < b->d.bar_size[i];) {
			for (unsigned int w = 0; w < FW_ARRAY_SIZE(widths); w++) {
				if (off + widths[w] > b->d.bar_size[i])
					continue;
				bad_access(base + off, widths[w]);
				accesses += 2;
			}
			off += (off & 0xfff) < BAR_DENSE ? 1 : BAR_SPARSE_STEP;
		}
		fw_printf("%s: BAR%u (%lu bytes) done\n", b->name, i,
			  (unsigned long)b->d.bar_size[i]);
	}
	FW_CHECK(accesses, "no memory BAR");
	fw_printf("%s: %u accesses survived\n", b->name, accesses);
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
		bad_setup(b, 0);
		mmio_write16(b->q.notify_addr, (uint16_t)(fw_vcommon_read16(&b->d, VPCI_NUM_QUEUES) + 3));
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
	} else if (!strncmp(c, "bar-widths", 40)) {
		bad_setup(b, 0);
		bad_bar_widths(b);
	} else {
		FW_CHECK(0, "unknown case '%s'", c);
	}
}

int fw_main(const struct fw_start_info *si)
{
	struct bad b = { .si = si, .mem = &bad_mem, .table = bad_table[0], .buf = bad_buf };
	uint16_t id = (uint16_t)fw_cmdline_num(si, "dev", VIRTIO_ID_RNG);

	FW_CHECK(fw_cmdline_str(si, "case", b.name, sizeof(b.name)), "no case= on the command line");
	FW_CHECK(!fw_virtio_find(&b.d, si, id), "no virtio device with id %u", id);
	fw_printf("%s: virtio id %u at 00:%02x.%u, common cfg at 0x%lx\n", b.name, id, b.d.dev,
		  b.d.fn, (unsigned long)b.d.common);
	bad_run(&b);
	/* The VM still runs and the device recovers after a reset. */
	bad_setup(&b, 0);
	bad_good_request(&b, "after the reset");
	fw_printf("virtio-bad %s: PASS\n", b.name);
	return 0;
}
