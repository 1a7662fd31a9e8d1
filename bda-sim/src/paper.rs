//! The paper's experiments, reproduced: the memory-size stress test (its Figures 2 and 3),
//! the application test (Figures 4 and 5), our deltas beside the paper's, and a sensitivity
//! sweep over the model's assumptions.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;

use crate::plot::{Series, line_chart};
use crate::report::{Outcomes, Stat};
use crate::run::{RunResult, simulate};
use crate::scenario::{PolicyKind, Scenario, UsageReading};
use crate::workload::{WorkloadKind, WorkloadParams};

/// The policies the paper compares.
pub const PAPER_POLICIES: [PolicyKind; 3] = [PolicyKind::Pca, PolicyKind::Ppc, PolicyKind::Bda];
/// The stress test's memory sizes, MiB.
pub const STRESS_MEMORY_MIB: [u64; 5] = [128, 256, 512, 1024, 2048];
/// The application test's workloads.
pub const APPLICATION_WORKLOADS: [WorkloadKind; 3] =
    [WorkloadKind::Idle, WorkloadKind::KernelCompile, WorkloadKind::Intermittent];
/// The dirty-rate sweep's kernel-compile write rates, pages per second.
pub const WRITE_RATES: [f64; 6] = [250.0, 500.0, 1_000.0, 2_000.0, 3_000.0, 4_000.0];
/// The sensitivity sweep's link efficiencies.
pub const EFFICIENCIES: [f64; 3] = [1.0, 0.9, 0.8];
/// The sensitivity sweep's service factors.
pub const SERVICE_FACTORS: [f64; 4] = [0.0, 0.25, 0.5, 1.0];

/// The paper's reported BDA-versus-PPC changes (downtime %, total time %), per workload.
pub fn paper_delta_vs_ppc(workload: WorkloadKind) -> Option<(f64, f64)> {
    match workload {
        WorkloadKind::KernelCompile => Some((-9.85, -9.51)),
        WorkloadKind::Intermittent => Some((-1.66, -1.47)),
        _ => None, // IS: "no significant change"
    }
}

/// One simulated configuration of the sweep.
#[derive(Clone, Debug)]
struct Job {
    experiment: &'static str,
    memory_mib: u64,
    workload: WorkloadKind,
    efficiency: f64,
    service_factor: f64,
    reading: UsageReading,
    /// Overrides the workload preset's write rate.
    writes_per_s: Option<f64>,
    policy: PolicyKind,
    seed: u64,
}

/// The mean and spread of one configuration over its seeds.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    /// "stress", "application" or "sensitivity".
    pub experiment: &'static str,
    /// Memory, MiB.
    pub memory_mib: u64,
    /// Workload.
    pub workload: WorkloadKind,
    /// Link efficiency under overload.
    pub efficiency: f64,
    /// Service traffic per byte/s of page writes.
    pub service_factor: f64,
    /// What `U_used` counted.
    pub reading: UsageReading,
    /// The workload's write rate while busy, pages per second.
    pub writes_per_s: f64,
    /// Policy.
    pub policy: PolicyKind,
    /// What its runs came to.
    #[serde(flatten)]
    pub outcomes: Outcomes,
}

/// What `bda-sim paper` does.
#[derive(Clone, Debug)]
pub struct PaperOptions {
    /// Seeds per point.
    pub seeds: u64,
    /// The results folder.
    pub out: PathBuf,
    /// The scenario the experiments start from (link, background, efficiency, factor, reading).
    pub base: Scenario,
    /// Skip the sensitivity sweep and the 2 GiB point (for CI).
    pub quick: bool,
    /// Show a progress bar.
    pub progress: bool,
}

/// The experiments' time limit for `memory_bytes` on `base`'s link: a run still going after
/// ten times the time one pass over memory takes on the idle link (and at least ten minutes)
/// is cancelled and counted as not converged; never beyond `base`'s own limit.
pub fn experiment_time_limit_s(base: &Scenario, memory_bytes: u64) -> f64 {
    (10.0 * memory_bytes as f64 / base.link.capacity).max(600.0).min(base.time_limit_s)
}

