//! Units: integer newtypes that keep rates, sizes and times apart.
//!
//! Every quantity that crosses the API is an unsigned integer in a named unit: a
//! [`BytesPerSec`] cannot be passed where [`Bytes`] or [`Ticks`] are expected. The integer
//! ranges cover the whole field: rates up to `u64::MAX` bytes per second (400 Gbit/s is
//! `5e10`, far inside), memories and byte counts up to `u64::MAX` (16 TiB is `2^44`), pages
//! of 4 KiB to 1 GiB, and ticks of any caller clock up to `u64::MAX` hertz.
//!
//! Arithmetic on these types saturates instead of wrapping; each method says how it rounds.
//! The one fractional type, [`Share`], is a fixed-point number in `[0, 1]`.

use core::fmt;

use fixed::types::U1F63;

/// A data rate in bytes per second.
///
/// The full `u64` range is valid; `BytesPerSec::MAX` means "as fast as possible".
///
/// ```
/// use bda_core::BytesPerSec;
/// assert_eq!(BytesPerSec::from_mbit_per_sec(100), BytesPerSec(12_500_000));
/// assert_eq!(BytesPerSec(10).saturating_sub(BytesPerSec(20)), BytesPerSec::ZERO);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BytesPerSec(pub u64);

impl BytesPerSec {
    /// No bandwidth.
    pub const ZERO: Self = Self(0);
    /// The largest representable rate.
    pub const MAX: Self = Self(u64::MAX);

    /// Converts a rate in bits per second, rounding down to whole bytes.
    pub const fn from_bits_per_sec(bits_per_sec: u64) -> Self {
        Self(bits_per_sec / 8)
    }

    /// Converts a rate in megabits (10^6 bits) per second, saturating at [`BytesPerSec::MAX`].
    pub const fn from_mbit_per_sec(mbit_per_sec: u64) -> Self {
        Self(mbit_per_sec.saturating_mul(125_000))
    }

    /// Converts a rate in gigabits (10^9 bits) per second, saturating at [`BytesPerSec::MAX`].
    pub const fn from_gbit_per_sec(gbit_per_sec: u64) -> Self {
        Self(gbit_per_sec.saturating_mul(125_000_000))
    }

    /// `self - other`, or zero when `other` is larger.
    #[must_use]
    pub const fn saturating_sub(self, other: Self) -> Self {
        Self(self.0.saturating_sub(other.0))
    }

    /// `self + other`, or [`BytesPerSec::MAX`] on overflow.
    #[must_use]
    pub const fn saturating_add(self, other: Self) -> Self {
        Self(self.0.saturating_add(other.0))
    }

    /// The bytes this rate moves in `elapsed` ticks of a `tick_hz` clock, rounded down and
    /// saturating at `u64::MAX`. A zero-hertz clock moves nothing.
    pub fn bytes_in(self, elapsed: Ticks, tick_hz: TickHz) -> Bytes {
        if tick_hz.0 == 0 {
            return Bytes::ZERO;
        }
        Bytes(crate::wide::mul_div(self.0, elapsed.0, 0, u128::from(tick_hz.0)))
    }

    /// The rate that moves `bytes` in `elapsed` ticks of a `tick_hz` clock, rounded down.
    ///
    /// Returns `None` when `elapsed` is zero and `bytes` is not (an unbounded rate); zero
    /// bytes over zero time is a rate of zero. Saturates at [`BytesPerSec::MAX`].
    pub fn from_bytes_over(bytes: Bytes, elapsed: Ticks, tick_hz: TickHz) -> Option<Self> {
        if bytes.0 == 0 {
            return Some(Self::ZERO);
        }
        if elapsed.0 == 0 {
            return None;
        }
        Some(Self(crate::wide::mul_div(bytes.0, tick_hz.0, 0, u128::from(elapsed.0))))
    }
}

impl fmt::Display for BytesPerSec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} B/s", self.0)
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for BytesPerSec {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=u64} B/s", self.0);
    }
}

/// A number of bytes (a memory size, or an amount sent or left to send).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(pub u64);

