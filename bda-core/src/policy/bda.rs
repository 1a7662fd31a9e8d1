//! BDA: Bandwidth Dynamic Assignment (Fang, Liao and Ge, "Live Virtual Machine Migration
//! with Bandwidth Dynamic Assignment"; its Fig. 1, made precise).
//!
//! Each round divides the free bandwidth `F = T - U_used` into the migration's rate `E` and a
//! reserve `B` for the guest's own service, predicted from the dirty rate:
//!
//! - round 1: `E = min(E_init, F)`;
//! - stop-and-copy: `E = F` (the paused VM has no service to protect);
//! - other rounds, with `U = r(k-1)` and `D` the mean of the earlier rates:
//!   `B = a*U + b*D` (equation 4) with `a = U/(D+U)`, `b = D/(D+U)`, which is
//!   `(U^2 + D^2)/(U + D)`; if that exceeds `F`, equation 5 scales it by the change
//!   coefficient `c = r(k-1)/r(k-2)`: `B = F/(1 + c) = F*r(k-2)/(r(k-2) + r(k-1))`;
//! - then the floor: `E = max(E, min(floor*T, F))`, so a migration never stalls at rate 0.

use crate::history::DirtyRates;
use crate::units::{BytesPerSec, Share};

use super::{Allocation, LinkSample, Policy, RoundContext, RoundKind, Rule};

/// How equation 4 weighs the latest dirty rate `U` against the earlier mean `D`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Coefficients {
    /// Fig. 1 of the paper: `a = U/(D+U)`, `b = D/(D+U)`, so the larger rate weighs more.
    #[default]
    DirtyRate = 0,
    /// The paper's alternative: `a = U_used/T` (the link's utilisation), `b = 1 - a`.
    Utilisation = 1,
}

/// The settings of [`Bda`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BdaConfig {
    /// `E_init`, the first round's rate; `None` (the default) sends round 1 at all free
    /// bandwidth, as the paper does. Round 1 sends all of memory, and this is the only
    /// reserve the paper's rule keeps in it.
    pub first_round_rate: Option<BytesPerSec>,
    /// The floor as a share of the link capacity `T` (default 5 %; [`Share::ZERO`] turns it
    /// off). Without it, a guest that stops dirtying can be given rate 0.
    pub floor: Share,
    /// Which form of equation 4's coefficients to use.
    pub coefficients: Coefficients,
}

impl Default for BdaConfig {
    fn default() -> Self {
        Self {
            first_round_rate: None,
            floor: Share::from_percent(5).unwrap_or(Share::ZERO),
            coefficients: Coefficients::DirtyRate,
        }
    }
}

