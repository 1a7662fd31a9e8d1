//! The driver: talks to QEMU and the counters, feeds the round logic, applies its answers,
//! and restores the `max-bandwidth` (and `avail-switchover-bandwidth`) it found on every way
//! out, so a migration is never left throttled by a controller that is gone.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bda_core::{AnyPolicy, Bytes, BytesPerSec};
use qapi::qmp;
use serde::Serialize;

use crate::meter::{Counters, IfaceCounter, header_overhead_ppm, mtu};
use crate::qmp::{QmpClient, QmpError, QmpEvent};
use crate::steer::{Action, Input, OnNonConvergence, RoundLine, Snapshot, Steering, SteeringConfig};
use crate::transcript::{Transcript, now_us};

/// Start a migration, or steer one already running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `migrate` to this URI (`tcp:HOST:PORT`).
    Migrate(String),
    /// Steer the migration that is running.
    Attach,
}

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table for people.
    Text,
    /// One JSON object a line.
    Json,
}

/// Everything a run needs.
#[derive(Clone, Debug)]
pub struct Options {
    /// QEMU's QMP socket (a Unix socket).
    pub qmp: PathBuf,
    /// Start or attach.
    pub mode: Mode,
    /// The outgoing interface the migration leaves by.
    pub iface: String,
    /// The VM's own service traffic: this interface's `rx_bytes` (a VM's tap device receives
    /// what the VM sends).
    pub service_iface: Option<String>,
    /// `T`.
    pub capacity: BytesPerSec,
    /// The policy.
    pub policy: AnyPolicy,
    /// The migration's header overhead in ppm; `None`: from the interface's MTU.
    pub header_overhead_ppm: Option<u64>,
    /// The `U_used` window.
    pub window: Duration,
    /// How often the link is sampled and the round reassessed.
    pub interval: Duration,
    /// How long the link is measured before the migration starts (`migrate` only).
    pub measure_before: Duration,
    /// Cancel the migration after this long and report that it did not converge.
    pub max_time: Option<Duration>,
    /// The reaction to non-convergence.
    pub on_non_convergence: OnNonConvergence,
    /// BDA+: let QEMU's auto-converge slow the guest at the first unmet guard.
    pub throttle_on_unmet: bool,
    /// Output format.
    pub format: Format,
    /// Where to write a transcript.
    pub transcript: Option<PathBuf>,
}

impl Options {
    /// Whether QEMU's auto-converge may be asked to slow the guest: at the non-convergence
    /// event, or at BDA+'s first unmet guard.
    pub fn uses_auto_converge(&self) -> bool {
        self.on_non_convergence == OnNonConvergence::AutoConverge || self.throttle_on_unmet
    }
}

/// A finished migration, in QEMU's own figures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// `completed`, or `did-not-converge` when the wall-clock limit cancelled it.
    pub outcome: String,
    /// QEMU's `total-time`, ms.
    pub total_time_ms: Option<u64>,
    /// QEMU's `downtime`, ms.
    pub downtime_ms: Option<u64>,
    /// QEMU's `setup-time`, ms.
    pub setup_time_ms: Option<u64>,
    /// Rounds the controller ran (from the first pass it saw).
    pub rounds: u32,
    /// QEMU's `ram.dirty-sync-count`.
    pub passes: u64,
    /// QEMU's `ram.transferred`, bytes.
    pub transferred: u64,
}

/// Why a run ended badly. Every variant means a non-zero exit.
#[derive(Debug)]
pub enum RunError {
    /// Bad input: an interface that is not there, a transcript that cannot be written, ...
    Setup(String),
    /// Talking to QEMU failed.
    Qmp(QmpError),
    /// The migration failed or was cancelled, or QEMU is shutting down.
    Migration(String),
    /// The round logic refused an observation.
    Steering(String),
    /// SIGINT or SIGTERM.
    Interrupted,
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Setup(m) | Self::Migration(m) => f.write_str(m),
            Self::Qmp(e) => write!(f, "{e}"),
            Self::Steering(m) => write!(f, "round logic: {m}"),
            Self::Interrupted => f.write_str("interrupted"),
        }
    }
}

impl From<QmpError> for RunError {
    fn from(e: QmpError) -> Self {
        Self::Qmp(e)
    }
}

