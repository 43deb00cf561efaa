// Checkpoint overhead on a keyed job holding about 1 GiB of heap state, side by
// side in one run: the same job without checkpoints and with a checkpoint every
// execution.checkpointing.interval (10 s by default, WEIR_BENCH_CKPT_INTERVAL
// to change), then a restore of the last periodic checkpoint.
//
//   datagen (8 M random keys, 64-byte records) -> key_by -> keyed op keeping a
//   112-byte value per key (8 M x (112 + table overhead) ~ 1 GiB) -> blackhole
//
// Reported: records/s of each run and their ratio, worker stall per snapshot
// (the synchronous part: p50/p99/max), and restore time per GiB of checkpoint
// read back. One iteration each: the machine has 2 cores. Checkpoint durations
// and sizes are logged by the job ("weir: checkpoint N complete ...").
//
// WEIR_BENCH_BACKEND=rocksdb or rocksdb-incremental runs the same job on RocksDB
// (full or incremental checkpoints; the restore then reads the shared SSTs too,
// counted in restored_MiB); WEIR_BENCH_RECORDS and WEIR_BENCH_KEYS size it
// (60 M records over 8 M keys by default); WEIR_BENCH_NO_BASELINE leaves out the
// run without checkpoints.
//
//   build/bench/bench_checkpoint
//   WEIR_BENCH_BACKEND=rocksdb-incremental WEIR_BENCH_RECORDS=8000000
//     WEIR_BENCH_KEYS=4000000 build/bench/bench_checkpoint (one command line)
#include <benchmark/benchmark.h>

#include <algorithm>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <unistd.h>

extern "C" {
#include <weir/config.h>
#include <weir/weir.h>
}

namespace
{

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
    uint64_t max_ckpt_ms = 0, max_ckpt_bytes = 0; // the longest and the largest, as reported
    bool ok = false;
};

void note_checkpoint(void *arg, const weir_checkpoint_event *ev)
{
    auto *r = static_cast<result *>(arg);
    if (!ev->completed || ev->savepoint)
        return;
    r->max_ckpt_ms = std::max(r->max_ckpt_ms, ev->duration_ms);
    r->max_ckpt_bytes = std::max(r->max_ckpt_bytes, ev->size_bytes);
}

uint64_t env_u64(const char *name, uint64_t def)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, nullptr, 10) : def;
}

result run(const char *interval, const char *restore, uint64_t records, double stop_after_s)
{
    const char *be = getenv("WEIR_BENCH_BACKEND") ? getenv("WEIR_BENCH_BACKEND") : "hashmap";
    bool incremental = !strcmp(be, "rocksdb-incremental");
    std::string rocks = tmpdir() + "/rocks";
    char err[1024];
    result res;
    weir_config *cfg = weir_config_new();
    std::string dir = tmpdir();
    const char *kv[][2] = {{"metrics.reporter.prom.port", "0"},
                           {"memory.process.size", "8g"},
                           {"state.checkpoints.dir", dir.c_str()},
                           {"execution.checkpointing.interval", interval},
                           {"execution.checkpointing.num-retained", "2"},
                           {"restart-strategy.type", "none"},
                           {"state.backend", incremental ? "rocksdb" : be},
                           {"state.backend.incremental", incremental ? "true" : "false"},
                           {"state.backend.rocksdb.localdir", rocks.c_str()}};
    for (auto &p : kv)
        if (weir_config_set(cfg, p[0], p[1], err, sizeof err) != 0) {
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
    o.keys = env_u64("WEIR_BENCH_KEYS", 8000000);
    o.record_size = 64;
    o.random = true;
    weir_stream *s = weir_source_datagen(job, "datagen", &o);
    s = weir_keyed_transform(weir_key_by(s, key_of), "state", &state_ops, nullptr, nullptr);
    weir_sink_blackhole(s, "sink");
    weir_run_opts ro{};
    ro.parallelism = 1;
    ro.quiet = true;
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

void BM_CheckpointOverhead(benchmark::State &state)
{
    const uint64_t records = env_u64("WEIR_BENCH_RECORDS", static_cast<uint64_t>(state.range(0)));
    const char *interval =
        getenv("WEIR_BENCH_CKPT_INTERVAL") ? getenv("WEIR_BENCH_CKPT_INTERVAL") : "10s";
    for (auto _ : state) {
        // WEIR_BENCH_NO_BASELINE: only the run with checkpoints and the restore
        bool baseline = !getenv("WEIR_BENCH_NO_BASELINE");
        result none;
        none.ok = true;
        if (baseline)
            none = run("0", nullptr, records, 0);
        result with = run(interval, nullptr, records, 0);
        // The newest checkpoint is the final one (all finished, no keyed state);
        // the one before is the last periodic checkpoint with the whole state.
        std::string prev = second_newest(tmpdir() + "/ckpt-bench");
        result back = run(interval, prev.c_str(), records, 0.001);
        if (!none.ok || !with.ok || !back.ok) {
            state.SkipWithError("a run failed");
            break;
        }
        double r_with = with.st.source_records / with.st.elapsed_s;
        state.SetIterationTime(none.st.elapsed_s + with.st.elapsed_s);
        state.counters["records_per_s_ckpt"] = r_with;
        if (baseline) {
            double r_none = none.st.source_records / none.st.elapsed_s;
            state.counters["records_per_s_no_ckpt"] = r_none;
            state.counters["ratio_ckpt_vs_none"] = r_with / r_none;
        }
        state.counters["checkpoints"] = with.st.checkpoints_completed;
        state.counters["stall_ms_p50"] = with.st.sync_ms_p50;
        state.counters["stall_ms_p99"] = with.st.sync_ms_p99;
        state.counters["stall_ms_max"] = with.st.sync_ms_max;
        state.counters["max_ckpt_ms"] = with.max_ckpt_ms;
        state.counters["max_ckpt_MiB"] = with.max_ckpt_bytes / 1048576.0;
        state.counters["restore_ms"] = back.st.restore_ms;
        state.counters["restored_MiB"] = back.st.restored_bytes / 1048576.0;
        if (back.st.restored_bytes)
            state.counters["restore_s_per_GiB"] =
                back.st.restore_ms / 1e3 / (back.st.restored_bytes / 1073741824.0);
    }
    std::string cmd = "rm -rf " + tmpdir();
    if (system(cmd.c_str()) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir().c_str());
}

} // namespace

BENCHMARK(BM_CheckpointOverhead)
    ->Arg(60000000)
    ->UseManualTime()
    ->Unit(benchmark::kSecond)
    ->Iterations(1);

BENCHMARK_MAIN();
