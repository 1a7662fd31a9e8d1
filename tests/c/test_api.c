/*
 * One test per exported function, covering every status code each can return, every NULL
 * pointer, every invalid config field and the extremes (capacity 0, usage above capacity,
 * UINT64_MAX everywhere). Outputs and states are checked untouched after every refusal.
 *
 * At the end, every status the library defines (found through bda_status_str) must have
 * been returned by some call here, so a new status without a test fails this program.
 * scripts/c-tests.sh checks that every function in bda.h has a test_<name> here.
 *
 * Built with -std=c11 -Wall -Wextra -Werror -pedantic -fsanitize=address,undefined.
 */
#include <assert.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

#include "bda.h"

/* The header's storage and the library's state agree (the library asserts it at compile
 * time); the size is also the RAM budget. */
static_assert(sizeof(bda_state) == BDA_STATE_WORDS * sizeof(uint64_t), "bda_state is BDA_STATE_WORDS words");
static_assert(alignof(bda_state) == 8, "bda_state is 8-byte aligned");
static_assert(sizeof(bda_state) < 512, "one migration's state fits 512 bytes");
static_assert(sizeof(bda_status) == 4, "bda_status is a uint32_t");

static unsigned checks;
static unsigned failures;
/* Statuses some call returned, by code (all codes are below 1000). */
static unsigned char seen[1000];

