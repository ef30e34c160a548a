// SPDX-License-Identifier: Apache-2.0
/*
 * MSI-X: the capability's enable and function mask, the table (per-vector mask,
 * message), the PBA (pending while masked, delivered on unmask), odd accesses.
 * The test thread plays a vCPU (fake_on_vcpu) except in loop_raise and loop_run:
 * no route may change on a vCPU, and messages whose route must change wait for
 * the loop.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_irq.h"
#include "pci_msix.h"

#define NVEC 5

struct fixture {
	struct fake_irq irq;
	struct pci_dev pdev;
	struct pci_msix m;
};

static const struct pci_dev_ops no_ops;

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	fake_irq_init(&f->irq);
	pci_dev_init(&f->pdev, &no_ops, 1, 2, 0, 0, 0, 0);
	if (pci_msix_init(&f->m, &f->pdev, &f->irq.chip, NVEC, 0, 0x4000, 0x5000))
		return -1;
	fake_on_vcpu = true;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	fake_on_vcpu = false;
	assert_int_equal(f->irq.vcpu_calls, 0);
	pci_msix_cleanup(&f->m);
	for (unsigned int i = 0; i < FAKE_MAX_MSI; i++)
		assert_false(f->irq.used[i]);
	free(f);
	return 0;
}

/* What the event loop does: raise a vector; run what vCPU-side writes left to it. */
static void loop_raise(struct fixture *f, uint16_t vec)
{
	fake_on_vcpu = false;
	pci_msix_raise(&f->m, vec);
	fake_on_vcpu = true;
}

static void loop_run(struct fixture *f)
{
	fake_on_vcpu = false;
	pci_msix_run_deferred(&f->m);
	fake_on_vcpu = true;
}

static void tbl_wr32(struct fixture *f, uint64_t off, uint32_t v)
{
	pci_msix_table_access(&f->m, off, (uint8_t *)&v, 4, true);
}

static uint64_t tbl_rd(struct fixture *f, uint64_t off, uint32_t len)
{
	uint64_t v = 0;

	pci_msix_table_access(&f->m, off, (uint8_t *)&v, len, false);
	return v;
}

static uint64_t pba(struct fixture *f)
{
	uint64_t v = 0;

	pci_msix_pba_access(&f->m, 0, (uint8_t *)&v, 8, false);
	return v;
}

/* The guest writes message control (config offset cap + 2, 16 bits). */
static void msgctl(struct fixture *f, bool enable, bool fmask)
{
	uint16_t v = (uint16_t)((enable ? 0x8000 : 0) | (fmask ? 0x4000 : 0) | 0x3fff);
	uint8_t *p = f->pdev.cfg + f->m.cap + 2;

	for (int i = 0; i < 2; i++)
		p[i] = (uint8_t)((p[i] & ~f->pdev.wmask[f->m.cap + 2 + i]) |
				 ((v >> (8 * i)) & f->pdev.wmask[f->m.cap + 2 + i]));
	pci_msix_config_write(&f->m, f->m.cap + 2, 2);
}

static void program(struct fixture *f, unsigned int vec, uint64_t addr, uint32_t data)
{
	tbl_wr32(f, vec * 16 + 0, (uint32_t)addr);
	tbl_wr32(f, vec * 16 + 4, (uint32_t)(addr >> 32));
	tbl_wr32(f, vec * 16 + 8, data);
}

static void test_capability(void **state)
{
	struct fixture *f = *state;
	unsigned int c = f->m.cap;

	assert_int_equal(f->pdev.cfg[c], 0x11);
	assert_int_equal(f->pdev.cfg[c + 2] | f->pdev.cfg[c + 3] << 8, NVEC - 1);
	assert_int_equal(f->pdev.cfg[c + 4], 0x00);
	assert_int_equal(f->pdev.cfg[c + 5], 0x40);
	assert_int_equal(f->pdev.cfg[c + 9], 0x50);
	/* Table size is read-only; only enable and function mask are writable. */
	assert_int_equal(f->pdev.wmask[c + 2], 0);
	assert_int_equal(f->pdev.wmask[c + 3], 0xc0);
	msgctl(f, true, false);
	assert_int_equal(f->pdev.cfg[c + 2] | f->pdev.cfg[c + 3] << 8, 0x8000 | (NVEC - 1));
	assert_true(pci_msix_enabled(&f->m));
}

