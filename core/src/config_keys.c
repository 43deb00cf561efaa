/*
 * Every configuration key weir knows, in the order weir_config_print lists them. A new key is
 * a new row; config.c needs no change unless the key takes part in a cross-key check.
 *
 * Names follow Flink wherever the concept is the same; where weir's name is shorter
 * (memory.* for taskmanager.memory.*), Flink's name is an alias so a Flink config file
 * carries over.
 */
#include <weir/config.h>

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
    { .name = "metrics.reporter.prom.port", .type = WEIR_CONFIG_STRING, .def = "9249",
      .check = check_port_range,
      .expect = "a port like 9249, a range like 9249-9259, or 0 for off",
      .doc = "Prometheus endpoint port, or the first free port of a range; 0 turns it off." },
    { .name = "metrics.reporter.prom.host", .type = WEIR_CONFIG_STRING, .def = "127.0.0.1",
      .check = check_nonempty, .expect = "a host name or address like 127.0.0.1",
      .doc = "Address the Prometheus endpoint listens on." },
};
/* clang-format on */

const size_t weir_config_key_count = sizeof weir_config_keys / sizeof weir_config_keys[0];

const struct weir_config_key *weir_config_key_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < weir_config_key_count; i++) {
        const struct weir_config_key *k = &weir_config_keys[i];
        if (strcmp(k->name, name) == 0)
            return k;
        for (size_t a = 0; a < sizeof k->aliases / sizeof k->aliases[0] && k->aliases[a]; a++)
            if (strcmp(k->aliases[a], name) == 0)
                return k;
    }
    return NULL;
}
