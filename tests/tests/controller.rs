//! Controller properties: it ends within its round cap for any input, and it chooses
//! stop-and-copy exactly when one of its conditions holds (checked against a model written
//! from the documentation).

use bda_core::{
    AnyPolicy, Bytes, BytesPerSec, Controller, ControllerConfig, IncrementalConfig, LinkSample, Next, PageSize, Pca,
    RoundKind, RoundReport, Static, StopConditions, StopReason, TickHz, Ticks,
};
use bda_tests::any_u64;
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Step {
    link: LinkSample,
    reassessed: Option<LinkSample>,
    elapsed: u64,
    report: RoundReport,
}

fn link() -> impl Strategy<Value = LinkSample> {
    (any_u64(), any_u64()).prop_map(|(c, u)| LinkSample::new(BytesPerSec(c), BytesPerSec(u)))
}

fn step() -> impl Strategy<Value = Step> {
    (link(), prop::option::of(link()), any_u64(), any_u64(), any_u64(), any_u64()).prop_map(
        |(link, reassessed, elapsed, sent, dirtied, remaining)| Step {
            link,
            reassessed,
            elapsed,
            report: RoundReport { sent: Bytes(sent), dirtied: Bytes(dirtied), remaining: Bytes(remaining) },
        },
    )
}

fn policy() -> impl Strategy<Value = AnyPolicy> {
    prop_oneof![
        Just(AnyPolicy::bda()),
        Just(AnyPolicy::Pca(Pca)),
        any_u64().prop_map(|cap| AnyPolicy::Static(Static::new(BytesPerSec(cap)))),
        (any_u64(), any_u64(), any_u64()).prop_map(|(a, increment, b)| {
            AnyPolicy::incremental(IncrementalConfig {
                start: BytesPerSec(a.min(b)),
                increment: BytesPerSec(increment),
                ceiling: BytesPerSec(a.max(b)),
            })
            .unwrap()
        }),
    ]
}

fn config() -> impl Strategy<Value = ControllerConfig> {
    (
        (
            1_u64..=u64::MAX,
            prop_oneof![Just(1_u64), Just(1_000), Just(1_000_000_000), Just(u64::MAX), 1_u64..=u64::MAX],
        ),
        prop_oneof![Just(PageSize::KIB_4), Just(PageSize::MIB_2), Just(PageSize::GIB_1)],
        (
            prop::option::of(prop_oneof![Just(1_u64), Just(300_000), Just(u64::MAX), 1_u64..=u64::MAX]),
            prop_oneof![Just(2_u32), Just(5), Just(30), 2_u32..60],
            prop::option::of(prop_oneof![Just(100_u32), Just(300), Just(u32::MAX), 100_u32..=u32::MAX]),
            prop::option::of(prop_oneof![Just(0_u64), Just(50), Just(u64::MAX), any::<u64>()]),
            any::<bool>(),
        ),
        prop::option::of(1_u32..6),
        prop::option::of(prop_oneof![Just(1_u64), Just(u64::MAX), 1_u64..=u64::MAX]),
    )
        .prop_map(|((memory, hz), page_size, stop, non_convergence_rounds, stall_after_us)| ControllerConfig {
            memory: Bytes(memory),
            page_size,
            tick_hz: TickHz(hz),
            stop: StopConditions {
                downtime_target_us: stop.0,
                max_rounds: stop.1,
                max_sent_percent_of_memory: stop.2,
                min_remaining_pages: stop.3,
                ceiling_without_progress: stop.4,
            },
            non_convergence_rounds,
            stall_after_us,
        })
}

/// The documented behaviour, written out independently of the controller's code.
struct Model {
    config: ControllerConfig,
    policy: AnyPolicy,
    incremental_rate: u64,
    sent_total: u64,
    sent_last: u64,
    streak: u32,
}

impl Model {
    fn dirty_rate(&self, dirtied: u64, elapsed: u64) -> u64 {
        if dirtied == 0 {
            0
        } else if elapsed == 0 {
            u64::MAX
        } else {
            (u128::from(dirtied) * u128::from(self.config.tick_hz.0) / u128::from(elapsed)).min(u128::from(u64::MAX))
                as u64
        }
    }

    /// Incremental's rate when a round of `kind` begins after a round of dirty rate `latest`.
    fn begin(&mut self, kind: RoundKind, latest: Option<u64>) {
        if let AnyPolicy::Incremental(p) = self.policy {
            let c = p.config();
            self.incremental_rate = match kind {
                RoundKind::First => c.start.0,
                RoundKind::StopAndCopy => c.ceiling.0,
                RoundKind::Live => match latest {
                    Some(l) if l > self.incremental_rate => l.saturating_add(c.increment.0).min(c.ceiling.0),
                    _ => self.incremental_rate,
                },
            };
        }
    }

