// Checkpoint storage: the io_uring snapshot writer against plain blocking write()+fsync of
// the same bytes, and the cost of the atomic _metadata commit.
//
// Each iteration is one checkpoint of one 256 MiB state file, handed over in 1 MiB chunks
// (weir_ckpt_file_write), submitted and committed; its time runs from weir_ckpt_begin to
// the done() callback (file written, fsynced, _metadata durable). Retention of the previous
// checkpoint happens after done() and outside the timed region.
//
//   BM_Snapshot/<direct>/<pool MiB>  io_uring writer, O_DIRECT on (1) or off (0), with a
//                                    buffer pool of 512 MiB (the whole snapshot fits: the
//                                    worker never waits) or 64 MiB (the default: the worker
//                                    waits for buffers once the pool is full)
//   BM_BlockingWrite                 open, write() 256 x 1 MiB, fsync, close
//   BM_MetadataCommit                weir_ckpt_commit to done(): _metadata.tmp written,
//                                    fsynced, renamed, directory and parent fsynced, through
//                                    the io thread; the checkpoint's one small file is
//                                    durable before the clock starts
//   BM_MetadataCommitSync            the same four steps as plain system calls
//
// Counters (medians over --benchmark_repetitions):
//   bytes_per_second     256 MiB / time of the iteration
//   worker_us_per_MiB    time the producing thread spends per MiB handed over: the copy
//                        (and any wait for a pool buffer) for io_uring; write() and the
//                        final fsync for the blocking writer, which stalls the producer
//   commit_ms            BM_MetadataCommit*: time per commit
//
// Files go to $WEIR_BENCH_DIR (default ./bench-storage-tmp), which should be on the disk
// checkpoints would use.
//
//   build/bench/bench_storage --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

extern "C" {
#include <weir/storage.h>
}

namespace
{

constexpr size_t kChunk = 1 << 20;
constexpr size_t kTotal = 256u << 20;

using clk = std::chrono::steady_clock;

double secs(clk::time_point a, clk::time_point b)
{
    return std::chrono::duration<double>(b - a).count();
}

std::string bench_dir()
{
    const char *d = std::getenv("WEIR_BENCH_DIR");
    std::string dir = d && *d ? d : "bench-storage-tmp";
    mkdir(dir.c_str(), 0755);
    return dir;
}

void rm_rf(const std::string &path)
{
    std::string cmd = "rm -rf '" + path + "'";
    if (std::system(cmd.c_str()) != 0)
        std::fprintf(stderr, "could not remove %s\n", path.c_str());
}

const std::vector<unsigned char> &chunk()
{
    static std::vector<unsigned char> c = [] {
        std::vector<unsigned char> v(kChunk);
        uint64_t x = 0x9e3779b97f4a7c15ull;
        for (auto &b : v) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b = (unsigned char)x;
        }
        return v;
    }();
    return c;
}

// done() arrives on the io thread; the benchmark thread waits for it.
struct Done {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    int status = 0;
    clk::time_point at;

    static void cb(void *arg, weir_ckpt *, int status)
    {
        auto *d = static_cast<Done *>(arg);
        auto now = clk::now();
        std::lock_guard<std::mutex> g(d->mu);
        d->done = true;
        d->status = status;
        d->at = now;
        d->cv.notify_all();
    }
    clk::time_point wait()
    {
        std::unique_lock<std::mutex> g(mu);
        cv.wait(g, [this] { return done; });
        return at;
    }
};

weir_storage *open_storage(const std::string &dir, bool direct, size_t pool_bytes,
                           benchmark::State &state)
{
    weir_storage_opts o{};
    o.dir = dir.c_str();
    o.job = "bench";
    o.num_retained = 1;
    o.pool_bytes = pool_bytes;
    o.no_direct = !direct;
    weir_storage *s = nullptr;
    char err[512];
    if (weir_storage_open(&o, &s, err, sizeof err) < 0) {
        state.SkipWithError(err);
        return nullptr;
    }
    return s;
}

