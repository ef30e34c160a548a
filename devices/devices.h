/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every device header at once, for code that builds a whole machine. Code below
 * the top layer includes the header of its subject instead.
 */
#ifndef KVMRUN_DEVICES_H
#define KVMRUN_DEVICES_H

#include "backend/console.h"
#include "device.h"
#include "kvmrun/bus.h"
#include "kvmrun/event_loop.h"
#include "kvmrun/irq.h"
#include "pci.h"
#include "platform.h"
#include "virtio/devices.h"

#endif
