/*
 * Unaligned checkpoints restored at another parallelism (channel_state.c): a backpressured
 * keyed job is cancelled with records in flight on its key_by channels, and restored at
 * another parallelism of its keyed operator (2 -> 3, 3 -> 1), on both state backends. Every
 * record in flight reaches the subtask that now owns its key group, once, in the order its
 * producer sent it: each key's sequence numbers arrive strictly increasing across the
 * restore (a duplicate or a reordering breaks that) and its last sum is its total (a lost
 * record makes it smaller).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <weir/config.h>
#include <weir/keygroup.h>
#include <weir/state.h>
#include <weir/storage.h>
#include <weir/weir.h>

#include "checkpoint.h"

#include "weir_test.h"

#define KEYS    500u
#define RECORDS 80000u

/* ---- the job: datagen (1) -> key_by -> "sum" (p) -> "best" (chained) ---------------------- */

struct acc {
    uint64_t sum;
    uint64_t next_seq; /* the least sequence number the key may see next */
};

static atomic_bool slow;        /* the first run: "sum" is slow, the channels stay full */
static atomic_ulong disordered; /* records that came twice or out of order */

/* Sums seq per key and checks that seqs arrive in order; slow in the first run (1 ms every
 * 5 records: RECORDS take seconds at parallelism 3), so that the source is backpressured
 * and barriers overtake full rings. */
static int sum_in_order(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    static _Thread_local unsigned n;
    if (atomic_load(&slow) && ++n % 5 == 0)
        usleep(1000);
    const struct weir_datagen_rec *r = (const void *)in->data;
    weir_value_state *v =
        weir_value_state_get(weir_ctx_state(ctx), "acc", sizeof(struct acc), NULL);
    if (!v)
        return -ENOMEM;
    const struct acc *old = weir_value_get(v);
    struct acc a = old ? *old : (struct acc){0};
    if (r->seq < a.next_seq)
        atomic_fetch_add(&disordered, 1);
    a.sum += r->seq;
    a.next_seq = r->seq + 1;
    int rc = weir_value_put(v, &a);
    if (rc < 0)
        return rc;
    struct weir_datagen_rec o = {.key = r->key, .value = a.sum};
    return weir_emit_copy(out, in->ts, &o, sizeof o);
}

static const struct weir_operator_ops sum_ops = {.kind = "sum-in-order", .process = sum_in_order};

/* The first run stops at its second completed checkpoint: its input is far from over then. */
static int completed;

static void stop_at_second_checkpoint(void *arg, const struct weir_checkpoint_event *ev)
{
    if (ev->completed && !ev->final && ++completed == 2)
        weir_job_cancel(arg);
}

static weir_config *config(const char *dir, const char *backend)
{
    weir_config *cfg = wt_config_new(WT_DEFS(
        "execution.checkpointing.interval=100ms", "execution.checkpointing.unaligned.enabled=true",
        "execution.checkpointing.tolerable-failed-checkpoints=1000",
        "network.buffers-per-channel=8", "memory.segment-size=4kb", "restart-strategy.type=none"));
    wt_config_set(cfg, "state.checkpoints.dir=%s", dir);
    wt_config_set(cfg, "state.backend=%s", backend);
    if (!strcmp(backend, "rocksdb"))
        wt_config_set(cfg, "state.backend.rocksdb.localdir=%s/rocks", dir);
    wt_config_resolve(cfg);
    return cfg;
}

static weir_job *job_new(void)
{
    weir_job *job = weir_job_new("rescale");
    struct weir_datagen_opts o = {.records = RECORDS, .keys = KEYS, .record_size = 24};
    weir_stream *s = weir_set_parallelism(weir_source_datagen(job, "gen", &o), 1);
    s = weir_keyed_transform(weir_key_by(s, wt_datagen_key), "sum", &sum_ops, NULL, NULL);
    weir_sink(s, "best", &wt_best_ops, NULL);
    return job;
}

/* The first run (restore false) is slow and stops at its second checkpoint; a restored one
 * runs at full speed to the end of the input. */
