#!/usr/bin/env bash
# Soak (issue 9; a script, not CI): Nexmark q5 and q8 for an hour with 1 s checkpoints and a
# kill -9 every few minutes; RSS, checkpoint size and open file descriptors must stay flat and
# the committed output exact. The report goes in bench/RESULTS.md.
#
#   tools/soak.sh [--minutes 60] [--queries "q5 q8"] [--build DIR] [--out DIR]
#                 [--rate 10000] [--kill-every MIN-MAX] [-p 1] [--backend hashmap|rocksdb]
#                 [--tolerance 20]
#
# Per query, one process at a time (the queries run side by side, each on a core of its own
# through numa.cpus when the machine has as many cores as queries):
#   - a bounded input sized to last --minutes: --events RATE*MINUTES*60 at --rate RATE events
#     per wall-clock second, with Nexmark's event time at the same rate (--event-rate RATE), so
#     that windows fire as they would on a live stream and state reaches a steady size;
#   - exactly-once CSV output (--output), checkpoints EXACTLY_ONCE every 1 s, restart strategy
#     none (a failure ends the process and fails the soak instead of hiding in a restart);
#   - kill -9 at a random moment every --kill-every seconds (default 120-300; for runs shorter
#     than 20 minutes, an eighth to a quarter of the duration), then a restart with
#     --from-checkpoint latest, until one process reads the input to its end and exits 0;
#   - every 10 s a sample of the live process into OUT/QUERY/samples.csv: VmRSS from
#     /proc/PID/status, open descriptors (entries of /proc/PID/fd), the bytes under the
#     checkpoint directory and those of its newest complete checkpoint (du -sb);
#   - at the end a failure-free reference run of the same input, unthrottled, and a row-for-row
#     comparison of the committed rows (header rows left out, both sides sorted: part files
#     split rows by subtask and by checkpoint, not in one order).
#
# Verdict per query, PASS when all hold:
#   - output exact: the committed rows equal the reference's, each as often, and no pending or
#     in-progress file (.part-*) is left in the output directory;
#   - flat: for RSS, descriptors and the newest checkpoint's bytes, the median of the samples
#     in the last quarter of the soak is at most the median of the second quarter plus
#     --tolerance percent (default 20), plus 2 descriptors of slack for fds; for the whole
#     checkpoint directory at most twice that (a checkpoint being written sits beside the
#     retained one, so a sample sees one or two). The first quarter is warm-up; a value that
#     shrinks is flat;
#   - every process ended by a kill or by finishing (rc 0): none failed.
# The summary (OUT/summary.md, also printed) is a RESULTS.md section: machine, date, commit,
# command, and one table row per query. Exit 0 when every query passed, 1 otherwise, 2 on bad
# usage.
set -u

minutes=60 queries="q5 q8" build="" out="" rate=10000 kill_every="" par=1 backend=hashmap tol=20
src=$(cd "$(dirname "$0")/.." && pwd)
usage() {
    sed -n '7,9p' "$0" | sed 's/^# \{0,3\}//' >&2
    exit 2
}
while [ $# -gt 0 ]; do
    case $1 in
    --minutes) minutes=${2:?}; shift ;;
    --queries) queries=${2:?}; shift ;;
    --build) build=${2:?}; shift ;;
    --out) out=${2:?}; shift ;;
    --rate) rate=${2:?}; shift ;;
    --kill-every) kill_every=${2:?}; shift ;;
    -p | --parallelism) par=${2:?}; shift ;;
    --backend) backend=${2:?}; shift ;;
    --tolerance) tol=${2:?}; shift ;;
    -h | --help) sed -n '2,39p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "soak: unknown option \"$1\"" >&2; usage ;;
    esac
    shift
done
for v in minutes rate par tol; do
    case ${!v} in
    '' | *[!0-9]* | 0) echo "soak: --$v: \"${!v}\": expected a positive whole number" >&2; exit 2 ;;
    esac
done
[ -n "$build" ] || build=$src/build
weir=$build/tools/weir
[ -x "$weir" ] || { echo "soak: $weir: not built (cmake --build $build, or give --build DIR)" >&2; exit 2; }
[ -n "$out" ] || out=${TMPDIR:-/tmp}/weir-soak.$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out" || exit 2
out=$(cd "$out" && pwd)

