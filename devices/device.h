/* SPDX-License-Identifier: Apache-2.0 */
/* What every device shares: its place on the VM's list of devices. */
#ifndef KVMRUN_DEVICES_DEVICE_H
#define KVMRUN_DEVICES_DEVICE_H

/*
 * Every device links itself into the VM's list; the VM destroys the list in
 * reverse order of creation.
 */
struct device {
	const char *name;
	void (*destroy)(struct device *dev);
	struct device *next;
};

/* Destroys every device on the list, the last created first, and empties it. */
void devices_destroy(struct device **list);

#endif
