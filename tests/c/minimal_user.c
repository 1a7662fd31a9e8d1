/*
 * The smallest real user of bda: one migration of 1 MiB at BDA's rate, the pacer releasing
 * every page, the link reassessed once a round, until stop-and-copy completes. No
 * predictor, no link filter, no status messages, no summary or telemetry.
 *
 * scripts/c-tests.sh builds it for thumbv7em with --gc-sections and reports the flash bda
 * adds to it (its text + data minus that of every_export.c built with -DBDA_CALLS=0, the
 * same program without bda): what a firmware pays for the core of bda alone. Inputs come
 * from volatile variables so that nothing folds away.
 */
#include <stdint.h>

#include "bda.h"

#define PAGE 4096
#define PAGES 256

volatile uint64_t input_capacity = 125000000;
volatile uint64_t input_usage = 25000000;
volatile uint64_t input_dirtied = 0;
volatile uint64_t sink;

static bda_state state;

int main(void) {
    bda_config cfg;
    bda_plan plan;
    bda_verdict verdict;
    bda_release release;
    uint64_t now = 0;

    if (bda_config_default(&cfg) != BDA_OK) {
        return 1;
    }
    cfg.memory_bytes = PAGES * PAGE;
    cfg.tick_hz = 1000000;
    if (bda_init(&state, &cfg) != BDA_OK) {
        return 1;
    }
    do {
        if (bda_begin_round(&state, input_capacity, input_usage, now, &plan) != BDA_OK) {
            return 1;
        }
        for (unsigned page = 0; page < PAGES; page++) {
            /* Wait until the pacer releases the page (a DMA transfer would start here). */
            while (bda_pacer_try_release(&state, now, &release) == BDA_OK && release.kind != BDA_RELEASE_NOW) {
                now = release.at_tick;
            }
        }
        if (bda_reassess(&state, input_capacity, input_usage, now, &plan) != BDA_OK) {
            return 1;
        }
        if (bda_end_round(&state, PAGES * PAGE, input_dirtied, input_dirtied, now, &verdict) != BDA_OK) {
            return 1;
        }
    } while (verdict.next != BDA_NEXT_COMPLETE);
    sink = plan.migration_bytes_per_s;
    return 0;
}
