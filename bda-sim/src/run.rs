//! One simulated migration, step by step.
//!
//! Each step (at most `step_s`, and cut short where a round ends so round boundaries are
//! exact):
//! 1. the three flows ask for bandwidth — the migration its allocated rate (while it has
//!    pages to send), the service `service_factor` times the guest's page-write rate, the
//!    background its own — and the [`Link`](crate::link::Link) shares the capacity;
//! 2. the migration sends whole pages with what it got, in page order;
//! 3. the guest writes pages (the dirty log and the "destination is stale" set record them);
//! 4. every `reassess_s` the controller gets the measured `U_used`, averaged over the
//!    interval, and re-divides the free bandwidth.
//!
//! A round ends when its pages are sent. The controller then records its dirty rate and
//! decides; the predictor (for PPC and BDA) picks the next round's pages from the dirty log.
//! During stop-and-copy the guest is paused: it writes nothing, and its service, still in
//! demand, gets nothing. At the end every page must be current at the destination.

use bda_core::{
    AnyPolicy, Bytes, BytesPerSec, Controller, ControllerConfig, ControllerError, LinkFilter, LinkFilterConfig,
    LinkSample, Next, PageSize, Predictor, PredictorConfig, PredictorRound, RoundKind, RoundReport, StopReason, TickHz,
    Ticks, UnmetAction,
};
use serde::Serialize;

use crate::bitmap::Bitmap;
use crate::scenario::{PAGE_BYTES, PolicyKind, ReserveArg, Scenario, UsageReading};
use crate::workload::Workload;

/// One round of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoundTrace {
    /// The round number, from 1.
    pub round: u32,
    /// first, live or stop-and-copy.
    pub kind: String,
    /// The rule that fired when the round began.
    pub rule: String,
    /// Free bandwidth when the round began, bytes per second.
    pub free: u64,
    /// Reserved for the service when the round began.
    pub reserved: u64,
    /// The migration's rate when the round began.
    pub migration: u64,
    /// What the migration achieved on average over the round.
    pub achieved: f64,
    /// The round's dirty rate as the controller recorded it.
    pub dirty_rate: u64,
    /// Pages sent.
    pub pages_sent: u64,
    /// Pages the predictor held back when planning this round.
    pub pages_deferred: u64,
    /// The round's duration, seconds.
    pub duration_s: f64,
}

/// The outcome of one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunResult {
    /// The policy.
    pub policy: PolicyKind,
    /// The seed.
    pub seed: u64,
    /// Whether the migration finished before the time limit.
    pub completed: bool,
    /// Whether it stopped because what was left was small (the downtime target or the page
    /// floor), not because a limit forced it.
    pub converged: bool,
    /// Why the controller chose stop-and-copy.
    pub stop_reason: Option<String>,
    /// From the start of round 1 to the end of stop-and-copy (or to the time limit).
    pub total_time_s: f64,
    /// The stop-and-copy round's duration (zero when not completed).
    pub downtime_s: f64,
    /// Rounds run.
    pub rounds: u32,
    /// Bytes the migration sent.
    pub bytes_sent: u64,
    /// Pages sent more than once.
    pub pages_resent: u64,
    /// The service's demand over the migration, bytes.
    pub service_demanded: f64,
    /// What the link delivered of it.
    pub service_delivered: f64,
    /// `1 - delivered / demanded`, percent.
    pub service_shortfall_pct: f64,
    /// The most the link carried in any step, as a share of its capacity.
    pub peak_link_load: f64,
    /// The rounds.
    pub trace: Vec<RoundTrace>,
}

/// How a run ended.
enum End {
    /// Stop-and-copy ended, for this reason, after this downtime (seconds).
    Completed(StopReason, f64),
    /// The scenario's time limit cancelled it.
    TimeLimit,
    /// BDA+ aborted it: a guard configured to abort could not be met.
    Aborted,
}

/// The stop reason of a run that BDA+ aborted because a guard could not be met.
pub const GUARD_ABORT: &str = "Aborted (guard unmet)";

