//! Dirty-rate history: the per-round dirty rates a policy looks back on.
//!
//! Round `k` of a migration needs three numbers from the rounds before it (see
//! [`Bda`](crate::Bda)): the latest dirty rate `r(k-1)`, the one before it `r(k-2)`, and the plain
//! mean `D` of the earlier rates `r(1) .. r(k-2)`. Policies see them as [`DirtyRates`], a
//! small `Copy` summary; a [`RateHistory`] keeps what is needed to produce it, in bounded
//! memory, with an exact running sum:
//!
//! - [`FullHistory`]: `D` is the mean of *all* earlier rates, as in the paper. It keeps the
//!   sum and the count, not the rates, so it costs 48 bytes however long the migration runs.
//!   This is the controller's default.
//! - [`WindowHistory<N>`]: `D` is the mean of the last `N` earlier rates; older ones drop
//!   out, oldest first. It keeps them in a ring ([`heapless::HistoryBuf`]).
//!
//! With `N` at least the controller's round cap the two agree.

use heapless::HistoryBuf;

use crate::units::BytesPerSec;

/// What a policy may know of the dirty rates measured before the current round.
///
/// For round `k`: `latest` is `r(k-1)`, `previous` is `r(k-2)`, and `earlier_mean` is the
/// mean of the earlier rates `r(1) .. r(k-2)` (all of them, or the last `N`), rounded down to
/// whole bytes per second. Fields are `None` when the migration has not run enough rounds to
/// know them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DirtyRates {
    /// `r(k-1)`: the dirty rate measured over the last round.
    pub latest: Option<BytesPerSec>,
    /// `r(k-2)`: the dirty rate measured over the round before that.
    pub previous: Option<BytesPerSec>,
    /// `D`: the mean of the rates before the latest one, rounded down.
    pub earlier_mean: Option<BytesPerSec>,
}

impl DirtyRates {
    /// Nothing measured yet (round 1).
    pub const NONE: Self = Self { latest: None, previous: None, earlier_mean: None };
}

/// A record of per-round dirty rates that can summarise itself for a policy.
pub trait RateHistory {
    /// Appends the dirty rate of the round that just ended.
    fn record(&mut self, rate: BytesPerSec);

    /// The summary a policy reads.
    fn rates(&self) -> DirtyRates;

    /// How many rates have been recorded (saturating at `u32::MAX`).
    fn rounds_recorded(&self) -> u32;
}

/// An exact sum of up to `2^32` values below `2^64`, stored as two `u64` so that the types
/// holding it need no more than 8-byte alignment on any target (a `u128` field is 16-aligned
/// on x86-64 but 8-aligned on Arm, which would make a C header's storage disagree).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Sum {
    low: u64,
    high: u64,
}

impl Sum {
    fn get(self) -> u128 {
        (u128::from(self.high) << 64) | u128::from(self.low)
    }

    fn set(&mut self, sum: u128) {
        self.low = u64::try_from(sum & u128::from(u64::MAX)).unwrap_or(0);
        self.high = u64::try_from(sum >> 64).unwrap_or(u64::MAX);
    }

    /// The mean of `count` values, rounded down; `None` for no values.
    fn mean(self, count: u128) -> Option<BytesPerSec> {
        crate::wide::div(self.get(), count).and_then(|mean| u64::try_from(mean).ok()).map(BytesPerSec)
    }
}

/// The whole history: `D` is the mean of every earlier rate, as in the paper.
///
/// ```
/// use bda_core::{BytesPerSec, FullHistory, RateHistory};
///
/// let mut history = FullHistory::new();
/// for rate in [3, 5, 20, 7] {
///     history.record(BytesPerSec(rate));
/// }
/// let view = history.rates();
/// assert_eq!(view.latest, Some(BytesPerSec(7)));
/// assert_eq!(view.previous, Some(BytesPerSec(20)));
/// assert_eq!(view.earlier_mean, Some(BytesPerSec(9))); // (3 + 5 + 20) / 3, rounded down
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FullHistory {
    latest: Option<BytesPerSec>,
    previous: Option<BytesPerSec>,
    earlier_sum: Sum,
    earlier_count: u32,
    rounds_recorded: u32,
}

impl FullHistory {
    /// An empty history.
    pub const fn new() -> Self {
        Self {
            latest: None,
            previous: None,
            earlier_sum: Sum { low: 0, high: 0 },
            earlier_count: 0,
            rounds_recorded: 0,
        }
    }
}

impl RateHistory for FullHistory {
    fn record(&mut self, rate: BytesPerSec) {
        if let Some(latest) = self.latest {
            // At most 2^32 values below 2^64: far from 2^128.
            self.earlier_sum.set(self.earlier_sum.get().saturating_add(u128::from(latest.0)));
            self.earlier_count = self.earlier_count.saturating_add(1);
        }
        self.previous = self.latest;
        self.latest = Some(rate);
        self.rounds_recorded = self.rounds_recorded.saturating_add(1);
    }

    fn rates(&self) -> DirtyRates {
        DirtyRates {
            latest: self.latest,
            previous: self.previous,
            earlier_mean: self.earlier_sum.mean(u128::from(self.earlier_count)),
        }
    }

    fn rounds_recorded(&self) -> u32 {
        self.rounds_recorded
    }
}

