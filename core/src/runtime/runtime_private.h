/*
 * The runtime module's one private header (core/src/runtime/): workers, tasks
 * (one chain at one subtask index), channel writers and input channels, the
 * functions the module's files call across, and the per-record fast path
 * (writer_put and what it needs), inline because it runs once per record.
 * What the checkpoint module may read of these structs, and which functions
 * cross between the two, is the contract in checkpoint/checkpoint.h.
 *
 * A task is a chain of operator instances. Its input is a set of rings, one per
 * upstream producer subtask; its output is a set of routes, one per outgoing
 * edge of the chain's last operator, each holding one writer per downstream
 * subtask. A writer fills the ring buffer it has reserved in place; when the
 * ring is full, records go to the writer's overflow and the task is
 * backpressured: it takes no new input until the overflow has drained, so it
 * never blocks the worker thread that other subtasks need.
 */
#ifndef WEIR_RUNTIME_PRIVATE_H
#define WEIR_RUNTIME_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <weir/dlq.h>
#include <weir/job.h>
#include <weir/metrics.h>
#include <weir/numa.h>
#include <weir/prom.h>
#include <weir/ring.h>
#include <weir/state.h>
#include <weir/state_backend.h>

#include "checkpoint.h"
#include "graph_private.h"
#include "timers.h"

struct runtime;
struct task;
struct worker;

struct weir_ctx {
    struct op_inst *op;
    int subtask;
    int parallelism;
    int max_parallelism;
    struct runtime *rt;
};

struct side_emit {
    weir_emit emit;
    struct task *task;
    const char *tag; /* == the route's tag pointer */
};

/* The watermarks a source reports per split (a Kafka partition: weir_ctx_report_split), for
 * the watermark diagnosis. The worker fills slot n then publishes n + 1 (release; the REST
 * thread's acquire load of n pairs with it); the slots are never moved or freed while the
 * runtime lives. idleness_ms: what the source said it applies (-1: it said nothing). */
#define WM_SPLITS 256
struct wm_split {
    _Atomic int32_t id;
    _Atomic int64_t wm, ms; /* its watermark, and the wall ms of its last advance */
    _Atomic int idle;
};
struct wm_splits {
    struct wm_split *slot; /* WM_SPLITS of them, allocated at the first report */
    _Atomic int n;
    _Atomic int64_t idleness_ms;
};

struct op_inst {
    struct node *node;
    struct task *task;
    void *state;
    struct weir_ctx ctx;
    weir_emit emit;
    weir_emit fwd;        /* sources: where emit really goes (emit tracks timestamps) */
    weir_emit nowhere;    /* side outputs nobody consumes */
    struct op_inst *next; /* NULL: the chain's tail, emit goes to the routes */
    uint64_t records;     /* in (operators, sinks) or emitted (sources) */
    _Atomic uint64_t records_pub;
    uint64_t late;
    _Atomic uint64_t late_pub;
    _Atomic uint64_t dlq; /* records sent to the DLQ (weir_operator_numRecordsDlq) */
    /* keyed operators: weir_keyed_backend_gauges, published once a second (task_publish) */
    _Atomic uint64_t state_bytes_pub, memtable_bytes_pub, cache_bytes_pub;
    _Atomic uint64_t et_timers_pub; /* event-time timers waiting (windows), the same cadence */
    bool opened;
    /* keyed operators */
    weir_keyed_backend *backend;
    struct timer_service timers;
    uint64_t cur_key;
    uint32_t cur_kg;
    int64_t wm;
    int n_side;
    struct side_emit *side;
};

struct writer {
    struct weir_ring *ring;
    unsigned char *buf; /* reserved ring buffer being filled, or NULL */
    uint32_t used, cap;
    uint64_t first_ns; /* when the first record went into buf */
    struct worker *self, *consumer;
    unsigned char *ovf;                /* records that did not fit: the ring was full */
    size_t ovf_head, ovf_len, ovf_cap; /* undrained records are ovf[head..len) */
    /* Unaligned checkpoints (checkpoint/barrier.c): what this writer held unpublished when
     * its barrier overtook it (output channel state), until the task's part is written. */
    struct chan_buf state;
    /* aligned-checkpoint-timeout (checkpoint/barrier.c): barrier barrier_id still waits in
     * the overflow at offset barrier_at (0: none); writer_drain clears it once it is out */
    uint64_t barrier_id;
    size_t barrier_at;
};

