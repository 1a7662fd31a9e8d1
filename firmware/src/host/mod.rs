//! The host binary: the same migration loop as the board, over std stand-ins ([`sim`]).
//!
//! ```text
//! cargo run --release -p firmware -- [MEMORY_MIB] [--policy bda|bda-plus|pca|incremental|static]
//!     [--workload idle|busy|bursty] [--link-mbit N] [--real-time] [--lose-page]
//! ```
//!
//! By default a 256 MiB VM of 4 KiB pages migrates over a 1 Gbit/s link that carries
//! 200 Mbit/s of other traffic (600 Mbit/s one second in three), on a simulated clock: the run
//! takes well under a second and is exactly reproducible. The busy workload writes 50 MB/s,
//! 90 % of it into the first quarter of memory. `--real-time` paces on the machine's clock
//! instead (the run then takes as long as the migration).
//!
//! One line per round: the allocation when it began (free, reserved, rate), the allocated rate
//! over the round (the integral of the rate, which reassessment every 100 ms may change, over
//! its duration), the rate achieved and the difference, the pages sent, deferred and dirtied.
//! Then the summary, and the check that the destination matches the source page for page.

// A host program printing a table: converting rates to f64 Mbit/s is its purpose.
#![allow(clippy::as_conversions, clippy::cast_precision_loss)]

pub mod sim;

use std::collections::TryReserveError;
use std::process::ExitCode;

use bda_core::{
    AnyPolicy, BdaPlus, Bytes, BytesPerSec, IncrementalConfig, Pca, Static, Summary, Telemetry, TickHz, Ticks,
};
use firmware::workload::{Pattern, Workload};
use firmware::{Environment, MigrationConfig, Observer, Outcome, RoundLog, migrate, workspace_words};

use sim::{HostClock, SimLink, VmPort};

const PAGE_BYTES: u64 = 4096;
/// The busy workload's nominal write rate: 50 MB/s of 4 KiB pages.
const WRITES_PER_SEC: u64 = 50_000_000 / PAGE_BYTES;

/// What the command line asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// VM memory in MiB.
    pub memory_mib: u64,
    /// The policy's name.
    pub policy: String,
    /// The workload.
    pub workload: Pattern,
    /// The link's capacity in Mbit/s.
    pub link_mbit: u64,
    /// Pace on the machine's clock instead of a simulated one.
    pub real_time: bool,
    /// Drop every copy of one page, so that verification fails.
    pub lose_page: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            memory_mib: 256,
            policy: "bda".into(),
            workload: Pattern::Busy,
            link_mbit: 1_000,
            real_time: false,
            lose_page: false,
        }
    }
}

const USAGE: &str = "usage: firmware [MEMORY_MIB] [--policy bda|bda-plus|pca|incremental|static] \
[--workload idle|busy|bursty] [--link-mbit N] [--real-time] [--lose-page]
(the host holds the VM and its copy: twice MEMORY_MIB of RAM)";

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options::default();
    let mut args = args.iter();
    let mut positional = false;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--policy" => {
                let name = value("--policy")?;
                policy(&name).ok_or_else(|| format!("unknown policy {name:?}"))?;
                options.policy = name;
            }
            "--workload" => {
                let name = value("--workload")?;
                options.workload = Pattern::from_name(&name).ok_or_else(|| format!("unknown workload {name:?}"))?;
            }
            "--link-mbit" => {
                let text = value("--link-mbit")?;
                options.link_mbit = positive(&text).ok_or_else(|| format!("bad link rate {text:?}"))?;
            }
            "--real-time" => options.real_time = true,
            "--lose-page" => options.lose_page = true,
            "-h" | "--help" => return Err(String::new()),
            text if !positional && !text.starts_with('-') => {
                positional = true;
                // Memory stays addressable as bytes in a u64 and as a Vec on the host.
                options.memory_mib = positive(text)
                    .filter(|&mib| mib <= 1 << 20)
                    .ok_or_else(|| format!("memory must be 1 to 1048576 MiB, not {text:?}"))?;
            }
            text => return Err(format!("unexpected argument {text:?}")),
        }
    }
    Ok(options)
}

fn positive(text: &str) -> Option<u64> {
    text.parse().ok().filter(|&n| n > 0)
}

