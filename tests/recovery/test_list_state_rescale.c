/*
 * Operator list state through real checkpoint files (op_state.c, restore.c): an operator
 * whose subtasks each write two items (weir_snapshot_write_item) at parallelism 2 is
 * restored at 3 and at 1. SPLIT deals the four items round-robin, UNION gives every subtask
 * all four, each restore_items call sees the items with the subtask and parallelism that
 * wrote them, and a subtask that inherits nothing is still told so (called with none). An
 * operator that keeps its state per subtask (WEIR_STATE_SAME_PARALLELISM, as the Kafka sink's
 * transactions) is refused at another parallelism with one line naming it and the -p it was
 * taken at.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <weir/config.h>
#include <weir/state.h>
#include <weir/weir.h>

#include "weir_test.h"

#define MAXSUB 4

/* What each restored subtask's restore_items saw. */
static struct seen {
    int calls;
    size_t n;
    uint32_t writer[8], item[8], item_p[8]; /* per item: subtask in its bytes, its fields */
} seen[MAXSUB];

struct tagged {
    uint32_t subtask, k;
};

static int tag_snapshot(weir_ctx *ctx, void *state, uint64_t id, struct weir_snapshot_out *out)
{
    int rc = 0;
    for (uint32_t k = 0; k < 2 && rc == 0; k++) {
        struct tagged t = {(uint32_t)weir_ctx_subtask(ctx), k};
        rc = weir_snapshot_write_item(out, &t, sizeof t);
    }
    return rc;
}

static int tag_restore_items(weir_ctx *ctx, void *state, const struct weir_state_item *items,
                             size_t n)
{
    struct seen *s = &seen[weir_ctx_subtask(ctx)];
    s->calls++;
    s->n = n;
    for (size_t i = 0; i < n && i < 8; i++) {
        struct tagged t;
        if (items[i].len != sizeof t)
            return -EBADMSG;
        memcpy(&t, items[i].data, sizeof t);
        s->writer[i] = t.subtask;
        s->item[i] = items[i].subtask;
        s->item_p[i] = items[i].parallelism;
    }
    return 0;
}

static int tag_restore(weir_ctx *ctx, void *state, struct weir_snapshot_in *in)
{
    return 0;
}

static int pass(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    return 0;
}

static const struct weir_operator_ops split_ops = {.kind = "tagger",
                                                   .process = pass,
                                                   .snapshot = tag_snapshot,
                                                   .state_mode = WEIR_STATE_SPLIT,
                                                   .restore_items = tag_restore_items};
static const struct weir_operator_ops union_ops = {.kind = "tagger",
                                                   .process = pass,
                                                   .snapshot = tag_snapshot,
                                                   .state_mode = WEIR_STATE_UNION,
                                                   .restore_items = tag_restore_items};
static const struct weir_operator_ops same_ops = {
    .kind = "tagger", .process = pass, .snapshot = tag_snapshot, .restore = tag_restore};

/* datagen -> the operator at p: bounded, so its final checkpoint holds the operator's items
 * (a finished task's state is in it). Returns the run's result. */
static int run(const struct weir_operator_ops *ops, const char *dir, int p, bool restore,
               char *err, size_t errlen)
{
    weir_config *c = wt_config_new(WT_DEFS("execution.checkpointing.interval=1s"));
    wt_config_set(c, "state.checkpoints.dir=%s", dir);
    wt_config_resolve(c);
    weir_job *job = weir_job_new("list-state");
    struct weir_datagen_opts o = {.records = 1000, .keys = 10, .record_size = 24};
    weir_sink(weir_source_datagen(job, "gen", &o), "tagger", ops, NULL);
    memset(seen, 0, sizeof seen);
    struct wt_run ro = {.parallelism = p, .restore_from = restore ? "latest" : NULL};
    int rc = wt_run(job, c, &ro, NULL, err, errlen);
    weir_job_free(job);
    weir_config_free(c);
    return rc;
}

static const char *checkpointed_at_2(const struct weir_operator_ops *ops, const char *tag)
{
    const char *dir = wt_tmp_dir(tag);
    char err[1024] = "";
    if (run(ops, dir, 2, false, err, sizeof err) != 0)
        fail_msg("the run at -p 2: %s", err);
    return dir;
}

/* Subtask sub got n items, written by old subtasks writers[] of parallelism 2. */
static void saw(int sub, size_t n, const uint32_t *writers)
{
    assert_int_equal(seen[sub].calls, 1);
    assert_int_equal(seen[sub].n, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(seen[sub].writer[i], writers[i]);
        assert_int_equal(seen[sub].item[i], writers[i]);
        assert_int_equal(seen[sub].item_p[i], 2);
    }
}

static void split_state_is_dealt_round_robin_at_a_higher_and_a_lower_parallelism(void **state)
{
    const char *dir = checkpointed_at_2(&split_ops, "list-split");
    char err[1024] = "";
    /* items in order: (0,0) (0,1) (1,0) (1,1); at 3: 0 gets the 1st and 4th */
    assert_int_equal(run(&split_ops, dir, 3, true, err, sizeof err), 0);
    saw(0, 2, (const uint32_t[]){0, 1});
    saw(1, 1, (const uint32_t[]){0});
    saw(2, 1, (const uint32_t[]){1});
    /* the run at 3 checkpointed again: its subtasks wrote two items each, now 0, 1, 2 */
    assert_int_equal(run(&split_ops, dir, 1, true, err, sizeof err), 0);
    assert_int_equal(seen[0].calls, 1);
    assert_int_equal(seen[0].n, 6);
}

static void split_state_at_one_gives_it_every_item(void **state)
{
    const char *dir = checkpointed_at_2(&split_ops, "list-split-1");
    char err[1024] = "";
    assert_int_equal(run(&split_ops, dir, 1, true, err, sizeof err), 0);
    saw(0, 4, (const uint32_t[]){0, 0, 1, 1});
}

static void union_state_gives_every_subtask_every_item(void **state)
{
    const char *dir = checkpointed_at_2(&union_ops, "list-union");
    char err[1024] = "";
    assert_int_equal(run(&union_ops, dir, 3, true, err, sizeof err), 0);
    for (int s = 0; s < 3; s++)
        saw(s, 4, (const uint32_t[]){0, 0, 1, 1});
}

static void per_subtask_state_at_another_parallelism_is_refused_by_name(void **state)
{
    const char *dir = checkpointed_at_2(&same_ops, "list-same");
    char err[1024] = "";
    assert_int_equal(run(&same_ops, dir, 1, true, err, sizeof err), -EINVAL);
    if (!strstr(err, "operator \"tagger\" (tagger): its state was taken at parallelism 2, not 1") ||
        !strstr(err, "run with -p 2"))
        fail_msg("unexpected error: %s", err);
    assert_int_equal(run(&same_ops, dir, 2, true, err, sizeof err), 0); /* as it was: fine */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(split_state_is_dealt_round_robin_at_a_higher_and_a_lower_parallelism),
        cmocka_unit_test(split_state_at_one_gives_it_every_item),
        cmocka_unit_test(union_state_gives_every_subtask_every_item),
        cmocka_unit_test(per_subtask_state_at_another_parallelism_is_refused_by_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
