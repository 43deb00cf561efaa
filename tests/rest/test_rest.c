/*
 * The REST API (io/include/weir/rest.h, core/src/runtime/rest_docs.c) as a Flink user meets
 * it: the weir command runs a job with rest.port=0, the test reads the port from its log
 * ("weir: rest: http://127.0.0.1:PORT (job ID)") and asks with libcurl, parsing with jansson.
 *
 * The expected documents below are written down from Flink's REST API reference (the
 * JobManager's REST endpoints: ClusterOverviewWithVersion, DashboardConfiguration,
 * JobIdsWithStatusOverview, MultipleJobsDetails, JobDetailsInfo, JobConfigInfo,
 * JobExceptionsInfoWithHistory, CheckpointingStatistics, CheckpointConfigInfo,
 * CheckpointStatistics, JobVertexDetailsInfo): each key with its JSON type, nested objects
 * as objects. Every key is checked one by one in the answer; values where weir knows them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rest_client.h"
#include "weir_test.h"

/* ---- the expected documents (Flink's REST reference) ------------------------------- */

static const char SPEC_OVERVIEW[] =
    "{\"taskmanagers\":\"int\",\"slots-total\":\"int\",\"slots-available\":\"int\","
    "\"jobs-running\":\"int\",\"jobs-finished\":\"int\",\"jobs-cancelled\":\"int\","
    "\"jobs-failed\":\"int\",\"flink-version\":\"string\",\"flink-commit\":\"string\"}";

static const char SPEC_CONFIG[] =
    "{\"refresh-interval\":\"int\",\"timezone-name\":\"string\",\"timezone-offset\":\"int\","
    "\"flink-version\":\"string\",\"flink-revision\":\"string\","
    "\"features\":{\"web-submit\":\"bool\",\"web-cancel\":\"bool\",\"web-rescale\":\"bool\","
    "\"web-history\":\"bool\"}}";

static const char SPEC_JOB_ID_STATUS[] = "{\"id\":\"string\",\"status\":\"string\"}";

static const char SPEC_JOB_OVERVIEW[] =
    "{\"jid\":\"string\",\"name\":\"string\",\"state\":\"string\",\"start-time\":\"int\","
    "\"end-time\":\"int\",\"duration\":\"int\",\"last-modification\":\"int\","
    "\"tasks\":{\"total\":\"int\",\"created\":\"int\",\"scheduled\":\"int\",\"deploying\":\"int\","
    "\"running\":\"int\",\"finished\":\"int\",\"canceling\":\"int\",\"canceled\":\"int\","
    "\"failed\":\"int\",\"reconciling\":\"int\",\"initializing\":\"int\"}}";

#define SPEC_STATUS_COUNTS                                                                         \
    "{\"CREATED\":\"int\",\"SCHEDULED\":\"int\",\"DEPLOYING\":\"int\",\"RUNNING\":\"int\","        \
    "\"FINISHED\":\"int\",\"CANCELING\":\"int\",\"CANCELED\":\"int\",\"FAILED\":\"int\","          \
    "\"RECONCILING\":\"int\",\"INITIALIZING\":\"int\"}"

#define SPEC_IO_METRICS                                                                            \
    "{\"read-bytes\":\"int\",\"read-bytes-complete\":\"bool\",\"write-bytes\":\"int\","            \
    "\"write-bytes-complete\":\"bool\",\"read-records\":\"int\","                                  \
    "\"read-records-complete\":\"bool\",\"write-records\":\"int\","                                \
    "\"write-records-complete\":\"bool\",\"accumulated-backpressured-time\":\"int\","              \
    "\"accumulated-idle-time\":\"int\",\"accumulated-busy-time\":\"int\"}"

static const char SPEC_JOB_DETAILS[] =
    "{\"jid\":\"string\",\"name\":\"string\",\"isStoppable\":\"bool\",\"state\":\"string\","
    "\"job-type\":\"string\",\"start-time\":\"int\",\"end-time\":\"int\",\"duration\":\"int\","
    "\"maxParallelism\":\"int\",\"now\":\"int\",\"timestamps\":{\"RUNNING\":\"int\","
    "\"INITIALIZING\":\"int\",\"CREATED\":\"int\",\"FINISHED\":\"int\",\"FAILED\":\"int\","
    "\"CANCELED\":\"int\",\"RESTARTING\":\"int\"},\"vertices\":\"array\","
    "\"status-counts\":" SPEC_STATUS_COUNTS ",\"plan\":{\"jid\":\"string\",\"name\":\"string\","
    "\"type\":\"string\",\"nodes\":\"array\"}}";

