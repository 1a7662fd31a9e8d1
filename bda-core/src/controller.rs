//! The round controller: the pre-copy state machine around a policy.
//!
//! A migration is a sequence of rounds. The caller drives it with three calls, passing the
//! time on its own clock each time:
//!
//! ```text
//! begin_round(link, now) -> RoundPlan       the round's kind and allocation
//!   reassess(link, now) -> RoundPlan        (any number of times) new link figures
//! end_round(report, now) -> RoundVerdict    what was sent, dirtied, left; what comes next
//! ```
//!
//! Round 1 sends all of memory. Each later round re-sends what the round before dirtied.
//! At each round's end the controller records the round's dirty rate in the history and
//! checks the stop conditions ([`StopConditions`]); when one holds, the next round is the
//! stop-and-copy round, and after it the migration is complete. Between rounds the caller
//! may force stop-and-copy ([`Controller::request_stop_and_copy`]) or give up
//! ([`Controller::abort`]) — the shape of Xen's callback (continue / stop-and-copy / abort).
//!
//! The controller reports two events and decides nothing on them: *non-convergence* (the
//! dirty rate at or above the migration rate for `N` consecutive rounds) and a *stall* (the
//! migration rate at zero for longer than a configured time). A guard of
//! [`BdaPlus`](crate::BdaPlus) that cannot be met is reported in the allocation
//! ([`Allocation::guard`]); only when its configured action is
//! [`UnmetAction::Abort`] does the controller act, by aborting the migration.
//!
//! It always terminates: the round cap counts every round, including stop-and-copy.

use crate::error::{ControllerConfigError, ControllerError};
use crate::history::{FullHistory, RateHistory};
use crate::policy::{Allocation, Delivery, LinkSample, Policy, RoundContext, RoundKind, Rule, UnmetAction};
use crate::telemetry::Telemetry;
use crate::units::{Bytes, BytesPerSec, PageSize, TickHz, Ticks};
use crate::wide::mul;

/// When the controller stops iterating and copies the rest with the VM paused. Any condition
/// that holds at the end of a round makes the next round the stop-and-copy round.
///
/// The defaults mix the anchors: QEMU's downtime rule and Xen's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StopConditions {
    /// Stop when what is left can be sent within this downtime at the rate the policy would
    /// give the stop-and-copy round (QEMU's switchover rule; its default is 300 ms).
    /// In microseconds; `None` turns it off.
    pub downtime_target_us: Option<u64>,
    /// The most rounds, counting every round including stop-and-copy (Xen 2.0: 30, today's
    /// Xen: 5; QEMU has none, which is `u32::MAX` here). At least 2.
    pub max_rounds: u32,
    /// Stop when the bytes sent so far exceed this share of memory, in percent (Xen: 300).
    /// At least 100; `None` turns it off.
    pub max_sent_percent_of_memory: Option<u32>,
    /// Stop when fewer than this many pages are left (Xen: 50). `None` turns it off.
    pub min_remaining_pages: Option<u64>,
    /// Stop when the policy's rate stands at its ceiling and the round sent more than the one
    /// before (Xen 2.0). Only [`Incremental`](crate::Incremental) has a ceiling.
    pub ceiling_without_progress: bool,
}

impl StopConditions {
    /// QEMU: switch over when the rest fits 300 ms; no other limit.
    pub const QEMU: Self = Self {
        downtime_target_us: Some(300_000),
        max_rounds: u32::MAX,
        max_sent_percent_of_memory: None,
        min_remaining_pages: None,
        ceiling_without_progress: false,
    };
    /// Xen 2.0 (`xc_linux_save.c`): 29 live rounds then stop-and-copy, 3x memory, 50 pages,
    /// and stop at the ceiling without progress.
    pub const XEN_2: Self = Self {
        downtime_target_us: None,
        max_rounds: 30,
        max_sent_percent_of_memory: Some(300),
        min_remaining_pages: Some(50),
        ceiling_without_progress: true,
    };
    /// Today's Xen (`xg_sr_save.c`): 5 rounds, 50 pages.
    pub const XEN: Self = Self {
        downtime_target_us: None,
        max_rounds: 5,
        max_sent_percent_of_memory: None,
        min_remaining_pages: Some(50),
        ceiling_without_progress: false,
    };
}

impl Default for StopConditions {
    /// QEMU's 300 ms downtime target together with Xen 2.0's limits.
    fn default() -> Self {
        Self { downtime_target_us: Some(300_000), ..Self::XEN_2 }
    }
}

/// The settings of a [`Controller`], in human units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ControllerConfig {
    /// The VM's memory size (what round 1 sends).
    pub memory: Bytes,
    /// The VM's page size.
    pub page_size: PageSize,
    /// The frequency of the clock the caller's `now` values count.
    pub tick_hz: TickHz,
    /// When to stop and copy.
    pub stop: StopConditions,
    /// Raise the non-convergence event after this many consecutive rounds whose dirty rate
    /// was at or above the migration rate (default 3). `None` turns it off.
    pub non_convergence_rounds: Option<u32>,
    /// Raise the stall event when the migration rate has been zero for longer than this,
    /// in microseconds (default 10 s). `None` turns it off.
    pub stall_after_us: Option<u64>,
}

impl ControllerConfig {
    /// The defaults for a VM of `memory` bytes, 4 KiB pages, and a clock of `tick_hz`.
    pub fn new(memory: Bytes, tick_hz: TickHz) -> Self {
        Self {
            memory,
            page_size: PageSize::KIB_4,
            tick_hz,
            stop: StopConditions::default(),
            non_convergence_rounds: Some(3),
            stall_after_us: Some(10_000_000),
        }
    }

    /// Checks every rule; returns the first broken one. [`Controller::new`] calls it.
    pub fn validate(&self) -> Result<(), ControllerConfigError> {
        if self.memory.0 == 0 {
            return Err(ControllerConfigError::MemoryZero);
        }
        if self.tick_hz.0 == 0 {
            return Err(ControllerConfigError::TickHzZero);
        }
        if self.stop.max_rounds < 2 {
            return Err(ControllerConfigError::MaxRoundsBelowTwo);
        }
        if self.stop.downtime_target_us == Some(0) {
            return Err(ControllerConfigError::DowntimeTargetZero);
        }
        if self.stop.max_sent_percent_of_memory.is_some_and(|p| p < 100) {
            return Err(ControllerConfigError::SentLimitBelowMemory);
        }
        if self.non_convergence_rounds == Some(0) {
            return Err(ControllerConfigError::NonConvergenceRoundsZero);
        }
        if self.stall_after_us == Some(0) {
            return Err(ControllerConfigError::StallAfterZero);
        }
        Ok(())
    }
}

/// What the caller measured over a round, reported at its end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RoundReport {
    /// The bytes this round sent.
    pub sent: Bytes,
    /// The bytes the guest dirtied while this round ran (unique pages x page size); the
    /// controller divides them by the round's duration to get its dirty rate.
    pub dirtied: Bytes,
    /// The bytes still to send: what the stop-and-copy round would send now (the dirtied
    /// pages plus any the caller deferred).
    pub remaining: Bytes,
}

