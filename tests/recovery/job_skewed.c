/* A job shared object for test_finished_kill.sh: a file source -> an operator that is slow on
 * subtask 0 only -> weir_sink_file_exactly_once. At parallelism 2, subtask 1 reads the second
 * half of the file and finishes at once while subtask 0 is still busy.
 *     weir run -p 2 ./job_skewed.so IN OUTDIR SLOW_US DONE_FILE
 * SLOW_US: microseconds subtask 0 sleeps per record; DONE_FILE: created when subtask 1 reaches
 * end of input ("-": none). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <weir/weir.h>

static unsigned slow_us;
static const char *done_file;

static int slow_process(weir_ctx *ctx, void *st, int input, const weir_rec *in, weir_emit *out)
{
    if (slow_us && weir_ctx_subtask(ctx) == 0)
        usleep(slow_us);
    return weir_emit_forward(out, in);
}

static int slow_end(weir_ctx *ctx, void *st, weir_emit *out)
{
    if (weir_ctx_subtask(ctx) == 1 && done_file[0] != '-') {
        FILE *f = fopen(done_file, "w");
        if (f)
            fclose(f);
    }
    return 0;
}

static const struct weir_operator_ops slow_ops = {
    .kind = "slow-on-0", .process = slow_process, .end = slow_end};

int weir_job_main(weir_job *job, int argc, char **argv)
{
    if (argc != 5)
        return -EINVAL;
    slow_us = (unsigned)atoi(argv[3]);
    done_file = argv[4];
    weir_stream *s =
        weir_transform(weir_source_file(job, "lines", argv[1]), "slow", &slow_ops, NULL);
    weir_sink_file_exactly_once(s, "out", argv[2], NULL, ".txt");
    return 0;
}
