/*
 * Stop-with-savepoint (Flink's synchronous savepoint, `flink stop [--drain]`).
 *
 * A stop, job side (struct job_stop, under its lock; any thread asks, the control thread
 * takes and settles):
 *
 *   NONE, COMPLETED, FAILED --weir_job_stop_with_savepoint, job running--> PENDING
 *   PENDING --no checkpoint in flight (chk_tick: chk_stop_take)--> PENDING, taken
 *   PENDING, taken --savepoint complete (settle: chk_stop_settled)--> COMPLETED
 *   PENDING, taken --savepoint failed, could not start, or the attempt ended--> FAILED
 *   PENDING --weir_job_run ended first (chk_stop_run)--> FAILED
 *
 * Runtime side: the coordinator triggers the stop's savepoint with rt->chk.stop_id (and
 * stop_drain) stored before the trigger it publishes, and starts nothing else while it is
 * in flight. A source (task.c) that sees the stop emits, with drain, the maximal watermark,
 * takes the barrier (its last position), and then emits nothing. Completed: rt->chk.stopped
 * stops the workers (what downstream made after the barrier stays uncommitted: it is the
 * next transaction), and chk_stop_commit delivers checkpoint_complete up to the savepoint on
 * the control thread: two-phase sinks commit exactly up to it, and the job ends without a
 * final checkpoint. Failed: stop_id goes back to 0 and the sources go on.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/job.h>

#include "checkpoint.h"
#include "runtime_private.h"

/* -> PENDING, taken already when the coordinator asks (chk_stop_claim). */
static int request(weir_job *job, const char *dir, bool drain, bool taken)
{
    char *d = dir && *dir ? strdup(dir) : NULL;
    if (dir && *dir && !d)
        return -ENOMEM;
    struct job_stop *s = &job->stop;
    pthread_mutex_lock(&s->lock);
    int rc = !s->running ? -ESRCH : s->state == WEIR_STOP_PENDING ? -EBUSY : 0;
    if (rc == 0) {
        free(s->dir);
        free(s->result);
        s->dir = d;
        d = NULL;
        s->result = NULL;
        s->drain = drain;
        s->taken = taken;
        s->state = WEIR_STOP_PENDING;
    }
    pthread_mutex_unlock(&s->lock);
    free(d);
    return rc;
}

int weir_job_stop_with_savepoint(weir_job *job, const char *dir, bool drain)
{
    return request(job, dir, drain, false);
}

int chk_stop_claim(weir_job *job, const char *dir, bool drain)
{
    return request(job, dir, drain, true);
}

enum weir_stop_state weir_job_stop_status(weir_job *job, char *buf, size_t len)
{
    struct job_stop *s = &job->stop;
    pthread_mutex_lock(&s->lock);
    enum weir_stop_state st = s->state;
    if (len)
        snprintf(buf, len, "%s", s->result ? s->result : "");
    pthread_mutex_unlock(&s->lock);
    return st;
}

/* PENDING -> COMPLETED or FAILED, under the lock. */
static void finish(struct job_stop *s, enum weir_stop_state st, const char *result)
{
    free(s->result);
    s->result = strdup(result);
    s->state = st;
    s->taken = false;
}

void chk_stop_run(weir_job *job, bool running)
{
    struct job_stop *s = &job->stop;
    pthread_mutex_lock(&s->lock);
    s->running = running;
    if (!running && s->state == WEIR_STOP_PENDING)
        finish(s, WEIR_STOP_FAILED, "the job ended before its stop-with-savepoint completed");
    pthread_mutex_unlock(&s->lock);
}

int chk_stop_take(struct runtime *rt, char **dir, bool *drain)
{
    struct job_stop *s = &rt->job->stop;
    pthread_mutex_lock(&s->lock);
    int take = s->state == WEIR_STOP_PENDING && !s->taken;
    if (take) {
        *dir = s->dir ? strdup(s->dir) : NULL;
        *drain = s->drain;
        s->taken = true;
    }
    pthread_mutex_unlock(&s->lock);
    return take;
}

void chk_stop_settled(struct runtime *rt, const char *savepoint, const char *why)
{
    struct job_stop *s = &rt->job->stop;
    pthread_mutex_lock(&s->lock);
    if (s->state == WEIR_STOP_PENDING && s->taken)
        finish(s, savepoint ? WEIR_STOP_COMPLETED : WEIR_STOP_FAILED, savepoint ? savepoint : why);
    pthread_mutex_unlock(&s->lock);
    if (rt->chk.coord)
        rt->chk.coord->stop_id = 0;
    if (savepoint) {
        chk_log(rt, "job %s stopping with savepoint %s", rt->job->name, savepoint);
        /* release: pairs with the acquire loads in run_workers and worker_main */
        atomic_store_explicit(&rt->chk.stopped, 1, memory_order_release);
    } else {
        chk_log(rt, "stop-with-savepoint failed: %s; the job keeps running", why);
        atomic_store_explicit(&rt->chk.stop_id, 0, memory_order_relaxed);
    }
    rt_wake_workers(rt); /* halted sources go on, or the workers stop */
}

void chk_stop_commit(struct runtime *rt)
{
    for (int i = 0; i < rt->n_tasks; i++)
        chk_notify(&rt->tasks[i]);
}
