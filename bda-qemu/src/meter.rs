//! `U_used`: the traffic on the outgoing link that is not this VM's, from byte counters.
//!
//! The interface's tx counter counts every byte that left, the migration's included, with
//! its TCP/IP headers; QEMU counts the migration's bytes when it queues them (`ram.transferred`,
//! without headers). So `U_used = Δtx − Δmigration · (1 + overhead) − Δservice` over a window
//! of about a second: over a single short pass QEMU's count runs ahead of the wire by the
//! socket's buffer and the readings swing wildly.

use std::collections::VecDeque;
use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::steer::mul_div;

/// One reading of the counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// When, µs since the Unix epoch.
    pub at_us: u64,
    /// The outgoing interface's tx bytes.
    pub iface_tx: u64,
    /// The VM's own service traffic counter, when one is given.
    pub service: Option<u64>,
    /// `ram.transferred`: the migration's bytes so far (0 before it starts).
    pub migration: u64,
}

/// The windowed estimate of `U_used`.
#[derive(Clone, Debug)]
pub struct Meter {
    window_us: u64,
    overhead_ppm: u64,
    samples: VecDeque<Counters>,
    /// The last estimate, kept while the window is still too short for a new one.
    last: u64,
    /// The service's own rate over the same window, when its counter is read.
    last_service: Option<u64>,
}

/// A window shorter than this gives no estimate (the previous one stands).
const MIN_SPAN_US: u64 = 200_000;

impl Meter {
    /// A meter over `window_us`, with the migration's header overhead in ppm.
    pub fn new(window_us: u64, overhead_ppm: u64) -> Self {
        Self { window_us, overhead_ppm, samples: VecDeque::new(), last: 0, last_service: None }
    }

    /// Adds a reading; readings must come in time order (others are ignored).
    pub fn push(&mut self, counters: &Counters) {
        if self.samples.back().is_some_and(|last| last.at_us >= counters.at_us) {
            return;
        }
        self.samples.push_back(*counters);
        // Keep one sample at or beyond the window's start.
        while self.samples.len() > 2
            && self.samples.get(1).is_some_and(|s| counters.at_us.saturating_sub(s.at_us) >= self.window_us)
        {
            self.samples.pop_front();
        }
        if let (Some(first), Some(last)) = (self.samples.front(), self.samples.back()) {
            let span = last.at_us.saturating_sub(first.at_us);
            if span >= MIN_SPAN_US {
                let tx = last.iface_tx.saturating_sub(first.iface_tx);
                let migration = last.migration.saturating_sub(first.migration);
                let migration_wire = migration.saturating_add(mul_div(migration, self.overhead_ppm, 1_000_000));
                let service = match (first.service, last.service) {
                    (Some(a), Some(b)) => Some(b.saturating_sub(a)),
                    _ => None,
                };
                let other = tx.saturating_sub(migration_wire).saturating_sub(service.unwrap_or(0));
                self.last = mul_div(other, 1_000_000, span);
                self.last_service = service.map(|bytes| mul_div(bytes, 1_000_000, span));
            }
        }
    }

    /// `U_used` in B/s: the latest estimate (0 before the first).
    pub fn other_usage(&self) -> u64 {
        self.last
    }

    /// The VM's own service traffic in B/s over the same window, when its counter is read
    /// (`None` without one, or before the first estimate).
    pub fn service_usage(&self) -> Option<u64> {
        self.last_service
    }
}

/// A byte counter of a network interface in sysfs.
#[derive(Clone, Debug)]
pub struct IfaceCounter {
    path: PathBuf,
    /// What the counter is, for messages: `eth0 tx_bytes`.
    pub name: String,
}

