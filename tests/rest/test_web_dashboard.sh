#!/usr/bin/env bash
# The REST server's web dashboard in a real headless Chromium (Debian's chromium): a job
# behind rest.auth.token-file serves the page and its assets with their Content-Types without
# the token, its API still answers 401 without it, and the page given the token in its
# "#token=" loads with no console error and shows the job's vertices, their parallelism and
# a completed checkpoint, per-subtask records/s and the memory pools (/taskmanagers/localhost); without the token it shows the 401 and
# no job data. Screenshots are kept in $WEIR_BUILD/test-output/web_dashboard_*.png.
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" web-dashboard
. "$WEIR_SRC/tests/support/metrics_job.sh"
trap 'metrics_job_stop; rm -rf "$T"' EXIT
command -v chromium >/dev/null || { echo "not ok - no chromium: run tools/install-deps.sh"; exit 1; }
OUTDIR="${WEIR_BUILD:-$T}/test-output"
mkdir -p "$OUTDIR"
echo "s3cret-$$" >"$T/token"
if ! metrics_job_start "$T/job" -p 2 -D rest.port=0 -D rest.auth.token-file="$T/token" \
     -D state.checkpoints.dir="$T/chk" -D execution.checkpointing.interval=300ms \
     window-count --unbounded --rate 2000 "$T/out"; then
  bad "the job starts" "$T/job.err"; echo "1..$((passes + fails))"; exit 1
fi
for i in $(seq 1 100); do
  URL=$(sed -n 's|^weir: rest: \(http://[^ ]*\) (job .*|\1|p' "$T/job.err")
  grep -q '^weir: checkpoint [0-9]* complete' "$T/job.err" && [ -n "$URL" ] && break
  sleep 0.1
done
# type PATH: the status and Content-Type of a GET of PATH without a token
type() { curl -sS -o /dev/null -w '%{http_code} %{content_type}' "$URL$1"; }
[ "$(type /)" = "200 text/html; charset=UTF-8" ] && [ "$(type /index.html)" = "200 text/html; charset=UTF-8" ] \
  && [ "$(type /web/app.js)" = "200 text/javascript; charset=UTF-8" ] \
  && [ "$(type /web/style.css)" = "200 text/css; charset=UTF-8" ] \
  && ok "the page and its assets are served with their Content-Types" \
  || bad "content types: / $(type /), app.js $(type /web/app.js), style.css $(type /web/style.css)"
[ "$(type /web/nothing.js)" = "401 application/json; charset=UTF-8" ] && [ "$(type /jobs)" = "401 application/json; charset=UTF-8" ] \
  && ok "the API (and any other path) still needs the token" || bad "without a token: /jobs $(type /jobs)"

# browse URL NAME: the page's DOM after 6 s of its virtual time into $T/NAME.html, Chromium's
# log into $T/NAME.log, a screenshot into $OUTDIR/web_dashboard_NAME.png
browse() {
  timeout 60 chromium --headless --no-sandbox --disable-gpu --enable-logging=stderr --v=0 \
    --user-data-dir="$T/profile-$2" --virtual-time-budget=6000 --window-size=1000,1200 \
    --screenshot="$OUTDIR/web_dashboard_$2.png" --dump-dom "$1" >"$T/$2.html" 2>"$T/$2.log"
}
browse "$URL/" anonymous
grep -q '<p id="error">Error: /jobs: HTTP 401</p>' "$T/anonymous.html" && ! grep -q 'vertex-name' "$T/anonymous.html" \
  && ok "without the token the page shows the API's 401 and no job data" || bad "the page without a token" "$T/anonymous.html"
browse "$URL/#token=$(cat "$T/token")" job
if grep -E 'Uncaught|ERROR:CONSOLE|CONSOLE[:(][0-9]+\)?\] "(Failed|Error)' "$T/job.log" >"$T/console"; then
  bad "the page logs console errors" "$T/console"
else
  ok "the page loads with no console error"
fi
grep -q '<h3 class="vertex-name">datagen (parallelism 2)</h3>' "$T/job.html" \
  && grep -q '<h3 class="vertex-name">count -&gt; out (parallelism 2)</h3>' "$T/job.html" \
  && ok "the page shows the job's vertices and their parallelism" || bad "vertices in the DOM" "$T/job.html"
grep -Eq '<td>[0-9]+</td><td>COMPLETED</td>' "$T/job.html" \
  && ok "the page shows a completed checkpoint" || bad "a completed checkpoint in the DOM" "$T/job.html"
grep -Eq '<td>0</td><td>RUNNING</td><td>[0-9]+</td>' "$T/job.html" \
  && ok "the page shows per-subtask records/s" || bad "records/s in the DOM" "$T/job.html"
grep -Eq '<td>task_heap</td><td>[0-9.]+ MiB</td><td>[0-9.]+ MiB</td><td>[0-9]+%</td>' "$T/job.html" \
  && ok "the page shows the memory pools" || bad "the task heap pool in the DOM" "$T/job.html"
curl -fsS -H "Authorization: Bearer $(cat "$T/token")" "$URL/taskmanagers/localhost" >"$T/tm.json" 2>&1
jq -e '.metrics.heapMax == .memoryConfiguration.taskHeap and .metrics.heapMax > 0
       and ([.weir.pools[].name] == ["framework", "task_heap", "managed", "network", "overhead"])
       and (.weir.pools[3].used > 0)' "$T/tm.json" >/dev/null \
  && ok "/taskmanagers/localhost holds the pools (Flink's heap and managed fields, weir.pools)" \
  || bad "/taskmanagers/localhost" "$T/tm.json"
[ -s "$OUTDIR/web_dashboard_job.png" ] && ok "the screenshot is saved ($OUTDIR/web_dashboard_job.png)" \
  || bad "no screenshot" "$T/job.log"
echo "1..$((passes + fails))"
[ "$fails" -eq 0 ]
