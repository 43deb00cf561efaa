/* weir inspect: see inspect.h. The engine reads the checkpoint into a JSON document
 * (weir_checkpoint_inspect); this prints it, or the text for a person made from it. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weir/inspect.h>
#include <weir/kafka.h>

#include "cli.h"
#include "inspect.h"
#include "nexmark.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: weir inspect [--json] [--key K [--state NAME]] [-D key=value]... PATH\n"
                 "PATH is a checkpoint (chk-N), a savepoint or a local-recovery copy; every "
                 "checksum is verified.\n"
                 "--json prints the whole document for scripts; --key K prints the value of "
                 "key K (a number,\n"
                 "0x for hex) in state NAME (in every keyed state without --state).\n"
                 "-D sets a key for the scratch backends the state is read into, one subtask "
                 "at a time:\n"
                 "memory.task.heap.size for a subtask's state larger than its default.\n");
}

static json_int_t num(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static void print_states(json_t *states, const char *indent)
{
    json_t *s;
    size_t i;
    json_array_foreach(states, i, s)
    {
        printf("%sstate \"%s\" (%s): %" JSON_INTEGER_FORMAT " entries, %" JSON_INTEGER_FORMAT
               " bytes\n",
               indent, str(s, "name"), str(s, "kind"), num(s, "entries"), num(s, "bytes"));
    }
}

/* A subtask's decoded operator state (weir/inspect.h weir_state_decoder): per item its
 * fields as name=value, items separated by "; ". */
static void print_decoded(json_t *sub)
{
    json_t *items = json_object_get(sub, "operator_state_decoded"), *item, *v;
    size_t i;
    const char *k;
    if (!json_is_array(items))
        return;
    printf("\n    %s state, %zu item%s", str(sub, "operator_state_kind"), json_array_size(items),
           json_array_size(items) == 1 ? "" : "s");
    json_array_foreach(items, i, item) {
        printf("%s", i ? ";" : ":");
        json_object_foreach(item, k, v) {
            char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            printf(" %s=%s", k, t ? t : "?");
            free(t);
        }
    }
}

static void print_text(json_t *doc)
{
    time_t t = (time_t)(num(doc, "timestamp_ms") / 1000);
    char when[64] = "";
    struct tm tm;
    if (gmtime_r(&t, &tm))
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("%s %" JSON_INTEGER_FORMAT
           " of job %s (%s), taken %s, max parallelism %" JSON_INTEGER_FORMAT "\n",
           json_is_true(json_object_get(doc, "savepoint")) ? "savepoint" : "checkpoint",
           num(doc, "checkpoint_id"), str(doc, "job"), str(doc, "path"), when,
           num(doc, "max_parallelism"));
    printf("  %" JSON_INTEGER_FORMAT " files, %" JSON_INTEGER_FORMAT
           " bytes (%zu shared), every checksum verified\n",
           num(doc, "files"), num(doc, "bytes"), json_array_size(json_object_get(doc, "shared")));
    json_t *op;
    size_t i;
    json_array_foreach(json_object_get(doc, "operators"), i, op)
    {
        printf("operator \"%s\": parallelism %" JSON_INTEGER_FORMAT, str(op, "uid"),
               num(op, "parallelism"));
        if (json_is_true(json_object_get(op, "keyed")))
            printf(", keyed (%.4g key groups per subtask, %s backend)",
                   json_number_value(json_object_get(op, "key_groups_per_subtask")),
                   str(op, "backend"));
        printf(", %" JSON_INTEGER_FORMAT " bytes, operator state %" JSON_INTEGER_FORMAT " bytes\n",
               num(op, "bytes"), num(op, "operator_state_bytes"));
        print_states(json_object_get(op, "states"), "  ");
        json_t *tmr = json_object_get(op, "timers");
        if (num(tmr, "event_time") || num(tmr, "processing_time"))
            printf("  timers: %" JSON_INTEGER_FORMAT " event time, %" JSON_INTEGER_FORMAT
                   " processing time\n",
                   num(tmr, "event_time"), num(tmr, "processing_time"));
        json_t *sub;
        size_t j;
        json_array_foreach(json_object_get(op, "subtasks"), j, sub)
        {
            printf("  subtask %" JSON_INTEGER_FORMAT ": %s", num(sub, "subtask"),
                   str(sub, "status"));
            json_t *kg = json_object_get(sub, "key_groups");
            if (kg)
                printf(", key groups %" JSON_INTEGER_FORMAT "..%" JSON_INTEGER_FORMAT,
                       json_integer_value(json_array_get(kg, 0)),
                       json_integer_value(json_array_get(kg, 1)));
            if (*str(sub, "file"))
                printf(", file %s (%" JSON_INTEGER_FORMAT " bytes)", str(sub, "file"),
                       num(sub, "bytes"));
            if (num(sub, "operator_state_bytes"))
                printf(", operator state %" JSON_INTEGER_FORMAT " bytes: %s%s",
                       num(sub, "operator_state_bytes"), str(sub, "operator_state_hex"),
                       num(sub, "operator_state_bytes") * 2 >
                               (json_int_t)strlen(str(sub, "operator_state_hex"))
                           ? "..."
                           : "");
            print_decoded(sub);
            printf("\n");
        }
    }
}

