//! The PPC page predictor: pre-copy with probability prediction.
//!
//! Pre-copy re-sends every page dirtied in the last round, and a page the guest writes all
//! the time is sent again and again for nothing. The predictor holds such pages back:
//!
//! - each page keeps whether it was dirtied in each of the last `H` rounds (default 8);
//! - its estimated probability of being dirtied again is the share of those `H` rounds in
//!   which it was dirty (rounds before the migration count as clean, so early rounds defer
//!   nothing until a page has earned it);
//! - a page dirtied in the last round is *deferred* instead of sent when that estimate is at
//!   least a threshold (default 1/2) and it has been deferred fewer than `K` consecutive
//!   rounds (default 3); a deferred page stays *pending*;
//! - a pending page that was not dirtied again is sent in the next round, and the
//!   stop-and-copy round sends every pending page. Nothing is lost.
//!
//! # Storage: bit-sliced, caller-provided
//!
//! The predictor allocates nothing; the caller gives it a `&mut [u64]` of
//! [`Predictor::storage_words`] words. For each group of 64 pages (one word of the dirty
//! bitmap) the storage holds `H` *history planes* — plane `i` is the dirty bitmap of one of
//! the last `H` rounds, a ring whose oldest plane the newest round overwrites — and `C`
//! *counter planes*, the bits of each page's consecutive-deferral count (`C` is the bit
//! length of `K`: 2 for the default `K = 3`). So the default costs 10 bits per page, and a
//! round's history "shift" is one store per word.
//!
//! All 64 pages of a word are decided at once with word-wide logic (a bit-sliced adder
//! counts each page's dirty rounds). A word with no dirty and no pending page costs a few
//! instructions in all.

use crate::error::{PredictorConfigError, PredictorError};
use crate::units::{Pages, Share};

/// The settings of a [`Predictor`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PredictorConfig {
    /// `H`: how many rounds of dirty history each page keeps, `1..=8` (default 8).
    pub history_rounds: u8,
    /// The estimated probability at or above which a dirty page is deferred (default 1/2).
    /// [`Share::ZERO`] defers every dirty page up to the deferral limit.
    pub threshold: Share,
    /// `K`: the most consecutive rounds a page may be deferred, `0..=15` (default 3; 0 turns
    /// the predictor off: every dirty page is sent).
    pub max_consecutive_deferrals: u8,
}

impl Default for PredictorConfig {
    fn default() -> Self {
        Self { history_rounds: 8, threshold: Share::HALF, max_consecutive_deferrals: 3 }
    }
}

/// Which round the predictor plans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PredictorRound {
    /// A live pre-copy round: likely pages may be deferred.
    Live,
    /// The stop-and-copy round: every dirty and every pending page is sent.
    StopAndCopy,
}

/// What a round's plan sends and holds back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PredictorPlan {
    /// Pages marked in the send bitmap.
    pub send: Pages,
    /// Pages deferred in this round (all of them pending after it).
    pub deferred: Pages,
}

/// The PPC page predictor for one VM's memory.
///
/// Call [`plan_round`](Self::plan_round) once per round from round 2 on (round 1 sends all
/// of memory), with the dirty bitmap gathered while the previous round ran.
///
/// ```
/// use bda_core::{Predictor, PredictorConfig, PredictorRound};
///
/// let predictor_config = PredictorConfig::default();
/// let mut predictor = Predictor::new(predictor_config, 128).unwrap();
/// let mut storage = [0_u64; 20];
/// assert_eq!(predictor.storage_words(), 20);
/// predictor.init_storage(&mut storage).unwrap();
///
/// // Page 0 is written every round, page 1 once.
/// let mut send = [0_u64; 2];
/// for round in 2..=6 {
///     let dirty = if round == 2 { [0b11, 0] } else { [0b01, 0] };
///     let plan = predictor.plan_round(&mut storage, &dirty, &mut send, PredictorRound::Live).unwrap();
///     if round < 5 {
///         assert_eq!(send[0], dirty[0]); // not enough history yet: send what was dirtied
///     } else {
///         assert_eq!((send[0], plan.deferred.0), (0, 1)); // page 0 is dirty 4 of 8 rounds: deferred
///     }
/// }
/// let plan = predictor.plan_round(&mut storage, &[0, 0], &mut send, PredictorRound::StopAndCopy).unwrap();
/// assert_eq!((send[0], plan.send.0), (0b01, 1)); // the pending page goes at the end
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Predictor {
    pages: u64,
    words: usize,
    history_rounds: u8,
    counter_planes: u8,
    min_dirty_rounds: u8,
    max_deferrals: u8,
    cursor: u8,
}

