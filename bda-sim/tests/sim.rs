//! Whole-migration properties of the simulator.

use bda_sim::link::{Background, Link};
use bda_sim::run::simulate;
use bda_sim::scenario::{BdaPlusParams, FirstRoundReserve, OnUnmet, PolicyKind, ReserveArg, Scenario, UsageReading};
use bda_sim::workload::{WorkloadKind, WorkloadParams};
use proptest::prelude::*;

const MIB: u64 = 1 << 20;

/// A VM that writes nothing migrates in one pass at the free rate: `memory / rate`, within
/// one step.
#[test]
fn an_idle_vm_takes_memory_over_rate() {
    for policy in PolicyKind::ALL {
        let mut s = Scenario::new(256 * MIB, WorkloadKind::Idle);
        s.workload.idle_writes_per_s = 0.0;
        s.link = Link { capacity: 12.5e6, efficiency: 1.0, background: Background::Constant { rate: 2.5e6 } };
        s.static_cap = 10_000_000;
        s.incremental = (10_000_000, 0, 10_000_000);
        let r = simulate(&s, policy, 1).unwrap();
        let expected = s.memory_bytes as f64 / 10e6;
        assert!(
            (r.total_time_s - expected).abs() <= s.step_s,
            "{policy:?}: {} s, expected {expected} s",
            r.total_time_s
        );
        assert_eq!((r.bytes_sent, r.pages_resent, r.downtime_s), (s.memory_bytes, 0, 0.0), "{policy:?}");
        assert!(r.converged);
    }
}

#[test]
fn a_seed_gives_the_same_run_and_another_seed_another() {
    let s = Scenario::new(64 * MIB, WorkloadKind::Intermittent);
    for policy in PolicyKind::ALL {
        assert_eq!(simulate(&s, policy, 5).unwrap(), simulate(&s, policy, 5).unwrap());
    }
    assert_ne!(simulate(&s, PolicyKind::Bda, 5).unwrap(), simulate(&s, PolicyKind::Bda, 6).unwrap());
}

/// Where BDA can win in this model: a round whose reserve covers the service's demand does
/// not overload the link, so it runs at its full allocation, while PCA, taking all free
/// bandwidth, overloads it and gets its share of the reduced capacity. Round 1 reserves
/// nothing under either, so the difference shows in the live rounds.
#[test]
fn bda_live_rounds_avoid_the_overload_loss_that_pca_suffers() {
    let mut s = Scenario::new(1 << 30, WorkloadKind::Stress);
    s.workload.writes_per_s = 300.0; // 9.8 Mbit/s of fresh pages: BDA reserves about that
    s.service_factor = 0.5; // the service asks for half of it
    let pca = simulate(&s, PolicyKind::Pca, 1).unwrap();
    let bda = simulate(&s, PolicyKind::Bda, 1).unwrap();
    let live = |r: &bda_sim::run::RunResult| -> Vec<(f64, f64)> {
        r.trace.iter().filter(|t| t.kind == "Live").map(|t| (t.achieved, t.migration as f64)).collect()
    };
    let (pca_live, bda_live) = (live(&pca), live(&bda));
    assert!(!bda_live.is_empty() && !pca_live.is_empty());
    for (achieved, allocated) in &bda_live {
        assert!((achieved - allocated).abs() <= allocated * 0.01, "BDA got {achieved} of {allocated}");
    }
    for (achieved, allocated) in &pca_live {
        assert!(*achieved < allocated * 0.9, "PCA got {achieved} of {allocated}: not overloaded?");
    }
    assert!(bda_live[0].0 > pca_live[0].0);
    assert!(bda.downtime_s < pca.downtime_s);
}

fn workload() -> impl Strategy<Value = WorkloadKind> {
    prop_oneof![
        Just(WorkloadKind::Idle),
        Just(WorkloadKind::KernelCompile),
        Just(WorkloadKind::Intermittent),
        Just(WorkloadKind::Stress)
    ]
}

