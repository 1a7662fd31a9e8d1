//! The rounds: begin, reassess, end; stop-and-copy on request, abort; summary and telemetry.
//!
//! Each round starts with `bda_begin_round` (the allocation for the link as measured now),
//! may be reassessed any number of times with new link figures, and ends with
//! `bda_end_round` (what was sent, dirtied and left; what comes next). The state's pacer
//! follows the allocation: `bda_begin_round` and `bda_reassess` set its rate to the
//! migration rate.
#![allow(unsafe_code, reason = "exports C symbols and reads the caller's pointers")]

use bda_core::{
    Allocation, Bytes, Events, Guard, GuardReport, LinkSample, Next, RoundKind, RoundPlan, RoundReport, RoundVerdict,
    Rule, StopReason, Ticks, UnmetAction,
};

use crate::config::{BDA_UNMET_ABORT, BDA_UNMET_SLOW_GUEST, BDA_UNMET_TAKE_RESERVE};
use crate::ffi::{Out, checked, status_of};
use crate::link::{bda_link, checked_link};
use crate::state::{Migration, bda_state};
use crate::status::bda_status;

/// Which kind of round a plan is for.
#[allow(non_camel_case_types, reason = "C names")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum bda_round_kind {
    /// Round 1: sends all of memory.
    BDA_ROUND_FIRST = 1,
    /// A later pre-copy round while the VM runs: re-sends what was dirtied.
    BDA_ROUND_LIVE = 2,
    /// The last round: the VM is paused and the rest is sent.
    BDA_ROUND_STOP_AND_COPY = 3,
}

/// The rule that decided an allocation.
#[allow(non_camel_case_types, reason = "C names")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum bda_rule {
    /// BDA's first round: `E = min(E_init, F)`.
    BDA_RULE_FIRST_ROUND = 1,
    /// BDA: the reserve of equation 4 fits the free bandwidth.
    BDA_RULE_RESERVE = 2,
    /// BDA: the reserve exceeded the free bandwidth and was corrected (equation 5).
    BDA_RULE_CORRECTED = 3,
    /// BDA's floor raised the migration rate to `min(floor, F)`.
    BDA_RULE_FLOOR = 4,
    /// The stop-and-copy round: all free bandwidth (BDA, PCA, static) or the ceiling
    /// (incremental).
    BDA_RULE_STOP_AND_COPY = 5,
    /// PCA: all free bandwidth.
    BDA_RULE_ALL_FREE = 6,
    /// Static: the fixed cap.
    BDA_RULE_FIXED_CAP = 7,
    /// Incremental's first round: the starting rate.
    BDA_RULE_START_RATE = 8,
    /// Incremental: the last dirty rate exceeded the rate, so it was raised.
    BDA_RULE_RAISED = 9,
    /// Incremental: the rate stayed as it was.
    BDA_RULE_HELD = 10,
    /// BDA+'s convergence guard raised the rate to `U / rho_max` (or to the free bandwidth).
    BDA_RULE_CONVERGENCE_GUARD = 11,
    /// BDA+'s deadline guard raised the rate to `U + R / T_left` plus what the link fell
    /// short of delivering (or to the free bandwidth); under `BDA_UNMET_SLOW_GUEST`, when a
    /// guard is unmet, to its drain alone (all but the `U`).
    BDA_RULE_DEADLINE_GUARD = 12,
    /// BDA+ reserved what it learned from the service's measured traffic instead of the
    /// paper's reserve.
    BDA_RULE_SERVICE_RESERVE = 13,
}

/// Which BDA+ guard a plan reports (`bda_plan.guard`).
#[allow(non_camel_case_types, reason = "C names")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum bda_guard {
    /// No guard needed more than the paper's rate (and every policy but BDA+).
    BDA_GUARD_NONE = 0,
    /// The convergence guard: `E >= ceil(U / rho_max)`.
    BDA_GUARD_CONVERGENCE = 1,
    /// The deadline guard: `E >= U + ceil(R / T_left)` plus what the link fell short of
    /// delivering, `T_left` running to two thirds of the deadline (to the deadline once that
    /// is past).
    BDA_GUARD_DEADLINE = 2,
}

/// What comes after a round.
#[allow(non_camel_case_types, reason = "C names")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum bda_next {
    /// Another live pre-copy round.
    BDA_NEXT_LIVE = 1,
    /// The stop-and-copy round: pause the VM, then begin it.
    BDA_NEXT_STOP_AND_COPY = 2,
    /// Nothing: the migration is complete.
    BDA_NEXT_COMPLETE = 3,
}

/// Why the controller chose stop-and-copy.
#[allow(non_camel_case_types, reason = "C names")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum bda_stop_reason {
    /// No stop-and-copy decided (yet).
    BDA_STOP_NONE = 0,
    /// What is left fits the downtime target.
    BDA_STOP_DOWNTIME_TARGET = 1,
    /// Fewer pages are left than the configured minimum.
    BDA_STOP_FEW_PAGES_LEFT = 2,
    /// The policy is at its ceiling and the round sent more than the one before.
    BDA_STOP_CEILING_WITHOUT_PROGRESS = 3,
    /// More than the configured share of memory has been sent.
    BDA_STOP_SENT_LIMIT = 4,
    /// The next round is the last the round cap allows.
    BDA_STOP_ROUND_CAP = 5,
    /// The caller asked for it (`bda_request_stop_and_copy`).
    BDA_STOP_REQUESTED = 6,
}

