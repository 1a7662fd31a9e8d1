//! The status every call returns: `BDA_OK`, or one specific reason for refusing.
//!
//! The discriminants are part of the ABI: each is explicit, grouped by origin in blocks of
//! 100, and never reused once released (a retired code stays reserved). Functions return
//! `bda_status`; [`bda_status_str`] takes the raw integer, so any value a C caller holds is
//! safe to pass.

use core::ffi::c_char;

use bda_core::{
    BdaPlusConfigError, ControllerConfigError, ControllerError, IncrementalConfigError, PacerConfigError,
    PredictorConfigError, PredictorError,
};

/// What a bda call did: `BDA_OK`, or the one reason it refused.
///
/// A refused call changed nothing: no output was written and the state is as it was. The
/// one exception is `BDA_ERR_GUARD_UNMET`, which reports that bda aborted the migration.
/// Values are stable across releases and never reused.
#[allow(non_camel_case_types, reason = "C names")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum bda_status {
    // General: 0..99.
    /// Success.
    BDA_OK = 0,
    /// A pointer argument was NULL.
    BDA_ERR_NULL_POINTER = 1,
    /// A pointer argument was not aligned for its type (8 bytes for `bda_state`, `bda_config`,
    /// `bda_link_filter`, `bda_link_filter_config`, `bda_link`, `bda_progress` and the
    /// `uint64_t` buffers).
    BDA_ERR_MISALIGNED_POINTER = 2,
    /// The state was not initialised by `bda_init` (its first word does not hold bda's marker,
    /// as in a zero-filled state).
    BDA_ERR_STATE_NOT_INITIALISED = 3,
    /// Two of the predictor's buffers (storage, dirty bitmap, send bitmap) overlap.
    BDA_ERR_BUFFERS_OVERLAP = 4,
    /// The link filter was not initialised by `bda_link_filter_init` (its first word does not
    /// hold bda's marker).
    BDA_ERR_LINK_FILTER_NOT_INITIALISED = 5,
    /// An internal check failed: a kernel rule that the C layer's own validation should
    /// already have caught. Never returned unless bda has a bug; please report it.
    BDA_ERR_INTERNAL = 99,

    // Configuration, one code per rule: 100..199.
    /// `bda_config.size` is not `sizeof(bda_config)` (fill the config with
    /// `bda_config_default` first).
    BDA_ERR_CONFIG_SIZE = 100,
    /// `bda_config.policy` is not one of the `BDA_POLICY_*` values.
    BDA_ERR_POLICY_UNKNOWN = 101,
    /// `bda_config.memory_bytes` is zero.
    BDA_ERR_MEMORY_ZERO = 102,
    /// `bda_config.page_size_bytes` is not a power of two from 4096 to 2^30.
    BDA_ERR_PAGE_SIZE_INVALID = 103,
    /// `bda_config.tick_hz` (or `bda_link_filter_config.tick_hz`) is zero.
    BDA_ERR_TICK_HZ_ZERO = 104,
    /// `bda_config.bda_floor_ppm` is above 1,000,000.
    BDA_ERR_FLOOR_OUT_OF_RANGE = 105,
    /// `bda_config.bda_coefficients` is not one of the `BDA_COEFFICIENTS_*` values.
    BDA_ERR_COEFFICIENTS_UNKNOWN = 106,
    /// `bda_config.incremental_start_bytes_per_s` is above `incremental_ceiling_bytes_per_s`.
    BDA_ERR_INCREMENTAL_START_ABOVE_CEILING = 107,
    /// `bda_config.stop_max_rounds` is below 2 (round 1 and the stop-and-copy round).
    BDA_ERR_MAX_ROUNDS_BELOW_TWO = 108,
    /// `bda_config.stop_max_sent_percent` is in 1..99: round 1 alone sends all of memory.
    BDA_ERR_SENT_LIMIT_BELOW_MEMORY = 109,
    /// `bda_config.stop_ceiling_without_progress` is neither 0 nor 1.
    BDA_ERR_CEILING_FLAG_INVALID = 110,
    /// `bda_config.pacer_burst_bytes` is below the pacer's unit: not even one unit could go.
    BDA_ERR_PACER_BURST_BELOW_UNIT = 111,
    /// `bda_config.predictor_history_rounds` is not in 1..8.
    BDA_ERR_PREDICTOR_HISTORY_OUT_OF_RANGE = 112,
    /// `bda_config.predictor_threshold_ppm` is above 1,000,000.
    BDA_ERR_PREDICTOR_THRESHOLD_OUT_OF_RANGE = 113,
    /// `bda_config.predictor_max_deferrals` is above 15.
    BDA_ERR_PREDICTOR_DEFERRALS_OUT_OF_RANGE = 114,
    /// `bda_config.bda_plus_max_dirty_ratio_ppm` is above 1,000,000 (a dirty rate above the
    /// migration rate never converges; 0 turns the guard off).
    BDA_ERR_DIRTY_RATIO_OUT_OF_RANGE = 115,
    /// `bda_config.bda_plus_on_unmet` is not one of the `BDA_UNMET_*` values.
    BDA_ERR_UNMET_ACTION_UNKNOWN = 116,
    /// `bda_config.bda_plus_reserve_source` is not one of the `BDA_RESERVE_*` values.
    BDA_ERR_RESERVE_SOURCE_UNKNOWN = 117,
    /// `bda_link_filter_config.service_deviations` is above 255.
    BDA_ERR_SERVICE_DEVIATIONS_OUT_OF_RANGE = 118,

    // Measurements: 200..299.
    /// The other traffic reported is above the link capacity. Nothing was changed; pass
    /// `other_usage = capacity` to report a full link (free bandwidth 0).
    BDA_ERR_USAGE_ABOVE_CAPACITY = 200,
    /// `bda_link.has_service_reserve` is neither 0 nor 1.
    BDA_ERR_SERVICE_RESERVE_FLAG_INVALID = 201,
    /// `bda_link_filter_update`'s `service_measured` is neither 0 nor 1.
    BDA_ERR_SERVICE_MEASURED_FLAG_INVALID = 202,
    /// `bda_progress.has_dirtied` is neither 0 nor 1.
    BDA_ERR_DIRTIED_FLAG_INVALID = 203,

    // The round state machine: 300..399.
    /// `bda_begin_round` or `bda_begin_round_link` while a round is running.
    BDA_ERR_ROUND_IN_PROGRESS = 300,
    /// `bda_end_round`, `bda_reassess`, `bda_reassess_link` or `bda_predictor_plan_round` with
    /// no round running.
    BDA_ERR_NO_ROUND_IN_PROGRESS = 301,
    /// A call after the stop-and-copy round ended.
    BDA_ERR_MIGRATION_COMPLETE = 302,
    /// A call after `bda_abort`.
    BDA_ERR_MIGRATION_ABORTED = 303,
    /// `bda_request_stop_and_copy` outside the gap between two rounds.
    BDA_ERR_NOT_BETWEEN_ROUNDS = 304,
    /// `bda_get_summary` before the stop-and-copy round ended.
    BDA_ERR_MIGRATION_NOT_COMPLETE = 305,
    /// `bda_predictor_plan_round` in round 1, which sends all of memory.
    BDA_ERR_FIRST_ROUND = 306,
    /// A round call that plans (`bda_begin_round`, `bda_reassess` or their `_link` forms)
    /// under BDA+ with `BDA_UNMET_ABORT`: a guard needed more than the free bandwidth, so bda
    /// aborted the migration (unlike every other refusal, this one changes the state: it is
    /// aborted, and the telemetry counts the unmet guard). No plan is written; stop sending (the pacer keeps its last rate). Every
    /// later round call returns `BDA_ERR_MIGRATION_ABORTED`, the status that follows the
    /// caller's own `bda_abort`.
    BDA_ERR_GUARD_UNMET = 307,

    // Caller buffers: 400..499.
    /// The predictor's storage has fewer words than `bda_predictor_words` reports.
    BDA_ERR_STORAGE_TOO_SMALL = 400,
    /// The dirty bitmap has fewer words than `bda_predictor_words` reports.
    BDA_ERR_DIRTY_BITMAP_TOO_SMALL = 401,
    /// The send bitmap has fewer words than `bda_predictor_words` reports.
    BDA_ERR_SEND_BITMAP_TOO_SMALL = 402,
    /// The memory has more pages than the predictor can address on this target (more than
    /// 2^38 pages on a 32-bit target); the rest of bda works as usual.
    BDA_ERR_PREDICTOR_MEMORY_TOO_LARGE = 403,
}

