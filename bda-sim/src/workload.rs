//! Workloads: which pages a guest writes, and how fast.
//!
//! A workload writes pages at `writes_per_s` while it is busy. Each write goes to its hot set
//! with probability `hot_share`, otherwise anywhere in its writable working set (WWS). On top
//! of that the guest's system keeps touching a small set of its own pages at
//! `idle_writes_per_s` (the idle workload is only that). Page choice is uniform within each
//! set, from a seeded generator, so a run is reproducible.
//!
//! The presets and where their numbers come from are documented on [`WorkloadParams::preset`].

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The named workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadKind {
    /// IS in the paper: an idle guest; only its system touches a few pages, slowly.
    Idle,
    /// KCS in the paper: a kernel compile; a high write rate over a large working set with a
    /// hot core.
    KernelCompile,
    /// IKCS in the paper: kernel-compile bursts alternating with idle stretches.
    Intermittent,
    /// Uniform writes over all of memory, for the memory-size sweep.
    Stress,
}

/// A workload's parameters. Sizes are in pages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkloadParams {
    /// Which workload.
    pub kind: WorkloadKind,
    /// Page writes per second while busy.
    pub writes_per_s: f64,
    /// The writable working set: the pages busy writes go to.
    pub working_set: u64,
    /// The hot set, the first pages of the working set.
    pub hot_pages: u64,
    /// The share of busy writes that go to the hot set.
    pub hot_share: f64,
    /// Page writes per second of the guest's system, always (busy or idle).
    pub idle_writes_per_s: f64,
    /// The pages the system writes.
    pub idle_set: u64,
    /// Intermittent only: seconds busy, then `idle_s` seconds idle, repeating.
    pub busy_s: f64,
    /// Intermittent only: seconds idle between bursts.
    pub idle_s: f64,
}

impl WorkloadParams {
    /// The preset of `kind` for a memory of `pages` 4 KiB pages.
    ///
    /// **All rates and set sizes here are assumptions**, chosen to be plausible for a
    /// Fast-Ethernet testbed like the paper's and to exercise every regime (converging,
    /// barely converging, not converging), not measurements; override any of them from the
    /// command line. In outline:
    /// - system writes: 64 pages/s (256 KiB/s) over 4 MiB, in every workload;
    /// - kernel-compile: 1,000 pages/s (about 4 MB/s) over a working set of a quarter of
    ///   memory (at most 256 MiB), 80 % of writes into a hot eighth of it;
    /// - intermittent: kernel-compile for 15 s, idle for 15 s, repeating;
    /// - stress: 500 pages/s (about 2 MB/s) uniformly over all of memory.
    ///
    /// With the default service factor of 1 (the paper's assumption that the service's
    /// traffic follows the dirty rate byte for byte), kernel-compile's service asks for about
    /// a third of a 100 Mbit/s link.
    pub fn preset(kind: WorkloadKind, pages: u64) -> Self {
        let idle_set = (1024).min(pages);
        let compile_set = (pages / 4).clamp(1, 65_536);
        let base = Self {
            kind,
            writes_per_s: 0.0,
            working_set: 1,
            hot_pages: 0,
            hot_share: 0.0,
            idle_writes_per_s: 64.0,
            idle_set,
            busy_s: 15.0,
            idle_s: 15.0,
        };
        match kind {
            WorkloadKind::Idle => base,
            WorkloadKind::KernelCompile | WorkloadKind::Intermittent => Self {
                writes_per_s: 1_000.0,
                working_set: compile_set,
                hot_pages: (compile_set / 8).max(1),
                hot_share: 0.8,
                ..base
            },
            WorkloadKind::Stress => Self { writes_per_s: 500.0, working_set: pages, ..base },
        }
    }

    /// Checks the parameters against a memory of `pages` pages.
    pub fn validate(&self, pages: u64) -> Result<(), String> {
        let finite = |x: f64| x.is_finite() && x >= 0.0;
        if !finite(self.writes_per_s) || !finite(self.idle_writes_per_s) {
            return Err("write rates must be finite and not negative".into());
        }
        if !(0.0..=1.0).contains(&self.hot_share) {
            return Err("the hot share must be in 0..=1".into());
        }
        if self.working_set == 0 || self.working_set > pages {
            return Err(format!("the working set must be 1..={pages} pages"));
        }
        if self.hot_pages > self.working_set {
            return Err("the hot set must fit in the working set".into());
        }
        if self.idle_set == 0 || self.idle_set > pages {
            return Err(format!("the system's page set must be 1..={pages} pages"));
        }
        if self.kind == WorkloadKind::Intermittent && !(self.busy_s > 0.0 && finite(self.idle_s)) {
            return Err("intermittent phases must be positive".into());
        }
        Ok(())
    }
}

