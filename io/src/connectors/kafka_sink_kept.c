/*
 * What the exactly-once Kafka sink (kafka_sink.c) keeps of a transaction and how a restore
 * learns whether it committed: the records in a flat buffer, as its checkpoint stores them
 * (list-state items, decoded for weir inspect too), and a read_committed read at the offset
 * of its first acknowledged record. And the sink's other questions to the broker.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include <weir/errbuf.h>
#include <weir/inspect.h>
#include <weir/job.h>
#include <weir/kafka.h>

#include "connectors_private.h"

#define NO_LEN           UINT32_MAX
#define PROBE_TIMEOUT_MS 60000
#define META_TIMEOUT_MS  10000

int kept_put(struct kept_buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->len + n)
            nc *= 2;
        unsigned char *np = realloc(b->p, nc);
        if (!np)
            return -ENOMEM;
        b->p = np;
        b->cap = nc;
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

static int put_u32(struct kept_buf *b, uint32_t v)
{
    return kept_put(b, &v, sizeof v);
}

/* A kept record: partition, key length, value length, header count (u32 each; NO_LEN: no
 * key / no value), key, value, then per header its name length, value length, name,
 * value. */
int kept_put_rec(struct kept_buf *b, const struct weir_kafka_msg *m)
{
    int rc = put_u32(b, (uint32_t)m->partition);
    rc |= put_u32(b, m->key ? (uint32_t)m->key_len : NO_LEN);
    rc |= put_u32(b, m->value ? (uint32_t)m->value_len : NO_LEN);
    rc |= put_u32(b, (uint32_t)m->n_headers);
    if (m->key)
        rc |= kept_put(b, m->key, m->key_len);
    if (m->value)
        rc |= kept_put(b, m->value, m->value_len);
    for (size_t i = 0; i < m->n_headers; i++) {
        const struct weir_kafka_msg_header *h = &m->headers[i];
        rc |= put_u32(b, (uint32_t)strlen(h->name));
        rc |= put_u32(b, h->value ? (uint32_t)h->len : NO_LEN);
        rc |= kept_put(b, h->name, strlen(h->name));
        if (h->value)
            rc |= kept_put(b, h->value, h->len);
    }
    return rc ? -ENOMEM : 0;
}

static bool get_u32(const struct kept_buf *b, size_t *at, uint32_t *v)
{
    if (b->len - *at < sizeof *v)
        return false;
    memcpy(v, b->p + *at, sizeof *v);
    *at += sizeof *v;
    return true;
}

static bool get_bytes(const struct kept_buf *b, size_t *at, uint32_t len, const void **p)
{
    if (len == NO_LEN) {
        *p = NULL;
        return true;
    }
    if (b->len - *at < len)
        return false;
    *p = b->p + *at;
    *at += len;
    return true;
}

/* The kept record at *at, as produce arguments: hdrs is the caller's (NULL when none). */
bool kept_get_rec(const struct kept_buf *b, size_t *at, struct weir_kafka_msg *m,
                  rd_kafka_headers_t **hdrs)
{
    uint32_t part, kl, vl, nh;
    *hdrs = NULL;
    if (!get_u32(b, at, &part) || !get_u32(b, at, &kl) || !get_u32(b, at, &vl) ||
        !get_u32(b, at, &nh))
        return false;
    *m = (struct weir_kafka_msg){.partition = (int32_t)part,
                                 .key_len = kl == NO_LEN ? 0 : kl,
                                 .value_len = vl == NO_LEN ? 0 : vl};
    if (!get_bytes(b, at, kl, &m->key) || !get_bytes(b, at, vl, &m->value))
        return false;
    if (nh)
        *hdrs = rd_kafka_headers_new(nh);
    for (uint32_t i = 0; i < nh; i++) {
        uint32_t nl, hl;
        const void *name, *val;
        if (!get_u32(b, at, &nl) || !get_u32(b, at, &hl) || nl == NO_LEN ||
            !get_bytes(b, at, nl, &name) || !get_bytes(b, at, hl, &val)) {
            rd_kafka_headers_destroy(*hdrs);
            *hdrs = NULL;
            return false;
        }
        rd_kafka_header_add(*hdrs, name, (ssize_t)nl, val, hl == NO_LEN ? 0 : (ssize_t)hl);
    }
    return true;
}

