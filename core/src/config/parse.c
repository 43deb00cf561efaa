/*
 * The YAML loader: a file is one mapping; nested mappings are flattened into dotted keys
 * ("state: {backend: rocksdb}" is state.backend), a key may be given under a Flink alias,
 * and a key given twice in one file is an error that names both lines.
 */
#include "config_private.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

struct loader {
    weir_config *c;
    yaml_document_t *doc;
    const char *path;
    char *err;
    size_t errlen;
    size_t expanded; /* keys walked so far, each alias counted as often as it is used */
};

static const char *node_kind(const yaml_node_t *n)
{
    return n->type == YAML_MAPPING_NODE    ? "mapping"
           : n->type == YAML_SEQUENCE_NODE ? "sequence"
                                           : "scalar";
}

static bool is_yaml_null(const yaml_node_t *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        if (strcmp((const char *)n->data.scalar.value, nulls[i]) == 0)
            return true;
    return false;
}

static int load_scalar(struct loader *l, const char *name, const struct weir_config_key *k,
                       const yaml_node_t *key_node, const yaml_node_t *val)
{
    struct entry *e = &l->c->e[config_key_index(k)];
    int kline = (int)key_node->start_mark.line + 1;
    int vline = (int)val->start_mark.line + 1;
    char msg[512];
    int rc;

    if (e->seen_gen == l->c->gen) {
        if (strcmp(name, e->seen_as) != 0)
            errbuf_printf(l->err, l->errlen,
                          "%s:%d: %s: given twice in this file (first at line %d as \"%s\")",
                          l->path, kline, k->name, e->seen_line, e->seen_as);
        else
            errbuf_printf(l->err, l->errlen,
                          "%s:%d: %s: given twice in this file (first at line %d)", l->path, kline,
                          k->name, e->seen_line);
        return -EINVAL;
    }
    e->seen_gen = l->c->gen;
    e->seen_line = kline;
    /* seen_as outlives name: it points at the table's own string. */
    e->seen_as = k->name;
    const char *s;
    for (size_t a = 1; (s = config_key_spelling(k, a)); a++)
        if (strcmp(name, s) == 0)
            e->seen_as = s;

    /* "key:" with nothing after it is a mistake more often than a wish for the default (a
     * value lost in an edit, a misplaced indent): say so rather than run on the default. */
    if (is_yaml_null(val)) {
        char exp[200], def[64];
        config_expectation(k, exp, sizeof exp);
        if (k->def && *k->def)
            snprintf(def, sizeof def, "for the default, %s", k->def);
        else
            snprintf(def, sizeof def, "to leave it unset");
        errbuf_printf(l->err, l->errlen, "%s:%d: %s: no value; %s (remove the line %s)", l->path,
                      vline, k->name, exp, def);
        return -EINVAL;
    }
    rc = config_set_from(l->c, k, (const char *)val->data.scalar.value, SRC_FILE, l->path, vline,
                         msg, sizeof msg);
    if (rc < 0)
        errbuf_printf(l->err, l->errlen, "%s:%d: %s", l->path, vline, msg);
    return rc;
}

/* True when some key's name continues name with a dot: "state.backend" of a future
 * "state.backend.incremental", so a mapping under a key that is also a prefix is flattened
 * rather than refused. */
static bool is_prefix_of_a_key(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < weir_config_key_count; i++) {
        const struct weir_config_key *k = &weir_config_keys[i];
        const char *cand;
        for (size_t a = 0; (cand = config_key_spelling(k, a)); a++) {
            if (strncmp(cand, name, n) == 0 && cand[n] == '.')
                return true;
        }
    }
    return false;
}

/* The entries (mapping pairs and sequence items) under node id once every alias is expanded,
 * saturating past the limit; memo[id - 1] holds the count plus one once known, UINT32_MAX
 * while the node is being counted (an alias to a mapping it is inside of: the walk below
 * refuses that by depth, so it counts 0 here). Keys are not counted into: the walk refuses a
 * key that is not a scalar before it looks inside. */
