/*
 * weir_checkpoint_inspect (weir/inspect.h): a checkpoint or savepoint read back as a restore
 * reads it, without a job, into a JSON document.
 *
 *   open      weir_restore_open_dir: _metadata, every state file and shared file with every
 *             checksum (a damaged one: -EBADMSG, the file and the check in err)
 *   check     chk_check_entries and chk_check_identity, as chk_restore_open makes them
 *   per entry its operator state section (size, a hex preview) and, when keyed, its key
 *             groups restored into a scratch backend by the code restore.c runs (a full
 *             section per key group, a heap chain, an incremental RocksDB instance), then
 *             walked read-only (weir_keyed_backend_walk_key_group) to count each state's
 *             entries and bytes and find the looked-up key; its timers counted from a timer
 *             service chk_restore_timers fills
 *
 * The scratch backends: hashmap for every format but incremental RocksDB (whose SSTs only a
 * RocksDB instance reads), opened one subtask at a time and closed before the next.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <weir/config.h>
#include <weir/errbuf.h>
#include <weir/inspect.h>
#include <weir/keygroup.h>
#include <weir/state_backend.h>
#include <weir/storage.h>

#include "checkpoint.h"
#include "timers.h"

#define HEX_PREVIEW 64     /* operator state bytes shown as hex */
#define STATE_IDS   0x8000 /* state ids a RocksDB key can hold (15 bits) */

/* Per state id of one subtask's backend: what the walk counted. */
struct count {
    uint64_t entries, bytes;
};

struct insp {
    const struct weir_inspect_opts *opts;
    uint32_t maxp;
    weir_state_env *heap_env, *rocks_env;
    char rocks_dir[4096]; /* the RocksDB scratch directory, "" until made */
    json_t *values;       /* lookup results */
    /* the walk of one subtask */
    struct count *counts;
    uint32_t ncounts;
    weir_keyed_backend *be;
    const char *uid;
    uint32_t subtask;
};

static json_t *hex_of(const void *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char *s = malloc(2 * n + 1);
    if (!s)
        return NULL;
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = digits[b[i] >> 4];
        s[2 * i + 1] = digits[b[i] & 15];
    }
    s[2 * n] = 0;
    json_t *j = json_string(s);
    free(s);
    return j;
}

/* The value as text when every byte is printable ASCII (a trailing NUL allowed), else null. */
static json_t *text_of(const void *p, size_t n)
{
    const unsigned char *b = p;
    if (n && b[n - 1] == 0)
        n--;
    for (size_t i = 0; i < n; i++)
        if (b[i] < 0x20 || b[i] > 0x7e)
            return json_null();
    return json_stringn((const char *)b, n);
}

/* State id's name: its own, or "#<id>" for a state that an incremental RocksDB checkpoint
 * holds by id only (the job that declares the states names them). */
static const char *state_name(weir_keyed_backend *be, uint32_t id, const char **kind, char *buf,
                              size_t len)
{
    const char *name = weir_keyed_backend_state_name(be, id, kind);
    if (name)
        return name;
    snprintf(buf, len, "#%u", id);
    if (kind)
        *kind = "unknown";
    return buf;
}

static int on_entry(void *arg, const struct weir_keyed_entry *e)
{
    struct insp *in = arg;
    if (e->state >= in->ncounts)
        return -EBADMSG;
    in->counts[e->state].entries++;
    in->counts[e->state].bytes += 16 + e->ukey_len + e->len;
    const struct weir_inspect_opts *o = in->opts;
    if (!o->has_key || e->key != o->key)
        return 0;
    char buf[16];
    const char *name = state_name(in->be, e->state, NULL, buf, sizeof buf);
    if (o->state && strcmp(o->state, name) != 0)
        return 0;
    json_t *v = json_pack("{s:s, s:I, s:s, s:o, s:o, s:o, s:o}", "operator", in->uid, "subtask",
                          (json_int_t)in->subtask, "state", name, "namespace",
                          json_integer((json_int_t)e->ns), "user_key_hex",
                          e->user_key ? hex_of(e->user_key, e->ukey_len) : json_null(), "hex",
                          hex_of(e->value, e->len), "text", text_of(e->value, e->len));
    return v && json_array_append_new(in->values, v) == 0 ? 0 : -ENOMEM;
}

