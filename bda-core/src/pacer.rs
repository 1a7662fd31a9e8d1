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
//!
//! # The per-page path
//!
//! The pacer does not store the TAT itself but the quantity its check compares with:
//! `TAT - remainder(tolerance) / rate`, rounded up to a whole tick (the *due tick* `E`) with
//! the exact distance below it (the *deficit*, in `1/rate` of a tick). A unit conforms at
//! `now` when `E - now <= whole ticks of the tolerance`, the tick it may go is
//! `E - whole ticks of the tolerance`, and a sender still behind its schedule (`now < E`, or
//! `now == E` with the deficit within the tolerance's remainder: the TAT is at or after
//! `now`) moves it on by one interval: a subtraction with a borrow for the remainder and an
//! addition for the ticks. Everything else — a sender back from idle, a zero rate, a
//! saturated schedule, a clock that went backwards — takes a separate, cold path.

use crate::error::PacerConfigError;
use crate::units::{BytesPerSec, TickHz, Ticks};
use crate::wide::{div_rem, mul};

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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Span {
    ticks: u64,
    remainder: u64,
}

/// When the next unit is due: `TAT - tolerance.remainder / rate = tick - deficit / rate`,
/// with `deficit < rate` (the due tick `E` of the module docs and its deficit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Due {
    tick: u64,
    deficit: u64,
}

