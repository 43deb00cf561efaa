#!/usr/bin/env bash
# The weir command as a person uses it: exit codes, one-line errors, built-in
# and shared-object jobs, exact outputs, SIGTERM, and the Prometheus endpoint
# scraped with the real curl.
set -u
: "${WEIR:?}" "${WEIR_SRC:?}" "${WEIR_BUILD:?}"
. "$WEIR_SRC/tests/support/tap.sh" cli
trap 'rm -rf "$T"; [ -n "${BG:-}" ] && kill -9 $BG 2>/dev/null' EXIT
Q=(-D metrics.reporter.prom.port=0)

# --- usage and configuration errors: exit 2, one line naming key and value ---
"$WEIR" run "${Q[@]}" -D execution.bufer-timeout=1s pipeline >"$T/o" 2>"$T/e"; rc=$?
if [ $rc -eq 2 ] && grep -q 'execution.bufer-timeout' "$T/e" && grep -q 'did you mean "execution.buffer-timeout"' "$T/e" && [ "$(wc -l <"$T/e")" -eq 1 ]; then
  ok "unknown -D key suggests the nearest key"; else bad "unknown -D key suggests the nearest key (rc=$rc)" "$T/e"; fi

"$WEIR" run "${Q[@]}" -D memory.process.size=100000g pipeline >"$T/o" 2>"$T/e"; rc=$?
if [ $rc -eq 2 ] && grep -q 'memory.process.size' "$T/e" && ! grep -q 'placement' "$T/e"; then
  ok "process size over the machine is refused before running"; else bad "process size over the machine refused (rc=$rc)" "$T/e"; fi

printf 'execution:\n  buffer-timeout: 10 parsecs\n' >"$T/bad.yaml"
"$WEIR" config -c "$T/bad.yaml" >"$T/o" 2>"$T/e"; rc=$?
if [ $rc -eq 2 ] && grep -q "bad.yaml:2" "$T/e" && grep -q '10 parsecs' "$T/e"; then
  ok "bad value in the config file names file, line and value"; else bad "bad value in file (rc=$rc)" "$T/e"; fi

"$WEIR" run "${Q[@]}" nosuchjob >"$T/o" 2>"$T/e"; rc=$?
if [ $rc -eq 2 ] && grep -q '"nosuchjob" is neither a built-in job' "$T/e"; then
  ok "unknown job is a usage error"; else bad "unknown job (rc=$rc)" "$T/e"; fi

"$WEIR" run "${Q[@]}" -p 0 pipeline >"$T/o" 2>"$T/e"; rc=$?
if [ $rc -eq 2 ] && grep -q -- '-p: "0"' "$T/e"; then ok "-p 0 is refused"; else bad "-p 0 (rc=$rc)" "$T/e"; fi

"$WEIR" run "${Q[@]}" pipeline --records lots >"$T/o" 2>"$T/e"; rc=$?
if [ $rc -eq 2 ] && grep -q -- '--records: "lots"' "$T/e"; then ok "bad job argument names the flag"; else bad "bad job argument (rc=$rc)" "$T/e"; fi

# --- weir jobs / weir config ---
"$WEIR" jobs >"$T/o" 2>&1 && grep -q '^  pipeline' "$T/o" && grep -q '^  split-words' "$T/o" \
  && ok "weir jobs lists the built-ins" || bad "weir jobs" "$T/o"

"$WEIR" config -D taskmanager.memory.process.size=4g -p 3 >"$T/o" 2>"$T/e"; rc=$?
if [ $rc -eq 0 ] && grep -q 'memory.process.size' "$T/o" && grep -q '4.000 GiB' "$T/o" \
   && grep -q 'parallelism.default' "$T/o" && grep -q 'network' "$T/o"; then
  ok "weir config prints resolved keys and pools (Flink alias accepted)"; else bad "weir config (rc=$rc)" "$T/e"; fi

# --- exact outputs ---
for p in 1 2 4; do
  out="$T/gen$p"
  "$WEIR" run "${Q[@]}" -p $p generate --records 20000 --keys 77 "$out" >"$T/o" 2>"$T/e"; rc=$?
  if [ $p -eq 1 ]; then files="$out"; else files="$out"/part-*; fi
  # every seq exactly once
  if [ $rc -eq 0 ] && [ "$(cat $files | cut -d, -f1 | sort -n | uniq | wc -l)" -eq 20000 ] \
     && [ "$(cat $files | wc -l)" -eq 20000 ] && [ "$(cat $files | cut -d, -f1 | sort -n | tail -1)" -eq 19999 ]; then
    ok "generate -p $p: every record exactly once"; else bad "generate -p $p (rc=$rc)" "$T/e"; fi
  if [ $p -gt 1 ]; then
    # every key in exactly one part file
    dup=$(for f in $files; do cut -d, -f2 "$f" | sort -u; done | sort | uniq -d | wc -l)
    [ "$dup" -eq 0 ] && ok "generate -p $p: every key reaches one subtask" || bad "keys split across subtasks at -p $p"
  fi
