/*
 * Every configuration key weir knows, in the order weir_config_print lists them. A new key is
 * a new row; the rest of config/ needs no change unless the key takes part in a cross-key check.
 *
 * Names follow Flink wherever the concept is the same; where weir's name is shorter
 * (memory.* for taskmanager.memory.*), Flink's name is an alias so a Flink config file
 * carries over.
 */
#include "config_private.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A Linux cpulist, as in /sys/devices/system/cpu/online or taskset -c: comma-separated
 * items N or N-M (N <= M), optionally N-M:used/group. Whether the cpus exist is numa/'s
 * business; here only the syntax. */
static int check_cpulist(const char *s)
{
    if (*s == '\0')
        return 0; /* all cpus */
    for (;;) {
        unsigned long lo, hi;
        char *end;
        if (*s < '0' || *s > '9')
            return -1;
        lo = strtoul(s, &end, 10);
        hi = lo;
        s = end;
        if (*s == '-') {
            s++;
            if (*s < '0' || *s > '9')
                return -1;
            hi = strtoul(s, &end, 10);
            s = end;
            if (hi < lo)
                return -1;
            if (*s == ':') {
                unsigned long used, group;
                s++;
                if (*s < '0' || *s > '9')
                    return -1;
                used = strtoul(s, &end, 10);
                s = end;
                if (*s++ != '/' || *s < '0' || *s > '9')
                    return -1;
                group = strtoul(s, &end, 10);
                s = end;
                if (used == 0 || group == 0 || used > group)
                    return -1;
            }
        }
        if (lo > 1u << 20 || hi > 1u << 20) /* far beyond any CPU_SETSIZE; a typo */
            return -1;
        if (*s == '\0')
            return 0;
        if (*s++ != ',')
            return -1;
    }
}

static int check_port_range(const char *s)
{
    unsigned lo, hi;
    return weir_parse_port_range(s, &lo, &hi);
}

static int check_nonempty(const char *s)
{
    return *s ? 0 : -1;
}

/* kafka.instance: "i/N", decimal, 0 <= i < N <= 65536. */
static int check_instance(const char *s)
{
    unsigned long i, n;
    char *end;
    if (*s < '0' || *s > '9')
        return -1;
    i = strtoul(s, &end, 10);
    if (*end != '/' || end[1] < '0' || end[1] > '9')
        return -1;
    n = strtoul(end + 1, &end, 10);
    return *end == '\0' && n >= 1 && n <= 65536 && i < n ? 0 : -1;
}

/* An octal permission mode, 0640 or 640: no setuid, setgid or sticky bit, no write for the
 * group or others (the checkpoint directory refuses to open a directory they can write, see
 * privdir.h; a file they could write would be theirs to forge), and what the owner needs
 * (need: rw- for files, rwx for directories). */
static int check_mode(const char *s, unsigned need)
{
    size_t n = strlen(s);
    if (n == 4 && s[0] == '0')
        s++, n--;
    if (n != 3)
        return -1;
    unsigned m = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '7')
            return -1;
        m = m * 8 + (unsigned)(s[i] - '0');
    }
    return (m & need) == need && !(m & 0022) ? 0 : -1;
}

static int check_file_mode(const char *s)
{
    return check_mode(s, 0600);
}

static int check_dir_mode(const char *s)
{
    return check_mode(s, 0700);
}

#define KB(n) ((int64_t)(n) << 10)
#define MB(n) ((int64_t)(n) << 20)

