/*
 * The checkpoint module's one private header, and the contract between it and
 * the runtime (core/src/runtime/). Flink's split: the coordinator
 * (coordinator.c, control thread) triggers, commits and retires checkpoints;
 * the barrier handler (barrier.c, worker threads) aligns barriers per task;
 * snapshot.c writes a task's operators into checkpoint storage; restore.c
 * reads them back before the workers start.
 *
 * The runtime calls (and nothing else of this module):
 *   control thread:  chk_setup, chk_register_metrics, chk_restore (once, before
 *                    the workers start), chk_tick (every control tick),
 *                    chk_final (after the workers joined), chk_sync_percentiles,
 *                    chk_free (from runtime_free, any prefix of set-up),
 *                    chk_history_new and chk_history_free (weir_job_run, rest_docs.c)
 *   REST thread:     chk_history_stats_json, chk_history_details_json (rest_docs.c)
 *   worker threads:  chk_source_trigger (a source, each step), chk_on_barrier
 *                    (a barrier record on an input), chk_input_ended (END on
 *                    an input), chk_notify (each task, each pass), and with
 *                    unaligned checkpoints chk_unaligned_poll (each step) and
 *                    chk_unaligned_record (each input buffer)
 *
 * The checkpoint module calls back into the runtime (runtime_private.h):
 *   rt_fail_msg      fail the run (too many failed checkpoints)
 *   rt_error_copy    what an operator said when its restore hook failed
 *   rt_labels        metric labels
 *   rt_wake_workers  after publishing trigger or completed_id
 *   task_finished    whether a task is DONE (acquire); from then on its worker
 *                    leaves it alone, and the control thread calls its
 *                    operators' snapshot and checkpoint_complete hooks
 *   route_control    forward a barrier on every route of a task
 *   pub_add, now_ns  the runtime's counter and clock helpers
 *
 * State owned by this module but kept inside runtime structs, so that the
 * worker's hot path reads it without a call: struct task_chk (t->chk) and
 * struct rt_chk (rt->chk) below. The runtime reads of them only rt->chk.on
 * (weir_ctx_checkpointing), rt->chk.restored_id/restored_bytes (run stats),
 * rt->chk.restore (weir_ctx_start: whether a checkpoint is restored);
 * it writes none of them.
 *
 * Runtime fields this module reads (never writes, except where noted):
 *   runtime:  job (name, nodes, chk counters and history, cancel, savepoint_requested),
 *             plan.n_chains (history.c: per-vertex figures),
 *             cfg, opts, max_parallelism, failed, metrics, n_tasks, tasks, topo,
 *             n_workers and workers[].slot (where snapshot writers and restore threads run)
 *   task:     index, subtask, chain, n_ops, ops, is_source, chain_name,
 *             worker->now_ns, worker->slot.node, n_in and in[] (ended, ring, off; barrier, blocked,
 *             recording, state, replay, which the barrier handler and the restore
 *             also write), n_routes and routes (writers: ring, buf, used, ovf; state,
 *             which the barrier handler writes, and restore adds to ovf); restored_finished
 *             (written by restore, before the workers start); whether it
 *             has finished only through task_finished()
 *   op_inst:  node (uid, src, op hooks), task, ctx, state, backend, timers
 *             (restore adds to them)
 */
#ifndef WEIR_CHECKPOINT_H
#define WEIR_CHECKPOINT_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weir/job.h>
#include <weir/storage.h>

#include "checkpoint_rocksdb.h"

struct runtime;
struct task;
struct in_chan;
struct op_inst;
struct weir_run_stats;
struct coordinator;

/* Records back to back, each weir_rec_size long: one channel's state (unaligned
 * checkpoints, barrier.c) or what a restore replays. */
struct chan_buf {
    unsigned char *p;
    size_t len, cap;
};

/* A task's checkpoint state (t->chk): written by its worker, the atomics also
 * read by the coordinator and metrics. */