static void run(const char *dir, const char *backend, int p, bool restore)
{
    weir_config *cfg = config(dir, backend);
    weir_job *job = job_new();
    atomic_store(&slow, !restore);
    completed = 0;
    const struct wt_run ro = {.parallelism = p,
                              .restore_from = restore ? "latest" : NULL,
                              .on_checkpoint = restore ? NULL : stop_at_second_checkpoint,
                              .on_checkpoint_arg = job};
    struct weir_run_stats st;
    wt_run_ok(job, cfg, &ro, &st);
    if (restore)
        assert_true(st.restored_checkpoint > 0);
    else if (!st.cancelled)
        fail_msg("the first run at parallelism %d ended before its second checkpoint", p);
    weir_job_free(job);
    weir_config_free(cfg);
}

/* Bytes of records in flight on gen -> sum in the latest checkpoint under dir: what sum's
 * rings held ahead of its barriers and what gen's writers held. */
static uint64_t in_flight_bytes(const char *dir, const char *backend)
{
    weir_config *cfg = config(dir, backend);
    char err[512];
    weir_storage *stg;
    if (weir_storage_open_config(cfg, "rescale", &stg, err, sizeof err) < 0)
        fail_msg("%s", err);
    weir_restore *r;
    assert_int_equal(weir_restore_open_latest(stg, 0, &r), 0);
    const struct weir_ckpt_meta *m = weir_restore_meta(r);
    uint64_t bytes = 0;
    for (size_t i = 0; i < m->entry_count; i++) {
        const struct weir_ckpt_entry *e = &m->entries[i];
        bool sum = !strcmp(e->operator_uid, "sum#channels");
        if ((!sum && strcmp(e->operator_uid, "gen#channels")) || !e->file || !*e->file)
            continue;
        weir_restore_file *f;
        assert_int_equal(weir_restore_file_open(r, e->file, &f), 0);
        for (size_t sec = 0; sec < weir_restore_file_section_count(f); sec++) {
            uint64_t tag, len;
            assert_int_equal(weir_restore_file_section(f, sec, &tag, &len), 0);
            if ((tag & ~0xffffffffull) == (sum ? TAG_CHANNEL_IN : TAG_CHANNEL_OUT))
                bytes += len;
        }
        weir_restore_file_close(f);
    }
    weir_restore_close(r);
    weir_storage_close(stg);
    weir_config_free(cfg);
    return bytes;
}

/* Checkpoints at parallelism from with records in flight, restores at to and runs to the
 * end of the input: every key's seqs in order, once, and its last sum its total. */
static void rescale(const char *backend, int from, int to)
{
    char tag[64];
    snprintf(tag, sizeof tag, "unaligned-rescale-%s-%d-%d", backend, from, to);
    const char *dir = wt_tmp_dir(tag);
    wt_best_reset(KEYS);
    atomic_store(&disordered, 0);
    run(dir, backend, from, false);
    uint64_t bytes = in_flight_bytes(dir, backend);
    fprintf(stderr, "%s %d -> %d: %" PRIu64 " bytes in flight on gen -> sum\n", backend, from, to,
            bytes);
    if (bytes == 0)
        fail_msg("the checkpoint holds no records in flight on gen -> sum: nothing was rescaled");
    run(dir, backend, to, true);
    assert_int_equal(atomic_load(&disordered), 0);
    for (uint64_t k = 0; k < KEYS; k++) {
        uint64_t want = 0;
        for (uint64_t seq = k; seq < RECORDS; seq += KEYS)
            want += seq;
        if (wt_best(k) != want)
            fail_msg("%s, parallelism %d -> %d: key %" PRIu64 ": sum %" PRIu64 ", want %" PRIu64,
                     backend, from, to, k, wt_best(k), want);
    }
}

static void hashmap_scale_out_2_to_3(void **state)
{
    rescale("hashmap", 2, 3);
}

static void hashmap_scale_in_3_to_1(void **state)
{
    rescale("hashmap", 3, 1);
}

static void rocksdb_scale_out_2_to_3(void **state)
{
    rescale("rocksdb", 2, 3);
}

static void rocksdb_scale_in_3_to_1(void **state)
{
    rescale("rocksdb", 3, 1);
}

/* ---- kill -9, twice, each restore at another parallelism --------------------------------- */

/* The newest checkpoint id with a _metadata under dir's job "rescale" (0: none). */
static uint64_t newest_complete(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/rescale", dir);
    DIR *d = opendir(path);
    uint64_t best_id = 0;
    for (struct dirent *de; d && (de = readdir(d)) != NULL;) {
        unsigned long long id;
        if (sscanf(de->d_name, "chk-%llu", &id) != 1 || id <= best_id)
            continue;
        snprintf(path, sizeof path, "%s/rescale/%s/_metadata", dir, de->d_name);
        if (access(path, F_OK) == 0)
            best_id = id;
    }
    if (d)
        closedir(d);
    return best_id;
}

