//! The pacer: may the next page (or DMA descriptor) go now, and if not, when?
//!
//! Each state holds one pacer over the caller's tick clock. Its unit and burst come from
//! `bda_config`; its rate follows the round's allocation (`bda_begin_round`,
//! `bda_reassess`) and can be set directly with `bda_pacer_set_rate`. Per unit it costs a
//! few additions and comparisons, no division. Bounds, for any rate changes and tick
//! sequences: released bytes never exceed `integral of rate dt + burst`, and a sender that
//! always has a unit waiting never falls more than one unit behind `integral of rate dt`
//! (when one tick's worth of bytes fits in `burst - unit`).
#![allow(unsafe_code, reason = "exports C symbols and reads the caller's pointers")]

use bda_core::{BytesPerSec, Release, Ticks};

use crate::ffi::{Out, status_of};
use crate::state::{Migration, bda_state};
use crate::status::bda_status;

/// The pacer's answer for the next unit.
#[allow(non_camel_case_types, reason = "C names")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum bda_release_kind {
    /// The unit may go now.
    BDA_RELEASE_NOW = 1,
    /// The unit may go at `at_tick`, not earlier; ask again then. `at_tick == UINT64_MAX`
    /// means never: the schedule ran past the end of the clock.
    BDA_RELEASE_LATER = 2,
    /// The rate is 0: nothing goes until it changes.
    BDA_RELEASE_BLOCKED = 3,
}

/// The pacer's answer, from `bda_pacer_try_release` and `bda_pacer_next_release`.
#[allow(non_camel_case_types, reason = "C names")]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct bda_release {
    /// Now, later, or blocked.
    pub kind: bda_release_kind,
    /// The earliest tick at which the unit may go: `now_ticks` for `BDA_RELEASE_NOW`,
    /// `UINT64_MAX` for `BDA_RELEASE_BLOCKED`.
    pub at_tick: u64,
    /// `at_tick - now_ticks`: how many ticks to wait (0 for now, `UINT64_MAX` if blocked).
    pub wait_ticks: u64,
}

impl bda_release {
    fn new(release: Release, now: Ticks) -> Self {
        let (kind, at) = match release {
            Release::Now => (bda_release_kind::BDA_RELEASE_NOW, now),
            Release::NotBefore(at) => (bda_release_kind::BDA_RELEASE_LATER, at),
            Release::Blocked => (bda_release_kind::BDA_RELEASE_BLOCKED, Ticks::MAX),
        };
        let wait = if kind == bda_release_kind::BDA_RELEASE_BLOCKED { Ticks::MAX } else { at.saturating_sub(now) };
        Self { kind, at_tick: at.0, wait_ticks: wait.0 }
    }
}

/// Sets the pacer's rate from `now_ticks` on, overriding the round's allocation until the
/// next `bda_begin_round` or `bda_reassess`. Bytes already released are paid for at the
/// old rate up to `now_ticks` and at the new rate after it; 0 blocks the pacer.
///
/// Parameters:
///
/// - `state`: an initialised migration.
/// - `rate_bytes_per_s`: the new rate; every value is accepted.
/// - `now_ticks`: the caller's clock, in ticks of `tick_hz`.
///
/// Returns: `BDA_OK`; `BDA_ERR_NULL_POINTER`, `BDA_ERR_MISALIGNED_POINTER` or
/// `BDA_ERR_STATE_NOT_INITIALISED`.
///
/// NULL: `state` may not be NULL. Thread safety: no other call may use `state` meanwhile.
///
/// # Safety
///
/// `state` must be NULL or a state passed to `bda_init` and otherwise untouched.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bda_pacer_set_rate(
    state: *mut bda_state,
    rate_bytes_per_s: u64,
    now_ticks: u64,
) -> bda_status {
    status_of(|| {
        // SAFETY: the function's contract.
        let migration = unsafe { Migration::get_mut(state)? };
        migration.pacer.set_rate(BytesPerSec(rate_bytes_per_s), Ticks(now_ticks));
        Ok(())
    })
}

/// Asks whether one unit (`pacer_unit_bytes`) may go at `now_ticks`; if it may, counts it
/// as released. Call it once per unit before sending it; on `BDA_RELEASE_LATER`, wait
/// `wait_ticks` and ask again.
///
/// Parameters:
///
/// - `state`: an initialised migration.
/// - `now_ticks`: the caller's clock, in ticks of `tick_hz`.
/// - `release`: receives the answer.
///
/// Returns: `BDA_OK` (whatever the answer); `BDA_ERR_NULL_POINTER`,
/// `BDA_ERR_MISALIGNED_POINTER` or `BDA_ERR_STATE_NOT_INITIALISED`, and then nothing was
/// released or written.
///
/// NULL: no pointer may be NULL. Thread safety: no other call may use `state` meanwhile.
///
/// # Safety
///
/// `state` must be NULL or a state passed to `bda_init` and otherwise untouched; `release`
/// must be NULL or valid for writing a `bda_release`; they must not overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bda_pacer_try_release(
    state: *mut bda_state,
    now_ticks: u64,
    release: *mut bda_release,
) -> bda_status {
    status_of(|| {
        let out = Out::new(release)?;
        // SAFETY: the function's contract.
        let migration = unsafe { Migration::get_mut(state)? };
        let answer = migration.pacer.try_release(Ticks(now_ticks));
        // SAFETY: the function's contract: `release` is valid for a write.
        unsafe { out.write(bda_release::new(answer, Ticks(now_ticks))) };
        Ok(())
    })
}

/// Like `bda_pacer_try_release`, but releases nothing: when could the next unit go?
///
/// Parameters, returns and NULL as for `bda_pacer_try_release`.
///
/// Thread safety: reads `state` only.
///
/// # Safety
///
/// `state` must be NULL or a state passed to `bda_init` and otherwise untouched; `release`
/// must be NULL or valid for writing a `bda_release`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bda_pacer_next_release(
    state: *const bda_state,
    now_ticks: u64,
    release: *mut bda_release,
) -> bda_status {
    status_of(|| {
        let out = Out::new(release)?;
        // SAFETY: the function's contract.
        let migration = unsafe { Migration::get(state)? };
        let answer = migration.pacer.next_release(Ticks(now_ticks));
        // SAFETY: the function's contract: `release` is valid for a write.
        unsafe { out.write(bda_release::new(answer, Ticks(now_ticks))) };
        Ok(())
    })
}