struct task_chk {
    uint64_t notified_id;               /* newest checkpoint_complete delivered */
    uint64_t last_chk;                  /* newest checkpoint this task took */
    bool stop_drained; /* a source that emitted the maximal watermark for a stop's --drain */
    uint64_t aligning;                  /* checkpoint being aligned, 0 when none (barrier.c) */
    uint64_t align_start_ns;            /* when the alignment began */
    _Atomic uint64_t align_ns, sync_ns; /* alignment and synchronous snapshot time */
    uint32_t *sync_us;                  /* each snapshot's synchronous time, for percentiles */
    size_t n_sync, cap_sync;
    _Atomic uint64_t last_sync_ms, last_async_ms; /* of the last completed checkpoint */
    /* of the last completed checkpoint too, written by the coordinator (settle): from the
     * trigger until this subtask's state files were durable, its barrier alignment, and the
     * bytes of its state files (checkpoint skew, per subtask) */
    _Atomic uint64_t last_e2e_ms, last_align_ms, last_size_bytes;
    /* per operator, the incremental heap chain it writes (heap_chain.c); NULL until then */
    struct heap_chain **heap_chains;
    /* Unaligned checkpoints (barrier.c): the checkpoint whose snapshot is taken and whose
     * channel state is being recorded (0: none), and its inputs whose cut is still to come */
    uint64_t unaligned;
    int unaligned_waiting;
    /* aligned-checkpoint-timeout: the checkpoint taken aligned whose ack waits until its
     * barrier has left every writer's overflow, or until it is converted (0: none) */
    uint64_t held;
    char *channels_uid; /* "<head uid>#channels": the entry of the task's channel state */
    /* bytes of channel state in this subtask's last unaligned snapshot, and the most */
    _Atomic uint64_t last_channel_bytes, max_channel_bytes;
    _Atomic uint64_t unaligned_snapshots; /* taken unaligned, for tests and the summary */
};

/* A run's checkpoint state (rt->chk). */
struct rt_chk {
    struct coordinator *coord; /* opaque outside this module */
    bool on;                   /* tasks snapshot at barriers: storage is open */
    bool exactly_once;         /* barriers block inputs while aligning */
    /* execution.checkpointing.unaligned.enabled, and aligned-checkpoint-timeout (ns, 0:
     * unaligned at once): barrier.c's modes */
    bool unaligned;
    uint64_t aligned_timeout_ns;
    /* Newest checkpoint the sources should take: release store in trigger()
     * (coordinator.c) <-> acquire load in a source's step (runtime/task.c), which passes
     * what it loaded to chk_source_trigger. */
    _Atomic uint64_t trigger;
    /* Newest complete checkpoint, sinks commit up to it: release store in
     * settle() (coordinator.c) <-> acquire load in chk_notify (snapshot.c). */
    _Atomic uint64_t completed_id;
    /* Stop-with-savepoint (stop.c): the stop's savepoint id (0: none), and whether it
     * drains, stored before the release store of trigger (the sources' acquire load of it
     * precedes their loads of these); stop_id back to 0 when the savepoint failed: the
     * sources go on. stopped: the savepoint is complete and sinks may commit it, the
     * workers stop (release store in chk_stop_settled <-> acquire loads in run_workers and
     * worker_main). */
    _Atomic uint64_t stop_id;
    _Atomic int stop_drain;
    _Atomic int stopped;
    uint64_t restored_id, restored_bytes;
    /* The checkpoint to restore, opened by chk_restore_open before the operators open
     * and closed by chk_restore; NULL for a fresh run ("latest" with none yet too), which
     * weir_ctx_start tells the operators (an exactly-once sink then checks its output). */
    weir_restore *restore;
    /* Heap snapshots still being written off the worker (snapshot.c), under its lock. */
    int async_snapshots;
    /* Where those writers run, per NUMA node (chk_snapshot_cpus_setup): the node's cpus
     * that no worker's core holds, or all of the node's when every core has a worker.
     * NULL: not bound (no hashmap state, a synthetic topology). */
    cpu_set_t *snap_cpus;
    int snap_nodes;
};

/* --- called by the runtime --------------------------------------------------- */