/// A round's allocation, from `bda_begin_round` and `bda_reassess`.
///
/// Always `migration_bytes_per_s <= free_bytes_per_s` and
/// `migration_bytes_per_s + reserved_bytes_per_s == free_bytes_per_s`.
///
/// BDA+: `guard` names the guard that needed more than the paper's rate, if any (the one
/// needing the most when both did). It raised the rate (`rule` is then
/// `BDA_RULE_CONVERGENCE_GUARD` or `BDA_RULE_DEADLINE_GUARD`) unless it was unmet with
/// `BDA_UNMET_SLOW_GUEST`, which keeps the paper's rate and rule (but for the deadline
/// guard's drain, `R / T_left` plus the link's shortfall, when that is higher, whichever
/// guard binds): throttle the guest then.
#[allow(non_camel_case_types, reason = "C names")]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct bda_plan {
    /// The round number, from 1.
    pub round: u32,
    /// First, live or stop-and-copy.
    pub kind: bda_round_kind,
    /// `E`: the rate the migration may use, in bytes/s. For QEMU's `max-bandwidth`, note
    /// that QEMU reads 0 as unlimited.
    pub migration_bytes_per_s: u64,
    /// `B`: the rate left to the guest's own service, in bytes/s.
    pub reserved_bytes_per_s: u64,
    /// `F = capacity - other_usage`: the free bandwidth divided, in bytes/s.
    pub free_bytes_per_s: u64,
    /// The rule that decided `E`.
    pub rule: bda_rule,
    /// The policy asked for more than the free bandwidth and was cut to it.
    pub cut_to_free: bool,
    /// The migration rate has been 0 for longer than `stall_after_us`.
    pub stalled: bool,
    /// BDA+: the guard that needed more than the paper's rate; `BDA_GUARD_NONE` if none did
    /// (the three `guard_*` fields below are then 0).
    pub guard: bda_guard,
    /// BDA+: 0 when the guard is met (or there is none); otherwise the free bandwidth is
    /// below `guard_needed_bytes_per_s` and this is the `BDA_UNMET_*` action taken:
    /// `BDA_UNMET_TAKE_RESERVE` (all free bandwidth went to the migration) or
    /// `BDA_UNMET_SLOW_GUEST` (the paper's rate stands, or the deadline guard's drain, `R /
    /// T_left` plus the link's shortfall, where higher; slow the guest's dirtying until the
    /// guard can hold). With `BDA_UNMET_ABORT`
    /// the call returns `BDA_ERR_GUARD_UNMET` instead of a plan.
    pub guard_unmet: u32,
    /// BDA+: the migration rate the guard needs, in bytes/s, rounded up and saturating at
    /// `UINT64_MAX` (a deadline already passed with bytes left needs that much); may exceed
    /// `free_bytes_per_s`.
    pub guard_needed_bytes_per_s: u64,
    /// BDA+: how much of the paper's reserve the guard gave the migration, in bytes/s: the
    /// guest's service gets that much less than BDA alone would have left it.
    pub guard_reserve_taken_bytes_per_s: u64,
}

/// The controller's verdict at the end of a round, from `bda_end_round`.
#[allow(non_camel_case_types, reason = "C names")]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct bda_verdict {
    /// The round that ended.
    pub round: u32,
    /// What comes next.
    pub next: bda_next,
    /// The round's dirty rate (dirtied bytes over its duration), in bytes/s, as recorded in
    /// the history; `UINT64_MAX` for a round of zero ticks that dirtied something.
    pub dirty_rate_bytes_per_s: u64,
    /// Why the next round is (or the last round was) stop-and-copy; `BDA_STOP_NONE` if not.
    pub stop_reason: bda_stop_reason,
    /// The dirty rate was at or above the migration rate for `non_convergence_rounds`
    /// consecutive rounds: pre-copy is not converging. The caller decides what to do
    /// (continue, `bda_request_stop_and_copy`, or `bda_abort`).
    pub non_convergence: bool,
    /// The migration rate has been 0 for longer than `stall_after_us`.
    pub stalled: bool,
}

/// A finished migration, from `bda_get_summary`.
#[allow(non_camel_case_types, reason = "C names")]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct bda_summary {
    /// Rounds run, stop-and-copy included.
    pub rounds: u32,
    /// Why the controller stopped iterating.
    pub stop_reason: bda_stop_reason,
    /// Bytes sent over all rounds (the sum of `sent_bytes`, saturating).
    pub sent_bytes: u64,
    /// Ticks from the start of round 1 to the end of stop-and-copy.
    pub total_ticks: u64,
    /// Ticks of the stop-and-copy round: the memory part of the downtime.
    pub downtime_ticks: u64,
}

/// Counts of what bda clamped, saturated or flagged, from `bda_get_telemetry`. Every
/// counter saturates at `UINT32_MAX`.
#[allow(non_camel_case_types, reason = "C names")]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct bda_telemetry {
    /// Allocations in which the policy asked for more than the free bandwidth and was cut.
    pub cut_to_free: u32,
    /// Allocations raised to BDA's floor.
    pub floor_applied: u32,
    /// Rounds that ended in zero ticks with bytes dirtied (dirty rate taken as `UINT64_MAX`).
    pub dirty_rate_unbounded: u32,
    /// Controller calls whose `now` was earlier than an earlier call's (the later time kept).
    pub clock_went_backwards: u32,
    /// Rounds that ended with the non-convergence event.
    pub non_convergence_reports: u32,
    /// Calls that reported the stall event.
    pub stall_reports: u32,
    /// Pacer schedules that ran past the end of the `u64` clock (each errs towards later).
    pub pacer_saturations: u32,
    /// Pacer calls whose `now` was earlier than an earlier call's.
    pub pacer_clock_went_backwards: u32,
    /// BDA+: allocations in which a guard took bandwidth from the paper's reserve (with
    /// `BDA_UNMET_ABORT`, the aborting allocation counts too: it was computed, though never
    /// handed out).
    pub guard_took_reserve: u32,
    /// BDA+: allocations in which a guard needed more than the free bandwidth (whatever the
    /// action, `BDA_ERR_GUARD_UNMET` included).
    pub guard_unmet: u32,
}

impl From<RoundKind> for bda_round_kind {
    fn from(kind: RoundKind) -> Self {
        match kind {
            RoundKind::First => Self::BDA_ROUND_FIRST,
            RoundKind::Live => Self::BDA_ROUND_LIVE,
            RoundKind::StopAndCopy => Self::BDA_ROUND_STOP_AND_COPY,
        }
    }
}

impl From<Rule> for bda_rule {
    fn from(rule: Rule) -> Self {
        match rule {
            Rule::FirstRound => Self::BDA_RULE_FIRST_ROUND,
            Rule::Reserve => Self::BDA_RULE_RESERVE,
            Rule::Corrected => Self::BDA_RULE_CORRECTED,
            Rule::Floor => Self::BDA_RULE_FLOOR,
            Rule::StopAndCopy => Self::BDA_RULE_STOP_AND_COPY,
            Rule::AllFree => Self::BDA_RULE_ALL_FREE,
            Rule::FixedCap => Self::BDA_RULE_FIXED_CAP,
            Rule::StartRate => Self::BDA_RULE_START_RATE,
            Rule::Raised => Self::BDA_RULE_RAISED,
            Rule::Held => Self::BDA_RULE_HELD,
            Rule::ConvergenceGuard => Self::BDA_RULE_CONVERGENCE_GUARD,
            Rule::DeadlineGuard => Self::BDA_RULE_DEADLINE_GUARD,
            Rule::ServiceReserve => Self::BDA_RULE_SERVICE_RESERVE,
        }
    }
}

