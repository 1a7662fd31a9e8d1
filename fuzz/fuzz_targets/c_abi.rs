//! The C ABI with arbitrary configurations and arbitrary sequences of calls, extreme
//! arguments, short buffers and NULL pointers included: no crash (ASan watches every
//! buffer), a refused call writes no output, and every accepted allocation stays within the
//! free bandwidth. BDA+ (half the inputs pick it) reports its guards consistently, and an
//! unmet guard that aborts leaves the migration aborted. The link filter, with arbitrary
//! settings and readings, feeds the `_link` round calls, which also take arbitrary links
//! and progress, their flags out of range included.
#![no_main]

use std::ptr;

use arbitrary::Arbitrary;
use bda::*;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Config {
    policy: u32,
    memory_bytes: u64,
    page_size_bytes: u64,
    tick_hz: u64,
    floor_ppm: u32,
    coefficients: u32,
    max_rounds: u32,
    max_sent_percent: u32,
    unit_bytes: u64,
    burst_bytes: u64,
    bda_plus: bool,
    /// Taken modulo 1,100,001: mostly in range, sometimes above (raw values would almost
    /// never be valid, and BDA+ would rarely initialise).
    max_dirty_ratio_ppm: u32,
    /// Taken modulo 5: the three actions, and 0 and 4, which are refused.
    on_unmet: u8,
    deadline_us: u64,
    first_round_reserve: u64,
    /// Taken modulo 4: the two sources, and 0 and 3, which are refused.
    reserve_source: u8,
    use_defaults: [bool; 15],
    filter: FilterConfig,
}

#[derive(Arbitrary, Debug)]
struct FilterConfig {
    tick_hz: u64,
    usage_rise_us: u64,
    usage_fall_us: u64,
    service_tau_us: u64,
    /// Mostly in range (modulo 300), sometimes above 255, which is refused.
    service_deviations: u16,
}

#[derive(Arbitrary, Debug)]
struct Link {
    capacity: u64,
    other: u64,
    service: u64,
    /// Taken modulo 3: 0 and 1, and 2, which is refused.
    flag: u8,
}

#[derive(Arbitrary, Debug)]
struct Progress {
    remaining: u64,
    dirtied: u64,
    /// Taken modulo 3, as `Link::flag`.
    flag: u8,
}

/// One C call. A `BeginLink` or `ReassessLink` without a `link` plans with the filter's last
/// output.
#[derive(Arbitrary, Debug)]
enum Call {
    Begin { capacity: u64, other: u64, dt: u32, null: bool },
    Reassess { capacity: u64, other: u64, dt: u32 },
    BeginLink { link: Option<Link>, dt: u32 },
    ReassessLink { link: Option<Link>, progress: Option<Progress>, dt: u32 },
    Filter { capacity: u64, other: u64, service: u64, measured: u8, dt: u32 },
    End { sent: u64, dirtied: u64, remaining: u64, dt: u32, null: bool },
    StopAndCopy,
    Abort,
    Summary,
    Telemetry,
    PacerSetRate { rate: u64 },
    PacerTry { dt: u32 },
    PacerNext,
    Predict { dirty: Vec<u64>, short: u8 },
}

#[derive(Arbitrary, Debug)]
struct Input {
    config: Config,
    calls: Vec<Call>,
}

