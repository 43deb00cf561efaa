/*
 * What a Kafka source record is (weir/kafka.h): its accessors, the value parsed into fields
 * (CSV, JSON with jansson), the record written from a librdkafka message (or sent to the
 * dead-letter queue: kafka_to_dlq), and the builder that copies the source's options. The
 * consumer itself is kafka_source.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include <weir/job.h>
#include <weir/kafka.h>

#include "connectors_private.h"

/* --- the accessors ------------------------------------------------------------------------ */

const struct weir_kafka_rec *weir_kafka_rec_of(const weir_rec *r)
{
    return (const struct weir_kafka_rec *)(const void *)r->data;
}

const char *weir_kafka_topic(const struct weir_kafka_rec *k, size_t *len)
{
    *len = k->topic_len;
    return (const char *)k->data;
}

const void *weir_kafka_key(const struct weir_kafka_rec *k, size_t *len)
{
    *len = k->key_len < 0 ? 0 : (size_t)k->key_len;
    return k->key_len < 0 ? NULL : k->data + k->topic_len;
}

const void *weir_kafka_value(const struct weir_kafka_rec *k, size_t *len)
{
    *len = k->value_len;
    return k->data + k->topic_len + (k->key_len < 0 ? 0 : k->key_len);
}

static const unsigned char *headers_of(const struct weir_kafka_rec *k)
{
    return k->data + k->topic_len + (k->key_len < 0 ? 0 : k->key_len) + k->value_len;
}

/* Headers: per header uint16 name length, int32 value length (-1: null), name, value. */
int weir_kafka_header(const struct weir_kafka_rec *k, unsigned i, const char **name,
                      size_t *name_len, const void **value, size_t *value_len)
{
    if (i >= k->n_headers)
        return -ENOENT;
    const unsigned char *p = headers_of(k);
    for (unsigned j = 0;; j++) {
        uint16_t nl;
        int32_t vl;
        memcpy(&nl, p, sizeof nl);
        memcpy(&vl, p + 2, sizeof vl);
        if (j == i) {
            *name = (const char *)p + 6;
            *name_len = nl;
            *value = vl < 0 ? NULL : p + 6 + nl;
            *value_len = vl < 0 ? 0 : (size_t)vl;
            return 0;
        }
        p += 6 + nl + (vl < 0 ? 0 : vl);
    }
}

/* Fields: n_fields pairs of uint32 (offset into the text, length; UINT32_MAX: null), then
 * the text. */
const char *weir_kafka_field(const struct weir_kafka_rec *k, unsigned i, size_t *len)
{
    *len = 0;
    if (i >= k->n_fields)
        return NULL;
    const unsigned char *f = headers_of(k) + k->headers_len;
    uint32_t pair[2];
    memcpy(pair, f + 8 * (size_t)i, sizeof pair);
    if (pair[1] == UINT32_MAX)
        return NULL;
    *len = pair[1];
    return (const char *)f + 8 * (size_t)k->n_fields + pair[0];
}

/* --- parsing values into fields ----------------------------------------------------------- */

static int text_room(struct kafka_fields *f, size_t more)
{
    if (f->len + more <= f->text_cap)
        return 0;
    size_t cap = f->text_cap ? f->text_cap : 1024;
    while (cap < f->len + more)
        cap *= 2;
    char *p = realloc(f->text, cap);
    if (!p)
        return -ENOMEM;
    f->text = p;
    f->text_cap = cap;
    return 0;
}

void kafka_fields_free(struct kafka_fields *f)
{
    free(f->pair);
    free(f->text);
    *f = (struct kafka_fields){0};
}

static int field_add(struct kafka_fields *f, const char *text, size_t len, bool null)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        void *p = realloc(f->pair, cap * sizeof *f->pair);
        if (!p)
            return -ENOMEM;
        f->pair = p;
        f->cap = cap;
    }
    if (f->n >= UINT16_MAX)
        return -E2BIG;
    if (text_room(f, len) < 0)
        return -ENOMEM;
    f->pair[f->n][0] = (uint32_t)f->len;
    f->pair[f->n][1] = null ? UINT32_MAX : (uint32_t)len;
    if (len)
        memcpy(f->text + f->len, text, len);
    f->len += len;
    f->n++;
    return 0;
}

