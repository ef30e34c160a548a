// SPDX-License-Identifier: Apache-2.0
#include "platform.h"

int platform_create(struct device **list, struct bus *pio, struct bus *mmio,
		    const struct platform_layout *at, const struct platform_sink *sink,
		    bool exit_port)
{
	int ret;

	ret = i8042_create(list, pio, at->i8042_data, at->i8042_cmd, sink);
	if (!ret)
		ret = rtc_cmos_create(list, pio, at->rtc);
	if (!ret)
		ret = pvpanic_create(list, mmio, at->pvpanic, sink);
	if (!ret)
		ret = acpi_pm_create(list, pio, &at->acpi_pm, sink);
	/*
	 * The exit port lets the guest pick kvmrun's exit status, including the
	 * ones that report kvmrun's own failures: only for test guests that
	 * asked for it. Without it the port is unclaimed, as any other: reads
	 * see all ones and writes go nowhere.
	 */
	if (!ret && exit_port)
		ret = exit_port_create(list, pio, at->exit_port, sink);
	return ret;
}

/*
 * Each constructor links its device at the head of the list, so walking from
 * the head destroys the devices in reverse order of creation.
 */
void devices_destroy(struct device **list)
{
	struct device *dev = *list;

	*list = NULL;
	while (dev) {
		struct device *next = dev->next;

		dev->destroy(dev);
		dev = next;
	}
}