struct route {
    const char *tag; /* side output this route carries, NULL for the main output */
    enum part part;
    weir_key_fn key;
    int n;
    struct writer **w;
    uint32_t rr;
    uint32_t max_parallelism;
    uint32_t kg_mask; /* max_parallelism - 1 when it is a power of two, else 0 */
    uint16_t *owner;  /* key group -> consumer subtask (hash routes) */
};

struct in_chan {
    struct weir_ring *ring;
    int input;
    const struct edge *edge; /* the job's edge it carries, from producer subtask peer */
    int peer;
    weir_key_fn key; /* keyed consumers: the edge's key function */
    bool ended;
    bool idle;
    bool blocked;     /* delivered barrier `barrier`, waits for the other inputs */
    uint64_t barrier; /* last barrier seen */
    uint32_t off;     /* read offset into the peeked buffer (a barrier stopped there) */
    int64_t wm;
    struct worker *producer;
    /* Unaligned checkpoints (checkpoint/barrier.c): while recording, the task's unaligned
     * checkpoint waits for this input's cut, and what it consumes goes into state (input
     * channel state). replay: channel state restored from a checkpoint, consumed from
     * replay_off before the ring. */
    bool recording;
    struct chan_buf state;
    struct chan_buf replay;
    size_t replay_off;
};

enum task_state { TASK_RUNNING, TASK_FINISHING, TASK_DONE };

struct task {
    struct runtime *rt;
    int index;              /* in rt->tasks */
    _Atomic int done_flag;  /* state == TASK_DONE, for the control thread */
    bool restored_finished; /* restored from a checkpoint where it had finished */
    /* Unaligned checkpoints restored at another parallelism (checkpoint/channel_state.c): per
     * operator of the chain, the records that were in flight into it when it headed a chain
     * of its own, delivered at the task's first step (task.c); NULL: none. */
    struct chan_buf *op_replay;
    struct worker *worker;
    int chain;
    int subtask;
    char *chain_name;
    int n_ops;
    struct op_inst *ops;
    bool is_source;
    int n_in, n_live, rr;
    struct in_chan *in;
    int64_t wm;
    _Atomic int64_t wm_in_pub; /* wm, for the REST API's input watermarks (relaxed) */
    struct task_chk chk; /* the checkpoint module's (checkpoint.h) */
    bool idle_sent;      /* all inputs idle: told downstream */
    /* sources with a watermark strategy */
    const struct weir_watermark_strategy *wms;
    int64_t max_ts, last_wm;
    uint64_t last_wm_ns, last_data_ns;
    bool src_idle;
    _Atomic int64_t *align_wm; /* this source's slot in its alignment group */
    struct align_group *align;
    int n_routes;
    struct route *routes;
    enum task_state state;
    uint64_t n_in_local, n_out_local;
    uint64_t n_out_bytes, n_out_bytes_recs; /* learning the output record size */
    _Atomic uint64_t rec_in, rec_out, busy_ns, idle_ns, bp_ns;
    /* for the metrics: the watermark this subtask holds (wm, or a source's last_wm), and
     * when its operators' state gauges were last published (worker clock) */
    _Atomic int64_t wm_pub;
    uint64_t gauges_ns;
    /* For the watermark diagnosis (rest_wm.c): what left the task (wm_out_pub, the last
     * watermark out of its chain; idle_pub, whether it told downstream it is idle) and the
     * wall-clock ms of the last advance of its input and output watermarks (the attempt's
     * start before the first). Stored by the worker where a watermark is published (route.c,
     * progress.c), relaxed, no lock; read by the REST thread. */
    _Atomic int64_t wm_out_pub, wm_out_ms, wm_in_ms;
    _Atomic int idle_pub;
    struct wm_splits wm_splits; /* a source's own per-split watermarks (weir_ctx_report_*) */
};