static const char SPEC_JOB_VERTEX[] =
    "{\"id\":\"string\",\"name\":\"string\",\"maxParallelism\":\"int\",\"parallelism\":\"int\","
    "\"status\":\"string\",\"start-time\":\"int\",\"end-time\":\"int\",\"duration\":\"int\","
    "\"tasks\":" SPEC_STATUS_COUNTS ",\"metrics\":" SPEC_IO_METRICS "}";

static const char SPEC_PLAN_NODE[] =
    "{\"id\":\"string\",\"parallelism\":\"int\",\"operator\":\"string\","
    "\"operator_strategy\":\"string\",\"description\":\"string\","
    "\"optimizer_properties\":\"object\"}";

static const char SPEC_PLAN_INPUT[] =
    "{\"num\":\"int\",\"id\":\"string\",\"ship_strategy\":\"string\",\"exchange\":\"string\"}";

static const char SPEC_JOB_CONFIG[] =
    "{\"jid\":\"string\",\"name\":\"string\",\"execution-config\":{\"execution-mode\":\"string\","
    "\"restart-strategy\":\"string\",\"job-parallelism\":\"int\",\"object-reuse-mode\":\"bool\","
    "\"user-config\":\"object\"}}";

static const char SPEC_EXCEPTIONS[] =
    "{\"root-exception\":\"null|string\",\"timestamp\":\"null|int\",\"all-exceptions\":\"array\","
    "\"truncated\":\"bool\",\"exceptionHistory\":{\"entries\":\"array\",\"truncated\":\"bool\"}}";

#define SPEC_SUMMARY                                                                               \
    "{\"min\":\"int\",\"max\":\"int\",\"avg\":\"int\",\"p50\":\"number\",\"p90\":\"number\","      \
    "\"p95\":\"number\",\"p99\":\"number\",\"p999\":\"number\"}"

#define SPEC_CHECKPOINT_FIELDS                                                                     \
    "\"className\":\"string\",\"id\":\"int\",\"status\":\"string\",\"is_savepoint\":\"bool\","     \
    "\"trigger_timestamp\":\"int\",\"latest_ack_timestamp\":\"int\","                              \
    "\"checkpointed_size\":\"int\",\"state_size\":\"int\",\"end_to_end_duration\":\"int\","        \
    "\"alignment_buffered\":\"int\",\"processed_data\":\"int\",\"persisted_data\":\"int\","        \
    "\"num_subtasks\":\"int\",\"num_acknowledged_subtasks\":\"int\","                              \
    "\"checkpoint_type\":\"string\",\"tasks\":\"object\""

static const char SPEC_COMPLETED_CHECKPOINT[] =
    "{" SPEC_CHECKPOINT_FIELDS ",\"external_path\":\"null|string\",\"discarded\":\"bool\"}";

static const char SPEC_CHECKPOINTS[] =
    "{\"counts\":{\"restored\":\"int\",\"total\":\"int\",\"in_progress\":\"int\","
    "\"completed\":\"int\",\"failed\":\"int\"},"
    "\"summary\":{\"checkpointed_size\":" SPEC_SUMMARY ",\"state_size\":" SPEC_SUMMARY
    ",\"end_to_end_duration\":" SPEC_SUMMARY ",\"alignment_buffered\":" SPEC_SUMMARY
    ",\"processed_data\":" SPEC_SUMMARY ",\"persisted_data\":" SPEC_SUMMARY "},"
    "\"latest\":{\"completed\":\"object\",\"savepoint\":\"null|object\","
    "\"failed\":\"null|object\",\"restored\":\"null|object\"},\"history\":\"array\"}";

