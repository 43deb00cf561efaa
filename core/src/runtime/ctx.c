/*
 * The operator's view of the runtime (job.h, operator.h, windows.h): its
 * subtask, its keyed state and current key, time, timers and side outputs.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <weir/metrics.h>
#include <weir/state.h>

#include "runtime_private.h"

int weir_ctx_subtask(const weir_ctx *ctx)
{
    return ctx->subtask;
}

int weir_ctx_parallelism(const weir_ctx *ctx)
{
    return ctx->parallelism;
}

int weir_ctx_max_parallelism(const weir_ctx *ctx)
{
    return ctx->max_parallelism;
}

const char *weir_ctx_uid(const weir_ctx *ctx)
{
    return ctx->op->node->uid;
}

weir_metrics *weir_ctx_metrics(const weir_ctx *ctx, char *labels, size_t cap)
{
    if (rt_labels(ctx->rt, "operator_name", ctx->op->node->uid, ctx->subtask, labels, cap) < 0)
        return NULL;
    return ctx->rt->metrics;
}

bool weir_ctx_checkpointing(const weir_ctx *ctx)
{
    return ctx->rt->chk.on;
}

enum weir_start weir_ctx_start(const weir_ctx *ctx)
{
    /* a checkpoint found, not only asked for: "latest" with none yet is a fresh start */
    if (ctx->rt->chk.restore || ctx->rt->chk.restored_id)
        return WEIR_START_RESTORE;
    if (atomic_load(&ctx->rt->job->chk.restarts))
        return WEIR_START_RETRY;
    const char *from = ctx->rt->opts ? ctx->rt->opts->restore_from : NULL;
    return from && !strcmp(from, "latest") ? WEIR_START_RESUME : WEIR_START_FRESH;
}

const struct weir_config *weir_ctx_config(const weir_ctx *ctx)
{
    return ctx->rt->cfg;
}

void *weir_ctx_arg(const weir_ctx *ctx)
{
    return ctx->op->node->arg;
}

bool weir_ctx_stopping(const weir_ctx *ctx)
{
    return atomic_load_explicit(&ctx->rt->job->cancel, memory_order_relaxed) != 0;
}

void weir_ctx_fail(weir_ctx *ctx, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rt_fail(ctx->rt, "%s (subtask %d/%d): %s", ctx->op->node->uid, ctx->subtask + 1,
            ctx->parallelism, msg);
}

weir_keyed_backend *weir_ctx_state(weir_ctx *ctx)
{
    return ctx->op->backend;
}

uint64_t weir_ctx_current_key(const weir_ctx *ctx)
{
    return ctx->op->cur_key;
}

int64_t weir_ctx_watermark(const weir_ctx *ctx)
{
    return ctx->op->wm;
}

int64_t weir_ctx_processing_time(const weir_ctx *ctx)
{
    return rt_processing_ms(ctx->rt);
}

int weir_timer_register(weir_ctx *ctx, enum weir_time_domain d, uint64_t ns, int64_t ts)
{
    struct op_inst *op = ctx->op;
    if (!op->backend || (d != WEIR_EVENT_TIME && d != WEIR_PROCESSING_TIME))
        return -EINVAL;
    struct weir_timer tm = {.ts = ts, .key = op->cur_key, .ns = ns, .key_group = op->cur_kg};
    int rc = timers_add(&op->timers, d, &tm);
    return rc < 0 ? rc : 0;
}

int weir_timer_register_new(weir_ctx *ctx, enum weir_time_domain d, uint64_t ns, int64_t ts)
{
    struct op_inst *op = ctx->op;
    if (!op->backend || (d != WEIR_EVENT_TIME && d != WEIR_PROCESSING_TIME))
        return -EINVAL;
    struct weir_timer tm = {.ts = ts, .key = op->cur_key, .ns = ns, .key_group = op->cur_kg};
    return timers_add_new(&op->timers, d, &tm);
}

int weir_timer_delete(weir_ctx *ctx, enum weir_time_domain d, uint64_t ns, int64_t ts)
{
    struct op_inst *op = ctx->op;
    if (!op->backend || (d != WEIR_EVENT_TIME && d != WEIR_PROCESSING_TIME))
        return -EINVAL;
    struct weir_timer tm = {.ts = ts, .key = op->cur_key, .ns = ns, .key_group = op->cur_kg};
    timers_del(&op->timers, d, &tm);
    return 0;
}

void weir_ctx_count_late(weir_ctx *ctx)
{
    ctx->op->late++;
}

weir_emit *weir_ctx_side_output(weir_ctx *ctx, const char *tag)
{
    struct op_inst *op = ctx->op;
    for (int i = 0; i < op->n_side; i++)
        if (!strcmp(op->side[i].tag, tag))
            return &op->side[i].emit;
    return &op->nowhere;
}

int weir_ctx_metric_u64(weir_ctx *ctx, const char *name, const char *help,
                        enum weir_metric_type type, const _Atomic uint64_t *value)
{
    char labels[1280];
    int rc = rt_labels(ctx->rt, "operator_name", ctx->op->node->name, ctx->subtask, labels,
                       sizeof labels);
    if (rc < 0)
        return rc;
    return ctx->rt->metrics
               ? weir_metrics_add_u64(ctx->rt->metrics, name, help, type, labels, value)
               : 0;
}
