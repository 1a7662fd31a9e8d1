//! Errors: one small `Copy` type per operation, one variant per broken rule.
//!
//! Configuration is where errors live: each config is validated once, and each rule it can
//! break has its own variant. The per-round and per-page paths cannot fail; they saturate
//! and report it (see [`Telemetry`](crate::Telemetry) and [`Clamps`](crate::Clamps)). The
//! remaining runtime errors are misuse of the controller's state machine and caller buffers
//! that are too short.

use core::fmt;

macro_rules! error_type {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident $( { $($field:ident : $ty:ty),* } )? => $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        pub enum $name {
            $( $(#[$vmeta])* $variant $( { $( #[doc = concat!("The `", stringify!($field), "` of the error.")] $field: $ty ),* } )?, )*
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $( Self::$variant $( { $($field),* } )? => write!(f, $text $(, $($field = $field),* )?), )*
                }
            }
        }

        impl core::error::Error for $name {}
    };
}

error_type! {
    /// Why an [`IncrementalConfig`](crate::IncrementalConfig) was refused.
    pub enum IncrementalConfigError {
        /// `start` is above `ceiling`.
        StartAboveCeiling => "incremental policy: the starting rate is above the ceiling",
    }
}

error_type! {
    /// Why a [`BdaPlusConfig`](crate::BdaPlusConfig) was refused.
    pub enum BdaPlusConfigError {
        /// `max_dirty_ratio` is `Some(0)`: no rate satisfies it; use `None` to turn the guard off.
        DirtyRatioZero => "BDA+: the largest dirty-to-migration ratio is zero (use None to turn the guard off)",
        /// `deadline_us` is `Some(0)`; use `None` to turn the deadline guard off.
        DeadlineZero => "BDA+: the deadline is zero (use None to turn the guard off)",
    }
}

error_type! {
    /// Why a [`ControllerConfig`](crate::ControllerConfig) was refused.
    pub enum ControllerConfigError {
        /// `memory` is zero.
        MemoryZero => "controller: the VM's memory size is zero",
        /// `tick_hz` is zero.
        TickHzZero => "controller: the tick frequency is zero",
        /// `max_rounds` is below 2 (round 1 and a stop-and-copy round).
        MaxRoundsBelowTwo => "controller: the round cap is below 2",
        /// `downtime_target` is `Some(0)`; use `None` to turn the condition off.
        DowntimeTargetZero => "controller: the downtime target is zero (use None to turn it off)",
        /// `max_sent_percent_of_memory` is below 100: round 1 alone sends all of memory.
        SentLimitBelowMemory => "controller: the sent-bytes limit is below 100 % of memory",
        /// `non_convergence_rounds` is zero; use `None` to turn the event off.
        NonConvergenceRoundsZero => "controller: non-convergence after zero rounds (use None to turn it off)",
        /// `stall_after` is `Some(0)`; use `None` to turn the event off.
        StallAfterZero => "controller: the stall time is zero (use None to turn it off)",
    }
}

error_type! {
    /// A call that the controller's state machine does not allow now.
    pub enum ControllerError {
        /// `begin_round` while a round is running.
        RoundInProgress => "controller: a round is already in progress",
        /// `end_round` or `reassess` with no round running.
        NoRoundInProgress => "controller: no round is in progress",
        /// Any call after the stop-and-copy round ended.
        MigrationComplete => "controller: the migration is complete",
        /// Any call after `abort`.
        MigrationAborted => "controller: the migration was aborted",
        /// `request_stop_and_copy` while a round is running (end the round first).
        NotBetweenRounds => "controller: a stop-and-copy request needs to come between rounds",
        /// A guard of [`BdaPlus`](crate::BdaPlus) needed more than the free bandwidth and its
        /// action is [`UnmetAction::Abort`](crate::UnmetAction::Abort): the migration is
        /// aborted; [`Controller::allocation`](crate::Controller::allocation) holds the report.
        GuardUnmet => "controller: a BDA+ guard needs more than the free bandwidth; the migration was aborted",
    }
}

error_type! {
    /// Why a [`PredictorConfig`](crate::PredictorConfig) was refused.
    pub enum PredictorConfigError {
        /// `history_rounds` is not in `1..=8`.
        HistoryRoundsOutOfRange => "predictor: the history length is not in 1..=8 rounds",
        /// `max_consecutive_deferrals` is above 15.
        MaxDeferralsOutOfRange => "predictor: more than 15 consecutive deferrals",
        /// `pages` is zero.
        PagesZero => "predictor: the memory has no pages",
        /// `pages` needs more bitmap words than this target's `usize` can count.
        TooManyPages => "predictor: more pages than this target can address",
    }
}

error_type! {
    /// A buffer given to the predictor is too short.
    pub enum PredictorError {
        /// The predictor's storage has fewer `u64` words than
        /// [`Predictor::storage_words`](crate::Predictor::storage_words).
        StorageTooShort { needed: usize } => "predictor: the storage is too short ({needed} words needed)",
        /// The dirty bitmap has fewer words than the memory has 64-page groups.
        DirtyBitmapTooShort { needed: usize } => "predictor: the dirty bitmap is too short ({needed} words needed)",
        /// The send bitmap has fewer words than the memory has 64-page groups.
        SendBitmapTooShort { needed: usize } => "predictor: the send bitmap is too short ({needed} words needed)",
    }
}

error_type! {
    /// Why a [`PacerConfig`](crate::PacerConfig) was refused.
    pub enum PacerConfigError {
        /// `tick_hz` is zero.
        TickHzZero => "pacer: the tick frequency is zero",
        /// `unit_bytes` is zero.
        UnitZero => "pacer: the release unit is zero bytes",
        /// `burst_bytes` is below `unit_bytes`: not even one unit could ever go.
        BurstBelowUnit => "pacer: the burst is smaller than one release unit",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_rule_and_the_field() {
        let mut text = heapless::String::<96>::new();
        fmt::write(&mut text, format_args!("{}", PredictorError::StorageTooShort { needed: 12 })).unwrap();
        assert_eq!(text.as_str(), "predictor: the storage is too short (12 words needed)");
    }
}