static const char SPEC_TASK_CHECKPOINT[] =
    "{\"id\":\"int\",\"status\":\"string\",\"latest_ack_timestamp\":\"int\","
    "\"checkpointed_size\":\"int\",\"state_size\":\"int\",\"end_to_end_duration\":\"int\","
    "\"alignment_buffered\":\"int\",\"processed_data\":\"int\",\"persisted_data\":\"int\","
    "\"num_subtasks\":\"int\",\"num_acknowledged_subtasks\":\"int\"}";

static const char SPEC_CHECKPOINT_CONFIG[] =
    "{\"mode\":\"string\",\"interval\":\"int\",\"timeout\":\"int\",\"min_pause\":\"int\","
    "\"max_concurrent\":\"int\",\"externalization\":{\"enabled\":\"bool\","
    "\"delete_on_cancellation\":\"bool\"},\"state_backend\":\"string\","
    "\"checkpoint_storage\":\"string\",\"unaligned_checkpoints\":\"bool\","
    "\"tolerable_failed_checkpoints\":\"int\",\"aligned_checkpoint_timeout\":\"int\","
    "\"checkpoints_after_tasks_finish\":\"bool\",\"state_changelog_enabled\":\"bool\"}";

static const char SPEC_VERTEX_DETAILS[] =
    "{\"id\":\"string\",\"name\":\"string\",\"maxParallelism\":\"int\",\"parallelism\":\"int\","
    "\"now\":\"int\",\"subtasks\":\"array\"}";

static const char SPEC_SUBTASK[] =
    "{\"subtask\":\"int\",\"status\":\"string\",\"attempt\":\"int\",\"endpoint\":\"string\","
    "\"start-time\":\"int\",\"end-time\":\"int\",\"duration\":\"int\","
    "\"metrics\":" SPEC_IO_METRICS ",\"taskmanager-id\":\"string\"}";

/* ---- tests ----------------------------------------------------------------------- */

/* A running job with checkpoints every 100 ms: every GET endpoint answers with Flink's
 * document, key by key, and the values weir knows (ids, names, states, counts). */
