//! The round logic: what bda-qemu tells QEMU given what it observed. No I/O happens here, so a
//! recorded transcript replays through it exactly (see the tests).
//!
//! - Each `MIGRATION_PASS` starts a round. `ram.remaining` read right after it is what the
//!   bitmap sync found dirty; divided by the time since the previous pass began, it is the
//!   previous round's dirty rate (QEMU's own `dirty-pages-rate` is recomputed at most once a
//!   second, so it is stale after short passes). But QEMU syncs as soon as what is left falls
//!   under its switchover threshold (`avail-switchover-bandwidth` × `downtime-limit`), so
//!   that count also holds pages the previous round had not sent yet: up to 300 ms of the
//!   link's worth, which would make a short pass look like a storm of dirtying. bda-qemu
//!   takes them out: the pages left unsent at the sync are estimated from the last reading
//!   before it (`remaining` then, less what QEMU sent since), and the round's dirtied bytes
//!   are what the sync found beyond them.
//! - The switchover pass is the exception: QEMU holds its big lock through the stop-and-copy
//!   round, so `query-migrate` after the final pass answers only once that round is over.
//!   The last live round then ends at the last reading before the switchover: it sent what
//!   QEMU had queued by then, and what the stop-and-copy round sent beyond that reading's
//!   `remaining` counts as dirtied.
//! - `U_used` comes from the outgoing interface's tx byte counter over a window of about a
//!   second, minus the migration's own bytes with their TCP/IP headers, minus the VM's own
//!   service traffic when a counter for it is given ([`Meter`]).
//! - The controller works in bytes of QEMU's migration stream, the unit of `max-bandwidth`,
//!   `avail-switchover-bandwidth`, `ram.transferred` and `ram.remaining`: the link's capacity
//!   and the wire traffic measured on it are scaled down by the migration's header overhead
//!   ([`Steering::stream_rate`]). Mixing the two once let the migration's wire rate exceed
//!   its allocation by that overhead (4.6 % at a 1500-byte MTU), eating into the reserve, and
//!   made QEMU's switchover estimate as much too optimistic.
//! - QEMU decides the switchover itself: it switches over when what is left fits its
//!   `downtime-limit` at `avail-switchover-bandwidth`, which bda-qemu sets to the free
//!   bandwidth, as BDA's stop-and-copy round gets all of it. So the controller runs with no
//!   stop condition of its own and is told when QEMU paused the VM.

use bda_core::{
    Allocation, AnyPolicy, Bytes, BytesPerSec, Controller, ControllerConfig, ControllerError, LinkFilter,
    LinkFilterConfig, LinkSample, Next, PageSize, Policy, RoundContext, RoundKind, RoundReport, StopConditions, TickHz,
    Ticks, UnmetAction,
};
use serde::{Deserialize, Serialize};

use crate::meter::{Counters, Meter};

/// QEMU reads a `max-bandwidth` of 0 (and anything under 10 B/s) as "unlimited": the lowest
/// cap bda-qemu ever sets.
pub const MIN_CAP: u64 = 1_000;

/// What to do when the controller reports that pre-copy is not converging.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum OnNonConvergence {
    /// Log it and go on.
    Log,
    /// Let QEMU's auto-converge throttle the guest's vCPUs from then on. QEMU takes no
    /// capability change during a migration, so `migrate` turns auto-converge on before it
    /// starts, with QEMU's throttle held at 1 % until the event.
    AutoConverge,
    /// Cancel the migration.
    Cancel,
}

/// Whether an unmet BDA+ guard asks QEMU to slow the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlowGuest {
    /// Not configured: the unmet guard is only reported.
    Off,
    /// Configured; not asked yet.
    Ready,
    /// Asked ([`Action::ThrottleGuest`] sent): once is enough, QEMU's throttle then follows
    /// its own rule.
    Asked,
}

