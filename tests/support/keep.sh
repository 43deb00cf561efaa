# For the kill loops (tests/nexmark_queries/kill_restore.sh, test_kill*.sh,
# tests/recovery/test_savepoint_kill.sh), sourced after tap.sh. A run that was to be killed
# may finish before its kill fires (a loaded machine slows the reference run that the kill
# times are taken from, or a restored run has too little input left to reach its crash
# point): it then committed the rest of the output, and counting it would leave the test
# with fewer kills than it is about. Instead the loop keeps what the run starts from
#   keep PATH...       (before the run: copies of the output and checkpoint directories)
# and, when the run finished, puts it back and runs it again (with an earlier kill)
#   put_back PATH...   (the same paths: each is as keep found it, or gone if it was absent)
# so that every kill still lands in a run that had work left. $KEEP_TRIES is how many times
# one run may go again before the test gives up on it.
KEEP_TRIES=4
keep() {
    rm -rf "$T/keep"
    mkdir -p "$T/keep"
    local p
    for p; do
        [ -e "$p" ] && cp -a "$p" "$T/keep/${p##*/}"
    done
    return 0
}
put_back() {
    local p
    for p; do
        rm -rf "$p"
        [ -e "$T/keep/${p##*/}" ] && cp -a "$T/keep/${p##*/}" "$p"
    done
    return 0
}
