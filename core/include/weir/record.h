/*
 * Records and the collector operators emit them into: the per-record fast path.
 *
 * A record is a 16-byte header (payload length, kind, event timestamp) followed
 * by the payload, padded to 8 bytes; records lie back to back in ring buffers and
 * are read in place. The engine never interprets a data record's payload; a job
 * casts it to its own struct.
 *
 * An operator emits either by copying a finished payload or by reserving space,
 * filling it in place and committing:
 *
 *     struct bid *b = weir_emit_reserve(out, sizeof *b);
 *     if (!b)
 *         return -ENOMEM;
 *     *b = (struct bid){.auction = a, .price = p};
 *     return weir_emit_commit(out, in->ts);
 *
 * @internal fields of struct weir_emit are the runtime's; operators use only the
 * functions below.
 */
#ifndef WEIR_RECORD_H
#define WEIR_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Record kinds. Control events travel in-band, in order with the data. */
enum weir_rec_kind {
    WEIR_REC_DATA = 0,
    WEIR_REC_WATERMARK = 1, /* ts = the watermark */
    WEIR_REC_BARRIER = 2,   /* ts = checkpoint id */
    WEIR_REC_END = 3,       /* end of input on this channel */
    WEIR_REC_STATUS = 4,    /* ts = 1: the channel went idle, 0: active again */
};

typedef struct weir_rec {
    uint32_t len;  /* payload bytes */
    uint16_t kind; /* enum weir_rec_kind */
    uint16_t flags;
    int64_t ts; /* event timestamp in ms (INT64_MIN when none) */
    unsigned char data[];
} weir_rec;

#define WEIR_REC_HEADER ((uint32_t)sizeof(weir_rec))
#define WEIR_TS_NONE    INT64_MIN

/* weir_rec.flags: the payload is a struct weir_kafka_rec as a Kafka source emitted it
 * (weir_ctx_reject then sends the original Kafka record to the dead-letter queue). */
#define WEIR_REC_F_KAFKA 0x1u

/* Bytes a record with `len` payload bytes takes in a buffer. */
static inline uint32_t weir_rec_size(uint32_t len)
{
    return WEIR_REC_HEADER + ((len + 7u) & ~7u);
}

static inline const weir_rec *weir_rec_next(const weir_rec *r)
{
    return (const weir_rec *)((const unsigned char *)r + weir_rec_size(r->len));
}

typedef struct weir_emit weir_emit;

/* @internal: the runtime's collector. push() takes a complete record. */
struct weir_emit {
    int (*push)(struct weir_emit *e, const weir_rec *r);
    void *target;
    unsigned char *scratch; /* 8-aligned, holds one record being built */
    uint32_t scratch_cap;   /* payload bytes available after the header */
    uint32_t pending_len;
};

/* Space for a payload of len bytes, valid until commit; NULL when len exceeds the
 * largest record a buffer holds (memory.segment-size minus the header). */
static inline void *weir_emit_reserve(weir_emit *out, uint32_t len)
{
    if (len > out->scratch_cap)
        return NULL;
    out->pending_len = len;
    return out->scratch + WEIR_REC_HEADER;
}

/* Emits the reserved record with event timestamp ts (and weir_rec.flags: connectors only,
 * weir_emit_commit passes 0). Returns 0 or a negative errno from downstream (which fails
 * the job). */
static inline int weir_emit_commit_flags(weir_emit *out, int64_t ts, uint16_t flags)
{
    weir_rec *r = (weir_rec *)out->scratch;
    r->len = out->pending_len;
    r->kind = WEIR_REC_DATA;
    r->flags = flags;
    r->ts = ts;
    return out->push(out, r);
}

static inline int weir_emit_commit(weir_emit *out, int64_t ts)
{
    return weir_emit_commit_flags(out, ts, 0);
}

/* Emits a copy of data[0..len). */
static inline int weir_emit_copy(weir_emit *out, int64_t ts, const void *data, uint32_t len)
{
    void *p = weir_emit_reserve(out, len);
    if (!p)
        return -EMSGSIZE;
    memcpy(p, data, len);
    return weir_emit_commit(out, ts);
}

/* Emits an input record unchanged (filter, pass-through). */
static inline int weir_emit_forward(weir_emit *out, const weir_rec *r)
{
    return out->push(out, r);
}

/* Emits a watermark: no record with a timestamp <= wm follows on this stream.
 * Operators with a watermark hook call this to pass the watermark on. */
static inline int weir_emit_watermark(weir_emit *out, int64_t wm)
{
    weir_rec r = {.len = 0, .kind = WEIR_REC_WATERMARK, .flags = 0, .ts = wm};
    return out->push(out, &r);
}

/* From a source that makes its own watermarks (weir_source_kafka's per-partition ones):
 * idle != 0 marks the source subtask idle, so that it stops holding back the watermarks
 * downstream; idle == 0 marks it active again (do so before the next record). It passes the
 * operators chained to the source to the subtask's outputs. Only for sources. */
static inline int weir_emit_idle(weir_emit *out, int idle)
{
    weir_rec r = {.len = 0, .kind = WEIR_REC_STATUS, .flags = 0, .ts = idle ? 1 : 0};
    return out->push(out, &r);
}

#ifdef __cplusplus
}
#endif
#endif
