#!/usr/bin/env bash
# Regenerates include/bda.h from bda-ffi with the pinned cbindgen (scripts/setup.sh installs
# it). Commit the result: the header is part of the API, and scripts/c-tests.sh fails when
# the checked-in file differs from what this produces.
set -euo pipefail
cd "$(dirname "$0")/.."
cbindgen -q --config bda-ffi/cbindgen.toml --crate bda-ffi --output include/bda.h
git diff --stat -- include/bda.h
