#!/usr/bin/env bash
# The job registry and `weir list` (issue 12, CLI): a running job is listed as `flink list`
# lists it, from the registry or from its REST API (-m); a job killed with -9, or whose pid
# was reused, is not, and its entry is cleaned; a job that ends removes its entry; the verbs
# name an unknown or ambiguous job id and `weir list`; a registry directory others could
# write is refused. Each case has its own WEIR_RUNTIME_DIR, so tests never see each other's
# jobs.
set -u
: "${WEIR:?}" "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" cli_list
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$T"' EXIT
export WEIR_RUNTIME_DIR="$T/run"
Q=(-D metrics.reporter.prom.port=0 -D rest.port=0)

# An unbounded job held to a low rate (it shares the machine), in the background; its pid
# in $!.
start_job() { "$WEIR" run "${Q[@]}" pipeline --unbounded --rate 1000 >"$T/$1.out" 2>"$T/$1.err" & PIDS+=($!); }
# Waits up to 30 s for N jobs to be listed (or for `weir list` to say none with N=0).
wait_listed() {
    for _ in $(seq 300); do
        "$WEIR" list >"$T/list" 2>"$T/list.err"
        [ "$(grep -c ' (RUNNING)$' "$T/list")" -eq "$1" ] && return 0
        sleep 0.1
    done
    return 1
}
one_line() { [ "$(wc -l <"$1")" -eq 1 ]; }

"$WEIR" list >"$T/o" 2>"$T/e"; rc=$?
[ $rc -eq 0 ] && [ "$(cat "$T/o")" = "No running jobs." ] && [ ! -e "$WEIR_RUNTIME_DIR" ] \
  && ok "list with no registry says no running jobs and makes nothing" || bad "empty list (rc=$rc)" "$T/e"

# --- a running job is listed; the registry is ours alone ---
start_job a; A=$!
if wait_listed 1; then
  id=$(sed -n 's/^.* : \([0-9a-f]\{32\}\) : pipeline (RUNNING)$/\1/p' "$T/list")
  if [ -n "$id" ] && grep -q '^------------------ Running/Restarting Jobs -------------------$' "$T/list" \
     && grep -q "rest: .*(job $id)" "$T/a.err" && grep -Eq '^[0-9]{2}\.[0-9]{2}\.[0-9]{4} [0-9:]{8} : ' "$T/list"; then
    ok "a running job is listed as flink list does (date : id : name (RUNNING))"; else bad "list format" "$T/list"; fi
else bad "the running job is listed" "$T/list"; id=none; fi
[ "$(stat -c %a "$WEIR_RUNTIME_DIR")" = 700 ] && [ "$(stat -c %a "$WEIR_RUNTIME_DIR/$id.job" 2>/dev/null)" = 600 ] \
  && ok "the registry is 0700 and its entries 0600" || bad "registry modes: $(stat -c %a "$WEIR_RUNTIME_DIR")"

# -m asks the job's REST server instead of the registry
url=$(sed -n 's/^url=//p' "$WEIR_RUNTIME_DIR/$id.job" 2>/dev/null)
WEIR_RUNTIME_DIR="$T/elsewhere" "$WEIR" list -m "${url#http://}" >"$T/o" 2>"$T/e"; rc=$?
[ $rc -eq 0 ] && grep -q " : $id : pipeline (RUNNING)$" "$T/o" \
  && ok "list -m HOST:PORT asks that REST server" || bad "list -m ${url#http://} (rc=$rc)" "$T/e"

# --- a job killed with -9 leaves an entry that is not listed, and is cleaned ---
start_job b; B=$!
wait_listed 2 || bad "the second job is listed" "$T/list"
idb=$(grep -v " : $id : " "$T/list" | sed -n 's/^.* : \([0-9a-f]\{32\}\) : .*$/\1/p')
kill -9 "$B"; wait "$B" 2>/dev/null
[ -n "$idb" ] && [ -e "$WEIR_RUNTIME_DIR/$idb.job" ] || bad "the killed job left its entry (test premise)"
"$WEIR" list >"$T/o" 2>"$T/e"
if grep -q " : $id : " "$T/o" && ! grep -q " : $idb : " "$T/o" && [ ! -e "$WEIR_RUNTIME_DIR/$idb.job" ]; then
  ok "a job killed with -9 is not listed and its entry is removed"; else bad "killed job listed or kept" "$T/o"; fi

# --- an entry whose pid now belongs to another process (start time differs) is stale ---
fake="$WEIR_RUNTIME_DIR/0123456789abcdef0123456789abcdef.job"
printf 'id=0123456789abcdef0123456789abcdef\nname=ghost\npid=%d\npid_start=1\nstart_ms=0\nurl=%s\n' $$ "$url" >"$fake"
"$WEIR" list >"$T/o" 2>"$T/e"
! grep -q ghost "$T/o" && [ ! -e "$fake" ] && ok "an entry whose pid was reused is not listed and is removed" \
  || bad "reused pid listed or kept" "$T/o"