duration_s=$((minutes * 60))
if [ -n "$kill_every" ]; then
    kill_lo=${kill_every%-*} kill_hi=${kill_every#*-}
    case "$kill_lo$kill_hi" in '' | *[!0-9]*)
        echo "soak: --kill-every: \"$kill_every\": expected MIN-MAX seconds like 120-300" >&2
        exit 2 ;;
    esac
elif [ $duration_s -lt 1200 ]; then
    kill_lo=$((duration_s / 8)) kill_hi=$((duration_s / 4))
else
    kill_lo=120 kill_hi=300
fi
[ "$kill_lo" -ge 5 ] || kill_lo=5
[ "$kill_hi" -ge "$kill_lo" ] || kill_hi=$kill_lo
events=$((rate * duration_s))

now_ms() { date +%s%3N; }

# The arguments of every run of query $1 but the output and the checkpoint directory.
query_args() {
    printf '%s\n' bench nexmark --query "$1" -p "$par" --events "$events" --event-rate "$rate" \
        -D metrics.reporter.prom.port=0 -D weir.progress=never -D state.backend="$backend" \
        -D execution.checkpointing.interval=1s -D restart-strategy.type=none
}

# One sample of process $2 of the query in directory $1:
# elapsed_s,pid,rss_kb,fds,checkpoint_dir_bytes,latest_checkpoint_bytes,kills
sample() {
    local d=$1 pid=$2 t0=$3 kills=$4 rss fds ck latest c
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
    fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
    ck=$(du -sb "$d/ck" 2>/dev/null | cut -f1)
    # the newest complete checkpoint (with its _metadata)
    latest=0
    for c in $(ls -d "$d/ck"/*/chk-* 2>/dev/null | awk -F'chk-' '{ print $NF, $0 }' | sort -rn | cut -d' ' -f2-); do
        [ -f "$c/_metadata" ] || continue
        latest=$(du -sb "$c" 2>/dev/null | cut -f1)
        break
    done
    [ -n "$rss" ] && [ "$fds" -gt 0 ] || return 0 # the process ended between two reads
    echo "$(( ($(now_ms) - t0) / 1000 )),$pid,$rss,$fds,${ck:-0},${latest:-0},$kills" >>"$d/samples.csv"
}

# The soak of query $1 in OUT/$1, its CPU list $2 (empty: any); writes OUT/$1/status.
soak_query() {
    local q=$1 cpus=$2 d=$out/$1
    mkdir -p "$d"
    local args; mapfile -t args < <(query_args "$q")
    [ -n "$cpus" ] && args+=(-D numa.cpus="$cpus")
    local soak_args=("${args[@]}" --rate "$rate")
    echo "elapsed_s,pid,rss_kb,fds,checkpoint_dir_bytes,latest_checkpoint_bytes,kills" >"$d/samples.csv"
    : >"$d/kills.log"
    local t0; t0=$(now_ms)
    local kills=0 failed="" from=() run=0 pid rc
    local next_sample=0 next_kill=$((kill_lo + RANDOM % (kill_hi - kill_lo + 1)))
    while :; do
        run=$((run + 1))
        local started; started=$(now_ms)
        "$weir" "${soak_args[@]}" -D state.checkpoints.dir="$d/ck" "${from[@]}" --output "$d/output" \
            >"$d/run$run.log" 2>&1 &
        pid=$!
        local end_at=$(( (started - t0) / 1000 + next_kill ))
        while kill -0 "$pid" 2>/dev/null; do
            local el=$(( ($(now_ms) - t0) / 1000 ))
            if [ "$el" -ge "$next_sample" ]; then
                sample "$d" "$pid" "$t0" "$kills"
                next_sample=$((next_sample + 10))
            fi
            if [ "$el" -ge "$end_at" ]; then
                kill -9 "$pid" 2>/dev/null
                break
            fi
            sleep 1
        done
        wait "$pid" 2>/dev/null # no "Killed" line from the shell
        rc=$?
        if [ $rc -eq 0 ]; then
            break
        elif [ $rc -eq 137 ]; then
            kills=$((kills + 1))
            local last; last=$(ls -d "$d/ck"/*/chk-* 2>/dev/null | sed 's/.*chk-//' | sort -n | tail -1)
            echo "kill $kills at $(( ($(now_ms) - t0) / 1000 )) s, run $run (pid $pid) after" \
                "$(( ($(now_ms) - started) / 1000 )) s, latest checkpoint ${last:-none}" >>"$d/kills.log"
            next_kill=$((kill_lo + RANDOM % (kill_hi - kill_lo + 1)))
            if [ -n "$last" ]; then from=(--from-checkpoint latest); else from=(--overwrite); fi
        else
            failed="run $run exited $rc: $(tail -1 "$d/run$run.log")"
            break
        fi
    done
    local soak_s=$(( ($(now_ms) - t0) / 1000 ))
    local restored=no
    grep -q "restored from checkpoint" "$d/run$run.log" && restored=yes

    # the reference: the same input, no failure, no rate limit
    local rt0; rt0=$(now_ms)
    if ! "$weir" "${args[@]}" -D state.checkpoints.dir="$d/ck-ref" --output "$d/ref" \
        >"$d/ref.log" 2>&1; then
        failed="${failed:-reference run failed: $(tail -1 "$d/ref.log")}"
    fi
    local ref_s=$(( ($(now_ms) - rt0) / 1000 ))

    local header; header=$(head -1 "$(ls "$d/ref"/*.csv 2>/dev/null | head -1)" 2>/dev/null)
    cat "$d/ref"/*.csv 2>/dev/null | grep -vxF "$header" | LC_ALL=C sort >"$d/ref.sorted"
    cat "$d/output"/*.csv 2>/dev/null | grep -vxF "$header" | LC_ALL=C sort >"$d/got.sorted"
    local n_ref n_got exact first_diff="" stray
    n_ref=$(wc -l <"$d/ref.sorted") n_got=$(wc -l <"$d/got.sorted")
    stray=$(ls -A "$d/output" 2>/dev/null | grep -c '^\.')
    if [ -z "$failed" ] && [ "$n_ref" -gt 0 ] && cmp -s "$d/ref.sorted" "$d/got.sorted" &&
        [ "$stray" -eq 0 ]; then
        exact=yes
    else
        exact=no
        first_diff=$(diff "$d/ref.sorted" "$d/got.sorted" | grep -m1 '^[<>]')
        [ "$stray" -eq 0 ] || first_diff="$stray pending or in-progress files left; $first_diff"
    fi
    # flatness: medians of the second and the last quarter of the samples, by elapsed time
    local flat
    flat=$(awk -F, -v T="$soak_s" -v tol="$tol" '
        function median(a, n,   i, j, t) {
            for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
            return n ? (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2) : -1
        }
        NR > 1 && $1 >= T / 4 && $1 < T / 2 { n2++; r2[n2] = $3; f2[n2] = $4; d2[n2] = $5; c2[n2] = $6 }
        NR > 1 && $1 >= 3 * T / 4 { n4++; r4[n4] = $3; f4[n4] = $4; d4[n4] = $5; c4[n4] = $6 }
        END {
            mr2 = median(r2, n2); mr4 = median(r4, n4); mf2 = median(f2, n2); mf4 = median(f4, n4)
            mc2 = median(c2, n2); mc4 = median(c4, n4); md2 = median(d2, n2); md4 = median(d4, n4)
            ok = n2 > 0 && n4 > 0
            ok = ok && mr4 <= mr2 * (1 + tol / 100)
            ok = ok && mf4 <= mf2 * (1 + tol / 100) + 2
            ok = ok && mc4 <= mc2 * (1 + tol / 100)
            ok = ok && md4 <= 2 * md2 * (1 + tol / 100)
            if (!ok && (n2 == 0 || n4 == 0)) {
                printf "no|no samples|no samples|no samples|no samples|%d|%d\n", n2, n4
                exit
            }
            printf "%s|%.1f -> %.1f|%g -> %g|%.2f -> %.2f|%.2f -> %.2f|%d|%d\n", ok ? "yes" : "no",
                mr2 / 1024, mr4 / 1024, mf2, mf4, mc2 / 1048576, mc4 / 1048576,
                md2 / 1048576, md4 / 1048576, n2, n4
        }' "$d/samples.csv")
    local verdict=PASS
    [ "$exact" = yes ] && [ "${flat%%|*}" = yes ] || verdict=FAIL
    {
        echo "query=$q"
        echo "verdict=$verdict"
        echo "soak_s=$soak_s"
        echo "ref_s=$ref_s"
        echo "kills=$kills"
        echo "runs=$run"
        echo "last_run_restored=$restored"
        echo "rows=$n_got"
        echo "rows_ref=$n_ref"
        echo "exact=$exact"
        echo "flat=$flat"
        echo "failed=$failed"
        echo "first_diff=$first_diff"
    } >"$d/status"
}

ncpu=$(nproc)
nq=$(echo $queries | wc -w)
start_utc=$(date -u '+%Y-%m-%d %H:%M UTC')
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "soak: $queries, $minutes min, $events events each at $rate/s, kill -9 every" \
    "$kill_lo-$kill_hi s, checkpoints every 1 s, -p $par, $backend; in $out" >&2
i=0 pids=()
for q in $queries; do
    cpus=""
    if [ $((ncpu)) -ge $((nq * par)) ]; then
        cpus=$((i * par))
        [ "$par" -gt 1 ] && cpus="$cpus-$((i * par + par - 1))"
    fi
    soak_query "$q" "$cpus" &
    pids+=($!)
    i=$((i + 1))
done
for p in "${pids[@]}"; do wait "$p"; done

# the summary, in RESULTS.md's shape
commit=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$src" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo ", with local changes")
{
    echo "## Soak: $queries, $minutes min, kill -9 every $kill_lo-$kill_hi s (issue 9)"
    echo
    echo "$(uname -n): $ncpu cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
        "$(uname -sr); commit $commit$dirty; $start_utc, load average $load_before before," \
        "$(cut -d' ' -f1-3 /proc/loadavg) after."
    echo
    echo "    tools/soak.sh --minutes $minutes --queries \"$queries\" --rate $rate --kill-every $kill_lo-$kill_hi -p $par --backend $backend --tolerance $tol"
    echo
    echo "Each query: $events events at $rate/s (event time at the same rate), exactly-once CSV"
    echo "output, EXACTLY_ONCE checkpoints every 1 s, state $backend, parallelism $par; killed with"
    echo "SIGKILL at random every $kill_lo-$kill_hi s and resumed with \`--from-checkpoint latest\`."
    echo "Samples every 10 s; flat = the median of the last quarter at most the second quarter's"
    echo "+$tol % (fds: +2 more; checkpoint dir: twice, as a checkpoint in flight sits beside the"
    echo "retained one). Output exact = committed rows equal an unthrottled failure-free run's."
    echo
    echo "| query | soak | kills | committed rows (reference) | output exact | RSS MiB, Q2 -> Q4 | open fds, Q2 -> Q4 | latest checkpoint MiB, Q2 -> Q4 | checkpoint dir MiB, Q2 -> Q4 | verdict |"
    echo "|---|---:|---:|---:|---|---:|---:|---:|---:|---|"
    for q in $queries; do
        st=$out/$q/status
        if [ ! -f "$st" ]; then
            echo "| $q | - | - | - | - | - | - | - | - | FAIL (no status) |"
            continue
        fi
        get() { sed -n "s/^$1=//p" "$st"; }
        IFS='|' read -r _ rss fds ck ckdir _ <<<"$(get flat)"
        v=$(get verdict)
        echo "| $q | $(( $(get soak_s) / 60 )) min $(( $(get soak_s) % 60 )) s | $(get kills) |" \
            "$(get rows) ($(get rows_ref))" \
            "| $(get exact) | $rss | $fds | $ck | $ckdir | **$v** |"
    done
    for q in $queries; do
        st=$out/$q/status
        [ -f "$st" ] || continue
        f=$(sed -n 's/^failed=//p' "$st") d=$(sed -n 's/^first_diff=//p' "$st")
        [ -z "$f" ] || echo "- $q: $f"
        [ -z "$d" ] || echo "- $q: first difference: $d"
    done
    echo
    echo "Samples: \`$out/QUERY/samples.csv\`; kills: \`$out/QUERY/kills.log\`."
} | tee "$out/summary.md"
all=0 # the block above ran in a subshell of the pipe
for q in $queries; do
    grep -qx 'verdict=PASS' "$out/$q/status" 2>/dev/null || all=1
done
exit $all
