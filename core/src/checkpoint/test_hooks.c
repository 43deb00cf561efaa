/*
 * Test hooks of the checkpoint module (checkpoint.h: struct chk_test_hooks).
 * chk_test_hooks stays NULL in production. The crash tests drive the weir
 * binary through the environment, read here once, when the process starts.
 * "The Nth checkpoint" counts the checkpoints this process begins (not
 * savepoints), whatever their ids: a run restored into another
 * state.checkpoints.dir continues the restored ids, and in-process restarts
 * go on counting.
 *
 *   WEIR_CRASH_POINT=snapshot:N  SIGKILL in the middle of a task's snapshot
 *       for the Nth checkpoint (after its first state file went to the io
 *       thread)
 *   WEIR_CRASH_POINT=commit:N    SIGKILL right after the Nth checkpoint's
 *       _metadata was handed to the io thread, while it is being written
 *   WEIR_CRASH_POINT=completed:N SIGKILL once the Nth checkpoint's _metadata is
 *       durable, before any task hears of it: two-phase-commit sinks have staged
 *       its output and not committed it (the Kafka sink's hard case)
 *   WEIR_TEST_CKPT_WRITE_ERROR=N the Nth checkpoint write fails with ENOSPC,
 *       as a full disk would
 *   WEIR_TEST_CKPT_FAULT=ERR:N:K the Nth to the (N+K-1)th checkpoints fail,
 *       as a checkpoint directory that is read-only (ERR erofs: making chk-ID
 *       fails) or full (ERR enospc: writing its _metadata fails) for a moment
 *   WEIR_TEST_CKPT_FAULT=ERR:final:K the first K final checkpoints (the one a
 *       run takes at end of input) fail so
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/storage_test_hooks.h>

#include "checkpoint.h"

const struct chk_test_hooks *chk_test_hooks;

static char crash_where[16];
static uint64_t crash_nth;        /* 0: no crash point */
static _Atomic uint64_t crash_id; /* the Nth checkpoint's id, once begun */
static unsigned write_error_nth;
static uint64_t fault_first, fault_count; /* fault_count 0: no fault window */
static bool fault_final;                  /* the window counts final checkpoints */
static int fault_err;
/* checkpoints, and final ones, begun in this process (the coordinator's thread) */
static uint64_t begun, finals_begun;

static void crash_point(const char *where, uint64_t id)
{
    uint64_t at = atomic_load(&crash_id);
    if (at && id == at && !strcmp(where, crash_where)) {
        fprintf(stderr, "weir: WEIR_CRASH_POINT %s:%llu reached: SIGKILL\n", where,
                (unsigned long long)id);
        raise(SIGKILL);
    }
}

static void storage_opened(weir_storage *s, uint64_t next_id)
{
    if (write_error_nth)
        weir_storage_fail_write_for_test(s, write_error_nth, -ENOSPC);
}

static void checkpoint_begin(weir_storage *s, uint64_t id, bool final)
{
    begun++;
    finals_begun += final;
    if (crash_nth && begun == crash_nth)
        atomic_store(&crash_id, id);
    bool hit = fault_final ? final && finals_begun <= fault_count
                           : begun >= fault_first && begun - fault_first < fault_count;
    if (fault_count && hit) {
        fprintf(stderr, "weir: WEIR_TEST_CKPT_FAULT: checkpoint %llu fails with %s\n",
                (unsigned long long)id, strerror(-fault_err));
        weir_storage_fail_ckpts_for_test(s, id, id, fault_err);
    } else if (fault_count) {
        weir_storage_fail_ckpts_for_test(s, 0, 0, 0);
    }
}

static void snapshot_submitted(uint64_t id)
{
    crash_point("snapshot", id);
}

static void commit_submitted(uint64_t id)
{
    crash_point("commit", id);
}

static void checkpoint_completed(uint64_t id)
{
    crash_point("completed", id);
}

static const struct chk_test_hooks env_hooks = {
    .storage_opened = storage_opened,
    .checkpoint_begin = checkpoint_begin,
    .snapshot_submitted = snapshot_submitted,
    .commit_submitted = commit_submitted,
    .checkpoint_completed = checkpoint_completed,
};

static void fault_from_env(const char *v)
{
    if (!v)
        return;
    char what[16] = "";
    if (sscanf(v, "%15[a-z]:final:%" SCNu64, what, &fault_count) == 2)
        fault_final = true;
    else if (sscanf(v, "%15[a-z]:%" SCNu64 ":%" SCNu64, what, &fault_first, &fault_count) != 3 ||
             !fault_first)
        fault_count = 0;
    fault_err = !strcmp(what, "erofs") ? -EROFS : !strcmp(what, "enospc") ? -ENOSPC : 0;
    if (!fault_err)
        fault_count = 0;
    if (!fault_count)
        fprintf(stderr,
                "weir: WEIR_TEST_CKPT_FAULT=%s: expected erofs|enospc:N:K or "
                "erofs|enospc:final:K; ignored\n",
                v);
}

__attribute__((constructor)) static void hooks_from_env(void)
{
    const char *cp = getenv("WEIR_CRASH_POINT");
    if (cp && sscanf(cp, "%15[a-z]:%" SCNu64, crash_where, &crash_nth) != 2)
        crash_nth = 0;
    const char *we = getenv("WEIR_TEST_CKPT_WRITE_ERROR");
    if (we && atoi(we) > 0)
        write_error_nth = (unsigned)atoi(we);
    fault_from_env(getenv("WEIR_TEST_CKPT_FAULT"));
    if (crash_nth || write_error_nth || fault_count)
        chk_test_hooks = &env_hooks;
}
