/*
 * The engine's one way to fill an error buffer: functions that can fail with a reason
 * for a person take (char *err, size_t errlen) and write one line there.
 *
 *     if (fd < 0) {
 *         errbuf_printf(err, errlen, "state.checkpoints.dir: %s: %s", dir, strerror(errno));
 *         return -errno;
 *     }
 *
 * err may be NULL or errlen 0: nothing is written. Engine-internal (not installed, not
 * exported); numa/ keeps its own, as it uses nothing of weir.
 */
#ifndef WEIR_ERRBUF_H
#define WEIR_ERRBUF_H

#include <stddef.h>

void errbuf_printf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