static uint32_t expanded_size(yaml_document_t *doc, int id, uint32_t *memo)
{
    yaml_node_t *n = yaml_document_get_node(doc, id);
    uint32_t *m = &memo[id - 1];
    uint64_t total = 0;
    if (!n || *m == UINT32_MAX)
        return 0;
    if (*m)
        return *m - 1;
    *m = UINT32_MAX;
    if (n->type == YAML_SEQUENCE_NODE)
        for (yaml_node_item_t *i = n->data.sequence.items.start;
             i < n->data.sequence.items.top && total <= MAX_YAML_EXPANDED; i++)
            total += 1 + (uint64_t)expanded_size(doc, *i, memo);
    else if (n->type == YAML_MAPPING_NODE)
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
             p < n->data.mapping.pairs.top && total <= MAX_YAML_EXPANDED; p++)
            total += 1 + (uint64_t)expanded_size(doc, p->value, memo);
    if (total > MAX_YAML_EXPANDED)
        total = MAX_YAML_EXPANDED + 1;
    *m = (uint32_t)total + 1;
    return (uint32_t)total;
}

/* libyaml shares an aliased node rather than copying it, but the walk below visits it once per
 * use: a 1 KB file of nested aliases (billion laughs) would be walked for hours. Counted first,
 * with each node's count kept, so the count itself takes time in the file's size. A file that
 * is long without aliases is walked (it is refused at its first unknown key), so the error
 * says what it does only of aliases. */
static int check_expansion(struct loader *l, const yaml_node_t *root)
{
    size_t nodes = (size_t)(l->doc->nodes.top - l->doc->nodes.start), written = 0;
    uint32_t *memo = calloc(nodes, sizeof *memo);
    uint64_t total = 0;
    if (!memo) {
        errbuf_printf(l->err, l->errlen, "%s: out of memory", l->path);
        return -ENOMEM;
    }
    for (yaml_node_t *n = l->doc->nodes.start; n < l->doc->nodes.top; n++)
        written += n->type == YAML_MAPPING_NODE
                       ? (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start)
                   : n->type == YAML_SEQUENCE_NODE
                       ? (size_t)(n->data.sequence.items.top - n->data.sequence.items.start)
                       : 0;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        total += 1 + (uint64_t)expanded_size(l->doc, p->value, memo);
        if (total > MAX_YAML_EXPANDED && total > written) {
            const yaml_node_t *kn = yaml_document_get_node(l->doc, p->key);
            errbuf_printf(
                l->err, l->errlen,
                "%s:%zu: more than %d entries (keys and list items) after expanding aliases; a "
                "configuration needs far fewer (nested aliases?)",
                l->path, kn->start_mark.line + 1, MAX_YAML_EXPANDED);
            free(memo);
            return -E2BIG;
        }
    }
    free(memo);
    return 0;
}

