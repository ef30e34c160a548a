// SPDX-License-Identifier: Apache-2.0
/*
 * A freestanding arm64 test guest. It reads the device tree it was booted with,
 * prints on the UART the tree names (a 16550, or a PL011), and then does what
 * its command line (/chosen/bootargs) asks:
 *   case=off    PSCI SYSTEM_OFF (the default)
 *   case=reset  PSCI SYSTEM_RESET
 *   case=smp    starts every other CPU of /cpus with PSCI CPU_ON, one at a time;
 *               each prints its index and MPIDR and stops with CPU_OFF; then SYSTEM_OFF
 *   case=halt   stops in WFI with interrupts masked (a hung guest)
 *   case=panic  writes "panicked" (1) to the tree's pvpanic-mmio register, as Linux's
 *               driver does on a panic; the VMM is expected to end there
 * Anything going wrong prints a line starting with "FAIL".
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PSCI_VERSION 0x84000000u
#define PSCI_CPU_OFF 0x84000002u
#define PSCI_CPU_ON 0xc4000003u
#define PSCI_SYSTEM_OFF 0x84000008u
#define PSCI_SYSTEM_RESET 0x84000009u

#define FDT_MAGIC 0xd00dfeedu
#define FDT_BEGIN_NODE 1u
#define FDT_END_NODE 2u
#define FDT_PROP 3u
#define FDT_NOP 4u
#define FDT_END 9u

#define MAX_CPUS 8
#define MAX_DEPTH 8
#define SPIN_LIMIT 100000000ul

enum uart_kind { UART_NONE, UART_16550, UART_PL011 };

struct uart {
	enum uart_kind kind;
	uintptr_t base;
	unsigned int shift;
	unsigned int width;
};

struct machine {
	struct uart uart;
	uint64_t mpidr[MAX_CPUS];
	unsigned int ncpus;
	const char *bootargs;
	unsigned int bootargs_len;
	bool psci_hvc;
	bool has_psci;
	bool has_gic;
	bool has_timer;
	bool has_rtc;
	bool has_pci;
	uintptr_t pvpanic; /* 0: none in the tree */
};

/* Set by each secondary CPU when it has printed; read by the primary. */
struct smp_state {
	volatile uint64_t done[MAX_CPUS];
	struct machine *m;
};

static struct smp_state smp;

long fw_psci(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3);
void fw_secondary_entry(void);
void fw_main(const void *dtb);
void fw_secondary(uint64_t idx);

void *memset(void *d, int c, size_t n);
void *memset(void *d, int c, size_t n)
{
	unsigned char *p = d;

	while (n--)
		*p++ = (unsigned char)c;
	return d;
}

static uint32_t be32(const void *p)
{
	const uint8_t *b = p;

	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static uint64_t be_cells(const void *p, unsigned int cells)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < cells; i++)
		v = v << 32 | be32((const uint8_t *)p + 4 * i);
	return v;
}

static unsigned int str_len(const char *s)
{
	unsigned int n = 0;

	while (s[n])
		n++;
	return n;
}