struct align_group {
    const char *name;
    int64_t max_drift_ms;
    int n;
    _Atomic int64_t *wm; /* per member source subtask; INT64_MAX when done or idle */
};

struct worker {
    int id;
    weir_worker_slot slot;
    pthread_t thread;
    struct runtime *rt;
    int n_tasks;
    struct task **tasks;
    uint64_t now_ns;
    _Atomic uint32_t futex;
    _Atomic int sleeping;
    /* For the metrics, the worker's own time: passes that moved records, passes that found
     * nothing (or only full outputs), parked on the futex. A cache line away from futex and
     * sleeping, which producers read whenever they publish. */
    char pad_[64];
    _Atomic uint64_t busy_ns, spin_ns, sleep_ns;
};

struct ring_block {
    void *mem;
    size_t size;
};

struct weir_state_env;
struct weir_metrics;
struct weir_prom_server;
struct weir_config;

struct runtime {
    weir_job *job;
    struct weir_config *cfg;
    const struct weir_run_opts *opts;
    int max_parallelism;
    uint32_t nbufs, seg_size;
    uint64_t buffer_timeout_ns;
    struct plan plan;
    int n_tasks;
    struct task *tasks;
    int n_workers;
    struct worker *workers;
    weir_topo *topo;
    int n_blocks;
    struct ring_block *blocks;
    int n_rings;
    _Atomic int n_done;
    _Atomic int failed;
    pthread_mutex_t err_lock;
    char *error;
    /* The errno of a failure no restart can fix (rt_fail_errno), 0 when none: the run
     * then fails at once whatever the restart strategy. Under err_lock. */
    int fatal_errno;
    weir_metrics *metrics;
    weir_prom_server *prom;
    weir_state_env *state_env;
    uint64_t wm_interval_ns;
    int n_groups;
    struct align_group *groups;
    struct rt_chk chk; /* the checkpoint module's (checkpoint.h) */
    /* The dead-letter queue (dlq.c), NULL when weir.dlq.type is none; its writer is used
     * under dlq_lock (workers write, the control thread flushes). dlq_err: the first
     * failure's errno, sticky. */
    struct weir_dlq_writer *dlq;
    pthread_mutex_t dlq_lock;
    int dlq_err;
    uint64_t restore_ns;
};

/* What the REST API reads of one weir_job_run (rest_docs.c), across its restarts: the
 * job's state and failures, a copy of its vertices (chains), and the attempt running now.
 * lock guards every field and the runtime rt points to: run.c attaches an attempt once it
 * is set up and detaches it before freeing it, both under the lock, and the REST thread
 * reads only what setup wrote before the attach and the atomics the workers publish. */
enum job_state {
    JOB_INITIALIZING,
    JOB_RUNNING,
    JOB_RESTARTING,
    JOB_FINISHED,
    JOB_FAILED,
    JOB_CANCELED,
    JOB_STATES
};

#define JOB_EXCEPTIONS 16

struct live_vertex {
    char id[33]; /* 32 hex digits: a hash of the chain's first uid, stable across runs */
    char *name;  /* "source -> map" */
    int parallelism;
    int n_inputs;
    struct live_input {
        int vertex;
        const char *ship_strategy; /* "HASH", "REBALANCE", "FORWARD", "BROADCAST" */
    } * inputs;
};

struct weir_rest_server;

/* A savepoint or checkpoint asked for over REST (rest_ops.c), known by its trigger id
 * (Flink's request-id) until REST_TRIGGERS newer ones push it out. */
#define REST_TRIGGERS 64
struct rest_trigger {
    char id[33];
    bool savepoint, cancel_job;
    bool stop, drain; /* POST /jobs/:jobid/stop: a stop-with-savepoint (checkpoint/stop.c) */
    bool taken;  /* the coordinator has it (rest_request_take) */
    bool done;   /* COMPLETED: location (savepoint) or cause (failed) says how */
    bool fetched; /* a GET has answered COMPLETED */
    char *dir;   /* target-directory; NULL: state.savepoints.dir */
    uint64_t checkpoint_id; /* once triggered */
    char *location, *cause;
};

