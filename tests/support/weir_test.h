/*
 * The test harness every test program links (library weir_test_support, sources
 * the .c files of tests/support): scratch directories, configs from key=value pairs, running a job,
 * a sink that collects what a job emits, a source that plays a script of records and
 * watermarks. One prefix, wt_, as liburing's test/helpers.h uses t_.
 *
 * Functions that can fail end the running cmocka test with fail_msg() and a one-line
 * reason, so a test reads as what it does:
 *
 *   static const struct wt_ev ev[] = {WT_D(1, 7, 10, 1), WT_D(4, 7, 5, 2), WT_W(10)};
 *   struct wt_script sc = WT_SCRIPT(ev);
 *   wt_collect_reset();
 *   weir_job *job = weir_job_new("sum");
 *   weir_stream *k = weir_key_by(wt_script_source(job, "src", &sc), wt_key_of);
 *   wt_collect(weir_window_aggregate(k, "sum", weir_tumbling(10), &weir_agg_sum,
 *                                    wt_value_of, NULL), "out", 0);
 *   wt_run_ok(job, NULL, &(struct wt_run){.backend = "rocksdb", .parallelism = 2}, NULL);
 *   assert_int_equal(wt_collected(0), 1);
 *   weir_job_free(job);
 *
 * Include it after <setjmp.h>, <stdarg.h> and <stddef.h>, as cmocka wants; it includes
 * <cmocka.h> itself.
 */
#ifndef WEIR_TEST_H
#define WEIR_TEST_H

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>

#include <weir/config.h>
#include <weir/weir.h>

/* ---- scratch directories --------------------------------------------------------------- */

/* $WEIR_TEST_TMP (ctest sets it to <build>/test-tmp), or /tmp; created when missing. */
const char *wt_tmp_root(void);
/* A new empty directory <root>/<tag>-<pid>-XXXXXX. It and everything in it is removed when
 * the test program exits (not by a forked child); the string lives until then. */
const char *wt_tmp_dir(const char *tag);
/* Writes text to name in this program's scratch directory and returns the path, valid until
 * the next call. */
const char *wt_tmp_file(const char *name, const char *text);
/* rm -rf path; quiet when it does not exist. */
void wt_rm_tree(const char *path);

/* ---- randomness ------------------------------------------------------------------------ */

/* The next number of the splitmix64 sequence in *state: the same from a seed on any libc. */
uint64_t wt_rand(uint64_t *state);
/* $WEIR_TEST_SEED when set (to replay a failure), else def. */
uint64_t wt_seed(uint64_t def);
/* $WEIR_TEST_OPS when set (a property test's length), else def. */
uint64_t wt_ops(uint64_t def);

/* ---- suite fixtures (tools/s3proxy.sh, tools/kafka.sh) ---------------------------------- */

/* Loads $state_var/env into the environment, or exits 77 with the fixture's reason when it
 * could not start its server (STATE/skip), or when state_var is unset (not run by ctest);
 * exits 1 when the fixture ran and left no env. fixture and script name it in the lines. */
void wt_fixture_env(const char *state_var, const char *fixture, const char *script);

/* ---- configs --------------------------------------------------------------------------- */

/* A NULL-terminated list of "key=value" settings, as a compound literal. */
#define WT_DEFS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* A new config with the Prometheus endpoint off (tests run side by side) and each
 * "key=value" of defs (NULL-terminated, may be NULL) set; not resolved yet. */