static void test_documents(void **state)
{
    (void)state;
    char ckdir[4096];
    snprintf(ckdir, sizeof ckdir, "state.checkpoints.dir=%s", wt_tmp_dir("rest-ck"));
    struct weir_proc p;
    weir_start(&p, "rest-docs",
               (const char *const[]){QUIET, "-D", "rest.port=0", "-D",
                                     "execution.checkpointing.interval=100ms", "-D", ckdir, "-p",
                                     "2", "pipeline", "--unbounded", "--rate", "2000", NULL});
    weir_wait_rest(&p);

    /* two checkpoints completed: the statistics have something to say */
    json_t *ck = NULL;
    for (int i = 0; i < 1200; i++) {
        ck = get(&p, 200, "/jobs/%s/checkpoints", p.jid);
        if (int_at(json_object_get(ck, "counts"), "completed") >= 2)
            break;
        json_decref(ck);
        ck = NULL;
        sleep_ms(100);
    }
    if (!ck) {
        dump_log(&p);
        fail_msg("no two completed checkpoints after 120 s");
    }
    check_shape(ck, SPEC_CHECKPOINTS, "checkpoints");
    json_t *counts = json_object_get(ck, "counts");
    assert_true(int_at(counts, "total") >= int_at(counts, "completed"));
    assert_int_equal(int_at(counts, "failed"), 0);
    assert_int_equal(int_at(counts, "restored"), 0);
    json_t *latest = json_object_get(json_object_get(ck, "latest"), "completed");
    check_shape(latest, SPEC_COMPLETED_CHECKPOINT, "latest.completed");
    assert_string_equal(str_at(latest, "status"), "COMPLETED");
    assert_string_equal(str_at(latest, "checkpoint_type"), "CHECKPOINT");
    assert_int_equal(int_at(latest, "num_subtasks"), int_at(latest, "num_acknowledged_subtasks"));
    json_int_t latest_id = int_at(latest, "id");
    json_t *history = json_object_get(ck, "history");
    assert_true(json_array_size(history) >= 2 && json_array_size(history) <= 10);
    /* newest first */
    assert_true(int_at(json_array_get(history, 0), "id") >
                int_at(json_array_get(history, 1), "id"));
    json_t *summary = json_object_get(json_object_get(ck, "summary"), "end_to_end_duration");
    assert_true(int_at(summary, "min") <= int_at(summary, "avg"));
    assert_true(int_at(summary, "avg") <= int_at(summary, "max"));

    /* the cluster */
    json_t *d = get(&p, 200, "/overview");
    check_shape(d, SPEC_OVERVIEW, "overview");
    assert_int_equal(int_at(d, "jobs-running"), 1);
    assert_int_equal(int_at(d, "taskmanagers"), 1);
    json_decref(d);
    d = get(&p, 200, "/config");
    check_shape(d, SPEC_CONFIG, "config");
    json_decref(d);

    /* the jobs */
    d = get(&p, 200, "/jobs");
    assert_int_equal(json_array_size(json_object_get(d, "jobs")), 1);
    json_t *j = json_array_get(json_object_get(d, "jobs"), 0);
    check_shape(j, SPEC_JOB_ID_STATUS, "jobs[0]");
    assert_string_equal(str_at(j, "id"), p.jid);
    assert_string_equal(str_at(j, "status"), "RUNNING");
    json_decref(d);
    d = get(&p, 200, "/v1/jobs/"); /* Flink's versioned URL, a trailing slash */
    assert_string_equal(str_at(json_array_get(json_object_get(d, "jobs"), 0), "id"), p.jid);
    json_decref(d);
    d = get(&p, 200, "/jobs/overview");
    j = json_array_get(json_object_get(d, "jobs"), 0);
    check_shape(j, SPEC_JOB_OVERVIEW, "jobs/overview.jobs[0]");
    assert_string_equal(str_at(j, "jid"), p.jid);
    assert_string_equal(str_at(j, "name"), "pipeline");
    assert_string_equal(str_at(j, "state"), "RUNNING");
    assert_int_equal(int_at(j, "end-time"), -1);
    /* two chains at -p 2: four subtasks, all running */
    assert_int_equal(int_at(json_object_get(j, "tasks"), "total"), 4);
    assert_int_equal(int_at(json_object_get(j, "tasks"), "running"), 4);
    json_decref(d);

    /* one job */
    d = get(&p, 200, "/jobs/%s", p.jid);
    check_shape(d, SPEC_JOB_DETAILS, "job");
    assert_string_equal(str_at(d, "jid"), p.jid);
    assert_string_equal(str_at(d, "state"), "RUNNING");
    assert_string_equal(str_at(d, "job-type"), "STREAMING");
    assert_int_equal(int_at(d, "maxParallelism"), 128);
    assert_true(int_at(json_object_get(d, "timestamps"), "RUNNING") >= int_at(d, "start-time"));
    json_t *vs = json_object_get(d, "vertices");
    assert_int_equal(json_array_size(vs), 2);
    char vid[2][33];
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_array_get(vs, i);
        check_shape(v, SPEC_JOB_VERTEX, "job.vertices[]");
        assert_int_equal(strlen(str_at(v, "id")), 32);
        snprintf(vid[i], sizeof vid[i], "%s", str_at(v, "id"));
        assert_int_equal(int_at(v, "parallelism"), 2);
        assert_string_equal(str_at(v, "status"), "RUNNING");
        assert_int_equal(int_at(json_object_get(v, "tasks"), "RUNNING"), 2);
    }
    assert_string_equal(str_at(json_array_get(vs, 0), "name"), "datagen -> map -> filter");
    assert_string_equal(str_at(json_array_get(vs, 1), "name"), "blackhole");
    /* records flow: the source emitted, the sink read */
    assert_true(int_at(json_object_get(json_array_get(vs, 0), "metrics"), "write-records") > 0);
    assert_int_equal(int_at(json_object_get(d, "status-counts"), "RUNNING"), 2);
    json_t *nodes = json_object_get(json_object_get(d, "plan"), "nodes");
    assert_int_equal(json_array_size(nodes), 2);
    check_shape(json_array_get(nodes, 0), SPEC_PLAN_NODE, "plan.nodes[0]");
    json_t *in = json_object_get(json_array_get(nodes, 1), "inputs");
    assert_int_equal(json_array_size(in), 1);
    check_shape(json_array_get(in, 0), SPEC_PLAN_INPUT, "plan.nodes[1].inputs[0]");
    assert_string_equal(str_at(json_array_get(in, 0), "id"), vid[0]);
    assert_string_equal(str_at(json_array_get(in, 0), "ship_strategy"), "HASH");
    json_decref(d);

    d = get(&p, 200, "/jobs/%s/config", p.jid);
    check_shape(d, SPEC_JOB_CONFIG, "job config");
    assert_int_equal(int_at(json_object_get(d, "execution-config"), "job-parallelism"), 2);
    json_decref(d);
    d = get(&p, 200, "/jobs/%s/exceptions", p.jid);
    check_shape(d, SPEC_EXCEPTIONS, "exceptions");
    assert_true(json_is_null(json_object_get(d, "root-exception")));
    assert_int_equal(
        json_array_size(json_object_get(json_object_get(d, "exceptionHistory"), "entries")), 0);
    json_decref(d);

    d = get(&p, 200, "/jobs/%s/checkpoints/config", p.jid);
    check_shape(d, SPEC_CHECKPOINT_CONFIG, "checkpoints/config");
    assert_string_equal(str_at(d, "mode"), "exactly_once");
    assert_int_equal(int_at(d, "interval"), 100);
    assert_string_equal(str_at(d, "state_backend"), "HashMapStateBackend");
    json_decref(d);

    d = get(&p, 200, "/jobs/%s/checkpoints/details/%lld", p.jid, (long long)latest_id);
    check_shape(d, SPEC_COMPLETED_CHECKPOINT, "checkpoints/details");
    assert_int_equal(int_at(d, "id"), latest_id);
    json_t *tasks = json_object_get(d, "tasks");
    assert_int_equal(json_object_size(tasks), 2);
    json_int_t sum = 0;
    for (int i = 0; i < 2; i++) {
        json_t *t = json_object_get(tasks, vid[i]);
        if (!t)
            fail_msg("checkpoint details: no task entry for vertex %s", vid[i]);
        check_shape(t, SPEC_TASK_CHECKPOINT, "checkpoints/details.tasks[]");
        assert_int_equal(int_at(t, "num_subtasks"), 2);
        assert_int_equal(int_at(t, "num_acknowledged_subtasks"), 2);
        sum += int_at(t, "state_size");
    }
    assert_int_equal(sum, int_at(d, "state_size")); /* the vertices add up to the whole */
    json_decref(d);
    json_decref(ck);

    d = get(&p, 200, "/jobs/%s/vertices/%s", p.jid, vid[1]);
    check_shape(d, SPEC_VERTEX_DETAILS, "vertex");
    assert_string_equal(str_at(d, "id"), vid[1]);
    json_t *subs = json_object_get(d, "subtasks");
    assert_int_equal(json_array_size(subs), 2);
    for (size_t i = 0; i < 2; i++) {
        check_shape(json_array_get(subs, i), SPEC_SUBTASK, "vertex.subtasks[]");
        assert_int_equal(int_at(json_array_get(subs, i), "subtask"), (json_int_t)i);
    }
    json_decref(d);

    weir_stop(&p);
}

