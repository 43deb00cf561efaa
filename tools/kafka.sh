#!/usr/bin/env bash
# A local Kafka broker for the Kafka tests: Apache Kafka 4.1.1 (org.apache.kafka:kafka_2.13 and
# its runtime dependencies from Maven Central), KRaft single node (broker and controller in one
# JVM) on 127.0.0.1, free ports, replication factors 1.
#
#   tools/kafka.sh start STATE_DIR   fetch the jars (cached), format storage, start, wait until
#                                    a Metadata request lists the broker, print the bootstrap;
#                                    STATE_DIR/env then holds WEIR_KAFKA_BOOTSTRAP=127.0.0.1:PORT
#   tools/kafka.sh stop STATE_DIR    stop it (by pid) and remove its data
#   tools/kafka.sh pause STATE_DIR   stop it (by pid), keeping its data: a broker outage
#   tools/kafka.sh resume STATE_DIR  start a paused (or running: restart) broker again on the
#                                    same ports with its data, wait until ready
#
# ctest starts it once per run (fixture kafka in tests/CMakeLists.txt). When the jars cannot be
# had (no network, no java, no mvn), start writes STATE_DIR/skip with the reason and exits 0:
# every Kafka test then exits 77 and prints that reason, so none passes without a broker.
# The jars are kept in WEIR_KAFKA_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/weir), outside the
# repository, fetched once with mvn (dependency:copy-dependencies of a generated pom).
# Topics are not created automatically (auto.create.topics.enable=false): tests create their
# own, uniquely named (tests/support/kafka_fixture.c), so that they can share one broker.
set -euo pipefail

VERSION=4.1.1
LOG4J=2.24.3 # the log4j the broker brings; its slf4j binding sends the broker's log to a file
CACHE=${WEIR_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/weir}
LIBS=$CACHE/kafka_2.13-$VERSION

die() { echo "kafka.sh: $*" >&2; exit 1; }
skip() { # the reason every Kafka test will print
  echo "Kafka unavailable: $*" >"$STATE/skip"
  echo "kafka.sh: skip: $*" >&2
  exit 0
}

# The jars, fetched once into the cache: mvn resolves kafka_2.13 and its runtime dependencies
# (46 jars, 43 MB) into a temp directory that is renamed into place only when complete, so
# that concurrent runs never see half a set.
fetch_jars() {
  [ -s "$LIBS/kafka_2.13-$VERSION.jar" ] && return 0
  mkdir -p "$CACHE" || return 1
  local tmp
  tmp=$(mktemp -d "$CACHE/.kafka.XXXXXX") || return 1
  cat >"$tmp/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>weir.test</groupId><artifactId>kafka-broker</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>$VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>$LOG4J</version></dependency>
  </dependencies>
</project>
EOF
  if ! mvn -q -B -f "$tmp/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$tmp/libs" >&2 || [ ! -s "$tmp/libs/kafka_2.13-$VERSION.jar" ]; then
    rm -rf "$tmp"
    return 1
  fi
  if ! mv -T "$tmp/libs" "$LIBS" 2>/dev/null; then
    [ -s "$LIBS/kafka_2.13-$VERSION.jar" ] || { rm -rf "$tmp"; return 1; } # another run won
  fi
  rm -rf "$tmp"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' \
    2>/dev/null || echo $((20000 + RANDOM % 40000))
}

# A KRaft cluster id: 16 random bytes, base64url without padding (what StorageTool random-uuid
# prints, without starting a JVM for it).
# Never one that starts with '-' (1 in 64): StorageTool's -t took it for an option and failed.
cluster_id() {
  local id=-
  while [ "${id#-}" != "$id" ]; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
  done
  printf '%s' "$id"
}

# Ready when a Metadata request (v4: non-flexible, all topics) lists at least one broker: the
# broker is then registered with its controller and unfenced. Bash's /dev/tcp, no client needed.
probe() {
  local port=$1 n
  n=$(
    exec 2>/dev/null 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
    # size 20 | api_key 3 | version 4 | correlation 1 | client_id "probe" | topics -1 | auto 0
    printf '\x00\x00\x00\x14\x00\x03\x00\x04\x00\x00\x00\x01\x00\x05probe\xff\xff\xff\xff\x00' >&3
    # size | correlation | throttle_time_ms | brokers count
    timeout 2 head -c 16 <&3 | od -An -tu1 -j12 -N4 2>/dev/null | awk '{print $1*16777216+$2*65536+$3*256+$4}'
  ) 2>/dev/null || return 1
  [ -n "$n" ] && [ "$n" -ge 1 ] && [ "$n" -lt 1000 ]
}