/// The caps found before bda-qemu touched them.
#[derive(Clone, Copy, Debug)]
struct Found {
    max_bandwidth: Option<u64>,
    switchover: Option<u64>,
    /// `cpu-throttle-initial`, `cpu-throttle-increment`, `max-cpu-throttle`.
    throttle: (Option<u8>, Option<u8>, Option<u8>),
}

/// QEMU's auto-converge throttle, as bda-qemu handles it for `--on-non-convergence
/// auto-converge` and `--on-unmet auto-converge`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Throttle {
    /// Not bda-qemu's business.
    Untouched,
    /// bda-qemu turned auto-converge on and holds the throttle at 1 % (initial, increment
    /// and ceiling all 1) until the controller asks to slow the guest.
    Held,
    /// Released to the settings found.
    Released,
    /// Not bda-qemu's business, and already said so (auto-converge was on in a running
    /// migration): said once, however often the controller asks.
    Foreign,
}

/// The throttle bda-qemu holds auto-converge at until the event: QEMU's smallest settings.
const HELD_THROTTLE_PERCENT: u8 = 1;

/// `migrate-set-parameters` with only the throttle settings (initial, increment, ceiling).
fn throttle_parameters((initial, increment, max): (Option<u8>, Option<u8>, Option<u8>)) -> qmp::MigrateSetParameters {
    qmp::MigrateSetParameters {
        cpu_throttle_initial: initial,
        cpu_throttle_increment: increment,
        max_cpu_throttle: max,
        ..Default::default()
    }
}

/// Whether `capability` is on in `query-migrate-capabilities`' answer.
fn capability_on(caps: &[qmp::MigrationCapabilityStatus], capability: qmp::MigrationCapability) -> bool {
    caps.iter().any(|c| c.capability == capability && c.state)
}

struct Session<'a> {
    qmp: QmpClient,
    options: &'a Options,
    out: &'a mut dyn Write,
    transcript: Option<Arc<Mutex<Transcript>>>,
    iface: IfaceCounter,
    service: Option<IfaceCounter>,
    switchover_supported: bool,
    touched: bool,
    throttle: Throttle,
    /// bda-qemu turned the auto-converge capability on (it was off): turn it off at the end.
    turned_auto_converge_on: bool,
    found: Found,
}

/// Runs a steered migration; prints round lines and the summary to `out`, notes to stderr.
/// On every way out it restores the caps it found (and says so on stderr).
pub fn run(options: &Options, out: &mut dyn Write, interrupted: &AtomicBool) -> Result<Summary, RunError> {
    let iface = IfaceCounter::new(&options.iface, "tx_bytes").map_err(RunError::Setup)?;
    let service = options
        .service_iface
        .as_deref()
        .map(|name| IfaceCounter::new(name, "rx_bytes"))
        .transpose()
        .map_err(RunError::Setup)?;
    let transcript = match &options.transcript {
        Some(path) => Some(Arc::new(Mutex::new(Transcript::create(path).map_err(RunError::Setup)?))),
        None => None,
    };
    let qmp = QmpClient::connect(&options.qmp, transcript.clone())?;
    let params = qmp_params(qmp)?;
    let (qmp, found) = params;
    let mut session = Session {
        switchover_supported: found.switchover.is_some(),
        qmp,
        options,
        out,
        transcript,
        iface,
        service,
        touched: false,
        throttle: Throttle::Untouched,
        turned_auto_converge_on: false,
        found,
    };
    let result = session.steer(interrupted).map_err(|e| session.why_closed(e));
    let restored = session.restore();
    match (&result, restored) {
        (_, Ok(Some(message))) => eprintln!("bda-qemu: {message}"),
        (_, Ok(None)) => {}
        (Err(_), Err(e)) | (Ok(_), Err(e)) => eprintln!("bda-qemu: could not restore the caps it found: {e}"),
    }
    result
}

fn qmp_params(mut qmp: QmpClient) -> Result<(QmpClient, Found), RunError> {
    let params = qmp.execute(&qmp::query_migrate_parameters {})?;
    Ok((
        qmp,
        Found {
            max_bandwidth: params.max_bandwidth,
            switchover: params.avail_switchover_bandwidth,
            throttle: (params.cpu_throttle_initial, params.cpu_throttle_increment, params.max_cpu_throttle),
        },
    ))
}