/* Paths and ids that name nothing, and ids that are not ids, answer as Flink does, with an
 * errors array; the server serves GET only. */
static void test_errors(void **state)
{
    (void)state;
    struct weir_proc p;
    weir_start(&p, "rest-errors",
               (const char *const[]){QUIET, "-D", "rest.port=0", "pipeline", "--unbounded",
                                     "--rate", "1000", NULL});
    weir_wait_rest(&p);
    check_errors(get(&p, 404, "/no/such/path"), "Not found");
    check_errors(get(&p, 400, "/jobs/not-a-job-id"), "not-a-job-id");
    check_errors(get(&p, 404, "/jobs/00000000000000000000000000000000"),
                 "00000000000000000000000000000000");
    check_errors(get(&p, 404, "/jobs/%s/nothing", p.jid), "Not found");
    check_errors(get(&p, 404, "/jobs/%s/checkpoints/details/12345", p.jid), "12345");
    check_errors(get(&p, 400, "/jobs/%s/checkpoints/details/x1", p.jid), "x1");
    /* checkpointing is off for this job */
    check_errors(get(&p, 404, "/jobs/%s/checkpoints/config", p.jid), "not enabled");
    check_errors(get(&p, 404, "/jobs/%s/vertices/ffffffffffffffffffffffffffffffff", p.jid),
                 "ffffffffffffffffffffffffffffffff");
    long status = 0;
    json_t *d = request(&p, "DELETE", "/jobs/%s", &status, p.jid);
    assert_int_equal(status, 405);
    check_errors(d, "GET");
    /* the statistics of a job without checkpoints are empty, not an error */
    d = get(&p, 200, "/jobs/%s/checkpoints", p.jid);
    check_shape(d, "{\"counts\":{\"total\":\"int\"},\"latest\":{\"completed\":\"null\"}}",
                "checkpoints (none)");
    assert_int_equal(int_at(json_object_get(d, "counts"), "total"), 0);
    json_decref(d);
    weir_stop(&p);
}