static int scratch_env(struct insp *in, bool rocks, weir_state_env **out, char *err, size_t errlen)
{
    weir_state_env **env = rocks ? &in->rocks_env : &in->heap_env;
    if (*env) {
        *out = *env;
        return 0;
    }
    weir_config *cfg = weir_config_new();
    if (!cfg)
        return -ENOMEM;
    char why[512];
    int rc = 0;
    for (size_t i = 0; i < in->opts->n_config && rc == 0; i++)
        if ((rc = weir_config_set_kv(cfg, in->opts->config[i], why, sizeof why)) < 0) {
            errbuf_printf(err, errlen, "-D %s", why);
            weir_config_free(cfg);
            return -EINVAL;
        }
    rc = weir_config_set(cfg, "state.backend", rocks ? "rocksdb" : "hashmap", why, sizeof why);
    if (rc == 0 && rocks) {
        const char *tmp = getenv("TMPDIR");
        snprintf(in->rocks_dir, sizeof in->rocks_dir, "%s/weir-inspect-XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(in->rocks_dir)) {
            rc = -errno;
            errbuf_printf(why, sizeof why, "%s: %s (TMPDIR)", in->rocks_dir, strerror(errno));
            in->rocks_dir[0] = 0;
        } else {
            rc = weir_config_set(cfg, "state.backend.rocksdb.localdir", in->rocks_dir, why,
                                 sizeof why);
        }
    }
    if (rc == 0)
        rc = weir_config_resolve(cfg, why, sizeof why);
    if (rc == 0)
        rc = weir_state_env_new(cfg, "inspect", env, why, sizeof why);
    weir_config_free(cfg);
    if (rc < 0) {
        errbuf_printf(err, errlen, "a scratch %s backend to read the state into: %s",
                      rocks ? "rocksdb" : "hashmap", why);
        return rc;
    }
    *out = *env;
    return 0;
}

/* Restores entry e's key groups into a scratch backend, as restore_op does, and walks them;
 * sub gets "states" and "timers". */
