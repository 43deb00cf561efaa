/*
 * Unaligned checkpoints (execution.checkpointing.unaligned.enabled,
 * execution.checkpointing.aligned-checkpoint-timeout): what they need of the rest of the
 * checkpoint configuration, each refusal one line naming the key to change; a backpressured
 * job whose aligned checkpoints expire completes unaligned ones, which hold the records in
 * flight; and a restored task consumes those records before anything new.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weir/config.h>
#include <weir/keygroup.h>
#include <weir/storage.h>
#include <weir/weir.h>

#include "checkpoint.h"

#include "weir_test.h"

static int pass(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    return weir_emit_forward(out, in);
}

static const struct weir_operator_ops pass_ops = {.kind = "pass", .process = pass};

/* datagen -> key_by -> pass -> blackhole, checkpointing as defs say; the run's result, its
 * error in err. */
static int run_job(const char *const *defs, char *err, size_t errlen)
{
    weir_config *cfg = wt_config_new(defs);
    wt_config_set(cfg, "state.checkpoints.dir=%s", wt_tmp_dir("unaligned"));
    wt_config_resolve(cfg);
    weir_job *job = weir_job_new("unaligned");
    struct weir_datagen_opts o = {.records = 1000, .keys = 16, .record_size = 24};
    weir_stream *s = weir_key_by(weir_source_datagen(job, "gen", &o), wt_datagen_key);
    weir_sink_blackhole(weir_keyed_transform(s, "pass", &pass_ops, NULL, NULL), "sink");
    int rc = wt_run(job, cfg, NULL, NULL, err, errlen);
    weir_job_free(job);
    weir_config_free(cfg);
    return rc;
}

static void assert_refused(const char *const *defs, const char *why)
{
    char err[1024] = "";
    assert_int_not_equal(run_job(defs, err, sizeof err), 0);
    if (!strstr(err, why))
        fail_msg("expected an error with \"%s\", got: %s", why, err);
    assert_null(strchr(err, '\n')); /* one line */
}

static void unaligned_needs_exactly_once(void **state)
{
    assert_refused(WT_DEFS("execution.checkpointing.interval=50ms",
                           "execution.checkpointing.unaligned.enabled=true",
                           "execution.checkpointing.mode=AT_LEAST_ONCE"),
                   "execution.checkpointing.unaligned.enabled: true needs "
                   "execution.checkpointing.mode EXACTLY_ONCE (it is AT_LEAST_ONCE)");
}

static void unaligned_needs_one_checkpoint_in_flight(void **state)
{
    assert_refused(WT_DEFS("execution.checkpointing.interval=50ms",
                           "execution.checkpointing.unaligned.enabled=true",
                           "execution.checkpointing.max-concurrent-checkpoints=2"),
                   "execution.checkpointing.unaligned.enabled: true needs "
                   "execution.checkpointing.max-concurrent-checkpoints 1 (it is 2)");
}

/* Flink's older names of the two keys are accepted (here: refused for the same reason as
 * the new ones, not as unknown keys). */
static void flink_older_key_names_are_accepted(void **state)
{
    assert_refused(WT_DEFS("execution.checkpointing.interval=50ms",
                           "execution.checkpointing.unaligned=true",
                           "execution.checkpointing.alignment-timeout=1s",
                           "execution.checkpointing.mode=AT_LEAST_ONCE"),
                   "needs execution.checkpointing.mode EXACTLY_ONCE");
}

static void aligned_checkpoint_timeout_is_a_duration(void **state)
{
    char err[512] = "";
    weir_config *c = weir_config_new();
    assert_non_null(c);
    assert_int_equal(weir_config_set_kv(c, "execution.checkpointing.aligned-checkpoint-timeout=30s",
                                        err, sizeof err),
                     0);
    assert_true(weir_config_set_kv(c, "execution.checkpointing.aligned-checkpoint-timeout=soon",
                                   err, sizeof err) < 0);
    if (!strstr(err, "execution.checkpointing.aligned-checkpoint-timeout"))
        fail_msg("the error does not name the key: %s", err);
    weir_config_free(c);
}

