/* The inspect decoders of the core's built-in connectors (weir/inspect.h
 * weir_state_decoder), registered by inspect_decode.c on first use. */
#ifndef WEIR_CONNECTORS_DECODERS_H
#define WEIR_CONNECTORS_DECODERS_H
#include <stddef.h>

struct json_t;
/* One datagen split: {"residue", "stride", "next"} (seq = residue + k * stride, next is the
 * seq it emits next). */
int datagen_decode_item(const void *item, size_t len, struct json_t **out, char *err,
                        size_t errlen);
#endif
