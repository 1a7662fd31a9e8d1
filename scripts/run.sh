#!/usr/bin/env bash
# The main job: set up, then run a synthetic migration through the kernel (controller, BDA,
# PPC predictor, pacer) with one line per round. Arguments go to the example:
#   scripts/run.sh [bda|pca|incremental|static] [MEMORY_MIB]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo run --quiet --release -p bda-core --example migrate -- "$@"
