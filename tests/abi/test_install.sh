#!/usr/bin/env bash
# A job author's view: `cmake --install` a prefix, build tests/cli/job_upper.c outside the
# tree with pkg-config alone, run it, and find none of the engine's own headers installed.
set -u
: "${WEIR:?}" "${WEIR_SRC:?}" "${WEIR_BUILD:?}"
. "$WEIR_SRC/tests/support/tap.sh" install
command -v pkg-config >/dev/null && command -v cc >/dev/null || { echo "skip: no pkg-config or cc"; exit 77; }

P="$T/prefix"
if ! cmake --install "$WEIR_BUILD" --prefix "$P" >"$T/install.log" 2>&1; then
  bad "cmake --install" "$T/install.log"; exit 1
fi

for h in weir job record operator windows keygroup config state; do
  [ -f "$P/include/weir/$h.h" ] || bad "weir/$h.h installed"
done
leaked=$(cd "$P/include" && find . -name ring.h -o -name metrics.h -o -name storage.h \
  -o -name numa.h -o -name prom.h -o -name '*_impl.h' -o -name '*_private.h')
[ -z "$leaked" ] && ok "no engine header installed" || bad "engine headers installed: $leaked"
ls "$P"/lib*/libweir.so >/dev/null 2>&1 && ok "libweir.so installed" || bad "libweir.so installed"

# Out of the tree: a copy of the job in a fresh folder, only the prefix to build against.
mkdir -p "$T/job" && cp "$WEIR_SRC/tests/cli/job_upper.c" "$T/job/"
export PKG_CONFIG_PATH=$(echo "$P"/lib*/pkgconfig)
if (cd "$T/job" && cc -shared -fPIC -Wall -Werror job_upper.c -o job_upper.so \
      $(pkg-config --cflags --libs weir)) >"$T/cc.log" 2>&1; then
  ok "job_upper.c builds with pkg-config --cflags --libs weir"
else
  bad "job_upper.c builds with pkg-config --cflags --libs weir" "$T/cc.log"
fi
printf 'abc\nHello weir\n' >"$T/job/in.txt"
for weir in "$WEIR" "$P/bin/weir"; do
  rm -rf "$T/job/out"
  (cd "$T/job" && "$weir" run -D metrics.reporter.prom.port=0 -p 2 ./job_upper.so in.txt out) \
    >"$T/run.log" 2>&1; rc=$?
  if [ $rc -eq 0 ] && [ "$(cat "$T/job/out"/part-* | sort)" = "$(printf 'ABC\nHELLO WEIR')" ]; then
    ok "$weir runs the job built out of tree"; else bad "$weir runs the job (rc=$rc)" "$T/run.log"; fi
done
[ $fails -eq 0 ]