static void test_bad_init(void **state)
{
	struct fake_irq irq;
	struct pci_dev d;
	struct pci_msix m;

	(void)state;
	fake_irq_init(&irq);
	pci_dev_init(&d, &no_ops, 1, 2, 0, 0, 0, 0);
	assert_int_equal(pci_msix_init(&m, &d, &irq.chip, 0, 0, 0, 0x800), -EINVAL);
	assert_int_equal(pci_msix_init(&m, &d, &irq.chip, 4, 6, 0, 0x800), -EINVAL);
	assert_int_equal(pci_msix_init(&m, &d, &irq.chip, 4, 0, 4, 0x800), -EINVAL);
	assert_int_equal(pci_msix_init(&m, &d, &irq.chip, 4096, 0, 0, 0x800), -EINVAL);
	/* The chip runs out of vectors halfway: everything is given back. */
	irq.create_fail_after = 3;
	assert_int_equal(pci_msix_init(&m, &d, &irq.chip, 4, 0, 0, 0x800), -ENOSPC);
	for (unsigned int i = 0; i < FAKE_MAX_MSI; i++)
		assert_false(irq.used[i]);
}

static void test_initial_table(void **state)
{
	struct fixture *f = *state;

	for (unsigned int v = 0; v < NVEC; v++) {
		assert_int_equal(tbl_rd(f, v * 16, 8), 0);
		assert_int_equal(tbl_rd(f, v * 16 + 8, 4), 0);
		assert_int_equal(tbl_rd(f, v * 16 + 12, 4), 1);
	}
	assert_int_equal(pba(f), 0);
}

static void test_deliver(void **state)
{
	struct fixture *f = *state;

	f->pdev.slot = 5; /* where a host would have plugged it: requester 00:05.0 */
	program(f, 2, 0xfee01000, 0x4041);
	tbl_wr32(f, 2 * 16 + 12, 0);
	msgctl(f, true, false);
	loop_raise(f, 2);
	assert_int_equal(fake_fired(&f->irq, 2), 1);
	assert_true(f->irq.routed[2]);
	assert_int_equal(f->irq.addr[2], 0xfee01000);
	assert_int_equal(f->irq.data[2], 0x4041);
	assert_int_equal(f->irq.devid[2], 5 << 3); /* what an ITS tells devices apart by */
	/* Same message: no new route; a new message while unmasked: routed again. */
	loop_raise(f, 2);
	assert_int_equal(f->irq.updates, 1);
	tbl_wr32(f, 2 * 16 + 8, 0x4042);
	loop_raise(f, 2);
	assert_int_equal(f->irq.data[2], 0x4042);
	assert_int_equal(fake_fired(&f->irq, 2), 3);
	assert_int_equal(pba(f), 0);
	/* Out of range: nothing at all. */
	loop_raise(f, NVEC);
	loop_raise(f, 0xffff);
	assert_int_equal(pba(f), 0);
}

static void test_vector_mask_pending(void **state)
{
	struct fixture *f = *state;

	program(f, 1, 0xfee00000, 0x30);
	msgctl(f, true, false);
	/* Masked (the reset state): pending, not delivered. */
	loop_raise(f, 1);
	loop_raise(f, 1);
	assert_int_equal(fake_fired(&f->irq, 1), 0);
	assert_int_equal(pba(f), 1 << 1);
	/*
	 * Unmasked: its message was never routed, so it waits for the loop, still
	 * pending; then it is delivered once, pending cleared.
	 */
	tbl_wr32(f, 1 * 16 + 12, 0);
	assert_int_equal(fake_fired(&f->irq, 1), 0);
	assert_int_equal(pba(f), 1 << 1);
	assert_true(pci_msix_deferred(&f->m));
	loop_run(f);
	assert_false(pci_msix_deferred(&f->m));
	assert_int_equal(fake_fired(&f->irq, 1), 1);
	assert_int_equal(pba(f), 0);
	assert_int_equal(f->irq.data[1], 0x30);
	/* Other vectors were untouched. */
	for (unsigned int v = 0; v < NVEC; v++)
		if (v != 1)
			assert_int_equal(fake_fired(&f->irq, v), 0);
	/* Only bit 0 of vector control is kept. */
	tbl_wr32(f, 1 * 16 + 12, 0xfffffffe);
	assert_int_equal(tbl_rd(f, 1 * 16 + 12, 4), 0);
	tbl_wr32(f, 1 * 16 + 12, 0xffffffff);
	assert_int_equal(tbl_rd(f, 1 * 16 + 12, 4), 1);
}

