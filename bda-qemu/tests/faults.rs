//! Faults met while steering, against a fake QEMU (see `fake_qemu`): each ends with exit status
//! 1 and a message naming the fault, never a hang, and with the `max-bandwidth` and
//! `avail-switchover-bandwidth` QEMU had at the start put back whenever QEMU is still there to
//! hear it. A completed migration is the control: the same fake QEMU, no fault, exit 0.

mod fake_qemu;

use std::process::Command;

use fake_qemu::{
    FakeQemu, Fault, Greeting, Run, Script, at, attach, failed, migrate, migrate_args, pass, run_bda_qemu,
    run_bda_qemu_watching, shutdown,
};

/// A migration that gets going: setup, a first pass, readings, a second pass, readings.
fn going() -> Vec<fake_qemu::Step> {
    vec![at("setup"), pass("active"), at("active"), at("active"), pass("active"), at("active"), at("active")]
}

fn going_then(last: fake_qemu::Step) -> Vec<fake_qemu::Step> {
    let mut steps = going();
    steps.push(last);
    steps
}

/// Exit status 1 and every one of `needles` on stderr.
fn assert_fault(run: &Run, needles: &[&str]) {
    assert_eq!(run.code, Some(1), "{run:#?}");
    for needle in needles {
        assert!(run.stderr.contains(needle), "stderr lacks {needle:?}: {run:#?}");
    }
}

#[test]
fn a_completed_migration_exits_0_and_restores_the_caps() {
    let qemu = FakeQemu::start(Script::migrate(going_then(at("completed"))));
    let run = migrate(&qemu, &[]);
    let record = qemu.finish();
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.stdout.contains("completed: total"), "{run:#?}");
    assert!(run.stderr.contains("restored max-bandwidth 33554432 B/s"), "{run:#?}");
    record.assert_restored();
}

#[test]
fn a_qmp_error_reply_mid_migration() {
    // The 1st query-migrate is bda-qemu's look before it starts; the 5th is mid-migration.
    let desc = "Migration is disabled while the VM is being reconfigured";
    let script = Script::migrate(going()).with(Fault::Error { command: "query-migrate", nth: 5, desc });
    let qemu = FakeQemu::start(script);
    let run = migrate(&qemu, &[]);
    let record = qemu.finish();
    assert_fault(&run, &[&format!("QEMU refused query-migrate: {desc} (GenericError)"), "restored max-bandwidth"]);
    record.assert_restored();
}

#[test]
fn a_qmp_error_reply_to_setting_the_cap() {
    let desc = "Parameter 'max_bandwidth' expects an integer in the range of 0 to 18446744073709551615 bytes/second";
    let script = Script::migrate(going()).with(Fault::Error { command: "migrate-set-parameters", nth: 1, desc });
    let qemu = FakeQemu::start(script);
    let run = migrate(&qemu, &[]);
    let record = qemu.finish();
    assert_fault(&run, &[&format!("QEMU refused migrate-set-parameters: {desc}")]);
    assert!(!record.commands.iter().any(|c| c == "migrate"), "it started a migration it could not cap: {record:#?}");
    record.assert_restored();
}

#[test]
fn qemu_not_migratable() {
    let desc = "State blocked by non-migratable device '0000:00:04.0/testdev'";
    let script = Script::migrate(going()).with(Fault::Error { command: "migrate", nth: 1, desc });
    let qemu = FakeQemu::start(script);
    let run = migrate(&qemu, &[]);
    let record = qemu.finish();
    assert_fault(&run, &[&format!("QEMU refused migrate: {desc}")]);
    record.assert_restored();
}

#[test]
fn a_migration_that_fails_at_once() {
    let desc = "Failed to connect to '127.0.0.1:1': Connection refused";
    let qemu = FakeQemu::start(Script::migrate(vec![at("setup"), failed(desc)]));
    let run = migrate(&qemu, &[]);
    let record = qemu.finish();
    assert_fault(&run, &[&format!("the migration failed: {desc}")]);
    record.assert_restored();
}

#[test]
fn a_migration_failing_mid_way() {
    let desc = "Unable to write to socket: Broken pipe";
    let qemu = FakeQemu::start(Script::migrate(going_then(failed(desc))));
    let run = migrate(&qemu, &[]);
    let record = qemu.finish();
    assert_fault(&run, &[&format!("the migration failed: {desc}")]);
    record.assert_restored();
}

#[test]
fn a_migration_cancelled_by_someone_else() {
    let mut steps = going();
    steps.extend([at("cancelling"), at("cancelled")]);
    let qemu = FakeQemu::start(Script::migrate(steps));
    let run = migrate(&qemu, &[]);
    let record = qemu.finish();
    assert_fault(&run, &["the migration was cancelled by someone else"]);
    assert!(!record.commands.iter().any(|c| c == "migrate_cancel"), "{record:#?}");
    record.assert_restored();
}

#[test]
fn qemu_not_answering_a_command() {
    let script = Script::migrate(going()).with(Fault::Silent { command: "query-migrate", nth: 5 });
    let qemu = FakeQemu::start(script);
    let run = migrate(&qemu, &[]);
    let record = qemu.finish();
    assert_fault(&run, &["QEMU did not answer query-migrate within 10 s", "restored max-bandwidth"]);
    record.assert_restored();
}

