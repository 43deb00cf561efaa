/* The dashboard's files by path (rest_web.h): "/" and "/index.html" are "/web/index.html". */
#include "rest_web.h"

#include <string.h>

const struct rest_web_asset *rest_web_find(const char *path)
{
    if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0)
        path = "/web/index.html";
    if (strncmp(path, "/web/", 5) != 0)
        return NULL;
    for (size_t i = 0; i < REST_WEB_N_ASSETS; i++)
        if (strcmp(REST_WEB_ASSETS[i].path, path) == 0)
            return &REST_WEB_ASSETS[i];
    return NULL;
}