/* clang-format off */
const struct weir_config_key weir_config_keys[] = {
    /* ---- execution */
    { .name = "parallelism.default", .type = WEIR_CONFIG_INT, .def = "1", .min = 1,
      .max = 32768,
      .doc = "Parallelism of operators that do not set their own." },
    { .name = "pipeline.max-parallelism", .type = WEIR_CONFIG_INT, .def = "128", .min = 1,
      .max = 32768,
      .doc = "Number of key groups; the most a keyed operator can be rescaled to." },
    { .name = "execution.buffer-timeout", .type = WEIR_CONFIG_DURATION, .def = "100ms",
      .min = 0,
      .doc = "Longest a partly filled buffer waits before it is flushed; 0 flushes after "
             "every record." },
    { .name = "pipeline.auto-watermark-interval", .type = WEIR_CONFIG_DURATION, .def = "200ms",
      .min = 1,
      .doc = "How often sources with a watermark strategy emit a watermark." },
    { .name = "weir.progress", .type = WEIR_CONFIG_ENUM, .def = "auto",
      .words = "auto|always|never",
      .doc = "Progress line on stderr: auto (when stderr is a terminal), always or never." },

    /* ---- placement */
    { .name = "numa.cpus", .type = WEIR_CONFIG_STRING, .def = "", .check = check_cpulist,
      .expect = "a Linux cpu list like 0-3,8-11, or \"\" for all",
      .doc = "OS cpus granted to worker threads, as a Linux cpulist; empty for all." },

    /* ---- memory (see the model in config.h) */
    { .name = "memory.process.size", .type = WEIR_CONFIG_SIZE, .def = "1728m",
      .aliases = { "taskmanager.memory.process.size" },
      .doc = "All the memory the process may use; the pools are cut from it." },
    { .name = "memory.framework.size", .type = WEIR_CONFIG_SIZE, .def = "128m",
      .doc = "The engine's own memory: graph, plan, coordinator, metrics." },
    { .name = "memory.task.heap.size", .type = WEIR_CONFIG_SIZE, .def = NULL,
      .aliases = { "taskmanager.memory.task.heap.size" },
      .doc = "Heap state and operator memory; by default what the other pools leave." },
    { .name = "memory.managed.size", .type = WEIR_CONFIG_SIZE, .def = NULL,
      .aliases = { "taskmanager.memory.managed.size" },
      .doc = "RocksDB block cache and write buffers; overrides memory.managed.fraction." },
    { .name = "memory.managed.fraction", .type = WEIR_CONFIG_FRACTION, .def = "0.4",
      .aliases = { "taskmanager.memory.managed.fraction" },
      .doc = "Managed memory as a fraction of process size less overhead." },
    { .name = "memory.network.fraction", .type = WEIR_CONFIG_FRACTION, .def = "0.1",
      .aliases = { "taskmanager.memory.network.fraction" },
      .doc = "Channel rings as a fraction of process size less overhead." },
    { .name = "memory.network.min", .type = WEIR_CONFIG_SIZE, .def = "64m",
      .aliases = { "taskmanager.memory.network.min" },
      .doc = "Lower bound of the network pool." },
    { .name = "memory.network.max", .type = WEIR_CONFIG_SIZE, .def = "1g",
      .aliases = { "taskmanager.memory.network.max" },
      .doc = "Upper bound of the network pool." },
    { .name = "memory.overhead.fraction", .type = WEIR_CONFIG_FRACTION, .def = "0.1",
      .aliases = { "taskmanager.memory.jvm-overhead.fraction" },
      .doc = "Snapshot buffers, io and libc slack as a fraction of process size." },
    { .name = "memory.overhead.min", .type = WEIR_CONFIG_SIZE, .def = "192m",
      .aliases = { "taskmanager.memory.jvm-overhead.min" },
      .doc = "Lower bound of the overhead pool." },
    { .name = "memory.overhead.max", .type = WEIR_CONFIG_SIZE, .def = "1g",
      .aliases = { "taskmanager.memory.jvm-overhead.max" },
      .doc = "Upper bound of the overhead pool." },
    { .name = "memory.segment-size", .type = WEIR_CONFIG_SIZE, .def = "32kb",
      .aliases = { "taskmanager.memory.segment-size" }, .min = KB(4), .max = MB(1024),
      .flags = WEIR_CONFIG_POW2,
      .doc = "Size of one channel buffer, the unit records are batched in." },
    { .name = "network.buffers-per-channel", .type = WEIR_CONFIG_INT, .def = "8",
      .aliases = { "taskmanager.network.memory.buffers-per-channel" }, .min = 2,
      .max = 65536, .flags = WEIR_CONFIG_POW2,
      .doc = "Buffers in each channel's ring." },

    /* ---- metrics */
    /* A range by default, as Flink's reporter takes one: a second job on the host starts on
     * the next free port (and prints it) instead of failing on 9249. */
    { .name = "metrics.reporter.prom.port", .type = WEIR_CONFIG_STRING, .def = "9249-9260",
      .check = check_port_range,
      .expect = "a port like 9249, a range like 9249-9259, or 0 for off",
      .doc = "Prometheus endpoint port, or the first free port of a range; 0 turns it off." },
    { .name = "metrics.reporter.prom.host", .type = WEIR_CONFIG_STRING, .def = "127.0.0.1",
      .check = check_nonempty, .expect = "a host name or address like 127.0.0.1",
      .doc = "Address the Prometheus endpoint listens on." },

    /* ---- Kafka (core/include/weir/kafka.h) */
    { .name = "kafka.instance", .type = WEIR_CONFIG_STRING, .def = "0/1",
      .check = check_instance, .expect = "i/N with 0 <= i < N, like 0/2",
      .doc = "This process is instance i of N sharing each Kafka source's topic: it reads "
             "the partitions Flink's split owner gives to global subtasks i*p .. i*p+p-1 "
             "of N*p (p: the source's parallelism)." },
    /* ---- REST API (io/include/weir/rest.h; README "REST API") */
    /* A range by default, as the Prometheus port: many jobs on one host (and tests side by
     * side) each take the next free port and print it; a single port that is taken fails
     * the start, naming rest.port. */
    { .name = "rest.enabled", .type = WEIR_CONFIG_BOOL, .def = "true",
      .doc = "Serve Flink's REST API (GET /jobs, /jobs/<id>/checkpoints, ...) while the job "
             "runs." },
    { .name = "rest.port", .type = WEIR_CONFIG_STRING, .def = "8081-8180",
      .aliases = { "rest.bind-port" }, .check = check_port_range,
      .expect = "a port like 8081, a range like 8081-8180, or 0 for any free port",
      .doc = "REST API port, or the first free port of a range; 0 takes any free port (the "
             "log says which)." },
    { .name = "rest.bind-address", .type = WEIR_CONFIG_STRING, .def = "127.0.0.1",
      .check = check_nonempty, .expect = "a host name or address like 127.0.0.1",
      .doc = "Address the REST API listens on; one that is not a loopback address needs "
             "rest.auth.token-file." },
    { .name = "rest.auth.token-file", .type = WEIR_CONFIG_STRING, .def = "",
      .doc = "File whose first line is the REST API's bearer token: every request but GET "
             "and HEAD then needs 'Authorization: Bearer <token>' (401 otherwise), reads too "
             "unless rest.auth.open-reads. Required to bind a non-loopback "
             "rest.bind-address." },
    { .name = "rest.auth.open-reads", .type = WEIR_CONFIG_BOOL, .def = "false",
      .doc = "With rest.auth.token-file: GET and HEAD are served without the token (the "
             "operations still need it)." },
    { .name = "web.checkpoints.history", .type = WEIR_CONFIG_INT, .def = "10", .min = 1,
      .max = 10000,
      .doc = "Checkpoints the REST API lists in /jobs/<id>/checkpoints history, newest "
             "first." },

    /* ---- keyed state (core/include/weir/state.h) */
    { .name = "state.backend", .type = WEIR_CONFIG_ENUM, .def = "hashmap",
      .aliases = { "state.backend.type" }, .words = "hashmap|rocksdb|filesystem|jobmanager",
      .doc = "Where keyed state lives: hashmap (task heap) or rocksdb (local disk, managed "
             "memory); Flink's legacy filesystem and jobmanager mean hashmap." },
    { .name = "state.backend.rocksdb.localdir", .type = WEIR_CONFIG_STRING, .def = "",
      .doc = "Directory of the RocksDB working files; empty for <TMPDIR or /tmp>/weir-<uid>/"
             "rocksdb. Must be yours, not a link, not writable by others (made 0700)." },
    { .name = "state.backend.rocksdb.memory.managed", .type = WEIR_CONFIG_BOOL, .def = "true",
      .doc = "Size RocksDB's block cache and write buffers from the managed pool; false "
             "leaves RocksDB's own per-instance defaults, outside any pool." },
    { .name = "state.backend.rocksdb.memory.write-buffer-ratio", .type = WEIR_CONFIG_FRACTION,
      .def = "0.5",
      .doc = "Share of managed memory for RocksDB write buffers (memtables); the rest is "
             "block cache." },
    { .name = "state.backend.rocksdb.memory.high-prio-pool-ratio",
      .type = WEIR_CONFIG_FRACTION, .def = "0.1",
      .doc = "Share of the block cache kept for index and filter blocks." },
    { .name = "state.backend.incremental", .type = WEIR_CONFIG_BOOL, .def = "false",
      .aliases = { "execution.checkpointing.incremental" },
      .doc = "Checkpoints write what changed since the previous one: RocksDB shares unchanged "
             "SST files with the previous checkpoint; the hashmap backend writes a chain of a "
             "full snapshot and deltas of the entries changed (savepoints stay full)." },
    { .name = "state.backend.incremental.heap.max-chain-length", .type = WEIR_CONFIG_INT,
      .def = "10", .min = 0, .max = 1000,
      .doc = "Hashmap backend with state.backend.incremental: the most deltas a restore "
             "replays on top of a full snapshot; the checkpoint after that many is full "
             "again (0: every checkpoint is full)." },

    { .name = "state.backend.restore.threads", .type = WEIR_CONFIG_INT, .def = "0",
      .min = 0, .max = 1024,
      .doc = "Hashmap backend: threads that restore a subtask's key groups from a checkpoint "
             "or savepoint at start, each on its own key groups; 0: one per cpu of the "
             "subtask's NUMA node that the job may use (the snapshot writers' and the "
             "workers', idle until the restore ends); 1: the restore on one thread." },

    /* ---- checkpoints and savepoints (io/include/weir/storage.h) */
    { .name = "state.checkpoints.dir", .type = WEIR_CONFIG_STRING, .def = "",
      .aliases = { "execution.checkpointing.dir" },
      .doc = "Where checkpoints go: <dir>/<job>/chk-N and <dir>/<job>/shared; empty for "
             "$XDG_STATE_HOME/weir/checkpoints, else ~/.local/state/weir/checkpoints. Must be "
             "yours, not a link, not writable by others (made 0700, files 0600)." },
    { .name = "state.checkpoints.file-mode", .type = WEIR_CONFIG_STRING, .def = "0600",
      .check = check_file_mode,
      .expect = "an octal mode with read and write for the owner and no write for the group "
                "or others, like 0600 or 0640",
      .doc = "Mode of every file weir writes into checkpoints and savepoints (_metadata, "
             "state files, shared SSTs), whatever the umask." },
    { .name = "state.checkpoints.directory-mode", .type = WEIR_CONFIG_STRING, .def = "0700",
      .check = check_dir_mode,
      .expect = "an octal mode with rwx for the owner and no write for the group or others, "
                "like 0700 or 0750",
      .doc = "Mode of the directories weir makes for checkpoints and savepoints (<dir>/<job>, "
             "shared, chk-N, savepoint directories), whatever the umask." },
    { .name = "execution.checkpointing.interval", .type = WEIR_CONFIG_DURATION, .def = "0",
      .min = 0,
      .doc = "Time between the starts of two checkpoints; 0 turns checkpointing off." },
    { .name = "execution.checkpointing.min-pause", .type = WEIR_CONFIG_DURATION, .def = "0",
      .min = 0,
      .doc = "Least time between the end of one checkpoint and the start of the next." },
    { .name = "execution.checkpointing.timeout", .type = WEIR_CONFIG_DURATION,
      .def = "10 min", .min = 1,
      .doc = "A checkpoint not complete after this long is aborted." },
    { .name = "execution.checkpointing.max-concurrent-checkpoints", .type = WEIR_CONFIG_INT,
      .def = "1", .min = 1, .max = 1024,
      .doc = "Checkpoints that may be in progress at once." },
    { .name = "execution.checkpointing.num-retained", .type = WEIR_CONFIG_INT, .def = "1",
      .aliases = { "state.checkpoints.num-retained" }, .min = 1, .max = 1000000,
      .doc = "Complete checkpoints kept; older ones and the shared files only they use are "
             "deleted." },
    { .name = "execution.checkpointing.mode", .type = WEIR_CONFIG_ENUM, .def = "EXACTLY_ONCE",
      .words = "EXACTLY_ONCE|AT_LEAST_ONCE",
      .doc = "EXACTLY_ONCE aligns barriers of operators with several inputs; AT_LEAST_ONCE "
             "does not." },
    { .name = "execution.checkpointing.unaligned.enabled", .type = WEIR_CONFIG_BOOL,
      .def = "false", .aliases = { "execution.checkpointing.unaligned" },
      .doc = "Unaligned checkpoints: a barrier overtakes the records in flight on the "
             "channels, which are saved with the checkpoint and replayed on restore, so that "
             "a backpressured job still completes checkpoints. Needs EXACTLY_ONCE and one "
             "checkpoint in flight; savepoints stay aligned." },
    { .name = "execution.checkpointing.aligned-checkpoint-timeout", .type = WEIR_CONFIG_DURATION,
      .def = "0", .min = 0, .aliases = { "execution.checkpointing.alignment-timeout" },
      .doc = "With unaligned checkpoints on: a checkpoint starts aligned and a task switches "
             "to unaligned once the checkpoint is this old; 0: unaligned at once." },
    { .name = "execution.checkpointing.tolerable-failed-checkpoints", .type = WEIR_CONFIG_INT,
      .def = "0", .min = 0, .max = 2147483647,
      .doc = "Consecutive failed checkpoints tolerated before the job fails." },
    { .name = "state.backend.local-recovery", .type = WEIR_CONFIG_BOOL, .def = "false",
      .aliases = { "execution.state-recovery.from-local" },
      .doc = "With state.checkpoints.dir s3://...: a restore on this host reads the local copy "
             "of a checkpoint when it matches the remote one (same _metadata, every file's "
             "size and checksum); false: always the remote one." },
    { .name = "state.backend.local-recovery.dir", .type = WEIR_CONFIG_STRING, .def = "",
      .aliases = { "taskmanager.state.local.root-dirs" },
      .doc = "With state.checkpoints.dir s3://bucket/prefix: where the local copy of the "
             "checkpoints is written before upload, as <dir>/s3/<bucket>/<prefix>/<job>; "
             "empty for the default of state.checkpoints.dir." },

    /* ---- S3-compatible checkpoint storage (io/src/storage/s3.h) */
    { .name = "s3.endpoint", .type = WEIR_CONFIG_STRING, .def = "",
      .doc = "http[s]://host[:port] of an S3-compatible store (MinIO, Ceph, S3Proxy); empty "
             "for AWS, https://s3.<region>.amazonaws.com." },
    { .name = "s3.region", .type = WEIR_CONFIG_STRING, .def = "",
      .aliases = { "s3.endpoint.region" },
      .doc = "Region requests are signed for; empty: AWS_REGION, AWS_DEFAULT_REGION, else "
             "us-east-1." },
    { .name = "s3.access-key", .type = WEIR_CONFIG_STRING, .def = "",
      .doc = "Access key id; empty: AWS_ACCESS_KEY_ID, else the shared credentials file "
             "(AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, profile AWS_PROFILE)." },
    { .name = "s3.secret-key", .type = WEIR_CONFIG_STRING, .def = "", .flags = WEIR_CONFIG_SECRET,
      .doc = "Secret access key (printed as \"****\"); empty: AWS_SECRET_ACCESS_KEY, else the "
             "shared credentials file." },
    { .name = "s3.path.style.access", .type = WEIR_CONFIG_BOOL, .def = "true",
      .doc = "Address objects as <endpoint>/<bucket>/<key> (the only way weir does; false is "
             "refused)." },
    { .name = "s3.retry.max-attempts", .type = WEIR_CONFIG_INT, .def = "5", .min = 1,
      .max = 100,
      .doc = "Attempts of one S3 request that fails transiently (connection refused or reset, "
             "timeout, HTTP 429, 500, 502, 503, 504, SlowDown) before it fails; 1: no "
             "retries. Other 4xx answers are never retried." },
    { .name = "s3.retry.initial-backoff", .type = WEIR_CONFIG_DURATION, .def = "100ms",
      .min = 1, .max = 60000,
      .doc = "Wait before the second attempt of an S3 request; it doubles with each attempt "
             "(at most 10 s), and a random half to all of it is waited (jitter)." },
    { .name = "state.savepoints.dir", .type = WEIR_CONFIG_STRING, .def = "",
      .aliases = { "execution.checkpointing.savepoint-dir" },
      .doc = "Default directory of savepoints when a trigger names none; empty: a path must "
             "be given." },
    { .name = "execution.savepoint-restore-mode", .type = WEIR_CONFIG_ENUM, .def = "NO_CLAIM",
      .words = "NO_CLAIM|CLAIM|LEGACY",
      .aliases = { "execution.state-recovery.claim-mode" },
      .doc = "Who owns a checkpoint or savepoint restored by path: NO_CLAIM leaves it to you "
             "(never deleted nor changed); CLAIM gives it to the job, which deletes it once "
             "subsumed; LEGACY is NO_CLAIM." },

    /* ---- sinks */
    { .name = "sink.file.overwrite", .type = WEIR_CONFIG_BOOL, .def = "false",
      .doc = "A fresh run (not a restore) into an exactly-once file sink's directory that is "
             "not empty deletes the sink's part files there first; false refuses the run "
             "(weir run/bench --overwrite)." },

    /* ---- dead-letter queue (weir/dlq.h, README "Dead-letter queue") */
    { .name = "weir.dlq.type", .type = WEIR_CONFIG_ENUM, .def = "none",
      .words = "none|kafka|file",
      .doc = "Where records that fail deserialization or that a user function rejects "
             "(weir_ctx_reject) go: none (the job fails, or the Kafka source's "
             "--skip-bad-records drops them), kafka (weir.dlq.topic) or file "
             "(weir.dlq.path)." },
    { .name = "weir.dlq.topic", .type = WEIR_CONFIG_STRING, .def = "",
      .doc = "kafka: the DLQ topic; it must exist when the job starts." },
    { .name = "weir.dlq.bootstrap-servers", .type = WEIR_CONFIG_STRING, .def = "",
      .doc = "kafka: the DLQ cluster's bootstrap.servers, host:port[,host:port]." },
    { .name = "weir.dlq.properties", .type = WEIR_CONFIG_STRING, .def = "",
      .doc = "kafka: more librdkafka producer properties, key=value[,key=value] (e.g. "
             "security.protocol=SSL)." },
    { .name = "weir.dlq.path", .type = WEIR_CONFIG_STRING, .def = "",
      .doc = "file: the DLQ file, JSON lines appended (created if missing); its directory "
             "must exist." },
    { .name = "weir.dlq.timeout", .type = WEIR_CONFIG_DURATION, .def = "30 s", .min = 1000,
      .max = 3600000,
      .doc = "kafka: how long a dead letter may wait for the broker's acknowledgement "
             "(message.timeout.ms) before the job fails." },

    /* ---- restart strategies (Flink's names; the runtime applies them) */
    { .name = "restart-strategy.type", .type = WEIR_CONFIG_ENUM, .def = "none",
      .aliases = { "restart-strategy" },
      .words = "none|fixed-delay|exponential-delay|failure-rate",
      .doc = "How a failed job restarts: none, fixed-delay, exponential-delay or "
             "failure-rate." },
    { .name = "restart-strategy.fixed-delay.attempts", .type = WEIR_CONFIG_INT, .def = "1",
      .min = 0, .max = 2147483647,
      .doc = "fixed-delay: restarts tried before the job fails." },
    { .name = "restart-strategy.fixed-delay.delay", .type = WEIR_CONFIG_DURATION,
      .def = "1 s", .min = 0,
      .doc = "fixed-delay: wait before each restart." },
    { .name = "restart-strategy.exponential-delay.initial-backoff",
      .type = WEIR_CONFIG_DURATION, .def = "1 s", .min = 0,
      .doc = "exponential-delay: wait before the first restart." },
    { .name = "restart-strategy.exponential-delay.max-backoff", .type = WEIR_CONFIG_DURATION,
      .def = "5 min", .min = 0,
      .doc = "exponential-delay: longest wait between restarts." },
    { .name = "restart-strategy.exponential-delay.backoff-multiplier",
      .type = WEIR_CONFIG_DOUBLE, .def = "2.0",
      .doc = "exponential-delay: factor the wait grows by after each failure (at least 1)." },
    { .name = "restart-strategy.exponential-delay.reset-backoff-threshold",
      .type = WEIR_CONFIG_DURATION, .def = "1 h", .min = 0,
      .doc = "exponential-delay: running this long without failure resets the wait." },
    { .name = "restart-strategy.exponential-delay.jitter-factor",
      .type = WEIR_CONFIG_FRACTION, .def = "0.1",
      .doc = "exponential-delay: random share added to or taken from each wait." },
    { .name = "restart-strategy.exponential-delay.attempts-before-reset-backoff",
      .type = WEIR_CONFIG_INT, .def = "2147483647", .min = 1, .max = 2147483647,
      .doc = "exponential-delay: restarts tried before the job fails, counted since the "
             "last reset." },
    { .name = "restart-strategy.failure-rate.max-failures-per-interval",
      .type = WEIR_CONFIG_INT, .def = "1", .min = 1, .max = 2147483647,
      .doc = "failure-rate: failures within the interval that fail the job." },
    { .name = "restart-strategy.failure-rate.failure-rate-interval",
      .type = WEIR_CONFIG_DURATION, .def = "1 min", .min = 1,
      .doc = "failure-rate: the window failures are counted in." },
    { .name = "restart-strategy.failure-rate.delay", .type = WEIR_CONFIG_DURATION,
      .def = "1 s", .min = 0,
      .doc = "failure-rate: wait before each restart." },
};
/* clang-format on */

