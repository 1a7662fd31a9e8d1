//! Pacer properties over random rate changes and tick sequences:
//! - upper bound: bytes released over any interval `[a, b]` never exceed
//!   `integral of rate over [a, b] + burst`;
//! - lower bound: a backlogged sender that asks again at the tick the pacer names (and at
//!   every rate change) never falls more than one unit behind `integral of rate`, while the
//!   rate keeps pace with the tick (`rate <= (burst - unit) * tick_hz`).

use bda_core::{BytesPerSec, Pacer, PacerConfig, Release, TickHz, Ticks};
use bda_tests::any_u64;
use num_bigint::BigInt;
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Run {
    config: PacerConfig,
    start: u64,
    /// (rate in bytes per second, duration in ticks)
    segments: Vec<(u64, u64)>,
}

/// One poll of the sender: when, what it had released before, and what after.
struct Poll {
    tick: u64,
    before: u64,
    after: u64,
    /// The integral of the rate from the start to `tick`, in bytes x tick_hz.
    integral: BigInt,
}

/// Runs a sender against the pacer. With `per_poll_cap`, the sender takes at most that many
/// units per poll and comes back a tick later (it is then not always backlogged, which only
/// the upper bound tolerates).
fn simulate(run: &Run, per_poll_cap: Option<u32>, poll_budget: usize) -> Vec<Poll> {
    let unit = run.config.unit_bytes;
    let mut pacer = Pacer::new(run.config, BytesPerSec(run.segments[0].0), Ticks(run.start)).unwrap();
    let mut polls = Vec::new();
    let mut released = 0_u64;
    let mut integral = BigInt::from(0);
    let mut segment_start = run.start;
    for (index, &(rate, duration)) in run.segments.iter().enumerate() {
        if index > 0 {
            pacer.set_rate(BytesPerSec(rate), Ticks(segment_start));
        }
        let segment_end = segment_start.saturating_add(duration);
        let mut tick = segment_start;
        while polls.len() < poll_budget {
            let before = released;
            let mut taken = 0;
            let next = loop {
                if per_poll_cap.is_some_and(|cap| taken == cap) {
                    break Some(tick.saturating_add(1));
                }
                match pacer.try_release(Ticks(tick)) {
                    Release::Now => {
                        released = released.saturating_add(unit);
                        taken += 1;
                    }
                    // Ticks::MAX means never: the schedule saturated at the end of the clock.
                    Release::NotBefore(Ticks::MAX) => break None,
                    Release::NotBefore(at) => {
                        assert!(at.0 > tick, "a wait must lie in the future");
                        // The named tick is exactly the earliest: not one tick early, not late.
                        assert_ne!(pacer.next_release(Ticks(at.0 - 1)), Release::Now, "named tick too late");
                        assert_eq!(pacer.next_release(at), Release::Now, "named tick too early");
                        break Some(at.0);
                    }
                    Release::Blocked => {
                        assert_eq!(rate, 0, "blocked only at rate zero");
                        break None;
                    }
                }
            };
            let elapsed = BigInt::from(tick - segment_start) * BigInt::from(rate);
            polls.push(Poll { tick, before, after: released, integral: &integral + elapsed });
            match next {
                Some(next) if next < segment_end => tick = next,
                _ => break,
            }
        }
        integral += BigInt::from(duration.min(segment_end - segment_start)) * BigInt::from(rate);
        segment_start = segment_end;
    }
    polls
}

fn any_run() -> impl Strategy<Value = Run> {
    (
        prop_oneof![Just(1_u64), Just(1_000), Just(25_000_000), Just(1_000_000_000), 1_u64..=u64::MAX],
        prop_oneof![Just(1_u64), Just(4096), 1_u64..1 << 30, 1_u64..=u64::MAX],
        prop_oneof![Just(0_u64), 0_u64..1 << 20, any::<u64>()],
        any_u64(),
        prop::collection::vec((any_u64(), any_u64()), 1..16),
    )
        .prop_map(|(hz, unit, extra, start, segments)| Run {
            config: PacerConfig { tick_hz: TickHz(hz), unit_bytes: unit, burst_bytes: unit.saturating_add(extra) },
            start,
            segments,
        })
}