/* One CSV line: fields split at delim; a field that starts with " runs to the closing quote,
 * "" inside being one ". Returns 0, -ENOMEM, or -EBADMSG with why. */
int kafka_parse_csv(struct kafka_fields *f, const char *v, size_t n, char delim, size_t want,
                    char *why, size_t whylen)
{
    size_t i = 0;
    if (n && v[n - 1] == '\n')
        n--;
    if (n && v[n - 1] == '\r')
        n--;
    char *tmp = NULL;
    size_t tcap = 0;
    int rc = 0;
    for (;;) {
        if (i < n && v[i] == '"') {
            size_t tl = 0;
            i++;
            for (;;) {
                if (i >= n) {
                    snprintf(why, whylen, "CSV: unterminated quoted field");
                    rc = -EBADMSG;
                    goto out;
                }
                if (v[i] == '"') {
                    if (i + 1 < n && v[i + 1] == '"') {
                        i++;
                    } else {
                        i++;
                        break;
                    }
                }
                if (tl == tcap) {
                    tcap = tcap ? tcap * 2 : 64;
                    char *t = realloc(tmp, tcap);
                    if (!t) {
                        rc = -ENOMEM;
                        goto out;
                    }
                    tmp = t;
                }
                tmp[tl++] = v[i++];
            }
            if (i < n && v[i] != delim) {
                snprintf(why, whylen, "CSV: a quoted field is followed by '%c'", v[i]);
                rc = -EBADMSG;
                goto out;
            }
            if ((rc = field_add(f, tmp, tl, false)) < 0)
                goto out;
        } else {
            size_t st = i;
            while (i < n && v[i] != delim)
                i++;
            if ((rc = field_add(f, v + st, i - st, false)) < 0)
                goto out;
        }
        if (i >= n)
            break;
        i++; /* the delimiter: another field follows, maybe empty */
        if (i == n) {
            if ((rc = field_add(f, "", 0, false)) < 0)
                goto out;
            break;
        }
    }
    if (f->n < want) {
        snprintf(why, whylen, "CSV: %zu fields, %zu expected", f->n, want);
        rc = -EBADMSG;
    }
out:
    free(tmp);
    return rc;
}

int kafka_parse_json(struct kafka_fields *f, const char *v, size_t n, const char *const *names,
                     size_t n_names, char *why, size_t whylen)
{
    json_error_t err;
    json_t *root = json_loadb(v, n, 0, &err);
    if (!root) {
        snprintf(why, whylen, "JSON: %s at byte %d", err.text, err.position);
        return -EBADMSG;
    }
    int rc = 0;
    if (!json_is_object(root)) {
        snprintf(why, whylen, "JSON: not an object");
        rc = -EBADMSG;
        goto out;
    }
    for (size_t i = 0; i < n_names; i++) {
        const char *name = names[i];
        json_t *m = json_object_get(root, name);
        if (!m) {
            snprintf(why, whylen, "JSON: no member \"%s\"", name);
            rc = -EBADMSG;
            goto out;
        }
        if (json_is_string(m)) {
            rc = field_add(f, json_string_value(m), json_string_length(m), false);
        } else if (json_is_null(m)) {
            rc = field_add(f, NULL, 0, true);
        } else {
            char *t = json_dumps(m, JSON_COMPACT | JSON_ENCODE_ANY);
            rc = t ? field_add(f, t, strlen(t), false) : -ENOMEM;
            free(t);
        }
        if (rc < 0)
            goto out;
    }
out:
    json_decref(root);
    return rc;
}

/* --- the record ---------------------------------------------------------------------------- */