#[test]
fn qemu_exiting_mid_migration() {
    let script = Script::migrate(going()).with(Fault::Exit { command: "query-migrate", nth: 6 });
    let qemu = FakeQemu::start(script);
    let run = migrate(&qemu, &[]);
    let record = qemu.finish();
    // No QEMU to restore the cap on: say so, and do not wait for it.
    assert_fault(&run, &["QEMU closed the QMP connection", "QEMU is gone: no cap to restore"]);
    assert_eq!(record.commands.iter().filter(|c| *c == "query-migrate").count(), 6, "{record:#?}");
    // It noticed at once, not after waiting out a command's timeout.
    assert!(run.elapsed < bda_qemu::qmp::COMMAND_TIMEOUT, "{run:#?}");
}

#[test]
fn qemu_exiting_while_the_cap_is_set() {
    let script = Script::migrate(going()).with(Fault::Exit { command: "migrate-set-parameters", nth: 2 });
    let qemu = FakeQemu::start(script);
    let run = migrate(&qemu, &[]);
    let record = qemu.finish();
    assert_fault(&run, &["QEMU closed the QMP connection", "QEMU is gone: no cap to restore"]);
    assert!(!record.commands.iter().any(|c| c == "migrate"), "{record:#?}");
}

#[test]
fn qemu_shutting_down_mid_migration() {
    let qemu = FakeQemu::start(Script::migrate(going_then(shutdown())));
    let run = migrate(&qemu, &[]);
    drop(qemu.finish());
    assert_fault(&run, &["QEMU is shutting down mid-migration (host-qmp-quit)", "QEMU is gone: no cap to restore"]);
}

#[test]
fn interrupted_mid_migration() {
    // A migration that goes on for ever, until bda-qemu gets SIGTERM.
    let qemu = FakeQemu::start(Script::migrate(going()));
    let mut signalled = false;
    let run = run_bda_qemu_watching(qemu.dir(), &migrate_args(&qemu), |pid| {
        let readings = qemu.record().commands.iter().filter(|c| *c == "query-migrate").count();
        if !signalled && readings >= 8 {
            let status = Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
            assert!(status.success());
            signalled = true;
        }
    });
    let record = qemu.finish();
    assert!(signalled, "{run:#?}");
    assert_fault(&run, &["error: interrupted", "restored max-bandwidth"]);
    record.assert_restored();
}

#[test]
fn attach_to_a_migration_that_fails() {
    let desc = "Unable to write to socket: Connection reset by peer";
    let steps =
        vec![at("active"), pass("active"), at("active"), at("active"), pass("active"), at("active"), failed(desc)];
    let qemu = FakeQemu::start(Script::attach(steps));
    let run = attach(&qemu, &[]);
    let record = qemu.finish();
    assert_fault(&run, &[&format!("the migration failed: {desc}")]);
    assert!(!record.commands.iter().any(|c| c == "migrate"), "{record:#?}");
    record.assert_restored();
}

#[test]
fn attach_and_qemu_exits() {
    let steps = vec![at("active"), pass("active"), at("active"), at("active")];
    let qemu = FakeQemu::start(Script::attach(steps).with(Fault::Exit { command: "query-migrate", nth: 4 }));
    let run = attach(&qemu, &[]);
    drop(qemu.finish());
    assert_fault(&run, &["QEMU closed the QMP connection", "QEMU is gone: no cap to restore"]);
}

#[test]
fn attach_with_the_events_capability_off_touches_no_cap() {
    let qemu = FakeQemu::start(Script { events: false, ..Script::attach(going()) });
    let run = attach(&qemu, &[]);
    let record = qemu.finish();
    assert_fault(&run, &["the events capability off"]);
    record.assert_untouched();
}

#[test]
fn attach_with_no_migration_running() {
    let qemu = FakeQemu::start(Script { running: false, ..Script::attach(going()) });
    let run = attach(&qemu, &[]);
    let record = qemu.finish();
    assert_fault(&run, &["no migration is running"]);
    record.assert_untouched();
}

#[test]
fn a_missing_interface_is_found_before_qemu_is_touched() {
    for option in ["--iface", "--service-iface"] {
        let qemu = FakeQemu::start(Script::migrate(going()));
        let iface = if option == "--iface" { "bda-no-such0" } else { "lo" };
        let mut args = vec!["migrate", "--qmp", qemu.socket(), "--uri", "tcp:127.0.0.1:1", "--iface", iface];
        args.extend(["--link-capacity", "100Mbit/s"]);
        if option == "--service-iface" {
            args.extend(["--service-iface", "bda-no-such0"]);
        }
        let run = run_bda_qemu(qemu.dir(), &args);
        let record = qemu.finish();
        assert_fault(&run, &["interface bda-no-such0"]);
        assert!(!record.connected, "{option}: {record:#?}");
        record.assert_untouched();
    }
}

#[test]
fn a_socket_that_is_not_qmp() {
    let qemu = FakeQemu::start(Script { greeting: Greeting::NotQmp, ..Script::migrate(going()) });
    let run = migrate(&qemu, &[]);
    let record = qemu.finish();
    assert_fault(&run, &["not a QMP socket"]);
    record.assert_untouched();
}

#[test]
fn a_qemu_that_sends_no_greeting() {
    // QEMU serves one QMP client at a time: a second one is connected but hears nothing.
    let qemu = FakeQemu::start(Script { greeting: Greeting::Silent, ..Script::migrate(going()) });
    let run = migrate(&qemu, &[]);
    let record = qemu.finish();
    assert_fault(&run, &["no QMP greeting", "another client"]);
    record.assert_untouched();
}
