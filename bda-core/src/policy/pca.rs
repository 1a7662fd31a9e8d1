//! PCA: plain pre-copy, Xen's default — every round at all the free bandwidth.

use super::{Allocation, LinkSample, Policy, RoundContext, RoundKind, Rule};

/// Plain pre-copy: each round takes all the free bandwidth `F`; it reserves nothing for the
/// guest's service.
///
/// ```
/// use bda_core::{BytesPerSec, LinkSample, Pca, Policy, RoundContext};
/// let a = Pca.allocate(&RoundContext::FIRST, LinkSample::new(BytesPerSec(10), BytesPerSec(4)));
/// assert_eq!((a.migration, a.reserved), (BytesPerSec(6), BytesPerSec(0)));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Pca;

impl Policy for Pca {
    fn allocate(&self, ctx: &RoundContext, link: LinkSample) -> Allocation {
        let rule = match ctx.kind {
            RoundKind::StopAndCopy => Rule::StopAndCopy,
            RoundKind::First | RoundKind::Live => Rule::AllFree,
        };
        Allocation::up_to(link.free(), link, rule)
    }
}
