//! Shared pieces of the cross-crate property tests in `tests/`.

use proptest::prelude::*;

/// Any `u64`, with the values where bugs live well represented: 0, 1, `u64::MAX` and its
/// neighbour, small values, the range of real link rates (up to 200 GB/s), and the rest.
pub fn any_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        2 => Just(0_u64),
        1 => Just(1_u64),
        2 => Just(u64::MAX),
        1 => Just(u64::MAX - 1),
        4 => 0_u64..10_000,
        4 => 0_u64..200_000_000_000,
        4 => any::<u64>(),
    ]
}
