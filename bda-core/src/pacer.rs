//! The pacer: turns an allocated rate into permission to send the next page.
//!
//! The pacer releases fixed-size units (a page, or a DMA descriptor of fixed size) at the
//! allocated rate. It behaves exactly like a token bucket of `burst_bytes` that fills at the
//! rate and releases a unit whenever it holds `unit_bytes`; it is built as the equivalent
//! GCRA ("virtual scheduling": a theoretical arrival time, TAT), so that both the check and
//! the answer "not before tick `n`" need only additions and comparisons — no division on the
//! per-page path.
//!
//! # Exact arithmetic
//!
//! A unit's interval `unit_bytes * tick_hz / rate` is rarely a whole number of ticks. The
//! pacer keeps it, and the TAT, as a whole number of ticks plus a remainder counted in
//! `1/rate` of a tick, so nothing is rounded and no error accumulates, however long it runs.
//! A rate change converts the outstanding debt exactly (one `u128` division, off the
//! per-page path) and takes effect at once. With these, for any rate changes and any tick
//! sequence:
//!
//! - the bytes released over any interval never exceed `integral of rate dt + burst_bytes`;
//! - a sender that always has a unit waiting and asks again no later than the tick the
//!   pacer names never falls more than one unit behind `integral of rate dt`, provided one
//!   tick's worth of bytes at the rate fits in the burst's slack,
//!   `rate <= (burst_bytes - unit_bytes) * tick_hz` ([`Pacer::keeps_pace`]); otherwise the
//!   tick is too coarse for the rate and the pacer errs on the slow side.
//!
//! A schedule so long that it leaves the `u64` clock (a huge unit at a tiny rate on a fast
//! clock, or a clock near its end) saturates at [`Ticks::MAX`], which means never, and stays
//! there whatever the rate does later: it errs towards releasing later, never earlier
//! (counted in [`Pacer::saturations`]).

use crate::error::PacerConfigError;
use crate::units::{BytesPerSec, TickHz, Ticks};
use crate::wide::mul;

/// The settings of a [`Pacer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PacerConfig {
    /// The frequency of the caller's tick clock.
    pub tick_hz: TickHz,
    /// The bytes released at once: a page or a DMA descriptor.
    pub unit_bytes: u64,
    /// The bucket's size: the most bytes that may go back to back after an idle spell.
    /// At least `unit_bytes`.
    pub burst_bytes: u64,
}

impl PacerConfig {
    /// Units of `unit_bytes` on a `tick_hz` clock, with a burst of two units.
    pub const fn new(tick_hz: TickHz, unit_bytes: u64) -> Self {
        Self { tick_hz, unit_bytes, burst_bytes: unit_bytes.saturating_mul(2) }
    }

    /// Checks every rule; returns the first broken one.
    pub const fn validate(&self) -> Result<(), PacerConfigError> {
        if self.tick_hz.0 == 0 {
            return Err(PacerConfigError::TickHzZero);
        }
        if self.unit_bytes == 0 {
            return Err(PacerConfigError::UnitZero);
        }
        if self.burst_bytes < self.unit_bytes {
            return Err(PacerConfigError::BurstBelowUnit);
        }
        Ok(())
    }
}

/// The pacer's answer for the next unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Release {
    /// The unit may go now (and was counted as sent, for `try_release`).
    Now,
    /// The unit may go at this tick, not earlier. `NotBefore(Ticks::MAX)` means never: the
    /// schedule has run past the end of the `u64` clock.
    NotBefore(Ticks),
    /// The rate is zero: nothing goes until it changes.
    Blocked,
}

/// A span of time as whole ticks plus `remainder / rate` of a tick (`remainder < rate`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Span {
    ticks: u64,
    remainder: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum Schedule {
    /// Rate above zero: the theoretical arrival time of the next unit.
    Running { tat: Span },
    /// Rate zero: the outstanding debt in bytes x tick_hz (a `u128` split in two).
    Stopped { debt_high: u64, debt_low: u64 },
}