/// A run aborted before its first page: BDA+'s round 1 could not meet its deadline guard.
fn aborted_at_start(policy: PolicyKind, seed: u64) -> RunResult {
    RunResult {
        policy,
        seed,
        completed: false,
        converged: false,
        stop_reason: Some(GUARD_ABORT.to_string()),
        total_time_s: 0.0,
        downtime_s: 0.0,
        rounds: 0,
        bytes_sent: 0,
        pages_resent: 0,
        service_demanded: 0.0,
        service_delivered: 0.0,
        service_shortfall_pct: 0.0,
        peak_link_load: 0.0,
        trace: Vec::new(),
    }
}

/// The state of the round being sent.
struct Round {
    to_send: Bitmap,
    total: u64,
    sent: u64,
    cursor: u64,
    started_s: f64,
    deferred: u64,
    first_rule: String,
    first: (u64, u64, u64),
    kind: RoundKind,
}

/// Runs `scenario` under `policy` with `seed`.
pub fn simulate(scenario: &Scenario, policy: PolicyKind, seed: u64) -> Result<RunResult, String> {
    scenario.validate()?;
    let pages = scenario.pages();
    let page = PAGE_BYTES as f64;
    let hz = TickHz::MICROS;
    let ticks = |t_s: f64| Ticks((t_s * 1e6).round() as u64);

    let config = ControllerConfig {
        page_size: PageSize::KIB_4,
        stop: scenario.stop_conditions(),
        ..ControllerConfig::new(Bytes(scenario.memory_bytes), hz)
    };
    let mut predictor = Predictor::new(PredictorConfig::default(), pages).map_err(|e| e.to_string())?;
    let mut predictor_storage = vec![0; predictor.storage_words()];
    predictor.init_storage(&mut predictor_storage).map_err(|e| e.to_string())?;

    let mut workload = Workload::new(scenario.workload.clone(), pages, seed);
    let service_before = (workload.write_rate(0.0) * page * scenario.service_factor + scenario.service_flow.rate(0.0))
        .min(scenario.link.capacity);
    let mut controller: Controller<AnyPolicy> =
        Controller::new(config, scenario.policy(policy, service_before)?).map_err(|e| e.to_string())?;
    let mut dirty_log = Bitmap::new(pages);
    let mut stale = Bitmap::full(pages);
    let mut pending = Bitmap::new(pages);

    // What the migration measures of the link, averaged over each reassessment interval.
    let usage = |background: f64, service: f64| match scenario.usage_reading {
        UsageReading::Other => background,
        UsageReading::AllButMigration => background + service,
    };
    // The service: `service_factor` bytes per page written, plus its own flow.
    let service_demand = |rate: f64, t_s: f64| rate * page * scenario.service_factor + scenario.service_flow.rate(t_s);
    let link = scenario.link;
    // The readings go through bda-core's link filter: it learns BDA+'s service reserve from
    // the service's measured traffic, and smooths U_used when the scenario asks for it.
    let mut filter = LinkFilter::new(LinkFilterConfig::default(), hz);
    let learn_service = policy == PolicyKind::BdaPlus && scenario.bda_plus.reserve == ReserveArg::ServiceTraffic;
    let mut sample = |used: f64, service: f64, t_s: f64| {
        let raw = LinkSample::new(BytesPerSec(link.capacity.floor() as u64), BytesPerSec(used.round() as u64));
        let service = learn_service.then(|| BytesPerSec(service.round() as u64));
        let filtered = filter.update(raw, service, ticks(t_s));
        LinkSample {
            other_usage: if scenario.smooth_usage { filtered.other_usage } else { raw.other_usage },
            ..filtered
        }
    };

    let mut now_s = 0.0_f64;
    let mut measured_usage =
        usage(link.background.rate(0.0), service_demand(workload.write_rate(0.0), 0.0).min(link.capacity));
    let mut measured_service = service_before;
    let mut interval_usage = 0.0;
    let mut interval_service = 0.0;
    let mut interval_start = 0.0;
    let mut next_reassess = scenario.reassess_s;
    let mut credit = 0.0_f64;
    let mut service_demanded = 0.0;
    let mut service_delivered = 0.0;
    let mut peak_link_load = 0.0_f64;
    let mut sent_pages = 0_u64;
    let mut trace = Vec::new();
    // The page-write rate the paused guest's service would have followed.
    let mut pause_write_rate = 0.0;
    // The share of the guest's time a BDA+ `slow-guest` action has taken away (0..=0.99).
    let mut throttle = 0.0_f64;
    let mut throttled_rounds = 0_u32;

    let plan = match controller.begin_round(sample(measured_usage, measured_service, 0.0), ticks(0.0)) {
        Ok(plan) => plan,
        Err(ControllerError::GuardUnmet) => return Ok(aborted_at_start(policy, seed)),
        Err(e) => return Err(e.to_string()),
    };
    let mut allocation = plan.allocation;
    let mut round = Round {
        to_send: Bitmap::full(pages),
        total: pages,
        sent: 0,
        cursor: 0,
        started_s: 0.0,
        deferred: 0,
        first_rule: format!("{:?}", plan.allocation.rule),
        first: (plan.allocation.free.0, plan.allocation.reserved.0, plan.allocation.migration.0),
        kind: plan.kind,
    };

    let end = loop {
        if now_s >= scenario.time_limit_s {
            break End::TimeLimit;
        }
        let paused = round.kind == RoundKind::StopAndCopy;
        let write_rate = if paused { 0.0 } else { workload.write_rate(now_s) };
        // A throttled guest serves less, but its users still ask: the demand stays whole.
        let service_want = service_demand(if paused { pause_write_rate } else { write_rate }, now_s);
        let service_offered = service_want * (1.0 - throttle);
        let background = link.background.rate(now_s);
        let migration_want = if round.sent < round.total { allocation.migration.0 as f64 } else { 0.0 };
        // A paused guest's service is in demand but cannot run: it gets nothing.
        let [migration_rate, service_rate, background_rate] =
            link.share([migration_want, if paused { 0.0 } else { service_offered }, background]);
        peak_link_load = peak_link_load.max((migration_rate + service_rate + background_rate) / link.capacity);

        // The step: at most step_s, to the next reassessment, and to the round's last page.
        let mut dt = scenario.step_s.min(next_reassess - now_s).min(scenario.time_limit_s - now_s);
        let bytes_left = (round.total - round.sent) as f64 * page - credit;
        if migration_rate > 0.0 {
            dt = dt.min((bytes_left / migration_rate).max(1e-6));
        }
        if round.sent == round.total {
            dt = 0.0;
        }

        credit += migration_rate * dt;
        while credit >= page - 1e-6 && round.sent < round.total {
            let Some(p) = round.to_send.next_set(round.cursor) else { break };
            stale.clear(p);
            round.cursor = p + 1;
            round.sent += 1;
            sent_pages += 1;
            credit -= page;
        }
        if !paused {
            workload.run(now_s, dt * (1.0 - throttle), |p| {
                dirty_log.set(p);
                stale.set(p);
            });
        }
        service_demanded += service_want * dt;
        service_delivered += service_rate * dt;
        interval_usage += usage(background_rate, service_rate) * dt;
        interval_service += service_rate * dt;
        now_s += dt;

        if round.sent == round.total {
            credit = 0.0;
            let dirty = dirty_log.take();
            let report = RoundReport {
                sent: Bytes(round.sent * PAGE_BYTES),
                dirtied: Bytes(dirty.count() * PAGE_BYTES),
                remaining: Bytes(dirty.union_count(&pending) * PAGE_BYTES),
            };
            let verdict = controller.end_round(report, ticks(now_s)).map_err(|e| e.to_string())?;
            let duration_s = now_s - round.started_s;
            trace.push(RoundTrace {
                round: verdict.round,
                kind: format!("{:?}", round.kind),
                rule: round.first_rule.clone(),
                free: round.first.0,
                reserved: round.first.1,
                migration: round.first.2,
                achieved: if duration_s > 0.0 { round.sent as f64 * page / duration_s } else { 0.0 },
                dirty_rate: verdict.dirty_rate.0,
                pages_sent: round.sent,
                pages_deferred: round.deferred,
                duration_s,
            });
            if verdict.next == Next::Complete {
                break End::Completed(verdict.stop_reason.unwrap_or(StopReason::Requested), duration_s);
            }
            // Plan the next round's pages.
            let mut to_send = Bitmap::new(pages);
            let deferred = if policy.uses_predictor() {
                let kind =
                    if verdict.next == Next::StopAndCopy { PredictorRound::StopAndCopy } else { PredictorRound::Live };
                let plan = predictor
                    .plan_round(&mut predictor_storage, dirty.words(), to_send.words_mut(), kind)
                    .map_err(|e| e.to_string())?;
                plan.deferred.0
            } else {
                for (out, (d, p)) in to_send.words_mut().iter_mut().zip(dirty.words().iter().zip(pending.words())) {
                    *out = d | p;
                }
                0
            };
            for ((p, d), s) in pending.words_mut().iter_mut().zip(dirty.words()).zip(to_send.words()) {
                *p = (*p | d) & !s;
            }
            if verdict.next == Next::StopAndCopy {
                pause_write_rate = workload.write_rate(now_s);
            }
            let plan = match controller.begin_round(sample(measured_usage, measured_service, now_s), ticks(now_s)) {
                Ok(plan) => plan,
                Err(ControllerError::GuardUnmet) => break End::Aborted,
                Err(e) => return Err(e.to_string()),
            };
            allocation = plan.allocation;
            if allocation.guard.and_then(|g| g.unmet) == Some(UnmetAction::SlowGuest) {
                // QEMU's auto-converge: 20 % at first, 10 % more per round, at most 99 %.
                throttled_rounds += 1;
                throttle = (0.1 + 0.1 * f64::from(throttled_rounds)).min(0.99);
            }
            round = Round {
                total: to_send.count(),
                to_send,
                sent: 0,
                cursor: 0,
                started_s: now_s,
                deferred,
                first_rule: format!("{:?}", plan.allocation.rule),
                first: (plan.allocation.free.0, plan.allocation.reserved.0, plan.allocation.migration.0),
                kind: plan.kind,
            };
        }

        if now_s >= next_reassess - 1e-9 {
            let length = now_s - interval_start;
            if length > 0.0 {
                measured_usage = interval_usage / length;
                measured_service = interval_service / length;
            }
            interval_usage = 0.0;
            interval_service = 0.0;
            interval_start = now_s;
            next_reassess = now_s + scenario.reassess_s;
            let remaining = Bytes((round.total - round.sent) * PAGE_BYTES);
            let link_now = sample(measured_usage, measured_service, now_s);
            let dirtied = Some(Bytes(dirty_log.count() * PAGE_BYTES));
            match controller.reassess_with_progress(link_now, remaining, dirtied, ticks(now_s)) {
                Ok(plan) => {
                    allocation = plan.allocation;
                    // Auto-converge starts at the first unmet guard, even within a round.
                    if throttled_rounds == 0 && allocation.guard.and_then(|g| g.unmet) == Some(UnmetAction::SlowGuest) {
                        throttled_rounds = 1;
                        throttle = 0.2;
                    }
                }
                Err(ControllerError::GuardUnmet) => break End::Aborted,
                Err(e) => return Err(e.to_string()),
            }
        }
    };

    let converged = matches!(end, End::Completed(StopReason::DowntimeTarget | StopReason::FewPagesLeft, _));
    let (completed, downtime_s) = match end {
        End::Completed(_, downtime_s) => (true, downtime_s),
        End::TimeLimit | End::Aborted => (false, 0.0),
    };
    let stop_reason = match end {
        End::Completed(reason, _) => Some(format!("{reason:?}")),
        End::TimeLimit => None,
        End::Aborted => Some(GUARD_ABORT.to_string()),
    };
    if completed && !stale.is_empty() {
        return Err(format!("{} pages are stale at the destination after the migration", stale.count()));
    }
    Ok(RunResult {
        policy,
        seed,
        completed,
        converged: completed && converged,
        stop_reason,
        total_time_s: now_s,
        downtime_s,
        rounds: trace.len() as u32,
        bytes_sent: sent_pages * PAGE_BYTES,
        pages_resent: sent_pages.saturating_sub(pages),
        service_demanded,
        service_delivered,
        service_shortfall_pct: if service_demanded > 0.0 {
            100.0 * (1.0 - service_delivered / service_demanded)
        } else {
            0.0
        },
        peak_link_load,
        trace,
    })
}