#define CHECK(cond)                                                                  \
    do {                                                                             \
        checks++;                                                                    \
        if (!(cond)) {                                                               \
            failures++;                                                              \
            fprintf(stderr, "%s:%d: %s: check failed: %s\n", __FILE__, __LINE__,    \
                    __func__, #cond);                                                \
        }                                                                            \
    } while (0)

/* Calls `call`, checks it returned `expected`, and records that the status was seen. */
#define EXPECT(call, expected)                                                       \
    do {                                                                             \
        bda_status got_ = (call);                                                    \
        checks++;                                                                    \
        if (got_ != (bda_status)(expected)) {                                        \
            failures++;                                                              \
            fprintf(stderr, "%s:%d: %s: %s returned %u (%s), expected %s\n",        \
                    __FILE__, __LINE__, __func__, #call, (unsigned)got_,             \
                    bda_status_str(got_), #expected);                                \
        } else if (got_ < sizeof seen) {                                             \
            seen[got_] = 1;                                                          \
        }                                                                            \
    } while (0)

#define MIB (UINT64_C(1) << 20)
#define MB UINT64_C(1000000)

/* A valid config: 64 MiB of 4 KiB pages on a millisecond clock, defaults otherwise. */
static bda_config config(void) {
    bda_config cfg;
    EXPECT(bda_config_default(&cfg), BDA_OK);
    cfg.memory_bytes = 64 * MIB;
    cfg.tick_hz = 1000;
    return cfg;
}

/* `cfg` with every stop condition and event off and no round cap to speak of. */
static bda_config quiet(void) {
    bda_config cfg = config();
    cfg.stop_downtime_target_us = 0;
    cfg.stop_min_remaining_pages = 0;
    cfg.stop_max_sent_percent = 0;
    cfg.stop_max_rounds = 1000;
    cfg.non_convergence_rounds = 0;
    cfg.stall_after_us = 0;
    return cfg;
}

static void init(bda_state *st, const bda_config *cfg) {
    EXPECT(bda_init(st, cfg), BDA_OK);
}

/* Whether `size` bytes at `p` all equal `byte`. */
static int all_bytes(const void *p, size_t size, unsigned char byte) {
    const unsigned char *bytes = p;
    for (size_t i = 0; i < size; i++) {
        if (bytes[i] != byte) {
            return 0;
        }
    }
    return 1;
}

/* The invariants every plan keeps. */
static void check_plan(const bda_plan *plan, uint64_t capacity, uint64_t usage) {
    CHECK(plan->free_bytes_per_s == capacity - usage);
    CHECK(plan->migration_bytes_per_s <= plan->free_bytes_per_s);
    CHECK(plan->migration_bytes_per_s + plan->reserved_bytes_per_s == plan->free_bytes_per_s);
}

/* Runs a migration to completion: round 1 then stop-and-copy on request. */
static void complete(bda_state *st) {
    bda_plan plan;
    bda_verdict verdict;
    EXPECT(bda_begin_round(st, 10 * MB, 0, 0, &plan), BDA_OK);
    EXPECT(bda_end_round(st, 64 * MIB, MB, MB, 1000, &verdict), BDA_OK);
    if (verdict.next == BDA_NEXT_LIVE) {
        EXPECT(bda_request_stop_and_copy(st), BDA_OK);
    }
    EXPECT(bda_begin_round(st, 10 * MB, 0, 1000, &plan), BDA_OK);
    EXPECT(bda_end_round(st, MB, 0, 0, 1100, &verdict), BDA_OK);
    CHECK(verdict.next == BDA_NEXT_COMPLETE);
}

static void test_bda_version(void) {
    CHECK(bda_version() == BDA_VERSION_NUMBER);
    CHECK(BDA_VERSION_NUMBER == ((BDA_VERSION_MAJOR << 16) | (BDA_VERSION_MINOR << 8) | BDA_VERSION_PATCH));
    CHECK(BDA_VERSION_MINOR < 256 && BDA_VERSION_PATCH < 256);
}

static void test_bda_status_str(void) {
    CHECK(strcmp(bda_status_str(BDA_OK), "ok") == 0);
    CHECK(strcmp(bda_status_str(BDA_ERR_NULL_POINTER), "a pointer argument is NULL") == 0);
    unsigned defined = 0;
    for (uint32_t code = 0; code < sizeof seen; code++) {
        const char *text = bda_status_str(code);
        CHECK(text != NULL);
        if (strcmp(text, "unknown status") == 0) {
            continue;
        }
        defined++;
        CHECK(strlen(text) > 0);
        /* Messages are distinct. */
        for (uint32_t other = 0; other < code; other++) {
            CHECK(strcmp(text, bda_status_str(other)) != 0);
        }
    }
    CHECK(defined >= 30);
    CHECK(strcmp(bda_status_str(UINT32_MAX), "unknown status") == 0);
    CHECK(strcmp(bda_status_str(1000), "unknown status") == 0);
}

static void test_bda_config_default(void) {
    EXPECT(bda_config_default(NULL), BDA_ERR_NULL_POINTER);
    alignas(8) unsigned char raw[sizeof(bda_config) + 1];
    memset(raw, 0xAA, sizeof raw);
    /* Deliberately misaligned pointers: the library refuses them before any access. */
    EXPECT(bda_config_default((bda_config *)(void *)(raw + 1)), BDA_ERR_MISALIGNED_POINTER);
    CHECK(all_bytes(raw, sizeof raw, 0xAA)); /* nothing written on error */

    bda_config cfg;
    memset(&cfg, 0xFF, sizeof cfg);
    EXPECT(bda_config_default(&cfg), BDA_OK);
    CHECK(cfg.size == sizeof(bda_config));
    CHECK(cfg.policy == BDA_POLICY_BDA);
    CHECK(cfg.memory_bytes == 0 && cfg.tick_hz == 0);
    CHECK(cfg.page_size_bytes == 4096);
    CHECK(cfg.bda_first_round_bytes_per_s == 0 && cfg.bda_floor_ppm == 50000);
    CHECK(cfg.bda_coefficients == BDA_COEFFICIENTS_DIRTY_RATE);
    CHECK(cfg.incremental_start_bytes_per_s == 12500000 && cfg.incremental_increment_bytes_per_s == 6250000);
    CHECK(cfg.incremental_ceiling_bytes_per_s == 62500000 && cfg.static_cap_bytes_per_s == 128 * MIB);
    CHECK(cfg.stop_downtime_target_us == 300000 && cfg.stop_min_remaining_pages == 50);
    CHECK(cfg.stop_max_rounds == 30 && cfg.stop_max_sent_percent == 300);
    CHECK(cfg.stop_ceiling_without_progress == 1 && cfg.non_convergence_rounds == 3);
    CHECK(cfg.stall_after_us == 10000000);
    CHECK(cfg.pacer_unit_bytes == 0 && cfg.pacer_burst_bytes == 0);
    CHECK(cfg.predictor_history_rounds == 8 && cfg.predictor_threshold_ppm == 500000);
    CHECK(cfg.predictor_max_deferrals == 3 && cfg.bda_plus_reserve_source == BDA_RESERVE_SERVICE_TRAFFIC);
    CHECK(cfg.bda_plus_max_dirty_ratio_ppm == 500000 && cfg.bda_plus_on_unmet == BDA_UNMET_TAKE_RESERVE);
    CHECK(cfg.bda_plus_deadline_us == 0 && cfg.bda_plus_first_round_reserve_bytes_per_s == 0);
    /* The BDA+ fields come after every field of the previous version, which ended at what
     * is now `bda_plus_reserve_source`. */
    CHECK(offsetof(bda_config, bda_plus_max_dirty_ratio_ppm) == offsetof(bda_config, bda_plus_reserve_source) + 4);
    CHECK(sizeof(bda_config) == offsetof(bda_config, bda_plus_first_round_reserve_bytes_per_s) + 8);

    /* The defaults alone are refused for what has no default. */
    bda_state st;
    EXPECT(bda_init(&st, &cfg), BDA_ERR_MEMORY_ZERO);
}

/* A config with one field changed, and the status bda_init must return for it. */
struct bad_field {
    const char *name;
    void (*apply)(bda_config *);
    bda_status status;
};

static void size_small(bda_config *c) { c->size = sizeof(bda_config) - 8; }
static void size_large(bda_config *c) { c->size = sizeof(bda_config) + 8; }
static void size_zero(bda_config *c) { c->size = 0; }
/* A program compiled against the header before BDA+: its bda_plan and bda_telemetry are
 * smaller, so bda refuses its config rather than overrun its outputs later. */
static void size_previous(bda_config *c) { c->size = offsetof(bda_config, bda_plus_max_dirty_ratio_ppm); }
static void policy_zero(bda_config *c) { c->policy = 0; }
static void policy_six(bda_config *c) { c->policy = 6; }
static void policy_max(bda_config *c) { c->policy = UINT32_MAX; }
static void memory_zero(bda_config *c) { c->memory_bytes = 0; }
static void page_zero(bda_config *c) { c->page_size_bytes = 0; }
static void page_small(bda_config *c) { c->page_size_bytes = 2048; }
static void page_odd(bda_config *c) { c->page_size_bytes = 4097; }
static void page_large(bda_config *c) { c->page_size_bytes = UINT64_C(1) << 31; }
static void page_max(bda_config *c) { c->page_size_bytes = UINT64_MAX; }
static void tick_zero(bda_config *c) { c->tick_hz = 0; }
static void floor_high(bda_config *c) { c->bda_floor_ppm = 1000001; }
static void floor_max(bda_config *c) { c->bda_floor_ppm = UINT32_MAX; }
static void coefficients_zero(bda_config *c) { c->bda_coefficients = 0; }
static void coefficients_three(bda_config *c) { c->bda_coefficients = 3; }
static void start_above_ceiling(bda_config *c) {
    c->incremental_start_bytes_per_s = UINT64_MAX;
    c->incremental_ceiling_bytes_per_s = UINT64_MAX - 1;
}
static void rounds_zero(bda_config *c) { c->stop_max_rounds = 0; }
static void rounds_one(bda_config *c) { c->stop_max_rounds = 1; }
static void sent_one(bda_config *c) { c->stop_max_sent_percent = 1; }
static void sent_99(bda_config *c) { c->stop_max_sent_percent = 99; }
static void ceiling_flag(bda_config *c) { c->stop_ceiling_without_progress = 2; }
static void ceiling_flag_max(bda_config *c) { c->stop_ceiling_without_progress = UINT32_MAX; }
static void burst_small(bda_config *c) { c->pacer_burst_bytes = 4095; }
static void burst_below_unit(bda_config *c) {
    c->pacer_unit_bytes = UINT64_MAX;
    c->pacer_burst_bytes = UINT64_MAX - 1;
}
static void history_zero(bda_config *c) { c->predictor_history_rounds = 0; }
static void history_nine(bda_config *c) { c->predictor_history_rounds = 9; }
static void history_wide(bda_config *c) { c->predictor_history_rounds = 256 + 8; }
static void threshold_high(bda_config *c) { c->predictor_threshold_ppm = 1000001; }
static void deferrals_high(bda_config *c) { c->predictor_max_deferrals = 16; }
static void deferrals_wide(bda_config *c) { c->predictor_max_deferrals = 256 + 3; }
static void ratio_high(bda_config *c) { c->bda_plus_max_dirty_ratio_ppm = 1000001; }
static void ratio_max(bda_config *c) { c->bda_plus_max_dirty_ratio_ppm = UINT32_MAX; }
static void unmet_zero(bda_config *c) { c->bda_plus_on_unmet = 0; }
static void unmet_four(bda_config *c) { c->bda_plus_on_unmet = 4; }
static void unmet_max(bda_config *c) { c->bda_plus_on_unmet = UINT32_MAX; }
/* Checked whatever the policy, as every other field is. */
static void unmet_under_bda(bda_config *c) {
    c->policy = BDA_POLICY_BDA;
    c->bda_plus_on_unmet = 0;
}
static void reserve_source_zero(bda_config *c) { c->bda_plus_reserve_source = 0; }
static void reserve_source_three(bda_config *c) { c->bda_plus_reserve_source = 3; }

static const struct bad_field bad_fields[] = {
    {"size below", size_small, BDA_ERR_CONFIG_SIZE},
    {"size above", size_large, BDA_ERR_CONFIG_SIZE},
    {"size zero", size_zero, BDA_ERR_CONFIG_SIZE},
    {"size of the previous version", size_previous, BDA_ERR_CONFIG_SIZE},
    {"policy 0", policy_zero, BDA_ERR_POLICY_UNKNOWN},
    {"policy 6", policy_six, BDA_ERR_POLICY_UNKNOWN},
    {"policy max", policy_max, BDA_ERR_POLICY_UNKNOWN},
    {"memory 0", memory_zero, BDA_ERR_MEMORY_ZERO},
    {"page 0", page_zero, BDA_ERR_PAGE_SIZE_INVALID},
    {"page 2048", page_small, BDA_ERR_PAGE_SIZE_INVALID},
    {"page 4097", page_odd, BDA_ERR_PAGE_SIZE_INVALID},
    {"page 2^31", page_large, BDA_ERR_PAGE_SIZE_INVALID},
    {"page max", page_max, BDA_ERR_PAGE_SIZE_INVALID},
    {"tick 0", tick_zero, BDA_ERR_TICK_HZ_ZERO},
    {"floor 1000001", floor_high, BDA_ERR_FLOOR_OUT_OF_RANGE},
    {"floor max", floor_max, BDA_ERR_FLOOR_OUT_OF_RANGE},
    {"coefficients 0", coefficients_zero, BDA_ERR_COEFFICIENTS_UNKNOWN},
    {"coefficients 3", coefficients_three, BDA_ERR_COEFFICIENTS_UNKNOWN},
    {"start above ceiling", start_above_ceiling, BDA_ERR_INCREMENTAL_START_ABOVE_CEILING},
    {"rounds 0", rounds_zero, BDA_ERR_MAX_ROUNDS_BELOW_TWO},
    {"rounds 1", rounds_one, BDA_ERR_MAX_ROUNDS_BELOW_TWO},
    {"sent 1 %", sent_one, BDA_ERR_SENT_LIMIT_BELOW_MEMORY},
    {"sent 99 %", sent_99, BDA_ERR_SENT_LIMIT_BELOW_MEMORY},
    {"ceiling flag 2", ceiling_flag, BDA_ERR_CEILING_FLAG_INVALID},
    {"ceiling flag max", ceiling_flag_max, BDA_ERR_CEILING_FLAG_INVALID},
    {"burst 4095", burst_small, BDA_ERR_PACER_BURST_BELOW_UNIT},
    {"burst below max unit", burst_below_unit, BDA_ERR_PACER_BURST_BELOW_UNIT},
    {"history 0", history_zero, BDA_ERR_PREDICTOR_HISTORY_OUT_OF_RANGE},
    {"history 9", history_nine, BDA_ERR_PREDICTOR_HISTORY_OUT_OF_RANGE},
    {"history 264", history_wide, BDA_ERR_PREDICTOR_HISTORY_OUT_OF_RANGE},
    {"threshold 1000001", threshold_high, BDA_ERR_PREDICTOR_THRESHOLD_OUT_OF_RANGE},
    {"deferrals 16", deferrals_high, BDA_ERR_PREDICTOR_DEFERRALS_OUT_OF_RANGE},
    {"deferrals 259", deferrals_wide, BDA_ERR_PREDICTOR_DEFERRALS_OUT_OF_RANGE},
    {"dirty ratio 1000001", ratio_high, BDA_ERR_DIRTY_RATIO_OUT_OF_RANGE},
    {"dirty ratio max", ratio_max, BDA_ERR_DIRTY_RATIO_OUT_OF_RANGE},
    {"unmet action 0", unmet_zero, BDA_ERR_UNMET_ACTION_UNKNOWN},
    {"unmet action 4", unmet_four, BDA_ERR_UNMET_ACTION_UNKNOWN},
    {"unmet action max", unmet_max, BDA_ERR_UNMET_ACTION_UNKNOWN},
    {"unmet action 0 under BDA", unmet_under_bda, BDA_ERR_UNMET_ACTION_UNKNOWN},
    {"reserve source 0", reserve_source_zero, BDA_ERR_RESERVE_SOURCE_UNKNOWN},
    {"reserve source 3", reserve_source_three, BDA_ERR_RESERVE_SOURCE_UNKNOWN},
};

static void test_bda_init(void) {
    bda_config cfg = config();
    bda_state st;
    EXPECT(bda_init(NULL, &cfg), BDA_ERR_NULL_POINTER);
    EXPECT(bda_init(&st, NULL), BDA_ERR_NULL_POINTER);
    alignas(8) unsigned char raw[sizeof(bda_state) + sizeof(bda_config) + 8];
    memset(raw, 0x5A, sizeof raw);
    EXPECT(bda_init((bda_state *)(void *)(raw + 4), &cfg), BDA_ERR_MISALIGNED_POINTER);
    memcpy(raw + 4, &cfg, sizeof cfg);
    EXPECT(bda_init(&st, (const bda_config *)(const void *)(raw + 4)), BDA_ERR_MISALIGNED_POINTER);

    /* Each broken rule has its status, and a refused init leaves the state alone. */
    for (size_t i = 0; i < sizeof bad_fields / sizeof bad_fields[0]; i++) {
        bda_config bad = config();
        bad_fields[i].apply(&bad);
        memset(&st, 0x5A, sizeof st);
        bda_status got = bda_init(&st, &bad);
        checks++;
        if (got != bad_fields[i].status) {
            failures++;
            fprintf(stderr, "test_bda_init: %s: got %u (%s), expected %u\n", bad_fields[i].name, (unsigned)got,
                    bda_status_str(got), (unsigned)bad_fields[i].status);
        } else {
            seen[got] = 1;
        }
        CHECK(all_bytes(&st, sizeof st, 0x5A));
    }

    /* Every policy and coefficient form initialises. */
    for (uint32_t policy = BDA_POLICY_BDA; policy <= BDA_POLICY_BDA_PLUS; policy++) {
        cfg = config();
        cfg.policy = policy;
        init(&st, &cfg);
    }
    cfg = config();
    cfg.bda_coefficients = BDA_COEFFICIENTS_UTILISATION;
    init(&st, &cfg);

    /* UINT64_MAX wherever it is allowed, and the edges of each range. */
    cfg = config();
    cfg.memory_bytes = UINT64_MAX;
    cfg.tick_hz = UINT64_MAX;
    cfg.page_size_bytes = UINT64_C(1) << 30;
    cfg.bda_first_round_bytes_per_s = UINT64_MAX;
    cfg.bda_floor_ppm = 1000000;
    cfg.incremental_start_bytes_per_s = UINT64_MAX;
    cfg.incremental_increment_bytes_per_s = UINT64_MAX;
    cfg.incremental_ceiling_bytes_per_s = UINT64_MAX;
    cfg.static_cap_bytes_per_s = UINT64_MAX;
    cfg.stop_downtime_target_us = UINT64_MAX;
    cfg.stop_min_remaining_pages = UINT64_MAX;
    cfg.stop_max_rounds = UINT32_MAX;
    cfg.stop_max_sent_percent = UINT32_MAX;
    cfg.non_convergence_rounds = UINT32_MAX;
    cfg.stall_after_us = UINT64_MAX;
    cfg.pacer_unit_bytes = UINT64_MAX;
    cfg.pacer_burst_bytes = UINT64_MAX;
    cfg.predictor_history_rounds = 1;
    cfg.predictor_threshold_ppm = 1000000;
    cfg.predictor_max_deferrals = 15;
    cfg.bda_plus_reserve_source = BDA_RESERVE_DIRTY_RATE;
    cfg.policy = BDA_POLICY_BDA_PLUS;
    cfg.bda_plus_max_dirty_ratio_ppm = 1000000;
    cfg.bda_plus_on_unmet = BDA_UNMET_ABORT;
    cfg.bda_plus_deadline_us = UINT64_MAX;
    cfg.bda_plus_first_round_reserve_bytes_per_s = UINT64_MAX;
    init(&st, &cfg);
    cfg.bda_plus_max_dirty_ratio_ppm = 1; /* the edges of each range */
    cfg.bda_plus_deadline_us = 1;
    cfg.bda_plus_first_round_reserve_bytes_per_s = 1;
    init(&st, &cfg);
    cfg.stop_max_rounds = 2;
    cfg.stop_max_sent_percent = 100;
    cfg.predictor_history_rounds = 8;
    cfg.predictor_max_deferrals = 0;
    init(&st, &cfg);

    /* A second init replaces the migration. */
    cfg = quiet();
    init(&st, &cfg);
    bda_plan plan;
    EXPECT(bda_begin_round(&st, 10 * MB, 0, 0, &plan), BDA_OK);
    init(&st, &cfg);
    EXPECT(bda_begin_round(&st, 10 * MB, 0, 0, &plan), BDA_OK);
    CHECK(plan.round == 1);
}

static void test_bda_begin_round(void) {
    bda_config cfg = quiet();
    bda_state st, zeroed;
    bda_plan plan, before;
    memset(&zeroed, 0, sizeof zeroed);
    init(&st, &cfg);
    EXPECT(bda_begin_round(NULL, 1, 0, 0, &plan), BDA_ERR_NULL_POINTER);
    EXPECT(bda_begin_round(&st, 1, 0, 0, NULL), BDA_ERR_NULL_POINTER);
    EXPECT(bda_begin_round(&zeroed, 1, 0, 0, &plan), BDA_ERR_STATE_NOT_INITIALISED);
    alignas(8) unsigned char raw[sizeof(bda_plan) + 8];
    EXPECT(bda_begin_round(&st, 1, 0, 0, (bda_plan *)(void *)(raw + 2)), BDA_ERR_MISALIGNED_POINTER);

    /* Usage above capacity is refused, and nothing changes. */
    bda_state copy = st;
    memset(&plan, 0x77, sizeof plan);
    before = plan;
    EXPECT(bda_begin_round(&st, 10, 11, 0, &plan), BDA_ERR_USAGE_ABOVE_CAPACITY);
    EXPECT(bda_begin_round(&st, 0, UINT64_MAX, 0, &plan), BDA_ERR_USAGE_ABOVE_CAPACITY);
    CHECK(memcmp(&plan, &before, sizeof plan) == 0);
    CHECK(memcmp(&st, &copy, sizeof st) == 0);

    /* Round 1 under BDA's defaults: all free bandwidth. */
    EXPECT(bda_begin_round(&st, 125 * MB, 25 * MB, 0, &plan), BDA_OK);
    check_plan(&plan, 125 * MB, 25 * MB);
    CHECK(plan.round == 1 && plan.kind == BDA_ROUND_FIRST && plan.rule == BDA_RULE_FIRST_ROUND);
    CHECK(plan.migration_bytes_per_s == 100 * MB && !plan.cut_to_free && !plan.stalled);
    EXPECT(bda_begin_round(&st, 125 * MB, 25 * MB, 0, &plan), BDA_ERR_ROUND_IN_PROGRESS);

    /* Capacity 0: nothing free, nothing assigned, nothing breaks. */
    init(&st, &cfg);
    EXPECT(bda_begin_round(&st, 0, 0, 0, &plan), BDA_OK);
    check_plan(&plan, 0, 0);
    CHECK(plan.migration_bytes_per_s == 0 && plan.free_bytes_per_s == 0);

    /* UINT64_MAX everywhere. */
    init(&st, &cfg);
    EXPECT(bda_begin_round(&st, UINT64_MAX, UINT64_MAX, UINT64_MAX, &plan), BDA_OK);
    check_plan(&plan, UINT64_MAX, UINT64_MAX);
    init(&st, &cfg);
    EXPECT(bda_begin_round(&st, UINT64_MAX, 0, UINT64_MAX, &plan), BDA_OK);
    CHECK(plan.migration_bytes_per_s == UINT64_MAX && plan.free_bytes_per_s == UINT64_MAX);

    /* After completion and after abort. */
    init(&st, &cfg);
    complete(&st);
    EXPECT(bda_begin_round(&st, 1, 0, 2000, &plan), BDA_ERR_MIGRATION_COMPLETE);
    init(&st, &cfg);
    EXPECT(bda_abort(&st), BDA_OK);
    EXPECT(bda_begin_round(&st, 1, 0, 0, &plan), BDA_ERR_MIGRATION_ABORTED);
}

/* DESIGN.md's worked example: T = 12.5e6, U_used = 2e6 (F = 10.5e6), E_init = 8e6, floor
 * off, measured dirty rates 3e6, 5e6, 20e6 over rounds of one second. */
static void test_bda_end_round(void) {
    bda_config cfg = quiet();
    cfg.bda_first_round_bytes_per_s = 8 * MB;
    cfg.bda_floor_ppm = 0;
    bda_state st;
    bda_plan plan;
    bda_verdict verdict, before;
    init(&st, &cfg);
    EXPECT(bda_end_round(&st, 0, 0, 0, 0, &verdict), BDA_ERR_NO_ROUND_IN_PROGRESS);
    EXPECT(bda_end_round(NULL, 0, 0, 0, 0, &verdict), BDA_ERR_NULL_POINTER);
    EXPECT(bda_end_round(&st, 0, 0, 0, 0, NULL), BDA_ERR_NULL_POINTER);

    const uint64_t T = 12500000, used = 2000000;
    const uint64_t rates[] = {3000000, 5000000, 20000000};
    const uint64_t expect_reserved[] = {2500000, 3000000, 4250000, 2100000};
    const bda_rule expect_rule[] = {BDA_RULE_FIRST_ROUND, BDA_RULE_RESERVE, BDA_RULE_RESERVE, BDA_RULE_CORRECTED};
    uint64_t now = 0;
    for (unsigned round = 0; round < 4; round++) {
        EXPECT(bda_begin_round(&st, T, used, now, &plan), BDA_OK);
        check_plan(&plan, T, used);
        CHECK(plan.round == round + 1);
        CHECK(plan.kind == (round == 0 ? BDA_ROUND_FIRST : BDA_ROUND_LIVE));
        CHECK(plan.rule == expect_rule[round]);
        CHECK(plan.reserved_bytes_per_s == expect_reserved[round]);
        if (round == 3) {
            break;
        }
        now += 1000;
        EXPECT(bda_end_round(&st, MB, rates[round], rates[round], now, &verdict), BDA_OK);
        CHECK(verdict.round == round + 1 && verdict.next == BDA_NEXT_LIVE);
        CHECK(verdict.dirty_rate_bytes_per_s == rates[round]);
        CHECK(verdict.stop_reason == BDA_STOP_NONE && !verdict.non_convergence && !verdict.stalled);
    }
    CHECK(plan.migration_bytes_per_s == 8400000);
    now += 1000;
    EXPECT(bda_end_round(&st, MB, 0, 0, now, &verdict), BDA_OK);
    EXPECT(bda_request_stop_and_copy(&st), BDA_OK);
    EXPECT(bda_begin_round(&st, T, used, now, &plan), BDA_OK);
    CHECK(plan.kind == BDA_ROUND_STOP_AND_COPY && plan.rule == BDA_RULE_STOP_AND_COPY);
    CHECK(plan.migration_bytes_per_s == 10500000 && plan.reserved_bytes_per_s == 0);
    EXPECT(bda_end_round(&st, MB, 0, 0, now + 10, &verdict), BDA_OK);
    CHECK(verdict.round == 5 && verdict.next == BDA_NEXT_COMPLETE && verdict.stop_reason == BDA_STOP_REQUESTED);
    memset(&verdict, 0x33, sizeof verdict);
    before = verdict;
    EXPECT(bda_end_round(&st, 0, 0, 0, now + 20, &verdict), BDA_ERR_MIGRATION_COMPLETE);
    CHECK(memcmp(&verdict, &before, sizeof verdict) == 0);

    /* UINT64_MAX everywhere, and a round of zero ticks that dirtied something. */
    init(&st, &cfg);
    EXPECT(bda_begin_round(&st, UINT64_MAX, 0, 5, &plan), BDA_OK);
    EXPECT(bda_end_round(&st, UINT64_MAX, UINT64_MAX, UINT64_MAX, 5, &verdict), BDA_OK);
    CHECK(verdict.dirty_rate_bytes_per_s == UINT64_MAX && verdict.next == BDA_NEXT_LIVE);
    bda_telemetry t;
    EXPECT(bda_get_telemetry(&st, &t), BDA_OK);
    CHECK(t.dirty_rate_unbounded == 1);

    /* The default stop conditions: what is left fits 300 ms at 10 MB/s. */
    cfg = config();
    init(&st, &cfg);
    EXPECT(bda_begin_round(&st, 10 * MB, 0, 0, &plan), BDA_OK);
    EXPECT(bda_end_round(&st, 64 * MIB, MB, 3 * MB, 7000, &verdict), BDA_OK);
    CHECK(verdict.next == BDA_NEXT_STOP_AND_COPY && verdict.stop_reason == BDA_STOP_DOWNTIME_TARGET);

    init(&st, &cfg);
    EXPECT(bda_abort(&st), BDA_OK);
    EXPECT(bda_end_round(&st, 0, 0, 0, 0, &verdict), BDA_ERR_MIGRATION_ABORTED);
}

static void test_bda_reassess(void) {
    bda_config cfg = quiet();
    bda_state st, zeroed;
    bda_plan plan, before;
    memset(&zeroed, 0, sizeof zeroed);
    init(&st, &cfg);
    EXPECT(bda_reassess(&st, 10 * MB, 0, 0, &plan), BDA_ERR_NO_ROUND_IN_PROGRESS);
    EXPECT(bda_reassess(NULL, 10 * MB, 0, 0, &plan), BDA_ERR_NULL_POINTER);
    EXPECT(bda_reassess(&st, 10 * MB, 0, 0, NULL), BDA_ERR_NULL_POINTER);
    EXPECT(bda_reassess(&zeroed, 10 * MB, 0, 0, &plan), BDA_ERR_STATE_NOT_INITIALISED);

    /* Round 2 reserves U = 3 MB/s; the link changes under it. */
    EXPECT(bda_begin_round(&st, 10 * MB, 0, 0, &plan), BDA_OK);
    bda_verdict verdict;
    EXPECT(bda_end_round(&st, MB, 3 * MB, 3 * MB, 1000, &verdict), BDA_OK);
    EXPECT(bda_begin_round(&st, 10 * MB, 0, 1000, &plan), BDA_OK);
    CHECK(plan.rule == BDA_RULE_RESERVE && plan.reserved_bytes_per_s == 3 * MB);
    EXPECT(bda_reassess(&st, 10 * MB, 2 * MB, 1100, &plan), BDA_OK);
    check_plan(&plan, 10 * MB, 2 * MB);
    CHECK(plan.round == 2 && plan.migration_bytes_per_s == 5 * MB && plan.reserved_bytes_per_s == 3 * MB);
    /* 2 MB/s free: the reserve no longer fits and is corrected (c = 1 in round 2). */
    EXPECT(bda_reassess(&st, 10 * MB, 8 * MB, 1200, &plan), BDA_OK);
    CHECK(plan.rule == BDA_RULE_CORRECTED && plan.migration_bytes_per_s == MB);
    /* The floor: 5 % of 100 MB/s, when little is free. */
    EXPECT(bda_reassess(&st, 100 * MB, 96 * MB, 1300, &plan), BDA_OK);
    CHECK(plan.rule == BDA_RULE_FLOOR && plan.migration_bytes_per_s == 4 * MB);
    memset(&plan, 0x11, sizeof plan);
    before = plan;
    EXPECT(bda_reassess(&st, 1, 2, 1400, &plan), BDA_ERR_USAGE_ABOVE_CAPACITY);
    CHECK(memcmp(&plan, &before, sizeof plan) == 0);
    EXPECT(bda_reassess(&st, UINT64_MAX, UINT64_MAX - 1, UINT64_MAX, &plan), BDA_OK);
    check_plan(&plan, UINT64_MAX, UINT64_MAX - 1);

    init(&st, &cfg);
    complete(&st);
    EXPECT(bda_reassess(&st, 1, 0, 5000, &plan), BDA_ERR_MIGRATION_COMPLETE);
    init(&st, &cfg);
    EXPECT(bda_begin_round(&st, 10 * MB, 0, 0, &plan), BDA_OK);
    EXPECT(bda_abort(&st), BDA_OK);
    EXPECT(bda_reassess(&st, 1, 0, 0, &plan), BDA_ERR_MIGRATION_ABORTED);
}

/* A link of `capacity` with `usage` of other traffic and, if `has`, a service reserve. */
static bda_link link_of(uint64_t capacity, uint64_t usage, uint64_t service, uint32_t has) {
    bda_link link = {capacity, usage, service, has, 0};
    return link;
}

static void test_bda_begin_round_link(void) {
    bda_config cfg = quiet();
    cfg.policy = BDA_POLICY_BDA_PLUS;
    cfg.bda_floor_ppm = 0;
    bda_state st, zeroed;
    bda_plan plan, before;
    memset(&zeroed, 0, sizeof zeroed);
    init(&st, &cfg);
    bda_link link = link_of(10 * MB, 0, 2 * MB, 1);
    EXPECT(bda_begin_round_link(NULL, &link, 0, &plan), BDA_ERR_NULL_POINTER);
    EXPECT(bda_begin_round_link(&st, NULL, 0, &plan), BDA_ERR_NULL_POINTER);
    EXPECT(bda_begin_round_link(&st, &link, 0, NULL), BDA_ERR_NULL_POINTER);
    EXPECT(bda_begin_round_link(&zeroed, &link, 0, &plan), BDA_ERR_STATE_NOT_INITIALISED);
    memset(&plan, 0x11, sizeof plan);
    before = plan;
    bda_link bad = link_of(10 * MB, 0, 2 * MB, 2);
    EXPECT(bda_begin_round_link(&st, &bad, 0, &plan), BDA_ERR_SERVICE_RESERVE_FLAG_INVALID);
    bad = link_of(1, 2, 0, 0);
    EXPECT(bda_begin_round_link(&st, &bad, 0, &plan), BDA_ERR_USAGE_ABOVE_CAPACITY);
    alignas(8) unsigned char raw[sizeof(bda_link) + 8];
    memcpy(raw + 4, &link, sizeof link);
    EXPECT(bda_begin_round_link(&st, (const bda_link *)(const void *)(raw + 4), 0, &plan), BDA_ERR_MISALIGNED_POINTER);
    CHECK(memcmp(&plan, &before, sizeof plan) == 0);

    /* Round 1 keeps the measured 2 MB/s for the service; round 2, after 3 MB/s of dirtying,
     * keeps the 4 MB/s measured then instead of the paper's U = 3 MB/s. */
    EXPECT(bda_begin_round_link(&st, &link, 0, &plan), BDA_OK);
    check_plan(&plan, 10 * MB, 0);
    CHECK(plan.rule == BDA_RULE_FIRST_ROUND && plan.reserved_bytes_per_s == 2 * MB);
    EXPECT(bda_begin_round_link(&st, &link, 0, &plan), BDA_ERR_ROUND_IN_PROGRESS);
    bda_verdict verdict;
    EXPECT(bda_end_round(&st, MB, 3 * MB, 3 * MB, 1000, &verdict), BDA_OK);
    link = link_of(10 * MB, 0, 4 * MB, 1);
    EXPECT(bda_begin_round_link(&st, &link, 1000, &plan), BDA_OK);
    CHECK(plan.rule == BDA_RULE_SERVICE_RESERVE && plan.migration_bytes_per_s == 6 * MB);
    /* A reserve above the free bandwidth leaves the migration nothing (the floor is off),
     * and the convergence guard then takes what it needs back: U / (1/2) = 6 MB/s. */
    link = link_of(UINT64_MAX, 0, UINT64_MAX, 1);
    EXPECT(bda_reassess_link(&st, &link, NULL, 1100, &plan), BDA_OK);
    check_plan(&plan, UINT64_MAX, 0);
    CHECK(plan.rule == BDA_RULE_CONVERGENCE_GUARD && plan.migration_bytes_per_s == 6 * MB);

    /* Without a measurement, or under BDA_RESERVE_DIRTY_RATE, the paper's reserve. */
    cfg.bda_plus_reserve_source = BDA_RESERVE_DIRTY_RATE;
    init(&st, &cfg);
    link = link_of(10 * MB, 0, 2 * MB, 1);
    EXPECT(bda_begin_round_link(&st, &link, 0, &plan), BDA_OK);
    CHECK(plan.rule == BDA_RULE_FIRST_ROUND && plan.migration_bytes_per_s == 10 * MB && plan.reserved_bytes_per_s == 0);
}

static void test_bda_reassess_link(void) {
    bda_config cfg = quiet();
    cfg.policy = BDA_POLICY_BDA_PLUS;
    cfg.memory_bytes = 100 * MB;
    cfg.bda_first_round_bytes_per_s = MB;
    cfg.bda_plus_deadline_us = 30000000;
    bda_state st, zeroed;
    bda_plan plan, before;
    memset(&zeroed, 0, sizeof zeroed);
    init(&st, &cfg);
    bda_link link = link_of(50 * MB, 0, 0, 0);
    bda_progress progress = {45 * MB, 15 * MB, 1, 0};
    EXPECT(bda_reassess_link(&st, &link, &progress, 0, &plan), BDA_ERR_NO_ROUND_IN_PROGRESS);
    EXPECT(bda_reassess_link(NULL, &link, &progress, 0, &plan), BDA_ERR_NULL_POINTER);
    EXPECT(bda_reassess_link(&st, NULL, &progress, 0, &plan), BDA_ERR_NULL_POINTER);
    EXPECT(bda_reassess_link(&st, &link, &progress, 0, NULL), BDA_ERR_NULL_POINTER);
    EXPECT(bda_reassess_link(&zeroed, &link, &progress, 0, &plan), BDA_ERR_STATE_NOT_INITIALISED);

    /* Round 1, its dirty rate unknown, aims at half the deadline: 100 MB in 15 s. */
    EXPECT(bda_begin_round_link(&st, &link, 0, &plan), BDA_OK);
    CHECK(plan.rule == BDA_RULE_DEADLINE_GUARD && plan.migration_bytes_per_s == 6666667);
    /* 5 s in, 45 MB left and 15 MB dirtied: 60 MB by two thirds of the deadline (15 s left),
     * plus U = 3 MB/s. */
    EXPECT(bda_reassess_link(&st, &link, &progress, 5000, &plan), BDA_OK);
    check_plan(&plan, 50 * MB, 0);
    CHECK(plan.rule == BDA_RULE_DEADLINE_GUARD && plan.migration_bytes_per_s == 7 * MB);
    /* Not measured: round 1's dirtying is unknown, so the round aims at its own target, half
     * the deadline (10 s left): 45 MB / 10 s. */
    progress.has_dirtied = 0;
    EXPECT(bda_reassess_link(&st, &link, &progress, 5000, &plan), BDA_OK);
    CHECK(plan.rule == BDA_RULE_DEADLINE_GUARD && plan.migration_bytes_per_s == 4500000);
    /* 1 s later only 3 MB more went: the link delivered 3 of the 4.5 MB/s. 42 MB in the 9 s
     * left to round 1's target need 4.67 MB/s, and the 1.5 MB/s short are asked for on top. */
    progress.remaining_in_round_bytes = 42 * MB;
    EXPECT(bda_reassess_link(&st, &link, &progress, 6000, &plan), BDA_OK);
    CHECK(plan.rule == BDA_RULE_DEADLINE_GUARD && plan.migration_bytes_per_s == 6166667);
    /* NULL progress: bda_reassess. */
    bda_plan plain;
    EXPECT(bda_reassess_link(&st, &link, NULL, 5000, &plan), BDA_OK);
    EXPECT(bda_reassess(&st, 50 * MB, 0, 5000, &plain), BDA_OK);
    /* Field by field: a plan written by bda leaves its padding bytes undefined. */
    CHECK(plan.round == plain.round && plan.kind == plain.kind && plan.rule == plain.rule);
    CHECK(plan.migration_bytes_per_s == plain.migration_bytes_per_s);
    CHECK(plan.reserved_bytes_per_s == plain.reserved_bytes_per_s && plan.guard == plain.guard);
    CHECK(plan.guard_needed_bytes_per_s == plain.guard_needed_bytes_per_s);

    memset(&plan, 0x11, sizeof plan);
    before = plan;
    progress.has_dirtied = 2;
    EXPECT(bda_reassess_link(&st, &link, &progress, 5000, &plan), BDA_ERR_DIRTIED_FLAG_INVALID);
    progress.has_dirtied = 1;
    bda_link bad = link_of(10 * MB, 0, 0, UINT32_MAX);
    EXPECT(bda_reassess_link(&st, &bad, &progress, 5000, &plan), BDA_ERR_SERVICE_RESERVE_FLAG_INVALID);
    alignas(8) unsigned char raw[sizeof(bda_progress) + 8];
    memcpy(raw + 4, &progress, sizeof progress);
    EXPECT(bda_reassess_link(&st, &link, (const bda_progress *)(const void *)(raw + 4), 5000, &plan),
           BDA_ERR_MISALIGNED_POINTER);
    CHECK(memcmp(&plan, &before, sizeof plan) == 0);
    /* Extremes are accepted. */
    progress.remaining_in_round_bytes = UINT64_MAX;
    progress.dirtied_in_round_bytes = UINT64_MAX;
    EXPECT(bda_reassess_link(&st, &link, &progress, UINT64_MAX, &plan), BDA_OK);
    check_plan(&plan, 50 * MB, 0);
}

static void test_bda_link_filter_config_default(void) {
    bda_link_filter_config fc;
    memset(&fc, 0x5A, sizeof fc);
    EXPECT(bda_link_filter_config_default(NULL), BDA_ERR_NULL_POINTER);
    EXPECT(bda_link_filter_config_default(&fc), BDA_OK);
    CHECK(fc.tick_hz == 0 && fc.usage_rise_us == 0 && fc.usage_fall_us == 1000000);
    CHECK(fc.service_tau_us == 1000000 && fc.service_deviations == 2 && fc.reserved == 0);
}

static void test_bda_link_filter_init(void) {
    bda_link_filter_config fc;
    bda_link_filter filter, untouched;
    EXPECT(bda_link_filter_config_default(&fc), BDA_OK);
    memset(&filter, 0x5A, sizeof filter);
    untouched = filter;
    EXPECT(bda_link_filter_init(&filter, &fc), BDA_ERR_TICK_HZ_ZERO);
    fc.tick_hz = 1000;
    fc.service_deviations = 256;
    EXPECT(bda_link_filter_init(&filter, &fc), BDA_ERR_SERVICE_DEVIATIONS_OUT_OF_RANGE);
    CHECK(memcmp(&filter, &untouched, sizeof filter) == 0);
    EXPECT(bda_link_filter_init(NULL, &fc), BDA_ERR_NULL_POINTER);
    EXPECT(bda_link_filter_init(&filter, NULL), BDA_ERR_NULL_POINTER);
    fc.service_deviations = 2;
    alignas(8) unsigned char raw[sizeof(bda_link_filter) + sizeof(bda_link_filter_config) + 8];
    memcpy(raw + 4, &fc, sizeof fc);
    EXPECT(bda_link_filter_init(&filter, (const bda_link_filter_config *)(const void *)(raw + 4)),
           BDA_ERR_MISALIGNED_POINTER);
    EXPECT(bda_link_filter_init((bda_link_filter *)(void *)(raw + 4), &fc), BDA_ERR_MISALIGNED_POINTER);
    CHECK(memcmp(&filter, &untouched, sizeof filter) == 0);
    fc.service_deviations = 255;
    fc.usage_rise_us = UINT64_MAX;
    fc.usage_fall_us = UINT64_MAX;
    fc.service_tau_us = UINT64_MAX;
    fc.reserved = UINT32_MAX; /* ignored */
    fc.tick_hz = UINT64_MAX;
    EXPECT(bda_link_filter_init(&filter, &fc), BDA_OK);
}

static void test_bda_link_filter_update(void) {
    bda_link_filter_config fc;
    bda_link_filter filter, zeroed;
    bda_link link, before;
    memset(&zeroed, 0, sizeof zeroed);
    EXPECT(bda_link_filter_config_default(&fc), BDA_OK);
    fc.tick_hz = 1000;
    EXPECT(bda_link_filter_init(&filter, &fc), BDA_OK);
    EXPECT(bda_link_filter_update(&zeroed, 10 * MB, 0, 0, 0, 0, &link), BDA_ERR_LINK_FILTER_NOT_INITIALISED);
    EXPECT(bda_link_filter_update(NULL, 10 * MB, 0, 0, 0, 0, &link), BDA_ERR_NULL_POINTER);
    EXPECT(bda_link_filter_update(&filter, 10 * MB, 0, 0, 0, 0, NULL), BDA_ERR_NULL_POINTER);
    memset(&link, 0x11, sizeof link);
    before = link;
    /* Refused readings change neither the output nor the filter (a first reading would be
     * taken as it is, so a changed filter would show in the next output too). */
    bda_link_filter snapshot = filter;
    EXPECT(bda_link_filter_update(&filter, 1, 2, 0, 0, 0, &link), BDA_ERR_USAGE_ABOVE_CAPACITY);
    EXPECT(bda_link_filter_update(&filter, 1, 0, 0, 2, 0, &link), BDA_ERR_SERVICE_MEASURED_FLAG_INVALID);
    alignas(8) unsigned char raw[sizeof(bda_link_filter) + 8];
    memcpy(raw + 4, &filter, sizeof filter);
    EXPECT(bda_link_filter_update((bda_link_filter *)(void *)(raw + 4), 1, 0, 0, 0, 0, &link),
           BDA_ERR_MISALIGNED_POINTER);
    EXPECT(bda_link_filter_update(&filter, 1, 0, 0, 0, 0, (bda_link *)(void *)(raw + 4)), BDA_ERR_MISALIGNED_POINTER);
    CHECK(memcmp(&link, &before, sizeof link) == 0);
    CHECK(memcmp(&filter, &snapshot, sizeof filter) == 0);

    /* A steady 2 MB/s service beside 1 MB/s of other traffic, every 100 ms for 5 s. */
    for (uint64_t now = 0; now <= 5000; now += 100) {
        EXPECT(bda_link_filter_update(&filter, 10 * MB, MB, 2 * MB, 1, now, &link), BDA_OK);
    }
    CHECK(link.capacity_bytes_per_s == 10 * MB && link.other_usage_bytes_per_s == MB);
    CHECK(link.has_service_reserve == 1 && link.service_reserve_bytes_per_s == 2 * MB);
    /* One quiet reading: U_used falls a tenth of the way; the service is not measured. */
    EXPECT(bda_link_filter_update(&filter, 10 * MB, 0, 0, 0, 5100, &link), BDA_OK);
    CHECK(link.other_usage_bytes_per_s == 909090 && link.has_service_reserve == 0);
    /* A burst of the service shows at once. */
    EXPECT(bda_link_filter_update(&filter, 10 * MB, MB, 6 * MB, 1, 5200, &link), BDA_OK);
    CHECK(link.service_reserve_bytes_per_s == 6 * MB);
    /* The capacity falls under the smoothed usage: the link is reported full, never
     * over-full (so the result is always a valid link for a round call). */
    EXPECT(bda_link_filter_update(&filter, MB / 2, 0, 0, 0, 5300, &link), BDA_OK);
    CHECK(link.capacity_bytes_per_s == MB / 2 && link.other_usage_bytes_per_s == MB / 2);
    /* Extremes saturate; a clock that goes back counts as no time passed. */
    EXPECT(bda_link_filter_update(&filter, UINT64_MAX, UINT64_MAX, UINT64_MAX, 1, 0, &link), BDA_OK);
    CHECK(link.other_usage_bytes_per_s == UINT64_MAX && link.service_reserve_bytes_per_s == UINT64_MAX);
    /* Initialising again starts afresh: the next reading is taken as it is. */
    EXPECT(bda_link_filter_init(&filter, &fc), BDA_OK);
    EXPECT(bda_link_filter_update(&filter, 10 * MB, 3 * MB, 0, 0, 0, &link), BDA_OK);
    CHECK(link.other_usage_bytes_per_s == 3 * MB);
}

static void test_bda_request_stop_and_copy(void) {
    bda_config cfg = quiet();
    bda_state st, zeroed;
    bda_plan plan;
    bda_verdict verdict;
    memset(&zeroed, 0, sizeof zeroed);
    init(&st, &cfg);
    EXPECT(bda_request_stop_and_copy(NULL), BDA_ERR_NULL_POINTER);
    EXPECT(bda_request_stop_and_copy(&zeroed), BDA_ERR_STATE_NOT_INITIALISED);
    EXPECT(bda_request_stop_and_copy(&st), BDA_ERR_NOT_BETWEEN_ROUNDS);
    EXPECT(bda_begin_round(&st, 10 * MB, 0, 0, &plan), BDA_OK);
    EXPECT(bda_request_stop_and_copy(&st), BDA_ERR_NOT_BETWEEN_ROUNDS);
    EXPECT(bda_end_round(&st, MB, MB, MB, 100, &verdict), BDA_OK);
    CHECK(verdict.next == BDA_NEXT_LIVE);
    EXPECT(bda_request_stop_and_copy(&st), BDA_OK);
    EXPECT(bda_request_stop_and_copy(&st), BDA_OK);
    EXPECT(bda_begin_round(&st, 10 * MB, 0, 100, &plan), BDA_OK);
    CHECK(plan.kind == BDA_ROUND_STOP_AND_COPY);
    EXPECT(bda_end_round(&st, MB, 0, 0, 200, &verdict), BDA_OK);
    EXPECT(bda_request_stop_and_copy(&st), BDA_ERR_MIGRATION_COMPLETE);
    init(&st, &cfg);
    EXPECT(bda_abort(&st), BDA_OK);
    EXPECT(bda_request_stop_and_copy(&st), BDA_ERR_MIGRATION_ABORTED);
}

static void test_bda_abort(void) {
    bda_config cfg = quiet();
    bda_state st, zeroed;
    bda_plan plan;
    bda_summary summary;
    memset(&zeroed, 0, sizeof zeroed);
    init(&st, &cfg);
    EXPECT(bda_abort(NULL), BDA_ERR_NULL_POINTER);
    EXPECT(bda_abort(&zeroed), BDA_ERR_STATE_NOT_INITIALISED);
    alignas(8) unsigned char raw[sizeof(bda_state) + 8];
    memcpy(raw + 1, &st, sizeof st);
    EXPECT(bda_abort((bda_state *)(void *)(raw + 1)), BDA_ERR_MISALIGNED_POINTER);
    EXPECT(bda_begin_round(&st, 10 * MB, 0, 0, &plan), BDA_OK);
    EXPECT(bda_abort(&st), BDA_OK);
    EXPECT(bda_abort(&st), BDA_OK);
    EXPECT(bda_get_summary(&st, &summary), BDA_ERR_MIGRATION_NOT_COMPLETE);
    init(&st, &cfg);
    complete(&st);
    EXPECT(bda_abort(&st), BDA_OK);
    EXPECT(bda_get_summary(&st, &summary), BDA_ERR_MIGRATION_NOT_COMPLETE);
}

static void test_bda_get_summary(void) {
    bda_config cfg = quiet();
    bda_state st, zeroed;
    bda_plan plan;
    bda_verdict verdict;
    bda_summary summary, before;
    memset(&zeroed, 0, sizeof zeroed);
    init(&st, &cfg);
    EXPECT(bda_get_summary(NULL, &summary), BDA_ERR_NULL_POINTER);
    EXPECT(bda_get_summary(&st, NULL), BDA_ERR_NULL_POINTER);
    EXPECT(bda_get_summary(&zeroed, &summary), BDA_ERR_STATE_NOT_INITIALISED);
    memset(&summary, 0x44, sizeof summary);
    before = summary;
    EXPECT(bda_get_summary(&st, &summary), BDA_ERR_MIGRATION_NOT_COMPLETE);
    CHECK(memcmp(&summary, &before, sizeof summary) == 0);

    /* Round cap 3: rounds of 1000, 500 and 20 ticks. */
    cfg.stop_max_rounds = 3;
    init(&st, &cfg);
    EXPECT(bda_begin_round(&st, 10 * MB, 0, 100, &plan), BDA_OK);
    EXPECT(bda_end_round(&st, 64 * MIB, 2 * MB, 2 * MB, 1100, &verdict), BDA_OK);
    EXPECT(bda_begin_round(&st, 10 * MB, 0, 1100, &plan), BDA_OK);
    EXPECT(bda_end_round(&st, 2 * MB, MB, MB, 1600, &verdict), BDA_OK);
    CHECK(verdict.next == BDA_NEXT_STOP_AND_COPY && verdict.stop_reason == BDA_STOP_ROUND_CAP);
    EXPECT(bda_begin_round(&st, 10 * MB, 0, 1600, &plan), BDA_OK);
    EXPECT(bda_end_round(&st, MB, 0, 0, 1620, &verdict), BDA_OK);
    EXPECT(bda_get_summary(&st, &summary), BDA_OK);
    CHECK(summary.rounds == 3 && summary.stop_reason == BDA_STOP_ROUND_CAP);
    CHECK(summary.sent_bytes == 64 * MIB + 3 * MB);
    CHECK(summary.total_ticks == 1520 && summary.downtime_ticks == 20);
}

static void test_bda_get_telemetry(void) {
    bda_config cfg = quiet();
    cfg.policy = BDA_POLICY_STATIC;
    cfg.static_cap_bytes_per_s = 50 * MB;
    bda_state st, zeroed;
    bda_plan plan;
    bda_telemetry t, before;
    bda_release release;
    memset(&zeroed, 0, sizeof zeroed);
    init(&st, &cfg);
    EXPECT(bda_get_telemetry(NULL, &t), BDA_ERR_NULL_POINTER);
    EXPECT(bda_get_telemetry(&st, NULL), BDA_ERR_NULL_POINTER);
    memset(&t, 0x66, sizeof t);
    before = t;
    EXPECT(bda_get_telemetry(&zeroed, &t), BDA_ERR_STATE_NOT_INITIALISED);
    CHECK(memcmp(&t, &before, sizeof t) == 0);
    EXPECT(bda_get_telemetry(&st, &t), BDA_OK);
    CHECK(all_bytes(&t, sizeof t, 0));

    /* The cap (50 MB/s) above the free 10 MB/s is cut, and counted; so is a clock that
     * goes back, in the controller and in the pacer. */
    EXPECT(bda_begin_round(&st, 10 * MB, 0, 100, &plan), BDA_OK);
    CHECK(plan.cut_to_free && plan.migration_bytes_per_s == 10 * MB);
    EXPECT(bda_reassess(&st, 10 * MB, 0, 50, &plan), BDA_OK);
    EXPECT(bda_pacer_try_release(&st, 10, &release), BDA_OK);
    /* The reassessment at 50 set the pacer's rate at 50, after 100: the pacer counts it
     * too, and then the release at 10. */
    EXPECT(bda_get_telemetry(&st, &t), BDA_OK);
    CHECK(t.cut_to_free == 2 && t.clock_went_backwards == 1 && t.pacer_clock_went_backwards == 2);
    CHECK(t.floor_applied == 0 && t.stall_reports == 0 && t.pacer_saturations == 0);

    /* A stall on a full link, then the floor lifting a 1 B/s first round to 5 % of T. */
    cfg = quiet();
    cfg.stall_after_us = 1000; /* 1 ms = 1 tick */
    cfg.bda_first_round_bytes_per_s = 1;
    init(&st, &cfg);
    EXPECT(bda_begin_round(&st, 100 * MB, 100 * MB, 0, &plan), BDA_OK);
    CHECK(!plan.stalled && plan.migration_bytes_per_s == 0);
    EXPECT(bda_reassess(&st, 100 * MB, 100 * MB, 2, &plan), BDA_OK);
    CHECK(plan.stalled);
    EXPECT(bda_reassess(&st, 100 * MB, 0, 3, &plan), BDA_OK);
    CHECK(!plan.stalled && plan.rule == BDA_RULE_FLOOR && plan.migration_bytes_per_s == 5 * MB);
    EXPECT(bda_get_telemetry(&st, &t), BDA_OK);
    CHECK(t.stall_reports == 1 && t.floor_applied == 1);

    /* Non-convergence: three rounds dirtying at the migration rate. */
    cfg = quiet();
    cfg.policy = BDA_POLICY_PCA;
    cfg.non_convergence_rounds = 3;
    init(&st, &cfg);
    bda_verdict verdict;
    uint64_t now = 0;
    for (int round = 1; round <= 3; round++) {
        EXPECT(bda_begin_round(&st, 10 * MB, 0, now, &plan), BDA_OK);
        now += 1000;
        EXPECT(bda_end_round(&st, 10 * MB, 10 * MB, 10 * MB, now, &verdict), BDA_OK);
        CHECK(verdict.non_convergence == (round == 3));
    }
    EXPECT(bda_get_telemetry(&st, &t), BDA_OK);
    CHECK(t.non_convergence_reports == 1);

    /* A pacer schedule past the end of the clock saturates, and is counted. */
    cfg = quiet();
    cfg.pacer_unit_bytes = UINT64_MAX;
    cfg.tick_hz = UINT64_MAX;
    init(&st, &cfg);
    EXPECT(bda_pacer_set_rate(&st, 1, 0), BDA_OK);
    EXPECT(bda_get_telemetry(&st, &t), BDA_OK);
    CHECK(t.pacer_saturations >= 1);
}

static void test_bda_pacer_set_rate(void) {
    bda_config cfg = quiet();
    bda_state st, zeroed;
    bda_release release;
    memset(&zeroed, 0, sizeof zeroed);
    init(&st, &cfg);
    EXPECT(bda_pacer_set_rate(NULL, 1, 0), BDA_ERR_NULL_POINTER);
    EXPECT(bda_pacer_set_rate(&zeroed, 1, 0), BDA_ERR_STATE_NOT_INITIALISED);
    /* A fresh state's pacer waits for a rate. */
    EXPECT(bda_pacer_next_release(&st, 0, &release), BDA_OK);
    CHECK(release.kind == BDA_RELEASE_BLOCKED && release.at_tick == UINT64_MAX && release.wait_ticks == UINT64_MAX);
    EXPECT(bda_pacer_set_rate(&st, UINT64_MAX, 0), BDA_OK);
    EXPECT(bda_pacer_try_release(&st, 0, &release), BDA_OK);
    CHECK(release.kind == BDA_RELEASE_NOW && release.at_tick == 0 && release.wait_ticks == 0);
    EXPECT(bda_pacer_set_rate(&st, 0, 1), BDA_OK);
    EXPECT(bda_pacer_try_release(&st, 2, &release), BDA_OK);
    CHECK(release.kind == BDA_RELEASE_BLOCKED);
    /* The round's allocation overrides a set rate. */
    bda_plan plan;
    EXPECT(bda_begin_round(&st, 4096, 0, 3, &plan), BDA_OK);
    EXPECT(bda_pacer_try_release(&st, 3, &release), BDA_OK);
    CHECK(release.kind == BDA_RELEASE_NOW);
    /* A schedule at the end of the clock means never. */
    EXPECT(bda_pacer_set_rate(&st, 4096, UINT64_MAX), BDA_OK);
    EXPECT(bda_pacer_try_release(&st, UINT64_MAX, &release), BDA_OK);
    CHECK(release.kind == BDA_RELEASE_LATER && release.at_tick == UINT64_MAX && release.wait_ticks == 0);
}

/* The pacer's documented example: 4 KiB units at 4096 B/s on a millisecond clock, bursts
 * of one unit. */
static void test_bda_pacer_try_release(void) {
    bda_config cfg = quiet();
    cfg.pacer_burst_bytes = 4096;
    bda_state st, zeroed;
    bda_release release, before;
    memset(&zeroed, 0, sizeof zeroed);
    init(&st, &cfg);
    EXPECT(bda_pacer_try_release(NULL, 0, &release), BDA_ERR_NULL_POINTER);
    EXPECT(bda_pacer_try_release(&st, 0, NULL), BDA_ERR_NULL_POINTER);
    EXPECT(bda_pacer_try_release(&zeroed, 0, &release), BDA_ERR_STATE_NOT_INITIALISED);
    alignas(8) unsigned char raw[sizeof(bda_release) + 8];
    memset(raw, 0x22, sizeof raw);
    EXPECT(bda_pacer_try_release(&st, 0, (bda_release *)(void *)(raw + 4)), BDA_ERR_MISALIGNED_POINTER);
    CHECK(all_bytes(raw, sizeof raw, 0x22));

    EXPECT(bda_pacer_set_rate(&st, 4096, 0), BDA_OK);
    EXPECT(bda_pacer_try_release(&st, 0, &release), BDA_OK);
    CHECK(release.kind == BDA_RELEASE_NOW);
    EXPECT(bda_pacer_try_release(&st, 1, &release), BDA_OK);
    CHECK(release.kind == BDA_RELEASE_LATER && release.at_tick == 1000 && release.wait_ticks == 999);
    EXPECT(bda_pacer_try_release(&st, 1000, &release), BDA_OK);
    CHECK(release.kind == BDA_RELEASE_NOW);
    /* Doubling the rate halves the wait at once. */
    EXPECT(bda_pacer_set_rate(&st, 8192, 1000), BDA_OK);
    EXPECT(bda_pacer_try_release(&st, 1000, &release), BDA_OK);
    CHECK(release.kind == BDA_RELEASE_LATER && release.at_tick == 1500 && release.wait_ticks == 500);
    /* An error writes nothing and releases nothing. */
    memset(&release, 0x22, sizeof release);
    before = release;
    EXPECT(bda_pacer_try_release(&zeroed, 1500, &release), BDA_ERR_STATE_NOT_INITIALISED);
    CHECK(memcmp(&release, &before, sizeof release) == 0);
    EXPECT(bda_pacer_try_release(&st, 1500, &release), BDA_OK);
    CHECK(release.kind == BDA_RELEASE_NOW);

    /* Over 10 simulated seconds at 1 MB/s, a backlogged sender gets the rate within a unit
     * and the burst (the default, two units, so that a tick's bytes fit its slack):
     * released <= rate * t + burst and >= rate * t - unit. */
    cfg.pacer_burst_bytes = 0;
    init(&st, &cfg);
    EXPECT(bda_pacer_set_rate(&st, MB, 0), BDA_OK);
    uint64_t now = 0, released = 0;
    while (now <= 10000) {
        EXPECT(bda_pacer_try_release(&st, now, &release), BDA_OK);
        if (release.kind == BDA_RELEASE_NOW) {
            released += 4096;
        } else {
            CHECK(release.kind == BDA_RELEASE_LATER && release.at_tick > now);
            now = release.at_tick;
        }
        CHECK(released <= MB * now / 1000 + 8192);
        CHECK(released + 4096 >= MB * now / 1000);
    }
}

static void test_bda_pacer_next_release(void) {
    bda_config cfg = quiet();
    cfg.pacer_burst_bytes = 4096;
    bda_state st, zeroed;
    bda_release a, b;
    memset(&zeroed, 0, sizeof zeroed);
    init(&st, &cfg);
    EXPECT(bda_pacer_next_release(NULL, 0, &a), BDA_ERR_NULL_POINTER);
    EXPECT(bda_pacer_next_release(&st, 0, NULL), BDA_ERR_NULL_POINTER);
    EXPECT(bda_pacer_next_release(&zeroed, 0, &a), BDA_ERR_STATE_NOT_INITIALISED);
    EXPECT(bda_pacer_set_rate(&st, 4096, 0), BDA_OK);
    /* Asking does not release: the same answer twice, then try_release takes it. */
    EXPECT(bda_pacer_next_release(&st, 0, &a), BDA_OK);
    EXPECT(bda_pacer_next_release(&st, 0, &b), BDA_OK);
    CHECK(a.kind == BDA_RELEASE_NOW && b.kind == a.kind && b.at_tick == a.at_tick && b.wait_ticks == a.wait_ticks);
    EXPECT(bda_pacer_try_release(&st, 0, &a), BDA_OK);
    EXPECT(bda_pacer_next_release(&st, 0, &b), BDA_OK);
    CHECK(b.kind == BDA_RELEASE_LATER && b.at_tick == 1000 && b.wait_ticks == 1000);
}

static void test_bda_predictor_words(void) {
    bda_config cfg = quiet();
    bda_state st, zeroed;
    size_t storage = 7, bitmap = 7;
    memset(&zeroed, 0, sizeof zeroed);
    init(&st, &cfg);
    EXPECT(bda_predictor_words(NULL, &storage, &bitmap), BDA_ERR_NULL_POINTER);
    EXPECT(bda_predictor_words(&st, NULL, &bitmap), BDA_ERR_NULL_POINTER);
    EXPECT(bda_predictor_words(&st, &storage, NULL), BDA_ERR_NULL_POINTER);
    EXPECT(bda_predictor_words(&zeroed, &storage, &bitmap), BDA_ERR_STATE_NOT_INITIALISED);
    CHECK(storage == 7 && bitmap == 7);
    /* 64 MiB = 16384 pages = 256 words; 8 history planes + 2 counter planes (K = 3). */
    EXPECT(bda_predictor_words(&st, &storage, &bitmap), BDA_OK);
    CHECK(bitmap == 256 && storage == 2560);
    /* A partial last word, H = 1 and K = 0: one plane. */
    cfg.memory_bytes = 65 * 4096;
    cfg.predictor_history_rounds = 1;
    cfg.predictor_max_deferrals = 0;
    init(&st, &cfg);
    EXPECT(bda_predictor_words(&st, &storage, &bitmap), BDA_OK);
    CHECK(bitmap == 2 && storage == 2);
    /* K = 15 needs 4 counter planes. */
    cfg.predictor_history_rounds = 8;
    cfg.predictor_max_deferrals = 15;
    init(&st, &cfg);
    EXPECT(bda_predictor_words(&st, &storage, &bitmap), BDA_OK);
    CHECK(bitmap == 2 && storage == 24);
    /* The largest memory: 2^52 pages. A 64-bit target addresses them; a 32-bit one says it
     * cannot (and the rest of bda still works). */
    cfg = quiet();
    cfg.memory_bytes = UINT64_MAX;
    init(&st, &cfg);
    if (sizeof(size_t) >= 8) {
        EXPECT(bda_predictor_words(&st, &storage, &bitmap), BDA_OK);
        CHECK(bitmap == (size_t)(UINT64_C(1) << 46) && storage == 10 * bitmap);
    } else {
        EXPECT(bda_predictor_words(&st, &storage, &bitmap), BDA_ERR_PREDICTOR_MEMORY_TOO_LARGE);
    }
}

static void test_bda_predictor_init(void) {
    bda_config cfg = quiet();
    cfg.memory_bytes = 128 * 4096; /* 2 bitmap words, 20 storage words */
    bda_state st, zeroed;
    uint64_t storage[24];
    memset(&zeroed, 0, sizeof zeroed);
    init(&st, &cfg);
    EXPECT(bda_predictor_init(NULL, storage, 20), BDA_ERR_NULL_POINTER);
    EXPECT(bda_predictor_init(&st, NULL, 20), BDA_ERR_NULL_POINTER);
    EXPECT(bda_predictor_init(&zeroed, storage, 20), BDA_ERR_STATE_NOT_INITIALISED);
    EXPECT(bda_predictor_init(&st, (uint64_t *)(void *)((char *)storage + 4), 20), BDA_ERR_MISALIGNED_POINTER);
    memset(storage, 0xEE, sizeof storage);
    EXPECT(bda_predictor_init(&st, storage, 19), BDA_ERR_STORAGE_TOO_SMALL);
    EXPECT(bda_predictor_init(&st, storage, 0), BDA_ERR_STORAGE_TOO_SMALL);
    CHECK(all_bytes(storage, sizeof storage, 0xEE));
    /* Exactly the words needed are cleared, even when the caller says it has more. */
    EXPECT(bda_predictor_init(&st, storage, SIZE_MAX), BDA_OK);
    CHECK(all_bytes(storage, 20 * sizeof(uint64_t), 0));
    CHECK(all_bytes(storage + 20, 4 * sizeof(uint64_t), 0xEE));
    if (sizeof(size_t) < 8) {
        cfg.memory_bytes = UINT64_MAX;
        init(&st, &cfg);
        EXPECT(bda_predictor_init(&st, storage, 24), BDA_ERR_PREDICTOR_MEMORY_TOO_LARGE);
    }
}

static void test_bda_predictor_plan_round(void) {
    bda_config cfg = quiet();
    cfg.memory_bytes = 128 * 4096;
    bda_state st, zeroed;
    bda_plan plan;
    bda_verdict verdict;
    bda_predictor_result result, before;
    uint64_t storage[20], dirty[2] = {0, 0}, send[3];
    memset(&zeroed, 0, sizeof zeroed);
    init(&st, &cfg);
    EXPECT(bda_predictor_init(&st, storage, 20), BDA_OK);
    EXPECT(bda_predictor_plan_round(&st, storage, 20, dirty, 2, send, 2, &result), BDA_ERR_NO_ROUND_IN_PROGRESS);
    EXPECT(bda_begin_round(&st, 10 * MB, 0, 0, &plan), BDA_OK);
    EXPECT(bda_predictor_plan_round(&st, storage, 20, dirty, 2, send, 2, &result), BDA_ERR_FIRST_ROUND);
    EXPECT(bda_end_round(&st, 128 * 4096, 4096, 4096, 100, &verdict), BDA_OK);
    EXPECT(bda_predictor_plan_round(&st, storage, 20, dirty, 2, send, 2, &result), BDA_ERR_NO_ROUND_IN_PROGRESS);

    /* Round 2 onwards: page 0 is written every round, pages 1 and 127 (the last) once. */
    EXPECT(bda_begin_round(&st, 10 * MB, 0, 100, &plan), BDA_OK);
    EXPECT(bda_predictor_plan_round(NULL, storage, 20, dirty, 2, send, 2, &result), BDA_ERR_NULL_POINTER);
    EXPECT(bda_predictor_plan_round(&st, NULL, 20, dirty, 2, send, 2, &result), BDA_ERR_NULL_POINTER);
    EXPECT(bda_predictor_plan_round(&st, storage, 20, NULL, 2, send, 2, &result), BDA_ERR_NULL_POINTER);
    EXPECT(bda_predictor_plan_round(&st, storage, 20, dirty, 2, NULL, 2, &result), BDA_ERR_NULL_POINTER);
    EXPECT(bda_predictor_plan_round(&st, storage, 20, dirty, 2, send, 2, NULL), BDA_ERR_NULL_POINTER);
    EXPECT(bda_predictor_plan_round(&zeroed, storage, 20, dirty, 2, send, 2, &result),
           BDA_ERR_STATE_NOT_INITIALISED);
    EXPECT(bda_predictor_plan_round(&st, storage, 20, dirty, 2, (uint64_t *)(void *)((char *)send + 4), 2, &result),
           BDA_ERR_MISALIGNED_POINTER);

    /* Buffers too small, or overlapping: nothing written, nothing changed. */
    dirty[0] = 0x3;
    dirty[1] = UINT64_C(1) << 63;
    memset(send, 0x99, sizeof send);
    memset(&result, 0x99, sizeof result);
    before = result;
    uint64_t storage_copy[20];
    memcpy(storage_copy, storage, sizeof storage);
    bda_state st_copy = st;
    EXPECT(bda_predictor_plan_round(&st, storage, 19, dirty, 2, send, 2, &result), BDA_ERR_STORAGE_TOO_SMALL);
    EXPECT(bda_predictor_plan_round(&st, storage, 20, dirty, 1, send, 2, &result), BDA_ERR_DIRTY_BITMAP_TOO_SMALL);
    EXPECT(bda_predictor_plan_round(&st, storage, 20, dirty, 2, send, 1, &result), BDA_ERR_SEND_BITMAP_TOO_SMALL);
    EXPECT(bda_predictor_plan_round(&st, storage, 20, dirty, 2, send, 0, &result), BDA_ERR_SEND_BITMAP_TOO_SMALL);
    EXPECT(bda_predictor_plan_round(&st, storage, 20, dirty, 2, dirty, 2, &result), BDA_ERR_BUFFERS_OVERLAP);
    EXPECT(bda_predictor_plan_round(&st, storage, 20, storage + 19, 2, send, 2, &result), BDA_ERR_BUFFERS_OVERLAP);
    EXPECT(bda_predictor_plan_round(&st, storage, 20, dirty, 2, storage + 18, 2, &result), BDA_ERR_BUFFERS_OVERLAP);
    CHECK(all_bytes(send, sizeof send, 0x99));
    CHECK(memcmp(&result, &before, sizeof result) == 0);
    CHECK(memcmp(storage, storage_copy, sizeof storage) == 0);
    CHECK(memcmp(&st, &st_copy, sizeof st) == 0);
    /* Adjacent buffers do not overlap, and long lengths are capped at what is needed. */
    uint64_t joined[4];
    joined[0] = dirty[0];
    joined[1] = dirty[1];
    EXPECT(bda_predictor_plan_round(&st, storage, SIZE_MAX, joined, 2, joined + 2, SIZE_MAX, &result), BDA_OK);
    CHECK(joined[2] == 0x3 && joined[3] == (UINT64_C(1) << 63));
    CHECK(result.send_pages == 3 && result.deferred_pages == 0);

    /* Page 0 keeps being dirtied: from round 5 (4 of the last 8 rounds dirty, the default
     * threshold 1/2) it is held back; the stop-and-copy round sends it. */
    uint64_t now = 100;
    for (int round = 3; round <= 6; round++) {
        EXPECT(bda_end_round(&st, 4096, 4096, 4096, now + 100, &verdict), BDA_OK);
        now += 100;
        EXPECT(bda_begin_round(&st, 10 * MB, 0, now, &plan), BDA_OK);
        dirty[0] = 0x1;
        dirty[1] = 0;
        EXPECT(bda_predictor_plan_round(&st, storage, 20, dirty, 2, send, 3, &result), BDA_OK);
        if (round < 5) {
            CHECK(send[0] == 0x1 && result.send_pages == 1 && result.deferred_pages == 0);
        } else {
            CHECK(send[0] == 0 && result.send_pages == 0 && result.deferred_pages == 1);
        }
        CHECK(send[1] == 0);
    }
    CHECK(send[2] == UINT64_C(0x9999999999999999)); /* past the bitmap: untouched */
    EXPECT(bda_end_round(&st, 0, 4096, 4096, now + 100, &verdict), BDA_OK);
    EXPECT(bda_request_stop_and_copy(&st), BDA_OK);
    EXPECT(bda_begin_round(&st, 10 * MB, 0, now + 100, &plan), BDA_OK);
    dirty[0] = 0;
    EXPECT(bda_predictor_plan_round(&st, storage, 20, dirty, 2, send, 2, &result), BDA_OK);
    CHECK(send[0] == 0x1 && result.send_pages == 1 && result.deferred_pages == 0);
    EXPECT(bda_end_round(&st, 4096, 0, 0, now + 200, &verdict), BDA_OK);
    EXPECT(bda_predictor_plan_round(&st, storage, 20, dirty, 2, send, 2, &result), BDA_ERR_NO_ROUND_IN_PROGRESS);
}

/* A BDA+ config on the millisecond clock, floor and stop conditions off. */
static bda_config bda_plus(uint32_t on_unmet) {
    bda_config cfg = quiet();
    cfg.policy = BDA_POLICY_BDA_PLUS;
    cfg.bda_floor_ppm = 0;
    cfg.bda_plus_on_unmet = on_unmet;
    return cfg;
}

/* What every plan's guard report keeps. */
static void check_guard(const bda_plan *plan) {
    if (plan->guard == BDA_GUARD_NONE) {
        CHECK(plan->guard_needed_bytes_per_s == 0 && plan->guard_reserve_taken_bytes_per_s == 0);
        CHECK(plan->guard_unmet == 0);
        return;
    }
    CHECK(plan->guard == BDA_GUARD_CONVERGENCE || plan->guard == BDA_GUARD_DEADLINE);
    CHECK(plan->guard_reserve_taken_bytes_per_s <= plan->migration_bytes_per_s);
    CHECK(plan->guard_unmet == 0 || plan->guard_unmet == BDA_UNMET_TAKE_RESERVE ||
          plan->guard_unmet == BDA_UNMET_SLOW_GUEST);
    /* Unmet exactly when the free bandwidth is below the need; a need saturated at
     * UINT64_MAX may stand for more, so on a free bandwidth of UINT64_MAX it may be either. */
    CHECK((plan->guard_unmet != 0) == (plan->guard_needed_bytes_per_s > plan->free_bytes_per_s) ||
          (plan->guard_needed_bytes_per_s == UINT64_MAX && plan->free_bytes_per_s == UINT64_MAX));
}

/* Round 1 on `free` B/s, ended after a second that dirtied `dirtied` bytes, then round 2. */
static bda_status round_two(bda_state *st, uint64_t free, uint64_t dirtied, bda_plan *plan) {
    bda_verdict verdict;
    EXPECT(bda_begin_round(st, free, 0, 0, plan), BDA_OK);
    CHECK(plan->guard == BDA_GUARD_NONE); /* round 1 has no dirty rate to guard */
    EXPECT(bda_end_round(st, MB, dirtied, dirtied, 1000, &verdict), BDA_OK);
    return bda_begin_round(st, free, 0, 1000, plan);
}

/* BDA+: the convergence guard in a whole migration, each action when a guard cannot be met,
 * the deadline guard and the round-1 reserve. */
static void test_bda_plus(void) {
    bda_state st;
    bda_plan plan;
    bda_verdict verdict;
    bda_telemetry t;
    bda_summary summary;

    /* U = 5 MB/s on 10 MB/s free: BDA reserves U in round 2 and leaves the migration 5 MB/s,
     * no faster than the guest dirties: it never converges. The guard needs U / (1/2). */
    bda_config cfg = bda_plus(BDA_UNMET_TAKE_RESERVE);
    cfg.policy = BDA_POLICY_BDA;
    init(&st, &cfg);
    EXPECT(round_two(&st, 10 * MB, 5 * MB, &plan), BDA_OK);
    CHECK(plan.rule == BDA_RULE_RESERVE && plan.migration_bytes_per_s == 5 * MB && plan.guard == BDA_GUARD_NONE);
    check_guard(&plan);
    cfg.policy = BDA_POLICY_BDA_PLUS;
    init(&st, &cfg);
    EXPECT(round_two(&st, 10 * MB, 5 * MB, &plan), BDA_OK);
    check_plan(&plan, 10 * MB, 0);
    check_guard(&plan);
    CHECK(plan.rule == BDA_RULE_CONVERGENCE_GUARD && plan.guard == BDA_GUARD_CONVERGENCE);
    CHECK(plan.migration_bytes_per_s == 10 * MB && plan.reserved_bytes_per_s == 0);
    CHECK(plan.guard_needed_bytes_per_s == 10 * MB && plan.guard_reserve_taken_bytes_per_s == 5 * MB);
    CHECK(plan.guard_unmet == 0 && !plan.cut_to_free);
    /* Round 3: U = 2 MB/s, D = 5 MB/s; the paper's rate (about 5.86 MB/s) meets 4 MB/s. */
    EXPECT(bda_end_round(&st, 10 * MB, 2 * MB, 2 * MB, 2000, &verdict), BDA_OK);
    EXPECT(bda_begin_round(&st, 10 * MB, 0, 2000, &plan), BDA_OK);
    check_guard(&plan);
    CHECK(plan.rule == BDA_RULE_RESERVE && plan.guard == BDA_GUARD_NONE && plan.migration_bytes_per_s >= 4 * MB);
    EXPECT(bda_end_round(&st, 2 * MB, 0, 0, 3000, &verdict), BDA_OK);
    EXPECT(bda_request_stop_and_copy(&st), BDA_OK);
    EXPECT(bda_begin_round(&st, 10 * MB, 0, 3000, &plan), BDA_OK);
    CHECK(plan.rule == BDA_RULE_STOP_AND_COPY && plan.guard == BDA_GUARD_NONE);
    EXPECT(bda_end_round(&st, 0, 0, 0, 3010, &verdict), BDA_OK);
    EXPECT(bda_get_summary(&st, &summary), BDA_OK);
    CHECK(summary.rounds == 4);
    EXPECT(bda_get_telemetry(&st, &t), BDA_OK);
    CHECK(t.guard_took_reserve == 1 && t.guard_unmet == 0);

    /* U = 6 MB/s needs 12 MB/s; only 10 MB/s free. Take the reserve: all of it. */
    init(&st, &cfg);
    EXPECT(round_two(&st, 10 * MB, 6 * MB, &plan), BDA_OK);
    check_guard(&plan);
    CHECK(plan.rule == BDA_RULE_CONVERGENCE_GUARD && plan.migration_bytes_per_s == 10 * MB);
    CHECK(plan.guard_needed_bytes_per_s == 12 * MB && plan.guard_reserve_taken_bytes_per_s == 6 * MB);
    CHECK(plan.guard_unmet == BDA_UNMET_TAKE_RESERVE);
    EXPECT(bda_get_telemetry(&st, &t), BDA_OK);
    CHECK(t.guard_took_reserve == 1 && t.guard_unmet == 1);

    /* Slow the guest: the paper's allocation stands, the plan says the guard is unmet, and
     * the migration goes on (a reassessment reports it again) to completion. */
    cfg = bda_plus(BDA_UNMET_SLOW_GUEST);
    init(&st, &cfg);
    EXPECT(round_two(&st, 10 * MB, 6 * MB, &plan), BDA_OK);
    check_guard(&plan);
    CHECK(plan.rule == BDA_RULE_RESERVE && plan.migration_bytes_per_s == 4 * MB && plan.reserved_bytes_per_s == 6 * MB);
    CHECK(plan.guard == BDA_GUARD_CONVERGENCE && plan.guard_unmet == BDA_UNMET_SLOW_GUEST);
    CHECK(plan.guard_needed_bytes_per_s == 12 * MB && plan.guard_reserve_taken_bytes_per_s == 0);
    EXPECT(bda_reassess(&st, 10 * MB, 0, 1100, &plan), BDA_OK);
    CHECK(plan.guard_unmet == BDA_UNMET_SLOW_GUEST);
    /* The guest was slowed: 1 MB/s dirtied; now the paper's rate meets the guard. */
    EXPECT(bda_end_round(&st, 4 * MB, MB, MB, 2000, &verdict), BDA_OK);
    CHECK(verdict.next == BDA_NEXT_LIVE);
    EXPECT(bda_begin_round(&st, 10 * MB, 0, 2000, &plan), BDA_OK);
    check_guard(&plan);
    CHECK(plan.guard == BDA_GUARD_NONE);
    EXPECT(bda_end_round(&st, MB, 0, 0, 3000, &verdict), BDA_OK);
    EXPECT(bda_request_stop_and_copy(&st), BDA_OK);
    EXPECT(bda_begin_round(&st, 10 * MB, 0, 3000, &plan), BDA_OK);
    EXPECT(bda_end_round(&st, 0, 0, 0, 3010, &verdict), BDA_OK);
    CHECK(verdict.next == BDA_NEXT_COMPLETE);
    EXPECT(bda_get_telemetry(&st, &t), BDA_OK);
    CHECK(t.guard_took_reserve == 0 && t.guard_unmet == 2);

    /* Abort: its own status, no plan written, and from then on the state is aborted. */
    cfg = bda_plus(BDA_UNMET_ABORT);
    init(&st, &cfg);
    EXPECT(bda_begin_round(&st, 10 * MB, 0, 0, &plan), BDA_OK);
    EXPECT(bda_end_round(&st, MB, 6 * MB, 6 * MB, 1000, &verdict), BDA_OK);
    memset(&plan, 0x5C, sizeof plan);
    EXPECT(bda_begin_round(&st, 10 * MB, 0, 1000, &plan), BDA_ERR_GUARD_UNMET);
    CHECK(all_bytes(&plan, sizeof plan, 0x5C));
    EXPECT(bda_get_telemetry(&st, &t), BDA_OK);
    /* The aborting allocation counts as taking the reserve too (the kernel counts the
     * allocation it computed, though it was never handed out). */
    CHECK(t.guard_unmet == 1 && t.guard_took_reserve == 1);
    EXPECT(bda_begin_round(&st, 10 * MB, 0, 1000, &plan), BDA_ERR_MIGRATION_ABORTED);
    EXPECT(bda_reassess(&st, 10 * MB, 0, 1000, &plan), BDA_ERR_MIGRATION_ABORTED);
    EXPECT(bda_end_round(&st, 0, 0, 0, 1100, &verdict), BDA_ERR_MIGRATION_ABORTED);
    EXPECT(bda_request_stop_and_copy(&st), BDA_ERR_MIGRATION_ABORTED);
    EXPECT(bda_get_summary(&st, &summary), BDA_ERR_MIGRATION_NOT_COMPLETE);
    EXPECT(bda_abort(&st), BDA_OK);
    CHECK(all_bytes(&plan, sizeof plan, 0x5C));
    /* Met, the same config runs; a reassessment on a busier link that cannot meet it aborts. */
    init(&st, &cfg);
    EXPECT(round_two(&st, 20 * MB, 6 * MB, &plan), BDA_OK);
    check_guard(&plan);
    CHECK(plan.migration_bytes_per_s == 14 * MB && plan.guard == BDA_GUARD_NONE);
    EXPECT(bda_reassess(&st, 20 * MB, 12 * MB, 1100, &plan), BDA_ERR_GUARD_UNMET);
    CHECK(plan.migration_bytes_per_s == 14 * MB); /* not written */
    EXPECT(bda_reassess(&st, 20 * MB, 0, 1200, &plan), BDA_ERR_MIGRATION_ABORTED);

    /* The deadline guard: 64 MiB within 12 s, convergence guard off, round 1 asked at
     * 1 MB/s. Round 1, its dirty rate unknown, aims at half the deadline:
     * ceil(67108864 B / 6 s) = 11184811 B/s. */
    cfg = bda_plus(BDA_UNMET_TAKE_RESERVE);
    cfg.bda_plus_max_dirty_ratio_ppm = 0;
    cfg.bda_plus_deadline_us = 12000000;
    cfg.bda_first_round_bytes_per_s = MB;
    init(&st, &cfg);
    EXPECT(bda_begin_round(&st, 100 * MB, 0, 0, &plan), BDA_OK);
    check_guard(&plan);
    CHECK(plan.rule == BDA_RULE_DEADLINE_GUARD && plan.guard == BDA_GUARD_DEADLINE);
    CHECK(plan.migration_bytes_per_s == 11184811 && plan.guard_needed_bytes_per_s == 11184811);
    CHECK(plan.guard_reserve_taken_bytes_per_s == 11184811 - MB && plan.guard_unmet == 0);
    /* Round 1 took 6 s and dirtied 1.5 MB (U = 250 kB/s); 1 MB is left, planned to be sent
     * by two thirds of the deadline (2 s left): U + 0.5 MB/s = 750000 B/s. The paper leaves
     * 0.9 MB/s - U = 650000 B/s. */
    EXPECT(bda_end_round(&st, 64 * MIB, 1500000, MB, 6000, &verdict), BDA_OK);
    EXPECT(bda_begin_round(&st, 900000, 0, 6000, &plan), BDA_OK);
    check_guard(&plan);
    CHECK(plan.rule == BDA_RULE_DEADLINE_GUARD && plan.migration_bytes_per_s == 750000);
    CHECK(plan.guard_needed_bytes_per_s == 750000 && plan.guard_reserve_taken_bytes_per_s == 100000);
    CHECK(plan.reserved_bytes_per_s == 150000 && plan.guard_unmet == 0);
    /* Past the deadline no rate is enough: unmet, and the whole link goes to the migration. */
    EXPECT(bda_end_round(&st, 4 * MB, MB, 2 * MB, 13000, &verdict), BDA_OK);
    EXPECT(bda_begin_round(&st, 4200000, 0, 13000, &plan), BDA_OK);
    check_guard(&plan);
    CHECK(plan.guard == BDA_GUARD_DEADLINE && plan.guard_needed_bytes_per_s == UINT64_MAX);
    CHECK(plan.guard_unmet == BDA_UNMET_TAKE_RESERVE && plan.migration_bytes_per_s == 4200000);

    /* The round-1 reserve: 2 MB/s kept for the service out of 10 MB/s free. */
    cfg = bda_plus(BDA_UNMET_TAKE_RESERVE);
    cfg.bda_plus_first_round_reserve_bytes_per_s = 2 * MB;
    init(&st, &cfg);
    EXPECT(bda_begin_round(&st, 10 * MB, 0, 0, &plan), BDA_OK);
    check_guard(&plan);
    CHECK(plan.rule == BDA_RULE_FIRST_ROUND && plan.migration_bytes_per_s == 8 * MB);
    CHECK(plan.reserved_bytes_per_s == 2 * MB && plan.guard == BDA_GUARD_NONE);
}

/* The worked example's four allocations, summed, in a fresh state: what a thread computes. */
static int worked_example(void *result) {
    uint64_t sum = 0;
    for (int repeat = 0; repeat < 200; repeat++) {
        bda_config cfg;
        bda_state st;
        bda_plan plan;
        bda_verdict verdict;
        if (bda_config_default(&cfg) != BDA_OK) {
            return 1;
        }
        cfg.memory_bytes = 64 * MIB;
        cfg.tick_hz = 1000;
        cfg.stop_downtime_target_us = 0;
        cfg.bda_first_round_bytes_per_s = 8 * MB;
        cfg.bda_floor_ppm = 0;
        if (bda_init(&st, &cfg) != BDA_OK) {
            return 1;
        }
        const uint64_t rates[] = {3000000, 5000000, 20000000, 0};
        for (unsigned round = 0; round < 4; round++) {
            if (bda_begin_round(&st, 12500000, 2000000, round * 1000, &plan) != BDA_OK ||
                bda_end_round(&st, MB, rates[round], rates[round], (round + 1) * 1000, &verdict) != BDA_OK) {
                return 1;
            }
            sum += plan.migration_bytes_per_s;
        }
    }
    *(uint64_t *)result = sum;
    return 0;
}

/* Distinct states on distinct threads at once: each thread gets what one thread gets. */
static void test_threads(void) {
    uint64_t alone = 0, results[4] = {0, 0, 0, 0};
    thrd_t threads[4];
    CHECK(worked_example(&alone) == 0);
    CHECK(alone == UINT64_C(200) * (8000000 + 7500000 + 6250000 + 8400000)); /* DESIGN.md: E per round */
    for (int t = 0; t < 4; t++) {
        CHECK(thrd_create(&threads[t], worked_example, &results[t]) == thrd_success);
    }
    for (int t = 0; t < 4; t++) {
        int status = 1;
        CHECK(thrd_join(threads[t], &status) == thrd_success && status == 0);
        CHECK(results[t] == alone);
    }
}

static uint64_t rng_state = UINT64_C(0x853C49E6748FEA9B);

static uint64_t random_u64(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(0x2545F4914F6CDD1D);
}

/* Mostly the extremes, sometimes anything. */
static uint64_t extreme_u64(void) {
    static const uint64_t edges[] = {0, 1, 2, 4095, 4096, 1000000, UINT32_MAX, UINT64_MAX / 2, UINT64_MAX - 1,
                                     UINT64_MAX};
    uint64_t r = random_u64();
    return r % 3 == 0 ? random_u64() >> (r % 64) : edges[(r >> 8) % (sizeof edges / sizeof edges[0])];
}

/* 200,000 calls in random order with extreme arguments, on states whose configs are random
 * too: no crash (ASan/UBSan watch), every plan divides exactly the free bandwidth, every
 * enumeration in an output is one of its values, and every refusal leaves output and state
 * untouched. */
static void test_random_calls(void) {
    bda_state st;
    bda_config cfg = quiet();
    init(&st, &cfg);
    uint64_t storage[64] = {0}, dirty[8] = {0}, send[8] = {0};
    unsigned ok = 0, refused = 0, guard_aborts = 0, guards = 0;
    for (int i = 0; i < 200000; i++) {
        if (random_u64() % 1500 == 0) {
            /* A fresh BDA+ migration with valid, random guards (random configs are rarely
             * valid BDA+ ones). */
            bda_config fresh = bda_plus(1 + (uint32_t)(random_u64() % 3));
            fresh.bda_plus_max_dirty_ratio_ppm = (uint32_t)(random_u64() % 1000001);
            fresh.bda_plus_deadline_us = random_u64() % 2 ? random_u64() % 100000000 : 0;
            fresh.bda_plus_first_round_reserve_bytes_per_s = random_u64() % 2 ? extreme_u64() : 0;
            init(&st, &fresh);
            continue;
        }
        if (random_u64() % 500 == 0) {
            /* A fresh migration with random limits, each in or out of its range. */
            bda_config fresh = config();
            fresh.memory_bytes = extreme_u64() % 3 == 0 ? extreme_u64() : 64 * 4096;
            fresh.tick_hz = extreme_u64();
            fresh.policy = (uint32_t)(random_u64() % 7);
            fresh.page_size_bytes = UINT64_C(1) << (10 + random_u64() % 24);
            fresh.bda_first_round_bytes_per_s = extreme_u64();
            fresh.bda_floor_ppm = (uint32_t)(random_u64() % 1100000);
            fresh.bda_coefficients = (uint32_t)(random_u64() % 3);
            fresh.incremental_start_bytes_per_s = extreme_u64();
            fresh.incremental_ceiling_bytes_per_s = extreme_u64();
            fresh.static_cap_bytes_per_s = extreme_u64();
            fresh.stop_downtime_target_us = extreme_u64();
            fresh.stop_max_rounds = (uint32_t)extreme_u64();
            fresh.stall_after_us = extreme_u64();
            fresh.pacer_unit_bytes = extreme_u64();
            fresh.pacer_burst_bytes = extreme_u64();
            fresh.predictor_history_rounds = (uint32_t)(random_u64() % 10);
            fresh.predictor_max_deferrals = (uint32_t)(random_u64() % 17);
            fresh.bda_plus_max_dirty_ratio_ppm = (uint32_t)(random_u64() % 1100000);
            fresh.bda_plus_on_unmet = (uint32_t)(random_u64() % 5);
            fresh.bda_plus_deadline_us = random_u64() % 2 ? extreme_u64() : 0;
            fresh.bda_plus_first_round_reserve_bytes_per_s = random_u64() % 2 ? extreme_u64() : 0;
            bda_state before = st;
            bda_status status = bda_init(&st, &fresh);
            if (status != BDA_OK) {
                CHECK(memcmp(&st, &before, sizeof st) == 0);
            }
            continue;
        }
        bda_state before = st;
        bda_plan plan;
        bda_verdict verdict;
        bda_release release;
        bda_predictor_result predicted;
        memset(&plan, 0xA5, sizeof plan);
        memset(&verdict, 0xA5, sizeof verdict);
        memset(&release, 0xA5, sizeof release);
        memset(&predicted, 0xA5, sizeof predicted);
        uint64_t capacity = extreme_u64(), usage = random_u64() % 4 == 0 ? extreme_u64() : capacity / 3;
        bda_status status;
        const void *output = NULL;
        size_t output_size = 0;
        switch (random_u64() % 9) {
        case 0:
            status = bda_begin_round(&st, capacity, usage, extreme_u64(), &plan);
            output = &plan, output_size = sizeof plan;
            break;
        case 1:
            status = bda_reassess(&st, capacity, usage, extreme_u64(), &plan);
            output = &plan, output_size = sizeof plan;
            break;
        case 2:
            status = bda_end_round(&st, extreme_u64(), extreme_u64(), extreme_u64(), extreme_u64(), &verdict);
            output = &verdict, output_size = sizeof verdict;
            break;
        case 3:
            status = bda_request_stop_and_copy(&st);
            break;
        case 4:
            status = bda_pacer_set_rate(&st, extreme_u64(), extreme_u64());
            break;
        case 5:
            status = bda_pacer_try_release(&st, extreme_u64(), &release);
            output = &release, output_size = sizeof release;
            break;
        case 6:
            for (size_t w = 0; w < 8; w++) {
                dirty[w] = random_u64();
            }
            status = bda_predictor_plan_round(&st, storage, random_u64() % 70, dirty, random_u64() % 9, send,
                                              random_u64() % 9, &predicted);
            output = &predicted, output_size = sizeof predicted;
            break;
        case 7:
            status = bda_predictor_init(&st, storage, random_u64() % 70);
            break;
        default:
            status = random_u64() % 50 == 0 ? bda_abort(&st) : BDA_OK;
            break;
        }
        if (status == BDA_ERR_GUARD_UNMET) {
            /* The one refusal that changes the state: it is now aborted. */
            CHECK(output == &plan && all_bytes(&plan, sizeof plan, 0xA5));
            CHECK(bda_begin_round(&st, 1, 0, 0, &plan) == BDA_ERR_MIGRATION_ABORTED);
            guard_aborts++;
            continue;
        }
        if (status != BDA_OK) {
            refused++;
            CHECK(strcmp(bda_status_str(status), "unknown status") != 0);
            CHECK(memcmp(&st, &before, sizeof st) == 0);
            if (output != NULL) {
                CHECK(all_bytes(output, output_size, 0xA5));
            }
            continue;
        }
        ok++;
        if (output == &plan) {
            CHECK(plan.free_bytes_per_s == capacity - usage);
            CHECK(plan.migration_bytes_per_s + plan.reserved_bytes_per_s == plan.free_bytes_per_s);
            CHECK(plan.kind >= BDA_ROUND_FIRST && plan.kind <= BDA_ROUND_STOP_AND_COPY);
            CHECK(plan.rule >= BDA_RULE_FIRST_ROUND && plan.rule <= BDA_RULE_DEADLINE_GUARD);
            check_guard(&plan);
            guards += plan.guard != BDA_GUARD_NONE;
        } else if (output == &verdict) {
            CHECK(verdict.next >= BDA_NEXT_LIVE && verdict.next <= BDA_NEXT_COMPLETE);
            CHECK(verdict.stop_reason <= BDA_STOP_REQUESTED);
        } else if (output == &release) {
            CHECK(release.kind >= BDA_RELEASE_NOW && release.kind <= BDA_RELEASE_BLOCKED);
        } else if (output == &predicted) {
            CHECK(predicted.send_pages + predicted.deferred_pages <= 64 * 8);
        }
    }
    CHECK(ok > 10000 && refused > 10000);
    /* The random configs reach BDA+'s guards, and its abort. */
    CHECK(guards > 100 && guard_aborts > 0);
}

/* Two migrations in two states do not share anything. */
static void test_states_are_independent(void) {
    bda_config a = quiet(), b = quiet();
    b.policy = BDA_POLICY_STATIC;
    b.static_cap_bytes_per_s = MB;
    bda_state sa, sb;
    bda_plan pa, pb;
    init(&sa, &a);
    init(&sb, &b);
    EXPECT(bda_begin_round(&sa, 10 * MB, 0, 0, &pa), BDA_OK);
    EXPECT(bda_begin_round(&sb, 10 * MB, 0, 0, &pb), BDA_OK);
    CHECK(pa.migration_bytes_per_s == 10 * MB && pb.migration_bytes_per_s == MB);
    /* A memcpy'd state is an independent snapshot. */
    bda_state snapshot = sa;
    bda_verdict verdict;
    EXPECT(bda_end_round(&sa, MB, 0, 0, 100, &verdict), BDA_OK);
    EXPECT(bda_end_round(&snapshot, MB, 0, 0, 100, &verdict), BDA_OK);
    EXPECT(bda_end_round(&sa, MB, 0, 0, 100, &verdict), BDA_ERR_NO_ROUND_IN_PROGRESS);
}

int main(void) {
    test_bda_version();
    test_bda_status_str();
    test_bda_config_default();
    test_bda_init();
    test_bda_begin_round();
    test_bda_reassess();
    test_bda_begin_round_link();
    test_bda_reassess_link();
    test_bda_link_filter_config_default();
    test_bda_link_filter_init();
    test_bda_link_filter_update();
    test_bda_end_round();
    test_bda_request_stop_and_copy();
    test_bda_abort();
    test_bda_get_summary();
    test_bda_get_telemetry();
    test_bda_pacer_set_rate();
    test_bda_pacer_try_release();
    test_bda_pacer_next_release();
    test_bda_predictor_words();
    test_bda_predictor_init();
    test_bda_predictor_plan_round();
    test_bda_plus();
    test_states_are_independent();
    test_threads();
    test_random_calls();

    /* Every status the library defines was returned by some call above, except the one a
     * bug would return and, on 64-bit targets, the one only 32-bit targets can reach. */
    unsigned statuses = 0;
    for (uint32_t code = 0; code < sizeof seen; code++) {
        if (strcmp(bda_status_str(code), "unknown status") == 0) {
            continue;
        }
        statuses++;
        int exempt = code == BDA_ERR_INTERNAL ||
                     (code == BDA_ERR_PREDICTOR_MEMORY_TOO_LARGE && sizeof(size_t) >= 8);
        if (!seen[code] && !exempt) {
            failures++;
            fprintf(stderr, "status %u (%s) was never returned by a test\n", (unsigned)code, bda_status_str(code));
        }
    }
    printf("test_api: 26 tests, %u checks, %u statuses, %u failures\n", checks, statuses, failures);
    return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