/// Events the controller raises and leaves to the caller to act on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Events {
    /// The dirty rate was at or above the migration rate for the configured number of
    /// consecutive rounds: pre-copy is not converging.
    pub non_convergence: bool,
    /// The migration rate has been zero for longer than the configured time.
    pub stalled: bool,
}

/// What a round may do, returned when it begins and on each reassessment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RoundPlan {
    /// The round number, from 1.
    pub round: u32,
    /// First, live or stop-and-copy.
    pub kind: RoundKind,
    /// The policy's allocation under the latest link figures.
    pub allocation: Allocation,
    /// Events raised now.
    pub events: Events,
}

/// Why the controller chose stop-and-copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum StopReason {
    /// What is left fits the downtime target.
    DowntimeTarget = 1,
    /// Fewer pages are left than the configured minimum.
    FewPagesLeft = 2,
    /// The policy is at its ceiling and the round sent more than the one before.
    CeilingWithoutProgress = 3,
    /// More than the configured share of memory has been sent.
    SentLimit = 4,
    /// The next round is the last the round cap allows.
    RoundCap = 5,
    /// The caller asked for it.
    Requested = 6,
}

/// What comes after a round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Next {
    /// Another live pre-copy round.
    Live = 1,
    /// The stop-and-copy round.
    StopAndCopy = 2,
    /// Nothing: the stop-and-copy round has ended.
    Complete = 3,
}

/// The controller's verdict at the end of a round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RoundVerdict {
    /// The round that ended.
    pub round: u32,
    /// Its dirty rate as recorded in the history.
    pub dirty_rate: BytesPerSec,
    /// What comes next.
    pub next: Next,
    /// Why the next round is (or the last round was) stop-and-copy, if it is.
    pub stop_reason: Option<StopReason>,
    /// Events raised now.
    pub events: Events,
}

/// A finished migration, in the caller's ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Summary {
    /// Rounds run, stop-and-copy included.
    pub rounds: u32,
    /// Bytes sent over all rounds.
    pub sent: Bytes,
    /// From the start of round 1 to the end of stop-and-copy.
    pub total_time: Ticks,
    /// The stop-and-copy round's duration: the memory part of the downtime.
    pub downtime: Ticks,
    /// Why the controller stopped iterating.
    pub stop_reason: StopReason,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum Phase {
    NotStarted,
    InRound(RoundKind),
    BetweenRounds(RoundKind),
    Complete,
    Aborted,
}

/// A validated [`ControllerConfig`] in the units the controller computes with. Each "off" is a
/// value that makes its condition never hold, so the checks need no branches on options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Profile {
    memory: Bytes,
    tick_hz: TickHz,
    /// 0 = off.
    downtime_target_us: u64,
    /// Stop below this many pages left; 0 = off.
    min_remaining_pages: u64,
    page_size: PageSize,
    /// Raise the stall event after this long at rate 0; `Ticks::MAX` = off.
    stall_after: Ticks,
    max_rounds: u32,
    /// 0 = off.
    max_sent_percent_of_memory: u32,
    /// 0 = off.
    non_convergence_rounds: u32,
    ceiling_without_progress: bool,
}

impl Profile {
    fn new(config: &ControllerConfig) -> Result<Self, ControllerConfigError> {
        config.validate()?;
        let stop = &config.stop;
        Ok(Self {
            memory: config.memory,
            tick_hz: config.tick_hz,
            downtime_target_us: stop.downtime_target_us.unwrap_or(0),
            min_remaining_pages: stop.min_remaining_pages.unwrap_or(0),
            page_size: config.page_size,
            stall_after: config.stall_after_us.map_or(Ticks::MAX, |us| Ticks::from_micros(us, config.tick_hz)),
            max_rounds: stop.max_rounds,
            max_sent_percent_of_memory: stop.max_sent_percent_of_memory.unwrap_or(0),
            non_convergence_rounds: config.non_convergence_rounds.unwrap_or(0),
            ceiling_without_progress: stop.ceiling_without_progress,
        })
    }
}

/// The pre-copy round controller around a policy `P`, keeping the dirty rates in a history
/// `H` ([`FullHistory`] by default: `D` averages every earlier round, as in the paper; use
/// [`WindowHistory`](crate::WindowHistory) for a bounded window).
///
/// # Example: a short migration
///
/// ```
/// use bda_core::{AnyPolicy, Bytes, BytesPerSec, Controller, ControllerConfig, LinkSample,
///                Next, RoundReport, TickHz, Ticks};
///
/// let memory = Bytes(64 << 20);
/// let config = ControllerConfig::new(memory, TickHz::MILLIS);
/// let mut controller: Controller<AnyPolicy> = Controller::new(config, AnyPolicy::bda()).unwrap();
/// let link = LinkSample::new(BytesPerSec::from_mbit_per_sec(1_000), BytesPerSec::from_mbit_per_sec(200));
///
/// let (mut now, mut to_send) = (Ticks(0), memory);
/// loop {
///     let plan = controller.begin_round(link, now).unwrap();
///     let rate = plan.allocation.migration;
///     // Send `to_send` at `rate`; meanwhile the guest dirties 4 MB/s.
///     let elapsed_ms = to_send.0.saturating_mul(1_000) / rate.0.max(1);
///     now = Ticks(now.0 + elapsed_ms.max(1));
///     let dirtied = Bytes(4_000 * elapsed_ms.max(1));
///     let report = RoundReport { sent: to_send, dirtied, remaining: dirtied };
///     let verdict = controller.end_round(report, now).unwrap();
///     if verdict.next == Next::Complete {
///         break;
///     }
///     to_send = dirtied;
/// }
/// let summary = controller.summary().unwrap();
/// assert!(summary.rounds <= 30);
/// assert!(summary.sent.0 >= memory.0);
/// ```
#[derive(Clone, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Controller<P, H = FullHistory> {
    profile: Profile,
    policy: P,
    history: H,
    /// The latest allocation.
    allocation: Allocation,
    migration_started: Ticks,
    round_started: Ticks,
    /// What the current (or next) round has to send.
    to_send: Bytes,
    /// The latest `now` seen; the clock never goes back behind it.
    last_now: Ticks,
    sent_total: Bytes,
    sent_last_round: Bytes,
    /// When the latest allocation was planned by a
    /// [`reassess_with_progress`](Self::reassess_with_progress), and the bytes the round had
    /// left then, for the delivery the next one measures; `Ticks::MAX` when there is no such
    /// mark (a round began, or a plain [`reassess`](Self::reassess) told no progress).
    planned_at: Ticks,
    remaining_when_planned: Bytes,
    /// Since when the migration rate has been zero; `Ticks::MAX` while it is not (half the
    /// size of an `Option`, which keeps the C state small).
    zero_rate_since: Ticks,
    round: u32,
    non_convergence_streak: u32,
    phase: Phase,
    stop_reason: Option<StopReason>,
    telemetry: Telemetry,
}

