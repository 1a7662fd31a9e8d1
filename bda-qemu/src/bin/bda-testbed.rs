//! The test bed's driver: one real QEMU migration on the shaped link `tests/qemu/testbed.sh`
//! builds, with a paced service flow sharing it, and the guest's memory checked on the
//! destination afterwards.
//!
//! - `run`: starts the destination QEMU (paused, `-incoming`) and the source QEMU in their
//!   namespaces, waits for the guest to fill its memory, starts the service flow, migrates
//!   (QEMU's own policy, or `bda-qemu migrate` with a policy), then queues `V` on the
//!   destination's serial port, resumes it and reads the guest's verdict. Prints one result
//!   line (text or JSON). Every process it started is killed when it returns, on errors too.
//! - `service-send` / `service-recv`: the service flow, a paced TCP sender with an
//!   application deadline (data not sent within it is dropped) and its receiver; both print
//!   their cumulative counters as a JSON line every 100 ms. The sender's demand is steady or
//!   bursty (a base rate, and a burst rate for the last part of every period, as bda-sim's
//!   bursty flow).
//! - `lost-page`: boots the guest without migrating and has it revert a page on purpose: its
//!   check must fail (exit 0 when it does), which shows the check can.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bda_qemu::qmp::QmpClient;
use bda_qemu::steer::Snapshot;
use bda_qemu::transcript::now_us;
use bda_qemu::units::{parse_duration, parse_rate};
use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;
use serde_json::{Value, json};

#[derive(Parser)]
#[command(name = "bda-testbed")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Policy {
    /// QEMU's own: no steering, its default max-bandwidth.
    QemuDefault,
    /// bda-qemu with BDA.
    Bda,
    /// bda-qemu with a static cap.
    Static,
    /// bda-qemu with Xen 2.0's incremental policy.
    Incremental,
    /// bda-qemu with plain pre-copy.
    Pca,
    /// bda-qemu with BDA+ (its defaults; the service's reserve learned from its interface).
    BdaPlus,
    /// BDA+ that keeps the reserve when a guard cannot be met and lets QEMU's auto-converge
    /// slow the guest instead (`--on-unmet auto-converge`).
    BdaPlusAutoConverge,
}

#[derive(Subcommand)]
enum Cmd {
    /// One migration on the test bed.
    Run(Box<RunArgs>),
    /// The service flow's sender.
    ServiceSend {
        /// Where to connect.
        #[arg(long)]
        to: SocketAddr,
        /// The demand and its bursts.
        #[command(flatten)]
        profile: ServiceProfile,
        /// Data not sent within this long of its creation is dropped.
        #[arg(long, value_parser = parse_duration, default_value = "200ms")]
        deadline: Duration,
    },
    /// The service flow's receiver.
    ServiceRecv {
        /// Where to listen.
        #[arg(long)]
        listen: SocketAddr,
    },
    /// Boot the guest, revert a page on purpose, and expect its check to fail.
    LostPage {
        /// The guest ELF.
        #[arg(long)]
        guest: PathBuf,
        /// A directory for sockets.
        #[arg(long)]
        workdir: PathBuf,
    },
}

/// The service flow's demand: `rate`, or `burst_rate` during the last `burst` of every
/// `period` (bda-sim's bursty flow has the same shape).
#[derive(clap::Args, Clone, Copy, Debug, Serialize)]
struct ServiceProfile {
    /// The demanded rate (between bursts), e.g. 20Mbit/s; 0 with no bursts runs no flow.
    #[arg(long = "service-rate", value_parser = parse_rate, default_value = "20Mbit/s")]
    #[serde(rename = "service_rate_bytes_per_s")]
    rate: u64,
    /// The demanded rate during a burst; 0: no bursts.
    #[arg(long = "service-burst-rate", value_parser = parse_rate, default_value = "0")]
    #[serde(rename = "service_burst_rate_bytes_per_s")]
    burst_rate: u64,
    /// How long a burst lasts.
    #[arg(long = "service-burst", value_parser = parse_duration, default_value = "5s")]
    #[serde(rename = "service_burst_ms", serialize_with = "millis")]
    burst: Duration,
    /// A burst comes at the end of every period this long, counted from the flow's start.
    #[arg(long = "service-period", value_parser = parse_duration, default_value = "20s")]
    #[serde(rename = "service_period_ms", serialize_with = "millis")]
    period: Duration,
}