impl Bytes {
    /// Nothing.
    pub const ZERO: Self = Self(0);
    /// The largest representable byte count.
    pub const MAX: Self = Self(u64::MAX);

    /// `self + other`, or [`Bytes::MAX`] on overflow.
    #[must_use]
    pub const fn saturating_add(self, other: Self) -> Self {
        Self(self.0.saturating_add(other.0))
    }

    /// `self - other`, or zero when `other` is larger.
    #[must_use]
    pub const fn saturating_sub(self, other: Self) -> Self {
        Self(self.0.saturating_sub(other.0))
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} B", self.0)
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Bytes {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=u64} B", self.0);
    }
}

/// A number of memory pages of some [`PageSize`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pages(pub u64);

impl Pages {
    /// The bytes these pages hold, saturating at [`Bytes::MAX`].
    pub const fn to_bytes(self, page_size: PageSize) -> Bytes {
        Bytes(self.0.saturating_mul(page_size.bytes()))
    }
}

impl fmt::Display for Pages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} pages", self.0)
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Pages {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=u64} pages", self.0);
    }
}

/// A size of memory page: a power of two from 4 KiB to 1 GiB.
///
/// ```
/// use bda_core::PageSize;
/// assert_eq!(PageSize::new(2 << 20), Some(PageSize::MIB_2));
/// assert_eq!(PageSize::new(3000), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PageSize {
    shift: u8,
}

impl PageSize {
    /// 4 KiB, the base page of x86-64 and Arm.
    pub const KIB_4: Self = Self { shift: 12 };
    /// 2 MiB, the x86-64 huge page.
    pub const MIB_2: Self = Self { shift: 21 };
    /// 1 GiB, the x86-64 gigantic page.
    pub const GIB_1: Self = Self { shift: 30 };

    /// A page of `bytes` bytes, or `None` unless `bytes` is a power of two in `4096..=2^30`.
    pub fn new(bytes: u64) -> Option<Self> {
        // The nineteen sizes tried in turn: on a 32-bit core, shorter than testing for a
        // power of two and taking its logarithm.
        (12..=30).find(|&shift| bytes == 1 << shift).map(|shift| Self { shift })
    }

    /// The page size in bytes.
    pub const fn bytes(self) -> u64 {
        1 << self.shift
    }

    /// How many whole pages `bytes` holds, rounding down.
    pub(crate) const fn whole_pages(self, bytes: Bytes) -> u64 {
        bytes.0 >> self.shift
    }

    /// How many whole pages `bytes` needs, rounding up.
    pub fn pages_for(self, bytes: Bytes) -> Pages {
        Pages(bytes.0.div_ceil(self.bytes()))
    }
}

impl Default for PageSize {
    fn default() -> Self {
        Self::KIB_4
    }
}

/// An instant or a duration on the caller's monotonic clock, in ticks of [`TickHz`].
///
/// The kernel never reads a clock: every call that needs the time takes `now: Ticks`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ticks(pub u64);

impl Ticks {
    /// Tick zero, or an empty duration.
    pub const ZERO: Self = Self(0);
    /// The last tick; used to mean "never".
    pub const MAX: Self = Self(u64::MAX);

    /// `self + other`, or [`Ticks::MAX`] on overflow.
    #[must_use]
    pub const fn saturating_add(self, other: Self) -> Self {
        Self(self.0.saturating_add(other.0))
    }

    /// `self - other`, or zero when `other` is later.
    #[must_use]
    pub const fn saturating_sub(self, other: Self) -> Self {
        Self(self.0.saturating_sub(other.0))
    }

    /// A duration of `micros` microseconds on a `tick_hz` clock, rounded up to whole ticks
    /// and saturating at [`Ticks::MAX`].
    pub fn from_micros(micros: u64, tick_hz: TickHz) -> Self {
        Self(crate::wide::mul_div(micros, tick_hz.0, 999_999, 1_000_000))
    }