static void test_function_mask_and_enable(void **state)
{
	struct fixture *f = *state;

	program(f, 0, 0xfee00000, 0x20);
	program(f, 4, 0xfee00000, 0x24);
	tbl_wr32(f, 0 * 16 + 12, 0);
	tbl_wr32(f, 4 * 16 + 12, 0);
	/* Disabled: held pending until enabled. */
	loop_raise(f, 0);
	assert_int_equal(fake_fired(&f->irq, 0), 0);
	assert_int_equal(pba(f), 1);
	msgctl(f, true, true);
	assert_int_equal(fake_fired(&f->irq, 0), 0);
	loop_raise(f, 4);
	assert_int_equal(pba(f), 1 | 1 << 4);
	/* Function unmasked: both delivered (by the loop: new messages). */
	msgctl(f, true, false);
	assert_int_equal(fake_fired(&f->irq, 0), 0);
	assert_int_equal(pba(f), 1 | 1 << 4);
	loop_run(f);
	assert_int_equal(fake_fired(&f->irq, 0), 1);
	assert_int_equal(fake_fired(&f->irq, 4), 1);
	assert_int_equal(pba(f), 0);
	assert_int_equal(f->irq.data[4], 0x24);
}

static void test_odd_accesses(void **state)
{
	struct fixture *f = *state;
	uint64_t v;

	/* Byte and word writes, unaligned dwords: ignored. */
	pci_msix_table_access(&f->m, 8, (uint8_t *)&(uint64_t){0xff}, 1, true);
	pci_msix_table_access(&f->m, 8, (uint8_t *)&(uint64_t){0xffff}, 2, true);
	pci_msix_table_access(&f->m, 9, (uint8_t *)&(uint64_t){0xffffffff}, 4, true);
	pci_msix_table_access(&f->m, 4, (uint8_t *)&(uint64_t){~0ULL}, 8, true);
	assert_int_equal(tbl_rd(f, 8, 4), 0);
	assert_int_equal(tbl_rd(f, 0, 8), 0);
	/* An aligned qword writes both halves. */
	v = 0x00000001fee00000ULL;
	pci_msix_table_access(&f->m, 16, (uint8_t *)&v, 8, true);
	assert_int_equal(tbl_rd(f, 16, 8), v);
	assert_int_equal(tbl_rd(f, 17, 1), 0x00);
	assert_int_equal(tbl_rd(f, 18, 2), 0xfee0);
	/* Address bits 1:0 are reserved (dword aligned). */
	tbl_wr32(f, 32, 0xfee00003);
	assert_int_equal(tbl_rd(f, 32, 4), 0xfee00000);
	/* Past the table: reads zero, writes nothing, every width and offset. */
	for (uint64_t off = NVEC * 16 - 8; off < NVEC * 16 + 32; off++) {
		for (uint32_t len = 1; len <= 8; len *= 2) {
			v = ~0ULL;
			pci_msix_table_access(&f->m, off, (uint8_t *)&v, len, true);
			v = ~0ULL;
			pci_msix_table_access(&f->m, off, (uint8_t *)&v, len, false);
			if (off >= NVEC * 16)
				assert_true(len == 8 ? v == 0
						     : (v & ((1ULL << (8 * len)) - 1)) == 0);
		}
	}
	pci_msix_table_access(&f->m, UINT64_MAX - 2, (uint8_t *)&v, 8, false);
	assert_int_equal(v, 0);
	/* The PBA is read-only; past it reads zero. */
	loop_raise(f, 3);
	v = 0;
	pci_msix_pba_access(&f->m, 0, (uint8_t *)&v, 8, true);
	assert_int_equal(pba(f), 1 << 3);
	for (uint64_t off = 0; off < 24; off++) {
		v = ~0ULL;
		pci_msix_pba_access(&f->m, off, (uint8_t *)&v, 1, false);
		assert_int_equal(v & 0xff, off == 0 ? 1 << 3 : 0);
	}
	pci_msix_pba_access(&f->m, UINT64_MAX, (uint8_t *)&v, 8, false);
	assert_int_equal(v, 0);
}

/* Vectors 1 and 2 routed and delivered once each (data 0x31, 0x32). */
static void two_routed(struct fixture *f)
{
	program(f, 1, 0xfee00000, 0x31);
	program(f, 2, 0xfee00000, 0x32);
	tbl_wr32(f, 1 * 16 + 12, 0);
	tbl_wr32(f, 2 * 16 + 12, 0);
	msgctl(f, true, false);
	loop_raise(f, 1);
	loop_raise(f, 2);
	assert_int_equal(f->irq.nr_seq, 2);
	f->irq.nr_seq = 0;
}

