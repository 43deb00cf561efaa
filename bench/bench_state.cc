// Keyed state operations per second, single thread, on both backends, with the machine's
// anchors side by side in the same run:
//
//   BM_Anchor_OpenAddressingCount  a plain open-addressing count table (no state API): what
//                                  one core does with 1 M random keys on this machine
//   BM_Hashmap_*                   the hashmap backend through state.h
//   BM_RocksDB_*                   the RocksDB backend through state.h
//   BM_RawRocksDB_*                the RocksDB C API directly, same options (the env's shared
//                                  cache and write buffer size, no WAL), same 20-byte keys
//                                  ([key group][state][key][namespace], big-endian) and
//                                  8-byte values, same read call (rocksdb_get_pinned + copy)
//
// Operations, over 1 M distinct random 64-bit keys visited in a random order (key groups
// precomputed, as the runtime has them from partitioning):
//   ValueGet     set the current key, read an 8-byte value (every key present)
//   ValueUpdate  set the current key, read a counter, write it back + 1
//   ListAppend   set the current key, append an 8-byte element (RocksDB: a merge)
// Raw peers: Get (pinned), GetMalloc (rocksdb_get, for reference), Update (get + put),
// MergeAppend (merge with a concatenating operator) and RmwAppend (get, grow, put).
//
// Each run sets up its own state (fill outside the timed loop) and runs a fixed number of
// operations. Counter ops_per_s; report medians:
//
//   build-state/bench/bench_state --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>
#include <vector>

#include <rocksdb/c.h>

extern "C" {
#include <weir/config.h>
#include <weir/keygroup.h>
#include <weir/state.h>
#include <weir/state_backend.h>

// Internal (core/src/state/state_private.h, which is C11 only): the options an instance of env opens
// with, so the raw peer runs on the same cache, write buffers and write options.
rocksdb_options_t *state_rocksdb_options_new(weir_state_env *env);
rocksdb_writeoptions_t *state_rocksdb_writeoptions_new(void);
}

