/*
 * A full RocksDB checkpoint (state.backend.incremental: false) or savepoint serializes its
 * keyed state off the worker (snapshot.c: a RocksDB snapshot pinned on the worker, written
 * on a writer thread): the worker's stall (the synchronous part, weir_run_stats sync_ms_*)
 * stays far below what writing the state takes (the checkpoint's duration). Before, every
 * entry was serialized on the worker, and the stall was most of the checkpoint. Bounds are
 * generous (a quarter) for a loaded machine. And what the worker writes after the barrier,
 * while the snapshot is written, stays out of it: a checkpoint and a savepoint taken while
 * every key is updated restore, for every key, exactly the records of one prefix of the input.
 */
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <weir/config.h>
#include <weir/weir.h>

#include "weir_test.h"

#define KEYS 80000

struct keep {
    weir_value_state *v;
};

struct val {
    uint64_t key, n;
    unsigned char pad[240]; /* about 20 MiB of state at KEYS */
};

static int keep_open(weir_ctx *ctx, void *s, void *arg)
{
    ((struct keep *)s)->v =
        weir_value_state_get(weir_ctx_state(ctx), "v", sizeof(struct val), NULL);
    return ((struct keep *)s)->v ? 0 : -ENOMEM;
}

static int keep_process(weir_ctx *ctx, void *s, int input, const weir_rec *in, weir_emit *out)
{
    const struct val *got = weir_value_get(((struct keep *)s)->v);
    struct val v = {.key = wt_datagen_key(in), .n = got ? got->n + 1 : 1};
    memset(v.pad, (int)(v.n & 0xff), sizeof v.pad);
    return weir_value_put(((struct keep *)s)->v, &v);
}

static const struct weir_operator_ops keep_ops = {
    .kind = "keep", .state_size = sizeof(struct keep), .open = keep_open, .process = keep_process};

static uint64_t max_duration_ms, completed;

static void on_checkpoint(void *arg, const struct weir_checkpoint_event *ev)
{
    if (!ev->completed)
        return;
    completed++;
    if (ev->duration_ms > max_duration_ms)
        max_duration_ms = ev->duration_ms;
}

static void full_rocksdb_checkpoint_does_not_stall_the_worker(void **state)
{
    max_duration_ms = completed = 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "state.checkpoints.dir=%s", wt_tmp_dir("rocks-full-async"));
    weir_job *job = weir_job_new("rocks-full-async");
    /* every key written three times, paced over about 3 s: checkpoints of the whole state */
    struct weir_datagen_opts o = {
        .records = 3 * KEYS, .keys = KEYS, .record_size = 24, .rate = KEYS};
    weir_stream *s = weir_key_by(weir_source_datagen(job, "gen", &o), wt_datagen_key);
    weir_sink_blackhole(weir_keyed_transform(s, "keep", &keep_ops, NULL, NULL), "sink");
    struct weir_run_stats st;
    wt_run_ok(job, NULL,
              &(struct wt_run){.backend = "rocksdb",
                               .defs = WT_DEFS(dir, "execution.checkpointing.interval=300ms",
                                               "state.backend.incremental=false",
                                               "restart-strategy.type=none"),
                               .on_checkpoint = on_checkpoint},
              &st);
    weir_job_free(job);
    print_message("%" PRIu64 " checkpoints, the longest %" PRIu64 " ms; keyed stall over %" PRIu64
                  " snapshots: p50 %.3f p99 %.3f max %.3f ms\n",
                  completed, max_duration_ms, st.snapshots, st.sync_ms_p50, st.sync_ms_p99,
                  st.sync_ms_max);
    assert_true(completed >= 2);
    assert_true(st.snapshots >= 2);
    /* the largest state took max_duration_ms to write; the worker stalled for a fraction */
    assert_true(st.sync_ms_max * 4 < (double)max_duration_ms);
}

/* ---- consistency: a prefix of the input, whatever the worker wrote meanwhile ------------- */

#define CKEYS 20000

struct seen {
    uint64_t n, last_seq; /* records of the key, the seq of its last one */
};

static weir_value_state *seen_state(weir_ctx *ctx)
{
    return weir_value_state_get(weir_ctx_state(ctx), "seen", sizeof(struct seen), NULL);
}

/* Counts the key's records. */
static int seen_count(weir_ctx *ctx, void *s, int input, const weir_rec *in, weir_emit *out)
{
    weir_value_state *v = seen_state(ctx);
    if (!v)
        return -ENOMEM;
    const struct weir_datagen_rec *r = (const void *)in->data;
    const struct seen *got = weir_value_get(v);
    struct seen n = {.n = got ? got->n + 1 : 1, .last_seq = r->seq};
    return weir_value_put(v, &n);
}

/* A restored job, one record per key: emits what the state holds (seq: the count, value:
 * the last seq), untouched. */
static int seen_read(weir_ctx *ctx, void *s, int input, const weir_rec *in, weir_emit *out)
{
    weir_value_state *v = seen_state(ctx);
    if (!v)
        return -ENOMEM;
    const struct weir_datagen_rec *r = (const void *)in->data;
    const struct seen *got = weir_value_get(v);
    struct weir_datagen_rec o = {
        .key = r->key, .seq = got ? got->n : 0, .value = got ? got->last_seq : UINT64_MAX};
    return weir_emit_copy(out, in->ts, &o, sizeof o);
}

static const struct weir_operator_ops seen_count_ops = {.kind = "seen", .process = seen_count};
static const struct weir_operator_ops seen_read_ops = {.kind = "seen", .process = seen_read};

