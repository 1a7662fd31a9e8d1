//! Every policy, any round and link: E <= F, E + B == F, F = T - U_used (or 0), the
//! baselines' definitions, BDA's first and stop-and-copy rounds; no panic.
#![no_main]

use arbitrary::Arbitrary;
use bda_core::{
    AnyPolicy, Bda, BdaConfig, BytesPerSec, Coefficients, DirtyRates, Incremental, IncrementalConfig, LinkSample, Pca,
    Policy, RoundContext, RoundKind, Share, Static,
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
}

fuzz_target!(|input: Input| {
    let floor = Share::from_ppm(input.floor_ppm % 1_000_001).unwrap();
    let (a, increment, b) = input.rates;
    let mut policy = match input.policy % 4 {
        0 => AnyPolicy::Bda(Bda::new(BdaConfig {
            first_round_rate: input.first_round_rate.map(BytesPerSec),
            floor,
            coefficients: if input.utilisation { Coefficients::Utilisation } else { Coefficients::DirtyRate },
        })),
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
    };
    let link = LinkSample::new(BytesPerSec(input.capacity), BytesPerSec(input.other_usage));
    policy.begin_round(&ctx);
    let allocation = policy.allocate(&ctx, link);
    let free = input.capacity.saturating_sub(input.other_usage);
    assert_eq!(allocation.free.0, free);
    assert!(allocation.migration <= allocation.free);
    assert_eq!(allocation.migration.0.checked_add(allocation.reserved.0), Some(free));
    assert_eq!(allocation.clamps.usage_above_capacity, input.other_usage > input.capacity);
    match (policy, kind) {
        (AnyPolicy::Pca(_) | AnyPolicy::Static(_) | AnyPolicy::Bda(_), RoundKind::StopAndCopy) => {
            assert_eq!(allocation.migration.0, free)
        }
        (AnyPolicy::Pca(_), _) => assert_eq!(allocation.migration.0, free),
        (AnyPolicy::Static(_), _) => assert_eq!(allocation.migration.0, a.min(free)),
        (AnyPolicy::Bda(_), RoundKind::First) => {
            let wanted = input.first_round_rate.unwrap_or(free).min(free);
            assert_eq!(allocation.migration.0, wanted.max(floor.of(input.capacity).min(free)));
        }
        (AnyPolicy::Bda(_), _) => assert!(allocation.migration.0 >= floor.of(input.capacity).min(free)),
        (AnyPolicy::Incremental(_), RoundKind::StopAndCopy) => assert_eq!(allocation.migration.0, a.max(b).min(free)),
        (AnyPolicy::Incremental(_), _) => assert!(allocation.migration.0 <= a.max(b)),
    }
});
