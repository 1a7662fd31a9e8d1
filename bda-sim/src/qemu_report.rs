//! `bda-sim qemu-report`: the real-QEMU experiments (`tests/qemu/experiment.sh`) as tables of
//! medians and spreads, a CSV and two SVGs per scenario, each cell beside bda-sim's prediction
//! for the same scenario.
//!
//! Each run of the test bed is a JSON line (`tests/qemu/testbed.sh --json`). Runs are grouped
//! into cells by scenario (the run's label and the link's congestion control) and policy. A
//! cell's total time and downtime are medians over its completed runs (a run cancelled at the
//! wall-clock limit did not converge and has no downtime); its service shortfall is the
//! median over all its runs, as a run that never converged still starved the service while it
//! ran. The spread is the smallest and largest value.
//!
//! The prediction simulates the same guest, link and service: the guest's memory and its
//! `rate`, `ws_mib`, `burst`, `burst_ms` and `period_ms` (uniformly random pages over the
//! working set, as the guest picks them), the service's own flow and no other traffic, a
//! 100 Mbit/s link, QEMU's switchover rule (what is left fits 300 ms) and no round cap.
//! QEMU's default policy (no cap below the link's capacity) is PCA there, and BDA+ with
//! `--on-unmet auto-converge` (`bda-plus-auto-converge`) is BDA+ whose unmet guard slows the
//! simulated guest (`OnUnmet::SlowGuest`), not QEMU's throttle rule. The simulator does
//! not model TCP: its link gives competing flows their max-min fair share, and an overloaded
//! link carries 90 % of its capacity.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use rayon::prelude::*;
use serde::Deserialize;

use crate::link::Background;
use crate::plot::{Dot, scatter_chart};
use crate::report::Outcomes;
use crate::run::simulate;
use crate::scenario::{OnUnmet, PAGE_BYTES, PolicyKind, Scenario};
use crate::workload::{WorkloadKind, WorkloadParams};

/// One test-bed run, as `testbed.sh --json` writes it (the fields the report reads).
#[derive(Clone, Debug, Deserialize)]
pub struct RunRecord {
    /// `qemu-default`, `static`, `incremental`, `bda` or `bda-plus`.
    pub policy: String,
    /// The scenario's name (the workload's, in the experiments).
    pub label: String,
    /// The guest's command line (`rate=N ws_mib=M ...`).
    pub workload: String,
    /// The guest's memory, MiB.
    pub memory_mib: u64,
    /// TCP congestion control of both flows.
    pub congestion_control: String,
    /// The service's rate, B/s (its base rate when bursty).
    pub service_rate_bytes_per_s: u64,
    /// The service's burst rate, B/s (0: steady).
    pub service_burst_rate_bytes_per_s: u64,
    /// How long a burst lasts, ms.
    pub service_burst_ms: u64,
    /// The burst period, ms.
    pub service_period_ms: u64,
    /// `completed`, `did-not-converge` or `failed`.
    pub outcome: String,
    /// From `migrate` to completion, ms (QEMU's figure).
    pub total_time_ms: Option<u64>,
    /// QEMU's downtime, ms.
    pub downtime_ms: Option<u64>,
    /// The share of the service's demand not delivered within its deadline, percent.
    pub service_shortfall_percent: f64,
    /// `verified` when the destination's guest found every page as the source last wrote it.
    pub memory: String,
}

/// Which experiment the results are from: it sets the wall-clock limit runs were cancelled
/// at, which the prediction uses too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Experiment {
    /// Policies × workloads, 256 MiB, cancelled after 90 s.
    Policies,
    /// BDA+ on a busy workload with a bursty service, 128 MiB, cancelled after 120 s.
    BdaPlus,
}

impl Experiment {
    /// The wall-clock limit of its runs, seconds (tests/qemu/experiment.sh's `--max-time`).
    pub fn time_limit_s(self) -> f64 {
        match self {
            Self::Policies => 90.0,
            Self::BdaPlus => 120.0,
        }
    }
}

