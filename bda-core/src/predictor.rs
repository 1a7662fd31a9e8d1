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
        // The thresholds as bit-sliced constants, once per round.
        let min_dirty_rounds = Threshold::new(self.min_dirty_rounds);
        let max_deferrals = Threshold::new(self.max_deferrals);
        // The last word's pages: all 64 when `pages` is a multiple of 64, else the low
        // `pages % 64` bits, that is `u64::MAX` shifted right by `(64 - pages % 64) % 64`.
        let last_word_mask = u64::MAX >> (self.pages.wrapping_neg() % 64);
        let mut plan = PredictorPlan::default();
        // `stride >= history_rounds >= 1` always; `max` and `min` say so in a form the
        // optimiser can see, so no panic path of `chunks_exact_mut` or `split_at_mut` is
        // left in the code (the C library's no-panic link check found both).
        let words = storage.chunks_exact_mut(stride.max(1)).zip(dirty).zip(send.iter_mut());
        let last_index = needed.saturating_sub(1);
        for (index, ((planes, &dirty_word), send_word)) in words.enumerate() {
            let mask = if index == last_index { last_word_mask } else { u64::MAX };
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
            let count = counters_of(counters);
            let deferred = match round {
                PredictorRound::StopAndCopy => 0,
                PredictorRound::Live => {
                    let likely = min_dirty_rounds.lanes_reached(count_lanes(history));
                    let may_wait = !max_deferrals.lanes_reached(count);
                    dirtied & likely & may_wait
                }
            };
            *send_word = (dirtied | pending) & !deferred;
            increment_lanes(counters, count, deferred);
            // Each page counts at most once in each sum, so neither passes `pages`: no wrap.
            plan.send.0 = plan.send.0.wrapping_add(pages_in(*send_word));
            plan.deferred.0 = plan.deferred.0.wrapping_add(pages_in(deferred));
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

/// A number of up to four bits (at most 15) as four lane masks, least significant first:
/// `u64::MAX` where the number has a one.
#[derive(Clone, Copy)]
struct Threshold([u64; COUNT_PLANES]);

impl Threshold {
    fn new(value: u8) -> Self {
        Self(core::array::from_fn(|bit| {
            let set = u32::try_from(bit).ok().and_then(|b| value.checked_shr(b)).unwrap_or(0) & 1;
            u64::from(set).wrapping_neg()
        }))
    }

    /// The lanes whose bit-sliced number in `planes` (least significant plane first) is at
    /// least this threshold: a comparison from the top bit down, all 64 lanes at once.
    // Out of line on 32-bit targets, where each 64-bit step is two and it has two callers.
    #[cfg_attr(not(target_pointer_width = "64"), inline(never))]
    #[cfg_attr(target_pointer_width = "64", inline)]
    fn lanes_reached(self, [p0, p1, p2, p3]: [u64; COUNT_PLANES]) -> u64 {
        let [v0, v1, v2, v3] = self.0;
        // `greater`: lanes already above the threshold; `equal`: lanes equal to it so far.
        // Written out: a loop over the four planes is left rolled at `opt-level = "s"`.
        let (greater, equal) = (p3 & !v3, !(p3 ^ v3));
        let (greater, equal) = (greater | (equal & p2 & !v2), equal & !(p2 ^ v2));
        let (greater, equal) = (greater | (equal & p1 & !v1), equal & !(p1 ^ v1));
        greater | (equal & p0 & !v0) | (equal & !(p0 ^ v0))
    }
}

/// The counter planes of a word (fewer than [`COUNT_PLANES`] when `K` is short), zero-padded.
fn counters_of(counters: &[u64]) -> [u64; COUNT_PLANES] {
    let plane = |index: usize| counters.get(index).copied().unwrap_or(0);
    [plane(0), plane(1), plane(2), plane(3)]
}

/// `(a + b + c)` per lane as a sum bit and a carry bit (a full adder, 64 lanes at once).
fn full_add(a: u64, b: u64, c: u64) -> (u64, u64) {
    let partial = a ^ b;
    (partial ^ c, (a & b) | (partial & c))
}

/// Counts, for each of 64 lanes, in how many of the (at most eight) `planes` its bit is set:
/// the result's plane `j` holds bit `j` of each lane's count.
fn count_lanes(planes: &[u64]) -> [u64; COUNT_PLANES] {
    // A tree of adders takes a third of the ripple's instructions where a 64-bit word is
    // one register; on 32-bit targets (thumbv7em) the ripple's loop takes 450 bytes less
    // flash. Both give the same counts (tested).
    if cfg!(target_pointer_width = "64") { count_lanes_tree(planes) } else { count_lanes_ripple(planes) }
}

/// [`count_lanes`] as a carry-save tree of seven full adders: about 30 word operations.
fn count_lanes_tree(planes: &[u64]) -> [u64; COUNT_PLANES] {
    // Missing planes (H < 8) count as clean rounds.
    let planes: [u64; 8] = match <&[u64; 8]>::try_from(planes) {
        Ok(all) => *all,
        Err(_) => core::array::from_fn(|index| planes.get(index).copied().unwrap_or(0)),
    };
    let [p0, p1, p2, p3, p4, p5, p6, p7] = planes;
    let (ones_a, twos_a) = full_add(p0, p1, p2);
    let (ones_b, twos_b) = full_add(p3, p4, p5);
    let (ones_c, twos_c) = full_add(ones_a, ones_b, p6);
    let (ones, twos_d) = full_add(ones_c, p7, 0);
    let (twos_e, fours_a) = full_add(twos_a, twos_b, twos_c);
    let (twos, fours_b) = full_add(twos_e, twos_d, 0);
    let (fours, eights) = full_add(fours_a, fours_b, 0);
    [ones, twos, fours, eights]
}

/// [`count_lanes`] as a bit-sliced ripple-carry adder: each plane is added to the count.
fn count_lanes_ripple(planes: &[u64]) -> [u64; COUNT_PLANES] {
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

/// Adds one to the bit-sliced counters (`count`, as read from `planes`) of the lanes in
/// `lanes`, clears all other lanes, and writes the planes back.
fn increment_lanes(planes: &mut [u64], [c0, c1, c2, c3]: [u64; COUNT_PLANES], lanes: u64) {
    // A ripple-carry increment, written out (see `Threshold::lanes_reached`); a plane past
    // the counter's `C` is not written.
    let mut write = |index: usize, sum: u64| {
        if let Some(plane) = planes.get_mut(index) {
            *plane = sum & lanes;
        }
    };
    write(0, c0 ^ lanes);
    let carry = lanes & c0;
    write(1, c1 ^ carry);
    let carry = carry & c1;
    write(2, c2 ^ carry);
    write(3, c3 ^ (carry & c2));
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
        let at_least = |value| Threshold::new(value).lanes_reached(count) & 0b111;
        assert_eq!(at_least(3), 0b011);
        assert_eq!(at_least(4), 0b010);
        assert_eq!(at_least(8), 0b010);
        assert_eq!(at_least(9), 0b000);
        assert_eq!(Threshold::new(0).lanes_reached(count), u64::MAX);
        // Fewer than eight planes: the missing ones are clean.
        assert_eq!(Threshold::new(2).lanes_reached(count_lanes(&[0b1])), 0);
        assert_eq!(Threshold::new(1).lanes_reached(count_lanes(&[0b1])) & 0b11, 0b1);
    }

    #[test]
    fn the_tree_and_the_ripple_count_alike() {
        // Planes where lane j is set in plane i when bit i of j is: all 256 histories of
        // eight rounds across four words, then every shorter history.
        for word in 0..4_u64 {
            let planes: [u64; 8] = core::array::from_fn(|plane| {
                (0..64).filter(|lane| (word * 64 + lane) >> plane & 1 == 1).fold(0, |acc, lane| acc | 1 << lane)
            });
            for rounds in 0..=8 {
                let (tree, ripple) = (count_lanes_tree(&planes[..rounds]), count_lanes_ripple(&planes[..rounds]));
                assert_eq!(tree, ripple, "word {word}, {rounds} rounds");
                for lane in 0..64 {
                    let count = (0..4).map(|bit| (tree[bit] >> lane & 1) << bit).sum::<u64>();
                    assert_eq!(count, u64::from(((word * 64 + lane) & ((1 << rounds) - 1)).count_ones()));
                }
            }
        }
    }

    #[test]
    fn counters_increment_and_reset() {
        let mut planes = [0_u64; 2];
        let increment = |planes: &mut [u64; 2], lanes| {
            let count = counters_of(planes);
            increment_lanes(planes, count, lanes);
        };
        increment(&mut planes, 0b11);
        increment(&mut planes, 0b01);
        assert_eq!(planes, [0b00, 0b01]); // lane 0 = 2, lane 1 reset
        increment(&mut planes, 0b01);
        assert_eq!(planes, [0b01, 0b01]); // lane 0 = 3
        assert_eq!(Threshold::new(3).lanes_reached(counters_of(&planes)), 0b01);
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
