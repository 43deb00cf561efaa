/* The verbs that operate running jobs, with Flink's CLI spellings:
 *
 *   weir list [-m HOST:PORT]
 *   weir savepoint [-m HOST:PORT] JOBID [DIR]
 *   weir stop [-m HOST:PORT] [-p|--savepointPath DIR] [-d|--drain] JOBID
 *   weir cancel [-m HOST:PORT] JOBID
 *   weir checkpoint [-m HOST:PORT] [--full] JOBID
 *
 * Every verb also takes -c FILE and -D key=value for rest.auth.token-file (WEIR_REST_TOKEN
 * holds the token itself). Without -m the jobs are found in this host's job registry
 * (registry.h); JOBID may be a prefix of one job's id. They call the job's REST API
 * (cli_rest.h) and wait for the trigger to end. Exit status: 0 done; 1 the job is unknown or
 * not running, or the operation failed (its cause on one line); 2 a bad command line. */
#ifndef WEIR_TOOLS_CLI_JOBS_H
#define WEIR_TOOLS_CLI_JOBS_H

/* argv[0] is the verb ("list", "savepoint", "stop", "cancel", "checkpoint"). Returns the exit
 * status, or -1 when argv[0] is none of them. */
int cmd_job_verb(int argc, char **argv);

/* For `weir run`: the job's name before weir_job_run; cli_jobs_on_rest as
 * weir_run_opts.on_rest registers the job (registry.h) once its REST API serves, with one
 * warning line when it cannot (the job runs on, unlisted); cli_jobs_unregister after the run
 * removes the entry. */
void cli_jobs_register_name(const char *name);
void cli_jobs_on_rest(void *arg, const char *job_id, const char *url);
void cli_jobs_unregister(void);

#endif