impl Session<'_> {
    fn steer(&mut self, interrupted: &AtomicBool) -> Result<Summary, RunError> {
        let options = self.options;
        let (major, minor, micro) = self.qmp.version;
        let memory = self.qmp.execute(&qmp::query_memory_size_summary {})?.base_memory;
        let first = Snapshot::from_info(&self.qmp.execute(&qmp::query_migrate {})?);
        let running = !matches!(first.status.as_str(), "none" | "completed" | "failed" | "cancelled");
        match (&options.mode, running) {
            (Mode::Migrate(_), true) => {
                return Err(RunError::Setup(format!(
                    "a migration is already running (status {}): use `bda-qemu attach`",
                    first.status
                )));
            }
            (Mode::Attach, false) => {
                return Err(RunError::Setup(format!("no migration is running (status {})", first.status)));
            }
            _ => {}
        }
        if self.service.is_none() {
            self.note(
                "no --service-iface: U_used counts the VM's own service traffic too, so BDA's reserve \
                 sits on top of the service's current traffic (protects it more, converges less)",
            );
        }
        if !self.switchover_supported {
            self.note(&format!(
                "QEMU {major}.{minor}.{micro} has no avail-switchover-bandwidth (QEMU >= 8.2): \
                 its switchover estimate uses its own bandwidth measurement"
            ));
        }
        let overhead = match options.header_overhead_ppm {
            Some(ppm) => ppm,
            None => header_overhead_ppm(mtu(&options.iface).map_err(RunError::Setup)?),
        };
        let config = SteeringConfig {
            capacity: options.capacity,
            memory: Bytes(memory),
            policy: options.policy,
            window_us: u64::try_from(options.window.as_micros()).unwrap_or(u64::MAX),
            header_overhead_ppm: overhead,
            on_non_convergence: options.on_non_convergence,
            throttle_on_unmet: options.throttle_on_unmet,
        };
        if let Some(log) = &self.transcript
            && let Ok(mut log) = log.lock()
        {
            log.config(&config);
        }
        let mut steering = Steering::new(config);
        self.header();

        let started = Instant::now();
        match &options.mode {
            Mode::Migrate(uri) => {
                let events =
                    qmp::MigrationCapabilityStatus { capability: qmp::MigrationCapability::events, state: true };
                let mut capabilities = vec![events];
                if options.uses_auto_converge() {
                    let caps = self.qmp.execute(&qmp::query_migrate_capabilities {})?;
                    self.turned_auto_converge_on = !capability_on(&caps, qmp::MigrationCapability::auto_converge);
                    self.hold_throttle()?;
                    capabilities.push(qmp::MigrationCapabilityStatus {
                        capability: qmp::MigrationCapability::auto_converge,
                        state: true,
                    });
                }
                self.qmp.execute(&qmp::migrate_set_capabilities { capabilities })?;
                // The link before the migration: U_used needs a window to start from.
                while started.elapsed() < options.measure_before {
                    self.check_interrupted(interrupted)?;
                    let counters = self.counters(0)?;
                    self.feed(&mut steering, &Input::Sample { counters, remaining: 0 })?;
                    std::thread::sleep(options.interval);
                }
                let actions = steering.initial();
                self.apply(&actions)?;
                self.qmp.execute(&qmp::migrate {
                    uri: Some(uri.clone()),
                    channels: None,
                    detach: None,
                    resume: None,
                })?;
            }
            Mode::Attach => {
                let caps = self.qmp.execute(&qmp::query_migrate_capabilities {})?;
                let events_on = capability_on(&caps, qmp::MigrationCapability::events);
                if options.uses_auto_converge() && !capability_on(&caps, qmp::MigrationCapability::auto_converge) {
                    return Err(RunError::Setup(
                        "auto-converge (--on-non-convergence or --on-unmet): the running migration has it off, and \
                         QEMU takes no capability change during a migration; use `bda-qemu migrate`, which turns it \
                         on before it starts"
                            .into(),
                    ));
                }
                if !events_on {
                    return Err(RunError::Setup(
                        "the running migration has the events capability off, so QEMU sends no MIGRATION_PASS: \
                         set it before migrating (migrate-set-capabilities events=true) or use `bda-qemu migrate`"
                            .into(),
                    ));
                }
            }
        }

        let migration_started = Instant::now();
        let mut next_tick = Instant::now();
        let mut last = first;
        loop {
            self.check_interrupted(interrupted)?;
            if let Some(limit) = options.max_time
                && migration_started.elapsed() > limit
            {
                self.note(&format!("no convergence within {} s: cancelling the migration", limit.as_secs()));
                self.qmp.execute(&qmp::migrate_cancel {})?;
                self.wait_cancelled()?;
                let mut summary = self.summary(&steering, &last);
                summary.outcome = "did-not-converge".into();
                self.print_summary(&summary);
                return Ok(summary);
            }
            let wait = next_tick.saturating_duration_since(Instant::now());
            match self.qmp.next_event(wait)? {
                Some(event) => match event.name.as_str() {
                    "MIGRATION_PASS" => {
                        let pass = event.data.get("pass").and_then(serde_json::Value::as_u64).unwrap_or(0);
                        last = self.snapshot()?;
                        // QEMU answers no query-migrate during the stop-and-copy round: a STOP
                        // that came in before the reply means this pass led to the switchover.
                        if let Some(stop) = self.qmp.take_event("STOP") {
                            self.feed(&mut steering, &Input::Paused { at_us: stop.timestamp_us })?;
                        }
                        self.feed(
                            &mut steering,
                            &Input::Pass { pass, at_us: event.timestamp_us, snapshot: last.clone() },
                        )?;
                    }
                    "STOP" => self.feed(&mut steering, &Input::Paused { at_us: event.timestamp_us })?,
                    "SHUTDOWN" => return Err(shutting_down(&event)),
                    "MIGRATION" => {
                        let status = event.data.get("status").and_then(serde_json::Value::as_str).unwrap_or("");
                        if status == "completed" {
                            last = self.snapshot()?;
                            self.feed(
                                &mut steering,
                                &Input::Completed { at_us: event.timestamp_us, snapshot: last.clone() },
                            )?;
                            let summary = self.summary(&steering, &last);
                            self.print_summary(&summary);
                            return Ok(summary);
                        }
                        self.check_status(status, &last)?;
                    }
                    _ => {}
                },
                None => {
                    next_tick += options.interval;
                    if next_tick < Instant::now() {
                        next_tick = Instant::now() + options.interval;
                    }
                    last = self.snapshot()?;
                    self.check_status(&last.status.clone(), &last)?;
                    let counters = self.counters(last.transferred)?;
                    self.feed(&mut steering, &Input::Sample { counters, remaining: last.remaining })?;
                }
            }
        }
    }

    /// A connection closed after a `SHUTDOWN` event is QEMU shutting down, not a crash: the
    /// event may have come in while bda-qemu waited for a reply, and is still queued.
    fn why_closed(&mut self, error: RunError) -> RunError {
        match error {
            RunError::Qmp(QmpError::Closed) => match self.qmp.take_event("SHUTDOWN") {
                Some(event) => shutting_down(&event),
                None => RunError::Qmp(QmpError::Closed),
            },
            other => other,
        }
    }

    /// A failed or cancelled migration is an error; other states go on.
    fn check_status(&mut self, status: &str, last: &Snapshot) -> Result<(), RunError> {
        match status {
            "failed" => {
                let desc = self.snapshot().ok().and_then(|s| s.error).or_else(|| last.error.clone());
                Err(RunError::Migration(format!(
                    "the migration failed: {}",
                    desc.unwrap_or_else(|| "QEMU gave no reason".into())
                )))
            }
            // bda-qemu's own cancels end elsewhere: this one came from another QMP client or
            // QEMU's monitor.
            "cancelled" | "cancelling" => {
                Err(RunError::Migration("the migration was cancelled by someone else (not bda-qemu)".into()))
            }
            _ => Ok(()),
        }
    }

    fn wait_cancelled(&mut self) -> Result<(), RunError> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.snapshot()?.status.as_str(), "cancelled" | "failed" | "completed") {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(RunError::Migration("the migration did not stop within 10 s of migrate_cancel".into()))
    }

    fn check_interrupted(&self, interrupted: &AtomicBool) -> Result<(), RunError> {
        if interrupted.load(Ordering::Relaxed) { Err(RunError::Interrupted) } else { Ok(()) }
    }

    fn snapshot(&mut self) -> Result<Snapshot, RunError> {
        Ok(Snapshot::from_info(&self.qmp.execute(&qmp::query_migrate {})?))
    }

    fn counters(&self, migration: u64) -> Result<Counters, RunError> {
        let service = self.service.as_ref().map(IfaceCounter::read).transpose().map_err(RunError::Setup)?;
        Ok(Counters { at_us: now_us(), iface_tx: self.iface.read().map_err(RunError::Setup)?, service, migration })
    }

    fn feed(&mut self, steering: &mut Steering, input: &Input) -> Result<(), RunError> {
        let actions = steering.step(input).map_err(RunError::Steering)?;
        if let Some(log) = &self.transcript
            && let Ok(mut log) = log.lock()
        {
            log.input(input);
            log.actions(&actions);
        }
        self.apply(&actions)
    }

    fn apply(&mut self, actions: &[Action]) -> Result<(), RunError> {
        for action in actions {
            match action {
                Action::SetMaxBandwidth(rate) => {
                    self.touched = true;
                    let parameters = qmp::MigrateSetParameters { max_bandwidth: Some(*rate), ..Default::default() };
                    self.qmp.execute(&qmp::migrate_set_parameters(parameters))?;
                }
                Action::SetSwitchoverBandwidth(rate) if self.switchover_supported => {
                    self.touched = true;
                    let parameters =
                        qmp::MigrateSetParameters { avail_switchover_bandwidth: Some(*rate), ..Default::default() };
                    self.qmp.execute(&qmp::migrate_set_parameters(parameters))?;
                }
                Action::SetSwitchoverBandwidth(_) => {}
                Action::ThrottleGuest => self.release_throttle()?,
                Action::Round(line) => self.round_line(line),
                Action::Note(message) => self.note(message),
                Action::Cancel(reason) => {
                    self.qmp.execute(&qmp::migrate_cancel {})?;
                    return Err(RunError::Migration(format!("cancelled the migration: {reason}")));
                }
            }
        }
        Ok(())
    }

    /// Turns QEMU's throttle down to 1 % before the migration starts (`migrate` with
    /// auto-converge as an action): auto-converge must be on from the start, and this
    /// keeps its throttle from acting before the controller asks for it.
    fn hold_throttle(&mut self) -> Result<(), RunError> {
        self.touched = true;
        self.throttle = Throttle::Held;
        let held = Some(HELD_THROTTLE_PERCENT);
        self.qmp.execute(&qmp::migrate_set_parameters(throttle_parameters((held, held, held))))?;
        self.note(&format!(
            "auto-converge is on, its throttle held at {HELD_THROTTLE_PERCENT} % until the controller asks to \
             slow the guest (QEMU takes no capability change during a migration)"
        ));
        Ok(())
    }

    /// Gives QEMU's auto-converge the throttle settings found, at the controller's
    /// non-convergence event or BDA+'s first unmet guard.
    fn release_throttle(&mut self) -> Result<(), RunError> {
        match self.throttle {
            Throttle::Held => {
                let (initial, increment, max) = self.found.throttle;
                self.qmp.execute(&qmp::migrate_set_parameters(throttle_parameters(self.found.throttle)))?;
                self.throttle = Throttle::Released;
                let pct = |v: Option<u8>| v.map_or_else(|| "QEMU's default".to_owned(), |v| format!("{v} %"));
                self.note(&format!(
                    "released QEMU's auto-converge throttle: it starts at {}, rises by {} a sync while the guest \
                     dirties faster than it is sent, up to {}",
                    pct(initial),
                    pct(increment),
                    pct(max)
                ));
            }
            Throttle::Released | Throttle::Foreign => {}
            Throttle::Untouched => {
                self.throttle = Throttle::Foreign;
                self.note("auto-converge was already on in the running migration: QEMU throttles by its own rule");
            }
        }
        Ok(())
    }

    /// Puts back the caps found at the start (and the throttle settings and auto-converge
    /// capability, when bda-qemu changed them). `Ok(Some(message))` says what was done.
    fn restore(&mut self) -> Result<Option<String>, QmpError> {
        if !self.touched {
            return Ok(None);
        }
        let found = self.found;
        let throttled = matches!(self.throttle, Throttle::Held | Throttle::Released);
        let parameters = qmp::MigrateSetParameters {
            max_bandwidth: found.max_bandwidth,
            avail_switchover_bandwidth: found.switchover.filter(|_| self.switchover_supported),
            ..throttle_parameters(if throttled { found.throttle } else { (None, None, None) })
        };
        let mut message = match self.qmp.execute(&qmp::migrate_set_parameters(parameters)) {
            Ok(_) => format!(
                "restored max-bandwidth {} B/s{}{}",
                found.max_bandwidth.unwrap_or(0),
                found.switchover.map(|s| format!(" and avail-switchover-bandwidth {s} B/s")).unwrap_or_default(),
                if throttled { " and the auto-converge throttle settings" } else { "" }
            ),
            Err(QmpError::Closed) => return Ok(Some("QEMU is gone: no cap to restore".into())),
            Err(e) => return Err(e),
        };
        if self.turned_auto_converge_on {
            let off =
                qmp::MigrationCapabilityStatus { capability: qmp::MigrationCapability::auto_converge, state: false };
            match self.qmp.execute(&qmp::migrate_set_capabilities { capabilities: vec![off] }) {
                Ok(_) => message.push_str("; turned auto-converge off again"),
                Err(QmpError::Closed) => message.push_str("; QEMU is gone: auto-converge not turned off"),
                Err(e) => message.push_str(&format!("; auto-converge left on: {e}")),
            }
        }
        Ok(Some(message))
    }

    fn summary(&self, steering: &Steering, last: &Snapshot) -> Summary {
        Summary {
            outcome: "completed".into(),
            total_time_ms: last.total_time_ms,
            downtime_ms: last.downtime_ms,
            setup_time_ms: last.setup_time_ms,
            rounds: steering.controller().map_or(0, bda_core::Controller::round),
            passes: last.dirty_sync_count,
            transferred: last.transferred,
        }
    }

    fn note(&mut self, message: &str) {
        eprintln!("bda-qemu: {message}");
    }

    fn header(&mut self) {
        if self.options.format == Format::Text {
            let _ = writeln!(
                self.out,
                "round kind          rule         dirty    used    free reserved    rate achieved     sent remaining\n\
                 {:32}Mbit/s  Mbit/s  Mbit/s   Mbit/s  Mbit/s   Mbit/s      MiB       MiB",
                ""
            );
        }
    }

    fn round_line(&mut self, line: &RoundLine) {
        let _ = match self.options.format {
            Format::Json => writeln!(self.out, "{}", serde_json::json!({ "type": "round", "round": line })),
            Format::Text => {
                let mbit = |v: u64| format!("{:.1}", mbit_per_s(v));
                let opt = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), mbit);
                let mib = |v: u64| format!("{:.1}", bytes_to_mib(v));
                writeln!(
                    self.out,
                    "{:>5} {:<13} {:<10} {:>7} {:>7} {:>7} {:>8} {:>7} {:>8} {:>8} {:>9}",
                    line.round,
                    line.kind,
                    line.rule,
                    opt(line.dirty_rate),
                    mbit(line.used),
                    mbit(line.free),
                    mbit(line.reserved),
                    mbit(line.rate),
                    opt(line.achieved_prev),
                    line.sent_prev.map_or_else(|| "-".to_owned(), mib),
                    mib(line.remaining),
                )
            }
        };
    }

    fn print_summary(&mut self, summary: &Summary) {
        let _ = match self.options.format {
            Format::Json => writeln!(self.out, "{}", serde_json::json!({ "type": "summary", "summary": summary })),
            Format::Text => {
                let ms = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), |v| format!("{v} ms"));
                writeln!(
                    self.out,
                    "{}: total {}, downtime {}, setup {}, {} rounds ({} passes), {:.1} MiB transferred (QEMU's figures)",
                    summary.outcome,
                    ms(summary.total_time_ms),
                    ms(summary.downtime_ms),
                    ms(summary.setup_time_ms),
                    summary.rounds,
                    summary.passes,
                    bytes_to_mib(summary.transferred)
                )
            }
        };
    }
}

/// QEMU's `SHUTDOWN` event, with its reason (`guest-shutdown`, `host-qmp-quit`, `host-signal`, ...).
fn shutting_down(event: &QmpEvent) -> RunError {
    let reason = event.data.get("reason").and_then(serde_json::Value::as_str).unwrap_or("no reason given");
    RunError::Migration(format!("QEMU is shutting down mid-migration ({reason})"))
}

#[allow(clippy::cast_precision_loss, clippy::as_conversions)] // display only
fn mbit_per_s(bytes_per_s: u64) -> f64 {
    bytes_per_s as f64 * 8.0 / 1e6
}

#[allow(clippy::cast_precision_loss, clippy::as_conversions)] // display only
fn bytes_to_mib(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}
