//! Policies: how much of the link a migration round may use.
//!
//! A [`Policy`] answers one question per round: given the link ([`LinkSample`]: capacity and
//! the traffic of everything except this VM), which round this is ([`RoundContext`]: its
//! number, whether it is the first or the stop-and-copy round, and the dirty rates measured
//! so far), how many bytes per second may the migration use? The answer is an
//! [`Allocation`]: the migration rate `E`, the rate `B` left to the guest's own service, the
//! free rate `F = E + B`, and the [`Rule`] that decided it.
//!
//! Every policy keeps two invariants, for every input including the extremes:
//! `E <= F` and `E + B == F`. None of them panics or wraps.
//!
//! The policies:
//! - [`Bda`]: Bandwidth Dynamic Assignment, the paper's rule, made precise.
//! - [`BdaPlus`]: BDA, then guards that keep the migration converging and on time.
//! - [`Pca`]: plain pre-copy, every round at all free bandwidth.
//! - [`Incremental`]: Xen 2.0's dynamic rate limiting (Clark et al., NSDI'05).
//! - [`Static`]: one fixed cap, QEMU's `max-bandwidth`.
//!
//! [`AnyPolicy`] holds any of them, for callers that choose at run time (the C API does).

mod bda;
mod bda_plus;
mod incremental;
mod pca;
mod static_cap;

pub use bda::{Bda, BdaConfig, Coefficients};
pub use bda_plus::{BdaPlus, BdaPlusConfig, Guard, GuardReport, ReserveSource, UnmetAction};
pub use incremental::{Incremental, IncrementalConfig};
pub use pca::Pca;
pub use static_cap::Static;

use crate::error::IncrementalConfigError;
use crate::history::DirtyRates;
use crate::units::{Bytes, BytesPerSec};

/// The state of the link at one moment, as the caller measured it.
///
/// `other_usage` is the traffic of everything on the link except this VM: neither its
/// migration stream nor its own service traffic. A caller that can
/// only measure "everything but the migration" may pass that instead; the reserve BDA keeps
/// for the guest then sits on top of the service's current traffic, which protects the
/// service more and lets the migration converge less.
///
/// `service_reserve` is what to reserve for the VM's own service, learned from its measured
/// traffic by a [`LinkFilter`](crate::LinkFilter); only [`BdaPlus`] configured with
/// [`ReserveSource::ServiceTraffic`] reads it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LinkSample {
    /// `T`: the link's capacity.
    pub capacity: BytesPerSec,
    /// `U_used`: the traffic on the link that is not this VM's.
    pub other_usage: BytesPerSec,
    /// The reserve learned from the VM's service traffic; `None` when it is not measured.
    pub service_reserve: Option<BytesPerSec>,
}

impl LinkSample {
    /// A sample of a link of `capacity` carrying `other_usage` of other traffic, with no
    /// service measurement.
    pub const fn new(capacity: BytesPerSec, other_usage: BytesPerSec) -> Self {
        Self { capacity, other_usage, service_reserve: None }
    }

    /// The same sample with a reserve learned from the VM's service traffic.
    pub const fn with_service_reserve(self, reserve: BytesPerSec) -> Self {
        Self { service_reserve: Some(reserve), ..self }
    }

    /// `F = T - U_used`, the bandwidth left for this VM; zero when the other traffic fills or
    /// exceeds the capacity.
    pub const fn free(&self) -> BytesPerSec {
        self.capacity.saturating_sub(self.other_usage)
    }

    /// Whether the reported usage exceeds the capacity (a measurement problem worth counting:
    /// the free bandwidth was taken as zero).
    pub const fn usage_above_capacity(&self) -> bool {
        self.other_usage.0 > self.capacity.0
    }
}

/// Which kind of round a migration is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RoundKind {
    /// Round 1: all of memory is sent; no dirty rate is known yet.
    First,
    /// A later pre-copy round, while the VM runs: re-sends what was dirtied.
    Live,
    /// The last round: the VM is paused and the rest is sent.
    StopAndCopy,
}

/// What a policy knows about the round it allocates for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RoundContext {
    /// The round number `k`, from 1.
    pub round: u32,
    /// First, live or stop-and-copy.
    pub kind: RoundKind,
    /// The dirty rates measured in the rounds before this one.
    pub dirty: DirtyRates,
    /// The bytes this round has to send: all of memory in round 1, then what the round
    /// before left ([`RoundReport::remaining`](crate::RoundReport::remaining)). At a
    /// [`reassess_with_progress`](crate::Controller::reassess_with_progress): what is left of
    /// the round plus what the guest dirtied since it began.
    pub to_send: Bytes,
    /// Microseconds from the start of round 1 to the start of this round (to now, at a
    /// [`reassess_with_progress`](crate::Controller::reassess_with_progress)).
    pub elapsed_us: u64,
    /// This round's dirty rate so far, when the caller reported what the guest dirtied
    /// since the round began; `None` otherwise.
    pub dirtying: Option<BytesPerSec>,
    /// What the link delivered to the migration against its allocation, at a
    /// [`reassess_with_progress`](crate::Controller::reassess_with_progress): since the
    /// previous one in the round. `None` when a round begins, at the round's first such call,
    /// at a plain [`reassess`](crate::Controller::reassess) and the call after it, and when
    /// no time has passed, nothing went out yet, nothing is left or the round grew.
    pub delivered: Option<Delivery>,
}

