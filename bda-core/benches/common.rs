//! Inputs shared by the kernel's benchmarks: one scenario per rule, a pacer, a predictor.

// Benchmark set-up on the host: the no-panic lints guard the library, not its benches.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::arithmetic_side_effects,
    clippy::as_conversions,
    clippy::cast_possible_truncation,
    clippy::indexing_slicing
)]

use bda_core::{
    AnyPolicy, Bda, BdaConfig, BytesPerSec, DirtyRates, Incremental, IncrementalConfig, LinkSample, Pacer, PacerConfig,
    Pca, Policy, Predictor, PredictorConfig, RoundContext, RoundKind, Share, Static, TickHz, Ticks,
};

/// A 100 Mbit/s link carrying 2 MB/s of other traffic (F = 10.5 MB/s).
pub const LINK: LinkSample = LinkSample::new(BytesPerSec(12_500_000), BytesPerSec(2_000_000));

fn live(latest: u64, previous: Option<u64>, earlier_mean: Option<u64>) -> RoundContext {
    RoundContext {
        round: 4,
        kind: RoundKind::Live,
        dirty: DirtyRates {
            latest: Some(BytesPerSec(latest)),
            previous: previous.map(BytesPerSec),
            earlier_mean: earlier_mean.map(BytesPerSec),
        },
        ..RoundContext::FIRST
    }
}

/// A policy, a round and a link that make one rule fire, named after the rule.
pub fn cases() -> Vec<(&'static str, AnyPolicy, RoundContext, LinkSample)> {
    let bda = AnyPolicy::Bda(Bda::new(BdaConfig { floor: Share::ZERO, ..BdaConfig::default() }));
    let floored = AnyPolicy::bda();
    let xen = AnyPolicy::Incremental(Incremental::new(IncrementalConfig::default()).unwrap());
    let stop = RoundContext { kind: RoundKind::StopAndCopy, ..live(1, Some(1), Some(1)) };
    vec![
        ("bda-first", bda, RoundContext::FIRST, LINK),
        ("bda-reserve", bda, live(5_000_000, Some(3_000_000), Some(3_000_000)), LINK),
        ("bda-corrected", bda, live(20_000_000, Some(5_000_000), Some(4_000_000)), LINK),
        ("bda-floor", floored, live(0, Some(20_000_000), Some(20_000_000)), LINK),
        ("bda-stop-and-copy", bda, stop, LINK),
        ("pca", AnyPolicy::Pca(Pca), live(5_000_000, Some(3_000_000), Some(3_000_000)), LINK),
        ("incremental", xen, live(30_000_000, Some(5_000_000), Some(4_000_000)), LINK),
        ("static", AnyPolicy::Static(Static::QEMU_DEFAULT), live(5_000_000, None, None), LINK),
    ]
}

/// Checks that each case fires the rule it is named after, so a benchmark measures what it says.
pub fn check_cases() {
    use bda_core::Rule;
    for (name, mut policy, ctx, link) in cases() {
        policy.begin_round(&ctx);
        let rule = policy.allocate(&ctx, link).rule;
        let expected = match name {
            "bda-first" => Rule::FirstRound,
            "bda-reserve" => Rule::Reserve,
            "bda-corrected" => Rule::Corrected,
            "bda-floor" => Rule::Floor,
            "bda-stop-and-copy" => Rule::StopAndCopy,
            "pca" => Rule::AllFree,
            "incremental" => Rule::Raised,
            "static" => Rule::FixedCap,
            _ => unreachable!(),
        };
        assert_eq!(rule, expected, "{name}");
    }
}

/// 4 KiB pages at 125 MB/s (1 Gbit/s) on a nanosecond clock: one page every 32,768 ticks.
pub const PAGE_INTERVAL_NS: u64 = 32_768;

/// A pacer at 1 Gbit/s, bursts of two pages, on a nanosecond clock.
pub fn pacer() -> Pacer {
    Pacer::new(PacerConfig::new(TickHz::NANOS, 4096), BytesPerSec(125_000_000), Ticks(0)).unwrap()
}

/// 2 GiB of 4 KiB pages.
pub const PAGES_2_GIB: u64 = (2 << 30) / 4096;

/// A predictor over 2 GiB with its storage, warmed up so that every page has a full history:
/// `dirty_every` marks every n-th page dirty in each of eight rounds.
pub fn predictor(dirty_every: u64) -> (Predictor, Vec<u64>, Vec<u64>, Vec<u64>) {
    let mut predictor = Predictor::new(PredictorConfig::default(), PAGES_2_GIB).unwrap();
    let mut storage = vec![0; predictor.storage_words()];
    predictor.init_storage(&mut storage).unwrap();
    let dirty = bitmap(dirty_every);
    let mut send = vec![0; predictor.bitmap_words()];
    for _ in 0..8 {
        predictor.plan_round(&mut storage, &dirty, &mut send, bda_core::PredictorRound::Live).unwrap();
    }
    (predictor, storage, dirty, send)
}

/// A 2 GiB dirty bitmap with every `every`-th page set (0: none).
pub fn bitmap(every: u64) -> Vec<u64> {
    let mut words = vec![0_u64; (PAGES_2_GIB / 64) as usize];
    if every > 0 {
        for page in (0..PAGES_2_GIB).step_by(every as usize) {
            words[(page / 64) as usize] |= 1 << (page % 64);
        }
    }
    words
}