/* The lookup of --key: 0 when it found a value. */
static int print_lookup(json_t *doc)
{
    json_t *l = json_object_get(doc, "lookup");
    const char *state = str(l, "state");
    if (!json_is_true(json_object_get(l, "found"))) {
        cli_error(NULL,
                  "inspect: key %" JSON_INTEGER_FORMAT " (key group %" JSON_INTEGER_FORMAT
                  ") has no value in %s%s%s of %s",
                  num(l, "key"), num(l, "key_group"), *state ? "state \"" : "any keyed state",
                  state, *state ? "\"" : "", str(doc, "path"));
        return EXIT_FAILED;
    }
    json_t *v;
    size_t i;
    json_array_foreach(json_object_get(l, "values"), i, v)
    {
        printf("operator \"%s\" subtask %" JSON_INTEGER_FORMAT
               " state \"%s\" key %" JSON_INTEGER_FORMAT " namespace %" JSON_INTEGER_FORMAT,
               str(v, "operator"), num(v, "subtask"), str(v, "state"), num(l, "key"),
               num(v, "namespace"));
        if (json_is_string(json_object_get(v, "user_key_hex")))
            printf(" user key %s", str(v, "user_key_hex"));
        printf(": %s", str(v, "hex"));
        if (json_is_string(json_object_get(v, "text")))
            printf(" \"%s\"", str(v, "text"));
        printf("\n");
    }
    return 0;
}

int cmd_inspect(int argc, char **argv)
{
    struct weir_inspect_opts o = {0};
    bool as_json = false;
    const char *path = NULL;
    const char *defs[256];
    o.config = defs;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strncmp(a, "-D", 2)) {
            if (!a[2] && i + 1 >= argc) {
                cli_error(NULL, "inspect: -D needs a value: key=value");
                return EXIT_USAGE;
            }
            if (o.n_config == sizeof defs / sizeof defs[0]) {
                cli_error(NULL, "inspect: -D: more than 256 settings");
                return EXIT_USAGE;
            }
            defs[o.n_config++] = a[2] ? a + 2 : argv[++i];
        } else if (!strcmp(a, "--json")) {
            as_json = true;
        } else if (!strcmp(a, "--key") || !strcmp(a, "--state")) {
            if (i + 1 >= argc) {
                cli_error(NULL, "inspect: %s needs a value", a);
                return EXIT_USAGE;
            }
            const char *v = argv[++i];
            if (a[2] == 's') {
                o.state = v;
                continue;
            }
            char *end;
            errno = 0;
            o.key = strtoull(v, &end, 0);
            if (end == v || *end || errno || *v == '-') {
                cli_error(NULL,
                          "inspect: --key \"%s\": expected a key as the job computes it, a "
                          "number from 0 to 18446744073709551615 (0x for hex)",
                          v);
                return EXIT_USAGE;
            }
            o.has_key = true;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (a[0] == '-' && a[1]) {
            cli_error(NULL, "inspect: unknown option \"%s\"", a);
            usage(stderr);
            return EXIT_USAGE;
        } else if (path) {
            cli_error(NULL, "inspect: one PATH only (\"%s\", then \"%s\")", path, a);
            return EXIT_USAGE;
        } else {
            path = a;
        }
    }
    if (!path) {
        cli_error(NULL, "inspect: no PATH given: a checkpoint (chk-N) or savepoint directory");
        usage(stderr);
        return EXIT_USAGE;
    }
    if (o.state && !o.has_key) {
        cli_error(NULL, "inspect: --state %s needs --key K: which key's value to print", o.state);
        return EXIT_USAGE;
    }
    char *text = NULL, err[1024];
    /* the io connectors' decoders (weir/inspect.h) */
    weir_kafka_register_inspect_decoder();
    weir_file_register_inspect_decoder();
    weir_nexmark_register_inspect_decoder();
    int rc = weir_checkpoint_inspect(path, &o, &text, err, sizeof err);
    if (rc < 0) {
        cli_error(NULL, "inspect: %s", err);
        return rc == -ENOENT || rc == -ENOTDIR || rc == -EINVAL ? EXIT_USAGE : EXIT_FAILED;
    }
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    int status = 0;
    if (as_json) {
        printf("%s\n", text);
        if (o.has_key && !json_is_true(json_object_get(json_object_get(doc, "lookup"), "found")))
            status = EXIT_FAILED;
    } else if (!doc) {
        cli_error(NULL, "inspect: %s: %s", path, jerr.text);
        status = EXIT_FAILED;
    } else if (o.has_key) {
        status = print_lookup(doc);
    } else {
        print_text(doc);
    }
    json_decref(doc);
    free(text);
    return status;
}
