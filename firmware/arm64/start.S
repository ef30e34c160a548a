/* SPDX-License-Identifier: Apache-2.0 */
/*
 * arm64 Image entry (Documentation/arm64/booting.rst): MMU off, x0 = the device
 * tree's physical address. The code runs where it was loaded: it is reached only
 * through PC-relative addressing. Secondary CPUs enter at fw_secondary_entry
 * (PSCI CPU_ON) with x0 = their index, each with a stack of its own.
 */
#define FW_STACK_SIZE 4096
#define FW_MAX_CPUS 8

	.section .text.head, "ax"
	.globl _start
_start:
	b	fw_primary			/* code0 */
	.long	0				/* code1 */
	.quad	0				/* text_offset */
	.quad	_end - _start			/* image_size */
	.quad	0xa				/* flags: LE, 4K pages, anywhere */
	.quad	0, 0, 0				/* res2-4 */
	.ascii	"ARM\x64"			/* magic */
	.long	0				/* res5 */

	.text
fw_primary:
	mov	x19, x0
	adr	x1, __bss_start
	adr	x2, __bss_end
1:	cmp	x1, x2
	b.hs	2f
	str	xzr, [x1], #8
	b	1b
2:	adr	x1, fw_stacks + FW_STACK_SIZE
	mov	sp, x1
	mov	x0, x19
	bl	fw_main
3:	wfi
	b	3b

	.globl fw_secondary_entry
fw_secondary_entry:
	cmp	x0, #FW_MAX_CPUS
	b.hs	3b
	adr	x1, fw_stacks + FW_STACK_SIZE
	add	x2, x0, #1
	mov	x3, #FW_STACK_SIZE
	madd	x1, x2, x3, x1
	mov	sp, x1
	bl	fw_secondary
	b	3b

	.globl fw_psci
fw_psci:
	hvc	#0
	ret

	.bss
	.p2align 4
fw_stacks:
	.space	FW_STACK_SIZE * (FW_MAX_CPUS + 1)