int kafka_set_prop(weir_ctx *ctx, rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, k, v, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        weir_ctx_fail(ctx, "kafka sink property %s=%s: %s", k, v, errstr);
        return -EINVAL;
    }
    return 0;
}

/* No answer in time (a broker away) is not an error here: librdkafka retries, as it does for
 * the records (librdkafka alone would only fail each record's delivery when its
 * message.timeout.ms ran out, and a sink that sent nothing never). */
int kafka_check_topic(weir_ctx *ctx, rd_kafka_t *rk, const char *bootstrap, const char *topic)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    if (!t)
        return 0;
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, t, &md, META_TIMEOUT_MS);
    rd_kafka_topic_destroy(t);
    if (e)
        return 0;
    int rc = 0;
    if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        weir_ctx_fail(ctx,
                      "kafka sink \"%s\": topic \"%s\" on %s: %s: create it first, or check "
                      "the topic name (opts.topic, --topic)",
                      weir_ctx_uid(ctx), topic, bootstrap, rd_kafka_err2str(md->topics[0].err));
        rc = -ENOENT;
    }
    rd_kafka_metadata_destroy(md);
    return rc;
}

int kafka_probe_committed(weir_ctx *ctx, const struct kafka_probe *t, bool *committed)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[512];
    int rc = kafka_set_prop(ctx, conf, "bootstrap.servers", t->bootstrap);
    for (char *const *p = t->props; rc == 0 && p && *p; p += 2) {
        /* security and client settings apply to the consumer too; producer-only ones
         * would fail it, so only the connection's are passed on */
        const char *k = strncmp(p[0], "properties.", 11) == 0 ? p[0] + 11 : p[0];
        if (!strncmp(k, "security.", 9) || !strncmp(k, "sasl.", 5) || !strncmp(k, "ssl.", 4) ||
            !strcmp(k, "client.id") || !strncmp(k, "broker.", 7) || !strncmp(k, "test.", 5))
            rc = kafka_set_prop(ctx, conf, k, p[1]);
    }
    if (rc == 0)
        rc = kafka_set_prop(ctx, conf, "isolation.level", "read_committed");
    if (rc == 0)
        rc = kafka_set_prop(ctx, conf, "enable.partition.eof", "true");
    if (rc == 0)
        rc = kafka_set_prop(ctx, conf, "auto.offset.reset", "error");
    if (rc == 0)
        rc = kafka_set_prop(ctx, conf, "group.id", "weir-kafka-sink-probe");
    if (rc == 0)
        rc = kafka_set_prop(ctx, conf, "enable.auto.commit", "false");
    if (rc < 0) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!c) {
        rd_kafka_conf_destroy(conf);
        weir_ctx_fail(ctx, "kafka sink: read_committed consumer: %s", errstr);
        return -EINVAL;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, t->topic, t->partition)->offset = t->offset;
    rd_kafka_resp_err_t err = rd_kafka_assign(c, l);
    rd_kafka_topic_partition_list_destroy(l);
    rc = -ETIMEDOUT;
    for (int waited = 0; err == 0 && rc == -ETIMEDOUT && waited < PROBE_TIMEOUT_MS; waited += 500) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 500);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* At the end: read_committed skipped the record if the end is past it; if not,
             * the last stable offset is still below it (another producer's transaction is
             * open there), and only waiting tells. */
            if (m->offset > t->offset) {
                *committed = false;
                rc = 0;
            }
        } else if (m->err) {
            err = m->err;
        } else if (m->offset == t->offset) {
            /* ours, or the topic is not the one the checkpoint wrote to */
            if (t->value_len != m->len || (m->len && memcmp(t->value, m->payload, m->len))) {
                weir_ctx_fail(ctx,
                              "kafka sink %s [%" PRId32 "] offset %" PRId64 ": not the record "
                              "checkpoint %" PRIu64 " says this sink wrote there (was the "
                              "topic recreated?)",
                              t->topic, t->partition, t->offset, t->chk);
                rc = -EIO;
            } else {
                *committed = true;
                rc = 0;
            }
        } else {
            *committed = false; /* read_committed skipped it */
            rc = 0;
        }
        rd_kafka_message_destroy(m);
    }
    if (err) {
        weir_ctx_fail(ctx,
                      "kafka sink %s [%" PRId32 "] offset %" PRId64 ": reading back "
                      "transaction of checkpoint %" PRIu64 ": %s",
                      t->topic, t->partition, t->offset, t->chk, rd_kafka_err2str(err));
        rc = -EIO;
    } else if (rc == -ETIMEDOUT) {
        weir_ctx_fail(ctx,
                      "kafka sink %s [%" PRId32 "] offset %" PRId64 ": no answer in %d ms "
                      "reading back the transaction of checkpoint %" PRIu64,
                      t->topic, t->partition, t->offset, PROBE_TIMEOUT_MS, t->chk);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return rc;
}
/* --- the sink's checkpointed state: list-state items ------------------------------------
 *
 * A head, one per subtask, whatever it holds (a restore at another parallelism learns the
 * old parallelism from it even when no transaction was pending):
 *     u32 HEAD_MAGIC, u32 number of transaction items that follow
 * A transaction (kept_txn):
 *     u32 TXN_MAGIC, u32 transactional.id length, u64 checkpoint, u64 records,
 *     i64 probe partition, i64 probe offset, u64 probe position, u64 records' bytes,
 *     the transactional.id, the records (kept_put_rec's layout)
 * Before list state (LEGACY_MAGIC) a subtask wrote one blob: u32 magic, u32 count, then per
 * transaction u64 checkpoint, records, probe partition, probe offset, probe position,
 * records' bytes, and the records; no transactional.id. */
