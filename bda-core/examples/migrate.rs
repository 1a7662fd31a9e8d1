//! A synthetic live migration through the whole kernel: controller, policy, PPC predictor
//! and pacer, on a simulated clock, with one line per round.
//!
//! ```text
//! cargo run --release -p bda-core --example migrate -- [bda|pca|incremental|static] [MEMORY_MIB]
//! ```
//!
//! The VM (default 256 MiB of 4 KiB pages) runs a workload that writes 50 MB/s, 90 % of it
//! into a 64 MiB hot set. The link is 1 Gbit/s; other traffic runs at 200 Mbit/s with a
//! 600 Mbit/s burst for one second in every three. The migration reassesses the link every
//! 100 ms, paces every page, and at the end checks page by page that the destination holds
//! exactly the source's memory.

// A host program: the no-panic and no-wrap lints guard the library, not this demo.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::as_conversions,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::process::ExitCode;

use bda_core::{
    AnyPolicy, Bytes, BytesPerSec, Controller, ControllerConfig, IncrementalConfig, LinkSample, Next, Pacer,
    PacerConfig, PageSize, Predictor, PredictorConfig, PredictorRound, Release, RoundKind, RoundReport, Static, TickHz,
    Ticks,
};

const PAGE: u64 = 4096;
const HZ: TickHz = TickHz::MICROS;
const REASSESS_EVERY: u64 = 100_000; // 100 ms in microseconds
const WRITES_PER_SEC: u64 = 50_000_000 / PAGE;
const HOT_PAGES: u64 = (64 << 20) / PAGE;

/// The link at time `now`: 1 Gbit/s, 200 Mbit/s of other traffic, 600 Mbit/s one second in three.
fn link(now: Ticks) -> LinkSample {
    let second = now.0 / 1_000_000;
    let other = if second % 3 == 2 { 600 } else { 200 };
    LinkSample::new(BytesPerSec::from_mbit_per_sec(1_000), BytesPerSec::from_mbit_per_sec(other))
}

/// A small deterministic generator (xorshift64*), enough to pick pages.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// The guest's memory as page versions, and the pages written since the last bitmap read.
struct Guest {
    versions: Vec<u32>,
    dirty: Vec<u64>,
    rng: Rng,
}

impl Guest {
    /// The guest writes for `elapsed_us` microseconds.
    fn run(&mut self, elapsed_us: u64) {
        let pages = self.versions.len() as u64;
        for _ in 0..WRITES_PER_SEC * elapsed_us / 1_000_000 {
            let page =
                if self.rng.below(10) < 9 { self.rng.below(HOT_PAGES.min(pages)) } else { self.rng.below(pages) };
            self.versions[page as usize] += 1;
            self.dirty[page as usize / 64] |= 1 << (page % 64);
        }
    }

    /// Reads and clears the dirty bitmap, as a hypervisor's dirty log does.
    fn take_dirty(&mut self) -> Vec<u64> {
        let fresh = vec![0; self.dirty.len()];
        std::mem::replace(&mut self.dirty, fresh)
    }
}

fn policy(name: &str) -> Option<AnyPolicy> {
    Some(match name {
        "bda" => AnyPolicy::bda(),
        "pca" => AnyPolicy::Pca(bda_core::Pca),
        "incremental" => AnyPolicy::incremental(IncrementalConfig::default()).ok()?,
        "static" => AnyPolicy::Static(Static::QEMU_DEFAULT),
        _ => return None,
    })
}

fn count(bitmap: &[u64]) -> u64 {
    bitmap.iter().map(|w| u64::from(w.count_ones())).sum()
}