/// A running workload: it writes pages as simulated time passes.
#[derive(Clone, Debug)]
pub struct Workload {
    params: WorkloadParams,
    pages: u64,
    /// Where the working set starts: after the system's pages, so the two overlap little.
    base: u64,
    /// Intermittent: where in its busy/idle cycle the workload starts.
    phase_s: f64,
    rng: ChaCha8Rng,
    /// Fractional writes carried to the next step, so rates hold over many short steps.
    carry: f64,
}

impl Workload {
    /// A workload over `pages` pages, seeded.
    pub fn new(params: WorkloadParams, pages: u64, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let cycle = params.busy_s + params.idle_s;
        let phase_s = if params.kind == WorkloadKind::Intermittent { rng.random_range(0.0..cycle) } else { 0.0 };
        let base = params.idle_set.min(pages - params.working_set);
        Self { params, pages, base, phase_s, rng, carry: 0.0 }
    }

    /// The parameters.
    pub fn params(&self) -> &WorkloadParams {
        &self.params
    }

    /// Whether the workload is in a busy phase at `t_s` seconds.
    pub fn busy(&self, t_s: f64) -> bool {
        match self.params.kind {
            WorkloadKind::Idle => false,
            WorkloadKind::Intermittent => {
                (t_s + self.phase_s) % (self.params.busy_s + self.params.idle_s) < self.params.busy_s
            }
            WorkloadKind::KernelCompile | WorkloadKind::Stress => true,
        }
    }

    /// Page writes per second at `t_s`.
    pub fn write_rate(&self, t_s: f64) -> f64 {
        self.params.idle_writes_per_s + if self.busy(t_s) { self.params.writes_per_s } else { 0.0 }
    }

    /// Runs from `t_s` for `dt_s` seconds, calling `write` for each page written.
    pub fn run(&mut self, t_s: f64, dt_s: f64, mut write: impl FnMut(u64)) {
        let busy = self.busy(t_s);
        let rate = self.write_rate(t_s);
        let exact = rate * dt_s + self.carry;
        let writes = exact.floor();
        self.carry = exact - writes;
        let busy_share = if busy && rate > 0.0 { self.params.writes_per_s / rate } else { 0.0 };
        for _ in 0..writes as u64 {
            let page = if self.rng.random::<f64>() < busy_share {
                let p = &self.params;
                let offset = if p.hot_pages > 0 && self.rng.random::<f64>() < p.hot_share {
                    self.rng.random_range(0..p.hot_pages)
                } else {
                    self.rng.random_range(0..p.working_set)
                };
                self.base + offset
            } else {
                self.rng.random_range(0..self.params.idle_set)
            };
            debug_assert!(page < self.pages);
            write(page);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_hold_over_short_steps() {
        let pages = 1 << 16;
        let mut w = Workload::new(WorkloadParams::preset(WorkloadKind::KernelCompile, pages), pages, 7);
        let mut writes = 0_u64;
        for step in 0..1000 {
            w.run(step as f64 * 0.01, 0.01, |p| {
                assert!(p < pages);
                writes += 1;
            });
        }
        // 10 s at 1,064 writes/s, within one write.
        assert!((writes as f64 - 10_640.0).abs() <= 1.0, "{writes}");
    }

    #[test]
    fn intermittent_alternates() {
        let params = WorkloadParams::preset(WorkloadKind::Intermittent, 1 << 16);
        let w = Workload::new(params, 1 << 16, 1);
        let busy = (0..300).filter(|&t| w.busy(f64::from(t) * 0.1)).count();
        assert!((140..=160).contains(&busy), "{busy} of 300 tenths busy");
    }

    #[test]
    fn same_seed_same_writes() {
        let params = WorkloadParams::preset(WorkloadKind::Stress, 1 << 12);
        let collect = |seed| {
            let mut w = Workload::new(params.clone(), 1 << 12, seed);
            let mut v = Vec::new();
            w.run(0.0, 1.0, |p| v.push(p));
            v
        };
        assert_eq!(collect(3), collect(3));
        assert_ne!(collect(3), collect(4));
    }
}