/* In a child process, the slow job at parallelism p (restored from the latest checkpoint
 * when there is one), killed with SIGKILL once two more checkpoints have completed. */
static void run_and_kill(const char *dir, const char *backend, int p)
{
    uint64_t before = newest_complete(dir);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* slow, until killed; no cmocka here: a failure would go on in the child */
        weir_config *cfg = config(dir, backend);
        atomic_store(&slow, true);
        const struct wt_run ro = {.parallelism = p, .restore_from = before ? "latest" : NULL};
        char err[1024] = "";
        if (wt_run(job_new(), cfg, &ro, NULL, err, sizeof err) != 0)
            fprintf(stderr, "the run at parallelism %d failed: %s\n", p, err);
        _exit(3); /* over before the kill: the test would prove nothing */
    }
    int st;
    /* generous: checkpoints every 100 ms take seconds on a loaded machine */
    for (int waited_ms = 0; newest_complete(dir) < before + 2; waited_ms += 20) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            fail_msg("the run at parallelism %d exited (status %d) before its second checkpoint", p,
                     st);
        if (waited_ms > 120000) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            fail_msg("no two checkpoints completed in 120 s at parallelism %d", p);
        }
        usleep(20000);
    }
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

/* Killed at parallelism 2, restored at 3 and killed again, restored at 1 and run to the end:
 * every key's seqs once and in order, its last sum its total. */
static void killed_twice_restored_at_other_parallelisms(const char *backend)
{
#if defined(__SANITIZE_THREAD__)
    /* The child of run_and_kill starts the job's threads after a fork of this threaded
     * process, which ThreadSanitizer refuses; the plain and ASan builds run this kill test. */
    fprintf(stderr, "skip: ThreadSanitizer does not start threads in a forked child\n");
    skip();
#endif
    char tag[64];
    snprintf(tag, sizeof tag, "unaligned-rescale-kill-%s", backend);
    const char *dir = wt_tmp_dir(tag);
    const int ps[] = {2, 3};
    for (int i = 0; i < 2; i++) {
        run_and_kill(dir, backend, ps[i]);
        uint64_t bytes = in_flight_bytes(dir, backend);
        fprintf(stderr, "%s: killed at parallelism %d, %" PRIu64 " bytes in flight\n", backend,
                ps[i], bytes);
        if (bytes == 0)
            fail_msg("the checkpoint holds no records in flight on gen -> sum");
    }
    wt_best_reset(KEYS);
    atomic_store(&disordered, 0);
    run(dir, backend, 1, true);
    assert_int_equal(atomic_load(&disordered), 0);
    for (uint64_t k = 0; k < KEYS; k++) {
        uint64_t want = 0;
        for (uint64_t seq = k; seq < RECORDS; seq += KEYS)
            want += seq;
        if (wt_best(k) != want)
            fail_msg("%s, killed at 2 and 3, restored at 1: key %" PRIu64 ": sum %" PRIu64
                     ", want %" PRIu64,
                     backend, k, wt_best(k), want);
    }
}

static void hashmap_killed_twice_restored_at_other_parallelisms(void **state)
{
    killed_twice_restored_at_other_parallelisms("hashmap");
}

static void rocksdb_killed_twice_restored_at_other_parallelisms(void **state)
{
    killed_twice_restored_at_other_parallelisms("rocksdb");
}

/* ---- a checkpoint written by hand: what one producer sent one consumer stays in order ---- */

#define ORDER_KEYS     16u
#define ORDER_FIRST    1000000u /* seqs of the records in flight; the source's are below */
#define ORDER_OLD_P    2u
#define ORDER_NEW_P    3
#define ORDER_MAX_P    128u
#define ORDER_PER_PART 2u /* records per key in the ring, and as many in the writer */

static void put_str(struct weir_snapshot_out *o, const char *s)
{
    assert_int_equal(o->write(o, s, strlen(s)), 0);
}

