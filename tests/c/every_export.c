/*
 * A minimal program that calls every function bda exports, once each, in a migration's
 * order. It serves three checks in scripts/c-tests.sh:
 *
 *  - the no-panic proof, on the host and on thumbv7em: linked with --gc-sections against a
 *    library whose panic handler calls an undefined symbol, it links only if no panic path
 *    survived in anything these calls reach;
 *  - the flash budget on thumbv7em: its text + data minus that of the same program built
 *    with -DBDA_CALLS=0 (which keeps everything else) is what bda adds;
 *  - the RAM budget: sizeof(bda_state), a static here.
 *
 * With -DBDA_PANIC_PROOF_CONTROL it also calls a function that exists only in the proof's
 * control build and keeps a panic path: that link must fail, showing the proof can.
 *
 * Inputs come from volatile variables and results go to a volatile sink, so the compiler
 * can neither fold the calls away nor drop their results. scripts/c-tests.sh checks that
 * every function declared in bda.h is called here.
 */
#include <stddef.h>
#include <stdint.h>

#ifndef BDA_CALLS
#define BDA_CALLS 1
#endif

#if BDA_CALLS
#include "bda.h"
#endif

#define PAGES 256
#define WORDS (PAGES / 64)

volatile uint64_t input_capacity = 125000000;
volatile uint64_t input_usage = 25000000;
volatile uint64_t input_now = 0;
volatile uint64_t sink;

#if BDA_CALLS
static bda_state state;
static bda_link_filter filter;
static uint64_t storage[WORDS * 10];
static uint64_t dirty[WORDS];
static uint64_t send[WORDS];

static void consume(uint64_t value) { sink = sink + value; }

int main(void) {
    bda_config cfg;
    bda_plan plan;
    bda_verdict verdict;
    bda_release release;
    bda_predictor_result predicted;
    bda_summary summary;
    bda_telemetry telemetry;
    bda_link_filter_config filter_cfg;
    bda_link link;
    bda_progress progress = {PAGES * 4096, 0, 0, 0};
    size_t storage_words = 0, bitmap_words = 0;
    uint64_t now = input_now;

    consume(bda_version());
    consume((uintptr_t)bda_status_str((uint32_t)input_now));
    consume(bda_config_default(&cfg));
    cfg.memory_bytes = PAGES * 4096;
    cfg.tick_hz = 1000000;
    consume(bda_init(&state, &cfg));
    consume(bda_link_filter_config_default(&filter_cfg));
    filter_cfg.tick_hz = 1000000;
    consume(bda_link_filter_init(&filter, &filter_cfg));
    consume(bda_predictor_words(&state, &storage_words, &bitmap_words));
    consume(bda_predictor_init(&state, storage, sizeof storage / sizeof storage[0]));
    consume(bda_begin_round(&state, input_capacity, input_usage, now, &plan));
    consume(bda_pacer_set_rate(&state, plan.migration_bytes_per_s, now));
    consume(bda_pacer_next_release(&state, now, &release));
    consume(bda_pacer_try_release(&state, now, &release));
    now += 1000;
    consume(bda_reassess(&state, input_capacity, input_usage, now, &plan));
    consume(bda_link_filter_update(&filter, input_capacity, input_usage, input_usage, 1, now, &link));
    consume(bda_reassess_link(&state, &link, &progress, now, &plan));
    consume(bda_end_round(&state, PAGES * 4096, 4096, 4096, now, &verdict));
    consume(bda_request_stop_and_copy(&state));
    consume(bda_begin_round_link(&state, &link, now, &plan));
    dirty[0] = input_now | 1;
    consume(bda_predictor_plan_round(&state, storage, sizeof storage / sizeof storage[0], dirty, WORDS, send, WORDS,
                                     &predicted));
    consume(bda_end_round(&state, predicted.send_pages * 4096, 0, 0, now + 10, &verdict));
    consume(bda_get_summary(&state, &summary));
    consume(bda_get_telemetry(&state, &telemetry));
    consume(bda_abort(&state));
    consume(summary.rounds + telemetry.cut_to_free + release.wait_ticks + verdict.round + storage_words);
#ifdef BDA_PANIC_PROOF_CONTROL
    /* Only in the proof's control build, where it must keep a panic path alive. */
    extern uint32_t bda_panic_proof_control(size_t index);
    consume(bda_panic_proof_control((size_t)input_now));
#endif
    return (int)(sink & 1);
}
#else
int main(void) {
    sink = input_capacity + input_usage + input_now;
    return (int)(sink & 1);
}
#endif
