/*
 * Restoring an incremental RocksDB checkpoint (rocks_incremental_restore), as Flink does: at
 * the same parallelism the instance is opened over the checkpoint's SST files (hard links)
 * rather than rebuilt entry by entry; at another parallelism the first instance is opened
 * the same way and the key groups it holds but the subtask does not own are deleted as
 * ranges, the others' owned key groups written into an SST and ingested. Each test checkpoints real
 * instances into a storage and checks the restored state key by key: everything owned, nothing
 * else.
 */
#include <dirent.h>
#include <pthread.h>
#include <sys/stat.h>

#include <weir/storage.h>

#include "checkpoint_rocksdb.h"
#include "state_private.h"
#include "state_test.h"

#define NKEYS 20000u

/* The directory of the storage storage_open opened last. */
static const char *storage_dir;

static weir_storage *storage_open(const char *tag)
{
    char err[512] = "";
    weir_storage *s = NULL;
    struct weir_storage_opts o = {
        .dir = wt_tmp_dir(tag), .job = "job", .num_retained = 2, .pool_bytes = 4 << 20};
    storage_dir = o.dir;
    if (weir_storage_open(&o, &s, err, sizeof err) < 0)
        fail_msg("weir_storage_open: %s", err);
    return s;
}

static bool owns(weir_keyed_backend *be, uint64_t key)
{
    uint32_t first, last, kg = weir_key_group_of(key, MAXP);
    weir_keyed_backend_key_groups(be, &first, &last);
    return kg >= first && kg <= last;
}

/* Calls fn(be, k, arg) with be at key k for every key k in [0, NKEYS) that be owns; returns
 * how many. */
static uint64_t each_owned(weir_keyed_backend *be,
                           void (*fn)(weir_keyed_backend *be, uint64_t k, void *arg), void *arg)
{
    uint64_t owned = 0;
    for (uint64_t k = 0; k < NKEYS; k++) {
        if (!owns(be, k))
            continue;
        owned++;
        at(be, k);
        fn(be, k, arg);
    }
    return owned;
}

static void assert_entries(weir_keyed_backend *be, uint64_t n)
{
    struct weir_keyed_backend_stats st = {0};
    weir_keyed_backend_stats_get(be, &st);
    assert_int_equal(st.entries, n);
}

static void put_3k(weir_keyed_backend *be, uint64_t k, void *v)
{
    uint64_t x = 3 * k;
    assert_int_equal(weir_value_put(v, &x), 0);
}

/* Key k -> 3k for every key in [0, NKEYS) that be owns. */
static void fill(weir_keyed_backend *be)
{
    weir_value_state *v = weir_value_state_get(be, "v", 8, NULL);
    assert_non_null(v);
    each_owned(be, put_3k, v);
}

static void has_3k(weir_keyed_backend *be, uint64_t k, void *v)
{
    const uint64_t *x = weir_value_get(v);
    if (!x)
        fail_msg("key %" PRIu64 " is missing after the restore", k);
    assert_int_equal(*x, 3 * k);
}

/* Every key be owns has its value, and be holds no other entry. */
static void check(weir_keyed_backend *be)
{
    weir_value_state *v = weir_value_state_get(be, "v", 8, NULL);
    assert_non_null(v);
    assert_entries(be, each_owned(be, has_3k, v));
}

/* Checkpoint id of the n instances be[] (subtasks 0..n-1 of operator "op", parallelism n),
 * incremental: SSTs in shared/, small files in the state files. */
