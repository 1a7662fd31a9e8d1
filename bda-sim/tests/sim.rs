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
    /// spare — BDA+ meets it too, taking the reserve or slowing the guest when the guard is
    /// unmet, even with a round-1 reserve of up to 90 % of the link that would otherwise make
    /// it much slower. The margin is part of the claim: with much less to spare it can miss.
    ///
    /// For workloads whose dirty rate holds steady between rounds (idle, kernel compile,
    /// stress); for one whose busy phases come late, see the sweep below.
    #[test]
    fn bda_plus_meets_every_feasible_deadline(
        draw in deadline_draw(&[WorkloadKind::Idle, WorkloadKind::KernelCompile, WorkloadKind::Stress]),
        on_unmet in prop_oneof![Just(OnUnmet::TakeReserve), Just(OnUnmet::SlowGuest)],
    ) {
        let case = deadline_case(draw).map_err(TestCaseError::fail)?;
        prop_assume!(case.is_some(), "PCA does not converge");
        let (s, seed, deadline_s) = case.unwrap();
        let plus = bda_plus_by(&s, seed, on_unmet)?;
        prop_assert!(plus.completed);
        prop_assert!(plus.total_time_s <= deadline_s, "BDA+ {} s, deadline {deadline_s} s", plus.total_time_s);
    }
}

type WorkloadDraw = (u64, WorkloadKind, f64);
type LinkDraw = (f64, f64, f64, f64);
type PlusDraw = (f64, f64, Option<u8>, u64);

/// A draw of the deadline property: memory, workload, link, service, a round-1 reserve of up
/// to 90 % of the link, a deadline 1.1 to 3 times what PCA takes, `rho_max` and the seed.
fn deadline_draw(kinds: &'static [WorkloadKind]) -> impl Strategy<Value = (WorkloadDraw, LinkDraw, PlusDraw)> {
    (
        (16_u64..128, prop::sample::select(kinds), prop_oneof![Just(0.0), 0.0..3_000.0]),
        (5e6..1.25e8, 0.0..0.5, 0.5..=1.0, 0.0..1.5),
        (0.0..0.9, 1.1..3.0, prop_oneof![Just(None), (10_u8..=100).prop_map(Some)], any::<u64>()),
    )
}

/// The draw's scenario with BDA+'s deadline set, the seed and the deadline; `None` when PCA
/// does not converge on it.
fn deadline_case(
    ((memory_mib, kind, writes_per_s), (capacity, background_share, efficiency, service_factor), plus): (
        WorkloadDraw,
        LinkDraw,
        PlusDraw,
    ),
) -> Result<Option<(Scenario, u64, f64)>, String> {
    let (first_round_reserve_share, slack, rho_max_percent, seed) = plus;
    let mut s = Scenario::new(memory_mib * MIB, kind);
    s.workload = WorkloadParams { writes_per_s, ..s.workload };
    s.link = Link { capacity, efficiency, background: Background::Constant { rate: capacity * background_share } };
    s.service_factor = service_factor;
    s.time_limit_s = 1e6;
    let pca = simulate(&s, PolicyKind::Pca, seed)?;
    if !pca.converged {
        return Ok(None);
    }
    let deadline_s = pca.total_time_s * slack;
    s.bda_plus = BdaPlusParams {
        max_dirty_ratio_percent: rho_max_percent,
        deadline_s: Some(deadline_s),
        first_round_reserve: FirstRoundReserve::Fixed((capacity * first_round_reserve_share) as u64),
        ..s.bda_plus
    };
    Ok(Some((s, seed, deadline_s)))
}

fn bda_plus_by(s: &Scenario, seed: u64, on_unmet: OnUnmet) -> Result<bda_sim::run::RunResult, TestCaseError> {
    let mut s = s.clone();
    s.bda_plus.on_unmet = on_unmet;
    s.bda_plus.reserve = ReserveArg::DirtyRate;
    simulate(&s, PolicyKind::BdaPlus, seed).map_err(TestCaseError::fail)
}

/// The deadline property's cases `0..n`, drawn from the same ranges as the property but each
/// from a fixed seed, for the sweep: the cases PCA converged on, and for each action the
/// indices of the cases BDA+ missed.
fn deadline_sweep(n: u64, kinds: &'static [WorkloadKind]) -> (usize, [Vec<u64>; 2]) {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let strategy = deadline_draw(kinds);
    let mut cases = 0;
    let mut misses = [Vec::new(), Vec::new()];
    for i in 0..n {
        let seed: [u8; 32] = core::array::from_fn(|b| (i >> (8 * (b % 8))) as u8);
        let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
        let draw = strategy.new_tree(&mut runner).unwrap().current();
        let Some((s, sim_seed, deadline_s)) = deadline_case(draw).unwrap() else { continue };
        cases += 1;
        for (missed, on_unmet) in misses.iter_mut().zip([OnUnmet::TakeReserve, OnUnmet::SlowGuest]) {
            let plus = bda_plus_by(&s, sim_seed, on_unmet).unwrap();
            if !(plus.completed && plus.total_time_s <= deadline_s) {
                missed.push(i);
            }
        }
    }
    (cases, misses)
}

