//! `bda-sim`: simulate live migrations under bda-core's policies.

use std::path::PathBuf;
use std::process::ExitCode;

use bda_sim::link::Background;
use bda_sim::paper::{PaperOptions, run_paper};
use bda_sim::qemu_report::{Experiment, run_qemu_report};
use bda_sim::report::{PolicySummary, comparison_table, round_table, summary_line};
use bda_sim::run::{RunResult, simulate};
use bda_sim::scenario::{FirstRoundReserve, OnUnmet, PAGE_BYTES, PolicyKind, ReserveArg, Scenario, UsageReading};
use bda_sim::tradeoff::{ServiceProfile, TradeoffOptions, default_profiles, run_tradeoff};
use bda_sim::units::{parse_bytes, parse_rate, parse_seconds};
use bda_sim::workload::{WorkloadKind, WorkloadParams};
use clap::{Args, Parser, Subcommand, ValueEnum};
use rayon::prelude::*;

/// Simulate pre-copy live migrations under bda-core's policies: BDA, PCA, PPC, Xen's
/// incremental rate limiting and QEMU's static cap.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// One migration: the per-round table and the summary.
    Run {
        /// The policy.
        #[arg(long, value_enum, default_value = "bda")]
        policy: PolicyKind,
        /// The seed of the workload's page choices.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        #[command(flatten)]
        scenario: ScenarioArgs,
    },
    /// Several policies on the same scenario and seeds, side by side.
    Compare {
        /// The policies, comma-separated.
        #[arg(long, value_enum, value_delimiter = ',', default_value = "pca,ppc,bda,incremental,static")]
        policies: Vec<PolicyKind>,
        /// How many seeds (1..=N) each policy runs.
        #[arg(long, default_value_t = 10)]
        seeds: u64,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        #[command(flatten)]
        scenario: ScenarioArgs,
    },
    /// The paper's experiments: memory sweep, application test, comparison with the paper's
    /// numbers, sensitivity sweep; CSVs, SVG plots and a report in the output folder.
    Paper {
        /// The results folder.
        #[arg(long, default_value = "results/paper")]
        out: PathBuf,
        /// Seeds per point.
        #[arg(long, default_value_t = 10)]
        seeds: u64,
        /// A reduced run: no 2 GiB point and no sensitivity sweep.
        #[arg(long)]
        quick: bool,
        /// No progress bar.
        #[arg(long)]
        no_progress: bool,
        /// The link and traffic model the experiments use (memory and workload are set by
        /// each experiment).
        #[command(flatten)]
        scenario: ScenarioArgs,
    },
    /// The trade-off experiment: service shortfall against total time per workload, for PCA,
    /// Incremental, Static, the paper's BDA and BDA+ at several rho_max settings with and
    /// with each source of its reserve; a CSV, an SVG per service profile and workload, and a
    /// report. The service is a flow of its own (--service-factor 0 unless set), in two
    /// profiles: bursty (idle, bursting to 8MB/s for 5s of every 20s) and steady (4MB/s);
    /// --service-flow or --service-burst replace both with the one they describe.
    Tradeoff {
        /// The results folder.
        #[arg(long, default_value = "results/tradeoff")]
        out: PathBuf,
        /// Seeds per point.
        #[arg(long, default_value_t = 10)]
        seeds: u64,
        /// No progress bar.
        #[arg(long)]
        no_progress: bool,
        /// The link, traffic and BDA+ settings (memory defaults to 1GiB; the workload is set
        /// by the experiment).
        #[command(flatten)]
        scenario: ScenarioArgs,
    },
    /// The real-QEMU experiments' results (tests/qemu/experiment.sh) as a Markdown table of
    /// medians and spreads, a CSV and two SVGs per scenario (shortfall and downtime against
    /// total time), beside bda-sim's prediction for each scenario.
    QemuReport {
        /// Which experiment the results are from (sets the wall-clock limit).
        #[arg(long, value_enum)]
        experiment: Experiment,
        /// The test bed's JSON lines.
        #[arg(long)]
        results: PathBuf,
        /// The output folder.
        #[arg(long)]
        out: PathBuf,
        /// Seeds of each prediction.
        #[arg(long, default_value_t = 5)]
        seeds: u64,
    },
    /// Prints the scenario the flags resolve to, as JSON (a starting point for --config).
    Scenario {
        #[command(flatten)]
        scenario: ScenarioArgs,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Table,
    Json,
    Csv,
}

