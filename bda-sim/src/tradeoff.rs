//! The trade-off experiment: what each policy costs the service against what it costs the
//! migration, per workload, with BDA+ at several `rho_max` settings and with each source of
//! its reserve: the paper's (from the dirty rate), the paper's with the service's traffic
//! measured before the migration reserved in round 1, and one learned from the service's
//! measured traffic.
//!
//! Each point is one policy setting on one workload, averaged over the seeds: the service's
//! shortfall (the share of its demand the link did not deliver during the migration) against
//! the total migration time, with the downtime in the label. A policy that protects the
//! service sits low; one that migrates fast sits left. The operating point bda-core ships as
//! BDA+'s default is ringed.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use bda_core::{BdaPlusConfig, ReserveSource};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;

use crate::link::Background;
use crate::paper::experiment_time_limit_s;
use crate::plot::{Dot, scatter_chart};
use crate::report::Outcomes;
use crate::run::{RunResult, simulate};
use crate::scenario::{FirstRoundReserve, PolicyKind, ReserveArg, Scenario};
use crate::workload::{WorkloadKind, WorkloadParams};

/// The `rho_max` settings BDA+ is tried at, percent.
pub const RHO_MAX_PERCENT: [u8; 4] = [25, 50, 75, 100];

/// The busy workload's page writes per second: 7 MB/s, more than half the default link's
/// 11.5 MB/s of free bandwidth, where the paper's reserve leaves the migration below the
/// dirty rate.
pub const BUSY_WRITES_PER_S: f64 = 1_700.0;

/// A workload of the experiment.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct TradeoffWorkload {
    /// Its name in file names and tables.
    pub name: &'static str,
    /// The preset it starts from.
    pub kind: WorkloadKind,
    /// The write rate, when it overrides the preset's.
    pub writes_per_s: Option<f64>,
}

/// The workloads: the paper's three and a busy one.
pub const WORKLOADS: [TradeoffWorkload; 4] = [
    TradeoffWorkload { name: "idle", kind: WorkloadKind::Idle, writes_per_s: None },
    TradeoffWorkload { name: "kernel-compile", kind: WorkloadKind::KernelCompile, writes_per_s: None },
    TradeoffWorkload { name: "intermittent", kind: WorkloadKind::Intermittent, writes_per_s: None },
    TradeoffWorkload { name: "busy", kind: WorkloadKind::KernelCompile, writes_per_s: Some(BUSY_WRITES_PER_S) },
];

/// Where a BDA+ setting's reserve comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reserve {
    /// The paper's equation 4; nothing in round 1.
    Paper,
    /// The paper's equation 4, and the service's traffic measured before the migration
    /// reserved in round 1.
    PaperFirstRound,
    /// Learned from the service's measured traffic, every round (bda-core's `LinkFilter`).
    Service,
}

/// One policy setting.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Setting {
    /// The policy.
    pub policy: PolicyKind,
    /// BDA+'s `rho_max`, percent (`None` for the other policies).
    pub rho_max_percent: Option<u8>,
    /// BDA+'s reserve (`Paper` for the other policies).
    pub reserve: Reserve,
}

impl Setting {
    /// Its label: the policy, then BDA+'s settings.
    pub fn label(&self) -> String {
        let suffix = match self.reserve {
            Reserve::Paper => "",
            Reserve::PaperFirstRound => " r1",
            Reserve::Service => " svc",
        };
        match self.rho_max_percent {
            Some(rho) => format!("{} ρ{rho}{suffix}", self.policy.name()),
            None => self.policy.name().to_string(),
        }
    }

    /// Whether this is BDA+ as bda-core's defaults configure it.
    pub fn is_default(&self) -> bool {
        let default = BdaPlusConfig::default();
        let default_rho = default.max_dirty_ratio.map(|r| (r.to_fixed().to_num::<f64>() * 100.0).round() as u8);
        let default_reserve = match (default.reserve, default.first_round_reserve) {
            (ReserveSource::ServiceTraffic, _) => Reserve::Service,
            (ReserveSource::DirtyRate, Some(_)) => Reserve::PaperFirstRound,
            (ReserveSource::DirtyRate, None) => Reserve::Paper,
        };
        self.policy == PolicyKind::BdaPlus && self.rho_max_percent == default_rho && self.reserve == default_reserve
    }

    fn apply(&self, scenario: &mut Scenario) {
        scenario.bda_plus.max_dirty_ratio_percent = self.rho_max_percent;
        (scenario.bda_plus.first_round_reserve, scenario.bda_plus.reserve) = match self.reserve {
            Reserve::Paper => (FirstRoundReserve::None, ReserveArg::DirtyRate),
            Reserve::PaperFirstRound => (FirstRoundReserve::Measured, ReserveArg::DirtyRate),
            Reserve::Service => (FirstRoundReserve::None, ReserveArg::ServiceTraffic),
        };
    }
}