static int inspect_keyed(struct insp *in, weir_restore *r, weir_restore_file *f,
                         const struct weir_ckpt_entry *e, json_t *sub, char *err, size_t errlen)
{
    bool rocks = e->backend == CHK_STATE_ROCKSDB_INCREMENTAL;
    weir_state_env *env;
    int rc = scratch_env(in, rocks, &env, err, errlen);
    if (rc < 0)
        return rc;
    weir_keyed_backend *be;
    char why[1024] = "";
    rc = weir_keyed_backend_open(env, e->operator_uid, (int)e->subtask, e->kg_first, e->kg_last,
                                 in->maxp, -1, &be, why, sizeof why);
    if (rc < 0) {
        errbuf_printf(err, errlen, "operator \"%s\" subtask %u: a scratch backend: %s",
                      e->operator_uid, e->subtask, why);
        return rc;
    }
    struct timer_service timers;
    timers_init(&timers);
    uint32_t a = e->kg_first, b = e->kg_last;
    rc = weir_keyed_backend_restore_run_begin(be);
    if (rc == 0 && rocks_file_is_incremental(f))
        rc = rocks_incremental_restore(be, r, f, a, b, why, sizeof why);
    else if (rc == 0 && heap_chain_file(f))
        rc = heap_chain_restore(be, r, f, e, a, b, why, sizeof why);
    for (uint32_t kg = a; kg <= b && rc == 0; kg++) {
        size_t sec;
        if (weir_restore_file_find(f, TAG_KEYED | kg, &sec) == 0)
            rc = weir_keyed_backend_restore_key_group(be, kg, weir_restore_file_section_in(f, sec));
        if (rc == 0 && weir_restore_file_find(f, TAG_TIMERS | kg, &sec) == 0)
            rc = chk_restore_timers(&timers, weir_restore_file_section_in(f, sec), kg);
    }
    int end = weir_keyed_backend_restore_run_end(be, rc == 0);
    rc = rc < 0 ? rc : end;
    uint32_t declared = weir_keyed_backend_state_count(be);
    in->ncounts = declared > STATE_IDS ? declared : STATE_IDS;
    in->counts = calloc(in->ncounts, sizeof *in->counts);
    in->be = be;
    in->uid = e->operator_uid;
    in->subtask = e->subtask;
    if (rc == 0 && !in->counts)
        rc = -ENOMEM;
    for (uint32_t kg = a; kg <= b && rc == 0; kg++)
        rc = weir_keyed_backend_walk_key_group(be, kg, on_entry, in);
    json_t *states = json_array();
    for (uint32_t i = 0; rc == 0 && i < in->ncounts; i++) {
        if (i >= declared && !in->counts[i].entries)
            continue;
        const char *kind;
        char buf[16];
        const char *name = state_name(be, i, &kind, buf, sizeof buf);
        json_array_append_new(states, json_pack("{s:s, s:s, s:I, s:I}", "name", name, "kind", kind,
                                                "entries", (json_int_t)in->counts[i].entries,
                                                "bytes", (json_int_t)in->counts[i].bytes));
    }
    json_object_set_new(sub, "states", states);
    json_object_set_new(
        sub, "timers",
        json_pack("{s:I, s:I}", "event_time", (json_int_t)timers_count(&timers, WEIR_EVENT_TIME),
                  "processing_time", (json_int_t)timers_count(&timers, WEIR_PROCESSING_TIME)));
    if (rc < 0 && !err[0]) {
        const char *bw = why[0] ? why : weir_keyed_backend_error(be);
        errbuf_printf(err, errlen, "%s/%s: operator \"%s\" subtask %u: reading its keyed state: %s",
                      weir_restore_dir(r), e->file, e->operator_uid, e->subtask,
                      bw && *bw ? bw : strerror(-rc));
    }
    free(in->counts);
    in->counts = NULL;
    in->be = NULL;
    timers_free(&timers);
    weir_keyed_backend_close(be);
    return rc;
}

/* The kind of operator that wrote f's operator state (TAG_OPERATOR_KIND) into kind, "" when
 * the file does not record it (written before it did). */
static int state_kind(weir_restore_file *f, char *kind, size_t room)
{
    size_t sec;
    uint64_t tag, len = 0;
    *kind = '\0';
    if (weir_restore_file_find(f, TAG_OPERATOR_KIND, &sec) < 0 ||
        weir_restore_file_section(f, sec, &tag, &len) < 0 || len == 0)
        return 0;
    if (len >= room)
        return -EIO;
    struct weir_snapshot_in *si = weir_restore_file_section_in(f, sec);
    int rc = si->read(si, kind, (size_t)len);
    kind[rc == 0 ? len : 0] = '\0';
    return rc == -ENODATA ? -EIO : rc;
}

/* Item k (its bytes, len) of a list state section: its first bytes onto head (*got of room),
 * and decoded by dec into the array decoded. */
static int list_item(const unsigned char *item, uint32_t len, json_int_t k, unsigned char *head,
                     size_t room, size_t *got, weir_state_decoder dec, json_t *decoded,
                     char *err, size_t errlen)
{
    size_t take = room - *got < len ? room - *got : len;
    memcpy(head + *got, item, take);
    *got += take;
    if (!dec)
        return 0;
    json_t *o = NULL;
    char why[256] = "";
    int rc = dec(item, len, &o, why, sizeof why);
    if (rc < 0) {
        errbuf_printf(err, errlen, "item %" JSON_INTEGER_FORMAT ": %s", k, why);
        return rc;
    }
    return json_array_append_new(decoded, o) == 0 ? 0 : -ENOMEM;
}