# Starts the broker of $STATE/server.properties (its storage formatted) and waits until it
# answers on port; 1 when it died or did not answer in time (the JVM is left to stop_server).
launch() {
  local port=$1
  local jvm=(java -Xmx128m -XX:+UseSerialGC -Dlog4j2.configurationFile="$STATE/log4j2.properties"
    -cp "$LIBS/*")
  # timeout ends a broker whose stop never came (an interrupted ctest) after
  # WEIR_KAFKA_LIFETIME s.
  setsid timeout -k 10 "${WEIR_KAFKA_LIFETIME:-7200}" "${jvm[@]}" kafka.Kafka \
    "$STATE/server.properties" >>"$STATE/stdout.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$STATE/pid"
  local i
  for i in $(seq 1 360); do # up to 90 s on a loaded machine; it is ready in ~7 s alone
    if ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    if probe "$port"; then return 0; fi
    sleep 0.25
  done
  return 1
}

# The broker of a start, stopped without removing its data (pause) and started again on the
# same ports with the same topics, offsets and transactions (resume): a broker outage.
resume() {
  [ -s "$STATE/bootstrap" ] && [ -s "$STATE/server.properties" ] ||
    die "resume: no broker was started in $STATE"
  stop_server # one still running: a restart
  local port
  port=$(sed 's/.*://' "$STATE/bootstrap")
  fetch_jars || die "resume: no jars in $LIBS"
  if ! launch "$port"; then
    stop_server
    tail -n 20 "$STATE/server.log" "$STATE/stdout.log" >&2 || true
    die "resume: Kafka did not start again on port $port (log: $STATE/server.log)"
  fi
  cat "$STATE/bootstrap"
}

start() {
  mkdir -p "$STATE"
  stop_server # one left by an interrupted run
  rm -f "$STATE/skip" "$STATE/env" "$STATE/bootstrap"
  command -v java >/dev/null 2>&1 || skip "no java on PATH (tools/install-deps.sh installs one)"
  command -v mvn >/dev/null 2>&1 || skip "no mvn on PATH (tools/install-deps.sh installs maven)"
  fetch_jars || skip "cannot fetch org.apache.kafka:kafka_2.13:$VERSION with mvn into $CACHE"
  local cp="$LIBS/*"
  cat >"$STATE/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $STATE/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = info
logger.state.name = state.change.logger
logger.state.level = warn
EOF
  local attempt port cport
  for attempt in 1 2 3; do
    port=$(free_port)
    cport=$(free_port)
    [ "$port" != "$cport" ] || continue
    local data=$STATE/data
    rm -rf "$data"
    mkdir -p "$data"
    cat >"$STATE/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$data/logs
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.cleaner.dedupe.buffer.size=2097152
# The tests' records carry event times from 1970 (1000 ms ...): time retention (7 days, by the
# largest timestamp of a segment) deleted all of a topic at its next check, every 5 min, under
# its reader's feet: a restored kafka-count found its offsets out of range (issue 11).
log.retention.ms=-1
EOF
    local jvm=(java -Xmx128m -XX:+UseSerialGC -Dlog4j2.configurationFile="$STATE/log4j2.properties"
      -cp "$cp")
    if ! "${jvm[@]}" kafka.tools.StorageTool format -t "$(cluster_id)" \
      -c "$STATE/server.properties" >"$STATE/format.log" 2>&1; then
      echo "kafka.sh: formatting storage failed:" >&2
      tail -n 20 "$STATE/format.log" >&2 || true
      die "kafka.tools.StorageTool format failed (log: $STATE/format.log)"
    fi
    : >"$STATE/stdout.log"
    if launch "$port"; then
      echo "127.0.0.1:$port" >"$STATE/bootstrap"
      echo "WEIR_KAFKA_BOOTSTRAP=127.0.0.1:$port" >"$STATE/env"
      echo "127.0.0.1:$port"
      return 0
    fi
    stop_server
    echo "kafka.sh: attempt $attempt on ports $port/$cport failed; its log:" >&2
    tail -n 20 "$STATE/server.log" "$STATE/stdout.log" >&2 || true
  done
  die "Kafka did not start (log: $STATE/server.log)"
}

stop_server() {
  [ -f "$STATE/pid" ] || return 0
  local pid
  pid=$(cat "$STATE/pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true # timeout passes SIGTERM on to the JVM: a clean shutdown
    local i
    for i in $(seq 1 80); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 -- "-$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null || true # setsid: its group
  fi
  rm -f "$STATE/pid"
}

USAGE="usage: $0 start|stop|pause|resume STATE_DIR"
[ $# -eq 2 ] || die "$USAGE"
STATE=$2
case $1 in
start) start ;;
stop)
  stop_server
  rm -rf "$STATE/data" "$STATE/env" "$STATE/bootstrap"
  ;;
pause) stop_server ;;
resume) resume ;;
*) die "$USAGE" ;;
esac