struct job_live {
    pthread_mutex_t lock;
    weir_job *job;
    struct weir_config *cfg;
    struct runtime *rt; /* the attempt running now; NULL between attempts */
    char id[33];        /* the job id: 32 hex digits, random per weir_job_run, as Flink's */
    enum job_state state;
    int64_t ts[JOB_STATES]; /* when it last entered each state (wall ms); 0: never */
    int64_t start_ms, end_ms;
    int max_parallelism, n_workers, attempts;
    int n_vertices;
    struct live_vertex *vertices;
    int n_exceptions; /* the newest JOB_EXCEPTIONS failures, oldest first */
    bool exceptions_truncated;
    struct {
        int64_t ms;
        char *msg;
    } exceptions[JOB_EXCEPTIONS];
    struct weir_rest_server *srv;
    bool quiet; /* weir_run_opts.quiet: no "weir: rest:" line */
    void (*on_rest)(void *arg, const char *job_id, const char *url); /* weir_run_opts */
    void *on_rest_arg;
    bool cancelling; /* PATCH ?mode=cancel came: the job is CANCELLING until it ends */
    int n_triggers;  /* oldest first */
    struct rest_trigger triggers[REST_TRIGGERS];
};

/* rest_docs.c, control thread: the job's REST API for one weir_job_run. rest_live_start
 * makes job->live and job->chk.history; the first rest_live_attach (of an attempt set up)
 * starts the server (rest.*; -errno and err when it cannot); rest_live_stop stops it and
 * frees them. The others say what happened. */
int rest_live_start(weir_job *job, struct weir_config *cfg, const struct weir_run_opts *opts,
                    char *err, size_t errlen);
void rest_live_stop(weir_job *job);
int rest_live_attach(struct runtime *rt, char *err, size_t errlen);
void rest_live_detach(struct runtime *rt);
void rest_live_state(weir_job *job, enum job_state s);
void rest_live_exception(weir_job *job, const char *msg);

/* rest_ops.c, control thread (the coordinator, chk_tick): the savepoints and checkpoints
 * asked for over REST. rest_request_take hands over the oldest not yet taken (true), its
 * trigger id in trigger (33 bytes), its target directory in *dir (malloc'd, NULL: the
 * configured one), and whether it is a stop-with-savepoint that drains or not in *stop and
 * *drain; rest_request_started says which checkpoint id it became, and
 * rest_request_settled how it ended: location on success, cause (one line) on failure. A
 * cancel-job savepoint that completes cancels the job there. */
bool rest_request_take(weir_job *job, char *trigger, bool *savepoint, char **dir, bool *stop,
                       bool *drain);
void rest_request_started(weir_job *job, const char *trigger, uint64_t id);
void rest_request_settled(weir_job *job, const char *trigger, const char *location,
                          const char *cause);

/* channel.c */
void futex_wake(_Atomic uint32_t *addr);
void futex_wait(_Atomic uint32_t *addr, uint32_t val, long ns);
/* Wakes every sleeping worker (after the control thread published work). */
void rt_wake_workers(struct runtime *rt);
/* Keeps a record that did not fit (the ring was full) in the writer's overflow. */
int ovf_append(struct writer *w, const weir_rec *r, uint32_t sz);
/* Drains overflow; true while some of it is left (the task takes no input). */
bool task_backpressured(struct task *t);
/* The least room in bytes over the task's writers (UINT64_MAX for a sink). */
uint64_t task_room(const struct task *t);
/* Publishes partly filled buffers; true when nothing is left unpublished. */
bool task_flushed(struct task *t);
void task_flush_timeout(struct task *t, uint64_t now, uint64_t timeout_ns);

/* route.c */
/* A control event (watermark, status, barrier, end) to every writer, flushed. */
int route_control(struct task *t, const weir_rec *r);
/* weir_emit.push of a chain's tail, a sink, a side output, a source with a
 * watermark strategy, and an operator inside a chain (build_tasks sets them). */