impl<P: Policy + Clone, H: RateHistory + Default> Controller<P, H> {
    /// A controller for one migration, or the first rule `config` breaks.
    pub fn new(config: ControllerConfig, policy: P) -> Result<Self, ControllerConfigError> {
        Ok(Self {
            profile: Profile::new(&config)?,
            policy,
            history: H::default(),
            allocation: Allocation::up_to(BytesPerSec::ZERO, LinkSample::default(), Rule::FirstRound),
            migration_started: Ticks::ZERO,
            round_started: Ticks::ZERO,
            to_send: config.memory,
            last_now: Ticks::ZERO,
            sent_total: Bytes::ZERO,
            sent_last_round: Bytes::ZERO,
            planned_at: Ticks::MAX,
            remaining_when_planned: Bytes::ZERO,
            zero_rate_since: Ticks::MAX,
            round: 0,
            non_convergence_streak: 0,
            phase: Phase::NotStarted,
            stop_reason: None,
            telemetry: Telemetry::default(),
        })
    }
}

impl<P: Policy + Clone, H: RateHistory> Controller<P, H> {
    /// Starts the next round: round 1, a live round, or stop-and-copy, as decided at the end
    /// of the last one. `link` is the link now; `now` is the caller's clock.
    ///
    /// Fails with [`ControllerError::GuardUnmet`] (and aborts the migration) when a BDA+
    /// guard configured to abort cannot be met; so does [`reassess`](Self::reassess).
    pub fn begin_round(&mut self, link: LinkSample, now: Ticks) -> Result<RoundPlan, ControllerError> {
        let kind = match self.phase {
            Phase::NotStarted => RoundKind::First,
            Phase::BetweenRounds(kind) => kind,
            _ => return Err(self.misuse()),
        };
        let now = self.clock(now);
        if kind == RoundKind::First {
            self.migration_started = now;
        }
        self.round = self.round.saturating_add(1);
        self.phase = Phase::InRound(kind);
        self.round_started = now;
        let ctx = self.context(kind);
        self.policy.begin_round(&ctx);
        // The caller's count of the round's bytes starts with its first progress report.
        self.planned_at = Ticks::MAX;
        self.plan(ctx, link, now)
    }

    /// Recomputes the current round's allocation for new link figures, keeping the round's
    /// dirty rates and coefficients. Call it every 100 ms or so: a round can last minutes while
    /// the other traffic moves. BDA+'s deadline guard then still sees the round as it began;
    /// [`reassess_with_progress`](Self::reassess_with_progress) tells it how far the round got
    /// (and a plain reassessment between two of those drops their measure of delivery).
    pub fn reassess(&mut self, link: LinkSample, now: Ticks) -> Result<RoundPlan, ControllerError> {
        let Phase::InRound(kind) = self.phase else {
            return Err(self.misuse());
        };
        let now = self.clock(now);
        let plan = self.plan(self.context(kind), link, now);
        self.planned_at = Ticks::MAX;
        plan
    }

    /// [`reassess`](Self::reassess), with how far the current round got: the bytes it still
    /// has to send, and, if the caller knows it, what the guest dirtied since the round began
    /// (`None`: estimated at the last round's dirty rate; round 1 has none). The policy then
    /// sees the migration as it stands `now`: [`RoundContext::elapsed_us`] up to `now`, as
    /// [`RoundContext::to_send`] what is left of the round plus what was dirtied meanwhile,
    /// [`RoundContext::dirtying`], the round's own dirty rate so far, and
    /// [`RoundContext::delivered`], what the link delivered since the previous call of this
    /// in the round (by what `remaining_in_round` fell, so count it down as pages go out and
    /// don't let it grow within a round). Only BDA+'s deadline guard reads them.
    ///
    /// # Example
    ///
    /// ```
    /// use bda_core::{BdaPlus, BdaPlusConfig, Bytes, BytesPerSec, Controller, ControllerConfig,
    ///                LinkSample, Rule, TickHz, Ticks};
    ///
    /// // 100 MB, a deadline of 30 s, and 95 MB/s of the link reserved for the service in
    /// // round 1, which leaves the migration 5 MB/s.
    /// let policy = BdaPlus::new(BdaPlusConfig {
    ///     deadline_us: Some(30_000_000),
    ///     first_round_reserve: Some(BytesPerSec(95_000_000)),
    ///     ..BdaPlusConfig::default()
    /// })
    /// .unwrap();
    /// let config = ControllerConfig::new(Bytes(100_000_000), TickHz::MILLIS);
    /// let mut controller: Controller<BdaPlus> = Controller::new(config, policy).unwrap();
    /// let link = LinkSample::new(BytesPerSec(100_000_000), BytesPerSec(0));
    /// // Round 1's guard asks for 100 MB in half the deadline: 6.67 MB/s.
    /// let plan = controller.begin_round(link, Ticks(0)).unwrap();
    /// assert_eq!(plan.allocation.migration, BytesPerSec(6_666_667));
    /// // 5 s in, 45 MB are left and the guest dirtied 15 MB (3 MB/s): 60 MB are outstanding,
    /// // and the guard plans to be done by two thirds of the deadline, in the 15 s to 20 s:
    /// // 3 + 60/15 = 7 MB/s.
    /// let plan =
    ///     controller.reassess_with_progress(link, Bytes(45_000_000), Some(Bytes(15_000_000)), Ticks(5_000)).unwrap();
    /// assert_eq!((plan.allocation.rule, plan.allocation.migration), (Rule::DeadlineGuard, BytesPerSec(7_000_000)));
    /// // 1 s later only 3 MB more went out: 3 of the 7 MB/s were delivered. 42 MB left and
    /// // 18 MB dirtied need 3 + 60/14 = 7.29 MB/s in the 14 s left, and the 4 MB/s the link
    /// // fell short are asked for on top: 11.29 MB/s.
    /// let plan =
    ///     controller.reassess_with_progress(link, Bytes(42_000_000), Some(Bytes(18_000_000)), Ticks(6_000)).unwrap();
    /// assert_eq!(plan.allocation.migration, BytesPerSec(11_285_715));
    /// ```
    pub fn reassess_with_progress(
        &mut self,
        link: LinkSample,
        remaining_in_round: Bytes,
        dirtied_in_round: Option<Bytes>,
        now: Ticks,
    ) -> Result<RoundPlan, ControllerError> {
        let Phase::InRound(kind) = self.phase else {
            return Err(self.misuse());
        };
        let now = self.clock(now);
        let tick_hz = self.profile.tick_hz;
        let base = self.context(kind);
        let in_round = now.saturating_sub(self.round_started);
        let latest = base.dirty.latest.unwrap_or(BytesPerSec::ZERO);
        let dirtied = dirtied_in_round.unwrap_or_else(|| latest.bytes_in(in_round, tick_hz));
        let ctx = RoundContext {
            to_send: remaining_in_round.saturating_add(dirtied),
            elapsed_us: now.saturating_sub(self.migration_started).to_micros(tick_hz),
            // No time in the round yet: no rate to tell.
            dirtying: dirtied_in_round.and_then(|d| BytesPerSec::from_bytes_over(d, in_round, tick_hz)),
            delivered: self.delivered_since_planned(remaining_in_round, now),
            ..base
        };
        let stalled = self.planned_at != Ticks::MAX
            && remaining_in_round == self.remaining_when_planned
            && remaining_in_round != Bytes::ZERO;
        let plan = self.plan(ctx, link, now);
        // Nothing went out: the mark stays, so the next report measures the whole stretch.
        if !stalled {
            (self.planned_at, self.remaining_when_planned) = (now, remaining_in_round);
        }
        plan
    }

