// The Kafka sink against a running broker (tools/kafka.sh start DIR prints its bootstrap):
//
//   bench_kafka_sink BOOTSTRAP [RECORDS] [ROUNDS]
//
// 1. Throughput: datagen (RECORDS, 2 000 000 by default, as fast as it goes) -> key_by ->
//    Kafka sink at -p 2, checkpoints every second, at-least-once and exactly-once alternated
//    ROUNDS times (3), each into a new 4-partition topic; prints each run's records/s and the
//    medians.
// 2. Latency: exactly-once at 20 000 records/s for 40 s, checkpoints every 1 s and then 10 s;
//    a read_committed consumer reads the topic meanwhile and takes, per record, the time from
//    its Kafka timestamp (set when the sink produced it) to when the consumer got it: p50,
//    p99, max.
// Not a test: it prints numbers (bench/RESULTS.md quotes them with the command).
#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <librdkafka/rdkafka.h>
#include <time.h>
#include <unistd.h>

#include <weir/config.h>
#include <weir/kafka.h>
#include <weir/weir.h>

static const char *bootstrap;

static int64_t now_ms()
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_kafka_sink: %s: %s\n", what, why);
    exit(1);
}

static std::string new_topic(const char *tag)
{
    static int n;
    char name[128];
    snprintf(name, sizeof name, "bench-%s-%d-%d", tag, (int)getpid(), ++n);
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk)
        die("admin client", errstr);
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(name, 4, 1, errstr, sizeof errstr);
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
    rd_kafka_destroy(rk);
    sleep(1); /* metadata reaches the broker's cache */
    return name;
}

static int msg_of(weir_ctx *, const weir_rec *in, struct weir_kafka_msg *m, void *)
{
    static thread_local char v[96], k[24];
    const struct weir_datagen_rec *r = (const struct weir_datagen_rec *)(const void *)in->data;
    int vl = weir_format_datagen(in, v, sizeof v);
    int kl = snprintf(k, sizeof k, "%llu", (unsigned long long)r->key);
    m->key = k;
    m->key_len = (size_t)kl;
    m->value = v;
    m->value_len = (size_t)vl;
    return 0;
}

static uint64_t key_of(const weir_rec *r)
{
    return ((const struct weir_datagen_rec *)(const void *)r->data)->key;
}

/* Runs datagen -> Kafka; returns records/s. */
static double run_job(const std::string &topic, enum weir_kafka_delivery g, uint64_t records,
                      double rate, const char *interval)
{
    char dir[] = "/tmp/bench-kafka-ck-XXXXXX";
    if (!mkdtemp(dir))
        die("mkdtemp", strerror(errno));
    char err[1024];
    weir_config *cfg = weir_config_new();
    const char *kv[][2] = {{"execution.checkpointing.interval", interval},
                           {"state.checkpoints.dir", dir},
                           {"metrics.reporter.prom.port", "0"},
                           {"parallelism.default", "2"}};
    for (auto &p : kv)
        if (weir_config_set(cfg, p[0], p[1], err, sizeof err) != 0)
            die(p[0], err);
    if (weir_config_resolve(cfg, err, sizeof err) != 0)
        die("config", err);
    weir_job *job = weir_job_new("bench-kafka");
    struct weir_datagen_opts o = {};
    o.records = records;
    o.keys = 1000;
    o.record_size = 24;
    o.rate = rate;
    struct weir_kafka_sink_opts k = {};
    k.bootstrap = bootstrap;
    k.topic = topic.c_str();
    k.serialize = msg_of;
    k.delivery_guarantee = g;
    k.transactional_id_prefix = topic.c_str();
    static const char *const props[] = {"linger.ms", "5", NULL};
    k.properties = props;
    weir_sink_kafka(weir_key_by(weir_source_datagen(job, "gen", &o), key_of), "kafka", &k);
    struct weir_run_opts ro = {};
    ro.parallelism = 2;
    ro.quiet = true;
    struct weir_run_stats st;
    if (weir_job_run(job, cfg, &ro, &st, err, sizeof err) != 0)
        die("run", err);
    weir_job_free(job);
    weir_config_free(cfg);
    std::string rm = std::string("rm -rf ") + dir;
    if (system(rm.c_str()) != 0)
        fprintf(stderr, "bench_kafka_sink: could not remove %s\n", dir);
    return (double)st.sink_records / st.elapsed_s;
}

static double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

/* Reads topic read_committed until `want` records or stop; latencies in ms. */
static void consume(const std::string &topic, uint64_t want, std::atomic<bool> *stop,
                    std::vector<int64_t> *lat)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[][2] = {{"bootstrap.servers", bootstrap},
                           {"group.id", "bench"},
                           {"isolation.level", "read_committed"},
                           {"enable.auto.commit", "false"},
                           {"fetch.wait.max.ms", "10"}};
    for (auto &p : kv)
        rd_kafka_conf_set(conf, p[0], p[1], errstr, sizeof errstr);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
    for (int p = 0; p < 4; p++)
        rd_kafka_topic_partition_list_add(l, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, l);
    rd_kafka_topic_partition_list_destroy(l);
    while (lat->size() < want && !stop->load()) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m)
            continue;
        if (!m->err)
            lat->push_back(now_ms() - rd_kafka_message_timestamp(m, NULL));
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_kafka_sink BOOTSTRAP [RECORDS] [ROUNDS]\n");
        return 2;
    }
    bootstrap = argv[1];
    uint64_t records = argc > 2 ? strtoull(argv[2], NULL, 10) : 2000000;
    int rounds = argc > 3 ? atoi(argv[3]) : 3;
    std::vector<double> alo, eo;
    for (int r = 0; r < rounds; r++) {
        double a = run_job(new_topic("alo"), WEIR_KAFKA_AT_LEAST_ONCE, records, 0, "1s");
        double e = run_job(new_topic("eo"), WEIR_KAFKA_EXACTLY_ONCE, records, 0, "1s");
        printf("round %d: at-least-once %.0f records/s, exactly-once %.0f records/s\n", r + 1, a,
               e);
        fflush(stdout);
        alo.push_back(a);
        eo.push_back(e);
    }
    printf("throughput (median of %d, %" PRIu64 " records, -p 2, checkpoints 1 s): "
           "at-least-once %.0f records/s, exactly-once %.0f records/s (%.2f of at-least-once)\n",
           rounds, records, median(alo), median(eo), median(eo) / median(alo));
    for (const char *iv : {"1s", "10s"}) {
        const uint64_t n = 20000 * 40;
        std::string topic = new_topic("lat");
        std::atomic<bool> stop{false};
        std::vector<int64_t> lat;
        lat.reserve(n);
        std::thread t(consume, topic, n, &stop, &lat);
        run_job(topic, WEIR_KAFKA_EXACTLY_ONCE, n, 20000, iv);
        for (int i = 0; i < 300 && lat.size() < n; i++)
            usleep(100000);
        stop = true;
        t.join();
        std::sort(lat.begin(), lat.end());
        if (lat.empty())
            die("latency", "nothing read");
        printf("latency, exactly-once, checkpoints %s, 20000 records/s, %zu of %" PRIu64
               " read: p50 %" PRId64 " ms, p99 %" PRId64 " ms, max %" PRId64 " ms\n",
               iv, lat.size(), n, lat[lat.size() / 2], lat[lat.size() * 99 / 100], lat.back());
        fflush(stdout);
    }
    return 0;
}
