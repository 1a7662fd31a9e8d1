//! BDA+: the paper's BDA, then guards that keep a migration converging and on time.
//!
//! The paper's reserve follows the dirty rate (equation 4 puts `B` between `(U + D)/2` and
//! `max(U, D)`), so `E = F - B` falls below the dirty rate `U` as soon as `U` is above about
//! half the free bandwidth, and pre-copy then never converges, exactly where plain
//! pre-copy still would. BDA+ computes the paper's allocation and then raises `E` where a
//! guard needs more, taking the difference from the reserve, never going above `F`:
//!
//! 1. **Convergence guard**: `E >= min(F, ceil(U / rho_max))`. Each round re-sends what the
//!    round before dirtied, and that set shrinks by the ratio `U / E` per round; the guard
//!    keeps the ratio at or below `rho_max`.
//! 2. **Deadline guard** (off by default): with a total-time target, `R` bytes still to send
//!    and `T_left` time left, the fluid model has the outstanding bytes shrink at `E - U`,
//!    so `E >= min(F, U + ceil(R / T_left))`. `R` and `T_left` are taken when the round
//!    starts, and again at each [`reassess_with_progress`](crate::Controller::reassess_with_progress)
//!    (what is left of the round plus what the guest dirtied meanwhile), so a round that
//!    falls behind asks for more; so does one whose link delivers less than its allocation
//!    (the [`Delivery::shortfall`](crate::Delivery::shortfall) is asked for on top). `T_left`
//!    runs to two thirds of the deadline, the last third kept for what the fluid model
//!    leaves out (once the two thirds are past, it plans to be done in half the time left to
//!    the deadline); round 1, while it knows no dirty rate, aims to end by
//!    `deadline * (1 - max(rho_max, 1/2))` and leaves the rest to the rounds after it. A link that caps the migration below the need makes the asked
//!    rate climb at each reassessment, by the shortfall seen, until it is unmet: it cannot be
//!    met on that link.
//! 3. The paper's floor (it comes with the underlying [`BdaConfig`]).
//!
//! The reserve itself is the paper's equation 4 or, by default, one learned from the
//! service's own measured traffic ([`ReserveSource`]; the paper's when none is measured).
//! Round 1 reserves `first_round_reserve` for the service (the service's traffic measured
//! before the migration starts, or a configured figure): the paper reserves nothing there,
//! although round 1 sends all of memory and is most of the migration's time.
//!
//! When `F` itself is below what a guard needs, nothing is decided silently: the allocation
//! carries a [`GuardReport`] with the rate that would be needed, and [`UnmetAction`] says
//! what was done about it — take all of `F` from the reserve, keep the reserve and ask the
//! caller to slow the guest (QEMU's auto-converge or dirty-limit), or abort (the controller
//! aborts the migration).

use crate::error::BdaPlusConfigError;
use crate::units::{BytesPerSec, Share};

use super::bda::apply_floor;
use super::{Allocation, Bda, BdaConfig, LinkSample, Policy, RoundContext, RoundKind, Rule};

/// A guard of [`BdaPlus`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Guard {
    /// The convergence guard: `E >= U / rho_max`.
    Convergence = 1,
    /// The deadline guard: `E >= U + R / T_left`.
    Deadline = 2,
}

/// What [`BdaPlus`] does when the free bandwidth is below what a guard needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum UnmetAction {
    /// Give the migration all of `F`: the whole reserve goes (the default).
    #[default]
    TakeReserve = 1,
    /// Keep the paper's reserve and ask the caller to slow the guest until the guard can hold
    /// (QEMU's auto-converge or dirty-limit are the real-world means). Slowing the guest
    /// removes the dirty rate's part of a need, not the deadline guard's drain (the bytes
    /// already outstanding over the time left, `R / T_left`, plus what the link fell short of
    /// delivering): the reserve still gives way to the drain, and only to it, whichever
    /// guard needs more.
    SlowGuest = 2,
    /// Give up: the controller aborts the migration.
    Abort = 3,
}

