//! Telemetry: counts of everything the kernel clamped, saturated or flagged.
//!
//! The kernel's hot paths cannot fail, so when an input is out of range they saturate and
//! count it here. A caller that reads these counters knows exactly how often it fed the
//! kernel figures that had to be corrected.

/// Counters kept by the [`Controller`](crate::Controller). All saturate at `u32::MAX`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Telemetry {
    /// Allocations made while the reported other traffic exceeded the capacity (the free
    /// bandwidth was taken as zero).
    pub usage_above_capacity: u32,
    /// Allocations in which the policy asked for more than the free bandwidth and was cut.
    pub cut_to_free: u32,
    /// Allocations raised to BDA's floor.
    pub floor_applied: u32,
    /// Rounds that ended in zero ticks with pages dirtied: the dirty rate was unbounded and
    /// was recorded as `BytesPerSec::MAX`.
    pub dirty_rate_unbounded: u32,
    /// Calls whose `now` was earlier than a previous call's; the earlier time was kept.
    pub clock_went_backwards: u32,
    /// Rounds that ended with the non-convergence event raised.
    pub non_convergence_reports: u32,
    /// Calls that reported the stall event.
    pub stall_reports: u32,
    /// Allocations in which a guard of [`BdaPlus`](crate::BdaPlus) took bandwidth from the
    /// paper's reserve.
    pub guard_took_reserve: u32,
    /// Allocations in which a guard needed more than the free bandwidth.
    pub guard_unmet: u32,
}

impl Telemetry {
    pub(crate) fn count(counter: &mut u32, happened: bool) {
        // Without a branch: the shorter form on a small core, and the same count.
        *counter = counter.saturating_add(u32::from(happened));
    }
}
