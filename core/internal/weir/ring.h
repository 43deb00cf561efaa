/*
 * SPSC ring of buffers: the channel that carries records between two worker threads.
 *
 * A ring holds nbufs fixed-size buffers (nbufs a power of two >= 2, buf_size a multiple of
 * 64 >= 64) in memory the caller provides — the runtime takes it from hugepages on the
 * consumer's NUMA node. One producer thread fills a buffer in place and publishes it; one
 * consumer thread reads it in place and hands it back. Nothing is copied by the ring, and in
 * steady state a reserve/commit or peek/release pair touches one cache line shared with the
 * other side (plus the buffer itself and its `used` word): each side keeps a private copy of
 * the other side's index and reloads it only when the ring looks full (producer) or empty
 * (consumer).
 *
 *     size_t bytes = weir_ring_memsize(16, 32768);       // 0: bad sizes
 *     struct weir_ring *r = weir_numa_alloc(topo, bytes, consumer_node, NULL); // page-aligned
 *     weir_ring_init(r, 16, 32768);
 *
 *     // producer thread
 *     void *buf = weir_ring_sp_reserve(r);               // NULL: full, try later
 *     if (buf) {
 *         uint32_t n = pack_records(buf, weir_ring_buf_size(r));
 *         weir_ring_sp_commit(r, n);                     // consumer may now see it
 *     }
 *
 *     // consumer thread
 *     uint32_t used;
 *     const void *in = weir_ring_sc_peek(r, &used);      // NULL: empty
 *     if (in) {
 *         process_records(in, used);
 *         weir_ring_sc_release(r);                       // producer may now reuse it
 *     }
 *
 * Contract: exactly one thread calls the _sp_ functions and exactly one the _sc_ functions
 * (they may be the same thread). weir_ring_sp_commit must follow a weir_ring_sp_reserve that
 * returned a buffer, and weir_ring_sc_release a weir_ring_sc_peek that returned one. The
 * producer must not touch a buffer after committing it, nor the consumer after releasing it.
 * weir_ring_count may be called from any thread and is approximate.
 *
 * Memory layout (one block of weir_ring_memsize bytes, starting at the struct):
 *
 *     struct weir_ring   config line | producer line | pad | consumer line | pad
 *     uint32_t used[nbufs]           rounded up to 64 bytes
 *     buffers            nbufs * buf_size, each 64-byte aligned
 *
 * The producer and consumer lines are 128 bytes apart so that the adjacent-line prefetcher
 * of one core does not drag the other side's line along with its own.
 *
 * Indices are free-running uint32_t counters: `head` counts commits, `tail` counts releases;
 * head - tail (mod 2^32) is the number of published, unreleased buffers, and buffer i lives
 * in slot i & (nbufs - 1).
 *
 * Barrier announcements (unaligned checkpoints): besides its buffers a ring carries a small
 * queue of announcements, written by the producer and taken by the consumer: checkpoint id
 * and the producer's head when it was announced, i.e. the buffers ahead of the barrier. A
 * consumer that sees an announcement can read those buffers in place (weir_ring_sc_peek_at)
 * before it has consumed them: that is how a barrier overtakes the records in flight. The
 * barrier itself still travels in-band too.
 *
 * Atomics are the GCC/Clang __atomic builtins on plain uint32_t fields: the same code is
 * C11-atomic in C and compiles unchanged as C++17 (the benchmarks include this header), and
 * ThreadSanitizer understands them.
 */
#ifndef WEIR_RING_H
#define WEIR_RING_H

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WEIR_RING_CACHE_LINE 64
/* Unread barrier announcements a ring holds (weir_ring_sp_announce). */
#define WEIR_RING_ANNOUNCE_MAX 8

struct weir_ring;

/* Bytes the caller must provide for a ring, to be 64-byte aligned; 0 if nbufs is not a power
 * of two >= 2 or buf_size is not a multiple of 64 >= 64 (or the total overflows size_t). */
size_t weir_ring_memsize(uint32_t nbufs, uint32_t buf_size);