/* The first bytes of a list state section's items, back to back, into head (*n: room, then
 * how many), the items' count as "operator_state_items" and, when dec is not NULL, each item
 * decoded in "operator_state_decoded". A damaged item: -EBADMSG and why in err. */
static int list_preview(struct weir_snapshot_in *si, unsigned char *head, size_t *n, json_t *sub,
                        weir_state_decoder dec, char *err, size_t errlen)
{
    size_t room = *n, got = 0;
    json_int_t items = 0;
    json_t *decoded = json_array();
    uint32_t len;
    int rc;
    if (!decoded)
        return -ENOMEM;
    while ((rc = si->read(si, &len, sizeof len)) == 0) {
        unsigned char *item = malloc(len ? len : 1);
        rc = item ? (len ? si->read(si, item, len) : 0) : -ENOMEM;
        if (rc == 0)
            rc = list_item(item, len, items, head, room, &got, dec, decoded, err, errlen);
        free(item);
        items++;
        if (rc < 0) {
            json_decref(decoded);
            return rc == -ENODATA ? -EIO : rc;
        }
    }
    *n = got;
    json_object_set_new(sub, "operator_state_items", json_integer(items));
    if (dec)
        json_object_set_new(sub, "operator_state_decoded", decoded);
    else
        json_decref(decoded);
    return rc == -ENODATA ? 0 : rc;
}

/* One _metadata entry: a subtask of an operator. */
static int inspect_entry(struct insp *in, weir_restore *r, const struct weir_ckpt_entry *e,
                         json_t **out, char *err, size_t errlen)
{
    json_t *sub = json_pack(
        "{s:I, s:s, s:I, s:s, s:s}", "subtask", (json_int_t)e->subtask, "file",
        e->file ? e->file : "", "bytes", (json_int_t)e->size_bytes, "backend",
        chk_backend_str(e->backend), "status",
        e->blob_len == 1 && *(const char *)e->blob == BLOB_FINISHED ? "finished" : "running");
    if (!sub)
        return -ENOMEM;
    *out = sub;
    if (e->kg_first != WEIR_KG_NONE)
        json_object_set_new(sub, "key_groups",
                            json_pack("[I, I]", (json_int_t)e->kg_first, (json_int_t)e->kg_last));
    if (!e->file || !*e->file)
        return 0;
    weir_restore_file *f;
    int rc = weir_restore_file_open(r, e->file, &f);
    if (rc < 0) {
        errbuf_printf(err, errlen, "%s/%s: %s", weir_restore_dir(r), e->file, strerror(-rc));
        return rc;
    }
    size_t sec;
    uint64_t tag, len = 0;
    /* list state (op_state.c): its items' bytes back to back, how many, and decoded by
     * the decoder of the kind that wrote them */
    char kind[64], why[512] = "";
    bool list = weir_restore_file_find(f, TAG_OPERATOR_LIST, &sec) == 0;
    rc = state_kind(f, kind, sizeof kind);
    if (rc == 0 && *kind)
        json_object_set_new(sub, "operator_state_kind", json_string(kind));
    if (rc == 0 && (list || weir_restore_file_find(f, TAG_OPERATOR, &sec) == 0) &&
        weir_restore_file_section(f, sec, &tag, &len) == 0 && len) {
        unsigned char head[HEX_PREVIEW];
        size_t n = len < sizeof head ? (size_t)len : sizeof head;
        struct weir_snapshot_in *si = weir_restore_file_section_in(f, sec);
        rc = list ? list_preview(si, head, &n, sub, weir_inspect_decoder(kind), why, sizeof why)
                  : si->read(si, head, n);
        if (rc == 0)
            json_object_set_new(sub, "operator_state_hex", hex_of(head, n));
    }
    if (rc < 0) {
        errbuf_printf(err, errlen, "%s/%s: operator state%s%s: %s", weir_restore_dir(r), e->file,
                      *kind ? " of " : "", kind, *why ? why : strerror(-rc));
        weir_restore_file_close(f);
        return rc;
    }
    json_object_set_new(sub, "operator_state_bytes", json_integer((json_int_t)len));
    if (e->kg_first != WEIR_KG_NONE)
        rc = inspect_keyed(in, r, f, e, sub, err, errlen);
    weir_restore_file_close(f);
    return rc;
}