/// A rate pacer over the caller's tick clock.
///
/// ```
/// use bda_core::{BytesPerSec, Pacer, PacerConfig, Release, TickHz, Ticks};
///
/// // 4 KiB pages at 4096 B/s on a millisecond clock, bursts of one page.
/// let config = PacerConfig { burst_bytes: 4096, ..PacerConfig::new(TickHz::MILLIS, 4096) };
/// let mut pacer = Pacer::new(config, BytesPerSec(4096), Ticks(0)).unwrap();
/// assert_eq!(pacer.try_release(Ticks(0)), Release::Now);
/// assert_eq!(pacer.try_release(Ticks(1)), Release::NotBefore(Ticks(1000)));
/// assert_eq!(pacer.try_release(Ticks(1000)), Release::Now);
/// // Doubling the rate halves the wait at once.
/// pacer.set_rate(BytesPerSec(8192), Ticks(1000));
/// assert_eq!(pacer.try_release(Ticks(1000)), Release::NotBefore(Ticks(1500)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Pacer {
    config: PacerConfig,
    rate: u64,
    /// One unit's interval at the rate.
    interval: Span,
    /// How far the TAT may run ahead of now: `(burst - unit)` at the rate.
    tolerance: Span,
    schedule: Schedule,
    last_now: Ticks,
    saturations: u32,
    clock_went_backwards: u32,
}

impl Pacer {
    /// A pacer at `rate` from tick `now`, with a full bucket, or the first rule `config`
    /// breaks.
    pub fn new(config: PacerConfig, rate: BytesPerSec, now: Ticks) -> Result<Self, PacerConfigError> {
        config.validate()?;
        let mut pacer = Self {
            config,
            rate: 0,
            interval: Span::default(),
            tolerance: Span::default(),
            schedule: Schedule::Stopped { debt_high: 0, debt_low: 0 },
            last_now: now,
            saturations: 0,
            clock_went_backwards: 0,
        };
        pacer.set_rate(rate, now);
        Ok(pacer)
    }

    /// Changes the rate from tick `now` on. Bytes already released are paid for at the old
    /// rate up to `now` and at the new rate after it.
    pub fn set_rate(&mut self, rate: BytesPerSec, now: Ticks) {
        let now = self.clock(now);
        let debt = self.debt_at(now);
        self.rate = rate.0;
        if rate.0 == 0 {
            self.schedule = Schedule::Stopped {
                debt_high: u64::try_from(debt >> 64).unwrap_or(u64::MAX),
                debt_low: u64::try_from(debt & u128::from(u64::MAX)).unwrap_or(u64::MAX),
            };
            return;
        }
        self.interval = self.span(mul(self.config.unit_bytes, self.config.tick_hz.0));
        let slack = self.config.burst_bytes.saturating_sub(self.config.unit_bytes);
        self.tolerance = self.span(mul(slack, self.config.tick_hz.0));
        let wait = self.span(debt);
        let tat = self.add(Span { ticks: now.0, remainder: 0 }, wait);
        self.schedule = Schedule::Running { tat };
    }

    /// Whether one unit may go at `now`, and if so counts it as released. If not, says from
    /// which tick it may (ask again then) — or that the rate is zero.
    pub fn try_release(&mut self, now: Ticks) -> Release {
        let now = self.clock(now);
        let answer = self.next_release(now);
        if answer == Release::Now
            && let Schedule::Running { tat } = self.schedule
        {
            // An idle pacer does not bank credit beyond the burst: start from now.
            let start = tat.max(Span { ticks: now.0, remainder: 0 });
            self.schedule = Schedule::Running { tat: self.add(start, self.interval) };
        }
        answer
    }

