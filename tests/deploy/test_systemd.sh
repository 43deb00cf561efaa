#!/usr/bin/env bash
# tools/deploy/systemd: the unit passes `systemd-analyze verify` (a copy whose paths point at
# this build), the drop-in's MemoryMax is the config's memory.process.size in bytes, and
# weir-service's stop takes a savepoint that its next start restores (until a newer checkpoint
# exists, when it takes --from-checkpoint latest).
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" systemd
D="$WEIR_SRC/tools/deploy/systemd"
SVC="$D/weir-service"
export WEIR WEIR_CONFIG_DIR="$T/etc" STATE_DIRECTORY="$T/state" WEIR_RUNTIME_DIR="$T/run"
mkdir -p "$T/etc" "$T/unit"

if command -v systemd-analyze >/dev/null; then
    sed -e "s|/usr/lib/weir/weir-service|$SVC|g" -e "s|/usr/bin/weir|$WEIR|g" \
        "$D/weir@.service" >"$T/unit/weir@.service"
    ln -s "weir@.service" "$T/unit/weir@test.service"
    # Silent and 0: a misspelt key is only a warning line, a missing program a failure.
    if systemd-analyze verify --man=no "$T/unit/weir@test.service" >"$T/verify" 2>&1 &&
        ! [ -s "$T/verify" ]; then
        ok "systemd-analyze verify accepts weir@.service"
    else
        bad "systemd-analyze verify accepts weir@.service" "$T/verify"
    fi
else
    echo "# systemd-analyze missing (Debian package systemd): the unit is not verified"
fi

printf 'memory.process.size: 3g\n' >"$T/etc/mem.yaml"
"$SVC" dropin mem >"$T/dropin" 2>&1
grep -qx 'MemoryMax=3221225472' "$T/dropin" && grep -qx '\[Service\]' "$T/dropin" &&
    ok "the drop-in's MemoryMax is memory.process.size (3g) in bytes" || bad "drop-in" "$T/dropin"
printf 'taskmanager.memory.process.size: 2048m\n' >"$T/etc/flink.yaml"
"$SVC" dropin flink >"$T/dropin2" 2>&1
grep -qx 'MemoryMax=2147483648' "$T/dropin2" &&
    ok "Flink's taskmanager.memory.process.size sizes it too" || bad "Flink key" "$T/dropin2"
printf 'memory.process.size: lots\n' >"$T/etc/bad.yaml"
if "$SVC" dropin bad >"$T/dropin3" 2>&1; then
    bad "a bad size is refused" "$T/dropin3"
else
    grep -q 'memory.process.size "".*weir config -c' "$T/dropin3" &&
        ok "a bad size is one line naming the key" || bad "bad size message" "$T/dropin3"
fi

cat >"$T/etc/job.yaml" <<YAML
state.checkpoints.dir: $T/chk
execution.checkpointing.interval: 500ms
rest.port: 0
metrics.reporter.prom.port: 19600-19699
weir.progress: never
YAML
printf 'WEIR_JOB=window-count\nWEIR_ARGS="--unbounded --rate 2000 %s"\n' "$T/out" >"$T/etc/job.env"

# Starts the instance in the background: PID its weir (the script execs it) once registered.
start_job() {
    (
        unset WEIR_JOB
        "$SVC" start job >>"$T/job.log" 2>&1
        echo $? >"$T/job.rc"
    ) &
    PID="" SUB=$!
    for _ in $(seq 1 200); do
        PID=$(sed -n 's/^pid=//p' "$T/run"/*.job 2>/dev/null | head -n 1)
        [ -n "$PID" ] && return 0
        sleep 0.1
    done
    return 1
}
stop_job() {
    timeout 60 "$SVC" stop job "$PID" >>"$T/stop.log" 2>&1
    local rc=$?
    wait "$SUB"
    return $rc
}
trap 'kill "$PID" 2>/dev/null; wait; rm -rf "$T"' EXIT

start_job && sleep 2 && stop_job && [ "$(cat "$T/job.rc")" = 0 ] &&
    ok "stop takes a savepoint and the job ends (status 0)" ||
    bad "stop with savepoint" "$T/stop.log"
SP=$(cat "$T/state/last-savepoint" 2>/dev/null)
[ -n "$SP" ] && [ -f "$SP/_metadata" ] && ok "last-savepoint names it: $SP" ||
    bad "last-savepoint" "$T/stop.log"

: >"$T/job.log"
start_job && sleep 2 && stop_job
grep -q "^weir: restored from $SP" "$T/job.log" &&
    ok "the next start restores the stop's savepoint" || bad "restore the savepoint" "$T/job.log"

# A checkpoint newer than the last savepoint (a crash after it, say) wins: latest.
SP2=$(cat "$T/state/last-savepoint")
LAST=$(ls -d "$T"/chk/window-count/chk-* | sed 's/.*chk-//' | sort -n | tail -n 1)
echo "$T/savepoints/savepoint-window-count-1" >"$T/state/last-savepoint"
: >"$T/job.log"
start_job && sleep 1 && stop_job
grep -q "^weir: restored from .*/chk-$LAST " "$T/job.log" &&
    ok "a newer checkpoint than the savepoint is restored instead (chk-$LAST, not $SP2)" ||
    bad "latest checkpoint over an older savepoint" "$T/job.log"

# ExecStop after the job ended by itself: no MAINPID, nothing to do.
"$SVC" stop job "" >"$T/noop" 2>&1 && ok "stop without a pid does nothing" || bad "stop, no pid" "$T/noop"

echo "# $passes passed, $fails failed"
[ "$fails" -eq 0 ]
