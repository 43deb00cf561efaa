/*
 * Incremental RocksDB checkpoints (state.backend.incremental: true), as
 * Flink's: instead of serializing every entry, a subtask's snapshot is a
 * RocksDB checkpoint (a flush, then hard links of the live SST files, the
 * synchronous part) whose SST files go to the storage's shared/ directory
 * under names that identify their content (an SST file is immutable, and its
 * number is unique within one RocksDB instance, whose identity is in the
 * name). A file already in shared/ is referenced again, not copied: the
 * checkpoint's size is what changed since the last one. The small files that
 * describe the instance (MANIFEST, CURRENT, OPTIONS) go into the state file.
 *
 * State file sections written here:
 *   TAG_ROCKS_SHARED            count, then (shared name, file name) pairs
 *   TAG_ROCKS_FILE | i          file name, then its bytes
 *   TAG_ROCKS_STATES            the states' names and ids (rocksdb_names.c)
 *
 * Restore materializes the instance in a scratch directory (SSTs hard-linked
 * from the checkpoint, small files written). The first file a subtask restores
 * (restore.c takes the one whose key groups overlap the subtask's most) becomes
 * its instance (opened in place of the empty live one, the key groups
 * it does not own deleted as ranges: nothing is read or written entry by entry,
 * so a restore at the same parallelism costs links and an open); the entries
 * of the key groups it owns in any further file (another parallelism) are
 * read from it in key order into one SST file, which the live instance
 * ingests (no write path, no memtable). Entries are keyed by state id, which is
 * only the order the operator declared its states in: when the restoring job's states
 * (matched by name) have other ids, nothing is opened in place; every owned key group is
 * copied into the SST, state by state, its entries' ids rewritten. Savepoints always use
 * the full, backend-independent format.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <stdatomic.h>
#include <unistd.h>

#include <rocksdb/c.h>

#include <weir/privdir.h>
#include <weir/storage.h>

#include "checkpoint_rocksdb.h"
#include "state_private.h"

_Atomic uint64_t rocks_restore_entries_copied;

void rocks_rm_rf(const char *dir)
{
    if (dir)
        privdir_rm_tree(dir);
}

bool rocks_incremental_applies(weir_keyed_backend *be)
{
    return rdb_is_rocksdb(be);
}

static int read_whole(const char *path, char **buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    *len = (size_t)st.st_size;
    *buf = malloc(*len ? *len : 1);
    if (!*buf) {
        close(fd);
        return -ENOMEM;
    }
    size_t got = 0;
    while (got < *len) {
        ssize_t n = read(fd, *buf + got, *len - got);
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            close(fd);
            free(*buf);
            return -e;
        }
        got += (size_t)n;
    }
    close(fd);
    return 0;
}

static int put_str(struct weir_snapshot_out *o, const char *s)
{
    uint32_t n = (uint32_t)strlen(s);
    int rc = o->write(o, &n, sizeof n);
    return rc ? rc : o->write(o, s, n);
}

static int get_str(struct weir_snapshot_in *in, char *buf, size_t cap)
{
    uint32_t n;
    int rc = in->read(in, &n, sizeof n);
    if (rc < 0)
        return rc;
    if (n >= cap)
        return -EBADMSG;
    rc = in->read(in, buf, n);
    buf[n] = 0;
    return rc;
}

/* The synchronous part: memtables flushed to SSTs (so the checkpoint is files only, no WAL
 * replay), then a RocksDB checkpoint (hard links) in *tmp_dir. */
static int checkpoint_instance(rocksdb_t *db, const char *dir, uint64_t id, char **tmp_dir)
{
    char *err = NULL;
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    rocksdb_flush(db, fo, &err);
    rocksdb_flushoptions_destroy(fo);
    if (err)
        goto rocks_err;
    if (asprintf(tmp_dir, "%s.chk-%" PRIu64, dir, id) < 0) {
        *tmp_dir = NULL;
        return -ENOMEM;
    }
    rocks_rm_rf(*tmp_dir);
    rocksdb_checkpoint_t *cp = rocksdb_checkpoint_object_create(db, &err);
    if (!err) {
        rocksdb_checkpoint_create(cp, *tmp_dir, 0, &err);
        rocksdb_checkpoint_object_destroy(cp);
    }
    if (err)
        goto rocks_err;
    return 0;
rocks_err:
    rocksdb_free(err);
    return -EIO;
}

