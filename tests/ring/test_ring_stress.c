/*
 * weir_ring across two threads: tiny rings (2 and 4 buffers of 64 to 256 bytes) so that
 * both the full and the empty edge are hit all the time. The producer packs a random number
 * of sequence-numbered 8-byte records into each buffer (zero included) and commits; the
 * consumer takes random runs of buffers, checks every record against the next expected
 * number — a gap, a duplicate, a reordering or a torn write all show up as a mismatch —
 * and re-reads each buffer before releasing it to catch a producer that reuses a slot
 * too early.
 *
 * WEIR_RING_STRESS_RECORDS sets the records per case (default 1M, half that under a
 * sanitizer: the five cases take about 1 s on an idle 2-core machine, a few seconds on a busy
 * one); WEIR_RING_STRESS_SEED the random seed (printed, so that a failure can be rerun).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "weir/ring.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define DEFAULT_RECORDS (512u * 1024)
#else
#define DEFAULT_RECORDS (1024u * 1024)
#endif

/* Written past `used` in every buffer: a consumer that reads beyond it sees this. */
#define POISON UINT64_C(0xdeadbeefdeadbeef)

struct stress {
    struct weir_ring *ring;
    uint64_t records;
    uint64_t seed;
    int stop; /* __atomic: set by the side that fails, so the other stops spinning */

    /* Written by the consumer before it returns; read after pthread_join. */
    uint64_t received;
    uint64_t buffers;
    uint64_t empty_polls;
    char error[200];
    /* Written by the producer before it returns; read after pthread_join. */
    uint64_t full_polls;
    /* Written by the monitor before it returns; read after pthread_join. */
    uint64_t count_reads;
    uint32_t count_max;
    int done; /* __atomic: set by the main thread once producer and consumer are joined */
};

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Spin politely: on a loaded 2-core machine (ctest -j) the other side may share our core. */
static void backoff(uint32_t *spins)
{
    if (++*spins % 64 == 0)
        sched_yield();
    else
        __builtin_ia32_pause();
}

static int stopped(struct stress *st)
{
    return __atomic_load_n(&st->stop, __ATOMIC_ACQUIRE);
}

static void stress_fail(struct stress *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->error, sizeof(st->error), fmt, ap);
    va_end(ap);
    __atomic_store_n(&st->stop, 1, __ATOMIC_RELEASE);
}

/* Wait a short random while, to shift the two threads' phases. */
static void dither(uint64_t *rng)
{
    uint64_t r = xorshift(rng);
    if (r % 16 == 0) {
        for (uint64_t i = r % 512; i > 0; i--)
            __builtin_ia32_pause();
    }
}

static void *producer(void *arg)
{
    struct stress *st = arg;
    struct weir_ring *r = st->ring;
    const uint32_t cap = weir_ring_buf_size(r) / 8;
    uint64_t rng = st->seed * 2 + 1;
    uint64_t seq = 0;

    while (seq < st->records) {
        uint64_t *buf;
        uint32_t spins = 0;
        while ((buf = weir_ring_sp_reserve(r)) == NULL) {
            if (stopped(st))
                return NULL;
            st->full_polls++;
            backoff(&spins);
        }
        /* Same buffer until commit, however often we ask. */
        if (weir_ring_sp_reserve(r) != buf) {
            stress_fail(st, "producer: second reserve returned another buffer");
            return NULL;
        }
        uint32_t n = (uint32_t)(xorshift(&rng) % (cap + 1));
        if (n > st->records - seq)
            n = (uint32_t)(st->records - seq);
        for (uint32_t i = 0; i < n; i++)
            buf[i] = seq++;
        for (uint32_t i = n; i < cap; i++)
            buf[i] = POISON;
        weir_ring_sp_commit(r, n * 8);
        dither(&rng);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    struct stress *st = arg;
    struct weir_ring *r = st->ring;
    const uint32_t buf_size = weir_ring_buf_size(r);
    const uint32_t nbufs = weir_ring_nbufs(r);
    uint64_t rng = st->seed * 2 + 3;
    uint64_t expect = 0;

    while (expect < st->records) {
        /* A random run of buffers, then a pause. */
        uint32_t run = 1 + (uint32_t)(xorshift(&rng) % (2 * nbufs));
        for (uint32_t k = 0; k < run && expect < st->records; k++) {
            uint32_t used = UINT32_MAX;
            const uint64_t *buf;
            uint32_t spins = 0;
            while ((buf = weir_ring_sc_peek(r, &used)) == NULL) {
                if (stopped(st))
                    return NULL;
                st->empty_polls++;
                backoff(&spins);
            }
            uint32_t count = weir_ring_count(r);
            if (count < 1 || count > nbufs) {
                stress_fail(st, "consumer: count %u outside [1, %u] while holding a buffer", count,
                            nbufs);
                return NULL;
            }
            if (used > buf_size || used % 8 != 0) {
                stress_fail(st, "consumer: buffer %llu: used %u (buf_size %u)",
                            (unsigned long long)st->buffers, used, buf_size);
                return NULL;
            }
            uint32_t again_used;
            if (weir_ring_sc_peek(r, &again_used) != buf || again_used != used) {
                stress_fail(st, "consumer: second peek returned another buffer");
                return NULL;
            }
            uint64_t first = expect;
            for (uint32_t i = 0; i < used / 8; i++) {
                if (buf[i] != expect) {
                    stress_fail(st, "consumer: buffer %llu record %u: got %llu, expected %llu",
                                (unsigned long long)st->buffers, i, (unsigned long long)buf[i],
                                (unsigned long long)expect);
                    return NULL;
                }
                expect++;
            }
            if (used < buf_size && buf[used / 8] != POISON) {
                /* The producer poisoned the word past `used` before it committed. */
                stress_fail(st, "consumer: buffer %llu: word past used is %llx",
                            (unsigned long long)st->buffers, (unsigned long long)buf[used / 8]);
                return NULL;
            }
            dither(&rng);
            /* Still ours: the producer must not have touched it meanwhile. */
            for (uint32_t i = 0; i < used / 8; i++) {
                if (buf[i] != first + i) {
                    stress_fail(st,
                                "consumer: buffer %llu record %u changed to %llu before release",
                                (unsigned long long)st->buffers, i, (unsigned long long)buf[i]);
                    return NULL;
                }
            }
            weir_ring_sc_release(r);
            st->buffers++;
        }
        dither(&rng);
    }
    st->received = expect;
    /* Everything sent has arrived: nothing more may be published. */
    if (weir_ring_sc_peek(r, NULL) != NULL)
        stress_fail(st, "consumer: a buffer after the last record");
    return NULL;
}

/* A third thread reading weir_ring_count while both sides run, as a metrics reporter does:
 * the value must stay within [0, nbufs] (and ThreadSanitizer checks its loads). */
static void *monitor(void *arg)
{
    struct stress *st = arg;
    const uint32_t nbufs = weir_ring_nbufs(st->ring);
    while (!__atomic_load_n(&st->done, __ATOMIC_ACQUIRE)) {
        uint32_t count = weir_ring_count(st->ring);
        if (count > nbufs) {
            stress_fail(st, "monitor: count %u > nbufs %u", count, nbufs);
            return NULL;
        }
        if (count > st->count_max)
            st->count_max = count;
        st->count_reads++;
        sched_yield();
    }
    return NULL;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *s = getenv(name);
    if (s == NULL || *s == '\0')
        return dflt;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno != 0 || *end != '\0') {
        fprintf(stderr, "%s: %s: not a number\n", name, s);
        exit(2);
    }
    return v;
}