#define MAX_IDS 256
static struct {
    uint64_t id[MAX_IDS];
    bool savepoint[MAX_IDS], final[MAX_IDS];
    int n;
} done;

static void on_done(void *arg, const struct weir_checkpoint_event *ev)
{
    if (ev->completed && done.n < MAX_IDS) {
        done.id[done.n] = ev->id;
        done.savepoint[done.n] = ev->savepoint;
        done.final[done.n++] = ev->final;
    }
}

static void *savepoint_later(void *arg)
{
    usleep(700 * 1000);
    weir_job_savepoint(arg);
    return NULL;
}

/* Restores from path into a job that reads every key once and checks that the state is the
 * input's first S records for one S: each key k holds the records seq < S with seq % CKEYS
 * == k. Returns S. */
static uint64_t check_prefix(const char *path)
{
    wt_collect_reset();
    weir_job *job = weir_job_new("rocks-full-prefix");
    struct weir_datagen_opts o = {.records = CKEYS, .keys = CKEYS, .record_size = 24};
    weir_stream *s = weir_key_by(weir_source_datagen(job, "gen-read", &o), wt_datagen_key);
    wt_collect(weir_keyed_transform(s, "seen", &seen_read_ops, NULL, NULL), "out", 0);
    wt_run_ok(job, NULL,
              &(struct wt_run){
                  .backend = "rocksdb", .restore_from = path, .allow_non_restored_state = true},
              NULL);
    weir_job_free(job);
    assert_int_equal(wt_collected(0), CKEYS);
    uint64_t cut = 0;
    for (size_t i = 0; i < CKEYS; i++) {
        const struct weir_datagen_rec *r = (const void *)wt_out(0, i)->data;
        if (r->seq && r->value + 1 > cut)
            cut = r->value + 1;
    }
    for (size_t i = 0; i < CKEYS; i++) {
        const struct weir_datagen_rec *r = (const void *)wt_out(0, i)->data;
        uint64_t want = cut > r->key ? (cut - 1 - r->key) / CKEYS + 1 : 0;
        if (r->seq != want || (want && r->value != r->key + (want - 1) * CKEYS))
            fail_msg("%s: key %" PRIu64 " holds %" PRIu64 " records, the last seq %" PRIu64
                     "; the prefix of %" PRIu64 " records gives it %" PRIu64,
                     path, r->key, r->seq, r->value, cut, want);
    }
    return cut;
}

static void full_rocksdb_snapshots_hold_a_prefix_of_the_input(void **state)
{
    memset(&done, 0, sizeof done);
    const char *dir = wt_tmp_dir("rocks-full-prefix");
    weir_config *cfg = wt_config_new(
        WT_DEFS("execution.checkpointing.interval=200ms", "state.backend.incremental=false",
                "state.backend=rocksdb", "restart-strategy.type=none"));
    wt_config_set(cfg, "state.checkpoints.dir=%s", dir);
    wt_config_set(cfg, "state.savepoints.dir=%s/sp", dir);
    wt_config_set(cfg, "execution.checkpointing.num-retained=%d", MAX_IDS);
    wt_config_set(cfg, "state.backend.rocksdb.localdir=%s", wt_tmp_dir("rocks-full-prefix-l"));
    wt_config_resolve(cfg);
    weir_job *job = weir_job_new("rocks-full-prefix");
    /* every key about 8 times over about 2 s */
    struct weir_datagen_opts o = {
        .records = 8 * CKEYS, .keys = CKEYS, .record_size = 24, .rate = 4 * CKEYS};
    weir_stream *s = weir_key_by(weir_source_datagen(job, "gen", &o), wt_datagen_key);
    weir_sink_blackhole(weir_keyed_transform(s, "seen", &seen_count_ops, NULL, NULL), "sink");
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, savepoint_later, job), 0);
    wt_run_ok(job, cfg, &(struct wt_run){.on_checkpoint = on_done}, NULL);
    pthread_join(t, NULL);
    weir_job_free(job);
    weir_config_free(cfg);
    int checked = 0, savepoints = 0;
    for (int i = 0; i < done.n; i++) {
        if (done.final[i] || (!done.savepoint[i] && checked >= 4))
            continue; /* four checkpoints and the savepoint are enough */
        char path[4200];
        struct stat sb;
        if (done.savepoint[i]) {
            snprintf(path, sizeof path, "%s/sp/savepoint-rocks-full-prefix-%" PRIu64, dir,
                     done.id[i]);
            if (stat(path, &sb) != 0)
                snprintf(path, sizeof path,
                         "%s/sp/rocks-full-prefix/savepoint-rocks-full-prefix-%" PRIu64, dir,
                         done.id[i]);
        } else {
            snprintf(path, sizeof path, "%s/rocks-full-prefix/chk-%" PRIu64, dir, done.id[i]);
        }
        if (stat(path, &sb) != 0) {
            print_message("%s: not there\n", path);
            continue;
        }
        uint64_t cut = check_prefix(path);
        print_message("%s: the first %" PRIu64 " records\n", path, cut);
        if (cut > 0 && cut < 8 * CKEYS) {
            checked++;
            savepoints += done.savepoint[i];
        }
    }
    assert_true(checked >= 2);
    assert_int_equal(savepoints, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_rocksdb_checkpoint_does_not_stall_the_worker),
        cmocka_unit_test(full_rocksdb_snapshots_hold_a_prefix_of_the_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