static bool has_completed(json_t *ck)
{
    return json_is_object(json_object_get(json_object_get(ck, "latest"), "completed"));
}

static bool has_savepoint(json_t *ck)
{
    return json_is_object(json_object_get(json_object_get(ck, "latest"), "savepoint"));
}

/* A savepoint (kill -USR1) is the latest savepoint, with its path; a run restored from the
 * retained checkpoint counts the restore and names it as Flink's latest.restored does. */
static void test_savepoint_and_restore(void **state)
{
    (void)state;
    const char *dir = wt_tmp_dir("rest-restore");
    char ckdir[4096];
    snprintf(ckdir, sizeof ckdir, "state.checkpoints.dir=%s", dir);
    const char *const common[] = {
        QUIET, "-D", "rest.port=0", "-D", "execution.checkpointing.interval=200ms", "-D", ckdir};
    struct weir_proc p;
    weir_start(&p, "rest-restore-1",
               (const char *const[]){common[0], common[1], common[2], common[3], common[4],
                                     common[5], common[6], common[7], common[8], common[9],
                                     "pipeline", "--unbounded", "--rate", "1000", NULL});
    weir_wait_rest(&p);
    json_decref(wait_checkpoints(&p, has_completed, "a completed checkpoint"));
    kill(p.pid, SIGUSR1);
    json_t *ck = wait_checkpoints(&p, has_savepoint, "a completed savepoint");
    json_t *sp = json_object_get(json_object_get(ck, "latest"), "savepoint");
    check_shape(sp, SPEC_COMPLETED_CHECKPOINT, "latest.savepoint");
    assert_true(json_is_true(json_object_get(sp, "is_savepoint")));
    assert_string_equal(str_at(sp, "checkpoint_type"), "SAVEPOINT");
    if (!strstr(str_at(sp, "external_path"), "savepoint-pipeline-"))
        fail_msg("savepoint external_path %s", str_at(sp, "external_path"));
    assert_true(json_is_null(json_object_get(json_object_get(ck, "latest"), "restored")));
    json_decref(ck);
    weir_stop(&p);

    weir_start(&p, "rest-restore-2",
               (const char *const[]){common[0], common[1], common[2], common[3], common[4],
                                     common[5], common[6], common[7], common[8], common[9],
                                     "--from-checkpoint", "latest", "pipeline", "--unbounded",
                                     "--rate", "1000", NULL});
    weir_wait_rest(&p);
    ck = wait_checkpoints(&p, has_completed, "a completed checkpoint after the restore");
    assert_int_equal(int_at(json_object_get(ck, "counts"), "restored"), 1);
    json_t *r = json_object_get(json_object_get(ck, "latest"), "restored");
    check_shape(r,
                "{\"id\":\"int\",\"restore_timestamp\":\"int\",\"is_savepoint\":\"bool\","
                "\"external_path\":\"string\"}",
                "latest.restored");
    assert_true(json_is_false(json_object_get(r, "is_savepoint")));
    char chk[64];
    snprintf(chk, sizeof chk, "chk-%lld", (long long)int_at(r, "id"));
    if (!strstr(str_at(r, "external_path"), chk))
        fail_msg("restored external_path %s does not name %s", str_at(r, "external_path"), chk);
    /* ids go on from the restored one */
    assert_true(int_at(json_object_get(json_object_get(ck, "latest"), "completed"), "id") >
                int_at(r, "id"));
    json_decref(ck);
    weir_stop(&p);
}

