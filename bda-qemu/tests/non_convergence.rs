//! The controller's non-convergence event and the action it triggers (`--on-non-convergence
//! log|auto-converge|cancel`), and BDA+'s unmet guard with `--on-unmet auto-converge`,
//! against a fake QEMU (see `fake_qemu`) whose every pass finds more dirty than was sent: the
//! event comes after three such rounds.

// The fake is shared with faults.rs; this file uses part of it.
#[allow(dead_code)]
mod fake_qemu;

use fake_qemu::{FakeQemu, Script, Step, at, attach, migrate, pass};
use serde_json::{Value, json};

/// Setup, then passes whose dirty set stays at 4 MiB while 2 MiB go out a reading, then the
/// end.
fn not_converging_then(last: Step) -> Vec<Step> {
    let mut steps = vec![at("setup")];
    steps.extend(std::iter::repeat_with(|| pass("active")).take(80));
    steps.push(last);
    steps
}

/// The throttle settings of a `migrate-set-parameters`, if it sets them.
fn throttle(parameters: &Value) -> Option<(u64, u64, u64)> {
    let get = |name| parameters.get(name).and_then(Value::as_u64);
    Some((get("cpu-throttle-initial")?, get("cpu-throttle-increment")?, get("max-cpu-throttle")?))
}

#[test]
fn auto_converge_is_on_from_the_start_held_at_1_percent_and_released_at_the_event() {
    let qemu = FakeQemu::start(Script::migrate(not_converging_then(at("completed"))));
    let run = migrate(&qemu, &["--on-non-convergence", "auto-converge"]);
    let record = qemu.finish();
    assert_eq!(run.code, Some(0), "{run:#?}");
    // Before `migrate`: the capability with the events, and the throttle held.
    let migrate_at = record.commands.iter().position(|c| c == "migrate").unwrap();
    let caps_at = record.commands.iter().position(|c| c == "migrate-set-capabilities").unwrap();
    assert!(caps_at < migrate_at, "{record:#?}");
    assert_eq!(
        record.set_capabilities[0],
        json!({"capabilities": [{"capability": "events", "state": true}, {"capability": "auto-converge", "state": true}]})
    );
    let throttles: Vec<(u64, u64, u64)> = record.set_parameters.iter().filter_map(throttle).collect();
    assert_eq!(throttles.first(), Some(&(1, 1, 1)), "{record:#?}");
    // At the event: the settings QEMU had (20 %, +10 %, at most 99 %); at the end the same
    // again with the caps, then the capability off.
    assert!(run.stderr.contains("not converging"), "{run:#?}");
    assert!(
        run.stderr.contains("released QEMU's auto-converge throttle: it starts at 20 %, rises by 10 %"),
        "{run:#?}"
    );
    assert_eq!(throttles.get(1), Some(&(20, 10, 99)), "{record:#?}");
    assert_eq!(throttles.last(), Some(&(20, 10, 99)), "{record:#?}");
    assert!(run.stderr.contains("and the auto-converge throttle settings; turned auto-converge off again"), "{run:#?}");
    assert_eq!(
        record.set_capabilities.last(),
        Some(&json!({"capabilities": [{"capability": "auto-converge", "state": false}]}))
    );
    assert_eq!(record.commands.last().map(String::as_str), Some("migrate-set-capabilities"));
    assert_eq!(record.last_sent("max-bandwidth"), Some(fake_qemu::FOUND_MAX_BANDWIDTH));
}

#[test]
fn an_unmet_bda_plus_guard_releases_the_throttle_with_on_unmet_auto_converge() {
    // A 1 s deadline cannot be met on the fake's link: round 1 already needs more than is
    // free. The reserve stays, and QEMU's auto-converge is let loose, once.
    let qemu = FakeQemu::start(Script::migrate(not_converging_then(at("completed"))));
    let args = ["--policy", "bda-plus", "--deadline", "1s", "--on-unmet", "auto-converge"];
    let run = migrate(&qemu, &args);
    let record = qemu.finish();
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(
        record.set_capabilities[0],
        json!({"capabilities": [{"capability": "events", "state": true}, {"capability": "auto-converge", "state": true}]})
    );
    assert!(run.stderr.contains("Deadline guard needs"), "{run:#?}");
    assert!(run.stderr.contains("the reserve stays; QEMU's auto-converge slows the guest"), "{run:#?}");
    assert_eq!(run.stderr.matches("released QEMU's auto-converge throttle").count(), 1, "{run:#?}");
    let throttles: Vec<(u64, u64, u64)> = record.set_parameters.iter().filter_map(throttle).collect();
    assert_eq!(throttles, vec![(1, 1, 1), (20, 10, 99), (20, 10, 99)], "{record:#?}");
    assert_eq!(
        record.set_capabilities.last(),
        Some(&json!({"capabilities": [{"capability": "auto-converge", "state": false}]}))
    );

    // `--on-unmet log` keeps the reserve too, but touches no throttle and says how it could.
    let qemu = FakeQemu::start(Script::migrate(not_converging_then(at("completed"))));
    let run = migrate(&qemu, &["--policy", "bda-plus", "--deadline", "1s", "--on-unmet", "log"]);
    let record = qemu.finish();
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.stderr.contains("--on-unmet auto-converge would let QEMU do it"), "{run:#?}");
    assert!(record.set_parameters.iter().all(|p| throttle(p).is_none()), "{record:#?}");
    record.assert_restored();
}

#[test]
fn log_only_says_so_and_touches_no_throttle() {
    let qemu = FakeQemu::start(Script::migrate(not_converging_then(at("completed"))));
    let run = migrate(&qemu, &[]);
    let record = qemu.finish();
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.stderr.contains("not converging: the dirty rate stayed at or above the migration rate"), "{run:#?}");
    assert!(record.set_parameters.iter().all(|p| throttle(p).is_none()), "{record:#?}");
    assert_eq!(record.set_capabilities, vec![json!({"capabilities": [{"capability": "events", "state": true}]})]);
    record.assert_restored();
}

#[test]
fn cancel_cancels_at_the_event_and_restores_the_caps() {
    let qemu = FakeQemu::start(Script::migrate(not_converging_then(at("completed"))));
    let run = migrate(&qemu, &["--on-non-convergence", "cancel"]);
    let record = qemu.finish();
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stderr.contains("cancelled the migration: round"), "{run:#?}");
    assert!(record.commands.iter().any(|c| c == "migrate_cancel"), "{record:#?}");
    record.assert_restored();
}

#[test]
fn attach_cannot_turn_auto_converge_on_in_a_running_migration() {
    for args in
        [&["--on-non-convergence", "auto-converge"][..], &["--policy", "bda-plus", "--on-unmet", "auto-converge"][..]]
    {
        let qemu = FakeQemu::start(Script::attach(not_converging_then(at("completed"))));
        let run = attach(&qemu, args);
        let record = qemu.finish();
        assert_eq!(run.code, Some(1), "{run:#?}");
        assert!(run.stderr.contains("the running migration has it off"), "{run:#?}");
        record.assert_untouched();
    }
}
