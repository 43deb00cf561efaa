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
    int rc = rt_jm_labels(rt, labels, sizeof labels); /* Flink's jobmanager_job_ scope */
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

/* --- checkpoint skew (coordinator.c's settle) --------------------------------- */

static void subtask_of(const struct task *t, const struct task_ack *a, uint64_t start_ns,
                       struct weir_subtask_checkpoint *out)
{
    uint64_t end = atomic_load(&a->durable_ns);
    if (end < a->submit_ns)
        end = a->submit_ns; /* no state file: its ack ends it */
    *out = (struct weir_subtask_checkpoint){.subtask = t->subtask,
                                            .parallelism = t->n_ops ? t->ops[0].ctx.parallelism : 0,
                                            .end_to_end_ms =
                                                end > start_ns ? (end - start_ns) / 1000000ull : 0,
                                            .sync_ms = a->sync_ms,
                                            .alignment_ms = a->align_ns / 1000000ull,
                                            .size_bytes = atomic_load(&a->size_bytes)};
    snprintf(out->task, sizeof out->task, "%s", t->chain_name);
}

/* Per subtask of completed checkpoint pd, for those that snapshotted it (finished ones are
 * acked by the coordinator, submit_ns 0): the metrics, and the skew (slowest and fastest end
 * to end, smallest and largest state) for the run stats. sync = the snapshot's synchronous
 * part; async = from its hand-over to the io thread until the checkpoint's files were durable
 * and _metadata committed (now). */
void chk_note_subtasks(struct runtime *rt, const struct pending *pd, uint64_t now)
{
    struct coordinator *c = rt->chk.coord;
    int n = 0;
    for (int i = 0; i < rt->n_tasks; i++) {
        struct task *t = &rt->tasks[i];
        const struct task_ack *a = &pd->acks[i]; /* every task acked: COMMITTING */
        if (!a->submit_ns)
            continue;
        struct weir_subtask_checkpoint sc;
        subtask_of(t, a, pd->start_ns, &sc);
        atomic_store(&t->chk.last_sync_ms, a->sync_ms);
        atomic_store(&t->chk.last_async_ms, (now - a->submit_ns) / 1000000ull);
        atomic_store(&t->chk.last_e2e_ms, sc.end_to_end_ms);
        atomic_store(&t->chk.last_align_ms, sc.alignment_ms);
        atomic_store(&t->chk.last_size_bytes, sc.size_bytes);
        if (n == 0 || sc.end_to_end_ms > c->skew_slowest.end_to_end_ms)
            c->skew_slowest = sc;
        if (n == 0 || sc.end_to_end_ms < c->skew_fastest.end_to_end_ms)
            c->skew_fastest = sc;
        if (n == 0 || sc.size_bytes < c->skew_smallest.size_bytes)
            c->skew_smallest = sc;
        if (n == 0 || sc.size_bytes > c->skew_largest.size_bytes)
            c->skew_largest = sc;
        n++;
    }
    if (n) {
        c->skew_id = pd->id;
        c->skew_n = n;
    }
}

void chk_skew_stats(struct runtime *rt, struct weir_run_stats *st)
{
    const struct coordinator *c = rt->chk.coord;
    if (!c || !c->skew_id)
        return;
    st->skew_checkpoint_id = c->skew_id;
    st->skew_subtasks = c->skew_n;
    st->skew_slowest = c->skew_slowest;
    st->skew_fastest = c->skew_fastest;
    st->skew_smallest = c->skew_smallest;
    st->skew_largest = c->skew_largest;
}
