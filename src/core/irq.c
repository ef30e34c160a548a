// SPDX-License-Identifier: Apache-2.0
/*
 * Interrupts through the in-kernel irqchip: IOAPIC lines (KVM_IRQ_LINE), and the
 * MSI backend devices reach through struct irq_chip: GSI routing, irqfds, ioeventfds.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kvmrun/irq.h"
#include "kvmrun/kvm.h"
#include "kvmrun/log.h"

#define IRQ_KVM_PIC_PINS 16
/* The x86 irqchips' numbers in routing entries (arm64's headers do not name them). */
#define IRQ_KVM_CHIP_PIC_MASTER 0
#define IRQ_KVM_CHIP_PIC_SLAVE 1
#define IRQ_KVM_CHIP_IOAPIC 2
#ifdef KVM_IRQCHIP_IOAPIC
_Static_assert(IRQ_KVM_CHIP_PIC_MASTER == KVM_IRQCHIP_PIC_MASTER &&
	       IRQ_KVM_CHIP_PIC_SLAVE == KVM_IRQCHIP_PIC_SLAVE &&
	       IRQ_KVM_CHIP_IOAPIC == KVM_IRQCHIP_IOAPIC, "KVM's irqchip numbers");
#endif
/* The routing table: every GSI may have two routes (IOAPIC and PIC for 0-15). */
#define IRQ_KVM_TABLE_BYTES                                                                        \
	(sizeof(struct kvm_irq_routing) +                                                          \
	 IRQ_KVM_MAX_ROUTES * 2 * sizeof(struct kvm_irq_routing_entry))

static int irq_kvm_set_level(void *opaque, uint32_t gsi, bool level)
{
	const int *vm_fd = opaque;
	struct kvm_irq_level irq = {.irq = gsi, .level = level};

	return kvm_ioctl_ptr(*vm_fd, KVM_IRQ_LINE, &irq) < 0 ? -1 : 0;
}

void irq_line_init_kvm(struct irq_line *line, int *vm_fd, uint32_t gsi)
{
	line->set_level = irq_kvm_set_level;
	line->opaque = vm_fd;
	line->gsi = gsi;
}

struct irq_msi {
	struct irq_kvm *k;
	uint32_t gsi;
	int fd;
	bool routed; /* has a message, so a route in the table */
	uint64_t addr;
	uint32_t data;
	uint32_t devid;
};

struct irq_kvm {
	int vm_fd;
	unsigned int flags; /* IRQ_KVM_PC_PINS, IRQ_KVM_MSI_DEVID */
	uint64_t pio_mmio;  /* where ports appear in memory space; 0: port I/O */
	uint64_t spi_doorbell;	       /* irq_kvm_set_msi_spi(); 0: none */
	uint32_t spi_first, spi_count; /* the interrupt IDs it takes */
	pthread_mutex_t lock; /* the GSI table and the routing ioctl */
	struct irq_msi *gsi[IRQ_KVM_MAX_ROUTES];
	struct kvm_irq_routing *table; /* scratch for the ioctl */
	struct log_ratelimit rl;       /* messages come from the guest */
};

static void irq_kvm_pin_route(struct kvm_irq_routing_entry *e, uint32_t gsi, uint32_t chip,
			      uint32_t pin)
{
	memset(e, 0, sizeof(*e));
	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_IRQCHIP;
	e->u.irqchip.irqchip = chip;
	e->u.irqchip.pin = pin;
}

/*
 * Setting routes replaces KVM's whole default table, so it is rebuilt here each time:
 * GSIs 0-15 to the IOAPIC pin and the PIC, 16-23 to the IOAPIC, then the MSI routes.
 * Called with the lock held.
 */
