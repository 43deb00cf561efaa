/*
 * The runtime: plans a job, places its subtasks on pinned workers, wires the
 * rings, runs until the sources are exhausted (or the job is cancelled) and
 * everything has drained; restarts it from its latest checkpoint when it fails
 * and the restart strategy allows.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weir/config.h>
#include <weir/prom.h>

#include "restart.h"
#include "runtime_private.h"

/* The control thread's periods. */
#define CONTROL_TICK_NS    20000000L    /* 20 ms: checkpoint coordinator tick, done check */
#define PROGRESS_PERIOD_NS 200000000ull /* 200 ms: weir_run_opts.progress */
#define RESTART_POLL_MS    10           /* restart delay: how often cancellation is checked */

void rt_fail(struct runtime *rt, const char *fmt, ...)
{
    pthread_mutex_lock(&rt->err_lock);
    if (!rt->error) {
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&rt->error, fmt, ap) < 0)
            rt->error = NULL;
        va_end(ap);
    }
    pthread_mutex_unlock(&rt->err_lock);
    /* release: pairs with the acquire loads of failed in worker_main and
     * run_workers, which then stop (rt->error is read after the join) */
    atomic_store_explicit(&rt->failed, 1, memory_order_release);
}

void rt_fail_msg(struct runtime *rt, const char *msg)
{
    rt_fail(rt, "%s", msg);
}

bool rt_error_copy(struct runtime *rt, char *buf, size_t len)
{
    pthread_mutex_lock(&rt->err_lock);
    bool any = rt->error != NULL;
    if (any)
        snprintf(buf, len, "%s", rt->error);
    pthread_mutex_unlock(&rt->err_lock);
    return any;
}

/* Errors a restart cannot fix, as Flink's non-recoverable failures end a job at once:
 * permissions and read-only filesystems, and, from an operator's open, a configured path
 * that does not exist or is not what it must be, or a configuration the operator refuses.
 * Out of memory, a full disk or an I/O error may pass, and restart. */
static bool permanent(int err, bool opening)
{
    switch (err) {
    case EACCES:
    case EPERM:
    case EROFS:
        return true;
    case ENOENT:
    case ENOTDIR:
    case EISDIR:
    case ELOOP:
    case ENAMETOOLONG:
    case EINVAL:
        return opening;
    default:
        return false;
    }
}

void rt_fail_errno(struct runtime *rt, int err, bool opening)
{
    if (err >= 0 || !permanent(-err, opening))
        return;
    pthread_mutex_lock(&rt->err_lock);
    if (!rt->fatal_errno)
        rt->fatal_errno = -err;
    pthread_mutex_unlock(&rt->err_lock);
}

void weir_job_savepoint(weir_job *job)
{
    atomic_store_explicit(&job->savepoint_requested, 1, memory_order_relaxed);
}

void weir_job_cancel(weir_job *job)
{
    atomic_store_explicit(&job->cancel, 1, memory_order_relaxed);
}

static uint64_t sum_records(struct runtime *rt, enum node_type type)
{
    uint64_t n = 0;
    for (int i = 0; i < rt->n_tasks; i++)
        for (int j = 0; j < rt->tasks[i].n_ops; j++)
            if (rt->tasks[i].ops[j].node->type == type)
                n += atomic_load_explicit(&rt->tasks[i].ops[j].records_pub, memory_order_relaxed);
    return n;
}

/* Control thread while the workers run: checkpoints and progress reports
 * until every task is done or the run has failed. */