impl IfaceCounter {
    /// The counter `statistic` (`tx_bytes`, `rx_bytes`) of interface `iface`; an error when the
    /// interface does not exist here.
    pub fn new(iface: &str, statistic: &str) -> Result<Self, String> {
        if iface.is_empty() || iface.contains('/') || iface.starts_with('.') {
            return Err(format!("{iface:?} is not an interface name"));
        }
        let counter = Self {
            path: PathBuf::from(format!("/sys/class/net/{iface}/statistics/{statistic}")),
            name: format!("{iface} {statistic}"),
        };
        counter.read().map_err(|e| format!("interface {iface}: {e} (is it in this network namespace?)"))?;
        Ok(counter)
    }

    /// Reads the counter.
    pub fn read(&self) -> Result<u64, String> {
        let text = fs::read_to_string(&self.path).map_err(|e| format!("cannot read {}: {e}", self.path.display()))?;
        text.trim().parse().map_err(|_| format!("{} is not a number: {text:?}", self.path.display()))
    }
}

/// The TCP/IP overhead of a bulk TCP stream on an interface of `mtu` bytes, in ppm of its
/// payload: each segment carries `mtu − 52` bytes (IPv4 and TCP with timestamps) in a frame
/// of `mtu + 14` bytes (Ethernet), as the interface counts it.
pub fn header_overhead_ppm(mtu: u64) -> u64 {
    let payload = mtu.saturating_sub(52).max(1);
    mul_div(mtu.saturating_add(14).saturating_sub(payload), 1_000_000, payload)
}

/// The MTU of interface `iface`.
pub fn mtu(iface: &str) -> Result<u64, String> {
    let path = format!("/sys/class/net/{iface}/mtu");
    let text = fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    text.trim().parse().map_err(|_| format!("{path} is not a number: {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64, tx: u64, migration: u64, service: Option<u64>) -> Counters {
        Counters { at_us: ms * 1000, iface_tx: tx, service, migration }
    }

    #[test]
    fn overhead_at_1500_is_the_frame_over_the_payload() {
        // 1514 / 1448 - 1 = 4.558 %.
        assert_eq!(header_overhead_ppm(1500), 45_580);
    }

    #[test]
    fn other_traffic_is_tx_minus_migration_with_headers_minus_service() {
        let mut meter = Meter::new(1_000_000, 50_000);
        meter.push(&at(0, 0, 0, Some(0)));
        // Over 1 s: 10 MB on the wire, 8 MB of migration (8.4 MB with 5 % headers), 1 MB service.
        meter.push(&at(1000, 10_000_000, 8_000_000, Some(1_000_000)));
        assert_eq!((meter.other_usage(), meter.service_usage()), (600_000, Some(1_000_000)));
        // Without a service counter, the service counts as other traffic.
        let mut meter = Meter::new(1_000_000, 50_000);
        meter.push(&at(0, 0, 0, None));
        meter.push(&at(1000, 10_000_000, 8_000_000, None));
        assert_eq!((meter.other_usage(), meter.service_usage()), (1_600_000, None));
    }

    #[test]
    fn the_window_slides_and_a_short_span_keeps_the_last_estimate() {
        let mut meter = Meter::new(1_000_000, 0);
        meter.push(&at(0, 0, 0, None));
        meter.push(&at(100, 100_000, 0, None));
        assert_eq!(meter.other_usage(), 0, "100 ms is too short for an estimate");
        for ms in (200..=3000).step_by(100) {
            // 1 MB/s until 2 s, then 3 MB/s.
            let tx = if ms <= 2000 { ms * 1000 } else { 2_000_000 + (ms - 2000) * 3000 };
            meter.push(&at(ms, tx, 0, None));
        }
        assert_eq!(meter.other_usage(), 3_000_000, "the window holds only the last second");
    }

    #[test]
    fn the_migration_running_ahead_of_the_wire_reads_as_zero_not_a_wrap() {
        let mut meter = Meter::new(1_000_000, 45_580);
        meter.push(&at(0, 0, 0, None));
        meter.push(&at(500, 1_000_000, 4_000_000, None));
        assert_eq!(meter.other_usage(), 0);
    }
}
