#!/usr/bin/env bash
# Runs the Flink Nexmark peer offline, from the classpath that `mvn -q package`
# wrote (target/classpath.txt, jars in ~/.m2). Arguments go to
# weir.nexmark.flink.Runner (WEIR_FLINK_MAIN names another main class, e.g.
# weir.kafka.KafkaSourceBench); e.g. bin/run.sh --query q5 --events 10M -p 2.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
if [[ ! -f $here/target/classpath.txt || ! -d $here/target/classes ]]; then
    echo "weir-nexmark-flink: $here/target: not built; run 'mvn -q package' in $here" >&2
    exit 2
fi
# Flink on Java 17 reflects into these modules (Flink's own env.java.opts.all).
opens=()
for p in java.lang java.util java.lang.reflect java.io java.nio sun.nio.ch java.net java.text \
    java.time java.util.concurrent java.util.concurrent.atomic java.util.concurrent.locks; do
    opens+=("--add-opens=java.base/$p=ALL-UNNAMED")
done
exec java ${WEIR_FLINK_JAVA_OPTS:--Xmx4g} "${opens[@]}" \
    -Dorg.slf4j.simpleLogger.defaultLogLevel="${WEIR_FLINK_LOG_LEVEL:-error}" \
    -cp "$here/target/classes:$(cat "$here/target/classpath.txt")" \
    "${WEIR_FLINK_MAIN:-weir.nexmark.flink.Runner}" "$@"