static int irq_kvm_commit(struct irq_kvm *k)
{
	struct kvm_irq_routing *t = k->table;
	uint32_t n = 0;
	int ret;

	for (uint32_t gsi = 0; gsi < IRQ_KVM_FIRST_MSI_GSI && (k->flags & IRQ_KVM_PC_PINS); gsi++) {
		irq_kvm_pin_route(&t->entries[n++], gsi, IRQ_KVM_CHIP_IOAPIC, gsi);
		if (gsi < IRQ_KVM_PIC_PINS)
			irq_kvm_pin_route(&t->entries[n++], gsi,
					  gsi < 8 ? IRQ_KVM_CHIP_PIC_MASTER : IRQ_KVM_CHIP_PIC_SLAVE,
					  gsi % 8);
	}
	for (uint32_t gsi = IRQ_KVM_FIRST_MSI_GSI; gsi < IRQ_KVM_MAX_ROUTES; gsi++) {
		const struct irq_msi *m = k->gsi[gsi];
		struct kvm_irq_routing_entry *e;

		if (!m || !m->routed)
			continue;
		if (k->spi_doorbell && m->addr == k->spi_doorbell) {
			/* The guest's message: an SPI outside the range has no route. */
			if (m->data < k->spi_first || m->data - k->spi_first >= k->spi_count) {
				log_ratelimited(&k->rl, LOG_WARN,
						"MSI to interrupt %u, outside the MSI SPIs", m->data);
				continue;
			}
			irq_kvm_pin_route(&t->entries[n++], gsi, 0, m->data - IRQ_KVM_GIC_SPI_BASE);
			continue;
		}
		e = &t->entries[n++];
		memset(e, 0, sizeof(*e));
		e->gsi = gsi;
		e->type = KVM_IRQ_ROUTING_MSI;
		e->u.msi.address_lo = (uint32_t)m->addr;
		e->u.msi.address_hi = (uint32_t)(m->addr >> 32);
		e->u.msi.data = m->data;
		if (k->flags & IRQ_KVM_MSI_DEVID) {
			e->flags = KVM_MSI_VALID_DEVID;
			e->u.msi.devid = m->devid;
		}
	}
	t->nr = n;
	t->flags = 0;
	ret = kvm_ioctl_var(k->vm_fd, KVM_SET_GSI_ROUTING, t, nr, IRQ_KVM_TABLE_BYTES);
	if (ret < 0)
		log_ratelimited(&k->rl, LOG_ERROR, "KVM_SET_GSI_ROUTING (%u routes): %s", n,
				strerror(-ret));
	return ret < 0 ? ret : 0;
}

static int irq_kvm_msi_create(void *opaque, struct irq_msi **out)
{
	struct irq_kvm *k = opaque;
	struct kvm_irqfd irqfd = {0};
	struct irq_msi *m;
	uint32_t gsi;
	int ret;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->k = k;
	m->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->fd < 0) {
		ret = -errno;
		goto err_free;
	}
	pthread_mutex_lock(&k->lock);
	for (gsi = IRQ_KVM_FIRST_MSI_GSI; gsi < IRQ_KVM_MAX_ROUTES && k->gsi[gsi]; gsi++)
		;
	if (gsi == IRQ_KVM_MAX_ROUTES) {
		pthread_mutex_unlock(&k->lock);
		ret = -ENOSPC;
		goto err_close;
	}
	k->gsi[gsi] = m;
	m->gsi = gsi;
	pthread_mutex_unlock(&k->lock);
	irqfd.fd = (uint32_t)m->fd;
	irqfd.gsi = gsi;
	ret = kvm_ioctl_ptr(k->vm_fd, KVM_IRQFD, &irqfd);
	if (ret < 0) {
		log_err("KVM_IRQFD (gsi %u): %s", gsi, strerror(-ret));
		goto err_gsi;
	}
	*out = m;
	return 0;

err_gsi:
	pthread_mutex_lock(&k->lock);
	k->gsi[gsi] = NULL;
	pthread_mutex_unlock(&k->lock);
err_close:
	close(m->fd);
err_free:
	free(m);
	return ret;
}

static int irq_kvm_msi_update(void *opaque, struct irq_msi *m, uint64_t addr, uint32_t data,
			      uint32_t devid)
{
	struct irq_kvm *k = opaque;
	int ret = 0;

	pthread_mutex_lock(&k->lock);
	if (!m->routed || m->addr != addr || m->data != data || m->devid != devid) {
		m->routed = true;
		m->addr = addr;
		m->data = data;
		m->devid = devid;
		ret = irq_kvm_commit(k);
	}
	pthread_mutex_unlock(&k->lock);
	return ret;
}

static void irq_kvm_msi_fire(void *opaque, struct irq_msi *m)
{
	uint64_t one = 1;

	(void)opaque;
	if (write(m->fd, &one, sizeof(one)) != sizeof(one))
		log_debug("MSI gsi %u: eventfd write failed", m->gsi);
}

/* The irqfd itself: KVM injects the vector's route whenever the eventfd is written. */
static int irq_kvm_msi_fd(void *opaque, struct irq_msi *m)
{
	(void)opaque;
	return m->fd;
}

