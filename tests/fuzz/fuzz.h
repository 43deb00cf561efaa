/*
 * What the fuzz targets share (tests/fuzz/fuzz_*.c): a scratch directory per process, and the
 * checksum fix-up that lets mutated checkpoint files reach the parsers behind the checksums.
 *
 * Each fuzz_<target>.c defines LLVMFuzzerTestOneInput and is built twice: with libFuzzer in
 * build-fuzz (cmake -DWEIR_FUZZ=ON, `make test-fuzz`), and in the normal build with
 * replay.c's main, as the ctest fuzz_<target>_replay that feeds it every file of
 * tests/fuzz/corpus/<target>/ and tests/fuzz/regressions/<target>/ (plain and ASan).
 */
#ifndef WEIR_FUZZ_H
#define WEIR_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A directory of this process's own, made on first use and removed at exit. */
const char *fuzz_dir(void);
/* Writes len bytes as dir/name (replacing it); aborts on an I/O error. */
void fuzz_write(const char *dir, const char *name, const void *buf, size_t len);
/* Makes the checksums of a checkpoint file (storage_format.h) and its recorded size agree
 * with its bytes, where its trailer and footer leave them somewhere to go: the header
 * checksum, every block checksum, the file size and the whole-file checksum, which it returns
 * (0 when the file is too short to have a trailer). Without it nearly every mutation would stop
 * at a checksum and the decoders behind them would never be reached. */
uint64_t fuzz_fix_checksums(uint8_t *buf, size_t len);

#endif