/* coordinator.c, control thread */
int chk_setup(struct runtime *rt, char *err, size_t errlen);
int chk_register_metrics(struct runtime *rt);
void chk_tick(struct runtime *rt);
int chk_final(struct runtime *rt);
/* checkpoint_metrics.c, settle: the per-subtask series and the run's skew of completed pd */
struct pending;
void chk_note_subtasks(struct runtime *rt, const struct pending *pd, uint64_t now);
/* stop.c, control thread. chk_stop_run: weir_job_run starts (running) or ends (a stop still
 * pending fails). chk_stop_take: a stop is asked for and not taken: take it (1; *dir
 * malloc'd or NULL). chk_stop_settled: the stop's savepoint ended (savepoint: its path when
 * completed) or could not start. chk_stop_commit: after the workers joined on a completed
 * stop, every task's checkpoint_complete up to it. */
void chk_stop_run(weir_job *job, bool running);
int chk_stop_take(struct runtime *rt, char **dir, bool *drain);
/* A stop is asked for and waits for the checkpoints in flight: none new starts. */
bool chk_stop_waiting(struct runtime *rt);
/* A stop asked for over REST, taken at once: 0, or -EBUSY while another is pending. */
int chk_stop_claim(weir_job *job, const char *dir, bool drain);
void chk_stop_settled(struct runtime *rt, const char *savepoint, const char *why);
void chk_stop_commit(struct runtime *rt);
/* claim.c, control thread: execution.savepoint-restore-mode for the checkpoint restored from
 * a path (chk_restore_open); a checkpoint completed (settle). */
int chk_claim_open(struct runtime *rt, weir_restore *r, char *err, size_t errlen);
void chk_claim_completed(struct runtime *rt);
void chk_free(struct runtime *rt);
/* snapshot.c: waits until no heap snapshot is being written off a worker (before the
 * storage and the backends are closed). */
void chk_snapshots_drain(struct runtime *rt);
/* restore.c, control thread: chk_restore_open before the operators open (it finds
 * and validates the checkpoint, and checks it against the job and its state files;
 * rt->chk.restore), chk_restore after (reads it back into
 * the operators, then closes it); chk_restore_close for an attempt that stops between. */
int chk_restore_open(struct runtime *rt, char *err, size_t errlen);
int chk_restore(struct runtime *rt, char *err, size_t errlen);
void chk_restore_close(struct runtime *rt);
/* restore.c, read-only checks that chk_restore_open makes and weir inspect repeats, each
 * 0 or -EBADMSG with one line in err: _metadata's entries are one per subtask of each
 * operator's parallelism over the key groups it owned (chk_check_entries); entry e's state
 * file says it holds what e says (its TAG_IDENTITY section: uid, subtask, key groups,
 * backend, checkpoint id; chk_check_identity). chk_backend_str: a CHK_STATE_* name. */
int chk_check_entries(const struct weir_ckpt_meta *m, const char *dir, char *err, size_t errlen);
int chk_check_identity(weir_restore *r, const struct weir_ckpt_meta *m,
                       const struct weir_ckpt_entry *e, char *err, size_t errlen);
const char *chk_backend_str(uint32_t backend);
/* Adds the timers of key group kg that a TAG_TIMERS section holds (two domains: a u64
 * count, then that many {ts, key, ns} int64 triples) to t. 0 or a negative errno. */
struct timer_service;
int chk_restore_timers(struct timer_service *t, struct weir_snapshot_in *in, uint32_t kg);
/* snapshot.c */
void chk_notify(struct task *t);
void chk_sync_percentiles(struct runtime *rt, struct weir_run_stats *st);
/* snapshot.c: the cpus of heap snapshot writers, per node (rt->chk.snap_cpus), once the
 * workers are placed and the backends open; says so once when they float among workers.
 * chk_free frees them. */
int chk_snapshot_cpus_setup(struct runtime *rt);
/* barrier.c, the task's worker; each returns 0 or a negative errno. A source takes the
 * checkpoints up to trig, the trigger it loaded (acquire) for its step. */