static void irq_kvm_msi_destroy(void *opaque, struct irq_msi *m)
{
	struct irq_kvm *k = opaque;
	struct kvm_irqfd irqfd = {
	    .fd = (uint32_t)m->fd, .gsi = m->gsi, .flags = KVM_IRQFD_FLAG_DEASSIGN};
	int ret;

	ret = kvm_ioctl_ptr(k->vm_fd, KVM_IRQFD, &irqfd);
	if (ret < 0)
		log_debug("KVM_IRQFD deassign (gsi %u): %s", m->gsi, strerror(-ret));
	pthread_mutex_lock(&k->lock);
	k->gsi[m->gsi] = NULL;
	if (m->routed)
		(void)irq_kvm_commit(k);
	pthread_mutex_unlock(&k->lock);
	close(m->fd);
	free(m);
}

static int irq_kvm_ioeventfd(void *opaque, int fd, bool pio, uint64_t addr, uint32_t len,
			     uint64_t datamatch, bool assign)
{
	struct irq_kvm *k = opaque;
	struct kvm_ioeventfd io;
	int ret;

	if (pio && k->pio_mmio) { /* the port is an address of the I/O window */
		addr += k->pio_mmio;
		pio = false;
	}
	io = (struct kvm_ioeventfd){
	    .datamatch = datamatch,
	    .addr = addr,
	    .len = len,
	    .fd = fd,
	    .flags = KVM_IOEVENTFD_FLAG_DATAMATCH | (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) |
		     (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};

	ret = kvm_ioctl_ptr(k->vm_fd, KVM_IOEVENTFD, &io);
	if (ret < 0)
		log_ratelimited(&k->rl, LOG_WARN, "KVM_IOEVENTFD %s at %s 0x%llx: %s",
				assign ? "assign" : "deassign", pio ? "port" : "address",
				(unsigned long long)addr, strerror(-ret));
	return ret < 0 ? ret : 0;
}

static const struct irq_chip_ops irq_kvm_ops = {
    .msi_create = irq_kvm_msi_create,
    .msi_update = irq_kvm_msi_update,
    .msi_fire = irq_kvm_msi_fire,
    .msi_destroy = irq_kvm_msi_destroy,
    .msi_fd = irq_kvm_msi_fd,
    .ioeventfd = irq_kvm_ioeventfd,
};

int irq_kvm_create(struct irq_kvm **out, int vm_fd, struct irq_chip *chip)
{
	return irq_kvm_create_flags(out, vm_fd, IRQ_KVM_PC_PINS, chip);
}

int irq_kvm_create_flags(struct irq_kvm **out, int vm_fd, unsigned int flags,
			 struct irq_chip *chip)
{
	struct irq_kvm *k;
	int ret;

	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->vm_fd = vm_fd;
	k->flags = flags;
	k->table = calloc(1, IRQ_KVM_TABLE_BYTES);
	if (!k->table) {
		ret = -ENOMEM;
		goto err_free;
	}
	ret = -pthread_mutex_init(&k->lock, NULL);
	if (ret)
		goto err_table;
	/*
	 * KVM_CREATE_IRQCHIP already installed the table irq_kvm_commit() starts with
	 * (GSIs 0-15 to the IOAPIC and the PIC, 16-23 to the IOAPIC), so the first
	 * routing ioctl waits for the first MSI route. Setting it now would only cost the
	 * start a wait for KVM's interrupt-routing grace period (milliseconds on a busy
	 * host); asking whether routing is there checks vm_fd as well.
	 */
	ret = kvm_ioctl_val(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_ROUTING);
	if (ret <= 0) {
		ret = ret ? ret : -EOPNOTSUPP;
		goto err_mutex;
	}
	chip->ops = &irq_kvm_ops;
	chip->opaque = k;
	*out = k;
	return 0;

err_mutex:
	pthread_mutex_destroy(&k->lock);
err_table:
	free(k->table);
err_free:
	free(k);
	return ret;
}

void irq_kvm_set_pio_mmio(struct irq_kvm *k, uint64_t base)
{
	k->pio_mmio = base;
}

void irq_kvm_set_msi_spi(struct irq_kvm *k, uint64_t doorbell, uint32_t first, uint32_t count)
{
	k->spi_doorbell = doorbell;
	k->spi_first = first;
	k->spi_count = count;
}

void irq_kvm_destroy(struct irq_kvm *k)
{
	if (!k)
		return;
	pthread_mutex_destroy(&k->lock);
	free(k->table);
	free(k);
}