fn scenario_for(base: &Scenario, job: &Job) -> Scenario {
    let memory_bytes = job.memory_mib << 20;
    let mut workload = WorkloadParams::preset(job.workload, memory_bytes / crate::scenario::PAGE_BYTES);
    workload.writes_per_s = job.writes_per_s.unwrap_or(workload.writes_per_s);
    let time_limit_s = experiment_time_limit_s(base, memory_bytes);
    Scenario {
        time_limit_s,
        memory_bytes,
        workload,
        link: crate::link::Link { efficiency: job.efficiency, ..base.link },
        service_factor: job.service_factor,
        usage_reading: job.reading,
        ..base.clone()
    }
}

fn jobs(options: &PaperOptions) -> Vec<Job> {
    let base = &options.base;
    let mut jobs = Vec::new();
    let mut add = |experiment, memory_mib, workload, efficiency, service_factor, reading, writes_per_s| {
        for policy in PAPER_POLICIES {
            for seed in 1..=options.seeds {
                jobs.push(Job {
                    experiment,
                    memory_mib,
                    workload,
                    efficiency,
                    service_factor,
                    reading,
                    writes_per_s,
                    policy,
                    seed,
                });
            }
        }
    };
    let (e, f, r) = (base.link.efficiency, base.service_factor, base.usage_reading);
    for memory in STRESS_MEMORY_MIB.into_iter().filter(|&m| !options.quick || m <= 1024) {
        add("stress", memory, WorkloadKind::Stress, e, f, r, None);
    }
    for workload in APPLICATION_WORKLOADS {
        add("application", 1024, workload, e, f, r, None);
    }
    if !options.quick {
        for writes in WRITE_RATES {
            add("dirty-rate", 1024, WorkloadKind::KernelCompile, e, f, r, Some(writes));
        }
        for efficiency in EFFICIENCIES {
            for factor in SERVICE_FACTORS {
                for reading in [UsageReading::Other, UsageReading::AllButMigration] {
                    add("sensitivity", 1024, WorkloadKind::KernelCompile, efficiency, factor, reading, None);
                }
            }
        }
    }
    jobs
}

/// Runs every experiment, writes CSVs and SVGs into `options.out`, and returns the points
/// and the text report.
pub fn run_paper(options: &PaperOptions) -> Result<(Vec<Point>, String), String> {
    options.base.validate()?;
    let jobs = jobs(options);
    let bar = if options.progress { ProgressBar::new(jobs.len() as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} migrations simulated, {elapsed} elapsed, eta {eta}")
            .map_err(|e| e.to_string())?,
    );
    let results: Vec<(Job, RunResult)> = jobs
        .into_par_iter()
        .map(|job| {
            let result = simulate(&scenario_for(&options.base, &job), job.policy, job.seed);
            bar.inc(1);
            result.map(|r| (job, r))
        })
        .collect::<Result<_, _>>()?;
    bar.finish_and_clear();

    let points = aggregate(&results);
    fs::create_dir_all(&options.out).map_err(|e| format!("creating {}: {e}", options.out.display()))?;
    write_csv(&options.out.join("points.csv"), &points.iter().collect::<Vec<_>>())?;
    let report = write_figures(&options.out, &points, options.seeds)?;
    Ok((points, report))
}

impl Job {
    /// Whether two jobs are seeds of the same point.
    fn same_point(&self, other: &Job) -> bool {
        (self.experiment, self.memory_mib, self.workload, self.reading, self.policy)
            == (other.experiment, other.memory_mib, other.workload, other.reading, other.policy)
            && self.efficiency == other.efficiency
            && self.service_factor == other.service_factor
            && self.writes_per_s == other.writes_per_s
    }
}

fn scenario_writes(job: &Job) -> f64 {
    job.writes_per_s.unwrap_or_else(|| WorkloadParams::preset(job.workload, (job.memory_mib << 20) / 4096).writes_per_s)
}

