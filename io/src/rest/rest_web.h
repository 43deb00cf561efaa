/*
 * The web dashboard's static files (io/src/rest/web/), compiled in by web/embed.cmake and
 * served by the REST server at "/", "/index.html" and "/web/NAME".
 */
#ifndef WEIR_REST_WEB_H
#define WEIR_REST_WEB_H

#include <stddef.h>

struct rest_web_asset {
    const char *path; /* "/web/index.html" */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
};

extern const struct rest_web_asset REST_WEB_ASSETS[];
extern const size_t REST_WEB_N_ASSETS;

/* The file a GET of path (normalized: no "/v1", no trailing '/') names; NULL when none. */
const struct rest_web_asset *rest_web_find(const char *path);

#endif