/* One map line of channel index of edge gen -> sink. */
static void put_line(struct weir_snapshot_out *o, uint32_t dir, uint32_t index, uint32_t peer,
                     uint32_t peer_p)
{
    struct map_line l = {.dir = dir, .index = index, .peer = peer, .peer_p = peer_p};
    l.len[0] = 3; /* "gen" */
    l.len[1] = 4; /* "sink" */
    assert_int_equal(o->write(o, &l, sizeof l), 0);
    put_str(o, "gen");
    put_str(o, "sink");
}

/* The records of part (0: in the ring, 1: in the writer) of every key that old sink subtask
 * cons owns: seq ORDER_FIRST + key * 10 + part * ORDER_PER_PART + i. */
static void put_records(struct weir_snapshot_out *o, uint32_t cons, uint32_t part)
{
    for (uint64_t k = 0; k < ORDER_KEYS; k++) {
        if (weir_key_group_subtask(weir_key_group_of(k, ORDER_MAX_P), ORDER_MAX_P, ORDER_OLD_P) !=
            cons)
            continue;
        for (uint32_t i = 0; i < ORDER_PER_PART; i++) {
            _Alignas(8) unsigned char b[WEIR_REC_HEADER + sizeof(struct weir_datagen_rec)];
            weir_rec *r = (weir_rec *)b;
            *r = (weir_rec){.len = sizeof(struct weir_datagen_rec), .kind = WEIR_REC_DATA};
            struct weir_datagen_rec d = {.seq = ORDER_FIRST + k * 10 + part * ORDER_PER_PART + i,
                                         .key = k};
            memcpy(r->data, &d, sizeof d);
            assert_int_equal(o->write(o, b, weir_rec_size(r->len)), 0);
        }
    }
}

/* Checkpoint 9 of job "order", as gen (1) -> key_by -> sink (2) would write it unaligned:
 * each sink subtask's ring held ORDER_PER_PART records of each key it owns, and gen's
 * writer to it held ORDER_PER_PART more of each (sent after them). */
static void write_order_checkpoint(weir_config *cfg)
{
    char err[512], names[3][256];
    weir_storage *st;
    if (weir_storage_open_config(cfg, "order", &st, err, sizeof err) < 0)
        fail_msg("%s", err);
    weir_ckpt *ck;
    assert_int_equal(weir_ckpt_begin(st, 9, NULL, &ck), 0);
    struct weir_ckpt_entry e[3];
    for (uint32_t i = 0; i < 3; i++) {
        bool sink = i < ORDER_OLD_P;
        e[i] = (struct weir_ckpt_entry){.operator_uid = sink ? "sink#channels" : "gen#channels",
                                        .subtask = sink ? i : 0,
                                        .parallelism = sink ? ORDER_OLD_P : 1,
                                        .kg_first = WEIR_KG_NONE,
                                        .kg_last = WEIR_KG_NONE};
        assert_int_equal(
            weir_ckpt_file_name(names[i], sizeof names[i], e[i].operator_uid, e[i].subtask), 0);
        weir_ckpt_file *f;
        assert_int_equal(weir_ckpt_file_open(ck, names[i], &f), 0);
        assert_int_equal(chk_identity_write(f, &e[i], 9), 0);
        struct weir_snapshot_out *o;
        uint32_t n = sink ? 1 : ORDER_OLD_P;
        assert_int_equal(weir_ckpt_file_section_begin(f, TAG_CHANNEL_MAP), 0);
        o = weir_ckpt_file_out(f);
        assert_int_equal(o->write(o, &n, sizeof n), 0);
        if (sink) {
            put_line(o, MAP_IN, 0, 0, 1);
            assert_int_equal(weir_ckpt_file_section_begin(f, TAG_CHANNEL_IN | 0), 0);
            put_records(weir_ckpt_file_out(f), i, 0);
        } else {
            for (uint32_t k = 0; k < ORDER_OLD_P; k++)
                put_line(o, MAP_OUT, k, k, ORDER_OLD_P);
            for (uint32_t k = 0; k < ORDER_OLD_P; k++) {
                assert_int_equal(weir_ckpt_file_section_begin(f, TAG_CHANNEL_OUT | k), 0);
                put_records(weir_ckpt_file_out(f), k, 1);
            }
        }
        e[i].file = names[i];
        assert_int_equal(weir_ckpt_file_submit(f), 0);
    }
    struct weir_ckpt_meta m = {.max_parallelism = ORDER_MAX_P, .entry_count = 3, .entries = e};
    assert_int_equal(weir_ckpt_commit(ck, &m), 0);
    assert_int_equal(weir_ckpt_wait(ck, 10000), 0);
    weir_ckpt_release(ck);
    weir_storage_close(st);
}