impl From<Option<StopReason>> for bda_stop_reason {
    fn from(reason: Option<StopReason>) -> Self {
        match reason {
            None => Self::BDA_STOP_NONE,
            Some(StopReason::DowntimeTarget) => Self::BDA_STOP_DOWNTIME_TARGET,
            Some(StopReason::FewPagesLeft) => Self::BDA_STOP_FEW_PAGES_LEFT,
            Some(StopReason::CeilingWithoutProgress) => Self::BDA_STOP_CEILING_WITHOUT_PROGRESS,
            Some(StopReason::SentLimit) => Self::BDA_STOP_SENT_LIMIT,
            Some(StopReason::RoundCap) => Self::BDA_STOP_ROUND_CAP,
            Some(StopReason::Requested) => Self::BDA_STOP_REQUESTED,
        }
    }
}

impl From<RoundPlan> for bda_plan {
    fn from(plan: RoundPlan) -> Self {
        let Allocation { migration, reserved, free, rule, clamps, guard } = plan.allocation;
        let (guard, needed, taken, unmet) = match guard {
            None => (bda_guard::BDA_GUARD_NONE, 0, 0, 0),
            Some(GuardReport { guard, needed, reserve_taken, unmet }) => {
                let guard = match guard {
                    Guard::Convergence => bda_guard::BDA_GUARD_CONVERGENCE,
                    Guard::Deadline => bda_guard::BDA_GUARD_DEADLINE,
                };
                let unmet = match unmet {
                    None => 0,
                    Some(UnmetAction::TakeReserve) => BDA_UNMET_TAKE_RESERVE,
                    Some(UnmetAction::SlowGuest) => BDA_UNMET_SLOW_GUEST,
                    // The controller aborts instead of returning this plan; mapped all the same.
                    Some(UnmetAction::Abort) => BDA_UNMET_ABORT,
                };
                (guard, needed.0, reserve_taken.0, unmet)
            }
        };
        Self {
            round: plan.round,
            kind: plan.kind.into(),
            migration_bytes_per_s: migration.0,
            reserved_bytes_per_s: reserved.0,
            free_bytes_per_s: free.0,
            rule: rule.into(),
            cut_to_free: clamps.cut_to_free,
            stalled: plan.events.stalled,
            guard,
            guard_unmet: unmet,
            guard_needed_bytes_per_s: needed,
            guard_reserve_taken_bytes_per_s: taken,
        }
    }
}

impl From<RoundVerdict> for bda_verdict {
    fn from(verdict: RoundVerdict) -> Self {
        let Events { non_convergence, stalled } = verdict.events;
        Self {
            round: verdict.round,
            next: match verdict.next {
                Next::Live => bda_next::BDA_NEXT_LIVE,
                Next::StopAndCopy => bda_next::BDA_NEXT_STOP_AND_COPY,
                Next::Complete => bda_next::BDA_NEXT_COMPLETE,
            },
            dirty_rate_bytes_per_s: verdict.dirty_rate.0,
            stop_reason: verdict.stop_reason.into(),
            non_convergence,
            stalled,
        }
    }
}

/// What a bda round call was given of the current round's progress, for
/// `bda_reassess_link`: the deadline guard of BDA+ then plans from what is really left,
/// not from what was left when the round began.
#[allow(non_camel_case_types, reason = "C names")]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct bda_progress {
    /// The bytes this round still has to send (its pages not yet sent, times the page size).
    /// Between two `bda_reassess_link` calls with progress, what it fell by over the time
    /// between them is what the link delivered, which the deadline guard compares with the
    /// allocation: count it down as pages go out, and don't let it grow within a round (a
    /// round that grows, or a call without progress between, starts the measure afresh).
    pub remaining_in_round_bytes: u64,
    /// The bytes the guest has dirtied since the round began (unique dirty pages times the
    /// page size); read only when `has_dirtied` is 1.
    pub dirtied_in_round_bytes: u64,
    /// 1: `dirtied_in_round_bytes` holds a measurement; 0: not measured (bda estimates it
    /// from the last round's dirty rate and the time the round has run).
    pub has_dirtied: u32,
    /// Reserved for later versions; set it to 0 (bda ignores it).
    pub reserved: u32,
}

/// The controller's call that plans a round.
#[derive(Clone, Copy)]
enum Step {
    /// [`bda_core::Controller::begin_round`].
    Begin,
    /// [`bda_core::Controller::reassess`].
    Reassess,
    /// [`bda_core::Controller::reassess_with_progress`]: the bytes left in the round, and those
    /// dirtied in it if measured.
    Progress(Bytes, Option<Bytes>),
}

/// Every round call that plans (`bda_begin_round`, `bda_reassess` and their `_link` forms):
/// one body, so the library carries it once. `input` is the caller's link and the call to
/// make, already read and checked; its error is returned after the state's.
///
/// # Safety
///
/// As for `bda_begin_round`.
unsafe fn plan_round(
    state: *mut bda_state,
    input: Result<(LinkSample, Step), bda_status>,
    now_ticks: u64,
    plan: *mut bda_plan,
) -> bda_status {
    status_of(|| {
        let out = Out::new(plan)?;
        // SAFETY: the caller's contract.
        let migration = unsafe { Migration::get_mut(state)? };
        let (link, step) = input?;
        let now = Ticks(now_ticks);
        let controller = &mut migration.controller;
        let plan = match step {
            Step::Begin => controller.begin_round(link, now),
            Step::Reassess => controller.reassess(link, now),
            Step::Progress(remaining, dirtied) => controller.reassess_with_progress(link, remaining, dirtied, now),
        }?;
        migration.pacer.set_rate(plan.allocation.migration, now);
        // SAFETY: the caller's contract: `plan` is valid for a write.
        unsafe { out.write(plan.into()) };
        Ok(())
    })
}