/// Generates the code and message tables from one list, in its order. The messages are one
/// string, each ended by its NUL, so they cost their own bytes and no table of pointers; a
/// status's code is found in a table of 16-bit codes (a no_std C library on a small core
/// pays for every byte). The tests check each status against its message in the list.
macro_rules! messages {
    ($( $name:ident => $text:literal, )*) => {
        impl bda_status {
            /// Every status, in the order of the list.
            #[cfg(test)]
            pub(crate) const ALL: &[bda_status] = &[$( bda_status::$name, )*];

            /// The message of this status, as the list gives it.
            #[cfg(test)]
            pub(crate) const fn message(self) -> &'static str {
                match self {
                    $( Self::$name => $text, )*
                }
            }
        }

        /// Every status's code, in the order of the list.
        const CODES: &[u16] = &[$( code16(bda_status::$name), )*];

        /// Every status's message in the order of the list, then the one for unknown codes;
        /// each ends with a NUL.
        const MESSAGES: &[u8] = concat!($( $text, "\0", )* "unknown status\0").as_bytes();
    };
}

/// A status's code as 16 bits; every code is below 500 (a larger one fails to compile).
#[allow(clippy::as_conversions, clippy::cast_possible_truncation, reason = "asserted to fit; `From` is not const")]
const fn code16(status: bda_status) -> u16 {
    let code = status as u32;
    assert!(code <= u16::MAX as u32);
    code as u16
}

