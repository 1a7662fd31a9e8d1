#!/usr/bin/env bash
# Runs a cargo command for thumbv7em-none-eabihf (Cortex-M4F) with whichever toolchain
# scripts/setup.sh installed: rustup's prebuilt target, or Debian's rustc-web building
# `core` from source (build-std). Usage: scripts/thumb.sh build -p bda-core --release
set -euo pipefail

target=thumbv7em-none-eabihf
subcommand="$1"
shift
# The target goes right after the subcommand, before any `--` that ends cargo's options.
# BDA_THUMB_VIA_DEBIAN=1 forces the fallback, to test it on a machine that has both.
if [ "${BDA_THUMB_VIA_DEBIAN:-0}" != 1 ] && rustup target list --installed 2>/dev/null | grep -x "$target" >/dev/null; then
    exec cargo "$subcommand" --target "$target" "$@"
fi
# The Debian fallback: its own cargo with its own rustc, in its own target directory.
export PATH="/usr/bin:$PATH" RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/debian-rustc"
exec /usr/bin/cargo "$subcommand" --target "$target" -Zbuild-std=core "$@"
