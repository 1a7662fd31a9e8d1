//! # firmware: a migration loop that paces DMA page transfers with bda
//!
//! This crate is the example a SmartNIC or DPU firmware engineer copies from: a small loop
//! that migrates a VM's memory page by page, with [`bda_core`] deciding each round's rate
//! and pacing every transfer. It is `no_std`, allocates nothing and cannot panic; it runs on
//! an emulated Cortex-M4 (QEMU's `mps2-an386`, in `src/main.rs`'s `mps2` module) and on the
//! host (`cargo run -p firmware`, the `host` module), over the same code.
//!
//! ## What a board provides ([`io`])
//!
//! - a [`Clock`](io::Clock): a `u64` tick counter (a board extends its 24- or 32-bit
//!   hardware counter, see [`ticks`]);
//! - embedded-hal 1.0's [`DelayNs`](embedded_hal::delay::DelayNs), to wait for the pacer;
//! - a [`PageTransfer`](io::PageTransfer): start one page's DMA, poll it (the ecosystem has
//!   no standard DMA trait, so this is the least one); and [`VerifyPage`](io::VerifyPage) to
//!   check the destination at the end;
//! - a [`LinkMonitor`](io::LinkMonitor): the link's capacity and its other traffic;
//! - a [`DirtyLog`](io::DirtyLog): the pages the guest wrote since the last read, and a way
//!   to pause the guest for stop-and-copy.
//!
//! ## What the loop does ([`migration`])
//!
//! Each round: sample the link, let the controller allocate the rate (BDA by default), then
//! for each page of the round wait on the pacer and transfer it, sampling the link again every
//! 100 ms; at the round's end read the dirty log, let the controller decide between another
//! round, stop-and-copy and done, and let the PPC predictor choose which dirty pages the next
//! round sends. At the end every page is verified; a lost page fails the migration.
//!
//! ## The guest ([`workload`])
//!
//! Both environments dirty pages with the same deterministic workloads (idle, busy, bursty).
//!
//! ## Features
//!
//! - `defmt`: derives `defmt::Format` for the public types (and bda-core's). The library
//!   never picks a logger or a panic handler; the board binary does.
//! - `lose-page`: for the board binary only, a "DMA" that drops every copy of one page, to
//!   prove that verification fails the run.

#![no_std]
#![deny(missing_docs)]
// Unit tests may compute expected values with plain arithmetic.
#![cfg_attr(test, allow(clippy::arithmetic_side_effects))]

pub mod io;
pub mod migration;
pub mod ticks;
pub mod workload;

pub use migration::{
    ConfigError, Environment, Error, MigrationConfig, Observer, Outcome, RoundLog, migrate, workspace_words,
};
