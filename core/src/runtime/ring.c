/*
 * SPSC ring of buffers: sizing and set-up. The fast paths are inline in weir/ring.h.
 */
#include <errno.h>
#include <string.h>

#include "weir/ring.h"

/* Bytes from the struct to buffer 0: the struct, then used[nbufs] rounded up to a line. */
static size_t data_offset(uint32_t nbufs)
{
    size_t used_bytes = (size_t)nbufs * sizeof(uint32_t);

    return sizeof(struct weir_ring) +
           (used_bytes + WEIR_RING_CACHE_LINE - 1) / WEIR_RING_CACHE_LINE * WEIR_RING_CACHE_LINE;
}

static int sizes_valid(uint32_t nbufs, uint32_t buf_size)
{
    if (nbufs < 2 || (nbufs & (nbufs - 1)) != 0)
        return 0;
    if (buf_size < WEIR_RING_CACHE_LINE || buf_size % WEIR_RING_CACHE_LINE != 0)
        return 0;
    /* data_off is kept in a uint32_t and the total must fit size_t. */
    if (data_offset(nbufs) > UINT32_MAX)
        return 0;
    if ((SIZE_MAX - data_offset(nbufs)) / nbufs < buf_size)
        return 0;
    return 1;
}

size_t weir_ring_memsize(uint32_t nbufs, uint32_t buf_size)
{
    if (!sizes_valid(nbufs, buf_size))
        return 0;
    return data_offset(nbufs) + (size_t)nbufs * buf_size;
}

int weir_ring_init(struct weir_ring *r, uint32_t nbufs, uint32_t buf_size)
{
    if (r == NULL || !sizes_valid(nbufs, buf_size))
        return -EINVAL;
    if ((uintptr_t)r % WEIR_RING_CACHE_LINE != 0)
        return -EINVAL;

    memset(r, 0, data_offset(nbufs));
    r->nbufs = nbufs;
    r->mask = nbufs - 1;
    r->buf_size = buf_size;
    r->data_off = (uint32_t)data_offset(nbufs);
    /* Both indices start at 0 and the cached copies agree: empty, nothing reserved. The
     * threads that will use the ring must be started after this (thread creation orders it). */
    return 0;
}

uint32_t weir_ring_nbufs(const struct weir_ring *r)
{
    return r->nbufs;
}

uint32_t weir_ring_buf_size(const struct weir_ring *r)
{
    return r->buf_size;
}
