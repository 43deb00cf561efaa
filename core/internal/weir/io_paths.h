/*
 * @internal Connectors tell the planner which filesystem path a node reads or writes, so
 * that no job writes what it reads: plan_build refuses a sink whose path is, holds, or is
 * inside a path a source reads, compared by device and inode (links and other spellings of
 * one path are the same path), with one line naming both. Not part of the installed API.
 *
 *     weir_stream *s = weir_source(job, uid, &file_source_ops, copy);
 *     weir_stream_io_path(s, WEIR_IO_READS, path);
 */
#ifndef WEIR_IO_PATHS_H
#define WEIR_IO_PATHS_H

#include <weir/job.h>

enum weir_io_role { WEIR_IO_READS, WEIR_IO_WRITES };

/* Records path (copied) for the node behind s, which one node made. A NULL s is a no-op;
 * out of memory fails the job (sticky, as the builders). */
void weir_stream_io_path(weir_stream *s, enum weir_io_role role, const char *path);

#endif