/// Bandwidth Dynamic Assignment.
///
/// # Rounding and precision
///
/// All arithmetic is exact integer arithmetic in `u128` on `u64` inputs, so it holds over
/// the whole range (400 Gbit/s is far inside). The reserve of equation 4 is computed from
/// `D` rounded down to whole bytes per second and is then rounded up; together it lies
/// within 2 B/s of the exact rational value (equation 4's slope in `D` is at most 1 in
/// magnitude). The corrected reserve of equation 5 is rounded down, so `E` is rounded up;
/// it is within 1 B/s of exact. The floor is `floor(share * T)`.
///
/// # Degenerate cases the paper leaves open
///
/// - `D` unknown (round 2): `B = U`.
/// - `D + U = 0` (nothing dirtied): `B = 0`, `E = F`.
/// - `c` undefined (round 2) or `r(k-2) = r(k-1) = 0`: `c = 1`, so a correction gives
///   `B = F/2`. `r(k-2) = 0 < r(k-1)`: `c` is unbounded and the correction gives `B = 0`.
/// - `U_used >= T`: `F = 0`, so `E = B = 0`, and
///   [`Clamps::usage_above_capacity`](super::Clamps::usage_above_capacity) says so when
///   `U_used > T`.
/// - A live round with no measured rate at all (the controller never asks for one) is
///   treated as `U = 0`.
///
/// The floor applies to the first and the live rounds and is reported as [`Rule::Floor`].
///
/// # Example: a correction
///
/// ```
/// use bda_core::{Bda, BdaConfig, BytesPerSec, DirtyRates, LinkSample, Policy, RoundContext,
///                RoundKind, Rule, Share};
///
/// let bda = Bda::new(BdaConfig {
///     first_round_rate: Some(BytesPerSec(8_000_000)),
///     floor: Share::ZERO,
///     ..BdaConfig::default()
/// });
/// let link = LinkSample::new(BytesPerSec(12_500_000), BytesPerSec(2_000_000));
/// // Round 4: r(1) = 3e6, r(2) = 5e6, r(3) = 20e6, so U = 20e6, D = 4e6 and c = 4.
/// let round_4 = RoundContext {
///     round: 4,
///     kind: RoundKind::Live,
///     dirty: DirtyRates {
///         latest: Some(BytesPerSec(20_000_000)),
///         previous: Some(BytesPerSec(5_000_000)),
///         earlier_mean: Some(BytesPerSec(4_000_000)),
///     },
///     ..RoundContext::FIRST
/// };
/// let allocation = bda.allocate(&round_4, link);
/// assert_eq!(allocation.rule, Rule::Corrected);
/// assert_eq!(allocation.reserved, BytesPerSec(2_100_000));
/// assert_eq!(allocation.migration, BytesPerSec(8_400_000));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Bda {
    config: BdaConfig,
}

impl Bda {
    /// BDA with the given settings (every combination is valid).
    pub const fn new(config: BdaConfig) -> Self {
        Self { config }
    }

    /// The settings.
    pub const fn config(&self) -> &BdaConfig {
        &self.config
    }

    /// The reserve `B` of a live round and the rule that gave it: equation 4, corrected by
    /// equation 5 when above the free bandwidth.
    fn live_reserve(&self, dirty: DirtyRates, link: LinkSample, free: u64) -> (u64, Rule) {
        let latest = dirty.latest.unwrap_or(BytesPerSec::ZERO).0;
        let earlier_mean = dirty.earlier_mean.map(|d| d.0);
        let reserve = match self.config.coefficients {
            Coefficients::DirtyRate => equation_4(latest, earlier_mean),
            Coefficients::Utilisation => equation_4_utilisation(latest, earlier_mean, link),
        };
        if reserve <= free {
            (reserve, Rule::Reserve)
        } else {
            let previous = dirty.previous.map(|r| r.0);
            (equation_5(free, previous, latest), Rule::Corrected)
        }
    }
}

impl Policy for Bda {
    fn allocate(&self, ctx: &RoundContext, link: LinkSample) -> Allocation {
        let free = link.free();
        let (wanted, rule) = match ctx.kind {
            RoundKind::StopAndCopy => return Allocation::up_to(free, link, Rule::StopAndCopy),
            RoundKind::First => (self.config.first_round_rate.unwrap_or(free), Rule::FirstRound),
            RoundKind::Live => {
                // Both branches of live_reserve give reserve <= free, so E = F - B is never
                // cut and the allocation reserves exactly B.
                let (reserve, rule) = self.live_reserve(ctx.dirty, link, free.0);
                (free.saturating_sub(BytesPerSec(reserve)), rule)
            }
        };
        let (wanted, rule) = apply_floor(wanted, rule, self.config.floor, link);
        Allocation::up_to(wanted, link, rule)
    }
}