/// The settings of a steering run.
#[derive(Clone, Debug)]
pub struct SteeringConfig {
    /// `T`: the link's capacity, wire B/s (headers included).
    pub capacity: BytesPerSec,
    /// The VM's RAM.
    pub memory: Bytes,
    /// The policy.
    pub policy: AnyPolicy,
    /// How long a window `U_used` is measured over, in microseconds.
    pub window_us: u64,
    /// The migration's TCP/IP header overhead on the wire, in parts per million of its bytes.
    pub header_overhead_ppm: u64,
    /// The reaction to the controller's non-convergence event.
    pub on_non_convergence: OnNonConvergence,
    /// BDA+ with [`UnmetAction::SlowGuest`]: at the first guard the free bandwidth cannot
    /// meet, let QEMU's auto-converge slow the guest ([`Action::ThrottleGuest`]), as
    /// [`OnNonConvergence::AutoConverge`] does at the non-convergence event.
    pub throttle_on_unmet: bool,
}

/// What `query-migrate` said at one moment, reduced to what the round logic needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The migration's status (`setup`, `active`, `completed`, ...).
    pub status: String,
    /// `ram.transferred`: bytes QEMU has queued on the migration stream.
    pub transferred: u64,
    /// `ram.remaining`: bytes still dirty.
    pub remaining: u64,
    /// `ram.page-size`.
    pub page_size: u64,
    /// `ram.dirty-sync-count`: bitmap syncs so far, one per pass.
    pub dirty_sync_count: u64,
    /// `total-time`, ms.
    pub total_time_ms: Option<u64>,
    /// `downtime`, ms.
    pub downtime_ms: Option<u64>,
    /// `setup-time`, ms.
    pub setup_time_ms: Option<u64>,
    /// `error-desc`, when the migration failed.
    pub error: Option<String>,
}

impl Snapshot {
    /// Reduces QEMU's typed `query-migrate` reply.
    pub fn from_info(info: &qapi::qmp::MigrationInfo) -> Self {
        let ram = info.ram.as_ref();
        let status = info.status.as_ref().map(|s| qapi::Enum::name(s).to_owned()).unwrap_or_else(|| "none".into());
        let unsigned = |v: i64| u64::try_from(v).unwrap_or(0);
        Self {
            status,
            transferred: ram.map_or(0, |r| unsigned(r.transferred)),
            remaining: ram.map_or(0, |r| unsigned(r.remaining)),
            page_size: ram.map_or(4096, |r| unsigned(r.page_size)),
            dirty_sync_count: ram.map_or(0, |r| unsigned(r.dirty_sync_count)),
            total_time_ms: info.total_time.map(unsigned),
            downtime_ms: info.downtime.map(unsigned),
            setup_time_ms: info.setup_time.map(unsigned),
            error: info.error_desc.clone(),
        }
    }
}

/// What the driver observed; the steering's only inputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "input")]
pub enum Input {
    /// The counters and `query-migrate`, sampled every 100 ms or so.
    Sample {
        /// The counters.
        counters: Counters,
        /// `ram.remaining` at the same time (0 before the migration).
        #[serde(default)]
        remaining: u64,
    },
    /// A `MIGRATION_PASS` event (QEMU's timestamp) and `query-migrate` right after it.
    Pass {
        /// The pass number.
        pass: u64,
        /// QEMU's timestamp of the event, µs since the Unix epoch.
        at_us: u64,
        /// `query-migrate` right after it.
        snapshot: Snapshot,
    },
    /// A `STOP` event: QEMU paused the VM for the switchover.
    Paused {
        /// QEMU's timestamp of the event.
        at_us: u64,
    },
    /// The migration completed.
    Completed {
        /// QEMU's timestamp of the event.
        at_us: u64,
        /// `query-migrate` after it.
        snapshot: Snapshot,
    },
}

