// SPDX-License-Identifier: Apache-2.0
/* Console output, printf, string helpers, the command line and exit. */
#include "fw.h"

#define COM1_LSR 5
#define COM1_LSR_THRE 0x20

void fw_start(uint32_t start_info);

void fw_start(uint32_t start_info)
{
	const struct fw_start_info *si = (const struct fw_start_info *)(uintptr_t)start_info;

	if (!si || si->magic != FW_START_MAGIC) {
		fw_puts("FAIL: no PVH start info (bad magic)\n");
		fw_exit(1);
	}
	fw_exit(fw_main(si));
}

void fw_exit(int status)
{
	outb(FW_PORT_EXIT, (uint8_t)status);
	/*
	 * Still here: kvmrun runs without --exit-port and nothing answers at the
	 * port. Say so, and power off through the ACPI sleep register (S5).
	 */
	fw_printf("exit port: no effect, powering off\n");
	outb(FW_PORT_ACPI_SLEEP_CTL, FW_ACPI_SLP_EN | FW_ACPI_S5 << 2);
	for (;;)
		__asm__ volatile("cli; hlt");
}

void fw_putc(char c)
{
	if (c == '\n')
		fw_putc('\r');
	for (unsigned int i = 0; i < 100000; i++)
		if (inb(FW_PORT_COM1 + COM1_LSR) & COM1_LSR_THRE)
			break;
	outb(FW_PORT_COM1, (uint8_t)c);
}

void fw_puts(const char *s)
{
	while (*s)
		fw_putc(*s++);
}

void *memset(void *d, int c, size_t n)
{
	uint8_t *p = d;

	while (n--)
		*p++ = (uint8_t)c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	uint8_t *dp = d;
	const uint8_t *sp = s;

	while (n--)
		*dp++ = *sp++;
	return d;
}

void *memmove(void *d, const void *s, size_t n)
{
	uint8_t *dp = d;
	const uint8_t *sp = s;

	if (dp < sp)
		return memcpy(d, s, n);
	while (n--)
		dp[n] = sp[n];
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *pa = a, *pb = b;

	for (size_t i = 0; i < n; i++)
		if (pa[i] != pb[i])
			return pa[i] < pb[i] ? -1 : 1;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (a[i] != b[i])
			return (unsigned char)a[i] < (unsigned char)b[i] ? -1 : 1;
		if (!a[i])
			break;
	}
	return 0;
}

struct fw_out {
	char *buf;
	size_t size;
	size_t n;
};

static void fw_out_c(struct fw_out *o, char c)
{
	if (!o->buf)
		fw_putc(c);
	else if (o->n + 1 < o->size)
		o->buf[o->n] = c;
	o->n++;
}

static void fw_out_num(struct fw_out *o, uint64_t v, unsigned int base, bool upper, bool neg,
		       unsigned int width, char pad)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	unsigned int n = 0;

	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	if (neg && pad == '0')
		fw_out_c(o, '-');
	for (unsigned int i = n + (neg ? 1 : 0); i < width; i++)
		fw_out_c(o, pad);
	if (neg && pad != '0')
		fw_out_c(o, '-');
	while (n)
		fw_out_c(o, tmp[--n]);
}

static int fw_format(struct fw_out *o, const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		unsigned int width = 0, lng = 0;
		char pad = ' ';
		uint64_t u;
		int64_t s;

		if (*fmt != '%') {
			fw_out_c(o, *fmt);
			continue;
		}
		fmt++;
		if (*fmt == '0')
			pad = '0', fmt++;
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (unsigned int)(*fmt++ - '0');
		while (*fmt == 'l' || *fmt == 'z')
			lng++, fmt++;
		switch (*fmt) {
		case 'd':
		case 'i':
			s = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
			fw_out_num(o, s < 0 ? (uint64_t)-s : (uint64_t)s, 10, false, s < 0, width, pad);
			break;
		case 'u':
		case 'x':
		case 'X':
			u = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned int);
			fw_out_num(o, u, *fmt == 'u' ? 10 : 16, *fmt == 'X', false, width, pad);
			break;
		case 'p':
			fw_out_c(o, '0');
			fw_out_c(o, 'x');
			fw_out_num(o, (uint64_t)(uintptr_t)va_arg(ap, void *), 16, false, false, width,
				   pad);
			break;
		case 's': {
			const char *str = va_arg(ap, const char *);
			size_t len;

			if (!str)
				str = "(null)";
			len = strlen(str);
			for (size_t i = len; i < width; i++)
				fw_out_c(o, ' ');
			while (*str)
				fw_out_c(o, *str++);
			break;
		}
		case 'c':
			fw_out_c(o, (char)va_arg(ap, int));
			break;
		case '%':
			fw_out_c(o, '%');
			break;
		case '\0':
			return (int)o->n;
		default:
			fw_out_c(o, '%');
			fw_out_c(o, *fmt);
		}
	}
	return (int)o->n;
}

int fw_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct fw_out o = { .buf = buf, .size = size };
	int n = fw_format(&o, fmt, ap);

	if (size)
		buf[o.n < size ? o.n : size - 1] = '\0';
	return n;
}

int fw_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = fw_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

int fw_printf(const char *fmt, ...)
{
	struct fw_out o = { 0 };
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = fw_format(&o, fmt, ap);
	va_end(ap);
	return n;
}

const char *fw_cmdline(const struct fw_start_info *si)
{
	return si->cmdline_paddr ? (const char *)(uintptr_t)si->cmdline_paddr : "";
}

/* Start of KEY's value (after "KEY="), or NULL. */
static const char *fw_cmdline_find(const struct fw_start_info *si, const char *key)
{
	const char *p = fw_cmdline(si);
	size_t klen = strlen(key);

	while (*p) {
		while (*p == ' ')
			p++;
		if (!strncmp(p, key, klen) && p[klen] == '=')
			return p + klen + 1;
		while (*p && *p != ' ')
			p++;
	}
	return NULL;
}

uint64_t fw_cmdline_num(const struct fw_start_info *si, const char *key, uint64_t def)
{
	const char *p = fw_cmdline_find(si, key);
	unsigned int base = 10;
	uint64_t v = 0;

	if (!p)
		return def;
	if (p[0] == '0' && p[1] == 'x')
		base = 16, p += 2;
	for (; *p && *p != ' '; p++) {
		unsigned int d;

		if (*p >= '0' && *p <= '9')
			d = (unsigned int)(*p - '0');
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = (unsigned int)(*p - 'a' + 10);
		else
			return def;
		v = v * base + d;
	}
	return v;
}

bool fw_cmdline_str(const struct fw_start_info *si, const char *key, char *out, size_t size)
{
	const char *p = fw_cmdline_find(si, key);
	size_t n = 0;

	if (!p || !size)
		return false;
	while (p[n] && p[n] != ' ' && n + 1 < size) {
		out[n] = p[n];
		n++;
	}
	out[n] = '\0';
	return true;
}
