/*
 * A Kafka source's positions as union list state (weir/job.h WEIR_STATE_UNION): each
 * subtask's snapshot is one item, its head and its partitions' offsets (kafka_position_head's
 * format), and on restore every new subtask reads the items of every old one, so that
 * whichever subtask owns a partition at the new parallelism (kafka_owns) finds its offsets.
 * Each partition was owned by one old subtask, so the union lists it once. A checkpoint
 * taken before list state existed is one item per subtask in the same format.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include <weir/errbuf.h>
#include <weir/inspect.h>
#include <weir/job.h>
#include <weir/kafka.h>
#include <weir/state.h>

#include "connectors_private.h"

static int mem_write(struct weir_snapshot_out *o, const void *buf, size_t len)
{
    struct kafka_mem_out *m = o->arg;
    if (m->len + len > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 256;
        while (ncap < m->len + len)
            ncap *= 2;
        unsigned char *np = realloc(m->p, ncap);
        if (!np)
            return -ENOMEM;
        m->p = np;
        m->cap = ncap;
    }
    memcpy(m->p + m->len, buf, len);
    m->len += len;
    return 0;
}

void kafka_mem_out_init(struct kafka_mem_out *m)
{
    *m = (struct kafka_mem_out){.out = {.write = mem_write, .arg = m}};
}

struct mem_in {
    struct weir_snapshot_in in;
    const unsigned char *p;
    size_t len, off;
};

static int mem_read(struct weir_snapshot_in *in, void *buf, size_t len)
{
    struct mem_in *m = in->arg;
    if (len && m->off == m->len)
        return -ENODATA;
    if (len > m->len - m->off)
        return -EIO;
    memcpy(buf, m->p + m->off, len);
    m->off += len;
    return 0;
}

/* Appends the partitions of one old subtask's item to *out. */
static int read_item(weir_ctx *ctx, const char *uid, int subtask, int instance, int instances,
                     const struct weir_state_item *it, struct kafka_restored **out, int *n,
                     bool *moved)
{
    struct mem_in m = {.p = it->data, .len = it->len};
    m.in = (struct weir_snapshot_in){.read = mem_read, .arg = &m};
    uint32_t head[5];
    int rc = kafka_position_head(ctx, uid, &m.in, head);
    if (rc < 0)
        return rc;
    struct kafka_restored *v = realloc(*out, ((size_t)*n + head[2] + 1) * sizeof *v);
    if (!v)
        return -ENOMEM;
    *out = v;
    for (uint32_t i = 0; i < head[2]; i++) {
        struct kafka_restored *r = &v[*n];
        int64_t off[2];
        if ((rc = m.in.read(&m.in, &r->part, sizeof r->part)) < 0 ||
            (rc = m.in.read(&m.in, off, sizeof off)) < 0)
            return rc;
        r->next = off[0];
        r->stop = off[1];
        (*n)++;
    }
    if (kafka_instance_moved(uid, subtask, head[3], head[4], instance, instances))
        *moved = true;
    return 0;
}

int kafka_positions_restore(weir_ctx *ctx, const char *uid, int subtask, int instance,
                            int instances, const struct weir_state_item *items, size_t n_items,
                            struct kafka_restored **out, int *n, bool *moved)
{
    free(*out);
    *out = NULL;
    *n = 0;
    *moved = false;
    int rc = 0;
    for (size_t i = 0; i < n_items && rc == 0; i++)
        rc = read_item(ctx, uid, subtask, instance, instances, &items[i], out, n, moved);
    if (rc == -ENODATA || rc == -EIO) {
        weir_ctx_fail(ctx, "kafka source \"%s\": the state of old subtask %u is cut short", uid,
                      (unsigned)items[0].subtask);
        rc = -EINVAL;
    }
    return rc;
}

/* One partition of an item (kafka_snapshot's layout: i32 partition, i64 next, i64 stop). */
static json_t *partition_json(const unsigned char *p)
{
    int32_t part;
    int64_t v[2];
    memcpy(&part, p, sizeof part);
    memcpy(v, p + sizeof part, sizeof v);
    return json_pack("{s:i, s:I, s:I}", "partition", (int)part, "offset", (json_int_t)v[0],
                     "stop", (json_int_t)v[1]);
}

/* For weir inspect: one subtask's item, its head and its partitions. */
static int decode_item(const void *item, size_t len, json_t **out, char *err, size_t errlen)
{
    const size_t one = sizeof(int32_t) + 2 * sizeof(int64_t);
    uint32_t head[5];
    if (len < sizeof head) {
        errbuf_printf(err, errlen, "a Kafka source position of %zu bytes, shorter than its "
                      "%zu-byte head", len, sizeof head);
        return -EBADMSG;
    }
    memcpy(head, item, sizeof head);
    if (head[0] != KAFKA_SNAP_MAGIC || head[1] != KAFKA_SNAP_VERSION) {
        errbuf_printf(err, errlen, "not a Kafka source position of version %u (magic %08" PRIx32
                      ", version %" PRIu32 ")", KAFKA_SNAP_VERSION, head[0], head[1]);
        return -EBADMSG;
    }
    if (len != sizeof head + (size_t)head[2] * one) {
        errbuf_printf(err, errlen, "a Kafka source position of %zu bytes, not the %zu of its "
                      "%" PRIu32 " partitions", len, sizeof head + (size_t)head[2] * one, head[2]);
        return -EBADMSG;
    }
    json_t *parts = json_array();
    for (uint32_t i = 0; parts && i < head[2]; i++)
        if (json_array_append_new(parts, partition_json((const unsigned char *)item +
                                                        sizeof head + i * one)) < 0) {
            json_decref(parts);
            parts = NULL;
        }
    *out = parts ? json_pack("{s:I, s:I, s:o}", "instance", (json_int_t)head[3], "instances",
                             (json_int_t)head[4], "partitions", parts)
                 : NULL;
    return *out ? 0 : -ENOMEM;
}

int weir_kafka_register_inspect_decoder(void)
{
    int rc = weir_inspect_register_decoder("kafka", decode_item);
    int rs = weir_inspect_register_decoder("kafka-sink", kafka_sink_decode_item);
    return rc < 0 ? rc : rs;
}