    /// What the link delivered since the mark, against the latest allocation: `None` without
    /// a mark, when no time has passed, when nothing went out yet (the mark stays), when the
    /// round has nothing left (it may have ended early in the stretch), and when the round
    /// grew (the count starts afresh).
    fn delivered_since_planned(&self, remaining_in_round: Bytes, now: Ticks) -> Option<Delivery> {
        let no_measure = self.planned_at == Ticks::MAX
            || remaining_in_round == Bytes::ZERO
            || remaining_in_round >= self.remaining_when_planned;
        if no_measure {
            return None;
        }
        let sent = self.remaining_when_planned.saturating_sub(remaining_in_round);
        // No time passed (the clock never goes back): no rate, `None`.
        let achieved = BytesPerSec::from_bytes_over(sent, now.saturating_sub(self.planned_at), self.profile.tick_hz)?;
        Some(Delivery { allocated: self.allocation.migration, achieved })
    }

    /// Ends the current round with what the caller measured, and decides what comes next.
    pub fn end_round(&mut self, report: RoundReport, now: Ticks) -> Result<RoundVerdict, ControllerError> {
        let Phase::InRound(kind) = self.phase else {
            return Err(self.misuse());
        };
        let now = self.clock(now);
        let elapsed = now.saturating_sub(self.round_started);
        let dirty_rate =
            BytesPerSec::from_bytes_over(report.dirtied, elapsed, self.profile.tick_hz).unwrap_or_else(|| {
                Telemetry::count(&mut self.telemetry.dirty_rate_unbounded, true);
                BytesPerSec::MAX
            });
        self.sent_total = self.sent_total.saturating_add(report.sent);
        let round = self.round;

        if kind == RoundKind::StopAndCopy {
            // The summary reads the round's start and the clock's last value, which is `now`.
            self.phase = Phase::Complete;
            let stop_reason = *self.stop_reason.get_or_insert(StopReason::Requested);
            return Ok(RoundVerdict {
                round,
                dirty_rate,
                next: Next::Complete,
                stop_reason: Some(stop_reason),
                events: Events::default(),
            });
        }

        self.history.record(dirty_rate);
        let events = Events { non_convergence: self.track_convergence(dirty_rate), stalled: self.track_stall(now) };
        let stop_reason = self.stop_reason_after(kind, &report);
        self.sent_last_round = report.sent;
        self.to_send = report.remaining;
        self.stop_reason = stop_reason;
        let (next, next_kind) = match stop_reason {
            Some(_) => (Next::StopAndCopy, RoundKind::StopAndCopy),
            None => (Next::Live, RoundKind::Live),
        };
        self.phase = Phase::BetweenRounds(next_kind);
        Ok(RoundVerdict { round, dirty_rate, next, stop_reason, events })
    }

    /// Makes the next round the stop-and-copy round. Only between rounds (after
    /// [`end_round`](Self::end_round), before [`begin_round`](Self::begin_round)).
    pub fn request_stop_and_copy(&mut self) -> Result<(), ControllerError> {
        match self.phase {
            Phase::BetweenRounds(RoundKind::StopAndCopy) => Ok(()),
            Phase::BetweenRounds(_) => {
                self.phase = Phase::BetweenRounds(RoundKind::StopAndCopy);
                self.stop_reason = Some(StopReason::Requested);
                Ok(())
            }
            Phase::InRound(_) | Phase::NotStarted => Err(ControllerError::NotBetweenRounds),
            Phase::Complete | Phase::Aborted => Err(self.misuse()),
        }
    }

    /// Gives up the migration; every later call returns
    /// [`ControllerError::MigrationAborted`].
    pub fn abort(&mut self) {
        self.phase = Phase::Aborted;
    }

    /// The current (or last) round number; 0 before round 1.
    pub fn round(&self) -> u32 {
        self.round
    }

    /// The kind of the round in progress, or `None` when no round is running (before round 1,
    /// between rounds, and after the migration completed or was aborted). Lets a caller that
    /// drives the PPC predictor tell a live round from the stop-and-copy round.
    pub fn round_in_progress(&self) -> Option<RoundKind> {
        match self.phase {
            Phase::InRound(kind) => Some(kind),
            Phase::NotStarted | Phase::BetweenRounds(_) | Phase::Complete | Phase::Aborted => None,
        }
    }

    /// The latest allocation.
    pub fn allocation(&self) -> &Allocation {
        &self.allocation
    }

    /// The policy.
    pub fn policy(&self) -> &P {
        &self.policy
    }

    /// The dirty-rate history.
    pub fn history(&self) -> &H {
        &self.history
    }

    /// What was clamped or flagged so far.
    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    /// The bytes sent so far, over all rounds that ended.
    pub fn sent(&self) -> Bytes {
        self.sent_total
    }

    /// The finished migration, once the stop-and-copy round has ended.
    pub fn summary(&self) -> Option<Summary> {
        (self.phase == Phase::Complete).then(|| Summary {
            rounds: self.round,
            sent: self.sent_total,
            total_time: self.last_now.saturating_sub(self.migration_started),
            downtime: self.last_now.saturating_sub(self.round_started),
            stop_reason: self.stop_reason.unwrap_or(StopReason::Requested),
        })
    }

    /// What the policy sees of the current round.
    fn context(&self, kind: RoundKind) -> RoundContext {
        RoundContext {
            round: self.round,
            kind,
            dirty: self.history.rates(),
            to_send: self.to_send,
            elapsed_us: self.round_started.saturating_sub(self.migration_started).to_micros(self.profile.tick_hz),
            dirtying: None,
            delivered: None,
        }
    }