/// A guest whose busy phases may come after round 1 (intermittent) can make any policy that
/// reserves anything miss a deadline PCA meets: PCA may end before the busy phase while
/// BDA+, slower in round 1, finds the migration's share of the link below the busy dirty
/// rate (see the ignored test below). Over these 500 fixed cases BDA+ meets every deadline;
/// the full sweep, `N=30000 cargo test --release -p bda-sim --test sim -- --ignored
/// --nocapture deadline_sweep_of`, counts the rare misses (the first of them at case 2,040,
/// taking the reserve).
#[test]
fn bda_plus_meets_the_deadlines_of_a_swinging_dirty_rate_in_a_fixed_sweep() {
    let (cases, [take, slow]) = deadline_sweep(500, &[WorkloadKind::Intermittent]);
    assert!(cases > 400, "{cases}");
    assert_eq!((take, slow), (vec![], vec![]));
}

/// The sweep's figures: `N` cases (default 2,000) of every workload kind, per action.
#[test]
#[ignore = "a long sweep, run by hand: it prints the misses"]
fn deadline_sweep_of_every_workload() {
    let n = std::env::var("N").map_or(2000, |v| v.parse().unwrap());
    for (name, kinds) in [
        ("steady", &[WorkloadKind::Idle, WorkloadKind::KernelCompile, WorkloadKind::Stress][..]),
        ("intermittent", &[WorkloadKind::Intermittent][..]),
    ] {
        let (cases, misses) = deadline_sweep(n, kinds);
        for (missed, action) in misses.iter().zip(["take-reserve", "slow-guest"]) {
            let first = &missed[..missed.len().min(10)];
            println!("{name}, {action}: {cases} feasible cases, {} missed (the first: {first:?})", missed.len());
        }
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

/// The deadline property's counterexample of the version before, met now: an intermittent
/// guest, a round-1 reserve of 61 % of the link and a deadline of 1.56 times PCA's 16.0 s.
/// Round 1 then planned to be done in half the time left at each reassessment, a margin it
/// spent again each time, so it ended late and the busy phase caught the rounds after it;
/// planned by two thirds of the deadline, it is done within it either way.
#[test]
fn the_deadline_is_met_where_round_1_used_to_run_late() {
    let draw = (
        (90, WorkloadKind::Intermittent, 2_872.546_262_068_520_3),
        (15_130_016.258_339_72, 0.223_037_029_998_214_9, 0.698_697_193_523_231, 1.247_303_032_906_459_2),
        (0.606_341_963_470_213_2, 1.562_304_345_929_587, None, 13_336_233_807_465_192_262),
    );
    let (s, seed, deadline_s) = deadline_case(draw).unwrap().unwrap();
    for on_unmet in [OnUnmet::TakeReserve, OnUnmet::SlowGuest] {
        let plus = bda_plus_by(&s, seed, on_unmet).unwrap();
        assert!(plus.total_time_s <= deadline_s, "{on_unmet:?}: {}, deadline {deadline_s} s", summary(&plus));
    }
}

/// The deadline property's known gap, found by it: an intermittent guest idle through PCA's
/// whole migration and busy soon after. BDA+, with 61 % of the link reserved in round 1,
/// plans round 1 to end by two thirds of the deadline, and it ends about then, in the busy
/// phase: there the migration's share of the overloaded link, all free bandwidth allocated,
/// barely outruns the guest's writes, and the rounds after overrun the deadline, taking the
/// reserve or slowing the guest (whose throttle rises 10 % a round). Ignored because it
/// shows a miss that is not fixed: `cargo test --release -p bda-sim --test sim -- --ignored
/// --nocapture the_deadline` prints the runs, round by round.
#[test]
#[ignore = "a known miss of BDA+'s deadline guard, kept to reproduce it"]
fn the_deadline_is_missed_when_a_busy_phase_follows_round_1() {
    let draw = (
        (55, WorkloadKind::Intermittent, 2_503.609_177_501_698_5),
        (8_396_446.366_095_608, 0.275_537_475_092_275_33, 0.945_410_104_038_881_7, 1.233_726_808_132_72),
        (0.607_343_929_494_806_1, 2.048_292_738_073_080_4, None, 10_531_743_427_832_686_907),
    );
    let (s, seed, deadline_s) = deadline_case(draw).unwrap().unwrap();
    println!("deadline {deadline_s:.2} s");
    for on_unmet in [OnUnmet::TakeReserve, OnUnmet::SlowGuest] {
        let plus = bda_plus_by(&s, seed, on_unmet).unwrap();
        println!("{on_unmet:?}: {}", summary(&plus));
        for round in &plus.trace {
            println!(
                "  round {:2} {:<11} {:>5.2} s, allocated {:>5.2} MB/s, delivered {:>5.2} MB/s, dirtied {:>5.2} MB/s",
                round.round,
                round.kind,
                round.duration_s,
                round.migration as f64 / 1e6,
                round.achieved / 1e6,
                round.dirty_rate as f64 / 1e6
            );
        }
        assert!(
            plus.total_time_s > deadline_s,
            "{on_unmet:?}: {} s within the deadline of {deadline_s} s: the gap is closed",
            plus.total_time_s
        );
    }
}