/* Make r (weir_ring_memsize(nbufs, buf_size) bytes, 64-byte aligned) an empty ring.
 * Returns 0, or -EINVAL for bad sizes or a misaligned r. Not thread-safe: call it before
 * either side starts. */
int weir_ring_init(struct weir_ring *r, uint32_t nbufs, uint32_t buf_size);

/* @internal The layout is public only so that the fast paths below can be inlined. */
struct weir_ring {
    /* Config line: written by weir_ring_init, then only read, by both sides. */
    uint32_t nbufs;    /* @internal power of two >= 2 */
    uint32_t mask;     /* @internal nbufs - 1 */
    uint32_t buf_size; /* @internal multiple of 64 */
    uint32_t data_off; /* @internal bytes from the struct to buffer 0 */
    uint8_t pad0_[WEIR_RING_CACHE_LINE - 4 * sizeof(uint32_t)];

    /* Producer line: written only by the producer; the consumer reads `head`. */
    struct {
        uint32_t head;        /* @internal commits so far; release-stored, see sp_commit */
        uint32_t cached_tail; /* @internal producer's copy of cons.tail, may be stale */
    } prod __attribute__((aligned(WEIR_RING_CACHE_LINE)));
    uint8_t pad1_[2 * WEIR_RING_CACHE_LINE - 2 * sizeof(uint32_t)];

    /* Consumer line: written only by the consumer; the producer reads `tail`. */
    struct {
        uint32_t tail;        /* @internal releases so far; release-stored, see sc_release */
        uint32_t cached_head; /* @internal consumer's copy of prod.head, may be stale */
    } cons __attribute__((aligned(WEIR_RING_CACHE_LINE)));
    uint8_t pad2_[2 * WEIR_RING_CACHE_LINE - 2 * sizeof(uint32_t)];

    /* Announcement lines (unaligned checkpoints): a queue of barriers announced out of band,
     * written only by the producer (ann.v[], ann.head), on lines of their own so that the
     * consumer's once-per-batch look at ann.head reads a line that changes only when a
     * barrier is announced. */
    struct {
        uint32_t head; /* @internal announcements made; release-stored, see sp_announce */
        uint32_t pad_;
        struct {
            uint64_t id;  /* @internal the barrier's checkpoint id */
            uint32_t pos; /* @internal prod.head when it was announced */
            uint32_t pad_;
        } v[WEIR_RING_ANNOUNCE_MAX];
    } ann __attribute__((aligned(WEIR_RING_CACHE_LINE)));
    /* Written only by the consumer; the producer reads it when it announces. */
    struct {
        uint32_t tail; /* @internal announcements taken; release-stored, see sc_announcement */
    } ann_cons __attribute__((aligned(WEIR_RING_CACHE_LINE)));
    uint8_t pad3_[WEIR_RING_CACHE_LINE - sizeof(uint32_t)];

    /* Followed in the same block by uint32_t used[nbufs], then the buffers. */
} __attribute__((aligned(WEIR_RING_CACHE_LINE)));

uint32_t weir_ring_nbufs(const struct weir_ring *r);
uint32_t weir_ring_buf_size(const struct weir_ring *r);

/* @internal bytes of content of each slot, written by the producer before it publishes. */
static inline uint32_t *weir_ring_used_(const struct weir_ring *r)
{
    return (uint32_t *)(uintptr_t)(r + 1);
}

/* @internal the buffer of slot (idx & mask). */
static inline char *weir_ring_slot_(const struct weir_ring *r, uint32_t idx)
{
    return (char *)(uintptr_t)r + r->data_off + (size_t)(idx & r->mask) * r->buf_size;
}

/* ---- producer side ---------------------------------------------------------------------- */

/* The next free buffer (buf_size bytes, 64-byte aligned) for the producer to fill, or NULL
 * when every buffer is published and not yet released. Calling it again before
 * weir_ring_sp_commit returns the same buffer. */