/* The live instance's identity (up to 16 hex digits), which makes SST names unique across
 * instances; -EIO without it, as SST names could then repeat. */
static int read_identity(const char *dir, char identity[17])
{
    char path[4096], *buf;
    size_t len, o = 0;
    snprintf(path, sizeof path, "%s/IDENTITY", dir);
    if (read_whole(path, &buf, &len) == 0) {
        for (size_t i = 0; i < len && o < 16; i++)
            if ((buf[i] >= '0' && buf[i] <= '9') || (buf[i] >= 'a' && buf[i] <= 'f'))
                identity[o++] = buf[i];
        free(buf);
    }
    identity[o] = 0;
    return o ? 0 : -EIO;
}

/* A checkpoint directory's files: SSTs (shared) and the rest (private, small). */
struct ckpt_files {
    char **sst, **priv;
    int n_sst, n_priv;
};

static void ckpt_files_free(struct ckpt_files *cf)
{
    for (int i = 0; i < cf->n_sst; i++)
        free(cf->sst[i]);
    for (int i = 0; i < cf->n_priv; i++)
        free(cf->priv[i]);
    free(cf->sst);
    free(cf->priv);
}

static int list_files(const char *tmp_dir, struct ckpt_files *cf)
{
    DIR *d = opendir(tmp_dir);
    if (!d)
        return -errno;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) && rc == 0) {
        if (de->d_name[0] == '.')
            continue;
        size_t l = strlen(de->d_name);
        bool is_sst = l > 4 && !strcmp(de->d_name + l - 4, ".sst");
        char ***list = is_sst ? &cf->sst : &cf->priv;
        int *n = is_sst ? &cf->n_sst : &cf->n_priv;
        char **nl = realloc(*list, (size_t)(*n + 1) * sizeof *nl);
        if (!nl || !(nl[*n] = strdup(de->d_name))) {
            if (nl)
                *list = nl;
            rc = -ENOMEM;
            break;
        }
        *list = nl;
        (*n)++;
    }
    closedir(d);
    return rc;
}

/* TAG_ROCKS_SHARED: each SST handed to the storage's shared/ under a content name (counted
 * as new bytes, the checkpoint's and the subtask's in *new_bytes, when the storage did not
 * hold it yet) and listed for the _metadata. */
static int write_shared(weir_storage *st, weir_ckpt *ck, weir_ckpt_file *f, const char *file_base,
                        const char *identity, const char *tmp_dir, const struct ckpt_files *cf,
                        struct rocks_shared_list *shared, uint64_t *new_bytes)
{
    struct weir_snapshot_out *out = weir_ckpt_file_out(f);
    int rc = weir_ckpt_file_section_begin(f, TAG_ROCKS_SHARED);
    uint32_t count = (uint32_t)cf->n_sst;
    if (rc == 0)
        rc = out->write(out, &count, sizeof count);
    for (int i = 0; rc == 0 && i < cf->n_sst; i++) {
        char name[512], path[4608];
        snprintf(name, sizeof name, "%s-%s-%s", file_base, identity, cf->sst[i]);
        snprintf(path, sizeof path, "%s/%s", tmp_dir, cf->sst[i]);
        struct stat sb;
        if (weir_storage_shared_refs(st, name) == 0 && stat(path, &sb) == 0) {
            atomic_fetch_add(&shared->new_bytes, (uint64_t)sb.st_size);
            *new_bytes += (uint64_t)sb.st_size;
        }
        rc = weir_ckpt_shared_add(ck, path, name);
        if (rc == 0)
            rc = put_str(out, name);
        if (rc == 0)
            rc = put_str(out, cf->sst[i]);
        if (rc == 0)
            rc = rocks_shared_list_add(shared, name);
    }
    return rc;
}

