#!/usr/bin/env bash
# Nexmark, weir vs Apache Flink, side by side on this machine (issue 5).
#
#   bench/nexmark_vs_flink.sh [--queries "q0 q1 q2 q5 q7 q8"] [--events 2M] [-p 1]
#       [--rounds 3] [--backends "hashmap rocksdb"] [--out DIR] [--seed 42]
#       [--warmup-events 200K] [--png PATH] [--weir PATH]
#   bench/nexmark_vs_flink.sh --plot-only --out DIR [--png PATH]   # table and chart from DIR/results.tsv
#
# For each query and state backend, runs `weir bench nexmark` and the Flink peer
# (bench/peers/flink, Flink in-process on a bit-identical Java port of the generator)
# ALTERNATELY, --rounds times: weir, Flink, weir, Flink, ... Both get the same events,
# seed, parallelism and EXACTLY_ONCE checkpoints every 10 s (passed explicitly), and the
# same cores: each run is pinned with `taskset -c 0-(P-1)`. Flink's JVM is warmed up by
# the runner's --warmup-events N: the same query on the first N events, in the same JVM,
# before the measured run (a fresh MiniCluster each).
#
# Throughput is read from the JSON both tools write (weir: throughput.events_per_s and
# throughput.events_per_cpu_s; Flink: events_per_second, over the job's net runtime).
# Per core = events/s / P. Medians over the rounds go to DIR/results.tsv, raw JSON to
# DIR/raw/, a table to stdout, and a grouped bar chart (log scale) to --png
# (default bench/nexmark_vs_flink.png) with gnuplot.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
flink_dir=$here/peers/flink

queries="q0 q1 q2 q5 q7 q8"
events=2M
par=1
rounds=3
backends="hashmap rocksdb"
out=
seed=42
warmup=200K
png=$here/nexmark_vs_flink.png
weir=${WEIR:-$root/build-cmp/tools/weir}
plot_only=0

die() { echo "nexmark_vs_flink: $*" >&2; exit 2; }
need() { [[ $# -ge 2 && -n $2 ]] || die "$1: expected a value"; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --queries) need "$@"; queries=$2; shift 2 ;;
        --events) need "$@"; events=$2; shift 2 ;;
        -p | --parallelism) need "$@"; par=$2; shift 2 ;;
        --rounds) need "$@"; rounds=$2; shift 2 ;;
        --backends) need "$@"; backends=$2; shift 2 ;;
        --out) need "$@"; out=$2; shift 2 ;;
        --seed) need "$@"; seed=$2; shift 2 ;;
        --warmup-events) need "$@"; warmup=$2; shift 2 ;;
        --png) need "$@"; png=$2; shift 2 ;;
        --weir) need "$@"; weir=$2; shift 2 ;;
        --plot-only) plot_only=1; shift ;;
        -h | --help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "$1: unknown flag; flags: --queries --events -p --rounds --backends --out --seed --warmup-events --png --weir --plot-only" ;;
    esac
done

if ((plot_only)); then
    [[ -n $out && -f $out/results.tsv ]] || die "--out: \"$out\": no results.tsv there (--plot-only needs a finished --out DIR)"
fi
ncpu=$(nproc)
[[ $par =~ ^[1-9][0-9]*$ ]] || die "-p: \"$par\": expected a positive parallelism"
((par <= ncpu)) || die "-p: \"$par\": more than the $ncpu cores here (runs are pinned to 0-$((par - 1)))"
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds: \"$rounds\": expected a positive count"
[[ $events =~ ^[0-9.]+[kKmMgG]?$ ]] || die "--events: \"$events\": expected a count like 2000000 or 2M"
[[ $warmup =~ ^[0-9.]+[kKmMgG]?$ ]] || die "--warmup-events: \"$warmup\": expected a count like 200K"
[[ $seed =~ ^[0-9]+$ ]] || die "--seed: \"$seed\": expected a non-negative integer"
for q in $queries; do
    [[ $q =~ ^q[0-9]+$ ]] || die "--queries: \"$q\": expected names like q0 q5"
done
[[ -n $queries ]] || die "--queries: empty"
for b in $backends; do
    [[ $b == hashmap || $b == rocksdb ]] || die "--backends: \"$b\": expected hashmap or rocksdb"
done
[[ -n $backends ]] || die "--backends: empty"
((plot_only)) || [[ -x $weir ]] || die "--weir: $weir: not built; cmake -S $root -B $root/build-cmp -DWEIR_BENCH=OFF && cmake --build $root/build-cmp -j2 --target weir_cmd"
((plot_only)) || [[ -f $flink_dir/target/classpath.txt ]] || die "$flink_dir: not built; cd $flink_dir && mvn -q -B -ntp package -DskipTests"
command -v jq >/dev/null || die "jq: not found (apt-get install jq)"
[[ -n $out ]] || out=$(mktemp -d "${TMPDIR:-/tmp}/nexmark-vs-flink.XXXXXX")
mkdir -p "$out/raw" || die "--out: $out: cannot create"

