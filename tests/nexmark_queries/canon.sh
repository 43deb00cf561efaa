# Sourced by the Nexmark query tests that compare committed output with a run without
# failures (kill_restore.sh, rescale.sh): canon QUERY DIR prints the result to compare.

# rows of the committed files in commit order: by part number, then subtask (header rows
# left out). A subtask's part numbers grow, and a restore at any parallelism numbers on from
# the highest of all subtasks (file_2pc.c), so a key's rows come in the order they were
# committed even when a rescale moved the key to another subtask.
committed_rows() {
  local f
  for f in $(ls "$1" | grep '^part-[0-9]*-[0-9]*\.csv$' | sort -t- -k3,3n -k2,2n); do
    tail -n +2 "$1/$f"
  done
}

# the result to compare: sorted rows, or for an updating query its final table
canon() {
  local q=$1 dir=$2
  case $q in
    q4) committed_rows "$dir" | awk -F, '{ last[$1] = $0 } END { for (k in last) print last[k] }' ;;
    q17|q18) committed_rows "$dir" | awk -F, '{ last[$1 "," $2] = $0 } END { for (k in last) print last[k] }' ;;
    # the rank's row: auction, price, rank (ties on price may name other bidders)
    q19) committed_rows "$dir" | awk -F, '{ last[$1 "," $NF] = $1 "," $3 "," $NF } END { for (k in last) print last[k] }' ;;
    *) committed_rows "$dir" ;;
  esac | LC_ALL=C sort
}
