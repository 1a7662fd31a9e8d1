#!/usr/bin/env bash
# The board firmware's size, held to its budgets (issue 4): flash = text + data of the ELF,
# at most 64 KiB; static RAM = data + bss without the guest's and the destination's memory
# (the statics GUEST_MEMORY and DESTINATION_MEMORY, sized by the example, not by the
# firmware), at most 16 KiB. Prints one line; exits non-zero when a budget is exceeded.
#   scripts/size.sh ELF
set -euo pipefail

elf="$1"
flash_budget=$((64 * 1024))
ram_budget=$((16 * 1024))

read -r text data bss _ < <(arm-none-eabi-size "$elf" | sed -n 2p)
# The size (hex, second column of `nm -S`) of the static whose demangled name ends in $1.
static_size() {
    local hex
    hex=$(arm-none-eabi-nm -S -C "$elf" | sed -n "s/^[0-9a-f]* \([0-9a-f]*\) [bBdD] .*::$1\$/\1/p")
    [ -n "$hex" ] || { echo "size.sh: no static $1 in $elf" >&2; exit 1; }
    echo $((16#$hex))
}
guest=$(static_size GUEST_MEMORY)
destination=$(static_size DESTINATION_MEMORY)
flash=$((text + data))
ram=$((data + bss - guest - destination))

printf 'firmware size: flash %d bytes (text %d + data %d; budget %d), static RAM %d bytes (data %d + bss %d - guest %d - destination %d; budget %d)\n' \
    "$flash" "$text" "$data" "$flash_budget" "$ram" "$data" "$bss" "$guest" "$destination" "$ram_budget"
status=0
if [ "$flash" -gt "$flash_budget" ]; then
    echo "size.sh: flash $flash bytes exceeds the budget of $flash_budget" >&2
    status=1
fi
if [ "$ram" -gt "$ram_budget" ]; then
    echo "size.sh: static RAM $ram bytes exceeds the budget of $ram_budget" >&2
    status=1
fi
exit "$status"