/// The caller's `bda_link`, read and checked.
///
/// # Safety
///
/// `link` must be NULL or point to a readable `bda_link`.
unsafe fn read_link(link: *const bda_link) -> Result<LinkSample, bda_status> {
    // SAFETY: non-NULL and aligned (checked); readable by the contract; integers only.
    unsafe { checked(link)?.as_ref() }.sample()
}

/// Starts the next round: round 1, a live round, or the stop-and-copy round, as decided at
/// the end of the last one, and returns its allocation. Sets the state's pacer to the
/// migration rate from `now_ticks`.
///
/// `other_usage_bytes_per_s` is the traffic on the link that is not this VM's: neither its
/// migration nor its own service traffic. A caller that can only measure "everything but
/// the migration" may pass that; BDA's reserve then sits on top of the service's current
/// traffic (protects it more, converges less).
///
/// Ownership: the caller owns `state` and `plan`; bda keeps no pointer to either.
///
/// Parameters:
///
/// - `state`: an initialised migration.
/// - `capacity_bytes_per_s`: the link capacity `T`; 0 is allowed (nothing is free).
/// - `other_usage_bytes_per_s`: `U_used`, at most `capacity_bytes_per_s`.
/// - `now_ticks`: the caller's clock, in ticks of `tick_hz`. A time earlier than an earlier
///   call's is replaced by that call's time and counted in the telemetry.
/// - `plan`: receives the round's allocation.
///
/// Returns: `BDA_OK`; `BDA_ERR_NULL_POINTER`, `BDA_ERR_MISALIGNED_POINTER`,
/// `BDA_ERR_STATE_NOT_INITIALISED`; `BDA_ERR_USAGE_ABOVE_CAPACITY`;
/// `BDA_ERR_ROUND_IN_PROGRESS`, `BDA_ERR_MIGRATION_COMPLETE` or `BDA_ERR_MIGRATION_ABORTED`;
/// `BDA_ERR_GUARD_UNMET` (BDA+ with `BDA_UNMET_ABORT` only). On any error `*plan` is not
/// written, and `state` does not change except after `BDA_ERR_GUARD_UNMET`, which leaves the
/// migration aborted (the round counted, the unmet guard in the telemetry).
///
/// NULL: no pointer may be NULL. Thread safety: no other call may use `state` meanwhile.
///
/// # Safety
///
/// `state` must be NULL or a state passed to `bda_init` and otherwise untouched; `plan`
/// must be NULL or valid for writing a `bda_plan`; they must not overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bda_begin_round(
    state: *mut bda_state,
    capacity_bytes_per_s: u64,
    other_usage_bytes_per_s: u64,
    now_ticks: u64,
    plan: *mut bda_plan,
) -> bda_status {
    let input = checked_link(capacity_bytes_per_s, other_usage_bytes_per_s).map(|link| (link, Step::Begin));
    // SAFETY: the function's contract.
    unsafe { plan_round(state, input, now_ticks, plan) }
}

/// Recomputes the current round's allocation for new link figures, keeping the round's
/// dirty rates and coefficients; call it every 100 ms or so during a long round. Sets the
/// state's pacer to the new migration rate from `now_ticks`.
///
/// Ownership, parameters and NULL as for `bda_begin_round`.
///
/// Returns: `BDA_OK`; `BDA_ERR_NULL_POINTER`, `BDA_ERR_MISALIGNED_POINTER`,
/// `BDA_ERR_STATE_NOT_INITIALISED`; `BDA_ERR_USAGE_ABOVE_CAPACITY`;
/// `BDA_ERR_NO_ROUND_IN_PROGRESS`, `BDA_ERR_MIGRATION_COMPLETE` or
/// `BDA_ERR_MIGRATION_ABORTED`; `BDA_ERR_GUARD_UNMET` (BDA+ with `BDA_UNMET_ABORT` only). On
/// any error `*plan` is not written, and `state` does not change except after
/// `BDA_ERR_GUARD_UNMET`, which leaves the migration aborted.
///
/// Thread safety: no other call may use `state` meanwhile.
///
/// # Safety
///
/// As for `bda_begin_round`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bda_reassess(
    state: *mut bda_state,
    capacity_bytes_per_s: u64,
    other_usage_bytes_per_s: u64,
    now_ticks: u64,
    plan: *mut bda_plan,
) -> bda_status {
    let input = checked_link(capacity_bytes_per_s, other_usage_bytes_per_s).map(|link| (link, Step::Reassess));
    // SAFETY: the function's contract.
    unsafe { plan_round(state, input, now_ticks, plan) }
}

/// `bda_begin_round` with the link as a struct, which can carry the reserve learned for the
/// VM's own service (from `bda_link_filter_update`): BDA+ with `BDA_RESERVE_SERVICE_TRAFFIC`
/// reserves it in round 1 and the live rounds instead of the paper's reserve.
///
/// Ownership: the caller owns `state`, `link` and `plan`; bda keeps no pointer to any.
///
/// Parameters:
///
/// - `state`: an initialised migration.
/// - `link`: the link: capacity, other usage and, if measured, the service's reserve.
/// - `now_ticks`: the caller's clock, as for `bda_begin_round`.
/// - `plan`: receives the round's allocation.
///
/// Returns: what `bda_begin_round` returns, and `BDA_ERR_SERVICE_RESERVE_FLAG_INVALID` for a
/// `has_service_reserve` other than 0 or 1. On any error `*plan` is not written, and `state`
/// changes only after `BDA_ERR_GUARD_UNMET` (as for `bda_begin_round`).
///
/// NULL: no pointer may be NULL. Thread safety: no other call may use `state` meanwhile.
///
/// # Safety
///
/// As for `bda_begin_round`, and `link` must be NULL or point to a readable `bda_link`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bda_begin_round_link(
    state: *mut bda_state,
    link: *const bda_link,
    now_ticks: u64,
    plan: *mut bda_plan,
) -> bda_status {
    // SAFETY: the function's contract.
    let input = unsafe { read_link(link) }.map(|link| (link, Step::Begin));
    // SAFETY: the function's contract.
    unsafe { plan_round(state, input, now_ticks, plan) }
}

