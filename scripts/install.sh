#!/usr/bin/env bash
# Builds the C library and installs it with its header and a pkg-config file:
#
#   scripts/install.sh [PREFIX]        PREFIX defaults to $PREFIX, then /usr/local
#
#   PREFIX/lib/libbda.a                the static library (no_std: needs nothing else)
#   PREFIX/lib/libbda.so               the shared library
#   PREFIX/include/bda.h               the header
#   PREFIX/lib/pkgconfig/bda.pc        for `pkg-config --cflags --libs bda`
#
# DESTDIR is honoured, for staging into a package. No cargo-c needed.
set -euo pipefail
cd "$(dirname "$0")/.."

prefix="${1:-${PREFIX:-/usr/local}}"
destdir="${DESTDIR:-}"
case "$prefix" in
/*) ;;
*) echo "install.sh: PREFIX must be an absolute path, not '$prefix'" >&2 && exit 2 ;;
esac

cargo build --quiet --release -p bda-ffi
version=$(awk '/^#define BDA_VERSION_(MAJOR|MINOR|PATCH) / { v = v (n++ ? "." : "") $3 } END { print v }' include/bda.h)
url=$(sed -n 's/^repository = "\(.*\)"$/\1/p' Cargo.toml)

install -d "$destdir$prefix/lib/pkgconfig" "$destdir$prefix/include"
install -m 644 target/release/libbda.a "$destdir$prefix/lib/libbda.a"
install -m 755 target/release/libbda.so "$destdir$prefix/lib/libbda.so"
install -m 644 include/bda.h "$destdir$prefix/include/bda.h"
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" -e "s|@URL@|$url|" bda-ffi/bda.pc.in \
    >"$destdir$prefix/lib/pkgconfig/bda.pc"
echo "installed bda $version under $destdir$prefix"
