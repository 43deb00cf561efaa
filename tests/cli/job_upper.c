/* A job shared object: it upper-cases every line of a file. Built against an installed weir:
 *     cc -shared -fPIC job_upper.c -o job_upper.so $(pkg-config --cflags --libs weir)
 *     weir run -p 4 ./job_upper.so in.txt out     # out/part-0 .. out/part-3 */
#include <ctype.h>
#include <errno.h>
#include <weir/weir.h>

static int upper(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    char *p = weir_emit_reserve(out, in->len);
    if (!p)
        return -EMSGSIZE;
    for (uint32_t i = 0; i < in->len; i++)
        p[i] = (char)toupper(in->data[i]);
    return weir_emit_commit(out, in->ts);
}

int weir_job_main(weir_job *job, int argc, char **argv)
{
    if (argc != 3)
        return -EINVAL;
    weir_stream *s = weir_map(weir_source_file(job, "lines", argv[1]), "upper", upper);
    weir_sink_file(s, "out", argv[2], NULL);
    return 0;
}
