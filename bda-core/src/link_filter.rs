//! Conditioning the link measurements before a policy sees them: `U_used` smoothed, and a
//! reserve learned from the VM's own service traffic.
//!
//! A policy is only as good as its `U_used`. Single readings are noisy: a hypervisor counts
//! migration bytes when it queues them, not when they leave the interface, so "everything on
//! the interface minus the migration" swings low and high within a second. [`LinkFilter`]
//! smooths it with an exponentially weighted moving average (EWMA) over about a second, but
//! with separate time constants for rises and falls: by default a rise shows at once (other
//! traffic that bursts must not be run over) and a fall decays over a second (one quiet
//! reading must not hand its bandwidth to the migration).
//!
//! Where the VM's own service traffic can be measured (its virtual NIC's counters), the
//! filter also learns what to reserve for it, the way TCP learns a retransmission timeout
//! from round-trip times (RFC 6298): an EWMA of the traffic (its level) and of its absolute
//! deviation from that level (how far it swings), and reserves `max(latest, mean + k *
//! deviation)`. A steady service gets its level and nothing more; a bursty one gets headroom
//! for its bursts; and a burst raises the reserve at the very next reading, within a round
//! (the controller's reassessment is the hook). [`BdaPlus`](crate::BdaPlus) uses it when
//! configured with [`ReserveSource::ServiceTraffic`](crate::ReserveSource).
//!
//! # Arithmetic
//!
//! Each update moves a value `v` towards a sample `x` by `(x - v) * dt / (tau + dt)`, where
//! `dt` is the time since the last update and `tau` the time constant (the standard EWMA for
//! irregular sampling; for `dt << tau` it equals `1 - e^(-dt/tau)`). The step is computed
//! exactly in `u128` and rounded up in magnitude, so the value never overshoots the sample and
//! reaches a constant input exactly. `tau = 0` follows the sample at once; `dt = 0` (a second
//! update at the same tick) leaves the averages as they are.
//!
//! # Example
//!
//! ```
//! use bda_core::{BytesPerSec, LinkFilter, LinkFilterConfig, LinkSample, TickHz, Ticks};
//!
//! let mut filter = LinkFilter::new(LinkFilterConfig::default(), TickHz::MILLIS);
//! let link = |used| LinkSample::new(BytesPerSec(12_500_000), BytesPerSec(used));
//! let service = |rate| Some(BytesPerSec(rate));
//!
//! // A steady 2 MB/s service beside 1 MB/s of other traffic.
//! let mut now = 0;
//! let mut smoothed = filter.update(link(1_000_000), service(2_000_000), Ticks(now));
//! for _ in 0..50 {
//!     now += 100;
//!     smoothed = filter.update(link(1_000_000), service(2_000_000), Ticks(now));
//! }
//! assert_eq!(smoothed.other_usage, BytesPerSec(1_000_000));
//! assert_eq!(smoothed.service_reserve, Some(BytesPerSec(2_000_000)));
//!
//! // One reading of 0: the smoothed usage falls by a tenth of the way, not to 0.
//! now += 100;
//! let dip = filter.update(link(0), service(2_000_000), Ticks(now));
//! assert_eq!(dip.other_usage, BytesPerSec(909_090));
//!
//! // The service bursts to 6 MB/s: the reserve follows at once, and stays above the level
//! // for a while after (the deviation it learned).
//! now += 100;
//! let burst = filter.update(link(1_000_000), service(6_000_000), Ticks(now));
//! assert_eq!(burst.service_reserve, Some(BytesPerSec(6_000_000)));
//! now += 100;
//! let after = filter.update(link(1_000_000), service(2_000_000), Ticks(now));
//! assert!(after.service_reserve.unwrap() > BytesPerSec(2_500_000));
//! ```

use crate::policy::LinkSample;
use crate::units::{BytesPerSec, TickHz, Ticks};

/// The settings of a [`LinkFilter`]. Every value is valid; 0 turns a smoothing off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LinkFilterConfig {
    /// How fast the smoothed `U_used` follows a rise, microseconds (default 0: at once, so a
    /// burst of other traffic shows at the next reading).
    pub usage_rise_us: u64,
    /// How fast it follows a fall, microseconds (default 1,000,000: a second).
    pub usage_fall_us: u64,
    /// The time constant of the service traffic's level and deviation, microseconds (default
    /// 1,000,000).
    pub service_tau_us: u64,
    /// `k`: how many mean deviations above its level the service's reserve sits (default 2).
    pub service_deviations: u8,
}

impl Default for LinkFilterConfig {
    fn default() -> Self {
        Self { usage_rise_us: 0, usage_fall_us: 1_000_000, service_tau_us: 1_000_000, service_deviations: 2 }
    }
}

/// One EWMA.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Average {
    value: u64,
    /// The tick of the last update; `None` before the first.
    last: Option<Ticks>,
}

/// Smooths `U_used` and learns the service's reserve; see the [module](self) documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LinkFilter {
    usage_rise: Ticks,
    usage_fall: Ticks,
    service_tau: Ticks,
    service_deviations: u8,
    usage: Average,
    service_level: Average,
    service_deviation: u64,
}