    /// This many ticks of a `tick_hz` clock in microseconds, rounded down and saturating at
    /// `u64::MAX` (also for a zero `tick_hz`).
    pub fn to_micros(self, tick_hz: TickHz) -> u64 {
        crate::wide::mul_div(self.0, 1_000_000, 0, u128::from(tick_hz.0))
    }
}

impl fmt::Display for Ticks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ticks", self.0)
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Ticks {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=u64} ticks", self.0);
    }
}

/// The frequency of the caller's tick clock in hertz (ticks per second). Never zero once
/// validated by a configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TickHz(pub u64);

impl TickHz {
    /// A clock that counts nanoseconds.
    pub const NANOS: Self = Self(1_000_000_000);
    /// A clock that counts microseconds.
    pub const MICROS: Self = Self(1_000_000);
    /// A clock that counts milliseconds.
    pub const MILLIS: Self = Self(1_000);
}

impl fmt::Display for TickHz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} Hz", self.0)
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for TickHz {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=u64} Hz", self.0);
    }
}

/// A share of a whole, in `[0, 1]`, as an unsigned fixed-point number with 63 fractional
/// bits ([`U1F63`]).
///
/// Applying a share to a `u64` ([`Share::of`]) rounds to nearest, so a share built from a
/// decimal, which binary cannot hold exactly, still gives the decimal answer: 5 % of
/// 12,500,000 is 625,000. Shares compare exactly as stored, and two ways of writing the same
/// fraction (`from_ratio(3, 5)`, `from_ppm(600_000)`) store the same value.
///
/// ```
/// use bda_core::Share;
/// let five_percent = Share::from_percent(5).unwrap();
/// assert_eq!(five_percent.of(50_000_000_000), 2_500_000_000);
/// assert_eq!(Share::ONE.of(u64::MAX), u64::MAX);
/// assert!(Share::from_ppm(1_000_001).is_none());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Share(U1F63);

impl Share {
    /// Nothing: `0`.
    pub const ZERO: Self = Self(U1F63::ZERO);
    /// One half, exactly.
    pub const HALF: Self = Self(U1F63::from_bits(1 << 62));
    /// The whole: `1`.
    pub const ONE: Self = Self(U1F63::ONE);

    /// `numerator / denominator`, rounded to nearest, or `None` unless
    /// `numerator <= denominator` and `denominator > 0`.
    pub fn from_ratio(numerator: u64, denominator: u64) -> Option<Self> {
        if denominator == 0 || numerator > denominator {
            return None;
        }
        // Round to nearest: add half the denominator before dividing. At most 2^63.
        let bits = crate::wide::mul_div(numerator, 1 << 63, denominator >> 1, u128::from(denominator));
        Some(Self(U1F63::from_bits(bits)))
    }

    /// A share in parts per million (`0..=1_000_000`), the unit the C API uses.
    pub fn from_ppm(ppm: u32) -> Option<Self> {
        Self::from_ratio(u64::from(ppm), 1_000_000)
    }

    /// A share in percent (`0..=100`).
    pub fn from_percent(percent: u8) -> Option<Self> {
        Self::from_ratio(u64::from(percent), 100)
    }

    /// A share from its fixed-point value, or `None` if it is above one.
    pub fn from_fixed(value: U1F63) -> Option<Self> {
        (value <= U1F63::ONE).then_some(Self(value))
    }

    /// The fixed-point value.
    pub const fn to_fixed(self) -> U1F63 {
        self.0
    }

    /// `value * self`, rounded to nearest (ties up); never above `value`.
    ///
    /// For a share built from a decimal ([`from_ppm`](Self::from_ppm),
    /// [`from_percent`](Self::from_percent)), which is stored to within `2^-64`, the result
    /// is within `1/2 + value/2^64` of the exact decimal product: the decimal answer
    /// rounded to nearest unless the product lies within `value/2^64` of a tie.
    pub fn of(self, value: u64) -> u64 {
        // value * bits < 2^127, so adding half of 2^63 cannot overflow.
        let product = crate::wide::mul(value, self.0.to_bits());
        let rounded = product.saturating_add(1 << 62) >> 63;
        u64::try_from(rounded).unwrap_or(value).min(value)
    }
}