size_t kafka_rec_size(const rd_kafka_message_t *m, const char *topic, const struct kafka_fields *f,
                      size_t *headers_len)
{
    rd_kafka_headers_t *hdrs = NULL;
    size_t n_hdrs = 0, hlen = 0;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR)
        n_hdrs = rd_kafka_header_cnt(hdrs);
    for (size_t i = 0; i < n_hdrs; i++) {
        const char *name;
        const void *val;
        size_t vs;
        rd_kafka_header_get_all(hdrs, i, &name, &val, &vs);
        hlen += 6 + strlen(name) + (val ? vs : 0);
    }
    *headers_len = hlen;
    size_t flen = f->n ? 8 * f->n + f->len : 0;
    return sizeof(struct weir_kafka_rec) + strlen(topic) + (m->key ? m->key_len : 0) + m->len +
           hlen + flen;
}

void kafka_rec_write(struct weir_kafka_rec *k, const rd_kafka_message_t *m, const char *topic,
                     const struct kafka_fields *f, size_t headers_len)
{
    rd_kafka_headers_t *hdrs = NULL;
    size_t n_hdrs = 0;
    /* headers_len 0: none (kafka_rec_size asked). Asked again, librdkafka would parse the
     * record's empty header block once more (a buffer allocated and freed per record). */
    if (headers_len && rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR)
        n_hdrs = rd_kafka_header_cnt(hdrs);
    size_t topic_len = strlen(topic), key_len = m->key ? m->key_len : 0;
    rd_kafka_timestamp_type_t tt;
    *k = (struct weir_kafka_rec){
        .offset = m->offset,
        .timestamp_ms = rd_kafka_message_timestamp(m, &tt),
        .partition = m->partition,
        .key_len = m->key ? (int32_t)m->key_len : -1,
        .value_len = (uint32_t)m->len,
        .headers_len = (uint32_t)headers_len,
        .fields_len = (uint32_t)(f->n ? 8 * f->n + f->len : 0),
        .topic_len = (uint16_t)topic_len,
        .n_headers = (uint16_t)n_hdrs,
        .n_fields = (uint16_t)f->n,
    };
    unsigned char *d = k->data;
    memcpy(d, topic, topic_len);
    d += topic_len;
    if (key_len)
        memcpy(d, m->key, key_len);
    d += key_len;
    if (m->len)
        memcpy(d, m->payload, m->len);
    d += m->len;
    for (size_t i = 0; i < n_hdrs; i++) {
        const char *name;
        const void *val;
        size_t vs;
        rd_kafka_header_get_all(hdrs, i, &name, &val, &vs);
        uint16_t nl = (uint16_t)strlen(name);
        int32_t vl = val ? (int32_t)vs : -1;
        memcpy(d, &nl, 2);
        memcpy(d + 2, &vl, 4);
        memcpy(d + 6, name, nl);
        if (val && vs)
            memcpy(d + 6 + nl, val, vs);
        d += 6 + nl + (val ? vs : 0);
    }
    if (f->n) {
        memcpy(d, f->pair, 8 * f->n);
        memcpy(d + 8 * f->n, f->text, f->len);
    }
}

/* --- building ------------------------------------------------------------------------------ */

static void kopts_free(void *arg)
{
    struct kopts *ko = arg;
    if (!ko)
        return;
    for (size_t i = 0; i < ko->n_strings; i++)
        free(ko->strings[i]);
    free(ko->strings);
    free((void *)ko->o.fields);
    free((void *)ko->o.properties);
    free(ko);
}

static const char *keep(struct kopts *ko, const char *str)
{
    if (!str)
        return NULL;
    char **ns = realloc(ko->strings, (ko->n_strings + 1) * sizeof *ns);
    if (!ns)
        return NULL;
    ko->strings = ns;
    char *c = strdup(str);
    if (c)
        ko->strings[ko->n_strings++] = c;
    return c;
}

static const char *const *keep_list(struct kopts *ko, const char *const *list, size_t *n, bool *oom)
{
    *n = 0;
    if (!list)
        return NULL;
    while (list[*n])
        (*n)++;
    const char **l = calloc(*n + 1, sizeof *l);
    if (!l) {
        *oom = true;
        return NULL;
    }
    for (size_t i = 0; i < *n; i++)
        if (!(l[i] = keep(ko, list[i])))
            *oom = true;
    return l;
}