impl ServiceProfile {
    /// Whether there is a flow at all.
    fn is_on(&self) -> bool {
        self.rate > 0 || self.burst_rate > 0
    }

    /// Checks that a burst fits its period.
    fn validate(&self) -> Result<(), String> {
        if self.burst_rate > 0 && (self.period.is_zero() || self.burst > self.period) {
            return Err("a service burst must fit in a positive period".into());
        }
        Ok(())
    }

    /// The demanded rate `since` the flow's start, bytes per second.
    fn rate_at(&self, since: Duration) -> u64 {
        if self.burst_rate == 0 || self.period.is_zero() {
            return self.rate;
        }
        let phase_ns = since.as_nanos() % self.period.as_nanos();
        if phase_ns >= self.period.as_nanos().saturating_sub(self.burst.as_nanos()) {
            self.burst_rate
        } else {
            self.rate
        }
    }

    /// The sender's arguments for this profile.
    fn args(&self) -> Vec<String> {
        vec![
            "--service-rate".into(),
            self.rate.to_string(),
            "--service-burst-rate".into(),
            self.burst_rate.to_string(),
            "--service-burst".into(),
            format!("{}ms", self.burst.as_millis()),
            "--service-period".into(),
            format!("{}ms", self.period.as_millis()),
        ]
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's signature
fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[derive(clap::Args)]
struct RunArgs {
    /// Which policy.
    #[arg(long, value_enum)]
    policy: Policy,
    /// The guest ELF.
    #[arg(long)]
    guest: PathBuf,
    /// Guest RAM in MiB.
    #[arg(long, default_value_t = 128)]
    memory_mib: u32,
    /// The guest's command line (its workload), e.g. "rate=1000 ws_mib=16".
    #[arg(long, default_value = "")]
    workload: String,
    /// The source's network namespace.
    #[arg(long)]
    src_ns: String,
    /// The destination's network namespace.
    #[arg(long)]
    dst_ns: String,
    /// The namespace the service flow is sent from (the VM's side of its tap).
    #[arg(long)]
    vm_ns: String,
    /// The destination's address on the shaped link (the migration's target).
    #[arg(long)]
    dst_addr: String,
    /// The shaped interface in the source namespace.
    #[arg(long)]
    iface: String,
    /// The interface in the source namespace that receives the service flow from the VM side.
    #[arg(long)]
    service_iface: String,
    /// The service receiver's address (in the destination namespace).
    #[arg(long)]
    service_addr: SocketAddr,
    /// The service flow's demand.
    #[command(flatten)]
    service: ServiceProfile,
    /// The service's application deadline.
    #[arg(long, value_parser = parse_duration, default_value = "200ms")]
    service_deadline: Duration,
    /// The link's capacity (for bda-qemu).
    #[arg(long, value_parser = parse_rate, default_value = "100Mbit/s")]
    link_capacity: u64,
    /// Cancel and record "did not converge" after this long.
    #[arg(long, value_parser = parse_duration, default_value = "120s")]
    max_time: Duration,
    /// The migration's header overhead for bda-qemu (e.g. 4.6%); default: its own.
    #[arg(long)]
    header_overhead: Option<String>,
    /// One more argument for bda-qemu (repeatable), e.g. --bda-qemu-arg=--on-non-convergence
    /// --bda-qemu-arg=auto-converge.
    #[arg(long, allow_hyphen_values = true)]
    bda_qemu_arg: Vec<String>,
    /// The bda-qemu binary.
    #[arg(long)]
    bda_qemu: PathBuf,
    /// A directory for sockets, logs and the transcript.
    #[arg(long)]
    workdir: PathBuf,
    /// A name for the workload, for the result line only (e.g. "idle").
    #[arg(long)]
    label: Option<String>,
    /// The congestion control the test bed set on the routes, for the result line only.
    #[arg(long)]
    cc: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Children killed when dropped, so no QEMU or service outlives a failed run.
#[derive(Default)]
struct Children(Vec<(String, Child)>);

impl Children {
    fn spawn(&mut self, name: &str, command: &mut Command) -> Result<(), String> {
        let child = command.spawn().map_err(|e| format!("cannot start {name}: {e}"))?;
        self.0.push((name.to_owned(), child));
        Ok(())
    }

    fn take_stdout(&mut self, name: &str) -> Option<std::process::ChildStdout> {
        self.0.iter_mut().find(|(n, _)| n == name).and_then(|(_, c)| c.stdout.take())
    }

    /// Fails when a child has exited already (QEMU refusing its command line, say).
    fn check_alive(&mut self) -> Result<(), String> {
        for (name, child) in &mut self.0 {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("{name} exited early ({status})"));
            }
        }
        Ok(())
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for (_, child) in self.0.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Cmd::Run(args) => run(&args),
        Cmd::ServiceSend { to, profile, deadline } => service_send(to, profile, deadline),
        Cmd::ServiceRecv { listen } => service_recv(listen),
        Cmd::LostPage { guest, workdir } => lost_page(&guest, &workdir),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("bda-testbed: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn qemu_command(ns: Option<&str>, guest: &Path, memory_mib: u32, workload: &str) -> Command {
    let mut command = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "qemu-system-x86_64"]);
            c
        }
        None => Command::new("qemu-system-x86_64"),
    };
    command.args(["-accel", "tcg", "-M", "pc", "-smp", "1", "-display", "none", "-nodefaults", "-no-user-config"]);
    command.args(["-bios", "/usr/share/qemu/qboot.rom", "-m", &memory_mib.to_string()]);
    command.arg("-kernel").arg(guest).args(["-append", workload]);
    command.stdin(Stdio::null());
    command
}