static void checkpoint(weir_storage *s, uint64_t id, weir_keyed_backend **be, int n)
{
    weir_ckpt *ck;
    assert_int_equal(weir_ckpt_begin(s, id, NULL, &ck), 0);
    struct rocks_shared_list shared = {0};
    pthread_mutex_init(&shared.lock, NULL);
    struct weir_ckpt_entry e[4] = {{0}};
    char names[4][256], *tmp[4] = {0};
    for (int i = 0; i < n; i++) {
        weir_ckpt_file *f;
        assert_int_equal(weir_ckpt_file_name(names[i], sizeof names[i], "op", i), 0);
        assert_int_equal(weir_ckpt_file_open(ck, names[i], &f), 0);
        uint64_t new_bytes = 0;
        assert_int_equal(
            rocks_incremental_snapshot(s, be[i], ck, f, names[i], id, &tmp[i], &shared, &new_bytes),
            0);
        assert_int_equal(weir_ckpt_file_submit(f), 0);
        e[i] = (struct weir_ckpt_entry){.operator_uid = "op",
                                        .subtask = (uint32_t)i,
                                        .parallelism = (uint32_t)n,
                                        .file = names[i]};
        weir_keyed_backend_key_groups(be[i], &e[i].kg_first, &e[i].kg_last);
    }
    struct weir_ckpt_shared *sh = calloc(shared.n + 1, sizeof *sh);
    assert_non_null(sh);
    for (size_t i = 0; i < shared.n; i++)
        sh[i].name = shared.names[i];
    struct weir_ckpt_meta m = {.checkpoint_id = id,
                               .job = "job",
                               .max_parallelism = MAXP,
                               .entry_count = (size_t)n,
                               .entries = e,
                               .shared_count = shared.n,
                               .shared = sh};
    assert_int_equal(weir_ckpt_commit(ck, &m), 0);
    int rc = weir_ckpt_wait(ck, 60000);
    if (rc < 0)
        fail_msg("checkpoint %" PRIu64 ": %s", id, weir_ckpt_error(ck));
    weir_ckpt_release(ck);
    for (int i = 0; i < n; i++) {
        rocks_rm_rf(tmp[i]);
        free(tmp[i]);
    }
    free(sh);
    rocks_shared_list_free(&shared);
    pthread_mutex_destroy(&shared.lock);
}

/* Restores into `to` every state file of the latest checkpoint whose key groups meet its
 * own, as restore.c does. */
static void restore(weir_storage *s, weir_keyed_backend *to)
{
    weir_restore *r;
    char err[1024] = "";
    uint32_t first, last;
    weir_keyed_backend_key_groups(to, &first, &last);
    assert_int_equal(weir_restore_open_latest(s, 0, &r), 0);
    const struct weir_ckpt_meta *m = weir_restore_meta(r);
    for (size_t i = 0; i < m->entry_count; i++) {
        const struct weir_ckpt_entry *e = &m->entries[i];
        if (e->kg_last < first || e->kg_first > last)
            continue;
        weir_restore_file *f;
        assert_int_equal(weir_restore_file_open(r, e->file, &f), 0);
        assert_true(rocks_file_is_incremental(f));
        uint32_t a = e->kg_first > first ? e->kg_first : first;
        uint32_t b = e->kg_last < last ? e->kg_last : last;
        if (rocks_incremental_restore(to, r, f, a, b, err, sizeof err) < 0)
            fail_msg("restore: %s", err);
        weir_restore_file_close(f);
    }
    weir_restore_close(r);
}

struct world {
    weir_config *cfg;
    weir_state_env *env;
    weir_storage *s;
};

static void world_open(struct world *w, const char *tag)
{
    w->cfg = config_for("rocksdb", NULL);
    w->env = env_for(w->cfg, tag);
    w->s = storage_open(tag);
}

static void world_close(struct world *w)
{
    weir_storage_close(w->s);
    weir_state_env_free(w->env);
    weir_config_free(w->cfg);
}

/* SST files the last round_trip's restore ingested. */
static uint64_t ingested;

/* What a round trip puts in, what the restoring operator declares before its restore (the
 * runtime opens operators, which declare their states, before it restores them; NULL:
 * nothing), and what it checks after. */
struct shape {
    void (*fill)(weir_keyed_backend *be);
    void (*declare)(weir_keyed_backend *be);
    void (*check)(weir_keyed_backend *be);
};

static const struct shape one_state = {fill, NULL, check};

/* Checkpoints operator "op" at parallelism from, restores it at parallelism to (uids "op" and
 * "re" keep the instances' directories apart), checks every restored subtask and returns
 * the entries the restore took from an instance other than the one it opened (into an SST it
 * ingested: counted in `ingested`). */
