// SPDX-License-Identifier: Apache-2.0
/*
 * The KVM interrupt backend without KVM: creating it on something that is not a VM
 * fails cleanly (the routing ioctl is refused) and leaves the chip untouched.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "kvmrun/irq.h"

static void test_not_a_vm(void **state)
{
	struct irq_chip chip = { 0 };
	struct irq_kvm *k = NULL;
	int fd;

	(void)state;
	assert_int_equal(irq_kvm_create(&k, -1, &chip), -EBADF);
	fd = open("/dev/null", O_RDWR);
	assert_true(fd >= 0);
	assert_true(irq_kvm_create(&k, fd, &chip) < 0);
	close(fd);
	assert_null(k);
	assert_null(chip.ops);
	irq_kvm_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_not_a_vm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
