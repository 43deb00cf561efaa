/*
 * weir_ring on one thread: sizing, full and empty, FIFO order, used bytes, count.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "weir/ring.h"

static struct weir_ring *ring_new(uint32_t nbufs, uint32_t buf_size)
{
    size_t bytes = weir_ring_memsize(nbufs, buf_size);
    assert_true(bytes > 0);
    struct weir_ring *r = aligned_alloc(64, (bytes + 63) / 64 * 64);
    assert_non_null(r);
    /* Garbage, not zeroes: init must not rely on the caller clearing the memory. */
    memset(r, 0xa5, bytes);
    assert_int_equal(weir_ring_init(r, nbufs, buf_size), 0);
    return r;
}

static void memsize_rejects_bad_sizes(void **state)
{
    assert_int_equal(weir_ring_memsize(0, 64), 0);
    assert_int_equal(weir_ring_memsize(1, 64), 0);
    assert_int_equal(weir_ring_memsize(3, 64), 0);
    assert_int_equal(weir_ring_memsize(12, 64), 0);
    assert_int_equal(weir_ring_memsize(4, 0), 0);
    assert_int_equal(weir_ring_memsize(4, 32), 0);
    assert_int_equal(weir_ring_memsize(4, 100), 0);
    assert_int_equal(weir_ring_memsize(4, 65), 0);
    assert_int_equal(weir_ring_memsize(UINT32_MAX, 64), 0);
    assert_int_equal(weir_ring_memsize(1u << 31, UINT32_MAX - 63), 0);
}

static void memsize_covers_buffers_and_is_line_multiple(void **state)
{
    static const uint32_t nbufs[] = {2, 4, 16, 1024};
    static const uint32_t sizes[] = {64, 192, 32768};
    for (size_t i = 0; i < sizeof(nbufs) / sizeof(nbufs[0]); i++) {
        for (size_t j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++) {
            size_t bytes = weir_ring_memsize(nbufs[i], sizes[j]);
            assert_true(bytes >= sizeof(struct weir_ring) + (size_t)nbufs[i] * sizes[j] +
                                     nbufs[i] * sizeof(uint32_t));
            assert_int_equal(bytes % 64, 0);
        }
    }
}

static void init_rejects_bad_sizes(void **state)
{
    struct weir_ring *r = ring_new(4, 64);
    assert_int_equal(weir_ring_init(r, 1, 64), -EINVAL);
    assert_int_equal(weir_ring_init(r, 3, 64), -EINVAL);
    assert_int_equal(weir_ring_init(r, 4, 0), -EINVAL);
    assert_int_equal(weir_ring_init(r, 4, 96), -EINVAL);
    assert_int_equal(weir_ring_init(NULL, 4, 64), -EINVAL);
    free(r);
}

static void init_rejects_misaligned_memory(void **state)
{
    size_t bytes = weir_ring_memsize(4, 64);
    char *mem = aligned_alloc(64, bytes + 64);
    assert_non_null(mem);
    assert_int_equal(weir_ring_init((struct weir_ring *)(void *)(mem + 8), 4, 64), -EINVAL);
    assert_int_equal(weir_ring_init((struct weir_ring *)(void *)(mem + 64), 4, 64), 0);
    free(mem);
}

static void init_reports_sizes(void **state)
{
    struct weir_ring *r = ring_new(8, 192);
    assert_int_equal(weir_ring_nbufs(r), 8);
    assert_int_equal(weir_ring_buf_size(r), 192);
    assert_int_equal(weir_ring_count(r), 0);
    free(r);
}

static void buffers_are_aligned_distinct_and_inside_the_block(void **state)
{
    const uint32_t n = 8, size = 192;
    struct weir_ring *r = ring_new(n, size);
    char *lo = (char *)r, *hi = lo + weir_ring_memsize(n, size);
    char *seen[8];
    for (uint32_t i = 0; i < n; i++) {
        char *b = weir_ring_sp_reserve(r);
        assert_non_null(b);
        assert_int_equal((uintptr_t)b % 64, 0);
        assert_true(b >= lo + sizeof(struct weir_ring) && b + size <= hi);
        for (uint32_t j = 0; j < i; j++)
            assert_true(b >= seen[j] + size || b + size <= seen[j]);
        seen[i] = b;
        memset(b, (int)i, size); /* ASan: the whole buffer is ours */
        weir_ring_sp_commit(r, size);
    }
    free(r);
}

