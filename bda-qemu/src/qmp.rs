//! A QMP client over a Unix socket, with the commands and events typed by the `qapi` crate
//! (generated from QEMU's own schema).
//!
//! `qapi`'s blocking client reads events only while it waits for a command's response, so a
//! `MIGRATION_PASS` would reach us only at the next command. bda-qemu must react to it at
//! once (`ram.remaining` right after the event is the pass's dirty set), so a reader thread
//! decodes every line as it arrives and hands it over a channel; commands are encoded with
//! `qapi`'s [`Execute`](qapi::Execute) and their replies decoded into the command's typed
//! result. Every line in either direction can be written to a transcript.

use std::collections::VecDeque;
use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::transcript::Transcript;

/// How long a command may take before the client gives up on QEMU.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// What went wrong talking to QEMU.
#[derive(Debug)]
pub enum QmpError {
    /// The socket could not be opened.
    Connect(String, std::io::Error),
    /// Reading or writing the socket failed.
    Io(std::io::Error),
    /// QEMU closed the connection (it exited, or another client took over).
    Closed,
    /// QEMU did not answer a command in time.
    Timeout(&'static str),
    /// The socket accepted the connection but sent no greeting in time: QEMU serves one QMP
    /// client at a time and leaves the next one waiting in silence.
    NoGreeting(String),
    /// The socket's first line is not a QMP greeting: it is not QEMU's.
    NotQmp(String, String),
    /// QEMU answered a command with an error.
    Command {
        /// The command.
        command: &'static str,
        /// QEMU's error class.
        class: String,
        /// QEMU's description.
        desc: String,
    },
    /// A message did not have the expected shape.
    Protocol(String),
}

impl fmt::Display for QmpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect(path, e) => write!(f, "cannot connect to the QMP socket {path}: {e}"),
            Self::Io(e) => write!(f, "QMP socket: {e}"),
            Self::Closed => write!(f, "QEMU closed the QMP connection (did it exit?)"),
            Self::Timeout(command) => {
                write!(f, "QEMU did not answer {command} within {} s", COMMAND_TIMEOUT.as_secs())
            }
            Self::NoGreeting(path) => write!(
                f,
                "{path} sent no QMP greeting within {} s: is another client connected to it? \
                 (QEMU serves one QMP client at a time)",
                COMMAND_TIMEOUT.as_secs()
            ),
            Self::NotQmp(path, line) => write!(f, "{path} is not a QMP socket: it said {line:?}"),
            Self::Command { command, class, desc } => write!(f, "QEMU refused {command}: {desc} ({class})"),
            Self::Protocol(what) => write!(f, "unexpected QMP message: {what}"),
        }
    }
}

impl std::error::Error for QmpError {}

/// An asynchronous QMP event: its name, its data and QEMU's timestamp.
#[derive(Clone, Debug, PartialEq)]
pub struct QmpEvent {
    /// The event's name, such as `MIGRATION_PASS`.
    pub name: String,
    /// Its `data` member (`null` when it has none).
    pub data: Value,
    /// QEMU's timestamp (wall clock), in microseconds since the Unix epoch.
    pub timestamp_us: u64,
}

impl QmpEvent {
    /// Reads an event out of a decoded QMP line, if it is one.
    pub fn from_json(value: &Value) -> Option<Self> {
        let name = value.get("event")?.as_str()?.to_owned();
        let ts = value.get("timestamp");
        let seconds = ts.and_then(|t| t.get("seconds")).and_then(Value::as_u64).unwrap_or(0);
        let micros = ts.and_then(|t| t.get("microseconds")).and_then(Value::as_u64).unwrap_or(0);
        let data = value.get("data").cloned().unwrap_or(Value::Null);
        Some(Self { name, data, timestamp_us: seconds.saturating_mul(1_000_000).saturating_add(micros) })
    }

    /// The event typed by QEMU's schema, when this build of the schema knows it.
    pub fn typed(&self) -> Option<qapi::qmp::Event> {
        let mut value = serde_json::json!({ "event": self.name, "data": self.data });
        if let Some(object) = value.as_object_mut() {
            object.insert(
                "timestamp".into(),
                serde_json::json!({
                    "seconds": self.timestamp_us / 1_000_000,
                    "microseconds": self.timestamp_us % 1_000_000,
                }),
            );
        }
        serde_json::from_value(value).ok()
    }
}

enum Incoming {
    Line(Value),
    Closed,
    Garbage(String),
}

/// A connected QMP session.
pub struct QmpClient {
    writer: UnixStream,
    incoming: Receiver<Incoming>,
    events: VecDeque<QmpEvent>,
    transcript: Option<Arc<Mutex<Transcript>>>,
    next_id: u64,
    /// QEMU's version, from its greeting: (major, minor, micro).
    pub version: (i64, i64, i64),
}