cpus=0-$((par - 1))
if ((!plot_only)); then
ck=(-D execution.checkpointing.interval=10s -D execution.checkpointing.mode=EXACTLY_ONCE)
{
    echo "# $(date -u +%FT%TZ) $(uname -n) $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# weir: $weir; flink: $flink_dir (warm-up $warmup events in the same JVM)"
    echo "# events $events, seed $seed, -p $par pinned to cpus $cpus, $rounds rounds, EXACTLY_ONCE every 10 s"
} | tee "$out/meta.txt" >&2

median() { sort -g | awk '{a[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

printf 'query\tbackend\tparallelism\tevents\trounds\tweir_events_per_s\tweir_events_per_s_per_core\tflink_events_per_s\tflink_events_per_s_per_core\tratio_weir_flink\tweir_events_per_cpu_s\tflink_events_per_cpu_s\n' >"$out/results.tsv"

# Backend outermost: every query on the first backend before the second.
for b in $backends; do
    for q in $queries; do
        w_eps=() f_eps=() w_epc=()
        for ((r = 1; r <= rounds; r++)); do
            wj=$out/raw/weir-$q-$b-r$r.json
            fj=$out/raw/flink-$q-$b-r$r.json
            taskset -c "$cpus" "$weir" bench nexmark --query "$q" --events "$events" -p "$par" \
                --seed "$seed" -D state.backend="$b" "${ck[@]}" --json "$wj" \
                >"$out/raw/weir-$q-$b-r$r.log" 2>&1 ||
                die "weir $q $b round $r failed; see $out/raw/weir-$q-$b-r$r.log"
            taskset -c "$cpus" "$flink_dir/bin/run.sh" --query "$q" --events "$events" \
                --parallelism "$par" --seed "$seed" --state-backend "$b" \
                --checkpoint-interval 10s --checkpointing-mode EXACTLY_ONCE \
                --warmup-events "$warmup" --json "$fj" \
                >"$out/raw/flink-$q-$b-r$r.log" 2>&1 ||
                die "flink $q $b round $r failed; see $out/raw/flink-$q-$b-r$r.log"
            w_eps+=("$(jq -r '.throughput.events_per_s' "$wj")")
            w_epc+=("$(jq -r '.throughput.events_per_cpu_s' "$wj")")
            f_eps+=("$(jq -r '.events_per_second' "$fj")")
            printf '%s %s round %d: weir %.0f events/s, flink %.0f events/s\n' "$q" "$b" "$r" \
                "${w_eps[-1]}" "${f_eps[-1]}" >&2
        done
        wm=$(printf '%s\n' "${w_eps[@]}" | median)
        fm=$(printf '%s\n' "${f_eps[@]}" | median)
        wc=$(printf '%s\n' "${w_epc[@]}" | median)
        awk -v q="$q" -v b="$b" -v p="$par" -v n="$events" -v r="$rounds" -v w="$wm" -v f="$fm" -v c="$wc" \
            'BEGIN {printf "%s\t%s\t%d\t%s\t%d\t%.0f\t%.0f\t%.0f\t%.0f\t%.2f\t%.0f\tNA\n", q, b, p, n, r, w, w / p, f, f / p, (f > 0 ? w / f : 0), c}' \
            >>"$out/results.tsv"
    done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/meta.txt" >&2
fi

echo
printf '%-6s %-8s %22s %22s %12s %22s\n' query backend "weir ev/s per core" "Flink ev/s per core" "weir/Flink" "weir ev/CPU-s"
awk -F'\t' 'NR > 1 {printf "%-6s %-8s %22.0f %22.0f %11.2fx %22.0f\n", $1, $2, $7, $9, $10, $11}' "$out/results.tsv"
echo "results: $out/results.tsv (raw JSON in $out/raw)"

# The chart: one group per query/backend, two bars (weir, Flink), log-scale y.
if ! command -v gnuplot >/dev/null; then
    echo "nexmark_vs_flink: gnuplot: not found (apt-get install gnuplot-nox); no chart" >&2
    exit 0
fi
awk -F'\t' 'NR > 1 {print $1 "/" $2 "\t" $7 "\t" $9}' "$out/results.tsv" >"$out/plot.dat"
IFS=$'\t' read -r _ _ par events rounds _ < <(sed -n 2p "$out/results.tsv")
gnuplot <<EOF
set terminal pngcairo size 1100,560 noenhanced font ",10"
set output "$png"
set title "Nexmark, events/s per core: weir vs Apache Flink ($events events, -p $par, EXACTLY_ONCE every 10 s; median of $rounds)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y 10
set format y "%.0s%c"
set ylabel "events/s per core (log)"
set grid ytics
set key top right
set xtics rotate by -35 scale 0
set datafile separator "\t"
plot "$out/plot.dat" using 2:xtic(1) title "weir" lc rgb "#1f77b4", \
     "" using 3 title "Flink 2.3.0" lc rgb "#ff7f0e"
EOF
echo "chart: $png"
