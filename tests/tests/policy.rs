//! Policy properties over the whole input range, and BDA against an exact rational reference.

use bda_core::{
    AnyPolicy, Bda, BdaConfig, BdaPlus, BdaPlusConfig, Bytes, BytesPerSec, Coefficients, Delivery, DirtyRates,
    FullHistory, Incremental, IncrementalConfig, LinkSample, Pca, Policy, RateHistory, ReserveSource, RoundContext,
    RoundKind, Rule, Share, Static, UnmetAction, WindowHistory,
};
use bda_tests::any_u64;
use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{Signed, Zero};
use proptest::prelude::*;

/// An exact rational.
fn q(x: u64) -> BigRational {
    BigRational::from_integer(BigInt::from(x))
}

/// The history window the tests use: small, so rates drop out of the mean often.
const WINDOW: usize = 4;

/// What an exact reading of the BDA rules (the `Bda` docs) expects, before the floor.
struct Reference {
    free: BigRational,
    /// Equation 4's reserve, exactly.
    reserve: BigRational,
    /// Equation 5's reserve, exactly.
    corrected: BigRational,
}

fn reference(rates: &[u64], link: LinkSample, coefficients: Coefficients) -> Reference {
    let (&latest, earlier) = rates.split_last().expect("a live round has a latest rate");
    let window = &earlier[earlier.len().saturating_sub(WINDOW)..];
    let free = q(link.capacity.0.saturating_sub(link.other_usage.0));
    let u = q(latest);
    let d = (!window.is_empty()).then(|| window.iter().map(|&r| q(r)).sum::<BigRational>() / q(window.len() as u64));
    let reserve = match (coefficients, d) {
        (_, None) => u.clone(),
        (Coefficients::DirtyRate, Some(d)) => {
            if (&u + &d).is_zero() {
                BigRational::zero()
            } else {
                (&u * &u + &d * &d) / (&u + &d)
            }
        }
        (Coefficients::Utilisation, Some(d)) => {
            let t = q(link.capacity.0);
            if t.is_zero() {
                u.clone()
            } else {
                let a = q(link.other_usage.0.min(link.capacity.0)) / &t;
                &a * &u + (q(1) - &a) * d
            }
        }
    };
    let corrected = match window.last() {
        Some(&previous) if previous != 0 || latest != 0 => &free * q(previous) / (q(previous) + &u),
        _ => &free / q(2),
    };
    Reference { free, reserve, corrected }
}

fn floor_of(floor_ppm: u32, capacity: u64) -> BigRational {
    q(capacity) * q(u64::from(floor_ppm)) / q(1_000_000)
}

fn history(rates: &[u64]) -> DirtyRates {
    let mut history = WindowHistory::<WINDOW>::new();
    for &r in rates {
        history.record(BytesPerSec(r));
    }
    history.rates()
}

fn live(rates: &[u64]) -> RoundContext {
    RoundContext { round: rates.len() as u32 + 1, kind: RoundKind::Live, dirty: history(rates), ..RoundContext::FIRST }
}

fn bda(floor_ppm: u32, coefficients: Coefficients, first_round_rate: Option<u64>) -> Bda {
    Bda::new(BdaConfig {
        first_round_rate: first_round_rate.map(BytesPerSec),
        floor: Share::from_ppm(floor_ppm).unwrap(),
        coefficients,
    })
}

fn coefficients() -> impl Strategy<Value = Coefficients> {
    prop_oneof![Just(Coefficients::DirtyRate), Just(Coefficients::Utilisation)]
}

fn floor_ppm() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0_u32), Just(50_000), Just(1_000_000), 0_u32..=1_000_000]
}

