// The Kafka source against a bare librdkafka consumer and Flink's KafkaSource (issue 11):
// Kafka -> q0-like pass-through -> blackhole, one topic, every side in the same run.
//
//   bench_kafka_source [BOOTSTRAP|-] [RECORDS] [ROUNDS]
//
// BOOTSTRAP: a running broker; "-" or none: $WEIR_KAFKA_BOOTSTRAP, else the harness starts one
// with tools/kafka.sh start (and stops it at the end), pinned to the cores other than
// WEIR_BENCH_CPU (pin a broker of your own the same way, e.g. taskset -a -p -c 0 $(cat
// DIR/pid) for tools/kafka.sh start DIR). It produces RECORDS (5 000 000) records
// of WEIR_BENCH_VALUE_BYTES (100) bytes, null keys, round-robin into a new 4-partition topic,
// once; then ROUNDS (3) rounds, each running every side once, the order rotated each round.
// Each side is a child process of its own (this binary again, or the JVM), pinned to core
// WEIR_BENCH_CPU (1; "none": not pinned) with taskset, reading the whole topic from the
// earliest offset to the end offsets it had at start:
//
//   bare        librdkafka, rd_kafka_consumer_poll per record (the call weir's source makes),
//               sums the value's bytes, nothing else
//   bare-batch  the same through rd_kafka_consume_batch_queue, 1024 records a call
//   weir        weir_source_kafka (bounded, raw values) -> map (forwards the record) ->
//               weir_sink_blackhole, -p 1; weir-p2: the same at -p 2 (numa.cpus is set to
//               the pinned core: weir binds its workers to cores of its own choosing, which
//               taskset's mask does not limit)
//   flink       bench/peers/flink (weir.kafka.KafkaSourceBench): KafkaSource -> map ->
//               DiscardingSink, -p 1, object reuse on; needs `mvn -q package -DskipTests`
//               there first (else it is left out, saying so)
//
// WEIR_BENCH_SIDES picks the sides ("bare bare-batch weir flink" by default; add weir-p2).
// WEIR_BENCH_BASELINE=PATH adds the side weir-base: the weir side of another build of this
// harness (e.g. one built before a change to the source), alternated with the others.
// Every side measures the same window: from the first record its pass-through sees to the
// last (the RECORDS-th): wall time, and the process's CPU time over it (getrusage for the C
// sides, all threads, librdkafka's included; the JVM's process CPU time for Flink, JIT and GC
// included). Printed per run and as medians: records/s on the one core, records per
// CPU-second, and weir's ratios to the fastest bare loop and to Flink.
// Not a test: it prints numbers (bench/RESULTS.md quotes them with the command).
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <librdkafka/rdkafka.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <weir/config.h>
#include <weir/kafka.h>
#include <weir/weir.h>

extern char **environ;

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_kafka_source: %s: %s\n", what, why);
    exit(1);
}

static double mono_s()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_s()
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

static void set(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char err[512];
    if (rd_kafka_conf_set(c, k, v, err, sizeof err) != RD_KAFKA_CONF_OK)
        die(k, err);
}

/* --- the topic -------------------------------------------------------------------------------- */

static std::atomic<uint64_t> delivery_errors;

static void on_delivery(rd_kafka_t *, const rd_kafka_message_t *m, void *)
{
    if (m->err)
        delivery_errors++;
}

static std::string produce_topic(const char *bootstrap, uint64_t records, size_t value_bytes)
{
    char name[128], err[512];
    snprintf(name, sizeof name, "bench-source-%d", (int)getpid());
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", bootstrap);
    set(conf, "linger.ms", "20");
    set(conf, "batch.size", "1000000");
    set(conf, "queue.buffering.max.messages", "1000000");
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk)
        die("producer", err);
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(name, 4, 1, err, sizeof err);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    const rd_kafka_CreateTopics_result_t *res = ev ? rd_kafka_event_CreateTopics_result(ev) : NULL;
    size_t cnt = 0;
    const rd_kafka_topic_result_t **tr =
        res ? rd_kafka_CreateTopics_result_topics(res, &cnt) : NULL;
    if (!res || cnt != 1 || rd_kafka_topic_result_error(tr[0]))
        die(name, cnt ? rd_kafka_topic_result_error_string(tr[0]) : "CreateTopics failed");
    rd_kafka_event_destroy(ev);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    sleep(1); /* metadata reaches the broker's cache */
    std::vector<char> v(value_bytes);
    double t0 = mono_s();
    for (uint64_t i = 0; i < records; i++) {
        /* a bid-like CSV line, padded to value_bytes */
        int n = snprintf(v.data(), v.size(), "%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",", i % 10007,
                         i % 1009, i * 7 % 100000);
        for (size_t j = n > 0 ? (size_t)n : 0; j < v.size(); j++)
            v[j] = (char)('a' + (i + j) % 26);
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(name), RD_KAFKA_V_PARTITION((int32_t)(i % 4)),
                RD_KAFKA_V_VALUE(v.data(), v.size()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 10);
                continue;
            }
            if (e)
                die("produce", rd_kafka_err2str(e));
            break;
        }
        if (i % 10000 == 0)
            rd_kafka_poll(rk, 0);
    }
    if (rd_kafka_flush(rk, 120000))
        die("produce", "flush did not finish in 120 s");
    if (delivery_errors)
        die("produce", "some records were not delivered");
    fprintf(stderr,
            "bench_kafka_source: produced %" PRIu64 " records of %zu bytes into %s in %.1f s\n",
            records, value_bytes, name, mono_s() - t0);
    rd_kafka_destroy(rk);
    return name;
}