/// Every setting: the four baselines, then BDA+ at each `rho_max` with each reserve.
pub fn settings() -> Vec<Setting> {
    let mut all: Vec<Setting> = [PolicyKind::Pca, PolicyKind::Incremental, PolicyKind::Static, PolicyKind::Bda]
        .into_iter()
        .map(|policy| Setting { policy, rho_max_percent: None, reserve: Reserve::Paper })
        .collect();
    for reserve in [Reserve::Paper, Reserve::PaperFirstRound, Reserve::Service] {
        for rho in RHO_MAX_PERCENT {
            all.push(Setting { policy: PolicyKind::BdaPlus, rho_max_percent: Some(rho), reserve });
        }
    }
    all
}

/// A service flow profile of the experiment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServiceProfile {
    /// Its name in file names and tables.
    pub name: String,
    /// The flow.
    pub flow: Background,
}

/// The experiment's default service profiles: a bursty flow, idle but for bursts to 8 MB/s
/// (64 Mbit/s) for 5 s of every 20 s, and a steady one at 4 MB/s. The bursts are above the
/// flow's max-min fair share of the default link (about 5.1 MB/s): the link model costs a
/// flow within its fair share nothing, whatever the policy.
pub fn default_profiles() -> Vec<ServiceProfile> {
    vec![
        ServiceProfile {
            name: "bursty".into(),
            flow: Background::Bursty { base: 0.0, burst: 8e6, period_s: 20.0, burst_s: 5.0 },
        },
        ServiceProfile { name: "steady".into(), flow: Background::Constant { rate: 4e6 } },
    ]
}

/// One setting on one workload, over the seeds.
#[derive(Clone, Debug, Serialize)]
pub struct TradeoffPoint {
    /// The service profile.
    pub service: String,
    /// The workload.
    pub workload: &'static str,
    /// The setting.
    pub setting: Setting,
    /// What its runs came to.
    #[serde(flatten)]
    pub outcomes: Outcomes,
}

/// What `bda-sim tradeoff` does.
#[derive(Clone, Debug)]
pub struct TradeoffOptions {
    /// Seeds per point.
    pub seeds: u64,
    /// The results folder.
    pub out: PathBuf,
    /// The scenario every run starts from (its workload and service flow are replaced by
    /// each workload's and profile's).
    pub base: Scenario,
    /// The service flows.
    pub profiles: Vec<ServiceProfile>,
    /// Show a progress bar.
    pub progress: bool,
}

fn scenario_for(base: &Scenario, profile: &ServiceProfile, workload: &TradeoffWorkload, setting: &Setting) -> Scenario {
    let mut s = base.clone();
    s.service_flow = profile.flow;
    s.workload = WorkloadParams::preset(workload.kind, s.pages());
    s.workload.writes_per_s = workload.writes_per_s.unwrap_or(s.workload.writes_per_s);
    s.time_limit_s = experiment_time_limit_s(base, s.memory_bytes);
    setting.apply(&mut s);
    s
}

/// Runs the experiment, writes `tradeoff.csv`, one `tradeoff_<service>_<workload>.svg` per
/// service profile and workload
/// and `tradeoff.txt` into `options.out`, and returns the points and the text report.
pub fn run_tradeoff(options: &TradeoffOptions) -> Result<(Vec<TradeoffPoint>, String), String> {
    options.base.validate()?;
    let settings = settings();
    let (profiles, workloads) = (options.profiles.len(), WORKLOADS.len());
    let jobs: Vec<(usize, usize, usize, u64)> = (0..profiles)
        .flat_map(|p| (0..workloads).map(move |w| (p, w)))
        .flat_map(|(p, w)| (0..settings.len()).map(move |s| (p, w, s)))
        .flat_map(|(p, w, s)| (1..=options.seeds).map(move |seed| (p, w, s, seed)))
        .collect();
    let bar = if options.progress { ProgressBar::new(jobs.len() as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} migrations simulated, {elapsed} elapsed, eta {eta}")
            .map_err(|e| e.to_string())?,
    );
    let results: Vec<((usize, usize, usize), RunResult)> = jobs
        .into_par_iter()
        .map(|(p, w, s, seed)| {
            let setting = &settings[s];
            let scenario = scenario_for(&options.base, &options.profiles[p], &WORKLOADS[w], setting);
            let result = simulate(&scenario, setting.policy, seed);
            bar.inc(1);
            result.map(|r| ((p, w, s), r))
        })
        .collect::<Result<_, _>>()?;
    bar.finish_and_clear();

    let mut points = Vec::new();
    for (p, profile) in options.profiles.iter().enumerate() {
        for (w, workload) in WORKLOADS.iter().enumerate() {
            for (s, setting) in settings.iter().enumerate() {
                let runs: Vec<&RunResult> =
                    results.iter().filter(|(key, _)| *key == (p, w, s)).map(|(_, r)| r).collect();
                points.push(TradeoffPoint {
                    service: profile.name.clone(),
                    workload: workload.name,
                    setting: setting.clone(),
                    outcomes: Outcomes::of(&runs),
                });
            }
        }
    }
    fs::create_dir_all(&options.out).map_err(|e| format!("creating {}: {e}", options.out.display()))?;
    write_csv(&options.out.join("tradeoff.csv"), &points)?;
    for profile in &options.profiles {
        for workload in WORKLOADS {
            let path = options.out.join(format!("tradeoff_{}_{}.svg", profile.name, workload.name));
            plot(&path, profile, workload, &points, options)?;
        }
    }
    let report = report(&points, options);
    fs::write(options.out.join("tradeoff.txt"), &report).map_err(|e| format!("writing tradeoff.txt: {e}"))?;
    Ok((points, report))
}

