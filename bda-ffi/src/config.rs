//! `bda_config`: one migration's settings in human units, and its validation.
//!
//! The C struct is flat so that later versions can append fields without moving any: the
//! `size` field comes first and `bda_config_default` fills it. Limits are turned off with 0
//! (where Rust uses `None`); enumerations are plain integers checked against their
//! `BDA_*` constants, never Rust enums (an out-of-range C value would be undefined behaviour).
#![allow(unsafe_code, reason = "exports C symbols")]

use bda_core::{
    AnyPolicy, Bda, BdaConfig, BdaPlus, BdaPlusConfig, Bytes, BytesPerSec, Coefficients, ControllerConfig,
    IncrementalConfig, PacerConfig, PageSize, Pca, PredictorConfig, ReserveSource, Share, Static, StopConditions,
    TickHz, UnmetAction,
};

use crate::ffi::{Out, status_of};
use crate::status::bda_status;

/// `bda_config.policy`: Bandwidth Dynamic Assignment (the default).
pub const BDA_POLICY_BDA: u32 = 1;
/// `bda_config.policy`: plain pre-copy, every round at all free bandwidth.
pub const BDA_POLICY_PCA: u32 = 2;
/// `bda_config.policy`: Xen 2.0's incremental rate limiting (the `incremental_*` fields).
pub const BDA_POLICY_INCREMENTAL: u32 = 3;
/// `bda_config.policy`: one fixed cap, QEMU's `max-bandwidth` (`static_cap_bytes_per_s`).
pub const BDA_POLICY_STATIC: u32 = 4;
/// `bda_config.policy`: BDA+, the paper's BDA (the `bda_*` fields) followed by guards that
/// keep pre-copy converging and on time (the `bda_plus_*` fields): a convergence guard
/// `E >= min(F, ceil(U / rho_max))`, an optional deadline guard
/// `E >= min(F, U + ceil(R / T_left))` and an optional round-1 reserve. A guard takes what it
/// needs from the paper's reserve, never more than the free bandwidth `F`.
pub const BDA_POLICY_BDA_PLUS: u32 = 5;

/// `bda_config.bda_coefficients`: the paper's Fig. 1, `a = U/(U+D)`, `b = D/(U+D)` (default).
pub const BDA_COEFFICIENTS_DIRTY_RATE: u32 = 1;
/// `bda_config.bda_coefficients`: the link's utilisation, `a = U_used/T`, `b = 1 - a`.
pub const BDA_COEFFICIENTS_UTILISATION: u32 = 2;

/// `bda_config.bda_plus_on_unmet` (and `bda_plan.guard_unmet`): when the free bandwidth is
/// below what a guard needs, give the migration all of it, taking the whole reserve (the
/// default).
pub const BDA_UNMET_TAKE_RESERVE: u32 = 1;
/// `bda_config.bda_plus_on_unmet` (and `bda_plan.guard_unmet`): keep the paper's reserve and
/// ask the caller to slow the guest (QEMU's auto-converge or dirty-limit) until the guard
/// can hold; the migration continues at the paper's rate, or at the deadline guard's drain
/// (`R / T_left` plus what the link fell short of delivering) if that is higher: slowing
/// the guest does not send the bytes already outstanding.
pub const BDA_UNMET_SLOW_GUEST: u32 = 2;
/// `bda_config.bda_plus_on_unmet`: give up; the call that found the guard unmet returns
/// `BDA_ERR_GUARD_UNMET` and the migration is aborted.
pub const BDA_UNMET_ABORT: u32 = 3;

/// `bda_config.bda_plus_reserve_source`: the paper's reserve (equation 4), the dirty rate as
/// a proxy for the service's demand, whatever the round calls are given.
pub const BDA_RESERVE_DIRTY_RATE: u32 = 1;
/// `bda_config.bda_plus_reserve_source`: the reserve a `bda_link` carries (learned from the
/// service's own traffic by `bda_link_filter_update`), in every round but stop-and-copy,
/// round 1 included (at least `bda_plus_first_round_reserve_bytes_per_s` there); the
/// paper's reserve when a round call carries none (the default). Don't combine it with an
/// `other_usage` that already counts the service's traffic: it would be reserved twice.
pub const BDA_RESERVE_SERVICE_TRAFFIC: u32 = 2;

