//! Dirty-rate history: the per-round dirty rates a policy looks back on.
//!
//! Round `k` of a migration needs three numbers from the rounds before it (DESIGN.md
//! section 2): the latest dirty rate `r(k-1)`, the one before it `r(k-2)`, and the plain
//! mean `D` of the earlier rates `r(1) .. r(k-2)`. [`DirtyRateHistory`] keeps them in bounded
//! memory: the latest rate on its own, and up to `N` earlier rates in a ring
//! ([`heapless::HistoryBuf`]) with an exact running sum. When the ring is full the oldest
//! earlier rate drops out of the mean, so `D` is the mean of the last `N` earlier rates; with
//! `N` at least the controller's round cap it is the mean of all of them, as in the paper.
//!
//! Policies see the history through [`DirtyRates`], a small `Copy` summary.

use heapless::HistoryBuf;

use crate::units::BytesPerSec;

/// What a policy may know of the dirty rates measured before the current round.
///
/// For round `k`: `latest` is `r(k-1)`, `previous` is `r(k-2)`, and `earlier_mean` is the
/// mean of `r(1) .. r(k-2)` (or of the last `N` of them), rounded down to whole bytes per
/// second. Fields are `None` when the migration has not run enough rounds to know them.
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

/// A bounded window of per-round dirty rates with an exact running mean.
///
/// `N` (at least 1) bounds how many rates before the latest one are averaged; older rates
/// drop out, oldest first. The running sum is exact (128 bits, stored as two `u64` so the
/// type needs no more than 8-byte alignment on any target).
///
/// ```
/// use bda_core::{BytesPerSec, DirtyRateHistory};
///
/// let mut history = DirtyRateHistory::<2>::new();
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
pub struct DirtyRateHistory<const N: usize> {
    latest: Option<u64>,
    earlier: HistoryBuf<u64, N>,
    earlier_sum_low: u64,
    earlier_sum_high: u64,
    rounds_recorded: u32,
}

impl<const N: usize> DirtyRateHistory<N> {
    /// An empty history.
    pub const fn new() -> Self {
        Self { latest: None, earlier: HistoryBuf::new(), earlier_sum_low: 0, earlier_sum_high: 0, rounds_recorded: 0 }
    }

    /// Appends the dirty rate of the round that just ended.
    pub fn record(&mut self, rate: BytesPerSec) {
        if let Some(latest) = self.latest {
            let mut sum = self.earlier_sum();
            if self.earlier.is_full()
                && let Some(&oldest) = self.earlier.oldest()
            {
                // The oldest value is part of the sum, so this cannot underflow.
                sum = sum.saturating_sub(u128::from(oldest));
            }
            self.earlier.write(latest);
            // At most N values below 2^64 each: far from 2^128.
            sum = sum.saturating_add(u128::from(latest));
            self.set_earlier_sum(sum);
        }
        self.latest = Some(rate.0);
        self.rounds_recorded = self.rounds_recorded.saturating_add(1);
    }

    /// The summary a policy reads.
    pub fn rates(&self) -> DirtyRates {
        let count = u128::try_from(self.earlier.len()).unwrap_or(u128::MAX);
        let earlier_mean =
            self.earlier_sum().checked_div(count).and_then(|mean| u64::try_from(mean).ok()).map(BytesPerSec);
        DirtyRates {
            latest: self.latest.map(BytesPerSec),
            previous: self.earlier.recent().copied().map(BytesPerSec),
            earlier_mean,
        }
    }

    /// How many rates have been recorded since the history was created (saturating).
    pub const fn rounds_recorded(&self) -> u32 {
        self.rounds_recorded
    }

    /// How many earlier rates the mean covers now (at most `N`).
    pub fn earlier_len(&self) -> usize {
        self.earlier.len()
    }

    /// The earlier rates in the window, oldest first (the latest rate is not among them).
    pub fn earlier_rates(&self) -> impl DoubleEndedIterator<Item = BytesPerSec> + '_ {
        self.earlier.oldest_ordered().copied().map(BytesPerSec)
    }

    /// Forgets every recorded rate.
    pub fn clear(&mut self) {
        *self = Self::new();
    }

    fn earlier_sum(&self) -> u128 {
        (u128::from(self.earlier_sum_high) << 64) | u128::from(self.earlier_sum_low)
    }

    fn set_earlier_sum(&mut self, sum: u128) {
        self.earlier_sum_low = u64::try_from(sum & u128::from(u64::MAX)).unwrap_or(0);
        self.earlier_sum_high = u64::try_from(sum >> 64).unwrap_or(u64::MAX);
    }
}

impl<const N: usize> Default for DirtyRateHistory<N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "defmt")]
impl<const N: usize> defmt::Format for DirtyRateHistory<N> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "DirtyRateHistory {{ {}, rounds: {=u32} }}", self.rates(), self.rounds_recorded);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_history_knows_nothing() {
        let history = DirtyRateHistory::<4>::new();
        assert_eq!(history.rates(), DirtyRates::default());
    }

    #[test]
    fn one_round_gives_only_the_latest() {
        let mut history = DirtyRateHistory::<4>::new();
        history.record(BytesPerSec(3));
        let rates = history.rates();
        assert_eq!(rates.latest, Some(BytesPerSec(3)));
        assert_eq!(rates.previous, None);
        assert_eq!(rates.earlier_mean, None);
    }

    #[test]
    fn mean_of_earlier_rates_rounds_down() {
        let mut history = DirtyRateHistory::<4>::new();
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
        let mut history = DirtyRateHistory::<2>::new();
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
        let mut history = DirtyRateHistory::<8>::new();
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
