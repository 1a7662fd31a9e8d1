//! A scenario: everything a run needs but the policy and the seed.

use bda_core::{
    AnyPolicy, Bda, BdaConfig, BdaPlus, BdaPlusConfig, BytesPerSec, Coefficients, IncrementalConfig, Pca,
    ReserveSource, Share, Static, StopConditions, UnmetAction,
};
use serde::{Deserialize, Serialize};

use crate::link::{Background, Link};
use crate::workload::{WorkloadKind, WorkloadParams};

/// The simulated page size.
pub const PAGE_BYTES: u64 = 4096;

/// The policies the simulator compares, each through bda-core's controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyKind {
    /// Plain pre-copy: every round at all free bandwidth, every dirty page re-sent.
    Pca,
    /// Pre-copy with probability prediction: PCA's bandwidth, bda-core's page predictor.
    Ppc,
    /// The paper's BDA: BDA's bandwidth with the page predictor.
    Bda,
    /// Xen 2.0's incremental rate limiting, every dirty page re-sent.
    Incremental,
    /// QEMU's static cap, every dirty page re-sent.
    Static,
    /// BDA+: the paper's BDA with bda-core's convergence and deadline guards and a round-1
    /// reserve (the scenario's `bda_plus` settings), with the page predictor.
    BdaPlus,
}

impl PolicyKind {
    /// Every policy, in the order tables show them.
    pub const ALL: [PolicyKind; 6] = [Self::Pca, Self::Ppc, Self::Bda, Self::BdaPlus, Self::Incremental, Self::Static];

    /// Whether the policy holds back likely-to-be-dirtied pages with the predictor.
    pub fn uses_predictor(self) -> bool {
        matches!(self, Self::Ppc | Self::Bda | Self::BdaPlus)
    }

    /// The name tables use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pca => "PCA",
            Self::Ppc => "PPC",
            Self::Bda => "BDA",
            Self::Incremental => "Incremental",
            Self::Static => "Static",
            Self::BdaPlus => "BDA+",
        }
    }
}

/// What the link measurement `U_used` counts (see bda-core's `LinkSample`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum UsageReading {
    /// Everything but this VM: the background only. BDA's reserve then stands for the
    /// service, as the paper intends.
    Other,
    /// Everything but the migration: background and the VM's service. BDA's reserve then
    /// sits on top of the service's current traffic (reserved twice).
    AllButMigration,
}

/// What BDA+ reserves for the service in round 1 (the paper reserves nothing there).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FirstRoundReserve {
    /// Nothing: round 1 at all free bandwidth, as the paper does.
    #[default]
    None,
    /// The service's traffic measured just before the migration starts.
    Measured,
    /// A configured rate, bytes per second.
    Fixed(u64),
}

/// What BDA+ does when the free bandwidth is below what a guard needs (bda-core's
/// `UnmetAction`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum OnUnmet {
    /// Give the migration all free bandwidth: the reserve goes.
    #[default]
    TakeReserve,
    /// Keep the reserve (but for the deadline guard's drain) and slow the guest the way QEMU's
    /// auto-converge does: its writes (and the service it can serve; the demand stays and
    /// counts as shortfall) are throttled by 20 % from the first unmet guard, within a round
    /// too, 10 % more at each round start whose guard is unmet, up to 99 %.
    SlowGuest,
    /// Abort the migration (reported as not completed).
    Abort,
}

/// BDA+'s settings in the simulator's units.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BdaPlusParams {
    /// `rho_max`, the largest ratio of dirty rate to migration rate the convergence guard
    /// accepts, percent (1..=100); `None` turns the guard off.
    pub max_dirty_ratio_percent: Option<u8>,
    /// The deadline guard's target total time, seconds; `None` turns it off.
    pub deadline_s: Option<f64>,
    /// Round 1's reserve.
    pub first_round_reserve: FirstRoundReserve,
    /// What happens when a guard cannot be met.
    pub on_unmet: OnUnmet,
    /// Where the reserve comes from before the guards.
    pub reserve: ReserveArg,
}

/// Where BDA+'s reserve comes from (bda-core's `ReserveSource`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ReserveArg {
    /// The paper's equation 4, from the dirty rates.
    DirtyRate,
    /// Learned from the service's measured traffic by bda-core's `LinkFilter` (its level plus
    /// twice its mean deviation over about a second, never below the latest reading), in
    /// round 1 too (the default, as in bda-core).
    #[default]
    ServiceTraffic,
}

