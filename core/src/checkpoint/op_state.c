/*
 * Operator (non-keyed) state at another parallelism, as Flink's operator list state
 * (enum weir_state_mode in weir/job.h).
 *
 * An operator whose state_mode is SPLIT or UNION writes its state as items: its snapshot
 * hook calls weir_snapshot_write_item, which frames each item as a u32 length and its
 * bytes, in the state file's TAG_OPERATOR_LIST section (snapshot.c opens that section
 * instead of TAG_OPERATOR). On restore every new subtask reads the items of every old
 * subtask (chk_items_load: old subtasks in order, each one's items in the order written)
 * and keeps its share (chk_items_deal): SPLIT deals them round-robin, item k to subtask
 * k % p, so every item goes to exactly one subtask and, at the parallelism the state was
 * taken at, the items of subtask i go back to subtask i when each had one; UNION gives every
 * subtask every item. The operator's restore_items hook then sees its share once, even when
 * it is empty, so that a subtask that inherits nothing knows it (a source without splits is
 * idle, it does not start the splits its index had at first).
 *
 * A state file written before list state existed has the operator's bytes in a plain
 * TAG_OPERATOR section: they are read as the one item of their subtask.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/job.h>
#include <weir/state.h>
#include <weir/storage.h>

#include "checkpoint.h"

int weir_snapshot_write_item(struct weir_snapshot_out *out, const void *data, size_t len)
{
    if (!out || (len && !data) || len > UINT32_MAX)
        return -EINVAL;
    uint32_t n = (uint32_t)len;
    int rc = out->write(out, &n, sizeof n);
    return rc == 0 && len ? out->write(out, data, len) : rc;
}

void chk_items_free(struct chk_items *l)
{
    for (size_t i = 0; i < l->n; i++)
        free((void *)l->v[i].data);
    free(l->v);
    *l = (struct chk_items){0};
}

static int items_push(struct chk_items *l, void *data, size_t len, uint32_t subtask, uint32_t p)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 8;
        struct weir_state_item *nv = realloc(l->v, ncap * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        l->v = nv;
        l->cap = ncap;
    }
    l->v[l->n++] = (struct weir_state_item){
        .data = data, .len = len, .subtask = subtask, .parallelism = p};
    return 0;
}

/* Reads len bytes of in into a new buffer (one byte at least, so that an empty item has
 * data too) and appends it as an item of e's subtask. */
static int read_item(struct chk_items *l, struct weir_snapshot_in *in, size_t len,
                     const struct weir_ckpt_entry *e)
{
    void *buf = malloc(len ? len : 1);
    if (!buf)
        return -ENOMEM;
    int rc = len ? in->read(in, buf, len) : 0;
    if (rc == -ENODATA)
        rc = -EIO; /* the length said there was more */
    if (rc == 0)
        rc = items_push(l, buf, len, e->subtask, e->parallelism);
    if (rc < 0)
        free(buf);
    return rc;
}

/* The items of one state file: its framed list, or its plain section as one item. */
static int load_file(weir_restore *r, const struct weir_ckpt_entry *e, struct chk_items *l)
{
    weir_restore_file *f;
    int rc = weir_restore_file_open(r, e->file, &f);
    if (rc < 0)
        return rc;
    size_t sec;
    if (weir_restore_file_find(f, TAG_OPERATOR_LIST, &sec) == 0) {
        struct weir_snapshot_in *in = weir_restore_file_section_in(f, sec);
        for (;;) {
            uint32_t len;
            rc = in->read(in, &len, sizeof len);
            if (rc < 0)
                break;
            if ((rc = read_item(l, in, len, e)) < 0)
                break;
        }
        if (rc == -ENODATA) /* the end of the list */
            rc = 0;
    } else if (weir_restore_file_find(f, TAG_OPERATOR, &sec) == 0) {
        uint64_t tag, len;
        rc = weir_restore_file_section(f, sec, &tag, &len);
        if (rc == 0)
            rc = len > SIZE_MAX ? -EFBIG
                                : read_item(l, weir_restore_file_section_in(f, sec), len, e);
    }
    weir_restore_file_close(f);
    return rc;
}

int chk_items_load(weir_restore *r, const struct weir_ckpt_meta *m, const char *uid,
                   struct chk_items *out)
{
    *out = (struct chk_items){0};
    /* chk_check_entries made them one per subtask 0..p-1: found in subtask order */
    uint32_t p = 0;
    for (size_t i = 0; i < m->entry_count; i++)
        if (!strcmp(m->entries[i].operator_uid, uid) && m->entries[i].parallelism > p)
            p = m->entries[i].parallelism;
    int rc = 0;
    for (uint32_t sub = 0; sub < p && rc == 0; sub++)
        for (size_t i = 0; i < m->entry_count && rc == 0; i++) {
            const struct weir_ckpt_entry *e = &m->entries[i];
            if (!strcmp(e->operator_uid, uid) && e->subtask == sub && e->file && *e->file)
                rc = load_file(r, e, out);
        }
    if (rc < 0)
        chk_items_free(out);
    return rc;
}

size_t chk_items_deal(const struct weir_state_item *all, size_t n, enum weir_state_mode mode,
                      uint32_t p, uint32_t subtask, struct weir_state_item *mine)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (mode == WEIR_STATE_UNION || (p && i % p == subtask))
            mine[k++] = all[i];
    return k;
}
