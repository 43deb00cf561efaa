/*
 * Incremental heap checkpoints keep in shared/ only the chain files of retained checkpoints:
 * a keyed job on the hashmap backend with state.backend.incremental takes many checkpoints
 * (chains of a full file and up to two deltas, two checkpoints retained); afterwards every
 * file in shared/ is listed by a retained checkpoint's _metadata, every file a retained
 * checkpoint lists is there, and some retained checkpoint's chain holds deltas (a chain of
 * more than one file per subtask). A run restored from the latest checkpoint at parallelism 3
 * then runs.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weir/config.h>
#include <weir/storage.h>
#include <weir/weir.h>

#include "weir_test.h"

static _Atomic unsigned completed;
static unsigned stop_at; /* checkpoints completed when the job is stopped */

static void on_checkpoint(void *arg, const struct weir_checkpoint_event *ev)
{
    (void)arg;
    if (ev->completed)
        completed++;
}

/* Stops the job once stop_at checkpoints completed (a minute at most): counted, not timed,
 * so a loaded machine or a sanitizer build takes as many. */
static void *cancel_later(void *job)
{
    for (int i = 0; i < 6000 && atomic_load(&completed) < stop_at; i++)
        usleep(10 * 1000);
    weir_job_cancel(job);
    return NULL;
}

/* datagen (paced, unbounded) -> key_by -> per-key count (keyed state) -> blackhole,
 * stopped after stop_at checkpoints: its retained checkpoints hold the keyed state (those
 * of a job whose input ended are taken by finished tasks, without it). */
static int run_job(const char *dir, const char *from, int parallelism, char *err, size_t errlen)
{
    weir_config *cfg = wt_config_new(WT_DEFS(
        "execution.checkpointing.interval=40ms", "execution.checkpointing.num-retained=2",
        "restart-strategy.type=none", "state.backend=hashmap", "state.backend.incremental=true",
        "state.backend.incremental.heap.max-chain-length=2"));
    wt_config_set(cfg, "state.checkpoints.dir=%s", dir);
    wt_config_resolve(cfg);
    weir_job *job = weir_job_new("chain");
    struct weir_datagen_opts o = {.records = 0, .keys = 5000, .record_size = 24, .rate = 6000};
    weir_stream *s =
        weir_key_by(weir_set_parallelism(weir_source_datagen(job, "gen", &o), 2), wt_datagen_key);
    weir_sink_blackhole(weir_keyed_transform(s, "count", &wt_count_per_key_ops, NULL, NULL),
                        "sink");
    struct wt_run ro = {
        .parallelism = parallelism, .restore_from = from, .on_checkpoint = on_checkpoint};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, cancel_later, job), 0);
    int rc = wt_run(job, cfg, &ro, NULL, err, errlen);
    pthread_join(t, NULL);
    weir_job_free(job);
    weir_config_free(cfg);
    return rc;
}

struct names {
    char **v;
    size_t n;
};

static void names_add(struct names *ns, const char *name)
{
    for (size_t i = 0; i < ns->n; i++)
        if (!strcmp(ns->v[i], name))
            return;
    ns->v = realloc(ns->v, (ns->n + 1) * sizeof *ns->v);
    assert_non_null(ns->v);
    ns->v[ns->n] = strdup(name);
    assert_non_null(ns->v[ns->n]);
    ns->n++;
}

static bool names_has(const struct names *ns, const char *name)
{
    for (size_t i = 0; i < ns->n; i++)
        if (!strcmp(ns->v[i], name))
            return true;
    return false;
}

static void names_free(struct names *ns)
{
    for (size_t i = 0; i < ns->n; i++)
        free(ns->v[i]);
    free(ns->v);
}

static void shared_holds_only_the_files_of_retained_chains(void **state)
{
    (void)state;
    const char *dir = wt_tmp_dir("heap-chain");
    char err[1024] = "", job[4096], path[8192];
    completed = 0;
    stop_at = 16;
    if (run_job(dir, NULL, 2, err, sizeof err) < 0)
        fail_msg("%s", err);
    print_message("%u checkpoints completed\n", atomic_load(&completed));
    assert_true(atomic_load(&completed) >= 10);

    snprintf(job, sizeof job, "%s/chain", dir);
    struct names listed = {0}, found = {0};
    unsigned retained = 0, longest = 0;
    DIR *d = opendir(job);
    assert_non_null(d);
    for (struct dirent *de; (de = readdir(d));) {
        if (strncmp(de->d_name, "chk-", 4) != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", job, de->d_name);
        weir_restore *r;
        char why[1024];
        if (weir_restore_open_dir(path, 0, &r, why, sizeof why) < 0)
            continue; /* not complete */
        const struct weir_ckpt_meta *m = weir_restore_meta(r);
        retained++;
        unsigned heap = 0;
        for (size_t i = 0; i < m->shared_count; i++) {
            names_add(&listed, m->shared[i].name);
            heap += strstr(m->shared[i].name, ".heap") != NULL;
        }
        /* two subtasks, one file each per link of their chains */
        if (heap / 2 > longest)
            longest = heap / 2;
        weir_restore_close(r);
    }
    closedir(d);
    snprintf(path, sizeof path, "%s/shared", job);
    d = opendir(path);
    assert_non_null(d);
    for (struct dirent *de; (de = readdir(d));)
        if (de->d_name[0] != '.')
            names_add(&found, de->d_name);
    closedir(d);
    print_message("%u retained checkpoints list %zu shared files; shared/ holds %zu; longest "
                  "chain %u files\n",
                  retained, listed.n, found.n, longest);
    assert_true(retained >= 1 && retained <= 2);
    for (size_t i = 0; i < found.n; i++)
        if (!names_has(&listed, found.v[i]))
            fail_msg("shared/%s is listed by no retained checkpoint", found.v[i]);
    for (size_t i = 0; i < listed.n; i++)
        if (!names_has(&found, listed.v[i]))
            fail_msg("shared/%s is listed by a retained checkpoint but gone", listed.v[i]);
    assert_true(longest >= 2);
    assert_true(longest <= 3); /* a full file and at most max-chain-length deltas */
    names_free(&listed);
    names_free(&found);

    /* the chains restore, the keyed operator at another parallelism too (key groups read
     * across chains; the source keeps its parallelism, as its operator state must) */
    completed = 0;
    stop_at = 3;
    if (run_job(dir, "latest", 3, err, sizeof err) < 0)
        fail_msg("restored from latest: %s", err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shared_holds_only_the_files_of_retained_chains),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