impl Default for BdaPlusParams {
    /// bda-core's defaults: `rho_max` 50 %, no deadline, no round-1 reserve, take the reserve,
    /// the reserve learned from the service's traffic.
    fn default() -> Self {
        Self {
            max_dirty_ratio_percent: Some(50),
            deadline_s: None,
            first_round_reserve: FirstRoundReserve::None,
            on_unmet: OnUnmet::TakeReserve,
            reserve: ReserveArg::ServiceTraffic,
        }
    }
}

/// A scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    /// The VM's memory, bytes.
    pub memory_bytes: u64,
    /// The link.
    pub link: Link,
    /// The guest's workload.
    pub workload: WorkloadParams,
    /// The guest's service traffic demand per byte per second of page writes (the paper's
    /// assumption: service follows the dirty rate).
    pub service_factor: f64,
    /// The service's own flow on top of that (the real-QEMU test bed's paced TCP sender):
    /// steady or bursty; none by default.
    #[serde(default = "no_flow")]
    pub service_flow: Background,
    /// What the policies' `U_used` counts.
    pub usage_reading: UsageReading,
    /// The longest simulation step, seconds (at most 0.01).
    pub step_s: f64,
    /// How often the link is reassessed within a round, seconds.
    pub reassess_s: f64,
    /// Smooth `U_used` with bda-core's `LinkFilter` (a rise shows at once, a fall decays over
    /// a second) before the policies see it. Off by default: the simulator's readings are
    /// exact averages over each reassessment interval, without the noise it is made for.
    #[serde(default)]
    pub smooth_usage: bool,
    /// A run still going after this long is cancelled and reported as not converged.
    pub time_limit_s: f64,
    /// Stop and copy when what is left fits this downtime, milliseconds (QEMU: 300).
    pub downtime_target_ms: Option<u64>,
    /// The round cap, stop-and-copy included (Xen 2.0: 30).
    pub max_rounds: u32,
    /// Stop when more than this share of memory has been sent, percent (Xen: 300).
    pub max_sent_percent: Option<u32>,
    /// Stop when fewer pages than this are left (Xen: 50).
    pub min_remaining_pages: Option<u64>,
    /// BDA's floor, percent of the capacity.
    pub bda_floor_percent: u8,
    /// BDA's first-round rate, bytes per second (`None`: all free bandwidth).
    pub bda_first_round_rate: Option<u64>,
    /// BDA's coefficients: the dirty-rate form (the paper's Fig. 1) or the utilisation form.
    pub bda_utilisation_coefficients: bool,
    /// Static's cap, bytes per second.
    pub static_cap: u64,
    /// Incremental's start, increment and ceiling, bytes per second.
    pub incremental: (u64, u64, u64),
    /// BDA+'s guards and round-1 reserve (its inner BDA takes the `bda_*` settings above).
    #[serde(default)]
    pub bda_plus: BdaPlusParams,
}

/// No service flow.
fn no_flow() -> Background {
    Background::Constant { rate: 0.0 }
}

impl Scenario {
    /// The defaults: a VM on the paper's Fast Ethernet (100 Mbit/s) with 1 MB/s of
    /// background traffic, an overloaded link carrying 90 % of its capacity (an assumption:
    /// see the sensitivity sweep), the service asking for as many bytes per second as the
    /// guest writes (the paper's assumption), and `U_used` counting the background only.
    pub fn new(memory_bytes: u64, workload: WorkloadKind) -> Self {
        let pages = memory_bytes / PAGE_BYTES;
        Self {
            memory_bytes,
            link: Link { capacity: 12.5e6, efficiency: 0.9, background: Background::Constant { rate: 1e6 } },
            workload: WorkloadParams::preset(workload, pages),
            service_factor: 1.0,
            service_flow: no_flow(),
            usage_reading: UsageReading::Other,
            step_s: 0.01,
            reassess_s: 0.1,
            smooth_usage: false,
            time_limit_s: 3_600.0,
            downtime_target_ms: Some(300),
            max_rounds: 30,
            max_sent_percent: Some(300),
            min_remaining_pages: Some(50),
            bda_floor_percent: 5,
            bda_first_round_rate: None,
            bda_utilisation_coefficients: false,
            static_cap: 128 << 20,
            incremental: (12_500_000, 6_250_000, 62_500_000),
            bda_plus: BdaPlusParams::default(),
        }
    }

    /// The memory in pages.
    pub fn pages(&self) -> u64 {
        self.memory_bytes / PAGE_BYTES
    }

