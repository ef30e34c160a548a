/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The platform devices at their places in the PC memory map (layout.h): what vm.c
 * builds, and what the tests and fuzz targets build the same way.
 */
#ifndef KVMRUN_ARCH_X86_64_PLATFORM_LAYOUT_H
#define KVMRUN_ARCH_X86_64_PLATFORM_LAYOUT_H

#include "arch/x86_64/layout.h"
#include "platform.h"

static const struct platform_layout pc_layout = {
	.i8042_data = PORT_I8042_DATA,
	.i8042_cmd = PORT_I8042_CMD,
	.rtc = PORT_RTC,
	.pvpanic = LAYOUT_PVPANIC_MMIO,
	.acpi_pm = {
		.sleep_ctl = PORT_ACPI_SLEEP_CTL,
		.sleep_sts = PORT_ACPI_SLEEP_STS,
		.reset = PORT_ACPI_RESET,
		.reset_value = ACPI_RESET_VALUE,
		.s5_slp_typ = ACPI_S5_SLP_TYP,
	},
	.exit_port = PORT_EXIT,
};

#endif