/// Where [`BdaPlus`]'s reserve for the service comes from, before the guards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum ReserveSource {
    /// The paper's equation 4: the dirty rate as a proxy for the service's demand.
    DirtyRate = 1,
    /// What a [`LinkFilter`](crate::LinkFilter) learned from the service's own measured
    /// traffic ([`LinkSample::service_reserve`]), in every round but stop-and-copy, round 1
    /// included (at least `first_round_reserve` there). A sample without it falls back to
    /// the paper's reserve, so this default changes nothing for a caller that does not
    /// measure the service. Don't combine it with a `U_used` that already counts the
    /// service's traffic: the reserve would then be counted twice.
    ///
    /// The default, from the simulator's trade-off experiment (`bda-sim tradeoff`, 1 GiB,
    /// 10 seeds): with a service that bursts above its fair share of the link, learning from
    /// its traffic cut its shortfall from 36 % to 8-11 % in every workload, where the
    /// paper's dirty-rate reserve left it at 36 %; with a steady service it wasted nothing.
    #[default]
    ServiceTraffic = 2,
}

/// What a guard did to an allocation, carried in [`Allocation::guard`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GuardReport {
    /// The guard that needed the most.
    pub guard: Guard,
    /// The migration rate that guard needs, rounded up and saturating at
    /// [`BytesPerSec::MAX`]; may be above the free bandwidth. The deadline guard's includes
    /// what the link fell short of delivering ([`Delivery::shortfall`](crate::Delivery::shortfall)).
    pub needed: BytesPerSec,
    /// How much of the paper's reserve the guard took for the migration: the service's
    /// shortfall against the paper's reserve.
    pub reserve_taken: BytesPerSec,
    /// `Some` when the free bandwidth is below `needed`: the action taken.
    pub unmet: Option<UnmetAction>,
}

/// The settings of [`BdaPlus`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BdaPlusConfig {
    /// The paper's rule underneath: its first-round rate, floor and coefficients.
    pub bda: BdaConfig,
    /// The reserve kept for the service in round 1 (`None`, as in the paper: nothing). The
    /// floor still applies.
    pub first_round_reserve: Option<BytesPerSec>,
    /// `rho_max`, the largest accepted ratio of dirty rate to migration rate, in `(0, 1]`
    /// (default 1/2: the dirty set at least halves each round); `None` turns the convergence
    /// guard off.
    pub max_dirty_ratio: Option<Share>,
    /// The target total migration time from the start of round 1, in microseconds; `None`
    /// (the default) turns the deadline guard off.
    pub deadline_us: Option<u64>,
    /// What to do when the free bandwidth is below what a guard needs.
    pub on_unmet: UnmetAction,
    /// Where the reserve comes from before the guards (default: the paper's equation 4).
    pub reserve: ReserveSource,
}

impl Default for BdaPlusConfig {
    fn default() -> Self {
        Self {
            bda: BdaConfig::default(),
            first_round_reserve: None,
            max_dirty_ratio: Some(Share::HALF),
            deadline_us: None,
            on_unmet: UnmetAction::TakeReserve,
            reserve: ReserveSource::ServiceTraffic,
        }
    }
}

impl BdaPlusConfig {
    /// Checks every rule; returns the first broken one.
    pub fn validate(&self) -> Result<(), BdaPlusConfigError> {
        if self.max_dirty_ratio == Some(Share::ZERO) {
            return Err(BdaPlusConfigError::DirtyRatioZero);
        }
        if self.deadline_us == Some(0) {
            return Err(BdaPlusConfigError::DeadlineZero);
        }
        Ok(())
    }
}

