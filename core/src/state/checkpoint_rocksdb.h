/* Incremental RocksDB checkpoints: see rocksdb_incremental.c. Internal. */
#ifndef WEIR_CHECKPOINT_ROCKSDB_H
#define WEIR_CHECKPOINT_ROCKSDB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <weir/state.h>
#include <weir/storage.h>

#define TAG_ROCKS_SHARED (4ull << 32)
#define TAG_ROCKS_FILE   (5ull << 32)
#define TAG_ROCKS_STATES (6ull << 32) /* the states' names and ids (rocksdb_names.c) */

/* Shared file names a checkpoint's subtasks added, for its _metadata. */
struct rocks_shared_list {
    pthread_mutex_t lock;
    char **names;
    size_t n, cap;
    _Atomic uint64_t new_bytes; /* SST bytes the storage did not hold before */
};

bool rocks_incremental_applies(weir_keyed_backend *be);
/* Writes be's instance into f as shared SSTs plus small files; *tmp_dir (hard
 * links) must be removed once the checkpoint has settled. *new_bytes grows by the bytes of
 * the SSTs the storage did not hold yet (the subtask's share of the checkpoint's size). */
int rocks_incremental_snapshot(weir_storage *st, weir_keyed_backend *be, weir_ckpt *ck,
                               weir_ckpt_file *f, const char *file_base, uint64_t id,
                               char **tmp_dir, struct rocks_shared_list *shared,
                               uint64_t *new_bytes);
bool rocks_file_is_incremental(weir_restore_file *f);
int rocks_incremental_restore(weir_keyed_backend *be, weir_restore *r, weir_restore_file *f,
                              uint32_t first, uint32_t last, char *err, size_t errlen);
/* Entries a restore took from a checkpointed instance into a live one that held state
 * already (key groups of another parallelism: written into an SST that the live one
 * ingests), over the process; tests read it. */
extern _Atomic uint64_t rocks_restore_entries_copied;
/* SST files restores ingested (rdb_ingest_file: a full snapshot's key groups, and the key
 * groups above), over the process; tests read it. */
extern _Atomic uint64_t rdb_restore_ssts_ingested;
/* rocksdb_names.c: the TAG_ROCKS_STATES section of be's states, written with its instance;
 * read back, each state matched by name to one of be (registered when the job has not
 * declared it yet; -EINVAL with the line in why when it declares it with another kind or
 * size). *map gets, sorted by the new key bytes, each state's key bytes (id | TTL_BIT) in
 * the checkpoint and in be; NULL (and *n 0) when every state keeps its own, or the file
 * predates the section: the instance is then used as it is. */
struct rocks_sid_map {
    uint16_t from, to;
};
int rocks_states_write(weir_ckpt_file *f, const weir_keyed_backend *be);
int rocks_states_read(weir_keyed_backend *be, weir_restore_file *f, struct rocks_sid_map **map,
                      size_t *n, char *why, size_t whylen);
int rocks_shared_list_add(struct rocks_shared_list *l, const char *name);
void rocks_shared_list_free(struct rocks_shared_list *l);
void rocks_rm_rf(const char *dir);

#endif
