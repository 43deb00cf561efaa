/* What the weir command's subcommands share: counts on the command line and
 * the signals that stop a running job (SIGINT/SIGTERM) or ask it for a
 * savepoint (SIGUSR1). */
#ifndef WEIR_TOOLS_CLI_H
#define WEIR_TOOLS_CLI_H

#include <stdint.h>

#include <weir/job.h>

/* A count like 1000000, 1e6 or 10M; on a bad one, prints one line naming the
 * flag and the value and returns -EINVAL. */
int cli_parse_count(const char *flag, const char *v, uint64_t *out);

/* 0, or -EINVAL after weir_job_fail when writing OUTPUT would destroy INPUT before it is
 * read: the same file (same device and inode, whatever the spelling or links), or INPUT
 * inside the directory OUTPUT (part files at parallelism > 1). */
int cli_output_not_input(weir_job *job, const char *in, const char *out);

/* While job runs: the first SIGINT/SIGTERM stops it (sources end, records
 * drain), a second exits at once; SIGUSR1 asks for a savepoint. NULL stops
 * watching. */
void cli_watch_signals(weir_job *job);

#endif
