#!/usr/bin/env bash
# The board firmware end to end: builds it for QEMU's mps2-an386 (Cortex-M4F), runs it under
# qemu-system-arm with its defmt log decoded by defmt-print, and checks the outcome.
#
#   scripts/firmware.sh               expects three verified migrations and QEMU exit status 0
#   scripts/firmware.sh --lose-page   builds the "DMA" that drops a page; expects verification
#                                     to fail and QEMU to exit non-zero
#   scripts/firmware.sh --bda-plus    the board's migrations run BDA+ instead of BDA (feature
#                                     bda-plus); combines with --lose-page
#
# The decoded log goes to stdout (and target/firmware-qemu.log); the firmware's size is
# checked against its budgets (scripts/size.sh) after a normal build.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

lose_page=false
policy=BDA
features=()
for arg in "$@"; do
    case "$arg" in
        --lose-page) lose_page=true; features+=(--features lose-page) ;;
        --bda-plus) policy=BDA+; features+=(--features bda-plus) ;;
        *) echo "usage: scripts/firmware.sh [--lose-page] [--bda-plus]" >&2; exit 2 ;;
    esac
done

# Built from firmware/ so that its .cargo/config.toml applies (DEFMT_LOG); one target
# directory for the workspace whichever toolchain scripts/thumb.sh picks. Cargo names the
# ELF it built in its JSON messages.
export CARGO_TARGET_DIR="$root/target"
elf=$(cd firmware && ../scripts/thumb.sh build --release "${features[@]}" --message-format=json-render-diagnostics |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
[ -n "$elf" ] || { echo "firmware.sh: the build named no executable" >&2; exit 1; }

log="$root/target/firmware-qemu.log"
set +e
timeout 300 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic \
    -semihosting-config enable=on,target=native -kernel "$elf" |
    defmt-print -e "$elf" | tee "$log"
statuses=("${PIPESTATUS[@]}")
set -e
qemu_status="${statuses[0]}"

expect_line() {
    grep -qF -- "$1" "$log" || { echo "firmware.sh: expected a log line with: $1" >&2; exit 1; }
}

if "$lose_page"; then
    [ "$qemu_status" -ne 0 ] || { echo "firmware.sh: a lost page must fail the run, but QEMU exited 0" >&2; exit 1; }
    [ "$qemu_status" -ne 124 ] || { echo "firmware.sh: QEMU timed out" >&2; exit 1; }
    expect_line "LOST: 1 pages differ, first page 5"
    echo "firmware.sh: the lost page was caught; QEMU exited with status $qemu_status, as it must"
    exit 0
fi

[ "$qemu_status" -eq 0 ] || { echo "firmware.sh: QEMU exited with status $qemu_status" >&2; exit 1; }
[ "${statuses[1]}" -eq 0 ] || { echo "firmware.sh: defmt-print failed" >&2; exit 1; }
for workload in idle busy bursty; do
    # The policy name ends the line; -x would not do, defmt-print may add a location.
    grep -qE -- "migration: workload $workload, policy ${policy/+/\\+}( |\$)" "$log" ||
        { echo "firmware.sh: expected a log line with: migration: workload $workload, policy $policy" >&2; exit 1; }
    expect_line "verified: all 128 pages match ($workload)"
done
expect_line "round 1 First rule FirstRound"
expect_line "StopAndCopy rule StopAndCopy"
expect_line "all migrations complete and verified"
echo "firmware.sh: three migrations with $policy complete and verified under QEMU; exit status 0"
scripts/size.sh "$elf"