/// The settings of one migration. Fill it with `bda_config_default`, set `memory_bytes` and
/// `tick_hz` (they have no default), change what you need, then pass it to `bda_init`, which
/// checks every field and copies what it needs: the config may be discarded afterwards.
///
/// Units: rates in bytes per second, sizes in bytes or pages, times in microseconds or in
/// ticks of the caller's clock, shares in parts per million. A limit of 0 is off.
///
/// BDA+ (`BDA_POLICY_BDA_PLUS`) reads the `bda_*` fields for the paper's rule underneath
/// and the `bda_plus_*` fields for its guards. Every field is checked whatever the policy,
/// so a config is valid or not on its own.
///
/// ABI: `size` must be `sizeof(bda_config)` as this header defines it. Fields are only ever
/// appended, never moved, but `bda_init` accepts this version's size alone and refuses
/// every other with `BDA_ERR_CONFIG_SIZE`: the output structs have no size field, and this
/// version's `bda_plan` and `bda_telemetry` are larger than the previous one's, so a program
/// compiled against another header would have its outputs overrun. The refusal makes that
/// mismatch an error at `bda_init` instead.
#[allow(non_camel_case_types, reason = "C names")]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct bda_config {
    /// `sizeof(bda_config)`, set by `bda_config_default`.
    pub size: u32,
    /// Which policy divides the free bandwidth: a `BDA_POLICY_*` value (default
    /// `BDA_POLICY_BDA`).
    pub policy: u32,
    /// The VM's memory size in bytes: what round 1 sends. No default: must be set (> 0).
    pub memory_bytes: u64,
    /// The VM's page size in bytes: a power of two from 4096 to 2^30 (default 4096).
    pub page_size_bytes: u64,
    /// The frequency of the clock whose ticks the caller passes as `now` (for example
    /// 1000 for milliseconds). No default: must be set (> 0).
    pub tick_hz: u64,
    /// BDA: the first round's rate `E_init` in bytes/s; 0 (the default) sends round 1 at all
    /// free bandwidth, as the paper does.
    pub bda_first_round_bytes_per_s: u64,
    /// BDA: the floor under the migration rate, in parts per million of the link capacity
    /// (0..1000000; default 50000 = 5 %; 0 turns it off). Without it a guest that stops
    /// dirtying can leave the migration at rate 0.
    pub bda_floor_ppm: u32,
    /// BDA: the form of equation 4's coefficients, a `BDA_COEFFICIENTS_*` value (default
    /// `BDA_COEFFICIENTS_DIRTY_RATE`).
    pub bda_coefficients: u32,
    /// Incremental: round 1's rate in bytes/s (default 12500000, 100 Mbit/s).
    pub incremental_start_bytes_per_s: u64,
    /// Incremental: added to the last dirty rate when it exceeded the rate, in bytes/s
    /// (default 6250000, 50 Mbit/s).
    pub incremental_increment_bytes_per_s: u64,
    /// Incremental: the highest rate, also the stop-and-copy round's, in bytes/s (default
    /// 62500000, 500 Mbit/s). At least `incremental_start_bytes_per_s`.
    pub incremental_ceiling_bytes_per_s: u64,
    /// Static: the cap on every round but the last, in bytes/s (default 134217728, QEMU's
    /// 128 MiB/s).
    pub static_cap_bytes_per_s: u64,
    /// Stop and copy when what is left can be sent within this downtime at the
    /// stop-and-copy round's rate, in microseconds (QEMU's rule; default 300000; 0 = off).
    pub stop_downtime_target_us: u64,
    /// Stop and copy when fewer than this many pages are left (Xen: 50, the default; 0 = off).
    pub stop_min_remaining_pages: u64,
    /// The most rounds, counting the stop-and-copy round (default 30, Xen 2.0's;
    /// `UINT32_MAX` for no cap). At least 2.
    pub stop_max_rounds: u32,
    /// Stop and copy when more than this share of memory has been sent, in percent (Xen:
    /// 300, the default; 0 = off). Otherwise at least 100.
    pub stop_max_sent_percent: u32,
    /// 1: stop and copy when the policy's rate stands at its ceiling and the round sent more
    /// than the one before (Xen 2.0; only the incremental policy has a ceiling). 0: off.
    /// Default 1.
    pub stop_ceiling_without_progress: u32,
    /// Raise the non-convergence event after this many consecutive rounds whose dirty rate
    /// was at or above the migration rate (default 3; 0 = off).
    pub non_convergence_rounds: u32,
    /// Raise the stall event when the migration rate has been 0 for longer than this, in
    /// microseconds (default 10000000; 0 = off).
    pub stall_after_us: u64,
    /// The pacer's release unit in bytes: a page or a DMA descriptor (default 0 = one page).
    pub pacer_unit_bytes: u64,
    /// The pacer's burst in bytes: the most that may go back to back after an idle spell
    /// (default 0 = two units). At least one unit.
    pub pacer_burst_bytes: u64,
    /// PPC predictor: rounds of dirty history kept per page, 1..8 (default 8).
    pub predictor_history_rounds: u32,
    /// PPC predictor: the estimated probability of being dirtied again, in parts per million,
    /// at or above which a dirty page is held back (0..1000000; default 500000).
    pub predictor_threshold_ppm: u32,
    /// PPC predictor: the most consecutive rounds a page may be held back, 0..15 (default 3;
    /// 0 turns the predictor off: every dirty page is sent).
    pub predictor_max_deferrals: u32,
    /// BDA+: where the reserve for the guest's service comes from, a `BDA_RESERVE_*` value
    /// (default `BDA_RESERVE_SERVICE_TRAFFIC`: the reserve a `bda_link` carries, learned
    /// from the service's measured traffic, where the round call was given one; the paper's
    /// dirty-rate reserve otherwise, so without service measurements nothing changes).
    /// Checked under every policy, as every field is: 0 is refused.
    pub bda_plus_reserve_source: u32,
    /// BDA+: `rho_max`, the largest accepted ratio of the dirty rate to the migration rate,
    /// in parts per million (1..1000000; default 500000: the dirty set at least halves each
    /// round; 0 turns the convergence guard off). Its guard raises a live round's rate to
    /// `ceil(U / rho_max)`.
    pub bda_plus_max_dirty_ratio_ppm: u32,
    /// BDA+: what to do when the free bandwidth is below what a guard needs, a
    /// `BDA_UNMET_*` value (default `BDA_UNMET_TAKE_RESERVE`).
    pub bda_plus_on_unmet: u32,
    /// BDA+: the target total migration time from the start of round 1, in microseconds
    /// (default 0 = off). Its guard raises the rate to `U + ceil(R * 10^6 / T_left_us)`, with
    /// `R` the bytes the round has to send and `T_left_us` the time left when it starts.
    pub bda_plus_deadline_us: u64,
    /// BDA+: the rate kept for the guest's service in round 1, in bytes/s (default 0 = none,
    /// as in the paper, which reserves nothing in round 1). The floor still applies.
    pub bda_plus_first_round_reserve_bytes_per_s: u64,
}

