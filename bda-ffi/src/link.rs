//! `bda_link` and `bda_link_filter`: the link as the caller measured it, with the service's
//! reserve, and the filter that smooths `U_used` and learns that reserve.
//!
//! `bda_begin_round` and `bda_reassess` take the capacity and `U_used` as two numbers. BDA+
//! can also reserve what the VM's own service needs, learned from its measured traffic (its
//! virtual NIC's counters); that takes a third, optional, figure, so the link travels as a
//! struct to `bda_begin_round_link` and `bda_reassess_link`. `bda_link_filter` turns raw
//! readings into such a struct: `U_used` smoothed, and the reserve learned (an EWMA of the
//! service's level and of its deviation, as TCP learns its retransmission timeout). It has
//! storage of its own, so a caller that does not measure the service pays nothing for it in
//! `bda_state`.
#![allow(unsafe_code, reason = "exports C symbols and reads the caller's filter")]

use bda_core::{BytesPerSec, LinkFilter, LinkFilterConfig, LinkSample, TickHz, Ticks};

use crate::ffi::{Out, checked, marked_mut, status_of};
use crate::status::bda_status;

/// The link for one of bda's round calls (`bda_begin_round_link`, `bda_reassess_link`), as
/// the caller measured it or as `bda_link_filter_update` smoothed it.
#[allow(non_camel_case_types, reason = "C names")]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct bda_link {
    /// `T`: the link capacity in bytes/s; 0 is allowed (nothing is free).
    pub capacity_bytes_per_s: u64,
    /// `U_used`: the traffic on the link that is neither this VM's migration nor its own
    /// service traffic, in bytes/s; at most `capacity_bytes_per_s`.
    pub other_usage_bytes_per_s: u64,
    /// The rate to reserve for the VM's own service, in bytes/s (any value; more than the
    /// free bandwidth leaves the migration its floor). Read only when
    /// `has_service_reserve` is 1, and only by BDA+ with `BDA_RESERVE_SERVICE_TRAFFIC`,
    /// which then reserves this instead of the paper's dirty-rate reserve.
    pub service_reserve_bytes_per_s: u64,
    /// 1: `service_reserve_bytes_per_s` holds a reserve; 0: the service was not measured
    /// (BDA+ falls back to the paper's reserve).
    pub has_service_reserve: u32,
    /// Reserved for later versions; set it to 0 (bda ignores it).
    pub reserved: u32,
}

impl bda_link {
    /// The kernel's sample, refused when the other traffic exceeds the capacity or the flag
    /// is neither 0 nor 1.
    pub(crate) fn sample(&self) -> Result<LinkSample, bda_status> {
        let link = checked_link(self.capacity_bytes_per_s, self.other_usage_bytes_per_s)?;
        match self.has_service_reserve {
            0 => Ok(link),
            1 => Ok(link.with_service_reserve(BytesPerSec(self.service_reserve_bytes_per_s))),
            _ => Err(bda_status::BDA_ERR_SERVICE_RESERVE_FLAG_INVALID),
        }
    }
}

/// A link of `capacity` with `other_usage` of other traffic, refused when the other traffic
/// exceeds the capacity.
pub(crate) fn checked_link(capacity_bytes_per_s: u64, other_usage_bytes_per_s: u64) -> Result<LinkSample, bda_status> {
    if other_usage_bytes_per_s > capacity_bytes_per_s {
        return Err(bda_status::BDA_ERR_USAGE_ABOVE_CAPACITY);
    }
    Ok(LinkSample::new(BytesPerSec(capacity_bytes_per_s), BytesPerSec(other_usage_bytes_per_s)))
}

