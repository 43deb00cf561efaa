/*
 * A restore that is refused (state of an operator the job does not have, a _metadata that
 * does not match its state files) is refused before any operator opens: the job's
 * exactly-once sink has not created or claimed its output directory yet. Before, the checks
 * ran after open, so a refused restore left a new, empty output directory behind.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <weir/config.h>
#include <weir/weir.h>

#include "weir_test.h"

static uint64_t last_id;

static void on_checkpoint(void *arg, const struct weir_checkpoint_event *ev)
{
    if (ev->completed)
        last_id = ev->id;
}

static int keep(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    return weir_emit_forward(out, in);
}

static const struct weir_operator_ops keep_ops = {.kind = "keep", .process = keep};

static void a_refused_restore_does_not_create_the_output_directory(void **state)
{
    const char *chk = wt_tmp_dir("refused-chk");
    weir_config *cfg = wt_config_new(
        WT_DEFS("execution.checkpointing.interval=50ms", "restart-strategy.type=none"));
    wt_config_set(cfg, "state.checkpoints.dir=%s", chk);
    wt_config_resolve(cfg);

    /* a checkpoint holding state of operator "gone" */
    weir_job *job = weir_job_new("refused");
    struct weir_datagen_opts o = {.records = 200, .keys = 4, .record_size = 24, .rate = 1000};
    weir_stream *s = weir_source_datagen(job, "gen", &o);
    weir_sink_blackhole(weir_transform(s, "gone", &keep_ops, NULL), "sink");
    wt_run_ok(job, cfg, &(struct wt_run){.on_checkpoint = on_checkpoint}, NULL);
    weir_job_free(job);
    assert_int_not_equal(last_id, 0);
    char from[4096];
    snprintf(from, sizeof from, "%s/refused/chk-%" PRIu64, chk, last_id);

    /* the same job without "gone", into an exactly-once output that does not exist yet */
    char out[4096], err[2048] = "";
    snprintf(out, sizeof out, "%s/out", wt_tmp_dir("refused-out"));
    job = weir_job_new("refused");
    s = weir_source_datagen(job, "gen", &o);
    weir_sink_file_exactly_once(s, "eo", out, weir_format_datagen, ".csv");
    int rc = wt_run(job, cfg, &(struct wt_run){.restore_from = from}, NULL, err, sizeof err);
    weir_job_free(job);
    weir_config_free(cfg);
    assert_int_equal(rc, -EINVAL);
    if (!strstr(err, "\"gone\""))
        fail_msg("not refused for operator \"gone\": %s", err);
    struct stat st;
    if (lstat(out, &st) == 0)
        fail_msg("the refused restore created the output directory %s", out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_refused_restore_does_not_create_the_output_directory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