fn mbit(rate: BytesPerSec) -> f64 {
    rate.0 as f64 * 8.0 / 1e6
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let policy_name = args.get(1).map_or("bda", String::as_str);
    let Some(policy) = policy(policy_name) else {
        eprintln!("unknown policy {policy_name:?}: use bda, pca, incremental or static");
        return ExitCode::FAILURE;
    };
    let memory_mib: u64 = match args.get(2).map(|s| s.parse()) {
        None => 256,
        Some(Ok(mib)) if mib > 0 => mib,
        Some(_) => {
            eprintln!("memory must be a positive number of MiB");
            return ExitCode::FAILURE;
        }
    };
    let pages = memory_mib * (1 << 20) / PAGE;
    let words = pages.div_ceil(64) as usize;

    let config = ControllerConfig { page_size: PageSize::KIB_4, ..ControllerConfig::new(Bytes(pages * PAGE), HZ) };
    let mut controller: Controller<AnyPolicy> = match Controller::new(config, policy) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut predictor = Predictor::new(PredictorConfig::default(), pages).expect("pages > 0");
    let mut predictor_storage = vec![0; predictor.storage_words()];
    predictor.init_storage(&mut predictor_storage).expect("sized by the predictor");
    let mut pacer = Pacer::new(PacerConfig::new(HZ, PAGE), BytesPerSec::ZERO, Ticks(0)).expect("valid pacer");

    let mut guest = Guest { versions: vec![0; pages as usize], dirty: vec![0; words], rng: Rng(0x9e37_79b9_7f4a_7c15) };
    let mut destination = vec![u32::MAX; pages as usize];
    let mut to_send = vec![u64::MAX; words]; // round 1: everything
    if !pages.is_multiple_of(64) {
        to_send[words - 1] = (1 << (pages % 64)) - 1;
    }
    let mut pending = vec![0_u64; words];
    let mut now = Ticks(0);

    println!("bda example migration: {memory_mib} MiB, policy {policy_name}, link 1000 Mbit/s");
    println!(
        "{:>5} {:<13} {:<11} {:>9} {:>9} {:>9} {:>8} {:>8} {:>9} {:>8}",
        "round", "kind", "rule", "free", "reserved", "rate", "sent", "deferred", "dirtyrate", "time"
    );
    println!(
        "{:>5} {:<13} {:<11} {:>9} {:>9} {:>9} {:>8} {:>8} {:>9} {:>8}",
        "", "", "", "Mbit/s", "Mbit/s", "Mbit/s", "pages", "pages", "Mbit/s", "ms"
    );
    loop {
        let mut plan = match controller.begin_round(link(now), now) {
            Ok(plan) => plan,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        let first_allocation = plan.allocation;
        pacer.set_rate(plan.allocation.migration, now);
        let start = now;
        let mut next_reassess = now.0 + REASSESS_EVERY;
        let mut sent = 0_u64;
        for (w, &word) in to_send.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let page = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                loop {
                    match pacer.try_release(now) {
                        Release::Now => break,
                        Release::NotBefore(at) => now = at.min(Ticks(next_reassess)),
                        Release::Blocked => now = Ticks(next_reassess),
                    }
                    if now.0 >= next_reassess {
                        plan = controller.reassess(link(now), now).expect("a round is in progress");
                        pacer.set_rate(plan.allocation.migration, now);
                        next_reassess += REASSESS_EVERY;
                    }
                }
                destination[page] = guest.versions[page];
                sent += 1;
            }
        }
        if plan.kind != RoundKind::StopAndCopy {
            guest.run(now.0 - start.0);
        }
        let dirty = guest.take_dirty();
        let dirtied = count(&dirty);
        let remaining: u64 = dirty.iter().zip(&pending).map(|(d, p)| u64::from((d | p).count_ones())).sum();
        let report = RoundReport {
            sent: Bytes(sent * PAGE),
            dirtied: Bytes(dirtied * PAGE),
            remaining: Bytes(remaining * PAGE),
        };
        let verdict = controller.end_round(report, now).expect("a round is in progress");
        let mut deferred = 0;
        if verdict.next != Next::Complete {
            let round =
                if verdict.next == Next::StopAndCopy { PredictorRound::StopAndCopy } else { PredictorRound::Live };
            let predicted =
                predictor.plan_round(&mut predictor_storage, &dirty, &mut to_send, round).expect("sized buffers");
            deferred = predicted.deferred.0;
            for ((p, d), s) in pending.iter_mut().zip(&dirty).zip(&to_send) {
                *p = (*p | d) & !s;
            }
        }
        println!(
            "{:>5} {:<13} {:<11} {:>9.1} {:>9.1} {:>9.1} {:>8} {:>8} {:>9.1} {:>8.0}",
            verdict.round,
            format!("{:?}", plan.kind),
            format!("{:?}", first_allocation.rule),
            mbit(first_allocation.free),
            mbit(first_allocation.reserved),
            mbit(first_allocation.migration),
            sent,
            deferred,
            mbit(verdict.dirty_rate),
            (now.0 - start.0) as f64 / 1e3,
        );
        if verdict.events.non_convergence {
            println!("      event: not converging (dirty rate at or above the migration rate)");
        }
        if let Some(reason) = verdict.stop_reason.filter(|_| verdict.next == Next::StopAndCopy) {
            println!("      next: stop-and-copy ({reason:?})");
        }
        if verdict.next == Next::Complete {
            break;
        }
    }
    let summary = controller.summary().expect("complete");
    let telemetry = controller.telemetry();
    println!(
        "done: {} rounds, {:.1} MiB sent, total {:.2} s, downtime {:.1} ms; clamps: {} cut to free, {} floor",
        summary.rounds,
        summary.sent.0 as f64 / (1 << 20) as f64,
        summary.total_time.0 as f64 / 1e6,
        summary.downtime.0 as f64 / 1e3,
        telemetry.cut_to_free,
        telemetry.floor_applied,
    );
    let mismatched = destination.iter().zip(&guest.versions).filter(|(d, s)| d != s).count();
    if mismatched == 0 {
        println!("destination matches source: all {pages} pages");
        ExitCode::SUCCESS
    } else {
        println!("destination differs from source in {mismatched} pages");
        ExitCode::FAILURE
    }
}
