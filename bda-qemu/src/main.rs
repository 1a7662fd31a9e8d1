//! The `bda-qemu` command: steers a QEMU live migration over QMP with a bda-core policy.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use bda_core::{AnyPolicy, BdaPlus, BdaPlusConfig, BytesPerSec, IncrementalConfig, Pca, Share, Static, UnmetAction};
use bda_qemu::run::{Format, Mode, Options, run};
use bda_qemu::steer::OnNonConvergence;
use bda_qemu::units::{parse_duration, parse_percent_ppm, parse_rate};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Steers a real, unpatched QEMU live migration over QMP: each pre-copy pass is a round whose
/// rate (QEMU's max-bandwidth) a bda-core policy decides from the pass's dirty rate and the
/// link's other traffic.
///
/// Exit status: 0 the migration completed; 1 a fault (no socket, a socket that is not QMP or
/// sends no greeting, a QMP error such as a VM that is not migratable, QEMU not answering
/// within 10 s, a missing interface, QEMU exiting or shutting down, the migration failing or
/// cancelled by someone else, interrupted); 2 bad usage;
/// 3 it did not converge within --max-time and was cancelled. On every exit bda-qemu
/// restores the max-bandwidth (and avail-switchover-bandwidth) it found.
#[derive(Parser)]
#[command(name = "bda-qemu", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a migration on the source QEMU and steer it.
    Migrate {
        /// The destination, as QEMU's migrate takes it: tcp:HOST:PORT.
        #[arg(long)]
        uri: String,
        #[command(flatten)]
        common: Common,
    },
    /// Steer the migration already running on the source QEMU (its events capability must
    /// have been on when it started). Rounds count from the first pass seen.
    Attach {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PolicyName {
    /// Bandwidth Dynamic Assignment.
    Bda,
    /// One fixed cap (--static-rate).
    Static,
    /// Xen 2.0's incremental rate limiting (100 Mbit/s, +50 Mbit/s, at most 500 Mbit/s).
    Incremental,
    /// Plain pre-copy: all free bandwidth.
    Pca,
    /// BDA+: BDA with the convergence guard (--rho-max), an optional deadline (--deadline)
    /// and a reserve learned from the service's traffic when --service-iface is given.
    BdaPlus,
}

/// What BDA+ does when the free bandwidth is below what a guard needs.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OnUnmet {
    /// Give the migration all free bandwidth (logged).
    TakeReserve,
    /// Keep the reserve (but for the deadline guard's drain) and log that the guest should be
    /// slowed.
    Log,
    /// Keep the reserve (but for the deadline guard's drain) and let QEMU's auto-converge
    /// slow the guest from the first unmet guard on (`migrate` turns the capability on before the migration, its throttle held
    /// at 1 % until then, as --on-non-convergence auto-converge does).
    AutoConverge,
    /// Cancel the migration, restoring the cap found.
    Cancel,
}

