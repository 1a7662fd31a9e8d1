//! 128-bit division, out of line.
//!
//! The kernel divides `u128`s in about a dozen places (exact rates, means, shares, the
//! pacer's spans). 32-bit targets such as thumbv7em have no 128-bit division instruction
//! and no `__udivti3` in their C runtime, so the compiler expands each such division in
//! place as a loop of some hundred bytes. Routing them all through [`div_rem`] keeps one copy,
//! which is most of the difference between a kernel that fits a small core's flash budget
//! and one that does not. On 64-bit hosts the cost is one call per division, off the
//! per-page path.

/// `numerator / denominator`, rounded down, or `None` when `denominator` is zero.
pub(crate) fn div(numerator: u128, denominator: u128) -> Option<u128> {
    div_rem(numerator, denominator).map(|(quotient, _)| quotient)
}

/// `(numerator / denominator, numerator % denominator)`, or `None` when `denominator` is zero.
///
/// Restoring binary long division, one quotient bit per step from the highest bit the
/// divisor can reach: at most 128 steps of a compare, a subtract and two shifts. Compact
/// (about a hundred bytes on thumbv7em) rather than fast, which suits a kernel that divides
/// per round and per rate change, never per page.
#[inline(never)]
pub(crate) fn div_rem(numerator: u128, denominator: u128) -> Option<(u128, u128)> {
    if denominator == 0 {
        return None;
    }
    if numerator < denominator {
        return Some((0, numerator));
    }
    // numerator >= denominator, so the shift is at most the divisor's leading zeros and
    // loses no bit of it.
    let shift = denominator.leading_zeros().saturating_sub(numerator.leading_zeros());
    let mut divisor = denominator.wrapping_shl(shift);
    let mut remainder = numerator;
    let mut quotient = 0_u128;
    for _ in 0..=shift {
        quotient = quotient.wrapping_shl(1);
        if remainder >= divisor {
            remainder = remainder.wrapping_sub(divisor);
            quotient |= 1;
        }
        divisor = divisor.wrapping_shr(1);
    }
    Some((quotient, remainder))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn division_and_remainder_match_the_operators() {
        let values = [
            0,
            1,
            2,
            3,
            7,
            1_000_000,
            u128::from(u64::MAX),
            u128::from(u64::MAX) + 1,
            u128::from(u64::MAX) * u128::from(u64::MAX),
            u128::MAX / 3,
            1 << 127,
            u128::MAX - 1,
            u128::MAX,
        ];
        for &n in &values {
            assert_eq!(div(n, 0), None);
            assert_eq!(div_rem(n, 0), None);
            for &d in values.iter().filter(|&&d| d != 0) {
                assert_eq!(div(n, d), Some(n / d));
                assert_eq!(div_rem(n, d), Some((n / d, n % d)));
            }
        }
    }
}
