#!/usr/bin/env bash
# Under journald (JOURNAL_STREAM names stderr) every line on stderr starts with its sd-daemon
# level: <3> for an error, <6> for information; without JOURNAL_STREAM, or when stderr was
# redirected away from the stream it names, the lines are unchanged.
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" journal-log
RUN=(run -D weir.progress=never -D rest.port=0 -D metrics.reporter.prom.port=19600-19699
     generate --records 100 "$T/out")

# Runs weir ARGS... with stderr appended to FILE and JOURNAL_STREAM set to FILE's device:inode.
journal() {
    local f=$1
    shift
    : >"$f"
    JOURNAL_STREAM=$(stat -c %d:%i "$f") "$WEIR" "$@" 2>>"$f" >/dev/null
}

journal "$T/run.j" "${RUN[@]}"
if [ -s "$T/run.j" ] && ! grep -qv '^<[0-7]>' "$T/run.j"; then
    ok "every line has a level prefix under journald"
else
    bad "every line has a level prefix under journald" "$T/run.j"
fi
grep -q '^<6>weir: job generate finished in ' "$T/run.j" &&
    ok "the job's end is <6> (information)" || bad "info level" "$T/run.j"
journal "$T/bad.j" config -D no.such.key=1
grep -qx '<3>weir: -D unknown key "no.such.key"' "$T/bad.j" &&
    ok "a bad key is <3> (error)" || bad "error level" "$T/bad.j"

env -u JOURNAL_STREAM "$WEIR" "${RUN[@]}" 2>"$T/run.p" >/dev/null
# The same text but the numbers (ports, job ids, timings) and the prefix.
if sed 's/^<[0-7]>//; s/[0-9a-f]\{32\}/ID/; s/[0-9.]\+/N/g' "$T/run.j" >"$T/a" &&
    sed 's/[0-9a-f]\{32\}/ID/; s/[0-9.]\+/N/g' "$T/run.p" >"$T/b" &&
    ! grep -q '^<[0-7]>' "$T/run.p" && [ -s "$T/b" ] && cmp -s "$T/a" "$T/b"; then
    ok "without JOURNAL_STREAM the same lines come without a prefix"
else
    diff "$T/a" "$T/b" >"$T/diff" 2>&1
    bad "plain lines without JOURNAL_STREAM" "$T/diff"
fi
JOURNAL_STREAM=$(stat -c %d:%i "$T/run.j") "$WEIR" config -D no.such.key=1 2>"$T/other" >/dev/null
grep -qx 'weir: -D unknown key "no.such.key"' "$T/other" &&
    ok "stderr redirected elsewhere than JOURNAL_STREAM: no prefix" || bad "redirected" "$T/other"

echo "# $passes passed, $fails failed"
[ "$fails" -eq 0 ]