static bool has_failed_and_more(json_t *ck)
{
    json_t *c = json_object_get(ck, "counts");
    return json_integer_value(json_object_get(c, "failed")) >= 1 &&
           json_integer_value(json_object_get(c, "restored")) >= 1 && has_completed(ck);
}

/* A failed checkpoint fails the job (tolerable-failed-checkpoints 0), which restarts from the
 * last checkpoint: the checkpoint is latest.failed with its cause, the job's failure is the
 * root exception, the restart shows in the timestamps and the subtasks' attempt. */
static void test_failure_and_restart(void **state)
{
    (void)state;
    char ckdir[4096];
    snprintf(ckdir, sizeof ckdir, "state.checkpoints.dir=%s", wt_tmp_dir("rest-fail"));
    struct weir_proc p;
    setenv("WEIR_TEST_CKPT_FAULT", "enospc:3:1", 1); /* the third checkpoint fails */
    weir_start(&p, "rest-fail",
               (const char *const[]){QUIET, "-D", "rest.port=0", "-D",
                                     "execution.checkpointing.interval=200ms", "-D", ckdir, "-D",
                                     "restart-strategy.type=fixed-delay", "-D",
                                     "restart-strategy.fixed-delay.delay=100ms", "pipeline",
                                     "--unbounded", "--rate", "1000", NULL});
    unsetenv("WEIR_TEST_CKPT_FAULT");
    weir_wait_rest(&p);
    json_t *ck = wait_checkpoints(&p, has_failed_and_more,
                                  "a failed checkpoint, a restore and a checkpoint after it");
    json_t *f = json_object_get(json_object_get(ck, "latest"), "failed");
    check_shape(f,
                "{" SPEC_CHECKPOINT_FIELDS
                ",\"failure_timestamp\":\"int\",\"failure_message\":\"string\"}",
                "latest.failed");
    assert_string_equal(str_at(f, "status"), "FAILED");
    if (!strstr(str_at(f, "failure_message"), "No space left on device"))
        fail_msg("failure_message: %s", str_at(f, "failure_message"));
    json_decref(ck);

    json_t *d = get(&p, 200, "/jobs/%s/exceptions", p.jid);
    check_shape(d, SPEC_EXCEPTIONS, "exceptions");
    if (!strstr(str_at(d, "root-exception"), "consecutive checkpoints failed"))
        fail_msg("root-exception: %s", str_at(d, "root-exception"));
    json_t *entries = json_object_get(json_object_get(d, "exceptionHistory"), "entries");
    assert_true(json_array_size(entries) >= 1);
    check_shape(json_array_get(entries, 0),
                "{\"exceptionName\":\"string\",\"stacktrace\":\"string\","
                "\"timestamp\":\"int\",\"taskName\":\"null|string\","
                "\"failureLabels\":\"object\",\"concurrentExceptions\":\"array\"}",
                "exceptionHistory.entries[0]");
    json_decref(d);

    d = get(&p, 200, "/jobs/%s", p.jid);
    assert_string_equal(str_at(d, "state"), "RUNNING");
    json_t *ts = json_object_get(d, "timestamps");
    assert_true(int_at(ts, "RESTARTING") > 0);
    assert_true(int_at(ts, "RUNNING") >= int_at(ts, "RESTARTING"));
    const char *vid = str_at(json_array_get(json_object_get(d, "vertices"), 0), "id");
    json_t *v = get(&p, 200, "/jobs/%s/vertices/%s", p.jid, vid);
    assert_true(int_at(json_array_get(json_object_get(v, "subtasks"), 0), "attempt") >= 1);
    json_decref(v);
    json_decref(d);
    weir_stop(&p);
}

/* A connection that says nothing, or half a request, and stays open. */
static int idle_connection(int port, bool half)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
        fail_msg("connect to 127.0.0.1:%d: %s", port, strerror(errno));
    static const char part[] = "GET /jobs HTTP/1.1\r\nHost: loc";
    if (half && write(fd, part, sizeof part - 1) != (ssize_t)sizeof part - 1)
        fail_msg("write: %s", strerror(errno));
    return fd;
}

/* 100 idle and half-open connections held open while a bounded job runs: requests are still
 * answered, and the job runs to its end and exits as it would without them. */