static uint64_t round_trip_shape(const char *tag, int from, int to, const struct shape *sh)
{
    struct world w;
    world_open(&w, tag);
    weir_keyed_backend *be[4];
    for (int i = 0; i < from; i++) {
        uint32_t first = weir_key_group_range_start((uint32_t)i, MAXP, (uint32_t)from);
        uint32_t last = weir_key_group_range_end((uint32_t)i, MAXP, (uint32_t)from);
        be[i] = backend_for(w.env, "op", i, first, last);
        sh->fill(be[i]);
    }
    checkpoint(w.s, 1, be, from);
    for (int i = 0; i < from; i++)
        weir_keyed_backend_close(be[i]);
    uint64_t before = atomic_load(&rocks_restore_entries_copied);
    uint64_t ssts = atomic_load(&rdb_restore_ssts_ingested);
    for (int i = 0; i < to; i++) {
        uint32_t first = weir_key_group_range_start((uint32_t)i, MAXP, (uint32_t)to);
        uint32_t last = weir_key_group_range_end((uint32_t)i, MAXP, (uint32_t)to);
        weir_keyed_backend *back = backend_for(w.env, "re", i, first, last);
        if (sh->declare)
            sh->declare(back);
        restore(w.s, back);
        sh->check(back);
        weir_keyed_backend_close(back);
    }
    world_close(&w);
    ingested = atomic_load(&rdb_restore_ssts_ingested) - ssts;
    return atomic_load(&rocks_restore_entries_copied) - before;
}

static uint64_t round_trip(const char *tag, int from, int to)
{
    return round_trip_shape(tag, from, to, &one_state);
}

static void
same_parallelism_restore_opens_the_checkpointed_ssts_instead_of_copying_entries(void **state)
{
    (void)state;
    assert_int_equal(round_trip("rocks-restore-p2-p2", 2, 2), 0);
    assert_int_equal(ingested, 0);
}

/* p 1 -> 2: each subtask opens the one instance and deletes the other half as a range. */
static void scale_out_restore_deletes_the_key_groups_not_owned_instead_of_copying(void **state)
{
    (void)state;
    assert_int_equal(round_trip("rocks-restore-p1-p2", 1, 2), 0);
    assert_int_equal(ingested, 0);
}

/* p 2 -> 1: the first instance is opened, the second's entries taken in as one ingested SST:
 * fewer than all. */
static void scale_in_restore_opens_one_instance_and_copies_only_the_other(void **state)
{
    (void)state;
    uint64_t copied = round_trip("rocks-restore-p2-p1", 2, 1);
    assert_true(copied > 0);
    assert_true(copied < NKEYS * 3 / 4);
    assert_int_equal(ingested, 1);
}

static void read_identity(const char *dir, char *buf, size_t len)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/IDENTITY", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = 0;
    fclose(f);
    assert_true(n > 0);
}

static const char *instance_dir(weir_keyed_backend *be)
{
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_writeoptions_t *wo;
    const char *dir;
    rdb_handles(be, &db, &opts, &wo, &dir);
    return dir;
}

/* Shared SST names carry the instance's identity: an instance restored from a checkpoint
 * must not write SSTs under the checkpointed instance's names. */
static void restored_instance_has_an_identity_of_its_own(void **state)
{
    (void)state;
    struct world w;
    world_open(&w, "rocks-restore-identity");
    weir_keyed_backend *be = backend_for(w.env, "op", 0, 0, MAXP - 1);
    fill(be);
    char before[256], after[256];
    read_identity(instance_dir(be), before, sizeof before);
    checkpoint(w.s, 1, &be, 1);
    weir_keyed_backend_close(be);
    weir_keyed_backend *back = backend_for(w.env, "re", 0, 0, MAXP - 1);
    restore(w.s, back);
    check(back);
    read_identity(instance_dir(back), after, sizeof after);
    assert_string_not_equal(before, after);
    weir_keyed_backend_close(back);
    world_close(&w);
}

/* Flips a byte in the middle of every shared SST of the state file `base` in the storage
 * storage_open opened last; returns how many it damaged. */
