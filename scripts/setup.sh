#!/usr/bin/env bash
# Installs what the builds and tests need, idempotently: run it on a fresh machine or again
# at any time; it skips what is already there.
#
# - rustfmt and clippy for the machine's Rust toolchain;
# - the thumbv7em-none-eabihf target, from rustup when it can be fetched, otherwise
#   Debian's rustc-web + rust-web-src (which build `core` from source);
# - for the board firmware under QEMU: qemu-system-arm, the ARM binutils (arm-none-eabi-size
#   and -nm for the size budgets) and defmt-print (pinned; building it takes a few minutes,
#   once).
# - for the C library (scripts/c-tests.sh): cbindgen 0.29.4, g++ and pkg-config, and the
#   Arm cross compiler with newlib (for --specs=nosys.specs).
#
#   scripts/setup.sh              everything
#   scripts/setup.sh --host-only  what the host builds need (scripts/run.sh uses this)
set -euo pipefail

host_only=false
[ "${1:-}" = "--host-only" ] && host_only=true
DEFMT_PRINT_VERSION=1.2.0

log() { printf '[setup] %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs the Debian packages among "$@" that are missing, without their recommends.
apt_install() {
    local missing=()
    for package in "$@"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        log "apt-get install ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
}

for component in rustfmt clippy; do
    if ! rustup component list --installed 2>/dev/null | grep -q "^${component}"; then
        log "rustup component add ${component}"
        rustup component add "${component}"
    fi
done

if [ "${BDA_THUMB_VIA_DEBIAN:-0}" = 1 ]; then
    log "BDA_THUMB_VIA_DEBIAN=1: using Debian's rustc-web with build-std"
    apt_install rustc-web cargo-web rust-web-src lld-22
elif rustup target list --installed 2>/dev/null | grep -qx thumbv7em-none-eabihf; then
    :
elif rustup target add thumbv7em-none-eabihf; then
    log "installed the thumbv7em-none-eabihf target with rustup"
else
    log "rustup could not fetch thumbv7em-none-eabihf: using Debian's rustc-web with build-std"
    apt_install rustc-web cargo-web rust-web-src lld-22
fi

if "$host_only"; then
    exit 0
fi

# The ARM binutils are all the size check needs (gcc-arm-none-eabi would bring them too).
apt_install qemu-system-arm binutils-arm-none-eabi

if ! defmt-print --version 2>/dev/null | grep -qx "defmt-print ${DEFMT_PRINT_VERSION}"; then
    log "cargo install defmt-print ${DEFMT_PRINT_VERSION} (a few minutes)"
    cargo install defmt-print --version "${DEFMT_PRINT_VERSION}" --locked
fi

# The C library's tools. cbindgen is pinned: the checked-in header is its exact output.
apt_install g++ pkg-config gcc-arm-none-eabi libnewlib-arm-none-eabi
if [ "$(cbindgen --version 2>/dev/null)" != "cbindgen 0.29.4" ]; then
    log "cargo install cbindgen 0.29.4"
    cargo install cbindgen --version 0.29.4 --locked --force
fi

# Instruction counts (bda-core's benches/instructions.rs): Valgrind and the gungraun runner,
# whose version must match the gungraun crate's.
GUNGRAUN_VERSION=0.20.0
apt_install valgrind
if [ "$(gungraun-runner --version 2>/dev/null)" != "gungraun-runner ${GUNGRAUN_VERSION}" ]; then
    log "cargo install gungraun-runner ${GUNGRAUN_VERSION} (a few minutes)"
    cargo install gungraun-runner --version "${GUNGRAUN_VERSION}" --locked --force
fi

# Fuzzing (scripts/fuzz.sh): cargo-fuzz; libFuzzer comes with its libfuzzer-sys crate.
CARGO_FUZZ_VERSION=0.13.2
if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz ${CARGO_FUZZ_VERSION}" ]; then
    log "cargo install cargo-fuzz ${CARGO_FUZZ_VERSION} (a few minutes)"
    cargo install cargo-fuzz --version "${CARGO_FUZZ_VERSION}" --locked --force
fi