/* --- the window every side measures: first record to the last -------------------------------- */

struct window {
    std::atomic<uint64_t> n{0};
    uint64_t want = 0;
    double t0 = 0, c0 = 0, t1 = 0, c1 = 0;
    void tick()
    {
        uint64_t c = n.fetch_add(1, std::memory_order_relaxed) + 1;
        if (c == 1) {
            t0 = mono_s();
            c0 = cpu_s();
        }
        if (c == want) {
            t1 = mono_s();
            c1 = cpu_s();
        }
    }
    void print(const char *side)
    {
        printf("%s records=%" PRIu64 " wall_s=%.6f cpu_s=%.6f\n", side, n.load(), t1 - t0, c1 - c0);
        fflush(stdout);
    }
};

static window win;

/* --- bare librdkafka -------------------------------------------------------------------------- */

static uint64_t touch(const void *p, size_t len)
{
    const unsigned char *b = (const unsigned char *)p;
    uint64_t s = 0;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        s += w;
    }
    for (; i < len; i++)
        s += b[i];
    return s;
}

static int side_bare(const char *bootstrap, const char *topic, bool batch)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", bootstrap);
    set(conf, "group.id", "bench-bare");
    set(conf, "enable.auto.commit", "false");
    set(conf, "enable.auto.offset.store", "false");
    set(conf, "enable.partition.eof", "false");
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk)
        die("consumer", err);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
    uint64_t want = 0;
    for (int p = 0; p < 4; p++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);
        if (e)
            die("watermarks", rd_kafka_err2str(e));
        want += (uint64_t)(hi - lo);
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = lo;
    }
    if (win.want != want)
        die("topic", "its offsets do not hold RECORDS records");
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
    uint64_t sum = 0;
    std::vector<rd_kafka_message_t *> ms(1024);
    while (win.n.load(std::memory_order_relaxed) < want) {
        if (batch) {
            ssize_t k = rd_kafka_consume_batch_queue(q, 100, ms.data(), ms.size());
            for (ssize_t i = 0; i < k; i++) {
                if (!ms[i]->err) {
                    sum += touch(ms[i]->payload, ms[i]->len);
                    win.tick();
                }
                rd_kafka_message_destroy(ms[i]);
            }
        } else {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
            if (!m)
                continue;
            if (!m->err) {
                sum += touch(m->payload, m->len);
                win.tick();
            }
            rd_kafka_message_destroy(m);
        }
    }
    win.print(batch ? "bare-batch" : "bare");
    fprintf(stderr, "bench_kafka_source: bare checksum %" PRIu64 "\n", sum);
    rd_kafka_queue_destroy(q);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return 0;
}

/* --- weir ------------------------------------------------------------------------------------- */

static int pass_through(weir_ctx *, const weir_rec *in, weir_emit *out)
{
    win.tick();
    return weir_emit_forward(out, in);
}

static int side_weir(const char *bootstrap, const char *topic, int p)
{
    char err[1024];
    weir_config *cfg = weir_config_new();
    char ps[16];
    snprintf(ps, sizeof ps, "%d", p);
    /* numa.cpus: the core the harness pinned us to, else weir binds its worker to a core of
     * its own choosing, outside taskset's mask */
    const char *cpu = getenv("WEIR_BENCH_CPU") ? getenv("WEIR_BENCH_CPU") : "1";
    const char *kv[][2] = {{"metrics.reporter.prom.port", "0"},
                           {"parallelism.default", ps},
                           {"numa.cpus", strcmp(cpu, "none") ? cpu : ""}};
    for (auto &e : kv)
        if (weir_config_set(cfg, e[0], e[1], err, sizeof err) != 0)
            die(e[0], err);
    if (weir_config_resolve(cfg, err, sizeof err) != 0)
        die("config", err);
    weir_job *job = weir_job_new("bench-kafka-source");
    struct weir_kafka_source_opts o = {};
    o.bootstrap = bootstrap;
    o.topic = topic;
    o.startup_mode = WEIR_KAFKA_STARTUP_EARLIEST;
    o.bounded = true;
    weir_sink_blackhole(weir_map(weir_source_kafka(job, "kafka", &o), "pass", pass_through),
                        "blackhole");
    struct weir_run_opts ro = {};
    ro.parallelism = p;
    ro.quiet = true;
    struct weir_run_stats st;
    if (weir_job_run(job, cfg, &ro, &st, err, sizeof err) != 0)
        die("run", err);
    if (st.sink_records != win.want)
        die("weir", "the sink did not get RECORDS records");
    win.print(p == 1 ? "weir" : "weir-p2");
    weir_job_free(job);
    weir_config_free(cfg);
    return 0;
}

