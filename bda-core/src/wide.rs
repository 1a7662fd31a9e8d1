//! 128-bit arithmetic, written once.
//!
//! The kernel multiplies two `u64`s into a `u128` and divides `u128`s in about a dozen
//! places (exact rates, means, shares, the pacer's spans). On a 32-bit target such as
//! thumbv7em each of these is a sequence of 32-bit instructions, and the forms chosen here
//! keep that code small:
//!
//! - [`mul`] is the widening product of two `u64`s. It cannot overflow, so it needs no
//!   saturation; a `u128` `saturating_mul` would expand to a full 128 x 128-bit product
//!   with an overflow check at every call site.
//! - [`mul_div`] is `(a * b + add) / d`, the form of most exact results, out of line.
//! - [`div_rem`] is the one division. Thumb has no 128-bit division instruction and its C
//!   runtime no `__udivti3`, so the compiler would expand each `/` in place; here one
//!   compact shift-and-subtract loop serves every call. 64-bit hosts have a fast `__udivti3`
//!   and use it.

/// `a * b`, exactly (below `2^128`).
pub(crate) fn mul(a: u64, b: u64) -> u128 {
    // (2^64 - 1)^2 < 2^128: the product never wraps.
    u128::from(a).wrapping_mul(u128::from(b))
}

/// `(a * b + add) / divisor`, rounded down and saturating at `u64::MAX`; a zero divisor
/// also gives `u64::MAX` (callers for whom zero means something else check it first).
///
/// Most of the kernel's exact results take this form (a rate times a time over a clock
/// frequency, a share of a rate, BDA's reserves), and `add` rounds (`divisor - 1` up, half
/// of it to nearest). Out of line on 32-bit targets, where the product and the call to the
/// division would otherwise be repeated at each of a dozen call sites.
#[cfg_attr(not(target_pointer_width = "64"), inline(never))]
pub(crate) fn mul_div(a: u64, b: u64, add: u64, divisor: u128) -> u64 {
    // At most (2^64 - 1)^2 + 2^64 - 1 < 2^128: the sum never wraps either.
    let numerator = mul(a, b).wrapping_add(u128::from(add));
    div(numerator, divisor).map_or(u64::MAX, |quotient| u64::try_from(quotient).unwrap_or(u64::MAX))
}

/// `numerator / denominator`, rounded down, or `None` when `denominator` is zero.
pub(crate) fn div(numerator: u128, denominator: u128) -> Option<u128> {
    div_rem(numerator, denominator).map(|(quotient, _)| quotient)
}

/// `(numerator / denominator, numerator % denominator)`, or `None` when `denominator` is zero.
#[inline(never)]
pub(crate) fn div_rem(numerator: u128, denominator: u128) -> Option<(u128, u128)> {
    if denominator == 0 {
        return None;
    }
    #[cfg(target_pointer_width = "64")]
    {
        Some((numerator.checked_div(denominator)?, numerator.checked_rem(denominator)?))
    }
    #[cfg(not(target_pointer_width = "64"))]
    {
        Some(shift_subtract(numerator, denominator))
    }
}

/// Restoring binary long division of `numerator` by a non-zero `denominator`: 128 steps of
/// a shift, a compare and a subtract, one quotient bit each, with no variable shifts.
/// Compact (about 230 bytes on thumbv7em, half the normalising loop it replaced) rather
/// than fast, which suits a kernel that
/// divides per round and per rate change, never per page. Compiled on every target, so the
/// host's tests check it against the `/` and `%` operators.
#[cfg_attr(target_pointer_width = "64", allow(dead_code, reason = "hosts divide natively; tests use it"))]
fn shift_subtract(numerator: u128, denominator: u128) -> (u128, u128) {
    // The quotient's bits replace the numerator's from the bottom as the numerator's bits
    // move, highest first, into the remainder.
    let mut quotient = numerator;
    let mut remainder = 0_u128;
    for _ in 0..u128::BITS {
        // `remainder < denominator` here, so `2 * remainder + 1` can pass 2^128 only when
        // the denominator is above 2^127; `overflowed` keeps that bit.
        let overflowed = remainder.leading_zeros() == 0;
        remainder = remainder.wrapping_shl(1) | quotient.wrapping_shr(127);
        quotient = quotient.wrapping_shl(1);
        if overflowed || remainder >= denominator {
            remainder = remainder.wrapping_sub(denominator);
            quotient |= 1;
        }
    }
    (quotient, remainder)
}

#[cfg(test)]
#[allow(clippy::as_conversions, reason = "test constants")]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MAX64: u128 = u64::MAX as u128;
    const VALUES: [u128; 13] =
        [0, 1, 2, 3, 7, 1_000_000, MAX64, MAX64 + 1, MAX64 * MAX64, u128::MAX / 3, 1 << 127, u128::MAX - 1, u128::MAX];

    #[test]
    fn division_and_remainder_match_the_operators() {
        for &n in &VALUES {
            assert_eq!(div(n, 0), None);
            assert_eq!(div_rem(n, 0), None);
            for &d in VALUES.iter().filter(|&&d| d != 0) {
                assert_eq!(div(n, d), Some(n / d));
                assert_eq!(div_rem(n, d), Some((n / d, n % d)));
                assert_eq!(shift_subtract(n, d), (n / d, n % d), "{n} / {d}");
            }
        }
    }

    #[test]
    fn widening_product() {
        assert_eq!(mul(u64::MAX, u64::MAX), MAX64 * MAX64);
        assert_eq!(mul(0, u64::MAX), 0);
        assert_eq!(mul(1 << 32, 1 << 32), 1 << 64);
    }

    /// Numerators and denominators of every width, and the widths the kernel divides by
    /// (a `u64`, and a sum of two).
    fn any_u128() -> impl Strategy<Value = u128> {
        prop_oneof![
            any::<u128>(),
            any::<u64>().prop_map(u128::from),
            (any::<u64>(), any::<u64>()).prop_map(|(a, b)| u128::from(a) + u128::from(b)),
            (any::<u64>(), any::<u64>()).prop_map(|(a, b)| mul(a, b)),
            (0..u32::MAX).prop_map(u128::from),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(10_000))]

        #[test]
        fn shift_subtract_is_exact(n in any_u128(), d in any_u128()) {
            prop_assume!(d != 0);
            prop_assert_eq!(shift_subtract(n, d), (n / d, n % d));
            prop_assert_eq!(div_rem(n, d), Some((n / d, n % d)));
        }

        #[test]
        fn mul_div_is_exact(a in any::<u64>(), b in any::<u64>(), add in any::<u64>(), d in any_u128()) {
            let numerator = u128::from(a) * u128::from(b) + u128::from(add);
            let expected = numerator.checked_div(d).map_or(u64::MAX, |q| u64::try_from(q).unwrap_or(u64::MAX));
            prop_assert_eq!(mul_div(a, b, add, d), expected);
        }

        #[test]
        fn mul_is_exact(a in any::<u64>(), b in any::<u64>()) {
            prop_assert_eq!(mul(a, b), u128::from(a) * u128::from(b));
        }
    }
}