/// The scenario. Each flag overrides the preset (or the --config file); unset flags keep it.
#[derive(Args, Debug, Clone)]
struct ScenarioArgs {
    /// A scenario as JSON (as `bda-sim scenario` prints it); the flags below override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// VM memory, e.g. 1GiB [default: 1GiB].
    #[arg(long, value_parser = parse_bytes)]
    memory: Option<u64>,
    /// The guest's workload [default: kernel-compile].
    #[arg(long, value_enum)]
    workload: Option<WorkloadKind>,
    /// Link capacity, e.g. 100Mbit/s [default: 100Mbit/s].
    #[arg(long, value_parser = parse_rate)]
    link: Option<u64>,
    /// Background traffic, e.g. 1MB/s [default: 1MB/s].
    #[arg(long, value_parser = parse_rate)]
    background: Option<u64>,
    /// Background bursts to this rate (with --burst-every and --burst-for).
    #[arg(long, value_parser = parse_rate)]
    burst: Option<u64>,
    /// How often a burst starts [default: 30s].
    #[arg(long, value_parser = parse_seconds)]
    burst_every: Option<f64>,
    /// How long a burst lasts [default: 5s].
    #[arg(long, value_parser = parse_seconds)]
    burst_for: Option<f64>,
    /// The service's own flow, e.g. 2MB/s, on top of what follows the page writes
    /// [default: none].
    #[arg(long, value_parser = parse_rate)]
    service_flow: Option<u64>,
    /// The service flow bursts to this rate (with --service-burst-every and
    /// --service-burst-for).
    #[arg(long, value_parser = parse_rate)]
    service_burst: Option<u64>,
    /// How often a service burst starts [default: 30s].
    #[arg(long, value_parser = parse_seconds)]
    service_burst_every: Option<f64>,
    /// How long a service burst lasts [default: 5s].
    #[arg(long, value_parser = parse_seconds)]
    service_burst_for: Option<f64>,
    /// Share of the capacity an overloaded link still carries, (0, 1] [default: 0.9].
    #[arg(long)]
    efficiency: Option<f64>,
    /// Service traffic demand per byte/s of page writes [default: 1, the paper's assumption].
    #[arg(long)]
    service_factor: Option<f64>,
    /// What U_used counts [default: other].
    #[arg(long, value_enum)]
    usage_reading: Option<UsageReading>,
    /// Workload: page writes per second while busy.
    #[arg(long)]
    writes_per_s: Option<f64>,
    /// Workload: writable working set, e.g. 256MiB.
    #[arg(long, value_parser = parse_bytes)]
    working_set: Option<u64>,
    /// Workload: hot set inside the working set, e.g. 32MiB.
    #[arg(long, value_parser = parse_bytes)]
    hot_set: Option<u64>,
    /// Workload: share of busy writes into the hot set, 0..=1.
    #[arg(long)]
    hot_share: Option<f64>,
    /// Workload: the system's page writes per second.
    #[arg(long)]
    idle_writes_per_s: Option<f64>,
    /// Intermittent: busy phase length.
    #[arg(long, value_parser = parse_seconds)]
    busy: Option<f64>,
    /// Intermittent: idle phase length.
    #[arg(long, value_parser = parse_seconds)]
    idle: Option<f64>,
    /// Stop and copy when the rest fits this downtime; 0 turns it off [default: 300ms].
    #[arg(long, value_parser = parse_seconds)]
    downtime_target: Option<f64>,
    /// Round cap, stop-and-copy included [default: 30].
    #[arg(long)]
    max_rounds: Option<u32>,
    /// Stop after sending this share of memory, percent; 0 turns it off [default: 300].
    #[arg(long)]
    max_sent_percent: Option<u32>,
    /// Stop below this many pages left; 0 turns it off [default: 50].
    #[arg(long)]
    min_remaining_pages: Option<u64>,
    /// BDA's floor, percent of capacity [default: 5].
    #[arg(long)]
    bda_floor_percent: Option<u8>,
    /// BDA's first-round rate [default: all free bandwidth].
    #[arg(long, value_parser = parse_rate)]
    bda_first_round_rate: Option<u64>,
    /// BDA's coefficients in the utilisation form instead of the dirty-rate form.
    #[arg(long)]
    bda_utilisation: bool,
    /// BDA+: rho_max, the largest ratio of dirty rate to migration rate its convergence guard
    /// accepts, percent; 0 turns the guard off [default: 50].
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=100))]
    bda_plus_rho_max: Option<u8>,
    /// BDA+: the deadline guard's target total time, e.g. 150s [default: none].
    #[arg(long, value_parser = parse_seconds)]
    bda_plus_deadline: Option<f64>,
    /// BDA+: round 1's reserve for the service: none, measured (the service's traffic just
    /// before the migration) or a rate such as 2MB/s [default: none].
    #[arg(long, value_parser = parse_first_round_reserve)]
    bda_plus_first_round_reserve: Option<FirstRoundReserve>,
    /// BDA+: what happens when the free bandwidth is below what a guard needs
    /// [default: take-reserve].
    #[arg(long, value_enum)]
    bda_plus_on_unmet: Option<OnUnmet>,
    /// BDA+: where the reserve comes from before the guards [default: dirty-rate].
    #[arg(long, value_enum)]
    bda_plus_reserve: Option<ReserveArg>,
    /// Smooth U_used with bda-core's LinkFilter before the policies see it.
    #[arg(long)]
    smooth_usage: bool,
    /// Static's cap [default: 128MiB/s].
    #[arg(long, value_parser = parse_rate)]
    static_cap: Option<u64>,
    /// Cancel a migration still running after this long [default: 3600s].
    #[arg(long, value_parser = parse_seconds)]
    time_limit: Option<f64>,
}