/// The policies in table order, with their bda-sim counterparts.
const POLICIES: [(&str, PolicyKind); 6] = [
    ("qemu-default", PolicyKind::Pca),
    ("static", PolicyKind::Static),
    ("incremental", PolicyKind::Incremental),
    ("bda", PolicyKind::Bda),
    ("bda-plus", PolicyKind::BdaPlus),
    // BDA+ that keeps the reserve when a guard cannot be met and has the guest slowed (QEMU's
    // auto-converge on the test bed, the simulator's slowed guest in the model).
    (AUTO_CONVERGE, PolicyKind::BdaPlus),
];

/// The test bed's name for BDA+ with `--on-unmet auto-converge`.
const AUTO_CONVERGE: &str = "bda-plus-auto-converge";

/// The BDA+ variants the targets are checked for, with how the report names them.
const BDA_PLUS_VARIANTS: [(&str, &str); 2] =
    [("bda-plus", "BDA+"), (AUTO_CONVERGE, "BDA+ with --on-unmet auto-converge")];

/// A scenario: (label, congestion control).
type ScenarioKey = (String, String);

/// A cell's place: its scenario and its policy's index in [`POLICIES`].
type CellKey = (ScenarioKey, usize);

/// The median and the spread of some values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// The median (the mean of the middle two for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`; `None` when there are none.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Self> {
        let mut v: Vec<f64> = values.into_iter().collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
        Some(Self { median, min: v[0], max: v[n - 1] })
    }

    fn show(spread: Option<Self>, decimals: usize) -> String {
        match spread {
            Some(s) => format!("{:.d$} [{:.d$}–{:.d$}]", s.median, s.min, s.max, d = decimals),
            None => "—".into(),
        }
    }
}

/// One policy in one scenario: its runs on the test bed and bda-sim's prediction.
#[derive(Clone, Debug)]
pub struct Cell {
    /// The policy's name on the test bed.
    pub policy: &'static str,
    /// Runs.
    pub runs: usize,
    /// Runs that completed.
    pub completed: usize,
    /// Completed runs whose memory was verified on the destination.
    pub verified: usize,
    /// Total time of the completed runs, s.
    pub total_time_s: Option<Spread>,
    /// Downtime of the completed runs, ms.
    pub downtime_ms: Option<Spread>,
    /// Service shortfall of all runs, percent.
    pub shortfall_pct: Option<Spread>,
    /// bda-sim's prediction over its seeds (`None` when the guest's workload has no model).
    pub sim: Option<Outcomes>,
}

/// Reads the JSON lines at `path`.
pub fn read_results(path: &Path) -> Result<Vec<RunRecord>, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line)
                .map_err(|e| format!("{} line {}: not a test-bed result: {e}", path.display(), i + 1))
        })
        .collect()
}

/// A value of the guest's command line, `key=N`.
fn guest_param(workload: &str, key: &str) -> Result<Option<f64>, String> {
    for word in workload.split_whitespace() {
        if let Some((k, v)) = word.split_once('=')
            && k == key
        {
            return v.parse().map(Some).map_err(|_| format!("the guest's {key}={v} is not a number"));
        }
    }
    Ok(None)
}