namespace
{

constexpr uint32_t kMaxp = 128;
constexpr size_t kKeys = 1u << 20;
constexpr int64_t kHeapOps = 20'000'000;
constexpr int64_t kRocksOps = 1'000'000;

uint64_t splitmix(uint64_t &s)
{
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// 1 M distinct keys in a random visiting order, with their key groups.
struct Keys {
    std::vector<uint64_t> key;
    std::vector<uint32_t> kg;
    Keys() : key(kKeys), kg(kKeys)
    {
        uint64_t s = 42;
        for (size_t i = 0; i < kKeys; i++)
            key[i] = splitmix(s); // distinct with overwhelming odds; checked below
        std::vector<uint64_t> sorted(key);
        std::sort(sorted.begin(), sorted.end());
        if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
            std::abort();
        for (size_t i = kKeys - 1; i > 0; i--) // Fisher-Yates
            std::swap(key[i], key[splitmix(s) % (i + 1)]);
        for (size_t i = 0; i < kKeys; i++)
            kg[i] = weir_key_group_of(key[i], kMaxp);
    }
};

const Keys &keys()
{
    static Keys k;
    return k;
}

std::string scratch_dir()
{
    static std::string dir;
    if (dir.empty()) {
        const char *t = getenv("WEIR_BENCH_TMP");
        if (!t || !*t)
            t = getenv("TMPDIR");
        if (!t || !*t)
            t = "/tmp";
        dir = std::string(t) + "/weir-bench-state-" + std::to_string(getpid());
        // Every env and instance removes what it made; the directory itself goes at exit.
        std::atexit([] { rmdir(dir.c_str()); });
    }
    return dir;
}

weir_config *config(const char *backend)
{
    char err[512];
    weir_config *c = weir_config_new();
    std::string dir = "state.backend.rocksdb.localdir=" + scratch_dir();
    std::string be = std::string("state.backend=") + backend;
    if (weir_config_set_kv(c, be.c_str(), err, sizeof err) < 0 ||
        weir_config_set_kv(c, dir.c_str(), err, sizeof err) < 0 ||
        weir_config_set_kv(c, "memory.process.size=4g", err, sizeof err) < 0 ||
        weir_config_resolve(c, err, sizeof err) < 0) {
        std::fprintf(stderr, "bench_state: %s\n", err);
        std::abort();
    }
    return c;
}

// One backend over all 128 key groups, on a fresh env.
struct Backend {
    weir_config *cfg;
    weir_state_env *env;
    weir_keyed_backend *be;
    explicit Backend(const char *kind)
    {
        char err[512];
        cfg = config(kind);
        if (weir_state_env_new(cfg, "bench", &env, err, sizeof err) < 0 ||
            weir_keyed_backend_open(env, "op", 0, 0, kMaxp - 1, kMaxp, -1, &be, err, sizeof err) <
                0) {
            std::fprintf(stderr, "bench_state: %s\n", err);
            std::abort();
        }
    }
    ~Backend()
    {
        weir_keyed_backend_close(be);
        weir_state_env_free(env);
        weir_config_free(cfg);
    }
    void at(size_t i)
    {
        weir_keyed_backend_set_current_key(be, keys().key[i], keys().kg[i]);
    }
};

void finish(benchmark::State &state)
{
    state.counters["ops_per_s"] =
        benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

// ---- anchor ------------------------------------------------------------------------------

void BM_Anchor_OpenAddressingCount(benchmark::State &state)
{
    const Keys &k = keys();
    size_t cap = 2 * kKeys, mask = cap - 1;
    std::vector<uint64_t> tk(cap, 0), tv(cap, 0); // key 0 never drawn: splitmix of 42..
    size_t i = 0;
    for (auto _ : state) {
        uint64_t key = k.key[i];
        size_t h = (key * 0x9e3779b97f4a7c15ull) >> 43 & mask;
        while (tk[h] != key && tk[h] != 0)
            h = (h + 1) & mask;
        tk[h] = key;
        tv[h]++;
        if (++i == kKeys)
            i = 0;
    }
    benchmark::DoNotOptimize(tv.data());
    finish(state);
}
BENCHMARK(BM_Anchor_OpenAddressingCount)->Iterations(50'000'000)->Unit(benchmark::kMillisecond);

// ---- state.h, both backends ----------------------------------------------------------------

void fill_values(Backend &b, weir_value_state *v)
{
    for (size_t i = 0; i < kKeys; i++) {
        b.at(i);
        uint64_t x = i;
        if (weir_value_put(v, &x) < 0) {
            std::fprintf(stderr, "bench_state: %s\n", weir_keyed_backend_error(b.be));
            std::abort();
        }
    }
}

void value_get(benchmark::State &state, const char *kind)
{
    Backend b(kind);
    weir_value_state *v = weir_value_state_get(b.be, "v", 8, nullptr);
    fill_values(b, v);
    size_t i = 0;
    uint64_t sum = 0;
    for (auto _ : state) {
        b.at(i);
        const uint64_t *x = static_cast<const uint64_t *>(weir_value_get(v));
        sum += *x;
        if (++i == kKeys)
            i = 0;
    }
    benchmark::DoNotOptimize(sum);
    finish(state);
}

void value_update(benchmark::State &state, const char *kind)
{
    Backend b(kind);
    weir_value_state *v = weir_value_state_get(b.be, "v", 8, nullptr);
    fill_values(b, v);
    size_t i = 0;
    for (auto _ : state) {
        b.at(i);
        const uint64_t *old = static_cast<const uint64_t *>(weir_value_get(v));
        uint64_t x = (old ? *old : 0) + 1;
        if (weir_value_put(v, &x) < 0)
            state.SkipWithError(weir_keyed_backend_error(b.be));
        if (++i == kKeys)
            i = 0;
    }
    finish(state);
}

// The same, the way a batch loop can run it: the key D records ahead is announced with
// weir_keyed_backend_prefetch, so several records' cache misses overlap.
void value_update_prefetch(benchmark::State &state, const char *kind)
{
    constexpr size_t D = 8;
    Backend b(kind);
    weir_value_state *v = weir_value_state_get(b.be, "v", 8, nullptr);
    fill_values(b, v);
    size_t i = 0;
    for (auto _ : state) {
        size_t j = i + D < kKeys ? i + D : i + D - kKeys;
        weir_keyed_backend_prefetch(b.be, keys().key[j], keys().kg[j]);
        b.at(i);
        const uint64_t *old = static_cast<const uint64_t *>(weir_value_get(v));
        uint64_t x = (old ? *old : 0) + 1;
        if (weir_value_put(v, &x) < 0)
            state.SkipWithError(weir_keyed_backend_error(b.be));
        if (++i == kKeys)
            i = 0;
    }
    finish(state);
}

void list_append(benchmark::State &state, const char *kind)
{
    Backend b(kind);
    weir_list_state *l = weir_list_state_get(b.be, "l", 8, nullptr);
    size_t i = 0;
    for (auto _ : state) {
        b.at(i);
        uint64_t x = i;
        if (weir_list_add(l, &x) < 0)
            state.SkipWithError(weir_keyed_backend_error(b.be));
        if (++i == kKeys)
            i = 0;
    }
    finish(state);
}

void BM_Hashmap_ValueGet(benchmark::State &s)
{
    value_get(s, "hashmap");
}
void BM_Hashmap_ValueUpdate(benchmark::State &s)
{
    value_update(s, "hashmap");
}
void BM_Hashmap_ValueUpdatePrefetch(benchmark::State &s)
{
    value_update_prefetch(s, "hashmap");
}
void BM_Hashmap_ListAppend(benchmark::State &s)
{
    list_append(s, "hashmap");
}
void BM_RocksDB_ValueGet(benchmark::State &s)
{
    value_get(s, "rocksdb");
}
void BM_RocksDB_ValueUpdate(benchmark::State &s)
{
    value_update(s, "rocksdb");
}
void BM_RocksDB_ListAppend(benchmark::State &s)
{
    list_append(s, "rocksdb");
}
BENCHMARK(BM_Hashmap_ValueGet)->Iterations(kHeapOps)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Hashmap_ValueUpdate)->Iterations(kHeapOps)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Hashmap_ValueUpdatePrefetch)->Iterations(kHeapOps)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Hashmap_ListAppend)->Iterations(kHeapOps)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RocksDB_ValueGet)->Iterations(kRocksOps)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RocksDB_ValueUpdate)->Iterations(kRocksOps)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RocksDB_ListAppend)->Iterations(kRocksOps)->Unit(benchmark::kMillisecond);

