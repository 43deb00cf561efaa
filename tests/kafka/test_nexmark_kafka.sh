#!/usr/bin/env bash
# weir bench nexmark --kafka (Nexmark over Kafka, bench/nexmark/kafka.c): the generated events
# go into a topic of their own first (one line says how many, into how many partitions, in how
# long), then the query reads that topic; its committed rows equal the in-memory generator's
# run's, row for row, for a pass-through (q0), a join (q3), sliding windows (q5) and a windowed
# join (q8) at -p 2. --kafka with --unbounded or --rate is a one-line usage error. Skips (77)
# without the kafka fixture's broker.
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" nexmark-kafka
if [ -z "${WEIR_KAFKA_STATE:-}" ]; then
  echo "skip: WEIR_KAFKA_STATE is not set: run through ctest (fixture kafka)"
  exit 77
fi
if [ -e "$WEIR_KAFKA_STATE/skip" ]; then
  echo "skip: $(cat "$WEIR_KAFKA_STATE/skip")"
  exit 77
fi
. "$WEIR_KAFKA_STATE/env"
: "${WEIR_KAFKA_BOOTSTRAP:?}"

common=(-p 2 -D metrics.reporter.prom.port=0 -D weir.progress=never
        -D execution.checkpointing.interval=200ms)
rows() { tail -q -n +2 "$1"/part-*.csv | sort; } # each part file opens with a header row

for q in q0 q3 q5 q8; do
  "$WEIR" bench nexmark --query $q --events 20000 "${common[@]}" -D state.checkpoints.dir="$T/ck-$q" \
    --output "$T/mem-$q" >"$T/mem-$q.log" 2>&1 || { bad "$q in memory" "$T/mem-$q.log"; continue; }
  "$WEIR" bench nexmark --query $q --events 20000 "${common[@]}" -D state.checkpoints.dir="$T/kck-$q" \
    --kafka "$WEIR_KAFKA_BOOTSTRAP" --output "$T/kafka-$q" >"$T/kafka-$q.log" 2>&1 \
    || { bad "$q over Kafka" "$T/kafka-$q.log"; continue; }
  grep -Eq "^produce nexmark-$q-[0-9]+-[0-9]+: 20000 events \([0-9.]+ MiB\) into 2 partitions in [0-9.]+ s" \
    "$T/kafka-$q.log" && grep -q "^nexmark $q .* finished: 20000 events" "$T/kafka-$q.log" \
    && ok "$q over Kafka: the produce line, then 20000 events read" \
    || bad "$q over Kafka: no produce line or not 20000 events read" "$T/kafka-$q.log"
  rows "$T/mem-$q" >"$T/mem-$q.rows"
  rows "$T/kafka-$q" >"$T/kafka-$q.rows"
  n=$(wc -l <"$T/mem-$q.rows")
  [ "$n" -gt 1 ] && cmp -s "$T/mem-$q.rows" "$T/kafka-$q.rows" \
    && ok "$q over Kafka gives the in-memory generator's $n rows" \
    || { diff "$T/mem-$q.rows" "$T/kafka-$q.rows" | head -5; bad "$q: rows differ ($n in memory, $(wc -l <"$T/kafka-$q.rows") over Kafka)"; }
done

for extra in --unbounded "--events 10 --rate 1000"; do
  # shellcheck disable=SC2086
  err=$("$WEIR" bench nexmark --query q0 $extra --kafka "$WEIR_KAFKA_BOOTSTRAP" 2>&1); rc=$?
  [ $rc -eq 2 ] && [ "$(echo "$err" | wc -l)" -eq 1 ] && echo "$err" | grep -q -- "--kafka" \
    && ok "--kafka with $extra is a one-line usage error" || bad "--kafka $extra: rc $rc: $err"
done

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
