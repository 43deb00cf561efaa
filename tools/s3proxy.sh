#!/usr/bin/env bash
# A local S3-compatible server for the S3 tests: S3Proxy 4.1.0 (one jar from Maven Central),
# filesystem backend, SigV4 checked (s3proxy.authorization=aws-v4), on a free port.
#
#   tools/s3proxy.sh start STATE_DIR   fetch the jar (cached), start, wait until it answers,
#                                      print the endpoint; STATE_DIR/env then holds
#                                      WEIR_S3_ENDPOINT, WEIR_S3_BUCKET, the credentials
#   tools/s3proxy.sh stop STATE_DIR    stop it and remove its data
#
# ctest starts it once per run (fixture s3proxy in tests/CMakeLists.txt). When the jar cannot
# be had (no network, no java), start writes STATE_DIR/skip with the reason and exits 0: every
# S3 test then exits 77 and prints that reason, so none passes without a server.
# The jar is kept in WEIR_S3PROXY_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/weir), outside
# the repository; WEIR_S3PROXY_URL overrides where it is fetched from.
set -euo pipefail

VERSION=4.1.0
JAR=s3proxy-$VERSION-jar-with-dependencies.jar
URL=${WEIR_S3PROXY_URL:-https://repo1.maven.org/maven2/org/gaul/s3proxy/$VERSION/$JAR}
CACHE=${WEIR_S3PROXY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/weir}
BUCKET=weir-test
IDENTITY=weir-test-access
CREDENTIAL=weir-test-secret

die() { echo "s3proxy.sh: $*" >&2; exit 1; }
skip() { # the reason every S3 test will print
  echo "S3Proxy unavailable: $*" >"$STATE/skip"
  echo "s3proxy.sh: skip: $*" >&2
  exit 0
}

# The jar, fetched once into the cache: curl from Maven Central, checked against Central's
# .sha1; the download goes to a temp name first so that concurrent runs never see half a jar.
fetch_jar() {
  local jar=$CACHE/$JAR
  [ -s "$jar" ] && { echo "$jar"; return 0; }
  mkdir -p "$CACHE" || return 1
  local tmp
  tmp=$(mktemp "$CACHE/.$JAR.XXXXXX") || return 1
  if ! curl -fsSL --retry 2 --connect-timeout 20 --max-time 300 -o "$tmp" "$URL" >&2; then
    rm -f "$tmp"
    return 1
  fi
  local want got
  if want=$(curl -fsSL --connect-timeout 20 --max-time 60 "$URL.sha1" 2>/dev/null); then
    got=$(sha1sum "$tmp" | cut -d' ' -f1)
    if [ "${want%% *}" != "$got" ]; then
      rm -f "$tmp"
      echo "s3proxy.sh: $URL: sha1 $got, Maven Central says $want" >&2
      return 1
    fi
  fi
  mv -f "$tmp" "$jar"
  echo "$jar"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' \
    2>/dev/null || echo $((20000 + RANDOM % 40000))
}

start() {
  mkdir -p "$STATE"
  stop_server # one left by an interrupted run
  rm -f "$STATE/skip" "$STATE/env" "$STATE/endpoint"
  command -v java >/dev/null 2>&1 || skip "no java on PATH (tools/install-deps.sh installs one)"
  command -v curl >/dev/null 2>&1 || skip "no curl on PATH"
  local jar
  jar=$(fetch_jar) || skip "cannot fetch $URL into $CACHE"
  local data=$STATE/data
  rm -rf "$data"
  mkdir -p "$data/$BUCKET" # the filesystem backend's buckets are directories
  local attempt port
  for attempt in 1 2 3; do
    port=$(free_port)
    cat >"$STATE/s3proxy.conf" <<EOF
s3proxy.endpoint=http://127.0.0.1:$port
s3proxy.authorization=aws-v4
s3proxy.identity=$IDENTITY
s3proxy.credential=$CREDENTIAL
jclouds.provider=filesystem
jclouds.filesystem.basedir=$data
EOF
    # Small heap and a quick JIT: the server is tiny and the test machine is shared. timeout
    # ends a server whose stop never came (an interrupted ctest) after WEIR_S3PROXY_LIFETIME s.
    setsid timeout -k 10 "${WEIR_S3PROXY_LIFETIME:-7200}" java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -jar "$jar" \
      --properties "$STATE/s3proxy.conf" >"$STATE/s3proxy.log" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$STATE/pid"
    local i
    for i in $(seq 1 240); do # up to 60 s on a loaded machine; it is ready in 2-3 s alone
      if ! kill -0 "$pid" 2>/dev/null; then break; fi
      local code
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/" || true)
      if [ "$code" != "000" ] && [ -n "$code" ]; then
        echo "http://127.0.0.1:$port" >"$STATE/endpoint"
        cat >"$STATE/env" <<EOF
WEIR_S3_ENDPOINT=http://127.0.0.1:$port
WEIR_S3_BUCKET=$BUCKET
AWS_ACCESS_KEY_ID=$IDENTITY
AWS_SECRET_ACCESS_KEY=$CREDENTIAL
AWS_REGION=us-east-1
EOF
        echo "http://127.0.0.1:$port"
        return 0
      fi
      sleep 0.25
    done
    stop_server
    echo "s3proxy.sh: attempt $attempt on port $port failed; its log:" >&2
    tail -n 20 "$STATE/s3proxy.log" >&2 || true
  done
  die "S3Proxy did not start (log: $STATE/s3proxy.log)"
}

stop_server() {
  [ -f "$STATE/pid" ] || return 0
  local pid
  pid=$(cat "$STATE/pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$STATE/pid"
}

[ $# -eq 2 ] || die "usage: $0 start|stop STATE_DIR"
STATE=$2
case $1 in
start) start ;;
stop)
  stop_server
  rm -rf "$STATE/data" "$STATE/env" "$STATE/endpoint"
  ;;
*) die "usage: $0 start|stop STATE_DIR" ;;
esac