/// Bit planes needed to count a page's dirty rounds (at most 8).
const COUNT_PLANES: usize = 4;

impl Predictor {
    /// A predictor for a memory of `pages` pages, or the first rule `config` breaks.
    pub fn new(config: PredictorConfig, pages: u64) -> Result<Self, PredictorConfigError> {
        if !(1..=8).contains(&config.history_rounds) {
            return Err(PredictorConfigError::HistoryRoundsOutOfRange);
        }
        if config.max_consecutive_deferrals > 15 {
            return Err(PredictorConfigError::MaxDeferralsOutOfRange);
        }
        if pages == 0 {
            return Err(PredictorConfigError::PagesZero);
        }
        let words = usize::try_from(pages.div_ceil(64)).map_err(|_| PredictorConfigError::TooManyPages)?;
        // K <= 15 and H <= 8: the narrowing conversions below cannot fail.
        let counter_planes =
            u8::try_from(u8::BITS.saturating_sub(config.max_consecutive_deferrals.leading_zeros())).unwrap_or(4);
        // The fewest dirty rounds out of H whose share reaches the threshold (compared as
        // stored shares, so 3/5 meets a threshold of 0.6 exactly).
        let min_dirty_rounds = (0..=config.history_rounds)
            .find(|&rounds| {
                Share::from_ratio(u64::from(rounds), u64::from(config.history_rounds))
                    .is_some_and(|share| share >= config.threshold)
            })
            .unwrap_or(config.history_rounds);
        Ok(Self {
            pages,
            words,
            history_rounds: config.history_rounds,
            counter_planes,
            min_dirty_rounds,
            max_deferrals: config.max_consecutive_deferrals,
            cursor: 0,
        })
    }

    /// The number of pages.
    pub const fn pages(&self) -> u64 {
        self.pages
    }

    /// Words in a dirty or send bitmap: one per 64 pages.
    pub const fn bitmap_words(&self) -> usize {
        self.words
    }

    /// Words of storage the predictor needs: `H + C` per 64 pages.
    pub fn storage_words(&self) -> usize {
        self.words.saturating_mul(usize::from(self.stride()))
    }

    /// Clears the storage (no history, nothing pending). Call once before round 2.
    pub fn init_storage(&self, storage: &mut [u64]) -> Result<(), PredictorError> {
        let needed = self.storage_words();
        let words = storage.get_mut(..needed).ok_or(PredictorError::StorageTooShort { needed })?;
        words.fill(0);
        Ok(())
    }

    /// Decides which pages this round sends.
    ///
    /// `dirty` has a bit set for each page dirtied while the previous round ran (page `p` is
    /// bit `p % 64` of word `p / 64`); bits past the last page are ignored. `send` receives
    /// the pages to send this round; words past [`bitmap_words`](Self::bitmap_words) are
    /// left alone. On error nothing is written.
    pub fn plan_round(
        &mut self,
        storage: &mut [u64],
        dirty: &[u64],
        send: &mut [u64],
        round: PredictorRound,
    ) -> Result<PredictorPlan, PredictorError> {
        let needed = self.words;
        let storage = storage
            .get_mut(..self.storage_words())
            .ok_or(PredictorError::StorageTooShort { needed: self.storage_words() })?;
        let dirty = dirty.get(..needed).ok_or(PredictorError::DirtyBitmapTooShort { needed })?;
        let send = send.get_mut(..needed).ok_or(PredictorError::SendBitmapTooShort { needed })?;

        let stride = usize::from(self.stride());
        let history_rounds = usize::from(self.history_rounds);
        let cursor = usize::from(self.cursor);
        // The last word's pages: all 64 when `pages` is a multiple of 64, else the low
        // `pages % 64` bits, that is `u64::MAX` shifted right by `(64 - pages % 64) % 64`.
        let last_word_mask = u64::MAX >> (self.pages.wrapping_neg() % 64);
        let mut plan = PredictorPlan::default();
        // `stride >= history_rounds >= 1` always; `max` and `min` say so in a form the
        // optimiser can see, so no panic path of `chunks_exact_mut` or `split_at_mut` is
        // left in the code (the C library's no-panic link check found both).
        let words = storage.chunks_exact_mut(stride.max(1)).zip(dirty).zip(send.iter_mut()).enumerate();
        for (index, ((planes, &dirty_word), send_word)) in words {
            let mask = if index.saturating_add(1) == needed { last_word_mask } else { u64::MAX };
            let dirtied = dirty_word & mask;
            let (history, counters) = planes.split_at_mut(history_rounds.min(planes.len()));
            // The newest round replaces the oldest in the ring of history planes.
            if let Some(plane) = history.get_mut(cursor) {
                *plane = dirtied;
            }
            let pending = counters.iter().fold(0, |acc, plane| acc | plane);
            if dirtied | pending == 0 {
                *send_word = 0;
                continue;
            }
            let deferred = match round {
                PredictorRound::StopAndCopy => 0,
                PredictorRound::Live => {
                    let likely = lanes_at_least(&count_lanes(history), self.min_dirty_rounds);
                    let may_wait = !lanes_at_least(counters, self.max_deferrals);
                    dirtied & likely & may_wait
                }
            };
            *send_word = (dirtied | pending) & !deferred;
            increment_lanes(counters, deferred);
            plan.send.0 = plan.send.0.saturating_add(pages_in(*send_word));
            plan.deferred.0 = plan.deferred.0.saturating_add(pages_in(deferred));
        }
        self.cursor = self.cursor.saturating_add(1).checked_rem(self.history_rounds).unwrap_or(0);
        Ok(plan)
    }