static inline void *weir_ring_sp_reserve(struct weir_ring *r)
{
    /* Only the producer writes prod.head, so its own relaxed load sees its latest value. */
    uint32_t head = __atomic_load_n(&r->prod.head, __ATOMIC_RELAXED);

    if (__builtin_expect(head - r->prod.cached_tail == r->nbufs, 0)) {
        /* Looks full: reload the consumer's index. This acquire load pairs with the release
         * store of cons.tail in weir_ring_sc_release: once we see tail = t, the consumer has
         * finished every read of the buffers it released before t, so overwriting slot
         * (t - 1) & mask below cannot race with those reads. */
        r->prod.cached_tail = __atomic_load_n(&r->cons.tail, __ATOMIC_ACQUIRE);
        if (head - r->prod.cached_tail == r->nbufs)
            return NULL;
    }
    return weir_ring_slot_(r, head);
}

/* Publish the reserved buffer with its first `used` bytes as content (used <= buf_size). */
static inline void weir_ring_sp_commit(struct weir_ring *r, uint32_t used)
{
    uint32_t head = __atomic_load_n(&r->prod.head, __ATOMIC_RELAXED);

    /* A stale cached_tail only understates the free space, so head - cached_tail < nbufs
     * proves the slot is free: it holds exactly when a reserve succeeded since the last
     * commit. */
    assert(head - r->prod.cached_tail < r->nbufs && "weir_ring_sp_commit without a reserve");
    assert(used <= r->buf_size);

    weir_ring_used_(r)[head & r->mask] = used;
    /* This release store pairs with the acquire load of prod.head in weir_ring_sc_peek: a
     * consumer that sees head + 1 also sees used[] above and everything the producer wrote
     * into the buffer. */
    __atomic_store_n(&r->prod.head, head + 1, __ATOMIC_RELEASE);
}

/* ---- consumer side ---------------------------------------------------------------------- */

/* The oldest published buffer, with its content length in *used (if used is not NULL), or
 * NULL when none is published. Returns the same buffer until weir_ring_sc_release. */
static inline const void *weir_ring_sc_peek(struct weir_ring *r, uint32_t *used)
{
    /* Only the consumer writes cons.tail. */
    uint32_t tail = __atomic_load_n(&r->cons.tail, __ATOMIC_RELAXED);

    if (tail == r->cons.cached_head) {
        /* Looks empty: reload the producer's index. This acquire load pairs with the release
         * store of prod.head in weir_ring_sp_commit, so that the buffers and used[] entries
         * of every commit up to the value seen are visible to the reads below. */
        r->cons.cached_head = __atomic_load_n(&r->prod.head, __ATOMIC_ACQUIRE);
        if (tail == r->cons.cached_head)
            return NULL;
    }
    if (used)
        *used = weir_ring_used_(r)[tail & r->mask];
    return weir_ring_slot_(r, tail);
}

/* Hand the peeked buffer back to the producer. */
static inline void weir_ring_sc_release(struct weir_ring *r)
{
    uint32_t tail = __atomic_load_n(&r->cons.tail, __ATOMIC_RELAXED);

    assert(tail != r->cons.cached_head && "weir_ring_sc_release without a peek");
    /* This release store pairs with the acquire load of cons.tail in weir_ring_sp_reserve:
     * our reads of the buffer (and of its used[] entry) happen before the producer's next
     * writes to that slot. */
    __atomic_store_n(&r->cons.tail, tail + 1, __ATOMIC_RELEASE);
}

/* ---- barrier announcements (unaligned checkpoints) -------------------------------------- */

/* Producer: announces the barrier of checkpoint id out of band, at the ring's current
 * position: the buffers committed so far are the ones ahead of the barrier (what the
 * producer still holds unpublished is its own to account for). The barrier itself still goes
 * in-band after them. 0, or -EAGAIN when WEIR_RING_ANNOUNCE_MAX announcements are unread:
 * none is ever overwritten. */
