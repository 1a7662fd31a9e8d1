//! `bda_state`: one migration's state, in memory the caller owns.
//!
//! C sees a struct of `u64` words of a fixed size, so it can place a state anywhere (on the
//! stack, in `.bss`, inside its own structs) without malloc. Inside lies a [`Migration`]: the
//! round controller with its policy, the pacer and the predictor's header (its per-page
//! storage is a separate caller buffer). The compile-time assertions below keep the two
//! sizes honest on every target this crate builds for.
#![allow(unsafe_code, reason = "exports C symbols and reads the caller's state")]

use bda_core::{AnyPolicy, BytesPerSec, Controller, Pacer, Predictor, PredictorConfigError, Ticks};

use crate::config::bda_config;
use crate::ffi::{checked, marked, marked_mut, status_of};
use crate::status::bda_status;

/// `u64` words in a `bda_state`.
pub const BDA_STATE_WORDS: usize = 63;

/// The storage of one migration: the round controller, its policy and dirty-rate history,
/// the pacer, and the predictor's header. Opaque: initialise it with `bda_init` and touch it
/// only through bda's functions.
///
/// Ownership: the caller allocates it (static, stack or heap; 8-byte aligned, which the
/// type guarantees) and frees it; bda keeps no pointer to it between calls and allocates
/// nothing. A state holds no pointers, so `memcpy` makes an independent copy (a snapshot).
///
/// Thread safety: calls on distinct states may run concurrently; calls on one state must
/// not overlap (bda has no globals and no locks).
#[allow(non_camel_case_types, reason = "C names")]
#[repr(C)]
pub struct bda_state {
    /// Opaque.
    _opaque: [u64; BDA_STATE_WORDS],
}

/// The first word of an initialised state: "bda-st01" in ASCII. A zero-filled or foreign
/// state does not hold it.
const MAGIC: u64 = u64::from_be_bytes(*b"bda-st01");

/// What a `bda_state` holds.
///
/// cbindgen:ignore
#[repr(C)]
pub(crate) struct Migration {
    /// [`MAGIC`], first, so it can be read before the rest is trusted.
    magic: u64,
    pub(crate) controller: Controller<AnyPolicy>,
    pub(crate) pacer: Pacer,
    /// `None` when the memory has more pages than this target's predictor can address.
    pub(crate) predictor: Option<Predictor>,
}

// The header's struct must hold a `Migration` and be aligned for it, on every target.
const _: () = assert!(size_of::<Migration>() <= size_of::<bda_state>());
const _: () = assert!(align_of::<Migration>() <= align_of::<bda_state>());
const _: () = assert!(align_of::<bda_state>() == 8);

impl Migration {
    /// Writes a migration for `config` to `state` once every rule has passed; on an error
    /// `state` is untouched. Building it where it goes saves a copy of the whole state.
    ///
    /// # Safety
    ///
    /// `state` must be valid for writing a `Migration`.
    unsafe fn init(config: &bda_config, state: core::ptr::NonNull<Self>) -> Result<(), bda_status> {
        let validated = config.validate()?;
        let controller = Controller::new(validated.controller, validated.policy)?;
        // The pacer waits at rate 0 until the first round gives it a rate.
        let pacer = Pacer::new(validated.pacer, BytesPerSec::ZERO, Ticks::ZERO)?;
        let predictor = match Predictor::new(validated.predictor, validated.pages) {
            Ok(predictor) => Some(predictor),
            // A page count beyond this target's `usize`: the migration runs, the predictor's
            // calls return BDA_ERR_PREDICTOR_MEMORY_TOO_LARGE.
            Err(PredictorConfigError::TooManyPages) => None,
            Err(error) => return Err(error.into()),
        };
        // SAFETY: the caller's contract; `write` does not read the old, possibly
        // uninitialised, contents.
        unsafe { state.as_ptr().write(Self { magic: MAGIC, controller, pacer, predictor }) };
        Ok(())
    }

    /// The migration in `state`, for reading.
    ///
    /// # Safety
    ///
    /// `state` must be NULL or point to a `bda_state` that is valid for reads, that only
    /// bda's functions have written since `bda_init`, and that nobody writes during the call.
    pub(crate) unsafe fn get<'a>(state: *const bda_state) -> Result<&'a Self, bda_status> {
        // SAFETY: the caller's contract; a `bda_state` is at least as large as a `Migration`
        // (asserted above), whose first field is the marker.
        unsafe { marked(state.cast::<Self>(), MAGIC, bda_status::BDA_ERR_STATE_NOT_INITIALISED) }
    }