    /// Like [`try_release`](Self::try_release) but releases nothing.
    pub fn next_release(&self, now: Ticks) -> Release {
        let Schedule::Running { tat } = self.schedule else {
            return Release::Blocked;
        };
        if tat.ticks == u64::MAX {
            return Release::NotBefore(Ticks::MAX); // saturated: never
        }
        // Conforming when TAT <= now + tolerance.
        let deadline = Span { ticks: now.0.saturating_add(self.tolerance.ticks), remainder: self.tolerance.remainder };
        if tat <= deadline {
            return Release::Now;
        }
        // The earliest tick n with TAT <= n + tolerance: ceil(TAT - tolerance).
        let round_up = u64::from(tat.remainder > self.tolerance.remainder);
        Release::NotBefore(Ticks(tat.ticks.saturating_sub(self.tolerance.ticks).saturating_add(round_up)))
    }

    /// The current rate.
    pub const fn rate(&self) -> BytesPerSec {
        BytesPerSec(self.rate)
    }

    /// The settings.
    pub const fn config(&self) -> &PacerConfig {
        &self.config
    }

    /// Whether a tick's worth of bytes at the current rate fits the burst's slack, which the
    /// lower release bound needs: `rate <= (burst_bytes - unit_bytes) * tick_hz`.
    pub const fn keeps_pace(&self) -> bool {
        self.rate == 0 || self.tolerance.ticks >= 1
    }

    /// How many computations saturated at `u64::MAX` (each errs towards releasing later).
    pub const fn saturations(&self) -> u32 {
        self.saturations
    }

    /// How many calls passed a `now` earlier than an earlier call's (the later time was kept).
    pub const fn clock_went_backwards(&self) -> u32 {
        self.clock_went_backwards
    }

    /// The bytes x tick_hz the sender still owes at `now` (zero when the bucket is full).
    fn debt_at(&self, now: Ticks) -> u128 {
        match self.schedule {
            Schedule::Stopped { debt_high, debt_low } => (u128::from(debt_high) << 64) | u128::from(debt_low),
            // A schedule past the end of the clock owes more than any rate can repay in it.
            Schedule::Running { tat } if tat.ticks == u64::MAX => u128::MAX,
            Schedule::Running { tat } if tat.ticks >= now.0 => {
                // Below (2^64-1)^2 + 2^64: fits a u128.
                mul(tat.ticks.saturating_sub(now.0), self.rate).saturating_add(u128::from(tat.remainder))
            }
            Schedule::Running { .. } => 0,
        }
    }

    /// `scaled / rate` ticks as a [`Span`], for a rate above zero.
    fn span(&mut self, scaled: u128) -> Span {
        let rate = u128::from(self.rate);
        let (ticks, remainder) = crate::wide::div_rem(scaled, rate).unwrap_or((u128::MAX, 0));
        match u64::try_from(ticks) {
            Ok(ticks) => Span { ticks, remainder: u64::try_from(remainder).unwrap_or(0) },
            Err(_) => {
                self.saturations = self.saturations.saturating_add(1);
                Span { ticks: u64::MAX, remainder: 0 }
            }
        }
    }

    /// `a + b` with the remainders carried into whole ticks; saturates at `u64::MAX` ticks.
    // Out of line on 32-bit targets, where its 64-bit carries are long and it has two
    // callers; 64-bit targets keep the per-page path free of the call.
    #[cfg_attr(not(target_pointer_width = "64"), inline(never))]
    fn add(&mut self, a: Span, b: Span) -> Span {
        // Both remainders are below the rate, so their sum needs at most one carry.
        let room = self.rate.saturating_sub(b.remainder);
        let (remainder, carry) = if a.remainder >= room {
            (a.remainder.saturating_sub(room), 1)
        } else {
            (a.remainder.saturating_add(b.remainder), 0)
        };
        let ticks = a.ticks.checked_add(b.ticks).and_then(|t| t.checked_add(carry));
        match ticks {
            Some(ticks) => Span { ticks, remainder },
            None => {
                self.saturations = self.saturations.saturating_add(1);
                Span { ticks: u64::MAX, remainder: 0 }
            }
        }
    }

