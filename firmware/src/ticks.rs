//! A narrow hardware counter extended to the `u64` ticks the kernel wants.
//!
//! bda-core's pacer and controller take time as a `u64` tick count that never wraps. A
//! Cortex-M's SysTick is a 24-bit *down*-counter that reloads from `RVR` when it passes zero
//! (and DWT's cycle counter is a 32-bit up-counter); at 25 MHz SysTick wraps within 0.68 s.
//! The firmware extends it the usual way:
//!
//! - the SysTick exception, taken at each reload, adds one to a `u64` count of *periods*;
//! - a reading is `periods * (reload + 1) + (reload - current)`.
//!
//! The one subtlety is a reload that happens between reading `periods` and reading the
//! counter: with interrupts masked the exception waits, pending. So the board reads both
//! inside a critical section, then checks whether SysTick is pending; if it is, it reads the
//! counter again and counts one period more ([`DownCounter::ticks`] does the arithmetic;
//! the board's `now()` does the reading). A `u64` of 25 MHz ticks lasts 23,000 years.

use bda_core::Ticks;

/// The arithmetic of a down-counter that reloads from `reload` after reaching zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DownCounter {
    reload: u32,
}

impl DownCounter {
    /// A counter that counts `reload, reload - 1, ..., 0, reload, ...`: a period of
    /// `reload + 1` ticks. `None` for a reload of 0 (SysTick then never counts).
    pub const fn new(reload: u32) -> Option<Self> {
        if reload == 0 { None } else { Some(Self { reload }) }
    }

    /// The reload value.
    pub const fn reload(&self) -> u32 {
        self.reload
    }

    /// Ticks per period (`reload + 1`).
    pub fn period(&self) -> u64 {
        u64::from(self.reload).saturating_add(1)
    }

    /// The extended time after `periods` complete periods, with the counter now at
    /// `current`. A `current` above the reload (impossible on hardware) counts as the reload.
    /// Saturates at [`Ticks::MAX`].
    pub fn ticks(&self, periods: u64, current: u32) -> Ticks {
        let into_period = u64::from(self.reload.saturating_sub(current));
        Ticks(periods.saturating_mul(self.period()).saturating_add(into_period))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_through_wraps_without_going_back() {
        // A 3-tick counter (reload 2): 2, 1, 0, 2, 1, 0, ...
        let counter = DownCounter::new(2).unwrap();
        let mut last = None;
        let mut periods = 0;
        for step in 0..30_u32 {
            let current = 2 - step % 3;
            if step > 0 && current == 2 {
                periods += 1; // the reload's exception ran
            }
            let now = counter.ticks(periods, current);
            assert_eq!(now, Ticks(u64::from(step)));
            if let Some(last) = last {
                assert!(now > last);
            }
            last = Some(now);
        }
    }

    #[test]
    fn systick_at_25_mhz_and_the_edges() {
        // SysTick's 24 bits, reloading every millisecond at 25 MHz.
        let counter = DownCounter::new(24_999).unwrap();
        assert_eq!(counter.period(), 25_000);
        assert_eq!(counter.ticks(1_000, 24_999), Ticks(25_000_000));
        assert_eq!(counter.ticks(0, 0), Ticks(24_999));
        assert_eq!(counter.ticks(0, u32::MAX), Ticks(0));
        assert_eq!(counter.ticks(u64::MAX, 0), Ticks::MAX);
        assert_eq!(DownCounter::new(0), None);
        assert_eq!(DownCounter::new(0x00ff_ffff).unwrap().period(), 1 << 24);
    }
}
