/* The jobs `weir jobs` lists; each is written like a job shared object. */
#ifndef WEIR_BUILTIN_JOBS_H
#define WEIR_BUILTIN_JOBS_H
#include <weir/job.h>

struct builtin_job {
    const char *name;
    const char *usage;
    const char *summary;
    weir_job_main_fn main;
};

extern const struct builtin_job builtin_jobs[];
const struct builtin_job *builtin_job_find(const char *name);
#endif
