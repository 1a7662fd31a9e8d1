//! Faults found before any QEMU is touched: a clear message and exit status 1, never a hang.
//! `tests/faults.rs` has the faults met while talking to a (fake) QEMU, and shows there that a
//! missing interface is found before bda-qemu even connects, so no cap is touched.

use std::process::Command;

fn bda_qemu(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_bda-qemu")).args(args).output().unwrap();
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn no_socket() {
    let dir = std::env::temp_dir().join(format!("bda-qemu-cli-{}", std::process::id()));
    let socket = dir.join("no-such.qmp");
    let (code, stderr) = bda_qemu(&[
        "migrate",
        "--qmp",
        socket.to_str().unwrap(),
        "--uri",
        "tcp:127.0.0.1:1",
        "--iface",
        "lo",
        "--link-capacity",
        "100Mbit/s",
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("cannot connect to the QMP socket"), "{stderr}");
}

#[test]
fn missing_interface() {
    let (code, stderr) = bda_qemu(&[
        "migrate",
        "--qmp",
        "/nonexistent.qmp",
        "--uri",
        "tcp:127.0.0.1:1",
        "--iface",
        "bda-no-such0",
        "--link-capacity",
        "100Mbit/s",
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("interface bda-no-such0"), "{stderr}");
}

#[test]
fn bad_units_are_usage_errors() {
    let (code, stderr) =
        bda_qemu(&["migrate", "--qmp", "x", "--uri", "tcp:a:1", "--iface", "lo", "--link-capacity", "100Mbps"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("unknown rate unit"), "{stderr}");
}
