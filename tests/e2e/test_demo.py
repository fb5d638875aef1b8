"""``phoenix demo`` (what ``./dev.sh demo`` runs), short: the experiment completes with a
verdict judged on its measurements, each variant's measured series equal its forecast, the
savings are priced, and nothing it started is left running."""

from __future__ import annotations

import re
import subprocess

import psutil

from support.processes import BIN


def test_the_demo_runs_an_experiment_end_to_end() -> None:
    result = subprocess.run(
        [str(BIN / "phoenix"), "demo", "--series", "30", "--warmup", "2", "--duration", "32"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "running -> analyzing" in out and "analyzing -> completed" in out
    api = re.search(r"^Phoenix API listening on (\S+) ", out, re.MULTILINE)
    assert api and f"Dashboards: {api.group(1)}/dashboards/ while the demo runs" in out, out
    rows = {
        m.group(1): (int(m.group(2)), int(m.group(3)))
        for m in re.finditer(r"^  (\S+)\s+\S+\s+(\d+)\s+(\d+)\s+\S+ %$", out, re.MULTILINE)
    }
    # 30 processes x 4 metrics + the 5 series Prometheus adds per target; 20 kept; 10 over the floor
    assert rows == {"baseline": (125, 125), "top20": (85, 85), "cpu-floor": (105, 105)}, out
    # 32 s: (32 - 8 s lookback) / 2 s scrapes + 1 = 13 points a variant, above the minimum 11
    verdict = re.search(r"^Verdict: (PASS|FAIL|INCONCLUSIVE)", out, re.MULTILINE)
    assert verdict, out
    # exact counts, so a sure outcome: cpu-floor keeps 100 of 120 series, short of -20 %
    assert re.search(
        r"^active_series\s+series\s+cpu-floor\s+120\s+100\s+-16\.7%.*fail$", out, re.MULTILINE
    ), out
    assert "cpu-floor: fail: active_series median -16.7%" in out
    assert "short of the required 20% improvement" in out
    # priced under the default book on 100 hosts; top20 (80 series) saves against 120
    assert (
        "Cost under grafana-cloud-pro" in out
        and "projected on 100 hosts at a 15 s scrape interval" in out
    )
    savings = re.search(r"^top20\s+([\d,.]+)\s+([\d,.]+)", out, re.MULTILINE)
    assert savings and float(savings.group(2).replace(",", "")) > 0, out
    # both paths for the collectors' CPU and memory: a number on each side for every variant
    paths = re.findall(
        r"^  (baseline|top20|cpu-floor)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$",
        out,
        re.MULTILINE,
    )
    assert {p[0] for p in paths} == {"baseline", "top20", "cpu-floor"}, out
    folder = re.search(r"Demo folder: (\S+)", out)
    assert folder
    leftovers = [
        p.info["cmdline"]
        for p in psutil.process_iter(["cmdline"])
        if any(folder.group(1) in arg for arg in p.info["cmdline"] or [])
    ]
    assert leftovers == []