static void run_workers(struct runtime *rt, uint64_t t0)
{
    const struct weir_run_opts *opts = rt->opts;
    int started = 0;
    for (; started < rt->n_workers; started++) {
        int prc =
            pthread_create(&rt->workers[started].thread, NULL, worker_main, &rt->workers[started]);
        if (prc != 0) {
            rt_fail(rt,
                    "could not start worker thread %d of %d: %s (its stack, the "
                    "address-space limit ulimit -v, or the thread limit ulimit -u)",
                    started, rt->n_workers, strerror(prc));
            break;
        }
    }
    uint64_t last_progress = 0;
    /* acquire: pairs with the release increment of n_done in task_step, the
     * release store of failed in rt_fail and that of stopped in chk_stop_settled */
    while (atomic_load_explicit(&rt->n_done, memory_order_acquire) < rt->n_tasks &&
           !atomic_load_explicit(&rt->failed, memory_order_acquire) &&
           !atomic_load_explicit(&rt->chk.stopped, memory_order_acquire)) {
        struct timespec ts = {0, CONTROL_TICK_NS};
        nanosleep(&ts, NULL);
        chk_tick(rt);
        uint64_t now = now_ns();
        if (opts->progress && now - last_progress >= PROGRESS_PERIOD_NS) {
            last_progress = now;
            opts->progress(opts->progress_arg, sum_records(rt, NODE_SOURCE),
                           (double)(now - t0) / 1e9, false);
        }
    }
    for (int w = 0; w < started; w++) {
        poke(NULL, &rt->workers[w]);
        pthread_join(rt->workers[w].thread, NULL);
    }
    /* A job stopped with a savepoint commits it and ends there (checkpoint/stop.c). A
     * bounded job that ran to its end takes a final checkpoint, so that what its
     * exactly-once sinks staged is committed. */
    if (atomic_load(&rt->chk.stopped) && !atomic_load(&rt->failed)) {
        chk_stop_commit(rt);
    } else if (!atomic_load(&rt->failed) && !atomic_load(&rt->job->cancel)) {
        int frc = chk_final(rt);
        if (frc < 0)
            rt_fail(rt, "final checkpoint failed: %s", strerror(-frc));
    }
}

static void fill_stats(struct runtime *rt, double elapsed, struct weir_run_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    stats->source_records = sum_records(rt, NODE_SOURCE);
    stats->sink_records = sum_records(rt, NODE_SINK);
    stats->operator_records = sum_records(rt, NODE_OPERATOR);
    stats->elapsed_s = elapsed;
    stats->workers = rt->n_workers;
    stats->cancelled = atomic_load(&rt->job->cancel) != 0;
    stats->metrics_port = rt->prom ? weir_prom_server_port(rt->prom) : 0;
    stats->restored_checkpoint = rt->chk.restored_id;
    stats->restore_ms = (double)rt->restore_ns / 1e6;
    stats->restored_bytes = rt->chk.restored_bytes;
    chk_sync_percentiles(rt, stats);
    chk_skew_stats(rt, stats);
    chk_unaligned_stats(rt, stats);
}

/* One attempt: set up, restore, run until done, failed or cancelled.
 * Returns 0, -EIO for a failure while running (restartable), or another
 * negative errno for a job that cannot start or a failure no restart can fix. */
static int run_attempt(weir_job *job, struct weir_config *cfg, const struct weir_run_opts *opts,
                       struct weir_run_stats *stats, char *err, size_t errlen)
{
    struct runtime rtv = {0}, *rt = &rtv;
    int rc = runtime_setup(rt, job, cfg, opts, err, errlen);
    if (rc < 0)
        return rc; /* runtime_setup has freed what it built */

    uint64_t t0 = now_ns();
    job->rt = rt;
    rc = rest_live_attach(rt, err, errlen);
    if (rc < 0) {
        job->rt = NULL;
        runtime_free(rt);
        return rc;
    }
    /* before open: operators ask weir_ctx_start whether a checkpoint is restored */
    rc = chk_restore_open(rt, err, errlen);
    rt->restore_ns = now_ns() - t0;
    if (rc < 0) {
        job->rt = NULL;
        rest_live_detach(rt);
        runtime_free(rt);
        return rc;
    }
    rc = open_ops(rt);
    int open_rc = rc;
    if (rc == 0) {
        uint64_t r0 = now_ns();
        rc = chk_restore(rt, err, errlen);
        rt->restore_ns += now_ns() - r0;
        if (rc < 0) {
            close_ops(rt);
            job->rt = NULL;
            rest_live_detach(rt);
            runtime_free(rt);
            return rc;
        }
    }
    if (rc == 0)
        run_workers(rt, t0);
    if (rc == 0 && !atomic_load(&rt->failed))
        rt_dlq_flush(rt); /* the dead letters after the last checkpoint, or of a run without */
    close_ops(rt);
    double elapsed = (double)(now_ns() - t0) / 1e9;
    if (stats)
        fill_stats(rt, elapsed, stats);
    if (opts->progress)
        opts->progress(opts->progress_arg, sum_records(rt, NODE_SOURCE), elapsed, true);
    job->rt = NULL;
    rc = 0;
    if (atomic_load(&rt->failed)) {
        snprintf(err, errlen, "job %s failed: %s%s", job->name,
                 rt->error ? rt->error : "unknown error",
                 rt->fatal_errno ? " (not restarted: a restart cannot fix it)" : "");
        /* Neither a fatal error nor an operator that found its output taken (-EEXIST: a
         * fresh run into a used directory) is restarted: the retry cannot fix the first,
         * and would take the directory for its own in the second. */
        rc = rt->fatal_errno ? -rt->fatal_errno : open_rc == -EEXIST ? -EEXIST : -EIO;
    }
    rest_live_detach(rt);
    runtime_free(rt);
    return rc;
}