messages! {
    BDA_OK => "ok",
    BDA_ERR_NULL_POINTER => "a pointer argument is NULL",
    BDA_ERR_MISALIGNED_POINTER => "a pointer argument is not aligned for its type",
    BDA_ERR_STATE_NOT_INITIALISED => "the state was not initialised by bda_init",
    BDA_ERR_BUFFERS_OVERLAP => "the predictor's buffers overlap",
    BDA_ERR_LINK_FILTER_NOT_INITIALISED => "the link filter was not initialised by bda_link_filter_init",
    BDA_ERR_INTERNAL => "internal error: a rule the C layer should have checked (please report)",
    BDA_ERR_CONFIG_SIZE => "config: size is not sizeof(bda_config) (use bda_config_default)",
    BDA_ERR_POLICY_UNKNOWN => "config: policy is not a BDA_POLICY_* value",
    BDA_ERR_MEMORY_ZERO => "config: memory_bytes is zero",
    BDA_ERR_PAGE_SIZE_INVALID => "config: page_size_bytes is not a power of two in 4096..2^30",
    BDA_ERR_TICK_HZ_ZERO => "config: tick_hz is zero (bda_config or bda_link_filter_config)",
    BDA_ERR_FLOOR_OUT_OF_RANGE => "config: bda_floor_ppm is above 1000000",
    BDA_ERR_COEFFICIENTS_UNKNOWN => "config: bda_coefficients is not a BDA_COEFFICIENTS_* value",
    BDA_ERR_INCREMENTAL_START_ABOVE_CEILING => "config: incremental start rate is above its ceiling",
    BDA_ERR_MAX_ROUNDS_BELOW_TWO => "config: stop_max_rounds is below 2",
    BDA_ERR_SENT_LIMIT_BELOW_MEMORY => "config: stop_max_sent_percent is in 1..99 (below all of memory)",
    BDA_ERR_CEILING_FLAG_INVALID => "config: stop_ceiling_without_progress is neither 0 nor 1",
    BDA_ERR_PACER_BURST_BELOW_UNIT => "config: pacer_burst_bytes is below the pacer's unit",
    BDA_ERR_PREDICTOR_HISTORY_OUT_OF_RANGE => "config: predictor_history_rounds is not in 1..8",
    BDA_ERR_PREDICTOR_THRESHOLD_OUT_OF_RANGE => "config: predictor_threshold_ppm is above 1000000",
    BDA_ERR_PREDICTOR_DEFERRALS_OUT_OF_RANGE => "config: predictor_max_deferrals is above 15",
    BDA_ERR_DIRTY_RATIO_OUT_OF_RANGE => "config: bda_plus_max_dirty_ratio_ppm is above 1000000",
    BDA_ERR_UNMET_ACTION_UNKNOWN => "config: bda_plus_on_unmet is not a BDA_UNMET_* value",
    BDA_ERR_RESERVE_SOURCE_UNKNOWN => "config: bda_plus_reserve_source is not a BDA_RESERVE_* value",
    BDA_ERR_SERVICE_DEVIATIONS_OUT_OF_RANGE => "link filter config: service_deviations is above 255",
    BDA_ERR_USAGE_ABOVE_CAPACITY => "link: other usage is above the capacity",
    BDA_ERR_SERVICE_RESERVE_FLAG_INVALID => "link: has_service_reserve is neither 0 nor 1",
    BDA_ERR_SERVICE_MEASURED_FLAG_INVALID => "link filter: service_measured is neither 0 nor 1",
    BDA_ERR_DIRTIED_FLAG_INVALID => "progress: has_dirtied is neither 0 nor 1",
    BDA_ERR_ROUND_IN_PROGRESS => "a round is already in progress",
    BDA_ERR_NO_ROUND_IN_PROGRESS => "no round is in progress",
    BDA_ERR_MIGRATION_COMPLETE => "the migration is complete",
    BDA_ERR_MIGRATION_ABORTED => "the migration was aborted",
    BDA_ERR_NOT_BETWEEN_ROUNDS => "stop-and-copy can only be requested between rounds",
    BDA_ERR_MIGRATION_NOT_COMPLETE => "the migration is not complete yet",
    BDA_ERR_FIRST_ROUND => "the predictor plans rounds 2 onwards; round 1 sends all of memory",
    BDA_ERR_GUARD_UNMET => "a BDA+ guard needs more than the free bandwidth; the migration was aborted",
    BDA_ERR_STORAGE_TOO_SMALL => "predictor: the storage is too small (see bda_predictor_words)",
    BDA_ERR_DIRTY_BITMAP_TOO_SMALL => "predictor: the dirty bitmap is too small (see bda_predictor_words)",
    BDA_ERR_SEND_BITMAP_TOO_SMALL => "predictor: the send bitmap is too small (see bda_predictor_words)",
    BDA_ERR_PREDICTOR_MEMORY_TOO_LARGE => "predictor: the memory has too many pages for this target",
}