impl LinkFilter {
    /// A filter with `config`'s time constants on a clock of `tick_hz`.
    pub fn new(config: LinkFilterConfig, tick_hz: TickHz) -> Self {
        Self {
            usage_rise: Ticks::from_micros(config.usage_rise_us, tick_hz),
            usage_fall: Ticks::from_micros(config.usage_fall_us, tick_hz),
            service_tau: Ticks::from_micros(config.service_tau_us, tick_hz),
            service_deviations: config.service_deviations,
            usage: Average::default(),
            service_level: Average::default(),
            service_deviation: 0,
        }
    }

    /// Takes the readings at `now` and returns what a policy should see: `raw` with its
    /// `other_usage` smoothed, and `service_reserve` learned from `service_traffic` (the VM's
    /// own traffic, measured over the same interval), or `None` when it was not measured.
    /// `raw.service_reserve` is ignored.
    ///
    /// A `now` before the last update's counts as no time passed. The smoothed `U_used` is
    /// returned at most at `raw.capacity`: after the capacity falls, the average of earlier
    /// readings may stand above it, and the link is then full (nothing free), which is
    /// what a policy would make of the larger figure too; the average itself keeps the
    /// unclipped value.
    pub fn update(&mut self, raw: LinkSample, service_traffic: Option<BytesPerSec>, now: Ticks) -> LinkSample {
        let smoothed =
            self.usage.follow(raw.other_usage.0, now, |up| if up { self.usage_rise } else { self.usage_fall });
        let other_usage = BytesPerSec(smoothed.min(raw.capacity.0));
        let service_reserve = service_traffic.map(|traffic| self.learn_service(traffic.0, now));
        LinkSample { other_usage, service_reserve, ..raw }
    }

    /// The smoothed `U_used`, once a reading was taken.
    pub fn usage(&self) -> Option<BytesPerSec> {
        self.usage.last.map(|_| BytesPerSec(self.usage.value))
    }

    /// The service traffic's learned level and mean deviation, once it was measured.
    pub fn service(&self) -> Option<(BytesPerSec, BytesPerSec)> {
        self.service_level.last.map(|_| (BytesPerSec(self.service_level.value), BytesPerSec(self.service_deviation)))
    }

    /// `max(latest, level + k * deviation)` after taking `traffic` at `now`.
    fn learn_service(&mut self, traffic: u64, now: Ticks) -> BytesPerSec {
        let tau = self.service_tau;
        if let Some(last) = self.service_level.last {
            // RFC 6298's order: the deviation from the level as it was, then the level.
            let dt = now.saturating_sub(last);
            let swing = traffic.abs_diff(self.service_level.value);
            self.service_deviation = toward(self.service_deviation, swing, dt, tau);
        }
        let level = self.service_level.follow(traffic, now, |_| tau);
        let headroom = self.service_deviation.saturating_mul(u64::from(self.service_deviations));
        BytesPerSec(level.saturating_add(headroom).max(traffic))
    }
}

impl Average {
    /// Moves towards `sample` with the time constant `tau(sample > value)`; the first sample
    /// is taken as it is. Returns the new value.
    fn follow(&mut self, sample: u64, now: Ticks, tau: impl FnOnce(bool) -> Ticks) -> u64 {
        self.value = match self.last {
            None => sample,
            Some(last) => toward(self.value, sample, now.saturating_sub(last), tau(sample > self.value)),
        };
        self.last = Some(match self.last {
            Some(last) if last > now => last,
            _ => now,
        });
        self.value
    }
}