/// `bda_reassess` with the link as a struct (see `bda_begin_round_link`) and, optionally, the
/// round's progress: with it, BDA+'s deadline guard plans from the bytes really left in the
/// round and the dirty rate the round shows so far, where without it (as `bda_reassess`
/// does) it keeps the figures the round began with.
///
/// Ownership: the caller owns every pointer; bda keeps none.
///
/// Parameters:
///
/// - `state`: an initialised migration with a round in progress.
/// - `link`: the link: capacity, other usage and, if measured, the service's reserve.
/// - `progress`: the round's progress, or NULL for none (then this is `bda_reassess`).
/// - `now_ticks`: the caller's clock, as for `bda_begin_round`.
/// - `plan`: receives the round's new allocation.
///
/// Returns: what `bda_reassess` returns, `BDA_ERR_SERVICE_RESERVE_FLAG_INVALID` for a
/// `has_service_reserve` other than 0 or 1, and `BDA_ERR_DIRTIED_FLAG_INVALID` for a
/// `has_dirtied` other than 0 or 1. On any error `*plan` is not written, and `state` changes
/// only after `BDA_ERR_GUARD_UNMET` (as for `bda_reassess`).
///
/// NULL: `progress` may be NULL; no other pointer may. Thread safety: no other call may use
/// `state` meanwhile.
///
/// # Safety
///
/// As for `bda_begin_round_link`, and `progress` must be NULL or point to a readable
/// `bda_progress`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bda_reassess_link(
    state: *mut bda_state,
    link: *const bda_link,
    progress: *const bda_progress,
    now_ticks: u64,
    plan: *mut bda_plan,
) -> bda_status {
    let input = (|| {
        // SAFETY: the function's contract.
        let link = unsafe { read_link(link) }?;
        if progress.is_null() {
            return Ok((link, Step::Reassess));
        }
        // SAFETY: non-NULL (just seen) and aligned (checked); readable by the contract;
        // integers only.
        let progress = unsafe { checked(progress)?.as_ref() };
        let dirtied = match progress.has_dirtied {
            0 => None,
            1 => Some(Bytes(progress.dirtied_in_round_bytes)),
            _ => return Err(bda_status::BDA_ERR_DIRTIED_FLAG_INVALID),
        };
        Ok((link, Step::Progress(Bytes(progress.remaining_in_round_bytes), dirtied)))
    })();
    // SAFETY: the function's contract.
    unsafe { plan_round(state, input, now_ticks, plan) }
}

/// Ends the current round with what the caller measured, records its dirty rate, checks
/// the stop conditions and says what comes next. The pacer keeps its rate (and so can
/// bank at most one burst) until the next round sets a new one.
///
/// Ownership: the caller owns `state` and `verdict`; bda keeps no pointer to either.
///
/// Parameters:
///
/// - `state`: an initialised migration with a round in progress.
/// - `sent_bytes`: the bytes this round sent.
/// - `dirtied_bytes`: the bytes the guest dirtied while this round ran (unique dirty pages
///   x page size); over the round's duration this is its dirty rate.
/// - `remaining_bytes`: the bytes still to send: what stop-and-copy would send now (the
///   dirtied pages plus any the predictor held back).
/// - `now_ticks`: the caller's clock, in ticks of `tick_hz`.
/// - `verdict`: receives the verdict.
///
/// Every `uint64_t` value is accepted; sums saturate.
///
/// Returns: `BDA_OK`; `BDA_ERR_NULL_POINTER`, `BDA_ERR_MISALIGNED_POINTER`,
/// `BDA_ERR_STATE_NOT_INITIALISED`; `BDA_ERR_NO_ROUND_IN_PROGRESS`,
/// `BDA_ERR_MIGRATION_COMPLETE` or `BDA_ERR_MIGRATION_ABORTED`. On any error neither
/// `state` nor `*verdict` changes.
///
/// NULL: no pointer may be NULL. Thread safety: no other call may use `state` meanwhile.
///
/// # Safety
///
/// `state` must be NULL or a state passed to `bda_init` and otherwise untouched; `verdict`
/// must be NULL or valid for writing a `bda_verdict`; they must not overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bda_end_round(
    state: *mut bda_state,
    sent_bytes: u64,
    dirtied_bytes: u64,
    remaining_bytes: u64,
    now_ticks: u64,
    verdict: *mut bda_verdict,
) -> bda_status {
    status_of(|| {
        let out = Out::new(verdict)?;
        // SAFETY: the function's contract.
        let migration = unsafe { Migration::get_mut(state)? };
        let report =
            RoundReport { sent: Bytes(sent_bytes), dirtied: Bytes(dirtied_bytes), remaining: Bytes(remaining_bytes) };
        let verdict = migration.controller.end_round(report, Ticks(now_ticks))?;
        // SAFETY: the function's contract: `verdict` is valid for a write.
        unsafe { out.write(verdict.into()) };
        Ok(())
    })
}

/// Makes the next round the stop-and-copy round (Xen's callback choice "stop and copy"),
/// for example after a non-convergence event. Only between rounds: after `bda_end_round`
/// said `BDA_NEXT_LIVE` or `BDA_NEXT_STOP_AND_COPY`, before the next `bda_begin_round`.
/// Asking twice is harmless.
///
/// Parameters:
///
/// - `state`: an initialised migration between two rounds.
///
/// Returns: `BDA_OK`; `BDA_ERR_NULL_POINTER`, `BDA_ERR_MISALIGNED_POINTER`,
/// `BDA_ERR_STATE_NOT_INITIALISED`; `BDA_ERR_NOT_BETWEEN_ROUNDS` (before round 1 or during
/// a round), `BDA_ERR_MIGRATION_COMPLETE` or `BDA_ERR_MIGRATION_ABORTED`.
///
/// NULL: `state` may not be NULL. Thread safety: no other call may use `state` meanwhile.
///
/// # Safety
///
/// `state` must be NULL or a state passed to `bda_init` and otherwise untouched.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bda_request_stop_and_copy(state: *mut bda_state) -> bda_status {
    status_of(|| {
        // SAFETY: the function's contract.
        let migration = unsafe { Migration::get_mut(state)? };
        migration.controller.request_stop_and_copy()?;
        Ok(())
    })
}

/// Gives the migration up (Xen's callback choice "abort"); every later round call returns
/// `BDA_ERR_MIGRATION_ABORTED`; stop sending (the pacer keeps its rate, and the caller
/// stops asking it). Aborting twice is harmless.
///
/// Parameters:
///
/// - `state`: an initialised migration, in any phase.
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
pub unsafe extern "C" fn bda_abort(state: *mut bda_state) -> bda_status {
    status_of(|| {
        // SAFETY: the function's contract.
        let migration = unsafe { Migration::get_mut(state)? };
        migration.controller.abort();
        Ok(())
    })
}