/// `sizeof(bda_config)` as the size field holds it.
#[allow(clippy::as_conversions, clippy::cast_possible_truncation, reason = "asserted to fit; `try_from` is not const")]
const CONFIG_SIZE: u32 = {
    let size = size_of::<bda_config>();
    assert!(size <= u32::MAX as usize);
    size as u32
};

/// The defaults, with `memory_bytes` and `tick_hz` at 0 (the caller must set them).
pub(crate) const DEFAULT: bda_config = bda_config {
    size: CONFIG_SIZE,
    policy: BDA_POLICY_BDA,
    memory_bytes: 0,
    page_size_bytes: 4096,
    tick_hz: 0,
    bda_first_round_bytes_per_s: 0,
    bda_floor_ppm: 50_000,
    bda_coefficients: BDA_COEFFICIENTS_DIRTY_RATE,
    incremental_start_bytes_per_s: 12_500_000,
    incremental_increment_bytes_per_s: 6_250_000,
    incremental_ceiling_bytes_per_s: 62_500_000,
    static_cap_bytes_per_s: 128 << 20,
    stop_downtime_target_us: 300_000,
    stop_min_remaining_pages: 50,
    stop_max_rounds: 30,
    stop_max_sent_percent: 300,
    stop_ceiling_without_progress: 1,
    non_convergence_rounds: 3,
    stall_after_us: 10_000_000,
    pacer_unit_bytes: 0,
    pacer_burst_bytes: 0,
    predictor_history_rounds: 8,
    predictor_threshold_ppm: 500_000,
    predictor_max_deferrals: 3,
    bda_plus_reserve_source: BDA_RESERVE_SERVICE_TRAFFIC,
    bda_plus_max_dirty_ratio_ppm: 500_000,
    bda_plus_on_unmet: BDA_UNMET_TAKE_RESERVE,
    bda_plus_deadline_us: 0,
    bda_plus_first_round_reserve_bytes_per_s: 0,
};

