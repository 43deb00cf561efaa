/*
 * The dead-letter queue's writer, as weir.dlq.type says: none, kafka (dlq_kafka.c) or file
 * (dlq_file.c). The runtime (core/src/runtime/dlq.c) uses it through struct weir_dlq_writer
 * only. The config already refused a value that is none of the three words.
 */
#include "dlq_private.h"

enum { DLQ_NONE, DLQ_KAFKA, DLQ_FILE }; /* the words of weir.dlq.type, in order */

int weir_dlq_open(const weir_config *cfg, const char *job_name, struct weir_dlq_writer **out,
                  char *err, size_t errlen)
{
    *out = NULL;
    switch (weir_config_get_enum(cfg, "weir.dlq.type")) {
    case DLQ_KAFKA:
        return dlq_kafka_open(cfg, job_name, out, err, errlen);
    case DLQ_FILE:
        return dlq_file_open(cfg, out, err, errlen);
    default:
        return 0;
    }
}
