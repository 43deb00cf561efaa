/* The weir command's client of a job's REST API (libcurl, jansson): one call, its status
 * and its JSON document. With WEIR_REST_TOKEN set, or rest.auth.token-file given
 * (cli_rest_token_file), every call sends "Authorization: Bearer <token>".
 *
 *     struct rest_reply r;
 *     if (rest_call("POST", "http://127.0.0.1:8081", "/jobs/ID/savepoints", body, &r) < 0)
 *         fprintf(stderr, "weir: %s\n", r.err);          // http://...: Connection refused
 *     else if (r.status != 202)
 *         fprintf(stderr, "weir: %s\n", rest_reply_error(&r));
 *     rest_reply_free(&r);
 */
#ifndef WEIR_TOOLS_CLI_REST_H
#define WEIR_TOOLS_CLI_REST_H

#include <jansson.h>

struct rest_reply {
    long status;  /* the HTTP status; 0 when no answer came */
    json_t *doc;  /* the body as JSON; NULL when it was empty or not JSON */
    char err[1200]; /* why the call failed: transport, or the server's errors */
};

/* method ("GET", "POST", "PATCH") base ("http://host:port") path ("/jobs/overview") with
 * body as JSON (NULL: none). Returns 0 when the server answered (any status) or -1 with
 * r->err ("http://127.0.0.1:8081/jobs: Couldn't connect to server"). */
int rest_call(const char *method, const char *base, const char *path, json_t *body,
              struct rest_reply *r);

/* The server's own words for a failed call: its {"errors": [...]} joined, else
 * "HTTP <status>". */
const char *rest_reply_error(struct rest_reply *r);

void rest_reply_free(struct rest_reply *r);

/* Reads the bearer token from path (rest.auth.token-file: one line, surrounding whitespace
 * dropped). 0, or -1 after a one-line error naming the file and the key. */
int cli_rest_token_file(const char *path);

#endif