/* Off (the default), checkpoints run as before. */
static void unaligned_off_runs_aligned_checkpoints(void **state)
{
    char err[1024] = "";
    if (run_job(WT_DEFS("execution.checkpointing.interval=50ms",
                        "execution.checkpointing.unaligned.enabled=false",
                        "execution.checkpointing.aligned-checkpoint-timeout=2s"),
                err, sizeof err) != 0)
        fail_msg("%s", err);
}

/* ---- backpressure: aligned checkpoints expire, unaligned ones complete ------------------ */

#define BP_RECORDS 16000

static int bp_completed, bp_failed;

static void bp_on_checkpoint(void *arg, const struct weir_checkpoint_event *ev)
{
    if (getenv("WT_DEBUG"))
        fprintf(stderr, "checkpoint %" PRIu64 ": %s %" PRIu64 " ms %s\n", ev->id,
                ev->completed ? "completed" : "failed", (uint64_t)ev->duration_ms,
                ev->reason ? ev->reason : "");
    if (ev->final)
        return; /* taken at end of input, when nothing is in flight any more */
    if (ev->completed)
        bp_completed++;
    else
        bp_failed++;
}

/* Subtask 1 takes 250 us a record (5 ms every 20); subtask 0, on the source's worker (slot
 * sharing), is fast, so that the source itself is never held up, only backpressured. */
static int slow_on_subtask_1(weir_ctx *ctx, void *state, int input, const weir_rec *in,
                             weir_emit *out)
{
    static _Thread_local unsigned n;
    if (weir_ctx_subtask(ctx) == 1 && ++n % 20 == 0)
        usleep(5000);
    return 0;
}

static const struct weir_operator_ops slow_ops = {.kind = "slow", .process = slow_on_subtask_1};

/* A source as fast as it goes into "slow" at parallelism 2: the ring into its subtask 1 (16
 * buffers of 4 KiB, about 100 records each) stays full, so a barrier behind it waits about
 * 0.4 s, against a checkpoint timeout of 150 ms; unaligned, the barrier is seen after the
 * buffer being processed (about 25 ms). */
static void run_backpressured(bool unaligned, const char *timeout, struct weir_run_stats *st)
{
    bp_completed = bp_failed = 0;
    weir_config *cfg = wt_config_new(WT_DEFS(
        "execution.checkpointing.interval=100ms", "execution.checkpointing.timeout=150ms",
        "execution.checkpointing.tolerable-failed-checkpoints=1000",
        "network.buffers-per-channel=16", "memory.segment-size=4kb", "restart-strategy.type=none"));
    wt_config_set(cfg, "execution.checkpointing.unaligned.enabled=%s",
                  unaligned ? "true" : "false");
    wt_config_set(cfg, "execution.checkpointing.aligned-checkpoint-timeout=%s", timeout);
    wt_config_set(cfg, "state.checkpoints.dir=%s",
                  wt_tmp_dir(unaligned ? "unaligned-bp" : "aligned-bp"));
    wt_config_resolve(cfg);
    weir_job *job = weir_job_new("backpressured");
    struct weir_datagen_opts o = {.records = BP_RECORDS, .keys = 64, .record_size = 24};
    weir_stream *s = weir_key_by(weir_source_datagen(job, "gen", &o), wt_datagen_key);
    s = weir_set_parallelism(weir_keyed_transform(s, "slow", &slow_ops, NULL, NULL), 2);
    weir_sink_blackhole(s, "sink");
    struct wt_run ro = {.on_checkpoint = bp_on_checkpoint};
    wt_run_ok(job, cfg, &ro, st);
    weir_job_free(job);
    weir_config_free(cfg);
}

static void backpressured_job_completes_unaligned_checkpoints(void **state)
{
    struct weir_run_stats st;
    run_backpressured(false, "0", &st);
    int aligned_completed = bp_completed, aligned_failed = bp_failed;
    assert_true(aligned_failed >= 2); /* the failure mode: aligned checkpoints expire */
    assert_int_equal(st.unaligned_snapshots, 0);

    run_backpressured(true, "0", &st);
    if (bp_completed < 3 || bp_completed <= aligned_completed)
        fail_msg("unaligned: %d checkpoints completed, %d failed (aligned: %d completed, %d "
                 "failed)",
                 bp_completed, bp_failed, aligned_completed, aligned_failed);
    fprintf(stderr,
            "aligned: %d completed, %d failed; unaligned: %d completed, %d failed, %" PRIu64
            " unaligned snapshots, channel state up to %" PRIu64 " bytes\n",
            aligned_completed, aligned_failed, bp_completed, bp_failed, st.unaligned_snapshots,
            st.channel_state_bytes_max);
    assert_true(st.unaligned_snapshots >= 3);
    /* the sink's input ring was full: what it held ahead of a barrier is in the checkpoint */
    assert_true(st.channel_state_bytes_max >= 4 * 4096);
}