/// The bda-sim scenario for a test-bed run's guest, link and service (see the module docs).
pub fn scenario_for(record: &RunRecord, experiment: Experiment) -> Result<Scenario, String> {
    let memory_bytes = record.memory_mib << 20;
    let mut s = Scenario::new(memory_bytes, WorkloadKind::KernelCompile);
    let pages = s.pages();
    let param = |key| guest_param(&record.workload, key);
    let rate = param("rate")?.unwrap_or(0.0);
    let burst = param("burst")?.unwrap_or(0.0);
    let working_set = param("ws_mib")?.map_or(pages, |mib| ((mib * f64::from(1u32 << 20)) as u64 / PAGE_BYTES).max(1));
    let mut workload = WorkloadParams {
        writes_per_s: rate,
        working_set: working_set.min(pages),
        hot_pages: 0,
        hot_share: 0.0,
        idle_writes_per_s: 0.0,
        ..WorkloadParams::preset(WorkloadKind::KernelCompile, pages)
    };
    if burst > 0.0 {
        if rate > 0.0 {
            return Err(format!("no bda-sim model for a guest with both rate and burst ({})", record.workload));
        }
        let burst_s = param("burst_ms")?.unwrap_or(0.0) / 1e3;
        let period_s = param("period_ms")?.unwrap_or(1000.0) / 1e3;
        workload = WorkloadParams {
            kind: WorkloadKind::Intermittent,
            writes_per_s: burst,
            busy_s: burst_s,
            idle_s: (period_s - burst_s).max(0.0),
            ..workload
        };
    } else if rate == 0.0 {
        workload.kind = WorkloadKind::Idle;
    }
    s.workload = workload;
    s.link.background = Background::Constant { rate: 0.0 };
    s.service_factor = 0.0;
    let base = record.service_rate_bytes_per_s as f64;
    s.service_flow = if record.service_burst_rate_bytes_per_s > 0 {
        Background::Bursty {
            base,
            burst: record.service_burst_rate_bytes_per_s as f64,
            period_s: record.service_period_ms as f64 / 1e3,
            burst_s: record.service_burst_ms as f64 / 1e3,
        }
    } else {
        Background::Constant { rate: base }
    };
    // QEMU's switchover rule and no other stop condition.
    s.downtime_target_ms = Some(300);
    s.max_rounds = u32::MAX;
    s.max_sent_percent = None;
    s.min_remaining_pages = None;
    s.time_limit_s = experiment.time_limit_s();
    s.validate()?;
    Ok(s)
}

/// Groups the runs into cells per scenario, in the order scenarios first appear, and
/// simulates each cell's scenario over `seeds` seeds.
pub fn cells(
    records: &[RunRecord],
    experiment: Experiment,
    seeds: u64,
) -> Result<Vec<(ScenarioKey, Vec<Cell>)>, String> {
    let mut order: Vec<ScenarioKey> = Vec::new();
    let mut groups: BTreeMap<CellKey, Vec<&RunRecord>> = BTreeMap::new();
    for r in records {
        let index = POLICIES
            .iter()
            .position(|(name, _)| *name == r.policy)
            .ok_or_else(|| format!("unknown policy {:?} in the results", r.policy))?;
        let key = (r.label.clone(), r.congestion_control.clone());
        if !order.contains(&key) {
            order.push(key.clone());
        }
        groups.entry((key, index)).or_default().push(r);
    }
    let jobs: Vec<(&CellKey, &Vec<&RunRecord>)> = groups.iter().collect();
    let built: Vec<Result<(CellKey, Cell), String>> = jobs
        .par_iter()
        .map(|((key, index), runs)| {
            let (name, kind) = POLICIES[*index];
            let completed: Vec<&&RunRecord> = runs.iter().filter(|r| r.outcome == "completed").collect();
            let sim = match scenario_for(runs[0], experiment) {
                Ok(mut scenario) => {
                    if name == AUTO_CONVERGE {
                        scenario.bda_plus.on_unmet = OnUnmet::SlowGuest;
                    }
                    let results =
                        (1..=seeds).map(|seed| simulate(&scenario, kind, seed)).collect::<Result<Vec<_>, _>>()?;
                    Some(Outcomes::of(&results.iter().collect::<Vec<_>>()))
                }
                Err(_) => None,
            };
            let cell = Cell {
                policy: name,
                runs: runs.len(),
                completed: completed.len(),
                verified: completed.iter().filter(|r| r.memory == "verified").count(),
                total_time_s: Spread::of(completed.iter().filter_map(|r| r.total_time_ms).map(|ms| ms as f64 / 1e3)),
                downtime_ms: Spread::of(completed.iter().filter_map(|r| r.downtime_ms).map(|ms| ms as f64)),
                shortfall_pct: Spread::of(runs.iter().map(|r| r.service_shortfall_percent)),
                sim,
            };
            Ok(((key.clone(), *index), cell))
        })
        .collect();
    let mut by_key: BTreeMap<CellKey, Cell> = BTreeMap::new();
    for b in built {
        let (k, cell) = b?;
        by_key.insert(k, cell);
    }
    Ok(order
        .into_iter()
        .map(|key| {
            let row = (0..POLICIES.len()).filter_map(|i| by_key.get(&(key.clone(), i)).cloned()).collect();
            (key, row)
        })
        .collect())
}

