//! # bda-sim: whole migrations, simulated
//!
//! A time-stepped simulator of pre-copy live migration around the very same bda-core
//! controller, policies and page predictor that the firmware and the C library run. It models
//! a VM's memory page by page, a guest workload that writes pages, and a link shared by the
//! migration, the guest's own service traffic and background traffic — and reports, for each
//! policy, how long migration takes, how long the VM is paused, and how much of its service
//! traffic it starves.
//!
//! The model, in the order data flows:
//! - [`workload`]: which pages the guest writes, how fast (presets and their assumptions);
//! - [`link`]: how the flows share the capacity, and what an overloaded link loses;
//! - [`scenario`]: everything a run needs but the policy and the seed;
//! - [`run`]: the step loop, and what a run reports;
//! - [`paper`] and [`tradeoff`]: the experiments, their tables and plots;
//! - [`qemu_report`]: the real-QEMU test bed's results beside the simulator's prediction.

pub mod bitmap;
pub mod link;
pub mod paper;
pub mod plot;
pub mod qemu_report;
pub mod report;
pub mod run;
pub mod scenario;
pub mod tradeoff;
pub mod units;
pub mod workload;
