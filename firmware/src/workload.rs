//! The guest's workload: which pages it writes, and when. Deterministic, so a run can be
//! reproduced, and shared by both environments (the board runs it from its 1 kHz SysTick
//! exception, the host catches it up to the simulated clock).
//!
//! Time is cut into 1 ms slots. In each slot the workload writes `rate / 1000` pages (the
//! fraction carried to the next slot), 90 % of them in a hot set at the start of memory and
//! the rest anywhere, chosen by a xorshift generator.

/// The shape of the guest's writes over time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Pattern {
    /// Dirties a little: 1 % of the nominal rate (an idle guest still ticks).
    Idle,
    /// The nominal rate, all the time.
    Busy,
    /// Five times the nominal rate for the first 200 ms of every second, and the idle rate
    /// for the rest: about the nominal rate on average, in bursts.
    Bursty,
}

impl Pattern {
    /// Every pattern, in the order the board runs them.
    pub const ALL: [Self; 3] = [Self::Idle, Self::Busy, Self::Bursty];

    /// The pattern named `name` (`idle`, `busy`, `bursty`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "idle" => Some(Self::Idle),
            "busy" => Some(Self::Busy),
            "bursty" => Some(Self::Bursty),
            _ => None,
        }
    }

    /// The pattern's name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Busy => "busy",
            Self::Bursty => "bursty",
        }
    }

    /// Pages per second written in the slot starting at millisecond `ms`.
    fn rate(self, nominal: u64, ms: u64) -> u64 {
        let idle = nominal.checked_div(100).unwrap_or(0);
        match self {
            Self::Idle => idle,
            Self::Busy => nominal,
            Self::Bursty if ms.checked_rem(1_000).unwrap_or(0) < 200 => nominal.saturating_mul(5),
            Self::Bursty => idle,
        }
    }
}

/// A guest workload over a memory of `pages` pages.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Workload {
    pattern: Pattern,
    pages: u64,
    hot_pages: u64,
    pages_per_sec: u64,
    /// The next 1 ms slot to run.
    next_ms: u64,
    /// Page writes owed from earlier slots, in thousandths.
    carry: u64,
    rng: u64,
    writes: u32,
}

impl Workload {
    /// A workload of `pattern` over `pages` pages at a nominal `pages_per_sec` writes per
    /// second, 90 % of them into the first `hot_pages` pages (at least one, at most all).
    pub fn new(pattern: Pattern, pages: u64, hot_pages: u64, pages_per_sec: u64) -> Self {
        Self {
            pattern,
            pages: pages.max(1),
            hot_pages: hot_pages.clamp(1, pages.max(1)),
            pages_per_sec,
            next_ms: 0,
            carry: 0,
            rng: 0x9e37_79b9_7f4a_7c15,
            writes: 0,
        }
    }

    /// The pattern.
    pub const fn pattern(&self) -> Pattern {
        self.pattern
    }

    /// Page writes so far.
    pub const fn writes(&self) -> u32 {
        self.writes
    }

    /// Runs every 1 ms slot that starts before millisecond `now_ms`, calling
    /// `write(page, value)` for each page write, `value` a counter distinct for each write.
    pub fn run_until(&mut self, now_ms: u64, mut write: impl FnMut(u64, u32)) {
        while self.next_ms < now_ms {
            self.carry = self.carry.saturating_add(self.pattern.rate(self.pages_per_sec, self.next_ms));
            while self.carry >= 1_000 {
                self.carry = self.carry.saturating_sub(1_000);
                let page = self.pick();
                self.writes = self.writes.wrapping_add(1);
                write(page, self.writes);
            }
            self.next_ms = self.next_ms.saturating_add(1);
        }
    }

    /// A page: in the hot set nine times in ten.
    fn pick(&mut self) -> u64 {
        let hot = self.next_random().checked_rem(10).unwrap_or(0) < 9;
        let range = if hot { self.hot_pages } else { self.pages };
        self.next_random().checked_rem(range).unwrap_or(0)
    }

    /// xorshift64*.
    fn next_random(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 16
    }
}

