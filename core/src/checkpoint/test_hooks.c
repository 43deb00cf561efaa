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
 *   WEIR_TEST_CKPT_WRITE_ERROR=N the Nth checkpoint write fails with ENOSPC,
 *       as a full disk would
 *   WEIR_TEST_CKPT_FAULT=ERR:N:K the Nth to the (N+K-1)th checkpoints fail,
 *       as a checkpoint directory that is read-only (ERR erofs: making chk-ID
 *       fails) or full (ERR enospc: writing its _metadata fails) for a moment
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
static int fault_err;
static uint64_t begun; /* checkpoints begun in this process (the coordinator's thread) */

static void crash_point(const char *where, uint64_t id)
{
    uint64_t at = atomic_load(&crash_id);
    if (at && id == at && !strcmp(where, crash_where)) {
        fprintf(stderr, "weir: WEIR_CRASH_POINT %s:%llu reached: SIGKILL\n", where,
                (unsigned long long)id);
        raise(SIGKILL);
    }
}

static void storage_opened(weir_storage *s)
{
    if (write_error_nth)
        weir_storage_fail_write_for_test(s, write_error_nth, -ENOSPC);
}

static void checkpoint_begin(weir_storage *s, uint64_t id)
{
    begun++;
    if (crash_nth && begun == crash_nth)
        atomic_store(&crash_id, id);
    if (fault_count && begun >= fault_first && begun - fault_first < fault_count) {
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

static const struct chk_test_hooks env_hooks = {
    .storage_opened = storage_opened,
    .checkpoint_begin = checkpoint_begin,
    .snapshot_submitted = snapshot_submitted,
    .commit_submitted = commit_submitted,
};

static void fault_from_env(const char *v)
{
    char what[16];
    if (!v || sscanf(v, "%15[a-z]:%" SCNu64 ":%" SCNu64, what, &fault_first, &fault_count) != 3 ||
        !fault_first)
        fault_count = 0;
    else if (!strcmp(what, "erofs"))
        fault_err = -EROFS;
    else if (!strcmp(what, "enospc"))
        fault_err = -ENOSPC;
    else
        fault_count = 0;
    if (v && !fault_count)
        fprintf(stderr,
                "weir: WEIR_TEST_CKPT_FAULT=%s: expected erofs:N:K or enospc:N:K; "
                "ignored\n",
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