    fn stride(&self) -> u8 {
        self.history_rounds.saturating_add(self.counter_planes)
    }
}

/// The pages marked in a word of a bitmap.
// Out of line on 32-bit targets: without a population-count instruction each count takes
// two dozen instructions, and the loop counts twice. 64-bit targets have the instruction.
#[cfg_attr(not(target_pointer_width = "64"), inline(never))]
fn pages_in(word: u64) -> u64 {
    u64::from(word.count_ones())
}

/// Counts, for each of 64 lanes, in how many of `planes` its bit is set: the result's plane
/// `j` holds bit `j` of each lane's count (a bit-sliced ripple-carry adder).
fn count_lanes(planes: &[u64]) -> [u64; COUNT_PLANES] {
    let mut count = [0_u64; COUNT_PLANES];
    for &plane in planes {
        let mut carry = plane;
        for bit in &mut count {
            let next_carry = *bit & carry;
            *bit ^= carry;
            carry = next_carry;
        }
    }
    count
}

/// The lanes whose bit-sliced number in `planes` (least significant plane first) is at
/// least `value`.
fn lanes_at_least(planes: &[u64], value: u8) -> u64 {
    let mut greater = 0_u64;
    let mut equal = u64::MAX;
    for (bit, &plane) in planes.iter().enumerate().rev() {
        let value_bit = u32::try_from(bit).ok().and_then(|b| value.checked_shr(b)).unwrap_or(0) & 1;
        if value_bit == 1 {
            equal &= plane;
        } else {
            greater |= equal & plane;
            equal &= !plane;
        }
    }
    // Bits of `value` above the planes' width make it larger than any lane.
    let width = u32::try_from(planes.len()).unwrap_or(u32::MAX);
    if value.checked_shr(width).unwrap_or(0) != 0 {
        return 0;
    }
    greater | equal
}