/// One line of the per-round log, printed when a round begins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundLine {
    /// The round that begins, from 1.
    pub round: u32,
    /// `first`, `live` or `stop-and-copy`.
    pub kind: String,
    /// The rule that decided the rate.
    pub rule: String,
    /// The dirty rate of the round before, B/s (none for round 1).
    pub dirty_rate: Option<u64>,
    /// `U_used`: traffic on the link that is not this VM's, B/s of migration stream (the
    /// wire rate less the header overhead, as every rate in this line).
    pub used: u64,
    /// `F`, B/s.
    pub free: u64,
    /// `B`, B/s.
    pub reserved: u64,
    /// `E`: the `max-bandwidth` set, B/s.
    pub rate: u64,
    /// The rate the round before achieved (bytes QEMU sent over its duration), B/s.
    pub achieved_prev: Option<u64>,
    /// What the round before sent, bytes.
    pub sent_prev: Option<u64>,
    /// What is left to send, bytes.
    pub remaining: u64,
    /// Of `remaining`, the estimated bytes the round before left unsent when QEMU synced
    /// (not counted as dirtied).
    pub leftover: Option<u64>,
}

/// What the steering asks the driver to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action", content = "value")]
pub enum Action {
    /// `migrate-set-parameters max-bandwidth`, B/s (never below [`MIN_CAP`]).
    SetMaxBandwidth(u64),
    /// `migrate-set-parameters avail-switchover-bandwidth`, B/s (never 0: QEMU reads 0 as
    /// "estimate it yourself").
    SetSwitchoverBandwidth(u64),
    /// Print a round line.
    Round(RoundLine),
    /// Log a message.
    Note(String),
    /// Let QEMU's auto-converge throttle the guest from now on: the driver releases the
    /// throttle it held at 1 % since the migration started.
    ThrottleGuest,
    /// Cancel the migration, for the reason given.
    Cancel(String),
}

/// The round logic around one bda-core controller.
pub struct Steering {
    config: SteeringConfig,
    controller: Option<Controller<AnyPolicy>>,
    meter: Meter,
    /// Learns BDA+'s service reserve from the service's measured traffic (the meter's
    /// window already smooths `U_used`).
    filter: LinkFilter,
    /// The service reserve it learned last, when the service is measured.
    service_reserve: Option<BytesPerSec>,
    /// The round whose unmet guard was last reported (one note a round).
    unmet_noted: u32,
    /// Whether an unmet guard still may, or already did, ask QEMU to slow the guest.
    slow_guest: SlowGuest,
    /// The last pass: its time and `ram.transferred` right after it.
    last_pass: Option<(u64, u64)>,
    /// The latest (`ram.transferred`, `ram.remaining`) seen, at a sample or a pass.
    last_reading: Option<(u64, u64)>,
    paused: bool,
    rate_set: Option<u64>,
    switchover_set: Option<u64>,
    epoch_us: Option<u64>,
    not_converging: bool,
    /// The stop-and-copy round has begun: QEMU's final sync within it is no new round.
    in_stop_round: bool,
}

impl Steering {
    /// A steering run with `config`.
    pub fn new(config: SteeringConfig) -> Self {
        let meter = Meter::new(config.window_us, config.header_overhead_ppm);
        Self {
            controller: None,
            meter,
            filter: LinkFilter::new(LinkFilterConfig::default(), TickHz::MICROS),
            service_reserve: None,
            unmet_noted: 0,
            slow_guest: if config.throttle_on_unmet { SlowGuest::Ready } else { SlowGuest::Off },
            last_pass: None,
            last_reading: None,
            paused: false,
            rate_set: None,
            switchover_set: None,
            epoch_us: None,
            not_converging: false,
            in_stop_round: false,
            config,
        }
    }

    /// A wire rate (headers included) as the migration stream's bytes that fill it.
    pub fn stream_rate(&self, wire_bytes_per_s: u64) -> u64 {
        mul_div(wire_bytes_per_s, 1_000_000, 1_000_000u64.saturating_add(self.config.header_overhead_ppm))
    }

    /// The link as measured now, in migration-stream bytes.
    fn measured_link(&self) -> LinkSample {
        LinkSample::new(
            BytesPerSec(self.stream_rate(self.config.capacity.0)),
            BytesPerSec(self.stream_rate(self.meter.other_usage())),
        )
    }

    /// The link as measured now, in migration-stream bytes, with the service reserve learned
    /// so far.
    pub fn link(&self) -> LinkSample {
        let link = self.measured_link();
        match self.service_reserve {
            Some(reserve) => link.with_service_reserve(reserve),
            None => link,
        }
    }