/* TAG_ROCKS_FILE | i: each small file (MANIFEST, CURRENT, OPTIONS...) by name and bytes. */
static int write_private(weir_ckpt_file *f, const char *tmp_dir, const struct ckpt_files *cf)
{
    struct weir_snapshot_out *out = weir_ckpt_file_out(f);
    int rc = 0;
    for (int i = 0; rc == 0 && i < cf->n_priv; i++) {
        char path[4096], *buf;
        size_t len;
        snprintf(path, sizeof path, "%s/%s", tmp_dir, cf->priv[i]);
        rc = read_whole(path, &buf, &len);
        if (rc < 0)
            break;
        rc = weir_ckpt_file_section_begin(f, TAG_ROCKS_FILE | (uint64_t)i);
        uint64_t l64 = len;
        if (rc == 0)
            rc = put_str(out, cf->priv[i]);
        if (rc == 0)
            rc = out->write(out, &l64, sizeof l64);
        if (rc == 0 && len)
            rc = out->write(out, buf, len);
        free(buf);
    }
    return rc;
}

int rocks_incremental_snapshot(weir_storage *st, weir_keyed_backend *be, weir_ckpt *ck,
                               weir_ckpt_file *f, const char *file_base, uint64_t id,
                               char **tmp_dir, struct rocks_shared_list *shared,
                               uint64_t *new_bytes)
{
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_writeoptions_t *wo;
    const char *dir;
    char identity[17];
    struct ckpt_files cf = {0};
    rdb_handles(be, &db, &opts, &wo, &dir);
    int rc = checkpoint_instance(db, dir, id, tmp_dir);
    if (rc == 0)
        rc = read_identity(dir, identity);
    if (rc < 0)
        return rc;
    rc = list_files(*tmp_dir, &cf);
    if (rc == 0)
        rc = rocks_states_write(f, be);
    if (rc == 0)
        rc = write_shared(st, ck, f, file_base, identity, *tmp_dir, &cf, shared, new_bytes);
    if (rc == 0)
        rc = write_private(f, *tmp_dir, &cf);
    ckpt_files_free(&cf);
    return rc;
}

int rocks_shared_list_add(struct rocks_shared_list *l, const char *name)
{
    pthread_mutex_lock(&l->lock);
    int rc = 0;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 64;
        char **v = realloc(l->names, ncap * sizeof *v);
        if (!v)
            rc = -ENOMEM;
        else {
            l->names = v;
            l->cap = ncap;
        }
    }
    if (rc == 0 && !(l->names[l->n] = strdup(name)))
        rc = -ENOMEM;
    if (rc == 0)
        l->n++;
    pthread_mutex_unlock(&l->lock);
    return rc;
}

void rocks_shared_list_free(struct rocks_shared_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->names[i]);
    free(l->names);
    l->names = NULL;
    l->n = l->cap = 0;
}

bool rocks_file_is_incremental(weir_restore_file *f)
{
    size_t i;
    return weir_restore_file_find(f, TAG_ROCKS_SHARED, &i) == 0;
}

/* Writes len bytes of buf to a new file at path. */
static int write_whole(const char *path, const char *buf, size_t len)
{
    int rc = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, buf, len) != (ssize_t)len)
        rc = -EIO;
    if (fd >= 0)
        close(fd);
    return rc;
}

/* A name a state file gives a file of the instance it rebuilds in scratch: the file may come
 * from anyone (a savepoint handed over), so a name that is not one plain file name ("../x",
 * "/etc/x", "a/b", "..", "") would have the restore write or link outside scratch. */
static int local_name(const char *name, const char *what, char *why, size_t whylen)
{
    if (*name && strcmp(name, ".") && strcmp(name, "..") && !strchr(name, '/'))
        return 0;
    snprintf(why, whylen, "the state file names %s \"%s\", not a plain file name", what, name);
    return -EBADMSG;
}

/* The shared SSTs into scratch: hard links from the checkpoint, or copies where a link
 * cannot be made. */