/// Adds one to the bit-sliced counters of the lanes in `lanes` and clears all other lanes.
fn increment_lanes(planes: &mut [u64], lanes: u64) {
    let mut carry = lanes;
    for plane in planes {
        let next_carry = *plane & carry;
        *plane = (*plane ^ carry) & lanes;
        carry = next_carry;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_is_met_by_the_equal_share() {
        let config = |h, ppm| PredictorConfig {
            history_rounds: h,
            threshold: Share::from_ppm(ppm).unwrap(),
            ..PredictorConfig::default()
        };
        assert_eq!(Predictor::new(config(5, 600_000), 1).unwrap().min_dirty_rounds, 3);
        assert_eq!(Predictor::new(config(5, 600_001), 1).unwrap().min_dirty_rounds, 4);
        assert_eq!(Predictor::new(config(8, 500_000), 1).unwrap().min_dirty_rounds, 4);
        assert_eq!(Predictor::new(config(8, 0), 1).unwrap().min_dirty_rounds, 0);
        assert_eq!(Predictor::new(config(8, 1_000_000), 1).unwrap().min_dirty_rounds, 8);
    }

    #[test]
    fn bit_sliced_counting() {
        // Lane 0 set in 3 planes, lane 1 in 8, lane 2 in none.
        let planes = [0b011, 0b011, 0b011, 0b010, 0b010, 0b010, 0b010, 0b010];
        let count = count_lanes(&planes);
        assert_eq!(lanes_at_least(&count, 3) & 0b111, 0b011);
        assert_eq!(lanes_at_least(&count, 4) & 0b111, 0b010);
        assert_eq!(lanes_at_least(&count, 8) & 0b111, 0b010);
        assert_eq!(lanes_at_least(&count, 9) & 0b111, 0b000);
        assert_eq!(lanes_at_least(&count, 0), u64::MAX);
        assert_eq!(lanes_at_least(&[0b1], 2), 0);
    }

    #[test]
    fn counters_increment_and_reset() {
        let mut planes = [0_u64; 2];
        increment_lanes(&mut planes, 0b11);
        increment_lanes(&mut planes, 0b01);
        assert_eq!(planes, [0b00, 0b01]); // lane 0 = 2, lane 1 reset
        increment_lanes(&mut planes, 0b01);
        assert_eq!(planes, [0b01, 0b01]); // lane 0 = 3
        assert_eq!(lanes_at_least(&planes, 3), 0b01);
    }

    #[test]
    fn config_rules() {
        let bad_h = PredictorConfig { history_rounds: 9, ..PredictorConfig::default() };
        assert_eq!(Predictor::new(bad_h, 1), Err(PredictorConfigError::HistoryRoundsOutOfRange));
        let zero_h = PredictorConfig { history_rounds: 0, ..PredictorConfig::default() };
        assert_eq!(Predictor::new(zero_h, 1), Err(PredictorConfigError::HistoryRoundsOutOfRange));
        let bad_k = PredictorConfig { max_consecutive_deferrals: 16, ..PredictorConfig::default() };
        assert_eq!(Predictor::new(bad_k, 1), Err(PredictorConfigError::MaxDeferralsOutOfRange));
        assert_eq!(Predictor::new(PredictorConfig::default(), 0), Err(PredictorConfigError::PagesZero));
        let p = Predictor::new(PredictorConfig::default(), 65).unwrap();
        assert_eq!((p.bitmap_words(), p.storage_words()), (2, 20));
        let k15 = PredictorConfig { max_consecutive_deferrals: 15, ..PredictorConfig::default() };
        assert_eq!(Predictor::new(k15, 64).unwrap().storage_words(), 12);
        let off = PredictorConfig { max_consecutive_deferrals: 0, ..PredictorConfig::default() };
        assert_eq!(Predictor::new(off, 64).unwrap().storage_words(), 8);
    }

    #[test]
    fn short_buffers_are_refused_and_nothing_is_written() {
        let mut p = Predictor::new(PredictorConfig::default(), 100).unwrap();
        let mut storage = [0_u64; 20];
        let mut send = [7_u64; 2];
        assert_eq!(
            p.plan_round(&mut storage[..19], &[1, 1], &mut send, PredictorRound::Live),
            Err(PredictorError::StorageTooShort { needed: 20 })
        );
        assert_eq!(
            p.plan_round(&mut storage, &[1], &mut send, PredictorRound::Live),
            Err(PredictorError::DirtyBitmapTooShort { needed: 2 })
        );
        assert_eq!(
            p.plan_round(&mut storage, &[1, 1], &mut send[..1], PredictorRound::Live),
            Err(PredictorError::SendBitmapTooShort { needed: 2 })
        );
        assert_eq!(send, [7, 7]);
        assert_eq!(storage, [0; 20]);
    }

    #[test]
    fn bits_past_the_last_page_are_ignored() {
        let mut p = Predictor::new(PredictorConfig::default(), 70).unwrap();
        let mut storage = [0_u64; 20];
        let mut send = [0_u64; 2];
        let plan = p.plan_round(&mut storage, &[u64::MAX, u64::MAX], &mut send, PredictorRound::Live).unwrap();
        assert_eq!(send, [u64::MAX, 0b11_1111]);
        assert_eq!(plan.send, Pages(70));
    }

    #[test]
    fn deferral_is_bounded_by_k() {
        let config = PredictorConfig { history_rounds: 2, threshold: Share::HALF, max_consecutive_deferrals: 2 };
        let mut p = Predictor::new(config, 1).unwrap();
        let mut storage = [0_u64; 4];
        let mut send = [0_u64; 1];
        // Always dirty: deferred twice, sent once, deferred twice, ...
        let mut sent = [0_u64; 7];
        for s in &mut sent {
            p.plan_round(&mut storage, &[1], &mut send, PredictorRound::Live).unwrap();
            *s = send[0];
        }
        assert_eq!(sent, [0, 0, 1, 0, 0, 1, 0]);
    }

    #[test]
    fn zero_deferrals_sends_every_dirty_page() {
        let config =
            PredictorConfig { max_consecutive_deferrals: 0, threshold: Share::ZERO, ..PredictorConfig::default() };
        let mut p = Predictor::new(config, 64).unwrap();
        let mut storage = [0_u64; 8];
        let mut send = [0_u64; 1];
        for _ in 0..10 {
            p.plan_round(&mut storage, &[0xF0F0], &mut send, PredictorRound::Live).unwrap();
            assert_eq!(send[0], 0xF0F0);
        }
    }
}