/*
 * A message changed while masked: the unmask (a vCPU) leaves it pending for the
 * loop, and the first interrupt after it, from the loop, carries the new message,
 * even when the loop raises another vector before it has run its work.
 */
static void test_new_message_waits_for_loop(void **state)
{
	struct fixture *f = *state;

	two_routed(f);
	tbl_wr32(f, 1 * 16 + 12, 1);
	tbl_wr32(f, 2 * 16 + 12, 1);
	loop_raise(f, 1); /* both pending while masked */
	loop_raise(f, 2);
	tbl_wr32(f, 2 * 16 + 8, 0x42);
	tbl_wr32(f, 2 * 16 + 12, 0);
	assert_int_equal(fake_fired(&f->irq, 2), 1);
	assert_int_equal(f->irq.data[2], 0x32);
	assert_int_equal(pba(f), 1 << 1 | 1 << 2);
	assert_true(pci_msix_deferred(&f->m));
	/* Vector 1's route is current, but it waits too, so it cannot overtake. */
	tbl_wr32(f, 1 * 16 + 12, 0);
	assert_int_equal(fake_fired(&f->irq, 1), 1);
	assert_int_equal(pba(f), 1 << 1 | 1 << 2);
	/* The loop raises vector 1 again: the held ones go first, on their new routes. */
	loop_raise(f, 1);
	assert_false(pci_msix_deferred(&f->m));
	assert_int_equal(pba(f), 0);
	assert_int_equal(f->irq.nr_seq, 3);
	assert_int_equal(f->irq.seq[0], 1);
	assert_int_equal(f->irq.seq[1], 2);
	assert_int_equal(f->irq.seq[2], 1);
	assert_int_equal(f->irq.fired_data[2], 0x42);
	assert_int_equal(fake_fired(&f->irq, 2), 2);
	assert_int_equal(fake_fired(&f->irq, 1), 3);
}

/* Masked again before the loop ran: the message stays pending, as the PBA says. */
static void test_masked_again_stays_pending(void **state)
{
	struct fixture *f = *state;

	two_routed(f);
	tbl_wr32(f, 2 * 16 + 12, 1);
	loop_raise(f, 2);
	tbl_wr32(f, 2 * 16 + 8, 0x52);
	tbl_wr32(f, 2 * 16 + 12, 0);
	tbl_wr32(f, 2 * 16 + 12, 1);
	loop_run(f);
	assert_int_equal(fake_fired(&f->irq, 2), 1);
	assert_int_equal(pba(f), 1 << 2);
	/* Unmasked for good: the loop sends it, once, with the new message. */
	tbl_wr32(f, 2 * 16 + 12, 0);
	loop_run(f);
	assert_int_equal(fake_fired(&f->irq, 2), 2);
	assert_int_equal(f->irq.fired_data[2], 0x52);
	assert_int_equal(pba(f), 0);
	loop_run(f);
	assert_int_equal(fake_fired(&f->irq, 2), 2);
}

/* A vCPU raising a vector: routed ones go out at once, others wait for the loop. */
static void test_raise_on_vcpu(void **state)
{
	struct fixture *f = *state;

	two_routed(f);
	pci_msix_raise_vcpu(&f->m, 1);
	assert_int_equal(fake_fired(&f->irq, 1), 2);
	assert_false(pci_msix_deferred(&f->m));
	tbl_wr32(f, 1 * 16 + 8, 0x61); /* unmasked: the guest breaks the rules; no matter */
	pci_msix_raise_vcpu(&f->m, 1);
	pci_msix_raise_vcpu(&f->m, NVEC); /* out of range: nothing */
	assert_int_equal(fake_fired(&f->irq, 1), 2);
	assert_int_equal(pba(f), 1 << 1);
	assert_true(pci_msix_deferred(&f->m));
	loop_run(f);
	assert_int_equal(fake_fired(&f->irq, 1), 3);
	assert_int_equal(f->irq.fired_data[1], 0x61);
	assert_int_equal(pba(f), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_capability, setup, teardown),
	    cmocka_unit_test(test_bad_init),
	    cmocka_unit_test_setup_teardown(test_initial_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deliver, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_vector_mask_pending, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_function_mask_and_enable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_odd_accesses, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_new_message_waits_for_loop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_masked_again_stays_pending, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_raise_on_vcpu, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