static void reserve_is_null_exactly_when_full(void **state)
{
    static const uint32_t nbufs[] = {2, 4, 16};
    for (size_t k = 0; k < sizeof(nbufs) / sizeof(nbufs[0]); k++) {
        uint32_t n = nbufs[k];
        struct weir_ring *r = ring_new(n, 64);
        for (uint32_t i = 0; i < n; i++) {
            assert_non_null(weir_ring_sp_reserve(r));
            weir_ring_sp_commit(r, 0);
        }
        assert_null(weir_ring_sp_reserve(r));
        assert_null(weir_ring_sp_reserve(r));

        /* One release frees exactly one buffer. */
        assert_non_null(weir_ring_sc_peek(r, NULL));
        weir_ring_sc_release(r);
        assert_non_null(weir_ring_sp_reserve(r));
        weir_ring_sp_commit(r, 0);
        assert_null(weir_ring_sp_reserve(r));
        free(r);
    }
}

static void reserve_twice_returns_the_same_buffer(void **state)
{
    struct weir_ring *r = ring_new(4, 64);
    void *a = weir_ring_sp_reserve(r);
    assert_non_null(a);
    assert_ptr_equal(weir_ring_sp_reserve(r), a);
    weir_ring_sp_commit(r, 8);
    void *b = weir_ring_sp_reserve(r);
    assert_non_null(b);
    assert_ptr_not_equal(b, a);
    free(r);
}

static void reserve_without_commit_publishes_nothing(void **state)
{
    struct weir_ring *r = ring_new(4, 64);
    assert_non_null(weir_ring_sp_reserve(r));
    assert_null(weir_ring_sc_peek(r, NULL));
    assert_int_equal(weir_ring_count(r), 0);
    free(r);
}

static void peek_is_null_when_empty(void **state)
{
    struct weir_ring *r = ring_new(2, 64);
    uint32_t used = 12345;
    assert_null(weir_ring_sc_peek(r, &used));
    assert_int_equal(used, 12345); /* untouched when nothing is there */

    assert_non_null(weir_ring_sp_reserve(r));
    weir_ring_sp_commit(r, 0);
    assert_non_null(weir_ring_sc_peek(r, &used));
    weir_ring_sc_release(r);
    assert_null(weir_ring_sc_peek(r, &used));
    free(r);
}

static void peek_twice_returns_the_same_buffer(void **state)
{
    struct weir_ring *r = ring_new(4, 64);
    for (int i = 0; i < 2; i++) {
        *(uint64_t *)weir_ring_sp_reserve(r) = (uint64_t)i;
        weir_ring_sp_commit(r, 8);
    }
    const void *a = weir_ring_sc_peek(r, NULL);
    assert_ptr_equal(weir_ring_sc_peek(r, NULL), a);
    assert_int_equal(*(const uint64_t *)a, 0);
    weir_ring_sc_release(r);
    const void *b = weir_ring_sc_peek(r, NULL);
    assert_ptr_not_equal(b, a);
    assert_int_equal(*(const uint64_t *)b, 1);
    free(r);
}

static void consumer_sees_the_producers_buffer(void **state)
{
    struct weir_ring *r = ring_new(4, 128);
    void *w = weir_ring_sp_reserve(r);
    weir_ring_sp_commit(r, 128);
    assert_ptr_equal(weir_ring_sc_peek(r, NULL), w);
    free(r);
}

/* Many laps of the ring, so that the indices wrap the slots many times, with the producer
 * running a varying distance ahead of the consumer. */
static void buffers_arrive_in_fifo_order_with_their_used_bytes(void **state)
{
    const uint32_t n = 4, size = 256;
    struct weir_ring *r = ring_new(n, size);
    uint64_t next_in = 0, next_out = 0;
    for (int round = 0; round < 1000; round++) {
        int burst = 1 + round % (int)n;
        for (int i = 0; i < burst; i++) {
            uint64_t *b = weir_ring_sp_reserve(r);
            if (!b)
                break;
            uint32_t used = (uint32_t)(next_in % (size / 8 + 1)) * 8;
            for (uint32_t j = 0; j < used / 8; j++)
                b[j] = next_in * 1000 + j;
            weir_ring_sp_commit(r, used);
            next_in++;
        }
        int drain = 1 + (round * 7) % (int)n;
        for (int i = 0; i < drain; i++) {
            uint32_t used = UINT32_MAX;
            const uint64_t *b = weir_ring_sc_peek(r, &used);
            if (!b)
                break;
            assert_int_equal(used, (uint32_t)(next_out % (size / 8 + 1)) * 8);
            for (uint32_t j = 0; j < used / 8; j++)
                assert_int_equal(b[j], next_out * 1000 + j);
            weir_ring_sc_release(r);
            next_out++;
        }
        assert_int_equal(weir_ring_count(r), next_in - next_out);
    }
    assert_true(next_out > 3 * n);
    free(r);
}