/// bda-sim's prediction in a table cell: total time, downtime and shortfall, or the count
/// that did not converge.
fn show_sim(sim: &Option<Outcomes>) -> String {
    match sim {
        None => "no model".into(),
        Some(o) if o.completed < o.runs => {
            format!("{}/{} converge; shortfall {:.1} %", o.completed, o.runs, o.shortfall_pct.mean)
        }
        Some(o) => {
            format!("{:.1} s, {:.0} ms, {:.1} %", o.total_time_s.mean, o.downtime_s.mean * 1e3, o.shortfall_pct.mean)
        }
    }
}

/// Issue 9's targets for the BDA+ variant `variant` against QEMU's default in one scenario,
/// each met or missed with the numbers (empty unless the scenario ran qemu-default, bda and
/// the variant).
fn targets(row: &[Cell], variant: &str) -> Vec<String> {
    let find = |name: &str| row.iter().find(|c| c.policy == name);
    let (Some(default), Some(bda), Some(plus)) = (find("qemu-default"), find("bda"), find(variant)) else {
        return Vec::new();
    };
    let verdict = |met: bool| if met { "met" } else { "missed" };
    let median = |s: Option<Spread>| s.map(|s| s.median);
    let mut lines = Vec::new();
    let converges = default.completed == 0 || plus.completed == plus.runs;
    lines.push(format!(
        "converges wherever QEMU's default does: {} (QEMU default {}/{}, BDA+ {}/{})",
        verdict(converges),
        default.completed,
        default.runs,
        plus.completed,
        plus.runs
    ));
    if let (Some(d), Some(p)) = (median(default.shortfall_pct), median(plus.shortfall_pct)) {
        if d > 1.0 {
            lines.push(format!(
                "shortfall at most a fifth of QEMU default's: {} ({p:.2} % against {d:.2} %)",
                verdict(p <= d / 5.0)
            ));
        } else {
            lines.push(format!(
                "shortfall at most a fifth of QEMU default's: not applicable (QEMU default's median {d:.2} % is not above 1 %; BDA+ {p:.2} %)"
            ));
        }
        if let Some(b) = median(bda.shortfall_pct) {
            lines.push(format!(
                "shortfall within 0.5 points of the paper's BDA: {} ({p:.2} % against {b:.2} %)",
                verdict(p <= b + 0.5)
            ));
        }
    }
    if let (Some(d), Some(p)) = (median(default.downtime_ms), median(plus.downtime_ms)) {
        lines.push(format!("downtime no higher: {} ({p:.0} ms against {d:.0} ms)", verdict(p <= d)));
    }
    if let (Some(d), Some(p)) = (median(default.total_time_s), median(plus.total_time_s)) {
        lines.push(format!(
            "total time at most 10 % longer: {} ({p:.1} s against {d:.1} s, {:+.1} %)",
            verdict(p <= d * 1.1),
            (p / d - 1.0) * 100.0
        ));
    }
    lines
}

/// The Markdown report.
pub fn markdown(experiment: Experiment, records: usize, table: &[(ScenarioKey, Vec<Cell>)], seeds: u64) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Real-QEMU experiment: {}\n\n{records} test-bed runs (tests/qemu/experiment.sh {}); medians over the runs with \
         [smallest–largest]. Total time and downtime are over completed runs; a run still going after {:.0} s was \
         cancelled and did not converge. Shortfall is over all runs. The last column is bda-sim's prediction for the \
         same guest, link and service (mean of {seeds} seeds; `bda-sim qemu-report` says how it is modelled).\n",
        match experiment {
            Experiment::Policies => "policies",
            Experiment::BdaPlus => "BDA+",
        },
        match experiment {
            Experiment::Policies => "policies",
            Experiment::BdaPlus => "bda-plus",
        },
        experiment.time_limit_s()
    );
    for ((label, cc), row) in table {
        let _ = writeln!(md, "## {label}, {cc}\n");
        let _ = writeln!(
            md,
            "| policy | completed | memory verified | total time (s) | downtime (ms) | service shortfall (%) | bda-sim: total, downtime, shortfall |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|");
        for c in row {
            let _ = writeln!(
                md,
                "| {} | {}/{} | {}/{} | {} | {} | {} | {} |",
                c.policy,
                c.completed,
                c.runs,
                c.verified,
                c.completed,
                Spread::show(c.total_time_s, 1),
                Spread::show(c.downtime_ms, 0),
                Spread::show(c.shortfall_pct, 2),
                show_sim(&c.sim)
            );
        }
        for (variant, title) in BDA_PLUS_VARIANTS {
            let lines = targets(row, variant);
            if !lines.is_empty() {
                let _ = writeln!(md, "\n{title} against QEMU's default (medians):\n");
                for line in lines {
                    let _ = writeln!(md, "- {line}");
                }
            }
        }
        let _ = writeln!(md);
    }
    md
}

