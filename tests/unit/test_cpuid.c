// SPDX-License-Identifier: Apache-2.0
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86_64/cpu.h"

#define HYPERVISOR (1U << 31)
#define HTT (1U << 28)

/* Values that have nothing to do with topology: must survive. */
#define L1_EBX 0x5a5a0800U /* junk in 31:16 to be replaced; 15:0 brand/clflush kept */
#define L1_ECX 0x00000201U
#define L1_EDX 0x078bfbffU /* HTT already set, as on a real host */
/* Cache leaves (4, 0x8000001d): L1d, L1i, L2, L3, then type 0; junk in 31:14. */
static const uint32_t cache_eax[] = { 0xfc004121U, 0xfc004122U, 0xfc004143U, 0xfc004163U,
				      0xfc004000U };
#define NCACHE (sizeof(cache_eax) / sizeof(cache_eax[0]))
#define LX1D_EAX_TOP 0xfc000000U /* reserved on AMD: kept */
#define L7_EBX 0x219c07abU
#define LX8_ECX 0x0003f0ffU /* perf TSC size etc. in 17:16; junk in NC and ApicIdCoreIdSize */

static struct cpu_cpuid *make_cpuid(void)
{
	struct cpu_cpuid *c = calloc(1, sizeof(*c));
	struct kvm_cpuid_entry2 *e;
	unsigned int n = 0;

	assert_non_null(c);
	e = c->entries;
	e[n++] = (struct kvm_cpuid_entry2){ .function = 0, .eax = 0x1f, .ebx = 0x756e6547 };
	e[n++] = (struct kvm_cpuid_entry2){ .function = 1, .eax = 0x000906ea, .ebx = L1_EBX,
					    .ecx = L1_ECX, .edx = L1_EDX };
	for (uint32_t i = 0; i < NCACHE; i++)
		e[n++] = (struct kvm_cpuid_entry2){ .function = 4, .index = i,
						    .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
						    .eax = cache_eax[i], .ebx = 0x01c0003f };
	for (uint32_t i = 0; i < NCACHE; i++)
		e[n++] = (struct kvm_cpuid_entry2){ .function = 0x8000001d, .index = i,
						    .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
						    .eax = cache_eax[i], .ebx = 0x01c0003f };
	e[n++] = (struct kvm_cpuid_entry2){ .function = 7, .ebx = L7_EBX, .ecx = 0x40000004 };
	for (uint32_t leaf = 0xb; leaf <= 0x1f; leaf += 0x1f - 0xb)
		for (uint32_t i = 0; i < 3; i++)
			e[n++] = (struct kvm_cpuid_entry2){
				.function = leaf, .index = i,
				.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
				.eax = 0xdead, .ebx = 0xbeef, .ecx = 0x1234, .edx = 0x77,
			};
	e[n++] = (struct kvm_cpuid_entry2){ .function = 0x80000008, .eax = 0x3030,
					    .ecx = LX8_ECX };
	c->nent = n;
	return c;
}

static const struct kvm_cpuid_entry2 *find(const struct cpu_cpuid *c, uint32_t fn, uint32_t idx)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == idx)
			return &c->entries[i];
	fail_msg("leaf %#x.%u missing", fn, idx);
	return NULL;
}

static unsigned int log2_ceil(unsigned int n)
{
	unsigned int s = 0;

	while ((1U << s) < n)
		s++;
	return s;
}