const size_t weir_config_key_count = sizeof weir_config_keys / sizeof weir_config_keys[0];

const struct weir_config_key *weir_config_key_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < weir_config_key_count; i++) {
        const struct weir_config_key *k = &weir_config_keys[i];
        const char *s;
        for (size_t a = 0; (s = config_key_spelling(k, a)); a++)
            if (strcmp(s, name) == 0)
                return k;
    }
    return NULL;
}

const char *config_key_spelling(const struct weir_config_key *k, size_t a)
{
    size_t n = sizeof k->aliases / sizeof k->aliases[0];
    return a == 0 ? k->name : a <= n ? k->aliases[a - 1] : NULL;
}

/* ---- suggestions ------------------------------------------------------------------------ */

static size_t levenshtein(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[MAX_KEY_LEN + 1];
    if (la > MAX_KEY_LEN || lb > MAX_KEY_LEN)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            size_t best = diag + cost;
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* True when name is tail of full at a dot boundary ("process.size" of "memory.process.size"),
 * or full is name plus more segments ("parallelism" of "parallelism.default"). */
static bool dotted_part(const char *name, const char *full)
{
    size_t ln = strlen(name), lf = strlen(full);
    if (ln == 0 || ln >= lf)
        return false;
    if (strcmp(full + lf - ln, name) == 0 && full[lf - ln - 1] == '.')
        return true;
    return strncmp(full, name, ln) == 0 && full[ln] == '.';
}

/* The known name nearest to an unknown one, or NULL when none is near enough to be what the
 * person meant. */
static const char *suggest(const char *name)
{
    const char *best = NULL, *part = NULL;
    size_t best_d = SIZE_MAX, limit = strlen(name) / 4;
    int parts = 0;
    if (limit < 2)
        limit = 2;
    for (size_t i = 0; i < weir_config_key_count; i++) {
        const struct weir_config_key *k = &weir_config_keys[i];
        const char *cand;
        for (size_t a = 0; (cand = config_key_spelling(k, a)); a++) {
            size_t d = levenshtein(name, cand);
            if (d < best_d) {
                best_d = d;
                best = cand;
            }
            if (a == 0 && dotted_part(name, cand)) {
                part = cand;
                parts++;
            }
        }
    }
    if (best && best_d <= limit)
        return best;
    return parts == 1 ? part : NULL;
}

void config_unknown_key(const char *name, char *err, size_t errlen)
{
    char q[160];
    const char *s = suggest(name);
    if (s)
        errbuf_printf(err, errlen, "unknown key %s (did you mean \"%s\"?)",
                      config_quote(name, q, sizeof q), s);
    else
        errbuf_printf(err, errlen, "unknown key %s", config_quote(name, q, sizeof q));
}