/// Groups the runs by point, in the order the points first appear.
fn aggregate(results: &[(Job, RunResult)]) -> Vec<Point> {
    let mut groups: Vec<(&Job, Vec<&RunResult>)> = Vec::new();
    for (job, result) in results {
        match groups.iter_mut().find(|(j, _)| j.same_point(job)) {
            Some((_, runs)) => runs.push(result),
            None => groups.push((job, vec![result])),
        }
    }
    groups
        .into_iter()
        .map(|(j, runs)| Point {
            writes_per_s: scenario_writes(j),
            experiment: j.experiment,
            memory_mib: j.memory_mib,
            workload: j.workload,
            efficiency: j.efficiency,
            service_factor: j.service_factor,
            reading: j.reading,
            policy: j.policy,
            outcomes: Outcomes::of(&runs),
        })
        .collect()
}

fn write_csv(path: &Path, points: &[&Point]) -> Result<(), String> {
    let mut writer = csv::Writer::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
    writer
        .write_record(
            [
                "experiment",
                "memory_mib",
                "workload",
                "efficiency",
                "service_factor",
                "reading",
                "writes_per_s",
                "policy",
            ]
            .into_iter()
            .chain(Outcomes::CSV_COLUMNS),
        )
        .map_err(|e| e.to_string())?;
    for p in points {
        writer
            .write_record(
                [
                    p.experiment.to_string(),
                    p.memory_mib.to_string(),
                    format!("{:?}", p.workload),
                    p.efficiency.to_string(),
                    p.service_factor.to_string(),
                    format!("{:?}", p.reading),
                    p.writes_per_s.to_string(),
                    p.policy.name().to_string(),
                ]
                .into_iter()
                .chain(p.outcomes.csv_fields()),
            )
            .map_err(|e| e.to_string())?;
    }
    writer.flush().map_err(|e| e.to_string())
}

fn series_of(points: &[&Point], x: impl Fn(&Point) -> f64, y: impl Fn(&Point) -> Stat) -> Vec<Series> {
    PAPER_POLICIES
        .iter()
        .map(|&policy| Series {
            name: policy.name().to_string(),
            points: points.iter().filter(|p| p.policy == policy).map(|p| (x(p), y(p))).collect(),
        })
        .collect()
}

/// The change from `old` to `new` in percent, as text; "-" unless both points completed
/// every run (a cancelled run's times mean nothing).
fn change(new: &Point, old: &Point, metric: impl Fn(&Point) -> f64) -> String {
    if new.outcomes.completed < new.outcomes.runs || old.outcomes.completed < old.outcomes.runs {
        return "-".to_string();
    }
    format!("{:+.1}%", 100.0 * (metric(new) - metric(old)) / metric(old))
}

