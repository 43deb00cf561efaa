// Checkpoint overhead on a keyed job holding --state-mb of heap state (1024 by
// default), in one process: the same job without checkpoints and with a checkpoint
// every execution.checkpointing.interval (10 s by default, WEIR_BENCH_CKPT_INTERVAL
// to change), alternating, --runs times each (3 by default), then a restore of the
// last periodic checkpoint.
//
//   datagen (state-mb x 8192 random keys, 64-byte records) -> key_by -> keyed op
//   keeping a 112-byte value per key (8 M keys x (112 + table overhead) ~ 1 GiB)
//   -> blackhole; --records per run: 7.5 per key, at least 60 M (so that a run
//   lasts several intervals)
//
// Reported: records/s of each run (medians) and their ratio, worker stall per
// snapshot (the synchronous part: p50 and p99 the medians over the runs with
// checkpoints, max the largest; over all subtasks), the slowest subtask of the last
// checkpoint, and restore time per GiB of checkpoint read back. The job needs about
// twice its state in memory (the state, its snapshot) plus 1 GiB: a --state-mb whose
// need is more than MemAvailable is refused. Checkpoint durations and sizes are
// logged by the job ("weir: checkpoint N complete ...").
//
// Memory: a key takes at most BYTES_PER_KEY (430) of the task heap on the hashmap (213 to
// 427 measured, below), and a checkpoint's copy-on-write copies may hold every table
// again, so the task heap (memory.task.heap.size) is sized from the keys: twice that
// state, a quarter more, plus 512 MiB; a run needs twice the state plus 1 GiB of memory.
// --state-mb 1024: 8.4 M keys, at most 3.36 GiB of state (2.50 GiB measured), an 8.06
// GiB heap, 7.7 GiB needed; 4096: 33.6 M keys, at most 13.4 GiB (10.0 GiB by the same
// tables), a 30.7 GiB heap, 27.9 GiB needed (refused on a machine with less available).
// WEIR_BENCH_HEAP_MB=N sets the heap to N MiB instead.
//
//   build/bench/bench_checkpoint [--state-mb 1024|4096] [--runs 3] [--records N]
//                                [--restore-parallelism P] [--restores K] [--restore-warm]
//
// --restore-parallelism P restores the checkpoint (taken at parallelism 1) at parallelism
// P instead: the rescaling restore, each of the P subtasks reading its key groups out of the
// one state file (the source stays at parallelism 1 in every run, its position restoring
// as it was). --restores K restores the same checkpoint K times, one after the other, and
// reports the median (restore_s_per_GiB) and each (stderr), with the CPU time of the whole
// restoring run (all threads; set-up and tear-down too) per GiB, restore_run_cpu_s_per_GiB:
// on a machine other work keeps busy, wall time says more about the others. --restore-warm reads
// the checkpoint's files before each restore (checkpoints are written with O_DIRECT: without it the
// first restore of a checkpoint reads the disk, the others the page cache, if it kept them), so
// that the figure is the restore's own work. WEIR_BENCH_RESTORE_THREADS sets
// state.backend.restore.threads (the default: 0, one per cpu of the node).
//
// WEIR_BENCH_BACKEND=rocksdb or rocksdb-incremental runs the same job on RocksDB
// (full or incremental checkpoints; the restore then reads the shared SSTs too,
// counted in restored_MiB); WEIR_BENCH_RECORDS and WEIR_BENCH_KEYS override the
// sizes --state-mb gives; WEIR_BENCH_NO_BASELINE leaves out the runs without
// checkpoints.
//
//   WEIR_BENCH_BACKEND=rocksdb-incremental WEIR_BENCH_RECORDS=8000000
//     WEIR_BENCH_KEYS=4000000 build/bench/bench_checkpoint --runs 1 (one command line)
//
// --update-fraction F (e.g. 0.01) measures incremental heap checkpoints instead: the
// keys are loaded once (a sequential datagen, unpaced), while a second datagen, unioned
// with it, updates random keys at a rate that touches a fraction F of them per interval
// (2 s unless WEIR_BENCH_CKPT_INTERVAL says otherwise). The same run goes once with
// state.backend.incremental false and once true, each until 6 checkpoints were taken after
// the load (or 60 in all); reported: each checkpoint's size ("L" marks those that hold part
// of the load), the full checkpoint's size (the median of the first run's checkpoints
// after the load) and the median of the second run's deltas after the load against it. A
// checkpoint is after the load when every key existed (the operator counts the keys it
// creates) before the previous one completed, so that the previous pin saw them all:
// how long the load takes depends on the machine's load, and a delta that holds part of
// it holds those keys whole (one such, 288 MiB among deltas of 11 MiB at --state-mb 1024,
// was once taken for key groups written whole); so does one after a checkpoint that took
// longer than the interval (a full one, every max-chain-length + 1): it holds the changes
// of that longer time. WEIR_BENCH_VERBOSE=1 lets the jobs log (checkpoint durations, and
// why a delta wrote key groups whole).
//
//   build/bench/bench_checkpoint --state-mb 128 --update-fraction 0.01
//
// --s3 adds, to each round, the run with checkpoints to an S3-compatible store
// (state.checkpoints.dir s3://$WEIR_S3_BUCKET/bench-<pid>, s3.endpoint
// $WEIR_S3_ENDPOINT, credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), and
// reports checkpoint duration to the store against local disk, from the same process:
//
//   tools/s3proxy.sh start /tmp/sp && set -a && . /tmp/sp/env && set +a &&
//     build/bench/bench_checkpoint --state-mb 64 --runs 1 --s3
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

