// End-to-end pipeline benchmark: datagen -> map -> filter -> key_by -> blackhole,
// 64-byte records, through the real runtime (pinned workers, rings, chaining),
// at parallelism 1 and 2. Generation cost is part of the measured time.
//
// Counters (medians over --benchmark_repetitions):
//   records_per_s         source records / wall time
//   records_per_core_s    records_per_s / workers
//   records_per_cpu_s     source records / CPU time of the whole process: the
//                         per-core rate on a shared machine where the workers
//                         do not get whole cores
//
//   build/bench/bench_pipeline --benchmark_filter='BM_Pipeline/[12]/'
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <ctime>

extern "C" {
#include <weir/config.h>
#include <weir/weir.h>
}

namespace
{

struct payload {
    weir_datagen_rec d;
    unsigned char pad[64 - sizeof(weir_datagen_rec)];
};
static_assert(sizeof(payload) == 64, "64-byte records");

int scale(weir_ctx *, const weir_rec *in, weir_emit *out)
{
    auto *o = static_cast<payload *>(weir_emit_reserve(out, in->len));
    if (!o)
        return -EMSGSIZE;
    std::memcpy(o, in->data, in->len);
    o->d.value = o->d.value * 3 + 1;
    return weir_emit_commit(out, in->ts);
}

int keep15of16(weir_ctx *, const weir_rec *in)
{
    return (reinterpret_cast<const weir_datagen_rec *>(in->data)->value & 15) != 0;
}

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

void BM_Pipeline(benchmark::State &state)
{
    const int p = static_cast<int>(state.range(0));
    const uint64_t records = static_cast<uint64_t>(state.range(1));
    char err[1024];
    weir_config *cfg = weir_config_new();
    if (weir_config_set(cfg, "metrics.reporter.prom.port", "0", err, sizeof err) ||
        weir_config_resolve(cfg, err, sizeof err)) {
        state.SkipWithError(err);
        return;
    }
    double wall = 0, cpu = 0;
    uint64_t total = 0;
    int workers = 0;
    for (auto _ : state) {
        weir_job *job = weir_job_new("pipeline");
        weir_datagen_opts o{};
        o.records = records;
        o.keys = 1000000;
        o.record_size = 64;
        weir_stream *s = weir_source_datagen(job, "datagen", &o);
        s = weir_filter(weir_map(s, "map", scale), "filter", keep15of16);
        weir_sink_blackhole(weir_key_by(s, key_of), "blackhole");
        weir_run_opts ro{};
        ro.parallelism = p;
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
        workers = st.workers;
        state.SetIterationTime(st.elapsed_s);
        weir_job_free(job);
    }
    weir_config_free(cfg);
    if (wall > 0) {
        state.counters["records_per_s"] = total / wall;
        state.counters["records_per_core_s"] = total / wall / workers;
        state.counters["records_per_cpu_s"] = total / cpu;
        state.counters["workers"] = workers;
    }
}

} // namespace

// Parallelism 1..16 (records scale with it); on a 2-core machine run
// --benchmark_filter='BM_Pipeline/[12]/'.
BENCHMARK(BM_Pipeline)
    ->Args({1, 20000000})
    ->Args({2, 40000000})
    ->Args({4, 80000000})
    ->Args({8, 160000000})
    ->Args({16, 320000000})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);

BENCHMARK_MAIN();
