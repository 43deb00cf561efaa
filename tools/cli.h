/* What the weir command's subcommands share: counts on the command line and
 * the signals that stop a running job (SIGINT/SIGTERM) or ask it for a
 * savepoint (SIGUSR1). */
#ifndef WEIR_TOOLS_CLI_H
#define WEIR_TOOLS_CLI_H

#include <stdint.h>

#include <weir/job.h>

/* The one line of a bad argument: the job's error (weir_job_fail, which the command
 * prints as "weir: job NAME: ...") while a job is built, else "weir: ..." on stderr
 * (job NULL). */
void cli_error(weir_job *job, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A whole count like 1000000, 1e6 or 10M (not 0.5); on a bad one, cli_error naming the
 * flag and the value, and -EINVAL. */
int cli_parse_count(weir_job *job, const char *flag, const char *v, uint64_t *out);

/* The same for how many records or events a run takes: above 0, as 0 is no count at
 * all (the generators' unbounded), which is said with --unbounded instead. */
int cli_parse_total(weir_job *job, const char *flag, const char *v, uint64_t *out);

/* 0, or -EINVAL after weir_job_fail when writing OUTPUT would destroy INPUT before it is
 * read: the same file (same device and inode, whatever the spelling or links), or INPUT
 * inside the directory OUTPUT (part files at parallelism > 1). */
int cli_output_not_input(weir_job *job, const char *in, const char *out);

/* While job runs: the first SIGINT/SIGTERM stops it (sources end, records
 * drain), a second exits at once; SIGUSR1 asks for a savepoint. NULL stops
 * watching. */
void cli_watch_signals(weir_job *job);

/* Exit statuses of the weir command: 1 the job failed, 2 the command line or the
 * configuration is wrong. */
#define EXIT_FAILED 1
#define EXIT_USAGE  2

/* The exit status for weir_job_run's error rc: EXIT_USAGE where a change of the command line
 * or configuration is the fix (-EINVAL, -ENOMEM for pools, -EEXIST for an output already
 * there, -EADDRINUSE for a taken metrics port range), else EXIT_FAILED. */
int cli_run_exit_status(int rc);

#endif