impl ScenarioArgs {
    fn resolve(&self) -> Result<Scenario, String> {
        self.resolve_from(Scenario::new(1 << 30, WorkloadKind::KernelCompile))
    }

    /// The scenario from `preset` (or the --config file), then the flags.
    fn resolve_from(&self, preset: Scenario) -> Result<Scenario, String> {
        let mut s = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => preset,
        };
        if self.memory.is_some() || self.workload.is_some() {
            s.memory_bytes = self.memory.unwrap_or(s.memory_bytes);
            s.workload = WorkloadParams::preset(self.workload.unwrap_or(s.workload.kind), s.memory_bytes / PAGE_BYTES);
        }
        let w = &mut s.workload;
        let pages = |bytes: u64| bytes.div_ceil(PAGE_BYTES);
        w.writes_per_s = self.writes_per_s.unwrap_or(w.writes_per_s);
        w.working_set = self.working_set.map_or(w.working_set, pages);
        w.hot_pages = self.hot_set.map_or(w.hot_pages, pages);
        w.hot_share = self.hot_share.unwrap_or(w.hot_share);
        w.idle_writes_per_s = self.idle_writes_per_s.unwrap_or(w.idle_writes_per_s);
        w.busy_s = self.busy.unwrap_or(w.busy_s);
        w.idle_s = self.idle.unwrap_or(w.idle_s);
        if let Some(link) = self.link {
            s.link.capacity = link as f64;
        }
        s.link.background = traffic(s.link.background, self.background, self.burst, self.burst_every, self.burst_for);
        s.service_flow = traffic(
            s.service_flow,
            self.service_flow,
            self.service_burst,
            self.service_burst_every,
            self.service_burst_for,
        );
        s.link.efficiency = self.efficiency.unwrap_or(s.link.efficiency);
        s.service_factor = self.service_factor.unwrap_or(s.service_factor);
        s.usage_reading = self.usage_reading.unwrap_or(s.usage_reading);
        if let Some(target) = self.downtime_target {
            s.downtime_target_ms = (target > 0.0).then(|| (target * 1e3).round() as u64);
        }
        s.max_rounds = self.max_rounds.unwrap_or(s.max_rounds);
        if let Some(percent) = self.max_sent_percent {
            s.max_sent_percent = (percent > 0).then_some(percent);
        }
        if let Some(pages) = self.min_remaining_pages {
            s.min_remaining_pages = (pages > 0).then_some(pages);
        }
        s.bda_floor_percent = self.bda_floor_percent.unwrap_or(s.bda_floor_percent);
        s.bda_first_round_rate = self.bda_first_round_rate.or(s.bda_first_round_rate);
        s.bda_utilisation_coefficients |= self.bda_utilisation;
        if let Some(percent) = self.bda_plus_rho_max {
            s.bda_plus.max_dirty_ratio_percent = (percent > 0).then_some(percent);
        }
        s.bda_plus.deadline_s = self.bda_plus_deadline.or(s.bda_plus.deadline_s);
        s.bda_plus.first_round_reserve = self.bda_plus_first_round_reserve.unwrap_or(s.bda_plus.first_round_reserve);
        s.bda_plus.on_unmet = self.bda_plus_on_unmet.unwrap_or(s.bda_plus.on_unmet);
        s.bda_plus.reserve = self.bda_plus_reserve.unwrap_or(s.bda_plus.reserve);
        s.smooth_usage |= self.smooth_usage;
        s.static_cap = self.static_cap.unwrap_or(s.static_cap);
        s.time_limit_s = self.time_limit.unwrap_or(s.time_limit_s);
        s.validate()?;
        Ok(s)
    }
}