int push_routes(weir_emit *e, const weir_rec *r);
int push_nowhere(weir_emit *e, const weir_rec *r);
int push_side(weir_emit *e, const weir_rec *r);
int push_source(weir_emit *e, const weir_rec *r);
int push_op(weir_emit *e, const weir_rec *r);

/* progress.c */
int deliver_watermark(struct op_inst *op, int64_t wm);
void gate_watermark(struct task *t);
/* rest_wm.c: the wall clock in ms (coarse: the watermark diagnosis needs no better). */
int64_t wm_wall_ms(void);
/* rest_wm.c, worker: a control event r leaves task t (a watermark or a source's idleness):
 * published for the watermark diagnosis. */
void wm_note_out(struct task *t, const weir_rec *r);
/* rest_wm.c: frees what the source's reports allocated (task teardown). */
void wm_splits_free(struct wm_splits *s);
/* A finished source leaves its watermark alignment group (not barrier alignment). */
void align_leave(struct task *t);
/* Watermarks, idleness, alignment of a source; 1 when it must pause. */
int source_time(struct task *t);
void task_processing_time(struct task *t);

/* task.c */
/* Fails the run with what op's rc (or its state backend) says; returns rc. */
int task_fail_rc(struct task *t, struct op_inst *op, int rc);
/* One scheduling step: > 0 work done, 0 idle, -1 backpressured. */
int task_step(struct task *t);
/* Publishes the worker-local counters for the metrics reader. */
void task_publish(struct task *t);

/* worker.c */
void *worker_main(void *arg);

/* dlq.c */
/* Opens the DLQ weir.dlq.type names (none: rt->dlq stays NULL); one line in err. */
int rt_dlq_open(struct runtime *rt, char *err, size_t errlen);
/* Makes every record sent so far durable; a failure fails the run with the writer's line
 * and returns its negative errno. 0 without a DLQ. */
int rt_dlq_flush(struct runtime *rt);
void rt_dlq_close(struct runtime *rt);

/* setup.c */
int open_ops(struct runtime *rt);
void close_ops(struct runtime *rt);
int runtime_setup(struct runtime *rt, weir_job *job, struct weir_config *cfg,
                  const struct weir_run_opts *opts, char *err, size_t errlen);
void runtime_free(struct runtime *rt);

/* limits.c */
/* -EINVAL, and err says why, when RLIMIT_AS cannot hold the pools, the stacks of the
 * workers' and helpers' threads and the mapped program. */
int check_address_space(struct runtime *rt, int workers, char *err, size_t errlen);

/* task_metrics.c */
/* Metric labels job_name, job_id[, what=name][, subtask_index], host, tm_id (subtask < 0:
 * none): a task manager's scope; rt_jm_labels: job_name, job_id, host, the job manager's. */
int rt_jm_labels(const struct runtime *rt, char *buf, size_t cap);
int rt_labels(const struct runtime *rt, const char *what, const char *name, int subtask, char *buf,
              size_t cap);
int register_metrics(struct runtime *rt);
/* gauge_metrics.c: watermarks and their lag, keyed state size, memory pools */
int register_gauges(struct runtime *rt);
/* The memory pools (framework, task_heap, managed, network, overhead): capacity from cfg,
 * use (bytes) where weir measures it and rt is running, else -1. */
#define RT_POOLS 5
struct rt_pool {
    const char *name;
    uint64_t capacity;
    int64_t used;
};
void rt_pools(const struct runtime *rt, const struct weir_config *cfg, struct rt_pool *out);