// ---- the RocksDB C API directly ------------------------------------------------------------

char *concat_merge(void *, const char *, size_t, const char *base, size_t blen,
                   const char *const *ops, const size_t *oplens, int n, unsigned char *ok,
                   size_t *outlen)
{
    size_t total = blen;
    for (int i = 0; i < n; i++)
        total += oplens[i];
    char *out = static_cast<char *>(std::malloc(total ? total : 1));
    size_t o = 0;
    if (base) {
        std::memcpy(out, base, blen);
        o = blen;
    }
    for (int i = 0; i < n; i++) {
        std::memcpy(out + o, ops[i], oplens[i]);
        o += oplens[i];
    }
    *ok = 1;
    *outlen = o;
    return out;
}

char *concat_partial(void *arg, const char *k, size_t kl, const char *const *ops,
                     const size_t *oplens, int n, unsigned char *ok, size_t *outlen)
{
    return concat_merge(arg, k, kl, nullptr, 0, ops, oplens, n, ok, outlen);
}

void free_merged(void *, const char *v, size_t)
{
    std::free(const_cast<char *>(v));
}

const char *merge_name(void *)
{
    return "bench.concat";
}

void no_destroy(void *)
{
}

// A raw instance opened with the backend's options, in its own directory.
struct Raw {
    weir_config *cfg;
    weir_state_env *env;
    rocksdb_options_t *opts;
    rocksdb_writeoptions_t *wo;
    rocksdb_readoptions_t *ro;
    rocksdb_t *db;
    std::string dir;
    uint8_t kbuf[20] = {0};
    uint8_t obuf[64];
    Raw()
    {
        char err[512];
        char *msg = nullptr;
        cfg = config("rocksdb");
        if (weir_state_env_new(cfg, "bench-raw", &env, err, sizeof err) < 0) {
            std::fprintf(stderr, "bench_state: %s\n", err);
            std::abort();
        }
        opts = state_rocksdb_options_new(env);
        rocksdb_options_set_merge_operator(
            opts, rocksdb_mergeoperator_create(nullptr, no_destroy, concat_merge, concat_partial,
                                               free_merged, merge_name));
        wo = state_rocksdb_writeoptions_new();
        ro = rocksdb_readoptions_create();
        dir = scratch_dir() + "/raw";
        db = rocksdb_open(opts, dir.c_str(), &msg);
        if (msg) {
            std::fprintf(stderr, "bench_state: %s: %s\n", dir.c_str(), msg);
            std::abort();
        }
    }
    ~Raw()
    {
        rocksdb_close(db);
        char *msg = nullptr;
        rocksdb_destroy_db(opts, dir.c_str(), &msg);
        std::free(msg);
        rmdir(dir.c_str());
        rocksdb_options_destroy(opts);
        rocksdb_writeoptions_destroy(wo);
        rocksdb_readoptions_destroy(ro);
        weir_state_env_free(env);
        weir_config_free(cfg);
    }
    // The backend's key of (state 0, key i, namespace 0).
    const char *key(size_t i)
    {
        uint32_t kg = keys().kg[i];
        uint64_t be = __builtin_bswap64(keys().key[i]);
        kbuf[0] = static_cast<uint8_t>(kg >> 8);
        kbuf[1] = static_cast<uint8_t>(kg);
        std::memcpy(kbuf + 4, &be, 8);
        return reinterpret_cast<const char *>(kbuf);
    }
    void put(size_t i, uint64_t x)
    {
        char *msg = nullptr;
        rocksdb_put(db, wo, key(i), 20, reinterpret_cast<const char *>(&x), 8, &msg);
        if (msg)
            std::abort();
    }
    // rocksdb_get_pinned and a copy, as the backend reads.
    const uint64_t *get(size_t i)
    {
        char *msg = nullptr;
        rocksdb_pinnableslice_t *ps = rocksdb_get_pinned(db, ro, key(i), 20, &msg);
        if (!ps)
            return nullptr;
        size_t len;
        const char *v = rocksdb_pinnableslice_value(ps, &len);
        std::memcpy(obuf, v, len < sizeof obuf ? len : sizeof obuf);
        rocksdb_pinnableslice_destroy(ps);
        return reinterpret_cast<const uint64_t *>(obuf);
    }
    void fill()
    {
        for (size_t i = 0; i < kKeys; i++)
            put(i, i);
    }
};