/// A traffic profile from the preset and the flags: `base` overrides the rate (between
/// bursts), `burst` makes it bursty, `every` and `length` reshape the bursts.
fn traffic(
    previous: Background,
    base: Option<u64>,
    burst: Option<u64>,
    every: Option<f64>,
    length: Option<f64>,
) -> Background {
    let base = match previous {
        Background::Constant { rate } | Background::Bursty { base: rate, .. } => base.map_or(rate, |b| b as f64),
    };
    match (burst, previous) {
        (Some(burst), previous) => {
            let (period_s, burst_s) = match previous {
                Background::Bursty { period_s, burst_s, .. } => (period_s, burst_s),
                Background::Constant { .. } => (30.0, 5.0),
            };
            Background::Bursty {
                base,
                burst: burst as f64,
                period_s: every.unwrap_or(period_s),
                burst_s: length.unwrap_or(burst_s),
            }
        }
        (None, Background::Bursty { burst, period_s, burst_s, .. }) => {
            Background::Bursty { base, burst, period_s: every.unwrap_or(period_s), burst_s: length.unwrap_or(burst_s) }
        }
        (None, Background::Constant { .. }) => Background::Constant { rate: base },
    }
}

/// One run as a CSV row (the per-round trace left out).
#[derive(serde::Serialize)]
struct CompareRow<'a> {
    policy: &'a str,
    seed: u64,
    completed: bool,
    converged: bool,
    stop_reason: &'a str,
    rounds: u32,
    total_time_s: f64,
    downtime_s: f64,
    bytes_sent: u64,
    pages_resent: u64,
    service_demanded_bytes: f64,
    service_delivered_bytes: f64,
    service_shortfall_pct: f64,
}

impl<'a> From<&'a RunResult> for CompareRow<'a> {
    fn from(r: &'a RunResult) -> Self {
        Self {
            policy: r.policy.name(),
            seed: r.seed,
            completed: r.completed,
            converged: r.converged,
            stop_reason: r.stop_reason.as_deref().unwrap_or(""),
            rounds: r.rounds,
            total_time_s: r.total_time_s,
            downtime_s: r.downtime_s,
            bytes_sent: r.bytes_sent,
            pages_resent: r.pages_resent,
            service_demanded_bytes: r.service_demanded,
            service_delivered_bytes: r.service_delivered,
            service_shortfall_pct: r.service_shortfall_pct,
        }
    }
}

fn describe(s: &Scenario) -> String {
    format!(
        "{} MiB, {:?} workload, link {:.1} Mbit/s (efficiency {} under overload), background {:?}, service factor {}, U_used reading {:?}",
        s.memory_bytes >> 20,
        s.workload.kind,
        s.link.capacity * 8.0 / 1e6,
        s.link.efficiency,
        s.link.background,
        s.service_factor,
        s.usage_reading
    )
}

