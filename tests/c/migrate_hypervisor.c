/*
 * A hypervisor's view: whole pre-copy migrations driven through the C API against a small
 * model of guest memory, a dirtying workload and a shared link, on a simulated clock of
 * microseconds. Every policy (BDA+ included), two workloads.
 *
 * BDA+ sees the link through bda's link filter, with the VM's own service traffic measured
 * (so it reserves what it learns of the service), and reassesses with the round's progress,
 * which its deadline guard plans from: with a deadline of 6 s, the light workload, which
 * plain pre-copy migrates in about 4.2 s and BDA+ without a deadline in about 7.6 s, must end
 * within it.
 *
 * Checked at every plan (round start and every 100 ms reassessment): the migration rate
 * never exceeds the free bandwidth, and the allocation divides exactly the free bandwidth;
 * a BDA+ guard report is consistent (unmet exactly when the free bandwidth is below the need,
 * and only BDA+ reports one).
 * Checked per round: the pages sent never exceed the integral of the rate plus one burst.
 * Checked at the end: the migration completes within the round cap, and the destination
 * holds exactly the source's memory (the predictor lost no page).
 *
 * Built with -std=c11 -Wall -Wextra -Werror -pedantic -fsanitize=address,undefined.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bda.h"

#define PAGE UINT64_C(4096)
#define PAGES 65536 /* 256 MiB */
#define WORDS (PAGES / 64)
#define HZ UINT64_C(1000000)
#define REASSESS_EVERY UINT64_C(100000) /* 100 ms */
#define CAPACITY UINT64_C(125000000)    /* 1 Gbit/s */
#define HOT_PAGES 16384                 /* 64 MiB */
#define DEADLINE_US UINT64_C(6000000)   /* BDA+'s */

static unsigned failures;

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            failures++;                                                                      \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);       \
        }                                                                                    \
    } while (0)

#define OK(call)                                                                             \
    do {                                                                                     \
        bda_status status_ = (call);                                                         \
        if (status_ != BDA_OK) {                                                             \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,                    \
                    bda_status_str(status_));                                                \
            exit(EXIT_FAILURE);                                                              \
        }                                                                                    \
    } while (0)

/* The other traffic on the link: 200 Mbit/s, 600 Mbit/s one second in three. */
static uint64_t other_usage(uint64_t now_us) {
    return (now_us / HZ) % 3 == 2 ? UINT64_C(75000000) : UINT64_C(25000000);
}

/* The VM's own service traffic: 10 MB/s, 30 MB/s one second in four. */
static uint64_t service_traffic(uint64_t now_us) {
    return (now_us / HZ) % 4 == 3 ? UINT64_C(30000000) : UINT64_C(10000000);
}

/* The guest: page versions at the source and the destination, and the dirty log. */
struct guest {
    uint32_t source[PAGES];
    uint32_t destination[PAGES];
    uint64_t dirty[WORDS]; /* pages written since the log was last read */
    uint64_t rng;
    uint64_t writes_per_s;
    uint64_t clock_us; /* time up to which the workload has run */
    int paused;
};

static uint64_t next_random(struct guest *g) {
    g->rng ^= g->rng >> 12;
    g->rng ^= g->rng << 25;
    g->rng ^= g->rng >> 27;
    return g->rng * UINT64_C(0x2545F4914F6CDD1D);
}

/* Runs the workload up to `now`: writes_per_s page writes, 90 % of them to the hot set. */
static void run_guest(struct guest *g, uint64_t now) {
    if (!g->paused) {
        uint64_t writes = g->writes_per_s * now / HZ - g->writes_per_s * g->clock_us / HZ;
        for (uint64_t i = 0; i < writes; i++) {
            uint64_t r = next_random(g);
            uint64_t page = (r % 10 < 9) ? (r >> 8) % HOT_PAGES : (r >> 8) % PAGES;
            g->source[page]++;
            g->dirty[page / 64] |= UINT64_C(1) << (page % 64);
        }
    }
    g->clock_us = now;
}

