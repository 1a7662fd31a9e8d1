#!/usr/bin/env bash
# Every test of the workspace, after the set-up it needs. CI runs exactly this.
#
#   scripts/test.sh           everything
#   scripts/test.sh --quick   the quick tier: fmt, clippy, unit, property and doc tests
set -euo pipefail
cd "$(dirname "$0")/.."

quick=false
[ "${1:-}" = "--quick" ] && quick=true

step() { printf '\n==> %s\n' "$*"; }

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
RUSTDOCFLAGS="-D warnings" cargo doc -p bda-core -p bda-ffi --no-deps

step "no_std for real: bda-core for thumbv7em-none-eabihf, without and with defmt"
scripts/thumb.sh build -p bda-core --release
scripts/thumb.sh build -p bda-core --release --features defmt
scripts/thumb.sh clippy -p bda-core --features defmt -- -D warnings

step "the C library: header verified, C tests under ASan/UBSan, no-panic proof (host, thumbv7em), budgets"
scripts/c-tests.sh

step "the main job end to end: every policy migrates and the destination matches"
for policy in bda pca incremental static; do
    cargo run --quiet --release -p bda-core --example migrate -- "$policy" 64 >/dev/null
done
echo "all four policies migrated 64 MiB; destinations verified"