#define HEAD_MAGIC   0x3248534bu /* "KSH2" */
#define TXN_MAGIC    0x3254534bu /* "KST2" */
#define LEGACY_MAGIC 0x3143534bu /* "KSC1" */

struct txn_head {
    uint32_t magic, tid_len;
    uint64_t chk, n_recs, probe_part, probe_off, probe_at, recs_len;
};

int kept_write_head(struct weir_snapshot_out *out, uint32_t n_txns)
{
    uint32_t h[2] = {HEAD_MAGIC, n_txns};
    return weir_snapshot_write_item(out, h, sizeof h);
}

int kept_write_txn(struct weir_snapshot_out *out, const struct kept_txn *t)
{
    struct txn_head h = {TXN_MAGIC,    t->tid_len,   t->chk,        t->n_recs,
                         (uint64_t)(int64_t)t->probe_part, (uint64_t)t->probe_off,
                         t->probe_at, t->recs.len};
    size_t len = sizeof h + t->tid_len + t->recs.len;
    unsigned char *item = malloc(len);
    if (!item)
        return -ENOMEM;
    memcpy(item, &h, sizeof h);
    memcpy(item + sizeof h, t->tid, t->tid_len);
    if (t->recs.len)
        memcpy(item + sizeof h + t->tid_len, t->recs.p, t->recs.len);
    int rc = weir_snapshot_write_item(out, item, len);
    free(item);
    return rc;
}

static int push_txn(struct kept_txn **v, size_t *n, size_t *cap, const struct kept_txn *t)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        struct kept_txn *nv = realloc(*v, nc * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        *v = nv;
        *cap = nc;
    }
    (*v)[(*n)++] = *t;
    return 0;
}

/* The legacy blob's transactions (see above). */
static int parse_legacy(const unsigned char *p, size_t len, struct kept_txn **v, size_t *n,
                        size_t *cap, char *err, size_t errlen)
{
    uint32_t count;
    size_t at = 2 * sizeof(uint32_t);
    memcpy(&count, p + sizeof(uint32_t), sizeof count);
    for (uint32_t i = 0; i < count; i++) {
        uint64_t h[6];
        if (len - at < sizeof h) {
            errbuf_printf(err, errlen, "a Kafka sink state of %zu bytes ends in transaction %u "
                          "of %u", len, i + 1, count);
            return -EBADMSG;
        }
        memcpy(h, p + at, sizeof h);
        at += sizeof h;
        if (h[5] > len - at) {
            errbuf_printf(err, errlen, "a Kafka sink state of %zu bytes ends in the records of "
                          "transaction %u of %u", len, i + 1, count);
            return -EBADMSG;
        }
        struct kept_txn t = {.chk = h[0], .n_recs = h[1], .probe_part = (int32_t)(int64_t)h[2],
                             .probe_off = (int64_t)h[3], .probe_at = h[4],
                             .recs = {(unsigned char *)p + at, h[5], h[5]}};
        at += h[5];
        if (push_txn(v, n, cap, &t) < 0)
            return -ENOMEM;
    }
    return 0;
}