/// Fills a page with its initial contents: a byte pattern that differs from page to page, so
/// that a page that never reached the destination cannot pass for one that did.
pub fn fill_initial(page: u64, bytes: &mut [u8]) {
    let seed = page.wrapping_mul(0x9e37_79b9);
    for (offset, byte) in bytes.iter_mut().enumerate() {
        let mixed = seed ^ u64::try_from(offset).unwrap_or(0);
        *byte = u8::try_from(mixed & 0xff).unwrap_or(0);
    }
}

/// Applies one workload write to a page: `value` stored in 4 bytes at a slot that moves with
/// each write.
pub fn write_into(page: &mut [u8], value: u32) {
    let slots = page.len() / 4;
    let slot = usize::try_from(value).unwrap_or(0).checked_rem(slots).unwrap_or(0);
    let start = slot.saturating_mul(4);
    if let Some(word) = page.get_mut(start..start.saturating_add(4)) {
        word.copy_from_slice(&value.to_le_bytes());
    }
}

/// Sets page `page`'s bit in a dirty bitmap (bit `page % 64` of word `page / 64`); a page
/// beyond the bitmap is ignored.
pub fn mark_dirty(bitmap: &mut [u64], page: u64) {
    let word = usize::try_from(page / 64).ok().and_then(|w| bitmap.get_mut(w));
    if let Some(word) = word {
        *word |= 1 << (page % 64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writes_in(pattern: Pattern, from_ms: u64, to_ms: u64) -> u32 {
        let mut workload = Workload::new(pattern, 1_000, 100, 10_000);
        workload.run_until(from_ms, |_, _| {});
        let before = workload.writes();
        workload.run_until(to_ms, |page, _| assert!(page < 1_000));
        workload.writes() - before
    }

    #[test]
    fn rates_follow_the_pattern() {
        assert_eq!(writes_in(Pattern::Busy, 0, 1_000), 10_000);
        assert_eq!(writes_in(Pattern::Idle, 0, 1_000), 100);
        // Bursty: 200 ms at 50,000/s, then 800 ms at 100/s.
        assert_eq!(writes_in(Pattern::Bursty, 0, 200), 10_000);
        assert_eq!(writes_in(Pattern::Bursty, 200, 1_000), 80);
        assert_eq!(writes_in(Pattern::Bursty, 1_000, 1_100), 5_000);
    }

    #[test]
    fn most_writes_hit_the_hot_set_and_runs_repeat() {
        let run = || {
            let mut workload = Workload::new(Pattern::Busy, 1_000, 100, 10_000);
            let mut hot = 0;
            let mut sum = 0_u64;
            workload.run_until(1_000, |page, _| {
                hot += u32::from(page < 100);
                sum += page;
            });
            (hot, sum)
        };
        let (hot, sum) = run();
        assert!((8_800..=9_200).contains(&hot), "{hot} of 10,000 writes in the hot set");
        assert_eq!(run().1, sum);
    }

    #[test]
    fn page_helpers() {
        let (mut a, mut b) = ([0_u8; 64], [0_u8; 64]);
        fill_initial(1, &mut a);
        fill_initial(2, &mut b);
        assert_ne!(a, b);
        let before = a;
        write_into(&mut a, 17);
        assert_eq!(a[4..8], 17_u32.to_le_bytes()); // slot 17 % 16 = 1
        assert_eq!(a[8..], before[8..]);
        let mut bitmap = [0_u64; 2];
        mark_dirty(&mut bitmap, 65);
        mark_dirty(&mut bitmap, 128); // beyond: ignored
        assert_eq!(bitmap, [0, 2]);
    }

    #[test]
    fn the_clock_may_stand_still_or_jump() {
        let mut workload = Workload::new(Pattern::Busy, 10, 10, 1_500);
        workload.run_until(1, |_, _| {});
        assert_eq!(workload.writes(), 1); // 1.5 per slot: one now, the half carried
        workload.run_until(1, |_, _| {});
        assert_eq!(workload.writes(), 1);
        workload.run_until(2, |_, _| {});
        assert_eq!(workload.writes(), 3);
        workload.run_until(0, |_, _| {});
        assert_eq!(workload.writes(), 3);
    }
}