/// The migration's rate as the link delivered it, against the rate it was allocated.
///
/// A link can give the migration less than its allocation: the service and other traffic
/// take more than the measured `U_used` says, or the transport cannot fill it. BDA+'s
/// deadline guard, whose promise is a time, then asks for what it needs delivered plus what
/// the link has been failing to deliver ([`Delivery::shortfall`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Delivery {
    /// The migration's allocation over the interval measured.
    pub allocated: BytesPerSec,
    /// The bytes sent over the time they took.
    pub achieved: BytesPerSec,
}

impl Delivery {
    /// How much less than its allocation the link delivered: `allocated - achieved`, or zero
    /// when it delivered to within 1/16 of it (pacing whole pages over a short interval
    /// loses that much with no bottleneck at all).
    ///
    /// ```
    /// use bda_core::{BytesPerSec, Delivery};
    ///
    /// // Allocated 8 MB/s, delivered 5: 3 MB/s short.
    /// let d = Delivery { allocated: BytesPerSec(8_000_000), achieved: BytesPerSec(5_000_000) };
    /// assert_eq!(d.shortfall(), BytesPerSec(3_000_000));
    /// // Within 1/16 (0.5 MB/s) of the allocation: delivered.
    /// let d = Delivery { achieved: BytesPerSec(7_500_000), ..d };
    /// assert_eq!(d.shortfall(), BytesPerSec::ZERO);
    /// ```
    pub const fn shortfall(&self) -> BytesPerSec {
        let short = self.allocated.saturating_sub(self.achieved);
        if short.0 <= self.allocated.0 / 16 { BytesPerSec::ZERO } else { short }
    }
}

impl RoundContext {
    /// The context of round 1 at time zero, with nothing recorded to send (the controller
    /// fills [`to_send`](Self::to_send) with the memory size).
    pub const FIRST: Self = Self {
        round: 1,
        kind: RoundKind::First,
        dirty: DirtyRates::NONE,
        to_send: Bytes::ZERO,
        elapsed_us: 0,
        dirtying: None,
        delivered: None,
    };
}

/// The rule that decided an allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Rule {
    /// BDA's first round: `E = min(E_init, F)`.
    FirstRound = 1,
    /// BDA's middle round: the reserve of equation 4 fits the free bandwidth.
    Reserve = 2,
    /// BDA's correction (equation 5): the reserve of equation 4 exceeded the free bandwidth
    /// and was scaled by the change coefficient `c`.
    Corrected = 3,
    /// BDA's floor raised the migration rate to `min(floor, F)`.
    Floor = 4,
    /// The stop-and-copy round: the VM is paused, so it gets all free bandwidth (BDA, PCA),
    /// its ceiling (Incremental) or runs uncapped (Static, as QEMU does).
    StopAndCopy = 5,
    /// PCA: all free bandwidth.
    AllFree = 6,
    /// Static: the fixed cap.
    FixedCap = 7,
    /// Incremental's first round: the starting rate.
    StartRate = 8,
    /// Incremental: the last dirty rate exceeded the rate, so it was raised.
    Raised = 9,
    /// Incremental: the rate stayed as it was.
    Held = 10,
    /// BDA+'s convergence guard raised the rate to `U / rho_max` (or to `F`).
    ConvergenceGuard = 11,
    /// BDA+'s deadline guard raised the rate to `U + R / T_left` plus the link's shortfall
    /// (or to `F`); under slow-guest, when a guard is unmet, to its drain alone.
    DeadlineGuard = 12,
    /// BDA+ reserved what it learned from the service's measured traffic
    /// ([`ReserveSource::ServiceTraffic`]) instead of equation 4's reserve.
    ServiceReserve = 13,
}

/// What an allocation had to clamp to keep its invariants. Nothing is clamped silently: the
/// controller counts each of these in its [`Telemetry`](crate::Telemetry).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Clamps {
    /// The other traffic was reported above the capacity; the free bandwidth was taken as 0.
    pub usage_above_capacity: bool,
    /// The policy asked for more than the free bandwidth and was cut to it.
    pub cut_to_free: bool,
}

