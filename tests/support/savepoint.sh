# For the shell tests that take savepoints of a running weir (sourced after tap.sh):
#   wait_for LOG REGEX TENTHS   waits up to TENTHS tenths of a second for a line of LOG
#                               matching REGEX (grep -E); false when none came
#   savepoint_of PID LOG        asks weir PID for a savepoint (kill -USR1, again every 2 s,
#                               five times at most) until LOG says one completed; prints its
#                               path, or nothing
wait_for() {
  local i
  for ((i = 0; i < $3 * 5; i++)); do
    grep -Eq "$2" "$1" 2>/dev/null && return 0
    sleep 0.02
  done
  return 1
}
savepoint_of() {
  local i
  for i in 1 2 3 4 5; do
    kill -USR1 $1 2>/dev/null
    wait_for "$2" "savepoint [0-9]+ complete" 20 && break
  done
  sed -n 's/.*savepoint [0-9]* complete: \([^ ]*\) .*/\1/p' "$2" | head -1
}