/* --- the harness ------------------------------------------------------------------------------ */

struct result {
    double wall_s, cpu_s;
};

/* Runs argv with its stdout read; returns the side's result, or false (said why). */
static bool run_child(const std::vector<std::string> &args, const std::string &side, result *r)
{
    int fd[2];
    if (pipe(fd) != 0)
        die("pipe", strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
    posix_spawn_file_actions_addclose(&fa, fd[0]);
    std::vector<char *> av;
    for (auto &a : args)
        av.push_back(const_cast<char *>(a.c_str()));
    av.push_back(nullptr);
    pid_t pid;
    int e = posix_spawnp(&pid, av[0], &fa, nullptr, av.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fd[1]);
    if (e != 0) {
        close(fd[0]);
        fprintf(stderr, "bench_kafka_source: %s: %s\n", av[0], strerror(e));
        return false;
    }
    std::string out;
    char buf[4096];
    ssize_t k;
    while ((k = read(fd[0], buf, sizeof buf)) > 0)
        out.append(buf, (size_t)k);
    close(fd[0]);
    int status;
    waitpid(pid, &status, 0);
    std::string key = side + " records=";
    size_t at = out.find(key);
    unsigned long long n;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || at == std::string::npos ||
        sscanf(out.c_str() + at + key.size(), "%llu wall_s=%lf cpu_s=%lf", &n, &r->wall_s,
               &r->cpu_s) != 3) {
        fprintf(stderr, "bench_kafka_source: side %s failed (status %d): %s\n", side.c_str(),
                status, out.c_str());
        return false;
    }
    return true;
}

static double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* weir's medians over the fastest bare loop's and over Flink's. */
static void ratios(std::map<std::string, std::vector<double>> &rate,
                   std::map<std::string, std::vector<double>> &per_cpu)
{
    if (rate["weir"].empty())
        return;
    double bare = 0, bare_cpu = 0;
    for (const char *b : {"bare", "bare-batch"})
        if (!rate[b].empty()) {
            bare = std::max(bare, median(rate[b]));
            bare_cpu = std::max(bare_cpu, median(per_cpu[b]));
        }
    if (bare > 0)
        printf("  weir / fastest bare loop: %.2f (records/s), %.2f (records/CPU-s)\n",
               median(rate["weir"]) / bare, median(per_cpu["weir"]) / bare_cpu);
    if (!rate["flink"].empty())
        printf("  weir / flink: %.2f (records/s), %.2f (records/CPU-s)\n",
               median(rate["weir"]) / median(rate["flink"]),
               median(per_cpu["weir"]) / median(per_cpu["flink"]));
}