/* run.c */
void rt_fail(struct runtime *rt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rt_fail_msg(struct runtime *rt, const char *msg);
/* Copies the run's failure message (the first rt_fail or weir_ctx_fail) into buf: false if none. */
bool rt_error_copy(struct runtime *rt, char *buf, size_t len);
/* What an operator's negative errno err says about the failure it caused (after rt_fail or
 * weir_ctx_fail said what failed): one that a restart cannot fix makes the run fail without
 * restarts. opening: err came from an operator's open, where it opens its configured paths. */
void rt_fail_errno(struct runtime *rt, int err, bool opening);

/* For the control thread: the task is DONE and published everything it
 * wrote before (acquire: pairs with the release store of done_flag in
 * task_step). */
static inline bool task_finished(const struct task *t)
{
    return atomic_load_explicit(&t->done_flag, memory_order_acquire) != 0;
}

/* --- the per-record fast path, inline --------------------------------------- */

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Counters have one writer (the worker); readers are the control thread and the
 * metrics endpoint, which only need a value that is not torn. */
static inline void pub_add(_Atomic uint64_t *c, uint64_t d)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + d,
                          memory_order_relaxed);
}

/* Called after publishing to or releasing a ring that `other` watches. The seq_cst
 * fence pairs with the one worker_main issues after it stores sleeping = 1
 * (the Dekker protocol in worker.c's file comment). */
static inline void poke(struct worker *self, struct worker *other)
{
    if (other == self)
        return;
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&other->sleeping, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&other->futex, 1, memory_order_relaxed);
        futex_wake(&other->futex);
    }
}

static inline void writer_commit(struct writer *w)
{
    weir_ring_sp_commit(w->ring, w->used);
    w->buf = NULL;
    w->used = 0;
    poke(w->self, w->consumer);
}

/* Reserves a fresh buffer; false when the ring is full. */
static inline bool writer_reserve(struct writer *w)
{
    w->buf = weir_ring_sp_reserve(w->ring);
    if (!w->buf)
        return false;
    w->used = 0;
    w->first_ns = w->self->now_ns;
    return true;
}

/* Copies a record of sz bytes (a multiple of 8) in 8-byte words: small records
 * are the common case and a call to memcpy costs more than the copy. */
static inline void copy_rec(unsigned char *dst, const weir_rec *r, uint32_t sz)
{
    if (sz > 256) {
        memcpy(dst, r, WEIR_REC_HEADER + r->len);
        return;
    }
    const unsigned char *src = (const unsigned char *)r;
    uint32_t full = WEIR_REC_HEADER + (r->len & ~7u);
    for (uint32_t i = 0; i < full; i += 8) {
        uint64_t v;
        memcpy(&v, src + i, 8);
        memcpy(dst + i, &v, 8);
    }
    if (full < WEIR_REC_HEADER + r->len) /* the last partial word: copy only what exists */
        memcpy(dst + full, src + full, r->len & 7u);
}

static inline int writer_put(struct writer *w, const weir_rec *r)
{
    uint32_t sz = weir_rec_size(r->len);
    if (__builtin_expect(w->ovf_len != 0, 0))
        return ovf_append(w, r, sz);
    if (__builtin_expect(!w->buf || w->used + sz > w->cap, 0)) {
        if (w->buf)
            writer_commit(w);
        if (!writer_reserve(w))
            return ovf_append(w, r, sz);
    }
    copy_rec(w->buf + w->used, r, sz);
    w->used += sz;
    return 0;
}

/* Publishes a partly filled buffer. */
static inline void writer_flush(struct writer *w)
{
    if (w->ovf_len == 0 && w->buf && w->used)
        writer_commit(w);
}

static inline void set_key(struct op_inst *op, uint64_t key, uint32_t kg)
{
    op->cur_key = key;
    op->cur_kg = kg;
    weir_keyed_backend_set_current_key(op->backend, key, kg);
    weir_keyed_backend_set_namespace(op->backend, 0);
}

static inline int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Processing time, ms: the run's clock (weir_run_opts.clock_ms), else the wall clock. Every
 * processing-time read goes through here: windows and timers, weir_ctx_processing_time,
 * the keyed state's TTL clock. */
static inline int64_t rt_processing_ms(const struct runtime *rt)
{
    const struct weir_run_opts *o = rt->opts;
    return o->clock_ms ? o->clock_ms(o->clock_arg) : wall_ms();
}

#endif