impl Due {
    /// No unit goes on the per-page path from tick `tick` on: the deficit exceeds any
    /// tolerance remainder, so even `now == tick` takes the cold path.
    const fn closed(tick: u64) -> Self {
        Self { tick, deficit: u64::MAX }
    }
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
    /// One unit's interval at the rate. A zero rate has none, and these two words keep the
    /// debt it carries into the next rate instead ([`Pacer::debt_at`]).
    interval: Span,
    /// How far the TAT may run ahead of now: `(burst - unit)` at the rate.
    tolerance: Span,
    /// The most ticks the due tick may lie ahead of `now` for a unit to go: the tolerance's
    /// whole ticks, or 0 while none can go (rate zero, or a saturated schedule).
    window: u64,
    /// When the next unit is due; [`Due::closed`] while none can go.
    due: Due,
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
            window: 0,
            due: Due::closed(0),
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
        let debt = self.debt_at(now.0);
        self.rate = rate.0;
        if rate.0 == 0 {
            self.interval = Span {
                ticks: u64::try_from(debt >> 64).unwrap_or(u64::MAX),
                remainder: u64::try_from(debt & u128::from(u64::MAX)).unwrap_or(u64::MAX),
            };
            self.window = 0;
            self.due = Due::closed(0);
            return;
        }
        let interval = self.span(mul(self.config.unit_bytes, self.config.tick_hz.0));
        // An interval past the end of the clock: adding it must overflow whatever the due
        // tick, so that the unit after the next saturates (a remainder of `u64::MAX` always
        // borrows a tick).
        self.interval =
            if interval.ticks == u64::MAX { Span { ticks: u64::MAX, remainder: u64::MAX } } else { interval };
        let slack = self.config.burst_bytes.saturating_sub(self.config.unit_bytes);
        self.tolerance = self.span(mul(slack, self.config.tick_hz.0));
        self.window = self.tolerance.ticks;
        let wait = self.span(debt);
        self.schedule(now.0, wait);
    }

    /// Whether one unit may go at `now`, and if so counts it as released. If not, says from
    /// which tick it may (ask again then) — or that the rate is zero.
    #[inline]
    pub fn try_release(&mut self, now: Ticks) -> Release {
        if now < self.last_now {
            return self.release_after_backwards_clock();
        }
        self.last_now = now;
        self.release_at(now.0)
    }

    /// Like [`try_release`](Self::try_release) but releases nothing.
    #[inline]
    pub fn next_release(&self, now: Ticks) -> Release {
        if !self.behind_schedule(now.0) {
            return self.answer_after_due();
        }
        // `now <= E` here: the lead does not wrap.
        if self.due.tick.wrapping_sub(now.0) > self.window { self.waiting() } else { Release::Now }
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

    /// [`try_release`](Self::try_release) at a `now` that did not go backwards.
    // Inline where it is a few instructions; out of line on 32-bit targets, where its 64-bit
    // arithmetic is long and the backwards-clock path would hold a second copy.
    #[cfg_attr(target_pointer_width = "64", inline)]
    #[cfg_attr(not(target_pointer_width = "64"), inline(never))]
    fn release_at(&mut self, now: u64) -> Release {
        if !self.behind_schedule(now) {
            return self.release_after_due(now);
        }
        // `now <= E` here: the lead does not wrap.
        if self.due.tick.wrapping_sub(now) > self.window {
            return self.waiting();
        }
        self.advance();
        Release::Now
    }

    /// Whether the TAT lies at or after `now`, so that a release moves it on by one interval:
    /// `now < E`, or `now == E` with the deficit within the tolerance's remainder (a sender
    /// exactly on time). Otherwise the pacer was idle, or no unit can go.
    #[inline]
    fn behind_schedule(&self, now: u64) -> bool {
        now < self.due.tick || (now == self.due.tick && self.due.deficit <= self.tolerance.remainder)
    }

    /// The answer when the due tick lies more than the window ahead of now: the earliest
    /// tick `n` with `E - n <= window`. (A closed schedule of a zero rate has `E = 0`, so it
    /// never gets here.)
    fn waiting(&self) -> Release {
        // `E - now > window`, so this does not wrap.
        Release::NotBefore(Ticks(self.due.tick.wrapping_sub(self.window)))
    }

    /// The answer after the TAT: at a zero rate, with a saturated schedule, or after an idle
    /// spell.
    #[cold]
    #[inline(never)]
    fn answer_after_due(&self) -> Release {
        if self.rate == 0 {
            Release::Blocked
        } else if self.due.tick == u64::MAX {
            Release::NotBefore(Ticks::MAX) // saturated: never
        } else {
            Release::Now
        }
    }

    /// [`try_release`](Self::try_release) after the TAT.
    #[cold]
    #[inline(never)]
    fn release_after_due(&mut self, now: u64) -> Release {
        let answer = self.answer_after_due();
        if answer == Release::Now {
            // An idle pacer does not bank credit beyond the burst: start from now.
            self.schedule(now, self.interval);
        }
        answer
    }

    /// [`try_release`](Self::try_release) at a `now` earlier than an earlier call's: counted,
    /// and the later time kept.
    #[cold]
    #[inline(never)]
    fn release_after_backwards_clock(&mut self) -> Release {
        self.clock_went_backwards = self.clock_went_backwards.saturating_add(1);
        self.release_at(self.last_now.0)
    }

    /// Moves the TAT on by one interval.
    #[inline]
    fn advance(&mut self) {
        let Due { tick, deficit } = self.due;
        let moved = match deficit.checked_sub(self.interval.remainder) {
            Some(deficit) => tick.checked_add(self.interval.ticks).map(|tick| Due { tick, deficit }),
            // The deficit stays below the rate: a borrow takes one tick's worth back.
            None => tick.checked_add(self.interval.ticks).and_then(|tick| tick.checked_add(1)).map(|tick| Due {
                tick,
                deficit: deficit.wrapping_sub(self.interval.remainder).wrapping_add(self.rate),
            }),
        };
        match moved {
            Some(due) => self.due = due,
            None => self.saturate(),
        }
    }

    /// Sets the TAT to `start + span`.
    fn schedule(&mut self, start: u64, span: Span) {
        let tolerance_remainder = self.tolerance.remainder;
        // E = start + span.ticks + ceil((span.remainder - tolerance.remainder) / rate), a
        // fraction in (-1, 1) when both remainders are below the rate.
        let (round_up, deficit) = if span.remainder > tolerance_remainder {
            (1, self.rate.saturating_sub(span.remainder.saturating_sub(tolerance_remainder)))
        } else {
            (0, tolerance_remainder.saturating_sub(span.remainder))
        };
        // A due tick of `u64::MAX` is past the end of the clock too.
        match start.checked_add(span.ticks).and_then(|tick| tick.checked_add(round_up)) {
            Some(tick) if tick < u64::MAX => self.due = Due { tick, deficit },
            _ => self.saturate(),
        }
    }

    /// The schedule has run past the end of the `u64` clock: never, from now on.
    #[cold]
    #[inline(never)]
    fn saturate(&mut self) {
        self.saturations = self.saturations.saturating_add(1);
        self.due = Due::closed(u64::MAX);
        self.window = 0;
    }

    /// The bytes x tick_hz the sender still owes at `now` (zero when the bucket is full).
    fn debt_at(&self, now: u64) -> u128 {
        if self.rate == 0 {
            return (u128::from(self.interval.ticks) << 64) | u128::from(self.interval.remainder);
        }
        // A schedule past the end of the clock owes more than any rate can repay in it.
        if self.due.tick == u64::MAX {
            return u128::MAX;
        }
        // TAT - now = (E - now) + (tolerance.remainder - deficit) / rate; nothing past E.
        self.due.tick.checked_sub(now).map_or(0, |lead| {
            // Below (2^64 - 1)^2 + 2^64: the sum fits a u128.
            mul(lead, self.rate)
                .wrapping_add(u128::from(self.tolerance.remainder))
                .saturating_sub(u128::from(self.due.deficit))
        })
    }

    /// `scaled / rate` ticks as a [`Span`], for a rate above zero.
    fn span(&mut self, scaled: u128) -> Span {
        let rate = u128::from(self.rate);
        let (ticks, remainder) = div_rem(scaled, rate).unwrap_or((u128::MAX, 0));
        match u64::try_from(ticks) {
            Ok(ticks) => Span { ticks, remainder: u64::try_from(remainder).unwrap_or(0) },
            Err(_) => {
                self.saturations = self.saturations.saturating_add(1);
                Span { ticks: u64::MAX, remainder: 0 }
            }
        }
    }

    /// `now`, or the latest earlier `now` if the clock went backwards (counted).
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
