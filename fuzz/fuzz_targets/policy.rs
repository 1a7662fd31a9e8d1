//! Every policy, any round and link: E <= F, E + B == F, F = T - U_used (or 0), the
//! baselines' definitions, BDA's first and stop-and-copy rounds; no panic.
#![no_main]

use arbitrary::Arbitrary;
use bda_core::{
    AnyPolicy, Bda, BdaConfig, BdaPlus, BdaPlusConfig, Bytes, BytesPerSec, Coefficients, Delivery, DirtyRates,
    Incremental, IncrementalConfig, LinkSample, Pca, Policy, ReserveSource, RoundContext, RoundKind, Rule, Share,
    Static, UnmetAction,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    policy: u8,
    kind: u8,
    latest: Option<u64>,
    previous: Option<u64>,
    earlier_mean: Option<u64>,
    capacity: u64,
    other_usage: u64,
    first_round_rate: Option<u64>,
    floor_ppm: u32,
    utilisation: bool,
    rates: (u64, u64, u64),
    /// BDA+: rho_max in ppm, the deadline, the first-round reserve, the action, the bytes to
    /// send and the time elapsed.
    plus: (u32, Option<u64>, Option<u64>, u8, u64, u64),
    /// BDA+: whether it reserves what it learned from the service, the learned reserve in the
    /// link sample, and the round's dirty rate so far.
    learned: (bool, Option<u64>, Option<u64>),
    /// BDA+: what the link delivered (allocated, achieved).
    delivered: Option<(u64, u64)>,
}

fuzz_target!(|input: Input| {
    let floor = Share::from_ppm(input.floor_ppm % 1_000_001).unwrap();
    let (a, increment, b) = input.rates;
    let bda = BdaConfig {
        first_round_rate: input.first_round_rate.map(BytesPerSec),
        floor,
        coefficients: if input.utilisation { Coefficients::Utilisation } else { Coefficients::DirtyRate },
    };
    let (ratio_ppm, deadline_us, first_round_reserve, action, to_send, elapsed_us) = input.plus;
    let (learns, service_reserve, dirtying) = input.learned;
    let mut policy = match input.policy % 5 {
        0 => AnyPolicy::Bda(Bda::new(bda)),
        4 => AnyPolicy::BdaPlus(
            BdaPlus::new(BdaPlusConfig {
                bda,
                first_round_reserve: first_round_reserve.map(BytesPerSec),
                max_dirty_ratio: Share::from_ppm(ratio_ppm % 1_000_000 + 1),
                deadline_us: deadline_us.filter(|&d| d != 0),
                on_unmet: [UnmetAction::TakeReserve, UnmetAction::SlowGuest, UnmetAction::Abort]
                    [usize::from(action % 3)],
                reserve: if learns { ReserveSource::ServiceTraffic } else { ReserveSource::DirtyRate },
            })
            .unwrap(),
        ),
        1 => AnyPolicy::Pca(Pca),
        2 => AnyPolicy::Static(Static::new(BytesPerSec(a))),
        _ => AnyPolicy::Incremental(
            Incremental::new(IncrementalConfig {
                start: BytesPerSec(a.min(b)),
                increment: BytesPerSec(increment),
                ceiling: BytesPerSec(a.max(b)),
            })
            .unwrap(),
        ),
    };
    let kind = [RoundKind::First, RoundKind::Live, RoundKind::StopAndCopy][usize::from(input.kind % 3)];
    let ctx = RoundContext {
        round: 2,
        kind,
        dirty: DirtyRates {
            latest: input.latest.map(BytesPerSec),
            previous: input.previous.map(BytesPerSec),
            earlier_mean: input.earlier_mean.map(BytesPerSec),
        },
        to_send: Bytes(to_send),
        elapsed_us,
        dirtying: dirtying.map(BytesPerSec),
        delivered: input.delivered.map(|(allocated, achieved)| Delivery {
            allocated: BytesPerSec(allocated),
            achieved: BytesPerSec(achieved),
        }),
    };
    let link = LinkSample::new(BytesPerSec(input.capacity), BytesPerSec(input.other_usage));
    let link = match service_reserve {
        Some(reserve) => link.with_service_reserve(BytesPerSec(reserve)),
        None => link,
    };
    policy.begin_round(&ctx);
    let allocation = policy.allocate(&ctx, link);
    let free = input.capacity.saturating_sub(input.other_usage);
    assert_eq!(allocation.free.0, free);
    assert!(allocation.migration <= allocation.free);
    assert_eq!(allocation.migration.0.checked_add(allocation.reserved.0), Some(free));
    assert_eq!(allocation.clamps.usage_above_capacity, input.other_usage > input.capacity);
    match (policy, kind) {
        (
            AnyPolicy::Pca(_) | AnyPolicy::Static(_) | AnyPolicy::Bda(_) | AnyPolicy::BdaPlus(_),
            RoundKind::StopAndCopy,
        ) => {
            assert_eq!(allocation.migration.0, free)
        }
        (AnyPolicy::Pca(_), _) => assert_eq!(allocation.migration.0, free),
        (AnyPolicy::Static(_), _) => assert_eq!(allocation.migration.0, a.min(free)),
        (AnyPolicy::Bda(_), RoundKind::First) => {
            let wanted = input.first_round_rate.unwrap_or(free).min(free);
            assert_eq!(allocation.migration.0, wanted.max(floor.of(input.capacity).min(free)));
        }
        (AnyPolicy::Bda(_), _) => assert!(allocation.migration.0 >= floor.of(input.capacity).min(free)),
        (AnyPolicy::BdaPlus(_), _) => {
            // Never below the floor, and a guard that fits F (unless the action keeps the
            // reserve) is met.
            assert!(allocation.migration.0 >= floor.of(input.capacity).min(free));
            if let Some(report) = allocation.guard {
                match report.unmet {
                    None => assert_eq!(allocation.migration, report.needed),
                    // `needed` saturates at u64::MAX, so it can equal a free bandwidth of MAX.
                    // The reserve stays, but for the deadline guard's drain.
                    Some(UnmetAction::SlowGuest) => {
                        assert!(report.needed.0 >= free);
                        assert!(report.reserve_taken.0 == 0 || allocation.rule == Rule::DeadlineGuard);
                    }
                    Some(_) => assert_eq!((allocation.migration.0, report.needed.0 >= free), (free, true)),
                }
            }
        }
        (AnyPolicy::Incremental(_), RoundKind::StopAndCopy) => assert_eq!(allocation.migration.0, a.max(b).min(free)),
        (AnyPolicy::Incremental(_), _) => assert!(allocation.migration.0 <= a.max(b)),
    }
});
