#!/usr/bin/env bash
# Two builds side by side on this machine, in one run: the end-to-end pipeline at p=1 and
# p=2 (bench_pipeline) and Nexmark queries through `weir bench nexmark`, alternating A and B
# in every round so that both see the same load. Prints each figure's median over the rounds
# for A and B and the ratio B/A. CPU-second rates are the steadier figure on a shared machine.
#
#   bench/ab.sh BUILD_A BUILD_B [ROUNDS] [QUERIES] [EVENTS]
#   bench/ab.sh /tmp/base-build build 5 "q5 q8" 4M
#
# BUILD_x is a build folder holding tools/weir and bench/bench_pipeline.
set -euo pipefail
a=${1:?usage: bench/ab.sh BUILD_A BUILD_B [ROUNDS] [QUERIES] [EVENTS]}
b=${2:?usage: bench/ab.sh BUILD_A BUILD_B [ROUNDS] [QUERIES] [EVENTS]}
rounds=${3:-5}
queries=${4:-q5 q8}
events=${5:-4M}
for d in "$a" "$b"; do
    for f in tools/weir bench/bench_pipeline; do
        [ -x "$d/$f" ] || { echo "bench/ab.sh: $d/$f: not found (build it first)" >&2; exit 2; }
    done
done
a=$(cd "$a" && pwd)
b=$(cd "$b" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# json_num FILE KEY: the first number after "KEY": in FILE
json_num() { grep -o "\"$2\": *[0-9.e+-]*" "$1" | head -1 | sed 's/.*: *//'; }

run_one() { # side build round
    local side=$1 build=$2 r=$3 out
    for p in 1 2; do
        out=$work/pipe-$side-$p-$r.json
        "$build/bench/bench_pipeline" --benchmark_filter="BM_Pipeline/$p/" \
            --benchmark_format=json >"$out" 2>/dev/null
        echo "pipeline_p${p}_rec_per_s $side $(json_num "$out" records_per_s)"
        echo "pipeline_p${p}_rec_per_cpu_s $side $(json_num "$out" records_per_cpu_s)"
    done
    for q in $queries; do
        out=$work/$q-$side-$r.json
        (cd "$work" && "$build/tools/weir" bench nexmark --query "$q" --events "$events" \
            -D state.checkpoints.dir="$work/chk-$side" --json "$out" >/dev/null 2>"$out.err") ||
            { echo "bench/ab.sh: $build/tools/weir bench nexmark --query $q failed:" >&2
              cat "$out.err" >&2; exit 1; }
        echo "nexmark_${q}_ev_per_s $side $(json_num "$out" events_per_s)"
        echo "nexmark_${q}_ev_per_cpu_s $side $(json_num "$out" events_per_cpu_s)"
    done
}

for r in $(seq 1 "$rounds"); do
    # alternate which side goes first, so neither always runs on a warmer machine
    if [ $((r % 2)) -eq 1 ]; then
        run_one A "$a" "$r"
        run_one B "$b" "$r"
    else
        run_one B "$b" "$r"
        run_one A "$a" "$r"
    fi
done >"$work/all.txt"

echo "A = $a   B = $b   rounds = $rounds   nexmark events = $events   $(date -u +%FT%TZ)"
printf '%-28s %14s %14s %8s\n' figure "median A" "median B" "B/A"
awk '
    { v[$1, $2, ++n[$1, $2]] = $3; if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 } }
    function median(f, s,   m, i, j, t, a) {
        m = n[f, s]
        for (i = 1; i <= m; i++) a[i] = v[f, s, i]
        for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
        return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
    }
    END {
        for (i = 1; i <= k; i++) {
            f = order[i]; ma = median(f, "A"); mb = median(f, "B")
            printf "%-28s %14.0f %14.0f %8.3f\n", f, ma, mb, (ma > 0 ? mb / ma : 0)
        }
    }' "$work/all.txt"