    /// Checks the scenario.
    pub fn validate(&self) -> Result<(), String> {
        if self.memory_bytes < PAGE_BYTES || !self.memory_bytes.is_multiple_of(PAGE_BYTES) {
            return Err(format!("memory must be a positive multiple of {PAGE_BYTES} bytes"));
        }
        if !(self.link.capacity.is_finite() && self.link.capacity > 0.0) {
            return Err("the link capacity must be positive".into());
        }
        if !(self.link.efficiency > 0.0 && self.link.efficiency <= 1.0) {
            return Err("the link efficiency must be in (0, 1]".into());
        }
        if !(self.service_factor.is_finite() && self.service_factor >= 0.0) {
            return Err("the service factor must be finite and not negative".into());
        }
        for (name, traffic) in [("background", self.link.background), ("service flow", self.service_flow)] {
            if let Err(e) = traffic.validate() {
                return Err(format!("the {name}: {e}"));
            }
        }
        if !(self.step_s > 0.0 && self.step_s <= 0.01) {
            return Err("the step must be in (0, 10 ms]".into());
        }
        if !(self.reassess_s >= self.step_s && self.time_limit_s > 0.0) {
            return Err("the reassessment interval must be at least a step and the time limit positive".into());
        }
        if self.bda_floor_percent > 100 {
            return Err("BDA's floor is a percentage".into());
        }
        if self.bda_plus.max_dirty_ratio_percent.is_some_and(|p| p == 0 || p > 100) {
            return Err("BDA+'s rho_max is a percentage in 1..=100".into());
        }
        if self.bda_plus.deadline_s.is_some_and(|d| !(d.is_finite() && d > 0.0)) {
            return Err("BDA+'s deadline must be a positive number of seconds".into());
        }
        self.workload.validate(self.pages())
    }

    /// The paper's BDA settings (also BDA+'s inner BDA).
    fn bda_config(&self) -> Result<BdaConfig, String> {
        Ok(BdaConfig {
            first_round_rate: self.bda_first_round_rate.map(BytesPerSec),
            floor: Share::from_percent(self.bda_floor_percent).ok_or("BDA's floor is a percentage")?,
            coefficients: if self.bda_utilisation_coefficients {
                Coefficients::Utilisation
            } else {
                Coefficients::DirtyRate
            },
        })
    }

    /// The bda-core policy behind `kind`. `service_before` is the service's traffic just
    /// before the migration starts, bytes per second (BDA+'s measured round-1 reserve).
    pub fn policy(&self, kind: PolicyKind, service_before: f64) -> Result<AnyPolicy, String> {
        Ok(match kind {
            PolicyKind::Pca | PolicyKind::Ppc => AnyPolicy::Pca(Pca),
            PolicyKind::Bda => AnyPolicy::Bda(Bda::new(self.bda_config()?)),
            PolicyKind::BdaPlus => {
                let p = &self.bda_plus;
                let first_round_reserve = match p.first_round_reserve {
                    FirstRoundReserve::None => None,
                    FirstRoundReserve::Measured => Some(BytesPerSec(service_before.round() as u64)),
                    FirstRoundReserve::Fixed(rate) => Some(BytesPerSec(rate)),
                };
                let max_dirty_ratio = match p.max_dirty_ratio_percent {
                    Some(percent) => Some(Share::from_percent(percent).ok_or("BDA+'s rho_max is a percentage")?),
                    None => None,
                };
                AnyPolicy::BdaPlus(
                    BdaPlus::new(BdaPlusConfig {
                        bda: self.bda_config()?,
                        first_round_reserve,
                        max_dirty_ratio,
                        deadline_us: p.deadline_s.map(|s| (s * 1e6).round() as u64),
                        on_unmet: match p.on_unmet {
                            OnUnmet::TakeReserve => UnmetAction::TakeReserve,
                            OnUnmet::SlowGuest => UnmetAction::SlowGuest,
                            OnUnmet::Abort => UnmetAction::Abort,
                        },
                        reserve: match p.reserve {
                            ReserveArg::DirtyRate => ReserveSource::DirtyRate,
                            ReserveArg::ServiceTraffic => ReserveSource::ServiceTraffic,
                        },
                    })
                    .map_err(|e| e.to_string())?,
                )
            }
            PolicyKind::Incremental => {
                let (start, increment, ceiling) = self.incremental;
                AnyPolicy::incremental(IncrementalConfig {
                    start: BytesPerSec(start),
                    increment: BytesPerSec(increment),
                    ceiling: BytesPerSec(ceiling),
                })
                .map_err(|e| e.to_string())?
            }
            PolicyKind::Static => AnyPolicy::Static(Static::new(BytesPerSec(self.static_cap))),
        })
    }

    /// The controller's stop conditions.
    pub fn stop_conditions(&self) -> StopConditions {
        StopConditions {
            downtime_target_us: self.downtime_target_ms.map(|ms| ms * 1_000),
            max_rounds: self.max_rounds,
            max_sent_percent_of_memory: self.max_sent_percent,
            min_remaining_pages: self.min_remaining_pages,
            ceiling_without_progress: true,
        }
    }
}
