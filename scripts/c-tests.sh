#!/usr/bin/env bash
# The C side of bda, as scripts/test.sh runs it (after scripts/setup.sh):
#
#  1. include/bda.h is exactly what cbindgen generates from bda-ffi;
#  2. libbda.a and libbda.so for the host, libbda.a for thumbv7em-none-eabihf;
#  3. every function in the header has its test in tests/c/test_api.c and is called by
#     tests/c/every_export.c;
#  4. the C tests under ASan and UBSan, against the static and the shared library; the
#     header compiled as C99 and as C++17;
#  5. the no-panic proof, host and thumb: a program calling every export links against a
#     build whose panic handler calls an undefined symbol (and a control that keeps a panic
#     path fails to link);
#  6. the flash bda adds to a thumbv7em program and the size of its state, against budgets,
#     and that the library brings no global data;
#  7. README.md's C quick start, compiled exactly as written, and scripts/install.sh with
#     pkg-config.
#
# Artifacts go to target/c/. Usage: scripts/c-tests.sh
set -euo pipefail
cd "$(dirname "$0")/.."

out=target/c
mkdir -p "$out"/host-proof "$out"/host-control "$out"/thumb "$out"/thumb-proof
step() { printf '\n--> %s\n' "$*"; }
fail() {
    printf 'c-tests: FAILED: %s\n' "$*" >&2
    exit 1
}

warnings=(-Wall -Wextra -Werror -pedantic)
sanitize=(-fsanitize=address,undefined -fno-sanitize-recover=all -g -O1)
arm_gcc=(arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 --specs=nosys.specs)
# The 8 KiB flash budget is not met yet (README.md, "The C library"); until it is, this
# ceiling, just above the measured figure (15,472 bytes), guards against growth. It was
# raised from 13 KiB when BDA+ entered the kernel: the C library's policy dispatch carries
# its guards (about 1,400 bytes). It was raised again, from 14,848 to 15,360 bytes, when the
# C ABI came to offer BDA+: its config fields and their checks in bda_init (+192 bytes), the
# guard report copied into every plan (+88) and two telemetry counters (+22) in code, three
# status messages and the larger default config in read-only data (about 220 bytes) took the
# figure from 14,476 to 14,996 bytes; the ceiling keeps about the headroom it had. It was
# raised to 15,872 bytes when BDA+ learned a reserve from the service's traffic (its own
# rule, a larger LinkSample) and its deadline guard planned from the round's progress (the
# round-1 target and the margin): 14,996 -> 15,472 bytes. It was raised to 18,688 bytes
# when the C ABI came to take the service's measured traffic: the link filter
# (bda_link_filter_init/_update and its EWMA step), the _link round calls and the round's
# progress, and six status messages: 15,472 -> 18,176
# bytes. It was raised to 19,200 bytes (the minimal user's to 12,032) when the deadline
# guard came to plan by two thirds of the deadline and to measure what the link delivered
# (the controller's delivery measure, the guard's drain under slow-guest): 18,176 -> 18,744
# bytes, the minimal user 10,972 -> 11,540. A firmware that does not call them does not pay
# for them (--gc-sections): tests/c/minimal_user.c, the core alone (init, rounds, pacer),
# is held under its own ceiling. The state budget is met and enforced.
flash_budget=8192
flash_ceiling=19200
minimal_ceiling=12032
state_budget=512

step "the header is current: cbindgen $(cbindgen --version | cut -d' ' -f2) output equals include/bda.h"
generated="$out/bda.h"
cbindgen -q --config bda-ffi/cbindgen.toml --crate bda-ffi --output "$generated"
diff -u include/bda.h "$generated" || fail "include/bda.h is stale: run scripts/header.sh and commit it"
echo "include/bda.h is current"

step "every exported function has a test and is called by every_export.c"
mapfile -t functions < <(sed -nE 's/^[a-z].*[ *](bda_[a-z0-9_]+)\(.*/\1/p' include/bda.h)
[ "${#functions[@]}" -ge 17 ] || fail "found only ${#functions[@]} functions in include/bda.h"
for function in "${functions[@]}"; do
    grep -q "^static void test_${function}(void)" tests/c/test_api.c || fail "no test_${function} in tests/c/test_api.c"
    grep -q "${function}(" tests/c/every_export.c || fail "tests/c/every_export.c does not call ${function}"
done
echo "${#functions[@]} functions, each tested and called"