/// Equation 4 in the dirty-rate form: `B = (U^2 + D^2)/(U + D)`, rounded up; `B = U` when `D`
/// is unknown, `0` when both are zero.
///
/// Computed as `M - m(M - m)/(M + m)` with `M = max(U, D)` and `m = min(U, D)` (the same
/// value: `M^2 + m^2 = (M + m)M - m(M - m)`): one `u128` division, and `m(M - m) <= M^2/4`
/// never overflows, where `U^2 + D^2` would.
fn equation_4(latest: u64, earlier_mean: Option<u64>) -> u64 {
    let Some(earlier_mean) = earlier_mean else {
        return latest;
    };
    let (max, min) = if latest >= earlier_mean { (latest, earlier_mean) } else { (earlier_mean, latest) };
    if max == 0 {
        return 0; // Nothing dirtied.
    }
    let sum = u128::from(max).saturating_add(u128::from(min));
    // cut < m, so B lies in (M - m, M]: at most max(U, D), rounded up by rounding the cut down.
    let cut = crate::wide::mul_div(min, max.saturating_sub(min), 0, sum);
    max.saturating_sub(cut)
}

/// Equation 4 in the utilisation form: `a = U_used/T`, `b = 1 - a`,
/// `B = (U_used*U + (T - U_used)*D)/T`, rounded up; `B = U` when `D` is unknown or `T = 0`.
///
/// Computed as `D + U_used*(U - D)/T` (the same value): one product and one division, and
/// the result lies between `U` and `D`.
fn equation_4_utilisation(latest: u64, earlier_mean: Option<u64>, link: LinkSample) -> u64 {
    let capacity = link.capacity.0;
    let Some(earlier_mean) = earlier_mean.filter(|_| capacity != 0) else {
        return latest;
    };
    let used = link.other_usage.0.min(capacity);
    let divisor = u128::from(capacity);
    if latest >= earlier_mean {
        // D + ceil(x): rounded up.
        let step = crate::wide::mul_div(used, latest.saturating_sub(earlier_mean), capacity.saturating_sub(1), divisor);
        earlier_mean.saturating_add(step)
    } else {
        // D - floor(y) = ceil(D - y): rounded up.
        let step = crate::wide::mul_div(used, earlier_mean.saturating_sub(latest), 0, divisor);
        earlier_mean.saturating_sub(step)
    }
}

/// Equation 5: `B = F/(1 + c)` with `c = r(k-1)/r(k-2)`, that is
/// `F*r(k-2)/(r(k-2) + r(k-1))`, rounded down. `c = 1` when `r(k-2)` is unknown or both rates
/// are zero; `B = 0` when only `r(k-2)` is zero.
fn equation_5(free: u64, previous: Option<u64>, latest: u64) -> u64 {
    let previous = match previous {
        Some(previous) if previous != 0 || latest != 0 => previous,
        _ => return free / 2,
    };
    // previous + latest > 0 here, and the quotient is at most `free`.
    let denominator = u128::from(previous).saturating_add(u128::from(latest));
    crate::wide::mul_div(free, previous, 0, denominator)
}

