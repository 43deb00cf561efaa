/*
 * Workers. Threads: the caller of weir_job_run is the control thread (progress, the
 * metrics endpoint, cancellation); one worker thread per slot runs its tasks
 * cooperatively. A worker with nothing to do spins briefly, yields, then sleeps
 * on a futex that producers and consumers on other workers poke after they
 * publish or release a buffer.
 *
 * Wake-up protocol (Dekker): the sleeper stores sleeping = 1, issues a seq_cst
 * fence, then looks at its rings once more; the waker publishes to a ring,
 * issues a seq_cst fence, then loads sleeping. At least one of the two sees the
 * other's store, so a published buffer is never left unseen by a sleeping
 * worker. The futex wait also times out, which bounds the cost of any mistake
 * to one timeout and lets buffer timeouts fire.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "runtime_private.h"

#define SPIN_ROUNDS  64      /* idle passes before yielding */
#define YIELD_ROUNDS 16      /* yields before sleeping */
#define SLEEP_NS     2000000 /* futex wait bound: buffer timeouts and cancellation */

static int worker_pass(struct worker *w)
{
    struct runtime *rt = w->rt;
    int progress = 0;
    for (int i = 0; i < w->n_tasks; i++) {
        struct task *t = w->tasks[i];
        if (t->state == TASK_DONE)
            continue;
        uint64_t t0 = w->now_ns;
        int r = task_step(t);
        uint64_t t1 = now_ns();
        w->now_ns = t1;
        if (r > 0) {
            progress += r;
            pub_add(&t->busy_ns, t1 - t0);
        } else if (r < 0) {
            pub_add(&t->bp_ns, t1 - t0);
        } else {
            pub_add(&t->idle_ns, t1 - t0);
        }
        task_processing_time(t);
        /* Once DONE (this step, maybe), the task's operators are the control
         * thread's: it snapshots them and delivers checkpoint_complete
         * (checkpoint.h, task_finished). */
        if (t->state != TASK_DONE)
            chk_notify(t);
        if (rt->buffer_timeout_ns == 0)
            task_flushed(t);
        else
            task_flush_timeout(t, t1, rt->buffer_timeout_ns);
        task_publish(t);
    }
    return progress;
}

static bool worker_finished(struct worker *w)
{
    for (int i = 0; i < w->n_tasks; i++)
        if (w->tasks[i]->state != TASK_DONE)
            return false;
    return true;
}

static void worker_idle_time(struct worker *w, uint64_t ns)
{
    for (int i = 0; i < w->n_tasks; i++)
        if (w->tasks[i]->state != TASK_DONE)
            pub_add(&w->tasks[i]->idle_ns, ns);
}

void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct runtime *rt = w->rt;
    char name[16];
    snprintf(name, sizeof name, "weir-w%d", w->id);
    pthread_setname_np(pthread_self(), name);
    /* Binding is placement, not correctness: a cpu the container refuses leaves the thread
     * unpinned. Out of memory is different: the run is at its address-space limit. */
    int brc = weir_topo_bind_thread(rt->topo, &w->slot);
    if (brc == -ENOMEM) {
        rt_fail(rt, "worker thread %d: binding to cpu %d: %s", w->id, w->slot.pu_os_index,
                strerror(-brc));
        return NULL;
    }

    w->now_ns = now_ns();
    int idle = 0;
    /* acquire: pairs with the release stores of failed in rt_fail and of stopped in
     * chk_stop_settled (a job stopped with a savepoint: the control thread commits it) */
    while (!atomic_load_explicit(&rt->failed, memory_order_acquire) &&
           !atomic_load_explicit(&rt->chk.stopped, memory_order_acquire) && !worker_finished(w)) {
        if (worker_pass(w) > 0) {
            idle = 0;
            continue;
        }
        /* Nothing moved: publish what waits in partly filled buffers rather
         * than holding it for the whole buffer timeout. */
        for (int i = 0; i < w->n_tasks; i++)
            if (w->tasks[i]->state != TASK_DONE)
                task_flushed(w->tasks[i]);
        idle++;
        if (idle < SPIN_ROUNDS) {
            __builtin_ia32_pause();
            continue;
        }
        if (idle < SPIN_ROUNDS + YIELD_ROUNDS) {
            sched_yield();
            continue;
        }
        uint32_t seq = atomic_load_explicit(&w->futex, memory_order_relaxed);
        atomic_store_explicit(&w->sleeping, 1, memory_order_relaxed);
        atomic_thread_fence(memory_order_seq_cst); /* pairs with poke() */
        if (worker_pass(w) > 0) {
            atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
            idle = 0;
            continue;
        }
        uint64_t t0 = now_ns();
        futex_wait(&w->futex, seq, SLEEP_NS);
        atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
        w->now_ns = now_ns();
        worker_idle_time(w, w->now_ns - t0);
    }
    return NULL;
}