static json_int_t int_at(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

/* Adds sub's counts to the operator's (states by name, timers, bytes). */
static void sum_into(json_t *op, json_t *sub)
{
    json_object_set_new(op, "bytes", json_integer(int_at(op, "bytes") + int_at(sub, "bytes")));
    json_object_set_new(
        op, "operator_state_bytes",
        json_integer(int_at(op, "operator_state_bytes") + int_at(sub, "operator_state_bytes")));
    json_t *st = json_object_get(sub, "timers");
    if (st) {
        json_t *ot = json_object_get(op, "timers");
        json_object_set_new(ot, "event_time",
                            json_integer(int_at(ot, "event_time") + int_at(st, "event_time")));
        json_object_set_new(
            ot, "processing_time",
            json_integer(int_at(ot, "processing_time") + int_at(st, "processing_time")));
    }
    json_t *ostates = json_object_get(op, "states"), *s;
    size_t i;
    json_array_foreach(json_object_get(sub, "states"), i, s)
    {
        const char *name = json_string_value(json_object_get(s, "name"));
        json_t *o = NULL, *x;
        size_t j;
        json_array_foreach(ostates, j, x)
        {
            if (!strcmp(json_string_value(json_object_get(x, "name")), name))
                o = x;
        }
        if (!o) {
            json_array_append_new(ostates, json_deep_copy(s));
            continue;
        }
        json_object_set_new(o, "entries",
                            json_integer(int_at(o, "entries") + int_at(s, "entries")));
        json_object_set_new(o, "bytes", json_integer(int_at(o, "bytes") + int_at(s, "bytes")));
    }
}

static int inspect_all(struct insp *in, weir_restore *r, json_t *doc, char *err, size_t errlen)
{
    const struct weir_ckpt_meta *m = weir_restore_meta(r);
    json_t *ops = json_object_get(doc, "operators");
    uint64_t bytes = 0;
    size_t files = 0;
    for (size_t i = 0; i < m->entry_count; i++) {
        const struct weir_ckpt_entry *e = &m->entries[i];
        json_t *op = NULL, *x;
        size_t j;
        json_array_foreach(ops, j, x)
        {
            if (!strcmp(json_string_value(json_object_get(x, "uid")), e->operator_uid))
                op = x;
        }
        if (!op) {
            bool keyed = e->kg_first != WEIR_KG_NONE;
            op = json_pack("{s:s, s:I, s:b, s:s, s:I, s:I, s:{s:I, s:I}, s:[], s:[]}", "uid",
                           e->operator_uid, "parallelism", (json_int_t)e->parallelism, "keyed",
                           keyed, "backend", chk_backend_str(e->backend), "bytes", (json_int_t)0,
                           "operator_state_bytes", (json_int_t)0, "timers", "event_time",
                           (json_int_t)0, "processing_time", (json_int_t)0, "states", "subtasks");
            if (!op)
                return -ENOMEM;
            if (keyed)
                json_object_set_new(op, "key_groups_per_subtask",
                                    json_real((double)m->max_parallelism / e->parallelism));
            json_array_append_new(ops, op);
        }
        json_t *sub = NULL;
        int rc = inspect_entry(in, r, e, &sub, err, errlen);
        if (sub)
            json_array_append_new(json_object_get(op, "subtasks"), sub);
        if (rc < 0)
            return rc;
        sum_into(op, sub);
        if (e->file && *e->file) {
            files++;
            bytes += e->size_bytes;
        }
    }
    json_t *shared = json_object_get(doc, "shared");
    for (size_t i = 0; i < m->shared_count; i++) {
        json_array_append_new(shared, json_pack("{s:s, s:I}", "name", m->shared[i].name, "bytes",
                                                (json_int_t)m->shared[i].size_bytes));
        bytes += m->shared[i].size_bytes;
    }
    json_object_set_new(doc, "files", json_integer((json_int_t)(files + m->shared_count + 1)));
    json_object_set_new(doc, "bytes", json_integer((json_int_t)bytes));
    return 0;
}

int weir_checkpoint_inspect(const char *path, const struct weir_inspect_opts *opts, char **json,
                            char *err, size_t errlen)
{
    static const struct weir_inspect_opts none = {0};
    *json = NULL;
    err[0] = 0;
    weir_restore *r = NULL;
    int rc = weir_restore_open_dir(path, 0, &r, err, errlen); /* every checksum */
    if (rc < 0) {
        /* not a checkpoint: no such directory, or one without _metadata; a file that the
         * _metadata of one lists and is missing is damage */
        struct stat st;
        char *meta = NULL;
        bool not_ckpt = rc == -EINVAL || stat(path, &st) < 0 || !S_ISDIR(st.st_mode) ||
                        asprintf(&meta, "%s/_metadata", path) < 0 || stat(meta, &st) < 0;
        free(meta);
        return not_ckpt || (rc != -ENOENT && rc != -ENOTDIR) ? rc : -EBADMSG;
    }
    const struct weir_ckpt_meta *m = weir_restore_meta(r);
    rc = chk_check_entries(m, path, err, errlen);
    for (size_t i = 0; i < m->entry_count && rc == 0; i++)
        if (m->entries[i].file && *m->entries[i].file)
            rc = chk_check_identity(r, m, &m->entries[i], err, errlen);
    if (rc < 0) {
        weir_restore_close(r);
        return rc;
    }
    struct insp in = {.opts = opts ? opts : &none, .maxp = m->max_parallelism};
    json_t *doc =
        json_pack("{s:s, s:s, s:I, s:b, s:I, s:I, s:b, s:[], s:[]}", "path", path, "job",
                  m->job ? m->job : "", "checkpoint_id", (json_int_t)m->checkpoint_id, "savepoint",
                  m->savepoint, "timestamp_ms", (json_int_t)m->timestamp_ms, "max_parallelism",
                  (json_int_t)m->max_parallelism, "checksums_verified", 1, "shared", "operators");
    in.values = json_array();
    rc = doc && in.values ? inspect_all(&in, r, doc, err, errlen) : -ENOMEM;
    if (rc == 0 && in.opts->has_key) {
        json_t *l = json_pack("{s:I, s:I, s:b, s:O}", "key", (json_int_t)in.opts->key, "key_group",
                              (json_int_t)weir_key_group_of(in.opts->key, m->max_parallelism),
                              "found", json_array_size(in.values) > 0, "values", in.values);
        if (l && in.opts->state)
            json_object_set_new(l, "state", json_string(in.opts->state));
        json_object_set_new(doc, "lookup", l);
    }
    if (rc == 0) {
        *json = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (!*json)
            rc = -ENOMEM;
    }
    if (rc == -ENOMEM && !err[0])
        errbuf_printf(err, errlen, "%s: out of memory", path);
    json_decref(in.values);
    json_decref(doc);
    weir_state_env_free(in.heap_env);
    weir_state_env_free(in.rocks_env);
    if (in.rocks_dir[0])
        rocks_rm_rf(in.rocks_dir);
    weir_restore_close(r);
    return rc;
}
