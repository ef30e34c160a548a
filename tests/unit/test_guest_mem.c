// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kvmrun/guest_mem.h"

#define R0_GPA 0x1000ULL
#define R0_SIZE 0x4000ULL
#define R1_GPA 0x10000ULL
#define R1_SIZE 0x2000ULL

struct fixture {
	struct guest_mem gm;
	uint8_t r0[R0_SIZE];
	uint8_t r1[R1_SIZE];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(gm_add_region(&f->gm, R0_GPA, R0_SIZE, f->r0), 0);
	assert_int_equal(gm_add_region(&f->gm, R1_GPA, R1_SIZE, f->r1), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

static void test_regions_and_total(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(f->gm.nr_regions, 2);
	assert_int_equal(f->gm.regions[0].gpa, R0_GPA);
	assert_int_equal(f->gm.regions[0].size, R0_SIZE);
	assert_ptr_equal(f->gm.regions[0].host, f->r0);
	assert_int_equal(f->gm.regions[1].gpa, R1_GPA);
	assert_ptr_equal(f->gm.regions[1].host, f->r1);
	assert_int_equal(gm_total(&f->gm), R0_SIZE + R1_SIZE);
}

static void test_ptr_inside_and_edges(void **state)
{
	struct fixture *f = *state;

	/* First byte, middle, last byte, whole region. */
	assert_ptr_equal(gm_ptr(&f->gm, R0_GPA, 1), f->r0);
	assert_ptr_equal(gm_ptr(&f->gm, R0_GPA + 0x123, 8), f->r0 + 0x123);
	assert_ptr_equal(gm_ptr(&f->gm, R0_GPA + R0_SIZE - 1, 1), f->r0 + R0_SIZE - 1);
	assert_ptr_equal(gm_ptr(&f->gm, R0_GPA, R0_SIZE), f->r0);
	assert_ptr_equal(gm_ptr(&f->gm, R1_GPA + R1_SIZE - 4, 4), f->r1 + R1_SIZE - 4);

	/* One byte past the end, and ranges crossing either edge. */
	assert_null(gm_ptr(&f->gm, R0_GPA + R0_SIZE, 1));
	assert_null(gm_ptr(&f->gm, R0_GPA + R0_SIZE - 1, 2));
	assert_null(gm_ptr(&f->gm, R0_GPA, R0_SIZE + 1));
	assert_null(gm_ptr(&f->gm, R0_GPA - 1, 1));
	assert_null(gm_ptr(&f->gm, R0_GPA - 1, 2));
	assert_null(gm_ptr(&f->gm, 0, 1));
	assert_null(gm_ptr(&f->gm, R1_GPA + R1_SIZE, 1));
}

static void test_ptr_len_zero(void **state)
{
	struct fixture *f = *state;

	assert_null(gm_ptr(&f->gm, R0_GPA, 0));
	assert_null(gm_ptr(&f->gm, R0_GPA + 0x10, 0));
}

static void test_ptr_wrap(void **state)
{
	struct fixture *f = *state;
	struct guest_mem gm = { 0 };
	static uint8_t top[0x1000];

	assert_null(gm_ptr(&f->gm, UINT64_MAX - 1, 4));
	assert_null(gm_ptr(&f->gm, UINT64_MAX, 2));
	/* A wrapped range ending inside region 0 must not be found there. */
	assert_null(gm_ptr(&f->gm, UINT64_MAX - 0xf, R0_GPA + 0x20));

	/* A region just below the top of the address space. */
	assert_int_equal(gm_add_region(&gm, UINT64_MAX - 0x1000, 0x1000, top), 0);
	assert_ptr_equal(gm_ptr(&gm, UINT64_MAX - 1, 1), top + 0xfff);
	assert_null(gm_ptr(&gm, UINT64_MAX - 1, 4));
	assert_null(gm_ptr(&gm, UINT64_MAX - 0x1000, UINT64_MAX));
}

static void test_ptr_spanning_regions_refused(void **state)
{
	struct guest_mem gm = { 0 };
	uint8_t *buf = malloc(0x2000);

	(void)state;
	assert_non_null(buf);
	/* Two adjacent regions, contiguous even in host memory. */
	assert_int_equal(gm_add_region(&gm, 0x0, 0x1000, buf), 0);
	assert_int_equal(gm_add_region(&gm, 0x1000, 0x1000, buf + 0x1000), 0);
	assert_ptr_equal(gm_ptr(&gm, 0xff0, 0x10), buf + 0xff0);
	assert_ptr_equal(gm_ptr(&gm, 0x1000, 0x10), buf + 0x1000);
	assert_null(gm_ptr(&gm, 0xff0, 0x11));
	assert_null(gm_ptr(&gm, 0x0, 0x2000));
	free(buf);
}

static void test_add_region_refusals(void **state)
{
	struct fixture *f = *state;
	uint8_t dummy[16];
	struct guest_mem gm = { 0 };

	/* Exact, partial below, partial above, contained, containing. */
	assert_int_equal(gm_add_region(&f->gm, R0_GPA, R0_SIZE, dummy), -EEXIST);
	assert_int_equal(gm_add_region(&f->gm, 0, R0_GPA + 1, dummy), -EEXIST);
	assert_int_equal(gm_add_region(&f->gm, R0_GPA + R0_SIZE - 1, 0x10, dummy), -EEXIST);
	assert_int_equal(gm_add_region(&f->gm, R0_GPA + 0x10, 0x10, dummy), -EEXIST);
	assert_int_equal(gm_add_region(&f->gm, 0, 0x100000, dummy), -EEXIST);
	assert_int_equal(f->gm.nr_regions, 2);

	/* Adjacent on either side is fine. */
	assert_int_equal(gm_add_region(&f->gm, 0, R0_GPA, dummy), 0);
	assert_int_equal(gm_add_region(&f->gm, R0_GPA + R0_SIZE, 0x100, dummy), 0);
	assert_int_equal(f->gm.nr_regions, 4);
	/* Full. */
	assert_int_equal(gm_add_region(&f->gm, 0x100000, 0x100, dummy), -ENOSPC);

	/* Zero size, NULL host, wrapping. */
	assert_int_equal(gm_add_region(&gm, 0x1000, 0, dummy), -EINVAL);
	assert_int_equal(gm_add_region(&gm, 0x1000, 0x1000, NULL), -EINVAL);
	assert_int_equal(gm_add_region(&gm, UINT64_MAX - 0xfff, 0x2000, dummy), -EINVAL);
	assert_int_equal(gm.nr_regions, 0);
}

static void test_read_write(void **state)
{
	struct fixture *f = *state;
	uint8_t in[64], out[64];

	for (unsigned int i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(gm_write(&f->gm, R1_GPA + 0x100, in, sizeof(in)), 0);
	assert_memory_equal(f->r1 + 0x100, in, sizeof(in));
	memset(out, 0, sizeof(out));
	assert_int_equal(gm_read(&f->gm, out, R1_GPA + 0x100, sizeof(out)), 0);
	assert_memory_equal(out, in, sizeof(in));

	/* Last bytes of a region. */
	assert_int_equal(gm_write(&f->gm, R0_GPA + R0_SIZE - 4, in, 4), 0);
	assert_memory_equal(f->r0 + R0_SIZE - 4, in, 4);

	/* Faults leave memory and the destination untouched. */
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(gm_read(&f->gm, out, R0_GPA + R0_SIZE - 4, 5), -EFAULT);
	assert_int_equal(out[0], 0xaa);
	assert_int_equal(gm_read(&f->gm, out, 0x100000, 1), -EFAULT);
	assert_int_equal(gm_read(&f->gm, out, R0_GPA, 0), -EFAULT);
	assert_int_equal(gm_write(&f->gm, R0_GPA + R0_SIZE - 1, in, 2), -EFAULT);
	assert_int_equal(f->r0[R0_SIZE - 1], in[3]);
	assert_int_equal(gm_write(&f->gm, UINT64_MAX - 1, in, 4), -EFAULT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_regions_and_total, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ptr_inside_and_edges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ptr_len_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ptr_wrap, setup, teardown),
		cmocka_unit_test(test_ptr_spanning_regions_refused),
		cmocka_unit_test_setup_teardown(test_add_region_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_write, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