/// The policy named `name`.
pub fn policy(name: &str) -> Option<AnyPolicy> {
    match name {
        "bda" => Some(AnyPolicy::bda()),
        // The convergence guard at rho_max = 1/2; the reserve goes when it cannot be met.
        "bda-plus" => Some(AnyPolicy::BdaPlus(BdaPlus::default())),
        "pca" => Some(AnyPolicy::Pca(Pca)),
        "incremental" => AnyPolicy::incremental(IncrementalConfig::default()).ok(),
        "static" => Some(AnyPolicy::Static(Static::QEMU_DEFAULT)),
        _ => None,
    }
}

/// A simulated (or real-time) environment for a VM of `pages` pages.
pub type HostEnvironment<T = VmPort> = Environment<HostClock, HostClock, T, SimLink, VmPort>;

/// The environment of `options` for a VM of `pages` pages, or why the machine cannot hold it.
pub fn environment(options: &Options, pages: usize) -> Result<HostEnvironment, TryReserveError> {
    let clock = if options.real_time { HostClock::real() } else { HostClock::simulated() };
    let pages_u64 = u64::try_from(pages).unwrap_or(u64::MAX);
    let workload = Workload::new(options.workload, pages_u64, pages_u64 / 4, WRITES_PER_SEC);
    // Page 5 (or the last page of a smaller VM) goes missing with --lose-page.
    let lose_page = options.lose_page.then(|| 5.min(pages_u64.saturating_sub(1)));
    let vm = VmPort::new(pages, 4096, workload, clock.clone(), lose_page)?;
    let link = SimLink { capacity: BytesPerSec::from_mbit_per_sec(options.link_mbit), tick_hz: TickHz::NANOS };
    Ok(Environment { clock: clock.clone(), delay: clock, transfer: vm.clone(), link, dirty_log: vm })
}

