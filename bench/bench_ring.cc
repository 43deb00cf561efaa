// Ring exchange: records of 8, 64 and 256 bytes moved from a producer thread to a consumer
// thread on another core, through
//
//   weir_ring     weir's SPSC ring of buffers: the producer writes records back to back in
//                 place into a 32 KiB (by default) buffer and commits it; the consumer reads
//                 them in place and releases the buffer.
//   ck_ring       Concurrency Kit's SPSC ring carrying each record by value (one record per
//                 enqueue/dequeue; ck has no burst call).
//   dpdk_ring     DPDK rte_ring in SP/SC mode, _elem API with esize = record size, burst
//                 enqueue/dequeue through an on-stack batch (the API copies in and out).
//   dpdk_ring_zc  the same ring through DPDK's zero-copy burst API (write and read in place),
//                 the like-for-like peer of weir's reserve/commit.
//   memcpy        one thread copying 64 MiB to another 64 MiB: the machine's reference.
//
// Every variant does the same work per record: the producer writes every 8-byte word of it
// (word k of record s is s + k) and the consumer reads every word, checks the sequence
// number and sums; the sum is checked at the end of each iteration, so a variant that drops,
// repeats or tears a record is reported as an error, not as a fast result.
//
// Time is wall time from the moment both threads are ready until the consumer has read the
// last record (manual time), per iteration of kBytesPerIter bytes of records. The producer
// runs on the first allowed CPU and the consumer on the second (cpus 0 and 1 here); with
// fewer than two CPUs nothing is pinned and the numbers mean little.
//
//   bench_ring --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// See bench/RESULTS.md for the figures and the exact command.
#include <benchmark/benchmark.h>

#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "weir/ring.h"

#ifdef WEIR_HAVE_CK
// ck_ring.h is C only: one of its inline functions returns `false` from a function returning
// void *, which C++ rejects. Its standard headers are included first (so they see no macro),
// then `false` is spelled 0 for the span of ck's header alone.
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#define false 0
#include <ck_ring.h>
#undef false
#endif

#ifdef WEIR_HAVE_DPDK
// DPDK's headers trip -Wshadow in C++ (rte_mp_reply is both a struct and a function).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#include <rte_ring.h>
#include <rte_ring_elem.h>
#pragma GCC diagnostic pop
#endif

