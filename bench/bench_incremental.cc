// RocksDB incremental checkpoints: does a checkpoint's size track what changed
// since the previous one rather than the whole state?
//
// A source writes 1 M keys (112-byte values) as fast as it can, then changes
// 2,000 random keys per second; a checkpoint is taken every 2 s for 16 s, with
// state.backend.incremental true and then false (full snapshots), one after the
// other in one process. Printed: each checkpoint's size (bytes written by it)
// and duration; the counters are the medians over the checkpoints after the
// load phase.
//
//   build/bench/bench_incremental
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <utility>
#include <unistd.h>
#include <vector>

extern "C" {
#include <weir/config.h>
#include <weir/weir.h>
}

namespace
{

constexpr uint64_t kKeys = 1000000;
constexpr double kTrickle = 2000; // changes per second after the load

struct src_state {
    uint64_t next;
    uint64_t rng;
    timespec t_load_done;
    bool loaded;
};

int src_poll(weir_ctx *ctx, void *st, weir_emit *out, uint32_t max, uint32_t *emitted)
{
    auto *s = static_cast<src_state *>(st);
    *emitted = 0;
    if (weir_ctx_stopping(ctx))
        return WEIR_SOURCE_DONE;
    for (uint32_t i = 0; i < max; i++) {
        uint64_t key;
        if (s->next < kKeys) {
            key = s->next;
        } else {
            timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (!s->loaded) {
                s->loaded = true;
                s->t_load_done = now;
            }
            double el =
                (now.tv_sec - s->t_load_done.tv_sec) + (now.tv_nsec - s->t_load_done.tv_nsec) / 1e9;
            if (s->next - kKeys >= el * kTrickle)
                break;
            s->rng = s->rng * 6364136223846793005ull + 1442695040888963407ull;
            key = (s->rng >> 33) % kKeys;
        }
        weir_datagen_rec r{s->next, key, s->next};
        int rc = weir_emit_copy(out, WEIR_TS_NONE, &r, sizeof r);
        if (rc < 0)
            return rc;
        s->next++;
        (*emitted)++;
    }
    return WEIR_SOURCE_MORE;
}

weir_source_ops make_src()
{
    weir_source_ops o{};
    o.kind = "load-then-trickle";
    o.state_size = sizeof(src_state);
    o.poll = src_poll;
    return o;
}
const weir_source_ops src_ops = make_src();

struct value {
    uint64_t seq;
    unsigned char pad[104];
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

int op_process(weir_ctx *, void *st, int, const weir_rec *in, weir_emit *)
{
    auto *s = static_cast<op_state *>(st);
    value v{};
    v.seq = reinterpret_cast<const weir_datagen_rec *>(in->data)->seq;
    return weir_value_put(s->v, &v);
}

weir_operator_ops make_op()
{
    weir_operator_ops o{};
    o.kind = "state";
    o.state_size = sizeof(op_state);
    o.open = op_open;
    o.process = op_process;
    return o;
}
const weir_operator_ops state_ops = make_op();

uint64_t key_of(const weir_rec *r)
{
    return reinterpret_cast<const weir_datagen_rec *>(r->data)->key;
}

void BM_RocksCheckpointSize(benchmark::State &state)
{
    const bool incremental = state.range(0) == 1;
    std::string dir = std::string(getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp") +
                      "/weir-bench-incr-" + std::to_string(getpid());
    for (auto _ : state) {
        for (int pass = 0; pass < 2; pass++) {
            // pass 0: run 16 s with checkpoints; pass 1: restore the latest and stop
            char err[1024];
            weir_config *cfg = weir_config_new();
            std::string ck = dir + "/ck", rdb = dir + "/rdb";
            const char *kv[][2] = {{"metrics.reporter.prom.port", "0"},
                                   {"state.backend", "rocksdb"},
                                   {"state.backend.rocksdb.localdir", rdb.c_str()},
                                   {"state.backend.incremental", incremental ? "true" : "false"},
                                   {"state.checkpoints.dir", ck.c_str()},
                                   {"execution.checkpointing.interval", "2s"},
                                   {"execution.checkpointing.num-retained", "2"},
                                   {"memory.process.size", "4g"}};
            for (auto &p : kv)
                if (weir_config_set(cfg, p[0], p[1], err, sizeof err) != 0) {
                    state.SkipWithError(err);
                    return;
                }
            if (weir_config_resolve(cfg, err, sizeof err) != 0) {
                state.SkipWithError(err);
                return;
            }
            weir_job *job = weir_job_new("incr");
            weir_stream *s = weir_source(job, "src", &src_ops, nullptr);
            weir_sink_blackhole(
                weir_keyed_transform(weir_key_by(s, key_of), "state", &state_ops, nullptr, nullptr),
                "sink");
            // the periodic checkpoints, as the coordinator reports them
            std::vector<std::pair<uint64_t, uint64_t>> ckpts; // bytes, ms
            weir_run_opts ro{};
            ro.parallelism = 1;
            ro.quiet = true;
            ro.on_checkpoint = [](void *arg, const weir_checkpoint_event *ev) {
                if (ev->completed && !ev->savepoint && !ev->final)
                    static_cast<std::vector<std::pair<uint64_t, uint64_t>> *>(arg)->emplace_back(
                        ev->size_bytes, ev->duration_ms);
            };
            ro.on_checkpoint_arg = &ckpts;
            if (pass == 1)
                ro.restore_from = "latest";
            std::thread stop([job, pass] {
                if (pass == 0)
                    sleep(16);
                else
                    usleep(1000);
                weir_job_cancel(job);
            });
            weir_run_stats st{};
            int rc = weir_job_run(job, cfg, &ro, &st, err, sizeof err);
            stop.join();
            weir_job_free(job);
            weir_config_free(cfg);
            if (rc != 0) {
                state.SkipWithError(err);
                break;
            }
            if (pass == 1) {
                // logical state: 1 M keys x (8-byte key + 112-byte value)
                double gib = kKeys * (8.0 + sizeof(value)) / 1073741824.0;
                state.counters["restore_ms"] = st.restore_ms;
                state.counters["restore_s_per_logical_GiB"] = st.restore_ms / 1e3 / gib;
                continue;
            }
            state.SetIterationTime(st.elapsed_s);
            printf("%s:", incremental ? "incremental" : "full");
            std::vector<double> after_load;
            for (size_t i = 0; i < ckpts.size(); i++) {
                printf(" %.2f MiB/%llu ms", ckpts[i].first / 1048576.0,
                       (unsigned long long)ckpts[i].second);
                if (i >= 2)
                    after_load.push_back(ckpts[i].first / 1048576.0);
            }
            printf("\n");
            if (!ckpts.empty()) {
                state.counters["first_ckpt_MiB"] = ckpts[0].first / 1048576.0;
                std::sort(after_load.begin(), after_load.end());
                if (!after_load.empty())
                    state.counters["later_ckpt_MiB_median"] = after_load[after_load.size() / 2];
                state.counters["checkpoints"] = (double)ckpts.size();
            }
        }
    }
    std::string cmd = "rm -rf " + dir;
    if (system(cmd.c_str()) != 0)
        fprintf(stderr, "could not remove %s\n", dir.c_str());
}

} // namespace

BENCHMARK(BM_RocksCheckpointSize)
    ->ArgName("incremental")
    ->Arg(1)
    ->Arg(0)
    ->UseManualTime()
    ->Unit(benchmark::kSecond)
    ->Iterations(1);

BENCHMARK_MAIN();