int chk_source_trigger(struct task *t, uint64_t trig);
int chk_on_barrier(struct task *t, struct in_chan *c, uint64_t id);
int chk_input_ended(struct task *t, struct in_chan *c);
/* barrier.c, unaligned checkpoints (rt->chk.unaligned), the task's worker:
 * chk_unaligned_poll each step of a task with inputs, before it checks backpressure (takes
 * the barriers announced on its inputs); chk_unaligned_record before it consumes
 * buf[from, used) of input c, a buffer peeked from c's ring (ring: c's announcements are
 * taken first, then the buffer is recorded if c is recording) or, while c is recording,
 * restored records being replayed. 0 or a negative errno. */
int chk_unaligned_poll(struct task *t);
/* barrier.c, the task's worker, each step while t->chk.held, and before the task is DONE:
 * acks the held checkpoint once its barriers are out of the writers, or makes them overtake
 * once aligned-checkpoint-timeout has passed. 0 or a negative errno. */
int chk_held_check(struct task *t);
/* barrier.c, control thread after the workers joined: unaligned snapshots and the largest
 * channel state into the run stats */
void chk_unaligned_stats(struct runtime *rt, struct weir_run_stats *st);
int chk_unaligned_record(struct task *t, struct in_chan *c, const unsigned char *buf, uint32_t from,
                         uint32_t used, bool ring);
/* coordinator.c, the task's worker before it snapshots checkpoint id: how long its barrier
 * alignment took (0 for a source), kept in its ack slot for the skew metrics */
void chk_note_alignment(struct task *t, uint64_t id, uint64_t align_ns);
/* coordinator.c, control thread: the skew of the last completed checkpoint (run stats) */
void chk_skew_stats(struct runtime *rt, struct weir_run_stats *st);

/* history.c: checkpoint statistics for the REST API, one per weir_job_run (job->chk.history,
 * which the runtime makes and frees); the coordinator writes them on the control thread,
 * the REST server's thread reads them as Flink's documents (jansson objects). */
struct chk_history;
struct json_t;
struct chk_history *chk_history_new(int keep);
void chk_history_free(struct chk_history *h);
/* GET /jobs/:jobid/checkpoints: counts, summary, latest, history */
struct json_t *chk_history_stats_json(struct chk_history *h);
/* GET /jobs/:jobid/checkpoints/details/:id, tasks keyed by vertex_ids[chain]; NULL when the
 * history does not know checkpoint id */
struct json_t *chk_history_details_json(struct chk_history *h, uint64_t id,
                                        const char (*vertex_ids)[33], int n_vertices);

/* --- inside the module (not for the runtime) --------------------------------- */

/* State file sections: the operator's own state, then per key group its keyed
 * state and its timers. */
#define TAG_OPERATOR  (1ull << 32)
#define TAG_KEYED     (2ull << 32)
#define TAG_TIMERS    (3ull << 32)
/* An operator's list state (op_state.c): items, each a u32 length and its bytes */
#define TAG_OPERATOR_LIST (11ull << 32)
/* Which operator wrote the operator state: its kind ("datagen", "kafka-source", ...), the
 * bytes of the name unterminated, so that inspect decodes the items (inspect_decode.c); a
 * state file without it (written before it existed) is shown as bytes */
#define TAG_OPERATOR_KIND (12ull << 32)
#define MAX_PENDING   16
#define SLOTS         64
#define BLOB_FINISHED 'F'
#define BLOB_RUNNING  'R'
/* The first section of every state file: what it holds (snapshot.c identity_write);
 * 4, 5 and 6 are RocksDB's (checkpoint_rocksdb.h). */
#define TAG_IDENTITY (7ull << 32)
/* Channel state of unaligned checkpoints (channel_state.c): | input index, | writer index */
#define TAG_CHANNEL_IN  (8ull << 32)
#define TAG_CHANNEL_OUT (9ull << 32)
/* which edge and which subtasks each of them carried (channel_state.c's file comment): a
 * u32 count, then per channel a map_line and its three strings, unterminated */
#define TAG_CHANNEL_MAP (10ull << 32)
struct map_line {
    uint32_t dir; /* MAP_IN (index: of TAG_CHANNEL_IN), MAP_OUT (of TAG_CHANNEL_OUT) */
    uint32_t index;
    uint32_t peer, peer_p; /* the subtask at the channel's other end, of how many */
    uint32_t input;        /* the consumer operator's logical input */
    uint32_t len[3];       /* producer uid, consumer uid, side output tag ("" for none) */
};
enum { MAP_IN, MAP_OUT };
/* What wrote a state file's keyed state: its identity section and its _metadata entry's
 * backend, which a restore compares. */
