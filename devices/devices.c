// SPDX-License-Identifier: Apache-2.0
#include "devices.h"

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