static void used_bytes_round_trip_at_the_limits(void **state)
{
    const uint32_t size = 32768;
    struct weir_ring *r = ring_new(2, size);
    static const uint32_t values[] = {0, 1, 63, 64, 32767, 32768};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        assert_non_null(weir_ring_sp_reserve(r));
        weir_ring_sp_commit(r, values[i]);
        uint32_t used = UINT32_MAX;
        assert_non_null(weir_ring_sc_peek(r, &used));
        assert_int_equal(used, values[i]);
        weir_ring_sc_release(r);
    }
    free(r);
}

static void count_follows_commits_and_releases(void **state)
{
    const uint32_t n = 8;
    struct weir_ring *r = ring_new(n, 64);
    for (uint32_t i = 1; i <= n; i++) {
        weir_ring_sp_reserve(r);
        assert_int_equal(weir_ring_count(r), i - 1); /* reserve alone does not count */
        weir_ring_sp_commit(r, 0);
        assert_int_equal(weir_ring_count(r), i);
    }
    for (uint32_t i = n; i > 0; i--) {
        weir_ring_sc_peek(r, NULL);
        assert_int_equal(weir_ring_count(r), i); /* peek alone does not count */
        weir_ring_sc_release(r);
        assert_int_equal(weir_ring_count(r), i - 1);
    }
    free(r);
}

/* The uint32_t indices wrap after 2^32 buffers; start just below so the wrap happens here. */
static void indices_wrap_around_uint32(void **state)
{
    const uint32_t n = 4;
    struct weir_ring *r = ring_new(n, 64);
    const uint32_t start = UINT32_MAX - 5;
    r->prod.head = r->prod.cached_tail = start;
    r->cons.tail = r->cons.cached_head = start;
    for (uint32_t i = 0; i < 20; i++) {
        for (uint32_t k = 0; k < n; k++) {
            uint32_t *b = weir_ring_sp_reserve(r);
            assert_non_null(b);
            *b = i * n + k;
            weir_ring_sp_commit(r, 4);
        }
        assert_null(weir_ring_sp_reserve(r));
        assert_int_equal(weir_ring_count(r), n);
        for (uint32_t k = 0; k < n; k++) {
            uint32_t used;
            const uint32_t *b = weir_ring_sc_peek(r, &used);
            assert_non_null(b);
            assert_int_equal(used, 4);
            assert_int_equal(*b, i * n + k);
            weir_ring_sc_release(r);
        }
        assert_null(weir_ring_sc_peek(r, NULL));
        assert_int_equal(weir_ring_count(r), 0);
    }
    free(r);
}

/* ---- barrier announcements (unaligned checkpoints) ---------------------------------------- */

/* An announcement marks the producer's position: the buffers committed before it are the
 * records in flight ahead of the barrier, whatever the consumer has read meanwhile. */
static void announcement_marks_the_producer_position(void **state)
{
    struct weir_ring *r = ring_new(8, 64);
    uint64_t id = 0;
    uint32_t pos = 0;
    assert_false(weir_ring_sc_announcement(r, &id, &pos));
    for (int i = 0; i < 3; i++) {
        weir_ring_sp_reserve(r);
        weir_ring_sp_commit(r, 8);
    }
    weir_ring_sc_peek(r, NULL);
    weir_ring_sc_release(r); /* the consumer has read one of the three */
    assert_int_equal(weir_ring_sp_announce(r, 42), 0);
    weir_ring_sp_reserve(r);
    weir_ring_sp_commit(r, 8); /* after the barrier */
    assert_true(weir_ring_sc_announcement(r, &id, &pos));
    assert_int_equal(id, 42);
    assert_int_equal(pos - weir_ring_sc_tail(r), 2);       /* two buffers ahead of the barrier */
    assert_false(weir_ring_sc_announcement(r, &id, &pos)); /* each is taken once */
    free(r);
}