extern "C" {
#include <weir/config.h>
#include <weir/weir.h>
}

namespace
{

uint64_t g_state_mb = 1024, g_records = 0;
int g_runs = 3;
int g_restore_p = 1, g_restores = 1; // --restore-parallelism, --restores
bool g_restore_warm = false;         // --restore-warm
double g_update_fraction = 0;        // --update-fraction: the incremental size mode
bool g_s3 = false;                   // --s3

uint64_t keys_for(uint64_t state_mb)
{
    return state_mb * 8192; // 8 M keys ~ 1 GiB
}

uint64_t records_for(uint64_t state_mb)
{
    uint64_t n = keys_for(state_mb) * 15 / 2;
    return n < 60000000 ? 60000000 : n;
}

uint64_t mem_available_mb()
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    unsigned long long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb / 1024;
}

// CPU seconds of the process so far (all threads, user and system).
double cpu_s()
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double median(std::vector<double> v)
{
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Keys the operator created in this run: all of them once the load is done.
std::atomic<uint64_t> g_keys_created{0};

struct value {
    uint64_t count;
    uint64_t last_seq;
    unsigned char pad[96];
};

struct op_state {
    weir_value_state *v;
};

int op_open(weir_ctx *ctx, void *st, void *)
{
    auto *s = static_cast<op_state *>(st);
    s->v = weir_value_state_get(weir_ctx_state(ctx), "v", sizeof(value), nullptr);
    return s->v ? 0 : -ENOMEM;
}

int op_process(weir_ctx *, void *st, int, const weir_rec *in, weir_emit *out)
{
    auto *s = static_cast<op_state *>(st);
    auto *r = reinterpret_cast<const weir_datagen_rec *>(in->data);
    value v{};
    if (auto *old = static_cast<const value *>(weir_value_get(s->v)))
        v = *old;
    else
        g_keys_created.fetch_add(1, std::memory_order_relaxed);
    v.count++;
    v.last_seq = r->seq;
    int rc = weir_value_put(s->v, &v);
    if (rc < 0 || r->seq % 64)
        return rc;
    return weir_emit_forward(out, in); // a trickle downstream
}

weir_operator_ops ops()
{
    weir_operator_ops o{};
    o.kind = "state";
    o.state_size = sizeof(op_state);
    o.open = op_open;
    o.process = op_process;
    return o;
}
const weir_operator_ops state_ops = ops();

uint64_t key_of(const weir_rec *r)
{
    return reinterpret_cast<const weir_datagen_rec *>(r->data)->key;
}

std::string tmpdir()
{
    return std::string(getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp") + "/weir-bench-ckpt-" +
           std::to_string(getpid());
}

std::string second_newest(const std::string &jobdir)
{
    std::string cmd = "ls -d " + jobdir + "/chk-* | sed 's/.*chk-//' | sort -n | tail -2 | head -1";
    FILE *p = popen(cmd.c_str(), "r");
    char buf[64] = "";
    if (p) {
        if (!fgets(buf, sizeof buf, p))
            buf[0] = 0;
        pclose(p);
    }
    return jobdir + "/chk-" + std::to_string(atoll(buf));
}

struct result {
    weir_run_stats st{};
    std::vector<uint64_t> created_at; // g_keys_created when each periodic checkpoint completed
    // --update-fraction: cancel job once `want` checkpoints were taken after the load of
    // `keys` (the first `after` checkpoints hold the load in any case), or 60 in all
    weir_job *job = nullptr;
    uint64_t keys = 0;
    size_t after = 0, want = 0;
    uint64_t max_ckpt_ms = 0, max_ckpt_bytes = 0; // the longest and the largest, as reported
    std::vector<uint64_t> sizes;                  // of each periodic checkpoint, in order
    std::vector<double> ckpt_ms;                  // every completed checkpoint's duration
    bool ok = false;
};

// The --update-fraction mode's job: a load of every key, unioned with paced updates.
struct update_mode {
    bool on = false, incremental = false;
    double rate = 0;
    uint64_t updates = 0;
};
update_mode g_update;

// The indexes of r's checkpoints taken after the load: from r.after on, those whose
// checkpoint r.after before completed once every key existed.
std::vector<size_t> steady(const result &r)
{
    std::vector<size_t> v;
    for (size_t i = r.after; i < r.sizes.size(); i++)
        if (r.created_at[i - r.after] >= r.keys)
            v.push_back(i);
    return v;
}

void note_checkpoint(void *arg, const weir_checkpoint_event *ev)
{
    auto *r = static_cast<result *>(arg);
    if (!ev->completed || ev->savepoint)
        return;
    r->max_ckpt_ms = std::max(r->max_ckpt_ms, ev->duration_ms);
    r->ckpt_ms.push_back((double)ev->duration_ms);
    r->max_ckpt_bytes = std::max(r->max_ckpt_bytes, ev->size_bytes);
    if (ev->final)
        return;
    r->sizes.push_back(ev->size_bytes);
    r->created_at.push_back(g_keys_created.load(std::memory_order_relaxed));
    if (r->job && r->want && (steady(*r).size() >= r->want || r->sizes.size() >= 60))
        weir_job_cancel(r->job);
}

uint64_t env_u64(const char *name, uint64_t def)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, nullptr, 10) : def;
}