/// One round's division of the free bandwidth.
///
/// Always `migration <= free` and `migration + reserved == free`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Allocation {
    /// `E`: the rate the migration may use.
    pub migration: BytesPerSec,
    /// `B`: the rate left to the guest's service (for BDA, its reserve; for the baselines,
    /// whatever they leave unused).
    pub reserved: BytesPerSec,
    /// `F`: the free bandwidth this allocation divided.
    pub free: BytesPerSec,
    /// The rule that decided `E`.
    pub rule: Rule,
    /// What had to be clamped.
    pub clamps: Clamps,
    /// What a guard of [`BdaPlus`] did, if one needed more than the paper's rate (always
    /// `None` for the other policies).
    pub guard: Option<GuardReport>,
}

impl Allocation {
    /// Gives the migration `wanted`, cut to the free bandwidth of `link` (and says so).
    // Out of line: every policy ends here, and on a 32-bit target its 64-bit compares and
    // subtractions are a good part of each policy's code.
    #[inline(never)]
    pub fn up_to(wanted: BytesPerSec, link: LinkSample, rule: Rule) -> Self {
        let free = link.free();
        let migration = if wanted > free { free } else { wanted };
        Self {
            migration,
            reserved: free.saturating_sub(migration),
            free,
            rule,
            clamps: Clamps { usage_above_capacity: link.usage_above_capacity(), cut_to_free: wanted > free },
            guard: None,
        }
    }
}

/// A bandwidth policy for pre-copy migration.
///
/// The controller calls [`begin_round`](Policy::begin_round) once when a round starts, then
/// [`allocate`](Policy::allocate) at the start and whenever the caller reports new link
/// figures during the round (reassessment). `allocate` must be a pure function of its
/// arguments and of the state `begin_round` left, so that reassessing within a round keeps
/// the round's dirty rates and coefficients.
pub trait Policy {
    /// Updates per-round state when round `ctx.round` begins. Most policies have none.
    fn begin_round(&mut self, ctx: &RoundContext) {
        let _ = ctx;
    }

    /// The allocation for the current round under the link figures `link`.
    fn allocate(&self, ctx: &RoundContext, link: LinkSample) -> Allocation;

    /// Whether the policy's rate already stands at its ceiling (Xen 2.0 stops and copies when
    /// a round at the ceiling sent more than the one before). Policies without a ceiling
    /// answer `false`.
    fn at_ceiling(&self) -> bool {
        false
    }
}

/// Any of the crate's policies, chosen at run time.
///
/// ```
/// use bda_core::{AnyPolicy, BytesPerSec, LinkSample, Policy, RoundContext, Rule};
///
/// let policy = AnyPolicy::Pca(bda_core::Pca);
/// let link = LinkSample::new(BytesPerSec(100), BytesPerSec(30));
/// let allocation = policy.allocate(&RoundContext::FIRST, link);
/// assert_eq!(allocation.migration, BytesPerSec(70));
/// assert_eq!(allocation.rule, Rule::AllFree);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AnyPolicy {
    /// Bandwidth Dynamic Assignment.
    Bda(Bda),
    /// BDA with its convergence and deadline guards.
    BdaPlus(BdaPlus),
    /// Plain pre-copy.
    Pca(Pca),
    /// Xen 2.0's incremental rate limiting.
    Incremental(Incremental),
    /// A fixed cap.
    Static(Static),
}

impl AnyPolicy {
    /// BDA with its default configuration.
    pub fn bda() -> Self {
        Self::Bda(Bda::new(BdaConfig::default()))
    }

    /// Xen 2.0's incremental policy with a validated configuration.
    pub fn incremental(config: IncrementalConfig) -> Result<Self, IncrementalConfigError> {
        Incremental::new(config).map(Self::Incremental)
    }
}

impl Policy for AnyPolicy {
    fn begin_round(&mut self, ctx: &RoundContext) {
        match self {
            Self::Bda(p) => p.begin_round(ctx),
            Self::BdaPlus(p) => p.begin_round(ctx),
            Self::Pca(p) => p.begin_round(ctx),
            Self::Incremental(p) => p.begin_round(ctx),
            Self::Static(p) => p.begin_round(ctx),
        }
    }

    fn allocate(&self, ctx: &RoundContext, link: LinkSample) -> Allocation {
        match self {
            Self::Bda(p) => p.allocate(ctx, link),
            Self::BdaPlus(p) => p.allocate(ctx, link),
            Self::Pca(p) => p.allocate(ctx, link),
            Self::Incremental(p) => p.allocate(ctx, link),
            Self::Static(p) => p.allocate(ctx, link),
        }
    }

    fn at_ceiling(&self) -> bool {
        match self {
            Self::Bda(p) => p.at_ceiling(),
            Self::BdaPlus(p) => p.at_ceiling(),
            Self::Pca(p) => p.at_ceiling(),
            Self::Incremental(p) => p.at_ceiling(),
            Self::Static(p) => p.at_ceiling(),
        }
    }
}
