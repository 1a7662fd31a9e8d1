//! BDA+ in the round logic, on synthetic observations: a guard that cannot be met cancels the
//! migration when told to, is noted and takes the link otherwise, and the service's measured
//! traffic becomes the reserve.

use bda_core::{AnyPolicy, BdaPlus, BdaPlusConfig, Bytes, BytesPerSec, UnmetAction};
use bda_qemu::meter::Counters;
use bda_qemu::steer::{Action, Input, OnNonConvergence, Snapshot, Steering, SteeringConfig};

const CAPACITY: u64 = 12_500_000;
const MEMORY: u64 = 128 << 20;

fn steering(config: BdaPlusConfig) -> Steering {
    Steering::new(SteeringConfig {
        capacity: BytesPerSec(CAPACITY),
        memory: Bytes(MEMORY),
        policy: AnyPolicy::BdaPlus(BdaPlus::new(config).unwrap()),
        window_us: 1_000_000,
        header_overhead_ppm: 0,
        on_non_convergence: OnNonConvergence::Log,
        throttle_on_unmet: false,
    })
}

/// A second of link samples every 100 ms: 1 MB/s of other traffic, and the service at
/// `service` B/s on its own counter when given.
fn warm_up(s: &mut Steering, service: Option<u64>) {
    for i in 0..=10_u64 {
        let counters = Counters {
            at_us: i * 100_000,
            iface_tx: i * 100_000 + service.map_or(0, |r| r * i / 10),
            migration: 0,
            service: service.map(|r| r * i / 10),
        };
        s.step(&Input::Sample { counters, remaining: 0 }).unwrap();
    }
}

fn first_pass(s: &mut Steering) -> Vec<Action> {
    let snapshot = Snapshot {
        status: "active".into(),
        remaining: MEMORY,
        page_size: 4096,
        dirty_sync_count: 1,
        ..Snapshot::default()
    };
    s.step(&Input::Pass { pass: 1, at_us: 1_000_000, snapshot }).unwrap()
}

fn round_rule(actions: &[Action]) -> Option<String> {
    actions.iter().find_map(|a| match a {
        Action::Round(line) => Some(line.rule.clone()),
        _ => None,
    })
}

#[test]
fn an_unmeetable_deadline_cancels_when_told_to() {
    // 128 MiB by half of a 2 s deadline needs 134 MB/s; 11.5 MB/s are free.
    let config =
        BdaPlusConfig { deadline_us: Some(2_000_000), on_unmet: UnmetAction::Abort, ..BdaPlusConfig::default() };
    let mut s = steering(config);
    warm_up(&mut s, None);
    let actions = first_pass(&mut s);
    let cancel = actions.iter().find_map(|a| match a {
        Action::Cancel(reason) => Some(reason.clone()),
        _ => None,
    });
    let reason = cancel.expect("a cancel action");
    assert!(reason.contains("Deadline guard cannot be met") && reason.contains("11500000 B/s are free"), "{reason}");
}

#[test]
fn an_unmeetable_deadline_is_noted_and_takes_the_link_otherwise() {
    let config = BdaPlusConfig { deadline_us: Some(2_000_000), ..BdaPlusConfig::default() };
    let mut s = steering(config);
    warm_up(&mut s, None);
    let actions = first_pass(&mut s);
    assert_eq!(round_rule(&actions).as_deref(), Some("DeadlineGuard"));
    assert!(actions.contains(&Action::SetMaxBandwidth(11_500_000)), "{actions:?}");
    assert!(
        actions.iter().any(|a| matches!(a, Action::Note(n) if n.contains("the migration takes all of it"))),
        "{actions:?}"
    );
    assert!(!actions.iter().any(|a| matches!(a, Action::Cancel(_))));
}

#[test]
fn the_services_measured_traffic_is_reserved_in_round_1() {
    // The service sends 3 MB/s on its own counter: the learned reserve keeps it.
    let mut s = steering(BdaPlusConfig::default());
    warm_up(&mut s, Some(3_000_000));
    assert_eq!(s.link().service_reserve, Some(BytesPerSec(3_000_000)));
    let actions = first_pass(&mut s);
    assert_eq!(round_rule(&actions).as_deref(), Some("FirstRound"));
    assert!(actions.contains(&Action::SetMaxBandwidth(8_500_000)), "{actions:?}");
    // Without a service counter nothing is learned, and round 1 gets all free bandwidth.
    let mut s = steering(BdaPlusConfig::default());
    warm_up(&mut s, None);
    assert_eq!(s.link().service_reserve, None);
    assert!(first_pass(&mut s).contains(&Action::SetMaxBandwidth(11_500_000)));
}