static int link_shared(weir_restore *r, weir_restore_file *f, const char *scratch, char *why,
                       size_t whylen)
{
    size_t sec;
    if (weir_restore_file_find(f, TAG_ROCKS_SHARED, &sec) != 0)
        return 0;
    struct weir_snapshot_in *in = weir_restore_file_section_in(f, sec);
    uint32_t count;
    int rc = in->read(in, &count, sizeof count);
    for (uint32_t i = 0; rc == 0 && i < count; i++) {
        char name[512], local[512], src[4096], dst[4608];
        rc = get_str(in, name, sizeof name);
        if (rc == 0)
            rc = get_str(in, local, sizeof local);
        if (rc == 0)
            rc = local_name(local, "a shared SST's local copy", why, whylen);
        if (rc == 0)
            rc = weir_restore_shared_path(r, name, src, sizeof src);
        if (rc < 0)
            break;
        snprintf(dst, sizeof dst, "%s/%s", scratch, local);
        if (link(src, dst) < 0) {
            char *buf;
            size_t len;
            rc = read_whole(src, &buf, &len);
            if (rc == 0) {
                rc = write_whole(dst, buf, len);
                free(buf);
            }
        }
    }
    return rc;
}

/* The instance's own small files (TAG_ROCKS_FILE sections) into scratch. */
static int write_small_files(weir_restore_file *f, const char *scratch, char *why, size_t whylen)
{
    size_t nsec = weir_restore_file_section_count(f);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < nsec; i++) {
        uint64_t tag, len;
        if (weir_restore_file_section(f, i, &tag, &len) < 0 ||
            (tag >> 32) != (TAG_ROCKS_FILE >> 32))
            continue;
        struct weir_snapshot_in *in = weir_restore_file_section_in(f, i);
        char name[512], path[4608];
        uint64_t n;
        rc = get_str(in, name, sizeof name);
        if (rc == 0)
            rc = local_name(name, "a RocksDB file", why, whylen);
        if (rc == 0)
            rc = in->read(in, &n, sizeof n);
        if (rc == 0 && n > len) { /* before it is allocated */
            snprintf(why, whylen,
                     "the state file gives RocksDB file %s %llu bytes, more than its "
                     "section holds",
                     name, (unsigned long long)n);
            rc = -EBADMSG;
        }
        char *buf = rc == 0 ? malloc(n ? n : 1) : NULL;
        if (rc == 0 && !buf)
            rc = -ENOMEM;
        if (rc == 0 && n)
            rc = in->read(in, buf, n);
        if (rc == 0) {
            snprintf(path, sizeof path, "%s/%s", scratch, name);
            rc = write_whole(path, buf, n);
        }
        free(buf);
    }
    return rc;
}

struct import_run {
    rocksdb_iterator_t *it;
    rocksdb_sstfilewriter_t *w;
    char *kbuf; /* a key with its state id rewritten */
    size_t kcap;
    uint64_t n;
    char *err;
};

/* Puts into the SST the iterator's entries from key `from` on, in key order: with m NULL,
 * every one up to the end of key group last; with m, those of one state of one key group
 * (from's four bytes), their state id rewritten to m->to. */
