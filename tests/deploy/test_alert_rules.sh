#!/usr/bin/env bash
# The alert rules of tools/deploy/prometheus with Prometheus's own tool: they parse
# (promtool check rules), and each alert fires on a synthetic series showing its condition and
# stays quiet on a healthy one (promtool test rules, weir-alerts.test.yml).
set -u
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" alert-rules
command -v promtool >/dev/null || { echo "skip: no promtool (tools/install-deps.sh installs prometheus)"; exit 77; }
D="$WEIR_SRC/tools/deploy/prometheus"
promtool check rules "$D/weir-alerts.yml" >"$T/check" 2>&1 \
  && ok "promtool check rules accepts weir-alerts.yml" || bad "promtool check rules" "$T/check"
(cd "$D" && promtool test rules weir-alerts.test.yml) >"$T/test" 2>&1 \
  && ok "every alert fires on its condition and not on the healthy series" \
  || bad "promtool test rules" "$T/test"
# Every alert has a test and a runbook section.
for a in $(sed -n 's/^ *- alert: *//p' "$D/weir-alerts.yml"); do
  grep -q "alertname: $a\$" "$D/weir-alerts.test.yml" || bad "$a has no promtool test"
  grep -q "^## $a\$" "$WEIR_SRC/tools/deploy/RUNBOOK.md" || bad "$a has no section in RUNBOOK.md"
done
[ "$fails" -eq 0 ] && ok "every alert has a promtool test and a runbook section"
echo "1..$((passes + fails))"
[ "$fails" -eq 0 ]
