// The header compiles as C++17 (with -Wall -Wextra -Werror -pedantic) and its functions
// link with C linkage: this program runs a two-round migration through them.
#include <cstdio>
#include <cstring>

#include "bda.h"

static_assert(sizeof(bda_state) == BDA_STATE_WORDS * sizeof(uint64_t), "bda_state is BDA_STATE_WORDS words");
static_assert(alignof(bda_state) == 8, "bda_state is 8-byte aligned");
static_assert(sizeof(bda_status) == 4, "bda_status is 32 bits");

int main() {
    bda_config config;
    if (bda_config_default(&config) != BDA_OK) {
        return 1;
    }
    config.memory_bytes = 1 << 20;
    config.tick_hz = 1000;
    bda_state state;
    bda_plan plan;
    bda_verdict verdict;
    if (bda_init(&state, &config) != BDA_OK || bda_version() != BDA_VERSION_NUMBER) {
        return 1;
    }
    bda_status status = bda_begin_round(&state, 1000000, 0, 0, &plan);
    if (status != BDA_OK || plan.kind != BDA_ROUND_FIRST || plan.migration_bytes_per_s != 1000000) {
        std::fprintf(stderr, "begin: %s\n", bda_status_str(status));
        return 1;
    }
    if (bda_end_round(&state, 1 << 20, 0, 0, 1049, &verdict) != BDA_OK || verdict.next != BDA_NEXT_STOP_AND_COPY) {
        return 1;
    }
    if (bda_begin_round(&state, 1000000, 0, 1049, &plan) != BDA_OK ||
        bda_end_round(&state, 0, 0, 0, 1050, &verdict) != BDA_OK || verdict.next != BDA_NEXT_COMPLETE) {
        return 1;
    }
    std::printf("header_cpp: C++17 migration of %u rounds, %s\n", verdict.round, bda_status_str(BDA_OK));
    return std::strcmp(bda_status_str(BDA_ERR_NULL_POINTER), "a pointer argument is NULL") != 0;
}
