//! # bda-ffi: the C ABI of bda
//!
//! This crate builds `libbda.a` and `libbda.so` over [`bda_core`], and `cbindgen` turns it
//! into `include/bda.h`, which is checked in and verified current by the tests. Hypervisors
//! (QEMU, Xen and their kin) and SmartNIC firmware written in C link it. It is `no_std`,
//! allocates nothing, and the link check in `scripts/c-tests.sh` proves that no panic path
//! survives in the library.
//!
//! ## The API in one page
//!
//! ```text
//! bda_config cfg; bda_config_default(&cfg);       settings, defaults first
//! cfg.memory_bytes = ...; cfg.tick_hz = ...;       the two fields without a default
//! bda_state st; bda_init(&st, &cfg);               one migration, in the caller's memory
//! loop:
//!   bda_begin_round(&st, capacity, other, now, &plan)       plan.migration_bytes_per_s
//!   [bda_predictor_plan_round(...)]                          from round 2: what to send
//!   per page: bda_pacer_try_release(&st, now, &release)      now, or wait_ticks
//!   every ~100 ms: bda_reassess(&st, capacity, other, now, &plan)
//!     or, measuring the VM's own service traffic too (BDA+ reserves what it learns):
//!     bda_link_filter_update(&filter, capacity, other, service, 1, now, &link)
//!     bda_reassess_link(&st, &link, &progress /* or NULL */, now, &plan)
//!   bda_end_round(&st, sent, dirtied, remaining, now, &verdict)
//!   until verdict.next == BDA_NEXT_COMPLETE
//! bda_get_summary(&st, &summary)
//! ```
//!
//! ## Conventions (the same for every function)
//!
//! - Every function returns a `bda_status`: `BDA_OK`, or one specific reason. A refused
//!   call changes nothing (except `BDA_ERR_GUARD_UNMET`, which says bda aborted the
//!   migration): outputs are written only on `BDA_OK`.
//! - Arguments come in the order: state, inputs, outputs. Read-only pointers are `const`.
//!   A buffer is a pointer followed by its length in elements.
//! - No pointer may be NULL (`BDA_ERR_NULL_POINTER`) or misaligned for its type
//!   (`BDA_ERR_MISALIGNED_POINTER`).
//! - Units are in the names: `_bytes_per_s`, `_bytes`, `_pages`, `_ticks` (of the caller's
//!   clock at `tick_hz`), `_us`, `_ppm`. Every `uint64_t` input is accepted unless its
//!   documentation names a status for it; arithmetic saturates and never wraps.
//! - The caller owns all memory. bda keeps no pointer between calls, has no globals, and is
//!   re-entrant: distinct states may be used from distinct threads at once.
//! - Enumerations are passed into bda as plain `uint32_t` checked against their `BDA_*`
//!   values; enum types appear only in outputs.

#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![deny(missing_docs)]
// Tests compute expected values with plain arithmetic and call the C functions directly.
#![cfg_attr(
    test,
    allow(unsafe_code, clippy::arithmetic_side_effects, clippy::as_conversions, clippy::undocumented_unsafe_blocks)
)]

// In the order the header presents them (cbindgen follows the modules): the boundary's
// helpers, the version, statuses, configuration, the state, the rounds, the pacer and the
// predictor.
mod ffi;

mod status;

mod config;

mod state;

mod link;

mod migration;

mod pacer;

mod predictor;

pub use config::{
    BDA_COEFFICIENTS_DIRTY_RATE, BDA_COEFFICIENTS_UTILISATION, BDA_POLICY_BDA, BDA_POLICY_BDA_PLUS,
    BDA_POLICY_INCREMENTAL, BDA_POLICY_PCA, BDA_POLICY_STATIC, BDA_RESERVE_DIRTY_RATE, BDA_RESERVE_SERVICE_TRAFFIC,
    BDA_UNMET_ABORT, BDA_UNMET_SLOW_GUEST, BDA_UNMET_TAKE_RESERVE, bda_config, bda_config_default,
};
pub use link::{
    BDA_LINK_FILTER_WORDS, bda_link, bda_link_filter, bda_link_filter_config, bda_link_filter_config_default,
    bda_link_filter_init, bda_link_filter_update,
};
pub use migration::{
    bda_abort, bda_begin_round, bda_begin_round_link, bda_end_round, bda_get_summary, bda_get_telemetry, bda_guard,
    bda_next, bda_plan, bda_progress, bda_reassess, bda_reassess_link, bda_request_stop_and_copy, bda_round_kind,
    bda_rule, bda_stop_reason, bda_summary, bda_telemetry, bda_verdict,
};
pub use pacer::{bda_pacer_next_release, bda_pacer_set_rate, bda_pacer_try_release, bda_release, bda_release_kind};
pub use predictor::{bda_predictor_init, bda_predictor_plan_round, bda_predictor_result, bda_predictor_words};
pub use state::{BDA_STATE_WORDS, bda_init, bda_state};
pub use status::{bda_status, bda_status_str};

