#!/usr/bin/env bash
# weir bench nexmark's files: --dump-events writes the events as person.csv,
# auction.csv and bid.csv with Nexmark's header rows; --output's committed rows
# of q2 and q14 are what awk computes from the dumped bid.csv; --json holds the
# measurements; the checkpoint summary counts every completed checkpoint and names the
# slowest and fastest subtask of the last one (checkpoint skew); bad
# flags are one-line errors naming the flag and value.
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" nexmark-bench

common=(-D metrics.reporter.prom.port=0 -D weir.progress=never -D state.checkpoints.dir="$T/ck"
        -D execution.checkpointing.interval=50ms)

if "$WEIR" bench nexmark --query q2 --events 20000 --rate 40000 -p 2 "${common[@]}" \
     --dump-events "$T/events" --output "$T/q2" --json "$T/q2.json" >"$T/q2.log" 2>&1; then
  ok "q2 with --dump-events, --output and --json"
else
  bad "q2 with --dump-events, --output and --json" "$T/q2.log"
fi

[ "$(head -1 "$T/events/person.csv")" = "id,name,emailAddress,creditCard,city,state,dateTime,extra" ] &&
[ "$(head -1 "$T/events/auction.csv")" = "id,itemName,description,initialBid,reserve,dateTime,expires,seller,category,extra" ] &&
[ "$(head -1 "$T/events/bid.csv")" = "auction,bidder,price,channel,url,dateTime,extra" ] \
  && ok "event files have Nexmark's header rows" || bad "event files' header rows"
counts="$(($(wc -l <"$T/events/person.csv") - 1)) $(($(wc -l <"$T/events/auction.csv") - 1)) $(($(wc -l <"$T/events/bid.csv") - 1))"
[ "$counts" = "400 1200 18400" ] && ok "20000 events: 400 persons, 1200 auctions, 18400 bids" \
  || bad "event counts: $counts"

awk -F, 'NR > 1 && $1 % 123 == 0 { print $1 "," $3 }' "$T/events/bid.csv" | sort >"$T/q2.want"
cat "$T/q2"/*.csv | grep -vx "auction,price" | sort >"$T/q2.got"
[ -s "$T/q2.want" ] && cmp -s "$T/q2.want" "$T/q2.got" \
  && ok "q2's committed rows are the dumped bids of every 123rd auction ($(wc -l <"$T/q2.want"))" \
  || bad "q2's rows differ from awk over bid.csv: $(wc -l <"$T/q2.got") rows, expected $(wc -l <"$T/q2.want")"

# q14 in awk: 0.908 * price in (1e6, 5e7), HOUR in UTC, count of 'c' in extra
"$WEIR" bench nexmark --query q14 --events 20000 --event-rate 0.25 "${common[@]}" \
  --dump-events "$T/ev14" --output "$T/q14" >"$T/q14.log" 2>&1 || bad "q14 run" "$T/q14.log"
awk -F, 'NR > 1 { m = $3 * 908; if (m > 1000000000 && m < 50000000000) {
           h = int(($6 % 86400000) / 3600000);
           t = (h >= 8 && h <= 18) ? "dayTime" : (h <= 6 || h >= 20) ? "nightTime" : "otherTime";
           c = gsub(/c/, "c", $7);
           printf "%s,%s,%d.%03d,%s,%s,%s,%d\n", $1, $2, int(m / 1000), m % 1000, t, $6, $7, c } }' \
  "$T/ev14/bid.csv" | sort >"$T/q14.want"
cat "$T/q14"/*.csv | grep -v '^auction,' | sort >"$T/q14.got"
types=$(cut -d, -f4 "$T/q14.want" | sort -u | tr '\n' ' ')
[ -s "$T/q14.want" ] && cmp -s "$T/q14.want" "$T/q14.got" \
  && ok "q14's committed rows match awk over bid.csv ($(wc -l <"$T/q14.want") rows; $types)" \
  || bad "q14's rows differ from awk: $(wc -l <"$T/q14.got") rows, expected $(wc -l <"$T/q14.want")"

for key in '"query": "q2"' '"events": 20000' '"parallelism": 2' '"events_per_s"' '"events_per_cpu_s"' \
           '"p50"' '"p99"' '"checkpoints"' '"durations"'; do
  grep -qF "$key" "$T/q2.json" || { bad "--json lacks $key"; continue; }
done
grep -q '"completed": [1-9]' "$T/q2.json" && ok "--json has the measurements and completed checkpoints" \
  || bad "--json has no completed checkpoint" "$T/q2.json"

# The checkpoint summary covers every checkpoint, past the 32 that the run stats
# once kept: a 4 s run (--rate) checkpointing every 50 ms completes some 80.
"$WEIR" bench nexmark --query q1 --events 200000 --rate 50000 -p 2 "${common[@]}" \
  --json "$T/q1.json" >"$T/q1.out" 2>"$T/q1.log" || bad "q1 run" "$T/q1.log"
done_n=$(sed -n 's/^  checkpoints  \([0-9]*\) completed.*/\1/p' "$T/q1.out")
over_n=$(sed -n 's/.* over \([0-9]*\), from every checkpoint;.*/\1/p' "$T/q1.out")
json_n=$(grep -o '"duration_ms"' "$T/q1.json" | wc -l)
[ -n "$done_n" ] && [ "$done_n" -gt 32 ] && [ "$over_n" = "$done_n" ] && [ "$json_n" = "$done_n" ] \
  && ok "the checkpoint summary covers all $done_n completed checkpoints" \
  || bad "checkpoint summary: ${done_n:-?} completed, durations over ${over_n:-?}, $json_n in --json" "$T/q1.out"
# ... and its skew (issue 10): the slowest and fastest subtask of the last checkpoint they took
grep -Eq '^ +skew in checkpoint [0-9]+ \([0-9]+ subtasks\): slowest .* subtask [01] of 2 [0-9]+ ms end to end .*, fastest .* subtask [01] of 2 [0-9]+ ms; size min .* MiB .*, max .* MiB' "$T/q1.out" \
  && ok "the checkpoint summary names the slowest and fastest subtask" \
  || bad "no checkpoint skew line in the summary" "$T/q1.out"

err=$("$WEIR" bench nexmark --query q6 --events 10 2>&1); rc=$?
[ $rc -eq 2 ] && [ "$(echo "$err" | wc -l)" -eq 1 ] && echo "$err" | grep -q -- '--query: "q6"' \
  && ok "an unknown query is a one-line usage error" || bad "unknown query: rc $rc: $err"
err=$("$WEIR" bench nexmark --query q5 --events 10X 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$err" | grep -q -- '--events: "10X"' \
  && ok "a bad count names the flag and the value" || bad "bad count: rc $rc: $err"

# every query is a built-in job too
out=$("$WEIR" jobs)
for q in q0 q1 q2 q3 q4 q5 q7 q8 q9 q11 q12 q14 q17 q18 q19 q20 q21 q22; do
  echo "$out" | grep -q "^  $q " || bad "weir jobs does not list $q"
done
"$WEIR" run -D metrics.reporter.prom.port=0 -D weir.progress=never q3 --events 50000 "$T/run-q3" \
  >"$T/run.log" 2>&1 && [ "$(head -1 "$T/run-q3"/part-0-0.csv)" = "name,city,state,id" ] \
  && ok "weir run q3 OUTPUT_DIR writes CSV with a header row" || bad "weir run q3" "$T/run.log"

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