    fn stop_rate(&self, link: LinkSample) -> u64 {
        let free = link.capacity.0.saturating_sub(link.other_usage.0);
        match self.policy {
            AnyPolicy::Incremental(p) => p.config().ceiling.0.min(free),
            _ => free,
        }
    }

    fn expected_stop(&self, round: u32, link: LinkSample, report: &RoundReport) -> Option<StopReason> {
        let stop = &self.config.stop;
        let remaining = u128::from(report.remaining.0);
        if let Some(target) = stop.downtime_target_us
            && remaining * 1_000_000 <= u128::from(target) * u128::from(self.stop_rate(link))
        {
            return Some(StopReason::DowntimeTarget);
        }
        if let Some(pages) = stop.min_remaining_pages
            && remaining < u128::from(pages) * u128::from(self.config.page_size.bytes())
        {
            return Some(StopReason::FewPagesLeft);
        }
        if let AnyPolicy::Incremental(p) = self.policy
            && stop.ceiling_without_progress
            && round >= 2
            && self.incremental_rate >= p.config().ceiling.0
            && report.sent.0 > self.sent_last
        {
            return Some(StopReason::CeilingWithoutProgress);
        }
        if let Some(percent) = stop.max_sent_percent_of_memory
            && u128::from(self.sent_total) * 100 > u128::from(self.config.memory.0) * u128::from(percent)
        {
            return Some(StopReason::SentLimit);
        }
        (round + 1 >= stop.max_rounds).then_some(StopReason::RoundCap)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    // The body only returns from inside its loop; proptest appends an unreachable `Ok(())`.
    #[allow(unreachable_code)]
    #[test]
    fn controller_ends_within_its_round_cap_and_stops_exactly_when_a_condition_holds(
        config in config(),
        policy in policy(),
        steps in prop::collection::vec(step(), 1..12),
        start in any_u64(),
    ) {
        let mut controller: Controller<AnyPolicy> = Controller::new(config, policy).unwrap();
        let mut model = Model { config, policy, incremental_rate: 0, sent_total: 0, sent_last: 0, streak: 0 };
        let mut now = start;
        let mut latest = None;
        let mut kind = RoundKind::First;
        let mut rounds = 0_u32;
        // Cycle through the steps: the controller must end however long the input is.
        let mut cycle = steps.iter().cycle();
        loop {
            let step = cycle.next().expect("steps are never empty");
            rounds += 1;
            prop_assert!(rounds <= config.stop.max_rounds, "round {rounds} beyond the cap");
            model.begin(kind, latest);
            let mut plan = controller.begin_round(step.link, Ticks(now)).unwrap();
            prop_assert_eq!((plan.round, plan.kind), (rounds, kind));
            let mut link = step.link;
            if let Some(reassessed) = step.reassessed {
                plan = controller.reassess(reassessed, Ticks(now)).unwrap();
                link = reassessed;
            }
            prop_assert!(plan.allocation.migration <= plan.allocation.free);
            let elapsed = step.elapsed.min(u64::MAX - now);
            now += elapsed;
            let verdict = controller.end_round(step.report, Ticks(now)).unwrap();
            let dirty_rate = model.dirty_rate(step.report.dirtied.0, elapsed);
            prop_assert_eq!(verdict.dirty_rate.0, dirty_rate);
            model.sent_total = model.sent_total.saturating_add(step.report.sent.0);
            if kind == RoundKind::StopAndCopy {
                prop_assert_eq!(verdict.next, Next::Complete);
                let summary = controller.summary().unwrap();
                prop_assert_eq!(summary.rounds, rounds);
                prop_assert_eq!(summary.sent.0, model.sent_total);
                prop_assert_eq!(summary.downtime.0, elapsed);
                return Ok(());
            }
            // Non-convergence: the dirty rate at or above the migration rate N rounds running.
            model.streak = if dirty_rate >= plan.allocation.migration.0 { model.streak + 1 } else { 0 };
            let raised = config.non_convergence_rounds.is_some_and(|n| model.streak >= n);
            prop_assert_eq!(verdict.events.non_convergence, raised);

            let expected = model.expected_stop(rounds, link, &step.report);
            prop_assert_eq!(verdict.stop_reason, expected);
            prop_assert_eq!(verdict.next, if expected.is_some() { Next::StopAndCopy } else { Next::Live });
            model.sent_last = step.report.sent.0;
            latest = Some(dirty_rate);
            kind = if expected.is_some() { RoundKind::StopAndCopy } else { RoundKind::Live };
        }
    }

    /// A caller may force stop-and-copy between any two rounds; the migration then ends
    /// after exactly one more round, with the reason `Requested`.
    #[test]
    fn a_requested_stop_and_copy_ends_the_migration_after_one_round(
        live_rounds in 1_u32..20,
        step in step(),
    ) {
        let config = ControllerConfig {
            stop: StopConditions { max_rounds: u32::MAX, ..StopConditions::QEMU },
            ..ControllerConfig::new(Bytes(1 << 30), TickHz::MILLIS)
        };
        let mut controller: Controller<AnyPolicy> = Controller::new(config, AnyPolicy::bda()).unwrap();
        // Nothing sendable fits the downtime target: remaining is huge and the link is idle.
        let link = LinkSample::new(BytesPerSec(0), BytesPerSec(0));
        let report = RoundReport { remaining: Bytes(u64::MAX), ..step.report };
        for round in 1..=live_rounds {
            controller.begin_round(link, Ticks(u64::from(round))).unwrap();
            let verdict = controller.end_round(report, Ticks(u64::from(round))).unwrap();
            prop_assert_eq!(verdict.next, Next::Live);
        }
        controller.request_stop_and_copy().unwrap();
        let plan = controller.begin_round(link, Ticks(100)).unwrap();
        prop_assert_eq!(plan.kind, RoundKind::StopAndCopy);
        let verdict = controller.end_round(report, Ticks(100)).unwrap();
        prop_assert_eq!((verdict.next, verdict.stop_reason), (Next::Complete, Some(StopReason::Requested)));
        prop_assert_eq!(controller.summary().unwrap().rounds, live_rounds + 1);
    }
}

/// BDA+'s convergence guard, end to end: a guest that dirties a constant `U` bytes per
/// second (its working set never binds), a link whose free bandwidth `F` is at least
/// `U / rho_max`, and the controller's 300 ms downtime target alone to end the migration
/// (no round cap). Each live round then re-sends what the last dirtied at no less than
/// `U / rho_max`, so what is left shrinks by at least `rho_max` per round (times `1.01`
/// for the measurement's rounding to whole bytes and nanoseconds), and the migration ends
/// within `2 + ceil(log(M / (F * 0.3 s)) / log(1 / (1.01 rho_max)))` rounds, stop-and-copy
/// included.
mod bda_plus_convergence {
    use super::*;
    use bda_core::{BdaPlus, BdaPlusConfig, Share};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(10_000))]

        #[test]
        fn converges_within_the_stated_rounds(
            memory_mib in prop_oneof![Just(1_u64), Just(65_536), 1_u64..=65_536],
            dirty in prop_oneof![Just(1_000_u64), Just(10_000_000_000), 1_000_u64..=10_000_000_000],
            ratio_ppm in prop_oneof![Just(50_000_u32), Just(500_000), Just(950_000), 50_000_u32..=950_000],
            headroom_ppm in prop_oneof![Just(0_u64), 0_u64..=3_000_000],
        ) {
            let memory = memory_mib << 20;
            let ratio = Share::from_ppm(ratio_ppm).unwrap();
            let policy = BdaPlus::new(BdaPlusConfig { max_dirty_ratio: Some(ratio), ..BdaPlusConfig::default() }).unwrap();
            // F = ceil(U / rho), plus some headroom.
            let bits = u128::from(ratio.to_fixed().to_bits());
            let need = (u128::from(dirty) << 63).div_ceil(bits);
            let free = u64::try_from(need + need * u128::from(headroom_ppm) / 1_000_000).unwrap();
            let link = LinkSample::new(BytesPerSec(free), BytesPerSec(0));
            let config = ControllerConfig {
                stop: StopConditions { max_rounds: u32::MAX, ..StopConditions::QEMU },
                non_convergence_rounds: None,
                ..ControllerConfig::new(Bytes(memory), TickHz(1_000_000_000))
            };
            let mut controller = Controller::<BdaPlus>::new(config, policy).unwrap();
            let (mut now, mut to_send) = (0_u64, memory);
            let rounds = loop {
                let plan = controller.begin_round(link, Ticks(now)).unwrap();
                let rate = plan.allocation.migration.0;
                prop_assert!(rate > 0);
                let elapsed_ns = u64::try_from((u128::from(to_send) * 1_000_000_000).div_ceil(u128::from(rate))).unwrap();
                now += elapsed_ns.max(1);
                let dirtied = if plan.kind == RoundKind::StopAndCopy {
                    0
                } else {
                    u64::try_from(u128::from(dirty) * u128::from(elapsed_ns) / 1_000_000_000).unwrap().min(memory)
                };
                let report = RoundReport { sent: Bytes(to_send), dirtied: Bytes(dirtied), remaining: Bytes(dirtied) };
                let verdict = controller.end_round(report, Ticks(now)).unwrap();
                if verdict.next == Next::Complete {
                    break verdict.round;
                }
                to_send = dirtied;
                prop_assert!(verdict.round < 10_000, "no convergence");
            };
            let rho = f64::from(ratio_ppm) / 1e6 * 1.01;
            let live = ((memory as f64 / (free as f64 * 0.3)).ln() / (1.0 / rho).ln()).ceil().max(1.0);
            prop_assert!(f64::from(rounds) <= live + 2.0, "{rounds} rounds, bound {}", live + 2.0);
        }
    }
}