    /// Allocates under the current link, counting what was clamped; aborts when a guard that
    /// cannot be met is configured to abort.
    fn plan(&mut self, ctx: RoundContext, link: LinkSample, now: Ticks) -> Result<RoundPlan, ControllerError> {
        let kind = ctx.kind;
        let allocation = self.policy.allocate(&ctx, link);
        let t = &mut self.telemetry;
        Telemetry::count(&mut t.usage_above_capacity, allocation.clamps.usage_above_capacity);
        Telemetry::count(&mut t.cut_to_free, allocation.clamps.cut_to_free);
        Telemetry::count(&mut t.floor_applied, allocation.rule == Rule::Floor);
        let unmet = allocation.guard.and_then(|g| g.unmet);
        Telemetry::count(&mut t.guard_took_reserve, allocation.guard.is_some_and(|g| g.reserve_taken.0 != 0));
        Telemetry::count(&mut t.guard_unmet, unmet.is_some());
        self.allocation = allocation;
        if unmet == Some(UnmetAction::Abort) {
            self.phase = Phase::Aborted;
            return Err(ControllerError::GuardUnmet);
        }
        let events = Events { non_convergence: false, stalled: self.track_stall(now) };
        Ok(RoundPlan { round: self.round, kind, allocation, events })
    }

    /// Takes the caller's time, refusing to go backwards (and counting it when it does).
    fn clock(&mut self, now: Ticks) -> Ticks {
        if now < self.last_now {
            Telemetry::count(&mut self.telemetry.clock_went_backwards, true);
            return self.last_now;
        }
        self.last_now = now;
        now
    }

    /// Whether the migration rate has been zero for longer than the stall time.
    fn track_stall(&mut self, now: Ticks) -> bool {
        if self.allocation.migration != BytesPerSec::ZERO {
            self.zero_rate_since = Ticks::MAX;
            return false;
        }
        if self.zero_rate_since == Ticks::MAX {
            self.zero_rate_since = now;
        }
        let since = self.zero_rate_since;
        let stalled = now.saturating_sub(since) > self.profile.stall_after;
        Telemetry::count(&mut self.telemetry.stall_reports, stalled);
        stalled
    }

    /// Whether the dirty rate has been at or above the migration rate for the configured
    /// number of consecutive rounds, counting this one.
    fn track_convergence(&mut self, dirty_rate: BytesPerSec) -> bool {
        self.non_convergence_streak =
            if dirty_rate >= self.allocation.migration { self.non_convergence_streak.saturating_add(1) } else { 0 };
        let rounds = self.profile.non_convergence_rounds;
        let raised = rounds != 0 && self.non_convergence_streak >= rounds;
        Telemetry::count(&mut self.telemetry.non_convergence_reports, raised);
        raised
    }

    /// The first stop condition that holds after a live round of `kind`, if any.
    fn stop_reason_after(&self, kind: RoundKind, report: &RoundReport) -> Option<StopReason> {
        let profile = &self.profile;
        if profile.downtime_target_us != 0 {
            // remaining / rate <= target  <=>  remaining * 1e6 <= target_us * rate.
            let stop_rate = self.stop_and_copy_rate();
            let sendable = mul(profile.downtime_target_us, stop_rate.0);
            if mul(report.remaining.0, 1_000_000) <= sendable {
                return Some(StopReason::DowntimeTarget);
            }
        }
        // remaining < pages x page size  <=>  the whole pages in remaining < pages.
        if profile.page_size.whole_pages(report.remaining) < profile.min_remaining_pages {
            return Some(StopReason::FewPagesLeft);
        }
        if profile.ceiling_without_progress
            && kind == RoundKind::Live
            && self.policy.at_ceiling()
            && report.sent > self.sent_last_round
        {
            return Some(StopReason::CeilingWithoutProgress);
        }
        if profile.max_sent_percent_of_memory != 0 {
            let limit = mul(profile.memory.0, u64::from(profile.max_sent_percent_of_memory));
            if mul(self.sent_total.0, 100) > limit {
                return Some(StopReason::SentLimit);
            }
        }
        if self.round.saturating_add(1) >= profile.max_rounds {
            return Some(StopReason::RoundCap);
        }
        None
    }

    /// The rate the policy would give a stop-and-copy round starting now, on the free
    /// bandwidth of the latest allocation (every policy's stop-and-copy rate depends on the
    /// free bandwidth alone, so the link itself need not be kept: that keeps the C state
    /// small).
    fn stop_and_copy_rate(&self) -> BytesPerSec {
        let ctx = RoundContext { round: self.round.saturating_add(1), ..self.context(RoundKind::StopAndCopy) };
        // Ask a copy, so the current round's policy state stays as it is.
        let mut policy = self.policy.clone();
        policy.begin_round(&ctx);
        policy.allocate(&ctx, LinkSample::new(self.allocation.free, BytesPerSec::ZERO)).migration
    }

