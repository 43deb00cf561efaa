/*
 * Configuration: one YAML file plus -D overrides, read with Flink's key names and value
 * syntax, checked before anything runs, and the memory pools derived from it.
 *
 * A config starts from embedded defaults. A YAML file (weir_config_load_file) and -D
 * key=value pairs (weir_config_set_kv) set keys; each value is parsed and checked the moment
 * it is given, so the error names the key, the value and what was expected, prefixed
 * "FILE:LINE: " when it came from a file. A -D value wins over the file whatever the order of
 * the calls. weir_config_resolve then makes the checks that span keys and computes the memory
 * pools; the runtime reads values only after it succeeds.
 *
 *     char err[512];
 *     weir_config *c = weir_config_new();
 *     if (!c)
 *         return -ENOMEM;
 *     if (weir_config_load_file(c, "weir.yaml", err, sizeof err) < 0 ||
 *         weir_config_set_kv(c, "memory.process.size=4g", err, sizeof err) < 0 ||
 *         weir_config_resolve(c, err, sizeof err) < 0) {
 *         fprintf(stderr, "weir: %s\n", err);
 *         weir_config_free(c);
 *         return 2;
 *     }
 *     weir_config_print_pools(c, stderr);
 *     int64_t flush_ms = weir_config_get_duration_ms(c, "execution.buffer-timeout");
 *
 * Values, as Flink parses them:
 *   - size: a whole number and an optional unit, any case, optional space: 4096 (bytes),
 *     64k / 64kb / 64 kibibytes, 512m / 512mb, 4g / 4gb, 1t / 1tb, 100b / 100 bytes.
 *   - duration: a whole number and an optional unit: 100 (milliseconds), 100ms, 10 s,
 *     10 sec(s), 10 second(s), 2 min, 2 m, 2 minute(s), 1 h / hour(s), 1 d / day(s),
 *     500 us / µs / micro(s) / microsecond(s), ns / nano(s) / nanosecond(s),
 *     milli(s) / millisecond(s). Keys hold milliseconds, so "1500us" is refused rather than
 *     silently rounded.
 *   - int: decimal. fraction: a decimal number in [0, 1). bool: true or false, any case.
 *     enum: one of the key's words, any case.
 *
 * The YAML file is Flink 1.19+ "standard YAML": nested mappings flatten with dots, so
 * "memory: {process: {size: 2g}}" is "memory.process.size: 2g"; any scalar style is taken as
 * the text it spells; a null value (an empty plain value, ~ or null) leaves the key as if it
 * were not given; a key given twice in one file, directly, nested or by an alias, is an error.
 * An unknown key is an error that suggests the nearest known one.
 *
 * Memory model (Flink's TaskManager model without the JVM's metaspace and off-heap split).
 * P is memory.process.size:
 *
 *   overhead  = clamp(P * memory.overhead.fraction, memory.overhead.min, memory.overhead.max)
 *   total     = P - overhead
 *   network   = clamp(total * memory.network.fraction, memory.network.min, memory.network.max)
 *   managed   = memory.managed.size if set, else total * memory.managed.fraction
 *   framework = memory.framework.size
 *   task_heap = memory.task.heap.size if set, else total - framework - network - managed
 *
 * Products are truncated to whole bytes, as Flink's MemorySize.multiply does, and fractions are
 * taken exactly as written in decimal, so "0.1" of 1610612736 bytes is 161061273. When
 * memory.task.heap.size and memory.managed.size are both set and memory.process.size is not,
 * P is derived from the parts instead (total = framework + task_heap + managed + network,
 * with network = clamp(total * fraction, min, max), and overhead likewise on P), as Flink does.
 * When the task heap is set explicitly and the parts leave some of P over, the remainder is
 * not handed to any pool (weir_config_print_pools shows it as "unused").
 *
 * Resolve refuses, with one line that names the keys and the numbers: parts that exceed P, a
 * task heap under WEIR_TASK_HEAP_MIN, a min above its max, and a P above the machine's limit:
 * the smaller of physical memory and the memory cgroup's limit (cgroup v2 memory.max or v1
 * memory.limit_in_bytes of this process's cgroup and its ancestors). Tests inject the limit with
 * weir_config_set_machine_limit_for_test() or the environment variable WEIR_TEST_MEMORY_LIMIT
 * (a size, e.g. "2g").
 *
 * A weir_config is not thread-safe: build and resolve it on one thread, then share it read-only.
 */
#ifndef WEIR_CONFIG_H
#define WEIR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weir_config weir_config;

/* The smallest task heap resolve accepts, derived or set: below it heap state and the
 * runtime's own allocations have no room at all. */
#define WEIR_TASK_HEAP_MIN (16ull << 20)

/* A config holding the embedded defaults; NULL when out of memory. */
weir_config *weir_config_new(void);
void weir_config_free(weir_config *c); /* NULL is a no-op */

/* Sets every key the YAML file at path names. Returns 0, -ENOENT (or another negative errno)
 * when the file cannot be read, -EINVAL for a YAML syntax error, an unknown key or a bad
 * value; on error nothing is promised about which keys of the file were applied. */
int weir_config_load_file(weir_config *c, const char *path, char *err, size_t errlen);

/* Sets one key (canonical name or alias) from text, as -D key=value does, and checks the value
 * now. Returns 0, -ENOENT for an unknown key, -EINVAL for a bad value, -ENOMEM. */
int weir_config_set(weir_config *c, const char *key, const char *value, char *err, size_t errlen);

/* weir_config_set on "key=value", split at the first '='. */
int weir_config_set_kv(weir_config *c, const char *key_eq_value, char *err, size_t errlen);

