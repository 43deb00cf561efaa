/*
 * What the configuration files share. Not part of the API (weir/config.h is).
 *
 *   config.c  the weir_config object: values as given (parse, reset), new/free, set and -D,
 *             getters, print
 *   units.c   sizes, durations, port ranges and fractions as Flink writes them
 *   keys.c    the table of keys, lookup by name or alias, the nearest-key suggestion
 *   parse.c   the YAML loader (nested mappings flattened to dotted keys, aliases)
 *   pools.c   resolve: cross-key checks, the memory pools, the machine/cgroup limit, the
 *             pool table
 *
 * Every value is parsed once, when it is given, into a struct value that keeps both the
 * number and the text the person wrote; errors quote the text, print shows the number in a
 * canonical unit.
 */
#ifndef WEIR_CONFIG_PRIVATE_H
#define WEIR_CONFIG_PRIVATE_H

#include <weir/errbuf.h>
#include <weir/config.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PPQ_ONE     1000000000000000000ull /* fractions are kept in parts per 10^18 */
#define MAX_KEY_LEN 512
/* The largest size and duration a key without its own maximum takes. Sizes stay within the
 * signed types (off_t, ssize_t) they end up in; durations stay within int64 nanoseconds, with
 * room to add them to a clock reading (18446744073710ms read as nanoseconds was 448 us). */
#define CONFIG_SIZE_MAX        (1ull << 62)                 /* 4194304t, 4 EiB */
#define CONFIG_DURATION_MAX_MS (36500ll * 24 * 3600 * 1000) /* 36500 d, 100 years */
#define MAX_YAML_DEPTH         32
#define MAX_YAML_BYTES         (4u << 20) /* a configuration file */
/* Keys a file may hold once aliases are expanded: some hundred times the table's size. */
#define MAX_YAML_EXPANDED 10000

enum source { SRC_UNSET, SRC_DEFAULT, SRC_FILE, SRC_CMDLINE, SRC_DERIVED };

struct value {
    int64_t i;     /* int, duration (ms), bool (0/1), enum (index of the word) */
    uint64_t size; /* size in bytes */
    double d;      /* double, fraction */
    uint64_t ppq;  /* fraction, exactly as written in decimal, truncated past 18 digits */
    char *text;    /* as given, trimmed; owned */
};

struct entry {
    enum source src;
    struct value v;
    char *file; /* SRC_FILE: the path, owned */
    int line;
    unsigned seen_gen; /* the weir_config_load_file call that last named the key */
    int seen_line;
    const char *seen_as; /* the name it was given under in that file (table string) */
};

struct weir_config {
    struct entry *e; /* one per row of weir_config_keys */
    unsigned gen;
    bool resolved;
    bool process_derived;
    uint64_t unused; /* bytes of P no pool got (task heap set explicitly) */
    uint64_t test_limit;
    struct weir_memory_pools pools;
};

/* Internal functions bind inside libweir and are not exported. */
#pragma GCC visibility push(hidden)

/* ---- config.c */

/* s in double quotes, on one line and of bounded length, for error messages; returns buf. */
const char *config_quote(const char *s, char *buf, size_t len);
/* A caller's bug (unknown key, wrong type, NULL config): one line on stderr, then abort. */
_Noreturn void config_misuse(const char *fn, const char *key, const char *what);
/* The index of k in weir_config_keys, and so of its entry in c->e. */
size_t config_key_index(const struct weir_config_key *k);
/* "expected ..." for a key, the part of an error after the value. */
void config_expectation(const struct weir_config_key *k, char *buf, size_t len);
void config_entry_clear(struct entry *e);
/* Back to the embedded default (or unset when the key has none); -ENOMEM or 0. */
int config_entry_reset(struct entry *e, const struct weir_config_key *k);
/* Sets a key from text, remembering where it came from; a -D value wins over a file's. */
int config_set_from(weir_config *c, const struct weir_config_key *k, const char *value,
                    enum source src, const char *file, int line, char *err, size_t errlen);

/* ---- units.c */

const char *config_skip_space(const char *s);
/* Exact size text in the largest unit that divides it, as Flink would accept it back. */
void config_canonical_size(uint64_t b, char *buf, size_t len);
/* A duration in the largest unit that divides it: "5 min", "100 ms". */
void config_canonical_duration(int64_t ms, char *buf, size_t len);
/* A decimal number as Java's Double.parseDouble reads one; see units.c. */
int config_parse_decimal(const char *s, double *d, uint64_t *ppq, bool *ge_one);

/* ---- keys.c */

/* The a-th spelling of key k: its name for 0, then its aliases; NULL past the last. */
const char *config_key_spelling(const struct weir_config_key *k, size_t a);

/* "unknown key ..." with the nearest known key when one is near enough. */
/* The YAML loader behind weir_config_load_file, reading an open stream (a file, or a buffer
 * through fmemopen for tests/fuzz/fuzz_config.c); path names it in errors. */
int config_load_stream(weir_config *c, FILE *f, const char *path, char *err, size_t errlen);
void config_unknown_key(const char *name, char *err, size_t errlen);

#pragma GCC visibility pop

#endif