namespace {

constexpr size_t kBytesPerIter = size_t{64} << 20;

template <size_t N> struct Rec {
    static_assert(N % 8 == 0, "records are whole 8-byte words");
    uint64_t w[N / 8];
};

template <size_t N> inline void make_rec(Rec<N> *r, uint64_t seq)
{
    for (size_t k = 0; k < N / 8; k++)
        r->w[k] = seq + k;
}

// Reads every word; flags a record whose sequence number is not the expected one.
template <size_t N> inline uint64_t read_rec(const Rec<N> *r, uint64_t expect, uint64_t *bad)
{
    uint64_t s = 0;
    for (size_t k = 0; k < N / 8; k++)
        s += r->w[k];
    *bad |= r->w[0] ^ expect;
    return s;
}

// The sum read_rec yields over records 0 .. n-1 (mod 2^64).
template <size_t N> uint64_t expected_sum(uint64_t n)
{
    const uint64_t words = N / 8;
    // sum_s sum_k (s + k) = words * n(n-1)/2 + n * words(words-1)/2
    uint64_t a = n % 2 == 0 ? (n / 2) * (n - 1) : n * ((n - 1) / 2);
    return words * a + n * (words * (words - 1) / 2);
}

inline void cpu_relax()
{
    __builtin_ia32_pause();
}

// Spin on the fast path; yield now and then so that two unpinned threads on one CPU still
// make progress. The same for every variant.
struct Backoff {
    unsigned spins = 0;
    void wait()
    {
        if (++spins % 1024 == 0)
            sched_yield();
        else
            cpu_relax();
    }
};

double now_s()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// The first two CPUs this process may run on, or -1 where there are fewer than two.
struct Cpus {
    int producer = -1, consumer = -1;
    Cpus()
    {
        cpu_set_t set;
        if (sched_getaffinity(0, sizeof(set), &set) != 0)
            return;
        for (int c = 0; c < CPU_SETSIZE; c++) {
            if (!CPU_ISSET(c, &set))
                continue;
            if (producer < 0)
                producer = c;
            else if (consumer < 0)
                consumer = c;
        }
        if (consumer < 0)
            producer = -1;
    }
};

const Cpus &cpus()
{
    static const Cpus c;
    return c;
}

void pin_self(int cpu)
{
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

// Pins the calling (producer) thread for the life of one benchmark run, then restores it.
class PinScope
{
  public:
    PinScope()
    {
        pthread_getaffinity_np(pthread_self(), sizeof(saved_), &saved_);
        pin_self(cpus().producer);
    }
    ~PinScope()
    {
        pthread_setaffinity_np(pthread_self(), sizeof(saved_), &saved_);
    }
    PinScope(const PinScope &) = delete;
    PinScope &operator=(const PinScope &) = delete;

  private:
    cpu_set_t saved_;
};

// Memory for the rings: 2 MiB aligned, transparent hugepages asked for (the runtime puts
// rings in hugepages), touched so that no page fault lands in the timed region.
void *alloc_shared(size_t bytes)
{
    const size_t huge = size_t{2} << 20;
    bytes = (bytes + huge - 1) / huge * huge;
    void *p = aligned_alloc(huge, bytes);
    if (p == nullptr) {
        perror("aligned_alloc");
        abort();
    }
    madvise(p, bytes, MADV_HUGEPAGE);
    memset(p, 0, bytes);
    return p;
}

// One exchange of n records: the consumer runs on its own pinned thread, the producer on the
// calling one. Returns the seconds from "both ready" to "consumer done".
template <class Produce, class Consume> double run_pair(Produce produce, Consume consume)
{
    std::atomic<int> ready{0};
    std::atomic<int> go{0};
    double done_at = 0;
    std::thread consumer([&] {
        pin_self(cpus().consumer);
        ready.store(1, std::memory_order_release);
        while (go.load(std::memory_order_acquire) == 0)
            cpu_relax();
        consume();
        done_at = now_s();
    });
    while (ready.load(std::memory_order_acquire) == 0)
        cpu_relax();
    double start = now_s();
    go.store(1, std::memory_order_release);
    produce();
    consumer.join();
    return done_at - start;
}

template <size_t N>
void finish(benchmark::State &state, uint64_t n, bool ok, const std::string &label)
{
    if (!ok) {
        state.SkipWithError("records lost, repeated or corrupted");
        return;
    }
    state.SetBytesProcessed((int64_t)(state.iterations() * n * N));
    state.SetItemsProcessed((int64_t)(state.iterations() * n));
    state.SetLabel(label);
}

// ---- weir_ring ----------------------------------------------------------------------------

template <size_t N> void weir_ring(benchmark::State &state)
{
    const uint32_t buf_size = (uint32_t)state.range(0);
    const uint32_t nbufs = (uint32_t)state.range(1);
    const uint64_t n = kBytesPerIter / N;
    const uint32_t per_buf = buf_size / N;

    size_t bytes = weir_ring_memsize(nbufs, buf_size);
    auto *r = static_cast<struct weir_ring *>(alloc_shared(bytes));
    if (weir_ring_init(r, nbufs, buf_size) != 0) {
        state.SkipWithError("weir_ring_init");
        return;
    }
    PinScope pin;
    bool ok = true;
    for (auto _ : state) {
        uint64_t sum = 0, bad = 0;
        double secs = run_pair(
            [&] {
                Backoff b;
                for (uint64_t seq = 0; seq < n;) {
                    Rec<N> *buf;
                    while ((buf = static_cast<Rec<N> *>(weir_ring_sp_reserve(r))) == nullptr)
                        b.wait();
                    uint32_t k = (uint32_t)std::min<uint64_t>(per_buf, n - seq);
                    for (uint32_t i = 0; i < k; i++)
                        make_rec<N>(&buf[i], seq + i);
                    seq += k;
                    weir_ring_sp_commit(r, k * (uint32_t)N);
                }
            },
            [&] {
                Backoff b;
                uint64_t s = 0, e = 0;
                for (uint64_t seq = 0; seq < n;) {
                    const Rec<N> *buf;
                    uint32_t used;
                    while ((buf = static_cast<const Rec<N> *>(weir_ring_sc_peek(r, &used))) ==
                           nullptr)
                        b.wait();
                    uint32_t k = used / (uint32_t)N;
                    for (uint32_t i = 0; i < k; i++)
                        s += read_rec<N>(&buf[i], seq + i, &e);
                    seq += k;
                    weir_ring_sc_release(r);
                }
                sum = s;
                bad = e;
            });
        state.SetIterationTime(secs);
        ok = ok && bad == 0 && sum == expected_sum<N>(n);
    }
    finish<N>(state, n, ok,
              "weir " + std::to_string(nbufs) + " x " + std::to_string(buf_size / 1024) +
                  " KiB bufs, in place");
    free(r);
}

// ---- ck_ring ------------------------------------------------------------------------------

#ifdef WEIR_HAVE_CK
// The bodies of CK_RING_PROTOTYPE(name, type)'s ck_ring_enqueue_spsc_##name and
// ck_ring_dequeue_spsc_##name: by-value SPSC enqueue/dequeue of a whole record. The macro
// itself cannot be expanded in C++ (its _reserve_ functions convert void * implicitly).
template <class T> inline bool ck_enqueue_spsc_value(ck_ring_t *ring, T *slots, const T *rec)
{
    return _ck_ring_enqueue_sp(ring, slots, rec, sizeof(T), NULL);
}

template <class T> inline bool ck_dequeue_spsc_value(ck_ring_t *ring, const T *slots, T *rec)
{
    return _ck_ring_dequeue_sc(ring, slots, rec, sizeof(T));
}

template <size_t N> void ck_ring(benchmark::State &state)
{
    const uint32_t slots_n = (uint32_t)state.range(0);
    const uint64_t n = kBytesPerIter / N;

    auto *ring = static_cast<ck_ring_t *>(alloc_shared(sizeof(ck_ring_t)));
    auto *slots = static_cast<Rec<N> *>(alloc_shared(sizeof(Rec<N>) * slots_n));
    ck_ring_init(ring, slots_n);
    PinScope pin;
    bool ok = true;
    for (auto _ : state) {
        uint64_t sum = 0, bad = 0;
        double secs = run_pair(
            [&] {
                Backoff b;
                Rec<N> rec;
                for (uint64_t seq = 0; seq < n; seq++) {
                    make_rec<N>(&rec, seq);
                    while (!ck_enqueue_spsc_value(ring, slots, &rec))
                        b.wait();
                }
            },
            [&] {
                Backoff b;
                Rec<N> rec;
                uint64_t s = 0, e = 0;
                for (uint64_t seq = 0; seq < n; seq++) {
                    while (!ck_dequeue_spsc_value(ring, slots, &rec))
                        b.wait();
                    s += read_rec<N>(&rec, seq, &e);
                }
                sum = s;
                bad = e;
            });
        state.SetIterationTime(secs);
        ok = ok && bad == 0 && sum == expected_sum<N>(n);
    }
    finish<N>(state, n, ok,
              "ck spsc by value, " + std::to_string(slots_n) + " slots, 1 rec per call");
    free(slots);
    free(ring);
}
#endif

// ---- DPDK rte_ring ------------------------------------------------------------------------

#ifdef WEIR_HAVE_DPDK
// rte_ring_init needs no EAL: it only fills in the header of caller-provided memory.
struct rte_ring *dpdk_ring_new(uint32_t esize, uint32_t count)
{
    ssize_t bytes = rte_ring_get_memsize_elem(esize, count);
    if (bytes < 0)
        return nullptr;
    auto *r = static_cast<struct rte_ring *>(alloc_shared((size_t)bytes));
    if (rte_ring_init(r, "bench", count, RING_F_SP_ENQ | RING_F_SC_DEQ) != 0) {
        free(r);
        return nullptr;
    }
    return r;
}

template <size_t N> void dpdk_ring(benchmark::State &state)
{
    const uint32_t count = (uint32_t)state.range(0);
    const uint32_t burst = (uint32_t)state.range(1);
    const uint64_t n = kBytesPerIter / N;

    struct rte_ring *r = dpdk_ring_new(N, count);
    if (r == nullptr) {
        state.SkipWithError("rte_ring_init");
        return;
    }
    PinScope pin;
    bool ok = true;
    for (auto _ : state) {
        uint64_t sum = 0, bad = 0;
        double secs = run_pair(
            [&] {
                Backoff b;
                Rec<N> batch[512];
                for (uint64_t seq = 0; seq < n;) {
                    uint32_t k = (uint32_t)std::min<uint64_t>(burst, n - seq);
                    for (uint32_t i = 0; i < k; i++)
                        make_rec<N>(&batch[i], seq + i);
                    for (uint32_t done = 0; done < k;) {
                        uint32_t m =
                            rte_ring_sp_enqueue_burst_elem(r, &batch[done], N, k - done, NULL);
                        if (m == 0)
                            b.wait();
                        done += m;
                    }
                    seq += k;
                }
            },
            [&] {
                Backoff b;
                Rec<N> batch[512];
                uint64_t s = 0, e = 0;
                for (uint64_t seq = 0; seq < n;) {
                    uint32_t m = rte_ring_sc_dequeue_burst_elem(r, batch, N, burst, NULL);
                    if (m == 0) {
                        b.wait();
                        continue;
                    }
                    for (uint32_t i = 0; i < m; i++)
                        s += read_rec<N>(&batch[i], seq + i, &e);
                    seq += m;
                }
                sum = s;
                bad = e;
            });
        state.SetIterationTime(secs);
        ok = ok && bad == 0 && sum == expected_sum<N>(n);
    }
    finish<N>(state, n, ok,
              "dpdk sp/sc elem, " + std::to_string(count) + " slots, burst " +
                  std::to_string(burst) + ", copies via batch");
    free(r);
}

// Zero-copy: write records straight into the ring's slots, read them there.
template <size_t N> void dpdk_ring_zc(benchmark::State &state)
{
    const uint32_t count = (uint32_t)state.range(0);
    const uint32_t burst = (uint32_t)state.range(1);
    const uint64_t n = kBytesPerIter / N;

    struct rte_ring *r = dpdk_ring_new(N, count);
    if (r == nullptr) {
        state.SkipWithError("rte_ring_init");
        return;
    }
    PinScope pin;
    bool ok = true;
    for (auto _ : state) {
        uint64_t sum = 0, bad = 0;
        double secs = run_pair(
            [&] {
                Backoff b;
                struct rte_ring_zc_data zcd;
                for (uint64_t seq = 0; seq < n;) {
                    uint32_t want = (uint32_t)std::min<uint64_t>(burst, n - seq);
                    uint32_t k = rte_ring_enqueue_zc_burst_elem_start(r, N, want, &zcd, NULL);
                    if (k == 0) {
                        b.wait();
                        continue;
                    }
                    uint32_t n1 = std::min(k, zcd.n1);
                    auto *p1 = static_cast<Rec<N> *>(zcd.ptr1);
                    for (uint32_t i = 0; i < n1; i++)
                        make_rec<N>(&p1[i], seq + i);
                    auto *p2 = static_cast<Rec<N> *>(zcd.ptr2);
                    for (uint32_t i = n1; i < k; i++)
                        make_rec<N>(&p2[i - n1], seq + i);
                    rte_ring_enqueue_zc_elem_finish(r, k);
                    seq += k;
                }
            },
            [&] {
                Backoff b;
                struct rte_ring_zc_data zcd;
                uint64_t s = 0, e = 0;
                for (uint64_t seq = 0; seq < n;) {
                    uint32_t k = rte_ring_dequeue_zc_burst_elem_start(r, N, burst, &zcd, NULL);
                    if (k == 0) {
                        b.wait();
                        continue;
                    }
                    uint32_t n1 = std::min(k, zcd.n1);
                    auto *p1 = static_cast<const Rec<N> *>(zcd.ptr1);
                    for (uint32_t i = 0; i < n1; i++)
                        s += read_rec<N>(&p1[i], seq + i, &e);
                    auto *p2 = static_cast<const Rec<N> *>(zcd.ptr2);
                    for (uint32_t i = n1; i < k; i++)
                        s += read_rec<N>(&p2[i - n1], seq + i, &e);
                    rte_ring_dequeue_zc_elem_finish(r, k);
                    seq += k;
                }
                sum = s;
                bad = e;
            });
        state.SetIterationTime(secs);
        ok = ok && bad == 0 && sum == expected_sum<N>(n);
    }
    finish<N>(state, n, ok,
              "dpdk sp/sc zero-copy, " + std::to_string(count) + " slots, burst " +
                  std::to_string(burst));
    free(r);
}
#endif

// ---- memcpy -------------------------------------------------------------------------------

void memcpy_64MiB(benchmark::State &state)
{
    const size_t bytes = size_t{64} << 20;
    auto *src = static_cast<char *>(alloc_shared(bytes));
    auto *dst = static_cast<char *>(alloc_shared(bytes));
    memset(src, 0x5a, bytes);
    PinScope pin;
    for (auto _ : state) {
        memcpy(dst, src, bytes);
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed((int64_t)(state.iterations() * bytes));
    state.SetLabel("1 thread, 64 MiB -> 64 MiB");
    free(dst);
    free(src);
}

// ---- registration -------------------------------------------------------------------------

// Ring memory is kept near 256 KiB (8 x 32 KiB) or 512 KiB (16 x 32 KiB) for every variant
// by default; the tune_ args sweep around that.
template <size_t N> void register_size()
{
    const std::string sz = std::to_string(N) + "B";
    const int64_t slots256k = (256 << 10) / (int64_t)N, slots512k = (512 << 10) / (int64_t)N;

    benchmark::RegisterBenchmark(("weir_ring/" + sz).c_str(), weir_ring<N>)
        ->ArgNames({"buf", "nbufs"})
        ->Args({32768, 8})
        ->Args({32768, 16})
        ->UseManualTime();
#ifdef WEIR_HAVE_CK
    benchmark::RegisterBenchmark(("ck_ring/" + sz).c_str(), ck_ring<N>)
        ->ArgNames({"slots"})
        ->Args({slots256k})
        ->Args({slots512k})
        ->UseManualTime();
#endif
#ifdef WEIR_HAVE_DPDK
    benchmark::RegisterBenchmark(("dpdk_ring/" + sz).c_str(), dpdk_ring<N>)
        ->ArgNames({"slots", "burst"})
        ->Args({slots256k, 32})
        ->Args({slots256k, 64})
        ->Args({slots512k, 32})
        ->Args({slots512k, 64})
        ->UseManualTime();
    benchmark::RegisterBenchmark(("dpdk_ring_zc/" + sz).c_str(), dpdk_ring_zc<N>)
        ->ArgNames({"slots", "burst"})
        ->Args({slots256k, 64})
        ->Args({slots256k, std::min<int64_t>(32768 / N, slots256k / 2)})
        ->UseManualTime();
#endif
    // Tuning sweep of weir's buffer size and count, run by filter (see RESULTS.md).
    benchmark::RegisterBenchmark(("tune_weir_ring/" + sz).c_str(), weir_ring<N>)
        ->ArgNames({"buf", "nbufs"})
        ->Args({4096, 64})
        ->Args({8192, 32})
        ->Args({16384, 16})
        ->Args({65536, 4})
        ->Args({65536, 8})
        ->Args({32768, 4})
        ->Args({32768, 32})
        ->UseManualTime();
}

} // namespace

int main(int argc, char **argv)
{
    register_size<8>();
    register_size<64>();
    register_size<256>();
    benchmark::RegisterBenchmark("memcpy", memcpy_64MiB)->UseRealTime();

    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    if (cpus().producer < 0)
        fprintf(stderr, "bench_ring: fewer than 2 CPUs allowed, threads are not pinned\n");
    else
        benchmark::AddCustomContext("pinned", "producer cpu " + std::to_string(cpus().producer) +
                                                  ", consumer cpu " +
                                                  std::to_string(cpus().consumer));
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
