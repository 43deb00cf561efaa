/*
 * Snapshot and restore per key group, in the backend-independent format: round trips on each
 * backend, from hashmap to rocksdb and back, and across parallelism (128 key groups from
 * four backends at p=4 into two at p=2); truncated or corrupted input is -EIO; a snapshot of
 * the wrong key group or max parallelism is refused; states restored before the operator
 * declares them are matched by name. A full RocksDB snapshot written off the worker (a
 * weir_rocks_view) holds the state as it was at its pin, whatever the worker writes meanwhile.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "checkpoint_rocksdb.h"
#include "state_test.h"
#include "state_view.h"

#define NKEYS 3000

/* What each key holds, derived from the key so any backend can be checked without a copy:
 * value key*3 in namespace key%3; a list of 1 + key%5 elements; a map of 1 + key%7 entries;
 * a reduced sum and an aggregated count; a TTL value that outlives the test. */
struct states {
    weir_value_state *v, *vt;
    weir_list_state *l;
    weir_map_state *m;
    weir_reducing_state *r;
    weir_aggregating_state *a;
};

static void sum(void *acc, const void *in)
{
    *(uint64_t *)acc += *(const uint64_t *)in;
}

static void cnt_init(void *acc)
{
    *(uint64_t *)acc = 0;
}

static void cnt_add(void *acc, const void *in)
{
    ++*(uint64_t *)acc;
}

static void cnt_result(const void *acc, void *out)
{
    memcpy(out, acc, 8);
}

static const struct weir_aggregate_fn count_fn = {8, 8, cnt_init, cnt_add, NULL, cnt_result};
static const struct weir_state_ttl long_ttl = {.ttl_ms = 3600 * 1000};

static struct states declare(weir_keyed_backend *be)
{
    struct states s = {
        .v = weir_value_state_get(be, "value", 8, NULL),
        .vt = weir_value_state_get(be, "value-ttl", 8, &long_ttl),
        .l = weir_list_state_get(be, "list", 4, NULL),
        .m = weir_map_state_get(be, "map", 8, 8, NULL),
        .r = weir_reducing_state_get(be, "sum", 8, sum, NULL),
        .a = weir_aggregating_state_get(be, "count", &count_fn, NULL),
    };
    assert_non_null(s.v);
    assert_non_null(s.vt);
    assert_non_null(s.l);
    assert_non_null(s.m);
    assert_non_null(s.r);
    assert_non_null(s.a);
    return s;
}

static uint64_t key_at(uint64_t i)
{
    return i * 0x9e3779b97f4a7c15ull + 17;
}

static bool owns(weir_keyed_backend *be, uint64_t key)
{
    uint32_t first, last, kg = weir_key_group_of(key, MAXP);
    weir_keyed_backend_key_groups(be, &first, &last);
    return kg >= first && kg <= last;
}

static void fill_key(weir_keyed_backend *be, const struct states *s, uint64_t key)
{
    at(be, key);
    weir_keyed_backend_set_namespace(be, key % 3);
    uint64_t x = key * 3;
    assert_int_equal(weir_value_put(s->v, &x), 0);
    weir_keyed_backend_set_namespace(be, 0);
    assert_int_equal(weir_value_put(s->vt, &x), 0);
    for (uint32_t i = 0; i <= key % 5; i++) {
        uint32_t e = (uint32_t)key + i;
        assert_int_equal(weir_list_add(s->l, &e), 0);
    }
    for (uint64_t i = 1; i <= 1 + key % 7; i++) {
        uint64_t v = key * i;
        assert_int_equal(weir_map_put(s->m, &i, &v), 0);
    }
    for (uint64_t i = 1; i <= 1 + key % 4; i++) {
        assert_int_equal(weir_reducing_add(s->r, &i), 0);
        assert_int_equal(weir_aggregating_add(s->a, &i), 0);
    }
}