/// The colour family of a setting: baselines, the paper's BDA, BDA+ without and with a round-1
/// reserve.
fn family(setting: &Setting) -> usize {
    match (setting.policy, setting.reserve) {
        (PolicyKind::BdaPlus, Reserve::Paper) => 2,
        (PolicyKind::BdaPlus, Reserve::PaperFirstRound) => 3,
        (PolicyKind::BdaPlus, Reserve::Service) => 4,
        (PolicyKind::Bda, _) => 1,
        _ => 0,
    }
}

fn plot(
    path: &Path,
    profile: &ServiceProfile,
    workload: TradeoffWorkload,
    points: &[TradeoffPoint],
    options: &TradeoffOptions,
) -> Result<(), String> {
    let dots: Vec<Dot> = points
        .iter()
        .filter(|p| p.service == profile.name && p.workload == workload.name)
        .map(|p| Dot {
            label: format!("{} · {:.2} s", p.setting.label(), p.outcomes.downtime_s.mean),
            at: (p.outcomes.total_time_s.mean, p.outcomes.shortfall_pct.mean),
            family: family(&p.setting),
            hollow: p.outcomes.converged < p.outcomes.runs,
            marked: p.setting.is_default(),
        })
        .collect();
    scatter_chart(
        path,
        &format!("{} workload, {} service: shortfall against total time", workload.name, profile.name),
        &format!(
            "{} MiB, mean of {} seeds; label: setting · downtime; hollow: not every run converged; ringed: BDA+'s default",
            options.base.memory_bytes >> 20,
            options.seeds
        ),
        ("total migration time (s)", "service shortfall (%)"),
        &[
            "PCA, Incremental, Static",
            "BDA (paper)",
            "BDA+, paper's reserve",
            "BDA+, paper's reserve + round 1",
            "BDA+, reserve learned from the service",
        ],
        &dots,
    )
}

fn write_csv(path: &Path, points: &[TradeoffPoint]) -> Result<(), String> {
    let mut writer = csv::Writer::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
    writer
        .write_record(
            ["service", "workload", "setting", "policy", "rho_max_percent", "reserve"]
                .into_iter()
                .chain(Outcomes::CSV_COLUMNS),
        )
        .map_err(|e| e.to_string())?;
    for p in points {
        writer
            .write_record(
                [
                    p.service.clone(),
                    p.workload.to_string(),
                    p.setting.label(),
                    p.setting.policy.name().to_string(),
                    p.setting.rho_max_percent.map_or_else(String::new, |r| r.to_string()),
                    format!("{:?}", p.setting.reserve),
                ]
                .into_iter()
                .chain(p.outcomes.csv_fields()),
            )
            .map_err(|e| e.to_string())?;
    }
    writer.flush().map_err(|e| e.to_string())
}

fn report(points: &[TradeoffPoint], options: &TradeoffOptions) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Trade-off ({} MiB, mean ± sd over {} seeds; * = BDA+'s default; r1: round 1 reserves the service's traffic measured before the migration; svc: the reserve is learned from the service's measured traffic)",
        options.base.memory_bytes >> 20,
        options.seeds
    );
    for (profile, workload) in options.profiles.iter().flat_map(|p| WORKLOADS.iter().map(move |w| (p, w))) {
        let _ = writeln!(out, "\n{}, {} service ({:?}):", workload.name, profile.name, profile.flow);
        let _ = writeln!(
            out,
            "{:<16} {:>18} {:>16} {:>16} {:>10}",
            "setting", "total time (s)", "downtime (s)", "shortfall (%)", "converged"
        );
        for p in points.iter().filter(|p| p.service == profile.name && p.workload == workload.name) {
            let mark = if p.setting.is_default() { "*" } else { "" };
            let _ = writeln!(
                out,
                "{:<16} {:>10.1} ±{:<6.1} {:>8.3} ±{:<6.3} {:>8.2} ±{:<6.2} {:>7}/{}",
                format!("{}{mark}", p.setting.label()),
                p.outcomes.total_time_s.mean,
                p.outcomes.total_time_s.sd,
                p.outcomes.downtime_s.mean,
                p.outcomes.downtime_s.sd,
                p.outcomes.shortfall_pct.mean,
                p.outcomes.shortfall_pct.sd,
                p.outcomes.converged,
                p.outcomes.runs
            );
        }
    }
    out
}
