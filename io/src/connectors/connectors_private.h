/*
 * @internal What the file connectors (file.c, file_2pc.c) share: one record made into one
 * line of text, by the job's format function or as the record's own bytes.
 */
#ifndef WEIR_CONNECTORS_PRIVATE_H
#define WEIR_CONNECTORS_PRIVATE_H

#include <stddef.h>

#include <weir/job.h>

/* A line buffer a sink owns, grown to fit the longest line formatted so far. */
struct line_buf {
    char *line;
    size_t cap;
};

/* Sets *text and *len to the line for in, without its newline: fmt's output in lb (grown
 * as it needs), or the record's bytes when fmt is NULL. Returns 0, -ENOMEM, or fmt's
 * negative error (the task failed with "format function failed: ..."). */
int line_format(weir_ctx *ctx, weir_format_fn fmt, const weir_rec *in, struct line_buf *lb,
                const char **text, size_t *len);

#endif