/* ---- aligned-checkpoint-timeout: start aligned, switch when alignment takes longer -------- */

/* Backpressured as above: every checkpoint is still not aligned 30 ms after its trigger, so
 * each switches, and completes well within the 150 ms checkpoint timeout. */
static void checkpoint_past_the_alignment_timeout_switches_to_unaligned(void **state)
{
    struct weir_run_stats st;
    run_backpressured(true, "30ms", &st);
    fprintf(stderr,
            "aligned-checkpoint-timeout 30ms: %d completed, %d failed, %" PRIu64
            " unaligned snapshots, channel state up to %" PRIu64 " bytes\n",
            bp_completed, bp_failed, st.unaligned_snapshots, st.channel_state_bytes_max);
    assert_true(bp_completed >= 3);
    assert_true(bp_completed > bp_failed);
    assert_true(st.unaligned_snapshots >= 3);
    assert_true(st.channel_state_bytes_max > 0);
}

/* No backpressure, a timeout far above what alignment takes: every checkpoint aligns in
 * time and none is taken unaligned. */
static void checkpoint_aligned_in_time_stays_aligned(void **state)
{
    bp_completed = bp_failed = 0;
    weir_config *cfg = wt_config_new(WT_DEFS(
        "execution.checkpointing.interval=50ms", "execution.checkpointing.unaligned.enabled=true",
        "execution.checkpointing.aligned-checkpoint-timeout=20s", "restart-strategy.type=none"));
    wt_config_set(cfg, "state.checkpoints.dir=%s", wt_tmp_dir("aligned-in-time"));
    wt_config_resolve(cfg);
    weir_job *job = weir_job_new("in-time");
    struct weir_datagen_opts o = {.records = 20000, .keys = 16, .record_size = 24, .rate = 20000};
    weir_stream *s = weir_key_by(weir_source_datagen(job, "gen", &o), wt_datagen_key);
    weir_sink_blackhole(weir_keyed_transform(s, "pass", &pass_ops, NULL, NULL), "sink");
    struct weir_run_stats st;
    wt_run_ok(job, cfg, &(struct wt_run){.on_checkpoint = bp_on_checkpoint, .parallelism = 2}, &st);
    weir_job_free(job);
    weir_config_free(cfg);
    assert_true(bp_completed >= 3);
    assert_int_equal(bp_failed, 0);
    assert_int_equal(st.unaligned_snapshots, 0);
}

/* ---- restore: the records in flight are replayed first ---------------------------------- */

#define REPLAYED         3
#define REPLAY_FIRST_SEQ 1000000

/* Writes checkpoint 7 of job "replay" by hand: nothing but the channel state of subtask 0
 * of "sink", REPLAYED datagen records in flight on its input. */
static void write_channel_checkpoint(weir_config *cfg)
{
    char err[512], name[256];
    weir_storage *st;
    if (weir_storage_open_config(cfg, "replay", &st, err, sizeof err) < 0)
        fail_msg("%s", err);
    weir_ckpt *ck;
    assert_int_equal(weir_ckpt_begin(st, 7, NULL, &ck), 0);
    struct weir_ckpt_entry e = {.operator_uid = "sink#channels",
                                .parallelism = 1,
                                .kg_first = WEIR_KG_NONE,
                                .kg_last = WEIR_KG_NONE};
    assert_int_equal(weir_ckpt_file_name(name, sizeof name, e.operator_uid, 0), 0);
    weir_ckpt_file *f;
    assert_int_equal(weir_ckpt_file_open(ck, name, &f), 0);
    assert_int_equal(chk_identity_write(f, &e, 7), 0);
    assert_int_equal(weir_ckpt_file_section_begin(f, TAG_CHANNEL_IN | 0), 0);
    for (uint64_t i = 0; i < REPLAYED; i++) {
        _Alignas(8) unsigned char b[WEIR_REC_HEADER + sizeof(struct weir_datagen_rec)];
        weir_rec *r = (weir_rec *)b;
        *r = (weir_rec){.len = sizeof(struct weir_datagen_rec), .kind = WEIR_REC_DATA, .ts = 0};
        struct weir_datagen_rec d = {.seq = REPLAY_FIRST_SEQ + i, .key = i};
        memcpy(r->data, &d, sizeof d);
        struct weir_snapshot_out *out = weir_ckpt_file_out(f);
        assert_int_equal(out->write(out, b, weir_rec_size(r->len)), 0);
    }
    e.file = name;
    assert_int_equal(weir_ckpt_file_submit(f), 0);
    struct weir_ckpt_meta m = {.max_parallelism = 128, .entry_count = 1, .entries = &e};
    assert_int_equal(weir_ckpt_commit(ck, &m), 0);
    assert_int_equal(weir_ckpt_wait(ck, 10000), 0);
    weir_ckpt_release(ck);
    weir_storage_close(st);
}

