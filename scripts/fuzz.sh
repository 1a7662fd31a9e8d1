#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets) for a fixed time from the committed seed corpus.
# New inputs go to a scratch folder, so the committed corpus changes only on purpose
# (`cargo fuzz cmin` after a long campaign). A crash fails the run and leaves its input in
# fuzz/artifacts/<target>/; turn each one into a regression test.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]      default 30 s, every target
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-30}"
shift || true
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(policy controller predictor pacer c_abi)

# cargo-fuzz passes sanitizer flags that stable rustc accepts only with RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cargo fuzz build -O
for target in "${targets[@]}"; do
    mkdir -p "$scratch/$target"
    cargo fuzz run -O "$target" "$scratch/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 2>&1 |
        grep -E "^(Done|stat::number_of_executed_units|INFO: seed corpus|==[0-9]+==ERROR|thread .* panicked)"
    # With pipefail, a crash (cargo fuzz's non-zero status) fails the script here.
done
echo "fuzzed ${targets[*]} for ${seconds} s each: no crash"