fn within(value: u64, exact: &BigRational, bound: i64) -> bool {
    (q(value) - exact).abs() < q(bound as u64)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    /// With the floor off, a live round's reserve is equation 4 within 2 B/s when that fits
    /// the free bandwidth, and equation 5 rounded down when it does not (near the boundary,
    /// within the rounding, either may fire).
    #[test]
    fn bda_live_round_matches_the_exact_reference(
        rates in prop::collection::vec(any_u64(), 1..10),
        capacity in any_u64(),
        other_usage in any_u64(),
        coefficients in coefficients(),
    ) {
        let link = LinkSample::new(BytesPerSec(capacity), BytesPerSec(other_usage));
        let a = bda(0, coefficients, None).allocate(&live(&rates), link);
        let r = reference(&rates, link, coefficients);
        prop_assert_eq!(q(a.free.0), r.free.clone());
        prop_assert_eq!(a.migration.0.checked_add(a.reserved.0), Some(a.free.0));
        let reserve_fits = r.reserve < &r.free - q(2);
        let reserve_exceeds = r.reserve > &r.free + q(2);
        match a.rule {
            Rule::Reserve => {
                prop_assert!(!reserve_exceeds, "{a:?}");
                prop_assert!(within(a.reserved.0, &r.reserve, 2), "{a:?} vs {}", r.reserve);
            }
            Rule::Corrected => {
                prop_assert!(!reserve_fits, "{a:?}");
                // Rounded down: 0 <= exact - B < 1.
                let gap = &r.corrected - q(a.reserved.0);
                prop_assert!(gap >= BigRational::zero() && gap < q(1), "{a:?} vs {}", r.corrected);
            }
            other => prop_assert!(false, "unexpected rule {other:?}"),
        }
    }

    /// With the floor on, `E = max(E_without_floor, min(floor * T, F))`, reported as
    /// `Rule::Floor` exactly when the floor raised it.
    #[test]
    fn bda_floor_raises_the_rate_to_its_share_of_capacity(
        rates in prop::collection::vec(any_u64(), 1..10),
        capacity in any_u64(),
        other_usage in any_u64(),
        coefficients in coefficients(),
        floor_ppm in floor_ppm(),
    ) {
        let link = LinkSample::new(BytesPerSec(capacity), BytesPerSec(other_usage));
        let with_floor = bda(floor_ppm, coefficients, None).allocate(&live(&rates), link);
        let without = bda(0, coefficients, None).allocate(&live(&rates), link);
        let minimum = Share::from_ppm(floor_ppm).unwrap().of(capacity).min(link.free().0);
        // The floor's own rounding: to nearest, off by at most T / 2^64 more (the decimal
        // share is stored in binary to 2^-64).
        let error = (q(Share::from_ppm(floor_ppm).unwrap().of(capacity)) - floor_of(floor_ppm, capacity)).abs();
        let bound = BigRational::new(BigInt::from(1), BigInt::from(2))
            + BigRational::new(BigInt::from(capacity), BigInt::from(2).pow(64));
        prop_assert!(error <= bound, "{error} > {bound}");
        if without.migration.0 < minimum {
            prop_assert_eq!(with_floor.rule, Rule::Floor);
            prop_assert_eq!(with_floor.migration.0, minimum);
        } else {
            prop_assert_eq!(with_floor, without);
        }
        prop_assert_eq!(with_floor.migration.0 + with_floor.reserved.0, with_floor.free.0);
    }

    /// Round 1 gets `min(E_init, F)` (then the floor); stop-and-copy gets all of `F`.
    #[test]
    fn bda_first_and_stop_and_copy_rounds(
        rates in prop::collection::vec(any_u64(), 0..10),
        capacity in any_u64(),
        other_usage in any_u64(),
        first_round_rate in prop::option::of(any_u64()),
        floor_ppm in floor_ppm(),
        coefficients in coefficients(),
        // Only BDA+ reads a learned service reserve; the others must ignore it.
        service_reserve in prop::option::of(any_u64()),
    ) {
        let mut link = LinkSample::new(BytesPerSec(capacity), BytesPerSec(other_usage));
        if let Some(b) = service_reserve {
            link = link.with_service_reserve(BytesPerSec(b));
        }
        let free = capacity.saturating_sub(other_usage);
        let policy = bda(floor_ppm, coefficients, first_round_rate);
        let first = policy.allocate(&RoundContext::FIRST, link);
        let wanted = first_round_rate.unwrap_or(free).min(free);
        let minimum = Share::from_ppm(floor_ppm).unwrap().of(capacity).min(free);
        prop_assert_eq!(first.migration.0, wanted.max(minimum));
        prop_assert_eq!(first.rule, if wanted < minimum { Rule::Floor } else { Rule::FirstRound });
        prop_assert_eq!(first.clamps.cut_to_free, first_round_rate.is_some_and(|r| r > free));
        let stop = RoundContext { kind: RoundKind::StopAndCopy, ..live(&[rates.as_slice(), &[1]].concat()) };
        let last = policy.allocate(&stop, link);
        prop_assert_eq!((last.migration.0, last.reserved.0, last.rule), (free, 0, Rule::StopAndCopy));
        prop_assert_eq!(last.clamps.usage_above_capacity, other_usage > capacity);
    }

    /// Every policy, every kind of round, every input: `E <= F` and `E + B == F`, and the
    /// baselines give what their definitions say.
    #[test]
    fn every_policy_divides_exactly_the_free_bandwidth(
        rates in prop::collection::vec(any_u64(), 0..10),
        capacity in any_u64(),
        other_usage in any_u64(),
        kind in prop_oneof![Just(RoundKind::First), Just(RoundKind::Live), Just(RoundKind::StopAndCopy)],
        cap in any_u64(),
        increments in (any_u64(), any_u64(), any_u64()),
        floor_ppm in floor_ppm(),
        coefficients in coefficients(),
        // Only BDA+ reads a learned service reserve; the others must ignore it.
        service_reserve in prop::option::of(any_u64()),
    ) {
        let mut link = LinkSample::new(BytesPerSec(capacity), BytesPerSec(other_usage));
        if let Some(b) = service_reserve {
            link = link.with_service_reserve(BytesPerSec(b));
        }
        let free = capacity.saturating_sub(other_usage);
        let (start, increment, ceiling) = increments;
        let (start, ceiling) = (start.min(ceiling), start.max(ceiling));
        let xen = IncrementalConfig { start: BytesPerSec(start), increment: BytesPerSec(increment), ceiling: BytesPerSec(ceiling) };
        let ctx = RoundContext { round: rates.len() as u32 + 1, kind, dirty: history(&rates), ..RoundContext::FIRST };
        let policies = [
            AnyPolicy::Bda(bda(floor_ppm, coefficients, Some(cap))),
            AnyPolicy::Pca(Pca),
            AnyPolicy::Static(Static::new(BytesPerSec(cap))),
            AnyPolicy::Incremental(Incremental::new(xen).unwrap()),
        ];
        for mut policy in policies {
            policy.begin_round(&ctx);
            let a = policy.allocate(&ctx, link);
            prop_assert_eq!(a.free.0, free);
            prop_assert!(a.migration <= a.free);
            prop_assert_eq!(a.migration.0.checked_add(a.reserved.0), Some(free));
            let expected = match (policy, kind) {
                (AnyPolicy::Pca(_), _) => Some(free),
                (AnyPolicy::Static(_), RoundKind::StopAndCopy) => Some(free),
                (AnyPolicy::Static(_), _) => Some(cap.min(free)),
                (AnyPolicy::Incremental(_), RoundKind::StopAndCopy) => Some(ceiling.min(free)),
                (AnyPolicy::Incremental(_), RoundKind::First) => Some(start.min(free)),
                (AnyPolicy::Incremental(_), RoundKind::Live) => {
                    let latest = rates.last().copied().unwrap_or(0);
                    Some(if latest > start { latest.saturating_add(increment).min(ceiling) } else { start }.min(free))
                }
                (AnyPolicy::Bda(_), RoundKind::StopAndCopy) => Some(free),
                (AnyPolicy::Bda(_), _) => None, // checked against the exact reference above
                (AnyPolicy::BdaPlus(_), _) => None, // checked by its own property below
            };
            if let Some(expected) = expected {
                prop_assert_eq!(a.migration.0, expected, "{:?}", policy);
            }
        }
    }

    /// BDA+ over the whole input range: it divides exactly the free bandwidth, never gives a
    /// live round less than the paper's BDA, gives stop-and-copy all of `F`, meets each guard
    /// exactly (against exact rationals) whenever `F` allows it, reports a guard as unmet
    /// exactly when `F` is below its rate, and under slow-guest gives the deadline guard its
    /// drain and nothing more.
    #[test]
    fn bda_plus_meets_its_guards_whenever_the_free_bandwidth_allows(
        rates in prop::collection::vec(any_u64(), 0..10),
        capacity in any_u64(),
        other_usage in any_u64(),
        kind in prop_oneof![Just(RoundKind::First), Just(RoundKind::Live), Just(RoundKind::StopAndCopy)],
        ratio_ppm in prop::option::of(prop_oneof![Just(1_u32), Just(500_000), Just(1_000_000), 1_u32..=1_000_000]),
        deadline_us in prop::option::of(prop_oneof![Just(1_u64), Just(u64::MAX), 1_u64..=u64::MAX]),
        (to_send, elapsed_us) in (any_u64(), any_u64()),
        first_round_reserve in prop::option::of(any_u64()),
        action in prop_oneof![Just(UnmetAction::TakeReserve), Just(UnmetAction::SlowGuest), Just(UnmetAction::Abort)],
        floor_ppm in floor_ppm(),
        coefficients in coefficients(),
        dirtying in prop::option::of(any_u64()),
        delivered in prop::option::of((any_u64(), any_u64())),
        (reserve, service_reserve) in (
            prop_oneof![Just(ReserveSource::DirtyRate), Just(ReserveSource::ServiceTraffic)],
            prop::option::of(any_u64()),
        ),
    ) {
        let mut link = LinkSample::new(BytesPerSec(capacity), BytesPerSec(other_usage));
        if let Some(b) = service_reserve {
            link = link.with_service_reserve(BytesPerSec(b));
        }
        let free = capacity.saturating_sub(other_usage);
        let paper_config = BdaConfig { first_round_rate: None, floor: Share::from_ppm(floor_ppm).unwrap(), coefficients };
        let ratio = ratio_ppm.map(|ppm| Share::from_ppm(ppm).unwrap());
        let plus = BdaPlus::new(BdaPlusConfig {
            bda: paper_config,
            first_round_reserve: first_round_reserve.map(BytesPerSec),
            max_dirty_ratio: ratio,
            deadline_us,
            on_unmet: action,
            reserve,
        }).unwrap();
        let ctx = RoundContext {
            round: rates.len() as u32 + 1, kind, dirty: history(&rates), to_send: Bytes(to_send), elapsed_us,
            dirtying: dirtying.map(BytesPerSec),
            delivered: delivered.map(|(allocated, achieved)| Delivery {
                allocated: BytesPerSec(allocated),
                achieved: BytesPerSec(achieved),
            }),
        };
        let a = plus.allocate(&ctx, link);
        let paper = Bda::new(paper_config).allocate(&ctx, link);
        prop_assert_eq!(a.free.0, free);
        prop_assert_eq!(a.migration.0.checked_add(a.reserved.0), Some(free));
        let floor = Share::from_ppm(floor_ppm).unwrap().of(capacity).min(free);
        prop_assert!(a.migration.0 >= floor);
        // The rate before the guards: the paper's, or F less the learned reserve (round 1:
        // less the larger of it and the configured one), raised to the floor.
        let learned = service_reserve.filter(|_| reserve == ReserveSource::ServiceTraffic);
        let base = match (kind, learned) {
            (RoundKind::StopAndCopy, _) => free,
            (RoundKind::First, learned) => {
                free.saturating_sub(first_round_reserve.unwrap_or(0).max(learned.unwrap_or(0))).max(floor)
            }
            (RoundKind::Live, Some(b)) => free.saturating_sub(b).max(floor),
            (RoundKind::Live, None) => paper.migration.0,
        };
        match kind {
            RoundKind::StopAndCopy => prop_assert_eq!((a.migration.0, a.guard), (free, None)),
            _ => prop_assert!(a.migration.0 >= base, "{a:?} below {base}"),
        }
        if a.guard.is_none() {
            prop_assert_eq!(a.migration.0, base, "{:?}", a);
        }
        // Each guard's exact rate; a guard is met when E reaches it.
        let latest = q(rates.last().copied().unwrap_or(0));
        let mut needs = Vec::new();
        if let (Some(ratio), RoundKind::Live) = (ratio, kind) {
            let rho = BigRational::new(BigInt::from(ratio.to_fixed().to_bits()), BigInt::from(1_u64 << 63));
            needs.push(&latest / rho);
        }
        // The deadline guard's drain, exactly: what is outstanding over the time to its
        // planned end, plus what the link fell short of delivering.
        let mut drain = None;
        if let (Some(deadline), RoundKind::First | RoundKind::Live) = (deadline_us, kind) {
            // Before round 1's own dirty rate is known it aims at deadline * (1 - max(rho_max,
            // 1/2)); otherwise at two thirds of the deadline, rounded down to the microsecond,
            // with the round's rate where known; once past that, in half the time left.
            let blind = kind == RoundKind::First && dirtying.is_none();
            let target = if blind {
                deadline - ratio.unwrap_or(Share::HALF).max(Share::HALF).of(deadline)
            } else {
                u64::try_from(u128::from(deadline) * 2 / 3).unwrap()
            };
            let left = match target.saturating_sub(elapsed_us) {
                0 => deadline.saturating_sub(elapsed_us) / 2,
                left => left,
            };
            let shortfall = delivered.map_or(0, |(allocated, achieved)| {
                if achieved >= allocated - allocated / 16 { 0 } else { allocated - achieved }
            });
            // Nothing to send needs nothing; something with no time left, more than any rate.
            let d = match (to_send, left) {
                (0, _) => q(shortfall),
                (_, 0) => q(u64::MAX) + q(1),
                _ => q(to_send) * q(1_000_000) / q(left) + q(shortfall),
            };
            let rate = dirtying.map_or(latest.clone(), q);
            needs.push(&d + rate);
            drain = Some(d);
        }
        for need in &needs {
            let slowed_guest = action == UnmetAction::SlowGuest && a.guard.is_some_and(|g| g.unmet.is_some());
            if need <= &q(free) && !slowed_guest {
                prop_assert!(q(a.migration.0) >= *need, "{a:?} needs {need}");
            }
        }
        if let Some(report) = a.guard {
            let largest = needs.iter().max().unwrap();
            prop_assert_eq!(report.unmet.is_some(), largest > &q(free));
            if report.unmet == Some(UnmetAction::SlowGuest) {
                // The reserve stays, but for the deadline guard's drain (rounded up, at most F),
                // whichever guard binds.
                let raised = match &drain {
                    Some(d) if *d > q(base) => Some(d.min(&q(free)).clone()),
                    _ => None,
                };
                match raised {
                    Some(d) => {
                        let got = q(a.migration.0);
                        prop_assert!(got >= d && got < &d + q(1), "{a:?} drain {d}");
                        prop_assert_eq!(a.rule, Rule::DeadlineGuard);
                    }
                    None => {
                        prop_assert_eq!(a.migration.0, base, "{:?}", a);
                        prop_assert_eq!(report.reserve_taken, BytesPerSec(0));
                    }
                }
            }
            // The reported rate is the largest exact need, rounded up.
            prop_assert!(q(report.needed.0) >= *largest || report.needed == BytesPerSec::MAX);
            prop_assert!(q(report.needed.0) < largest + q(2));
        } else {
            for need in &needs {
                prop_assert!(q(a.migration.0) >= *need);
            }
        }
    }

    /// The histories' views: `r(k-1)`, `r(k-2)` and the mean of the earlier rates (all of
    /// them, or the last `WINDOW`), rounded down.
    #[test]
    fn history_views_are_the_exact_mean_rounded_down(rates in prop::collection::vec(any_u64(), 0..40)) {
        let earlier = rates.split_last().map(|(_, e)| e).unwrap_or(&[]);
        let mean = |window: &[u64]| {
            (!window.is_empty()).then(|| {
                let sum: u128 = window.iter().map(|&r| u128::from(r)).sum();
                (sum / window.len() as u128) as u64
            })
        };
        let mut full = FullHistory::new();
        for &r in &rates {
            full.record(BytesPerSec(r));
        }
        let windowed = history(&rates);
        let expected = [(full.rates(), mean(earlier)), (windowed, mean(&earlier[earlier.len().saturating_sub(WINDOW)..]))];
        for (view, earlier_mean) in expected {
            prop_assert_eq!(view.latest.map(|r| r.0), rates.last().copied());
            prop_assert_eq!(view.previous.map(|r| r.0), earlier.last().copied());
            prop_assert_eq!(view.earlier_mean.map(|r| r.0), earlier_mean);
        }
        prop_assert_eq!(full.rounds_recorded() as usize, rates.len());
    }
}

