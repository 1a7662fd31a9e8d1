//! Wall-clock benchmarks of the kernel's decisions (criterion). Instruction counts, which CI
//! holds to budgets, are in `instructions.rs`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::arithmetic_side_effects)]

mod common;

use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::Duration;

use bda_core::{
    AnyPolicy, Bytes, BytesPerSec, Controller, ControllerConfig, Policy, PredictorRound, Release, RoundReport, TickHz,
    Ticks,
};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use governor::clock::FakeRelativeClock;
use governor::{Quota, RateLimiter};

fn policies(c: &mut Criterion) {
    common::check_cases();
    let mut group = c.benchmark_group("allocate");
    for (name, mut policy, ctx, link) in common::cases() {
        policy.begin_round(&ctx);
        group.bench_function(name, |b| b.iter(|| black_box(&policy).allocate(black_box(&ctx), black_box(link))));
    }
    group.finish();
}

fn controller(c: &mut Criterion) {
    let config = ControllerConfig::new(Bytes(1 << 30), TickHz::MICROS);
    let report = RoundReport { sent: Bytes(64 << 20), dirtied: Bytes(48 << 20), remaining: Bytes(48 << 20) };
    // A live round: begin with the link, end with the report (records the dirty rate, checks
    // every stop condition, and the stop-and-copy rate through a copy of the policy).
    let mut started: Controller<AnyPolicy> = Controller::new(config, AnyPolicy::bda()).unwrap();
    started.begin_round(common::LINK, Ticks(0)).unwrap();
    started.end_round(report, Ticks(1_000_000)).unwrap();
    c.bench_function("controller/live round (begin + end)", |b| {
        b.iter_batched_ref(
            || started.clone(),
            |controller| {
                controller.begin_round(black_box(common::LINK), Ticks(2_000_000)).unwrap();
                black_box(controller.end_round(black_box(report), Ticks(3_000_000)).unwrap())
            },
            BatchSize::SmallInput,
        )
    });
}

fn pacer(c: &mut Criterion) {
    let mut group = c.benchmark_group("pacer");
    group.bench_function("try_release, steady", |b| {
        let mut pacer = common::pacer();
        let mut now = 0;
        b.iter(|| {
            now += common::PAGE_INTERVAL_NS;
            // Through an opaque reference, as the instruction benchmark does: otherwise the
            // pacer stays in registers across iterations and its update is folded away.
            let release = black_box(&mut pacer).try_release(Ticks(black_box(now)));
            debug_assert_eq!(release, Release::Now);
            release
        })
    });
    group.bench_function("try_release, right after a rate change", |b| {
        b.iter_batched_ref(
            || {
                let mut pacer = common::pacer();
                pacer.try_release(Ticks(0));
                pacer.set_rate(BytesPerSec(250_000_000), Ticks(1_000));
                pacer
            },
            |pacer| black_box(pacer).try_release(Ticks(black_box(1_000))),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("set_rate", |b| {
        let mut pacer = common::pacer();
        pacer.try_release(Ticks(0));
        let mut rate = 125_000_000;
        b.iter(|| {
            rate ^= 1;
            black_box(&mut pacer).set_rate(BytesPerSec(black_box(rate)), Ticks(1_000))
        })
    });
    // The same decision in the governor crate's GCRA: the same rate (1 Gbit/s of 4 KiB pages,
    // 30,517 a second, rounded as governor rounds), the same fake clock advanced one page
    // interval per call, so that every call is allowed, as above.
    group.bench_function("governor check, steady", |b| {
        let clock = FakeRelativeClock::default();
        let quota = Quota::per_second(NonZeroU32::new(30_517).unwrap()).allow_burst(NonZeroU32::new(2).unwrap());
        let limiter = RateLimiter::direct_with_clock(quota, clock.clone());
        let step = Duration::from_nanos(common::PAGE_INTERVAL_NS + 1);
        b.iter(|| {
            clock.advance(step);
            black_box(limiter.check().is_ok())
        })
    });
    group.finish();
}

fn predictor(c: &mut Criterion) {
    let mut group = c.benchmark_group("predictor, 2 GiB");
    group.throughput(Throughput::Elements(common::PAGES_2_GIB / 64));
    for (name, every) in [("clean", 0), ("sparse 1%", 100), ("dense 50%", 2)] {
        let (mut predictor, mut storage, dirty, mut send) = common::predictor(every);
        group.bench_function(name, |b| {
            b.iter(|| predictor.plan_round(&mut storage, black_box(&dirty), &mut send, PredictorRound::Live).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, policies, controller, pacer, predictor);
criterion_main!(benches);