fn chardev_args(command: &mut Command, qmp: &Path, serial: &Path) {
    command.arg("-qmp").arg(format!("unix:{},server=on,wait=off", qmp.display()));
    command.arg("-chardev").arg(format!("socket,id=ser0,path={},server=on,wait=off", serial.display()));
    command.args(["-serial", "chardev:ser0"]);
}

/// Connects to a Unix socket QEMU is about to create.
fn connect_retry(path: &Path, children: &mut Children) -> Result<UnixStream, String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match UnixStream::connect(path) {
            Ok(stream) => return Ok(stream),
            Err(e) if Instant::now() > deadline => return Err(format!("cannot connect to {}: {e}", path.display())),
            Err(_) => {
                children.check_alive()?;
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// The guest's serial lines, read by a thread.
fn serial_lines(stream: &UnixStream) -> Result<Receiver<String>, String> {
    let reader = stream.try_clone().map_err(|e| e.to_string())?;
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    Ok(rx)
}

fn wait_line(rx: &Receiver<String>, prefixes: &[&str], timeout: Duration) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if prefixes.iter().any(|p| line.starts_with(p)) => return Ok(line),
            Ok(_) => {}
            Err(_) => return Err(format!("the guest printed no {prefixes:?} line within {} s", timeout.as_secs())),
        }
    }
}

/// The latest cumulative counters a service process printed.
#[derive(Clone, Copy, Debug, Default)]
struct ServiceSample {
    at_us: u64,
    demanded: u64,
    dropped: u64,
    received: u64,
}

fn follow_service(stdout: impl Read + Send + 'static, samples: Arc<Mutex<Vec<ServiceSample>>>) {
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let Ok(v) = serde_json::from_str::<Value>(&line) else { continue };
            let get = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
            if let Ok(mut samples) = samples.lock() {
                samples.push(ServiceSample {
                    at_us: get("t_us"),
                    demanded: get("demanded"),
                    dropped: get("dropped"),
                    received: get("received"),
                });
            }
        }
    });
}

