#!/usr/bin/env bash
# Kafka end-to-end kill soak (issue 11; a script, not CI): the kafka-window job (Kafka topic of
# 4 partitions -> keyed event-time window count -> exactly-once Kafka sink) killed with
# SIGKILL many times, at random moments and at the checkpoint's crash points, resumed each time
# with --from-checkpoint latest; a read_committed reader must then find exactly the rows of a
# failure-free run, each once. It is tests/kafka/test_kafka_e2e_kill.c's exactly-once series
# with WEIR_E2E_KILLS kills instead of CI's 12, and an input sized to match (about 2 s of a
# paced run per kill, one 1 s window per second of it).
#
#   bench/kafka_e2e_soak.sh [--kills 50] [--build DIR] [--seed S]
#
# --build: a build tree with tools/weir and tests/kafka_test_kafka_e2e_kill (default build/).
# Starts its own broker (tools/kafka.sh, Kafka 4.1.1 in a temporary state directory), or uses
# the one WEIR_KAFKA_STATE names. Prints the kills landed and the verdict, one line:
#   kafka e2e exactly-once: K of N kills landed, W rows of R wrong, U unknown: ok|FAIL
# Exit 0 when the output was exact, 1 otherwise (the test's failure line says which row), 2 on
# bad usage, 77 when no broker could be started.
set -u

kills=50 build="" seed=""
src=$(cd "$(dirname "$0")/.." && pwd)
while [ $# -gt 0 ]; do
    case $1 in
    --kills) kills=${2:?}; shift ;;
    --build) build=${2:?}; shift ;;
    --seed) seed=${2:?}; shift ;;
    -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "kafka_e2e_soak: unknown option \"$1\"" >&2; exit 2 ;;
    esac
    shift
done
case $kills in '' | *[!0-9]*) echo "kafka_e2e_soak: --kills $kills: expected a count" >&2; exit 2 ;; esac
build=$(cd "${build:-$src/build}" && pwd) || exit 2
test_bin=$build/tests/kafka_test_kafka_e2e_kill
for f in "$build/tools/weir" "$test_bin"; do
    [ -x "$f" ] || { echo "kafka_e2e_soak: no $f: build first (cmake --build $build)" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/weir-kafka-soak.XXXXXX") || exit 1
state=${WEIR_KAFKA_STATE:-}
own_broker=""
cleanup() {
    [ -n "$own_broker" ] && bash "$src/tools/kafka.sh" stop "$state" >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT
if [ -z "$state" ]; then
    state=$tmp/kafka
    own_broker=1
    bash "$src/tools/kafka.sh" start "$state" >/dev/null || exit 1
fi
if [ -s "$state/skip" ]; then
    cat "$state/skip" >&2
    exit 77
fi

echo "kafka e2e soak: $kills kills, $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)," \
    "commit $(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)"
start=$(date +%s)
WEIR_E2E_KILLS=$kills WEIR_KAFKA_STATE=$state WEIR=$build/tools/weir WEIR_TEST_TMP=$tmp \
    ${seed:+WEIR_TEST_SEED=$seed} "$test_bin" >"$tmp/out.log" 2>&1
rc=$?
grep -E '^(seed|kafka e2e|exactly-once:|ERROR)' "$tmp/out.log"
echo "kafka e2e soak: $(($(date +%s) - start)) s, load $(cut -d' ' -f1-3 /proc/loadavg)"
if [ $rc -ne 0 ]; then
    grep -q '^kafka e2e' "$tmp/out.log" || tail -n 30 "$tmp/out.log"
    exit 1
fi