void BM_Snapshot(benchmark::State &state)
{
    const bool direct = state.range(0) != 0;
    const size_t pool = (size_t)state.range(1) << 20;
    std::string dir = bench_dir() + "/snapshot";
    weir_storage *s = open_storage(dir, direct, pool, state);
    if (!s)
        return;
    const auto &data = chunk();
    uint64_t id = weir_storage_next_id(s);
    double worker_total = 0;
    for (auto _ : state) {
        Done d;
        weir_ckpt_callbacks cb{nullptr, Done::cb, &d};
        weir_ckpt *ck;
        weir_ckpt_file *f;
        auto t0 = clk::now();
        if (weir_ckpt_begin(s, id++, &cb, &ck) < 0 || weir_ckpt_file_open(ck, "state-0", &f) < 0) {
            state.SkipWithError("begin/open failed");
            break;
        }
        // The worker's side: hand over 256 MiB, then submit.
        int rc = 0;
        for (size_t off = 0; off < kTotal && rc == 0; off += kChunk)
            rc = weir_ckpt_file_write(f, data.data(), kChunk);
        if (rc == 0)
            rc = weir_ckpt_file_submit(f);
        else
            weir_ckpt_file_abort(f, rc);
        auto t1 = clk::now();
        weir_ckpt_entry e{};
        e.operator_uid = "op";
        e.parallelism = 1;
        e.file = "state-0";
        weir_ckpt_meta m{};
        m.entry_count = 1;
        m.entries = &e;
        if (rc == 0)
            rc = weir_ckpt_commit(ck, &m);
        auto t2 = d.wait();
        state.SetIterationTime(secs(t0, t2));
        worker_total += secs(t0, t1);
        if (rc < 0 || d.status < 0) {
            state.SkipWithError(weir_ckpt_error(ck));
            weir_ckpt_release(ck);
            break;
        }
        weir_ckpt_wait(ck, -1); // retention of the previous one: not timed
        weir_ckpt_release(ck);
    }
    weir_storage_stats st;
    weir_storage_stats_get(s, &st);
    state.SetBytesProcessed((int64_t)(state.iterations() * kTotal));
    state.counters["worker_us_per_MiB"] =
        worker_total * 1e6 / (double)(state.iterations() * (kTotal >> 20));
    state.counters["direct_io"] = st.direct_io;
    weir_storage_close(s);
    rm_rf(dir);
}
BENCHMARK(BM_Snapshot)
    ->ArgNames({"direct", "pool_MiB"})
    ->Args({1, 512})
    ->Args({0, 512})
    ->Args({1, 64})
    ->Args({0, 64})
    ->Iterations(3)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

void BM_BlockingWrite(benchmark::State &state)
{
    std::string dir = bench_dir() + "/blocking";
    mkdir(dir.c_str(), 0755);
    std::string path = dir + "/state-0";
    const auto &data = chunk();
    double worker_total = 0;
    for (auto _ : state) {
        auto t0 = clk::now();
        int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        bool ok = fd >= 0;
        for (size_t off = 0; ok && off < kTotal; off += kChunk)
            ok = write(fd, data.data(), kChunk) == (ssize_t)kChunk;
        ok = ok && fsync(fd) == 0;
        if (fd >= 0)
            close(fd);
        auto t1 = clk::now();
        state.SetIterationTime(secs(t0, t1));
        worker_total += secs(t0, t1);
        if (!ok) {
            state.SkipWithError(std::strerror(errno));
            break;
        }
        unlink(path.c_str()); // not timed
    }
    state.SetBytesProcessed((int64_t)(state.iterations() * kTotal));
    state.counters["worker_us_per_MiB"] =
        worker_total * 1e6 / (double)(state.iterations() * (kTotal >> 20));
    rm_rf(dir);
}
BENCHMARK(BM_BlockingWrite)->Iterations(3)->UseManualTime()->Unit(benchmark::kMillisecond);

