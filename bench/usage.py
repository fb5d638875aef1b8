"""Benchmark: usage extraction over 500 rules and 50 Grafana dashboards.

    .venv/bin/python bench/usage.py [--rules N] [--dashboards N] [--panels N] [--repeat R]

Generates rule files (10 groups of 10 rules per file) and dashboards (rows, collapsed rows,
1-3 targets a panel, templating variables, Grafana's interval variables) from varied PromQL
templates, then times, from their text: decoding the YAML and JSON, substituting variables,
parsing every query, extracting its metrics and label uses, and indexing the records
(``UsageIndex`` and its per-metric frame). Prints each run's wall time and the best.
Goal (issue: Usage): under 2 s on the project's 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from collections import Counter
from importlib.metadata import version

import pandas as pd
import yaml

from phoenix_core.usage import UsageIndex, queries_from_dashboard, queries_from_rules

Names = tuple[list[str], list[str], list[str]]  # gauges, counters, histogram buckets
LABELS = ["job", "instance", "pod", "namespace", "container", "code", "method", "handler", "le"]

# {m}: a metric name, {c}: a counter, {h}: a histogram's _bucket series, {l}/{k}: label names
RULE_TEMPLATES = [
    "sum by ({l}) (rate({c}[5m]))",
    'sum without ({l}, {k}) (rate({c}{{job=~"api|web"}}[5m]))',
    'histogram_quantile(0.99, sum by (le, {l}) (rate({h}{{job="api"}}[5m]))) > 0.5',
    "{m} > 0.9",
    'absent({m}{{job="api"}})',
    "avg by ({l}) ({m}) / on ({l}) group_left ({k}) max by ({l}, {k}) (kube_pod_info)",
    'count_values("version", {m})',
    "topk(10, sum by ({l}) (increase({c}[1h])))",
    'label_replace(rate({c}[5m]), "service", "$1", "{l}", "(.*)-[0-9]+")',
    "max_over_time(rate({c}[5m])[1h:1m] offset 1d)",
    "sum(rate({c}[5m])) / sum(rate({c}[5m] offset 1w)) < 0.5",
    "{m} unless on ({l}) {m}",
    '1 - avg without (cpu) (rate(node_cpu_seconds_total{{mode="idle"}}[5m]))',
    'count by ({l}) ({{__name__=~"{m}.*"}})',
]
PANEL_TEMPLATES = [
    'sum by ({l}) (rate({c}{{instance=~"$instance", job="$job"}}[$__rate_interval]))',
    'histogram_quantile(0.9, sum by (le) (rate({h}{{job="$job"}}[$__rate_interval])))',
    'topk($top, sum by ({l}) (rate({c}{{job="$job"}}[$__interval])))',
    '{m}{{instance=~"$instance"}}',
    "sum without ({l}) (rate({c}[$interval]))",
    'avg_over_time({m}{{job="$job"}}[$__range])',
    "{m} / on ({l}) group_left {m}",
    "sum by ({l}) (increase({c}[${{__range}}])) / $__range_s",
    'label_join({m}, "target", ":", "{l}", "{k}")',
    "sum by ({l}) (rate({c}[5m]))",
]


def metric_names(rng: random.Random) -> Names:
    subsystems = ["http", "grpc", "db", "cache", "queue", "node", "process", "kube", "app", "jvm"]
    gauges = [f"{s}_{n}" for s in subsystems for n in ("in_flight", "size_bytes", "up_ratio")]
    counters = [f"{s}_{n}_total" for s in subsystems for n in ("requests", "errors", "bytes")]
    histograms = [f"{s}_request_duration_seconds_bucket" for s in subsystems]
    rng.shuffle(gauges)
    return gauges, counters, histograms


def fill(template: str, rng: random.Random, names: Names) -> str:
    gauges, counters, histograms = names
    first, second = rng.sample(LABELS[:-1], 2)
    return template.format(
        m=rng.choice(gauges), c=rng.choice(counters), h=rng.choice(histograms), l=first, k=second
    )


def rule_files(count: int, rng: random.Random, names: Names) -> list[str]:
    """Rule files of up to 100 rules (10 groups of 10), ``count`` rules in all."""
    files = []
    made = 0
    while made < count:
        groups = []
        for g in range(10):
            rules = []
            for r in range(10):
                if made == count:
                    break
                expr = fill(rng.choice(RULE_TEMPLATES), rng, names)
                kind = "record" if r % 2 else "alert"
                name = f"rule:{made}:rate5m" if kind == "record" else f"Alert{made}"
                rules.append({kind: name, "expr": expr, "labels": {"severity": "warning"}})
                made += 1
            if rules:
                groups.append(
                    {"name": f"group-{len(files)}-{g}", "interval": "30s", "rules": rules}
                )
        files.append(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return files


def dashboard(number: int, panels: int, rng: random.Random, names: Names) -> str:
    def panel(pid: int) -> dict[str, object]:
        targets = [
            {
                "refId": chr(ord("A") + t),
                "expr": fill(rng.choice(PANEL_TEMPLATES), rng, names),
                "legendFormat": "{{instance}}",
            }
            for t in range(rng.randint(1, 3))
        ]
        return {
            "id": pid,
            "type": "timeseries",
            "title": f"Panel {pid}",
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "targets": targets,
        }

    half = panels // 2
    items: list[dict[str, object]] = [panel(i) for i in range(1, half)]
    items.append({"id": 100, "type": "row", "title": "Details", "collapsed": True,
                  "panels": [panel(i) for i in range(half, panels + 1)]})  # fmt: skip
    metric = fill("{m}", rng, names)
    variables = [
        {"name": "datasource", "type": "datasource", "query": "prometheus"},
        {"name": "job", "type": "query", "query": f"label_values({metric}, job)",
         "datasource": {"type": "prometheus", "uid": "${datasource}"}},
        {"name": "instance", "type": "query",
         "query": {"query": f'label_values({metric}{{job="$job"}}, instance)', "refId": "A"},
         "current": {"value": ["$__all"]}},
        {"name": "interval", "type": "interval", "current": {"value": "1m"}},
        {"name": "top", "type": "custom", "current": {"value": "10"}},
    ]  # fmt: skip
    board = {
        "uid": f"board-{number}",
        "title": f"Service {number}",
        "templating": {"list": variables},
        "panels": items,
    }
    return json.dumps(board, indent=2)


def extract(rules: list[str], dashboards: list[str]) -> UsageIndex:
    records = []
    for i, text in enumerate(rules):
        records.extend(queries_from_rules(text, f"rules/{i}.yaml"))
    for i, text in enumerate(dashboards):
        records.extend(queries_from_dashboard(text, f"dashboards/{i}.json"))
    index = UsageIndex(records)
    index.metrics()
    return index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=500)
    parser.add_argument("--dashboards", type=int, default=50)
    parser.add_argument("--panels", type=int, default=10, help="panels per dashboard")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(11)
    names = metric_names(rng)
    rules = rule_files(args.rules, rng, names)
    dashboards = [dashboard(n, args.panels, rng, names) for n in range(args.dashboards)]
    size = sum(map(len, rules)) + sum(map(len, dashboards))

    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    print(
        f"machine: {machine}, python {platform.python_version()}, pandas {pd.__version__}, "
        f"promql-parser {version('promql-parser')}, "
        f"libyaml {'yes' if yaml.__with_libyaml__ else 'no'}"
    )
    print(
        f"input: {len(rules)} rule files ({args.rules} rules), {len(dashboards)} dashboards "
        f"({args.panels} panels each), {size / 1e6:.1f} MB of text"
    )
    times = []
    index = None
    for run in range(args.repeat):
        started = time.perf_counter()
        index = extract(rules, dashboards)
        times.append(time.perf_counter() - started)
        print(f"run {run + 1}: {times[-1]:.3f} s")
    assert index is not None
    print(f"best: {min(times):.3f} s (goal: under 2 s)")
    statuses = Counter(r.status for r in index.records)
    print(
        f"records: {len(index.records)} ({dict(statuses)}), "
        f"{len(index.references())} metric references, {len(index.metrics())} metrics"
    )


if __name__ == "__main__":
    main()
