//! # bda-core: bandwidth for pre-copy live migration, round by round
//!
//! Pre-copy live migration moves a running virtual machine's memory to another host in
//! rounds: round 1 sends every page, each later round re-sends the pages the guest dirtied
//! while the previous round was on the wire, and when what is left is small enough the VM is
//! paused and the rest is sent (stop-and-copy). The migration shares its link with the
//! guest's own service traffic and with everything else on the host. This crate decides how
//! much of that link each round may use — Bandwidth Dynamic Assignment (BDA), and the
//! classic policies it is compared with — and paces the page transfers at that rate.
//!
//! It is written for three kinds of users: hypervisors that link it (through the C API of
//! `bda-ffi`), SmartNIC or DPU firmware that runs it on a small core, and engineers who check
//! its properties on a host. So it is `#![no_std]`, allocates nothing, cannot panic, and
//! uses only integer and fixed-point arithmetic.
//!
//! ## The data path, module by module
//!
//! 1. [`units`] — the quantities: [`BytesPerSec`], [`Bytes`], [`Pages`], [`PageSize`],
//!    [`Ticks`] of the caller's clock at [`TickHz`], and the fraction [`Share`]. Rates are
//!    `u64` bytes per second everywhere (400 Gbit/s is `5e10`, far inside the range).
//! 2. [`history`] — the per-round dirty rates with an exact running mean, over the whole
//!    migration ([`FullHistory`]) or a bounded window ([`WindowHistory`]): what a policy may
//!    know of the past ([`DirtyRates`]).
//! 3. [`policy`] — per round, the division of the free bandwidth `F` between the migration
//!    (`E`) and the guest's service (`B`): [`Bda`], [`BdaPlus`] (BDA with guards that keep
//!    the migration converging and on time), and the baselines [`Pca`],
//!    [`Incremental`] (Xen 2.0) and [`Static`] (QEMU's `max-bandwidth`).
//!    [`link_filter`] conditions the link readings first: `U_used` smoothed, and a reserve
//!    learned from the VM's measured service traffic ([`LinkFilter`]).
//! 4. [`controller`] — the pre-copy state machine: rounds, the stop-and-copy decision, the
//!    non-convergence and stall events ([`Controller`]).
//! 5. [`predictor`] — PPC: which dirty pages to hold back because they will likely be
//!    dirtied again ([`Predictor`]), over caller-provided bitmaps.
//! 6. [`pacer`] — when the next page may go at the allocated rate ([`Pacer`]).
//! 7. [`error`] and [`telemetry`] — what can be refused, and what was clamped.
//!
//! ## BDA in one paragraph
//!
//! With `T` the link capacity, `U_used` the traffic that is not this VM's, `F = T - U_used`,
//! `U` the dirty rate of the last round and `D` the mean of the rounds before it: round 1
//! gets `E = min(E_init, F)`; the stop-and-copy round gets `E = F`; any other round reserves
//! `B = (U^2 + D^2)/(U + D)` for the guest (the paper's equation 4, `a*U + b*D` with
//! `a = U/(U+D)`, `b = D/(U+D)`) and, when that exceeds `F`, `B = F/(1 + c)` with
//! `c = r(k-1)/r(k-2)` (equation 5); then `E = F - B`, raised to a floor of 5 % of `T` so a
//! migration never stops moving. [`Bda`] has the precise rules and their rounding.
//!
//! ## Guarantees
//!
//! - **No panics, no wrap-around.** Production code denies `unwrap`, `expect`, `panic!`,
//!   indexing and unchecked arithmetic (clippy); every operation is checked or saturating.
//!   Out-of-range inputs are clamped *and counted* ([`Telemetry`], [`Clamps`]).
//! - **Exact where it matters.** Policy arithmetic is exact integer arithmetic in `u128`;
//!   each result states its rounding (BDA's reserve is within 2 B/s of the exact rational
//!   value). The pacer keeps its schedule as whole ticks plus an exact remainder, so it never
//!   drifts.
//! - **Invariants** checked by property tests over the whole input range: `E <= F`,
//!   `E + B == F`; the controller ends within its round cap; the predictor loses no page and
//!   defers none more than `K` rounds in a row; the pacer never releases more than
//!   `integral of rate + burst`.
//! - **The caller owns time and memory.** Every call that needs the time takes `now`;
//!   nothing reads a clock, nothing allocates.
//!
//! ## Example: a short migration
//!
//! ```
//! use bda_core::{AnyPolicy, Bytes, BytesPerSec, Controller, ControllerConfig, LinkSample,
//!                Next, Pacer, PacerConfig, Release, RoundReport, TickHz, Ticks};
//!
//! // A 16 MiB VM on a 100 Mbit/s link that carries 20 Mbit/s of other traffic; the guest
//! // dirties 1 MB/s. Time in milliseconds.
//! let memory = Bytes(16 << 20);
//! let hz = TickHz::MILLIS;
//! let link = LinkSample::new(BytesPerSec::from_mbit_per_sec(100), BytesPerSec::from_mbit_per_sec(20));
//! let mut controller: Controller<AnyPolicy> =
//!     Controller::new(ControllerConfig::new(memory, hz), AnyPolicy::bda()).unwrap();
//! let mut pacer = Pacer::new(PacerConfig::new(hz, 4096), BytesPerSec::ZERO, Ticks(0)).unwrap();
//!
//! let mut now = Ticks(0);
//! let mut pages_to_send = memory.0 / 4096;
//! loop {
//!     let plan = controller.begin_round(link, now).unwrap();
//!     pacer.set_rate(plan.allocation.migration, now);
//!     let start = now;
//!     // Send the round's pages, each when the pacer lets it go.
//!     for _ in 0..pages_to_send {
//!         loop {
//!             match pacer.try_release(now) {
//!                 Release::Now => break,
//!                 Release::NotBefore(tick) => now = tick,
//!                 Release::Blocked => unreachable!("the floor keeps the rate above zero"),
//!             }
//!         }
//!     }
//!     let elapsed_ms = now.0 - start.0;
//!     let dirtied_pages = (1_000 * elapsed_ms / 4096).min(memory.0 / 4096);
//!     let report = RoundReport {
//!         sent: Bytes(pages_to_send * 4096),
//!         dirtied: Bytes(dirtied_pages * 4096),
//!         remaining: Bytes(dirtied_pages * 4096),
//!     };
//!     let verdict = controller.end_round(report, now).unwrap();
//!     println!("round {}: {:?} at {}, next {:?}", verdict.round, plan.allocation.rule,
//!              plan.allocation.migration, verdict.next);
//!     if verdict.next == Next::Complete {
//!         break;
//!     }
//!     pages_to_send = dirtied_pages;
//! }
//! let summary = controller.summary().unwrap();
//! assert!(summary.rounds >= 2 && summary.rounds <= 30);
//! ```
//!
//! ## Features
//!
//! - `defmt`: derives (or implements) `defmt::Format` for every public type, and enables
//!   the same feature of `heapless` and `fixed`. Off by default; the library never picks a
//!   logger or a panic handler.

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// The panic-freedom lints are set in the workspace's Cargo.toml and checked on the library
// as built for users; unit tests may compute expected values with plain arithmetic.
#![cfg_attr(test, allow(clippy::arithmetic_side_effects))]

