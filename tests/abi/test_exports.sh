#!/usr/bin/env bash
# libweir.so exports the job API and nothing else: `nm -D` on the built library, the
# version map (core/libweir.map) and the declarations of the installed headers
# (core/include/weir/*.h: functions as GCC's -aux-info lists them, `extern` objects by
# grep) must name the same weir_* symbols, in both directions.
set -u
: "${WEIR_SRC:?}" "${WEIR_BUILD:?}"
T="${WEIR_TEST_TMP:-/tmp}/exports.$$"
mkdir -p "$T"
trap 'rm -rf "$T"' EXIT
lib="$WEIR_BUILD/libweir.so"
command -v nm >/dev/null && command -v cc >/dev/null || { echo "skip: no nm or cc"; exit 77; }

# Exported: defined dynamic symbols, less the version nodes (WEIR_0.1) nm lists as absolute.
nm -D --defined-only "$lib" | awk '{sub(/@.*/, "", $3); if ($3 !~ /^WEIR_[0-9.]+$/) print $3}' \
  | sort -u >"$T/exported"

# Mapped: the names between "global:" and "local:" in the version map.
sed 's|/\*.*\*/||' "$WEIR_SRC/core/libweir.map" \
  | awk '/global:/ {on = 1; next} /local:/ {on = 0} on' | tr -d ' \t;' | grep . | sort -u >"$T/mapped"

# Declared: non-static function prototypes and extern objects of the installed headers.
: >"$T/declared.raw"
for h in "$WEIR_SRC"/core/include/weir/*.h; do
  printf '#include <weir/%s>\n' "${h##*/}" >"$T/h.c"
  cc -fsyntax-only -aux-info "$T/h.aux" -I"$WEIR_SRC/core/include" "$T/h.c" || exit 1
  grep -F "$h:" "$T/h.aux" | grep ':NC \*/' | sed 's|^/\*[^*]*\*/||' \
    | grep -o 'weir_[a-z0-9_]* (' | sed 's/ (//' >>"$T/declared.raw"
  sed -n -E 's/^extern .*\b(weir_[a-z0-9_]+)(\[\])?;.*/\1/p' "$h" >>"$T/declared.raw"
done
sort -u "$T/declared.raw" >"$T/declared"

fails=0
check() { # NAME FILE: FILE lists what is wrong; empty passes
  if [ -s "$2" ]; then echo "not ok - $1:"; sed 's/^/    /' "$2"; fails=$((fails + 1)); else echo "ok - $1"; fi
}
grep -v '^weir_' "$T/exported" >"$T/d1"
check "libweir.so exports only weir_* symbols" "$T/d1"
comm -23 "$T/exported" "$T/mapped" >"$T/d2"
check "nothing exported that the version map does not list" "$T/d2"
comm -13 "$T/exported" "$T/mapped" >"$T/d3"
check "everything the version map lists is exported" "$T/d3"
comm -23 "$T/mapped" "$T/declared" >"$T/d4"
check "the version map lists nothing the installed headers do not declare" "$T/d4"
comm -13 "$T/mapped" "$T/declared" >"$T/d5"
check "the version map lists everything the installed headers declare" "$T/d5"
[ "$(wc -l <"$T/exported")" -gt 100 ] && echo "ok - $(wc -l <"$T/exported") symbols" \
  || { echo "not ok - too few symbols parsed"; fails=$((fails + 1)); }
[ $fails -eq 0 ]
