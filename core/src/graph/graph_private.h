/*
 * The graph module's one private header: the logical graph behind job.h's
 * opaque handles, built by job.c, planned into chains by plan.c, and read by
 * the runtime (core/src/runtime/) to build tasks and wire them. Internal.
 */
#ifndef WEIR_GRAPH_H
#define WEIR_GRAPH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <weir/job.h>
#include <weir/operator.h>

enum node_type { NODE_SOURCE, NODE_OPERATOR, NODE_SINK };

enum part {
    PART_DEFAULT,   /* forward, or rebalance when parallelism differs (Flink's rule) */
    PART_FORWARD,   /* explicit: parallelism must match */
    PART_REBALANCE, /* round robin over consumer subtasks */
    PART_HASH,      /* by key group */
    PART_BROADCAST, /* every consumer subtask */
};

struct edge;

struct node {
    int id;
    enum node_type type;
    char *uid;
    char *name;
    const struct weir_source_ops *src;
    const struct weir_operator_ops *op;
    const struct weir_keyed_ops *kops;         /* keyed operators: timers */
    bool keyed;                                /* consumes key_by streams: has keyed state */
    const struct weir_watermark_strategy *wms; /* sources: watermark generation */
    struct weir_watermark_strategy *wms_copy;
    void *arg;
    void (*free_arg)(void *arg);
    char *io_path;  /* the file or directory it reads or writes (io_paths.h), or NULL */
    bool io_writes; /* io_path is written (a sink), not read */
    int n_tags;     /* side outputs this node feeds */
    char **tags;
    int parallelism; /* 0 = the job default, fixed at plan time */
    int n_in, n_out;
    struct edge **in, **out;
    bool stream_used; /* its output stream was consumed */
    /* plan */
    int p;     /* resolved parallelism */
    int chain; /* chain id */
    int chain_pos;
};

struct edge {
    struct node *from, *to;
    enum part part; /* as built */
    enum part eff;  /* as planned: PART_DEFAULT resolved to forward or rebalance */
    weir_key_fn key;
    int input;       /* index of the consuming operator's logical input */
    const char *tag; /* side output name (one of from->tags), NULL for the main output */
};

struct stream_src {
    struct node *node;
    enum part part;
    weir_key_fn key;
    const char *tag; /* side output of node, or NULL */
};

struct weir_stream {
    weir_job *job;
    int n;
    struct stream_src src[];
};

/* Checkpoint counters of a job, kept across restarts (metrics). */
struct chk_stats {
    _Atomic uint64_t completed, failed, in_progress;
    _Atomic uint64_t last_duration_ms, last_size_bytes, last_id;
    _Atomic uint64_t last_checkpoint_id; /* last_id, savepoints left out: what "latest" finds */
    _Atomic uint64_t restarts;
    _Atomic uint64_t last_issued_id; /* newest id taken by a checkpoint or savepoint, failed too */
    struct chk_history *history;     /* the REST API's statistics (checkpoint/history.c) */
};

/* A stop-with-savepoint (checkpoint/stop.c), under lock: asked for by any thread, taken and
 * settled by the control thread. */
struct job_stop {
    pthread_mutex_t lock;
    enum weir_stop_state state;
    bool running; /* weir_job_run is running */
    bool taken;   /* its savepoint is triggered */
    bool drain;
    char *dir;    /* NULL: state.savepoints.dir */
    char *result; /* the savepoint's path, or why it failed */
};

struct weir_job {
    struct chk_stats chk;
    char *name;
    int n_nodes, cap_nodes;
    struct node **nodes;
    int n_streams, cap_streams;
    weir_stream **streams;
    char *error; /* first builder error (sticky) */
    _Atomic int cancel;
    _Atomic int savepoint_requested;
    struct job_stop stop;
    struct runtime *rt;    /* while running */
    struct job_live *live; /* while weir_job_run runs: what the REST API reads (run.c) */
};

const char *part_str(enum part p);

/* A job cut into chains (plan.c): chains[c][0..chain_len[c]) are the nodes of
 * chain c in order; every node's p, chain and chain_pos and every edge's eff
 * are set. */
struct plan {
    int n_chains;
    struct node ***chains;
    int *chain_len;
};

int plan_build(struct plan *pl, weir_job *job, int max_parallelism, int default_p, char *err,
               size_t errlen);
/* "a -> b -> c": the names of chain c's nodes; malloc'd, NULL when out of memory. */
char *plan_chain_name(const struct plan *pl, int c);
/* "[datagen -> map x2] =hash=> [blackhole x2]"; returns the length it needed. */
int plan_describe(const struct plan *pl, char *buf, size_t len);
void plan_free(struct plan *pl);

#endif