/* Restored at parallelism 3, each key's records in flight reach the sink subtask that owns
 * its key group now, all of them, the ring's before the writer's, each part in order. */
static void records_in_flight_keep_their_order_at_another_parallelism(void **state)
{
    weir_config *cfg = wt_config_new(NULL);
    wt_config_set(cfg, "state.checkpoints.dir=%s", wt_tmp_dir("unaligned-rescale-order"));
    wt_config_resolve(cfg);
    write_order_checkpoint(cfg);
    wt_collect_reset();
    weir_job *job = weir_job_new("order");
    struct weir_datagen_opts o = {.records = 100, .keys = 4, .record_size = 24};
    weir_stream *s = weir_set_parallelism(weir_source_datagen(job, "gen", &o), 1);
    wt_collect(weir_key_by(s, wt_datagen_key), "sink", 0);
    struct weir_run_stats st;
    wt_run_ok(job, cfg, &(struct wt_run){.restore_from = "latest", .parallelism = ORDER_NEW_P},
              &st);
    weir_job_free(job);
    weir_config_free(cfg);
    assert_int_equal(st.restored_checkpoint, 9);
    uint64_t next[ORDER_KEYS] = {0};
    size_t replayed = 0;
    for (size_t i = 0; i < wt_collected(0); i++) {
        const struct wt_out *out = wt_out(0, i);
        struct weir_datagen_rec d;
        memcpy(&d, out->data, sizeof d);
        if (d.seq < ORDER_FIRST)
            continue; /* the source's own, from its start (it has no state here) */
        replayed++;
        uint32_t owner =
            weir_key_group_subtask(weir_key_group_of(d.key, ORDER_MAX_P), ORDER_MAX_P, ORDER_NEW_P);
        if (out->subtask != (int)owner)
            fail_msg("key %" PRIu64 " (seq %" PRIu64 ") reached subtask %d, not its owner %u",
                     d.key, d.seq, out->subtask, owner);
        uint64_t want = ORDER_FIRST + d.key * 10 + next[d.key]++;
        if (d.seq != want)
            fail_msg("key %" PRIu64 ": seq %" PRIu64 " where %" PRIu64 " was due", d.key, d.seq,
                     want);
    }
    assert_int_equal(replayed, ORDER_KEYS * 2 * ORDER_PER_PART);
}

/* ---- an edge the new parallelism chains: its records in flight go into the chain -------- */

#define CHAINED_N 5u /* records per old channel in the ring, and as many in the writer */

/* seq ORDER_FIRST + cons * 100 + part * CHAINED_N + i: what gen sent old sink subtask cons */
static void put_channel(struct weir_snapshot_out *o, uint32_t cons, uint32_t part)
{
    for (uint32_t i = 0; i < CHAINED_N; i++) {
        _Alignas(8) unsigned char b[WEIR_REC_HEADER + sizeof(struct weir_datagen_rec)];
        weir_rec *r = (weir_rec *)b;
        *r = (weir_rec){.len = sizeof(struct weir_datagen_rec), .kind = WEIR_REC_DATA};
        struct weir_datagen_rec d = {.seq = ORDER_FIRST + cons * 100 + part * CHAINED_N + i};
        memcpy(r->data, &d, sizeof d);
        assert_int_equal(o->write(o, b, weir_rec_size(r->len)), 0);
    }
}

/* Checkpoint 4 of job, as gen (1) -> sink (2) would write it unaligned: the edge held
 * CHAINED_N records in each sink subtask's ring and CHAINED_N more in gen's writer to it. */