step "host: the no-panic proof build, its control, then libbda.a and libbda.so"
cargo rustc --quiet -p bda-ffi --release --crate-type staticlib --features panic-proof
cp target/release/libbda.a "$out/host-proof/"
cargo rustc --quiet -p bda-ffi --release --crate-type staticlib --features panic-proof-control
cp target/release/libbda.a "$out/host-control/"
cargo build --quiet -p bda-ffi --release
ls -l target/release/libbda.a target/release/libbda.so

step "C tests under ASan and UBSan, against libbda.a"
gcc -std=c11 "${warnings[@]}" "${sanitize[@]}" -Iinclude tests/c/test_api.c target/release/libbda.a -o "$out/test_api"
"$out/test_api"
gcc -std=c11 "${warnings[@]}" "${sanitize[@]}" -Iinclude tests/c/migrate_hypervisor.c target/release/libbda.a \
    -o "$out/migrate_hypervisor"
"$out/migrate_hypervisor"

step "the same API tests against libbda.so"
gcc -std=c11 "${warnings[@]}" "${sanitize[@]}" -Iinclude tests/c/test_api.c -Ltarget/release -lbda \
    -Wl,-rpath,"$PWD/target/release" -o "$out/test_api_shared"
ldd "$out/test_api_shared" | grep "$PWD/target/release/libbda.so" >/dev/null || fail "test_api_shared does not use libbda.so"
"$out/test_api_shared"

step "the header as C99 and as C++17"
gcc -std=c99 "${warnings[@]}" -Iinclude tests/c/header_c99.c -o "$out/header_c99"
"$out/header_c99"
g++ -std=c++17 "${warnings[@]}" "${sanitize[@]}" -Iinclude tests/c/header_cpp.cpp target/release/libbda.a \
    -o "$out/header_cpp"
"$out/header_cpp"

step "no-panic proof, host: every export linked with --gc-sections against the proof build"
gcc -std=c11 "${warnings[@]}" -O2 -Iinclude tests/c/every_export.c "$out/host-proof/libbda.a" -Wl,--gc-sections \
    -o "$out/every_export_proof" || fail "a panic path is reachable from the C API (host)"
if gcc -std=c11 -O2 -Iinclude -DBDA_PANIC_PROOF_CONTROL tests/c/every_export.c "$out/host-control/libbda.a" \
    -Wl,--gc-sections -o "$out/every_export_control" 2>"$out/control.log"; then
    fail "the control build linked: the proof cannot see a reachable panic"
fi
grep -q "undefined reference to .bda_panic_is_reachable" "$out/control.log" || fail "the control failed for another reason"
echo "host: no panic path reachable (and the control, which has one, fails to link as it must)"

step "thumbv7em-none-eabihf: libbda.a, its no-panic proof build, and the firmware-style program"
scripts/thumb.sh rustc --quiet -p bda-ffi --release --crate-type staticlib --features panic-proof
thumb_lib() { ls target/thumbv7em-none-eabihf/release/libbda.a target/debian-rustc/thumbv7em-none-eabihf/release/libbda.a 2>/dev/null | head -n1; }
cp "$(thumb_lib)" "$out/thumb-proof/"
scripts/thumb.sh rustc --quiet -p bda-ffi --release --crate-type staticlib
cp "$(thumb_lib)" "$out/thumb/"
arm=(-std=c11 "${warnings[@]}" -Os -ffunction-sections -fdata-sections -Iinclude -Wl,--gc-sections)
# nosys.specs' crt objects carry no .note.GNU-stack; the linker's note about it is noise here.
"${arm_gcc[@]}" "${arm[@]}" tests/c/every_export.c "$out/thumb-proof/libbda.a" -o "$out/every_export_thumb_proof.elf" \
    2> >(grep -v "GNU-stack\|deprecated" >&2) || fail "a panic path is reachable from the C API (thumbv7em)"
echo "thumbv7em: no panic path reachable"
"${arm_gcc[@]}" "${arm[@]}" tests/c/every_export.c "$out/thumb/libbda.a" -o "$out/every_export_thumb.elf" \
    2> >(grep -v "GNU-stack\|deprecated" >&2)
"${arm_gcc[@]}" "${arm[@]}" -DBDA_CALLS=0 tests/c/every_export.c -o "$out/no_bda_thumb.elf" \
    2> >(grep -v "GNU-stack\|deprecated" >&2)
"${arm_gcc[@]}" "${arm[@]}" tests/c/minimal_user.c "$out/thumb/libbda.a" -o "$out/minimal_user_thumb.elf" \
    2> >(grep -v "GNU-stack\|deprecated" >&2)

