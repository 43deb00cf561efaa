/*
 * Restart strategies, as Flink's restart-strategy.* (none, fixed-delay,
 * exponential-delay, failure-rate): after a failure, whether the job restarts
 * from its latest checkpoint and after how long. Internal.
 *
 *     struct restart_strategy rs;
 *     restart_strategy_init(&rs, cfg);
 *     int64_t delay;
 *     if (restart_next(&rs, now_ms, &delay) == 0) { sleep delay; restart; }
 */
#ifndef WEIR_RESTART_H
#define WEIR_RESTART_H

#include <stdint.h>

struct weir_config;

enum restart_type { RESTART_NONE, RESTART_FIXED, RESTART_EXPONENTIAL, RESTART_FAILURE_RATE };

struct restart_strategy {
    enum restart_type type;
    /* fixed-delay */
    int64_t attempts, delay_ms;
    /* exponential-delay */
    int64_t initial_ms, max_ms, reset_threshold_ms, attempts_before_reset;
    double multiplier, jitter;
    int64_t backoff_ms, last_failure_ms, since_reset;
    /* failure-rate */
    int64_t max_failures, interval_ms;
    int64_t *failures; /* ring of the last max_failures failure times */
    int64_t n_failures;
    int64_t restarts;
    uint64_t rng;
};

/* From a resolved config; with restart-strategy.type not set and checkpointing
 * on, exponential-delay (Flink's default). */
int restart_strategy_init(struct restart_strategy *rs, const struct weir_config *cfg);
void restart_strategy_free(struct restart_strategy *rs);
/* A failure at now_ms: 0 and *delay_ms when the job restarts, -1 when it fails. */
int restart_next(struct restart_strategy *rs, int64_t now_ms, int64_t *delay_ms);
const char *restart_type_str(enum restart_type t);

#endif