static void write_two_channels_checkpoint(weir_config *cfg, const char *job)
{
    char err[512], names[3][256];
    weir_storage *st;
    if (weir_storage_open_config(cfg, job, &st, err, sizeof err) < 0)
        fail_msg("%s", err);
    weir_ckpt *ck;
    assert_int_equal(weir_ckpt_begin(st, 4, NULL, &ck), 0);
    struct weir_ckpt_entry e[3];
    for (uint32_t i = 0; i < 3; i++) {
        bool sink = i < 2;
        e[i] = (struct weir_ckpt_entry){.operator_uid = sink ? "sink#channels" : "gen#channels",
                                        .subtask = sink ? i : 0,
                                        .parallelism = sink ? 2 : 1,
                                        .kg_first = WEIR_KG_NONE,
                                        .kg_last = WEIR_KG_NONE};
        assert_int_equal(
            weir_ckpt_file_name(names[i], sizeof names[i], e[i].operator_uid, e[i].subtask), 0);
        weir_ckpt_file *f;
        assert_int_equal(weir_ckpt_file_open(ck, names[i], &f), 0);
        assert_int_equal(chk_identity_write(f, &e[i], 4), 0);
        uint32_t n = sink ? 1 : 2;
        assert_int_equal(weir_ckpt_file_section_begin(f, TAG_CHANNEL_MAP), 0);
        struct weir_snapshot_out *o = weir_ckpt_file_out(f);
        assert_int_equal(o->write(o, &n, sizeof n), 0);
        if (sink) {
            put_line(o, MAP_IN, 0, 0, 1);
            assert_int_equal(weir_ckpt_file_section_begin(f, TAG_CHANNEL_IN | 0), 0);
            put_channel(weir_ckpt_file_out(f), i, 0);
        } else {
            for (uint32_t k = 0; k < 2; k++)
                put_line(o, MAP_OUT, k, k, 2);
            for (uint32_t k = 0; k < 2; k++) {
                assert_int_equal(weir_ckpt_file_section_begin(f, TAG_CHANNEL_OUT | k), 0);
                put_channel(weir_ckpt_file_out(f), k, 1);
            }
        }
        e[i].file = names[i];
        assert_int_equal(weir_ckpt_file_submit(f), 0);
    }
    struct weir_ckpt_meta m = {.max_parallelism = ORDER_MAX_P, .entry_count = 3, .entries = e};
    assert_int_equal(weir_ckpt_commit(ck, &m), 0);
    assert_int_equal(weir_ckpt_wait(ck, 10000), 0);
    weir_ckpt_release(ck);
    weir_storage_close(st);
}

/* Restored at parallelism 1, gen and sink are one chain: the records that were in flight
 * between them reach the sink first, each old channel's in the order gen sent them. */
static void records_in_flight_into_an_operator_now_chained_come_first(void **state)
{
    weir_config *cfg = wt_config_new(NULL);
    wt_config_set(cfg, "state.checkpoints.dir=%s", wt_tmp_dir("unaligned-rescale-chained"));
    wt_config_resolve(cfg);
    write_two_channels_checkpoint(cfg, "chained"); /* unspecified edge: rebalance at 1 -> 2 */
    wt_collect_reset();
    weir_job *job = weir_job_new("chained");
    struct weir_datagen_opts o = {.records = 100, .keys = 4, .record_size = 24};
    wt_collect(weir_set_parallelism(weir_source_datagen(job, "gen", &o), 1), "sink", 0);
    struct weir_run_stats st;
    wt_run_ok(job, cfg, &(struct wt_run){.restore_from = "latest", .parallelism = 1}, &st);
    weir_job_free(job);
    weir_config_free(cfg);
    assert_int_equal(st.restored_checkpoint, 4);
    const size_t replayed = 2 * 2 * CHAINED_N;
    assert_int_equal(wt_collected(0), 100 + replayed);
    uint64_t next[2] = {0, 0};
    for (size_t i = 0; i < wt_collected(0); i++) {
        struct weir_datagen_rec d;
        memcpy(&d, wt_out(0, i)->data, sizeof d);
        if (i >= replayed) { /* then the source's own, from its start (it has no state here) */
            assert_int_equal(d.seq, i - replayed);
            continue;
        }
        assert_true(d.seq >= ORDER_FIRST);
        uint64_t cons = (d.seq - ORDER_FIRST) / 100;
        assert_true(cons < 2);
        if (d.seq != ORDER_FIRST + cons * 100 + next[cons]++)
            fail_msg("old channel %" PRIu64 ": seq %" PRIu64 " out of order", cons, d.seq);
    }
}

/* A broadcast edge restored at parallelism 3: each new sink subtask s takes what old subtask
 * s % 2 had in flight (it restores as that one), in order, before what the source sends. */