static void check_key(weir_keyed_backend *be, const struct states *s, uint64_t key)
{
    at(be, key);
    for (uint64_t ns = 0; ns < 3; ns++) {
        weir_keyed_backend_set_namespace(be, ns);
        const uint64_t *v = weir_value_get(s->v);
        if (ns == key % 3) {
            assert_non_null(v);
            assert_int_equal(*v, key * 3);
        } else {
            assert_null(v);
        }
    }
    weir_keyed_backend_set_namespace(be, 0);
    assert_int_equal(*(const uint64_t *)weir_value_get(s->vt), key * 3);
    const void *e;
    uint32_t n;
    assert_int_equal(weir_list_get(s->l, &e, &n), 0);
    assert_int_equal(n, 1 + key % 5);
    for (uint32_t i = 0; i < n; i++)
        assert_int_equal(((const uint32_t *)e)[i], (uint32_t)key + i);
    for (uint64_t i = 1; i <= 8; i++) {
        const uint64_t *v = weir_map_get(s->m, &i);
        if (i <= 1 + key % 7) {
            assert_non_null(v);
            assert_int_equal(*v, key * i);
        } else {
            assert_null(v);
        }
    }
    uint64_t k4 = 1 + key % 4, out;
    assert_int_equal(*(const uint64_t *)weir_reducing_get(s->r), k4 * (k4 + 1) / 2);
    assert_int_equal(weir_aggregating_get(s->a, &out), 0);
    assert_int_equal(out, k4);
}

static void fill(weir_keyed_backend *be)
{
    struct states s = declare(be);
    for (uint64_t i = 0; i < NKEYS; i++)
        if (owns(be, key_at(i)))
            fill_key(be, &s, key_at(i));
}

static uint64_t check(weir_keyed_backend *be)
{
    struct states s = declare(be);
    uint64_t n = 0;
    for (uint64_t i = 0; i < NKEYS; i++) {
        if (owns(be, key_at(i))) {
            check_key(be, &s, key_at(i));
            n++;
        }
    }
    return n;
}

static uint64_t entries(weir_keyed_backend *be)
{
    struct weir_keyed_backend_stats st;
    weir_keyed_backend_stats_get(be, &st);
    return st.entries;
}

/* ---- fixtures: a source and a target backend kind ---------------------------------------- */

struct pair {
    const char *from, *to;
    weir_config *cfrom, *cto;
    weir_state_env *efrom, *eto;
};

static int pair_setup(void **state)
{
    const char *spec = *state; /* "hashmap>rocksdb" */
    struct pair *p = calloc(1, sizeof *p);
    p->from = strncmp(spec, "hashmap", 7) == 0 ? "hashmap" : "rocksdb";
    p->to = strstr(spec, ">hashmap") ? "hashmap" : "rocksdb";
    p->cfrom = config_for(p->from, NULL);
    p->cto = config_for(p->to, NULL);
    p->efrom = env_for(p->cfrom, "from");
    p->eto = env_for(p->cto, "to");
    *state = p;
    return 0;
}

static int pair_teardown(void **state)
{
    struct pair *p = *state;
    weir_state_env_free(p->efrom);
    weir_state_env_free(p->eto);
    weir_config_free(p->cfrom);
    weir_config_free(p->cto);
    free(p);
    return 0;
}