step "budgets: the flash bda adds on thumbv7em, and one migration's state"
flash() { arm-none-eabi-size "$1" | awk 'NR == 2 { print $1 + $2 }'; }
with=$(flash "$out/every_export_thumb.elf")
without=$(flash "$out/no_bda_thumb.elf")
added=$((with - without))
state_hex=$(arm-none-eabi-nm -S "$out/every_export_thumb.elf" | awk '$4 == "state" { print $2 }')
state=$((16#$state_hex))
config=$(awk '/^#define BDA_STATE_WORDS/ { print $3 * 8 }' include/bda.h)
printf 'flash (text + data) with every export called: %d bytes; without: %d bytes; bda adds %d bytes\n' \
    "$with" "$without" "$added"
minimal=$(($(flash "$out/minimal_user_thumb.elf") - without))
printf 'flash bda adds to the minimal user (tests/c/minimal_user.c: init, rounds, pacer): %d bytes\n' "$minimal"
printf 'state: sizeof(bda_state) = %d bytes on thumbv7em (BDA_STATE_WORDS x 8 = %d)\n' "$state" "$config"
[ "$state" -eq "$config" ] || fail "the thumb state is $state bytes, the header says $config"
[ "$state" -lt "$state_budget" ] || fail "the state ($state bytes) is not under $state_budget bytes"
# No globals: the only data the program gains with bda is its own five statics.
data_symbols() { arm-none-eabi-nm "$1" | awk '$2 ~ /^[bBdDsSgG]$/ { print $3 }' | sort; }
added_data=$(comm -13 <(data_symbols "$out/no_bda_thumb.elf") <(data_symbols "$out/every_export_thumb.elf") | xargs)
[ "$added_data" = "dirty filter send state storage" ] || fail "bda brings data of its own: $added_data"
echo "bda adds no data or bss of its own (no globals): the program's statics are all it gains"
echo "the largest functions bda adds (bytes, demangled):"
arm-none-eabi-nm --size-sort -S -C "$out/every_export_thumb.elf" | awk '$3 ~ /^[tTwW]$/' | tail -n 8 |
    while read -r _ size _ name; do printf '  %5d  %s\n' "$((16#$size))" "${name:0:90}"; done
if [ "$added" -ge "$flash_budget" ]; then
    printf 'flash: %d bytes is over the %d-byte budget (README.md says so); ceiling %d\n' \
        "$added" "$flash_budget" "$flash_ceiling"
fi
[ "$added" -lt "$flash_ceiling" ] || fail "bda adds $added bytes of flash, over the $flash_ceiling-byte ceiling"
[ "$minimal" -lt "$minimal_ceiling" ] ||
    fail "bda adds $minimal bytes of flash to the minimal user, over the $minimal_ceiling-byte ceiling"

step "README.md's C quick start, exactly as written"
sed -n '/^<!-- quickstart.c -->$/,/^```$/p' README.md | sed '1,2d;$d' >"$out/quickstart.c"
[ -s "$out/quickstart.c" ] || fail "no quick start found in README.md"
# The README's own build line, run from the repository root.
sed -n '/^<!-- quickstart.sh -->$/,/^```$/p' README.md | sed '1,2d;$d' >"$out/quickstart.sh"
(cd "$out" && ln -sf ../../include include && mkdir -p target && ln -sfn ../../release target/release &&
    bash -euo pipefail quickstart.sh 2>/dev/null) >"$out/quickstart.out"
cat "$out/quickstart.out"
sed -n '/^<!-- quickstart.out -->$/,/^```$/p' README.md | sed '1,2d;$d' >"$out/quickstart.expected"
diff -u "$out/quickstart.expected" "$out/quickstart.out" || fail "the quick start's output differs from README.md's"
gcc -std=c11 "${warnings[@]}" "${sanitize[@]}" -Iinclude "$out/quickstart.c" target/release/libbda.a -o "$out/quickstart_asan"
"$out/quickstart_asan" >/dev/null

step "scripts/install.sh and pkg-config"
prefix="$PWD/$out/prefix"
rm -rf "$prefix"
scripts/install.sh "$prefix" >/dev/null
PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --modversion bda
version=$(awk '/^#define BDA_VERSION_(MAJOR|MINOR|PATCH) / { v = v (n++ ? "." : "") $3 } END { print v }' include/bda.h)
[ "$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --modversion bda)" = "$version" ] || fail "bda.pc's version"
# shellcheck disable=SC2046 # pkg-config's flags are meant to split
gcc -std=c11 "${warnings[@]}" "$out/quickstart.c" $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs bda) \
    -Wl,-rpath,"$prefix/lib" -o "$out/quickstart_installed"
"$out/quickstart_installed" >/dev/null
echo "installed to $prefix; the quick start builds with pkg-config and runs"

printf '\nc-tests: all passed\n'
