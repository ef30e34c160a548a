#!/usr/bin/env bash
# Writes a minimal bzImage whose 64-bit entry runs the given code bytes (hex), e.g.
#   tiny-kernel.sh OUT 0f0b      -> ud2 with no IDT: a triple fault
# Usage: tiny-kernel.sh OUT HEXCODE  (registers after a triple fault are the reset state on AMD)
set -euo pipefail
out=$1 code=$2
put() { printf "$2" | dd of="$out" bs=1 seek=$(($1)) conv=notrunc status=none; }
le32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }
head -c $((1024 + 1024)) /dev/zero > "$out"   # one setup sector + boot sector, 1 KiB kernel
put 0x1f1 '\x01'                      # setup_sects
put 0x1f4 "$(le32 $((1024 / 16)))"    # syssize
put 0x1fe '\x55\xaa'                  # boot flag
put 0x201 '\x66'                      # header runs to 0x268
put 0x202 'HdrS'
put 0x206 '\x0f\x02'                  # protocol 2.15
put 0x211 '\x01'                      # LOADED_HIGH
put 0x22c "$(le32 0x7fffffff)"        # initrd_addr_max
put 0x236 '\x01'                      # XLF_KERNEL_64
put 0x238 "$(le32 255)"               # cmdline_size
put 0x258 "$(le32 0x1000000)"         # pref_address
put 0x260 "$(le32 0x100000)"          # init_size
put $((1024 + 0x200)) "$(echo "$code" | sed 's/../\\x&/g')"   # 64-bit entry