static void restored_task_consumes_channel_state_first(void **state)
{
    weir_config *cfg = wt_config_new(NULL);
    wt_config_set(cfg, "state.checkpoints.dir=%s", wt_tmp_dir("unaligned-replay"));
    wt_config_resolve(cfg);
    write_channel_checkpoint(cfg);
    wt_collect_reset();
    weir_job *job = weir_job_new("replay");
    struct weir_datagen_opts o = {.records = 100, .keys = 4, .record_size = 24};
    wt_collect(weir_key_by(weir_source_datagen(job, "gen", &o), wt_datagen_key), "sink", 0);
    struct weir_run_stats st;
    wt_run_ok(job, cfg, &(struct wt_run){.restore_from = "latest"}, &st);
    weir_job_free(job);
    weir_config_free(cfg);
    assert_int_equal(st.restored_checkpoint, 7);
    assert_int_equal(wt_collected(0), 100 + REPLAYED);
    for (size_t i = 0; i < wt_collected(0); i++) {
        struct weir_datagen_rec d;
        memcpy(&d, wt_out(0, i)->data, sizeof d);
        /* the records in flight, in order, then the source's from its start (not restored) */
        assert_int_equal(d.seq, i < REPLAYED ? REPLAY_FIRST_SEQ + i : i - REPLAYED);
    }
}

/* Channels are per pair of subtasks: a file without the channel map (which says which edge
 * and subtasks each channel joined) is refused at another parallelism, by name. */
static void channel_state_is_refused_at_another_parallelism(void **state)
{
    weir_config *cfg = wt_config_new(NULL);
    wt_config_set(cfg, "state.checkpoints.dir=%s", wt_tmp_dir("unaligned-rescale"));
    wt_config_resolve(cfg);
    write_channel_checkpoint(cfg);
    weir_job *job = weir_job_new("replay");
    struct weir_datagen_opts o = {.records = 100, .keys = 4, .record_size = 24};
    wt_collect(weir_key_by(weir_source_datagen(job, "gen", &o), wt_datagen_key), "sink", 0);
    char err[1024] = "";
    assert_int_not_equal(wt_run(job, cfg,
                                &(struct wt_run){.restore_from = "latest", .parallelism = 2}, NULL,
                                err, sizeof err),
                         0);
    weir_job_free(job);
    weir_config_free(cfg);
    if (!strstr(err, "at parallelism 1, not 2, without the channel map that rescales them"))
        fail_msg("unexpected error: %s", err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unaligned_needs_exactly_once),
        cmocka_unit_test(unaligned_needs_one_checkpoint_in_flight),
        cmocka_unit_test(flink_older_key_names_are_accepted),
        cmocka_unit_test(aligned_checkpoint_timeout_is_a_duration),
        cmocka_unit_test(unaligned_off_runs_aligned_checkpoints),
        cmocka_unit_test(backpressured_job_completes_unaligned_checkpoints),
        cmocka_unit_test(checkpoint_past_the_alignment_timeout_switches_to_unaligned),
        cmocka_unit_test(checkpoint_aligned_in_time_stays_aligned),
        cmocka_unit_test(restored_task_consumes_channel_state_first),
        cmocka_unit_test(channel_state_is_refused_at_another_parallelism),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