    /// The caps for round 1, to set before the migration starts (QEMU caps its setup too).
    pub fn initial(&mut self) -> Vec<Action> {
        let link = self.link();
        let allocation = self.config.policy.allocate(&RoundContext::FIRST, link);
        let mut actions = Vec::new();
        self.set_caps(allocation.migration.0, allocation.free.0, &mut actions);
        actions
    }

    /// Takes one observation; returns what to do.
    pub fn step(&mut self, input: &Input) -> Result<Vec<Action>, String> {
        let mut actions = Vec::new();
        match input {
            Input::Sample { counters, remaining } => {
                self.meter.push(counters);
                if let Some(service) = self.meter.service_usage() {
                    let service = BytesPerSec(self.stream_rate(service));
                    let learned = self.filter.update(self.measured_link(), Some(service), Ticks(counters.at_us));
                    self.service_reserve = learned.service_reserve;
                }
                if self.last_pass.is_some() {
                    self.last_reading = Some((counters.migration, *remaining));
                }
                let link = self.link();
                if let Some(controller) = self.controller.as_mut()
                    && !self.paused
                {
                    let now = Self::ticks(&mut self.epoch_us, counters.at_us);
                    // `ram.remaining` is what the pass has left: BDA+'s deadline plans from it.
                    match controller.reassess_with_progress(link, Bytes(*remaining), None, now) {
                        Ok(plan) => {
                            let a = plan.allocation;
                            Self::note_unmet(&mut self.unmet_noted, &mut self.slow_guest, plan.round, &a, &mut actions);
                            self.set_caps(a.migration.0, a.free.0, &mut actions);
                        }
                        Err(ControllerError::GuardUnmet) => {
                            let reason = unmet_reason(controller.allocation());
                            actions.push(Action::Note(reason.clone()));
                            actions.push(Action::Cancel(reason));
                        }
                        Err(_) => {}
                    }
                }
            }
            Input::Pass { pass, at_us, snapshot } => self.on_pass(*pass, *at_us, snapshot, &mut actions)?,
            Input::Paused { .. } => self.paused = true,
            Input::Completed { at_us, snapshot } => {
                if let Some(controller) = self.controller.as_mut() {
                    let now = Self::ticks(&mut self.epoch_us, *at_us);
                    let sent = self.last_pass.map_or(0, |(_, t)| snapshot.transferred.saturating_sub(t));
                    let report = RoundReport { sent: Bytes(sent), dirtied: Bytes::ZERO, remaining: Bytes::ZERO };
                    // The controller may still be in a live round if QEMU completed without a
                    // final pass we saw; end that round as the stop-and-copy one.
                    if let Ok(verdict) = controller.end_round(report, now)
                        && verdict.next != Next::Complete
                    {
                        actions.push(Action::Note("QEMU completed without a final pass event".into()));
                    }
                }
            }
        }
        Ok(actions)
    }

    /// The controller's ticks: µs since the first time seen.
    fn ticks(epoch: &mut Option<u64>, at_us: u64) -> Ticks {
        let epoch = *epoch.get_or_insert(at_us);
        Ticks(at_us.saturating_sub(epoch))
    }