weir_config *wt_config_new(const char *const *defs);
/* Sets one "key=value", formatted like printf. */
void wt_config_set(weir_config *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void wt_config_resolve(weir_config *c);
/* wt_config_new(defs), resolved. */
weir_config *wt_config(const char *const *defs);

/* ---- running a job --------------------------------------------------------------------- */

struct wt_run {
    int parallelism; /* 0: 1 */
    /* When wt_run builds the config (cfg == NULL): state.backend ("hashmap", "rocksdb"),
     * with RocksDB's local directory in a scratch directory; NULL: the default backend. */
    const char *backend;
    const char *const *defs; /* more "key=value" settings, NULL-terminated; cfg == NULL only */
    const char *restore_from;
    bool allow_non_restored_state;
    void (*on_checkpoint)(void *arg, const struct weir_checkpoint_event *ev);
    void *on_checkpoint_arg;
};

/* Runs job quietly on cfg, or, when cfg is NULL, on a config built from o (see struct
 * wt_run) and freed after. o and st may be NULL. Returns weir_job_run's result. */
int wt_run(weir_job *job, weir_config *cfg, const struct wt_run *o, struct weir_run_stats *st,
           char *err, size_t errlen);
/* wt_run, failing the test with the job's error unless the job built and ran cleanly. */
void wt_run_ok(weir_job *job, weir_config *cfg, const struct wt_run *o, struct weir_run_stats *st);

/* The key of a weir_source_datagen record. */
uint64_t wt_datagen_key(const weir_rec *r);

/* ---- the collect sink ------------------------------------------------------------------ */

#define WT_COLLECTORS 12  /* collectors 0 .. WT_COLLECTORS - 1, one per sink of a test job */
#define WT_OUT_MAX    256 /* a larger record fails the sink with -EMSGSIZE */

/* One thing a collector received. */
struct wt_out {
    int64_t ts;      /* the record's timestamp, or the watermark */
    int subtask;     /* the sink subtask that received it */
    int parallelism; /* the sink's parallelism */
    bool watermark;  /* a watermark (wt_collect_with_watermarks only), no payload */
    uint32_t len;
    _Alignas(8) unsigned char data[WT_OUT_MAX]; /* the payload, aligned as in a record */
};

/* Empties every collector and forgets their settings. */
void wt_collect_reset(void);
/* Sinks in into collector c (thread-safe: any parallelism). */
weir_stream *wt_collect(weir_stream *in, const char *uid, int c);
/* Also keeps the watermarks the sink sees, in order with the records. */
weir_stream *wt_collect_with_watermarks(weir_stream *in, const char *uid, int c);
/* Makes collector c a slow consumer: it sleeps us microseconds every `every` records. */
void wt_collect_slow(int c, unsigned every, unsigned us);
/* How many entries collector c holds (callable while the job runs). */
size_t wt_collected(int c);
/* How many of them subtask received. */
size_t wt_collected_by(int c, int subtask);
/* Entry i of collector c, in arrival order until wt_collect_sort. */
const struct wt_out *wt_out(int c, size_t i);
/* Orders collector c by cmp (NULL: wt_out_cmp). */
void wt_collect_sort(int c, int (*cmp)(const void *, const void *));
/* By length, payload bytes, then timestamp: a canonical order for comparing outputs. */
int wt_out_cmp(const void *a, const void *b);
/* Hands collector c's entries to the caller (free() them) and empties it. */
struct wt_out *wt_collect_take(int c, size_t *n);

/* ---- the weir command ------------------------------------------------------------------ */

/* $WEIR, the weir command ctest names; exits 77 (skip) when it is not set. */
const char *wt_weir_cmd(void);
/* Starts argv (argv[0] the command) in a child with stdout and stderr into log (emptied
 * before this returns, so polling it shows only the new run)
 * and WEIR_CRASH_POINT set to crash_point, or unset when it is NULL. Returns the pid. */
pid_t wt_weir_start(const char *const *argv, const char *log, const char *crash_point);
/* Waits for pid to end, SIGKILLing it first after kill_after_ms when that is > 0. Returns
 * its wait status. */
int wt_weir_wait(pid_t pid, int kill_after_ms);

/* ---- stop-with-savepoint (stop.c) ----------------------------------------------------- */

/* A thread that asks job to stop with a savepoint into dir (NULL: state.savepoints.dir)
 * after_ms after wt_stopper_start, or after *ready became nonzero when ready is set (the test
 * sets it once the job has made progress: a loaded machine may take long to start it),
 * retrying while the run has not started, then waits until the stop settles: rc is
 * weir_job_stop_with_savepoint's, state and result its end. */
struct wt_stopper {
    const char *dir;
    bool drain;
    int after_ms;
    const _Atomic int *ready;
    weir_job *job;
    int rc;
    enum weir_stop_state state;
    char result[4096];
    pthread_t thread;
};
void wt_stopper_start(struct wt_stopper *s, weir_job *job);
/* Joins the thread; fails the test unless the stop was asked for. */
void wt_stopper_join(struct wt_stopper *s);
/* Fails the test, saying why, unless the stop completed (result: the savepoint's path). */
void wt_stopper_completed(const struct wt_stopper *s);

/* ---- the best-value sink --------------------------------------------------------------- */

/* A sink (weir_sink(s, "best", &wt_best_ops, NULL)) of struct weir_datagen_rec that keeps
 * the largest value each key reached and which keys came; keys below the count given to
 * wt_best_reset (a larger key fails the task). Safe at any parallelism. */
extern const struct weir_operator_ops wt_best_ops;
/* Forgets everything; keys 0 .. keys - 1 may come next. */
void wt_best_reset(size_t keys);
/* The largest value key reached (0: none yet). */
uint64_t wt_best(uint64_t key);
/* How many keys have come. */
size_t wt_best_seen_keys(void);

/* ---- the scripted source --------------------------------------------------------------- */

/* The payload of every scripted record. */
struct wt_rec {
    uint64_t key;
    int64_t value;
    uint64_t id;
    uint32_t side; /* 0: stream a, 1: stream b (joins) */
    uint32_t pad;
};

enum wt_ev_kind { WT_EV_DATA, WT_EV_WM, WT_EV_SLEEP, WT_EV_WAIT };

/* One step of a script. */
struct wt_ev {
    enum wt_ev_kind kind;
    int64_t ts;      /* data: timestamp; watermark: the watermark; sleep: ms; wait: count */
    struct wt_rec r; /* data; wait: r.key = the collector */
};

/* WT_D(ts, key, value, id): a record of stream a (the only stream of one-input tests);
 * WT_DB: a record of stream b; WT_W(wm): a watermark; WT_SLEEP(ms): a pause; WT_WAIT(c, n):
 * waits (at most 20 s) until collector c holds n entries, i.e. an operator has acted on
 * everything before, for tests whose outcome would otherwise depend on when a second input's
 * watermark arrives. */
#define WT_D(ts_, key_, val_, id_)                                                                 \
    {                                                                                              \
        .kind = WT_EV_DATA, .ts = (ts_), .r = {.key = (key_), .value = (val_), .id = (id_) }       \
    }
#define WT_DB(ts_, key_, val_, id_)                                                                \
    {                                                                                              \
        .kind = WT_EV_DATA, .ts = (ts_), .r = {                                                    \
            .key = (key_),                                                                         \
            .value = (val_),                                                                       \
            .id = (id_),                                                                           \
            .side = 1                                                                              \
        }                                                                                          \
    }
#define WT_W(ts_)                                                                                  \
    {                                                                                              \
        .kind = WT_EV_WM, .ts = (ts_)                                                              \
    }
#define WT_SLEEP(ms_)                                                                              \
    {                                                                                              \
        .kind = WT_EV_SLEEP, .ts = (ms_)                                                           \
    }
#define WT_WAIT(c_, n_)                                                                            \
    {                                                                                              \
        .kind = WT_EV_WAIT, .ts = (n_), .r = {.key = (c_) }                                        \
    }

struct wt_script {
    const struct wt_ev *ev;
    size_t n;
};
#define WT_SCRIPT(arr) ((struct wt_script){.ev = (arr), .n = sizeof(arr) / sizeof((arr)[0])})

/* A source of one subtask playing sc (which must outlive the run): each key's records and
 * the watermarks reach their keyed subtask in script order, whatever the parallelism
 * downstream. */
weir_stream *wt_script_source(weir_job *job, const char *uid, const struct wt_script *sc);

/* The payload of a scripted record, and its fields. */
const struct wt_rec *wt_rec_of(const weir_rec *r);
uint64_t wt_key_of(const weir_rec *r);
int64_t wt_value_of(const weir_rec *r);
/* The payload of entry i of collector c as a scripted record. */
const struct wt_rec *wt_out_rec(int c, size_t i);

/* --- shared operators (ops.c) ------------------------------------------------------------ */

/* A keyed operator that counts records per key in the value state "n" and forwards each. */
extern const struct weir_operator_ops wt_count_per_key_ops;
/* Over weir_datagen_rec records: the keyed running sum of seq in the value state "sum",
 * emitted as (key, sum) after each record. */
extern const struct weir_operator_ops wt_sum_per_key_ops;

/* --- numbered lines (lines.c) ----------------------------------------------------------- */

/* A file of lines "line-00000" .. under wt_tmp_dir(tag); its path (static, until the next call). */
const char *wt_lines_file(const char *tag, int lines);
/* Adds each committed line of dir (its part-* files, not the hidden in-progress or pending
 * ones) to seen[n] for "line-n", saturating at 255; returns how many lines are malformed or
 * out of 0 .. lines-1. */
size_t wt_count_committed_lines(const char *dir, unsigned char *seen, int lines);
/* Calls fn with each line (newline kept) of dir's committed part files (part-*, not the
 * hidden in-progress or pending ones) and the file's path. */
void wt_committed_lines(const char *dir, void (*fn)(const char *path, const char *line, void *arg),
                        void *arg);
/* Fails the test unless dir's committed output holds every line 0 .. lines-1 exactly once,
 * and nothing else. */
void wt_assert_lines_once(const char *dir, int lines);

#endif