static void test_idle_connections(void **state)
{
    (void)state;
    enum { N = 100 };
    int fds[N];
    struct weir_proc p;
    /* 10 s of input, so that the connections are open while it runs */
    weir_start(&p, "rest-idle",
               (const char *const[]){QUIET, "-D", "rest.port=0", "pipeline", "--records", "20000",
                                     "--rate", "2000", NULL});
    weir_wait_rest(&p);
    /* the server starts before the job's tasks: INITIALIZING, then RUNNING */
    for (int i = 0;; i++) {
        json_t *d = get(&p, 200, "/jobs");
        bool running =
            !strcmp(str_at(json_array_get(json_object_get(d, "jobs"), 0), "status"), "RUNNING");
        json_decref(d);
        if (running)
            break;
        if (i == 1200)
            fail_msg("the job is not RUNNING after 120 s");
        sleep_ms(100);
    }
    for (int i = 0; i < N; i++)
        fds[i] = idle_connection(p.port, i % 2 == 1);
    json_t *d = get(&p, 200, "/jobs");
    assert_string_equal(str_at(json_array_get(json_object_get(d, "jobs"), 0), "id"), p.jid);
    /* 10 s of input: still running once the connections are open */
    assert_string_equal(str_at(json_array_get(json_object_get(d, "jobs"), 0), "status"), "RUNNING");
    json_decref(d);
    int rc = weir_wait_exit(&p, 240);
    if (rc != 0) {
        dump_log(&p);
        if (rc < 0)
            kill(p.pid, SIGKILL), waitpid(p.pid, NULL, 0);
        fail_msg("the job with %d idle REST connections ended with %d (-1: still running after "
                 "240 s)",
                 N, rc);
    }
    for (int i = 0; i < N; i++)
        close(fds[i]);
    /* it finished normally: the last line counts every record */
    FILE *f = fopen(p.log, "r");
    char line[1024], last[1024] = "";
    while (f && fgets(line, sizeof line, f))
        snprintf(last, sizeof last, "%s", line);
    if (f)
        fclose(f);
    if (!strstr(last, "finished") || !strstr(last, "20000 records from sources"))
        fail_msg("last line: %s", last);
}

/* A single port that is taken fails the start with one line naming rest.port; the default
 * range lets a second job start beside the first. */
static void test_port_taken(void **state)
{
    (void)state;
    struct weir_proc a, b;
    weir_start(&a, "rest-port-a",
               (const char *const[]){QUIET, "-D", "rest.port=0", "pipeline", "--unbounded",
                                     "--rate", "1000", NULL});
    weir_wait_rest(&a);
    char port[64];
    snprintf(port, sizeof port, "rest.port=%d", a.port);
    weir_start(&b, "rest-port-b",
               (const char *const[]){QUIET, "-D", port, "pipeline", "--records", "10", NULL});
    int rc = weir_wait_exit(&b, 120);
    char want[128], line[1024], last[1024] = "";
    snprintf(want, sizeof want, "weir: rest.port: %d: Address already in use", a.port);
    FILE *f = fopen(b.log, "r");
    while (f && fgets(line, sizeof line, f))
        snprintf(last, sizeof last, "%s", line);
    if (f)
        fclose(f);
    if (rc == 0 || strncmp(last, want, strlen(want)) != 0) {
        dump_log(&b);
        fail_msg("a taken rest.port: exit %d, last line \"%s\", expected \"%s\"", rc, last, want);
    }
    /* the default range: the next free port */
    weir_start(&b, "rest-port-c",
               (const char *const[]){QUIET, "pipeline", "--unbounded", "--rate", "1000", NULL});
    weir_wait_rest(&b);
    assert_true(b.port >= 8081 && b.port <= 8180);
    assert_int_not_equal(b.port, a.port);
    json_t *d = get(&b, 200, "/jobs");
    assert_string_equal(str_at(json_array_get(json_object_get(d, "jobs"), 0), "id"), b.jid);
    json_decref(d);
    assert_string_not_equal(a.jid, b.jid);
    weir_stop(&b);
    weir_stop(&a);
}

int main(void)
{
    wt_weir_cmd();
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_documents),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_savepoint_and_restore),
        cmocka_unit_test(test_failure_and_restart),
        cmocka_unit_test(test_idle_connections),
        cmocka_unit_test(test_port_taken),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