static inline int weir_ring_sp_announce(struct weir_ring *r, uint64_t id)
{
    uint32_t h = __atomic_load_n(&r->ann.head, __ATOMIC_RELAXED);
    /* acquire: pairs with the release store of ann_cons.tail in weir_ring_sc_announcement,
     * after which the consumer no longer reads the entry we may now overwrite */
    if (h - __atomic_load_n(&r->ann_cons.tail, __ATOMIC_ACQUIRE) >= WEIR_RING_ANNOUNCE_MAX)
        return -EAGAIN;
    r->ann.v[h % WEIR_RING_ANNOUNCE_MAX].id = id;
    r->ann.v[h % WEIR_RING_ANNOUNCE_MAX].pos = __atomic_load_n(&r->prod.head, __ATOMIC_RELAXED);
    /* This release store pairs with the acquire load of ann.head in
     * weir_ring_sc_announcement: a consumer that sees the announcement sees its entry, and
     * (prod.head having been stored before) every buffer committed ahead of the barrier. A
     * consumer that sees a buffer committed after it (acquire on prod.head) sees it too. */
    __atomic_store_n(&r->ann.head, h + 1, __ATOMIC_RELEASE);
    return 0;
}

/* Consumer: takes the oldest unread announcement: its checkpoint id and position (compare
 * with weir_ring_sc_tail: pos - tail buffers are ahead of the barrier). false when none. */
static inline bool weir_ring_sc_announcement(struct weir_ring *r, uint64_t *id, uint32_t *pos)
{
    uint32_t t = __atomic_load_n(&r->ann_cons.tail, __ATOMIC_RELAXED);
    if (t == __atomic_load_n(&r->ann.head, __ATOMIC_ACQUIRE))
        return false;
    *id = r->ann.v[t % WEIR_RING_ANNOUNCE_MAX].id;
    *pos = r->ann.v[t % WEIR_RING_ANNOUNCE_MAX].pos;
    /* release: pairs with the acquire load of ann_cons.tail in weir_ring_sp_announce */
    __atomic_store_n(&r->ann_cons.tail, t + 1, __ATOMIC_RELEASE);
    return true;
}

/* Consumer: the position of the buffer weir_ring_sc_peek returns (releases so far). */
static inline uint32_t weir_ring_sc_tail(const struct weir_ring *r)
{
    return __atomic_load_n(&r->cons.tail, __ATOMIC_RELAXED);
}

/* Consumer: the k-th published, unreleased buffer (k = 0 is weir_ring_sc_peek's), with its
 * content length in *used, or NULL when fewer than k + 1 are published. Releases nothing:
 * the producer cannot reuse any of them until the consumer releases them in order. */
static inline const void *weir_ring_sc_peek_at(struct weir_ring *r, uint32_t k, uint32_t *used)
{
    uint32_t tail = __atomic_load_n(&r->cons.tail, __ATOMIC_RELAXED);
    if (r->cons.cached_head - tail <= k)
        /* acquire: as in weir_ring_sc_peek */
        r->cons.cached_head = __atomic_load_n(&r->prod.head, __ATOMIC_ACQUIRE);
    if (r->cons.cached_head - tail <= k)
        return NULL;
    if (used)
        *used = weir_ring_used_(r)[(tail + k) & r->mask];
    return weir_ring_slot_(r, tail + k);
}

/* ---- any thread ------------------------------------------------------------------------- */

/* Buffers published and not yet released: the ring's fill, for metrics. Approximate while
 * either side runs, but always in [0, nbufs]. */
static inline uint32_t weir_ring_count(const struct weir_ring *r)
{
    /* Tail first, with acquire: it pairs with the release store in weir_ring_sc_release,
     * which the consumer made after its acquire load of a head >= that tail, so the head we
     * load next is at least the tail we saw and the difference cannot wrap below zero. The
     * head can run ahead meanwhile, hence the clamp. */
    uint32_t tail = __atomic_load_n(&r->cons.tail, __ATOMIC_ACQUIRE);
    uint32_t head = __atomic_load_n(&r->prod.head, __ATOMIC_ACQUIRE);
    uint32_t n = head - tail;

    return n < r->nbufs ? n : r->nbufs;
}

#ifdef __cplusplus
}
#endif
#endif
