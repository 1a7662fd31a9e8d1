//! The shared link: the migration, the guest's service and background traffic share one
//! capacity.
//!
//! Each flow asks for a rate. When the demands fit the capacity, each gets what it asks.
//! When they do not, the link is overloaded: a queue builds up, packets drop and TCP backs
//! off, so the link carries less than its capacity — `efficiency` times it (1.0 = no loss) —
//! and that is shared max-min fairly (no flow gets more than it asks; the rest is split
//! evenly among the flows still wanting more), as competing TCP flows roughly do.
//!
//! This is where a policy that leaves room for the other traffic can beat one that takes
//! everything: with `efficiency` below 1, asking for more than is free makes everyone lose.
//! With `efficiency` 1.0, a policy that caps itself below its fair share can only leave
//! bandwidth unused.

use serde::{Deserialize, Serialize};

/// Background traffic (neither this VM's migration nor its service).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Background {
    /// A constant rate, bytes per second.
    Constant {
        /// The rate.
        rate: f64,
    },
    /// `base` bytes per second, with `burst` instead for `burst_s` seconds of every `period_s`.
    Bursty {
        /// The rate between bursts.
        base: f64,
        /// The rate during a burst.
        burst: f64,
        /// The cycle, seconds.
        period_s: f64,
        /// The burst's length, seconds.
        burst_s: f64,
    },
}

impl Background {
    /// Checks that the rates are finite and not negative and the bursts fit their cycle.
    pub fn validate(&self) -> Result<(), String> {
        let rate_ok = |r: f64| r.is_finite() && r >= 0.0;
        match *self {
            Self::Constant { rate } if rate_ok(rate) => Ok(()),
            Self::Constant { .. } => Err("the rate must be finite and not negative".into()),
            Self::Bursty { base, burst, period_s, burst_s } => {
                if !(rate_ok(base) && rate_ok(burst)) {
                    Err("the rates must be finite and not negative".into())
                } else if !(period_s.is_finite() && period_s > 0.0 && burst_s >= 0.0 && burst_s <= period_s) {
                    Err("a burst must last between 0 and its whole cycle, and the cycle must be positive".into())
                } else {
                    Ok(())
                }
            }
        }
    }

    /// The background's demand at `t_s` seconds.
    pub fn rate(&self, t_s: f64) -> f64 {
        match *self {
            Self::Constant { rate } => rate,
            Self::Bursty { base, burst, period_s, burst_s } => {
                if t_s % period_s >= period_s - burst_s {
                    burst
                } else {
                    base
                }
            }
        }
    }
}

/// The link.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Link {
    /// Capacity, bytes per second.
    pub capacity: f64,
    /// The share of the capacity an overloaded link still carries, in `(0, 1]`.
    pub efficiency: f64,
    /// The other traffic.
    pub background: Background,
}

impl Link {
    /// What each flow gets for its `demands` (bytes per second, each at least 0).
    pub fn share<const N: usize>(&self, demands: [f64; N]) -> [f64; N] {
        let total: f64 = demands.iter().sum();
        // Demands computed from whole-byte measurements can exceed an exactly full link by a
        // rounding error; that is not an overload.
        if total <= self.capacity * (1.0 + 1e-9) + 1.0 {
            return demands;
        }
        max_min_share(self.capacity * self.efficiency, demands)
    }
}

/// Max-min fair shares of `capacity` for `demands` (water-filling): repeatedly give every
/// flow still wanting more an equal part of what is left, capped at its demand.
pub fn max_min_share<const N: usize>(capacity: f64, demands: [f64; N]) -> [f64; N] {
    let mut shares = [0.0; N];
    let mut wanting = demands.map(|d| d > 0.0);
    let mut left = capacity;
    for _ in 0..N {
        let count = wanting.iter().filter(|&&w| w).count();
        if count == 0 || left <= 0.0 {
            break;
        }
        let fair = left / count as f64;
        let mut anyone_satisfied = false;
        for i in 0..N {
            if wanting[i] && demands[i] - shares[i] <= fair {
                left -= demands[i] - shares[i];
                shares[i] = demands[i];
                wanting[i] = false;
                anyone_satisfied = true;
            }
        }
        if !anyone_satisfied {
            for i in 0..N {
                if wanting[i] {
                    shares[i] += fair;
                }
            }
            break;
        }
    }
    shares
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(efficiency: f64) -> Link {
        Link { capacity: 100.0, efficiency, background: Background::Constant { rate: 10.0 } }
    }

    #[test]
    fn demands_that_fit_are_met() {
        assert_eq!(link(0.5).share([30.0, 20.0, 10.0]), [30.0, 20.0, 10.0]);
    }

    #[test]
    fn overload_is_shared_max_min_after_the_loss() {
        // 90 + 20 + 10 > 100: 90 carried; 10 and 20 are met, the migration gets the rest.
        assert_eq!(link(0.9).share([90.0, 20.0, 10.0]), [60.0, 20.0, 10.0]);
        // Without loss the migration gets exactly what the others leave.
        assert_eq!(link(1.0).share([90.0, 20.0, 10.0]), [70.0, 20.0, 10.0]);
        // Two greedy flows split evenly.
        assert_eq!(link(1.0).share([500.0, 500.0, 0.0]), [50.0, 50.0, 0.0]);
    }

    #[test]
    fn bursts_follow_their_period() {
        let b = Background::Bursty { base: 1.0, burst: 5.0, period_s: 3.0, burst_s: 1.0 };
        assert_eq!((b.rate(0.5), b.rate(2.5), b.rate(3.5)), (1.0, 5.0, 1.0));
    }
}