/// BDA+: the paper's BDA with a convergence guard, an optional deadline guard and a
/// first-round reserve.
///
/// # Rounding
///
/// The guards' rates are rounded up (`ceil(U / rho_max)`, `U + ceil(R * 10^6 / T_left_us)`),
/// saturating at `u64::MAX`, and the deadline guard's planned end is rounded down to the
/// microsecond, so a guard never asks for less than the exact value; the allocation then
/// cuts them to `F`.
///
/// # Degenerate cases
///
/// - Round 1 has no dirty rate: only the deadline guard applies there, with `U = 0`.
/// - The stop-and-copy round gets all of `F`, as in the paper; no guard applies.
/// - Past the planned end (two thirds of the deadline) the deadline guard plans to be done in
///   half the time left to the deadline; past the deadline (`T_left = 0`) bytes still to
///   send need an unbounded rate (the guard is unmet), and nothing to send needs none.
/// - An unbounded dirty rate ([`BytesPerSec::MAX`]) makes the convergence guard unmet.
///
/// # Example: the guard where the paper's BDA stalls
///
/// ```
/// use bda_core::{BdaPlus, BdaPlusConfig, BytesPerSec, DirtyRates, Guard, LinkSample, Policy,
///                RoundContext, RoundKind, Rule};
///
/// let policy = BdaPlus::new(BdaPlusConfig::default()).unwrap();
/// // 100 Mbit/s free; the guest dirtied 7 MB/s in the last round and 6 MB/s before.
/// let link = LinkSample::new(BytesPerSec(12_500_000), BytesPerSec(0));
/// let ctx = RoundContext {
///     round: 3,
///     kind: RoundKind::Live,
///     dirty: DirtyRates {
///         latest: Some(BytesPerSec(7_000_000)),
///         previous: Some(BytesPerSec(6_000_000)),
///         earlier_mean: Some(BytesPerSec(6_000_000)),
///     },
///     ..RoundContext::FIRST
/// };
/// // The paper reserves (49 + 36)/13 = 6.54 MB/s, leaving 5.96 MB/s < U: no convergence.
/// // The guard raises E to U / (1/2) = 14 MB/s, cut to F: the whole link.
/// let a = policy.allocate(&ctx, link);
/// assert_eq!((a.rule, a.migration), (Rule::ConvergenceGuard, BytesPerSec(12_500_000)));
/// let report = a.guard.unwrap();
/// assert_eq!((report.guard, report.needed), (Guard::Convergence, BytesPerSec(14_000_000)));
/// assert!(report.unmet.is_some()); // F < 14 MB/s: reported, never silent
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BdaPlus {
    bda: Bda,
    /// Zero when there is none.
    first_round_reserve: BytesPerSec,
    /// `Share::ZERO` when the guard is off (zero is refused as a setting).
    max_dirty_ratio: Share,
    /// Zero when the guard is off (zero is refused as a setting).
    deadline_us: u64,
    on_unmet: UnmetAction,
    reserve: ReserveSource,
}

impl Default for BdaPlus {
    fn default() -> Self {
        // The default settings pass every rule (a unit test checks it).
        Self::from_valid(BdaPlusConfig::default())
    }
}

impl BdaPlus {
    /// BDA+ with the given settings, or the first rule they break.
    pub fn new(config: BdaPlusConfig) -> Result<Self, BdaPlusConfigError> {
        config.validate()?;
        Ok(Self::from_valid(config))
    }

    /// The compact form of settings that passed [`BdaPlusConfig::validate`]: each "off" is
    /// a zero that the settings themselves may not hold.
    fn from_valid(config: BdaPlusConfig) -> Self {
        Self {
            bda: Bda::new(config.bda),
            first_round_reserve: config.first_round_reserve.unwrap_or(BytesPerSec::ZERO),
            max_dirty_ratio: config.max_dirty_ratio.unwrap_or(Share::ZERO),
            deadline_us: config.deadline_us.unwrap_or(0),
            on_unmet: config.on_unmet,
            reserve: config.reserve,
        }
    }

    /// The settings.
    pub fn config(&self) -> BdaPlusConfig {
        BdaPlusConfig {
            bda: *self.bda.config(),
            first_round_reserve: (self.first_round_reserve != BytesPerSec::ZERO).then_some(self.first_round_reserve),
            max_dirty_ratio: (self.max_dirty_ratio != Share::ZERO).then_some(self.max_dirty_ratio),
            deadline_us: (self.deadline_us != 0).then_some(self.deadline_us),
            on_unmet: self.on_unmet,
            reserve: self.reserve,
        }
    }

    /// The allocation before the guards: the paper's, with round 1's reserve, or the reserve
    /// learned from the service's traffic.
    fn paper(&self, ctx: &RoundContext, link: LinkSample) -> Allocation {
        let learned = match self.reserve {
            ReserveSource::ServiceTraffic => link.service_reserve,
            ReserveSource::DirtyRate => None,
        };
        let free = link.free();
        let (reserve, rule) = match (ctx.kind, learned) {
            (RoundKind::StopAndCopy, _) => return self.bda.allocate(ctx, link),
            (RoundKind::First, learned) => {
                (self.first_round_reserve.max(learned.unwrap_or(BytesPerSec::ZERO)), Rule::FirstRound)
            }
            (RoundKind::Live, Some(learned)) => (learned, Rule::ServiceReserve),
            (RoundKind::Live, None) => return self.bda.allocate(ctx, link),
        };
        let wanted = match ctx.kind {
            RoundKind::First => self.bda.config().first_round_rate.unwrap_or(free),
            _ => free,
        };
        let wanted = wanted.min(free.saturating_sub(reserve));
        let (wanted, rule) = apply_floor(wanted, rule, self.bda.config().floor, link);
        Allocation::up_to(wanted, link, rule)
    }

