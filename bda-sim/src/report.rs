//! Printing runs: the per-round table, summaries, and statistics over seeds.

use std::fmt::Write as _;

use serde::Serialize;

use crate::run::RunResult;

use crate::scenario::PolicyKind;

fn mbit(bytes_per_s: f64) -> f64 {
    bytes_per_s * 8.0 / 1e6
}

/// The per-round table of one run, and its summary line.
pub fn round_table(result: &RunResult) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>5} {:<12} {:<11} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>8}",
        "round", "kind", "rule", "free", "reserved", "rate", "achieved", "dirty", "sent", "deferred", "time"
    );
    let _ = writeln!(
        out,
        "{:>5} {:<12} {:<11} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>8}",
        "", "", "", "Mbit/s", "Mbit/s", "Mbit/s", "Mbit/s", "Mbit/s", "pages", "pages", "s"
    );
    for r in &result.trace {
        let _ = writeln!(
            out,
            "{:>5} {:<12} {:<11} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>9.1} {:>9} {:>9} {:>8.2}",
            r.round,
            r.kind,
            r.rule,
            mbit(r.free as f64),
            mbit(r.reserved as f64),
            mbit(r.migration as f64),
            mbit(r.achieved),
            mbit(r.dirty_rate as f64),
            r.pages_sent,
            r.pages_deferred,
            r.duration_s,
        );
    }
    let _ = writeln!(out, "{}", summary_line(result));
    out
}

/// One line: the run's outcome.
pub fn summary_line(r: &RunResult) -> String {
    let outcome = match (r.completed, r.converged) {
        (false, _) => "did not converge (cancelled at the time limit)".to_string(),
        (true, true) => format!("converged ({})", r.stop_reason.as_deref().unwrap_or("-")),
        (true, false) => format!("forced to stop ({})", r.stop_reason.as_deref().unwrap_or("-")),
    };
    format!(
        "{}: {} rounds, total {:.2} s, downtime {:.3} s, sent {:.1} MiB ({} pages re-sent), service shortfall {:.2} %; {}",
        r.policy.name(),
        r.rounds,
        r.total_time_s,
        r.downtime_s,
        r.bytes_sent as f64 / (1 << 20) as f64,
        r.pages_resent,
        r.service_shortfall_pct,
        outcome
    )
}

/// The mean and the sample standard deviation of some values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Stat {
    /// The mean.
    pub mean: f64,
    /// The sample standard deviation (0 for one value).
    pub sd: f64,
}

impl Stat {
    /// The statistics of `values` (at least one).
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let values: Vec<f64> = values.into_iter().collect();
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var =
            if values.len() > 1 { values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
        Self { mean, sd: var.sqrt() }
    }
}

/// One policy's results over several seeds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PolicySummary {
    /// The policy.
    pub policy: PolicyKind,
    /// Runs.
    pub runs: usize,
    /// Runs that converged.
    pub converged: usize,
    /// Runs that completed (the others hit the time limit).
    pub completed: usize,
    /// Total migration time, seconds.
    pub total_time_s: Stat,
    /// Downtime, seconds.
    pub downtime_s: Stat,
    /// Rounds.
    pub rounds: Stat,
    /// MiB sent.
    pub sent_mib: Stat,
    /// Service shortfall, percent.
    pub service_shortfall_pct: Stat,
}

impl PolicySummary {
    /// Summarises `runs` of one policy.
    pub fn of(policy: PolicyKind, runs: &[RunResult]) -> Self {
        Self {
            policy,
            runs: runs.len(),
            converged: runs.iter().filter(|r| r.converged).count(),
            completed: runs.iter().filter(|r| r.completed).count(),
            total_time_s: Stat::of(runs.iter().map(|r| r.total_time_s)),
            downtime_s: Stat::of(runs.iter().map(|r| r.downtime_s)),
            rounds: Stat::of(runs.iter().map(|r| f64::from(r.rounds))),
            sent_mib: Stat::of(runs.iter().map(|r| r.bytes_sent as f64 / (1 << 20) as f64)),
            service_shortfall_pct: Stat::of(runs.iter().map(|r| r.service_shortfall_pct)),
        }
    }
}

/// Policies side by side: mean ± standard deviation over the seeds.
pub fn comparison_table(summaries: &[PolicySummary]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12} {:>5} {:>9} {:>17} {:>17} {:>11} {:>15} {:>15}",
        "policy", "runs", "converged", "total time (s)", "downtime (s)", "rounds", "sent (MiB)", "shortfall (%)"
    );
    for s in summaries {
        let _ = writeln!(
            out,
            "{:<12} {:>5} {:>9} {:>9.2} ±{:>6.2} {:>9.3} ±{:>6.3} {:>5.1} ±{:>4.1} {:>8.1} ±{:>5.1} {:>8.2} ±{:>5.2}",
            s.policy.name(),
            s.runs,
            format!("{}/{}", s.converged, s.runs),
            s.total_time_s.mean,
            s.total_time_s.sd,
            s.downtime_s.mean,
            s.downtime_s.sd,
            s.rounds.mean,
            s.rounds.sd,
            s.sent_mib.mean,
            s.sent_mib.sd,
            s.service_shortfall_pct.mean,
            s.service_shortfall_pct.sd,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_sd() {
        let s = Stat::of([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(s.mean, 5.0);
        assert!((s.sd - 2.138).abs() < 1e-3);
        assert_eq!(Stat::of([3.0]).sd, 0.0);
    }
}

/// What a point's runs came to: how many converged and completed, and the statistics of their
/// downtime, total time and service shortfall. The experiments' points share it, and their
/// CSVs its columns.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Outcomes {
    /// Runs.
    pub runs: usize,
    /// Runs that converged (the rest were forced to stop, aborted or cancelled).
    pub converged: usize,
    /// Runs that completed (the rest hit the time limit or were aborted).
    pub completed: usize,
    /// Downtime, seconds.
    pub downtime_s: Stat,
    /// Total time, seconds.
    pub total_time_s: Stat,
    /// Service shortfall, percent.
    pub shortfall_pct: Stat,
}

impl Outcomes {
    /// The CSV columns of [`csv_fields`](Self::csv_fields).
    pub const CSV_COLUMNS: [&'static str; 8] = [
        "runs",
        "converged",
        "downtime_s_mean",
        "downtime_s_sd",
        "total_time_s_mean",
        "total_time_s_sd",
        "shortfall_pct_mean",
        "shortfall_pct_sd",
    ];

    /// The outcomes of `runs` (at least one).
    pub fn of(runs: &[&RunResult]) -> Self {
        Self {
            runs: runs.len(),
            converged: runs.iter().filter(|r| r.converged).count(),
            completed: runs.iter().filter(|r| r.completed).count(),
            downtime_s: Stat::of(runs.iter().map(|r| r.downtime_s)),
            total_time_s: Stat::of(runs.iter().map(|r| r.total_time_s)),
            shortfall_pct: Stat::of(runs.iter().map(|r| r.service_shortfall_pct)),
        }
    }

    /// The values of [`CSV_COLUMNS`](Self::CSV_COLUMNS).
    pub fn csv_fields(&self) -> [String; 8] {
        [
            self.runs.to_string(),
            self.converged.to_string(),
            format!("{:.4}", self.downtime_s.mean),
            format!("{:.4}", self.downtime_s.sd),
            format!("{:.3}", self.total_time_s.mean),
            format!("{:.3}", self.total_time_s.sd),
            format!("{:.3}", self.shortfall_pct.mean),
            format!("{:.3}", self.shortfall_pct.sd),
        ]
    }
}