/// The finished migration: rounds, bytes sent, total time and downtime.
///
/// Parameters:
///
/// - `state`: an initialised migration.
/// - `summary`: receives the summary.
///
/// Returns: `BDA_OK`; `BDA_ERR_NULL_POINTER`, `BDA_ERR_MISALIGNED_POINTER`,
/// `BDA_ERR_STATE_NOT_INITIALISED`; `BDA_ERR_MIGRATION_NOT_COMPLETE` until the
/// stop-and-copy round has ended (also after `bda_abort`). `*summary` is written only on
/// success.
///
/// NULL: no pointer may be NULL. Thread safety: reads `state` only; concurrent reads are
/// fine, a concurrent write is not.
///
/// # Safety
///
/// `state` must be NULL or a state passed to `bda_init` and otherwise untouched; `summary`
/// must be NULL or valid for writing a `bda_summary`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bda_get_summary(state: *const bda_state, summary: *mut bda_summary) -> bda_status {
    status_of(|| {
        let out = Out::new(summary)?;
        // SAFETY: the function's contract.
        let migration = unsafe { Migration::get(state)? };
        let summary = migration.controller.summary().ok_or(bda_status::BDA_ERR_MIGRATION_NOT_COMPLETE)?;
        let value = bda_summary {
            rounds: summary.rounds,
            stop_reason: Some(summary.stop_reason).into(),
            sent_bytes: summary.sent.0,
            total_ticks: summary.total_time.0,
            downtime_ticks: summary.downtime.0,
        };
        // SAFETY: the function's contract: `summary` is valid for a write.
        unsafe { out.write(value) };
        Ok(())
    })
}

