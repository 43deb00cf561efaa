#!/usr/bin/env bash
# The Prometheus endpoint's default port is a range, so that a second job on the host starts
# (on the next free port, which it names) instead of failing on 9249; a range that is all
# taken is a configuration error naming the range and the key.
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" default-port
trap 'rm -rf "$T"; [ -n "$BG" ] && kill -9 $BG 2>/dev/null' EXIT
BG=""
metrics_port() { sed -n 's|^weir: metrics: http://127.0.0.1:\([0-9]*\)/metrics$|\1|p' "$1"; }

# The first job holds a port of the default range (9249 when nobody else has it) while it runs.
"$WEIR" run -D weir.progress=never pipeline --unbounded --rate 1000 >"$T/o1" 2>"$T/e1" &
BG=$!
first=""
for i in $(seq 1 100); do
  first=$(metrics_port "$T/e1")
  [ -n "$first" ] && break
  kill -0 $BG 2>/dev/null || break
  sleep 0.1
done
if [ -z "$first" ]; then
  # Every port of the range taken by others on this host: nothing this test can show.
  grep -q 'every port in the range is taken' "$T/e1" && { echo "skip: 9249-9260 all in use"; exit 77; }
  bad "the first job starts with the default port" "$T/e1"
else
  ok "the first job starts on port $first of the default range"
fi

# The second, at the same time and with the same defaults, starts too, on another port.
"$WEIR" run -D weir.progress=never pipeline --records 1000 >"$T/o2" 2>"$T/e2"; rc=$?
second=$(metrics_port "$T/e2")
if [ $rc -eq 0 ] && [ -n "$second" ] && [ "$second" != "$first" ] \
   && [ "$second" -ge 9249 ] && [ "$second" -le 9260 ]; then
  ok "a second job at the same time starts on port $second and says so"
else
  bad "a second job at the same time (rc=$rc, port=$second)" "$T/e2"
fi

# A range whose every port is taken: the first job's port, as a range of one and of two.
if [ -n "$first" ]; then
  "$WEIR" run -D weir.progress=never -D metrics.reporter.prom.port="$first-$first" \
    pipeline --records 10 >"$T/o3" 2>"$T/e3"; rc=$?
  if [ $rc -eq 2 ] \
     && tail -1 "$T/e3" | grep -q "^weir: metrics.reporter.prom.port: $first-$first: Address already in use"; then
    ok "a range all in use is a configuration error naming the range and the key"
  else
    bad "a range all in use (rc=$rc)" "$T/e3"
  fi
fi

kill -TERM $BG 2>/dev/null; wait $BG; BG=""
echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
