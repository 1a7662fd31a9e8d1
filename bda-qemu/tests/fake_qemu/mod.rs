//! A fake QEMU for the integration tests: a QMP server on a Unix socket in a fresh temporary
//! directory (no network), speaking enough of QEMU 10's QMP for `bda-qemu migrate` and
//! `attach`, answering at once, following a script of migration states and faults, and
//! recording every command and every `migrate-set-parameters` it was sent. Its replies are
//! shaped like those in `tests/data/bda-testbed.jsonl`, a transcript of a real run.
//!
//! [`run_bda_qemu`] runs the real binary against it with a hard time limit: a run that is still
//! going after [`HARD_LIMIT`] is killed and the test fails ("never a hang").

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// The `max-bandwidth` the fake QEMU holds at the start: not bda-qemu's rate for any test's
/// link, so a restored cap is told apart from one bda-qemu set.
pub const FOUND_MAX_BANDWIDTH: u64 = 33_554_432;
/// The `avail-switchover-bandwidth` it holds at the start.
pub const FOUND_SWITCHOVER: u64 = 7_000_000;
/// A run of bda-qemu still going after this long has hung. Generous: every scripted run ends
/// in well under a second, except those waiting out bda-qemu's 10 s command timeout once.
pub const HARD_LIMIT: Duration = Duration::from_secs(20);
/// The guest's RAM.
const MEMORY: u64 = 134_217_728;

/// One state of the migration, as the next `query-migrate` reports it.
#[derive(Clone, Debug)]
pub struct Step {
    /// `setup`, `active`, `failed`, `cancelling`, `cancelled`, `completed`.
    pub status: &'static str,
    /// A `MIGRATION_PASS` (a new bitmap sync) came before this reading.
    pub pass: bool,
    /// `error-desc` (a failed migration).
    pub error_desc: Option<&'static str>,
    /// QEMU shuts down here: a `SHUTDOWN` event, and the connection closes.
    pub shutdown: bool,
}

/// A reading with this status.
pub fn at(status: &'static str) -> Step {
    Step { status, pass: false, error_desc: None, shutdown: false }
}

/// A reading right after a new pass began.
pub fn pass(status: &'static str) -> Step {
    Step { pass: true, ..at(status) }
}

/// A failed migration, with QEMU's reason.
pub fn failed(error_desc: &'static str) -> Step {
    Step { error_desc: Some(error_desc), ..at("failed") }
}

/// QEMU shutting down (the guest powered off, or `quit`) in the middle of the migration.
pub fn shutdown() -> Step {
    Step { shutdown: true, ..at("active") }
}

/// A fault on one call of one command.
#[derive(Clone, Debug)]
pub enum Fault {
    /// The `nth` call (from 1) of `command` is answered with this `GenericError`.
    Error {
        /// The QMP command, as on the wire.
        command: &'static str,
        /// Which call, from 1.
        nth: usize,
        /// QEMU's `desc`.
        desc: &'static str,
    },
    /// The `nth` call of `command` is never answered (QEMU stuck on it); later ones are.
    Silent {
        /// The QMP command.
        command: &'static str,
        /// Which call, from 1.
        nth: usize,
    },
    /// QEMU exits on the `nth` call of `command`: no reply, the connection closes.
    Exit {
        /// The QMP command.
        command: &'static str,
        /// Which call, from 1.
        nth: usize,
    },
}

/// What the fake QEMU says first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Greeting {
    /// QEMU 10.0.2's greeting.
    Qmp,
    /// Nothing (a QEMU that serves another client, or hangs).
    Silent,
    /// A line that is not QMP (another program's socket).
    NotQmp,
}

/// What the fake QEMU does.
#[derive(Clone, Debug)]
pub struct Script {
    /// Its greeting.
    pub greeting: Greeting,
    /// A migration is running already (for `attach`): `steps` start at once.
    pub running: bool,
    /// The `events` capability, as `query-migrate-capabilities` reports it.
    pub events: bool,
    /// What successive `query-migrate`s report once the migration runs; the last repeats.
    pub steps: Vec<Step>,
    /// Faults on given calls.
    pub faults: Vec<Fault>,
}