/* Makes the checks that span keys, computes the memory pools and checks them against the
 * machine. Call it after the last set and before the runtime reads anything; a later set
 * undoes it. Returns 0 or -EINVAL. */
int weir_config_resolve(weir_config *c, char *err, size_t errlen);

/* Getters take a canonical name or an alias. An unknown key, or a key of another type, is a
 * programming error: they print it and abort. memory.task.heap.size, memory.managed.size and
 * memory.process.size read the derived values after resolve; an unset size with no default
 * reads 0 before it. get_double reads double and fraction keys; get_str string and enum keys
 * (never NULL; "" when unset). */
int64_t weir_config_get_int(const weir_config *c, const char *key);
uint64_t weir_config_get_size(const weir_config *c, const char *key); /* bytes */
int64_t weir_config_get_duration_ms(const weir_config *c, const char *key);
double weir_config_get_double(const weir_config *c, const char *key);
bool weir_config_get_bool(const weir_config *c, const char *key);
const char *weir_config_get_str(const weir_config *c, const char *key);
/* An enum key's value as the index of its word in the key's word list ("auto|always|never"). */
int weir_config_get_enum(const weir_config *c, const char *key);
/* True when the key was given by a file or -D (not a default, not derived). */
bool weir_config_is_set(const weir_config *c, const char *key);

/* The five pools, in bytes. process is P; the pools add up to at most P. */
struct weir_memory_pools {
    uint64_t process, framework, task_heap, managed, network, overhead;
};

/* The pools computed by the last successful resolve; aborts when there was none. */
const struct weir_memory_pools *weir_config_pools(const weir_config *c);

/* Every key in table order, one per line, as YAML that loads back: the resolved value and a
 * comment with its source, "(default)", "(file) PATH:LINE", "(-D)" or "(derived)". Keys that
 * are derived or unset are printed commented out, so that loading the output pins nothing
 * the model would have derived. */
void weir_config_print(const weir_config *c, FILE *out);

/* The table of pools printed at start. */
void weir_config_print_pools(const weir_config *c, FILE *out);

/* For tests: the machine memory limit resolve checks against, in bytes, instead of the one
 * detected (0 goes back to detecting). */
void weir_config_set_machine_limit_for_test(weir_config *c, uint64_t bytes);

/* The memory this process may use: physical memory, or the memory cgroup's limit when that is
 * smaller. from gets a short description of where the number came from ("physical memory",
 * "cgroup /sys/fs/cgroup/memory.max"). Honors WEIR_TEST_MEMORY_LIMIT. Returns 0 or negative
 * errno. */
int weir_machine_memory_limit(uint64_t *bytes, char *from, size_t fromlen);

/* Units, for reuse by anything that reads a size or a duration from a person. Each returns 0,
 * -EINVAL for text that is not a size/duration, or -ERANGE when it overflows. A duration that
 * is not a whole number of milliseconds is -EDOM for the _ms form. */
int weir_parse_size(const char *text, uint64_t *bytes);
int weir_parse_duration_ms(const char *text, int64_t *ms);
int weir_parse_duration_ns(const char *text, int64_t *ns);
/* "1.500 GiB", "128.000 MiB", "512 B". Returns 0, or -ENOSPC when buf was too short (it still
 * holds a terminated prefix), -EINVAL when buf is NULL or len is 0. */
int weir_format_size(uint64_t bytes, char *buf, size_t len);
/* A Prometheus port setting as Flink writes it: "9249", "9249-9259", or "0" for off (lo = hi
 * = 0). Returns 0 or -EINVAL. */
int weir_parse_port_range(const char *text, unsigned *lo, unsigned *hi);

/* ---- The key table ----------------------------------------------------------------------
 * Every key weir knows is one row of weir_config_keys[] in core/src/config/keys.c; adding a
 * key is adding a row. The default is text, parsed by the same code as a person's value, so a
 * default can never be something a person could not write. */
enum weir_config_type {
    WEIR_CONFIG_INT,      /* int64; min..max */
    WEIR_CONFIG_SIZE,     /* bytes; min..max (max 0: no upper bound) */
    WEIR_CONFIG_DURATION, /* milliseconds; min..max (max 0: no upper bound) */
    WEIR_CONFIG_DOUBLE,   /* any finite double */
    WEIR_CONFIG_FRACTION, /* double in [0, 1) */
    WEIR_CONFIG_BOOL,
    WEIR_CONFIG_STRING, /* checked by check() when it is not NULL */
    WEIR_CONFIG_ENUM,   /* one of words, '|'-separated, any case */
};

#define WEIR_CONFIG_POW2 0x1u /* int or size: must be a power of two */
#define WEIR_CONFIG_SECRET 0x2u /* string: printed as "****" when set */

struct weir_config_key {
    const char *name;
    enum weir_config_type type;
    const char *def;                 /* default as text; NULL: none (derived or off) */
    const char *aliases[4];          /* other names, NULL-terminated; printing uses name */
    int64_t min, max;                /* int, size, duration bounds */
    unsigned flags;                  /* WEIR_CONFIG_POW2, WEIR_CONFIG_SECRET */
    const char *words;               /* enum: "auto|always|never" */
    int (*check)(const char *value); /* string: 0 when well-formed */
    const char *expect;              /* string: what a good value looks like, for errors */
    const char *doc;                 /* one line */
};

extern const struct weir_config_key weir_config_keys[];
extern const size_t weir_config_key_count;

/* The row for a canonical name or an alias; NULL when unknown. */
const struct weir_config_key *weir_config_key_find(const char *name);

#ifdef __cplusplus
}
#endif
#endif