    fn on_pass(&mut self, pass: u64, at_us: u64, snapshot: &Snapshot, actions: &mut Vec<Action>) -> Result<(), String> {
        if self.in_stop_round {
            return Ok(());
        }
        let link = self.link();
        let now = Self::ticks(&mut self.epoch_us, at_us);
        let mut remaining_now = snapshot.remaining;
        let (kind_before, dirty_rate, achieved, sent, leftover) = match self.controller.as_mut() {
            None => {
                let page_size = PageSize::new(snapshot.page_size)
                    .ok_or_else(|| format!("QEMU's page size {} is not a power of two", snapshot.page_size))?;
                let config = ControllerConfig {
                    page_size,
                    // QEMU decides the switchover (see the module docs); the controller keeps
                    // only its events.
                    stop: StopConditions {
                        downtime_target_us: None,
                        max_rounds: u32::MAX,
                        max_sent_percent_of_memory: None,
                        min_remaining_pages: None,
                        ceiling_without_progress: false,
                    },
                    ..ControllerConfig::new(self.config.memory, TickHz::MICROS)
                };
                let controller = Controller::new(config, self.config.policy).map_err(|e| format!("{e:?}"))?;
                self.controller = Some(controller);
                (None, None, None, None, None)
            }
            Some(controller) => {
                let (previous_at, previous_transferred) = self.last_pass.unwrap_or((at_us, 0));
                let (transferred, remaining) = if self.paused {
                    // See the module docs: the snapshot is from after the stop-and-copy round.
                    let (t, _) = self.last_reading.unwrap_or((previous_transferred, 0));
                    (t, snapshot.transferred.saturating_sub(t))
                } else {
                    (snapshot.transferred, snapshot.remaining)
                };
                remaining_now = remaining;
                let sent = transferred.saturating_sub(previous_transferred);
                // What was left unsent at the sync: the last reading's remaining, less what
                // QEMU sent since.
                let leftover = self.last_reading.map_or(0, |(t, r)| r.saturating_sub(transferred.saturating_sub(t)));
                let report = RoundReport {
                    sent: Bytes(sent),
                    dirtied: Bytes(remaining.saturating_sub(leftover)),
                    remaining: Bytes(remaining),
                };
                let verdict = controller.end_round(report, now).map_err(|e| format!("round {pass}: {e:?}"))?;
                // The event stands every round the streak lasts: say it when it starts.
                let starts = verdict.events.non_convergence && !self.not_converging;
                self.not_converging = verdict.events.non_convergence;
                if starts {
                    let message = format!(
                        "round {}: not converging: the dirty rate stayed at or above the migration rate for 3 rounds",
                        verdict.round
                    );
                    actions.push(Action::Note(message.clone()));
                    match self.config.on_non_convergence {
                        OnNonConvergence::Log => {}
                        OnNonConvergence::AutoConverge => actions.push(Action::ThrottleGuest),
                        OnNonConvergence::Cancel => actions.push(Action::Cancel(message)),
                    }
                }
                if self.paused && verdict.next == Next::Live {
                    controller.request_stop_and_copy().map_err(|e| format!("{e:?}"))?;
                }
                let elapsed = at_us.saturating_sub(previous_at);
                let achieved = (elapsed > 0).then(|| mul_div(sent, 1_000_000, elapsed));
                (Some(verdict.next), Some(verdict.dirty_rate.0), achieved, Some(sent), Some(leftover))
            }
        };
        if kind_before == Some(Next::Complete) {
            return Ok(());
        }
        let controller = self.controller.as_mut().ok_or("no controller")?;
        let plan = match controller.begin_round(link, now) {
            Ok(plan) => plan,
            Err(ControllerError::GuardUnmet) => {
                let reason = unmet_reason(controller.allocation());
                actions.push(Action::Note(reason.clone()));
                actions.push(Action::Cancel(reason));
                return Ok(());
            }
            Err(e) => return Err(format!("round {pass}: {e:?}")),
        };
        Self::note_unmet(&mut self.unmet_noted, &mut self.slow_guest, plan.round, &plan.allocation, actions);
        if !self.paused {
            self.last_pass = Some((at_us, snapshot.transferred));
            self.last_reading = Some((snapshot.transferred, snapshot.remaining));
        } else if let Some((t, _)) = self.last_reading {
            self.last_pass = Some((at_us, t));
        }
        self.in_stop_round = plan.kind == RoundKind::StopAndCopy;
        let a = plan.allocation;
        self.set_caps(a.migration.0, a.free.0, actions);
        actions.push(Action::Round(RoundLine {
            round: plan.round,
            kind: match plan.kind {
                RoundKind::First => "first",
                RoundKind::Live => "live",
                RoundKind::StopAndCopy => "stop-and-copy",
            }
            .into(),
            rule: format!("{:?}", a.rule),
            dirty_rate,
            used: link.other_usage.0,
            free: a.free.0,
            reserved: a.reserved.0,
            rate: self.rate_set.unwrap_or(a.migration.0),
            achieved_prev: achieved,
            sent_prev: sent,
            remaining: remaining_now,
            leftover,
        }));
        Ok(())
    }