static bool str_eq(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

static bool prefix(const char *s, unsigned int len, const char *p)
{
	unsigned int n = str_len(p);

	if (n > len)
		return false;
	for (unsigned int i = 0; i < n; i++)
		if (s[i] != p[i])
			return false;
	return true;
}

/* Whether the string list (a compatible property) holds s. */
static bool strlist_has(const char *list, unsigned int len, const char *s)
{
	unsigned int i = 0;

	while (i < len) {
		if (str_eq(list + i, s))
			return true;
		i += str_len(list + i) + 1;
	}
	return false;
}

static void mmio_write(const struct uart *u, unsigned int reg, uint32_t v)
{
	uintptr_t a = u->base + ((uintptr_t)reg << u->shift);

	if (u->width == 4)
		*(volatile uint32_t *)a = v;
	else
		*(volatile uint8_t *)a = (uint8_t)v;
}

static uint32_t mmio_read(const struct uart *u, unsigned int reg)
{
	uintptr_t a = u->base + ((uintptr_t)reg << u->shift);

	return u->width == 4 ? *(volatile uint32_t *)a : *(volatile uint8_t *)a;
}

static void putc_(const struct uart *u, char c)
{
	unsigned long spin = 0;

	if (u->kind == UART_16550) {
		while (!(mmio_read(u, 5) & 0x20) && spin++ < SPIN_LIMIT) /* LSR.THRE */
			;
		mmio_write(u, 0, (uint8_t)c);
	} else if (u->kind == UART_PL011) {
		while ((*(volatile uint32_t *)(u->base + 0x18) & 0x20) && spin++ < SPIN_LIMIT)
			;
		*(volatile uint32_t *)u->base = (uint8_t)c;
	}
}

static void puts_(const struct uart *u, const char *s)
{
	for (; *s; s++) {
		if (*s == '\n')
			putc_(u, '\r');
		putc_(u, *s);
	}
}

static void putn_(const struct uart *u, const char *s, unsigned int n)
{
	for (unsigned int i = 0; i < n && s[i]; i++)
		putc_(u, s[i]);
}

static void putu_(const struct uart *u, uint64_t v)
{
	char buf[24];
	int i = 0;

	do {
		buf[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (i)
		putc_(u, buf[--i]);
}

static void putx_(const struct uart *u, uint64_t v)
{
	int shift = 60;

	puts_(u, "0x");
	while (shift > 0 && !(v >> shift))
		shift -= 4;
	for (; shift >= 0; shift -= 4)
		putc_(u, "0123456789abcdef"[(v >> shift) & 0xf]);
}

/* The properties of a node being read, acted on at its end. */
struct fdt_node {
	const char *compat, *dtype, *method;
	const uint8_t *reg;
	unsigned int compat_len, reg_len, shift, width, acells;
};

static void fdt_node_end(const struct fdt_node *n, unsigned int pc, struct machine *m)
{
	bool has_reg = n->reg && n->reg_len >= 4 * pc;

	if (n->dtype && str_eq(n->dtype, "cpu") && has_reg && m->ncpus < MAX_CPUS)
		m->mpidr[m->ncpus++] = be_cells(n->reg, pc);
	if (!n->compat)
		return;
	if ((strlist_has(n->compat, n->compat_len, "ns16550a") ||
	     strlist_has(n->compat, n->compat_len, "ns16550")) &&
	    has_reg && m->uart.kind == UART_NONE) {
		m->uart.kind = UART_16550;
		m->uart.base = (uintptr_t)be_cells(n->reg, pc);
		m->uart.shift = n->shift;
		m->uart.width = n->width;
	}
	if (strlist_has(n->compat, n->compat_len, "arm,pl011") && has_reg &&
	    m->uart.kind == UART_NONE) {
		m->uart.kind = UART_PL011;
		m->uart.base = (uintptr_t)be_cells(n->reg, pc);
	}
	if (strlist_has(n->compat, n->compat_len, "arm,psci-0.2")) {
		m->has_psci = true;
		m->psci_hvc = n->method && str_eq(n->method, "hvc");
	}
	if (strlist_has(n->compat, n->compat_len, "arm,gic-v3") ||
	    strlist_has(n->compat, n->compat_len, "arm,cortex-a15-gic"))
		m->has_gic = true;
	if (strlist_has(n->compat, n->compat_len, "arm,armv8-timer"))
		m->has_timer = true;
	if (strlist_has(n->compat, n->compat_len, "arm,pl031"))
		m->has_rtc = true;
	if (strlist_has(n->compat, n->compat_len, "pci-host-ecam-generic"))
		m->has_pci = true;
	if (strlist_has(n->compat, n->compat_len, "qemu,pvpanic-mmio") && has_reg)
		m->pvpanic = (uintptr_t)be_cells(n->reg, pc);
}

/*
 * One pass over the structure block. The UART, CPUs and the rest are
 * recognised by their compatible strings and device_type; reg is read with
 * the parent's #address-cells (2 when absent, as on arm64's root).
 */
static int fdt_scan(const uint8_t *dtb, struct machine *m)
{
	uint32_t size = be32(dtb + 4), off = be32(dtb + 8), stroff = be32(dtb + 12);
	struct fdt_node nodes[MAX_DEPTH + 1];
	unsigned int depth = 0;
	const char *path_top = NULL;

	if (be32(dtb) != FDT_MAGIC || size < 40 || off >= size || stroff >= size)
		return -1;
	memset(nodes, 0, sizeof(nodes));
	nodes[0].acells = 2;
	for (;;) {
		uint32_t tok = be32(dtb + off);
		struct fdt_node *n = &nodes[depth];

		off += 4;
		if (off > size)
			return -1;
		if (tok == FDT_BEGIN_NODE) {
			const char *name = (const char *)dtb + off;

			off += (str_len(name) + 4) & ~3u;
			if (depth >= MAX_DEPTH)
				return -1;
			depth++;
			memset(&nodes[depth], 0, sizeof(nodes[depth]));
			nodes[depth].acells = 2;
			nodes[depth].width = 1;
			if (depth == 2)
				path_top = name;
		} else if (tok == FDT_PROP) {
			uint32_t len = be32(dtb + off), nameoff = be32(dtb + off + 4);
			const char *pname = (const char *)dtb + stroff + nameoff;
			const uint8_t *val = dtb + off + 8;

			off += 8 + ((len + 3) & ~3u);
			if (off > size)
				return -1;
			if (str_eq(pname, "#address-cells") && len == 4)
				n->acells = be32(val);
			else if (str_eq(pname, "compatible")) {
				n->compat = (const char *)val;
				n->compat_len = len;
			} else if (str_eq(pname, "device_type"))
				n->dtype = (const char *)val;
			else if (str_eq(pname, "method"))
				n->method = (const char *)val;
			else if (str_eq(pname, "reg")) {
				n->reg = val;
				n->reg_len = len;
			} else if (str_eq(pname, "reg-shift") && len == 4)
				n->shift = be32(val);
			else if (str_eq(pname, "reg-io-width") && len == 4)
				n->width = be32(val);
			else if (str_eq(pname, "bootargs") && depth == 2 && path_top &&
				 str_eq(path_top, "chosen")) {
				m->bootargs = (const char *)val;
				m->bootargs_len = len;
			}
		} else if (tok == FDT_END_NODE) {
			if (!depth)
				return -1;
			fdt_node_end(n, nodes[depth - 1].acells, m);
			depth--;
		} else if (tok == FDT_END) {
			return 0;
		} else if (tok != FDT_NOP) {
			return -1;
		}
	}
}

/* The value of KEY=... in the command line, and its length, or NULL. */
static const char *arg(const struct machine *m, const char *key, unsigned int *len)
{
	const char *s = m->bootargs;
	unsigned int n = m->bootargs_len, klen = str_len(key);

	for (unsigned int i = 0; s && i < n && s[i];) {
		if ((i == 0 || s[i - 1] == ' ') && prefix(s + i, n - i, key) && i + klen < n &&
		    s[i + klen] == '=') {
			unsigned int j = i + klen + 1, e = j;

			while (e < n && s[e] && s[e] != ' ')
				e++;
			*len = e - j;
			return s + j;
		}
		i++;
	}
	return NULL;
}

/* The virtual counter and its frequency (Hz): deadlines in time, not in loop turns. */
static uint64_t read_cntvct(void)
{
	uint64_t v;

	__asm__ volatile("isb; mrs %0, cntvct_el0" : "=r"(v)::"memory");
	return v;
}

static uint64_t read_cntfrq(void)
{
	uint64_t v;

	__asm__ volatile("mrs %0, cntfrq_el0" : "=r"(v));
	return v;
}

/* A secondary CPU's bound to come up: generous, a loaded host may not run it for long. */
#define SMP_WAIT_S 60

static uint64_t read_mpidr(void)
{
	uint64_t v;

	__asm__ volatile("mrs %0, mpidr_el1" : "=r"(v));
	return v & 0xff00ffffffull;
}

void fw_secondary(uint64_t idx)
{
	struct machine *m = smp.m;

	puts_(&m->uart, "cpu ");
	putu_(&m->uart, idx);
	puts_(&m->uart, " up, mpidr ");
	putx_(&m->uart, read_mpidr());
	puts_(&m->uart, "\n");
	__asm__ volatile("dsb sy" ::: "memory");
	smp.done[idx] = 1;
	__asm__ volatile("dsb sy; sev" ::: "memory");
	fw_psci(PSCI_CPU_OFF, 0, 0, 0);
	puts_(&m->uart, "FAIL: CPU_OFF returned\n");
}

static void start_secondaries(struct machine *m)
{
	uint64_t self = read_mpidr();
	unsigned int up = 1;

	smp.m = m;
	for (unsigned int i = 0; i < m->ncpus; i++) {
		uint64_t deadline;
		long r;

		if (m->mpidr[i] == self)
			continue;
		r = fw_psci(PSCI_CPU_ON, m->mpidr[i], (uint64_t)(uintptr_t)fw_secondary_entry, i);
		if (r) {
			puts_(&m->uart, "FAIL: CPU_ON of cpu ");
			putu_(&m->uart, i);
			puts_(&m->uart, " returned ");
			putx_(&m->uart, (uint64_t)r);
			puts_(&m->uart, "\n");
			continue;
		}
		deadline = read_cntvct() + SMP_WAIT_S * read_cntfrq();
		while (!smp.done[i] && read_cntvct() < deadline)
			__asm__ volatile("dsb sy" ::: "memory");
		if (!smp.done[i]) {
			puts_(&m->uart, "FAIL: cpu ");
			putu_(&m->uart, i);
			puts_(&m->uart, " did not come up\n");
			continue;
		}
		up++;
	}
	puts_(&m->uart, "smp: ");
	putu_(&m->uart, up);
	puts_(&m->uart, " of ");
	putu_(&m->uart, m->ncpus);
	puts_(&m->uart, " cpus ran\n");
}

void fw_main(const void *dtb)
{
	struct machine m;
	const char *c;
	unsigned int clen = 0;
	uint32_t ver;

	memset(&m, 0, sizeof(m));
	/* Without a tree there is no UART to complain on: power off with nothing said. */
	if (((uintptr_t)dtb & 7) || fdt_scan(dtb, &m) || m.uart.kind == UART_NONE)
		fw_psci(PSCI_SYSTEM_RESET, 0, 0, 0);
	puts_(&m.uart, "hello from the arm64 guest\n");
	puts_(&m.uart, "dtb: ");
	putu_(&m.uart, m.ncpus);
	puts_(&m.uart, " cpus, uart ");
	puts_(&m.uart, m.uart.kind == UART_16550 ? "16550" : "pl011");
	puts_(&m.uart, " at ");
	putx_(&m.uart, m.uart.base);
	puts_(&m.uart, m.has_psci ? ", psci" : "");
	puts_(&m.uart, m.psci_hvc ? " hvc" : "");
	puts_(&m.uart, m.has_gic ? ", gic" : "");
	puts_(&m.uart, m.has_timer ? ", timer" : "");
	puts_(&m.uart, m.has_rtc ? ", rtc" : "");
	puts_(&m.uart, m.has_pci ? ", pci" : "");
	puts_(&m.uart, "\ncmdline: ");
	putn_(&m.uart, m.bootargs ? m.bootargs : "", m.bootargs_len);
	puts_(&m.uart, "\n");
	ver = (uint32_t)fw_psci(PSCI_VERSION, 0, 0, 0);
	puts_(&m.uart, "psci ");
	putu_(&m.uart, ver >> 16);
	puts_(&m.uart, ".");
	putu_(&m.uart, ver & 0xffff);
	puts_(&m.uart, "\n");

	c = arg(&m, "case", &clen);
	if (c && prefix(c, clen, "smp") && clen == 3) {
		start_secondaries(&m);
	} else if (c && prefix(c, clen, "reset") && clen == 5) {
		puts_(&m.uart, "system reset\n");
		fw_psci(PSCI_SYSTEM_RESET, 0, 0, 0);
		puts_(&m.uart, "FAIL: SYSTEM_RESET returned\n");
	} else if (c && prefix(c, clen, "panic") && clen == 5) {
		if (!m.pvpanic) {
			puts_(&m.uart, "FAIL: no qemu,pvpanic-mmio node\n");
		} else {
			puts_(&m.uart, "pvpanic at ");
			putx_(&m.uart, m.pvpanic);
			puts_(&m.uart, "\n");
			*(volatile uint8_t *)m.pvpanic = 1;
			puts_(&m.uart, "FAIL: the VM ran on after the pvpanic write\n");
		}
	} else if (c && prefix(c, clen, "halt") && clen == 4) {
		puts_(&m.uart, "halting\n");
		for (;;)
			__asm__ volatile("msr daifset, #0xf; wfi");
	}
	puts_(&m.uart, "system off\n");
	fw_psci(PSCI_SYSTEM_OFF, 0, 0, 0);
	puts_(&m.uart, "FAIL: SYSTEM_OFF returned\n");
}