#define PAIRS(fn)                                                                                  \
    {"hashmap>hashmap: " #fn, fn, pair_setup, pair_teardown, (void *)"hashmap>hashmap"},           \
        {"rocksdb>rocksdb: " #fn, fn, pair_setup, pair_teardown, (void *)"rocksdb>rocksdb"},       \
        {"hashmap>rocksdb: " #fn, fn, pair_setup, pair_teardown, (void *)"hashmap>rocksdb"},       \
    {                                                                                              \
        "rocksdb>hashmap: " #fn, fn, pair_setup, pair_teardown, (void *)"rocksdb>hashmap"          \
    }

static void round_trip_keeps_every_kind_of_state(void **state)
{
    struct pair *p = *state;
    weir_keyed_backend *a = backend_for(p->efrom, "op", 0, 0, MAXP - 1);
    fill(a);
    struct membuf bufs[MAXP] = {0};
    snapshot_all(a, bufs);
    weir_keyed_backend *b = backend_for(p->eto, "op", 0, 0, MAXP - 1);
    uint64_t ssts = atomic_load(&rdb_restore_ssts_ingested);
    restore_all(b, bufs);
    /* RocksDB: the run's key groups, in order, as one SST */
    assert_int_equal(atomic_load(&rdb_restore_ssts_ingested) - ssts, !strcmp(p->to, "rocksdb"));
    assert_int_equal(check(b), NKEYS);
    assert_int_equal(entries(b), entries(a));
    /* And back again: the second generation's snapshot restores the same contents. */
    struct membuf again[MAXP] = {0};
    snapshot_all(b, again);
    weir_keyed_backend *c = backend_for(p->efrom, "op2", 0, 0, MAXP - 1);
    restore_all(c, again);
    assert_int_equal(check(c), NKEYS);
    weir_keyed_backend_close(a);
    weir_keyed_backend_close(b);
    weir_keyed_backend_close(c);
    free_bufs(bufs, MAXP);
    free_bufs(again, MAXP);
}

static void rescale_from_4_to_2_keeps_every_key(void **state)
{
    struct pair *p = *state;
    weir_keyed_backend *four[4], *two[2];
    struct membuf bufs[MAXP] = {0};
    uint64_t total = 0;
    for (uint32_t i = 0; i < 4; i++) {
        four[i] = backend_for(p->efrom, "op", (int)i, weir_key_group_range_start(i, MAXP, 4),
                              weir_key_group_range_end(i, MAXP, 4));
        fill(four[i]);
        snapshot_all(four[i], bufs);
        total += entries(four[i]);
    }
    uint64_t keys = 0, total2 = 0;
    for (uint32_t i = 0; i < 2; i++) {
        uint32_t first = weir_key_group_range_start(i, MAXP, 2);
        uint32_t last = weir_key_group_range_end(i, MAXP, 2);
        assert_int_equal(first, i * 64);
        assert_int_equal(last, i * 64 + 63);
        two[i] = backend_for(p->eto, "op", (int)i, first, last);
        restore_all(two[i], bufs);
        keys += check(two[i]);
        total2 += entries(two[i]);
    }
    assert_int_equal(keys, NKEYS);
    assert_int_equal(total2, total);
    for (int i = 0; i < 4; i++)
        weir_keyed_backend_close(four[i]);
    for (int i = 0; i < 2; i++)
        weir_keyed_backend_close(two[i]);
    free_bufs(bufs, MAXP);
}

static void restore_before_declare_matches_by_name(void **state)
{
    struct pair *p = *state;
    weir_keyed_backend *a = backend_for(p->efrom, "op", 0, 0, MAXP - 1);
    fill(a);
    struct membuf bufs[MAXP] = {0};
    snapshot_all(a, bufs);
    weir_keyed_backend *b = backend_for(p->eto, "op", 0, 0, MAXP - 1);
    /* The operator declares a state the snapshot does not have, and one in another order. */
    assert_non_null(weir_value_state_get(b, "new", 4, NULL));
    assert_non_null(weir_map_state_get(b, "map", 8, 8, NULL));
    restore_all(b, bufs);
    /* A restored state declared with another shape is refused. */
    assert_null(weir_list_state_get(b, "value", 8, NULL));
    assert_string_equal(weir_keyed_backend_error(b),
                        "operator op: state \"value\" is a value of 8-byte values in the snapshot, "
                        "not a list of 8-byte elements");
    assert_int_equal(check(b), NKEYS);
    weir_keyed_backend_close(a);
    weir_keyed_backend_close(b);
    free_bufs(bufs, MAXP);
}

/* ---- damaged input, on each backend ------------------------------------------------------ */

/* A snapshot of the key group of key 5 with a few entries of every kind. */
static uint32_t small_snapshot(weir_keyed_backend *be, struct membuf *b)
{
    struct states s = declare(be);
    uint32_t kg = weir_key_group_of(5, MAXP);
    fill_key(be, &s, 5);
    for (uint64_t k = 6; k < 2000; k++)
        if (weir_key_group_of(k, MAXP) == kg)
            fill_key(be, &s, k);
    b->limit = SIZE_MAX;
    struct weir_snapshot_out o = mem_out(b);
    assert_int_equal(weir_keyed_backend_snapshot_key_group(be, kg, &o), 0);
    return kg;
}

/* Both ways a snapshot is read: field by field, and whole where the source gives its size. */
static struct weir_snapshot_in input(struct membuf *b, int sized)
{
    return sized ? mem_in_sized(b) : mem_in(b);
}

static void truncated_snapshot_is_eio(void **state)
{
    struct fx *f = *state;
    struct membuf b = {0};
    uint32_t kg = small_snapshot(f->be, &b);
    assert_true(b.len > 100);
    weir_keyed_backend *to = backend_for(f->env, "to", 0, 0, MAXP - 1);
    for (int sized = 0; sized < 2; sized++) {
        for (size_t cut = 0; cut < b.len; cut += 1 + cut / 64) {
            b.limit = cut;
            struct weir_snapshot_in in = input(&b, sized);
            int rc = weir_keyed_backend_restore_key_group(to, kg, &in);
            if (rc != -EIO)
                fail_msg("cut at %zu of %zu (sized %d): %d (%s)", cut, b.len, sized, rc,
                         weir_keyed_backend_error(to));
        }
        b.limit = b.len - 1;
        struct weir_snapshot_in in = input(&b, sized);
        assert_int_equal(weir_keyed_backend_restore_key_group(to, kg, &in), -EIO);
        char want[128];
        snprintf(want, sizeof want, "operator to: snapshot of key group %u is truncated", kg);
        assert_string_equal(weir_keyed_backend_error(to), want);
        b.limit = SIZE_MAX;
        in = input(&b, sized);
        assert_int_equal(weir_keyed_backend_restore_key_group(to, kg, &in), 0);
    }
    weir_keyed_backend_close(to);
    free(b.data);
}

static void corrupted_snapshot_is_eio(void **state)
{
    struct fx *f = *state;
    for (int sized = 0; sized < 2; sized++) {
        struct membuf b = {0};
        uint32_t kg = small_snapshot(f->be, &b);
        weir_keyed_backend *to = backend_for(f->env, "to", 0, 0, MAXP - 1);
        /* A flipped bit in an entry's payload (past the header and descriptors). */
        b.data[b.len - 20] ^= 0x10;
        struct weir_snapshot_in in = input(&b, sized);
        assert_int_equal(weir_keyed_backend_restore_key_group(to, kg, &in), -EIO);
        char want[160];
        snprintf(want, sizeof want,
                 "operator to: snapshot of key group %u is corrupt: checksum mismatch", kg);
        assert_string_equal(weir_keyed_backend_error(to), want);
        /* Not a snapshot at all. */
        b.data[0] = 'X';
        in = input(&b, sized);
        assert_int_equal(weir_keyed_backend_restore_key_group(to, kg, &in), -EIO);
        weir_keyed_backend_close(to);
        free(b.data);
    }
}

/* A checkpoint's section says its size: the snapshot is read in one call, not field by field
 * (which cost a call, a copy and a checksum update per field of every entry). */
static void sized_source_is_read_in_one_call(void **state)
{
    struct fx *f = *state;
    struct membuf b = {0};
    uint32_t kg = small_snapshot(f->be, &b);
    weir_keyed_backend *to = backend_for(f->env, "to", 0, 0, MAXP - 1);
    struct weir_snapshot_in in = mem_in_sized(&b);
    assert_int_equal(weir_keyed_backend_restore_key_group(to, kg, &in), 0);
    assert_int_equal(b.reads, 1);
    assert_int_equal(entries(to), entries(f->be));
    weir_keyed_backend_close(to);
    free(b.data);
}

static void snapshot_of_another_key_group_or_max_parallelism_is_refused(void **state)
{
    struct fx *f = *state;
    struct membuf b = {0};
    uint32_t kg = small_snapshot(f->be, &b);
    weir_keyed_backend *to = backend_for(f->env, "to", 0, 0, MAXP - 1);
    struct weir_snapshot_in in = mem_in(&b);
    assert_int_equal(weir_keyed_backend_restore_key_group(to, (kg + 1) % MAXP, &in), -EINVAL);
    weir_keyed_backend *narrow = backend_for(f->env, "narrow", 0, (kg + 1) % MAXP, (kg + 1) % MAXP);
    in = mem_in(&b);
    assert_int_equal(weir_keyed_backend_restore_key_group(narrow, kg, &in), -ERANGE);
    weir_keyed_backend *other = NULL;
    char err[256];
    assert_int_equal(
        weir_keyed_backend_open(f->env, "other", 0, 0, 255, 256, -1, &other, err, sizeof err), 0);
    in = mem_in(&b);
    assert_int_equal(weir_keyed_backend_restore_key_group(other, kg, &in), -EINVAL);
    assert_string_equal(weir_keyed_backend_error(other),
                        "operator other: snapshot was taken with pipeline.max-parallelism 128; "
                        "this job has 256, and key groups cannot be re-split");
    weir_keyed_backend_close(to);
    weir_keyed_backend_close(narrow);
    weir_keyed_backend_close(other);
    free(b.data);
}

static void empty_key_group_round_trips(void **state)
{
    struct fx *f = *state;
    declare(f->be);
    struct membuf b = {.limit = SIZE_MAX};
    struct weir_snapshot_out o = mem_out(&b);
    assert_int_equal(weir_keyed_backend_snapshot_key_group(f->be, 3, &o), 0);
    weir_keyed_backend *to = backend_for(f->env, "to", 0, 0, MAXP - 1);
    struct weir_snapshot_in in = mem_in(&b);
    assert_int_equal(weir_keyed_backend_restore_key_group(to, 3, &in), 0);
    assert_int_equal(entries(to), 0);
    weir_keyed_backend_close(to);
    free(b.data);
}

/* ---- RocksDB: a large key group is written as an SST and ingested ------------------------ */

/* Keys of key group kg, n of them, from key_at's sequence. */
static uint64_t *keys_of_key_group(uint32_t kg, size_t n)
{
    uint64_t *keys = malloc(n * sizeof *keys);
    assert_non_null(keys);
    size_t got = 0;
    for (uint64_t i = 0; got < n; i++)
        if (weir_key_group_of(key_at(i), MAXP) == kg)
            keys[got++] = key_at(i);
    return keys;
}

#define BIG_KG    77u
#define BIG_KEYS  3000u /* about 1 MiB of entries: past the write-batch limit */
#define BLOB_SIZE 1024u

/* One key group of BIG_KEYS keys, every kind of state, restored into RocksDB from a RocksDB
 * snapshot (entries in key order) and from a heap one (in hash order, sorted at restore):
 * exactly what the source held, through one ingested SST. */
static void large_key_group_is_restored_exactly_through_one_ingested_sst(void **state)
{
    struct pair *p = *state;
    weir_keyed_backend *a = backend_for(p->efrom, "op", 0, 0, MAXP - 1);
    struct states s = declare(a);
    uint64_t *keys = keys_of_key_group(BIG_KG, BIG_KEYS);
    for (size_t i = 0; i < BIG_KEYS; i++)
        fill_key(a, &s, keys[i]);
    struct membuf b = {.limit = SIZE_MAX};
    struct weir_snapshot_out o = mem_out(&b);
    assert_int_equal(weir_keyed_backend_snapshot_key_group(a, BIG_KG, &o), 0);
    assert_true(b.len > (512u << 10));
    weir_keyed_backend *to = backend_for(p->eto, "to", 0, 0, MAXP - 1);
    uint64_t before = atomic_load(&rdb_restore_ssts_ingested);
    struct weir_snapshot_in in = mem_in_sized(&b);
    if (weir_keyed_backend_restore_key_group(to, BIG_KG, &in) < 0)
        fail_msg("%s", weir_keyed_backend_error(to));
    assert_int_equal(atomic_load(&rdb_restore_ssts_ingested) - before, 1);
    struct states t = declare(to);
    for (size_t i = 0; i < BIG_KEYS; i++)
        check_key(to, &t, keys[i]);
    assert_int_equal(entries(to), entries(a));
    /* Written after the ingest, a value replaces the ingested one (the SST sits below). */
    at(to, keys[0]);
    weir_keyed_backend_set_namespace(to, keys[0] % 3);
    uint64_t x = 7;
    assert_int_equal(weir_value_put(t.v, &x), 0);
    assert_int_equal(*(const uint64_t *)weir_value_get(t.v), 7);
    free(keys);
    free(b.data);
    weir_keyed_backend_close(a);
    weir_keyed_backend_close(to);
}

/* A key group of several MiB whose snapshot is damaged at its end: the restore fails with
 * the checksum line and leaves nothing of the key group behind (entries reach the instance
 * only once the whole snapshot has been read and checked). */
static void corrupt_large_key_group_restores_nothing(void **state)
{
    struct fx *f = *state;
    weir_value_state *v = weir_value_state_get(f->be, "blob", BLOB_SIZE, NULL);
    assert_non_null(v);
    size_t n = (6u << 20) / BLOB_SIZE;
    uint64_t *keys = keys_of_key_group(BIG_KG, n);
    uint8_t blob[BLOB_SIZE];
    for (size_t i = 0; i < n; i++) {
        memset(blob, (int)i, sizeof blob);
        at(f->be, keys[i]);
        assert_int_equal(weir_value_put(v, blob), 0);
    }
    struct membuf b = {.limit = SIZE_MAX};
    struct weir_snapshot_out o = mem_out(&b);
    assert_int_equal(weir_keyed_backend_snapshot_key_group(f->be, BIG_KG, &o), 0);
    b.data[b.len - 20] ^= 0x10; /* in the last entry's payload */
    for (int sized = 0; sized < 2; sized++) {
        weir_keyed_backend *to = backend_for(f->env, sized ? "to1" : "to0", 0, 0, MAXP - 1);
        struct weir_snapshot_in in = input(&b, sized);
        assert_int_equal(weir_keyed_backend_restore_key_group(to, BIG_KG, &in), -EIO);
        char want[160];
        snprintf(want, sizeof want,
                 "operator %s: snapshot of key group %u is corrupt: checksum mismatch",
                 sized ? "to1" : "to0", BIG_KG);
        assert_string_equal(weir_keyed_backend_error(to), want);
        assert_int_equal(entries(to), 0);
        weir_keyed_backend_close(to);
    }
    free(keys);
    free(b.data);
}

/* A run (restore.c's: every key group of a subtask, from one state file after another)
 * shows nothing before it ends, takes key groups in any order (a key group below the last
 * one starts a second SST), and a run that ends without commit leaves nothing. */
static void run_shows_its_key_groups_when_it_ends_and_drops_them_on_failure(void **state)
{
    struct fx *f = *state;
    fill(f->be);
    struct membuf bufs[MAXP] = {0};
    snapshot_all(f->be, bufs);
    weir_keyed_backend *to = backend_for(f->env, "to", 0, 0, MAXP - 1);
    uint64_t ssts = atomic_load(&rdb_restore_ssts_ingested);
    assert_int_equal(weir_keyed_backend_restore_run_begin(to), 0);
    for (uint32_t i = 0; i < MAXP; i++) {
        uint32_t kg = (i + MAXP / 2) % MAXP; /* 64..127, then 0..63 */
        struct weir_snapshot_in in = mem_in_sized(&bufs[kg]);
        assert_int_equal(weir_keyed_backend_restore_key_group(to, kg, &in), 0);
    }
    assert_int_equal(entries(to), 0);
    assert_int_equal(weir_keyed_backend_restore_run_end(to, true), 0);
    assert_int_equal(atomic_load(&rdb_restore_ssts_ingested) - ssts, 2);
    assert_int_equal(check(to), NKEYS);
    assert_int_equal(entries(to), entries(f->be));
    weir_keyed_backend *dropped = backend_for(f->env, "dropped", 0, 0, MAXP - 1);
    assert_int_equal(weir_keyed_backend_restore_run_begin(dropped), 0);
    for (uint32_t kg = 0; kg < MAXP; kg++) {
        struct weir_snapshot_in in = mem_in_sized(&bufs[kg]);
        assert_int_equal(weir_keyed_backend_restore_key_group(dropped, kg, &in), 0);
    }
    assert_int_equal(weir_keyed_backend_restore_run_end(dropped, false), 0);
    assert_int_equal(entries(dropped), 0);
    weir_keyed_backend_close(to);
    weir_keyed_backend_close(dropped);
    free_bufs(bufs, MAXP);
}

/* ---- a RocksDB snapshot view, written while the worker goes on ------------------------- */

struct view_writer {
    weir_rocks_view *v;
    struct membuf *bufs;
    uint32_t first, last;
    int rc;
};

static void *view_write(void *arg)
{
    struct view_writer *w = arg;
    for (uint32_t kg = w->first; w->rc == 0 && kg <= w->last; kg++) {
        w->bufs[kg].limit = SIZE_MAX;
        struct weir_snapshot_out o = mem_out(&w->bufs[kg]);
        w->rc = weir_rocks_view_snapshot_key_group(w->v, kg, &o);
    }
    weir_rocks_view_release(w->v);
    return NULL;
}

/* Pins a view of a filled RocksDB backend, then, while a thread writes it, changes every key
 * (more list elements, map entries, sums), removes some, adds new keys and declares a new
 * state: what the view wrote restores exactly the state at the pin, on either backend. */
static void rocks_view_is_the_state_at_its_pin(void **state)
{
    struct pair *p = *state;
    weir_keyed_backend *a = backend_for(p->efrom, "op", 0, 0, MAXP - 1);
    fill(a);
    uint64_t at_pin = entries(a);
    assert_true(weir_rocks_view_applies(a));
    struct membuf bufs[MAXP] = {0};
    struct view_writer w = {.bufs = bufs, .first = 0, .last = MAXP - 1};
    assert_int_equal(weir_rocks_view_pin(a, &w.v), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, view_write, &w), 0);
    struct states s = declare(a);
    weir_value_state *late = weir_value_state_get(a, "late", 8, NULL);
    assert_non_null(late);
    for (uint64_t i = 0; i < NKEYS; i++) {
        uint64_t key = key_at(i);
        fill_key(a, &s, key); /* every kind of state changes */
        assert_int_equal(weir_value_put(late, &key), 0);
        if (i % 5 == 0) {
            weir_keyed_backend_set_namespace(a, key % 3);
            weir_value_clear(s.v);
            weir_keyed_backend_set_namespace(a, 0);
        }
        fill_key(a, &s, key_at(NKEYS + i)); /* new keys */
    }
    pthread_join(th, NULL);
    if (w.rc < 0)
        fail_msg("view: %s", "written with an error");
    assert_true(entries(a) > at_pin);
    weir_keyed_backend *b = backend_for(p->eto, "op", 0, 0, MAXP - 1);
    restore_all(b, bufs);
    assert_int_equal(check(b), NKEYS);
    assert_int_equal(entries(b), at_pin);
    weir_keyed_backend_close(b);
    /* A view still pinned when the backend closes: the close waits for its release. */
    assert_int_equal(weir_rocks_view_pin(a, &w.v), 0);
    struct membuf more[MAXP] = {0};
    w = (struct view_writer){.v = w.v, .bufs = more, .first = 0, .last = MAXP - 1};
    assert_int_equal(pthread_create(&th, NULL, view_write, &w), 0);
    weir_keyed_backend_close(a);
    pthread_join(th, NULL);
    assert_int_equal(w.rc, 0);
    free_bufs(bufs, MAXP);
    free_bufs(more, MAXP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PAIRS(round_trip_keeps_every_kind_of_state),
        PAIRS(rescale_from_4_to_2_keeps_every_key),
        PAIRS(restore_before_declare_matches_by_name),
        BOTH(truncated_snapshot_is_eio),
        BOTH(corrupted_snapshot_is_eio),
        BOTH(sized_source_is_read_in_one_call),
        BOTH(snapshot_of_another_key_group_or_max_parallelism_is_refused),
        BOTH(empty_key_group_round_trips),
        {"rocksdb>rocksdb: large_key_group_is_restored_exactly_through_one_ingested_sst",
         large_key_group_is_restored_exactly_through_one_ingested_sst, pair_setup, pair_teardown,
         (void *)"rocksdb>rocksdb"},
        {"hashmap>rocksdb: large_key_group_is_restored_exactly_through_one_ingested_sst",
         large_key_group_is_restored_exactly_through_one_ingested_sst, pair_setup, pair_teardown,
         (void *)"hashmap>rocksdb"},
        {"rocksdb: run_shows_its_key_groups_when_it_ends_and_drops_them_on_failure",
         run_shows_its_key_groups_when_it_ends_and_drops_them_on_failure, fx_setup, fx_teardown,
         (void *)"rocksdb"},
        {"rocksdb>rocksdb: rocks_view_is_the_state_at_its_pin", rocks_view_is_the_state_at_its_pin,
         pair_setup, pair_teardown, (void *)"rocksdb>rocksdb"},
        {"rocksdb>hashmap: rocks_view_is_the_state_at_its_pin", rocks_view_is_the_state_at_its_pin,
         pair_setup, pair_teardown, (void *)"rocksdb>hashmap"},
        {"rocksdb: corrupt_large_key_group_restores_nothing",
         corrupt_large_key_group_restores_nothing, fx_setup, fx_teardown, (void *)"rocksdb"},
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    return rc;
}
