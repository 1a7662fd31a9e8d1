//! A transcript of a steering run: one JSON object a line, each with `t_us` (wall clock, µs
//! since the Unix epoch) and one of `qmp_in` (a line from QEMU), `qmp_out` (a command sent),
//! `input` (an observation given to the round logic) or `actions` (what it answered).
//! Replaying the `input` lines through [`Steering`](crate::steer::Steering) must give the
//! `actions` lines again; the crate's tests do that with a recorded run.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::steer::{Action, Input, SteeringConfig};

/// Microseconds since the Unix epoch on the wall clock, the clock of QEMU's event timestamps.
pub fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// A transcript being written.
pub struct Transcript {
    out: BufWriter<File>,
}

impl Transcript {
    /// Creates (or truncates) the transcript file at `path`.
    pub fn create(path: &Path) -> Result<Self, String> {
        let file = File::create(path).map_err(|e| format!("cannot create the transcript {}: {e}", path.display()))?;
        Ok(Self { out: BufWriter::new(file) })
    }

    fn record(&mut self, key: &str, value: Value) {
        // A transcript that cannot be written must not stop a migration: errors are dropped.
        let _ = writeln!(self.out, "{}", json!({ "t_us": now_us(), key: value }));
        let _ = self.out.flush();
    }

    /// The round logic's settings (the policy by its debug name).
    pub fn config(&mut self, config: &SteeringConfig) {
        self.record(
            "config",
            json!({
                "capacity": config.capacity.0,
                "memory": config.memory.0,
                "policy": format!("{:?}", config.policy),
                "window_us": config.window_us,
                "header_overhead_ppm": config.header_overhead_ppm,
                "on_non_convergence": config.on_non_convergence,
                "throttle_on_unmet": config.throttle_on_unmet,
            }),
        );
    }

    /// A line QEMU sent.
    pub fn qmp_in(&mut self, value: &Value) {
        self.record("qmp_in", value.clone());
    }

    /// A command sent to QEMU.
    pub fn qmp_out(&mut self, value: &Value) {
        self.record("qmp_out", value.clone());
    }

    /// An observation given to the round logic.
    pub fn input(&mut self, input: &Input) {
        self.record("input", serde_json::to_value(input).unwrap_or(Value::Null));
    }

    /// What the round logic answered.
    pub fn actions(&mut self, actions: &[Action]) {
        self.record("actions", serde_json::to_value(actions).unwrap_or(Value::Null));
    }
}