int kept_parse_item(const void *item, size_t len, struct kept_txn **v, size_t *n, size_t *cap,
                    char *err, size_t errlen)
{
    const unsigned char *p = item;
    uint32_t magic;
    if (len < 2 * sizeof magic) {
        errbuf_printf(err, errlen, "a Kafka sink state item of %zu bytes, shorter than its "
                      "head", len);
        return -EBADMSG;
    }
    memcpy(&magic, p, sizeof magic);
    if (magic == HEAD_MAGIC && len == 2 * sizeof magic)
        return 0;
    if (magic == LEGACY_MAGIC)
        return parse_legacy(p, len, v, n, cap, err, errlen);
    struct txn_head h;
    if (magic != TXN_MAGIC || len < sizeof h) {
        errbuf_printf(err, errlen, "not a Kafka sink state item (magic %08" PRIx32 ", %zu bytes)",
                      magic, len);
        return -EBADMSG;
    }
    memcpy(&h, p, sizeof h);
    if (h.tid_len > len - sizeof h || h.recs_len != len - sizeof h - h.tid_len ||
        h.probe_at > h.recs_len) {
        errbuf_printf(err, errlen, "a Kafka sink transaction of %zu bytes does not hold its "
                      "%" PRIu32 "-byte transactional.id and %" PRIu64 " bytes of records",
                      len, h.tid_len, h.recs_len);
        return -EBADMSG;
    }
    struct kept_txn t = {.tid = (const char *)p + sizeof h,
                         .tid_len = h.tid_len,
                         .chk = h.chk,
                         .n_recs = h.n_recs,
                         .probe_part = (int32_t)(int64_t)h.probe_part,
                         .probe_off = (int64_t)h.probe_off,
                         .probe_at = h.probe_at,
                         .recs = {(unsigned char *)p + sizeof h + h.tid_len, h.recs_len,
                                  h.recs_len}};
    return push_txn(v, n, cap, &t) < 0 ? -ENOMEM : 0;
}

static json_t *txn_json(const struct kept_txn *t)
{
    json_t *first = t->probe_off < 0 ? json_null()
                                     : json_pack("{s:i, s:I}", "partition", (int)t->probe_part,
                                                 "offset", (json_int_t)t->probe_off);
    if (!t->tid) /* legacy: the id was not kept */
        return json_pack("{s:I, s:I, s:I, s:o}", "checkpoint", (json_int_t)t->chk, "records",
                         (json_int_t)t->n_recs, "bytes", (json_int_t)t->recs.len,
                         "first_record", first);
    return json_pack("{s:s%, s:I, s:I, s:I, s:o}", "transactional_id", t->tid,
                     (size_t)t->tid_len, "checkpoint", (json_int_t)t->chk, "records",
                     (json_int_t)t->n_recs, "bytes", (json_int_t)t->recs.len, "first_record",
                     first);
}

/* For weir inspect: a head ({"pending_transactions"}), a transaction (its transactional.id,
 * checkpoint, records, bytes and first acknowledged record), or a legacy blob
 * ({"transactions": [...]}). The producer id and epoch are not kept: librdkafka does not
 * give them out, and the restore settles a transaction by its transactional.id. */
int kafka_sink_decode_item(const void *item, size_t len, json_t **out, char *err, size_t errlen)
{
    struct kept_txn *v = NULL;
    size_t n = 0, cap = 0;
    uint32_t h[2] = {0, 0};
    *out = NULL;
    int rc = kept_parse_item(item, len, &v, &n, &cap, err, errlen);
    if (rc < 0) {
        free(v);
        return rc;
    }
    memcpy(h, item, sizeof h);
    if (h[0] == HEAD_MAGIC) {
        *out = json_pack("{s:I}", "pending_transactions", (json_int_t)h[1]);
    } else if (h[0] == TXN_MAGIC) {
        *out = txn_json(&v[0]);
    } else {
        json_t *a = json_array();
        for (size_t i = 0; a && i < n; i++)
            if (json_array_append_new(a, txn_json(&v[i])) < 0) {
                json_decref(a);
                a = NULL;
            }
        *out = a ? json_pack("{s:o}", "transactions", a) : NULL;
    }
    free(v);
    return *out ? 0 : -ENOMEM;
}