static void check_vcpu(unsigned int index, unsigned int count)
{
	struct cpu_cpuid *c = make_cpuid();
	struct cpu_cpuid *orig = make_cpuid();
	const struct kvm_cpuid_entry2 *e;
	uint32_t apic = cpu_apic_id(index);

	assert_int_equal(apic, index);
	cpu_cpuid_for_vcpu(c, index, count);
	assert_int_equal(c->nent, orig->nent);

	e = find(c, 1, 0);
	assert_int_equal(e->ebx >> 24, apic & 0xff); /* the initial xAPIC ID: 8 bits */
	assert_int_equal((e->ebx >> 16) & 0xff, count > 255 ? 255 : count);
	assert_int_equal(e->ebx & 0xffff, L1_EBX & 0xffff);
	assert_true(e->ecx & HYPERVISOR);
	assert_int_equal(e->ecx & ~HYPERVISOR, L1_ECX);
	assert_int_equal(!!(e->edx & HTT), count > 1);
	assert_int_equal(e->edx & ~HTT, L1_EDX & ~HTT);
	assert_int_equal(e->eax, 0x000906ea);

	/*
	 * Caches: L1 and L2 belong to one vCPU; L3 is shared by every APIC ID of
	 * the package, so that Linux's LLC ID (APIC ID with the sharing bits
	 * cleared) is the same on every vCPU; type 0 is left alone.
	 */
	for (uint32_t leaf = 4; leaf; leaf = leaf == 4 ? 0x8000001d : 0) {
		for (uint32_t i = 0; i < NCACHE; i++) {
			uint32_t level = (cache_eax[i] >> 5) & 7, share;

			e = find(c, leaf, i);
			assert_int_equal(e->eax & 0x3fff, cache_eax[i] & 0x3fff);
			assert_int_equal(e->ebx, 0x01c0003f);
			if (leaf == 4)
				assert_int_equal(e->eax >> 26, (count > 64 ? 64 : count) - 1);
			else
				assert_int_equal(e->eax & LX1D_EAX_TOP, cache_eax[i] & LX1D_EAX_TOP);
			share = (e->eax >> 14) & 0xfff;
			if (!(cache_eax[i] & 0x1f))
				assert_int_equal(share, (cache_eax[i] >> 14) & 0xfff);
			else if (level < 3)
				assert_int_equal(share, 0);
			else {
				assert_int_equal(share, (1U << log2_ceil(count)) - 1);
				assert_int_equal(apic >> log2_ceil(share + 1), 0); /* one LLC */
			}
		}
	}

	for (uint32_t leaf = 0xb; leaf <= 0x1f; leaf += 0x1f - 0xb) {
		e = find(c, leaf, 0);
		assert_int_equal(e->edx, apic);
		assert_int_equal(e->eax & 0x1f, 0);
		assert_int_equal(e->ebx & 0xffff, 1);
		assert_int_equal((e->ecx >> 8) & 0xff, 1); /* SMT */
		assert_int_equal(e->ecx & 0xff, 0);

		e = find(c, leaf, 1);
		assert_int_equal(e->edx, apic);
		assert_int_equal(e->ebx & 0xffff, count);
		assert_true((e->eax & 0x1f) >= log2_ceil(count));
		assert_true((1ULL << (e->eax & 0x1f)) >= count);
		/* Every APIC ID's package part is 0: one socket. */
		assert_int_equal(apic >> (e->eax & 0x1f), 0);
		assert_int_equal((e->ecx >> 8) & 0xff, 2); /* core */
		assert_int_equal(e->ecx & 0xff, 1);

		e = find(c, leaf, 2);
		assert_int_equal(e->edx, apic);
		assert_int_equal(e->ebx & 0xffff, 0);
		assert_int_equal((e->ecx >> 8) & 0xff, 0); /* invalid: end of levels */
		assert_int_equal(e->ecx & 0xff, 2);
	}

	e = find(c, 0x80000008, 0);
	/* NC is 8 bits: cores - 1, saturating; bits 11:8 are reserved. */
	assert_int_equal(e->ecx & 0xff, (count > 256 ? 256 : count) - 1);
	assert_true(((e->ecx >> 12) & 0xf) >= log2_ceil(count));
	assert_int_equal(e->ecx & ~0xf0ffU, LX8_ECX & ~0xf0ffU);
	assert_int_equal(e->eax, 0x3030);

	/* Unrelated leaves are untouched. */
	assert_memory_equal(find(c, 7, 0), find(orig, 7, 0), sizeof(struct kvm_cpuid_entry2));
	assert_memory_equal(find(c, 0, 0), find(orig, 0, 0), sizeof(struct kvm_cpuid_entry2));
	free(c);
	free(orig);
}

static void test_counts(void **state)
{
	static const unsigned int counts[] = { 1, 2, 3, 8, 64, 255, 300, 4096 };

	(void)state;
	for (unsigned int k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
		unsigned int n = counts[k];

		check_vcpu(0, n);
		check_vcpu(n - 1, n);
		check_vcpu(n / 2, n);
	}
}

/* Only leaves present in the table change; nothing is appended. */
static void test_empty_and_twice(void **state)
{
	struct cpu_cpuid *c = make_cpuid();
	struct cpu_cpuid *d = make_cpuid();

	(void)state;
	c->nent = 0;
	cpu_cpuid_for_vcpu(c, 3, 8);
	assert_int_equal(c->nent, 0);
	assert_memory_equal(c->entries, d->entries, sizeof(c->entries));

	/* Applying twice, for another vCPU, gives the same as applying once. */
	c->nent = d->nent;
	cpu_cpuid_for_vcpu(c, 5, 8);
	cpu_cpuid_for_vcpu(c, 2, 8);
	cpu_cpuid_for_vcpu(d, 2, 8);
	assert_memory_equal(c->entries, d->entries, d->nent * sizeof(d->entries[0]));
	free(c);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_empty_and_twice),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
