/*
 * @internal The dead-letter queue's writers (weir/dlq.h): dlq.c picks one by weir.dlq.type;
 * dlq_file.c writes JSON lines, dlq_kafka.c produces to a topic.
 */
#ifndef WEIR_DLQ_PRIVATE_H
#define WEIR_DLQ_PRIVATE_H

#include <stddef.h>

#include <weir/config.h>
#include <weir/dlq.h>

/* Each returns 0 with *out set, or a negative errno with one line in err naming the key. */
int dlq_file_open(const weir_config *cfg, struct weir_dlq_writer **out, char *err, size_t errlen);
int dlq_kafka_open(const weir_config *cfg, const char *job_name, struct weir_dlq_writer **out,
                   char *err, size_t errlen);

#endif
