/*
 * Operator list state dealt on restore (op_state.c, chk_items_deal): the items of every old
 * subtask, at parallelism p before and p' now (p' < p, p' > p, p' = p, p' = 1, and with no
 * items at all). SPLIT gives every item to exactly one new subtask, in the order the items
 * were written, the subtasks' shares differing by one at most, and at the same parallelism
 * with one item per subtask each item back to the subtask that wrote it; UNION gives every
 * subtask every item.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <weir/job.h>

#include "checkpoint.h"

#define MAX_ITEMS 64

/* The items of old subtasks 0..p-1, per_subtask[s] of subtask s, in subtask order; data
 * points at the item's own index so that a share can be traced back. */
static size_t old_items(const uint32_t *per_subtask, uint32_t p, struct weir_state_item *all,
                        size_t idx[])
{
    size_t n = 0;
    for (uint32_t s = 0; s < p; s++)
        for (uint32_t k = 0; k < per_subtask[s]; k++) {
            assert_true(n < MAX_ITEMS);
            idx[n] = n;
            all[n] = (struct weir_state_item){
                .data = &idx[n], .len = sizeof idx[n], .subtask = s, .parallelism = p};
            n++;
        }
    return n;
}

/* SPLIT from (per_subtask, p) to np: each item once, in order within a share, shares even. */
static void check_split(const uint32_t *per_subtask, uint32_t p, uint32_t np)
{
    struct weir_state_item all[MAX_ITEMS], mine[MAX_ITEMS];
    size_t idx[MAX_ITEMS];
    size_t n = old_items(per_subtask, p, all, idx);
    int seen[MAX_ITEMS] = {0};
    size_t least = SIZE_MAX, most = 0;
    for (uint32_t s = 0; s < np; s++) {
        size_t k = chk_items_deal(all, n, WEIR_STATE_SPLIT, np, s, mine);
        for (size_t i = 0; i < k; i++) {
            size_t at = *(const size_t *)mine[i].data;
            seen[at]++;
            if (i > 0) /* the order the items were written in */
                assert_true(at > *(const size_t *)mine[i - 1].data);
            assert_int_equal(mine[i].subtask, all[at].subtask);
            assert_int_equal(mine[i].parallelism, p);
        }
        least = k < least ? k : least;
        most = k > most ? k : most;
    }
    for (size_t i = 0; i < n; i++)
        assert_int_equal(seen[i], 1);
    assert_true(most - least <= 1);
}

static void split_to_a_lower_parallelism_deals_every_item_once(void **state)
{
    const uint32_t one_each[4] = {1, 1, 1, 1}, uneven[4] = {3, 0, 2, 5};
    check_split(one_each, 4, 3);
    check_split(one_each, 4, 2);
    check_split(uneven, 4, 3);
    check_split(uneven, 4, 2);
}

static void split_to_a_higher_parallelism_leaves_the_extra_subtasks_without_items(void **state)
{
    const uint32_t one_each[2] = {1, 1};
    struct weir_state_item all[MAX_ITEMS], mine[MAX_ITEMS];
    size_t idx[MAX_ITEMS];
    size_t n = old_items(one_each, 2, all, idx);
    check_split(one_each, 2, 3);
    check_split(one_each, 2, 7);
    /* two splits at p' = 3: subtasks 0 and 1 take one each, subtask 2 none (an idle source) */
    assert_int_equal(chk_items_deal(all, n, WEIR_STATE_SPLIT, 3, 0, mine), 1);
    assert_int_equal(mine[0].subtask, 0);
    assert_int_equal(chk_items_deal(all, n, WEIR_STATE_SPLIT, 3, 1, mine), 1);
    assert_int_equal(mine[0].subtask, 1);
    assert_int_equal(chk_items_deal(all, n, WEIR_STATE_SPLIT, 3, 2, mine), 0);
}

static void split_at_the_same_parallelism_gives_each_subtask_its_own_item(void **state)
{
    const uint32_t one_each[5] = {1, 1, 1, 1, 1};
    struct weir_state_item all[MAX_ITEMS], mine[MAX_ITEMS];
    size_t idx[MAX_ITEMS];
    size_t n = old_items(one_each, 5, all, idx);
    for (uint32_t s = 0; s < 5; s++) {
        assert_int_equal(chk_items_deal(all, n, WEIR_STATE_SPLIT, 5, s, mine), 1);
        assert_int_equal(mine[0].subtask, s);
    }
    check_split(one_each, 5, 5);
}

static void split_to_parallelism_one_gives_it_every_item_in_order(void **state)
{
    const uint32_t uneven[3] = {2, 0, 3};
    struct weir_state_item all[MAX_ITEMS], mine[MAX_ITEMS];
    size_t idx[MAX_ITEMS];
    size_t n = old_items(uneven, 3, all, idx);
    assert_int_equal(chk_items_deal(all, n, WEIR_STATE_SPLIT, 1, 0, mine), 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(*(const size_t *)mine[i].data, i);
    check_split(uneven, 3, 1);
}

static void union_gives_every_subtask_every_item(void **state)
{
    const uint32_t uneven[3] = {2, 0, 3};
    struct weir_state_item all[MAX_ITEMS], mine[MAX_ITEMS];
    size_t idx[MAX_ITEMS];
    size_t n = old_items(uneven, 3, all, idx);
    for (uint32_t np = 1; np <= 4; np++)
        for (uint32_t s = 0; s < np; s++) {
            assert_int_equal(chk_items_deal(all, n, WEIR_STATE_UNION, np, s, mine), n);
            for (size_t i = 0; i < n; i++)
                assert_int_equal(mine[i].subtask, all[i].subtask);
        }
}

static void empty_state_deals_nothing(void **state)
{
    const uint32_t none[3] = {0, 0, 0};
    struct weir_state_item all[MAX_ITEMS], mine[1];
    size_t idx[MAX_ITEMS];
    size_t n = old_items(none, 3, all, idx);
    assert_int_equal(n, 0);
    for (uint32_t np = 1; np <= 4; np++)
        for (uint32_t s = 0; s < np; s++) {
            assert_int_equal(chk_items_deal(all, 0, WEIR_STATE_SPLIT, np, s, mine), 0);
            assert_int_equal(chk_items_deal(all, 0, WEIR_STATE_UNION, np, s, mine), 0);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(split_to_a_lower_parallelism_deals_every_item_once),
        cmocka_unit_test(split_to_a_higher_parallelism_leaves_the_extra_subtasks_without_items),
        cmocka_unit_test(split_at_the_same_parallelism_gives_each_subtask_its_own_item),
        cmocka_unit_test(split_to_parallelism_one_gives_it_every_item_in_order),
        cmocka_unit_test(union_gives_every_subtask_every_item),
        cmocka_unit_test(empty_state_deals_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