# --- the verbs: unknown, ambiguous and stopped job ids ---
"$WEIR" cancel ffffffffffffffffffffffffffffffff >"$T/o" 2>"$T/e"; rc=$?
[ $rc -eq 1 ] && one_line "$T/e" && grep -q '"ffffffffffffffffffffffffffffffff"' "$T/e" && grep -q '`weir list`' "$T/e" \
  && ok "an unknown job id is one line naming it and weir list, exit 1" || bad "unknown id (rc=$rc)" "$T/e"
# two live entries (this shell's pid and start time) whose ids share a prefix
st=$(sed 's/.*) //' /proc/$$/stat | cut -d' ' -f20)
for x in 1 2; do
  printf 'id=abcabc000000000000000000000000%02d\nname=twin\npid=%d\npid_start=%s\nstart_ms=0\nurl=http://127.0.0.1:1\n' $x $$ "$st" \
    >"$WEIR_RUNTIME_DIR/abcabc000000000000000000000000$x.job"
done
"$WEIR" savepoint abcabc >"$T/o" 2>"$T/e"; rc=$?
[ $rc -eq 1 ] && one_line "$T/e" && grep -q '"abcabc" is the start of 2 job ids' "$T/e" \
  && ok "an ambiguous id prefix is refused with one line" || bad "ambiguous prefix (rc=$rc)" "$T/e"
rm -f "$WEIR_RUNTIME_DIR"/abcabc*.job
"$WEIR" checkpoint >"$T/o" 2>"$T/e"; rc=$?
[ $rc -eq 2 ] && grep -q 'no JOBID given' "$T/e" && ok "a verb without JOBID is a usage error" || bad "no JOBID (rc=$rc)" "$T/e"
"$WEIR" list -m 127.0.0.1:1 >"$T/o" 2>"$T/e"; rc=$?
[ $rc -eq 1 ] && one_line "$T/e" && grep -q -- '-m 127.0.0.1:1' "$T/e" \
  && ok "list -m with nothing listening is one line, exit 1" || bad "list -m closed port (rc=$rc)" "$T/e"

# --- a job that ends removes its entry; SIGTERM too ---
kill -TERM "$A"; wait "$A"; rc=$?
[ $rc -eq 0 ] && [ ! -e "$WEIR_RUNTIME_DIR/$id.job" ] && ok "a job stopped by SIGTERM removes its entry" \
  || bad "entry after SIGTERM (rc=$rc)" "$T/a.err"
"$WEIR" savepoint "${id:0:8}" >"$T/o" 2>"$T/e"; rc=$?
[ $rc -eq 1 ] && one_line "$T/e" && grep -q "no running job \"${id:0:8}\"" "$T/e" \
  && ok "a verb on a job that has stopped says it is not running" || bad "stopped job (rc=$rc)" "$T/e"
"$WEIR" run "${Q[@]}" pipeline --records 1000 >"$T/o" 2>"$T/e"; rc=$?
[ $rc -eq 0 ] && [ -z "$(ls -A "$WEIR_RUNTIME_DIR")" ] && ok "a finished job leaves no entry" || bad "finished job (rc=$rc)" "$T/e"

# --- a registry directory we cannot trust or write ---
chmod 777 "$WEIR_RUNTIME_DIR"
"$WEIR" list >"$T/o" 2>"$T/e"; rc=$?
[ $rc -eq 1 ] && one_line "$T/e" && grep -q "$WEIR_RUNTIME_DIR.*mode 777 lets others write it" "$T/e" && grep -q WEIR_RUNTIME_DIR "$T/e" \
  && ok "a registry others may write is refused with one line" || bad "0777 registry (rc=$rc)" "$T/e"
chmod 700 "$WEIR_RUNTIME_DIR"
if [ "$(id -u)" -eq 0 ]; then
  chown 65534 "$WEIR_RUNTIME_DIR"
  "$WEIR" list >"$T/o" 2>"$T/e"; rc=$?
  [ $rc -eq 1 ] && one_line "$T/e" && grep -q "owned by uid 65534, not by you" "$T/e" \
    && ok "a registry owned by someone else is refused with one line" || bad "foreign registry (rc=$rc)" "$T/e"
  chown 0 "$WEIR_RUNTIME_DIR"
fi
: >"$T/file"
WEIR_RUNTIME_DIR="$T/file" "$WEIR" run "${Q[@]}" pipeline --records 1000 >"$T/o" 2>"$T/e"; rc=$?
[ $rc -eq 0 ] && grep -q "job registry: $T/file (WEIR_RUNTIME_DIR): not a directory.*weir list. will not show this job" "$T/e" \
  && ok "a job that cannot register says so in one line and runs" || bad "unregistered run (rc=$rc)" "$T/e"

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