impl Script {
    /// A migration that `bda-qemu migrate` starts and that then goes through `steps`.
    pub fn migrate(steps: Vec<Step>) -> Self {
        Self { greeting: Greeting::Qmp, running: false, events: false, steps, faults: Vec::new() }
    }

    /// A migration already running (with the `events` capability on) that goes through `steps`.
    pub fn attach(steps: Vec<Step>) -> Self {
        Self { running: true, events: true, ..Self::migrate(steps) }
    }

    /// The same script with a fault added.
    pub fn with(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }
}

/// What the fake QEMU heard.
#[derive(Clone, Debug, Default)]
pub struct Record {
    /// bda-qemu connected.
    pub connected: bool,
    /// Every command, in order.
    pub commands: Vec<String>,
    /// The arguments of every `migrate-set-parameters`, in order (refused ones too).
    pub set_parameters: Vec<Value>,
    /// The arguments of every `migrate-set-capabilities`, in order.
    pub set_capabilities: Vec<Value>,
    /// The `max-bandwidth` QEMU holds now.
    pub max_bandwidth: u64,
    /// The `avail-switchover-bandwidth` QEMU holds now.
    pub switchover: u64,
}

impl Record {
    /// The last value of `parameter` sent in a `migrate-set-parameters`.
    pub fn last_sent(&self, parameter: &str) -> Option<u64> {
        self.set_parameters.iter().rev().find_map(|p| p.get(parameter)).and_then(Value::as_u64)
    }

    /// Asserts that bda-qemu changed the caps and that the last thing it said to QEMU put back
    /// the ones QEMU had at the start.
    pub fn assert_restored(&self) {
        let changed = self
            .set_parameters
            .iter()
            .any(|p| p.get("max-bandwidth").and_then(Value::as_u64).is_some_and(|v| v != FOUND_MAX_BANDWIDTH));
        assert!(changed, "bda-qemu never set a cap of its own, so nothing shows a restore: {self:#?}");
        assert_eq!(self.last_sent("max-bandwidth"), Some(FOUND_MAX_BANDWIDTH), "{self:#?}");
        assert_eq!(self.last_sent("avail-switchover-bandwidth"), Some(FOUND_SWITCHOVER), "{self:#?}");
        assert_eq!((self.max_bandwidth, self.switchover), (FOUND_MAX_BANDWIDTH, FOUND_SWITCHOVER), "{self:#?}");
        assert_eq!(
            self.commands.last().map(String::as_str),
            Some("migrate-set-parameters"),
            "the restore must be the last command: {self:#?}"
        );
    }

    /// Asserts that bda-qemu never touched the caps.
    pub fn assert_untouched(&self) {
        assert!(self.set_parameters.is_empty(), "{self:#?}");
        assert_eq!((self.max_bandwidth, self.switchover), (FOUND_MAX_BANDWIDTH, FOUND_SWITCHOVER), "{self:#?}");
    }
}

