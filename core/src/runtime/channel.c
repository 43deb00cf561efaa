/*
 * Channels, producer side: a writer fills the ring buffer it has reserved in
 * place; when the ring is full, records go to the writer's overflow and the
 * task is backpressured (task_backpressured) until the overflow has drained.
 * The per-record fast path (writer_put) is inline in runtime_private.h.
 *
 * Waking a consumer or producer on another worker follows the Dekker protocol
 * described in worker.c: poke() in runtime_private.h and futex_wake here.
 */
#include <errno.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "runtime_private.h"

void futex_wake(_Atomic uint32_t *addr)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

void futex_wait(_Atomic uint32_t *addr, uint32_t val, long ns)
{
    struct timespec ts = {.tv_sec = ns / 1000000000L, .tv_nsec = ns % 1000000000L};
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
}

void rt_wake_workers(struct runtime *rt)
{
    for (int w = 0; w < rt->n_workers; w++)
        poke(NULL, &rt->workers[w]);
}

int ovf_append(struct writer *w, const weir_rec *r, uint32_t sz)
{
    if (w->ovf_len + sz > w->ovf_cap) {
        size_t ncap = w->ovf_cap ? w->ovf_cap * 2 : 65536;
        while (ncap < w->ovf_len + sz)
            ncap *= 2;
        unsigned char *p = realloc(w->ovf, ncap);
        if (!p)
            return -ENOMEM;
        w->ovf = p;
        w->ovf_cap = ncap;
    }
    memcpy(w->ovf + w->ovf_len, r, WEIR_REC_HEADER + r->len);
    w->ovf_len += sz;
    return 0;
}

/* Moves overflow into the ring; true when nothing is left over. A partly
 * filled last buffer is published too: it only exists under backpressure. */
static bool writer_drain(struct writer *w)
{
    size_t off = w->ovf_head;
    while (off < w->ovf_len) {
        const weir_rec *r = (const weir_rec *)(w->ovf + off);
        uint32_t sz = weir_rec_size(r->len);
        if (!w->buf || w->used + sz > w->cap) {
            if (w->buf)
                writer_commit(w);
            if (!writer_reserve(w))
                break;
        }
        memcpy(w->buf + w->used, r, WEIR_REC_HEADER + r->len);
        w->used += sz;
        off += sz;
    }
    /* Drained records are skipped by offset, not moved; the buffer is reused
     * from its start once empty. */
    w->ovf_head = off;
    if (w->barrier_id && off > w->barrier_at)
        w->barrier_id = 0; /* the held barrier is in the ring now (checkpoint/barrier.c) */
    if (w->ovf_head == w->ovf_len)
        w->ovf_head = w->ovf_len = 0;
    if (w->ovf_len == 0 && w->buf && w->used)
        writer_commit(w);
    return w->ovf_len == 0;
}

/* Bytes the writer can take without overflowing: free ring buffers plus what
 * is left of the one being filled. Producer-side view, so never too high. */
static inline uint64_t writer_room(const struct writer *w)
{
    if (w->ovf_len)
        return 0;
    uint32_t nb = weir_ring_nbufs(w->ring), full = weir_ring_count(w->ring);
    uint64_t free_bufs = full < nb ? nb - full : 0;
    if (w->buf)
        return (free_bufs ? free_bufs - 1 : 0) * w->cap + (w->cap - w->used);
    return free_bufs * w->cap;
}

bool task_backpressured(struct task *t)
{
    bool blocked = false;
    for (int i = 0; i < t->n_routes; i++)
        for (int j = 0; j < t->routes[i].n; j++) {
            struct writer *w = t->routes[i].w[j];
            if (w->ovf_len && !writer_drain(w))
                blocked = true;
        }
    return blocked;
}

/* The least room over the task's writers (UINT64_MAX for a sink). Producers
 * size their next batch by it, so overflow stays the exception. */
uint64_t task_room(const struct task *t)
{
    uint64_t room = UINT64_MAX;
    for (int i = 0; i < t->n_routes; i++)
        for (int j = 0; j < t->routes[i].n; j++) {
            uint64_t r = writer_room(t->routes[i].w[j]);
            if (r < room)
                room = r;
        }
    return room;
}

bool task_flushed(struct task *t)
{
    for (int i = 0; i < t->n_routes; i++)
        for (int j = 0; j < t->routes[i].n; j++) {
            struct writer *w = t->routes[i].w[j];
            writer_flush(w);
            if (w->ovf_len || (w->buf && w->used))
                return false;
        }
    return true;
}

void task_flush_timeout(struct task *t, uint64_t now, uint64_t timeout_ns)
{
    for (int i = 0; i < t->n_routes; i++)
        for (int j = 0; j < t->routes[i].n; j++) {
            struct writer *w = t->routes[i].w[j];
            if (w->buf && w->used && now - w->first_ns >= timeout_ns)
                writer_flush(w);
        }
}