fn write_figures(out: &Path, points: &[Point], seeds: u64) -> Result<String, String> {
    let mut report = String::new();
    let stress: Vec<&Point> = points.iter().filter(|p| p.experiment == "stress").collect();
    let application: Vec<&Point> = points.iter().filter(|p| p.experiment == "application").collect();
    let names: Vec<String> = APPLICATION_WORKLOADS.iter().map(|w| workload_name(*w).to_string()).collect();
    let workload_x = |p: &Point| APPLICATION_WORKLOADS.iter().position(|w| *w == p.workload).unwrap_or(0) as f64;
    // Every figure says which reading of U_used it uses (the application test's points).
    let reading = match application.first().map(|p| p.reading) {
        Some(UsageReading::AllButMigration) => "U_used = all but the migration",
        _ => "U_used = background only",
    };
    let note = format!("mean ± sd over {seeds} seeds; {reading}");

    line_chart(
        &out.join("fig2_stress_downtime.svg"),
        &format!("Downtime by memory size (stress workload; {note})"),
        "memory (MiB)",
        "downtime (s)",
        None,
        &series_of(&stress, |p| p.memory_mib as f64, |p| p.outcomes.downtime_s),
    )?;
    write_csv(&out.join("fig2_stress_downtime.csv"), &stress)?;
    line_chart(
        &out.join("fig3_stress_total_time.svg"),
        &format!("Total migration time by memory size (stress; {note})"),
        "memory (MiB)",
        "total migration time (s)",
        None,
        &series_of(&stress, |p| p.memory_mib as f64, |p| p.outcomes.total_time_s),
    )?;
    write_csv(&out.join("fig3_stress_total_time.csv"), &stress)?;
    line_chart(
        &out.join("fig4_application_downtime.svg"),
        &format!("Downtime by workload (1024 MiB; {note})"),
        "workload",
        "downtime (s)",
        Some(&names),
        &series_of(&application, workload_x, |p| p.outcomes.downtime_s),
    )?;
    write_csv(&out.join("fig4_application_downtime.csv"), &application)?;
    line_chart(
        &out.join("fig5_application_total_time.svg"),
        &format!("Total migration time by workload (1024 MiB; {note})"),
        "workload",
        "total migration time (s)",
        Some(&names),
        &series_of(&application, workload_x, |p| p.outcomes.total_time_s),
    )?;
    write_csv(&out.join("fig5_application_total_time.csv"), &application)?;
    line_chart(
        &out.join("service_shortfall.svg"),
        &format!("Service traffic not delivered during migration (1024 MiB; {note})"),
        "workload",
        "service shortfall (%)",
        Some(&names),
        &series_of(&application, workload_x, |p| p.outcomes.shortfall_pct),
    )?;
    write_csv(&out.join("service_shortfall.csv"), &application)?;

    let _ = writeln!(report, "Stress test (stress workload), mean over {seeds} seeds:");
    let _ = writeln!(
        report,
        "{:>8} {:<6} {:>14} {:>16} {:>10}",
        "MiB", "policy", "downtime (s)", "total time (s)", "converged"
    );
    for p in &stress {
        let _ = writeln!(
            report,
            "{:>8} {:<6} {:>8.3} ±{:<5.3} {:>9.1} ±{:<5.1} {:>7}/{}",
            p.memory_mib,
            p.policy.name(),
            p.outcomes.downtime_s.mean,
            p.outcomes.downtime_s.sd,
            p.outcomes.total_time_s.mean,
            p.outcomes.total_time_s.sd,
            p.outcomes.converged,
            p.outcomes.runs
        );
    }

    let _ =
        writeln!(report, "\nApplication test (1024 MiB): BDA's change against PPC and PCA, ours beside the paper's");
    let _ = writeln!(
        report,
        "{:<21} {:>15} {:>14} {:>16} {:>16} {:>15} {:>14}",
        "workload", "downtime vs PPC", "paper", "total vs PPC", "paper", "downtime vs PCA", "total vs PCA"
    );
    for workload in APPLICATION_WORKLOADS {
        let get = |policy| application.iter().find(|p| p.workload == workload && p.policy == policy);
        let (Some(bda), Some(ppc), Some(pca)) = (get(PolicyKind::Bda), get(PolicyKind::Ppc), get(PolicyKind::Pca))
        else {
            continue;
        };
        let paper = paper_delta_vs_ppc(workload);
        let paper_text = |i: usize| {
            paper.map_or_else(|| "no sig. change".to_string(), |d| format!("{:+.2} %", if i == 0 { d.0 } else { d.1 }))
        };
        let (downtime, total) = (|p: &Point| p.outcomes.downtime_s.mean, |p: &Point| p.outcomes.total_time_s.mean);
        let _ = writeln!(
            report,
            "{:<21} {:>15} {:>14} {:>16} {:>16} {:>15} {:>14}",
            workload_name(workload),
            change(bda, ppc, downtime),
            paper_text(0),
            change(bda, ppc, total),
            paper_text(1),
            change(bda, pca, downtime),
            change(bda, pca, total),
        );
    }

    let sweep: Vec<&Point> = points.iter().filter(|p| p.experiment == "dirty-rate").collect();
    if !sweep.is_empty() {
        let mbit = |p: &Point| p.writes_per_s * 4096.0 * 8.0 / 1e6;
        line_chart(
            &out.join("fig6_dirty_rate_downtime.svg"),
            &format!("Downtime by kernel-compile write rate (1024 MiB; {note})"),
            "page writes while busy (Mbit/s)",
            "downtime (s)",
            None,
            &series_of(&sweep, mbit, |p| p.outcomes.downtime_s),
        )?;
        write_csv(&out.join("fig6_dirty_rate_downtime.csv"), &sweep)?;
        line_chart(
            &out.join("fig7_dirty_rate_total_time.svg"),
            &format!("Total time by kernel-compile write rate (1024 MiB; {note})"),
            "page writes while busy (Mbit/s)",
            "total migration time (s)",
            None,
            &series_of(&sweep, mbit, |p| p.outcomes.total_time_s),
        )?;
        write_csv(&out.join("fig7_dirty_rate_total_time.csv"), &sweep)?;
        let _ = writeln!(report, "\nDirty-rate sweep (kernel-compile, 1024 MiB): mean over {seeds} seeds");
        let _ = writeln!(
            report,
            "{:>10} {:<6} {:>14} {:>16} {:>13} {:>10}",
            "writes/s", "policy", "downtime (s)", "total time (s)", "shortfall %", "converged"
        );
        for p in &sweep {
            let _ = writeln!(
                report,
                "{:>10} {:<6} {:>8.3} ±{:<5.3} {:>9.1} ±{:<5.1} {:>13.2} {:>7}/{}",
                p.writes_per_s,
                p.policy.name(),
                p.outcomes.downtime_s.mean,
                p.outcomes.downtime_s.sd,
                p.outcomes.total_time_s.mean,
                p.outcomes.total_time_s.sd,
                p.outcomes.shortfall_pct.mean,
                p.outcomes.converged,
                p.outcomes.runs
            );
        }
    }

    let sensitivity: Vec<&Point> = points.iter().filter(|p| p.experiment == "sensitivity").collect();
    if !sensitivity.is_empty() {
        let _ = writeln!(
            report,
            "\nSensitivity (kernel-compile, 1024 MiB): BDA's change against PPC, and service shortfall"
        );
        let _ = writeln!(
            report,
            "{:>10} {:>8} {:<16} {:>9} {:>9} {:>11} {:>11} {:>9} {:>9}",
            "efficiency",
            "factor",
            "U_used reading",
            "downtime",
            "total",
            "BDA short.",
            "PPC short.",
            "BDA conv",
            "PPC conv"
        );
        for efficiency in EFFICIENCIES {
            for factor in SERVICE_FACTORS {
                for reading in [UsageReading::Other, UsageReading::AllButMigration] {
                    let get = |policy| {
                        sensitivity.iter().find(|p| {
                            p.efficiency == efficiency
                                && p.service_factor == factor
                                && p.reading == reading
                                && p.policy == policy
                        })
                    };
                    let (Some(bda), Some(ppc)) = (get(PolicyKind::Bda), get(PolicyKind::Ppc)) else { continue };
                    let _ = writeln!(
                        report,
                        "{:>10} {:>8} {:<16} {:>9} {:>9} {:>10.2}% {:>10.2}% {:>9} {:>9}",
                        efficiency,
                        factor,
                        format!("{reading:?}"),
                        change(bda, ppc, |p| p.outcomes.downtime_s.mean),
                        change(bda, ppc, |p| p.outcomes.total_time_s.mean),
                        bda.outcomes.shortfall_pct.mean,
                        ppc.outcomes.shortfall_pct.mean,
                        format!("{}/{}", bda.outcomes.converged, bda.outcomes.runs),
                        format!("{}/{}", ppc.outcomes.converged, ppc.outcomes.runs),
                    );
                }
            }
        }
    }
    fs::write(out.join("report.txt"), &report).map_err(|e| format!("writing report.txt: {e}"))?;
    Ok(report)
}

/// The paper's short names.
pub fn workload_name(workload: WorkloadKind) -> &'static str {
    match workload {
        WorkloadKind::Idle => "idle (IS)",
        WorkloadKind::KernelCompile => "kernel compile (KCS)",
        WorkloadKind::Intermittent => "intermittent (IKCS)",
        WorkloadKind::Stress => "stress",
    }
}
