// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the split virtqueue core. The input is a small header
 * (queue size, features, ring offsets, a script of device operations) and
 * then the contents of guest RAM, rings included: the guest controls every
 * descriptor, flag and index. The device side pops, pushes, copies and
 * re-reads the rings the way a device would; the sanitizers and the checks
 * below catch anything that escapes guest RAM or breaks the contract.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/guest_mem.h"
#include "kvmrun/virtqueue.h"

#include "fake_ram.h"
#include "fuzz_target.h"

#define RAM_GPA 0x10000ULL
#define RAM_SIZE (64 * 1024)
#define MAX_OPS 32
#define MAX_HELD 64

struct fuzz_hdr {
	uint8_t qlog;  /* queue size 1 << (qlog % 9) */
	uint8_t flags; /* bit 0 indirect, 1 event_idx, 2 offsets from the input */
	uint16_t desc, avail, used;
	uint8_t ops[MAX_OPS];
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_level(LOG_ERROR); /* the guest breaking the queue is the normal case here */
	return 0;
}

static void check_chain(const struct vq_chain *c, uint16_t qsize, uint8_t *scratch)
{
	size_t got;

	if (c->head >= qsize || c->nr_out + c->nr_in > VQ_MAX_CHAIN)
		abort();
	for (unsigned int i = 0; i < c->nr_out + c->nr_in; i++) {
		const struct vq_buf *b = &c->bufs[i];
		const volatile uint8_t *h = b->host;

		/* Every buffer lies inside guest RAM: touching it must be safe. */
		if (b->len) {
			(void)h[0];
			(void)h[b->len - 1];
		}
		if (b->write != (i >= c->nr_out))
			abort();
	}
	got = vq_chain_read(c, 0, scratch, MIN((size_t)c->out_len, 4096));
	if (got != MIN((size_t)c->out_len, 4096))
		abort();
	got = vq_chain_write(c, c->in_len ? c->in_len - 1 : 0, scratch, 1);
	if (got != (c->in_len ? 1 : 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_hdr hdr;
	struct guest_mem gm = {0};
	struct vq vq = {0};
	struct vq_chain *c;
	uint16_t held[MAX_HELD];
	unsigned int nr_held = 0;
	uint8_t scratch[4096];
	uint64_t desc, avail, used, features = 0;
	uint16_t qsize;
	uint8_t *ram;

	if (size < sizeof(hdr))
		return 0;
	memcpy(&hdr, data, sizeof(hdr));
	data += sizeof(hdr);
	size -= sizeof(hdr);
	ram = fake_ram_map(&gm, RAM_GPA, RAM_SIZE);
	c = malloc(sizeof(*c));
	if (!ram || !c)
		abort();
	memcpy(ram, data, MIN(size, (size_t)RAM_SIZE));
	qsize = (uint16_t)(1u << (hdr.qlog % 9));
	if (hdr.flags & 1)
		features |= 1ULL << VQ_F_INDIRECT_DESC;
	if (hdr.flags & 2)
		features |= 1ULL << VQ_F_EVENT_IDX;
	if (hdr.flags & 4) {
		desc = RAM_GPA + hdr.desc;
		avail = RAM_GPA + hdr.avail;
		used = RAM_GPA + hdr.used;
	} else {
		desc = RAM_GPA;
		avail = RAM_GPA + 0x1000;
		used = RAM_GPA + 0x2000;
	}
	if (vq_setup(&vq, &gm, qsize, desc, avail, used, features))
		goto out;

	for (unsigned int i = 0; i < MAX_OPS; i++) {
		uint8_t op = hdr.ops[i];
		int ret;

		switch (op & 3) {
		case 0: /* serve everything available */
			vq_set_notify(&vq, false);
			for (unsigned int n = 0; n < 2u * qsize; n++) {
				ret = vq_pop(&vq, c);
				if (ret)
					break;
				check_chain(c, qsize, scratch);
				if (vq_push(&vq, c->head, c->in_len))
					abort();
			}
			vq_set_notify(&vq, true);
			(void)vq_avail_pending(&vq);
			(void)vq_should_notify(&vq);
			break;
		case 1: /* take one and keep it in flight */
			if (vq_pop(&vq, c) == 0) {
				check_chain(c, qsize, scratch);
				if (nr_held < MAX_HELD)
					held[nr_held++] = c->head;
			}
			break;
		case 2: /* complete a held one, or push a head the device never popped */
			if (nr_held) {
				ret = vq_push(&vq, held[--nr_held], op >> 2);
				if (ret && !vq.broken)
					abort();
			} else if (vq_push(&vq, (uint16_t)(op >> 2), 0) == 0) {
				abort(); /* not in flight: must be refused */
			}
			break;
		case 3: /* the guest moves its avail index */
			if (!vq.broken) {
				uint16_t idx;

				memcpy(&idx, ram + (avail - RAM_GPA) + 2, 2);
				idx = (uint16_t)(idx + (op >> 2));
				memcpy(ram + (avail - RAM_GPA) + 2, &idx, 2);
			}
			if (op & 0x80)
				vq_reset(&vq), nr_held = 0;
			break;
		}
	}
out:
	vq_cleanup(&vq);
	free(c);
	fake_ram_free(ram);
	return 0;
}
