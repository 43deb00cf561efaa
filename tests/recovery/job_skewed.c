/* A job shared object for test_finished_kill.sh and test_checkpoint_skew.sh: a file source ->
 * an operator that is slow on subtask 0 only -> weir_sink_file_exactly_once. At parallelism 2,
 * subtask 1 reads the second half of the file and finishes at once while subtask 0 is still busy.
 *     weir run -p 2 ./job_skewed.so IN OUTDIR SLOW_US DONE_FILE [SNAP_MS PACE_US]
 * SLOW_US: microseconds subtask 0 sleeps per record; DONE_FILE: created when subtask 1 reaches
 * end of input ("-": none). With SNAP_MS, the operator has state: subtask 0's snapshot takes
 * SNAP_MS milliseconds and writes 64 KiB, subtask 1's is immediate and writes 16 bytes (a
 * skewed checkpoint); PACE_US: microseconds every subtask sleeps per record, so that both
 * keep running through several checkpoints. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <weir/weir.h>

static unsigned slow_us, snap_ms, pace_us;
static const char *done_file;

#define SNAP_BYTES_SLOW (64u << 10)
#define SNAP_BYTES_FAST 16u

static int slow_process(weir_ctx *ctx, void *st, int input, const weir_rec *in, weir_emit *out)
{
    if (slow_us && weir_ctx_subtask(ctx) == 0)
        usleep(slow_us);
    if (pace_us)
        usleep(pace_us);
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

static int skewed_snapshot(weir_ctx *ctx, void *st, uint64_t id, struct weir_snapshot_out *out)
{
    static const char zeros[4096];
    size_t n = SNAP_BYTES_FAST;
    if (weir_ctx_subtask(ctx) == 0) {
        usleep(snap_ms * 1000u);
        n = SNAP_BYTES_SLOW;
    }
    for (size_t done = 0; done < n;) {
        size_t k = n - done < sizeof zeros ? n - done : sizeof zeros;
        int rc = out->write(out, zeros, k);
        if (rc < 0)
            return rc;
        done += k;
    }
    return 0;
}

static int skewed_restore(weir_ctx *ctx, void *st, struct weir_snapshot_in *in)
{
    char c;
    int rc;
    while ((rc = in->read(in, &c, 1)) == 0)
        ;
    return rc == -ENODATA ? 0 : rc;
}

static const struct weir_operator_ops slow_ops = {
    .kind = "slow-on-0", .process = slow_process, .end = slow_end};
static const struct weir_operator_ops skewed_ops = {.kind = "slow-on-0",
                                                    .process = slow_process,
                                                    .end = slow_end,
                                                    .snapshot = skewed_snapshot,
                                                    .restore = skewed_restore};

int weir_job_main(weir_job *job, int argc, char **argv)
{
    if (argc != 5 && argc != 7)
        return -EINVAL;
    slow_us = (unsigned)atoi(argv[3]);
    done_file = argv[4];
    if (argc == 7) {
        snap_ms = (unsigned)atoi(argv[5]);
        pace_us = (unsigned)atoi(argv[6]);
    }
    weir_stream *s = weir_transform(weir_source_file(job, "lines", argv[1]), "slow",
                                    argc == 7 ? &skewed_ops : &slow_ops, NULL);
    weir_sink_file_exactly_once(s, "out", argv[2], NULL, ".txt");
    return 0;
}