// Task-heap bytes per key of this job's state on the hashmap backend, at most. The state is
// one open-addressing table per key group whose slots hold the 112-byte value (about 160
// bytes a slot on this build), doubled when three quarters full: 213 to 427 bytes per key,
// the most just after a doubling. Measured with the pool's own count
// (weir_state_env_heap_bytes after putting N keys of this value, 128 key groups): 2.50 GiB
// from 6.5 M to 9.5 M keys (413 bytes per key at 6.5 M, 320 at 8.4 M), 1.25 GiB from 3.25
// M to 6.0 M. The old sizing (128 bytes per key, 3 x --state-mb + 512 MiB) ran out at
// --state-mb 1024 once the tables had doubled and a snapshot held copies of them.
constexpr uint64_t BYTES_PER_KEY = 430;

uint64_t bench_keys()
{
    return env_u64("WEIR_BENCH_KEYS", keys_for(g_state_mb));
}

// The keyed state's bytes in the task heap once every key is in.
uint64_t state_mb_of(uint64_t keys)
{
    return (keys * BYTES_PER_KEY + (1 << 20) - 1) >> 20;
}

// The task heap: the state, a full copy-on-write copy of it, a quarter more for the keys
// that change while the copies are held, and 512 MiB.
uint64_t heap_mb_for(uint64_t keys)
{
    uint64_t st = state_mb_of(keys);
    return env_u64("WEIR_BENCH_HEAP_MB", st * 2 + st / 4 + 512);
}

