/*
 * The runtime's structures: workers, tasks (one chain at one subtask index),
 * channel writers and input channels. Internal to core/src.
 *
 * A task is a chain of operator instances. Its input is a set of rings, one per
 * upstream producer subtask; its output is a set of routes, one per outgoing
 * edge of the chain's last operator, each holding one writer per downstream
 * subtask. A writer fills the ring buffer it has reserved in place; when the
 * ring is full, records go to the writer's overflow and the task is
 * backpressured: it takes no new input until the overflow has drained, so it
 * never blocks the worker thread that other subtasks need.
 */
#ifndef WEIR_RUNTIME_H
#define WEIR_RUNTIME_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <weir/job.h>
#include <weir/metrics.h>
#include <weir/numa.h>
#include <weir/prom.h>
#include <weir/ring.h>
#include <weir/state.h>

#include "graph.h"
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
    weir_key_fn key; /* keyed consumers: the edge's key function */
    bool ended;
    bool idle;
    bool blocked;     /* delivered barrier `barrier`, waits for the other inputs */
    uint64_t barrier; /* last barrier seen */
    uint32_t off;     /* read offset into the peeked buffer (a barrier stopped there) */
    int64_t wm;
    struct worker *producer;
};

enum task_state { TASK_RUNNING, TASK_FINISHING, TASK_DONE };

struct task {
    struct runtime *rt;
    int index;              /* in rt->tasks */
    _Atomic int done_flag;  /* state == TASK_DONE, for the control thread */
    uint64_t notified_id;   /* newest checkpoint_complete delivered */
    bool restored_finished; /* restored from a checkpoint where it had finished */
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
    uint64_t last_chk; /* newest checkpoint this task took */
    uint64_t aligning; /* checkpoint being aligned, 0 when none */
    uint64_t align_start_ns;
    _Atomic uint64_t align_ns, sync_ns; /* alignment and synchronous snapshot time */
    uint32_t *sync_us;                  /* each snapshot's synchronous time, for percentiles */
    uint64_t submit_ns;                 /* when its last snapshot's files went to the io thread */
    _Atomic uint64_t last_sync_ms, last_async_ms; /* of the last completed checkpoint */
    uint64_t pending_sync_ms;
    size_t n_sync, cap_sync;
    bool idle_sent; /* all inputs idle: told downstream */
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
};

struct ring_block {
    void *mem;
    size_t size;
};

struct weir_state_env;
struct weir_metrics;
struct weir_prom_server;
struct weir_config;
struct coordinator;

struct runtime {
    weir_job *job;
    struct weir_config *cfg;
    const struct weir_run_opts *opts;
    int max_parallelism;
    uint32_t nbufs, seg_size;
    uint64_t buffer_timeout_ns;
    int n_chains;
    struct node ***chains; /* chains[c] = nodes in order */
    int *chain_len;
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
    weir_metrics *metrics;
    weir_prom_server *prom;
    weir_state_env *state_env;
    uint64_t wm_interval_ns;
    bool exactly_once;
    _Atomic uint64_t trigger; /* newest checkpoint sources should take */
    int (*snapshot)(void *arg, struct task *t, uint64_t id);
    void *snapshot_arg;
    int n_groups;
    struct align_group *groups;
    struct coordinator *coord;
    _Atomic uint64_t completed_id; /* newest complete checkpoint: sinks commit up to it */
    uint64_t restored_id;
    uint64_t restore_ns;
    uint64_t restored_bytes;
};

/* runtime.c */
void rt_fail_msg(struct runtime *rt, const char *msg);
/* Metric labels job_name[, what=name][, subtask_index] (subtask < 0: none). */
int rt_labels(const struct runtime *rt, const char *what, const char *name, int subtask, char *buf,
              size_t cap);
/* Wakes every sleeping worker (after the control thread published work). */
void rt_wake_workers(struct runtime *rt);

/* checkpoint.c */
int chk_setup(struct runtime *rt, char *err, size_t errlen);
int chk_restore(struct runtime *rt, char *err, size_t errlen);
void chk_tick(struct runtime *rt);
int chk_final(struct runtime *rt);
void chk_notify(struct task *t);
void chk_free(struct runtime *rt);
int chk_register_metrics(struct runtime *rt);

#endif
