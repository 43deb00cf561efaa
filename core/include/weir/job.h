/*
 * Building and running a job: the control plane.
 *
 * A job is a graph of sources, operators and sinks joined by streams. Builder
 * functions take and return opaque weir_stream handles; the first invalid call
 * makes the job invalid (sticky) and weir_job_run reports that error, so job code
 * need not check each call. Every operator has a uid: state is matched to
 * operators by uid on restore, never by position.
 *
 *     int weir_job_main(weir_job *job, int argc, char **argv)
 *     {
 *         weir_stream *lines = weir_source_file(job, "lines", argv[1]);
 *         weir_stream *words = weir_flat_map(lines, "split", split_words);
 *         weir_sink_file(weir_key_by(words, word_key), "out", "words.txt");
 *         return 0;
 *     }
 *
 * Streams whose operators have the same parallelism and are joined by a forward
 * edge are chained into one subtask (a function call per record); every other
 * edge becomes one SPSC ring per (producer subtask, consumer subtask).
 */
#ifndef WEIR_JOB_H
#define WEIR_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weir/record.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weir_job weir_job;
typedef struct weir_stream weir_stream;
typedef struct weir_ctx weir_ctx;
struct weir_config;
struct weir_snapshot_out;
struct weir_snapshot_in;

/* --- what an operator sees of its subtask ------------------------------- */
int weir_ctx_subtask(const weir_ctx *ctx);
int weir_ctx_parallelism(const weir_ctx *ctx);
int weir_ctx_max_parallelism(const weir_ctx *ctx);
const char *weir_ctx_uid(const weir_ctx *ctx);
/* The arg given when the operator or source was added to the job. */
void *weir_ctx_arg(const weir_ctx *ctx);
/* True once the job is being stopped (SIGINT/SIGTERM, weir_job_cancel): an
 * unbounded source should report WEIR_SOURCE_DONE. */
bool weir_ctx_stopping(const weir_ctx *ctx);
/* True when the job takes checkpoints (execution.checkpointing.interval > 0, or
 * it was restored from one): two-phase-commit sinks then publish on
 * checkpoint_complete instead of at end of input. */
bool weir_ctx_checkpointing(const weir_ctx *ctx);
/* How this attempt of weir_job_run starts, known from open on. A sink that owns a
 * directory decides there whether what it finds is its own (file_2pc.c). */