/// The sample nearest before `at_us`.
fn sample_at(samples: &Mutex<Vec<ServiceSample>>, at_us: u64) -> ServiceSample {
    let samples = samples.lock().map(|s| s.clone()).unwrap_or_default();
    samples.iter().rev().find(|s| s.at_us <= at_us).or(samples.first()).copied().unwrap_or_default()
}

#[derive(Serialize)]
struct RunResult {
    policy: Policy,
    label: Option<String>,
    workload: String,
    memory_mib: u32,
    congestion_control: Option<String>,
    #[serde(flatten)]
    service: ServiceProfile,
    outcome: String,
    total_time_ms: Option<u64>,
    downtime_ms: Option<u64>,
    setup_time_ms: Option<u64>,
    rounds: Option<u64>,
    passes: u64,
    transferred: u64,
    service_demanded: u64,
    service_delivered: u64,
    service_shortfall_percent: f64,
    memory: String,
}

#[allow(clippy::too_many_lines)] // one run, step by step
fn run(args: &RunArgs) -> Result<ExitCode, String> {
    args.service.validate()?;
    std::fs::create_dir_all(&args.workdir).map_err(|e| format!("{}: {e}", args.workdir.display()))?;
    let dir = &args.workdir;
    let (src_qmp, src_ser, dst_qmp, dst_ser) =
        (dir.join("src.qmp"), dir.join("src.serial"), dir.join("dst.qmp"), dir.join("dst.serial"));
    for path in [&src_qmp, &src_ser, &dst_qmp, &dst_ser] {
        let _ = std::fs::remove_file(path);
    }
    let mut children = Children::default();

    let mut dst = qemu_command(Some(&args.dst_ns), &args.guest, args.memory_mib, &args.workload);
    chardev_args(&mut dst, &dst_qmp, &dst_ser);
    dst.args(["-S", "-incoming", &format!("tcp:{}:4444", args.dst_addr)]);
    children.spawn("the destination QEMU", &mut dst)?;
    let mut src = qemu_command(Some(&args.src_ns), &args.guest, args.memory_mib, &args.workload);
    chardev_args(&mut src, &src_qmp, &src_ser);
    children.spawn("the source QEMU", &mut src)?;

    let src_serial = connect_retry(&src_ser, &mut children)?;
    let src_lines = serial_lines(&src_serial)?;
    let dst_serial = connect_retry(&dst_ser, &mut children)?;
    let dst_lines = serial_lines(&dst_serial)?;
    let ready = wait_line(&src_lines, &["bda-guest: ready", "bda-guest: FAILED"], Duration::from_secs(60))?;
    if ready.contains("FAILED") {
        return Err(ready);
    }
    eprintln!("bda-testbed: source guest: {ready}");

    let samples = Arc::new(Mutex::new(Vec::new()));
    let received = Arc::new(Mutex::new(Vec::new()));
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    if args.service.is_on() {
        let mut recv = Command::new("ip");
        recv.args(["netns", "exec", &args.dst_ns]).arg(&me);
        recv.args(["service-recv", "--listen", &args.service_addr.to_string()]).stdout(Stdio::piped());
        children.spawn("service-recv", &mut recv)?;
        let stdout = children.take_stdout("service-recv").ok_or("service-recv has no stdout")?;
        follow_service(stdout, Arc::clone(&received));
        thread::sleep(Duration::from_millis(300));
        let mut send = Command::new("ip");
        send.args(["netns", "exec", &args.vm_ns]).arg(&me);
        send.args(["service-send", "--to", &args.service_addr.to_string()]);
        send.args(args.service.args());
        send.args(["--deadline", &format!("{}ms", args.service_deadline.as_millis())]).stdout(Stdio::piped());
        children.spawn("service-send", &mut send)?;
        let stdout = children.take_stdout("service-send").ok_or("service-send has no stdout")?;
        follow_service(stdout, Arc::clone(&samples));
        thread::sleep(Duration::from_secs(2));
        children.check_alive()?;
    }

    let started_us = now_us();
    let (outcome, summary): (String, Value) = match args.policy {
        Policy::QemuDefault => qemu_default(&src_qmp, &args.dst_addr, args.max_time)?,
        policy => {
            let mut bda = Command::new("ip");
            bda.args(["netns", "exec", &args.src_ns]).arg(&args.bda_qemu);
            bda.arg("migrate").arg("--qmp").arg(&src_qmp);
            bda.args(["--uri", &format!("tcp:{}:4444", args.dst_addr), "--iface", &args.iface]);
            bda.args(["--service-iface", &args.service_iface, "--link-capacity", &args.link_capacity.to_string()]);
            let name = match policy {
                Policy::Static => "static",
                Policy::Incremental => "incremental",
                Policy::Pca => "pca",
                Policy::BdaPlus | Policy::BdaPlusAutoConverge => "bda-plus",
                _ => "bda",
            };
            bda.args(["--policy", name, "--max-time", &format!("{}s", args.max_time.as_secs())]);
            if policy == Policy::BdaPlusAutoConverge {
                bda.args(["--on-unmet", "auto-converge"]);
            }
            if let Some(overhead) = &args.header_overhead {
                bda.args(["--header-overhead", overhead]);
            }
            bda.args(&args.bda_qemu_arg);
            bda.arg("--transcript").arg(dir.join("transcript.jsonl"));
            bda.args(["--format", "json"]).stdout(Stdio::piped());
            let output = bda.output().map_err(|e| format!("cannot run bda-qemu: {e}"))?;
            let stdout = String::from_utf8_lossy(&output.stdout);
            for line in stdout.lines() {
                eprintln!("bda-testbed: bda-qemu: {line}");
            }
            let summary = stdout
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|v| v.get("type").and_then(Value::as_str) == Some("summary"))
                .and_then(|v| v.get("summary").cloned());
            match (output.status.code(), summary) {
                (Some(0), Some(s)) => ("completed".into(), s),
                (Some(3), Some(s)) => ("did-not-converge".into(), s),
                (code, _) => return Err(format!("bda-qemu failed (exit status {code:?})")),
            }
        }
    };
    let ended_us = now_us();

    let memory = if outcome == "completed" {
        // The destination may still be loading the stream after the source reports
        // completion, and loading the serial port's state would drop a byte sent now.
        let mut dst_qmp = QmpClient::connect(&dst_qmp, None).map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let info = dst_qmp.execute(&qapi::qmp::query_migrate {}).map_err(|e| e.to_string())?;
            let status = Snapshot::from_info(&info).status;
            if status == "completed" {
                break;
            }
            if status == "failed" || Instant::now() > deadline {
                return Err(format!("the destination's incoming migration ended {status}"));
            }
            thread::sleep(Duration::from_millis(50));
        }
        // Queue V before the destination runs, so it checks before it writes anything.
        (&dst_serial).write_all(b"V").map_err(|e| format!("destination serial: {e}"))?;
        thread::sleep(Duration::from_millis(100));
        dst_qmp.execute(&qapi::qmp::cont {}).map_err(|e| e.to_string())?;
        let verdict = wait_line(&dst_lines, &["bda-guest: verified", "bda-guest: FAILED"], Duration::from_secs(120))?;
        eprintln!("bda-testbed: destination guest: {verdict}");
        if verdict.contains("verified") { "verified".to_owned() } else { format!("LOST: {verdict}") }
    } else {
        "not checked (no migration)".to_owned()
    };

    let (a, b) = (sample_at(&samples, started_us), sample_at(&samples, ended_us));
    let (ra, rb) = (sample_at(&received, started_us), sample_at(&received, ended_us));
    let demanded = b.demanded.saturating_sub(a.demanded);
    let delivered = rb.received.saturating_sub(ra.received);
    let _ = b.dropped;
    let get = |k: &str| summary.get(k).and_then(Value::as_u64);
    let result = RunResult {
        policy: args.policy,
        workload: args.workload.clone(),
        memory_mib: args.memory_mib,
        label: args.label.clone(),
        congestion_control: args.cc.clone(),
        service: args.service,
        outcome,
        total_time_ms: get("total_time_ms"),
        downtime_ms: get("downtime_ms"),
        setup_time_ms: get("setup_time_ms"),
        rounds: get("rounds"),
        passes: get("passes").unwrap_or(0),
        transferred: get("transferred").unwrap_or(0),
        service_demanded: demanded,
        service_delivered: delivered,
        service_shortfall_percent: shortfall_percent(demanded, delivered),
        memory: memory.clone(),
    };
    if args.json {
        println!("{}", serde_json::to_string(&result).map_err(|e| e.to_string())?);
    } else {
        println!(
            "{:<12} {:<18} total {:>6} ms  downtime {:>5} ms  setup {:>4} ms  passes {:>3}  {:>7.1} MiB  service shortfall {:>5.1} %  memory {}",
            serde_json::to_value(args.policy).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
            result.outcome,
            result.total_time_ms.map_or("-".into(), |v| v.to_string()),
            result.downtime_ms.map_or("-".into(), |v| v.to_string()),
            result.setup_time_ms.map_or("-".into(), |v| v.to_string()),
            result.passes,
            mib(result.transferred),
            result.service_shortfall_percent,
            result.memory
        );
    }
    drop(children);
    Ok(if memory == "verified" || result.outcome == "did-not-converge" { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

#[allow(clippy::cast_precision_loss, clippy::as_conversions)] // display only
fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

#[allow(clippy::cast_precision_loss, clippy::as_conversions)] // a percentage for display
fn shortfall_percent(demanded: u64, delivered: u64) -> f64 {
    if demanded == 0 { 0.0 } else { demanded.saturating_sub(delivered) as f64 * 100.0 / demanded as f64 }
}

/// QEMU's own policy: migrate with its defaults and wait; cancel at the limit.
fn qemu_default(qmp_path: &Path, dst_addr: &str, max_time: Duration) -> Result<(String, Value), String> {
    let mut qmp = QmpClient::connect(qmp_path, None).map_err(|e| e.to_string())?;
    let uri = format!("tcp:{dst_addr}:4444");
    qmp.execute(&qapi::qmp::migrate { uri: Some(uri), channels: None, detach: None, resume: None })
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    loop {
        thread::sleep(Duration::from_millis(100));
        let info = qmp.execute(&qapi::qmp::query_migrate {}).map_err(|e| e.to_string())?;
        let s = Snapshot::from_info(&info);
        let summary = json!({
            "total_time_ms": s.total_time_ms, "downtime_ms": s.downtime_ms, "setup_time_ms": s.setup_time_ms,
            "passes": s.dirty_sync_count, "transferred": s.transferred,
        });
        match s.status.as_str() {
            "completed" => return Ok(("completed".into(), summary)),
            "failed" | "cancelled" => return Err(format!("QEMU's migration ended {}: {:?}", s.status, s.error)),
            _ if started.elapsed() > max_time => {
                qmp.execute(&qapi::qmp::migrate_cancel {}).map_err(|e| e.to_string())?;
                return Ok(("did-not-converge".into(), summary));
            }
            _ => {}
        }
    }
}

/// The paced sender: every 10 ms the demand grows by the profile's rate × 10 ms; what the
/// socket takes is sent; what waited longer than the deadline is dropped.
fn service_send(to: SocketAddr, profile: ServiceProfile, deadline: Duration) -> Result<ExitCode, String> {
    profile.validate()?;
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).map_err(|e| e.to_string())?;
    // A small send buffer, so "written" is close to "sent" and a congested link shows as drops.
    socket.set_send_buffer_size(64 * 1024).map_err(|e| e.to_string())?;
    socket.connect(&to.into()).map_err(|e| format!("service-send: cannot connect to {to}: {e}"))?;
    let mut stream: TcpStream = socket.into();
    stream.set_nonblocking(true).map_err(|e| e.to_string())?;
    let buffer = vec![0x5a_u8; 256 * 1024];
    let mut queue: VecDeque<(Instant, u64)> = VecDeque::new();
    let (mut demanded, mut sent, mut dropped) = (0_u64, 0_u64, 0_u64);
    let start = Instant::now();
    let mut tick = start;
    let mut report = start;
    let mut stdout = std::io::stdout();
    loop {
        let now = Instant::now();
        while tick <= now {
            let chunk = profile.rate_at(tick.duration_since(start)) / 100;
            // Between bursts the demand may be nothing: queue no empty chunk (writing 0
            // bytes would read as a closed socket).
            if chunk > 0 {
                queue.push_back((tick, chunk));
            }
            demanded = demanded.saturating_add(chunk);
            tick += Duration::from_millis(10);
        }
        while let Some(&(created, left)) = queue.front() {
            if now.duration_since(created) > deadline {
                dropped = dropped.saturating_add(left);
                queue.pop_front();
            } else {
                break;
            }
        }
        while let Some((_, left)) = queue.front_mut() {
            let n = usize::try_from(*left).unwrap_or(usize::MAX).min(buffer.len());
            match stream.write(buffer.get(..n).unwrap_or(&[])) {
                Ok(0) => return Err("service-send: the receiver closed".into()),
                Ok(written) => {
                    let written = u64::try_from(written).unwrap_or(0);
                    sent = sent.saturating_add(written);
                    *left = left.saturating_sub(written);
                    if *left == 0 {
                        queue.pop_front();
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(format!("service-send: {e}")),
            }
        }
        if now >= report {
            let line = json!({ "t_us": now_us(), "demanded": demanded, "sent": sent, "dropped": dropped });
            if writeln!(stdout, "{line}").and_then(|()| stdout.flush()).is_err() {
                return Ok(ExitCode::SUCCESS);
            }
            report += Duration::from_millis(100);
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// The receiver: counts what arrives.
fn service_recv(listen: SocketAddr) -> Result<ExitCode, String> {
    let listener = TcpListener::bind(listen).map_err(|e| format!("service-recv: cannot listen on {listen}: {e}"))?;
    let (mut stream, _) = listener.accept().map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_millis(100))).map_err(|e| e.to_string())?;
    let mut buffer = vec![0_u8; 256 * 1024];
    let mut received = 0_u64;
    let mut report = Instant::now();
    let mut stdout = std::io::stdout();
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return Ok(ExitCode::SUCCESS),
            Ok(n) => received = received.saturating_add(u64::try_from(n).unwrap_or(0)),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => return Err(format!("service-recv: {e}")),
        }
        if Instant::now() >= report {
            let line = json!({ "t_us": now_us(), "received": received });
            if writeln!(stdout, "{line}").and_then(|()| stdout.flush()).is_err() {
                return Ok(ExitCode::SUCCESS);
            }
            report += Duration::from_millis(100);
        }
    }
}

fn lost_page(guest: &Path, workdir: &Path) -> Result<ExitCode, String> {
    std::fs::create_dir_all(workdir).map_err(|e| e.to_string())?;
    let (qmp, serial) = (workdir.join("lost.qmp"), workdir.join("lost.serial"));
    for path in [&qmp, &serial] {
        let _ = std::fs::remove_file(path);
    }
    let mut children = Children::default();
    let mut command = qemu_command(None, guest, 32, "rate=2000");
    chardev_args(&mut command, &qmp, &serial);
    children.spawn("QEMU", &mut command)?;
    let stream = connect_retry(&serial, &mut children)?;
    let lines = serial_lines(&stream)?;
    wait_line(&lines, &["bda-guest: ready"], Duration::from_secs(30))?;
    thread::sleep(Duration::from_millis(300));
    (&stream).write_all(b"L").map_err(|e| e.to_string())?;
    let verdict = wait_line(&lines, &["bda-guest: verified", "bda-guest: FAILED"], Duration::from_secs(30))?;
    println!("{verdict}");
    Ok(if verdict.contains("FAILED") { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
