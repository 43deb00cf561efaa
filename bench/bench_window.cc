// Keyed tumbling-window count over 1 M keys, through the real runtime, on both
// state backends: datagen (1 M random keys, event time spread over 10 s) ->
// key_by -> 1 s tumbling count -> blackhole, parallelism 1: each window holds
// records/10 records over the 1 M keys, and fires 1 M results. Generation and
// window firing are part of the measured time.
//
// Counters (medians over repetitions):
//   records_per_s       source records / wall time
//   records_per_cpu_s   source records / CPU time of the process
//
//   build/bench/bench_window --benchmark_repetitions=3
//       --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <unistd.h>

extern "C" {
#include <weir/config.h>
#include <weir/weir.h>
}

namespace
{

uint64_t key_of(const weir_rec *r)
{
    return reinterpret_cast<const weir_datagen_rec *>(r->data)->key;
}

double cpu_seconds()
{
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void BM_WindowCount(benchmark::State &state)
{
    const bool rocks = state.range(0) == 1;
    const uint64_t records = static_cast<uint64_t>(state.range(1));
    char err[1024];
    std::string dir = std::string(getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp") +
                      "/weir-bench-window-" + std::to_string(getpid());
    weir_config *cfg = weir_config_new();
    if (weir_config_set(cfg, "metrics.reporter.prom.port", "0", err, sizeof err) ||
        weir_config_set(cfg, "state.backend", rocks ? "rocksdb" : "hashmap", err, sizeof err) ||
        weir_config_set(cfg, "state.backend.rocksdb.localdir", dir.c_str(), err, sizeof err) ||
        weir_config_set(cfg, "memory.process.size", "8g", err, sizeof err) ||
        weir_config_resolve(cfg, err, sizeof err)) {
        state.SkipWithError(err);
        return;
    }
    double wall = 0, cpu = 0;
    uint64_t total = 0;
    for (auto _ : state) {
        weir_job *job = weir_job_new("window-count");
        weir_datagen_opts o{};
        o.records = records;
        o.keys = 1000000;
        o.record_size = 24;
        o.random = true;
        o.records_per_ms = records / 10000; // 10 s of event time: ten 1 s windows
        weir_watermark_strategy ws{};
        weir_stream *s = weir_assign_watermarks(weir_source_datagen(job, "datagen", &o), &ws);
        // ten 1 s windows, each updating (nearly) every one of the 1 M keys
        weir_stream *w = weir_window_aggregate(weir_key_by(s, key_of), "count", weir_tumbling(1000),
                                               &weir_agg_count, nullptr, nullptr);
        weir_sink_blackhole(w, "blackhole");
        weir_run_opts ro{};
        ro.parallelism = 1;
        ro.quiet = true;
        weir_run_stats st{};
        double c0 = cpu_seconds();
        if (weir_job_run(job, cfg, &ro, &st, err, sizeof err) != 0) {
            state.SkipWithError(err);
            weir_job_free(job);
            break;
        }
        cpu += cpu_seconds() - c0;
        wall += st.elapsed_s;
        total += st.source_records;
        state.SetIterationTime(st.elapsed_s);
        weir_job_free(job);
    }
    weir_config_free(cfg);
    if (wall > 0) {
        state.counters["records_per_s"] = total / wall;
        state.counters["records_per_cpu_s"] = total / cpu;
    }
}

} // namespace

// arg 0: 0 = hashmap, 1 = rocksdb; arg 1: records
BENCHMARK(BM_WindowCount)
    ->ArgNames({"rocksdb", "records"})
    ->Args({0, 20000000})
    ->Args({1, 4000000})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

BENCHMARK_MAIN();
