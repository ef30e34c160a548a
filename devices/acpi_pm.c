// SPDX-License-Identifier: Apache-2.0
/*
 * The ACPI hardware-reduced sleep control, sleep status and reset registers
 * (FADT SLEEP_CONTROL_REG, SLEEP_STATUS_REG, RESET_REG), one byte each.
 * Only S5 is a sleep state here; the others are ignored.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "platform.h"
#include "kvmrun/log.h"

#define ACPI_SLP_EN 0x20
#define ACPI_SLP_TYP_SHIFT 2
#define ACPI_SLP_TYP_MASK 0x7

struct acpi_pm {
	struct device dev;
	pthread_mutex_t lock;
	struct platform_sink sink;
	uint8_t reset_value, s5_slp_typ;
	struct log_ratelimit rl;
};

static void acpi_pm_event(struct acpi_pm *pm, enum platform_event ev)
{
	if (pm->sink.event)
		pm->sink.event(pm->sink.opaque, ev);
}

/*
 * Answers reads (0: no wake status; all ones for widths other than 1) and
 * drops odd-width writes. False for a byte write, for the caller to handle.
 */
static bool acpi_pm_not_a_write(uint8_t *data, uint32_t len, bool is_write)
{
	if (is_write && len == 1)
		return false;
	if (!is_write)
		memset(data, len == 1 ? 0 : 0xff, len);
	return true;
}

static void acpi_pm_sleep_ctl_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
				 bool is_write)
{
	struct acpi_pm *pm = opaque;
	unsigned int typ;

	if (acpi_pm_not_a_write(data, len, is_write))
		return;
	if (!(data[0] & ACPI_SLP_EN))
		return;
	typ = (data[0] >> ACPI_SLP_TYP_SHIFT) & ACPI_SLP_TYP_MASK;
	if (typ == pm->s5_slp_typ)
		acpi_pm_event(pm, PLATFORM_POWEROFF);
	else
		log_ratelimited(&pm->rl, LOG_DEBUG, "acpi: sleep type %u ignored", typ);
}

static void acpi_pm_sleep_sts_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
				 bool is_write)
{
	/* Writes (one to clear WAK_STS) have nothing to clear. */
	acpi_pm_not_a_write(data, len, is_write);
}

static void acpi_pm_reset_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			     bool is_write)
{
	struct acpi_pm *pm = opaque;

	if (acpi_pm_not_a_write(data, len, is_write))
		return;
	if (data[0] == pm->reset_value)
		acpi_pm_event(pm, PLATFORM_RESET);
}

static void acpi_pm_destroy(struct device *dev)
{
	struct acpi_pm *pm = container_of(dev, struct acpi_pm, dev);

	pthread_mutex_destroy(&pm->lock);
	free(pm);
}

int acpi_pm_create(struct device **list, struct bus *pio, const struct acpi_pm_regs *regs,
		   const struct platform_sink *sink)
{
	const struct {
		uint16_t port;
		bus_fn fn;
		const char *name;
	} ranges[] = {
		{ regs->sleep_ctl, acpi_pm_sleep_ctl_io, "acpi-sleep-ctl" },
		{ regs->sleep_sts, acpi_pm_sleep_sts_io, "acpi-sleep-sts" },
		{ regs->reset, acpi_pm_reset_io, "acpi-reset" },
	};
	struct acpi_pm *pm;
	int ret;

	pm = calloc(1, sizeof(*pm));
	if (!pm)
		return -ENOMEM;
	pm->dev.name = "acpi-pm";
	pm->dev.destroy = acpi_pm_destroy;
	pm->sink = *sink;
	pm->reset_value = regs->reset_value;
	pm->s5_slp_typ = regs->s5_slp_typ;
	ret = -pthread_mutex_init(&pm->lock, NULL);
	if (ret)
		goto err_free;
	/* The bus has no removal: a failure here fails the whole VM before it runs. */
	for (size_t i = 0; i < ARRAY_SIZE(ranges); i++) {
		ret = bus_add(pio, ranges[i].port, 1, ranges[i].fn, pm, &pm->lock, ranges[i].name);
		if (ret)
			goto err_mutex;
	}
	pm->dev.next = *list;
	*list = &pm->dev;
	return 0;

err_mutex:
	pthread_mutex_destroy(&pm->lock);
err_free:
	free(pm);
	return ret;
}
