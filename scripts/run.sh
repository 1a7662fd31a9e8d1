#!/usr/bin/env bash
# The main job: set up, then run the example firmware loop on the host — a VM migrated page
# by page through the kernel (controller, BDA, PPC predictor, pacer) on a simulated clock,
# one line per round, then the page-by-page check of the destination. Arguments go to it:
#   scripts/run.sh [MEMORY_MIB] [--policy bda|bda-plus|pca|incremental|static]
#                  [--workload idle|busy|bursty] [--link-mbit N] [--real-time] [--lose-page]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --host-only
cargo run --quiet --release -p firmware -- "$@"