/// What every plan call keeps: an accepted plan divides the free bandwidth and reports its
/// guard consistently; a refused one is not written; nothing succeeds after an abort.
fn check_plan(plan: &bda_plan, status: bda_status, policy: u32, aborted: &mut bool) {
    if status != bda_status::BDA_OK {
        assert_eq!(plan.round, u32::MAX, "a refused call wrote its output");
        if status == bda_status::BDA_ERR_GUARD_UNMET {
            assert_eq!(policy, BDA_POLICY_BDA_PLUS);
            *aborted = true;
        }
        return;
    }
    assert!(!*aborted, "a round was planned after an abort");
    assert!(plan.migration_bytes_per_s <= plan.free_bytes_per_s);
    assert_eq!(plan.migration_bytes_per_s + plan.reserved_bytes_per_s, plan.free_bytes_per_s);
    if plan.guard == bda_guard::BDA_GUARD_NONE {
        assert_eq!((plan.guard_needed_bytes_per_s, plan.guard_reserve_taken_bytes_per_s, plan.guard_unmet), (0, 0, 0));
        return;
    }
    assert_eq!(policy, BDA_POLICY_BDA_PLUS, "only BDA+ has guards");
    assert!(plan.guard_reserve_taken_bytes_per_s <= plan.migration_bytes_per_s);
    // A guard is reported when it needs more than the paper's rate (the rate less what it
    // took); unmet exactly when the free bandwidth is below the need. A need saturated at
    // u64::MAX may stand for more, so at a free bandwidth of u64::MAX it may be either.
    let needed = plan.guard_needed_bytes_per_s;
    let saturated = needed == u64::MAX;
    assert!(saturated || needed > plan.migration_bytes_per_s - plan.guard_reserve_taken_bytes_per_s);
    let unmet = plan.guard_unmet != 0;
    assert!(unmet == (needed > plan.free_bytes_per_s) || (saturated && plan.free_bytes_per_s == u64::MAX), "{plan:?}");
    match plan.guard_unmet {
        0 => assert_eq!(plan.migration_bytes_per_s, plan.guard_needed_bytes_per_s),
        BDA_UNMET_TAKE_RESERVE => assert_eq!(plan.migration_bytes_per_s, plan.free_bytes_per_s),
        // The reserve stays, but for the deadline guard's drain (crash-e916cf34 in the
        // corpus: the assertion from before the drain).
        BDA_UNMET_SLOW_GUEST => assert!(
            plan.guard_reserve_taken_bytes_per_s == 0 || plan.rule == bda_rule::BDA_RULE_DEADLINE_GUARD,
            "{plan:?}"
        ),
        // An abort never comes back as a plan.
        other => panic!("guard_unmet {other}"),
    }
}

/// The C form of an arbitrary link.
fn c_link(link: Link) -> bda_link {
    bda_link {
        capacity_bytes_per_s: link.capacity,
        other_usage_bytes_per_s: link.other,
        service_reserve_bytes_per_s: link.service,
        has_service_reserve: u32::from(link.flag % 3),
        reserved: 0,
    }
}