impl bda_config {
    /// `sizeof(bda_config)` in this version: what `size` must hold.
    pub(crate) const SIZE: u32 = CONFIG_SIZE;

    /// Checks every field, in the order of the struct, and returns the kernel's configs.
    pub(crate) fn validate(&self) -> Result<Validated, bda_status> {
        if self.size != CONFIG_SIZE {
            return Err(bda_status::BDA_ERR_CONFIG_SIZE);
        }
        if !(BDA_POLICY_BDA..=BDA_POLICY_BDA_PLUS).contains(&self.policy) {
            return Err(bda_status::BDA_ERR_POLICY_UNKNOWN);
        }
        if self.memory_bytes == 0 {
            return Err(bda_status::BDA_ERR_MEMORY_ZERO);
        }
        let page_size = PageSize::new(self.page_size_bytes).ok_or(bda_status::BDA_ERR_PAGE_SIZE_INVALID)?;
        if self.tick_hz == 0 {
            return Err(bda_status::BDA_ERR_TICK_HZ_ZERO);
        }
        let floor = Share::from_ppm(self.bda_floor_ppm).ok_or(bda_status::BDA_ERR_FLOOR_OUT_OF_RANGE)?;
        let coefficients = match self.bda_coefficients {
            BDA_COEFFICIENTS_DIRTY_RATE => Coefficients::DirtyRate,
            BDA_COEFFICIENTS_UTILISATION => Coefficients::Utilisation,
            _ => return Err(bda_status::BDA_ERR_COEFFICIENTS_UNKNOWN),
        };
        let incremental = IncrementalConfig {
            start: BytesPerSec(self.incremental_start_bytes_per_s),
            increment: BytesPerSec(self.incremental_increment_bytes_per_s),
            ceiling: BytesPerSec(self.incremental_ceiling_bytes_per_s),
        };
        // Checked whichever policy is chosen, so a config is valid or not on its own.
        let incremental = AnyPolicy::incremental(incremental)?;
        let bda = BdaConfig {
            first_round_rate: (self.bda_first_round_bytes_per_s != 0)
                .then_some(BytesPerSec(self.bda_first_round_bytes_per_s)),
            floor,
            coefficients,
        };
        if self.stop_max_rounds < 2 {
            return Err(bda_status::BDA_ERR_MAX_ROUNDS_BELOW_TWO);
        }
        if (1..100).contains(&self.stop_max_sent_percent) {
            return Err(bda_status::BDA_ERR_SENT_LIMIT_BELOW_MEMORY);
        }
        let ceiling_without_progress = match self.stop_ceiling_without_progress {
            0 => false,
            1 => true,
            _ => return Err(bda_status::BDA_ERR_CEILING_FLAG_INVALID),
        };
        let unit_bytes = if self.pacer_unit_bytes == 0 { page_size.bytes() } else { self.pacer_unit_bytes };
        let burst_bytes =
            if self.pacer_burst_bytes == 0 { unit_bytes.saturating_mul(2) } else { self.pacer_burst_bytes };
        let pacer = PacerConfig { tick_hz: TickHz(self.tick_hz), unit_bytes, burst_bytes };
        pacer.validate()?;
        let history_rounds = u8::try_from(self.predictor_history_rounds)
            .ok()
            .filter(|rounds| (1..=8).contains(rounds))
            .ok_or(bda_status::BDA_ERR_PREDICTOR_HISTORY_OUT_OF_RANGE)?;
        let threshold = Share::from_ppm(self.predictor_threshold_ppm)
            .ok_or(bda_status::BDA_ERR_PREDICTOR_THRESHOLD_OUT_OF_RANGE)?;
        let max_consecutive_deferrals = u8::try_from(self.predictor_max_deferrals)
            .ok()
            .filter(|deferrals| *deferrals <= 15)
            .ok_or(bda_status::BDA_ERR_PREDICTOR_DEFERRALS_OUT_OF_RANGE)?;
        let reserve = match self.bda_plus_reserve_source {
            BDA_RESERVE_DIRTY_RATE => ReserveSource::DirtyRate,
            BDA_RESERVE_SERVICE_TRAFFIC => ReserveSource::ServiceTraffic,
            _ => return Err(bda_status::BDA_ERR_RESERVE_SOURCE_UNKNOWN),
        };

        let off_if_zero = |value: u64| (value != 0).then_some(value);
        let max_dirty_ratio = match self.bda_plus_max_dirty_ratio_ppm {
            0 => None,
            ppm => Some(Share::from_ppm(ppm).ok_or(bda_status::BDA_ERR_DIRTY_RATIO_OUT_OF_RANGE)?),
        };
        let on_unmet = match self.bda_plus_on_unmet {
            BDA_UNMET_TAKE_RESERVE => UnmetAction::TakeReserve,
            BDA_UNMET_SLOW_GUEST => UnmetAction::SlowGuest,
            BDA_UNMET_ABORT => UnmetAction::Abort,
            _ => return Err(bda_status::BDA_ERR_UNMET_ACTION_UNKNOWN),
        };
        let policy = match self.policy {
            BDA_POLICY_BDA => AnyPolicy::Bda(Bda::new(bda)),
            BDA_POLICY_PCA => AnyPolicy::Pca(Pca),
            BDA_POLICY_INCREMENTAL => incremental,
            BDA_POLICY_STATIC => AnyPolicy::Static(Static::new(BytesPerSec(self.static_cap_bytes_per_s))),
            _ => AnyPolicy::BdaPlus(BdaPlus::new(BdaPlusConfig {
                bda,
                first_round_reserve: off_if_zero(self.bda_plus_first_round_reserve_bytes_per_s).map(BytesPerSec),
                max_dirty_ratio,
                deadline_us: off_if_zero(self.bda_plus_deadline_us),
                on_unmet,
                reserve,
            })?),
        };
        let controller = ControllerConfig {
            memory: Bytes(self.memory_bytes),
            page_size,
            tick_hz: TickHz(self.tick_hz),
            stop: StopConditions {
                downtime_target_us: off_if_zero(self.stop_downtime_target_us),
                max_rounds: self.stop_max_rounds,
                max_sent_percent_of_memory: (self.stop_max_sent_percent != 0).then_some(self.stop_max_sent_percent),
                min_remaining_pages: off_if_zero(self.stop_min_remaining_pages),
                ceiling_without_progress,
            },
            non_convergence_rounds: (self.non_convergence_rounds != 0).then_some(self.non_convergence_rounds),
            stall_after_us: off_if_zero(self.stall_after_us),
        };
        // Every rule of `ControllerConfig` was checked above, in the struct's order, and
        // `Controller::new` checks them again; calling its `validate` here too would only
        // add code.
        Ok(Validated {
            controller,
            policy,
            pacer,
            predictor: PredictorConfig { history_rounds, threshold, max_consecutive_deferrals },
            pages: page_size.pages_for(Bytes(self.memory_bytes)).0,
        })
    }
}

