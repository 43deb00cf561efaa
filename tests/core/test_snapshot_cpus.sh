# Heap snapshot writers run on their worker's NUMA node, on the cpus no worker holds; when
# every core of the node runs a worker they float on its cpus, and the run says so once at
# start. One worker per core of this process's cpus makes that happen on any machine with
# one NUMA node; one worker on a machine of two or more cores leaves room (no line). The
# placement itself is tested on synthetic topologies (tests/numa/test_helper_cpus.c).
. "$WEIR_SRC/tests/support/tap.sh" snapshot_cpus
cores=$(nproc)
nodes=$(ls -d /sys/devices/system/node/node[0-9]* 2>/dev/null | wc -l)
if [ "$nodes" -gt 1 ]; then echo "skip: $nodes NUMA nodes (the test counts on one)"; exit 77; fi
run() { # NAME P: window-count on the hashmap backend, checkpointed every 100 ms
  "$WEIR" run -p "$2" -D state.checkpoints.dir="$T/c$1" -D execution.checkpointing.interval=100ms \
    -D state.backend=hashmap window-count --records 100000 --rate 200000 "$T/out$1" 2>"$T/$1.log"
}
if run all "$cores"; then
  n=$(grep -c 'snapshot threads of NUMA node 0 float on its [0-9]* cpus: every core there runs a worker' "$T/all.log")
  [ "$n" = 1 ] && ok "-p $cores on $cores cores: the floating snapshot threads are said once" \
    || bad "-p $cores on $cores cores: the floating line appears $n times" "$T/all.log"
else
  bad "-p $cores run" "$T/all.log"
fi
if [ "$cores" -ge 2 ]; then
  if run one 1; then
    ! grep -q 'snapshot threads' "$T/one.log" && ok "-p 1 on $cores cores: snapshot threads have cpus of their own (no line)" \
      || bad "-p 1 on $cores cores said the snapshot threads float" "$T/one.log"
  else
    bad "-p 1 run" "$T/one.log"
  fi
fi
echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
