#!/usr/bin/env bash
# Every test of the workspace, after the set-up it needs. CI runs exactly this.
#
#   scripts/test.sh           everything
#   scripts/test.sh --quick   the quick tier: fmt, clippy, unit, property and doc tests
set -euo pipefail
cd "$(dirname "$0")/.."

quick=false
[ "${1:-}" = "--quick" ] && quick=true

# Each step prints the seconds the one before it took, so slow steps show in CI logs.
step() {
    [ -n "${step_started:-}" ] && printf '(%d s)\n' "$((SECONDS - step_started))"
    step_started=$SECONDS
    printf '\n==> %s\n' "$*"
}
trap '[ -n "${step_started:-}" ] && printf "(%d s)\n" "$((SECONDS - step_started))"' EXIT

step "set-up"
scripts/setup.sh

step "format"
cargo fmt --all -- --check

step "clippy (host, all targets; the kernel's no-panic lints are errors)"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p bda-core --features defmt -- -D warnings
cargo clippy -p bda-ffi --features panic-proof-control -- -D warnings

step "tests: unit, property (10,000 cases each) and doc tests"
cargo test --workspace

if "$quick"; then
    exit 0
fi

step "docs: every public item documented, no broken links"
RUSTDOCFLAGS="-D warnings" cargo doc -p bda-core -p bda-ffi -p firmware -p bda-qemu --no-deps

step "no_std for real: bda-core and the firmware for thumbv7em-none-eabihf, without and with defmt"
scripts/thumb.sh build -p bda-core --release
scripts/thumb.sh build -p bda-core --release --features defmt
scripts/thumb.sh clippy -p bda-core --features defmt -- -D warnings
scripts/thumb.sh clippy -p firmware --lib --features defmt -- -D warnings
(cd firmware && ../scripts/thumb.sh clippy --release -- -D warnings)

step "simulator: the paper's experiments and the trade-off experiment reproduce docs/sim and docs/tradeoff; the real-QEMU reports reproduce from their results"
results=$(mktemp -d)
trap 'rm -rf "$results"; printf "(%d s)\n" "$((SECONDS - step_started))"' EXIT
cargo run --quiet --release -p bda-sim -- paper --out "$results" --no-progress >/dev/null
diff -r docs/sim "$results"
echo "docs/sim is what bda-sim paper produces"
rm -rf "${results:?}"/*
target/release/bda-sim tradeoff --out "$results" --no-progress >/dev/null
diff -r docs/tradeoff "$results"
echo "docs/tradeoff is what bda-sim tradeoff produces"
# Each recorded set as experiment:folder (bda-plus-b: the BDA+ experiment on a second host).
for set in policies:policies bda-plus:bda-plus bda-plus:bda-plus-b; do
    experiment=${set%%:*} folder=${set#*:}
    rm -rf "${results:?}"/*
    target/release/bda-sim qemu-report --experiment "$experiment" --results "docs/qemu/$folder/results.jsonl" \
        --out "$results" >/dev/null
    for file in "$results"/*; do
        diff "$file" "docs/qemu/$folder/$(basename "$file")"
    done
done
echo "docs/qemu's reports are what bda-sim qemu-report makes of the recorded results"

step "benchmarks build; instruction counts within their limits (Callgrind)"
cargo bench --workspace --no-run --quiet
cargo bench --quiet -p bda-core --bench instructions | grep -E "^instructions::|Instructions:"

step "fuzzing: every target 30 s from the committed seed corpus (a crash fails)"
scripts/fuzz.sh 30

step "the C library: header verified, C tests under ASan/UBSan, no-panic proof (host, thumbv7em), budgets"
scripts/c-tests.sh

step "the firmware on an emulated Cortex-M4 (QEMU mps2-an386): a lost page fails the run"
scripts/firmware.sh --lose-page >/dev/null

step "the firmware on an emulated Cortex-M4: three verified migrations, exit status 0, size budgets"
scripts/firmware.sh | grep -E "^(INFO  (migration|verified|all)|firmware)"

step "the firmware on an emulated Cortex-M4 with BDA+ (feature bda-plus): the same checks"
scripts/firmware.sh --bda-plus | grep -E "^(INFO  (migration|verified|all)|firmware)"

step "the main job end to end: the firmware loop on the host, every policy and workload"
cargo build --quiet --release -p firmware
for policy in bda bda-plus pca incremental static; do
    for workload in idle busy bursty; do
        target/release/firmware 64 --policy "$policy" --workload "$workload" >/dev/null
    done
done
echo "all five policies migrated 64 MiB under each workload; destinations verified"
if target/release/firmware 16 --lose-page >/dev/null 2>&1; then
    echo "test.sh: the host run with a lost page exited 0" >&2
    exit 1
fi
echo "the host run with a lost page failed, as it must"

step "real QEMU (x86_64, TCG): the test guest's memory check fails on a page lost on purpose"
tests/qemu/guest/build.sh
cargo build --quiet --release -p bda-qemu
lost=$(mktemp -d)
target/release/bda-testbed lost-page --guest target/qemu-guest/guest.elf --workdir "$lost"
rm -rf "$lost"

step "real QEMU on a shaped 100 Mbit/s link: QEMU's own policy and bda-qemu with BDA, memory verified"
tests/qemu/testbed.sh