enum weir_start {
    WEIR_START_FRESH,   /* the run's first attempt, from no state */
    WEIR_START_RESTORE, /* from a checkpoint or savepoint (weir_run_opts.restore_from): the
                           restore hooks follow open ("latest" with none yet starts empty) */
    WEIR_START_RETRY,   /* an in-process restart before any checkpoint completed: from no
                           state again, over what this run's earlier attempts left */
    WEIR_START_RESUME,  /* "--from-checkpoint latest" found no complete checkpoint: from no
                           state, over what a run killed before its first checkpoint left
                           (a supervisor's restart): its uncommitted output is not output */
};
enum weir_start weir_ctx_start(const weir_ctx *ctx);
/* The run's configuration, for the keys a connector reads (config.h's getters). */
const struct weir_config *weir_ctx_config(const weir_ctx *ctx);
/* Records a one-line failure reason; the operator then returns a negative errno. */
void weir_ctx_fail(weir_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sends rec to the dead-letter queue (weir.dlq.type, README "Dead-letter queue") instead of
 * processing it, with reason (one line) and the operator's uid in its headers, and counts it
 * in weir_operator_numRecordsDlq; callable from process(). A record a Kafka source emitted
 * (struct weir_kafka_rec, unchanged) goes with its original key, value bytes and headers,
 * and its topic, partition and offset; any other record with its payload bytes. Returns 0
 * (the operator goes on with the next record), or a negative errno to return from process():
 * with weir.dlq.type none the task fails with one line naming weir.dlq.type, and a DLQ that
 * cannot be written fails the job (a record is never dropped).
 *
 *     if (!valid(in))
 *         return weir_ctx_reject(ctx, in, "amount is negative");
 */
int weir_ctx_reject(weir_ctx *ctx, const weir_rec *rec, const char *reason);

/* --- operator state at another parallelism -------------------------------- */
/* How an operator's (non-keyed) state is redistributed when a checkpoint or savepoint is
 * restored, at the parallelism it was taken at or another (Flink's operator list state).
 * Keyed state is redistributed by key groups whatever this says. */
enum weir_state_mode {
    /* restore() reads back what snapshot() wrote for the same subtask; a restore at another
     * parallelism is refused with one line naming the operator */
    WEIR_STATE_SAME_PARALLELISM = 0,
    /* The state is a list of items (weir_snapshot_write_item). On restore the items of all
     * old subtasks, in subtask order and then in the order written, are dealt round-robin:
     * the new subtask i of p gets items i, i + p, i + 2p, ... (Flink's split list state:
     * source splits, each with its position) */
    WEIR_STATE_SPLIT,
    /* A list of items too, and every new subtask gets all of them (Flink's union list state:
     * each subtask picks what it now owns, e.g. by partition or by old subtask) */
    WEIR_STATE_UNION,
};
/* One item of list state as restore_items sees it: the bytes one weir_snapshot_write_item
 * wrote, and the subtask (of parallelism) that wrote them. */
struct weir_state_item {
    const void *data;
    size_t len;
    uint32_t subtask, parallelism;
};
/* In snapshot() of an operator whose state_mode is SPLIT or UNION: appends one item. */
int weir_snapshot_write_item(struct weir_snapshot_out *out, const void *data, size_t len);

/* --- user functions ------------------------------------------------------ */
/* map emits exactly one record per input; flat_map any number. Return 0 or a
 * negative errno, which fails the job. */
typedef int (*weir_process_fn)(weir_ctx *ctx, const weir_rec *in, weir_emit *out);
/* > 0 keeps the record, 0 drops it, < 0 fails the job. */
typedef int (*weir_filter_fn)(weir_ctx *ctx, const weir_rec *in);
/* The key of a record; partitioned by Flink's key-group formulas (keygroup.h). */
typedef uint64_t (*weir_key_fn)(const weir_rec *in);

/* A general operator: built-in operators and sinks are written against this. */
struct weir_operator_ops {
    const char *kind;  /* "map", "window", ... for names and metrics */
    size_t state_size; /* bytes of per-subtask state the runtime allocates, zeroed */
    int (*open)(weir_ctx *ctx, void *state, void *arg);
    /* input is the index of the stream the record came from (0 but for joins). */
    int (*process)(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out);
    /* NULL forwards the watermark unchanged. */
    int (*watermark)(weir_ctx *ctx, void *state, int64_t wm, weir_emit *out);
    /* All inputs ended: emit what is left. NULL: nothing to flush. */
    int (*end)(weir_ctx *ctx, void *state, weir_emit *out);
    void (*close)(weir_ctx *ctx, void *state);
    /* --- checkpoints (all optional) --- */
    /* Operator (non-keyed) state for checkpoint id, written to out; keyed state
     * and timers are snapshotted by the runtime. Runs on the worker: keep it a copy. */
    int (*snapshot)(weir_ctx *ctx, void *state, uint64_t checkpoint_id,
                    struct weir_snapshot_out *out);
    /* Reads back what snapshot wrote, after open, before any record. */
    int (*restore)(weir_ctx *ctx, void *state, struct weir_snapshot_in *in);
    /* Checkpoint id is complete (its _metadata is durable): two-phase-commit sinks
     * publish what they staged up to it. */
    int (*checkpoint_complete)(weir_ctx *ctx, void *state, uint64_t checkpoint_id);
    /* SPLIT or UNION (enum weir_state_mode): restore_items instead of restore, called once
     * after open when the checkpoint holds state of this uid, at any parallelism, with the
     * items this subtask inherits (n may be 0: it inherits none). The items live until it
     * returns. */
    enum weir_state_mode state_mode;
    int (*restore_items)(weir_ctx *ctx, void *state, const struct weir_state_item *items,
                         size_t n);
};

#define WEIR_SOURCE_MORE 0
#define WEIR_SOURCE_DONE 1

struct weir_source_ops {
    const char *kind;
    size_t state_size;
    int (*open)(weir_ctx *ctx, void *state, void *arg);
    /* Emits up to max records. Returns WEIR_SOURCE_MORE, WEIR_SOURCE_DONE when
     * exhausted, or a negative errno. *emitted = records emitted (0: nothing now). */
    int (*poll)(weir_ctx *ctx, void *state, weir_emit *out, uint32_t max, uint32_t *emitted);
    void (*close)(weir_ctx *ctx, void *state);
    /* --- checkpoints: the source's position (all optional) --- */
    int (*snapshot)(weir_ctx *ctx, void *state, uint64_t checkpoint_id,
                    struct weir_snapshot_out *out);
    int (*restore)(weir_ctx *ctx, void *state, struct weir_snapshot_in *in);
    int (*checkpoint_complete)(weir_ctx *ctx, void *state, uint64_t checkpoint_id);
    /* as weir_operator_ops's: a source's splits and their positions are SPLIT items */
    enum weir_state_mode state_mode;
    int (*restore_items)(weir_ctx *ctx, void *state, const struct weir_state_item *items,
                         size_t n);
};

/* --- building ------------------------------------------------------------ */
weir_job *weir_job_new(const char *name);
void weir_job_free(weir_job *job);
const char *weir_job_name(const weir_job *job);
/* The first builder error, or NULL when the graph is valid so far. */
const char *weir_job_error(const weir_job *job);
/* Makes the job invalid with a one-line reason, as a builder error does (sticky: the first
 * error stays). For weir_job_main's own checks of its arguments, which then returns
 * -EINVAL: the weir command prints "weir: job NAME: REASON", e.g.
 *     weir_job_fail(job, "--window-ms %s: must be > 0", arg); */
void weir_job_fail(weir_job *job, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

weir_stream *weir_source(weir_job *job, const char *uid, const struct weir_source_ops *ops,
                         void *arg);
weir_stream *weir_transform(weir_stream *in, const char *uid, const struct weir_operator_ops *ops,
                            void *arg);
/* A sink is an operator whose output is not consumed; its stream may not be used. */
weir_stream *weir_sink(weir_stream *in, const char *uid, const struct weir_operator_ops *ops,
                       void *arg);

weir_stream *weir_map(weir_stream *in, const char *uid, weir_process_fn fn);
weir_stream *weir_flat_map(weir_stream *in, const char *uid, weir_process_fn fn);
weir_stream *weir_filter(weir_stream *in, const char *uid, weir_filter_fn fn);

/* Partitionings of the next edge. */
weir_stream *weir_key_by(weir_stream *in, weir_key_fn key);
weir_stream *weir_rebalance(weir_stream *in);
weir_stream *weir_broadcast(weir_stream *in);
weir_stream *weir_forward(weir_stream *in);
/* Records of a and b, in no particular order between them. */
weir_stream *weir_union(weir_stream *a, weir_stream *b);

/* Hands the arg of the operator that produces s to the job: free_arg(arg) runs
 * when the job is freed. For builders that copy their options into a malloc'd
 * arg, as the built-in operators do. */
void weir_stream_own_arg(weir_stream *s, void (*free_arg)(void *arg));

/* Parallelism / display name of the operator that produces the stream. */
weir_stream *weir_set_parallelism(weir_stream *s, int parallelism);
weir_stream *weir_set_name(weir_stream *s, const char *name);

/* --- built-in sources and sinks ------------------------------------------ */
/* Payload of every datagen record (record_size bytes; the tail is filler). */
struct weir_datagen_rec {
    uint64_t seq;   /* 0..records-1, unique across subtasks */
    uint64_t key;   /* seq % keys (sequence) or uniform in [0, keys) (random) */
    uint64_t value; /* deterministic from seed and seq */
};
struct weir_datagen_opts {
    uint64_t records;     /* 0 = unbounded */
    uint64_t keys;        /* distinct keys; 0 = records */
    uint32_t record_size; /* payload bytes, >= 24 (sizeof struct weir_datagen_rec) */
    double rate;          /* records per second over all subtasks; 0 = as fast as possible */
    uint64_t seed;
    bool random;             /* keys uniform at random instead of seq % keys */
    uint64_t records_per_ms; /* event time: record seq has timestamp seq / records_per_ms
                                (ms); 0 = 1 */
};
weir_stream *weir_source_datagen(weir_job *job, const char *uid,
                                 const struct weir_datagen_opts *opts);
/* One record per line (without the newline); subtasks split the file by bytes. The
 * longest line is the largest record, memory.segment-size minus 16 bytes: a longer one
 * fails the job with "FILE:LINE: ...". */
weir_stream *weir_source_file(weir_job *job, const char *uid, const char *path);

/* Formats a record as text (without newline) into buf; returns its length, or
 * the length needed when it exceeds cap, or a negative errno. NULL: the payload
 * bytes as they are. */
typedef int (*weir_format_fn)(const weir_rec *r, char *buf, size_t cap);
/* One line per record. Parallelism 1 writes PATH; parallelism N > 1 makes PATH a
 * directory holding part-0 .. part-(N-1). A file sink (this one or the exactly-once one)
 * whose path is, holds or is inside the path of a file source of the same job is refused
 * when the job is planned (compared by device and inode, so links and other spellings
 * count). */
weir_stream *weir_sink_file(weir_stream *in, const char *uid, const char *path, weir_format_fn fmt);
weir_stream *weir_sink_stdout(weir_stream *in, const char *uid, weir_format_fn fmt);
/* Exactly-once file output (two-phase commit, as Flink's FileSink): each
 * subtask writes DIR/.part-<subtask>-<n><suffix>.inprogress; at a checkpoint the
 * file becomes .pending, and when that checkpoint completes it is renamed to
 * DIR/part-<subtask>-<n><suffix>, so readers of DIR/part-*<suffix> never see a record
 * twice, whatever crashes and restarts happen. Without checkpointing, files are
 * published at end of input. suffix may be NULL. DIR belongs to one run and its
 * restores: a fresh run into a DIR that is not empty fails to start (not restarted) unless
 * the key sink.file.overwrite is true, which deletes the sink's part files there first. */
weir_stream *weir_sink_file_exactly_once(weir_stream *in, const char *uid, const char *dir,
                                         weir_format_fn fmt, const char *suffix);
/* Registers its decoder of checkpointed state for weir inspect (weir/inspect.h; kind
 * "file-exactly-once"): per subtask "next_part" (the part number its next in-progress file
 * gets) and "pending" ([{"part", "checkpoint"}]: the files pre-committed by that checkpoint,
 * renamed when it completes; checkpoint 0: staged at end of input). 0 or -EEXIST. */
int weir_file_register_inspect_decoder(void);
/* Counts records and drops them. */
weir_stream *weir_sink_blackhole(weir_stream *in, const char *uid);
/* "seq,key,value" for datagen records. */
int weir_format_datagen(const weir_rec *r, char *buf, size_t cap);

/* --- running --------------------------------------------------------------- */
/* A checkpoint or savepoint as the coordinator saw it end, completed or not. */
struct weir_checkpoint_event {
    uint64_t id;
    bool savepoint;
    bool final;           /* the checkpoint taken at end of input */
    bool completed;       /* false: failed, expired or cancelled by a stop; reason says why */
    uint64_t duration_ms; /* from trigger to _metadata committed (or to the failure) */
    uint64_t size_bytes;  /* what it stored: its files plus the shared files new to it */
    const char *reason;   /* NULL when completed; valid during the call only */
};

struct weir_run_opts {
    int parallelism; /* -p; 0 = parallelism.default */
    /* Called from the control thread about every 200 ms while running, and once at
     * the end with done = true. */
    void (*progress)(void *arg, uint64_t records, double elapsed_s, bool done);
    void *progress_arg;
    bool quiet; /* no pool table or placement lines on stderr */
    /* Start from a checkpoint: "latest" (the newest complete one under
     * state.checkpoints.dir/<job>) or the path of a checkpoint or savepoint
     * directory. NULL: start empty. */
    const char *restore_from;
    /* State of an operator uid the job no longer has is skipped instead of
     * refused (Flink's --allowNonRestoredState). */
    bool allow_non_restored_state;
    /* Called from the control thread as each checkpoint or savepoint ends; it must
     * return quickly (the coordinator waits for it). NULL: not called. */
    void (*on_checkpoint)(void *arg, const struct weir_checkpoint_event *ev);
    void *on_checkpoint_arg;
    /* Processing time in ms since the epoch: every read of it (processing-time windows and
     * timers, weir_ctx_processing_time, state TTL) is clock_ms(clock_arg). NULL: the wall
     * clock (CLOCK_REALTIME). For tests and replays that decide when time passes. Called
     * from every worker thread at once, about once per record and per worker pass: it must
     * be thread-safe, cheap, and never go backwards. */
    int64_t (*clock_ms)(void *arg);
    void *clock_arg;
    /* Called once from the control thread when the job's REST API starts serving
     * (rest.enabled), with the job id (32 hex digits, as GET /jobs lists it) and the server's
     * URL ("http://127.0.0.1:8081"): the weir command registers the job there for `weir
     * list`. NULL: not called. */
    void (*on_rest)(void *arg, const char *job_id, const char *url);
    void *on_rest_arg;
};

/* One subtask's part in a checkpoint (checkpoint skew). */
struct weir_subtask_checkpoint {
    char task[128]; /* its chain's name, truncated */
    int subtask, parallelism;
    uint64_t end_to_end_ms; /* from the trigger until its state files were durable */
    uint64_t sync_ms;       /* its snapshot's synchronous part: the worker's stall */
    uint64_t alignment_ms;  /* its barrier alignment (0 for a source) */
    uint64_t size_bytes;    /* its state files */
};

struct weir_run_stats {
    uint64_t source_records; /* records emitted by all sources */
    uint64_t sink_records;   /* records reached all sinks */
    double elapsed_s;
    int workers;
    bool cancelled;
    int metrics_port;             /* bound Prometheus port, 0 when off */
    uint64_t restored_checkpoint; /* id the job started from, 0 when none */
    uint64_t checkpoints_completed, checkpoints_failed;
    uint64_t last_checkpoint_id;
    int restarts; /* numRestarts */
    /* Worker stall per snapshot (the synchronous part) in the last attempt, over the
     * subtasks that hold keyed state; other_*: over the other subtasks (sources, stateless
     * ones, operator state only), apart so that their near-zero stalls hide nothing. */
    uint64_t snapshots;
    double sync_ms_p50, sync_ms_p99, sync_ms_max;
    double restore_ms;       /* reading the checkpoint back into state, when restored */
    uint64_t restored_bytes; /* size of the checkpoint restored from */
    /* Checkpoint skew: in the last completed checkpoint that running subtasks took (finished
     * ones are left out), the slowest and fastest subtask end to end, and the smallest and
     * largest state. skew_checkpoint_id 0: none. */
    uint64_t skew_checkpoint_id;
    int skew_subtasks;
    struct weir_subtask_checkpoint skew_slowest, skew_fastest, skew_smallest, skew_largest;
    /* Unaligned checkpoints (execution.checkpointing.unaligned.enabled), the last attempt:
     * snapshots taken unaligned over all subtasks, and the most bytes of records in flight
     * (channel state) one subtask saved in one of them. */
    uint64_t unaligned_snapshots, channel_state_bytes_max;
    uint64_t other_snapshots;
    double other_sync_ms_p50, other_sync_ms_p99, other_sync_ms_max;
    /* Records that went into operators (not sources, not sinks), chained ones included: per
     * source record, a deterministic measure of a job's per-record work. */
    uint64_t operator_records;
};

/* Plans, places and runs the job until its sources are exhausted and every record
 * has drained, or until weir_job_cancel (a stop, not a failure: 0, stats->cancelled).
 * cfg must have been resolved. Returns 0 or a negative errno with a one-line reason in
 * err: -EIO for a failure once the restart strategy gives up; a failure no restart can
 * fix (EACCES, EROFS, an operator's configured path missing) fails at once with its
 * own errno. */
int weir_job_run(weir_job *job, struct weir_config *cfg, const struct weir_run_opts *opts,
                 struct weir_run_stats *stats, char *err, size_t errlen);
/* The physical plan as one line, e.g. "[datagen -> map x2] =hash=> blackhole; [blackhole x2]":
 * chains in brackets with their parallelism, and how each chain's output is
 * partitioned. parallelism 0 = parallelism.default. */
int weir_job_describe_plan(weir_job *job, struct weir_config *cfg, int parallelism, char *buf,
                           size_t len, char *err, size_t errlen);
/* Asks a running job to stop: sources end, in-flight records drain. Safe from a
 * signal handler. */
void weir_job_cancel(weir_job *job);

/* Asks a running job that takes checkpoints for a savepoint: the same snapshot
 * written to state.savepoints.dir/savepoint-<job>-<id> (default: under the
 * checkpoint directory), self-contained and never deleted by retention.
 * Restore it with restore_from = its path. Safe from a signal handler. */
void weir_job_savepoint(weir_job *job);

/* Stop-with-savepoint (Flink's `flink stop`, a synchronous savepoint): the sources stop
 * emitting and take a savepoint with their last positions, written to
 * dir/savepoint-<job>-<id> (dir NULL or "": state.savepoints.dir, as weir_job_savepoint);
 * two-phase sinks commit exactly up to it, and the job ends (weir_job_run returns 0, the job
 * FINISHED). Nothing the sources read after it reaches a sink's committed output: resuming
 * with restore_from = its path continues with no gap and no duplicate. Without drain, windows
 * and timers stay in the savepoint's state; with drain the sources first emit the maximal
 * watermark, so every event-time window fires and its output is committed with the savepoint
 * (a drained savepoint is for ending a job for good: its resumed watermark is the maximum).
 * A savepoint that fails (an unwritable dir, a timeout) does not stop the job: the sources go
 * on and weir_job_stop_status says why. Needs checkpointing
 * (execution.checkpointing.interval). Waits for a checkpoint in flight, then takes the
 * savepoint. Returns 0 once asked (the stop itself is asynchronous: poll
 * weir_job_stop_status), -ESRCH when the job is not running, -EBUSY while a stop is pending,
 * -ENOMEM. Thread-safe; not for a signal handler. */
int weir_job_stop_with_savepoint(weir_job *job, const char *dir, bool drain);

enum weir_stop_state {
    WEIR_STOP_NONE,      /* never asked for */
    WEIR_STOP_PENDING,   /* asked for, its savepoint not settled yet */
    WEIR_STOP_COMPLETED, /* the savepoint is complete (buf: its path) and the job stops */
    WEIR_STOP_FAILED,    /* buf: why; the job kept running (or had ended) */
};

/* The last stop-with-savepoint of job: its state, and in buf the savepoint's path or why it
 * failed ("" while pending). Thread-safe. */
enum weir_stop_state weir_job_stop_status(weir_job *job, char *buf, size_t len);

/* The entry point a job shared object exports (as flink run takes a jar). */
typedef int (*weir_job_main_fn)(weir_job *job, int argc, char **argv);
#define WEIR_JOB_MAIN_SYMBOL "weir_job_main"

/* The job API's ABI version. A job .so has struct weir_emit, struct weir_rec and the inline
 * functions of record.h compiled into it, so it runs only on the weir it was built against:
 * raise this when a change to these headers would break a job built before it. Every job
 * .so records the version it was built against in weir_job_abi_version, defined here (weak,
 * so each file of a job may include this header; the job author writes nothing), and
 * `weir run` refuses a job .so whose version differs from its own or that lacks it. */
#define WEIR_ABI_VERSION        1
#define WEIR_ABI_VERSION_SYMBOL "weir_job_abi_version"
#ifdef __cplusplus
extern /* C++ gives a namespace-scope const internal linkage */
#endif
    __attribute__((weak, visibility("default"), used)) const uint32_t weir_job_abi_version =
        WEIR_ABI_VERSION;

#ifdef __cplusplus
}
#endif
#endif