/// Runs the host binary.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse(&args) {
        Ok(options) => options,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("firmware: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let Some(policy) = policy(&options.policy) else {
        eprintln!("firmware: unknown policy {:?}", options.policy);
        return ExitCode::from(2);
    };
    let memory = Bytes(options.memory_mib << 20);
    let Ok(pages) = usize::try_from(memory.0 / PAGE_BYTES) else {
        eprintln!("firmware: {} MiB does not fit this machine's address space", options.memory_mib);
        return ExitCode::from(2);
    };
    let config = MigrationConfig::new(memory, TickHz::NANOS);
    let mut workspace = vec![0; workspace_words(pages)];
    let mut env = match environment(&options, pages) {
        Ok(env) => env,
        Err(error) => {
            eprintln!("firmware: cannot hold a {} MiB VM and its copy in memory: {error}", options.memory_mib);
            return ExitCode::FAILURE;
        }
    };
    println!(
        "bda firmware loop on the host: {} MiB VM ({pages} pages), workload {}, policy {}, link {} Mbit/s, {} clock",
        options.memory_mib,
        options.workload.name(),
        options.policy,
        options.link_mbit,
        if options.real_time { "real-time" } else { "simulated" },
    );
    let mut table = Table::default();
    table.header();
    match migrate(&config, policy, &mut workspace, &mut env, &mut table) {
        Ok(Outcome { pages_verified, .. }) => {
            println!("verified: the destination matches the source in all {pages_verified} pages");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("firmware: migration failed: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Prints one line per round and the summary.
#[derive(Debug, Default)]
pub struct Table {
    /// Every round's log, in order.
    pub rounds: Vec<RoundLog>,
}

fn mbit(rate: BytesPerSec) -> f64 {
    rate.0 as f64 * 8.0 / 1e6
}

fn millis(ticks: Ticks) -> f64 {
    ticks.0 as f64 / 1e6
}

impl Table {
    fn header(&self) {
        println!(
            "{:>5} {:<11} {:<16} {:>7} {:>8} {:>7} {:>9} {:>8} {:>6} {:>6} {:>8} {:>7} {:>8}",
            "round",
            "kind",
            "rule",
            "free",
            "reserved",
            "rate",
            "allocated",
            "achieved",
            "diff",
            "sent",
            "deferred",
            "dirtied",
            "time"
        );
        println!(
            "{:>5} {:<11} {:<16} {:>7} {:>8} {:>7} {:>9} {:>8} {:>6} {:>6} {:>8} {:>7} {:>8}",
            "", "", "", "Mbit/s", "Mbit/s", "Mbit/s", "Mbit/s", "Mbit/s", "%", "pages", "pages", "pages", "ms"
        );
    }
}

impl Observer for Table {
    fn round(&mut self, log: &RoundLog) {
        let allocated = log.allocated_rate(TickHz::NANOS);
        let achieved = log.achieved_rate(TickHz::NANOS);
        let diff = if allocated.0 == 0 { 0.0 } else { (achieved.0 as f64 / allocated.0 as f64 - 1.0) * 100.0 };
        let a = &log.allocation;
        println!(
            "{:>5} {:<11} {:<16} {:>7.1} {:>8.1} {:>7.1} {:>9.1} {:>8.1} {:>+6.2} {:>6} {:>8} {:>7} {:>8.1}",
            log.verdict.round,
            format!("{:?}", log.kind),
            format!("{:?}", a.rule),
            mbit(a.free),
            mbit(a.reserved),
            mbit(a.migration),
            mbit(allocated),
            mbit(achieved),
            diff,
            log.pages_sent,
            log.pages_deferred,
            log.pages_dirtied,
            millis(log.elapsed),
        );
        if let Some(guard) = a.guard.filter(|g| g.unmet.is_some()) {
            println!(
                "      guard: {:?} needs {:.1} Mbit/s, more than the free {:.1} ({:?})",
                guard.guard,
                mbit(guard.needed),
                mbit(a.free),
                guard.unmet.unwrap_or_default(),
            );
        }
        if log.verdict.events.non_convergence {
            println!("      event: not converging (dirty rate at or above the migration rate)");
        }
        if log.retries > 0 {
            println!("      {} transfer attempts failed and were retried", log.retries);
        }
        self.rounds.push(*log);
    }

    fn complete(&mut self, summary: &Summary, telemetry: &Telemetry) {
        println!(
            "done: {} rounds, {:.1} MiB sent, total {:.3} s, downtime {:.1} ms (stop-and-copy after: {:?}); \
             clamps: {} cut to free, {} floor; BDA+ guards: {} took from the reserve, {} unmet",
            summary.rounds,
            summary.sent.0 as f64 / f64::from(1 << 20),
            millis(summary.total_time) / 1e3,
            millis(summary.downtime),
            summary.stop_reason,
            telemetry.cut_to_free,
            telemetry.floor_applied,
            telemetry.guard_took_reserve,
            telemetry.guard_unmet,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bda_core::{RoundKind, StopReason};
    use firmware::io::FaultInjector;
    use firmware::io::InjectedError;
    use firmware::{ConfigError, Error};

    type HostError = sim::VmTransferError;

    fn options(memory_mib: u64) -> Options {
        Options { memory_mib, ..Options::default() }
    }

    fn run(options: &Options) -> (Result<Outcome, Error<HostError>>, Table) {
        let pages = usize::try_from((options.memory_mib << 20) / PAGE_BYTES).unwrap();
        let config = MigrationConfig::new(Bytes(options.memory_mib << 20), TickHz::NANOS);
        let mut workspace = vec![0; workspace_words(pages)];
        let mut env = environment(options, pages).unwrap();
        let mut table = Table::default();
        let result = migrate(&config, policy(&options.policy).unwrap(), &mut workspace, &mut env, &mut table);
        (result, table)
    }

    /// DESIGN.md section 8: on the simulated clock every round sends what the allocated rate
    /// allows, within the pacer's bound (burst of two pages plus one page), and a round long
    /// enough for that bound to be under 1 % achieves its allocated rate within 1 %.
    #[test]
    fn every_round_achieves_its_allocated_rate() {
        let bound = 3 * PAGE_BYTES;
        for policy in ["bda", "bda-plus", "pca", "incremental", "static"] {
            for workload in Pattern::ALL {
                let options = Options { policy: policy.into(), workload, ..options(32) };
                let (result, table) = run(&options);
                let outcome = result.unwrap_or_else(|e| panic!("{policy} {workload:?}: {e}"));
                assert_eq!(outcome.pages_verified, 32 * 256);
                assert_eq!(table.rounds.first().unwrap().pages_sent, 32 * 256);
                assert_eq!(table.rounds.last().unwrap().kind, RoundKind::StopAndCopy);
                for log in &table.rounds {
                    assert!(log.pace_error() <= bound, "{policy} {workload:?} round {:?}", log);
                    if log.sent.0 >= 100 * bound {
                        let (sent, allowed) = (log.sent.0 as f64, log.allocated.0 as f64);
                        assert!((sent / allowed - 1.0).abs() <= 0.01, "{policy} {workload:?}: {log:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_busy_guest_is_migrated_over_several_rounds_with_reassessment() {
        let options = Options { link_mbit: 500, ..options(64) };
        let (result, table) = run(&options);
        let outcome = result.unwrap();
        assert!(outcome.summary.rounds >= 3, "{:?}", outcome.summary);
        assert!(table.rounds.iter().any(|r| r.reassessments > 0));
        assert!(table.rounds.iter().any(|r| r.pages_deferred > 0), "the predictor held hot pages back");
        assert!(table.rounds.iter().skip(1).all(|r| r.pages_dirtied > 0 || r.kind == RoundKind::StopAndCopy));
        let sent: u64 = table.rounds.iter().map(|r| r.sent.0).sum();
        assert_eq!(outcome.summary.sent.0, sent);
        // Simulated runs are reproducible to the tick.
        assert_eq!(run(&options).0.unwrap(), outcome);
    }

    #[test]
    fn a_lost_page_fails_the_migration() {
        let (result, _) = run(&Options { lose_page: true, ..options(8) });
        assert_eq!(result, Err(Error::PagesLost { pages: 1, first: 5 }));
    }

    fn run_faulty(fail_every: u32, stall_after: u32) -> (Result<Outcome, Error<InjectedError<HostError>>>, Table) {
        let options = options(4);
        let pages = 1024;
        let config = MigrationConfig::new(Bytes(4 << 20), TickHz::NANOS);
        let mut workspace = vec![0; workspace_words(pages)];
        let env = environment(&options, pages).unwrap();
        let mut env = Environment {
            clock: env.clock,
            delay: env.delay,
            transfer: FaultInjector::new(env.transfer, fail_every, stall_after),
            link: env.link,
            dirty_log: env.dirty_log,
        };
        let mut table = Table::default();
        let result = migrate(&config, AnyPolicy::bda(), &mut workspace, &mut env, &mut table);
        (result, table)
    }

    #[test]
    fn failed_attempts_are_retried() {
        let (result, table) = run_faulty(4, 0);
        assert_eq!(result.unwrap().pages_verified, 1024);
        let retries: u32 = table.rounds.iter().map(|r| r.retries).sum();
        assert!(retries >= 256, "{retries} retries");
    }

    #[test]
    fn a_page_that_fails_every_attempt_fails_the_migration() {
        let (result, _) = run_faulty(1, 0);
        assert_eq!(result, Err(Error::Transfer { page: 0, error: InjectedError::Injected }));
    }

    #[test]
    fn a_stalled_transfer_times_out() {
        let (result, table) = run_faulty(0, 100);
        assert_eq!(result, Err(Error::TransferTimedOut { page: 99 }));
        assert!(table.rounds.is_empty());
    }

    #[test]
    fn a_link_without_room_stalls_instead_of_hanging() {
        // Static's cap sits above a 1 Mbit/s link's free bandwidth, which the other traffic
        // (20 %) leaves at 0.8 Mbit/s: that still moves. PCA on a link with no capacity left
        // allocates zero, and the controller's stall event ends the run.
        let options = Options { link_mbit: 1, policy: "pca".into(), ..options(1) };
        let pages = 256;
        let config = MigrationConfig::new(Bytes(1 << 20), TickHz::NANOS);
        let mut workspace = vec![0; workspace_words(pages)];
        let mut env = environment(&options, pages).unwrap();
        env.link.capacity = BytesPerSec::ZERO;
        let result = migrate(&config, policy("pca").unwrap(), &mut workspace, &mut env, &mut ());
        assert_eq!(result, Err(Error::Stalled { round: 1 }));
    }

    #[test]
    fn bad_setups_are_refused() {
        let options = options(1);
        let mut env = environment(&options, 256).unwrap();
        let config = MigrationConfig::new(Bytes(1 << 20), TickHz::NANOS);
        let mut short = vec![0; 10];
        let result = migrate(&config, AnyPolicy::bda(), &mut short, &mut env, &mut ());
        // 4 words per bitmap: three bitmaps and the predictor's 8 + 2 planes.
        assert_eq!(result, Err(Error::Config(ConfigError::WorkspaceTooSmall { needed: 4 * 3 + 4 * 10 })));

        let mut workspace = vec![0; workspace_words(256)];
        let micros = MigrationConfig::new(Bytes(1 << 20), TickHz::MICROS);
        let result = migrate(&micros, AnyPolicy::bda(), &mut workspace, &mut env, &mut ());
        assert_eq!(result, Err(Error::Config(ConfigError::ClockMismatch)));

        let ragged = MigrationConfig::new(Bytes((1 << 20) + 1), TickHz::NANOS);
        let result = migrate(&ragged, AnyPolicy::bda(), &mut workspace, &mut env, &mut ());
        assert_eq!(result, Err(Error::Config(ConfigError::MemoryNotWholePages)));

        let mut no_attempts = config;
        no_attempts.max_attempts = 0;
        let result = migrate(&no_attempts, AnyPolicy::bda(), &mut workspace, &mut env, &mut ());
        assert_eq!(result, Err(Error::Config(ConfigError::MaxAttemptsZero)));

        let mut zero_rounds = config;
        zero_rounds.controller.stop.max_rounds = 1;
        let result = migrate(&zero_rounds, AnyPolicy::bda(), &mut workspace, &mut env, &mut ());
        assert!(matches!(result, Err(Error::Config(ConfigError::Controller(_)))));
    }

    #[test]
    fn bda_plus_takes_from_the_reserve_where_bda_keeps_the_rate_near_the_dirty_rate() {
        // The busy guest (50 MB/s) on a 500 Mbit/s link: BDA reserves about the dirty rate, so
        // the migration runs little faster than the guest dirties; BDA+'s convergence guard
        // wants twice the dirty rate and takes it from the reserve.
        let (bda, _) = run(&Options { link_mbit: 500, ..options(64) });
        let (plus, table) = run(&Options { link_mbit: 500, policy: "bda-plus".into(), ..options(64) });
        let (bda, plus) = (bda.unwrap(), plus.unwrap());
        assert_eq!((bda.telemetry.guard_took_reserve, bda.telemetry.guard_unmet), (0, 0));
        assert!(plus.telemetry.guard_took_reserve > 0);
        assert!(table.rounds.iter().any(|r| r.allocation.rule == bda_core::Rule::ConvergenceGuard));
        assert!(plus.summary.total_time < bda.summary.total_time, "{:?} vs {:?}", plus.summary, bda.summary);
    }

    #[test]
    fn a_limit_ends_a_migration_that_does_not_converge() {
        // 50 MB/s of writes over a 300 Mbit/s link: pre-copy cannot catch up.
        let options = Options { link_mbit: 300, ..options(64) };
        let (result, table) = run(&options);
        let outcome = result.unwrap();
        assert!(matches!(outcome.summary.stop_reason, StopReason::SentLimit | StopReason::RoundCap));
        assert!(table.rounds.iter().any(|r| r.verdict.events.non_convergence));
    }

    #[test]
    fn command_lines() {
        let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert_eq!(parse(&[]), Ok(Options::default()));
        let parsed = parse(&args("64 --policy pca --workload bursty --link-mbit 100 --lose-page")).unwrap();
        assert_eq!(
            parsed,
            Options {
                memory_mib: 64,
                policy: "pca".into(),
                workload: Pattern::Bursty,
                link_mbit: 100,
                real_time: false,
                lose_page: true
            }
        );
        assert_eq!(parse(&args("--policy bda-plus")).map(|o| o.policy), Ok("bda-plus".into()));
        for bad in ["0", "-5", "64 64", "--policy", "--policy fast", "--workload x", "--link-mbit 0", "2000000", "x"] {
            assert!(parse(&args(bad)).is_err(), "{bad}");
        }
        assert_eq!(parse(&args("--help")), Err(String::new()));
    }
}