/// Raises `E` to `min(floor*T, F)` when below it, reporting [`Rule::Floor`].
///
/// Applied to the rate the rule wants, before it is cut to `F`: the floor is at most `F`, so
/// a rate it raises is never cut, and a rate above `F` is cut to `F`, which the floor never
/// exceeds. One allocation is built either way.
pub(super) fn apply_floor(wanted: BytesPerSec, rule: Rule, floor: Share, link: LinkSample) -> (BytesPerSec, Rule) {
    let minimum = BytesPerSec(floor.of(link.capacity.0)).min(link.free());
    if wanted >= minimum { (wanted, rule) } else { (minimum, Rule::Floor) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: BytesPerSec = BytesPerSec(12_500_000);

    fn live(latest: u64, previous: Option<u64>, earlier_mean: Option<u64>) -> RoundContext {
        RoundContext {
            round: 5,
            kind: RoundKind::Live,
            dirty: DirtyRates {
                latest: Some(BytesPerSec(latest)),
                previous: previous.map(BytesPerSec),
                earlier_mean: earlier_mean.map(BytesPerSec),
            },
            ..RoundContext::FIRST
        }
    }

    fn no_floor() -> Bda {
        Bda::new(BdaConfig { floor: Share::ZERO, ..BdaConfig::default() })
    }

    fn check(a: Allocation, migration: u64, reserved: u64, rule: Rule) {
        assert_eq!(a.migration, BytesPerSec(migration), "{a:?}");
        assert_eq!(a.reserved, BytesPerSec(reserved), "{a:?}");
        assert_eq!(a.rule, rule, "{a:?}");
        assert_eq!(a.free.0, migration + reserved);
    }

    #[test]
    fn worked_example_of_design_section_2() {
        let bda = Bda::new(BdaConfig {
            first_round_rate: Some(BytesPerSec(8_000_000)),
            floor: Share::ZERO,
            coefficients: Coefficients::DirtyRate,
        });
        let link = LinkSample::new(T, BytesPerSec(2_000_000));
        check(bda.allocate(&RoundContext::FIRST, link), 8_000_000, 2_500_000, Rule::FirstRound);
        check(bda.allocate(&live(3_000_000, None, None), link), 7_500_000, 3_000_000, Rule::Reserve);
        check(
            bda.allocate(&live(5_000_000, Some(3_000_000), Some(3_000_000)), link),
            6_250_000,
            4_250_000,
            Rule::Reserve,
        );
        check(
            bda.allocate(&live(20_000_000, Some(5_000_000), Some(4_000_000)), link),
            8_400_000,
            2_100_000,
            Rule::Corrected,
        );
        let stop = RoundContext { kind: RoundKind::StopAndCopy, ..live(1, Some(1), Some(1)) };
        check(bda.allocate(&stop, link), 10_500_000, 0, Rule::StopAndCopy);
    }

    #[test]
    fn first_round_defaults_to_all_free_bandwidth() {
        let link = LinkSample::new(T, BytesPerSec(2_000_000));
        let a = no_floor().allocate(&RoundContext::FIRST, link);
        check(a, 10_500_000, 0, Rule::FirstRound);
        assert!(!a.clamps.cut_to_free);
    }

    #[test]
    fn first_round_rate_above_free_is_cut_and_reported() {
        let bda = Bda::new(BdaConfig {
            first_round_rate: Some(BytesPerSec(20_000_000)),
            floor: Share::ZERO,
            ..BdaConfig::default()
        });
        let a = bda.allocate(&RoundContext::FIRST, LinkSample::new(T, BytesPerSec(2_000_000)));
        check(a, 10_500_000, 0, Rule::FirstRound);
        assert!(a.clamps.cut_to_free);
    }

    #[test]
    fn nothing_dirtied_gives_everything() {
        let link = LinkSample::new(T, BytesPerSec::ZERO);
        check(no_floor().allocate(&live(0, Some(0), Some(0)), link), 12_500_000, 0, Rule::Reserve);
    }

    #[test]
    fn correction_at_round_two_halves_the_free_bandwidth() {
        // D unknown: B = U = 20e6 > F = 10e6; c unknown, so c = 1 and B = F/2.
        let link = LinkSample::new(BytesPerSec(10_000_001), BytesPerSec::ZERO);
        check(no_floor().allocate(&live(20_000_000, None, None), link), 5_000_001, 5_000_000, Rule::Corrected);
    }

    #[test]
    fn correction_with_both_rates_zero_takes_c_as_one() {
        // r(k-2) = r(k-1) = 0 but an earlier burst keeps D = 20e6 > F: B = F/2.
        let link = LinkSample::new(T, BytesPerSec::ZERO);
        check(no_floor().allocate(&live(0, Some(0), Some(20_000_000)), link), 6_250_000, 6_250_000, Rule::Corrected);
        // Rounded down, so E is rounded up.
        assert_eq!(equation_5(11, None, 7), 5);
    }

    #[test]
    fn correction_after_a_zero_rate_reserves_nothing() {
        // r(k-2) = 0 < r(k-1): c unbounded, B = 0, E = F.
        let link = LinkSample::new(T, BytesPerSec::ZERO);
        check(no_floor().allocate(&live(30_000_000, Some(0), Some(0)), link), 12_500_000, 0, Rule::Corrected);
    }

    #[test]
    fn guest_that_stops_dirtying_gets_the_floor() {
        // U = 0 after a busy history: B = D = 20e6 > F, c = 0, B = F, E = 0 without a floor.
        let link = LinkSample::new(T, BytesPerSec::ZERO);
        let ctx = live(0, Some(20_000_000), Some(20_000_000));
        check(no_floor().allocate(&ctx, link), 0, 12_500_000, Rule::Corrected);
        check(Bda::default().allocate(&ctx, link), 625_000, 11_875_000, Rule::Floor);
    }

    #[test]
    fn floor_is_capped_by_the_free_bandwidth() {
        // T = 12.5e6, floor 5 % = 625_000 but only 100_000 free.
        let link = LinkSample::new(T, BytesPerSec(12_400_000));
        let ctx = live(0, Some(5), Some(5));
        check(Bda::default().allocate(&ctx, link), 100_000, 0, Rule::Floor);
    }

    #[test]
    fn floor_applies_to_the_first_round() {
        let bda = Bda::new(BdaConfig { first_round_rate: Some(BytesPerSec(1)), ..BdaConfig::default() });
        let a = bda.allocate(&RoundContext::FIRST, LinkSample::new(T, BytesPerSec::ZERO));
        check(a, 625_000, 11_875_000, Rule::Floor);
    }

    #[test]
    fn usage_above_capacity_gives_nothing_and_says_so() {
        let link = LinkSample::new(T, BytesPerSec(T.0 + 1));
        for ctx in [RoundContext::FIRST, live(5, Some(5), Some(5))] {
            let a = Bda::default().allocate(&ctx, link);
            assert_eq!((a.migration, a.reserved, a.free), (BytesPerSec(0), BytesPerSec(0), BytesPerSec(0)));
            assert!(a.clamps.usage_above_capacity);
        }
    }

    #[test]
    fn equation_4_at_the_extremes() {
        assert_eq!(equation_4(u64::MAX, Some(u64::MAX)), u64::MAX);
        assert_eq!(equation_4(u64::MAX, Some(0)), u64::MAX);
        assert_eq!(equation_4(0, Some(u64::MAX)), u64::MAX);
        assert_eq!(equation_4(0, Some(0)), 0);
        assert_eq!(equation_4(7, None), 7);
        // (1 + 4) / 3 = 1.67, rounded up.
        assert_eq!(equation_4(1, Some(2)), 2);
    }

    #[test]
    fn utilisation_form_weighs_by_link_usage() {
        let bda =
            Bda::new(BdaConfig { coefficients: Coefficients::Utilisation, floor: Share::ZERO, ..BdaConfig::default() });
        // a = 2.5e6 / 12.5e6 = 0.2: B = 0.2 * 5e6 + 0.8 * 3e6 = 3.4e6; F = 10e6.
        let link = LinkSample::new(T, BytesPerSec(2_500_000));
        check(
            bda.allocate(&live(5_000_000, Some(3_000_000), Some(3_000_000)), link),
            6_600_000,
            3_400_000,
            Rule::Reserve,
        );
        // D unknown: B = U.
        check(bda.allocate(&live(4_000_000, None, None), link), 6_000_000, 4_000_000, Rule::Reserve);
        // Rounded up: a = 1/3, B = (1*3 + 2*1)/3 = 5/3 -> 2.
        let link = LinkSample::new(BytesPerSec(3), BytesPerSec(1));
        check(bda.allocate(&live(3, Some(1), Some(1)), link), 0, 2, Rule::Reserve);
    }

    #[test]
    fn utilisation_form_at_the_extremes() {
        let max = LinkSample::new(BytesPerSec::MAX, BytesPerSec(u64::MAX / 2));
        assert_eq!(equation_4_utilisation(u64::MAX, Some(u64::MAX), max), u64::MAX);
        assert_eq!(equation_4_utilisation(0, Some(0), max), 0);
        let zero = LinkSample::new(BytesPerSec::ZERO, BytesPerSec::ZERO);
        assert_eq!(equation_4_utilisation(9, Some(1), zero), 9);
    }
}