static int damage_shared_ssts(const char *base)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/job/shared", storage_dir);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *de; (de = readdir(d));) {
        size_t l = strlen(de->d_name);
        if (strncmp(de->d_name, base, strlen(base)) || l < 4 || strcmp(de->d_name + l - 4, ".sst"))
            continue;
        char path[8400];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        FILE *f = fopen(path, "r+b");
        assert_non_null(f);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        long mid = ftell(f) / 3; /* in the data blocks, before the index and footer */
        assert_int_equal(fseek(f, mid, SEEK_SET), 0);
        int c = fgetc(f);
        assert_int_equal(fseek(f, mid, SEEK_SET), 0);
        fputc(c ^ 0x5a, f);
        fclose(f);
        n++;
    }
    closedir(d);
    return n;
}

/* p 2 -> 1 with the second instance's SSTs damaged: the checkpoint is refused before any
 * SST is linked or read into an instance (the storage checks every shared file's checksum
 * when it opens the checkpoint: "checkpoint chk-1 is corrupt (shared file ...: checksum
 * mismatch)"), as it was when entries were copied one by one. */
static void scale_in_restore_refuses_a_checkpoint_with_a_damaged_sst(void **state)
{
    (void)state;
    struct world w;
    world_open(&w, "rocks-restore-damaged");
    weir_keyed_backend *be[2];
    for (int i = 0; i < 2; i++) {
        be[i] = backend_for(w.env, "op", i, weir_key_group_range_start((uint32_t)i, MAXP, 2),
                            weir_key_group_range_end((uint32_t)i, MAXP, 2));
        fill(be[i]);
    }
    checkpoint(w.s, 1, be, 2);
    for (int i = 0; i < 2; i++)
        weir_keyed_backend_close(be[i]);
    char base[256];
    assert_int_equal(weir_ckpt_file_name(base, sizeof base, "op", 1), 0);
    assert_true(damage_shared_ssts(base) > 0);
    weir_restore *r = NULL;
    assert_int_equal(weir_restore_open_latest(w.s, 0, &r), -EBADMSG);
    world_close(&w);
}

/* ---- states matched by name ------------------------------------------------------------- */

struct a_b {
    weir_value_state *a, *b;
};

static struct a_b states_a_b(weir_keyed_backend *be)
{
    struct a_b ab = {weir_value_state_get(be, "a", 8, NULL),
                     weir_value_state_get(be, "b", 8, NULL)};
    assert_non_null(ab.a);
    assert_non_null(ab.b);
    return ab;
}

static void put_3k_5k(weir_keyed_backend *be, uint64_t k, void *arg)
{
    struct a_b *ab = arg;
    uint64_t x = 3 * k, y = 5 * k;
    assert_int_equal(weir_value_put(ab->a, &x), 0);
    assert_int_equal(weir_value_put(ab->b, &y), 0);
}

/* Key k -> 3k in value state "a" and 5k in "b", declared in that order, for every key be
 * owns. */
static void fill_a_b(weir_keyed_backend *be)
{
    struct a_b ab = states_a_b(be);
    each_owned(be, put_3k_5k, &ab);
}

/* An upgraded job: "b" declared before "a". */
static void declare_b_a(weir_keyed_backend *be)
{
    assert_non_null(weir_value_state_get(be, "b", 8, NULL));
    assert_non_null(weir_value_state_get(be, "a", 8, NULL));
}

/* An upgraded job: a new map state "new" declared first, then "a" (and "b" not yet: it
 * declares it later, on its first record). */
static void declare_new_a(weir_keyed_backend *be)
{
    assert_non_null(weir_map_state_get(be, "new", 8, 8, NULL));
    assert_non_null(weir_value_state_get(be, "a", 8, NULL));
}

static void has_3k_5k(weir_keyed_backend *be, uint64_t k, void *arg)
{
    struct a_b *ab = arg;
    const uint64_t *p = weir_value_get(ab->a); /* valid until the next get (RocksDB) */
    uint64_t x = p ? *p : UINT64_MAX;
    const uint64_t *y = weir_value_get(ab->b);
    if (!p || !y)
        fail_msg("key %" PRIu64 ": state \"%s\" is missing after the restore", k, p ? "b" : "a");
    if (x != 3 * k || *y != 5 * k)
        fail_msg("key %" PRIu64 ": a = %" PRIu64 " (want %" PRIu64 "), b = %" PRIu64
                 " (want %" PRIu64 "): states restored by position, not by name",
                 k, x, 3 * k, *y, 5 * k);
}