fn policy() -> impl Strategy<Value = PolicyKind> {
    prop::sample::select(PolicyKind::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Any scenario: the migration completes with every page current at the destination
    /// (simulate fails otherwise), the link never carries more than its capacity, no round
    /// is allocated more than the free bandwidth, and everything is sent at least once.
    #[test]
    fn migrations_conserve_pages_and_respect_the_link(
        memory_mib in 1_u64..24,
        kind in workload(),
        policy in policy(),
        writes_per_s in prop_oneof![Just(0.0), 0.0..20_000.0],
        hot_share in 0.0..=1.0,
        capacity in 1e6..1.25e8,
        background_share in 0.0..1.2,
        efficiency in 0.5..=1.0,
        service_factor in 0.0..2.0,
        reading in prop_oneof![Just(UsageReading::Other), Just(UsageReading::AllButMigration)],
        seed in any::<u64>(),
    ) {
        let memory = memory_mib * MIB;
        let mut s = Scenario::new(memory, kind);
        s.workload = WorkloadParams { writes_per_s, hot_share, ..s.workload };
        s.link = Link { capacity, efficiency, background: Background::Constant { rate: capacity * background_share } };
        s.service_factor = service_factor;
        s.usage_reading = reading;
        s.time_limit_s = 1e9;
        let r = simulate(&s, policy, seed).map_err(TestCaseError::fail)?;
        prop_assert!(r.completed);
        // The kernel sees whole bytes per second: half a byte of rounding may go over.
        prop_assert!(r.peak_link_load <= 1.0 + 1.0 / capacity, "link carried {}", r.peak_link_load);
        prop_assert!(r.bytes_sent >= memory);
        prop_assert!(r.rounds <= s.max_rounds);
        for round in &r.trace {
            prop_assert!(round.migration <= round.free, "{round:?}");
            prop_assert_eq!(round.migration + round.reserved, round.free);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// BDA+'s deadline guard: whenever the deadline is feasible — plain pre-copy at all free
    /// bandwidth (PCA) converges on the same scenario and seed with 10 % of the deadline to
    /// spare — BDA+ meets it too, even with a round-1 reserve of up to 90 % of the link
    /// that would otherwise make it much slower. The margin is part of the claim: with much
    /// less to spare it can miss.
    ///
    /// Only for workloads whose dirty rate holds steady between rounds (idle, kernel
    /// compile, stress): an intermittent one was seen to miss (see the ignored test below).
    #[test]
    fn bda_plus_meets_every_feasible_deadline(
        memory_mib in 16_u64..128,
        kind in prop_oneof![Just(WorkloadKind::Idle), Just(WorkloadKind::KernelCompile), Just(WorkloadKind::Stress)],
        writes_per_s in prop_oneof![Just(0.0), 0.0..3_000.0],
        capacity in 5e6..1.25e8,
        background_share in 0.0..0.5,
        efficiency in 0.5..=1.0,
        service_factor in 0.0..1.5,
        first_round_reserve_share in 0.0..0.9,
        slack in 1.1..3.0,
        rho_max_percent in prop_oneof![Just(None), (10_u8..=100).prop_map(Some)],
        seed in any::<u64>(),
    ) {
        let mut s = Scenario::new(memory_mib * MIB, kind);
        s.workload = WorkloadParams { writes_per_s, ..s.workload };
        s.link = Link { capacity, efficiency, background: Background::Constant { rate: capacity * background_share } };
        s.service_factor = service_factor;
        s.time_limit_s = 1e6;
        let pca = simulate(&s, PolicyKind::Pca, seed).map_err(TestCaseError::fail)?;
        prop_assume!(pca.converged);
        let deadline_s = pca.total_time_s * slack;
        s.bda_plus = BdaPlusParams {
            max_dirty_ratio_percent: rho_max_percent,
            deadline_s: Some(deadline_s),
            first_round_reserve: FirstRoundReserve::Fixed((capacity * first_round_reserve_share) as u64),
            on_unmet: OnUnmet::TakeReserve,
            reserve: ReserveArg::DirtyRate,
        };
        let plus = simulate(&s, PolicyKind::BdaPlus, seed).map_err(TestCaseError::fail)?;
        prop_assert!(plus.completed);
        prop_assert!(
            plus.total_time_s <= deadline_s,
            "BDA+ {} s, deadline {} s (PCA {} s)",
            plus.total_time_s,
            deadline_s,
            pca.total_time_s
        );
    }
}

fn bursty_service(memory: u64, kind: WorkloadKind) -> Scenario {
    let mut s = Scenario::new(memory, kind);
    s.service_factor = 0.0;
    s.service_flow = Background::Bursty { base: 0.0, burst: 8e6, period_s: 20.0, burst_s: 5.0 };
    s
}

/// A service that bursts above its fair share of the link: the paper's reserve, sized from
/// the dirty rate, does not see it; BDA+'s reserve learned from the service's traffic cuts
/// its shortfall to less than a third.
#[test]
fn the_learned_reserve_protects_a_bursty_service() {
    let mut s = bursty_service(256 * MIB, WorkloadKind::KernelCompile);
    let bda = simulate(&s, PolicyKind::Bda, 1).unwrap();
    s.bda_plus.reserve = ReserveArg::ServiceTraffic;
    let learned = simulate(&s, PolicyKind::BdaPlus, 1).unwrap();
    s.bda_plus.reserve = ReserveArg::DirtyRate;
    let paper_reserve = simulate(&s, PolicyKind::BdaPlus, 1).unwrap();
    assert!(bda.service_shortfall_pct > 20.0, "{}", summary(&bda));
    assert!(paper_reserve.service_shortfall_pct > 20.0, "{}", summary(&paper_reserve));
    assert!(learned.service_shortfall_pct < bda.service_shortfall_pct / 3.0, "{}", summary(&learned));
    assert!(learned.converged && learned.trace.iter().any(|r| r.rule == "ServiceReserve"));
}

/// Where the dirty rate is above half the free bandwidth, the paper's BDA keeps the migration
/// below it and is forced to stop at the round cap; BDA+'s convergence guard converges, and
/// with the guard off it is the paper's BDA again.
#[test]
fn the_convergence_guard_converges_where_the_paper_does_not() {
    let mut s = Scenario::new(1 << 30, WorkloadKind::KernelCompile);
    s.service_factor = 0.0;
    s.workload.writes_per_s = 1_700.0; // 7 MB/s, more than half the 11.5 MB/s free
    let bda = simulate(&s, PolicyKind::Bda, 1).unwrap();
    s.bda_plus.reserve = ReserveArg::DirtyRate;
    let plus = simulate(&s, PolicyKind::BdaPlus, 1).unwrap();
    s.bda_plus.max_dirty_ratio_percent = None;
    let loose = simulate(&s, PolicyKind::BdaPlus, 1).unwrap();
    assert!(!bda.converged, "{}", summary(&bda));
    assert!(plus.converged && plus.total_time_s < bda.total_time_s, "{}", summary(&plus));
    assert!(plus.trace.iter().any(|r| r.rule == "ConvergenceGuard"));
    assert_eq!((loose.total_time_s, loose.rounds, loose.converged), (bda.total_time_s, bda.rounds, bda.converged));
}

/// An unmeetable guard: abort ends the run as not completed, slow-guest throttles the guest
/// (fewer pages re-sent) and goes on, take-reserve gives the migration the whole link.
#[test]
fn each_unmet_action_does_what_it_says() {
    let mut s = Scenario::new(256 * MIB, WorkloadKind::Stress);
    s.workload.writes_per_s = 2_500.0; // 10 MB/s of fresh pages: rho_max 25 % needs 40 MB/s
    s.bda_plus.max_dirty_ratio_percent = Some(25);
    s.bda_plus.reserve = ReserveArg::DirtyRate;
    let run = |s: &Scenario, action| {
        let mut s = s.clone();
        s.bda_plus.on_unmet = action;
        simulate(&s, PolicyKind::BdaPlus, 1).unwrap()
    };
    let abort = run(&s, OnUnmet::Abort);
    assert!(!abort.completed && abort.stop_reason.as_deref() == Some(bda_sim::run::GUARD_ABORT), "{}", summary(&abort));
    let take = run(&s, OnUnmet::TakeReserve);
    let slow = run(&s, OnUnmet::SlowGuest);
    assert!(take.completed && slow.completed);
    assert!(take.trace.iter().skip(1).all(|r| r.kind != "Live" || r.migration == r.free), "{}", summary(&take));
    assert!(slow.pages_resent < take.pages_resent, "{} / {}", summary(&slow), summary(&take));
}

fn summary(r: &bda_sim::run::RunResult) -> String {
    bda_sim::report::summary_line(r)
}

/// The deadline property's known gap, found by it: an intermittent workload, whose dirty rate
/// swings between its busy and idle phases, leaves the fluid model's plan behind. PCA ends in
/// 16.0 s, the deadline is 25.0 s, and BDA+ takes 32.4 s. Ignored because it shows a miss
/// that is not fixed yet: `cargo test -p bda-sim --test sim -- --ignored` reproduces it.
#[test]
#[ignore = "a known miss of BDA+'s deadline guard, kept to reproduce it"]
fn the_deadline_is_missed_when_the_dirty_rate_swings() {
    let mut s = Scenario::new(90 * MIB, WorkloadKind::Intermittent);
    s.workload.writes_per_s = 2_872.546_262_068_520_3;
    let capacity = 15_130_016.258_339_72;
    s.link = Link {
        capacity,
        efficiency: 0.698_697_193_523_231,
        background: Background::Constant { rate: capacity * 0.223_037_029_998_214_9 },
    };
    s.service_factor = 1.247_303_032_906_459_2;
    s.time_limit_s = 1e6;
    let seed = 13_336_233_807_465_192_262;
    let pca = simulate(&s, PolicyKind::Pca, seed).unwrap();
    assert!(pca.converged);
    let deadline_s = pca.total_time_s * 1.562_304_345_929_587;
    s.bda_plus = BdaPlusParams {
        max_dirty_ratio_percent: None,
        deadline_s: Some(deadline_s),
        first_round_reserve: FirstRoundReserve::Fixed((capacity * 0.606_341_963_470_213_2) as u64),
        on_unmet: OnUnmet::TakeReserve,
        reserve: ReserveArg::DirtyRate,
    };
    let plus = simulate(&s, PolicyKind::BdaPlus, seed).unwrap();
    assert!(
        plus.total_time_s > deadline_s,
        "{} s within the deadline of {deadline_s} s: the gap is closed",
        plus.total_time_s
    );
}