/// `none`, `measured` or a rate.
fn parse_first_round_reserve(text: &str) -> Result<FirstRoundReserve, String> {
    match text {
        "none" => Ok(FirstRoundReserve::None),
        "measured" => Ok(FirstRoundReserve::Measured),
        rate => parse_rate(rate).map(FirstRoundReserve::Fixed).map_err(|e| format!("{e} (or none, measured)")),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bda-sim: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Run { policy, seed, format, scenario } => {
            let scenario = scenario.resolve()?;
            let result = simulate(&scenario, policy, seed)?;
            match format {
                Format::Table => {
                    println!("{}", describe(&scenario));
                    print!("{}", round_table(&result));
                }
                Format::Json => {
                    let value = serde_json::json!({ "scenario": scenario, "result": result });
                    println!("{}", serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?);
                }
                Format::Csv => {
                    let mut writer = csv::Writer::from_writer(std::io::stdout());
                    for round in &result.trace {
                        writer.serialize(round).map_err(|e| e.to_string())?;
                    }
                    writer.flush().map_err(|e| e.to_string())?;
                }
            }
        }
        Command::Compare { policies, seeds, format, scenario } => {
            let scenario = scenario.resolve()?;
            if seeds == 0 {
                return Err("--seeds must be at least 1".into());
            }
            let runs: Vec<(PolicyKind, Vec<RunResult>)> = policies
                .iter()
                .map(|&policy| {
                    let runs: Result<Vec<RunResult>, String> =
                        (1..=seeds).into_par_iter().map(|seed| simulate(&scenario, policy, seed)).collect();
                    runs.map(|r| (policy, r))
                })
                .collect::<Result<_, _>>()?;
            let summaries: Vec<PolicySummary> = runs.iter().map(|(p, r)| PolicySummary::of(*p, r)).collect();
            match format {
                Format::Csv => {
                    let mut writer = csv::Writer::from_writer(std::io::stdout());
                    for run in runs.iter().flat_map(|(_, r)| r) {
                        writer.serialize(CompareRow::from(run)).map_err(|e| e.to_string())?;
                    }
                    writer.flush().map_err(|e| e.to_string())?;
                }
                Format::Table => {
                    println!("{} ({seeds} seeds)", describe(&scenario));
                    print!("{}", comparison_table(&summaries));
                    for (_, r) in &runs {
                        println!("  seed 1: {}", summary_line(&r[0]));
                    }
                }
                Format::Json => {
                    let value = serde_json::json!({ "scenario": scenario, "summaries": summaries });
                    println!("{}", serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?);
                }
            }
        }
        Command::Paper { out, seeds, quick, no_progress, scenario } => {
            if seeds == 0 {
                return Err("--seeds must be at least 1".into());
            }
            let base = scenario.resolve()?;
            let started = std::time::Instant::now();
            let options = PaperOptions { seeds, out: out.clone(), base, quick, progress: !no_progress };
            let (_, report) = run_paper(&options)?;
            print!("{report}");
            println!(
                "\nwrote {} (an SVG and a CSV per figure, points.csv, report.txt) in {:.1} s",
                out.display(),
                started.elapsed().as_secs_f64()
            );
        }
        Command::Tradeoff { out, seeds, no_progress, scenario } => {
            if seeds == 0 {
                return Err("--seeds must be at least 1".into());
            }
            let mut preset = Scenario::new(1 << 30, WorkloadKind::KernelCompile);
            preset.service_factor = 0.0;
            let base = scenario.resolve_from(preset)?;
            // The flags' service flow, if they name one; otherwise the two default profiles.
            let custom = scenario.service_flow.is_some() || scenario.service_burst.is_some();
            let profiles = if custom {
                vec![ServiceProfile { name: "custom".into(), flow: base.service_flow }]
            } else {
                default_profiles()
            };
            let started = std::time::Instant::now();
            let options = TradeoffOptions { seeds, out: out.clone(), base, profiles, progress: !no_progress };
            let (_, report) = run_tradeoff(&options)?;
            print!("{report}");
            println!(
                "\nwrote {} (tradeoff.csv, an SVG per service profile and workload, tradeoff.txt) in {:.1} s",
                out.display(),
                started.elapsed().as_secs_f64()
            );
        }
        Command::QemuReport { experiment, results, out, seeds } => {
            print!("{}", run_qemu_report(experiment, &results, &out, seeds)?);
            println!("\nwrote {} (report.md, cells.csv, two SVGs per scenario)", out.display());
        }
        Command::Scenario { scenario } => {
            let scenario = scenario.resolve()?;
            println!("{}", serde_json::to_string_pretty(&scenario).map_err(|e| e.to_string())?);
        }
    }
    Ok(())
}