pub mod controller;
pub mod error;
pub mod history;
pub mod link_filter;
pub mod pacer;
pub mod policy;
pub mod predictor;
pub mod telemetry;
pub mod units;
mod wide;

pub use controller::{
    Controller, ControllerConfig, Events, Next, RoundPlan, RoundReport, RoundVerdict, StopConditions, StopReason,
    Summary,
};
pub use error::{
    BdaPlusConfigError, ControllerConfigError, ControllerError, IncrementalConfigError, PacerConfigError,
    PredictorConfigError, PredictorError,
};
pub use history::{DirtyRates, FullHistory, RateHistory, WindowHistory};
pub use link_filter::{LinkFilter, LinkFilterConfig};
pub use pacer::{Pacer, PacerConfig, Release};
pub use policy::{
    Allocation, AnyPolicy, Bda, BdaConfig, BdaPlus, BdaPlusConfig, Clamps, Coefficients, Delivery, Guard, GuardReport,
    Incremental, IncrementalConfig, LinkSample, Pca, Policy, ReserveSource, RoundContext, RoundKind, Rule, Static,
    UnmetAction,
};
pub use predictor::{Predictor, PredictorConfig, PredictorPlan, PredictorRound};
pub use telemetry::Telemetry;
pub use units::{Bytes, BytesPerSec, PageSize, Pages, Share, TickHz, Ticks};
