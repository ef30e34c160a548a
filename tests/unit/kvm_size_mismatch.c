// SPDX-License-Identifier: Apache-2.0
/*
 * Compiled, never run, by kvm_compile.sh: each CASE_* misuses one KVM ioctl
 * wrapper and must not compile; CASE_OK uses each one right and must.
 */
#include "kvmrun/kvm.h"

int kvm_compile_case(int fd);

int kvm_compile_case(int fd)
{
	struct kvm_regs regs = {0};
	struct kvm_sregs sregs = {0};
	struct kvm_msrs msrs = {0};
	struct {
		uint32_t nent;
		uint32_t padding;
		struct kvm_cpuid_entry2 entries[4];
	} cpuid = {0};
	int ret = 0;

	(void)regs;
	(void)sregs;
	(void)msrs;
	(void)cpuid;
#if defined(CASE_OK)
	ret |= kvm_ioctl_ptr(fd, KVM_SET_REGS, &regs);
	ret |= kvm_ioctl_val(fd, KVM_RUN, 0);
	ret |= kvm_ioctl_var(fd, KVM_SET_MSRS, &msrs, nmsrs, sizeof(msrs));
#elif defined(CASE_PTR_SIZE)
	/* Another struct than the request's. */
	ret |= kvm_ioctl_ptr(fd, KVM_SET_REGS, &sregs);
#elif defined(CASE_VAL_STRUCT)
	/* A request that carries a struct, called as a value. */
	ret |= kvm_ioctl_val(fd, KVM_SET_REGS, &regs);
#elif defined(CASE_PTR_VALUE)
	/* A value request called with a pointer. */
	ret |= kvm_ioctl_ptr(fd, KVM_RUN, &regs);
#elif defined(CASE_VAR_HEADER)
	/* The whole buffer instead of its header (only the sizes are compared). */
	ret |= kvm_ioctl_var(fd, KVM_SET_CPUID2, &cpuid, nent, sizeof(cpuid));
#else
#error no case
#endif
	return ret;
}
