//! bda-qemu steers a real, unpatched QEMU live migration over QMP with bda-core's round
//! controller and policies.
//!
//! QEMU already exposes every knob BDA needs: a per-migration rate cap (`max-bandwidth`,
//! enforced per 100 ms window), an event at the start of every pre-copy pass
//! (`MIGRATION_PASS`, with the `events` capability on), what the last bitmap sync found
//! dirty (`query-migrate` → `ram.remaining` right after the event) and the bandwidth its
//! switchover estimate assumes (`avail-switchover-bandwidth`, QEMU ≥ 8.2). Each pass is a
//! round: bda-qemu measures the previous pass's dirty rate and the link's other traffic,
//! asks the controller for the round's rate, and sets the caps; every 100 ms or so it
//! reassesses the round under new link figures.
//!
//! The modules: [`qmp`] (the client), [`meter`] (`U_used` from byte counters), [`steer`]
//! (the round logic, free of I/O), [`run`] (the driver), [`transcript`], [`units`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod meter;
pub mod qmp;
pub mod run;
pub mod steer;
pub mod transcript;
pub mod units;