weir_stream *weir_source_kafka(weir_job *job, const char *uid,
                               const struct weir_kafka_source_opts *opts)
{
    if (!job)
        return NULL;
    if (!opts || !opts->bootstrap || !*opts->bootstrap) {
        weir_job_fail(job,
                      "kafka source \"%s\": no bootstrap servers (opts.bootstrap, "
                      "--bootstrap)",
                      uid ? uid : "");
        return NULL;
    }
    if (!opts->topic || !*opts->topic) {
        weir_job_fail(job, "kafka source \"%s\": no topic (opts.topic, --topic)", uid ? uid : "");
        return NULL;
    }
    if (opts->startup_mode > WEIR_KAFKA_STARTUP_TIMESTAMP ||
        opts->format > WEIR_KAFKA_FORMAT_JSON || opts->max_out_of_orderness_ms < 0 ||
        opts->idleness_ms < 0 || opts->discovery_interval_ms < 0) {
        weir_job_fail(job,
                      "kafka source \"%s\": an option out of range (startup_mode, format, "
                      "max_out_of_orderness_ms, idleness_ms, discovery_interval_ms)",
                      uid ? uid : "");
        return NULL;
    }
    if (opts->instances < 0 || opts->instances > 65536 || opts->instance < 0 ||
        (opts->instances > 0 && opts->instance >= opts->instances)) {
        weir_job_fail(job,
                      "kafka source \"%s\": instance %d of %d: expected 0 <= instance < "
                      "instances <= 65536, or instances 0 for kafka.instance (opts.instance, "
                      "opts.instances)",
                      uid ? uid : "", opts->instance, opts->instances);
        return NULL;
    }
    struct kopts *ko = calloc(1, sizeof *ko);
    if (!ko)
        return NULL;
    ko->o = *opts;
    bool oom = false;
    ko->o.bootstrap = keep(ko, opts->bootstrap);
    ko->o.topic = keep(ko, opts->topic);
    ko->job_name = keep(ko, weir_job_name(job) ? weir_job_name(job) : "job");
    if (opts->group_id && !(ko->o.group_id = keep(ko, opts->group_id)))
        oom = true;
    ko->o.fields = keep_list(ko, opts->fields, &ko->n_fields, &oom);
    ko->o.properties = keep_list(ko, opts->properties, &ko->n_props, &oom);
    if (oom || !ko->o.bootstrap || !ko->o.topic || !ko->job_name) {
        kopts_free(ko);
        return NULL;
    }
    weir_stream *s = weir_source(job, uid, &kafka_source_ops, ko);
    if (!s) {
        kopts_free(ko);
        return NULL;
    }
    weir_stream_own_arg(s, kopts_free);
    return s;
}

/* m as a dead letter: its key, value and headers (names NUL-terminated by librdkafka),
 * topic, partition and offset. */
int kafka_to_dlq(weir_ctx *ctx, const rd_kafka_message_t *m, const char *topic, const char *why)
{
    struct weir_dlq_rec r = {.key = m->key,
                             .key_len = m->key_len,
                             .value = m->payload,
                             .value_len = m->payload ? m->len : 0,
                             .reason = why,
                             .topic = topic,
                             .partition = m->partition,
                             .offset = m->offset,
                             .timestamp_ms = rd_kafka_message_timestamp(m, NULL)};
    rd_kafka_headers_t *h = NULL;
    struct weir_kafka_msg_header *hdrs = NULL;
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR && h &&
        rd_kafka_header_cnt(h) > 0) {
        size_t n = rd_kafka_header_cnt(h);
        if (!(hdrs = calloc(n, sizeof *hdrs))) {
            weir_ctx_fail(ctx, "out of memory sending a record to the dead-letter queue");
            return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++)
            rd_kafka_header_get_all(h, i, &hdrs[i].name, &hdrs[i].value, &hdrs[i].len);
        r.headers = hdrs;
        r.n_headers = n;
    }
    int rc = weir_ctx_dlq(ctx, &r);
    free(hdrs);
    return rc;
}