enum {
    CHK_STATE_NONE = 0, /* operator state only */
    CHK_STATE_HASHMAP = 1,
    CHK_STATE_ROCKSDB = 2,             /* full format, as the hashmap's */
    CHK_STATE_ROCKSDB_INCREMENTAL = 3, /* SSTs in shared/, instance files in the state file */
    CHK_STATE_HASHMAP_CHAIN = 4,       /* a chain of full and delta files in shared/ */
};
/* The state file's list of its heap chain files (heap_chain.c). */
#define TAG_HEAP_CHAIN (8ull << 32)

/* heap_chain.c: incremental heap checkpoints. On the task's worker, heap_chain_begin pins
 * op's backend (a delta when the chain allows it), writes the chain into the state file f,
 * lists and holds it for pd; the writer thread then writes the chain's new file
 * (heap_chain_write, then heap_chain_out_free). heap_chains_free: chk_free. */
struct heap_chain;
struct pending;
struct heap_chain_out;
struct weir_keyed_view;
int heap_chain_begin(struct op_inst *op, struct pending *pd, uint64_t id, weir_ckpt_file *f,
                     const char *file_base, uint32_t kg_first, uint32_t kg_last,
                     struct weir_keyed_view **view, struct heap_chain_out **out);
int heap_chain_write(struct heap_chain_out *o, struct weir_keyed_view *v);
const char *heap_chain_error(const struct heap_chain_out *o);
void heap_chain_out_free(struct heap_chain_out *o);
void heap_chains_free(struct task *t);
/* Restore: whether f's keyed state is a heap chain, and reading key groups [a, b] of it
 * (entry e) into be; err gets one line. */
bool heap_chain_file(weir_restore_file *f);
int heap_chain_restore(weir_keyed_backend *be, weir_restore *r, weir_restore_file *f,
                       const struct weir_ckpt_entry *e, uint32_t a, uint32_t b, char *err,
                       size_t errlen);
/* The same on several threads (restore.c): heap_chain_index opens the chain's files and finds
 * where each of key groups [a, b] is in each (their headers and records checked, nothing
 * restored); then heap_chain_restore_kg, from any thread, replays one key group from the
 * full file and the deltas in order (with the thread's scratch, between
 * weir_keyed_backend_restore_parallel_begin and _end). Both put one line in err. */
struct heap_chain_kgs;
struct weir_restore_scratch;
int heap_chain_index(weir_restore *r, weir_restore_file *f, const struct weir_ckpt_entry *e,
                     uint32_t a, uint32_t b, struct heap_chain_kgs **out, char *err, size_t errlen);
int heap_chain_restore_kg(const struct heap_chain_kgs *c, weir_keyed_backend *be, uint32_t kg,
                          struct weir_restore_scratch *sc, char *err, size_t errlen);
void heap_chain_kgs_free(struct heap_chain_kgs *c);

enum pending_state { P_PENDING, P_COMMITTING, P_COMPLETED, P_FAILED };

/* Written by the task's worker (or the coordinator, ack_finished) before the
 * release store of filled; read by the coordinator once acked counts it. */
struct task_ack {
    _Atomic int filled;
    int n;
    /* when the snapshot's files went to the io thread, and its synchronous
     * part: 0 when the coordinator acked for a finished task */
    uint64_t submit_ns, sync_ms;
    uint64_t align_ns; /* written by the worker before filled (chk_note_alignment) */
    /* the io thread's (file_done): bytes of this task's state files, and when the last
     * of them was durable */
    _Atomic uint64_t size_bytes, durable_ns;
    struct weir_ckpt_entry *e; /* one per operator of the task */
    char (*names)[256];
    char *blobs; /* one status byte per operator */
};