/* Every key be owns has 3k in "a" and 5k in "b", "new" (when declared) is empty, and be
 * holds no other entry. */
static void check_a_b(weir_keyed_backend *be)
{
    struct a_b ab = states_a_b(be);
    assert_entries(be, 2 * each_owned(be, has_3k_5k, &ab));
}

static const struct shape reordered = {fill_a_b, declare_b_a, check_a_b};
static const struct shape added_first = {fill_a_b, declare_new_a, check_a_b};

/* The job declares its states in another order than the one that took the checkpoint: each
 * gets its own entries back, at the same parallelism (where the instance is opened, not
 * copied, when the ids agree) and at another. */
static void states_declared_in_another_order_restore_by_name(void **state)
{
    (void)state;
    round_trip_shape("rocks-restore-order-p1-p1", 1, 1, &reordered);
    round_trip_shape("rocks-restore-order-p2-p1", 2, 1, &reordered);
    round_trip_shape("rocks-restore-order-p1-p2", 1, 2, &reordered);
}

/* A state added before the existing ones, and one of them declared only after the restore. */
static void state_added_before_the_existing_ones_restores_by_name(void **state)
{
    (void)state;
    round_trip_shape("rocks-restore-added-p1-p1", 1, 1, &added_first);
    round_trip_shape("rocks-restore-added-p2-p1", 2, 1, &added_first);
}

/* Declared in the same order, the instance is still opened as it is, not copied. */
static void states_in_the_same_order_still_open_the_instance(void **state)
{
    (void)state;
    static const struct shape same = {fill_a_b, NULL, check_a_b};
    assert_int_equal(round_trip_shape("rocks-restore-same-p1-p1", 1, 1, &same), 0);
    assert_int_equal(ingested, 0);
}

/* "a" is a list now: the restore is refused with a line that names the operator, the state
 * and both shapes. */
static void state_whose_kind_changed_is_refused_naming_it(void **state)
{
    (void)state;
    struct world w;
    world_open(&w, "rocks-restore-kind");
    weir_keyed_backend *be = backend_for(w.env, "op", 0, 0, MAXP - 1);
    fill_a_b(be);
    checkpoint(w.s, 1, &be, 1);
    weir_keyed_backend_close(be);
    weir_keyed_backend *back = backend_for(w.env, "re", 0, 0, MAXP - 1);
    assert_non_null(weir_list_state_get(back, "a", 8, NULL));
    weir_restore *r;
    weir_restore_file *f;
    char err[1024] = "";
    assert_int_equal(weir_restore_open_latest(w.s, 0, &r), 0);
    assert_int_equal(weir_restore_file_open(r, weir_restore_meta(r)->entries[0].file, &f), 0);
    assert_int_equal(rocks_incremental_restore(back, r, f, 0, MAXP - 1, err, sizeof err),
                     -EINVAL);
    assert_string_equal(err, "operator re: state \"a\" is a value of 8-byte values in the "
                             "snapshot, but the job declares a list of 8-byte elements");
    weir_restore_file_close(f);
    weir_restore_close(r);
    weir_keyed_backend_close(back);
    world_close(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            same_parallelism_restore_opens_the_checkpointed_ssts_instead_of_copying_entries),
        cmocka_unit_test(scale_out_restore_deletes_the_key_groups_not_owned_instead_of_copying),
        cmocka_unit_test(scale_in_restore_opens_one_instance_and_copies_only_the_other),
        cmocka_unit_test(restored_instance_has_an_identity_of_its_own),
        cmocka_unit_test(scale_in_restore_refuses_a_checkpoint_with_a_damaged_sst),
        cmocka_unit_test(states_declared_in_another_order_restore_by_name),
        cmocka_unit_test(state_added_before_the_existing_ones_restores_by_name),
        cmocka_unit_test(states_in_the_same_order_still_open_the_instance),
        cmocka_unit_test(state_whose_kind_changed_is_refused_naming_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
