//! The round logic against a transcript recorded from a real migration on the test bed
//! (`tests/qemu/testbed.sh --policies bda --keep DIR`: QEMU 10.0.2 under TCG, a 128 MiB guest
//! dirtying 1000 pages/s over 16 MiB, 100 Mbit/s tbf link shared with a 20 Mbit/s service).

use bda_core::{AnyPolicy, Bytes, BytesPerSec};
use bda_qemu::steer::{Action, Input, MIN_CAP, OnNonConvergence, RoundLine, Steering, SteeringConfig};
use serde_json::Value;

const TRANSCRIPT: &str = include_str!("data/bda-testbed.jsonl");

fn records() -> Vec<Value> {
    TRANSCRIPT.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn steering(records: &[Value]) -> Steering {
    let config = records.iter().find_map(|r| r.get("config")).expect("the transcript records its settings");
    assert_eq!(config["policy"].as_str().unwrap().split('(').next(), Some("Bda"));
    Steering::new(SteeringConfig {
        capacity: BytesPerSec(config["capacity"].as_u64().unwrap()),
        memory: Bytes(config["memory"].as_u64().unwrap()),
        policy: AnyPolicy::bda(),
        window_us: config["window_us"].as_u64().unwrap(),
        header_overhead_ppm: config["header_overhead_ppm"].as_u64().unwrap(),
        on_non_convergence: OnNonConvergence::Log,
        throttle_on_unmet: false,
    })
}

/// The (input, recorded actions) pairs, in order.
fn steps(records: &[Value]) -> Vec<(Input, Vec<Action>)> {
    timed_steps(records).into_iter().map(|(_, input, actions)| (input, actions)).collect()
}

/// The same with the time each input was recorded.
fn timed_steps(records: &[Value]) -> Vec<(u64, Input, Vec<Action>)> {
    let mut steps = Vec::new();
    let mut pending = None;
    for record in records {
        if let Some(input) = record.get("input") {
            let at = record["t_us"].as_u64().unwrap();
            pending = Some((at, serde_json::from_value::<Input>(input.clone()).unwrap()));
        } else if let Some(actions) = record.get("actions") {
            let actions = serde_json::from_value::<Vec<Action>>(actions.clone()).unwrap();
            let (at, input) = pending.take().expect("actions follow an input");
            steps.push((at, input, actions));
        }
    }
    steps
}

#[test]
fn replaying_the_inputs_gives_the_recorded_actions() {
    let records = records();
    let mut steering = steering(&records);
    let steps = timed_steps(&records);
    assert!(steps.len() > 50, "a whole migration: {} steps", steps.len());
    // The driver sets round 1's caps after the link's warm-up samples, just before `migrate`
    // (they are in the transcript as the first migrate-set-parameters sent).
    let (first_cap, set_at) = records
        .iter()
        .find_map(|r| Some((r.get("qmp_out")?["arguments"]["max-bandwidth"].as_u64()?, r["t_us"].as_u64()?)))
        .unwrap();
    let mut started = false;
    for (i, (at, input, recorded)) in steps.iter().enumerate() {
        if !started && *at > set_at {
            started = true;
            let initial = steering.initial();
            assert_eq!(initial.first(), Some(&Action::SetMaxBandwidth(first_cap)));
        }
        assert_eq!(&steering.step(input).unwrap(), recorded, "step {i}: {input:?}");
    }
}

#[test]
fn one_round_per_pass_ending_in_stop_and_copy_and_a_cap_never_zero() {
    let records = records();
    let steps = steps(&records);
    let passes = steps.iter().filter(|(i, _)| matches!(i, Input::Pass { .. })).count();
    let lines: Vec<&RoundLine> = steps
        .iter()
        .flat_map(|(_, a)| a)
        .filter_map(|a| if let Action::Round(line) = a { Some(line) } else { None })
        .collect();
    assert_eq!(lines.len(), passes);
    for (k, line) in lines.iter().enumerate() {
        assert_eq!(line.round as usize, k + 1);
    }
    assert_eq!(lines.last().unwrap().kind, "stop-and-copy");
    assert!(lines[1..lines.len() - 1].iter().all(|l| l.kind == "live"));
    let capacity = records.iter().find_map(|r| r.get("config")).unwrap()["capacity"].as_u64().unwrap();
    for (_, actions) in &steps {
        for action in actions {
            if let Action::SetMaxBandwidth(rate) | Action::SetSwitchoverBandwidth(rate) = action {
                assert!((MIN_CAP..=capacity).contains(rate), "{action:?}");
            }
        }
    }
}

#[test]
fn each_live_rounds_dirty_rate_is_the_syncs_new_pages_over_the_pass() {
    // Recomputed here from the recorded inputs alone: the bytes the sync found beyond those
    // left unsent at the last reading, over the time between the two passes' events.
    let records = records();
    let steps = steps(&records);
    let mut last_pass: Option<u64> = None;
    let mut reading: Option<(u64, u64)> = None;
    let mut checked = 0;
    let mut paused = false;
    for (input, actions) in &steps {
        match input {
            Input::Sample { counters, remaining } if last_pass.is_some() => {
                reading = Some((counters.migration, *remaining));
            }
            Input::Paused { .. } => paused = true,
            Input::Pass { at_us, snapshot, .. } => {
                if let (Some(previous), false) = (last_pass, paused) {
                    let (t, r) = reading.unwrap();
                    let leftover = r.saturating_sub(snapshot.transferred - t);
                    let dirtied = snapshot.remaining.saturating_sub(leftover);
                    let expected = u128::from(dirtied) * 1_000_000 / u128::from(at_us - previous);
                    let line =
                        actions.iter().find_map(|a| if let Action::Round(l) = a { Some(l) } else { None }).unwrap();
                    assert_eq!(u128::from(line.dirty_rate.unwrap()), expected, "round {}", line.round);
                    assert_eq!(line.leftover, Some(leftover));
                    checked += 1;
                }
                last_pass = Some(*at_us);
                reading = Some((snapshot.transferred, snapshot.remaining));
            }
            _ => {}
        }
    }
    assert!(checked >= 2, "checked {checked} live rounds");
}

#[test]
fn the_driver_sent_qemu_what_the_logic_decided_and_restored_the_cap_it_found() {
    let records = records();
    let decided: Vec<u64> = steps(&records)
        .into_iter()
        .flat_map(|(_, a)| a)
        .filter_map(|a| if let Action::SetMaxBandwidth(r) = a { Some(r) } else { None })
        .collect();
    let sent: Vec<u64> = records
        .iter()
        .filter_map(|r| r.get("qmp_out"))
        .filter(|c| c["execute"] == "migrate-set-parameters")
        .filter_map(|c| c["arguments"]["max-bandwidth"].as_u64())
        .collect();
    // The initial cap is set before the first input (round 1's preview); the last is the restore.
    let found = records
        .iter()
        .filter_map(|r| r.get("qmp_in"))
        .find_map(|m| m["return"]["max-bandwidth"].as_u64())
        .expect("query-migrate-parameters' reply");
    assert_eq!(sent.last(), Some(&found), "the cap found ({found} B/s) is restored last");
    assert_eq!(&sent[1..sent.len() - 1], &decided[..], "every decided cap was sent, in order");
    assert!(sent.iter().all(|&r| r > 0), "QEMU reads 0 as unlimited");
    let events = records.iter().filter_map(|r| r.get("qmp_in")).filter(|m| m["event"] == "MIGRATION_PASS").count();
    let passes = steps(&records).iter().filter(|(i, _)| matches!(i, Input::Pass { .. })).count();
    assert_eq!(events, passes, "every MIGRATION_PASS became a round");
}
