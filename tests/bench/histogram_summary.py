#!/usr/bin/env python3
"""Summarises Prometheus histograms from exposition text on stdin (used by the benchmarks).

    histogram_summary.py FAMILY [FAMILY ...] < metrics.txt

For each series of each named histogram family (without the policy_sidecar_ prefix), prints
one line: count, mean, and the upper bounds of the buckets holding the median and the 99th
percentile ("p99 <= 5 ms": a bucket bound, not an interpolation). Families named *_seconds
are shown in ms, others as they are.
"""
import re
import sys
from collections import defaultdict

SAMPLE = re.compile(r'^policy_sidecar_(\w+?)_(bucket|sum|count)(\{[^}]*\})? (\S+)$')


def bound_text(le, seconds):
    if le == float("inf"):
        return "+Inf"
    return f"{le * 1000:g} ms" if seconds else f"{le:g}"


def main(families):
    series = defaultdict(lambda: {"buckets": [], "sum": 0.0, "count": 0})
    for line in sys.stdin:
        m = SAMPLE.match(line.strip())
        if not m or m.group(1) not in families:
            continue
        family, part, labels, value = m.groups()
        labels = labels or ""
        le = None
        if part == "bucket":
            le_m = re.search(r'le="([^"]+)"', labels)
            le = float("inf") if le_m.group(1) == "+Inf" else float(le_m.group(1))
            labels = re.sub(r',?le="[^"]+"', "", labels).replace("{,", "{")
            if labels == "{}":
                labels = ""
        key = (family, labels)
        if part == "bucket":
            series[key]["buckets"].append((le, float(value)))
        elif part == "sum":
            series[key]["sum"] = float(value)
        else:
            series[key]["count"] = int(float(value))
    for (family, labels), s in sorted(series.items(), key=lambda kv: (families.index(kv[0][0]), kv[0][1])):
        n = s["count"]
        if n == 0:
            print(f"  {family}{labels}: no samples")
            continue
        buckets = sorted(s["buckets"])
        seconds = family.endswith("_seconds")

        def quantile(q):
            for le, cumulative in buckets:
                if cumulative >= q * n:
                    return bound_text(le, seconds)
            return "+Inf"

        mean = f"{s['sum'] / n * 1000:.2f} ms" if seconds else f"{s['sum'] / n:.2f}"
        print(f"  {family}{labels}: n={n} mean={mean} "
              f"p50 <= {quantile(0.5)} p99 <= {quantile(0.99)}")


if __name__ == "__main__":
    main(sys.argv[1:])