// What a run needs in memory: the state and its copies (the heap pool is a limit, not
// memory taken up front) and 1 GiB for the rest of the process.
uint64_t needed_mb(uint64_t keys)
{
    return state_mb_of(keys) * 2 + 1024;
}

result run(const char *interval, const char *restore, uint64_t records, double stop_after_s,
           bool s3 = false)
{
    const char *be = getenv("WEIR_BENCH_BACKEND") ? getenv("WEIR_BENCH_BACKEND") : "hashmap";
    bool incremental = !strcmp(be, "rocksdb-incremental") || g_update.incremental;
    std::string rocks = tmpdir() + "/rocks";
    char err[1024];
    result res;
    weir_config *cfg = weir_config_new();
    std::string dir = tmpdir(), local_copy = tmpdir() + "/s3-local";
    if (s3)
        dir = std::string("s3://") + (getenv("WEIR_S3_BUCKET") ? getenv("WEIR_S3_BUCKET") : "") +
              "/bench-" + std::to_string(getpid());
    // The task heap from the keys (heap_mb_for); managed memory only for RocksDB's caches,
    // set so that it does not grow with the process size (a fraction of it by default,
    // which made the pools overflow the process size at --state-mb 1024).
    // The process adds at most 2176 MiB to them (memory.network.max and memory.overhead.max,
    // 1 GiB each, and memory.framework.size 128 MiB).
    const bool rocks_be = strcmp(be, "hashmap") != 0;
    uint64_t heap_mb = heap_mb_for(bench_keys()), managed_mb = rocks_be ? 1024 : 64;
    std::string heap = std::to_string(heap_mb) + "m", managed = std::to_string(managed_mb) + "m",
                proc = std::to_string(heap_mb + managed_mb + 2304) + "m";
    const char *kv[][2] = {
        {"metrics.reporter.prom.port", "0"},
        {"memory.process.size", proc.c_str()},
        {"memory.task.heap.size", heap.c_str()},
        {"memory.managed.size", managed.c_str()},
        {"state.checkpoints.dir", dir.c_str()},
        {"execution.checkpointing.interval", interval},
        {"execution.checkpointing.num-retained", "2"},
        {"restart-strategy.type", "none"},
        {"state.backend", incremental && !g_update.on ? "rocksdb" : be},
        {"state.backend.incremental", incremental ? "true" : "false"},
        {"state.backend.rocksdb.localdir", rocks.c_str()},
        {"state.backend.local-recovery.dir", local_copy.c_str()},
        {"s3.endpoint", getenv("WEIR_S3_ENDPOINT") ? getenv("WEIR_S3_ENDPOINT") : ""}};
    for (auto &p : kv)
        if (weir_config_set(cfg, p[0], p[1], err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            return res;
        }
    const char *threads = getenv("WEIR_BENCH_RESTORE_THREADS"); // else the default (0: auto)
    if (threads &&
        weir_config_set(cfg, "state.backend.restore.threads", threads, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return res;
    }
    if (weir_config_resolve(cfg, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return res;
    }
    weir_job *job = weir_job_new("ckpt-bench");
    weir_datagen_opts o{};
    o.records = records;
    o.keys = bench_keys();
    o.record_size = 64;
    o.random = true;
    weir_stream *s;
    if (g_update.on) {
        weir_datagen_opts load = o, upd = o;
        load.records = load.keys;
        load.random = false;
        upd.records = g_update.updates;
        upd.rate = g_update.rate;
        upd.seed = 99;
        s = weir_union(weir_source_datagen(job, "load", &load),
                       weir_source_datagen(job, "update", &upd));
    } else {
        // at parallelism 1 whatever the job's: its position restores at another one too
        s = weir_set_parallelism(weir_source_datagen(job, "datagen", &o), 1);
    }
    s = weir_keyed_transform(weir_key_by(s, key_of), "state", &state_ops, nullptr, nullptr);
    weir_sink_blackhole(s, "sink");
    g_keys_created = 0;
    if (g_update.on) {
        res.job = job;
        res.keys = o.keys;
        res.after = g_update.incremental ? 2 : 1;
        res.want = 6;
    }
    weir_run_opts ro{};
    ro.parallelism = restore ? g_restore_p : 1;
    ro.quiet = !getenv("WEIR_BENCH_VERBOSE");
    ro.restore_from = restore;
    ro.on_checkpoint = note_checkpoint;
    ro.on_checkpoint_arg = &res;
    std::thread stopper;
    if (stop_after_s > 0)
        stopper = std::thread([job, stop_after_s] {
            usleep(static_cast<useconds_t>(stop_after_s * 1e6));
            weir_job_cancel(job);
        });
    res.ok = weir_job_run(job, cfg, &ro, &res.st, err, sizeof err) == 0;
    if (!res.ok)
        fprintf(stderr, "%s\n", err);
    if (stopper.joinable())
        stopper.join();
    weir_job_free(job);
    weir_config_free(cfg);
    return res;
}

// Each checkpoint's size, "L" after those that hold part of the load; the sizes after it.
std::vector<double> print_sizes(const char *what, const result &r)
{
    std::vector<size_t> st = steady(r);
    std::vector<double> after;
    fprintf(stderr, "%s checkpoints (MiB):", what);
    for (size_t i = 0; i < r.sizes.size(); i++) {
        bool load = std::find(st.begin(), st.end(), i) == st.end();
        fprintf(stderr, " %.3f%s", r.sizes[i] / 1048576.0, load ? "L" : "");
        if (!load)
            after.push_back((double)r.sizes[i]);
    }
    fprintf(stderr, "\n");
    return after;
}

// --update-fraction: full vs incremental heap checkpoint size (the header's note).
void incremental_size(benchmark::State &state)
{
    const char *iv = getenv("WEIR_BENCH_CKPT_INTERVAL") ? getenv("WEIR_BENCH_CKPT_INTERVAL") : "2s";
    double interval_s = atof(iv);
    if (interval_s <= 0)
        interval_s = 2;
    uint64_t keys = env_u64("WEIR_BENCH_KEYS", keys_for(g_state_mb));
    g_update.on = true;
    g_update.rate = g_update_fraction * (double)keys / interval_s;
    g_update.updates = 0; // until the run is cancelled (result.want)
    g_update.incremental = false;
    result full = run(iv, nullptr, keys, 0);
    g_update.incremental = true;
    result incr = run(iv, nullptr, keys, 0);
    std::vector<double> f = print_sizes("incremental off:", full),
                        d = print_sizes("incremental on: ", incr);
    if (!full.ok || !incr.ok || f.empty() || d.empty()) {
        state.SkipWithError("a run failed or took no checkpoint after the load");
        return;
    }
    double full_b = median(f), delta_b = median(d);
    fprintf(stderr,
            "update fraction %.4f of %llu keys per %.1f s: full %.3f MiB, delta %.3f MiB "
            "(median of %zu), %.2f%% of full\n",
            g_update_fraction, (unsigned long long)keys, interval_s, full_b / 1048576.0,
            delta_b / 1048576.0, d.size(), 100.0 * delta_b / full_b);
    state.SetIterationTime(full.st.elapsed_s + incr.st.elapsed_s);
    state.counters["state_MiB"] = (double)g_state_mb;
    state.counters["update_fraction"] = g_update_fraction;
    state.counters["full_MiB"] = full_b / 1048576.0;
    state.counters["delta_MiB"] = delta_b / 1048576.0;
    state.counters["delta_pct_of_full"] = 100.0 * delta_b / full_b;
}

// --restores K restores of the checkpoint prev, one after the other: the last one's result in
// back, each one's wall and CPU seconds per GiB appended. Returns whether all went well.
bool restores(const char *interval, const std::string &prev, uint64_t records, result &back,
              std::vector<double> &s_per_gib, std::vector<double> &cpu_per_gib)
{
    bool ok = true;
    for (int k = 0; ok && k < g_restores; k++) {
        if (g_restore_warm) {
            std::string cat = "cat " + prev + "/* > /dev/null";
            if (system(cat.c_str()) != 0)
                fprintf(stderr, "could not read %s\n", prev.c_str());
        }
        double c0 = cpu_s();
        back = run(interval, prev.c_str(), records, 0.001);
        double cpu = cpu_s() - c0; // the whole restoring run: set-up, restore, tear-down
        ok = back.ok && back.st.restored_bytes;
        if (ok) {
            double gib = back.st.restored_bytes / 1073741824.0;
            s_per_gib.push_back(back.st.restore_ms / 1e3 / gib);
            cpu_per_gib.push_back(cpu / gib);
            fprintf(stderr,
                    "restore %d at parallelism %d: %.0f ms, %.1f MiB, %.3f s/GiB wall; the "
                    "run's CPU %.3f s/GiB\n",
                    k + 1, g_restore_p, back.st.restore_ms, back.st.restored_bytes / 1048576.0,
                    s_per_gib.back(), cpu_per_gib.back());
        }
    }
    return ok;
}

void BM_CheckpointOverhead(benchmark::State &state)
{
    if (g_update_fraction > 0) {
        for (auto _ : state)
            incremental_size(state);
        std::string cmd = "rm -rf " + tmpdir();
        if (system(cmd.c_str()) != 0)
            fprintf(stderr, "could not remove %s\n", tmpdir().c_str());
        return;
    }
    const uint64_t records =
        g_records ? g_records : env_u64("WEIR_BENCH_RECORDS", records_for(g_state_mb));
    const char *interval =
        getenv("WEIR_BENCH_CKPT_INTERVAL") ? getenv("WEIR_BENCH_CKPT_INTERVAL") : "10s";
    // WEIR_BENCH_NO_BASELINE: only the runs with checkpoints and the restore
    const bool baseline = !getenv("WEIR_BENCH_NO_BASELINE");
    for (auto _ : state) {
        // Alternating, so that the machine's drift over the runs hits both alike.
        std::vector<double> r_none, r_with, p50, p99;
        double stall_max = 0, elapsed = 0, max_ckpt_ms = 0, max_ckpt_bytes = 0, checkpoints = 0;
        bool ok = true;
        weir_run_stats last{};
        std::vector<double> ck_local, ck_s3; // checkpoint durations, ms
        for (int i = 0; i < g_runs && ok; i++) {
            result none;
            none.ok = true;
            if (baseline)
                none = run("0", nullptr, records, 0);
            result with = run(interval, nullptr, records, 0);
            ok = none.ok && with.ok;
            ck_local.insert(ck_local.end(), with.ckpt_ms.begin(), with.ckpt_ms.end());
            if (g_s3 && ok) {
                result remote = run(interval, nullptr, records, 0, true);
                ok = remote.ok;
                ck_s3.insert(ck_s3.end(), remote.ckpt_ms.begin(), remote.ckpt_ms.end());
                fprintf(stderr, "run %d: %zu checkpoints to s3://, %.0f records/s\n", i + 1,
                        remote.ckpt_ms.size(), remote.st.source_records / remote.st.elapsed_s);
            }
            if (baseline)
                r_none.push_back(none.st.source_records / none.st.elapsed_s);
            r_with.push_back(with.st.source_records / with.st.elapsed_s);
            p50.push_back(with.st.sync_ms_p50);
            p99.push_back(with.st.sync_ms_p99);
            stall_max = std::max(stall_max, with.st.sync_ms_max);
            elapsed += (baseline ? none.st.elapsed_s : 0) + with.st.elapsed_s;
            max_ckpt_ms = std::max(max_ckpt_ms, (double)with.max_ckpt_ms);
            max_ckpt_bytes = std::max(max_ckpt_bytes, (double)with.max_ckpt_bytes);
            checkpoints += with.st.checkpoints_completed;
            last = with.st;
            fprintf(stderr,
                    "run %d: %.0f records/s without checkpoints, %.0f with (%llu checkpoints, "
                    "stall p50 %.3f p99 %.3f max %.3f ms)\n",
                    i + 1, baseline ? r_none.back() : 0.0, r_with.back(),
                    (unsigned long long)with.st.checkpoints_completed, with.st.sync_ms_p50,
                    with.st.sync_ms_p99, with.st.sync_ms_max);
        }
        // The newest checkpoint is the final one (all finished, no keyed state);
        // the one before is the last periodic checkpoint with the whole state.
        std::string prev = second_newest(tmpdir() + "/ckpt-bench");
        result back;
        std::vector<double> s_per_gib, cpu_per_gib;
        if (ok)
            ok = restores(interval, prev, records, back, s_per_gib, cpu_per_gib);
        if (!ok || !back.ok) {
            state.SkipWithError("a run failed");
            break;
        }
        state.SetIterationTime(elapsed);
        state.counters["state_MiB"] = (double)g_state_mb;
        state.counters["runs"] = g_runs;
        state.counters["records_per_s_ckpt"] = median(r_with);
        if (baseline) {
            state.counters["records_per_s_no_ckpt"] = median(r_none);
            state.counters["ratio_ckpt_vs_none"] = median(r_with) / median(r_none);
        }
        state.counters["checkpoints"] = checkpoints;
        state.counters["stall_ms_p50"] = median(p50);
        state.counters["stall_ms_p99"] = median(p99);
        state.counters["stall_ms_max"] = stall_max;
        state.counters["max_ckpt_ms"] = max_ckpt_ms;
        state.counters["max_ckpt_MiB"] = max_ckpt_bytes / 1048576.0;
        if (last.skew_checkpoint_id) {
            state.counters["slowest_subtask_ms"] = last.skew_slowest.end_to_end_ms;
            state.counters["slowest_subtask_sync_ms"] = last.skew_slowest.sync_ms;
        }
        if (!ck_local.empty()) {
            state.counters["ckpt_ms_p50_local"] = median(ck_local);
            state.counters["ckpt_ms_max_local"] =
                *std::max_element(ck_local.begin(), ck_local.end());
        }
        if (!ck_s3.empty()) {
            state.counters["ckpt_ms_p50_s3"] = median(ck_s3);
            state.counters["ckpt_ms_max_s3"] = *std::max_element(ck_s3.begin(), ck_s3.end());
            state.counters["checkpoints_s3"] = (double)ck_s3.size();
        }
        state.counters["restore_ms"] = back.st.restore_ms;
        state.counters["restored_MiB"] = back.st.restored_bytes / 1048576.0;
        state.counters["restore_parallelism"] = g_restore_p;
        if (!s_per_gib.empty()) {
            state.counters["restore_s_per_GiB"] = median(s_per_gib);
            state.counters["restore_run_cpu_s_per_GiB"] = median(cpu_per_gib);
        }
    }
    std::string cmd = "rm -rf " + tmpdir();
    if (system(cmd.c_str()) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir().c_str());
}

} // namespace

BENCHMARK(BM_CheckpointOverhead)->UseManualTime()->Unit(benchmark::kSecond)->Iterations(1);

// Our flags first (--state-mb, --runs, --records, --update-fraction, --restore-parallelism,
// --restores, --s3), then Google Benchmark's.
int main(int argc, char **argv)
{
    int n = 1;
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        if (!strcmp(flag, "--help") || !strcmp(flag, "-h"))
            printf("bench_checkpoint [--state-mb MiB (1024)] [--runs N (3)] [--records N]\n"
                   "                 [--update-fraction F] [--s3]\n"
                   "                 [--restore-parallelism P (1)] [--restores K (1)] "
                   "[--restore-warm]\n"
                   "  --restore-parallelism P  restore the checkpoint (taken at parallelism 1)\n"
                   "                           at parallelism P: the rescaling restore\n"
                   "  --restores K             restore it K times; restore_s_per_GiB is the "
                   "median\n"
                   "  --restore-warm           read the checkpoint's files before each restore\n"
                   "                           (it was written with O_DIRECT: the first restore\n"
                   "                           otherwise reads the disk)\n"
                   "  WEIR_BENCH_RESTORE_THREADS sets state.backend.restore.threads\n"
                   "(the header of bench/bench_checkpoint.cc says more; Google Benchmark's "
                   "flags follow)\n\n");
        if (!strcmp(flag, "--restore-warm")) {
            g_restore_warm = true;
            continue;
        }
        if (!strcmp(flag, "--s3")) {
            g_s3 = true;
            if (!getenv("WEIR_S3_ENDPOINT") || !getenv("WEIR_S3_BUCKET")) {
                fprintf(stderr, "bench_checkpoint: --s3: set WEIR_S3_ENDPOINT and WEIR_S3_BUCKET "
                                "(tools/s3proxy.sh start DIR writes them to DIR/env)\n");
                return 2;
            }
            continue;
        }
        bool ours = !strcmp(flag, "--state-mb") || !strcmp(flag, "--runs") ||
                    !strcmp(flag, "--records") || !strcmp(flag, "--restore-parallelism") ||
                    !strcmp(flag, "--restores");
        if (!strcmp(flag, "--update-fraction")) {
            char *end = nullptr;
            double f = i + 1 < argc ? strtod(argv[i + 1], &end) : 0;
            if (i + 1 >= argc || *end || !(f > 0 && f <= 1)) {
                fprintf(stderr, "bench_checkpoint: --update-fraction: %s: not a number in (0, 1]\n",
                        i + 1 < argc ? argv[i + 1] : "(missing)");
                return 2;
            }
            g_update_fraction = f;
            i++;
            continue;
        }
        if (!ours) {
            argv[n++] = argv[i];
            continue;
        }
        char *end = nullptr;
        long long v = i + 1 < argc ? strtoll(argv[i + 1], &end, 10) : 0;
        if (i + 1 >= argc || *end || v <= 0) {
            fprintf(stderr, "bench_checkpoint: %s: %s: not a positive number\n", flag,
                    i + 1 < argc ? argv[i + 1] : "(missing)");
            return 2;
        }
        i++;
        if (!strcmp(flag, "--state-mb"))
            g_state_mb = (uint64_t)v;
        else if (!strcmp(flag, "--runs"))
            g_runs = (int)v;
        else if (!strcmp(flag, "--restore-parallelism"))
            g_restore_p = (int)v;
        else if (!strcmp(flag, "--restores"))
            g_restores = (int)v;
        else
            g_records = (uint64_t)v;
    }
    argc = n;
    uint64_t need = needed_mb(bench_keys()), avail = mem_available_mb();
    if (avail && need > avail) {
        fprintf(stderr,
                "bench_checkpoint: --state-mb %llu needs about %llu MiB of memory (twice the "
                "%llu MiB its %llu keys take, plus 1 GiB), and %llu MiB is available "
                "(MemAvailable); lower --state-mb\n",
                (unsigned long long)g_state_mb, (unsigned long long)need,
                (unsigned long long)state_mb_of(bench_keys()), (unsigned long long)bench_keys(),
                (unsigned long long)avail);
        return 2;
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 2;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
