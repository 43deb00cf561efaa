/* Restart strategies: see restart.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <weir/config.h>

#include "restart.h"

const char *restart_type_str(enum restart_type t)
{
    switch (t) {
    case RESTART_NONE:
        return "none";
    case RESTART_FIXED:
        return "fixed-delay";
    case RESTART_EXPONENTIAL:
        return "exponential-delay";
    case RESTART_FAILURE_RATE:
        return "failure-rate";
    }
    return "?";
}

int restart_strategy_init(struct restart_strategy *rs, const struct weir_config *cfg)
{
    memset(rs, 0, sizeof *rs);
    const char *type = weir_config_get_str(cfg, "restart-strategy.type");
    if (!strcasecmp(type, "fixed-delay") || !strcasecmp(type, "fixeddelay"))
        rs->type = RESTART_FIXED;
    else if (!strcasecmp(type, "exponential-delay"))
        rs->type = RESTART_EXPONENTIAL;
    else if (!strcasecmp(type, "failure-rate"))
        rs->type = RESTART_FAILURE_RATE;
    else
        rs->type = RESTART_NONE;
    if (!weir_config_is_set(cfg, "restart-strategy.type") &&
        weir_config_get_duration_ms(cfg, "execution.checkpointing.interval") > 0)
        rs->type = RESTART_EXPONENTIAL;
    rs->attempts = weir_config_get_int(cfg, "restart-strategy.fixed-delay.attempts");
    rs->delay_ms = weir_config_get_duration_ms(cfg, "restart-strategy.fixed-delay.delay");
    rs->initial_ms =
        weir_config_get_duration_ms(cfg, "restart-strategy.exponential-delay.initial-backoff");
    rs->max_ms = weir_config_get_duration_ms(cfg, "restart-strategy.exponential-delay.max-backoff");
    rs->multiplier =
        weir_config_get_double(cfg, "restart-strategy.exponential-delay.backoff-multiplier");
    rs->reset_threshold_ms = weir_config_get_duration_ms(
        cfg, "restart-strategy.exponential-delay.reset-backoff-threshold");
    rs->jitter = weir_config_get_double(cfg, "restart-strategy.exponential-delay.jitter-factor");
    rs->attempts_before_reset = weir_config_get_int(
        cfg, "restart-strategy.exponential-delay.attempts-before-reset-backoff");
    rs->max_failures =
        weir_config_get_int(cfg, "restart-strategy.failure-rate.max-failures-per-interval");
    rs->interval_ms =
        weir_config_get_duration_ms(cfg, "restart-strategy.failure-rate.failure-rate-interval");
    if (rs->type == RESTART_FAILURE_RATE) {
        rs->delay_ms = weir_config_get_duration_ms(cfg, "restart-strategy.failure-rate.delay");
        rs->failures = calloc((size_t)rs->max_failures + 1, sizeof *rs->failures);
        if (!rs->failures)
            return -ENOMEM;
    }
    rs->rng = 0x9e3779b97f4a7c15ull;
    return 0;
}

void restart_strategy_free(struct restart_strategy *rs)
{
    free(rs->failures);
    rs->failures = NULL;
}

static double next_unit(struct restart_strategy *rs)
{
    rs->rng ^= rs->rng << 13;
    rs->rng ^= rs->rng >> 7;
    rs->rng ^= rs->rng << 17;
    return (double)(rs->rng >> 11) / 9007199254740992.0;
}

int restart_next(struct restart_strategy *rs, int64_t now_ms, int64_t *delay_ms)
{
    switch (rs->type) {
    case RESTART_NONE:
        return -1;
    case RESTART_FIXED:
        if (rs->restarts >= rs->attempts)
            return -1;
        rs->restarts++;
        *delay_ms = rs->delay_ms;
        return 0;
    case RESTART_EXPONENTIAL: {
        /* A job that ran longer than the threshold since its last failure starts
         * again from the initial backoff; attempts-before-reset-backoff failures
         * without such a reset fail the job (Flink 1.19's max attempts). */
        if (rs->backoff_ms == 0 ||
            (rs->last_failure_ms && now_ms - rs->last_failure_ms >= rs->reset_threshold_ms)) {
            rs->backoff_ms = rs->initial_ms;
            rs->since_reset = 0;
        } else {
            double next = (double)rs->backoff_ms * rs->multiplier;
            rs->backoff_ms = next > (double)rs->max_ms ? rs->max_ms : (int64_t)next;
        }
        if (rs->since_reset >= rs->attempts_before_reset)
            return -1;
        rs->since_reset++;
        rs->last_failure_ms = now_ms;
        rs->restarts++;
        double j = rs->jitter > 0 ? (next_unit(rs) * 2 - 1) * rs->jitter : 0;
        int64_t d = (int64_t)((double)rs->backoff_ms * (1 + j));
        *delay_ms = d < 0 ? 0 : d;
        return 0;
    }
    case RESTART_FAILURE_RATE: {
        /* Fail when max_failures failures already happened within the interval. */
        int64_t n = rs->n_failures < rs->max_failures ? rs->n_failures : rs->max_failures;
        int64_t in_window = 0;
        for (int64_t i = 0; i < n; i++)
            if (now_ms - rs->failures[i] < rs->interval_ms)
                in_window++;
        if (in_window >= rs->max_failures)
            return -1;
        rs->failures[rs->n_failures % rs->max_failures] = now_ms;
        rs->n_failures++;
        rs->restarts++;
        *delay_ms = rs->delay_ms;
        return 0;
    }
    }
    return -1;
}