fuzz_target!(|input: Input| {
    let mut cfg = std::mem::MaybeUninit::<bda_config>::zeroed();
    // SAFETY: a valid pointer to writable memory of the struct's size.
    assert_eq!(unsafe { bda_config_default(cfg.as_mut_ptr()) }, bda_status::BDA_OK);
    // SAFETY: initialised by bda_config_default.
    let mut cfg = unsafe { cfg.assume_init() };
    let c = &input.config;
    let d = c.use_defaults;
    if c.bda_plus {
        cfg.policy = BDA_POLICY_BDA_PLUS;
    } else if !d[0] {
        cfg.policy = c.policy;
    }
    cfg.memory_bytes = if d[1] { 64 << 20 } else { c.memory_bytes };
    if !d[2] {
        cfg.page_size_bytes = c.page_size_bytes;
    }
    cfg.tick_hz = if d[3] { 1_000_000 } else { c.tick_hz };
    if !d[4] {
        cfg.bda_floor_ppm = c.floor_ppm;
    }
    if !d[5] {
        cfg.bda_coefficients = c.coefficients;
    }
    if !d[6] {
        cfg.stop_max_rounds = c.max_rounds;
    }
    if !d[7] {
        cfg.stop_max_sent_percent = c.max_sent_percent;
    }
    if !d[8] {
        cfg.pacer_unit_bytes = c.unit_bytes;
    }
    if !d[9] {
        cfg.pacer_burst_bytes = c.burst_bytes;
    }
    if !d[10] {
        cfg.bda_plus_max_dirty_ratio_ppm = c.max_dirty_ratio_ppm % 1_100_001;
    }
    if !d[11] {
        cfg.bda_plus_on_unmet = u32::from(c.on_unmet % 5);
    }
    if !d[12] {
        cfg.bda_plus_deadline_us = c.deadline_us;
    }
    if !d[13] {
        cfg.bda_plus_first_round_reserve_bytes_per_s = c.first_round_reserve;
    }
    if !d[14] {
        cfg.bda_plus_reserve_source = u32::from(c.reserve_source % 4);
    }

    let mut filter_cfg = std::mem::MaybeUninit::<bda_link_filter_config>::zeroed();
    // SAFETY: a valid pointer to writable memory of the struct's size.
    assert_eq!(unsafe { bda_link_filter_config_default(filter_cfg.as_mut_ptr()) }, bda_status::BDA_OK);
    // SAFETY: initialised by bda_link_filter_config_default.
    let mut filter_cfg = unsafe { filter_cfg.assume_init() };
    let f = &c.filter;
    filter_cfg.tick_hz = f.tick_hz;
    filter_cfg.usage_rise_us = f.usage_rise_us;
    filter_cfg.usage_fall_us = f.usage_fall_us;
    filter_cfg.service_tau_us = f.service_tau_us;
    filter_cfg.service_deviations = u32::from(f.service_deviations % 300);
    // SAFETY: plain words; bda_link_filter_init overwrites it.
    let mut filter: bda_link_filter = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid. A refused init leaves the filter zeroed, which its
    // update refuses.
    let filter_status = unsafe { bda_link_filter_init(&mut filter, &filter_cfg) };
    assert_eq!(
        filter_status == bda_status::BDA_OK,
        f.tick_hz != 0 && f.service_deviations % 300 <= 255,
        "{filter_status:?}"
    );
    let mut filtered = bda_link {
        capacity_bytes_per_s: 0,
        other_usage_bytes_per_s: 0,
        service_reserve_bytes_per_s: 0,
        has_service_reserve: 0,
        reserved: 0,
    };

    // SAFETY: bda_state is plain words; bda_init overwrites it.
    let mut state: bda_state = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid.
    let status = unsafe { bda_init(&mut state, &cfg) };
    if status != bda_status::BDA_OK {
        return;
    }
    let mut now = 0_u64;
    let mut words = 0_usize;
    // Set by bda_abort or an unmet guard that aborts: no round call may succeed after.
    let mut aborted = false;
    // SAFETY: valid pointers.
    let _ = unsafe { bda_predictor_words(&state, &mut words, ptr::null_mut()) };
    for call in input.calls {
        // SAFETY (every call below): `state` is initialised and every pointer is either NULL
        // (which bda refuses) or valid for the struct or buffer length given.
        unsafe {
            let _status: bda_status = match call {
                Call::Begin { capacity, other, dt, null } => {
                    now = now.saturating_add(u64::from(dt));
                    let mut plan = std::mem::MaybeUninit::<bda_plan>::zeroed().assume_init();
                    plan.round = u32::MAX;
                    let out = if null { ptr::null_mut() } else { &mut plan as *mut bda_plan };
                    let status = bda_begin_round(&mut state, capacity, other, now, out);
                    check_plan(&plan, status, cfg.policy, &mut aborted);
                    status
                }
                Call::Reassess { capacity, other, dt } => {
                    now = now.saturating_add(u64::from(dt));
                    let mut plan = std::mem::MaybeUninit::<bda_plan>::zeroed().assume_init();
                    plan.round = u32::MAX;
                    let status = bda_reassess(&mut state, capacity, other, now, &mut plan);
                    check_plan(&plan, status, cfg.policy, &mut aborted);
                    status
                }
                Call::BeginLink { link, dt } => {
                    now = now.saturating_add(u64::from(dt));
                    let link = link.map_or(filtered, c_link);
                    let mut plan = std::mem::MaybeUninit::<bda_plan>::zeroed().assume_init();
                    plan.round = u32::MAX;
                    let status = bda_begin_round_link(&mut state, &link, now, &mut plan);
                    check_plan(&plan, status, cfg.policy, &mut aborted);
                    status
                }
                Call::ReassessLink { link, progress, dt } => {
                    now = now.saturating_add(u64::from(dt));
                    let link = link.map_or(filtered, c_link);
                    let progress = progress.map(|p| bda_progress {
                        remaining_in_round_bytes: p.remaining,
                        dirtied_in_round_bytes: p.dirtied,
                        has_dirtied: u32::from(p.flag % 3),
                        reserved: 0,
                    });
                    let progress_ptr = progress.as_ref().map_or(ptr::null(), ptr::from_ref);
                    let mut plan = std::mem::MaybeUninit::<bda_plan>::zeroed().assume_init();
                    plan.round = u32::MAX;
                    // Without progress it is bda_reassess: the same call on a snapshot of
                    // the state (a state holds no pointers, so a copy is independent).
                    let mut snapshot: bda_state = ptr::read(&state);
                    let status = bda_reassess_link(&mut state, &link, progress_ptr, now, &mut plan);
                    if progress.is_none() && link.has_service_reserve == 0 {
                        let mut plain = std::mem::MaybeUninit::<bda_plan>::zeroed().assume_init();
                        plain.round = u32::MAX;
                        let plain_status = bda_reassess(
                            &mut snapshot,
                            link.capacity_bytes_per_s,
                            link.other_usage_bytes_per_s,
                            now,
                            &mut plain,
                        );
                        assert_eq!((plain_status, plain), (status, plan), "NULL progress is not bda_reassess");
                    }
                    check_plan(&plan, status, cfg.policy, &mut aborted);
                    status
                }
                Call::Filter { capacity, other, service, measured, dt } => {
                    now = now.saturating_add(u64::from(dt));
                    let measured = u32::from(measured % 3);
                    let mut out = filtered;
                    out.reserved = u32::MAX;
                    let before: bda_link_filter = ptr::read(&filter);
                    let status = bda_link_filter_update(&mut filter, capacity, other, service, measured, now, &mut out);
                    if filter_status != bda_status::BDA_OK {
                        assert_eq!(status, bda_status::BDA_ERR_LINK_FILTER_NOT_INITIALISED);
                    }
                    if status == bda_status::BDA_OK {
                        // What the filter hands on is a valid link: usage within capacity,
                        // a reserve exactly when the service was measured, and at least
                        // what was just measured.
                        assert!(out.other_usage_bytes_per_s <= out.capacity_bytes_per_s, "{out:?}");
                        assert_eq!(out.has_service_reserve, measured);
                        assert!(measured == 0 || out.service_reserve_bytes_per_s >= service);
                        assert_eq!(out.reserved, 0);
                        filtered = out;
                    } else {
                        assert_eq!(out.reserved, u32::MAX, "a refused call wrote its output");
                        // SAFETY: plain words, both initialised.
                        let (a, b) = (
                            std::slice::from_raw_parts(
                                ptr::from_ref(&before).cast::<u8>(),
                                size_of::<bda_link_filter>(),
                            ),
                            std::slice::from_raw_parts(
                                ptr::from_ref(&filter).cast::<u8>(),
                                size_of::<bda_link_filter>(),
                            ),
                        );
                        assert_eq!(a, b, "a refused call changed the filter");
                    }
                    status
                }
                Call::End { sent, dirtied, remaining, dt, null } => {
                    now = now.saturating_add(u64::from(dt));
                    let mut verdict = std::mem::MaybeUninit::<bda_verdict>::zeroed().assume_init();
                    let out = if null { ptr::null_mut() } else { &mut verdict as *mut bda_verdict };
                    let status = bda_end_round(&mut state, sent, dirtied, remaining, now, out);
                    assert!(!(aborted && status == bda_status::BDA_OK), "a round ended after an abort");
                    status
                }
                Call::StopAndCopy => bda_request_stop_and_copy(&mut state),
                Call::Abort => {
                    aborted = true;
                    bda_abort(&mut state)
                }
                Call::Summary => {
                    let mut summary = std::mem::MaybeUninit::<bda_summary>::zeroed().assume_init();
                    bda_get_summary(&state, &mut summary)
                }
                Call::Telemetry => {
                    let mut telemetry = std::mem::MaybeUninit::<bda_telemetry>::zeroed().assume_init();
                    bda_get_telemetry(&state, &mut telemetry)
                }
                Call::PacerSetRate { rate } => bda_pacer_set_rate(&mut state, rate, now),
                Call::PacerTry { dt } => {
                    now = now.saturating_add(u64::from(dt));
                    let mut release = std::mem::MaybeUninit::<bda_release>::zeroed().assume_init();
                    bda_pacer_try_release(&mut state, now, &mut release)
                }
                Call::PacerNext => {
                    let mut release = std::mem::MaybeUninit::<bda_release>::zeroed().assume_init();
                    bda_pacer_next_release(&state, now, &mut release)
                }
                Call::Predict { mut dirty, short } => {
                    // Keep the buffers small: a huge memory's predictor is refused anyway.
                    if words == 0 || words > 1 << 16 {
                        continue;
                    }
                    let mut storage_words = 0;
                    let mut bitmap_words = 0;
                    if bda_predictor_words(&state, &mut storage_words, &mut bitmap_words) != bda_status::BDA_OK
                        || storage_words > 1 << 20
                    {
                        continue;
                    }
                    let mut storage = vec![0_u64; storage_words];
                    let _ = bda_predictor_init(&state, storage.as_mut_ptr(), storage.len());
                    dirty.resize(bitmap_words, 0);
                    let mut send = vec![0_u64; bitmap_words];
                    let mut result = std::mem::MaybeUninit::<bda_predictor_result>::zeroed().assume_init();
                    let short = usize::from(short % 4);
                    bda_predictor_plan_round(
                        &mut state,
                        storage.as_mut_ptr(),
                        storage.len().saturating_sub(short),
                        dirty.as_ptr(),
                        dirty.len(),
                        send.as_mut_ptr(),
                        send.len(),
                        &mut result,
                    )
                }
            };
        }
    }
});