/// A checked `bda_config` as the kernel's configurations.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Validated {
    pub(crate) controller: ControllerConfig,
    pub(crate) policy: AnyPolicy,
    pub(crate) pacer: PacerConfig,
    pub(crate) predictor: PredictorConfig,
    /// The VM's pages: memory over page size, rounded up.
    pub(crate) pages: u64,
}

/// Fills `config` with the defaults: policy BDA with a 5 % floor, QEMU's 300 ms downtime
/// target and Xen 2.0's limits (30 rounds, 3x memory, 50 pages), non-convergence after 3
/// rounds, stall after 10 s, pacer units of one page with a burst of two, and the PPC
/// predictor with 8 rounds of history, threshold 1/2 and at most 3 deferrals in a row; for
/// BDA+, the convergence guard at `rho_max` = 1/2, no deadline, no round-1 reserve, and the
/// reserve taken when a guard cannot be met. Each field's doc in `bda_config` gives its
/// default.
///
/// `memory_bytes` and `tick_hz` are set to 0: set them before `bda_init`, which refuses 0.
///
/// Ownership: the caller owns `config`; bda keeps no pointer to it.
///
/// Parameters:
///
/// - `config`: where to write the defaults (a whole `bda_config`, including `size`).
///
/// Returns: `BDA_OK`; `BDA_ERR_NULL_POINTER` or `BDA_ERR_MISALIGNED_POINTER` for a bad
/// `config`, which is then left alone.
///
/// NULL: `config` must not be NULL. Thread safety: touches only `*config`.
///
/// # Safety
///
/// `config` must be NULL or point to memory valid for writing a `bda_config`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bda_config_default(config: *mut bda_config) -> bda_status {
    status_of(|| {
        let config = Out::new(config)?;
        // SAFETY: the function's contract: `config` is valid for a write.
        unsafe { config.write(DEFAULT) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> bda_config {
        bda_config { memory_bytes: 1 << 30, tick_hz: 1_000, ..DEFAULT }
    }

    #[test]
    fn defaults_match_the_kernels() {
        let v = valid().validate().unwrap();
        let kernel = ControllerConfig::new(Bytes(1 << 30), TickHz::MILLIS);
        assert_eq!(v.controller, kernel);
        assert_eq!(v.policy, AnyPolicy::bda());
        assert_eq!(v.predictor, PredictorConfig::default());
        assert_eq!(v.pacer, PacerConfig::new(TickHz::MILLIS, 4096));
        assert_eq!(v.pages, (1 << 30) / 4096);
        assert_eq!(
            AnyPolicy::incremental(IncrementalConfig::default()).unwrap(),
            AnyPolicy::incremental(IncrementalConfig {
                start: BytesPerSec(DEFAULT.incremental_start_bytes_per_s),
                increment: BytesPerSec(DEFAULT.incremental_increment_bytes_per_s),
                ceiling: BytesPerSec(DEFAULT.incremental_ceiling_bytes_per_s),
            })
            .unwrap()
        );
        assert_eq!(Static::QEMU_DEFAULT.cap.0, DEFAULT.static_cap_bytes_per_s);
    }

    #[test]
    fn each_rule_has_its_status() {
        let ok = valid();
        let cases = [
            (bda_config { size: CONFIG_SIZE - 8, ..ok }, bda_status::BDA_ERR_CONFIG_SIZE),
            (bda_config { policy: 0, ..ok }, bda_status::BDA_ERR_POLICY_UNKNOWN),
            (bda_config { policy: 6, ..ok }, bda_status::BDA_ERR_POLICY_UNKNOWN),
            (bda_config { memory_bytes: 0, ..ok }, bda_status::BDA_ERR_MEMORY_ZERO),
            (bda_config { page_size_bytes: 4095, ..ok }, bda_status::BDA_ERR_PAGE_SIZE_INVALID),
            (bda_config { tick_hz: 0, ..ok }, bda_status::BDA_ERR_TICK_HZ_ZERO),
            (bda_config { bda_floor_ppm: 1_000_001, ..ok }, bda_status::BDA_ERR_FLOOR_OUT_OF_RANGE),
            (bda_config { bda_coefficients: 0, ..ok }, bda_status::BDA_ERR_COEFFICIENTS_UNKNOWN),
            (
                bda_config { incremental_start_bytes_per_s: u64::MAX, ..ok },
                bda_status::BDA_ERR_INCREMENTAL_START_ABOVE_CEILING,
            ),
            (bda_config { stop_max_rounds: 1, ..ok }, bda_status::BDA_ERR_MAX_ROUNDS_BELOW_TWO),
            (bda_config { stop_max_sent_percent: 99, ..ok }, bda_status::BDA_ERR_SENT_LIMIT_BELOW_MEMORY),
            (bda_config { stop_ceiling_without_progress: 2, ..ok }, bda_status::BDA_ERR_CEILING_FLAG_INVALID),
            (bda_config { pacer_burst_bytes: 4095, ..ok }, bda_status::BDA_ERR_PACER_BURST_BELOW_UNIT),
            (bda_config { predictor_history_rounds: 9, ..ok }, bda_status::BDA_ERR_PREDICTOR_HISTORY_OUT_OF_RANGE),
            (
                bda_config { predictor_threshold_ppm: 1_000_001, ..ok },
                bda_status::BDA_ERR_PREDICTOR_THRESHOLD_OUT_OF_RANGE,
            ),
            (bda_config { predictor_max_deferrals: 16, ..ok }, bda_status::BDA_ERR_PREDICTOR_DEFERRALS_OUT_OF_RANGE),
            (
                bda_config { bda_plus_max_dirty_ratio_ppm: 1_000_001, ..ok },
                bda_status::BDA_ERR_DIRTY_RATIO_OUT_OF_RANGE,
            ),
            (bda_config { bda_plus_max_dirty_ratio_ppm: u32::MAX, ..ok }, bda_status::BDA_ERR_DIRTY_RATIO_OUT_OF_RANGE),
            (bda_config { bda_plus_on_unmet: 0, ..ok }, bda_status::BDA_ERR_UNMET_ACTION_UNKNOWN),
            (bda_config { bda_plus_on_unmet: 4, ..ok }, bda_status::BDA_ERR_UNMET_ACTION_UNKNOWN),
            (bda_config { bda_plus_on_unmet: u32::MAX, ..ok }, bda_status::BDA_ERR_UNMET_ACTION_UNKNOWN),
            (bda_config { bda_plus_reserve_source: 0, ..ok }, bda_status::BDA_ERR_RESERVE_SOURCE_UNKNOWN),
            (bda_config { bda_plus_reserve_source: 3, ..ok }, bda_status::BDA_ERR_RESERVE_SOURCE_UNKNOWN),
        ];
        for (config, status) in cases {
            assert_eq!(config.validate().err(), Some(status), "{config:?}");
        }
    }

    #[test]
    fn bda_plus_defaults_match_the_kernels_and_read_the_bda_fields() {
        let config = bda_config { policy: BDA_POLICY_BDA_PLUS, ..valid() };
        let kernel = BdaPlusConfig::default();
        assert_eq!(config.validate().unwrap().policy, AnyPolicy::BdaPlus(BdaPlus::new(kernel).unwrap()));
        // The inner BDA is the `bda_*` fields; each `bda_plus_*` field reaches its setting.
        let config = bda_config {
            bda_first_round_bytes_per_s: 7,
            bda_floor_ppm: 0,
            bda_coefficients: BDA_COEFFICIENTS_UTILISATION,
            bda_plus_max_dirty_ratio_ppm: 250_000,
            bda_plus_on_unmet: BDA_UNMET_SLOW_GUEST,
            bda_plus_deadline_us: 9,
            bda_plus_first_round_reserve_bytes_per_s: 11,
            bda_plus_reserve_source: BDA_RESERVE_DIRTY_RATE,
            ..config
        };
        let AnyPolicy::BdaPlus(policy) = config.validate().unwrap().policy else { panic!("not BDA+") };
        assert_eq!(
            policy.config(),
            BdaPlusConfig {
                bda: BdaConfig {
                    first_round_rate: Some(BytesPerSec(7)),
                    floor: Share::ZERO,
                    coefficients: Coefficients::Utilisation,
                },
                first_round_reserve: Some(BytesPerSec(11)),
                max_dirty_ratio: Share::from_ppm(250_000),
                deadline_us: Some(9),
                on_unmet: UnmetAction::SlowGuest,
                reserve: ReserveSource::DirtyRate,
            }
        );
        for (value, action) in [
            (BDA_UNMET_TAKE_RESERVE, UnmetAction::TakeReserve),
            (BDA_UNMET_SLOW_GUEST, UnmetAction::SlowGuest),
            (BDA_UNMET_ABORT, UnmetAction::Abort),
        ] {
            let AnyPolicy::BdaPlus(policy) =
                bda_config { bda_plus_on_unmet: value, ..config }.validate().unwrap().policy
            else {
                panic!("not BDA+")
            };
            assert_eq!(policy.config().on_unmet, action);
        }
        // 0 turns each guard (and the reserve) off; the edges of the ratio are valid.
        let off = bda_config {
            bda_plus_max_dirty_ratio_ppm: 0,
            bda_plus_deadline_us: 0,
            bda_plus_first_round_reserve_bytes_per_s: 0,
            ..config
        };
        let AnyPolicy::BdaPlus(policy) = off.validate().unwrap().policy else { panic!("not BDA+") };
        let c = policy.config();
        assert_eq!((c.max_dirty_ratio, c.deadline_us, c.first_round_reserve), (None, None, None));
        for ppm in [1, 1_000_000] {
            assert!(bda_config { bda_plus_max_dirty_ratio_ppm: ppm, ..config }.validate().is_ok());
        }
    }

    #[test]
    fn the_previous_versions_size_is_refused() {
        // Before BDA+ the config ended at what is now `bda_plus_reserve_source`; a caller built against that header also
        // has a smaller `bda_plan` and `bda_telemetry`, so it must not get past init.
        let previous = u32::try_from(core::mem::offset_of!(bda_config, bda_plus_max_dirty_ratio_ppm)).unwrap();
        assert_eq!((previous, CONFIG_SIZE), (152, 176));
        let config = bda_config { size: previous, ..valid() };
        assert_eq!(config.validate().err(), Some(bda_status::BDA_ERR_CONFIG_SIZE));
    }

    #[test]
    fn zero_turns_limits_off() {
        let config = bda_config {
            stop_downtime_target_us: 0,
            stop_min_remaining_pages: 0,
            stop_max_sent_percent: 0,
            non_convergence_rounds: 0,
            stall_after_us: 0,
            stop_max_rounds: u32::MAX,
            ..valid()
        };
        let v = config.validate().unwrap();
        assert_eq!(
            v.controller.stop,
            StopConditions {
                downtime_target_us: None,
                max_rounds: u32::MAX,
                max_sent_percent_of_memory: None,
                min_remaining_pages: None,
                ceiling_without_progress: true,
            }
        );
        assert_eq!((v.controller.non_convergence_rounds, v.controller.stall_after_us), (None, None));
    }

    #[test]
    fn extremes_are_valid_where_they_make_sense() {
        let config = bda_config {
            memory_bytes: u64::MAX,
            tick_hz: u64::MAX,
            page_size_bytes: 1 << 30,
            bda_first_round_bytes_per_s: u64::MAX,
            incremental_start_bytes_per_s: u64::MAX,
            incremental_increment_bytes_per_s: u64::MAX,
            incremental_ceiling_bytes_per_s: u64::MAX,
            static_cap_bytes_per_s: u64::MAX,
            stop_downtime_target_us: u64::MAX,
            stop_min_remaining_pages: u64::MAX,
            stop_max_sent_percent: u32::MAX,
            stall_after_us: u64::MAX,
            pacer_unit_bytes: u64::MAX,
            pacer_burst_bytes: u64::MAX,
            ..valid()
        };
        let v = config.validate().unwrap();
        assert_eq!(v.pages, u64::MAX.div_ceil(1 << 30));
        assert_eq!((v.pacer.unit_bytes, v.pacer.burst_bytes), (u64::MAX, u64::MAX));
        // A unit of UINT64_MAX with the default burst saturates to a burst of one unit.
        let v = bda_config { pacer_unit_bytes: u64::MAX, ..valid() }.validate().unwrap();
        assert_eq!(v.pacer.burst_bytes, u64::MAX);
    }
}