void BM_RawRocksDB_Get(benchmark::State &state)
{
    Raw r;
    r.fill();
    size_t i = 0;
    uint64_t sum = 0;
    for (auto _ : state) {
        sum += *r.get(i);
        if (++i == kKeys)
            i = 0;
    }
    benchmark::DoNotOptimize(sum);
    finish(state);
}

void BM_RawRocksDB_GetMalloc(benchmark::State &state)
{
    Raw r;
    r.fill();
    size_t i = 0;
    uint64_t sum = 0;
    for (auto _ : state) {
        char *msg = nullptr;
        size_t len;
        char *v = rocksdb_get(r.db, r.ro, r.key(i), 20, &len, &msg);
        uint64_t x;
        std::memcpy(&x, v, 8);
        sum += x;
        rocksdb_free(v);
        if (++i == kKeys)
            i = 0;
    }
    benchmark::DoNotOptimize(sum);
    finish(state);
}

void BM_RawRocksDB_Update(benchmark::State &state)
{
    Raw r;
    r.fill();
    size_t i = 0;
    for (auto _ : state) {
        const uint64_t *old = r.get(i);
        r.put(i, (old ? *old : 0) + 1);
        if (++i == kKeys)
            i = 0;
    }
    finish(state);
}

void BM_RawRocksDB_MergeAppend(benchmark::State &state)
{
    Raw r;
    size_t i = 0;
    for (auto _ : state) {
        uint64_t x = i;
        char *msg = nullptr;
        rocksdb_merge(r.db, r.wo, r.key(i), 20, reinterpret_cast<const char *>(&x), 8, &msg);
        if (msg)
            std::abort();
        if (++i == kKeys)
            i = 0;
    }
    finish(state);
}

void BM_RawRocksDB_RmwAppend(benchmark::State &state)
{
    Raw r;
    size_t i = 0;
    std::string buf;
    for (auto _ : state) {
        char *msg = nullptr;
        size_t len = 0;
        char *v = rocksdb_get(r.db, r.ro, r.key(i), 20, &len, &msg);
        buf.assign(v ? v : "", v ? len : 0);
        rocksdb_free(v);
        uint64_t x = i;
        buf.append(reinterpret_cast<const char *>(&x), 8);
        rocksdb_put(r.db, r.wo, r.key(i), 20, buf.data(), buf.size(), &msg);
        if (msg)
            std::abort();
        if (++i == kKeys)
            i = 0;
    }
    finish(state);
}

BENCHMARK(BM_RawRocksDB_Get)->Iterations(kRocksOps)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RawRocksDB_GetMalloc)->Iterations(kRocksOps)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RawRocksDB_Update)->Iterations(kRocksOps)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RawRocksDB_MergeAppend)->Iterations(kRocksOps)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RawRocksDB_RmwAppend)->Iterations(kRocksOps)->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