/// A bounded window: `D` is the mean of the last `N` earlier rates (`N` at least 1); when the
/// window is full the oldest rate drops out.
///
/// ```
/// use bda_core::{BytesPerSec, RateHistory, WindowHistory};
///
/// let mut history = WindowHistory::<2>::new();
/// for rate in [3, 5, 20, 7] {
///     history.record(BytesPerSec(rate));
/// }
/// let view = history.rates();
/// assert_eq!(view.latest, Some(BytesPerSec(7)));
/// assert_eq!(view.previous, Some(BytesPerSec(20)));
/// // The window holds the last two earlier rates, 5 and 20.
/// assert_eq!(view.earlier_mean, Some(BytesPerSec(12)));
/// ```
#[derive(Clone, Debug)]
pub struct WindowHistory<const N: usize> {
    latest: Option<BytesPerSec>,
    earlier: HistoryBuf<u64, N>,
    earlier_sum: Sum,
    rounds_recorded: u32,
}

impl<const N: usize> WindowHistory<N> {
    /// An empty history.
    pub const fn new() -> Self {
        Self { latest: None, earlier: HistoryBuf::new(), earlier_sum: Sum { low: 0, high: 0 }, rounds_recorded: 0 }
    }

    /// The earlier rates in the window, oldest first (the latest rate is not among them).
    pub fn earlier_rates(&self) -> impl DoubleEndedIterator<Item = BytesPerSec> + '_ {
        self.earlier.oldest_ordered().copied().map(BytesPerSec)
    }
}

impl<const N: usize> RateHistory for WindowHistory<N> {
    fn record(&mut self, rate: BytesPerSec) {
        if let Some(latest) = self.latest {
            let mut sum = self.earlier_sum.get();
            if self.earlier.is_full()
                && let Some(&oldest) = self.earlier.oldest()
            {
                // The oldest value is part of the sum, so this cannot underflow.
                sum = sum.saturating_sub(u128::from(oldest));
            }
            self.earlier.write(latest.0);
            // At most N values below 2^64 each: far from 2^128.
            self.earlier_sum.set(sum.saturating_add(u128::from(latest.0)));
        }
        self.latest = Some(rate);
        self.rounds_recorded = self.rounds_recorded.saturating_add(1);
    }

    fn rates(&self) -> DirtyRates {
        let count = u128::try_from(self.earlier.len()).unwrap_or(u128::MAX);
        DirtyRates {
            latest: self.latest,
            previous: self.earlier.recent().copied().map(BytesPerSec),
            earlier_mean: self.earlier_sum.mean(count),
        }
    }

    fn rounds_recorded(&self) -> u32 {
        self.rounds_recorded
    }
}

impl<const N: usize> Default for WindowHistory<N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "defmt")]
impl<const N: usize> defmt::Format for WindowHistory<N> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "WindowHistory {{ {}, rounds: {=u32} }}", self.rates(), self.rounds_recorded);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_history_knows_nothing() {
        assert_eq!(WindowHistory::<4>::new().rates(), DirtyRates::default());
        assert_eq!(FullHistory::new().rates(), DirtyRates::default());
    }

    #[test]
    fn full_history_averages_every_earlier_rate() {
        let mut history = FullHistory::new();
        for r in [100, 1, 2, 3] {
            history.record(BytesPerSec(r));
        }
        let rates = history.rates();
        assert_eq!((rates.latest, rates.previous), (Some(BytesPerSec(3)), Some(BytesPerSec(2))));
        assert_eq!(rates.earlier_mean, Some(BytesPerSec(34))); // (100 + 1 + 2) / 3 = 34.3
        assert_eq!(history.rounds_recorded(), 4);
        let mut top = FullHistory::new();
        for _ in 0..20 {
            top.record(BytesPerSec::MAX);
        }
        assert_eq!(top.rates().earlier_mean, Some(BytesPerSec::MAX));
    }

    #[test]
    fn one_round_gives_only_the_latest() {
        let mut history = WindowHistory::<4>::new();
        history.record(BytesPerSec(3));
        let rates = history.rates();
        assert_eq!(rates.latest, Some(BytesPerSec(3)));
        assert_eq!(rates.previous, None);
        assert_eq!(rates.earlier_mean, None);
    }

    #[test]
    fn mean_of_earlier_rates_rounds_down() {
        let mut history = WindowHistory::<4>::new();
        for r in [3, 4, 20] {
            history.record(BytesPerSec(r));
        }
        let rates = history.rates();
        assert_eq!(rates.latest, Some(BytesPerSec(20)));
        assert_eq!(rates.previous, Some(BytesPerSec(4)));
        assert_eq!(rates.earlier_mean, Some(BytesPerSec(3))); // (3 + 4) / 2 = 3.5
    }

    #[test]
    fn full_window_drops_the_oldest() {
        let mut history = WindowHistory::<2>::new();
        for r in [100, 1, 2, 3] {
            history.record(BytesPerSec(r));
        }
        // Earlier window holds 1 and 2; 100 dropped out.
        assert_eq!(history.rates().earlier_mean, Some(BytesPerSec(1)));
        assert_eq!(history.earlier_rates().map(|r| r.0).collect::<heapless::Vec<u64, 2>>(), [1, 2]);
        assert_eq!(history.rounds_recorded(), 4);
    }

    #[test]
    fn sum_is_exact_at_the_top_of_the_range() {
        let mut history = WindowHistory::<8>::new();
        for _ in 0..20 {
            history.record(BytesPerSec::MAX);
        }
        history.record(BytesPerSec(0));
        assert_eq!(history.rates().earlier_mean, Some(BytesPerSec::MAX));
        history.record(BytesPerSec(0));
        // Seven u64::MAX and one 0: mean is 7/8 of u64::MAX, rounded down.
        assert_eq!(history.rates().earlier_mean, Some(BytesPerSec(u64::MAX / 8 * 7 + 6)));
    }
}