fn csv(table: &[(ScenarioKey, Vec<Cell>)]) -> String {
    let mut out = String::from(
        "label,congestion_control,policy,runs,completed,verified,total_time_s_median,total_time_s_min,total_time_s_max,\
         downtime_ms_median,downtime_ms_min,downtime_ms_max,shortfall_pct_median,shortfall_pct_min,shortfall_pct_max,\
         sim_runs,sim_completed,sim_total_time_s_mean,sim_downtime_ms_mean,sim_shortfall_pct_mean\n",
    );
    let three = |s: Option<Spread>, d: usize| match s {
        Some(s) => format!("{:.d$},{:.d$},{:.d$}", s.median, s.min, s.max, d = d),
        None => ",,".into(),
    };
    for ((label, cc), row) in table {
        for c in row {
            let sim = match &c.sim {
                // A run that did not complete has no downtime.
                Some(o) => format!(
                    "{},{},{:.3},{},{:.3}",
                    o.runs,
                    o.completed,
                    o.total_time_s.mean,
                    if o.completed == o.runs { format!("{:.1}", o.downtime_s.mean * 1e3) } else { String::new() },
                    o.shortfall_pct.mean
                ),
                None => ",,,,".into(),
            };
            let _ = writeln!(
                out,
                "{label},{cc},{},{},{},{},{},{},{},{sim}",
                c.policy,
                c.runs,
                c.completed,
                c.verified,
                three(c.total_time_s, 3),
                three(c.downtime_ms, 0),
                three(c.shortfall_pct, 3)
            );
        }
    }
    out
}

/// Where a policy's dot goes and what it says.
struct Point {
    policy: &'static str,
    /// The runs: test bed (0) or bda-sim (1).
    family: usize,
    all_completed: bool,
    completed: usize,
    runs: usize,
    total_time_s: Option<f64>,
    downtime_ms: Option<f64>,
    shortfall_pct: f64,
}

fn points(row: &[Cell]) -> Vec<Point> {
    let mut all = Vec::new();
    for c in row {
        all.push(Point {
            policy: c.policy,
            family: 0,
            all_completed: c.completed == c.runs,
            completed: c.completed,
            runs: c.runs,
            total_time_s: c.total_time_s.map(|s| s.median),
            downtime_ms: c.downtime_ms.map(|s| s.median),
            shortfall_pct: c.shortfall_pct.map_or(0.0, |s| s.median),
        });
        if let Some(o) = &c.sim {
            let done = o.completed == o.runs;
            all.push(Point {
                policy: c.policy,
                family: 1,
                all_completed: done,
                completed: o.completed,
                runs: o.runs,
                total_time_s: Some(o.total_time_s.mean),
                downtime_ms: done.then_some(o.downtime_s.mean * 1e3),
                shortfall_pct: o.shortfall_pct.mean,
            });
        }
    }
    all
}