/// A worked example (100 Mbit/s link, 2 MB/s other traffic, E_init = 8 MB/s, dirty rates
/// 3, 5 and 20 MB/s), through the history, round by round.
#[test]
fn worked_example_through_the_history() {
    let policy = Bda::new(BdaConfig {
        first_round_rate: Some(BytesPerSec(8_000_000)),
        floor: Share::ZERO,
        coefficients: Coefficients::DirtyRate,
    });
    let link = LinkSample::new(BytesPerSec(12_500_000), BytesPerSec(2_000_000));
    let expected = [
        (Rule::FirstRound, 2_500_000, 8_000_000),
        (Rule::Reserve, 3_000_000, 7_500_000),
        (Rule::Reserve, 4_250_000, 6_250_000),
        (Rule::Corrected, 2_100_000, 8_400_000),
    ];
    let measured = [3_000_000, 5_000_000, 20_000_000];
    let mut history = FullHistory::new();
    for (round, (rule, reserved, migration)) in expected.into_iter().enumerate() {
        let kind = if round == 0 { RoundKind::First } else { RoundKind::Live };
        let ctx = RoundContext { round: round as u32 + 1, kind, dirty: history.rates(), ..RoundContext::FIRST };
        let a = policy.allocate(&ctx, link);
        assert_eq!((a.rule, a.reserved.0, a.migration.0), (rule, reserved, migration), "round {}", round + 1);
        if let Some(&r) = measured.get(round) {
            history.record(BytesPerSec(r));
        }
    }
    let stop = RoundContext { round: 5, kind: RoundKind::StopAndCopy, dirty: history.rates(), ..RoundContext::FIRST };
    let a = policy.allocate(&stop, link);
    assert_eq!((a.rule, a.reserved.0, a.migration.0), (Rule::StopAndCopy, 0, 10_500_000));
}