/* The restart line: what failed, and where the run starts again, truthfully. */
static void print_restart(const char *err, int restarts, const struct restart_strategy *rs,
                          int64_t delay_ms, uint64_t from, uint64_t restored, bool checkpointing)
{
    char whence[160];
    if (from)
        snprintf(whence, sizeof whence, "checkpoint %llu", (unsigned long long)from);
    else if (restored)
        snprintf(whence, sizeof whence,
                 "checkpoint %llu, which this run started from: no checkpoint completed since",
                 (unsigned long long)restored);
    else
        snprintf(whence, sizeof whence, "the beginning: %s",
                 checkpointing ? "no checkpoint completed yet"
                               : "checkpointing is off (execution.checkpointing.interval)");
    fprintf(stderr, "weir: %s\nweir: restart %d (%s) in %lld ms: restarting from %s\n", err,
            restarts, restart_type_str(rs->type), (long long)delay_ms, whence);
}

int weir_job_run(weir_job *job, struct weir_config *cfg, const struct weir_run_opts *opts,
                 struct weir_run_stats *stats, char *err, size_t errlen)
{
    static const struct weir_run_opts no_opts;
    if (!opts)
        opts = &no_opts;
    if (job->error) {
        snprintf(err, errlen, "job %s: %s", job->name, job->error);
        return -EINVAL;
    }
    atomic_store(&job->cancel, 0);
    memset(&job->chk, 0, sizeof job->chk);
    struct restart_strategy rs;
    if (restart_strategy_init(&rs, cfg) < 0) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    /* The REST API serves the whole run, restarts included, as Flink's JobManager does. */
    int lrc = rest_live_start(job, cfg, opts, err, errlen);
    if (lrc < 0) {
        restart_strategy_free(&rs);
        return lrc;
    }
    chk_stop_run(job, true); /* weir_job_stop_with_savepoint is served from here on */
    bool checkpointing = weir_config_get_duration_ms(cfg, "execution.checkpointing.interval") > 0;
    struct weir_run_opts o = *opts;
    struct weir_run_stats st = {0};
    int restarts = 0, rc;
    for (;;) {
        rc = run_attempt(job, cfg, &o, &st, err, errlen);
        if (rc < 0 && err[0])
            rest_live_exception(job, err);
        if (rc != -EIO || atomic_load(&job->cancel))
            break;
        int64_t delay;
        if (restart_next(&rs, wall_ms(), &delay) < 0) {
            if (restarts) {
                size_t n = strlen(err);
                snprintf(err + n, errlen - n, " (after %d restart%s, restart-strategy.type %s)",
                         restarts, restarts == 1 ? "" : "s", restart_type_str(rs.type));
            }
            break;
        }
        restarts++;
        atomic_fetch_add(&job->chk.restarts, 1);
        rest_live_state(job, JOB_RESTARTING);
        /* Restart from this run's latest checkpoint; before its first one, from
         * where the run began (its --from-checkpoint, or empty): never from an
         * older run's checkpoints left in the same directory. */
        uint64_t from = checkpointing ? atomic_load(&job->chk.last_checkpoint_id) : 0;
        if (from)
            o.restore_from = "latest";
        if (!opts->quiet)
            print_restart(err, restarts, &rs, delay, from, st.restored_checkpoint, checkpointing);
        for (int64_t waited = 0; waited < delay && !atomic_load(&job->cancel);
             waited += RESTART_POLL_MS) {
            struct timespec ts = {0, RESTART_POLL_MS * 1000000L};
            nanosleep(&ts, NULL);
        }
        err[0] = 0;
    }
    restart_strategy_free(&rs);
    chk_stop_run(job, false);
    rest_live_state(job, rc < 0                      ? JOB_FAILED
                         : atomic_load(&job->cancel) ? JOB_CANCELED
                                                     : JOB_FINISHED);
    rest_live_stop(job);
    if (stats) {
        *stats = st;
        stats->restarts = restarts;
        stats->checkpoints_completed = atomic_load(&job->chk.completed);
        stats->checkpoints_failed = atomic_load(&job->chk.failed);
        stats->last_checkpoint_id = atomic_load(&job->chk.last_id);
    }
    return rc;
}