    /// When the deadline guard plans to be done, microseconds from the start.
    ///
    /// Two thirds of the deadline: the last third covers what the fluid model leaves out, as
    /// the simulator's deadline property found (a dirty rate that rises as rounds get shorter,
    /// as fewer writes land on pages already dirty, and a guest whose busy phases come
    /// late). Planning against the time left itself, with a margin of it, would spend the
    /// margin as the round goes on: each reassessment would plan afresh from what is left.
    ///
    /// In round 1 before its dirty rate is known, the rounds after it cannot be planned:
    /// round 1 aims to end by `deadline * (1 - max(rho_max, 1/2))`; the later rounds, their
    /// dirty rate at most `rho_max` times their rate, then need at most
    /// `rho_max / (1 - rho_max)` of round 1's time, the rest of the deadline.
    fn planned_end_us(&self, ctx: &RoundContext) -> u64 {
        if ctx.kind != RoundKind::First || ctx.dirtying.is_some() {
            // 2/3 of it rounded down (earlier), through the kernel's own wide division: a u64
            // division by a constant would link the compiler's (about 1 KiB on thumbv7em).
            return crate::wide::mul_div(self.deadline_us, 2, 0, 3);
        }
        // At least half is left for the later rounds: with a small rho_max its guard is
        // the likelier to be unmet, and the later rounds then take longer than it promises.
        let later = self.max_dirty_ratio.max(Share::HALF);
        self.deadline_us.saturating_sub(later.of(self.deadline_us))
    }

    /// The guard that needs the highest rate this round, or `None` when no guard applies,
    /// with the deadline guard's drain (zero without a deadline): what no slowing of the
    /// guest removes, the bytes already outstanding over the time left (`R / T_left`) plus
    /// the link's shortfall, whichever guard binds. The dirty rate's part is the guest's.
    fn binding_guard(&self, ctx: &RoundContext) -> Option<(Need, u128)> {
        let latest = ctx.dirty.latest.unwrap_or(BytesPerSec::ZERO);
        let convergence = (ctx.kind == RoundKind::Live && self.max_dirty_ratio != Share::ZERO)
            .then(|| Need { guard: Guard::Convergence, rate: convergence_rate(latest, self.max_dirty_ratio) });
        let deadline = (self.deadline_us != 0).then(|| {
            // The round's own dirty rate so far is the better guide, where it is known.
            let dirtying = ctx.dirtying.unwrap_or(latest);
            // Past the planned end, behind: done in half the time left to the deadline (the
            // simulator's sweep misses fewer deadlines so than planning to the deadline
            // itself); past the deadline, no time is left.
            let left_us = match self.planned_end_us(ctx).saturating_sub(ctx.elapsed_us) {
                0 => self.deadline_us.saturating_sub(ctx.elapsed_us) / 2,
                left_us => left_us,
            };
            // What the link failed to deliver of the last allocation is asked for on top:
            // the deadline is met by bytes delivered, not allocated.
            let shortfall = ctx.delivered.map_or(0, |d| u128::from(d.shortfall().0));
            let drain = drain_rate(ctx.to_send.0, left_us).saturating_add(shortfall);
            (Need { guard: Guard::Deadline, rate: drain.saturating_add(u128::from(dirtying.0)) }, drain)
        });
        let drain = deadline.as_ref().map_or(0, |(_, drain)| *drain);
        let binding = match (convergence, deadline.map(|(need, _)| need)) {
            (Some(c), Some(d)) => Some(if d.rate > c.rate { d } else { c }),
            (c, d) => c.or(d),
        };
        binding.map(|need| (need, drain))
    }
}

/// What a guard needs this round, in bytes per second (unsaturated, so a need beyond
/// `u64::MAX` still compares above a free bandwidth of `u64::MAX`).
struct Need {
    guard: Guard,
    /// The whole rate the guard needs.
    rate: u128,
}

