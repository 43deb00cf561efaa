#!/usr/bin/env bash
# tools/s3proxy.sh, the server every S3 test shares: the fixture's server answers at the
# endpoint it printed, checks SigV4 signatures (a wrong secret is refused, so the S3 tests
# prove something about auth), and a jar that cannot be fetched makes the tests skip with the
# reason instead of passing.
set -u
. "$WEIR_SRC/tests/support/tap.sh" s3proxy
S3PROXY="$WEIR_SRC/tools/s3proxy.sh"

# A server that cannot be had leaves a reason, and no endpoint to pass against.
st="$T/nojar"
if WEIR_S3PROXY_CACHE="$T/cache" WEIR_S3PROXY_URL="file://$T/missing.jar" \
    bash "$S3PROXY" start "$st" >"$T/nojar.log" 2>&1 &&
    grep -q "cannot fetch file://$T/missing.jar" "$st/skip" && [ ! -e "$st/env" ]; then
    ok "a jar that cannot be fetched leaves skip with the reason and no endpoint"
else
    bad "a jar that cannot be fetched leaves skip with the reason and no endpoint" "$T/nojar.log"
fi

if [ -e "$WEIR_S3_STATE/skip" ]; then
    echo "skip: $(cat "$WEIR_S3_STATE/skip")"
    [ "$fails" -eq 0 ] && exit 77
    exit 1
fi
set -a
. "$WEIR_S3_STATE/env"
set +a

empty=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
s3curl() { # SECRET URL [curl args...]: a signed request, the body to $T/out, prints the status
    local secret=$1 url=$2
    shift 2
    curl -s -o "$T/out" -w '%{http_code}' --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
        --user "$AWS_ACCESS_KEY_ID:$secret" "$@" "$url"
}
echo "weir" >"$T/obj"
sum=$(sha256sum "$T/obj" | cut -d' ' -f1)
url="$WEIR_S3_ENDPOINT/$WEIR_S3_BUCKET/s3proxy-test/obj"
code=$(s3curl "$AWS_SECRET_ACCESS_KEY" "$url" -H "x-amz-content-sha256: $sum" -T "$T/obj")
if [ "$code" = 200 ]; then ok "a signed PUT to the fixture's bucket succeeds"; else
    bad "a signed PUT to the fixture's bucket succeeds: HTTP $code" "$T/out"; fi
code=$(s3curl "$AWS_SECRET_ACCESS_KEY" "$url" -H "x-amz-content-sha256: $empty")
if [ "$code" = 200 ] && cmp -s "$T/out" "$T/obj"; then ok "a signed GET reads it back"; else
    bad "a signed GET reads it back: HTTP $code" "$T/out"; fi
code=$(s3curl "not-the-secret" "$url" -H "x-amz-content-sha256: $empty")
if [ "$code" = 403 ] && grep -q SignatureDoesNotMatch "$T/out"; then
    ok "a wrong secret is refused with SignatureDoesNotMatch"
else
    bad "a wrong secret is refused with SignatureDoesNotMatch: HTTP $code" "$T/out"
fi
s3curl "$AWS_SECRET_ACCESS_KEY" "$url" -X DELETE -H "x-amz-content-sha256: $empty" >/dev/null

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
