/*
 * @internal Test hooks of checkpoint storage: failures and stalls injected into the io
 * thread, as a full disk, a failing fsync, a hanging disk or a filesystem that refuses
 * O_DIRECT would cause them. Tests include this header; the engine only for its
 * WEIR_TEST_CKPT_WRITE_ERROR crash test. Not part of the installed API.
 *
 *     weir_storage_fail_write_for_test(st, 3, -ENOSPC); // the 3rd write from now fails
 *     weir_storage_fail_ckpts_for_test(st, 4, 6, -EROFS); // chk-4 to chk-6 fail
 */
#ifndef WEIR_STORAGE_TEST_HOOKS_H
#define WEIR_STORAGE_TEST_HOOKS_H

#include <stdbool.h>
#include <stdint.h>

#include <weir/storage.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Tests: the nth io_uring data write from now (1 = the next) completes with err, e.g.
 * -ENOSPC; fsync_err != 0 makes the next file fsync fail with it. 0 turns them off. */
void weir_storage_fail_write_for_test(weir_storage *s, unsigned nth, int err);
void weir_storage_fail_fsync_for_test(weir_storage *s, int fsync_err);
/* Tests: every checkpoint (not savepoint) whose id is in [first_id, last_id] fails with err,
 * as a checkpoint directory that is read-only or full for a moment would fail it: -EROFS
 * when its chk-N directory is made, any other err (-ENOSPC) when its _metadata is written,
 * after its state files. first_id 0 turns it off. */
void weir_storage_fail_ckpts_for_test(weir_storage *s, uint64_t first_id, uint64_t last_id,
                                      int err);
/* Tests: the io thread takes no new request while stalled (as when the disk hangs). */
void weir_storage_stall_for_test(weir_storage *s, bool stalled);
/* Tests: opening with O_DIRECT fails with EINVAL, as on a filesystem that refuses it. */
void weir_storage_refuse_direct_for_test(weir_storage *s);

#ifdef __cplusplus
}
#endif
#endif