/// The settings of a `bda_link_filter`. Fill it with `bda_link_filter_config_default`, set
/// `tick_hz` (no default), then pass it to `bda_link_filter_init`.
#[allow(non_camel_case_types, reason = "C names")]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct bda_link_filter_config {
    /// The frequency of the clock whose ticks the caller passes as `now` (the migration's
    /// `tick_hz`). No default: must be set (> 0).
    pub tick_hz: u64,
    /// How fast the smoothed `U_used` follows a rise, in microseconds (default 0: at once,
    /// so a burst of other traffic shows at the next reading).
    pub usage_rise_us: u64,
    /// How fast the smoothed `U_used` follows a fall, in microseconds (default 1000000: a
    /// second, so one quiet reading does not hand its bandwidth to the migration).
    pub usage_fall_us: u64,
    /// The time constant of the service traffic's learned level and deviation, in
    /// microseconds (default 1000000).
    pub service_tau_us: u64,
    /// How many mean deviations above its level the service's reserve sits, 0..255
    /// (default 2).
    pub service_deviations: u32,
    /// Reserved for later versions; `bda_link_filter_config_default` sets it to 0 and
    /// `bda_link_filter_init` ignores it.
    pub reserved: u32,
}

/// `u64` words in a `bda_link_filter`.
pub const BDA_LINK_FILTER_WORDS: usize = 12;

/// The storage of one link filter. Opaque: initialise it with `bda_link_filter_init` and
/// touch it only through bda's functions.
///
/// Ownership: the caller allocates it (8-byte aligned, which the type guarantees) and frees
/// it; bda keeps no pointer to it. It holds no pointers, so `memcpy` copies it.
///
/// Thread safety: calls on distinct filters may run concurrently; calls on one must not
/// overlap.
#[allow(non_camel_case_types, reason = "C names")]
#[repr(C)]
pub struct bda_link_filter {
    /// Opaque.
    _opaque: [u64; BDA_LINK_FILTER_WORDS],
}

/// The first word of an initialised filter: "bda-lf01" in ASCII.
const MAGIC: u64 = u64::from_be_bytes(*b"bda-lf01");

/// What a `bda_link_filter` holds.
///
/// cbindgen:ignore
#[repr(C)]
struct Filter {
    /// [`MAGIC`], first, so it can be read before the rest is trusted.
    magic: u64,
    filter: LinkFilter,
}

const _: () = assert!(size_of::<Filter>() <= size_of::<bda_link_filter>());
const _: () = assert!(align_of::<Filter>() <= align_of::<bda_link_filter>());

/// The defaults, with `tick_hz` at 0 (the caller must set it): the kernel's
/// `LinkFilterConfig::default()` (a test checks it).
const DEFAULT: bda_link_filter_config = bda_link_filter_config {
    tick_hz: 0,
    usage_rise_us: 0,
    usage_fall_us: 1_000_000,
    service_tau_us: 1_000_000,
    service_deviations: 2,
    reserved: 0,
};

/// Fills `config` with the link filter's defaults: rises of `U_used` shown at once, falls
/// over a second, the service's level and deviation learned over a second, and its reserve
/// two mean deviations above its level. `tick_hz` is set to 0: set it before
/// `bda_link_filter_init`, which refuses 0.
///
/// Ownership: the caller owns `config`; bda keeps no pointer to it.
///
/// Parameters:
///
/// - `config`: where to write the defaults.
///
/// Returns: `BDA_OK`; `BDA_ERR_NULL_POINTER` or `BDA_ERR_MISALIGNED_POINTER` for a bad
/// `config`, which is then left alone.
///
/// NULL: `config` must not be NULL. Thread safety: touches only `*config`.
///
/// # Safety
///
/// `config` must be NULL or point to memory valid for writing a `bda_link_filter_config`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bda_link_filter_config_default(config: *mut bda_link_filter_config) -> bda_status {
    status_of(|| {
        let config = Out::new(config)?;
        // SAFETY: the function's contract: `config` is valid for a write.
        unsafe { config.write(DEFAULT) };
        Ok(())
    })
}

