//! The pacer under any configuration, rate changes and tick sequence: no panic, a named tick
//! lies in the future, and the bytes released over any interval never exceed the integral of
//! the rate plus the burst (checked exactly while the sums fit 128 bits).
#![no_main]

use arbitrary::Arbitrary;
use bda_core::{BytesPerSec, Pacer, PacerConfig, Release, TickHz, Ticks};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Op {
    SetRate { rate: u64, dt: u32 },
    Try { dt: u32 },
    TryAtNamedTick,
}

#[derive(Arbitrary, Debug)]
struct Input {
    tick_hz: u64,
    unit: u64,
    burst: u64,
    rate: u64,
    start: u64,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let config = PacerConfig { tick_hz: TickHz(input.tick_hz), unit_bytes: input.unit, burst_bytes: input.burst };
    let Ok(mut pacer) = Pacer::new(config, BytesPerSec(input.rate), Ticks(input.start)) else {
        assert!(config.validate().is_err());
        return;
    };
    let hz = u128::from(input.tick_hz);
    let burst = u128::from(input.burst).checked_mul(hz);
    let mut now = input.start;
    let mut rate = u128::from(input.rate);
    // Released and integral, in bytes x tick_hz, since the start; None once they overflow.
    let mut released: Option<u128> = Some(0);
    let mut integral: Option<u128> = Some(0);
    // The least (released before t - integral to t) over the release times t so far.
    let mut least: Option<i128> = None;
    let mut named: Option<u64> = None;
    for op in input.ops {
        let (dt, new_rate) = match op {
            Op::SetRate { rate, dt } => (u64::from(dt), Some(rate)),
            Op::Try { dt } => (u64::from(dt), None),
            Op::TryAtNamedTick => (named.map_or(0, |t| t.saturating_sub(now)), None),
        };
        let next = now.saturating_add(dt);
        integral = integral.and_then(|i| i.checked_add(rate.checked_mul(u128::from(next - now))?));
        now = next;
        if let Some(new_rate) = new_rate {
            pacer.set_rate(BytesPerSec(new_rate), Ticks(now));
            rate = u128::from(new_rate);
            continue;
        }
        let before = released;
        match pacer.try_release(Ticks(now)) {
            Release::Now => {
                released = released.and_then(|r| r.checked_add(u128::from(input.unit).checked_mul(hz)?));
                if let (Some(b), Some(r), Some(i), Some(burst)) = (before, released, integral, burst) {
                    let (Ok(b), Ok(r), Ok(i), Ok(burst)) =
                        (i128::try_from(b), i128::try_from(r), i128::try_from(i), i128::try_from(burst))
                    else {
                        continue;
                    };
                    let start_term = b - i;
                    least = Some(least.map_or(start_term, |l| l.min(start_term)));
                    // Released in [t_j, now] <= integral over it + burst, for every earlier t_j.
                    assert!(r - i <= least.unwrap() + burst, "released more than the rate and the burst allow");
                }
            }
            Release::NotBefore(at) => {
                assert!(at.0 > now || at == Ticks::MAX);
                named = Some(at.0);
            }
            Release::Blocked => assert_eq!(pacer.rate(), BytesPerSec::ZERO),
        }
    }
});
