#!/usr/bin/env bash
# A wrong s3.secret-key is found when the checkpoint storage opens, before the job runs: one
# line that names s3.secret-key, a failed exit, no output and nothing in the store.
set -u
: "${WEIR:?}" "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" s3_wrong_secret
. "$WEIR_SRC/tests/s3/s3_env.sh"

s3_run hostA "$T/out" "$T/a.log" -D s3.access-key="$AWS_ACCESS_KEY_ID" -D s3.secret-key=not-the-secret
rc=$?
[ $rc -ne 0 ] && ok "the run fails (exit $rc)" || bad "the run fails" "$T/a.log"
n=$(grep -c "s3.secret-key" "$T/a.log")
line=$(grep "s3.secret-key" "$T/a.log")
if [ "$n" -eq 1 ] && [[ "$line" == *SignatureDoesNotMatch* ]]; then
    ok "one line names s3.secret-key and the store's answer"
else
    bad "one line names s3.secret-key and the store's answer ($n lines)" "$T/a.log"
fi
if grep -q "checkpoint .* complete\|records from sources" "$T/a.log" || ls "$T/out"/part-* >/dev/null 2>&1; then
    bad "the job does not start" "$T/a.log"
else
    ok "the job does not start"
fi
[ ! -e "$S3DATA" ] && ok "nothing was written to the store" || bad "nothing was written to the store"

# the same pair from the environment (AWS_SECRET_ACCESS_KEY) is refused the same way
AWS_SECRET_ACCESS_KEY=not-the-secret s3_run hostA "$T/out" "$T/b.log"
grep -q "^weir: s3.secret-key: .*SignatureDoesNotMatch" "$T/b.log" \
    && ok "a wrong AWS_SECRET_ACCESS_KEY is named the same way" \
    || bad "a wrong AWS_SECRET_ACCESS_KEY is named the same way" "$T/b.log"
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
