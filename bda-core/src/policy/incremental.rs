//! Incremental: Xen 2.0's dynamic rate limiting (Clark et al., NSDI'05; `xc_linux_save.c`).
//!
//! Round 1 runs at a starting rate. After a round whose dirty rate exceeded the current
//! rate, the rate becomes that dirty rate plus a fixed increment, capped at a ceiling;
//! otherwise it stays. The stop-and-copy round runs at the ceiling. The rate is the
//! policy's own and ignores the link; the allocation cuts it to the free bandwidth.

use crate::error::IncrementalConfigError;
use crate::units::BytesPerSec;

use super::{Allocation, LinkSample, Policy, RoundContext, RoundKind, Rule};

/// The settings of [`Incremental`]; the defaults are Xen 2.0's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct IncrementalConfig {
    /// The first round's rate (default 100 Mbit/s).
    pub start: BytesPerSec,
    /// What is added to the last dirty rate when it exceeded the rate (default 50 Mbit/s).
    pub increment: BytesPerSec,
    /// The highest rate, also the stop-and-copy round's (default 500 Mbit/s).
    pub ceiling: BytesPerSec,
}

impl Default for IncrementalConfig {
    fn default() -> Self {
        Self {
            start: BytesPerSec::from_mbit_per_sec(100),
            increment: BytesPerSec::from_mbit_per_sec(50),
            ceiling: BytesPerSec::from_mbit_per_sec(500),
        }
    }
}

/// Xen 2.0's incremental rate limiting.
///
/// ```
/// use bda_core::{BytesPerSec, DirtyRates, Incremental, IncrementalConfig, LinkSample, Policy,
///                RoundContext, RoundKind, Rule};
///
/// let mut xen = Incremental::new(IncrementalConfig::default()).unwrap();
/// let link = LinkSample::new(BytesPerSec::from_gbit_per_sec(1), BytesPerSec(0));
/// xen.begin_round(&RoundContext::FIRST);
/// assert_eq!(xen.allocate(&RoundContext::FIRST, link).migration, BytesPerSec::from_mbit_per_sec(100));
///
/// // Round 1 dirtied at 120 Mbit/s, above the rate: round 2 runs at 120 + 50.
/// let round_2 = RoundContext {
///     round: 2,
///     kind: RoundKind::Live,
///     dirty: DirtyRates { latest: Some(BytesPerSec::from_mbit_per_sec(120)), ..DirtyRates::NONE },
///     ..RoundContext::FIRST
/// };
/// xen.begin_round(&round_2);
/// let a = xen.allocate(&round_2, link);
/// assert_eq!((a.migration, a.rule), (BytesPerSec::from_mbit_per_sec(170), Rule::Raised));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Incremental {
    config: IncrementalConfig,
    rate: BytesPerSec,
    rule: Rule,
}

impl Incremental {
    /// The policy, or an error if the starting rate is above the ceiling.
    pub fn new(config: IncrementalConfig) -> Result<Self, IncrementalConfigError> {
        if config.start > config.ceiling {
            return Err(IncrementalConfigError::StartAboveCeiling);
        }
        Ok(Self { config, rate: config.start, rule: Rule::StartRate })
    }

    /// The settings.
    pub const fn config(&self) -> &IncrementalConfig {
        &self.config
    }

    /// The policy's current rate, before any cut to the free bandwidth.
    pub const fn rate(&self) -> BytesPerSec {
        self.rate
    }
}

impl Policy for Incremental {
    fn begin_round(&mut self, ctx: &RoundContext) {
        (self.rate, self.rule) = match ctx.kind {
            RoundKind::First => (self.config.start, Rule::StartRate),
            RoundKind::StopAndCopy => (self.config.ceiling, Rule::StopAndCopy),
            RoundKind::Live => match ctx.dirty.latest {
                Some(dirty) if dirty > self.rate => {
                    (dirty.saturating_add(self.config.increment).min(self.config.ceiling), Rule::Raised)
                }
                _ => (self.rate, Rule::Held),
            },
        };
    }

    fn allocate(&self, _ctx: &RoundContext, link: LinkSample) -> Allocation {
        Allocation::up_to(self.rate, link, self.rule)
    }

    fn at_ceiling(&self) -> bool {
        self.rate >= self.config.ceiling
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::DirtyRates;

    fn live(latest: u64) -> RoundContext {
        RoundContext {
            round: 2,
            kind: RoundKind::Live,
            dirty: DirtyRates { latest: Some(BytesPerSec(latest)), ..DirtyRates::NONE },
            ..RoundContext::FIRST
        }
    }

    fn xen() -> Incremental {
        Incremental::new(IncrementalConfig {
            start: BytesPerSec(100),
            increment: BytesPerSec(50),
            ceiling: BytesPerSec(500),
        })
        .unwrap()
    }

    #[test]
    fn raises_only_when_the_dirty_rate_exceeded_the_rate() {
        let link = LinkSample::new(BytesPerSec(1_000), BytesPerSec(0));
        let mut p = xen();
        p.begin_round(&RoundContext::FIRST);
        assert_eq!(p.allocate(&RoundContext::FIRST, link).rule, Rule::StartRate);
        p.begin_round(&live(100)); // equal: not exceeded
        assert_eq!((p.rate(), p.allocate(&live(100), link).rule), (BytesPerSec(100), Rule::Held));
        p.begin_round(&live(300));
        assert_eq!((p.rate(), p.allocate(&live(300), link).rule), (BytesPerSec(350), Rule::Raised));
        p.begin_round(&live(20)); // falls: the rate stays
        assert_eq!(p.rate(), BytesPerSec(350));
        assert!(!p.at_ceiling());
        p.begin_round(&live(480));
        assert_eq!(p.rate(), BytesPerSec(500));
        assert!(p.at_ceiling());
        p.begin_round(&live(u64::MAX));
        assert_eq!(p.rate(), BytesPerSec(500));
    }

    #[test]
    fn stop_and_copy_runs_at_the_ceiling_cut_to_free() {
        let stop = RoundContext { kind: RoundKind::StopAndCopy, ..live(0) };
        let mut p = xen();
        p.begin_round(&stop);
        let a = p.allocate(&stop, LinkSample::new(BytesPerSec(1_000), BytesPerSec(0)));
        assert_eq!((a.migration, a.reserved, a.rule), (BytesPerSec(500), BytesPerSec(500), Rule::StopAndCopy));
        let a = p.allocate(&stop, LinkSample::new(BytesPerSec(300), BytesPerSec(0)));
        assert_eq!((a.migration, a.reserved), (BytesPerSec(300), BytesPerSec(0)));
        assert!(a.clamps.cut_to_free);
    }

    #[test]
    fn start_above_ceiling_is_refused() {
        let config =
            IncrementalConfig { start: BytesPerSec(2), ceiling: BytesPerSec(1), ..IncrementalConfig::default() };
        assert_eq!(Incremental::new(config), Err(IncrementalConfigError::StartAboveCeiling));
    }
}