/// `value` moved towards `sample` by `|sample - value| * dt / (tau + dt)`, rounded up: never
/// past `sample`, and onto it when `tau` is zero.
fn toward(value: u64, sample: u64, dt: Ticks, tau: Ticks) -> u64 {
    if tau == Ticks::ZERO {
        return sample;
    }
    let gap = sample.abs_diff(value);
    let total = u128::from(tau.0).saturating_add(u128::from(dt.0));
    // gap * dt < 2^128 and total > 0 (tau > 0); the rounded-up quotient is at most gap.
    let numerator = crate::wide::mul(gap, dt.0).saturating_add(total.saturating_sub(1));
    let step = u64::try_from(crate::wide::div(numerator, total).unwrap_or(0)).unwrap_or(gap).min(gap);
    if sample >= value { value.saturating_add(step) } else { value.saturating_sub(step) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: BytesPerSec = BytesPerSec(12_500_000);

    fn link(used: u64) -> LinkSample {
        LinkSample::new(T, BytesPerSec(used))
    }

    #[test]
    fn the_smoothed_usage_never_exceeds_the_capacity_it_is_reported_with() {
        let mut filter = LinkFilter::new(LinkFilterConfig::default(), TickHz::MILLIS);
        filter.update(link(12_000_000), None, Ticks(0));
        // The capacity falls to 1 MB/s: the average of 12 MB/s decays over a second, but
        // the link is reported full, not over-full.
        let out = filter.update(LinkSample::new(BytesPerSec(1_000_000), BytesPerSec(0)), None, Ticks(100));
        assert_eq!((out.capacity, out.other_usage), (BytesPerSec(1_000_000), BytesPerSec(1_000_000)));
        assert!(filter.usage().unwrap() > BytesPerSec(10_000_000), "the average keeps its value");
    }

    #[test]
    fn the_first_reading_is_taken_as_it_is() {
        let mut filter = LinkFilter::new(LinkFilterConfig::default(), TickHz::MICROS);
        assert_eq!(filter.usage(), None);
        let out = filter.update(link(3_000_000), Some(BytesPerSec(4)), Ticks(5));
        assert_eq!((out.other_usage, out.service_reserve), (BytesPerSec(3_000_000), Some(BytesPerSec(4))));
        assert_eq!(out.capacity, T);
        assert_eq!(filter.service(), Some((BytesPerSec(4), BytesPerSec(0))));
    }

    #[test]
    fn rises_follow_at_once_and_falls_decay_by_the_weighted_step() {
        let mut filter = LinkFilter::new(LinkFilterConfig::default(), TickHz::MICROS);
        filter.update(link(1_000_000), None, Ticks(0));
        assert_eq!(filter.update(link(5_000_000), None, Ticks(100_000)).other_usage, BytesPerSec(5_000_000));
        // Fall: 5e6 - 4e6 * 0.1 / 1.1 = 4,636,363.6..., the step rounded up.
        assert_eq!(filter.update(link(1_000_000), None, Ticks(200_000)).other_usage, BytesPerSec(4_636_363));
        // With a rise time constant too, a rise is smoothed the same way.
        let config = LinkFilterConfig { usage_rise_us: 1_000_000, ..LinkFilterConfig::default() };
        let mut smooth = LinkFilter::new(config, TickHz::MICROS);
        smooth.update(link(1_000_000), None, Ticks(0));
        assert_eq!(smooth.update(link(5_000_000), None, Ticks(100_000)).other_usage, BytesPerSec(1_363_637));
    }

    #[test]
    fn no_time_passed_changes_nothing_and_a_backward_clock_counts_as_none() {
        let mut filter = LinkFilter::new(LinkFilterConfig::default(), TickHz::MICROS);
        filter.update(link(4_000_000), Some(BytesPerSec(1_000)), Ticks(1_000));
        assert_eq!(filter.update(link(0), Some(BytesPerSec(1_000)), Ticks(1_000)).other_usage, BytesPerSec(4_000_000));
        assert_eq!(filter.update(link(0), Some(BytesPerSec(1_000)), Ticks(10)).other_usage, BytesPerSec(4_000_000));
    }

    #[test]
    fn zero_time_constants_and_no_deviations_follow_every_reading() {
        let config = LinkFilterConfig {
            usage_fall_us: 0,
            service_tau_us: 0,
            service_deviations: 0,
            ..LinkFilterConfig::default()
        };
        let mut filter = LinkFilter::new(config, TickHz::MICROS);
        for (t, used) in [(0, 9), (1, 2), (2, 7), (3, 0)] {
            let out = filter.update(link(used), Some(BytesPerSec(used)), Ticks(t));
            assert_eq!((out.other_usage, out.service_reserve), (BytesPerSec(used), Some(BytesPerSec(used))));
        }
    }

    #[test]
    fn a_bursty_service_keeps_headroom_and_a_steady_one_does_not() {
        let mut filter = LinkFilter::new(LinkFilterConfig::default(), TickHz::MILLIS);
        let mut reserve = BytesPerSec::ZERO;
        for i in 0..200_u64 {
            let traffic = if i % 20 >= 15 { 6_000_000 } else { 1_000_000 };
            reserve = filter.update(link(0), Some(BytesPerSec(traffic)), Ticks(i * 100)).service_reserve.unwrap();
        }
        // Just after a burst: level plus twice the deviation, well above the 1 MB/s base.
        assert!(reserve > BytesPerSec(3_000_000), "{reserve:?}");
        let mut steady = LinkFilter::new(LinkFilterConfig::default(), TickHz::MILLIS);
        for i in 0..200_u64 {
            reserve = steady.update(link(0), Some(BytesPerSec(1_000_000)), Ticks(i * 100)).service_reserve.unwrap();
        }
        assert_eq!(reserve, BytesPerSec(1_000_000));
    }

    #[test]
    fn extremes_saturate() {
        let mut filter = LinkFilter::new(LinkFilterConfig::default(), TickHz::NANOS);
        filter.update(link(0), Some(BytesPerSec(0)), Ticks(0));
        let out =
            filter.update(LinkSample::new(BytesPerSec::MAX, BytesPerSec::MAX), Some(BytesPerSec::MAX), Ticks::MAX);
        assert_eq!(out.other_usage, BytesPerSec::MAX);
        assert_eq!(out.service_reserve, Some(BytesPerSec::MAX));
        assert_eq!(toward(u64::MAX, 0, Ticks::MAX, Ticks::MAX), u64::MAX / 2);
        assert_eq!(toward(0, u64::MAX, Ticks(1), Ticks::MAX), 1);
    }
}
