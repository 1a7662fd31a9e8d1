//! The link filter over the whole input range: each smoothed value moves from where it was
//! towards the new reading and never past it, a rise shows at once when the rise time
//! constant is zero, the reported usage never exceeds the capacity it comes with, and the
//! learned service reserve is never below the latest reading.

use bda_core::{BytesPerSec, LinkFilter, LinkFilterConfig, LinkSample, TickHz, Ticks};
use bda_tests::any_u64;
use proptest::prelude::*;

fn between(value: u64, a: u64, b: u64) -> bool {
    a.min(b) <= value && value <= a.max(b)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn smoothing_moves_towards_each_reading_and_the_reserve_covers_the_latest(
        rise_us in prop_oneof![Just(0_u64), any_u64()],
        fall_us in prop_oneof![Just(0_u64), Just(1_000_000), any_u64()],
        service_tau_us in prop_oneof![Just(0_u64), Just(1_000_000), any_u64()],
        service_deviations in any::<u8>(),
        hz in prop_oneof![Just(TickHz::MILLIS), Just(TickHz::MICROS), Just(TickHz::NANOS)],
        readings in prop::collection::vec((any_u64(), any_u64(), prop::option::of(any_u64()), any_u64()), 1..30),
    ) {
        let config = LinkFilterConfig { usage_rise_us: rise_us, usage_fall_us: fall_us, service_tau_us, service_deviations };
        let mut filter = LinkFilter::new(config, hz);
        let mut now = 0_u64;
        for (capacity, used, service, step) in readings {
            let before = filter.usage();
            now = now.saturating_add(step % 10_000_000_000);
            let out = filter.update(LinkSample::new(BytesPerSec(capacity), BytesPerSec(used)), service.map(BytesPerSec), Ticks(now));
            prop_assert_eq!(out.capacity, BytesPerSec(capacity));
            // The average moves; what is reported is it, at most the capacity.
            let average = filter.usage().unwrap();
            prop_assert_eq!(out.other_usage, BytesPerSec(average.0.min(capacity)));
            match before {
                None => prop_assert_eq!(average, BytesPerSec(used)),
                Some(previous) => {
                    prop_assert!(between(average.0, previous.0, used), "{previous:?} -> {average:?} for {used}");
                    if rise_us == 0 && used > previous.0 {
                        prop_assert_eq!(average, BytesPerSec(used));
                    }
                }
            }
            match service {
                None => prop_assert_eq!(out.service_reserve, None),
                Some(traffic) => {
                    let reserve = out.service_reserve.unwrap();
                    prop_assert!(reserve.0 >= traffic);
                    let (level, deviation) = filter.service().unwrap();
                    let expected = level.0.saturating_add(deviation.0.saturating_mul(u64::from(service_deviations)));
                    prop_assert_eq!(reserve.0, expected.max(traffic));
                }
            }
        }
    }

    /// A constant reading is reached exactly (the steps round towards the reading), and then
    /// a steady service is reserved at its level with nothing on top.
    #[test]
    fn a_constant_reading_is_reached_exactly(start in any_u64(), level in any_u64(), service in any_u64()) {
        let mut filter = LinkFilter::new(LinkFilterConfig::default(), TickHz::MILLIS);
        filter.update(LinkSample::new(BytesPerSec::MAX, BytesPerSec(start)), Some(BytesPerSec(start)), Ticks(0));
        let mut out = LinkSample::default();
        // With dt = tau every step halves the gap, rounded up: 65 steps close any u64 gap.
        for i in 1..=70_u64 {
            out = filter.update(LinkSample::new(BytesPerSec::MAX, BytesPerSec(level)), Some(BytesPerSec(service)), Ticks(i * 1_000));
        }
        prop_assert_eq!(out.other_usage, BytesPerSec(level));
        prop_assert_eq!(filter.service().map(|s| s.0), Some(BytesPerSec(service)));
        for i in 71..=140_u64 {
            out = filter.update(LinkSample::new(BytesPerSec::MAX, BytesPerSec(level)), Some(BytesPerSec(service)), Ticks(i * 1_000));
        }
        prop_assert_eq!(out.service_reserve, Some(BytesPerSec(service)));
    }
}
