# What every shell test (tests/*/test_*.sh) starts with, sourced as
#   . "$WEIR_SRC/tests/support/tap.sh" NAME
# a scratch directory $T (under $WEIR_TEST_TMP), removed when the test exits, and the
# reporting: `ok DESCRIPTION` and `bad DESCRIPTION [LOG]` print TAP-like lines ("ok - ...",
# "not ok - ..." with the log's last lines) and count $passes and $fails, from which the test
# reports and sets its exit status. A test that must clean up more sets its own EXIT trap
# after sourcing this, and removes "$T" there too.
T="${WEIR_TEST_TMP:-/tmp}/$1.$$"
mkdir -p "$T"
trap 'rm -rf "$T"' EXIT
fails=0 passes=0
ok() {
    passes=$((passes + 1))
    echo "ok - $1"
}
bad() {
    fails=$((fails + 1))
    echo "not ok - $1"
    if [ -n "${2:-}" ]; then tail -20 "$2" | sed 's/^/    /'; fi
}