static uint64_t count_bits(const uint64_t *words, size_t n) {
    uint64_t count = 0;
    for (size_t i = 0; i < n; i++) {
        for (uint64_t w = words[i]; w; w &= w - 1) {
            count++;
        }
    }
    return count;
}

/* The migration's view of one round, for the bounds. */
struct round_meter {
    uint64_t rate;          /* the pacer's current rate, bytes/s */
    uint64_t since;         /* when it took that rate */
    uint64_t rate_integral; /* bytes/s x us over the round so far */
};

static void meter_advance(struct round_meter *m, uint64_t now) {
    m->rate_integral += m->rate * (now - m->since);
    m->since = now;
}

/* Plans seen, those in which a BDA+ guard needed more than the paper's rate, and those
 * that reserved what was learned of the service. */
struct plan_count {
    uint64_t plans;
    uint64_t guarded;
    uint64_t service_reserved;
    uint64_t deadline_guarded;
};

/* Checks a plan against the free bandwidth it was made for, and moves the meter to its
 * rate. */
static void take_plan(const bda_plan *plan, uint32_t policy, uint64_t free_bw, uint64_t now,
                      struct round_meter *m, struct plan_count *count) {
    CHECK(plan->free_bytes_per_s == free_bw);
    CHECK(plan->migration_bytes_per_s <= plan->free_bytes_per_s);
    CHECK(plan->migration_bytes_per_s + plan->reserved_bytes_per_s == plan->free_bytes_per_s);
    if (plan->guard == BDA_GUARD_NONE) {
        CHECK(plan->guard_needed_bytes_per_s == 0 && plan->guard_unmet == 0);
    } else {
        CHECK(policy == BDA_POLICY_BDA_PLUS);
        CHECK((plan->guard_unmet != 0) == (plan->guard_needed_bytes_per_s > plan->free_bytes_per_s));
        CHECK(plan->guard_unmet != BDA_UNMET_ABORT); /* an abort returns no plan */
        count->guarded++;
    }
    if (plan->rule == BDA_RULE_DEADLINE_GUARD) {
        count->deadline_guarded++;
    }
    if (plan->rule == BDA_RULE_SERVICE_RESERVE) {
        CHECK(policy == BDA_POLICY_BDA_PLUS);
        count->service_reserved++;
    }
    meter_advance(m, now);
    m->rate = plan->migration_bytes_per_s;
    count->plans++;
}

struct result {
    uint32_t rounds;
    struct plan_count plans;
    uint64_t sent_pages;
    uint64_t total_us;
    uint64_t downtime_us;
};

/* Plans a round (`progress` NULL at its start) and returns the free bandwidth the plan was
 * made for. BDA+ reads the link through the filter, with the service measured; the other
 * policies get the raw figures. */
static uint64_t plan_now(bda_state *st, bda_link_filter *filter, uint32_t policy, const bda_progress *progress,
                         int begin, uint64_t now, bda_plan *plan) {
    if (policy != BDA_POLICY_BDA_PLUS) {
        if (begin) {
            OK(bda_begin_round(st, CAPACITY, other_usage(now), now, plan));
        } else {
            OK(bda_reassess(st, CAPACITY, other_usage(now), now, plan));
        }
        return CAPACITY - other_usage(now);
    }
    bda_link link;
    OK(bda_link_filter_update(filter, CAPACITY, other_usage(now), service_traffic(now), 1, now, &link));
    CHECK(link.has_service_reserve == 1 && link.service_reserve_bytes_per_s >= service_traffic(now));
    CHECK(link.other_usage_bytes_per_s <= CAPACITY);
    if (begin) {
        OK(bda_begin_round_link(st, &link, now, plan));
    } else {
        OK(bda_reassess_link(st, &link, progress, now, plan));
    }
    return link.capacity_bytes_per_s - link.other_usage_bytes_per_s;
}