#[derive(Args)]
struct Common {
    /// QEMU's QMP socket (a Unix socket: -qmp unix:PATH,server=on,wait=off).
    #[arg(long)]
    qmp: PathBuf,
    /// The interface the migration leaves by; its tx byte counter measures the link.
    #[arg(long)]
    iface: String,
    /// The link's capacity, e.g. 100Mbit/s.
    #[arg(long, value_parser = parse_rate)]
    link_capacity: u64,
    /// The policy.
    #[arg(long, value_enum, default_value = "bda")]
    policy: PolicyName,
    /// The cap of --policy static.
    #[arg(long, value_parser = parse_rate, default_value = "128MiB/s")]
    static_rate: u64,
    /// BDA+: rho_max, the largest accepted ratio of dirty rate to migration rate, percent
    /// (0 turns the convergence guard off).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u8).range(0..=100))]
    rho_max: u8,
    /// BDA+: the migration's target total time, e.g. 120s (from its first pass).
    #[arg(long, value_parser = parse_duration)]
    deadline: Option<Duration>,
    /// BDA+: what to do when the free bandwidth is below what a guard needs.
    #[arg(long, value_enum, default_value = "take-reserve")]
    on_unmet: OnUnmet,
    /// The interface whose rx byte counter is the VM's own service traffic (its tap device;
    /// a tap receives what the VM sends). Without it, U_used includes the service.
    #[arg(long)]
    service_iface: Option<String>,
    /// The migration's TCP/IP header overhead on --iface, e.g. 4.6%. Default: from the MTU.
    #[arg(long, value_parser = parse_percent_ppm)]
    header_overhead: Option<u64>,
    /// The window U_used is measured over.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    window: Duration,
    /// How often the link is sampled and the round reassessed.
    #[arg(long, value_parser = parse_duration, default_value = "100ms")]
    interval: Duration,
    /// How long the link is measured before the migration starts (migrate only).
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    measure_before: Duration,
    /// Cancel the migration after this long and report "did not converge" (exit status 3).
    #[arg(long, value_parser = parse_duration)]
    max_time: Option<Duration>,
    /// What to do when the controller reports non-convergence (always logged).
    #[arg(long, value_enum, default_value = "log")]
    on_non_convergence: OnNonConvergence,
    /// Output: a table, or one JSON object a line.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Write a transcript (QMP lines, observations, actions) as JSON lines to this file.
    #[arg(long)]
    transcript: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (mode, common) = match cli.command {
        Command::Migrate { uri, common } => (Mode::Migrate(uri), common),
        Command::Attach { common } => (Mode::Attach, common),
    };
    let policy = match common.policy {
        PolicyName::Bda => AnyPolicy::bda(),
        PolicyName::Pca => AnyPolicy::Pca(Pca),
        PolicyName::Static => AnyPolicy::Static(Static::new(BytesPerSec(common.static_rate))),
        PolicyName::BdaPlus => {
            let deadline_us = common.deadline.map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
            if deadline_us == Some(0) {
                eprintln!("bda-qemu: --deadline must be above 0");
                return ExitCode::from(2);
            }
            let config = BdaPlusConfig {
                max_dirty_ratio: if common.rho_max == 0 { None } else { Share::from_percent(common.rho_max) },
                deadline_us,
                on_unmet: match common.on_unmet {
                    OnUnmet::TakeReserve => UnmetAction::TakeReserve,
                    OnUnmet::Log | OnUnmet::AutoConverge => UnmetAction::SlowGuest,
                    OnUnmet::Cancel => UnmetAction::Abort,
                },
                ..BdaPlusConfig::default()
            };
            match BdaPlus::new(config) {
                Ok(policy) => AnyPolicy::BdaPlus(policy),
                Err(e) => {
                    eprintln!("bda-qemu: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        PolicyName::Incremental => match AnyPolicy::incremental(IncrementalConfig::default()) {
            Ok(policy) => policy,
            Err(e) => {
                eprintln!("bda-qemu: {e:?}");
                return ExitCode::from(2);
            }
        },
    };
    if common.link_capacity == 0 {
        eprintln!("bda-qemu: --link-capacity must be above 0");
        return ExitCode::from(2);
    }
    let options = Options {
        qmp: common.qmp,
        mode,
        iface: common.iface,
        service_iface: common.service_iface,
        capacity: BytesPerSec(common.link_capacity),
        policy,
        header_overhead_ppm: common.header_overhead,
        window: common.window,
        interval: common.interval.max(Duration::from_millis(10)),
        measure_before: common.measure_before,
        max_time: common.max_time,
        on_non_convergence: common.on_non_convergence,
        throttle_on_unmet: common.policy == PolicyName::BdaPlus && common.on_unmet == OnUnmet::AutoConverge,
        format: common.format,
        transcript: common.transcript,
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(signal, Arc::clone(&interrupted)) {
            eprintln!("bda-qemu: cannot handle signal {signal}: {e}");
            return ExitCode::FAILURE;
        }
    }
    let mut stdout = std::io::stdout();
    match run(&options, &mut stdout, &interrupted) {
        Ok(summary) if summary.outcome == "did-not-converge" => ExitCode::from(3),
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bda-qemu: error: {e}");
            ExitCode::FAILURE
        }
    }
}
