// SPDX-License-Identifier: Apache-2.0
/*
 * The KVM ioctl wrappers without KVM: the size check of header-plus-entries
 * arguments refuses what does not fit before any call reaches the kernel, and a
 * failure comes back as -errno with a message naming the ioctl. (The fixed sizes
 * are checked at compile time: tests/unit/kvm_size_mismatch.c.)
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kvmrun/kvm.h"
#include "kvmrun/log.h"

/* A struct kvm_cpuid2 with room for four entries. */
struct cpuid4 {
	uint32_t nent;
	uint32_t padding;
	struct kvm_cpuid_entry2 entries[4];
};

/* Runs fn with stderr going to a file; returns what was written (free it). */
static char *capture_stderr(void (*fn)(void *), void *arg)
{
	char path[] = "/tmp/test_kvm.XXXXXX";
	int fd = mkstemp(path), saved;
	char *buf = calloc(1, 4096);
	ssize_t n;

	assert_true(fd >= 0);
	assert_non_null(buf);
	unlink(path);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	fn(arg);
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	n = pread(fd, buf, 4095, 0);
	assert_true(n >= 0);
	close(fd);
	return buf;
}

static void test_size_check(void **state)
{
	const size_t hdr = sizeof(struct kvm_cpuid2), ent = sizeof(struct kvm_cpuid_entry2);

	(void)state;
	assert_int_equal(kvm_var_size_check("T", hdr, 0, ent, hdr), 0);
	assert_int_equal(kvm_var_size_check("T", hdr, 4, ent, hdr + 4 * ent), 0);
	assert_int_equal(kvm_var_size_check("T", hdr, 4, ent, hdr + 4 * ent + 1), 0);
	assert_int_equal(kvm_var_size_check("T", hdr, 4, ent, hdr + 4 * ent - 1), -EINVAL);
	assert_int_equal(kvm_var_size_check("T", hdr, 5, ent, hdr + 4 * ent), -EINVAL);
	assert_int_equal(kvm_var_size_check("T", hdr, 0, ent, hdr - 1), -EINVAL);
	/* A count whose product with the entry size wraps around. */
	assert_int_equal(kvm_var_size_check("T", hdr, UINT64_MAX / ent + 1, ent, SIZE_MAX),
			 -EINVAL);
	assert_int_equal(kvm_var_size_check("T", SIZE_MAX, 1, ent, SIZE_MAX), -EINVAL);
}

static void call_set_cpuid_too_many(void *arg)
{
	struct cpuid4 *c = arg;

	/* On a closed fd: reaching the kernel would give -EBADF. */
	c->nent = 5;
	assert_int_equal(
	    kvm_ioctl_var(-1, KVM_SET_CPUID2, (struct kvm_cpuid2 *)c, nent, sizeof(*c)), -EINVAL);
	c->nent = 4;
	assert_int_equal(
	    kvm_ioctl_var(-1, KVM_SET_CPUID2, (struct kvm_cpuid2 *)c, nent, sizeof(*c)), -EBADF);
	c->nent = 1;
	assert_int_equal(kvm_ioctl_var(-1, KVM_SET_CPUID2, (struct kvm_cpuid2 *)c, nent,
				       offsetof(struct cpuid4, entries[1])),
			 -EBADF);
}

static void test_var_refused_before_the_call(void **state)
{
	struct cpuid4 c = {0};
	char *err;

	(void)state;
	err = capture_stderr(call_set_cpuid_too_many, &c);
	assert_non_null(strstr(err, "KVM_SET_CPUID2: 5 entries"));
	free(err);
}

static void call_on_not_kvm(void *arg)
{
	struct kvm_regs regs = {0};
	int fd = open("/dev/null", O_RDWR);

	(void)arg;
	assert_true(fd >= 0);
	assert_int_equal(kvm_ioctl_ptr(fd, KVM_GET_REGS, &regs), -ENOTTY);
	assert_int_equal(kvm_ioctl_val(fd, KVM_CREATE_VCPU, 0), -ENOTTY);
	assert_int_equal(kvm_ioctl_val(-1, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP), -EBADF);
	close(fd);
}

static void test_failures_name_the_ioctl(void **state)
{
	enum log_level old = log_get_level();
	char *err;

	(void)state;
	log_set_level(LOG_DEBUG);
	err = capture_stderr(call_on_not_kvm, NULL);
	log_set_level(old);
	assert_non_null(strstr(err, "KVM_GET_REGS: "));
	assert_non_null(strstr(err, "KVM_CREATE_VCPU: "));
	assert_non_null(strstr(err, "KVM_CHECK_EXTENSION: "));
	assert_non_null(strstr(err, strerror(ENOTTY)));
	assert_non_null(strstr(err, strerror(EBADF)));
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_size_check),
	    cmocka_unit_test(test_var_refused_before_the_call),
	    cmocka_unit_test(test_failures_name_the_ioctl),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