/// The message for a status code, as a static NUL-terminated string.
///
/// Ownership: the string is static; do not free or modify it.
///
/// Parameters:
///
/// - `status`: any integer; codes that are not a `bda_status` get `"unknown status"`.
///
/// Returns: a non-NULL pointer to the message, valid for the life of the program.
///
/// NULL: no pointer parameters. Thread safety: may be called from any thread at any time.
#[allow(unsafe_code, reason = "a C export")]
#[unsafe(no_mangle)]
pub extern "C" fn bda_status_str(status: u32) -> *const c_char {
    // An unknown code finds no index and gets the last message, "unknown status".
    let index = CODES.iter().position(|&code| u32::from(code) == status).unwrap_or(CODES.len());
    // The index-th message and the NUL after it.
    // (`nth` always finds one: `index` is at most the number of messages less one. The
    // fallback is an empty C string all the same.)
    let message = MESSAGES.split(|&byte| byte == 0).nth(index).unwrap_or(b"\0");
    message.as_ptr().cast()
}

/// Configuration errors the C layer's own checks make unreachable map to
/// [`bda_status::BDA_ERR_INTERNAL`]: C turns a limit off with 0, where Rust uses `None`.
impl From<ControllerConfigError> for bda_status {
    fn from(error: ControllerConfigError) -> Self {
        match error {
            ControllerConfigError::MemoryZero => Self::BDA_ERR_MEMORY_ZERO,
            ControllerConfigError::TickHzZero => Self::BDA_ERR_TICK_HZ_ZERO,
            ControllerConfigError::MaxRoundsBelowTwo => Self::BDA_ERR_MAX_ROUNDS_BELOW_TWO,
            ControllerConfigError::SentLimitBelowMemory => Self::BDA_ERR_SENT_LIMIT_BELOW_MEMORY,
            ControllerConfigError::DowntimeTargetZero
            | ControllerConfigError::NonConvergenceRoundsZero
            | ControllerConfigError::StallAfterZero => Self::BDA_ERR_INTERNAL,
        }
    }
}

/// C turns a guard off with 0, where Rust uses `None`, so a zero `Some` cannot reach the
/// kernel.
impl From<BdaPlusConfigError> for bda_status {
    fn from(error: BdaPlusConfigError) -> Self {
        match error {
            BdaPlusConfigError::DirtyRatioZero | BdaPlusConfigError::DeadlineZero => Self::BDA_ERR_INTERNAL,
        }
    }
}

impl From<IncrementalConfigError> for bda_status {
    fn from(error: IncrementalConfigError) -> Self {
        match error {
            IncrementalConfigError::StartAboveCeiling => Self::BDA_ERR_INCREMENTAL_START_ABOVE_CEILING,
        }
    }
}