/// One scenario's two plots against total time: the service's shortfall (labelled with the
/// downtime) and the downtime (labelled with the shortfall), a dot per policy for the test
/// bed's medians and one for bda-sim's prediction. Where not every run completed, the
/// shortfall dot is hollow and placed at the wall-clock limit, and there is no downtime dot.
fn plot(out: &Path, experiment: Experiment, (label, cc): &ScenarioKey, row: &[Cell]) -> Result<(), String> {
    let limit = experiment.time_limit_s();
    let points = points(row);
    let families = ["test bed (median)", "bda-sim prediction"];
    let shortfall: Vec<Dot> = points
        .iter()
        .map(|p| {
            let (x, note) = match (p.all_completed, p.total_time_s, p.downtime_ms) {
                (true, Some(t), Some(d)) => (t, format!(" {d:.0} ms")),
                _ => (limit, format!(" {}/{} done", p.completed, p.runs)),
            };
            Dot {
                label: format!("{}{note}", p.policy),
                at: (x, p.shortfall_pct),
                family: p.family,
                hollow: !p.all_completed,
                marked: false,
            }
        })
        .collect();
    scatter_chart(
        &out.join(format!("{label}_{cc}_shortfall.svg")),
        &format!("real QEMU: {label}, {cc} (label: downtime; hollow: not every run converged)"),
        "",
        ("total migration time (s)", "service shortfall (%)"),
        &families,
        &shortfall,
    )?;
    let downtime: Vec<Dot> = points
        .iter()
        .filter(|p| p.all_completed)
        .filter_map(|p| {
            Some(Dot {
                label: format!("{} {:.2} %", p.policy, p.shortfall_pct),
                at: (p.total_time_s?, p.downtime_ms?),
                family: p.family,
                hollow: false,
                marked: false,
            })
        })
        .collect();
    if downtime.is_empty() {
        return Ok(());
    }
    scatter_chart(
        &out.join(format!("{label}_{cc}_downtime.svg")),
        &format!("real QEMU: {label}, {cc} (label: service shortfall; policies that converged in every run)"),
        "",
        ("total migration time (s)", "downtime (ms)"),
        &families,
        &downtime,
    )
}