static std::string sh(const std::string &cmd)
{
    std::string out;
    FILE *f = popen(cmd.c_str(), "r");
    if (!f)
        return out;
    char buf[512];
    while (fgets(buf, sizeof buf, f))
        out += buf;
    pclose(f);
    return out;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--side") == 0) { /* a child: --side S BOOTSTRAP TOPIC N */
        if (argc != 6)
            die("--side", "expected SIDE BOOTSTRAP TOPIC RECORDS");
        std::string s = argv[2];
        win.want = strtoull(argv[5], NULL, 10);
        if (s == "bare" || s == "bare-batch")
            return side_bare(argv[3], argv[4], s == "bare-batch");
        if (s == "weir" || s == "weir-p2")
            return side_weir(argv[3], argv[4], s == "weir" ? 1 : 2);
        die("--side", argv[2]);
    }
    const char *bootstrap =
        argc > 1 && strcmp(argv[1], "-") != 0 ? argv[1] : getenv("WEIR_KAFKA_BOOTSTRAP");
    uint64_t records = argc > 2 ? strtoull(argv[2], NULL, 10) : 5000000;
    int rounds = argc > 3 ? atoi(argv[3]) : 3;
    const char *cpu = getenv("WEIR_BENCH_CPU") ? getenv("WEIR_BENCH_CPU") : "1";
    const char *vb = getenv("WEIR_BENCH_VALUE_BYTES");
    size_t value_bytes = vb ? strtoul(vb, NULL, 10) : 100;
    std::string sides_env =
        getenv("WEIR_BENCH_SIDES") ? getenv("WEIR_BENCH_SIDES") : "bare bare-batch weir flink";
    std::string peer = std::string(WEIR_SOURCE_DIR) + "/bench/peers/flink";
    std::vector<std::string> sides;
    for (size_t i = 0; i < sides_env.size();) {
        size_t j = sides_env.find_first_of(" ,", i);
        if (j == std::string::npos)
            j = sides_env.size();
        if (j > i)
            sides.push_back(sides_env.substr(i, j - i));
        i = j + 1;
    }
    const char *baseline = getenv("WEIR_BENCH_BASELINE");
    if (baseline && *baseline)
        sides.push_back("weir-base");
    if (std::find(sides.begin(), sides.end(), "flink") != sides.end() &&
        access((peer + "/target/classpath.txt").c_str(), R_OK) != 0) {
        fprintf(stderr,
                "bench_kafka_source: flink left out: %s/target not built (run 'mvn -q "
                "package -DskipTests' there)\n",
                peer.c_str());
        sides.erase(std::find(sides.begin(), sides.end(), "flink"));
    }
    char state[] = "/tmp/bench-kafka-source-XXXXXX";
    std::string started;
    if (!bootstrap || !*bootstrap) {
        if (!mkdtemp(state))
            die("mkdtemp", strerror(errno));
        started = sh(std::string(WEIR_SOURCE_DIR) + "/tools/kafka.sh start " + state);
        while (!started.empty() && (started.back() == '\n' || started.back() == ' '))
            started.pop_back();
        if (started.empty() || access((std::string(state) + "/skip").c_str(), F_OK) == 0)
            die("tools/kafka.sh start", "no broker (see its message above)");
        bootstrap = started.c_str();
        fprintf(stderr, "bench_kafka_source: started a broker at %s\n", bootstrap);
        /* the broker off the measured core, when that is one core and there are others */
        std::string others;
        for (long c = 0; c < sysconf(_SC_NPROCESSORS_ONLN); c++)
            if (std::to_string(c) != cpu)
                others += (others.empty() ? "" : ",") + std::to_string(c);
        if (strcmp(cpu, "none") != 0 && !others.empty())
            sh("taskset -a -p -c " + others + " $(cat " + state + "/pid) >/dev/null");
    }
    std::string topic = produce_topic(bootstrap, records, value_bytes);
    char self[4096];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0)
        die("/proc/self/exe", strerror(errno));
    self[sl] = 0;
    std::map<std::string, std::vector<double>> rate, per_cpu;
    std::string n = std::to_string(records);
    for (int r = 0; r < rounds; r++) {
        for (size_t k = 0; k < sides.size(); k++) {
            const std::string &s = sides[(k + (size_t)r) % sides.size()];
            std::vector<std::string> a;
            if (strcmp(cpu, "none") != 0)
                a = {"taskset", "-c", cpu};
            if (s == "flink") {
                setenv("WEIR_FLINK_MAIN", "weir.kafka.KafkaSourceBench", 1);
                a.insert(a.end(), {"bash", peer + "/bin/run.sh", "--bootstrap", bootstrap,
                                   "--topic", topic, "--records", n});
            } else if (s == "weir-base") {
                a.insert(a.end(), {baseline, "--side", "weir", bootstrap, topic, n});
            } else {
                a.insert(a.end(), {self, "--side", s, bootstrap, topic, n});
            }
            result res;
            if (!run_child(a, s == "weir-base" ? "weir" : s, &res))
                continue;
            rate[s].push_back(records / res.wall_s);
            per_cpu[s].push_back(records / res.cpu_s);
            printf("round %d %-10s %10.0f records/s  %10.0f records/CPU-s  (wall %.3f s, CPU "
                   "%.3f s)\n",
                   r + 1, s.c_str(), records / res.wall_s, records / res.cpu_s, res.wall_s,
                   res.cpu_s);
            fflush(stdout);
        }
    }
    printf("medians of %d rounds, %" PRIu64 " records of %zu bytes, 4 partitions, pinned to "
           "core %s:\n",
           rounds, records, value_bytes, cpu);
    for (auto &s : sides)
        if (!rate[s].empty())
            printf("  %-10s %10.0f records/s  %10.0f records/CPU-s\n", s.c_str(), median(rate[s]),
                   median(per_cpu[s]));
    ratios(rate, per_cpu);
    if (!started.empty())
        sh(std::string(WEIR_SOURCE_DIR) + "/tools/kafka.sh stop " + state + " && rm -rf " + state);
    return 0;
}