static struct result migrate(uint32_t policy, uint64_t deadline_us, uint64_t writes_per_s, struct guest *g) {
    bda_config cfg;
    OK(bda_config_default(&cfg));
    cfg.policy = policy;
    cfg.memory_bytes = PAGES * PAGE;
    cfg.tick_hz = HZ;
    cfg.incremental_start_bytes_per_s = 25000000; /* so the link's free share can cut it */
    cfg.bda_plus_deadline_us = deadline_us;
    bda_state st;
    OK(bda_init(&st, &cfg));
    bda_link_filter_config filter_cfg;
    OK(bda_link_filter_config_default(&filter_cfg));
    filter_cfg.tick_hz = HZ;
    bda_link_filter filter;
    OK(bda_link_filter_init(&filter, &filter_cfg));

    size_t storage_words, bitmap_words;
    OK(bda_predictor_words(&st, &storage_words, &bitmap_words));
    CHECK(bitmap_words == WORDS);
    uint64_t *storage = malloc(storage_words * sizeof(uint64_t));
    uint64_t send[WORDS], dirty_snapshot[WORDS];
    CHECK(storage != NULL);
    OK(bda_predictor_init(&st, storage, storage_words));

    memset(g, 0, sizeof *g);
    g->rng = UINT64_C(0x9E3779B97F4A7C15) ^ policy ^ writes_per_s;
    g->writes_per_s = writes_per_s;

    struct result r = {0, {0, 0, 0, 0}, 0, 0, 0};
    uint64_t now = 0, next_reassess = REASSESS_EVERY;
    const uint64_t burst = 2 * PAGE; /* the default: two units of one page */
    for (;;) {
        bda_plan plan;
        struct round_meter meter = {0, now, 0};
        uint64_t free_bw = plan_now(&st, &filter, policy, NULL, 1, now, &plan);
        take_plan(&plan, policy, free_bw, now, &meter, &r.plans);
        if (plan.kind == BDA_ROUND_STOP_AND_COPY) {
            g->paused = 1;
        }
        if (plan.kind == BDA_ROUND_FIRST) {
            memset(send, 0xFF, sizeof send);
        } else {
            /* The pages dirtied while the last round ran; the log restarts now. */
            memcpy(dirty_snapshot, g->dirty, sizeof dirty_snapshot);
            memset(g->dirty, 0, sizeof g->dirty);
            bda_predictor_result predicted;
            OK(bda_predictor_plan_round(&st, storage, storage_words, dirty_snapshot, WORDS, send, WORDS, &predicted));
            CHECK(predicted.send_pages == count_bits(send, WORDS));
        }
        if (plan.kind == BDA_ROUND_FIRST) {
            memset(g->dirty, 0, sizeof g->dirty);
        }

        uint64_t round_start = now, sent = 0, to_send = count_bits(send, WORDS);
        for (uint64_t page = 0; page < PAGES; page++) {
            if (!(send[page / 64] >> (page % 64) & 1)) {
                continue;
            }
            for (;;) {
                bda_release release;
                OK(bda_pacer_try_release(&st, now, &release));
                if (release.kind == BDA_RELEASE_NOW) {
                    break;
                }
                /* Wait, reassessing the link every 100 ms meanwhile. */
                uint64_t until = release.kind == BDA_RELEASE_LATER ? release.at_tick : UINT64_MAX;
                if (until > next_reassess) {
                    now = next_reassess;
                    next_reassess += REASSESS_EVERY;
                    run_guest(g, now);
                    bda_progress progress = {(to_send - sent) * PAGE, count_bits(g->dirty, WORDS) * PAGE, 1, 0};
                    free_bw = plan_now(&st, &filter, policy, &progress, 0, now, &plan);
                    take_plan(&plan, policy, free_bw, now, &meter, &r.plans);
                    CHECK(!plan.stalled);
                } else {
                    now = until;
                    run_guest(g, now);
                }
            }
            g->destination[page] = g->source[page];
            sent++;
            /* Released bytes never exceed the integral of the rate plus one burst. */
            meter_advance(&meter, now);
            CHECK(sent * PAGE * HZ <= meter.rate_integral + burst * HZ);
        }
        run_guest(g, now);
        r.sent_pages += sent;

        /* What stop-and-copy would send now: every page whose destination copy is stale. */
        uint64_t stale = 0;
        for (uint64_t page = 0; page < PAGES; page++) {
            stale += g->destination[page] != g->source[page];
        }
        uint64_t dirtied = count_bits(g->dirty, WORDS) * PAGE;
        bda_verdict verdict;
        OK(bda_end_round(&st, sent * PAGE, dirtied, stale * PAGE, now, &verdict));
        CHECK(verdict.round == plan.round);
        if (plan.kind == BDA_ROUND_STOP_AND_COPY) {
            CHECK(stale == 0);
            CHECK(verdict.next == BDA_NEXT_COMPLETE);
            r.downtime_us = now - round_start;
            break;
        }
        CHECK(verdict.next != BDA_NEXT_COMPLETE);
        if (plan.round > cfg.stop_max_rounds) {
            CHECK(!"the round cap holds");
            break;
        }
    }
    bda_summary summary;
    OK(bda_get_summary(&st, &summary));
    CHECK(summary.rounds >= 2 && summary.rounds <= cfg.stop_max_rounds);
    CHECK(summary.sent_bytes == r.sent_pages * PAGE);
    CHECK(summary.downtime_ticks == r.downtime_us);
    CHECK(summary.total_ticks == now);
    r.rounds = summary.rounds;
    r.total_us = summary.total_ticks;
    for (uint64_t page = 0; page < PAGES; page++) {
        if (g->destination[page] != g->source[page]) {
            failures++;
            fprintf(stderr, "page %llu differs at the destination\n", (unsigned long long)page);
            break;
        }
    }
    free(storage);
    return r;
}

