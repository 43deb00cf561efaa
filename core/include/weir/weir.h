/*
 * weir: everything a job file includes.
 *
 *     #include <weir/weir.h>
 *     int weir_job_main(weir_job *job, int argc, char **argv) { ... }
 */
#ifndef WEIR_WEIR_H
#define WEIR_WEIR_H
#include <weir/record.h>
#include <weir/keygroup.h>
#include <weir/job.h>
#include <weir/state.h>
#include <weir/operator.h>
#include <weir/windows.h>
#include <weir/kafka.h>
#endif