/// The counts of everything bda clamped, saturated or flagged so far in this migration:
/// nothing is clamped silently.
///
/// Parameters:
///
/// - `state`: an initialised migration.
/// - `telemetry`: receives the counters.
///
/// Returns: `BDA_OK`; `BDA_ERR_NULL_POINTER`, `BDA_ERR_MISALIGNED_POINTER` or
/// `BDA_ERR_STATE_NOT_INITIALISED`.
///
/// NULL: no pointer may be NULL. Thread safety: reads `state` only.
///
/// # Safety
///
/// `state` must be NULL or a state passed to `bda_init` and otherwise untouched;
/// `telemetry` must be NULL or valid for writing a `bda_telemetry`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bda_get_telemetry(state: *const bda_state, telemetry: *mut bda_telemetry) -> bda_status {
    status_of(|| {
        let out = Out::new(telemetry)?;
        // SAFETY: the function's contract.
        let migration = unsafe { Migration::get(state)? };
        let t = migration.controller.telemetry();
        let value = bda_telemetry {
            cut_to_free: t.cut_to_free,
            floor_applied: t.floor_applied,
            dirty_rate_unbounded: t.dirty_rate_unbounded,
            clock_went_backwards: t.clock_went_backwards,
            non_convergence_reports: t.non_convergence_reports,
            stall_reports: t.stall_reports,
            pacer_saturations: migration.pacer.saturations(),
            pacer_clock_went_backwards: migration.pacer.clock_went_backwards(),
            guard_took_reserve: t.guard_took_reserve,
            guard_unmet: t.guard_unmet,
        };
        // SAFETY: the function's contract: `telemetry` is valid for a write.
        unsafe { out.write(value) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use core::mem::MaybeUninit;

    use super::*;
    use crate::config::{BDA_POLICY_BDA, BDA_POLICY_BDA_PLUS, DEFAULT, bda_config};
    use crate::state::bda_init;

    const MB: u64 = 1_000_000;

    /// A BDA+ migration of 64 MiB on a millisecond clock, floor and stop conditions off.
    fn bda_plus(on_unmet: u32) -> bda_config {
        bda_config {
            policy: BDA_POLICY_BDA_PLUS,
            memory_bytes: 64 << 20,
            tick_hz: 1_000,
            bda_floor_ppm: 0,
            stop_downtime_target_us: 0,
            stop_min_remaining_pages: 0,
            stop_max_sent_percent: 0,
            bda_plus_on_unmet: on_unmet,
            ..DEFAULT
        }
    }

    fn init(config: &bda_config) -> Box<bda_state> {
        let mut state = Box::new(MaybeUninit::<bda_state>::uninit());
        assert_eq!(unsafe { bda_init(state.as_mut_ptr(), config) }, bda_status::BDA_OK);
        // SAFETY: bda_init wrote it.
        unsafe { Box::from_raw(Box::into_raw(state).cast()) }
    }

    fn begin(state: &mut bda_state, free: u64, now: u64) -> Result<bda_plan, bda_status> {
        let mut plan = MaybeUninit::uninit();
        match unsafe { bda_begin_round(state, free, 0, now, plan.as_mut_ptr()) } {
            bda_status::BDA_OK => Ok(unsafe { plan.assume_init() }),
            status => Err(status),
        }
    }

    fn end(state: &mut bda_state, dirtied: u64, now: u64) {
        let mut verdict = MaybeUninit::uninit();
        assert_eq!(
            unsafe { bda_end_round(state, MB, dirtied, dirtied, now, verdict.as_mut_ptr()) },
            bda_status::BDA_OK
        );
    }

    fn telemetry(state: &bda_state) -> bda_telemetry {
        let mut t = MaybeUninit::uninit();
        assert_eq!(unsafe { bda_get_telemetry(state, t.as_mut_ptr()) }, bda_status::BDA_OK);
        unsafe { t.assume_init() }
    }

    /// Round 1, then round 2 after a round of one second that dirtied `dirtied` bytes.
    fn round_two(state: &mut bda_state, free: u64, dirtied: u64) -> Result<bda_plan, bda_status> {
        let first = begin(state, free, 0).unwrap();
        assert_eq!(first.guard, bda_guard::BDA_GUARD_NONE);
        end(state, dirtied, 1_000);
        begin(state, free, 1_000)
    }

    #[test]
    fn the_convergence_guard_is_reported_in_the_plan() {
        // U = 5 MB/s on 10 MB/s free: BDA reserves U (round 2), leaving 5 MB/s = U; the guard
        // needs U / (1/2) = 10 MB/s and takes the whole 5 MB/s reserve.
        let mut state = init(&bda_plus(BDA_UNMET_TAKE_RESERVE));
        let plan = round_two(&mut state, 10 * MB, 5 * MB).unwrap();
        assert_eq!((plan.rule, plan.guard), (bda_rule::BDA_RULE_CONVERGENCE_GUARD, bda_guard::BDA_GUARD_CONVERGENCE));
        assert_eq!((plan.migration_bytes_per_s, plan.reserved_bytes_per_s), (10 * MB, 0));
        assert_eq!((plan.guard_needed_bytes_per_s, plan.guard_reserve_taken_bytes_per_s), (10 * MB, 5 * MB));
        assert_eq!(plan.guard_unmet, 0);
        let t = telemetry(&state);
        assert_eq!((t.guard_took_reserve, t.guard_unmet), (1, 0));
    }

    #[test]
    fn an_unmet_guard_takes_the_reserve_or_keeps_it() {
        // U = 6 MB/s needs 12 MB/s; only 10 MB/s free.
        let mut state = init(&bda_plus(BDA_UNMET_TAKE_RESERVE));
        let plan = round_two(&mut state, 10 * MB, 6 * MB).unwrap();
        assert_eq!((plan.rule, plan.migration_bytes_per_s), (bda_rule::BDA_RULE_CONVERGENCE_GUARD, 10 * MB));
        assert_eq!((plan.guard_needed_bytes_per_s, plan.guard_unmet), (12 * MB, BDA_UNMET_TAKE_RESERVE));
        assert_eq!(plan.guard_reserve_taken_bytes_per_s, 6 * MB);
        assert_eq!((telemetry(&state).guard_took_reserve, telemetry(&state).guard_unmet), (1, 1));

        let mut state = init(&bda_plus(BDA_UNMET_SLOW_GUEST));
        let plan = round_two(&mut state, 10 * MB, 6 * MB).unwrap();
        // The paper's allocation stands: B = U = 6 MB/s.
        assert_eq!((plan.rule, plan.migration_bytes_per_s), (bda_rule::BDA_RULE_RESERVE, 4 * MB));
        assert_eq!((plan.guard, plan.guard_unmet), (bda_guard::BDA_GUARD_CONVERGENCE, BDA_UNMET_SLOW_GUEST));
        assert_eq!((plan.guard_needed_bytes_per_s, plan.guard_reserve_taken_bytes_per_s), (12 * MB, 0));
        assert_eq!((telemetry(&state).guard_took_reserve, telemetry(&state).guard_unmet), (0, 1));
    }

    #[test]
    fn an_unmet_guard_that_aborts_has_its_own_status_then_the_state_is_aborted() {
        let mut state = init(&bda_plus(BDA_UNMET_ABORT));
        assert_eq!(round_two(&mut state, 10 * MB, 6 * MB).err(), Some(bda_status::BDA_ERR_GUARD_UNMET));
        assert_eq!(telemetry(&state).guard_unmet, 1);
        assert_eq!(begin(&mut state, 10 * MB, 2_000).err(), Some(bda_status::BDA_ERR_MIGRATION_ABORTED));
        let mut plan = MaybeUninit::uninit();
        let status = unsafe { bda_reassess(&mut *state, 10 * MB, 0, 2_000, plan.as_mut_ptr()) };
        assert_eq!(status, bda_status::BDA_ERR_MIGRATION_ABORTED);

        // Met, the same config runs; a reassessment that cannot meet it aborts too.
        let mut state = init(&bda_plus(BDA_UNMET_ABORT));
        let mut plan = round_two(&mut state, 20 * MB, 6 * MB).unwrap();
        assert_eq!((plan.migration_bytes_per_s, plan.guard_unmet), (14 * MB, 0));
        let status = unsafe { bda_reassess(&mut *state, 20 * MB, 10 * MB, 1_100, &mut plan) };
        assert_eq!(status, bda_status::BDA_ERR_GUARD_UNMET);
        assert_eq!(plan.migration_bytes_per_s, 14 * MB, "a refused call wrote its output");
    }

    #[test]
    fn the_deadline_guard_is_reported_in_the_plan() {
        // 64 MiB by half of a 10 s deadline (round 1 aims there while its dirty rate is
        // unknown): ceil(67108864 * 1e6 / 5e6) = 13421773 B/s.
        let config = bda_config {
            bda_first_round_bytes_per_s: MB,
            bda_plus_deadline_us: 10_000_000,
            ..bda_plus(BDA_UNMET_TAKE_RESERVE)
        };
        let mut state = init(&config);
        let plan = begin(&mut state, 100 * MB, 0).unwrap();
        assert_eq!((plan.rule, plan.guard), (bda_rule::BDA_RULE_DEADLINE_GUARD, bda_guard::BDA_GUARD_DEADLINE));
        assert_eq!((plan.migration_bytes_per_s, plan.guard_needed_bytes_per_s), (13_421_773, 13_421_773));
        assert_eq!((plan.guard_reserve_taken_bytes_per_s, plan.guard_unmet), (12_421_773, 0));
    }

    #[test]
    fn other_policies_report_no_guard() {
        let config = bda_config { policy: BDA_POLICY_BDA, ..bda_plus(BDA_UNMET_ABORT) };
        let mut state = init(&config);
        let plan = round_two(&mut state, 10 * MB, 6 * MB).unwrap();
        assert_eq!(
            (plan.rule, plan.guard, plan.guard_needed_bytes_per_s),
            (bda_rule::BDA_RULE_RESERVE, bda_guard::BDA_GUARD_NONE, 0)
        );
        assert_eq!((plan.guard_reserve_taken_bytes_per_s, plan.guard_unmet), (0, 0));
    }

    fn link(free: u64, service: Option<u64>) -> bda_link {
        bda_link {
            capacity_bytes_per_s: free,
            other_usage_bytes_per_s: 0,
            service_reserve_bytes_per_s: service.unwrap_or(0),
            has_service_reserve: u32::from(service.is_some()),
            reserved: 0,
        }
    }

    fn begin_link(state: &mut bda_state, link: &bda_link, now: u64) -> Result<bda_plan, bda_status> {
        let mut plan = MaybeUninit::uninit();
        match unsafe { bda_begin_round_link(state, link, now, plan.as_mut_ptr()) } {
            bda_status::BDA_OK => Ok(unsafe { plan.assume_init() }),
            status => Err(status),
        }
    }

    fn reassess_link(
        state: &mut bda_state,
        link: &bda_link,
        progress: Option<&bda_progress>,
        now: u64,
    ) -> Result<bda_plan, bda_status> {
        let mut plan = MaybeUninit::uninit();
        let progress = progress.map_or(core::ptr::null(), core::ptr::from_ref);
        match unsafe { bda_reassess_link(state, link, progress, now, plan.as_mut_ptr()) } {
            bda_status::BDA_OK => Ok(unsafe { plan.assume_init() }),
            status => Err(status),
        }
    }

    #[test]
    fn bda_plus_reserves_the_service_reserve_a_link_carries() {
        // Round 2 after a round that dirtied 2 MB/s: the paper would reserve U = 2 MB/s; a
        // measured service reserve of 3 MB/s replaces it.
        let mut state = init(&bda_plus(BDA_UNMET_TAKE_RESERVE));
        let first = begin_link(&mut state, &link(10 * MB, Some(MB)), 0).unwrap();
        assert_eq!((first.rule, first.migration_bytes_per_s), (bda_rule::BDA_RULE_FIRST_ROUND, 9 * MB));
        end(&mut state, 2 * MB, 1_000);
        let plan = begin_link(&mut state, &link(10 * MB, Some(3 * MB)), 1_000).unwrap();
        assert_eq!((plan.rule, plan.migration_bytes_per_s), (bda_rule::BDA_RULE_SERVICE_RESERVE, 7 * MB));
        // Without a measurement, the paper's reserve.
        let plan = reassess_link(&mut state, &link(10 * MB, None), None, 1_100).unwrap();
        assert_eq!((plan.rule, plan.migration_bytes_per_s), (bda_rule::BDA_RULE_RESERVE, 8 * MB));

        // BDA_RESERVE_DIRTY_RATE ignores what the link carries.
        let config = bda_config { bda_plus_reserve_source: crate::config::BDA_RESERVE_DIRTY_RATE, ..bda_plus(1) };
        let mut state = init(&config);
        let first = begin_link(&mut state, &link(10 * MB, Some(MB)), 0).unwrap();
        assert_eq!(first.migration_bytes_per_s, 10 * MB);
        end(&mut state, 2 * MB, 1_000);
        let plan = begin_link(&mut state, &link(10 * MB, Some(3 * MB)), 1_000).unwrap();
        assert_eq!((plan.rule, plan.migration_bytes_per_s), (bda_rule::BDA_RULE_RESERVE, 8 * MB));
    }

    #[test]
    fn progress_moves_the_deadline_guard() {
        // A 30 s deadline; round 1 asked at 1 MB/s, raised by the guard to 100 MB in half the
        // deadline, 6.67 MB/s. 5 s in, 45 MB left and 15 MB dirtied: the guard plans to be
        // done by two thirds of the deadline: 3 + 60/15 = 7 MB/s (the kernel's
        // reassess_with_progress example).
        let config = bda_config {
            bda_first_round_bytes_per_s: MB,
            bda_plus_deadline_us: 30_000_000,
            memory_bytes: 100 * MB,
            ..bda_plus(BDA_UNMET_TAKE_RESERVE)
        };
        let mut state = init(&config);
        let first = begin_link(&mut state, &link(100 * MB, None), 0).unwrap();
        assert_eq!(first.migration_bytes_per_s, 6_666_667);
        let progress = bda_progress {
            remaining_in_round_bytes: 45 * MB,
            dirtied_in_round_bytes: 15 * MB,
            has_dirtied: 1,
            reserved: u32::MAX,
        };
        let plan = reassess_link(&mut state, &link(100 * MB, None), Some(&progress), 5_000).unwrap();
        assert_eq!((plan.rule, plan.migration_bytes_per_s), (bda_rule::BDA_RULE_DEADLINE_GUARD, 7 * MB));
        // Without progress, the figures the round began with: all 100 MB by the round-1 target.
        let plain = reassess_link(&mut state, &link(100 * MB, None), None, 5_000).unwrap();
        assert_ne!(plain.migration_bytes_per_s, plan.migration_bytes_per_s);
    }

    #[test]
    fn bad_links_and_progress_are_refused_and_write_nothing() {
        let mut state = init(&bda_plus(BDA_UNMET_TAKE_RESERVE));
        let bad_flag = bda_link { has_service_reserve: 2, ..link(10 * MB, Some(MB)) };
        assert_eq!(begin_link(&mut state, &bad_flag, 0).err(), Some(bda_status::BDA_ERR_SERVICE_RESERVE_FLAG_INVALID));
        let over = bda_link { other_usage_bytes_per_s: 11 * MB, ..link(10 * MB, None) };
        assert_eq!(begin_link(&mut state, &over, 0).err(), Some(bda_status::BDA_ERR_USAGE_ABOVE_CAPACITY));
        let mut plan = MaybeUninit::uninit();
        let status = unsafe { bda_begin_round_link(&mut *state, core::ptr::null(), 0, plan.as_mut_ptr()) };
        assert_eq!(status, bda_status::BDA_ERR_NULL_POINTER);
        // Nothing started: reassessing finds no round.
        let ok = link(10 * MB, None);
        assert_eq!(reassess_link(&mut state, &ok, None, 0).err(), Some(bda_status::BDA_ERR_NO_ROUND_IN_PROGRESS));

        let mut plan = begin_link(&mut state, &ok, 0).unwrap();
        let before = plan;
        let progress =
            bda_progress { remaining_in_round_bytes: 0, dirtied_in_round_bytes: 0, has_dirtied: 2, reserved: 0 };
        let status = unsafe { bda_reassess_link(&mut *state, &ok, &progress, 10, &mut plan) };
        assert_eq!((status, plan), (bda_status::BDA_ERR_DIRTIED_FLAG_INVALID, before));
        let misaligned = core::ptr::from_ref(&progress).cast::<u8>().wrapping_add(1).cast::<bda_progress>();
        let status = unsafe { bda_reassess_link(&mut *state, &ok, misaligned, 10, &mut plan) };
        assert_eq!(status, bda_status::BDA_ERR_MISALIGNED_POINTER);
    }
}