    fn clock(&mut self, now: Ticks) -> Ticks {
        if now < self.last_now {
            self.clock_went_backwards = self.clock_went_backwards.saturating_add(1);
            return self.last_now;
        }
        self.last_now = now;
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pacer(rate: u64, unit: u64, burst: u64, hz: u64) -> Pacer {
        Pacer::new(
            PacerConfig { tick_hz: TickHz(hz), unit_bytes: unit, burst_bytes: burst },
            BytesPerSec(rate),
            Ticks(0),
        )
        .unwrap()
    }

    #[test]
    fn config_rules() {
        let ok = PacerConfig::new(TickHz(1), 1);
        assert_eq!(PacerConfig { tick_hz: TickHz(0), ..ok }.validate(), Err(PacerConfigError::TickHzZero));
        assert_eq!(PacerConfig { unit_bytes: 0, ..ok }.validate(), Err(PacerConfigError::UnitZero));
        assert_eq!(PacerConfig { burst_bytes: 0, ..ok }.validate(), Err(PacerConfigError::BurstBelowUnit));
        assert_eq!(ok.validate(), Ok(()));
    }

    #[test]
    fn fractional_intervals_do_not_drift() {
        // 3 B/s in 1-byte units on a 10 Hz clock: an interval is 3.33 ticks.
        let mut p = pacer(3, 1, 2, 10);
        assert!(p.keeps_pace());
        let mut released = 0_u64;
        for tick in 0..=3_000 {
            while p.try_release(Ticks(tick)) == Release::Now {
                released += 1;
            }
        }
        // 300 s at 3 B/s = 900 bytes, plus the full bucket of 2 at t = 0.
        assert_eq!(released, 902);
    }

    #[test]
    fn zero_rate_blocks_and_keeps_its_debt() {
        let mut p = pacer(100, 100, 100, 1);
        assert_eq!(p.try_release(Ticks(0)), Release::Now); // owes one second
        p.set_rate(BytesPerSec(0), Ticks(0));
        assert_eq!(p.try_release(Ticks(50)), Release::Blocked);
        p.set_rate(BytesPerSec(100), Ticks(50));
        // The debt of one unit is still owed: next release a second after the restart.
        assert_eq!(p.try_release(Ticks(50)), Release::NotBefore(Ticks(51)));
    }

    #[test]
    fn idle_time_banks_at_most_the_burst() {
        let mut p = pacer(1, 1, 3, 1);
        let mut at_1000 = 0;
        while p.try_release(Ticks(1_000)) == Release::Now {
            at_1000 += 1;
        }
        assert_eq!(at_1000, 3);
    }

    #[test]
    fn keeps_pace_compares_a_tick_with_the_slack() {
        assert!(pacer(1_000, 100, 200, 10).keeps_pace()); // 100 B per tick, slack 100
        assert!(!pacer(1_001, 100, 200, 10).keeps_pace());
        assert!(pacer(0, 100, 100, 10).keeps_pace());
    }

    #[test]
    fn extremes_saturate_towards_later() {
        // An interval beyond u64 ticks: a unit of 2^40 bytes at 1 B/s on a 2^40 Hz clock.
        let mut p = pacer(1, 1 << 40, 1 << 40, 1 << 40);
        assert_eq!(p.try_release(Ticks(0)), Release::Now);
        assert_eq!(p.try_release(Ticks(u64::MAX - 1)), Release::NotBefore(Ticks::MAX));
        assert!(p.saturations() > 0);
        let mut fast = pacer(u64::MAX, 1, 1, 1);
        assert_eq!(fast.try_release(Ticks(u64::MAX)), Release::Now);
    }

    #[test]
    fn backwards_clock_is_counted_and_ignored() {
        let mut p = pacer(1, 1, 1, 1);
        assert_eq!(p.try_release(Ticks(10)), Release::Now);
        assert_eq!(p.try_release(Ticks(5)), Release::NotBefore(Ticks(11)));
        assert_eq!(p.clock_went_backwards(), 1);
    }
}