    /// Says once a round that a BDA+ guard cannot be met on this link, and what was done;
    /// with [`SteeringConfig::throttle_on_unmet`], the first time the reserve stays (but for
    /// the deadline guard's drain: [`UnmetAction::SlowGuest`]) it also asks QEMU to slow the
    /// guest.
    fn note_unmet(
        noted: &mut u32,
        slow_guest: &mut SlowGuest,
        round: u32,
        allocation: &Allocation,
        actions: &mut Vec<Action>,
    ) {
        let Some(report) = allocation.guard else { return };
        let Some(action) = report.unmet else { return };
        if *noted == round {
            return;
        }
        *noted = round;
        // Under slow-guest the deadline guard's drain may still take part of the reserve.
        let reserve = match report.reserve_taken.0 {
            0 => "the reserve stays".to_string(),
            taken => format!("the reserve gives {taken} B/s to the deadline's drain, the rest stays"),
        };
        let done = match (action, *slow_guest) {
            (UnmetAction::TakeReserve, _) => "the migration takes all of it".to_string(),
            (UnmetAction::SlowGuest, SlowGuest::Off) => {
                format!("{reserve}; the guest should be slowed (--on-unmet auto-converge would let QEMU do it)")
            }
            (UnmetAction::SlowGuest, SlowGuest::Ready) => format!("{reserve}; QEMU's auto-converge slows the guest"),
            (UnmetAction::SlowGuest, SlowGuest::Asked) => {
                format!("{reserve}; QEMU's auto-converge is slowing the guest")
            }
            (UnmetAction::Abort, _) => "cancelling".to_string(),
        };
        actions.push(Action::Note(format!(
            "round {round}: BDA+'s {:?} guard needs {} B/s, {} B/s are free: {done}",
            report.guard, report.needed.0, allocation.free.0
        )));
        if action == UnmetAction::SlowGuest && *slow_guest == SlowGuest::Ready {
            *slow_guest = SlowGuest::Asked;
            actions.push(Action::ThrottleGuest);
        }
    }

    /// Sets `max-bandwidth` and `avail-switchover-bandwidth` when they change.
    fn set_caps(&mut self, rate: u64, free: u64, actions: &mut Vec<Action>) {
        let rate = rate.max(MIN_CAP);
        if !within_one_percent(self.rate_set, rate) {
            if rate == MIN_CAP {
                actions.push(Action::Note(format!(
                    "the policy's rate is below {MIN_CAP} B/s: capped at {MIN_CAP} B/s (QEMU reads less as unlimited)"
                )));
            }
            self.rate_set = Some(rate);
            actions.push(Action::SetMaxBandwidth(rate));
        }
        let free = free.max(MIN_CAP);
        if !within_one_percent(self.switchover_set, free) {
            self.switchover_set = Some(free);
            actions.push(Action::SetSwitchoverBandwidth(free));
        }
    }

    /// The controller, once the migration's first pass began.
    pub fn controller(&self) -> Option<&Controller<AnyPolicy>> {
        self.controller.as_ref()
    }
}

/// Why a BDA+ guard configured to abort cancelled the migration.
fn unmet_reason(allocation: &Allocation) -> String {
    match allocation.guard {
        Some(report) => format!(
            "BDA+'s {:?} guard cannot be met: it needs {} B/s and {} B/s are free",
            report.guard, report.needed.0, allocation.free.0
        ),
        None => "BDA+'s guard cannot be met".to_string(),
    }
}

/// Whether `new` is within 1 % of what was set: the counters jitter from sample to sample, and
/// QEMU need not hear of every wobble.
fn within_one_percent(set: Option<u64>, new: u64) -> bool {
    set.is_some_and(|old| old.abs_diff(new) <= old / 100)
}

