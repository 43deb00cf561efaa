/* The verbs that operate running jobs, with Flink's CLI spellings:
 *
 *   weir list [-m HOST:PORT]
 *   weir savepoint [-m HOST:PORT] JOBID [DIR]
 *   weir stop [-m HOST:PORT] [-p|--savepointPath DIR] [-d|--drain] JOBID
 *   weir cancel [-m HOST:PORT] JOBID
 *   weir checkpoint [-m HOST:PORT] [--full] JOBID
 *   weir why-late [-m HOST:PORT] [--json] JOBID
 *
 * Every verb also takes -c FILE and -D key=value for rest.auth.token-file (WEIR_REST_TOKEN
 * holds the token itself). Without -m the jobs are found in this host's job registry
 * (registry.h); JOBID may be a prefix of one job's id. They call the job's REST API
 * (cli_rest.h) and wait for the trigger to end. Exit status: 0 done; 1 the job is unknown or
 * not running, or the operation failed (its cause on one line); 2 a bad command line. */
#ifndef WEIR_TOOLS_CLI_JOBS_H
#define WEIR_TOOLS_CLI_JOBS_H

#include <stdbool.h>

/* argv[0] is the verb ("list", "savepoint", "stop", "cancel", "checkpoint", "why-late").
 * Returns the exit status, or -1 when argv[0] is none of them. */
int cmd_job_verb(int argc, char **argv);

/* cli_whylate.c: weir why-late for the job id at the REST URL base: which source subtask
 * (and Kafka partition) holds the watermark back, since when, the windows waiting and
 * whether idleness or alignment applies, in a few lines, or with json the document of GET
 * /jobs/:jobid/watermark-diagnosis. 0, or EXIT_FAILED after one line. */
int cli_why_late(const char *jid, const char *base, bool json);

/* For `weir run`: the job's name before weir_job_run; cli_jobs_on_rest as
 * weir_run_opts.on_rest registers the job (registry.h) once its REST API serves, with one
 * warning line when it cannot (the job runs on, unlisted); cli_jobs_unregister after the run
 * removes the entry. */
void cli_jobs_register_name(const char *name);
void cli_jobs_on_rest(void *arg, const char *job_id, const char *url);
void cli_jobs_unregister(void);

#endif