impl fmt::Display for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_conversions() {
        assert_eq!(BytesPerSec::from_gbit_per_sec(400), BytesPerSec(50_000_000_000));
        assert_eq!(BytesPerSec::from_bits_per_sec(15), BytesPerSec(1));
        assert_eq!(BytesPerSec::from_gbit_per_sec(u64::MAX), BytesPerSec::MAX);
    }

    #[test]
    fn bytes_over_time() {
        let hz = TickHz::MILLIS;
        assert_eq!(BytesPerSec::from_bytes_over(Bytes(3_000), Ticks(1_500), hz), Some(BytesPerSec(2_000)));
        assert_eq!(BytesPerSec::from_bytes_over(Bytes(1), Ticks(0), hz), None);
        assert_eq!(BytesPerSec::from_bytes_over(Bytes(0), Ticks(0), hz), Some(BytesPerSec(0)));
        assert_eq!(BytesPerSec::from_bytes_over(Bytes(u64::MAX), Ticks(1), TickHz(u64::MAX)), Some(BytesPerSec::MAX));
        assert_eq!(BytesPerSec(2_000).bytes_in(Ticks(1_500), hz), Bytes(3_000));
        assert_eq!(BytesPerSec::MAX.bytes_in(Ticks::MAX, TickHz(1)), Bytes::MAX);
        assert_eq!(BytesPerSec::MAX.bytes_in(Ticks::MAX, TickHz(0)), Bytes(0));
    }

    #[test]
    fn page_sizes() {
        assert_eq!(PageSize::new(4096), Some(PageSize::KIB_4));
        assert_eq!(PageSize::new(1 << 30), Some(PageSize::GIB_1));
        assert_eq!(PageSize::new(2048), None);
        assert_eq!(PageSize::new(1 << 31), None);
        assert_eq!(PageSize::new(0), None);
        assert_eq!(PageSize::KIB_4.pages_for(Bytes(4097)), Pages(2));
        assert_eq!(PageSize::KIB_4.pages_for(Bytes(8192)), Pages(2));
        assert_eq!(PageSize::KIB_4.pages_for(Bytes(u64::MAX)), Pages(1 << 52));
        assert_eq!(Pages(u64::MAX).to_bytes(PageSize::KIB_4), Bytes::MAX);
    }

    #[test]
    fn ticks_from_micros_rounds_up() {
        assert_eq!(Ticks::from_micros(300_000, TickHz::MILLIS), Ticks(300));
        assert_eq!(Ticks::from_micros(1, TickHz::MILLIS), Ticks(1));
        assert_eq!(Ticks::from_micros(u64::MAX, TickHz::NANOS), Ticks::MAX);
    }

    #[test]
    fn shares() {
        assert_eq!(Share::from_ratio(1, 2), Some(Share::HALF));
        assert_eq!(Share::from_ppm(1_000_000), Some(Share::ONE));
        assert_eq!(Share::from_percent(101), None);
        assert_eq!(Share::from_ratio(1, 0), None);
        assert_eq!(Share::HALF.of(u64::MAX), u64::MAX / 2 + 1); // a tie rounds up
        assert_eq!(Share::ONE.of(u64::MAX), u64::MAX);
        assert_eq!(Share::ZERO.of(u64::MAX), 0);
        let third = Share::from_ratio(1, 3).unwrap();
        assert_eq!(third.of(3_000_000_000), 1_000_000_000);
        assert_eq!(third.of(2), 1);
        assert_eq!(Share::from_ratio(3, 5), Share::from_ppm(600_000));
        // Decimal shares give the decimal product, rounded to nearest (exact ties such as
        // 5 % of 10 may go either way: 1/20 is not exact in binary).
        let five = Share::from_percent(5).unwrap();
        for v in [0, 1, 11, 19, 20, 12_500_000, 50_000_000_000, u64::MAX / 2] {
            let exact_nearest = (u128::from(v) * 5 + 50) / 100;
            assert_eq!(u128::from(five.of(v)), exact_nearest, "{v}");
        }
    }
}