/// `a * b / c` in `u128`, saturating at `u64::MAX`; 0 when `c` is 0.
pub fn mul_div(a: u64, b: u64, c: u64) -> u64 {
    let product = u128::from(a).saturating_mul(u128::from(b));
    product.checked_div(u128::from(c)).map_or(0, |q| u64::try_from(q).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bda_core::Pca;

    fn steering(capacity: u64, header_overhead_ppm: u64) -> Steering {
        Steering::new(SteeringConfig {
            capacity: BytesPerSec(capacity),
            memory: Bytes(128 << 20),
            policy: AnyPolicy::Pca(Pca),
            window_us: 1_000_000,
            header_overhead_ppm,
            on_non_convergence: OnNonConvergence::Log,
            throttle_on_unmet: false,
        })
    }

    #[test]
    fn the_caps_sent_to_qemu_are_stream_bytes_not_wire_bytes() {
        // 100 Mbit/s at a 1500-byte MTU (45,580 ppm of headers): 12,500,000 wire B/s carry
        // 12,500,000 / 1.04558 = 11,955,087 B/s of migration stream.
        let mut s = steering(12_500_000, 45_580);
        assert_eq!(s.stream_rate(12_500_000), 11_955_087);
        assert_eq!(s.initial(), vec![Action::SetMaxBandwidth(11_955_087), Action::SetSwitchoverBandwidth(11_955_087)]);
        // Without headers the two units agree.
        assert_eq!(steering(12_500_000, 0).initial()[0], Action::SetMaxBandwidth(12_500_000));
    }

    #[test]
    fn an_unmet_guard_is_noted_once_a_round_with_what_the_reserve_gave() {
        use bda_core::{Guard, GuardReport, Rule};
        let guarded = |guard, reserve_taken| {
            let mut a = Allocation::up_to(
                BytesPerSec(6_000_000),
                LinkSample::new(BytesPerSec(10_000_000), BytesPerSec(0)),
                Rule::DeadlineGuard,
            );
            let unmet = Some(UnmetAction::SlowGuest);
            a.guard = Some(GuardReport {
                guard,
                needed: BytesPerSec(16_000_000),
                reserve_taken: BytesPerSec(reserve_taken),
                unmet,
            });
            a
        };
        let (mut noted, mut slow_guest, mut actions) = (0, SlowGuest::Ready, Vec::new());
        // The deadline's drain took 3.5 MB/s of the reserve: said, and QEMU asked to slow the guest.
        Steering::note_unmet(&mut noted, &mut slow_guest, 2, &guarded(Guard::Deadline, 3_500_000), &mut actions);
        let Some(Action::Note(note)) = actions.first() else { panic!("{actions:?}") };
        assert!(note.contains("needs 16000000 B/s, 10000000 B/s are free: the reserve gives 3500000 B/s to the deadline's drain, the rest stays; QEMU's auto-converge slows the guest"), "{note}");
        assert_eq!((actions.get(1), slow_guest), (Some(&Action::ThrottleGuest), SlowGuest::Asked));
        // Once a round; the next round's note says the reserve stays whole, and asks nothing more.
        Steering::note_unmet(&mut noted, &mut slow_guest, 2, &guarded(Guard::Deadline, 3_500_000), &mut actions);
        assert_eq!(actions.len(), 2);
        Steering::note_unmet(&mut noted, &mut slow_guest, 3, &guarded(Guard::Convergence, 0), &mut actions);
        let Some(Action::Note(note)) = actions.get(2) else { panic!("{actions:?}") };
        assert!(note.ends_with("the reserve stays; QEMU's auto-converge is slowing the guest"), "{note}");
        assert_eq!(actions.len(), 3);
    }

    #[test]
    fn the_stream_rate_of_the_extremes_neither_wraps_nor_divides_by_zero() {
        let s = steering(u64::MAX, u64::MAX);
        assert_eq!(s.stream_rate(0), 0);
        // The divisor saturates at u64::MAX: a million wire bytes' worth of headers per byte.
        assert_eq!(s.stream_rate(u64::MAX), 1_000_000);
        assert_eq!(steering(1, 0).stream_rate(u64::MAX), u64::MAX);
    }
}