static void run_stress(uint32_t nbufs, uint32_t buf_size)
{
    struct stress st = {0};
    size_t bytes = weir_ring_memsize(nbufs, buf_size);
    assert_true(bytes > 0);
    st.ring = aligned_alloc(64, bytes);
    assert_non_null(st.ring);
    assert_int_equal(weir_ring_init(st.ring, nbufs, buf_size), 0);
    st.records = env_u64("WEIR_RING_STRESS_RECORDS", DEFAULT_RECORDS);
    st.seed = env_u64("WEIR_RING_STRESS_SEED", (uint64_t)time(NULL));

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t p, c, m;
    assert_int_equal(pthread_create(&m, NULL, monitor, &st), 0);
    assert_int_equal(pthread_create(&c, NULL, consumer, &st), 0);
    assert_int_equal(pthread_create(&p, NULL, producer, &st), 0);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    __atomic_store_n(&st.done, 1, __ATOMIC_RELEASE);
    pthread_join(m, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

    printf("    %u x %u B: %llu records in %llu buffers, %.2f s, seed %llu, "
           "%llu full / %llu empty polls, count read %llu times (max %u)\n",
           nbufs, buf_size, (unsigned long long)st.received, (unsigned long long)st.buffers, secs,
           (unsigned long long)st.seed, (unsigned long long)st.full_polls,
           (unsigned long long)st.empty_polls, (unsigned long long)st.count_reads, st.count_max);
    if (st.error[0] != '\0')
        fail_msg("%u x %u B, seed %llu: %s", nbufs, buf_size, (unsigned long long)st.seed,
                 st.error);
    assert_int_equal(st.received, st.records);
    assert_int_equal(weir_ring_count(st.ring), 0);
    /* Both edges must have been exercised, or the test proved little. */
    if (st.records >= 10000) {
        assert_true(st.full_polls > 0);
        assert_true(st.empty_polls > 0);
    }
    free(st.ring);
}

static void two_buffers_of_64_bytes(void **state)
{
    run_stress(2, 64);
}

static void two_buffers_of_256_bytes(void **state)
{
    run_stress(2, 256);
}

static void four_buffers_of_64_bytes(void **state)
{
    run_stress(4, 64);
}

static void four_buffers_of_192_bytes(void **state)
{
    run_stress(4, 192);
}

static void four_buffers_of_256_bytes(void **state)
{
    run_stress(4, 256);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(two_buffers_of_64_bytes),   cmocka_unit_test(two_buffers_of_256_bytes),
        cmocka_unit_test(four_buffers_of_64_bytes),  cmocka_unit_test(four_buffers_of_192_bytes),
        cmocka_unit_test(four_buffers_of_256_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
