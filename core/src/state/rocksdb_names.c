/*
 * The names of an incremental RocksDB checkpoint's states. Its instance stores each entry
 * under the state's id (rocksdb.c's key layout), and an id is only the state's place in the
 * order its operator declared it. A job upgraded to declare its states in another order, or
 * a new one before the old ones, would read state A's entries as state B's if the restore
 * went by id; so the state file lists every state of the instance with its id, and the
 * restore matches them to the restoring backend's states by name, as a full snapshot's
 * descriptors are (snapshot.c).
 *
 *   TAG_ROCKS_STATES   u32 count, then per state the descriptor snapshot.c writes:
 *                      u16 id  u8 kind  u8 flags (1 ttl, 2 update on read)  u32 key size
 *                      u32 value size  i64 ttl ms  u16 name length, name
 *
 * A checkpoint written before this section existed restores by id, as it always did.
 * rdb_drop_state, here too: a restored state the upgraded job does not declare, deleted
 * (--allow-non-restored-state).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/storage.h>

#include "checkpoint_rocksdb.h"
#include "state_private.h"

#define NAME_MAX_LEN 1024

int rocks_states_write(weir_ckpt_file *f, const weir_keyed_backend *be)
{
    struct weir_snapshot_out *out = weir_ckpt_file_out(f);
    int rc = weir_ckpt_file_section_begin(f, TAG_ROCKS_STATES);
    uint32_t count = be->nstates;
    if (rc == 0)
        rc = out->write(out, &count, sizeof count);
    for (uint32_t i = 0; rc == 0 && i < be->nstates; i++) {
        const struct kstate *s = be->states[i];
        uint8_t d[STATE_DESC_BYTES];
        size_t len = strlen(s->name);
        uint16_t nl = (uint16_t)(len > NAME_MAX_LEN ? NAME_MAX_LEN : len);
        state_desc_encode(s, nl, d);
        rc = out->write(out, d, sizeof d);
        if (rc == 0)
            rc = out->write(out, s->name, nl);
    }
    return rc;
}

static int by_new_id(const void *a, const void *b)
{
    const struct rocks_sid_map *x = a, *y = b;
    return (x->to > y->to) - (x->to < y->to);
}

/* One descriptor, matched by name to a state of be (registered now when the job has not
 * declared it yet): *m gets its key bytes in the checkpoint and in be. */
static int read_one(weir_keyed_backend *be, struct weir_snapshot_in *in, bool *seen,
                    struct rocks_sid_map *m, char *why, size_t whylen)
{
    uint8_t d[STATE_DESC_BYTES];
    char name[NAME_MAX_LEN + 1];
    struct state_desc sd;
    int rc = in->read(in, d, sizeof d);
    if (rc < 0)
        return rc;
    state_desc_decode(d, &sd);
    uint16_t id = sd.id, nl = sd.name_len;
    if (id >= STATE_MAX || seen[id] || sd.kind > KIND_AGGREGATING || nl == 0 || nl > NAME_MAX_LEN) {
        snprintf(why, whylen, "the state file's list of states is damaged (state id %u)", id);
        return -EBADMSG;
    }
    seen[id] = true;
    rc = in->read(in, name, nl);
    if (rc < 0)
        return rc;
    name[nl] = '\0';
    state_err_clear(be);
    struct kstate *s = state_declare(be, name, (enum state_kind)sd.kind, sd.key_size,
                                     sd.value_size, &sd.ttl, true);
    if (!s) {
        snprintf(why, whylen, "%s", be->err);
        return -EINVAL;
    }
    m->from = (uint16_t)(id | (sd.ttl.ttl_ms > 0 ? TTL_BIT : 0));
    m->to = rdb_sid_of(s);
    return 0;
}

int rocks_states_read(weir_keyed_backend *be, weir_restore_file *f, struct rocks_sid_map **map,
                      size_t *n, char *why, size_t whylen)
{
    size_t sec;
    *map = NULL;
    *n = 0;
    if (weir_restore_file_find(f, TAG_ROCKS_STATES, &sec) != 0)
        return 0; /* written before the section existed: by id */
    struct weir_snapshot_in *in = weir_restore_file_section_in(f, sec);
    uint32_t count;
    int rc = in->read(in, &count, sizeof count);
    if (rc < 0)
        return rc;
    if (count > STATE_MAX) {
        snprintf(why, whylen, "the state file lists %u states, more than %d", count, STATE_MAX);
        return -EBADMSG;
    }
    struct rocks_sid_map *m = calloc(count ? count : 1, sizeof *m);
    bool *seen = calloc(STATE_MAX, sizeof *seen);
    rc = m && seen ? 0 : -ENOMEM;
    bool same = true;
    for (uint32_t i = 0; rc == 0 && i < count; i++) {
        rc = read_one(be, in, seen, &m[i], why, whylen);
        same = same && m[i].from == m[i].to;
    }
    free(seen);
    if (rc < 0 || same) {
        free(m);
        return rc;
    }
    qsort(m, count, sizeof *m, by_new_id);
    *map = m;
    *n = count;
    return 0;
}

int rdb_drop_state(struct kstate *s)
{
    weir_keyed_backend *be = s->be;
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_writeoptions_t *wo;
    const char *dir;
    rdb_handles(be, &db, &opts, &wo, &dir);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    uint16_t sid = rdb_sid_of(s);
    for (uint32_t kg = be->kg_first; kg <= be->kg_last; kg++) {
        uint8_t lo[4], hi[4];
        rdb_put_be16(lo, (uint16_t)kg);
        rdb_put_be16(lo + 2, sid);
        rdb_put_be16(hi, (uint16_t)kg);
        rdb_put_be16(hi + 2, (uint16_t)(sid + 1));
        rocksdb_writebatch_delete_range(wb, (const char *)lo, 4, (const char *)hi, 4);
    }
    char *err = NULL;
    rocksdb_write(db, wo, wb, &err);
    rocksdb_writebatch_destroy(wb);
    return err ? rdb_err(be, err) : 0;
}