impl QmpClient {
    /// Connects to QEMU's QMP socket at `path`, reads its greeting and leaves capability
    /// negotiation mode. Every line is copied to `transcript` when one is given.
    pub fn connect(path: &Path, transcript: Option<Arc<Mutex<Transcript>>>) -> Result<Self, QmpError> {
        let stream = UnixStream::connect(path).map_err(|e| QmpError::Connect(path.display().to_string(), e))?;
        let reader = stream.try_clone().map_err(QmpError::Io)?;
        let (tx, rx) = mpsc::channel();
        let log = transcript.clone();
        thread::spawn(move || {
            for line in BufReader::new(reader).lines() {
                let Ok(line) = line else { break };
                let message = match serde_json::from_str::<Value>(&line) {
                    Ok(value) => {
                        if let Some(log) = &log
                            && let Ok(mut log) = log.lock()
                        {
                            log.qmp_in(&value);
                        }
                        Incoming::Line(value)
                    }
                    Err(_) => Incoming::Garbage(line),
                };
                if tx.send(message).is_err() {
                    return;
                }
            }
            let _ = tx.send(Incoming::Closed);
        });
        let mut client =
            Self { writer: stream, incoming: rx, events: VecDeque::new(), transcript, next_id: 0, version: (0, 0, 0) };
        let shown = path.display().to_string();
        let greeting = client.receive(Instant::now() + COMMAND_TIMEOUT, "the QMP greeting").map_err(|e| match e {
            QmpError::Timeout(_) => QmpError::NoGreeting(shown.clone()),
            QmpError::Protocol(line) => QmpError::NotQmp(shown.clone(), line),
            e => e,
        })?;
        let caps: qapi::qmp::QapiCapabilities = serde_json::from_value(greeting.clone())
            .map_err(|_| QmpError::NotQmp(shown.clone(), greeting.to_string()))?;
        let v = &caps.QMP.version.qemu;
        client.version = (v.major, v.minor, v.micro);
        client.execute(&qapi::qmp::qmp_capabilities { enable: None })?;
        Ok(client)
    }

    /// Runs `command` and returns its typed result.
    pub fn execute<C: qapi::Command>(&mut self, command: &C) -> Result<C::Ok, QmpError> {
        self.next_id = self.next_id.wrapping_add(1);
        let id = self.next_id;
        let request = serde_json::to_value(qapi::Execute::<&C, u64>::with_id(command, id))
            .map_err(|e| QmpError::Protocol(format!("cannot encode {}: {e}", C::NAME)))?;
        if let Some(log) = &self.transcript
            && let Ok(mut log) = log.lock()
        {
            log.qmp_out(&request);
        }
        let mut line = request.to_string();
        line.push('\n');
        self.writer.write_all(line.as_bytes()).map_err(|e| match e.kind() {
            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => QmpError::Closed,
            _ => QmpError::Io(e),
        })?;
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            let value = self.receive(deadline, C::NAME)?;
            if value.get("id").and_then(Value::as_u64) != Some(id) {
                continue; // a reply to an earlier command that timed out
            }
            let response: qapi::qmp::QmpMessage<C::Ok> = serde_json::from_value(value.clone())
                .map_err(|e| QmpError::Protocol(format!("reply to {}: {e}: {value}", C::NAME)))?;
            return match response {
                qapi::qmp::QmpMessage::Response(response) => response.result().map_err(|e| QmpError::Command {
                    command: C::NAME,
                    class: format!("{:?}", e.class),
                    desc: e.desc,
                }),
                qapi::qmp::QmpMessage::Event(_) => Err(QmpError::Protocol(format!("an event as reply to {}", C::NAME))),
            };
        }
    }

    /// The next event, waiting up to `timeout` for one; `None` when none came.
    pub fn next_event(&mut self, timeout: Duration) -> Result<Option<QmpEvent>, QmpError> {
        if let Some(event) = self.events.pop_front() {
            return Ok(Some(event));
        }
        match self.incoming.recv_timeout(timeout) {
            Ok(Incoming::Line(value)) => Ok(Some(
                QmpEvent::from_json(&value)
                    .ok_or_else(|| QmpError::Protocol(format!("a reply nobody asked for: {value}")))?,
            )),
            Ok(Incoming::Closed) | Err(RecvTimeoutError::Disconnected) => Err(QmpError::Closed),
            Ok(Incoming::Garbage(line)) => Err(QmpError::Protocol(line)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
        }
    }

    /// Takes the first queued event named `name`, if one came in while waiting for a reply.
    pub fn take_event(&mut self, name: &str) -> Option<QmpEvent> {
        let index = self.events.iter().position(|e| e.name == name)?;
        self.events.remove(index)
    }

    /// The next line that is not an event; events met on the way are queued.
    fn receive(&mut self, deadline: Instant, what: &'static str) -> Result<Value, QmpError> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.incoming.recv_timeout(left) {
                Ok(Incoming::Line(value)) => match QmpEvent::from_json(&value) {
                    Some(event) => self.events.push_back(event),
                    None => return Ok(value),
                },
                Ok(Incoming::Closed) | Err(RecvTimeoutError::Disconnected) => return Err(QmpError::Closed),
                Ok(Incoming::Garbage(line)) => return Err(QmpError::Protocol(line)),
                Err(RecvTimeoutError::Timeout) => return Err(QmpError::Timeout(what)),
            }
        }
    }
}