    fn misuse(&self) -> ControllerError {
        match self.phase {
            Phase::InRound(_) => ControllerError::RoundInProgress,
            Phase::Complete => ControllerError::MigrationComplete,
            Phase::Aborted => ControllerError::MigrationAborted,
            Phase::NotStarted | Phase::BetweenRounds(_) => ControllerError::NoRoundInProgress,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{AnyPolicy, Incremental, IncrementalConfig, Pca};

    const MB: u64 = 1_000_000;

    /// 100 MB of memory, a millisecond clock, every stop condition off but a large round cap.
    fn quiet() -> ControllerConfig {
        ControllerConfig {
            stop: StopConditions {
                downtime_target_us: None,
                max_rounds: 1_000,
                max_sent_percent_of_memory: None,
                min_remaining_pages: None,
                ceiling_without_progress: false,
            },
            non_convergence_rounds: None,
            stall_after_us: None,
            ..ControllerConfig::new(Bytes(100 * MB), TickHz::MILLIS)
        }
    }

    fn link(free_mb: u64) -> LinkSample {
        LinkSample::new(BytesPerSec(free_mb * MB), BytesPerSec::ZERO)
    }

    fn report(sent: u64, dirtied: u64, remaining: u64) -> RoundReport {
        RoundReport { sent: Bytes(sent), dirtied: Bytes(dirtied), remaining: Bytes(remaining) }
    }

    /// Runs one round of `elapsed_ms` and returns the verdict.
    fn round<P: Policy + Clone>(c: &mut Controller<P>, now: &mut u64, elapsed_ms: u64, r: RoundReport) -> RoundVerdict {
        c.begin_round(link(10), Ticks(*now)).unwrap();
        *now += elapsed_ms;
        c.end_round(r, Ticks(*now)).unwrap()
    }

    /// PCA that keeps what the controller told it the link delivered.
    #[derive(Clone, Default)]
    struct DeliverySpy(core::cell::Cell<Option<Delivery>>);

    impl Policy for DeliverySpy {
        fn allocate(&self, ctx: &RoundContext, link: LinkSample) -> Allocation {
            self.0.set(ctx.delivered);
            Pca.allocate(ctx, link)
        }
    }

    #[test]
    fn delivery_is_measured_between_progress_reports() {
        let mut c = Controller::new(quiet(), DeliverySpy::default()).unwrap();
        let seen = |c: &Controller<DeliverySpy>| c.policy.0.get();
        let delivery = |achieved| Some(Delivery { allocated: BytesPerSec(10 * MB), achieved: BytesPerSec(achieved) });
        let at = |c: &mut Controller<DeliverySpy>, left: u64, ms: u64| {
            c.reassess_with_progress(link(10), Bytes(left), None, Ticks(ms)).unwrap();
        };
        c.begin_round(link(10), Ticks(0)).unwrap();
        assert_eq!(seen(&c), None);
        // The first report only marks; the next measures what went out since: 5 MB in 1 s.
        at(&mut c, 90 * MB, 1_000);
        assert_eq!(seen(&c), None);
        at(&mut c, 85 * MB, 2_000);
        assert_eq!(seen(&c), delivery(5 * MB));
        // Nothing went out: no measure, and the mark stays, so the next one spans both
        // seconds: 4 MB in 2 s.
        at(&mut c, 85 * MB, 3_000);
        assert_eq!(seen(&c), None);
        at(&mut c, 81 * MB, 4_000);
        assert_eq!(seen(&c), delivery(2 * MB));
        // A round that grew starts afresh; so does one after a plain reassessment.
        at(&mut c, 90 * MB, 5_000);
        assert_eq!(seen(&c), None);
        c.reassess(link(10), Ticks(5_500)).unwrap();
        at(&mut c, 80 * MB, 6_000);
        assert_eq!(seen(&c), None);
        // All sent, perhaps early in the stretch: nothing to tell.
        at(&mut c, 0, 7_000);
        assert_eq!(seen(&c), None);
        // The next round starts without a mark.
        c.end_round(report(100 * MB, 0, 10 * MB), Ticks(7_000)).unwrap();
        c.begin_round(link(10), Ticks(7_000)).unwrap();
        at(&mut c, 5 * MB, 8_000);
        assert_eq!(seen(&c), None);
    }

    #[test]
    fn each_config_rule_has_its_error() {
        let ok = ControllerConfig::new(Bytes(1), TickHz(1));
        let cases = [
            (ControllerConfig { memory: Bytes(0), ..ok }, ControllerConfigError::MemoryZero),
            (ControllerConfig { tick_hz: TickHz(0), ..ok }, ControllerConfigError::TickHzZero),
            (
                ControllerConfig { stop: StopConditions { max_rounds: 1, ..ok.stop }, ..ok },
                ControllerConfigError::MaxRoundsBelowTwo,
            ),
            (
                ControllerConfig { stop: StopConditions { downtime_target_us: Some(0), ..ok.stop }, ..ok },
                ControllerConfigError::DowntimeTargetZero,
            ),
            (
                ControllerConfig { stop: StopConditions { max_sent_percent_of_memory: Some(99), ..ok.stop }, ..ok },
                ControllerConfigError::SentLimitBelowMemory,
            ),
            (
                ControllerConfig { non_convergence_rounds: Some(0), ..ok },
                ControllerConfigError::NonConvergenceRoundsZero,
            ),
            (ControllerConfig { stall_after_us: Some(0), ..ok }, ControllerConfigError::StallAfterZero),
        ];
        for (config, error) in cases {
            assert_eq!(Controller::<Pca>::new(config, Pca).err(), Some(error));
        }
        assert!(Controller::<Pca>::new(ok, Pca).is_ok());
    }

    #[test]
    fn the_state_machine_refuses_calls_out_of_order() {
        let mut c = Controller::<Pca>::new(quiet(), Pca).unwrap();
        assert_eq!((c.round(), c.round_in_progress()), (0, None));
        assert_eq!(c.end_round(report(0, 0, 0), Ticks(0)), Err(ControllerError::NoRoundInProgress));
        assert_eq!(c.reassess(link(1), Ticks(0)), Err(ControllerError::NoRoundInProgress));
        assert_eq!(c.request_stop_and_copy(), Err(ControllerError::NotBetweenRounds));
        c.begin_round(link(1), Ticks(0)).unwrap();
        assert_eq!(c.round_in_progress(), Some(RoundKind::First));
        assert_eq!(c.begin_round(link(1), Ticks(0)), Err(ControllerError::RoundInProgress));
        assert_eq!(c.request_stop_and_copy(), Err(ControllerError::NotBetweenRounds));
        c.end_round(report(1, 1, 1), Ticks(1)).unwrap();
        assert_eq!(c.round_in_progress(), None);
        c.request_stop_and_copy().unwrap();
        c.request_stop_and_copy().unwrap(); // asking twice is harmless
        assert_eq!(c.begin_round(link(1), Ticks(2)).unwrap().kind, RoundKind::StopAndCopy);
        assert_eq!(c.round_in_progress(), Some(RoundKind::StopAndCopy));
        assert_eq!(c.end_round(report(1, 0, 0), Ticks(3)).unwrap().next, Next::Complete);
        assert_eq!(c.round_in_progress(), None);
        assert_eq!(c.begin_round(link(1), Ticks(4)), Err(ControllerError::MigrationComplete));
        assert_eq!(c.request_stop_and_copy(), Err(ControllerError::MigrationComplete));
        let summary = c.summary().unwrap();
        assert_eq!(
            (summary.rounds, summary.sent, summary.total_time, summary.downtime),
            (2, Bytes(2), Ticks(3), Ticks(1))
        );
        assert_eq!(summary.stop_reason, StopReason::Requested);

        let mut c = Controller::<Pca>::new(quiet(), Pca).unwrap();
        c.begin_round(link(1), Ticks(0)).unwrap();
        c.abort();
        assert_eq!(c.round_in_progress(), None);
        assert_eq!(c.end_round(report(0, 0, 0), Ticks(0)), Err(ControllerError::MigrationAborted));
        assert_eq!(c.summary(), None);
    }

    #[test]
    fn dirty_rate_is_dirtied_bytes_over_the_round() {
        let mut c = Controller::<Pca>::new(quiet(), Pca).unwrap();
        let mut now = 0;
        // 100 MB sent in 10 s; 5 MB dirtied: 0.5 MB/s.
        let v = round(&mut c, &mut now, 10_000, report(100 * MB, 5 * MB, 5 * MB));
        assert_eq!((v.round, v.dirty_rate, v.next), (1, BytesPerSec(MB / 2), Next::Live));
        assert_eq!(c.history().rates().latest, Some(BytesPerSec(MB / 2)));
        // A round of zero ticks that dirtied something: unbounded, recorded as MAX and counted.
        let v = round(&mut c, &mut now, 0, report(5 * MB, 1, 1));
        assert_eq!(v.dirty_rate, BytesPerSec::MAX);
        assert_eq!(c.telemetry().dirty_rate_unbounded, 1);
    }

    #[test]
    fn downtime_target_stops_when_the_rest_fits() {
        // Free 10 MB/s and a 300 ms target: 3 MB fit, 3 MB + 1 byte do not.
        let config =
            ControllerConfig { stop: StopConditions { downtime_target_us: Some(300_000), ..quiet().stop }, ..quiet() };
        let mut c = Controller::<Pca>::new(config, Pca).unwrap();
        let mut now = 0;
        assert_eq!(round(&mut c, &mut now, 10, report(MB, MB, 3 * MB + 1)).next, Next::Live);
        let v = round(&mut c, &mut now, 10, report(MB, MB, 3 * MB));
        assert_eq!((v.next, v.stop_reason), (Next::StopAndCopy, Some(StopReason::DowntimeTarget)));
    }

    #[test]
    fn downtime_target_uses_the_policys_stop_and_copy_rate() {
        // Incremental's stop-and-copy rate is its ceiling (1 MB/s), not the 10 MB/s free.
        let config = ControllerConfig {
            stop: StopConditions { downtime_target_us: Some(1_000_000), ..quiet().stop },
            ..quiet()
        };
        let xen = Incremental::new(IncrementalConfig {
            start: BytesPerSec(MB / 2),
            increment: BytesPerSec(0),
            ceiling: BytesPerSec(MB),
        })
        .unwrap();
        let mut c = Controller::<Incremental>::new(config, xen).unwrap();
        let mut now = 0;
        assert_eq!(round(&mut c, &mut now, 10, report(MB, MB, MB + 1)).next, Next::Live);
        assert_eq!(round(&mut c, &mut now, 10, report(MB, MB, MB)).stop_reason, Some(StopReason::DowntimeTarget));
    }

    #[test]
    fn few_pages_left_stops() {
        let config =
            ControllerConfig { stop: StopConditions { min_remaining_pages: Some(50), ..quiet().stop }, ..quiet() };
        let mut c = Controller::<Pca>::new(config, Pca).unwrap();
        let mut now = 0;
        assert_eq!(round(&mut c, &mut now, 10, report(MB, MB, 50 * 4096)).next, Next::Live);
        assert_eq!(
            round(&mut c, &mut now, 10, report(MB, MB, 50 * 4096 - 1)).stop_reason,
            Some(StopReason::FewPagesLeft)
        );
    }

    #[test]
    fn sent_limit_stops_past_the_share_of_memory() {
        let config = ControllerConfig {
            stop: StopConditions { max_sent_percent_of_memory: Some(300), ..quiet().stop },
            ..quiet()
        };
        let mut c = Controller::<Pca>::new(config, Pca).unwrap();
        let mut now = 0;
        assert_eq!(round(&mut c, &mut now, 10, report(200 * MB, MB, MB)).next, Next::Live);
        assert_eq!(round(&mut c, &mut now, 10, report(100 * MB, MB, MB)).next, Next::Live); // exactly 3x
        assert_eq!(round(&mut c, &mut now, 10, report(1, MB, MB)).stop_reason, Some(StopReason::SentLimit));
    }

    #[test]
    fn round_cap_counts_the_stop_and_copy_round() {
        let config = ControllerConfig { stop: StopConditions { max_rounds: 3, ..quiet().stop }, ..quiet() };
        let mut c = Controller::<Pca>::new(config, Pca).unwrap();
        let mut now = 0;
        assert_eq!(round(&mut c, &mut now, 10, report(MB, MB, MB)).next, Next::Live);
        assert_eq!(round(&mut c, &mut now, 10, report(MB, MB, MB)).stop_reason, Some(StopReason::RoundCap));
        assert_eq!(round(&mut c, &mut now, 10, report(MB, MB, MB)).next, Next::Complete);
        assert_eq!(c.summary().unwrap().rounds, 3);
    }

    #[test]
    fn ceiling_without_progress_stops_incremental() {
        let config =
            ControllerConfig { stop: StopConditions { ceiling_without_progress: true, ..quiet().stop }, ..quiet() };
        let xen = Incremental::new(IncrementalConfig {
            start: BytesPerSec(MB),
            increment: BytesPerSec(MB),
            ceiling: BytesPerSec(2 * MB),
        })
        .unwrap();
        let mut c = Controller::<Incremental>::new(config, xen).unwrap();
        let mut now = 0;
        // Round 1 dirties 3 MB/s, above the 1 MB/s rate: round 2 runs at the 2 MB/s ceiling.
        assert_eq!(round(&mut c, &mut now, 1_000, report(10 * MB, 3 * MB, 3 * MB)).next, Next::Live);
        // At the ceiling, but sent less than round 1: continue.
        assert_eq!(round(&mut c, &mut now, 1_000, report(2 * MB, 3 * MB, 3 * MB)).next, Next::Live);
        // At the ceiling and sent more than the round before: stop.
        let v = round(&mut c, &mut now, 1_000, report(2 * MB + 1, 3 * MB, 3 * MB));
        assert_eq!(v.stop_reason, Some(StopReason::CeilingWithoutProgress));
    }

    #[test]
    fn non_convergence_is_reported_after_n_rounds() {
        let config = ControllerConfig { non_convergence_rounds: Some(3), ..quiet() };
        let mut c = Controller::<Pca>::new(config, Pca).unwrap();
        let mut now = 0;
        // The link gives 10 MB/s; the guest dirties 10 MB/s (at the rate: not converging).
        let hot = report(10 * MB, 10 * MB, 10 * MB);
        assert!(!round(&mut c, &mut now, 1_000, hot).events.non_convergence);
        assert!(!round(&mut c, &mut now, 1_000, hot).events.non_convergence);
        assert!(round(&mut c, &mut now, 1_000, hot).events.non_convergence);
        assert!(round(&mut c, &mut now, 1_000, hot).events.non_convergence);
        // One round below the rate resets the count.
        assert!(!round(&mut c, &mut now, 1_000, report(10 * MB, 9 * MB, 9 * MB)).events.non_convergence);
        assert!(!round(&mut c, &mut now, 1_000, hot).events.non_convergence);
        assert_eq!(c.telemetry().non_convergence_reports, 2);
    }

    #[test]
    fn stall_is_reported_when_the_rate_stays_zero_too_long() {
        let config = ControllerConfig { stall_after_us: Some(2_000_000), ..quiet() };
        let mut c = Controller::<Pca>::new(config, Pca).unwrap();
        let busy = LinkSample::new(BytesPerSec(MB), BytesPerSec(MB)); // no free bandwidth
        assert!(!c.begin_round(busy, Ticks(0)).unwrap().events.stalled);
        assert!(!c.reassess(busy, Ticks(2_000)).unwrap().events.stalled); // exactly 2 s: not longer
        assert!(c.reassess(busy, Ticks(2_001)).unwrap().events.stalled);
        assert!(!c.reassess(link(1), Ticks(2_002)).unwrap().events.stalled); // moving again
        assert!(!c.reassess(busy, Ticks(3_000)).unwrap().events.stalled); // the clock restarts
        assert!(c.end_round(report(0, 0, MB), Ticks(5_001)).unwrap().events.stalled);
        assert_eq!(c.telemetry().stall_reports, 2);
    }

    #[test]
    fn reassessment_keeps_the_rounds_dirty_rates() {
        let mut c = Controller::<AnyPolicy>::new(quiet(), AnyPolicy::bda()).unwrap();
        let mut now = 0;
        round(&mut c, &mut now, 1_000, report(MB, 3 * MB, 3 * MB));
        let plan = c.begin_round(link(10), Ticks(now)).unwrap();
        assert_eq!((plan.allocation.rule, plan.allocation.reserved), (Rule::Reserve, BytesPerSec(3 * MB)));
        // The link now has 8 MB/s free: same reserve (U = 3 MB/s), less for the migration.
        let plan = c.reassess(link(8), Ticks(now + 100)).unwrap();
        assert_eq!((plan.allocation.migration, plan.allocation.reserved), (BytesPerSec(5 * MB), BytesPerSec(3 * MB)));
        // 2 MB/s free: the reserve no longer fits and is corrected (c = 1 at round 2).
        let plan = c.reassess(link(2), Ticks(now + 200)).unwrap();
        assert_eq!((plan.allocation.rule, plan.allocation.migration), (Rule::Corrected, BytesPerSec(MB)));
        assert_eq!(c.round(), 2);
    }

    #[test]
    fn bda_plus_sees_what_is_left_and_when_and_an_unmet_guard_can_abort() {
        use crate::policy::{BdaPlus, BdaPlusConfig, Guard};
        // A 24 s deadline; round 1 sends 100 MB in 10 s and leaves 30 MB dirtied (3 MB/s).
        let deadline =
            BdaPlusConfig { deadline_us: Some(24_000_000), max_dirty_ratio: None, ..BdaPlusConfig::default() };
        let mut c = Controller::<BdaPlus>::new(quiet(), BdaPlus::new(deadline).unwrap()).unwrap();
        let mut now = 0;
        round(&mut c, &mut now, 10_000, report(100 * MB, 30 * MB, 30 * MB));
        // (Round 1 aimed to end by half the deadline, 12 s.)
        let before = *c.telemetry();
        // Round 2 plans to be done by two thirds of the deadline, 16 s: 3 + 30/6 = 8 MB/s of
        // the 10 MB/s free (the paper would give 7).
        let plan = c.begin_round(link(10), Ticks(now)).unwrap();
        assert_eq!((plan.allocation.rule, plan.allocation.migration), (Rule::DeadlineGuard, BytesPerSec(8 * MB)));
        assert_eq!(c.telemetry().guard_took_reserve, before.guard_took_reserve + 1);
        // Only 7 MB/s free: unmet, the whole link goes to the migration, and it is counted.
        let plan = c.reassess(link(7), Ticks(now + 100)).unwrap();
        assert_eq!(plan.allocation.migration, BytesPerSec(7 * MB));
        assert_eq!(plan.allocation.guard.unwrap().guard, Guard::Deadline);
        assert_eq!(c.telemetry().guard_unmet, before.guard_unmet + 1);
        // 2 s into round 2, 20 MB are left and 6 MB were dirtied meanwhile (estimated at
        // 3 MB/s): 26 MB in the 4 s to 16 s need 3 + 26/4 = 9.5 MB/s, of 12 MB/s free (the
        // paper would give 9). The plain reassessment before told no progress: no delivery.
        let plan = c.reassess_with_progress(link(12), Bytes(20 * MB), None, Ticks(now + 2_000)).unwrap();
        assert_eq!((plan.allocation.rule, plan.allocation.migration), (Rule::DeadlineGuard, BytesPerSec(9_500_000)));
        // 1 s later the link delivered the 9.5 MB/s: 10.5 MB left, 9 MB dirtied, 19.5 MB in
        // 3 s: 3 + 6.5 = 9.5 MB/s again.
        let mut delivered = c.clone();
        let plan = delivered.reassess_with_progress(link(12), Bytes(10_500_000), None, Ticks(now + 3_000)).unwrap();
        assert_eq!(plan.allocation.migration, BytesPerSec(9_500_000));
        // It delivered only 5 MB/s: 15 MB left, 24 MB in 3 s need 3 + 8 = 11 MB/s, and the
        // 4.5 MB/s the link fell short are asked for on top: 15.5, more than is free.
        let plan = c.reassess_with_progress(link(12), Bytes(15 * MB), None, Ticks(now + 3_000)).unwrap();
        let guard = plan.allocation.guard.unwrap();
        assert_eq!((guard.needed, guard.unmet), (BytesPerSec(15_500_000), Some(UnmetAction::TakeReserve)));
        assert_eq!(plan.allocation.migration, BytesPerSec(12 * MB));

        let abort = BdaPlusConfig { on_unmet: UnmetAction::Abort, ..deadline };
        let mut c = Controller::<BdaPlus>::new(quiet(), BdaPlus::new(abort).unwrap()).unwrap();
        let mut now = 0;
        // Round 1 must not abort: it gets a link that meets its guard.
        c.begin_round(link(100), Ticks(0)).unwrap();
        c.end_round(report(100 * MB, 30 * MB, 30 * MB), Ticks(10_000)).unwrap();
        now += 10_000;
        assert!(c.begin_round(link(10), Ticks(now)).is_ok());
        assert_eq!(c.reassess(link(7), Ticks(now + 100)), Err(ControllerError::GuardUnmet));
        assert_eq!(c.allocation().guard.unwrap().needed, BytesPerSec(8 * MB));
        assert_eq!(c.end_round(report(0, 0, 0), Ticks(now + 200)), Err(ControllerError::MigrationAborted));
    }

    #[test]
    fn clamps_and_a_backwards_clock_are_counted() {
        let mut c = Controller::<AnyPolicy>::new(quiet(), AnyPolicy::bda()).unwrap();
        c.begin_round(LinkSample::new(BytesPerSec(1), BytesPerSec(2)), Ticks(10)).unwrap();
        c.reassess(link(1), Ticks(5)).unwrap();
        let t = c.telemetry();
        assert_eq!((t.usage_above_capacity, t.clock_went_backwards), (1, 1));
        // Round 1 ended at tick 10 (the clock never goes back), so the round lasted 0 ticks.
        let v = c.end_round(report(1, 0, MB), Ticks(10)).unwrap();
        assert_eq!(v.dirty_rate, BytesPerSec::ZERO);
        // A guest that stops dirtying after a busy history: equation 5 with c = 0 would give
        // the migration nothing; the floor gives it 5 % of the link, and it is counted.
        let mut c = Controller::<AnyPolicy>::new(quiet(), AnyPolicy::bda()).unwrap();
        let mut now = 0;
        round(&mut c, &mut now, 1_000, report(MB, 20 * MB, MB));
        round(&mut c, &mut now, 1_000, report(MB, 20 * MB, MB));
        round(&mut c, &mut now, 1_000, report(MB, 0, MB));
        let plan = c.begin_round(link(10), Ticks(now)).unwrap();
        assert_eq!(plan.allocation.rule, Rule::Floor);
        assert_eq!(c.telemetry().floor_applied, 1);
    }
}