struct pending {
    struct runtime *rt; /* for the storage's file_done callback */
    uint64_t id;
    char *savepoint; /* path when this is a savepoint */
    char trigger[33]; /* the REST request's trigger id ("": none, rest_request_take) */
    enum pending_state state;
    weir_ckpt *ck;
    uint64_t start_ns;
    struct task_ack *acks;
    _Atomic int acked;
    bool final;                      /* taken by the control thread after every task finished */
    bool stop;                       /* a stop-with-savepoint's savepoint (stop.c) */
    struct rocks_shared_list shared; /* SSTs referenced (incremental RocksDB) */
    pthread_mutex_t tmp_lock;
    char **tmp_dirs; /* RocksDB checkpoint links, removed once settled */
    size_t n_tmp;
};

struct coordinator {
    weir_storage *storage;
    uint64_t interval_ns, min_pause_ns, timeout_ns;
    int max_concurrent, tolerable, consecutive_failed;
    bool incremental;
    uint64_t last_trigger_ns, last_end_ns;
    struct pending *p[MAX_PENDING]; /* in flight */
    int n_pending;
    uint64_t stop_id; /* a stop's savepoint in flight: no other checkpoint starts */
    /* a snapshot restored by path under execution.savepoint-restore-mode CLAIM (claim.c),
     * deleted after claim_left more completed checkpoints; NULL: none */
    char *claimed;
    int claim_left;
    /* Workers find checkpoint id's pending in slot[id % SLOTS]: release store
     * in pending_new (coordinator.c) <-> acquire load in find_pending
     * (snapshot.c). A pending is freed once it has settled and every task has
     * acked it: after its ack no worker touches it again. Until then it stays
     * in live (control thread only). */
    _Atomic(struct pending *) slot[SLOTS];
    struct pending **live;
    int n_live, cap_live;
    /* The last completed checkpoint's skew over the subtasks that snapshotted (settle;
     * control thread): skew_id 0 while there is none. */
    uint64_t skew_id;
    int skew_n;
    struct weir_subtask_checkpoint skew_slowest, skew_fastest, skew_smallest, skew_largest;
};

/* Test hooks (crash and disk-full injection), NULL in production. Installed
 * once at process start from the environment (test_hooks.c); the checkpoint
 * code calls them at its injection points, never on the per-record path. */
struct chk_test_hooks {
    /* storage opened and the restore done (chk_restore) for a run whose first checkpoint
     * id is next_id: the restored id + 1 or the storage's next id, whichever is larger */
    void (*storage_opened)(weir_storage *s, uint64_t next_id);
    /* checkpoint id (not a savepoint; final: the one at end of input) is about to begin */
    void (*checkpoint_begin)(weir_storage *s, uint64_t id, bool final);
    /* a task's first state file for checkpoint id went to the io thread */
    void (*snapshot_submitted)(uint64_t id);
    /* checkpoint id's _metadata went to the io thread */
    void (*commit_submitted)(uint64_t id);
    /* checkpoint id's _metadata is durable, and no task has been told yet (two-phase-commit
     * sinks have not committed) */
    void (*checkpoint_completed)(uint64_t id);
    /* a source's step loaded trigger's value (loaded) and is about to act on it; stop_id is
     * the runtime's (a stop-with-savepoint's checkpoint id, 0 before one) */
    void (*source_step)(const _Atomic uint64_t *trigger, const _Atomic uint64_t *stop_id,
                        uint64_t loaded);
};
extern const struct chk_test_hooks *chk_test_hooks;

/* barrier.c, from chk_setup: reads the unaligned keys into rt->chk and refuses what they
 * cannot work with; 0 or -EINVAL (err says which key to change) */
int chk_unaligned_setup(struct runtime *rt, int max_concurrent, char *err, size_t errlen);
/* history.c, control thread: a checkpoint began, could not begin, or settled; a restore */
void chk_history_triggered(struct runtime *rt, const struct pending *pd);
void chk_history_failed_start(struct runtime *rt, uint64_t id, bool savepoint, const char *why);
void chk_history_settled(struct runtime *rt, const struct pending *pd, bool completed,
                         uint64_t duration_ms, uint64_t size_bytes, const char *why);
void chk_history_restored(struct runtime *rt, uint64_t id, bool savepoint, const char *path);
/* coordinator.c */
/* The id the next checkpoint or savepoint takes: past the storage's ids and the restored
 * one, wherever the checkpoints are written. */
