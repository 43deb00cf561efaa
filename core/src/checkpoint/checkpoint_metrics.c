/*
 * The checkpoint coordinator's series (README "Metrics"): per job Flink's checkpointing
 * metrics under Flink's names (completed, failed, in flight, last duration, size and id,
 * restarts, and fullRestarts, Flink's old name for numRestarts that the operations guide
 * still lists); per subtask weir's own (alignment and sync time, the last snapshot's parts:
 * Flink's task-level checkpointAlignmentTime means something else). The coordinator and the
 * tasks store into them.
 */
#include <errno.h>

#include <weir/config.h>
#include <weir/metrics.h>

#include "checkpoint.h"
#include "runtime_private.h"

int chk_register_metrics(struct runtime *rt)
{
    struct chk_stats *cs = &rt->job->chk;
    char labels[600];
    int rc = rt_labels(rt, NULL, NULL, -1, labels, sizeof labels);
    if (rc < 0)
        return rc;
    rc |=
        weir_metrics_add_u64(rt->metrics, WEIR_FLINK_JOB "numberOfCompletedCheckpoints",
                             "Checkpoints completed", WEIR_METRIC_COUNTER, labels, &cs->completed);
    rc |= weir_metrics_add_u64(rt->metrics, WEIR_FLINK_JOB "numberOfFailedCheckpoints",
                               "Checkpoints failed or expired", WEIR_METRIC_COUNTER, labels,
                               &cs->failed);
    rc |=
        weir_metrics_add_u64(rt->metrics, WEIR_FLINK_JOB "numberOfInProgressCheckpoints",
                             "Checkpoints in flight", WEIR_METRIC_GAUGE, labels, &cs->in_progress);
    rc |= weir_metrics_add_u64(rt->metrics, WEIR_FLINK_JOB "lastCheckpointDuration",
                               "Duration of the last completed checkpoint in ms", WEIR_METRIC_GAUGE,
                               labels, &cs->last_duration_ms);
    rc |= weir_metrics_add_u64(rt->metrics, WEIR_FLINK_JOB "lastCheckpointSize",
                               "Bytes of the last completed checkpoint", WEIR_METRIC_GAUGE, labels,
                               &cs->last_size_bytes);
    rc |= weir_metrics_add_u64(rt->metrics, WEIR_FLINK_JOB "lastCompletedCheckpointId",
                               "Id of the last completed checkpoint", WEIR_METRIC_GAUGE, labels,
                               &cs->last_id);
    rc |= weir_metrics_add_u64(rt->metrics, WEIR_FLINK_JOB "numRestarts",
                               "Restarts of the job from a checkpoint", WEIR_METRIC_COUNTER, labels,
                               &cs->restarts);
    /* Flink has no metric of the interval; alerts on a checkpoint taking over half of it
     * (tools/deploy) need one. */
    int64_t interval = weir_config_get_duration_ms(rt->cfg, "execution.checkpointing.interval");
    atomic_store(&cs->interval_ms, interval > 0 ? (uint64_t)interval : 0);
    rc |= weir_metrics_add_u64(rt->metrics, WEIR_ONLY_JOB "checkpointIntervalMs",
                               "execution.checkpointing.interval in ms (0: checkpointing off)",
                               WEIR_METRIC_GAUGE, labels, &cs->interval_ms);
    rc |= weir_metrics_add_u64(rt->metrics, WEIR_FLINK_JOB "fullRestarts",
                               "Restarts of the job (Flink's deprecated name for numRestarts)",
                               WEIR_METRIC_COUNTER, labels, &cs->restarts);
    for (int i = 0; i < rt->n_tasks && rc == 0; i++) {
        struct task *t = &rt->tasks[i];
        char l[1024];
        if (rt_labels(rt, "task_name", t->chain_name, t->subtask, l, sizeof l) < 0)
            return -ENOMEM;
        rc |= weir_metrics_add_u64(rt->metrics, WEIR_ONLY_TASK "checkpointAlignmentTimeNs",
                                   "Total time spent aligning checkpoint barriers (ns)",
                                   WEIR_METRIC_COUNTER, l, &t->chk.align_ns);
        rc |= weir_metrics_add_u64(rt->metrics, WEIR_ONLY_TASK "checkpointSyncTimeNs",
                                   "Total time in the synchronous part of snapshots (ns)",
                                   WEIR_METRIC_COUNTER, l, &t->chk.sync_ns);
        rc |= weir_metrics_add_u64(rt->metrics, WEIR_ONLY_TASK "lastCheckpointSyncDurationMs",
                                   "Synchronous part of this subtask's last completed snapshot",
                                   WEIR_METRIC_GAUGE, l, &t->chk.last_sync_ms);
        rc |= weir_metrics_add_u64(rt->metrics, WEIR_ONLY_TASK "lastCheckpointAsyncDurationMs",
                                   "From hand-over to the io thread to the checkpoint complete",
                                   WEIR_METRIC_GAUGE, l, &t->chk.last_async_ms);
        rc |= weir_metrics_add_u64(rt->metrics, WEIR_ONLY_TASK "lastCheckpointEndToEndDurationMs",
                                   "From the trigger until this subtask's state was durable",
                                   WEIR_METRIC_GAUGE, l, &t->chk.last_e2e_ms);
        rc |= weir_metrics_add_u64(rt->metrics, WEIR_ONLY_TASK "lastCheckpointAlignmentDurationMs",
                                   "Barrier alignment of this subtask's last completed snapshot",
                                   WEIR_METRIC_GAUGE, l, &t->chk.last_align_ms);
        rc |= weir_metrics_add_u64(rt->metrics, WEIR_ONLY_TASK "lastCheckpointChannelStateBytes",
                                   "Records in flight in this subtask's last unaligned snapshot",
                                   WEIR_METRIC_GAUGE, l, &t->chk.last_channel_bytes);
        rc |= weir_metrics_add_u64(rt->metrics, WEIR_ONLY_TASK "lastCheckpointSizeBytes",
                                   "Bytes of this subtask's state files in the last completed "
                                   "checkpoint",
                                   WEIR_METRIC_GAUGE, l, &t->chk.last_size_bytes);
    }
    return rc ? -ENOMEM : 0;
}
