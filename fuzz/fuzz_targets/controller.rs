//! The controller under any configuration and any sequence of calls: no panic; calls out of
//! order are refused with the matching error; every allocation within the free bandwidth; the
//! migration ends within its round cap; a summary exactly when it is complete.
#![no_main]

use arbitrary::Arbitrary;
use bda_core::{
    AnyPolicy, Bytes, BytesPerSec, Controller, ControllerConfig, LinkSample, Next, PageSize, RoundReport,
    StopConditions, TickHz, Ticks,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Call {
    Begin { capacity: u64, other: u64, dt: u64 },
    Reassess { capacity: u64, other: u64, dt: u64 },
    End { sent: u64, dirtied: u64, remaining: u64, dt: u64 },
    StopAndCopy,
    Abort,
}

#[derive(Arbitrary, Debug)]
struct Input {
    memory: u64,
    tick_hz: u64,
    downtime_us: Option<u64>,
    max_rounds: u32,
    sent_percent: Option<u32>,
    min_pages: Option<u64>,
    ceiling: bool,
    non_convergence: Option<u32>,
    stall_us: Option<u64>,
    policy: u8,
    calls: Vec<Call>,
}

fuzz_target!(|input: Input| {
    let config = ControllerConfig {
        memory: Bytes(input.memory),
        page_size: PageSize::KIB_4,
        tick_hz: TickHz(input.tick_hz),
        stop: StopConditions {
            downtime_target_us: input.downtime_us,
            max_rounds: input.max_rounds,
            max_sent_percent_of_memory: input.sent_percent,
            min_remaining_pages: input.min_pages,
            ceiling_without_progress: input.ceiling,
        },
        non_convergence_rounds: input.non_convergence,
        stall_after_us: input.stall_us,
    };
    let policy = match input.policy % 3 {
        0 => AnyPolicy::bda(),
        1 => AnyPolicy::Pca(bda_core::Pca),
        _ => AnyPolicy::Static(bda_core::Static::QEMU_DEFAULT),
    };
    let Ok(mut controller) = Controller::<AnyPolicy>::new(config, policy) else {
        assert!(config.validate().is_err());
        return;
    };
    let mut now = 0_u64;
    let mut ended = 0_u32;
    let mut complete = false;
    for call in input.calls {
        match call {
            Call::Begin { capacity, other, dt } | Call::Reassess { capacity, other, dt } => {
                now = now.saturating_add(dt);
                let link = LinkSample::new(BytesPerSec(capacity), BytesPerSec(other));
                let result = if matches!(call, Call::Begin { .. }) {
                    controller.begin_round(link, Ticks(now))
                } else {
                    controller.reassess(link, Ticks(now))
                };
                if let Ok(plan) = result {
                    assert!(plan.allocation.migration <= plan.allocation.free);
                    assert!(plan.round <= input.max_rounds);
                }
            }
            Call::End { sent, dirtied, remaining, dt } => {
                now = now.saturating_add(dt);
                let report = RoundReport { sent: Bytes(sent), dirtied: Bytes(dirtied), remaining: Bytes(remaining) };
                if let Ok(verdict) = controller.end_round(report, Ticks(now)) {
                    ended += 1;
                    assert!(ended <= input.max_rounds, "more rounds than the cap");
                    if ended + 1 == input.max_rounds && verdict.next != Next::Complete {
                        assert_eq!(verdict.next, Next::StopAndCopy);
                    }
                    complete = verdict.next == Next::Complete;
                }
            }
            Call::StopAndCopy => {
                let _ = controller.request_stop_and_copy();
            }
            Call::Abort => {
                controller.abort();
                complete = false;
            }
        }
        assert_eq!(controller.summary().is_some(), complete);
    }
});
