#!/usr/bin/env bash
# What `weir run` loads: a job .so built against another job ABI, or against a weir from
# before the ABI check, is refused with one line naming the file and both versions; a bare
# NAME.so is refused rather than looked up in the library search path.
set -u
: "${WEIR:?}" "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" jobload
command -v cc >/dev/null || { echo "skip: no cc"; exit 77; }
Q=(-D metrics.reporter.prom.port=0)
abi=$(sed -n 's/^#define WEIR_ABI_VERSION  *\([0-9]*\)$/\1/p' "$WEIR_SRC/core/include/weir/job.h")
[ -n "$abi" ] || { echo "not ok - WEIR_ABI_VERSION not found in job.h"; exit 1; }

# Jobs written without the header, to stand for jobs built against other weirs.
cat >"$T/other.c" <<C
const unsigned weir_job_abi_version = $((abi + 1));
int weir_job_main(void *job, int argc, char **argv) { return 0; }
C
printf 'int weir_job_main(void *job, int argc, char **argv) { return 0; }\n' >"$T/old.c"
cc -shared -fPIC "$T/other.c" -o "$T/other.so" && cc -shared -fPIC "$T/old.c" -o "$T/old.so" \
  || { echo "not ok - test jobs do not compile"; exit 1; }

"$WEIR" run "${Q[@]}" "$T/other.so" >"$T/o" 2>"$T/e"; rc=$?
if [ $rc -eq 2 ] && [ "$(wc -l <"$T/e")" -eq 1 ] && grep -q "$T/other.so: built against weir ABI version $((abi + 1)), this weir is ABI version $abi" "$T/e"; then
  ok "a job .so of another ABI version is refused"; else bad "another ABI version (rc=$rc)" "$T/e"; fi

"$WEIR" run "${Q[@]}" "$T/old.so" >"$T/o" 2>"$T/e"; rc=$?
if [ $rc -eq 2 ] && [ "$(wc -l <"$T/e")" -eq 1 ] && grep -q "$T/old.so: built against a weir older than ABI version checks" "$T/e" \
   && grep -q "ABI version $abi" "$T/e"; then
  ok "a job .so without an ABI version is refused"; else bad "no ABI version (rc=$rc)" "$T/e"; fi

# A bare name, though the file is in the current folder and on LD_LIBRARY_PATH.
cc -shared -fPIC -I"$WEIR_SRC/core/include" "$WEIR_SRC/tests/cli/job_upper.c" -o "$T/job_upper.so" \
  || { echo "not ok - job_upper.c does not compile"; exit 1; }
printf 'abc\n' >"$T/in.txt"
(cd "$T" && LD_LIBRARY_PATH="$T" "$WEIR" run "${Q[@]}" job_upper.so in.txt out.txt) >"$T/o" 2>"$T/e"; rc=$?
if [ $rc -eq 2 ] && [ "$(wc -l <"$T/e")" -eq 1 ] && grep -q '"job_upper.so": .*path with a slash.*write ./job_upper.so' "$T/e" \
   && [ ! -e "$T/out.txt" ]; then
  ok "a bare NAME.so is refused, not looked up"; else bad "bare name (rc=$rc)" "$T/e"; fi

(cd "$T" && "$WEIR" run "${Q[@]}" ./job_upper.so in.txt out.txt) >"$T/o" 2>"$T/e"; rc=$?
if [ $rc -eq 0 ] && [ "$(cat "$T/out.txt")" = ABC ]; then
  ok "./NAME.so of this ABI version runs"; else bad "./NAME.so (rc=$rc)" "$T/e"; fi
[ $fails -eq 0 ]