    /// The migration in `state`, for changing.
    ///
    /// # Safety
    ///
    /// As for [`Migration::get`], and nobody else reads or writes the state during the call.
    pub(crate) unsafe fn get_mut<'a>(state: *mut bda_state) -> Result<&'a mut Self, bda_status> {
        // SAFETY: as in `get`.
        unsafe { marked_mut(state.cast::<Self>(), MAGIC, bda_status::BDA_ERR_STATE_NOT_INITIALISED) }
    }
}

/// Initialises `state` for one migration with the settings in `config`.
///
/// Every field of `config` is checked, in the order of the struct; the first broken rule
/// is returned and `state` is left as it was. On success the state holds a fresh migration
/// (before round 1, pacer at rate 0) and `config` is no longer needed. Initialising a state
/// that holds a migration replaces it.
///
/// Ownership: the caller owns both; bda keeps no pointer to either.
///
/// Parameters:
///
/// - `state`: the caller's storage for the migration.
/// - `config`: the settings, filled by `bda_config_default` and then adjusted.
///
/// Returns: `BDA_OK`; `BDA_ERR_NULL_POINTER` or `BDA_ERR_MISALIGNED_POINTER` for a bad
/// pointer; for a broken rule, its status: `BDA_ERR_CONFIG_SIZE`, `BDA_ERR_POLICY_UNKNOWN`,
/// `BDA_ERR_MEMORY_ZERO`, `BDA_ERR_PAGE_SIZE_INVALID`, `BDA_ERR_TICK_HZ_ZERO`,
/// `BDA_ERR_FLOOR_OUT_OF_RANGE`, `BDA_ERR_COEFFICIENTS_UNKNOWN`,
/// `BDA_ERR_INCREMENTAL_START_ABOVE_CEILING`, `BDA_ERR_MAX_ROUNDS_BELOW_TWO`,
/// `BDA_ERR_SENT_LIMIT_BELOW_MEMORY`, `BDA_ERR_CEILING_FLAG_INVALID`,
/// `BDA_ERR_PACER_BURST_BELOW_UNIT`, `BDA_ERR_PREDICTOR_HISTORY_OUT_OF_RANGE`,
/// `BDA_ERR_PREDICTOR_THRESHOLD_OUT_OF_RANGE`, `BDA_ERR_PREDICTOR_DEFERRALS_OUT_OF_RANGE`,
/// `BDA_ERR_RESERVE_SOURCE_UNKNOWN`, `BDA_ERR_DIRTY_RATIO_OUT_OF_RANGE` or
/// `BDA_ERR_UNMET_ACTION_UNKNOWN`. A `size` other than
/// this header's `sizeof(bda_config)` is `BDA_ERR_CONFIG_SIZE`, earlier versions' included
/// (see `bda_config`).
///
/// NULL: neither pointer may be NULL. Thread safety: no other call may use `state` meanwhile.
///
/// # Safety
///
/// `state` must be NULL or valid for writing a `bda_state`; `config` must be NULL or point
/// to a readable `bda_config`, and the two must not overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bda_init(state: *mut bda_state, config: *const bda_config) -> bda_status {
    status_of(|| {
        let state = checked(state.cast_const())?.cast::<Migration>();
        let config = checked(config)?;
        // The size comes first and is read alone, so that a caller's struct of another
        // version (smaller or larger) is refused before anything past its first field is read.
        // SAFETY: non-NULL and aligned; the first field of any version is a `uint32_t` size.
        let size = unsafe { config.cast::<u32>().read() };
        if size != bda_config::SIZE {
            return Err(bda_status::BDA_ERR_CONFIG_SIZE);
        }
        // SAFETY: non-NULL and aligned; a `bda_config` of this version by its size field and
        // the contract, and it has no invalid bit patterns (integers only).
        let config = unsafe { config.as_ref() };
        // SAFETY: non-NULL and aligned, writable by the contract and large enough (asserted
        // above).
        unsafe { Migration::init(config, state) }
    })
}
