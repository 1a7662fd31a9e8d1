#!/usr/bin/env bash
# Installs what the builds and tests need, idempotently: run it on a fresh machine or again
# at any time; it skips what is already there.
#
# - rustfmt and clippy for the machine's Rust toolchain;
# - the thumbv7em-none-eabihf target, from rustup when it can be fetched, otherwise
#   Debian's rustc-web + rust-web-src (which build `core` from source);
# - for the board firmware under QEMU: qemu-system-arm, the ARM binutils (arm-none-eabi-size
#   and -nm for the size budgets) and defmt-print (pinned; building it takes a few minutes,
#   once);
# - for the C library (scripts/c-tests.sh): cbindgen 0.29.4, g++ and pkg-config, and the
#   Arm cross compiler with newlib (for --specs=nosys.specs);
# - for the instruction counts and fuzzing: valgrind, gungraun-runner, cargo-fuzz;
# - for the real-QEMU test bed (bda-qemu): QEMU >= 9 for x86_64 from bookworm-backports
#   (bookworm's own 7.2 loses dirty pages under TCG), qboot, gcc for the 32-bit guest,
#   iproute2 for the namespaces and the shaped link.
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
    if ! rustup component list --installed 2>/dev/null | grep "^${component}" >/dev/null; then
        log "rustup component add ${component}"
        rustup component add "${component}"
    fi
done

if [ "${BDA_THUMB_VIA_DEBIAN:-0}" = 1 ]; then
    log "BDA_THUMB_VIA_DEBIAN=1: using Debian's rustc-web with build-std"
    apt_install rustc-web cargo-web rust-web-src lld-22
elif rustup target list --installed 2>/dev/null | grep -x thumbv7em-none-eabihf >/dev/null; then
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

if ! defmt-print --version 2>/dev/null | grep -x "defmt-print ${DEFMT_PRINT_VERSION}" >/dev/null; then
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

# QEMU for x86_64, at least 9.0. bookworm's 7.2 loses dirty pages under TCG when guest RAM is a
# multiple of 256 KiB, so the package comes from bookworm-backports. Its apt entry uses the same
# mirror as the machine's own bookworm entry: no host name is written here.
QEMU_MIN_MAJOR=9
qemu_major() {
    qemu-system-x86_64 --version 2>/dev/null | sed -n 's/^QEMU emulator version \([0-9]*\)\..*/\1/p'
}
if [ "$(qemu_major || true)" -ge "$QEMU_MIN_MAJOR" ] 2>/dev/null && [ -f /usr/share/qemu/qboot.rom ]; then
    :
else
    backports=/etc/apt/sources.list.d/bda-bookworm-backports.sources
    if ! apt-cache policy 2>/dev/null | grep 'bookworm-backports' >/dev/null; then
        sources=/etc/apt/sources.list.d/debian.sources
        # The URI of the deb822 stanza whose suites include plain "bookworm".
        uri=$(awk 'BEGIN { RS = ""; FS = "\n" }
            /(^|\n)Suites:([^\n]* )?bookworm( |\n|$)/ {
                for (i = 1; i <= NF; i++) if ($i ~ /^URIs:/) { sub(/^URIs: */, "", $i); print $i; exit }
            }' "$sources" 2>/dev/null || true)
        if [ -z "$uri" ]; then
            log "cannot find the bookworm mirror in $sources: add bookworm-backports to apt by hand"
            exit 1
        fi
        log "adding bookworm-backports from the bookworm mirror to $backports"
        printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
            "$uri" | as_root tee "$backports" >/dev/null
    fi
    log "apt-get install -t bookworm-backports qemu-system-x86 (QEMU >= $QEMU_MIN_MAJOR)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports \
        --no-install-recommends qemu-system-x86
    major=$(qemu_major || true)
    if ! [ "${major:-0}" -ge "$QEMU_MIN_MAJOR" ] 2>/dev/null; then
        log "qemu-system-x86_64 is version ${major:-unknown}, need >= $QEMU_MIN_MAJOR: bookworm's 7.2 loses dirty pages under TCG"
        exit 1
    fi
fi
apt_install iproute2 gcc binutils
