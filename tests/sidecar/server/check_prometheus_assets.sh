#!/usr/bin/env bash
# promtool on the monitoring examples. Usage: check_prometheus_assets.sh CHECK REPO_ROOT
#   alert_rules        promtool check rules examples/prometheus/alerts.yml
#   alert_unit_tests   promtool test rules examples/prometheus/alerts_test.yml (each alert fires
#                      on its condition, stays silent before it, labels and annotations exact)
#   prometheus_config  promtool check config --syntax-only examples/prometheus/prometheus.yml
#                      (the certificate paths in the example need not exist here)
#   dashboard_queries  every query of examples/grafana/policy-sidecar.json parses as PromQL
#                      (Grafana's $variables replaced), checked as recording rules
# promtool comes with Debian's prometheus package (tests/support/ensure_deps.sh installs it);
# without it these checks fail.
set -euo pipefail
check=${1:?check name}
repo=${2:?repo root}
prom=$repo/examples/prometheus

if ! command -v promtool >/dev/null 2>&1; then
  echo "promtool not found: install Debian's prometheus package (tests/support/ensure_deps.sh)" >&2
  exit 1
fi

case "$check" in
  alert_rules)
    promtool check rules "$prom/alerts.yml"
    ;;
  alert_unit_tests)
    cd "$prom"
    promtool test rules alerts_test.yml
    ;;
  prometheus_config)
    promtool check config --syntax-only "$prom/prometheus.yml"
    ;;
  dashboard_queries)
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    "${PS_SYSTEM_PYTHON:-/usr/bin/python3}" - "$repo/examples/grafana/policy-sidecar.json" \
      "$tmp/dashboard-queries.yml" <<'PY'
import json, re, sys
dashboard = json.load(open(sys.argv[1]))
exprs = []
def walk(panels):
    for p in panels:
        for t in p.get("targets", []):
            exprs.append((p["title"], t["expr"]))
        walk(p.get("panels", []))
walk(dashboard["panels"])
# Grafana's variables: ranges become 5m, anything else a regex that matches all.
def substitute(e):
    e = re.sub(r"\$\{?__(rate_)?interval\}?", "5m", e)
    e = re.sub(r"\$\{?__range\}?", "1h", e)
    return re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", ".+", e)
with open(sys.argv[2], "w") as out:
    out.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, (title, e) in enumerate(exprs):
        out.write(f"      # {title}\n      - record: dashboard_query_{i}\n")
        out.write(f"        expr: {json.dumps(substitute(e))}\n")
print(f"{len(exprs)} dashboard queries")
if not exprs:
    sys.exit("no queries found in the dashboard")
PY
    promtool check rules "$tmp/dashboard-queries.yml"
    ;;
  *)
    echo "unknown check: $check" >&2
    exit 2
    ;;
esac