void BM_MetadataCommit(benchmark::State &state)
{
    std::string dir = bench_dir() + "/commit";
    weir_storage *s = open_storage(dir, true, 8u << 20, state);
    if (!s)
        return;
    uint64_t id = weir_storage_next_id(s);
    double total = 0;
    for (auto _ : state) {
        Done d;
        weir_ckpt_callbacks cb{nullptr, Done::cb, &d};
        weir_ckpt *ck;
        weir_ckpt_file *f;
        if (weir_ckpt_begin(s, id++, &cb, &ck) < 0 || weir_ckpt_file_open(ck, "state-0", &f) < 0 ||
            weir_ckpt_file_write(f, "state", 5) < 0 || weir_ckpt_file_submit(f) < 0) {
            state.SkipWithError("begin/write failed");
            break;
        }
        weir_ckpt_progress p{};
        do {
            weir_ckpt_progress_get(ck, &p);
        } while (p.files_durable < 1 && p.status == 0);
        // 16 entries with an 8-byte source position each: a small job's _metadata.
        weir_ckpt_entry e[16]{};
        uint64_t pos = 123456789;
        for (int i = 0; i < 16; i++) {
            e[i].operator_uid = i ? "window" : "source";
            e[i].subtask = (uint32_t)i;
            e[i].parallelism = 16;
            e[i].file = i == 1 ? "state-0" : nullptr;
            e[i].blob = &pos;
            e[i].blob_len = sizeof pos;
        }
        weir_ckpt_meta m{};
        m.entry_count = 16;
        m.entries = e;
        auto t0 = clk::now();
        int rc = weir_ckpt_commit(ck, &m);
        auto t1 = rc == 0 ? d.wait() : clk::now();
        state.SetIterationTime(secs(t0, t1));
        total += secs(t0, t1);
        if (rc < 0 || d.status < 0) {
            state.SkipWithError(weir_ckpt_error(ck));
            weir_ckpt_release(ck);
            break;
        }
        weir_ckpt_wait(ck, -1);
        weir_ckpt_release(ck);
    }
    state.counters["commit_ms"] = total * 1e3 / (double)state.iterations();
    weir_storage_close(s);
    rm_rf(dir);
}
BENCHMARK(BM_MetadataCommit)->Iterations(200)->UseManualTime()->Unit(benchmark::kMicrosecond);

void BM_MetadataCommitSync(benchmark::State &state)
{
    std::string dir = bench_dir() + "/commit-sync";
    mkdir(dir.c_str(), 0755);
    int parent = open(bench_dir().c_str(), O_RDONLY | O_DIRECTORY);
    int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    std::vector<unsigned char> meta(1024, 7);
    double total = 0;
    for (auto _ : state) {
        auto t0 = clk::now();
        int fd = openat(dfd, "_metadata.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        bool ok = fd >= 0 && write(fd, meta.data(), meta.size()) == (ssize_t)meta.size() &&
                  fsync(fd) == 0;
        if (fd >= 0)
            close(fd);
        ok = ok && renameat(dfd, "_metadata.tmp", dfd, "_metadata") == 0 && fsync(dfd) == 0 &&
             fsync(parent) == 0;
        auto t1 = clk::now();
        state.SetIterationTime(secs(t0, t1));
        total += secs(t0, t1);
        if (!ok) {
            state.SkipWithError(std::strerror(errno));
            break;
        }
        unlinkat(dfd, "_metadata", 0);
    }
    state.counters["commit_ms"] = total * 1e3 / (double)state.iterations();
    close(dfd);
    close(parent);
    rm_rf(dir);
}
BENCHMARK(BM_MetadataCommitSync)->Iterations(200)->UseManualTime()->Unit(benchmark::kMicrosecond);

} // namespace

BENCHMARK_MAIN();
