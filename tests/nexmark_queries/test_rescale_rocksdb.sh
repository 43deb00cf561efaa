#!/usr/bin/env bash
# Rescale on RocksDB: every Nexmark query with output at -p 2, stopped with a savepoint,
# resumed at -p 3, stopped with a savepoint, resumed at -p 1 commits what a run without
# interruption does (rescale.sh says how).
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" nexmark-rescale-rocksdb
. "$WEIR_SRC/tests/nexmark_queries/rescale.sh"

for q in $RESCALE_QUERIES; do
  rescale_query "$q" -D state.backend=rocksdb -D state.backend.rocksdb.localdir="$T/rocks"
done

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