/// Runs whose every rate keeps pace with the tick.
fn paced_run() -> impl Strategy<Value = Run> {
    (1_u64..=1_000_000_000, 1_u64..=1 << 20, 0_u64..=3, 0_u64..=u64::MAX / 2)
        .prop_flat_map(|(hz, unit, extra_units, start)| {
            let burst = unit * (1 + extra_units) + extra_units; // slack can be zero
            let max_rate = (u128::from(burst - unit) * u128::from(hz)).min(u128::from(u64::MAX)) as u64;
            let rate = prop_oneof![Just(0_u64), Just(max_rate), 0..=max_rate, 0..=max_rate / 1000];
            let segments = prop::collection::vec((rate, 0_u64..20_000), 1..16);
            (Just(hz), Just(unit), Just(burst), Just(start), segments)
        })
        .prop_map(|(hz, unit, burst, start, segments)| Run {
            config: PacerConfig { tick_hz: TickHz(hz), unit_bytes: unit, burst_bytes: burst },
            start,
            segments,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn never_more_than_the_integral_of_the_rate_plus_the_burst(
        run in any_run(),
        cap in prop::option::of(1_u32..8),
    ) {
        // A sender that takes everything it may, or at most `cap` units a poll.
        let polls = simulate(&run, Some(cap.unwrap_or(64)), 2_000);
        let hz = BigInt::from(run.config.tick_hz.0);
        let burst = BigInt::from(run.config.burst_bytes) * &hz;
        // Released in [t_i, t_j] = after_j - before_i; the bound must hold for every i <= j:
        // after_j*hz - I(t_j) <= min over i <= j of (before_i*hz - I(t_i)) + burst*hz.
        let mut least: Option<BigInt> = None;
        for poll in &polls {
            let start_term = BigInt::from(poll.before) * &hz - &poll.integral;
            least = Some(match least { Some(l) if l < start_term => l, _ => start_term });
            let end_term = BigInt::from(poll.after) * &hz - &poll.integral;
            prop_assert!(end_term <= least.clone().unwrap() + &burst, "released too much by tick {}", poll.tick);
        }
    }

    #[test]
    fn a_backlogged_sender_never_falls_more_than_one_unit_behind(run in paced_run()) {
        let polls = simulate(&run, None, 5_000);
        let hz = BigInt::from(run.config.tick_hz.0);
        let unit = BigInt::from(run.config.unit_bytes) * &hz;
        for poll in &polls {
            // Just before the sender takes what it may at this poll: the most it lags.
            let lag = &poll.integral - BigInt::from(poll.before) * &hz;
            prop_assert!(lag <= unit, "behind by {} B x Hz at tick {}", lag, poll.tick);
        }
    }
}

/// What a test sender does next.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// Ask again at the same tick.
    Again,
    /// Move the clock on (or, when negative, back) by this many ticks.
    Move(i64),
    /// Jump to the tick the pacer last named, plus this many ticks.
    Named(u64),
}

fn any_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        Just(Step::Again),
        (-1_000_i64..2_000_000).prop_map(Step::Move),
        prop_oneof![Just(0_u64), Just(1), 0_u64..1_000_000].prop_map(Step::Named),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    /// At a constant rate, every answer equals the GCRA's, computed in exact rationals:
    /// conforming when `TAT <= now + tolerance`, a release moves `TAT` to
    /// `max(TAT, now) + interval`, and a wait names `ceil(TAT - tolerance)`, exactly.
    #[test]
    fn answers_equal_the_exact_gcra(
        hz in prop_oneof![Just(1_u64), Just(1_000), Just(1_000_000_000), 1_u64..=1_000_000_000],
        unit in prop_oneof![Just(1_u64), Just(4096), 1_u64..=1 << 20],
        extra in prop_oneof![Just(0_u64), 0_u64..=1 << 20],
        rate in prop_oneof![Just(1_u64), Just(125_000_000), 1_u64..=1 << 40],
        start in prop_oneof![Just(0_u64), 0_u64..=1 << 60],
        steps in prop::collection::vec((any_step(), any::<bool>()), 1..300),
    ) {
        let config = PacerConfig { tick_hz: TickHz(hz), unit_bytes: unit, burst_bytes: unit + extra };
        let mut pacer = Pacer::new(config, BytesPerSec(rate), Ticks(start)).unwrap();
        // Times in 1/rate of a tick.
        let r = BigInt::from(rate);
        let interval = BigInt::from(unit) * BigInt::from(hz);
        let tolerance = BigInt::from(extra) * BigInt::from(hz);
        let mut tat = BigInt::from(start) * &r;
        let (mut tick, mut latest, mut named) = (start, start, start);
        for (step, release) in steps {
            tick = match step {
                Step::Again => tick,
                Step::Move(by) => tick.saturating_add_signed(by),
                Step::Named(plus) => named.saturating_add(plus),
            };
            // try_release ignores a clock that went backwards (next_release keeps no clock).
            let now = tick.max(latest);
            let now_scaled = BigInt::from(now) * &r;
            let expected = if tat <= &now_scaled + &tolerance {
                Release::Now
            } else {
                // ceil((TAT - tolerance) / rate), positive here.
                let earliest = (&tat - &tolerance + &r - 1) / &r;
                Release::NotBefore(Ticks(u64::try_from(earliest).unwrap()))
            };
            prop_assert_eq!(pacer.next_release(Ticks(now)), expected, "next_release at {}", now);
            if release {
                prop_assert_eq!(pacer.try_release(Ticks(tick)), expected, "try_release at {}", tick);
                latest = now;
                if expected == Release::Now {
                    tat = tat.max(now_scaled) + &interval;
                }
            }
            if let Release::NotBefore(at) = expected {
                named = at.0;
            }
        }
        prop_assert_eq!(pacer.saturations(), 0);
    }
}