int main(void) {
    static struct guest guest;
    /* Every policy; BDA+ without a deadline and with one. */
    const struct {
        const char *name;
        uint32_t policy;
        uint64_t deadline_us;
    } runs_of[] = {
        {"bda", BDA_POLICY_BDA, 0},
        {"pca", BDA_POLICY_PCA, 0},
        {"incremental", BDA_POLICY_INCREMENTAL, 0},
        {"static", BDA_POLICY_STATIC, 0},
        {"bda-plus", BDA_POLICY_BDA_PLUS, 0},
        {"bda-plus 6 s", BDA_POLICY_BDA_PLUS, DEADLINE_US},
    };
    /* 50 MB/s of page writes (12207 pages/s), and a heavy 150 MB/s that does not converge
     * and so ends on a limit (rounds, bytes sent, or the incremental policy's ceiling). */
    const uint64_t workloads[] = {12207, 36621};
    unsigned runs = 0;
    for (size_t i = 0; i < sizeof runs_of / sizeof runs_of[0]; i++) {
        for (size_t w = 0; w < sizeof workloads / sizeof workloads[0]; w++) {
            struct result r = migrate(runs_of[i].policy, runs_of[i].deadline_us, workloads[w], &guest);
            printf("%-12s %6llu writes/s: %2u rounds, %5llu plans (%5llu guarded, %5llu deadline, %5llu service "
                   "reserve), %6llu pages sent, %8.3f s, downtime %7.3f ms\n",
                   runs_of[i].name, (unsigned long long)workloads[w], (unsigned)r.rounds,
                   (unsigned long long)r.plans.plans, (unsigned long long)r.plans.guarded,
                   (unsigned long long)r.plans.deadline_guarded, (unsigned long long)r.plans.service_reserved,
                   (unsigned long long)r.sent_pages, (double)r.total_us / 1e6, (double)r.downtime_us / 1e3);
            if (runs_of[i].policy == BDA_POLICY_BDA_PLUS && runs_of[i].deadline_us == 0) {
                /* It reserved what it learned of the service in its live rounds. */
                CHECK(r.plans.service_reserved > 0);
            }
            if (runs_of[i].deadline_us != 0) {
                /* The deadline guard planned from the progress, and the light workload, which
                 * BDA+ alone migrates in about 7.6 s, met the 6 s deadline. */
                CHECK(r.plans.deadline_guarded > 0);
                CHECK(w > 0 || r.total_us <= runs_of[i].deadline_us);
            }
            runs++;
        }
    }
    printf("migrate_hypervisor: %u migrations, %u failures\n", runs, failures);
    return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