/// Reads `results`, writes `report.md`, `cells.csv` and `<label>_<cc>_shortfall.svg` and
/// `<label>_<cc>_downtime.svg` per scenario
/// into `out`, and returns the report.
pub fn run_qemu_report(experiment: Experiment, results: &Path, out: &Path, seeds: u64) -> Result<String, String> {
    if seeds == 0 {
        return Err("--seeds must be at least 1".into());
    }
    let records = read_results(results)?;
    if records.is_empty() {
        return Err(format!("{} holds no test-bed results", results.display()));
    }
    let table = cells(&records, experiment, seeds)?;
    fs::create_dir_all(out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    let md = markdown(experiment, records.len(), &table, seeds);
    let write = |name: &str, text: &str| {
        let path = out.join(name);
        fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))
    };
    write("report.md", &md)?;
    write("cells.csv", &csv(&table))?;
    for (key, row) in &table {
        plot(out, experiment, key, row)?;
    }
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(policy: &str, outcome: &str, total_ms: Option<u64>, shortfall: f64) -> RunRecord {
        RunRecord {
            policy: policy.into(),
            label: "busy".into(),
            workload: "rate=1800 ws_mib=64".into(),
            memory_mib: 128,
            congestion_control: "cubic".into(),
            service_rate_bytes_per_s: 0,
            service_burst_rate_bytes_per_s: 8_000_000,
            service_burst_ms: 5_000,
            service_period_ms: 20_000,
            outcome: outcome.into(),
            total_time_ms: total_ms,
            downtime_ms: total_ms.map(|_| 300),
            service_shortfall_percent: shortfall,
            memory: if outcome == "completed" { "verified".into() } else { "not checked".into() },
        }
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two_and_none_of_nothing() {
        let s = Spread::of([4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 4.0));
        assert_eq!(Spread::of([7.0, 1.0, 3.0]).unwrap().median, 3.0);
        assert_eq!(Spread::of(std::iter::empty()), None);
    }

    #[test]
    fn the_guest_and_service_become_the_simulated_scenario() {
        let s = scenario_for(&record("bda", "completed", Some(1), 0.0), Experiment::BdaPlus).unwrap();
        assert_eq!(s.memory_bytes, 128 << 20);
        assert_eq!((s.workload.writes_per_s, s.workload.working_set), (1800.0, 64 * 256));
        assert_eq!(s.service_flow, Background::Bursty { base: 0.0, burst: 8e6, period_s: 20.0, burst_s: 5.0 });
        assert_eq!(s.time_limit_s, 120.0);
        let mut intermittent = record("bda", "completed", Some(1), 0.0);
        intermittent.workload = "rate=0 burst=1200 burst_ms=5000 period_ms=10000".into();
        let s = scenario_for(&intermittent, Experiment::Policies).unwrap();
        assert_eq!(s.workload.kind, WorkloadKind::Intermittent);
        assert_eq!((s.workload.writes_per_s, s.workload.busy_s, s.workload.idle_s), (1200.0, 5.0, 5.0));
        intermittent.workload = "rate=x".into();
        assert!(scenario_for(&intermittent, Experiment::Policies).unwrap_err().contains("rate=x"));
    }

    #[test]
    fn a_cell_takes_times_from_completed_runs_and_shortfall_from_all() {
        let records = vec![
            record("bda", "completed", Some(20_000), 1.0),
            record("bda", "did-not-converge", None, 5.0),
            record("bda", "completed", Some(30_000), 2.0),
        ];
        let table = cells(&records, Experiment::BdaPlus, 1).unwrap();
        let cell = &table[0].1[0];
        assert_eq!((cell.runs, cell.completed, cell.verified), (3, 2, 2));
        assert_eq!(cell.total_time_s.unwrap().median, 25.0);
        assert_eq!(cell.shortfall_pct.unwrap().median, 2.0);
        assert!(cell.sim.is_some());
    }

    #[test]
    fn the_targets_say_met_or_missed_with_the_numbers() {
        let records = vec![
            record("qemu-default", "completed", Some(20_000), 10.0),
            record("bda", "did-not-converge", None, 1.0),
            record("bda-plus", "completed", Some(23_000), 1.0),
        ];
        let table = cells(&records, Experiment::BdaPlus, 1).unwrap();
        let lines = targets(&table[0].1, "bda-plus");
        assert!(lines[0].starts_with("converges wherever QEMU's default does: met"), "{lines:?}");
        assert!(lines[1].contains("a fifth of QEMU default's: met (1.00 % against 10.00 %)"), "{lines:?}");
        assert!(lines[2].contains("paper's BDA: met"), "{lines:?}");
        assert!(lines[3].contains("downtime no higher: met"), "{lines:?}");
        assert!(lines[4].contains("10 % longer: missed (23.0 s against 20.0 s, +15.0 %)"), "{lines:?}");
    }

    #[test]
    fn the_targets_are_checked_for_each_bda_plus_variant_that_ran() {
        let records = vec![
            record("qemu-default", "completed", Some(20_000), 10.0),
            record("bda", "did-not-converge", None, 1.0),
            record(AUTO_CONVERGE, "completed", Some(30_000), 1.2),
        ];
        let table = cells(&records, Experiment::BdaPlus, 1).unwrap();
        assert!(targets(&table[0].1, "bda-plus").is_empty());
        let lines = targets(&table[0].1, AUTO_CONVERGE);
        assert!(lines[2].contains("paper's BDA: met (1.20 % against 1.00 %)"), "{lines:?}");
        assert!(lines[4].contains("10 % longer: missed (30.0 s against 20.0 s, +50.0 %)"), "{lines:?}");
        let md = markdown(Experiment::BdaPlus, 3, &table, 1);
        assert!(md.contains("BDA+ with --on-unmet auto-converge against QEMU's default"), "{md}");
        assert!(!md.contains("\nBDA+ against QEMU's default"), "{md}");
    }

    #[test]
    fn an_unknown_policy_or_a_line_that_is_not_a_result_is_an_error() {
        let mut r = record("bda", "completed", Some(1), 0.0);
        r.policy = "fastest".into();
        assert!(cells(&[r], Experiment::BdaPlus, 1).unwrap_err().contains("fastest"));
        let path = std::env::temp_dir().join(format!("bda-qemu-report-{}.jsonl", std::process::id()));
        fs::write(&path, "{\"policy\": 1}\n").unwrap();
        assert!(read_results(&path).unwrap_err().contains("line 1"));
        let _ = fs::remove_file(&path);
    }
}