/// A running fake QEMU; the directory with its socket goes when it is dropped.
pub struct FakeQemu {
    dir: PathBuf,
    socket: PathBuf,
    record: Arc<Mutex<Record>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeQemu {
    /// Starts a fake QEMU playing `script` on a socket in a fresh temporary directory.
    pub fn start(script: Script) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "bda-qemu-faults-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("qmp.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        // Polled, so a test whose bda-qemu never connects still ends.
        listener.set_nonblocking(true).unwrap();
        let record = Arc::new(Mutex::new(Record {
            max_bandwidth: FOUND_MAX_BANDWIDTH,
            switchover: FOUND_SWITCHOVER,
            ..Record::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (record, stop) = (Arc::clone(&record), Arc::clone(&stop));
            thread::spawn(move || serve(&listener, &script, &record, &stop))
        };
        Self { dir, socket, record, stop, thread: Some(thread) }
    }

    /// The QMP socket.
    pub fn socket(&self) -> &str {
        self.socket.to_str().unwrap()
    }

    /// The temporary directory (for bda-qemu's output files).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What it heard so far.
    pub fn record(&self) -> Record {
        self.record.lock().unwrap().clone()
    }

    /// Stops the server (once bda-qemu is gone) and returns what it heard.
    pub fn finish(mut self) -> Record {
        self.stop_server();
        self.record.lock().unwrap().clone()
    }

    fn stop_server(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for FakeQemu {
    fn drop(&mut self) {
        self.stop_server();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn serve(listener: &UnixListener, script: &Script, record: &Mutex<Record>, stop: &AtomicBool) {
    let stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == ErrorKind::WouldBlock && !stop.load(Ordering::Relaxed) => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(_) => return,
        }
    };
    record.lock().unwrap().connected = true;
    stream.set_nonblocking(false).unwrap();
    // bda-qemu is killed after HARD_LIMIT at the latest; this only keeps a broken test from
    // blocking the server thread for ever.
    stream.set_read_timeout(Some(HARD_LIMIT * 2)).unwrap();
    let mut fake = Fake { writer: stream.try_clone().unwrap(), script, record, calls: HashMap::new(), migration: None };
    match script.greeting {
        Greeting::Qmp => fake.send(&json!({"QMP": {
            "version": {"qemu": {"major": 10, "minor": 0, "micro": 2}, "package": "Debian 1:10.0.2+ds-2+deb13u1~bpo12+1"},
            "capabilities": ["oob"],
        }})),
        Greeting::Silent => {}
        Greeting::NotQmp => {
            let _ = fake.writer.write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\n");
        }
    }
    if script.running {
        fake.migration = Some(Migration::default());
    }
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { return };
        let Ok(request) = serde_json::from_str::<Value>(&line) else { return };
        if !fake.answer(&request) {
            let _ = fake.writer.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// The migration's progress once it started.
#[derive(Default)]
struct Migration {
    /// `query-migrate`s answered since it started.
    readings: usize,
    passes: u64,
    status: &'static str,
    cancelled: bool,
}

struct Fake<'a> {
    writer: UnixStream,
    script: &'a Script,
    record: &'a Mutex<Record>,
    calls: HashMap<String, usize>,
    migration: Option<Migration>,
}

impl Fake<'_> {
    fn send(&mut self, message: &Value) {
        let mut line = message.to_string();
        line.push('\n');
        let _ = self.writer.write_all(line.as_bytes());
    }

    fn event(&mut self, name: &str, data: Option<Value>) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let mut event = json!({
            "event": name,
            "timestamp": {"seconds": now.as_secs(), "microseconds": now.subsec_micros()},
        });
        if let Some(data) = data {
            event["data"] = data;
        }
        self.send(&event);
    }

    /// Answers one command; `false` when QEMU "exits" instead.
    fn answer(&mut self, request: &Value) -> bool {
        let command = request.get("execute").and_then(Value::as_str).unwrap_or("").to_owned();
        let id = request.get("id").cloned().unwrap_or(Value::Null);
        let arguments = request.get("arguments").cloned().unwrap_or_else(|| json!({}));
        let nth = {
            let calls = self.calls.entry(command.clone()).or_default();
            *calls += 1;
            *calls
        };
        {
            let mut record = self.record.lock().unwrap();
            record.commands.push(command.clone());
            if command == "migrate-set-parameters" {
                record.set_parameters.push(arguments.clone());
            }
            if command == "migrate-set-capabilities" {
                record.set_capabilities.push(arguments.clone());
            }
        }
        for fault in &self.script.faults {
            match *fault {
                Fault::Error { command: c, nth: n, desc } if c == command && n == nth => {
                    self.send(&json!({"id": id, "error": {"class": "GenericError", "desc": desc}}));
                    return true;
                }
                Fault::Silent { command: c, nth: n } if c == command && n == nth => return true,
                Fault::Exit { command: c, nth: n } if c == command && n == nth => return false,
                _ => {}
            }
        }
        let reply = match command.as_str() {
            "qmp_capabilities" | "migrate-set-capabilities" => json!({}),
            "query-migrate-parameters" => {
                let record = self.record.lock().unwrap();
                parameters(record.max_bandwidth, record.switchover)
            }
            "migrate-set-parameters" => {
                let mut record = self.record.lock().unwrap();
                if let Some(v) = arguments.get("max-bandwidth").and_then(Value::as_u64) {
                    record.max_bandwidth = v;
                }
                if let Some(v) = arguments.get("avail-switchover-bandwidth").and_then(Value::as_u64) {
                    record.switchover = v;
                }
                json!({})
            }
            "query-memory-size-summary" => json!({"base-memory": MEMORY, "plugged-memory": 0}),
            "query-migrate-capabilities" => json!([
                {"capability": "xbzrle", "state": false},
                {"capability": "events", "state": self.script.events},
            ]),
            "migrate" => {
                if self.migration.is_some() {
                    self.send(&json!({"id": id, "error": {"class": "GenericError",
                        "desc": "There's a migration process in progress"}}));
                    return true;
                }
                self.migration = Some(Migration { status: "setup", ..Migration::default() });
                self.event("MIGRATION", Some(json!({"status": "setup"})));
                json!({})
            }
            "migrate_cancel" => {
                if let Some(migration) = self.migration.as_mut() {
                    migration.cancelled = true;
                }
                json!({})
            }
            "query-migrate" => match self.query_migrate() {
                Some(info) => info,
                None => return false,
            },
            other => {
                self.send(&json!({"id": id, "error": {"class": "CommandNotFound",
                    "desc": format!("The command {other} has not been found")}}));
                return true;
            }
        };
        self.send(&json!({"id": id, "return": reply}));
        true
    }

    /// The next reading of the script, with the events that led to it sent first; `None`
    /// when QEMU shuts down instead.
    fn query_migrate(&mut self) -> Option<Value> {
        let Some(migration) = self.migration.as_mut() else { return Some(json!({})) };
        let step = if migration.cancelled {
            at("cancelled")
        } else {
            let last = self.script.steps.len().saturating_sub(1);
            self.script.steps.get(migration.readings.min(last)).cloned().unwrap_or_else(|| at("active"))
        };
        migration.readings += 1;
        let readings = u64::try_from(migration.readings).unwrap();
        let changed = migration.status != step.status;
        migration.status = step.status;
        if step.pass {
            migration.passes += 1;
        }
        let passes = migration.passes;
        if changed {
            self.event("MIGRATION", Some(json!({"status": step.status})));
        }
        if step.pass {
            self.event("MIGRATION_PASS", Some(json!({"pass": passes})));
        }
        if step.shutdown {
            self.event("SHUTDOWN", Some(json!({"guest": false, "reason": "host-qmp-quit"})));
            return None;
        }
        // 2 MiB a reading; each pass finds 4 MiB dirty.
        let transferred = readings * 2_097_152;
        let remaining = MEMORY.saturating_sub(transferred).max(4_194_304);
        let mut info = json!({"status": step.status});
        match step.status {
            "setup" => {}
            "completed" => {
                info["ram"] = ram(transferred, 0, passes);
                info["total-time"] = json!(readings * 100);
                info["downtime"] = json!(40);
                info["setup-time"] = json!(3);
            }
            _ => {
                info["ram"] = ram(transferred, remaining, passes);
                info["total-time"] = json!(readings * 100);
                info["setup-time"] = json!(3);
                if step.status == "active" {
                    info["expected-downtime"] = json!(300);
                }
            }
        }
        if let Some(desc) = step.error_desc {
            info["error-desc"] = json!(desc);
        }
        Some(info)
    }
}

/// `query-migrate-parameters` as QEMU 10.0 answers it.
fn parameters(max_bandwidth: u64, switchover: u64) -> Value {
    json!({
        "announce-initial": 50, "announce-max": 550, "announce-rounds": 5, "announce-step": 100,
        "avail-switchover-bandwidth": switchover, "cpu-throttle-increment": 10,
        "cpu-throttle-initial": 20, "cpu-throttle-tailslow": false, "direct-io": false,
        "downtime-limit": 300, "max-bandwidth": max_bandwidth, "max-cpu-throttle": 99,
        "max-postcopy-bandwidth": 0, "mode": "normal", "multifd-channels": 2,
        "multifd-compression": "none", "multifd-qatzip-level": 1, "multifd-zlib-level": 1,
        "multifd-zstd-level": 1, "throttle-trigger-threshold": 50, "tls-authz": "",
        "tls-creds": "", "tls-hostname": "", "vcpu-dirty-limit": 1, "x-checkpoint-delay": 20000,
        "x-vcpu-dirty-limit-period": 1000, "xbzrle-cache-size": 67_108_864,
        "zero-page-detection": "multifd",
    })
}

/// `query-migrate`'s `ram` as QEMU 10.0 reports it.
fn ram(transferred: u64, remaining: u64, passes: u64) -> Value {
    json!({
        "dirty-pages-rate": 0, "dirty-sync-count": passes, "dirty-sync-missed-zero-copy": 0,
        "downtime-bytes": 0, "duplicate": 507, "mbps": 80.5, "multifd-bytes": 0,
        "normal": transferred / 4096, "normal-bytes": transferred, "page-size": 4096,
        "pages-per-second": 2400, "postcopy-bytes": 0, "postcopy-requests": 0,
        "precopy-bytes": transferred, "remaining": remaining, "total": 134_553_600,
        "transferred": transferred,
    })
}

/// How a run of bda-qemu ended.
#[derive(Debug)]
pub struct Run {
    /// Its exit status (`None`: killed by a signal).
    pub code: Option<i32>,
    /// What it printed on stderr.
    pub stderr: String,
    /// What it printed on stdout.
    pub stdout: String,
    /// How long it ran.
    pub elapsed: Duration,
}

/// Kills the child if the test gives up on it (a hang, or a failed assertion while it runs).
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the real bda-qemu with `args` (output to files in `dir`, so a full pipe can never
/// stall it); fails the test if it is still running after [`HARD_LIMIT`].
pub fn run_bda_qemu(dir: &Path, args: &[&str]) -> Run {
    run_bda_qemu_watching(dir, args, |_| {})
}

/// [`run_bda_qemu`], calling `watch` with bda-qemu's process id every 20 ms while it runs.
pub fn run_bda_qemu_watching(dir: &Path, args: &[&str], mut watch: impl FnMut(u32)) -> Run {
    let (stdout_path, stderr_path) = (dir.join("stdout"), dir.join("stderr"));
    let started = Instant::now();
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_bda-qemu"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(File::create(&stdout_path).unwrap())
            .stderr(File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            return Run {
                code: status.code(),
                stderr: read(&stderr_path),
                stdout: read(&stdout_path),
                elapsed: started.elapsed(),
            };
        }
        assert!(
            started.elapsed() < HARD_LIMIT,
            "bda-qemu hung: still running after {} s (killed); stderr so far:\n{}",
            HARD_LIMIT.as_secs(),
            read(&stderr_path)
        );
        watch(child.0.id());
        thread::sleep(Duration::from_millis(20));
    }
}

/// `bda-qemu migrate` against `qemu` on loopback, with short measuring and sampling so a
/// scripted migration takes a fraction of a second; `extra` is appended.
pub fn migrate(qemu: &FakeQemu, extra: &[&str]) -> Run {
    let mut args = migrate_args(qemu);
    args.extend(extra);
    run_bda_qemu(qemu.dir(), &args)
}

/// The arguments of `bda-qemu migrate` against `qemu` (see [`migrate`]).
pub fn migrate_args(qemu: &FakeQemu) -> Vec<&str> {
    let mut args = vec!["migrate", "--qmp", qemu.socket(), "--uri", "tcp:127.0.0.1:1"];
    args.extend(COMMON);
    args
}

/// `bda-qemu attach` against `qemu`; `extra` is appended.
pub fn attach(qemu: &FakeQemu, extra: &[&str]) -> Run {
    let mut args = vec!["attach", "--qmp", qemu.socket()];
    args.extend(COMMON);
    args.extend(extra);
    run_bda_qemu(qemu.dir(), &args)
}

const COMMON: [&str; 8] =
    ["--iface", "lo", "--link-capacity", "100Mbit/s", "--measure-before", "200ms", "--interval", "20ms"];