/// Initialises `filter` with the settings in `config`: no reading taken yet. Initialising a
/// filter that holds readings starts it afresh.
///
/// Ownership: the caller owns both; bda keeps no pointer to either.
///
/// Parameters:
///
/// - `filter`: the caller's storage for the filter.
/// - `config`: the settings, filled by `bda_link_filter_config_default` and then adjusted.
///
/// Returns: `BDA_OK`; `BDA_ERR_NULL_POINTER` or `BDA_ERR_MISALIGNED_POINTER` for a bad
/// pointer; `BDA_ERR_TICK_HZ_ZERO` or `BDA_ERR_SERVICE_DEVIATIONS_OUT_OF_RANGE`, and then
/// `filter` is left as it was.
///
/// NULL: neither pointer may be NULL. Thread safety: no other call may use `filter`
/// meanwhile.
///
/// # Safety
///
/// `filter` must be NULL or valid for writing a `bda_link_filter`; `config` must be NULL or
/// point to a readable `bda_link_filter_config`; they must not overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bda_link_filter_init(
    filter: *mut bda_link_filter,
    config: *const bda_link_filter_config,
) -> bda_status {
    status_of(|| {
        let filter = Out::new(filter.cast::<Filter>())?;
        // SAFETY: non-NULL and aligned (checked), readable by the contract; integers only.
        let config = unsafe { checked(config)?.as_ref() };
        if config.tick_hz == 0 {
            return Err(bda_status::BDA_ERR_TICK_HZ_ZERO);
        }
        let service_deviations =
            u8::try_from(config.service_deviations).map_err(|_| bda_status::BDA_ERR_SERVICE_DEVIATIONS_OUT_OF_RANGE)?;
        let settings = LinkFilterConfig {
            usage_rise_us: config.usage_rise_us,
            usage_fall_us: config.usage_fall_us,
            service_tau_us: config.service_tau_us,
            service_deviations,
        };
        let value = Filter { magic: MAGIC, filter: LinkFilter::new(settings, TickHz(config.tick_hz)) };
        // SAFETY: the contract: `filter` is valid for writing a `bda_link_filter`, which is
        // large enough for a `Filter` (asserted above).
        unsafe { filter.write(value) };
        Ok(())
    })
}