impl From<PacerConfigError> for bda_status {
    fn from(error: PacerConfigError) -> Self {
        match error {
            PacerConfigError::TickHzZero => Self::BDA_ERR_TICK_HZ_ZERO,
            PacerConfigError::BurstBelowUnit => Self::BDA_ERR_PACER_BURST_BELOW_UNIT,
            // A unit of 0 in C means one page.
            PacerConfigError::UnitZero => Self::BDA_ERR_INTERNAL,
        }
    }
}

impl From<PredictorConfigError> for bda_status {
    fn from(error: PredictorConfigError) -> Self {
        match error {
            PredictorConfigError::HistoryRoundsOutOfRange => Self::BDA_ERR_PREDICTOR_HISTORY_OUT_OF_RANGE,
            PredictorConfigError::MaxDeferralsOutOfRange => Self::BDA_ERR_PREDICTOR_DEFERRALS_OUT_OF_RANGE,
            PredictorConfigError::TooManyPages => Self::BDA_ERR_PREDICTOR_MEMORY_TOO_LARGE,
            // The configuration's memory is validated to hold at least one page first.
            PredictorConfigError::PagesZero => Self::BDA_ERR_INTERNAL,
        }
    }
}

impl From<ControllerError> for bda_status {
    fn from(error: ControllerError) -> Self {
        match error {
            ControllerError::RoundInProgress => Self::BDA_ERR_ROUND_IN_PROGRESS,
            ControllerError::NoRoundInProgress => Self::BDA_ERR_NO_ROUND_IN_PROGRESS,
            ControllerError::MigrationComplete => Self::BDA_ERR_MIGRATION_COMPLETE,
            ControllerError::MigrationAborted => Self::BDA_ERR_MIGRATION_ABORTED,
            ControllerError::NotBetweenRounds => Self::BDA_ERR_NOT_BETWEEN_ROUNDS,
            ControllerError::GuardUnmet => Self::BDA_ERR_GUARD_UNMET,
        }
    }
}

impl From<PredictorError> for bda_status {
    fn from(error: PredictorError) -> Self {
        match error {
            PredictorError::StorageTooShort { .. } => Self::BDA_ERR_STORAGE_TOO_SMALL,
            PredictorError::DirtyBitmapTooShort { .. } => Self::BDA_ERR_DIRTY_BITMAP_TOO_SMALL,
            PredictorError::SendBitmapTooShort { .. } => Self::BDA_ERR_SEND_BITMAP_TOO_SMALL,
        }
    }
}

#[cfg(test)]
mod tests {
    use core::ffi::CStr;

    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        assert_eq!(CODES.len(), bda_status::ALL.len());
        for (i, status) in bda_status::ALL.iter().enumerate() {
            let code = *status as u32;
            assert_eq!(u32::from(CODES[i]), code);
            assert!(bda_status::ALL.iter().skip(i + 1).all(|other| *other as u32 != code), "{status:?} reused");
        }
    }

    #[test]
    fn kernel_errors_map_to_their_own_statuses() {
        // An unmet guard that aborts is not the caller's abort: C must tell them apart.
        assert_eq!(bda_status::from(ControllerError::GuardUnmet), bda_status::BDA_ERR_GUARD_UNMET);
        assert_eq!(bda_status::from(ControllerError::MigrationAborted), bda_status::BDA_ERR_MIGRATION_ABORTED);
        // C turns the guards off with 0, so a zero ratio or deadline never reaches the kernel.
        for error in [BdaPlusConfigError::DirtyRatioZero, BdaPlusConfigError::DeadlineZero] {
            assert_eq!(bda_status::from(error), bda_status::BDA_ERR_INTERNAL);
        }
    }

    #[test]
    fn every_status_has_a_message_and_unknown_codes_get_one_too() {
        for status in bda_status::ALL {
            // SAFETY: bda_status_str returns a static NUL-terminated string.
            let text = unsafe { CStr::from_ptr(bda_status_str(*status as u32)) };
            assert_eq!(text.to_str(), Ok(status.message()));
            assert!(!text.is_empty());
        }
        for code in [6, 98, 119, 204, 308, 404, u32::MAX] {
            // SAFETY: as above.
            let text = unsafe { CStr::from_ptr(bda_status_str(code)) };
            assert_eq!(text, c"unknown status");
        }
    }
}
