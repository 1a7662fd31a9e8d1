#!/usr/bin/env bash
# Builds the test guest (a 32-bit multiboot ELF) with the machine's gcc: no multilib, no libc.
#   tests/qemu/guest/build.sh [OUT]     default OUT: target/qemu-guest/guest.elf
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/../../../target/qemu-guest/guest.elf"}
mkdir -p "$(dirname "$out")"
gcc -m32 -march=i686 -ffreestanding -fno-pic -fno-pie -fno-stack-protector -fno-asynchronous-unwind-tables \
    -nostdlib -static -no-pie -O2 -Wall -Wextra -Werror \
    -Wl,-T,"$here/link.ld" -Wl,--build-id=none -Wl,-z,noexecstack -Wl,--no-warn-rwx-segments \
    -o "$out" "$here/boot.S" "$here/guest.c"