/// Takes one reading of the link and returns what a round call should see: `U_used`
/// smoothed, and, when the service was measured, the reserve learned from its traffic.
/// Pass the result to `bda_begin_round_link` or `bda_reassess_link`. The smoothed `U_used`
/// is reported at most at the capacity given: after the capacity falls, the average of
/// earlier readings may stand above it, and the link then counts as full.
///
/// Call it at every reading (every 100 ms or so), not only when a round call follows: the
/// averages learn from each. A `now_ticks` earlier than the last reading's counts as no
/// time passed.
///
/// Ownership: the caller owns `filter` and `smoothed`; bda keeps no pointer to either.
///
/// Parameters:
///
/// - `filter`: an initialised filter.
/// - `capacity_bytes_per_s`: the link capacity `T`.
/// - `other_usage_bytes_per_s`: `U_used` as measured over the last interval, at most
///   `capacity_bytes_per_s`.
/// - `service_traffic_bytes_per_s`: the VM's own service traffic over the same interval
///   (its virtual NIC's counters); read only when `service_measured` is 1.
/// - `service_measured`: 1 when `service_traffic_bytes_per_s` holds a measurement, 0 when
///   it does not (the result then carries no reserve).
/// - `now_ticks`: the caller's clock, in ticks of the filter's `tick_hz`.
/// - `smoothed`: receives the link to plan with.
///
/// Returns: `BDA_OK`; `BDA_ERR_NULL_POINTER`, `BDA_ERR_MISALIGNED_POINTER`,
/// `BDA_ERR_LINK_FILTER_NOT_INITIALISED`; `BDA_ERR_USAGE_ABOVE_CAPACITY` or
/// `BDA_ERR_SERVICE_MEASURED_FLAG_INVALID`. On any error neither `filter` nor `*smoothed`
/// changes.
///
/// NULL: no pointer may be NULL. Thread safety: no other call may use `filter` meanwhile.
///
/// # Safety
///
/// `filter` must be NULL or a filter passed to `bda_link_filter_init` and otherwise
/// untouched; `smoothed` must be NULL or valid for writing a `bda_link`; they must not
/// overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bda_link_filter_update(
    filter: *mut bda_link_filter,
    capacity_bytes_per_s: u64,
    other_usage_bytes_per_s: u64,
    service_traffic_bytes_per_s: u64,
    service_measured: u32,
    now_ticks: u64,
    smoothed: *mut bda_link,
) -> bda_status {
    status_of(|| {
        let out = Out::new(smoothed)?;
        // SAFETY: the contract; a `bda_link_filter` is at least as large as a `Filter`
        // (asserted above), whose first field is the marker.
        let filter = unsafe {
            &mut marked_mut(filter.cast::<Filter>(), MAGIC, bda_status::BDA_ERR_LINK_FILTER_NOT_INITIALISED)?.filter
        };
        let raw = checked_link(capacity_bytes_per_s, other_usage_bytes_per_s)?;
        let service = match service_measured {
            0 => None,
            1 => Some(BytesPerSec(service_traffic_bytes_per_s)),
            _ => return Err(bda_status::BDA_ERR_SERVICE_MEASURED_FLAG_INVALID),
        };
        let sample = filter.update(raw, service, Ticks(now_ticks));
        let link = bda_link {
            capacity_bytes_per_s: sample.capacity.0,
            other_usage_bytes_per_s: sample.other_usage.0,
            service_reserve_bytes_per_s: sample.service_reserve.map_or(0, |reserve| reserve.0),
            has_service_reserve: u32::from(sample.service_reserve.is_some()),
            reserved: 0,
        };
        // SAFETY: the function's contract: `smoothed` is valid for a write.
        unsafe { out.write(link) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use core::mem::MaybeUninit;

    use super::*;

    const MB: u64 = 1_000_000;

    fn filter() -> Box<bda_link_filter> {
        let mut config = MaybeUninit::uninit();
        assert_eq!(unsafe { bda_link_filter_config_default(config.as_mut_ptr()) }, bda_status::BDA_OK);
        let config = bda_link_filter_config { tick_hz: 1_000, ..unsafe { config.assume_init() } };
        let mut filter = Box::new(bda_link_filter { _opaque: [0; BDA_LINK_FILTER_WORDS] });
        assert_eq!(unsafe { bda_link_filter_init(&mut *filter, &config) }, bda_status::BDA_OK);
        filter
    }

    fn update(
        filter: &mut bda_link_filter,
        other: u64,
        service: Option<u64>,
        now: u64,
    ) -> Result<bda_link, bda_status> {
        let mut out = MaybeUninit::uninit();
        let (traffic, measured) = service.map_or((0, 0), |s| (s, 1));
        match unsafe { bda_link_filter_update(filter, 10 * MB, other, traffic, measured, now, out.as_mut_ptr()) } {
            bda_status::BDA_OK => Ok(unsafe { out.assume_init() }),
            status => Err(status),
        }
    }

    #[test]
    fn the_defaults_are_the_kernels() {
        let kernel = LinkFilterConfig::default();
        assert_eq!(
            (DEFAULT.usage_rise_us, DEFAULT.usage_fall_us, DEFAULT.service_tau_us, DEFAULT.service_deviations),
            (kernel.usage_rise_us, kernel.usage_fall_us, kernel.service_tau_us, u32::from(kernel.service_deviations))
        );
        assert_eq!((DEFAULT.tick_hz, DEFAULT.reserved), (0, 0));
    }

    #[test]
    fn the_filter_smooths_and_learns_as_the_kernels_does() {
        let mut c = filter();
        let mut kernel = LinkFilter::new(LinkFilterConfig::default(), TickHz::MILLIS);
        let readings = [(MB, Some(2 * MB)), (0, Some(2 * MB)), (3 * MB, Some(6 * MB)), (MB, None), (MB, Some(0))];
        for (i, (other, service)) in readings.into_iter().enumerate() {
            let now = 100 * i as u64;
            let link = update(&mut c, other, service, now).unwrap();
            let expected = kernel.update(
                LinkSample::new(BytesPerSec(10 * MB), BytesPerSec(other)),
                service.map(BytesPerSec),
                Ticks(now),
            );
            assert_eq!(link.sample().unwrap(), expected, "reading {i}");
            assert_eq!(link.has_service_reserve, u32::from(service.is_some()));
        }
    }

    #[test]
    fn bad_input_is_refused_and_changes_nothing() {
        let mut c = filter();
        let before = c._opaque;
        assert_eq!(update(&mut c, 11 * MB, None, 0), Err(bda_status::BDA_ERR_USAGE_ABOVE_CAPACITY));
        let mut out = MaybeUninit::uninit();
        let status = unsafe { bda_link_filter_update(&mut *c, MB, 0, 0, 2, 0, out.as_mut_ptr()) };
        assert_eq!(status, bda_status::BDA_ERR_SERVICE_MEASURED_FLAG_INVALID);
        assert_eq!(c._opaque, before);
        let status = unsafe { bda_link_filter_update(&mut *c, MB, 0, 0, 0, 0, core::ptr::null_mut()) };
        assert_eq!(status, bda_status::BDA_ERR_NULL_POINTER);

        let mut zeroed = bda_link_filter { _opaque: [0; BDA_LINK_FILTER_WORDS] };
        let status = unsafe { bda_link_filter_update(&mut zeroed, MB, 0, 0, 0, 0, out.as_mut_ptr()) };
        assert_eq!(status, bda_status::BDA_ERR_LINK_FILTER_NOT_INITIALISED);

        let config = bda_link_filter_config { tick_hz: 0, ..DEFAULT };
        assert_eq!(unsafe { bda_link_filter_init(&mut zeroed, &config) }, bda_status::BDA_ERR_TICK_HZ_ZERO);
        let config = bda_link_filter_config { tick_hz: 1, service_deviations: 256, ..DEFAULT };
        let status = unsafe { bda_link_filter_init(&mut zeroed, &config) };
        assert_eq!(status, bda_status::BDA_ERR_SERVICE_DEVIATIONS_OUT_OF_RANGE);
        assert_eq!(zeroed._opaque, [0; BDA_LINK_FILTER_WORDS], "a refused init wrote the filter");
        let config = bda_link_filter_config { tick_hz: 1, service_deviations: 255, reserved: u32::MAX, ..DEFAULT };
        assert_eq!(unsafe { bda_link_filter_init(&mut zeroed, &config) }, bda_status::BDA_OK);
    }

    #[test]
    fn a_links_flag_is_checked() {
        let link = |flag| bda_link {
            capacity_bytes_per_s: 10,
            other_usage_bytes_per_s: 1,
            service_reserve_bytes_per_s: u64::MAX,
            has_service_reserve: flag,
            reserved: u32::MAX,
        };
        assert_eq!(link(0).sample(), Ok(LinkSample::new(BytesPerSec(10), BytesPerSec(1))));
        assert_eq!(link(1).sample().unwrap().service_reserve, Some(BytesPerSec::MAX));
        assert_eq!(link(2).sample(), Err(bda_status::BDA_ERR_SERVICE_RESERVE_FLAG_INVALID));
        let over = bda_link { other_usage_bytes_per_s: 11, ..link(0) };
        assert_eq!(over.sample(), Err(bda_status::BDA_ERR_USAGE_ABOVE_CAPACITY));
    }
}