impl Policy for BdaPlus {
    fn allocate(&self, ctx: &RoundContext, link: LinkSample) -> Allocation {
        let paper = self.paper(ctx, link);
        if ctx.kind == RoundKind::StopAndCopy {
            return paper;
        }
        let Some((Need { guard, rate }, drain)) = self.binding_guard(ctx) else {
            return paper;
        };
        if rate <= u128::from(paper.migration.0) {
            return paper; // The paper's rate already satisfies every guard.
        }
        let free = link.free();
        let unmet = (rate > u128::from(free.0)).then_some(self.on_unmet);
        let needed = BytesPerSec(u64::try_from(rate).unwrap_or(u64::MAX));
        // Slowing the guest removes the dirty rate's part of the need, not the drain: with
        // slow-guest the reserve still gives way to the drain, and only to it. Otherwise the
        // whole need, which `up_to` cuts to `F` when it is unmet.
        let slow_guest = unmet == Some(UnmetAction::SlowGuest);
        let raise_to = if slow_guest { drain } else { rate };
        let rule = if slow_guest || guard == Guard::Deadline { Rule::DeadlineGuard } else { Rule::ConvergenceGuard };
        if raise_to <= u128::from(paper.migration.0) {
            let reserve_taken = BytesPerSec::ZERO;
            return Allocation { guard: Some(GuardReport { guard, needed, reserve_taken, unmet }), ..paper };
        }
        let mut allocation = Allocation::up_to(BytesPerSec(u64::try_from(raise_to).unwrap_or(u64::MAX)), link, rule);
        // Raising the rate is the guard's doing, not a clamp: only the paper's own request
        // counts as cut to the free bandwidth.
        allocation.clamps.cut_to_free = paper.clamps.cut_to_free;
        let reserve_taken = allocation.migration.saturating_sub(paper.migration);
        allocation.guard = Some(GuardReport { guard, needed, reserve_taken, unmet });
        allocation
    }
}

/// `ceil(U / rho)` for a ratio `rho` in `(0, 1]`: below `2^127`, so a `u128` holds it.
fn convergence_rate(latest: BytesPerSec, max_dirty_ratio: Share) -> u128 {
    let bits = u128::from(max_dirty_ratio.to_fixed().to_bits());
    // U / rho = U * 2^63 / bits, rounded up by adding bits - 1 (no wrap: U * 2^63 < 2^127).
    let numerator = crate::wide::mul(latest.0, 1 << 63).saturating_add(bits.saturating_sub(1));
    crate::wide::div(numerator, bits).unwrap_or(u128::MAX)
}

