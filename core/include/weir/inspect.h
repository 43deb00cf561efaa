/*
 * Reading a checkpoint or savepoint without running its job: what `weir inspect PATH`
 * prints (tools/inspect.c). Flink needs a Java program on the State Processor API for this.
 */
#ifndef WEIR_INSPECT_H
#define WEIR_INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct weir_inspect_opts {
    /* has_key: also give the value of key in every keyed state named state (NULL: any) */
    bool has_key;
    uint64_t key;
    const char *state;
    /* n_config "key=value" settings for the scratch backends the state is read into, e.g.
     * memory.task.heap.size for a subtask's state larger than its default */
    const char *const *config;
    size_t n_config;
};

/* Reads the checkpoint or savepoint directory at path (chk-N, a savepoint, a local-recovery
 * copy; an incremental one finds its shared files in ../shared), verifies every checksum
 * (state files, shared files, _metadata) and whether each state file is what _metadata says,
 * then restores each keyed subtask into a scratch backend of the kind that reads its format
 * (an incremental RocksDB one into a RocksDB instance under $TMPDIR, removed after) to count
 * it. *json gets a JSON document (free() it):
 *
 *   {"path", "job", "checkpoint_id", "savepoint", "timestamp_ms", "max_parallelism",
 *    "checksums_verified": true, "files", "bytes", "shared": [{"name", "bytes"}],
 *    "operators": [{"uid", "parallelism", "keyed", "key_groups_per_subtask", "backend",
 *                   "bytes", "operator_state_bytes", "timers": {"event_time",
 *                   "processing_time"}, "states": [{"name", "kind", "entries", "bytes"}],
 *                   "subtasks": [{"subtask", "file", "bytes", "backend", "status",
 *                                 "key_groups": [first, last], "operator_state_bytes",
 *                                 "operator_state_hex", "operator_state_items" (list
 *                                 state only), "operator_state_kind",
 *                                 "operator_state_decoded" (see below), "timers",
 *                                 "states"}]}],
 *    "lookup": {"key", "state", "key_group", "found", "values": [{"operator", "subtask",
 *               "state", "namespace", "user_key_hex", "hex", "text"}]}}   (has_key only)
 *
 * An entry's bytes are those of its key, namespace, user key and value. Returns 0; -ENOENT,
 * -ENOTDIR or -EINVAL (an s3:// URL) when path is not a checkpoint (no such directory, no
 * _metadata); -EBADMSG when a file is damaged or missing (err: the file and the check that
 * failed); -EINVAL for a setting of opts->config the scratch backends refuse; another negative
 * errno. err gets one line, which names the file at fault where one is. */
int weir_checkpoint_inspect(const char *path, const struct weir_inspect_opts *opts, char **json,
                            char *err, size_t errlen);

/* A connector's operator state, decoded for inspect: a state file records the kind of the
 * operator that wrote it (its ops' .kind), and inspect asks the decoder registered for that
 * kind to turn each item of its list state into a JSON object (a subtask's
 * "operator_state_kind" and "operator_state_decoded": [objects]); a kind without a decoder,
 * or a state file from before kinds were recorded, is shown as bytes only. The decoder
 * returns 0 and sets *out, or -EBADMSG with what is wrong with the item in err (one line). */
struct json_t;
typedef int (*weir_state_decoder)(const void *item, size_t len, struct json_t **out, char *err,
                                  size_t errlen);
/* Registers fn for kind (the built-in connectors register theirs on first use); -EEXIST when
 * kind has one, -ENOSPC when the table is full. */
int weir_inspect_register_decoder(const char *kind, weir_state_decoder fn);
/* The decoder of kind, NULL when none. */
weir_state_decoder weir_inspect_decoder(const char *kind);

#ifdef __cplusplus
}
#endif
#endif