done

printf 'the quick brown fox\njumps over the lazy dog\n\nthe end\n' >"$T/words.txt"
"$WEIR" run "${Q[@]}" -p 2 split-words "$T/words.txt" "$T/words.out" >"$T/o" 2>"$T/e"; rc=$?
got=$(cat "$T/words.out"/part-* | sort | tr '\n' ' ')
if [ $rc -eq 0 ] && [ "$got" = "brown dog end fox jumps lazy over quick the the the " ] \
   && [ "$(grep -l '^the$' "$T/words.out"/part-* | wc -l)" -eq 1 ]; then
  ok "split-words: every word once, each word on one subtask"; else bad "split-words (rc=$rc, got '$got')" "$T/e"; fi

# --- a job shared object ---
if cc -shared -fPIC -I"$WEIR_SRC/core/include" "$WEIR_SRC/tests/cli/job_upper.c" -o "$T/job_upper.so" 2>"$T/e"; then
  printf 'abc\nHello weir\n' >"$T/in.txt"
  "$WEIR" run "${Q[@]}" "$T/job_upper.so" "$T/in.txt" "$T/up.txt" >"$T/o" 2>"$T/e"; rc=$?
  if [ $rc -eq 0 ] && [ "$(cat "$T/up.txt")" = "$(printf 'ABC\nHELLO WEIR')" ]; then
    ok "a job shared object runs"; else bad "job .so (rc=$rc)" "$T/e"; fi
else bad "job .so does not compile" "$T/e"; fi

"$WEIR" run "${Q[@]}" "$T/missing.so" >"$T/o" 2>"$T/e"; rc=$?
[ $rc -eq 2 ] && grep -q 'missing.so' "$T/e" && ok "missing job .so is a usage error" || bad "missing .so (rc=$rc)" "$T/e"

# --- summary line, progress ---
"$WEIR" run "${Q[@]}" -D weir.progress=always pipeline --records 200000 >"$T/o" 2>"$T/e"; rc=$?
if [ $rc -eq 0 ] && grep -q 'weir: job pipeline finished in .*200000 records from sources' "$T/e" && grep -q 'records/s' "$T/e"; then
  ok "bounded job finishes with progress and a one-line summary"; else bad "summary (rc=$rc)" "$T/e"; fi

# --- SIGTERM stops an unbounded job cleanly; metrics are scraped meanwhile ---
"$WEIR" run -D metrics.reporter.prom.port=19300-19399 -p 2 pipeline --unbounded --rate 200000 >"$T/o" 2>"$T/e" &
BG=$!
port=""
for i in $(seq 1 100); do
  port=$(sed -n 's|^weir: metrics: http://127.0.0.1:\([0-9]*\)/metrics$|\1|p' "$T/e")
  [ -n "$port" ] && break
  sleep 0.1
done
sleep 1.5
if [ -n "$port" ] && curl -fsS "http://127.0.0.1:$port/metrics" >"$T/m" 2>&1 \
   && grep -Eq '^flink_taskmanager_job_task_numRecordsOut\{job_name="pipeline",job_id="[0-9a-f]{32}",task_name="datagen -> map -> filter",subtask_index="1"(,[^}]*)?\} [1-9]' "$T/m" \
   && grep -q '^flink_taskmanager_job_task_busyTimeMsPerSecond' "$T/m" && grep -q '^# TYPE flink_taskmanager_job_task_numRecordsIn counter' "$T/m"; then
  ok "Prometheus endpoint serves per-subtask metrics to curl"; else bad "metrics endpoint (port=$port)" "$T/m"; fi
kill -TERM $BG; wait $BG; rc=$?; BG=""
if [ $rc -eq 0 ] && grep -q 'weir: job pipeline stopped' "$T/e"; then
  src=$(sed -n 's/.*: \([0-9]*\) records from sources, \([0-9]*\) into sinks.*/\1 \2/p' "$T/e")
  set -- $src
  # the filter drops 1/16: sinks got fewer, but something flowed and nothing hung
  if [ "${1:-0}" -gt 0 ] && [ "${2:-0}" -gt 0 ]; then ok "SIGTERM stops an unbounded job cleanly"; else bad "SIGTERM counts ($src)" "$T/e"; fi
else bad "SIGTERM (rc=$rc)" "$T/e"; fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