uint64_t chk_next_id(const struct runtime *rt);
void chk_log(struct runtime *rt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* snapshot.c: one operator's state file for checkpoint id of pending pd: its
 * operator state and, when keyed, its keyed state and timers */
int chk_snapshot_op(struct op_inst *op, struct pending *pd, uint64_t id, bool keyed,
                    struct weir_ckpt_entry *e, char name[256]);
/* snapshot.c: a task's snapshot when barrier id is aligned (or a
 * source sees the trigger, or an unaligned barrier overtakes), on the task's worker; ack:
 * fill its ack slot too (unaligned: chk_channels_write acks once the channel state is in) */
int chk_snapshot_task(struct runtime *rt, struct task *t, uint64_t id, bool ack);
/* snapshot.c: fills t's ack slot of pd (once) */
void chk_task_ack(struct pending *pd, struct task *t);
/* snapshot.c: checkpoint id's pending, NULL when it is no longer in flight */
struct pending *chk_find_pending(struct runtime *rt, uint64_t id);
/* op_state.c: operator list state (SPLIT, UNION) on restore, its file comment */
struct chk_items {
    struct weir_state_item *v; /* each data malloc'd */
    size_t n, cap;
};
/* Every item of uid's entries in m: old subtasks in order, each one's items as written. */
int chk_items_load(weir_restore *r, const struct weir_ckpt_meta *m, const char *uid,
                   struct chk_items *out);
void chk_items_free(struct chk_items *l);
/* Subtask's share of all[n] at parallelism p into mine (room for n); returns how many. */
size_t chk_items_deal(const struct weir_state_item *all, size_t n, enum weir_state_mode mode,
                      uint32_t p, uint32_t subtask, struct weir_state_item *mine);
/* snapshot.c: a state file's TAG_IDENTITY section, as entry e says it */
int chk_identity_write(weir_ckpt_file *f, const struct weir_ckpt_entry *e, uint64_t id);
/* channel_state.c (its file comment has the format) */
struct writer;
int chan_buf_append(struct chan_buf *b, const void *p, size_t n);
void chan_buf_free(struct chan_buf *b);
/* Appends the data records of buf[off, used) to b, up to a barrier of stop_id (*stopped). */
int chk_channel_append(struct chan_buf *b, const unsigned char *buf, uint32_t off, uint32_t used,
                       uint64_t stop_id, bool *stopped);
/* Input c's channel state up to ring position pos: its restored records not replayed yet,
 * then the ring's buffers from the read position, read in place. */
int chk_capture_input(struct task *t, struct in_chan *c, uint32_t pos);
/* Whether barrier id is in c's published ring buffers (from the read position): in the k-th. */
bool chk_find_inband_barrier(struct in_chan *c, uint64_t id, uint32_t *k);
/* What writer w holds unpublished (its reserved buffer, its overflow) into w->state. */
int chk_capture_output(struct writer *w);
void chk_channels_free(struct task *t);
/* Writes t's channel-state file for checkpoint id and acks the task's part; frees it. */
int chk_channels_write(struct task *t, uint64_t id);
#define CHK_CHANNELS_SUFFIX "#channels"
/* The entry uid of t's channel state, "<head uid>#channels" (NULL: out of memory). */
const char *chk_channels_uid(struct task *t);
bool chk_is_channels_uid(const char *uid);
/* uid is a channel-state entry of one of the job's operators */
bool chk_channels_uid_known(const struct runtime *rt, const char *uid);
/* restore.c calls it after the operators: the records in flight into the in_chan.replay of
 * the tasks they now belong to, re-partitioned when the parallelism changed (the file
 * comment of channel_state.c), or into task.op_replay of an operator chained now. -EINVAL
 * when an edge they crossed is gone. */
int chk_restore_channels(struct runtime *rt, weir_restore *r, const struct weir_ckpt_meta *m,
                         char *err, size_t errlen);
/* snapshot.c: checkpoint id is still pending (not settled, its slot not reused) */
bool chk_pending_live(struct runtime *rt, uint64_t id);

#endif
