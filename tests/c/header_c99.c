/*
 * The header compiles as C99 (with -std=c99 -Wall -Wextra -Werror -pedantic): nothing in it
 * needs C11. This file uses each of its types and constants once.
 */
#include "bda.h"

int main(void) {
    bda_config config;
    bda_state state;
    bda_plan plan;
    bda_verdict verdict;
    bda_summary summary;
    bda_telemetry telemetry;
    bda_release release;
    bda_predictor_result predicted;
    bda_status status = BDA_OK;
    bda_round_kind kind = BDA_ROUND_FIRST;
    bda_rule rule = BDA_RULE_FLOOR;
    bda_next next = BDA_NEXT_COMPLETE;
    bda_stop_reason reason = BDA_STOP_NONE;
    bda_release_kind release_kind = BDA_RELEASE_NOW;
    unsigned long total = (unsigned long)(sizeof config + sizeof state + sizeof plan + sizeof verdict +
                                          sizeof summary + sizeof telemetry + sizeof release + sizeof predicted);
    total += (unsigned long)(status + kind + rule + next + reason + release_kind);
    total += BDA_POLICY_BDA + BDA_POLICY_PCA + BDA_POLICY_INCREMENTAL + BDA_POLICY_STATIC;
    total += BDA_COEFFICIENTS_DIRTY_RATE + BDA_COEFFICIENTS_UTILISATION + BDA_STATE_WORDS + BDA_VERSION_NUMBER;
    return total == 0;
}
