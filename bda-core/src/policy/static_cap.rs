//! Static: one fixed cap for the whole migration, QEMU's `max-bandwidth`.

use crate::units::BytesPerSec;

use super::{Allocation, LinkSample, Policy, RoundContext, RoundKind, Rule};

/// A fixed cap on every pre-copy round, as QEMU's `max-bandwidth` parameter sets (its
/// default is 128 MiB/s). The stop-and-copy round runs uncapped at all free bandwidth, as
/// QEMU's does.
///
/// ```
/// use bda_core::{BytesPerSec, LinkSample, Policy, RoundContext, Static};
/// let qemu = Static::QEMU_DEFAULT;
/// let a = qemu.allocate(&RoundContext::FIRST, LinkSample::new(BytesPerSec::MAX, BytesPerSec(0)));
/// assert_eq!(a.migration, BytesPerSec(128 << 20));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Static {
    /// The cap on the migration rate in every round but the last.
    pub cap: BytesPerSec,
}

impl Static {
    /// QEMU's default `max-bandwidth`: 128 MiB/s.
    pub const QEMU_DEFAULT: Self = Self { cap: BytesPerSec(128 << 20) };

    /// A cap of `cap`.
    pub const fn new(cap: BytesPerSec) -> Self {
        Self { cap }
    }
}

impl Policy for Static {
    fn allocate(&self, ctx: &RoundContext, link: LinkSample) -> Allocation {
        match ctx.kind {
            RoundKind::StopAndCopy => Allocation::up_to(link.free(), link, Rule::StopAndCopy),
            RoundKind::First | RoundKind::Live => Allocation::up_to(self.cap, link, Rule::FixedCap),
        }
    }
}