static void announcements_arrive_in_order_once(void **state)
{
    struct weir_ring *r = ring_new(4, 64);
    for (uint64_t round = 0; round < 10; round++) {
        for (uint64_t k = 0; k < 3; k++) {
            weir_ring_sp_reserve(r);
            weir_ring_sp_commit(r, 8);
            assert_int_equal(weir_ring_sp_announce(r, round * 3 + k + 1), 0);
            weir_ring_sc_peek(r, NULL);
            weir_ring_sc_release(r);
        }
        for (uint64_t k = 0; k < 3; k++) {
            uint64_t id = 0;
            uint32_t pos = 0;
            assert_true(weir_ring_sc_announcement(r, &id, &pos));
            assert_int_equal(id, round * 3 + k + 1);
            assert_int_equal(pos, weir_ring_sc_tail(r) - 2 + (uint32_t)k);
        }
        uint64_t id;
        uint32_t pos;
        assert_false(weir_ring_sc_announcement(r, &id, &pos));
    }
    free(r);
}

/* Unread announcements are never overwritten: the producer is told, and the barrier then
 * stays an in-band (aligned) one on that channel. */
static void announce_refuses_when_the_queue_is_full(void **state)
{
    struct weir_ring *r = ring_new(4, 64);
    for (uint64_t i = 1; i <= WEIR_RING_ANNOUNCE_MAX; i++)
        assert_int_equal(weir_ring_sp_announce(r, i), 0);
    assert_int_equal(weir_ring_sp_announce(r, 99), -EAGAIN);
    uint64_t id;
    uint32_t pos;
    assert_true(weir_ring_sc_announcement(r, &id, &pos));
    assert_int_equal(id, 1);
    assert_int_equal(weir_ring_sp_announce(r, 100), 0);
    free(r);
}

/* The consumer reads the buffers ahead of a barrier without releasing them. */
static void peek_at_reads_published_buffers_without_releasing(void **state)
{
    struct weir_ring *r = ring_new(4, 64);
    for (uint32_t i = 0; i < 3; i++) {
        uint32_t *b = weir_ring_sp_reserve(r);
        *b = 7 + i;
        weir_ring_sp_commit(r, 4 + 4 * i);
    }
    for (uint32_t k = 0; k < 3; k++) {
        uint32_t used = 0;
        const uint32_t *b = weir_ring_sc_peek_at(r, k, &used);
        assert_non_null(b);
        assert_int_equal(*b, 7 + k);
        assert_int_equal(used, 4 + 4 * k);
    }
    assert_null(weir_ring_sc_peek_at(r, 3, NULL));
    assert_int_equal(weir_ring_count(r), 3);
    const uint32_t *b = weir_ring_sc_peek(r, NULL);
    assert_int_equal(*b, 7);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(memsize_rejects_bad_sizes),
        cmocka_unit_test(memsize_covers_buffers_and_is_line_multiple),
        cmocka_unit_test(init_rejects_bad_sizes),
        cmocka_unit_test(init_rejects_misaligned_memory),
        cmocka_unit_test(init_reports_sizes),
        cmocka_unit_test(buffers_are_aligned_distinct_and_inside_the_block),
        cmocka_unit_test(reserve_is_null_exactly_when_full),
        cmocka_unit_test(reserve_twice_returns_the_same_buffer),
        cmocka_unit_test(reserve_without_commit_publishes_nothing),
        cmocka_unit_test(peek_is_null_when_empty),
        cmocka_unit_test(peek_twice_returns_the_same_buffer),
        cmocka_unit_test(consumer_sees_the_producers_buffer),
        cmocka_unit_test(buffers_arrive_in_fifo_order_with_their_used_bytes),
        cmocka_unit_test(used_bytes_round_trip_at_the_limits),
        cmocka_unit_test(count_follows_commits_and_releases),
        cmocka_unit_test(indices_wrap_around_uint32),
        cmocka_unit_test(announcement_marks_the_producer_position),
        cmocka_unit_test(announcements_arrive_in_order_once),
        cmocka_unit_test(announce_refuses_when_the_queue_is_full),
        cmocka_unit_test(peek_at_reads_published_buffers_without_releasing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