/// The major version: incompatible changes to the header (a changed struct, size or
/// function) raise it.
pub const BDA_VERSION_MAJOR: u32 = 0;
/// The minor version: compatible additions.
pub const BDA_VERSION_MINOR: u32 = 1;
/// The patch version: fixes.
pub const BDA_VERSION_PATCH: u32 = 0;
/// The version as one number, `(major << 16) | (minor << 8) | patch`, what `bda_version`
/// returns; compare the two to check that the header and the library agree.
pub const BDA_VERSION_NUMBER: u32 = (BDA_VERSION_MAJOR << 16) | (BDA_VERSION_MINOR << 8) | BDA_VERSION_PATCH;

/// A decimal number at compile time, or `u32::MAX` if it is not one.
#[allow(clippy::as_conversions, reason = "u8 to u32 is lossless, and `From` is not const")]
const fn parse_u32(text: &str) -> u32 {
    let mut rest = text.as_bytes();
    let mut value: u32 = 0;
    while let [digit, tail @ ..] = rest {
        if !digit.is_ascii_digit() {
            return u32::MAX;
        }
        value = match value.checked_mul(10) {
            Some(tens) => match tens.checked_add(digit.saturating_sub(b'0') as u32) {
                Some(value) => value,
                None => return u32::MAX,
            },
            None => return u32::MAX,
        };
        rest = tail;
    }
    value
}

// The header's version defines must be Cargo.toml's version.
const _: () = assert!(BDA_VERSION_MAJOR == parse_u32(env!("CARGO_PKG_VERSION_MAJOR")));
const _: () = assert!(BDA_VERSION_MINOR == parse_u32(env!("CARGO_PKG_VERSION_MINOR")));
const _: () = assert!(BDA_VERSION_PATCH == parse_u32(env!("CARGO_PKG_VERSION_PATCH")));
// `BDA_VERSION_NUMBER` packs each part in 8 bits.
const _: () = assert!(BDA_VERSION_MINOR < 256 && BDA_VERSION_PATCH < 256 && BDA_VERSION_MAJOR < 256);

/// The library's version, `(major << 16) | (minor << 8) | patch`: equal to
/// `BDA_VERSION_NUMBER` when the header and the library come from the same release.
///
/// Returns: the version number. No pointers; callable from any thread at any time.
#[allow(unsafe_code, reason = "a C export")]
#[unsafe(no_mangle)]
pub extern "C" fn bda_version() -> u32 {
    BDA_VERSION_NUMBER
}

/// The library never panics: every path is checked or saturating, and the no-panic link
/// check proves the optimiser removed every panic path, so this handler is dead code.
#[cfg(all(not(any(test, feature = "std")), not(feature = "panic-proof")))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// The proof build: a panic path that survived optimisation references this undefined
/// symbol, and the C program linked against the library fails to link.
#[cfg(all(not(any(test, feature = "std")), feature = "panic-proof"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    #[allow(unsafe_code, reason = "the proof needs an undefined symbol")]
    unsafe extern "C" {
        safe fn bda_panic_is_reachable() -> !;
    }
    bda_panic_is_reachable()
}

/// The no-panic proof's control (feature `panic-proof-control`, never in a real build): an
/// index that can be out of bounds keeps a panic path, so a program calling this must fail
/// to link against the proof build. Not in the header.
///
/// cbindgen:ignore
#[cfg(feature = "panic-proof-control")]
#[allow(unsafe_code, clippy::indexing_slicing, reason = "a C export that panics on purpose")]
#[unsafe(no_mangle)]
pub extern "C" fn bda_panic_proof_control(index: usize) -> u32 {
    [BDA_VERSION_MAJOR, BDA_VERSION_MINOR, BDA_VERSION_PATCH][index]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_cargos() {
        let number = (BDA_VERSION_MAJOR << 16) | (BDA_VERSION_MINOR << 8) | BDA_VERSION_PATCH;
        assert_eq!(bda_version(), number);
        let version = format!("{BDA_VERSION_MAJOR}.{BDA_VERSION_MINOR}.{BDA_VERSION_PATCH}");
        assert_eq!(version, env!("CARGO_PKG_VERSION"));
        assert_eq!(
            (parse_u32("0"), parse_u32("42"), parse_u32("4x"), parse_u32("99999999999")),
            (0, 42, u32::MAX, u32::MAX)
        );
    }

    #[test]
    fn the_checked_in_header_carries_the_version_and_every_export() {
        let header = include_str!("../../include/bda.h");
        for (name, value) in [("MAJOR", BDA_VERSION_MAJOR), ("MINOR", BDA_VERSION_MINOR), ("PATCH", BDA_VERSION_PATCH)]
        {
            assert!(header.contains(&format!("#define BDA_VERSION_{name} {value}\n")), "BDA_VERSION_{name}");
        }
        assert!(header.contains(&format!("#define BDA_STATE_WORDS {BDA_STATE_WORDS}\n")));
    }
}
