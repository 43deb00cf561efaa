/*
 * Test hooks of the checkpoint module (checkpoint.h: struct chk_test_hooks).
 * chk_test_hooks stays NULL in production. The crash tests drive the weir
 * binary through the environment, read here once, when the process starts:
 *
 *   WEIR_CRASH_POINT=snapshot:N  SIGKILL in the middle of a task's snapshot
 *       for the Nth checkpoint this run takes (after its first state file
 *       went to the io thread)
 *   WEIR_CRASH_POINT=commit:N    SIGKILL right after that checkpoint's
 *       _metadata was handed to the io thread, while it is being written
 *       (N counts this run's checkpoints from its first id: after a restore
 *       from chk-K, K + 1 or the checkpoint directory's next id if larger)
 *   WEIR_TEST_CKPT_WRITE_ERROR=N the Nth checkpoint write fails with ENOSPC,
 *       as a full disk would
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/storage_test_hooks.h>

#include "checkpoint.h"

const struct chk_test_hooks *chk_test_hooks;

static char crash_where[16];
static uint64_t crash_nth; /* 0: no crash point */
static uint64_t crash_id;  /* the Nth checkpoint's id in this run */
static unsigned write_error_nth;

static void crash_point(const char *where, uint64_t id)
{
    if (crash_id && id == crash_id && !strcmp(where, crash_where)) {
        fprintf(stderr, "weir: WEIR_CRASH_POINT %s:%llu reached: SIGKILL\n", where,
                (unsigned long long)id);
        raise(SIGKILL);
    }
}

static void storage_opened(weir_storage *s, uint64_t next_id)
{
    if (crash_nth)
        crash_id = next_id + crash_nth - 1;
    if (write_error_nth)
        weir_storage_fail_write_for_test(s, write_error_nth, -ENOSPC);
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
    .snapshot_submitted = snapshot_submitted,
    .commit_submitted = commit_submitted,
};

__attribute__((constructor)) static void hooks_from_env(void)
{
    const char *cp = getenv("WEIR_CRASH_POINT");
    if (cp && sscanf(cp, "%15[a-z]:%" SCNu64, crash_where, &crash_nth) != 2)
        crash_nth = 0;
    const char *we = getenv("WEIR_TEST_CKPT_WRITE_ERROR");
    if (we && atoi(we) > 0)
        write_error_nth = (unsigned)atoi(we);
    if (crash_nth || write_error_nth)
        chk_test_hooks = &env_hooks;
}
