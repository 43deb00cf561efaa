/*
 * What libweir.so exports: the job API, that is every function and object the installed
 * headers (core/include/weir/) declare, and nothing else.
 *
 * The engine's objects are compiled with -fvisibility=hidden, so that engine-to-engine
 * calls bind inside the library, and with this file read first (-include, see the top-level
 * CMakeLists.txt). Declared here between the pragmas, the API keeps default visibility
 * wherever the engine defines it; core/libweir.map then names each exported symbol and
 * gives it the version WEIR_0.1. tests/abi/test_exports.sh checks that the headers, the map
 * and `nm -D libweir.so` list the same symbols.
 */
#ifndef WEIR_EXPORT_H
#define WEIR_EXPORT_H

#pragma GCC visibility push(default)
#include <weir/config.h>
#include <weir/inspect.h>
#include <weir/kafka.h>
#include <weir/weir.h>
#pragma GCC visibility pop

#endif
