/* weir why-late: see cli_jobs.h. It reads GET /jobs/:jobid/watermark-diagnosis
 * (core/src/runtime/rest_wm.c) and says its answer in a few lines:
 *
 *   watermark held back by source "bids" subtask 1 (Kafka partition 3): 2026-12-07
 *   12:00:01.250 UTC, not advanced for 42 s; 17 windows waiting (event-time timers);
 *   idleness: off (...); alignment: none
 *     vertex "window -> sink": lowest input watermark 2026-12-07 12:00:01.250 UTC, ...
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cli_jobs.h"
#include "cli_rest.h"

/* An event time (ms since the epoch, UTC) as "2026-12-07 12:00:01.250 UTC"; "none yet" for
 * null, "the end (input finished)" for the maximum. */
static void when(const json_t *v, char *buf, size_t len)
{
    if (!json_is_integer(v)) {
        snprintf(buf, len, "none yet");
        return;
    }
    int64_t ms = (int64_t)json_integer_value(v);
    if (ms == INT64_MAX) {
        snprintf(buf, len, "the end (input finished)");
        return;
    }
    time_t s = (time_t)(ms / 1000 - (ms % 1000 < 0));
    struct tm tm;
    char day[40] = "?";
    if (gmtime_r(&s, &tm))
        strftime(day, sizeof day, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03d UTC", day, (int)(((ms % 1000) + 1000) % 1000));
}

static json_int_t num(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static const char *text(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "?";
}

/* What idleness and alignment do for the holder h. */
static void settings(const json_t *h, char *buf, size_t len)
{
    const json_t *idle = json_object_get(h, "idleness-ms");
    const json_t *al = json_object_get(h, "alignment");
    char a[200] = "alignment: none (no alignment group)";
    if (json_is_object(al))
        snprintf(a, sizeof a, "alignment: group \"%s\", max drift %" JSON_INTEGER_FORMAT " ms",
                 text(al, "group"), num(al, "max-drift-ms"));
    if (!json_is_integer(idle))
        snprintf(buf, len, "idleness: not reported by this source; %s", a);
    else if (json_integer_value(idle) == 0)
        snprintf(buf, len,
                 "idleness: off (set the source's idleness_ms, kafka-count's --idleness-ms, as "
                 "Flink's WatermarkStrategy.withIdleness, to let an idle %s be skipped); %s",
                 json_is_integer(json_object_get(h, "partition")) ? "partition" : "subtask", a);
    else
        snprintf(buf, len,
                 "idleness: after %" JSON_INTEGER_FORMAT " ms without records (this one is "
                 "not idle: it has had records, or has not waited that long); %s",
                 json_integer_value(idle), a);
}

static void print_answer(const json_t *d)
{
    const json_t *h = json_object_get(d, "held-by");
    json_int_t waiting = num(d, "timers-waiting");
    char wm[64], rest[600], part[64] = "";
    if (!json_is_true(json_object_get(d, "running"))) {
        printf("no attempt of the job runs now (it is restarting, or ending): ask again\n");
        return;
    }
    if (!json_is_object(h)) {
        printf("nothing holds the watermark back: every source subtask is idle or finished; "
               "%" JSON_INTEGER_FORMAT " windows waiting (event-time timers)\n",
               waiting);
    } else {
        when(json_object_get(h, "watermark"), wm, sizeof wm);
        if (json_is_integer(json_object_get(h, "partition")))
            snprintf(part, sizeof part, " (Kafka partition %" JSON_INTEGER_FORMAT ")",
                     num(h, "partition"));
        settings(h, rest, sizeof rest);
        /* ten watermark intervals without an advance: stalled, not merely the slowest */
        bool stalled = num(h, "stalled-ms") >= 10 * num(d, "auto-watermark-interval-ms");
        printf("watermark %s source \"%s\" subtask %" JSON_INTEGER_FORMAT
               "%s: %s, not advanced for %" JSON_INTEGER_FORMAT " s; %" JSON_INTEGER_FORMAT
               " windows waiting (event-time timers); %s\n",
               stalled ? "held back by" : "advancing; lowest:", text(h, "name"), num(h, "subtask"),
               part, wm, num(h, "stalled-ms") / 1000, waiting, rest);
    }
    size_t i;
    const json_t *v;
    json_array_foreach(json_object_get(d, "vertices"), i, v)
    {
        const json_t *lw = json_object_get(v, "lowest-input-watermark");
        if (!json_is_integer(lw) && !json_is_integer(json_object_get(v, "since")))
            continue; /* a source: its own watermark is above */
        when(lw, wm, sizeof wm);
        json_int_t timers = 0;
        size_t k;
        const json_t *op;
        json_array_foreach(json_object_get(v, "timers"), k, op)
            timers += num(op, "event-time-timers");
        printf("  vertex \"%s\": lowest input watermark %s, not advanced for %" JSON_INTEGER_FORMAT
               " s; %" JSON_INTEGER_FORMAT " event-time timers\n",
               text(v, "name"), wm, (num(d, "now") - num(v, "since")) / 1000, timers);
    }
}

int cli_why_late(const char *jid, const char *base, bool json)
{
    char path[128];
    struct rest_reply r;
    snprintf(path, sizeof path, "/jobs/%s/watermark-diagnosis", jid);
    int rc = rest_call("GET", base, path, NULL, &r);
    if (rc < 0 || r.status != 200 || !json_is_object(r.doc)) {
        fprintf(stderr, "weir: why-late: job %s: GET %s: %s\n", jid, path,
                rc < 0 ? r.err : rest_reply_error(&r));
        rest_reply_free(&r);
        return EXIT_FAILED;
    }
    if (json) {
        json_dumpf(r.doc, stdout, JSON_INDENT(2));
        putchar('\n');
    } else {
        print_answer(r.doc);
    }
    rest_reply_free(&r);
    return 0;
}