static void broadcast_records_in_flight_go_to_the_subtasks_that_restore_as_theirs(void **state)
{
    weir_config *cfg = wt_config_new(NULL);
    wt_config_set(cfg, "state.checkpoints.dir=%s", wt_tmp_dir("unaligned-rescale-broadcast"));
    wt_config_resolve(cfg);
    write_two_channels_checkpoint(cfg, "broadcast");
    wt_collect_reset();
    weir_job *job = weir_job_new("broadcast");
    struct weir_datagen_opts o = {.records = 100, .keys = 4, .record_size = 24};
    weir_stream *s = weir_set_parallelism(weir_source_datagen(job, "gen", &o), 1);
    wt_collect(weir_broadcast(s), "sink", 0);
    wt_run_ok(job, cfg, &(struct wt_run){.restore_from = "latest", .parallelism = 3}, NULL);
    weir_job_free(job);
    weir_config_free(cfg);
    size_t seen[3] = {0, 0, 0};
    for (size_t i = 0; i < wt_collected(0); i++) {
        const struct wt_out *out = wt_out(0, i);
        struct weir_datagen_rec d;
        memcpy(&d, out->data, sizeof d);
        assert_true(out->subtask >= 0 && out->subtask < 3);
        size_t n = seen[out->subtask]++;
        uint64_t old = (uint64_t)out->subtask % 2;
        uint64_t want = n < 2 * CHAINED_N ? ORDER_FIRST + old * 100 + n : n - 2 * CHAINED_N;
        if (d.seq != want)
            fail_msg("subtask %d, record %zu: seq %" PRIu64 ", want %" PRIu64, out->subtask, n,
                     d.seq, want);
    }
    for (int k = 0; k < 3; k++)
        assert_int_equal(seen[k], 2 * CHAINED_N + 100);
}

static int forward_it(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    return weir_emit_forward(out, in);
}

static const struct weir_operator_ops forward_ops = {.kind = "forward", .process = forward_it};

/* gen -> "between" -> sink: the edge gen -> sink of the checkpoint is gone; the run's
 * result, its error in err. */
static int run_reshaped(bool allow, char *err, size_t errlen)
{
    weir_config *cfg = wt_config_new(NULL);
    wt_config_set(cfg, "state.checkpoints.dir=%s",
                  wt_tmp_dir(allow ? "unaligned-rescale-dropped" : "unaligned-rescale-reshaped"));
    wt_config_resolve(cfg);
    write_two_channels_checkpoint(cfg, "reshaped");
    wt_collect_reset();
    weir_job *job = weir_job_new("reshaped");
    struct weir_datagen_opts o = {.records = 100, .keys = 4, .record_size = 24};
    weir_stream *s = weir_set_parallelism(weir_source_datagen(job, "gen", &o), 1);
    wt_collect(weir_transform(s, "between", &forward_ops, NULL), "sink", 0);
    int rc =
        wt_run(job, cfg,
               &(struct wt_run){
                   .restore_from = "latest", .parallelism = 2, .allow_non_restored_state = allow},
               NULL, err, errlen);
    weir_job_free(job);
    weir_config_free(cfg);
    return rc;
}

/* Records in flight on an edge the job no longer has: refused, by name, one line; dropped
 * with --allow-non-restored-state. */
static void records_in_flight_on_an_edge_gone_are_refused_by_name(void **state)
{
    char err[1024] = "";
    assert_int_not_equal(run_reshaped(false, err, sizeof err), 0);
    if (!strstr(err, "records in flight from operator \"gen\" to \"sink\" (input 0) match no "
                     "edge of job reshaped; pass --allow-non-restored-state to drop them"))
        fail_msg("unexpected error: %s", err);
    assert_null(strchr(err, '\n'));
    if (run_reshaped(true, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(wt_collected(0), 100); /* the source's only */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hashmap_scale_out_2_to_3),
        cmocka_unit_test(hashmap_scale_in_3_to_1),
        cmocka_unit_test(rocksdb_scale_out_2_to_3),
        cmocka_unit_test(rocksdb_scale_in_3_to_1),
        cmocka_unit_test(hashmap_killed_twice_restored_at_other_parallelisms),
        cmocka_unit_test(rocksdb_killed_twice_restored_at_other_parallelisms),
        cmocka_unit_test(records_in_flight_keep_their_order_at_another_parallelism),
        cmocka_unit_test(records_in_flight_into_an_operator_now_chained_come_first),
        cmocka_unit_test(broadcast_records_in_flight_go_to_the_subtasks_that_restore_as_theirs),
        cmocka_unit_test(records_in_flight_on_an_edge_gone_are_refused_by_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