static int load_mapping(struct loader *l, const yaml_node_t *map, char *prefix, size_t plen,
                        int depth)
{
    char exp[200];
    if (depth > MAX_YAML_DEPTH) {
        errbuf_printf(l->err, l->errlen, "%s:%d: %s: nested deeper than %d levels", l->path,
                      (int)map->start_mark.line + 1, prefix, MAX_YAML_DEPTH);
        return -EINVAL;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = yaml_document_get_node(l->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(l->doc, p->value);
        int kline = (int)kn->start_mark.line + 1;
        const struct weir_config_key *k;
        int rc;

        /* check_expansion counted this, but not what a cycle of aliases adds. */
        if (++l->expanded > MAX_YAML_EXPANDED) {
            errbuf_printf(
                l->err, l->errlen,
                "%s:%d: more than %d entries (keys and list items) after expanding aliases; a "
                "configuration needs far fewer (nested aliases?)",
                l->path, kline, MAX_YAML_EXPANDED);
            return -E2BIG;
        }
        if (kn->type != YAML_SCALAR_NODE) {
            errbuf_printf(l->err, l->errlen, "%s:%d: a key must be text, not a YAML %s", l->path,
                          kline, node_kind(kn));
            return -EINVAL;
        }
        const char *seg = (const char *)kn->data.scalar.value;
        size_t slen = strlen(seg);
        if (plen + 1 + slen > MAX_KEY_LEN) {
            errbuf_printf(l->err, l->errlen, "%s:%d: key longer than %d characters", l->path, kline,
                          MAX_KEY_LEN);
            return -EINVAL;
        }
        size_t nlen = plen;
        if (plen)
            prefix[nlen++] = '.';
        memcpy(prefix + nlen, seg, slen + 1);
        nlen += slen;

        k = weir_config_key_find(prefix);
        if (vn->type == YAML_SCALAR_NODE) {
            if (!k) {
                char msg[400];
                config_unknown_key(prefix, msg, sizeof msg);
                errbuf_printf(l->err, l->errlen, "%s:%d: %s", l->path, kline, msg);
                return -ENOENT;
            }
            rc = load_scalar(l, prefix, k, kn, vn);
        } else if (k && !(vn->type == YAML_MAPPING_NODE && is_prefix_of_a_key(prefix))) {
            config_expectation(k, exp, sizeof exp);
            errbuf_printf(l->err, l->errlen, "%s:%d: %s: %s, not a YAML %s", l->path,
                          (int)vn->start_mark.line + 1, k->name, exp, node_kind(vn));
            return -EINVAL;
        } else if (vn->type == YAML_SEQUENCE_NODE ||
                   (vn->data.mapping.pairs.top == vn->data.mapping.pairs.start && !k &&
                    !is_prefix_of_a_key(prefix))) {
            /* An empty mapping under a name no key starts with sets nothing, silently: it is
             * an unknown key like any other. A non-empty one is walked, so the error names
             * the whole key (memory.proces.size), which finds the nearest better. */
            char msg[400];
            config_unknown_key(prefix, msg, sizeof msg);
            errbuf_printf(l->err, l->errlen, "%s:%d: %s", l->path, kline, msg);
            return -ENOENT;
        } else {
            if (vn->data.mapping.pairs.top == vn->data.mapping.pairs.start) {
                errbuf_printf(l->err, l->errlen,
                              "%s:%d: %s: an empty mapping sets nothing; give keys under it or "
                              "remove it",
                              l->path, (int)vn->start_mark.line + 1, prefix);
                return -EINVAL;
            }
            rc = load_mapping(l, vn, prefix, nlen, depth + 1);
        }
        prefix[plen] = '\0';
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int yaml_failure(const yaml_parser_t *p, const char *path, char *err, size_t errlen)
{
    const char *problem = p->problem ? p->problem : "unknown error";
    switch (p->error) {
    case YAML_MEMORY_ERROR:
        errbuf_printf(err, errlen, "%s: out of memory reading YAML", path);
        return -ENOMEM;
    case YAML_READER_ERROR:
        /* Bad bytes (not UTF-8) or a read error: libyaml knows the offset, not the line. */
        errbuf_printf(err, errlen, "%s: byte %zu: %s", path, p->problem_offset, problem);
        return -EINVAL;
    default:
        if (p->context)
            errbuf_printf(err, errlen, "%s:%zu: YAML syntax error: %s %s started at line %zu", path,
                          p->problem_mark.line + 1, problem, p->context, p->context_mark.line + 1);
        else
            errbuf_printf(err, errlen, "%s:%zu: YAML syntax error: %s", path,
                          p->problem_mark.line + 1, problem);
        return -EINVAL;
    }
}

/* The whole stream into *out (malloc'd): a configuration is a few KB, and /dev/zero or a log
 * named by mistake is refused at MAX_YAML_BYTES instead of read until memory runs out. */
static int read_all(FILE *f, const char *path, unsigned char **out, size_t *len, char *err,
                    size_t errlen)
{
    size_t cap = 0, n = 0, got;
    unsigned char *buf = NULL;
    do {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            if (cap > MAX_YAML_BYTES + 1)
                cap = MAX_YAML_BYTES + 1;
            unsigned char *nb = n > MAX_YAML_BYTES ? NULL : realloc(buf, cap);
            if (!nb) {
                free(buf);
                if (n > MAX_YAML_BYTES) {
                    errbuf_printf(err, errlen,
                                  "%s: larger than %u MiB; a configuration is a few KB", path,
                                  MAX_YAML_BYTES >> 20);
                    return -EFBIG;
                }
                errbuf_printf(err, errlen, "%s: out of memory", path);
                return -ENOMEM;
            }
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    if (ferror(f)) {
        int e = errno ? errno : EIO;
        free(buf);
        errbuf_printf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    *out = buf;
    *len = n;
    return 0;
}

/* libyaml's scanner takes time in the square of the flow nesting: 64 KB of "a: [[[[..." kept
 * yaml_parser_load busy for half a minute, 1 MB for hours. Its events come after a bounded
 * look-ahead (a possible simple key goes stale after 1024 characters), so the nesting is
 * counted from them first, and a file nested deeper than load_mapping takes is refused before
 * its document is built. A syntax error ends the count: the load reports it in its words. */
static int check_nesting(const unsigned char *text, size_t len, const char *path, char *err,
                         size_t errlen)
{
    yaml_parser_t p;
    yaml_event_t ev;
    int depth = 0, rc = 0;
    if (!yaml_parser_initialize(&p)) {
        errbuf_printf(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    yaml_parser_set_input_string(&p, text, len);
    while (rc == 0 && yaml_parser_parse(&p, &ev)) {
        yaml_event_type_t t = ev.type;
        if (t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT) {
            /* the top-level mapping, then MAX_YAML_DEPTH levels below it */
            if (++depth > MAX_YAML_DEPTH + 1) {
                errbuf_printf(err, errlen, "%s:%zu: nested deeper than %d levels", path,
                              ev.start_mark.line + 1, MAX_YAML_DEPTH);
                rc = -EINVAL;
            }
        } else if (t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT) {
            depth--;
        }
        yaml_event_delete(&ev);
        if (t == YAML_STREAM_END_EVENT)
            break;
    }
    yaml_parser_delete(&p);
    return rc;
}

int config_load_stream(weir_config *c, FILE *f, const char *path, char *err, size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    bool have_doc = false;
    char prefix[MAX_KEY_LEN + 1] = "";
    unsigned char *text = NULL;
    size_t len = 0;
    int rc = read_all(f, path, &text, &len, err, errlen);

    if (rc < 0)
        return rc;
    if ((rc = check_nesting(text, len, path, err, errlen)) < 0) {
        free(text);
        return rc;
    }
    if (!yaml_parser_initialize(&parser)) {
        free(text);
        errbuf_printf(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    yaml_parser_set_input_string(&parser, text, len);
    c->gen++;

    if (!yaml_parser_load(&parser, &doc)) {
        rc = yaml_failure(&parser, path, err, errlen);
        goto err;
    }
    have_doc = true;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root) {
        if (root->type != YAML_MAPPING_NODE) {
            errbuf_printf(err, errlen,
                          "%s:%zu: expected a mapping of keys to values, not a YAML %s", path,
                          root->start_mark.line + 1, node_kind(root));
            rc = -EINVAL;
            goto err;
        }
        struct loader l = {c, &doc, path, err, errlen, 0};
        rc = check_expansion(&l, root);
        if (rc == 0)
            rc = load_mapping(&l, root, prefix, 0, 0);
        if (rc < 0)
            goto err;
        yaml_document_delete(&doc);
        have_doc = false;
        /* A second document would be silently ignored; say so instead. */
        if (!yaml_parser_load(&parser, &doc)) {
            rc = yaml_failure(&parser, path, err, errlen);
            goto err;
        }
        have_doc = true;
        root = yaml_document_get_root_node(&doc);
        if (root) {
            errbuf_printf(err, errlen, "%s:%zu: a second YAML document; weir reads one", path,
                          root->start_mark.line + 1);
            rc = -EINVAL;
            goto err;
        }
    }
err:
    if (have_doc)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    free(text);
    return rc;
}

int weir_config_load_file(weir_config *c, const char *path, char *err, size_t errlen)
{
    FILE *f;
    int rc;

    if (!c || !path) {
        errbuf_printf(err, errlen, "weir_config_load_file: missing argument");
        return -EINVAL;
    }
    f = fopen(path, "rb");
    if (!f) {
        rc = -errno;
        errbuf_printf(err, errlen, "%s: %s", path, strerror(errno));
        return rc;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        errbuf_printf(err, errlen, "%s: %s", path, strerror(EISDIR));
        return -EISDIR;
    }
    rc = config_load_stream(c, f, path, err, errlen);
    fclose(f);
    return rc;
}