/// `ceil(R * 10^6 / T_left_us)`: zero with nothing to send, `u128::MAX` (unbounded) when
/// something is and no time is left.
fn drain_rate(to_send: u64, left_us: u64) -> u128 {
    if to_send == 0 {
        return 0;
    }
    let left = u128::from(left_us);
    let numerator = crate::wide::mul(to_send, 1_000_000).saturating_add(left.saturating_sub(1));
    crate::wide::div(numerator, left).unwrap_or(u128::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::DirtyRates;
    use crate::units::Bytes;

    const T: BytesPerSec = BytesPerSec(12_500_000);
    const IDLE: LinkSample = LinkSample::new(T, BytesPerSec(0));

    fn live(latest: u64, previous: u64, earlier_mean: u64) -> RoundContext {
        RoundContext {
            round: 4,
            kind: RoundKind::Live,
            dirty: DirtyRates {
                latest: Some(BytesPerSec(latest)),
                previous: Some(BytesPerSec(previous)),
                earlier_mean: Some(BytesPerSec(earlier_mean)),
            },
            ..RoundContext::FIRST
        }
    }

    fn plus(config: BdaPlusConfig) -> BdaPlus {
        BdaPlus::new(config).unwrap()
    }

    fn no_floor() -> BdaPlusConfig {
        BdaPlusConfig { bda: BdaConfig { floor: Share::ZERO, ..BdaConfig::default() }, ..BdaPlusConfig::default() }
    }

    #[test]
    fn config_rules() {
        let zero_ratio = BdaPlusConfig { max_dirty_ratio: Some(Share::ZERO), ..BdaPlusConfig::default() };
        assert_eq!(BdaPlus::new(zero_ratio), Err(BdaPlusConfigError::DirtyRatioZero));
        let zero_deadline = BdaPlusConfig { deadline_us: Some(0), ..BdaPlusConfig::default() };
        assert_eq!(BdaPlus::new(zero_deadline), Err(BdaPlusConfigError::DeadlineZero));
        let config = BdaPlusConfig {
            first_round_reserve: Some(BytesPerSec(5)),
            deadline_us: Some(7),
            on_unmet: UnmetAction::Abort,
            ..BdaPlusConfig::default()
        };
        assert_eq!(plus(config).config(), config);
        assert_eq!(BdaPlus::default().config(), BdaPlusConfig::default());
    }

    #[test]
    fn the_papers_allocation_stands_when_it_satisfies_the_guards() {
        // U = 2 MB/s, D = 2 MB/s: B = 2 MB/s, E = 10.5 MB/s >= U / (1/2) = 4 MB/s.
        let ctx = live(2_000_000, 2_000_000, 2_000_000);
        let a = plus(no_floor()).allocate(&ctx, IDLE);
        assert_eq!(a, Bda::new(no_floor().bda).allocate(&ctx, IDLE));
        assert_eq!((a.rule, a.guard), (Rule::Reserve, None));
    }

    #[test]
    fn convergence_guard_takes_from_the_reserve() {
        // U = 5 MB/s, D = 5 MB/s: the paper gives B = 5 MB/s, E = 7.5 MB/s < 2U = 10 MB/s.
        let a = plus(no_floor()).allocate(&live(5_000_000, 5_000_000, 5_000_000), IDLE);
        assert_eq!(
            (a.rule, a.migration, a.reserved),
            (Rule::ConvergenceGuard, BytesPerSec(10_000_000), BytesPerSec(2_500_000))
        );
        let report = a.guard.unwrap();
        assert_eq!(
            report,
            GuardReport {
                guard: Guard::Convergence,
                needed: BytesPerSec(10_000_000),
                reserve_taken: BytesPerSec(2_500_000),
                unmet: None,
            }
        );
        assert!(!a.clamps.cut_to_free);
    }

    #[test]
    fn convergence_guard_rounds_up() {
        // 1/3 is stored rounded to nearest; U / rho is never below 3 U.
        let third = Share::from_ratio(1, 3).unwrap();
        assert_eq!(convergence_rate(BytesPerSec(1_000_000), third), 3_000_000);
        assert_eq!(convergence_rate(BytesPerSec(7), Share::ONE), 7);
        assert_eq!(convergence_rate(BytesPerSec::MAX, Share::HALF), 2 * u128::from(u64::MAX));
        assert_eq!(convergence_rate(BytesPerSec(0), Share::HALF), 0);
    }

    #[test]
    fn an_unmet_guard_follows_the_action() {
        // U = 7 MB/s needs 14 MB/s; only 12.5 MB/s free.
        let ctx = live(7_000_000, 6_000_000, 6_000_000);
        let paper = Bda::new(no_floor().bda).allocate(&ctx, IDLE);
        for action in [UnmetAction::TakeReserve, UnmetAction::Abort] {
            let a = plus(BdaPlusConfig { on_unmet: action, ..no_floor() }).allocate(&ctx, IDLE);
            assert_eq!((a.rule, a.migration, a.reserved), (Rule::ConvergenceGuard, T, BytesPerSec(0)));
            let report = a.guard.unwrap();
            assert_eq!((report.needed, report.unmet), (BytesPerSec(14_000_000), Some(action)));
            assert_eq!(report.reserve_taken, T.saturating_sub(paper.migration));
        }
        let slow = plus(BdaPlusConfig { on_unmet: UnmetAction::SlowGuest, ..no_floor() }).allocate(&ctx, IDLE);
        assert_eq!((slow.rule, slow.migration, slow.reserved), (paper.rule, paper.migration, paper.reserved));
        let report = slow.guard.unwrap();
        assert_eq!((report.reserve_taken, report.unmet), (BytesPerSec(0), Some(UnmetAction::SlowGuest)));
    }

    #[test]
    fn slow_guest_gives_the_deadline_its_drain_only() {
        // 60 MB to send by 20 s (a 30 s deadline), 10 s gone, U = 10 MB/s: the guard needs
        // 10 + 6 = 16 MB/s of 12.5 free, unmet. Slowing the guest removes the 10, not the
        // 6 MB/s of bytes already outstanding: the reserve gives way to those 6 only.
        let config = BdaPlusConfig {
            deadline_us: Some(30_000_000),
            max_dirty_ratio: None,
            on_unmet: UnmetAction::SlowGuest,
            ..no_floor()
        };
        let ctx = RoundContext {
            to_send: Bytes(60_000_000),
            elapsed_us: 10_000_000,
            ..live(10_000_000, 10_000_000, 10_000_000)
        };
        let paper = Bda::new(no_floor().bda).allocate(&ctx, IDLE);
        assert_eq!(paper.migration, BytesPerSec(2_500_000));
        let a = plus(config).allocate(&ctx, IDLE);
        assert_eq!((a.rule, a.migration), (Rule::DeadlineGuard, BytesPerSec(6_000_000)));
        let report = a.guard.unwrap();
        assert_eq!((report.needed, report.unmet), (BytesPerSec(16_000_000), Some(UnmetAction::SlowGuest)));
        assert_eq!(report.reserve_taken, BytesPerSec(3_500_000));
        // With the convergence guard on it needs 20 MB/s and binds; the drain still counts.
        let both = BdaPlusConfig { max_dirty_ratio: Some(Share::HALF), ..config };
        let a = plus(both).allocate(&ctx, IDLE);
        assert_eq!((a.rule, a.migration), (Rule::DeadlineGuard, BytesPerSec(6_000_000)));
        assert_eq!(a.guard.map(|g| (g.guard, g.needed)), Some((Guard::Convergence, BytesPerSec(20_000_000))));
        // A guest that dirtied less before: the paper reserves 8.67 MB/s, and the 3 MB/s that
        // 30 MB outstanding drain at are below its 3.83, so it stands (the guard's 13 MB/s is
        // still unmet: the guest is slowed).
        let ctx = RoundContext { to_send: Bytes(30_000_000), ..live(10_000_000, 2_000_000, 2_000_000) };
        let ctx = RoundContext { elapsed_us: 10_000_000, ..ctx };
        let paper = Bda::new(no_floor().bda).allocate(&ctx, IDLE);
        assert_eq!(paper.migration, BytesPerSec(3_833_333));
        let a = plus(config).allocate(&ctx, IDLE);
        assert_eq!((a.rule, a.migration), (paper.rule, paper.migration));
        assert_eq!(a.guard.map(|g| (g.reserve_taken, g.unmet)), Some((BytesPerSec(0), Some(UnmetAction::SlowGuest))));
    }

    #[test]
    fn deadline_guard_drains_what_is_left_in_the_time_left() {
        // 60 MB to send, 10 s of a 30 s deadline gone, U = 1 MB/s; planned to be done by two
        // thirds of the deadline, 20 s: E >= 1 + 60/10 = 7 MB/s.
        let config = BdaPlusConfig { deadline_us: Some(30_000_000), max_dirty_ratio: None, ..no_floor() };
        let ctx = RoundContext {
            to_send: Bytes(60_000_000),
            elapsed_us: 10_000_000,
            ..live(1_000_000, 1_000_000, 9_000_000)
        };
        // The paper: B = (1 + 81)/10 = 8.2 MB/s, E = 4.3 MB/s.
        let a = plus(config).allocate(&ctx, IDLE);
        assert_eq!((a.rule, a.migration), (Rule::DeadlineGuard, BytesPerSec(7_000_000)));
        assert_eq!(a.guard.unwrap().reserve_taken, BytesPerSec(2_700_000));
        // Past the planned end, done in half the time left to the deadline: 10 MB in 2.5 s of
        // the 5 s to 30 s, 1 + 4 MB/s.
        let behind = RoundContext { to_send: Bytes(10_000_000), elapsed_us: 25_000_000, ..ctx };
        let a = plus(config).allocate(&behind, IDLE);
        assert_eq!((a.rule, a.migration), (Rule::DeadlineGuard, BytesPerSec(5_000_000)));
        // Past the deadline: unbounded, so unmet, and the link goes to the migration; with
        // nothing left to send, nothing is needed but the dirty rate.
        let late = RoundContext { elapsed_us: 30_000_000, ..ctx };
        let a = plus(config).allocate(&late, IDLE);
        assert_eq!((a.migration, a.guard.unwrap().needed), (T, BytesPerSec::MAX));
        assert_eq!(a.guard.unwrap().unmet, Some(UnmetAction::TakeReserve));
        let done = RoundContext { to_send: Bytes(0), ..late };
        assert_eq!(plus(config).allocate(&done, IDLE).guard, None);
        assert_eq!(drain_rate(0, 0), 0);
        // Rounded up: 1 byte in 3 us is 333,333.3 B/s.
        assert_eq!(drain_rate(1, 3), 333_334);
        // Beyond u64 still compares above the widest link.
        let a = plus(config).allocate(&late, LinkSample::new(BytesPerSec::MAX, BytesPerSec(0)));
        assert_eq!(a.guard.unwrap().unmet, Some(UnmetAction::TakeReserve));
    }

    #[test]
    fn the_guard_needing_more_is_reported() {
        // Convergence needs 2 MB/s, the deadline 1 + 80/6.67 = 13 MB/s: the deadline binds.
        let config = BdaPlusConfig { deadline_us: Some(10_000_000), ..no_floor() };
        let ctx = RoundContext { to_send: Bytes(80_000_000), ..live(1_000_000, 1_000_000, 1_000_000) };
        let a = plus(config).allocate(&ctx, IDLE);
        assert_eq!((a.rule, a.guard.unwrap().guard), (Rule::DeadlineGuard, Guard::Deadline));
        // With little to send the convergence guard binds... and the paper already meets it.
        let ctx = RoundContext { to_send: Bytes(1), ..ctx };
        assert_eq!(plus(config).allocate(&ctx, IDLE).guard, None);
    }

    #[test]
    fn first_round_keeps_the_configured_reserve() {
        let config = BdaPlusConfig { first_round_reserve: Some(BytesPerSec(2_500_000)), ..BdaPlusConfig::default() };
        let a = plus(config).allocate(&RoundContext::FIRST, LinkSample::new(T, BytesPerSec(2_000_000)));
        assert_eq!(
            (a.rule, a.migration, a.reserved),
            (Rule::FirstRound, BytesPerSec(8_000_000), BytesPerSec(2_500_000))
        );
        // A reserve above F leaves the floor (5 % of T).
        let config = BdaPlusConfig { first_round_reserve: Some(BytesPerSec::MAX), ..config };
        let a = plus(config).allocate(&RoundContext::FIRST, IDLE);
        assert_eq!((a.rule, a.migration), (Rule::Floor, BytesPerSec(625_000)));
        // The deadline guard applies in round 1 with U = 0, aiming at half the deadline
        // (rho_max = 1/2): 12 MB in 1 s of a 2 s deadline needs 12 MB/s, of 12.5 MB/s free.
        let config = BdaPlusConfig { deadline_us: Some(2_000_000), ..config };
        let first = RoundContext { to_send: Bytes(12_000_000), ..RoundContext::FIRST };
        let a = plus(config).allocate(&first, IDLE);
        assert_eq!((a.rule, a.migration), (Rule::DeadlineGuard, BytesPerSec(12_000_000)));
        // With rho_max = 3/4, round 1 may take only 1/4 of it: 24 MB/s, unmet; with 1/4, still
        // half.
        let config = BdaPlusConfig { max_dirty_ratio: Share::from_ppm(750_000), ..config };
        let a = plus(config).allocate(&first, IDLE);
        assert_eq!(a.guard.map(|g| g.needed), Some(BytesPerSec(24_000_000)));
        let config = BdaPlusConfig { max_dirty_ratio: Share::from_ppm(250_000), ..config };
        let a = plus(config).allocate(&first, IDLE);
        assert_eq!((a.rule, a.migration), (Rule::DeadlineGuard, BytesPerSec(12_000_000)));
    }

    #[test]
    fn stop_and_copy_gets_everything() {
        let config = BdaPlusConfig { deadline_us: Some(1), first_round_reserve: Some(T), ..BdaPlusConfig::default() };
        let stop = RoundContext { kind: RoundKind::StopAndCopy, ..live(u64::MAX, 1, 1) };
        let a = plus(config).allocate(&stop, IDLE);
        assert_eq!((a.rule, a.migration, a.guard), (Rule::StopAndCopy, T, None));
    }
}