static void put_run(struct import_run *ir, const unsigned char *from, size_t flen, uint32_t last,
                    const struct rocks_sid_map *m)
{
    for (rocksdb_iter_seek(ir->it, (const char *)from, flen);
         !ir->err && rocksdb_iter_valid(ir->it); rocksdb_iter_next(ir->it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(ir->it, &kl);
        if (kl < 2 && !m)
            continue;
        if (m && (kl < 4 || memcmp(k, from, 4) != 0))
            break; /* past the state's run: keys sort by (key group, state id) */
        uint32_t kg = ((uint32_t)(unsigned char)k[0] << 8) | (unsigned char)k[1];
        if (kg > last)
            break;
        if (m) {
            if (kl > ir->kcap) {
                char *nb = realloc(ir->kbuf, kl);
                if (!nb) {
                    ir->err = strdup("out of memory");
                    break;
                }
                ir->kbuf = nb;
                ir->kcap = kl;
            }
            memcpy(ir->kbuf, k, kl);
            rdb_put_be16((uint8_t *)ir->kbuf + 2, m->to);
            k = ir->kbuf;
        }
        const char *v = rocksdb_iter_value(ir->it, &vl);
        rocksdb_sstfilewriter_put(ir->w, k, kl, v, vl, &ir->err);
        ir->n++;
    }
}

/* Moves the entries of key groups [first, last] of the instance rebuilt in scratch into the
 * live instance db, as Flink's rescaling restore does: read in key order from the checkpointed
 * instance (keys start with the key group, big-endian, so the key groups are one run of keys)
 * into an SST file in the live instance's directory (dir), which db then ingests. With a map
 * (the states have other ids here), key group by key group, state by state in the order of
 * their new ids, so that the SST's keys still ascend. */
static int import_key_groups(rocksdb_t *db, rocksdb_options_t *opts, const char *dir,
                             const char *scratch, uint32_t first, uint32_t last,
                             const struct rocks_sid_map *map, size_t nmap, char *errbuf,
                             size_t errlen)
{
    struct import_run ir = {0};
    rocksdb_t *old = rocksdb_open_for_read_only(opts, scratch, 0, &ir.err);
    if (ir.err) {
        snprintf(errbuf, errlen, "opening the RocksDB checkpoint: %s", ir.err);
        rocksdb_free(ir.err);
        return -EIO;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/weir-restore-import.sst", dir);
    rocksdb_envoptions_t *eo = rocksdb_envoptions_create();
    ir.w = rocksdb_sstfilewriter_create(eo, opts);
    rocksdb_sstfilewriter_open(ir.w, path, &ir.err);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_fill_cache(ro, 0); /* read once: not worth the live instances' cache */
    ir.it = rocksdb_create_iterator(old, ro);
    unsigned char start[4] = {(unsigned char)(first >> 8), (unsigned char)first};
    if (!map)
        put_run(&ir, start, 2, last, NULL);
    for (uint32_t kg = first; map && kg <= last && !ir.err; kg++)
        for (size_t i = 0; i < nmap && !ir.err; i++) {
            rdb_put_be16(start, (uint16_t)kg);
            rdb_put_be16(start + 2, map[i].from);
            put_run(&ir, start, 4, last, &map[i]);
        }
    if (!ir.err)
        rocksdb_iter_get_error(ir.it, &ir.err);
    if (!ir.err && ir.n) /* an SST of no entries is refused: nothing to ingest then */
        rocksdb_sstfilewriter_finish(ir.w, &ir.err);
    rocksdb_iter_destroy(ir.it);
    rocksdb_readoptions_destroy(ro);
    rocksdb_sstfilewriter_destroy(ir.w);
    rocksdb_envoptions_destroy(eo);
    rocksdb_close(old);
    free(ir.kbuf);
    if (!ir.err && ir.n && rdb_ingest_file(db, path, &ir.err) == 0)
        atomic_fetch_add_explicit(&rocks_restore_entries_copied, ir.n, memory_order_relaxed);
    unlink(path); /* moved by a successful ingest; otherwise ours to remove */
    if (ir.err) {
        snprintf(errbuf, errlen, "copying state from the RocksDB checkpoint: %s", ir.err);
        rocksdb_free(ir.err);
        return -EIO;
    }
    return 0;
}

/* The key group of db's first (or last) key; false when db holds none. */
static bool edge_key_group(rocksdb_t *db, bool last, uint32_t *kg)
{
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_iterator_t *it = rocksdb_create_iterator(db, ro);
    if (last)
        rocksdb_iter_seek_to_last(it);
    else
        rocksdb_iter_seek_to_first(it);
    size_t kl = 0;
    const char *k = rocksdb_iter_valid(it) ? rocksdb_iter_key(it, &kl) : NULL;
    bool found = k && kl >= 2;
    if (found)
        *kg = ((uint32_t)(unsigned char)k[0] << 8) | (unsigned char)k[1];
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    return found;
}

/* Deletes, as two ranges, the key groups of db below first and above last (a checkpoint of
 * another parallelism holds key groups this subtask does not own). */
static int trim_key_groups(rocksdb_t *db, rocksdb_writeoptions_t *wo, uint32_t first, uint32_t last,
                           char *errbuf, size_t errlen)
{
    uint32_t lo, hi;
    if (!edge_key_group(db, false, &lo) || !edge_key_group(db, true, &hi))
        return 0;
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    const char zero[2] = {0, 0}, end[3] = {'\xff', '\xff', '\xff'};
    const char below[2] = {(char)(first >> 8), (char)first};
    const char above[2] = {(char)((last + 1) >> 8), (char)(last + 1)};
    char *err = NULL;
    /* SST files wholly outside [first, last] dropped first (Flink's deleteFilesInRanges): no
     * compaction has to read them to apply the range deletions. */
    if (lo < first) {
        rocksdb_delete_file_in_range(db, zero, 2, below, 2, &err);
        rocksdb_writebatch_delete_range(wb, zero, 2, below, 2);
    }
    if (!err && hi > last) {
        rocksdb_delete_file_in_range(db, above, 2, end, 3, &err);
        rocksdb_writebatch_delete_range(wb, above, 2, end, 3);
    }
    if (!err && rocksdb_writebatch_count(wb))
        rocksdb_write(db, wo, wb, &err);
    rocksdb_writebatch_destroy(wb);
    if (err) {
        snprintf(errbuf, errlen, "deleting the key groups not owned: %s", err);
        rocksdb_free(err);
        return -EIO;
    }
    return 0;
}

/* Rebuilds the checkpointed instance in scratch (SSTs hard-linked). Into an empty live
 * instance (the first file of a restore) it is taken whole, as Flink does: opened in place of
 * the live one, the key groups outside [first, last] deleted as ranges, so that no entry is
 * read or written one by one. Into an instance that holds state already (the next files,
 * at another parallelism) key groups [first, last] are written into an SST and ingested. */
int rocks_incremental_restore(weir_keyed_backend *be, weir_restore *r, weir_restore_file *f,
                              uint32_t first, uint32_t last, char *errbuf, size_t errlen)
{
    if (!rdb_is_rocksdb(be)) {
        snprintf(errbuf, errlen,
                 "an incremental RocksDB checkpoint restores only with state.backend: rocksdb "
                 "(take a savepoint to change backends)");
        return -EINVAL;
    }
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_writeoptions_t *wo;
    const char *dir;
    uint32_t any;
    rdb_handles(be, &db, &opts, &wo, &dir);
    char scratch[4000];
    snprintf(scratch, sizeof scratch, "%s.restore", dir);
    rocks_rm_rf(scratch);
    if (mkdir(scratch, 0700) < 0)
        return -errno;
    char why[700] = "";
    struct rocks_sid_map *map = NULL;
    size_t nmap = 0;
    int rc = rocks_states_read(be, f, &map, &nmap, why, sizeof why);
    if (rc == -EINVAL) { /* a state the job declares with another kind or size: its line */
        snprintf(errbuf, errlen, "%s", why);
        rocks_rm_rf(scratch);
        return rc;
    }
    if (rc == 0)
        rc = link_shared(r, f, scratch, why, sizeof why);
    if (rc == 0)
        rc = write_small_files(f, scratch, why, sizeof why);
    if (rc < 0) {
        snprintf(errbuf, errlen, "rebuilding the RocksDB checkpoint in %s: %s", scratch,
                 why[0] ? why : strerror(-rc));
    } else if (!map && !edge_key_group(db, false, &any)) {
        rc = rdb_adopt_instance(be, scratch, errbuf, errlen);
        rdb_handles(be, &db, &opts, &wo, &dir);
        if (rc == 0)
            rc = trim_key_groups(db, wo, first, last, errbuf, errlen);
    } else {
        rc = import_key_groups(db, opts, dir, scratch, first, last, map, nmap, errbuf, errlen);
    }
    free(map);
    rocks_rm_rf(scratch);
    return rc;
}
